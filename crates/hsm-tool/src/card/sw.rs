//! Status words in words, for error messages (reference §2, "Status words used").

use std::borrow::Cow;

/// What a status word means to someone running the tool: the ISO 7816-4 meaning, then in brackets
/// what the Pico HSM / SmartCard-HSM uses it for and what to do about it.
pub fn describe(sw: u16) -> Cow<'static, str> {
    let words = match sw {
        0x9000 => "success",
        0x6282 => "end of file reached before reading (offset beyond the end of the file)",
        0x6400 => "execution error (the card failed internally; also: a key could not be loaded without a PIN login)",
        0x6581 => "memory failure (flash write failed)",
        0x6600 => "security-related issue (button confirmation timed out or was cancelled)",
        0x6700 => "wrong length or wrong data",
        0x6883 => "last command of a chain expected",
        0x6982 => "security status not satisfied (log in with --pin)",
        0x6983 => "authentication method blocked (the PIN is blocked)",
        0x6984 => "reference data not usable (transport PIN still active, or invalid data)",
        0x6985 => "conditions of use not satisfied (for example: the command needs a PIN login, see --pin)",
        0x6986 => "command not allowed (for example: all DKEK shares of the domain are already imported)",
        0x6A80 => "incorrect parameters in the command data",
        0x6A81 => "function not supported",
        0x6A82 => "file or application not found",
        0x6A84 => "not enough memory space",
        0x6A86 => "incorrect parameters P1-P2",
        0x6A88 => "referenced data not found (PIN not set, key domain not set up, or no DKEK)",
        0x6A89 => "file already exists (for example: the key domain still holds keys)",
        0x6B00 => "wrong parameters P1-P2",
        0x6D00 => "instruction not supported (this card or firmware does not implement the command)",
        0x6E00 => "class not supported",
        0x6F00 => "no precise diagnosis",
        _ if sw & 0xFFF0 == 0x63C0 => {
            return Cow::Owned(format!("wrong PIN, {} tries left", sw & 0x000F));
        }
        _ if sw & 0xFF00 == 0x6100 => return Cow::Owned(format!("{} more bytes available", sw & 0x00FF)),
        _ if sw & 0xFF00 == 0x6C00 => return Cow::Owned(format!("wrong Le, {} bytes available", sw & 0x00FF)),
        _ => "unknown status word",
    };
    Cow::Borrowed(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_for_known_and_parametrised_status_words() {
        assert_eq!(describe(0x6982), "security status not satisfied (log in with --pin)");
        assert_eq!(describe(0x63C2), "wrong PIN, 2 tries left");
        assert_eq!(describe(0x6110), "16 more bytes available");
        assert_eq!(describe(0x6A88).split(' ').next(), Some("referenced"));
        assert_eq!(describe(0x1234), "unknown status word");
    }
}
