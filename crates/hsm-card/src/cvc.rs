//! Card-verifiable certificates produced by the device (BSI TR-03110 style; reference §8.1).

use alloc::vec::Vec;

use hsm_crypto::asym::{Curve, CurveKind};

/// id-TA-ECDSA-SHA-256 (0.4.0.127.0.7.2.2.2.2.3).
pub const OID_TA_ECDSA_SHA256: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x02, 0x03];
/// id-TA-RSA-v1-5-SHA-256 (0.4.0.127.0.7.2.2.2.1.2).
pub const OID_TA_RSA_V15_SHA256: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x01, 0x02];
/// id-RI-ECDH-SHA-256 (0.4.0.127.0.7.2.2.5.2.3), for Montgomery and Edwards keys.
const OID_RI_ECDH_SHA256: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x05, 0x02, 0x03];
/// id-AT role OID in the certificate holder authorization template.
const OID_ROLE_AT: [u8; 9] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x03, 0x01, 0x02, 0x02];
/// Effective date 2023-03-21 and expiry 2070-12-31, as upstream (reference §8.1).
const EFFECTIVE: [u8; 6] = [0x02, 0x03, 0x00, 0x03, 0x02, 0x01];
const EXPIRY: [u8; 6] = [0x07, 0x00, 0x01, 0x02, 0x03, 0x01];
/// id-KeyDomain-UID (1.3.6.1.4.1.24991.3.2.2): the extension naming an XKEK key domain
/// (upstream's `OID_ID_KEY_DOMAIN_UID`, reference §3.12).
pub const OID_KEY_DOMAIN_UID: [u8; 11] = [0x2B, 0x06, 0x01, 0x04, 0x01, 0x81, 0xC3, 0x1F, 0x03, 0x02, 0x02];

/// Appends `tag ‖ length ‖ value` (BER, minimal length) to `out`.
pub fn put(out: &mut Vec<u8>, tag: u16, value: &[u8]) {
    let mut hdr = [0u8; 7];
    out.extend_from_slice(hsm_apdu::tlv::header(tag, value.len(), &mut hdr));
    out.extend_from_slice(value);
}

/// `tag ‖ length ‖ value` as a new vector.
pub fn tlv(tag: u16, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(value.len() + 4);
    put(&mut v, tag, value);
    v
}

/// A public key as the `7F49` template carries it.
pub enum PublicKey<'a> {
    /// RSA modulus and public exponent, big-endian.
    #[cfg_attr(not(feature = "rsa"), allow(dead_code))]
    Rsa { n: &'a [u8], e: &'a [u8] },
    /// An EC public key in [`EcPrivateKey::public_key`](hsm_crypto::asym::EcPrivateKey::public_key)'s encoding.
    Ec { curve: Curve, point: &'a [u8] },
}

/// The `7F49` public-key template (reference §8.1).
pub fn public_key(key: &PublicKey<'_>) -> Vec<u8> {
    let mut body = Vec::with_capacity(600);
    match key {
        PublicKey::Rsa { n, e } => {
            put(&mut body, 0x06, &OID_TA_RSA_V15_SHA256);
            put(&mut body, 0x81, n);
            put(&mut body, 0x82, e);
        }
        PublicKey::Ec { curve, point } => {
            let d = curve.params();
            if curve.kind() == CurveKind::Weierstrass {
                put(&mut body, 0x06, &OID_TA_ECDSA_SHA256);
                put(&mut body, 0x81, d.p);
                put(&mut body, 0x82, d.a);
                put(&mut body, 0x83, d.b);
                put(&mut body, 0x84, d.g);
                put(&mut body, 0x85, d.n);
                put(&mut body, 0x86, point);
                put(&mut body, 0x87, d.cofactor);
            } else {
                // Montgomery and Edwards keys: p, order, G, public key (reference §8.1).
                put(&mut body, 0x06, &OID_RI_ECDH_SHA256);
                put(&mut body, 0x81, d.p);
                put(&mut body, 0x82, d.n);
                put(&mut body, 0x83, d.g);
                put(&mut body, 0x84, point);
            }
        }
    }
    tlv(0x7F49, &body)
}

/// The `7F49` public-key template of a P-256 point `04 X Y` (the device key).
pub fn p256_public_key(point: &[u8; 65]) -> Vec<u8> {
    public_key(&PublicKey::Ec {
        curve: Curve::Secp256r1,
        point,
    })
}

/// Certificate body (`7F4E`) of a request (no role, no dates) or of a full certificate.
pub fn body(car: &[u8], public_key: &[u8], chr: &[u8], full: bool) -> Vec<u8> {
    body_with_extensions(car, public_key, chr, full, &[])
}

