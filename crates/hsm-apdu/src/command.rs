//! Command APDU parsing: the four ISO 7816-4 cases with short and extended Lc/Le (ISO 7816-4:2005 §5.1,
//! reference §2 "Lengths").
//!
//! The accepted encodings are listed on [`CommandView`].

use crate::Status;

/// A parsed command APDU borrowing its bytes. Short and extended Lc/Le (ISO 7816-4 §5.1).
///
/// | Bytes after the header                   | Case | Nc   | Ne                          |
/// |------------------------------------------|------|------|-----------------------------|
/// | (none)                                   | 1    | 0    | 0                           |
/// | `Le` (1 byte)                            | 2S   | 0    | Le, `00` = 256              |
/// | `Lc data` (Lc ≠ 00)                      | 3S   | Lc   | 0                           |
/// | `Lc data Le`                             | 4S   | Lc   | Le, `00` = 256              |
/// | `00 Le1 Le2`                             | 2E   | 0    | Le, `0000` = 65536          |
/// | `00 Lc1 Lc2 data` (Lc ≠ 0000)            | 3E   | Lc   | 0                           |
/// | `00 Lc1 Lc2 data Le1 Le2`                | 4E   | Lc   | Le, `0000` = 65536          |
///
/// Anything else (a short `Lc = 00`, an extended `Lc = 0000` followed by more bytes, a body whose length
/// does not match Lc) is malformed and gives 6700. Upstream `apdu_process` silently drops some of these or
/// reads them loosely; we answer with a status word instead (reference §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandView<'a> {
    /// Class byte. Bit 0x10 is command chaining (ISO 7816-4 §5.1.1.1).
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data field (Nc bytes; empty for cases 1 and 2).
    pub data: &'a [u8],
    /// Ne: expected response length; 0 when Le is absent; 256 for short Le=00; 65536 for extended Le=0000
    ///
    /// In a command handed to an [`Application`](crate::Application) by the [`ApduLayer`](crate::ApduLayer),
    /// a bare 4-byte APDU (case 1) has Ne = 256, as upstream `apdu_process` does.
    pub ne: usize,
    /// Whether the APDU used the extended length encoding.
    pub extended: bool,
}

impl<'a> CommandView<'a> {
    /// Parses one command APDU.
    ///
    /// Fewer than 4 bytes, or any length field inconsistent with the APDU size, gives
    /// [`Status::WrongLength`] (6700).
    pub fn parse(apdu: &'a [u8]) -> Result<Self, Status> {
        let (&[cla, ins, p1, p2], body) = apdu.split_first_chunk::<4>().ok_or(Status::WrongLength)?;
        let (data, ne, extended) = parse_body(body)?;
        Ok(CommandView {
            cla,
            ins,
            p1,
            p2,
            data,
            ne,
            extended,
        })
    }

    /// Whether CLA bit 0x10 ("command chaining, more commands follow", ISO 7816-4 §5.1.1.1) is set.
    pub fn is_chained(&self) -> bool {
        self.cla & 0x10 != 0
    }
}

/// Splits the body (everything after CLA INS P1 P2) into data, Ne and the extended flag.
fn parse_body(body: &[u8]) -> Result<(&[u8], usize, bool), Status> {
    match body {
        // Case 1.
        [] => Ok((&[], 0, false)),
        // Case 2S.
        [le] => Ok((&[], short_ne(*le), false)),
        // Extended forms: a leading 00 followed by at least two more bytes (ISO 7816-4 §5.1).
        [0, rest @ ..] if rest.len() >= 2 => parse_extended(rest),
        // Short Lc = 00 is not a valid encoding (extended Lc needs three bytes).
        [0, ..] => Err(Status::WrongLength),
        // Cases 3S and 4S.
        [lc, rest @ ..] => {
            let nc = usize::from(*lc);
            match rest.len().checked_sub(nc) {
                Some(0) => Ok((rest, 0, false)),
                Some(1) => {
                    let (data, le) = rest.split_at_checked(nc).ok_or(Status::WrongLength)?;
                    let le = le.first().copied().ok_or(Status::WrongLength)?;
                    Ok((data, short_ne(le), false))
                }
                _ => Err(Status::WrongLength),
            }
        }
    }
}

/// Parses the bytes after the leading 00 of an extended body.
fn parse_extended(rest: &[u8]) -> Result<(&[u8], usize, bool), Status> {
    let (&[hi, lo], tail) = rest.split_first_chunk::<2>().ok_or(Status::WrongLength)?;
    let field = usize::from(u16::from_be_bytes([hi, lo]));
    if tail.is_empty() {
        // Case 2E: the two bytes are Le.
        return Ok((&[], extended_ne(field), true));
    }
    // Cases 3E and 4E: the two bytes are Lc, which must not be 0000.
    if field == 0 {
        return Err(Status::WrongLength);
    }
    match tail.len().checked_sub(field) {
        Some(0) => Ok((tail, 0, true)),
        Some(2) => {
            let (data, le) = tail.split_at_checked(field).ok_or(Status::WrongLength)?;
            let &[le_hi, le_lo] = le else {
                return Err(Status::WrongLength);
            };
            Ok((data, extended_ne(usize::from(u16::from_be_bytes([le_hi, le_lo]))), true))
        }
        _ => Err(Status::WrongLength),
    }
}

