//! Card-level power cuts (issue 10 item 4): each state-changing command runs with the power cut at
//! every one of its flash operations in turn (main and counters stores share one supply, so the cut
//! lands wherever that operation goes). After each cut the device reboots (both stores remounted,
//! same device secret) and must be in the state before the command or the state after it: the PINs
//! of that state work, no retry came back, no key became usable under a looser policy, and what the
//! command did not touch is all still there.
//!
//! Each test first runs the command without a cut to count its flash operations, and checks that
//! the checker tells the state before from the state after. Every cut point is tested (no sampling).

mod common;

use std::time::Instant;

use common::*;
use hsm_card::testing::{COUNTERS_SIZE, CutFlash, MAIN_SIZE, Power, RamPlatform};
use hsm_card::{Card, Platform};
use hsm_crypto::asym::Curve;
use hsm_store::Store;
use hsm_store::flash::RamFlash;

type PcCard = Card<RamPlatform<CutFlash>>;

/// The device secret and entropy of every boot.
const SEED: u64 = 0x5EED_0010;
/// The user PIN and SO-PIN of [`INIT`], and the ones the commands change them to.
const PIN: &str = "363438323139";
const SO_PIN: &str = "3537363231383830";
const NEW_PIN: &str = "313233343536";
const NEW_SO_PIN: &str = "3132333435363738";
const WRONG_PIN: &str = "303030303030";
/// A protected data object every device gets, and its content.
const DATA: u16 = 0xCD01;
/// The user key every device gets, allowed ECDSA on a given hash and WRAP KEY (`91 02 70 92`) only.
const KEY: u8 = 1;
const KEY_META: &str = "91027092";

/// The flash images of a powered-off device.
#[derive(Clone)]
struct Image {
    main: RamFlash,
    counters: RamFlash,
}

impl Image {
    fn blank() -> Self {
        Image {
            main: RamFlash::new(MAIN_SIZE),
            counters: RamFlash::new(COUNTERS_SIZE),
        }
    }
}

/// Powers the device on: both stores mounted on one fresh power supply, the card selected. Mount
/// must find nothing but what power cuts leave.
fn boot(img: &Image) -> (PcCard, Power) {
    let power = Power::new();
    let mount = |flash: &RamFlash| {
        let store = Store::mount(CutFlash::new(flash.clone(), &power)).expect("mount after a power cut");
        assert!(store.report().is_clean(), "mount after a cut: {:?}", store.report());
        store
    };
    let (main, counters) = (mount(&img.main), mount(&img.counters));
    let mut c = Card::new(RamPlatform::from_stores(main, counters, SEED));
    assert_eq!(tx(&mut c, SELECT_AID).1, 0x9000, "SELECT after boot");
    (c, power)
}

/// Mounts both stores of `img` with the power cut at operation `cut` of the mounts' recovery (none:
/// counts them); the images the mounts left, and the count of their flash operations.
fn mount_cut(img: &Image, cut: Option<u64>) -> (Image, u64) {
    let power = Power::new();
    if let Some(op) = cut {
        power.cut_at(op, op ^ 0x00C0_FFEE);
    }
    let main = CutFlash::new(img.main.clone(), &power);
    let counters = CutFlash::new(img.counters.clone(), &power);
    let (m, k) = (main.shared(), counters.shared());
    // A cut makes a mount fail (or the next one): what the flashes hold is what counts.
    let _ = Store::mount(main).and_then(|_| Store::mount(counters));
    let (main, counters) = (m.borrow().clone(), k.borrow().clone());
    (Image { main, counters }, power.ops())
}

/// Powers the device off (the flashes as the card, or a cut, left them).
fn power_off(c: PcCard) -> Image {
    let (main, counters) = c.into_platform().into_stores();
    Image {
        main: main.into_flash().into_inner(),
        counters: counters.into_flash().into_inner(),
    }
}

/// A content of `len` bytes, different for each `tag`.
fn content(tag: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(tag)).collect()
}

/// UPDATE BINARY of `data` at `offset` of file `f`; the status word.
fn update_at<P: Platform>(c: &mut Card<P>, f: u16, offset: u16, data: &[u8]) -> u16 {
    let mut body = vec![0x54, 0x02];
    body.extend_from_slice(&offset.to_be_bytes());
    body.extend_from_slice(&[0x53, 0x82]);
    body.extend_from_slice(&(data.len() as u16).to_be_bytes());
    body.extend_from_slice(data);
    let [hi, lo] = f.to_be_bytes();
    txb(c, &apdu(0x00, 0xD7, hi, lo, &body)).1
}

/// VERIFY of PIN reference `p2` with `pin` (hex; empty: the status query).
fn verify(c: &mut PcCard, p2: u8, pin: &str) -> u16 {
    let pin = h(pin);
    let mut v = vec![0x00, 0x20, 0x00, p2];
    if !pin.is_empty() {
        v.push(pin.len() as u8);
        v.extend_from_slice(&pin);
    }
    txb(c, &v).1
}

/// The retries left of PIN reference `p2` from the VERIFY status query (no session open).
fn retries(c: &mut PcCard, p2: u8) -> u8 {
    match verify(c, p2, "") {
        0x6983 => 0,
        sw if sw & 0xFFF0 == 0x63C0 => (sw & 0xF) as u8,
        sw => panic!("VERIFY status of {p2:02X}: {sw:04X}"),
    }
}

/// Whether key `id` signs (ECDSA, hash given): a good signature under `public` (the point of the
/// key's request), or 6A82. Anything else fails the test.
fn key_signs(c: &mut PcCard, id: u8, public: &[u8]) -> bool {
    let hash = [0x5A; 32];
    let (sig, sw) = txb(c, &apdu(0x80, 0x68, id, 0x70, &hash));
    match sw {
        0x9000 => {
            Curve::Secp256r1
                .verify_ecdsa_prehash(public, &hash, &sig)
                .expect("signature of the key");
            true
        }
        0x6A82 => false,
        sw => panic!("signing with key {id}: {sw:04X}"),
    }
}

/// Whether the store holds file `f` (main store).
fn has_file(c: &mut PcCard, f: u16) -> bool {
    c.platform_mut().store().contains(f)
}

/// What a device was prepared with: its image and the public point of [`KEY`].
struct Device {
    image: Image,
    public: Vec<u8>,
}

/// A device initialized with [`INIT`] plus `extra` TLVs, holding [`KEY`] (policy [`KEY_META`]) and
/// [`DATA`]; `more` runs last with the user PIN verified.
fn device(extra: &str, more: impl FnOnce(&mut PcCard)) -> Device {
    let power = Power::new();
    let mut c = fresh_on(RamPlatform::with_power(SEED, &power), extra);
    login(&mut c);
    more(&mut c);
    let req = gen_ec(&mut c, KEY, Curve::Secp256r1, &h(KEY_META));
    let public = public_point(&req, Curve::Secp256r1).to_vec();
    assert_eq!(update_at(&mut c, DATA, 0, &content(1, 700)), 0x9000);
    Device {
        image: power_off(c),
        public,
    }
}

