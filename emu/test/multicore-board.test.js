// Two cores on the Board's run loop: a hand-assembled image (boot2 with its CRC, a vector table,
// Thumb code in flash) whose core 0 resets core 1 through the PSM and launches it with
// embassy-rp's spawn_core1 handshake; then both cores talk over the FIFOs, use SEV/WFE, WFI and
// the SIO FIFO interrupts, and run the same loop in parallel. Everything the program sees it
// stores in RAM; the test checks it, and that two runs give the same cycles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Board } from '../lib/board.js';
import { buildUf2, boot2Crc } from '../lib/uf2.js';
import { Asm } from './thumb.js';

const SIO = 0xd0000000;
const TIMER = 0x40054000; // TIMERAWL at +0x28
const PSM_FRCE_OFF = 0x40010004;
const NVIC_ISER = 0xe000e100;
const NVIC_ICER = 0xe000e180;
const NVIC_ISPR = 0xe000e200;
const VTOR = 0xe000ed08;
const RES = 0x20001000;
const VT = 0x10000100;
const SP0 = 0x20040000;
const SP1 = 0x20030000;
const N = 30000; // iterations of the parallel loop (subs + bne: 3 cycles each)
const DELAY = 2000;
const DONE = 0xd0ae;

// RES offsets (all < 0x80: STR's immediate reach from r6)
const R = {
  c0Cpuid: 0x00, hello: 0x04, go: 0x08, ovfDone: 0x0c,
  t0Start: 0x10, t0End: 0x14, t1Start: 0x18, t1End: 0x1c,
  c0EmptyRead: 0x20, c0StRoe: 0x24, c0IsprRoe: 0x28, c0StCleared: 0x2c, c0IsprCleared: 0x30,
  c0StFull: 0x34, c0StWof: 0x38, c0StWofCleared: 0x3c,
  nResp: 0x40, c1Cpuid: 0x44, c1Sp: 0x48, c1Vtor: 0x4c, c1WfeLoops: 0x50, c1Masked: 0x54,
  c1StVld: 0x58, c1Ispr: 0x5c, c1StRoe: 0x60, msg: 0x64, c0Irq15: 0x68, c0Irq15Cpuid: 0x6c,
  c0Irq16: 0x70, c1Irq16: 0x74, fault: 0x78, done: 0x7c,
};
const RESP = RES + 0x80; // core 0's log of handshake answers
const C1READ = RES + 0xc0; // the 9 words core 1 read
const C1IRQLOG = RES + 0x100; // FIFO_ST at each entry of core 1's IRQ 16 handler

