//! Signatures per second through PKCS#11: OpenSC's module in front of the virtual card next to
//! SoftHSM2, same mechanism, same run. Printed, never asserted as timings (`cargo xtask bench` shows
//! them; `cargo test -p hsm-e2e --release --test bench_pkcs11 -- --nocapture` too).

use std::process::Command;

use hsm_e2e::{Env, USER_PIN, p11_bench_binary};

const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";

fn count() -> String {
    std::env::var("HSM_E2E_BENCH_COUNT").unwrap_or_else(|_| "200".to_string())
}

fn check(out: std::process::Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && stdout.contains("signatures/s"),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.trim_end().to_string()
}

#[test]
fn pkcs11_sign_rate_card_and_softhsm() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    env.keypairgen("EC:prime256v1", "01", "bench-ec").ok();
    env.keypairgen("rsa:2048", "02", "bench-rsa").ok();
    let module = env.pkcs11_module().to_string_lossy().to_string();
    // One p11-bench run per key: the card's tokens through OpenSC in the namespace, SoftHSM2 outside.
    let bench = |mut command: Command, module: &str, token: Option<&str>, id: &str, mechanism: &str| {
        command.args([
            "--module",
            module,
            "--pin",
            USER_PIN,
            "--id",
            id,
            "--mechanism",
            mechanism,
        ]);
        command.args(["--count", &count()]);
        if let Some(token) = token {
            command.args(["--token", token]);
        }
        check(
            command.output().expect("run p11-bench"),
            &format!("{module} {mechanism}"),
        )
    };
    let keys = [("01", "ecdsa"), ("02", "sha256-rsa-pkcs")];
    let mut lines = Vec::new();
    for (id, mechanism) in keys {
        let command = env.ns_command(p11_bench_binary!());
        lines.push(format!(
            "pico-hsm-vcard: {}",
            bench(command, &module, None, id, mechanism)
        ));
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
        for (key_type, id) in [("EC:prime256v1", "01"), ("rsa:2048", "02")] {
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
        for (id, mechanism) in keys {
            let mut command = Command::new(p11_bench_binary!());
            command.env("SOFTHSM2_CONF", &conf);
            lines.push(format!(
                "SoftHSM2:       {}",
                bench(command, SOFTHSM, Some("bench"), id, mechanism)
            ));
        }
    }
    for l in lines {
        println!("{l}");
    }
}
