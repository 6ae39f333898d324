//! ApduLayer scenarios: chaining (ISO 7816-4 §5.1.1.1), 61xx + GET RESPONSE (§7.6.1), Le handling.

use hsm_apdu::{ApduLayer, Application, CommandView, MAX_COMMAND_DATA, MAX_RESPONSE_DATA, Reply, Status};

/// A test application recording what it receives.
///
/// * INS 01: echo the data.
/// * INS 02: answer P1 * 256 + P2 bytes of a counting pattern.
/// * INS 03: write some data, then fail with 6A80.
/// * INS A4: record a SELECT, answer 9000.
/// * anything else: 6D00.
#[derive(Default)]
struct TestApp {
    calls: Vec<(u8, u8, u8, u8, Vec<u8>, usize)>,
}

impl Application for TestApp {
    fn process(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        self.calls
            .push((cmd.cla, cmd.ins, cmd.p1, cmd.p2, cmd.data.to_vec(), cmd.ne));
        match cmd.ins {
            0x01 => reply.extend(cmd.data).map_err(Status::from),
            0x02 => {
                let n = usize::from(cmd.p1) * 256 + usize::from(cmd.p2);
                for i in 0..n {
                    reply.push(i as u8)?;
                }
                Ok(())
            }
            0x03 => {
                reply.extend(&[1, 2, 3])?;
                Err(Status::IncorrectData)
            }
            // The length of the (assembled) command data, for commands longer than a response.
            0x04 => reply
                .extend(&(cmd.data.len() as u16).to_be_bytes())
                .map_err(Status::from),
            0xA4 => Ok(()),
            _ => Err(Status::InstructionNotSupported),
        }
    }
}

struct Card {
    layer: ApduLayer,
    app: TestApp,
}

impl Card {
    fn new() -> Self {
        Card {
            layer: ApduLayer::new(),
            app: TestApp::default(),
        }
    }

    /// Sends an APDU; returns (data, sw).
    fn send(&mut self, apdu: &[u8]) -> (Vec<u8>, u16) {
        let mut out = vec![0u8; MAX_RESPONSE_DATA + 2];
        let n = self.layer.process(&mut self.app, apdu, &mut out);
        assert!(n >= 2, "response too short");
        let sw = u16::from_be_bytes([out[n - 2], out[n - 1]]);
        (out[..n - 2].to_vec(), sw)
    }
}

/// Short-form APDU with data and optional Le.
fn short(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<u8>) -> Vec<u8> {
    let mut v = vec![cla, ins, p1, p2];
    if !data.is_empty() {
        v.push(data.len() as u8);
        v.extend_from_slice(data);
    }
    v.extend(le);
    v
}

/// Extended-form APDU (`00 Lc1 Lc2 data Le1 Le2`).
fn extended(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], le: Option<u16>) -> Vec<u8> {
    let mut v = vec![cla, ins, p1, p2, 0];
    if !data.is_empty() {
        v.extend_from_slice(&(data.len() as u16).to_be_bytes());
        v.extend_from_slice(data);
    }
    if let Some(le) = le {
        v.extend_from_slice(&le.to_be_bytes());
    }
    v
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| i as u8).collect()
}

#[test]
fn simple_command_and_echo() {
    let mut card = Card::new();
    assert_eq!(
        card.send(&short(0, 1, 0, 0, &[1, 2, 3], Some(0))),
        (vec![1, 2, 3], 0x9000)
    );
    assert_eq!(card.send(&[0, 0x99, 0, 0]), (vec![], 0x6D00));
}

#[test]
fn malformed_lengths_answer_6700() {
    let mut card = Card::new();
    for apdu in [&[0u8, 1, 2][..], &[0, 1, 0, 0, 3, 1], &[0, 1, 0, 0, 0, 0, 1, 5, 6], &[]] {
        assert_eq!(card.send(apdu), (vec![], 0x6700), "{apdu:02X?}");
    }
    assert!(card.app.calls.is_empty());
}

#[test]
fn error_status_carries_no_data() {
    let mut card = Card::new();
    assert_eq!(card.send(&short(0, 3, 0, 0, &[], Some(0))), (vec![], 0x6A80));
    // And nothing is left for GET RESPONSE.
    assert_eq!(card.send(&[0, 0xC0, 0, 0, 0]), (vec![], 0x6985));
}

