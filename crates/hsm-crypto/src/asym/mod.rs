//! Asymmetric keys for the card: the thirteen upstream curves plus secp224r1, and RSA.
//!
//! * Weierstrass curves (ECDSA, ECDH, additive derivation): secp192r1, secp224r1, secp256r1,
//!   secp384r1, secp521r1, brainpoolP256r1/384r1, secp256k1 run on the RustCrypto crates
//!   (`p192` … `k256`, `bp256`, `bp384`). brainpoolP512r1 and secp192k1 have no maintained
//!   RustCrypto crate, so they run on a small hand-written constant-time implementation
//!   ([`generic`](self::generic) on `crypto-bigint`), tested against RFC 7027 vectors, Wycheproof
//!   and against `p256` by instantiating the same code with the P-256 parameters.
//! * Edwards (pure EdDSA): Ed25519 (`ed25519-dalek`), Ed448 (`ed448-goldilocks`).
//! * Montgomery (ECDH only): X25519 (`x25519-dalek`), X448 (`x448`).
//! * RSA 1024–4096 (`rsa`), in [`rsa`](self::rsa), only where the target has atomic pointers.
//!
//! Private keys are byte strings in the encoding upstream stores after the mbedTLS group id
//! (reference §6.4): big-endian scalars for Weierstrass curves, the raw little-endian RFC 7748
//! scalar for X25519/X448 and the raw RFC 8032 seed for Ed25519/Ed448. They live in
//! [`Zeroizing`] buffers and are parsed again for each operation.
//!
//! Nothing here panics on input: every malformed key, point, hash or signature is an [`Error`].

use alloc::vec::Vec;

use rand_core::TryCryptoRng;
use zeroize::Zeroizing;

/// Runs `$body` with `$d` the hash of the RFC 6979 HMAC-DRBG that makes ECDSA nonces for a group
/// order of `$len` bytes: SHA-256 up to 256-bit orders, SHA-384 up to 384, SHA-512 above. These
/// are the pairs of RFC 6979's own examples and of the `ecdsa` crate (P-256 with SHA-256 …), so
/// with no additional input the signatures equal RFC 6979's vectors; and the nonce of a 256-bit
/// curve costs three SHA-256 compressions where SHA-512 took two four times as dear on the
/// Cortex-M0+ (no 64-bit arithmetic): 11 % of a P-256 signature there, ~15 % on the host.
macro_rules! with_nonce_hash {
    ($len:expr, $d:ident => $body:expr) => {
        match $len {
            0..=32 => {
                type $d = sha2::Sha256;
                $body
            }
            33..=48 => {
                type $d = sha2::Sha384;
                $body
            }
            _ => {
                type $d = sha2::Sha512;
                $body
            }
        }
    };
}
pub(crate) use with_nonce_hash;

mod edwards;
pub mod generic;
#[cfg(any(feature = "table-p256-flash", target_pointer_width = "64", test))]
mod p256_comb;
mod params;
#[cfg(feature = "rsa")]
pub mod rsa;
mod weierstrass;

pub use params::DomainParams;

/// Why an asymmetric operation failed. Small and `Copy`; the card maps it to a status word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The curve is not one we support (unknown prime, or no group id).
    UnsupportedCurve,
    /// The operation does not exist for this key type (e.g. ECDSA with an X25519 key).
    UnsupportedOperation,
    /// A private key is malformed or out of range (zero, ≥ n, wrong length).
    InvalidKey,
    /// A public point is malformed, not on the curve, or the identity / a low-order point.
    InvalidPoint,
    /// Some other input is malformed (hash length, tweak, padding, DER, size).
    InvalidInput,
    /// A signature does not verify.
    InvalidSignature,
    /// Decryption failed (bad padding where the scheme reports it, input ≥ modulus).
    Decryption,
    /// The random generator failed.
    Rng,
    /// A freshly generated key failed its pair-wise consistency check.
    ConsistencyCheck,
    /// An internal arithmetic step failed (e.g. an unexpected identity point).
    Internal,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::UnsupportedCurve => "unsupported curve",
            Error::UnsupportedOperation => "operation not supported for this key type",
            Error::InvalidKey => "invalid private key",
            Error::InvalidPoint => "invalid public point",
            Error::InvalidInput => "invalid input",
            Error::InvalidSignature => "signature does not verify",
            Error::Decryption => "decryption failed",
            Error::Rng => "random generator failed",
            Error::ConsistencyCheck => "pair-wise consistency check failed",
            Error::Internal => "internal arithmetic error",
        })
    }
}

