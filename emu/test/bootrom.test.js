import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildBootrom, tableLookup, code, FUNCTIONS, FUNC_TABLE, DATA_TABLE, LOOKUP_STUB, RESET_STUB, STUBS, ROM_VERSION, bitops,
} from '../lib/bootrom.js';

const rom = buildBootrom();
const v = new DataView(rom.bytes.buffer);

test('the ROM header is what embassy-rp reads: magic, version, table pointers', () => {
  assert.deepEqual([...rom.bytes.subarray(0x10, 0x13)], [0x4d, 0x75, 0x01]);
  assert.equal(rom.bytes[0x13], ROM_VERSION);
  assert.equal(v.getUint16(0x14, true), FUNC_TABLE);
  assert.equal(v.getUint16(0x16, true), DATA_TABLE);
  assert.equal(v.getUint16(0x18, true), LOOKUP_STUB | 1);
  assert.equal(v.getUint32(0, true), 0x20042000);
  assert.equal(v.getUint32(4, true), RESET_STUB | 1);
  assert.equal(rom.words.length, 4096);
});

test('every function the firmware may look up resolves to its bkpt #i; bx lr stub', () => {
  for (const c of ['P3', 'R3', 'L3', 'T3', 'MS', 'S4', 'MC', 'C4', 'IF', 'EX', 'RE', 'RP', 'FC', 'CX', 'UB', 'WV']) {
    const ptr = tableLookup(rom.bytes, FUNC_TABLE, code(c));
    assert.ok(ptr & 1, `${c} has the Thumb bit`);
    const at = ptr & ~1;
    const i = FUNCTIONS.findIndex(([k]) => k === c);
    assert.equal(at, STUBS + 4 * i);
    assert.equal(v.getUint16(at, true), 0xbe00 | i, `${c}: bkpt #${i}`);
    assert.equal(v.getUint16(at + 2, true), 0x4770, `${c}: bx lr`);
  }
  assert.equal(v.getUint16(LOOKUP_STUB, true), 0xbe80);
  assert.equal(v.getUint16(LOOKUP_STUB + 2, true), 0x4770);
});

test('unknown codes look up as 0; data codes are in the data table', () => {
  assert.equal(tableLookup(rom.bytes, FUNC_TABLE, code('SF')), 0);
  assert.equal(tableLookup(rom.bytes, FUNC_TABLE, code('CR')), 0);
  const cr = tableLookup(rom.bytes, DATA_TABLE, code('CR'));
  assert.match(Buffer.from(rom.bytes.subarray(cr, cr + 40)).toString('latin1'), /^\(C\) 2020 Raspberry Pi Trading Ltd/);
  assert.equal(code('RE'), 0x4552); // u16::from_le_bytes(*b"RE")
});

test('bit functions match their ROM definitions', () => {
  assert.equal(bitops.popcount(0xf0f0_0001), 9);
  assert.equal(bitops.reverse(1), 0x8000_0000);
  assert.equal(bitops.clz(0), 32);
  assert.equal(bitops.clz(1), 31);
  assert.equal(bitops.ctz(0), 32);
  assert.equal(bitops.ctz(0x8000_0000), 31);
});
