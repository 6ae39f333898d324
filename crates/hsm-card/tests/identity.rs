//! The device identity in C_DevAut (2F02): out of the box `device certificate ‖ issuer
//! certificate`, the issuer's signature checked here with the `p256` crate over bodies parsed by
//! this test; INITIALIZE keeps a chain uploaded by the rescue applet and upgrades the single
//! self-signed certificate earlier versions wrote.

mod common;

use common::*;
use hsm_apdu::tlv;
use hsm_card::testing::RamPlatform;
use hsm_card::{Card, Platform};
use hsm_crypto::asym::Curve;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::sec1::ToSec1Point;

/// SELECT of the rescue applet.
const SELECT_RESCUE: &str = "00A4040408A0583FC19B7E4F2100";

/// One parsed CV certificate: the whole `7F4E` TLV (what is signed), CAR, CHR, point, signature.
struct Cert {
    body_tlv: Vec<u8>,
    car: Vec<u8>,
    chr: Vec<u8>,
    point: Vec<u8>,
    signature: Vec<u8>,
    full: bool,
}

fn parse(cert: &[u8]) -> Cert {
    let inner = find(cert, &[0x7F21]);
    let body = find(inner, &[0x7F4E]);
    let mut body_tlv = Vec::new();
    put(&mut body_tlv, 0x7F4E, body);
    Cert {
        car: find(body, &[0x42]).to_vec(),
        chr: find(body, &[0x5F20]).to_vec(),
        point: find(body, &[0x7F49, 0x86]).to_vec(),
        signature: find(inner, &[0x5F37]).to_vec(),
        full: tlv::find(body, 0x5F24).unwrap().is_some(),
        body_tlv,
    }
}

/// The top-level TLVs of a C_DevAut file, each whole.
fn split(chain: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = chain;
    for item in tlv::Reader::new(chain) {
        let item = item.unwrap();
        assert_eq!(item.tag, 0x7F21);
        let mut whole = Vec::new();
        put(&mut whole, item.tag, item.value);
        assert!(rest.starts_with(&whole));
        rest = &rest[whole.len()..];
        out.push(whole);
    }
    assert!(rest.is_empty());
    out
}

/// ECDSA-SHA-256 over `msg` with raw `r ‖ s`, by `point`.
fn verifies(point: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let key = VerifyingKey::from_sec1_bytes(point).unwrap();
    let Ok(sig) = Signature::from_slice(sig) else {
        return false;
    };
    key.verify(msg, &sig).is_ok()
}

fn devaut<P: Platform>(c: &mut Card<P>) -> Vec<u8> {
    let (chain, sw) = read_binary(c, 0x2F02);
    assert_eq!(sw, 0x9000);
    chain
}

/// CE00: the device key's authenticated request.
fn device_request<P: Platform>(c: &mut Card<P>) -> Vec<u8> {
    let (req, sw) = read_binary(c, 0xCE00);
    assert_eq!(sw, 0x9000);
    req
}

/// A full certificate for `point` named `chr`, issued by `ca` named `car`, built by the test.
fn issue(ca: &SigningKey, car: &[u8], point: &[u8], chr: &[u8]) -> Vec<u8> {
    let mut pk = Vec::new();
    put(&mut pk, 0x06, &OID_ECDSA);
    let d = Curve::Secp256r1.params();
    for (tag, v) in [
        (0x81, d.p),
        (0x82, d.a),
        (0x83, d.b),
        (0x84, d.g),
        (0x85, d.n),
        (0x86, point),
        (0x87, d.cofactor),
    ] {
        put(&mut pk, tag, v);
    }
    let mut b = Vec::new();
    put(&mut b, 0x5F29, &[0]);
    put(&mut b, 0x42, car);
    put(&mut b, 0x7F49, &pk);
    put(&mut b, 0x5F20, chr);
    let mut role = Vec::new();
    put(&mut role, 0x06, &[0x04, 0x00, 0x7F, 0x00, 0x07, 0x03, 0x01, 0x02, 0x02]);
    put(&mut role, 0x53, &[0]);
    put(&mut b, 0x7F4C, &role);
    put(&mut b, 0x5F25, &[2, 3, 0, 3, 2, 1]);
    put(&mut b, 0x5F24, &[7, 0, 1, 2, 3, 1]);
    let mut body = Vec::new();
    put(&mut body, 0x7F4E, &b);
    let sig: Signature = p256::ecdsa::signature::Signer::sign(ca, &body);
    let mut inner = body;
    put(&mut inner, 0x5F37, &sig.to_bytes());
    let mut cert = Vec::new();
    put(&mut cert, 0x7F21, &inner);
    cert
}

