//! ChaCha20-Poly1305 (RFC 8439) sealing of secrets at rest.
//!
//! Chosen over AES-GCM because it is fast and constant-time in software on the Cortex-M0+ (RP2040),
//! which has no AES instructions.

use alloc::vec::Vec;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
use zeroize::Zeroizing;

/// Key length in bytes.
pub const KEY_LEN: usize = 32;
/// Nonce length in bytes.
pub const NONCE_LEN: usize = 12;
/// Authentication tag length in bytes.
pub const TAG_LEN: usize = 16;

/// Encrypts and authenticates `plaintext` with associated data `aad`; returns ciphertext ‖ tag.
pub fn seal(key: &[u8; KEY_LEN], nonce: &[u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = ChaCha20Poly1305::new(key.into());
    // Encryption only fails for messages longer than 256 GiB.
    cipher
        .encrypt(nonce.into(), Payload { msg: plaintext, aad })
        .unwrap_or_default()
}

/// Verifies and decrypts ciphertext ‖ tag; `None` when anything was tampered with.
pub fn open(key: &[u8; KEY_LEN], nonce: &[u8; NONCE_LEN], aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let cipher = ChaCha20Poly1305::new(key.into());
    cipher
        .decrypt(nonce.into(), Payload { msg: sealed, aad })
        .ok()
        .map(Zeroizing::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8439_2_8_2() {
        let key: [u8; 32] = hex::decode("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
            .unwrap()
            .try_into()
            .unwrap();
        let nonce: [u8; 12] = hex::decode("070000004041424344454647").unwrap().try_into().unwrap();
        let aad = hex::decode("50515253c0c1c2c3c4c5c6c7").unwrap();
        let pt = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let ct = seal(&key, &nonce, &aad, pt);
        assert_eq!(hex::encode(&ct[ct.len() - 16..]), "1ae10b594f09e26a7e902ecbd0600691");
        assert_eq!(&open(&key, &nonce, &aad, &ct).unwrap()[..], &pt[..]);
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert!(open(&key, &nonce, &aad, &bad).is_none());
        assert!(open(&key, &nonce, b"other", &ct).is_none());
    }
}