/// Short Le: 00 means 256.
fn short_ne(le: u8) -> usize {
    if le == 0 { 256 } else { usize::from(le) }
}

/// Extended Le: 0000 means 65536.
fn extended_ne(le: usize) -> usize {
    if le == 0 { 65536 } else { le }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(bytes: &[u8]) -> Result<CommandView<'_>, Status> {
        CommandView::parse(bytes)
    }

    #[test]
    fn too_short() {
        for n in 0..4 {
            assert_eq!(p(&[0u8; 3][..n]), Err(Status::WrongLength));
        }
    }

    #[test]
    fn case1() {
        let c = p(&[0x80, 0x50, 1, 2]).unwrap();
        assert_eq!((c.cla, c.ins, c.p1, c.p2), (0x80, 0x50, 1, 2));
        assert_eq!((c.data, c.ne, c.extended), (&[][..], 0, false));
    }

    #[test]
    fn case2_short() {
        assert_eq!(p(&[0, 0x84, 0, 0, 8]).unwrap().ne, 8);
        let c = p(&[0, 0x84, 0, 0, 0]).unwrap();
        assert_eq!((c.data, c.ne, c.extended), (&[][..], 256, false));
    }

    #[test]
    fn case2_extended() {
        let c = p(&[0, 0xB0, 0, 0, 0, 0x01, 0x02]).unwrap();
        assert_eq!((c.data, c.ne, c.extended), (&[][..], 0x102, true));
        assert_eq!(p(&[0, 0xB0, 0, 0, 0, 0, 0]).unwrap().ne, 65536);
    }

    #[test]
    fn case3_short() {
        let c = p(&[0, 0x20, 0, 0x81, 3, 1, 2, 3]).unwrap();
        assert_eq!((c.data, c.ne, c.extended), (&[1, 2, 3][..], 0, false));
    }

    #[test]
    fn case3_extended() {
        let c = p(&[0, 0x20, 0, 0x81, 0, 0, 2, 9, 8]).unwrap();
        assert_eq!((c.data, c.ne, c.extended), (&[9, 8][..], 0, true));
    }

    #[test]
    fn case4_short() {
        let c = p(&[0, 0xA4, 4, 0, 2, 0xE8, 0x2B, 0]).unwrap();
        assert_eq!((c.data, c.ne, c.extended), (&[0xE8, 0x2B][..], 256, false));
        assert_eq!(p(&[0, 0xA4, 4, 0, 1, 0xE8, 0x10]).unwrap().ne, 16);
    }

    #[test]
    fn case4_extended() {
        let c = p(&[0x80, 0x68, 1, 2, 0, 0, 1, 0xAA, 0, 0]).unwrap();
        assert_eq!((c.data, c.ne, c.extended), (&[0xAA][..], 65536, true));
        assert_eq!(p(&[0x80, 0x68, 1, 2, 0, 0, 1, 0xAA, 0x01, 0x00]).unwrap().ne, 256);
    }

    #[test]
    fn long_short_lc_is_not_extended() {
        let mut apdu = [0u8; 5 + 255];
        apdu[4] = 255;
        let c = p(&apdu).unwrap();
        assert_eq!((c.data.len(), c.extended), (255, false));
    }

    #[test]
    fn wrong_lengths() {
        let bad: &[&[u8]] = &[
            &[0, 1, 2, 3, 0, 5],                // short Lc = 00
            &[0, 1, 2, 3, 2, 1],                // Lc says 2, only 1 byte
            &[0, 1, 2, 3, 1, 1, 2, 3],          // Lc 1 then two extra bytes
            &[0, 1, 2, 3, 0, 0, 0, 1],          // extended Lc = 0000 with data
            &[0, 1, 2, 3, 0, 0, 2, 1],          // extended Lc 2, 1 byte
            &[0, 1, 2, 3, 0, 0, 1, 1, 0],       // extended: one Le byte only
            &[0, 1, 2, 3, 0, 0, 1, 1, 0, 0, 0], // extended: three trailing bytes
        ];
        for apdu in bad {
            assert_eq!(p(apdu), Err(Status::WrongLength), "{apdu:02X?}");
        }
    }

    #[test]
    fn chaining_bit() {
        assert!(p(&[0x10, 0xDB, 0, 0]).unwrap().is_chained());
        assert!(p(&[0x90, 0xDB, 0, 0]).unwrap().is_chained());
        assert!(!p(&[0x80, 0xDB, 0, 0]).unwrap().is_chained());
    }
}