#[test]
fn four_byte_apdu_has_ne_256() {
    let mut card = Card::new();
    // 0x0102 = 258 bytes with a 4-byte APDU: 256 + 6102.
    let (data, sw) = card.send(&[0, 2, 1, 2]);
    assert_eq!((data, sw), (pattern(256), 0x6102));
    assert_eq!(card.app.calls[0].5, 256);
    let (data, sw) = card.send(&[0, 0xC0, 0, 0]);
    assert_eq!((data, sw), (vec![0, 1], 0x9000));
}

#[test]
fn case3_without_le_defers_all_data() {
    let mut card = Card::new();
    assert_eq!(card.send(&short(0, 1, 0, 0, &[7, 8, 9], None)), (vec![], 0x6103));
    assert_eq!(card.app.calls[0].5, 0);
    assert_eq!(card.send(&[0, 0xC0, 0, 0, 3]), (vec![7, 8, 9], 0x9000));
}

#[test]
fn case3_without_le_and_no_data_is_9000() {
    let mut card = Card::new();
    assert_eq!(card.send(&short(0, 0xA4, 4, 0, &[0xE8], None)), (vec![], 0x9000));
}

#[test]
fn extended_le_0000_means_65536_capped_to_out() {
    let mut card = Card::new();
    let (data, sw) = card.send(&extended(0, 2, 0x10, 0, &[], Some(0)));
    assert_eq!((data.len(), sw), (4096, 0x9000));
    assert_eq!(card.app.calls[0].5, 65536);
}

#[test]
fn get_response_over_several_rounds() {
    let mut card = Card::new();
    let total = 1000;
    let (mut got, mut sw) = card.send(&short(0, 2, 0x03, 0xE8, &[], Some(0)));
    assert_eq!((got.len(), sw), (256, 0x6100)); // 744 remain
    let mut rounds = 0;
    while sw >> 8 == 0x61 {
        let expect_left = total - got.len();
        assert_eq!(sw & 0xFF, if expect_left >= 256 { 0 } else { expect_left as u16 });
        let (more, s) = card.send(&[0x00, 0xC0, 0, 0, 0]);
        got.extend(more);
        sw = s;
        rounds += 1;
    }
    assert_eq!(sw, 0x9000);
    assert_eq!(rounds, 3);
    assert_eq!(got, pattern(total));
    assert_eq!(card.send(&[0x00, 0xC0, 0, 0, 0]), (vec![], 0x6985));
}

#[test]
fn sw_61xx_exact_and_6100_boundary() {
    let mut card = Card::new();
    // 256 + 255 bytes: after the first 256, 255 remain → 61FF.
    assert_eq!(card.send(&short(0, 2, 1, 0xFF, &[], Some(0))).1, 0x61FF);
    // GET RESPONSE with a small Le, then the rest.
    let (d, sw) = card.send(&[0x80, 0xC0, 0, 0, 0x10]);
    assert_eq!((d, sw), ((0..16).collect::<Vec<u8>>(), 0x61EF));
    let (d, sw) = card.send(&extended(0, 0xC0, 0, 0, &[], Some(0x1000)));
    assert_eq!((d.len(), sw), (239, 0x9000));

    // 512 bytes with Le 256: 256 remain → 6100.
    assert_eq!(card.send(&short(0, 2, 2, 0, &[], Some(0))).1, 0x6100);
    assert_eq!(card.send(&short(0, 0xC0, 0, 0, &[], Some(0))).1, 0x9000);
}

#[test]
fn short_le_truncates() {
    let mut card = Card::new();
    assert_eq!(
        card.send(&short(0, 1, 0, 0, &[1, 2, 3, 4], Some(2))),
        (vec![1, 2], 0x6102)
    );
    assert_eq!(card.send(&[0, 0xC0, 0, 0, 2]), (vec![3, 4], 0x9000));
}

#[test]
fn other_command_discards_pending_response() {
    let mut card = Card::new();
    assert_eq!(card.send(&short(0, 1, 0, 0, &[1, 2, 3], Some(1))).1, 0x6102);
    assert_eq!(card.send(&short(0, 1, 0, 0, &[9], Some(0))), (vec![9], 0x9000));
    assert_eq!(card.send(&[0, 0xC0, 0, 0, 0]), (vec![], 0x6985));
}

#[test]
fn get_response_wrong_p1p2_keeps_pending() {
    let mut card = Card::new();
    assert_eq!(card.send(&short(0, 1, 0, 0, &[1, 2, 3], Some(1))).1, 0x6102);
    assert_eq!(card.send(&[0, 0xC0, 1, 0, 0]), (vec![], 0x6A86));
    assert_eq!(card.send(&[0, 0xC0, 0, 0, 0]), (vec![2, 3], 0x9000));
}

