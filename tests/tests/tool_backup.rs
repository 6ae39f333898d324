//! `pico-hsm-tool backup` / `restore` between two virtual cards in one private pcscd, with OpenSC and
//! OpenSSL as the judges: DKEK share files move between pico-hsm-tool and sc-hsm-tool in both
//! directions; keys made with pkcs11-tool on card 0 are restored on card 1 with their labels, sign
//! there verifiably with card 0's public keys (openssl), the AES key encrypts identically, the data
//! objects come back; our `.wrap` files unwrap with `sc-hsm-tool --unwrap-key` and sc-hsm-tool's
//! `--wrap-key` file restores with pico-hsm-tool. The last test times backing up and restoring 50 keys.

use std::path::Path;
use std::time::Instant;

use hsm_e2e::{Env, SELECT_APDU, USER_PIN, apdu_script_binary, cipher_symmetric_apdu, kcv_in, path_str, verify_apdu};
use hsm_tool::wrapfile::WrappedKey;

const TOOL: &str = env!("CARGO_BIN_EXE_e2e-hsm-tool");
const PASSWORD: &str = "tool-backup-password";

/// An extended case 4 APDU in hex (Le 0000).
fn ext_apdu(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8]) -> String {
    let mut v = vec![cla, ins, p1, p2, 0, (data.len() >> 8) as u8, data.len() as u8];
    v.extend_from_slice(data);
    v.extend_from_slice(&[0, 0]);
    hex::encode_upper(v)
}

fn put(out: &mut Vec<u8>, tag: u16, value: &[u8]) {
    let mut hdr = [0u8; 7];
    out.extend_from_slice(hsm_apdu::tlv::header(tag, value.len(), &mut hdr));
    out.extend_from_slice(value);
}

/// GENERATE ASYMMETRIC KEY PAIR (00 46 id 00) of a P-256 key, as OpenSC sends it.
fn p256_keygen_apdu(id: u8) -> String {
    let h = |s: &str| hex::decode(s).unwrap();
    let mut t = Vec::new();
    put(&mut t, 0x06, &h("04007F00070202020203"));
    put(
        &mut t,
        0x81,
        &h("FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF"),
    );
    put(
        &mut t,
        0x82,
        &h("FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFC"),
    );
    put(
        &mut t,
        0x83,
        &h("5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B"),
    );
    put(
        &mut t,
        0x84,
        &h(
            "046B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C2964FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5",
        ),
    );
    put(
        &mut t,
        0x85,
        &h("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551"),
    );
    let mut data = Vec::new();
    put(&mut data, 0x5F29, &[0]);
    put(&mut data, 0x42, b"UTCA00001");
    put(&mut data, 0x7F49, &t);
    put(&mut data, 0x5F20, b"UTTM00001");
    ext_apdu(0x00, 0x46, id, 0x00, &data)
}

/// `pico-hsm-tool ARGS` inside the namespaces.
fn tool(env: &Env, args: &[&str]) -> hsm_e2e::Output {
    env.run(TOOL, args)
}

/// `pico-hsm-tool --reader <card index> --pin-file PIN ARGS`.
fn tool_on(env: &Env, index: usize, pin_file: &str, args: &[&str]) -> hsm_e2e::Output {
    let reader = Env::reader_name(index);
    let mut full = vec!["--reader", reader.as_str(), "--pin-file", pin_file];
    full.extend_from_slice(args);
    tool(env, &full)
}

/// `pico-hsm-tool --reader <card index> dkek import-share SHARE --password-file PASSWORD_FILE`.
fn tool_import_share(env: &Env, index: usize, share: &str, password_file: &str) -> hsm_e2e::Output {
    let reader = Env::reader_name(index);
    tool(
        env,
        &[
            "--reader",
            &reader,
            "dkek",
            "import-share",
            share,
            "--password-file",
            password_file,
        ],
    )
}

/// Both cards initialized for one DKEK share.
fn initialize_both(env: &Env) {
    for index in 0..2 {
        env.initialize_reader(index, &["--dkek-shares", "1"]);
    }
}

