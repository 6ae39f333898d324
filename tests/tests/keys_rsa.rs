//! RSA keys through PKCS#11 for 1024, 2048, 3072 and 4096 bits: `pkcs11-tool --keypairgen`, every
//! signature mechanism `pkcs11-tool -M` lists for the card (RSA-X-509, RSA-PKCS, MD5/RIPEMD160/SHA1/
//! SHA224/SHA256/SHA384/SHA512-RSA-PKCS, RSA-PKCS-PSS with each hash, SHA*-RSA-PKCS-PSS) verified by
//! `openssl` with the public key `pkcs15-tool --read-public-key` exports; RSA-X-509, RSA-PKCS and
//! RSA-PKCS-OAEP (SHA-256, MGF1-SHA256) decryption of data encrypted by `openssl`.

use std::path::Path;

use hsm_e2e::{Env, Output, path_str};

/// (hash name for `--hash-algorithm`, `--mgf` value, openssl digest, digest length).
const HASHES: [(&str, &str, &str, usize); 5] = [
    ("SHA-1", "MGF1-SHA1", "sha1", 20),
    ("SHA224", "MGF1-SHA224", "sha224", 28),
    ("SHA256", "MGF1-SHA256", "sha256", 32),
    ("SHA384", "MGF1-SHA384", "sha384", 48),
    ("SHA512", "MGF1-SHA512", "sha512", 64),
];

/// DigestInfo prefix of SHA-256 (RFC 8017 §9.2 note 1).
const SHA256_DIGEST_INFO: &str = "3031300d060960864801650304020105000420";

struct Checks<'a> {
    env: &'a Env,
    bits: usize,
    id: &'a str,
    failures: Vec<String>,
}

impl Checks<'_> {
    fn fail(&mut self, what: &str, detail: String) {
        self.failures.push(format!("RSA-{} {what}: {detail}", self.bits));
    }

    /// Signs `input` with `mechanism` (and `extra` options); the signature, or `None` after recording
    /// the failure.
    fn sign(&mut self, mechanism: &str, input: &Path, extra: &[&str]) -> Option<Vec<u8>> {
        let (out, sig) = self.env.pkcs11_key_op("--sign", self.id, mechanism, input, extra);
        match sig {
            Some(sig) if sig.len() == self.bits / 8 => Some(sig),
            Some(sig) => {
                self.fail(mechanism, format!("signature of {} bytes", sig.len()));
                None
            }
            None => {
                self.fail(mechanism, format!("signing failed:\n{out}"));
                None
            }
        }
    }

    fn expect_ok(&mut self, what: &str, out: &Output, needle: &str) {
        if !(out.success() && out.contains(needle)) {
            self.fail(what, format!("openssl did not verify:\n{out}"));
        }
    }

    /// Decrypts `ciphertext` with `mechanism` and compares with `plain`.
    fn decrypt(&mut self, mechanism: &str, ciphertext: &Path, extra: &[&str], plain: &[u8]) {
        let (out, got) = self
            .env
            .pkcs11_key_op("--decrypt", self.id, mechanism, ciphertext, extra);
        match got {
            Some(got) if got == plain => {}
            Some(got) => self.fail(
                mechanism,
                format!(
                    "decrypted {} bytes {}, expected {} bytes {}",
                    got.len(),
                    hex::encode(&got),
                    plain.len(),
                    hex::encode(plain)
                ),
            ),
            None => self.fail(mechanism, format!("decryption failed:\n{out}")),
        }
    }
}

