//! A dudect-style timing check (Reparaz, Balasch, Verbauwhede, "Dude, is my code constant
//! time?", 2017) of the operations docs/security.md calls constant-time: two classes of secret
//! inputs, measurements interleaved in random order, Welch's t-test on the cycle-ish times
//! (`Instant`, nanoseconds). |t| below 4.5 means no leak was detected at that sample size, not that
//! none exists; it complements the code review of the same section.
//!
//! ```text
//! cargo run --release -p hsm-crypto --example ct_check [-- SAMPLES]
//! ```
//!
//! Classes:
//! * RSA-2048 raw private operation: input 1 (the extreme Montgomery value) vs random inputs;
//! * RSA-2048 PKCS#1 v1.5 decryption: valid padding vs random ciphertexts (bad padding, implicit
//!   rejection) — the "Marvin" question;
//! * RSA-2048 OAEP decryption: valid vs random ciphertexts (the error is public, the time must
//!   not tell more than the error);
//! * P-256 ECDSA: the scalar 1 vs random keys; P-256 ECDH: the same.

use std::hint::black_box;
use std::time::Instant;

use hsm_crypto::asym::rsa::RsaPrivateKey;
use hsm_crypto::asym::{Curve, EcPrivateKey};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use rsa::BoxedUint;
use rsa::traits::PublicKeyParts;

/// Welch's t statistic of two samples.
fn welch(a: &[f64], b: &[f64]) -> f64 {
    let stats = |v: &[f64]| {
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (mean, var, n)
    };
    let (ma, va, na) = stats(a);
    let (mb, vb, nb) = stats(b);
    (ma - mb) / (va / na + vb / nb).sqrt()
}

/// Drops the slowest 10 % of each class (interrupts, other processes), as dudect's cropping does.
fn crop(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v.truncate(v.len() * 9 / 10);
    v
}

/// Runs `op(class)` `samples` times in random class order and prints t.
fn check(name: &str, samples: usize, rng: &mut ChaCha20Rng, mut op: impl FnMut(bool, &mut ChaCha20Rng)) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        let class = rng.next_u32() & 1 == 1;
        let t = Instant::now();
        op(class, rng);
        let ns = t.elapsed().as_nanos() as f64;
        if class { a.push(ns) } else { b.push(ns) }
    }
    let t = welch(&crop(a.clone()), &crop(b.clone()));
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2] / 1e3
    };
    println!(
        "{name:<44} n = {samples:>6}  t = {t:>7.2}  {}  (medians {:.1} / {:.1} µs)",
        if t.abs() < 4.5 {
            "no leak detected"
        } else {
            "LEAK?  (|t| ≥ 4.5)"
        },
        median(a),
        median(b)
    );
}

fn encrypt_raw(public: &rsa::PublicKey, em: &[u8]) -> Vec<u8> {
    let m = BoxedUint::from_be_slice(em, public.n_bits_precision()).unwrap();
    let c = rsa::hazmat::rsa_encrypt(public, &m).unwrap();
    let bytes = c.to_be_bytes();
    bytes[bytes.len() - public.size()..].to_vec()
}

fn main() {
    let samples: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(4000);
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    let key = RsaPrivateKey::generate(2048, 65537, &mut rng).unwrap();
    let public = key.public_key();
    let k = key.size();

    // Inputs are made before the measurements, so both classes time the same work.
    let mut one = vec![0u8; k];
    one[k - 1] = 1;
    let randoms: Vec<Vec<u8>> = (0..64)
        .map(|_| {
            let mut v = vec![0u8; k];
            rng.fill_bytes(&mut v[1..]);
            v
        })
        .collect();
    let mut i = 0;
    check("RSA-2048 raw: input 1 vs random", samples, &mut rng, |class, rng| {
        i += 1;
        let input = if class { &one } else { &randoms[i % randoms.len()] };
        black_box(key.raw_private(input, rng).unwrap());
    });

    // Random messages below n, encrypted: almost surely bad paddings for both schemes.
    let bad: Vec<Vec<u8>> = randoms.iter().map(|em| encrypt_raw(&public, em)).collect();
    let valid = public.encrypt(&mut rng, rsa::Pkcs1v15Encrypt, &[0x11; 32]).unwrap();
    check(
        "RSA-2048 PKCS#1 v1.5: valid vs bad padding",
        samples,
        &mut rng,
        |class, rng| {
            i += 1;
            let ct = if class { &valid } else { &bad[i % bad.len()] };
            black_box(key.decrypt_pkcs1v15(ct, rng).unwrap());
        },
    );

    let valid = public
        .encrypt(&mut rng, rsa::Oaep::<sha2::Sha256>::new(), &[0x22; 32])
        .unwrap();
    check(
        "RSA-2048 OAEP: valid vs bad padding",
        samples,
        &mut rng,
        |class, rng| {
            i += 1;
            let ct = if class { &valid } else { &bad[i % bad.len()] };
            let _ = black_box(key.decrypt_oaep_sha256(ct, rng));
        },
    );

    let mut d1 = [0u8; 32];
    d1[31] = 1;
    // As many copies of the scalar-1 key as there are random keys, used in the same rotation: one
    // cache-hot key against 64 rotating ones measured the memory, not the arithmetic (|t| up to 11
    // on the machine of 2026-12-02).
    let smalls: Vec<EcPrivateKey> = (0..64)
        .map(|_| EcPrivateKey::from_bytes(Curve::Secp256r1, &d1).unwrap())
        .collect();
    let keys: Vec<EcPrivateKey> = (0..64)
        .map(|_| EcPrivateKey::generate(Curve::Secp256r1, &mut rng).unwrap())
        .collect();
    let mut i = 0;
    check(
        "P-256 ECDSA: scalar 1 vs random keys",
        samples * 4,
        &mut rng,
        |class, rng| {
            i += 1;
            let key = if class {
                &smalls[i % smalls.len()]
            } else {
                &keys[i % keys.len()]
            };
            black_box(key.ecdsa_sign_prehash(&[0x5A; 32], rng).unwrap());
        },
    );
    let peer = keys[0].public_key().unwrap();
    check(
        "P-256 ECDH: scalar 1 vs random keys",
        samples * 4,
        &mut rng,
        |class, _| {
            i += 1;
            let key = if class {
                &smalls[i % smalls.len()]
            } else {
                &keys[i % keys.len()]
            };
            black_box(key.ecdh(&peer).unwrap());
        },
    );
}
