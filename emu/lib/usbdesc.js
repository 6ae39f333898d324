// USB descriptors: parsing and the checks the harness makes on the Pico HSM's enumeration.

export const EXPECTED = {
  vid: 0x2e8a,
  pid: 0x10fd,
  deviceClass: 0,
  manufacturer: 'Pico HSM',
  product: 'Pico Key',
  serial: /^[0-9A-F]{16}$/,
  ccidClassDescriptorLength: 54,
};

export function parseDeviceDescriptor(d) {
  if (d.length < 18 || d[0] !== 18 || d[1] !== 1) throw new Error(`device descriptor malformed (${d.length} bytes, bLength ${d[0]}, type ${d[1]})`);
  const u16 = (o) => d[o] | (d[o + 1] << 8);
  return {
    bcdUSB: u16(2),
    deviceClass: d[4],
    deviceSubClass: d[5],
    deviceProtocol: d[6],
    maxPacketSize0: d[7],
    vid: u16(8),
    pid: u16(10),
    bcdDevice: u16(12),
    iManufacturer: d[14],
    iProduct: d[15],
    iSerial: d[16],
    numConfigurations: d[17],
  };
}

/** Splits a configuration descriptor set into { config, interfaces: [{..., extra: [], endpoints: []}] }. */
export function parseConfiguration(d) {
  if (d.length < 9 || d[1] !== 2) throw new Error('configuration descriptor malformed');
  const total = d[2] | (d[3] << 8);
  if (total !== d.length) throw new Error(`configuration wTotalLength ${total}, got ${d.length} bytes`);
  const config = { numInterfaces: d[4], value: d[5], attributes: d[7], maxPower: d[8] * 2 };
  const interfaces = [];
  const others = [];
  let current = null;
  for (let i = d[0]; i < d.length; ) {
    const len = d[i];
    if (len < 2 || i + len > d.length) throw new Error(`descriptor at offset ${i}: bad bLength ${len}`);
    const type = d[i + 1];
    const body = d.subarray(i, i + len);
    if (type === 4) {
      current = {
        number: body[2],
        alt: body[3],
        numEndpoints: body[4],
        cls: body[5],
        subClass: body[6],
        protocol: body[7],
        extra: [],
        endpoints: [],
      };
      interfaces.push(current);
    } else if (type === 5) {
      if (!current) throw new Error('endpoint descriptor before any interface');
      current.endpoints.push({
        address: body[2],
        attributes: body[3],
        type: ['control', 'isochronous', 'bulk', 'interrupt'][body[3] & 3],
        maxPacketSize: body[4] | (body[5] << 8),
        interval: body[6],
      });
    } else if (current) {
      current.extra.push(Uint8Array.from(body));
    } else {
      others.push(Uint8Array.from(body));
    }
    i += len;
  }
  return { config, interfaces, others };
}

export function parseString(d) {
  if (d.length < 2 || d[1] !== 3 || d[0] !== d.length) throw new Error('string descriptor malformed');
  let s = '';
  for (let i = 2; i + 1 < d.length; i += 2) s += String.fromCharCode(d[i] | (d[i + 1] << 8));
  return s;
}

/** The checks on the device: returns a list of problems (empty when all is well) and the CCID endpoints. */
export function checkDevice({ device, configuration, strings }) {
  const problems = [];
  const hex4 = (v) => v.toString(16).toUpperCase().padStart(4, '0');
  if (device.vid !== EXPECTED.vid || device.pid !== EXPECTED.pid) {
    problems.push(`VID:PID ${hex4(device.vid)}:${hex4(device.pid)}, expected 2E8A:10FD`);
  }
  if (device.deviceClass !== EXPECTED.deviceClass) {
    problems.push(
      `bDeviceClass 0x${device.deviceClass.toString(16)} (subclass ${device.deviceSubClass}, protocol ${device.deviceProtocol}), expected 0 (class per interface)`,
    );
  }
  if (device.maxPacketSize0 !== 64) problems.push(`bMaxPacketSize0 ${device.maxPacketSize0}, expected 64`);
  if (device.numConfigurations !== 1) problems.push(`${device.numConfigurations} configurations, expected 1`);
  if (strings.manufacturer !== EXPECTED.manufacturer) problems.push(`manufacturer "${strings.manufacturer}", expected "${EXPECTED.manufacturer}"`);
  if (strings.product !== EXPECTED.product) problems.push(`product "${strings.product}", expected "${EXPECTED.product}"`);
  if (!EXPECTED.serial.test(strings.serial ?? '')) problems.push(`serial "${strings.serial}", expected 16 hex digits`);
  const { config, interfaces, others } = configuration;
  if (others.length) problems.push(`${others.length} descriptor(s) outside any interface (types ${others.map((o) => '0x' + o[1].toString(16)).join(', ')})`);
  if (config.value !== 1) problems.push(`bConfigurationValue ${config.value}, expected 1`);
  const ccid = interfaces.filter((i) => i.cls === 0x0b);
  if (interfaces.length !== 1 || config.numInterfaces !== 1) {
    problems.push(`${interfaces.length} interface descriptor(s) (bNumInterfaces ${config.numInterfaces}), expected exactly one`);
  }
  const endpoints = { bulkIn: null, bulkOut: null, intIn: null };
  if (ccid.length !== 1) {
    problems.push('no interface of class 0x0B (CCID)');
    return { problems, endpoints };
  }
  const iface = ccid[0];
  if (iface.subClass !== 0 || iface.protocol !== 0) problems.push(`CCID interface subclass/protocol ${iface.subClass}/${iface.protocol}, expected 0/0`);
  const cls = iface.extra.filter((e) => e[1] === 0x21);
  if (cls.length !== 1) problems.push(`${cls.length} CCID class descriptors (type 0x21), expected 1`);
  else if (cls[0].length !== EXPECTED.ccidClassDescriptorLength) problems.push(`CCID class descriptor ${cls[0].length} bytes, expected 54`);
  for (const ep of iface.endpoints) {
    const isIn = !!(ep.address & 0x80);
    if (ep.type === 'bulk' && isIn && !endpoints.bulkIn) endpoints.bulkIn = ep;
    else if (ep.type === 'bulk' && !isIn && !endpoints.bulkOut) endpoints.bulkOut = ep;
    else if (ep.type === 'interrupt' && isIn && !endpoints.intIn) endpoints.intIn = ep;
    else problems.push(`unexpected endpoint 0x${ep.address.toString(16)} (${ep.type})`);
  }
  if (iface.numEndpoints !== 3) problems.push(`bNumEndpoints ${iface.numEndpoints}, expected 3`);
  if (!endpoints.bulkIn) problems.push('no bulk-IN endpoint');
  if (!endpoints.bulkOut) problems.push('no bulk-OUT endpoint');
  if (!endpoints.intIn) problems.push('no interrupt-IN endpoint');
  for (const ep of [endpoints.bulkIn, endpoints.bulkOut]) {
    if (ep && ep.maxPacketSize !== 64) problems.push(`endpoint 0x${ep.address.toString(16)}: wMaxPacketSize ${ep.maxPacketSize}, expected 64`);
  }
  const classDescriptor = cls[0] ?? null;
  return { problems, endpoints, classDescriptor };
}
