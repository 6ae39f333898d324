//! Private-key operations: COMPUTE SIGNATURE (68), DECIPHER (62, including P2 84, the XKEK key
//! agreement) and DERIVE EC KEY (76) (reference §3.14, §3.15, §3.18; DESIGN §5).
//!
//! Each command passes the key-use gate ([`App::load_key_for`]), computes its result, spends one
//! use of the key durably and only then answers. Every refusal happens before the first write.
//! P2 values of the other key type answer 6A81; unknown P2 values 6A86.

use alloc::vec::Vec;

use hsm_apdu::{CommandView, Reply, Status, tlv};
use hsm_crypto::asym::{CurveKind, EcPrivateKey, Error};
use hsm_crypto::sym::Md;
use zeroize::Zeroizing;

use crate::dkek::DKEK_LEN;
use crate::keygen::ALGO_EC_DH_XKEK;
use crate::keys::PrivateKey;
use crate::secrets::Key32;
use crate::{App, Platform};

/// Algorithm byte required in a key's list for DERIVE EC KEY (reference §6.6).
const ALGO_EC_DERIVE: u8 = 0x98;
/// COMPUTE SIGNATURE with the kept HD node (reference §3.14, P2 A0).
const ALGO_HD: u8 = 0xA0;
/// Longest ECDSA input accepted for P2 70 (SHA-512 or the P-521 order length).
const MAX_ECDSA_HASH: usize = 66;

/// The on-card hash of P2 `base + 1` … `base + 5`: SHA-1, SHA-224, SHA-256, SHA-384, SHA-512.
fn hash_of(p2: u8) -> Option<Md> {
    Some(match p2 & 0x0F {
        1 => Md::Sha1,
        2 => Md::Sha224,
        3 => Md::Sha256,
        4 => Md::Sha384,
        5 => Md::Sha512,
        _ => return None,
    })
}

/// The RSA signature scheme's name for `md`.
#[cfg(feature = "rsa")]
fn rsa_hash(md: Md) -> hsm_crypto::asym::rsa::HashAlg {
    use hsm_crypto::asym::rsa::HashAlg;
    match md {
        Md::Sha1 => HashAlg::Sha1,
        Md::Sha224 => HashAlg::Sha224,
        Md::Sha256 => HashAlg::Sha256,
        Md::Sha384 => HashAlg::Sha384,
        Md::Sha512 => HashAlg::Sha512,
    }
}

/// Status word of a failed operation on host-supplied input.
fn input_error(e: Error) -> Status {
    match e {
        Error::UnsupportedOperation | Error::UnsupportedCurve => Status::FunctionNotSupported,
        Error::Rng | Error::Internal | Error::ConsistencyCheck | Error::InvalidKey => Status::ExecutionError,
        _ => Status::WrongLength,
    }
}

fn known_p2_signature(p2: u8) -> bool {
    matches!(p2, 0x20 | 0x30..=0x35 | 0x40..=0x45 | 0x70..=0x75)
}

impl<P: Platform> App<P> {
    /// COMPUTE SIGNATURE (80 68 id algorithm).
    pub(crate) fn compute_signature(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        let (id, alg) = (cmd.p1, cmd.p2);
        // P2 A0: the HD node kept by INS 4A P1 10 (`hd.rs`), not a key slot.
        if alg == ALGO_HD {
            return self.hd_signature(cmd, reply);
        }
        let (key, meta) = self.load_key_for(id, alg)?;
        if !known_p2_signature(alg) {
            return Err(Status::IncorrectP1P2);
        }
        let sig = match &*key {
            PrivateKey::Ec(k) => self.sign_ec(k, alg, cmd.data)?,
            #[cfg(feature = "rsa")]
            PrivateKey::Rsa(k) => self.sign_rsa(k, alg, cmd.data)?,
            PrivateKey::Secret(_) => return Err(Status::FunctionNotSupported),
        };
        if sig.len() > reply.remaining() {
            return Err(Status::WrongLength);
        }
        self.count_use(id, &meta)?;
        self.keep_key(key);
        reply.extend(&sig)?;
        Ok(())
    }

    fn sign_ec(&mut self, k: &EcPrivateKey, alg: u8, data: &[u8]) -> Result<Vec<u8>, Status> {
        let hashed;
        let input = match alg {
            0x70 => data,
            0x71..=0x75 => {
                hashed = hash_of(alg).ok_or(Status::IncorrectP1P2)?.digest(data);
                &hashed[..]
            }
            _ => return Err(Status::FunctionNotSupported),
        };
        match k.curve().kind() {
            // Pure EdDSA over the data (70) or over its on-card hash (71–75), as upstream.
            CurveKind::Edwards => k.eddsa_sign(input).map_err(input_error),
            CurveKind::Weierstrass => {
                if input.is_empty() || input.len() > MAX_ECDSA_HASH {
                    return Err(Status::WrongLength);
                }
                k.ecdsa_sign_prehash(input, self.drbg()?).map_err(input_error)
            }
            CurveKind::Montgomery => Err(Status::FunctionNotSupported),
        }
    }

