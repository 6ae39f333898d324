//! `dkek create-share`, `dkek import-share`, `dkek status`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use rand_core::UnwrapErr;
use zeroize::Zeroizing;

use crate::card::{Client, Transport};
use crate::hsm::{self, Domain, DomainStatus};
use crate::shamir::{self, PasswordShare};
use crate::{Error, input, pbe};

/// What `dkek create-share` needs.
pub struct CreateShare<'a> {
    pub file: &'a Path,
    pub password_file: Option<&'a Path>,
    /// (threshold, total) for a random password split into shares.
    pub shares: Option<(u8, u8)>,
    pub share_files: &'a [PathBuf],
    pub force: bool,
}

/// Creates a random DKEK share and writes it encrypted to a file, as `sc-hsm-tool --create-dkek-share`.
/// Needs no card: the share, salt, password and prime come from the operating system's generator.
pub fn create_share(args: &CreateShare<'_>) -> Result<(), Error> {
    if args.file.exists() && !args.force {
        return Err(Error::Input(format!(
            "{} exists; a DKEK share file is not overwritten without --force",
            args.file.display()
        )));
    }
    let mut rng = UnwrapErr(getrandom::SysRng);
    let (password, shares) = match args.shares {
        Some((t, n)) => {
            if t < 2 || n < t {
                return Err(Error::Input(format!(
                    "a {t}-of-{n} split needs --pwd-shares-threshold >= 2 and --pwd-shares-total >= the threshold"
                )));
            }
            if !args.share_files.is_empty() && args.share_files.len() != usize::from(n) {
                return Err(Error::Input(format!(
                    "{} --password-share-file given for {n} shares: give one per share",
                    args.share_files.len()
                )));
            }
            if let Some(f) = args.share_files.iter().find(|f| f.exists()) {
                return Err(Error::Input(format!(
                    "{} exists; password share files are never overwritten",
                    f.display()
                )));
            }
            let password = shamir::random_password(&mut rng);
            let prime = shamir::random_prime(&mut rng);
            let shares =
                shamir::split(&password[..], &prime, t, n, &mut rng).map_err(|e| Error::Input(e.to_string()))?;
            (Zeroizing::new(password.to_vec()), shares)
        }
        None => (input::new_password(args.password_file)?, Vec::new()),
    };

    let mut share = Zeroizing::new([0u8; pbe::SHARE_LEN]);
    let mut salt = [0u8; 8];
    getrandom::fill(&mut share[..]).map_err(|e| Error::Input(format!("no randomness from the OS: {e}")))?;
    getrandom::fill(&mut salt).map_err(|e| Error::Input(format!("no randomness from the OS: {e}")))?;
    eprintln!("Enciphering DKEK share, please wait...");
    let file = pbe::encrypt(&share, &password, &salt, pbe::OPENSC_ITERATIONS);

    if !shares.is_empty() {
        hand_out(&shares, args.share_files)?;
    }
    write_new(args.file, &file, args.force)?;
    println!("DKEK share created and saved to {}", args.file.display());
    Ok(())
}

/// Gives the password shares to the custodians: into the files, or on the terminal one at a time with
/// the screen cleared in between (as sc-hsm-tool), or all to stdout when it is not a terminal.
fn hand_out(shares: &[PasswordShare], files: &[PathBuf]) -> Result<(), Error> {
    let n = shares.len();
    if !files.is_empty() {
        for ((i, share), f) in shares.iter().enumerate().zip(files) {
            write_new(f, share.to_text(i + 1, n).as_bytes(), false)?;
        }
        eprintln!("{n} password shares written, one per file; hand each file to one key custodian.");
        return Ok(());
    }
    let interactive = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    println!(
        "The DKEK share is encrypted with a random 64-bit password, split into {n} shares by a threshold \
         scheme. Each key custodian must note the prime, the share ID and the share value."
    );
    let mut out = std::io::stdout();
    for (i, share) in shares.iter().enumerate() {
        if interactive {
            input::wait_for_enter(&format!("\nPress <enter> to display password share {} of {n}", i + 1))?;
            clear_screen();
        }
        print!("{}", share.to_text(i + 1, n));
        if interactive {
            input::wait_for_enter("\n\nPlease note ALL values above and press <enter> when finished")?;
            clear_screen();
        } else {
            println!();
        }
    }
    out.flush().map_err(|e| Error::Input(format!("stdout: {e}")))
}

fn clear_screen() {
    // ANSI: cursor home, clear the screen and the scrollback.
    print!("\x1b[H\x1b[2J\x1b[3J");
    std::io::stdout().flush().ok();
}

/// Writes a new file readable by its owner only; an existing one only with `overwrite`.
fn write_new(path: &Path, data: &[u8], overwrite: bool) -> Result<(), Error> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if overwrite {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
        .and_then(|mut f| f.write_all(data).and_then(|()| f.sync_all()))
        .map_err(|e| Error::Input(format!("cannot write {}: {e}", path.display())))
}

