//! The cache of parsed private keys (`keycache.rs`): it never serves a replaced key, it is emptied
//! by everything that changes keys, PINs or the session, it never skips the key-use gate, and it
//! stays within its budget. Each test would fail without the invalidation it names.

mod common;

use common::{
    INIT, TestCard, VERIFY, apdu, ec_template, gen_ec, gen_rsa, h, initialized, keygen_data, login, public_point,
    reselect, tx, txb,
};
use hsm_card::{KeyCacheBudget, Platform};
use hsm_crypto::asym::Curve;
use rsa::Pkcs1v15Sign;

const HASH: [u8; 32] = [0x5A; 32];

fn sign(c: &mut TestCard, id: u8) -> (Vec<u8>, u16) {
    txb(c, &apdu(0x80, 0x68, id, 0x70, &HASH))
}

fn signs_for(c: &mut TestCard, id: u8, public: &[u8]) {
    let (sig, sw) = sign(c, id);
    assert_eq!(sw, 0x9000);
    Curve::Secp256r1
        .verify_ecdsa_prehash(public, &HASH, &sig)
        .expect("signature of the key the slot holds now");
}

fn cached(c: &TestCard) -> usize {
    c.key_cache_usage().0
}

#[test]
fn a_replaced_key_is_never_served_from_the_cache() {
    let mut c = initialized(71);
    let old = public_point(&gen_ec(&mut c, 1, Curve::Secp256r1, &[]), Curve::Secp256r1).to_vec();
    signs_for(&mut c, 1, &old);
    assert_eq!(cached(&c), 1);
    let old_record = c.platform_mut().store().read_all(0xCC01).unwrap();

    // Replaced through the card: the new key signs.
    let new = public_point(&gen_ec(&mut c, 1, Curve::Secp256r1, &[]), Curve::Secp256r1).to_vec();
    assert_ne!(old, new);
    signs_for(&mut c, 1, &new);
    signs_for(&mut c, 1, &new);
    assert_eq!(cached(&c), 1);

    // Replaced behind the card's back (an older record written into flash, no command in
    // between): the cache holds the new key for slot 1, but its fingerprint no longer matches.
    c.platform_mut().store().write(0xCC01, &old_record).unwrap();
    signs_for(&mut c, 1, &old);
}

#[test]
fn a_replaced_rsa_key_signs_with_the_new_key() {
    let mut c = initialized(72);
    let digest_info = {
        let mut t = common::PREFIX_SHA256.to_vec();
        t.extend_from_slice(&HASH);
        t
    };
    let mut publics = Vec::new();
    for _ in 0..2 {
        let (_, public) = gen_rsa(&mut c, 3, 1024, &[1, 0, 1]);
        for _ in 0..3 {
            let (sig, sw) = txb(&mut c, &apdu(0x80, 0x68, 3, 0x30, &digest_info));
            assert_eq!(sw, 0x9000);
            public
                .verify(Pkcs1v15Sign::new_unprefixed(), &digest_info, &sig)
                .expect("signature of the current key");
        }
        assert_eq!(cached(&c), 1);
        publics.push(public);
    }
    assert_ne!(publics[0], publics[1]);
}

#[test]
fn many_rsa_signatures_through_one_cached_key() {
    // More than one blinding pair serves (hsm_crypto::asym::rsa::BLINDING_USES).
    let mut c = initialized(73);
    let (_, public) = gen_rsa(&mut c, 4, 1024, &[1, 0, 1]);
    let uses = 2 * hsm_crypto::asym::rsa::BLINDING_USES + 1;
    for i in 0..uses {
        let mut t = common::PREFIX_SHA256.to_vec();
        t.extend_from_slice(&[i as u8; 32]);
        let (sig, sw) = txb(&mut c, &apdu(0x80, 0x68, 4, 0x30, &t));
        assert_eq!(sw, 0x9000);
        public.verify(Pkcs1v15Sign::new_unprefixed(), &t, &sig).unwrap();
    }
    assert_eq!(cached(&c), 1);
}

#[test]
fn verify_logout_and_reset_empty_the_cache() {
    let mut c = initialized(74);
    let public = public_point(&gen_ec(&mut c, 1, Curve::Secp256r1, &[]), Curve::Secp256r1).to_vec();
    // A status VERIFY (no PIN), a correct one, a wrong one: each empties it.
    for verify in ["0020008100", VERIFY, "0020008106313131313131"] {
        signs_for(&mut c, 1, &public);
        assert_eq!(cached(&c), 1);
        tx(&mut c, verify);
        assert_eq!(cached(&c), 0, "after {verify}");
        login(&mut c);
    }
    signs_for(&mut c, 1, &public);
    reselect(&mut c);
    assert_eq!(cached(&c), 0, "after reset");
    // Logged out by the reset: the gate refuses, whatever the cache held.
    assert_eq!(sign(&mut c, 1).1, 0x6982);
    login(&mut c);
    signs_for(&mut c, 1, &public);
    // SELECT of the application starts a new session.
    tx(&mut c, common::SELECT_AID);
    assert_eq!(cached(&c), 0, "after SELECT of the application");
}

