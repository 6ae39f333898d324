//! RSA 1024–4096 on RustCrypto `rsa` 0.10: generation, raw private operation, PKCS#1 v1.5 and
//! PSS signatures, PKCS#1 v1.5 and OAEP-SHA-256 decryption (reference §3.14, §3.15, §4).
//!
//! # Targets
//! `rsa` 0.10 needs `alloc::sync`; on thumbv6m (RP2040, no atomic compare-and-swap) it builds with
//! the firmware workspace's `crypto-bigint` patch (`firmware/patches/`). The arithmetic of the
//! private operation and of key generation is ours (`monty.rs`, `prime.rs`): on the RP2040 it runs an
//! assembly inner loop (feature `armv6m-asm`); `rsa` assembles keys from primes, pads nothing
//! here, and verifies.
//!
//! # Timing (RUSTSEC-2023-0071, "Marvin")
//! The advisory concerned `rsa` ≤ 0.9, whose `num-bigint` arithmetic was not constant time.
//! The private operation here ([`crt`](self::crt)) is our own CRT on our constant-time Montgomery
//! arithmetic (`monty.rs`), with the values `rsa` 0.10 precomputes for the key, blinded with the card's DRBG: the base by a pair `(r^e, r^-1)` kept with the key and
//! squared between operations (as OpenSSL), the CRT exponents afresh every time (as `rsa`). Each
//! result is checked by re-encrypting it, which also guards against CRT faults. The paddings are
//! ours: EMSA-PKCS1-v1_5 and EMSA-PSS encoding, OAEP decoding and PKCS#1 v1.5 decoding with
//! implicit rejection (draft-irtf-cfrg-rsa-guidance-10 §7, as `rsa` 0.10 implements it): a bad
//! padding gives a deterministic pseudo-random message instead of an error, so the padding check is
//! not an oracle, and the decoding runs in constant time over the encoded message. Residual risk,
//! stated honestly: allocation sizes follow public lengths only, but the allocator itself and the
//! final copy of a decrypted message (whose length is released anyway) were not examined for timing.
//! On the device the card handles one command at a time behind USB, and the host sees only the
//! whole APDU round trip, which blunts but does not rule out a local timing attack by software on
//! the host. How this was checked: docs/security.md, "Constant time".

use alloc::vec::Vec;

use rand_core::TryCryptoRng;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BoxedUint, Pkcs1v15Sign, PrivateKey};
use zeroize::Zeroizing;

use super::Error;

mod crt;
pub(crate) mod monty;
mod padding;
mod prime;
#[cfg(feature = "prime-thread")]
mod thread;

pub use crt::BLINDING_USES;
#[cfg(feature = "prime-thread")]
pub use thread::ThreadSearch;

/// Smallest modulus we generate or load, in bits.
pub const MIN_BITS: usize = 1024;
/// Largest modulus we generate or load, in bits (upstream's 512-byte key buffer).
pub const MAX_BITS: usize = 4096;

/// The hash of a PKCS#1 v1.5 or PSS signature (reference §3.14: SHA-1 … SHA-512).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// SHA-1.
    Sha1,
    /// SHA-224.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlg {
    /// Every supported hash.
    pub const ALL: [HashAlg; 5] = [
        HashAlg::Sha1,
        HashAlg::Sha224,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
    ];

    /// Digest length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            HashAlg::Sha1 => 20,
            HashAlg::Sha224 => 28,
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
            HashAlg::Sha512 => 64,
        }
    }

    /// The hash with this digest length (how upstream infers the PSS hash, reference §3.14).
    pub fn from_output_len(len: usize) -> Option<HashAlg> {
        HashAlg::ALL.iter().copied().find(|h| h.output_len() == len)
    }

    /// The DER `DigestInfo` prefix (RFC 8017 §9.2 note 1) that precedes the digest.
    pub fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            HashAlg::Sha1 => &[
                0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14,
            ],
            HashAlg::Sha224 => &[
                0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04, 0x05, 0x00,
                0x04, 0x1c,
            ],
            HashAlg::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
                0x04, 0x20,
            ],
            HashAlg::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00,
                0x04, 0x30,
            ],
            HashAlg::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00,
                0x04, 0x40,
            ],
        }
    }

    /// Splits a `DigestInfo` for one of these hashes into the hash and the digest.
    pub fn parse_digest_info(digest_info: &[u8]) -> Option<(HashAlg, &[u8])> {
        HashAlg::ALL.iter().copied().find_map(|h| {
            let digest = digest_info.strip_prefix(h.digest_info_prefix())?;
            (digest.len() == h.output_len()).then_some((h, digest))
        })
    }
}

