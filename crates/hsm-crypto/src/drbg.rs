//! The card's deterministic random bit generator.
//!
//! ChaCha20 keyed from SHA-256 of hardware entropy, reseeded from fresh entropy after
//! [`RESEED_INTERVAL`] bytes or [`RESEED_REQUESTS`] requests, and whenever the card resets
//! ([`Drbg::request_reseed`]). Each entropy block passes a continuous health test (NIST SP 800-90B
//! §4.4.1 repetition count, on whole blocks): a block equal to the previous one, or constant, is
//! rejected and the generator refuses to produce output.
//!
//! Fast key erasure: after every request the generator re-keys itself from its own next 32 bytes,
//! overwriting the state that produced the answer, so a later look at RAM cannot recover past
//! outputs. The state is overwritten on drop.

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng, TryCryptoRng, TryRng};
use zeroize::Zeroizing;

use crate::hash::sha256;

/// Bytes of output after which the generator asks for fresh entropy.
pub const RESEED_INTERVAL: u64 = 1 << 20;
/// Requests after which the generator asks for fresh entropy.
pub const RESEED_REQUESTS: u32 = 256;
/// Entropy bytes taken per (re)seed.
pub const ENTROPY_LEN: usize = 48;

/// The entropy source failed its health test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntropyFailure;

/// A ChaCha20 DRBG with a continuous health test on its entropy input.
pub struct Drbg {
    rng: Option<ChaCha20Rng>,
    last_entropy_digest: [u8; 32],
    produced: u64,
    requests: u32,
}

impl core::fmt::Debug for Drbg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Drbg").field("seeded", &self.rng.is_some()).finish()
    }
}

impl Default for Drbg {
    fn default() -> Self {
        Self::new()
    }
}

impl Drbg {
    /// An unseeded generator; [`Drbg::reseed`] must succeed before it yields output.
    pub const fn new() -> Self {
        Drbg {
            rng: None,
            last_entropy_digest: [0; 32],
            produced: 0,
            requests: 0,
        }
    }

    /// Asks for fresh entropy before the next output (card reset). The current state stays mixed in.
    pub fn request_reseed(&mut self) {
        self.produced = RESEED_INTERVAL;
    }

    /// Whether the generator wants fresh entropy (unseeded or past the reseed interval).
    pub fn needs_reseed(&self) -> bool {
        self.rng.is_none() || self.produced >= RESEED_INTERVAL || self.requests >= RESEED_REQUESTS
    }

    /// Mixes fresh entropy into the state. Fails (and leaves the generator unseeded) when the
    /// block repeats the previous one or is constant.
    pub fn reseed(&mut self, entropy: &[u8; ENTROPY_LEN]) -> Result<(), EntropyFailure> {
        let digest = sha256(&[entropy]);
        let constant = entropy.iter().all(|b| *b == entropy[0]);
        if constant || crate::ct_eq(&digest, &self.last_entropy_digest) {
            self.rng = None;
            return Err(EntropyFailure);
        }
        self.last_entropy_digest = digest;
        let mut previous = Zeroizing::new([0u8; 32]);
        if let Some(rng) = self.rng.as_mut() {
            rng.fill_bytes(&mut previous[..]);
        }
        let seed = Zeroizing::new(sha256(&[b"pico-hsm drbg", &previous[..], entropy]));
        self.rng = Some(ChaCha20Rng::from_seed(*seed));
        self.produced = 0;
        self.requests = 0;
        Ok(())
    }

    /// Fills `dst` with random bytes, then re-keys (fast key erasure); fails when the generator is
    /// not seeded.
    pub fn fill(&mut self, dst: &mut [u8]) -> Result<(), EntropyFailure> {
        let rng = self.rng.as_mut().ok_or(EntropyFailure)?;
        rng.fill_bytes(dst);
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut key[..]);
        // Assigned in place: the old key and its buffered keystream are overwritten.
        *rng = ChaCha20Rng::from_seed(*key);
        self.produced = self.produced.saturating_add(dst.len() as u64);
        self.requests = self.requests.saturating_add(1);
        Ok(())
    }
}

impl Drop for Drbg {
    fn drop(&mut self) {
        if let Some(rng) = self.rng.as_mut() {
            *rng = ChaCha20Rng::from_seed([0; 32]);
        }
        zeroize::Zeroize::zeroize(&mut self.last_entropy_digest);
    }
}

impl TryRng for Drbg {
    type Error = EntropyFailure;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.fill(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.fill(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.fill(dst)
    }
}

impl TryCryptoRng for Drbg {}

impl core::fmt::Display for EntropyFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("entropy source failed its health test")
    }
}

impl core::error::Error for EntropyFailure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_until_seeded_and_on_repeated_entropy() {
        let mut d = Drbg::new();
        let mut out = [0u8; 16];
        assert_eq!(d.fill(&mut out), Err(EntropyFailure));
        let e1 = [7u8; ENTROPY_LEN];
        assert_eq!(d.reseed(&e1), Err(EntropyFailure), "constant block rejected");
        let mut e2 = [0u8; ENTROPY_LEN];
        for (i, b) in e2.iter_mut().enumerate() {
            *b = i as u8;
        }
        d.reseed(&e2).unwrap();
        d.fill(&mut out).unwrap();
        let mut out2 = [0u8; 16];
        d.fill(&mut out2).unwrap();
        assert_ne!(out, out2);
        assert_eq!(d.reseed(&e2), Err(EntropyFailure), "repeated block rejected");
        assert_eq!(d.fill(&mut out), Err(EntropyFailure));
    }

    fn seeded() -> Drbg {
        let mut d = Drbg::new();
        let mut e = [0u8; ENTROPY_LEN];
        for (i, b) in e.iter_mut().enumerate() {
            *b = (i * 3 + 1) as u8;
        }
        d.reseed(&e).unwrap();
        d
    }

    #[test]
    fn each_request_rekeys_the_generator() {
        // Fast key erasure: the second request's bytes are not the continuation of the first
        // request's keystream, but come from a key drawn after it.
        let mut d = seeded();
        let mut first = [0u8; 16];
        d.fill(&mut first).unwrap();
        let mut second = [0u8; 16];
        d.fill(&mut second).unwrap();

        let mut e = [0u8; ENTROPY_LEN];
        for (i, b) in e.iter_mut().enumerate() {
            *b = (i * 3 + 1) as u8;
        }
        let seed = sha256(&[b"pico-hsm drbg", &[0u8; 32], &e]);
        let mut plain = ChaCha20Rng::from_seed(seed);
        let mut stream = [0u8; 48];
        plain.fill_bytes(&mut stream);
        assert_eq!(first, stream[..16], "same seed, same first output");
        let mut key = [0u8; 32];
        key.copy_from_slice(&stream[16..48]);
        let mut next = ChaCha20Rng::from_seed(key);
        let mut expected = [0u8; 16];
        next.fill_bytes(&mut expected);
        assert_eq!(second, expected, "second request from the re-keyed state");
        assert_ne!(second, stream[16..32], "not the old keystream");
    }

    #[test]
    fn reseed_is_due_after_requests_and_on_request() {
        let mut d = seeded();
        assert!(!d.needs_reseed());
        d.request_reseed();
        assert!(d.needs_reseed());
        let mut d = seeded();
        let mut b = [0u8; 1];
        for _ in 0..RESEED_REQUESTS {
            assert!(!d.needs_reseed());
            d.fill(&mut b).unwrap();
        }
        assert!(d.needs_reseed());
    }
}
