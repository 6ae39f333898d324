// The board's flash, kept in a state file across runs.
//
// STATE.bin holds the whole 2 MiB flash (offset 0 = XIP address 0x10000000). At start the harness
// loads it (if it exists) and lays the UF2 over it the way the boot ROM's UF2 loader does (the
// sectors the UF2 touches are erased, then programmed); the store in [1 MiB, 2 MiB) stays as the
// last run left it. Every erase or program the firmware makes through the boot ROM is written
// through to the file at once (pwrite of the touched range), so a harness killed at any point
// leaves the file as the flash chip would be after the last completed ROM call.
//
// STATE.bin.id (beside it) holds the flash chip's 64-bit unique id as 16 hex digits, made at random
// when the state file is created: it is the card's serial number, so it must stay with the flash.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';

export const FLASH_SIZE = 2 * 1024 * 1024;

export class FlashFile {
  /**
   * @param {string|null} path the state file (null: flash lives in memory only)
   * @param {Uint8Array} flash the emulator's flash array (at least FLASH_SIZE bytes)
   */
  constructor(path, flash) {
    this.path = path;
    this.flash = flash;
    this.fd = null;
    this.erases = 0;
    this.programs = 0;
    this.bytesProgrammed = 0;
  }

  /** Loads the state file into the flash array; returns whether it existed. */
  load() {
    this.flash.fill(0xff, 0, FLASH_SIZE);
    if (!this.path || !fs.existsSync(this.path)) return false;
    const data = fs.readFileSync(this.path);
    if (data.length !== FLASH_SIZE) {
      throw new Error(`${this.path}: ${data.length} bytes, expected a ${FLASH_SIZE}-byte flash image`);
    }
    this.flash.set(data, 0);
    return true;
  }

  /** The chip's unique id: read from the sidecar, or made and saved. */
  uniqueId() {
    if (!this.path) return Uint8Array.from([0xe6, 0x60, 0x58, 0x38, 0x83, 0x2f, 0x26, 0x2d]);
    const idPath = `${this.path}.id`;
    if (fs.existsSync(idPath)) {
      const hex = fs.readFileSync(idPath, 'utf8').trim();
      if (!/^[0-9a-fA-F]{16}$/.test(hex)) throw new Error(`${idPath}: expected 16 hex digits`);
      return Uint8Array.from(Buffer.from(hex, 'hex'));
    }
    const id = randomBytes(8);
    writeAtomic(idPath, Buffer.from(`${id.toString('hex').toUpperCase()}\n`));
    return Uint8Array.from(id);
  }

  /** Writes the whole image (after the UF2 was laid over it) and opens the file for write-through. */
  saveAll() {
    if (!this.path) return;
    writeAtomic(this.path, Buffer.from(this.flash.buffer, this.flash.byteOffset, FLASH_SIZE));
    this.fd = fs.openSync(this.path, 'r+');
  }

  /** Writes flash[offset, offset+len) through to the file. */
  persist(offset, len) {
    if (this.fd === null) return;
    const buf = Buffer.from(this.flash.buffer, this.flash.byteOffset + offset, len);
    let done = 0;
    while (done < len) done += fs.writeSync(this.fd, buf, done, len - done, offset + done);
  }

  /** NOR erase: [offset, offset+count) becomes 0xFF. */
  erase(offset, count) {
    if (offset % 4096 || count % 4096 || offset < 0 || offset + count > FLASH_SIZE) {
      throw new Error(`flash_range_erase(0x${offset.toString(16)}, ${count}): not 4 KiB sectors inside the flash`);
    }
    this.flash.fill(0xff, offset, offset + count);
    this.erases += count / 4096;
    this.persist(offset, count);
  }

  /** NOR program: bits only go from 1 to 0 (the new bytes are ANDed in). */
  program(offset, data) {
    const count = data.length;
    if (offset % 256 || count % 256 || offset < 0 || offset + count > FLASH_SIZE) {
      throw new Error(`flash_range_program(0x${offset.toString(16)}, ${count}): not 256-byte pages inside the flash`);
    }
    for (let i = 0; i < count; i++) this.flash[offset + i] &= data[i];
    this.programs += count / 256;
    this.bytesProgrammed += count;
    this.persist(offset, count);
  }

  close() {
    if (this.fd !== null) fs.closeSync(this.fd);
    this.fd = null;
  }
}

function writeAtomic(path, data) {
  const tmp = `${path}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, path);
}
