//! The chip's noise source behind `hsm_crypto::entropy`'s health tests and conditioner.
//!
//! * RP2040: the ring oscillator's RANDOMBIT, one raw bit per read, sampled with a pause between
//!   reads so successive samples do not see the same oscillator phase. No datasheet figure exists
//!   for its entropy; the health tests assume the conservative rate documented in
//!   `hsm_crypto::entropy`, and refuse a stuck or strongly biased source (for example a register
//!   that reads all ones, as an emulator's unimplemented register does).
//! * RP2350: the TRNG peripheral (its own hardware health checks), bytes through the same tests
//!   and conditioner.
//!
//! A failed source gives no bytes: the card answers 6400 to what needed randomness.

use hsm_crypto::entropy::{self, HealthFailure, SampleKind};

/// The board's noise source.
pub struct Source {
    #[cfg(feature = "rp235x")]
    trng: embassy_rp::trng::Trng<'static, embassy_rp::peripherals::TRNG>,
}

impl Source {
    /// The ring oscillator (it runs from reset; embassy-rp's clock setup keeps it on).
    #[cfg(feature = "rp2040")]
    pub fn new() -> Self {
        Self {}
    }

    /// The TRNG.
    #[cfg(feature = "rp235x")]
    pub fn new(trng: embassy_rp::trng::Trng<'static, embassy_rp::peripherals::TRNG>) -> Self {
        Self { trng }
    }

    /// Fills `out` with conditioned entropy.
    #[cfg(feature = "rp2040")]
    pub fn fill(&mut self, out: &mut [u8]) -> Result<(), HealthFailure> {
        entropy::fill(SampleKind::Bit, rosc_bit, out)
    }

    /// Fills `out` with conditioned entropy.
    #[cfg(feature = "rp235x")]
    pub fn fill(&mut self, out: &mut [u8]) -> Result<(), HealthFailure> {
        let trng = &mut self.trng;
        let mut word = [0u8; 4];
        let mut have = 0usize;
        entropy::fill(
            SampleKind::Byte,
            || {
                if have == 0 {
                    trng.blocking_fill_bytes(&mut word);
                    have = word.len();
                }
                have -= 1;
                word[have]
            },
            out,
        )
    }
}

/// One raw bit of the RP2040's ring oscillator.
#[cfg(feature = "rp2040")]
fn rosc_bit() -> u8 {
    // About 100 system clock cycles between samples: the ring oscillator runs at a few MHz, so each
    // sample sees at least several of its periods of accumulated jitter.
    cortex_m::asm::delay(100);
    u8::from(embassy_rp::pac::ROSC.randombit().read().randombit())
}
