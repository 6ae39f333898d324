//! PKCS#11 data objects through OpenSC: written, read back, private ones only after login.

use std::fs;

use hsm_e2e::{Env, USER_PIN, assert_same_bytes};

#[test]
fn public_data_object_round_trips() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    let content: Vec<u8> = (0..700u32).map(|i| (i * 7 % 256) as u8).collect();
    let input = env.write_file("public.bin", &content);
    env.pkcs11_tool(&[
        "--login",
        "--pin",
        USER_PIN,
        "--write-object",
        input.to_str().unwrap(),
        "--type",
        "data",
        "--label",
        "public-one",
    ])
    .ok();
    // Readable without login.
    let output = env.dir().join("public.out");
    env.pkcs11_tool(&[
        "--read-object",
        "--type",
        "data",
        "--label",
        "public-one",
        "-o",
        output.to_str().unwrap(),
    ])
    .ok();
    assert_same_bytes("read back", &fs::read(&output).unwrap(), &content);
}

#[test]
fn private_data_object_needs_login() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    let content = b"private: only after VERIFY".to_vec();
    let input = env.write_file("private.bin", &content);
    env.pkcs11_tool(&[
        "--login",
        "--pin",
        USER_PIN,
        "--write-object",
        input.to_str().unwrap(),
        "--type",
        "data",
        "--label",
        "private-one",
        "--private",
    ])
    .ok();

    let output = env.dir().join("private.out");
    let output_path = output.to_str().unwrap();
    let out = env
        .pkcs11_tool(&[
            "--read-object",
            "--type",
            "data",
            "--label",
            "private-one",
            "-o",
            output_path,
        ])
        .failed();
    assert!(
        fs::read(&output).map(|d| d != content).unwrap_or(true),
        "private object read without login:\n{out}"
    );
    env.pkcs11_tool(&["--list-objects", "--type", "data"])
        .ok()
        .expect_not("private-one");

    env.pkcs11_tool(&[
        "--login",
        "--pin",
        USER_PIN,
        "--read-object",
        "--type",
        "data",
        "--label",
        "private-one",
        "-o",
        output_path,
    ])
    .ok();
    assert_same_bytes("read back", &fs::read(&output).unwrap(), &content);
}

#[test]
fn large_data_object_round_trips() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    // Larger than one short APDU and than upstream's 4096-byte vpcd buffer; 5000 bytes is the most
    // `pkcs11-tool --write-object` reads from a file (its MAX_OBJECT_SIZE silently truncates the rest).
    let content: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
    let input = env.write_file("large.bin", &content);
    env.pkcs11_tool(&[
        "--login",
        "--pin",
        USER_PIN,
        "--write-object",
        input.to_str().unwrap(),
        "--type",
        "data",
        "--label",
        "large",
    ])
    .ok();
    let output = env.dir().join("large.out");
    env.pkcs11_tool(&[
        "--read-object",
        "--type",
        "data",
        "--label",
        "large",
        "-o",
        output.to_str().unwrap(),
    ])
    .ok();
    assert_same_bytes("read back", &fs::read(&output).unwrap(), &content);
}
