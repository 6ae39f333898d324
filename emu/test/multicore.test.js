// Core 1 (lib/multicore.js): the SIO FIFOs, the boot ROM's launch handshake, SEV, interrupts and
// the MPU per core, driven from JavaScript on an RP2040 instance; then (multicore-board.test.js)
// a hand-assembled two-core program on the Board's run loop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RP2040 } from 'rp2040js';
import { Multicore, ROM, IRQ_SIO_PROC0, IRQ_SIO_PROC1 } from '../lib/multicore.js';
import { buildBootrom, CORE1_DEAD } from '../lib/bootrom.js';

const SIO = 0xd0000000;
const CPUID = SIO + 0x000;
const FIFO_ST = SIO + 0x050;
const FIFO_WR = SIO + 0x054;
const FIFO_RD = SIO + 0x058;
const PSM_FRCE_OFF = 0x40010004;
const VLD = 1;
const RDY = 2;
const WOF = 4;
const ROE = 8;

function setup() {
  const mcu = new RP2040();
  mcu.logger = { debug() {}, info() {}, warn() {}, error(c, m) { throw new Error(`${c}: ${m}`); } };
  mcu.loadBootrom(buildBootrom().words);
  let runnable = 0;
  const mc = new Multicore(mcu, { onCore1Runnable: () => runnable++ });
  mcu.logger.info = (c, m) => m === 'SEV' && mc.sev();
  return { mcu, mc, runnable: () => runnable };
}

/** Runs `fn` as if core `k` executed it (what the board's run loop does with mcu.core). */
function on(mc, k, fn) {
  const { mcu } = mc;
  mcu.core = mc.cores[k];
  try {
    return fn();
  } finally {
    mcu.core = mc.core0;
  }
}

const pending = (core, irq) => !!(core.pendingInterrupts & (1 << irq));

/** embassy-rp's spawn_core1 handshake from core 0: returns the responses. */
function launch(mcu, cmds) {
  const responses = [];
  let seq = 0;
  let rounds = 0;
  while (seq < cmds.length) {
    if (++rounds > 50) throw new Error('no launch');
    const cmd = cmds[seq];
    if (cmd === 0) while (mcu.readUint32(FIFO_ST) & VLD) mcu.readUint32(FIFO_RD);
    assert.ok(mcu.readUint32(FIFO_ST) & RDY);
    mcu.writeUint32(FIFO_WR, cmd);
    assert.ok(mcu.readUint32(FIFO_ST) & VLD, `an answer to ${cmd}`);
    const r = mcu.readUint32(FIFO_RD);
    responses.push(r);
    seq = r === cmd ? seq + 1 : 0;
  }
  return responses;
}

test('CPUID reads the executing core; the SIO rest stays rp2040js (spinlocks shared)', () => {
  const { mcu, mc } = setup();
  assert.equal(mcu.readUint32(CPUID), 0);
  assert.equal(on(mc, 1, () => mcu.readUint32(CPUID)), 1);
  assert.equal(mcu.readUint32(SIO + 0x100), 1, 'core 0 takes spinlock 0');
  assert.equal(on(mc, 1, () => mcu.readUint32(SIO + 0x100)), 0, 'core 1 sees it taken');
  mcu.writeUint32(SIO + 0x100, 0);
  assert.equal(on(mc, 1, () => mcu.readUint32(SIO + 0x100)), 1);
});

test('power-on: the ROM on core 1 sends 0 (core 0 VLD, IRQ 15 on core 0 only) and left ROE on core 1', () => {
  const { mcu, mc } = setup();
  assert.equal(mc.rom, ROM.HANDSHAKE);
  assert.equal(mcu.readUint32(FIFO_ST), VLD | RDY);
  assert.ok(pending(mc.core0, IRQ_SIO_PROC0));
  assert.ok(!pending(mc.core1, IRQ_SIO_PROC0));
  assert.equal(on(mc, 1, () => mcu.readUint32(FIFO_ST)), RDY | ROE, 'the ROM read FIFO_RD once before draining');
  assert.ok(pending(mc.core1, IRQ_SIO_PROC1));
  assert.ok(!pending(mc.core0, IRQ_SIO_PROC1));
  assert.equal(mc.core0.eventRegistered, true, "the ROM's SEV after its send");
  assert.equal(mcu.readUint32(FIFO_RD), 0);
  assert.equal(mcu.readUint32(FIFO_ST), RDY);
  assert.ok(!pending(mc.core0, IRQ_SIO_PROC0), 'level follows VLD');
});

