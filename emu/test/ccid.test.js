import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildMessage, splitPackets, parseResponse, InAssembler, CcidHost, MSG, describeApdu, apduLengths } from '../lib/ccid.js';

/** An RDR_to_PC message. */
function rdr(type, seq, data = [], status = 0, error = 0, param = 0) {
  const m = new Uint8Array(10 + data.length);
  m[0] = type;
  new DataView(m.buffer).setUint32(1, data.length, true);
  m[6] = seq;
  m[7] = status;
  m[8] = error;
  m[9] = param;
  m.set(data, 10);
  return m;
}

test('PC_to_RDR header layout', () => {
  const m = buildMessage(MSG.XFR_BLOCK, 7, Uint8Array.from([1, 2, 3]), [0, 0x10, 0]);
  assert.deepEqual([...m], [0x6f, 3, 0, 0, 0, 0, 7, 0, 0x10, 0, 1, 2, 3]);
});

test('bulk-OUT: 64-byte packets, no zero-length packet after a full last one', () => {
  assert.deepEqual(splitPackets(new Uint8Array(128)).map((p) => p.length), [64, 64]);
  assert.deepEqual(splitPackets(new Uint8Array(130)).map((p) => p.length), [64, 64, 2]);
  assert.deepEqual(splitPackets(new Uint8Array(10)).map((p) => p.length), [10]);
});

test('bulk-IN: a transfer ends on a short packet; a 64·k message needs the ZLP', () => {
  const a = new InAssembler();
  const msg = rdr(MSG.DATA_BLOCK, 1, new Array(118).fill(0xaa)); // 128 bytes
  assert.equal(a.push(msg.subarray(0, 64)), null);
  assert.equal(a.push(msg.subarray(64, 128)), null, 'not complete without the ZLP');
  const t = a.push(new Uint8Array(0));
  assert.deepEqual(t, msg);
  assert.equal(parseResponse(t).data.length, 118);
  assert.deepEqual(a.push(rdr(MSG.SLOT_STATUS, 2)), rdr(MSG.SLOT_STATUS, 2));
});

test('a message whose dwLength disagrees with the transfer is an error', () => {
  const m = rdr(MSG.DATA_BLOCK, 0, [1, 2, 3]);
  assert.throws(() => parseResponse(m.subarray(0, 12)), /dwLength 3/);
  assert.throws(() => parseResponse(new Uint8Array(5)), /shorter than the header/);
});

/** A fake device: answers each OUT message through `answer(msg) -> [transfers]`. */
function fakeHost(answer) {
  const sent = [];
  let host;
  const transport = {
    sendOut: async (packets) => {
      const msg = Buffer.concat(packets.map((p) => Buffer.from(p)));
      sent.push({ msg, packets: packets.map((p) => p.length) });
      setImmediate(() => {
        for (const t of answer(msg)) host.onInTransfer(t);
      });
    },
  };
  host = new CcidHost(transport);
  return { host, sent };
}

test('time extensions are skipped and counted; the final answer is returned', async () => {
  const { host } = fakeHost((m) => [
    rdr(MSG.DATA_BLOCK, m[6], [], 0x80, 1),
    rdr(MSG.DATA_BLOCK, m[6], [], 0x80, 1),
    rdr(MSG.DATA_BLOCK, m[6], [0x90, 0x00]),
  ]);
  const r = await host.transmit(Uint8Array.from([0, 0x84, 0, 0, 8]));
  assert.deepEqual([...r], [0x90, 0x00]);
  assert.equal(r.timeExtensions, 2);
});

test('an answer with another bSeq is dropped; sequence numbers advance', async () => {
  const { host, sent } = fakeHost((m) => [rdr(MSG.DATA_BLOCK, (m[6] + 100) & 0xff, [0x6f, 0]), rdr(MSG.DATA_BLOCK, m[6], [0x90, 0])]);
  await host.transmit(Uint8Array.from([0, 0xa4, 4, 0]));
  await host.transmit(Uint8Array.from([0, 0xa4, 4, 0]));
  assert.deepEqual(sent.map((s) => s.msg[6]), [0, 1]);
});

test('a chained response is collected with empty XfrBlocks (wLevelParameter 0x10)', async () => {
  const { host, sent } = fakeHost((m) =>
    m[8] === 0x10 ? [rdr(MSG.DATA_BLOCK, m[6], [3, 0x90, 0], 0, 0, 0x02)] : [rdr(MSG.DATA_BLOCK, m[6], [1, 2], 0, 0, 0x01)],
  );
  const r = await host.transmit(Uint8Array.from([0, 0xb0, 0, 0, 0]));
  assert.deepEqual([...r], [1, 2, 3, 0x90, 0]);
  assert.equal(sent.length, 2);
  assert.equal(sent[1].msg.length, 10);
});

test('power on returns the ATR; a failed command is an error', async () => {
  const atr = [0x3b, 0xfe, 0x18];
  const { host } = fakeHost((m) => (m[0] === MSG.ICC_POWER_ON ? [rdr(MSG.DATA_BLOCK, m[6], atr)] : [rdr(MSG.DATA_BLOCK, m[6], [], 0x41, 0xfe)]));
  assert.deepEqual([...(await host.powerOn())], atr);
  await assert.rejects(host.transmit(Uint8Array.from([0, 0, 0, 0])), /bStatus 0x41 bError 0xfe/);
});

test('a long command goes out in 64-byte packets without a ZLP', async () => {
  const { host, sent } = fakeHost((m) => [rdr(MSG.DATA_BLOCK, m[6], [0x90, 0])]);
  await host.transmit(new Uint8Array(54)); // 64-byte message
  await host.transmit(new Uint8Array(300));
  assert.deepEqual(sent[0].packets, [64]);
  assert.deepEqual(sent[1].packets, [64, 64, 64, 64, 54]);
});

test('APDU log lines carry header, lengths and SW, never data', () => {
  const verify = Uint8Array.from([0, 0x20, 0, 0x81, 6, 0x36, 0x34, 0x38, 0x32, 0x31, 0x39]);
  assert.equal(describeApdu(verify, Uint8Array.from([0x90, 0])), 'APDU 00 20 00 81 Lc=6 -> 0 data bytes, SW 9000');
  assert.deepEqual(apduLengths(Uint8Array.from([0, 0xb0, 0, 0, 0, 0, 0])), { lc: 0, le: 65536 });
  assert.deepEqual(apduLengths(Uint8Array.from([0, 0xd7, 0, 0, 0, 0, 3, 1, 2, 3, 0x10, 0])), { lc: 3, le: 4096 });
});