/// Runs `$e` with `$d` bound to the `sha1`/`sha2` type of `$alg`.
macro_rules! with_digest {
    ($alg:expr, $d:ident => $e:expr) => {
        match $alg {
            HashAlg::Sha1 => {
                type $d = sha1::Sha1;
                $e
            }
            HashAlg::Sha224 => {
                type $d = sha2::Sha224;
                $e
            }
            HashAlg::Sha256 => {
                type $d = sha2::Sha256;
                $e
            }
            HashAlg::Sha384 => {
                type $d = sha2::Sha384;
                $e
            }
            HashAlg::Sha512 => {
                type $d = sha2::Sha512;
                $e
            }
        }
    };
}

/// What a key record stores: the primes `P`, `Q` (each half the modulus length, big-endian,
/// as upstream stores `P ‖ Q`) and the public exponent, which upstream does not store (it forces
/// 65537 on load) but we must, since any odd exponent ≥ 3 is kept (DESIGN §5).
pub struct RsaPrimes {
    /// First prime, big-endian.
    pub p: Zeroizing<Vec<u8>>,
    /// Second prime, big-endian.
    pub q: Zeroizing<Vec<u8>>,
    /// Public exponent.
    pub e: u32,
}

/// An RSA private key (two primes, CRT values precomputed) and its blinding state.
///
/// Private operations take `&self`; the blinding pair they update lives in a `Cell`, so the key
/// is `Send` but not `Sync`. A clone starts with a blinding pair of its own.
#[derive(Clone)]
pub struct RsaPrivateKey {
    inner: PrivateKey,
    crt: crt::Crt,
}

impl core::fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RsaPrivateKey")
            .field("bits", &self.bits())
            .finish_non_exhaustive()
    }
}

fn check_exponent(e: u32) -> Result<(), Error> {
    // DESIGN §5: any odd exponent ≥ 3 from the request is kept (upstream forces 65537).
    if e >= 3 && e % 2 == 1 {
        Ok(())
    } else {
        Err(Error::InvalidInput)
    }
}

/// A big-endian number of 1 to 4 bytes.
fn be_u32(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || bytes.len() > 4 {
        return None;
    }
    Some(bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

fn uint(bytes: &[u8]) -> BoxedUint {
    BoxedUint::from_be_slice_vartime(bytes)
}

/// A prime found by a [`PrimeSearch`] helper, on its way to the key generation (opaque; zeroized
/// when dropped).
pub struct Prime(Zeroizing<Vec<crypto_bigint::Word>>);

impl core::fmt::Debug for Prime {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Prime(..)")
    }
}

/// What a [`PrimeSearch`] helper searches: primes of `bits` bits (top two bits set) with
/// `gcd(e, p − 1) = 1`, drawing its random numbers from its own [`Drbg`](crate::drbg::Drbg)
/// seeded from the generating card's DRBG. Zeroized when dropped.
pub struct PrimeJob {
    bits: usize,
    e: u32,
    seed: Zeroizing<[u8; crate::drbg::ENTROPY_LEN]>,
}

impl core::fmt::Debug for PrimeJob {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PrimeJob")
            .field("bits", &self.bits)
            .field("e", &self.e)
            .finish_non_exhaustive()
    }
}

