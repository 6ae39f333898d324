// Function symbols of the firmware ELF (optional: for diagnostics only). The harness runs the UF2;
// the ELF beside it (same build, `cargo xtask firmware` writes both) names the code at a PC.

import fs from 'node:fs';

/** A crude demangler for Rust symbols (legacy _ZN...E and v0 _R...): the path's identifiers. */
export function demangle(name) {
  if (name.startsWith('_ZN') && name.endsWith('E')) {
    const parts = [];
    let i = 3;
    while (i < name.length - 1) {
      const m = /^\d+/.exec(name.slice(i));
      if (!m) break;
      i += m[0].length;
      const n = Number(m[0]);
      parts.push(name.slice(i, i + n));
      i += n;
    }
    if (parts.length && /^h[0-9a-f]{16}$/.test(parts[parts.length - 1])) parts.pop();
    return parts.join('::').replace(/\$LT\$/g, '<').replace(/\$GT\$/g, '>').replace(/\$u20\$/g, ' ').replace(/\.\./g, '::');
  }
  if (name.startsWith('_R')) {
    const s = name.slice(2).replace(/C s[0-9a-zA-Z]*_/g, 'C').replace(/(?<=[CNM])s[0-9a-zA-Z]*_/g, '');
    const parts = [];
    for (let i = 0; i < s.length; ) {
      const m = /^(\d+)(_?)/.exec(s.slice(i));
      if (!m) {
        i++;
        continue;
      }
      const n = Number(m[1]);
      i += m[0].length;
      parts.push(s.slice(i, i + n));
      i += n;
    }
    return parts.length ? parts.join('::') : name;
  }
  return name;
}

export class Symbols {
  constructor(funcs, data = new Map()) {
    this.funcs = funcs.sort((a, b) => a.addr - b.addr);
    /** Data and untyped symbols (linker symbols like `_stack_start`) by raw name: { addr, size }. */
    this.data = data;
  }

  static empty() {
    return new Symbols([]);
  }

  /** The data or linker symbol `name` (exact raw name), or the first whose raw name contains it. */
  datum(name) {
    if (this.data.has(name)) return this.data.get(name);
    for (const [k, v] of this.data) if (k.includes(name)) return v;
    return null;
  }

  /** Reads FUNC symbols of an ELF32 little-endian file; returns an empty table when it cannot. */
  static load(path) {
    try {
      const b = fs.readFileSync(path);
      if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 1 || b[5] !== 1) return Symbols.empty();
      const shoff = b.readUInt32LE(0x20);
      const shentsize = b.readUInt16LE(0x2e);
      const shnum = b.readUInt16LE(0x30);
      const sections = [];
      for (let i = 0; i < shnum; i++) {
        const o = shoff + i * shentsize;
        sections.push({ type: b.readUInt32LE(o + 4), offset: b.readUInt32LE(o + 16), size: b.readUInt32LE(o + 20), link: b.readUInt32LE(o + 24) });
      }
      const symtab = sections.find((s) => s.type === 2);
      if (!symtab) return Symbols.empty();
      const strtab = sections[symtab.link];
      const funcs = [];
      const data = new Map();
      for (let o = symtab.offset; o + 16 <= symtab.offset + symtab.size; o += 16) {
        const type = b[o + 12] & 0xf;
        if (type !== 2 && type !== 1 && type !== 0) continue; // STT_FUNC, STT_OBJECT, STT_NOTYPE
        const nameOff = b.readUInt32LE(o);
        const end = b.indexOf(0, strtab.offset + nameOff);
        const raw = b.toString('latin1', strtab.offset + nameOff, end);
        if (type === 2) funcs.push({ addr: b.readUInt32LE(o + 4) & ~1, size: b.readUInt32LE(o + 8), name: demangle(raw) });
        else if (raw) data.set(raw, { addr: b.readUInt32LE(o + 4), size: b.readUInt32LE(o + 8) });
      }
      return new Symbols(funcs, data);
    } catch {
      return Symbols.empty();
    }
  }

  find(addr) {
    const f = this.funcs;
    let lo = 0;
    let hi = f.length - 1;
    let best = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (f[mid].addr <= addr) {
        best = f[mid];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (best && addr < best.addr + Math.max(best.size, 2)) return best;
    return null;
  }

  /** "name+0xoff" or the bare hex address. */
  describe(addr) {
    addr = addr >>> 0;
    const s = this.find(addr & ~1);
    return s ? `0x${addr.toString(16)} (${s.name}+0x${((addr & ~1) - s.addr).toString(16)})` : `0x${addr.toString(16)}`;
  }

  /** Address ranges of the functions whose name matches `re`. */
  ranges(re) {
    return this.funcs.filter((f) => re.test(f.name)).map((f) => [f.addr, f.addr + f.size]);
  }
}
