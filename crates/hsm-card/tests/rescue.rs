//! The rescue applet (reference §3.27): the APDUs pypicokey sends (`PicoKey.__init__`,
//! `flash_info`, `secure_info`, `phy`, `reboot`), the clock, the device key, and every malformed
//! form refused without changing anything.

mod common;

use common::*;
use hsm_card::testing::{COUNTERS_SIZE, MAIN_SIZE, RamPlatform};
use hsm_card::{Card, Platform, Reboot};
use p256::ecdsa::signature::hazmat::PrehashVerifier;

/// pypicokey's `select_applet(rescue=True)`, byte for byte (P2 04, Le 00).
const SELECT_RESCUE: &str = "00A4040408A0583FC19B7E4F2100";
/// pypicokey's `flash_info()`: `send(0x1E, cla=0x80, p1=0x02)` (its empty Lc is one 00, Le 00 00).
const FLASH_INFO: &str = "801E0200000000";
/// pypicokey's `secure_info()`.
const SECURE_INFO: &str = "801E0300000000";
/// pypicokey's `phy()` read: P1 00, Ne 256.
const PHY_READ_PYPICOKEY: &str = "801E0000000100";
/// pypicokey's `reboot()` and `reboot(bootsel=True)`.
const REBOOT: &str = "801F0000000000";
const REBOOT_BOOTSEL: &str = "801F0100000000";

fn select_rescue<P: Platform>(c: &mut Card<P>) -> Vec<u8> {
    let (data, sw) = tx(c, SELECT_RESCUE);
    assert_eq!(sw, 0x9000, "SELECT rescue");
    data
}

fn rescue_card(seed: u64) -> TestCard {
    let mut c = fresh(seed, "");
    select_rescue(&mut c);
    c
}

fn device_point(c: &mut TestCard) -> Vec<u8> {
    tx(c, SELECT_AID);
    let (certs, sw) = read_binary(c, 0x2F02);
    assert_eq!(sw, 0x9000);
    let point = find(&certs, &[0x7F21, 0x7F4E, 0x7F49, 0x86]).to_vec();
    select_rescue(c);
    point
}

#[test]
fn select_identifies_the_hsm() {
    let mut c = Card::new(RamPlatform::new(1));
    let serial = c.platform_mut().serial();
    let data = select_rescue(&mut c);
    // MCU 3 (emulation), product 1 (HSM), version 6.6, the chip serial.
    let mut want = vec![0x03, 0x01, 0x06, 0x06];
    want.extend_from_slice(&serial);
    assert_eq!(data, want);
    // The version is the one the HSM application reports (FCI tag 85, INITIALIZE without data).
    assert_eq!(tx(&mut c, SELECT_AID).1, 0x9000);
    let (info, sw) = tx(&mut c, "8050000000");
    assert_eq!(sw, 0x9000);
    assert_eq!(&info[5..7], &data[2..4]);
    // The serial is the one of EF.TokenInfo.
    let (token_info, sw) = read_binary(&mut c, 0x2F03);
    assert_eq!(sw, 0x9000);
    assert_eq!(find(&token_info, &[0x30, 0x04]), &serial);
    // Short APDU, P2 00; P2 0C: no data; other P2: 6A86.
    assert_eq!(tx(&mut c, "00A4040008A0583FC19B7E4F2100").0, want);
    assert_eq!(tx(&mut c, "00A4040C08A0583FC19B7E4F21"), (vec![], 0x9000));
    assert_eq!(tx(&mut c, "00A4041008A0583FC19B7E4F21"), (vec![], 0x6A86));
}

#[test]
fn selecting_the_rescue_applet_ends_the_hsm_session() {
    let mut c = initialized(2);
    assert_eq!(tx(&mut c, "00200081").1, 0x9000, "PIN verified");
    select_rescue(&mut c);
    // HSM commands do not reach the HSM application: CLA 00 is not the rescue class, 80 58 is no rescue INS.
    assert_eq!(tx(&mut c, VERIFY).1, 0x6E00);
    assert_eq!(tx(&mut c, "8058000000").1, 0x6D00);
    // An unknown AID leaves the rescue applet selected.
    assert_eq!(tx(&mut c, "00A4040005A000000527").1, 0x6A82);
    assert_eq!(tx(&mut c, SECURE_INFO), (vec![0, 0, 0xFF], 0x9000));
    // Back in the HSM application the PIN must be verified again (upstream's unload ends it too).
    assert_eq!(tx(&mut c, SELECT_AID).1, 0x9000);
    assert_eq!(tx(&mut c, "00200081").1, 0x63C3);
    assert_eq!(tx(&mut c, SECURE_INFO).1, 0x6D00, "rescue INS in the HSM application");
    // A reset deselects the rescue applet as well.
    select_rescue(&mut c);
    c.reset();
    assert_eq!(tx(&mut c, SECURE_INFO).1, 0x6D00);
}