/// [`body`] with the content of an extensions template `65` (none when `extensions` is empty),
/// placed last, after the CHR (and after role and dates in a full certificate), as upstream's
/// `asn1_cvc_cert_body` places it.
pub fn body_with_extensions(car: &[u8], public_key: &[u8], chr: &[u8], full: bool, extensions: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(public_key.len() + extensions.len() + 80);
    put(&mut b, 0x5F29, &[0x00]);
    put(&mut b, 0x42, car);
    b.extend_from_slice(public_key);
    put(&mut b, 0x5F20, chr);
    if full {
        let mut role = Vec::with_capacity(16);
        put(&mut role, 0x06, &OID_ROLE_AT);
        put(&mut role, 0x53, &[0x00]);
        put(&mut b, 0x7F4C, &role);
        put(&mut b, 0x5F25, &EFFECTIVE);
        put(&mut b, 0x5F24, &EXPIRY);
    }
    if !extensions.is_empty() {
        put(&mut b, 0x65, extensions);
    }
    tlv(0x7F4E, &b)
}

/// The discretionary data template of an XKEK key's request (the content of `65`):
/// `73 { 06 id-KeyDomain-UID, 80 <domain UID> }` (upstream's `cmd_keypair_gen.c`). Upstream
/// writes both lengths as one byte whatever the UID's length; here they are BER, which is the
/// same bytes for UIDs up to 113 bytes (every curve up to 384 bits).
pub fn key_domain_uid_extension(uid: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(uid.len() + 20);
    put(&mut t, 0x06, &OID_KEY_DOMAIN_UID);
    put(&mut t, 0x80, uid);
    tlv(0x73, &t)
}

/// The body (`7F4E` content) of a CV certificate or request, as upstream's `cvc_get_body` finds
/// it: inside a top-level `67` (authenticated request) when there is one, else in the top-level
/// `7F21`. `None` when there is no body; malformed TLVs are 6700.
pub fn find_body(data: &[u8]) -> Result<Option<&[u8]>, hsm_apdu::Status> {
    use hsm_apdu::tlv::find;
    let outer = find(data, 0x67)?.unwrap_or(data);
    match find(outer, 0x7F21)? {
        Some(cert) => find(cert, 0x7F4E),
        None => Ok(None),
    }
}

/// The domain UID an extensions template (`65` content) names: the `80` of the first `73`
/// whose `06` is id-KeyDomain-UID (upstream's `cmd_decrypt_asym.c`). `None` when no such `73`
/// exists or its `80` is absent or empty.
pub fn find_domain_uid(extensions: &[u8]) -> Result<Option<&[u8]>, hsm_apdu::Status> {
    use hsm_apdu::tlv::{Reader, find};
    for item in Reader::new(extensions) {
        let item = item?;
        if item.tag == 0x73 && find(item.value, 0x06)? == Some(&OID_KEY_DOMAIN_UID[..]) {
            return Ok(find(item.value, 0x80)?.filter(|u| !u.is_empty()));
        }
    }
    Ok(None)
}

/// `7F21 { body, 5F37 signature }`.
pub fn certificate(body: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut c = Vec::with_capacity(body.len() + signature.len() + 4);
    c.extend_from_slice(body);
    put(&mut c, 0x5F37, signature);
    tlv(0x7F21, &c)
}

/// The to-be-signed part of an authenticated request: `inner request ‖ 42 outer CAR`.
pub fn authenticated_tbs(inner: &[u8], outer_car: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(inner.len() + outer_car.len() + 2);
    v.extend_from_slice(inner);
    put(&mut v, 0x42, outer_car);
    v
}

/// `67 { inner request, 42 outer CAR, 5F37 outer signature }` (reference §8.1).
pub fn authenticated_request(tbs: &[u8], outer_signature: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(tbs.len() + outer_signature.len() + 4);
    v.extend_from_slice(tbs);
    put(&mut v, 0x5F37, outer_signature);
    tlv(0x67, &v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_parameters_match_the_crate() {
        let secret = [7u8; 32];
        let q = hsm_crypto::ec::p256_public(&secret).unwrap();
        let pk = p256_public_key(&q);
        assert_eq!(&pk[..2], &[0x7F, 0x49]);
        // The generator encoded in the template is the public key of scalar 1.
        let mut one = [0u8; 32];
        one[31] = 1;
        let g = hsm_crypto::ec::p256_public(&one).unwrap();
        assert!(pk.windows(65).any(|w| w == g));
    }
}
