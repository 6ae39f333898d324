//! `pico-hsm-tool pka` against the virtual card (the card side of PKA checks every signature with
//! its own code): keys made by `openssl genpkey`, their CV requests made by `pka request`, registered
//! with `pka register`, logged in with `--pka-key/--pka-chr` (GET CHALLENGE, MSE SET AT, EXTERNAL
//! AUTHENTICATE); with PKA on, the PIN alone no longer lets `keys gen` through, the login does, and
//! the key made then signs verifiably (openssl). Wrong keys, unknown CHRs, forged requests and full
//! slots are refused with a clear message and nothing changed.

use hsm_e2e::{Env, SO_PIN, USER_PIN, path_str};

mod common_tool;
use common_tool::{json, refused, tool, tool_pin};

/// A P-256 key made by openssl, and its request made by the tool under `chr`.
fn puk(env: &Env, name: &str, chr: &str) -> (String, String) {
    let key = path_str(&env.dir().join(format!("{name}.pem")));
    env.openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &key,
    ])
    .ok();
    let req = path_str(&env.dir().join(format!("{name}.req")));
    tool(env, &["pka", "request", "--key", &key, "--chr", chr, "--out", &req])
        .ok()
        .expect(chr);
    (key, req)
}

fn init_pka(env: &Env, pka: &str) {
    tool_pin(env, &["init", "--so-pin", SO_PIN, "--pka", pka, "--yes"]).ok();
}

#[test]
fn register_and_log_in_one_of_two() {
    let Some(env) = Env::start() else { return };
    init_pka(&env, "1-of-2");
    let (k1, r1) = puk(&env, "puk1", "ESPUK00001");
    let (k2, r2) = puk(&env, "puk2", "ESPUK00002");

    let st = json(tool(&env, &["pka", "status", "--json"]));
    assert_eq!(
        (st["puks"].as_u64(), st["registered"].as_u64(), st["required"].as_u64()),
        (Some(2), Some(0), Some(1))
    );
    refused(tool(&env, &["pka", "register", &r1]), "needs the user PIN");

    // A forged request (one bit of the inner signature flipped) is refused and not registered.
    let mut forged = std::fs::read(&r1).unwrap();
    let at = forged.len() - 90;
    forged[at] ^= 1;
    let forged = path_str(&env.write_file("forged.req", &forged));
    refused(tool_pin(&env, &["pka", "register", &forged]), "does not verify");
    assert_eq!(json(tool(&env, &["pka", "status", "--json"]))["registered"], 0);
    refused(tool_pin(&env, &["pka", "register", &k1]), "not a CV request");

    tool_pin(&env, &["pka", "register", &r1]).ok().expect("ESPUK00001");
    let st = json(tool(&env, &["pka", "status", "--json"]));
    assert_eq!(st["registered"], 1);
    assert_eq!(st["keys"][0]["chr"], "ESPUK00001");
    assert_eq!(st["keys"][1]["registered"], false);

    // PKA on: the PIN opens the keys but no longer authenticates the user.
    refused(tool_pin(&env, &["keys", "gen", "ec:secp256r1"]), "6982");
    // A login with the wrong key, or an unknown CHR: refused.
    refused(
        tool(&env, &["--pka-key", &k2, "--pka-chr", "ESPUK00001", "pka", "login"]),
        "does not verify",
    );
    refused(
        tool(&env, &["--pka-key", &k1, "--pka-chr", "ESNOBODY00001", "pka", "login"]),
        "no registered PUK",
    );
    refused(tool(&env, &["--pka-key", &k1, "pka", "login"]), "--pka-chr");
    let st = json(tool(
        &env,
        &["--pka-key", &k1, "--pka-chr", "ESPUK00001", "pka", "login", "--json"],
    ));
    assert_eq!(st["authenticated"], 1);
    assert_eq!(st["keys"][0]["authenticated"], true);

    // Login and PIN together: a key is generated and signs verifiably.
    let login = ["--pka-key", k1.as_str(), "--pka-chr", "ESPUK00001"];
    let mut args = login.to_vec();
    args.extend_from_slice(&["keys", "gen", "ec:secp256r1", "--label", "pka-key", "--id", "0C"]);
    tool_pin(&env, &args).ok().expect("key 01 generated");
    let data = path_str(&env.write_file("data.txt", b"signed after a PKA login\n"));
    let sig = path_str(&env.dir().join("sig.bin"));
    let mut args = login.to_vec();
    args.extend_from_slice(&["keys", "sign", "01", "--input", &data, "--out", &sig]);
    tool_pin(&env, &args).ok();
    let pem = path_str(&env.public_key_pem("0C"));
    env.openssl(&["dgst", "-sha256", "-verify", &pem, "-signature", &sig, &data])
        .ok()
        .expect("Verified OK");

    // EXTRAS and deletes need the authenticated user too.
    refused(tool_pin(&env, &["options", "get"]), "6982");
    let mut args = login.to_vec();
    args.extend_from_slice(&["options", "get", "--json"]);
    assert_eq!(json(tool_pin(&env, &args))["value"], 0x0001);
    refused(tool_pin(&env, &["keys", "delete", "01", "--yes"]), "6982");
    let mut args = login.to_vec();
    args.extend_from_slice(&["keys", "delete", "01", "--yes"]);
    tool_pin(&env, &args).ok().expect("key 01 deleted");

    // The second key, then no free slot.
    tool_pin(&env, &["pka", "register", &r2]).ok();
    refused(tool_pin(&env, &["pka", "register", &r2]), "every PUK slot");
    let st = json(tool(
        &env,
        &["--pka-key", &k2, "--pka-chr", "ESPUK00002", "pka", "login", "--json"],
    ));
    assert_eq!(
        (st["registered"].as_u64(), st["authenticated"].as_u64()),
        (Some(2), Some(1))
    );
}

