//! Host prerequisites: Debian packages, rustup targets, a running pcscd.

use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// What `cargo xtask run` needs: pcscd with the vpcd driver and the OpenSC tools to try it.
pub const RUN_PACKAGES: &[&str] = &["pcscd", "vsmartcard-vpcd", "opensc", "opensc-pkcs11"];

/// What `cargo xtask test` needs on top: the end-to-end suite's tools and the `pcsc` crate's library.
pub const TEST_PACKAGES: &[&str] = &[
    "softhsm2",
    "pcsc-tools",
    "libpcsclite-dev",
    "pkg-config",
    "iproute2",
    "util-linux",
    "openssl",
    // Python's `cryptography`: the independent AES-GCM/CCM/XTS and ChaCha20-Poly1305 that
    // `openssl enc` does not offer, for the symmetric end-to-end tests.
    "python3-cryptography",
    // The Cortex-M33 known-answer tests run in qemu's Arm MPS2 AN505 machine.
    "qemu-system-arm",
];

/// The thumb targets of the firmware images (rustup targets `setup` installs).
pub const THUMB_TARGETS: &[&str] = &["thumbv6m-none-eabi", "thumbv8m.main-none-eabihf"];

const PCSCD_SOCKET: &str = "/run/pcscd/pcscd.comm";

pub fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `sudo` that will not ask for a password, if there is one.
fn passwordless_sudo() -> bool {
    Command::new("sudo")
        .args(["-n", "true"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `program args` as root: directly when root, else through `sudo -n` when that needs no password.
/// Otherwise prints the command to run and fails.
fn run_as_root(program: &str, args: &[&str]) -> Result<(), String> {
    let shown = format!("{program} {}", args.join(" "));
    let mut command = if is_root() {
        Command::new(program)
    } else if passwordless_sudo() {
        let mut sudo = Command::new("sudo");
        sudo.arg("-n").arg(program);
        sudo
    } else {
        return Err(format!(
            "this needs root. Run it yourself, then run this command again:\n    sudo {shown}"
        ));
    };
    command.args(args);
    println!("xtask: running: {}{shown}", if is_root() { "" } else { "sudo " });
    let status = command.status().map_err(|e| format!("cannot run {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|out| out.status.success() && String::from_utf8_lossy(&out.stdout).contains("install ok installed"))
}

/// Installs the missing ones of `packages` with apt-get. Returns the packages it installed.
pub fn ensure_packages(packages: &[&str], install: bool) -> Result<Vec<String>, String> {
    if !Path::new("/usr/bin/dpkg-query").exists() {
        println!(
            "xtask: not a Debian-like system (no dpkg-query); make sure these are installed: {}",
            packages.join(" ")
        );
        return Ok(Vec::new());
    }
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        println!("xtask: Debian packages present: {}", packages.join(" "));
        return Ok(Vec::new());
    }
    println!("xtask: missing Debian packages: {}", missing.join(" "));
    let install_command = format!("sudo apt-get update && sudo apt-get install -y {}", missing.join(" "));
    if !install {
        return Err(format!("install them:\n    {install_command}"));
    }
    if !is_root() && !passwordless_sudo() {
        return Err(format!(
            "installing needs root. Run this, then run this command again:\n    {install_command}"
        ));
    }
    run_as_root("apt-get", &["update"])?;
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend(&missing);
    run_as_root("apt-get", &args)?;
    Ok(missing.iter().map(|s| s.to_string()).collect())
}

/// Adds the thumb targets with rustup if they are missing.
pub fn ensure_rust_targets() -> Result<(), String> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| {
            format!(
                "rustup not found ({e}); install the targets {}",
                THUMB_TARGETS.join(" ")
            )
        })?;
    let have = String::from_utf8_lossy(&out.stdout).into_owned();
    let missing: Vec<&str> = THUMB_TARGETS
        .iter()
        .copied()
        .filter(|t| !have.lines().any(|l| l.trim() == *t))
        .collect();
    if missing.is_empty() {
        println!("xtask: rustup targets present: {}", THUMB_TARGETS.join(" "));
        return Ok(());
    }
    let mut args = vec!["target", "add"];
    args.extend(&missing);
    println!("xtask: running: rustup {}", args.join(" "));
    let status = Command::new("rustup")
        .args(&args)
        .status()
        .map_err(|e| format!("cannot run rustup: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("rustup {} failed", args.join(" ")))
    }
}

/// Whether a pcscd answers on the system socket.
pub fn pcscd_running() -> bool {
    UnixStream::connect(PCSCD_SOCKET).is_ok()
}

fn systemd_is_init() -> bool {
    std::fs::read_to_string("/proc/1/comm").is_ok_and(|c| c.trim() == "systemd")
}

/// Starts pcscd if it is not running; restarts it when `restart` (it reads reader.conf.d only at start).
pub fn ensure_pcscd(restart: bool) -> Result<(), String> {
    let running = pcscd_running();
    if running && !restart {
        println!("xtask: pcscd is running");
        return Ok(());
    }
    if systemd_is_init() {
        if running {
            println!("xtask: restarting pcscd so it loads the vpcd reader driver");
            run_as_root("systemctl", &["restart", "pcscd.socket", "pcscd.service"])?;
        } else {
            run_as_root("systemctl", &["start", "pcscd.socket"])?;
        }
        // Socket activation: the first client starts the daemon, which then opens the vpcd ports.
        let _ = UnixStream::connect(PCSCD_SOCKET);
    } else {
        if running {
            println!("xtask: restarting pcscd so it loads the vpcd reader driver");
            let pid = std::fs::read_to_string("/run/pcscd/pcscd.pid").unwrap_or_default();
            let pid = pid.trim();
            if pid.is_empty() {
                return Err("pcscd runs but /run/pcscd/pcscd.pid is missing; restart pcscd yourself".into());
            }
            run_as_root("kill", &[pid])?;
            let deadline = Instant::now() + Duration::from_secs(5);
            while pcscd_running() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        // No systemd (a container): pcscd daemonizes itself.
        run_as_root("pcscd", &[])?;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pcscd_running() {
        if Instant::now() > deadline {
            return Err(format!("pcscd did not come up: nothing answers on {PCSCD_SOCKET}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("xtask: pcscd is running");
    Ok(())
}
