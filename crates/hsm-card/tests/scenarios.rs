//! In-process APDU scenarios against the card over a RAM platform.

mod common;

use common::{INIT, SELECT_AID, TestCard, fresh, tx};
use hsm_card::Card;
use hsm_card::testing::RamPlatform;

const SELECT_AID_FCI: &str = "00A404000BE82B0601040181C31F020100";

/// A blank card, nothing selected.
fn card(seed: u64) -> TestCard {
    Card::new(RamPlatform::new(seed))
}

fn sw(card: &mut TestCard, apdu: &str) -> u16 {
    tx(card, apdu).1
}

#[test]
fn select_application_returns_fci_with_version() {
    let mut c = card(1);
    let (fci, s) = tx(&mut c, SELECT_AID_FCI);
    assert_eq!(s, 0x9000);
    assert_eq!(fci[0], 0x62);
    let tail = &fci[fci.len() - 7..];
    assert_eq!(tail, &[0x85, 0x05, 0x00, 0x00, 0xFF, 6, 6]);
    assert_eq!(sw(&mut c, "00A404000AE82B0601040181C31F02"), 0x6A82, "unknown AID");
    assert_eq!(sw(&mut c, SELECT_AID), 0x9000, "P2=0C accepted");
}

#[test]
fn commands_need_the_application_selected() {
    let mut c = card(2);
    assert_eq!(sw(&mut c, "0084000008"), 0x6D00);
    assert_eq!(sw(&mut c, SELECT_AID), 0x9000);
    let (data, s) = tx(&mut c, "0084000008");
    assert_eq!((data.len(), s), (8, 0x9000));
    assert_eq!(sw(&mut c, "0084000000"), 0x9000, "Le=00 is 256");
    assert_eq!(tx(&mut c, "00840000").0.len(), 256, "4-byte APDU: Ne = 256 (upstream)");
    assert_eq!(sw(&mut c, "00840000 01 AA"), 0x6700, "no Le");
    assert_eq!(sw(&mut c, "A0840000 08"), 0x6E00, "bad class");
    assert_eq!(sw(&mut c, "80FF0000"), 0x6D00, "unknown INS");
}

/// C_DevAut (2F02) is a static file upstream: an uninitialized device answers READ BINARY and
/// SELECT with an empty file (upstream's host library reads it right after SELECT), and after
/// INITIALIZE with the device certificate.
#[test]
fn c_devaut_is_empty_before_initialize() {
    let mut c = card(9);
    sw(&mut c, SELECT_AID);
    assert_eq!(tx(&mut c, "00B12F02 04 54020000 00"), (Vec::new(), 0x9000));
    assert_eq!(tx(&mut c, "00A40000 02 2F02 00").1, 0x9000);
    assert_eq!(
        tx(&mut c, "00B00000 00"),
        (Vec::new(), 0x9000),
        "current EF is the empty 2F02"
    );
    assert_eq!(tx(&mut c, "00B12F02 04 54020010 00").1, 0x6282, "offset past the end");
    assert_eq!(
        sw(&mut c, "00B12F03 04 54020000 00"),
        0x9000,
        "TokenInfo still generated"
    );
    assert_eq!(sw(&mut c, INIT), 0x9000);
    let (cert, s) = tx(&mut c, "00B12F02 04 54020000 00");
    assert_eq!(s, 0x9000);
    assert_eq!(cert.first(), Some(&0x7F), "C_DevAut after INITIALIZE: {cert:02X?}");
}

#[test]
fn uninitialized_pin_is_not_found() {
    let mut c = card(3);
    sw(&mut c, SELECT_AID);
    assert_eq!(sw(&mut c, "0020008100"), 0x6A88);
    assert_eq!(sw(&mut c, "00200081 06 363438323139"), 0x6A88);
    assert_eq!(sw(&mut c, "0020018100"), 0x6B00);
    assert_eq!(sw(&mut c, "0020008200"), 0x6A88);
}

