//! The store: public API, writes, deletes, reads.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec;
use alloc::vec::Vec;
use core::mem;

use embedded_storage::nor_flash::NorFlash;

use crate::format::{MAX_FILES, MIN_CHUNK, RecHeader, RecKind, align_up, crc32};
use crate::index::{Entry, Group, Pending, Piece};
use crate::io::Io;
use crate::mount::UNPLACED;
use crate::space::DEL_RESERVE;
use crate::{Error, MountReport, Stats};

/// The sectors of the log: a run of physically consecutive sectors (wrapping) with consecutive
/// sequence numbers, oldest (`tail`) first.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Log {
    pub tail: u32,
    pub tail_seq: u32,
    pub count: u32,
}

/// A power-cut safe store of files keyed by a 16-bit file id, on a NOR flash.
///
/// See the [crate documentation](crate) for the on-flash format and its guarantees.
pub struct Store<F: NorFlash> {
    pub(crate) io: Io<F>,
    pub(crate) files: BTreeMap<u16, Entry>,
    pub(crate) log: Log,
    /// Offset in the head sector where the next record goes (`erase` when full).
    pub(crate) head_pos: u32,
    pub(crate) next_txn: u64,
    /// Sequence number for the first sector when the log is empty.
    pub(crate) next_seq: u32,
    /// Footprint of the live records in each sector (file data, and the group records of the committed
    /// groups in `groups`); drives the space accounting.
    pub(crate) sector_live: Vec<u32>,
    /// `max_file_size`, computed at mount.
    pub(crate) max_file: usize,
    pub(crate) groups: Vec<Group>,
    pub(crate) pending: Pending,
    /// A flash operation failed during a change: the RAM state may not match the flash; remount.
    pub(crate) poisoned: bool,
    /// One sector, for mount and garbage collection.
    pub(crate) buf: Vec<u8>,
    /// Per sector: `UNPLACED` (outside the log, may hold data: never erased, never used).
    pub(crate) flags: Vec<u8>,
    /// Files whose state mount could not establish (a record of theirs is in an unplaced sector or in
    /// the unparsed part of a sector): reads fail with `Corrupt` until the file is written or deleted.
    pub(crate) uncertain: BTreeSet<u16>,
    /// A record header could not be parsed: the store cannot tell which files are missing, so a read of
    /// a file it does not know fails with `Corrupt` rather than `NotFound`.
    pub(crate) unknown_loss: bool,
    /// Overwrite superseded and deleted records with zeros (the flash allows programming a unit twice).
    pub(crate) scrub: bool,
    /// Records may be missing (unplaced or unparsed sectors): garbage collection, which erases what is not
    /// live, is off; the log only grows into free sectors.
    pub(crate) frozen: bool,
    pub(crate) report: MountReport,
}

impl<F: NorFlash> Store<F> {
    pub(crate) fn empty(io: Io<F>, scrub: bool) -> Self {
        let sectors = io.geo.sectors as usize;
        let mut s = Self {
            io,
            files: BTreeMap::new(),
            log: Log::default(),
            head_pos: 0,
            next_txn: 1,
            next_seq: 1,
            sector_live: alloc::vec![0; sectors],
            max_file: 0,
            groups: Vec::new(),
            pending: Pending::None,
            poisoned: false,
            buf: Vec::new(),
            flags: alloc::vec![0; sectors],
            uncertain: BTreeSet::new(),
            unknown_loss: false,
            scrub,
            frozen: false,
            report: MountReport::default(),
        };
        s.max_file = s.compute_max_file();
        s
    }

    /// What mount found: repaired, placed and unplaced sectors, files in doubt, leftovers erased. See
    /// [`MountReport`].
    pub fn report(&self) -> &MountReport {
        &self.report
    }

    /// Whether file `fid` exists (as far as the index knows: see [`Store::read`] for a damaged store).
    pub fn contains(&self, fid: u16) -> bool {
        self.files.contains_key(&fid)
    }

