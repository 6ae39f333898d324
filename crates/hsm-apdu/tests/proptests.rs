//! Property tests: parsing and the APDU layer never panic on any input; build → parse round trips
//! (ISO 7816-4 §5.1); BER-TLV write → read round trips.

use hsm_apdu::tlv::{self, Reader, Tlv};
use hsm_apdu::{ApduLayer, Application, CommandView, MAX_RESPONSE_DATA, Reply, Status};
use proptest::prelude::*;

/// Encodes a command the way a host would: short form when it fits, else extended.
fn build(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], ne: usize, force_extended: bool) -> Vec<u8> {
    let extended = force_extended || data.len() > 255 || ne > 256;
    let mut v = vec![cla, ins, p1, p2];
    if extended {
        if !data.is_empty() || ne > 0 {
            v.push(0);
        }
        if !data.is_empty() {
            v.extend_from_slice(&(data.len() as u16).to_be_bytes());
            v.extend_from_slice(data);
        }
        if ne > 0 {
            v.extend_from_slice(&((ne % 65536) as u16).to_be_bytes());
        }
    } else {
        if !data.is_empty() {
            v.push(data.len() as u8);
            v.extend_from_slice(data);
        }
        if ne > 0 {
            v.push((ne % 256) as u8);
        }
    }
    v
}

/// Answers INS 02 with P1*256+P2 bytes, INS 01 echoes, INS 03 fails after writing.
struct App;

impl Application for App {
    fn process(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        match cmd.ins {
            0x01 => Ok(reply.extend(cmd.data)?),
            0x02 => {
                let n = usize::from(cmd.p1) * 256 + usize::from(cmd.p2);
                reply.reserve(n.min(MAX_RESPONSE_DATA))?;
                Ok(())
            }
            0x03 => {
                reply.push(1)?;
                Err(Status::IncorrectData)
            }
            _ => Err(Status::InstructionNotSupported),
        }
    }
}

/// An APDU that is likely to exercise the interesting paths: chaining CLA, GET RESPONSE, SELECT.
fn apdu_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        (
            prop::sample::select(vec![0x00u8, 0x10, 0x80, 0x90, 0x0C]),
            prop::sample::select(vec![0x01u8, 0x02, 0x03, 0xA4, 0xC0, 0x55]),
            0u8..6,
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 0..600),
            0usize..70000,
            any::<bool>(),
        )
            .prop_map(|(cla, ins, p1, p2, data, ne, ext)| build(cla, ins, p1, p2, &data, ne, ext)),
    ]
}

fn tag_strategy() -> impl Strategy<Value = u16> {
    prop_oneof![
        // One-byte tags: low five bits not all set.
        any::<u8>()
            .prop_filter("one-byte tag", |b| b & 0x1F != 0x1F)
            .prop_map(u16::from),
        // Two-byte tags: first byte xx1F-form, second byte without the "more" bit.
        (any::<u8>(), 0u8..0x80).prop_map(|(a, b)| u16::from_be_bytes([a | 0x1F, b])),
    ]
}

