//! Host tests of the CCID core: message handling, packetising, robustness (unit + proptest).

extern crate std;

use std::vec;
use std::vec::Vec;

use proptest::prelude::*;

use crate::error::*;
use crate::*;

/// The SmartCard-HSM ATR (hsm-card), 24 bytes.
const ATR: [u8; 24] = [
    0x3B, 0xFE, 0x18, 0x00, 0x00, 0x81, 0x31, 0xFE, 0x45, 0x80, 0x31, 0x81, 0x54, 0x48, 0x53, 0x4D, 0x31, 0x73, 0x80,
    0x21, 0x40, 0x81, 0x07, 0xFA,
];

/// Large enough for a 4096-byte extended APDU: 7-byte header + 4096 data + 2-byte Le.
const BIG: usize = 4096 + 9 + HEADER_LEN;

/// An owned [`Event`].
#[derive(Debug, PartialEq, Eq)]
enum Ev {
    None,
    PowerOn,
    PowerOff,
    Command(Vec<u8>, u8),
    Aborted(u8),
}

impl From<Event<'_>> for Ev {
    fn from(e: Event<'_>) -> Self {
        match e {
            Event::None => Ev::None,
            Event::PowerOn => Ev::PowerOn,
            Event::PowerOff => Ev::PowerOff,
            Event::Command { apdu, seq } => Ev::Command(apdu.to_vec(), seq),
            Event::Aborted { seq } => Ev::Aborted(seq),
        }
    }
}

fn message(ty: u8, slot: u8, seq: u8, p: [u8; 3], data: &[u8]) -> Vec<u8> {
    let mut m = vec![ty];
    m.extend_from_slice(&(data.len() as u32).to_le_bytes());
    m.extend_from_slice(&[slot, seq]);
    m.extend_from_slice(&p);
    m.extend_from_slice(data);
    m
}

/// Sends one message the way a host does: 64-byte packets, no ZLP. Returns the non-None events.
fn send<const N: usize>(c: &mut Ccid<'_, N>, m: &[u8]) -> Vec<Ev> {
    let mut events = Vec::new();
    let mut chunks: Vec<&[u8]> = m.chunks(PACKET_SIZE).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    for p in chunks {
        let e = Ev::from(c.receive(p));
        if e != Ev::None {
            events.push(e);
        }
    }
    events
}

/// Drains bulk-IN, checks the packet rules, and returns the messages (one per transfer).
fn drain<const N: usize>(c: &mut Ccid<'_, N>) -> Vec<Vec<u8>> {
    let mut msgs = Vec::new();
    let mut cur = Vec::new();
    let mut open = false;
    while let Some(p) = c.next_in_packet() {
        assert!(p.len() <= PACKET_SIZE);
        cur.extend_from_slice(p);
        open = true;
        if p.len() < PACKET_SIZE {
            msgs.push(core::mem::take(&mut cur));
            open = false;
        }
    }
    assert!(!open, "transfer not terminated by a short packet or ZLP");
    assert!(c.pending_in().is_empty());
    for m in &msgs {
        let len = u32::from_le_bytes([m[1], m[2], m[3], m[4]]) as usize;
        assert_eq!(m.len(), HEADER_LEN + len, "dwLength matches the transfer");
    }
    msgs
}

/// Drains exactly one answer.
fn one<const N: usize>(c: &mut Ccid<'_, N>) -> Vec<u8> {
    let mut msgs = drain(c);
    assert_eq!(msgs.len(), 1, "expected exactly one answer, got {msgs:02x?}");
    msgs.remove(0)
}

fn none<const N: usize>(c: &mut Ccid<'_, N>) {
    let msgs = drain(c);
    assert!(msgs.is_empty(), "expected no answer, got {msgs:02x?}");
}

/// Checks (type, slot, seq, status, error) of an answer; returns its data.
fn check(m: &[u8], ty: u8, slot: u8, seq: u8, status: u8, err: u8) -> Vec<u8> {
    assert_eq!(m[0], ty, "type in {m:02x?}");
    assert_eq!(m[5], slot, "slot in {m:02x?}");
    assert_eq!(m[6], seq, "seq in {m:02x?}");
    assert_eq!(m[7], status, "status in {m:02x?}");
    assert_eq!(m[8], err, "error in {m:02x?}");
    m[HEADER_LEN..].to_vec()
}

fn slot_status<const N: usize>(c: &mut Ccid<'_, N>, seq: u8) -> u8 {
    assert_eq!(send(c, &message(0x65, 0, seq, [0; 3], &[])), vec![]);
    let m = one(c);
    check(&m, 0x81, 0, seq, m[7], 0);
    assert_eq!(m[7] & 0xC0, 0, "command ok");
    m[7]
}