    #[cfg(feature = "rsa")]
    fn sign_rsa(&mut self, k: &hsm_crypto::asym::rsa::RsaPrivateKey, alg: u8, data: &[u8]) -> Result<Vec<u8>, Status> {
        use hsm_crypto::asym::rsa::HashAlg;
        /// DigestInfo prefixes the upstream parser also knows (reference §3.14): MD5, RIPEMD-160.
        const MD5: [u8; 18] = [
            0x30, 0x20, 0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05, 0x05, 0x00, 0x04, 0x10,
        ];
        const RIPEMD160: [u8; 15] = [
            0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x24, 0x03, 0x02, 0x01, 0x05, 0x00, 0x04, 0x14,
        ];
        let rng = self.drbg()?;
        let hash_of = |alg: u8| {
            hash_of(alg)
                .ok_or(Status::IncorrectP1P2)
                .map(|h| (rsa_hash(h), h.digest(data)))
        };
        match alg {
            0x20 => k.raw_private(data, rng).map(|s| s.to_vec()).map_err(input_error),
            0x30 => {
                let known = HashAlg::parse_digest_info(data).is_some()
                    || data.strip_prefix(&MD5[..]).is_some_and(|d| d.len() == 16)
                    || data.strip_prefix(&RIPEMD160[..]).is_some_and(|d| d.len() == 20);
                if !known {
                    return Err(Status::WrongLength);
                }
                k.sign_pkcs1v15_digest_info(data, rng).map_err(input_error)
            }
            0x31..=0x35 => {
                let (h, digest) = hash_of(alg)?;
                k.sign_pkcs1v15(h, &digest, rng).map_err(input_error)
            }
            0x40 => {
                let (h, digest) = match HashAlg::parse_digest_info(data) {
                    Some((h, d)) => (h, d),
                    None => (HashAlg::from_output_len(data.len()).ok_or(Status::WrongLength)?, data),
                };
                k.sign_pss(h, digest, rng).map_err(input_error)
            }
            0x41..=0x45 => {
                let (h, digest) = hash_of(alg)?;
                k.sign_pss(h, &digest, rng).map_err(input_error)
            }
            _ => Err(Status::FunctionNotSupported),
        }
    }

    /// DECIPHER / DERIVE SHARED SECRET (80 62 id algorithm).
    pub(crate) fn decipher(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        let (id, alg) = (cmd.p1, cmd.p2);
        let (key, meta) = self.load_key_for(id, alg)?;
        let out: Zeroizing<Vec<u8>> = match (alg, &*key) {
            (0x80, PrivateKey::Ec(k)) => {
                let shared = k.ecdh(cmd.data).map_err(input_error)?;
                let mut out = Zeroizing::new(Vec::with_capacity(shared.len() + 1));
                match k.curve().kind() {
                    // SmartCard-HSM: 04 ‖ X of the shared point; OpenSC strips the 04.
                    CurveKind::Weierstrass => {
                        let x = shared
                            .get(..1 + k.curve().field_bytes())
                            .ok_or(Status::ExecutionError)?;
                        out.extend_from_slice(x);
                    }
                    _ => {
                        out.push(0x04);
                        out.extend_from_slice(&shared);
                    }
                }
                out
            }
            (ALGO_EC_DH_XKEK, PrivateKey::Ec(k)) => {
                let (domain, dkek) = self.xkek_agreement(k, cmd.data)?;
                let mkek = self.session.mkek.clone().ok_or(Status::ExecutionError)?;
                // The use first: a power cut between the two writes costs a use, never gives one.
                self.count_use(id, &meta)?;
                return self.write_dkek(domain, 1, true, &dkek, Some(&mkek));
            }
            (0x21..=0x23, PrivateKey::Ec(_)) | (ALGO_EC_DH_XKEK, _) | (0x21..=0x23 | 0x80, PrivateKey::Secret(_)) => {
                return Err(Status::FunctionNotSupported);
            }
            #[cfg(feature = "rsa")]
            (0x21..=0x23, PrivateKey::Rsa(k)) => {
                let rng = self.drbg()?;
                match alg {
                    0x21 => k.raw_private(cmd.data, rng),
                    0x22 => k.decrypt_pkcs1v15(cmd.data, rng),
                    _ => k.decrypt_oaep_sha256(cmd.data, rng),
                }
                .map_err(input_error)?
            }
            #[cfg(feature = "rsa")]
            (0x80, PrivateKey::Rsa(_)) => return Err(Status::FunctionNotSupported),
            _ => return Err(Status::IncorrectP1P2),
        };
        if out.len() > reply.remaining() {
            return Err(Status::WrongLength);
        }
        self.count_use(id, &meta)?;
        self.keep_key(key);
        reply.extend(&out)?;
        Ok(())
    }

