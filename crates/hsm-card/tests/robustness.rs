//! Malformed and random input: every answer is a status word, nothing panics, a refused command
//! changes nothing.

use hsm_card::testing::RamPlatform;
use hsm_card::{Card, RESPONSE_BUFFER_SIZE};
use proptest::prelude::*;

fn run(card: &mut Card<RamPlatform>, apdu: &[u8]) -> (Vec<u8>, u16) {
    let mut out = [0u8; RESPONSE_BUFFER_SIZE];
    let n = card.transmit(apdu, &mut out);
    assert!((2..=out.len()).contains(&n));
    (out[..n - 2].to_vec(), u16::from_be_bytes([out[n - 2], out[n - 1]]))
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn ready(login: bool) -> Card<RamPlatform> {
    let mut c = Card::new(RamPlatform::new(99));
    assert_eq!(run(&mut c, &h("00A4040C0BE82B0601040181C31F0201")).1, 0x9000);
    assert_eq!(
        run(
            &mut c,
            &h("8050000019800200018106363438323139820835373632313838309101 03")
        )
        .1,
        0x9000
    );
    c.reset();
    run(&mut c, &h("00A4040C0BE82B0601040181C31F0201"));
    if login {
        assert_eq!(run(&mut c, &h("00200081 06 363438323139")).1, 0x9000);
    }
    c
}

#[test]
fn malformed_apdus_get_iso_status_words() {
    let mut c = ready(true);
    let cases: &[(&str, u16)] = &[
        ("00", 0x6700),
        ("00A404", 0x6700),
        ("00B1CF01 05 5402", 0x6700),
        ("00D7CF01 04 5305 0102", 0x6700),
        ("00D7CF01 03 54 02 00", 0x6700),
        ("80500000 04 8101", 0x6700),
        ("80500000 05 8102 3132", 0x6700),
        ("80500000 06 9102 0303 00", 0x6700),
        ("00200081 02 8101 00", 0x63C2),
        ("00A40000 03 2F0200", 0x6700),
        ("00A40800 03 3F0050", 0x6700),
        ("00A40400 05 A000000063 00", 0x6A82),
        ("00A40010 02 2F02 00", 0x6A86),
        ("00A40500 02 2F02 00", 0x6A86),
        ("00E40000 03 CF0100", 0x6700),
        ("002C0581 00", 0x6A86),
        ("002C0082 00", 0x6A88),
        ("A0840000 08", 0x6E00),
        ("00C00000 10", 0x6985),
    ];
    for (apdu, want) in cases {
        assert_eq!(run(&mut c, &h(apdu)).1, *want, "{apdu}");
    }
}

#[test]
fn refused_commands_change_nothing() {
    let mut c = ready(true);
    assert_eq!(run(&mut c, &h("00D7CF01 08 5402 0000 5302 AAAA")).1, 0x9000);
    let before = run(&mut c, &h("00B1CF01 04 54020000 00"));
    for bad in [
        "00D7CF01 09 5405 0000000000 5300",
        "00D7CF01 08 5402 0010 5302 BBBB",
        "00D7CF01 04 5302 BB",
    ] {
        assert_ne!(run(&mut c, &h(bad)).1, 0x9000, "{bad}");
    }
    assert_eq!(run(&mut c, &h("00B1CF01 04 54020000 00")), before);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_commands_never_panic(
        cmds in proptest::collection::vec(
            (prop::sample::select(vec![0x00u8, 0x80, 0x10, 0x0C]),
             prop::sample::select(vec![0xA4u8, 0xB0, 0xB1, 0xD7, 0xE4, 0x58, 0x20, 0x24, 0x2C, 0x84, 0x50, 0xC0, 0x12]),
             any::<u8>(), any::<u8>(),
             proptest::collection::vec(any::<u8>(), 0..300),
             any::<bool>()),
            1..24),
        login in any::<bool>(),
    ) {
        let mut c = ready(login);
        for (cla, ins, p1, p2, data, with_le) in cmds {
            let mut apdu = vec![cla, ins, p1, p2];
            if data.len() > 255 {
                apdu.push(0);
                apdu.extend_from_slice(&(data.len() as u16).to_be_bytes());
            } else if !data.is_empty() {
                apdu.push(data.len() as u8);
            }
            apdu.extend_from_slice(&data);
            if with_le {
                apdu.push(0);
            }
            let (resp, sw) = run(&mut c, &apdu);
            prop_assert!(resp.is_empty() || sw == 0x9000 || sw >> 8 == 0x61);
        }
    }
}