fn power_on<const N: usize>(c: &mut Ccid<'_, N>, seq: u8) {
    assert_eq!(send(c, &message(0x62, 0, seq, [0; 3], &[])), vec![Ev::PowerOn]);
    let data = check(&one(c), 0x80, 0, seq, 0x00, 0);
    assert_eq!(data, ATR);
}

fn extended_apdu(n: usize) -> Vec<u8> {
    let mut a = vec![0x80, 0x78, 0x01, 0x51, 0x00, (n >> 8) as u8, n as u8];
    a.extend((0..n).map(|i| (i * 7 + 3) as u8));
    a.extend_from_slice(&[0x00, 0x00]);
    a
}

// ------------------------------------------------------------------ descriptor

#[test]
fn class_descriptor_fields() {
    let d = CLASS_DESCRIPTOR;
    assert_eq!(d.len(), 0x36);
    assert_eq!(d[0], 0x36);
    assert_eq!(d[1], 0x21);
    assert_eq!(&d[2..4], &[0x10, 0x01]);
    assert_eq!(d[4], 0, "one slot");
    assert_eq!(d[5], 0x01, "5 V");
    let u32_at = |i: usize| u32::from_le_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]);
    assert_eq!(u32_at(6), 3, "T=0|T=1");
    assert_eq!(u32_at(10), 3580);
    assert_eq!(u32_at(14), 3580);
    assert_eq!(d[18], 0);
    assert_eq!(u32_at(19), 9600);
    assert_eq!(u32_at(23), 9600);
    assert_eq!(d[27], 0);
    assert_eq!(u32_at(28), 254);
    assert_eq!(u32_at(32), 0);
    assert_eq!(u32_at(36), 0);
    assert_eq!(u32_at(40), 0x0004_0840);
    assert_eq!(u32_at(44), 2048 + 10);
    assert_eq!(&d[48..50], &[0xFF, 0xFF]);
    assert_eq!(&d[50..53], &[0, 0, 0], "no LCD, no PIN pad");
    assert_eq!(d[53], 1, "one busy slot");
    assert_eq!(<Ccid<'static>>::CLASS_DESCRIPTOR, CLASS_DESCRIPTOR);
    let big = Ccid::<'static, BIG>::CLASS_DESCRIPTOR;
    assert_eq!(u32::from_le_bytes([big[44], big[45], big[46], big[47]]), BIG as u32);
}

#[test]
fn notify_slot_change_message() {
    assert_eq!(NOTIFY_SLOT_CHANGE_PRESENT, [0x50, 0x03]);
    assert_eq!(notify_slot_change(true, false), [0x50, 0x01]);
    assert_eq!(notify_slot_change(false, true), [0x50, 0x02]);
}

// ------------------------------------------------------------------ power and status

#[test]
fn power_cycle() {
    let mut c: Ccid<'_> = Ccid::new(&ATR);
    assert_eq!(slot_status(&mut c, 1), ICC_INACTIVE);
    power_on(&mut c, 2);
    assert!(c.icc_active());
    assert_eq!(slot_status(&mut c, 3), ICC_ACTIVE);
    // A second IccPowerOn is a warm reset: ATR again.
    power_on(&mut c, 4);
    assert_eq!(send(&mut c, &message(0x63, 0, 5, [0; 3], &[])), vec![Ev::PowerOff]);
    check(&one(&mut c), 0x81, 0, 5, ICC_INACTIVE, 0);
    assert_eq!(slot_status(&mut c, 6), ICC_INACTIVE);
    // Bad bPowerSelect.
    assert_eq!(send(&mut c, &message(0x62, 0, 7, [9, 0, 0], &[])), vec![]);
    check(&one(&mut c), 0x80, 0, 7, 0x41, 7);
}

#[test]
fn xfr_block_on_inactive_card_is_mute() {
    let mut c: Ccid<'_> = Ccid::new(&ATR);
    assert_eq!(send(&mut c, &message(0x6F, 0, 9, [0; 3], &[0, 0xA4, 0, 0])), vec![]);
    check(&one(&mut c), 0x80, 0, 9, 0x41, ICC_MUTE);
    assert!(!c.is_busy());
}

// ------------------------------------------------------------------ APDU exchange

#[test]
fn short_apdu_round_trip() {
    let mut c: Ccid<'_> = Ccid::new(&ATR);
    power_on(&mut c, 0);
    let apdu = [0x00, 0x84, 0x00, 0x00, 0x08];
    assert_eq!(
        send(&mut c, &message(0x6F, 0, 0x11, [0; 3], &apdu)),
        vec![Ev::Command(apdu.to_vec(), 0x11)]
    );
    none(&mut c);
    assert_eq!(c.pending_command(), Some((&apdu[..], 0x11)));
    let rapdu = [1, 2, 3, 4, 5, 6, 7, 8, 0x90, 0x00];
    assert_eq!(c.respond(&rapdu), Ok(()));
    assert_eq!(check(&one(&mut c), 0x80, 0, 0x11, 0, 0), rapdu);
    assert!(!c.is_busy());
    assert_eq!(c.respond(&rapdu), Err(RespondError::NotBusy));
    none(&mut c);
}