fn exercise(bits: usize) {
    let started = std::time::Instant::now();
    let Some(env) = Env::start() else { return };
    env.initialize();
    let id = "01";
    env.keypairgen(&format!("rsa:{bits}"), id, &format!("rsa{bits}"));
    let public = path_str(&env.public_key_pem(id));
    let text = env
        .openssl(&["pkey", "-pubin", "-in", &public, "-noout", "-text_pub"])
        .ok();
    assert!(
        text.contains(&format!("Public-Key: ({bits} bit)")) && text.contains("Exponent: 65537"),
        "exported key is not RSA-{bits} with e = 65537:\n{text}"
    );
    let mut c = Checks {
        env: &env,
        bits,
        id,
        failures: Vec::new(),
    };
    let data = env.write_file("data.txt", b"RSA signature through PKCS#11, verified by openssl\n");
    let data_s = path_str(&data);

    // PKCS#1 v1.5 with hashing in OpenSC or on the card, verified over the data.
    for (mechanism, digest) in [
        ("MD5-RSA-PKCS", "-md5"),
        ("RIPEMD160-RSA-PKCS", "-ripemd160"),
        ("SHA1-RSA-PKCS", "-sha1"),
        ("SHA224-RSA-PKCS", "-sha224"),
        ("SHA256-RSA-PKCS", "-sha256"),
        ("SHA384-RSA-PKCS", "-sha384"),
        ("SHA512-RSA-PKCS", "-sha512"),
    ] {
        if let Some(sig) = c.sign(mechanism, &data, &[]) {
            let sig = path_str(&env.write_file(&format!("sig-{mechanism}"), &sig));
            let out = env.openssl(&["dgst", digest, "-verify", &public, "-signature", &sig, &data_s]);
            c.expect_ok(mechanism, &out, "Verified OK");
        }
    }

    // RSA-PKCS over a DigestInfo (SHA-256 of the data): an ordinary PKCS#1 v1.5 signature of the data.
    let hash = env.openssl(&["dgst", "-sha256", "-hex", "-r", &data_s]).ok();
    let hash_hex = hash.stdout.split_whitespace().next().unwrap_or_default().to_string();
    let digest_info = hex::decode(format!("{SHA256_DIGEST_INFO}{hash_hex}")).unwrap();
    let di_path = env.write_file("digest-info.bin", &digest_info);
    if let Some(sig) = c.sign("RSA-PKCS", &di_path, &[]) {
        let sig = path_str(&env.write_file("sig-RSA-PKCS", &sig));
        let out = env.openssl(&["dgst", "-sha256", "-verify", &public, "-signature", &sig, &data_s]);
        c.expect_ok("RSA-PKCS (DigestInfo)", &out, "Verified OK");
    }

    // RSA-X-509: the raw private operation; openssl's raw public operation gives the input back.
    let mut raw = vec![0u8; bits / 8];
    for (i, b) in raw.iter_mut().enumerate().skip(1) {
        *b = (i * 131 + 7) as u8;
    }
    let raw_path = env.write_file("raw.bin", &raw);
    if let Some(sig) = c.sign("RSA-X-509", &raw_path, &[]) {
        let sig = path_str(&env.write_file("sig-RSA-X-509", &sig));
        let recovered = env.dir().join("raw.recovered");
        let out = env.openssl(&[
            "pkeyutl",
            "-verifyrecover",
            "-pubin",
            "-inkey",
            &public,
            "-pkeyopt",
            "rsa_padding_mode:none",
            "-in",
            &sig,
            "-out",
            &path_str(&recovered),
        ]);
        if std::fs::read(&recovered).ok().as_deref() != Some(&raw[..]) {
            c.fail("RSA-X-509", format!("openssl does not recover the input:\n{out}"));
        }
    }

    // RSA-PKCS-PSS over a hash computed by openssl, and SHA*-RSA-PKCS-PSS over the data. SHA-512 on
    // RSA-1024 has no room for a 64-byte salt: the card uses the longest that fits (62 bytes), as
    // mbedTLS does, and openssl finds it with `rsa_pss_saltlen:auto`.
    for (hash_alg, mgf, digest, len) in HASHES {
        let hash = env.dir().join(format!("hash.{digest}"));
        let hash_s = path_str(&hash);
        env.openssl(&["dgst", &format!("-{digest}"), "-binary", "-out", &hash_s, &data_s])
            .ok();
        assert_eq!(std::fs::metadata(&hash).unwrap().len() as usize, len);
        let options = ["--hash-algorithm", hash_alg, "--mgf", mgf];
        let what = format!("RSA-PKCS-PSS {hash_alg}");
        if let Some(sig) = c.sign("RSA-PKCS-PSS", &hash, &options) {
            let sig = path_str(&env.write_file(&format!("sig-pss-{digest}"), &sig));
            let md = format!("digest:{digest}");
            let out = env.openssl(&[
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                &public,
                "-in",
                &hash_s,
                "-sigfile",
                &sig,
                "-pkeyopt",
                "rsa_padding_mode:pss",
                "-pkeyopt",
                &md,
                "-pkeyopt",
                "rsa_pss_saltlen:auto",
            ]);
            c.expect_ok(&what, &out, "Signature Verified Successfully");
        }
        let mechanism = format!("{}-RSA-PKCS-PSS", digest.to_uppercase());
        if let Some(sig) = c.sign(&mechanism, &data, &[]) {
            let sig = path_str(&env.write_file(&format!("sig-{mechanism}"), &sig));
            let out = env.openssl(&[
                "dgst",
                &format!("-{digest}"),
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:auto",
                "-verify",
                &public,
                "-signature",
                &sig,
                &data_s,
            ]);
            c.expect_ok(&mechanism, &out, "Verified OK");
        }
    }

    // Decryption of openssl ciphertexts.
    let secret = b"session key material, 32 bytes!!";
    let plain = env.write_file("plain.bin", secret);
    let encrypt = |name: &str, input: &Path, options: &[&str]| {
        let ct = env.dir().join(name);
        let (input, ct_s) = (path_str(input), path_str(&ct));
        let mut args = vec![
            "pkeyutl", "-encrypt", "-pubin", "-inkey", &public, "-in", &input, "-out", &ct_s,
        ];
        args.extend_from_slice(options);
        env.openssl(&args).ok();
        ct
    };
    let ct = encrypt("ct.pkcs1", &plain, &[]);
    c.decrypt("RSA-PKCS", &ct, &[], secret);
    let ct = encrypt(
        "ct.oaep",
        &plain,
        &[
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
        ],
    );
    c.decrypt(
        "RSA-PKCS-OAEP",
        &ct,
        &["--hash-algorithm", "SHA256", "--mgf", "MGF1-SHA256"],
        secret,
    );
    let ct = encrypt("ct.raw", &raw_path, &["-pkeyopt", "rsa_padding_mode:none"]);
    c.decrypt("RSA-X-509", &ct, &[], &raw);

    let failures = c.failures;
    eprintln!("RSA-{bits}: {:?}", started.elapsed());
    hsm_e2e::assert_no_failures(&failures);
}

#[test]
fn rsa_1024_every_mechanism() {
    exercise(1024);
}

#[test]
fn rsa_2048_every_mechanism() {
    exercise(2048);
}

#[test]
fn rsa_3072_every_mechanism() {
    exercise(3072);
}

#[test]
fn rsa_4096_every_mechanism() {
    exercise(4096);
}