    /// DECIPHER P2 84, XKEK key agreement (reference §3.15, §7.5; upstream's
    /// `cmd_decrypt_asym.c`): `cert` is the peer's CV certificate, or its authenticated request
    /// (`67`). Its public point (`7F49`/`86`) is agreed with `k`; its extension `65`/`73`
    /// (id-KeyDomain-UID) names the XKEK domain by UID. Returns that local domain and its new
    /// DKEK: the first 32 bytes of the shared secret (of the shared point's X for Weierstrass
    /// curves). Nothing is written here.
    ///
    /// As upstream, the certificate's signature is not checked: whoever may use the key (PIN)
    /// may give its domain a DKEK they know, as they may clear a share domain's DKEK and import
    /// shares of their own (docs/security.md). Keys whose shared secret is shorter than 32
    /// bytes (192- and 224-bit curves) → 6A81, where upstream would fill the DKEK with stale
    /// buffer bytes; Ed25519/Ed448 keys → 6A81. A missing point, extension or UID and a point
    /// not on the key's curve → 6700 (upstream: 6984 for the point); no domain with that UID →
    /// 6A88.
    fn xkek_agreement(&mut self, k: &EcPrivateKey, cert: &[u8]) -> Result<(u8, Key32), Status> {
        let curve = k.curve();
        let usable = match curve.kind() {
            CurveKind::Weierstrass | CurveKind::Montgomery => curve.field_bytes() >= DKEK_LEN,
            CurveKind::Edwards => false,
        };
        if !usable {
            return Err(Status::FunctionNotSupported);
        }
        let body = crate::cvc::find_body(cert)?.ok_or(Status::WrongLength)?;
        let template = tlv::find(body, 0x7F49)?.ok_or(Status::WrongLength)?;
        let point = tlv::find(template, 0x86)?.ok_or(Status::WrongLength)?;
        let extensions = tlv::find(body, 0x65)?.ok_or(Status::WrongLength)?;
        let uid = crate::cvc::find_domain_uid(extensions)?.ok_or(Status::WrongLength)?;
        let shared = k.ecdh(point).map_err(input_error)?;
        // Weierstrass: 04 ‖ X ‖ Y; X25519/X448: the RFC 7748 secret.
        let secret = match curve.kind() {
            CurveKind::Weierstrass => shared.get(1..),
            _ => shared.get(..),
        };
        let mut dkek = Zeroizing::new([0u8; DKEK_LEN]);
        dkek.copy_from_slice(secret.and_then(|s| s.get(..DKEK_LEN)).ok_or(Status::ExecutionError)?);
        let domain = self.xkek_domain_of(uid)?.ok_or(Status::ReferenceNotFound)?;
        Ok((domain, dkek))
    }

    /// DERIVE EC KEY (80 76 src dst): `dst = (src + scalar) mod n` (DESIGN §5: the group order,
    /// not upstream's field prime). Data `98 ‖ scalar`. The new key has no metadata, PRKD or request.
    pub(crate) fn derive_ec_key(&mut self, cmd: &CommandView<'_>) -> Result<(), Status> {
        let (src, dst) = (cmd.p1, cmd.p2);
        if !self.session.user_authenticated || dst == 0 {
            return Err(Status::SecurityStatusNotSatisfied);
        }
        let (key, meta) = self.load_key_for(src, ALGO_EC_DERIVE)?;
        let tweak = match cmd.data.split_first() {
            Some((&ALGO_EC_DERIVE, t)) if !t.is_empty() => t,
            _ => return Err(Status::WrongLength),
        };
        let k = match &*key {
            PrivateKey::Ec(k) => k,
            #[cfg(feature = "rsa")]
            PrivateKey::Rsa(_) => return Err(Status::FunctionNotSupported),
            PrivateKey::Secret(_) => return Err(Status::FunctionNotSupported),
        };
        let derived = k.derive_additive(tweak).map_err(input_error)?;
        // The source's use is spent before the derived key exists.
        self.count_use(src, &meta)?;
        let dst_meta = meta.derived(src == dst);
        self.store_key(dst, &dst_meta, &PrivateKey::Ec(derived))
    }
}