impl core::error::Error for Error {}

/// The shape of a curve's equation, which decides the operations a key supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CurveKind {
    /// Short Weierstrass `y² = x³ + ax + b`: ECDSA, ECDH, additive derivation.
    Weierstrass,
    /// Montgomery (X25519, X448): ECDH only.
    Montgomery,
    /// Twisted Edwards (Ed25519, Ed448): pure EdDSA only.
    Edwards,
}

/// Every curve the card supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Curve {
    /// NIST P-192.
    Secp192r1,
    /// NIST P-224 (not offered by upstream; DESIGN §5 adds it).
    Secp224r1,
    /// NIST P-256.
    Secp256r1,
    /// NIST P-384.
    Secp384r1,
    /// NIST P-521.
    Secp521r1,
    /// brainpoolP256r1 (RFC 5639).
    BrainpoolP256r1,
    /// brainpoolP384r1 (RFC 5639).
    BrainpoolP384r1,
    /// brainpoolP512r1 (RFC 5639), hand-written arithmetic.
    BrainpoolP512r1,
    /// secp192k1 (SEC 2), hand-written arithmetic.
    Secp192k1,
    /// secp256k1 (SEC 2).
    Secp256k1,
    /// Ed25519 (RFC 8032), pure EdDSA.
    Ed25519,
    /// Ed448 (RFC 8032), pure EdDSA.
    Ed448,
    /// X25519 (RFC 7748).
    X25519,
    /// X448 (RFC 7748).
    X448,
}

const ALL: [Curve; 14] = [
    Curve::Secp192r1,
    Curve::Secp224r1,
    Curve::Secp256r1,
    Curve::Secp384r1,
    Curve::Secp521r1,
    Curve::BrainpoolP256r1,
    Curve::BrainpoolP384r1,
    Curve::BrainpoolP512r1,
    Curve::Secp192k1,
    Curve::Secp256k1,
    Curve::Ed25519,
    Curve::Ed448,
    Curve::X25519,
    Curve::X448,
];

