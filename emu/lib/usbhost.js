// A USB host for rp2040js's device-mode controller (RPUSBController), modelled on the package's
// own USBCDC (dist/esm/usb/cdc.js): the controller calls
//   onUSBEnabled()               the firmware set MAIN_CTRL.CONTROLLER_EN (device attached)
//   onResetReceived()            the firmware acknowledged the bus reset (SIE_STATUS.BUS_RESET)
//   onEndpointWrite(ep, data)    an IN packet the device sent on endpoint `ep` (EP0 included)
//   onEndpointRead(ep, size)     the device armed an OUT buffer on `ep`; the host answers with
//                                endpointReadDone(ep, data) when it has a packet to send
// and the host uses resetDevice() (bus reset, 10 ms) and sendSetupPacket(8 bytes).
//
// Two corrections of the device model, both to match the hardware (RP2040 datasheet §4.1.2.5):
// * OUT buffers: rp2040js clears AVAILABLE as soon as firmware arms an OUT buffer, before any data
//   came. embassy-rp's read() waits for AVAILABLE to clear and then takes LENGTH as the received
//   size, so it would read 64 bytes of nothing. Here AVAILABLE stays set until the host's packet
//   is in the buffer (then FULL is set, LENGTH is the packet's length, AVAILABLE is cleared).
// * STALL: embassy-usb rejects a control request by setting STALL in EP0's buffer control without
//   AVAILABLE, which rp2040js ignores; here the host sees it and fails the control transfer.

const BUF_AVAILABLE = 1 << 10;
const BUF_STALL = 1 << 11;
const BUF_FULL = 1 << 15;
const BUF_LEN_MASK = 0x3ff;
const EP0_IN_BUFFER_CONTROL = 0x80;
const EP15_OUT_BUFFER_CONTROL = 0xfc;

export class StallError extends Error {}

export function setupPacket(bmRequestType, bRequest, wValue, wIndex, wLength) {
  return Uint8Array.from([bmRequestType, bRequest, wValue & 0xff, wValue >> 8, wIndex & 0xff, wIndex >> 8, wLength & 0xff, wLength >> 8]);
}

export const getDescriptor = (type, index, length, langId = 0) => setupPacket(0x80, 6, (type << 8) | index, langId, length);

export class UsbHost {
  /**
   * @param {import('rp2040js').RPUSBController} usb
   * @param {{log: object, onActivity?: () => void}} opts  onActivity: the host queued something for the device
   */
  constructor(usb, { log, onActivity = () => {}, onDeviceData = () => {} }) {
    this.usb = usb;
    this.log = log;
    this.onActivity = onActivity;
    this.onDeviceData = onDeviceData;
    this.ctrl = null;
    this.outArmed = new Map(); // ep -> armed size
    this.outQueue = new Map(); // ep -> [{packet, resolve}]
    this.inHandlers = new Map(); // ep -> (data) => void
    this.enabled = false;
    this.resetDone = null;
    this.resetWaiters = [];
    this.install();
  }

  install() {
    const { usb } = this;
    const dpram = usb.rp2040.usbDPRAMView;
    const origUpdated = usb.DPRAMUpdated.bind(usb);
    usb.DPRAMUpdated = (offset, value) => {
      if (!usb.hostMode && offset >= EP0_IN_BUFFER_CONTROL && offset <= EP15_OUT_BUFFER_CONTROL) {
        const ep = (offset - EP0_IN_BUFFER_CONTROL) >> 3;
        const out = (offset & 4) !== 0;
        if (ep === 0 && value & BUF_STALL && !(value & BUF_AVAILABLE)) this.onStall(out);
        if (out && value & BUF_AVAILABLE) {
          this.armOut(ep, value & BUF_LEN_MASK);
          return;
        }
      }
      origUpdated(offset, value);
    };
    usb.finishRead = (ep, buffer) => {
      const reg = 0x84 + ep * 8;
      let bc = dpram.getUint32(reg, true);
      const statusStage = ep === 0 && this.ctrl?.statusSent;
      if (!(bc & BUF_AVAILABLE)) {
        this.log.warn(`USB: OUT packet for EP${ep} but its buffer is no longer armed: dropped`);
        if (statusStage) this.finishControl(null, this.ctrl.result);
        return;
      }
      const size = bc & BUF_LEN_MASK;
      if (buffer.length > size) this.log.warn(`USB: ${buffer.length}-byte OUT packet for a ${size}-byte buffer on EP${ep}`);
      const n = Math.min(size, buffer.length);
      usb.rp2040.usbDPRAM.set(buffer.subarray(0, n), usb.getEndpointBufferOffset(ep, true));
      bc = (bc & ~(BUF_AVAILABLE | BUF_LEN_MASK)) | BUF_FULL | n;
      dpram.setUint32(reg, bc, true);
      usb.indicateBufferReady(ep, true);
      if (statusStage) this.finishControl(null, this.ctrl.result);
    };
    usb.onUSBEnabled = () => {
      this.log.trace('USB: device enabled its controller: bus reset');
      this.enabled = true;
      usb.resetDevice();
    };
    usb.onResetReceived = () => {
      this.log.trace('USB: device saw the bus reset');
      this.resetDone = true;
      for (const w of this.resetWaiters.splice(0)) w();
    };
    usb.onEndpointWrite = (ep, data) => this.onIn(ep, data);
    usb.onEndpointRead = (ep, size) => this.armOut(ep, size);
  }

