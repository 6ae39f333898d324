//! The device identity through pcscd: the out-of-the-box chain in C_DevAut (device certificate ‖
//! device issuer certificate) as OpenSC uses it, a self-hosted device CA (`pico-hsm-tool ca init`,
//! `ca issue` through the rescue applet) and `pico-hsm-tool attest`, whose verdicts are checked
//! against OpenSSL verifying the same signatures from the CA's key file and the key's public key as
//! OpenSC reads it. Last, public key authentication between two cards with OpenSC's tools.

use std::path::Path;
use std::time::Instant;

use hsm_apdu::tlv;
use hsm_e2e::{Env, SELECT_APDU, apdu_script_binary, path_str};

const TOOL: &str = env!("CARGO_BIN_EXE_e2e-hsm-tool");

/// `pico-hsm-tool --reader <card 0> ARGS`.
fn tool(env: &Env, args: &[&str]) -> hsm_e2e::Output {
    let reader = Env::reader_name(0);
    let mut full = vec!["--reader", reader.as_str()];
    full.extend_from_slice(args);
    env.run(TOOL, &full)
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.trim()).unwrap()
}

/// The content of file `fid` of card 0 (READ BINARY odd, extended Le).
fn read(env: &Env, fid: u16) -> Vec<u8> {
    let [hi, lo] = fid.to_be_bytes();
    let r = env.apdu_script(
        apdu_script_binary!(),
        0,
        &[
            SELECT_APDU.into(),
            format!("00B1{hi:02X}{lo:02X}00000454020000 0000").replace(' ', ""),
        ],
    );
    let resp = unhex(&r[1]);
    assert_eq!(&resp[resp.len() - 2..], [0x90, 0x00], "READ {fid:04X}: {}", r[1]);
    resp[..resp.len() - 2].to_vec()
}

/// The top-level TLVs of `data`, each whole.
fn split(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for item in tlv::Reader::new(data) {
        let item = item.unwrap();
        let mut hdr = [0u8; 7];
        let mut whole = tlv::header(item.tag, item.value.len(), &mut hdr).to_vec();
        whole.extend_from_slice(item.value);
        out.push(whole);
    }
    assert_eq!(out.iter().map(Vec::len).sum::<usize>(), data.len(), "trailing bytes");
    out
}

fn find<'a>(data: &'a [u8], path: &[u16]) -> &'a [u8] {
    path.iter().fold(data, |d, t| {
        tlv::find(d, *t).unwrap().unwrap_or_else(|| panic!("no tag {t:X}"))
    })
}

/// A whole TLV object.
fn object(tag: u16, value: &[u8]) -> Vec<u8> {
    let mut hdr = [0u8; 7];
    let mut v = tlv::header(tag, value.len(), &mut hdr).to_vec();
    v.extend_from_slice(value);
    v
}

/// Raw `r ‖ s` as a DER ECDSA-Sig-Value, written from X9.62 for OpenSSL.
fn der_signature(rs: &[u8]) -> Vec<u8> {
    let int = |x: &[u8]| {
        let x: Vec<u8> = x.iter().copied().skip_while(|b| *b == 0).collect();
        let mut v = if x.first().is_some_and(|b| b & 0x80 != 0) {
            vec![0]
        } else {
            vec![]
        };
        v.extend_from_slice(&x);
        let mut o = vec![0x02, v.len() as u8];
        o.extend_from_slice(&v);
        o
    };
    let (r, s) = rs.split_at(rs.len() / 2);
    let mut body = int(r);
    body.extend_from_slice(&int(s));
    let mut o = vec![0x30, body.len() as u8];
    o.extend_from_slice(&body);
    o
}

/// A P-256 point as a DER SubjectPublicKeyInfo (RFC 5480), converted to PEM by OpenSSL.
fn point_pem(env: &Env, name: &str, point: &[u8]) -> String {
    let mut der = unhex("3059301306072a8648ce3d020106082a8648ce3d030107034200");
    der.extend_from_slice(point);
    let d = env.write_file(&format!("{name}.der"), &der);
    let pem = env.dir().join(format!("{name}.pem"));
    env.openssl(&[
        "pkey",
        "-pubin",
        "-inform",
        "DER",
        "-in",
        &path_str(&d),
        "-out",
        &path_str(&pem),
    ])
    .ok();
    path_str(&pem)
}

/// Whether OpenSSL verifies ECDSA-SHA-256 signature `rs` (raw) over `msg` with the PEM key `key`.
fn openssl_verifies(env: &Env, tag: &str, key: &str, msg: &[u8], rs: &[u8]) -> bool {
    let m = env.write_file(&format!("{tag}.msg"), msg);
    let s = env.write_file(&format!("{tag}.sig"), &der_signature(rs));
    let out = env.openssl(&[
        "dgst",
        "-sha256",
        "-verify",
        key,
        "-signature",
        &path_str(&s),
        &path_str(&m),
    ]);
    out.success() && out.stdout.contains("Verified OK")
}

