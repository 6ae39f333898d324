//! Known-answer tests of the card's cryptography, compiled for `thumbv8m.main-none-eabihf` and run
//! on an emulated Cortex-M33 (qemu `mps2-an505`), with instruction counts and memory high-water
//! marks.
//!
//! # What runs
//! The image boots in secure state from SSRAM1 (`memory.x`), prints through semihosting and exits
//! through semihosting: status 0 only if every test passed. Each test runs one operation of
//! `hsm-crypto` (or of the card, `hsm-card` over its RAM platform) with fixed inputs and compares
//! the result with bytes from outside this code: RFC 6979 A.2.5 (ECDSA P-256), RFC 8032 test 2
//! (Ed25519), the GCM specification's test cases 4 and 16 (AES-GCM), an RSA-2048 PKCS#1 v1.5
//! signature made by OpenSSL, and for hsm-crypto's hedged ECDSA a signature computed by an
//! independent Python RFC 6979 implementation. The card session (SELECT, INITIALIZE, VERIFY,
//! GENERATE ASYMMETRIC KEY PAIR P-256, COMPUTE SIGNATURE) checks each status word and verifies
//! the signature with the public key from the card's CV request. With the cargo feature
//! `keygen4096`, RSA-4096 key generation from a fixed-seed ChaCha20 generator runs too.
//!
//! # How instructions are counted
//! qemu here has no TCG plugins and does not emulate the DWT cycle counter. The runner passes
//! `-icount shift=0`: the emulated clock advances exactly 2^0 = 1 ns per executed instruction, and
//! every emulated timer follows that clock. SysTick runs on the core clock (qemu's AN505 system
//! clock) over its full 24-bit range; its exception counts wraps, extending it to 64 bits. The
//! program calibrates it at start: a loop of exactly 2 × N instructions (`subs`/`bne`, N = 10^6
//! and 2 × 10^6) gives the instructions per tick, which must equal 10^9 / clock (checked, first
//! line of the output). An operation's count is (ticks after − ticks before) × instructions per
//! tick.
//!
//! * Resolution: one tick, 50 instructions (qemu clocks the AN505's CPU at 20 MHz, measured by
//!   the calibration, not the 25 MHz of some other MPS2 images). Each count is a multiple of 50;
//!   the true count is within ±50 of it, and it moves by ±50 between builds as code layout
//!   shifts the operation against the tick phase. Reading the counter costs less than a tick
//!   (the `empty measurement` line); the SysTick exception adds a handful of instructions every
//!   2^24 ticks (838,860,800 instructions).
//! * What is counted: qemu's icount, one per guest instruction executed (a condition-failed
//!   instruction in an IT block counts too). icount is deterministic: the same image gives the
//!   same counts on every run, so one run is the measurement (no medians). These are
//!   instructions, not cycles: qemu models no pipeline, multiply, load or flash wait-state timing.
//!
//! # Memory
//! * Heap: the global allocator (`embedded-alloc`'s linked-list heap, 2 MiB) is wrapped in a
//!   counter of requested bytes; each test prints its peak above what was live when it started,
//!   and the end of the run prints the peak for the whole run and the allocator's own peak
//!   (requested sizes after its rounding).
//! * Stack: before each test the free stack is painted with a pattern; after it, the lowest
//!   overwritten word gives the deepest stack pointer. Each test prints its depth below the
//!   stack pointer of the code that called it (`stack +`, so without this program's own frames,
//!   but with a SysTick exception frame should one have come); the end of the run prints the
//!   deepest use during the tests measured from the top of the stack (with this program's
//!   frames).
//!
//! # Failures and the hang guard
//! A failed comparison prints a `FAIL` line with both values and the run goes on; the exit status
//! is non-zero if any test failed. A panic, HardFault or unexpected exception prints `FAIL` and
//! exits non-zero at once. The SysTick exception stops the run with a failure once an instruction
//! budget is spent ([`BUDGET_INSNS`], rounded up to whole SysTick periods): emulated time, so it
//! fires whatever the host speed, even in an endless loop. A hang of qemu itself is outside it:
//! wrap the command in a wall-clock timeout too.
#![no_std]
#![no_main]

extern crate alloc;

mod meter;
mod vectors;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use cortex_m_rt::{ExceptionFrame, entry, exception};
use cortex_m_semihosting::{debug, hprintln};
use hsm_crypto::asym::rsa::{HashAlg, RsaPrivateKey};
use hsm_crypto::asym::{Curve, EcPrivateKey};
use hsm_crypto::sym::{self, Direction, Mode};
use rand_core::{SeedableRng, TryCryptoRng, TryRng};

