//! Secure messaging through pcscd + vpcd: the independent client of `hsm_e2e::sm_client` (in the
//! `sm-client` helper) opens a session, carries VERIFY, a key generation, a signature and a READ
//! BINARY, checks that a flipped MAC bit answers 6988 and ends the session, and prints the median
//! cost of secure messaging per APDU (plain against protected; printed, never asserted).

use hsm_e2e::{Env, USER_PIN};

fn count() -> String {
    std::env::var("HSM_E2E_BENCH_COUNT").unwrap_or_else(|_| "200".to_string())
}

#[test]
fn secure_messaging_through_pcscd() {
    let Some(env) = Env::start() else { return };
    env.initialize().ok();
    let mut command = env.ns_command(env!("CARGO_BIN_EXE_sm-client"));
    command.args(["--reader", &Env::reader_name(0), "--pin", USER_PIN, "--count", &count()]);
    let out = env.capture(command, "sm-client through pcscd".to_string());
    println!("{}", out.stdout.trim_end());
    assert!(out.success(), "sm-client failed:\n{out}\n{}", env.diagnostics());
    assert!(out.contains("flipped MAC bit: 6988, session ended"), "{out}");
    assert!(out.contains("median over"), "{out}");
}
