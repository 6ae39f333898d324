#!/usr/bin/env node
// Board benchmark: boots the Pico UF2 in the emulator on a fresh flash, sends a fixed APDU script
// (initialize, keygen and sign on P-256, Ed25519, RSA-1024 and optionally RSA-2048) and records the
// emulated Cortex-M0+ cycles of every operation in a JSON file for `cargo xtask bench`.
//
//   node emu/bench.js --uf2 target/firmware/pico-hsm-pico.uf2 [--out emu/bench.json] [--rsa2048]
//
// The cycles are rp2040js's instruction cycles (see harness.js --help); ms are at 125 MHz. Slow:
// emulation runs at ~20-30 M instructions/s, so RSA-2048 keygen (~30 G cycles) takes about 20 minutes.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** BER-TLV: tag (1 or 2 bytes, hex string) ‖ length ‖ value (hex string). */
export function tlv(tag, value) {
  const n = value.length / 2;
  let len;
  if (n < 0x80) len = n.toString(16).padStart(2, '0');
  else if (n < 0x100) len = '81' + n.toString(16).padStart(2, '0');
  else len = '82' + n.toString(16).padStart(4, '0');
  return tag + len + value;
}

/** An extended-length case 4 APDU: header ‖ 00 ‖ Lc(2) ‖ data ‖ Le 0000. */
export function apdu(header, data) {
  return header + '00' + (data.length / 2).toString(16).padStart(4, '0') + data + '0000';
}

const OID_ECDSA_SHA256 = '04007f00070202020203';
const OID_RSA_SHA256 = '04007f00070202020102';
const P256 = 'ffffffff00000001000000000000000000000000ffffffffffffffffffffffff';
const P25519 = '7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed';
const G_ED25519 = '5866666666666666666666666666666666666666666666666666666666666666';
const HASH = '5a'.repeat(32);
/** P-256's generator, uncompressed: a valid peer point for ECDH (DECIPHER P2 80). */
const G_P256 = '046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5';
/** A raw RSA-2048 input below any 2048-bit modulus (DECIPHER P2 21). */
const RSA2048_INPUT = '00' + '5a'.repeat(255);

/** GENERATE ASYMMETRIC KEY PAIR data: CPI, CAR, the 7F49 template, CHR (as OpenSC sends). */
function keygen(id, template) {
  const data =
    tlv('5f29', '00') +
    tlv('42', Buffer.from('UTCA00001').toString('hex')) +
    tlv('7f49', template) +
    tlv('5f20', Buffer.from('UTTM00001').toString('hex'));
  return apdu('0046' + id + '00', data);
}

const ecTemplate = (p, g) => tlv('06', OID_ECDSA_SHA256) + tlv('81', p) + (g ? tlv('83', g) : '');
const rsaTemplate = (bits) => tlv('06', OID_RSA_SHA256) + tlv('02', bits.toString(16).padStart(4, '0')) + tlv('82', '010001');

/**
 * The script: [name, apdu]. Every key signs twice: "X sign, first use" (the key is parsed, and for
 * RSA the blinding pair made) and "X sign" (the steady state, what a user signing repeatedly sees).
 * `rsa2048Keygens` RSA-2048 keys are generated ("RSA-2048 keygen #1" …); "RSA-2048 keygen" is
 * their median, added by main().
 */
export function script(rsa2048, rsa2048Keygens = 1) {
  const s = [
    ['SELECT', '00A4040C0BE82B0601040181C31F0201'],
    ['INITIALIZE', '805000001980020001810636343832313982083537363231383830910103'],
    ['VERIFY', '0020008106363438323139'],
    ['P-256 keygen', keygen('01', ecTemplate(P256))],
    ['P-256 sign, first use', '80680170' + '20' + HASH + '00'],
    ['P-256 sign', '80680170' + '20' + HASH + '00'],
    ['P-256 ECDH', '80620180' + '41' + G_P256 + '00'],
    ['Ed25519 keygen', keygen('02', ecTemplate(P25519, G_ED25519))],
    ['Ed25519 sign, first use', '80680270' + '20' + HASH + '00'],
    ['Ed25519 sign', '80680270' + '20' + HASH + '00'],
    ['RSA-1024 keygen', keygen('03', rsaTemplate(1024))],
    ['RSA-1024 sign, first use', apdu('80680333', HASH)],
    ['RSA-1024 sign', apdu('80680333', HASH)],
  ];
  if (rsa2048) {
    for (let k = 0; k < rsa2048Keygens; k++) {
      const id = (4 + k).toString(16).padStart(2, '0');
      s.push([`RSA-2048 keygen #${k + 1}`, keygen(id, rsaTemplate(2048))]);
    }
    s.push(
      ['RSA-2048 sign, first use', apdu('80680433', HASH)],
      ['RSA-2048 sign', apdu('80680433', HASH)],
      ['RSA-2048 decrypt', apdu('80620421', RSA2048_INPUT)],
    );
  }
  return s;
}