#[test]
fn extended_apdu_4096_over_64_byte_packets() {
    let mut c: Ccid<'_, BIG> = Ccid::new(&ATR);
    power_on(&mut c, 0);
    let apdu = extended_apdu(4096);
    let m = message(0x6F, 0, 0x42, [0; 3], &apdu);
    assert_eq!(m.len(), BIG);
    assert_eq!(send(&mut c, &m), vec![Ev::Command(apdu.clone(), 0x42)]);
    // And a 4096-byte response (+SW), sent back in 64-byte packets.
    let mut rapdu: Vec<u8> = (0..4096).map(|i| i as u8).collect();
    rapdu.extend_from_slice(&[0x90, 0x00]);
    c.respond(&rapdu).unwrap();
    assert_eq!(check(&one(&mut c), 0x80, 0, 0x42, 0, 0), rapdu);
}

#[test]
fn extended_apdu_too_long_for_default_buffer() {
    let mut c: Ccid<'_> = Ccid::new(&ATR);
    power_on(&mut c, 0);
    let apdu = extended_apdu(4096);
    assert_eq!(send(&mut c, &message(0x6F, 0, 0x43, [0; 3], &apdu)), vec![]);
    check(&one(&mut c), 0x80, 0, 0x43, 0x40, BAD_LENGTH);
    assert_eq!(slot_status(&mut c, 0x44), ICC_ACTIVE);
    // The largest that fits: N - 10 = 2048 bytes, a 64-multiple message (2058 is not).
    let apdu = vec![0x5A; 2048];
    assert_eq!(
        send(&mut c, &message(0x6F, 0, 0x45, [0; 3], &apdu)),
        vec![Ev::Command(apdu, 0x45)]
    );
}

#[test]
fn out_messages_of_exact_packet_multiples_complete_without_zlp() {
    for total in [64usize, 128, 2048, 1024, 63, 65, 127, 129, 2047, 2058] {
        let mut c: Ccid<'_> = Ccid::new(&ATR);
        power_on(&mut c, 0);
        let apdu: Vec<u8> = (0..total - HEADER_LEN).map(|i| i as u8).collect();
        let m = message(0x6F, 0, total as u8, [0; 3], &apdu);
        assert_eq!(send(&mut c, &m), vec![Ev::Command(apdu, total as u8)], "total {total}");
        // A ZLP the host might still send is ignored.
        assert_eq!(Ev::from(c.receive(&[])), Ev::None);
        none(&mut c);
        c.respond(&[0x90, 0x00]).unwrap();
        check(&one(&mut c), 0x80, 0, total as u8, 0, 0);
    }
}

#[test]
fn in_packets_end_with_short_packet_or_zlp() {
    for data_len in [0usize, 1, 52, 53, 54, 55, 117, 118, 119, 2038, 2047, 2048] {
        let mut c: Ccid<'_> = Ccid::new(&ATR);
        power_on(&mut c, 0);
        let _ = send(&mut c, &message(0x6F, 0, 1, [0; 3], &[0, 0xB0, 0, 0, 0]));
        let rapdu: Vec<u8> = (0..data_len).map(|i| i as u8).collect();
        c.respond(&rapdu).unwrap();
        let mut packets = Vec::new();
        while let Some(p) = c.next_in_packet() {
            packets.push(p.to_vec());
        }
        let total = HEADER_LEN + data_len;
        let full = total / PACKET_SIZE;
        let expect_zlp = total.is_multiple_of(PACKET_SIZE);
        assert_eq!(packets.len(), full + 1, "data_len {data_len}");
        assert!(packets[..full].iter().all(|p| p.len() == PACKET_SIZE));
        assert_eq!(packets[full].len(), if expect_zlp { 0 } else { total % PACKET_SIZE });
        assert_eq!(packets.concat()[HEADER_LEN..], rapdu[..]);
        assert_eq!(c.next_in_packet(), None);
    }
}

#[test]
fn zero_copy_response() {
    let mut c: Ccid<'_> = Ccid::new(&ATR);
    assert!(c.response_buffer().is_none());
    power_on(&mut c, 0);
    let _ = send(&mut c, &message(0x6F, 0, 3, [0; 3], &[0, 0xCA, 0, 0]));
    assert!(c.time_extension());
    check(&one(&mut c), 0x80, 0, 3, 0x80, 1);
    let buf = c.response_buffer().unwrap();
    assert_eq!(buf.len(), 2048);
    buf[..3].copy_from_slice(&[7, 0x90, 0x00]);
    c.finish_response(3).unwrap();
    assert_eq!(check(&one(&mut c), 0x80, 0, 3, 0, 0), [7, 0x90, 0x00]);
    assert_eq!(c.finish_response(3), Err(RespondError::NotBusy));
}