/// The file `sc-hsm-tool --export-for-pub-key-auth FILE -i 1` writes: `30 { CE01 ‖ C_DevAut }`.
fn export_for_pub_key_auth(env: &Env, reader: usize, file: &str) -> Vec<u8> {
    let path = env.dir().join(file);
    let out = env.sc_hsm_tool(&[
        "--reader",
        &reader.to_string(),
        "--export-for-pub-key-auth",
        &path_str(&path),
        "-i",
        "1",
    ]);
    assert!(!out.contains("Could not determine device issuer certificate"), "{out}");
    std::fs::read(&path).unwrap_or_else(|e| panic!("no export file ({e}):\n{out}"))
}

/// The PKCS#11 token serial (`pkcs11-tool -L`).
fn token_serial(env: &Env) -> String {
    let out = env.pkcs11_tool(&["-L"]).ok();
    out.stdout
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("serial num")
                .map(|s| s.trim_start_matches([' ', ':']).trim().to_string())
        })
        .unwrap_or_else(|| panic!("no serial:\n{out}"))
}

#[test]
fn out_of_the_box_chain_serves_opensc() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    env.keypairgen("EC:prime256v1", "01", "attested");

    let chain = read(&env, 0x2F02);
    let certs = split(&chain);
    assert_eq!(certs.len(), 2, "device certificate ‖ issuer certificate");
    let device_chr = find(&certs[0], &[0x7F21, 0x7F4E, 0x5F20]).to_vec();
    assert_eq!(
        find(&certs[0], &[0x7F21, 0x7F4E, 0x42]),
        find(&certs[1], &[0x7F21, 0x7F4E, 0x5F20])
    );

    // sc-hsm-tool's export: the key's request, the device certificate, the issuer certificate.
    let export = export_for_pub_key_auth(&env, 0, "export.bin");
    let mut want = read(&env, 0xCE01);
    want.extend_from_slice(&chain);
    assert_eq!(export, object(0x30, &want));

    env.pkcs15_tool(&["-D"]).ok().expect("attested");
    assert_eq!(
        token_serial(&env).as_bytes(),
        &device_chr[..11],
        "the unique part of the device name"
    );
    env.sc_hsm_tool(&[])
        .ok()
        .expect("Version")
        .expect("User PIN tries left");

    // The device's own issuer is no trust anchor unless asked for.
    tool(&env, &["attest", "1"]).failed().expect("NOT VERIFIED");
    tool(&env, &["attest", "1", "--trust-device-issuer"])
        .ok()
        .expect("VERIFIED")
        .expect("own issuer");
}