#[test]
fn flash_and_secure_boot_information() {
    let mut c = rescue_card(3);
    let (info, sw) = unchanged(&mut c, &h(FLASH_INFO));
    assert_eq!(sw, 0x9000);
    // Emulation: five fields, no firmware size (as upstream's emulation build).
    assert_eq!(info.len(), 20);
    let field = |i: usize| u32::from_be_bytes(info[4 * i..4 * i + 4].try_into().unwrap());
    let (free, used, total, files, size) = (field(0), field(1), field(2), field(3), field(4));
    assert_eq!(free + used, total);
    assert!(free > 0 && used > 0, "{free} {used}");
    let n = c.platform_mut().store().fids().count() as u32;
    assert!(files == n && files >= 3, "{files} files");
    assert_eq!(size as usize, MAIN_SIZE + COUNTERS_SIZE);
    // The INITIALIZE-without-data free space of the HSM application is the same figure.
    assert_eq!(tx(&mut c, SELECT_AID).1, 0x9000);
    let (hsm, _) = tx(&mut c, "8050000000");
    assert_eq!(u32::from_be_bytes(hsm[..4].try_into().unwrap()), free);
    select_rescue(&mut c);
    assert_eq!(unchanged(&mut c, &h(SECURE_INFO)), (vec![0x00, 0x00, 0xFF], 0x9000));
}

#[test]
fn phy_configuration_needs_the_button() {
    let mut c = rescue_card(4);
    assert_eq!(tx(&mut c, "801E010000"), (vec![], 0x9000), "no PHY yet");
    // pypicokey reads the PHY with P1 00, which is no read command: 6A86 (upstream: 9000, no data).
    refused(&mut c, &h(PHY_READ_PYPICOKEY), 0x6A86);
    let phy = h("0501420602000808011E");
    let write = apdu(0x80, 0x1C, 0x01, 0x00, &phy);
    refused(&mut c, &write, 0x6600);
    assert_eq!(c.platform_mut().confirmations(), 1);
    c.platform_mut().set_confirm(true);
    assert_eq!(txb(&mut c, &write), (vec![], 0x9000));
    assert_eq!(tx(&mut c, "801E0100000000"), (phy.clone(), 0x9000));
    // Malformed configurations: 6700 without asking for the button.
    let asked = c.platform_mut().confirmations();
    for bad in [
        "0501",
        "050242",
        "05024200",
        "0501420501 43",
        "0701 00",
        "0900 00",
        "09030102 03",
    ] {
        refused(&mut c, &apdu(0x80, 0x1C, 0x01, 0x00, &h(bad)), 0x6700);
    }
    assert_eq!(c.platform_mut().confirmations(), asked);
    // The HSM application can neither read nor write it, and INITIALIZE keeps it.
    assert_eq!(tx(&mut c, SELECT_AID).1, 0x9000);
    assert_ne!(read_binary(&mut c, 0xE020).1, 0x9000);
    login(&mut c);
    assert_ne!(update_binary(&mut c, 0xE020, b"x"), 0x9000);
    assert_eq!(txb(&mut c, &init_apdu(&[])).1, 0x9000);
    select_rescue(&mut c);
    assert_eq!(tx(&mut c, "801E0100000000"), (phy, 0x9000));
}

