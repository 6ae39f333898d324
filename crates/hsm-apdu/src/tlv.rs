//! BER-TLV data objects as used in SmartCard-HSM command and response data (ISO 7816-4 §5.2,
//! ISO 8825-1 §8.1): one- and two-byte tags held as `u16` (`0x80`, `0x5F20`, `0x7F49`), definite lengths.
//! The upstream counterpart is `pico-keys-sdk` `src/asn1.c` (`walk_tlv`, `asn1_find_tag`, `format_tlv_len`).
//!
//! Reading:
//! * A tag is one byte, or two when the low five bits of the first are all set (`1F`), as in `walk_tlv`.
//!   A second tag byte with bit 8 set announces a third tag byte, which does not fit a `u16`: malformed.
//! * A length is `xx` (< 80), `81 xx`, `82 xx xx` or `83 xx xx xx`. The indefinite form `80` and longer
//!   forms are malformed (`walk_tlv` would take `80` and `83`..`FF` as literal lengths).
//! * **Padding is not skipped.** ISO 7816-4 §5.2 allows `00`/`FF` between objects, but `walk_tlv` and
//!   `asn1_find_tag` read every byte as the start of an object, and the SmartCard-HSM command data never
//!   contains padding. So `00` and `FF` are read as tags like any other: `00 00` is an empty object with
//!   tag 0, and `FF` starts a two-byte tag.
//! * A value running past the end of the data is malformed. Upstream does not check this; here every
//!   malformed object gives one `Err(WrongLength)` (6700), after which the reader stops.
//!
//! Writing always uses the minimal length form (`format_tlv_len`).

use crate::{Full, Reply, Status};

/// One BER-TLV data object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag: one byte (`0x80`) or two (`0x5F20`, `0x7F49`).
    pub tag: u16,
    /// The value field.
    pub value: &'a [u8],
}

/// Iterator over a sequence of top-level data objects. A malformed object yields
/// `Some(Err(Status::WrongLength))`, then the iterator ends.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Tlv<'a>, Status>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.data.is_empty() {
            return None;
        }
        match split_object(self.data) {
            Some((tlv, rest)) => {
                self.data = rest;
                Some(Ok(tlv))
            }
            None => {
                self.data = &[];
                Some(Err(Status::WrongLength))
            }
        }
    }
}

/// Reads one object from the start of `data`; the object and what follows it (`None` when it is
/// malformed).
pub fn split_object(data: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&first, rest) = data.split_first()?;
    let (tag, rest) = if first & 0x1F == 0x1F {
        let (&second, rest) = rest.split_first()?;
        if second & 0x80 != 0 {
            return None;
        }
        (u16::from_be_bytes([first, second]), rest)
    } else {
        (u16::from(first), rest)
    };
    let (&len0, rest) = rest.split_first()?;
    let (len, rest) = match len0 {
        0x00..=0x7F => (usize::from(len0), rest),
        0x81..=0x83 => {
            let count = usize::from(len0 & 0x0F);
            let (bytes, rest) = rest.split_at_checked(count)?;
            let len = bytes.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            (len, rest)
        }
        _ => return None,
    };
    let (value, rest) = rest.split_at_checked(len)?;
    Some((Tlv { tag, value }, rest))
}

/// The value of the first top-level object with `tag`, or `None` when there is none. A malformed object
/// before the match is an error; anything after it is not examined.
pub fn find(data: &[u8], tag: u16) -> Result<Option<&[u8]>, Status> {
    for tlv in Reader::new(data) {
        let tlv = tlv?;
        if tlv.tag == tag {
            return Ok(Some(tlv.value));
        }
    }
    Ok(None)
}

/// Encodes the tag (one byte when `tag <= 0xFF`, else two) and the length in minimal BER form into `out`;
/// returns the encoded part. Lengths of 2^24 and more use the `84` form; lengths beyond `u32::MAX` (which
/// no buffer on the targets can have) are written as `u32::MAX`.
pub fn header(tag: u16, len: usize, out: &mut [u8; 7]) -> &[u8] {
    let [hi, lo] = tag.to_be_bytes();
    let mut n = 0;
    let mut put = |b: u8| {
        if let Some(slot) = out.get_mut(n) {
            *slot = b;
            n += 1;
        }
    };
    if hi != 0 {
        put(hi);
    }
    put(lo);
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    let bytes = len.to_be_bytes();
    let significant = match len {
        0..=0x7F => 0,
        0x80..=0xFF => 1,
        0x100..=0xFFFF => 2,
        0x1_0000..=0xFF_FFFF => 3,
        _ => 4,
    };
    if significant == 0 {
        put(len as u8);
    } else {
        put(0x80 | significant as u8);
        for &b in bytes.iter().skip(4 - significant) {
            put(b);
        }
    }
    out.get(..n).unwrap_or_default()
}

