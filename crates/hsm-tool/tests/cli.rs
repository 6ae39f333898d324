//! The `pico-hsm-tool` binary, non-interactively, for the commands that need no card.

use std::path::Path;
use std::process::{Command, Output};

use hsm_tool::pbe;
use hsm_tool::shamir::{self, PasswordShare};

fn tool(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pico-hsm-tool"))
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn create_share_with_password_shares_in_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = tool(
        &[
            "dkek",
            "create-share",
            "dkek.pbe",
            "--pwd-shares-threshold",
            "2",
            "--pwd-shares-total",
            "3",
            "--password-share-file",
            "s1.txt",
            "--password-share-file",
            "s2.txt",
            "--password-share-file",
            "s3.txt",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "DKEK share created and saved to dkek.pbe\n"
    );
    let file = std::fs::read(dir.path().join("dkek.pbe")).unwrap();
    assert_eq!(file.len(), 64);
    assert_eq!(&file[..8], b"Salted__");

    let shares: Vec<PasswordShare> = (1..=3)
        .map(|i| {
            let text = std::fs::read_to_string(dir.path().join(format!("s{i}.txt"))).unwrap();
            assert!(
                text.starts_with(&format!("Share {i} of 3\n\n\nPrime       : ")),
                "{text}"
            );
            PasswordShare::parse(&text).unwrap()
        })
        .collect();
    assert!(shares.iter().all(|s| s.prime == shares[0].prime));
    let password = shamir::recombine(&[shares[2].clone(), shares[0].clone()]).unwrap();
    assert_eq!(password.len(), 8);
    assert!((1..=0x7F).contains(&password[0]));
    pbe::decrypt(&file, &password, pbe::OPENSC_ITERATIONS).unwrap();

    // The share files are never overwritten, the share file only with --force.
    let again = tool(
        &[
            "dkek",
            "create-share",
            "other.pbe",
            "--pwd-shares-threshold",
            "2",
            "--pwd-shares-total",
            "2",
            "--password-share-file",
            "s1.txt",
            "--password-share-file",
            "new.txt",
        ],
        dir.path(),
    );
    assert!(!again.status.success());
    assert!(stderr(&again).contains("s1.txt exists"), "{}", stderr(&again));
    assert!(!dir.path().join("other.pbe").exists() && !dir.path().join("new.txt").exists());
}

#[test]
fn create_share_refusals() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("short.txt"), "12345\n").unwrap();
    let out = tool(
        &["dkek", "create-share", "a.pbe", "--password-file", "short.txt"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("too short"), "{}", stderr(&out));

    std::fs::write(dir.path().join("exists.pbe"), "x").unwrap();
    let out = tool(
        &["dkek", "create-share", "exists.pbe", "--password-file", "short.txt"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));

    let out = tool(
        &[
            "dkek",
            "create-share",
            "b.pbe",
            "--pwd-shares-threshold",
            "3",
            "--pwd-shares-total",
            "2",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    let out = tool(
        &["dkek", "create-share", "b.pbe", "--pwd-shares-threshold", "2"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "clap: --pwd-shares-total missing");
    assert!(!dir.path().join("a.pbe").exists() && !dir.path().join("b.pbe").exists());
}
