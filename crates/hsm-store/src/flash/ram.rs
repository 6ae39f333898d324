use alloc::vec;
use alloc::vec::Vec;

use embedded_storage::nor_flash::{
    ErrorType, MultiwriteNorFlash, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

/// Error of [`RamFlash`]: a misaligned or out-of-bounds access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RamFlashError(pub NorFlashErrorKind);

impl NorFlashError for RamFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        self.0
    }
}

/// NOR flash simulated in RAM.
///
/// Erasing a sector sets its bytes to `0xFF`; a write can only clear bits (`new = old & data`), like real
/// NOR flash. `WRITE_SIZE` and `ERASE_SIZE` are the geometry seen through [`NorFlash`]; the defaults
/// (1 and 4096) are those of the RP2040/RP2350 QSPI flash as exposed by embassy-rp.
///
/// The capacity is rounded down to a whole number of sectors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RamFlash<const WRITE_SIZE: usize = 1, const ERASE_SIZE: usize = 4096> {
    data: Vec<u8>,
    erase_counts: Vec<u32>,
}

impl RamFlash {
    /// A blank (erased) flash of `size` bytes with the default geometry (WRITE_SIZE 1, ERASE_SIZE 4096).
    pub fn new(size: usize) -> Self {
        Self::blank(size)
    }

    /// A flash with the default geometry holding `image` (for example a copy of [`RamFlash::as_bytes`]).
    pub fn from_bytes(image: Vec<u8>) -> Self {
        Self::from_image(image)
    }
}

impl<const WRITE_SIZE: usize, const ERASE_SIZE: usize> RamFlash<WRITE_SIZE, ERASE_SIZE> {
    /// A blank (erased) flash of `size` bytes with this type's geometry.
    pub fn blank(size: usize) -> Self {
        let size = size - size % ERASE_SIZE.max(1);
        Self {
            data: vec![0xFF; size],
            erase_counts: vec![0; size / ERASE_SIZE.max(1)],
        }
    }

    /// A flash with this type's geometry holding `image` (truncated to whole sectors).
    pub fn from_image(mut image: Vec<u8>) -> Self {
        let size = image.len() - image.len() % ERASE_SIZE.max(1);
        image.truncate(size);
        Self {
            data: image,
            erase_counts: vec![0; size / ERASE_SIZE.max(1)],
        }
    }

    /// The whole content.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The whole content, mutably (to corrupt an image on purpose in tests).
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Gives the content back.
    pub fn into_bytes(self) -> Vec<u8> {
        self.data
    }

    /// How many times each sector was erased since this value was created.
    pub fn erase_counts(&self) -> &[u32] {
        &self.erase_counts
    }
}

impl<const WRITE_SIZE: usize, const ERASE_SIZE: usize> ErrorType for RamFlash<WRITE_SIZE, ERASE_SIZE> {
    type Error = RamFlashError;
}

impl<const WRITE_SIZE: usize, const ERASE_SIZE: usize> ReadNorFlash for RamFlash<WRITE_SIZE, ERASE_SIZE> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let start = super::check(offset, bytes.len(), 1, self.data.len()).map_err(RamFlashError)?;
        let src = self
            .data
            .get(start..start + bytes.len())
            .ok_or(RamFlashError(NorFlashErrorKind::OutOfBounds))?;
        bytes.copy_from_slice(src);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.data.len()
    }
}

impl<const WRITE_SIZE: usize, const ERASE_SIZE: usize> NorFlash for RamFlash<WRITE_SIZE, ERASE_SIZE> {
    const WRITE_SIZE: usize = WRITE_SIZE;
    const ERASE_SIZE: usize = ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        let len = (to as usize)
            .checked_sub(from as usize)
            .ok_or(RamFlashError(NorFlashErrorKind::OutOfBounds))?;
        let start = super::check(from, len, ERASE_SIZE, self.data.len()).map_err(RamFlashError)?;
        let dst = self
            .data
            .get_mut(start..start + len)
            .ok_or(RamFlashError(NorFlashErrorKind::OutOfBounds))?;
        dst.fill(0xFF);
        let first = start / ERASE_SIZE;
        for count in self.erase_counts.iter_mut().skip(first).take(len / ERASE_SIZE) {
            *count = count.saturating_add(1);
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let start = super::check(offset, bytes.len(), WRITE_SIZE, self.data.len()).map_err(RamFlashError)?;
        let dst = self
            .data
            .get_mut(start..start + bytes.len())
            .ok_or(RamFlashError(NorFlashErrorKind::OutOfBounds))?;
        for (d, s) in dst.iter_mut().zip(bytes) {
            *d &= *s;
        }
        Ok(())
    }
}

/// A write ANDs into the old content, so a unit may be written again (to clear more bits).
impl<const WRITE_SIZE: usize, const ERASE_SIZE: usize> MultiwriteNorFlash for RamFlash<WRITE_SIZE, ERASE_SIZE> {}
