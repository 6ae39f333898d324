//! `__aeabi_lmul` (the 64×64→64-bit multiply every `u64` product calls on ARMv6-M) for the RP2040.
//!
//! The Cortex-M0+ has no long multiply, so each `(a as u64) * (b as u64)` in the elliptic-curve
//! crates (p256, k256, curve25519-dalek, the Brainpool and NIST field code) is a call to this
//! function; the emulated-board profile put 37% of a P-256 signature and 69% of an Ed25519 signature
//! in it. compiler-builtins' version (generic Rust) spills to the stack: ~37 instructions plus five
//! pushed registers. This one is the classic 16-bit-halves sequence (as the Pico SDK's
//! `pico_int64_ops`): 6 single-cycle `MULS`, no branch, no memory access but one saved register —
//! constant time like the original. compiler-builtins defines its intrinsics as weak symbols, so
//! the linker takes this definition.
//!
//! With `a = ah:al`, `b = bh:bl`: `a * b mod 2^64 = al*bl + ((ah*bl + al*bh) mod 2^32) << 32`, and
//! `al*bl` from 16-bit halves `a1:a0`, `b1:b0` is `a0*b0 + (a0*b1 + a1*b0) << 16 + (a1*b1) << 32`.
//! Checked against `u64` multiplication by the firmware's boot self-test ([`self_test`]) and by
//! every signature the end-to-end tests verify with openssl.

core::arch::global_asm!(
    ".section .text.__aeabi_lmul,\"ax\",%progbits",
    ".global __aeabi_lmul",
    ".type __aeabi_lmul,%function",
    ".thumb_func",
    "__aeabi_lmul:",
    // r1:r0 = a (ah:al), r3:r2 = b (bh:bl)
    "muls r1, r2, r1", // r1 = ah*bl
    "muls r3, r0, r3", // r3 = bh*al
    "adds r1, r1, r3", // cross terms, mod 2^32
    "mov r12, r1",
    "lsrs r1, r2, #16", // r1 = b1
    "uxth r3, r0",      // r3 = a0
    "muls r3, r1, r3",  // r3 = a0*b1
    "push {{r4}}",
    "lsrs r4, r0, #16", // r4 = a1
    "muls r1, r4, r1",  // r1 = a1*b1 (high word)
    "uxth r2, r2",      // r2 = b0
    "uxth r0, r0",      // r0 = a0
    "muls r0, r2, r0",  // r0 = a0*b0 (low word)
    "muls r2, r4, r2",  // r2 = a1*b0
    "lsls r4, r3, #16",
    "lsrs r3, r3, #16",
    "adds r0, r0, r4",
    "pop {{r4}}", // POP leaves the flags alone
    "adcs r1, r1, r3",
    "lsls r3, r2, #16",
    "lsrs r2, r2, #16",
    "adds r0, r0, r3",
    "adcs r1, r1, r2",
    "add r1, r12",
    "bx lr",
    ".size __aeabi_lmul, . - __aeabi_lmul",
);

unsafe extern "C" {
    fn __aeabi_lmul(a: u64, b: u64) -> u64;
}

/// Compares [`__aeabi_lmul`] with products computed without it (from 32-bit halves), on edge values
/// and a pseudo-random walk. `false` means the image is broken: the caller refuses to run the card.
pub fn self_test() -> bool {
    let edges = [
        0u64,
        1,
        0xFFFF,
        0x1_0000,
        0xFFFF_FFFF,
        0x1_0000_0000,
        0x8000_0000_0000_0000,
        u64::MAX,
    ];
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut ok = true;
    for i in 0..64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let a = edges.get(i % edges.len()).copied().unwrap_or(0) ^ if i >= edges.len() { x } else { 0 };
        let b = x.rotate_left(29);
        // SAFETY: a plain function of two u64 values with the AAPCS signature of `__aeabi_lmul`.
        let got = unsafe { __aeabi_lmul(core::hint::black_box(a), core::hint::black_box(b)) };
        ok &= got == reference(a, b);
    }
    ok
}

/// `a * b mod 2^64` from 32×32-bit products, each split in 16-bit halves (no `u64` multiply).
fn reference(a: u64, b: u64) -> u64 {
    fn mul32(x: u32, y: u32) -> u64 {
        let (x0, x1, y0, y1) = (x & 0xFFFF, x >> 16, y & 0xFFFF, y >> 16);
        let lo = u64::from(x0 * y0);
        let mid = (u64::from(x0 * y1) + u64::from(x1 * y0)) << 16;
        let hi = u64::from(x1 * y1) << 32;
        lo.wrapping_add(mid).wrapping_add(hi)
    }
    let (al, ah, bl, bh) = (a as u32, (a >> 32) as u32, b as u32, (b >> 32) as u32);
    let cross = ah.wrapping_mul(bl).wrapping_add(al.wrapping_mul(bh));
    mul32(al, bl).wrapping_add(u64::from(cross) << 32)
}
