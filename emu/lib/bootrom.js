// A synthetic RP2040 boot ROM for rp2040js, which ships none.
//
// The real ROM (datasheet §2.8) starts the chip, copies boot2 (the first 256 bytes of flash) to SRAM,
// checks its CRC and runs it; boot2 sets up XIP and jumps through the vector table at 0x10000100. It
// also offers functions and data that firmware finds through a lookup table. This one keeps only the
// layout firmware reads, and does the work in JavaScript:
//
//   0x0000  vector table: initial SP 0x20042000, reset -> RESET_STUB, NMI and HardFault -> FAULT_STUB
//   0x0010  'M' 'u' 0x01: the ROM magic; 0x0013: ROM version (3, as on RP2040 B2 silicon)
//   0x0014  u16 pointer to the function table   (FUNC_TABLE)
//   0x0016  u16 pointer to the data table        (DATA_TABLE)
//   0x0018  u16 pointer to rom_table_lookup (Thumb bit set, as in the real ROM)
//   0x0100  RESET_STUB:  bkpt #0xFF ; b .      (the harness performs the boot, see `boot`)
//   0x0104  FAULT_STUB:  bkpt #0xFE ; b .      (a fault before the firmware's own table is in use)
//   0x0108  LOOKUP_STUB: bkpt #0x80 ; bx lr    (rom_table_lookup(table, code) -> pointer or 0)
//   0x010C  CORE1_DEAD:  wfi ; b .-2           (where core 1 returns if its entry function returns,
//                                              as in the real ROM; see multicore.js)
//   0x0200  FUNC_TABLE:  (u16 code, u16 pointer) pairs, ending with code 0
//   0x0300  DATA_TABLE:  same, for data ('CR' copyright string, 'GR' git revision)
//   0x0400  one 4-byte stub per function: bkpt #index ; bx lr
//
// rp2040js calls `rp2040.onBreak(code)` for BKPT (and UDF) with the core's PC already past the
// 2-byte instruction (core.breakRewind = 2); the harness's handler runs the function on the core's
// registers (AAPCS: arguments r0-r3, result r0) and returns, so execution goes on at the stub's
// `bx lr`. Boot does not run boot2: XIP reads need no SSI set-up in rp2040js (it reads the flash
// array directly), so the reset handler checks boot2's CRC as the real ROM does, then sets VTOR, SP
// and PC from the image's vector table at 0x10000100 as boot2's exit does. boot2 still runs later:
// embassy-rp calls a RAM copy of it after every flash operation to re-enter XIP.
//
// Cost model: every ROM function adds an estimate of its real cycle count to core.cycles
// (`cycles` below). Flash erase and program also take the chip's time (W25Q16JV typical: 45 ms per
// 4 KiB sector erase, 0.4 ms per 256-byte page program), spent as virtual time on the clock, not as
// core cycles: on the board the core spins in ROM polling the flash status for that long.

import { boot2Crc } from './uf2.js';

export const ROM_SIZE = 16 * 1024;
export const RESET_STUB = 0x100;
export const FAULT_STUB = 0x104;
export const LOOKUP_STUB = 0x108;
export const CORE1_DEAD = 0x10c;
export const FUNC_TABLE = 0x200;
export const DATA_TABLE = 0x300;
export const STUBS = 0x400;
export const COPYRIGHT = 0x800;
export const GIT_REVISION = 0x880;
export const ROM_VERSION = 3;
export const BKPT_LOOKUP = 0x80;
export const BKPT_FAULT = 0xfe;
export const BKPT_RESET = 0xff;
export const INITIAL_SP = 0x20042000;
/** The firmware's vector table: after boot2's 256 bytes. */
export const IMAGE_VECTORS = 0x10000100;

export const SECTOR_ERASE_NS = 45e6;
export const PAGE_PROGRAM_NS = 0.4e6;

/** Two-character code as the u16 the lookup compares (`u16::from_le_bytes(*b"XY")`). */
export const code = (s) => s.charCodeAt(0) | (s.charCodeAt(1) << 8);
export const codeName = (c) => String.fromCharCode(c & 0xff, (c >> 8) & 0xff);

