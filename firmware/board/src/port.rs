//! The hand-over between the USB executor (interrupt priority) and the card (thread mode).
//!
//! One command at a time: the USB side copies the APDU into [`MAIL`] and raises an event; the card
//! loop in `main` copies it out, runs the card, copies the answer back and signals [`DONE`]. Both
//! copies happen inside short critical sections; the card itself runs with interrupts enabled,
//! so USB (and its time extensions) are served while an RSA key is generated.

use core::cell::RefCell;

use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::signal::Signal;
use hsm_ccid::usb::CardPort;

use crate::layout::MAX_APDU;
use crate::led;

/// Largest answer: the card's response buffer (data + SW).
pub const MAX_RESPONSE: usize = hsm_card::RESPONSE_BUFFER_SIZE;

/// The mailbox between the two priorities.
pub struct Mail {
    command: [u8; MAX_APDU],
    command_len: usize,
    /// A command waits in `command`.
    pending: bool,
    /// Power-off, power-on or bus reset since the card last looked.
    reset: bool,
    response: [u8; MAX_RESPONSE],
    response_len: usize,
}

/// The mailbox.
pub static MAIL: Mutex<CriticalSectionRawMutex, RefCell<Mail>> = Mutex::new(RefCell::new(Mail {
    command: [0; MAX_APDU],
    command_len: 0,
    pending: false,
    reset: false,
    response: [0; MAX_RESPONSE],
    response_len: 0,
}));

/// The card answered the command it took from [`MAIL`].
pub static DONE: Signal<CriticalSectionRawMutex, ()> = Signal::new();

/// What the card loop finds in the mailbox.
pub struct Job {
    /// Reset the card's volatile state first.
    pub reset: bool,
    /// Length of the command copied into the caller's buffer, if one was waiting.
    pub command: Option<usize>,
}

/// Card side: takes what is waiting (copying a command into `buf`).
pub fn take_job(buf: &mut [u8]) -> Job {
    MAIL.lock(|m| {
        let mut m = m.borrow_mut();
        let reset = core::mem::take(&mut m.reset);
        let command = if core::mem::take(&mut m.pending) {
            let len = m.command_len.min(buf.len());
            buf[..len].copy_from_slice(&m.command[..len]);
            Some(len)
        } else {
            None
        };
        Job { reset, command }
    })
}

/// Card side: hands the answer back and wakes the USB side.
pub fn finish(response: &[u8]) {
    MAIL.lock(|m| {
        let mut m = m.borrow_mut();
        let len = response.len().min(MAX_RESPONSE);
        m.response[..len].copy_from_slice(&response[..len]);
        m.response_len = len;
    });
    DONE.signal(());
}

/// USB side of the mailbox.
pub struct Port;

impl CardPort for Port {
    fn start(&mut self, apdu: &[u8]) {
        MAIL.lock(|m| {
            let mut m = m.borrow_mut();
            let len = apdu.len().min(MAX_APDU);
            m.command[..len].copy_from_slice(&apdu[..len]);
            m.command_len = len;
            m.pending = true;
        });
        // Wakes the card loop's WFE.
        cortex_m::asm::sev();
    }

    async fn done(&mut self) {
        DONE.wait().await;
    }

    fn take_response(&mut self, out: Option<&mut [u8]>) -> usize {
        MAIL.lock(|m| {
            let m = m.borrow();
            match out {
                Some(out) => {
                    let len = m.response_len.min(out.len());
                    out[..len].copy_from_slice(&m.response[..len]);
                    len
                }
                None => 0,
            }
        })
    }

    fn power(&mut self, _on: bool) {
        MAIL.lock(|m| m.borrow_mut().reset = true);
        cortex_m::asm::sev();
    }

    fn busy(&mut self, busy: bool) {
        led::set_processing(busy);
    }
}
