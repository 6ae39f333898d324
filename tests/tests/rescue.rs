//! The rescue applet through pcscd (reference §3.27): host tools (pypicokey) select it first to
//! learn the device; its answer must name the HSM with the version and serial the HSM application
//! reports.

use hsm_e2e::{Env, SELECT_APDU, apdu_script_binary};

/// pypicokey's `select_applet(rescue=True)`, byte for byte.
const SELECT_RESCUE: &str = "00A4040408A0583FC19B7E4F2100";
/// SELECT of the HSM application with its FCI.
const SELECT_HSM_FCI: &str = "00A404000BE82B0601040181C31F020100";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[test]
fn rescue_select_identifies_the_hsm() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    let r = env.apdu_script(
        apdu_script_binary!(),
        0,
        &[
            SELECT_RESCUE.into(),
            // pypicokey's flash_info() and secure_info().
            "801E0200000000".into(),
            "801E0300000000".into(),
            // HSM commands do not reach the HSM application while the rescue applet is selected.
            "0058000000".into(),
            SELECT_HSM_FCI.into(),
            // EF.TokenInfo, which carries the serial.
            "00A4020C022F03".into(),
            "00B0000000".into(),
            // INITIALIZE without data: free memory, version.
            "8050000000".into(),
        ],
    );
    let rescue = hex(&r[0]);
    assert_eq!(rescue.len(), 14, "SELECT rescue: {}", r[0]);
    assert_eq!(&rescue[12..], [0x90, 0x00]);
    // MCU 3 (emulation), product 1 (HSM).
    assert_eq!(&rescue[..2], [0x03, 0x01], "{}", r[0]);
    let (version, serial) = (&rescue[2..4], &rescue[4..12]);

    let flash = hex(&r[1]);
    assert_eq!(flash.len(), 22, "flash info: {}", r[1]);
    let field = |i: usize| u32::from_be_bytes(flash[4 * i..4 * i + 4].try_into().unwrap());
    assert_eq!(field(0) + field(1), field(2), "free + used = total: {}", r[1]);
    assert_eq!(r[2], "0000FF9000", "secure boot status");
    assert_eq!(r[3], "6E00", "CLA 00 in the rescue applet");

    // The FCI's tag 85 ends with the version.
    let fci = hex(&r[4]);
    let at = fci.windows(2).position(|w| w == [0x85, 0x05]).expect("FCI tag 85");
    assert_eq!(&fci[at + 5..at + 7], version, "FCI {}", r[4]);
    let token_info = &r[6];
    let serial_hex: String = serial.iter().map(|b| format!("{b:02X}")).collect();
    assert!(
        token_info.contains(&format!("0408{serial_hex}")),
        "serial {serial_hex} not in EF.TokenInfo {token_info}"
    );
    let init = hex(&r[7]);
    assert_eq!(&init[5..7], version, "INITIALIZE without data: {}", r[7]);
    assert_eq!(&init[..4], &flash[..4], "free memory");

    // OpenSC still finds the HSM afterwards.
    env.opensc_tool(&["-n"]).ok().expect("SmartCard-HSM");
}

#[test]
fn rescue_reboot_restarts_the_card_in_place() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    let r = env.apdu_script(
        apdu_script_binary!(),
        0,
        &[
            SELECT_RESCUE.into(),
            // The clock is set, then lost by the reboot.
            "801C020200000465E11A7E".into(),
            "801E0402000000".into(),
            // pypicokey's reboot(); BOOTSEL needs the button, which this card refuses without
            // --auto-confirm.
            "801F0100000000".into(),
            "801F0000000000".into(),
            SELECT_RESCUE.into(),
            "801E0402000000".into(),
            SELECT_APDU.into(),
        ],
    );
    assert_eq!(r[1], "9000");
    assert!(r[2].starts_with("65E11A") && r[2].ends_with("9000"), "{}", r[2]);
    assert_eq!(r[3], "6600", "BOOTSEL without the button");
    assert_eq!(r[4], "9000", "reboot");
    assert!(r[5].ends_with("9000"));
    assert_eq!(r[6], "6985", "clock lost by the reboot");
    assert_eq!(r[7], "9000", "HSM application after the reboot");
    let log = env.card_log(0);
    assert!(log.contains("button press requested: refused"), "{log}");
    assert!(log.contains("the card restarts"), "{log}");
    env.opensc_tool(&["-n"]).ok().expect("SmartCard-HSM");
}
