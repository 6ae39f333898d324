//! Cost of secure messaging per APDU in the card core (RAM platform): the same command plain and
//! protected. The protected commands are wrapped beforehand by the host client of
//! `tests/src/sm_client.rs` (outside the timing), so the figures are the card's own work: MAC check,
//! decryption, dispatch, encryption and MAC of the answer. One GENERAL AUTHENTICATE is measured too.

#[path = "../../../tests/src/sm_client.rs"]
mod sm_client;

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use hsm_card::testing::RamPlatform;
use hsm_card::{Card, RESPONSE_BUFFER_SIZE};
use sm_client::{Handshake, Session};

fn apdu(hex: &str) -> Vec<u8> {
    let clean: String = hex.chars().filter(|c| !c.is_whitespace()).collect();
    (0..clean.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).unwrap())
        .collect()
}

fn send(card: &mut Card<RamPlatform>, a: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; RESPONSE_BUFFER_SIZE];
    let n = card.transmit(a, &mut out);
    out.truncate(n);
    out
}

fn ready_card() -> (Card<RamPlatform>, Vec<u8>) {
    let mut card = Card::new(RamPlatform::new(42));
    for a in [
        "00A4040C0BE82B0601040181C31F0201",
        "8050000019 80020001 8106363438323139 82083537363231383830 910103",
    ] {
        assert!(send(&mut card, &apdu(a)).ends_with(&[0x90, 0x00]));
    }
    let cvc = send(&mut card, &apdu("00B12F02 000004 54020000 0000"));
    let point = sm_client::cvc_public_point(&cvc[..cvc.len() - 2]).unwrap();
    (card, point)
}

fn open(card: &mut Card<RamPlatform>, point: &[u8]) -> Session {
    assert!(send(card, &sm_client::mse_set_at()).ends_with(&[0x90, 0x00]));
    let hs = Handshake::new(&[7; 32]);
    let r = send(card, &hs.general_authenticate());
    hs.finish(point, &r[..r.len() - 2]).unwrap()
}

/// Times `iters` protected commands made by `make` (wrapped before the clock starts).
fn protected(
    card: &mut Card<RamPlatform>,
    point: &[u8],
    iters: u64,
    make: &dyn Fn(&mut Session) -> Vec<u8>,
) -> Duration {
    let mut s = open(card, point);
    let cmds: Vec<Vec<u8>> = (0..iters)
        .map(|_| {
            let c = make(&mut s);
            s.ssc += 1; // the answer's SSC
            c
        })
        .collect();
    let mut out = vec![0u8; RESPONSE_BUFFER_SIZE];
    let start = Instant::now();
    for c in &cmds {
        let n = card.transmit(c, &mut out);
        debug_assert_eq!(&out[n - 2..n], &[0x90, 0x00]);
    }
    let t = start.elapsed();
    let n = card.transmit(&cmds[cmds.len() - 1], &mut out);
    assert_eq!(&out[n - 2..n], &[0x69, 0x88], "replay refused");
    t
}

fn bench(c: &mut Criterion) {
    let (mut card, point) = ready_card();
    let mut out = vec![0u8; RESPONSE_BUFFER_SIZE];
    let read = apdu("00B12F02 000004 54020000 0000");
    c.bench_function("sm_read_binary_c_devaut_plain", |b| {
        b.iter(|| card.transmit(&read, &mut out))
    });
    c.bench_function("sm_read_binary_c_devaut_protected", |b| {
        b.iter_custom(|iters| {
            protected(&mut card, &point, iters, &|s| {
                s.wrap(0, 0xB1, 0x2F, 0x02, &[0x54, 2, 0, 0], Some(65536))
            })
        })
    });
    let challenge = apdu("0084000008");
    c.bench_function("sm_get_challenge_8_plain", |b| {
        b.iter(|| card.transmit(&challenge, &mut out))
    });
    c.bench_function("sm_get_challenge_8_protected", |b| {
        b.iter_custom(|iters| protected(&mut card, &point, iters, &|s| s.wrap(0, 0x84, 0, 0, &[], Some(8))))
    });
    let mse = sm_client::mse_set_at();
    let ga = Handshake::new(&[7; 32]).general_authenticate();
    c.bench_function("sm_general_authenticate", |b| {
        b.iter(|| {
            card.transmit(&mse, &mut out);
            let n = card.transmit(&ga, &mut out);
            assert_eq!(&out[n - 2..n], &[0x90, 0x00]);
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