use vectors::*;

#[global_allocator]
static HEAP: meter::CountingHeap = meter::CountingHeap::new();

/// Instructions per SysTick tick: qemu clocks the AN505's CPU (and SysTick's core clock source) at
/// 20 MHz, one tick every 50 ns, and `-icount shift=0` executes one instruction per ns. The
/// calibration checks it on every run.
const EXPECTED_INSNS_PER_TICK: u64 = 50;

/// Instruction budget of the whole run (the hang guard). The default run takes about 0.6 × 10^9,
/// RSA-4096 key generation about 72 × 10^9 with the seed used here.
#[cfg(not(feature = "keygen4096"))]
const BUDGET_INSNS: u64 = 5_000_000_000;
#[cfg(feature = "keygen4096")]
const BUDGET_INSNS: u64 = 300_000_000_000;

#[entry]
fn main() -> ! {
    meter::paint_stack();
    HEAP.init();
    let Some(peripherals) = cortex_m::Peripherals::take() else {
        finish_with("the core peripherals were already taken");
    };
    meter::start(peripherals.SYST);

    hprintln!("hsm-m33-kat: known-answer tests on an emulated Cortex-M33 (qemu mps2-an505, -icount shift=0)");
    let mut run = Runner::calibrate();
    meter::set_budget(BUDGET_INSNS / run.insns_per_tick);
    hprintln!(
        "instruction budget {} (hang guard); heap {} B; stack region {} B",
        grouped(BUDGET_INSNS),
        grouped(meter::HEAP_SIZE as u64),
        grouped(meter::stack_size() as u64)
    );
    hprintln!("");

    ecdsa_p256(&mut run);
    ed25519(&mut run);
    aes_gcm(&mut run);
    rsa_2048(&mut run);
    card_session(&mut run);
    #[cfg(feature = "keygen4096")]
    rsa_4096_keygen(&mut run);

    hprintln!("");
    hprintln!(
        "run: heap peak {} B requested ({} B in the allocator, {} allocations); stack peak {} B of {} B from the top (with this program's frames)",
        grouped(HEAP.run_peak() as u64),
        grouped(HEAP.used_peak() as u64),
        grouped(HEAP.count() as u64),
        grouped(run.stack_peak as u64),
        grouped(meter::stack_size() as u64)
    );
    hprintln!("total instructions: {}", grouped(meter::ticks() * run.insns_per_tick));
    hprintln!("m33-kat: {} passed, {} failed", run.passed, run.failed);
    debug::exit(if run.failed == 0 {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    halt()
}

// ---------------------------------------------------------------------------------------------
// The runner.

struct Runner {
    insns_per_tick: u64,
    passed: u32,
    failed: u32,
    /// Deepest stack use over the run.
    stack_peak: usize,
}

impl Runner {
    /// Derives instructions per tick from two loops of known length and checks it against
    /// [`EXPECTED_INSNS_PER_TICK`]; prints the result as the first test line.
    fn calibrate() -> Runner {
        const N: u32 = 1_000_000;
        let t0 = meter::ticks();
        meter::spin(N);
        let t1 = meter::ticks();
        meter::spin(2 * N);
        let t2 = meter::ticks();
        // The difference cancels the fixed overhead of the calls and counter reads.
        let extra_ticks = (t2 - t1).saturating_sub(t1 - t0);
        let insns_per_tick = (u64::from(N) * 2).checked_div(extra_ticks).unwrap_or(0);
        let ok = insns_per_tick == EXPECTED_INSNS_PER_TICK && (u64::from(N) * 2) % extra_ticks.max(1) == 0;
        let mut run = Runner {
            insns_per_tick: if ok { insns_per_tick } else { EXPECTED_INSNS_PER_TICK },
            passed: 0,
            failed: 0,
            stack_peak: 0,
        };
        let detail = format!(
            "loop of {} instructions = {} ticks → {} instructions per tick (expected {}; resolution ±1 tick)",
            grouped(u64::from(N) * 2),
            extra_ticks,
            insns_per_tick,
            EXPECTED_INSNS_PER_TICK
        );
        run.report(
            "SysTick calibration",
            if ok { Ok(()) } else { Err(detail.clone()) },
            None,
        );
        hprintln!("       {}", detail);
        let empty = run.measure(|| ()).1;
        hprintln!("       empty measurement: {} instructions", empty);
        run
    }

    /// Runs `op` and returns its result and its instruction count.
    fn measure<T>(&self, op: impl FnOnce() -> T) -> (T, u64) {
        let t0 = meter::ticks();
        let out = op();
        let t1 = meter::ticks();
        (out, (t1 - t0) * self.insns_per_tick)
    }

    /// Runs `op` measured (instructions, heap and stack), then `check` on its result, and reports.
    fn case<T>(&mut self, name: &str, op: impl FnOnce() -> T, check: impl FnOnce(T) -> Result<(), String>) {
        let caller = meter::stack_depth();
        meter::paint_stack();
        HEAP.reset_peak();
        let live = HEAP.live();
        let (out, insns) = self.measure(op);
        let heap = HEAP.peak() - live;
        let used = meter::stack_used();
        self.stack_peak = self.stack_peak.max(used);
        self.report(name, check(out), Some((insns, heap, used.saturating_sub(caller))));
    }

    fn report(&mut self, name: &str, result: Result<(), String>, cost: Option<(u64, usize, usize)>) {
        let verdict = if result.is_ok() { "PASS" } else { "FAIL" };
        match cost {
            Some((insns, heap, stack)) => hprintln!(
                "[{}] {:<56} {:>13} instructions   heap +{} B   stack +{} B",
                verdict,
                name,
                grouped(insns),
                grouped(heap as u64),
                grouped(stack as u64)
            ),
            None => hprintln!("[{}] {}", verdict, name),
        }
        match result {
            Ok(()) => self.passed += 1,
            Err(why) => {
                hprintln!("       FAIL: {}", why);
                self.failed += 1;
            }
        }
    }
}

/// `n` with a comma every three digits.
fn grouped(n: u64) -> String {
    let digits = format!("{n}");
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn hexs(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `Ok` when `got` equals `want`, else both in hex.
fn same(what: &str, got: &[u8], want: &[u8]) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {}, want {}", hexs(got), hexs(want)))
    }
}

/// A generator that yields 00 01 02 … (wrapping): fixed "random" input for hsm-crypto's hedged
/// ECDSA, so the host can compute the expected signature.
struct CountingRng(u8);

impl TryRng for CountingRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for b in dst {
            *b = self.0;
            self.0 = self.0.wrapping_add(1);
        }
        Ok(())
    }
}

