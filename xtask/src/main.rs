//! `cargo xtask`: the developer and CI entry points.
//!
//! * `cargo xtask run [-- ARGS]`: install what the virtual HSM needs, start pcscd, run `pico-hsm-vcard`.
//! * `cargo xtask test`: every check CI runs (fmt, clippy, tests with the end-to-end suite and the replay
//!   of every committed fuzz input, firmware images, thumb checks, Cortex-M33 KATs), with a timing summary.
//! * `cargo xtask fuzz [--seconds N] [TARGET...]`: libFuzzer on the fuzz targets (cargo-fuzz).
//! * `cargo xtask bench`: one table of host operations through PKCS#11 (the virtual card, SoftHSM2,
//!   `openssl speed`, the emulated Pico when built); `--apdu`: APDU round trips too.
//! * `cargo xtask soak`: 10,000 mixed operations from two PC/SC clients interleaving transactions on
//!   one virtual card in a private pcscd, every answer checked, the card's RSS sampled.
//! * `cargo xtask firmware [--board pico|pico2]`: the board images as UF2, with flash and RAM use.
//! * `cargo xtask m33-kat`: the crypto and card known-answer tests on an emulated Cortex-M33 (qemu).
//! * `cargo xtask emu`: the Pico image in the rp2040js emulator, served to pcscd through vpcd.
//! * `cargo xtask setup`: only the host prerequisites of `test`.

mod bench;
mod emu;
mod firmware;
mod host;
mod steps;

use std::os::unix::process::CommandExt as _;
use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};

use crate::steps::Steps;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Pico HSM developer and CI tasks"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install pcscd, vsmartcard-vpcd and OpenSC if missing, start pcscd, and run the virtual HSM
    ///
    /// Missing Debian packages are installed with apt-get: directly as root, through `sudo -n` when that
    /// needs no password, else the command to run is printed and this exits with an error.
    Run {
        /// Only check the packages, never install them
        #[arg(long)]
        no_install: bool,
        /// Arguments for pico-hsm-vcard (after `--`), e.g. `-- --state-dir ~/hsm2`
        #[arg(last = true)]
        vcard_args: Vec<String>,
    },
    /// fmt, clippy, unit + in-process + end-to-end tests (with every committed fuzz seed and
    /// regression input replayed through its harness), firmware images, no_std thumb checks,
    /// Cortex-M33 known-answer tests
    Test {
        /// Only check the packages, never install them
        #[arg(long)]
        no_install: bool,
    },
    /// Fuzz with libFuzzer (cargo-fuzz, installed if missing): each target's committed regression
    /// inputs once, then a timed run from its seeds; new inputs go to fuzz/corpus/<target>/
    ///
    /// Needs no nightly toolchain (RUSTC_BOOTSTRAP=1 lets stable take cargo-fuzz's flags). Crashes
    /// and failed invariants stop the run with the input in fuzz/artifacts/<target>/.
    Fuzz {
        /// Seconds of fuzzing per target
        #[arg(long, default_value_t = 60)]
        seconds: u32,
        /// Parallel fuzzing jobs per target (libFuzzer -fork)
        #[arg(long, default_value_t = 1)]
        jobs: u32,
        /// Targets to run (apdu_sequence, store_image, apdu_parse, ccid_stream); all when none
        targets: Vec<String>,
    },
    /// One table: host operations through PKCS#11 for the virtual card next to SoftHSM2 and
    /// `openssl speed`, and the emulated Pico (cycles → ms at 125 MHz, from emu/bench.json) next to
    /// upstream's RP2040 figures when target/firmware/pico-hsm-pico.uf2 exists
    Bench {
        /// Operations per measurement (key generations: a tenth to a twentieth of it)
        #[arg(long, default_value_t = 200)]
        count: u32,
        /// Also the APDU round trips (in-process and through pcscd) and the symmetric operations
        #[arg(long)]
        apdu: bool,
    },
    /// Soak: mixed operations from several PC/SC clients interleaving transactions on one virtual
    /// card (in a private pcscd), every status word and result checked, the card's RSS sampled
    ///
    /// Each client (its own PC/SC connection) loops over transactions of SELECT, VERIFY, READ
    /// BINARY, UPDATE BINARY + read-back, ECDSA P-256 and RSA-2048 signatures (verified on the host),
    /// GET CHALLENGE and LIST KEYS, drawn from a seeded generator. Prints progress every
    /// --sample-every operations and a summary (ops/s, per-operation medians, RSS first/last/max,
    /// whether RSS stayed flat); fails if any operation failed. Release build unless --dev.
    Soak {
        /// Operations in all
        #[arg(long, default_value_t = 10_000)]
        ops: usize,
        /// Seed of the operation mix and the data
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Client threads, each with its own PC/SC connection
        #[arg(long, default_value_t = 2)]
        clients: usize,
        /// Write the figures as JSON to FILE
        #[arg(long, value_name = "FILE")]
        json: Option<std::path::PathBuf>,
        /// Operations between two RSS samples (progress lines)
        #[arg(long, default_value_t = 500)]
        sample_every: usize,
        /// No turns: leave the arbitration of transactions to pcscd alone
        #[arg(long)]
        race: bool,
        /// The dev profile instead of release (no optimized build of the workspace needed)
        #[arg(long)]
        dev: bool,
    },
    /// Build the firmware for the Raspberry Pi Pico (RP2040) and/or Pico 2 (RP2350) as UF2 files
    ///
    /// Writes target/firmware/pico-hsm-<board>.uf2 (copy it to the board's BOOTSEL drive) and the
    /// matching .elf, and prints the flash and static RAM each image uses. Fails if an image would
    /// grow into the key store.
    Firmware {
        /// The board; both when not given
        #[arg(long, value_enum)]
        board: Option<firmware::Board>,
    },
    /// Run the crypto and card known-answer tests compiled for the RP2350's core (Cortex-M33) in
    /// qemu-system-arm (Arm MPS2 AN505), with instruction counts per operation
    M33Kat,
    /// Boot the Pico (RP2040) image in the rp2040js emulator and serve its card to pcscd through vpcd
    ///
    /// Builds target/firmware/pico-hsm-pico.uf2 (unless --no-build), boots it with the flash kept in
    /// --flash across runs, enumerates it as a USB host (descriptors checked) and bridges its CCID
    /// card to vpcd, like pico-hsm-vcard. -v logs every APDU with its emulated cycles.
    Emu(emu::EmuArgs),
    /// Install the host prerequisites of `test` (Debian packages, rustup targets) and stop
    Setup,
}

