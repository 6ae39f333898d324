//! WRAP KEY (80 72 id 92) and UNWRAP KEY (80 74 id 93): keys leave and enter the device only as
//! SmartCard-HSM key blobs under a domain's DKEK (reference §3.16, §3.17, §7.3).
//!
//! ```text
//! KCV(8) ‖ type(1) ‖ len(2) OID ‖ len(2) allowed algorithms ‖ len(2)=0 ACL ‖ len(2)=0 key OID ‖
//! AES-256-CBC(Kenc, IV 0, random(8) ‖ key block ‖ 80 00… to a block) ‖ CMAC-AES-256(Kmac, all before)
//! ```
//! `KCV = SHA-256(DKEK)[0..8]`, `Kenc = SHA-256(DKEK ‖ 00000001)`, `Kmac = SHA-256(DKEK ‖ 00000002)`.
//! Key blocks start with a 2-byte size, then 2-byte-length-prefixed fields: RSA type 5 (bits; D, N,
//! E), type 6 on import (bits; DP1, DQ1, P, PQ, Q, N, E), EC type 12 (bits of p; A, B, P, N, G, D,
//! Q), AES type 15 (the key length in bytes, then the key itself without a length prefix).
//! EC fields are written at their full length (upstream writes mbedTLS' minimal lengths; readers,
//! upstream's included, use only P, G and D). Ed25519/Ed448/X25519/X448 keys carry their RFC 8032 /
//! RFC 7748 private and public encodings as D and Q, as upstream's host library writes them.

use alloc::vec::Vec;

use hsm_apdu::{CommandView, Reply, Status};
use hsm_crypto::asym::{Curve, CurveKind, EcPrivateKey};
use hsm_crypto::sym::{self, Direction, Mode};
use zeroize::Zeroizing;

use crate::dkek::{MAX_DOMAINS, kcv};
use crate::keys::{MAX_SECRET_KEY, Metadata, PrivateKey};
use crate::{App, Platform};

/// Algorithm byte a key's list must hold for it to be exported (reference §6.6).
const ALGO_WRAP: u8 = 0x92;
/// The staging file UNWRAP reads when the command has no data (reference §3.17).
const UNWRAP_STAGING: u16 = 0x2F10;

const TYPE_RSA: u8 = 5;
const TYPE_RSA_CRT: u8 = 6;
const TYPE_EC: u8 = 12;
const TYPE_AES: u8 = 15;
/// id-TA-RSA-v1-5-SHA-256, id-TA-ECDSA-SHA-256 and 2.16.840.1.101.3.4.1 (AES), as blobs carry them.
const OID_RSA: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x01, 0x02];
const OID_EC: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x02, 0x03];
const OID_AES: [u8; 8] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01];

/// The two keys of a DKEK's blobs.
struct BlobKeys {
    enc: Zeroizing<[u8; 32]>,
    mac: Zeroizing<[u8; 32]>,
}

fn blob_keys(dkek: &[u8; 32]) -> BlobKeys {
    let derive = |n: u8| Zeroizing::new(hsm_crypto::hash::sha256(&[dkek, &[0, 0, 0, n]]));
    BlobKeys {
        enc: derive(1),
        mac: derive(2),
    }
}

