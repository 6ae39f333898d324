//! `backup` and `restore` against the Pico HSM card core in-process (no pcscd): a backup of one card
//! restored into a second card with the same DKEK share gives keys that sign verifiably with the first
//! card's public key and encrypt identically; the data objects and CA certificates come back byte for
//! byte; every refusal (wrong or missing DKEK, occupied slots, a changed file) changes nothing.

use std::path::Path;

use hsm_apdu::tlv;
mod common;

use common::{InProcess, SHARE_A, SHARE_B, share};
use hsm_card::Card;
use hsm_card::testing::RamPlatform;
use hsm_crypto::asym::Curve;
use hsm_tool::card::{Client, Command};
use hsm_tool::commands::backup::{self, RestoreOptions};
use hsm_tool::hsm;
use hsm_tool::manifest::{self, MANIFEST};
use hsm_tool::progress::Mode;
use hsm_tool::wrapfile::WrappedKey;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

type TestClient = Client<InProcess>;

const PIN: &[u8] = b"648219";

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn pin() -> Zeroizing<Vec<u8>> {
    Zeroizing::new(PIN.to_vec())
}

/// A card initialized as `sc-hsm-tool --initialize --so-pin 3537363231383830 --pin 648219
/// --dkek-shares N` does it (no tag 92 for `None`), the shares imported, logged in.
fn card(seed: u64, dkek_shares: Option<u8>, shares: &[&str]) -> TestClient {
    let mut c = Client::new(InProcess(Card::new(RamPlatform::new(seed))));
    hsm_tool::cli::open(&mut c, None).unwrap();
    let mut init = h("80020001 8106 363438323139 8208 3537363231383830 910103");
    if let Some(n) = dkek_shares {
        init.extend_from_slice(&[0x92, 0x01, n]);
    }
    c.call("INITIALIZE", &Command::new(0x80, 0x50, 0x00, 0x00).data(&init))
        .unwrap();
    hsm_tool::cli::open(&mut c, None).unwrap();
    for s in shares {
        hsm::import_dkek_share(&mut c, 0, &share(s)).unwrap();
    }
    hsm_tool::cli::open(&mut c, Some(&pin())).unwrap();
    c
}

fn put(out: &mut Vec<u8>, tag: u16, value: &[u8]) {
    let mut hdr = [0u8; 7];
    out.extend_from_slice(tlv::header(tag, value.len(), &mut hdr));
    out.extend_from_slice(value);
}

/// GENERATE ASYMMETRIC KEY PAIR, P-256; returns the public point from the CV request.
fn gen_p256(c: &mut TestClient, id: u8) -> Vec<u8> {
    let d = Curve::Secp256r1.params();
    let mut t = Vec::new();
    put(
        &mut t,
        0x06,
        &[0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x02, 0x03],
    );
    put(&mut t, 0x81, d.p);
    put(&mut t, 0x82, d.a);
    put(&mut t, 0x83, d.b);
    put(&mut t, 0x84, d.g);
    put(&mut t, 0x85, d.n);
    let mut data = Vec::new();
    put(&mut data, 0x5F29, &[0]);
    put(&mut data, 0x42, b"UTCA00001");
    put(&mut data, 0x7F49, &t);
    put(&mut data, 0x5F20, b"UTTM00001");
    let req = c
        .call("GENERATE", &Command::new(0x00, 0x46, id, 0x00).data(&data).ne(65536))
        .unwrap();
    public_point(&req)
}

fn public_point(req: &[u8]) -> Vec<u8> {
    let path = [0x67, 0x7F21, 0x7F4E, 0x7F49, 0x86];
    path.iter()
        .fold(req, |d, tag| tlv::find(d, *tag).unwrap().unwrap())
        .to_vec()
}

/// An EC key description (PRKD) with a label, as OpenSC writes one.
fn ec_prkd(label: &str, id: u8) -> Vec<u8> {
    let mut common = Vec::new();
    put(&mut common, 0x0C, label.as_bytes());
    put(&mut common, 0x03, &[0x07, 0x80]);
    let mut class = Vec::new();
    put(&mut class, 0x04, &[id]);
    let mut body = Vec::new();
    put(&mut body, 0x30, &common);
    put(&mut body, 0x30, &class);
    let mut out = Vec::new();
    put(&mut out, 0xA0, &body);
    out
}