  /** Resolves once the device has taken a bus reset (after enabling its controller). */
  waitReset() {
    if (this.resetDone) return Promise.resolve();
    return new Promise((resolve) => this.resetWaiters.push(resolve));
  }

  armOut(ep, size) {
    this.outArmed.set(ep, size);
    if (ep === 0 && this.ctrl?.dir === 'in' && this.ctrl.dataDone && size === 0) {
      // status stage of a control read: the host's zero-length OUT; the transfer completes when
      // it is in the device's buffer (the next SETUP must not overtake it)
      this.outArmed.delete(0);
      this.ctrl.statusSent = true;
      this.usb.endpointReadDone(0, new Uint8Array(0));
      return;
    }
    this.pump(ep);
  }

  onStall(out) {
    const c = this.ctrl;
    if (!c) return;
    this.log.trace(`USB: EP0 ${out ? 'OUT' : 'IN'} stalled`);
    this.finishControl(new StallError(`control request ${Buffer.from(c.setup).toString('hex')} stalled`));
  }

  finishControl(err, value) {
    const c = this.ctrl;
    if (!c) return;
    this.ctrl = null;
    if (err) c.reject(err);
    else c.resolve(value);
  }

  onIn(ep, data) {
    this.onDeviceData();
    if (ep === 0) {
      const c = this.ctrl;
      if (!c) {
        this.log.warn(`USB: unexpected ${data.length}-byte EP0 IN packet`);
        return;
      }
      if (c.dir === 'out') {
        if (data.length) this.log.warn(`USB: ${data.length}-byte data in the status stage of a control write`);
        this.finishControl(null, undefined);
        return;
      }
      c.parts.push(Uint8Array.from(data));
      c.received += data.length;
      if (data.length < 64 || c.received >= c.wLength) {
        c.dataDone = true;
        c.result = Buffer.concat(c.parts);
        if (this.outArmed.get(0) === 0) this.armOut(0, 0);
      }
      return;
    }
    const h = this.inHandlers.get(ep);
    if (h) h(data);
    else this.log.warn(`USB: ${data.length}-byte IN packet on EP${ep} with no reader`);
  }

  onInPacket(ep, handler) {
    this.inHandlers.set(ep, handler);
  }

  control(setup, dir) {
    if (this.ctrl) return Promise.reject(new Error('USB: control transfer already in progress'));
    return new Promise((resolve, reject) => {
      this.ctrl = { setup, dir, wLength: setup[6] | (setup[7] << 8), parts: [], received: 0, dataDone: false, resolve, reject };
      this.log.trace(`USB: SETUP ${Buffer.from(setup).toString('hex')}`);
      this.usb.sendSetupPacket(setup);
      this.onActivity();
    });
  }

  /** A control read (device-to-host data stage). */
  controlIn(setup) {
    return this.control(setup, 'in');
  }

  /** A control write without data stage (SET_ADDRESS, SET_CONFIGURATION, ...). */
  controlOut(setup) {
    return this.control(setup, 'out');
  }

  /** Sends bulk-OUT packets on `ep`, one per armed buffer; resolves when the last is handed over. */
  bulkOut(ep, packets) {
    return new Promise((resolve) => {
      const q = this.outQueue.get(ep) ?? [];
      this.outQueue.set(ep, q);
      packets.forEach((p, i) => q.push({ packet: p, resolve: i === packets.length - 1 ? resolve : null }));
      this.pump(ep);
      this.onActivity();
    });
  }

  pump(ep) {
    const q = this.outQueue.get(ep);
    if (!q || q.length === 0 || !this.outArmed.has(ep)) return;
    const { packet, resolve } = q.shift();
    this.outArmed.delete(ep);
    this.usb.endpointReadDone(ep, packet);
    if (resolve) resolve();
  }
}
