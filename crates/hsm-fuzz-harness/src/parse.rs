//! The `apdu_parse` harness: `CommandView::parse`, the BER-TLV reader and `ApduLayer::process`.
//!
//! The whole input is parsed as one command APDU and read as BER-TLV; then it is read again as a
//! sequence of records `[out_sel] [u16 BE length] [APDU]` fed to an `ApduLayer` in front of an echo
//! application, and every response is compared with a reference model of the behaviour documented on
//! `ApduLayer` (chaining, header checks, 61xx / GET RESPONSE, limits).

use hsm_apdu::tlv::{self, Reader};
use hsm_apdu::{ApduLayer, Application, CommandView, MAX_COMMAND_DATA, MAX_RESPONSE_DATA, Reply, Status};

pub fn run(data: &[u8]) {
    check_command(data);
    check_tlv(data);
    if let Ok(cmd) = CommandView::parse(data) {
        check_tlv(cmd.data);
    }
    run_layer(data);
}

/// Encodes a parsed command again; the encoding of an accepted APDU is unique, so this must give back
/// the input.
fn encode(c: &CommandView<'_>) -> Vec<u8> {
    let mut v = vec![c.cla, c.ins, c.p1, c.p2];
    if !c.extended {
        if !c.data.is_empty() {
            v.push(c.data.len() as u8);
            v.extend_from_slice(c.data);
        }
        if c.ne > 0 {
            v.push(if c.ne == 256 { 0 } else { c.ne as u8 });
        }
    } else {
        let le = |ne: usize| if ne == 65536 { [0, 0] } else { (ne as u16).to_be_bytes() };
        v.push(0);
        if c.data.is_empty() {
            v.extend_from_slice(&le(c.ne));
        } else {
            v.extend_from_slice(&(c.data.len() as u16).to_be_bytes());
            v.extend_from_slice(c.data);
            if c.ne > 0 {
                v.extend_from_slice(&le(c.ne));
            }
        }
    }
    v
}

fn check_command(data: &[u8]) {
    match CommandView::parse(data) {
        Err(sw) => assert_eq!(sw, Status::WrongLength, "parse error other than 6700"),
        Ok(c) => {
            if c.extended {
                assert!(c.data.len() <= 65535 && c.ne <= 65536, "{c:?}");
                assert!(!c.data.is_empty() || c.ne > 0, "extended case 1: {c:?}");
            } else {
                assert!(c.data.len() <= 255 && c.ne <= 256, "{c:?}");
            }
            assert_eq!(encode(&c), data, "parse is not the inverse of the encoding: {c:?}");
            assert_eq!(c.is_chained(), c.cla & 0x10 != 0);
        }
    }
}

fn check_tlv(data: &[u8]) {
    let mut objects = Vec::new();
    let mut reader = Reader::new(data);
    let mut consumed = 0usize;
    let mut failed = false;
    for (i, item) in reader.by_ref().enumerate() {
        assert!(i <= data.len(), "TLV reader does not terminate");
        assert!(!failed, "TLV reader yielded an item after an error");
        match item {
            Ok(t) => {
                // Every object takes at least a tag and a length byte, and its value lies in the input.
                let start = t.value.as_ptr() as usize - data.as_ptr() as usize;
                assert!(start + t.value.len() <= data.len());
                assert!(start >= consumed + 2, "object value overlaps the previous object");
                consumed = start + t.value.len();
                objects.push(t);
            }
            Err(sw) => {
                assert_eq!(sw, Status::WrongLength);
                failed = true;
            }
        }
    }
    assert!(reader.next().is_none(), "TLV reader restarted after its end");
    if !failed {
        assert_eq!(consumed, data.len(), "TLV reader ended before the data did");
    }

    // find() agrees with the reader.
    for t in objects.iter().take(4) {
        let first = objects.iter().find(|o| o.tag == t.tag).map(|o| o.value);
        assert_eq!(tlv::find(data, t.tag), Ok(first), "find({:04X})", t.tag);
    }

    // Writing the objects back (minimal lengths) and reading them again gives the same objects.
    let mut buf = vec![0u8; data.len() + 8 * objects.len() + 8];
    let mut reply = Reply::new(&mut buf);
    for t in &objects {
        tlv::write(&mut reply, t.tag, t.value).expect("re-encoded objects fit");
    }
    let written = reply.as_slice().to_vec();
    assert!(
        written.len() <= consumed,
        "minimal re-encoding is longer than the input"
    );
    let again: Vec<_> = Reader::new(&written)
        .collect::<Result<_, _>>()
        .expect("re-encoded TLV is well-formed");
    assert_eq!(again, objects, "TLV write/read round trip");
}

