//! `pico-hsm-tool` administration against the virtual card in a private pcscd, with OpenSC and
//! OpenSSL as the judges: `init` then `info --json` (and pkcs11-tool logs in with the new PIN);
//! `options` get/set agreeing with the FCI; the secure lock across a restart of the card (key use
//! refused until the secret is sent, normal again after `disable`); the clock; `keys gen|list|
//! delete|sign` with the signatures checked by `openssl dgst -verify` against the public key
//! pkcs15-tool exports; bad input refused with a clear message, a non-zero exit and nothing changed.

use std::path::Path;

use hsm_e2e::{Env, Output, SO_PIN, path_str};
use serde_json::Value;

mod common_tool;
use common_tool::{json, refused, tool, tool_pin};

/// The user keys (slot 0, the device key, left out) with their labels.
fn key_slots(env: &Env) -> Vec<(u64, Option<String>)> {
    let v = json(tool(env, &["keys", "list", "--json"]));
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["slot"] != 0)
        .map(|k| (k["slot"].as_u64().unwrap(), k["label"].as_str().map(str::to_string)))
        .collect()
}

/// Signs `data` with the tool (key `slot`) and checks the signature with `openssl dgst -sha256
/// -verify` against the public key pkcs15-tool exports for `id`; returns openssl's output.
fn tool_sign_verified(env: &Env, slot: &str, id: &str, data: &Path, extra: &[&str]) -> Output {
    let sig = env.dir().join(format!("sig-{slot}.bin"));
    let (d, s) = (path_str(data), path_str(&sig));
    let mut args = extra.to_vec();
    args.extend_from_slice(&["keys", "sign", slot, "--input", &d, "--out", &s]);
    tool_pin(env, &args).ok();
    let pem = env.public_key_pem(id);
    env.openssl(&["dgst", "-sha256", "-verify", &path_str(&pem), "-signature", &s, &d])
}

