//! Hierarchical deterministic keys: BIP32 / SLIP-10 private derivation on secp256k1 and NIST
//! P-256, and SLIP-21 symmetric nodes (the Pico extension INS 4A, reference §3.20).
//!
//! * [`EcNode`]: a private key `k` and a chain code `c`. The master is `I = HMAC-SHA512(curve
//!   seed, S)`, `k = I[0..32]`, `c = I[32..64]`; when `k` is 0 or ≥ n, `S := I` and again
//!   (SLIP-10 §"Master key generation", also what upstream does for secp256k1). A child `i` is
//!   `I = HMAC-SHA512(c, 00 ‖ k ‖ ser32(i))` (hardened, `i ≥ 2³¹`) or `HMAC-SHA512(c, point(k) ‖
//!   ser32(i))`, `k_i = I[0..32] + k mod n`, `c_i = I[32..64]`; when `I[0..32] ≥ n` or `k_i = 0`,
//!   `I = HMAC-SHA512(c, 01 ‖ I[32..64] ‖ ser32(i))` and again (SLIP-10's rule; for secp256k1
//!   it happens with probability 2⁻¹²⁷, BIP32 would skip to `i + 1` instead).
//! * [`SymNode`]: SLIP-21. Master `N = HMAC-SHA512("Symmetric key seed", S)`, child
//!   `HMAC-SHA512(N[0..32], 00 ‖ label)`; the node's key is `N[32..64]`.
//!
//! Scalars are handled with the curve crates' constant-time arithmetic (`k256`, `p256`); the
//! only data-dependent branches are on whether a candidate is a valid scalar, which SLIP-10
//! makes public (and which practically never happens). Secrets live in [`Zeroizing`] buffers.
//! Nothing here panics on input.

use elliptic_curve::ff::PrimeField;
use elliptic_curve::sec1::{FromSec1Point, ModulusSize, ToSec1Point};
use elliptic_curve::{AffinePoint, CurveArithmetic, FieldBytes, FieldBytesSize, NonZeroScalar, PublicKey, Scalar};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha512;
use zeroize::{Zeroize, Zeroizing};

use crate::asym::{Curve, EcPrivateKey};

/// HMAC key of a secp256k1 master (BIP32).
pub const SEED_SECP256K1: &[u8] = b"Bitcoin seed";
/// HMAC key of a NIST P-256 master (SLIP-10).
pub const SEED_NIST256P1: &[u8] = b"Nist256p1 seed";
/// HMAC key of a SLIP-21 master.
pub const SEED_SYMMETRIC: &[u8] = b"Symmetric key seed";
/// First hardened child index.
pub const HARDENED: u32 = 0x8000_0000;

/// Bound on the SLIP-10 retries of one derivation step. Each retry happens with probability
/// below 2⁻³² (P-256) or 2⁻¹²⁷ (secp256k1); reaching the bound means a broken hash.
const MAX_RETRIES: usize = 64;

/// Why a derivation failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Error {
    /// A stored key is not a valid scalar of the curve (a corrupted record).
    InvalidKey,
    /// [`MAX_RETRIES`] candidates in a row were invalid.
    Exhausted,
}

/// The curves of BIP32 / SLIP-10 nodes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum HdCurve {
    /// secp256k1 (BIP32, "Bitcoin seed").
    Secp256k1,
    /// NIST P-256 (SLIP-10, "Nist256p1 seed").
    Nist256p1,
}

impl HdCurve {
    /// The HMAC key of the curve's master derivation.
    pub fn seed_key(self) -> &'static [u8] {
        match self {
            HdCurve::Secp256k1 => SEED_SECP256K1,
            HdCurve::Nist256p1 => SEED_NIST256P1,
        }
    }

    /// The card's curve of the same name.
    pub fn curve(self) -> Curve {
        match self {
            HdCurve::Secp256k1 => Curve::Secp256k1,
            HdCurve::Nist256p1 => Curve::Secp256r1,
        }
    }
}

/// HMAC-SHA512 of the concatenation of `parts` under `key`.
fn hmac_sha512(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 64]> {
    let mut out = Zeroizing::new([0u8; 64]);
    // HMAC takes keys of any length: `new_from_slice` cannot fail.
    if let Ok(mut mac) = <Hmac<Sha512> as KeyInit>::new_from_slice(key) {
        for p in parts {
            mac.update(p);
        }
        out.copy_from_slice(&mac.finalize().into_bytes());
    }
    out
}

/// The two 32-byte halves of an HMAC-SHA512 output.
type Halves = (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>);