#[test]
fn response_too_long_is_an_overrun() {
    let mut c: Ccid<'_> = Ccid::new(&ATR);
    power_on(&mut c, 0);
    let _ = send(&mut c, &message(0x6F, 0, 3, [0; 3], &[0, 0xCA, 0, 0]));
    assert_eq!(c.respond(&[0; 2049]), Err(RespondError::TooLong));
    check(&one(&mut c), 0x80, 0, 3, 0x40, XFR_OVERRUN);
    assert!(!c.is_busy());
    let _ = send(&mut c, &message(0x6F, 0, 4, [0; 3], &[0, 0xCA, 0, 0]));
    assert_eq!(c.finish_response(2049), Err(RespondError::TooLong));
    check(&one(&mut c), 0x80, 0, 4, 0x40, XFR_OVERRUN);
}

// ------------------------------------------------------------------ busy, time extension, abort

#[test]
fn time_extension_and_busy() {
    let mut c: Ccid<'_> = Ccid::new(&ATR);
    assert!(!c.time_extension());
    none(&mut c);
    power_on(&mut c, 0);
    let _ = send(&mut c, &message(0x6F, 0, 0x20, [0; 3], &[0, 0x46, 0, 0x01]));
    for _ in 0..3 {
        assert!(c.time_extension());
        let m = one(&mut c);
        assert_eq!(m, [0x80, 0, 0, 0, 0, 0, 0x20, 0x80, 0x01, 0x00]);
    }
    // Everything but GetSlotStatus / Abort is answered CMD_SLOT_BUSY for its own bSeq.
    for (ty, resp) in [
        (0x6F, 0x80),
        (0x62, 0x80),
        (0x63, 0x81),
        (0x6C, 0x82),
        (0x61, 0x82),
        (0x6B, 0x83),
        (0x73, 0x84),
    ] {
        assert_eq!(send(&mut c, &message(ty, 0, 0x21, [0; 3], &[1, 2, 3])), vec![]);
        check(&one(&mut c), resp, 0, 0x21, 0x40, CMD_SLOT_BUSY);
    }
    // A long message while busy is answered from its header, the rest dropped.
    let long = message(0x6F, 0, 0x22, [0; 3], &[0xEE; 300]);
    assert_eq!(send(&mut c, &long), vec![]);
    check(&one(&mut c), 0x80, 0, 0x22, 0x40, CMD_SLOT_BUSY);
    assert_eq!(slot_status(&mut c, 0x23), ICC_ACTIVE);
    assert!(c.is_busy());
    assert_eq!(
        c.pending_command().map(|(a, s)| (a.to_vec(), s)),
        Some((vec![0, 0x46, 0, 0x01], 0x20))
    );
    c.respond(&[0x90, 0x00]).unwrap();
    check(&one(&mut c), 0x80, 0, 0x20, 0, 0);
    assert!(!c.time_extension());
}

#[test]
fn bulk_abort_cancels_the_pending_command() {
    let mut c: Ccid<'_> = Ccid::new(&ATR);
    power_on(&mut c, 0);
    let _ = send(&mut c, &message(0x6F, 0, 0x30, [0; 3], &[0, 0x46, 0, 0x01]));
    assert_eq!(
        send(&mut c, &message(0x72, 0, 0x31, [0; 3], &[])),
        vec![Ev::Aborted(0x30)]
    );
    check(&one(&mut c), 0x81, 0, 0x31, 0, 0);
    assert!(!c.is_busy());
    assert_eq!(c.respond(&[0x90, 0x00]), Err(RespondError::NotBusy));
    none(&mut c);
    // Abort with nothing pending is a plain success.
    assert_eq!(send(&mut c, &message(0x72, 0, 0x32, [0; 3], &[])), vec![]);
    check(&one(&mut c), 0x81, 0, 0x32, 0, 0);
}

#[test]
fn control_abort_then_bulk_abort() {
    let mut c: Ccid<'_> = Ccid::new(&ATR);
    power_on(&mut c, 0);
    assert_eq!(c.control_abort(0, 0x41), None, "nothing pending");
    none(&mut c);
    let _ = send(&mut c, &message(0x6F, 0, 0x40, [0; 3], &[0, 0x46, 0, 0x01]));
    assert_eq!(c.control_abort(1, 0x41), None, "no such slot");
    assert_eq!(c.control_abort(0, 0x41), Some(0x40));
    check(&one(&mut c), 0x80, 0, 0x40, 0x40, CMD_ABORTED);
    assert_eq!(send(&mut c, &message(0x72, 0, 0x41, [0; 3], &[])), vec![]);
    check(&one(&mut c), 0x81, 0, 0x41, 0, 0);
    assert_eq!(c.respond(&[0x90, 0x00]), Err(RespondError::NotBusy));
    assert_eq!(slot_status(&mut c, 0x42), ICC_ACTIVE);
}

