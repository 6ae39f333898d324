//! Secrets at rest (DESIGN §4).
//!
//! * `kbase = HKDF(salt = SHA-256(serial), IKM = device root secret, "pico-hsm/root/v1")`.
//! * A PIN gives `kpin = HMAC(kbase, reference ‖ PIN)`, from which come the verifier
//!   (`HKDF(kpin, "pin/verify")`) and the key that seals the MKEK's PIN share
//!   (`HKDF(kpin, "pin/wrap")`; `MKEK = PIN share ⊕ device share`, `extras.rs`).
//! * The MKEK (32 random bytes per initialization) seals key material:
//!   `HKDF(kbase ‖ MKEK, "key")`. Objects that must be usable without a PIN (the device key) are
//!   sealed under `HKDF(kbase, "device")`. The device issuer's key, which certifies the device key
//!   in C_DevAut out of the box, is `HKDF(kbase, "device-issuer/v1" ‖ counter)` (`identity.rs`).
//! * Every sealed object is `01 ‖ nonce(12) ‖ ChaCha20-Poly1305(ciphertext ‖ tag)` with the file id
//!   and the serial hash as associated data, so a record cannot be moved to another file or device.
//!   A record may bind more associated data kept in the clear beside it ([`DeviceKeys::seal_bound`]:
//!   a key's metadata, `keys.rs`).

use alloc::vec::Vec;

use hsm_crypto::aead;
use hsm_crypto::hash::{hkdf_sha256, hmac_sha256, sha256};
use zeroize::Zeroizing;

/// Format byte of sealed records.
const SEALED_V1: u8 = 0x01;
/// Length of a sealed record's overhead: format byte, nonce, tag.
pub const SEALED_OVERHEAD: usize = 1 + aead::NONCE_LEN + aead::TAG_LEN;

/// A 32-byte secret key that zeroizes on drop.
pub type Key32 = Zeroizing<[u8; 32]>;

/// Device-bound key material derived once per card start.
pub struct DeviceKeys {
    kbase: Key32,
    serial_hash: [u8; 32],
}

impl DeviceKeys {
    /// Derives the device base key from the root secret and the serial.
    pub fn derive(root: &[u8; 32], serial: &[u8; 8]) -> Self {
        let serial_hash = sha256(&[serial]);
        let mut kbase = Zeroizing::new([0u8; 32]);
        hkdf_sha256(&serial_hash, root, b"pico-hsm/root/v1", &mut kbase[..]);
        DeviceKeys { kbase, serial_hash }
    }

    fn derive_key(&self, ikm: &[u8], info: &[u8]) -> Key32 {
        let mut k = Zeroizing::new([0u8; 32]);
        hkdf_sha256(&self.serial_hash, ikm, info, &mut k[..]);
        k
    }

    /// The verifier and the wrapping key of PIN `pin` for reference `reference` (81 or 88).
    pub fn pin_keys(&self, reference: u8, pin: &[u8]) -> (Key32, Key32) {
        let kpin = Zeroizing::new(hmac_sha256(&self.kbase[..], &[&[reference], pin]));
        (
            self.derive_key(&kpin[..], b"pin/verify"),
            self.derive_key(&kpin[..], b"pin/wrap"),
        )
    }

    /// The key sealing objects under the MKEK.
    pub fn mkek_sealing_key(&self, mkek: &[u8; 32]) -> Key32 {
        let mut ikm = Zeroizing::new(Vec::with_capacity(64));
        ikm.extend_from_slice(&self.kbase[..]);
        ikm.extend_from_slice(mkek);
        self.derive_key(&ikm, b"key")
    }

    /// The check value of a secure-lock host secret (`extras.rs`): shows that a secret is the one
    /// the lock was set with, and nothing about it.
    pub fn lock_check(&self, secret: &[u8; 32]) -> Key32 {
        self.derive_key(secret, b"secure-lock/check")
    }

    /// The key sealing objects under the device root only.
    pub fn device_sealing_key(&self) -> Key32 {
        self.derive_key(&self.kbase[..], b"device")
    }

    /// Candidate `counter` for the private scalar of the device issuer (`identity.rs`):
    /// `HKDF(kbase, "device-issuer/v1" ‖ counter)`. Derived, never stored.
    pub fn issuer_seed(&self, counter: u8) -> Key32 {
        let mut info = *b"device-issuer/v1\0";
        if let Some(last) = info.last_mut() {
            *last = counter;
        }
        self.derive_key(&self.kbase[..], &info)
    }