#[test]
fn self_hosted_ca_issues_the_chain_and_attest_verifies_it() {
    let Some(env) = Env::start() else { return };
    // The rescue applet's certificate upload waits for the button: the virtual card presses it.
    env.set_card_args(0, &["--auto-confirm"]);
    env.restart_card(0);
    env.initialize();
    env.keypairgen("EC:prime256v1", "01", "attested");
    let serial = token_serial(&env);

    let ca_dir = env.dir().join("ca");
    let ca = path_str(&ca_dir);
    let init = tool(&env, &["ca", "init", "--out", &ca, "--name", "UTOPERCA00001"]).ok();
    init.expect("UTOPERCA00001").expect("Fingerprint");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(ca_dir.join("ca-key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the CA key is its owner's only");
    let key_before = std::fs::read(ca_dir.join("ca-key.pem")).unwrap();
    tool(&env, &["ca", "init", "--out", &ca])
        .failed()
        .expect("not overwriting");
    assert_eq!(std::fs::read(ca_dir.join("ca-key.pem")).unwrap(), key_before);

    tool(&env, &["ca", "issue", "--ca", &ca])
        .ok()
        .expect("Press the button");
    let ca_cert = std::fs::read(ca_dir.join("ca-cert.cvcert")).unwrap();
    let chain = read(&env, 0x2F02);
    let certs = split(&chain);
    assert_eq!(certs.len(), 2);
    assert_eq!(certs[1], ca_cert, "device certificate ‖ CA certificate");
    assert_eq!(find(&certs[0], &[0x7F21, 0x7F4E, 0x42]), b"UTOPERCA00001");

    // OpenSSL, from the CA's key file: the CA signed the device certificate.
    let ca_pub = path_str(&env.dir().join("ca-pub.pem"));
    env.openssl(&[
        "pkey",
        "-in",
        &path_str(&ca_dir.join("ca-key.pem")),
        "-pubout",
        "-out",
        &ca_pub,
    ])
    .ok();
    let device_body = object(0x7F4E, find(&certs[0], &[0x7F21, 0x7F4E]));
    let device_sig = find(&certs[0], &[0x7F21, 0x5F37]);
    assert!(openssl_verifies(&env, "devcert", &ca_pub, &device_body, device_sig));
    let mut forged = device_body.clone();
    *forged.last_mut().unwrap() ^= 1;
    assert!(
        !openssl_verifies(&env, "devcert-forged", &ca_pub, &forged, device_sig),
        "a check that can fail"
    );

    // ... the device key signed the key's request (outer), and the key signed it too (inner), the
    // key as OpenSC reads it.
    let request = read(&env, 0xCE01);
    let inner = object(0x7F21, find(&request, &[0x67, 0x7F21]));
    let mut tbs = inner.clone();
    tbs.extend_from_slice(&object(0x42, find(&request, &[0x67, 0x42])));
    let device_pem = point_pem(&env, "device", find(&certs[0], &[0x7F21, 0x7F4E, 0x7F49, 0x86]));
    assert!(openssl_verifies(
        &env,
        "outer",
        &device_pem,
        &tbs,
        find(&request, &[0x67, 0x5F37])
    ));
    let key_pem = path_str(&env.public_key_pem("01"));
    let inner_body = object(0x7F4E, find(&inner, &[0x7F21, 0x7F4E]));
    assert!(openssl_verifies(
        &env,
        "inner",
        &key_pem,
        &inner_body,
        find(&inner, &[0x7F21, 0x5F37])
    ));

    // pico-hsm-tool agrees, and says why.
    let ca_cert_path = path_str(&ca_dir.join("ca-cert.cvcert"));
    let out = tool(&env, &["attest", "1", "--ca", &ca_cert_path]).ok();
    out.expect("VERIFIED").expect("UTOPERCA00001");
    let json = tool(&env, &["attest", "1", "--ca", &ca_cert_path, "--json"]).ok();
    assert!(json.stdout.contains("\"verified\":true"), "{json}");
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        tool(&env, &["attest", "1", "--ca", &ca_cert_path]).ok();
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "pico-hsm-tool attest (process, PC/SC, checks): median {:?} of 5",
        times[2]
    );

    // Another CA, even one with the same name, is not this device's.
    let other = path_str(&env.dir().join("other-ca"));
    tool(&env, &["ca", "init", "--out", &other, "--name", "UTOPERCA00001"]).ok();
    let other_cert = path_str(&env.dir().join("other-ca").join("ca-cert.cvcert"));
    tool(&env, &["attest", "1", "--ca", &other_cert])
        .failed()
        .expect("NOT VERIFIED");

    // OpenSC takes the new chain; the token serial stays.
    let export = export_for_pub_key_auth(&env, 0, "export.bin");
    assert!(export.ends_with(&ca_cert));
    env.pkcs15_tool(&["-D"]).ok().expect("attested");
    assert_eq!(token_serial(&env), serial);

    // A tampered request: its outer signature no longer verifies (CExx is the key's certificate
    // file, writable by the user).
    let mut tampered = request.clone();
    let at = tampered.len() - 10;
    tampered[at] ^= 1;
    let mut data = unhex("54020000 5382".replace(' ', "").as_str());
    data.extend_from_slice(&(tampered.len() as u16).to_be_bytes());
    data.extend_from_slice(&tampered);
    let update = format!("00D7CE01 00{:04X}{}", data.len(), hex::encode_upper(&data)).replace(' ', "");
    let r = env.apdu_script_logged_in(apdu_script_binary!(), 0, &[update]);
    assert_eq!(r[0], "9000", "UPDATE BINARY CE01");
    tool(&env, &["attest", "1", "--ca", &ca_cert_path])
        .failed()
        .expect("FAILED");
    let mut data = unhex("540200005382");
    data.extend_from_slice(&(request.len() as u16).to_be_bytes());
    data.extend_from_slice(&request);
    let restore = format!("00D7CE0100{:04X}{}", data.len(), hex::encode_upper(&data));
    assert_eq!(
        env.apdu_script_logged_in(apdu_script_binary!(), 0, &[restore])[0],
        "9000"
    );

    // Re-initialization keeps the CA's chain.
    env.initialize();
    assert_eq!(read(&env, 0x2F02), chain);
    env.keypairgen("EC:prime256v1", "01", "attested");
    tool(&env, &["attest", "1", "--ca", &ca_cert_path])
        .ok()
        .expect("VERIFIED");
}

