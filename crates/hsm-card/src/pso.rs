//! The certificate trust store and PSO VERIFY CERTIFICATE (00 2A 00 92|AE|BE; reference §3.22,
//! §8.3).
//!
//! The trust store is what upstream's `reset_puk_store` builds at every SELECT: the certificates
//! of C_DevAut (2F02, in order) and then every `CAxx` file (xx 00..FD, ascending), at most
//! [`MAX_ENTRIES`] in all (more are ignored, as upstream). Here it is read from flash whenever a
//! command needs it, which gives the same contents: `CAxx` files persist, so certificates verified
//! once stay trusted across SELECT and restarts (as upstream) until INITIALIZE wipes them.
//!
//! PSO VERIFY CERTIFICATE checks a certificate with the issuer MSE SET DST (`83 CHR`, P2 B6)
//! selected, then stores it in the first free `CAxx` with a PKCS#15 certificate description in
//! `C8xx` (`asn1_build_cert_description`): label = CHR, flags `03 02 06 40`, id = SHA-1 of the
//! public key (EC: X coordinate; RSA: modulus), path = CAxx. Differences from upstream (docs/card.md):
//! every check happens before anything is written (upstream writes `CAxx` and then answers 6A84
//! when the store is full); the certificate's CAR must be the selected issuer's CHR (6984); a
//! certificate already trusted is not stored twice (9000; only a missing description is written
//! again); the index xx is the first where neither `CAxx` nor `C8xx` exists, so OpenSC's
//! descriptions of user certificates are never overwritten.
//!
//! A `CAxx` file is in the trust store only when PSO stored it: its index and SHA-256 are listed
//! in the internal file [`fid::TRUSTED_CAS`]. OpenSC stores X.509 CA certificates in `CAxx` with
//! UPDATE BINARY (`pkcs11-tool --write-object --type cert`), as on a genuine SmartCard-HSM; upstream
//! would trust a CV certificate written that way unchecked, here it stays an ordinary file. PSO writes
//! the list entry first, then `CAxx`, then `C8xx`: a power cut leaves at worst an entry without its
//! file (ignored) or a file without its entry (untrusted), never an unverified trusted certificate.

use alloc::vec::Vec;

use hsm_apdu::{CommandView, Status};
use hsm_crypto::asym::{Curve, CurveKind};
use hsm_crypto::hash::sha256;
use hsm_crypto::sym::Md;

use crate::cvc::{self, Certificate, CvcError};
use crate::files::{fid, prefix};
use crate::{App, Platform};

/// Entries of the trust store, C_DevAut's chain included (upstream `MAX_PUK_STORE_ENTRIES`).
pub const MAX_ENTRIES: usize = 4;
/// High byte of `CAxx`: CA certificates verified by PSO (reference §5.2).
pub const CA_PREFIX: u8 = 0xCA;
/// Last usable `CAxx` index (upstream loops `i < 0xfe`).
const LAST_CA: u8 = 0xFD;
/// One entry of [`fid::TRUSTED_CAS`]: index ‖ SHA-256.
const TRUSTED_ENTRY: usize = 33;

/// The certificates the card trusts (encoded `7F21` objects), in store order.
pub(crate) struct TrustStore {
    certs: Vec<Vec<u8>>,
}

impl TrustStore {
    /// The certificates, parsed.
    pub fn iter(&self) -> impl Iterator<Item = Certificate<'_>> {
        self.certs.iter().filter_map(|c| Certificate::parse(c).ok())
    }

    /// The certificate whose CHR is `chr`.
    pub fn find(&self, chr: &[u8]) -> Option<Certificate<'_>> {
        self.iter().find(|c| c.chr == chr)
    }

    /// Entries in the store.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Whether this exact certificate is in the store.
    pub fn contains(&self, encoded: &[u8]) -> bool {
        self.certs.iter().any(|c| c == encoded)
    }

    /// The EC domain of `cert`'s key, its own or inherited along the CAR chain in the store.
    pub fn domain(&self, cert: &Certificate<'_>) -> Result<Option<Curve>, CvcError> {
        cvc::inherited_domain(cert, |chr| self.find(chr))
    }
}