/** Parses harness -v lines "SW 9000 APDU ... : N cycles (...)" in order. */
export function parseCycles(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^SW ([0-9A-F]{4}) APDU .*: (\d+) cycles/.exec(line);
    const st = /; stack high-water (\d+) B/.exec(line);
    const hp = /; heap high-water ~(\d+) B/.exec(line);
    const c1 = /, core 1 (\d+) cycles/.exec(line);
    if (m) {
      const row = { sw: m[1], cycles: Number(m[2]), stack: st ? Number(st[1]) : null, heap: hp ? Number(hp[1]) : null };
      if (c1) row.core1 = Number(c1[1]);
      out.push(row);
    }
  }
  return out;
}

async function main(argv) {
  let uf2 = join(here, '..', 'target', 'firmware', 'pico-hsm-pico.uf2');
  let out = join(here, 'bench.json');
  let rsa2048 = false;
  let keygens = 1;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--uf2') uf2 = argv[++i];
    else if (a === '--out') out = argv[++i];
    else if (a === '--rsa2048') rsa2048 = true;
    else if (a === '--rsa2048-keygens') {
      keygens = Number(argv[++i]);
      rsa2048 = true;
      if (!Number.isInteger(keygens) || keygens < 1) {
        console.error('bench: --rsa2048-keygens takes a count of 1 or more');
        return 2;
      }
    }
    else if (a === '--help' || a === '-h') {
      console.log('node emu/bench.js [--uf2 FILE] [--out FILE.json] [--rsa2048 | --rsa2048-keygens N]\n' +
        'Boots the UF2 in the emulator on a fresh flash, initializes the card, generates and signs (twice:\n' +
        'first use, then steady state) with P-256, Ed25519, RSA-1024 (and RSA-2048 with --rsa2048; N\n' +
        'RSA-2048 keys and their median with --rsa2048-keygens N, ~1-2 min of emulation each), and\n' +
        'writes the emulated cycles of each operation to FILE.json (default emu/bench.json) for\n' +
        '`cargo xtask bench`. The random numbers come from the host (a new run, a new seed).');
      return 0;
    } else {
      console.error(`bench: unknown argument ${a}`);
      return 2;
    }
  }
  if (!existsSync(uf2)) {
    console.error(`bench: ${uf2} not found (cargo xtask firmware --board pico)`);
    return 1;
  }
  const dir = mkdtempSync(join(tmpdir(), 'pico-hsm-bench-'));
  const steps = script(rsa2048, keygens);
  const args = [join(here, 'harness.js'), '--uf2', uf2, '--flash', join(dir, 'flash.bin'), '-v'];
  for (const [, hex] of steps) args.push('--apdu', hex);
  const started = Date.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  child.stdout.on('data', (d) => {
    text += d;
    process.stderr.write(d);
  });
  const code = await new Promise((resolve) => child.on('close', resolve));
  rmSync(dir, { recursive: true, force: true });
  const got = parseCycles(text);
  if (code !== 0 || got.length !== steps.length) {
    console.error(`bench: the emulation failed (exit ${code}, ${got.length} of ${steps.length} APDUs answered)`);
    return 1;
  }
  const ops = {};
  for (const [i, [name]] of steps.entries()) {
    const { sw, cycles } = got[i];
    if (sw !== '9000') {
      console.error(`bench: ${name} answered ${sw}`);
      return 1;
    }
    ops[name] = { cycles, ms_at_125mhz: Math.round((cycles / 125000) * 10) / 10, stack_high_water: got[i].stack, heap_high_water: got[i].heap };
    if (got[i].core1) ops[name].core1_cycles = got[i].core1;
  }
  const keygenRuns = Object.keys(ops).filter((n) => n.startsWith('RSA-2048 keygen #'));
  if (keygenRuns.length > 0) {
    const sorted = keygenRuns.map((n) => ops[n].cycles).sort((x, y) => x - y);
    const mid = sorted.length >> 1;
    const cycles = sorted.length % 2 ? sorted[mid] : Math.round((sorted[mid - 1] + sorted[mid]) / 2);
    ops['RSA-2048 keygen'] = { cycles, ms_at_125mhz: Math.round((cycles / 125000) * 10) / 10, median_of: sorted.length };
  }
  const stack_high_water = got.reduce((m, g) => Math.max(m, g.stack ?? 0), 0) || null;
  const heap_high_water = got.reduce((m, g) => Math.max(m, g.heap ?? 0), 0) || null;
  const result = { board: 'pico', uf2, measured: new Date().toISOString(), wall_s: (Date.now() - started) / 1000, stack_high_water, heap_high_water, ops };
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
  for (const [name, o] of Object.entries(ops)) console.log(`${name.padEnd(26)} ${String(o.cycles).padStart(12)} cycles ${String(o.ms_at_125mhz).padStart(10)} ms@125MHz  stack ${o.stack_high_water ?? '?'} B  heap ~${o.heap_high_water ?? '?'} B`);
  console.log(`bench: wrote ${out}`);
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
