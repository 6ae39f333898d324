//! Mount (placement of sectors, recovery, scan) and format.
//!
//! Mount erases only what it can prove holds nothing of the store: the sector of a garbage-collection
//! step that was rolled back (its source is intact), the source of a finished step, sectors older than
//! the format sector that starts the log, sectors that cannot belong to the log (separated from it by a
//! blank sector, or by the proof that the sector before the tail was reclaimed), and non-blank sectors
//! next to the log whose records add nothing to what the log holds (torn leftovers of the above). A
//! sector next to the log that may hold data the log lacks is left untouched, reported and never used.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::mem;

use embedded_storage::nor_flash::{MultiwriteNorFlash, NorFlash};

use crate::format::{
    DONE_LEN, Geometry, RECORD_HEADER_LEN, RecHeader, RecKind, Records, SECTOR_HEADER_LEN, SectorHeader, SectorKind,
    align_up, crc32, done_mark,
};
use crate::index::{Entry, Group, Piece};
use crate::io::{Io, ZEROS};
use crate::store::Log;
use crate::{Error, MountReport, Stats, Store};

/// Sector flag: non-blank, outside the log, may hold data of the store: never erased, never used.
pub(crate) const UNPLACED: u8 = 1;

/// Records of sectors outside the log that mount examines at most (bounds RAM on hostile images); the
/// sectors beyond are left unplaced.
const MAX_OUTSIDE_RECORDS: usize = 8192;

/// Format floors above this are ignored (a hostile image could otherwise exhaust the `txn` space).
const MAX_FLOOR: u32 = 0x8000_0000;

/// What the data of a record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Data {
    /// It matches the header's CRC.
    Ok,
    /// All zero: overwritten once superseded (or a write cut by power, neutralized by mount).
    Zero,
    /// All `FF`: never programmed (a write cut by power before its data).
    Erased,
    /// Anything else: damaged, or an overwrite or a write cut by power part-way.
    Bad,
}

fn data_state(buf: &[u8], off: u32, h: &RecHeader, geo: &Geometry) -> Data {
    let start = (off + geo.hs) as usize;
    let Some(d) = buf.get(start..start + h.len as usize) else {
        return Data::Bad;
    };
    if crc32(d) == h.dcrc {
        Data::Ok
    } else if d.iter().all(|&b| b == 0) {
        Data::Zero
    } else if d.iter().all(|&b| b == 0xFF) {
        Data::Erased
    } else {
        Data::Bad
    }
}

/// What pass 1 learns about one file id.
#[derive(Clone, Default)]
struct FidScan {
    /// Newest `Final` whose data checks: (txn, address, file length).
    best: Option<(u32, u32, u32)>,
    /// Newest `Final` whose data is [`Data::Bad`] (not at the end of the log): (txn, address, length).
    bad: Option<(u32, u32, u32)>,
    /// Newest `Final` whose data is all zero: overwritten because a newer version committed.
    zeroed: Option<u32>,
    /// Newest `Del`.
    max_del: Option<u32>,
}

/// A `Final` at the very end of the log whose data does not check: a write cut by power, or damage.
#[derive(Clone, Copy)]
struct TailFinal {
    fid: u16,
    txn: u32,
    addr: u32,
    len: u32,
    data: Data,
}

/// Pass 1 of the scan: committed versions, deletes, groups.
#[derive(Clone, Default)]
struct Commits {
    fids: BTreeMap<u16, FidScan>,
    /// DelGroup records: (fid, txn, address).
    groups: Vec<(u16, u32, u32)>,
    keeps: BTreeMap<(u16, u32), u32>,
    /// txn → (wipe, seq of its sector, sector index).
    commits: BTreeMap<u32, (bool, u32, u32)>,
    max_txn: u32,
    /// Newest transaction with a `Final` (whatever its data).
    max_final: Option<u32>,
    tail: Option<TailFinal>,
}

impl Commits {
    /// Adds a record. `data` tells what a `Final`'s data holds; `at_tail` whether the record ends the log.
    fn add(&mut self, h: &RecHeader, addr: u32, seq: u32, idx: u32, data: impl FnOnce() -> Data, at_tail: bool) {
        self.max_txn = self.max_txn.max(h.txn);
        match h.kind {
            RecKind::Final => {
                self.max_final = self.max_final.max(Some(h.txn));
                let data = data();
                let st = self.fids.entry(h.fid).or_default();
                let this = Some((h.txn, addr, h.off.saturating_add(h.len)));
                let newer = |cur: Option<(u32, u32, u32)>| cur.is_none_or(|(t, _, _)| h.txn > t);
                match data {
                    _ if at_tail && data != Data::Ok => {
                        self.tail = Some(TailFinal {
                            fid: h.fid,
                            txn: h.txn,
                            addr,
                            len: h.off.saturating_add(h.len),
                            data,
                        });
                    }
                    Data::Ok if newer(st.best) => st.best = this,
                    Data::Bad if newer(st.bad) => st.bad = this,
                    Data::Zero => st.zeroed = st.zeroed.max(Some(h.txn)),
                    _ => {}
                }
            }
            RecKind::Del => {
                let st = self.fids.entry(h.fid).or_default();
                st.max_del = st.max_del.max(Some(h.txn));
            }
            RecKind::DelGroup => self.groups.push((h.fid, h.txn, addr)),
            RecKind::Keep => {
                self.keeps.insert((h.fid, h.txn), addr);
            }
            RecKind::Commit => {
                self.commits.insert(h.txn, (h.off == 1, seq, idx));
            }
            RecKind::Chunk => {}
        }
    }

