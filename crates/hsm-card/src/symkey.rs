//! Secret keys: GENERATE SYMMETRIC KEY (48) and CIPHER SYMMETRIC (78) (reference §3.13, §3.19).
//!
//! CIPHER SYMMETRIC passes the same key-use gate as the private-key commands
//! ([`App::load_key_for`]: 6982, 6A82, 6A84, 6985 in that order), computes its whole result,
//! spends one use of the key durably and only then answers; every refusal happens before the
//! first write. All wrong data (a missing or unknown OID, a key of the wrong size for it, a wrong
//! IV or nonce length, unaligned data, a failed authentication tag, an output that does not fit)
//! answers 6700, as upstream does; a key that is not a secret key answers 6A81.

use alloc::vec::Vec;

use hsm_apdu::{CommandView, Reply, Status, tlv};
use hsm_crypto::sym::{self, Direction, Md, Mode};
use zeroize::Zeroizing;

use crate::files::prefix;
use crate::keys::{MAX_SECRET_KEY, Metadata, PrivateKey};
use crate::{App, Platform, cvc};

/// Algorithm bytes of CIPHER SYMMETRIC (reference §3.19), as they appear in P2 and in a key's
/// allowed-algorithm list.
mod alg {
    pub const AES_CBC_ENCRYPT: u8 = 0x10;
    pub const AES_CBC_DECRYPT: u8 = 0x11;
    pub const AES_CMAC: u8 = 0x18;
    pub const AES_DERIVE: u8 = 0x99;
    pub const EXT_ENCRYPT: u8 = 0x51;
    pub const EXT_DECRYPT: u8 = 0x52;
}

/// OIDs of the extended cipher (the value of tag `06`), byte for byte as upstream's host library
/// sends them (reference §3.19, §14).
mod oid {
    /// 2.16.840.1.101.3.4.1 (NIST AES); one more byte selects mode and key size.
    pub const NIST_AES: [u8; 8] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01];
    /// Upstream's XTS arc 1.3.111.2.1619.0.0.1 (one `0` more than IEEE P1619's); then 01 / 02.
    pub const XTS: [u8; 8] = [0x2B, 0x6F, 0x02, 0x8C, 0x53, 0x00, 0x00, 0x01];
    /// 1.2.840.113549.2 (RSADSI digest algorithms); then 07..0B = HMAC-SHA1..512.
    pub const HMAC: [u8; 7] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x02];
    /// 1.2.840.113549.1.9.16.3 (S/MIME algorithms); then 12 = ChaCha20-Poly1305, 1D/1E/1F =
    /// upstream's HKDF-SHA256/384/512 (RFC 8619 assigns 1C/1D/1E: upstream is one off).
    pub const SMIME_ALG: [u8; 10] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x10, 0x03];
    /// 1.2.840.113549.1.5.12.
    pub const PBKDF2: [u8; 9] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0C];
    /// 1.2.840.113549.1.5.13.
    pub const PBES2: [u8; 9] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0D];
    /// 1.3.133.16.840.63 (ANSI X9.63 KDF).
    pub const X963_KDF: [u8; 7] = [0x2B, 0x81, 0x05, 0x10, 0x86, 0x48, 0x3F];
    /// 1.3.6.1.4.1.54392.5.1771 (Pico HD cipher with the node kept by INS 4A P1 10, `hd.rs`).
    pub const PICO_HD: [u8; 11] = [0x2B, 0x06, 0x01, 0x04, 0x01, 0x83, 0xA8, 0x78, 0x05, 0x8D, 0x6B];
}

/// What the extended cipher's OID names.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Algorithm {
    /// An AES mode with the key length the OID requires.
    Aes(Mode, usize),
    ChaCha20Poly1305,
    Hmac(Md),
    Hkdf(Md),
    Pbkdf2,
    Pbes2,
    X963Kdf,
}

/// The HMAC of an `HMAC` OID (2A 86 48 86 F7 0D 02 xx).
fn hmac_md(oid: &[u8]) -> Option<Md> {
    match oid.strip_prefix(&oid::HMAC[..])? {
        [0x07] => Some(Md::Sha1),
        [0x08] => Some(Md::Sha224),
        [0x09] => Some(Md::Sha256),
        [0x0A] => Some(Md::Sha384),
        [0x0B] => Some(Md::Sha512),
        _ => None,
    }
}

