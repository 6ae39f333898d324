use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::vec;
use std::vec::Vec;

use embedded_storage::nor_flash::{
    ErrorType, MultiwriteNorFlash, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

/// Error of [`FileFlash`].
#[derive(Debug)]
pub enum FileFlashError {
    /// A misaligned or out-of-bounds access.
    Access(NorFlashErrorKind),
    /// The file could not be read or written.
    Io(io::Error),
}

impl NorFlashError for FileFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            Self::Access(kind) => *kind,
            Self::Io(_) => NorFlashErrorKind::Other,
        }
    }
}

/// NOR flash backed by the byte range `offset..offset + size` of a file.
///
/// Erase writes `0xFF`; a write ANDs the data into the old content (NOR semantics), so a store written for
/// real flash behaves identically here. Every operation is a positioned read/write (`pread`/`pwrite`) that
/// reaches the kernel before it returns, so it survives a crash of the process; [`FileFlash::sync`] makes
/// it survive a crash of the machine. Several `FileFlash` over disjoint ranges of one file are
/// independent (the virtual card keeps its main store and its counter store in one `flash.bin`).
///
/// Geometry: `WRITE_SIZE` 1, `ERASE_SIZE` 4096 (like the RP2040/RP2350 flash through embassy-rp).
#[derive(Debug)]
pub struct FileFlash {
    file: File,
    offset: u64,
    size: usize,
    /// Bytes were programmed over erased ones since the last `fdatasync`.
    unsynced: bool,
}

impl FileFlash {
    /// The erase (sector) size.
    pub const SECTOR: usize = 4096;

    /// Opens (creating it if needed) `path` and uses `offset..offset + size` as the flash. If the file is
    /// shorter than `offset + size` it is extended with `0xFF` (erased flash). `size` is rounded down to
    /// whole sectors.
    pub fn open(path: impl AsRef<Path>, offset: u64, size: usize) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        Self::from_file(file, offset, size)
    }

    /// Like [`FileFlash::open`] on an already opened (read-write) file, for callers that open it
    /// their own way (mode, no symlinks).
    pub fn from_file(file: File, offset: u64, size: usize) -> io::Result<Self> {
        let size = size - size % Self::SECTOR;
        let end = offset
            .checked_add(size as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "flash region beyond u64"))?;
        let len = file.metadata()?.len();
        if len < end {
            // Fill the gap (and anything up to our end) with erased bytes, in bounded chunks.
            let chunk = vec![0xFFu8; 64 * 1024];
            let mut pos = len;
            while pos < end {
                let n = (end - pos).min(chunk.len() as u64) as usize;
                write_at(&file, chunk.get(..n).unwrap_or(&[]), pos)?;
                pos += n as u64;
            }
        }
        Ok(Self {
            file,
            offset,
            size,
            unsynced: false,
        })
    }

    /// Flushes written data to the disk (`fdatasync`).
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()?;
        self.unsynced = false;
        Ok(())
    }

    /// An ordering point: what was programmed so far reaches the disk before what follows.
    fn barrier(&mut self) -> Result<(), FileFlashError> {
        if self.unsynced {
            self.sync().map_err(FileFlashError::Io)?;
        }
        Ok(())
    }

    /// Reads the whole region (for tests and diagnostics).
    pub fn to_vec(&mut self) -> io::Result<Vec<u8>> {
        let mut v = vec![0u8; self.size];
        read_at(&self.file, &mut v, self.offset)?;
        Ok(v)
    }

    fn check(&self, offset: u32, len: usize, align: usize) -> Result<u64, FileFlashError> {
        let start = super::check(offset, len, align, self.size).map_err(FileFlashError::Access)?;
        Ok(self.offset + start as u64)
    }
}

#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], pos: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, pos)
}

#[cfg(unix)]
fn write_at(file: &File, buf: &[u8], pos: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, pos)
}

#[cfg(windows)]
fn read_at(file: &File, mut buf: &mut [u8], mut pos: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, pos)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                pos += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(windows)]
fn write_at(file: &File, mut buf: &[u8], mut pos: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_write(buf, pos)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => {
                buf = &buf[n..];
                pos += n as u64;
            }
        }
    }
    Ok(())
}

impl ErrorType for FileFlash {
    type Error = FileFlashError;
}

impl ReadNorFlash for FileFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let pos = self.check(offset, bytes.len(), 1)?;
        read_at(&self.file, bytes, pos).map_err(FileFlashError::Io)
    }

    fn capacity(&self) -> usize {
        self.size
    }
}

impl NorFlash for FileFlash {
    const WRITE_SIZE: usize = 1;
    const ERASE_SIZE: usize = FileFlash::SECTOR;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        let len = (to as usize)
            .checked_sub(from as usize)
            .ok_or(FileFlashError::Access(NorFlashErrorKind::OutOfBounds))?;
        let pos = self.check(from, len, Self::ERASE_SIZE)?;
        // The store's ordering points are the operations that destroy data: an erase comes after the
        // copies that make the erased data redundant (garbage collection), an overwrite of programmed
        // bytes (a superseded record cleared to zeros) after the commit of its replacement. What was
        // programmed before reaches the disk first, so an OS crash cannot leave the destruction on disk
        // without it. (Plain writes need no such barrier: a lost tail of writes is a power cut the store
        // recovers from.)
        self.barrier()?;
        let ff = vec![0xFFu8; len];
        write_at(&self.file, &ff, pos).map_err(FileFlashError::Io)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        let pos = self.check(offset, bytes.len(), 1)?;
        let mut old = vec![0u8; bytes.len()];
        read_at(&self.file, &mut old, pos).map_err(FileFlashError::Io)?;
        // Clearing bits of bytes already programmed destroys what they held: an ordering point. (Such
        // overwrites need no order among themselves, so only programming erased bytes calls for one.)
        if old.iter().zip(bytes).any(|(&o, &b)| o != 0xFF && o & b != o) {
            self.barrier()?;
        }
        let fresh = old.iter().zip(bytes).any(|(&o, &b)| o == 0xFF && b != 0xFF);
        for (o, b) in old.iter_mut().zip(bytes) {
            *o &= *b;
        }
        write_at(&self.file, &old, pos).map_err(FileFlashError::Io)?;
        self.unsynced |= fresh;
        Ok(())
    }
}

/// A write ANDs into the old content, so a unit may be written again (to clear more bits).
impl MultiwriteNorFlash for FileFlash {}
