//! The Pico (RP2040) firmware image — the very UF2 a user copies to the board — booted in the
//! rp2040js emulator (`emu/harness.js`: synthetic boot ROM, flash file, USB host, CCID to vpcd) and
//! driven through a private pcscd by OpenSC, with every signature checked by openssl (issue 9).
//!
//! One test, because each step takes emulated seconds: identify, initialize, P-256 key and
//! signature, ECDH against openssl, stop and start the emulator on the same flash, sign again,
//! then RSA-1024, then three wrong PINs lock the PIN and the SO-PIN unblocks it. The harness logs
//! every APDU's emulated cycles in the card log (`-v`); the figures are printed at the end
//! (`--nocapture`).

use hsm_e2e::{Env, SO_PIN, USER_PIN, initialize_succeeded, path_str};

#[test]
fn the_pico_image_works_as_a_card_in_the_emulator() {
    let Some(env) = Env::emulated_board() else { return };

    let name = env.run("opensc-tool", &["--reader", "0", "-n"]).ok();
    assert!(
        name.stdout.contains("SmartCard-HSM"),
        "opensc-tool -n does not name a SmartCard-HSM:\n{name}"
    );

    let init = env.initialize();
    assert!(initialize_succeeded(&init), "sc-hsm-tool --initialize failed:\n{init}");
    env.pkcs11_tool(&["-L"]).ok().expect("Pico-HSM");

    // P-256: generate, sign, verify with openssl.
    env.keypairgen("EC:prime256v1", "01", "board-p256");
    let data = env.write_file("data.txt", b"signed by the RP2040 image in rp2040js\n");
    let hash = env.openssl_sha256(&data);
    let (verified, _) = env.sign_and_verify_with(0, 0, "01", "ECDSA-SHA256", &data, &hash);
    assert!(
        verified.stdout.contains("Signature Verified Successfully"),
        "P-256 signature of the emulated board does not verify:\n{verified}"
    );

    // ECDH with a peer key made by openssl (DECIPHER P2 80, the comb's variable-base
    // multiplication on the Cortex-M0+): the card's secret equals openssl's.
    let public = env.public_key_pem("01");
    let (out, card, want) = env.ecdh_with_openssl_peer("01", "prime256v1", &public);
    let card = card.unwrap_or_else(|| panic!("ECDH1-DERIVE on the emulated board failed:\n{out}"));
    assert_eq!(want.len(), 32, "openssl's P-256 secret is the shared point's X");
    assert_eq!(
        hex::encode(&card),
        hex::encode(&want),
        "ECDH of the emulated board differs from openssl's"
    );

    // Power off (the emulator stops; its flash file stays), power on: the key is still there.
    let (status, first_log) = env.stop_card(0);
    assert!(
        status.success(),
        "the emulator did not stop cleanly ({status}):\n{first_log}"
    );
    env.start_card(0);
    env.pkcs11_tool(&["--login", "--pin", USER_PIN, "--list-objects", "--type", "privkey"])
        .ok()
        .expect("board-p256");
    let again = env.write_file("again.txt", b"and again after a restart\n");
    let again_hash = env.openssl_sha256(&again);
    let (verified, _) = env.sign_and_verify_with(0, 0, "01", "ECDSA-SHA256", &again, &again_hash);
    assert!(
        verified.stdout.contains("Signature Verified Successfully"),
        "P-256 signature after the restart does not verify:\n{verified}"
    );

    // RSA-1024 on the Cortex-M0+ (the rsa crate through the firmware's crypto-bigint patch).
    env.keypairgen("rsa:1024", "02", "board-rsa1024");
    let public = path_str(&env.public_key_pem("02"));
    let (out, signature) = env.pkcs11_key_op("--sign", "02", "SHA256-RSA-PKCS", &data, &[]);
    let signature = signature.unwrap_or_else(|| panic!("RSA-1024 signature failed:\n{out}"));
    let sig = path_str(&env.write_file("sig-rsa1024.bin", &signature));
    let checked = env.openssl(&[
        "dgst",
        "-sha256",
        "-verify",
        &public,
        "-signature",
        &sig,
        &path_str(&data),
    ]);
    checked.ok().expect("Verified OK");

    // Three wrong PINs lock the user PIN on the board as on the virtual card (the retry counter is in
    // the board's flash); the SO-PIN unblocks it.
    let login = |pin: &str| env.pkcs11_tool(&["--login", "--pin", pin, "--list-objects"]);
    for attempt in 1..=2 {
        let out = login("000000").failed();
        assert!(out.contains("CKR_PIN_INCORRECT"), "wrong PIN attempt {attempt}:\n{out}");
    }
    login("000000").failed().expect("CKR_PIN_LOCKED");
    login(USER_PIN).failed().expect("CKR_PIN_LOCKED");
    env.so_init_pin(SO_PIN, USER_PIN)
        .ok()
        .expect("User PIN successfully initialized");
    login(USER_PIN).ok().expect("board-p256");

    let (_, log) = env.stop_card(0);
    println!("emulated cycles per APDU (second run of the emulator):");
    for line in log.lines().filter(|l| l.contains("cycles")) {
        println!("  {line}");
    }
}