/// A second processor that searches primes while the key generation searches too (the RP2040's
/// core 1): [`RsaPrivateKey::generate_with`] hands it a job, takes what it finds between its own
/// Miller–Rabin tests, and ends the job when it has its two primes. The helper runs
/// [`search_primes`] on the job. Every method returns at once.
pub trait PrimeSearch {
    /// Starts `job`; `false` when the helper cannot take it now (the generation then searches
    /// alone).
    fn start(&mut self, job: PrimeJob) -> bool;
    /// A prime the helper has found since the last call, if any (each prime once).
    fn take(&mut self) -> Option<Prime>;
    /// Ends the job: the helper stops at its next check and drops what it holds (zeroized).
    fn stop(&mut self);
}

/// The helper's side of a [`PrimeSearch`]: searches primes for `job`, handing each to `post`, until
/// `stop` says so (asked before every Miller–Rabin test) or `post` returns `false`. `post` may wait
/// until the previous prime was taken.
///
/// # Errors
/// [`Error::Rng`] when the seed is unusable; [`Error::Internal`] when 64 windows in a row held no
/// prime (a broken generator).
pub fn search_primes(
    job: PrimeJob,
    stop: &mut dyn FnMut() -> bool,
    post: &mut dyn FnMut(Prime) -> bool,
) -> Result<(), Error> {
    let mut rng = crate::drbg::Drbg::new();
    rng.reseed(&job.seed).map_err(|_| Error::Rng)?;
    drop(job.seed);
    let primes = prime::SmallPrimes::new();
    while let Some(p) = prime::generate_prime(&mut rng, &primes, job.bits, job.e, stop)? {
        if !post(Prime(p)) {
            break;
        }
    }
    Ok(())
}

/// Two primes of `bits / 2` bits each (top two bits set, so `n` has exactly `bits` bits) at least
/// 2^(bits/2 − 100) apart (FIPS 186-5 A.1.3), assembled into a key by `rsa`. With a `helper`, both
/// processors search and the first two primes found are used (which processor found which does
/// not matter: each is a uniformly drawn prime of the same distribution).
fn generate_key<R: TryCryptoRng + ?Sized>(
    bits: usize,
    e: u32,
    rng: &mut R,
    helper: Option<&mut dyn PrimeSearch>,
) -> Result<PrivateKey, Error> {
    let half = bits / 2;
    let primes = prime::SmallPrimes::new();
    let mut helping = None;
    if let Some(h) = helper {
        let mut seed = Zeroizing::new([0u8; crate::drbg::ENTROPY_LEN]);
        rng.try_fill_bytes(&mut seed[..]).map_err(|_| Error::Rng)?;
        if h.start(PrimeJob { bits: half, e, seed }) {
            helping = Some(h);
        }
    }
    let result = two_primes(half, e, rng, &primes, &mut helping);
    if let Some(h) = helping {
        h.stop();
    }
    let (p, q) = result?;
    PrivateKey::from_p_q(p, q, BoxedUint::from(u64::from(e))).map_err(|_| Error::Internal)
}

/// The search of [`generate_key`]: primes from this processor and the helper's, until two of
/// them are far enough apart.
fn two_primes<R: TryCryptoRng + ?Sized>(
    half: usize,
    e: u32,
    rng: &mut R,
    primes: &prime::SmallPrimes,
    helper: &mut Option<&mut dyn PrimeSearch>,
) -> Result<(BoxedUint, BoxedUint), Error> {
    let mut found: Vec<Zeroizing<Vec<crypto_bigint::Word>>> = Vec::with_capacity(3);
    // Bounded like `generate_prime`: a pair too close together happens with probability ~2^-98.
    for _ in 0..8 {
        while found.len() < 2 {
            let mine = {
                let mut stop = || {
                    if let Some(Prime(p)) = helper.as_deref_mut().and_then(PrimeSearch::take) {
                        found.push(p);
                    }
                    found.len() >= 2
                };
                prime::generate_prime(rng, primes, half, e, &mut stop)?
            };
            found.extend(mine);
        }
        let p = Zeroizing::new(BoxedUint::from_words(found[0].iter().copied()));
        let q = Zeroizing::new(BoxedUint::from_words(found[1].iter().copied()));
        let diff = Zeroizing::new(if *p > *q {
            p.wrapping_sub(&*q)
        } else {
            q.wrapping_sub(&*p)
        });
        if (diff.bit_width_vartime() as usize) > half - 100 {
            return Ok((BoxedUint::clone(&p), BoxedUint::clone(&q)));
        }
        found.truncate(1);
    }
    Err(Error::Internal)
}