#[test]
fn get_response_never_reaches_app() {
    let mut card = Card::new();
    card.send(&[0, 0xC0, 0, 0, 0]);
    card.send(&[0x80, 0xC0, 0, 0]);
    assert!(card.app.calls.is_empty());
}

#[test]
fn get_response_without_pending_is_6985() {
    let mut card = Card::new();
    assert_eq!(card.send(&[0, 0xC0, 0, 0, 0]), (vec![], 0x6985));
}

#[test]
fn chaining_assembles_data() {
    let mut card = Card::new();
    assert_eq!(card.send(&short(0x10, 1, 2, 3, &[1, 2], None)), (vec![], 0x9000));
    assert_eq!(card.send(&extended(0x10, 1, 2, 3, &[3, 4], None)), (vec![], 0x9000));
    assert!(card.app.calls.is_empty());
    assert_eq!(
        card.send(&short(0x00, 1, 2, 3, &[5], Some(0))),
        (vec![1, 2, 3, 4, 5], 0x9000)
    );
    assert_eq!(card.app.calls, vec![(0x00, 1, 2, 3, vec![1, 2, 3, 4, 5], 256)]);
}

#[test]
fn chaining_keeps_proprietary_cla_and_takes_ne_from_last_part() {
    let mut card = Card::new();
    assert_eq!(card.send(&short(0x90, 1, 0, 0, &[1, 2, 3], Some(0))).1, 0x9000);
    assert_eq!(card.send(&short(0x80, 1, 0, 0, &[4], Some(2))), (vec![1, 2], 0x6102));
    assert_eq!(card.app.calls[0].0, 0x80);
    assert_eq!(card.app.calls[0].5, 2);
}

#[test]
fn chaining_last_part_without_data() {
    let mut card = Card::new();
    card.send(&short(0x10, 1, 0, 0, &[1, 2], None));
    assert_eq!(card.send(&[0, 1, 0, 0]), (vec![1, 2], 0x9000));
}

#[test]
fn chain_is_finished_after_last_part() {
    let mut card = Card::new();
    card.send(&short(0x10, 1, 0, 0, &[1], None));
    card.send(&short(0x00, 1, 0, 0, &[2], Some(0)));
    assert_eq!(card.send(&short(0x00, 1, 0, 0, &[3], Some(0))), (vec![3], 0x9000));
    assert_eq!(card.send(&short(0x00, 2, 0, 1, &[], Some(0))), (vec![0], 0x9000));
}

#[test]
fn chaining_header_mismatch_is_6883() {
    for last in [
        short(0x00, 1, 0, 1, &[2], None),
        short(0x00, 7, 0, 0, &[2], None),
        short(0x80, 1, 0, 0, &[2], None),
    ] {
        let mut card = Card::new();
        card.send(&short(0x10, 1, 0, 0, &[1], None));
        assert_eq!(card.send(&last), (vec![], 0x6883), "{last:02X?}");
        assert!(card.app.calls.is_empty());
        // The chain is gone: the next command runs alone.
        assert_eq!(card.send(&short(0x00, 1, 0, 0, &[9], Some(0))), (vec![9], 0x9000));
    }
}

#[test]
fn chained_part_with_other_header_is_6883() {
    let mut card = Card::new();
    card.send(&short(0x10, 1, 0, 0, &[1], None));
    assert_eq!(card.send(&short(0x10, 1, 5, 0, &[2], None)), (vec![], 0x6883));
    assert_eq!(card.send(&short(0x00, 1, 5, 0, &[3], Some(0))), (vec![3], 0x9000));
}

#[test]
fn get_response_mid_chain_is_6883() {
    let mut card = Card::new();
    card.send(&short(0x10, 1, 0, 0, &[1], None));
    assert_eq!(card.send(&[0, 0xC0, 0, 0, 0]), (vec![], 0x6883));
}

#[test]
fn select_by_aid_aborts_chain() {
    let mut card = Card::new();
    card.send(&short(0x10, 1, 0, 0, &[1, 2], None));
    assert_eq!(
        card.send(&short(0x00, 0xA4, 0x04, 0x00, &[0xE8, 0x2B], None)),
        (vec![], 0x9000)
    );
    assert_eq!(card.app.calls, vec![(0, 0xA4, 4, 0, vec![0xE8, 0x2B], 0)]);
    // The old chain's data is gone.
    assert_eq!(card.send(&short(0x00, 1, 0, 0, &[3], Some(0))), (vec![3], 0x9000));
}

