//! `backup DIR` and `restore DIR`: every key (WRAP KEY) with its description and certificate, every data
//! object and CA certificate with its description, as plain files and a [`manifest`](crate::manifest).
//!
//! A backup directory holds:
//! * `key-XX.wrap` per key `CCxx` (xx ≠ 00): sc-hsm-tool's `--wrap-key` format ([`crate::wrapfile`]);
//! * `C9xx.der` + `CFxx.bin` / `CDxx.bin`: a data object's description and content (`CDxx` = private);
//! * `C8xx.der` + `CAxx.der`: a certificate description and the certificate it points to;
//! * `CExx.der`: a key's certificate when the key has no description (sc-hsm-tool's format cannot
//!   hold a certificate alone);
//! * `manifest.txt`: every file with its FID and SHA-256, written last.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use crate::card::{self, Client, Transport};
use crate::hsm::{self, Domain, fid, prefix};
use crate::manifest::{self, Entry, MANIFEST, Manifest};
use crate::progress::{Mode, Progress};
use crate::wrapfile::{self, OPENSC_LIMITS, WrappedKey};
use crate::{Error, der, pkcs15};

/// The largest command data the tool sends: OpenSC's figure for a genuine SmartCard-HSM (a 1232-byte
/// buffer less the header and the UPDATE BINARY TLVs, `card-sc-hsm.c`). A longer blob goes through
/// file 2F10; files are written in pieces of this size less 8 bytes of TLV headers.
pub const MAX_COMMAND_DATA: usize = 1215;

/// What `backup` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackupSummary {
    pub keys: usize,
    /// Keys that cannot be exported (WRAP KEY 6985).
    pub skipped: Vec<u8>,
    pub data_objects: usize,
    pub certificates: usize,
}

/// What `restore` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreSummary {
    pub keys: usize,
    pub data_objects: usize,
    pub certificates: usize,
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn counts(keys: usize, data: usize, certs: usize) -> String {
    let mut s = format!(
        "{}, {}",
        plural(keys, "key", "keys"),
        plural(data, "data object", "data objects")
    );
    if certs > 0 {
        s += &format!(", {}", plural(certs, "certificate", "certificates"));
    }
    s
}

impl BackupSummary {
    /// "backed up 3 keys, 2 data objects to DIR" (and what was skipped).
    pub fn line(&self, dir: &Path) -> String {
        let mut s = format!(
            "backed up {} to {}",
            counts(self.keys, self.data_objects, self.certificates),
            dir.display()
        );
        if !self.skipped.is_empty() {
            let ids: Vec<String> = self.skipped.iter().map(|id| format!("{id:02X}")).collect();
            s += &format!(
                " ({} not exportable, skipped: {})",
                plural(self.skipped.len(), "key", "keys"),
                ids.join(", ")
            );
        }
        s
    }
}

impl RestoreSummary {
    /// "restored 3 keys, 2 data objects from DIR".
    pub fn line(&self, dir: &Path) -> String {
        format!(
            "restored {} from {}",
            counts(self.keys, self.data_objects, self.certificates),
            dir.display()
        )
    }
}

/// "key 01 "label"" for messages.
fn key_name(id: u8, label: Option<&str>) -> String {
    match label {
        Some(l) => format!("key {id:02X} {l:?}"),
        None => format!("key {id:02X}"),
    }
}

/// A card error while handling `what`, with the status word in words and what to do about it.
fn object_error(what: &str, e: card::Error) -> Error {
    let hint = match (&e, e.sw()) {
        (card::Error::Status(s), Some(0x6A88)) if s.command == "WRAP KEY" => {
            " — the key's domain has no complete DKEK: import the DKEK shares first"
        }
        (card::Error::Status(s), Some(0x6400)) if s.command == "UNWRAP KEY" => {
            " — the blob does not open with any DKEK of the device, or it is damaged"
        }
        (_, Some(0x6A84)) => " — the device's memory is full",
        _ => "",
    };
    Error::Input(format!("{what}: {e}{hint}"))
}

// ---------------------------------------------------------------------------------------------
// The directory