fn algorithm(oid: &[u8]) -> Option<Algorithm> {
    if let Some(md) = hmac_md(oid) {
        return Some(Algorithm::Hmac(md));
    }
    if let Some(rest) = oid.strip_prefix(&oid::NIST_AES[..]) {
        let &[arc] = rest else { return None };
        // The arc is 1..=9 for AES-128, +20 for AES-192, +40 for AES-256.
        let (size, mode_arc) = match arc {
            1..=9 => (16, arc),
            21..=29 => (24, arc - 20),
            41..=49 => (32, arc - 40),
            _ => return None,
        };
        let mode = match mode_arc {
            1 => Mode::Ecb,
            2 => Mode::Cbc,
            3 => Mode::Ofb,
            4 => Mode::Cfb128,
            6 => Mode::Gcm,
            7 => Mode::Ccm,
            9 => Mode::Ctr,
            _ => return None,
        };
        return Some(Algorithm::Aes(mode, size));
    }
    if let Some(rest) = oid.strip_prefix(&oid::XTS[..]) {
        return match rest {
            [0x01] => Some(Algorithm::Aes(Mode::Xts, 32)),
            [0x02] => Some(Algorithm::Aes(Mode::Xts, 64)),
            _ => None,
        };
    }
    if let Some(rest) = oid.strip_prefix(&oid::SMIME_ALG[..]) {
        return match rest {
            [0x12] => Some(Algorithm::ChaCha20Poly1305),
            [0x1D] => Some(Algorithm::Hkdf(Md::Sha256)),
            [0x1E] => Some(Algorithm::Hkdf(Md::Sha384)),
            [0x1F] => Some(Algorithm::Hkdf(Md::Sha512)),
            _ => None,
        };
    }
    match oid {
        o if o == oid::PBKDF2 => Some(Algorithm::Pbkdf2),
        o if o == oid::PBES2 => Some(Algorithm::Pbes2),
        o if o == oid::X963_KDF => Some(Algorithm::X963Kdf),
        _ => None,
    }
}

/// Every symmetric failure on host data is upstream's "wrong data".
fn wrong_data(_: sym::Error) -> Status {
    Status::WrongLength
}

/// The output length a KDF produces: Ne when the command asked for a length (0 < Ne < 65536),
/// else `default` (upstream's rule, so an extended Le of 0000 means "the default").
fn requested_len(ne: usize, default: usize) -> usize {
    if ne > 0 && ne < 65536 { ne } else { default }
}

/// A zero-filled output buffer of `len` bytes that must fit into the reply.
fn output(len: usize, reply: &Reply<'_>) -> Result<Zeroizing<Vec<u8>>, Status> {
    if len == 0 || len > reply.remaining() {
        return Err(Status::WrongLength);
    }
    Ok(Zeroizing::new(alloc::vec![0; len]))
}

/// Key length in bytes of GENERATE SYMMETRIC KEY's P2 (reference §3.13: any other value is 256 bits).
fn generated_key_len(p2: u8) -> usize {
    match p2 {
        0xB0 => 16,
        0xB1 => 24,
        0xB3 => 64,
        _ => 32,
    }
}

/// The PKCS#15 description (`C4xx`) of a secret key, byte for byte as upstream's
/// `asn1_build_prkd_generic` writes it: `A8 { 30 { 0C 00 } (empty label), 30 { 04 <key id in
/// ASCII decimal>, 03 03 07 C0 10 (usage) }, A0 { 30 { 02 02 <bits, 2 bytes> } }, A1 { 30 { 30
/// { 04 00 } } } (empty path) }`. upstream's host library reads the type (A8), the label, the id
/// and the size from it; CardContact's PKCS#11 module replaces it with its own description.
/// OpenSC 0.23 does not decode `A8` entries, so it does not list secret keys (docs/card.md).
pub(crate) fn default_skd(id: u8, bits: usize) -> Vec<u8> {
    let common = cvc::tlv(0x30, &cvc::tlv(0x0C, &[]));
    let mut key_attrs = cvc::tlv(0x04, &crate::keygen::ascii_id(id));
    cvc::put(&mut key_attrs, 0x03, &[0x07, 0xC0, 0x10]);
    let common_key = cvc::tlv(0x30, &key_attrs);
    let bits = u16::try_from(bits).unwrap_or(u16::MAX).to_be_bytes();
    let secret_attrs = cvc::tlv(0xA0, &cvc::tlv(0x30, &cvc::tlv(0x02, &bits)));
    let typed = cvc::tlv(0xA1, &cvc::tlv(0x30, &cvc::tlv(0x30, &cvc::tlv(0x04, &[]))));
    let mut body = common;
    body.extend_from_slice(&common_key);
    body.extend_from_slice(&secret_attrs);
    body.extend_from_slice(&typed);
    cvc::tlv(0xA8, &body)
}

