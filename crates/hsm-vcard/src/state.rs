//! The state directory of a virtual card.
//!
//! ```text
//! DIR/lock       empty; an exclusive lock on it keeps a second instance away
//! DIR/otp.bin    40 bytes, mode 0600, written once: 32-byte device root secret, then 8-byte serial
//! DIR/flash.bin  the card's NOR flash: main store (4 MiB at 0), then the counters store (256 KiB)
//! ```
//!
//! `otp.bin` plays the part of the RP2350's one-time-programmable fuses: created with fresh randomness on
//! first start and never rewritten, so losing it loses every key sealed in `flash.bin`.
//!
//! The directory is created with mode 0700 and must stay private: an existing one is used only if it
//! is a real directory (not a symlink), owned by the user running the card, and closed to group and
//! others; otherwise the card refuses to start and says what to fix. Its files are opened without
//! following symlinks, so nobody can plant an `otp.bin` or point `flash.bin` elsewhere.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
#[cfg(unix)]
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// Offset of the main store region in `flash.bin`.
pub const STORE_OFFSET: u64 = 0;
/// Size of the main store region: files, keys, certificates.
pub const STORE_SIZE: usize = 4 * 1024 * 1024;
/// Offset of the counters region in `flash.bin`, right after the main store.
pub const COUNTERS_OFFSET: u64 = STORE_SIZE as u64;
/// Size of the counters region: PIN retry and key use counters.
pub const COUNTERS_SIZE: usize = 256 * 1024;

const OTP_FILE: &str = "otp.bin";
const FLASH_FILE: &str = "flash.bin";
const LOCK_FILE: &str = "lock";
const SECRET_LEN: usize = 32;
const SERIAL_LEN: usize = 8;
const OTP_LEN: usize = SECRET_LEN + SERIAL_LEN;

/// The device identity kept in `otp.bin`.
pub struct Otp {
    /// The 32-byte device root secret.
    pub secret: Zeroizing<[u8; SECRET_LEN]>,
    /// The 8-byte device serial.
    pub serial: [u8; SERIAL_LEN],
}

/// An opened and locked state directory. The lock lasts as long as this value.
pub struct StateDir {
    path: PathBuf,
    _lock: File,
}

