//! Private key records, key metadata and the key-use gate (reference §6.4, §6.6, §3.14 checks).
//!
//! * `CCxx` (main store): the key, sealed under the MKEK with the FID as associated data.
//!   Plaintext: EC = `mbedTLS group id ‖ private key` (reference §6.4); RSA = `00 ‖ e (4 bytes,
//!   big-endian) ‖ P ‖ Q` (P and Q of equal length); secret (AES, HMAC, KDF) keys = `80 ‖ key`.
//!   Group id 0 is `MBEDTLS_ECP_DP_NONE` and no group id reaches 0x80, so the first byte tells the
//!   key type; unlike upstream the RSA exponent is kept (DESIGN §5).
//! * `D0xx` (main store, internal): metadata TLVs `91` (allowed algorithms), `92` (key domain),
//!   `93` (opaque), written at generation and rarely changed.
//! * `CCxx` in the counters store: the use counter `90` (4 bytes, big-endian), a hot counter that
//!   must not move key pages on every use (DESIGN §4).

use alloc::vec::Vec;

use hsm_apdu::{Status, tlv};
#[cfg(feature = "rsa")]
use hsm_crypto::asym::rsa::RsaPrivateKey;
use hsm_crypto::asym::{Curve, EcPrivateKey};
use zeroize::Zeroizing;

use crate::files::{fid, prefix};
use crate::{App, Platform};

/// First byte of an RSA key record (no mbedTLS group has id 0).
const RECORD_RSA: u8 = 0x00;
/// First byte of a secret-key record.
const RECORD_SECRET: u8 = 0x80;
/// Longest secret key a record holds (upstream's AES keys are at most 64 bytes; HMAC and KDF
/// keys of other lengths come from tests and, later, imports).
pub(crate) const MAX_SECRET_KEY: usize = 256;

/// A loaded private or secret key.
pub(crate) enum PrivateKey {
    Ec(EcPrivateKey),
    #[cfg(feature = "rsa")]
    Rsa(alloc::boxed::Box<RsaPrivateKey>),
    /// Secret key bytes: AES (16, 24, 32), AES-XTS (64), or any length for HMAC and the KDFs.
    Secret(Zeroizing<Vec<u8>>),
}

/// A key taken through the key-use gate, with what the key cache needs to keep it afterwards
/// ([`App::keep_key`]).
pub(crate) struct LoadedKey {
    pub key: PrivateKey,
    id: u8,
    fingerprint: [u8; 32],
}

impl core::ops::Deref for LoadedKey {
    type Target = PrivateKey;
    fn deref(&self) -> &PrivateKey {
        &self.key
    }
}

/// The plaintext of a key record.
pub(crate) fn encode(key: &PrivateKey) -> Result<Zeroizing<Vec<u8>>, Status> {
    let mut v = Zeroizing::new(Vec::with_capacity(600));
    match key {
        PrivateKey::Ec(k) => {
            v.push(k.curve().mbedtls_group_id());
            v.extend_from_slice(&k.to_bytes());
        }
        #[cfg(feature = "rsa")]
        PrivateKey::Rsa(k) => {
            let pqe = k.to_pqe().map_err(|_| Status::ExecutionError)?;
            v.push(RECORD_RSA);
            v.extend_from_slice(&pqe.e.to_be_bytes());
            v.extend_from_slice(&pqe.p);
            v.extend_from_slice(&pqe.q);
        }
        PrivateKey::Secret(k) => {
            v.push(RECORD_SECRET);
            v.extend_from_slice(k);
        }
    }
    Ok(v)
}

fn decode(plain: &[u8]) -> Result<PrivateKey, Status> {
    let (&kind, rest) = plain.split_first().ok_or(Status::ExecutionError)?;
    if kind == RECORD_RSA {
        return decode_rsa(rest);
    }
    if kind == RECORD_SECRET {
        if rest.is_empty() || rest.len() > MAX_SECRET_KEY {
            return Err(Status::ExecutionError);
        }
        return Ok(PrivateKey::Secret(Zeroizing::new(rest.to_vec())));
    }
    let curve = Curve::from_group_id(kind).ok_or(Status::ExecutionError)?;
    EcPrivateKey::from_bytes(curve, rest)
        .map(PrivateKey::Ec)
        .map_err(|_| Status::ExecutionError)
}

