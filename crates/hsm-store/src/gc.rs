//! Opening sectors and garbage collection.

use core::mem;

use embedded_storage::nor_flash::NorFlash;

use crate::format::{RecHeader, RecKind, Records, SectorHeader, SectorKind, done_mark};
use crate::index::Pending;
use crate::mount::UNPLACED;
use crate::{Error, Store};

impl<F: NorFlash> Store<F> {
    /// Makes a new head sector available: a free one while more than the GC reserve is free, otherwise
    /// by reclaiming the tail (which opens the reserve and frees the tail).
    ///
    /// On a damaged store (records may be missing) garbage collection is off: the log grows into the free
    /// sectors before the first unplaced one and no further, then `Full`.
    pub(crate) fn advance(&mut self) -> Result<(), Error> {
        let free = self.io.geo.sectors - self.log.count;
        if self.frozen && self.log.count > 0 {
            return if self.free_before_block() >= 1 {
                self.open_sector(SectorKind::Normal, u32::MAX)
            } else {
                Err(Error::Full)
            };
        }
        if self.log.count == 0 || free >= 2 {
            self.open_sector(SectorKind::Normal, u32::MAX)
        } else if free == 1 {
            self.gc_step()
        } else {
            Err(Error::Full)
        }
    }

    /// Opens the sector after the head (erasing it unless it is blank) and makes it the head.
    pub(crate) fn open_sector(&mut self, kind: SectorKind, src: u32) -> Result<(), Error> {
        let geo = self.io.geo;
        if self.log.count >= geo.sectors {
            return Err(Error::Full);
        }
        let (idx, seq) = if self.log.count == 0 {
            (0, self.next_seq)
        } else {
            (
                geo.next(self.head_idx()),
                self.log.head_seq().checked_add(1).ok_or(Error::Corrupt)?,
            )
        };
        // An unplaced sector may hold data of the store: never erased here (only `format` does).
        if self.flagged(idx, UNPLACED) {
            return Err(Error::Full);
        }
        // A free sector may hold anything: a torn erase, an interrupted open, a reclaimed sector.
        let mut buf = mem::take(&mut self.buf);
        let blank = self
            .io
            .read_sector(idx, &mut buf)
            .map(|()| buf.iter().all(|&b| b == 0xFF));
        self.buf = buf;
        if !blank? {
            self.io.erase_sector(idx)?;
        }
        let header = SectorHeader { kind, seq, src }.encode(&geo);
        self.io.write_padded(geo.sector_addr(idx), &header)?;
        if self.log.count == 0 {
            self.log.tail = idx;
            self.log.tail_seq = seq;
        }
        self.log.count += 1;
        self.head_pos = geo.area_start();
        if let Some(l) = self.sector_live.get_mut(idx as usize) {
            *l = 0;
        }
        if let Some(f) = self.flags.get_mut(idx as usize) {
            *f = 0;
        }
        Ok(())
    }

    /// Reclaims the tail sector: opens the reserve sector as a GC sector, copies the tail's live records
    /// into it verbatim, marks it done, erases the tail.
    ///
    /// A power cut before the done mark leaves the tail intact and the GC sector is discarded at mount;
    /// after it, the tail is discarded and erased at mount. Either way the reserve is back, so the step
    /// can be retried however often it is interrupted.
    pub(crate) fn gc_step(&mut self) -> Result<(), Error> {
        let geo = self.io.geo;
        if self.log.count == 0 {
            return Err(Error::Full);
        }
        let (tail, tail_seq) = (self.log.tail, self.log.tail_seq);
        // With records missing, what is live is unknown: nothing is reclaimed.
        if self.frozen {
            return Err(Error::Full);
        }
        self.open_sector(SectorKind::Gc, tail_seq)?;
        // A group whose commit is reclaimed ends here: everything it hides is older than its commit, so
        // gone with this step, and its group records need not be copied.
        let fp0 = geo.fp(0);
        let ended: alloc::vec::Vec<u32> = self
            .groups
            .iter()
            .filter(|g| g.seq == tail_seq)
            .flat_map(|g| g.recs.iter().copied())
            .collect();
        self.groups.retain(|g| g.seq != tail_seq);
        for a in ended {
            self.sub_live(a, fp0);
        }
        let g = self.head_idx();
        let g_seq = self.log.head_seq();
        self.copy_live(tail, g)?;
        self.io.write_padded(geo.sector_addr(g) + geo.sh, &done_mark(g_seq))?;
        self.io.erase_sector(tail)?;
        if let Some(l) = self.sector_live.get_mut(tail as usize) {
            *l = 0;
        }
        self.log.tail = geo.next(tail);
        self.log.tail_seq = tail_seq.wrapping_add(1);
        self.log.count -= 1;
        Ok(())
    }