/// A data object description pointing to `target` (OpenSC's DODF entry layout).
fn dcod(label: &str, target: u16) -> Vec<u8> {
    let mut common = Vec::new();
    put(&mut common, 0x0C, label.as_bytes());
    put(&mut common, 0x03, &[0x06, 0x40]);
    let mut path = Vec::new();
    let mut p = vec![0x3F, 0x00];
    p.extend_from_slice(&target.to_be_bytes());
    put(&mut path, 0x04, &p);
    let mut path_seq = Vec::new();
    put(&mut path_seq, 0x30, &path);
    let mut body = Vec::new();
    put(&mut body, 0x30, &common);
    put(&mut body, 0x30, &[]);
    put(&mut body, 0xA1, &path_seq);
    let mut out = Vec::new();
    put(&mut out, 0x30, &body);
    out
}

fn sign(c: &mut TestClient, id: u8, hash: &[u8]) -> Vec<u8> {
    c.call("SIGN", &Command::new(0x80, 0x68, id, 0x70).data(hash).ne(256))
        .unwrap()
}

fn verify(point: &[u8], hash: &[u8], der_sig: &[u8]) {
    let (seq, _) = hsm_tool::der::split(der_sig).unwrap();
    let ints = hsm_tool::der::children(seq.value).unwrap();
    let mut raw = Vec::new();
    for i in ints {
        let v = i.value.strip_prefix(&[0]).unwrap_or(i.value);
        raw.extend(std::iter::repeat_n(0u8, 32 - v.len()));
        raw.extend_from_slice(v);
    }
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(point).unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&raw).unwrap();
    vk.verify_prehash(hash, &sig).unwrap();
}

fn aes_cbc(c: &mut TestClient, id: u8) -> Vec<u8> {
    c.call("CIPHER", &Command::new(0x80, 0x78, id, 0x10).data(&[0x5A; 32]).ne(256))
        .unwrap()
}

/// Card A: EC key 01 with a label, AES key 02, AES key 03 that may not be wrapped (algorithms 10
/// only), a public and a private data object, a CA certificate with its description.
struct Source {
    card: TestClient,
    ec_point: Vec<u8>,
}

const DATA_PUBLIC: &[u8] = b"public data object";
const DATA_PRIVATE: &[u8] = b"private data object, readable after login";
const CA_CERT: &[u8] = &[0x30, 0x03, 0x02, 0x01, 0x07];

