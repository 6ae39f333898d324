//! BER-TLV reading and writing.

use crate::{Full, Reply, Status};

/// One TLV object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// Tag (1 or 2 bytes).
    pub tag: u16,
    /// Value bytes.
    pub value: &'a [u8],
}

/// Iterator over a TLV sequence.
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
        self.data = &[];
        Some(Err(Status::WrongLength))
    }
}

/// First top-level match.
pub fn find(data: &[u8], tag: u16) -> Result<Option<&[u8]>, Status> {
    for t in Reader::new(data) {
        let t = t?;
        if t.tag == tag {
            return Ok(Some(t.value));
        }
    }
    Ok(None)
}

/// Encoded tag + BER length.
pub fn header(tag: u16, len: usize, out: &mut [u8; 7]) -> &[u8] {
    let _ = (tag, len);
    &out[..0]
}

/// Appends one TLV to `reply`.
pub fn write(reply: &mut Reply<'_>, tag: u16, value: &[u8]) -> Result<(), Full> {
    let mut h = [0u8; 7];
    reply.extend(header(tag, value.len(), &mut h))?;
    reply.extend(value)
}
