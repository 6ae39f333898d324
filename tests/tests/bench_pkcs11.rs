//! Host operations through PKCS#11: OpenSC's module in front of the virtual card next to SoftHSM2,
//! same operation, same run (`p11-bench`). Printed, never asserted as timings; `cargo xtask bench`
//! puts them in one table with `openssl speed` (it sets `HSM_BENCH_OUT`, where each result goes as
//! a line `column<TAB>op<TAB>median ms`). Also `cargo test -p hsm-e2e --release --test
//! bench_pkcs11 -- --nocapture`.
//!
//! OpenSC 0.23 offers no EdDSA for this card, so its Ed25519 key generation and signature are
//! measured as the GENERATE and COMPUTE SIGNATURE APDUs through pcscd (`apdu-bench`), one layer
//! below PKCS#11.

use std::io::Write as _;
use std::process::Command;

use hsm_crypto::asym::Curve;
use hsm_e2e::{Env, USER_PIN, apdu_bench_binary, p11_bench_binary, tlv};

const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// OID of ECDSA keys in a GENERATE template (reference §3.12).
const OID_ECDSA: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x02, 0x03];

/// Operations per measurement: `HSM_E2E_BENCH_COUNT`, else 200 in a release build and 20 in the
/// debug build of the plain test suite (where the figures mean little and only the paths are run).
fn count() -> usize {
    std::env::var("HSM_E2E_BENCH_COUNT")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 20 } else { 200 })
}

/// Operations, the key id they use and how many times each runs (key generation is slow).
fn ops() -> Vec<(&'static str, &'static str, usize)> {
    let n = count();
    vec![
        ("sign-ecdsa", "01", n),
        ("sign-eddsa", "03", n),
        ("sign-rsa", "02", n),
        ("decrypt-rsa", "02", n),
        ("ecdh", "01", n),
        ("keygen-ec", "7e", (n / 10).clamp(5, 50)),
        ("keygen-ed25519", "7e", (n / 10).clamp(5, 50)),
        ("keygen-rsa", "7e", (n / 20).clamp(5, 15)),
    ]
}

/// `RESULT op ms count` of p11-bench's output.
fn result_ms(stdout: &str) -> Option<f64> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .and_then(|r| r.split_whitespace().nth(1))
        .and_then(|ms| ms.parse().ok())
}

struct Results {
    lines: Vec<String>,
    out: Option<std::fs::File>,
}

impl Results {
    fn record(&mut self, column: &str, op: &str, ms: Option<f64>, detail: &str) {
        let shown = ms.map_or("failed".to_string(), |ms| format!("{ms:.3} ms"));
        self.lines.push(format!("{column:<16} {op:<15} {shown:>12}  {detail}"));
        if let (Some(out), Some(ms)) = (self.out.as_mut(), ms) {
            writeln!(out, "{column}\t{op}\t{ms}").expect("write HSM_BENCH_OUT");
        }
    }
}

/// The GENERATE ASYMMETRIC KEY PAIR APDU of an Ed25519 key in slot `id` (hex).
fn ed25519_keygen_apdu(id: u8) -> String {
    let params = Curve::Ed25519.params();
    let mut template = tlv(0x06, &OID_ECDSA);
    template.extend(tlv(0x81, params.p));
    template.extend(tlv(0x83, params.g));
    let mut data = vec![0x5F, 0x29, 0x01, 0x00];
    data.extend(tlv(0x42, b"UTCA00001"));
    data.extend([0x7F, 0x49]);
    data.extend(&tlv(0x00, &template)[1..]);
    data.extend([0x5F, 0x20]);
    data.extend(&tlv(0x00, b"UTTM00001")[1..]);
    let mut apdu = vec![0x00, 0x46, id, 0x00, 0x00, (data.len() >> 8) as u8, data.len() as u8];
    apdu.extend(data);
    apdu.extend([0x00, 0x00]);
    hex::encode_upper(apdu)
}

