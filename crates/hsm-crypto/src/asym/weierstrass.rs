//! ECDSA, ECDH and additive derivation on the Weierstrass curves.
//!
//! The RustCrypto curves share one generic implementation over `elliptic_curve` traits; the two
//! curves without a crate (brainpoolP512r1, secp192k1) go to [`super::generic`].

use alloc::vec::Vec;

use ecdsa::hazmat::{sign_prehashed_rfc6979, verify_prehashed};
use ecdsa::{EcdsaCurve, Signature};
use elliptic_curve::array::Array;
use elliptic_curve::ff::PrimeField;
use elliptic_curve::ops::Reduce;
use elliptic_curve::sec1::{FromSec1Point, ModulusSize, ToSec1Point};
use elliptic_curve::{AffinePoint, CurveArithmetic, FieldBytes, FieldBytesSize, NonZeroScalar, PublicKey, Scalar};
use rand_core::TryCryptoRng;
use zeroize::Zeroizing;

use super::{Curve, Error, generic};

/// Runs `$f::<C>($args)` with `C` the RustCrypto type of `$curve`, or `$generic` for the curves
/// implemented in [`generic`].
macro_rules! dispatch {
    ($curve:expr, $f:ident($($arg:expr),*), $generic:expr) => {
        match $curve {
            Curve::Secp192r1 => $f::<p192::NistP192>($($arg),*),
            Curve::Secp224r1 => $f::<p224::NistP224>($($arg),*),
            Curve::Secp256r1 => $f::<p256::NistP256>($($arg),*),
            Curve::Secp384r1 => $f::<p384::NistP384>($($arg),*),
            Curve::Secp521r1 => $f::<p521::NistP521>($($arg),*),
            Curve::BrainpoolP256r1 => $f::<bp256::BrainpoolP256r1>($($arg),*),
            Curve::BrainpoolP384r1 => $f::<bp384::BrainpoolP384r1>($($arg),*),
            Curve::Secp256k1 => $f::<k256::Secp256k1>($($arg),*),
            Curve::BrainpoolP512r1 | Curve::Secp192k1 => $generic,
            Curve::Ed25519 | Curve::Ed448 | Curve::X25519 | Curve::X448 => Err(Error::UnsupportedOperation),
        }
    };
}

/// The bounds every RustCrypto curve we use satisfies.
pub(crate) trait RcCurve: EcdsaCurve + CurveArithmetic
where
    AffinePoint<Self>: FromSec1Point<Self> + ToSec1Point<Self>,
    FieldBytesSize<Self>: ModulusSize,
{
}

impl<C> RcCurve for C
where
    C: EcdsaCurve + CurveArithmetic,
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
}

/// Left-pads a big-endian integer to `len` bytes; `None` if it has more significant bytes.
pub(crate) fn left_pad(bytes: &[u8], len: usize) -> Option<Zeroizing<Vec<u8>>> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let digits = bytes.get(start..)?;
    if digits.len() > len {
        return None;
    }
    let mut out = Zeroizing::new(alloc::vec![0u8; len]);
    out.get_mut(len - digits.len()..)?.copy_from_slice(digits);
    Some(out)
}

fn scalar_of<C: RcCurve>(secret: &[u8]) -> Result<NonZeroScalar<C>, Error>
where
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    let bytes = FieldBytes::<C>::try_from(secret).map_err(|_| Error::InvalidKey)?;
    NonZeroScalar::<C>::from_repr(bytes)
        .into_option()
        .ok_or(Error::InvalidKey)
}

fn point_of<C: RcCurve>(public: &[u8]) -> Result<PublicKey<C>, Error>
where
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    PublicKey::<C>::from_sec1_bytes(public).map_err(|_| Error::InvalidPoint)
}

fn encode<C: RcCurve>(point: &AffinePoint<C>) -> Vec<u8>
where
    AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
    FieldBytesSize<C>: ModulusSize,
{
    point.to_sec1_point(false).as_bytes().to_vec()
}

/// Rejection sampling of an order-length scalar in `1..n` (the excess top bits are cleared, so
/// at least half the candidates are accepted).
pub(super) fn generate<R: TryCryptoRng + ?Sized>(curve: Curve, rng: &mut R) -> Result<Zeroizing<Vec<u8>>, Error> {
    let bits = curve.order_bits();
    let len = bits.div_ceil(8);
    for _ in 0..128 {
        let mut d = Zeroizing::new(alloc::vec![0u8; len]);
        rng.try_fill_bytes(&mut d).map_err(|_| Error::Rng)?;
        if let Some(top) = d.first_mut() {
            *top &= 0xff >> (8 * len - bits);
        }
        if let Ok(d) = import(curve, &d) {
            return Ok(d);
        }
    }
    Err(Error::Rng)
}

pub(super) fn import(curve: Curve, bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    let len = curve.order_bits().div_ceil(8);
    let secret = left_pad(bytes, len).ok_or(Error::InvalidKey)?;
    fn rc<C: RcCurve>(secret: &[u8]) -> Result<(), Error>
    where
        AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
        FieldBytesSize<C>: ModulusSize,
    {
        scalar_of::<C>(secret).map(|_| ())
    }
    dispatch!(curve, rc(&secret), generic::for_curve(curve)?.check_scalar(&secret))?;
    Ok(secret)
}

