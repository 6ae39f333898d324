//! On-flash encoding: geometry, sector headers, record headers, CRCs. The layout is specified in the
//! crate documentation; this module is its single implementation.

use alloc::vec::Vec;

use crc::{CRC_32_ISCSI, Crc, Table};

use crate::Error;

/// The CRC table: slice-by-16 (16 KiB of table) on hosts, where mount checksums whole sectors and
/// speed matters; one 1 KiB table on the boards, whose flash image is tight (RP2040: 1 MiB for
/// everything) and whose execute-in-place cache is 16 KiB, so a 16 KiB table would mostly miss.
#[cfg(not(target_os = "none"))]
type CrcTable = Table<16>;
#[cfg(target_os = "none")]
type CrcTable = Table<1>;

/// CRC-32C (Castagnoli).
static CRC: Crc<u32, CrcTable> = Crc::<u32, CrcTable>::new(&CRC_32_ISCSI);

pub(crate) fn crc32(data: &[u8]) -> u32 {
    CRC.checksum(data)
}

/// A running CRC, for data read piecewise.
pub(crate) fn crc_digest() -> crc::Digest<'static, u32, CrcTable> {
    CRC.digest()
}

/// Largest supported WRITE_SIZE / READ_SIZE (the RP2040 page).
pub(crate) const MAX_ALIGN: usize = 256;
/// Largest supported ERASE_SIZE.
pub(crate) const MAX_ERASE: usize = 1 << 20;
/// Files the index accepts.
pub(crate) const MAX_FILES: usize = 4096;

pub(crate) const SECTOR_HEADER_LEN: usize = 20;
pub(crate) const DONE_LEN: usize = 8;
pub(crate) const RECORD_HEADER_LEN: usize = 24;
const SECTOR_MAGIC: [u8; 4] = *b"PHSF";
const FORMAT_VERSION: u8 = 1;
const DONE_MAGIC: [u8; 4] = *b"DONE";
/// A chunk shorter than this is not started at the end of a sector unless it finishes the file
/// (bounds the number of pieces per file and the waste per sector).
pub(crate) const MIN_CHUNK: u32 = 32;

/// Sizes derived from the flash geometry. All offsets fit in `u32` (checked by [`Geometry::new`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    pub sectors: u32,
    pub erase: u32,
    pub align: u32,
    pub read: u32,
    /// Sector header slot (`SECTOR_HEADER_LEN` rounded up to `align`).
    pub sh: u32,
    /// GC completion slot (`DONE_LEN` rounded up to `align`).
    pub ds: u32,
    /// Record header slot (`RECORD_HEADER_LEN` rounded up to `align`).
    pub hs: u32,
}

pub(crate) fn align_up(v: u32, align: u32) -> u32 {
    v.div_ceil(align).saturating_mul(align)
}

impl Geometry {
    pub fn new(capacity: usize, erase: usize, write: usize, read: usize) -> Result<Self, Error> {
        let pow2 = |v: usize, max: usize| v.is_power_of_two() && v <= max;
        if !pow2(write, MAX_ALIGN) || !pow2(read.max(1), MAX_ALIGN) || !pow2(erase, MAX_ERASE) {
            return Err(Error::Geometry);
        }
        let align = write as u32;
        let erase32 = erase as u32;
        let sh = align_up(SECTOR_HEADER_LEN as u32, align);
        let ds = align_up(DONE_LEN as u32, align);
        let hs = align_up(RECORD_HEADER_LEN as u32, align);
        // The record area must hold a header and a useful amount of data.
        if erase32 < 256 || erase32 < sh + ds + 2 * hs + 4 * MIN_CHUNK || erase < read.max(1) {
            return Err(Error::Geometry);
        }
        let sectors = capacity / erase;
        if sectors < 2 || (sectors as u64) * (erase as u64) > u32::MAX as u64 {
            return Err(Error::Geometry);
        }
        Ok(Self {
            sectors: sectors as u32,
            erase: erase32,
            align,
            read: read.max(1) as u32,
            sh,
            ds,
            hs,
        })
    }

    /// Offset of the first record in a sector.
    pub fn area_start(&self) -> u32 {
        self.sh + self.ds
    }

    /// Bytes of a sector available to records.
    pub fn payload(&self) -> u32 {
        self.erase - self.sh - self.ds
    }

    /// Largest data length of one record.
    pub fn max_data(&self) -> u32 {
        self.payload() - self.hs
    }

    /// Flash footprint of a record with `len` data bytes (`len <= max_data`).
    pub fn fp(&self, len: u32) -> u32 {
        self.hs + align_up(len, self.align)
    }

    pub fn sector_addr(&self, idx: u32) -> u32 {
        idx * self.erase
    }