// ------------------------------------------------------------------ errors

#[test]
fn wrong_slot() {
    let mut c: Ccid<'_> = Ccid::new(&ATR);
    for (ty, resp) in [
        (0x62, 0x80),
        (0x63, 0x81),
        (0x65, 0x81),
        (0x6F, 0x80),
        (0x6C, 0x82),
        (0x61, 0x82),
        (0x6D, 0x82),
        (0x73, 0x84),
        (0x72, 0x81),
        (0x6B, 0x83),
        (0x69, 0x80),
        (0x6A, 0x81),
        (0x71, 0x81),
        (0x6E, 0x81),
        (0x99, 0x81),
    ] {
        for slot in [1u8, 7, 0xFF] {
            assert_eq!(
                send(&mut c, &message(ty, slot, 0x50, [1, 0, 0], &[0; 7])),
                vec![],
                "type {ty:02x}"
            );
            check(&one(&mut c), resp, slot, 0x50, 0x42, BAD_SLOT);
        }
    }
    assert!(!c.icc_active(), "nothing happened to slot 0");
    // Also while busy.
    power_on(&mut c, 0);
    let _ = send(&mut c, &message(0x6F, 0, 0x51, [0; 3], &[0, 0, 0, 0]));
    assert_eq!(send(&mut c, &message(0x65, 1, 0x52, [0; 3], &[])), vec![]);
    check(&one(&mut c), 0x81, 1, 0x52, 0x42, BAD_SLOT);
    assert!(c.is_busy());
}

#[test]
fn unsupported_messages() {
    let mut c: Ccid<'_> = Ccid::new(&ATR);
    let cases = [
        (0x6B, 0x83),
        (0x69, 0x80),
        (0x6A, 0x81),
        (0x71, 0x81),
        (0x6E, 0x81),
        (0x00, 0x81),
        (0x80, 0x81),
        (0xFF, 0x81),
    ];
    for (ty, resp) in cases {
        assert_eq!(send(&mut c, &message(ty, 0, ty, [0; 3], &[1, 2, 3, 4])), vec![]);
        check(&one(&mut c), resp, 0, ty, 0x40 | ICC_INACTIVE, CMD_NOT_SUPPORTED);
    }
    power_on(&mut c, 0);
    for (ty, resp) in cases {
        assert_eq!(send(&mut c, &message(ty, 0, ty, [0; 3], &[])), vec![]);
        check(&one(&mut c), resp, 0, ty, 0x40 | ICC_ACTIVE, CMD_NOT_SUPPORTED);
    }
    // XfrBlock with wLevelParameter chaining is not supported.
    assert_eq!(send(&mut c, &message(0x6F, 0, 1, [0, 1, 0], &[0, 0, 0, 0])), vec![]);
    check(&one(&mut c), 0x80, 0, 1, 0x40, BAD_LEVEL_PARAMETER);
}

#[test]
fn parameters() {
    let mut c: Ccid<'_> = Ccid::new(&ATR);
    let default = T1Parameters::DEFAULT.to_bytes();
    let get = |c: &mut Ccid<'_>, seq| {
        assert_eq!(send(c, &message(0x6C, 0, seq, [0; 3], &[])), vec![]);
        let m = one(c);
        assert_eq!(m[9], 1, "bProtocolNum T=1");
        check(&m, 0x82, 0, seq, ICC_INACTIVE, 0)
    };
    assert_eq!(get(&mut c, 1), default);
    let wanted = [0x18, 0x11, 0x00, 0x45, 0x00, 0xFE, 0x00];
    assert_eq!(send(&mut c, &message(0x61, 0, 2, [1, 0, 0], &wanted)), vec![]);
    let m = one(&mut c);
    assert_eq!(m[9], 1);
    assert_eq!(check(&m, 0x82, 0, 2, ICC_INACTIVE, 0), wanted);
    assert_eq!(get(&mut c, 3), wanted);
    // Unacceptable values: failed, the offending offset, current parameters unchanged.
    for (bad, offset) in [
        ([0x18, 0x20, 0, 0x45, 0, 0xFE, 0], 11u8),
        ([0x18, 0x10, 0, 0xA5, 0, 0xFE, 0], 13),
        ([0x18, 0x10, 0, 0x45, 4, 0xFE, 0], 14),
        ([0x18, 0x10, 0, 0x45, 0, 0x00, 0], 15),
        ([0x18, 0x10, 0, 0x45, 0, 0xFF, 0], 15),
    ] {
        assert_eq!(send(&mut c, &message(0x61, 0, 4, [1, 0, 0], &bad)), vec![]);
        assert_eq!(check(&one(&mut c), 0x82, 0, 4, 0x41, offset), wanted);
    }
    assert_eq!(send(&mut c, &message(0x61, 0, 5, [1, 0, 0], &wanted[..5])), vec![]);
    check(&one(&mut c), 0x82, 0, 5, 0x41, BAD_LENGTH);
    assert_eq!(
        send(&mut c, &message(0x61, 0, 6, [0, 0, 0], &[0x11, 0, 0, 0x0A, 0])),
        vec![]
    );
    check(&one(&mut c), 0x82, 0, 6, 0x41, 7);
    assert_eq!(c.parameters().to_bytes(), wanted);
    assert_eq!(send(&mut c, &message(0x6D, 0, 7, [0; 3], &[])), vec![]);
    assert_eq!(check(&one(&mut c), 0x82, 0, 7, ICC_INACTIVE, 0), default);
    // Defaults given by the firmware (e.g. from the ATR).
    let atr_params = T1Parameters {
        fi_di: 0x18,
        ifsc: 0xFE,
        waiting_integers: 0x45,
        ..T1Parameters::DEFAULT
    };
    let mut c: Ccid<'_> = Ccid::with_parameters(&ATR, atr_params);
    assert_eq!(get(&mut c, 8), atr_params.to_bytes());
}

