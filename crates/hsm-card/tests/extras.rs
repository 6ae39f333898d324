//! EXTRAS (80 64, reference §3.26): dynamic options (06) with press-to-confirm and the key
//! counter on all keys, and the secure lock (3A). The host side of the secure-lock exchange is
//! written here from the reference (P-256 ECDH, HKDF-SHA256, ChaCha20-Poly1305), not from the
//! card's code.

mod common;

use common::*;
use hsm_crypto::asym::Curve;

const OPTIONS_GET: &str = "8064060000";
const KEY: u8 = 1;

fn options(c: &mut TestCard) -> u16 {
    let (data, sw) = tx(c, OPTIONS_GET);
    assert_eq!(sw, 0x9000, "options");
    assert_eq!(data.len(), 2);
    u16::from_be_bytes([data[0], data[1]])
}

fn set_options(c: &mut TestCard, hi: u8) -> u16 {
    txb(c, &apdu(0x80, 0x64, 0x06, 0x00, &[hi])).1
}

fn sign_apdu(id: u8) -> Vec<u8> {
    apdu(0x80, 0x68, id, 0x70, &[0x42; 32])
}

fn sign(c: &mut TestCard, id: u8) -> u16 {
    txb(c, &sign_apdu(id)).1
}

/// A key agreement, then 3A `p2` with `secret`; the status word.
fn lock(c: &mut TestCard, rng: &mut u64, p2: u8, secret: &[u8; 32]) -> u16 {
    let host = Host::agree(c, rng);
    txb(c, &apdu(0x80, 0x64, 0x3A, p2, &host.seal(secret))).1
}

fn card_with_key(seed: u64) -> TestCard {
    let mut c = initialized(seed);
    gen_ec(&mut c, KEY, Curve::Secp256r1, &h("90040000000A"));
    assert_eq!(sign(&mut c, KEY), 0x9000);
    c
}

#[test]
fn options_round_trip_and_persist() {
    let seed = 0xE0;
    let mut c = initialized(seed);
    assert_eq!(options(&mut c), 0x0001, "INITIALIZE's options");
    assert_eq!(set_options(&mut c, 0x02), 0x9000);
    assert_eq!(options(&mut c), 0x0201);
    // The secure-lock bit is not an option to set: it stays what the lock record says.
    assert_eq!(set_options(&mut c, 0x06), 0x9000);
    assert_eq!(options(&mut c), 0x0201);

    let mut c = power_cycle(c, seed);
    assert_eq!(tx(&mut c, OPTIONS_GET).1, 0x6982, "needs the user PIN");
    login(&mut c);
    assert_eq!(options(&mut c), 0x0201, "after a power cycle");

    refused(&mut c, &apdu(0x80, 0x64, 0x06, 0x00, &[0x01, 0x02]), 0x6700);
    refused(&mut c, &h("8064060100"), 0x6A86);
    refused(&mut c, &apdu(0x80, 0x64, 0x06, 0x01, &[0x01]), 0x6A86);
    refused(&mut c, &h("80640A0000"), 0x6A86);
    refused(&mut c, &h("8064FF0000"), 0x6A86);
    assert_eq!(set_options(&mut c, 0x00), 0x9000);
    assert_eq!(options(&mut c), 0x0001);
}

#[test]
fn counter_on_all_keys() {
    let mut c = initialized(0xE1);
    assert_eq!(set_options(&mut c, 0x02), 0x9000);
    gen_ec(&mut c, 2, Curve::Secp256r1, &[]);
    let meta = fci_metadata(&mut c, 2).expect("metadata");
    assert!(
        meta.windows(6).any(|w| w == [0x90, 0x04, 0xFF, 0xFF, 0xFF, 0xFE]),
        "default counter in {}",
        hex::encode(&meta)
    );
    assert_eq!(set_options(&mut c, 0x00), 0x9000);
    gen_ec(&mut c, 3, Curve::Secp256r1, &[]);
    let meta = fci_metadata(&mut c, 3).unwrap_or_default();
    assert!(!meta.windows(2).any(|w| w == [0x90, 0x04]), "no counter");
}