    pub fn next(&self, idx: u32) -> u32 {
        if idx + 1 >= self.sectors { 0 } else { idx + 1 }
    }

    pub fn prev(&self, idx: u32) -> u32 {
        if idx == 0 { self.sectors - 1 } else { idx - 1 }
    }
}

/// What a sector was opened for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SectorKind {
    /// Opened to append records.
    Normal = 1,
    /// Opened by garbage collection to receive the live records of sector `src`.
    Gc = 2,
    /// Opened by `format`: the log starts here, every older sector is garbage.
    Format = 3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SectorHeader {
    pub kind: SectorKind,
    pub seq: u32,
    /// For `Gc`: sequence number of the sector being reclaimed; otherwise `u32::MAX`.
    pub src: u32,
}

impl SectorHeader {
    pub fn encode(&self, geo: &Geometry) -> [u8; SECTOR_HEADER_LEN] {
        let mut head = [0u8; 16];
        let geometry = [
            FORMAT_VERSION,
            self.kind as u8,
            geo.erase.trailing_zeros() as u8,
            geo.align.trailing_zeros() as u8,
        ];
        fill(
            &mut head,
            &[
                &SECTOR_MAGIC,
                &geometry,
                &self.seq.to_le_bytes(),
                &self.src.to_le_bytes(),
            ],
        );
        let mut b = [0u8; SECTOR_HEADER_LEN];
        fill(&mut b, &[&head, &crc32(&head).to_le_bytes()]);
        b
    }

    pub fn decode(b: &[u8], geo: &Geometry) -> Option<Self> {
        let b: &[u8; SECTOR_HEADER_LEN] = b.get(..SECTOR_HEADER_LEN)?.try_into().ok()?;
        let (head, crc) = b.split_at(16);
        // Cheap structural checks first: `repair` tries 160 variants of a damaged header.
        if head.get(..4)? != SECTOR_MAGIC || !(1..=3).contains(head.get(5)?) {
            return None;
        }
        if u32::from_le_bytes(crc.try_into().ok()?) != crc32(head) {
            return None;
        }
        let [
            m0,
            m1,
            m2,
            m3,
            version,
            kind,
            log_erase,
            log_align,
            s0,
            s1,
            s2,
            s3,
            r0,
            r1,
            r2,
            r3,
        ] = <[u8; 16]>::try_from(head).ok()?;
        if [m0, m1, m2, m3] != SECTOR_MAGIC
            || version != FORMAT_VERSION
            || u32::from(log_erase) != geo.erase.trailing_zeros()
            || u32::from(log_align) != geo.align.trailing_zeros()
        {
            return None;
        }
        let kind = match kind {
            1 => SectorKind::Normal,
            2 => SectorKind::Gc,
            3 => SectorKind::Format,
            _ => return None,
        };
        Some(Self {
            kind,
            seq: u32::from_le_bytes([s0, s1, s2, s3]),
            src: u32::from_le_bytes([r0, r1, r2, r3]),
        })
    }
}

impl SectorHeader {
    /// Decodes a sector header slot, correcting a single flipped bit: `Some((header, repaired))`.
    ///
    /// CRC-32C detects every error of up to 3 bits in a 20-byte header, so the correction is
    /// unique. A torn header write that is one bit short of complete is "corrected" too, which is
    /// harmless: the sector was being opened, and it is taken as opened.
    pub fn decode_repair(b: &[u8], geo: &Geometry) -> Option<(Self, bool)> {
        if let Some(h) = Self::decode(b, geo) {
            return Some((h, false));
        }
        let mut t: [u8; SECTOR_HEADER_LEN] = b.get(..SECTOR_HEADER_LEN)?.try_into().ok()?;
        if t.iter().all(|&x| x == 0xFF) {
            return None;
        }
        for i in 0..SECTOR_HEADER_LEN * 8 {
            let (byte, bit) = (i / 8, 1u8 << (i % 8));
            if let Some(x) = t.get_mut(byte) {
                *x ^= bit;
            }
            let h = Self::decode(&t, geo);
            if let Some(x) = t.get_mut(byte) {
                *x ^= bit;
            }
            if let Some(h) = h {
                return Some((h, true));
            }
        }
        None
    }
}

/// The completion mark a GC sector gets once every live record of its source is copied.
pub(crate) fn done_mark(seq: u32) -> [u8; DONE_LEN] {
    let mut b = [0u8; DONE_LEN];
    fill(&mut b, &[&DONE_MAGIC, &seq.to_le_bytes()]);
    b
}

/// Concatenates `parts` into `dst` (truncating if too long).
fn fill(dst: &mut [u8], parts: &[&[u8]]) {
    for (d, s) in dst.iter_mut().zip(parts.iter().flat_map(|p| p.iter())) {
        *d = *s;
    }
}

