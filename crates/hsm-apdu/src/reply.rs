//! A response being built into a caller-provided buffer.

use crate::Status;

/// Response data written into a fixed buffer. A full buffer is an error, never a panic.
#[derive(Debug)]
pub struct Reply<'a> {
    buf: &'a mut [u8],
    len: usize,
    /// The status word sent after the last byte of a successful response (9000 unless set).
    status: Status,
}

/// The reply buffer cannot take more data; becomes 6400 at the status-word boundary.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Full;

impl From<Full> for Status {
    fn from(_: Full) -> Status {
        Status::ExecutionError
    }
}

impl<'a> Reply<'a> {
    /// An empty reply over `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Reply {
            buf,
            len: 0,
            status: Status::Success,
        }
    }

    /// Makes a successful response end with `sw` instead of 9000, the data still sent: for the
    /// few commands whose success carries information in SW2 (PUK AUTH P1=02 answers `90 01`
    /// for an authenticated key). Only `90xx` and `62xx`/`63xx` warnings make sense here.
    pub fn set_final_status(&mut self, sw: Status) {
        self.status = sw;
    }

    /// The status word a successful response ends with.
    pub fn final_status(&self) -> Status {
        self.status
    }

    /// Appends `data`, or fails without writing anything when it does not fit.
    pub fn extend(&mut self, data: &[u8]) -> Result<(), Full> {
        let end = self.len.checked_add(data.len()).ok_or(Full)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(Full)?;
        dst.copy_from_slice(data);
        self.len = end;
        Ok(())
    }

    /// Appends one byte.
    pub fn push(&mut self, byte: u8) -> Result<(), Full> {
        self.extend(&[byte])
    }

    /// Reserves `n` zeroed bytes at the end and returns them for the caller to fill.
    pub fn reserve(&mut self, n: usize) -> Result<&mut [u8], Full> {
        let start = self.len;
        let end = start.checked_add(n).ok_or(Full)?;
        let dst = self.buf.get_mut(start..end).ok_or(Full)?;
        dst.fill(0);
        self.len = end;
        Ok(dst)
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many more bytes fit.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.len)
    }

    /// Shortens the reply (no effect when `len` is not shorter).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// The data written so far.
    pub fn as_slice(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// The data written so far, mutable (to patch a length field, for example).
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        self.buf.get_mut(..self.len).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_buffer_is_an_error_and_writes_nothing() {
        let mut buf = [0u8; 4];
        let mut r = Reply::new(&mut buf);
        r.extend(&[1, 2, 3]).unwrap();
        assert_eq!(r.extend(&[4, 5]), Err(Full));
        assert_eq!(r.as_slice(), &[1, 2, 3]);
        r.push(4).unwrap();
        assert_eq!(r.push(5), Err(Full));
        assert_eq!(r.remaining(), 0);
    }
}