fn main() -> ExitCode {
    let result = match Cli::parse().task {
        Task::Run { no_install, vcard_args } => run(no_install, &vcard_args),
        Task::Test { no_install } => test(no_install),
        Task::Fuzz { seconds, jobs, targets } => fuzz(&workspace_root(), seconds, jobs, &targets),
        Task::Bench { count, apdu } => {
            let root = workspace_root();
            (if apdu { bench_apdu(count.max(1000)) } else { Ok(()) }).and_then(|()| bench::run(&root, count))
        }
        Task::Firmware { board } => {
            let root = workspace_root();
            setup(true).and_then(|()| {
                board
                    .map_or(firmware::Board::ALL.to_vec(), |b| vec![b])
                    .into_iter()
                    .try_for_each(|b| firmware::build(&root, b).map(|_| ()))
            })
        }
        Task::M33Kat => setup(true).and_then(|()| firmware::m33_kat(&workspace_root())),
        Task::Emu(args) => emu::run(&workspace_root(), &args),
        Task::Soak {
            ops,
            seed,
            clients,
            json,
            sample_every,
            race,
            dev,
        } => {
            let mut args = vec![
                "--ops".to_string(),
                ops.to_string(),
                "--seed".into(),
                seed.to_string(),
                "--clients".into(),
                clients.to_string(),
                "--sample-every".into(),
                sample_every.to_string(),
            ];
            if let Some(json) = json {
                // cargo runs the driver in the workspace root.
                let json = std::path::absolute(&json).map_err(|e| format!("{}: {e}", json.display()));
                match json {
                    Ok(json) => args.extend(["--json".to_string(), json.display().to_string()]),
                    Err(e) => return fail(e),
                }
            }
            if race {
                args.push("--race".into());
            }
            soak(!dev, &args)
        }
        Task::Setup => setup(true),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn fail(error: String) -> ExitCode {
    eprintln!("xtask: error: {error}");
    ExitCode::FAILURE
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()))
}

fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default()
}

fn run(no_install: bool, vcard_args: &[String]) -> Result<(), String> {
    let installed = host::ensure_packages(host::RUN_PACKAGES, !no_install)?;
    // pcscd reads its reader configuration only at start: restart it if vpcd just arrived.
    host::ensure_pcscd(installed.iter().any(|p| p == "vsmartcard-vpcd"))?;

    println!("xtask: building pico-hsm-vcard (release)");
    let status = cargo()
        .current_dir(workspace_root())
        .args(["build", "--release", "-p", "hsm-vcard", "--bin", "pico-hsm-vcard"])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("building pico-hsm-vcard failed".into());
    }
    print_next_steps(vcard_args);
    // exec, not spawn: Ctrl-C then reaches only pico-hsm-vcard, which stops cleanly (cargo run execs too).
    let error = cargo()
        .current_dir(workspace_root())
        .args([
            "run",
            "--quiet",
            "--release",
            "-p",
            "hsm-vcard",
            "--bin",
            "pico-hsm-vcard",
            "--",
        ])
        .args(vcard_args)
        .exec();
    Err(format!("cannot run pico-hsm-vcard: {error}"))
}

