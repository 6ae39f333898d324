//! EC keys on every curve OpenSC 0.23 offers for this card, through PKCS#11: `pkcs11-tool --keypairgen`,
//! every ECDSA mechanism `pkcs11-tool -M` lists, and ECDH1-DERIVE; each result checked by `openssl` with
//! the public key `pkcs15-tool --read-public-key` exports.
//!
//! OpenSC's sc-hsm driver encodes keygen templates for secp192r1, secp256r1, secp384r1, secp521r1,
//! brainpoolP192r1/P224r1/P256r1/P320r1/P384r1/P512r1, secp192k1 and secp256k1. It has no template for
//! secp224r1 (`CKR_DATA_INVALID` before any APDU; the card is tested on it through PC/SC in
//! `keys_raw.rs`), and the card, like upstream, refuses brainpoolP192r1/P224r1 (6A81).

use std::path::Path;

use hsm_e2e::{Env, Output, USER_PIN, path_str};

/// A curve as `pkcs11-tool --key-type EC:<name>` and `openssl` name it, with the field size in bits.
struct Curve {
    name: &'static str,
    /// What `openssl pkey -text_pub` prints after `ASN1 OID: `.
    oid_name: &'static str,
    bits: usize,
}

const CURVES: [Curve; 9] = [
    Curve {
        name: "prime192v1",
        oid_name: "prime192v1",
        bits: 192,
    },
    Curve {
        name: "prime256v1",
        oid_name: "prime256v1",
        bits: 256,
    },
    Curve {
        name: "secp384r1",
        oid_name: "secp384r1",
        bits: 384,
    },
    Curve {
        name: "secp521r1",
        oid_name: "secp521r1",
        bits: 521,
    },
    Curve {
        name: "brainpoolP256r1",
        oid_name: "brainpoolP256r1",
        bits: 256,
    },
    Curve {
        name: "brainpoolP384r1",
        oid_name: "brainpoolP384r1",
        bits: 384,
    },
    Curve {
        name: "brainpoolP512r1",
        oid_name: "brainpoolP512r1",
        bits: 512,
    },
    Curve {
        name: "secp192k1",
        oid_name: "secp192k1",
        bits: 192,
    },
    Curve {
        name: "secp256k1",
        oid_name: "secp256k1",
        bits: 256,
    },
];

/// The hashed ECDSA mechanisms `pkcs11-tool -M` lists, with openssl's digest option.
const HASHED: [(&str, &str); 5] = [
    ("ECDSA-SHA1", "-sha1"),
    ("ECDSA-SHA224", "-sha224"),
    ("ECDSA-SHA256", "-sha256"),
    ("ECDSA-SHA384", "-sha384"),
    ("ECDSA-SHA512", "-sha512"),
];

/// Records a failure (the command and its output) instead of stopping at the first curve.
fn check(failures: &mut Vec<String>, what: String, out: &Output, ok: bool) {
    if !ok {
        failures.push(format!("{what}:\n{out}"));
    }
}

/// Every operation on the key `id` of `curve`; failures are collected in `failures`.
fn exercise(env: &Env, curve: &Curve, id: &str, data: &Path, failures: &mut Vec<String>) {
    let c = curve.name;
    let public = env.public_key_pem(id);
    let public_s = path_str(&public);
    let text = env.openssl(&["pkey", "-pubin", "-in", &public_s, "-noout", "-text_pub"]);
    let shown = format!("ASN1 OID: {}", curve.oid_name);
    let bits = format!("({} bit)", curve.bits);
    check(
        failures,
        format!("{c}: exported public key is on the curve"),
        &text,
        text.success() && text.contains(&shown) && text.contains(&bits),
    );

    // Hashed mechanisms: pkcs11-tool (and the card, or OpenSC in software for SHA-384/512) hash; openssl
    // verifies the DER signature over the data.
    let data_s = path_str(data);
    for (mechanism, digest) in HASHED {
        let (out, sig) = env.pkcs11_key_op("--sign", id, mechanism, data, &["--signature-format", "openssl"]);
        let Some(sig) = sig else {
            check(failures, format!("{c}: {mechanism} signature"), &out, false);
            continue;
        };
        let sig_path = env.write_file(&format!("sig-{id}-{mechanism}.der"), &sig);
        let verify = env.openssl(&[
            "dgst",
            digest,
            "-verify",
            &public_s,
            "-signature",
            &path_str(&sig_path),
            &data_s,
        ]);
        check(
            failures,
            format!("{c}: openssl verifies {mechanism}"),
            &verify,
            verify.success() && verify.contains("Verified OK"),
        );
    }

    // Raw ECDSA over a hash computed by openssl (SHA-256, and SHA-512 which is longer than the order of
    // the curves below 512 bits: both sides truncate it the same way).
    for digest in ["-sha256", "-sha512"] {
        let hash_path = env.dir().join(format!("hash-{id}{digest}.bin"));
        let hash_s = path_str(&hash_path);
        env.openssl(&["dgst", digest, "-binary", "-out", &hash_s, &data_s]).ok();
        let (out, sig) = env.pkcs11_key_op("--sign", id, "ECDSA", &hash_path, &["--signature-format", "openssl"]);
        let Some(sig) = sig else {
            check(failures, format!("{c}: raw ECDSA over {digest}"), &out, false);
            continue;
        };
        let sig_path = env.write_file(&format!("sig-{id}-raw{digest}.der"), &sig);
        let verify = env.openssl(&[
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            &public_s,
            "-in",
            &hash_s,
            "-sigfile",
            &path_str(&sig_path),
        ]);
        check(
            failures,
            format!("{c}: openssl pkeyutl verifies raw ECDSA over {digest}"),
            &verify,
            verify.success() && verify.contains("Signature Verified Successfully"),
        );
    }

    // ECDH with a peer key made by openssl: the card's secret equals openssl's.
    let (out, card, want) = env.ecdh_with_openssl_peer(id, curve.name, &public);
    assert_eq!(want.len(), curve.bits.div_ceil(8), "{c}: openssl secret length");
    match card {
        Some(got) if got == want => {}
        Some(got) => failures.push(format!(
            "{c}: ECDH1-DERIVE differs from openssl: card {} bytes {}, openssl {} bytes {}",
            got.len(),
            hex::encode(&got),
            want.len(),
            hex::encode(&want)
        )),
        None => check(failures, format!("{c}: ECDH1-DERIVE"), &out, false),
    }
}

