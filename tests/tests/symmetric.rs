//! Secret keys through PC/SC: GENERATE SYMMETRIC KEY (48) and CIPHER SYMMETRIC (78) on the virtual
//! card, every result compared with an independent implementation: `openssl enc` / `mac` / `kdf`,
//! and for the AEADs (which `openssl enc` refuses) Python's `cryptography` (OpenSSL underneath).
//!
//! Known keys reach the card through the `install-secret-key` fixture, which stores them exactly as
//! GENERATE SYMMETRIC KEY stores a random one, while the card is stopped.

use std::path::Path;

use hsm_e2e::{
    Env, SELECT_APDU, apdu_script_binary, assert_no_failures, cipher_symmetric_apdu, install_secret_key_binary,
    path_str, tlv, verify_apdu,
};

const AES128: &str = "2b7e151628aed2a6abf7158809cf4f3c";
const AES192: &str = "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b";
const AES256: &str = "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4";
const XTS256: &str = "a1b90cba3f06ac353b2c343876081762090923026e91771815f29dab01932f2f";
const XTS512: &str = "2718281828459045235360287471352662497757247093699959574966967627\
                      3141592653589793238462643383279502884197169399375105820974944592";
/// A 20-byte key for the MACs and KDFs (any length works there).
const GENERIC: &str = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b";

const AES_OID_PREFIX: &str = "6086480165030401";
const XTS_OID_PREFIX: &str = "2b6f028c53000001";
const HMAC_OID_PREFIX: &str = "2a864886f70d02";
const SMIME_OID_PREFIX: &str = "2a864886f70d0109100312";
const HKDF_OID_PREFIX: &str = "2a864886f70d01091003";
const PBKDF2_OID: &str = "2a864886f70d01050c";
const PBES2_OID: &str = "2a864886f70d01050d";
const X963_OID: &str = "2b81051086483f";

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).expect("hex")
}

/// The TLVs of an extended cipher command.
fn ext(oid: &str, data: &[u8], iv: Option<&[u8]>, aad: Option<&[u8]>) -> Vec<u8> {
    let mut v = tlv(0x06, &h(oid));
    v.extend_from_slice(&tlv(0x81, data));
    if let Some(iv) = iv {
        v.extend_from_slice(&tlv(0x82, iv));
    }
    if let Some(aad) = aad {
        v.extend_from_slice(&tlv(0x83, aad));
    }
    v
}

struct Case {
    what: String,
    apdu: String,
    expected: Vec<u8>,
}

struct Oracle<'a> {
    env: &'a Env,
    n: std::cell::Cell<usize>,
}