pub(super) fn public(curve: Curve, secret: &[u8]) -> Result<Vec<u8>, Error> {
    fn rc<C: RcCurve>(secret: &[u8]) -> Result<Vec<u8>, Error>
    where
        AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
        FieldBytesSize<C>: ModulusSize,
    {
        let d = scalar_of::<C>(secret)?;
        Ok(encode::<C>(PublicKey::<C>::from_secret_scalar(&d).as_affine()))
    }
    #[cfg(any(feature = "table-p256-flash", target_pointer_width = "64"))]
    if curve == Curve::Secp256r1 {
        let d = scalar_of::<p256::NistP256>(secret)?;
        return Ok(encode::<p256::NistP256>(&super::p256_comb::mul_by_generator(&d)?));
    }
    dispatch!(curve, rc(secret), generic::for_curve(curve)?.public(secret))
}

pub(super) fn validate_public(curve: Curve, public: &[u8]) -> Result<(), Error> {
    fn rc<C: RcCurve>(public: &[u8]) -> Result<(), Error>
    where
        AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
        FieldBytesSize<C>: ModulusSize,
    {
        point_of::<C>(public).map(|_| ())
    }
    dispatch!(
        curve,
        rc(public),
        generic::for_curve(curve)?.decode_point(public).map(|_| ())
    )
}

/// Raw `r ‖ s`; `extra` is the RFC 6979 additional input (hedged signatures).
pub(super) fn sign(curve: Curve, secret: &[u8], hash: &[u8], extra: &[u8]) -> Result<Vec<u8>, Error> {
    #[cfg(any(feature = "table-p256-flash", target_pointer_width = "64"))]
    if curve == Curve::Secp256r1 {
        return super::p256_comb::sign(&scalar_of::<p256::NistP256>(secret)?, hash, extra);
    }
    fn rc<C: RcCurve>(secret: &[u8], hash: &[u8], extra: &[u8]) -> Result<Vec<u8>, Error>
    where
        AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
        FieldBytesSize<C>: ModulusSize,
    {
        let d = scalar_of::<C>(secret)?;
        // bits2int truncation to the order's bit length happens inside (ecdsa `bytes2scalar`).
        let (sig, _) = super::with_nonce_hash!(<FieldBytesSize<C> as elliptic_curve::array::typenum::Unsigned>::USIZE, D => {
            sign_prehashed_rfc6979::<C, D>(&d, hash, extra)
        });
        Ok(sig.to_bytes().to_vec())
    }
    dispatch!(
        curve,
        rc(secret, hash, extra),
        generic::for_curve(curve)?.sign(secret, hash, extra)
    )
}

pub(super) fn verify(curve: Curve, public: &[u8], hash: &[u8], rs: &[u8]) -> Result<(), Error> {
    fn rc<C: RcCurve>(public: &[u8], hash: &[u8], rs: &[u8]) -> Result<(), Error>
    where
        AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
        FieldBytesSize<C>: ModulusSize,
    {
        let q = point_of::<C>(public)?;
        let sig = Signature::<C>::from_slice(rs).map_err(|_| Error::InvalidSignature)?;
        // (r, s) and (r, n − s) are both valid ECDSA; curves that insist on low s (secp256k1)
        // would otherwise reject the high form other signers produce.
        let sig = sig.normalize_s();
        verify_prehashed::<C>(&q.to_projective(), hash, &sig).map_err(|_| Error::InvalidSignature)
    }
    dispatch!(
        curve,
        rc(public, hash, rs),
        generic::for_curve(curve)?.verify(public, hash, rs)
    )
}

pub(super) fn ecdh(curve: Curve, secret: &[u8], peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    fn rc<C: RcCurve>(secret: &[u8], peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error>
    where
        AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
        FieldBytesSize<C>: ModulusSize,
    {
        use elliptic_curve::group::Curve as _;
        let d = scalar_of::<C>(secret)?;
        let q = point_of::<C>(peer)?;
        // Prime-order curves: a valid non-identity point times a non-zero scalar is never the
        // identity, so the encoding is always the full `04 ‖ X ‖ Y`.
        let shared = (q.to_projective() * *d).to_affine();
        let out = Zeroizing::new(encode::<C>(&shared));
        if out.len() == 1 { Err(Error::Internal) } else { Ok(out) }
    }
    #[cfg(any(feature = "table-p256-flash", target_pointer_width = "64"))]
    if curve == Curve::Secp256r1 {
        let d = scalar_of::<p256::NistP256>(secret)?;
        let q = point_of::<p256::NistP256>(peer)?;
        return super::p256_comb::ecdh(&d, q.as_affine());
    }
    dispatch!(curve, rc(secret, peer), generic::for_curve(curve)?.ecdh(secret, peer))
}

pub(super) fn add_scalar(curve: Curve, secret: &[u8], tweak: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    fn rc<C: RcCurve>(secret: &[u8], tweak: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error>
    where
        AffinePoint<C>: FromSec1Point<C> + ToSec1Point<C>,
        FieldBytesSize<C>: ModulusSize,
    {
        let d = scalar_of::<C>(secret)?;
        let len = FieldBytes::<C>::default().len();
        let t = left_pad(tweak, len).ok_or(Error::InvalidInput)?;
        let t: FieldBytes<C> = Array::try_from(&t[..]).map_err(|_| Error::InvalidInput)?;
        let t = <Scalar<C> as Reduce<FieldBytes<C>>>::reduce(&t);
        let sum = NonZeroScalar::<C>::new(*d + t).into_option().ok_or(Error::InvalidKey)?;
        Ok(Zeroizing::new(Vec::from(&sum.to_repr()[..])))
    }
    dispatch!(
        curve,
        rc(secret, tweak),
        generic::for_curve(curve)?.add_scalar(secret, tweak)
    )
}
