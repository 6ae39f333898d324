import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { encodeFrame, FrameReader, VpcdClient, CTRL_ON, CTRL_ATR, CTRL_OFF } from '../lib/vpcd.js';

const quiet = { info() {}, debug() {}, trace() {}, warn() {}, error() {} };

test('frames: 2-byte big-endian length, reassembled across arbitrary chunks', () => {
  assert.deepEqual([...encodeFrame(Uint8Array.from([1, 2, 3]))], [0, 3, 1, 2, 3]);
  const r = new FrameReader();
  const stream = Buffer.concat([encodeFrame(Uint8Array.from([4])), encodeFrame(new Uint8Array(300).fill(7)), encodeFrame(new Uint8Array(0))]);
  const frames = [];
  for (let i = 0; i < stream.length; i += 5) frames.push(...r.push(stream.subarray(i, i + 5)));
  assert.deepEqual(frames.map((f) => f.length), [1, 300, 0]);
  assert.equal(frames[0][0], 4);
  assert.throws(() => encodeFrame(new Uint8Array(70000)), /too long/);
});

/** A stand-in for vpcd: a server that sends frames and collects the card's answers. */
function fakeVpcd() {
  const conns = [];
  const server = net.createServer((s) => {
    const reader = new FrameReader();
    const c = { socket: s, replies: [], waiters: [] };
    s.on('data', (d) => {
      for (const f of reader.push(d)) {
        const w = c.waiters.shift();
        if (w) w(f);
        else c.replies.push(f);
      }
    });
    conns.push(c);
    server.emit('conn', c);
  });
  const reply = (c) => (c.replies.length ? Promise.resolve(c.replies.shift()) : new Promise((r) => c.waiters.push(r)));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: server.address().port, conns, reply })));
}

test('vpcd client: ATR, power control, APDU exchange, reconnect after vpcd goes away', async () => {
  const { server, port, reply } = await fakeVpcd();
  const events = [];
  const card = {
    atr: () => Uint8Array.from([0x3b, 0x00]),
    connected: async () => events.push('connected'),
    control: async (code) => events.push(`ctrl ${code}`),
    transmit: async (apdu) => {
      events.push(`apdu ${apdu.length}`);
      return Uint8Array.from([0x90, 0x00]);
    },
  };
  const nextConn = () => new Promise((r) => server.once('conn', r));
  const first = nextConn();
  const client = new VpcdClient('127.0.0.1', port, card, { log: quiet, maxBackoffMs: 50 });
  client.start();
  const c1 = await first;
  c1.socket.write(encodeFrame(Uint8Array.from([CTRL_ON])));
  c1.socket.write(encodeFrame(Uint8Array.from([CTRL_ATR])));
  assert.deepEqual([...(await reply(c1))], [0x3b, 0x00]);
  c1.socket.write(Buffer.concat([encodeFrame(Uint8Array.from([0, 0xa4, 4, 0, 1, 0xe8])), encodeFrame(Uint8Array.from([CTRL_OFF]))]));
  assert.deepEqual([...(await reply(c1))], [0x90, 0x00]);
  const second = nextConn();
  c1.socket.destroy();
  const c2 = await second;
  c2.socket.write(encodeFrame(Uint8Array.from([CTRL_ATR])));
  assert.deepEqual([...(await reply(c2))], [0x3b, 0x00]);
  client.stop();
  server.close();
  assert.deepEqual(events.slice(0, 4), ['connected', 'ctrl 1', 'apdu 6', 'ctrl 0']);
  assert.equal(events[4], 'connected');
});