#[test]
fn data_rate_and_clock() {
    let mut c: Ccid<'_> = Ccid::new(&ATR);
    let mut req = 4000u32.to_le_bytes().to_vec();
    req.extend_from_slice(&10753u32.to_le_bytes());
    assert_eq!(send(&mut c, &message(0x73, 0, 9, [0; 3], &req)), vec![]);
    let d = check(&one(&mut c), 0x84, 0, 9, ICC_INACTIVE, 0);
    assert_eq!(d, [0xFC, 0x0D, 0, 0, 0x80, 0x25, 0, 0]);
    assert_eq!(send(&mut c, &message(0x73, 0, 10, [0; 3], &req[..4])), vec![]);
    check(&one(&mut c), 0x84, 0, 10, 0x41, BAD_LENGTH);
}

// ------------------------------------------------------------------ robustness

#[test]
fn short_headers_are_dropped() {
    let mut c: Ccid<'_> = Ccid::new(&ATR);
    for n in 0..HEADER_LEN {
        assert_eq!(Ev::from(c.receive(&[0x65; 9][..n])), Ev::None);
        none(&mut c);
    }
    assert_eq!(slot_status(&mut c, 1), ICC_INACTIVE);
}

#[test]
fn huge_dw_length_is_rejected_and_skipped() {
    let mut c: Ccid<'_> = Ccid::new(&ATR);
    power_on(&mut c, 0);
    let mut first = message(0x6F, 0, 0x60, [0; 3], &[0xAB; 54]);
    first[1..5].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(Ev::from(c.receive(&first)), Ev::None);
    check(&one(&mut c), 0x80, 0, 0x60, 0x40, BAD_LENGTH);
    // More full packets of that transfer are dropped...
    for _ in 0..5 {
        assert_eq!(Ev::from(c.receive(&[0x65; 64])), Ev::None);
        none(&mut c);
    }
    // ...and a short packet that is a message of its own resynchronises.
    assert_eq!(slot_status(&mut c, 0x61), ICC_ACTIVE);
    // Too long by one, in a short packet: answered, nothing to skip.
    let m = message(0x6F, 0, 0x62, [0; 3], &[0; 2049]);
    assert_eq!(Ev::from(c.receive(&m[..20])), Ev::None);
    check(&one(&mut c), 0x80, 0, 0x62, 0x40, BAD_LENGTH);
    assert_eq!(slot_status(&mut c, 0x63), ICC_ACTIVE);
}

#[test]
fn abandoned_transfer_resyncs_on_new_message() {
    let mut c: Ccid<'_> = Ccid::new(&ATR);
    power_on(&mut c, 0);
    let m = message(0x6F, 0, 0x70, [0; 3], &[0x11; 300]);
    assert_eq!(Ev::from(c.receive(&m[..64])), Ev::None);
    assert_eq!(Ev::from(c.receive(&m[64..128])), Ev::None);
    // The host gives up and sends a new (short) message: it is served, the old one forgotten.
    assert_eq!(slot_status(&mut c, 0x71), ICC_ACTIVE);
    let apdu = [0, 0xA4, 4, 0, 1, 0xAA];
    assert_eq!(
        send(&mut c, &message(0x6F, 0, 0x72, [0; 3], &apdu)),
        vec![Ev::Command(apdu.to_vec(), 0x72)]
    );
    c.respond(&[0x90, 0]).unwrap();
    check(&one(&mut c), 0x80, 0, 0x72, 0, 0);
}

