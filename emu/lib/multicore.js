// The RP2040's second Cortex-M0+ (core 1) for rp2040js, which emulates one core.
//
// What is modelled (datasheet §2.3.1 SIO, §2.8.2 "Launching code on processor core 1"):
//
// - core 1: a second CortexM0Core on the same RP2040 object (same memory, peripherals, clock).
//   While a core executes, `mcu.core` points at it, so what rp2040js reaches through
//   `rp2040.core` (PPB: NVIC, VTOR, ICSR, SHPR; the SIO divider's cycle charge; the ROM's BKPT
//   services) sees the executing core. The run loop (board.js) interleaves the two cores by
//   cycles; this file has no loop of its own.
// - SIO per core: CPUID reads 0 or 1; the two 8-deep inter-core FIFOs with FIFO_ST VLD (RX not
//   empty), RDY (TX not full), WOF (sticky, written when full: the word is dropped) and ROE
//   (sticky, read when empty: reads 0); any write to FIFO_ST clears WOF and ROE of the writer's
//   side. SIO_IRQ_PROC0 (IRQ 15) goes to core 0 only, SIO_IRQ_PROC1 (IRQ 16) to core 1 only, at
//   the level VLD || WOF || ROE of that core's side, updated at every FIFO access. The hardware
//   divider and the two interpolators are per core, as on the chip: rp2040js has one of each, so
//   their state is swapped in for the core that touches them (on access, not per instruction).
//   The rest of the SIO (spinlocks: shared, as on the chip; GPIO) stays rp2040js's.
// - Interrupts from peripherals (rp2040.setInterrupt) reach both cores' NVICs, except 15 and 16.
// - SEV (rp2040js only logs it; board.js's logger calls `sev()`): sets the executing core's event
//   register and the other's; a core sleeping in WFE wakes at once (its event is consumed), a core
//   in WFI does not (the instruction at PC - 2 tells the two apart).
// - PSM FRCE_OFF.proc1 (bit 16): while set, core 1 is held in reset; when it is cleared, core 1
//   starts again in the boot ROM's wait_for_vector. Its registers, NVIC, MPU and event register
//   are reset; its cycle count goes on (it is the total of the run); the FIFOs keep their words.
// - The boot ROM's core-1 side, in JavaScript (core 1 is not stepped while in it), as the real
//   ROM's wait_for_vector does it: read FIFO_RD once (sets ROE if empty), drain the RX FIFO, send
//   0; then for each word received: 0 -> drain, send 0, start over; in the first state 1 -> echo
//   it and go on, anything else -> drain, send 0; then VTOR (set at once), SP (MSP, set at once)
//   and the entry point (echoed, then launched: PC = entry & ~1, LR = CORE1_DEAD + 1 (bootrom.js), where
//   a return sleeps in a WFI loop as in the real ROM), each echoed, a 0 starting over. A send to a
//   full FIFO waits (the real ROM WFE-loops on RDY) until core 0 reads. The model reacts within the
//   core-0 instruction that wrote the word; the real ROM needs the SEV that follows the write
//   (embassy and the SDK send one) and some tens of cycles.
// - SYSCFG PROC0_NMI_MASK / PROC1_NMI_MASK: core 0's / core 1's (rp2040js maps PROC0's to the
//   executing core and lacks PROC1's; it raises no NMI from them either way).
// - The MPU registers (MPU_TYPE .. MPU_RASR, 0xE000ED90..0xE000EDA0): per core, plain storage
//   (embassy-rp's core-1 start-up reads MPU_CTRL, wants 0, and installs a stack guard): nothing is
//   protected.
//
// Not modelled: bus or XIP-cache contention between the cores (each core runs at its own cycle
// count), SysTick per core (rp2040js has one; its interrupt goes to core 0), SCR (SLEEPDEEP,
// SEVONPEND), wake-up latency.

import { CORE1_DEAD } from './bootrom.js';

export const SIO_CPUID = 0x000;
export const SIO_FIFO_ST = 0x050;
export const SIO_FIFO_WR = 0x054;
export const SIO_FIFO_RD = 0x058;
export const IRQ_SIO_PROC0 = 15;
export const IRQ_SIO_PROC1 = 16;
export const FIFO_DEPTH = 8;
export const PSM_FRCE_OFF = 0x04;
export const PSM_PROC1 = 1 << 16;

