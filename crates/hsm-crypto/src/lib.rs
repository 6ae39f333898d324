//! The cryptography the Pico HSM card core needs, as thin wrappers over RustCrypto crates.
//!
//! Secrets are returned in [`Zeroizing`] buffers; comparisons of secrets use [`ct_eq`].
#![no_std]
// No unsafe code, but for the assembly routines of features `armv6m-asm` (RSA's inner loop on the
// RP2040, `asym::rsa::monty`) and `dsp-asm` (P-256's product on the RP2350, `asym::p256_comb`),
// which allow it locally.
#![cfg_attr(not(any(feature = "armv6m-asm", feature = "dsp-asm")), forbid(unsafe_code))]
#![cfg_attr(any(feature = "armv6m-asm", feature = "dsp-asm"), deny(unsafe_code))]

extern crate alloc;
#[cfg(feature = "prime-thread")]
extern crate std;

pub mod aead;
pub mod asym;
pub mod drbg;
pub mod ec;
pub mod entropy;
pub mod hash;
pub mod hd;
pub mod sym;

pub use zeroize::Zeroizing;

/// Constant-time equality of two byte strings (lengths are not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