#[test]
fn truncated_transfer_is_answered_bad_length() {
    let mut c: Ccid<'_> = Ccid::new(&ATR);
    power_on(&mut c, 0);
    let m = message(0x6F, 0, 0x73, [0; 3], &[0x11; 300]);
    assert_eq!(Ev::from(c.receive(&m[..64])), Ev::None);
    assert_eq!(Ev::from(c.receive(&[1, 2, 3])), Ev::None);
    check(&one(&mut c), 0x80, 0, 0x73, 0x40, BAD_LENGTH);
    // A ZLP in the middle also ends the transfer.
    assert_eq!(Ev::from(c.receive(&m[..64])), Ev::None);
    assert_eq!(Ev::from(c.receive(&[])), Ev::None);
    check(&one(&mut c), 0x80, 0, 0x73, 0x40, BAD_LENGTH);
    // Truncated in the first packet.
    assert_eq!(Ev::from(c.receive(&m[..30])), Ev::None);
    check(&one(&mut c), 0x80, 0, 0x73, 0x40, BAD_LENGTH);
    assert!(!c.is_busy());
    assert_eq!(slot_status(&mut c, 0x74), ICC_ACTIVE);
}

#[test]
fn trailing_bytes_after_dw_length_are_ignored() {
    let mut c: Ccid<'_> = Ccid::new(&ATR);
    let mut m = message(0x65, 0, 0x75, [0; 3], &[]);
    m.extend_from_slice(&[0xEE; 20]);
    assert_eq!(Ev::from(c.receive(&m)), Ev::None);
    check(&one(&mut c), 0x81, 0, 0x75, ICC_INACTIVE, 0);
}

#[test]
fn reset_clears_everything() {
    let mut c: Ccid<'_> = Ccid::new(&ATR);
    power_on(&mut c, 0);
    // Mid-transfer.
    let m = message(0x6F, 0, 1, [0; 3], &[0x11; 300]);
    let _ = c.receive(&m[..64]);
    c.reset();
    assert!(!c.icc_active());
    assert_eq!(slot_status(&mut c, 2), ICC_INACTIVE);
    // While busy, with an answer half sent.
    power_on(&mut c, 3);
    let _ = send(&mut c, &message(0x6F, 0, 4, [0; 3], &[0, 0, 0, 0]));
    assert!(c.time_extension());
    c.reset();
    assert_eq!(c.next_in_packet(), None);
    assert!(!c.is_busy());
    assert_eq!(c.respond(&[0x90, 0]), Err(RespondError::NotBusy));
    assert!(!c.time_extension());
    let mut p = T1Parameters::DEFAULT;
    p.ifsc = 0x80;
    let _ = send(&mut c, &message(0x61, 0, 5, [1, 0, 0], &p.to_bytes()));
    let _ = drain(&mut c);
    c.reset();
    assert_eq!(c.parameters(), T1Parameters::DEFAULT);
    assert_eq!(slot_status(&mut c, 6), ICC_INACTIVE);
}

// ------------------------------------------------------------------ properties

/// A packet: random bytes, or a random prefix of a plausible message.
fn packet() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..=80),
        (
            prop::sample::select(vec![
                0x61u8, 0x62, 0x63, 0x65, 0x69, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E, 0x6F, 0x71, 0x72, 0x73, 0x99
            ]),
            0u32..3000,
            0u8..2,
            any::<u8>(),
            any::<[u8; 3]>(),
            proptest::collection::vec(any::<u8>(), 0..=54),
        )
            .prop_map(|(ty, len, slot, seq, p, data)| {
                let mut m = vec![ty];
                m.extend_from_slice(&len.to_le_bytes());
                m.extend_from_slice(&[slot, seq]);
                m.extend_from_slice(&p);
                m.extend_from_slice(&data);
                m
            }),
    ]
}

/// Well-formed messages (mostly slot 0), split into 64-byte packets, some cut short.
fn messages() -> impl Strategy<Value = Vec<Vec<u8>>> {
    (
        prop::sample::select(vec![
            0x61u8, 0x62, 0x62, 0x63, 0x65, 0x6B, 0x6C, 0x6D, 0x6F, 0x6F, 0x6F, 0x72, 0x73,
        ]),
        prop::sample::select(vec![0u8, 0, 0, 1]),
        any::<u8>(),
        prop::sample::select(vec![[0u8; 3], [1, 0, 0], [0, 1, 0]]),
        prop_oneof![0usize..60, 50usize..200, 2030usize..2060],
        any::<Option<usize>>(),
    )
        .prop_map(|(ty, slot, seq, p, len, cut)| {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let m = message(ty, slot, seq, p, &data);
            let end = cut.map_or(m.len(), |c| c % (m.len() + 1));
            m[..end].chunks(PACKET_SIZE).map(<[u8]>::to_vec).collect()
        })
}

