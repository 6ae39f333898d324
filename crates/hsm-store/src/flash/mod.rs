//! Flash devices for tests and for the virtual card.
//!
//! - [`RamFlash`]: NOR flash in RAM (erase sets bytes to `0xFF`, a write can only clear bits).
//! - [`PowerCut`]: wraps a flash and cuts the power at a chosen operation, tearing it.
//! - `FileFlash` (feature `std`): NOR flash backed by a region of a file.

mod powercut;
mod ram;

#[cfg(feature = "std")]
mod file;

#[cfg(feature = "std")]
pub use file::FileFlash;
pub use powercut::{PowerCut, PowerCutError};
pub use ram::{RamFlash, RamFlashError};

/// Bounds and alignment check shared by the flash implementations.
pub(crate) fn check(
    offset: u32,
    len: usize,
    align: usize,
    capacity: usize,
) -> Result<usize, embedded_storage::nor_flash::NorFlashErrorKind> {
    use embedded_storage::nor_flash::NorFlashErrorKind;
    let start = offset as usize;
    let end = start.checked_add(len).ok_or(NorFlashErrorKind::OutOfBounds)?;
    if end > capacity {
        return Err(NorFlashErrorKind::OutOfBounds);
    }
    if align == 0 || !start.is_multiple_of(align) || !len.is_multiple_of(align) {
        return Err(NorFlashErrorKind::NotAligned);
    }
    Ok(start)
}