/// Record types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecKind {
    /// File data `off..off + len` of version `txn`; not a commit.
    Chunk = 0x11,
    /// The last data of version `txn` (file length `off + len`); commits the version.
    Final = 0x12,
    /// Deletes the file; self-committing.
    Del = 0x21,
    /// Deletes the file when `Commit(txn)` exists.
    DelGroup = 0x22,
    /// Exempts the file from the wipe `Commit(txn, wipe)`.
    Keep = 0x23,
    /// Commits the group records of `txn`; `off == 1` makes it a wipe.
    Commit = 0x31,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecHeader {
    pub kind: RecKind,
    pub fid: u16,
    pub txn: u32,
    pub off: u32,
    pub len: u32,
    pub dcrc: u32,
}

impl RecHeader {
    pub fn encode(&self) -> [u8; RECORD_HEADER_LEN] {
        let mut head = [0u8; 20];
        fill(
            &mut head,
            &[
                &[self.kind as u8, 0],
                &self.fid.to_le_bytes(),
                &self.txn.to_le_bytes(),
                &self.off.to_le_bytes(),
                &self.len.to_le_bytes(),
                &self.dcrc.to_le_bytes(),
            ],
        );
        let mut b = [0u8; RECORD_HEADER_LEN];
        fill(&mut b, &[&head, &crc32(&head).to_le_bytes()]);
        b
    }

    /// Decodes and checks a header; `None` for a torn, blank or foreign slot.
    pub fn decode(b: &[u8], geo: &Geometry) -> Option<Self> {
        let b: &[u8; RECORD_HEADER_LEN] = b.get(..RECORD_HEADER_LEN)?.try_into().ok()?;
        let (head, crc) = b.split_at(20);
        // Cheap structural checks first: `Records::repair` tries 192 variants of a damaged header.
        if !matches!(head.first()?, 0x11 | 0x12 | 0x21 | 0x22 | 0x23 | 0x31) || *head.get(1)? != 0 {
            return None;
        }
        if u32::from_le_bytes(crc.try_into().ok()?) != crc32(head) {
            return None;
        }
        let word = |i: usize| -> Option<u32> { Some(u32::from_le_bytes(head.get(i..i + 4)?.try_into().ok()?)) };
        let kind = match head.first()? {
            0x11 => RecKind::Chunk,
            0x12 => RecKind::Final,
            0x21 => RecKind::Del,
            0x22 => RecKind::DelGroup,
            0x23 => RecKind::Keep,
            0x31 => RecKind::Commit,
            _ => return None,
        };
        if *head.get(1)? != 0 {
            return None;
        }
        let h = Self {
            kind,
            fid: u16::from_le_bytes(head.get(2..4)?.try_into().ok()?),
            txn: word(4)?,
            off: word(8)?,
            len: word(12)?,
            dcrc: word(16)?,
        };
        let data_kind = matches!(kind, RecKind::Chunk | RecKind::Final);
        if h.len > geo.max_data() || (!data_kind && h.len != 0) || h.off.checked_add(h.len).is_none() {
            return None;
        }
        Some(h)
    }
}

/// Iterates over the record headers of one sector image (`buf` is the whole sector).
///
/// Slots are parsed from the start of the record area: a valid header is followed by its data; a slot
/// that is not a valid header (a torn header write) is skipped by one header slot, which is where the
/// writer continues after such a tear; an all-`FF` slot ends the sector. Every step advances, so a
/// hostile sector costs at most `erase / hs` steps.
///
/// A header with one flipped bit is corrected when that cannot move the parse off the writer's
/// positions: a header-only record (its footprint is one slot either way), or a record whose data
/// matches the corrected header's CRC (or is all zero: a record overwritten after it was superseded).
/// A torn header write is followed by the writer's next header, not by data that checks.
pub(crate) struct Records<'a> {
    buf: &'a [u8],
    geo: &'a Geometry,
    pos: u32,
    ended: bool,
    /// Slots that did not parse (torn header writes, neutralized torn remains, or damage): offset, and
    /// whether the slot is dead (see [`dead_slot`]).
    pub bad_slots: Vec<(u32, bool)>,
    /// Offsets of the headers with one flipped bit, corrected.
    pub repaired: Vec<u32>,
    /// The last record returned: offset and header.
    pub last: Option<(u32, RecHeader)>,
}

/// A slot holding nothing but `00` and `FF` bytes (and not blank): what is left of a torn write that mount
/// overwrote with zeros. No record header looks like this (a header's first byte is its type).
pub(crate) fn dead_slot(slot: &[u8]) -> bool {
    slot.iter().all(|&b| b == 0 || b == 0xFF) && slot.contains(&0)
}

