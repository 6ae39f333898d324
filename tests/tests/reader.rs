//! The virtual card appears in pcscd as a SmartCard-HSM.

use hsm_e2e::Env;

const ATR: &str = "3b:fe:18:00:00:81:31:fe:45:80:31:81:54:48:53:4d:31:73:80:21:40:81:07:fa";

#[test]
fn reader_is_listed_with_the_card() {
    let Some(env) = Env::start() else { return };
    let out = env.opensc_tool(&["-l"]).ok().expect("Virtual PCD 00 00");
    let row = out
        .stdout
        .lines()
        .find(|l| l.contains("Virtual PCD 00 00"))
        .unwrap_or_default();
    assert!(row.contains("Yes"), "card not present in reader 0:\n{out}");
}

#[test]
fn atr_is_the_smartcard_hsm_atr() {
    let Some(env) = Env::start() else { return };
    env.opensc_tool(&["--atr"]).ok().expect(ATR);
}

#[test]
fn opensc_names_it_smartcard_hsm() {
    let Some(env) = Env::start() else { return };
    env.opensc_tool(&["-n"]).ok().expect("SmartCard-HSM");
}

#[test]
fn unknown_aid_is_not_found_so_other_drivers_do_not_claim_the_card() {
    let Some(env) = Env::start() else { return };
    // DESIGN §6: a card answering 9000 to unknown AIDs is taken for a Muscle applet.
    env.opensc_tool(&["-c", "default", "-s", "00:A4:04:00:06:A0:00:00:00:01:01"])
        .ok()
        .expect("SW1=0x6A, SW2=0x82");
}

#[test]
fn sigterm_stops_the_card_cleanly() {
    let Some(env) = Env::start() else { return };
    let (status, log) = env.stop_card(0);
    assert!(
        status.success(),
        "pico-hsm-vcard exited with {status} on SIGTERM:\n{log}"
    );
    assert!(log.contains("stopped; flash synced"), "no clean-stop message:\n{log}");
}

#[test]
fn card_comes_back_when_pcscd_restarts() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    env.restart_pcscd();
    env.opensc_tool(&["-n"]).ok().expect("SmartCard-HSM");
    env.pkcs15_tool(&["-D"]).ok().expect("UserPIN");
    // One line for the outage, not one per retry.
    let log = env.card_log(0);
    assert!(
        log.matches("not reachable yet").count() <= 1,
        "reconnect attempts spam the log:\n{log}"
    );
    assert!(log.contains("reconnecting"), "no reconnect logged:\n{log}");
}