    /// Associated data of a record of file `fid`: the FID, the serial hash, then `bound`.
    fn aad(&self, fid: u16, bound: &[u8]) -> Vec<u8> {
        let mut aad = Vec::with_capacity(34 + bound.len());
        aad.extend_from_slice(&fid.to_be_bytes());
        aad.extend_from_slice(&self.serial_hash);
        aad.extend_from_slice(bound);
        aad
    }

    /// Seals `plaintext` for file `fid` under `key` with a fresh `nonce`.
    pub fn seal(&self, key: &[u8; 32], fid: u16, nonce: &[u8; aead::NONCE_LEN], plaintext: &[u8]) -> Vec<u8> {
        self.seal_bound(key, fid, nonce, &[], plaintext)
    }

    /// [`DeviceKeys::seal`] that also binds `bound`, which the caller stores in the clear: the
    /// record opens only with exactly those bytes ([`DeviceKeys::open_bound`]).
    pub fn seal_bound(
        &self,
        key: &[u8; 32],
        fid: u16,
        nonce: &[u8; aead::NONCE_LEN],
        bound: &[u8],
        plaintext: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(plaintext.len() + SEALED_OVERHEAD);
        out.push(SEALED_V1);
        out.extend_from_slice(nonce);
        out.extend_from_slice(&aead::seal(key, nonce, &self.aad(fid, bound), plaintext));
        out
    }

    /// Opens a record sealed by [`DeviceKeys::seal`]; `None` if it was tampered with, moved, or the key is wrong.
    pub fn open(&self, key: &[u8; 32], fid: u16, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        self.open_bound(key, fid, &[], sealed)
    }

    /// Opens a record sealed by [`DeviceKeys::seal_bound`] with `bound`.
    pub fn open_bound(&self, key: &[u8; 32], fid: u16, bound: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let (nonce, ct) = split_sealed(sealed)?;
        aead::open(key, nonce, &self.aad(fid, bound), ct)
    }
}

/// The nonce and the ciphertext (with its tag) of a sealed record; `None` if it is not one.
pub fn split_sealed(sealed: &[u8]) -> Option<(&[u8; aead::NONCE_LEN], &[u8])> {
    let (&format, rest) = sealed.split_first()?;
    if format != SEALED_V1 || rest.len() < aead::NONCE_LEN + aead::TAG_LEN {
        return None;
    }
    let (nonce, ct) = rest.split_first_chunk::<{ aead::NONCE_LEN }>()?;
    Some((nonce, ct))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_records_are_bound_to_file_and_device() {
        let dk = DeviceKeys::derive(&[1; 32], &[2; 8]);
        let other = DeviceKeys::derive(&[1; 32], &[3; 8]);
        let key = dk.device_sealing_key();
        let sealed = dk.seal(&key, 0xCC00, &[9; 12], b"secret");
        assert_eq!(&dk.open(&key, 0xCC00, &sealed).unwrap()[..], b"secret");
        assert!(dk.open(&key, 0xCC01, &sealed).is_none(), "moved to another file");
        assert!(
            other.open(&other.device_sealing_key(), 0xCC00, &sealed).is_none(),
            "other device"
        );
        assert!(dk.open(&key, 0xCC00, &sealed[..10]).is_none(), "truncated");
        let bound = dk.seal_bound(&key, 0xCC00, &[9; 12], b"policy", b"secret");
        assert_eq!(&dk.open_bound(&key, 0xCC00, b"policy", &bound).unwrap()[..], b"secret");
        assert!(
            dk.open_bound(&key, 0xCC00, b"polica", &bound).is_none(),
            "bound data edited"
        );
        assert!(dk.open(&key, 0xCC00, &bound).is_none(), "bound data dropped");
    }

    #[test]
    fn pin_keys_depend_on_reference_and_pin() {
        let dk = DeviceKeys::derive(&[1; 32], &[2; 8]);
        let (v1, w1) = dk.pin_keys(0x81, b"648219");
        let (v2, _) = dk.pin_keys(0x88, b"648219");
        let (v3, _) = dk.pin_keys(0x81, b"648218");
        assert_ne!(v1, v2);
        assert_ne!(v1, v3);
        assert_ne!(v1, w1);
    }
}