test('FIFO flags: 8 deep, RDY, WOF on a write to full (dropped), ROE on a read from empty (reads 0), FIFO_ST write clears', () => {
  const { mcu, mc } = setup();
  // launch core 1 somewhere harmless so the ROM does not eat the words
  launch(mcu, [0, 0, 1, 0x10000100, 0x20001000, 0x20000001]);
  assert.ok(mc.running);
  mcu.readUint32(FIFO_RD); // empty: ROE on core 0
  assert.equal(mcu.readUint32(FIFO_ST), RDY | ROE);
  assert.ok(pending(mc.core0, IRQ_SIO_PROC0));
  mcu.writeUint32(FIFO_ST, 0);
  assert.equal(mcu.readUint32(FIFO_ST), RDY);
  assert.ok(!pending(mc.core0, IRQ_SIO_PROC0));
  on(mc, 1, () => mcu.writeUint32(FIFO_ST, 0)); // core 1's ROE from the ROM
  assert.ok(!pending(mc.core1, IRQ_SIO_PROC1));
  for (let i = 0; i < 8; i++) mcu.writeUint32(FIFO_WR, 0xa0 + i);
  assert.equal(mcu.readUint32(FIFO_ST), 0, 'full: not RDY');
  assert.equal(on(mc, 1, () => mcu.readUint32(FIFO_ST)), VLD | RDY);
  assert.ok(pending(mc.core1, IRQ_SIO_PROC1), 'IRQ 16 on core 1 for VLD');
  assert.ok(!pending(mc.core0, IRQ_SIO_PROC1) && !pending(mc.core0, IRQ_SIO_PROC0));
  mcu.writeUint32(FIFO_WR, 0xa8);
  assert.equal(mcu.readUint32(FIFO_ST), WOF);
  assert.ok(pending(mc.core0, IRQ_SIO_PROC0), 'WOF raises IRQ 15 on the writer');
  mcu.writeUint32(FIFO_ST, 0xffffffff);
  assert.equal(mcu.readUint32(FIFO_ST), 0);
  const got = on(mc, 1, () => Array.from({ length: 9 }, () => mcu.readUint32(FIFO_RD)));
  assert.deepEqual(got, [0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0]);
  assert.equal(on(mc, 1, () => mcu.readUint32(FIFO_ST)), RDY | ROE);
  assert.equal(mcu.readUint32(FIFO_ST), RDY);
  assert.equal(mcu.readUint32(FIFO_WR), 0, 'FIFO_WR reads 0');
});