impl<'a> Records<'a> {
    pub fn new(buf: &'a [u8], geo: &'a Geometry) -> Self {
        Self {
            buf,
            geo,
            pos: geo.area_start(),
            ended: false,
            bad_slots: Vec::new(),
            repaired: Vec::new(),
            last: None,
        }
    }

    /// Where the next record would go once iteration has ended (`erase` if the sector is full).
    pub fn end(&self) -> u32 {
        self.pos
    }

    /// Slots that did not parse and are not dead: torn header writes or damage.
    pub fn suspicious(&self) -> impl Iterator<Item = u32> + '_ {
        self.bad_slots.iter().filter(|(_, dead)| !dead).map(|&(o, _)| o)
    }

    /// Iterates to the end and tells whether the sector parsed cleanly: nothing but `FF` after the last
    /// record, and no valid record header hidden inside a run of bad slots (which means a damaged
    /// header made the parse skip records). The hidden headers found are passed to `hidden`.
    pub fn finish(&mut self, mut hidden: impl FnMut(u32, RecHeader)) -> bool {
        for _ in self.by_ref() {}
        let geo = self.geo;
        let mut clean = self
            .buf
            .get(self.pos as usize..)
            .is_none_or(|t| t.iter().all(|&b| b == 0xFF));
        // (start, end, whether the parse already tried the slot positions): the runs of consecutive bad
        // slots, and what follows the end.
        let mut regions: Vec<(u32, u32, bool)> = Vec::new();
        for &(o, _) in &self.bad_slots {
            match regions.last_mut() {
                Some((_, end, _)) if *end == o => *end = o + geo.hs,
                _ => regions.push((o, o + geo.hs, true)),
            }
        }
        if !clean {
            regions.push((self.pos, geo.erase, false));
        }
        for (start, end, slots_tried) in regions {
            let mut o = start;
            while o < end {
                if !slots_tried || !(o - start).is_multiple_of(geo.hs) {
                    let h = self
                        .buf
                        .get(o as usize..o as usize + RECORD_HEADER_LEN)
                        .and_then(|b| RecHeader::decode(b, geo));
                    if let Some(h) = h
                        && o + geo.fp(h.len) <= geo.erase
                    {
                        clean = false;
                        hidden(o, h);
                    }
                }
                o += geo.align;
            }
        }
        clean
    }

    /// A header with one flipped bit at `pos`, if correcting it is safe (see the type's documentation).
    fn repair(&self, pos: u32) -> Option<RecHeader> {
        let geo = self.geo;
        let mut t: [u8; RECORD_HEADER_LEN] = self
            .buf
            .get(pos as usize..pos as usize + RECORD_HEADER_LEN)?
            .try_into()
            .ok()?;
        for i in 0..RECORD_HEADER_LEN * 8 {
            let (byte, bit) = (i / 8, 1u8 << (i % 8));
            if let Some(x) = t.get_mut(byte) {
                *x ^= bit;
            }
            let h = RecHeader::decode(&t, geo);
            if let Some(x) = t.get_mut(byte) {
                *x ^= bit;
            }
            let Some(h) = h else { continue };
            if pos + geo.fp(h.len) > geo.erase {
                continue;
            }
            if h.len == 0 {
                return Some(h);
            }
            let start = (pos + geo.hs) as usize;
            let data = self.buf.get(start..start + h.len as usize)?;
            if crc32(data) == h.dcrc || data.iter().all(|&b| b == 0) {
                return Some(h);
            }
        }
        None
    }
}

impl Iterator for Records<'_> {
    /// (offset of the header in the sector, header)
    type Item = (u32, RecHeader);

    fn next(&mut self) -> Option<Self::Item> {
        let geo = self.geo;
        while !self.ended {
            let start = self.pos as usize;
            let Some(slot) = self.buf.get(start..start + geo.hs as usize) else {
                self.pos = geo.erase;
                self.ended = true;
                break;
            };
            if slot.iter().all(|&b| b == 0xFF) {
                self.ended = true;
                break;
            }
            let decoded = match RecHeader::decode(slot, geo) {
                Some(h) if self.pos + geo.fp(h.len) <= geo.erase => Some(h),
                _ => {
                    let repaired = self.repair(self.pos);
                    if repaired.is_some() {
                        self.repaired.push(self.pos);
                    }
                    repaired
                }
            };
            match decoded {
                Some(h) => {
                    let at = self.pos;
                    self.pos += geo.fp(h.len);
                    self.last = Some((at, h));
                    return Some((at, h));
                }
                None => {
                    self.bad_slots.push((self.pos, dead_slot(slot)));
                    self.pos += geo.hs;
                }
            }
        }
        None
    }
}
