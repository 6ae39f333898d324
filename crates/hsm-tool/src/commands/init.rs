//! `init`: INITIALIZE DEVICE (80 50, reference §3.10) — wipes every key, certificate and data object
//! and sets the PINs, the options, the DKEK share count and public key authentication.

use crate::Error;
use crate::admin::{self, InitParams, option};
use crate::card::{Client, Transport};
use crate::hsm::{self, PinRef, PinStatus};

/// The SO-PIN sc-hsm-tool and the tests use by default: "57621880".
pub const DEFAULT_SO_PIN: &str = "3537363231383830";

/// Parses `--options`: a comma-separated list of option names, `none`, or a hex value (`0x0101`).
pub fn parse_options(s: &str) -> Result<u16, Error> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("none") {
        return Ok(0);
    }
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return u16::from_str_radix(h, 16)
            .map_err(|_| Error::Input(format!("options {s:?}: not a hex value")))
            .and_then(check_settable);
    }
    let mut v = 0;
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let bit = option::ALL
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(b, _, _)| *b)
            .ok_or_else(|| {
                Error::Input(format!(
                    "unknown option {name:?}; known: {}",
                    option::ALL
                        .iter()
                        .filter(|(b, _, _)| *b != option::SECURE_LOCK)
                        .map(|(_, n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        v |= bit;
    }
    check_settable(v)
}

fn check_settable(v: u16) -> Result<u16, Error> {
    if v & option::SECURE_LOCK != 0 {
        return Err(Error::Input(
            "the secure lock is not an INITIALIZE option: use `secure-lock enable` afterwards".into(),
        ));
    }
    Ok(v)
}

/// Parses `--pka N-of-M`: N of M registered public keys needed to log in.
pub fn parse_pka(s: &str) -> Result<(u8, u8), Error> {
    let bad = || {
        Error::Input(format!(
            "--pka {s:?}: give N-of-M with 1 ≤ N ≤ M ≤ 8, for example 2-of-3"
        ))
    };
    let (n, m) = s.split_once("-of-").ok_or_else(bad)?;
    let (n, m): (u8, u8) = (
        n.trim().parse().map_err(|_| bad())?,
        m.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || n > m || m > 8 {
        return Err(bad());
    }
    Ok((n, m))
}

/// Parses the SO-PIN: 16 hex digits, the 8 bytes sc-hsm-tool sends.
pub fn parse_so_pin(s: &str) -> Result<zeroize::Zeroizing<Vec<u8>>, Error> {
    let s = s.trim();
    if s.len() != 16 {
        return Err(Error::Input(
            "the SO-PIN is 16 hex digits (8 bytes, as sc-hsm-tool takes it), for example 3537363231383830".into(),
        ));
    }
    hex::decode(s)
        .map(zeroize::Zeroizing::new)
        .map_err(|_| Error::Input("the SO-PIN is 16 hex digits".into()))
}

/// Whether the device holds a PIN already (it was initialized), to say what `init` wipes.
pub fn initialized<T: Transport>(c: &mut Client<T>) -> Result<bool, Error> {
    Ok(!matches!(hsm::pin_status(c, PinRef::So)?, PinStatus::NotSet))
}

/// INITIALIZE with `p`, then a summary. The caller has confirmed.
pub fn initialize<T: Transport>(c: &mut Client<T>, p: &InitParams<'_>) -> Result<(), Error> {
    admin::initialize(c, p).map_err(|e| match e.sw() {
        Some(0x6982) => Error::Input(format!(
            "{e}: the SO-PIN is not the device's (a device that has an SO-PIN is re-initialized only \
             with it), or the secure lock is on (disable it first)"
        )),
        Some(0x6983) => Error::Input(format!(
            "{e}: the SO-PIN is blocked; the device cannot be re-initialized"
        )),
        _ => e.into(),
    })?;
    // Re-select: INITIALIZE left this session logged in; read the result as a new session would.
    hsm::select(c)?;
    let id = hsm::device_id(c)?;
    println!("device initialized: id {}", id.as_deref().unwrap_or("(none)"));
    println!("options {:04X}, user PIN {} tries", p.options, p.retries);
    match p.dkek_shares {
        Some(0) => println!("DKEK: random, generated on the device (keys cannot be backed up)"),
        Some(n) => println!("DKEK: waiting for {n} share(s): `pico-hsm-tool dkek import-share FILE` for each"),
        None => println!("DKEK: none"),
    }
    if let Some((total, required)) = p.pka {
        println!(
            "public key authentication: {required} of {total} public keys needed to log in; register them \
             with PUK AUTH (80 54)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_lists() {
        assert_eq!(parse_options("none").unwrap(), 0);
        assert_eq!(parse_options("reset-retry-counter,press-to-confirm").unwrap(), 0x0101);
        assert_eq!(parse_options("0x0201").unwrap(), 0x0201);
        assert!(parse_options("secure-lock").is_err());
        assert!(parse_options("0x0400").is_err());
        assert!(
            parse_options("bogus")
                .unwrap_err()
                .to_string()
                .contains("key-counter-all")
        );
    }

    #[test]
    fn pka_and_so_pin() {
        assert_eq!(parse_pka("2-of-3").unwrap(), (2, 3));
        assert_eq!(parse_pka("1-of-1").unwrap(), (1, 1));
        for bad in ["3-of-2", "0-of-1", "1-of-9", "2of3", "a-of-b"] {
            assert!(parse_pka(bad).is_err(), "{bad}");
        }
        assert_eq!(&parse_so_pin(DEFAULT_SO_PIN).unwrap()[..], b"57621880");
        assert!(parse_so_pin("57621880").is_err());
        assert!(parse_so_pin("zz37363231383830").is_err());
    }
}
