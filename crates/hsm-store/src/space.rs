//! Space accounting: per-sector live bytes and a simulation of the write algorithm.
//!
//! Garbage collection reclaims the log from its tail, one sector at a time, into the reserve sector: the
//! room it makes in sector `s` is exactly `payload - live(s)`. Writes fill the head sector, then free
//! sectors beyond the reserve, then the room collection makes, in that order. Simulating that sequence
//! over the per-sector live counts tells, before anything is written, whether an operation will fit;
//! `free_space` is the largest file for which the simulation succeeds.

use embedded_storage::nor_flash::NorFlash;

use crate::Store;
use crate::format::MIN_CHUNK;
use crate::index::Entry;

/// Header-only records a write must leave room for, so that files can always be deleted.
pub(crate) const DEL_RESERVE: u32 = 4;

impl<F: NorFlash> Store<F> {
    /// Bytes of file data a new file can still have before [`crate::Error::Full`] (garbage collection
    /// included). A write of at most this many bytes succeeds.
    pub fn free_space(&self) -> usize {
        self.max_fit(|n| self.plan(Some(n), DEL_RESERVE, false))
    }

    /// The largest file [`Store::write`] accepts: what fits in an empty store.
    pub fn max_file_size(&self) -> usize {
        self.max_file
    }

    pub(crate) fn compute_max_file(&self) -> usize {
        self.max_fit(|n| self.plan(Some(n), DEL_RESERVE, true))
    }

    fn max_fit(&self, fits: impl Fn(u32) -> bool) -> usize {
        let geo = &self.io.geo;
        if !fits(0) {
            return 0;
        }
        let (mut lo, mut hi) = (0u32, geo.sectors.saturating_mul(geo.payload()));
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if fits(mid) { lo = mid } else { hi = mid - 1 }
        }
        lo as usize
    }

    /// Whether a file of `data` bytes (if any) followed by `headers` header-only records can be written,
    /// following the write algorithm over the space it would reach. With `empty`, for an empty store.
    pub(crate) fn plan(&self, data: Option<u32>, headers: u32, empty: bool) -> bool {
        let geo = &self.io.geo;
        let p = geo.payload();
        let count = if empty { 0 } else { self.log.count };
        let room = if count == 0 { 0 } else { self.room() };
        let free = geo.sectors - count;
        let head = self.head_idx();
        // With garbage collection off the log only grows into the free sectors before the first unplaced
        // one (see `advance`).
        let frozen = !empty && count > 0 && self.frozen;
        let fresh = if frozen {
            self.free_before_block()
        } else {
            free.saturating_sub(1)
        };
        // Log sectors other than the head, from the tail: what collecting each one frees.
        let collect = if frozen { 0 } else { count.saturating_sub(1) };
        let reclaim = (0..collect).map(|k| {
            let idx = (self.log.tail + k) % geo.sectors;
            p.saturating_sub(self.sector_live.get(idx as usize).copied().unwrap_or(p))
        });
        let mut slots = core::iter::once(room)
            .chain(core::iter::repeat_n(p, fresh as usize))
            .chain(reclaim);
        let (mut rem, mut hdrs) = (data, headers);
        let mut used_in_head = 0;
        let mut first = true;
        for mut x in slots.by_ref() {
            let start = x;
            if let Some(r) = rem {
                if x >= geo.hs && r <= x - geo.hs {
                    x -= geo.fp(r);
                    rem = None;
                } else if x >= geo.hs && x - geo.hs >= MIN_CHUNK {
                    rem = Some(r - (x - geo.hs));
                    x = 0;
                }
            }
            if rem.is_none() {
                while hdrs > 0 && x >= geo.hs {
                    x -= geo.hs;
                    hdrs -= 1;
                }
                if hdrs == 0 {
                    return true;
                }
            }
            if first {
                used_in_head = start - x;
                first = false;
            }
        }
        // Last, collecting the head sector itself (what the operation put there is live by then).
        if count > 0 && !frozen {
            let live = self.sector_live.get(head as usize).copied().unwrap_or(p);
            let mut x = p.saturating_sub(live).saturating_sub(used_in_head);
            if let Some(r) = rem
                && x >= geo.hs
                && r <= x - geo.hs
            {
                x -= geo.fp(r);
                rem = None;
            }
            return rem.is_none() && u64::from(hdrs) * u64::from(geo.hs) <= u64::from(x);
        }
        false
    }

    /// Adds (or removes) a file's records to the per-sector live counts.
    pub(crate) fn account(&mut self, entry: &Entry, add: bool) {
        let geo = self.io.geo;
        for p in entry.pieces() {
            if add {
                self.add_live(p.addr, geo.fp(p.len))
            } else {
                self.sub_live(p.addr, geo.fp(p.len))
            }
        }
    }

    pub(crate) fn add_live(&mut self, addr: u32, fp: u32) {
        let idx = (addr / self.io.geo.erase) as usize;
        if let Some(l) = self.sector_live.get_mut(idx) {
            *l = l.saturating_add(fp);
        }
    }

    pub(crate) fn sub_live(&mut self, addr: u32, fp: u32) {
        let idx = (addr / self.io.geo.erase) as usize;
        if let Some(l) = self.sector_live.get_mut(idx) {
            *l = l.saturating_sub(fp);
        }
    }
}
