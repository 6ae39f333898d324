//! The in-RAM index: for every file, where its data lies on flash.

use alloc::vec::Vec;

/// A contiguous part of a file stored in one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Piece {
    /// Flash address of the record header.
    pub addr: u32,
    /// File offset of the record's first data byte.
    pub off: u32,
    /// Data length.
    pub len: u32,
    /// The data CRC was checked.
    pub verified: bool,
}

/// One live file.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// Version (transaction) of the content.
    pub txn: u32,
    /// File length.
    pub len: u32,
    /// The `Final` record: the last piece, and the commit of the version.
    pub last: Piece,
    /// The pieces before `last`, by file offset (empty for files written as a single record).
    pub rest: Vec<Piece>,
    /// Pieces are missing, overlapping or failed their CRC: reads return `Error::Corrupt`.
    pub broken: bool,
}

impl Entry {
    pub fn pieces(&self) -> impl Iterator<Item = &Piece> {
        self.rest.iter().chain(core::iter::once(&self.last))
    }

    pub fn pieces_mut(&mut self) -> impl Iterator<Item = &mut Piece> {
        self.rest.iter_mut().chain(core::iter::once(&mut self.last))
    }
}

/// A committed group (the `Commit` of a `retain`) still present on flash.
///
/// Its `DelGroup` or `Keep` records stay live until the sector holding the commit is reclaimed: a
/// `DelGroup` must not disappear while data it deletes may still be on flash, and garbage collection
/// running in the middle of the group may have copied that data past the `DelGroup` (the file was live
/// until the commit). Everything the group hides lies before its commit, so it is gone with it.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub txn: u32,
    /// Sequence number of the sector holding the commit record.
    pub seq: u32,
    /// Addresses of its `DelGroup` or `Keep` records outside the commit's sector (those in it are
    /// reclaimed with the commit, so never copied: they do not count as live).
    pub recs: Vec<u32>,
}

/// The operation in progress: its records are live for the garbage collector although not committed.
#[derive(Debug, Default)]
pub(crate) enum Pending {
    #[default]
    None,
    Write {
        fid: u16,
        txn: u32,
        pieces: Vec<Piece>,
    },
    Group {
        txn: u32,
        /// Addresses of the group records written so far.
        addrs: Vec<u32>,
    },
}