/** The ROM functions, in stub order (index = bkpt immediate). */
export const FUNCTIONS = [
  ['P3', 'popcount32'],
  ['R3', 'reverse32'],
  ['L3', 'clz32'],
  ['T3', 'ctz32'],
  ['MS', 'memset'],
  ['S4', 'memset4'],
  ['MC', 'memcpy'],
  ['C4', 'memcpy44'],
  ['IF', 'connect_internal_flash'],
  ['EX', 'flash_exit_xip'],
  ['RE', 'flash_range_erase'],
  ['RP', 'flash_range_program'],
  ['FC', 'flash_flush_cache'],
  ['CX', 'flash_enter_cmd_xip'],
  ['UB', 'reset_to_usb_boot'],
  ['WV', 'wait_for_vector'],
];

const COPYRIGHT_TEXT = '(C) 2020 Raspberry Pi Trading Ltd';

/** Builds the ROM image: `{ bytes: Uint8Array(16 KiB), words: Uint32Array }`. */
export function buildBootrom() {
  const bytes = new Uint8Array(ROM_SIZE);
  const v = new DataView(bytes.buffer);
  v.setUint32(0x00, INITIAL_SP, true);
  v.setUint32(0x04, RESET_STUB | 1, true);
  v.setUint32(0x08, FAULT_STUB | 1, true);
  v.setUint32(0x0c, FAULT_STUB | 1, true);
  bytes.set([0x4d, 0x75, 0x01, ROM_VERSION], 0x10);
  v.setUint16(0x14, FUNC_TABLE, true);
  v.setUint16(0x16, DATA_TABLE, true);
  v.setUint16(0x18, LOOKUP_STUB | 1, true);
  const bkpt = (n) => 0xbe00 | n;
  const BX_LR = 0x4770;
  const B_SELF = 0xe7fe;
  v.setUint16(RESET_STUB, bkpt(BKPT_RESET), true);
  v.setUint16(RESET_STUB + 2, B_SELF, true);
  v.setUint16(FAULT_STUB, bkpt(BKPT_FAULT), true);
  v.setUint16(FAULT_STUB + 2, B_SELF, true);
  v.setUint16(LOOKUP_STUB, bkpt(BKPT_LOOKUP), true);
  v.setUint16(LOOKUP_STUB + 2, BX_LR, true);
  v.setUint16(CORE1_DEAD, 0xbf30, true); // wfi
  v.setUint16(CORE1_DEAD + 2, 0xe7fd, true); // b CORE1_DEAD
  FUNCTIONS.forEach(([c], i) => {
    const at = STUBS + 4 * i;
    v.setUint16(at, bkpt(i), true);
    v.setUint16(at + 2, BX_LR, true);
    v.setUint16(FUNC_TABLE + 4 * i, code(c), true);
    v.setUint16(FUNC_TABLE + 4 * i + 2, at | 1, true);
  });
  v.setUint16(FUNC_TABLE + 4 * FUNCTIONS.length, 0, true);
  for (let i = 0; i < COPYRIGHT_TEXT.length; i++) bytes[COPYRIGHT + i] = COPYRIGHT_TEXT.charCodeAt(i);
  v.setUint32(GIT_REVISION, 0x7a4eb274 ^ 0x7a4eb274, true); // 0: not a real ROM build
  v.setUint16(DATA_TABLE, code('CR'), true);
  v.setUint16(DATA_TABLE + 2, COPYRIGHT, true);
  v.setUint16(DATA_TABLE + 4, code('GR'), true);
  v.setUint16(DATA_TABLE + 6, GIT_REVISION, true);
  v.setUint16(DATA_TABLE + 8, 0, true);
  return { bytes, words: new Uint32Array(bytes.buffer) };
}

/** The real ROM's table walk, over the ROM bytes (for tests and the lookup stub). */
export function tableLookup(romBytes, table, c) {
  const v = new DataView(romBytes.buffer, romBytes.byteOffset, romBytes.byteLength);
  for (let at = table; at + 4 <= romBytes.length; at += 4) {
    const entry = v.getUint16(at, true);
    if (entry === 0) return 0;
    if (entry === c) return v.getUint16(at + 2, true);
  }
  return 0;
}

