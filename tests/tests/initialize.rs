//! INITIALIZE through `sc-hsm-tool`, and what OpenSC sees afterwards.

use hsm_e2e::{Env, SO_PIN, USER_PIN, initialize_succeeded};

/// The `serial num` of every token `pkcs11-tool -L` lists.
fn token_serials(env: &Env) -> Vec<String> {
    let out = env.pkcs11_tool(&["-L"]).ok();
    let serials: Vec<String> = out
        .stdout
        .lines()
        .filter_map(|line| line.trim().strip_prefix("serial num"))
        .map(|rest| rest.trim_start_matches([' ', ':']).trim().to_string())
        .collect();
    assert!(!serials.is_empty(), "no token serial in:\n{out}");
    serials
}

#[test]
fn initialize_succeeds_and_pkcs15_shows_the_user_pin() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    let out = env.pkcs15_tool(&["-D"]).ok().expect("UserPIN");
    assert!(out.stdout.contains("PIN ["), "no PIN object listed:\n{out}");
}

#[test]
fn token_serial_differs_between_two_state_directories() {
    let Some(env) = Env::with_cards(2) else { return };
    for index in 0..2 {
        env.initialize_reader(index, &[]);
    }
    let serials = token_serials(&env);
    assert_eq!(serials.len(), 2, "expected two tokens, got {serials:?}");
    assert_ne!(serials[0], serials[1], "both devices report the same token serial");
    assert!(serials.iter().all(|s| !s.is_empty()), "empty serial in {serials:?}");
}

#[test]
fn token_serial_is_stable_across_restarts() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    let before = token_serials(&env);
    env.restart_card(0);
    assert_eq!(token_serials(&env), before);
}

#[test]
fn reinitialize_with_a_wrong_so_pin_is_refused_and_objects_survive() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    env.write_data_object("keep", b"must survive a refused re-initialization", false)
        .ok();

    let out = env.sc_hsm_tool(&["--initialize", "--so-pin", "0102030405060708", "--pin", "111111"]);
    assert!(
        !initialize_succeeded(&out),
        "re-initialization with a wrong SO-PIN was accepted:\n{out}"
    );

    // The old PINs still work and the object is still there.
    let (out, data) = env.read_data_object("keep", Some(USER_PIN));
    out.ok();
    assert_eq!(data.as_deref(), Some(&b"must survive a refused re-initialization"[..]));
    env.pkcs15_tool(&["-D"]).ok().expect("UserPIN");
}

#[test]
fn reinitialize_with_the_right_so_pin_starts_over() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    env.write_data_object("gone", b"deleted by re-initialization", false)
        .ok();

    let out = env.sc_hsm_tool(&["--initialize", "--so-pin", SO_PIN, "--pin", "222222"]);
    assert!(
        initialize_succeeded(&out),
        "re-initialization with the right SO-PIN failed:\n{out}"
    );
    env.pkcs11_tool(&["--login", "--pin", "222222", "--list-objects", "--type", "data"])
        .ok()
        .expect_not("gone");
    env.pkcs11_tool(&["--login", "--pin", USER_PIN, "--list-objects"])
        .failed()
        .expect("CKR_PIN_INCORRECT");
}