/// After a VERIFY: [`KEY`] signs under its policy only, [`DATA`] reads back as written.
fn others_intact(c: &mut PcCard, d: &Device) {
    assert!(key_signs(c, KEY, &d.public), "key {KEY} lost");
    assert_eq!(fci_metadata(c, KEY), Some(h(KEY_META)), "policy of key {KEY}");
    assert_eq!(
        read_binary(c, DATA),
        (content(1, 700), 0x9000),
        "data object {DATA:04X}"
    );
}

/// The state a check found after a cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Found {
    /// As before the command.
    Old,
    /// As after the command.
    New,
    /// Only for a new key: there, under exactly its policy, but without all of its public files
    /// (PKCS#15 description, request), which are written after it (see `generate_into_a_free_slot`).
    Bare,
    /// Only for DERIVE: the source key's use spent, no derived key (the result never left).
    Spent,
}

/// A command under test: what runs before it in every boot (not cut), the command with the status
/// word it answers without a cut, and the check that classifies a rebooted device (panicking on
/// anything that is neither the old nor the new state).
#[derive(Clone, Copy)]
struct Case<'a> {
    name: &'a str,
    before: &'a Image,
    prepare: &'a dyn Fn(&mut PcCard),
    command: &'a dyn Fn(&mut PcCard) -> u16,
    answer: u16,
    check: &'a dyn Fn(&mut PcCard) -> Found,
}

/// Runs `case` once without a cut and once with a cut at each of its flash operations; returns the
/// number of cut points. A cut run whose command still answered as without a cut must have reached
/// the new state.
fn every_cut(case: &Case<'_>) -> u64 {
    let started = Instant::now();
    let (mut c, _) = boot(case.before);
    assert_eq!((case.check)(&mut c), Found::Old, "{}: the state before", case.name);

    let (mut c, power) = boot(case.before);
    (case.prepare)(&mut c);
    let start = power.ops();
    assert_eq!((case.command)(&mut c), case.answer, "{} without a cut", case.name);
    let n = power.ops() - start;
    assert!(n > 0, "{} writes nothing", case.name);
    let (mut c, _) = boot(&power_off(c));
    assert_eq!((case.check)(&mut c), Found::New, "{}: the state after", case.name);

    let mut found = Vec::new();
    let mut recovery_cuts = 0;
    for k in 0..n {
        let (mut c, power) = boot(case.before);
        (case.prepare)(&mut c);
        power.cut_at(start + k, k);
        let sw = (case.command)(&mut c);
        assert!(
            power.is_cut(),
            "{}: no operation {k} of {n} (answer {sw:04X})",
            case.name
        );
        let img = power_off(c);
        let (mut c, _) = boot(&img);
        let f = (case.check)(&mut c);
        assert!(
            sw != case.answer || f == Found::New,
            "{}: cut at {k} of {n} answered {sw:04X} but left {f:?}",
            case.name
        );
        found.push(f);
        // The recovery of the first mount after the cut, cut in turn: the same state.
        let (_, ops) = mount_cut(&img, None);
        for r in 0..ops {
            let (again, _) = mount_cut(&img, Some(r));
            let (mut c, _) = boot(&again);
            let g = (case.check)(&mut c);
            assert_eq!(g, f, "{}: cut at {k} of {n}, then at {r} of the recovery", case.name);
        }
        recovery_cuts += ops;
    }
    let count = |s| found.iter().filter(|f| **f == s).count();
    eprintln!(
        "{}: {n} cut points ({} old, {} new, {} bare, {} spent), {recovery_cuts} in recoveries, {:.1?}",
        case.name,
        count(Found::Old),
        count(Found::New),
        count(Found::Bare),
        count(Found::Spent),
        started.elapsed()
    );
    n
}

/// Where a cut run's command finds garbage collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gc {
    /// Nowhere: a young device whose log has free sectors.
    No,
    /// In the main store: its log has wrapped, and the command needs a new sector.
    Main,
    /// In the counters store, likewise.
    Counters,
}

/// Sectors erased since mount in the main store (or the counters store).
fn erased(c: &mut PcCard, counters: bool) -> u64 {
    let p = c.platform_mut();
    let store = if counters { p.counters() } else { p.store() };
    store.stats().sectors_erased
}

/// [`every_cut`] on `case.before`, or on it worn until the command (without a cut) runs a
/// garbage-collection step in the store `gc` names.
fn run(gc: Gc, case: &Case<'_>) -> u64 {
    if gc == Gc::No {
        return every_cut(case);
    }
    let counters = gc == Gc::Counters;
    // One small change of the store: a data object rewritten and another one made again with a
    // length that varies (so that the log's head meets every offset, whatever the records of the
    // command), or the retry counter spent and restored (three records: an odd count, so that a
    // one-record command meets every offset).
    let step = |c: &mut PcCard, i: usize| {
        if counters {
            assert_eq!(verify(c, 0x81, WRONG_PIN), 0x63C2);
        }
        log_in(c);
        if !counters {
            assert_eq!(update_at(c, 0xCD0E, 0, &content(i as u8, 500)), 0x9000);
            assert!(matches!(tx(c, "00E40000 02 CD0D").1, 0x9000 | 0x6A82));
            assert_eq!(update_at(c, 0xCD0D, 0, &content(i as u8, 1 + (i * 37) % 300)), 0x9000);
        }
    };
    // Until the log has wrapped: garbage collection has run once.
    let (mut worn, _) = boot(case.before);
    for i in 0.. {
        step(&mut worn, i);
        if !counters {
            assert_eq!(update_at(&mut worn, 0xCD0F, 0, &content(i as u8, 4000)), 0x9000);
        }
        if erased(&mut worn, counters) > 0 {
            break;
        }
    }
    for i in 0..1000 {
        let p = worn.platform_mut();
        let main = p.store().flash_mut().inner().clone();
        let img = Image {
            main,
            counters: p.counters().flash_mut().inner().clone(),
        };
        let (mut c, _) = boot(&img);
        (case.prepare)(&mut c);
        let before = erased(&mut c, counters);
        assert_eq!((case.command)(&mut c), case.answer, "{} on a worn device", case.name);
        if erased(&mut c, counters) > before {
            let name = format!("{} during {gc:?} garbage collection", case.name);
            return every_cut(&Case {
                name: &name,
                before: &img,
                ..*case
            });
        }
        step(&mut worn, i);
    }
    panic!("{}: no garbage collection", case.name);
}

fn nothing(_: &mut PcCard) {}

/// The image of `img` after `f` ran on it.
fn after(img: &Image, f: impl FnOnce(&mut PcCard)) -> Image {
    let (mut c, _) = boot(img);
    f(&mut c);
    power_off(c)
}

fn log_in(c: &mut PcCard) {
    assert_eq!(verify(c, 0x81, PIN), 0x9000, "VERIFY");
}

