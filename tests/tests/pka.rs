//! Public key authentication end to end (issue 11 items 3, 4): `sc-hsm-tool --initialize
//! --public-key-auth 3 --required-pub-keys 2`, then, through pcscd with the `pka-login` helper
//! (the `pcsc` crate, APDUs as upstream's pypicohsm sends them), three PUKs registered and a 2-of-3
//! login with keys held outside the card; `sc-hsm-tool --public-key-auth-status` reports the
//! numbers. The login time (median of several runs) is printed.

use hsm_e2e::{Env, USER_PIN};

const RUNS: &str = "15";

fn value<'a>(lines: &'a [String], key: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {key} in {lines:?}"))
}

#[test]
fn two_of_three_login_through_pcsc() {
    let Some(env) = Env::start() else { return };
    env.initialize_reader(0, &["--public-key-auth", "3", "--required-pub-keys", "2"]);
    env.sc_hsm_tool(&["--public-key-auth-status"])
        .ok()
        .expect("Number of public keys:     3")
        .expect("Missing public keys:       3")
        .expect("Required pubkeys for auth: 2")
        .expect("Authenticated public keys: 0");

    let mut command = env.ns_command(env!("CARGO_BIN_EXE_pka-login"));
    command.args(["--reader", &Env::reader_name(0), "--pin", USER_PIN, "--runs", RUNS]);
    let out = env.capture(command, "pka-login".into()).ok();
    let lines: Vec<String> = out.text().lines().map(str::to_string).collect();

    // n 3, remaining 0, m 2, authenticated 0.
    assert_eq!(value(&lines, "status"), "03000200");
    assert!(value(&lines, "device").starts_with("ES"), "{lines:?}");
    // PKA on: the PIN alone does not authenticate, nor one PUK of two; two do.
    assert_eq!(value(&lines, "gate_pin_only"), "6982");
    assert_eq!(value(&lines, "gate_one"), "6982");
    assert_eq!(value(&lines, "gate_two"), "9000");
    assert_eq!(value(&lines, "login_status"), "03000202");
    // A new SELECT starts a new session.
    assert_eq!(value(&lines, "reselect_status"), "03000200");
    let login = value(&lines, "login_ms");
    let apdu = value(&lines, "apdu_ms");
    println!(
        "PKA 2-of-3 login (GET CHALLENGE + 2 x (MSE SET AT + EXTERNAL AUTHENTICATE)) through pcscd, median/min/max of {RUNS} runs: {login} ms"
    );
    println!("one EXTERNAL AUTHENTICATE (P-256 verify) through pcscd, median: {apdu} ms");

    // sc-hsm-tool sees the registered keys (its own session: none authenticated).
    env.sc_hsm_tool(&["--public-key-auth-status"])
        .ok()
        .expect("Number of public keys:     3")
        .expect("Missing public keys:       0")
        .expect("Required pubkeys for auth: 2")
        .expect("Authenticated public keys: 0");
}