// Test input only: the sequence is public by design.
impl TryCryptoRng for CountingRng {}

/// A fixed-seed ChaCha20 generator (RSA blinding, key generation).
fn seeded_rng(byte: u8) -> rand_chacha::ChaCha20Rng {
    rand_chacha::ChaCha20Rng::from_seed([byte; 32])
}

// ---------------------------------------------------------------------------------------------
// The tests.

fn ecdsa_p256(run: &mut Runner) {
    use p256::ecdsa::signature::hazmat::PrehashSigner;

    let hash = hsm_crypto::hash::sha256(&[P256_MSG]);

    // RFC 6979 A.2.5 through `p256` (HMAC-SHA-256 nonce, no additional input): the curve
    // arithmetic hsm-crypto runs on, checked against the RFC's bytes.
    match p256::ecdsa::SigningKey::from_slice(&P256_X) {
        Ok(sk) => run.case(
            "ECDSA P-256 sign, RFC 6979 A.2.5 (p256)",
            || PrehashSigner::<p256::ecdsa::Signature>::sign_prehash(&sk, &hash),
            |sig| match sig {
                Ok(sig) => same("r ‖ s", &sig.to_bytes(), &P256_SHA256_RS),
                Err(_) => Err(String::from("signing failed")),
            },
        ),
        Err(_) => run.report(
            "ECDSA P-256 sign, RFC 6979 A.2.5 (p256)",
            Err("key refused".into()),
            None,
        ),
    }

    // hsm-crypto's own signing path (what COMPUTE SIGNATURE runs): RFC 6979 with HMAC-SHA-512 and
    // 32 bytes from the RNG as additional input.
    let key = EcPrivateKey::from_bytes(Curve::Secp256r1, &P256_X);
    match &key {
        Ok(key) => {
            run.case(
                "ECDSA P-256 public key (hsm-crypto)",
                || key.public_key(),
                |public| match public {
                    Ok(public) => same("public key", &public, &P256_PUBLIC),
                    Err(e) => Err(format!("{e}")),
                },
            );
            run.case(
                "ECDSA P-256 sign, hedged RFC 6979 (hsm-crypto)",
                || key.ecdsa_sign_raw(&hash, &mut CountingRng(0)),
                |sig| match sig {
                    Ok(sig) => same("r ‖ s", &sig, &P256_CARD_RS),
                    Err(e) => Err(format!("{e}")),
                },
            );
        }
        Err(e) => run.report("ECDSA P-256 key (hsm-crypto)", Err(format!("{e}")), None),
    }

    run.case(
        "ECDSA P-256 verify, RFC 6979 A.2.5 (hsm-crypto)",
        || Curve::Secp256r1.verify_ecdsa_raw(&P256_PUBLIC, &hash, &P256_SHA256_RS),
        |r| r.map_err(|e| format!("{e}")),
    );
    let mut bad = P256_SHA256_RS;
    bad[63] ^= 1;
    run.case(
        "ECDSA P-256 verify rejects a changed s (hsm-crypto)",
        || Curve::Secp256r1.verify_ecdsa_raw(&P256_PUBLIC, &hash, &bad),
        |r| match r {
            Ok(()) => Err(String::from("a wrong signature verified")),
            Err(_) => Ok(()),
        },
    );
}