// ---------------------------------------------------------------------------------------------
// INITIALIZE

/// The first INITIALIZE: a blank device, or an initialized one with both PINs; never one PIN only.
fn initialize_first_time_on(gc: Gc) {
    let before = Image::blank();
    run(
        gc,
        &Case {
            name: "INITIALIZE (first)",
            before: &before,
            prepare: &nothing,
            command: &|c| tx(c, INIT).1,
            answer: 0x9000,
            check: &|c| {
                let user = verify(c, 0x81, "");
                let so = verify(c, 0x88, "");
                if (user, so) == (0x6A88, 0x6A88) {
                    assert_eq!(tx(c, INIT).1, 0x9000, "INITIALIZE after the cut");
                    return Found::Old;
                }
                assert_eq!((user, so), (0x63C3, 0x63CF), "a half-initialized device");
                assert_eq!(verify(c, 0x88, SO_PIN), 0x9000);
                assert_eq!(verify(c, 0x81, PIN), 0x9000);
                let (chain, sw) = read_binary(c, 0x2F02);
                assert_eq!(sw, 0x9000, "C_DevAut");
                let certs = hsm_apdu::tlv::Reader::new(&chain)
                    .map(|i| i.unwrap().tag)
                    .collect::<Vec<_>>();
                assert_eq!(certs, [0x7F21, 0x7F21], "device certificate ‖ issuer certificate");
                assert_eq!(read_binary(c, 0xCE00).1, 0x9000, "the device request");
                Found::New
            },
        },
    );
}

/// Re-INITIALIZE (new user PIN, same SO-PIN) of a device with a key and a data object: the old
/// device whole, or the new one empty. INITIALIZE stores its journal in one write, then applies
/// it; a cut after the journal landed is finished by the next power-on (`Card::new`). Never an
/// uninitialized device (this failed before the journal), never a new PIN that opens old keys.
fn reinitialize_on(gc: Gc) {
    let d = device("", nothing);
    let init = init_apdu(&h("8106 313233343536"));
    run(
        gc,
        &Case {
            name: "INITIALIZE (again)",
            before: &d.image,
            prepare: &nothing,
            command: &|c| txb(c, &init).1,
            answer: 0x9000,
            check: &|c| {
                match (verify(c, 0x81, ""), verify(c, 0x88, "")) {
                    // The check of the SO-PIN may have spent a retry it did not give back.
                    (0x63C3, 0x63CE | 0x63CF) => {}
                    other => panic!("half-initialized device: {other:04X?}"),
                }
                if verify(c, 0x81, PIN) == 0x9000 {
                    others_intact(c, &d);
                    assert_eq!(verify(c, 0x88, SO_PIN), 0x9000);
                    return Found::Old;
                }
                assert_eq!(verify(c, 0x81, NEW_PIN), 0x9000, "neither PIN works");
                assert_eq!(verify(c, 0x88, SO_PIN), 0x9000);
                assert!(!key_signs(c, KEY, &d.public), "old key under the new PIN");
                assert_eq!(read_binary(c, DATA).1, 0x6A82, "old data under the new PIN");
                assert_eq!(tx(c, "8058000000").0, h("CC00"), "keys of the new device");
                Found::New
            },
        },
    );
}

/// Re-INITIALIZE with a wrong SO-PIN: refused (6982), the SO retry spent durably before the answer,
/// nothing else changed.
fn reinitialize_with_a_wrong_so_pin_on(gc: Gc) {
    let d = device("", nothing);
    let wrong = h("8050000019 800200018106363438323139820835373632313838319101 03");
    run(
        gc,
        &Case {
            name: "INITIALIZE (wrong SO-PIN)",
            before: &d.image,
            prepare: &nothing,
            command: &|c| txb(c, &wrong).1,
            answer: 0x6982,
            check: &|c| {
                let f = match retries(c, 0x88) {
                    15 => Found::Old,
                    14 => Found::New,
                    n => panic!("{n} SO-PIN retries"),
                };
                log_in(c);
                others_intact(c, &d);
                assert_eq!(verify(c, 0x88, SO_PIN), 0x9000);
                f
            },
        },
    );
}

// ---------------------------------------------------------------------------------------------
// PINs

/// Exactly one of `old` and `new` verifies (PIN reference `p2`); which one.
fn which_pin(c: &mut PcCard, p2: u8, old: &str, new: &str) -> Found {
    let with_old = verify(c, p2, old) == 0x9000;
    let with_new = verify(c, p2, new) == 0x9000;
    assert!(
        with_old != with_new,
        "old PIN works: {with_old}, new PIN works: {with_new}"
    );
    if with_old { Found::Old } else { Found::New }
}

fn change_user_pin_on(gc: Gc) {
    let d = device("", nothing);
    let change = format!("00240081 0C {PIN} {NEW_PIN}");
    run(
        gc,
        &Case {
            name: "CHANGE REFERENCE DATA (user)",
            before: &d.image,
            prepare: &nothing,
            command: &|c| tx(c, &change).1,
            answer: 0x9000,
            check: &|c| {
                // The check of the old PIN may have spent a retry it did not give back; no more.
                assert!((2..=3).contains(&retries(c, 0x81)));
                let f = which_pin(c, 0x81, PIN, NEW_PIN);
                let pin = if f == Found::Old { PIN } else { NEW_PIN };
                assert_eq!(verify(c, 0x81, pin), 0x9000);
                others_intact(c, &d);
                f
            },
        },
    );
}

fn change_so_pin_on(gc: Gc) {
    let d = device("", nothing);
    let change = format!("00240088 10 {SO_PIN} {NEW_SO_PIN}");
    run(
        gc,
        &Case {
            name: "CHANGE REFERENCE DATA (SO)",
            before: &d.image,
            prepare: &nothing,
            command: &|c| tx(c, &change).1,
            answer: 0x9000,
            check: &|c| {
                assert!((14..=15).contains(&retries(c, 0x88)));
                let f = which_pin(c, 0x88, SO_PIN, NEW_SO_PIN);
                // The MKEK the SO-PIN record holds is the one the keys are sealed under: RESET RETRY
                // COUNTER with the working SO-PIN sets a user PIN that opens the keys.
                let so = if f == Found::Old { SO_PIN } else { NEW_SO_PIN };
                assert_eq!(tx(c, &format!("002C0081 0E {so} {NEW_PIN}")).1, 0x9000);
                assert_eq!(verify(c, 0x81, NEW_PIN), 0x9000);
                others_intact(c, &d);
                f
            },
        },
    );
}

