//! Symmetric operations through the card (`Card::transmit` over a RAM platform) next to the same
//! operation called on `hsm-crypto` directly: AES-256-GCM and ChaCha20-Poly1305 on 1 KiB and
//! 2 KiB, HMAC-SHA256 and AES-CMAC on 1 KiB, PBKDF2-HMAC-SHA256 with 10,000 iterations. The
//! difference is the card's own cost: APDU parsing, unsealing the key record, the use-counter
//! check, response encoding. Through pcscd: `cargo xtask bench` (e2e `bench_symmetric`).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hsm_apdu::tlv;
use hsm_card::testing::RamPlatform;
use hsm_card::{Card, RESPONSE_BUFFER_SIZE};
use hsm_crypto::sym::{self, Direction, Md, Mode};

const KEY: [u8; 32] = [0x42; 32];
const NONCE: [u8; 12] = [7; 12];
const GCM256: [u8; 9] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2E];
const CHACHA: [u8; 11] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x10, 0x03, 0x12];
const HMAC_SHA256: [u8; 8] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x02, 0x09];
const PBKDF2: [u8; 9] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0C];
const SALT: &[u8] = b"salt salt salt s";

fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut hdr = [0u8; 7];
    let mut v = tlv::header(u16::from(tag), value.len(), &mut hdr).to_vec();
    v.extend_from_slice(value);
    v
}

fn cipher(p2: u8, data: &[u8], le: u16) -> Vec<u8> {
    let mut v = vec![0x80, 0x78, 1, p2, 0, (data.len() >> 8) as u8, data.len() as u8];
    v.extend_from_slice(data);
    v.extend_from_slice(&le.to_be_bytes());
    v
}

fn ext(oid: &[u8], data: &[u8], nonce: Option<&[u8]>) -> Vec<u8> {
    let mut v = tlv(0x06, oid);
    v.extend_from_slice(&tlv(0x81, data));
    if let Some(n) = nonce {
        v.extend_from_slice(&tlv(0x82, n));
    }
    v
}

fn run(card: &mut Card<RamPlatform>, out: &mut [u8], a: &[u8]) -> usize {
    let n = card.transmit(a, out);
    assert_eq!(&out[n - 2..n], &[0x90, 0x00], "APDU {:02X?}", &a[..4]);
    n
}

/// An initialized card, logged in, with `KEY` as secret key 1.
fn card() -> Card<RamPlatform> {
    let mut c = Card::new(RamPlatform::new(7));
    let mut out = vec![0u8; RESPONSE_BUFFER_SIZE];
    let select = hex::decode("00A4040C0BE82B0601040181C31F0201").unwrap();
    run(&mut c, &mut out, &select);
    let init = hex::decode("8050000019800200018106363438323139820835373632313838309101 03".replace(' ', "")).unwrap();
    run(&mut c, &mut out, &init);
    run(&mut c, &mut out, &hex::decode("0020008106363438323139").unwrap());
    c.install_secret_key(1, &KEY, &[]).unwrap();
    c
}

fn bench(c: &mut Criterion) {
    let mut card = card();
    let mut out = vec![0u8; RESPONSE_BUFFER_SIZE];
    let mut g = c.benchmark_group("symmetric");
    for size in [1024usize, 2048] {
        let data = vec![0x5A; size];
        for (name, oid, mode) in [
            ("aes-256-gcm", &GCM256[..], Some(Mode::Gcm)),
            ("chacha20-poly1305", &CHACHA[..], None),
        ] {
            let apdu = cipher(0x51, &ext(oid, &data, Some(&NONCE)), 0);
            g.bench_with_input(BenchmarkId::new(format!("{name} card"), size), &apdu, |b, a| {
                b.iter(|| run(&mut card, &mut out, a))
            });
            g.bench_with_input(BenchmarkId::new(format!("{name} crate"), size), &data, |b, d| {
                b.iter(|| match mode {
                    Some(m) => sym::aes(m, Direction::Encrypt, &KEY, &NONCE, &[], d).unwrap(),
                    None => sym::chacha20poly1305(Direction::Encrypt, &KEY, &NONCE, &[], d).unwrap(),
                })
            });
        }
    }
    let kib = vec![0x5A; 1024];
    let hmac = cipher(0x51, &ext(&HMAC_SHA256, &kib, None), 0);
    g.bench_function("hmac-sha256 card/1024", |b| b.iter(|| run(&mut card, &mut out, &hmac)));
    g.bench_function("hmac-sha256 crate/1024", |b| {
        b.iter(|| sym::hmac(Md::Sha256, &KEY, &kib))
    });
    let cmac = cipher(0x18, &kib, 0);
    g.bench_function("aes-cmac card/1024", |b| b.iter(|| run(&mut card, &mut out, &cmac)));
    g.bench_function("aes-cmac crate/1024", |b| b.iter(|| sym::cmac(&KEY, &kib).unwrap()));
    g.sample_size(10);
    let mut params = tlv(0x04, SALT);
    params.extend_from_slice(&tlv(0x02, &10_000u16.to_be_bytes()));
    params.extend_from_slice(&tlv(0x30, &tlv(0x06, &HMAC_SHA256)));
    let pbkdf2 = cipher(0x51, &ext(&PBKDF2, &params, None), 32);
    g.bench_function("pbkdf2-sha256-10000 card", |b| {
        b.iter(|| run(&mut card, &mut out, &pbkdf2))
    });
    g.bench_function("pbkdf2-sha256-10000 crate", |b| {
        b.iter(|| {
            let mut dk = [0u8; 32];
            sym::pbkdf2(Md::Sha256, &KEY, SALT, 10_000, &mut dk).unwrap();
            dk
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