function program() {
  const a = new Asm(0x10000200);
  // ---- core 0 ----
  a.label('reset');
  a.ldrl(7, SIO).ldrl(6, RES);
  a.ldr(0, 7, 0).str(0, 6, R.c0Cpuid);
  // reset core 1 as embassy-rp does: FRCE_OFF.proc1 = 1, wait until it reads back, = 0
  a.ldrl(5, PSM_FRCE_OFF).ldrl(1, 1 << 16);
  a.ldr(0, 5).orrs(0, 1).str(0, 5);
  a.label('ws').ldr(0, 5).tst(0, 1).bc('eq', 'ws');
  a.bics(0, 1).str(0, 5);
  // spawn_core1's handshake: for each cmd: (0: drain + SEV) write, SEV, read, compare
  a.movs(4, 0).movs(3, 0);
  a.label('seq');
  a.ldrl(2, 'cmds').lsls(0, 4, 2).ldrr(0, 2, 0);
  a.cmp(0, 0).bc('ne', 'send');
  a.label('drain').ldr(1, 7, 0x50).lsrs(1, 1, 1).bc('cc', 'drained').ldr(1, 7, 0x58).b('drain');
  a.label('drained').sev();
  a.label('send');
  a.label('wr').ldr(1, 7, 0x50).lsrs(1, 1, 2).bc('cc', 'wr');
  a.str(0, 7, 0x54).sev();
  a.label('rd').ldr(1, 7, 0x50).lsrs(1, 1, 1).bc('cc', 'rd');
  a.ldr(1, 7, 0x58);
  a.ldrl(2, RESP).lsls(5, 3, 2).addsr(2, 2, 5).str(1, 2, 0).adds(3, 1);
  a.cmpr(1, 0).bc('ne', 'restart');
  a.adds(4, 1).cmp(4, 6).bc('ne', 'seq').b('launched');
  a.label('restart').movs(4, 0).b('seq');
  a.label('launched').str(3, 6, R.nResp);
  // core 1's hello, waiting in WFE (core 1 sends SEV after its write)
  a.label('hl').ldr(1, 7, 0x50).lsrs(1, 1, 1).bc('cs', 'hg').wfe().b('hl');
  a.label('hg').ldr(1, 7, 0x58).str(1, 6, R.hello);
  // let core 1 fall asleep in WFE, then GO + SEV, and the loop in parallel
  a.ldrl(0, DELAY).label('dl').subs(0, 1).bc('ne', 'dl');
  a.ldrl(5, TIMER);
  a.ldr(0, 5, 0x28).str(0, 6, R.t0Start);
  a.movs(0, 1).str(0, 6, R.go).sev();
  a.ldrl(0, N).label('l0').subs(0, 1).bc('ne', 'l0');
  a.ldr(0, 5, 0x28).str(0, 6, R.t0End);
  // wait (WFE) until core 1 has masked its interrupts
  a.label('wm').ldr(0, 6, R.c1Masked).cmp(0, 1).bc('eq', 'mk').wfe().b('wm');
  a.label('mk').ldrl(2, NVIC_ISPR);
  a.ldr(0, 7, 0x58).str(0, 6, R.c0EmptyRead); // read from empty: ROE
  a.ldr(0, 7, 0x50).str(0, 6, R.c0StRoe);
  a.ldr(0, 2).str(0, 6, R.c0IsprRoe);
  a.str(0, 7, 0x50); // any write to FIFO_ST clears the flags
  a.ldr(0, 7, 0x50).str(0, 6, R.c0StCleared);
  a.ldr(0, 2).str(0, 6, R.c0IsprCleared);
  // fill core 1's RX FIFO (8), then a 9th word: WOF
  a.movs(0, 0xa0).movs(3, 8);
  a.label('ow').str(0, 7, 0x54).adds(0, 1).subs(3, 1).bc('ne', 'ow');
  a.ldr(1, 7, 0x50).str(1, 6, R.c0StFull);
  a.str(0, 7, 0x54);
  a.ldr(1, 7, 0x50).str(1, 6, R.c0StWof);
  a.str(1, 7, 0x50);
  a.ldr(1, 7, 0x50).str(1, 6, R.c0StWofCleared);
  a.movs(0, 1).str(0, 6, R.ovfDone).sev();
  // IRQ 15 and 16 on core 0; the last word from core 1 comes by IRQ 15 while core 0 is in WFI
  a.ldrl(2, NVIC_ISER).ldrl(1, (1 << 15) | (1 << 16)).str(1, 2);
  a.label('wf').ldr(0, 6, R.msg).cmp(0, 0).bc('ne', 'fin').wfi().b('wf');
  a.label('fin').ldrl(0, DONE).str(0, 6, R.done);
  a.label('dead0').wfi().b('dead0');

  // ---- core 1 (entered from the ROM with SP = SP1, VTOR = VT) ----
  a.label('c1_entry');
  a.ldrl(7, SIO).ldrl(6, RES);
  a.ldr(0, 7, 0).str(0, 6, R.c1Cpuid);
  a.movFromSp(0).str(0, 6, R.c1Sp);
  a.ldrl(1, VTOR).ldr(0, 1).str(0, 6, R.c1Vtor);
  // IRQ 16 on core 1: the ROE the ROM left takes it at once
  a.ldrl(1, NVIC_ISER).ldrl(0, 1 << 16).str(0, 1).nop();
  // hello = 0x100 | CPUID
  a.ldr(0, 7, 0).movs(1, 1).lsls(1, 1, 8).orrs(0, 1);
  a.label('cw').ldr(1, 7, 0x50).lsrs(1, 1, 2).bc('cc', 'cw');
  a.str(0, 7, 0x54).sev();
  a.movs(2, 0);
  a.label('wg').ldr(0, 6, R.go).cmp(0, 1).bc('eq', 'go').adds(2, 1).wfe().b('wg');
  a.label('go').str(2, 6, R.c1WfeLoops);
  a.ldrl(5, TIMER);
  a.ldr(0, 5, 0x28).str(0, 6, R.t1Start);
  a.ldrl(0, N).label('l1').subs(0, 1).bc('ne', 'l1');
  a.ldr(0, 5, 0x28).str(0, 6, R.t1End);
  // interrupts masked (PRIMASK): core 0 fills this core's FIFO meanwhile
  a.cpsid().movs(0, 1).str(0, 6, R.c1Masked).sev();
  a.label('spin').ldr(0, 6, R.ovfDone).cmp(0, 1).bc('ne', 'spin');
  a.ldr(0, 7, 0x50).str(0, 6, R.c1StVld);
  a.ldrl(1, NVIC_ISPR).ldr(0, 1).str(0, 6, R.c1Ispr);
  a.ldrl(4, C1READ).movs(3, 9);
  a.label('rl').ldr(0, 7, 0x58).str(0, 4, 0).adds(4, 4).subs(3, 1).bc('ne', 'rl');
  a.ldr(0, 7, 0x50).str(0, 6, R.c1StRoe);
  a.cpsie().nop(); // IRQ 16 (ROE) now
  a.ldrl(0, 0x600d);
  a.label('cw2').ldr(1, 7, 0x50).lsrs(1, 1, 2).bc('cc', 'cw2');
  a.str(0, 7, 0x54).sev();
  a.label('dead1').wfi().b('dead1');

  // ---- IRQ 15 (SIO_IRQ_PROC0): core 0's FIFO ----
  a.label('h15').ldrl(0, SIO).ldrl(3, RES);
  a.ldr(1, 0, 0).str(1, 3, R.c0Irq15Cpuid);
  a.ldr(1, 3, R.c0Irq15).adds(1, 1).str(1, 3, R.c0Irq15);
  a.str(1, 0, 0x50);
  a.label('h15d').ldr(1, 0, 0x50).lsrs(1, 1, 1).bc('cc', 'h15x').ldr(1, 0, 0x58).str(1, 3, R.msg).b('h15d');
  a.label('h15x').bxLr();

  // ---- IRQ 16 (SIO_IRQ_PROC1): must only ever be taken on core 1 ----
  a.label('h16').ldrl(0, SIO).ldrl(3, RES);
  a.ldr(1, 0, 0).cmp(1, 1).bc('eq', 'h16c1');
  a.ldr(1, 3, R.c0Irq16).adds(1, 1).str(1, 3, R.c0Irq16);
  a.ldrl(2, NVIC_ICER).ldrl(1, 1 << 16).str(1, 2).bxLr();
  a.label('h16c1').ldrl(2, C1IRQLOG).ldr(1, 3, R.c1Irq16).lsls(1, 1, 2).addsr(2, 2, 1);
  a.ldr(1, 0, 0x50).str(1, 2, 0);
  a.ldr(1, 3, R.c1Irq16).adds(1, 1).str(1, 3, R.c1Irq16);
  a.str(1, 0, 0x50); // clear WOF/ROE as embassy's handler does, then drain
  a.label('h16d').ldr(1, 0, 0x50).lsrs(1, 1, 1).bc('cc', 'h16x').ldr(1, 0, 0x58).b('h16d');
  a.label('h16x').bxLr();

  // ---- anything else: record and stop ----
  a.label('fault').ldrl(3, RES).ldrl(1, 0xfa17).str(1, 3, R.fault).label('fl').b('fl');

  return a;
}