#[test]
fn clock() {
    let mut c = rescue_card(5);
    // Not set yet: 6985 (upstream `set_rtc`).
    refused(&mut c, &h("801E040200"), 0x6985);
    refused(&mut c, &h("801E040100"), 0x6985);
    // 2024-02-29 23:59:58 UTC = 1709251198.
    let set = apdu(0x80, 0x1C, 0x02, 0x02, &1_709_251_198u32.to_be_bytes());
    assert_eq!(unchanged(&mut c, &set), (vec![], 0x9000));
    assert_eq!(tx(&mut c, "801E0402000000"), (h("65E11A7E"), 0x9000));
    c.platform_mut().advance_clock(3_500);
    assert_eq!(tx(&mut c, "801E040200"), (h("65E11A81"), 0x9000));
    // 2024-03-01 00:00:01, a Friday; month 0-based.
    assert_eq!(tx(&mut c, "801E040100"), (h("07E8 02 01 05 00 00 01"), 0x9000));
    // Calendar form: 2000-01-01 00:00:00 (the weekday byte is ignored).
    let set = apdu(0x80, 0x1C, 0x02, 0x01, &h("07D0 00 01 03 00 00 00"));
    assert_eq!(txb(&mut c, &set), (vec![], 0x9000));
    assert_eq!(
        tx(&mut c, "801E040200"),
        (946_684_800u32.to_be_bytes().to_vec(), 0x9000)
    );
    assert_eq!(tx(&mut c, "801E040100"), (h("07D0 00 01 06 00 00 00"), 0x9000));
    // The clock survives a card reset (it is the device's, not the session's).
    c.reset();
    select_rescue(&mut c);
    assert_eq!(tx(&mut c, "801E040200").1, 0x9000);
    // Malformed: P2, lengths, impossible dates.
    refused(&mut c, &apdu(0x80, 0x1C, 0x02, 0x00, &[0, 0, 0, 0]), 0x6A86);
    refused(&mut c, &apdu(0x80, 0x1C, 0x02, 0x03, &[0, 0, 0, 0]), 0x6A86);
    refused(&mut c, &apdu(0x80, 0x1C, 0x02, 0x02, &[0, 0, 0]), 0x6700);
    refused(&mut c, &apdu(0x80, 0x1C, 0x02, 0x01, &[0; 4]), 0x6700);
    refused(
        &mut c,
        &apdu(0x80, 0x1C, 0x02, 0x01, &h("07E9 01 1D 00 00 00 00")),
        0x6700,
    );
    refused(&mut c, &h("801E040300"), 0x6A86);
    assert_eq!(
        tx(&mut c, "801E040200"),
        (946_684_800u32.to_be_bytes().to_vec(), 0x9000)
    );
}

#[test]
fn reboot() {
    let mut c = rescue_card(6);
    assert_eq!(unchanged(&mut c, &h(REBOOT)), (vec![], 0x9000));
    assert_eq!(c.platform_mut().take_reboot(), Some(Reboot::Normal));
    // BOOTSEL needs the button; this platform has no BOOTSEL mode (6A81).
    refused(&mut c, &h(REBOOT_BOOTSEL), 0x6600);
    c.platform_mut().set_confirm(true);
    refused(&mut c, &h(REBOOT_BOOTSEL), 0x6A81);
    assert_eq!(c.platform_mut().take_reboot(), None);
    refused(&mut c, &h("801F020000"), 0x6A86);
    refused(&mut c, &h("801F000100"), 0x6A86);
    refused(&mut c, &apdu(0x80, 0x1F, 0x00, 0x00, &[0]), 0x6700);
    assert_eq!(c.platform_mut().take_reboot(), None);
}

#[test]
fn device_key() {
    // Before INITIALIZE there is no device key: the public key creates the device identity.
    let mut c = Card::new(RamPlatform::new(7));
    select_rescue(&mut c);
    let (public, sw) = tx(&mut c, "80100200000000");
    assert_eq!(sw, 0x9000);
    assert_eq!((public.len(), public[0]), (65, 0x04));
    assert_eq!(device_point(&mut c), public, "the key C_DevAut certifies");
    assert_eq!(tx(&mut c, "8010020000"), (public.clone(), 0x9000), "stable");

    // Signing a hash needs the button.
    let hash = sha256(&[b"rescue"]);
    let sign = apdu(0x80, 0x10, 0x01, 0x00, &hash);
    refused(&mut c, &sign, 0x6600);
    c.platform_mut().set_confirm(true);
    let (sig, sw) = txb(&mut c, &sign);
    assert_eq!((sw, sig.len()), (0x9000, 64));
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&public).unwrap();
    vk.verify_prehash(&hash, &p256::ecdsa::Signature::from_slice(&sig).unwrap())
        .unwrap();

    // A certificate chain for C_DevAut: CV certificates, the first one for the device key.
    tx(&mut c, SELECT_AID);
    let (chain, _) = read_binary(&mut c, 0x2F02);
    select_rescue(&mut c);
    let mut longer = chain.clone();
    longer.extend_from_slice(&chain);
    let upload = apdu(0x80, 0x10, 0x03, 0x00, &longer);
    c.platform_mut().set_confirm(false);
    refused(&mut c, &upload, 0x6600);
    c.platform_mut().set_confirm(true);
    assert_eq!(txb(&mut c, &upload), (vec![], 0x9000));
    tx(&mut c, SELECT_AID);
    assert_eq!(read_binary(&mut c, 0x2F02), (longer, 0x9000));
    select_rescue(&mut c);

    // Another key's certificate, something else than CV certificates: refused, no button asked.
    let asked = c.platform_mut().confirmations();
    let mut other = chain.clone();
    let at = other
        .windows(public.len())
        .position(|w| w == public.as_slice())
        .unwrap();
    other[at + 10] ^= 1;
    refused(&mut c, &apdu(0x80, 0x10, 0x03, 0x00, &other), 0x6985);
    refused(
        &mut c,
        &apdu(0x80, 0x10, 0x03, 0x00, b"\x30\x10rescue-test-cert"),
        0x6700,
    );
    let mut trailing = chain.clone();
    trailing.push(0);
    refused(&mut c, &apdu(0x80, 0x10, 0x03, 0x00, &trailing), 0x6700);
    assert_eq!(c.platform_mut().confirmations(), asked);
}