const OP_WFE = 0xbf20;
const SIO_DIV_FIRST = 0x060; // DIV_UDIVIDEND .. DIV_CSR, then INTERP0 and INTERP1 up to 0x0fc
const SIO_INTERP_END = 0x100;
const DIV_FIELDS = ['divDividend', 'divDivisor', 'divQuotient', 'divRemainder', 'divCSR'];
const MPU_TYPE = 0xd90;
const MPU_CTRL = 0xd94;
const MPU_RNR = 0xd98;
const MPU_RBAR = 0xd9c;
const MPU_RASR = 0xda0;

/** ROM states while core 1 waits for its vector. */
export const ROM = Object.freeze({ HELD: 'held in reset', HANDSHAKE: 'handshake', VTOR: 'VTOR', SP: 'SP', ENTRY: 'entry', LAUNCH: 'launch' });

class Fifo {
  constructor() {
    this.buf = new Uint32Array(FIFO_DEPTH);
    this.head = 0;
    this.count = 0;
  }
  push(v) {
    this.buf[(this.head + this.count) % FIFO_DEPTH] = v;
    this.count++;
  }
  pop() {
    const v = this.buf[this.head];
    this.head = (this.head + 1) % FIFO_DEPTH;
    this.count--;
    return v;
  }
  get full() {
    return this.count === FIFO_DEPTH;
  }
}

class Mpu {
  constructor() {
    this.ctrl = 0;
    this.rnr = 0;
    this.rbar = new Uint32Array(8);
    this.rasr = new Uint32Array(8);
  }
}

export class Multicore {
  /**
   * @param {import('rp2040js').RP2040} mcu
   * @param {{log?: object, onCore1Runnable?: () => void}} [opts]
   *   onCore1Runnable: called when core 1 becomes runnable outside its own execution (launched,
   *   woken by SEV or an interrupt), so a run loop stepping core 0 alone can switch
   */
  constructor(mcu, { log = null, onCore1Runnable = () => {} } = {}) {
    this.mcu = mcu;
    this.log = log;
    this.onCore1Runnable = onCore1Runnable;
    this.core0 = mcu.core;
    // rp2040js does not export CortexM0Core: the class of the core it made.
    const CortexM0Core = mcu.core.constructor;
    this.CortexM0Core = CortexM0Core;
    this.core1 = new CortexM0Core(mcu);
    this.cores = [this.core0, this.core1];
    this.rx = [new Fifo(), new Fifo()]; // rx[k]: core k's RX FIFO (the other core's TX)
    this.wof = [false, false];
    this.roe = [false, false];
    this.irqLevel = [false, false]; // SIO_IRQ_PROC0 / PROC1 as last driven
    this.mpu = [new Mpu(), new Mpu()];
    // per-core divider and interpolators: the bank of the core not holding rp2040js's SIO fields
    this.Interpolator = mcu.sio.interp0.constructor;
    this.sioOwner = 0;
    this.sioBank = [null, this.freshSioBank()];
    this.lines = 0; // levels of the peripheral interrupt lines (for a core-1 reset)
    // core 1 in the ROM: `rom` is its state (ROM.*), null once launched
    this.rom = ROM.HANDSHAKE;
    this.romOut = []; // words the ROM waits to send (core 0's RX FIFO full)
    this.launchArgs = { vtor: 0, sp: 0, entry: 0 };
    this.launches = 0;
    this.resets = 0;
    this.romWords = []; // the last 64 words the ROM received (diagnostics and tests)
    this.install();
    this.romStart();
  }

  /** Core 1 has been launched and is not in the ROM. */
  get running() {
    return this.rom === null;
  }

  /** Core 1 can execute an instruction now. */
  get runnable() {
    return this.rom === null && !this.core1.waiting;
  }

  /** Index of the core executing now (0 outside any instruction). */
  get current() {
    return this.mcu.core === this.core1 ? 1 : 0;
  }

