//! The backup directory's `manifest.txt`: which file holds what, and its SHA-256.
//!
//! ```text
//! pico-hsm-tool backup 1
//! # comment lines start with '#'; blank lines are ignored
//! CC01 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 key-01.wrap
//! C901 …64 hex digits… C901.der
//! CF01 …64 hex digits… CF01.bin
//! ```
//!
//! The first line names the format and its version. Every other line is `FID SHA-256 FILE`: the file
//! identifier the content belongs to on the card, the SHA-256 of the file (as `sha256sum` prints it)
//! and the file's name in the directory. `CCxx` lines are wrapped keys in sc-hsm-tool's format, restored
//! into key slot xx; every other FID is restored as it is into that file. The manifest lists every
//! file of the directory: a restore refuses a directory with a missing, changed or unlisted file.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::Error;
use crate::hsm::prefix;

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.txt";
/// The manifest's first line.
pub const MAGIC: &str = "pico-hsm-tool backup 1";

/// One file of a backup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub fid: u16,
    pub sha256: [u8; 32],
    pub name: String,
}

/// A parsed manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Comment lines, without the `# `.
    pub comments: Vec<String>,
    pub entries: Vec<Entry>,
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// A file name a backup may hold: letters, digits, `.`, `_`, `-`; not starting with `.`; not the manifest.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name != MANIFEST
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a backup file name (letters, digits, '.', '_', '-'; not starting with '.')"
        ))
    }
}

/// Whether a backup may restore into `fid`, and if not why.
pub fn check_fid(fid: u16) -> Result<(), String> {
    let [p, xx] = fid.to_be_bytes();
    match p {
        prefix::KEY | prefix::EE_CERT if xx == 0 => Err(format!("{fid:04X} belongs to the device key")),
        prefix::KEY
        | prefix::CD
        | prefix::DCOD
        | prefix::CA_CERT
        | prefix::PROT_DATA
        | prefix::EE_CERT
        | prefix::DATA => Ok(()),
        _ => Err(format!(
            "{fid:04X} is not a key (CCxx), certificate (CAxx, CExx), description (C8xx, C9xx) or data object \
             (CDxx, CFxx)"
        )),
    }
}

impl Manifest {
    /// The manifest's text.
    pub fn to_text(&self) -> String {
        let mut s = format!("{MAGIC}\n");
        for c in &self.comments {
            s += &format!("# {c}\n");
        }
        for e in &self.entries {
            s += &format!("{:04X} {} {}\n", e.fid, hex::encode(e.sha256), e.name);
        }
        s
    }

    /// Parses and checks a manifest: names, FIDs, no FID or name twice.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, l)) if l.trim() == MAGIC => {}
            _ => return Err(format!("does not start with the line {MAGIC:?}")),
        }
        let mut m = Manifest::default();
        for (i, line) in lines {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            if let Some(c) = line.strip_prefix('#') {
                m.comments.push(c.trim().to_string());
                continue;
            }
            let n = i + 1;
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [fid, sha, name] = fields[..] else {
                return Err(format!("line {n}: expected `FID SHA-256 FILE`, got {line:?}"));
            };
            let fid = (fid.len() == 4)
                .then(|| u16::from_str_radix(fid, 16).ok())
                .flatten()
                .ok_or_else(|| format!("line {n}: {fid:?} is not a FID (4 hex digits)"))?;
            check_fid(fid).map_err(|e| format!("line {n}: {e}"))?;
            let sha256: [u8; 32] = hex::decode(sha)
                .ok()
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| format!("line {n}: {sha:?} is not a SHA-256 (64 hex digits)"))?;
            check_name(name).map_err(|e| format!("line {n}: {e}"))?;
            if m.entries.iter().any(|e| e.fid == fid) {
                return Err(format!("line {n}: FID {fid:04X} is listed twice"));
            }
            if m.entries.iter().any(|e| e.name == name) {
                return Err(format!("line {n}: file {name} is listed twice"));
            }
            m.entries.push(Entry {
                fid,
                sha256,
                name: name.to_string(),
            });
        }
        Ok(m)
    }
}

