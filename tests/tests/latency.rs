//! APDU round trips, measured and printed (never asserted as timings).

use std::process::Command;

use hsm_e2e::{Env, apdu_bench_binary};

fn count() -> String {
    std::env::var("HSM_E2E_BENCH_COUNT").unwrap_or_else(|_| "1000".to_string())
}

#[test]
fn apdu_round_trip_through_pcscd() {
    let Some(env) = Env::start() else { return };
    let mut command = env.ns_command(apdu_bench_binary!());
    command.args(["--reader", &Env::reader_name(0), "--count", &count()]);
    let out = env
        .capture(command, "apdu-bench through pcscd".to_string())
        .ok()
        .expect("median");
    println!("{}", out.stdout.trim_end());
}

#[test]
fn apdu_round_trip_in_process() {
    let mut command = Command::new(apdu_bench_binary!());
    command.args(["--in-process", "--count", &count()]);
    let out = command.output().expect("run apdu-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "apdu-bench --in-process failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("median"), "{stdout}");
    println!("{}", stdout.trim_end());
}