/// Big-endian bytes of `u`, left-padded or trimmed of leading zeros to exactly `len`.
fn be(u: &BoxedUint, len: usize) -> Result<Zeroizing<Vec<u8>>, Error> {
    let bytes = Zeroizing::new(u.to_be_bytes());
    super::weierstrass::left_pad(&bytes, len).ok_or(Error::Internal)
}

impl RsaPrivateKey {
    /// The key with its private-operation values (needs the two primes and `rsa`'s CRT values).
    fn wrap(inner: PrivateKey) -> Result<Self, Error> {
        let crt = crt::Crt::new(&inner).ok_or(Error::Internal)?;
        Ok(RsaPrivateKey { inner, crt })
    }

    /// Generates a key of `bits` (a multiple of 256 from 1024 to 4096; upstream offers 1024,
    /// 1536, 2048, 3072, 4096) with public exponent `e` (odd, ≥ 3), then runs a pair-wise
    /// consistency check (sign and verify) before returning it.
    pub fn generate<R: TryCryptoRng + ?Sized>(bits: usize, e: u32, rng: &mut R) -> Result<Self, Error> {
        Self::generate_with(bits, e, rng, None)
    }

    /// [`RsaPrivateKey::generate`], searching the primes on this processor and, when given, on a
    /// `helper` in parallel.
    pub fn generate_with<R: TryCryptoRng + ?Sized>(
        bits: usize,
        e: u32,
        rng: &mut R,
        helper: Option<&mut dyn PrimeSearch>,
    ) -> Result<Self, Error> {
        if !(MIN_BITS..=MAX_BITS).contains(&bits) || !bits.is_multiple_of(256) {
            return Err(Error::InvalidInput);
        }
        check_exponent(e)?;
        let inner = generate_key(bits, e, rng, helper)?;
        let key = RsaPrivateKey::wrap(inner)?;
        if key.bits() != bits {
            return Err(Error::ConsistencyCheck);
        }
        key.pairwise_check(rng)?;
        Ok(key)
    }

    fn pairwise_check<R: TryCryptoRng + ?Sized>(&self, rng: &mut R) -> Result<(), Error> {
        let hash = [0xa5u8; 32];
        let sig = self
            .sign_pkcs1v15(HashAlg::Sha256, &hash, rng)
            .map_err(|_| Error::ConsistencyCheck)?;
        let mut t = Vec::from(HashAlg::Sha256.digest_info_prefix());
        t.extend_from_slice(&hash);
        self.inner
            .to_public_key()
            .verify(Pkcs1v15Sign::new_unprefixed(), &t, &sig)
            .map_err(|_| Error::ConsistencyCheck)
    }

    /// Loads a key from its primes (big-endian, any order) and public exponent. The modulus
    /// must have 1024–4096 bits.
    pub fn from_pqe(p: &[u8], q: &[u8], e: u32) -> Result<Self, Error> {
        check_exponent(e)?;
        let inner =
            PrivateKey::from_p_q(uint(p), uint(q), BoxedUint::from(u64::from(e))).map_err(|_| Error::InvalidKey)?;
        let key = RsaPrivateKey::wrap(inner).map_err(|_| Error::InvalidKey)?;
        if !(MIN_BITS..=MAX_BITS).contains(&key.bits()) {
            return Err(Error::InvalidKey);
        }
        Ok(key)
    }

