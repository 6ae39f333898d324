//! A power-cut safe store of files keyed by a 16-bit file id (FID), on NOR flash.
//!
//! The store keeps the files of a SmartCard-HSM compatible card (keys, certificates, PIN and counter
//! files) in the flash given to [`Store::mount`], through the `embedded-storage`
//! [`NorFlash`](embedded_storage::nor_flash::NorFlash) trait.
//! Replacing a file is atomic: after a power cut at any moment the file has its old or its new content
//! and nothing else changed. Files may span many sectors (files of 64 KiB and more with 4 KiB sectors;
//! the largest file is close to the whole flash minus one sector). An in-RAM index maps each FID to the
//! location of its data, so reads never scan the flash.
//!
//! This documentation is the specification of the on-flash format.
//!
//! # Flash model
//!
//! NOR flash as `embedded-storage` describes it: an erase sets a whole sector (`ERASE_SIZE`) to `FF`; a
//! write (aligned to `WRITE_SIZE`, whole multiples of it) can only clear bits. [`Store::mount`] also
//! programs write units a second time, to clear data to zeros once it is superseded
//! ([`MultiwriteNorFlash`](embedded_storage::nor_flash::MultiwriteNorFlash): the RP2040/RP2350 QSPI flash,
//! the RAM and file flashes here); [`Store::mount_without_overwrite`] never does, for flashes with ECC
//! words, and then leaves old data on flash until garbage collection erases it (see
//! [Overwriting](#overwriting-superseded-data)). Geometry accepted: `WRITE_SIZE` a power of two up to 256 (the RP2040 programs 256-byte
//! pages, embassy-rp exposes `WRITE_SIZE` 1), `READ_SIZE` a power of two up to 256, `ERASE_SIZE` a power
//! of two from 256 bytes to 1 MiB, at least two sectors, capacity below 4 GiB. Otherwise
//! [`Error::Geometry`].
//!
//! What a power cut may do, and what the store assumes (the [`flash::PowerCut`] wrapper does exactly
//! this in the tests):
//! - a torn write programs an arbitrary subset of the bits it was clearing (nothing, a prefix, random
//!   bits, everything); bytes outside its range are untouched;
//! - a torn erase leaves the sector with arbitrary content (untouched, erased, partly erased, random);
//! - everything before the torn operation completed; nothing after it happened.
//!
//! # Sizes
//!
//! With `A = WRITE_SIZE` and `E = ERASE_SIZE`, every structure starts on a multiple of `A` and is padded
//! with `FF` to a multiple of `A`:
//!
//! | name | size | with `A` = 1, `E` = 4096 |
//! |---|---|---|
//! | `SH` sector header slot | 20 rounded up to `A` | 20 |
//! | `DS` GC completion slot | 8 rounded up to `A` | 8 |
//! | `HS` record header slot | 24 rounded up to `A` | 24 |
//! | `P` record area of a sector | `E - SH - DS` | 4068 |
//! | footprint of a record with `n` data bytes | `HS + roundup(n, A)` | `24 + n` |
//! | largest record data | `P - HS` | 4044 |
//!
//! All integers are little-endian. CRCs are CRC-32C (Castagnoli, the `crc` crate's `CRC_32_ISCSI`).
//!
//! # Sector layout
//!
//! ```text
//! 0        SH                SH+DS                                      E
//! | header | done (GC only)   | record | record | ... | FF FF FF ...     |
//! ```
//!
//! Sector header (20 bytes): `"PHSF"`, version `1`, kind (`1` normal, `2` GC, `3` format), log2 `E`,
//! log2 `A`, `seq: u32`, `src: u32` (GC sectors: `seq` of the sector being reclaimed; format sectors: the
//! lowest `txn` of the new store; else `FFFFFFFF`), CRC of the previous 16 bytes. A sector whose header
//! does not check (blank, torn, foreign, other geometry) is free, unless mount places it in the log (see
//! [Damaged images](#damaged-and-hostile-images)). `seq` grows by one for each sector opened.
//!
//! Done mark (8 bytes, GC sectors only): `"DONE"` and the sector's own `seq`; written once every live
//! record of the source sector has been copied.
//!
//! Record: a 24-byte header, then `len` data bytes.
//!
//! | bytes | field |
//! |---|---|
//! | 0 | type (below) |
//! | 1 | `0` |
//! | 2..4 | `fid: u16` |
//! | 4..8 | `txn: u32`, the operation (transaction) that wrote it |
//! | 8..12 | `off: u32` (data records: file offset of the data) |
//! | 12..16 | `len: u32`, data length (0 for the others) |
//! | 16..20 | CRC of the data |
//! | 20..24 | CRC of bytes 0..20 |
//!
//! | type | meaning |
//! |---|---|
//! | `11` Chunk | data `off..off+len` of version `txn` of file `fid` |
//! | `12` Final | the last data of version `txn`, file length `off+len`; **commits** the version |
//! | `21` Del | deletes file `fid` (self-committing) |
//! | `22` DelGroup | deletes `fid` if a Commit of `txn` exists |
//! | `23` Keep | exempts `fid` from the wipe Commit of `txn` |
//! | `31` Commit | commits the group records of `txn`; `off = 1` makes it a wipe: every file whose version is older than `txn` and that has no Keep of `txn` is deleted |
//!
//! Records are written header first, then data. Parsing a sector starts at `SH + DS` and goes slot by
//! slot: a header that checks is followed by its data (the next slot is after its footprint); an all-`FF`
//! slot ends the sector; anything else is skipped by one header slot (`HS`), which is where the writer
//! continues after a torn header. Every step moves forward, so parsing a sector takes at most `E / HS`
//! steps whatever it contains. A header with one flipped bit is corrected when the correction cannot move
//! the parse (a header-only record, or data that matches the corrected CRC or is all zero).
//!
//! Overwritten content: a record whose data is all `00` but does not match its CRC was superseded and
//! overwritten (it counts as nothing); a slot holding only `00` and `FF` bytes is *dead*: what is left of
//! a torn write that mount overwrote.
//!
//! # The log
//!
//! The sectors in use form a log: physically consecutive sectors (wrapping around the end of the flash)
//! with consecutive `seq`, from the oldest (tail) to the newest (head). Records are appended at the head;
//! when it is full the next sector is opened (erased first unless it reads blank, then its header is
//! written). At least one sector always stays free: the GC reserve.
//!
//! # Operations and atomicity
//!
//! - **write(fid, data)**: a new `txn`; the data goes in Chunk records filling the room of the head and
//!   then of new sectors (one record per sector), the last piece in a Final record. The Final is the
//!   commit point: it is written last, and at mount it counts only if its data CRC checks, so a torn
//!   Final is no commit. Chunks of an uncommitted version are garbage.
//! - **delete(fid)**: one Del record.
//! - **retain(keep)**: one transaction, committed by its single Commit record: a DelGroup per deleted file,
//!   or, when fewer, a Keep per kept file and a wipe Commit.
//!
//! **Mount** rebuilds the index in two passes over the log. Pass 1 finds, for each FID, the newest `txn`
//! with a Final whose data checks, the newest Del (or committed DelGroup), and the wipes; the file exists
//! if its newest committed version is newer than every delete and every wipe that does not keep it. Pass
//! 2 collects that version's Chunks. Pieces must tile `0..length` exactly; otherwise (only possible in a
//! damaged image) the file is marked corrupt and reads return [`Error::Corrupt`]. Other data CRCs are
//! checked the first time a record is read. The next `txn` is one more than the largest seen.
//!
//! A Final whose data does not check is a write cut by power only where a power cut leaves one: at the
//! very end of the log (the last record of the head sector, nothing but `FF` after it, no sector that may
//! continue the log after the head). Mount neutralizes it (overwrites it with zeros, data first, then its
//! header: its slots become dead) together with the data of its version's Chunks, so a torn write leaves
//! none of its data. Exception: if the file's previous version was overwritten with zeros (which happens
//! only once its successor committed) and no intact version follows the file's last delete, the write had
//! committed and the record is damaged: the file reads [`Error::Corrupt`]. Anywhere else a Final whose data
//! does not check is damage, and its file reads [`Error::Corrupt`] (unless an intact version newer than the
//! file's last delete precedes it: then it is a torn write left by a store that did not neutralize them).
//! A torn Final whose data, once zeroed, would check (a file of zeros) is completed instead. A header at
//! the end of the log one bit short of complete (a torn header write) is completed on flash.
//!
//! # Garbage collection
//!
//! When a new sector is needed and only the reserve is free, the tail is reclaimed:
//!
//! 1. open the reserve as a GC sector (`src` = tail's `seq`);
//! 2. copy the tail's live records into it verbatim (same headers, same CRCs): records of each file's
//!    current version, records of the operation in progress, and the DelGroup and Keep records of
//!    groups whose Commit is still on flash (in a later sector). Del and Commit records are dropped:
//!    everything they hide was written before them and never copied after them (a file leaves the index
//!    the moment its Del or the Commit is written), so it is already gone. A DelGroup is different: until
//!    its Commit the file is live, and a GC step inside the group (a retain in a full store) may copy the
//!    file's data past the DelGroup; that copy lies before the Commit, so the DelGroup is kept while the
//!    Commit is on flash. Group records in the Commit's own sector are reclaimed with it and do not count
//!    as live for the space accounting;
//! 3. write the done mark;
//! 4. erase the tail.
//!
//! Records overwritten with zeros are not live, so never copied: overwriting is final.
//!
//! The live data of one sector always fits in one sector, so a step needs exactly the reserve. At mount,
//! a head GC sector without done mark is dropped (rolled back: its source is intact) and a GC sector with
//! done mark whose source is still the tail drops that tail (finished). Sectors carrying a header but left
//! out of the log this way, or older than a format sector, are erased by mount before it returns, so they
//! cannot come back. On a damaged store that may miss records (unplaced or unparsed sectors, see below)
//! garbage collection is off: what is live is not known, and an erase could destroy what the missing
//! records would make live. The log then only grows into free sectors, and the store fills up. Either way the reserve is free again, so an interrupted step can be retried however
//! many times the power fails. GC copies records, never deletes the only copy: a live record is erased
//! only after its copy is complete and marked done. GC runs only when space is needed (amortized over
//! writes); every data record is copied at most once per pass of the log.
//!
//! # Capacity
//!
//! The store tracks the live bytes of each sector and decides whether an operation fits by simulating the
//! write algorithm over the room it can reach: the head's free room, free sectors beyond the reserve, then
//! the room garbage collection makes in each log sector (`P - live`) in tail order. [`Store::free_space`]
//! is the largest new file for which that succeeds while keeping room for four header-only records (so a
//! file can always be deleted); a write no larger always succeeds. With `S` sectors, an empty store takes
//!
//! ```text
//! max_file_size = (S - 1) × (P - HS) - 4 × HS
//! ```
//!
//! (4 MiB, 4 KiB sectors, `A` = 1: 4 136 916 bytes; 1 MiB: 1 031 124 bytes.) A file costs its length plus
//! one header per sector it spans (plus one); a sector end wastes less than `HS + 32` bytes. Replacing a
//! file needs room for both versions until the new one commits. At most 4096 files.
//!
//! # Wear
//!
//! The log is circular: sectors are opened in physical order and reclaimed from the tail, so every sector
//! is erased once per pass of the log and erase counts stay within one or two of each other, whatever the
//! mix of hot and static files. A pass writes `(S - 1) × P` bytes of records, of which the live data
//! copied by GC is the overhead: with live data `L`, `(S - 1) × P - L` bytes of new records per pass.
//! With an endurance of `N` erase cycles, the store accepts about `N × ((S - 1) × P - L)` bytes of
//! records (4 MiB store, 1 MiB live, N = 100 000: about 300 GB).
//!
//! Overwriting superseded data with zeros costs no erase: it programs as many bytes as the data it
//! clears, so it adds 1 to the bytes programmed per byte of data and leaves erases (the wear) as they
//! were. Measured (`examples/write_amplification.rs`: 4 MiB store, 4 KiB sectors, `A` = 1, 1 MiB of
//! other files; bytes per byte of file data; erases per 1000 operations, the same either way):
//!
//! | workload | programmed, overwrite on | programmed, off | erased | erases / 1000 ops |
//! |---|---:|---:|---:|---:|
//! | replace a 32-byte file | 3.36 | 2.36 | 2.38 | 18.6 |
//! | replace a 100-byte file | 2.68 | 1.68 | 1.69 | 41.2 |
//! | replace a 1 KiB file | 2.39 | 1.39 | 1.39 | 348 |
//! | replace a 64 KiB file | 2.36 | 1.36 | 1.36 | 21 767 |
//! | create + delete a 100-byte file | 3.01 | 2.01 | 2.01 | 24.6 |
//! | create + delete a 1 KiB file | 2.42 | 1.42 | 1.42 | 178 |
//!
//! # Overwriting superseded data
//!
//! Once an operation commits, the data it superseded (the old version of a replaced file, a deleted file,
//! the files a [`Store::retain`] drops) is programmed to `00` in place: NOR flash clears bits without an
//! erase. Record headers stay, so no sector parses differently; the data no longer matches its CRC and
//! counts as nothing. A power cut during the overwrite leaves it part-done; mount finishes it (every
//! superseded record whose data is not all zero is overwritten). Mount also overwrites the data of a write
//! a power cut interrupted (see [Operations](#operations-and-atomicity)). So no superseded or uncommitted
//! data survives on flash beyond the next mount, whatever the power did; what stays is record headers (type,
//! FID, `txn`, offset, length, the CRC of the old data). `flash::FileFlash` syncs to disk before it
//! clears bits of programmed bytes (and before an erase), so an OS crash cannot keep the overwrite and
//! lose the new version.
//!
//! With [`Store::mount_without_overwrite`] nothing is overwritten: old data stays until garbage collection
//! erases its sector, and torn records stay until then too (a Final whose data does not check is then no
//! commit, wherever it is: damage to a file's newest data record can make its previous version come back).
//! A store must be mounted the same way every time.
//!
//! # Torn operations
//!
//! | torn operation | what mount sees | outcome |
//! |---|---|---|
//! | sector header | sector header does not check, or one bit short | sector is free (erased before use), or opened (header completed) |
//! | record header | a non-blank slot that does not check, at the end of the log | overwritten with zeros (dead); the writer continues after it |
//! | record data | header checks, data CRC does not, at the end of the log | a Final is no commit; the version's data is overwritten with zeros |
//! | overwrite of superseded data | superseded data not all zero | overwritten again |
//! | done mark | done mark absent | GC step rolled back |
//! | erase of a GC source | tail still has a header, or not | step finished (source erased again) |
//! | erase of a free sector | anything | erased again before use |
//!
//! # Damaged and hostile images
//!
//! Mount never erases what it cannot prove holds nothing of the store, and never lets a file silently read
//! an older version or disappear. What it finds is in [`Store::report`] ([`MountReport`]):
//! - a header (sector or record) with one flipped bit is corrected (CRC-32C detects every error of up to
//!   three bits in a header, so the correction is certain);
//! - a log sector whose header is destroyed is *placed* when its neighbours' sequence numbers (or its done
//!   mark) give its place; its records are read as usual;
//! - a non-blank sector next to the log that cannot be placed is examined at every offset: if its records
//!   would change a file (a newer version, a delete, a missing piece) it is *unplaced* (kept, never used,
//!   never erased) and those files are *uncertain*; otherwise it is a leftover and is erased;
//! - a record header that does not parse anywhere but at the end of the log (where a torn write leaves one)
//!   makes its sector *unparsed*: the records it hides are looked for at every offset (their files are
//!   uncertain), and since its own file is unknown, any file the index does not know reads
//!   [`Error::Corrupt`] instead of [`Error::NotFound`];
//! - a Final or Chunk of a current version whose data does not check makes the file *damaged*.
//!
//! Uncertain and damaged files read [`Error::Corrupt`] until written (or, uncertain ones, deleted). With
//! unplaced or unparsed sectors garbage collection is off (see above). Only [`Store::format`] erases
//! unplaced and unparsed sectors.
//!
//! Limit: damage to the last record of the log can look exactly like a torn write. If its file had no
//! earlier version since its last delete (nothing overwritten that would prove the write committed), the
//! record is taken for torn and the file reads as before the write (usually [`Error::NotFound`]).
//!
//! A flash that is neither blank nor a store (no valid sector header, and a non-blank sector that is more
//! than a torn first header) gives [`Error::Corrupt`]; [`Store::format`] makes it a store (its format
//! sector's `src` is a `txn` floor above every record on flash, so no leftover of the old store passes for
//! a record of the new one). Every header is CRC-checked, every length and offset bounds-checked; scans
//! are bounded by the flash size. Nothing panics or loops on any image (proptested with random, damaged
//! and shuffled images; `tests/damage.rs` checks that no damage of one bit or one byte loses data
//! silently).
//!
//! # Performance
//!
//! Reads go straight to the data through the index. A write programs its data plus 24 bytes per record
//! (`HS` with `A` = 1); replacing or deleting a file also programs zeros over the old data (as many bytes
//! again). Mount reads every log sector twice and checks the CRC of the Final records' data: about 2 ms
//! for a full 4 MiB store on a PC, with or without overwriting.
//!
//! Time per operation (`benches/store.rs`, criterion, on a loaded 2-core PC, so ±15 %; 4 MiB store with
//! 1 MiB of other files, garbage collection amortized in):
//!
//! | operation | RAM, overwrite on | RAM, off | file, on | file, off |
//! |---|---:|---:|---:|---:|
//! | replace a 100-byte file | 0.52 µs | 0.39 µs | 3.2 ms | 0.13 ms |
//! | replace a 1 KiB file | 1.9 µs | 1.7 µs | 3.6 ms | 1.2 ms |
//! | create + delete a 1 KiB file | 2.0 µs | 1.8 µs | 4.2 ms | 1.0 ms |
//! | replace a 64 KiB file | 106 µs | 98 µs | 65 ms | 62 ms |
//!
//! On the file flash the difference is one `fdatasync` per replace or delete (the new version reaches
//! the disk before the old one is cleared); without overwriting, syncs happen only before erases.
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
#[cfg(test)]
mod tests;