/// Reads a backup directory: the manifest and every file it lists, each checked against its SHA-256;
/// a file of the directory that the manifest does not list is an error too.
pub fn load(dir: &Path) -> Result<Vec<(Entry, Vec<u8>)>, Error> {
    let bad = |why: String| Error::Input(format!("{}: {why}", dir.display()));
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        bad(if e.kind() == std::io::ErrorKind::NotFound {
            format!("no {MANIFEST}: not a backup, or one that did not finish")
        } else {
            format!("cannot read {MANIFEST}: {e}")
        })
    })?;
    let manifest = Manifest::parse(&text).map_err(|e| bad(format!("{MANIFEST}: {e}")))?;
    let listed: Vec<String> = manifest.entries.iter().map(|e| e.name.clone()).collect();
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for e in manifest.entries {
        match std::fs::read(dir.join(&e.name)) {
            Ok(data) if sha256(&data) == e.sha256 => out.push((e, data)),
            Ok(_) => problems.push(format!("{} does not have the SHA-256 the manifest lists", e.name)),
            Err(err) => problems.push(format!("cannot read {}: {err}", e.name)),
        }
    }
    let mut unlisted = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| bad(format!("cannot list the directory: {e}")))?;
    for f in entries {
        let f = f.map_err(|e| bad(format!("cannot list the directory: {e}")))?;
        let name = f.file_name().to_string_lossy().into_owned();
        if name != MANIFEST && !listed.contains(&name) {
            unlisted.push(name);
        }
    }
    if !unlisted.is_empty() {
        unlisted.sort();
        problems.push(format!(
            "the manifest does not list {} (remove them, or add a `FID SHA-256 FILE` line for each)",
            unlisted.join(", ")
        ));
    }
    if !problems.is_empty() {
        return Err(bad(format!(
            "the files do not match {MANIFEST}: {}; nothing was restored",
            problems.join("; ")
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_errors() {
        let m = Manifest {
            comments: vec!["device X".into()],
            entries: vec![
                Entry {
                    fid: 0xCC01,
                    sha256: sha256(b"a"),
                    name: "key-01.wrap".into(),
                },
                Entry {
                    fid: 0xCF02,
                    sha256: sha256(b"b"),
                    name: "CF02.bin".into(),
                },
            ],
        };
        let text = m.to_text();
        assert!(text.starts_with("pico-hsm-tool backup 1\n# device X\nCC01 ca978112"));
        assert_eq!(Manifest::parse(&text).unwrap(), m);
        let sha = hex::encode(sha256(b"a"));
        for bad in [
            "something else\n".to_string(),
            format!("{MAGIC}\nCC01 {sha}\n"),
            format!("{MAGIC}\nCC00 {sha} k.wrap\n"),
            format!("{MAGIC}\nC401 {sha} k.wrap\n"),
            format!("{MAGIC}\nCC1 {sha} k.wrap\n"),
            format!("{MAGIC}\nCC01 {} k.wrap\n", &sha[2..]),
            format!("{MAGIC}\nCC01 {sha} ../k.wrap\n"),
            format!("{MAGIC}\nCC01 {sha} .hidden\n"),
            format!("{MAGIC}\nCC01 {sha} a\nCC01 {sha} b\n"),
            format!("{MAGIC}\nCC01 {sha} a\nCC02 {sha} a\n"),
        ] {
            assert!(Manifest::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn load_checks_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("key-01.wrap"), b"a").unwrap();
        let m = format!("{MAGIC}\nCC01 {} key-01.wrap\n", hex::encode(sha256(b"a")));
        std::fs::write(d.join(MANIFEST), &m).unwrap();
        assert_eq!(load(d).unwrap().len(), 1);
        std::fs::write(d.join("extra.bin"), b"x").unwrap();
        let err = load(d).unwrap_err().to_string();
        assert!(err.contains("does not list extra.bin"), "{err}");
        std::fs::remove_file(d.join("extra.bin")).unwrap();
        std::fs::write(d.join("key-01.wrap"), b"b").unwrap();
        let err = load(d).unwrap_err().to_string();
        assert!(err.contains("key-01.wrap does not have the SHA-256"), "{err}");
        std::fs::remove_file(d.join("key-01.wrap")).unwrap();
        let err = load(d).unwrap_err().to_string();
        assert!(err.contains("cannot read key-01.wrap"), "{err}");
        std::fs::remove_file(d.join(MANIFEST)).unwrap();
        assert!(load(d).unwrap_err().to_string().contains("no manifest.txt"));
    }
}