const popcount = (x) => {
  let n = 0;
  for (let v = x >>> 0; v; v &= v - 1) n++;
  return n;
};
const reverse = (x) => {
  let r = 0;
  for (let i = 0; i < 32; i++) r = (r << 1) | ((x >>> i) & 1);
  return r >>> 0;
};
const clz = (x) => Math.clz32(x);
const ctz = (x) => (x >>> 0 === 0 ? 32 : 31 - Math.clz32((x & -x) >>> 0));
export const bitops = { popcount, reverse, clz, ctz };

export class BootromError extends Error {}

/**
 * Serves the ROM's breakpoints on an RP2040 instance.
 * @param {import('rp2040js').RP2040} mcu
 * @param {{flash: import('./flash.js').FlashFile, rom: {bytes: Uint8Array}, log: object, flashTiming?: boolean}} opts
 */
export class RomServices {
  constructor(mcu, { flash, rom, log, flashTiming = true, multicore = null }) {
    this.mcu = mcu;
    this.multicore = multicore;
    this.flash = flash;
    this.rom = rom;
    this.log = log;
    this.flashTiming = flashTiming;
    this.calls = new Map(); // name -> count
    this.lookups = new Map(); // code -> count
    this.flashBusyNs = 0;
    this.booted = false;
  }

  /** Handles a BKPT/UDF at `addr` (instruction address). Returns false if it is not a ROM stub. */
  handleBreak(addr, imm) {
    if (addr >= ROM_SIZE) return false;
    const { core } = this.mcu;
    const r = core.registers;
    if (addr === RESET_STUB && imm === BKPT_RESET) {
      this.boot();
      return true;
    }
    if (addr === FAULT_STUB && imm === BKPT_FAULT) {
      throw new BootromError(`fault (exception ${core.IPSR}) before the firmware's vector table was in use`);
    }
    if (addr === LOOKUP_STUB && imm === BKPT_LOOKUP) {
      const table = r[0] & 0xffff;
      const c = r[1] & 0xffff;
      const ptr = tableLookup(this.rom.bytes, table, c);
      this.lookups.set(codeName(c), (this.lookups.get(codeName(c)) ?? 0) + 1);
      const kind = table === FUNC_TABLE ? 'function' : table === DATA_TABLE ? 'data' : `table@0x${table.toString(16)}`;
      if (!ptr) this.log.warn(`ROM: rom_table_lookup of unknown ${kind} '${codeName(c)}' -> 0`);
      else this.log.trace(`ROM: rom_table_lookup ${kind} '${codeName(c)}' -> 0x${ptr.toString(16)}`);
      r[0] = ptr;
      core.cycles += 30;
      return true;
    }
    const index = (addr - STUBS) / 4;
    if (addr >= STUBS && Number.isInteger(index) && index < FUNCTIONS.length && imm === index) {
      this.call(FUNCTIONS[index][1], r);
      return true;
    }
    throw new BootromError(`BKPT #${imm} at ROM address 0x${addr.toString(16)}: no such ROM entry`);
  }

  boot() {
    const { mcu } = this;
    const boot2 = mcu.flash.subarray(0, 256);
    const crc = boot2Crc(boot2.subarray(0, 252));
    const stored = new DataView(boot2.buffer, boot2.byteOffset, 256).getUint32(252, true);
    if (crc !== stored) {
      throw new BootromError(
        `boot2 CRC 0x${crc.toString(16)} does not match the stored 0x${stored.toString(16)}: ` +
          'the boot ROM would not start this image (it would enter BOOTSEL mode)',
      );
    }
    const sp = mcu.readUint32(IMAGE_VECTORS);
    const reset = mcu.readUint32(IMAGE_VECTORS + 4);
    if (!(reset & 1) || reset < 0x10000000 || reset >= 0x10200000 || sp < 0x20000000 || sp > 0x20042000) {
      throw new BootromError(
        `image vector table at 0x${IMAGE_VECTORS.toString(16)}: SP 0x${sp.toString(16)}, reset 0x${reset.toString(16)} are not an RP2040 image's`,
      );
    }
    const { core } = mcu;
    core.VTOR = IMAGE_VECTORS;
    core.SP = sp;
    core.LR = 0xffffffff;
    core.PC = reset & ~1;
    this.booted = true;
    this.log.trace(`ROM: boot2 CRC ok; VTOR=0x${IMAGE_VECTORS.toString(16)} SP=0x${sp.toString(16)} PC=0x${(reset & ~1).toString(16)}`);
  }

