//! A small ISO 7816-4 APDU client: command encoding (short when it fits, else extended), GET RESPONSE
//! after `61xx`, a repeat with the right Le after `6Cxx`, and status words other than 9000 as a typed
//! [`CardError`]. The transport underneath is PC/SC ([`reader`]) or, in tests, anything implementing
//! [`Transport`].

pub mod reader;
mod sw;

use std::fmt;

pub use sw::describe;
use zeroize::Zeroizing;

/// Sends one command APDU and returns the whole response (data and SW1 SW2).
pub trait Transport {
    /// The response APDU, at least two bytes.
    fn transmit_raw(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error>;
}

/// A command APDU.
#[derive(Clone, Copy, Debug)]
pub struct Command<'a> {
    pub cla: u8,
    pub ins: u8,
    pub p1: u8,
    pub p2: u8,
    pub data: &'a [u8],
    /// Expected response length Ne: 0 = none, up to 65536.
    pub ne: usize,
}

impl<'a> Command<'a> {
    /// A command without data that expects no response data.
    pub const fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Command {
            cla,
            ins,
            p1,
            p2,
            data: &[],
            ne: 0,
        }
    }

    /// The same command with `data`.
    pub const fn data(mut self, data: &'a [u8]) -> Self {
        self.data = data;
        self
    }

    /// The same command expecting up to `ne` bytes (65536 = as much as the card has).
    pub const fn ne(mut self, ne: usize) -> Self {
        self.ne = ne;
        self
    }

    /// ISO 7816-4 §5.1: short Lc/Le when the data fits 255 bytes and Ne 256, else extended.
    /// The buffer is zeroized on drop: commands carry PINs and key shares.
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let lc = self.data.len();
        if lc > 65535 || self.ne > 65536 {
            return Err(Error::Protocol(format!("command too long ({lc} bytes of data)")));
        }
        let mut out = Zeroizing::new(Vec::with_capacity(lc + 9));
        out.extend_from_slice(&[self.cla, self.ins, self.p1, self.p2]);
        let extended = lc > 255 || self.ne > 256;
        // Lengths are range-checked above, so the casts below cannot truncate.
        if extended {
            out.push(0);
            if lc > 0 {
                out.extend_from_slice(&(lc as u16).to_be_bytes());
                out.extend_from_slice(self.data);
            }
            if self.ne > 0 {
                out.extend_from_slice(&((self.ne % 65536) as u16).to_be_bytes());
            }
        } else {
            if lc > 0 {
                out.push(lc as u8);
                out.extend_from_slice(self.data);
            }
            if self.ne > 0 {
                out.push((self.ne % 256) as u8);
            }
        }
        Ok(out)
    }
}

/// A response APDU: data and status word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub data: Vec<u8>,
    pub sw: u16,
}

impl Response {
    /// Splits a raw response into data and SW1 SW2.
    pub fn parse(raw: &[u8]) -> Result<Self, Error> {
        match raw {
            [data @ .., sw1, sw2] => Ok(Response {
                data: data.to_vec(),
                sw: u16::from_be_bytes([*sw1, *sw2]),
            }),
            _ => Err(Error::Protocol(format!(
                "response of {} bytes has no status word",
                raw.len()
            ))),
        }
    }
}

/// A status word other than 9000, with the command that got it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CardError {
    /// The command in words, for the message ("IMPORT DKEK SHARE").
    pub command: &'static str,
    pub sw: u16,
}

impl fmt::Display for CardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {:04X} {}", self.command, self.sw, describe(self.sw))
    }
}