fn print_next_steps(vcard_args: &[String]) {
    let custom_port = vcard_args.iter().any(|a| a.starts_with("--vpcd"));
    let reader = if custom_port {
        "the vpcd reader of the port you chose (Debian's vpcd config: 35963 is 00 00, 35964 is 00 01)".to_string()
    } else {
        "\"Virtual PCD 00 00\"".to_string()
    };
    println!(
        "\n\
         Pico HSM virtual card: reader {reader}\n\
         In another terminal, try:\n\
         \x20 opensc-tool -l                      # the reader, with a card in it\n\
         \x20 opensc-tool -n                      # SmartCard-HSM\n\
         \x20 sc-hsm-tool --initialize --so-pin 3537363231383830 --pin 648219\n\
         \x20 pkcs15-tool -D                      # PIN objects\n\
         \x20 pkcs11-tool -L                      # the token and its serial\n\
         \x20 pkcs11-tool --login --pin 648219 --write-object README.md --type data --label readme\n\
         \x20 pkcs11-tool --login --pin 648219 --list-objects\n\
         State: {}  (see docs/vcard.md). Ctrl-C stops it.\n\
         If a tool finds no card right after pcscd (re)started, run it again: the card reconnects within a second.\n",
        state_dir_hint(vcard_args)
    );
}

fn state_dir_hint(vcard_args: &[String]) -> String {
    let mut args = vcard_args.iter();
    while let Some(arg) = args.next() {
        if arg == "--state-dir" {
            return args.next().cloned().unwrap_or_default();
        }
        if let Some(dir) = arg.strip_prefix("--state-dir=") {
            return dir.to_string();
        }
    }
    "$XDG_DATA_HOME/pico-hsm or ~/.local/share/pico-hsm".to_string()
}

fn setup(install: bool) -> Result<(), String> {
    let mut packages = host::RUN_PACKAGES.to_vec();
    packages.extend(host::TEST_PACKAGES);
    host::ensure_packages(&packages, install)?;
    host::ensure_rust_targets()?;
    emu::setup(&workspace_root())
}

fn test(no_install: bool) -> Result<(), String> {
    let mut steps = Steps::new(workspace_root());
    steps.step("host prerequisites", |_| setup(!no_install));
    if steps.failed() {
        return steps.finish();
    }
    steps.cargo("fmt", &["fmt", "--all", "--", "--check"]);
    steps.cargo(
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
    );
    // The binaries the end-to-end tests run (pico-hsm-vcard, pico-hsm-tool, the bench helpers); the
    // test runner builds the test targets. Benches and examples are not built (clippy above has
    // type-checked them with --all-targets).
    steps.cargo("build", &["build", "--workspace"]);
    // The firmware images before the tests: the end-to-end suite boots the Pico's UF2 in rp2040js.
    for board in firmware::Board::ALL {
        steps.step(&format!("firmware image {board:?} ({})", board.target()), |root| {
            firmware::build(root, board).map(|_| ())
        });
    }
    steps.step("emulator harness tests (rp2040js, the Pico image)", emu::test);
    steps.step("tests", |root| {
        let nextest = cargo()
            .args(["nextest", "--version"])
            .output()
            .is_ok_and(|o| o.status.success());
        let run = |args: &[&str]| steps::run_cargo(root, args, &[("HSM_E2E_REQUIRE", "1")]);
        if nextest {
            // Doc tests first, so the last test-runner summary CI reads is nextest's count of every test.
            run(&["test", "--workspace", "--doc"])?;
            run(&["nextest", "run", "--workspace", "--no-fail-fast"])
        } else {
            run(&["test", "--workspace", "--no-fail-fast"])
        }
    });
    // The card without RSA (hsm-crypto's and hsm-card's default feature) still compiles. The thumb
    // targets need no check of their own: the firmware images above compile and link every crate
    // for both.
    steps.cargo(
        "check without RSA",
        &["check", "--no-default-features", "-p", "hsm-crypto", "-p", "hsm-card"],
    );
    steps.step("Cortex-M33 known-answer tests (qemu mps2-an505)", firmware::m33_kat);
    // No libFuzzer here: its sanitizer build of every crate is a second full build (minutes on CI's
    // two cores) for a minute of fuzzing. The test suite replays every committed seed and regression
    // input through the same harnesses (crates/hsm-fuzz-harness/tests/replay.rs); campaigns run with
    // `cargo xtask fuzz`.
    steps.finish()
}

/// The fuzz targets, in the order `cargo xtask fuzz` runs them.
const FUZZ_TARGETS: [&str; 4] = ["apdu_sequence", "store_image", "apdu_parse", "ccid_stream"];