test('the ROM handshake: echoes, a wrong word answers 0, a 0 starts over; VTOR, SP, PC, LR at launch', () => {
  const { mcu, mc, runnable } = setup();
  const VT = 0x10000100;
  const SP = 0x20030000;
  const ENTRY = 0x10000301;
  // a wrong first word: the ROM drains and answers 0; then the sequence from the start
  while (mcu.readUint32(FIFO_ST) & VLD) mcu.readUint32(FIFO_RD);
  mcu.writeUint32(FIFO_WR, 7);
  assert.equal(mcu.readUint32(FIFO_RD), 0);
  // 1 then VT then a 0 in the middle: back to the handshake (VTOR was already set, as in the ROM)
  mcu.writeUint32(FIFO_WR, 1);
  assert.equal(mcu.readUint32(FIFO_RD), 1);
  mcu.writeUint32(FIFO_WR, 0x12340000);
  assert.equal(mcu.readUint32(FIFO_RD), 0x12340000);
  assert.equal(mc.rom, ROM.SP);
  mcu.writeUint32(FIFO_WR, 0);
  assert.equal(mcu.readUint32(FIFO_RD), 0);
  assert.equal(mc.rom, ROM.HANDSHAKE);
  assert.equal(runnable(), 0);
  const responses = launch(mcu, [0, 0, 1, VT, SP, ENTRY]);
  assert.deepEqual(responses, [0, 0, 1, VT, SP, ENTRY]);
  assert.equal(mc.rom, null);
  assert.equal(runnable(), 1, 'launch makes core 1 runnable');
  const c1 = mc.core1;
  assert.equal(c1.VTOR, VT);
  assert.equal(c1.SP, SP);
  assert.equal(c1.PC, ENTRY & ~1);
  assert.equal(c1.LR, CORE1_DEAD | 1);
  assert.equal(c1.IPSR, 0);
  assert.equal(c1.PM, false);
  assert.equal(c1.waiting, false);
  assert.equal(mcu.readUint32(FIFO_ST) & VLD, 0, 'nothing left for core 0');
  assert.equal(mcu.readUint16(CORE1_DEAD), 0xbf30, 'wfi');
});

test('the ROM waits while core 0 RX FIFO is full and goes on when core 0 reads', () => {
  const { mcu, mc } = setup();
  // core 0 never reads: the ROM's power-on 0 and 7 answers fill its RX FIFO
  for (let i = 0; i < 8; i++) mcu.writeUint32(FIFO_WR, 0x55);
  assert.equal(mcu.readUint32(FIFO_ST) & RDY, RDY, 'the ROM consumed each word at once');
  assert.equal(mc.romOut.length, 1, 'the 9th 0 waits');
  mcu.writeUint32(FIFO_WR, 0x66); // stays in core 1's RX FIFO: the ROM waits to send
  assert.equal(on(mc, 1, () => mcu.readUint32(FIFO_ST)) & VLD, VLD);
  assert.equal(mcu.readUint32(FIFO_RD), 0);
  assert.equal(mc.romOut.length, 1, 'sent the pending 0, then the 0x66 -> another 0');
  assert.equal(on(mc, 1, () => mcu.readUint32(FIFO_ST)) & VLD, 0);
  for (let i = 0; i < 8; i++) mcu.readUint32(FIFO_RD);
  assert.equal(mc.romOut.length, 0);
  assert.deepEqual(mc.romWords.slice(-2), [0x55, 0x66]);
});

test('PSM FRCE_OFF.proc1: held in reset, then the ROM again; core 1 state reset, its cycles kept', () => {
  const { mcu, mc } = setup();
  launch(mcu, [0, 0, 1, 0x10000100, 0x20030000, 0x10000301]);
  const c1 = mc.core1;
  c1.cycles = 1234;
  on(mc, 1, () => {
    mcu.writeUint32(0xe000e100, 1 << 16); // NVIC ISER on core 1
    mcu.writeUint32(0xe000ed94, 5); // MPU_CTRL on core 1
  });
  c1.registers[4] = 99;
  on(mc, 1, () => mcu.writeUint32(FIFO_ST, 0)); // the ROE of the ROM's first read, cleared
  assert.equal(c1.enabledInterrupts, 1 << 16);
  assert.equal(mc.core0.enabledInterrupts, 0, 'the NVIC is per core');
  assert.equal(mcu.readUint32(0xe000ed94), 0, 'MPU_CTRL is per core');
  mcu.writeUint32(PSM_FRCE_OFF, mcu.readUint32(PSM_FRCE_OFF) | (1 << 16));
  assert.equal(mcu.readUint32(PSM_FRCE_OFF) & (1 << 16), 1 << 16);
  assert.equal(mc.rom, ROM.HELD);
  assert.equal(c1.enabledInterrupts, 0);
  assert.equal(c1.registers[4], 0);
  assert.equal(c1.cycles, 1234);
  assert.equal(on(mc, 1, () => mcu.readUint32(0xe000ed94)), 0, 'MPU reset');
  while (mcu.readUint32(FIFO_ST) & VLD) mcu.readUint32(FIFO_RD);
  mcu.writeUint32(FIFO_WR, 0x77); // held: nobody reads
  assert.equal(mcu.readUint32(FIFO_ST) & VLD, 0);
  mcu.writeUint32(PSM_FRCE_OFF, mcu.readUint32(PSM_FRCE_OFF) & ~(1 << 16));
  assert.equal(mc.rom, ROM.HANDSHAKE);
  assert.equal(mcu.readUint32(FIFO_RD), 0, 'the ROM started over and sent its 0');
  assert.equal(on(mc, 1, () => mcu.readUint32(FIFO_ST)) & (VLD | ROE), 0, 'its first read took the 0x77, no ROE');
  const r = launch(mcu, [0, 0, 1, 0x10000100, 0x20020000, 0x10000401]);
  assert.deepEqual(r, [0, 0, 1, 0x10000100, 0x20020000, 0x10000401]);
  assert.equal(c1.PC, 0x10000400);
  assert.equal(mc.launches, 2);
  assert.equal(mc.resets, 1);
});