impl Curve {
    /// Every supported curve.
    pub fn all() -> &'static [Curve] {
        &ALL
    }

    /// The shape of the curve equation.
    pub fn kind(self) -> CurveKind {
        match self {
            Curve::Ed25519 | Curve::Ed448 => CurveKind::Edwards,
            Curve::X25519 | Curve::X448 => CurveKind::Montgomery,
            _ => CurveKind::Weierstrass,
        }
    }

    /// Bytes of the field prime `p` (56 for Ed448 although its encodings take 57).
    pub fn field_bytes(self) -> usize {
        self.params().p.len()
    }

    /// Bits of the group order `n` (`ℓ` for the 25519/448 curves).
    pub fn order_bits(self) -> usize {
        match self {
            Curve::Secp192r1 | Curve::Secp192k1 => 192,
            Curve::Secp224r1 => 224,
            Curve::Secp256r1 | Curve::BrainpoolP256r1 | Curve::Secp256k1 => 256,
            Curve::Secp384r1 | Curve::BrainpoolP384r1 => 384,
            Curve::Secp521r1 => 521,
            Curve::BrainpoolP512r1 => 512,
            Curve::Ed25519 | Curve::X25519 => 253,
            Curve::Ed448 | Curve::X448 => 446,
        }
    }

    /// Length of a stored private key (`to_bytes`): the scalar length for Weierstrass curves,
    /// the RFC 7748 scalar or RFC 8032 seed otherwise.
    pub fn private_key_len(self) -> usize {
        match self {
            Curve::Ed448 => 57,
            _ => self.field_bytes(),
        }
    }

    /// Length of an encoded public key (`public_key`).
    pub fn public_key_len(self) -> usize {
        match self.kind() {
            CurveKind::Weierstrass => 1 + 2 * self.field_bytes(),
            CurveKind::Montgomery => self.field_bytes(),
            CurveKind::Edwards => self.private_key_len(),
        }
    }

    /// The mbedTLS `mbedtls_ecp_group_id` upstream stores before the private scalar (reference
    /// §6.4). Edwards ids come from upstream's mbedTLS fork (`polhenarejos/mbedtls`,
    /// `include/mbedtls/ecp.h`: `MBEDTLS_ECP_DP_ED25519` and `MBEDTLS_ECP_DP_ED448` follow
    /// `MBEDTLS_ECP_DP_CURVE448` = 13 in the enum, so 14 and 15).
    pub fn mbedtls_group_id(self) -> u8 {
        match self {
            Curve::Secp192r1 => 1,
            Curve::Secp224r1 => 2,
            Curve::Secp256r1 => 3,
            Curve::Secp384r1 => 4,
            Curve::Secp521r1 => 5,
            Curve::BrainpoolP256r1 => 6,
            Curve::BrainpoolP384r1 => 7,
            Curve::BrainpoolP512r1 => 8,
            Curve::X25519 => 9,
            Curve::Secp192k1 => 10,
            Curve::Secp256k1 => 12,
            Curve::X448 => 13,
            Curve::Ed25519 => 14,
            Curve::Ed448 => 15,
        }
    }

    /// The curve for an mbedTLS group id (11, secp224k1, is not supported).
    pub fn from_group_id(id: u8) -> Option<Curve> {
        ALL.iter().copied().find(|c| c.mbedtls_group_id() == id)
    }

    /// Domain parameters as the CV public key template carries them; see [`DomainParams`].
    pub fn params(self) -> &'static DomainParams {
        match self {
            Curve::Secp192r1 => &params::SECP192R1,
            Curve::Secp224r1 => &params::SECP224R1,
            Curve::Secp256r1 => &params::SECP256R1,
            Curve::Secp384r1 => &params::SECP384R1,
            Curve::Secp521r1 => &params::SECP521R1,
            Curve::BrainpoolP256r1 => &params::BRAINPOOL_P256R1,
            Curve::BrainpoolP384r1 => &params::BRAINPOOL_P384R1,
            Curve::BrainpoolP512r1 => &params::BRAINPOOL_P512R1,
            Curve::Secp192k1 => &params::SECP192K1,
            Curve::Secp256k1 => &params::SECP256K1,
            Curve::Ed25519 => &params::ED25519,
            Curve::Ed448 => &params::ED448,
            Curve::X25519 => &params::X25519,
            Curve::X448 => &params::X448,
        }
    }

    /// The curve whose prime is exactly `prime` (same length, same bytes: upstream's
    /// `ec_get_curve_from_prime` does no normalisation). For the Curve25519 and Curve448 primes
    /// this gives the Montgomery curve; [`Curve::identify`] tells Edwards apart by the generator.
    pub fn from_prime(prime: &[u8]) -> Option<Curve> {
        // Ed* share the prime with X*, which is what upstream's table maps the prime to.
        ALL.iter()
            .copied()
            .filter(|c| c.kind() != CurveKind::Edwards)
            .find(|c| c.params().p == prime)
    }

    /// Identifies the curve of a GENERATE ASYMMETRIC KEY PAIR request from the `81` prime and the
    /// `83` generator of its `7F49` template, exactly as upstream's `cmd_keypair_gen.c` does
    /// (reference §3.12): the prime alone selects the curve (exact bytes); for the 25519 prime a
    /// generator whose first byte is not `09` means Ed25519, for the 448 prime a generator that
    /// is not 56 bytes starting with `05` means Ed448. Other domain parameters are ignored.
    ///
    /// Deviation from upstream (DESIGN §5): secp224r1 is recognised. For the two Montgomery
    /// primes upstream answers "wrong data" (6A80) when tag `83` is absent; the caller checks
    /// presence, and an empty `generator` here gives `None`.
    pub fn identify(prime: &[u8], generator: &[u8]) -> Option<Curve> {
        match Curve::from_prime(prime)? {
            Curve::X25519 => match generator.first()? {
                0x09 => Some(Curve::X25519),
                _ => Some(Curve::Ed25519),
            },
            Curve::X448 => {
                if generator.len() == 56 && generator.first() == Some(&0x05) {
                    Some(Curve::X448)
                } else if generator.is_empty() {
                    None
                } else {
                    Some(Curve::Ed448)
                }
            }
            other => Some(other),
        }
    }

    /// Checks that `public` is a valid public key of this curve (on the curve, not the identity;
    /// not a low-order point for X25519/X448).
    pub fn validate_public_key(self, public: &[u8]) -> Result<(), Error> {
        match self.kind() {
            CurveKind::Weierstrass => weierstrass::validate_public(self, public),
            CurveKind::Montgomery | CurveKind::Edwards => edwards::validate_public(self, public),
        }
    }

    /// Verifies a DER `SEQUENCE { r, s }` ECDSA signature over a prehashed message (strict DER).
    pub fn verify_ecdsa_prehash(self, public: &[u8], hash: &[u8], der: &[u8]) -> Result<(), Error> {
        let n = self.field_bytes_of_order();
        let rs = der_to_raw(der, n).ok_or(Error::InvalidSignature)?;
        self.verify_ecdsa_raw(public, hash, &rs)
    }

    /// Verifies a raw `r ‖ s` ECDSA signature over a prehashed message.
    pub fn verify_ecdsa_raw(self, public: &[u8], hash: &[u8], rs: &[u8]) -> Result<(), Error> {
        match self.kind() {
            CurveKind::Weierstrass => weierstrass::verify(self, public, hash, rs),
            _ => Err(Error::UnsupportedOperation),
        }
    }

    /// Verifies a pure EdDSA signature (Ed25519, Ed448).
    pub fn verify_eddsa(self, public: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), Error> {
        edwards::verify(self, public, msg, sig)
    }

    /// Bytes of `r` and `s` in a raw ECDSA signature (the order's byte length).
    fn field_bytes_of_order(self) -> usize {
        self.order_bits().div_ceil(8)
    }
}