    /// Decides each file's current version.
    ///
    /// A `Final` whose data checks commits its version. One whose data does not is, with `strict` (the
    /// store overwrites what it supersedes and mount neutralizes what a power cut leaves at the end of the
    /// log, so an image holds no other torn record):
    /// - at the end of the log, a write cut by power, unless the file's previous version was overwritten
    ///   with zeros and no intact version follows the file's last delete: then the write had committed
    ///   (versions are overwritten only once their successor is committed) and the record is damaged;
    /// - elsewhere, damaged (the file reads `Corrupt`), unless an intact version newer than the file's
    ///   last delete precedes it: then it was never committed (a write cut by power on an image written
    ///   before torn records were neutralized).
    ///
    /// Without `strict` such a record is no commit: the older version, if any, is the file.
    fn resolve(&self, strict: bool) -> Resolved {
        let mut max_del: BTreeMap<u16, u32> = self
            .fids
            .iter()
            .filter_map(|(f, st)| st.max_del.map(|d| (*f, d)))
            .collect();
        for &(fid, txn, _) in &self.groups {
            if self.commits.contains_key(&txn) {
                let d = max_del.entry(fid).or_insert(txn);
                *d = (*d).max(txn);
            }
        }
        let wipes: Vec<u32> = self.commits.iter().filter(|(_, c)| c.0).map(|(t, _)| *t).collect();
        let mut winners = BTreeMap::new();
        let mut best = BTreeMap::new();
        let mut torn_tail = self.tail.is_some();
        for (fid, st) in &self.fids {
            // The newest delete of the file, by a `Del`, a committed `DelGroup` or a wipe that does not keep it.
            let wiped = wipes
                .iter()
                .filter(|&&w| !self.keeps.contains_key(&(*fid, w)))
                .max()
                .copied();
            let gone = max_del.get(fid).copied().max(wiped);
            let intact_since_delete = st.best.is_some_and(|(t, _, _)| gone.is_none_or(|g| t > g));
            let mut cand = st.best.map(|(t, a, l)| (t, a, l, false));
            if strict
                && let Some((t, a, l)) = st.bad
                && cand.is_none_or(|c| t > c.0)
                && !intact_since_delete
            {
                cand = Some((t, a, l, true));
            }
            if strict
                && let Some(tail) = self.tail.filter(|t| t.fid == *fid && t.data == Data::Bad)
                && !intact_since_delete
                && st.zeroed.is_some_and(|z| gone.is_none_or(|g| z > g))
                && cand.is_none_or(|c| tail.txn > c.0)
            {
                cand = Some((tail.txn, tail.addr, tail.len, true));
                torn_tail = false;
            }
            let Some((txn, addr, len, broken)) = cand else { continue };
            best.insert(*fid, txn);
            if gone.is_some_and(|g| g > txn) {
                continue;
            }
            winners.insert(*fid, (txn, addr, len, broken));
        }
        Resolved {
            best,
            max_del,
            wipes,
            winners,
            torn_tail,
        }
    }
}

struct Resolved {
    /// Newest committed version of each file (deleted or not).
    best: BTreeMap<u16, u32>,
    /// Newest committed delete of each file.
    max_del: BTreeMap<u16, u32>,
    wipes: Vec<u32>,
    /// The files: fid → (txn, address of the `Final`, length, whether its data is damaged).
    winners: BTreeMap<u16, (u32, u32, u32, bool)>,
    /// The `Final` at the end of the log (`Commits::tail`), if any, is a write cut by power.
    torn_tail: bool,
}

impl Resolved {
    /// Whether the data records of version `txn` of `fid` are dead for certain: a newer version is
    /// committed, or a committed delete or wipe hides them. (A version newer than every commit is not:
    /// it may be a write cut short, or a damaged commit whose remains must stay.) Without `trust_wipes`
    /// (a record may be lost: the `Keep` of a wipe among them) wipes do not count.
    fn superseded(&self, keeps: &BTreeMap<(u16, u32), u32>, fid: u16, txn: u32, trust_wipes: bool) -> bool {
        self.best.get(&fid).is_some_and(|&b| txn < b)
            || self.max_del.get(&fid).is_some_and(|&d| txn < d)
            || trust_wipes && self.wipes.iter().any(|&w| w > txn && !keeps.contains_key(&(fid, w)))
    }
}

#[derive(Default)]
struct Found {
    rest: Vec<Piece>,
    last: Option<Piece>,
    conflict: bool,
}

/// What a power cut may have left at the end of the head sector, the only place a write is torn: a record
/// header slot that does not parse (followed by dead slots only: a neutralization cut short), or a record
/// whose data does not check. Mount neutralizes it by overwriting it with zeros.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Torn {
    None,
    /// The offset of the slot in the sector.
    Slot(u32),
    /// The offset and header of the record.
    Record(u32, RecHeader),
    /// A `Final` whose data is all zero once complete (offset and header): overwriting its data with
    /// zeros would complete it, so it is completed (the write counts as done) rather than neutralized.
    Complete(u32, RecHeader),
}

/// How mount deals with a [`Torn`] record.
#[derive(Clone, Copy)]
enum TornFix {
    /// Overwrite `bytes` at `addr` (a slot or a whole record) with zeros, the header last; appending
    /// resumes at `resume` in the head sector.
    Neutralize { addr: u32, bytes: u32, resume: u32 },
    /// Overwrite the data (`bytes` after the header at `addr`) of a [`Torn::Complete`] record with zeros.
    Complete { addr: u32, bytes: u32 },
}

/// What the scan of the log hands back to mount.
struct Scan {
    commits: Commits,
    /// Superseded data records still holding data: (address, data length).
    dead: Vec<(u32, u32)>,
    /// Data records of a write a power cut interrupted (the newest transaction, never committed):
    /// (address, data length). Dead unless a sector that may continue the log follows the head.
    orphans: Vec<(u32, u32)>,
    /// Records found only by scanning the unparsed part of a sector.
    hidden: Vec<RecHeader>,
    resolved: Resolved,
    /// What to do about what a power cut left at the end of the log.
    torn: Option<TornFix>,
    /// Record headers of the log that needed a one-bit repair: address → corrected header.
    repaired: BTreeMap<u32, RecHeader>,
    /// The address of the record at the end of the log if its header needed a repair: a header write cut
    /// by power just short of complete.
    end_repair: Option<u32>,
}