/// A DER INTEGER's value as a non-negative number of at most 32 bits.
fn der_u32(v: &[u8]) -> Result<u32, Status> {
    let (&first, _) = v.split_first().ok_or(Status::WrongLength)?;
    if first & 0x80 != 0 {
        return Err(Status::WrongLength);
    }
    let digits = match v.iter().position(|&b| b != 0) {
        Some(i) => v.get(i..).unwrap_or_default(),
        None => &[],
    };
    if digits.is_empty() {
        return Ok(0);
    }
    crate::keygen::uint(digits)
}

/// The TLVs of a DER SEQUENCE given either whole (`30 len ...`) or as its contents only (how
/// upstream's host library sends PBKDF2 and PBES2 parameters): `whole` tells a whole SEQUENCE
/// from contents by its items.
fn sequence_items(v: &[u8], whole: impl Fn(&[tlv::Tlv<'_>]) -> bool) -> Result<Vec<tlv::Tlv<'_>>, Status> {
    let items = tlv::Reader::new(v).collect::<Result<Vec<_>, _>>()?;
    match items.as_slice() {
        [seq] if seq.tag == 0x30 && whole(&items) => Ok(tlv::Reader::new(seq.value).collect::<Result<Vec<_>, _>>()?),
        _ => Ok(items),
    }
}

/// PBKDF2-params (RFC 8018 §A.2).
struct Pbkdf2Params<'a> {
    salt: &'a [u8],
    iterations: u32,
    key_len: Option<usize>,
    md: Md,
}

fn parse_pbkdf2_params(v: &[u8]) -> Result<Pbkdf2Params<'_>, Status> {
    // Contents start with the salt (04); anything else must be the whole SEQUENCE.
    let items = sequence_items(v, |_| true)?;
    let (salt, iterations, rest) = match items.as_slice() {
        [salt, iterations, rest @ ..] if salt.tag == 0x04 && iterations.tag == 0x02 => {
            (salt.value, der_u32(iterations.value)?, rest)
        }
        _ => return Err(Status::WrongLength),
    };
    let (key_len, prf) = match rest {
        [] => (None, None),
        [len] if len.tag == 0x02 => (Some(len), None),
        [prf] => (None, Some(prf)),
        [len, prf] if len.tag == 0x02 => (Some(len), Some(prf)),
        _ => return Err(Status::WrongLength),
    };
    // keyLength 0 means "not given", as upstream treats it.
    let key_len = key_len
        .map(|l| der_u32(l.value))
        .transpose()?
        .map(|l| l as usize)
        .filter(|&l| l != 0);
    let md = match prf {
        None => Md::Sha1,
        // prf AlgorithmIdentifier: an HMAC OID, parameters absent or NULL.
        Some(prf) if prf.tag == 0x30 => {
            let alg = tlv::Reader::new(prf.value).collect::<Result<Vec<_>, _>>()?;
            match alg.as_slice() {
                [oid] | [oid, tlv::Tlv { tag: 0x05, value: [] }] if oid.tag == 0x06 => {
                    hmac_md(oid.value).ok_or(Status::WrongLength)?
                }
                _ => return Err(Status::WrongLength),
            }
        }
        Some(_) => return Err(Status::WrongLength),
    };
    Ok(Pbkdf2Params {
        salt,
        iterations,
        key_len,
        md,
    })
}

/// PBES2-params (RFC 8018 §A.4) with PBKDF2 and AES-CBC-Pad: the KDF's parameters, the AES key
/// length and the IV.
fn parse_pbes2_params(v: &[u8]) -> Result<(Pbkdf2Params<'_>, usize, &[u8]), Status> {
    // Contents are two AlgorithmIdentifiers; a whole PBES2-params is one SEQUENCE around them.
    let items = sequence_items(v, |items| items.len() == 1)?;
    fn alg_id<'a>(t: &tlv::Tlv<'a>) -> Result<(&'a [u8], tlv::Tlv<'a>), Status> {
        if t.tag != 0x30 {
            return Err(Status::WrongLength);
        }
        let parts = tlv::Reader::new(t.value).collect::<Result<Vec<_>, _>>()?;
        match parts.as_slice() {
            [oid, params] if oid.tag == 0x06 => Ok((oid.value, *params)),
            _ => Err(Status::WrongLength),
        }
    }
    let [kdf, enc] = items.as_slice() else {
        return Err(Status::WrongLength);
    };
    let (kdf_oid, kdf_params) = alg_id(kdf)?;
    let (enc_oid, iv) = alg_id(enc)?;
    if kdf_oid != oid::PBKDF2 || kdf_params.tag != 0x30 || iv.tag != 0x04 {
        return Err(Status::WrongLength);
    }
    let key_len = match algorithm(enc_oid) {
        Some(Algorithm::Aes(Mode::Cbc, len)) => len,
        _ => return Err(Status::WrongLength),
    };
    let params = parse_pbkdf2_params(kdf_params.value)?;
    if params.key_len.is_some_and(|l| l != key_len) {
        return Err(Status::WrongLength);
    }
    Ok((params, key_len, iv.value))
}

