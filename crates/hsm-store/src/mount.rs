//! Mount (scan and recovery) and format.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::mem;

use embedded_storage::nor_flash::NorFlash;

use crate::format::{
    DONE_LEN, Geometry, RecKind, Records, SECTOR_HEADER_LEN, SectorHeader, SectorKind, crc32, done_mark,
};
use crate::index::{Entry, Group, Piece};
use crate::io::Io;
use crate::store::Log;
use crate::{Error, Stats, Store};

/// What pass 1 learns about one file id.
#[derive(Default)]
struct FidScan {
    /// Newest version with a valid `Final`: (txn, address of the `Final`, file length).
    best: Option<(u32, u32, u32)>,
    /// Newest committed delete.
    max_del: Option<u32>,
}

#[derive(Default)]
struct Found {
    rest: Vec<Piece>,
    last: Option<Piece>,
    conflict: bool,
}

impl<F: NorFlash> Store<F> {
    /// Mounts the store on `flash` (the whole device). A blank flash gives an empty store (sectors are
    /// formatted as they are first used).
    ///
    /// Recovers from any interrupted operation: an unfinished garbage-collection step is rolled back or
    /// completed, sectors that are not part of the log but still carry a header are erased. A torn record
    /// is ignored. An image that is not a store gives [`Error::Corrupt`]; a hostile image never makes it
    /// panic or loop (every scan is bounded by the flash size).
    pub fn mount(flash: F) -> Result<Self, Error> {
        let geo = Geometry::new(flash.capacity(), F::ERASE_SIZE, F::WRITE_SIZE, F::READ_SIZE)?;
        Self::mount_io(Io {
            flash,
            geo,
            stats: Stats::default(),
        })
    }

    /// Erases everything and formats. Atomic: a power cut leaves the old store or an empty one.
    pub fn format(flash: F) -> Result<Self, Error> {
        let geo = Geometry::new(flash.capacity(), F::ERASE_SIZE, F::WRITE_SIZE, F::READ_SIZE)?;
        let mut io = Io {
            flash,
            geo,
            stats: Stats::default(),
        };
        let headers = read_headers(&mut io)?;
        let newest = headers
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.map(|h| (i as u32, h.seq)))
            .max_by_key(|&(i, seq)| (seq, core::cmp::Reverse(i)));
        // The format sector takes a sequence number larger than any sector's, so it is the commit point;
        // it goes in a sector without a header (the old log stays intact until it exists), preferably the
        // one after the newest sector.
        let free = |i: u32| headers.get(i as usize).is_some_and(Option::is_none);
        let (target, seq) = match newest {
            Some((i, seq)) => {
                let after = geo.next(i);
                let target = if free(after) {
                    after
                } else {
                    (0..geo.sectors).find(|&j| free(j)).unwrap_or(after)
                };
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
            src: u32::MAX,
        }
        .encode(&geo);
        io.write_padded(geo.sector_addr(target), &header)?;
        for i in (0..geo.sectors).filter(|&i| i != target) {
            erase_unless_blank(&mut io, i)?;
        }
        Self::mount_io(io)
    }

    fn mount_io(mut io: Io<F>) -> Result<Self, Error> {
        let geo = io.geo;
        let headers = read_headers(&mut io)?;
        let newest = headers
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.map(|h| (i as u32, h)))
            .max_by_key(|&(i, h)| (h.seq, core::cmp::Reverse(i)));
        let Some((head, head_header)) = newest else {
            // No sector header: a blank flash, or one whose very first sector open was torn.
            let mut dirty = 0;
            for i in 0..geo.sectors {
                if !sector_blank(&mut io, i)? {
                    dirty += 1;
                    if dirty > 1 {
                        return Err(Error::Corrupt);
                    }
                }
            }
            return Ok(Self::empty(io));
        };
        let header = |i: u32| headers.get(i as usize).copied().flatten();

        // The log: walk back from the newest sector over consecutive sequence numbers.
        let mut run = alloc::vec![head];
        let mut cur = head_header;
        while run.len() < geo.sectors as usize && cur.kind != SectorKind::Format {
            let p = geo.prev(*run.last().unwrap_or(&head));
            match header(p) {
                Some(h) if Some(h.seq) == cur.seq.checked_sub(1) => {
                    run.push(p);
                    cur = h;
                }
                _ => break,
            }
        }
        run.reverse(); // oldest first

        // An unfinished GC step is rolled back: its sector is dropped, the source is intact.
        if head_header.kind == SectorKind::Gc && !is_done(&mut io, head, head_header.seq)? {
            run.pop();
        }
        // A finished one whose source was not erased yet: the source is dropped.
        if let Some(&tail) = run.first() {
            let tail_seq = header(tail).map(|h| h.seq);
            let mut finished = false;
            for &i in run.iter().skip(1) {
                if let Some(h) = header(i)
                    && h.kind == SectorKind::Gc
                    && Some(h.src) == tail_seq
                    && is_done(&mut io, i, h.seq)?
                {
                    finished = true;
                    break;
                }
            }
            if finished {
                run.remove(0);
            }
        }