/// Checks that `dir` can take a backup: missing or empty, or anything with `force`. With `force`, the
/// files an earlier backup's manifest lists (and the manifest) are removed; other files stay.
pub fn prepare_dir(dir: &Path, force: bool) -> Result<(), Error> {
    let io = |what: &str, e: std::io::Error| Error::Input(format!("{}: {what}: {e}", dir.display()));
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            let names: Vec<String> = entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            if names.is_empty() {
                return Ok(());
            }
            if !force {
                return Err(Error::Input(format!(
                    "{} is not empty ({} entries); back up into an empty or new directory, or give --force to \
                     replace an earlier backup there",
                    dir.display(),
                    names.len()
                )));
            }
            if let Ok(text) = std::fs::read_to_string(dir.join(MANIFEST))
                && let Ok(old) = Manifest::parse(&text)
            {
                for e in old.entries {
                    match std::fs::remove_file(dir.join(&e.name)) {
                        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                            return Err(io(&format!("cannot remove {}", e.name), err));
                        }
                        _ => {}
                    }
                }
            }
            match std::fs::remove_file(dir.join(MANIFEST)) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                    Err(io(&format!("cannot remove {MANIFEST}"), err))
                }
                _ => Ok(()),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(dir).map_err(|e| io("cannot create the directory", e))
        }
        Err(e) => Err(io("cannot read the directory", e)),
    }
}

/// Writes one file of a backup, readable by its owner only.
fn write_private(dir: &Path, name: &str, data: &[u8]) -> Result<(), Error> {
    let path = dir.join(name);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(&path)
        .and_then(|mut f| f.write_all(data).and_then(|()| f.sync_all()))
        .map_err(|e| Error::Input(format!("cannot write {}: {e}", path.display())))
}

/// Writes one backup file and returns its manifest entry.
fn write_backup_file(dir: &Path, fid: u16, name: &str, data: &[u8]) -> Result<Entry, Error> {
    manifest::check_name(name).map_err(Error::Input)?;
    write_private(dir, name, data)?;
    Ok(Entry {
        fid,
        sha256: manifest::sha256(data),
        name: name.to_string(),
    })
}

/// The name of the file holding the content of `fid` (not a key).
fn file_name(fid: u16) -> String {
    match fid.to_be_bytes()[0] {
        prefix::DATA | prefix::PROT_DATA => format!("{fid:04X}.bin"),
        _ => format!("{fid:04X}.der"),
    }
}

/// The first TLV of a description or certificate file (what sc-hsm-tool's `determineLength` keeps);
/// `None` for an empty or unreadable one.
fn first_tlv(data: &[u8]) -> Option<(&[u8], usize)> {
    der::split(data).map(|(o, rest)| (o.raw, rest.len()))
}

// ---------------------------------------------------------------------------------------------
// Backup