    /// Length of file `fid`, `None` if it does not exist (as far as the index knows: see
    /// [`Store::try_len`]).
    pub fn len(&self, fid: u16) -> Option<usize> {
        self.files.get(&fid).map(|e| e.len as usize)
    }

    /// Length of file `fid`: [`Error::NotFound`] if it does not exist, [`Error::Corrupt`] if the store
    /// cannot tell (a damaged store, see [`Store::read`]). A file whose data is damaged has a length.
    pub fn try_len(&self, fid: u16) -> Result<usize, Error> {
        if self.uncertain.contains(&fid) {
            return Err(Error::Corrupt);
        }
        self.len(fid).ok_or_else(|| self.absent(fid))
    }

    /// Whether the store holds no file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// All file ids, ascending.
    pub fn fids(&self) -> impl Iterator<Item = u16> + '_ {
        self.files.keys().copied()
    }

    /// Reads up to `buf.len()` bytes of file `fid` starting at `offset`; returns the count (0 at or
    /// after the end). The index gives the flash location directly; nothing is scanned. A record is
    /// checked against its CRC the first time it is read ([`Error::Corrupt`] if it fails).
    ///
    /// On a damaged store ([`MountReport`]) a file whose state is in doubt reads as [`Error::Corrupt`]
    /// until it is written or deleted, and so does a file the index does not know when a record could
    /// not be parsed at all (the store cannot tell it does not exist).
    pub fn read(&mut self, fid: u16, offset: usize, buf: &mut [u8]) -> Result<usize, Error> {
        let absent = self.absent(fid);
        let Self { io, files, .. } = self;
        if absent == Error::Corrupt {
            return Err(Error::Corrupt);
        }
        let entry = files.get_mut(&fid).ok_or(absent)?;
        if entry.broken {
            return Err(Error::Corrupt);
        }
        let len = entry.len as usize;
        if offset >= len || buf.is_empty() {
            return Ok(0);
        }
        let n = buf.len().min(len - offset);
        let end = offset + n;
        let first = entry
            .rest
            .partition_point(|p| (p.off as usize + p.len as usize) <= offset);
        let hs = io.geo.hs;
        let mut done = 0usize;
        let mut result = Ok(());
        for p in entry
            .rest
            .iter_mut()
            .skip(first)
            .chain(core::iter::once(&mut entry.last))
        {
            let (ps, pe) = (p.off as usize, p.off as usize + p.len as usize);
            let (s, e) = (ps.max(offset + done), pe.min(end));
            if s >= e {
                if ps >= end {
                    break;
                }
                continue;
            }
            if !p.verified {
                match verify(io, p) {
                    Ok(true) => p.verified = true,
                    Ok(false) => {
                        result = Err(Error::Corrupt);
                        break;
                    }
                    Err(err) => return Err(err),
                }
            }
            let Some(dst) = buf.get_mut(done..done + (e - s)) else {
                result = Err(Error::Corrupt);
                break;
            };
            io.read(p.addr + hs + (s - ps) as u32, dst)?;
            done += e - s;
        }
        if result.is_ok() && done != n {
            result = Err(Error::Corrupt);
        }
        if let Err(err) = result {
            entry.broken = true;
            return Err(err);
        }
        Ok(done)
    }

    /// Reads a whole file.
    pub fn read_all(&mut self, fid: u16) -> Result<Vec<u8>, Error> {
        let len = self.try_len(fid)?;
        let mut v = vec![0u8; len];
        if self.read(fid, 0, &mut v)? != len {
            return Err(Error::Corrupt);
        }
        Ok(v)
    }

    /// Atomically creates or replaces file `fid` with `data` (empty allowed). After a power cut at any
    /// point the file has its old or its new content, and nothing else changed.
    ///
    /// While the new version is written the old one stays on flash, so replacing a file needs room for
    /// both ([`Store::free_space`] is the largest *new* file that fits).
    pub fn write(&mut self, fid: u16, data: &[u8]) -> Result<(), Error> {
        self.usable()?;
        let n = data.len();
        if n > self.max_file_size() {
            return Err(Error::TooLarge);
        }
        if !self.files.contains_key(&fid) && self.files.len() >= MAX_FILES {
            return Err(Error::Full);
        }
        if !self.plan(Some(n as u32), DEL_RESERVE, false) {
            return Err(Error::Full);
        }
        let txn = self.alloc_txn()?;
        self.pending = Pending::Write {
            fid,
            txn,
            pieces: Vec::new(),
        };
        let result = self.write_pieces(fid, txn, data);
        let pending = mem::take(&mut self.pending);
        self.check(result)?;
        let Pending::Write { mut pieces, .. } = pending else {
            return Err(Error::Corrupt);
        };
        let last = pieces.pop().ok_or(Error::Corrupt)?;
        let entry = Entry {
            txn,
            len: n as u32,
            last,
            rest: pieces,
            broken: false,
        };
        self.account(&entry, true);
        self.uncertain.remove(&fid);
        if let Some(old) = self.files.insert(fid, entry) {
            self.account(&old, false);
            let r = self.overwrite(&old);
            self.check(r)?;
        }
        Ok(())
    }

    fn write_pieces(&mut self, fid: u16, txn: u32, data: &[u8]) -> Result<(), Error> {
        let geo = self.io.geo;
        let n = data.len() as u32;
        let mut pos = 0u32;
        let mut advances = 0u32;
        loop {
            let rem = n - pos;
            let room = self.room();
            let max_d = room.saturating_sub(geo.hs).min(geo.max_data());
            if room >= geo.hs && rem <= max_d {
                let chunk = data.get(pos as usize..).ok_or(Error::Corrupt)?;
                self.append(RecKind::Final, fid, txn, pos, chunk)?;
                return Ok(());
            }
            if room >= geo.hs && max_d >= MIN_CHUNK {
                let chunk = data.get(pos as usize..(pos + max_d) as usize).ok_or(Error::Corrupt)?;
                self.append(RecKind::Chunk, fid, txn, pos, chunk)?;
                pos += max_d;
                continue;
            }
            advances += 1;
            if advances > 3 * self.io.geo.sectors + 3 {
                return Err(Error::Full);
            }
            self.advance()?;
        }
    }

    /// Atomically deletes file `fid`; `Ok(false)` if it did not exist. The deleted data is overwritten
    /// with zeros. A file in doubt on a damaged store ([`Store::read`]) is deleted too (`Ok(true)`); a
    /// file the store cannot tell exists (it read [`Error::Corrupt`]) gives [`Error::Corrupt`].
    pub fn delete(&mut self, fid: u16) -> Result<bool, Error> {
        self.usable()?;
        if !self.files.contains_key(&fid) && !self.uncertain.contains(&fid) {
            return match self.absent(fid) {
                Error::NotFound => Ok(false),
                e => Err(e),
            };
        }
        if !self.plan(None, 1, false) {
            return Err(Error::Full);
        }
        let txn = self.alloc_txn()?;
        let hs = self.io.geo.hs;
        let result = self
            .ensure_room(hs)
            .and_then(|()| self.append(RecKind::Del, fid, txn, 0, &[]));
        self.check(result)?;
        self.uncertain.remove(&fid);
        if let Some(old) = self.files.remove(&fid) {
            self.account(&old, false);
            let r = self.overwrite(&old);
            self.check(r)?;
        }
        Ok(true)
    }

    /// Atomically deletes every file for which `keep(fid)` is false (called once per file, ascending,
    /// files in doubt on a damaged store included): after a power cut either all of them are gone or none.
    /// The deleted data is overwritten with zeros.
    ///
    /// Costs one small record per deleted file, or, when that is cheaper, one per kept file (a wipe).
    pub fn retain(&mut self, mut keep: impl FnMut(u16) -> bool) -> Result<(), Error> {
        self.usable()?;
        let (mut kept, mut gone) = (Vec::new(), Vec::new());
        let all: BTreeSet<u16> = self.files.keys().chain(self.uncertain.iter()).copied().collect();
        for fid in all {
            if keep(fid) { kept.push(fid) } else { gone.push(fid) }
        }
        match gone.as_slice() {
            [] => return Ok(()),
            [fid] => return self.delete(*fid).map(|_| ()),
            _ => {}
        }
        let wipe = gone.len() > kept.len() + 1;
        let list = if wipe { &kept } else { &gone };
        if !self.plan(None, list.len() as u32 + 1, false) {
            return Err(Error::Full);
        }
        let txn = self.alloc_txn()?;
        self.pending = Pending::Group { txn, addrs: Vec::new() };
        let kind = if wipe { RecKind::Keep } else { RecKind::DelGroup };
        let result = self.write_group(kind, list, txn, wipe);
        let pending = mem::take(&mut self.pending);
        self.check(result)?;
        let mut dropped = Vec::new();
        for fid in gone {
            self.uncertain.remove(&fid);
            if let Some(old) = self.files.remove(&fid) {
                self.account(&old, false);
                dropped.push(old);
            }
        }
        if let Pending::Group { mut addrs, .. } = pending {
            // The group records (all but the commit) stay live while the commit is on flash; those in the
            // commit's sector go with it.
            addrs.pop();
            let head = self.head_idx();
            let erase = self.io.geo.erase;
            addrs.retain(|&a| a / erase != head);
            let fp0 = self.io.geo.fp(0);
            for &a in &addrs {
                self.add_live(a, fp0);
            }
            self.groups.push(Group {
                txn,
                seq: self.log.head_seq(),
                recs: addrs,
            });
        }
        for old in &dropped {
            let r = self.overwrite(old);
            self.check(r)?;
        }
        Ok(())
    }

    fn write_group(&mut self, kind: RecKind, list: &[u16], txn: u32, wipe: bool) -> Result<(), Error> {
        let hs = self.io.geo.hs;
        for &fid in list {
            self.ensure_room(hs)?;
            self.append(kind, fid, txn, 0, &[])?;
        }
        self.ensure_room(hs)?;
        self.append(RecKind::Commit, 0, txn, u32::from(wipe), &[])
    }

    /// Flash bytes programmed and sectors erased since mount.
    pub fn stats(&self) -> Stats {
        self.io.stats
    }

    /// The flash, for example to sync a `FileFlash`. Writing to it behind the store's back
    /// corrupts the store.
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.io.flash
    }

    /// Gives the flash back.
    pub fn into_flash(self) -> F {
        self.io.flash
    }

    // --- helpers ---

    /// The error for a read of a file the index does not have (or has in doubt).
    fn absent(&self, fid: u16) -> Error {
        if self.uncertain.contains(&fid) || (self.unknown_loss && !self.files.contains_key(&fid)) {
            Error::Corrupt
        } else {
            Error::NotFound
        }
    }

    /// Overwrites the data of a superseded or deleted version with zeros, whole write units: NOR flash
    /// clears bits without an erase. Called once the operation that drops it is committed. The record
    /// headers stay (the parse of the sector does not change); the data no longer matches its CRC.
    fn overwrite(&mut self, old: &Entry) -> Result<(), Error> {
        if !self.scrub {
            return Ok(());
        }
        let geo = self.io.geo;
        for p in old.pieces() {
            if p.len > 0 {
                self.io.zero(p.addr + geo.hs, align_up(p.len, geo.align))?;
            }
        }
        Ok(())
    }

    /// Whether sector `idx` is flagged `flag`.
    pub(crate) fn flagged(&self, idx: u32, flag: u8) -> bool {
        self.flags.get(idx as usize).is_some_and(|f| f & flag != 0)
    }

    /// With garbage collection off: how many free sectors follow the head before the first unplaced one
    /// (the log cannot grow past it).
    pub(crate) fn free_before_block(&self) -> u32 {
        let geo = self.io.geo;
        let free = geo.sectors - self.log.count;
        let mut idx = self.head_idx();
        let mut k = 0;
        while k < free {
            idx = geo.next(idx);
            if self.flagged(idx, UNPLACED) {
                break;
            }
            k += 1;
        }
        k
    }

    pub(crate) fn usable(&self) -> Result<(), Error> {
        if self.poisoned { Err(Error::Flash) } else { Ok(()) }
    }

    /// Poisons the store when a change failed part-way for a reason other than lack of space.
    fn check<T>(&mut self, r: Result<T, Error>) -> Result<T, Error> {
        if matches!(r, Err(e) if e != Error::Full) {
            self.poisoned = true;
        }
        r
    }

    fn alloc_txn(&mut self) -> Result<u32, Error> {
        let txn = u32::try_from(self.next_txn).map_err(|_| Error::Corrupt)?;
        self.next_txn += 1;
        Ok(txn)
    }

    /// Free bytes in the head sector.
    pub(crate) fn room(&self) -> u32 {
        if self.log.count == 0 {
            0
        } else {
            self.io.geo.erase.saturating_sub(self.head_pos)
        }
    }

    pub(crate) fn ensure_room(&mut self, need: u32) -> Result<(), Error> {
        let mut tries = 0;
        while self.room() < need {
            tries += 1;
            if tries > 3 * self.io.geo.sectors + 3 {
                return Err(Error::Full);
            }
            self.advance()?;
        }
        Ok(())
    }

    /// Appends a record at the head (the caller made room).
    fn append(&mut self, kind: RecKind, fid: u16, txn: u32, off: u32, data: &[u8]) -> Result<(), Error> {
        let geo = self.io.geo;
        let len = data.len() as u32;
        if geo.fp(len) > self.room() {
            return Err(Error::Corrupt);
        }
        let addr = geo.sector_addr(self.head_idx()) + self.head_pos;
        let h = RecHeader {
            kind,
            fid,
            txn,
            off,
            len,
            dcrc: crc32(data),
        };
        self.io.write_record(addr, &h, data)?;
        self.head_pos += geo.fp(len);
        match &mut self.pending {
            Pending::Write { pieces, .. } if matches!(kind, RecKind::Chunk | RecKind::Final) => {
                pieces.push(Piece {
                    addr,
                    off,
                    len,
                    verified: true,
                });
            }
            Pending::Group { addrs, .. } if matches!(kind, RecKind::DelGroup | RecKind::Keep | RecKind::Commit) => {
                addrs.push(addr);
            }
            _ => {}
        }
        Ok(())
    }
}

