//! Command APDU parsing (ISO 7816-4 §5.1).

use crate::Status;

/// A parsed command APDU borrowing its bytes. Short and extended Lc/Le (ISO 7816-4 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandView<'a> {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (Nc bytes).
    pub data: &'a [u8],
    /// Ne: expected response length; 0 when Le is absent; 256 for short Le=00; 65536 for extended Le=0000
    pub ne: usize,
    /// Whether the APDU used extended length fields.
    pub extended: bool,
}

impl<'a> CommandView<'a> {
    /// Parses one command APDU.
    pub fn parse(apdu: &'a [u8]) -> Result<Self, Status> {
        let (&[cla, ins, p1, p2], body) = apdu.split_first_chunk::<4>().ok_or(Status::WrongLength)?;
        let (data, ne, extended) = match *body {
            [] => (&body[..0], 0, false),
            _ => return Err(Status::WrongLength),
        };
        Ok(CommandView { cla, ins, p1, p2, data, ne, extended })
    }

    /// Whether CLA bit 0x10 (command chaining, "more follows") is set.
    pub fn is_chained(&self) -> bool {
        self.cla & 0x10 != 0
    }
}
