//! Malformed and random input: every answer is a status word, nothing panics, a refused command
//! changes nothing.

mod common;

use common::{TestCard, fresh, initialized, tx, txb};
use proptest::prelude::*;

/// The card every test starts from: initialized, reset and selected, the user PIN verified if `login`.
fn ready(login: bool) -> TestCard {
    if login { initialized(99) } else { fresh(99, "") }
}

#[test]
fn malformed_apdus_get_iso_status_words() {
    let mut c = ready(true);
    let cases: &[(&str, u16)] = &[
        ("00", 0x6700),
        ("00A404", 0x6700),
        ("00B1CF01 05 5402", 0x6700),
        ("00D7CF01 04 5305 0102", 0x6700),
        ("00D7CF01 03 54 02 00", 0x6700),
        ("80500000 04 8101", 0x6700),
        ("80500000 05 8102 3132", 0x6700),
        ("80500000 06 9102 0303 00", 0x6700),
        ("00A40000 03 2F0200", 0x6700),
        ("00A40800 03 3F0050", 0x6700),
        ("00A40400 05 A000000063 00", 0x6A82),
        ("00A40010 02 2F02 00", 0x6A86),
        ("00A40500 02 2F02 00", 0x6A86),
        ("00E40000 03 CF0100", 0x6700),
        ("002C0581 00", 0x6A86),
        ("002C0082 00", 0x6A88),
        ("A0840000 08", 0x6E00),
        ("00C00000 10", 0x6985),
        // Last: a wrong PIN also ends the login the cases above ran under.
        ("00200081 02 8101 00", 0x63C2),
    ];
    for (apdu, want) in cases {
        assert_eq!(tx(&mut c, apdu).1, *want, "{apdu}");
    }
}

#[test]
fn refused_commands_change_nothing() {
    let mut c = ready(true);
    assert_eq!(tx(&mut c, "00D7CF01 08 5402 0000 5302 AAAA").1, 0x9000);
    let before = tx(&mut c, "00B1CF01 04 54020000 00");
    for bad in [
        "00D7CF01 09 5405 0000000000 5300",
        "00D7CF01 08 5402 0010 5302 BBBB",
        "00D7CF01 04 5302 BB",
    ] {
        assert_ne!(tx(&mut c, bad).1, 0x9000, "{bad}");
    }
    assert_eq!(tx(&mut c, "00B1CF01 04 54020000 00"), before);
}