/// One sector as mount sees it.
#[derive(Clone, Copy)]
struct Sector {
    header: Option<SectorHeader>,
    repaired: bool,
}

impl<F: MultiwriteNorFlash> Store<F> {
    /// Mounts the store on `flash` (the whole device). A blank flash gives an empty store (sectors are
    /// formatted as they are first used).
    ///
    /// Recovers from any interrupted operation: an unfinished garbage-collection step is rolled back or
    /// completed, leftovers of interrupted steps and formats are erased, and superseded or deleted records
    /// still holding data (an interrupted overwrite) are overwritten, and so is what a power cut left of a
    /// write that never committed (a torn record at the end of the log, its version's data).
    ///
    /// Damage is repaired where that is certain (one flipped bit in a header; a sector whose header does
    /// not check but whose place in the log is proven by its neighbours) and otherwise reported in
    /// [`Store::report`]: nothing that may hold data of the store is erased. An image with no sector that
    /// can be placed, but non-blank sectors, gives [`Error::Corrupt`]; a hostile image never makes it panic
    /// or loop (every scan is bounded by the flash size).
    pub fn mount(flash: F) -> Result<Self, Error> {
        Self::mount_inner(flash, true)
    }

    /// Erases everything and formats. Atomic: a power cut leaves the old store or an empty one.
    pub fn format(flash: F) -> Result<Self, Error> {
        Self::format_inner(flash, true)
    }
}

impl<F: NorFlash> Store<F> {
    /// [`Store::mount`] for a flash that cannot program a write unit twice between erases (flash with
    /// ECC words): superseded and deleted records are then **not** overwritten; they stay on flash until
    /// garbage collection erases their sector.
    pub fn mount_without_overwrite(flash: F) -> Result<Self, Error> {
        Self::mount_inner(flash, false)
    }

    /// [`Store::format`] for a flash that cannot program a write unit twice (see
    /// [`Store::mount_without_overwrite`]).
    pub fn format_without_overwrite(flash: F) -> Result<Self, Error> {
        Self::format_inner(flash, false)
    }

    fn mount_inner(flash: F, scrub: bool) -> Result<Self, Error> {
        let geo = Geometry::new(flash.capacity(), F::ERASE_SIZE, F::WRITE_SIZE, F::READ_SIZE)?;
        Self::mount_io(
            Io {
                flash,
                geo,
                stats: Stats::default(),
            },
            scrub,
        )
    }