/// All nine curves as keys 01..09 of one token: generated first, then each one used, so keys on
/// different slots must not interfere.
#[test]
fn every_opensc_curve_keypairgen_ecdsa_and_ecdh() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    let ids: Vec<String> = (1..=CURVES.len()).map(|i| format!("{i:02x}")).collect();
    for (curve, id) in CURVES.iter().zip(&ids) {
        env.keypairgen(&format!("EC:{}", curve.name), id, &format!("ec-{}", curve.name));
    }
    let listed = env
        .pkcs11_tool(&["--list-objects", "--type", "privkey", "--login", "--pin", USER_PIN])
        .ok();
    for curve in &CURVES {
        assert!(
            listed.contains(&format!("ec-{}", curve.name)),
            "key of {} not listed:\n{listed}",
            curve.name
        );
    }

    let data = env.write_file("data.txt", b"EC signature through PKCS#11, verified by openssl\n");
    let mut failures = Vec::new();
    for (curve, id) in CURVES.iter().zip(&ids) {
        exercise(&env, curve, id, &data, &mut failures);
    }
    hsm_e2e::assert_no_failures(&failures);
}

/// A signature of other data, or by another key, does not verify: the checks above are not vacuous.
#[test]
fn ecdsa_signature_does_not_verify_other_data_or_key() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    env.keypairgen("EC:prime256v1", "01", "a");
    env.keypairgen("EC:prime256v1", "02", "b");
    let (pub_a, pub_b) = (env.public_key_pem("01"), env.public_key_pem("02"));
    let data = env.write_file("data.txt", b"original\n");
    let other = env.write_file("other.txt", b"tampered\n");
    let (_, sig) = env.pkcs11_key_op(
        "--sign",
        "01",
        "ECDSA-SHA256",
        &data,
        &["--signature-format", "openssl"],
    );
    let sig = env.write_file("sig.der", &sig.expect("signature"));
    let verify = |public: &Path, data: &Path| {
        env.openssl(&[
            "dgst",
            "-sha256",
            "-verify",
            &path_str(public),
            "-signature",
            &path_str(&sig),
            &path_str(data),
        ])
    };
    verify(&pub_a, &data).ok().expect("Verified OK");
    verify(&pub_a, &other).failed().expect("Verification failure");
    verify(&pub_b, &data).failed().expect("Verification failure");
}

/// Curves OpenSC has templates for but the card (like upstream) does not support: refused, and the
/// token is unchanged (no key object appears, the next key generation still works).
#[test]
fn unsupported_brainpool_curves_are_refused_cleanly() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    for (curve, id) in [("brainpoolP192r1", "01"), ("brainpoolP224r1", "02")] {
        env.pkcs11_tool(&[
            "--keypairgen",
            "--key-type",
            &format!("EC:{curve}"),
            "--id",
            id,
            "--login",
            "--pin",
            USER_PIN,
        ])
        .failed()
        .expect("C_GenerateKeyPair failed");
        assert!(
            env.card_log(0).contains("SW 6A81"),
            "card did not answer 6A81 for {curve}"
        );
    }
    env.pkcs11_tool(&["--list-objects", "--login", "--pin", USER_PIN])
        .ok()
        .expect_not("Private Key Object");
    env.keypairgen("EC:prime256v1", "03", "after");
    let listed = env.pkcs11_tool(&["--list-objects", "--type", "privkey", "--login", "--pin", USER_PIN]);
    assert_eq!(listed.ok().stdout.matches("Private Key Object").count(), 1);
}

/// Keys survive a power cut of the card (SIGKILL and restart on the same state): an EC and an RSA key
/// made before still sign, and openssl verifies with the public keys exported before the restart.
#[test]
fn keys_survive_a_card_restart() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    env.keypairgen("EC:secp384r1", "01", "ec");
    env.keypairgen("rsa:1024", "02", "rsa");
    let (ec_pub, rsa_pub) = (env.public_key_pem("01"), env.public_key_pem("02"));
    env.restart_card(0);
    let data = env.write_file("data.txt", b"signed after a restart\n");
    for (id, mechanism, public) in [("01", "ECDSA-SHA384", &ec_pub), ("02", "SHA384-RSA-PKCS", &rsa_pub)] {
        let (out, sig) = env.pkcs11_key_op("--sign", id, mechanism, &data, &["--signature-format", "openssl"]);
        let sig = sig.unwrap_or_else(|| panic!("{mechanism} after restart failed:\n{out}"));
        let sig = env.write_file(&format!("sig-{id}"), &sig);
        env.openssl(&[
            "dgst",
            "-sha384",
            "-verify",
            &path_str(public),
            "-signature",
            &path_str(&sig),
            &path_str(&data),
        ])
        .ok()
        .expect("Verified OK");
    }
}