#[test]
fn init_then_info_json_and_bad_input() {
    let Some(env) = Env::start() else { return };
    // A fresh device: info works without a PIN.
    let v = json(tool(&env, &["info", "--json"]));
    assert_eq!(v["user_pin"]["state"], "not-set", "{v:#}");
    assert_eq!(v["device_id"], Value::Null);

    let pin = path_str(&env.write_file("new-pin.txt", b"135790\n"));
    tool(
        &env,
        &[
            "--pin-file",
            &pin,
            "init",
            "--so-pin",
            SO_PIN,
            "--retries",
            "5",
            "--dkek-shares",
            "2",
            "--options",
            "reset-retry-counter,key-counter-all",
        ],
    )
    .ok()
    .expect("device initialized");

    let v = json(tool(&env, &["info", "--json"]));
    let id = v["device_id"].as_str().expect("device id").to_string();
    assert!(id.starts_with("ES") && id.len() == 16, "{v:#}");
    assert_eq!(v["rescue"]["product"], "HSM");
    assert_eq!(v["rescue"]["mcu"], "emulation");
    assert_eq!(v["rescue"]["serial"].as_str().unwrap().len(), 16);
    assert_eq!(v["version"], v["rescue"]["version"]);
    assert_eq!(v["user_pin"]["tries_left"], 5);
    assert_eq!(v["so_pin"]["tries_left"], 15);
    assert_eq!(v["options"]["value"], 0x0201);
    assert_eq!(v["key_domains"][0]["shares_total"], 2);
    assert_eq!(v["key_domains"][0]["shares_missing"], 2);
    let f = &v["flash"];
    assert_eq!(
        f["free"].as_u64().unwrap() + f["used"].as_u64().unwrap(),
        f["total"].as_u64().unwrap()
    );
    assert_eq!(v["secure_lock"], Value::Null, "unknown without the PIN");
    let d = json(tool(&env, &["dkek", "status", "--json"]));
    assert_eq!(d["key_domains"], v["key_domains"]);
    refused(tool(&env, &["pka", "status"]), "not set up");
    // The PIN set by init is the one OpenSC logs in with.
    env.pkcs11_tool(&["--login", "--pin", "135790", "--list-objects"]).ok();
    let v = json(tool(&env, &["--pin", "135790", "info", "--json"]));
    assert_eq!(v["secure_lock"], false);
    assert_eq!(v["user_pin"]["tries_left"], 5, "read before the VERIFY");
    tool(&env, &["--pin", "135790", "info"])
        .ok()
        .expect("Secure lock          : off");

    tool(
        &env,
        &["--pin", "135790", "keys", "gen", "ec:secp256r1", "--label", "keep-me"],
    )
    .ok();

    // Re-initializing needs a confirmation; without a terminal and without --yes nothing happens.
    refused(tool(&env, &["--pin", "648219", "init"]), "--yes");
    // A wrong SO-PIN: refused, nothing changed.
    refused(
        tool(
            &env,
            &["--pin", "648219", "init", "--so-pin", "0000000000000000", "--yes"],
        ),
        "SO-PIN",
    );
    // Bad input is refused before the card is touched.
    refused(
        tool(&env, &["--pin", "648219", "init", "--so-pin", "1234", "--yes"]),
        "16 hex digits",
    );
    refused(
        tool(&env, &["--pin", "648219", "init", "--pka", "3-of-2", "--yes"]),
        "N-of-M",
    );
    refused(
        tool(&env, &["--pin", "648219", "init", "--options", "secure-lock", "--yes"]),
        "secure-lock enable",
    );
    let v = json(tool(&env, &["info", "--json"]));
    assert_eq!(v["device_id"], id.as_str());
    assert_eq!(v["so_pin"]["tries_left"], 14, "the wrong SO-PIN cost one try");

    // A wrong PIN: the status word in words, the try spent, nothing else.
    refused(
        tool(&env, &["--pin", "000000", "keys", "list"]),
        "wrong PIN, 4 tries left",
    );
    refused(
        tool(&env, &["--pin-file", "/nonexistent/pin.txt", "keys", "list"]),
        "/nonexistent/pin.txt",
    );
    refused(
        tool(&env, &["--pin", "135790", "keys", "gen", "ec:secp999r1"]),
        "unknown curve",
    );
    refused(
        tool(&env, &["--pin", "135790", "keys", "gen", "rsa:512"]),
        "RSA key size",
    );
    refused(
        tool(
            &env,
            &[
                "--pin",
                "135790",
                "secure-lock",
                "unlock",
                "--secret-file",
                "/nonexistent/s",
            ],
        ),
        "/nonexistent/s",
    );
    assert_eq!(key_slots(&env), [(1, Some("keep-me".to_string()))]);

    // With --yes and the right SO-PIN: wiped, the PIN is the new one.
    tool(
        &env,
        &[
            "--pin", "648219", "init", "--so-pin", SO_PIN, "--yes", "--pka", "1-of-2",
        ],
    )
    .ok();
    let v = json(tool(&env, &["info", "--json"]));
    assert_eq!(v["device_id"], id.as_str(), "the device key survives INITIALIZE");
    assert_eq!(v["user_pin"]["tries_left"], 3);
    assert_eq!(v["options"]["value"], 0x0001);
    assert!(key_slots(&env).is_empty(), "keys wiped");
}