  readBytes(addr, n) {
    const { mcu } = this;
    if (addr >= 0x20000000 && addr + n <= 0x20000000 + mcu.sram.length) {
      return mcu.sram.slice(addr - 0x20000000, addr - 0x20000000 + n);
    }
    if (addr >= 0x10000000 && addr + n <= 0x14000000) {
      const o = addr & 0xffffff;
      return mcu.flash.slice(o, o + n);
    }
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = mcu.readUint8(addr + i);
    return out;
  }

  writeBytes(addr, data) {
    const { mcu } = this;
    if (addr >= 0x20000000 && addr + data.length <= 0x20000000 + mcu.sram.length) {
      mcu.sram.set(data, addr - 0x20000000);
      return;
    }
    for (let i = 0; i < data.length; i++) mcu.writeUint8(addr + i, data[i]);
  }

  spendFlashTime(ns) {
    if (!this.flashTiming) return;
    this.flashBusyNs += ns;
    this.mcu.clock.tick(ns);
  }

  call(name, r) {
    const { core } = this.mcu;
    this.calls.set(name, (this.calls.get(name) ?? 0) + 1);
    const a0 = r[0] >>> 0;
    const a1 = r[1] >>> 0;
    const a2 = r[2] >>> 0;
    let cycles = 20;
    switch (name) {
      case 'popcount32':
        r[0] = popcount(a0);
        break;
      case 'reverse32':
        r[0] = reverse(a0);
        break;
      case 'clz32':
        r[0] = clz(a0);
        break;
      case 'ctz32':
        r[0] = ctz(a0);
        break;
      case 'memset':
      case 'memset4':
        this.writeBytes(a0, new Uint8Array(a2).fill(a1 & 0xff));
        cycles += name === 'memset4' ? a2 >>> 2 : a2;
        break; // returns ptr: r0 unchanged
      case 'memcpy':
      case 'memcpy44':
        this.writeBytes(a0, this.readBytes(a1, a2));
        cycles += name === 'memcpy44' ? (a2 >>> 2) * 4 : a2 * 3;
        break; // returns dest: r0 unchanged
      case 'connect_internal_flash':
      case 'flash_exit_xip':
      case 'flash_flush_cache':
      case 'flash_enter_cmd_xip':
        this.log.trace(`ROM: ${name}()`);
        cycles += 100;
        break;
      case 'flash_range_erase': {
        // (addr, count, block_size, block_cmd): addr is an offset into flash; the real ROM uses
        // block_cmd for aligned runs of block_size, else 4 KiB sector erases (20h).
        this.log.trace(`ROM: flash_range_erase(0x${a0.toString(16)}, ${a1}, 0x${a2.toString(16)}, 0x${(r[3] & 0xff).toString(16)})`);
        this.flash.erase(a0 & 0xffffff, a1);
        this.spendFlashTime((a1 / 4096) * SECTOR_ERASE_NS);
        cycles += 200;
        break;
      }
      case 'flash_range_program': {
        this.log.trace(`ROM: flash_range_program(0x${a0.toString(16)}, 0x${a1.toString(16)}, ${a2})`);
        this.flash.program(a0 & 0xffffff, this.readBytes(a1, a2));
        this.spendFlashTime((a2 / 256) * PAGE_PROGRAM_NS);
        cycles += 200 + a2 * 8;
        break;
      }
      case 'reset_to_usb_boot':
        throw new BootromError('the firmware called reset_to_usb_boot (BOOTSEL mode): not emulated');
      case 'wait_for_vector':
        // on core 1: back to the ROM's launch handshake (multicore.js); on core 0 the real ROM
        // would wait for a launch that nothing sends
        if (!this.multicore || this.multicore.current !== 1) throw new BootromError('wait_for_vector called on core 0');
        this.log.trace('ROM: wait_for_vector on core 1');
        this.multicore.waitForVector();
        break;
      default:
        throw new BootromError(`ROM function ${name} not implemented`);
    }
    core.cycles += cycles;
  }
}
