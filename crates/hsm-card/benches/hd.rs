//! HD keys through the card (`Card::transmit` over a RAM platform): the xpub of paths of depth
//! 0, 1, 5 and 10 (hardened and normal children, secp256k1 and NIST P-256), so the slope gives
//! the cost of one derivation level; an HD signature (4A 10 on a depth-5 path, then 68 A0); and
//! one derivation step in `hsm-crypto` alone. Through pcscd: the e2e test `hd` prints medians.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hsm_card::testing::RamPlatform;
use hsm_card::{Card, RESPONSE_BUFFER_SIZE};
use hsm_crypto::hd::{EcNode, HARDENED, HdCurve};

const SEED: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

fn apdu(ins: u8, p1: u8, p2: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, ins, p1, p2, 0, (data.len() >> 8) as u8, data.len() as u8];
    v.extend_from_slice(data);
    v.extend_from_slice(&[0, 0]);
    v
}

fn path(slot: u8, indices: &[u32]) -> Vec<u8> {
    let mut v = vec![0x02, 0x01, slot];
    for i in indices {
        v.extend_from_slice(&[0x02, 0x04]);
        v.extend_from_slice(&i.to_be_bytes());
    }
    v
}

fn run(card: &mut Card<RamPlatform>, out: &mut [u8], a: &[u8]) -> usize {
    let n = card.transmit(a, out);
    assert_eq!(&out[n - 2..n], &[0x90, 0x00], "APDU {:02X?}", &a[..4]);
    n
}

/// An initialized card, logged in, with masters of [`SEED`] on secp256k1 (slot 0) and P-256 (slot 1).
fn card() -> Card<RamPlatform> {
    let mut c = Card::new(RamPlatform::new(7));
    let mut out = vec![0u8; RESPONSE_BUFFER_SIZE];
    let select = hex::decode("00A4040C0BE82B0601040181C31F0201").unwrap();
    run(&mut c, &mut out, &select);
    let init = hex::decode("8050000019800200018106363438323139820835373632313838309101 03".replace(' ', "")).unwrap();
    run(&mut c, &mut out, &init);
    run(&mut c, &mut out, &hex::decode("0020008106363438323139").unwrap());
    run(&mut c, &mut out, &apdu(0x4A, 0x01, 0, &SEED));
    run(&mut c, &mut out, &apdu(0x4A, 0x02, 1, &SEED));
    c
}

fn bench(c: &mut Criterion) {
    let mut card = card();
    let mut out = vec![0u8; RESPONSE_BUFFER_SIZE];
    let mut g = c.benchmark_group("hd xpub (80 4A 0A)");
    g.sample_size(20);
    for (slot, curve) in [(0u8, "secp256k1"), (1, "P-256")] {
        for hardened in [true, false] {
            for depth in [0u32, 1, 5, 10] {
                let p: Vec<u32> = (0..depth).map(|i| if hardened { HARDENED + i } else { i }).collect();
                let a = apdu(0x4A, 0x0A, 0, &path(slot, &p));
                let name = format!("{curve} {}", if hardened { "hardened" } else { "normal" });
                g.bench_with_input(BenchmarkId::new(name, depth), &a, |b, a| {
                    b.iter(|| run(&mut card, &mut out, a))
                });
            }
        }
    }
    g.finish();

    let mut g = c.benchmark_group("hd signature (4A 10 depth 5 + 68 A0)");
    g.sample_size(20);
    for (slot, curve) in [(0u8, "secp256k1"), (1, "P-256")] {
        let keep = apdu(0x4A, 0x10, 0, &path(slot, &[HARDENED + 44, HARDENED, HARDENED, 0, 0]));
        let sign = apdu(0x68, 0x00, 0xA0, &[0x5A; 32]);
        g.bench_function(curve, |b| {
            b.iter(|| {
                run(&mut card, &mut out, &keep);
                run(&mut card, &mut out, &sign)
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("hd step (hsm-crypto)");
    g.sample_size(20);
    for curve in [HdCurve::Secp256k1, HdCurve::Nist256p1] {
        let m = EcNode::master(curve, &SEED).unwrap();
        g.bench_function(format!("{curve:?} hardened child"), |b| {
            b.iter(|| m.child(HARDENED).unwrap())
        });
        g.bench_function(format!("{curve:?} normal child"), |b| b.iter(|| m.child(0).unwrap()));
        g.bench_function(format!("{curve:?} public key"), |b| b.iter(|| m.public_key().unwrap()));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