fn put_field(out: &mut Vec<u8>, value: &[u8]) {
    out.extend_from_slice(&u16::try_from(value.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(value);
}

/// A key's blob type, its OID and its plaintext key block.
type Encoded = (u8, &'static [u8], Zeroizing<Vec<u8>>);

/// The blob type, OID and plaintext key block of `key`.
fn encode_key(key: &PrivateKey) -> Result<Encoded, Status> {
    let mut block = Zeroizing::new(Vec::with_capacity(1200));
    let bits = |n: usize| u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes();
    match key {
        #[cfg(feature = "rsa")]
        PrivateKey::Rsa(k) => {
            block.extend_from_slice(&bits(k.bits()));
            put_field(&mut block, &k.private_exponent());
            put_field(&mut block, &k.modulus());
            put_field(&mut block, &k.public_exponent());
            Ok((TYPE_RSA, &OID_RSA, block))
        }
        PrivateKey::Ec(k) => {
            let d = k.curve().params();
            block.extend_from_slice(&bits(d.p.len() * 8));
            for field in [d.a, d.b, d.p, d.n, d.g] {
                put_field(&mut block, field);
            }
            put_field(&mut block, &k.to_bytes());
            put_field(&mut block, &k.public_key().map_err(|_| Status::ExecutionError)?);
            Ok((TYPE_EC, &OID_EC, block))
        }
        PrivateKey::Secret(k) => {
            block.extend_from_slice(&bits(k.len()));
            block.extend_from_slice(k);
            Ok((TYPE_AES, &OID_AES, block))
        }
    }
}

/// A whole blob of `key` under `dkek`, with `random` as its first plaintext bytes.
fn encode_blob(key: &PrivateKey, allowed: &[u8], dkek: &[u8; 32], random: &[u8; 8]) -> Result<Vec<u8>, Status> {
    let (kind, oid, block) = encode_key(key)?;
    let keys = blob_keys(dkek);
    let mut out = Vec::with_capacity(64 + block.len() + 32);
    out.extend_from_slice(&kcv(dkek));
    out.push(kind);
    put_field(&mut out, oid);
    put_field(&mut out, allowed);
    put_field(&mut out, &[]);
    put_field(&mut out, &[]);
    let mut plain = Zeroizing::new(Vec::with_capacity(block.len() + 24));
    plain.extend_from_slice(random);
    plain.extend_from_slice(&block);
    if !plain.len().is_multiple_of(sym::BLOCK) {
        plain.push(0x80);
        let padded = plain.len().next_multiple_of(sym::BLOCK);
        plain.resize(padded, 0);
    }
    let ct = sym::aes(Mode::Cbc, Direction::Encrypt, &keys.enc[..], &[0; 16], &[], &plain)
        .map_err(|_| Status::ExecutionError)?;
    out.extend_from_slice(&ct);
    let mac = sym::cmac(&keys.mac[..], &out).map_err(|_| Status::ExecutionError)?;
    out.extend_from_slice(&mac);
    Ok(out)
}

/// A cursor over length-prefixed fields; every read fails cleanly past the end.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    fn u16(&mut self) -> Option<usize> {
        let (v, rest) = self.0.split_first_chunk::<2>()?;
        self.0 = rest;
        Some(usize::from(u16::from_be_bytes(*v)))
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (v, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(v)
    }

    fn field(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.bytes(n)
    }
}

/// The clear header of a blob: type, allowed algorithms, encrypted part, CMAC'd part, CMAC.
struct Header<'a> {
    kind: u8,
    allowed: &'a [u8],
    encrypted: &'a [u8],
    authenticated: &'a [u8],
    mac: &'a [u8],
}

fn parse_header(blob: &[u8]) -> Option<Header<'_>> {
    let split = blob.len().checked_sub(sym::BLOCK)?;
    let (authenticated, mac) = blob.split_at(split);
    let mut f = Fields(authenticated);
    f.bytes(8)?;
    let kind = *f.bytes(1)?.first()?;
    let oid = f.field()?;
    let expected: &[u8] = match kind {
        TYPE_RSA | TYPE_RSA_CRT => &OID_RSA,
        TYPE_EC => &OID_EC,
        TYPE_AES => &OID_AES,
        _ => return None,
    };
    if oid != expected {
        return None;
    }
    let allowed = f.field()?;
    f.field()?;
    f.field()?;
    let encrypted = f.0;
    if encrypted.is_empty() || !encrypted.len().is_multiple_of(sym::BLOCK) {
        return None;
    }
    Some(Header {
        kind,
        allowed,
        encrypted,
        authenticated,
        mac,
    })
}

