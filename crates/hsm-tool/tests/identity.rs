//! `ca init`, `ca issue` and `attest` against the card core in-process (no pcscd): the CA files, the
//! chain written through the rescue applet (refused without the button), the device certificate's
//! signature checked here with the `p256` crate and the CA key file, and `attest`'s verdicts on the
//! genuine request, on tampered ones and against another CA.

mod common;

use common::InProcess;
use hsm_apdu::tlv;
use hsm_card::Card;
use hsm_card::testing::RamPlatform;
use hsm_tool::card::{Client, Command};
use hsm_tool::commands::attest::{self, Anchor, Outcome};
use hsm_tool::commands::ca;
use hsm_tool::hsm;
use p256::ecdsa::signature::Verifier as _;
use p256::pkcs8::DecodePrivateKey as _;

type TestClient = Client<InProcess>;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// An initialized card with a P-256 key in slot 1; the button pressed when `button`.
fn card(seed: u64, button: bool) -> TestClient {
    let mut card = Card::new(RamPlatform::new(seed));
    card.platform_mut().set_confirm(button);
    let mut c = Client::new(InProcess(card));
    hsm_tool::cli::open(&mut c, None).unwrap();
    let init = h("80020001 8106 363438323139 8208 3537363231383830 910103");
    c.call("INITIALIZE", &Command::new(0x80, 0x50, 0, 0).data(&init))
        .unwrap();
    c.call("VERIFY", &Command::new(0x00, 0x20, 0x00, 0x81).data(b"648219"))
        .unwrap();
    // GENERATE ASYMMETRIC KEY PAIR, P-256 by its domain parameters (as OpenSC sends them).
    let d = hsm_crypto::asym::Curve::Secp256r1.params();
    let mut t = Vec::new();
    for (tag, v) in [
        (
            0x06u16,
            &[0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x02, 0x03][..],
        ),
        (0x81, d.p),
        (0x82, d.a),
        (0x83, d.b),
        (0x84, d.g),
        (0x85, d.n),
    ] {
        put(&mut t, tag, v);
    }
    let mut data = Vec::new();
    put(&mut data, 0x5F29, &[0]);
    put(&mut data, 0x42, b"UTCA00001");
    put(&mut data, 0x7F49, &t);
    put(&mut data, 0x5F20, b"UTTM00001");
    c.call("GENERATE", &Command::new(0x00, 0x46, 1, 0).data(&data).ne(65536))
        .unwrap();
    c
}

fn put(out: &mut Vec<u8>, tag: u16, value: &[u8]) {
    let mut hdr = [0u8; 7];
    out.extend_from_slice(tlv::header(tag, value.len(), &mut hdr));
    out.extend_from_slice(value);
}

fn read(c: &mut TestClient, fid: u16) -> Vec<u8> {
    hsm::select(c).unwrap();
    hsm::read_file(c, fid).unwrap()
}

fn anchor(cert: &[u8]) -> Anchor {
    Anchor {
        cert: cert.to_vec(),
        source: "test".into(),
    }
}

#[test]
fn out_of_the_box_attestation_needs_trust_in_the_device_issuer() {
    let mut c = card(1, false);
    let report = attest::attest(&mut c, 1, &[], false).unwrap();
    assert!(!report.verified(), "{}", report.text());
    assert!(report.text().contains("no trust anchor"), "{}", report.text());
    let report = attest::attest(&mut c, 1, &[], true).unwrap();
    assert!(report.verified(), "{}", report.text());
    assert_eq!(
        report.steps.iter().filter(|s| s.outcome == Outcome::Ok).count(),
        5,
        "{}",
        report.text()
    );
    assert!(report.json().contains("\"verified\":true"));
    // No request for a slot without a key.
    assert!(attest::attest(&mut c, 2, &[], true).is_err());
}

