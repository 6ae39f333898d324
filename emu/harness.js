#!/usr/bin/env node
// Pico HSM on an emulated Raspberry Pi Pico: boots the RP2040 UF2 in rp2040js, enumerates it as a
// USB host, and serves its CCID card to pcscd through vsmartcard's vpcd protocol.
//
//   node emu/harness.js --uf2 FILE --flash STATE.bin [--vpcd HOST:PORT] [options] [-v|-vv]
//
// Options:
//   --uf2 FILE          the image (target/firmware/pico-hsm-pico.uf2): the UF2 a user flashes
//   --flash FILE        the flash state (2 MiB; made on first use; the store persists across runs)
//   --vpcd HOST:PORT    vpcd to connect to (default localhost:35963)
//   --elf FILE          symbols for diagnostics (default: the UF2's name with .elf, if present)
//   --no-rosc           leave the ring oscillator unimplemented: RANDOMBIT reads 0xFFFFFFFF, which
//                       the firmware's entropy health tests must refuse
//   --no-flash-timing   flash erase/program take no emulated time (default: W25Q16JV typical)
//   --apdu HEX          instead of vpcd: power on, send each --apdu (repeatable), print SW and
//                       costs, exit (non-zero if the emulation fails)
//   --profile           with -v: after each APDU over 1 M cycles, its hottest functions (PC sampled
//                       every 1024 instructions; needs the ELF)
//   -v                  one line per APDU (header, lengths, SW, cycles, ms at 125 MHz); never data
//   -vv                 also USB, boot ROM and emulator details
//                       (without -v: RUST_LOG=info or debug means -v, RUST_LOG=trace -vv)
//
// Cycle figures: `cycles` is rp2040js's core.cycles (instruction cycles of the Cortex-M0+ model,
// plus an estimate for each boot ROM function run in JavaScript); `ms@125MHz` is cycles / 125 000.
// `virtual` is emulated time on the TIMER (includes sleep, USB latencies and flash busy time).
//
// Core 1: the emulator runs the RP2040's second core once firmware launches it (embassy-rp
// multicore::spawn_core1, through the boot ROM's FIFO handshake; lib/multicore.js). `cycles` stay
// core 0's; a command during which core 1 ran gets ", core 1 N cycles" (its own instruction
// cycles). The two cores interleave by cycles on one virtual time line, so core 1's work overlaps
// core 0's in `virtual` and in core 0's cycles (a core 0 that waits for core 1 in WFE spends no
// cycles; one that spins does). Not modelled: bus and XIP-cache contention between the cores
// (the parallel speed-up is an upper bound), SysTick per core (one, core 0's). `--profile` lists
// core 1's hottest functions apart. The final report counts both cores' instructions.

import fs from 'node:fs';
import path from 'node:path';
import { Board, BoardError } from './lib/board.js';
import { describeApdu } from './lib/ccid.js';
import { Symbols } from './lib/elf.js';
import { makeLog } from './lib/log.js';
import { VpcdClient, CTRL_OFF, CTRL_ON, CTRL_RESET } from './lib/vpcd.js';

export const EXPECTED_ATR = '3BFE1800008131FE458031815448534D31738021408107FA';