/// Decodes the key block of a blob of type `kind` (after the 8 random bytes).
fn decode_key(kind: u8, block: &[u8]) -> Option<PrivateKey> {
    let mut f = Fields(block);
    let size = f.u16()?;
    let key = match kind {
        TYPE_AES => {
            if size == 0 || size > MAX_SECRET_KEY {
                return None;
            }
            PrivateKey::Secret(Zeroizing::new(f.bytes(size)?.to_vec()))
        }
        TYPE_EC => {
            let (_a, _b, p, _n, g) = (f.field()?, f.field()?, f.field()?, f.field()?, f.field()?);
            let d = f.field()?;
            f.field()?;
            let curve = Curve::identify(p, g)?;
            let d = match curve.kind() {
                // Big-endian scalars may come shorter or longer (leading zeros) than the field.
                CurveKind::Weierstrass => {
                    let start = d.iter().position(|&b| b != 0).unwrap_or(d.len());
                    d.get(start..)?
                }
                _ => d,
            };
            PrivateKey::Ec(EcPrivateKey::from_bytes(curve, d).ok()?)
        }
        TYPE_RSA | TYPE_RSA_CRT => decode_rsa(kind, &mut f)?,
        _ => return None,
    };
    // What is left is the padding: nothing, or 80 followed by zeros.
    match f.0.split_first() {
        None => Some(key),
        Some((0x80, zeros)) if zeros.iter().all(|&b| b == 0) => Some(key),
        _ => None,
    }
}

#[cfg(feature = "rsa")]
fn decode_rsa(kind: u8, f: &mut Fields<'_>) -> Option<PrivateKey> {
    use hsm_crypto::asym::rsa::RsaPrivateKey;
    let key = if kind == TYPE_RSA {
        let (d, n, e) = (f.field()?, f.field()?, f.field()?);
        RsaPrivateKey::from_ned(n, e, d).ok()?
    } else {
        let (_dp1, _dq1, p, _pq, q, _n, e) = (
            f.field()?,
            f.field()?,
            f.field()?,
            f.field()?,
            f.field()?,
            f.field()?,
            f.field()?,
        );
        RsaPrivateKey::from_pqe(p, q, crate::keygen::uint(e).ok()?).ok()?
    };
    Some(PrivateKey::Rsa(alloc::boxed::Box::new(key)))
}

#[cfg(not(feature = "rsa"))]
fn decode_rsa(_: u8, _: &mut Fields<'_>) -> Option<PrivateKey> {
    None
}

/// Verifies and decrypts a blob under `dkek`: the key and its allowed-algorithm list.
fn decode_blob(header: &Header<'_>, dkek: &[u8; 32]) -> Option<(PrivateKey, Vec<u8>)> {
    let keys = blob_keys(dkek);
    let mac = sym::cmac(&keys.mac[..], header.authenticated).ok()?;
    if !hsm_crypto::ct_eq(&mac, header.mac) {
        return None;
    }
    let plain = sym::aes(
        Mode::Cbc,
        Direction::Decrypt,
        &keys.enc[..],
        &[0; 16],
        &[],
        header.encrypted,
    )
    .ok()?;
    let key = decode_key(header.kind, plain.get(8..)?)?;
    Some((key, header.allowed.to_vec()))
}

