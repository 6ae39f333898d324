//! The device's out-of-the-box certificate chain in C_DevAut (2F02) (reference §8.2; DESIGN §5).
//!
//! Upstream writes a self-signed device certificate and expects the vendor's web PKI to replace it.
//! Here 2F02 holds, out of the box, `device certificate ‖ issuer certificate`, the two-certificate
//! chain OpenSC's `sc-hsm-tool --export-for-pub-key-auth` needs:
//!
//! * the **device issuer** key is a P-256 key derived from the device root key
//!   ([`DeviceKeys::issuer_seed`](crate::secrets::DeviceKeys::issuer_seed)): never stored, never
//!   exported, zeroized after each use. Its certificate is self-signed, CAR = CHR =
//!   [`issuer_name`] (the device name with sequence `DICA1`);
//! * the **device certificate** certifies the device key (CHR = [`device_name`](crate::device_name),
//!   unchanged) with CAR = the issuer's CHR, signed by the issuer key.
//!
//! The issuer proves nothing more than the device key's own self-signature did (both keys live in
//! the same device); what gives attestation a meaning is a chain from a CA the verifier trusts,
//! uploaded by the rescue applet (INS 10 P1 03: `pico-hsm-tool ca issue`, or an upstream chain).
//! INITIALIZE never replaces such a chain; it only upgrades the single self-signed certificate
//! that earlier versions of this firmware wrote ([`is_legacy_self_signed`]).

use alloc::vec::Vec;

use hsm_apdu::Status;
use zeroize::Zeroizing;

use crate::secrets::DeviceKeys;
use crate::{App, Platform, cvc};

/// Sequence number (last 5 characters) of the device issuer's CHR.
const ISSUER_SEQUENCE: &[u8; 5] = b"DICA1";

/// The CHR of the device issuer of the device named `device`: its first 11 characters (country code
/// and the unique part) and the sequence `DICA1`.
pub fn issuer_name(device: &[u8; 16]) -> [u8; 16] {
    let mut name = *device;
    for (slot, c) in name.iter_mut().skip(11).zip(ISSUER_SEQUENCE) {
        *slot = *c;
    }
    name
}

/// The device issuer's private scalar, derived from the device root key (the first candidate
/// that is a valid P-256 scalar).
fn issuer_secret(keys: &DeviceKeys) -> Result<Zeroizing<[u8; 32]>, Status> {
    for counter in 0..=u8::MAX {
        let candidate = keys.issuer_seed(counter);
        if hsm_crypto::ec::p256_public(&candidate).is_some() {
            return Ok(candidate);
        }
    }
    Err(Status::ExecutionError)
}

/// Whether C_DevAut content `chain` is one self-signed certificate (CAR = CHR): what earlier
/// versions wrote, which INITIALIZE upgrades to the out-of-the-box chain. Anything else (a chain,
/// a certificate issued by another CA) was uploaded and is kept.
pub fn is_legacy_self_signed(chain: &[u8]) -> bool {
    cvc::Certificate::parse(chain).is_ok_and(|c| c.car == Some(c.chr))
}

impl<P: Platform> App<P> {
    /// `device certificate ‖ issuer certificate` for the device key `public` named `name`.
    pub(crate) fn default_chain(&self, public: &[u8; 65], name: &[u8; 16]) -> Result<Vec<u8>, Status> {
        let secret = issuer_secret(&self.keys)?;
        let issuer_public = hsm_crypto::ec::p256_public(&secret).ok_or(Status::ExecutionError)?;
        let issuer = issuer_name(name);
        let sign = |msg: &[u8]| hsm_crypto::ec::p256_sign_sha256(&secret, msg).ok_or(Status::ExecutionError);

        let issuer_body = cvc::body(&issuer, &cvc::p256_public_key(&issuer_public), &issuer, true);
        let issuer_cert = cvc::certificate(&issuer_body, &sign(&issuer_body)?);
        let device_body = cvc::body(&issuer, &cvc::p256_public_key(public), name, true);
        let mut chain = cvc::certificate(&device_body, &sign(&device_body)?);
        chain.extend_from_slice(&issuer_cert);
        Ok(chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_name_keeps_the_unique_part() {
        assert_eq!(&issuer_name(b"ESABCDEFGHI00001"), b"ESABCDEFGHIDICA1");
    }

    #[test]
    fn issuer_keys_differ_per_device() {
        let a = issuer_secret(&DeviceKeys::derive(&[1; 32], &[2; 8])).unwrap();
        let b = issuer_secret(&DeviceKeys::derive(&[1; 32], &[3; 8])).unwrap();
        let a2 = issuer_secret(&DeviceKeys::derive(&[1; 32], &[2; 8])).unwrap();
        assert_ne!(a, b);
        assert_eq!(a, a2, "derived, so stable across restarts and INITIALIZE");
    }

    #[test]
    fn legacy_detection() {
        let pk = cvc::p256_public_key(&[4; 65]);
        let self_signed = cvc::certificate(&cvc::body(b"ESX00001", &pk, b"ESX00001", true), &[1; 64]);
        let issued = cvc::certificate(&cvc::body(b"ESCA00001", &pk, b"ESX00001", true), &[1; 64]);
        assert!(is_legacy_self_signed(&self_signed));
        assert!(!is_legacy_self_signed(&issued));
        let mut chain = self_signed.clone();
        chain.extend_from_slice(&self_signed);
        assert!(!is_legacy_self_signed(&chain));
        assert!(!is_legacy_self_signed(b""));
        assert!(!is_legacy_self_signed(&[0x7F, 0x21, 0x05]));
    }
}