fn ed25519(run: &mut Runner) {
    let key = match EcPrivateKey::from_bytes(Curve::Ed25519, &ED25519_SEED) {
        Ok(key) => key,
        Err(e) => return run.report("Ed25519 key (hsm-crypto)", Err(format!("{e}")), None),
    };
    run.case(
        "Ed25519 public key, RFC 8032 test 2 (hsm-crypto)",
        || key.public_key(),
        |public| match public {
            Ok(public) => same("public key", &public, &ED25519_PUBLIC),
            Err(e) => Err(format!("{e}")),
        },
    );
    run.case(
        "Ed25519 sign, RFC 8032 test 2 (hsm-crypto)",
        || key.eddsa_sign(ED25519_MSG),
        |sig| match sig {
            Ok(sig) => same("signature", &sig, &ED25519_SIG),
            Err(e) => Err(format!("{e}")),
        },
    );
    run.case(
        "Ed25519 verify, RFC 8032 test 2 (hsm-crypto)",
        || Curve::Ed25519.verify_eddsa(&ED25519_PUBLIC, ED25519_MSG, &ED25519_SIG),
        |r| r.map_err(|e| format!("{e}")),
    );
}

fn aes_gcm(run: &mut Runner) {
    let cases: [(&str, &str, &[u8], &[u8]); 2] = [
        (
            "AES-128-GCM encrypt, GCM spec test case 4 (sym)",
            "AES-128-GCM decrypt, GCM spec test case 4 (sym)",
            &GCM_KEY_128,
            &GCM_CT_TAG_128,
        ),
        (
            "AES-256-GCM encrypt, GCM spec test case 16 (sym)",
            "AES-256-GCM decrypt, GCM spec test case 16 (sym)",
            &GCM_KEY_256,
            &GCM_CT_TAG_256,
        ),
    ];
    for (enc, dec, key, ct_tag) in cases {
        run.case(
            enc,
            || sym::aes(Mode::Gcm, Direction::Encrypt, key, &GCM_IV, &GCM_AAD, &GCM_PT),
            |out| match out {
                Ok(out) => same("ciphertext ‖ tag", &out, ct_tag),
                Err(e) => Err(format!("{e:?}")),
            },
        );
        run.case(
            dec,
            || sym::aes(Mode::Gcm, Direction::Decrypt, key, &GCM_IV, &GCM_AAD, ct_tag),
            |out| match out {
                Ok(out) => same("plaintext", &out, &GCM_PT),
                Err(e) => Err(format!("{e:?}")),
            },
        );
    }
    let mut forged = GCM_CT_TAG_128;
    forged[75] ^= 0x80;
    run.case(
        "AES-128-GCM decrypt rejects a changed tag (sym)",
        || sym::aes(Mode::Gcm, Direction::Decrypt, &GCM_KEY_128, &GCM_IV, &GCM_AAD, &forged),
        |out| match out {
            Err(sym::Error::Authentication) => Ok(()),
            Err(e) => Err(format!("wrong error {e:?}")),
            Ok(_) => Err(String::from("a forged message decrypted")),
        },
    );
}