fn source() -> Source {
    let mut c = card(7, Some(1), &[SHARE_A]);
    let ec_point = gen_p256(&mut c, 1);
    hsm::write_file(&mut c, 0xC401, &ec_prkd("ec-key", 1), 1000).unwrap();
    c.call("GENSYM", &Command::new(0x00, 0x48, 0x02, 0xB2)).unwrap();
    c.call(
        "GENSYM",
        &Command::new(0x00, 0x48, 0x03, 0xB0).data(&[0x91, 0x01, 0x10]),
    )
    .unwrap();
    hsm::write_file(&mut c, 0xCF01, DATA_PUBLIC, 1000).unwrap();
    hsm::write_file(&mut c, 0xC901, &dcod("public-obj", 0xCF01), 1000).unwrap();
    hsm::write_file(&mut c, 0xCD02, DATA_PRIVATE, 1000).unwrap();
    hsm::write_file(&mut c, 0xC902, &dcod("private-obj", 0xCD02), 1000).unwrap();
    hsm::write_file(&mut c, 0xCA01, CA_CERT, 1000).unwrap();
    // A CD without a parseable path: the backup falls back to OpenSC's convention (CAxx, same xx).
    hsm::write_file(&mut c, 0xC801, &h("30 07 30 05 0C 03 636131"), 1000).unwrap();
    Source { card: c, ec_point }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn backup_then_restore_into_a_second_card() {
    let mut a = source();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("bk");
    let s = backup::backup(&mut a.card, &dir, false, Mode::Lines).unwrap();
    assert_eq!((s.keys, s.data_objects, s.certificates), (2, 2, 1));
    assert_eq!(s.skipped, [3], "AES key 03 has no 0x92 in its algorithm list");
    assert_eq!(
        s.line(&dir),
        format!(
            "backed up 2 keys, 2 data objects, 1 certificate to {} (1 key not exportable, skipped: 03)",
            dir.display()
        )
    );
    assert_eq!(
        files_in(&dir),
        [
            "C801.der",
            "C901.der",
            "C902.der",
            "CA01.der",
            "CD02.bin",
            "CF01.bin",
            "key-01.wrap",
            "key-02.wrap",
            "manifest.txt"
        ]
    );
    #[cfg(unix)]
    for f in files_in(&dir) {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(&f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    assert_eq!(std::fs::read(dir.join("CD02.bin")).unwrap(), DATA_PRIVATE);
    let manifest_text = std::fs::read_to_string(dir.join(MANIFEST)).unwrap();
    assert!(manifest_text.contains("key 03: not exportable"), "{manifest_text}");
    // key-01.wrap: blob, the description written above, the card's CV request.
    let w = WrappedKey::parse(&std::fs::read(dir.join("key-01.wrap")).unwrap()).unwrap();
    assert_eq!(w.prkd.unwrap(), ec_prkd("ec-key", 1));
    assert_eq!(public_point(&w.cert.unwrap()), a.ec_point);
    assert_eq!(w.blob[8], 12);
    let w2 = WrappedKey::parse(&std::fs::read(dir.join("key-02.wrap")).unwrap()).unwrap();
    assert_eq!((w2.blob[8], w2.prkd.unwrap()[0], w2.cert), (15, 0xA8, None));

    // A second device with the same DKEK share.
    let mut b = card(8, Some(1), &[SHARE_A]);
    let loaded = backup::load(&dir).unwrap();
    let s = backup::restore(
        &mut b,
        &loaded,
        &RestoreOptions {
            mode: Mode::Lines,
            ..RestoreOptions::default()
        },
    )
    .unwrap();
    assert_eq!((s.keys, s.data_objects, s.certificates), (2, 2, 1));
    let hash = Sha256::digest(b"signed on the second device");
    let sig = sign(&mut b, 1, &hash);
    verify(&a.ec_point, &hash, &sig);
    assert_eq!(aes_cbc(&mut a.card, 2), aes_cbc(&mut b, 2));
    for (f, content) in [
        (0xCF01, DATA_PUBLIC.to_vec()),
        (0xCD02, DATA_PRIVATE.to_vec()),
        (0xCA01, CA_CERT.to_vec()),
        (0xC401, ec_prkd("ec-key", 1)),
        (0xC901, dcod("public-obj", 0xCF01)),
    ] {
        assert_eq!(hsm::read_file(&mut b, f).unwrap(), content, "{f:04X}");
        assert_eq!(
            hsm::read_file(&mut b, f).unwrap(),
            hsm::read_file(&mut a.card, f).unwrap()
        );
    }
    assert_eq!(
        hsm::read_file(&mut b, 0xCE01).unwrap(),
        hsm::read_file(&mut a.card, 0xCE01).unwrap(),
        "card A's CV request replaces the one UNWRAP made"
    );
    let keys_b = hsm::list_keys(&mut b).unwrap();
    assert!(!keys_b.contains(&0xCC03));

    // Again: everything is occupied now. Refused, listing what, and nothing changes.
    let before = hsm::list_keys(&mut b).unwrap();
    let err = backup::restore(&mut b, &loaded, &RestoreOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("key slot 01") && err.contains("CF01 exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(hsm::list_keys(&mut b).unwrap(), before);
    // With --force it overwrites.
    let opts = RestoreOptions {
        force: true,
        mode: Mode::Quiet,
        ..RestoreOptions::default()
    };
    backup::restore(&mut b, &loaded, &opts).unwrap();
    verify(&a.ec_point, &hash, &sign(&mut b, 1, &hash));
    assert_eq!(hsm::list_keys(&mut b).unwrap(), before);
}

#[test]
fn large_blobs_go_through_2f10() {
    let mut a = source();
    let tmp = tempfile::tempdir().unwrap();
    backup::backup(&mut a.card, tmp.path(), false, Mode::Quiet).unwrap();
    let mut b = card(9, Some(1), &[SHARE_A]);
    let opts = RestoreOptions {
        max_data: 40,
        mode: Mode::Quiet,
        ..RestoreOptions::default()
    };
    let loaded = backup::load(tmp.path()).unwrap();
    assert!(loaded.keys.iter().all(|k| k.key.blob.len() > 40));
    backup::restore(&mut b, &loaded, &opts).unwrap();
    let hash = Sha256::digest(b"via 2F10");
    verify(&a.ec_point, &hash, &sign(&mut b, 1, &hash));
    assert_eq!(aes_cbc(&mut a.card, 2), aes_cbc(&mut b, 2));
    assert_eq!(
        hsm::read_file(&mut b, 0xCD02).unwrap(),
        DATA_PRIVATE,
        "written in 32-byte pieces"
    );
    assert_eq!(
        hsm::read_file_opt(&mut b, 0x2F10).unwrap(),
        None,
        "staging file removed"
    );
}

#[test]
fn restore_needs_the_same_complete_dkek() {
    let mut a = source();
    let tmp = tempfile::tempdir().unwrap();
    backup::backup(&mut a.card, tmp.path(), false, Mode::Quiet).unwrap();
    let loaded = backup::load(tmp.path()).unwrap();
    let kcv_a = hex::encode_upper(&Sha256::digest(share(SHARE_A).as_slice())[..8]);

    let cases: [(Option<u8>, &[&str], &[&str]); 4] = [
        (Some(1), &[SHARE_B], &["KCV", "not the one the keys were wrapped with"]),
        (
            Some(2),
            &[SHARE_A],
            &["waiting for 1 of 2", "import the DKEK shares first"],
        ),
        (None, &[], &["no DKEK", "import the DKEK shares first"]),
        (Some(0), &[], &["DKEK KCV", "not the one the keys were wrapped with"]),
    ];
    for (seed, (shares, imported, words)) in (20..).zip(cases) {
        let mut b = card(seed, shares, imported);
        let before = hsm::list_keys(&mut b).unwrap();
        let err = backup::restore(&mut b, &loaded, &RestoreOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("key-01.wrap (KCV {kcv_a})")), "{err}");
        for w in words {
            assert!(err.contains(w), "{shares:?}: {w:?} not in: {err}");
        }
        assert!(err.contains("Nothing was restored"), "{err}");
        assert_eq!(hsm::list_keys(&mut b).unwrap(), before);
    }
}

#[test]
fn refusals_before_anything_changes() {
    // Backup without a DKEK: WRAP KEY 6A88 names the key and says what to do.
    let mut c = card(30, None, &[]);
    gen_p256(&mut c, 4);
    let tmp = tempfile::tempdir().unwrap();
    let err = backup::backup(&mut c, &tmp.path().join("x"), false, Mode::Quiet)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("key 04: WRAP KEY: 6A88 referenced data not found")
            && err.contains("import the DKEK shares first"),
        "{err}"
    );
    assert!(!tmp.path().join("x").join(MANIFEST).exists());

    // A non-empty directory needs --force; --force replaces the earlier backup's files only.
    let mut a = source();
    let dir = tmp.path().join("bk");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let err = backup::backup(&mut a.card, &dir, false, Mode::Quiet)
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not empty") && err.contains("--force"), "{err}");
    std::fs::remove_file(dir.join("notes.txt")).unwrap();
    backup::backup(&mut a.card, &dir, false, Mode::Quiet).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    backup::backup(&mut a.card, &dir, true, Mode::Quiet).unwrap();
    assert_eq!(std::fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
    let err = backup::load(&dir).unwrap_err().to_string();
    assert!(err.contains("does not list notes.txt"), "{err}");
    std::fs::remove_file(dir.join("notes.txt")).unwrap();
    backup::load(&dir).unwrap();

    // A changed file: the manifest no longer matches, nothing is read from the card.
    let mut w = WrappedKey::parse(&std::fs::read(dir.join("key-01.wrap")).unwrap()).unwrap();
    let last = w.blob.len() - 1;
    w.blob[last] ^= 1;
    let bytes = w.encode().unwrap();
    std::fs::write(dir.join("key-01.wrap"), &bytes).unwrap();
    let err = backup::load(&dir).unwrap_err().to_string();
    assert!(err.contains("key-01.wrap does not have the SHA-256"), "{err}");

    // A damaged blob whose manifest line was updated: the card refuses it (6400), named.
    let entry = format!("CC01 {} key-01.wrap", hex::encode(manifest::sha256(&bytes)));
    let text = std::fs::read_to_string(dir.join(MANIFEST)).unwrap();
    let text: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("CC01 ") {
                entry.clone()
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(dir.join(MANIFEST), text.join("\n")).unwrap();
    let loaded = backup::load(&dir).unwrap();
    let mut b = card(31, Some(1), &[SHARE_A]);
    let err = backup::restore(&mut b, &loaded, &RestoreOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("key 01 \"ec-key\" from key-01.wrap: UNWRAP KEY: 6400"),
        "{err}"
    );
    assert!(!hsm::list_keys(&mut b).unwrap().contains(&0xCC01));
}
