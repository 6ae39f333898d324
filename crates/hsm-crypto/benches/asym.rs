//! Direct-call baselines for the card benches: key generation, signatures, decryption and key
//! agreement as `hsm-crypto` performs them (`cargo bench -p hsm-crypto --bench asym`).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use hsm_crypto::asym::rsa::{HashAlg, RsaPrivateKey};
use hsm_crypto::asym::{Curve, EcPrivateKey};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::from_seed([0x42; 32])
}

fn ec(c: &mut Criterion) {
    let mut rng = rng();
    for curve in [
        Curve::Secp256r1,
        Curve::Secp384r1,
        Curve::Ed25519,
        Curve::X25519,
        Curve::BrainpoolP512r1,
    ] {
        let name = format!("{curve:?}");
        c.bench_function(&format!("{name}/keygen"), |b| {
            b.iter(|| EcPrivateKey::generate(curve, &mut rng).unwrap())
        });
        let key = EcPrivateKey::generate(curve, &mut rng).unwrap();
        let peer = EcPrivateKey::generate(curve, &mut rng).unwrap().public_key().unwrap();
        match curve {
            Curve::Ed25519 => {
                c.bench_function(&format!("{name}/sign"), |b| {
                    b.iter(|| key.eddsa_sign(black_box(b"message")).unwrap())
                });
            }
            Curve::X25519 => {
                c.bench_function(&format!("{name}/ecdh"), |b| {
                    b.iter(|| key.ecdh(black_box(&peer)).unwrap())
                });
            }
            _ => {
                let hash = [0x5au8; 32];
                c.bench_function(&format!("{name}/sign"), |b| {
                    b.iter(|| key.ecdsa_sign_prehash(black_box(&hash), &mut rng).unwrap())
                });
                c.bench_function(&format!("{name}/ecdh"), |b| {
                    b.iter(|| key.ecdh(black_box(&peer)).unwrap())
                });
                c.bench_function(&format!("{name}/derive"), |b| {
                    b.iter(|| key.derive_additive(black_box(&[7u8; 32])).unwrap())
                });
            }
        }
    }
}

fn rsa(c: &mut Criterion) {
    let mut rng = rng();
    c.bench_function("Rsa2048/keygen", |b| {
        b.iter(|| RsaPrivateKey::generate(2048, 65537, &mut rng).unwrap())
    });
    for bits in [2048usize, 4096] {
        let key = RsaPrivateKey::generate(bits, 65537, &mut rng).unwrap();
        let public = key.public_key();
        let hash = [0x33u8; 32];
        c.bench_function(&format!("Rsa{bits}/sign_pkcs1v15"), |b| {
            b.iter(|| key.sign_pkcs1v15(HashAlg::Sha256, black_box(&hash), &mut rng).unwrap())
        });
        c.bench_function(&format!("Rsa{bits}/sign_pss"), |b| {
            b.iter(|| key.sign_pss(HashAlg::Sha256, black_box(&hash), &mut rng).unwrap())
        });
        let ct = public.encrypt(&mut rng, rsa::Pkcs1v15Encrypt, b"session key").unwrap();
        c.bench_function(&format!("Rsa{bits}/decrypt_pkcs1v15"), |b| {
            b.iter(|| key.decrypt_pkcs1v15(black_box(&ct), &mut rng).unwrap())
        });
        let ct = public
            .encrypt(&mut rng, rsa::Oaep::<sha2::Sha256>::new(), b"session key")
            .unwrap();
        c.bench_function(&format!("Rsa{bits}/decrypt_oaep_sha256"), |b| {
            b.iter(|| key.decrypt_oaep_sha256(black_box(&ct), &mut rng).unwrap())
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = ec, rsa
}
criterion_main!(benches);