#[test]
fn pkcs11_operations_card_and_softhsm() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    env.keypairgen("EC:prime256v1", "01", "bench-ec");
    env.keypairgen("rsa:2048", "02", "bench-rsa");
    let module = env.pkcs11_module().to_string_lossy().to_string();
    let mut results = Results {
        lines: Vec::new(),
        out: std::env::var_os("HSM_BENCH_OUT").map(|p| std::fs::File::create(p).expect("create HSM_BENCH_OUT")),
    };
    let run = |mut command: Command, module: &str, token: Option<&str>, op: &str, id: &str, n: usize| {
        command.args(["--module", module, "--pin", USER_PIN, "--op", op, "--id", id]);
        command.args(["--count", &n.to_string()]);
        if let Some(token) = token {
            command.args(["--token", token]);
        }
        let out = command.output().expect("run p11-bench");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let detail = if out.status.success() {
            stdout.lines().next().unwrap_or_default().to_string()
        } else {
            String::from_utf8_lossy(&out.stderr).trim().to_string()
        };
        (out.status.success().then(|| result_ms(&stdout)).flatten(), detail)
    };

    for (op, id, n) in ops() {
        if op == "keygen-ed25519" {
            continue;
        }
        if op == "sign-eddsa" {
            // GENERATE (00 46 03 00) and COMPUTE SIGNATURE (80 68 03 70) of 32 bytes through pcscd.
            let mut command = env.ns_command(apdu_bench_binary!());
            command.args(["--reader", &Env::reader_name(0), "--count", &n.to_string()]);
            command.args(["--setup", &format!("0020008106{}", hex::encode_upper(USER_PIN))]);
            command.args(["--setup", &ed25519_keygen_apdu(3)]);
            command.args(["--apdu", &format!("keygen-ed25519={}", ed25519_keygen_apdu(3))]);
            command.args(["--apdu", &format!("sign-eddsa=80680370000020{}0000", "42".repeat(32))]);
            let out = env.capture(command, "apdu-bench Ed25519".to_string());
            for op in ["keygen-ed25519", "sign-eddsa"] {
                // "through pcscd: NAME xN: median X us, ..."
                let ms = out
                    .stdout
                    .lines()
                    .find(|l| l.contains(&format!(" {op} x")))
                    .and_then(|l| l.split("median ").nth(1))
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|us| us.parse::<f64>().ok())
                    .map(|us| us / 1e3);
                results.record("pico-hsm-vcard", op, ms, "APDU through pcscd (no EdDSA in OpenSC 0.23)");
            }
            continue;
        }
        let (ms, detail) = run(env.ns_command(p11_bench_binary!()), &module, None, op, id, n);
        results.record("pico-hsm-vcard", op, ms, &detail);
    }

    if !std::path::Path::new(SOFTHSM).exists() {
        eprintln!("bench_pkcs11: {SOFTHSM} missing, SoftHSM2 comparison skipped");
    } else {
        let dir = env.dir().join("softhsm");
        std::fs::create_dir_all(dir.join("tokens")).unwrap();
        let conf = dir.join("softhsm2.conf");
        let tokendir = dir.join("tokens");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\n",
                tokendir.display()
            ),
        )
        .unwrap();
        let softhsm = |program: &str, args: &[&str]| {
            let out = Command::new(program)
                .args(args)
                .env("SOFTHSM2_CONF", &conf)
                .output()
                .expect(program);
            assert!(
                out.status.success(),
                "{program} {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let init = [
            "--init-token",
            "--free",
            "--label",
            "bench",
            "--pin",
            USER_PIN,
            "--so-pin",
            "1234567890",
        ];
        softhsm("softhsm2-util", &init);
        for (key_type, id) in [("EC:prime256v1", "01"), ("rsa:2048", "02"), ("EC:edwards25519", "03")] {
            let login = [
                "--module",
                SOFTHSM,
                "--token-label",
                "bench",
                "--login",
                "--pin",
                USER_PIN,
            ];
            let mut args = login.to_vec();
            args.extend(["--keypairgen", "--key-type", key_type, "--id", id]);
            softhsm("pkcs11-tool", &args);
        }
        for (op, id, n) in ops() {
            let mut command = Command::new(p11_bench_binary!());
            command.env("SOFTHSM2_CONF", &conf);
            let (ms, detail) = run(command, SOFTHSM, Some("bench"), op, id, n);
            results.record("SoftHSM2", op, ms, &detail);
        }
    }
    for l in &results.lines {
        println!("{l}");
    }
}