        let max_seq = headers.iter().flatten().map(|h| h.seq).max().unwrap_or(0);
        let mut store = Self::empty(io);
        store.next_seq = max_seq.saturating_add(1);
        if let Some(&tail) = run.first() {
            store.log = Log {
                tail,
                tail_seq: header(tail).map_or(0, |h| h.seq),
                count: run.len() as u32,
            };
            store.scan(&run)?;
        }
        // Recovery: a sector with a header outside the log (rolled-back or reclaimed GC source, sectors
        // older than a format) must not come back, so it is erased now.
        for (i, h) in headers.iter().enumerate() {
            if h.is_some() && !run.contains(&(i as u32)) {
                store.io.erase_sector(i as u32)?;
            }
        }
        Ok(store)
    }

    /// Rebuilds the index from the log sectors (`run`, oldest first), in two passes: the first finds
    /// each file's newest committed version, the second collects that version's records.
    fn scan(&mut self, run: &[u32]) -> Result<(), Error> {
        let mut buf = mem::take(&mut self.buf);
        let result = self.scan_with(run, &mut buf);
        self.buf = buf;
        result
    }

    fn scan_with(&mut self, run: &[u32], buf: &mut Vec<u8>) -> Result<(), Error> {
        let geo = self.io.geo;
        let mut fids: BTreeMap<u16, FidScan> = BTreeMap::new();
        let mut groups: Vec<(u16, u32, u32)> = Vec::new();
        let mut keeps: BTreeMap<(u16, u32), u32> = BTreeMap::new();
        let mut commits: BTreeMap<u32, (bool, u32, u32)> = BTreeMap::new();
        let mut max_txn = 0u32;

        // Pass 1: commits.
        for (k, &idx) in run.iter().enumerate() {
            let seq = self.log.tail_seq.wrapping_add(k as u32);
            self.io.read_sector(idx, buf)?;
            let base = geo.sector_addr(idx);
            for (off, h) in Records::new(buf, &geo) {
                max_txn = max_txn.max(h.txn);
                match h.kind {
                    RecKind::Final => {
                        let st = fids.entry(h.fid).or_default();
                        if st.best.is_none_or(|(t, _, _)| h.txn > t) {
                            // The commit counts only if its data is complete (a torn final write fails here).
                            let start = (off + geo.hs) as usize;
                            let data = buf.get(start..start + h.len as usize).ok_or(Error::Corrupt)?;
                            if crc32(data) == h.dcrc {
                                st.best = Some((h.txn, base + off, h.off + h.len));
                            }
                        }
                    }
                    RecKind::Del => {
                        let st = fids.entry(h.fid).or_default();
                        st.max_del = st.max_del.max(Some(h.txn));
                    }
                    RecKind::DelGroup => groups.push((h.fid, h.txn, base + off)),
                    RecKind::Keep => {
                        keeps.insert((h.fid, h.txn), base + off);
                    }
                    RecKind::Commit => {
                        commits.insert(h.txn, (h.off == 1, seq, idx));
                    }
                    RecKind::Chunk => {}
                }
            }
        }
        for &(fid, txn, _) in &groups {
            if commits.contains_key(&txn) {
                let st = fids.entry(fid).or_default();
                st.max_del = st.max_del.max(Some(txn));
            }
        }
        let wipes: Vec<u32> = commits.iter().filter(|(_, (w, _, _))| *w).map(|(t, _)| *t).collect();
        let mut winners: BTreeMap<u16, (u32, u32, u32)> = BTreeMap::new();
        for (fid, st) in &fids {
            let Some((txn, addr, len)) = st.best else { continue };
            if st.max_del.is_some_and(|d| d > txn) {
                continue;
            }
            if wipes.iter().any(|&w| w > txn && !keeps.contains_key(&(*fid, w))) {
                continue;
            }
            winners.insert(*fid, (txn, addr, len));
        }
        drop(fids);

        // Pass 2: the records of the winning versions.
        let mut found: BTreeMap<u16, Found> = BTreeMap::new();
        let mut head_end = geo.erase;
        for &idx in run {
            self.io.read_sector(idx, buf)?;
            let base = geo.sector_addr(idx);
            let mut records = Records::new(buf, &geo);
            for (off, h) in &mut records {
                if !matches!(h.kind, RecKind::Chunk | RecKind::Final) {
                    continue;
                }
                let Some(&(txn, final_addr, _)) = winners.get(&h.fid) else {
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
                            verified: true,
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
        // always is unless the image was tampered with; otherwise the head is closed).
        let tail_blank = buf
            .get(head_end as usize..)
            .is_some_and(|t| t.iter().all(|&b| b == 0xFF));
        self.head_pos = if tail_blank { head_end } else { geo.erase };

        for (fid, (txn, _, len)) in winners {
            let f = found.remove(&fid).unwrap_or_default();
            let Some(last) = f.last else { continue };
            let mut rest = f.rest;
            rest.sort_unstable_by_key(|p| p.off);
            let mut broken = f.conflict;
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
        self.groups = commits
            .iter()
            .map(|(&txn, &(wipe, seq, idx))| Group {
                txn,
                seq,
                recs: if wipe {
                    keeps
                        .iter()
                        .filter(|((_, t), _)| *t == txn)
                        .map(|(_, &a)| a)
                        .filter(outside(idx))
                        .collect()
                } else {
                    groups
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
        self.next_txn = u64::from(max_txn) + 1;
        Ok(())
    }
}

fn read_headers<F: NorFlash>(io: &mut Io<F>) -> Result<Vec<Option<SectorHeader>>, Error> {
    let geo = io.geo;
    let mut out = Vec::with_capacity(geo.sectors as usize);
    let mut b = [0u8; SECTOR_HEADER_LEN];
    for i in 0..geo.sectors {
        io.read(geo.sector_addr(i), &mut b)?;
        out.push(SectorHeader::decode(&b, &geo));
    }
    Ok(out)
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