impl<P: Platform> App<P> {
    /// WRAP KEY (80 72 id 92): the key's blob under its domain's DKEK.
    pub(crate) fn wrap_key(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        let id = cmd.p1;
        if cmd.p2 != 0x92 {
            return Err(Status::WrongP1P2);
        }
        if !self.session.user_authenticated || id == 0 {
            return Err(Status::SecurityStatusNotSatisfied);
        }
        if !self.platform.store().contains(crate::keys::key_fid(id)) {
            return Err(Status::FileNotFound);
        }
        let meta = self.key_metadata(id)?;
        let dkek = self.load_dkek(meta.domain.unwrap_or(0))?;
        if !meta.allows(ALGO_WRAP) {
            return Err(Status::ConditionsNotSatisfied);
        }
        self.confirm_use()?;
        let key = self.open_key(id)?;
        let random = self.random_array::<8>()?;
        let blob = encode_blob(&key, meta.algorithms.as_deref().unwrap_or_default(), &dkek, &random)?;
        reply.extend(&blob)?;
        Ok(())
    }

    /// UNWRAP KEY (80 74 id 93): stores the key of a blob (from the data, or from 2F10 when the
    /// command has none) with its algorithm list and the domain whose DKEK opened it, its
    /// description and, for RSA and EC keys, a CV request as after key generation.
    pub(crate) fn unwrap_key(&mut self, cmd: &CommandView<'_>) -> Result<(), Status> {
        let id = cmd.p1;
        if cmd.p2 != 0x93 {
            return Err(Status::WrongP1P2);
        }
        if !self.session.user_authenticated || id == 0 {
            return Err(Status::SecurityStatusNotSatisfied);
        }
        let staged;
        let blob = if cmd.data.is_empty() {
            staged = self.read_file(UNWRAP_STAGING)?.ok_or(Status::FileNotFound)?;
            &staged[..]
        } else {
            cmd.data
        };
        if !matches!(blob.get(8), Some(&(TYPE_RSA | TYPE_RSA_CRT | TYPE_EC | TYPE_AES))) {
            return Err(Status::DataInvalid);
        }
        let header = parse_header(blob).ok_or(Status::ExecutionError)?;
        let blob_kcv = blob.get(..8).ok_or(Status::ExecutionError)?;
        // The domain is the one whose DKEK has the blob's check value (upstream tries each).
        let mut found = None;
        for d in 0..MAX_DOMAINS {
            let Some(status) = self.domain_status(d)? else { break };
            if status.complete() && status.kcv == blob_kcv {
                let dkek = self.load_dkek(d)?;
                found = decode_blob(&header, &dkek).map(|k| (d, k));
                break;
            }
        }
        let (domain, (key, allowed)) = found.ok_or(Status::ExecutionError)?;
        let meta = Metadata {
            algorithms: (!allowed.is_empty()).then_some(allowed),
            domain: Some(domain),
            ..Metadata::default()
        };
        match key {
            PrivateKey::Secret(k) => self.install_secret_key(id, &meta, k),
            key => {
                let (request, description) = self.asymmetric_request(id, &key, None, None, &[])?;
                self.install_key(id, &meta, &key, &description)?;
                self.write_file(u16::from_be_bytes([crate::files::prefix::EE_CERT, id]), &request)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_blob_round_trip_and_tampering() {
        let dkek = [0x11u8; 32];
        let key = PrivateKey::Secret(Zeroizing::new(alloc::vec![0x42; 32]));
        let blob = encode_blob(&key, &[0x10, 0x11], &dkek, &[7; 8]).unwrap();
        assert_eq!(&blob[..8], &kcv(&dkek));
        assert_eq!(blob[8], TYPE_AES);
        let header = parse_header(&blob).unwrap();
        let (k, allowed) = decode_blob(&header, &dkek).unwrap();
        assert!(matches!(k, PrivateKey::Secret(ref s) if s[..] == [0x42; 32]));
        assert_eq!(allowed, [0x10, 0x11]);
        assert!(decode_blob(&header, &[0x12; 32]).is_none());
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x01;
            let opened = parse_header(&bad).and_then(|h| decode_blob(&h, &dkek));
            assert!(opened.is_none(), "flipped byte {i} accepted");
        }
        for n in 0..blob.len() {
            assert!(parse_header(&blob[..n]).and_then(|h| decode_blob(&h, &dkek)).is_none());
        }
    }
}