/// Checks a piece's record: header consistent with the index, data matching its CRC.
fn verify<F: NorFlash>(io: &mut Io<F>, p: &Piece) -> Result<bool, Error> {
    let geo = io.geo;
    let mut slot = [0u8; crate::format::RECORD_HEADER_LEN];
    io.read(p.addr, &mut slot)?;
    let Some(h) = RecHeader::decode(&slot, &geo) else {
        return Ok(false);
    };
    if h.off != p.off || h.len != p.len || !matches!(h.kind, RecKind::Chunk | RecKind::Final) {
        return Ok(false);
    }
    let mut digest = crate::format::crc_digest();
    let mut tmp = [0u8; 256];
    let mut done = 0u32;
    while done < p.len {
        let n = (p.len - done).min(tmp.len() as u32);
        let t = tmp.get_mut(..n as usize).ok_or(Error::Corrupt)?;
        io.read(p.addr + geo.hs + done, t)?;
        digest.update(t);
        done += n;
    }
    Ok(digest.finalize() == h.dcrc)
}

impl Log {
    pub fn head_seq(&self) -> u32 {
        self.tail_seq.wrapping_add(self.count.saturating_sub(1))
    }
}

impl<F: NorFlash> Store<F> {
    /// Physical index of the head sector.
    pub(crate) fn head_idx(&self) -> u32 {
        (self.log.tail + self.log.count.saturating_sub(1)) % self.io.geo.sectors
    }
}