fn rsa_2048(run: &mut Runner) {
    let mut key = None;
    run.case(
        "RSA-2048 load from p, q, e (hsm-crypto)",
        || RsaPrivateKey::from_pqe(&RSA_P, &RSA_Q, RSA_E),
        |k| match k {
            Ok(k) => {
                let modulus = k.modulus();
                key = Some(k);
                same("modulus", &modulus, &RSA_N)
            }
            Err(e) => Err(format!("{e}")),
        },
    );
    let Some(key) = key else { return };
    let hash = hsm_crypto::hash::sha256(&[RSA_MSG]);
    let mut rng = seeded_rng(7);
    run.case(
        "RSA-2048 PKCS#1 v1.5 SHA-256 sign, OpenSSL (hsm-crypto)",
        || key.sign_pkcs1v15(HashAlg::Sha256, &hash, &mut rng),
        |sig| match sig {
            Ok(sig) => same("signature", &sig, &RSA_SIG),
            Err(e) => Err(format!("{e}")),
        },
    );
    let public = key.public_key();
    let mut t = Vec::from(HashAlg::Sha256.digest_info_prefix());
    t.extend_from_slice(&hash);
    run.case(
        "RSA-2048 PKCS#1 v1.5 verify, OpenSSL (rsa)",
        || public.verify(rsa::Pkcs1v15Sign::new_unprefixed(), &t, &RSA_SIG),
        |r| r.map_err(|e| format!("{e}")),
    );
}

/// Appends the BER-TLV `tag`, `value` to `out`.
fn put(out: &mut Vec<u8>, tag: u16, value: &[u8]) {
    let mut header = [0u8; 7];
    out.extend_from_slice(hsm_apdu::tlv::header(tag, value.len(), &mut header));
    out.extend_from_slice(value);
}

/// An extended-length case 4 APDU (Le `00 00`).
fn extended_apdu(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(data.len()).unwrap_or(u16::MAX).to_be_bytes();
    let mut v = Vec::from([cla, ins, p1, p2, 0, len[0], len[1]]);
    v.extend_from_slice(data);
    v.extend_from_slice(&[0, 0]);
    v
}

/// The status word at the end of a response.
fn status(response: &[u8]) -> u16 {
    match response {
        [.., sw1, sw2] => u16::from_be_bytes([*sw1, *sw2]),
        _ => 0,
    }
}

/// `Ok` for a response that ends in 9000.
fn sw_9000(response: &[u8]) -> Result<(), String> {
    match status(response) {
        0x9000 => Ok(()),
        sw => Err(format!("status word {sw:04X}, want 9000")),
    }
}

/// The value at the end of a path of nested tags.
fn find<'a>(data: &'a [u8], path: &[u16]) -> Option<&'a [u8]> {
    path.iter()
        .try_fold(data, |d, tag| hsm_apdu::tlv::find(d, *tag).ok().flatten())
}

type TestCard = hsm_card::Card<hsm_card::testing::RamPlatform>;

/// Sends `apdu` to the card as one measured test that wants status word 9000; returns the
/// response (data and status word) when it got it.
fn transmit(run: &mut Runner, card: &mut TestCard, name: &str, apdu: &[u8]) -> Option<Vec<u8>> {
    let mut out = alloc::vec![0u8; hsm_card::RESPONSE_BUFFER_SIZE];
    let mut response = None;
    run.case(
        name,
        || {
            let n = card.transmit(apdu, &mut out);
            (n, out)
        },
        |(n, mut r)| {
            r.truncate(n);
            let ok = sw_9000(&r);
            response = ok.is_ok().then_some(r);
            ok
        },
    );
    response
}