export function parseArgs(argv) {
  const o = { uf2: null, flash: null, vpcd: 'localhost:35963', elf: null, rosc: true, flashTiming: true, apdus: [], verbose: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--uf2') o.uf2 = value();
    else if (a === '--flash') o.flash = value();
    else if (a === '--vpcd') o.vpcd = value();
    else if (a === '--elf') o.elf = value();
    else if (a === '--no-rosc') o.rosc = false;
    else if (a === '--no-flash-timing') o.flashTiming = false;
    else if (a === '--profile') o.profile = true;
    else if (a === '--apdu') {
      const hex = value().replace(/[\s:]/g, '');
      if (!/^([0-9a-fA-F]{2}){4,}$/.test(hex)) throw new Error(`--apdu: not an APDU in hex: ${hex}`);
      o.apdus.push(Uint8Array.from(Buffer.from(hex, 'hex')));
    } else if (/^-v+$/.test(a)) o.verbose += a.length - 1;
    else if (a === '--verbose') o.verbose++;
    else if (a === '-h' || a === '--help') o.help = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (o.verbose === 0 && process.env.RUST_LOG) {
    // RUST_LOG-style: info/debug = -v, trace = -vv (like pico-hsm-vcard's logging)
    const level = process.env.RUST_LOG.toLowerCase();
    o.verbose = /trace/.test(level) ? 2 : /debug|info/.test(level) ? 1 : 0;
  }
  if (!o.help && (!o.uf2 || !o.flash)) throw new Error('--uf2 FILE and --flash STATE.bin are required');
  const m = /^(.*):(\d+)$/.exec(o.vpcd);
  if (!m) throw new Error(`--vpcd ${o.vpcd}: expected HOST:PORT`);
  o.vpcdHost = m[1].replace(/^\[(.*)\]$/, '$1');
  o.vpcdPort = Number(m[2]);
  return o;
}

/** One cost line: cycles, ms at 125 MHz, emulated time, flash work, wall time. */
export function costLine(m) {
  const ms = (m.cycles / 125e3).toFixed(m.cycles < 125e3 ? 3 : 1);
  const flash = m.erases || m.programs ? `, flash ${m.erases} sector erases + ${m.programs} page programs (${(m.flashBusyNs / 1e6).toFixed(1)} ms busy)` : '';
  const te = m.result?.timeExtensions ? `, ${m.result.timeExtensions} time extensions` : '';
  const core1 = m.core1Cycles ? `, core 1 ${m.core1Cycles} cycles` : '';
  return `${m.cycles} cycles (${ms} ms@125MHz)${core1}, virtual ${(m.virtualNs / 1e6).toFixed(1)} ms${flash}${te}, wall ${m.wallMs.toFixed(0)} ms`;
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`pico-hsm-emu: ${e.message} (--help for usage)`);
    process.exit(2);
  }
  if (opts.help) {
    const text = fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n');
    console.log(text.slice(1, text.findIndex((l) => l.startsWith('import'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
    return;
  }
  const log = makeLog(opts.verbose);
  const elf = opts.elf ?? opts.uf2.replace(/\.uf2$/, '.elf');
  const symbols = fs.existsSync(elf) ? Symbols.load(elf) : Symbols.empty();
  let board;
  try {
    fs.mkdirSync(path.dirname(path.resolve(opts.flash)), { recursive: true });
    board = new Board({ uf2: fs.readFileSync(opts.uf2), statePath: opts.flash, rosc: opts.rosc, flashTiming: opts.flashTiming, profile: !!opts.profile, symbols, log });
  } catch (e) {
    console.error(`pico-hsm-emu: ${e.message}`);
    process.exit(1);
  }
  if (!opts.rosc) log.info('ROSC left unimplemented (--no-rosc): RANDOMBIT reads 0xFFFFFFFF');
  const fail = (e) => {
    console.error(`pico-hsm-emu: ${e instanceof BoardError ? '' : 'error: '}${e.message}`);
    board.stop();
    process.exit(1);
  };
  const running = board.run();
  running.catch(fail);

  let atr;
  try {
    const dev = await board.enumerate();
    const boot = board.cycles;
    const on = await board.powerOn();
    atr = on.result;
    const atrHex = Buffer.from(atr).toString('hex').toUpperCase();
    if (atrHex !== EXPECTED_ATR) throw new BoardError(`unexpected ATR ${atrHex} (expected ${EXPECTED_ATR})`);
    log.info(
      `booted and enumerated in ${boot} cycles (${(boot / 125e3).toFixed(1)} ms@125MHz), virtual ${(board.nanos / 1e6).toFixed(1)} ms; ` +
        `USB ${dev.strings.manufacturer} / ${dev.strings.product} serial ${dev.strings.serial}; ATR ok`,
    );
  } catch (e) {
    fail(e);
    return;
  }

  let powered = true;
  const transmit = async (apdu, quiet = false) => {
    if (!powered) {
      await board.powerOn();
      powered = true;
    }
    const m = await board.transmit(apdu);
    if (!quiet) {
      log.info(`${describeApdu(apdu, m.result)}: ${costLine(m)}`);
      printProfile(m, log, false);
    }
    return m;
  };

  if (opts.apdus.length) {
    try {
      for (const apdu of opts.apdus) {
        const m = await transmit(apdu, true);
        const r = m.result;
        const sw = Buffer.from(r.subarray(r.length - 2)).toString('hex').toUpperCase();
        const stack = board.stackHighWater();
        const heap = board.heapHighWater();
        const stack1 = board.core1Cycles ? board.core1StackHighWater() : null;
        const stackNote =
          (stack ? `; stack high-water ${stack.used} B` : '') +
          (stack1 ? `; core 1 stack high-water ${stack1.used} B` : '') +
          (heap ? `; heap high-water ~${heap.used} B` : '');
        console.log(`${describeApdu(apdu, r)}: ${costLine(m)}${stackNote}`.replace(/^APDU/, `SW ${sw} APDU`));
        printProfile(m, log, true);
      }
    } catch (e) {
      fail(e);
      return;
    }
    report(board, log);
    board.stop();
    process.exit(0);
  }

  const card = {
    atr: () => atr,
    connected: async () => {
      await board.powerOn();
      powered = true;
    },
    control: async (code) => {
      if (code === CTRL_OFF) {
        await board.powerOff();
        powered = false;
      } else if (code === CTRL_ON || code === CTRL_RESET) {
        await board.powerOn();
        powered = true;
      }
    },
    transmit: async (apdu) => (await transmit(apdu)).result,
  };
  const client = new VpcdClient(opts.vpcdHost, opts.vpcdPort, card, { log });
  client.start();
  console.error(
    `pico-hsm-emu: ready: Pico HSM (serial ${board.device.strings.serial}) on vpcd ${opts.vpcd}; flash ${opts.flash}. Ctrl-C stops it.`,
  );
  const stop = () => {
    client.stop();
    report(board, log);
    board.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

function printProfile(m, log, toStdout) {
  if (!m.profile || m.cycles < 1e6) return;
  const out = toStdout ? (l) => console.log(l) : (l) => log.info(l);
  for (const p of m.profile.slice(0, 12)) out(`    ${(100 * p.share).toFixed(1).padStart(5)}%  ${p.name}`);
  if (m.profile1) {
    out('    core 1:');
    for (const p of m.profile1.slice(0, 12)) out(`    ${(100 * p.share).toFixed(1).padStart(5)}%  ${p.name}`);
  }
}

function report(board, log) {
  const wall = (performance.now() - board.startWall) / 1000;
  const stack = board.stackHighWater();
  if (stack) log.info(`stack: ${stack.used} of ${stack.size} bytes used at most (high-water mark since boot)`);
  const stack1 = board.core1Cycles ? board.core1StackHighWater() : null;
  if (stack1) log.info(`core 1 stack: ${stack1.used} of ${stack1.size} bytes used at most`);
  const heap = board.heapHighWater();
  if (heap) log.info(`heap: about ${heap.used} of ${heap.size} bytes reached (highest non-zero byte)`);
  log.info(
    `emulation: ${board.instructions} instructions in ${wall.toFixed(1)} s wall (${(board.instructions / wall / 1e6).toFixed(1)} M instructions/s), ` +
      `${board.cycles} cycles, ${(board.nanos / 1e9).toFixed(2)} s emulated` +
      (board.core1Instructions ? `; core 1: ${board.core1Instructions} of the instructions, ${board.core1Cycles} cycles` : ''),
  );
  if (log.level >= 2) {
    log.trace(`ROM calls: ${[...board.romServices.calls].map(([k, v]) => `${k}×${v}`).join(', ')}`);
    log.trace(`ROM lookups: ${[...board.romServices.lookups].map(([k, v]) => `${k}×${v}`).join(', ')}`);
    log.trace(`flash chip commands (SSI): ${[...new Set(board.ssi.commands)].map((c) => c.toString(16)).join(', ')}`);
    if (board.rosc) log.trace(`ROSC RANDOMBIT reads: ${board.rosc.bitsRead}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('harness.js')) {
  main();
}