/// The TLVs of an extended cipher command (`06`, `81`, `82`, `83`; the first of each counts).
#[derive(Default)]
struct Extended<'a> {
    oid: &'a [u8],
    data: &'a [u8],
    iv: Option<&'a [u8]>,
    aad: Option<&'a [u8]>,
}

fn parse_extended(data: &[u8]) -> Result<Extended<'_>, Status> {
    let mut ext = Extended::default();
    let mut data_seen = false;
    for item in tlv::Reader::new(data) {
        let item = item?;
        match item.tag {
            0x06 if ext.oid.is_empty() => ext.oid = item.value,
            0x81 if !data_seen => {
                ext.data = item.value;
                data_seen = true;
            }
            0x82 if ext.iv.is_none() => ext.iv = Some(item.value),
            0x83 if ext.aad.is_none() => ext.aad = Some(item.value),
            _ => {}
        }
    }
    if ext.oid.is_empty() {
        return Err(Status::WrongLength);
    }
    Ok(ext)
}

impl<P: Platform> App<P> {
    /// GENERATE SYMMETRIC KEY (00 48 id P2): a random secret key of P2's size, its metadata and
    /// its description. No response data.
    pub(crate) fn generate_symmetric_key(&mut self, cmd: &CommandView<'_>) -> Result<(), Status> {
        let id = cmd.p1;
        if !self.session.user_authenticated || id == 0 {
            return Err(Status::SecurityStatusNotSatisfied);
        }
        let mut meta = Metadata::default();
        for item in tlv::Reader::new(cmd.data) {
            let item = item?;
            meta.take(item.tag, item.value)?;
        }
        if self.session.mkek.is_none() {
            return Err(Status::ExecutionError);
        }
        self.apply_default_counter(&mut meta)?;
        let mut key = Zeroizing::new(alloc::vec![0u8; generated_key_len(cmd.p2)]);
        self.random(&mut key)?;
        self.install_secret_key(id, &meta, key)
    }

    /// Stores secret key `key` at slot `id` with `meta` and the default description; an old
    /// certificate or request of the slot goes, since it belonged to another key.
    pub(crate) fn install_secret_key(
        &mut self,
        id: u8,
        meta: &Metadata,
        key: Zeroizing<Vec<u8>>,
    ) -> Result<(), Status> {
        if key.is_empty() || key.len() > MAX_SECRET_KEY {
            return Err(Status::WrongLength);
        }
        let description = default_skd(id, key.len() * 8);
        self.install_key(id, meta, &PrivateKey::Secret(key), &description)?;
        self.platform
            .store()
            .delete(u16::from_be_bytes([prefix::EE_CERT, id]))
            .map_err(crate::store_status)?;
        Ok(())
    }

