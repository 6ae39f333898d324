//! The tool's administration commands against the card core in-process: the secure-lock transport
//! (this crate's host side of EXTRAS 3A against the card's), options, key generation with the
//! tool's PKCS#15 description, and signatures checked with `p256` on the public key of the card's
//! CV request.

mod common;

use common::InProcess;
use hsm_apdu::tlv;
use hsm_card::Card;
use hsm_card::testing::RamPlatform;
use hsm_tool::admin::{self, Curve, InitParams, KeySpec, LockOp, option};
use hsm_tool::card::{Client, Command};
use hsm_tool::commands::keys;
use hsm_tool::hsm;
use p256::ecdsa::signature::Verifier;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const PIN: &[u8] = b"648219";
const SO_PIN: &[u8] = b"57621880";

fn pin() -> Zeroizing<Vec<u8>> {
    Zeroizing::new(PIN.to_vec())
}

/// A card initialized by `admin::initialize`, selected again and logged in.
fn card(seed: u64) -> Client<InProcess> {
    let mut c = Client::new(InProcess(Card::new(RamPlatform::new(seed))));
    hsm_tool::cli::open(&mut c, None).unwrap();
    admin::initialize(
        &mut c,
        &InitParams {
            options: option::RRC,
            user_pin: PIN,
            so_pin: SO_PIN,
            retries: 3,
            dkek_shares: None,
            pka: None,
            key_domains: None,
        },
    )
    .unwrap();
    hsm_tool::cli::open(&mut c, Some(&pin())).unwrap();
    c
}

/// Power cycle: the card forgets the session; select and log in again.
fn reset(c: &mut Client<InProcess>) {
    c.transport_mut().0.reset();
    hsm_tool::cli::open(c, Some(&pin())).unwrap();
}

/// The P-256 public point of the CV request GENERATE answered (67 → 7F21 → 7F4E → 7F49 → 86).
fn request_point(req: &[u8]) -> Vec<u8> {
    let mut cur = req;
    for tag in [0x67u16, 0x7F21, 0x7F4E, 0x7F49, 0x86] {
        cur = tlv::find(cur, tag)
            .ok()
            .flatten()
            .or(if tag == 0x7F21 { Some(cur) } else { None })
            .unwrap_or_else(|| panic!("tag {tag:X} in {}", hex::encode(req)));
    }
    cur.to_vec()
}

fn sign_and_check(c: &mut Client<InProcess>, slot: u8, point: &[u8]) {
    let msg = b"signed in-process";
    let sig = keys::sign(c, slot, msg).unwrap();
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(point).unwrap();
    let sig = p256::ecdsa::Signature::from_der(&sig).unwrap();
    vk.verify(msg, &sig).expect("ECDSA-SHA256 signature verifies");
    assert!(vk.verify(b"other message", &sig).is_err());
}

#[test]
fn keygen_description_and_signature() {
    let mut c = card(0xA1);
    let req = admin::generate(&mut c, 1, KeySpec::Ec(Curve::P256), "UTCDUMMY00001").unwrap();
    let point = request_point(&req);
    let desc = admin::prkd(1, "in-process", &[0x0A], false, 256);
    hsm::write_file(&mut c, 0xC401, &desc, 1024).unwrap();
    let listed = keys::list_keys(&mut c).unwrap();
    let k = listed.iter().find(|k| k.slot == 1).unwrap();
    assert_eq!(k.label.as_deref(), Some("in-process"));
    assert_eq!(k.key_id.as_deref(), Some(&[0x0A][..]));
    assert_eq!((k.kind, k.size), ("ec", Some(256)));
    sign_and_check(&mut c, 1, &point);

    // The digest the card signs is SHA-256 of the data: the same signature verifies as a prehash.
    let sig = keys::sign(&mut c, 1, b"abc").unwrap();
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    vk.verify_prehash(
        &Sha256::digest(b"abc"),
        &p256::ecdsa::Signature::from_der(&sig).unwrap(),
    )
    .unwrap();

    keys::delete(&mut c, 1).unwrap();
    assert!(keys::list_keys(&mut c).unwrap().iter().all(|k| k.slot != 1));
    assert_eq!(hsm::read_file_opt(&mut c, 0xC401).unwrap(), None);
}

#[test]
fn options_set_and_get() {
    let mut c = card(0xA2);
    assert_eq!(admin::options_get(&mut c).unwrap(), 0x0001);
    admin::options_set(&mut c, 0x02).unwrap();
    assert_eq!(admin::options_get(&mut c).unwrap(), 0x0201);
    assert_eq!(hsm::select(&mut c).unwrap().options, Some(0x0201), "the FCI agrees");
}

#[test]
fn secure_lock_transport_against_the_card() {
    let mut c = card(0xA3);
    let req = admin::generate(&mut c, 1, KeySpec::Ec(Curve::P256), "UTCDUMMY00001").unwrap();
    let point = request_point(&req);
    let secret = [0x42u8; 32];
    admin::secure_lock(&mut c, LockOp::Enable, &secret).unwrap();
    assert_ne!(admin::options_get(&mut c).unwrap() & option::SECURE_LOCK, 0);
    sign_and_check(&mut c, 1, &point);

    // A card reset keeps the secret (as upstream, until the device restarts).
    reset(&mut c);
    sign_and_check(&mut c, 1, &point);
    c.transport_mut().0.restart();
    hsm_tool::cli::open(&mut c, Some(&pin())).unwrap();
    let err = admin::sign(&mut c, 1, 0x73, b"x").unwrap_err();
    assert_eq!(err.sw(), Some(0x6400), "locked after a restart");
    // A wrong secret: 6982, the keys stay closed.
    let err = admin::secure_lock(&mut c, LockOp::Unlock, &[0x43; 32]).unwrap_err();
    assert_eq!(err.sw(), Some(0x6982));
    assert_eq!(admin::sign(&mut c, 1, 0x73, b"x").unwrap_err().sw(), Some(0x6400));
    admin::secure_lock(&mut c, LockOp::Unlock, &secret).unwrap();
    sign_and_check(&mut c, 1, &point);

    admin::secure_lock(&mut c, LockOp::Disable, &secret).unwrap();
    reset(&mut c);
    assert_eq!(admin::options_get(&mut c).unwrap() & option::SECURE_LOCK, 0);
    sign_and_check(&mut c, 1, &point);
}

#[test]
fn rescue_clock() {
    let mut c = card(0xA4);
    assert!(admin::select_rescue(&mut c).unwrap().is_some());
    assert_eq!(admin::rtc_get(&mut c).unwrap(), None);
    admin::rtc_set(&mut c, 1_900_000_000).unwrap();
    let t = admin::rtc_get(&mut c).unwrap().unwrap();
    assert!((1_900_000_000..1_900_000_005).contains(&t), "{t}");
    // HSM commands do not reach the HSM application while the rescue applet is selected.
    let r = c.transmit(&Command::new(0x80, 0x58, 0, 0).ne(256)).unwrap();
    assert_ne!(r.sw, 0x9000);
}
