//! No secret outlives its replacement in flash (DESIGN §4): after a PIN change, a DELETE of a key, a
//! re-INITIALIZE and a key replacement, the raw flash image holds no byte sequence of the old records
//! (the PIN record with the MKEK sealed under the old PIN, the sealed keys, everything INITIALIZE wiped),
//! also after a power cycle.

mod common;

use std::collections::HashSet;

use common::*;
use hsm_card::Platform;
use hsm_card::files::fid;
use hsm_crypto::asym::Curve;

const WINDOW: usize = 16;

/// A file of the main store as it is stored (sealed records included).
fn stored(c: &mut TestCard, f: u16) -> Vec<u8> {
    c.platform_mut().store().read_all(f).unwrap()
}

/// Whether the whole of `old` lies in the raw main-store image.
fn on_flash(c: &mut TestCard, old: &[u8]) -> bool {
    let [main, _] = flash_images(c);
    main.windows(old.len()).any(|w| w == old)
}

/// How many `WINDOW`-byte windows of `old` occur in the raw main-store image, but in no current file
/// (a new PIN record keeps the verifier of an unchanged PIN, for example). Runs of one byte (erased
/// flash is all `FF`, overwritten data all `00`) are no trace.
fn traces(c: &mut TestCard, old: &[u8]) -> usize {
    let [main, _] = flash_images(c);
    let index: HashSet<&[u8]> = main.windows(WINDOW).collect();
    let store = c.platform_mut().store();
    let fids: Vec<u16> = store.fids().collect();
    let current: Vec<Vec<u8>> = fids.into_iter().map(|f| store.read_all(f).unwrap()).collect();
    let current: HashSet<&[u8]> = current.iter().flat_map(|d| d.windows(WINDOW)).collect();
    old.windows(WINDOW)
        .filter(|w| w.iter().any(|&b| b != w[0]))
        .filter(|w| index.contains(*w) && !current.contains(*w))
        .count()
}

/// `old` is on flash now, and none of it after `op`, nor after a power cycle.
fn gone_after(c: TestCard, seed: u64, old: &[(&str, Vec<u8>)], op: impl FnOnce(&mut TestCard)) -> TestCard {
    let mut c = c;
    for (what, bytes) in old {
        assert!(bytes.len() > WINDOW, "{what}: too short to search for");
        assert!(on_flash(&mut c, bytes), "{what}: not on flash before");
    }
    op(&mut c);
    for (what, bytes) in old {
        let n = traces(&mut c, bytes);
        assert_eq!(n, 0, "{what}: {n} windows still in the flash image");
    }
    let mut c = power_cycle(c, seed);
    for (what, bytes) in old {
        assert_eq!(traces(&mut c, bytes), 0, "{what}: back after a power cycle");
    }
    c
}

#[test]
fn pin_change_leaves_no_old_pin_record() {
    let mut c = initialized(1);
    let old = vec![(
        "user PIN record (MKEK sealed under the old PIN)",
        stored(&mut c, fid::USER_PIN),
    )];
    let mut c = gone_after(c, 1, &old, |c| {
        // CHANGE REFERENCE DATA: 648219 → 135790.
        assert_eq!(tx(c, "002400810C363438323139313335373930").1, 0x9000);
    });
    assert_eq!(tx(&mut c, "0020008106313335373930").1, 0x9000, "the new PIN works");
    // And the SO-PIN record.
    let old = vec![("SO-PIN record", stored(&mut c, fid::SO_PIN))];
    gone_after(c, 1, &old, |c| {
        assert_eq!(tx(c, "00240088103537363231383830 3132333435363738").1, 0x9000);
    });
}

#[test]
fn deleted_key_leaves_nothing() {
    let mut c = initialized(2);
    gen_ec(&mut c, 1, Curve::Secp256r1, &[]);
    gen_ec(&mut c, 2, Curve::Secp256r1, &[]);
    let old = vec![("sealed key 1", stored(&mut c, 0xCC01))];
    let keep = stored(&mut c, 0xCC02);
    let mut c = gone_after(c, 2, &old, |c| {
        assert_eq!(tx(c, "00E4000002CC01").1, 0x9000);
    });
    login(&mut c);
    assert!(on_flash(&mut c, &keep), "the other key is still there");
}

#[test]
fn replaced_key_leaves_nothing() {
    let mut c = initialized(3);
    gen_ec(&mut c, 1, Curve::Secp256r1, &[]);
    let old = vec![("sealed key before replacement", stored(&mut c, 0xCC01))];
    gone_after(c, 3, &old, |c| {
        gen_ec(c, 1, Curve::Secp384r1, &[]);
    });
}

#[test]
fn reinitialize_leaves_nothing_of_the_old_device() {
    let mut c = initialized(4);
    gen_ec(&mut c, 1, Curve::Secp256r1, &[]);
    gen_ec(&mut c, 2, Curve::Secp256k1, &[]);
    assert_eq!(update_binary(&mut c, 0xCD01, &[0x5A; 300]), 0x9000);
    let mut old = Vec::new();
    let files: Vec<u16> = c.platform_mut().store().fids().collect();
    for f in files {
        if matches!(
            f,
            fid::DEVICE_KEY | fid::DEVICE_PRKD | fid::DEVICE_REQUEST | fid::C_DEVAUT
        ) {
            continue;
        }
        let bytes = stored(&mut c, f);
        // Short or constant files (options, retry counters) prove nothing in a byte search.
        if bytes.len() > 2 * WINDOW && bytes.windows(2).any(|w| w[0] != w[1]) {
            old.push((format!("file {f:04X}"), bytes));
        }
    }
    assert!(old.len() >= 5, "{} files", old.len());
    let old: Vec<(&str, Vec<u8>)> = old.iter().map(|(w, b)| (w.as_str(), b.clone())).collect();
    let mut c = gone_after(c, 4, &old, |c| {
        assert_eq!(txb(c, &init_apdu(&[])).1, 0x9000, "re-INITIALIZE");
    });
    login(&mut c);
}