impl<P: Platform> App<P> {
    /// The trust store as upstream builds it at SELECT (module docs).
    pub(crate) fn trust_store(&mut self) -> Result<TrustStore, Status> {
        let mut certs = Vec::new();
        if let Some(chain) = self.read_file(fid::C_DEVAUT)? {
            // A chain that stops parsing contributes what came before (upstream walks the TLVs).
            for c in Certificate::parse_all(&chain).map_while(Result::ok) {
                if certs.len() < MAX_ENTRIES {
                    certs.push(c.encoded.to_vec());
                }
            }
        }
        let trusted = self.read_file(fid::TRUSTED_CAS)?.unwrap_or_default();
        let listed = |index: u8, cert: &[u8]| {
            let digest = sha256(&[cert]);
            trusted
                .chunks_exact(TRUSTED_ENTRY)
                .any(|e| e.first() == Some(&index) && e.get(1..) == Some(&digest[..]))
        };
        let mut cas: Vec<u16> = self
            .platform
            .store()
            .fids()
            .filter(|f| f >> 8 == u16::from(CA_PREFIX) && f & 0xFF <= u16::from(LAST_CA))
            .collect();
        cas.sort_unstable();
        for f in cas {
            if certs.len() >= MAX_ENTRIES {
                break;
            }
            let [_, index] = f.to_be_bytes();
            if let Some(c) = self.read_file(f)?
                && !c.is_empty()
                && listed(index, &c)
            {
                certs.push(c.to_vec());
            }
        }
        Ok(TrustStore { certs })
    }

    /// The device CHR: the CHR of the first certificate in C_DevAut (upstream `dev_name`).
    pub(crate) fn device_chr(&mut self) -> Result<Option<Vec<u8>>, Status> {
        let Some(chain) = self.read_file(fid::C_DEVAUT)? else {
            return Ok(None);
        };
        Ok(Certificate::parse_prefix(&chain).ok().map(|(c, _)| c.chr.to_vec()))
    }

    /// PSO VERIFY CERTIFICATE (00 2A 00 92|AE|BE).
    pub(crate) fn pso(&mut self, cmd: &CommandView<'_>) -> Result<(), Status> {
        if cmd.p1 != 0x00 || !matches!(cmd.p2, 0x92 | 0xAE | 0xBE) {
            return Err(Status::IncorrectP1P2);
        }
        if cmd.data.is_empty() {
            return Err(Status::WrongLength);
        }
        let Some(issuer_chr) = self.session.pso_issuer.clone() else {
            return Err(Status::ReferenceNotFound);
        };
        let store = self.trust_store()?;
        let issuer = store.find(&issuer_chr).ok_or(Status::ReferenceNotFound)?;
        // The device prepends `7F21 L` when the host sent the certificate's content only.
        let wrapped;
        let data = if cmd.data.starts_with(&[0x7F, 0x21]) {
            cmd.data
        } else {
            wrapped = cvc::tlv(0x7F21, cmd.data);
            &wrapped
        };
        let cert = Certificate::parse(data).map_err(CvcError::status)?;
        if cert.car != Some(issuer.chr) {
            return Err(Status::DataInvalid);
        }
        let issuer_domain = store.domain(&issuer).map_err(CvcError::status)?;
        cert.verify(&issuer.public_key, issuer_domain)
            .map_err(CvcError::status)?;
        // The key's identifier for the description: RSA modulus, or the EC point's X.
        let key_bytes = match cert.public_key.algorithm() {
            Some(cvc::Algorithm::RsaPkcs1v15(_) | cvc::Algorithm::RsaPss(_)) => {
                cert.public_key.rsa_components().ok_or(Status::WrongLength)?.0
            }
            Some(cvc::Algorithm::Ecdsa(_)) => {
                let domain = match cert.public_key.own_domain().map_err(CvcError::status)? {
                    Some(c) => Some(c),
                    None => issuer_domain,
                };
                let curve = domain.ok_or(Status::WrongLength)?;
                ec_x(cert.public_key.ec_point().ok_or(Status::WrongLength)?, curve).ok_or(Status::WrongLength)?
            }
            None => return Err(Status::DataInvalid),
        };
        if store.contains(cert.encoded) {
            // Already trusted: nothing to store, but a description lost to a power cut between
            // `CAxx` and `C8xx` (or deleted) is written again.
            for i in 0..=LAST_CA {
                let ca = u16::from_be_bytes([CA_PREFIX, i]);
                let cd = u16::from_be_bytes([prefix::CD, i]);
                let s = self.platform.store();
                if !s.contains(ca) || s.contains(cd) {
                    continue;
                }
                if self.read_file(ca)?.is_some_and(|v| v.as_slice() == cert.encoded) {
                    self.write_file(cd, &certificate_description(cert.chr, key_bytes, ca))?;
                }
            }
            return Ok(());
        }
        if store.len() >= MAX_ENTRIES {
            return Err(Status::NotEnoughMemory);
        }
        let index = (0..=LAST_CA)
            .find(|i| {
                let s = self.platform.store();
                !s.contains(u16::from_be_bytes([CA_PREFIX, *i])) && !s.contains(u16::from_be_bytes([prefix::CD, *i]))
            })
            .ok_or(Status::NotEnoughMemory)?;
        let ca = u16::from_be_bytes([CA_PREFIX, index]);
        let cd = certificate_description(cert.chr, key_bytes, ca);
        // The list entry first (module docs): without its file it vouches for nothing.
        let old = self.read_file(fid::TRUSTED_CAS)?.unwrap_or_default();
        // Entries of other indices whose files still exist; stale ones (a deleted `CAxx`, a cut
        // short PSO) go.
        let mut trusted: Vec<u8> = Vec::with_capacity(old.len() + TRUSTED_ENTRY);
        for e in old.chunks_exact(TRUSTED_ENTRY) {
            if let Some(&i) = e.first()
                && i != index
                && self.platform.store().contains(u16::from_be_bytes([CA_PREFIX, i]))
            {
                trusted.extend_from_slice(e);
            }
        }
        trusted.push(index);
        trusted.extend_from_slice(&sha256(&[cert.encoded]));
        self.write_file(fid::TRUSTED_CAS, &trusted)?;
        self.write_file(ca, cert.encoded)?;
        if let Err(e) = self.write_file(u16::from_be_bytes([prefix::CD, index]), &cd) {
            // Best effort: without its description the certificate is not stored either.
            let _ = self.platform.store().delete(ca);
            return Err(e);
        }
        Ok(())
    }
}