    /// Loads a key from its modulus, public exponent and private exponent (big-endian), recovering
    /// the primes (NIST SP 800-56B Appendix C.2; the `rsa` crate needs 2^16 < e < 2^256 for it).
    /// The SmartCard-HSM key blob's private-exponent form (reference §7.3) carries only these.
    pub fn from_ned(n: &[u8], e: &[u8], d: &[u8]) -> Result<Self, Error> {
        check_exponent(be_u32(e).ok_or(Error::InvalidKey)?)?;
        let inner =
            PrivateKey::from_components(uint(n), uint(e), uint(d), Vec::new()).map_err(|_| Error::InvalidKey)?;
        let key = RsaPrivateKey::wrap(inner).map_err(|_| Error::InvalidKey)?;
        if !(MIN_BITS..=MAX_BITS).contains(&key.bits()) {
            return Err(Error::InvalidKey);
        }
        Ok(key)
    }

    /// The private exponent `d`, big-endian, `size()` bytes.
    pub fn private_exponent(&self) -> Zeroizing<Vec<u8>> {
        be(self.inner.d(), self.size()).unwrap_or_default()
    }

    /// The primes and exponent to store (see [`RsaPrimes`]).
    pub fn to_pqe(&self) -> Result<RsaPrimes, Error> {
        let half = self.size().div_ceil(2);
        let [p, q] = self.inner.primes() else {
            return Err(Error::Internal);
        };
        Ok(RsaPrimes {
            p: be(p.as_ref(), half)?,
            q: be(q.as_ref(), half)?,
            e: self.public_exponent_u32()?,
        })
    }

    /// Modulus length in bits.
    pub fn bits(&self) -> usize {
        self.inner.n().as_ref().bit_width_vartime() as usize
    }

    /// Modulus length in bytes (the length of signatures and raw results).
    pub fn size(&self) -> usize {
        self.bits().div_ceil(8)
    }

    /// The modulus `n`, big-endian, `size()` bytes.
    pub fn modulus(&self) -> Vec<u8> {
        be(self.inner.n().as_ref(), self.size())
            .map(|b| b.to_vec())
            .unwrap_or_default()
    }

    /// The public exponent, big-endian without leading zeros (the CV template's `82`).
    pub fn public_exponent(&self) -> Vec<u8> {
        let bytes = self.inner.e().to_be_bytes();
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        bytes.get(start..).unwrap_or(&[]).to_vec()
    }

    fn public_exponent_u32(&self) -> Result<u32, Error> {
        be_u32(&self.public_exponent()).ok_or(Error::Internal)
    }

    /// The raw private operation `input^d mod n`, blinded, result checked by re-encryption.
    /// `input` is a big-endian integer (shorter inputs are left-padded, DESIGN §5); an input
    /// longer than the modulus or not below it is an error. Output: `size()` bytes.
    pub fn raw_private<R: TryCryptoRng + ?Sized>(
        &self,
        input: &[u8],
        rng: &mut R,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let len = self.size();
        let padded = super::weierstrass::left_pad(input, len).ok_or(Error::InvalidInput)?;
        let precision = self.inner.n().as_ref().bits_precision();
        let c = Zeroizing::new(BoxedUint::from_be_slice(&padded, precision).map_err(|_| Error::InvalidInput)?);
        // The input is the host's (public): comparing it with n may take variable time.
        if *c >= *self.inner.n().as_ref() {
            return Err(Error::InvalidInput);
        }
        let m = Zeroizing::new(self.crt.private_op(&c, rng)?);
        be(&m, len)
    }

    /// PKCS#1 v1.5 signature of an already-encoded `DigestInfo` (or any `T` for EMSA-PKCS1-v1_5,
    /// RFC 8017 §9.2 step 2 onwards). Used for P2 30, where the host sends the `DigestInfo`.
    pub fn sign_pkcs1v15_digest_info<R: TryCryptoRng + ?Sized>(&self, t: &[u8], rng: &mut R) -> Result<Vec<u8>, Error> {
        let em = padding::emsa_pkcs1v15(t, self.size())?;
        self.raw_private(&em, rng).map(|s| s.to_vec())
    }

