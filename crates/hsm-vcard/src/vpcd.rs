//! The card side of vsmartcard's vpcd protocol.
//!
//! vpcd (the pcscd reader driver `libifdvpcd.so`) listens on a TCP port per virtual reader; the card
//! connects to it as a client. Every message in both directions is a frame: a 2-byte big-endian length
//! followed by that many bytes. A 1-byte body from vpcd is a control code ([`CTRL_OFF`], [`CTRL_ON`],
//! [`CTRL_RESET`], [`CTRL_ATR`]); only the ATR request is answered (with the ATR as a frame). Any longer
//! body is a command APDU, answered with the response APDU as a frame.
//!
//! vpcd writes a frame's length and its body separately, so the card re-arms `TCP_QUICKACK` before every
//! read: otherwise the kernel delays the ACK of the length by up to 40 ms and every APDU pays for it.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use socket2::SockRef;

/// Control code: power the card off.
pub const CTRL_OFF: u8 = 0;
/// Control code: power the card on.
pub const CTRL_ON: u8 = 1;
/// Control code: warm reset.
pub const CTRL_RESET: u8 = 2;
/// Control code: send the ATR (vpcd also uses it to poll whether the card is still there).
pub const CTRL_ATR: u8 = 4;

/// Largest frame body the 2-byte length can describe.
pub const MAX_FRAME: usize = u16::MAX as usize;

/// What the vpcd loop needs from a card.
pub trait VirtualCard {
    /// The answer to reset, sent for every [`CTRL_ATR`].
    fn atr(&self) -> &[u8];
    /// Power off, power on or reset: drop all volatile state (PIN status, selection, sessions).
    fn reset(&mut self);
    /// Processes one command APDU and returns the response APDU (data and status word).
    fn transmit(&mut self, apdu: &[u8]) -> &[u8];
    /// Clears the last response once it has been sent (it may hold secrets).
    fn forget(&mut self) {}
    /// Called once a response has been sent: the moment for what the command asked to happen after
    /// its answer (a reboot).
    fn after_response(&mut self) {}
}

/// How the vpcd client behaves.
#[derive(Clone, Debug)]
pub struct Options {
    /// vpcd's address, `HOST:PORT`.
    pub address: String,
    /// How long one read blocks before the stop flag is checked again.
    pub poll_interval: Duration,
    /// Longest pause between two connection attempts.
    pub max_backoff: Duration,
}

impl Options {
    /// Defaults for `address`: poll the stop flag every 200 ms; retry connecting at least every 500 ms, so
    /// that the card is back within a presence poll or two when pcscd (re)starts.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            poll_interval: Duration::from_millis(200),
            max_backoff: Duration::from_millis(500),
        }
    }
}

/// Why [`serve`] returned.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    /// The stop flag was raised (SIGINT, SIGTERM); the last APDU was answered.
    Requested,
}

/// Connects to vpcd and serves `card` until `stop` is raised, reconnecting whenever vpcd goes away
/// (pcscd stopped or restarted). Errors only for an address that can never work.
pub fn serve(card: &mut impl VirtualCard, options: &Options, stop: &Arc<AtomicBool>) -> io::Result<Stopped> {
    let mut backoff = Duration::from_millis(20);
    let mut waiting_logged = false;
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(Stopped::Requested);
        }
        let stream = match connect(&options.address) {
            Ok(stream) => stream,
            Err(e) if e.kind() == ErrorKind::InvalidInput => return Err(e),
            Err(e) => {
                if !waiting_logged {
                    log::info!(
                        "waiting for pcscd: vpcd at {} not reachable yet ({e}); retrying",
                        options.address
                    );
                    waiting_logged = true;
                } else {
                    log::debug!("vpcd at {} not reachable: {e}", options.address);
                }
                sleep_unless_stopped(backoff, stop);
                backoff = (backoff * 2).min(options.max_backoff);
                continue;
            }
        };
        log::debug!("connected to vpcd at {}", options.address);
        // A new connection is a new reader session: the card starts from power-on state.
        card.reset();
        let mut session = Session::new(stream);
        let end = session.run(card, options.poll_interval, stop);
        if let Ok(SessionEnd::Stopped) = end {
            return Ok(Stopped::Requested);
        }
        card.reset();
        if session.frames == 0 {
            // Accepted by the kernel but dropped before any request: a pcscd on its way down, or something
            // else on the port. Back off like an unreachable vpcd, and log it once.
            if !waiting_logged {
                log::info!(
                    "waiting for pcscd: vpcd at {} dropped the connection before any request",
                    options.address
                );
                waiting_logged = true;
            }
            sleep_unless_stopped(backoff, stop);
            backoff = (backoff * 2).min(options.max_backoff);
            continue;
        }
        waiting_logged = false;
        backoff = Duration::from_millis(20);
        match end {
            Err(e) => log::warn!("connection to vpcd lost: {e}; reconnecting"),
            Ok(_) => log::warn!("vpcd closed the connection (pcscd stopped or restarted); reconnecting"),
        }
    }
}

