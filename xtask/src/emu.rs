//! `cargo xtask emu`: the Pico (RP2040) image on an emulated board.
//!
//! The UF2 of `cargo xtask firmware --board pico` (the file a user copies to the board) boots in
//! rp2040js, the RP2040 emulator behind a public Pico simulator, driven by the harness in `emu/`
//! (JavaScript, node ≥ 20): a synthetic boot ROM, the flash kept in a state file across runs,
//! ring-oscillator bits from the host's RNG, a USB host that enumerates and checks the device, and
//! a CCID driver bridged to pcscd's vpcd, so the emulated board is a card in pcscd like
//! `pico-hsm-vcard`. Every APDU's emulated cycles are logged with `-v`.
//!
//! * [`setup`] installs the pinned rp2040js from the npm registry into `emu/node_modules`
//!   (`npm ci`; part of `cargo xtask setup`, the only step that needs the network);
//! * [`run`] builds the image (cargo is incremental) and starts the harness; it needs no network.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::firmware;

/// The rp2040js version `emu/package.json` pins (checked against what is installed).
pub const RP2040JS_VERSION: &str = "1.4.1";

/// Oldest node the harness runs on.
const NODE_MAJOR: u32 = 20;

/// Options of `cargo xtask emu`.
#[derive(clap::Args, Debug, Clone)]
pub struct EmuArgs {
    /// The board (only the Pico: rp2040js emulates the RP2040)
    #[arg(long, value_enum, default_value = "pico")]
    pub board: firmware::Board,
    /// Flash state file, kept across runs (the key store lives in it); default target/emu/flash-pico.bin
    #[arg(long)]
    pub flash: Option<PathBuf>,
    /// vpcd's address (pcscd's virtual reader driver), HOST:PORT
    #[arg(long, default_value = "localhost:35963")]
    pub vpcd: String,
    /// Leave the ring oscillator unimplemented (RANDOMBIT reads 0xFFFFFFFF): the entropy health
    /// tests must refuse it, so commands that need randomness answer 6400
    #[arg(long)]
    pub no_rosc: bool,
    /// Instead of serving vpcd: power on, send these APDUs (hex), print SW and cycles, exit
    #[arg(long = "apdu", value_name = "HEX")]
    pub apdus: Vec<String>,
    /// With -v: after each APDU of over a million cycles, its hottest functions (sampled PC)
    #[arg(long)]
    pub profile: bool,
    /// Run the UF2 as it is, without `cargo xtask firmware --board pico` first
    #[arg(long)]
    pub no_build: bool,
    /// -v: one line per APDU (header, lengths, SW, cycles, ms at 125 MHz; never data); -vv: USB,
    /// boot ROM and emulator details
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

fn emu_dir(root: &Path) -> PathBuf {
    root.join("emu")
}

/// The major version of the `node` on PATH.
fn node_major() -> Result<u32, String> {
    let out = Command::new("node")
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run node (needed for the emulator, version {NODE_MAJOR} or later): {e}"))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or(format!("cannot read node's version from {version:?}"))
}

fn check_node() -> Result<(), String> {
    let major = node_major()?;
    if major < NODE_MAJOR {
        return Err(format!(
            "node {major} is too old for the emulator harness: it needs {NODE_MAJOR} or later"
        ));
    }
    Ok(())
}

/// Whether `emu/node_modules` holds what `emu/package-lock.json` asks for: rp2040js at the pinned
/// version, installed from the current lock file (npm keeps a copy in `node_modules/.package-lock.json`).
fn installed(root: &Path) -> bool {
    let dir = emu_dir(root);
    let version = std::fs::read_to_string(dir.join("node_modules/rp2040js/package.json"))
        .ok()
        .is_some_and(|p| p.contains(&format!("\"version\": \"{RP2040JS_VERSION}\"")));
    let modified = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = match (
        modified(dir.join("package-lock.json")),
        modified(dir.join("node_modules/.package-lock.json")),
    ) {
        (Some(lock), Some(copy)) => copy >= lock,
        _ => false,
    };
    version && fresh
}

/// Installs the harness's npm dependencies (`npm ci` in `emu/`) when they are missing or older than
/// `emu/package-lock.json`. Needs node and npm, and the npm registry.
pub fn setup(root: &Path) -> Result<(), String> {
    if node_major().is_err() {
        // No node at all: Debian's (node 18 on Debian 12; check_node says if it is too old).
        crate::host::ensure_packages(&["nodejs", "npm"], true)?;
    }
    check_node()?;
    if installed(root) {
        return Ok(());
    }
    let dir = emu_dir(root);
    println!(
        "xtask: installing the emulator's npm packages (rp2040js {RP2040JS_VERSION}) in {}",
        dir.display()
    );
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .status()
        .map_err(|e| format!("cannot run npm (install npm, or Debian's nodejs and npm packages): {e}"))?;
    if !status.success() {
        return Err(format!("`npm ci` in {} failed ({status})", dir.display()));
    }
    if !installed(root) {
        return Err(format!(
            "after `npm ci`, {} has no rp2040js {RP2040JS_VERSION}",
            dir.display()
        ));
    }
    Ok(())
}

/// The harness's command line for `args` (without `node`).
fn harness_args(root: &Path, args: &EmuArgs, uf2: &Path) -> Vec<String> {
    let flash = args
        .flash
        .clone()
        .unwrap_or_else(|| root.join("target/emu/flash-pico.bin"));
    let mut out = vec![
        emu_dir(root).join("harness.js").display().to_string(),
        "--uf2".into(),
        uf2.display().to_string(),
        "--flash".into(),
        flash.display().to_string(),
        "--vpcd".into(),
        args.vpcd.clone(),
    ];
    if args.no_rosc {
        out.push("--no-rosc".into());
    }
    if args.profile {
        out.push("--profile".into());
    }
    for apdu in &args.apdus {
        out.push("--apdu".into());
        out.push(apdu.clone());
    }
    if args.verbose > 0 {
        out.push(format!("-{}", "v".repeat(usize::from(args.verbose.min(2)))));
    }
    out
}

/// Builds the Pico image (unless `--no-build`) and runs it in the emulator. Serving vpcd, this only
/// returns on error: the harness replaces this process, so Ctrl-C stops the emulator directly.
pub fn run(root: &Path, args: &EmuArgs) -> Result<(), String> {
    if args.board != firmware::Board::Pico {
        return Err("the emulator (rp2040js) runs only the Pico's RP2040 image: use --board pico".into());
    }
    check_node()?;
    if !installed(root) {
        return Err(format!(
            "the emulator's npm packages are not installed in {} (or are older than its package-lock.json): \
             run `cargo xtask setup` first",
            emu_dir(root).display()
        ));
    }
    let uf2 = if args.no_build {
        root.join("target/firmware/pico-hsm-pico.uf2")
    } else {
        firmware::build(root, firmware::Board::Pico)?
    };
    if !uf2.is_file() {
        return Err(format!(
            "no image at {}: run `cargo xtask firmware --board pico`",
            uf2.display()
        ));
    }
    let mut command = Command::new("node");
    command.args(harness_args(root, args, &uf2)).current_dir(root);
    println!("$ node {}", harness_args(root, args, &uf2).join(" "));
    if args.apdus.is_empty() {
        use std::os::unix::process::CommandExt as _;
        let error = command.exec();
        return Err(format!("cannot run node: {error}"));
    }
    let status = command.status().map_err(|e| format!("cannot run node: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the emulator run failed ({status})"))
    }
}

