//! Private key records, key metadata and the key-use gate (reference §6.4, §6.6, §3.14 checks).
//!
//! * `CCxx` (main store): the key file, `02 ‖ n (2 bytes, big-endian) ‖ metadata (n bytes) ‖
//!   sealed key`. The metadata TLVs are `90` (uses at creation), `91` (allowed algorithms), `92`
//!   (key domain), `93` (opaque), in the clear for SELECT and the key-use gate; the key is sealed
//!   under the MKEK with the FID and the bytes before it as associated data, so the key and its
//!   policy are replaced in one atomic write and an edited or swapped policy does not open.
//!   Plaintext: EC = `mbedTLS group id ‖ private key` (reference §6.4); RSA = `00 ‖ e (4 bytes,
//!   big-endian) ‖ P ‖ Q` (P and Q of equal length); secret (AES, HMAC, KDF) keys = `80 ‖ key`.
//!   Group id 0 is `MBEDTLS_ECP_DP_NONE` and no group id reaches 0x80, so the first byte tells the
//!   key type; unlike upstream the RSA exponent is kept (DESIGN §5).
//! * `CCxx` in the counters store: the uses left (4 bytes, big-endian) and the nonce of the key
//!   file they count for (12 bytes), a hot counter that must not move key pages on every use
//!   (DESIGN §4). A counter of another key file (a cut before the slot's old counter was dropped)
//!   or none means no use was spent yet: the key file's `90`.
//! * The first format (before the key file carried its metadata): `CCxx` = the sealed key alone
//!   (first byte `01`), the metadata in `D0xx` (main store) and a 4-byte counter. Such keys keep
//!   working and are rewritten in the format above at their first use.

use alloc::vec::Vec;

use hsm_apdu::{Status, tlv};
#[cfg(feature = "rsa")]
use hsm_crypto::asym::rsa::RsaPrivateKey;
use hsm_crypto::asym::{Curve, EcPrivateKey};
use zeroize::Zeroizing;

use crate::files::{fid, prefix};
use crate::secrets::{SEALED_OVERHEAD, split_sealed};
use crate::{App, Platform};

/// First byte of a key file that carries its metadata.
const FILE_WITH_METADATA: u8 = 0x02;
/// Length of the nonce that binds a use counter to its key file.
const INSTANCE_LEN: usize = hsm_crypto::aead::NONCE_LEN;

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

/// FID of a key's metadata in the first format (main store).
fn meta_fid(id: u8) -> u16 {
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
    /// The nonce of the key file the metadata was read from (none: a key of the first format, or
    /// metadata not stored yet); use counters are written bound to it.
    pub(crate) instance: Option<[u8; INSTANCE_LEN]>,
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

    /// Reads metadata TLVs (`90` only when `with_counter`: the first format kept it elsewhere).
    fn parse(raw: &[u8], with_counter: bool) -> Result<Self, Status> {
        let mut m = Metadata::default();
        for item in tlv::Reader::new(raw) {
            let item = item.map_err(|_| Status::ExecutionError)?;
            match (item.tag, item.value) {
                (0x90, &[a, b, c, d]) if with_counter => m.counter = Some(u32::from_be_bytes([a, b, c, d])),
                (0x91, a) => m.algorithms = Some(a.to_vec()),
                (0x92, &[d]) => m.domain = Some(d),
                (0x93, o) => m.opaque = Some(o.to_vec()),
                _ => {}
            }
        }
        Ok(m)
    }

    /// The metadata of a key derived from this key's: none in another slot; replacing this key,
    /// its policy with the use just spent.
    pub fn derived(&self, in_place: bool) -> Metadata {
        if !in_place {
            return Metadata::default();
        }
        Metadata {
            counter: self.counter.map(|c| c.saturating_sub(1)),
            instance: None,
            ..self.clone()
        }
    }

    /// Whether algorithm byte `alg` may be used with the key.
    pub fn allows(&self, alg: u8) -> bool {
        self.algorithms.as_ref().is_none_or(|a| a.contains(&alg))
    }
}

/// A key file as stored.
struct KeyFile {
    raw: Zeroizing<Vec<u8>>,
    /// Length of the part bound to the sealed key (`02 ‖ n ‖ metadata`); 0 in the first format.
    bound: usize,
}

impl KeyFile {
    fn parse(raw: Zeroizing<Vec<u8>>) -> Result<Self, Status> {
        let bound = match raw.first() {
            Some(&FILE_WITH_METADATA) => {
                let n = raw.get(1..3).and_then(|n| <[u8; 2]>::try_from(n).ok());
                3 + usize::from(u16::from_be_bytes(n.ok_or(Status::ExecutionError)?))
            }
            _ => 0,
        };
        if raw.len() < bound + SEALED_OVERHEAD {
            return Err(Status::ExecutionError);
        }
        Ok(KeyFile { raw, bound })
    }

    fn is_first_format(&self) -> bool {
        self.bound == 0
    }