    fn copy_live(&mut self, tail: u32, g: u32) -> Result<(), Error> {
        let geo = self.io.geo;
        let mut buf = mem::take(&mut self.buf);
        let result = (|| {
            self.io.read_sector(tail, &mut buf)?;
            let tail_addr = geo.sector_addr(tail);
            for (off, h) in Records::new(&buf, &geo) {
                let addr = tail_addr + off;
                let Some(pending) = self.liveness(addr, &h) else {
                    continue;
                };
                let start = (off + geo.hs) as usize;
                let data = buf.get(start..start + h.len as usize).ok_or(Error::Corrupt)?;
                if self.head_pos + geo.fp(h.len) > geo.erase {
                    return Err(Error::Corrupt);
                }
                let new = geo.sector_addr(g) + self.head_pos;
                self.io.write_record(new, &h, data)?;
                self.head_pos += geo.fp(h.len);
                // The records of the operation in progress are counted when it completes.
                if !pending {
                    self.add_live(new, geo.fp(h.len));
                }
                self.relocate(addr, new, &h);
            }
            Ok(())
        })();
        self.buf = buf;
        result
    }

    /// Whether the record at `addr` must survive the reclaim of its sector: `None` if not, `Some(true)`
    /// for a record of the operation in progress, `Some(false)` for a record of committed state.
    fn liveness(&self, addr: u32, h: &RecHeader) -> Option<bool> {
        let pending_group = matches!(self.pending, Pending::Group { txn, .. } if txn == h.txn);
        let live = match h.kind {
            RecKind::Chunk | RecKind::Final => {
                if let Pending::Write { fid, txn, pieces } = &self.pending
                    && *fid == h.fid
                    && *txn == h.txn
                {
                    return pieces.iter().any(|p| p.addr == addr).then_some(true);
                }
                self.files
                    .get(&h.fid)
                    .is_some_and(|e| e.txn == h.txn && e.pieces().any(|p| p.addr == addr))
            }
            // A delete hides only older versions, and the file was gone from the index (never copied
            // again) the moment its record was written: what it hides lies before it, hence was already
            // reclaimed. The same holds for a group commit, which is the last record of its group.
            RecKind::Del | RecKind::Commit => false,
            // Group records live as long as their commit: a DelGroup may precede copies of the data it
            // deletes, made by collection during its group (see `Group`). Keep records are copied even
            // when the file was replaced since: harmless, and it keeps the group's list exact for the
            // space accounting.
            RecKind::DelGroup | RecKind::Keep => self.groups.iter().any(|g| g.txn == h.txn),
        };
        if pending_group {
            Some(true)
        } else {
            live.then_some(false)
        }
    }

    fn relocate(&mut self, old: u32, new: u32, h: &RecHeader) {
        if matches!(h.kind, RecKind::Keep | RecKind::DelGroup) {
            for a in self
                .groups
                .iter_mut()
                .flat_map(|g| g.recs.iter_mut())
                .filter(|a| **a == old)
            {
                *a = new;
            }
        }
        if let Pending::Group { addrs, .. } = &mut self.pending {
            addrs.iter_mut().filter(|a| **a == old).for_each(|a| *a = new);
        }
        if !matches!(h.kind, RecKind::Chunk | RecKind::Final) {
            return;
        }
        if let Pending::Write { fid, txn, pieces } = &mut self.pending
            && *fid == h.fid
            && *txn == h.txn
        {
            pieces.iter_mut().filter(|p| p.addr == old).for_each(|p| p.addr = new);
            return;
        }
        if let Some(e) = self.files.get_mut(&h.fid) {
            e.pieces_mut().filter(|p| p.addr == old).for_each(|p| p.addr = new);
        }
    }
}