/// Backs up every key, data object and CA certificate of the card into `dir` (see the module docs).
/// The card must be selected and the user PIN verified. `dir` is prepared with [`prepare_dir`].
pub fn backup<T: Transport>(c: &mut Client<T>, dir: &Path, force: bool, mode: Mode) -> Result<BackupSummary, Error> {
    prepare_dir(dir, force)?;
    let fids = hsm::list_keys(c)?;
    let with = |p: u8| -> Vec<u8> {
        fids.iter()
            .filter(|f| f.to_be_bytes()[0] == p)
            .map(|f| f.to_be_bytes()[1])
            .collect()
    };
    let keys: Vec<u8> = with(prefix::KEY).into_iter().filter(|id| *id != 0).collect();
    let (dcods, cds) = (with(prefix::DCOD), with(prefix::CD));

    let mut m = Manifest::default();
    m.comments
        .push(format!("made by pico-hsm-tool {}", env!("CARGO_PKG_VERSION")));
    if let Some(id) = hsm::device_id(c)? {
        m.comments.push(format!("device {id}"));
    }
    if let Ok(domains) = hsm::key_domains(c) {
        for (d, dom) in domains.iter().enumerate() {
            if let Domain::Configured(s) = dom
                && s.total > 0
                && s.missing == 0
            {
                m.comments
                    .push(format!("key domain {d}: DKEK KCV {}", hex::encode_upper(s.kcv)));
            }
        }
    }

    let progress = Progress::new(mode, (keys.len() + dcods.len() + cds.len()) as u64, "backup");
    let mut summary = BackupSummary::default();
    let mut saved: HashSet<u16> = HashSet::new();

    for &id in &keys {
        let prkd_file = if fids.contains(&fid(prefix::PRKD, id)) {
            hsm::read_file_opt(c, fid(prefix::PRKD, id))?
        } else {
            None
        };
        let label = prkd_file.as_deref().and_then(pkcs15::label);
        let name = key_name(id, label.as_deref());
        let blob = match hsm::wrap_key(c, id) {
            Ok(blob) => blob,
            Err(e) if e.sw() == Some(0x6985) => {
                progress.warn(&format!(
                    "{name}: not exportable, skipped: WRAP KEY answered 6985 (conditions of use not satisfied): \
                     the key's algorithm list does not allow key wrap (0x92)"
                ));
                summary.skipped.push(id);
                m.comments
                    .push(format!("key {id:02X}: not exportable (WRAP KEY 6985), not backed up"));
                progress.step(&format!("{name}: skipped"));
                continue;
            }
            Err(e) => return Err(object_error(&name, e)),
        };
        let cert_file = hsm::read_file_opt(c, fid(prefix::EE_CERT, id))?;
        let prkd = match prkd_file.as_deref().map(first_tlv) {
            Some(Some((tlv, extra))) => {
                if extra > 0 {
                    progress.warn(&format!(
                        "{name}: {extra} bytes after the description in C4{id:02X} are not saved"
                    ));
                }
                Some(tlv.to_vec())
            }
            Some(None) if !prkd_file.as_deref().unwrap_or_default().is_empty() => {
                progress.warn(&format!(
                    "{name}: the description in C4{id:02X} is not a TLV object; not saved"
                ));
                None
            }
            _ => None,
        };
        // sc-hsm-tool's format holds a certificate (one TLV) only after a description; any other
        // certificate file is kept in a file of its own.
        let mut parts = vec!["key"];
        if prkd.is_some() {
            parts.push("description");
        }
        let cert = match cert_file {
            Some(f) if f.is_empty() => None,
            Some(f) => match first_tlv(&f) {
                Some((tlv, 0)) if prkd.is_some() => {
                    parts.push("certificate");
                    Some(tlv.to_vec())
                }
                _ => {
                    let cf = fid(prefix::EE_CERT, id);
                    m.entries.push(write_backup_file(dir, cf, &file_name(cf), &f)?);
                    parts.push("certificate (in its own file)");
                    None
                }
            },
            None => None,
        };
        saved.insert(fid(prefix::EE_CERT, id));
        let wrapped = WrappedKey { blob, prkd, cert };
        let file = format!("key-{id:02X}.wrap");
        let too_big = wrapped.exceeds(&OPENSC_LIMITS);
        if !too_big.is_empty() {
            progress.warn(&format!(
                "{file}: sc-hsm-tool --unwrap-key cannot read it ({}); pico-hsm-tool restore can",
                too_big.join(", ")
            ));
        }
        let bytes = wrapped.encode().map_err(|e| Error::Input(format!("{name}: {e}")))?;
        m.entries
            .push(write_backup_file(dir, fid(prefix::KEY, id), &file, &bytes)?);
        summary.keys += 1;
        progress.step(&format!(
            "{name}: {} ({}) saved to {file}",
            parts.join(", "),
            wrapfile::blob_type(&wrapped.blob)
        ));
    }

    let groups: [(u8, &[u8], &[u8], &str); 2] = [
        (prefix::DCOD, &dcods, &[prefix::DATA, prefix::PROT_DATA], "data object"),
        (prefix::CD, &cds, &[prefix::CA_CERT], "certificate"),
    ];
    for (desc_prefix, ids, targets, what) in groups {
        for &xx in ids {
            let desc_fid = fid(desc_prefix, xx);
            let Some(desc) = hsm::read_file_opt(c, desc_fid)? else {
                progress.warn(&format!("{desc_fid:04X} vanished during the backup; not saved"));
                progress.step(&format!("{desc_fid:04X}: gone"));
                continue;
            };
            let label = pkcs15::label(&desc);
            let name = match &label {
                Some(l) => format!("{what} {l:?} ({desc_fid:04X})"),
                None => format!("{what} {desc_fid:04X}"),
            };
            // Where the description points; else OpenSC's convention (same xx).
            let target = match pkcs15::path_fid(&desc) {
                Some(t)
                    if manifest::check_fid(t).is_ok()
                        && ![prefix::KEY, prefix::CD, prefix::DCOD].contains(&t.to_be_bytes()[0]) =>
                {
                    Some(t)
                }
                _ => {
                    let mut found = None;
                    for &p in targets {
                        if hsm::file_exists(c, fid(p, xx))? {
                            found = Some(fid(p, xx));
                            break;
                        }
                    }
                    found
                }
            };
            let mut line = format!("{name}: description saved to {}", file_name(desc_fid));
            match target {
                Some(t) if saved.contains(&t) => {}
                Some(t) => match hsm::read_file_opt(c, t)? {
                    Some(content) => {
                        m.entries.push(write_backup_file(dir, t, &file_name(t), &content)?);
                        saved.insert(t);
                        line += &format!(", content ({} bytes) to {}", content.len(), file_name(t));
                    }
                    None => progress.warn(&format!(
                        "{name}: the description points to {t:04X}, which does not exist; only the description is saved"
                    )),
                },
                None => progress.warn(&format!(
                    "{name}: no file found that the description points to; only the description is saved"
                )),
            }
            m.entries
                .push(write_backup_file(dir, desc_fid, &file_name(desc_fid), &desc)?);
            if desc_prefix == prefix::DCOD {
                summary.data_objects += 1;
            } else {
                summary.certificates += 1;
            }
            progress.step(&line);
        }
    }

    // The manifest last: a directory without one is an unfinished backup.
    let tmp = format!("{MANIFEST}.tmp");
    write_private(dir, &tmp, m.to_text().as_bytes())?;
    std::fs::rename(dir.join(&tmp), dir.join(MANIFEST))
        .map_err(|e| Error::Input(format!("cannot write {}: {e}", dir.join(MANIFEST).display())))?;
    progress.finish();
    Ok(summary)
}