    /// PKCS#1 v1.5 signature of a digest made with `alg` (`hash` must have its length).
    pub fn sign_pkcs1v15<R: TryCryptoRng + ?Sized>(
        &self,
        alg: HashAlg,
        hash: &[u8],
        rng: &mut R,
    ) -> Result<Vec<u8>, Error> {
        if hash.len() != alg.output_len() {
            return Err(Error::InvalidInput);
        }
        let mut t = Vec::from(alg.digest_info_prefix());
        t.extend_from_slice(hash);
        self.sign_pkcs1v15_digest_info(&t, rng)
    }

    /// RSASSA-PSS over a digest made with `alg`: MGF1 with the same hash, salt length = digest
    /// length (mbedTLS's default, reference §3.14).
    pub fn sign_pss<R: TryCryptoRng + ?Sized>(&self, alg: HashAlg, hash: &[u8], rng: &mut R) -> Result<Vec<u8>, Error> {
        if hash.len() != alg.output_len() {
            return Err(Error::InvalidInput);
        }
        // Salt as long as the hash when it fits, else the longest that does (RFC 8017 §9.1.1 step 3:
        // emLen ≥ hLen + sLen + 2), as mbedTLS's MBEDTLS_RSA_SALT_LEN_ANY: RSA-1024 with SHA-512 gets 62.
        let em_bits = self.bits().saturating_sub(1);
        let em_len = em_bits.div_ceil(8);
        let salt_len = alg.output_len().min(em_len.saturating_sub(alg.output_len() + 2));
        let mut salt = Zeroizing::new(alloc::vec![0u8; salt_len]);
        rng.try_fill_bytes(&mut salt).map_err(|_| Error::Rng)?;
        let em = with_digest!(alg, D => padding::emsa_pss::<D>(hash, &salt, em_bits))?;
        self.raw_private(&em, rng).map(|s| s.to_vec())
    }

    /// RSAES-PKCS1-v1_5 decryption with implicit rejection (module docs): a wrong padding yields
    /// a deterministic pseudo-random message, not an error. Ciphertexts of the wrong length or
    /// not below the modulus are errors.
    pub fn decrypt_pkcs1v15<R: TryCryptoRng + ?Sized>(
        &self,
        ciphertext: &[u8],
        rng: &mut R,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let k = self.size();
        if ciphertext.len() != k {
            return Err(Error::Decryption);
        }
        let em = self.raw_private(ciphertext, rng).map_err(|_| Error::Decryption)?;
        let d = be(self.inner.d(), k)?;
        padding::eme_pkcs1v15_decode_implicit(em, &d, ciphertext)
    }

    /// RSAES-OAEP decryption with SHA-256, MGF1-SHA-256 and an empty label (P2 23).
    ///
    /// The unpadding is ours (RFC 8017 §7.1.2 step 3, constant time over the encoded message):
    /// `rsa` 0.10 deliberately ignores the leading octet `Y`, which RFC 8017 and Wycheproof
    /// require to be zero. Every padding failure gives the same error.
    pub fn decrypt_oaep_sha256<R: TryCryptoRng + ?Sized>(
        &self,
        ciphertext: &[u8],
        rng: &mut R,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        if ciphertext.len() != self.size() {
            return Err(Error::Decryption);
        }
        let em = self.raw_private(ciphertext, rng).map_err(|_| Error::Decryption)?;
        oaep_sha256_unpad(&em)
    }

    /// The public key, for callers that verify or encrypt (tests, CV certificates).
    pub fn public_key(&self) -> rsa::PublicKey {
        self.inner.to_public_key()
    }
}