/// A failed entropy source: whatever needs randomness answers 6400 (execution error) and writes nothing; the card
/// works again once the source does.
#[test]
fn failed_entropy_source_refuses_and_changes_nothing() {
    let mut c = hsm_card::Card::new(hsm_card::testing::RamPlatform::new(7));
    c.platform_mut().set_entropy_failure(true);
    assert_eq!(tx(&mut c, common::SELECT_AID).1, 0x9000);
    assert_eq!(tx(&mut c, "00840000 08").1, 0x6400, "GET CHALLENGE");
    assert_eq!(
        txb(&mut c, &common::init_apdu(&[])).1,
        0x6400,
        "INITIALIZE needs a fresh MKEK"
    );
    let empty = common::snapshot(&mut c);
    c.platform_mut().set_entropy_failure(false);
    let (challenge, sw) = tx(&mut c, "00840000 08");
    assert_eq!((challenge.len(), sw), (8, 0x9000));
    assert_eq!(txb(&mut c, &common::init_apdu(&[])).1, 0x9000);
    assert_ne!(
        common::snapshot(&mut c),
        empty,
        "INITIALIZE wrote once entropy was back"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_commands_never_panic(
        cmds in proptest::collection::vec(
            (prop::sample::select(vec![0x00u8, 0x80, 0x10, 0x0C]),
             prop::sample::select(vec![0xA4u8, 0xB0, 0xB1, 0xD7, 0xE4, 0x58, 0x20, 0x24, 0x2C, 0x84, 0x50, 0xC0, 0x12]),
             any::<u8>(), any::<u8>(),
             proptest::collection::vec(any::<u8>(), 0..300),
             any::<bool>()),
            1..24),
        login in any::<bool>(),
    ) {
        let mut c = ready(login);
        for (cla, ins, p1, p2, data, with_le) in cmds {
            let mut apdu = vec![cla, ins, p1, p2];
            if data.len() > 255 {
                apdu.push(0);
                apdu.extend_from_slice(&(data.len() as u16).to_be_bytes());
            } else if !data.is_empty() {
                apdu.push(data.len() as u8);
            }
            apdu.extend_from_slice(&data);
            if with_le {
                apdu.push(0);
            }
            let (resp, sw) = txb(&mut c, &apdu);
            prop_assert!(resp.is_empty() || sw == 0x9000 || sw >> 8 == 0x61);
        }
    }
}

/// The counters-store file a platform may keep its root in survives INITIALIZE (the RP2040
/// firmware's device root: losing it would lose every key).
#[test]
fn initialize_keeps_the_platform_root_file() {
    use hsm_card::Platform as _;
    let mut c = hsm_card::Card::new(hsm_card::testing::RamPlatform::new(8));
    let root = [0x5Au8; 32];
    c.platform_mut()
        .counters()
        .write(hsm_card::PLATFORM_ROOT_FID, &root)
        .expect("write the root file");
    assert_eq!(tx(&mut c, common::SELECT_AID).1, 0x9000);
    for _ in 0..2 {
        // First INITIALIZE of a blank device, then a re-initialization with the SO-PIN.
        assert_eq!(txb(&mut c, &common::init_apdu(&[])).1, 0x9000);
    }
    let kept = c
        .platform_mut()
        .counters()
        .read_all(hsm_card::PLATFORM_ROOT_FID)
        .expect("root file kept");
    assert_eq!(kept, root);
}

/// A wrong VERIFY ends that PIN's verified state (ISO 7816-4, DESIGN §5): the earlier login no
/// longer opens keys or files. Before issue 10 the old session stayed.
#[test]
fn wrong_verify_ends_the_login() {
    let mut c = ready(true);
    assert_eq!(tx(&mut c, "00200081").1, 0x9000, "logged in");
    assert_eq!(common::update_binary(&mut c, 0xCF01, b"x"), 0x9000);
    assert_eq!(tx(&mut c, "00200081 06 303030303030").1, 0x63C2);
    assert_eq!(tx(&mut c, "00200081").1, 0x63C2, "no longer verified");
    assert_eq!(common::update_binary(&mut c, 0xCF01, b"y"), 0x6982, "session gone");
    assert_eq!(tx(&mut c, "00200081 06 363438323139").1, 0x9000);
    assert_eq!(common::update_binary(&mut c, 0xCF01, b"z"), 0x9000);
    // The SO session the same way, without touching the user's.
    assert_eq!(tx(&mut c, "00200088 08 3537363231383830").1, 0x9000);
    let so_left = tx(&mut c, "00200088 08 3030303030303030").1;
    assert_eq!(so_left & 0xFFF0, 0x63C0, "wrong SO-PIN");
    assert_eq!(tx(&mut c, "00200088").1, so_left, "SO session closed");
    assert_eq!(tx(&mut c, "00200081").1, 0x9000, "user session kept");
}

/// A card reset reseeds the DRBG: with the entropy source failing, the first random byte after a
/// reset is refused (6400). Before issue 10 the old state kept answering.
#[test]
fn reset_reseeds_the_drbg() {
    let mut c = ready(false);
    assert_eq!(tx(&mut c, "00840000 08").1, 0x9000);
    c.platform_mut().set_entropy_failure(true);
    assert_eq!(tx(&mut c, "00840000 08").1, 0x9000, "no reseed due yet");
    common::reselect(&mut c);
    assert_eq!(
        tx(&mut c, "00840000 08").1,
        0x6400,
        "reseed after reset needs the source"
    );
    c.platform_mut().set_entropy_failure(false);
    assert_eq!(tx(&mut c, "00840000 08").1, 0x9000);
}

/// C_DevAut (2F02) is the card's own: UPDATE BINARY and DELETE FILE refuse it even with the user
/// PIN, and it survives (unchanged) for the device's attestation. Before issue 10 the user PIN could
/// replace it, and the replacement outlived INITIALIZE.
#[test]
fn c_devaut_is_written_only_by_the_card() {
    let mut c = ready(true);
    let (before, sw) = common::read_binary(&mut c, 0x2F02);
    assert_eq!(sw, 0x9000);
    assert!(!before.is_empty());
    assert_eq!(common::update_binary(&mut c, 0x2F02, b"forged chain"), 0x6982);
    assert_eq!(tx(&mut c, "00E40000 02 2F02").1, 0x6982);
    assert_eq!(common::read_binary(&mut c, 0x2F02), (before, 0x9000));
}