/// RESET RETRY COUNTER with a new PIN, of a user PIN with a retry spent: the old PIN with the
/// retries it had, or the new PIN (whose counter may still be the old one: never more than `max`).
fn reset_retry_counter_with_new_pin_on(gc: Gc) {
    let d = device("", nothing);
    let before = after(&d.image, |c| assert_eq!(verify(c, 0x81, WRONG_PIN), 0x63C2));
    let reset = format!("002C0081 0E {SO_PIN} {NEW_PIN}");
    run(
        gc,
        &Case {
            name: "RESET RETRY COUNTER (new PIN)",
            before: &before,
            prepare: &nothing,
            command: &|c| tx(c, &reset).1,
            answer: 0x9000,
            check: &|c| {
                let left = retries(c, 0x81);
                assert!((14..=15).contains(&retries(c, 0x88)), "SO retries");
                // Try the new PIN first: in the old state that costs the old PIN a retry it can afford.
                let f = if verify(c, 0x81, NEW_PIN) == 0x9000 {
                    assert!((2..=3).contains(&left), "new PIN with {left} retries");
                    assert_ne!(verify(c, 0x81, PIN), 0x9000, "old PIN too");
                    assert_eq!(verify(c, 0x81, NEW_PIN), 0x9000);
                    Found::New
                } else {
                    assert!(left <= 2, "old PIN with {left} retries: a retry came back");
                    assert_eq!(verify(c, 0x81, PIN), 0x9000, "neither PIN works");
                    Found::Old
                };
                others_intact(c, &d);
                f
            },
        },
    );
}

/// RESET RETRY COUNTER without a new PIN (options 0021) of a blocked user PIN: still blocked, or
/// unblocked with all its retries; the PIN works once unblocked.
fn reset_retry_counter_only_on(gc: Gc) {
    let d = device("80020021", nothing);
    let before = after(&d.image, |c| {
        for sw in [0x63C2, 0x63C1, 0x6983] {
            assert_eq!(verify(c, 0x81, WRONG_PIN), sw);
        }
    });
    let reset = format!("002C0181 08 {SO_PIN}");
    run(
        gc,
        &Case {
            name: "RESET RETRY COUNTER (only)",
            before: &before,
            prepare: &nothing,
            command: &|c| tx(c, &reset).1,
            answer: 0x9000,
            check: &|c| {
                assert!((14..=15).contains(&retries(c, 0x88)), "SO retries");
                match retries(c, 0x81) {
                    0 => {
                        assert_eq!(verify(c, 0x81, PIN), 0x6983, "blocked PIN verified");
                        Found::Old
                    }
                    3 => {
                        log_in(c);
                        others_intact(c, &d);
                        Found::New
                    }
                    n => panic!("{n} retries after a reset cut short"),
                }
            },
        },
    );
}

/// A wrong VERIFY: the retry is spent (durably, before the answer) or the guess was never
/// compared. Its only answer, 63C2, must never come with the retry given back.
fn verify_wrong_pin_on(gc: Gc) {
    let d = device("", nothing);
    run(
        gc,
        &Case {
            name: "VERIFY (wrong PIN)",
            before: &d.image,
            prepare: &nothing,
            command: &|c| verify(c, 0x81, WRONG_PIN),
            answer: 0x63C2,
            check: &|c| {
                let f = match retries(c, 0x81) {
                    3 => Found::Old,
                    2 => Found::New,
                    n => panic!("{n} retries"),
                };
                log_in(c);
                others_intact(c, &d);
                f
            },
        },
    );
}