// ---------------------------------------------------------------------------------------------
// Restore

/// A key of a backup.
#[derive(Clone, Debug)]
pub struct BackupKey {
    pub id: u8,
    pub file: String,
    pub key: WrappedKey,
}

impl BackupKey {
    fn name(&self) -> String {
        key_name(self.id, self.key.prkd.as_deref().and_then(pkcs15::label).as_deref())
    }
}

/// A backup read from its directory and checked: the manifest, every file's SHA-256, the wrap files.
#[derive(Clone, Debug, Default)]
pub struct Backup {
    pub keys: Vec<BackupKey>,
    /// Other files: (FID, file name, content), certificates and data before their descriptions.
    pub files: Vec<(u16, String, Vec<u8>)>,
}

/// Reads and checks a backup directory. Nothing on a card is touched.
pub fn load(dir: &Path) -> Result<Backup, Error> {
    let mut b = Backup::default();
    for (e, data) in manifest::load(dir)? {
        let [p, id] = e.fid.to_be_bytes();
        if p == prefix::KEY {
            let key = WrappedKey::parse(&data)
                .map_err(|why| Error::Input(format!("{}: {}: {why}", dir.display(), e.name)))?;
            if key.blob.len() < 9 {
                return Err(Error::Input(format!(
                    "{}: {}: a key blob of {} bytes is too short",
                    dir.display(),
                    e.name,
                    key.blob.len()
                )));
            }
            b.keys.push(BackupKey { id, file: e.name, key });
        } else {
            b.files.push((e.fid, e.name, data));
        }
    }
    b.keys.sort_by_key(|k| k.id);
    // Contents first, descriptions after them; in FID order within each group.
    b.files.sort_by_key(|(f, _, _)| {
        let desc = matches!(f.to_be_bytes()[0], prefix::CD | prefix::DCOD);
        (desc, *f)
    });
    Ok(b)
}