/// What the echo application received.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Call {
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
    data: Vec<u8>,
    ne: usize,
}

/// INS EE: fails with the status word P1-P2. Otherwise answers `P1-P2 & 1FFF` bytes derived from the
/// command (more than MAX_RESPONSE_DATA does not fit the reply: 6400).
fn echo(c: &Call) -> Result<Vec<u8>, Status> {
    let p1p2 = u16::from_be_bytes([c.p1, c.p2]);
    if c.ins == 0xEE {
        return Err(Status::from_u16(p1p2));
    }
    let len = usize::from(p1p2 & 0x1FFF);
    let sum = c.data.iter().fold(c.ins, |a, &b| a.wrapping_mul(31).wrapping_add(b));
    let out: Vec<u8> = (0..len).map(|i| (i as u8) ^ sum ^ (c.data.len() as u8)).collect();
    if len > MAX_RESPONSE_DATA {
        return Err(Status::ExecutionError);
    }
    Ok(out)
}

#[derive(Default)]
struct EchoApp {
    calls: Vec<Call>,
}

impl Application for EchoApp {
    fn process(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        assert_eq!(cmd.cla & 0x10, 0, "a chain part reached the application");
        assert!(
            cmd.data.len() <= MAX_COMMAND_DATA,
            "command data beyond MAX_COMMAND_DATA"
        );
        assert_eq!(reply.len(), 0);
        assert_eq!(reply.remaining(), MAX_RESPONSE_DATA, "reply capacity");
        let call = Call {
            cla: cmd.cla,
            ins: cmd.ins,
            p1: cmd.p1,
            p2: cmd.p2,
            data: cmd.data.to_vec(),
            ne: cmd.ne,
        };
        let result = echo(&call);
        self.calls.push(call);
        let out = result?;
        reply.extend(&out)?;
        Ok(())
    }
}

/// The behaviour documented on `ApduLayer`, written out plainly.
#[derive(Default)]
struct Model {
    /// Header (CLA without bit 10, INS, P1, P2) and data of the chain in progress.
    chain: Option<([u8; 4], Vec<u8>)>,
    pending: Vec<u8>,
}

impl Model {
    fn reset(&mut self) {
        self.chain = None;
        self.pending.clear();
    }