/// SHA-256 of a file as `sha256sum` prints it.
fn sha256sum(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Signs `hash_file`'s content on card `index` with key reference `id` (80 68 id P2), writes the
/// signature to a file and returns its path.
fn sign_raw(env: &Env, index: usize, id: u8, p2: u8, data: &[u8], name: &str) -> String {
    let r = env.apdu_script_logged_in(apdu_script_binary!(), index, &[ext_apdu(0x80, 0x68, id, p2, data)]);
    assert!(
        r[0].ends_with("9000"),
        "sign with key {id:02X} on card {index}: {}",
        r[0]
    );
    let sig = hex::decode(&r[0][..r[0].len() - 4]).unwrap();
    path_str(&env.write_file(name, &sig))
}

#[test]
fn backup_on_one_device_restore_on_another() {
    let Some(env) = Env::with_cards(2) else { return };
    initialize_both(&env);
    let pin_file = path_str(&env.write_file("pin.txt", format!("{USER_PIN}\n").as_bytes()));
    let pw_file = path_str(&env.write_file("password.txt", format!("{PASSWORD}\n").as_bytes()));

    // A share made by pico-hsm-tool: imported by pico-hsm-tool on card 0, by sc-hsm-tool on card 1.
    let share = path_str(&env.dir().join("share.pbe"));
    tool(&env, &["dkek", "create-share", &share, "--password-file", &pw_file]).ok();
    let out0 = tool_import_share(&env, 0, &share, &pw_file).ok();
    let out1 = env.import_dkek_share(1, &share, PASSWORD);
    let (k0, k1) = (kcv_in(&out0.text()), kcv_in(&out1.text()));
    assert!(k0.is_some() && k0 == k1, "KCVs differ:\n{out0}\n{out1}");

    // Card 0: EC and RSA keys and two data objects through PKCS#11, an AES key through the card.
    for (kind, id, label) in [("EC:prime256v1", "01", "ec-key"), ("rsa:2048", "02", "rsa-key")] {
        env.keypairgen_on(0, kind, id, label);
    }
    let public_content = b"a public data object, backed up and restored\n".to_vec();
    let private_content: Vec<u8> = (0..1500u32).map(|i| (i * 13 % 251) as u8).collect();
    for (label, content, private) in [
        ("data-public", &public_content, false),
        ("data-private", &private_content, true),
    ] {
        env.write_data_object_on(0, label, content, private).ok();
    }
    let r = env.apdu_script(
        apdu_script_binary!(),
        0,
        &[SELECT_APDU.into(), verify_apdu(), "004803B2".into()],
    );
    assert_eq!(r, ["9000", "9000", "9000"], "AES key generation on card 0");
    // A CA certificate (no key on the card has its ID): OpenSC stores it in CAxx with a description C8xx.
    let ca_key = path_str(&env.dir().join("ca.key"));
    let ca_cert = path_str(&env.dir().join("ca.der"));
    env.openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &ca_key,
        "-subj",
        "/CN=Backup Test CA",
        "-days",
        "30",
        "-outform",
        "DER",
        "-out",
        &ca_cert,
    ])
    .ok();
    env.pkcs11_tool(&[
        "--slot-index",
        "0",
        "--login",
        "--pin",
        USER_PIN,
        "--write-object",
        &ca_cert,
        "--type",
        "cert",
        "--id",
        "99",
        "--label",
        "backup-ca",
    ])
    .ok();

    // Backup of card 0; a second backup into the same directory needs --force.
    let dir = env.dir().join("backup");
    let dir_s = path_str(&dir);
    let out = tool_on(&env, 0, &pin_file, &["backup", &dir_s]).ok();
    assert!(
        out.stdout
            .contains(&format!("backed up 3 keys, 2 data objects, 1 certificate to {dir_s}")),
        "{out}"
    );
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    eprintln!("backup files: {files:?}\n{out}");
    for f in ["key-01.wrap", "key-02.wrap", "key-03.wrap", "manifest.txt"] {
        assert!(files.contains(&f.to_string()), "{f} missing: {files:?}");
    }
    let manifest = std::fs::read_to_string(dir.join("manifest.txt")).unwrap();
    eprintln!("manifest.txt:\n{manifest}");
    tool_on(&env, 0, &pin_file, &["backup", &dir_s])
        .failed()
        .expect("--force");
    tool_on(&env, 0, &pin_file, &["backup", &dir_s, "--force"]).ok();

    // Restore on card 1 (the same DKEK); once more is refused, nothing changes.
    let out = tool_on(&env, 1, &pin_file, &["restore", &dir_s]).ok();
    assert!(
        out.stdout
            .contains(&format!("restored 3 keys, 2 data objects, 1 certificate from {dir_s}")),
        "{out}"
    );
    tool_on(&env, 1, &pin_file, &["restore", &dir_s])
        .failed()
        .expect("key slot 01")
        .expect("--force");

    // OpenSC on card 1 shows card 0's keys and data objects.
    let objects = env
        .pkcs11_tool(&["--slot-index", "1", "-O", "--login", "--pin", USER_PIN])
        .ok();
    for label in ["ec-key", "rsa-key", "data-public", "data-private", "backup-ca"] {
        assert!(objects.contains(label), "card 1 does not list {label}:\n{objects}");
    }
    for (label, content) in [("data-public", &public_content), ("data-private", &private_content)] {
        let (out, data) = env.read_data_object_on(1, label, Some(USER_PIN));
        let data = data.unwrap_or_else(|| panic!("{label} not read from card 1:\n{out}"));
        hsm_e2e::assert_same_bytes(label, &data, content);
    }
    let ca_out = path_str(&env.dir().join("ca.out"));
    env.pkcs11_tool(&[
        "--slot-index",
        "1",
        "--read-object",
        "--type",
        "cert",
        "--label",
        "backup-ca",
        "-o",
        &ca_out,
    ])
    .ok();
    hsm_e2e::assert_same_bytes(
        "CA certificate",
        &std::fs::read(&ca_out).unwrap(),
        &std::fs::read(&ca_cert).unwrap(),
    );

    // Signatures made on card 1 verify with card 0's public keys.
    let data_path = env.write_file("data.txt", b"signed on the second device\n");
    let hash_path = env.openssl_sha256(&data_path);
    let (data_file, hash_file) = (path_str(&data_path), path_str(&hash_path));
    let mut pems = Vec::new();
    for (id, mechanism) in [("01", "ECDSA-SHA256"), ("02", "SHA256-RSA-PKCS")] {
        let (out, pem) = env.sign_and_verify_with(1, 0, id, mechanism, &data_path, &hash_path);
        out.expect("Signature Verified Successfully");
        pems.push(path_str(&pem));
    }
    // The AES key gives the same ciphertext on both cards.
    let block = [0x5Au8; 32];
    let cipher = |index| {
        let apdu = cipher_symmetric_apdu(3, 0x10, &block, 0);
        env.apdu_script_logged_in(apdu_script_binary!(), index, &[apdu])[0].clone()
    };
    let (a, b) = (cipher(0), cipher(1));
    assert!(
        a == b && a.ends_with("9000") && a.len() == 2 * 32 + 4,
        "AES-CBC: card 0 {a}, card 1 {b}"
    );

    // Interop 1: sc-hsm-tool --unwrap-key takes our key-01.wrap into key reference 9 of card 1.
    let ours = path_str(&dir.join("key-01.wrap"));
    let out = env.sc_hsm_tool(&[
        "--reader",
        "1",
        "--unwrap-key",
        &ours,
        "--key-reference",
        "9",
        "--pin",
        USER_PIN,
    ]);
    assert!(
        out.contains("Key successfully imported")
            && out.contains("Private Key Description")
            && out.contains("Certificate"),
        "sc-hsm-tool --unwrap-key of our file:\n{out}"
    );
    let hash = std::fs::read(&hash_file).unwrap();
    let sig = sign_raw(&env, 1, 9, 0x70, &hash, "sig-09.der");
    env.openssl(&[
        "pkeyutl", "-verify", "-pubin", "-inkey", &pems[0], "-in", &hash_file, "-sigfile", &sig,
    ])
    .expect("Signature Verified Successfully");

    // Interop 2: sc-hsm-tool --wrap-key's file of the RSA key, put into a backup directory with the
    // manifest line docs/tool.md describes, restores with pico-hsm-tool into key slot 0A of card 1.
    let theirs_dir = env.dir().join("from-sc-hsm-tool");
    std::fs::create_dir(&theirs_dir).unwrap();
    let theirs = theirs_dir.join("rsa.wrap");
    let out = env.sc_hsm_tool(&[
        "--reader",
        "0",
        "--wrap-key",
        &path_str(&theirs),
        "--key-reference",
        "2",
        "--pin",
        USER_PIN,
    ]);
    assert!(theirs.exists(), "sc-hsm-tool --wrap-key wrote no file:\n{out}");
    std::fs::write(
        theirs_dir.join("manifest.txt"),
        format!("pico-hsm-tool backup 1\nCC0A {} rsa.wrap\n", sha256sum(&theirs)),
    )
    .unwrap();
    // Their file and ours for the same key: the same layout, description and certificate, a blob under
    // the same DKEK; our encoder gives back their bytes exactly.
    let their_bytes = std::fs::read(&theirs).unwrap();
    let t = WrappedKey::parse(&their_bytes).expect("sc-hsm-tool's file parses");
    let o = WrappedKey::parse(&std::fs::read(dir.join("key-02.wrap")).unwrap()).unwrap();
    assert_eq!((&t.prkd, &t.cert), (&o.prkd, &o.cert), "description and certificate");
    assert!(t.prkd.is_some() && t.cert.is_some());
    assert_eq!(
        (&t.blob[..9], t.blob.len()),
        (&o.blob[..9], o.blob.len()),
        "KCV, type, length"
    );
    assert_eq!(t.encode().unwrap(), their_bytes, "our encoding of their content");
    let out = tool_on(&env, 1, &pin_file, &["restore", &path_str(&theirs_dir)]).ok();
    assert!(out.stdout.contains("restored 1 key, 0 data objects"), "{out}");
    // RSA PKCS#1 v1.5 with SHA-256 on the card (P2 33) with key 0A; openssl checks with card 0's key.
    let data = std::fs::read(&data_file).unwrap();
    let sig = sign_raw(&env, 1, 0x0A, 0x33, &data, "sig-0A.bin");
    env.openssl(&["dgst", "-sha256", "-verify", &pems[1], "-signature", &sig, &data_file])
        .expect("Verified OK");
}