    /// The bytes the sealed key binds.
    fn bound(&self) -> &[u8] {
        self.raw.get(..self.bound).unwrap_or_default()
    }

    fn sealed(&self) -> &[u8] {
        self.raw.get(self.bound..).unwrap_or_default()
    }

    /// The metadata the file carries, its counter as at creation.
    fn metadata(&self) -> Result<Metadata, Status> {
        let mut m = Metadata::parse(self.bound().get(3..).unwrap_or_default(), true)?;
        m.instance = split_sealed(self.sealed()).map(|(nonce, _)| *nonce);
        Ok(m)
    }
}

impl<P: Platform> App<P> {
    fn key_file(&mut self, id: u8) -> Result<Option<KeyFile>, Status> {
        self.read_file(key_fid(id))?.map(KeyFile::parse).transpose()
    }

    /// The metadata of key `id` (empty when there is no key).
    pub(crate) fn key_metadata(&mut self, id: u8) -> Result<Metadata, Status> {
        match self.key_file(id)? {
            Some(file) => self.metadata_of(id, &file),
            None => Ok(Metadata::default()),
        }
    }

    /// The metadata of key file `file` of slot `id`, with the uses left.
    fn metadata_of(&mut self, id: u8, file: &KeyFile) -> Result<Metadata, Status> {
        if file.is_first_format() {
            let mut m = match self.read_file(meta_fid(id))? {
                Some(raw) => Metadata::parse(&raw, false)?,
                None => Metadata::default(),
            };
            m.counter = match self.platform.counters().read_all(key_fid(id)) {
                Ok(v) => Some(u32::from_be_bytes(v.try_into().map_err(|_| Status::ExecutionError)?)),
                Err(hsm_store::Error::NotFound) => None,
                Err(e) => return Err(crate::store_status(e)),
            };
            return Ok(m);
        }
        let mut m = file.metadata()?;
        if m.counter.is_some() {
            match self.platform.counters().read_all(key_fid(id)) {
                Ok(v) => {
                    if let Some((left, instance)) = v.split_first_chunk::<4>()
                        && m.instance.as_ref().is_some_and(|i| i[..] == *instance)
                    {
                        m.counter = Some(u32::from_be_bytes(*left));
                    }
                }
                Err(hsm_store::Error::NotFound) => {}
                Err(e) => return Err(crate::store_status(e)),
            }
        }
        Ok(m)
    }

    /// Stores a new key at slot `id` with its metadata and its PKCS#15 description (`C4xx`).
    /// The key and its metadata land in one write; a cut before the description leaves the key
    /// usable under exactly its policy, hidden from PKCS#15 hosts until the description is written.
    pub(crate) fn install_key(
        &mut self,
        id: u8,
        meta: &Metadata,
        key: &PrivateKey,
        description: &[u8],
    ) -> Result<(), Status> {
        self.store_key(id, meta, key)?;
        self.write_file(u16::from_be_bytes([prefix::PRKD, id]), description)
    }

    /// Seals and stores key `key` at slot `id` with metadata `meta` (its counter: the uses of
    /// the new key), replacing the slot's key and policy in one atomic write.
    pub(crate) fn store_key(&mut self, id: u8, meta: &Metadata, key: &PrivateKey) -> Result<(), Status> {
        self.session.key_cache.forget(id);
        let mkek = self.session.mkek.clone().ok_or(Status::ExecutionError)?;
        let plain = encode(key)?;
        let m = meta.encode();
        let n = u16::try_from(m.len()).map_err(|_| Status::WrongLength)?;
        let mut file = Vec::with_capacity(3 + m.len() + plain.len() + SEALED_OVERHEAD);
        file.push(FILE_WITH_METADATA);
        file.extend_from_slice(&n.to_be_bytes());
        file.extend_from_slice(&m);
        let nonce = self.random_array::<INSTANCE_LEN>()?;
        let sealing = self.keys.mkek_sealing_key(&mkek);
        let sealed = self.keys.seal_bound(&sealing, key_fid(id), &nonce, &file, &plain);
        file.extend_from_slice(&sealed);
        self.write_file(key_fid(id), &file)?;
        // What the slot's previous key left, which the new file no longer reads: its counter
        // (bound to the old file) and its metadata file of the first format.
        self.drop_key_leftovers(id)
    }

    /// Removes what a key of slot `id` kept outside its key file.
    fn drop_key_leftovers(&mut self, id: u8) -> Result<(), Status> {
        self.platform
            .store()
            .delete(meta_fid(id))
            .map_err(crate::store_status)?;
        self.platform
            .counters()
            .delete(key_fid(id))
            .map(|_| ())
            .map_err(crate::store_status)
    }