#[test]
fn two_of_two_sign_the_same_challenge() {
    let Some(env) = Env::start() else { return };
    init_pka(&env, "2-of-2");
    let (k1, r1) = puk(&env, "a", "ESPUKA00001");
    let (k2, r2) = puk(&env, "b", "ESPUKB00001");
    tool_pin(&env, &["pka", "register", &r1]).ok();
    tool_pin(&env, &["pka", "register", &r2]).ok();
    // One key is not enough.
    let st = json(tool(
        &env,
        &["--pka-key", &k1, "--pka-chr", "ESPUKA00001", "pka", "login", "--json"],
    ));
    assert_eq!(st["authenticated"], 1);
    refused(
        tool_pin(
            &env,
            &[
                "--pka-key",
                &k1,
                "--pka-chr",
                "ESPUKA00001",
                "keys",
                "gen",
                "ec:secp256r1",
            ],
        ),
        "6982",
    );
    let both = [
        "--pka-key",
        k1.as_str(),
        "--pka-chr",
        "ESPUKA00001",
        "--pka-key",
        k2.as_str(),
        "--pka-chr",
        "ESPUKB00001",
    ];
    let mut args = both.to_vec();
    args.extend_from_slice(&["pka", "login", "--json"]);
    let st = json(tool(&env, &args));
    assert_eq!(st["authenticated"], 2);
    let mut args = both.to_vec();
    args.extend_from_slice(&["keys", "gen", "ec:secp256r1"]);
    tool_pin(&env, &args).ok().expect("key 01 generated");
}

#[test]
fn a_key_on_another_device() {
    let Some(env) = Env::with_cards(2) else { return };
    let (a, b) = (Env::reader_name(0), Env::reader_name(1));
    // Card 0 requires one public key; card 1 holds it.
    let pin = path_str(&env.write_file("pin.txt", format!("{USER_PIN}\n").as_bytes()));
    tool(
        &env,
        &[
            "--reader",
            &a,
            "--pin-file",
            &pin,
            "init",
            "--so-pin",
            SO_PIN,
            "--pka",
            "1-of-1",
            "--yes",
        ],
    )
    .ok();
    env.initialize_reader(1, &[]);
    tool(
        &env,
        &[
            "--reader",
            &b,
            "--pin-file",
            &pin,
            "keys",
            "gen",
            "ec:secp256r1",
            "--chr",
            "ESCARDPUK0001",
        ],
    )
    .ok();
    let export = path_str(&env.dir().join("card1-key01.puk"));
    tool(&env, &["--reader", &b, "pka", "export", "01", "--out", &export]).ok();
    refused(
        tool(&env, &["--reader", &b, "pka", "export", "01", "--out", &export]),
        "cannot create",
    );

    // Card 0 checks the request with card 1's device certificate carried in the file: one bit of
    // the outer signature (card 1's) flipped, refused.
    let mut forged = std::fs::read(&export).unwrap();
    let body = hsm_apdu::tlv::find(&forged, 0x30).unwrap().unwrap();
    let content = hsm_apdu::tlv::find(body, 0x67).unwrap().unwrap();
    let end = content.as_ptr() as usize - forged.as_ptr() as usize + content.len();
    forged[end - 10] ^= 1;
    let forged = path_str(&env.write_file("forged.puk", &forged));
    refused(
        tool(&env, &["--reader", &a, "--pin-file", &pin, "pka", "register", &forged]),
        "does not verify",
    );
    tool(&env, &["--reader", &a, "--pin-file", &pin, "pka", "register", &export])
        .ok()
        .expect("ESCARDPUK0001");
    let card = "01@".to_string() + &b;
    let login = [
        "--reader",
        a.as_str(),
        "--pka-card",
        card.as_str(),
        "--pka-card-pin-file",
        pin.as_str(),
    ];
    let mut args = login.to_vec();
    args.extend_from_slice(&["pka", "login", "--json"]);
    let st = json(tool(&env, &args));
    assert_eq!(st["authenticated"], 1, "{st:#}");
    assert_eq!(st["keys"][0]["chr"], "ESCARDPUK0001");
    // The login opens key generation on card 0.
    refused(
        tool(
            &env,
            &["--reader", &a, "--pin-file", &pin, "keys", "gen", "ec:secp256r1"],
        ),
        "6982",
    );
    let mut args = login.to_vec();
    args.extend_from_slice(&["--pin-file", &pin, "keys", "gen", "ec:secp256r1"]);
    tool(&env, &args).ok().expect("key 01 generated");
    // Another key of card 1 is not the registered one.
    tool(
        &env,
        &[
            "--reader",
            &b,
            "--pin-file",
            &pin,
            "keys",
            "gen",
            "ec:secp256r1",
            "--chr",
            "ESCARDPUK0001",
        ],
    )
    .ok();
    let mut args = [
        "--reader",
        a.as_str(),
        "--pka-card",
        "02@",
        "--pka-card-pin-file",
        pin.as_str(),
    ]
    .to_vec();
    let other = "02@".to_string() + &b;
    args[3] = &other;
    args.extend_from_slice(&["pka", "login"]);
    refused(tool(&env, &args), "does not verify");
}