/// An RSA public key (modulus and exponent, big-endian) for verification, 1024–4096 bits.
fn public_key(n: &[u8], e: &[u8]) -> Result<rsa::PublicKey, Error> {
    if e.is_empty() || e.len() > 32 {
        return Err(Error::InvalidKey);
    }
    rsa::PublicKey::new_with_size_limits(uint(n), uint(e), MIN_BITS..=MAX_BITS).map_err(|_| Error::InvalidKey)
}

/// Verifies an RSASSA-PKCS1-v1_5 signature over a digest made with `alg` (RFC 8017 §8.2.2),
/// with the public key `n`, `e` (big-endian). Used for CV certificates and PKA (reference §8).
pub fn verify_pkcs1v15(n: &[u8], e: &[u8], alg: HashAlg, hash: &[u8], sig: &[u8]) -> Result<(), Error> {
    if hash.len() != alg.output_len() {
        return Err(Error::InvalidInput);
    }
    let key = public_key(n, e)?;
    let mut t = Vec::from(alg.digest_info_prefix());
    t.extend_from_slice(hash);
    key.verify(Pkcs1v15Sign::new_unprefixed(), &t, sig)
        .map_err(|_| Error::InvalidSignature)
}

/// Verifies an RSASSA-PSS signature over a digest made with `alg`, MGF1 with the same hash and
/// any salt length (RFC 8017 §8.1.2; the signer's salt length is not part of the CV key's OID).
pub fn verify_pss(n: &[u8], e: &[u8], alg: HashAlg, hash: &[u8], sig: &[u8]) -> Result<(), Error> {
    use sha2::Digest;
    if hash.len() != alg.output_len() {
        return Err(Error::InvalidInput);
    }
    let key = public_key(n, e)?;
    with_digest!(alg, D => {
        let scheme = rsa::Pss::<D> { blinded: false, digest: D::new(), salt_len: None };
        key.verify(scheme, hash, sig)
    })
    .map_err(|_| Error::InvalidSignature)
}

/// MGF1 with SHA-256 (RFC 8017 §B.2.1), XORed into `out`.
fn mgf1_sha256_xor(seed: &[u8], out: &mut [u8]) {
    use sha2::Digest;
    for (counter, chunk) in out.chunks_mut(32).enumerate() {
        let mut h = sha2::Sha256::new();
        h.update(seed);
        h.update((counter as u32).to_be_bytes());
        let mask = h.finalize();
        chunk.iter_mut().zip(mask.iter()).for_each(|(b, m)| *b ^= m);
    }
}

/// EME-OAEP decoding with SHA-256 and an empty label, constant time in the contents of `em`.
fn oaep_sha256_unpad(em: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    use subtle::{ConditionallySelectable, ConstantTimeEq};
    const H: usize = 32;
    const EMPTY_LABEL_HASH: [u8; 32] = [
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae,
        0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
    ];
    if em.len() < 2 * H + 2 {
        return Err(Error::Decryption);
    }
    let mut em = Zeroizing::new(em.to_vec());
    let (y, rest) = em.split_at_mut(1);
    let (seed, db) = rest.split_at_mut(H);
    mgf1_sha256_xor(db, seed);
    mgf1_sha256_xor(seed, db);
    let (lhash, ps_m) = db.split_at(H);
    let mut good = y[0].ct_eq(&0) & lhash.ct_eq(&EMPTY_LABEL_HASH);
    // PS (zeros) then 0x01 then M: find the 0x01 without branching on the data.
    let mut looking = subtle::Choice::from(1);
    let mut index = 0u32;
    for (i, b) in ps_m.iter().enumerate() {
        let is_one = b.ct_eq(&1);
        let is_zero = b.ct_eq(&0);
        index.conditional_assign(&(i as u32), looking & is_one);
        good &= !(looking & !is_zero & !is_one);
        looking &= !is_one;
    }
    good &= !looking;
    if bool::from(good) {
        let start = index as usize + 1;
        Ok(Zeroizing::new(ps_m.get(start..).unwrap_or(&[]).to_vec()))
    } else {
        Err(Error::Decryption)
    }
}

#[cfg(test)]
mod tests;