/// Public key authentication with OpenSC's tools: B's key registered on A. OpenSC has A verify B's
/// device chain first (MSE SET DST with the issuer's CAR, PSO VERIFY CERTIFICATE): A knows only its
/// own chain, so B's out-of-the-box issuer is unknown to it (6A88) and registration fails, as it
/// should. Once one device CA certifies both devices, A knows the CA from its own chain and
/// registration works.
#[test]
fn public_key_registered_from_another_card() {
    let Some(env) = Env::with_cards(2) else { return };
    for card in 0..2 {
        env.set_card_args(card, &["--auto-confirm"]);
        env.restart_card(card);
    }
    env.initialize_reader(0, &["--public-key-auth", "2", "--required-pub-keys", "1"]);
    env.initialize_reader(1, &[]);
    env.keypairgen_on(1, "EC:prime256v1", "01", "puk");
    let export = |name: &str| {
        let file = env.dir().join(name);
        env.sc_hsm_tool(&[
            "--reader",
            "1",
            "--export-for-pub-key-auth",
            &path_str(&file),
            "-i",
            "1",
        ])
        .ok();
        assert!(Path::new(&file).exists());
        path_str(&file)
    };
    let register = |file: &str| env.sc_hsm_tool(&["--reader", "0", "--register-public-key", file]);
    let status = || env.sc_hsm_tool(&["--reader", "0", "--public-key-auth-status"]).ok();

    let own_issuer = export("puk-own-issuer.bin");
    register(&own_issuer).failed();
    status().expect("Missing public keys:       2");

    let ca = path_str(&env.dir().join("ca"));
    env.run(TOOL, &["ca", "init", "--out", &ca]).ok();
    for card in 0..2 {
        let reader = Env::reader_name(card);
        env.run(TOOL, &["--reader", &reader, "ca", "issue", "--ca", &ca]).ok();
    }
    let certified = export("puk.bin");
    register(&certified).ok().expect("Missing public keys:       1");
    status()
        .expect("Number of public keys:     2")
        .expect("Missing public keys:       1")
        .expect("Required pubkeys for auth: 1");
}

/// A CA whose key is an EC key on another HSM (card 1): `ca init --hsm-reader`, `ca issue` signing
/// there; the device certificate checked by OpenSSL with that key's public key as OpenSC reads it.
#[test]
fn ca_key_on_another_hsm() {
    let Some(env) = Env::with_cards(2) else { return };
    env.set_card_args(0, &["--auto-confirm"]);
    env.restart_card(0);
    env.initialize_reader(0, &[]);
    env.initialize_reader(1, &[]);
    env.keypairgen_on(0, "EC:prime256v1", "01", "attested");
    // The first key of card 1: key reference 1.
    env.keypairgen_on(1, "EC:prime256v1", "0a", "device-ca");
    let pin = path_str(&env.write_file("pin.txt", hsm_e2e::USER_PIN.as_bytes()));
    let ca = path_str(&env.dir().join("hsm-ca"));
    let (device, hsm) = (Env::reader_name(0), Env::reader_name(1));
    env.run(
        TOOL,
        &[
            "--pin-file",
            &pin,
            "ca",
            "init",
            "--out",
            &ca,
            "--name",
            "UTHSMCA00001",
            "--hsm-reader",
            &hsm,
            "--key-id",
            "1",
        ],
    )
    .ok()
    .expect("UTHSMCA00001");
    assert!(!env.dir().join("hsm-ca").join("ca-key.pem").exists(), "no key file");
    env.run(
        TOOL,
        &["--reader", &device, "--pin-file", &pin, "ca", "issue", "--ca", &ca],
    )
    .ok();

    let certs = split(&read(&env, 0x2F02));
    assert_eq!(certs.len(), 2);
    let ca_key = path_str(&env.public_key_pem_on(1, "0a"));
    let body = object(0x7F4E, find(&certs[0], &[0x7F21, 0x7F4E]));
    assert!(openssl_verifies(
        &env,
        "hsm-devcert",
        &ca_key,
        &body,
        find(&certs[0], &[0x7F21, 0x5F37])
    ));
    let ca_body = object(0x7F4E, find(&certs[1], &[0x7F21, 0x7F4E]));
    assert!(openssl_verifies(
        &env,
        "hsm-cacert",
        &ca_key,
        &ca_body,
        find(&certs[1], &[0x7F21, 0x5F37])
    ));

    let cert = path_str(&env.dir().join("hsm-ca").join("ca-cert.cvcert"));
    tool(&env, &["attest", "1", "--ca", &cert])
        .ok()
        .expect("VERIFIED")
        .expect("UTHSMCA00001");
}
