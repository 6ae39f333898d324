//! Asymmetric keys through OpenSC: key generation with `pkcs11-tool --keypairgen`, signatures and
//! decryption on the card, each result checked by `openssl` with the public key `pkcs15-tool` exports.

use std::path::{Path, PathBuf};

use hsm_e2e::{Env, USER_PIN};

fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn keypairgen(env: &Env, key_type: &str, id: &str, label: &str) {
    env.pkcs11_tool(&[
        "--keypairgen",
        "--key-type",
        key_type,
        "--id",
        id,
        "--label",
        label,
        "--login",
        "--pin",
        USER_PIN,
    ])
    .ok();
}

/// Exports the public key of `id` as PEM through `pkcs15-tool`.
fn public_pem(env: &Env, id: &str) -> PathBuf {
    let out = env.pkcs15_tool(&["--read-public-key", id]).ok();
    assert!(out.stdout.contains("BEGIN PUBLIC KEY"), "no PEM public key:\n{out}");
    env.write_file(&format!("pub{id}.pem"), out.stdout.as_bytes())
}

/// Signs `data` on the card with `mechanism`; returns the signature file.
fn sign(env: &Env, id: &str, mechanism: &str, data: &Path, extra: &[&str]) -> PathBuf {
    let sig = env.dir().join(format!("sig-{id}-{mechanism}"));
    let (data, sig_s) = (path(data), path(&sig));
    let mut args = vec![
        "--sign",
        "--mechanism",
        mechanism,
        "--id",
        id,
        "--login",
        "--pin",
        USER_PIN,
        "--input-file",
        &data,
        "--output-file",
        &sig_s,
    ];
    args.extend_from_slice(extra);
    env.pkcs11_tool(&args).ok();
    sig
}

fn openssl_verify(env: &Env, digest: &str, public: &Path, sig: &Path, data: &Path) {
    env.run(
        "openssl",
        &[
            "dgst",
            digest,
            "-verify",
            &path(public),
            "-signature",
            &path(sig),
            &path(data),
        ],
    )
    .ok()
    .expect("Verified OK");
}

#[test]
fn ec_p256_keypairgen_sign_verify_and_derive() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    keypairgen(&env, "EC:prime256v1", "01", "k1");
    env.pkcs11_tool(&["--list-objects", "--login", "--pin", USER_PIN])
        .ok()
        .expect("k1");
    let public = public_pem(&env, "01");
    let data = env.write_file("data.txt", b"signed by a key that never leaves the card\n");
    let sig = sign(&env, "01", "ECDSA-SHA256", &data, &["--signature-format", "openssl"]);
    openssl_verify(&env, "-sha256", &public, &sig, &data);

    // ECDH: the card's shared secret equals openssl's for a peer key made by openssl.
    let peer = env.dir().join("peer.pem");
    env.run(
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &path(&peer),
        ],
    )
    .ok();
    let peer_der = env.dir().join("peer-pub.der");
    env.run(
        "openssl",
        &[
            "pkey",
            "-in",
            &path(&peer),
            "-pubout",
            "-outform",
            "DER",
            "-out",
            &path(&peer_der),
        ],
    )
    .ok();
    let card_secret = env.dir().join("card.secret");
    env.pkcs11_tool(&[
        "--derive",
        "--mechanism",
        "ECDH1-DERIVE",
        "--id",
        "01",
        "--login",
        "--pin",
        USER_PIN,
        "--input-file",
        &path(&peer_der),
        "--output-file",
        &path(&card_secret),
    ])
    .ok();
    let expected = env.dir().join("openssl.secret");
    env.run(
        "openssl",
        &[
            "pkeyutl",
            "-derive",
            "-inkey",
            &path(&peer),
            "-peerkey",
            &path(&public),
            "-out",
            &path(&expected),
        ],
    )
    .ok();
    let got = std::fs::read(&card_secret).unwrap();
    let want = std::fs::read(&expected).unwrap();
    assert_eq!(want.len(), 32);
    hsm_e2e::assert_same_bytes("ECDH shared secret", &got, &want);
}

#[test]
fn rsa_2048_keypairgen_sign_verify_and_decrypt() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    keypairgen(&env, "rsa:2048", "02", "r1");
    let public = public_pem(&env, "02");
    let data = env.write_file("data.txt", b"RSA signature through PKCS#11\n");
    let sig = sign(&env, "02", "SHA256-RSA-PKCS", &data, &[]);
    openssl_verify(&env, "-sha256", &public, &sig, &data);

    let secret = b"session key material";
    let plain = env.write_file("plain.bin", secret);
    let ct = env.dir().join("ct.bin");
    env.run(
        "openssl",
        &[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            &path(&public),
            "-in",
            &path(&plain),
            "-out",
            &path(&ct),
        ],
    )
    .ok();
    let out = env.dir().join("pt.bin");
    env.pkcs11_tool(&[
        "--decrypt",
        "--mechanism",
        "RSA-PKCS",
        "--id",
        "02",
        "--login",
        "--pin",
        USER_PIN,
        "--input-file",
        &path(&ct),
        "--output-file",
        &path(&out),
    ])
    .ok();
    hsm_e2e::assert_same_bytes("RSA-PKCS plaintext", &std::fs::read(&out).unwrap(), secret);
}
