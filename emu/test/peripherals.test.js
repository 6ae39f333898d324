import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RP2040 } from 'rp2040js';
import { RoscPeripheral, XipCtrlPeripheral, extendSsi } from '../lib/peripherals.js';
import { FlashFile, FLASH_SIZE } from '../lib/flash.js';

const ID = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);

test('SSI: EEPROM-read of 4Bh gives 4 dummy bytes then the unique id (embassy-rp flash_unique_id)', () => {
  const mcu = new RP2040();
  const ssi = mcu.peripherals[0x18000];
  extendSsi(ssi, ID);
  const base = 0x18000000;
  mcu.writeUint32(base + 0x08, 0); // SSIENR off
  mcu.writeUint32(base + 0x00, mcu.readUint32(base) | 0x300); // TMOD = EEPROM read
  mcu.writeUint32(base + 0x04, 11); // CTRLR1: 12 frames
  mcu.writeUint32(base + 0x08, 1);
  mcu.writeUint8(base + 0x60, 0x4b);
  const got = [];
  for (let i = 0; i < 12; i++) got.push(mcu.readUint8(base + 0x60));
  assert.deepEqual(got, [0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
  // the same again (a second read of the id)
  mcu.writeUint32(base + 0x08, 0);
  mcu.writeUint32(base + 0x08, 1);
  mcu.writeUint8(base + 0x60, 0x9f);
  assert.deepEqual([0, 1, 2].map(() => mcu.readUint8(base + 0x60)), [0xef, 0x40, 0x15]);
});

test('SSI: TX-and-RX mode answers status registers byte for byte (boot2)', () => {
  const mcu = new RP2040();
  const state = extendSsi(mcu.peripherals[0x18000], ID);
  const base = 0x18000000;
  mcu.writeUint32(base + 0x08, 0);
  mcu.writeUint32(base + 0x00, 7 << 16); // TMOD 0, 8-bit frames
  mcu.writeUint32(base + 0x08, 1);
  const sreg = (cmd) => {
    mcu.writeUint32(base + 0x60, cmd);
    mcu.writeUint32(base + 0x60, cmd);
    mcu.readUint32(base + 0x60);
    return mcu.readUint32(base + 0x60);
  };
  assert.equal(sreg(0x35), 0x02, 'QE set');
  assert.equal(sreg(0x05), 0x00, 'not busy');
  assert.deepEqual(state.commands, [0x35, 0x05]);
});

test('ROSC: RANDOMBIT gives single random bits, STATUS stable; XIP_CTRL streaming idle', () => {
  const mcu = new RP2040();
  let calls = 0;
  const rosc = new RoscPeripheral(mcu, 'ROSC', (n) => {
    calls++;
    return Buffer.alloc(n, 0b10100101);
  });
  mcu.peripherals[0x40060] = rosc;
  const bits = Array.from({ length: 8 }, () => mcu.readUint32(0x4006001c));
  assert.deepEqual(bits, [1, 0, 1, 0, 0, 1, 0, 1]);
  assert.equal(calls, 1);
  assert.equal(mcu.readUint32(0x40060018) >>> 31, 1);
  mcu.peripherals[0x14000] = new XipCtrlPeripheral(mcu);
  assert.equal(mcu.readUint32(0x14000018), 0, 'STREAM_CTR');
  assert.equal(mcu.readUint32(0x14000008) & 2, 2, 'FIFO_EMPTY');
});

test('unimplemented ROSC reads 0xFFFFFFFF in rp2040js (what --no-rosc leaves)', () => {
  const mcu = new RP2040();
  mcu.logger = { debug() {}, info() {}, warn() {}, error() {} };
  assert.equal(mcu.readUint32(0x4006001c), 0xffffffff);
});

test('flash file: NOR semantics, write-through, unique id kept beside it', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emu-flash-'));
  const file = path.join(dir, 'state.bin');
  const flash = new Uint8Array(4 * 1024 * 1024);
  const f = new FlashFile(file, flash);
  assert.equal(f.load(), false);
  f.saveAll();
  const id = f.uniqueId();
  assert.equal(id.length, 8);
  f.program(0x100000, new Uint8Array(256).fill(0x0f));
  f.program(0x100000, new Uint8Array(256).fill(0xf3));
  assert.equal(flash[0x100000], 0x03, 'program ANDs');
  assert.throws(() => f.program(0x100010, new Uint8Array(256)), /256-byte pages/);
  assert.throws(() => f.erase(0x100100, 4096), /4 KiB sectors/);
  const onDisk = fs.readFileSync(file);
  assert.equal(onDisk.length, FLASH_SIZE);
  assert.equal(onDisk[0x100000], 0x03, 'written through');
  f.erase(0x100000, 4096);
  assert.equal(fs.readFileSync(file)[0x100000], 0xff);
  f.close();
  const again = new FlashFile(file, new Uint8Array(4 * 1024 * 1024));
  assert.equal(again.load(), true);
  assert.deepEqual(again.uniqueId(), id);
  fs.rmSync(dir, { recursive: true });
});
