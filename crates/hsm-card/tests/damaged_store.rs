//! The card on a damaged flash image: what is intact keeps working, and a file the store cannot read
//! answers 6581 (memory failure), never 6A82 as if it had never existed.

mod common;

use common::*;
use hsm_card::testing::RamPlatform;
use hsm_card::{Card, Platform};
use hsm_store::Store;
use hsm_store::flash::RamFlash;

const E: usize = 4096;
const OBJECTS: u16 = 20;

/// A card with twenty 3000-byte private data objects (`CD01`..), as PKCS#11 data objects are stored.
fn card_with_objects(seed: u64) -> (TestCard, Vec<Vec<u8>>) {
    let mut c = initialized(seed);
    let mut contents = Vec::new();
    for i in 0..OBJECTS {
        let data = distinct(u64::from(i) + 1000 * seed, 3000);
        assert_eq!(update_binary(&mut c, 0xCD01 + i, &data), 0x9000);
        contents.push(data);
    }
    (c, contents)
}

/// Content no other object shares (splitmix64).
fn distinct(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let z = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            ((z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB) >> 56) as u8
        })
        .collect()
}

/// Damages the raw main-store image, then powers the card off and on (the store is mounted again).
fn damage_and_restart(c: TestCard, seed: u64, damage: impl FnOnce(&mut [u8])) -> TestCard {
    let (store, counters) = c.into_platform().into_stores();
    let mut image = store.into_flash().into_bytes();
    damage(&mut image);
    let store = Store::mount(RamFlash::from_bytes(image)).unwrap();
    let counters = Store::mount(counters.into_flash()).unwrap();
    let mut c = Card::new(RamPlatform::from_stores(store, counters, seed));
    assert_eq!(tx(&mut c, SELECT_AID).1, 0x9000, "SELECT after the restart");
    c
}

/// The sector of the main store holding the data of object `i` (its first bytes).
fn sector_of(c: &mut TestCard, data: &[u8]) -> usize {
    let [main, _] = flash_images(c);
    main.windows(64).position(|w| w == &data[..64]).unwrap() / E
}

/// The report: twenty objects, one bit flipped in the header of one sector in the middle of the
/// image, card restarted: all twenty still read.
#[test]
fn one_flipped_bit_in_a_sector_header_loses_nothing() {
    let (mut c, contents) = card_with_objects(1);
    let sector = sector_of(&mut c, &contents[10]);
    let mut c = damage_and_restart(c, 1, |img| img[sector * E + 9] ^= 0x04);
    login(&mut c);
    for (i, data) in contents.iter().enumerate() {
        assert_eq!(
            read_binary(&mut c, 0xCD01 + i as u16),
            (data.clone(), 0x9000),
            "object {i}"
        );
    }
    assert_eq!(c.platform_mut().store().report().repaired_sectors, vec![sector as u32]);
    // Keys and PINs work as before.
    gen_ec(&mut c, 1, hsm_crypto::asym::Curve::Secp256r1, &[]);
}

/// A bit flipped in the data of one object: that object answers 6581, the others read, and writing it
/// again heals it.
#[test]
fn damaged_object_answers_memory_failure() {
    let (mut c, contents) = card_with_objects(2);
    let [main, _] = flash_images(&mut c);
    let at = main.windows(64).position(|w| w == &contents[5][1000..1064]).unwrap();
    let mut c = damage_and_restart(c, 2, |img| img[at + 10] ^= 0x80);
    login(&mut c);
    assert_eq!(read_binary(&mut c, 0xCD06).1, 0x6581);
    for (i, data) in contents.iter().enumerate().filter(|(i, _)| *i != 5) {
        assert_eq!(
            read_binary(&mut c, 0xCD01 + i as u16),
            (data.clone(), 0x9000),
            "object {i}"
        );
    }
    // SELECT still finds it (its length is known), a partial UPDATE cannot merge into it, a whole one
    // replaces it.
    assert_eq!(txb(&mut c, &select_apdu(0xCD06)).1, 0x9000);
    assert_eq!(txb(&mut c, &h("00D7CD06 07 5402 0010 5301 AA")).1, 0x6581);
    assert_eq!(update_binary(&mut c, 0xCD06, b"rewritten after the damage"), 0x9000);
    assert_eq!(
        read_binary(&mut c, 0xCD06),
        (b"rewritten after the damage".to_vec(), 0x9000)
    );
}

/// A record header destroyed: the store cannot tell which file it belonged to. Objects it can read are
/// served; one it cannot tell exists answers 6581 to SELECT, READ BINARY and DELETE, not 6A82.
#[test]
fn unknown_file_on_a_damaged_store_is_not_reported_missing() {
    let (mut c, contents) = card_with_objects(3);
    let [main, _] = flash_images(&mut c);
    // The header of the record holding object 12's data.
    let data_at = main.windows(64).position(|w| w == &contents[12][..64]).unwrap();
    let mut c = damage_and_restart(c, 3, |img| img[data_at - 24 + 4..data_at - 24 + 12].fill(0));
    login(&mut c);
    let report = c.platform_mut().store().report().clone();
    assert!(!report.unparsed_sectors.is_empty(), "{report:?}");
    assert_eq!(read_binary(&mut c, 0xCD0D).1, 0x6581, "the damaged object");
    assert_eq!(
        read_binary(&mut c, 0xCD01),
        (contents[0].clone(), 0x9000),
        "an intact object"
    );
    for apdu in [select_apdu(0xCD55), read_binary_apdu(0xCD55), h("00E4000002CD55")] {
        assert_eq!(txb(&mut c, &apdu).1, 0x6581, "{}", hex::encode(&apdu));
    }
}
