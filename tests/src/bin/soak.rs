//! Soak run: thousands of mixed operations through pcscd from several clients interleaving PC/SC
//! transactions on one virtual card, every answer checked, the card's RSS sampled
//! (`hsm_e2e::soak`; `cargo xtask soak` builds and runs this).
//!
//! ```text
//! soak [--ops N] [--seed S] [--clients C] [--json FILE] [--sample-every N] [--race]
//! soak --client --reader NAME [--vcard-pid PID] [options]   the half that runs inside the Env
//! ```
//!
//! Exits non-zero when any operation failed.

use std::process::ExitCode;

use hsm_e2e::soak::{self, Options};

const USAGE: &str = "usage: soak [--ops N] [--seed S] [--clients C] [--json FILE] [--sample-every N] [--race]";

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("soak: FAILED (errors above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool, String> {
    let mut options = Options::default();
    let mut client = false;
    let mut reader = None;
    let mut vcard_pid = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if options.parse_one(&arg, &mut args)? {
            continue;
        }
        match arg.as_str() {
            "--client" => client = true,
            "--reader" => reader = Some(args.next().ok_or("--reader needs a name")?),
            "--vcard-pid" => {
                vcard_pid = Some(
                    args.next()
                        .and_then(|p| p.parse().ok())
                        .ok_or("--vcard-pid needs a pid")?,
                );
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(true);
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if client {
        let reader = reader.ok_or("--client needs --reader")?;
        return soak::run_client(&options, &reader, vcard_pid);
    }
    let me = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    soak::run(&me, &options)
}
