// The card side of vsmartcard's vpcd protocol, as crates/hsm-vcard/src/vpcd.rs speaks it.
//
// vpcd (pcscd's reader driver libifdvpcd.so) listens on a TCP port per virtual reader; the card
// connects to it. Every message both ways is a frame: 2-byte big-endian length, then that many
// bytes. A 1-byte body from vpcd is a control code: 0 power off, 1 power on, 2 reset, 4 send the
// ATR (only that one is answered, with the ATR as a frame). Anything longer is a command APDU,
// answered with the response APDU as a frame. The client reconnects whenever vpcd goes away
// (pcscd stopped or restarted), backing off from 20 ms to at most 500 ms between attempts.

import net from 'node:net';

export const CTRL_OFF = 0;
export const CTRL_ON = 1;
export const CTRL_RESET = 2;
export const CTRL_ATR = 4;

export function encodeFrame(body) {
  if (body.length > 0xffff) throw new Error(`frame body of ${body.length} bytes too long`);
  const out = Buffer.alloc(2 + body.length);
  out.writeUInt16BE(body.length, 0);
  Buffer.from(body.buffer, body.byteOffset, body.byteLength).copy(out, 2);
  return out;
}

/** Splits a byte stream into frames. */
export class FrameReader {
  constructor() {
    this.buf = Buffer.alloc(0);
  }

  /** Adds received bytes; returns the frames completed by them. */
  push(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
    const frames = [];
    while (this.buf.length >= 2) {
      const len = this.buf.readUInt16BE(0);
      if (this.buf.length < 2 + len) break;
      frames.push(Uint8Array.from(this.buf.subarray(2, 2 + len)));
      this.buf = this.buf.subarray(2 + len);
    }
    return frames;
  }
}

/**
 * Connects to vpcd at host:port and serves `card` until stop():
 *   card.atr(): Uint8Array                  answer to CTRL_ATR (the ATR of the last power-on)
 *   card.control(code): Promise<void>       power off / on / reset
 *   card.transmit(apdu): Promise<Uint8Array>
 *   card.connected(): Promise<void>         a new connection (a new reader session)
 * Frames are handled one at a time, in order.
 */
export class VpcdClient {
  constructor(host, port, card, { log, maxBackoffMs = 500 } = {}) {
    this.host = host;
    this.port = port;
    this.card = card;
    this.log = log;
    this.maxBackoffMs = maxBackoffMs;
    this.stopped = false;
    this.socket = null;
    this.timer = null;
    this.backoff = 20;
    this.waitingLogged = false;
  }

  start() {
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.socket?.destroy();
  }

  retry() {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.connect(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, this.maxBackoffMs);
  }

  connect() {
    if (this.stopped) return;
    const socket = net.connect({ host: this.host, port: this.port });
    this.socket = socket;
    const reader = new FrameReader();
    let frames = 0;
    let chain = Promise.resolve();
    let connected = false;
    socket.setNoDelay(true);
    socket.on('connect', () => {
      connected = true;
      this.log.debug(`vpcd: connected to ${this.host}:${this.port}`);
      chain = chain.then(() => this.card.connected());
    });
    socket.on('data', (chunk) => {
      for (const frame of reader.push(chunk)) {
        if (frames++ === 0) {
          this.log.info(`pcscd is using the card (vpcd at ${this.host}:${this.port})`);
          this.waitingLogged = false;
          this.backoff = 20;
        }
        chain = chain.then(() => this.handle(socket, frame)).catch((e) => {
          this.log.error(`vpcd: ${e.message}`);
          socket.destroy();
        });
      }
    });
    socket.on('error', (e) => {
      if (!connected && !this.waitingLogged) {
        this.log.info(`waiting for pcscd: vpcd at ${this.host}:${this.port} not reachable yet (${e.code ?? e.message}); retrying`);
        this.waitingLogged = true;
      }
    });
    socket.on('close', () => {
      if (this.stopped) return;
      if (connected && frames > 0) this.log.warn('vpcd closed the connection (pcscd stopped or restarted); reconnecting');
      this.retry();
    });
  }

  async handle(socket, frame) {
    if (frame.length === 0) return;
    if (frame.length === 1) {
      const code = frame[0];
      if (code === CTRL_ATR) {
        socket.write(encodeFrame(this.card.atr()));
      } else if (code === CTRL_OFF || code === CTRL_ON || code === CTRL_RESET) {
        this.log.trace(`vpcd: ${['power off', 'power on', 'reset'][code]}`);
        await this.card.control(code);
      } else {
        this.log.warn(`vpcd: unknown control code 0x${code.toString(16)} ignored`);
      }
      return;
    }
    const response = await this.card.transmit(frame);
    if (!socket.destroyed) socket.write(encodeFrame(response));
  }
}