#[cfg(feature = "rsa")]
fn decode_rsa(rest: &[u8]) -> Result<PrivateKey, Status> {
    let (e, pq) = rest.split_first_chunk::<4>().ok_or(Status::ExecutionError)?;
    if pq.is_empty() || pq.len() % 2 != 0 {
        return Err(Status::ExecutionError);
    }
    let (p, q) = pq.split_at(pq.len() / 2);
    RsaPrivateKey::from_pqe(p, q, u32::from_be_bytes(*e))
        .map(|k| PrivateKey::Rsa(alloc::boxed::Box::new(k)))
        .map_err(|_| Status::ExecutionError)
}

#[cfg(not(feature = "rsa"))]
fn decode_rsa(_: &[u8]) -> Result<PrivateKey, Status> {
    Err(Status::FunctionNotSupported)
}

/// FID of a key's private record.
pub(crate) fn key_fid(id: u8) -> u16 {
    u16::from_be_bytes([prefix::KEY, id])
}

/// FID of a key's metadata (main store).
pub(crate) fn meta_fid(id: u8) -> u16 {
    u16::from_be_bytes([fid::META_PREFIX, id])
}

/// Metadata of a key (reference §6.6).
#[derive(Default, Clone, PartialEq, Eq, Debug)]
pub(crate) struct Metadata {
    /// `90`: remaining uses; `None` = unlimited.
    pub counter: Option<u32>,
    /// `91`: allowed algorithm bytes; `None` = all.
    pub algorithms: Option<Vec<u8>>,
    /// `92`: key domain.
    pub domain: Option<u8>,
    /// `93`: opaque, kept for the host.
    pub opaque: Option<Vec<u8>>,
}

impl Metadata {
    /// The stored TLVs other than the counter.
    fn encode_static(&self) -> Vec<u8> {
        let mut v = Vec::new();
        if let Some(a) = &self.algorithms {
            crate::cvc::put(&mut v, 0x91, a);
        }
        if let Some(d) = self.domain {
            crate::cvc::put(&mut v, 0x92, &[d]);
        }
        if let Some(o) = &self.opaque {
            crate::cvc::put(&mut v, 0x93, o);
        }
        v
    }

