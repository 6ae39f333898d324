//! Power-cut safe flash store of files keyed by a 16-bit file id (work in progress: the on-flash
//! format lands in the next commit; this version keeps the files in RAM).
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod flash;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

use embedded_storage::nor_flash::NorFlash;

/// Store errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The flash reported an error (or the power was cut).
    Flash,
    /// The image is not a valid store and cannot be repaired.
    Corrupt,
    /// Not enough free space.
    Full,
    /// The file is larger than [`Store::max_file_size`].
    TooLarge,
    /// No such file.
    NotFound,
    /// The flash geometry is not supported (sizes, alignment, too few sectors).
    Geometry,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Flash => "flash error",
            Self::Corrupt => "corrupt store",
            Self::Full => "store full",
            Self::TooLarge => "file too large",
            Self::NotFound => "file not found",
            Self::Geometry => "unsupported flash geometry",
        })
    }
}

impl core::error::Error for Error {}

/// Flash activity since mount.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes programmed.
    pub bytes_written: u64,
    /// Sectors erased.
    pub sectors_erased: u64,
}

/// The store.
pub struct Store<F: NorFlash> {
    flash: F,
    files: BTreeMap<u16, Vec<u8>>,
    stats: Stats,
}

impl<F: NorFlash> Store<F> {
    /// Mounts the store on `flash` (the whole device). A blank flash is formatted. Recovers from any
    /// interrupted operation to the old or the new state. A corrupt image gives an error.
    pub fn mount(flash: F) -> Result<Self, Error> {
        Ok(Self {
            flash,
            files: BTreeMap::new(),
            stats: Stats::default(),
        })
    }

    /// Erases everything and formats.
    pub fn format(flash: F) -> Result<Self, Error> {
        Self::mount(flash)
    }

    /// Whether file `fid` exists.
    pub fn contains(&self, fid: u16) -> bool {
        self.files.contains_key(&fid)
    }

    /// Length of file `fid`.
    pub fn len(&self, fid: u16) -> Option<usize> {
        self.files.get(&fid).map(Vec::len)
    }

    /// Reads up to `buf.len()` bytes of file `fid` from `offset`; returns the count (0 at or after the end).
    pub fn read(&mut self, fid: u16, offset: usize, buf: &mut [u8]) -> Result<usize, Error> {
        let data = self.files.get(&fid).ok_or(Error::NotFound)?;
        let src = data.get(offset..).unwrap_or(&[]);
        let n = src.len().min(buf.len());
        if let (Some(d), Some(s)) = (buf.get_mut(..n), src.get(..n)) {
            d.copy_from_slice(s);
        }
        Ok(n)
    }

    /// Reads a whole file.
    pub fn read_all(&mut self, fid: u16) -> Result<Vec<u8>, Error> {
        self.files.get(&fid).cloned().ok_or(Error::NotFound)
    }

    /// Atomically creates or replaces file `fid` with `data`.
    pub fn write(&mut self, fid: u16, data: &[u8]) -> Result<(), Error> {
        if data.len() > self.max_file_size() {
            return Err(Error::TooLarge);
        }
        self.files.insert(fid, data.to_vec());
        Ok(())
    }

    /// Atomically deletes file `fid`; `Ok(false)` if it did not exist.
    pub fn delete(&mut self, fid: u16) -> Result<bool, Error> {
        Ok(self.files.remove(&fid).is_some())
    }

    /// Atomically deletes every file for which `keep(fid)` is false.
    pub fn retain(&mut self, mut keep: impl FnMut(u16) -> bool) -> Result<(), Error> {
        self.files.retain(|fid, _| keep(*fid));
        Ok(())
    }

    /// All file ids, ascending.
    pub fn fids(&self) -> impl Iterator<Item = u16> + '_ {
        self.files.keys().copied()
    }

    /// Bytes still writable for file data before [`Error::Full`].
    pub fn free_space(&self) -> usize {
        self.flash
            .capacity()
            .saturating_sub(self.files.values().map(Vec::len).sum())
    }

    /// The largest file [`Store::write`] accepts.
    pub fn max_file_size(&self) -> usize {
        self.flash.capacity() / 2
    }

    /// Flash activity since mount.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The flash (for example to sync a [`flash::FileFlash`]); writing to it behind the store's back
    /// corrupts the store.
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }

    /// Gives the flash back.
    pub fn into_flash(self) -> F {
        self.flash
    }
}
