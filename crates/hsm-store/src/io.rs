//! Flash access for the store: alignment handling, statistics, record writes.

use embedded_storage::nor_flash::NorFlash;

use crate::format::{Geometry, MAX_ALIGN, RECORD_HEADER_LEN, RecHeader};
use crate::{Error, Stats};

/// Zeros to program over data: one write per record with 4 KiB sectors, a multiple of every supported
/// write size.
pub(crate) static ZEROS: [u8; 4096] = [0; 4096];

pub(crate) struct Io<F> {
    pub flash: F,
    pub geo: Geometry,
    pub stats: Stats,
}

impl<F: NorFlash> Io<F> {
    /// Reads `buf.len()` bytes at `addr`, whatever `READ_SIZE` is.
    pub fn read(&mut self, addr: u32, buf: &mut [u8]) -> Result<(), Error> {
        let r = self.geo.read as usize;
        if r <= 1 || ((addr as usize).is_multiple_of(r) && buf.len().is_multiple_of(r)) {
            return self.flash.read(addr, buf).map_err(|_| Error::Flash);
        }
        // Bounce through an aligned buffer (READ_SIZE <= MAX_ALIGN, and the capacity is a multiple of it).
        let mut tmp = [0u8; MAX_ALIGN];
        let mut done = 0usize;
        while done < buf.len() {
            let at = addr as usize + done;
            let start = at - at % r;
            let skip = at - start;
            let want = (buf.len() - done).min(MAX_ALIGN - skip);
            let span = (skip + want).div_ceil(r) * r;
            let t = tmp.get_mut(..span).ok_or(Error::Flash)?;
            self.flash.read(start as u32, t).map_err(|_| Error::Flash)?;
            let src = t.get(skip..skip + want).ok_or(Error::Flash)?;
            buf.get_mut(done..done + want).ok_or(Error::Flash)?.copy_from_slice(src);
            done += want;
        }
        Ok(())
    }

    /// Programs `data` (aligned offset and length).
    pub fn write(&mut self, addr: u32, data: &[u8]) -> Result<(), Error> {
        self.flash.write(addr, data).map_err(|_| Error::Flash)?;
        self.stats.bytes_written += data.len() as u64;
        Ok(())
    }

    /// Programs `data` at an aligned `addr`, padding the tail with `FF` to the write size.
    pub fn write_padded(&mut self, addr: u32, data: &[u8]) -> Result<(), Error> {
        let a = self.geo.align as usize;
        let full = data.len() - data.len() % a;
        let (body, tail) = data.split_at(full);
        if !body.is_empty() {
            self.write(addr, body)?;
        }
        if !tail.is_empty() {
            let mut pad = [0xFFu8; MAX_ALIGN];
            pad.get_mut(..tail.len()).ok_or(Error::Flash)?.copy_from_slice(tail);
            self.write(addr + full as u32, pad.get(..a).ok_or(Error::Flash)?)?;
        }
        Ok(())
    }

    /// Writes a record: header first (one write), then the data. A tear leaves either an invalid header
    /// slot (skipped by one slot on parse) or a valid header with incomplete data (caught by `dcrc`).
    pub fn write_record(&mut self, addr: u32, h: &RecHeader, data: &[u8]) -> Result<(), Error> {
        let mut slot = [0xFFu8; MAX_ALIGN];
        slot.get_mut(..RECORD_HEADER_LEN)
            .ok_or(Error::Flash)?
            .copy_from_slice(&h.encode());
        self.write(addr, slot.get(..self.geo.hs as usize).ok_or(Error::Flash)?)?;
        if !data.is_empty() {
            self.write_padded(addr + self.geo.hs, data)?;
        }
        Ok(())
    }

    /// Programs `0x00` over `len` bytes at `addr` (both multiples of the write size): NOR clears bits
    /// without an erase, so this overwrites data already programmed (the flash must allow writing a unit
    /// again, `MultiwriteNorFlash`).
    pub fn zero(&mut self, addr: u32, len: u32) -> Result<(), Error> {
        let mut done = 0u32;
        while done < len {
            let n = (len - done).min(ZEROS.len() as u32);
            self.write(addr + done, ZEROS.get(..n as usize).ok_or(Error::Flash)?)?;
            done += n;
        }
        Ok(())
    }

    pub fn erase_sector(&mut self, idx: u32) -> Result<(), Error> {
        let from = self.geo.sector_addr(idx);
        self.flash
            .erase(from, from + self.geo.erase)
            .map_err(|_| Error::Flash)?;
        self.stats.sectors_erased += 1;
        Ok(())
    }

    /// Whether `len` bytes at `addr` are all erased.
    pub fn is_blank(&mut self, addr: u32, len: u32) -> Result<bool, Error> {
        let mut tmp = [0u8; MAX_ALIGN];
        let mut done = 0u32;
        while done < len {
            let n = (len - done).min(MAX_ALIGN as u32);
            let t = tmp.get_mut(..n as usize).ok_or(Error::Flash)?;
            self.read(addr + done, t)?;
            if t.iter().any(|&b| b != 0xFF) {
                return Ok(false);
            }
            done += n;
        }
        Ok(true)
    }

    /// Reads sector `idx` whole into `buf` (resized to the sector size).
    pub fn read_sector(&mut self, idx: u32, buf: &mut alloc::vec::Vec<u8>) -> Result<(), Error> {
        buf.resize(self.geo.erase as usize, 0);
        self.read(self.geo.sector_addr(idx), buf)
    }
}