test('SEV: sets both event registers; wakes a core in WFE, not one in WFI', () => {
  const { mcu, mc, runnable } = setup();
  launch(mcu, [0, 0, 1, 0x10000100, 0x20030000, 0x20000101]);
  const c1 = mc.core1;
  const n = runnable();
  // core 1 "executed" WFE at 0x20000100
  mcu.writeUint16(0x20000100, 0xbf20);
  c1.PC = 0x20000102;
  c1.waiting = true;
  mc.core0.eventRegistered = false;
  mc.sev(); // on core 0
  assert.equal(c1.waiting, false);
  assert.equal(c1.eventRegistered, false, 'the waking event is consumed');
  assert.equal(mc.core0.eventRegistered, true, 'SEV sets its own core too');
  assert.equal(runnable(), n + 1);
  // in a handler entered from a vector (Thumb bit set), rp2040js's PC keeps bit 0 until a branch
  c1.PC = 0x20000103;
  c1.waiting = true;
  mc.sev();
  assert.equal(c1.waiting, false, 'WFE found at (PC & ~1) - 2');
  c1.PC = 0x20000102;
  // WFI: stays asleep, its event register is set
  mcu.writeUint16(0x20000100, 0xbf30);
  c1.waiting = true;
  mc.sev();
  assert.equal(c1.waiting, true);
  assert.equal(c1.eventRegistered, true);
  // SEV from core 1 wakes core 0 in WFE
  mcu.writeUint16(0x20000200, 0xbf20);
  mc.core0.PC = 0x20000202;
  mc.core0.waiting = true;
  on(mc, 1, () => mc.sev());
  assert.equal(mc.core0.waiting, false);
});

test('peripheral interrupts reach both NVICs; 15 and 16 one core each; an enabled one wakes core 1', () => {
  const { mcu, mc, runnable } = setup();
  launch(mcu, [0, 0, 1, 0x10000100, 0x20030000, 0x20000101]);
  const c1 = mc.core1;
  mcu.setInterrupt(0, true); // TIMER_IRQ_0
  assert.ok(pending(mc.core0, 0) && pending(c1, 0));
  mcu.setInterrupt(0, false);
  assert.ok(!pending(mc.core0, 0) && !pending(c1, 0));
  mcu.setInterrupt(IRQ_SIO_PROC1, true);
  assert.ok(pending(c1, IRQ_SIO_PROC1) && !pending(mc.core0, IRQ_SIO_PROC1));
  mcu.setInterrupt(IRQ_SIO_PROC1, false);
  // core 1 sleeps with IRQ 5 enabled (and a vector table in RAM)
  mcu.writeUint32(0x20010000 + 4 * (16 + 5), 0x20000301);
  c1.VTOR = 0x20010000;
  c1.enabledInterrupts = 1 << 5;
  c1.waiting = true;
  const n = runnable();
  mcu.setInterrupt(5, true);
  assert.equal(c1.waiting, false);
  assert.equal(c1.IPSR, 16 + 5);
  assert.equal(c1.PC & ~1, 0x20000300);
  assert.equal(runnable(), n + 1);
  assert.equal(mc.core0.IPSR, 0, 'not enabled on core 0');
});