/// Everything that can go wrong talking to a card.
#[derive(Debug)]
pub enum Error {
    /// The card answered with a status word other than 9000.
    Status(CardError),
    /// PC/SC failed (no pcscd, no reader, card removed, ...).
    Transport(String),
    /// The card's answer makes no sense.
    Protocol(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Status(e) => e.fmt(f),
            Error::Transport(s) | Error::Protocol(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The status word, when the card answered one.
    pub fn sw(&self) -> Option<u16> {
        match self {
            Error::Status(e) => Some(e.sw),
            _ => None,
        }
    }
}

/// An APDU client over a [`Transport`].
pub struct Client<T> {
    transport: T,
}

/// GET RESPONSE rounds before giving up on a card that keeps answering 61xx.
const MAX_GET_RESPONSE: usize = 1024;

impl<T: Transport> Client<T> {
    pub fn new(transport: T) -> Self {
        Client { transport }
    }

    /// The transport, for tests that inspect it.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport, for tests that act on it (reset an in-process card).
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Sends `cmd` and returns the complete response whatever its status word: `61xx` is followed by
    /// GET RESPONSE (data appended), `6Cxx` by the same command with Le = xx.
    pub fn transmit(&mut self, cmd: &Command<'_>) -> Result<Response, Error> {
        let mut raw = self.transport.transmit_raw(&cmd.encode()?)?;
        let mut resp = Response::parse(&raw)?;
        raw.fill(0);
        if resp.sw & 0xFF00 == 0x6C00 {
            let ne = match resp.sw & 0xFF {
                0 => 256,
                n => usize::from(n),
            };
            let mut raw = self.transport.transmit_raw(&cmd.ne(ne).encode()?)?;
            resp = Response::parse(&raw)?;
            raw.fill(0);
        }
        let mut rounds = 0;
        while resp.sw & 0xFF00 == 0x6100 {
            rounds += 1;
            if rounds > MAX_GET_RESPONSE {
                return Err(Error::Protocol("the card keeps answering 61xx".into()));
            }
            let le = match resp.sw & 0xFF {
                0 => 256,
                n => usize::from(n),
            };
            let mut raw = self
                .transport
                .transmit_raw(&Command::new(0x00, 0xC0, 0x00, 0x00).ne(le).encode()?)?;
            let next = Response::parse(&raw)?;
            raw.fill(0);
            resp.data.extend_from_slice(&next.data);
            resp.sw = next.sw;
        }
        Ok(resp)
    }

    /// Sends `cmd` and returns the response data if the status word is 9000, else [`Error::Status`]
    /// naming `what`.
    pub fn call(&mut self, what: &'static str, cmd: &Command<'_>) -> Result<Vec<u8>, Error> {
        let resp = self.transmit(cmd)?;
        if resp.sw == 0x9000 {
            Ok(resp.data)
        } else {
            Err(Error::Status(CardError {
                command: what,
                sw: resp.sw,
            }))
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A transport that plays a script of expected commands and canned responses.

    use super::{Error, Transport};

    pub struct Script {
        steps: Vec<(Vec<u8>, Vec<u8>)>,
        pub sent: Vec<Vec<u8>>,
    }

    impl Script {
        /// Steps of (expected command, response), both in hex.
        pub fn new(steps: &[(&str, &str)]) -> Self {
            let steps = steps
                .iter()
                .rev()
                .map(|(c, r)| {
                    (
                        hex::decode(c.replace(' ', "")).unwrap(),
                        hex::decode(r.replace(' ', "")).unwrap(),
                    )
                })
                .collect();
            Script {
                steps,
                sent: Vec::new(),
            }
        }

        pub fn finished(&self) -> bool {
            self.steps.is_empty()
        }
    }

    impl Transport for Script {
        fn transmit_raw(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
            self.sent.push(apdu.to_vec());
            let (expected, response) = self.steps.pop().expect("no more steps in the script");
            assert_eq!(
                hex::encode_upper(apdu),
                hex::encode_upper(&expected),
                "unexpected command"
            );
            Ok(response)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::Script;
    use super::*;

    fn hex(cmd: &Command<'_>) -> String {
        hex::encode_upper(&*cmd.encode().unwrap())
    }

    #[test]
    fn short_and_extended_encodings() {
        assert_eq!(hex(&Command::new(0x00, 0x20, 0x00, 0x81)), "00200081");
        assert_eq!(hex(&Command::new(0x80, 0x52, 0x00, 0x01).ne(256)), "8052000100");
        assert_eq!(
            hex(&Command::new(0x00, 0x20, 0x00, 0x81).data(b"1234")),
            "002000810431323334"
        );
        assert_eq!(
            hex(&Command::new(0x00, 0xB1, 0x2F, 0x02).data(&[0x54, 0x02, 0, 0]).ne(65536)),
            "00B12F02000004540200000000"
        );
        assert_eq!(hex(&Command::new(0x00, 0xB0, 0, 0).ne(300)), "00B0000000012C");
        let long = [0xAB; 300];
        let enc = Command::new(0x80, 0x74, 1, 0x93).data(&long).encode().unwrap();
        assert_eq!(enc[..7], [0x80, 0x74, 0x01, 0x93, 0x00, 0x01, 0x2C]);
        assert_eq!(enc.len(), 7 + 300);
    }

    #[test]
    fn get_response_collects_the_rest() {
        let mut client = Client::new(Script::new(&[
            ("80 58 00 00 00", "0102 6103"),
            ("00 C0 00 00 03", "030405 9000"),
        ]));
        let data = client
            .call("LIST KEYS", &Command::new(0x80, 0x58, 0, 0).ne(256))
            .unwrap();
        assert_eq!(data, [1, 2, 3, 4, 5]);
        assert!(client.transport().finished());
    }

    #[test]
    fn wrong_le_is_repeated_with_the_right_one() {
        let mut client = Client::new(Script::new(&[
            ("00 84 00 00 00", "6C08"),
            ("00 84 00 00 08", "0102030405060708 9000"),
        ]));
        let data = client
            .call("GET CHALLENGE", &Command::new(0, 0x84, 0, 0).ne(256))
            .unwrap();
        assert_eq!(data.len(), 8);
    }

    #[test]
    fn status_words_become_typed_errors() {
        let mut client = Client::new(Script::new(&[("80 52 00 00 00", "6A88")]));
        let err = client
            .call("KEY DOMAIN STATUS", &Command::new(0x80, 0x52, 0, 0).ne(256))
            .unwrap_err();
        assert_eq!(err.sw(), Some(0x6A88));
        assert!(
            err.to_string()
                .starts_with("KEY DOMAIN STATUS: 6A88 referenced data not found")
        );
    }
}