#[test]
fn options_round_trip() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    refused(tool(&env, &["options", "get"]), "needs the user PIN");
    let v = json(tool_pin(&env, &["options", "get", "--json"]));
    assert_eq!(v["value"], 0x0001);
    assert_eq!(v["key_counter_all"], false);

    let v = json(tool_pin(&env, &["options", "set", "--key-counter-all", "on", "--json"]));
    assert_eq!(v["value"], 0x0201);
    let v = json(tool_pin(&env, &["options", "get", "--json"]));
    assert_eq!(v["value"], 0x0201);
    assert_eq!(v["key_counter_all"], true);
    assert_eq!(v["set"], serde_json::json!(["reset-retry-counter", "key-counter-all"]));
    // The FCI (SELECT, no PIN) agrees with EXTRAS 06.
    let info = json(tool(&env, &["info", "--json"]));
    assert_eq!(info["options"]["value"], 0x0201);
    // And so does OpenSC, which reads the same FCI... through a restart of the card.
    env.restart_card(0);
    let v = json(tool_pin(&env, &["options", "get", "--json"]));
    assert_eq!(v["value"], 0x0201, "persistent");

    tool_pin(&env, &["options", "set", "--key-counter-all", "off"])
        .ok()
        .expect("key-counter-all      : off");
    assert_eq!(json(tool(&env, &["info", "--json"]))["options"]["value"], 0x0001);
    assert!(
        tool_pin(&env, &["options", "set", "--key-counter-all", "maybe"])
            .status
            .and_then(|s| s.code())
            == Some(2),
        "a bad value is a command-line error"
    );
}

#[test]
fn secure_lock_across_a_restart() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    tool_pin(
        &env,
        &["keys", "gen", "ec:secp256r1", "--label", "locked", "--id", "0A"],
    )
    .ok();
    let data = env.write_file("data.txt", b"signed while the lock is tested\n");
    let ok = "Verified OK";
    tool_sign_verified(&env, "01", "0A", &data, &[]).ok().expect(ok);

    let secret = env.dir().join("lock.secret");
    let s = path_str(&secret);
    refused(
        tool(&env, &["secure-lock", "enable", "--secret-file", &s, "--yes"]),
        "needs the user PIN",
    );
    assert!(!secret.exists());
    tool_pin(&env, &["secure-lock", "enable", "--secret-file", &s, "--yes"])
        .ok()
        .expect("secure lock on");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&secret).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let content = std::fs::read(&secret).unwrap();
    refused(
        tool_pin(&env, &["secure-lock", "enable", "--secret-file", &s, "--yes"]),
        "refusing to overwrite",
    );
    assert_eq!(
        std::fs::read(&secret).unwrap(),
        content,
        "the secret file is never overwritten"
    );
    let v = json(tool_pin(&env, &["info", "--json"]));
    assert_eq!(v["secure_lock"], true);
    assert_eq!(json(tool_pin(&env, &["options", "get", "--json"]))["secure_lock"], true);

    // After a restart the PIN verifies, but the keys stay closed: the tool's signature and OpenSC's.
    env.restart_card(0);
    refused(
        tool_pin(&env, &["keys", "sign", "01", "--input", &path_str(&data)]),
        "--lock-secret",
    );
    let hash = env.openssl_sha256(&data);
    // (The same command succeeds after `disable`, below.)
    let (out, _) = env.pkcs11_key_op("--sign", "0A", "ECDSA-SHA256", &data, &[]);
    assert!(!out.success(), "pkcs11-tool signs with the lock on:\n{out}");

    // A wrong secret is refused and changes nothing.
    let wrong = env.write_file("wrong.secret", format!("{}\n", "5a".repeat(32)).as_bytes());
    refused(
        tool_pin(&env, &["secure-lock", "unlock", "--secret-file", &path_str(&wrong)]),
        "wrong secret",
    );
    refused(
        tool_pin(&env, &["secure-lock", "disable", "--secret-file", &path_str(&wrong)]),
        "wrong secret",
    );
    // The right one opens the keys until the device restarts: for this tool and for OpenSC.
    tool_pin(&env, &["secure-lock", "unlock", "--secret-file", &s])
        .ok()
        .expect("the secret is right");
    tool_sign_verified(&env, "01", "0A", &data, &[]).ok().expect(ok);
    let (verified, _) = env.sign_and_verify_with(0, 0, "0A", "ECDSA-SHA256", &data, &hash);
    verified.ok().expect("Signature Verified Successfully");
    // A restart closes them again; --lock-secret sends the secret inside the tool's own session.
    env.restart_card(0);
    refused(
        tool_pin(&env, &["keys", "sign", "01", "--input", &path_str(&data)]),
        "6400",
    );
    tool_sign_verified(&env, "01", "0A", &data, &["--lock-secret", &s])
        .ok()
        .expect(ok);

    tool_pin(&env, &["secure-lock", "disable", "--secret-file", &s])
        .ok()
        .expect("secure lock off");
    env.restart_card(0);
    assert_eq!(json(tool_pin(&env, &["info", "--json"]))["secure_lock"], false);
    tool_sign_verified(&env, "01", "0A", &data, &[]).ok().expect(ok);
    // OpenSC signs again, verifiably.
    let (verified, _) = env.sign_and_verify_with(0, 0, "0A", "ECDSA-SHA256", &data, &hash);
    verified.ok().expect("Signature Verified Successfully");
}