impl Oracle<'_> {
    fn file(&self, content: &[u8]) -> String {
        self.n.set(self.n.get() + 1);
        path_str(&self.env.write_file(&format!("sym-{}.bin", self.n.get()), content))
    }

    /// `openssl enc` with `cipher` (no padding unless `pad`).
    fn enc(&self, cipher: &str, decrypt: bool, key: &str, iv: Option<&[u8]>, data: &[u8], pad: bool) -> Vec<u8> {
        let input = self.file(data);
        let output = format!("{input}.out");
        let iv = iv.map(hex::encode);
        let mut args = vec![
            "enc",
            if decrypt { "-d" } else { "-e" },
            cipher,
            "-K",
            key,
            "-in",
            &input,
            "-out",
            &output,
        ];
        if let Some(iv) = &iv {
            args.extend_from_slice(&["-iv", iv]);
        }
        if !pad {
            args.push("-nopad");
        }
        self.env.openssl(&args).ok();
        std::fs::read(Path::new(&output)).expect("openssl output")
    }

    /// `openssl mac OPTION VALUE -macopt hexkey:KEY MAC` (CMAC with `-cipher`, HMAC with `-digest`).
    fn mac(&self, mac: &str, option: [&str; 2], key: &str, data: &[u8]) -> Vec<u8> {
        let input = self.file(data);
        let key = format!("hexkey:{key}");
        let out = self
            .env
            .openssl(&["mac", option[0], option[1], "-macopt", &key, "-in", &input, mac])
            .ok();
        h(out.stdout.trim())
    }

    /// `openssl kdf -keylen LEN -kdfopt OPT... NAME`.
    fn kdf(&self, name: &str, len: usize, opts: &[String]) -> Vec<u8> {
        let len = len.to_string();
        let mut args = vec!["kdf", "-keylen", &len];
        for o in opts {
            args.extend_from_slice(&["-kdfopt", o]);
        }
        args.push(name);
        let out = self.env.openssl(&args).ok();
        h(&out.stdout.trim().replace(':', ""))
    }

    /// AES-XTS through Python's `cryptography` (`openssl enc` refuses XTS).
    fn xts(&self, key: &str, tweak: &[u8], data: &[u8]) -> Vec<u8> {
        let script = "import sys\nfrom cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes\n\
                      k, t, d = (bytes.fromhex(x) for x in sys.argv[1:4])\n\
                      e = Cipher(algorithms.AES(k), modes.XTS(t)).encryptor()\n\
                      print((e.update(d) + e.finalize()).hex())";
        let out = self
            .env
            .run(
                "/usr/bin/python3",
                &["-c", script, key, &hex::encode(tweak), &hex::encode(data)],
            )
            .ok();
        h(out.stdout.trim())
    }

    /// An AEAD through Python's `cryptography`: `aead` is `AESGCM`, `AESCCM` or `ChaCha20Poly1305`.
    fn aead(&self, aead: &str, key: &str, nonce: &[u8], data: &[u8], aad: &[u8]) -> Vec<u8> {
        let script = format!(
            "import sys\nfrom cryptography.hazmat.primitives.ciphers.aead import {aead}\n\
             k, n, d, a = (bytes.fromhex(x) for x in sys.argv[1:5])\n\
             print({aead}(k).encrypt(n, d, a).hex())"
        );
        let out = self
            .env
            .run(
                "/usr/bin/python3",
                &[
                    "-c",
                    &script,
                    key,
                    &hex::encode(nonce),
                    &hex::encode(data),
                    &hex::encode(aad),
                ],
            )
            .ok();
        h(out.stdout.trim())
    }
}

const MESSAGE: &[u8] = b"Pico HSM symmetric end-to-end: 48 bytes of text.";
const AAD: &[u8] = b"associated data";