    fn format_inner(flash: F, scrub: bool) -> Result<Self, Error> {
        let geo = Geometry::new(flash.capacity(), F::ERASE_SIZE, F::WRITE_SIZE, F::READ_SIZE)?;
        let mut io = Io {
            flash,
            geo,
            stats: Stats::default(),
        };
        let sectors = read_headers(&mut io)?;
        let newest = sectors
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.header.map(|h| (i as u32, h.seq)))
            .max_by_key(|&(i, seq)| (seq, core::cmp::Reverse(i)));
        // Transactions after the format number above every record on flash, so that no leftover of the
        // old store (a torn erase below) can pass for a record of the new one.
        let mut buf = Vec::new();
        let mut max_txn = 0u32;
        for i in 0..geo.sectors {
            io.read_sector(i, &mut buf)?;
            if buf.iter().all(|&b| b == 0xFF) {
                continue;
            }
            for (_, h) in Records::new(&buf, &geo) {
                max_txn = max_txn.max(h.txn);
            }
        }
        let floor = if max_txn < MAX_FLOOR { max_txn + 1 } else { 1 };
        // The format sector takes a sequence number larger than any sector's, so it is the commit point;
        // it goes in a sector without a header (the old log stays intact until it exists), preferably the
        // one after the newest sector, preferably blank.
        let free = |i: u32| sectors.get(i as usize).is_some_and(|s| s.header.is_none());
        let (target, seq) = match newest {
            Some((i, seq)) => {
                let after = geo.next(i);
                let mut target = None;
                if free(after) && sector_blank(&mut io, after)? {
                    target = Some(after);
                }
                for j in 0..geo.sectors {
                    if target.is_none() && free(j) && sector_blank(&mut io, j)? {
                        target = Some(j);
                    }
                }
                let target = target.unwrap_or(if free(after) {
                    after
                } else {
                    (0..geo.sectors).find(|&j| free(j)).unwrap_or(after)
                });
                (target, seq.checked_add(1).unwrap_or(1))
            }
            None => (0, 1),
        };
        if newest.is_some_and(|(_, s)| s == u32::MAX) {
            for i in 0..geo.sectors {
                erase_unless_blank(&mut io, i)?;
            }
        }
        erase_unless_blank(&mut io, target)?;
        let header = SectorHeader {
            kind: SectorKind::Format,
            seq,
            src: floor,
        }
        .encode(&geo);
        io.write_padded(geo.sector_addr(target), &header)?;
        for i in (0..geo.sectors).filter(|&i| i != target) {
            erase_unless_blank(&mut io, i)?;
        }
        Self::mount_io(io, scrub)
    }

    fn mount_io(mut io: Io<F>, scrub: bool) -> Result<Self, Error> {
        let geo = io.geo;
        let n = geo.sectors;
        let sectors = read_headers(&mut io)?;
        let mut report = MountReport::default();
        let header = |i: u32| sectors.get(i as usize).and_then(|s| s.header);
        let newest = sectors
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.header.map(|h| (i as u32, h)))
            .max_by_key(|&(i, h)| (h.seq, core::cmp::Reverse(i)));
        let Some((head, head_header)) = newest else {
            return Self::mount_headerless(io, scrub, report);
        };
        // A header one bit short in the newest sector is a sector open cut by power (then completed), not
        // damage.
        for (i, s) in sectors.iter().enumerate() {
            if s.repaired && i as u32 != head {
                report.repaired_sectors.push(i as u32);
            }
        }

        // The log: walk back from the newest sector over consecutive sequence numbers. A sector whose
        // header does not check is bridged when an older sector further back carries the sequence number
        // its position implies (a log sector is never blank), or when its done mark names that number.
        let mut run = alloc::vec![head]; // newest first
        let mut placed: Vec<u32> = Vec::new();
        let mut gap: Vec<u32> = Vec::new();
        let mut oldest_kind = head_header.kind;
        let mut p = geo.prev(head);
        while oldest_kind != SectorKind::Format && ((run.len() + gap.len()) as u32) < n {
            let Some(expected) = head_header.seq.checked_sub((run.len() + gap.len()) as u32) else {
                break;
            };
            match header(p) {
                Some(h) if h.seq == expected => {
                    placed.append(&mut gap.clone());
                    run.append(&mut gap);
                    run.push(p);
                    oldest_kind = h.kind;
                }
                Some(_) => break,
                None if is_done(&mut io, p, expected)? => {
                    placed.append(&mut gap.clone());
                    run.append(&mut gap);
                    run.push(p);
                    placed.push(p);
                    oldest_kind = SectorKind::Gc;
                }
                None if sector_blank(&mut io, p)? => break,
                None => gap.push(p),
            }
            p = geo.prev(p);
        }
        run.reverse(); // oldest first
        // Forward: a damaged GC sector after the head is placed by its done mark.
        loop {
            let next = geo.next(*run.last().unwrap_or(&head));
            let seq = head_header.seq.checked_add((run.len() - run_pos(&run, head)) as u32);
            match seq {
                Some(seq) if (run.len() as u32) < n && header(next).is_none() && is_done(&mut io, next, seq)? => {
                    run.push(next);
                    placed.push(next);
                }
                _ => break,
            }
        }
        let tail_seq0 = head_header.seq.wrapping_sub(run_pos(&run, head) as u32);
        // Kind, done and source of each log sector (by position for damaged ones: a GC step opens the
        // reserve when S - 1 sectors are in use, so its source is S - 1 sequence numbers back).
        let mut info: Vec<(SectorKind, bool, u32)> = Vec::with_capacity(run.len());
        for (k, &idx) in run.iter().enumerate() {
            let seq = tail_seq0.wrapping_add(k as u32);
            let entry = match header(idx) {
                Some(h) if h.kind == SectorKind::Gc => (h.kind, is_done(&mut io, idx, seq)?, h.src),
                Some(h) => (h.kind, false, h.src),
                None if is_done(&mut io, idx, seq)? => (SectorKind::Gc, true, seq.wrapping_sub(n - 1)),
                None => (SectorKind::Normal, false, u32::MAX),
            };
            info.push(entry);
        }
        let mut tail_seq = tail_seq0;

        // An unfinished GC step is rolled back: its sector is dropped, the source (the tail) is intact. If
        // the source is gone the step had finished (its done mark is damaged): the sector stays.
        let mut rolled_back = None;
        if let (Some(&(SectorKind::Gc, false, src)), true) = (info.last(), run.len() >= 2)
            && src == tail_seq
        {
            rolled_back = run.pop();
            info.pop();
        }
        // A finished one whose source was not erased yet: the source is dropped.
        let mut finished = None;
        if info
            .iter()
            .skip(1)
            .any(|&(kind, done, src)| kind == SectorKind::Gc && done && src == tail_seq)
        {
            finished = Some(run.remove(0));
            info.remove(0);
            tail_seq = tail_seq.wrapping_add(1);
        }
        let (tail_kind, _, tail_src) = info.first().copied().unwrap_or((SectorKind::Normal, false, 0));
        // The sector before the tail holds nothing of the log if the log starts at the tail, or if a
        // finished GC step in the log reclaimed it.
        let proven_start = tail_kind == SectorKind::Format
            || tail_seq == 1
            || info
                .iter()
                .any(|&(kind, done, src)| kind == SectorKind::Gc && done && Some(src) == tail_seq.checked_sub(1));
        let floor = (tail_kind == SectorKind::Format && tail_src < MAX_FLOOR).then_some(tail_src);
        placed.retain(|i| run.contains(i));
        placed.sort_unstable();
        report.placed_sectors = placed;

        let max_seq = sectors
            .iter()
            .filter_map(|s| s.header)
            .map(|h| h.seq)
            .max()
            .unwrap_or(0);
        let mut store = Self::empty(io, scrub);
        store.next_seq = max_seq.saturating_add(1);
        let head_idx = run.last().copied().unwrap_or(head);
        // Unless a sector that may continue the log follows the head, the head's end is the store's.
        // (A rolled-back garbage-collection step there is a proven leftover.)
        let tail_rule = run.len() as u32 >= n
            || Some(geo.next(head_idx)) == rolled_back
            || sector_blank(&mut store.io, geo.next(head_idx))?;
        let mut scan = None;
        if let Some(&tail) = run.first() {
            store.log = Log {
                tail,
                tail_seq,
                count: run.len() as u32,
            };
            scan = Some(store.scan(&run, tail_rule, &mut report)?);
        }

        // The sectors outside the log, from the one after the head round to the one before the tail.
        let outside: Vec<u32> = core::iter::successors(Some(geo.next(head_idx)), |&i| Some(geo.next(i)))
            .take((n as usize).saturating_sub(run.len()))
            .collect();
        // Sectors that could still be log sectors the walk could not place (their header is damaged):
        // the non-blank run right after the head, and, unless the start of the log is proven, the one
        // right before the tail. Everything else outside the log cannot belong to it.
        let mut near: Vec<u32> = Vec::new();
        for &i in &outside {
            if Some(i) == rolled_back || Some(i) == finished || header(i).is_some() || sector_blank(&mut store.io, i)? {
                break;
            }
            near.push(i);
        }
        let after_head = near.len();
        if !proven_start {
            for &i in outside.iter().rev() {
                if near.contains(&i) {
                    break;
                }
                if Some(i) == rolled_back
                    || Some(i) == finished
                    || header(i).is_some()
                    || sector_blank(&mut store.io, i)?
                {
                    break;
                }
                near.push(i);
            }
        }
        let (unplaced, outside_txn) = match &scan {
            Some(scan) => store.judge_near(&near, scan, floor)?,
            None => (near.clone(), 0),
        };
        for &i in &unplaced {
            if let Some(f) = store.flags.get_mut(i as usize) {
                *f |= UNPLACED;
            }
        }
        report.unplaced_sectors = unplaced.clone();
        report.unplaced_sectors.sort_unstable();

        let mut max_txn = outside_txn;
        if let Some(scan) = &scan {
            max_txn = max_txn.max(scan.commits.max_txn);
            // A hidden record puts in doubt the files it could change: those it is newer than.
            let known = |f: u16| {
                let r = &scan.resolved;
                r.best.get(&f).copied().max(r.max_del.get(&f).copied())
            };
            for h in &scan.hidden {
                max_txn = max_txn.max(h.txn);
                if h.kind == RecKind::Commit {
                    let fids = scan.commits.fids.keys().copied();
                    store
                        .uncertain
                        .extend(fids.filter(|&f| known(f).is_some_and(|k| k < h.txn)));
                } else if known(h.fid).is_none_or(|k| h.txn > k) {
                    store.uncertain.insert(h.fid);
                }
            }
        }
        store.next_txn = (u64::from(max_txn) + 1).max(u64::from(floor.unwrap_or(0)));
        store.unknown_loss = !report.unparsed_sectors.is_empty();
        // Records may be missing: garbage collection could erase data they would make live.
        store.frozen = !report.unparsed_sectors.is_empty() || !report.unplaced_sectors.is_empty();
        report.uncertain_files = store.uncertain.iter().copied().collect();
        report.damaged_files = store.files.iter().filter(|(_, e)| e.broken).map(|(f, _)| *f).collect();

        // Recovery: leftovers are erased now so that they cannot come back (a rolled-back or finished GC
        // step, sectors older than the format sector, and sectors that cannot belong to the log but still
        // carry a header), as are near sectors that hold nothing the log lacks.
        let mut erase: Vec<u32> = rolled_back.into_iter().chain(finished).collect();
        for &i in &outside {
            if header(i).is_some() && !unplaced.contains(&i) {
                erase.push(i);
            }
        }
        for &i in &near {
            if !unplaced.contains(&i) {
                erase.push(i);
            }
        }
        erase.sort_unstable();
        erase.dedup();
        for &i in &erase {
            store.io.erase_sector(i)?;
        }
        report.erased_sectors = erase;

        // Superseded and deleted records that still hold data (an overwrite cut short, or records written
        // before overwriting existed) are overwritten now, and so is what a power cut left of a write at the
        // end of the log: data first, then the header (a cut in between leaves a record the next mount
        // takes for torn again).
        if let Some(scan) = scan
            && scrub
        {
            // Orphans are dead for certain unless the log may continue after the head (an unplaced sector
            // there may hold their `Final`).
            let orphans_dead = tail_rule || !near.iter().take(after_head).any(|i| unplaced.contains(i));
            let orphans = scan.orphans.iter().filter(|_| orphans_dead);
            // A header corrected by one bit is completed on flash before its data is overwritten (the
            // correction may rest on the data); one that cannot be completed (a bit to set) stays with its
            // data.
            let repaired = &scan.repaired;
            let fixed = |io: &mut Io<F>, addr: u32| match repaired.get(&addr) {
                Some(h) => complete_header(io, addr, &h.encode()),
                None => Ok(true),
            };
            // Headers a power cut left one bit short are completed, so that they do not pass for damage
            // once more records follow them.
            if let Some(addr) = scan.end_repair {
                fixed(&mut store.io, addr)?;
            }
            for &(addr, len) in scan.dead.iter().chain(orphans) {
                if fixed(&mut store.io, addr)? {
                    store.io.zero(addr + geo.hs, align_up(len, geo.align))?;
                    report.scrubbed_records += 1;
                }
            }
            match scan.torn {
                Some(TornFix::Complete { addr, bytes }) if fixed(&mut store.io, addr)? => {
                    store.io.zero(addr + geo.hs, bytes)?;
                    report.scrubbed_records += 1;
                }
                Some(TornFix::Neutralize { addr, bytes, resume }) if bytes == geo.hs || fixed(&mut store.io, addr)? => {
                    if bytes > geo.hs {
                        store.io.zero(addr + geo.hs, bytes - geo.hs)?;
                    }
                    store.io.zero(addr, geo.hs)?;
                    store.head_pos = resume;
                    report.scrubbed_records += 1;
                }
                _ => {}
            }
            if sectors.get(head as usize).is_some_and(|s| s.repaired) && run.contains(&head) {
                complete_header(&mut store.io, geo.sector_addr(head), &head_header.encode(&geo))?;
            }
        }
        store.report = report;
        Ok(store)
    }

    /// Mount when no sector header checks: a blank flash, or one whose very first sector open was torn
    /// (one sector holding nothing but part of a header). Anything else may be data: [`Error::Corrupt`].
    fn mount_headerless(mut io: Io<F>, scrub: bool, report: MountReport) -> Result<Self, Error> {
        let geo = io.geo;
        let mut dirty = 0;
        for i in 0..geo.sectors {
            if sector_blank(&mut io, i)? {
                continue;
            }
            dirty += 1;
            let rest = geo.sector_addr(i) + geo.sh;
            if dirty > 1 || !io.is_blank(rest, geo.erase - geo.sh)? {
                return Err(Error::Corrupt);
            }
        }
        let mut store = Self::empty(io, scrub);
        store.report = report;
        Ok(store)
    }

    /// Decides, for each non-blank sector next to the log that the walk could not place (`near`), whether
    /// it may hold data the log lacks: it does if adding its records to the log's changes a file (a newer
    /// version, a delete, a missing piece). Returns those sectors (left unplaced) and the largest `txn`
    /// seen in all of them; marks the files concerned as uncertain.
    fn judge_near(&mut self, near: &[u32], scan: &Scan, floor: Option<u32>) -> Result<(Vec<u32>, u32), Error> {
        if near.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let geo = self.io.geo;
        let mut buf = mem::take(&mut self.buf);
        let mut sim = scan.commits.clone();
        // (sector, header) of every record found.
        let mut recs: Vec<(u32, RecHeader)> = Vec::new();
        let mut too_many: Vec<u32> = Vec::new();
        let mut max_txn = 0u32;
        let mut result = Ok(());
        for &idx in near {
            if recs.len() >= MAX_OUTSIDE_RECORDS {
                too_many.push(idx);
                continue;
            }
            if let Err(e) = self.io.read_sector(idx, &mut buf) {
                result = Err(e);
                break;
            }
            let base = geo.sector_addr(idx);
            // Any offset: a leftover of a torn erase may have lost its first records, not its last.
            let mut o = geo.area_start();
            while o + geo.hs <= geo.erase {
                let h = buf
                    .get(o as usize..o as usize + RECORD_HEADER_LEN)
                    .and_then(|b| RecHeader::decode(b, &geo))
                    .filter(|h| o + geo.fp(h.len) <= geo.erase);
                if let Some(h) = h {
                    max_txn = max_txn.max(h.txn);
                    // Below the format's floor: a leftover of the store the format replaced.
                    if floor.is_none_or(|f| h.txn >= f) {
                        sim.add(&h, base + o, u32::MAX, idx, || data_state(&buf, o, &h, &geo), false);
                        recs.push((idx, h));
                    }
                }
                o += geo.align;
            }
        }
        self.buf = buf;
        result?;
        // Leftovers are judged leniently (a record whose data does not check is no commit), against the
        // log judged the same way.
        let after = sim.resolve(false);
        let before = &scan.commits.resolve(false).winners;
        let view = |w: Option<&(u32, u32, u32, bool)>| w.map(|&(t, _, l, _)| (t, l));
        let mut changed: BTreeSet<u16> = BTreeSet::new();
        for fid in before.keys().chain(after.winners.keys()) {
            if view(before.get(fid)) != view(after.winners.get(fid)) {
                changed.insert(*fid);
            }
        }
        let mut harmful: BTreeSet<u32> = too_many.iter().copied().collect();
        for (idx, h) in &recs {
            let bad = match h.kind {
                RecKind::Chunk | RecKind::Final => {
                    changed.contains(&h.fid)
                        || after.winners.get(&h.fid).is_some_and(|w| w.0 == h.txn) && !self.has_piece(h)
                }
                RecKind::Del | RecKind::DelGroup | RecKind::Keep => changed.contains(&h.fid),
                RecKind::Commit => !changed.is_empty(),
            };
            if bad {
                harmful.insert(*idx);
                if !matches!(h.kind, RecKind::Commit) {
                    self.uncertain.insert(h.fid);
                }
            }
        }
        for fid in changed {
            self.uncertain.insert(fid);
        }
        Ok((near.iter().copied().filter(|i| harmful.contains(i)).collect(), max_txn))
    }

    /// Whether the index holds the piece `h` describes (same version, offset and length).
    fn has_piece(&self, h: &RecHeader) -> bool {
        self.files
            .get(&h.fid)
            .is_some_and(|e| e.txn == h.txn && e.pieces().any(|p| p.off == h.off && p.len == h.len))
    }

    /// Rebuilds the index from the log sectors (`run`, oldest first), in two passes: the first finds
    /// each file's newest committed version, the second collects that version's records. With
    /// `tail_rule` the end of the head sector is the end of the store (no sector that may continue the
    /// log follows it), so what a power cut left there can be told from damage.
    fn scan(&mut self, run: &[u32], tail_rule: bool, report: &mut MountReport) -> Result<Scan, Error> {
        let mut buf = mem::take(&mut self.buf);
        let result = self.scan_with(run, tail_rule, &mut buf, report);
        self.buf = buf;
        result
    }

    fn scan_with(
        &mut self,
        run: &[u32],
        tail_rule: bool,
        buf: &mut Vec<u8>,
        report: &mut MountReport,
    ) -> Result<Scan, Error> {
        let geo = self.io.geo;
        let strict = self.scrub;
        let head = run.last().copied();
        let (mut torn, mut end_record) = (Torn::None, None);
        if let Some(head) = head
            && tail_rule
        {
            self.io.read_sector(head, buf)?;
            (torn, end_record) = torn_tail(buf, &geo);
            if !strict {
                torn = Torn::None;
            }
        }
        let mut end_repair: Option<u32> = None;
        let mut repaired: BTreeMap<u32, RecHeader> = BTreeMap::new();
        let mut c = Commits::default();
        let mut hidden: Vec<RecHeader> = Vec::new();

        // Pass 1: commits.
        for (k, &idx) in run.iter().enumerate() {
            let seq = self.log.tail_seq.wrapping_add(k as u32);
            self.io.read_sector(idx, buf)?;
            let base = geo.sector_addr(idx);
            let tail_off = match torn {
                Torn::Record(o, _) if Some(idx) == head => Some(o),
                _ => None,
            };
            let complete = match torn {
                Torn::Complete(o, _) if Some(idx) == head => Some(o),
                _ => None,
            };
            let mut records = Records::new(buf, &geo);
            while let Some((off, h)) = records.next() {
                let data = || {
                    if Some(off) == complete {
                        Data::Ok
                    } else {
                        data_state(buf, off, &h, &geo)
                    }
                };
                c.add(&h, base + off, seq, idx, data, Some(off) == tail_off);
                if records.repaired.last() == Some(&off) {
                    repaired.insert(base + off, h);
                    // A header one bit short at the end of the log is a write cut by power (then
                    // completed), not damage.
                    if Some(idx) == head && Some(off) == end_record {
                        end_repair = Some(base + off);
                    } else {
                        report.repaired_records += 1;
                    }
                }
            }
            report.bad_record_slots += records.bad_slots.len() as u32;
            let mut clean = records.finish(|_, h| hidden.push(h));
            // What a power cut leaves is neutralized (dead slots) or at the end of the log: with
            // neutralization any other slot that does not parse is damage, and hides a record.
            let torn_slot = match torn {
                Torn::Slot(o) if Some(idx) == head => Some(o),
                _ => None,
            };
            if strict && records.suspicious().any(|o| Some(o) != torn_slot) {
                clean = false;
            }
            if !clean {
                report.unparsed_sectors.push(idx);
            }
        }
        let resolved = c.resolve(strict);
        let winners = &resolved.winners;
        // With a record lost to damage, a wipe may lack the `Keep` of a file it does not delete.
        let trust_wipes = report.unparsed_sectors.is_empty();
        // The data of the write a power cut interrupted, never committed: the version of the torn `Final`,
        // or the newest transaction if it has no `Final` (a write is the only operation with data, and its
        // `Final` is its last record). Only on an image where no record can be missing.
        let orphan_txn = match torn {
            _ if !strict || !report.unparsed_sectors.is_empty() => None,
            Torn::Record(_, h) if h.kind == RecKind::Final => resolved.torn_tail.then_some(h.txn),
            _ => c.max_final.is_none_or(|t| t < c.max_txn).then_some(c.max_txn),
        };

        // Pass 2: the records of the winning versions, and the superseded ones still holding data.
        let mut found: BTreeMap<u16, Found> = BTreeMap::new();
        let mut dead: Vec<(u32, u32)> = Vec::new();
        let mut orphans: Vec<(u32, u32)> = Vec::new();
        let mut head_end = geo.erase;
        for &idx in run {
            self.io.read_sector(idx, buf)?;
            let base = geo.sector_addr(idx);
            let mut records = Records::new(buf, &geo);
            for (off, h) in &mut records {
                if !matches!(h.kind, RecKind::Chunk | RecKind::Final) {
                    continue;
                }
                let start = (off + geo.hs) as usize;
                let zeroed = || {
                    buf.get(start..start + align_up(h.len, geo.align) as usize)
                        .is_none_or(|d| d.iter().all(|&b| b == 0))
                };
                if h.len > 0 && resolved.superseded(&c.keeps, h.fid, h.txn, trust_wipes) && !zeroed() {
                    dead.push((base + off, h.len));
                } else if h.len > 0 && h.kind == RecKind::Chunk && orphan_txn == Some(h.txn) && !zeroed() {
                    orphans.push((base + off, h.len));
                }
                let Some(&(txn, final_addr, _, broken)) = winners.get(&h.fid) else {
                    continue;
                };
                if txn != h.txn {
                    continue;
                }
                let f = found.entry(h.fid).or_default();
                let piece = Piece {
                    addr: base + off,
                    off: h.off,
                    len: h.len,
                    verified: false,
                };
                if h.kind == RecKind::Final {
                    if piece.addr == final_addr {
                        f.last = Some(Piece {
                            verified: !broken,
                            ..piece
                        });
                    } else {
                        f.conflict = true;
                    }
                } else {
                    f.rest.push(piece);
                }
            }
            head_end = records.end();
        }
        // Appending resumes after the last record of the head sector, if the rest of it is blank (it
        // always is unless the image was damaged or tampered with; otherwise the head is closed).
        let tail_blank = buf
            .get(head_end as usize..)
            .is_some_and(|t| t.iter().all(|&b| b == 0xFF));
        self.head_pos = if tail_blank { head_end } else { geo.erase };
        // A torn record is overwritten whole: its slots become dead, and appending resumes at the next slot
        // boundary after it (the parse of dead slots steps by whole slots).
        let torn = match (torn, head) {
            (Torn::Slot(o), Some(head)) => Some(TornFix::Neutralize {
                addr: geo.sector_addr(head) + o,
                bytes: geo.hs,
                resume: self.head_pos,
            }),
            (Torn::Complete(o, h), Some(head)) => Some(TornFix::Complete {
                addr: geo.sector_addr(head) + o,
                bytes: align_up(h.len, geo.align),
            }),
            (Torn::Record(o, h), Some(head)) if h.kind == RecKind::Chunk || resolved.torn_tail => {
                let bytes = geo.fp(h.len);
                Some(TornFix::Neutralize {
                    addr: geo.sector_addr(head) + o,
                    bytes,
                    resume: o.saturating_add(align_up(bytes, geo.hs)).min(geo.erase),
                })
            }
            _ => None,
        };

        for (&fid, &(txn, _, len, broken)) in winners {
            let f = found.remove(&fid).unwrap_or_default();
            let Some(last) = f.last else { continue };
            let mut rest = f.rest;
            rest.sort_unstable_by_key(|p| p.off);
            let mut broken = broken || f.conflict;
            let mut expect = 0u32;
            for p in &rest {
                broken |= p.off != expect;
                expect = p.off.saturating_add(p.len);
            }
            broken |= last.off != expect || last.off.saturating_add(last.len) != len;
            let entry = Entry {
                txn,
                len,
                last,
                rest,
                broken,
            };
            self.account(&entry, true);
            self.files.insert(fid, entry);
        }
        let fp0 = geo.fp(0);
        // Committed groups on flash: their group records outside the commit's sector stay live while the
        // commit is on flash (the same rule as `Store::retain`).
        let outside = |idx: u32| move |a: &u32| *a / geo.erase != idx;
        self.groups = c
            .commits
            .iter()
            .map(|(&txn, &(wipe, seq, idx))| Group {
                txn,
                seq,
                recs: if wipe {
                    c.keeps
                        .iter()
                        .filter(|((_, t), _)| *t == txn)
                        .map(|(_, &a)| a)
                        .filter(outside(idx))
                        .collect()
                } else {
                    c.groups
                        .iter()
                        .filter(|&&(_, t, _)| t == txn)
                        .map(|&(_, _, a)| a)
                        .filter(outside(idx))
                        .collect()
                },
            })
            .collect();
        let rec_addrs: Vec<u32> = self.groups.iter().flat_map(|g| g.recs.iter().copied()).collect();
        for a in rec_addrs {
            self.add_live(a, fp0);
        }
        Ok(Scan {
            commits: c,
            repaired,
            end_repair,
            dead,
            hidden,
            resolved,
            orphans,
            torn,
        })
    }
}

