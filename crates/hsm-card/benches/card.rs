//! In-process benchmarks of the card core over a RAM platform: APDU round trip and PIN verification.

use criterion::{Criterion, criterion_group, criterion_main};
use hsm_card::testing::RamPlatform;
use hsm_card::{Card, RESPONSE_BUFFER_SIZE};

fn apdu(hex: &str) -> Vec<u8> {
    let clean: String = hex.chars().filter(|c| !c.is_whitespace()).collect();
    (0..clean.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).unwrap())
        .collect()
}

fn ready_card() -> Card<RamPlatform> {
    let mut card = Card::new(RamPlatform::new(42));
    let mut out = [0u8; RESPONSE_BUFFER_SIZE];
    for a in [
        "00A4040C0BE82B0601040181C31F0201",
        "8050000019 80020001 8106363438323139 82083537363231383830 910103",
    ] {
        let n = card.transmit(&apdu(a), &mut out);
        assert_eq!(&out[n - 2..n], &[0x90, 0x00]);
    }
    card
}

fn bench(c: &mut Criterion) {
    let mut card = ready_card();
    let mut out = [0u8; RESPONSE_BUFFER_SIZE];
    let select = apdu("00A4040C0BE82B0601040181C31F0201");
    c.bench_function("apdu_select_aid", |b| b.iter(|| card.transmit(&select, &mut out)));
    let challenge = apdu("0084000008");
    c.bench_function("apdu_get_challenge_8", |b| {
        b.iter(|| card.transmit(&challenge, &mut out))
    });
    let read = apdu("00B12F02 04 54020000 00");
    c.bench_function("apdu_read_binary_c_devaut_256", |b| {
        b.iter(|| card.transmit(&read, &mut out))
    });
    let verify = apdu("00200081 06 363438323139");
    c.bench_function("apdu_verify_user_pin", |b| {
        b.iter(|| {
            let n = card.transmit(&verify, &mut out);
            assert_eq!(&out[n - 2..n], &[0x90, 0x00]);
        })
    });
    let update = {
        let mut a = apdu("00D7CF01 000408 5402 0000 5382 0400");
        a.extend(std::iter::repeat_n(0xA5, 1024));
        a
    };
    c.bench_function("apdu_update_binary_1k", |b| {
        b.iter(|| {
            let n = card.transmit(&update, &mut out);
            assert_eq!(&out[n - 2..n], &[0x90, 0x00]);
        })
    });
    c.bench_function("initialize_with_device_key", |b| {
        b.iter_batched(
            || {
                let mut c = Card::new(RamPlatform::new(7));
                c.transmit(&select, &mut out);
                c
            },
            |mut c| {
                let mut o = [0u8; RESPONSE_BUFFER_SIZE];
                c.transmit(
                    &apdu("8050000019 80020001 8106363438323139 82083537363231383830 910103"),
                    &mut o,
                )
            },
            criterion::BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