/// A right VERIFY of a PIN with a retry spent: the counter goes down before the comparison and
/// back to the maximum after it; a cut never leaves more than before unless the PIN was right.
fn verify_right_pin_restores_the_counter_on(gc: Gc) {
    let d = device("", nothing);
    let before = after(&d.image, |c| assert_eq!(verify(c, 0x81, WRONG_PIN), 0x63C2));
    run(
        gc,
        &Case {
            name: "VERIFY (right PIN)",
            before: &before,
            prepare: &nothing,
            command: &|c| verify(c, 0x81, PIN),
            answer: 0x9000,
            check: &|c| {
                let f = match retries(c, 0x81) {
                    1 | 2 => Found::Old,
                    3 => Found::New,
                    n => panic!("{n} retries"),
                };
                log_in(c);
                others_intact(c, &d);
                f
            },
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Files and keys

/// DELETE FILE of a key with a policy: the key with its policy, or no key at all.
fn delete_key_on(gc: Gc) {
    let d = device("", nothing);
    let data = content(1, 700);
    run(
        gc,
        &Case {
            name: "DELETE FILE (key)",
            before: &d.image,
            prepare: &log_in,
            command: &|c| tx(c, "00E40000 02 CC01").1,
            answer: 0x9000,
            check: &|c| {
                log_in(c);
                assert_eq!(read_binary(c, DATA), (data.clone(), 0x9000));
                if key_signs(c, KEY, &d.public) {
                    assert_eq!(fci_metadata(c, KEY), Some(h(KEY_META)), "key under another policy");
                    let sw = txb(c, &apdu(0x80, 0x68, KEY, 0x73, b"message")).1;
                    assert_eq!(sw, 0x6985, "algorithm outside the policy");
                    return Found::Old;
                }
                assert_eq!(txb(c, &select_apdu(0xCC01)).1, 0x6A82);
                Found::New
            },
        },
    );
}

/// DELETE FILE of a data object: there as it was, or gone.
fn delete_data_object_on(gc: Gc) {
    let d = device("", nothing);
    run(
        gc,
        &Case {
            name: "DELETE FILE (data object)",
            before: &d.image,
            prepare: &log_in,
            command: &|c| tx(c, "00E40000 02 CD01").1,
            answer: 0x9000,
            check: &|c| {
                log_in(c);
                assert!(key_signs(c, KEY, &d.public));
                match read_binary(c, DATA) {
                    (v, 0x9000) => {
                        assert_eq!(v, content(1, 700));
                        Found::Old
                    }
                    (_, 0x6A82) => Found::New,
                    (_, sw) => panic!("READ BINARY: {sw:04X}"),
                }
            },
        },
    );
}

/// UPDATE BINARY of file `f` at `offset`: `f` holds `old` (`None`: absent) or `new`.
fn update_case(gc: Gc, name: &str, f: u16, offset: u16, chunk: &[u8], old: Option<Vec<u8>>, new: Vec<u8>) {
    let d = device("", nothing);
    let before = match &old {
        Some(v) if f != DATA => after(&d.image, |c| {
            log_in(c);
            assert_eq!(update_at(c, f, 0, v), 0x9000);
        }),
        _ => d.image.clone(),
    };
    run(
        gc,
        &Case {
            name,
            before: &before,
            prepare: &log_in,
            command: &|c| update_at(c, f, offset, chunk),
            answer: 0x9000,
            check: &|c| {
                log_in(c);
                assert!(key_signs(c, KEY, &d.public));
                let (v, sw) = read_binary(c, f);
                let found = match sw {
                    0x6A82 if old.is_none() => Found::Old,
                    0x9000 if Some(&v) == old.as_ref() => Found::Old,
                    0x9000 if v == new => Found::New,
                    _ => panic!("{name}: {f:04X} holds {} bytes, {sw:04X}", v.len()),
                };
                if f != DATA {
                    assert_eq!(read_binary(c, DATA), (content(1, 700), 0x9000));
                }
                found
            },
        },
    );
}

fn update_binary_new_object_on(gc: Gc) {
    let new = content(2, 1500);
    update_case(gc, "UPDATE BINARY (new)", 0xCD02, 0, &new.clone(), None, new);
}

fn update_binary_replace_on(gc: Gc) {
    let new = content(3, 900);
    update_case(
        gc,
        "UPDATE BINARY (replace)",
        DATA,
        0,
        &new.clone(),
        Some(content(1, 700)),
        new,
    );
}

/// The second chunk of a chunked write (at an offset inside the file, growing it).
fn update_binary_chunk_at_offset_on(gc: Gc) {
    let old = content(1, 700);
    let chunk = content(4, 500);
    let mut new = old[..600].to_vec();
    new.extend_from_slice(&chunk);
    update_case(gc, "UPDATE BINARY (offset 600)", DATA, 600, &chunk, Some(old), new);
}

/// GENERATE of a P-256 key into slot `id` with metadata `meta` (hex), and the public point of the
/// key it makes on `img`: generation is deterministic from the boot on, so every run makes it.
fn generation(img: &Image, id: u8, meta: &str) -> (Vec<u8>, Vec<u8>) {
    let gen_apdu = apdu(
        0x00,
        0x46,
        id,
        0x00,
        &keygen_data(&ec_template(Curve::Secp256r1), &h(meta)),
    );
    let (mut c, _) = boot(img);
    log_in(&mut c);
    let (req, sw) = txb(&mut c, &gen_apdu);
    assert_eq!(sw, 0x9000);
    (gen_apdu, public_point(&req, Curve::Secp256r1).to_vec())
}

/// GENERATE ASYMMETRIC KEY PAIR into a free slot: the key with its policy, PKCS#15 description and
/// request, or no key. The key and its policy are one write (keys.rs `store_key`); the description
/// and the request follow, so a cut between leaves the key under exactly its policy without them
/// (usable, but hidden from PKCS#15 hosts until they are written).
fn generate_into_a_free_slot_on(gc: Gc) {
    let d = device("", nothing);
    let id = 2;
    let (gen_apdu, public) = generation(&d.image, id, KEY_META);
    let files = [0xCC02, 0xC402, 0xCE02];
    run(
        gc,
        &Case {
            name: "GENERATE (free slot)",
            before: &d.image,
            prepare: &log_in,
            command: &|c| txb(c, &gen_apdu).1,
            answer: 0x9000,
            check: &|c| {
                log_in(c);
                others_intact(c, &d);
                assert!(!has_file(c, 0xD002), "metadata outside the key file");
                let present: Vec<bool> = files.iter().map(|f| has_file(c, *f)).collect();
                if key_signs(c, id, &public) {
                    assert_eq!(fci_metadata(c, id), Some(h(KEY_META)), "key under another policy");
                    // The request (CE02) comes after the description (C402), which comes after the key.
                    return match present[..] {
                        [true, true, true] => Found::New,
                        [true, true, false] | [true, false, false] => Found::Bare,
                        _ => panic!("files of the new key: {present:?}"),
                    };
                }
                assert_eq!(present[..], [false; 3], "a key that is not there left files");
                Found::Old
            },
        },
    );
}

/// GENERATE into a slot whose key has a use counter and a narrow policy, with a looser policy (no
/// counter, one more algorithm): the old key under exactly its old policy and uses, or the new key
/// under exactly the new policy; never one key under the other's policy. A cut after the key file
/// leaves the new key with the old key's request (written last), which names the old public key.
fn generate_into_an_occupied_slot_on(gc: Gc) {
    let id = 3;
    let old_meta = "9004 00000002 910170";
    let new_meta = "91027073";
    let mut old_public = Vec::new();
    let d = device("", |c| {
        let req = gen_ec(c, id, Curve::Secp256r1, &h(old_meta));
        old_public = public_point(&req, Curve::Secp256r1).to_vec();
        // One use spent: the counter the old key must keep.
        assert!(key_signs(c, id, &old_public));
    });
    let (gen_apdu, new_public) = generation(&d.image, id, new_meta);
    let request_public = |c: &mut PcCard| {
        let (req, sw) = read_binary(c, 0xCE03);
        assert_eq!(sw, 0x9000, "request of key {id}");
        public_point(&req, Curve::Secp256r1).to_vec()
    };
    run(
        gc,
        &Case {
            name: "GENERATE (occupied slot)",
            before: &d.image,
            prepare: &log_in,
            command: &|c| txb(c, &gen_apdu).1,
            answer: 0x9000,
            check: &|c| {
                log_in(c);
                others_intact(c, &d);
                assert!(has_file(c, 0xC403), "description of key {id}");
                // The policy as SELECT shows it, before a signature spends a use.
                let meta = fci_metadata(c, id);
                if meta == Some(h(&format!("9004 00000001 {}", &old_meta[14..]))) {
                    assert!(key_signs(c, id, &old_public), "old key under its policy");
                    assert_eq!(request_public(c), old_public);
                    let sw = txb(c, &apdu(0x80, 0x68, id, 0x73, b"message")).1;
                    assert_eq!(sw, 0x6A84, "old key's uses");
                    return Found::Old;
                }
                assert_eq!(meta, Some(h(new_meta)), "key {id} policy");
                assert!(key_signs(c, id, &new_public), "new key under its policy");
                let sw = txb(c, &apdu(0x80, 0x68, id, 0x73, b"message")).1;
                assert_eq!(sw, 0x9000, "new key, algorithm of its policy");
                if request_public(c) == new_public {
                    Found::New
                } else {
                    Found::Bare
                }
            },
        },
    );
}

/// DERIVE EC KEY from a key with a use counter into a free slot: the source's use is spent before
/// the derived key is stored, so a cut leaves the old state, the use spent without a result, or
/// both done; never a derived key with the source's use intact.
fn derive_with_a_use_counter_on(gc: Gc) {
    let (src, dst) = (3, 4);
    let mut public = Vec::new();
    let d = device("", |c| {
        let req = gen_ec(c, src, Curve::Secp256r1, &h("9004 00000002 91027098"));
        public = public_point(&req, Curve::Secp256r1).to_vec();
    });
    let mut data = vec![0x98];
    data.extend_from_slice(&[0x11; 32]);
    let derive = apdu(0x80, 0x76, src, dst, &data);
    run(
        gc,
        &Case {
            name: "DERIVE EC KEY (use counter)",
            before: &d.image,
            prepare: &log_in,
            command: &|c| txb(c, &derive).1,
            answer: 0x9000,
            check: &|c| {
                log_in(c);
                others_intact(c, &d);
                let meta = fci_metadata(c, src);
                let spent = match meta.as_deref() {
                    Some(m) if m == h("9004 00000002 91027098") => false,
                    Some(m) if m == h("9004 00000001 91027098") => true,
                    _ => panic!("key {src} metadata {meta:02X?}"),
                };
                assert!(key_signs(c, src, &public), "source key");
                let derived = has_file(c, u16::from_be_bytes([0xCC, dst]));
                match (spent, derived) {
                    (false, false) => Found::Old,
                    (true, false) => Found::Spent,
                    (true, true) => {
                        let sw = txb(c, &apdu(0x80, 0x68, dst, 0x70, &[0x5A; 32])).1;
                        assert_eq!(sw, 0x9000, "derived key signs");
                        Found::New
                    }
                    (false, true) => panic!("a derived key without the source's use spent"),
                }
            },
        },
    );
}

/// KEY DOMAIN share import (80 52 00 00) of the one share of domain 0: no share and no DKEK, or
/// the DKEK whose check value is the share's, with which keys wrap.
fn import_dkek_share_on(gc: Gc) {
    let d = device("920101", nothing);
    let share = sha256(&[b"power cut share"]);
    let mut import = vec![0x80, 0x52, 0x00, 0x00, 32];
    import.extend_from_slice(&share);
    import.push(0);
    run(
        gc,
        &Case {
            name: "IMPORT DKEK share",
            before: &d.image,
            prepare: &log_in,
            command: &|c| txb(c, &import).1,
            answer: 0x9000,
            check: &|c| {
                log_in(c);
                others_intact(c, &d);
                let (status, sw) = domain(c, 0);
                assert_eq!(sw, 0x9000);
                match status[..2] {
                    [1, 1] => {
                        assert_eq!(txb(c, &wrap_apdu(KEY)).1, 0x6A88, "WRAP without a DKEK");
                        Found::Old
                    }
                    [1, 0] => {
                        assert_eq!(status[2..], kcv(&share), "KCV");
                        assert_eq!(wrapped(c, KEY)[..8], kcv(&share), "blob KCV");
                        Found::New
                    }
                    _ => panic!("domain status {}", hex::encode(&status)),
                }
            },
        },
    );
}

/// UNWRAP KEY of [`KEY`]'s blob into a free slot: the key with the blob's policy, or nothing of it.
fn unwrap_into_a_free_slot_on(gc: Gc) {
    let share = sha256(&[b"power cut share"]);
    let d = device("920101", |c| {
        let mut import = vec![0x80, 0x52, 0x00, 0x00, 32];
        import.extend_from_slice(&share);
        import.push(0);
        assert_eq!(txb(c, &import).1, 0x9000);
    });
    let id = 5;
    let (mut c, _) = boot(&d.image);
    log_in(&mut c);
    let blob = wrapped(&mut c, KEY);
    unwrap(&mut c, id, &blob);
    let meta = fci_metadata(&mut c, id);
    let files = [0xCC05, 0xC405];
    run(
        gc,
        &Case {
            name: "UNWRAP KEY (free slot)",
            before: &d.image,
            prepare: &log_in,
            command: &|c| txb(c, &unwrap_apdu(id, &blob)).1,
            answer: 0x9000,
            check: &|c| {
                log_in(c);
                others_intact(c, &d);
                let present: Vec<bool> = files.iter().map(|f| has_file(c, *f)).collect();
                if key_signs(c, id, &d.public) {
                    assert_eq!(fci_metadata(c, id), meta, "key under another policy");
                    return if present[1] { Found::New } else { Found::Bare };
                }
                // Its policy may be there without it (see `generate_into_a_free_slot`).
                assert_eq!(present, [false; 2], "a key that is not there left files");
                Found::Old
            },
        },
    );
}

/// COMPUTE SIGNATURE with a key that has a use counter: the use is spent, durably, before the
/// signature leaves the card (a cut run that answers 9000 must find it spent).
fn sign_with_a_use_counter_on(gc: Gc) {
    let d = device("", nothing);
    let id = 3;
    let (mut c, _) = boot(&d.image);
    log_in(&mut c);
    let req = gen_ec(&mut c, id, Curve::Secp256r1, &h("9004 00000002 910170"));
    let public = public_point(&req, Curve::Secp256r1).to_vec();
    let before = power_off(c);
    let sign = apdu(0x80, 0x68, id, 0x70, &[0x5A; 32]);
    run(
        gc,
        &Case {
            name: "COMPUTE SIGNATURE (use counter)",
            before: &before,
            prepare: &log_in,
            command: &|c| txb(c, &sign).1,
            answer: 0x9000,
            check: &|c| {
                log_in(c);
                others_intact(c, &d);
                let meta = fci_metadata(c, id);
                let f = match meta.as_deref().map(|m| &m[..6]) {
                    Some([0x90, 4, 0, 0, 0, 2]) => Found::Old,
                    Some([0x90, 4, 0, 0, 0, 1]) => Found::New,
                    _ => panic!("key {id} metadata {meta:02X?}"),
                };
                assert!(key_signs(c, id, &public), "key {id} with uses left");
                f
            },
        },
    );
}

/// KEY DOMAIN delete (80 52 03 d) of a domain with a DKEK and no keys: the domain with its DKEK,
/// or a free slot without the sealed DKEK (a delete cut short is finished at the next power-on);
/// configured again, it never gets the old DKEK back.
fn delete_key_domain_on(gc: Gc) {
    let share = sha256(&[b"power cut domain share"]);
    let mut import = vec![0x80, 0x52, 0x00, 0x01, 32];
    import.extend_from_slice(&share);
    import.push(0);
    let d = device("970102", |c| {
        assert_eq!(txb(c, &h("80520101 01 01 00")).1, 0x9000, "domain 1 created");
        assert_eq!(txb(c, &import).1, 0x9000, "share imported");
    });
    let mut with_dkek = vec![1, 0];
    with_dkek.extend_from_slice(&kcv(&share));
    run(
        gc,
        &Case {
            name: "KEY DOMAIN delete",
            before: &d.image,
            prepare: &log_in,
            command: &|c| tx(c, "80520301").1,
            // What upstream's hosts expect after a successful delete.
            answer: 0x6A88,
            check: &|c| {
                log_in(c);
                others_intact(c, &d);
                match domain(c, 1) {
                    (v, 0x9000) if v == with_dkek => return Found::Old,
                    (v, 0x6A88) if v.is_empty() => {}
                    (v, sw) => panic!("domain 1: {} {sw:04X}", hex::encode(v)),
                }
                // A delete cut short is finished at power-on: no sealed DKEK stays behind.
                assert!(!has_file(c, 0x1091), "DKEK of the deleted domain 1");
                let (v, sw) = txb(c, &h("80520101 01 01 00"));
                assert_eq!((v, sw), ([vec![1, 1], vec![0; 8]].concat(), 0x9000), "domain 1 again");
                Found::New
            },
        },
    );
}

#[test]
fn initialize_first_time() {
    initialize_first_time_on(Gc::No);
}

#[test]
fn reinitialize() {
    reinitialize_on(Gc::No);
}

#[test]
fn reinitialize_during_gc() {
    reinitialize_on(Gc::Main);
}

#[test]
fn reinitialize_with_a_wrong_so_pin() {
    reinitialize_with_a_wrong_so_pin_on(Gc::No);
}

#[test]
fn reinitialize_with_a_wrong_so_pin_during_gc() {
    reinitialize_with_a_wrong_so_pin_on(Gc::Counters);
}

#[test]
fn change_user_pin() {
    change_user_pin_on(Gc::No);
}

#[test]
fn change_user_pin_during_gc() {
    change_user_pin_on(Gc::Main);
}

#[test]
fn change_so_pin() {
    change_so_pin_on(Gc::No);
}

#[test]
fn change_so_pin_during_gc() {
    change_so_pin_on(Gc::Main);
}

#[test]
fn reset_retry_counter_with_new_pin() {
    reset_retry_counter_with_new_pin_on(Gc::No);
}

#[test]
fn reset_retry_counter_only() {
    reset_retry_counter_only_on(Gc::No);
}

#[test]
fn verify_wrong_pin() {
    verify_wrong_pin_on(Gc::No);
}

#[test]
fn verify_wrong_pin_during_gc() {
    verify_wrong_pin_on(Gc::Counters);
}

#[test]
fn verify_right_pin_restores_the_counter() {
    verify_right_pin_restores_the_counter_on(Gc::No);
}

#[test]
fn delete_key() {
    delete_key_on(Gc::No);
}

#[test]
fn delete_key_during_gc() {
    delete_key_on(Gc::Main);
}

#[test]
fn delete_data_object() {
    delete_data_object_on(Gc::No);
}

#[test]
fn delete_data_object_during_gc() {
    delete_data_object_on(Gc::Main);
}

#[test]
fn update_binary_new_object() {
    update_binary_new_object_on(Gc::No);
}

#[test]
fn update_binary_replace() {
    update_binary_replace_on(Gc::No);
}

#[test]
fn update_binary_replace_during_gc() {
    update_binary_replace_on(Gc::Main);
}

#[test]
fn update_binary_chunk_at_offset() {
    update_binary_chunk_at_offset_on(Gc::No);
}

#[test]
fn generate_into_a_free_slot() {
    generate_into_a_free_slot_on(Gc::No);
}

#[test]
fn generate_into_a_free_slot_during_gc() {
    generate_into_a_free_slot_on(Gc::Main);
}

#[test]
fn generate_into_an_occupied_slot() {
    generate_into_an_occupied_slot_on(Gc::No);
}

#[test]
fn generate_into_an_occupied_slot_during_gc() {
    generate_into_an_occupied_slot_on(Gc::Main);
}

#[test]
fn derive_with_a_use_counter() {
    derive_with_a_use_counter_on(Gc::No);
}

#[test]
fn derive_with_a_use_counter_during_gc() {
    derive_with_a_use_counter_on(Gc::Counters);
}

#[test]
fn import_dkek_share() {
    import_dkek_share_on(Gc::No);
}

#[test]
fn import_dkek_share_during_gc() {
    import_dkek_share_on(Gc::Main);
}

#[test]
fn unwrap_into_a_free_slot() {
    unwrap_into_a_free_slot_on(Gc::No);
}

#[test]
fn unwrap_into_a_free_slot_during_gc() {
    unwrap_into_a_free_slot_on(Gc::Main);
}

#[test]
fn sign_with_a_use_counter() {
    sign_with_a_use_counter_on(Gc::No);
}

#[test]
fn sign_with_a_use_counter_during_gc() {
    sign_with_a_use_counter_on(Gc::Counters);
}

#[test]
fn delete_key_domain() {
    delete_key_domain_on(Gc::No);
}

#[test]
fn delete_key_domain_during_gc() {
    delete_key_domain_on(Gc::Main);
}

// ---------------------------------------------------------------------------------------------
// Secure lock (EXTRAS 3A)

/// The host secret of the secure-lock cases.
const LOCK_SECRET: [u8; 32] = [0x5C; 32];

/// Whether the secure lock is on, with the user PIN verified: off → [`KEY`] signs at once; on →
/// it answers 6400 until the secret unlocks it, then signs. Anything else fails the test.
fn lock_state(c: &mut PcCard, d: &Device) -> Found {
    log_in(c);
    let (_, sw) = txb(c, &apdu(0x80, 0x68, KEY, 0x70, &[0x5A; 32]));
    let found = match sw {
        0x9000 => Found::Old,
        0x6400 => {
            let mut seq = 0x10C0;
            let host = Host::agree(c, &mut seq);
            let sw = txb(c, &apdu(0x80, 0x64, 0x3A, 0x03, &host.seal(&LOCK_SECRET))).1;
            assert_eq!(sw, 0x9000, "unlock with the secret");
            Found::New
        }
        sw => panic!("signing before unlock: {sw:04X}"),
    };
    let (opts, sw) = tx(c, "8064060000");
    assert_eq!(sw, 0x9000);
    let locked = opts.first().is_some_and(|b| b & 0x04 != 0);
    assert_eq!(locked, found == Found::New, "option 0400 against the lock state");
    others_intact(c, d);
    found
}

fn secure_lock_enable_on(gc: Gc) {
    let d = device("", nothing);
    let sealed = std::cell::RefCell::new(Vec::new());
    run(
        gc,
        &Case {
            name: "EXTRAS secure lock enable",
            before: &d.image,
            prepare: &|c| {
                log_in(c);
                let mut seq = 0x10C1;
                let host = Host::agree(c, &mut seq);
                *sealed.borrow_mut() = host.seal(&LOCK_SECRET);
            },
            command: &|c| txb(c, &apdu(0x80, 0x64, 0x3A, 0x02, &sealed.borrow())).1,
            answer: 0x9000,
            check: &|c| lock_state(c, &d),
        },
    );
}

fn secure_lock_disable_on(gc: Gc) {
    let d = device("", nothing);
    let locked = Device {
        image: after(&d.image, |c| {
            log_in(c);
            let mut seq = 0x10C2;
            let host = Host::agree(c, &mut seq);
            let sw = txb(c, &apdu(0x80, 0x64, 0x3A, 0x02, &host.seal(&LOCK_SECRET))).1;
            assert_eq!(sw, 0x9000, "enable");
        }),
        public: d.public.clone(),
    };
    let sealed = std::cell::RefCell::new(Vec::new());
    run(
        gc,
        &Case {
            name: "EXTRAS secure lock disable",
            before: &locked.image,
            prepare: &|c| {
                log_in(c);
                let mut seq = 0x10C3;
                let host = Host::agree(c, &mut seq);
                *sealed.borrow_mut() = host.seal(&LOCK_SECRET);
            },
            command: &|c| txb(c, &apdu(0x80, 0x64, 0x3A, 0x04, &sealed.borrow())).1,
            answer: 0x9000,
            // Here the lock on is the state before.
            check: &|c| match lock_state(c, &locked) {
                Found::New => Found::Old,
                _ => Found::New,
            },
        },
    );
}

#[test]
fn secure_lock_enable() {
    secure_lock_enable_on(Gc::No);
}

#[test]
fn secure_lock_enable_during_gc() {
    secure_lock_enable_on(Gc::Main);
}

#[test]
fn secure_lock_disable() {
    secure_lock_disable_on(Gc::No);
}

// ---------------------------------------------------------------------------------------------
// PKA

/// A PUK registration request's content (`67` value): a P-256 key of the `p256` crate, CHR
/// `PUKCUT00001`, outer signature by another key.
fn puk_request() -> Vec<u8> {
    use p256::ecdsa::signature::Signer;
    let owner = p256::ecdsa::SigningKey::from_slice(&[0x45; 32]).unwrap();
    let device = p256::ecdsa::SigningKey::from_slice(&[0x46; 32]).unwrap();
    let sign = |k: &p256::ecdsa::SigningKey, m: &[u8]| {
        let s: p256::ecdsa::Signature = k.sign(m);
        s.to_bytes().to_vec()
    };
    let q: [u8; 65] = owner
        .verifying_key()
        .to_sec1_point(false)
        .as_bytes()
        .try_into()
        .unwrap();
    let body = hsm_card::cvc::body(b"UTCA00001", &hsm_card::cvc::p256_public_key(&q), b"PUKCUT00001", false);
    let inner = hsm_card::cvc::certificate(&body, &sign(&owner, &body));
    let tbs = hsm_card::cvc::authenticated_tbs(&inner, b"ESOTHER00001");
    let mut content = tbs.clone();
    put(&mut content, 0x5F37, &sign(&device, &tbs));
    content
}

/// PUK AUTH registration (PUK file, then EF 10C0's count): the PUK registered and counted, or
/// not registered and not counted; never a slot used up without a key. (No garbage-collection
/// variant: wearing the store takes writes that need user authentication, which with PKA on the
/// PIN alone does not give.)
fn register_puk_on(gc: Gc) {
    // With PKA on, the PIN alone cannot make [`device`]'s key: a device with PKA 1 of 2 only.
    let power = Power::new();
    let image = power_off(fresh_on(RamPlatform::with_power(SEED, &power), "93020201"));
    let request = puk_request();
    run(
        gc,
        &Case {
            name: "PUK AUTH register",
            before: &image,
            prepare: &log_in,
            command: &|c| txb(c, &apdu(0x80, 0x54, 0x00, 0x00, &request)).1,
            answer: 0x9000,
            check: &|c| {
                let status = txb(c, &h("8054000000"));
                match txb(c, &h("8054020000")) {
                    (_, 0x6A88) => {
                        assert_eq!(status, (vec![2, 2, 1, 0], 0x9000));
                        Found::Old
                    }
                    (chr, 0x9000) => {
                        assert_eq!(chr, b"PUKCUT00001");
                        assert_eq!(status, (vec![2, 1, 1, 0], 0x9000));
                        Found::New
                    }
                    (_, sw) => panic!("PUK AUTH P1=02: {sw:04X}"),
                }
            },
        },
    );
}

#[test]
fn register_puk() {
    register_puk_on(Gc::No);
}

// ---------------------------------------------------------------------------------------------
// Trust store

/// A P-256 CV certificate of `key` under `chr`, issued by `issuer` as `car` (raw `r ‖ s`).
fn cv_certificate(car: &[u8], key: &p256::ecdsa::SigningKey, chr: &[u8], issuer: &p256::ecdsa::SigningKey) -> Vec<u8> {
    use p256::ecdsa::signature::Signer;
    let q: [u8; 65] = key.verifying_key().to_sec1_point(false).as_bytes().try_into().unwrap();
    let body = hsm_card::cvc::body(car, &hsm_card::cvc::p256_public_key(&q), chr, true);
    let s: p256::ecdsa::Signature = issuer.sign(&body);
    hsm_card::cvc::certificate(&body, &s.to_bytes())
}

/// PSO VERIFY CERTIFICATE stores a certificate in three writes (trust list 10B0, CA00, C800). A cut
/// leaves it untrusted with nothing to see (old), trusted with its description (new), or trusted
/// without its description C800 (bare); never a trusted certificate that was not verified, and
/// never a description or certificate file without the trust entry that vouches for it.
fn pso_verify_certificate_on(gc: Gc) {
    let root = p256::ecdsa::SigningKey::from_slice(&[0x51; 32]).unwrap();
    let dv = p256::ecdsa::SigningKey::from_slice(&[0x52; 32]).unwrap();
    let root_cert = cv_certificate(b"UTROOTCA00001", &root, b"UTROOTCA00001", &root);
    let dv_cert = cv_certificate(b"UTROOTCA00001", &dv, b"UTDVCA0000001", &root);
    // The root joins C_DevAut after the device certificate (its issuer certificate dropped, so that
    // the four entries of the store leave room).
    let d = device("", |c| {
        let (chain, _) = read_binary(c, 0x2F02);
        let (own, _) = hsm_card::cvc::Certificate::parse_prefix(&chain).unwrap();
        let mut chain = own.encoded.to_vec();
        chain.extend_from_slice(&root_cert);
        c.platform_mut().store().write(0x2F02, &chain).unwrap();
    });
    let mse_dst = |chr: &[u8]| {
        let mut v = Vec::new();
        put(&mut v, 0x83, chr);
        apdu(0x00, 0x22, 0x81, 0xB6, &v)
    };
    let select_root = |c: &mut PcCard| assert_eq!(txb(c, &mse_dst(b"UTROOTCA00001")).1, 0x9000);
    run(
        gc,
        &Case {
            name: "PSO VERIFY CERTIFICATE",
            before: &d.image,
            prepare: &select_root,
            command: &|c| txb(c, &apdu(0x00, 0x2A, 0x00, 0xBE, &dv_cert)).1,
            answer: 0x9000,
            check: &|c| {
                others_intact_after_login(c, &d);
                let trusted = match txb(c, &mse_dst(b"UTDVCA0000001")).1 {
                    0x9000 => true,
                    0x6A88 => false,
                    sw => panic!("MSE SET DST of the DV: {sw:04X}"),
                };
                let cert = read_binary(c, 0xCA00);
                let description = has_file(c, 0xC800);
                match (trusted, cert.1, description) {
                    (false, 0x6A82, false) => Found::Old,
                    (true, 0x9000, true) if cert.0 == dv_cert => Found::New,
                    (true, 0x9000, false) if cert.0 == dv_cert => Found::Bare,
                    other => panic!("trust store after a cut: {other:?}"),
                }
            },
        },
    );
}

/// [`others_intact`] in a session of its own.
fn others_intact_after_login(c: &mut PcCard, d: &Device) {
    log_in(c);
    others_intact(c, d);
    assert_eq!(tx(c, SELECT_AID).1, 0x9000);
}

#[test]
fn pso_verify_certificate() {
    pso_verify_certificate_on(Gc::No);
}

#[test]
fn pso_verify_certificate_during_gc() {
    pso_verify_certificate_on(Gc::Main);
}