/// The X coordinate of a Weierstrass point `04 X Y` or `02|03 X` of `curve` (upstream takes
/// `p` bytes after the first).
fn ec_x(point: &[u8], curve: Curve) -> Option<&[u8]> {
    if curve.kind() != CurveKind::Weierstrass {
        return None;
    }
    let p = curve.field_bytes();
    let (&first, rest) = point.split_first()?;
    let ok = match first {
        0x04 => rest.len() == 2 * p,
        0x02 | 0x03 => rest.len() == p,
        _ => false,
    };
    if !ok {
        return None;
    }
    rest.get(..p)
}

/// The PKCS#15 certificate description upstream's `asn1_build_cert_description` writes:
/// `30 { 30 { 0C label, 03 02 06 40 }, 30 { 04 SHA-1(key) }, A1 { 30 { 30 { 04 02 fid } } } }`.
pub(crate) fn certificate_description(label: &[u8], key: &[u8], file: u16) -> Vec<u8> {
    let mut common = Vec::new();
    cvc::put(&mut common, 0x0C, label);
    cvc::put(&mut common, 0x03, &[0x06, 0x40]);
    let id = cvc::tlv(0x30, &cvc::tlv(0x04, &Md::Sha1.digest(key)));
    let path = cvc::tlv(
        0xA1,
        &cvc::tlv(0x30, &cvc::tlv(0x30, &cvc::tlv(0x04, &file.to_be_bytes()))),
    );
    let mut body = cvc::tlv(0x30, &common);
    body.extend_from_slice(&id);
    body.extend_from_slice(&path);
    cvc::tlv(0x30, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn description_layout() {
        let d = certificate_description(b"CA1", b"key", 0xCA00);
        let sha = Md::Sha1.digest(b"key");
        let mut want = alloc::vec![
            0x30, 0x2D, 0x30, 0x09, 0x0C, 0x03, b'C', b'A', b'1', 0x03, 0x02, 0x06, 0x40
        ];
        want.extend_from_slice(&[0x30, 0x16, 0x04, 0x14]);
        want.extend_from_slice(&sha);
        want.extend_from_slice(&[0xA1, 0x08, 0x30, 0x06, 0x30, 0x04, 0x04, 0x02, 0xCA, 0x00]);
        assert_eq!(d, want);
    }

    #[test]
    fn x_coordinate() {
        let p = [0x04u8; 65];
        assert_eq!(ec_x(&p, Curve::Secp256r1), Some(&p[1..33]));
        assert_eq!(ec_x(&p[..33], Curve::Secp256r1), None);
        let c = [0x02u8; 33];
        assert_eq!(ec_x(&c, Curve::Secp256r1), Some(&c[1..]));
        assert_eq!(ec_x(&[0x05; 65], Curve::Secp256r1), None);
        assert_eq!(ec_x(&[], Curve::Secp256r1), None);
    }
}
