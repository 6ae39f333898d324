//! ISO 7816-4 status words, with the SmartCard-HSM / Pico HSM usage of each.

/// A status word other than plain success, or success itself.
///
/// The names follow ISO 7816-4 §5.1.3; the hex code is in each doc comment. The Pico HSM maps both
/// "wrong length" and "wrong data" to 6700 (reference §2), so there is a single [`Status::WrongLength`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Status {
    /// 9000
    Success,
    /// 61xx: `xx` more bytes available through GET RESPONSE (00 = 256 or more).
    MoreAvailable(u8),
    /// 6282: end of file reached before reading (READ BINARY offset beyond the end).
    EndOfFile,
    /// 63Cx: verification failed, `x` retries left (0..=15).
    RemainingRetries(u8),
    /// 6400: execution error (internal failure, key could not be loaded).
    ExecutionError,
    /// 6581: memory failure (flash write failed).
    MemoryFailure,
    /// 6600: security-related issue (used upstream for "button confirmation failed").
    SecurityIssue,
    /// 6700: wrong length, and upstream's "wrong data".
    WrongLength,
    /// 6883: last command of the chain expected.
    LastCommandOfChainExpected,
    /// 6982: security status not satisfied.
    SecurityStatusNotSatisfied,
    /// 6983: authentication method blocked.
    AuthenticationMethodBlocked,
    /// 6984: reference data not usable / data invalid.
    DataInvalid,
    /// 6985: conditions of use not satisfied.
    ConditionsNotSatisfied,
    /// 6986: command not allowed.
    CommandNotAllowed,
    /// 6A80: incorrect parameters in the command data field.
    IncorrectData,
    /// 6A81: function not supported.
    FunctionNotSupported,
    /// 6A82: file or application not found.
    FileNotFound,
    /// 6A84: not enough memory space in the file.
    NotEnoughMemory,
    /// 6A86: incorrect parameters P1-P2.
    IncorrectP1P2,
    /// 6A88: referenced data or reference data not found.
    ReferenceNotFound,
    /// 6A89: file already exists.
    FileExists,
    /// 6B00: wrong parameters P1-P2.
    WrongP1P2,
    /// 6D00: instruction code not supported or invalid.
    InstructionNotSupported,
    /// 6E00: class not supported.
    ClassNotSupported,
    /// 6F00: no precise diagnosis.
    UnknownError,
    /// Any other status word, kept as is.
    Other(u16),
}

impl Status {
    /// The two status bytes as a big-endian `u16`.
    pub const fn to_u16(self) -> u16 {
        match self {
            Status::Success => 0x9000,
            Status::MoreAvailable(n) => 0x6100 | n as u16,
            Status::EndOfFile => 0x6282,
            Status::RemainingRetries(n) => 0x63C0 | (n & 0x0F) as u16,
            Status::ExecutionError => 0x6400,
            Status::MemoryFailure => 0x6581,
            Status::SecurityIssue => 0x6600,
            Status::WrongLength => 0x6700,
            Status::LastCommandOfChainExpected => 0x6883,
            Status::SecurityStatusNotSatisfied => 0x6982,
            Status::AuthenticationMethodBlocked => 0x6983,
            Status::DataInvalid => 0x6984,
            Status::ConditionsNotSatisfied => 0x6985,
            Status::CommandNotAllowed => 0x6986,
            Status::IncorrectData => 0x6A80,
            Status::FunctionNotSupported => 0x6A81,
            Status::FileNotFound => 0x6A82,
            Status::NotEnoughMemory => 0x6A84,
            Status::IncorrectP1P2 => 0x6A86,
            Status::ReferenceNotFound => 0x6A88,
            Status::FileExists => 0x6A89,
            Status::WrongP1P2 => 0x6B00,
            Status::InstructionNotSupported => 0x6D00,
            Status::ClassNotSupported => 0x6E00,
            Status::UnknownError => 0x6F00,
            Status::Other(sw) => sw,
        }
    }

    /// The status for a big-endian status word; unknown words become [`Status::Other`].
    pub const fn from_u16(sw: u16) -> Self {
        match sw {
            0x9000 => Status::Success,
            0x6282 => Status::EndOfFile,
            0x6400 => Status::ExecutionError,
            0x6581 => Status::MemoryFailure,
            0x6600 => Status::SecurityIssue,
            0x6700 => Status::WrongLength,
            0x6883 => Status::LastCommandOfChainExpected,
            0x6982 => Status::SecurityStatusNotSatisfied,
            0x6983 => Status::AuthenticationMethodBlocked,
            0x6984 => Status::DataInvalid,
            0x6985 => Status::ConditionsNotSatisfied,
            0x6986 => Status::CommandNotAllowed,
            0x6A80 => Status::IncorrectData,
            0x6A81 => Status::FunctionNotSupported,
            0x6A82 => Status::FileNotFound,
            0x6A84 => Status::NotEnoughMemory,
            0x6A86 => Status::IncorrectP1P2,
            0x6A88 => Status::ReferenceNotFound,
            0x6A89 => Status::FileExists,
            0x6B00 => Status::WrongP1P2,
            0x6D00 => Status::InstructionNotSupported,
            0x6E00 => Status::ClassNotSupported,
            0x6F00 => Status::UnknownError,
            _ if sw & 0xFF00 == 0x6100 => Status::MoreAvailable(sw as u8),
            _ if sw & 0xFFF0 == 0x63C0 => Status::RemainingRetries((sw & 0x0F) as u8),
            _ => Status::Other(sw),
        }
    }

    /// The two status bytes, SW1 first.
    pub const fn to_bytes(self) -> [u8; 2] {
        self.to_u16().to_be_bytes()
    }
}

impl From<Status> for u16 {
    fn from(s: Status) -> u16 {
        s.to_u16()
    }
}

impl core::fmt::Display for Status {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:04X}", self.to_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_word() {
        for sw in 0u16..=0xFFFF {
            assert_eq!(Status::from_u16(sw).to_u16(), sw);
        }
    }
}