  install() {
    const { mcu } = this;
    // SIO: CPUID and the FIFOs; everything else to rp2040js's.
    const sio = mcu.sio;
    const sioRead = sio.readUint32.bind(sio);
    const sioWrite = sio.writeUint32.bind(sio);
    sio.readUint32 = (offset) => {
      switch (offset) {
        case SIO_CPUID:
          return mcu.core === this.core1 ? 1 : 0;
        case SIO_FIFO_ST:
          return this.status(this.current);
        case SIO_FIFO_RD:
          return this.fifoRead(this.current);
        case SIO_FIFO_WR:
          return 0; // write-only
        default:
          if (offset >= SIO_DIV_FIRST && offset < SIO_INTERP_END) this.bankSio(this.current);
          return sioRead(offset);
      }
    };
    sio.writeUint32 = (offset, value) => {
      switch (offset) {
        case SIO_FIFO_ST: {
          const k = this.current;
          this.wof[k] = false;
          this.roe[k] = false;
          this.updateIrq(k);
          return;
        }
        case SIO_FIFO_WR:
          this.fifoWrite(this.current, value >>> 0);
          return;
        case SIO_CPUID:
        case SIO_FIFO_RD:
          return; // read-only
        default:
          if (offset >= SIO_DIV_FIRST && offset < SIO_INTERP_END) this.bankSio(this.current);
          sioWrite(offset, value);
      }
    };

    // Interrupt lines: both NVICs, except the SIO FIFO interrupts (one core each).
    mcu.setInterrupt = (irq, value) => {
      if (irq === IRQ_SIO_PROC0) return this.core0.setInterrupt(irq, value);
      if (irq === IRQ_SIO_PROC1) return this.setCore1Interrupt(irq, value);
      this.lines = value ? this.lines | (1 << irq) : this.lines & ~(1 << irq);
      this.core0.setInterrupt(irq, value);
      this.setCore1Interrupt(irq, value);
    };

    // PSM: FRCE_OFF.proc1 holds core 1 in reset; releasing it restarts the ROM.
    const psm = mcu.peripherals[0x40010];
    const psmWrite = psm.writeUint32.bind(psm);
    psm.writeUint32 = (offset, value) => {
      const before = psm.frceOff & PSM_PROC1;
      psmWrite(offset, value);
      if (offset !== PSM_FRCE_OFF) return;
      const after = psm.frceOff & PSM_PROC1;
      if (after) this.hold();
      else if (before) this.release();
    };

    // SYSCFG: each core's NMI mask at its own offset.
    const syscfg = mcu.peripherals[0x40004];
    const syscfgRead = syscfg.readUint32.bind(syscfg);
    const syscfgWrite = syscfg.writeUint32.bind(syscfg);
    syscfg.readUint32 = (offset) => (offset === 0 || offset === 4 ? this.cores[offset >> 2].interruptNMIMask : syscfgRead(offset));
    syscfg.writeUint32 = (offset, value) => {
      if (offset === 0 || offset === 4) this.cores[offset >> 2].interruptNMIMask = value >>> 0;
      else syscfgWrite(offset, value);
    };

    // MPU registers, per core, plain storage.
    const ppb = mcu.ppb;
    const ppbRead = ppb.readUint32.bind(ppb);
    const ppbWrite = ppb.writeUint32.bind(ppb);
    ppb.readUint32 = (offset) => {
      if (offset < MPU_TYPE || offset > MPU_RASR) return ppbRead(offset);
      const m = this.mpu[this.current];
      switch (offset) {
        case MPU_TYPE:
          return 8 << 8; // DREGION = 8
        case MPU_CTRL:
          return m.ctrl;
        case MPU_RNR:
          return m.rnr;
        case MPU_RBAR:
          return (m.rbar[m.rnr] & ~0x1f) | m.rnr;
        default:
          return m.rasr[m.rnr];
      }
    };
    ppb.writeUint32 = (offset, value) => {
      if (offset < MPU_TYPE || offset > MPU_RASR) return ppbWrite(offset, value);
      const m = this.mpu[this.current];
      value >>>= 0;
      switch (offset) {
        case MPU_CTRL:
          m.ctrl = value & 7;
          break;
        case MPU_RNR:
          m.rnr = value & 7;
          break;
        case MPU_RBAR:
          if (value & 0x10) m.rnr = value & 7; // VALID: the region number comes with the address
          m.rbar[m.rnr] = value & ~0xff;
          break;
        case MPU_RASR:
          m.rasr[m.rnr] = value;
          break;
        default:
          break; // MPU_TYPE is read-only
      }
    };
  }