fn fuzz(root: &std::path::Path, seconds: u32, jobs: u32, targets: &[String]) -> Result<(), String> {
    for t in targets {
        if !FUZZ_TARGETS.contains(&t.as_str()) {
            return Err(format!(
                "unknown fuzz target `{t}` (targets: {})",
                FUZZ_TARGETS.join(", ")
            ));
        }
    }
    let have = cargo()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        println!("xtask: installing cargo-fuzz");
        steps::run_cargo(root, &["install", "cargo-fuzz", "--locked"], &[])?;
    }
    let fuzz = root.join("fuzz");
    // cargo-fuzz passes nightly-only flags (sanitizers); RUSTC_BOOTSTRAP lets the stable toolchain take them.
    let env = [("RUSTC_BOOTSTRAP", "1")];
    let selected: Vec<&str> = if targets.is_empty() {
        FUZZ_TARGETS.to_vec()
    } else {
        targets.iter().map(String::as_str).collect()
    };
    for target in selected {
        // First every committed regression input once, then the timed run. libFuzzer writes new
        // inputs into the first corpus directory (ignored by git), reads the committed seeds and
        // the minimized corpus of the last campaign (`corpus-min/`) from the others.
        let regressions = fuzz.join("regressions").join(target);
        let mut inputs: Vec<String> = std::fs::read_dir(&regressions)
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.is_file() && p.extension().is_none())
                    .map(|p| p.display().to_string())
                    .collect()
            })
            .unwrap_or_default();
        if !inputs.is_empty() {
            inputs.sort();
            let mut args = vec!["fuzz".to_string(), "run".into(), target.into()];
            args.extend(inputs);
            args.extend(["--".into(), "-runs=1".into()]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            steps::run_cargo(&fuzz, &args, &env)?;
        }
        println!("xtask: fuzzing {target} for {seconds} s ({jobs} job(s))");
        let max_time = format!("-max_total_time={}", seconds.max(1));
        let fork = format!("-fork={jobs}");
        let corpus = format!("corpus/{target}");
        let seeds = format!("seeds/{target}");
        let campaign = format!("corpus-min/{target}");
        let mut args = vec!["fuzz", "run", target, corpus.as_str(), seeds.as_str()];
        if fuzz.join(&campaign).is_dir() {
            args.push(campaign.as_str());
        }
        args.extend(["--", max_time.as_str(), "-timeout=10"]);
        if jobs > 1 {
            args.push(fork.as_str());
        }
        if matches!(target, "apdu_sequence" | "apdu_parse") {
            args.push("-dict=dict/apdu.dict");
        }
        steps::run_cargo(&fuzz, &args, &env)?;
    }
    Ok(())
}

/// `cargo xtask soak`: builds the `soak` driver and the virtual card it starts (`e2e-vcard`, found
/// beside it), then runs the driver; it starts its own private pcscd (needs the packages of `run`
/// and root or user namespaces, like the end-to-end tests).
fn soak(release: bool, args: &[String]) -> Result<(), String> {
    let root = workspace_root();
    host::ensure_packages(host::RUN_PACKAGES, false)?;
    let profile: &[&str] = if release { &["--release"] } else { &[] };
    let mut build = vec!["build", "-p", "hsm-e2e", "--bin", "soak", "--bin", "e2e-vcard"];
    build.extend_from_slice(profile);
    steps::run_cargo(&root, &build, &[])?;
    let mut run = vec!["run", "--quiet", "-p", "hsm-e2e", "--bin", "soak"];
    run.extend_from_slice(profile);
    run.push("--");
    run.extend(args.iter().map(String::as_str));
    steps::run_cargo(&root, &run, &[("HSM_E2E_REQUIRE", "1")])
}

fn bench_apdu(count: u32) -> Result<(), String> {
    let root = workspace_root();
    let count = count.to_string();
    println!("xtask: in-process (Card::transmit on a file flash, no transport)");
    steps::run_cargo(
        &root,
        &[
            "run",
            "--quiet",
            "--release",
            "-p",
            "hsm-e2e",
            "--bin",
            "apdu-bench",
            "--",
            "--in-process",
            "--count",
            &count,
        ],
        &[],
    )?;
    let e2e = |test: &str, env: &[(&str, &str)]| bench::e2e_measurement(&root, test, env);
    println!("xtask: through a private pcscd + vpcd (pcsc crate client)");
    e2e("latency", &[("HSM_E2E_REQUIRE", "1"), ("HSM_E2E_BENCH_COUNT", &count)])?;
    println!("xtask: symmetric operations through pcscd (AEADs, MACs, PBKDF2)");
    e2e(
        "bench_symmetric",
        &[("HSM_E2E_REQUIRE", "1"), ("HSM_E2E_BENCH_COUNT", &count)],
    )?;
    Ok(())
}