/// The CRC of `len` zero bytes.
fn zeros_crc(len: u32) -> u32 {
    let mut digest = crate::format::crc_digest();
    let mut left = len as usize;
    while left > 0 {
        let n = left.min(ZEROS.len());
        digest.update(ZEROS.get(..n).unwrap_or_default());
        left -= n;
    }
    digest.finalize()
}

/// What a power cut may have left at the end of the head sector `buf` (see [`Torn`]), and the offset of
/// the last record if nothing but `FF` follows it (the record a power cut may have torn).
fn torn_tail(buf: &[u8], geo: &Geometry) -> (Torn, Option<u32>) {
    let mut records = Records::new(buf, geo);
    for _ in records.by_ref() {}
    let end = records.end() as usize;
    if !buf.get(end..).is_some_and(|t| t.iter().all(|&b| b == 0xFF)) {
        return (Torn::None, None);
    }
    let after = records.last.map_or(geo.area_start(), |(o, h)| o + geo.fp(h.len));
    let trailing: Vec<(u32, bool)> = records.bad_slots.iter().copied().filter(|&(o, _)| o >= after).collect();
    let last = records.last.map(|(o, _)| o).filter(|_| trailing.is_empty());
    let torn = match trailing.split_first() {
        None => match records.last {
            Some((o, h))
                if matches!(h.kind, RecKind::Chunk | RecKind::Final) && data_state(buf, o, &h, geo) != Data::Ok =>
            {
                if h.kind == RecKind::Final && zeros_crc(h.len) == h.dcrc {
                    Torn::Complete(o, h)
                } else {
                    Torn::Record(o, h)
                }
            }
            _ => Torn::None,
        },
        Some((&(o, false), rest)) if rest.iter().all(|&(_, dead)| dead) => Torn::Slot(o),
        _ => Torn::None,
    };
    (torn, last)
}