function image() {
  const a = program();
  // data after the code: the command table (word-aligned)
  if (a.here & 2) a.nop();
  a.label('cmds');
  for (const w of [0, 0, 1, VT, SP1]) a.h(w & 0xffff).h(w >>> 16);
  const entryAt = a.items.length;
  a.h(0).h(0); // patched below with c1_entry | 1
  const { bytes, labels } = a.assemble();
  const entry = labels.get('c1_entry') | 1;
  new DataView(bytes.buffer).setUint32(2 * entryAt, entry, true);
  const flash = new Uint8Array(0x200 + bytes.length);
  const v = new DataView(flash.buffer);
  v.setUint32(252, boot2Crc(flash.subarray(0, 252)), true);
  // vector table: 48 entries at 0x100
  const fault = labels.get('fault') | 1;
  for (let i = 0; i < 48; i++) v.setUint32(0x100 + 4 * i, fault, true);
  v.setUint32(0x100, SP0, true);
  v.setUint32(0x104, labels.get('reset') | 1, true);
  v.setUint32(0x100 + 4 * (16 + 15), labels.get('h15') | 1, true);
  v.setUint32(0x100 + 4 * (16 + 16), labels.get('h16') | 1, true);
  flash.set(bytes, 0x200);
  return { uf2: buildUf2(0, flash), entry };
}

const quiet = { level: 0, info() {}, debug() {}, trace() {}, warn() {}, error() {} };

async function runOnce() {
  const { uf2, entry } = image();
  const board = new Board({ uf2, statePath: null, log: quiet });
  const running = board.run();
  running.catch(() => {});
  const word = (off) => board.mcu.readUint32(RES + off);
  const mc = board.multicore;
  try {
    const t0 = Date.now();
    // the program ends with both cores asleep in WFI (nothing scheduled): the counts freeze
    while (!(word(R.done) === DONE && board.core0.waiting && mc.core1.waiting) && !word(R.fault) && !board.failure) {
      if (Date.now() - t0 > 20_000) throw new Error(`no end: ${board.describeState()}`);
      await new Promise((r) => setTimeout(r, 2));
    }
    if (board.failure) throw board.failure;
    const res = {};
    for (const [k, off] of Object.entries(R)) res[k] = word(off);
    return {
      board,
      entry,
      res,
      resp: Array.from({ length: res.nResp }, (_, i) => board.mcu.readUint32(RESP + 4 * i)),
      c1read: Array.from({ length: 9 }, (_, i) => board.mcu.readUint32(C1READ + 4 * i)),
      c1irq: Array.from({ length: res.c1Irq16 }, (_, i) => board.mcu.readUint32(C1IRQLOG + 4 * i)),
      cycles0: board.cycles,
      cycles1: board.core1Cycles,
      instructions1: board.core1Instructions,
      state: board.describeState(),
    };
  } finally {
    board.stop();
    await running.catch(() => {});
  }
}