#[test]
fn out_of_the_box_chain_is_device_certificate_then_issuer() {
    let mut c = fresh(1, "");
    let chain = devaut(&mut c);
    let certs = split(&chain);
    assert_eq!(certs.len(), 2, "device certificate ‖ issuer certificate");
    let (device, issuer) = (parse(&certs[0]), parse(&certs[1]));

    // The issuer: self-signed, named after the device with sequence DICA1.
    assert_eq!(issuer.car, issuer.chr);
    assert_eq!(&issuer.chr[..11], &device.chr[..11]);
    assert_eq!(&issuer.chr[11..], b"DICA1");
    assert!(issuer.full && device.full);
    assert!(verifies(&issuer.point, &issuer.body_tlv, &issuer.signature));

    // The device certificate: issued by it, for the key CE00 and every key attestation name.
    assert_eq!(device.car, issuer.chr);
    assert!(verifies(&issuer.point, &device.body_tlv, &device.signature));
    assert!(
        !verifies(&device.point, &device.body_tlv, &device.signature),
        "not self-signed"
    );
    assert_ne!(device.point, issuer.point);
    let req = device_request(&mut c);
    assert_eq!(find(&req, &[0x67, 0x7F21, 0x7F4E, 0x7F49, 0x86]), &device.point[..]);
    assert_eq!(find(&req, &[0x67, 0x7F21, 0x7F4E, 0x5F20]), &device.chr[..]);
    login(&mut c);
    let key_req = gen_ec(&mut c, 1, Curve::Secp256r1, &[]);
    assert_eq!(find(&key_req, &[0x67, 0x42]), &device.chr[..], "outer CAR = device CHR");

    // Another device: other names in the part OpenSC makes the token serial, another issuer key.
    let mut other = fresh(2, "");
    let others = split(&devaut(&mut other));
    let (od, oi) = (parse(&others[0]), parse(&others[1]));
    assert_ne!(od.chr[..11], device.chr[..11]);
    assert_ne!(oi.point, issuer.point);
    assert!(!verifies(&issuer.point, &od.body_tlv, &od.signature));
}

#[test]
fn reinitialize_keeps_the_identity() {
    let mut c = fresh(3, "");
    let chain = devaut(&mut c);
    let req = device_request(&mut c);
    assert_eq!(txb(&mut c, &init_apdu(&[])).1, 0x9000);
    reselect(&mut c);
    assert_eq!(devaut(&mut c), chain);
    assert_eq!(device_request(&mut c), req);
    let mut c = power_cycle(c, 3);
    assert_eq!(
        devaut(&mut c),
        chain,
        "the issuer key is derived: the same after a restart"
    );
}

#[test]
fn initialize_keeps_a_chain_uploaded_by_the_rescue_applet() {
    let mut c = fresh(4, "");
    let device = parse(&split(&devaut(&mut c))[0]);
    let req = device_request(&mut c);

    // An operator CA issues the device key's certificate; the chain goes in through rescue 10 03.
    let ca = SigningKey::from_slice(&[0x42; 32]).unwrap();
    let ca_point = p256::SecretKey::from_slice(&[0x42; 32])
        .unwrap()
        .public_key()
        .to_sec1_point(false)
        .as_bytes()
        .to_vec();
    let ca_cert = issue(&ca, b"UTOPCA00001", &ca_point, b"UTOPCA00001");
    let mut uploaded = issue(&ca, b"UTOPCA00001", &device.point, &device.chr);
    uploaded.extend_from_slice(&ca_cert);
    assert_eq!(tx(&mut c, SELECT_RESCUE).1, 0x9000);
    c.platform_mut().set_confirm(true);
    assert_eq!(txb(&mut c, &apdu(0x80, 0x10, 0x03, 0x00, &uploaded)).1, 0x9000);
    reselect(&mut c);
    assert_eq!(devaut(&mut c), uploaded);

    // Re-INITIALIZE (same SO-PIN) keeps it, and CE00.
    assert_eq!(txb(&mut c, &init_apdu(&[])).1, 0x9000);
    reselect(&mut c);
    assert_eq!(devaut(&mut c), uploaded);
    assert_eq!(device_request(&mut c), req);

    // And a CA-issued device certificate alone (no issuer certificate after it).
    let single = issue(&ca, b"UTOPCA00001", &device.point, &device.chr);
    assert_eq!(tx(&mut c, SELECT_RESCUE).1, 0x9000);
    assert_eq!(txb(&mut c, &apdu(0x80, 0x10, 0x03, 0x00, &single)).1, 0x9000);
    reselect(&mut c);
    assert_eq!(txb(&mut c, &init_apdu(&[])).1, 0x9000);
    reselect(&mut c);
    assert_eq!(devaut(&mut c), single, "a CA-issued certificate alone is kept too");
}

#[test]
fn initialize_upgrades_the_single_self_signed_certificate_of_earlier_versions() {
    let mut c = fresh(5, "");
    let chain = devaut(&mut c);
    let req = device_request(&mut c);
    let device = parse(&split(&chain)[0]);

    // What earlier versions wrote: one certificate, CAR = CHR = device name (its signature made
    // by the device key; the card never checks its own file's signature, so any bytes do here).
    let body = find(&split(&chain)[0], &[0x7F21, 0x7F4E]).to_vec();
    let car_at = 6; // after 5F29 01 00 and 42 10
    assert_eq!(body[car_at - 2..car_at], [0x42, 0x10]);
    let mut legacy_body = body.clone();
    legacy_body[car_at..car_at + 16].copy_from_slice(&device.chr);
    let mut inner = Vec::new();
    put(&mut inner, 0x7F4E, &legacy_body);
    put(&mut inner, 0x5F37, &[0x11; 64]);
    let mut legacy = Vec::new();
    put(&mut legacy, 0x7F21, &inner);
    let (mut store, counters) = c.into_platform().into_stores();
    store.write(0x2F02, &legacy).unwrap();
    let mut c = Card::new(RamPlatform::from_stores(store, counters, 5));
    assert_eq!(tx(&mut c, SELECT_AID).1, 0x9000);
    assert_eq!(devaut(&mut c), legacy, "nothing changes before INITIALIZE");
    login(&mut c);
    gen_ec(&mut c, 1, Curve::Secp256r1, &[]);

    // INITIALIZE upgrades it: same key, same name, now issued by the device issuer.
    reselect(&mut c);
    assert_eq!(txb(&mut c, &init_apdu(&[])).1, 0x9000);
    reselect(&mut c);
    assert_eq!(devaut(&mut c), chain);
    assert_eq!(device_request(&mut c), req);
}