fn card_session(run: &mut Runner) {
    use hsm_card::Card;
    use hsm_card::testing::RamPlatform;

    let mut card = None;
    run.case(
        "card power-on (RamPlatform, 544 KiB RAM flash)",
        || Card::new(RamPlatform::new(1)),
        |c| {
            card = Some(c);
            Ok(())
        },
    );
    let Some(mut card) = card else { return };
    let c = &mut card;
    if transmit(run, c, "card SELECT application", &SELECT_AID).is_none()
        || transmit(run, c, "card INITIALIZE", &INITIALIZE).is_none()
    {
        return;
    }
    // As `crates/hsm-card/tests/common`: reset (PIN state lost), select again, VERIFY.
    c.reset();
    if transmit(run, c, "card SELECT after reset", &SELECT_AID).is_none()
        || transmit(run, c, "card VERIFY user PIN", &VERIFY).is_none()
    {
        return;
    }

    let params = Curve::Secp256r1.params();
    let mut template = Vec::new();
    put(&mut template, 0x06, &OID_ECDSA);
    put(&mut template, 0x81, params.p);
    put(&mut template, 0x82, params.a);
    put(&mut template, 0x83, params.b);
    put(&mut template, 0x84, params.g);
    put(&mut template, 0x85, params.n);
    let mut data = Vec::new();
    put(&mut data, 0x5F29, &[0]);
    put(&mut data, 0x42, b"UTCA00001");
    put(&mut data, 0x7F49, &template);
    put(&mut data, 0x5F20, b"UTTM00001");
    let Some(request) = transmit(
        run,
        c,
        "card GENERATE ASYMMETRIC KEY PAIR P-256",
        &extended_apdu(0x00, 0x46, 1, 0x00, &data),
    ) else {
        return;
    };
    let body = request.get(..request.len().saturating_sub(2)).unwrap_or(&[]);
    let Some(point) = find(body, &[0x67, 0x7F21, 0x7F4E, 0x7F49, 0x86]).map(<[u8]>::to_vec) else {
        return run.report(
            "card CV request carries the public point",
            Err(format!("no 67/7F21/7F4E/7F49/86 in {}", hexs(body))),
            None,
        );
    };

    let hash = hsm_crypto::hash::sha256(&[b"signed on the emulated Cortex-M33"]);
    let Some(signature) = transmit(
        run,
        c,
        "card COMPUTE SIGNATURE ECDSA P-256 (hash)",
        &extended_apdu(0x80, 0x68, 1, 0x70, &hash),
    ) else {
        return;
    };
    let der = signature.get(..signature.len().saturating_sub(2)).unwrap_or(&[]);
    run.case(
        "card signature verifies with the CV request's key",
        || Curve::Secp256r1.verify_ecdsa_prehash(&point, &hash, der),
        |r| r.map_err(|e| format!("{e}: point {}, signature {}", hexs(&point), hexs(der))),
    );
}

#[cfg(feature = "keygen4096")]
fn rsa_4096_keygen(run: &mut Runner) {
    let mut rng = seeded_rng(0x42);
    let mut key = None;
    run.case(
        "RSA-4096 key generation, fixed-seed ChaCha20 (hsm-crypto)",
        || RsaPrivateKey::generate(4096, 65537, &mut rng),
        |k| match k {
            Ok(k) if k.bits() == 4096 => {
                key = Some(k);
                Ok(())
            }
            Ok(k) => Err(format!("{} bits", k.bits())),
            Err(e) => Err(format!("{e}")),
        },
    );
    let Some(key) = key else { return };
    let digest = hsm_crypto::hash::sha256(&[&key.modulus()]);
    run.report(
        "RSA-4096 modulus equals the x86-64 host's from the same seed",
        same("modulus SHA-256", &digest, &RSA4096_SEED42_MODULUS_SHA256),
        None,
    );
    let hash = hsm_crypto::hash::sha256(&[RSA_MSG]);
    let mut t = Vec::from(HashAlg::Sha256.digest_info_prefix());
    t.extend_from_slice(&hash);
    let public = key.public_key();
    run.case(
        "RSA-4096 PKCS#1 v1.5 SHA-256 sign (hsm-crypto)",
        || key.sign_pkcs1v15(HashAlg::Sha256, &hash, &mut rng),
        |sig| match sig {
            Ok(sig) => public
                .verify(rsa::Pkcs1v15Sign::new_unprefixed(), &t, &sig)
                .map_err(|e| format!("the new key's signature does not verify: {e}")),
            Err(e) => Err(format!("{e}")),
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Ending the run.

/// Stops after semihosting exit (qemu ends there; nothing should come back).
fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

fn finish_with(why: &str) -> ! {
    hprintln!("FAIL: {}", why);
    debug::exit(debug::EXIT_FAILURE);
    halt()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("FAIL: panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    halt()
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    hprintln!("FAIL: HardFault at pc {:#010x}, lr {:#010x}", frame.pc(), frame.lr());
    debug::exit(debug::EXIT_FAILURE);
    halt()
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    hprintln!("FAIL: unexpected exception or interrupt {}", irqn);
    debug::exit(debug::EXIT_FAILURE);
}