#[test]
fn fifty_keys_timed() {
    let Some(env) = Env::with_cards(2) else { return };
    initialize_both(&env);
    let pin_file = path_str(&env.write_file("pin.txt", format!("{USER_PIN}\n").as_bytes()));
    let pw_file = path_str(&env.write_file("password.txt", format!("{PASSWORD}\n").as_bytes()));

    // A share made by sc-hsm-tool: imported by sc-hsm-tool on card 0, by pico-hsm-tool on card 1.
    let share = path_str(&env.dir().join("share.pbe"));
    env.create_dkek_share(0, &share, PASSWORD).ok();
    let out0 = env.import_dkek_share(0, &share, PASSWORD);
    let out1 = tool_import_share(&env, 1, &share, &pw_file).ok();
    let (k0, k1) = (kcv_in(&out0.text()), kcv_in(&out1.text()));
    assert!(k0.is_some() && k0 == k1, "KCVs differ:\n{out0}\n{out1}");

    const KEYS: u8 = 50;
    let mut apdus = vec![SELECT_APDU.to_string(), verify_apdu()];
    apdus.extend((1..=KEYS).map(p256_keygen_apdu));
    let started = Instant::now();
    let r = env.apdu_script(apdu_script_binary!(), 0, &apdus);
    let keygen = started.elapsed();
    for (i, resp) in r[2..].iter().enumerate() {
        assert!(
            resp.starts_with("67") && resp.ends_with("9000"),
            "keygen {}: {resp}",
            i + 1
        );
    }

    let dir = path_str(&env.dir().join("backup50"));
    let started = Instant::now();
    let out = tool_on(&env, 0, &pin_file, &["backup", &dir]).ok();
    let backup = started.elapsed();
    assert!(
        out.stdout.contains(&format!("backed up {KEYS} keys, 0 data objects")),
        "{out}"
    );
    let started = Instant::now();
    let out = tool_on(&env, 1, &pin_file, &["restore", &dir]).ok();
    let restore = started.elapsed();
    assert!(
        out.stdout.contains(&format!("restored {KEYS} keys, 0 data objects")),
        "{out}"
    );

    // The last key, restored on card 1, signs verifiably with the public key card 0 generated.
    let last = r.last().unwrap();
    let request = hex::decode(&last[..last.len() - 4]).unwrap();
    let point = [0x67, 0x7F21, 0x7F4E, 0x7F49, 0x86]
        .iter()
        .fold(&request[..], |d, tag| hsm_apdu::tlv::find(d, *tag).unwrap().unwrap());
    let mut spki = hex::decode("3059301306072A8648CE3D020106082A8648CE3D030107034200").unwrap();
    spki.extend_from_slice(point);
    let spki = path_str(&env.write_file("key50.der", &spki));
    let hash = [0x42u8; 32];
    let hash_file = path_str(&env.write_file("hash50.bin", &hash));
    let sig = sign_raw(&env, 1, KEYS, 0x70, &hash, "sig50.der");
    env.openssl(&[
        "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", &spki, "-in", &hash_file, "-sigfile", &sig,
    ])
    .expect("Signature Verified Successfully");

    let per_key = |d: std::time::Duration| d.as_secs_f64() * 1000.0 / f64::from(KEYS);
    println!(
        "pico-hsm-tool, {KEYS} P-256 keys through pcscd + vpcd: keygen (apdu-script) {:.2} s; backup {:.2} s \
         ({:.1} ms/key); restore {:.2} s ({:.1} ms/key); backup + restore {:.2} s",
        keygen.as_secs_f64(),
        backup.as_secs_f64(),
        per_key(backup),
        restore.as_secs_f64(),
        per_key(restore),
        (backup + restore).as_secs_f64()
    );
}