  // ---- divider and interpolators per core ----

  freshSioBank() {
    return {
      divDividend: 0,
      divDivisor: 1,
      divQuotient: 0,
      divRemainder: 0,
      divCSR: 0,
      interp0: new this.Interpolator(0),
      interp1: new this.Interpolator(1),
    };
  }

  /** Puts core k's divider and interpolators into rp2040js's SIO (the other core's aside). */
  bankSio(k) {
    if (this.sioOwner === k) return;
    const sio = this.mcu.sio;
    const out = {};
    for (const f of DIV_FIELDS) out[f] = sio[f];
    out.interp0 = sio.interp0;
    out.interp1 = sio.interp1;
    this.sioBank[this.sioOwner] = out;
    const b = this.sioBank[k];
    for (const f of DIV_FIELDS) sio[f] = b[f];
    sio.interp0 = b.interp0;
    sio.interp1 = b.interp1;
    this.sioBank[k] = null;
    this.sioOwner = k;
  }

  // ---- FIFOs ----

  status(k) {
    return (this.rx[k].count ? 1 : 0) | (this.rx[1 - k].full ? 0 : 2) | (this.wof[k] ? 4 : 0) | (this.roe[k] ? 8 : 0);
  }

  fifoRead(k) {
    const f = this.rx[k];
    let v = 0;
    if (f.count) v = f.pop();
    else this.roe[k] = true;
    this.updateIrq(k);
    if (k === 0 && this.romOut.length && this.rom !== null) this.romPump(); // room for the ROM's send
    return v;
  }

  fifoWrite(k, v) {
    const f = this.rx[1 - k];
    if (f.full) this.wof[k] = true;
    else f.push(v);
    this.updateIrq(k);
    this.updateIrq(1 - k);
    if (k === 0 && this.rom !== null) this.romPump();
  }

  updateIrq(k) {
    const level = this.rx[k].count > 0 || this.wof[k] || this.roe[k];
    if (level === this.irqLevel[k]) return;
    this.irqLevel[k] = level;
    if (k === 0) this.core0.setInterrupt(IRQ_SIO_PROC0, level);
    else this.setCore1Interrupt(IRQ_SIO_PROC1, level);
  }

  setCore1Interrupt(irq, value) {
    const c1 = this.core1;
    const was = c1.waiting;
    c1.setInterrupt(irq, value);
    if (was && !c1.waiting && this.rom === null) this.onCore1Runnable();
  }

  // ---- events ----

  /** SEV on the executing core: every core's event register; a core in WFE wakes. */
  sev() {
    const me = this.mcu.core;
    const other = me === this.core1 ? this.core0 : this.core1;
    me.eventRegistered = true;
    if (other === this.core1 && this.rom !== null) return; // the ROM model needs no events
    if (other.waiting && this.inWfe(other)) {
      other.waiting = false; // the event that ends a WFE is consumed
      if (other === this.core1) this.onCore1Runnable();
    } else {
      other.eventRegistered = true;
    }
  }

  /**
   * A sleeping core sleeps in WFE (not WFI): rp2040js has one `waiting` flag for both; the PC is
   * past the instruction (and keeps the Thumb bit after an exception entry until a branch).
   */
  inWfe(core) {
    return this.mcu.readUint16(((core.PC & ~1) - 2) >>> 0) === OP_WFE;
  }

  /** After the clock jumped while both cores slept: an interrupt pending on core 1 wakes it. */
  pollCore1() {
    const c1 = this.core1;
    if (this.rom === null && c1.waiting && c1.interruptsUpdated && c1.checkForInterrupts()) c1.waiting = false;
  }

  // ---- reset and the ROM ----

  /** Core 1's architectural state back to reset; its cycle count and hooks stay. */
  resetCore1() {
    const c1 = this.core1;
    const fresh = new this.CortexM0Core(this.mcu);
    for (const key of Object.keys(fresh)) {
      if (key === 'cycles' || key === 'blTaken' || key === 'rp2040') continue;
      c1[key] = fresh[key];
    }
    c1.pendingInterrupts = this.lines | (this.irqLevel[1] ? 1 << IRQ_SIO_PROC1 : 0);
    c1.interruptsUpdated = true;
    this.mpu[1] = new Mpu();
    if (this.sioOwner === 1) this.bankSio(0);
    this.sioBank[1] = this.freshSioBank();
  }