proptest! {
    #[test]
    fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = CommandView::parse(&bytes);
    }

    #[test]
    fn build_parse_round_trip(
        cla in any::<u8>(), ins in any::<u8>(), p1 in any::<u8>(), p2 in any::<u8>(),
        data in prop::collection::vec(any::<u8>(), 0..700),
        ne in prop_oneof![Just(0usize), 1usize..=256, 1usize..=65536],
        force_extended in any::<bool>(),
    ) {
        let apdu = build(cla, ins, p1, p2, &data, ne, force_extended);
        let cmd = CommandView::parse(&apdu).unwrap();
        prop_assert_eq!((cmd.cla, cmd.ins, cmd.p1, cmd.p2), (cla, ins, p1, p2));
        prop_assert_eq!(cmd.data, &data[..]);
        prop_assert_eq!(cmd.ne, ne);
        let expect_ext = (force_extended && (!data.is_empty() || ne > 0)) || data.len() > 255 || ne > 256;
        prop_assert_eq!(cmd.extended, expect_ext);
    }

    #[test]
    fn layer_never_panics(apdus in prop::collection::vec(apdu_strategy(), 1..30), out_len in 2usize..300) {
        let mut layer = ApduLayer::new();
        let mut out = vec![0u8; MAX_RESPONSE_DATA + 2];
        let mut small = vec![0u8; out_len];
        for (i, apdu) in apdus.iter().enumerate() {
            let buf = if i % 3 == 2 { &mut small[..] } else { &mut out[..] };
            let n = layer.process(&mut App, apdu, buf);
            prop_assert!(n >= 2 && n <= buf.len());
            let sw = u16::from_be_bytes([buf[n - 2], buf[n - 1]]);
            // Data only comes with 9000 or 61xx.
            if n > 2 {
                prop_assert!(sw == 0x9000 || sw >> 8 == 0x61, "sw {:04X} with data", sw);
            }
        }
    }

    #[test]
    fn get_response_returns_whole_response(len in 0usize..=MAX_RESPONSE_DATA, le in 1usize..=256) {
        let mut layer = ApduLayer::new();
        let mut app = EchoPattern(len);
        let mut out = vec![0u8; MAX_RESPONSE_DATA + 2];
        let le_byte = (le % 256) as u8;
        let mut n = layer.process(&mut app, &[0, 0, 0, 0, le_byte], &mut out);
        let mut got = Vec::new();
        loop {
            prop_assert!(n - 2 <= le);
            got.extend_from_slice(&out[..n - 2]);
            let (sw1, sw2) = (out[n - 2], out[n - 1]);
            if (sw1, sw2) == (0x90, 0) {
                break;
            }
            prop_assert_eq!(sw1, 0x61);
            let left = len - got.len();
            prop_assert_eq!(usize::from(sw2), if left >= 256 { 0 } else { left });
            n = layer.process(&mut app, &[0, 0xC0, 0, 0, le_byte], &mut out);
        }
        prop_assert_eq!(got, (0..len).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    }

    #[test]
    fn chaining_reassembles_any_split(
        data in prop::collection::vec(any::<u8>(), 1..2000),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        cla in prop::sample::select(vec![0x00u8, 0x80]),
    ) {
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(data.len())).collect();
        points.push(0);
        points.push(data.len());
        points.sort_unstable();
        points.dedup();
        let parts: Vec<&[u8]> = points.windows(2).map(|w| &data[w[0]..w[1]]).collect();
        let mut layer = ApduLayer::new();
        let mut out = vec![0u8; MAX_RESPONSE_DATA + 2];
        let (last, init) = parts.split_last().unwrap();
        for part in init {
            let n = layer.process(&mut App, &build(cla | 0x10, 1, 0, 0, part, 0, false), &mut out);
            prop_assert_eq!(&out[..n], &[0x90, 0x00]);
        }
        let n = layer.process(&mut App, &build(cla, 1, 0, 0, last, 65536, false), &mut out);
        prop_assert_eq!(&out[n - 2..n], &[0x90, 0x00]);
        prop_assert_eq!(&out[..n - 2], &data[..]);
    }

    #[test]
    fn tlv_round_trip(objects in prop::collection::vec((tag_strategy(), prop::collection::vec(any::<u8>(), 0..300)), 0..8)) {
        let mut buf = vec![0u8; 8192];
        let mut reply = Reply::new(&mut buf);
        for (tag, value) in &objects {
            tlv::write(&mut reply, *tag, value).unwrap();
        }
        let encoded = reply.as_slice().to_vec();
        let read: Vec<Tlv<'_>> = Reader::new(&encoded).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(read.len(), objects.len());
        for (t, (tag, value)) in read.iter().zip(&objects) {
            prop_assert_eq!(t.tag, *tag);
            prop_assert_eq!(t.value, &value[..]);
        }
        if let Some((tag, value)) = objects.first() {
            prop_assert_eq!(tlv::find(&encoded, *tag).unwrap(), Some(&value[..]));
        }
    }

    #[test]
    fn tlv_truncated_is_error(tag in tag_strategy(), value in prop::collection::vec(any::<u8>(), 0..300), cut in any::<prop::sample::Index>()) {
        let mut buf = vec![0u8; 400];
        let mut reply = Reply::new(&mut buf);
        tlv::write(&mut reply, tag, &value).unwrap();
        let encoded = reply.as_slice();
        let cut = cut.index(encoded.len()).max(1);
        let truncated = &encoded[..cut];
        if cut < encoded.len() {
            let items: Vec<_> = Reader::new(truncated).collect();
            prop_assert_eq!(items, vec![Err(Status::WrongLength)]);
            prop_assert_eq!(tlv::find(truncated, tag), Err(Status::WrongLength));
        }
    }

    #[test]
    fn tlv_reader_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut errors = 0;
        for item in Reader::new(&bytes) {
            if item.is_err() {
                errors += 1;
            }
        }
        prop_assert!(errors <= 1);
        let _ = tlv::find(&bytes, 0x80);
    }
}

/// Answers every command with `len` bytes of a pattern.
struct EchoPattern(usize);

impl Application for EchoPattern {
    fn process(&mut self, _cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        for i in 0..self.0 {
            reply.push((i % 251) as u8)?;
        }
        Ok(())
    }
}