#[test]
fn ca_issue_writes_the_chain_and_attest_verifies_it() {
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    let made = ca::init(&ca_dir, "UTOPERCA00001").unwrap();
    assert!(ca::init(&ca_dir, "UTOPERCA00001").is_err(), "never overwritten");
    assert!(ca::init(&dir.path().join("x"), "bad name!").is_err());
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(ca_dir.join(ca::KEY_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let loaded = ca::load(&ca_dir).unwrap();
    assert_eq!(loaded.cert, made.cert);
    assert_eq!(loaded.name, "UTOPERCA00001");

    // Without the button nothing changes.
    let mut c = card(2, false);
    let before = read(&mut c, hsm::FID_C_DEVAUT);
    let err = ca::issue(&mut c, &loaded, &mut std::io::sink()).err().unwrap();
    assert!(err.to_string().contains("6600"), "{err}");
    assert_eq!(read(&mut c, hsm::FID_C_DEVAUT), before);

    let mut c = card(3, true);
    let device_request = read(&mut c, ca::FID_DEVICE_REQUEST);
    let mut prompt = Vec::new();
    let issued = ca::issue(&mut c, &loaded, &mut prompt).unwrap();
    assert!(String::from_utf8(prompt).unwrap().contains("Press the button"));
    let chain = read(&mut c, hsm::FID_C_DEVAUT);
    assert!(chain.ends_with(&loaded.cert));
    let device_cert = &chain[..chain.len() - loaded.cert.len()];

    // The device certificate, checked without the tool's code: the CA key file's key signed its
    // body; it certifies CE00's key under CE00's name.
    let pem = std::fs::read_to_string(ca_dir.join(ca::KEY_FILE)).unwrap();
    let ca_key = p256::ecdsa::SigningKey::from_pkcs8_pem(&pem).unwrap();
    let inner = tlv::find(device_cert, 0x7F21).unwrap().unwrap();
    let body = tlv::find(inner, 0x7F4E).unwrap().unwrap();
    let mut body_tlv = Vec::new();
    put(&mut body_tlv, 0x7F4E, body);
    let sig = p256::ecdsa::Signature::from_slice(tlv::find(inner, 0x5F37).unwrap().unwrap()).unwrap();
    ca_key.verifying_key().verify(&body_tlv, &sig).unwrap();
    assert_eq!(tlv::find(body, 0x42).unwrap().unwrap(), b"UTOPERCA00001");
    let req_body = tlv::find(
        tlv::find(tlv::find(&device_request, 0x67).unwrap().unwrap(), 0x7F21)
            .unwrap()
            .unwrap(),
        0x7F4E,
    )
    .unwrap()
    .unwrap();
    assert_eq!(tlv::find(body, 0x5F20).unwrap(), tlv::find(req_body, 0x5F20).unwrap());
    assert_eq!(tlv::find(body, 0x7F49).unwrap(), tlv::find(req_body, 0x7F49).unwrap());
    assert_eq!(issued.device.as_bytes(), tlv::find(body, 0x5F20).unwrap().unwrap());

    // attest: verified with the CA as anchor; not with another CA of the same name, not with the
    // device's own issuer any more (the chain now ends at the CA, which is no anchor without --ca).
    let report = attest::attest(&mut c, 1, &[anchor(&loaded.cert)], false).unwrap();
    assert!(report.verified(), "{}", report.text());
    let from_dir = attest::read_anchor(&ca_dir).unwrap();
    assert_eq!(from_dir.cert, loaded.cert, "a CA directory stands for its certificate");
    let hex_file = dir.path().join("ca.hex");
    std::fs::write(&hex_file, hex::encode(&loaded.cert)).unwrap();
    assert_eq!(attest::read_anchor(&hex_file).unwrap().cert, loaded.cert);
    std::fs::write(&hex_file, "not a certificate").unwrap();
    assert!(attest::read_anchor(&hex_file).is_err());
    assert_eq!(report.anchor.as_deref(), Some("UTOPERCA00001"));
    let other = ca::init(&dir.path().join("other"), "UTOPERCA00001").unwrap();
    let report = attest::attest(&mut c, 1, &[anchor(&other.cert)], false).unwrap();
    assert!(!report.verified(), "{}", report.text());
    assert!(!attest::attest(&mut c, 1, &[], false).unwrap().verified());

    // Tampering anywhere is caught by the step it breaks.
    let request = read(&mut c, 0xCE01);
    let anchors = [anchor(&loaded.cert)];
    let failed_step = |req: &[u8], chain: &[u8]| {
        let r = attest::verify(1, req, chain, &anchors, false);
        assert!(!r.verified(), "{}", r.text());
        r.steps
            .iter()
            .find(|s| s.outcome == Outcome::Failed)
            .unwrap()
            .step
            .clone()
    };
    assert!(attest::verify(1, &request, &chain, &anchors, false).verified());
    let point = tlv::find(tlv::find(req_of(&request), 0x7F49).unwrap().unwrap(), 0x86)
        .unwrap()
        .unwrap();
    let point_at = request.windows(point.len()).position(|w| w == point).unwrap();
    let mut t = request.clone();
    t[point_at + 20] ^= 1; // the key's public point
    assert_eq!(failed_step(&t, &chain), "proof of possession");
    let mut t = request.clone();
    let n = t.len();
    t[n - 5] ^= 1; // the outer signature
    assert_eq!(failed_step(&t, &chain), "device signature");
    let mut t = chain.clone();
    t[device_cert.len() - 5] ^= 1; // the CA's signature on the device certificate
    assert!(failed_step(&request, &t).starts_with("certificate"));
    assert_eq!(failed_step(b"\x30\x00", &chain), "key request");
}

/// The body of the inner request of an authenticated request.
fn req_of(request: &[u8]) -> &[u8] {
    let inner = tlv::find(tlv::find(request, 0x67).unwrap().unwrap(), 0x7F21)
        .unwrap()
        .unwrap();
    tlv::find(inner, 0x7F4E).unwrap().unwrap()
}