#[test]
fn signing_without_a_device_key_is_refused() {
    let mut c = Card::new(RamPlatform::new(8));
    c.platform_mut().set_confirm(true);
    select_rescue(&mut c);
    let sign = apdu(0x80, 0x10, 0x01, 0x00, &[1; 32]);
    assert_eq!(txb(&mut c, &sign), (vec![], 0x6A88));
    assert_eq!(c.platform_mut().confirmations(), 0);
}

#[test]
fn malformed_commands_change_nothing() {
    let mut c = rescue_card(9);
    c.platform_mut().set_confirm(true);
    let cases: &[(&[u8], u16)] = &[
        // Class other than 80 (upstream `rescue_process_apdu`).
        (&h("001E020000"), 0x6E00),
        (&h("801E020000")[..], 0x9000),
        // Unknown INS; 1D (secure boot) is not offered.
        (&h("801D000000"), 0x6D00),
        (&h("8000000000"), 0x6D00),
        (&h("80A4000000"), 0x6D00),
        // Wrong P1 / P2.
        (&h("8010000000"), 0x6A86),
        (&h("8010040000"), 0x6A86),
        (&h("8010020100"), 0x6A86),
        (&h("801E050000"), 0x6A86),
        (&h("801E020100"), 0x6A86),
        (&h("801C0300020000"), 0x6A86),
        // Wrong lengths.
        (&apdu(0x80, 0x10, 0x01, 0x00, &[0; 31]), 0x6700),
        (&apdu(0x80, 0x10, 0x01, 0x00, &[0; 33]), 0x6700),
        (&h("8010010000"), 0x6700),
        (&apdu(0x80, 0x10, 0x02, 0x00, &[0]), 0x6700),
        (&h("8010030000"), 0x6700),
        (&apdu(0x80, 0x1C, 0x01, 0x00, &[5]), 0x6700),
        (&h("801C010000"), 0x6700),
        (&apdu(0x80, 0x1C, 0x09, 0x00, &[5]), 0x6700),
        (&apdu(0x80, 0x1E, 0x02, 0x00, &[0]), 0x6700),
        (&apdu(0x80, 0x1E, 0x09, 0x00, &[0]), 0x6700),
    ];
    for &(apdu, want) in cases {
        let (data, sw) = unchanged(&mut c, apdu);
        assert_eq!(sw, want, "{}", hex::encode(apdu));
        if want != 0x9000 {
            assert!(data.is_empty());
        }
    }
    assert_eq!(c.platform_mut().confirmations(), 0);
    assert_eq!(c.platform_mut().take_reboot(), None);
}

#[test]
fn arbitrary_rescue_commands_never_panic() {
    let mut c = rescue_card(10);
    c.platform_mut().set_confirm(true);
    let mut state = 0x1234_5678_9ABC_DEF0u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3000 {
        let r = next();
        let ins = [0x10, 0x1C, 0x1D, 0x1E, 0x1F][(r % 5) as usize];
        let len = (r >> 8) as usize % 40;
        let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let cmd = apdu(0x80, ins, (r >> 16) as u8 % 6, (r >> 24) as u8 % 4, &data);
        let (_, sw) = txb(&mut c, &cmd);
        assert_ne!(sw, 0x6F00, "{}", hex::encode(&cmd));
    }
    let _ = c.platform_mut().take_reboot();
    assert_eq!(tx(&mut c, SECURE_INFO), (vec![0, 0, 0xFF], 0x9000));
}
