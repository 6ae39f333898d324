import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseUf2, buildUf2, applyUf2, boot2Crc, RP2040_FAMILY_ID } from '../lib/uf2.js';

const data = (n, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

test('a UF2 round-trips to its blocks, addresses relative to the flash', () => {
  const d = data(1024);
  const blocks = parseUf2(buildUf2(0x1000, d));
  assert.equal(blocks.length, 4);
  assert.deepEqual(blocks.map((b) => b.address), [0x1000, 0x1100, 0x1200, 0x1300]);
  assert.deepEqual(Buffer.concat(blocks.map((b) => b.data)), Buffer.from(d));
});

test('blocks of another family, not 256-byte, unaligned or outside the flash are refused', () => {
  assert.throws(() => parseUf2(buildUf2(0, data(256), 0xe48bff59)), /family 0xe48bff59/);
  const odd = buildUf2(0, data(256));
  new DataView(odd.buffer).setUint32(12, 0x10000080, true);
  assert.throws(() => parseUf2(odd), /256-aligned/);
  assert.throws(() => parseUf2(buildUf2(2 * 1024 * 1024, data(256))), /outside/);
  const bad = buildUf2(0, data(256));
  bad[0] ^= 1;
  assert.throws(() => parseUf2(bad), /bad magic/);
  assert.throws(() => parseUf2(new Uint8Array(100)), /multiple of 512/);
  const missing = buildUf2(0, data(512)).subarray(0, 512);
  assert.throws(() => parseUf2(missing), /1 of 2 blocks/);
});

test('blocks flagged "not main flash" are skipped', () => {
  const u = buildUf2(0, data(512));
  const v = new DataView(u.buffer);
  v.setUint32(512 + 8, v.getUint32(512 + 8, true) | 1, true);
  assert.equal(parseUf2(u).length, 1);
});

test('laying a UF2 over a flash erases the sectors it touches and keeps the others', () => {
  const flash = new Uint8Array(64 * 1024).fill(0x00);
  const span = applyUf2(flash, parseUf2(buildUf2(0x1100, data(256))));
  assert.deepEqual(span, { first: 0x1000, end: 0x2000, sectors: 1 });
  assert.equal(flash[0x0fff], 0x00); // untouched sector
  assert.equal(flash[0x1000], 0xff); // erased, not programmed
  assert.deepEqual(flash.subarray(0x1100, 0x1200), data(256));
  assert.equal(flash[0x1200], 0xff);
  assert.equal(flash[0x2000], 0x00);
});

test('boot2 CRC is CRC-32/MPEG-2 (the boot ROM check)', () => {
  assert.equal(boot2Crc(Buffer.from('123456789')), 0x0376e6e7);
  assert.equal(RP2040_FAMILY_ID, 0xe48bff56);
});