fn connect(address: &str) -> io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = address
        .to_socket_addrs()
        .map_err(|e| io::Error::new(ErrorKind::InvalidInput, format!("bad vpcd address {address:?}: {e}")))?
        .collect();
    let mut last = io::Error::new(
        ErrorKind::InvalidInput,
        format!("vpcd address {address:?} resolves to nothing"),
    );
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let deadline = Instant::now() + total;
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(50)));
    }
}

enum SessionEnd {
    Stopped,
    Closed,
}

enum ReadOutcome {
    Done,
    Closed,
    Stopped,
}

struct Session {
    stream: TcpStream,
    frame: Vec<u8>,
    reply: Vec<u8>,
    /// Frames received on this connection.
    frames: u64,
}

impl Session {
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            frame: Vec::with_capacity(4096),
            reply: Vec::with_capacity(4096),
            frames: 0,
        }
    }

    fn run(
        &mut self,
        card: &mut impl VirtualCard,
        poll_interval: Duration,
        stop: &AtomicBool,
    ) -> io::Result<SessionEnd> {
        self.stream.set_nodelay(true)?;
        self.stream.set_read_timeout(Some(poll_interval))?;
        loop {
            let mut header = [0u8; 2];
            match self.read_full(&mut header, true, stop)? {
                ReadOutcome::Done => {}
                ReadOutcome::Closed => return Ok(SessionEnd::Closed),
                ReadOutcome::Stopped => return Ok(SessionEnd::Stopped),
            }
            let len = usize::from(u16::from_be_bytes(header));
            let mut body = std::mem::take(&mut self.frame);
            body.resize(len, 0);
            let read = self.read_full(&mut body, false, stop);
            self.frame = body;
            match read? {
                ReadOutcome::Done => {}
                ReadOutcome::Closed => return Ok(SessionEnd::Closed),
                ReadOutcome::Stopped => return Ok(SessionEnd::Stopped),
            }
            if self.frames == 0 {
                // The TCP connect succeeds as soon as vpcd listens; only its first request shows that pcscd
                // has taken the card (after a restart it may take a presence poll, ~0.4 s).
                log::info!(
                    "pcscd is using the card (vpcd at {})",
                    self.stream.peer_addr().map_or_else(|_| "?".into(), |a| a.to_string())
                );
            }
            self.frames += 1;
            let handled = self.handle_frame(card);
            // The command may have carried a PIN, the response plaintext: neither stays in memory.
            zeroize::Zeroize::zeroize(&mut self.frame);
            zeroize::Zeroize::zeroize(&mut self.reply);
            card.forget();
            handled?;
        }
    }

    fn handle_frame(&mut self, card: &mut impl VirtualCard) -> io::Result<()> {
        match self.frame.as_slice() {
            [] => log::debug!("vpcd: empty frame ignored"),
            [CTRL_ATR] => {
                log::trace!("vpcd: ATR requested");
                send_frame(&mut self.stream, &mut self.reply, card.atr())?;
            }
            [code @ (CTRL_OFF | CTRL_ON | CTRL_RESET)] => {
                log::debug!("vpcd: {}", control_name(*code));
                card.reset();
            }
            [code] => log::warn!("vpcd: unknown control code {code:#04x} ignored"),
            apdu => {
                let started = Instant::now();
                let response = card.transmit(apdu);
                if log::log_enabled!(log::Level::Debug) {
                    log::debug!("{}", describe_exchange(apdu, response, started.elapsed()));
                }
                send_frame(&mut self.stream, &mut self.reply, response)?;
                card.after_response();
            }
        }
        Ok(())
    }

    /// Fills `buf`. Checks `stop` while waiting for the first byte of a frame (`at_boundary`); in the
    /// middle of a frame it keeps waiting (for at most a few poll intervals once stop was raised).
    fn read_full(&mut self, buf: &mut [u8], at_boundary: bool, stop: &AtomicBool) -> io::Result<ReadOutcome> {
        let mut filled = 0;
        let mut idle_polls_after_stop = 0;
        while filled < buf.len() {
            arm_quickack(&self.stream);
            let Some(rest) = buf.get_mut(filled..) else { break };
            match self.stream.read(rest) {
                Ok(0) => return Ok(ReadOutcome::Closed),
                Ok(n) => filled += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if stop.load(Ordering::SeqCst) {
                        if at_boundary && filled == 0 {
                            return Ok(ReadOutcome::Stopped);
                        }
                        idle_polls_after_stop += 1;
                        if idle_polls_after_stop > 10 {
                            return Ok(ReadOutcome::Stopped);
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(ReadOutcome::Done)
    }
}

/// Writes one frame with a single `write`: with `TCP_NODELAY` two writes would be two segments.
fn send_frame(stream: &mut TcpStream, scratch: &mut Vec<u8>, body: &[u8]) -> io::Result<()> {
    let len = u16::try_from(body.len()).map_err(|_| {
        io::Error::new(
            ErrorKind::InvalidData,
            format!("response of {} bytes too long", body.len()),
        )
    })?;
    scratch.clear();
    scratch.extend_from_slice(&len.to_be_bytes());
    scratch.extend_from_slice(body);
    stream.write_all(scratch)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn arm_quickack(stream: &TcpStream) {
    // Best effort: failing only costs latency.
    let _ = SockRef::from(stream).set_tcp_quickack(true);
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn arm_quickack(stream: &TcpStream) {
    let _ = SockRef::from(stream);
}

fn control_name(code: u8) -> &'static str {
    match code {
        CTRL_OFF => "power off",
        CTRL_ON => "power on",
        CTRL_RESET => "reset",
        _ => "ATR",
    }
}

/// One log line for an APDU exchange: the command header, Lc and Le as the lengths say, the response
/// length and the status word. Never any data: command data carries PINs and key material.
pub fn describe_exchange(command: &[u8], response: &[u8], elapsed: Duration) -> String {
    let header = match command {
        [cla, ins, p1, p2, ..] => format!("{cla:02X} {ins:02X} {p1:02X} {p2:02X}"),
        _ => format!("({} bytes)", command.len()),
    };
    let (lc, le) = lengths(command);
    let le = le.map_or(String::new(), |le| format!(" Le={le}"));
    let sw = match response {
        [.., sw1, sw2] => format!("{sw1:02X}{sw2:02X}"),
        _ => "none".to_string(),
    };
    format!(
        "APDU {header} Lc={lc}{le} -> {} data bytes, SW {sw} in {} us",
        response.len().saturating_sub(2),
        elapsed.as_micros()
    )
}

/// Lc and Le of a command APDU by ISO 7816-4 §5.1 (short and extended cases); Lc is 0 when the encoding
/// does not parse.
fn lengths(apdu: &[u8]) -> (usize, Option<usize>) {
    let body = apdu.get(4..).unwrap_or_default();
    match body {
        [] => (0, None),
        [le] => (0, Some(if *le == 0 { 256 } else { usize::from(*le) })),
        [0, hi, lo] => (0, Some(extended(*hi, *lo))),
        [0, hi, lo, rest @ ..] => {
            let lc = usize::from(u16::from_be_bytes([*hi, *lo]));
            match rest.len().checked_sub(lc) {
                Some(0) => (lc, None),
                Some(2) => match rest.get(lc..) {
                    Some([hi, lo]) => (lc, Some(extended(*hi, *lo))),
                    _ => (0, None),
                },
                _ => (0, None),
            }
        }
        [lc, rest @ ..] => {
            let lc = usize::from(*lc);
            match rest.len().checked_sub(lc) {
                Some(0) => (lc, None),
                Some(1) => (lc, rest.get(lc).map(|&le| if le == 0 { 256 } else { usize::from(le) })),
                _ => (0, None),
            }
        }
    }
}

/// An extended Le: `0000` means 65536.
fn extended(hi: u8, lo: u8) -> usize {
    match u16::from_be_bytes([hi, lo]) {
        0 => 65536,
        n => usize::from(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_follow_iso_cases() {
        assert_eq!(lengths(&[0, 0x84, 0, 0]), (0, None));
        assert_eq!(lengths(&[0, 0x84, 0, 0, 8]), (0, Some(8)));
        assert_eq!(lengths(&[0, 0x84, 0, 0, 0]), (0, Some(256)));
        assert_eq!(lengths(&[0, 0x20, 0, 0x81, 2, 1, 2]), (2, None));
        assert_eq!(lengths(&[0, 0xA4, 4, 0, 2, 1, 2, 0]), (2, Some(256)));
        assert_eq!(lengths(&[0, 0xB0, 0, 0, 0, 0, 0]), (0, Some(65536)));
        assert_eq!(lengths(&[0, 0xD7, 0, 0, 0, 0, 3, 1, 2, 3]), (3, None));
        assert_eq!(lengths(&[0, 0xD7, 0, 0, 0, 0, 3, 1, 2, 3, 0x10, 0]), (3, Some(4096)));
        assert_eq!(lengths(&[0, 0xD7, 0, 0, 9, 1]), (0, None));
    }

    #[test]
    fn exchange_log_never_contains_data() {
        let verify = [0x00, 0x20, 0x00, 0x81, 0x06, 0x36, 0x34, 0x38, 0x32, 0x31, 0x39];
        let line = describe_exchange(&verify, &[0x90, 0x00], Duration::from_micros(5));
        assert_eq!(line, "APDU 00 20 00 81 Lc=6 -> 0 data bytes, SW 9000 in 5 us");
        let mut response = vec![0xAA; 8];
        response.extend([0x90, 0x00]);
        let line = describe_exchange(&[0, 0x84, 0, 0, 8], &response, Duration::ZERO);
        assert_eq!(line, "APDU 00 84 00 00 Lc=0 Le=8 -> 8 data bytes, SW 9000 in 0 us");
    }
}