#[test]
fn press_to_confirm() {
    let mut c = card_with_key(0xE2);
    assert_eq!(set_options(&mut c, 0x01), 0x9000);
    c.platform_mut().set_confirm(false);
    let asked = c.platform_mut().confirmations();
    // Not confirmed: 6600, the use counter untouched, nothing written.
    refused(&mut c, &sign_apdu(KEY), 0x6600);
    refused(&mut c, &h(OPTIONS_GET), 0x6600);
    assert!(c.platform_mut().confirmations() >= asked + 2);
    // Checks that come first still answer as before, without asking.
    let asked = c.platform_mut().confirmations();
    refused(&mut c, &sign_apdu(9), 0x6A82);
    assert_eq!(c.platform_mut().confirmations(), asked);

    c.platform_mut().set_confirm(true);
    assert_eq!(sign(&mut c, KEY), 0x9000);
    assert_eq!(options(&mut c), 0x0101);
    assert_eq!(set_options(&mut c, 0x00), 0x9000);
    c.platform_mut().set_confirm(false);
    assert_eq!(sign(&mut c, KEY), 0x9000, "option off: no button");
}

#[test]
fn secure_lock_cycle() {
    let seed = 0xE3;
    let mut rng = seed << 32;
    let secret = [0x5A; 32];
    let mut c = card_with_key(seed);

    assert_eq!(lock(&mut c, &mut rng, 0x02, &secret), 0x9000, "enable");
    assert_eq!(options(&mut c), 0x0401);
    assert_eq!(sign(&mut c, KEY), 0x9000, "the enabling session keeps its keys");

    // After a restart the PIN verifies, but keys stay sealed until the secret comes.
    let mut c = power_cycle(c, seed);
    // Every sub-command needs the user PIN, the key agreement too.
    refused(&mut c, &apdu(0x80, 0x64, 0x3A, 0x01, &[0x04; 65]), 0x6982);
    login(&mut c);
    assert_eq!(options(&mut c), 0x0401);
    refused(&mut c, &sign_apdu(KEY), 0x6400);
    let host = Host::agree(&mut c, &mut rng);
    refused(&mut c, &apdu(0x80, 0x64, 0x3A, 0x03, &host.seal(&[0xA5; 32])), 0x6982);
    refused(&mut c, &sign_apdu(KEY), 0x6400);
    // INITIALIZE of a locked device needs the secret in the session.
    refused(&mut c, &init_apdu(&[]), 0x6982);

    assert_eq!(lock(&mut c, &mut rng, 0x03, &secret), 0x9000, "unlock");
    assert_eq!(sign(&mut c, KEY), 0x9000);
    // The secret stays until the device restarts, as upstream's mkek_mask: a new SELECT and
    // login, or a card reset (pcscd powering the card down), keep the keys usable.
    reselect(&mut c);
    login(&mut c);
    assert_eq!(sign(&mut c, KEY), 0x9000, "reselected");
    c.reset();
    reselect(&mut c);
    refused(&mut c, &sign_apdu(KEY), 0x6982);
    login(&mut c);
    assert_eq!(sign(&mut c, KEY), 0x9000, "after a card reset");
    assert_eq!(lock(&mut c, &mut rng, 0x03, &secret), 0x9000);
    // PIN changes work while locked, and the new PIN needs the secret as well.
    assert_eq!(tx(&mut c, "002400810C363438323139313131313131").1, 0x9000);
    let host = Host::agree(&mut c, &mut rng);
    let enable_other = apdu(0x80, 0x64, 0x3A, 0x02, &host.seal(&[0x11; 32]));
    refused(&mut c, &enable_other, 0x6982);

    let mut c = power_cycle(c, seed);
    assert_eq!(tx(&mut c, "0020008106313131313131").1, 0x9000);
    refused(&mut c, &sign_apdu(KEY), 0x6400);
    assert_eq!(lock(&mut c, &mut rng, 0x03, &secret), 0x9000);
    assert_eq!(sign(&mut c, KEY), 0x9000);
    let host = Host::agree(&mut c, &mut rng);
    refused(&mut c, &apdu(0x80, 0x64, 0x3A, 0x04, &host.seal(&[0xA5; 32])), 0x6982);
    assert_eq!(lock(&mut c, &mut rng, 0x04, &secret), 0x9000, "disable");
    assert_eq!(options(&mut c), 0x0001);
    assert_eq!(sign(&mut c, KEY), 0x9000);

    let mut c = power_cycle(c, seed);
    assert_eq!(tx(&mut c, "0020008106313131313131").1, 0x9000);
    assert_eq!(sign(&mut c, KEY), 0x9000, "no secret needed any more");
    // Unlock and disable with the lock off change nothing.
    let host = Host::agree(&mut c, &mut rng);
    refused(&mut c, &apdu(0x80, 0x64, 0x3A, 0x03, &host.seal(&secret)), 0x9000);
    let host = Host::agree(&mut c, &mut rng);
    refused(&mut c, &apdu(0x80, 0x64, 0x3A, 0x04, &host.seal(&secret)), 0x9000);
}