#[test]
fn every_curve_and_rsa_size_signs_verifiably() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    let data = env.write_file("data.txt", b"every curve\n");
    let kinds = [
        "ec:secp192r1",
        "ec:secp224r1",
        "ec:secp256r1",
        "ec:secp384r1",
        "ec:secp521r1",
        "ec:secp256k1",
        "ec:brainpoolP256r1",
        "ec:brainpoolP384r1",
        "ec:brainpoolP512r1",
        "rsa:1024",
        "rsa:3072",
    ];
    for (i, kind) in kinds.iter().enumerate() {
        let slot = format!("{:02X}", i + 1);
        let id = format!("{:02X}", 0x40 + i);
        let v = json(tool_pin(
            &env,
            &["keys", "gen", kind, "--slot", &slot, "--id", &id, "--json"],
        ));
        eprintln!("{kind}: generated in {} s", v["seconds"]);
        // The public key from the tool (the card's CV request), checked by openssl.
        let pem = path_str(&env.dir().join(format!("pub-{slot}.pem")));
        tool(&env, &["keys", "public", &slot, "--out", &pem]).ok();
        let sig = path_str(&env.dir().join(format!("sig-{slot}.bin")));
        let d = path_str(&data);
        tool_pin(&env, &["keys", "sign", &slot, "--input", &d, "--out", &sig]).ok();
        env.openssl(&["dgst", "-sha256", "-verify", &pem, "-signature", &sig, &d])
            .ok()
            .expect("Verified OK");
        // Where OpenSC knows the curve (not P-224), its export is the same key.
        if *kind != "ec:secp224r1" {
            let theirs = std::fs::read_to_string(env.public_key_pem(&id)).unwrap();
            assert_eq!(std::fs::read_to_string(&pem).unwrap(), theirs, "{kind}");
        }
    }
}

