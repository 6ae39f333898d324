//! Card-verifiable certificates produced by the device (BSI TR-03110 style; reference §8.1).

use alloc::vec::Vec;

/// id-TA-ECDSA-SHA-256 (0.4.0.127.0.7.2.2.2.2.3).
pub const OID_TA_ECDSA_SHA256: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x02, 0x03];
/// id-AT role OID in the certificate holder authorization template.
const OID_ROLE_AT: [u8; 9] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x03, 0x01, 0x02, 0x02];
/// Effective date 2023-03-21 and expiry 2070-12-31, as upstream (reference §8.1).
const EFFECTIVE: [u8; 6] = [0x02, 0x03, 0x00, 0x03, 0x02, 0x01];
const EXPIRY: [u8; 6] = [0x07, 0x00, 0x01, 0x02, 0x03, 0x01];

/// NIST P-256 domain parameters for the `7F49` public-key template.
mod p256 {
    pub const P: [u8; 32] = hex32("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
    pub const A: [u8; 32] = hex32("ffffffff00000001000000000000000000000000fffffffffffffffffffffffc");
    pub const B: [u8; 32] = hex32("5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b");
    pub const GX: [u8; 32] = hex32("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
    pub const GY: [u8; 32] = hex32("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5");
    pub const N: [u8; 32] = hex32("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");

    // Evaluated at compile time on literals only.
    #[allow(clippy::indexing_slicing)]
    const fn hex32(s: &str) -> [u8; 32] {
        let b = s.as_bytes();
        let mut out = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            out[i] = (nibble(b[2 * i]) << 4) | nibble(b[2 * i + 1]);
            i += 1;
        }
        out
    }

    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => 0,
        }
    }
}

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

/// The `7F49` public-key template of a P-256 point `04 X Y`.
pub fn p256_public_key(point: &[u8; 65]) -> Vec<u8> {
    let mut g = Vec::with_capacity(65);
    g.push(0x04);
    g.extend_from_slice(&p256::GX);
    g.extend_from_slice(&p256::GY);
    let mut body = Vec::with_capacity(300);
    put(&mut body, 0x06, &OID_TA_ECDSA_SHA256);
    put(&mut body, 0x81, &p256::P);
    put(&mut body, 0x82, &p256::A);
    put(&mut body, 0x83, &p256::B);
    put(&mut body, 0x84, &g);
    put(&mut body, 0x85, &p256::N);
    put(&mut body, 0x86, point);
    put(&mut body, 0x87, &[0x01]);
    tlv(0x7F49, &body)
}

/// Certificate body (`7F4E`) of a request (no role, no dates) or of a full certificate.
pub fn body(car: &[u8], public_key: &[u8], chr: &[u8], full: bool) -> Vec<u8> {
    let mut b = Vec::with_capacity(public_key.len() + 80);
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
    tlv(0x7F4E, &b)
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