#[test]
fn key_and_pin_management_empty_the_cache() {
    let mut c = initialized(75);
    let public = public_point(&gen_ec(&mut c, 1, Curve::Secp256r1, &[]), Curve::Secp256r1).to_vec();
    gen_ec(&mut c, 2, Curve::Secp256r1, &[]);
    let commands: [(&str, Vec<u8>); 7] = [
        ("CHANGE REFERENCE DATA", h("002400810C363438323139363438323139")),
        ("RESET RETRY COUNTER", h("002C018108 3537363231383830")),
        ("DELETE FILE of another key", h("00E4000002CC02")),
        (
            "GENERATE into another slot",
            apdu(0x00, 0x46, 5, 0x00, &keygen_data(&ec_template(Curve::Secp256r1), &[])),
        ),
        ("UNWRAP KEY", apdu(0x80, 0x74, 6, 0x93, &[0u8; 40])),
        ("GENERATE SYMMETRIC KEY", h("00480780B2")),
        ("UPDATE BINARY", h("00D7CD010553 03 010203")),
    ];
    for (name, command) in commands {
        signs_for(&mut c, 1, &public);
        assert_eq!(cached(&c), 1);
        // Success or refusal does not matter: the cache is emptied before the command runs.
        txb(&mut c, &command);
        assert_eq!(cached(&c), 0, "after {name}");
        login(&mut c);
    }
}

#[test]
fn a_cached_key_is_not_used_after_initialize() {
    let mut c = initialized(76);
    let public = public_point(&gen_ec(&mut c, 1, Curve::Secp256r1, &[]), Curve::Secp256r1).to_vec();
    signs_for(&mut c, 1, &public);
    assert_eq!(cached(&c), 1);
    assert_eq!(tx(&mut c, INIT).1, 0x9000);
    assert_eq!(cached(&c), 0);
    // INITIALIZE leaves the SO's fresh session authenticated; the key is gone.
    assert_eq!(sign(&mut c, 1).1, 0x6A82);
}

#[test]
fn the_gate_still_runs_on_every_use() {
    let mut c = initialized(77);
    // Two uses allowed (metadata 90), ECDSA with SHA-256 on the card (73) not among the algorithms.
    let extra = h("9004 00000002 9101 70");
    let public = public_point(&gen_ec(&mut c, 1, Curve::Secp256r1, &extra), Curve::Secp256r1).to_vec();
    signs_for(&mut c, 1, &public);
    assert_eq!(cached(&c), 1);
    assert_eq!(txb(&mut c, &apdu(0x80, 0x68, 1, 0x73, b"data")).1, 0x6985);
    signs_for(&mut c, 1, &public);
    assert_eq!(sign(&mut c, 1).1, 0x6A84, "use counter spent, cached or not");
}

#[test]
fn the_budget_bounds_the_cache() {
    let mut c = initialized(78);
    c.set_key_cache_budget(KeyCacheBudget {
        entries: 2,
        bytes: 32 * 1024,
    });
    let publics: Vec<Vec<u8>> = (1..=3)
        .map(|id| public_point(&gen_ec(&mut c, id, Curve::Secp256r1, &[]), Curve::Secp256r1).to_vec())
        .collect();
    for round in 0..2 {
        for (id, public) in (1..=3).zip(&publics) {
            signs_for(&mut c, id, public);
            assert!(cached(&c) <= 2, "round {round}");
        }
    }
    // An RSA-1024 key is estimated at 20 × 128 bytes: a budget below that keeps none of it.
    c.set_key_cache_budget(KeyCacheBudget {
        entries: 8,
        bytes: 1024,
    });
    let (_, rsa_public) = gen_rsa(&mut c, 4, 1024, &[1, 0, 1]);
    let mut t = common::PREFIX_SHA256.to_vec();
    t.extend_from_slice(&HASH);
    let (sig, sw) = txb(&mut c, &apdu(0x80, 0x68, 4, 0x30, &t));
    assert_eq!(sw, 0x9000);
    rsa_public.verify(Pkcs1v15Sign::new_unprefixed(), &t, &sig).unwrap();
    assert_eq!(cached(&c), 0);
    assert!(c.key_cache_usage().1 <= 1024);
    // Turned off: nothing is kept.
    c.set_key_cache_budget(KeyCacheBudget { entries: 0, bytes: 0 });
    signs_for(&mut c, 1, &publics[0]);
    assert_eq!(cached(&c), 0);
}
