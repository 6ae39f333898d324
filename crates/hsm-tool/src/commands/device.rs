//! `options`, `secure-lock`, `rtc`, `reboot`: EXTRAS (80 64) and the rescue applet.

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::Error;
use crate::admin::{self, LockOp, option};
use crate::card::{Client, Transport};

// ---------------------------------------------------------------------------------------------
// options

/// The options as JSON: the value, the names of the bits set, and the three switchable ones.
pub fn options_json(opts: u16) -> Value {
    json!({
        "value": opts,
        "set": option::names(opts),
        "press_to_confirm": opts & option::PRESS_TO_CONFIRM != 0,
        "key_counter_all": opts & option::KEY_COUNTER_ALL != 0,
        "secure_lock": opts & option::SECURE_LOCK != 0,
    })
}

fn print_options(opts: u16, as_json: bool) {
    if as_json {
        println!("{:#}", options_json(opts));
        return;
    }
    let words = option::words(opts);
    println!(
        "Options              : {opts:04X}{}",
        if words.is_empty() {
            String::new()
        } else {
            format!(" ({})", words.join(", "))
        }
    );
    let on = |b: u16| if opts & b != 0 { "on" } else { "off" };
    println!("press-to-confirm     : {}", on(option::PRESS_TO_CONFIRM));
    println!("key-counter-all      : {}", on(option::KEY_COUNTER_ALL));
    println!("secure-lock          : {}", on(option::SECURE_LOCK));
}

/// `options get`: EXTRAS 06 (needs the user PIN).
pub fn options_get<T: Transport>(c: &mut Client<T>, as_json: bool) -> Result<(), Error> {
    print_options(admin::options_get(c)?, as_json);
    Ok(())
}

/// `options set`: reads the options, changes the named bits of the high byte, writes it back and
/// shows what the card reports afterwards.
pub fn options_set<T: Transport>(
    c: &mut Client<T>,
    press_to_confirm: Option<bool>,
    key_counter_all: Option<bool>,
    as_json: bool,
) -> Result<(), Error> {
    let before = admin::options_get(c)?;
    let mut new = before & !option::SECURE_LOCK;
    for (want, bit) in [
        (press_to_confirm, option::PRESS_TO_CONFIRM),
        (key_counter_all, option::KEY_COUNTER_ALL),
    ] {
        match want {
            Some(true) => new |= bit,
            Some(false) => new &= !bit,
            None => {}
        }
    }
    let [hi, _] = new.to_be_bytes();
    admin::options_set(c, hi)?;
    let after = admin::options_get(c)?;
    if after & !option::SECURE_LOCK != new {
        return Err(Error::Input(format!(
            "the card reports options {after:04X} after writing {new:04X}"
        )));
    }
    print_options(after, as_json);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// secure lock

/// Length of the host secret.
pub const SECRET_LEN: usize = 32;

/// Creates `path` (mode 0600, never over an existing file) holding a fresh secret as 64 hex digits.
pub fn create_secret_file(path: &Path) -> Result<Zeroizing<[u8; SECRET_LEN]>, Error> {
    let mut secret = Zeroizing::new([0u8; SECRET_LEN]);
    getrandom::fill(&mut secret[..]).map_err(|e| Error::Input(format!("no randomness from the OS: {e}")))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Input(format!(
                "{} exists: refusing to overwrite a secure-lock secret (it may be the one a device is \
                 locked with); choose another file",
                path.display()
            ))
        } else {
            Error::Input(format!("cannot create {}: {e}", path.display()))
        }
    })?;
    let text = Zeroizing::new(format!("{}\n", hex::encode(&secret[..])));
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::Input(format!("cannot write {}: {e}", path.display())))?;
    Ok(secret)
}

/// Reads a secret written by [`create_secret_file`]: 64 hex digits on the first line.
pub fn read_secret_file(path: &Path) -> Result<Zeroizing<[u8; SECRET_LEN]>, Error> {
    let line = crate::input::first_line(path, "the secure-lock secret")?;
    let mut secret = Zeroizing::new([0u8; SECRET_LEN]);
    hex::decode_to_slice(line.trim(), &mut secret[..]).map_err(|_| {
        Error::Input(format!(
            "{}: not a secure-lock secret (expected 64 hex digits on the first line)",
            path.display()
        ))
    })?;
    Ok(secret)
}

/// `secure-lock enable|unlock|disable` with `secret`, in a session where the user PIN was verified.
pub fn secure_lock<T: Transport>(c: &mut Client<T>, op: LockOp, secret: &[u8; SECRET_LEN]) -> Result<(), Error> {
    admin::secure_lock(c, op, secret).map_err(|e| match (op, e.sw()) {
        (LockOp::Enable, Some(0x6985)) => Error::Input(format!(
            "{e}: this device was initialized before the secure lock existed; re-initialize it first"
        )),
        (LockOp::Enable, Some(0x6982)) => {
            Error::Input(format!("{e}: the secure lock is already on with another secret"))
        }
        (_, Some(0x6982)) => Error::Input(format!(
            "{e}: wrong secret (this is not the file the lock was enabled with)"
        )),
        _ => e.into(),
    })
}

