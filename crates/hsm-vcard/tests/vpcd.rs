//! The vpcd client against an in-process fake vpcd (a TCP server speaking the same framing).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hsm_vcard::vpcd::{self, CTRL_ATR, CTRL_OFF, CTRL_ON, CTRL_RESET, Options, Stopped, VirtualCard};

const ATR: [u8; 4] = [0x3B, 0x02, 0x14, 0x50];

/// Answers every APDU with the APDU itself (cut to fit a frame) and 9000; counts resets.
#[derive(Default)]
struct EchoCard {
    resets: usize,
    out: Vec<u8>,
}

impl VirtualCard for EchoCard {
    fn atr(&self) -> &[u8] {
        &ATR
    }

    fn reset(&mut self) {
        self.resets += 1;
    }

    fn transmit(&mut self, apdu: &[u8]) -> &[u8] {
        self.out.clear();
        self.out.extend_from_slice(&apdu[..apdu.len().min(vpcd::MAX_FRAME - 2)]);
        self.out.extend_from_slice(&[0x90, 0x00]);
        &self.out
    }
}

struct Running {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<(EchoCard, std::io::Result<Stopped>)>,
}

impl Running {
    fn start(address: String) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let mut options = Options::new(address);
        options.poll_interval = Duration::from_millis(50);
        options.max_backoff = Duration::from_millis(100);
        let thread = thread::spawn(move || {
            let mut card = EchoCard::default();
            let result = vpcd::serve(&mut card, &options, &flag);
            (card, result)
        });
        Self { stop, thread }
    }

    fn stop(self) -> EchoCard {
        self.stop.store(true, Ordering::SeqCst);
        let (card, result) = self.thread.join().unwrap();
        assert_eq!(result.unwrap(), Stopped::Requested);
        card
    }
}

/// Sends a frame the way vpcd 3.3 does: the length and the body in two writes.
fn send(stream: &mut TcpStream, body: &[u8]) {
    stream
        .write_all(&u16::try_from(body.len()).unwrap().to_be_bytes())
        .unwrap();
    stream.write_all(body).unwrap();
}

fn receive(stream: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut body).unwrap();
    body
}

fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    (listener, address)
}

#[test]
fn answers_atr_controls_and_apdus_of_every_size() {
    let (listener, address) = listener();
    let card = Running::start(address);
    let (mut vpcd, _) = listener.accept().unwrap();
    vpcd.set_nodelay(true).unwrap();

    send(&mut vpcd, &[CTRL_ATR]);
    assert_eq!(receive(&mut vpcd), ATR);
    for code in [CTRL_ON, CTRL_RESET, CTRL_OFF, CTRL_ON] {
        send(&mut vpcd, &[code]);
    }
    // Upstream's fixed 4096-byte buffer overflowed here; every length up to the frame limit must work.
    for len in [2, 4, 5, 261, 4095, 4096, 4097, 5000, 65535] {
        let apdu: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        send(&mut vpcd, &apdu);
        let response = receive(&mut vpcd);
        let echoed = len.min(vpcd::MAX_FRAME - 2);
        assert_eq!(response.len(), echoed + 2, "APDU of {len} bytes");
        assert_eq!(&response[..echoed], &apdu[..echoed]);
        assert_eq!(&response[echoed..], [0x90, 0x00]);
    }
    send(&mut vpcd, &[CTRL_ATR]);
    assert_eq!(receive(&mut vpcd), ATR);

    let card = card.stop();
    // One reset for the new connection, four for the control frames.
    assert_eq!(card.resets, 5);
}

#[test]
fn reconnects_when_vpcd_goes_away_and_comes_back() {
    let (listener, address) = listener();
    let card = Running::start(address);
    for round in 0..3 {
        let (mut vpcd, _) = listener.accept().unwrap();
        send(&mut vpcd, &[CTRL_ATR]);
        assert_eq!(receive(&mut vpcd), ATR, "round {round}");
        send(&mut vpcd, &[0x00, 0x84, 0x00, 0x00, 0x08]);
        assert_eq!(receive(&mut vpcd), [0x00, 0x84, 0x00, 0x00, 0x08, 0x90, 0x00]);
        drop(vpcd);
    }
    let card = card.stop();
    // A reset when each connection starts and when it is lost (and one more if the card reconnected again
    // before the stop).
    assert!((6..=7).contains(&card.resets), "{} resets", card.resets);
}

#[test]
fn waits_for_vpcd_that_is_not_there_yet_and_stops_on_request() {
    let (listener, address) = listener();
    drop(listener);
    let card = Running::start(address.clone());
    thread::sleep(Duration::from_millis(300));
    // pcscd starts late: the card keeps retrying and connects.
    let listener = TcpListener::bind(&address).unwrap();
    let (mut vpcd, _) = listener.accept().unwrap();
    send(&mut vpcd, &[CTRL_ATR]);
    assert_eq!(receive(&mut vpcd), ATR);
    let started = Instant::now();
    card.stop();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "stop took {:?}",
        started.elapsed()
    );
}

#[test]
fn stop_waits_for_the_apdu_in_flight() {
    let (listener, address) = listener();
    let card = Running::start(address);
    let (mut vpcd, _) = listener.accept().unwrap();
    // Half a frame, then the stop request, then the rest: the APDU is still answered.
    vpcd.write_all(&[0x00, 0x05, 0x00, 0x84]).unwrap();
    thread::sleep(Duration::from_millis(100));
    card.stop.store(true, Ordering::SeqCst);
    thread::sleep(Duration::from_millis(100));
    vpcd.write_all(&[0x00, 0x00, 0x08]).unwrap();
    assert_eq!(receive(&mut vpcd), [0x00, 0x84, 0x00, 0x00, 0x08, 0x90, 0x00]);
    card.stop();
}

#[test]
fn round_trip_over_loopback() {
    let (listener, address) = listener();
    let card = Running::start(address);
    // Like vpcd: Nagle on, length and body in two writes.
    let (mut vpcd, _) = listener.accept().unwrap();
    let apdu = [0x00, 0x84, 0x00, 0x00, 0x08];
    let mut times: Vec<Duration> = (0..2000)
        .map(|_| {
            let started = Instant::now();
            send(&mut vpcd, &apdu);
            receive(&mut vpcd);
            started.elapsed()
        })
        .collect();
    times.sort();
    // Reported, not asserted: without TCP_QUICKACK this is ~40 ms (delayed ACK of the length write).
    println!(
        "vpcd framing round trip over loopback (echo card): median {:?}, p99 {:?}",
        times[times.len() / 2],
        times[times.len() * 99 / 100]
    );
    card.stop();
}

#[test]
fn backs_off_when_connections_are_dropped_before_any_request() {
    let (listener, address) = listener();
    let card = Running::start(address);
    listener.set_nonblocking(true).unwrap();
    let started = Instant::now();
    let mut accepted = 0;
    while started.elapsed() < Duration::from_secs(1) {
        match listener.accept() {
            Ok((stream, _)) => {
                accepted += 1;
                drop(stream);
            }
            Err(_) => thread::sleep(Duration::from_millis(1)),
        }
    }
    // 20, 40, 80, ... 500 ms between attempts: a handful, not a busy loop of thousands.
    assert!((1..=15).contains(&accepted), "{accepted} connections in one second");
    card.stop();
}