/// The harness's own tests (`node --test` in `emu/`): framing, boot ROM, USB descriptor checks, and
/// the Pico image (which must have been built: `cargo xtask firmware --board pico`) booted without
/// pcscd. For `cargo xtask test`, after the firmware images.
pub fn test(root: &Path) -> Result<(), String> {
    check_node()?;
    if !installed(root) {
        return Err("the emulator's npm packages are not installed: run `cargo xtask setup`".into());
    }
    let uf2 = root.join("target/firmware/pico-hsm-pico.uf2");
    println!("$ node --test test/   (in emu/)");
    let status = Command::new("node")
        .args(["--test", "test/"])
        .current_dir(emu_dir(root))
        .env("PICO_HSM_UF2", &uf2)
        .env("PICO_HSM_REQUIRE_UF2", "1")
        .status()
        .map_err(|e| format!("cannot run node: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the emulator harness tests failed ({status})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harness_arguments() {
        let args = EmuArgs {
            board: firmware::Board::Pico,
            flash: Some(PathBuf::from("/tmp/f.bin")),
            vpcd: "127.0.0.1:35999".into(),
            no_rosc: true,
            apdus: vec!["0084000008".into()],
            profile: true,
            no_build: true,
            verbose: 3,
        };
        let a = harness_args(Path::new("/r"), &args, Path::new("/r/x.uf2"));
        assert_eq!(
            a,
            [
                "/r/emu/harness.js",
                "--uf2",
                "/r/x.uf2",
                "--flash",
                "/tmp/f.bin",
                "--vpcd",
                "127.0.0.1:35999",
                "--no-rosc",
                "--profile",
                "--apdu",
                "0084000008",
                "-vv"
            ]
        );
    }
}
