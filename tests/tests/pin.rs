//! User PIN and SO-PIN through OpenSC's PKCS#11 module.

use hsm_e2e::{Env, SO_PIN, USER_PIN};

fn login(env: &Env, pin: &str) -> hsm_e2e::Output {
    env.pkcs11_tool(&["--login", "--pin", pin, "--list-objects"])
}

#[test]
fn login_with_the_right_pin_works() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    login(&env, USER_PIN).ok().expect_not("CKR_");
}

#[test]
fn three_wrong_pins_lock_and_the_so_pin_unblocks() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    for attempt in 1..=2 {
        let out = login(&env, "000000").failed();
        assert!(out.contains("CKR_PIN_INCORRECT"), "wrong PIN attempt {attempt}:\n{out}");
    }
    // The third wrong PIN uses up the last retry: CKR_PIN_LOCKED (6983), as upstream's users and its
    // OpenSC suite (initialize.sh) expect.
    login(&env, "000000").failed().expect("CKR_PIN_LOCKED");
    // Blocked now: even the right PIN is refused.
    login(&env, USER_PIN).failed().expect("CKR_PIN_LOCKED");

    env.so_init_pin(SO_PIN, USER_PIN)
        .ok()
        .expect("User PIN successfully initialized");
    login(&env, USER_PIN).ok();
}

#[test]
fn a_right_pin_resets_the_retry_counter() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    for _ in 0..2 {
        login(&env, "000000").failed().expect("CKR_PIN_INCORRECT");
    }
    login(&env, USER_PIN).ok();
    for _ in 0..2 {
        login(&env, "000000").failed().expect("CKR_PIN_INCORRECT");
    }
    login(&env, USER_PIN).ok();
}

#[test]
fn wrong_pin_count_survives_a_restart() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    for wrong in 1..=3 {
        let expect = if wrong < 3 {
            "CKR_PIN_INCORRECT"
        } else {
            "CKR_PIN_LOCKED"
        };
        login(&env, "000000").failed().expect(expect);
        // The retry counter is persisted before the comparison: a power cut cannot reset it.
        env.restart_card(0);
    }
    login(&env, USER_PIN).failed().expect("CKR_PIN_LOCKED");
}

#[test]
fn change_user_pin() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    env.pkcs11_tool(&["--change-pin", "--pin", USER_PIN, "--new-pin", "135790"])
        .ok()
        .expect("PIN successfully changed");
    login(&env, "135790").ok();
    login(&env, USER_PIN).failed().expect("CKR_PIN_INCORRECT");
}

#[test]
fn change_so_pin() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    let new_so_pin = "0102030405060708";
    env.pkcs11_tool(&[
        "--login",
        "--login-type",
        "so",
        "--so-pin",
        SO_PIN,
        "--change-pin",
        "--new-pin",
        new_so_pin,
    ])
    .ok()
    .expect("PIN successfully changed");
    // The old SO-PIN no longer unblocks; the new one does.
    env.so_init_pin(SO_PIN, USER_PIN).failed().expect("CKR_PIN_INCORRECT");
    env.so_init_pin(new_so_pin, "246810").ok();
    login(&env, "246810").ok();
}