/// How `restore` runs.
#[derive(Clone, Copy, Debug)]
pub struct RestoreOptions {
    /// Overwrite occupied key slots and existing files.
    pub force: bool,
    pub mode: Mode,
    /// The largest command data to send ([`MAX_COMMAND_DATA`]); a longer blob goes through 2F10.
    pub max_data: usize,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            force: false,
            mode: Mode::Auto,
            max_data: MAX_COMMAND_DATA,
        }
    }
}

fn domain_words(d: usize, dom: &Domain) -> String {
    match dom {
        Domain::NotSetUp => format!("key domain {d}: not set up"),
        Domain::Configured(s) if s.total == 0 && s.kcv == [0; 8] => format!("key domain {d}: no DKEK"),
        Domain::Configured(s) if s.missing > 0 => {
            format!("key domain {d}: waiting for {} of {} DKEK share(s)", s.missing, s.total)
        }
        Domain::Configured(s) => format!("key domain {d}: DKEK KCV {}", hex::encode_upper(s.kcv)),
    }
}

/// Checks that every key of the backup has a complete key domain with its blob's KCV on the device.
fn check_domains<T: Transport>(c: &mut Client<T>, keys: &[BackupKey]) -> Result<(), Error> {
    if keys.is_empty() {
        return Ok(());
    }
    let domains = match hsm::key_domains(c) {
        Ok(d) => d,
        Err(e) if e.sw() == Some(0x6D00) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let mut unmatched: Vec<String> = Vec::new();
    for k in keys {
        let kcv = wrapfile::blob_kcv(&k.key.blob).unwrap_or_default();
        // A complete domain: all shares in, or a DKEK of the device's own (no shares, a KCV).
        let ok = domains
            .iter()
            .any(|d| matches!(d, Domain::Configured(s) if s.missing == 0 && s.kcv != [0; 8] && s.kcv == kcv));
        if !ok {
            unmatched.push(format!("{} (KCV {})", k.file, hex::encode_upper(kcv)));
        }
    }
    if unmatched.is_empty() {
        return Ok(());
    }
    let state: Vec<String> = domains.iter().enumerate().map(|(d, s)| domain_words(d, s)).collect();
    let pending = domains
        .iter()
        .any(|d| matches!(d, Domain::Configured(s) if s.missing > 0));
    let has_dkek = domains
        .iter()
        .any(|d| matches!(d, Domain::Configured(s) if s.total > 0 || s.kcv != [0; 8]));
    let advice = match domains.first() {
        Some(Domain::Configured(s)) if s.total > 0 && s.missing > 0 => {
            "import the DKEK shares first (pico-hsm-tool dkek import-share)"
        }
        _ if pending => "import the DKEK shares first (pico-hsm-tool dkek import-share)",
        _ if !has_dkek => {
            "the device has no DKEK: initialize it with DKEK shares (sc-hsm-tool --initialize --dkek-shares N), \
             then import the DKEK shares first"
        }
        _ => "the device's DKEK is not the one the keys were wrapped with: import the same DKEK shares",
    };
    Err(Error::Input(format!(
        "no complete key domain of the device has the key check value of {}; the device has {}: {advice}. \
         Nothing was restored",
        unmatched.join(", "),
        if state.is_empty() {
            "no key domains".to_string()
        } else {
            state.join(", ")
        }
    )))
}

/// Restores a backup ([`load`]) into the card: keys (UNWRAP KEY, then their description and certificate,
/// as sc-hsm-tool does), then certificates and data objects with their descriptions. Everything is
/// checked before the first change: the DKEK of every key, and that no key slot or file is occupied
/// (unless `force`). The card must be selected and the user PIN verified.
pub fn restore<T: Transport>(c: &mut Client<T>, b: &Backup, opts: &RestoreOptions) -> Result<RestoreSummary, Error> {
    check_domains(c, &b.keys)?;

    // What is already there.
    let listed: HashSet<u16> = hsm::list_keys(c)?.into_iter().collect();
    let exists = |c: &mut Client<T>, f: u16| -> Result<bool, Error> {
        Ok(match f.to_be_bytes()[0] {
            prefix::KEY | prefix::PRKD | prefix::CD | prefix::DCOD => listed.contains(&f),
            _ => hsm::file_exists(c, f)?,
        })
    };
    let mut occupied: Vec<u16> = Vec::new();
    let mut conflicts: Vec<String> = Vec::new();
    for k in &b.keys {
        let key = fid(prefix::KEY, k.id);
        if exists(c, key)? {
            occupied.push(key);
            conflicts.push(format!("key slot {:02X} ({}) holds a key", k.id, k.file));
        }
        for (f, present) in [
            (fid(prefix::PRKD, k.id), k.key.prkd.is_some()),
            (fid(prefix::EE_CERT, k.id), k.key.cert.is_some()),
        ] {
            if exists(c, f)? {
                occupied.push(f);
                if present && !occupied.contains(&key) {
                    conflicts.push(format!("{f:04X} exists ({})", k.file));
                }
            }
        }
    }
    for (f, name, _) in &b.files {
        if exists(c, *f)? {
            occupied.push(*f);
            conflicts.push(format!("{f:04X} exists ({name})"));
        }
    }
    if !conflicts.is_empty() && !opts.force {
        return Err(Error::Input(format!(
            "the device already holds what the backup would write: {}. Give --force to overwrite; nothing was \
             restored",
            conflicts.join(", ")
        )));
    }

    let progress = Progress::new(opts.mode, (b.keys.len() + b.files.len()) as u64, "restore");
    let mut summary = RestoreSummary::default();
    let chunk = opts.max_data.saturating_sub(8).max(1);
    for k in &b.keys {
        let name = k.name();
        let what = format!("{name} from {}", k.file);
        if opts.force {
            // As sc-hsm-tool --unwrap-key --force: the old key and what belonged to it go first.
            for f in [
                fid(prefix::KEY, k.id),
                fid(prefix::PRKD, k.id),
                fid(prefix::EE_CERT, k.id),
            ] {
                if occupied.contains(&f) {
                    hsm::delete_file(c, f).map_err(|e| object_error(&what, e))?;
                }
            }
        }
        if k.key.blob.len() <= opts.max_data {
            hsm::unwrap_key(c, k.id, Some(&k.key.blob)).map_err(|e| object_error(&what, e))?;
        } else {
            hsm::write_file(c, hsm::FID_UNWRAP_STAGING, &k.key.blob, chunk).map_err(|e| object_error(&what, e))?;
            let r = hsm::unwrap_key(c, k.id, None);
            let _ = hsm::delete_file(c, hsm::FID_UNWRAP_STAGING);
            r.map_err(|e| object_error(&what, e))?;
        }
        let mut parts = vec!["key"];
        if let Some(prkd) = &k.key.prkd {
            hsm::write_file(c, fid(prefix::PRKD, k.id), prkd, chunk).map_err(|e| object_error(&what, e))?;
            parts.push("description");
        }
        if let Some(cert) = &k.key.cert {
            hsm::write_file(c, fid(prefix::EE_CERT, k.id), cert, chunk).map_err(|e| object_error(&what, e))?;
            parts.push("certificate");
        }
        summary.keys += 1;
        progress.step(&format!(
            "{name}: {} ({}) restored from {}",
            parts.join(", "),
            wrapfile::blob_type(&k.key.blob),
            k.file
        ));
    }
    for (f, name, data) in &b.files {
        let what = format!("{f:04X} from {name}");
        if opts.force && occupied.contains(f) {
            hsm::delete_file(c, *f).map_err(|e| object_error(&what, e))?;
        }
        hsm::write_file(c, *f, data, chunk).map_err(|e| object_error(&what, e))?;
        match f.to_be_bytes()[0] {
            prefix::DCOD => summary.data_objects += 1,
            prefix::CD => summary.certificates += 1,
            _ => {}
        }
        progress.step(&format!("{f:04X}: restored from {name} ({} bytes)", data.len()));
    }
    progress.finish();
    Ok(summary)
}