fn cases(o: &Oracle<'_>) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut add = |what: String, apdu: String, expected: Vec<u8>| cases.push(Case { what, apdu, expected });
    let iv: Vec<u8> = (0u8..16).map(|i| i * 17).collect();
    let msg = &MESSAGE[..48];

    // AES modes on keys 1, 2, 3 (AES-128/192/256): encrypt and decrypt, with and without IV.
    for (id, key, bits, arc_base) in [(1u8, AES128, 128, 0u8), (2, AES192, 192, 20), (3, AES256, 256, 40)] {
        for (mode, arc, cipher) in [
            ("ECB", 1u8, format!("-aes-{bits}-ecb")),
            ("CBC", 2, format!("-aes-{bits}-cbc")),
            ("OFB", 3, format!("-aes-{bits}-ofb")),
            ("CFB128", 4, format!("-aes-{bits}-cfb")),
            ("CTR", 9, format!("-aes-{bits}-ctr")),
        ] {
            let oid = format!("{AES_OID_PREFIX}{:02x}", arc_base + arc);
            let ecb = mode == "ECB";
            // OFB, CFB and CTR take any length: use an unaligned message there.
            let data = if matches!(mode, "ECB" | "CBC") {
                msg
            } else {
                &MESSAGE[..45]
            };
            let zero = [0u8; 16];
            for (label, given) in [("IV 0 by default", None), ("explicit IV", Some(&iv[..]))] {
                if ecb && given.is_some() {
                    continue;
                }
                let used = (!ecb).then(|| given.unwrap_or(&zero));
                let ct = o.enc(&cipher, false, key, used, data, false);
                add(
                    format!("AES-{bits}-{mode} encrypt, {label}"),
                    cipher_symmetric_apdu(id, 0x51, &ext(&oid, data, given, None), 0),
                    ct.clone(),
                );
                add(
                    format!("AES-{bits}-{mode} decrypt, {label}"),
                    cipher_symmetric_apdu(id, 0x52, &ext(&oid, &ct, given, None), 0),
                    data.to_vec(),
                );
            }
        }
        // P2 10/11: CBC with IV 0.
        let ct = o.enc(&format!("-aes-{bits}-cbc"), false, key, Some(&[0; 16]), msg, false);
        add(
            format!("AES-{bits} P2 10"),
            cipher_symmetric_apdu(id, 0x10, msg, 0),
            ct.clone(),
        );
        add(
            format!("AES-{bits} P2 11"),
            cipher_symmetric_apdu(id, 0x11, &ct, 0),
            msg.to_vec(),
        );
        // P2 18: CMAC.
        let mac = o.mac("CMAC", ["-cipher", &format!("AES-{bits}-CBC")], key, MESSAGE);
        add(
            format!("AES-{bits} CMAC (P2 18)"),
            cipher_symmetric_apdu(id, 0x18, MESSAGE, 0),
            mac,
        );
        // GCM (8-, 12-, 16- and 60-byte IVs) and CCM (7- and 13-byte nonces) against Python's cryptography.
        let gcm_oid = format!("{AES_OID_PREFIX}{:02x}", arc_base + 6);
        let long_iv: Vec<u8> = (0u8..60).collect();
        for n in [8, 12, 16, 60] {
            let nonce = &long_iv[..n];
            let ct = o.aead("AESGCM", key, nonce, MESSAGE, AAD);
            add(
                format!("AES-{bits}-GCM encrypt, {n}-byte IV"),
                cipher_symmetric_apdu(id, 0x51, &ext(&gcm_oid, MESSAGE, Some(nonce), Some(AAD)), 0),
                ct.clone(),
            );
            add(
                format!("AES-{bits}-GCM decrypt, {n}-byte IV"),
                cipher_symmetric_apdu(id, 0x52, &ext(&gcm_oid, &ct, Some(nonce), Some(AAD)), 0),
                MESSAGE.to_vec(),
            );
        }
        let ccm_oid = format!("{AES_OID_PREFIX}{:02x}", arc_base + 7);
        for n in [7, 13] {
            let nonce = &iv[..n];
            let ct = o.aead("AESCCM", key, nonce, MESSAGE, AAD);
            add(
                format!("AES-{bits}-CCM encrypt, {n}-byte nonce"),
                cipher_symmetric_apdu(id, 0x51, &ext(&ccm_oid, MESSAGE, Some(nonce), Some(AAD)), 0),
                ct.clone(),
            );
            add(
                format!("AES-{bits}-CCM decrypt, {n}-byte nonce"),
                cipher_symmetric_apdu(id, 0x52, &ext(&ccm_oid, &ct, Some(nonce), Some(AAD)), 0),
                MESSAGE.to_vec(),
            );
        }
    }

    // XTS on keys 4 (AES-128-XTS) and 5 (AES-256-XTS), with ciphertext stealing (45 bytes).
    for (id, key, bits, arc) in [(4u8, XTS256, 128, 1u8), (5, XTS512, 256, 2)] {
        let oid = format!("{XTS_OID_PREFIX}{arc:02x}");
        for data in [msg, &MESSAGE[..45]] {
            let ct = o.xts(key, &iv, data);
            add(
                format!("AES-{bits}-XTS encrypt {} bytes", data.len()),
                cipher_symmetric_apdu(id, 0x51, &ext(&oid, data, Some(&iv), None), 0),
                ct.clone(),
            );
            add(
                format!("AES-{bits}-XTS decrypt {} bytes", data.len()),
                cipher_symmetric_apdu(id, 0x52, &ext(&oid, &ct, Some(&iv), None), 0),
                data.to_vec(),
            );
        }
    }

    // ChaCha20-Poly1305 with the 32-byte key 3.
    let nonce = &iv[..12];
    let ct = o.aead("ChaCha20Poly1305", AES256, nonce, MESSAGE, AAD);
    add(
        "ChaCha20-Poly1305 encrypt".into(),
        cipher_symmetric_apdu(3, 0x51, &ext(SMIME_OID_PREFIX, MESSAGE, Some(nonce), Some(AAD)), 0),
        ct.clone(),
    );
    add(
        "ChaCha20-Poly1305 decrypt".into(),
        cipher_symmetric_apdu(3, 0x52, &ext(SMIME_OID_PREFIX, &ct, Some(nonce), Some(AAD)), 0),
        MESSAGE.to_vec(),
    );

    // HMAC, HKDF, PBKDF2 and X9.63 with the 20-byte key 6.
    let digests = [
        ("SHA1", 0x07u8),
        ("SHA224", 0x08),
        ("SHA256", 0x09),
        ("SHA384", 0x0A),
        ("SHA512", 0x0B),
    ];
    for (md, arc) in digests {
        let mac = o.mac("HMAC", ["-digest", md], GENERIC, MESSAGE);
        let oid = format!("{HMAC_OID_PREFIX}{arc:02x}");
        add(
            format!("HMAC-{md}"),
            cipher_symmetric_apdu(6, 0x51, &ext(&oid, MESSAGE, None, None), 0),
            mac,
        );
    }
    let salt = b"salt for the KDFs".to_vec();
    for (md, arc, hash_len) in [("SHA256", 0x1Du8, 32usize), ("SHA384", 0x1E, 48), ("SHA512", 0x1F, 64)] {
        let oid = format!("{HKDF_OID_PREFIX}{arc:02x}");
        for len in [hash_len, 100] {
            let okm = o.kdf(
                "HKDF",
                len,
                &[
                    format!("digest:{md}"),
                    format!("hexkey:{GENERIC}"),
                    format!("hexsalt:{}", hex::encode(&salt)),
                    format!("hexinfo:{}", hex::encode(AAD)),
                ],
            );
            let le = if len == hash_len { 0 } else { len as u16 };
            add(
                format!("HKDF-{md} L={len}"),
                cipher_symmetric_apdu(6, 0x51, &ext(&oid, AAD, Some(&salt), None), le),
                okm,
            );
        }
    }
    // P2 99: HKDF-SHA256 without salt, L = len(info).
    let okm = o.kdf(
        "HKDF",
        AAD.len(),
        &[
            "digest:SHA256".into(),
            format!("hexkey:{GENERIC}"),
            format!("hexinfo:{}", hex::encode(AAD)),
        ],
    );
    add("AES derive (P2 99)".into(), cipher_symmetric_apdu(6, 0x99, AAD, 0), okm);
    for (md, arc) in digests {
        let iterations = 1000u32;
        let mut params = tlv(0x04, &salt);
        params.extend_from_slice(&tlv(0x02, &iterations.to_be_bytes()[2..]));
        params.extend_from_slice(&tlv(0x30, &tlv(0x06, &h(&format!("{HMAC_OID_PREFIX}{arc:02x}")))));
        let dk = o.kdf(
            "PBKDF2",
            40,
            &[
                format!("digest:{md}"),
                format!("hexpass:{GENERIC}"),
                format!("hexsalt:{}", hex::encode(&salt)),
                format!("iter:{iterations}"),
            ],
        );
        add(
            format!("PBKDF2-HMAC-{md} (Le 40)"),
            cipher_symmetric_apdu(6, 0x51, &ext(PBKDF2_OID, &params, None, None), 40),
            dk,
        );
        let x963 = o.kdf(
            "X963KDF",
            32,
            &[
                format!("digest:{md}"),
                format!("hexsecret:{GENERIC}"),
                format!("hexinfo:{}", hex::encode(AAD)),
            ],
        );
        let hmac_oid = h(&format!("{HMAC_OID_PREFIX}{arc:02x}"));
        add(
            format!("X9.63 KDF {md}"),
            cipher_symmetric_apdu(6, 0x51, &ext(X963_OID, &hmac_oid, None, Some(AAD)), 0),
            x963,
        );
    }
    // PBES2: PBKDF2-HMAC-SHA256 (2048 iterations) + AES-256-CBC with PKCS#7 padding.
    let mut pbkdf2 = tlv(0x04, &salt);
    pbkdf2.extend_from_slice(&tlv(0x02, &[0x08, 0x00]));
    pbkdf2.extend_from_slice(&tlv(0x30, &tlv(0x06, &h(&format!("{HMAC_OID_PREFIX}09")))));
    let mut kdf_alg = tlv(0x06, &h(PBKDF2_OID));
    kdf_alg.extend_from_slice(&tlv(0x30, &pbkdf2));
    let mut enc_alg = tlv(0x06, &h(&format!("{AES_OID_PREFIX}2a")));
    enc_alg.extend_from_slice(&tlv(0x04, &iv));
    let mut pbes2 = tlv(0x30, &kdf_alg);
    pbes2.extend_from_slice(&tlv(0x30, &enc_alg));
    let derived = o.kdf(
        "PBKDF2",
        32,
        &[
            "digest:SHA256".into(),
            format!("hexpass:{GENERIC}"),
            format!("hexsalt:{}", hex::encode(&salt)),
            "iter:2048".into(),
        ],
    );
    let ct = o.enc("-aes-256-cbc", false, &hex::encode(&derived), Some(&iv), MESSAGE, true);
    add(
        "PBES2 encrypt".into(),
        cipher_symmetric_apdu(6, 0x51, &ext(PBES2_OID, MESSAGE, None, Some(&pbes2)), 0),
        ct.clone(),
    );
    add(
        "PBES2 decrypt".into(),
        cipher_symmetric_apdu(6, 0x52, &ext(PBES2_OID, &ct, None, Some(&pbes2)), 0),
        MESSAGE.to_vec(),
    );
    cases
}