#[test]
fn clock_and_reboot() {
    let Some(env) = Env::start() else { return };
    let v = json(tool(&env, &["rtc", "get", "--json"]));
    assert_eq!(v["set"], false);
    tool(&env, &["rtc", "set", "2030-01-02T03:04:05Z"])
        .ok()
        .expect("2030-01-02T03:04:05Z");
    let v = json(tool(&env, &["rtc", "get", "--json"]));
    let t = v["unix"].as_u64().unwrap();
    // 2030-01-02T03:04:05Z, computed independently of the tool.
    let expected = {
        let out = std::process::Command::new("date")
            .args(["-u", "-d", "2030-01-02T03:04:05Z", "+%s"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().parse::<u64>().unwrap()
    };
    assert!((expected..expected + 5).contains(&t), "{v:#}");
    assert!(v["utc"].as_str().unwrap().starts_with("2030-01-02T03:04:0"));

    tool(&env, &["rtc", "set"]).ok();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let t = json(tool(&env, &["rtc", "get", "--json"]))["unix"].as_u64().unwrap();
    assert!(t + 5 >= now && t <= now + 5, "card {t}, host {now}");
    refused(tool(&env, &["rtc", "set", "2023-02-29T00:00:00Z"]), "not a time");

    tool(&env, &["reboot"]).ok().expect("restarts");
    let v = json(tool(&env, &["rtc", "get", "--json"]));
    assert_eq!(v["set"], false, "the clock is lost by the reboot");
    tool(&env, &["info"]).ok();
}

#[test]
fn keys_gen_list_sign_delete() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    let data = env.write_file("data.txt", b"message for the keys test\n");
    let ec = json(tool_pin(
        &env,
        &[
            "keys",
            "gen",
            "ec:secp256r1",
            "--label",
            "ec-key",
            "--id",
            "0102",
            "--json",
        ],
    ));
    assert_eq!((ec["slot"].as_u64(), ec["id"].as_str()), (Some(1), Some("0102")));
    let rsa = json(tool_pin(
        &env,
        &["keys", "gen", "rsa:2048", "--label", "rsa-key", "--id", "03", "--json"],
    ));
    eprintln!("RSA-2048 key generation: {} s", rsa["seconds"]);
    assert_eq!(rsa["slot"], 2);
    tool_pin(&env, &["keys", "gen", "ec:secp384r1"])
        .ok()
        .expect("key 03 generated");

    let v = json(tool(&env, &["keys", "list", "--json"]));
    let keys = v["keys"].as_array().unwrap();
    let find = |slot: u64| {
        keys.iter()
            .find(|k| k["slot"] == slot)
            .unwrap_or_else(|| panic!("{v:#}"))
    };
    assert_eq!(find(0)["device_key"], true);
    assert_eq!(
        (
            find(1)["label"].as_str(),
            find(1)["type"].as_str(),
            find(1)["size"].as_u64()
        ),
        (Some("ec-key"), Some("ec"), Some(256))
    );
    assert_eq!(
        (
            find(2)["label"].as_str(),
            find(2)["type"].as_str(),
            find(2)["size"].as_u64()
        ),
        (Some("rsa-key"), Some("rsa"), Some(2048))
    );
    assert_eq!(
        (
            find(3)["label"].clone(),
            find(3)["id"].as_str(),
            find(3)["size"].as_u64()
        ),
        (Value::Null, Some("33"), Some(384))
    );
    // OpenSC sees the same labels and IDs.
    env.pkcs15_tool(&["--list-keys"])
        .ok()
        .expect("ec-key")
        .expect("rsa-key")
        .expect("0102");

    let ok = "Verified OK";
    tool_sign_verified(&env, "01", "0102", &data, &[]).ok().expect(ok);
    tool_sign_verified(&env, "02", "03", &data, &[]).ok().expect(ok);
    tool_sign_verified(&env, "03", "33", &data, &[]).ok().expect(ok);
    // A signature of other data does not verify (the check can fail).
    let other = env.write_file("other.txt", b"other\n");
    let sig = path_str(&env.dir().join("sig-01.bin"));
    tool_pin(
        &env,
        &["keys", "sign", "01", "--input", &path_str(&data), "--out", &sig],
    )
    .ok();
    let pem = path_str(&env.public_key_pem("0102"));
    env.openssl(&[
        "dgst",
        "-sha256",
        "-verify",
        &pem,
        "-signature",
        &sig,
        &path_str(&other),
    ])
    .failed();

    // Delete needs a confirmation; a missing slot is an error; nothing changes either way.
    refused(tool_pin(&env, &["keys", "delete", "01"]), "--yes");
    refused(tool_pin(&env, &["keys", "delete", "09", "--yes"]), "no key in slot 09");
    refused(
        tool_pin(&env, &["keys", "gen", "ec:secp256r1", "--slot", "1"]),
        "--force",
    );
    assert_eq!(key_slots(&env).len(), 3);
    tool_pin(&env, &["keys", "delete", "01", "--yes"])
        .ok()
        .expect("key 01 deleted");
    let slots: Vec<u64> = key_slots(&env).into_iter().map(|(s, _)| s).collect();
    assert_eq!(slots, [2, 3]);
    env.pkcs15_tool(&["--list-keys"])
        .ok()
        .expect_not("ec-key")
        .expect("rsa-key");
    refused(tool_pin(&env, &["keys", "delete", "00", "--yes"]), "device key");
}