/// Appends one object to `reply`; when it does not fit nothing is written.
pub fn write(reply: &mut Reply<'_>, tag: u16, value: &[u8]) -> Result<(), Full> {
    let mut buf = [0u8; 7];
    let head = header(tag, value.len(), &mut buf);
    if head.len().saturating_add(value.len()) > reply.remaining() {
        return Err(Full);
    }
    reply.extend(head)?;
    reply.extend(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    extern crate std;

    fn enc(tag: u16, len: usize) -> std::vec::Vec<u8> {
        let mut out = [0u8; 7];
        header(tag, len, &mut out).to_vec()
    }

    #[test]
    fn header_minimal_lengths() {
        assert_eq!(enc(0x80, 0), [0x80, 0x00]);
        assert_eq!(enc(0x80, 0x7F), [0x80, 0x7F]);
        assert_eq!(enc(0x80, 0x80), [0x80, 0x81, 0x80]);
        assert_eq!(enc(0x80, 0xFF), [0x80, 0x81, 0xFF]);
        assert_eq!(enc(0x7F49, 0x100), [0x7F, 0x49, 0x82, 0x01, 0x00]);
        assert_eq!(enc(0x5F20, 0xFFFF), [0x5F, 0x20, 0x82, 0xFF, 0xFF]);
        assert_eq!(enc(0x5F20, 0x10000), [0x5F, 0x20, 0x83, 0x01, 0x00, 0x00]);
        assert_eq!(enc(0x7F21, 0x0100_0000), [0x7F, 0x21, 0x84, 0x01, 0x00, 0x00, 0x00]);
        assert_eq!(enc(0x00, 1), [0x00, 0x01]);
    }

    #[test]
    fn read_sequence() {
        let data = [
            0x80, 0x01, 0xAA, 0x7F, 0x49, 0x81, 0x02, 1, 2, 0x5F, 0x20, 0x82, 0x00, 0x01, 9,
        ];
        let mut r = Reader::new(&data);
        assert_eq!(
            r.next(),
            Some(Ok(Tlv {
                tag: 0x80,
                value: &[0xAA]
            }))
        );
        assert_eq!(
            r.next(),
            Some(Ok(Tlv {
                tag: 0x7F49,
                value: &[1, 2]
            }))
        );
        assert_eq!(
            r.next(),
            Some(Ok(Tlv {
                tag: 0x5F20,
                value: &[9]
            }))
        );
        assert_eq!(r.next(), None);
    }

    #[test]
    fn three_byte_length_accepted_when_it_fits() {
        assert_eq!(find(&[0x81, 0x83, 0, 0, 2, 7, 8], 0x81), Ok(Some(&[7u8, 8][..])));
        assert_eq!(find(&[0x81, 0x83, 0, 0, 3, 7, 8], 0x81), Err(Status::WrongLength));
    }

    #[test]
    fn padding_bytes_are_tags() {
        let mut r = Reader::new(&[0x00, 0x00, 0xFF, 0x01, 0x01, 0x05]);
        assert_eq!(r.next(), Some(Ok(Tlv { tag: 0x00, value: &[] })));
        // FF has the low five bits set, so it starts a two-byte tag.
        assert_eq!(
            r.next(),
            Some(Ok(Tlv {
                tag: 0xFF01,
                value: &[5]
            }))
        );
        assert_eq!(r.next(), None);
        // A lone padding byte is a truncated object.
        assert_eq!(Reader::new(&[0x80, 0x00, 0x00]).nth(1), Some(Err(Status::WrongLength)));
    }

    #[test]
    fn malformed_objects() {
        let bad: &[&[u8]] = &[
            &[0x80],                   // no length
            &[0x80, 0x02, 1],          // value truncated
            &[0x7F],                   // two-byte tag truncated
            &[0x7F, 0x81, 0x01, 0x00], // three-byte tag
            &[0x80, 0x80],             // indefinite length
            &[0x80, 0x84, 0, 0, 0, 1, 0],
            &[0x80, 0x81],       // long length truncated
            &[0x80, 0x82, 0x00], // long length truncated
            &[0x80, 0x81, 0x05, 1],
        ];
        for data in bad {
            let mut r = Reader::new(data);
            assert_eq!(r.next(), Some(Err(Status::WrongLength)), "{data:02X?}");
            assert_eq!(r.next(), None);
        }
    }

    #[test]
    fn find_first_top_level_match() {
        let data = [0xA0, 0x03, 0x80, 0x01, 0x01, 0x80, 0x01, 0x02, 0x80, 0x01, 0x03];
        assert_eq!(find(&data, 0x80), Ok(Some(&[2u8][..])));
        assert_eq!(find(&data, 0x81), Ok(None));
        // Malformed before the match is an error; after it, not examined.
        assert_eq!(find(&[0x81, 0x05, 0x80, 0x01, 0x02], 0x80), Err(Status::WrongLength));
        assert_eq!(find(&[0x80, 0x01, 0x02, 0x81, 0x05], 0x80), Ok(Some(&[2u8][..])));
        assert_eq!(find(&[], 0x80), Ok(None));
    }

    #[test]
    fn write_is_all_or_nothing() {
        let mut buf = [0u8; 5];
        let mut reply = Reply::new(&mut buf);
        write(&mut reply, 0x80, &[1, 2]).unwrap();
        assert_eq!(write(&mut reply, 0x81, &[3]), Err(Full));
        assert_eq!(reply.as_slice(), &[0x80, 0x02, 1, 2]);
        assert_eq!(write(&mut reply, 0x81, &[]), Err(Full));
        reply.push(0).unwrap();
        assert_eq!(reply.remaining(), 0);
    }
}
