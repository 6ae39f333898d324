// The host side of USB CCID (CCID Rev 1.1): PC_to_RDR messages out, RDR_to_PC messages in.
//
// Framing on the bus (what libccid does through libusb):
// * bulk-OUT: the message split into 64-byte packets; a message that is a multiple of 64 bytes is
//   NOT followed by a zero-length packet (the device's core ends a message by its dwLength);
// * bulk-IN: the host posts a read of the whole buffer, which the USB transfer ends with a short
//   packet: a message that is a multiple of 64 bytes must be followed by a zero-length packet
//   (the device sends one), else the host read would wait for more.

export const HEADER_LEN = 10;
export const PACKET_SIZE = 64;

export const MSG = {
  SET_PARAMETERS: 0x61,
  ICC_POWER_ON: 0x62,
  ICC_POWER_OFF: 0x63,
  GET_SLOT_STATUS: 0x65,
  GET_PARAMETERS: 0x6c,
  XFR_BLOCK: 0x6f,
  ABORT: 0x72,
  DATA_BLOCK: 0x80,
  SLOT_STATUS: 0x81,
  PARAMETERS: 0x82,
  NOTIFY_SLOT_CHANGE: 0x50,
};

/** The RDR_to_PC type that answers each PC_to_RDR type. */
export function responseType(type) {
  switch (type) {
    case MSG.ICC_POWER_ON:
    case MSG.XFR_BLOCK:
      return MSG.DATA_BLOCK;
    case MSG.SET_PARAMETERS:
    case MSG.GET_PARAMETERS:
      return MSG.PARAMETERS;
    default:
      return MSG.SLOT_STATUS;
  }
}

/** A PC_to_RDR message: header (type, dwLength, bSlot, bSeq, 3 parameter bytes) and data. */
export function buildMessage(type, seq, data = new Uint8Array(0), params = [0, 0, 0], slot = 0) {
  const msg = new Uint8Array(HEADER_LEN + data.length);
  const v = new DataView(msg.buffer);
  msg[0] = type;
  v.setUint32(1, data.length, true);
  msg[5] = slot;
  msg[6] = seq & 0xff;
  msg.set(params.slice(0, 3), 7);
  msg.set(data, HEADER_LEN);
  return msg;
}

/** Bulk-OUT packets of a message: 64-byte pieces, no zero-length packet after a full last one. */
export function splitPackets(msg, size = PACKET_SIZE) {
  const out = [];
  for (let i = 0; i < msg.length; i += size) out.push(msg.subarray(i, Math.min(msg.length, i + size)));
  if (out.length === 0) out.push(new Uint8Array(0));
  return out;
}

