// Console logging with a verbosity level: 0 errors and warnings, 1 (-v) info + one line per APDU,
// 2 (-vv) USB, ROM and emulator details.
export function makeLog(level = 0, out = console.error) {
  const t0 = performance.now();
  const stamp = () => `[emu ${((performance.now() - t0) / 1000).toFixed(3)}s]`;
  return {
    level,
    error: (m) => out(`${stamp()} error: ${m}`),
    warn: (m) => out(`${stamp()} warning: ${m}`),
    info: (m) => level >= 1 && out(`${stamp()} ${m}`),
    debug: (m) => level >= 1 && out(`${stamp()} ${m}`),
    trace: (m) => level >= 2 && out(`${stamp()} ${m}`),
  };
}