    /// CIPHER SYMMETRIC (80 78 id algorithm).
    pub(crate) fn cipher_symmetric(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        let (id, p2) = (cmd.p1, cmd.p2);
        // The HD cipher uses the node kept by INS 4A P1 10 (`hd.rs`), not a key slot.
        if let (alg::EXT_ENCRYPT | alg::EXT_DECRYPT, Ok(ext)) = (p2, parse_extended(cmd.data))
            && ext.oid == oid::PICO_HD
        {
            let dir = if p2 == alg::EXT_ENCRYPT {
                Direction::Encrypt
            } else {
                Direction::Decrypt
            };
            return self.hd_cipher(dir, ext.data, ext.iv, ext.aad, reply);
        }
        let (loaded, meta) = self.load_key_for(id, p2)?;
        let PrivateKey::Secret(key) = &*loaded else {
            return Err(Status::FunctionNotSupported);
        };
        let out = match p2 {
            // The AES key lengths (16, 24, 32) are checked by `sym`: a 64-byte XTS key is 6700 here.
            alg::AES_CBC_ENCRYPT | alg::AES_CBC_DECRYPT => {
                let dir = if p2 == alg::AES_CBC_ENCRYPT {
                    Direction::Encrypt
                } else {
                    Direction::Decrypt
                };
                sym::aes(Mode::Cbc, dir, key, &[0; sym::BLOCK], &[], cmd.data).map_err(wrong_data)?
            }
            alg::AES_CMAC => Zeroizing::new(sym::cmac(key, cmd.data).map_err(wrong_data)?.to_vec()),
            alg::AES_DERIVE => {
                // Upstream: HKDF-SHA256 without salt, info = the data, as long as the data.
                let mut out = output(cmd.data.len(), reply)?;
                sym::hkdf(Md::Sha256, None, key, cmd.data, &mut out).map_err(wrong_data)?;
                out
            }
            alg::EXT_ENCRYPT | alg::EXT_DECRYPT => {
                let dir = if p2 == alg::EXT_ENCRYPT {
                    Direction::Encrypt
                } else {
                    Direction::Decrypt
                };
                self.extended_cipher(dir, key, cmd, reply)?
            }
            _ => return Err(Status::WrongP1P2),
        };
        if out.len() > reply.remaining() {
            return Err(Status::WrongLength);
        }
        self.count_use(id, &meta)?;
        self.keep_key(loaded);
        reply.extend(&out)?;
        Ok(())
    }

