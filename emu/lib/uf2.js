// UF2 parsing (https://github.com/microsoft/uf2): 512-byte blocks, each carrying up to 476 bytes
// for one flash address. The RP2040 boot ROM takes blocks whose family is RP2040 (flag 0x2000 with
// family id 0xE48BFF56), 256 payload bytes at 256-aligned addresses, and skips "not main flash"
// blocks (flag 0x1). We are as strict: anything else is an error, so a UF2 that the board would not
// take is not run here either.

export const UF2_MAGIC_START0 = 0x0a324655;
export const UF2_MAGIC_START1 = 0x9e5d5157;
export const UF2_MAGIC_END = 0x0ab16f30;
export const UF2_FLAG_NOT_MAIN_FLASH = 0x00000001;
export const UF2_FLAG_FAMILY_ID_PRESENT = 0x00002000;
export const RP2040_FAMILY_ID = 0xe48bff56;
export const FLASH_BASE = 0x10000000;

/**
 * Parses a UF2 file.
 * @param {Uint8Array} bytes the file
 * @param {{familyId?: number, flashSize?: number}} [opts]
 * @returns {{address: number, data: Uint8Array}[]} flash blocks (address = offset from FLASH_BASE)
 */
export function parseUf2(bytes, opts = {}) {
  const familyId = opts.familyId ?? RP2040_FAMILY_ID;
  const flashSize = opts.flashSize ?? 2 * 1024 * 1024;
  if (bytes.length === 0 || bytes.length % 512 !== 0) {
    throw new Error(`UF2: size ${bytes.length} is not a non-zero multiple of 512`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const blocks = [];
  let numBlocks = null;
  const seen = new Set();
  for (let off = 0; off < bytes.length; off += 512) {
    const n = off / 512;
    const u32 = (o) => view.getUint32(off + o, true);
    if (u32(0) !== UF2_MAGIC_START0 || u32(4) !== UF2_MAGIC_START1 || u32(508) !== UF2_MAGIC_END) {
      throw new Error(`UF2 block ${n}: bad magic`);
    }
    const flags = u32(8);
    const target = u32(12);
    const size = u32(16);
    const blockNo = u32(20);
    const total = u32(24);
    const family = u32(28);
    if (numBlocks === null) numBlocks = total;
    if (total !== numBlocks || blockNo >= total) {
      throw new Error(`UF2 block ${n}: block ${blockNo} of ${total}, inconsistent with ${numBlocks}`);
    }
    if (seen.has(blockNo)) throw new Error(`UF2 block ${n}: block number ${blockNo} repeated`);
    seen.add(blockNo);
    if (flags & UF2_FLAG_NOT_MAIN_FLASH) continue;
    if (!(flags & UF2_FLAG_FAMILY_ID_PRESENT) || family !== familyId) {
      throw new Error(
        `UF2 block ${n}: family ${flags & UF2_FLAG_FAMILY_ID_PRESENT ? '0x' + family.toString(16) : '(none)'}, ` +
          `expected 0x${familyId.toString(16)}`,
      );
    }
    if (size !== 256 || target % 256 !== 0) {
      throw new Error(`UF2 block ${n}: ${size} bytes at 0x${target.toString(16)} (need 256 at a 256-aligned address)`);
    }
    if (target < FLASH_BASE || target + size > FLASH_BASE + flashSize) {
      throw new Error(`UF2 block ${n}: address 0x${target.toString(16)} outside the ${flashSize >> 20} MiB flash`);
    }
    blocks.push({ address: target - FLASH_BASE, data: bytes.slice(off + 32, off + 32 + size) });
  }
  if (blocks.length === 0) throw new Error('UF2: no RP2040 flash blocks');
  if (seen.size !== numBlocks) throw new Error(`UF2: ${seen.size} of ${numBlocks} blocks present`);
  return blocks;
}

/**
 * Writes UF2 blocks into a flash image the way the boot ROM's UF2 loader does: every 4 KiB sector a
 * block touches is erased first, then the blocks are programmed. Returns the touched sector range.
 */
export function applyUf2(flash, blocks) {
  const sectors = new Set(blocks.map((b) => b.address >>> 12));
  for (const s of sectors) flash.fill(0xff, s << 12, (s + 1) << 12);
  for (const b of blocks) flash.set(b.data, b.address);
  const sorted = [...sectors].sort((a, b) => a - b);
  return { first: sorted[0] << 12, end: (sorted[sorted.length - 1] + 1) << 12, sectors: sorted.length };
}

/** Builds a UF2 (for tests): data placed at flash offset `address`. */
export function buildUf2(address, data, familyId = RP2040_FAMILY_ID) {
  const n = Math.ceil(data.length / 256);
  const out = new Uint8Array(n * 512);
  const view = new DataView(out.buffer);
  for (let i = 0; i < n; i++) {
    const o = i * 512;
    view.setUint32(o, UF2_MAGIC_START0, true);
    view.setUint32(o + 4, UF2_MAGIC_START1, true);
    view.setUint32(o + 8, UF2_FLAG_FAMILY_ID_PRESENT, true);
    view.setUint32(o + 12, FLASH_BASE + address + i * 256, true);
    view.setUint32(o + 16, 256, true);
    view.setUint32(o + 20, i, true);
    view.setUint32(o + 24, n, true);
    view.setUint32(o + 28, familyId, true);
    out.set(data.subarray(i * 256, i * 256 + 256), o + 32);
    view.setUint32(o + 508, UF2_MAGIC_END, true);
  }
  return out;
}

/** CRC-32 as the RP2040 boot ROM checks boot2 (poly 0x04C11DB7, MSB first, init 0xFFFFFFFF, no final xor). */
export function boot2Crc(bytes) {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b << 24;
    for (let i = 0; i < 8; i++) crc = crc & 0x80000000 ? ((crc << 1) ^ 0x04c11db7) >>> 0 : (crc << 1) >>> 0;
  }
  return crc >>> 0;
}