/// How the password of a share file is given.
pub enum PasswordSource<'a> {
    /// The first line of a file, or the terminal.
    Password(Option<&'a Path>),
    /// Password shares: from files, or this many from the terminal.
    Shares {
        files: &'a [PathBuf],
        threshold: Option<u8>,
    },
}

/// Reads and decrypts a share file.
pub fn decrypt_share_file(path: &Path, source: &PasswordSource<'_>) -> Result<pbe::Share, Error> {
    let file = std::fs::read(path).map_err(|e| Error::Input(format!("cannot read {}: {e}", path.display())))?;
    pbe::check_format(&file).map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
    let password = match source {
        PasswordSource::Password(f) => input::existing_password(*f)?,
        PasswordSource::Shares { files, threshold } => {
            let shares = input::password_shares(files, *threshold)?;
            shamir::recombine(&shares).map_err(|e| Error::Input(format!("password shares: {e}")))?
        }
    };
    eprintln!("Deciphering DKEK share, please wait...");
    pbe::decrypt(&file, &password, pbe::OPENSC_ITERATIONS).map_err(|e| Error::Input(format!("{}: {e}", path.display())))
}

/// Checks before asking anyone for a password that domain `d` exists and still waits for shares.
pub fn check_importable<T: Transport>(c: &mut Client<T>, d: u8) -> Result<(), Error> {
    match hsm::key_domain(c, d)? {
        None => Err(Error::Input(format!("the card has no key domain {d}"))),
        Some(Domain::NotSetUp) => Err(Error::Input(format!(
            "key domain {d} is not set up (INITIALIZE with DKEK shares, or create the domain first)"
        ))),
        Some(Domain::Configured(s)) if s.missing == 0 => Err(Error::Input(format!(
            "key domain {d}: all {} DKEK share(s) are already imported (KCV {})",
            s.total,
            hex::encode_upper(s.kcv)
        ))),
        Some(Domain::Configured(_)) => Ok(()),
    }
}

/// Sends the share and prints the result.
pub fn import<T: Transport>(c: &mut Client<T>, d: u8, share: &pbe::Share) -> Result<(), Error> {
    let status = hsm::import_dkek_share(c, d, share)?;
    println!("DKEK share imported");
    print_status(d, &status);
    Ok(())
}

/// `dkek status`: one domain, or every one.
pub fn status<T: Transport>(c: &mut Client<T>, domain: Option<u8>) -> Result<(), Error> {
    match domain {
        Some(d) => match hsm::key_domain(c, d)? {
            Some(Domain::Configured(s)) => print_status(d, &s),
            Some(Domain::NotSetUp) => println!("Key domain {d}: not set up"),
            None => return Err(Error::Input(format!("the card has no key domain {d}"))),
        },
        None => {
            let domains = hsm::key_domains(c)?;
            if domains.is_empty() {
                println!("The card has no key domains.");
            }
            for (d, dom) in domains.iter().enumerate() {
                if d > 0 {
                    println!();
                }
                match dom {
                    Domain::Configured(s) => print_status(d as u8, s),
                    Domain::NotSetUp => println!("Key domain {d}: not set up"),
                }
            }
        }
    }
    Ok(())
}

/// The status in sc-hsm-tool's layout (`print_dkek_info`), with the domain.
pub fn print_status(d: u8, s: &DomainStatus) {
    println!(
        "Key domain           : {d}{}",
        if s.xkek_uid.is_empty() { "" } else { " (XKEK domain)" }
    );
    println!("DKEK shares          : {}", s.total);
    if s.missing > 0 {
        println!("DKEK import pending, {} share(s) still missing", s.missing);
    } else {
        println!("DKEK key check value : {}", hex::encode_upper(s.kcv));
        if s.kcv == [0; 8] && s.total > 0 {
            println!("  (all zeros: this firmware shows the KCV only after a PIN login, see --pin)");
        }
    }
}

/// One line per domain, for `info`.
pub fn summary(d: usize, dom: &Domain) -> String {
    match dom {
        Domain::NotSetUp => format!("Key domain {d:<10}: not set up"),
        Domain::Configured(s) if s.total == 0 => format!("Key domain {d:<10}: no DKEK"),
        Domain::Configured(s) if s.missing > 0 => format!(
            "Key domain {d:<10}: DKEK import pending, {} of {} share(s) missing",
            s.missing, s.total
        ),
        Domain::Configured(s) => format!(
            "Key domain {d:<10}: {} DKEK share(s){}, KCV {}",
            s.total,
            if s.xkek_uid.is_empty() { "" } else { ", XKEK domain" },
            hex::encode_upper(s.kcv)
        ),
    }
}
