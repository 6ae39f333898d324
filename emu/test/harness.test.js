import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs, costLine } from '../harness.js';

test('command line: required files, vpcd address, APDUs in hex, verbosity', () => {
  const o = parseArgs(['--uf2', 'a.uf2', '--flash', 's.bin', '--vpcd', '[::1]:35964', '--apdu', '00 84 00 00 08', '-vv', '--no-rosc']);
  assert.equal(o.vpcdHost, '::1');
  assert.equal(o.vpcdPort, 35964);
  assert.deepEqual([...o.apdus[0]], [0, 0x84, 0, 0, 8]);
  assert.equal(o.verbose, 2);
  assert.equal(o.rosc, false);
  assert.equal(parseArgs(['--uf2', 'a', '--flash', 'b']).vpcd, 'localhost:35963');
  assert.throws(() => parseArgs(['--uf2', 'a']), /required/);
  assert.throws(() => parseArgs(['--uf2', 'a', '--flash', 'b', '--apdu', '0084']), /not an APDU/);
  assert.throws(() => parseArgs(['--uf2', 'a', '--flash', 'b', '--vpcd', 'nohost']), /HOST:PORT/);
  assert.throws(() => parseArgs(['--bogus']), /unknown argument/);
});

test('cost line: cycles, ms at 125 MHz, flash work and time extensions', () => {
  const line = costLine({ cycles: 250_000, virtualNs: 3e6, flashBusyNs: 1.6e6, erases: 0, programs: 4, wallMs: 12, result: { timeExtensions: 2 } });
  assert.equal(line, '250000 cycles (2.0 ms@125MHz), virtual 3.0 ms, flash 0 sector erases + 4 page programs (1.6 ms busy), 2 time extensions, wall 12 ms');
});