test('MPU registers: per core, plain storage (embassy-rp install_stack_guard)', () => {
  const { mcu, mc } = setup();
  on(mc, 1, () => {
    assert.equal(mcu.readUint32(0xe000ed94), 0, 'MPU_CTRL 0: embassy proceeds');
    assert.equal(mcu.readUint32(0xe000ed90), 0x800, 'MPU_TYPE: 8 regions');
    mcu.writeUint32(0xe000ed94, 5);
    mcu.writeUint32(0xe000ed9c, 0x20030000 | 0x10 | 3); // RBAR with VALID, region 3
    mcu.writeUint32(0xe000eda0, 0x1000fe0f);
    assert.equal(mcu.readUint32(0xe000ed98), 3);
    assert.equal(mcu.readUint32(0xe000ed9c), 0x20030003);
    assert.equal(mcu.readUint32(0xe000eda0), 0x1000fe0f);
  });
  assert.equal(mcu.readUint32(0xe000ed94), 0);
  assert.equal(mcu.readUint32(0xe000ed08), 0, 'other PPB registers still rp2040js (VTOR of core 0)');
  on(mc, 1, () => mcu.writeUint32(0xe000ed08, 0x10000100));
  assert.equal(mc.core1.VTOR, 0x10000100);
  assert.equal(mc.core0.VTOR, 0);
});

test('divider and interpolators per core (rp2040js has one of each: swapped on access)', () => {
  const { mcu, mc } = setup();
  const DIV_UDIVIDEND = SIO + 0x60;
  const DIV_UDIVISOR = SIO + 0x64;
  const DIV_QUOTIENT = SIO + 0x70;
  const DIV_REMAINDER = SIO + 0x74;
  const INTERP0_ACCUM0 = SIO + 0x80;
  mcu.writeUint32(DIV_UDIVIDEND, 100);
  mcu.writeUint32(DIV_UDIVISOR, 7);
  mcu.writeUint32(INTERP0_ACCUM0, 0x1234);
  on(mc, 1, () => {
    mcu.writeUint32(DIV_UDIVIDEND, 50);
    mcu.writeUint32(DIV_UDIVISOR, 5);
    assert.equal(mcu.readUint32(INTERP0_ACCUM0), 0, "core 1's interpolator");
    mcu.writeUint32(INTERP0_ACCUM0, 0x99);
  });
  assert.equal(mcu.readUint32(DIV_QUOTIENT) >>> 0, 14);
  assert.equal(mcu.readUint32(DIV_REMAINDER) >>> 0, 2);
  assert.equal(mcu.readUint32(INTERP0_ACCUM0), 0x1234);
  on(mc, 1, () => {
    assert.equal(mcu.readUint32(DIV_QUOTIENT) >>> 0, 10);
    assert.equal(mcu.readUint32(INTERP0_ACCUM0), 0x99);
  });
  // the divider's 8 cycles go to the core that used it
  const c1 = mc.core1.cycles;
  on(mc, 1, () => mcu.writeUint32(DIV_UDIVISOR, 3));
  assert.equal(mc.core1.cycles, c1 + 8);
});

test('SYSCFG PROC0_NMI_MASK / PROC1_NMI_MASK belong to core 0 / core 1 whoever writes them', () => {
  const { mcu, mc } = setup();
  on(mc, 1, () => mcu.writeUint32(0x40004000, 0x11));
  mcu.writeUint32(0x40004004, 0x22);
  assert.equal(mc.core0.interruptNMIMask, 0x11);
  assert.equal(mc.core1.interruptNMIMask, 0x22);
  assert.equal(on(mc, 1, () => mcu.readUint32(0x40004004)), 0x22);
});