/// Position of `idx` in `run`.
fn run_pos(run: &[u32], idx: u32) -> usize {
    run.iter().position(|&i| i == idx).unwrap_or(0)
}

fn read_headers<F: NorFlash>(io: &mut Io<F>) -> Result<Vec<Sector>, Error> {
    let geo = io.geo;
    let mut out = Vec::with_capacity(geo.sectors as usize);
    let mut b = [0u8; SECTOR_HEADER_LEN];
    for i in 0..geo.sectors {
        io.read(geo.sector_addr(i), &mut b)?;
        let (header, repaired) = match SectorHeader::decode_repair(&b, &geo) {
            Some((h, r)) => (Some(h), r),
            None => (None, false),
        };
        out.push(Sector { header, repaired });
    }
    Ok(out)
}

/// Programs the header `correct` over a damaged copy at `addr` if that only clears bits (a header write cut
/// short); otherwise leaves it. Returns whether the header now reads `correct`.
fn complete_header<F: NorFlash>(io: &mut Io<F>, addr: u32, correct: &[u8]) -> Result<bool, Error> {
    let mut raw = [0u8; RECORD_HEADER_LEN];
    let raw = raw.get_mut(..correct.len()).ok_or(Error::Corrupt)?;
    io.read(addr, raw)?;
    if raw == correct {
        return Ok(true);
    }
    let fixable = raw.iter().zip(correct).all(|(&r, &c)| r & c == c);
    if fixable {
        io.write_padded(addr, correct)?;
    }
    Ok(fixable)
}

fn is_done<F: NorFlash>(io: &mut Io<F>, idx: u32, seq: u32) -> Result<bool, Error> {
    let mut b = [0u8; DONE_LEN];
    io.read(io.geo.sector_addr(idx) + io.geo.sh, &mut b)?;
    Ok(b == done_mark(seq))
}

fn sector_blank<F: NorFlash>(io: &mut Io<F>, idx: u32) -> Result<bool, Error> {
    let geo = io.geo;
    io.is_blank(geo.sector_addr(idx), geo.erase)
}

fn erase_unless_blank<F: NorFlash>(io: &mut Io<F>, idx: u32) -> Result<(), Error> {
    if !sector_blank(io, idx)? {
        io.erase_sector(idx)?;
    }
    Ok(())
}
