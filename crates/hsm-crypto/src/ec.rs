//! NIST P-256: key generation and ECDSA with SHA-256, for the device key (reference §6.5, §8.1).

use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{Signature, SigningKey};
use rand_core::TryCryptoRng;
use zeroize::Zeroizing;

use crate::hash::sha256;

/// A P-256 private scalar (big-endian) that zeroizes on drop.
pub type P256Secret = Zeroizing<[u8; 32]>;

/// Generates a key pair; returns the private scalar and the uncompressed public point (`04 X Y`).
pub fn p256_generate<R: TryCryptoRng + ?Sized>(rng: &mut R) -> Result<(P256Secret, [u8; 65]), R::Error> {
    loop {
        let mut candidate = Zeroizing::new([0u8; 32]);
        rng.try_fill_bytes(&mut candidate[..])?;
        if let Ok(sk) = SigningKey::from_slice(&candidate[..]) {
            let public = public_of(&sk);
            return Ok((candidate, public));
        }
    }
}

/// The uncompressed public point of a private scalar, or `None` if the scalar is invalid.
pub fn p256_public(secret: &[u8; 32]) -> Option<[u8; 65]> {
    SigningKey::from_slice(secret).ok().map(|sk| public_of(&sk))
}

/// ECDSA-SHA-256 signature of `message` as raw `r ‖ s` (RFC 6979 deterministic nonce).
pub fn p256_sign_sha256(secret: &[u8; 32], message: &[u8]) -> Option<[u8; 64]> {
    let sk = SigningKey::from_slice(secret).ok()?;
    let digest = sha256(&[message]);
    let sig: Signature = sk.sign_prehash(&digest).ok()?;
    Some(sig.to_bytes().into())
}

fn public_of(sk: &SigningKey) -> [u8; 65] {
    let point = sk.verifying_key().to_sec1_point(false);
    let mut out = [0u8; 65];
    if point.as_bytes().len() == 65 {
        out.copy_from_slice(point.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::hazmat::PrehashVerifier;

    #[test]
    fn sign_verifies() {
        let secret: [u8; 32] = hex::decode("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721")
            .unwrap()
            .try_into()
            .unwrap();
        let public = p256_public(&secret).unwrap();
        assert_eq!(
            hex::encode(&public[1..33]),
            "60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"
        );
        let sig = p256_sign_sha256(&secret, b"sample").unwrap();
        // RFC 6979 A.2.5, SHA-256, message "sample".
        assert_eq!(
            hex::encode(sig),
            "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716\
             f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"
        );
        let vk = VerifyingKey::from_sec1_bytes(&public).unwrap();
        let s = Signature::from_slice(&sig).unwrap();
        vk.verify_prehash(&sha256(&[b"sample"]), &s).unwrap();
        assert!(p256_public(&[0u8; 32]).is_none());
    }
}
