// A tiny Thumb (ARMv6-M) assembler for test programs: the few 16-bit instructions the multicore
// test needs, labels, and one literal pool at the end (LDR rt, =value).

export const COND = { eq: 0, ne: 1, cs: 2, cc: 3, mi: 4, pl: 5, hi: 8, ls: 9, ge: 10, lt: 11, gt: 12, le: 13 };

const reg = (r) => {
  if (!Number.isInteger(r) || r < 0 || r > 7) throw new Error(`low register expected, got ${r}`);
  return r;
};
const imm = (v, bits, scale = 1) => {
  if (v % scale || v < 0 || v / scale >= 1 << bits) throw new Error(`immediate ${v} does not fit ${bits} bits x${scale}`);
  return v / scale;
};

export class Asm {
  /** @param {number} base address of the first instruction */
  constructor(base) {
    this.base = base;
    this.items = []; // (addr, labels) => halfword
    this.labels = new Map();
    this.literals = []; // { value | label }
  }

  get here() {
    return this.base + 2 * this.items.length;
  }

  label(name) {
    if (this.labels.has(name)) throw new Error(`label ${name} defined twice`);
    this.labels.set(name, this.here);
    return this;
  }

  h(halfword) {
    this.items.push(() => halfword);
    return this;
  }

  movs(rd, v) {
    return this.h(0x2000 | (reg(rd) << 8) | imm(v, 8));
  }
  cmp(rn, v) {
    return this.h(0x2800 | (reg(rn) << 8) | imm(v, 8));
  }
  cmpr(rn, rm) {
    return this.h(0x4280 | (reg(rm) << 3) | reg(rn));
  }
  adds(rdn, v) {
    return this.h(0x3000 | (reg(rdn) << 8) | imm(v, 8));
  }
  subs(rdn, v) {
    return this.h(0x3800 | (reg(rdn) << 8) | imm(v, 8));
  }
  addsr(rd, rn, rm) {
    return this.h(0x1800 | (reg(rm) << 6) | (reg(rn) << 3) | reg(rd));
  }
  lsls(rd, rm, n) {
    return this.h(0x0000 | (imm(n, 5) << 6) | (reg(rm) << 3) | reg(rd));
  }
  lsrs(rd, rm, n) {
    return this.h(0x0800 | (imm(n, 5) << 6) | (reg(rm) << 3) | reg(rd));
  }
  orrs(rdn, rm) {
    return this.h(0x4300 | (reg(rm) << 3) | reg(rdn));
  }
  bics(rdn, rm) {
    return this.h(0x4380 | (reg(rm) << 3) | reg(rdn));
  }
  tst(rn, rm) {
    return this.h(0x4200 | (reg(rm) << 3) | reg(rn));
  }
  /** LDR rt, [rn, #off] */
  ldr(rt, rn, off = 0) {
    return this.h(0x6800 | (imm(off, 5, 4) << 6) | (reg(rn) << 3) | reg(rt));
  }
  /** STR rt, [rn, #off] */
  str(rt, rn, off = 0) {
    return this.h(0x6000 | (imm(off, 5, 4) << 6) | (reg(rn) << 3) | reg(rt));
  }
  /** LDR rt, [rn, rm] */
  ldrr(rt, rn, rm) {
    return this.h(0x5800 | (reg(rm) << 6) | (reg(rn) << 3) | reg(rt));
  }
  /** MOV rd, sp */
  movFromSp(rd) {
    return this.h(0x4668 | reg(rd));
  }
  /** LDR rt, =value (a number, or a label's address with `thumb` adding 1) */
  ldrl(rt, value, thumb = false) {
    const lit = { value, thumb };
    this.literals.push(lit);
    this.items.push((addr) => {
      const off = lit.addr - ((addr + 4) & ~3);
      return 0x4800 | (reg(rt) << 8) | imm(off, 8, 4);
    });
    return this;
  }
  b(label) {
    this.items.push((addr, labels) => {
      const off = (labels(label) - (addr + 4)) >> 1;
      if (off < -1024 || off > 1023) throw new Error(`b ${label}: out of range`);
      return 0xe000 | (off & 0x7ff);
    });
    return this;
  }
  bc(cond, label) {
    this.items.push((addr, labels) => {
      const off = (labels(label) - (addr + 4)) >> 1;
      if (off < -128 || off > 127) throw new Error(`b${cond} ${label}: out of range`);
      return 0xd000 | (COND[cond] << 8) | (off & 0xff);
    });
    return this;
  }
  bxLr() {
    return this.h(0x4770);
  }
  nop() {
    return this.h(0xbf00);
  }
  wfe() {
    return this.h(0xbf20);
  }
  wfi() {
    return this.h(0xbf30);
  }
  sev() {
    return this.h(0xbf40);
  }
  cpsid() {
    return this.h(0xb672);
  }
  cpsie() {
    return this.h(0xb662);
  }

  /** The code and its literal pool: { bytes, labels: Map, end } */
  assemble() {
    if (this.here & 2) this.nop();
    const poolAt = this.here;
    const words = [];
    const labels = (name) => {
      const a = this.labels.get(name);
      if (a === undefined) throw new Error(`undefined label ${name}`);
      return a;
    };
    this.literals.forEach((lit, i) => {
      lit.addr = poolAt + 4 * i;
      const v = typeof lit.value === 'string' ? labels(lit.value) + (lit.thumb ? 1 : 0) : lit.value;
      words.push(v >>> 0);
    });
    const bytes = new Uint8Array(poolAt - this.base + 4 * words.length);
    const view = new DataView(bytes.buffer);
    this.items.forEach((f, i) => view.setUint16(2 * i, f(this.base + 2 * i, labels), true));
    words.forEach((w, i) => view.setUint32(poolAt - this.base + 4 * i, w, true));
    return { bytes, labels: new Map(this.labels), end: this.base + bytes.length };
  }
}