  hold() {
    if (this.rom === ROM.HELD) return;
    this.resets++;
    this.resetCore1();
    this.rom = ROM.HELD;
    this.romOut = [];
    this.log?.trace(`core 1: held in reset (PSM FRCE_OFF.proc1)`);
  }

  release() {
    this.log?.trace(`core 1: released from reset: boot ROM wait_for_vector`);
    this.romStart();
  }

  /** The ROM's wait_for_vector from its start (after a reset, or called on core 1). */
  romStart() {
    this.romOut = [];
    // one read of FIFO_RD before the drain, as the ROM does (ROE when empty), then the drain
    // and the first 0
    this.fifoRead(1);
    this.romHandshake();
    this.romPump();
  }

  /** Drain core 1's RX FIFO and send 0 (the ROM's core_0_handshake_loop). */
  romHandshake() {
    const f = this.rx[1];
    while (f.count) f.pop();
    this.updateIrq(1);
    this.rom = ROM.HANDSHAKE;
    this.romOut.push(0);
  }

  /**
   * Runs the ROM until it has to wait: sends what it has to send while core 0's RX FIFO has room
   * (each send with the ROM's SEV), launches once the entry point's echo is out, and consumes core
   * 1's RX FIFO word by word.
   */
  romPump() {
    const out = this.rx[0];
    const f = this.rx[1];
    while (this.rom !== null && this.rom !== ROM.HELD) {
      if (this.romOut.length) {
        if (out.full) return; // the ROM waits for RDY
        out.push(this.romOut.shift());
        this.updateIrq(0);
        this.romSev();
        continue;
      }
      if (this.rom === ROM.LAUNCH) {
        this.launch(this.launchArgs.entry);
        return;
      }
      if (!f.count) return; // the ROM waits for VLD
      const w = f.pop();
      this.romWords.push(w);
      if (this.romWords.length > 64) this.romWords.shift();
      this.updateIrq(1);
      if (w === 0) {
        this.romHandshake();
        continue;
      }
      const c1 = this.core1;
      switch (this.rom) {
        case ROM.HANDSHAKE:
          if (w === 1) {
            this.rom = ROM.VTOR;
            this.romOut.push(1);
          } else {
            this.romHandshake();
          }
          break;
        case ROM.VTOR:
          c1.VTOR = w;
          this.launchArgs.vtor = w;
          this.rom = ROM.SP;
          this.romOut.push(w);
          break;
        case ROM.SP:
          c1.SP = w; // MSP: thread mode, SPSEL = 0 after reset
          this.launchArgs.sp = w;
          this.rom = ROM.ENTRY;
          this.romOut.push(w);
          break;
        case ROM.ENTRY:
          this.launchArgs.entry = w;
          this.rom = ROM.LAUNCH;
          this.romOut.push(w);
          break;
        default:
          break;
      }
    }
  }

  /** The ROM's SEV after a send: core 0's event register, or its WFE ends. */
  romSev() {
    const c0 = this.core0;
    if (c0.waiting && this.inWfe(c0)) c0.waiting = false;
    else c0.eventRegistered = true;
  }

  launch(entry) {
    const c1 = this.core1;
    this.rom = null;
    this.launches++;
    if (!(entry & 1)) this.log?.warn(`core 1 launched at 0x${entry.toString(16)} without the Thumb bit (a HardFault on the chip)`);
    c1.registers[0] = entry;
    c1.LR = CORE1_DEAD | 1;
    c1.PC = entry & ~1;
    c1.waiting = false;
    c1.eventRegistered = false;
    const a = this.launchArgs;
    this.log?.trace(`core 1: launched, VTOR=0x${a.vtor.toString(16)} SP=0x${a.sp.toString(16)} PC=0x${(entry & ~1).toString(16)}`);
    this.onCore1Runnable();
  }

  /** ROM wait_for_vector called by code on core 1: back to the ROM's handshake. */
  waitForVector() {
    this.romStart();
  }

}