    /// P2 51 / 52: the OID-selected algorithm of the command's TLVs.
    fn extended_cipher(
        &mut self,
        dir: Direction,
        key: &[u8],
        cmd: &CommandView<'_>,
        reply: &Reply<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, Status> {
        let ext = parse_extended(cmd.data)?;
        let algorithm = algorithm(ext.oid).ok_or(Status::WrongLength)?;
        let aad = ext.aad.unwrap_or_default();
        match algorithm {
            Algorithm::Aes(mode, key_len) => {
                if key.len() != key_len {
                    return Err(Status::WrongLength);
                }
                let zero_iv = [0u8; sym::BLOCK];
                let iv = match (mode, ext.iv) {
                    // A nonce-based mode never runs with a default nonce: reuse is fatal there.
                    (Mode::Gcm | Mode::Ccm, iv) => iv.filter(|iv| !iv.is_empty()).ok_or(Status::WrongLength)?,
                    (_, Some(iv)) if !iv.is_empty() => iv,
                    _ => &zero_iv[..],
                };
                sym::aes(mode, dir, key, iv, aad, ext.data).map_err(wrong_data)
            }
            Algorithm::ChaCha20Poly1305 => {
                let nonce = ext.iv.ok_or(Status::WrongLength)?;
                sym::chacha20poly1305(dir, key, nonce, aad, ext.data).map_err(wrong_data)
            }
            Algorithm::Hmac(md) => Ok(Zeroizing::new(sym::hmac(md, key, ext.data))),
            Algorithm::Hkdf(md) => {
                let mut out = output(requested_len(cmd.ne, md.output_len()), reply)?;
                sym::hkdf(md, ext.iv, key, ext.data, &mut out).map_err(wrong_data)?;
                Ok(out)
            }
            Algorithm::Pbkdf2 => {
                let params = parse_pbkdf2_params(ext.data)?;
                let len = params.key_len.unwrap_or_else(|| requested_len(cmd.ne, 32));
                let mut out = output(len, reply)?;
                sym::pbkdf2(params.md, key, params.salt, params.iterations, &mut out).map_err(wrong_data)?;
                Ok(out)
            }
            Algorithm::Pbes2 => {
                let (params, key_len, iv) = parse_pbes2_params(aad)?;
                let mut derived = Zeroizing::new(alloc::vec![0u8; key_len]);
                sym::pbkdf2(params.md, key, params.salt, params.iterations, &mut derived).map_err(wrong_data)?;
                sym::aes_cbc_pkcs7(dir, &derived, iv, ext.data).map_err(wrong_data)
            }
            Algorithm::X963Kdf => {
                let md = if ext.data.is_empty() {
                    Md::Sha1
                } else {
                    hmac_md(ext.data).ok_or(Status::WrongLength)?
                };
                let mut out = output(requested_len(cmd.ne, 32), reply)?;
                sym::x963_kdf(md, key, aad, &mut out).map_err(wrong_data)?;
                Ok(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_map_to_modes_and_sizes() {
        let aes = |b: u8| algorithm(&[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, b]);
        assert_eq!(aes(0x01), Some(Algorithm::Aes(Mode::Ecb, 16)));
        assert_eq!(aes(0x1A), Some(Algorithm::Aes(Mode::Gcm, 24)));
        assert_eq!(aes(0x31), Some(Algorithm::Aes(Mode::Ctr, 32)));
        assert_eq!(aes(0x2F), Some(Algorithm::Aes(Mode::Ccm, 32)));
        assert_eq!(aes(0x05), None);
        assert_eq!(aes(0x0A), None);
        assert_eq!(
            algorithm(&[0x2B, 0x6F, 0x02, 0x8C, 0x53, 0x00, 0x00, 0x01, 0x02]),
            Some(Algorithm::Aes(Mode::Xts, 64))
        );
        assert_eq!(
            algorithm(&[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x02, 0x0B]),
            Some(Algorithm::Hmac(Md::Sha512))
        );
        assert_eq!(algorithm(&oid::PICO_HD), None);
        assert_eq!(algorithm(&[]), None);
    }

    #[test]
    fn pbkdf2_params_in_both_forms() {
        // 04 salt, 02 iterations 4096, 30 { 06 HMAC-SHA256 }
        let contents = hex_lit("0404 73616c74 0202 1000 300a 0608 2a864886f70d0209");
        let p = parse_pbkdf2_params(&contents).unwrap();
        assert_eq!(
            (p.salt, p.iterations, p.key_len, p.md),
            (&b"salt"[..], 4096, None, Md::Sha256)
        );
        let mut whole = alloc::vec![0x30, contents.len() as u8];
        whole.extend_from_slice(&contents);
        let p = parse_pbkdf2_params(&whole).unwrap();
        assert_eq!((p.iterations, p.md), (4096, Md::Sha256));
        // keyLength and a NULL parameter; default PRF.
        let short = hex_lit("0401aa 020101 020114");
        let p = parse_pbkdf2_params(&short).unwrap();
        assert_eq!((p.iterations, p.key_len, p.md), (1, Some(20), Md::Sha1));
        assert!(parse_pbkdf2_params(&hex_lit("0401aa 020181")).is_err());
        assert!(parse_pbkdf2_params(&hex_lit("0401aa 02050100000000")).is_err());
        assert!(parse_pbkdf2_params(&hex_lit("020101")).is_err());
    }

    #[test]
    fn secret_key_description_is_upstreams() {
        assert_eq!(
            hex::encode(default_skd(5, 256)),
            "a81e30020c003008040135030307c010a006300402020100a106300430020400"
        );
    }

    fn hex_lit(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }
}
