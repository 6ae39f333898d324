//! Ed25519 and Ed448 (pure EdDSA, RFC 8032) and X25519 and X448 (RFC 7748).
//!
//! Private keys are stored as upstream's mbedTLS writes them (reference §6.4): the 32/57-byte
//! RFC 8032 seed for Ed25519/Ed448 and the 32/56-byte little-endian RFC 7748 scalar for
//! X25519/X448 (clamping happens when it is used, as RFC 7748 specifies).

use alloc::vec::Vec;

use ed25519_dalek::{Signer as _, Verifier as _};
use rand_core::TryCryptoRng;
use zeroize::Zeroizing;

use super::{Curve, CurveKind, Error};

fn array<const N: usize>(bytes: &[u8], err: Error) -> Result<Zeroizing<[u8; N]>, Error> {
    let mut out = Zeroizing::new([0u8; N]);
    if bytes.len() != N {
        return Err(err);
    }
    out.copy_from_slice(bytes);
    Ok(out)
}

pub(super) fn generate<R: TryCryptoRng + ?Sized>(curve: Curve, rng: &mut R) -> Result<Zeroizing<Vec<u8>>, Error> {
    if curve.kind() == CurveKind::Weierstrass {
        return Err(Error::UnsupportedOperation);
    }
    let mut secret = Zeroizing::new(alloc::vec![0u8; curve.private_key_len()]);
    rng.try_fill_bytes(&mut secret).map_err(|_| Error::Rng)?;
    if curve == Curve::X25519 || curve == Curve::X448 {
        clamp(curve, &mut secret);
    }
    Ok(secret)
}

/// RFC 7748 §5 clamping, applied at generation so the stored scalar equals the one mbedTLS
/// generates (`mbedtls_ecp_gen_privkey_mx`).
fn clamp(curve: Curve, s: &mut [u8]) {
    let last = s.len() - 1;
    match curve {
        Curve::X25519 => {
            s[0] &= 0xf8;
            s[last] &= 0x7f;
            s[last] |= 0x40;
        }
        _ => {
            s[0] &= 0xfc;
            s[last] |= 0x80;
        }
    }
}

pub(super) fn import(curve: Curve, bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    if curve.kind() == CurveKind::Weierstrass || bytes.len() != curve.private_key_len() {
        return Err(Error::InvalidKey);
    }
    Ok(Zeroizing::new(bytes.to_vec()))
}

pub(super) fn public(curve: Curve, secret: &[u8]) -> Result<Vec<u8>, Error> {
    match curve {
        Curve::Ed25519 => {
            let seed = array::<32>(secret, Error::InvalidKey)?;
            Ok(ed25519_dalek::SigningKey::from_bytes(&seed)
                .verifying_key()
                .to_bytes()
                .to_vec())
        }
        Curve::Ed448 => {
            let sk = ed448_goldilocks::SigningKey::try_from(secret).map_err(|_| Error::InvalidKey)?;
            Ok(sk.verifying_key().to_bytes().to_vec())
        }
        Curve::X25519 => {
            let k = array::<32>(secret, Error::InvalidKey)?;
            Ok(x25519_dalek::x25519(*k, x25519_dalek::X25519_BASEPOINT_BYTES).to_vec())
        }
        Curve::X448 => {
            let k = array::<56>(secret, Error::InvalidKey)?;
            Ok(x448::x448_unchecked(*k, x448::X448_BASEPOINT_BYTES).to_vec())
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

pub(super) fn validate_public(curve: Curve, public: &[u8]) -> Result<(), Error> {
    match curve {
        Curve::Ed25519 => {
            let bytes = array::<32>(public, Error::InvalidPoint)?;
            ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .map(|_| ())
                .map_err(|_| Error::InvalidPoint)
        }
        Curve::Ed448 => ed448_verifying_key(public).map(|_| ()),
        Curve::X25519 => {
            let u = array::<32>(public, Error::InvalidPoint)?;
            // A low-order u yields the all-zero output for every (clamped) scalar.
            let probe = x25519_dalek::x25519([0x40; 32], *u);
            if probe == [0u8; 32] {
                Err(Error::InvalidPoint)
            } else {
                Ok(())
            }
        }
        Curve::X448 => x448::PublicKey::from_bytes(public)
            .map(|_| ())
            .ok_or(Error::InvalidPoint),
        _ => Err(Error::UnsupportedOperation),
    }
}

fn ed448_verifying_key(public: &[u8]) -> Result<ed448_goldilocks::VerifyingKey, Error> {
    if public.get(56).is_none_or(|b| b & 0x7f != 0) {
        return Err(Error::InvalidPoint);
    }
    let bytes = array::<57>(public, Error::InvalidPoint)?;
    ed448_goldilocks::VerifyingKey::from_bytes(&bytes).map_err(|_| Error::InvalidPoint)
}

pub(super) fn sign(curve: Curve, secret: &[u8], msg: &[u8]) -> Result<Vec<u8>, Error> {
    match curve {
        Curve::Ed25519 => {
            let seed = array::<32>(secret, Error::InvalidKey)?;
            let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
            Ok(sk.sign(msg).to_bytes().to_vec())
        }
        Curve::Ed448 => {
            let sk = ed448_goldilocks::SigningKey::try_from(secret).map_err(|_| Error::InvalidKey)?;
            Ok(sk.sign_raw(msg).to_bytes().to_vec())
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

pub(super) fn verify(curve: Curve, public: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), Error> {
    match curve {
        Curve::Ed25519 => {
            let bytes = array::<32>(public, Error::InvalidPoint)?;
            let vk = ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| Error::InvalidPoint)?;
            let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| Error::InvalidSignature)?;
            vk.verify(msg, &sig).map_err(|_| Error::InvalidSignature)
        }
        Curve::Ed448 => {
            // RFC 8032 §5.2.2: bits 448–454 of an encoded point are zero. `ed448-goldilocks`
            // ignores them in R (Wycheproof ed448 tc 63–65), so check R here.
            if sig.get(56).is_none_or(|b| b & 0x7f != 0) {
                return Err(Error::InvalidSignature);
            }
            let vk = ed448_verifying_key(public)?;
            let sig = ed448_goldilocks::Signature::from_slice(sig).map_err(|_| Error::InvalidSignature)?;
            vk.verify_raw(&sig, msg).map_err(|_| Error::InvalidSignature)
        }
        _ => Err(Error::UnsupportedOperation),
    }
}

/// X25519 / X448 with a rejection of low-order peers and of an all-zero shared secret
/// (RFC 7748 §6.1 "check for the all-zero value").
pub(super) fn xdh(curve: Curve, secret: &[u8], peer: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    let out = match curve {
        Curve::X25519 => {
            let k = array::<32>(secret, Error::InvalidKey)?;
            let u = array::<32>(peer, Error::InvalidPoint)?;
            Zeroizing::new(x25519_dalek::x25519(*k, *u).to_vec())
        }
        Curve::X448 => {
            let k = array::<56>(secret, Error::InvalidKey)?;
            let u = array::<56>(peer, Error::InvalidPoint)?;
            Zeroizing::new(x448::x448(*k, *u).ok_or(Error::InvalidPoint)?.to_vec())
        }
        _ => return Err(Error::UnsupportedOperation),
    };
    if crate::ct_eq(&out, &alloc::vec![0u8; out.len()]) {
        return Err(Error::InvalidPoint);
    }
    Ok(out)
}
