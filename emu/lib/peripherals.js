// Peripherals the firmware touches that rp2040js 1.4.1 does not model (or models too little), added
// to the RP2040 instance by the harness. Each is the minimum the image needs, documented against the
// RP2040 datasheet; nothing here is specific to our firmware.

import { randomBytes } from 'node:crypto';
import { BasePeripheral } from 'rp2040js';

/**
 * ROSC (datasheet §2.17, base 0x40060000). rp2040js maps it to an UnimplementedPeripheral, whose
 * reads are 0xFFFFFFFF. embassy-rp's clock set-up writes FREQA/FREQB/DIV/CTRL; the firmware's
 * entropy source reads RANDOMBIT (0x1C) one bit at a time. Here RANDOMBIT returns bits from the
 * host's CSPRNG (node's crypto.randomBytes), STATUS says enabled and stable, the rest are plain
 * registers.
 */
export class RoscPeripheral extends BasePeripheral {
  constructor(rp2040, name = 'ROSC_BASE', random = randomBytes) {
    super(rp2040, name);
    this.random = random;
    this.regs = new Map([
      [0x00, 0x00000aa0], // CTRL: reset value (enabled, freq range LOW)
      [0x10, 0x00000aa0], // DIV
      [0x14, 0x00000008], // PHASE
    ]);
    this.pool = new Uint8Array(0);
    this.poolBit = 0;
    this.bitsRead = 0;
  }

  randomBit() {
    if (this.poolBit >= this.pool.length * 8) {
      this.pool = this.random(4096);
      this.poolBit = 0;
    }
    const bit = (this.pool[this.poolBit >>> 3] >>> (this.poolBit & 7)) & 1;
    this.poolBit++;
    this.bitsRead++;
    return bit;
  }

  readUint32(offset) {
    switch (offset) {
      case 0x18: // STATUS: STABLE (31) | ENABLED (12)
        return 0x80001000;
      case 0x1c: // RANDOMBIT
        return this.randomBit();
      case 0x20: // COUNT: a count-down written by software, done at once here
        return 0;
      default:
        return this.regs.get(offset) ?? 0;
    }
  }

  writeUint32(offset, value) {
    this.regs.set(offset, value >>> 0);
  }
}

/**
 * XIP_CTRL (datasheet §2.6.3.7, base 0x14000000). Not mapped by rp2040js: a read there gives
 * 0xFFFFFFFF, and embassy-rp's `in_ram` (every flash operation) spins on `STREAM_CTR > 0`, so the
 * first flash operation would hang. The cache is not modelled (rp2040js reads flash directly), so
 * the streaming engine is always idle and its FIFO empty.
 */
export class XipCtrlPeripheral extends BasePeripheral {
  constructor(rp2040, name = 'XIP_CTRL') {
    super(rp2040, name);
    this.ctrl = 0x3; // EN | ERR_BADWRITE
  }

  readUint32(offset) {
    switch (offset) {
      case 0x00: // CTRL
        return this.ctrl;
      case 0x08: // STAT: FIFO_EMPTY (1) | FLUSH_READY (0)
        return 0x3;
      default: // FLUSH, CTR_HIT, CTR_ACC, STREAM_ADDR, STREAM_CTR, STREAM_FIFO
        return 0;
    }
  }

  writeUint32(offset, value) {
    if (offset === 0x00) this.ctrl = value >>> 0;
  }
}

/**
 * The flash chip behind the SSI (datasheet §4.10), enough for the serial commands firmware sends
 * outside XIP: rp2040js's RPSSI returns 0 for every DR0 read (and special-cases 05h). embassy-rp's
 * `flash_unique_id` (a RAM routine) puts the SSI in EEPROM-read mode (TMOD=3), sends 4Bh and reads 4
 * dummy bytes and the 8-byte unique id; `flash_jedec_id` sends 9Fh. boot2 (run again from RAM after
 * every flash operation) sends 35h/05h in TX-and-RX mode (TMOD=0) to check the QE bit and the busy
 * bit. Modelled: a W25Q16JV (JEDEC EF 40 15) with QE set, never busy, and the given unique id.
 *
 * Transactions: a write of SSIENR starts one; in TMOD=0 a write after all received bytes were read
 * starts one as well (chip select goes high when the FIFOs run empty).
 */
export function extendSsi(ssi, uniqueId) {
  if (uniqueId.length !== 8) throw new Error('flash unique id must be 8 bytes');
  const SSIENR = 0x08;
  const DR0 = 0x60;
  const state = { tx: [], rx: [], readPos: 0, drained: false, commands: [] };
  const tmod = () => (ssi.crtlr0 >>> 8) & 3;
  // Byte `i` of what the chip drives after the command byte (i = 0 is the first byte after it).
  const answer = (cmd, i) => {
    switch (cmd) {
      case 0x4b: // Read Unique ID: 4 dummy bytes, then 64 bits
        return i < 4 ? 0 : i < 12 ? uniqueId[i - 4] : 0;
      case 0x9f: // JEDEC ID
        return [0xef, 0x40, 0x15][i] ?? 0;
      case 0x05: // status register 1: not busy, write not enabled
        return 0x00;
      case 0x35: // status register 2: QE set (boot2 then leaves the status registers alone)
        return 0x02;
      default:
        return 0;
    }
  };
  const begin = () => {
    state.tx = [];
    state.rx = [];
    state.readPos = 0;
    state.drained = false;
  };
  const origRead = ssi.readUint32.bind(ssi);
  const origWrite = ssi.writeUint32.bind(ssi);
  ssi.readUint32 = (offset) => {
    if (offset !== DR0) return origRead(offset);
    if (tmod() === 0) {
      const v = state.rx.length ? state.rx.shift() : 0;
      if (state.rx.length === 0) state.drained = true;
      return v;
    }
    // EEPROM read (3) / receive only (2): the chip drives bytes after the command.
    const cmd = state.tx[0];
    const v = cmd === undefined ? 0 : answer(cmd, state.tx.length - 1 + state.readPos);
    state.readPos++;
    return v;
  };
  ssi.writeUint32 = (offset, value) => {
    if (offset === SSIENR) {
      begin();
      return origWrite(offset, value);
    }
    if (offset !== DR0) return origWrite(offset, value);
    const byte = value & 0xff;
    if (tmod() === 0) {
      if (state.drained) begin();
      if (state.tx.length === 0) state.commands.push(byte);
      state.tx.push(byte);
      // Full duplex: one byte in for every byte out; the first comes while the command goes out.
      state.rx.push(state.tx.length === 1 ? 0 : answer(state.tx[0], state.tx.length - 2));
      return;
    }
    if (state.readPos > 0) begin();
    if (state.tx.length === 0) state.commands.push(byte);
    state.tx.push(byte);
  };
  return state;
}