    /// The expected response and the expected application call.
    fn process(&mut self, apdu: &[u8], out_len: usize) -> (Vec<u8>, Option<Call>) {
        if out_len < 2 {
            return (vec![], None);
        }
        let sw = |s: Status| s.to_bytes().to_vec();
        let Ok(cmd) = CommandView::parse(apdu) else {
            self.reset();
            return (sw(Status::WrongLength), None);
        };
        let ne = if apdu.len() == 4 { 256 } else { cmd.ne };
        let header = [cmd.cla & !0x10, cmd.ins, cmd.p1, cmd.p2];
        let continues = match &self.chain {
            Some((h, _)) if *h == header => true,
            Some(_) => {
                self.reset();
                if cmd.ins != 0xA4 || cmd.p1 != 0x04 {
                    return (sw(Status::LastCommandOfChainExpected), None);
                }
                false
            }
            None => false,
        };
        if !continues && cmd.ins == 0xC0 && (cmd.cla == 0x00 || cmd.cla == 0x80) {
            if self.pending.is_empty() {
                return (sw(Status::ConditionsNotSatisfied), None);
            }
            if cmd.p1 != 0 || cmd.p2 != 0 {
                return (sw(Status::IncorrectP1P2), None);
            }
            return (self.send(ne, out_len), None);
        }
        self.pending.clear();
        if cmd.is_chained() {
            let mut data = self.chain.take().map(|(_, d)| d).unwrap_or_default();
            data.extend_from_slice(cmd.data);
            if data.len() > MAX_COMMAND_DATA {
                return (sw(Status::WrongLength), None);
            }
            self.chain = Some((header, data));
            return (sw(Status::Success), None);
        }
        let data = if continues {
            let mut data = self.chain.take().map(|(_, d)| d).unwrap_or_default();
            data.extend_from_slice(cmd.data);
            if data.len() > MAX_COMMAND_DATA {
                return (sw(Status::WrongLength), None);
            }
            data
        } else {
            if cmd.data.len() > MAX_COMMAND_DATA {
                return (sw(Status::WrongLength), None);
            }
            cmd.data.to_vec()
        };
        let call = Call {
            cla: cmd.cla,
            ins: cmd.ins,
            p1: cmd.p1,
            p2: cmd.p2,
            data,
            ne,
        };
        let resp = match echo(&call) {
            Ok(out) => {
                self.pending = out;
                self.send(ne, out_len)
            }
            Err(s) => sw(s),
        };
        (resp, Some(call))
    }

    fn send(&mut self, ne: usize, out_len: usize) -> Vec<u8> {
        let n = self.pending.len().min(ne).min(out_len - 2);
        let mut resp: Vec<u8> = self.pending.drain(..n).collect();
        let left = self.pending.len();
        let status = match left {
            0 => Status::Success,
            1..=255 => Status::MoreAvailable(left as u8),
            _ => Status::MoreAvailable(0),
        };
        resp.extend_from_slice(&status.to_bytes());
        resp
    }
}

/// Records `[out_sel] [len_hi len_lo] [len bytes]`; out_sel 0 means the full buffer, otherwise the
/// response buffer is out_sel - 1 bytes (so 0 and 1 test the "too short for a status word" path).
pub fn records(data: &[u8]) -> Vec<(usize, &[u8])> {
    let mut v = Vec::new();
    let mut rest = data;
    while rest.len() >= 3 && v.len() < 64 {
        let out_len = match rest[0] {
            0 => MAX_RESPONSE_DATA + 2,
            s => usize::from(s) - 1,
        };
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        v.push((out_len, &rest[3..3 + len]));
        rest = &rest[3 + len..];
    }
    v
}

/// Encodes records for [`records`] (seed generation).
pub fn encode_records(recs: &[(u8, &[u8])]) -> Vec<u8> {
    let mut v = Vec::new();
    for (sel, apdu) in recs {
        v.push(*sel);
        v.extend_from_slice(&(apdu.len() as u16).to_be_bytes());
        v.extend_from_slice(apdu);
    }
    v
}

fn run_layer(data: &[u8]) {
    let mut layer = Box::new(ApduLayer::new());
    let mut app = EchoApp::default();
    let mut model = Model::default();
    let mut out = vec![0u8; MAX_RESPONSE_DATA + 2];
    for (out_len, apdu) in records(data) {
        let buf = &mut out[..out_len];
        let n = layer.process(&mut app, apdu, buf);
        assert!(n <= out_len, "response longer than the buffer");
        let (expected, call) = model.process(apdu, out_len);
        let got = app.calls.pop();
        assert!(app.calls.is_empty(), "the application ran more than once");
        assert_eq!(got, call, "application call differs from the model for {apdu:02X?}");
        assert_eq!(
            &buf[..n],
            &expected[..],
            "ApduLayer response differs from the model for {apdu:02X?} (buffer {out_len})"
        );
    }
}