/// Stops card 0, installs the known keys with the fixture and starts the card again.
fn install_known_keys(env: &Env) {
    env.install_secret_keys(
        install_secret_key_binary!(),
        0,
        &[
            format!("1:{AES128}"),
            format!("2:{AES192}"),
            format!("3:{AES256}"),
            format!("4:{XTS256}"),
            format!("5:{XTS512}"),
            format!("6:{GENERIC}"),
            // Key 8: two uses, CMAC only.
            format!("8:{AES128}:900400000002910118"),
        ],
    );
}

#[test]
fn cipher_symmetric_matches_openssl() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    install_known_keys(&env);
    let oracle = Oracle {
        env: &env,
        n: std::cell::Cell::new(0),
    };
    let cases = cases(&oracle);
    let mut apdus = vec![SELECT_APDU.to_string(), verify_apdu()];
    apdus.extend(cases.iter().map(|c| c.apdu.clone()));
    let responses = env.apdu_script(apdu_script_binary!(), 0, &apdus);
    assert_eq!(responses[..2], ["9000", "9000"], "SELECT / VERIFY");
    let mut failures = Vec::new();
    for (case, response) in cases.iter().zip(&responses[2..]) {
        let expected = format!("{}9000", hex::encode_upper(&case.expected));
        if *response != expected {
            failures.push(format!("{}: card {response}, expected {expected}", case.what));
        }
    }
    assert_eq!(responses.len(), cases.len() + 2, "one response per APDU");
    println!("{} symmetric operations matched OpenSSL / cryptography", cases.len());
    assert_no_failures(&failures);
}