    /// The key-use gate of every private-key command (reference §3.14 checks, in upstream's order):
    /// user authentication (6982; slot 0 is never the user's, DESIGN §5), key present (6A82),
    /// use counter not exhausted (6A84), algorithm allowed (6985). Returns the loaded key and its
    /// metadata. Every check runs each time; the key cache (`keycache.rs`) only saves the
    /// unsealing and parsing of a key file it has seen, byte for byte, before. A key of the first
    /// format is rewritten in today's (its only write).
    ///
    /// With press-to-confirm on (option 0x0100) the button must confirm each use, once the checks
    /// passed and before anything is spent (6600 otherwise).
    pub(crate) fn load_key_for(&mut self, id: u8, alg: u8) -> Result<(LoadedKey, Metadata), Status> {
        self.load_key_gated(id, alg, true)
    }

    fn load_key_gated(&mut self, id: u8, alg: u8, confirm: bool) -> Result<(LoadedKey, Metadata), Status> {
        if !self.session.user_authenticated || id == 0 {
            return Err(Status::SecurityStatusNotSatisfied);
        }
        let file = self.key_file(id)?.ok_or(Status::FileNotFound)?;
        let meta = self.metadata_of(id, &file)?;
        if meta.counter == Some(0) {
            return Err(Status::NotEnoughMemory);
        }
        if !meta.allows(alg) {
            return Err(Status::ConditionsNotSatisfied);
        }
        if confirm {
            self.confirm_use()?;
        }
        let fingerprint = hsm_crypto::hash::sha256(&[&file.raw]);
        let key = match self.session.key_cache.take(id, &fingerprint) {
            Some(key) => key,
            None => self.unseal_key(id, &file)?,
        };
        if file.is_first_format() {
            // Its counter as it stands becomes the new file's; a cut before the old counter is
            // dropped leaves that counter unbound, which reads as the same number.
            self.store_key(id, &meta, &key)?;
            return self.load_key_gated(id, alg, false);
        }
        Ok((LoadedKey { key, id, fingerprint }, meta))
    }

    /// Gives a key back to the key cache after a successful operation.
    pub(crate) fn keep_key(&mut self, key: LoadedKey) {
        let budget = self.key_cache_budget;
        self.session.key_cache.put(key.id, key.fingerprint, key.key, budget);
    }

    /// Reads and unseals key `id` (6A82 when there is none, 6400 without an unlocked MKEK).
    pub(crate) fn open_key(&mut self, id: u8) -> Result<PrivateKey, Status> {
        let file = self.key_file(id)?.ok_or(Status::FileNotFound)?;
        self.unseal_key(id, &file)
    }

    fn unseal_key(&mut self, id: u8, file: &KeyFile) -> Result<PrivateKey, Status> {
        let mkek = self.session.mkek.clone().ok_or(Status::ExecutionError)?;
        let sealing = self.keys.mkek_sealing_key(&mkek);
        let plain = self
            .keys
            .open_bound(&sealing, key_fid(id), file.bound(), file.sealed())
            .ok_or(Status::ExecutionError)?;
        decode(&plain)
    }

    /// Spends one use of key `id` (metadata `meta` from the gate), durably, before its result
    /// leaves the card.
    pub(crate) fn count_use(&mut self, id: u8, meta: &Metadata) -> Result<(), Status> {
        if let Some(c) = meta.counter {
            let mut v = Vec::with_capacity(4 + INSTANCE_LEN);
            v.extend_from_slice(&c.saturating_sub(1).to_be_bytes());
            if let Some(i) = &meta.instance {
                v.extend_from_slice(i);
            }
            self.platform
                .counters()
                .write(key_fid(id), &v)
                .map_err(crate::store_status)?;
        }
        Ok(())
    }

    /// Drops what key `id` kept beside its key file, once the file is deleted (DELETE FILE of CCxx).
    pub(crate) fn forget_key(&mut self, id: u8) -> Result<(), Status> {
        self.session.key_cache.forget(id);
        self.drop_key_leftovers(id)
    }

    /// Rewrites key `id` in the first format (sealed key alone, metadata in `D0xx`, a 4-byte
    /// counter), as a device of that format left it: for the tests of the rewrite at first use.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn rewrite_in_first_format(&mut self, id: u8) -> Result<(), Status> {
        let file = self.key_file(id)?.ok_or(Status::FileNotFound)?;
        let meta = self.metadata_of(id, &file)?;
        let key = self.unseal_key(id, &file)?;
        let mkek = self.session.mkek.clone().ok_or(Status::ExecutionError)?;
        let plain = encode(&key)?;
        self.write_sealed_mkek(key_fid(id), &mkek, &plain)?;
        let stat = Metadata {
            counter: None,
            ..meta.clone()
        }
        .encode();
        if !stat.is_empty() {
            self.write_file(meta_fid(id), &stat)?;
        }
        self.session.key_cache.forget(id);
        let counters = self.platform.counters();
        match meta.counter {
            Some(c) => counters.write(key_fid(id), &c.to_be_bytes()),
            None => counters.delete(key_fid(id)).map(|_| ()),
        }
        .map_err(crate::store_status)
    }
}