impl StateDir {
    /// Creates `path` if needed and takes its lock; fails if another instance holds it.
    pub fn open(path: &Path) -> Result<Self, String> {
        create_private_dir(path).map_err(|e| format!("cannot create state directory {}: {e}", path.display()))?;
        check_private_dir(path)?;
        let lock_path = path.join(LOCK_FILE);
        let lock = no_follow(OpenOptions::new().create(true).truncate(false).write(true))
            .open(&lock_path)
            .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(format!(
                    "state directory {} is in use by another pico-hsm-vcard (it holds the lock on {}); \
                     stop that one or pass a different --state-dir",
                    path.display(),
                    lock_path.display()
                ));
            }
            Err(TryLockError::Error(e)) => return Err(format!("cannot lock {}: {e}", lock_path.display())),
        }
        Ok(Self {
            path: path.to_path_buf(),
            _lock: lock,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The flash image file.
    pub fn flash_path(&self) -> PathBuf {
        self.path.join(FLASH_FILE)
    }

    /// The "OTP" file.
    pub fn otp_path(&self) -> PathBuf {
        self.path.join(OTP_FILE)
    }

    /// Opens `flash.bin` read-write (created with mode 0600, never through a symlink).
    pub fn open_flash(&self) -> Result<File, String> {
        let path = self.flash_path();
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        options.mode(0o600);
        let file = no_follow(&mut options)
            .open(&path)
            .map_err(|e| format!("cannot open {}: {e}{}", path.display(), symlink_hint(&path)))?;
        match file.metadata() {
            Ok(m) if m.is_file() => Ok(file),
            Ok(_) => Err(format!("{} is not a regular file", path.display())),
            Err(e) => Err(format!("cannot read the metadata of {}: {e}", path.display())),
        }
    }

    /// Reads `otp.bin`, creating it with fresh randomness on first use. Returns whether it was created.
    pub fn load_or_create_otp(&self) -> Result<(Otp, bool), String> {
        let path = self.otp_path();
        match no_follow(OpenOptions::new().read(true)).open(&path) {
            Ok(file) => read_otp(file, &path).map(|otp| (otp, false)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.create_otp(&path).map(|otp| (otp, true)),
            Err(e) => Err(format!("cannot open {}: {e}{}", path.display(), symlink_hint(&path))),
        }
    }

    fn create_otp(&self, path: &Path) -> Result<Otp, String> {
        let mut bytes = Zeroizing::new([0u8; OTP_LEN]);
        getrandom::fill(bytes.as_mut_slice()).map_err(|e| format!("no randomness from the OS for {OTP_FILE}: {e}"))?;
        // Written under a temporary name and renamed, so a crash never leaves a short otp.bin behind.
        let tmp = self.path.join(format!("{OTP_FILE}.tmp"));
        let write = || -> io::Result<()> {
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            options.mode(0o600);
            // A leftover of an interrupted first start (ours: the directory is private) goes first.
            match fs::remove_file(&tmp) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            let mut file = no_follow(&mut options).open(&tmp)?;
            file.write_all(bytes.as_slice())?;
            file.sync_all()?;
            fs::rename(&tmp, path)?;
            File::open(&self.path)?.sync_all()
        };
        write().map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        otp_from_bytes(bytes.as_slice()).ok_or_else(|| format!("cannot create {}", path.display()))
    }
}

fn read_otp(mut file: File, path: &Path) -> Result<Otp, String> {
    #[cfg(unix)]
    if let Ok(meta) = file.metadata()
        && meta.permissions().mode() & 0o077 != 0
    {
        log::warn!(
            "{} holds the device root secret but is readable by others (mode {:o}); run chmod 600 on it",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(OTP_LEN + 1));
    Read::by_ref(&mut file)
        .take(OTP_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    otp_from_bytes(&bytes).ok_or_else(|| {
        format!(
            "{} is damaged: {} bytes instead of {OTP_LEN}. It holds the device root secret and is never \
             rewritten; restore it from a backup, or move the whole state directory away to start a new device",
            path.display(),
            bytes.len()
        )
    })
}

fn otp_from_bytes(bytes: &[u8]) -> Option<Otp> {
    if bytes.len() != OTP_LEN {
        return None;
    }
    let (secret, serial) = bytes.split_at(SECRET_LEN);
    let mut otp = Otp {
        secret: Zeroizing::new([0; SECRET_LEN]),
        serial: serial.try_into().ok()?,
    };
    otp.secret.copy_from_slice(secret);
    Some(otp)
}

/// `options` that refuse to open a symlink (`O_NOFOLLOW`).
fn no_follow(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    options.custom_flags(libc::O_NOFOLLOW);
    options
}

/// A hint for an open error caused by a symlink.
fn symlink_hint(path: &Path) -> String {
    if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        " (it is a symlink; the state directory's files must be regular files)".to_string()
    } else {
        String::new()
    }
}

/// The state directory must be a real directory, ours, and closed to group and others.
fn check_private_dir(path: &Path) -> Result<(), String> {
    let meta = fs::symlink_metadata(path).map_err(|e| format!("cannot inspect {}: {e}", path.display()))?;
    if meta.file_type().is_symlink() || !meta.is_dir() {
        return Err(format!(
            "state directory {} is {}; give a real directory (it holds the device's keys)",
            path.display(),
            if meta.file_type().is_symlink() {
                "a symlink"
            } else {
                "not a directory"
            }
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let me = fs::metadata("/proc/self").map(|m| m.uid()).ok();
        if let Some(me) = me
            && meta.uid() != me
        {
            return Err(format!(
                "state directory {} belongs to uid {}, not to you (uid {me}); another user could read or                  replace the device's keys. Use a directory of your own (the default, or --state-dir in your home)",
                path.display(),
                meta.uid()
            ));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "state directory {} has mode {mode:o}: group or others can reach the device's keys. \
                 Run `chmod 700 {}` (nothing else needs to change), then start again",
                path.display(),
                path.display()
            ));
        }
    }
    Ok(())
}

fn create_private_dir(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otp_is_created_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(&dir.path().join("s")).unwrap();
        let (first, created) = state.load_or_create_otp().unwrap();
        assert!(created);
        let (second, created) = state.load_or_create_otp().unwrap();
        assert!(!created);
        assert_eq!(first.secret.as_slice(), second.secret.as_slice());
        assert_eq!(first.serial, second.serial);
        assert_ne!(first.secret.as_slice(), &[0; 32]);
        let meta = fs::metadata(state.otp_path()).unwrap();
        assert_eq!(meta.len(), 40);
        #[cfg(unix)]
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn two_directories_get_different_identities() {
        let dir = tempfile::tempdir().unwrap();
        let a = StateDir::open(&dir.path().join("a"))
            .unwrap()
            .load_or_create_otp()
            .unwrap()
            .0;
        let b = StateDir::open(&dir.path().join("b"))
            .unwrap()
            .load_or_create_otp()
            .unwrap()
            .0;
        assert_ne!(a.serial, b.serial);
        assert_ne!(a.secret.as_slice(), b.secret.as_slice());
    }

    #[test]
    fn second_instance_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let _first = StateDir::open(&path).unwrap();
        let err = StateDir::open(&path).err().unwrap();
        assert!(err.contains("in use by another pico-hsm-vcard"), "{err}");
    }

    #[test]
    fn damaged_otp_is_an_error_and_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(&dir.path().join("s")).unwrap();
        fs::write(state.otp_path(), [1u8; 12]).unwrap();
        let err = state.load_or_create_otp().err().unwrap();
        assert!(err.contains("damaged: 12 bytes"), "{err}");
        assert_eq!(fs::read(state.otp_path()).unwrap(), [1u8; 12]);
    }

    // Issue 10: before these checks an existing directory was trusted whatever its owner and mode,
    // and symlinks inside it were followed.

    #[test]
    #[cfg(unix)]
    fn a_directory_open_to_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        fs::create_dir(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        let err = StateDir::open(&path).err().unwrap();
        assert!(err.contains("mode 755") && err.contains("chmod 700"), "{err}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).unwrap();
        StateDir::open(&path).unwrap();
    }

    #[test]
    #[cfg(unix)]
    fn a_symlinked_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        fs::create_dir(&real).unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o700)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let err = StateDir::open(&link).err().unwrap();
        assert!(err.contains("symlink"), "{err}");
    }

    #[test]
    #[cfg(unix)]
    fn symlinked_files_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(&dir.path().join("s")).unwrap();
        let elsewhere = dir.path().join("planted");
        fs::write(&elsewhere, [7u8; 40]).unwrap();
        std::os::unix::fs::symlink(&elsewhere, state.otp_path()).unwrap();
        let err = state.load_or_create_otp().err().unwrap();
        assert!(err.contains("symlink"), "{err}");
        std::os::unix::fs::symlink(&elsewhere, state.flash_path()).unwrap();
        let err = state.open_flash().err().unwrap();
        assert!(err.contains("symlink"), "{err}");
        assert_eq!(fs::read(&elsewhere).unwrap(), [7u8; 40], "target untouched");
    }

    #[test]
    #[cfg(unix)]
    fn flash_is_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(&dir.path().join("s")).unwrap();
        drop(state.open_flash().unwrap());
        let meta = fs::metadata(state.flash_path()).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }

    #[test]
    #[cfg(unix)]
    fn a_directory_of_another_user_is_refused() {
        use std::os::unix::fs::MetadataExt;
        if fs::metadata("/proc/self").map(|m| m.uid()).ok() != Some(0) {
            eprintln!("skipped: needs root to give a directory to another user");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        fs::create_dir(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        let err = StateDir::open(&path).err().unwrap();
        assert!(err.contains("belongs to uid 65534"), "{err}");
    }
}