#[test]
fn refusals_and_use_counter_through_pcsc() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    install_known_keys(&env);
    let gcm = format!("{AES_OID_PREFIX}06");
    let ecb256 = format!("{AES_OID_PREFIX}29");
    let script = [
        (SELECT_APDU.to_string(), "9000"),
        // Not logged in yet: 6982, and the counted key is untouched.
        (cipher_symmetric_apdu(8, 0x18, b"x", 0), "6982"),
        (verify_apdu(), "9000"),
        // Wrong data: all 6700 with no data.
        (
            cipher_symmetric_apdu(1, 0x51, &ext(&gcm, MESSAGE, Some(&[]), None), 0),
            "6700",
        ),
        (
            cipher_symmetric_apdu(1, 0x51, &ext(&gcm, MESSAGE, None, None), 0),
            "6700",
        ),
        (
            cipher_symmetric_apdu(1, 0x51, &ext(&ecb256, &[0; 16], None, None), 0),
            "6700",
        ),
        (
            cipher_symmetric_apdu(1, 0x51, &ext(&format!("{AES_OID_PREFIX}05"), &[0; 16], None, None), 0),
            "6700",
        ),
        (cipher_symmetric_apdu(1, 0x10, &[0; 17], 0), "6700"),
        (
            cipher_symmetric_apdu(1, 0x52, &ext(&gcm, &[0; 32], Some(&[0; 12]), None), 0),
            "6700",
        ),
        (cipher_symmetric_apdu(9, 0x18, b"x", 0), "6A82"),
        // Key 8 allows CMAC only (6985 for CBC) and has two uses.
        (cipher_symmetric_apdu(8, 0x10, &[0; 16], 0), "6985"),
        (cipher_symmetric_apdu(8, 0x18, b"x", 0), ""),
        (cipher_symmetric_apdu(8, 0x18, b"x", 0), ""),
        (cipher_symmetric_apdu(8, 0x18, b"x", 0), "6A84"),
        // A generated AES-256 key in slot 7: CBC round trip below.
        ("004807B2".into(), "9000"),
        (
            cipher_symmetric_apdu(7, 0x51, &ext(&ecb256, &[0x42; 32], None, None), 0),
            "",
        ),
    ];
    let apdus: Vec<String> = script.iter().map(|(a, _)| a.clone()).collect();
    let responses = env.apdu_script(apdu_script_binary!(), 0, &apdus);
    let mut failures = Vec::new();
    for (i, ((apdu, expected), got)) in script.iter().zip(&responses).enumerate() {
        let ok = if expected.is_empty() {
            got.ends_with("9000") && got.len() > 4
        } else {
            got == expected
        };
        if !ok {
            failures.push(format!(
                "#{i} {apdu}: got {got}, expected {}",
                if expected.is_empty() { "data 9000" } else { expected }
            ));
        }
    }
    // The generated key decrypts what it encrypted.
    let ct = responses
        .last()
        .expect("responses")
        .trim_end_matches("9000")
        .to_string();
    let round = env.apdu_script(
        apdu_script_binary!(),
        0,
        &[
            SELECT_APDU.into(),
            verify_apdu(),
            cipher_symmetric_apdu(7, 0x52, &ext(&ecb256, &h(&ct), None, None), 0),
        ],
    );
    if round.get(2).map(String::as_str) != Some(&format!("{}9000", "42".repeat(32))) {
        failures.push(format!("generated key round trip: {round:?}"));
    }
    assert_no_failures(&failures);

    // OpenSC 0.23 does not decode the A8 secret-key description (no secret keys in its sc-hsm
    // emulation): the AES keys stay invisible to it, and keys next to them still list.
    env.keypairgen("EC:prime256v1", "10", "ec-next-to-aes");
    let listing = env.pkcs15_tool(&["-D"]).ok();
    assert!(
        listing.contains("ec-next-to-aes"),
        "EC key missing next to AES keys:\n{listing}"
    );
    let keys = env.apdu_script(apdu_script_binary!(), 0, &[SELECT_APDU.into(), "8058000000".into()]);
    for id in ["CC01", "CC07", "CC08"] {
        assert!(keys[1].contains(id), "LIST KEYS lacks {id}: {keys:?}");
    }
}
