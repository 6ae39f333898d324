//! PKCS#11 data objects through OpenSC: written, read back, private ones only after login.

use hsm_e2e::{Env, USER_PIN, assert_same_bytes};

#[test]
fn public_data_object_round_trips() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    let content: Vec<u8> = (0..700u32).map(|i| (i * 7 % 256) as u8).collect();
    env.write_data_object("public-one", &content, false).ok();
    // Readable without login.
    let (out, data) = env.read_data_object("public-one", None);
    out.ok();
    assert_same_bytes("read back", &data.unwrap_or_default(), &content);
}

#[test]
fn private_data_object_needs_login() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    let content = b"private: only after VERIFY".to_vec();
    env.write_data_object("private-one", &content, true).ok();

    let (out, data) = env.read_data_object("private-one", None);
    let out = out.failed();
    assert!(data.is_none(), "private object read without login:\n{out}");
    env.pkcs11_tool(&["--list-objects", "--type", "data"])
        .ok()
        .expect_not("private-one");

    let (out, data) = env.read_data_object("private-one", Some(USER_PIN));
    out.ok();
    assert_same_bytes("read back", &data.unwrap_or_default(), &content);
}

#[test]
fn large_data_object_round_trips() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    // Larger than one short APDU and than upstream's 4096-byte vpcd buffer; 5000 bytes is the most
    // `pkcs11-tool --write-object` reads from a file (its MAX_OBJECT_SIZE silently truncates the rest).
    let content: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
    env.write_data_object("large", &content, false).ok();
    let (out, data) = env.read_data_object("large", None);
    out.ok();
    assert_same_bytes("read back", &data.unwrap_or_default(), &content);
}