#[derive(Debug, Clone)]
enum Op {
    Packet(Vec<u8>),
    Message(Vec<Vec<u8>>),
    Respond(usize),
    TimeExtension,
    ControlAbort(u8, u8),
    Reset,
    PartialDrain(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => packet().prop_map(Op::Packet),
        6 => messages().prop_map(Op::Message),
        1 => (0usize..2100).prop_map(Op::Respond),
        1 => Just(Op::TimeExtension),
        1 => (0u8..2, any::<u8>()).prop_map(|(s, q)| Op::ControlAbort(s, q)),
        1 => Just(Op::Reset),
        1 => (0usize..4).prop_map(Op::PartialDrain),
    ]
}

/// Drains without checking message framing (answers may be interrupted by design when the
/// transport misbehaves), only the packet size rule.
fn drain_loose<const N: usize>(c: &mut Ccid<'_, N>, max: usize) {
    for _ in 0..max {
        match c.next_in_packet() {
            Some(p) => assert!(p.len() <= PACKET_SIZE),
            None => break,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn garbage_never_wedges(ops in proptest::collection::vec(op(), 0..60), seq in any::<u8>()) {
        let mut c: Ccid<'_> = Ccid::new(&ATR);
        for op in ops {
            match op {
                Op::Packet(p) => {
                    if let Event::Command { apdu, .. } = c.receive(&p) {
                        prop_assert!(apdu.len() <= 2048);
                    }
                    drain_loose(&mut c, usize::MAX);
                }
                Op::Message(packets) => {
                    for p in packets {
                        if let Event::Command { apdu, .. } = c.receive(&p) {
                            prop_assert!(apdu.len() <= 2048);
                        }
                        drain_loose(&mut c, usize::MAX);
                    }
                }
                Op::Respond(n) => {
                    let _ = c.respond(&vec![0x61; n]);
                    drain_loose(&mut c, usize::MAX);
                }
                Op::TimeExtension => {
                    let _ = c.time_extension();
                    drain_loose(&mut c, usize::MAX);
                }
                Op::ControlAbort(s, q) => {
                    let _ = c.control_abort(s, q);
                    drain_loose(&mut c, usize::MAX);
                }
                Op::Reset => c.reset(),
                Op::PartialDrain(n) => drain_loose(&mut c, n),
            }
        }
        drain_loose(&mut c, usize::MAX);
        // Recovery: end any transfer in progress with a ZLP (as a host's short packet would), then
        // GetSlotStatus is answered correctly.
        let _ = c.receive(&[]);
        drain_loose(&mut c, usize::MAX);
        let status = slot_status(&mut c, seq);
        prop_assert_eq!(status, if c.icc_active() { ICC_ACTIVE } else { ICC_INACTIVE });
        // And the card still works end to end (finishing a command the garbage left with it).
        let seq = match c.pending_command() {
            Some((_, pending)) => pending,
            None => {
                power_on(&mut c, seq.wrapping_add(1));
                let apdu = [0, 0x84, 0, 0, 8];
                prop_assert_eq!(send(&mut c, &message(0x6F, 0, seq, [0; 3], &apdu)), vec![Ev::Command(apdu.to_vec(), seq)]);
                seq
            }
        };
        c.respond(&[0x90, 0x00]).unwrap();
        check(&one(&mut c), 0x80, 0, seq, 0, 0);
    }

    #[test]
    fn any_apdu_and_response_length_round_trips(
        len in 0usize..=(BIG - HEADER_LEN),
        rlen in 0usize..=(BIG - HEADER_LEN),
        seq in any::<u8>(),
    ) {
        let mut c: Ccid<'_, BIG> = Ccid::new(&ATR);
        power_on(&mut c, seq.wrapping_sub(1));
        let apdu: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        prop_assert_eq!(send(&mut c, &message(0x6F, 0, seq, [0; 3], &apdu)), vec![Ev::Command(apdu, seq)]);
        prop_assert!(c.time_extension());
        check(&one(&mut c), 0x80, 0, seq, 0x80, 1);
        let rapdu: Vec<u8> = (0..rlen).map(|i| (i % 253) as u8).collect();
        c.respond(&rapdu).unwrap();
        prop_assert_eq!(check(&one(&mut c), 0x80, 0, seq, 0, 0), rapdu);
    }

    #[test]
    fn seq_is_echoed(ty in any::<u8>(), seq in any::<u8>(), active in any::<bool>()) {
        let mut c: Ccid<'_> = Ccid::new(&ATR);
        if active {
            power_on(&mut c, 0);
        }
        let data: &[u8] = if ty == 0x61 { &[0x11, 0x10, 0, 0x4D, 0, 0x20, 0] } else { &[0, 0xA4, 0, 0] };
        let events = send(&mut c, &message(ty, 0, seq, [u8::from(ty == 0x61), 0, 0], data));
        if matches!(events.first(), Some(Ev::Command(..))) {
            c.respond(&[0x90, 0]).unwrap();
        }
        let m = one(&mut c);
        prop_assert_eq!(m[0], msg::response_type(ty));
        prop_assert_eq!(m[5], 0);
        prop_assert_eq!(m[6], seq);
    }
}