/// Splits a 64-byte HMAC output into its halves.
fn halves(i: &[u8; 64]) -> Halves {
    let mut left = Zeroizing::new([0u8; 32]);
    let mut right = Zeroizing::new([0u8; 32]);
    let (l, r) = i.split_at(32);
    left.copy_from_slice(l);
    right.copy_from_slice(r);
    (left, right)
}

/// RIPEMD-160 of SHA-256 (BIP32's key identifier).
pub fn hash160(data: &[u8]) -> [u8; 20] {
    use ripemd::Digest as _;
    let sha = crate::hash::sha256(&[data]);
    ripemd::Ripemd160::digest(sha).into()
}

/// Double SHA-256.
pub fn sha256d(data: &[u8]) -> [u8; 32] {
    crate::hash::sha256(&[&crate::hash::sha256(&[data])])
}

/// The first four bytes of [`hash160`].
fn fingerprint_of(data: &[u8]) -> [u8; 4] {
    let [a, b, c, d, ..] = hash160(data);
    [a, b, c, d]
}

/// The bounds `k256::Secp256k1` and `p256::NistP256` satisfy.
trait HdArith: CurveArithmetic
where
    AffinePoint<Self>: FromSec1Point<Self> + ToSec1Point<Self>,
    FieldBytesSize<Self>: ModulusSize,
{
}

impl<C> HdArith for C
where
    C: CurveArithmetic,
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
}

/// `bytes` as a scalar in `1..n`, or `None` (0 or ≥ n).
fn nonzero<C: HdArith>(bytes: &[u8; 32]) -> Option<NonZeroScalar<C>>
where
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    let repr = FieldBytes::<C>::try_from(&bytes[..]).ok()?;
    NonZeroScalar::<C>::from_repr(repr).into_option()
}

/// The compressed SEC1 public point of scalar `k`.
fn compressed<C: HdArith>(k: &[u8; 32]) -> Result<[u8; 33], Error>
where
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    let d = Zeroizing::new(nonzero::<C>(k).ok_or(Error::InvalidKey)?);
    let point = PublicKey::<C>::from_secret_scalar(&d).as_affine().to_sec1_point(true);
    <[u8; 33]>::try_from(point.as_bytes()).map_err(|_| Error::InvalidKey)
}

/// The master key of seed `s` (see the module documentation).
fn master<C: HdArith>(seed_key: &[u8], s: &[u8]) -> Result<Halves, Error>
where
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    let mut i = hmac_sha512(seed_key, &[s]);
    for _ in 0..MAX_RETRIES {
        let (left, right) = halves(&i);
        if nonzero::<C>(&left).map(|mut k| k.zeroize()).is_some() {
            return Ok((left, right));
        }
        i = hmac_sha512(seed_key, &[&i[..]]);
    }
    Err(Error::Exhausted)
}

/// Private child `index` of `(k, c)` (see the module documentation); `point` is the compressed
/// public point of `k` when the caller has it (computed here when a normal child needs it).
fn child<C: HdArith>(k: &[u8; 32], c: &[u8; 32], index: u32, point: Option<&[u8; 33]>) -> Result<Halves, Error>
where
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    let parent = Zeroizing::new(nonzero::<C>(k).ok_or(Error::InvalidKey)?);
    let ser = index.to_be_bytes();
    // 33 bytes: 00 ‖ k (hardened) or the compressed parent point.
    let mut data = Zeroizing::new([0u8; 33]);
    let (zero, rest) = data.split_at_mut(1);
    if index >= HARDENED {
        rest.copy_from_slice(k);
    } else {
        let point = match point {
            Some(p) => *p,
            None => compressed::<C>(k)?,
        };
        let (first, x) = point.split_at(1);
        zero.copy_from_slice(first);
        rest.copy_from_slice(x);
    }
    let mut i = hmac_sha512(c, &[&data[..], &ser]);
    for _ in 0..MAX_RETRIES {
        let (left, right) = halves(&i);
        let repr = FieldBytes::<C>::try_from(&left[..]).map_err(|_| Error::InvalidKey)?;
        // `from_repr` refuses IL ≥ n; IL = 0 is fine (k_i = k).
        if let Some(il) = Option::<Scalar<C>>::from(Scalar::<C>::from_repr(repr)).map(Zeroizing::new)
            && let Some(sum) = NonZeroScalar::<C>::new(*il + **parent)
                .into_option()
                .map(Zeroizing::new)
        {
            let mut out = Zeroizing::new([0u8; 32]);
            out.copy_from_slice(&sum.to_repr());
            return Ok((out, right));
        }
        let (zero, rest) = data.split_at_mut(1);
        zero.fill(0x01);
        rest.copy_from_slice(&right[..]);
        i = hmac_sha512(c, &[&data[..], &ser]);
    }
    Err(Error::Exhausted)
}

