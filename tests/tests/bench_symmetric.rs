//! Symmetric operations through pcscd + vpcd, measured and printed (never asserted as timings):
//! AES-256-GCM and ChaCha20-Poly1305 on 1 KiB and 2 KiB, HMAC-SHA256 and AES-CMAC on 1 KiB, and
//! PBKDF2-HMAC-SHA256 with 10,000 iterations. `cargo xtask bench` runs it with the full count; the
//! in-process figures next to the crypto crate are `cargo bench -p hsm-card --bench symmetric`.

use hsm_e2e::{Env, apdu_bench_binary, cipher_symmetric_apdu, install_secret_key_binary, tlv, verify_apdu};

fn count() -> usize {
    std::env::var("HSM_E2E_BENCH_COUNT")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200)
}

fn aead(oid: &[u8], data: &[u8]) -> Vec<u8> {
    let mut v = tlv(0x06, oid);
    v.extend_from_slice(&tlv(0x81, data));
    v.extend_from_slice(&tlv(0x82, &[7; 12]));
    v
}

#[test]
fn symmetric_operations_through_pcscd() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    env.install_secret_keys(install_secret_key_binary!(), 0, &[format!("1:{}", "42".repeat(32))]);
    const GCM256: [u8; 9] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2E];
    const CHACHA: [u8; 11] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x10, 0x03, 0x12];
    const HMAC_SHA256: [u8; 8] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x02, 0x09];
    const PBKDF2: [u8; 9] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0C];
    let kib = vec![0x5A; 1024];
    let two_kib = vec![0x5A; 2048];
    let mut hmac = tlv(0x06, &HMAC_SHA256);
    hmac.extend_from_slice(&tlv(0x81, &kib));
    let mut params = tlv(0x04, b"salt salt salt s");
    params.extend_from_slice(&tlv(0x02, &10_000u16.to_be_bytes()));
    params.extend_from_slice(&tlv(0x30, &tlv(0x06, &HMAC_SHA256)));
    let mut pbkdf2 = tlv(0x06, &PBKDF2);
    pbkdf2.extend_from_slice(&tlv(0x81, &params));
    let verify = verify_apdu();

    let runs: [(usize, Vec<(&str, String)>); 2] = [
        (
            count(),
            vec![
                (
                    "AES-256-GCM encrypt 1 KiB",
                    cipher_symmetric_apdu(1, 0x51, &aead(&GCM256, &kib), 0),
                ),
                (
                    "AES-256-GCM encrypt 2 KiB",
                    cipher_symmetric_apdu(1, 0x51, &aead(&GCM256, &two_kib), 0),
                ),
                (
                    "ChaCha20-Poly1305 encrypt 1 KiB",
                    cipher_symmetric_apdu(1, 0x51, &aead(&CHACHA, &kib), 0),
                ),
                (
                    "ChaCha20-Poly1305 encrypt 2 KiB",
                    cipher_symmetric_apdu(1, 0x51, &aead(&CHACHA, &two_kib), 0),
                ),
                ("HMAC-SHA256 1 KiB", cipher_symmetric_apdu(1, 0x51, &hmac, 0)),
                ("AES-CMAC 1 KiB", cipher_symmetric_apdu(1, 0x18, &kib, 0)),
            ],
        ),
        (
            count().div_ceil(20),
            vec![(
                "PBKDF2-HMAC-SHA256 10000 iterations",
                cipher_symmetric_apdu(1, 0x51, &pbkdf2, 32),
            )],
        ),
    ];
    for (n, apdus) in runs {
        let mut command = env.ns_command(apdu_bench_binary!());
        command.args([
            "--reader",
            &Env::reader_name(0),
            "--count",
            &n.to_string(),
            "--setup",
            &verify,
        ]);
        for (name, apdu) in &apdus {
            command.args(["--apdu", &format!("{name}={apdu}")]);
        }
        let out = env
            .capture(command, "apdu-bench symmetric".to_string())
            .ok()
            .expect("median");
        println!("{}", out.stdout.trim_end());
    }
}