#[test]
fn initialize_then_pin_lifecycle() {
    let mut c = fresh(4, "");
    assert_eq!(sw(&mut c, "00200081"), 0x63C3);
    assert_eq!(sw(&mut c, "00200081 06 363438323130"), 0x63C2);
    assert_eq!(sw(&mut c, "00200081 06 363438323139"), 0x9000);
    assert_eq!(sw(&mut c, "00200081"), 0x9000, "verified state");
    c.reset();
    sw(&mut c, SELECT_AID);
    assert_eq!(
        sw(&mut c, "00200081"),
        0x63C3,
        "counter restored, state cleared by reset"
    );
    // The guess that uses up the last retry answers 6983 (upstream; DESIGN §5), not 63C0.
    for left in [0x63C2, 0x63C1, 0x6983] {
        assert_eq!(sw(&mut c, "00200081 06 303030303030"), left);
    }
    assert_eq!(sw(&mut c, "00200081"), 0x6983, "status query when blocked");
    assert_eq!(
        sw(&mut c, "00200081 06 363438323139"),
        0x6983,
        "blocked even with the right PIN"
    );
    // RESET RETRY COUNTER with SO-PIN ‖ new PIN.
    assert_eq!(sw(&mut c, "002C0081 0E 3537363231383830 313233343536"), 0x9000);
    assert_eq!(sw(&mut c, "00200081 06 363438323139"), 0x63C2, "old PIN gone");
    assert_eq!(sw(&mut c, "00200081 06 313233343536"), 0x9000);
    // CHANGE REFERENCE DATA user and SO.
    assert_eq!(sw(&mut c, "00240081 0C 313233343536 363438323139"), 0x9000);
    assert_eq!(sw(&mut c, "00200081 06 363438323139"), 0x9000);
    assert_eq!(sw(&mut c, "00240088 10 3537363231383830 3132333435363738"), 0x9000);
    assert_eq!(sw(&mut c, "00200088 08 3537363231383830"), 0x63CE);
    assert_eq!(sw(&mut c, "00200088 08 3132333435363738"), 0x9000);
}

#[test]
fn reinitialize_needs_the_current_so_pin() {
    let mut c = fresh(5, "");
    sw(&mut c, "00200081 06 363438323139");
    assert_eq!(sw(&mut c, "00D7CF01 08 5402 0000 5302 ABCD"), 0x9000);
    let wrong = "8050000019 800200018106363438323139820835373632313838319101 03";
    assert_eq!(sw(&mut c, wrong), 0x6982);
    assert_eq!(sw(&mut c, "00200088"), 0x63CE, "SO retry spent");
    let (data, s) = tx(&mut c, "00B1CF01 04 54020000 00");
    assert_eq!((data, s), (vec![0xAB, 0xCD], 0x9000), "object kept");
    assert_eq!(sw(&mut c, INIT), 0x9000);
    assert_eq!(sw(&mut c, "00B1CF01 04 54020000 00"), 0x6A82, "wiped by a real re-init");
}

#[test]
fn device_identity_survives_reinitialization_and_is_unique() {
    let mut a = fresh(6, "");
    let (cert, s) = tx(&mut a, "00B12F02 04 54020000 00");
    assert_eq!(s, 0x9000);
    assert_eq!(&cert[..2], &[0x7F, 0x21]);
    sw(&mut a, INIT);
    let (cert2, _) = tx(&mut a, "00B12F02 04 54020000 00");
    assert_eq!(cert, cert2);
    let mut b = fresh(7, "");
    let (other, _) = tx(&mut b, "00B12F02 04 54020000 00");
    assert_ne!(cert, other);
    let (keys, _) = tx(&mut a, "8058000000");
    assert_eq!(keys, vec![0xCC, 0x00], "device key listed, no PRKD for it");
    sw(&mut a, "00200081 06 363438323139");
    for f in ["C900", "C801", "CF00", "C405", "CE05"] {
        assert_eq!(sw(&mut a, &format!("00D7{f} 06 5402 0000 5300")), 0x9000, "{f}");
    }
    let (keys, _) = tx(&mut a, "8058000000");
    assert_eq!(
        hex::encode_upper(keys),
        "CC00C405C801C900",
        "upstream order, CE and CF not listed"
    );
}

#[test]
fn file_access_rules() {
    let mut c = fresh(8, "");
    assert_eq!(sw(&mut c, "00D7CD01 06 5402 0000 5300"), 0x6982, "write needs login");
    sw(&mut c, "00200081 06 363438323139");
    assert_eq!(sw(&mut c, "00D7CD01 08 5402 0000 5302 1234"), 0x9000);
    for internal in ["1081", "1088", "100E", "CC00", "CC01", "10A0"] {
        assert_eq!(
            sw(&mut c, &format!("00B1{internal} 04 54020000 00")),
            0x6982,
            "{internal}"
        );
    }
    assert_eq!(sw(&mut c, "00D71081 08 5402 0000 5302 1234"), 0x6982);
    assert_eq!(sw(&mut c, "00D7CC01 08 5402 0000 5302 1234"), 0x6982);
    assert_eq!(sw(&mut c, "00E4 0000 02 CC00"), 0x6982);
    assert_eq!(sw(&mut c, "00E4 0000 02 CE00"), 0x6982);
    assert_eq!(sw(&mut c, "00D7C400 08 5402 0000 5302 1234"), 0x6982);
    assert_eq!(sw(&mut c, "00D7CE00 08 5402 0000 5302 1234"), 0x6982);
    assert_eq!(sw(&mut c, "00E4 0000 02 2F00"), 0x6986);
    c.reset();
    sw(&mut c, SELECT_AID);
    assert_eq!(
        sw(&mut c, "00B1CD01 04 54020000 00"),
        0x6982,
        "protected data needs login"
    );
    assert_eq!(sw(&mut c, "00B12F00 04 54020000 00"), 0x9000, "EF.DIR is public");
    assert_eq!(sw(&mut c, "00B1CD01 00"), 0x6700, "B1 without offset DO");
    assert_eq!(
        sw(&mut c, "00B1CD01 07 5405 0000000000 00"),
        0x6700,
        "offset longer than 4 bytes"
    );
}