/// A BIP32 / SLIP-10 private node on secp256k1 or NIST P-256.
#[derive(Clone)]
pub struct EcNode {
    curve: HdCurve,
    key: Zeroizing<[u8; 32]>,
    chain: Zeroizing<[u8; 32]>,
}

impl core::fmt::Debug for EcNode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EcNode")
            .field("curve", &self.curve)
            .finish_non_exhaustive()
    }
}

impl EcNode {
    /// The master node of `seed`.
    pub fn master(curve: HdCurve, seed: &[u8]) -> Result<Self, Error> {
        let (key, chain) = match curve {
            HdCurve::Secp256k1 => master::<k256::Secp256k1>(curve.seed_key(), seed)?,
            HdCurve::Nist256p1 => master::<p256::NistP256>(curve.seed_key(), seed)?,
        };
        Ok(EcNode { curve, key, chain })
    }

    /// A node from its private key and chain code (a stored master); the key must be in `1..n`.
    pub fn from_parts(curve: HdCurve, key: &[u8; 32], chain: &[u8; 32]) -> Result<Self, Error> {
        let valid = match curve {
            HdCurve::Secp256k1 => nonzero::<k256::Secp256k1>(key).map(|mut k| k.zeroize()).is_some(),
            HdCurve::Nist256p1 => nonzero::<p256::NistP256>(key).map(|mut k| k.zeroize()).is_some(),
        };
        if !valid {
            return Err(Error::InvalidKey);
        }
        Ok(EcNode {
            curve,
            key: Zeroizing::new(*key),
            chain: Zeroizing::new(*chain),
        })
    }

    /// The node's curve.
    pub fn curve(&self) -> HdCurve {
        self.curve
    }

    /// The private key (big-endian scalar).
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// The chain code.
    pub fn chain(&self) -> &[u8; 32] {
        &self.chain
    }

    /// The compressed SEC1 public key (`02`/`03` ‖ X).
    pub fn public_key(&self) -> Result<[u8; 33], Error> {
        match self.curve {
            HdCurve::Secp256k1 => compressed::<k256::Secp256k1>(&self.key),
            HdCurve::Nist256p1 => compressed::<p256::NistP256>(&self.key),
        }
    }

    /// The first four bytes of HASH160 of the public key: the fingerprint its children carry.
    pub fn fingerprint(&self) -> Result<[u8; 4], Error> {
        Ok(fingerprint_of(&self.public_key()?))
    }

    /// Private child `index` (hardened when `index ≥ 2³¹`).
    pub fn child(&self, index: u32) -> Result<EcNode, Error> {
        self.child_of(index, None)
    }

    /// [`EcNode::child`] and this node's [`EcNode::fingerprint`] (the child's parent
    /// fingerprint), computing the public point once.
    pub fn child_with_fingerprint(&self, index: u32) -> Result<(EcNode, [u8; 4]), Error> {
        let point = self.public_key()?;
        Ok((self.child_of(index, Some(&point))?, fingerprint_of(&point)))
    }

    fn child_of(&self, index: u32, point: Option<&[u8; 33]>) -> Result<EcNode, Error> {
        let (key, chain) = match self.curve {
            HdCurve::Secp256k1 => child::<k256::Secp256k1>(&self.key, &self.chain, index, point)?,
            HdCurve::Nist256p1 => child::<p256::NistP256>(&self.key, &self.chain, index, point)?,
        };
        Ok(EcNode {
            curve: self.curve,
            key,
            chain,
        })
    }

    /// The node's key as a card EC key (for ECDSA).
    pub fn private_key(&self) -> Result<EcPrivateKey, Error> {
        EcPrivateKey::from_bytes(self.curve.curve(), &self.key[..]).map_err(|_| Error::InvalidKey)
    }
}

/// A SLIP-21 node: a derivation key (`N[0..32]`, the "chain") and the node's key (`N[32..64]`).
#[derive(Clone)]
pub struct SymNode {
    chain: Zeroizing<[u8; 32]>,
    key: Zeroizing<[u8; 32]>,
}

impl core::fmt::Debug for SymNode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SymNode").finish_non_exhaustive()
    }
}

impl SymNode {
    /// The master node of `seed`.
    pub fn master(seed: &[u8]) -> Self {
        let (chain, key) = halves(&hmac_sha512(SEED_SYMMETRIC, &[seed]));
        SymNode { chain, key }
    }

    /// A node from its two halves (a stored master).
    pub fn from_parts(chain: &[u8; 32], key: &[u8; 32]) -> Self {
        SymNode {
            chain: Zeroizing::new(*chain),
            key: Zeroizing::new(*key),
        }
    }