/** Parses an RDR_to_PC message (a whole bulk-IN transfer). Throws when the framing is wrong. */
export function parseResponse(bytes) {
  if (bytes.length < HEADER_LEN) throw new Error(`CCID: ${bytes.length}-byte message, shorter than the header`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = v.getUint32(1, true);
  if (bytes.length !== HEADER_LEN + len) {
    throw new Error(`CCID: dwLength ${len} but the transfer carried ${bytes.length - HEADER_LEN} data bytes`);
  }
  return {
    type: bytes[0],
    slot: bytes[5],
    seq: bytes[6],
    status: bytes[7],
    error: bytes[8],
    param: bytes[9], // bChainParameter / bClockStatus / bProtocolNum
    data: bytes.slice(HEADER_LEN),
  };
}

/** bmCommandStatus (bits 7-6 of bStatus): 0 ok, 1 failed, 2 time extension requested. */
export const commandStatus = (status) => (status >> 6) & 3;
/** bmICCStatus (bits 1-0): 0 active, 1 present and inactive, 2 absent. */
export const iccStatus = (status) => status & 3;

/**
 * Reassembles bulk-IN packets into transfers: a transfer ends with a packet shorter than 64 bytes
 * (a zero-length packet included), exactly as a host read of a large buffer completes.
 */
export class InAssembler {
  constructor(size = PACKET_SIZE) {
    this.size = size;
    this.parts = [];
    this.length = 0;
  }

  /** Adds a packet; returns the finished transfer or null. */
  push(packet) {
    if (packet.length > this.size) throw new Error(`bulk-IN packet of ${packet.length} bytes > ${this.size}`);
    this.parts.push(Uint8Array.from(packet));
    this.length += packet.length;
    if (packet.length === this.size) return null;
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    this.parts = [];
    this.length = 0;
    return out;
  }
}

export class CcidError extends Error {}

/**
 * One CCID slot driven over a transport:
 *   transport.sendOut(packets: Uint8Array[]): Promise<void>  -- bulk-OUT, one packet at a time
 *   and, from the transport, host.onInTransfer(bytes) for every completed bulk-IN transfer.
 * Commands go one at a time (CCID allows one outstanding command per slot).
 */
export class CcidHost {
  constructor(transport, { log = null, timeoutMs = 0 } = {}) {
    this.transport = transport;
    this.log = log;
    this.seq = 0;
    this.waiters = [];
    this.queue = [];
    this.timeExtensions = 0;
    this.busy = Promise.resolve();
    this.timeoutMs = timeoutMs;
  }

  /** Called by the transport with every completed bulk-IN transfer. */
  onInTransfer(bytes) {
    const w = this.waiters.shift();
    if (w) w.resolve(bytes);
    else this.queue.push(bytes);
  }

  nextIn() {
    const q = this.queue.shift();
    if (q) return Promise.resolve(q);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Fails every waiting read (device gone). */
  fail(err) {
    for (const w of this.waiters.splice(0)) w.reject(err);
  }

  /** Sends one command and returns its final answer (time extensions are counted and skipped). */
  command(type, data = new Uint8Array(0), params = [0, 0, 0]) {
    const run = async () => {
      const seq = this.seq;
      this.seq = (this.seq + 1) & 0xff;
      await this.transport.sendOut(splitPackets(buildMessage(type, seq, data, params)));
      let extensions = 0;
      for (;;) {
        const msg = parseResponse(await this.nextIn());
        if (msg.seq !== seq) {
          this.log?.warn(`CCID: answer with bSeq ${msg.seq} while waiting for ${seq}: dropped`);
          continue;
        }
        if (msg.type !== responseType(type)) {
          throw new CcidError(`CCID: message 0x${type.toString(16)} answered with type 0x${msg.type.toString(16)}`);
        }
        if (commandStatus(msg.status) === 2) {
          extensions++;
          this.timeExtensions++;
          this.log?.trace(`CCID: time extension ${extensions} (bError ${msg.error})`);
          continue;
        }
        msg.timeExtensions = extensions;
        return msg;
      }
    };
    const p = this.busy.then(run, run);
    this.busy = p.catch(() => {});
    return p;
  }

  /** IccPowerOn: returns the ATR. */
  async powerOn() {
    const r = await this.command(MSG.ICC_POWER_ON, new Uint8Array(0), [0, 0, 0]);
    if (commandStatus(r.status) !== 0) {
      throw new CcidError(`IccPowerOn failed: bStatus 0x${r.status.toString(16)} bError 0x${r.error.toString(16)}`);
    }
    return r.data;
  }

  async powerOff() {
    const r = await this.command(MSG.ICC_POWER_OFF);
    if (commandStatus(r.status) !== 0) {
      throw new CcidError(`IccPowerOff failed: bStatus 0x${r.status.toString(16)} bError 0x${r.error.toString(16)}`);
    }
    return r;
  }

  /**
   * XfrBlock: one command APDU, returns the response APDU. Follows response chaining
   * (bChainParameter 1/3: ask for more with an empty XfrBlock, wLevelParameter 0x10).
   */
  async transmit(apdu) {
    let r = await this.command(MSG.XFR_BLOCK, apdu);
    let extensions = r.timeExtensions;
    const parts = [];
    for (;;) {
      if (commandStatus(r.status) !== 0) {
        throw new CcidError(`XfrBlock failed: bStatus 0x${r.status.toString(16)} bError 0x${r.error.toString(16)}`);
      }
      parts.push(r.data);
      if (r.param !== 0x01 && r.param !== 0x03) break;
      r = await this.command(MSG.XFR_BLOCK, new Uint8Array(0), [0, 0x10, 0]);
      extensions += r.timeExtensions;
    }
    const total = parts.reduce((n, p) => n + p.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    out.timeExtensions = extensions;
    return out;
  }
}

/** Lc and Le of a command APDU (ISO 7816-4 short and extended cases), for logs only. */
export function apduLengths(apdu) {
  const body = apdu.subarray(4);
  const ext = (hi, lo) => ((hi << 8) | lo) || 65536;
  if (body.length === 0) return { lc: 0, le: null };
  if (body.length === 1) return { lc: 0, le: body[0] || 256 };
  if (body[0] === 0 && body.length === 3) return { lc: 0, le: ext(body[1], body[2]) };
  if (body[0] === 0 && body.length > 3) {
    const lc = (body[1] << 8) | body[2];
    const rest = body.length - 3 - lc;
    if (rest === 0) return { lc, le: null };
    if (rest === 2) return { lc, le: ext(body[3 + lc], body[4 + lc]) };
    return { lc: 0, le: null };
  }
  const lc = body[0];
  const rest = body.length - 1 - lc;
  if (rest === 0) return { lc, le: null };
  if (rest === 1) return { lc, le: body[1 + lc] || 256 };
  return { lc: 0, le: null };
}

const hex2 = (b) => b.toString(16).toUpperCase().padStart(2, '0');

/** One log line for an APDU: header, lengths, SW. Never the data (PINs and keys travel there). */
export function describeApdu(command, response) {
  const header = command.length >= 4 ? [...command.subarray(0, 4)].map(hex2).join(' ') : `(${command.length} bytes)`;
  const { lc, le } = apduLengths(command);
  const sw = response.length >= 2 ? hex2(response[response.length - 2]) + hex2(response[response.length - 1]) : 'none';
  return `APDU ${header} Lc=${lc}${le === null ? '' : ` Le=${le}`} -> ${Math.max(0, response.length - 2)} data bytes, SW ${sw}`;
}
