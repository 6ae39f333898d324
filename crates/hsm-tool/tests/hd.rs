//! `pico-hsm-tool hd` against the card core in-process: the tool's masters, xpubs and signatures
//! (BIP32 test vector 1, SLIP-10 P-256 vector 1, a signature verified with `p256`).

mod common;

use common::InProcess;
use hsm_card::Card;
use hsm_card::testing::RamPlatform;
use hsm_tool::card::{Client, Command};
use hsm_tool::commands::hd::{self, Kind};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use zeroize::Zeroizing;

const SEED1: &str = "000102030405060708090a0b0c0d0e0f";

/// An initialized card, selected, the user PIN verified.
fn logged_in() -> Client<InProcess> {
    let mut c = Client::new(InProcess(Card::new(RamPlatform::new(9))));
    hsm_tool::cli::open(&mut c, None).unwrap();
    let init = hex::decode("80020001 8106 363438323139 8208 3537363231383830 910103".replace(' ', "")).unwrap();
    c.call("INITIALIZE", &Command::new(0x80, 0x50, 0x00, 0x00).data(&init))
        .unwrap();
    let pin = Zeroizing::new(b"648219".to_vec());
    hsm_tool::cli::open(&mut c, Some(&pin)).unwrap();
    c
}

#[test]
fn bip32_vector1_xpub_and_p256_signature() {
    let mut c = logged_in();
    let seed = hex::decode(SEED1).unwrap();
    hd::create_master(&mut c, Kind::Secp256k1, 0, Some(&seed)).unwrap();
    hd::create_master(&mut c, Kind::Nist256p1, 1, Some(&seed)).unwrap();
    let path = hd::parse_path("m/0'/1/2h/2/1000000000").unwrap();
    assert_eq!(
        hd::xpub(&mut c, 0, &path).unwrap(),
        "xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy"
    );
    let body = hd::xpub_body(&mut c, 1, &path).unwrap();
    assert_eq!(
        hex::encode(&body[45..]),
        "02216cd26d31147f72427a453c443ed2cde8a1e53c9cc44e5ddf739725413fe3f4",
        "SLIP-10 P-256 vector 1"
    );
    let hash = [0x42u8; 32];
    let der = hd::sign(&mut c, 1, &path, &hash).unwrap();
    p256::ecdsa::VerifyingKey::from_sec1_bytes(&body[45..])
        .unwrap()
        .verify_prehash(&hash, &p256::ecdsa::Signature::from_der(&der).unwrap())
        .unwrap();

    // SLIP-21 master and label paths; random masters.
    hd::create_master(&mut c, Kind::Slip21, 2, None).unwrap();
    let body = hd::xpub_body(&mut c, 2, &hd::parse_path("m/\"SLIP-0021\"").unwrap()).unwrap();
    assert_eq!(body.len(), 77);
    // Errors name the command and the status word.
    let err = hd::xpub(&mut c, 5, &[]).unwrap_err().to_string();
    assert!(err.contains("6A88"), "{err}");
    assert!(hd::create_master(&mut c, Kind::Secp256k1, 10, None).is_err());
    assert!(hd::create_master(&mut c, Kind::Secp256k1, 0, Some(&[0; 65])).is_err());
    assert!(
        hd::sign(&mut c, 2, &[], &hash)
            .unwrap_err()
            .to_string()
            .contains("6985")
    );
}