/// An EC private key: its curve and its secret in upstream's storage encoding (module docs).
#[derive(Clone)]
pub struct EcPrivateKey {
    curve: Curve,
    secret: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for EcPrivateKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EcPrivateKey")
            .field("curve", &self.curve)
            .finish_non_exhaustive()
    }
}

impl EcPrivateKey {
    /// Generates a key pair and runs a pair-wise consistency check (sign and verify for ECDSA and
    /// EdDSA curves, agreement with a fresh ephemeral key for X25519/X448) before returning it.
    pub fn generate<R: TryCryptoRng + ?Sized>(curve: Curve, rng: &mut R) -> Result<Self, Error> {
        let secret = match curve.kind() {
            CurveKind::Weierstrass => weierstrass::generate(curve, rng)?,
            _ => edwards::generate(curve, rng)?,
        };
        let key = EcPrivateKey { curve, secret };
        key.pairwise_check(rng)?;
        Ok(key)
    }

    fn pairwise_check<R: TryCryptoRng + ?Sized>(&self, rng: &mut R) -> Result<(), Error> {
        let public = self.public_key()?;
        let ok = match self.curve.kind() {
            CurveKind::Weierstrass => {
                let hash = [0x5a; 32];
                let sig = self.ecdsa_sign_raw(&hash, rng)?;
                self.curve.verify_ecdsa_raw(&public, &hash, &sig).is_ok()
            }
            CurveKind::Edwards => {
                let msg = b"pico-hsm pair-wise consistency";
                let sig = self.eddsa_sign(msg)?;
                self.curve.verify_eddsa(&public, msg, &sig).is_ok()
            }
            CurveKind::Montgomery => {
                let eph = Self::generate_unchecked(self.curve, rng)?;
                let one = self.ecdh(&eph.public_key()?)?;
                let two = eph.ecdh(&public)?;
                crate::ct_eq(&one, &two)
            }
        };
        if ok { Ok(()) } else { Err(Error::ConsistencyCheck) }
    }