pub use store::Store;

use alloc::vec::Vec;
use core::fmt;

/// Store errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The flash reported an error (or the power was cut). A change that fails this way may have been
    /// done or not: the store refuses further changes until it is mounted again.
    Flash,
    /// The image is not a store, a file failed its CRC, or the image exhausted a counter.
    Corrupt,
    /// Not enough free space (see [`Store::free_space`]), or already 4096 files.
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

/// What [`Store::mount`] found, from [`Store::report`] (see the crate documentation, "Damaged and
/// hostile images").
///
/// On an image that only power cuts touched, only `erased_sectors`, `scrubbed_records` and
/// `bad_record_slots` (torn header writes) can be non-empty: [`MountReport::is_clean`] is true. Anything
/// else means the image was damaged (flipped bits, a foreign write). Sector indexes count from 0 at the
/// start of the flash; `ERASE_SIZE` bytes each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MountReport {
    /// Sectors whose header had one flipped bit, corrected (the correction is certain: CRC-32C detects
    /// any three flipped bits in a header). Garbage collection rewrites the header when it reclaims them.
    /// (The newest sector's header one bit short is a sector open cut by power: completed, not reported.)
    pub repaired_sectors: Vec<u32>,
    /// Log sectors whose header does not check but whose place in the log is certain (their neighbours'
    /// sequence numbers, or their done mark, give it): their records are read as usual.
    pub placed_sectors: Vec<u32>,
    /// Non-blank sectors next to the log that could not be placed and may hold data the log lacks (a
    /// newer version or a delete of a file, a missing piece). They are left untouched and never used: the
    /// log grows up to the first of them, garbage collection is off, and the store fills up. Only
    /// [`Store::format`] erases them.
    pub unplaced_sectors: Vec<u32>,
    /// Log sectors with a record header that does not parse (damage): the records after it are looked for
    /// at every offset, and their files are uncertain. Since the damaged record's own file is unknown, a
    /// read of a file the store does not know gives [`Error::Corrupt`], not [`Error::NotFound`]: the store
    /// cannot tell it does not exist. Garbage collection is off and the store fills up; only
    /// [`Store::format`] erases them.
    pub unparsed_sectors: Vec<u32>,
    /// Record headers with one flipped bit, corrected (only where the correction cannot change how the
    /// sector parses: a header-only record, or data that matches the corrected CRC).
    pub repaired_records: u32,
    /// Record header slots that do not check and were skipped: torn header writes (normal after a power
    /// cut; overwritten with zeros once found), or damage.
    pub bad_record_slots: u32,
    /// Files whose state is in doubt: an unplaced sector or the unparsed part of a sector holds a record
    /// of theirs that would change them. Reads give [`Error::Corrupt`] until the file is written or
    /// deleted (a new version or a delete supersedes whatever the damaged part held).
    pub uncertain_files: Vec<u16>,
    /// Files whose current version is incomplete or inconsistent, or whose newest data record does not
    /// check (reads give [`Error::Corrupt`] until the file is written).
    pub damaged_files: Vec<u16>,
    /// Sectors mount erased as proven leftovers: of an interrupted garbage-collection step (rolled back
    /// or finished), of an interrupted format, or torn remains holding nothing the log lacks.
    pub erased_sectors: Vec<u32>,
    /// Records mount overwrote with zeros: superseded or deleted data still on flash (an overwrite cut
    /// short by a power cut, or records written without overwriting), and what a power cut left of an
    /// interrupted write.
    pub scrubbed_records: u32,
}

impl MountReport {
    /// Nothing was damaged: only power cuts (if anything) touched the image.
    pub fn is_clean(&self) -> bool {
        self.repaired_sectors.is_empty()
            && self.placed_sectors.is_empty()
            && self.repaired_records == 0
            && !self.data_at_risk()
    }

    /// Some data may be lost or unreachable: unplaced or unparsed sectors, files in doubt or damaged.
    /// Back up what reads, then start over ([`Store::format`]).
    pub fn data_at_risk(&self) -> bool {
        !(self.unplaced_sectors.is_empty()
            && self.unparsed_sectors.is_empty()
            && self.uncertain_files.is_empty()
            && self.damaged_files.is_empty())
    }
}

/// Flash activity since mount.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes programmed.
    pub bytes_written: u64,
    /// Sectors erased.
    pub sectors_erased: u64,
}