// ---------------------------------------------------------------------------------------------
// rtc

// The calendar arithmetic is the card's own (the rescue applet's clock).
use hsm_card::{civil_from_days, days_from_civil};

/// `YYYY-MM-DDTHH:MM:SSZ` of Unix seconds.
pub fn utc_string(secs: u32) -> String {
    let secs = i64::from(secs);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", t / 3600, t / 60 % 60, t % 60)
}

/// Unix seconds of `YYYY-MM-DDTHH:MM:SS[Z]` (UTC; a space for the T is fine) or of a plain number.
pub fn parse_time(s: &str) -> Result<u32, Error> {
    let bad = || {
        Error::Input(format!(
            "{s:?} is not a time: give Unix seconds or YYYY-MM-DDTHH:MM:SSZ (UTC), 1970 to 2106"
        ))
    };
    let s = s.trim();
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map_err(|_| bad());
    }
    let t = s.strip_suffix('Z').unwrap_or(s).replace(' ', "T");
    let (date, time) = t.split_once('T').ok_or_else(bad)?;
    let num = |x: &str| x.parse::<u32>().map_err(|_| bad());
    let dp: Vec<&str> = date.split('-').collect();
    let tp: Vec<&str> = time.split(':').collect();
    let ([y, mo, d], [h, mi, se]) = (dp.as_slice(), tp.as_slice()) else {
        return Err(bad());
    };
    let (y, mo, d, h, mi, se) = (num(y)?, num(mo)?, num(d)?, num(h)?, num(mi)?, num(se)?);
    if !(1..=12).contains(&mo) || d == 0 || d > 31 || h > 23 || mi > 59 || se > 59 {
        return Err(bad());
    }
    let days = days_from_civil(i64::from(y), mo, d);
    // Reject dates like 02-30 that roll over.
    if civil_from_days(days) != (i64::from(y), mo, d) {
        return Err(bad());
    }
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + se);
    u32::try_from(secs).map_err(|_| bad())
}

/// The host clock, Unix seconds.
pub fn host_time() -> Result<u32, Error> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| Error::Input("the host clock is before 1970".into()))?
        .as_secs();
    u32::try_from(secs).map_err(|_| Error::Input("the host clock is after 2106".into()))
}

pub fn rtc_json(t: Option<u32>) -> Value {
    json!({
        "set": t.is_some(),
        "unix": t,
        "utc": t.map(utc_string),
    })
}

/// `rtc get`.
pub fn rtc_get<T: Transport>(c: &mut Client<T>, as_json: bool) -> Result<(), Error> {
    let t = admin::rtc_get(c)?;
    if as_json {
        println!("{:#}", rtc_json(t));
    } else {
        match t {
            Some(t) => println!("{} (Unix time {t})", utc_string(t)),
            None => println!("not set (the clock starts when it is set, and stops at every power cut)"),
        }
    }
    Ok(())
}

/// `rtc set`: `time` or the host clock.
pub fn rtc_set<T: Transport>(c: &mut Client<T>, time: Option<u32>) -> Result<(), Error> {
    let t = match time {
        Some(t) => t,
        None => host_time()?,
    };
    admin::rtc_set(c, t)?;
    println!("clock set to {} (Unix time {t})", utc_string(t));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_round_trips() {
        assert_eq!(utc_string(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_string(0x65E11A7E), "2024-02-29T23:59:58Z");
        assert_eq!(parse_time("2024-02-29T23:59:58Z").unwrap(), 0x65E11A7E);
        assert_eq!(parse_time("2024-03-01 00:00:00").unwrap(), 0x65E11A7E + 2);
        assert_eq!(utc_string(u32::MAX), "2106-02-07T06:28:15Z");
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000);
        for t in [0u32, 951_782_400, 4_107_542_399, u32::MAX] {
            assert_eq!(parse_time(&utc_string(t)).unwrap(), t, "{}", utc_string(t));
        }
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00",
            "1969-12-31T23:59:59Z",
            "noon",
            "2106-12-31T00:00:00Z",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secret_file_is_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("lock.secret");
        let s = create_secret_file(&f).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(*read_secret_file(&f).unwrap(), *s);
        assert!(create_secret_file(&f).is_err());
        assert_eq!(*read_secret_file(&f).unwrap(), *s, "unchanged");
        std::fs::write(&f, "abcd\n").unwrap();
        assert!(read_secret_file(&f).is_err());
    }
}