    /// The child with `label`.
    pub fn child(&self, label: &[u8]) -> SymNode {
        let (chain, key) = halves(&hmac_sha512(&self.chain[..], &[&[0x00], label]));
        SymNode { chain, key }
    }

    /// The derivation key `N[0..32]`.
    pub fn chain(&self) -> &[u8; 32] {
        &self.chain
    }

    /// The node's key `N[32..64]`.
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// The first four bytes of HASH160 of the node's key (upstream's SLIP-21 "fingerprint").
    pub fn fingerprint(&self) -> [u8; 4] {
        fingerprint_of(&self.key[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> alloc::vec::Vec<u8> {
        hex::decode(s).unwrap()
    }

    fn node(curve: HdCurve, seed: &str, path: &[u32]) -> EcNode {
        path.iter()
            .fold(EcNode::master(curve, &h(seed)).unwrap(), |n, &i| n.child(i).unwrap())
    }

    #[test]
    fn slip10_secp256k1_vector1() {
        let n = node(HdCurve::Secp256k1, "000102030405060708090a0b0c0d0e0f", &[]);
        assert_eq!(
            hex::encode(n.key()),
            "e8f32e723decf4051aefac8e2c93c9c5b214313817cdb01a1494b917c8436b35"
        );
        assert_eq!(
            hex::encode(n.chain()),
            "873dff81c02f525623fd1fe5167eac3a55a049de3d314bb42ee227ffed37d508"
        );
        let n = node(
            HdCurve::Secp256k1,
            "000102030405060708090a0b0c0d0e0f",
            &[HARDENED, 1, HARDENED + 2, 2, 1_000_000_000],
        );
        assert_eq!(
            hex::encode(n.key()),
            "471b76e389e528d6de6d816857e012c5455051cad6660850e58372a6c3e6e7c8"
        );
        assert_eq!(
            hex::encode(n.public_key().unwrap()),
            "022a471424da5e657499d1ff51cb43c47481a03b1e77f951fe64cec9f5a48f7011"
        );
    }

    #[test]
    fn slip10_nist256p1_retries() {
        // SLIP-10 "derivation retry for nist256p1": m/28578H/33941.
        let n = node(
            HdCurve::Nist256p1,
            "000102030405060708090a0b0c0d0e0f",
            &[HARDENED + 28578, 33941],
        );
        assert_eq!(
            hex::encode(n.key()),
            "092154eed4af83e078ff9b84322015aefe5769e31270f62c3f66c33888335f3a"
        );
        assert_eq!(
            hex::encode(n.chain()),
            "9e87fe95031f14736774cd82f25fd885065cb7c358c1edf813c72af535e83071"
        );
        // SLIP-10 "seed retry for nist256p1".
        let m = node(
            HdCurve::Nist256p1,
            "a7305bc8df8d0951f0cb224c0e95d7707cbdf2c6ce7e8d481fec69c7ff5e9446",
            &[],
        );
        assert_eq!(
            hex::encode(m.key()),
            "3b8c18469a4634517d6d0b65448f8e6c62091b45540a1743c5846be55d47d88f"
        );
        assert_eq!(
            hex::encode(m.public_key().unwrap()),
            "0383619fadcde31063d8c5cb00dbfe1713f3e6fa169d8541a798752a1c1ca0cb20"
        );
    }

    #[test]
    fn slip21_vector() {
        let m = SymNode::master(&h(
            "c76c4ac4f4e4a00d6b274d5c39c700bb4a7ddc04fbc6f78e85ca75007b5b495f74a9043eeb77bdd53aa6fc3a0e31462270316fa04b8c19114c8798706cd02ac8",
        ));
        assert_eq!(
            hex::encode(m.key()),
            "dbf12b44133eaab506a740f6565cc117228cbf1dd70635cfa8ddfdc9af734756"
        );
        let k = m.child(b"SLIP-0021").child(b"Master encryption key");
        assert_eq!(
            hex::encode(k.key()),
            "ea163130e35bbafdf5ddee97a17b39cef2be4b4f390180d65b54cf05c6a82fde"
        );
    }

    #[test]
    fn invalid_parts_are_refused() {
        assert_eq!(
            EcNode::from_parts(HdCurve::Secp256k1, &[0; 32], &[1; 32]).unwrap_err(),
            Error::InvalidKey
        );
        assert_eq!(
            EcNode::from_parts(HdCurve::Nist256p1, &[0xFF; 32], &[1; 32]).unwrap_err(),
            Error::InvalidKey
        );
    }
}