#[test]
fn large_file_with_32_bit_offsets() {
    let mut c = fresh(9, "");
    sw(&mut c, "00200081 06 363438323139");
    let data: Vec<u8> = (0..70_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    for (i, chunk) in data.chunks(1500).enumerate() {
        let off = (i * 1500) as u32;
        let mut body = vec![0x54, 0x04];
        body.extend_from_slice(&off.to_be_bytes());
        body.extend_from_slice(&[0x53, 0x82]);
        body.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        body.extend_from_slice(chunk);
        let apdu = format!("00D7CF02 00{:04X}{}", body.len(), hex::encode(&body));
        assert_eq!(sw(&mut c, &apdu), 0x9000, "chunk {i}");
    }
    let mut back = Vec::new();
    while back.len() < data.len() {
        let off = back.len() as u32;
        let (d, s) = tx(&mut c, &format!("00B1CF02 000006 5404{:08X} 0000", off));
        assert_eq!(s, 0x9000);
        assert!(!d.is_empty());
        back.extend_from_slice(&d);
    }
    assert_eq!(back, data);
    let (d, s) = tx(&mut c, &format!("00B1CF02 06 5404{:08X} 00", data.len() + 1));
    assert_eq!((d.len(), s), (0, 0x6282));
}

/// The longest command upstream's suites send: UPDATE BINARY of a 4097-byte file in one command,
/// 4105 bytes of command data with the 8-byte `54 02 offset 53 82 length` wrapper. The card's limit
/// (`hsm_apdu::MAX_COMMAND_DATA`, 4352) takes it; one byte over the limit is 6700.
#[test]
fn update_binary_of_4105_bytes() {
    let mut c = fresh(10, "");
    sw(&mut c, "00200081 06 363438323139");
    let content: Vec<u8> = (0..4097u32).map(|i| (i * 13 + 5) as u8).collect();
    assert_eq!(common::update_binary(&mut c, 0xCF03, &content), 0x9000);
    let mut back = Vec::new();
    while back.len() < content.len() {
        let (d, s) = tx(&mut c, &format!("00B1CF03 000004 5402{:04X} 0000", back.len()));
        assert_eq!(s, 0x9000);
        assert!(!d.is_empty());
        back.extend_from_slice(&d);
    }
    assert_eq!(back, content);
    let too_long = vec![0u8; hsm_apdu::MAX_COMMAND_DATA + 1 - 8];
    assert_eq!(common::update_binary(&mut c, 0xCF04, &too_long), 0x6700);
    assert_eq!(sw(&mut c, "00A40000 02 CF04"), 0x6A82, "nothing written");
}

#[test]
fn transport_pin_blocks_verify_until_changed() {
    let mut c = card(10);
    sw(&mut c, SELECT_AID);
    let init = "8050000019 800200038106363438323139820835373632313838309101 03";
    assert_eq!(sw(&mut c, init), 0x9000);
    c.reset();
    sw(&mut c, SELECT_AID);
    assert_eq!(sw(&mut c, "00200081 06 363438323139"), 0x6984);
    assert_eq!(sw(&mut c, "00240081 0C 363438323139 313131313131"), 0x9000);
    c.reset();
    sw(&mut c, SELECT_AID);
    assert_eq!(sw(&mut c, "00200081 06 313131313131"), 0x9000);
}

#[test]
fn chunked_update_of_current_ef_like_opensc() {
    let mut c = fresh(11, "");
    sw(&mut c, "00200081 06 363438323139");
    assert_eq!(sw(&mut c, "00D7CF00 06 5402 0000 5300"), 0x9000);
    let data: Vec<u8> = (0..6000u32).map(|i| (i % 251) as u8).collect();
    for (i, chunk) in data.chunks(254).enumerate() {
        let off = (i * 254) as u16;
        let mut body = vec![0x54, 0x02];
        body.extend_from_slice(&off.to_be_bytes());
        body.extend_from_slice(&[0x53, 0x81, chunk.len() as u8]);
        body.extend_from_slice(chunk);
        let apdu = format!("00D70000 00{:04X}{}", body.len(), hex::encode(&body));
        assert_eq!(sw(&mut c, &apdu), 0x9000, "chunk {i}");
    }
    let (fci, s) = tx(&mut c, "00A40000 02 CF00 00");
    assert_eq!(s, 0x9000);
    assert_eq!(&fci[2..6], &[0x81, 0x02, 0x17, 0x70], "size 6000 in the FCI");
}
