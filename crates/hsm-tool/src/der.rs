//! Just enough DER/BER-TLV for the backup files: splitting objects off a byte string with their raw
//! encoding (tags of any length, definite lengths up to four bytes), and writing one object.

/// One object read from the front of a byte string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Object<'a> {
    /// The tag bytes as one number (`0x30`, `0x67`, `0x7F21`).
    pub tag: u32,
    /// Bit 6 of the first tag byte.
    pub constructed: bool,
    /// The value field.
    pub value: &'a [u8],
    /// The whole encoding: tag, length and value.
    pub raw: &'a [u8],
}

/// Reads one object from the front of `data`; the object and the bytes after it. `None` when `data`
/// does not start with a well-formed object (indefinite lengths included).
pub fn split(data: &[u8]) -> Option<(Object<'_>, &[u8])> {
    let first = *data.first()?;
    let mut pos = 1;
    let mut tag = u32::from(first);
    if first & 0x1F == 0x1F {
        loop {
            let b = *data.get(pos)?;
            pos += 1;
            if tag > 0x00FF_FFFF {
                return None;
            }
            tag = (tag << 8) | u32::from(b);
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let len0 = *data.get(pos)?;
    pos += 1;
    let len = match len0 {
        0x00..=0x7F => usize::from(len0),
        0x81..=0x84 => {
            let n = usize::from(len0 & 0x7F);
            let bytes = data.get(pos..pos + n)?;
            pos += n;
            bytes.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b))
        }
        _ => return None,
    };
    let end = pos.checked_add(len)?;
    let value = data.get(pos..end)?;
    Some((
        Object {
            tag,
            constructed: first & 0x20 != 0,
            value,
            raw: &data[..end],
        },
        &data[end..],
    ))
}

/// The objects of `data` one after the other; `None` if any is malformed.
pub fn children(data: &[u8]) -> Option<Vec<Object<'_>>> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (o, r) = split(rest)?;
        out.push(o);
        rest = r;
    }
    Some(out)
}

/// A one-byte-tag object with a minimal definite length (what OpenSC's `sc_asn1_put_tag` writes).
pub fn encode(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(value.len() + 6);
    v.push(tag);
    let len = value.len();
    match len {
        0..=0x7F => v.push(len as u8),
        0x80..=0xFF => v.extend_from_slice(&[0x81, len as u8]),
        0x100..=0xFFFF => v.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
        0x1_0000..=0xFF_FFFF => v.extend_from_slice(&[0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]),
        _ => {
            v.push(0x84);
            v.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
        }
    }
    v.extend_from_slice(value);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_long_tags() {
        for len in [0usize, 1, 127, 128, 255, 256, 65535, 65536] {
            let value = vec![0xAB; len];
            let enc = encode(0x04, &value);
            let (o, rest) = split(&enc).unwrap();
            assert!(rest.is_empty());
            assert_eq!((o.tag, o.value.len(), o.raw.len()), (0x04, len, enc.len()));
        }
        assert_eq!(&encode(0x30, &[0; 200])[..3], &[0x30, 0x81, 200]);
        let cvc = hex::decode("7F2103AABBCC01").unwrap();
        let (o, rest) = split(&cvc).unwrap();
        assert_eq!(
            (o.tag, o.constructed, o.value, rest),
            (0x7F21, true, &[0xAA, 0xBB, 0xCC][..], &[1u8][..])
        );
        assert!(split(&[0x30, 0x80, 0, 0]).is_none(), "indefinite length");
        assert!(split(&[0x30, 0x05, 1, 2]).is_none(), "value past the end");
        assert!(split(&[]).is_none());
        assert_eq!(children(&hex::decode("04000500").unwrap()).unwrap().len(), 2);
        assert!(children(&[0x04, 0x01]).is_none());
    }
}
