// The real image: boots the RP2040 UF2 from `cargo xtask firmware` (or $PICO_HSM_UF2) in the
// emulator and talks CCID to it, without pcscd. Skipped when the UF2 has not been built.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Board } from '../lib/board.js';
import { Symbols } from '../lib/elf.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const UF2 = process.env.PICO_HSM_UF2 ?? path.join(here, '../../target/firmware/pico-hsm-pico.uf2');
const have = fs.existsSync(UF2);
// `cargo xtask test` sets PICO_HSM_REQUIRE_UF2=1: there a missing image is a failure, not a skip.
if (!have && process.env.PICO_HSM_REQUIRE_UF2 === '1') throw new Error(`no firmware image at ${UF2}`);
const skip = have ? false : `no firmware image at ${UF2} (cargo xtask firmware --board pico)`;
const ATR = '3BFE1800008131FE458031815448534D31738021408107FA';
const SELECT = Uint8Array.from([0x00, 0xa4, 0x04, 0x00, 0x0b, 0xe8, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x81, 0xc3, 0x1f, 0x02, 0x01, 0x00]);
const GET_CHALLENGE = Uint8Array.from([0x00, 0x84, 0x00, 0x00, 0x08]);
const quiet = { level: 0, info() {}, debug() {}, trace() {}, warn() {}, error() {} };
const sw = (r) => Buffer.from(r.subarray(r.length - 2)).toString('hex').toUpperCase();

async function withBoard(opts, fn) {
  const symbols = Symbols.load(UF2.replace(/\.uf2$/, '.elf'));
  const board = new Board({ uf2: fs.readFileSync(UF2), symbols, log: quiet, ...opts });
  const running = board.run();
  running.catch(() => {});
  try {
    return await fn(board);
  } finally {
    board.stop();
    await running.catch(() => {});
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'emu-fw-'));
const state = path.join(dir, 'flash.bin');

test('fresh flash: boots, enumerates, ATR, SELECT and GET CHALLENGE answer 9000', { skip, timeout: 120_000 }, async () => {
  await withBoard({ statePath: state }, async (board) => {
    const dev = await board.enumerate();
    assert.equal(dev.strings.serial, Buffer.from(board.uniqueId).toString('hex').toUpperCase(), 'USB serial = flash unique id');
    const on = await board.powerOn();
    assert.equal(Buffer.from(on.result).toString('hex').toUpperCase(), ATR);
    const sel = await board.transmit(SELECT);
    assert.equal(sw(sel.result), '9000');
    assert.ok(sel.cycles > 1000 && sel.cycles < 1e6, `SELECT took ${sel.cycles} cycles`);
    const a = await board.transmit(GET_CHALLENGE);
    const b = await board.transmit(GET_CHALLENGE);
    assert.equal(sw(a.result), '9000');
    assert.equal(a.result.length, 10);
    assert.notDeepEqual(a.result, b.result, 'two challenges differ');
    assert.ok(board.rosc.bitsRead > 1000, 'the entropy came from ROSC RANDOMBIT');
    // Answers of 64 and 128 bytes (52 and 118 data + SW + header) complete only with the device's
    // zero-length packet; a 64-byte command goes out without one.
    for (const n of [52, 118]) {
      const r = await board.transmit(Uint8Array.from([0x00, 0x84, 0x00, 0x00, n]));
      assert.equal(r.result.length, n + 2);
      assert.equal(sw(r.result), '9000');
    }
    const longAid = Uint8Array.from([0x00, 0xa4, 0x04, 0x00, 49, ...new Array(49).fill(0xaa)]);
    assert.equal(sw((await board.transmit(longAid)).result), '6A82');
    // The stack region was painted before boot: what the firmware used is measured, and is neither
    // nothing nor the whole region (a painting that missed, or a scan that ran off, would say so).
    const stack = board.stackHighWater();
    assert.ok(stack, 'the ELF gives _stack_end and _stack_start');
    assert.ok(stack.used > 1024 && stack.used < stack.size, `stack high-water ${stack.used} of ${stack.size}`);
    const heap = board.heapHighWater();
    assert.ok(heap && heap.used > 0 && heap.used < heap.size, `heap high-water ${heap?.used} of ${heap?.size}`);
  });
});

test('same flash again: same serial; with ROSC unimplemented GET CHALLENGE is refused with 6400', { skip, timeout: 120_000 }, async () => {
  const serial = fs.readFileSync(`${state}.id`, 'utf8').trim();
  await withBoard({ statePath: state, rosc: false }, async (board) => {
    const dev = await board.enumerate();
    assert.equal(dev.strings.serial, serial);
    await board.powerOn();
    assert.equal(sw((await board.transmit(SELECT)).result), '9000');
    const r = await board.transmit(GET_CHALLENGE);
    assert.equal(sw(r.result), '6400', 'the health tests refuse a register that reads all ones');
    assert.equal(r.result.length, 2);
  });
});

test('blank flash with ROSC unimplemented: no device root can be made, the board stops', { skip, timeout: 120_000 }, async () => {
  await withBoard({ statePath: null, rosc: false }, async (board) => {
    await assert.rejects(board.enumerate(), /panicked before USB came up/);
  });
});

test.after(() => fs.rmSync(dir, { recursive: true, force: true }));
