use alloc::vec;

use embedded_storage::nor_flash::{
    ErrorType, MultiwriteNorFlash, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

/// Error of [`PowerCut`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerCutError<E> {
    /// The power is off: this operation was torn or refused.
    Cut,
    /// The wrapped flash failed.
    Inner(E),
}

impl<E: NorFlashError> NorFlashError for PowerCutError<E> {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            Self::Cut => NorFlashErrorKind::Other,
            Self::Inner(e) => e.kind(),
        }
    }
}

/// Wraps a flash and cuts the power at a chosen write/erase operation.
///
/// Writes and erases are counted from 0. The operation whose index is `cut_at` is torn and reports
/// [`PowerCutError::Cut`]; every later operation (reads included) fails with `Cut` without touching the
/// flash. A torn write lands nothing, a random prefix, a random subset of its bit-clears (NOR: a write
/// only clears bits), a prefix plus a subset of the rest, or everything. A torn erase of a sector leaves
/// it untouched, fully erased, with random content, with random bits of the old content set, or erased
/// up to a random point. With a multi-sector erase the sectors before the torn one are erased and those
/// after it untouched. The randomness comes from `seed`, so a run can be replayed exactly.
///
/// [`PowerCut::into_inner`] gives the flash back for a remount ("reboot").
#[derive(Debug)]
pub struct PowerCut<F> {
    inner: F,
    cut_at: Option<u64>,
    ops: u64,
    cut: bool,
    rng: u64,
}

impl<F: NorFlash> PowerCut<F> {
    /// Wraps `inner`; the write/erase operation with index `cut_at` (0-based) is torn.
    pub fn new(inner: F, cut_at: u64, seed: u64) -> Self {
        Self {
            inner,
            cut_at: Some(cut_at),
            ops: 0,
            cut: false,
            rng: seed ^ 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// Wraps `inner` without ever cutting the power: counts the operations (see [`PowerCut::ops`]).
    pub fn counting(inner: F) -> Self {
        Self {
            inner,
            cut_at: None,
            ops: 0,
            cut: false,
            rng: 0,
        }
    }

    /// Write and erase operations started so far (the torn one included).
    pub fn ops(&self) -> u64 {
        self.ops
    }

    /// Whether the power has been cut.
    pub fn is_cut(&self) -> bool {
        self.cut
    }

    /// The wrapped flash.
    pub fn inner(&self) -> &F {
        &self.inner
    }

    /// Gives the wrapped flash back, as it was left by the power cut.
    pub fn into_inner(self) -> F {
        self.inner
    }

    fn next_random(&mut self) -> u64 {
        // splitmix64: tiny, deterministic, good enough to pick tearing patterns.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_random() % n as u64) as usize
        }
    }

    /// Counts an operation; returns whether this one is torn.
    fn start_op(&mut self) -> Result<bool, PowerCutError<F::Error>> {
        if self.cut {
            return Err(PowerCutError::Cut);
        }
        let index = self.ops;
        self.ops += 1;
        if self.cut_at == Some(index) {
            self.cut = true;
            return Ok(true);
        }
        Ok(false)
    }

    fn torn_write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), PowerCutError<F::Error>> {
        let mut old = vec![0u8; bytes.len()];
        self.inner.read(offset, &mut old).map_err(PowerCutError::Inner)?;
        let len = bytes.len();
        let mode = self.below(5);
        let prefix = match mode {
            0 => 0,
            1 | 2 => self.below(len + 1),
            3 => 0,
            _ => len,
        };
        let mut landed = old.clone();
        for (i, (l, b)) in landed.iter_mut().zip(bytes).enumerate() {
            if i < prefix {
                *l &= *b;
            } else if mode == 2 || mode == 3 {
                // A random subset of the bits this write would clear.
                let subset = self.next_random() as u8;
                *l &= *b | !subset;
            }
        }
        if landed != old {
            self.inner.write(offset, &landed).map_err(PowerCutError::Inner)?;
        }
        Err(PowerCutError::Cut)
    }

    fn torn_erase_sector(&mut self, from: u32) -> Result<(), PowerCutError<F::Error>> {
        let size = F::ERASE_SIZE;
        let mut old = vec![0u8; size];
        self.inner.read(from, &mut old).map_err(PowerCutError::Inner)?;
        let mode = self.below(5);
        let mut content = old.clone();
        match mode {
            0 => {}
            1 => content.fill(0xFF),
            2 => content.iter_mut().for_each(|b| *b = self.next_random() as u8),
            3 => {
                for b in content.iter_mut() {
                    *b |= self.next_random() as u8;
                }
            }
            _ => {
                let upto = self.below(size + 1);
                content.iter_mut().take(upto).for_each(|b| *b = 0xFF);
            }
        }
        if content != old {
            let to = from.checked_add(size as u32).ok_or(PowerCutError::Cut)?;
            self.inner.erase(from, to).map_err(PowerCutError::Inner)?;
            self.inner.write(from, &content).map_err(PowerCutError::Inner)?;
        }
        Ok(())
    }
}

impl<F: NorFlash> ErrorType for PowerCut<F> {
    type Error = PowerCutError<F::Error>;
}

impl<F: NorFlash> ReadNorFlash for PowerCut<F> {
    const READ_SIZE: usize = F::READ_SIZE;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        if self.cut {
            return Err(PowerCutError::Cut);
        }
        self.inner.read(offset, bytes).map_err(PowerCutError::Inner)
    }

    fn capacity(&self) -> usize {
        self.inner.capacity()
    }
}

impl<F: NorFlash> NorFlash for PowerCut<F> {
    const WRITE_SIZE: usize = F::WRITE_SIZE;
    const ERASE_SIZE: usize = F::ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        if !self.start_op()? {
            return self.inner.erase(from, to).map_err(PowerCutError::Inner);
        }
        // Validate the range first so a bad request is not mistaken for a torn one.
        let len = (to as usize).checked_sub(from as usize).ok_or(PowerCutError::Cut)?;
        super::check(from, len, F::ERASE_SIZE, self.inner.capacity()).map_err(|_| PowerCutError::Cut)?;
        let sectors = len / F::ERASE_SIZE;
        let torn = self.below(sectors.max(1));
        for i in 0..sectors {
            let start = from + (i * F::ERASE_SIZE) as u32;
            if i < torn {
                self.inner
                    .erase(start, start + F::ERASE_SIZE as u32)
                    .map_err(PowerCutError::Inner)?;
            } else if i == torn {
                self.torn_erase_sector(start)?;
            }
        }
        Err(PowerCutError::Cut)
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        if !self.start_op()? {
            return self.inner.write(offset, bytes).map_err(PowerCutError::Inner);
        }
        super::check(offset, bytes.len(), F::WRITE_SIZE, self.inner.capacity()).map_err(|_| PowerCutError::Cut)?;
        self.torn_write(offset, bytes)
    }
}

impl<F: MultiwriteNorFlash> MultiwriteNorFlash for PowerCut<F> {}