test('two cores on the run loop: launch, CPUID, FIFOs and their IRQs, SEV/WFE, parallel work, determinism', { timeout: 60_000 }, async () => {
  const a = await runOnce();
  const r = a.res;
  assert.equal(r.fault, 0, `no fault (${a.state})`);
  // launch
  assert.equal(r.c0Cpuid, 0);
  assert.deepEqual(a.resp, [0, 0, 1, VT, SP1, a.entry], 'every command echoed, in order');
  assert.equal(r.c1Cpuid, 1);
  assert.equal(r.c1Sp, SP1);
  assert.equal(r.c1Vtor, VT);
  assert.equal(r.hello, 0x101);
  assert.equal(a.board.multicore.launches, 1);
  assert.equal(a.board.multicore.resets, 1);
  // core 0's flags and IRQ 15 level (NVIC ISPR of core 0: bit 15, never 16)
  assert.equal(r.c0EmptyRead, 0);
  assert.equal(r.c0StRoe, 0b1010, 'RDY | ROE');
  assert.equal(r.c0IsprRoe & 0x18000, 1 << 15);
  assert.equal(r.c0StCleared, 0b0010);
  assert.equal(r.c0IsprCleared & 0x18000, 0);
  assert.equal(r.c0StFull, 0, 'core 1 RX full: not RDY');
  assert.equal(r.c0StWof, 0b0100, 'WOF');
  assert.equal(r.c0StWofCleared, 0);
  // core 1's side
  assert.equal(r.c1StVld, 0b0011, 'VLD | RDY');
  assert.equal(r.c1Ispr & 0x18000, 1 << 16, 'IRQ 16 pending on core 1 (masked by PRIMASK)');
  assert.deepEqual(a.c1read, [0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0], 'the 9th word was dropped; a read from empty gives 0');
  assert.equal(r.c1StRoe, 0b1010);
  assert.deepEqual(a.c1irq, [0b1010, 0b1010], "IRQ 16 on core 1: the ROM's ROE at enable, then the ROE of the 9th read");
  assert.equal(r.c0Irq16, 0, 'IRQ 16 never taken on core 0 (enabled there too)');
  assert.equal(r.c0Irq15, 1);
  assert.equal(r.c0Irq15Cpuid, 0);
  assert.equal(r.msg, 0x600d, 'core 1 -> core 0 by IRQ 15, waking a WFI');
  // SEV/WFE: core 1 slept in WFE until core 0's SEV (a spinning WFE would count ~DELAY/4)
  assert.ok(r.c1WfeLoops >= 1 && r.c1WfeLoops <= 3, `core 1 WFE loops: ${r.c1WfeLoops}`);
  // parallel: the same loop on both cores took the same virtual time, side by side
  const loopUs = (3 * N * 8) / 1000; // 3 cycles x N at 8 ns
  const d0 = r.t0End - r.t0Start;
  const d1 = r.t1End - r.t1Start;
  assert.ok(Math.abs(d0 - loopUs) <= 2 && Math.abs(d1 - loopUs) <= 2, `loop times ${d0}, ${d1} us (expected ${loopUs})`);
  assert.ok(Math.abs(r.t0Start - r.t1Start) <= 2, `starts ${r.t0Start}, ${r.t1Start} us`);
  assert.ok(Math.abs(r.t0End - r.t1End) <= 2, `ends ${r.t0End}, ${r.t1End} us`);
  assert.ok(a.cycles0 > 3 * N && a.cycles1 > 3 * N, `cycles ${a.cycles0}, ${a.cycles1}`);
  assert.ok(Math.abs(a.cycles0 - a.cycles1) < 3 * N, 'the cores ran about as long as each other');
  assert.ok(a.instructions1 > 2 * N);
  assert.match(a.state, /core 1: PC .*sleeping/);
  // determinism
  const b = await runOnce();
  assert.deepEqual(
    { c0: b.cycles0, c1: b.cycles1, res: b.res, i1: b.instructions1 },
    { c0: a.cycles0, c1: a.cycles1, res: a.res, i1: a.instructions1 },
  );
});
