import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDeviceDescriptor, parseConfiguration, parseString, checkDevice } from '../lib/usbdesc.js';

const device = Uint8Array.from([18, 1, 0x10, 0x02, 0, 0, 0, 64, 0x8a, 0x2e, 0xfd, 0x10, 0, 1, 1, 2, 3, 1]);
function config({ iad = false, cls = 0x0b, classLen = 54 } = {}) {
  const parts = [[9, 4, 0, 0, 3, cls, 0, 0, 0], [classLen, 0x21, ...new Array(classLen - 2).fill(0)], [7, 5, 0x01, 2, 64, 0, 0], [7, 5, 0x81, 2, 64, 0, 0], [7, 5, 0x82, 3, 8, 0, 255]];
  if (iad) parts.unshift([8, 0x0b, 0, 1, 0x0b, 0, 0, 0]);
  const body = parts.flat();
  const total = 9 + body.length;
  return Uint8Array.from([9, 2, total & 0xff, total >> 8, 1, 1, 0, 0x80, 50, ...body]);
}
const str = (s) => Uint8Array.from([2 + 2 * s.length, 3, ...[...s].flatMap((c) => [c.charCodeAt(0), 0])]);
const good = { manufacturer: 'Pico HSM', product: 'Pico Key', serial: '0123456789ABCDEF' };

test('the expected reader passes and its CCID endpoints are found', () => {
  const r = checkDevice({ device: parseDeviceDescriptor(device), configuration: parseConfiguration(config()), strings: good });
  assert.deepEqual(r.problems, []);
  assert.equal(r.endpoints.bulkIn.address, 0x81);
  assert.equal(r.endpoints.bulkOut.address, 0x01);
  assert.equal(r.endpoints.intIn.address, 0x82);
  assert.equal(r.classDescriptor.length, 54);
  assert.equal(parseString(str('Pico Key')), 'Pico Key');
});

test('wrong class, IAD, ids, strings and class descriptor are each reported', () => {
  const d = Uint8Array.from(device);
  d[4] = 0xef;
  d[10] = 0xfe;
  const r = checkDevice({
    device: parseDeviceDescriptor(d),
    configuration: parseConfiguration(config({ iad: true, classLen: 36 })),
    strings: { manufacturer: 'x', product: 'Pico Key', serial: '12' },
  });
  const text = r.problems.join('\n');
  assert.match(text, /VID:PID 2E8A:10FE/);
  assert.match(text, /bDeviceClass 0xef/);
  assert.match(text, /outside any interface \(types 0xb\)/);
  assert.match(text, /manufacturer "x"/);
  assert.match(text, /serial "12"/);
  assert.match(text, /class descriptor 36 bytes/);
  const noCcid = checkDevice({ device: parseDeviceDescriptor(device), configuration: parseConfiguration(config({ cls: 0xff })), strings: good });
  assert.match(noCcid.problems.join('\n'), /no interface of class 0x0B/);
});
