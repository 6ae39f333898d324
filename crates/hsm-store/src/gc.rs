//! Opening sectors and garbage collection.

use core::mem;

use embedded_storage::nor_flash::NorFlash;

use crate::format::{RecHeader, RecKind, Records, SectorHeader, SectorKind, done_mark};
use crate::index::Pending;
use crate::{Error, Store};

impl<F: NorFlash> Store<F> {
    /// Makes a new head sector available: a free one while more than the GC reserve is free, otherwise
    /// by reclaiming the tail (which opens the reserve and frees the tail).
    pub(crate) fn advance(&mut self) -> Result<(), Error> {
        let free = self.io.geo.sectors - self.log.count;
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
        self.open_sector(SectorKind::Gc, tail_seq)?;
        // A wipe whose commit is reclaimed ends here: its keep records need not be copied.
        let fp0 = geo.fp(0);
        let ended: alloc::vec::Vec<u32> = self
            .wipes
            .iter()
            .filter(|w| w.seq == tail_seq)
            .flat_map(|w| w.keeps.iter().copied())
            .collect();
        self.wipes.retain(|w| w.seq != tail_seq);
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
                if !self.is_live(addr, &h) {
                    continue;
                }
                let start = (off + geo.hs) as usize;
                let data = buf.get(start..start + h.len as usize).ok_or(Error::Corrupt)?;
                if self.head_pos + geo.fp(h.len) > geo.erase {
                    return Err(Error::Corrupt);
                }
                let new = geo.sector_addr(g) + self.head_pos;
                self.io.write_record(new, &h, data)?;
                self.head_pos += geo.fp(h.len);
                self.add_live(new, geo.fp(h.len));
                self.relocate(addr, new, &h);
            }
            Ok(())
        })();
        self.buf = buf;
        result
    }

    /// Whether the record at `addr` must survive the reclaim of its sector.
    fn is_live(&self, addr: u32, h: &RecHeader) -> bool {
        let pending_group = matches!(self.pending, Pending::Group { txn, .. } if txn == h.txn);
        match h.kind {
            RecKind::Chunk | RecKind::Final => {
                if let Pending::Write { fid, txn, pieces } = &self.pending
                    && *fid == h.fid
                    && *txn == h.txn
                {
                    return pieces.iter().any(|p| p.addr == addr);
                }
                self.files
                    .get(&h.fid)
                    .is_some_and(|e| e.txn == h.txn && e.pieces().any(|p| p.addr == addr))
            }
            // Everything a delete or a group commit could hide is older, hence already reclaimed.
            RecKind::Del | RecKind::DelGroup | RecKind::Commit => pending_group,
            // Copied while their wipe is on flash (even when the file was replaced since: harmless, and it
            // keeps the wipe's list of keep records exact for the space accounting).
            RecKind::Keep => pending_group || self.wipes.iter().any(|w| w.txn == h.txn),
        }
    }

    fn relocate(&mut self, old: u32, new: u32, h: &RecHeader) {
        if h.kind == RecKind::Keep {
            for a in self
                .wipes
                .iter_mut()
                .flat_map(|w| w.keeps.iter_mut())
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
