//! Secrets from the terminal (without echo) or from files: passwords, PINs, password shares.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::Error;
use crate::shamir::{self, PasswordShare};

/// Shortest password accepted for a new share file (sc-hsm-tool's `ask_for_password` asks for 6).
pub const MIN_PASSWORD_LEN: usize = 6;

/// The first line of a file, without its line end. Empty is an error.
pub fn first_line(path: &Path, what: &str) -> Result<Zeroizing<String>, Error> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| Error::Input(format!("cannot read {what} from {}: {e}", path.display())))?,
    );
    let line = Zeroizing::new(text.lines().next().unwrap_or("").to_string());
    if line.is_empty() {
        return Err(Error::Input(format!(
            "{} holds no {what} on its first line",
            path.display()
        )));
    }
    Ok(line)
}

fn prompt_hidden(prompt: &str) -> Result<Zeroizing<String>, Error> {
    rpassword::prompt_password(prompt).map(Zeroizing::new).map_err(|e| {
        Error::Input(format!(
            "cannot ask on the terminal ({e}); give the secret in a file instead (see --help)"
        ))
    })
}

/// The password for a new share file: the first line of `file`, or asked twice on the terminal.
pub fn new_password(file: Option<&Path>) -> Result<Zeroizing<Vec<u8>>, Error> {
    let pwd = match file {
        Some(f) => first_line(f, "the password")?,
        None => {
            eprintln!(
                "The DKEK share is encrypted with a key derived from this password. Choose a long one \
                 (more than 10 characters, mixed letters, digits and symbols) and keep it safe."
            );
            let mut tries = 0;
            loop {
                tries += 1;
                let a = prompt_hidden("Password to encrypt the DKEK share: ")?;
                if a.len() < MIN_PASSWORD_LEN {
                    eprintln!("Too short: at least {MIN_PASSWORD_LEN} characters.");
                } else if *prompt_hidden("Same password again: ")? != *a {
                    eprintln!("The passwords differ.");
                } else {
                    break a;
                }
                if tries == 3 {
                    return Err(Error::Input("no password given".into()));
                }
            }
        }
    };
    if pwd.len() < MIN_PASSWORD_LEN {
        return Err(Error::Input(format!(
            "the password is too short: at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    Ok(Zeroizing::new(pwd.as_bytes().to_vec()))
}

/// The password of an existing share file: the first line of `file`, or asked once on the terminal.
pub fn existing_password(file: Option<&Path>) -> Result<Zeroizing<Vec<u8>>, Error> {
    let pwd = match file {
        Some(f) => first_line(f, "the password")?,
        None => prompt_hidden("Password of the DKEK share: ")?,
    };
    Ok(Zeroizing::new(pwd.as_bytes().to_vec()))
}

/// The user PIN from `--pin` or the first line of `--pin-file`, if either is given.
pub fn pin(pin: Option<&str>, file: Option<&Path>) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
    Ok(match (pin, file) {
        (Some(p), _) => Some(Zeroizing::new(p.as_bytes().to_vec())),
        (None, Some(f)) => Some(Zeroizing::new(first_line(f, "the PIN")?.as_bytes().to_vec())),
        (None, None) => None,
    })
}

/// The user PIN asked on the terminal (without echo); an error without a terminal.
pub fn ask_pin() -> Result<Zeroizing<Vec<u8>>, Error> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::Input("no terminal to ask for the PIN".into()));
    }
    let pin = prompt_hidden("User PIN: ")?;
    Ok(Zeroizing::new(pin.as_bytes().to_vec()))
}

/// Password shares from files (each holding one share as printed), or `threshold` of them asked on the
/// terminal: the prime once, then each share's ID and value (the value without echo).
pub fn password_shares(files: &[PathBuf], threshold: Option<u8>) -> Result<Vec<PasswordShare>, Error> {
    if !files.is_empty() {
        if let Some(t) = threshold
            && files.len() < usize::from(t)
        {
            return Err(Error::Input(format!(
                "{} password share files given, {t} needed",
                files.len()
            )));
        }
        return files
            .iter()
            .map(|f| {
                let text = Zeroizing::new(
                    std::fs::read_to_string(f)
                        .map_err(|e| Error::Input(format!("cannot read {}: {e}", f.display())))?,
                );
                PasswordShare::parse(&text).map_err(|e| Error::Input(format!("{}: {e}", f.display())))
            })
            .collect();
    }
    let t = threshold.ok_or_else(|| Error::Input("how many password shares? give --pwd-shares-threshold".into()))?;
    if !std::io::stdin().is_terminal() {
        return Err(Error::Input(
            "password shares are asked on a terminal; without one, give each in a --password-share-file".into(),
        ));
    }
    eprintln!(
        "Decrypting the DKEK share needs {t} key custodians to present their password shares. The prime \
         is entered once; then each custodian enters the share ID and the share value."
    );
    let prime = shamir::parse_hex(&ask_line("Prime: ")?).map_err(|e| Error::Input(e.to_string()))?;
    let mut shares = Vec::new();
    for i in 1..=t {
        eprintln!("\nShare {i} of {t}");
        let id = shamir::parse_id(&ask_line("Share ID: ")?).map_err(|e| Error::Input(e.to_string()))?;
        let value =
            shamir::parse_hex(&prompt_hidden("Share value (not shown): ")?).map_err(|e| Error::Input(e.to_string()))?;
        shares.push(PasswordShare { prime, id, value });
    }
    Ok(shares)
}

fn ask_line(prompt: &str) -> Result<Zeroizing<String>, Error> {
    eprint!("{prompt}");
    std::io::stderr().flush().ok();
    let mut line = Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::Input(format!("cannot read from the terminal: {e}")))?;
    Ok(Zeroizing::new(line.trim().to_string()))
}

/// Asks `question` on the terminal and returns whether the answer is "yes". Without a terminal: an
/// error that names `flag` (the option that answers yes in advance).
pub fn confirm(question: &str, flag: &str) -> Result<bool, Error> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::Input(format!(
            "{question}\nno terminal to confirm on: give {flag} to go ahead"
        )));
    }
    let answer = ask_line(&format!("{question} Type \"yes\" to go ahead: "))?;
    Ok(answer.eq_ignore_ascii_case("yes"))
}

/// A new PIN: `given` (from --pin / --pin-file), or asked twice on the terminal.
pub fn new_pin(given: Option<Zeroizing<Vec<u8>>>, what: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    if let Some(p) = given {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::Input(format!(
            "no terminal to ask for the {what}: give --pin-file PATH (or --pin PIN)"
        )));
    }
    let a = prompt_hidden(&format!("New {what}: "))?;
    if *prompt_hidden(&format!("Same {what} again: "))? != *a {
        return Err(Error::Input(format!("the two {what}s differ")));
    }
    Ok(Zeroizing::new(a.as_bytes().to_vec()))
}

/// Waits for Enter on the terminal.
pub fn wait_for_enter(prompt: &str) -> Result<(), Error> {
    ask_line(prompt).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_drops_the_line_end_and_rejects_empty() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "secret pass\r\nsecond line\n").unwrap();
        assert_eq!(first_line(&f, "the password").unwrap().as_str(), "secret pass");
        std::fs::write(&f, "\nx").unwrap();
        assert!(first_line(&f, "the password").is_err());
        std::fs::write(&f, "short\n").unwrap();
        assert!(new_password(Some(&f)).is_err());
        assert_eq!(&existing_password(Some(&f)).unwrap()[..], b"short");
    }
}