    /// All TLVs, counter first, as SELECT's `A5` template carries them.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        if let Some(c) = self.counter {
            crate::cvc::put(&mut v, 0x90, &c.to_be_bytes());
        }
        v.extend_from_slice(&self.encode_static());
        v
    }

    /// Takes a metadata TLV `90`–`93` of a key generation request into `self`. Returns whether
    /// the tag was metadata; a metadata tag with a malformed value is 6700.
    pub fn take(&mut self, tag: u16, value: &[u8]) -> Result<bool, Status> {
        match (tag, value) {
            (0x90, &[a, b, c, d]) => self.counter = Some(u32::from_be_bytes([a, b, c, d])),
            (0x91, a) if !a.is_empty() => self.algorithms = Some(a.to_vec()),
            (0x92, &[d]) => self.domain = Some(d),
            (0x93, o) => self.opaque = Some(o.to_vec()),
            (0x90..=0x92, _) => return Err(Status::WrongLength),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Whether algorithm byte `alg` may be used with the key.
    pub fn allows(&self, alg: u8) -> bool {
        self.algorithms.as_ref().is_none_or(|a| a.contains(&alg))
    }
}

impl<P: Platform> App<P> {
    /// The metadata of key `id` (empty when it has none).
    pub(crate) fn key_metadata(&mut self, id: u8) -> Result<Metadata, Status> {
        let mut m = Metadata::default();
        if let Some(raw) = self.read_file(meta_fid(id))? {
            for item in tlv::Reader::new(&raw) {
                let item = item.map_err(|_| Status::ExecutionError)?;
                match (item.tag, item.value) {
                    (0x91, a) => m.algorithms = Some(a.to_vec()),
                    (0x92, &[d]) => m.domain = Some(d),
                    (0x93, o) => m.opaque = Some(o.to_vec()),
                    _ => {}
                }
            }
        }
        m.counter = match self.platform.counters().read_all(key_fid(id)) {
            Ok(v) => Some(u32::from_be_bytes(v.try_into().map_err(|_| Status::ExecutionError)?)),
            Err(hsm_store::Error::NotFound) => None,
            Err(e) => return Err(crate::store_status(e)),
        };
        Ok(m)
    }

    /// Replaces the metadata of key `id` (removing what `m` leaves out).
    pub(crate) fn write_key_metadata(&mut self, id: u8, m: &Metadata) -> Result<(), Status> {
        let stat = m.encode_static();
        if stat.is_empty() {
            self.platform
                .store()
                .delete(meta_fid(id))
                .map_err(crate::store_status)?;
        } else {
            self.write_file(meta_fid(id), &stat)?;
        }
        let counters = self.platform.counters();
        match m.counter {
            Some(c) => counters.write(key_fid(id), &c.to_be_bytes()),
            None => counters.delete(key_fid(id)).map(|_| ()),
        }
        .map_err(crate::store_status)
    }

    /// Stores a new key at slot `id` with its metadata and its PKCS#15 description (`C4xx`).
    pub(crate) fn install_key(
        &mut self,
        id: u8,
        meta: &Metadata,
        key: &PrivateKey,
        description: &[u8],
    ) -> Result<(), Status> {
        // Metadata first: a power cut before the key lands leaves the old key under the new,
        // possibly stricter, policy rather than a new key without its policy.
        self.write_key_metadata(id, meta)?;
        self.store_private_key(id, key)?;
        self.write_file(u16::from_be_bytes([prefix::PRKD, id]), description)
    }

    /// Seals and stores a private key at slot `id`.
    pub(crate) fn store_private_key(&mut self, id: u8, key: &PrivateKey) -> Result<(), Status> {
        self.session.key_cache.forget(id);
        let mkek = self.session.mkek.clone().ok_or(Status::ExecutionError)?;
        let plain = encode(key)?;
        self.write_sealed_mkek(key_fid(id), &mkek, &plain)
    }

    /// The key-use gate of every private-key command (reference §3.14 checks, in upstream's order):
    /// user authentication (6982; slot 0 is never the user's, DESIGN §5), key present (6A82),
    /// use counter not exhausted (6A84), algorithm allowed (6985). Returns the loaded key and its
    /// metadata; nothing is written. Every check runs each time; the key cache (`keycache.rs`)
    /// only saves the unsealing and parsing of a record it has seen, byte for byte, before.
    pub(crate) fn load_key_for(&mut self, id: u8, alg: u8) -> Result<(LoadedKey, Metadata), Status> {
        if !self.session.user_authenticated || id == 0 {
            return Err(Status::SecurityStatusNotSatisfied);
        }
        if !self.platform.store().contains(key_fid(id)) {
            return Err(Status::FileNotFound);
        }
        let meta = self.key_metadata(id)?;
        if meta.counter == Some(0) {
            return Err(Status::NotEnoughMemory);
        }
        if !meta.allows(alg) {
            return Err(Status::ConditionsNotSatisfied);
        }
        let sealed = self.read_file(key_fid(id))?.ok_or(Status::FileNotFound)?;
        let fingerprint = hsm_crypto::hash::sha256(&[&sealed]);
        let key = match self.session.key_cache.take(id, &fingerprint) {
            Some(key) => key,
            None => self.unseal_key(id, &sealed)?,
        };
        Ok((LoadedKey { key, id, fingerprint }, meta))
    }

    /// Gives a key back to the key cache after a successful operation.
    pub(crate) fn keep_key(&mut self, key: LoadedKey) {
        let budget = self.key_cache_budget;
        self.session.key_cache.put(key.id, key.fingerprint, key.key, budget);
    }

    /// Reads and unseals key `id` (6A82 when there is none, 6400 without an unlocked MKEK).
    pub(crate) fn open_key(&mut self, id: u8) -> Result<PrivateKey, Status> {
        let sealed = self.read_file(key_fid(id))?.ok_or(Status::FileNotFound)?;
        self.unseal_key(id, &sealed)
    }

    fn unseal_key(&mut self, id: u8, sealed: &[u8]) -> Result<PrivateKey, Status> {
        let mkek = self.session.mkek.clone().ok_or(Status::ExecutionError)?;
        let sealing = self.keys.mkek_sealing_key(&mkek);
        let plain = self
            .keys
            .open(&sealing, key_fid(id), sealed)
            .ok_or(Status::ExecutionError)?;
        decode(&plain)
    }

    /// Spends one use of key `id`, durably, before its result leaves the card.
    pub(crate) fn count_use(&mut self, id: u8, meta: &Metadata) -> Result<(), Status> {
        if let Some(c) = meta.counter {
            let next = c.saturating_sub(1);
            self.platform
                .counters()
                .write(key_fid(id), &next.to_be_bytes())
                .map_err(crate::store_status)?;
        }
        Ok(())
    }

    /// Removes a key's metadata and use counter (DELETE FILE of CCxx).
    pub(crate) fn forget_key_metadata(&mut self, id: u8) -> Result<(), Status> {
        self.session.key_cache.forget(id);
        self.write_key_metadata(id, &Metadata::default())
    }
}