#[test]
fn secure_lock_so_pin_needs_the_secret_too() {
    let seed = 0xE4;
    let mut rng = seed << 32;
    let secret = [0x77; 32];
    let mut c = card_with_key(seed);
    assert_eq!(lock(&mut c, &mut rng, 0x02, &secret), 0x9000);
    let mut c = power_cycle(c, seed);
    // The SO-PIN resets the user PIN while locked (the PIN share is rewrapped, no secret needed)…
    assert_eq!(tx(&mut c, "0020008808 3537363231383830").1, 0x9000);
    assert_eq!(tx(&mut c, "002C028106 313131313131").1, 0x9000);
    reselect(&mut c);
    assert_eq!(tx(&mut c, "0020008106313131313131").1, 0x9000);
    // …and the new user PIN still needs the secret.
    refused(&mut c, &sign_apdu(KEY), 0x6400);
    assert_eq!(lock(&mut c, &mut rng, 0x03, &secret), 0x9000);
    assert_eq!(sign(&mut c, KEY), 0x9000);
    // INITIALIZE in a session that supplied the secret wipes the lock with everything else.
    assert_eq!(txb(&mut c, &init_apdu(&[])).1, 0x9000);
    assert_eq!(options(&mut c), 0x0001);
}

#[test]
fn secure_lock_malformed() {
    let seed = 0xE5;
    let mut rng = seed << 32;
    let secret = [0x33; 32];
    let mut c = card_with_key(seed);

    // No agreement yet.
    refused(&mut c, &apdu(0x80, 0x64, 0x3A, 0x02, &[0u8; 48]), 0x6986);
    // Empty data, unknown P2, bad points.
    refused(&mut c, &h("80643A0100"), 0x6700);
    refused(&mut c, &h("80643A0200"), 0x6700);
    refused(&mut c, &apdu(0x80, 0x64, 0x3A, 0x05, &[0u8; 48]), 0x6A86);
    refused(&mut c, &apdu(0x80, 0x64, 0x3A, 0x01, &[0x04; 64]), 0x6A80);
    let mut off_curve = vec![0x04];
    off_curve.extend_from_slice(&[0x01; 64]);
    refused(&mut c, &apdu(0x80, 0x64, 0x3A, 0x01, &off_curve), 0x6A80);
    let host = Host::agree(&mut c, &mut rng);
    let mut compressed = host.public.clone();
    compressed.truncate(33);
    compressed[0] = 0x02;
    refused(&mut c, &apdu(0x80, 0x64, 0x3A, 0x01, &compressed), 0x6A80);

    // Wrong lengths, a bad tag; each attempt uses up its agreement.
    for (p2, mutate) in [(0x02u8, 0usize), (0x02, 1), (0x02, 2), (0x03, 1), (0x04, 2)] {
        let host = Host::agree(&mut c, &mut rng);
        let mut ct = host.seal(&secret);
        let want = match mutate {
            0 => {
                ct.pop();
                0x6700
            }
            1 => {
                ct.push(0);
                0x6700
            }
            _ => {
                ct[40] ^= 1;
                0x6A80
            }
        };
        refused(&mut c, &apdu(0x80, 0x64, 0x3A, p2, &ct), want);
        refused(&mut c, &apdu(0x80, 0x64, 0x3A, p2, &host.seal(&secret)), 0x6986);
    }
    // A 32-byte secret sealed with a different AAD (another host point) is refused.
    let host = Host::agree(&mut c, &mut rng);
    let other = Host {
        public: vec![0x04; 65],
        key: host.key,
        nonce: host.nonce,
    };
    refused(&mut c, &apdu(0x80, 0x64, 0x3A, 0x02, &other.seal(&secret)), 0x6A80);
    assert_eq!(options(&mut c), 0x0001, "lock still off");
    assert_eq!(lock(&mut c, &mut rng, 0x02, &secret), 0x9000);
    assert_eq!(options(&mut c), 0x0401);
}