#[test]
fn select_by_fid_mid_chain_is_6883() {
    let mut card = Card::new();
    card.send(&short(0x10, 1, 0, 0, &[1, 2], None));
    assert_eq!(
        card.send(&short(0x00, 0xA4, 0x00, 0x00, &[0x3F, 0x00], None)),
        (vec![], 0x6883)
    );
}

#[test]
fn chain_overflow_is_6700() {
    let mut card = Card::new();
    let part = vec![0xAB; 1024];
    for _ in 0..MAX_COMMAND_DATA / 1024 {
        assert_eq!(card.send(&extended(0x10, 1, 0, 0, &part, None)).1, 0x9000);
    }
    let rest = vec![0xCD; MAX_COMMAND_DATA % 1024];
    if !rest.is_empty() {
        assert_eq!(card.send(&extended(0x10, 1, 0, 0, &rest, None)).1, 0x9000);
    }
    assert_eq!(card.send(&short(0x10, 1, 0, 0, &[1], None)), (vec![], 0x6700));
    // Chain dropped: the next last part runs alone.
    assert_eq!(card.send(&short(0x00, 1, 0, 0, &[5], Some(0))), (vec![5], 0x9000));
    assert_eq!(card.app.calls.len(), 1);
}

#[test]
fn chain_overflow_on_last_part_is_6700() {
    let mut card = Card::new();
    card.send(&extended(0x10, 1, 0, 0, &vec![1; MAX_COMMAND_DATA], None));
    assert_eq!(card.send(&short(0x00, 1, 0, 0, &[1], None)), (vec![], 0x6700));
    assert!(card.app.calls.is_empty());
}

#[test]
fn chain_at_exact_limit_is_accepted() {
    let mut card = Card::new();
    card.send(&extended(0x10, 4, 0, 0, &vec![1; MAX_COMMAND_DATA - 1], None));
    let (data, sw) = card.send(&extended(0x00, 4, 0, 0, &[2], Some(0)));
    assert_eq!((data, sw), ((MAX_COMMAND_DATA as u16).to_be_bytes().to_vec(), 0x9000));
}

#[test]
fn oversized_unchained_command_is_6700() {
    let mut card = Card::new();
    let apdu = extended(0, 1, 0, 0, &vec![0; MAX_COMMAND_DATA + 1], Some(0));
    assert_eq!(card.send(&apdu), (vec![], 0x6700));
    assert!(card.app.calls.is_empty());
}

#[test]
fn malformed_apdu_drops_chain() {
    let mut card = Card::new();
    card.send(&short(0x10, 1, 0, 0, &[1], None));
    assert_eq!(card.send(&[0, 1, 0, 0, 5, 1]).1, 0x6700);
    assert_eq!(card.send(&short(0x00, 1, 0, 0, &[2], Some(0))), (vec![2], 0x9000));
}

#[test]
fn reset_drops_chain_and_pending() {
    let mut card = Card::new();
    card.send(&short(0x10, 1, 0, 0, &[1], None));
    card.layer.reset();
    assert_eq!(card.send(&short(0x00, 1, 0, 0, &[2], Some(1))), (vec![2], 0x9000));
    assert_eq!(card.send(&short(0x00, 1, 0, 0, &[3, 4], Some(1))).1, 0x6101);
    card.layer.reset();
    assert_eq!(card.send(&[0, 0xC0, 0, 0, 0]).1, 0x6985);
}

#[test]
fn small_out_buffer_caps_ne() {
    let mut layer = ApduLayer::new();
    let mut app = TestApp::default();
    let mut out = [0u8; 12];
    let n = layer.process(&mut app, &short(0, 2, 0, 20, &[], Some(0)), &mut out);
    assert_eq!(&out[..n], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x61, 10]);
    let n = layer.process(&mut app, &[0, 0xC0, 0, 0, 0], &mut out);
    assert_eq!(&out[..n], &[10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 0x90, 0x00]);
    let mut tiny = [0u8; 1];
    assert_eq!(layer.process(&mut app, &[0, 1, 0, 0], &mut tiny), 0);
    let mut two = [0u8; 2];
    assert_eq!(layer.process(&mut app, &short(0, 1, 0, 0, &[1], Some(0)), &mut two), 2);
    assert_eq!(two, [0x61, 0x01]);
}

#[test]
fn layer_is_const_constructible() {
    static LAYER: std::sync::Mutex<ApduLayer> = std::sync::Mutex::new(ApduLayer::new());
    let mut app = TestApp::default();
    let mut out = [0u8; 8];
    let n = LAYER.lock().unwrap().process(&mut app, &[0, 1, 0, 0], &mut out);
    assert_eq!(&out[..n], &[0x90, 0x00]);
    let _ = ApduLayer::default();
}
