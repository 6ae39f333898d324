//! Power-cut safe flash store of files keyed by a 16-bit file id (work in progress: the on-flash
//! format lands in the next commit; this version keeps the files in RAM).
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod flash;
mod format;
mod gc;
mod index;
mod io;
mod mount;
mod space;
mod store;

pub use store::Store;

use core::fmt;

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
