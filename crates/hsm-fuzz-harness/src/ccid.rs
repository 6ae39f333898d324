//! `ccid_stream`: drives [`hsm_ccid::Ccid`] the way a host and a card could, in any order.
//!
//! The input is a list of operations, each chosen by one byte (modulo 7):
//! 0 a bulk-OUT packet (next byte: length mod 65, then that many bytes), 1 the card answers the
//! pending command (next two bytes: length), 2 a time extension, 3 the class ABORT request (next
//! two bytes: slot, seq), 4 a bus reset, 5 read one bulk-IN packet, 6 read every pending packet.
//!
//! Invariants: nothing panics; no bulk-IN packet is longer than 64 bytes; and afterwards, once the
//! host has read everything, the card has answered and a zero-length packet has ended any
//! unfinished transfer, a GetSlotStatus is answered with a
//! RDR_to_PC_SlotStatus carrying its slot and sequence number: the interface never wedges.

use hsm_ccid::{Ccid, PACKET_SIZE};

const ATR: [u8; 4] = [0x3B, 0x80, 0x80, 0x01];

fn drain(ccid: &mut Ccid<'_>) -> Option<Vec<u8>> {
    let mut last = None;
    // Bounded: an answer is at most the buffer plus one zero-length packet.
    for _ in 0..(hsm_ccid::DEFAULT_MAX_MESSAGE / PACKET_SIZE + 4) {
        let Some(p) = ccid.next_in_packet() else { return last };
        assert!(p.len() <= PACKET_SIZE, "bulk-IN packet of {} bytes", p.len());
        if last.is_none() && !p.is_empty() {
            last = Some(p.to_vec());
        }
    }
    panic!("bulk-IN answer never ends");
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut ccid = Ccid::new(&ATR);
    let mut it = data.iter().copied();
    while let Some(op) = it.next() {
        match op % 7 {
            0 => {
                let len = usize::from(it.next().unwrap_or(0)) % (PACKET_SIZE + 1);
                let packet: Vec<u8> = it.by_ref().take(len).collect();
                let _ = ccid.receive(&packet);
            }
            1 => {
                let len = usize::from(u16::from_be_bytes([it.next().unwrap_or(0), it.next().unwrap_or(0)]));
                let answer = vec![0x90; len % 4200];
                let _ = ccid.respond(&answer);
            }
            2 => {
                let _ = ccid.time_extension();
            }
            3 => {
                let (slot, seq) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
                let _ = ccid.control_abort(slot, seq);
            }
            4 => ccid.reset(),
            5 => {
                if let Some(p) = ccid.next_in_packet() {
                    assert!(p.len() <= PACKET_SIZE);
                }
            }
            _ => {
                drain(&mut ccid);
            }
        }
    }
    // The host reads what is pending, the card finishes, the host reads again.
    drain(&mut ccid);
    if ccid.is_busy() {
        ccid.respond(&[0x90, 0x00]).expect("respond while busy");
        drain(&mut ccid);
    }
    // A zero-length packet ends whatever transfer the stream left unfinished (how a host recovers).
    let _ = ccid.receive(&[]);
    drain(&mut ccid);
    let seq = 0xA5;
    let status = [0x65, 0, 0, 0, 0, 0x00, seq, 0, 0, 0];
    let _ = ccid.receive(&status);
    let answer = drain(&mut ccid).expect("GetSlotStatus unanswered");
    assert_eq!(answer.first(), Some(&0x81), "not a SlotStatus: {answer:02X?}");
    assert_eq!(
        answer.get(5..7),
        Some(&[0x00, seq][..]),
        "slot/seq not echoed: {answer:02X?}"
    );
}