    fn generate_unchecked<R: TryCryptoRng + ?Sized>(curve: Curve, rng: &mut R) -> Result<Self, Error> {
        Ok(EcPrivateKey {
            curve,
            secret: edwards::generate(curve, rng)?,
        })
    }

    /// Loads a stored private key. Weierstrass scalars may be shorter than the field (they are
    /// big-endian integers) and must lie in `1..n`; other curves need their exact length.
    pub fn from_bytes(curve: Curve, bytes: &[u8]) -> Result<Self, Error> {
        let secret = match curve.kind() {
            CurveKind::Weierstrass => weierstrass::import(curve, bytes)?,
            _ => edwards::import(curve, bytes)?,
        };
        Ok(EcPrivateKey { curve, secret })
    }

    /// The stored encoding of the private key.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        self.secret.clone()
    }

    /// The key's curve.
    pub fn curve(&self) -> Curve {
        self.curve
    }

    /// The public key: `04 ‖ X ‖ Y` (Weierstrass), the u-coordinate (Montgomery, little-endian)
    /// or the RFC 8032 encoded point (Edwards).
    pub fn public_key(&self) -> Result<Vec<u8>, Error> {
        match self.curve.kind() {
            CurveKind::Weierstrass => weierstrass::public(self.curve, &self.secret),
            _ => edwards::public(self.curve, &self.secret),
        }
    }

    /// ECDSA over a prehashed message, DER `SEQUENCE { r, s }`. A hash longer than the order is
    /// truncated to its leftmost bits, a shorter one is taken as a smaller integer (FIPS 186-4
    /// §6.4, bits2int); an empty hash is refused. The nonce is RFC 6979 with 32 bytes from `rng` as additional data.
    pub fn ecdsa_sign_prehash<R: TryCryptoRng + ?Sized>(&self, hash: &[u8], rng: &mut R) -> Result<Vec<u8>, Error> {
        let raw = self.ecdsa_sign_raw(hash, rng)?;
        Ok(raw_to_der(&raw))
    }

    /// ECDSA over a prehashed message as fixed-length `r ‖ s` (CV certificates, reference §8.1).
    pub fn ecdsa_sign_raw<R: TryCryptoRng + ?Sized>(&self, hash: &[u8], rng: &mut R) -> Result<Vec<u8>, Error> {
        if self.curve.kind() != CurveKind::Weierstrass {
            return Err(Error::UnsupportedOperation);
        }
        // An empty digest is no digest (and RFC 6979's bits2int is undefined for it).
        if hash.is_empty() {
            return Err(Error::InvalidInput);
        }
        let mut extra = Zeroizing::new([0u8; 32]);
        rng.try_fill_bytes(&mut extra[..]).map_err(|_| Error::Rng)?;
        weierstrass::sign(self.curve, &self.secret, hash, &extra[..])
    }

    /// Key agreement. Weierstrass: the shared point `04 ‖ X ‖ Y` (the peer point must be on the
    /// curve and not the identity; SEC1 compressed points are accepted). X25519/X448: the RFC 7748
    /// shared secret; low-order peers and an all-zero result are rejected.
    pub fn ecdh(&self, peer_public: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        match self.curve.kind() {
            CurveKind::Weierstrass => weierstrass::ecdh(self.curve, &self.secret, peer_public),
            CurveKind::Montgomery => edwards::xdh(self.curve, &self.secret, peer_public),
            CurveKind::Edwards => Err(Error::UnsupportedOperation),
        }
    }

    /// Pure EdDSA (Ed25519: 64-byte signature, Ed448: 114 bytes, empty context).
    pub fn eddsa_sign(&self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        edwards::sign(self.curve, &self.secret, msg)
    }

    /// A new key `(d + tweak) mod n` on the same curve (DESIGN §5: mod the group order, not the
    /// field prime as upstream). `tweak` is a big-endian integer of at most the scalar length; it
    /// is reduced mod n. A zero result is refused. Weierstrass curves only.
    pub fn derive_additive(&self, tweak: &[u8]) -> Result<EcPrivateKey, Error> {
        if self.curve.kind() != CurveKind::Weierstrass {
            return Err(Error::UnsupportedOperation);
        }
        let secret = weierstrass::add_scalar(self.curve, &self.secret, tweak)?;
        Ok(EcPrivateKey {
            curve: self.curve,
            secret,
        })
    }
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` from fixed-length `r ‖ s`.
pub(crate) fn raw_to_der(raw: &[u8]) -> Vec<u8> {
    let (r, s) = raw.split_at(raw.len() / 2);
    let mut body = Vec::with_capacity(raw.len() + 8);
    for int in [r, s] {
        let start = int.iter().position(|b| *b != 0).unwrap_or(int.len().saturating_sub(1));
        let int = int.get(start..).unwrap_or(&[]);
        let pad = int.first().is_some_and(|b| b & 0x80 != 0);
        body.push(0x02);
        push_der_len(&mut body, int.len() + usize::from(pad));
        if pad {
            body.push(0);
        }
        body.extend_from_slice(int);
    }
    let mut out = Vec::with_capacity(body.len() + 4);
    out.push(0x30);
    push_der_len(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

fn push_der_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
}

/// Strict DER (minimal lengths, minimal positive integers, nothing trailing) to fixed-length
/// `r ‖ s` of `n` bytes each. `None` for anything else, including integers wider than `n`.
pub(crate) fn der_to_raw(der: &[u8], n: usize) -> Option<Vec<u8>> {
    fn read_len(buf: &[u8]) -> Option<(usize, &[u8])> {
        let (&first, rest) = buf.split_first()?;
        match first {
            0..=0x7f => Some((usize::from(first), rest)),
            0x81 => {
                let (&l, rest) = rest.split_first()?;
                (l >= 0x80).then_some((usize::from(l), rest))
            }
            0x82 => {
                let (hi, rest) = rest.split_first()?;
                let (lo, rest) = rest.split_first()?;
                let l = usize::from(*hi) << 8 | usize::from(*lo);
                (l >= 0x100).then_some((l, rest))
            }
            _ => None,
        }
    }
    fn read_int(buf: &[u8]) -> Option<(&[u8], &[u8])> {
        let (&tag, rest) = buf.split_first()?;
        if tag != 0x02 {
            return None;
        }
        let (len, rest) = read_len(rest)?;
        if len == 0 || rest.len() < len {
            return None;
        }
        let (int, rest) = rest.split_at(len);
        if int[0] & 0x80 != 0 || (len > 1 && int[0] == 0 && int[1] & 0x80 == 0) {
            return None;
        }
        Some((int, rest))
    }
    let (&tag, rest) = der.split_first()?;
    if tag != 0x30 {
        return None;
    }
    let (len, rest) = read_len(rest)?;
    if rest.len() != len {
        return None;
    }
    let (r, rest) = read_int(rest)?;
    let (s, rest) = read_int(rest)?;
    if !rest.is_empty() {
        return None;
    }
    let mut out = alloc::vec![0u8; 2 * n];
    for (int, half) in [(r, 0), (s, n)] {
        let start = int.iter().position(|b| *b != 0).unwrap_or(int.len());
        let int = &int[start..];
        if int.len() > n {
            return None;
        }
        out[half + n - int.len()..half + n].copy_from_slice(int);
    }
    Some(out)
}

#[cfg(test)]
mod tests;
