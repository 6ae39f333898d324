//! `pico-hsm-vcard`: the Pico HSM card core as a virtual smart card behind vsmartcard's vpcd.
//!
//! * [`vpcd`]: the vpcd protocol (the card is a TCP client of the pcscd driver), reconnecting and
//!   stoppable, generic over [`vpcd::VirtualCard`].
//! * [`state`]: the state directory (lock, `otp.bin`, `flash.bin`).
//! * [`platform`]: [`hsm_card::Platform`] on those files.
//!
//! [`cli`] is the whole program (`main.rs` only calls it), wiring them to [`hsm_card::Card`] through
//! [`HsmCard`].
#![forbid(unsafe_code)]

pub mod cli;
pub mod platform;
pub mod state;
pub mod vpcd;

use hsm_card::{Card, Platform};

use crate::platform::FilePlatform;

/// A platform that can ask for the device to restart (the rescue applet's reboot).
pub trait Restart: Platform {
    /// Whether a restart was asked for since the last call.
    fn take_restart(&mut self) -> bool;
}

impl Restart for FilePlatform {
    fn take_restart(&mut self) -> bool {
        FilePlatform::take_restart(self)
    }
}

/// [`hsm_card::Card`] as a [`vpcd::VirtualCard`], with its response buffer.
pub struct HsmCard<P: Platform> {
    card: Card<P>,
    out: Vec<u8>,
}

impl<P: Platform> HsmCard<P> {
    /// A powered-on card on `platform`.
    pub fn new(platform: P) -> Self {
        Self {
            card: Card::new(platform),
            out: vec![0; hsm_card::RESPONSE_BUFFER_SIZE],
        }
    }

    /// The platform, for syncing its flash at shutdown.
    pub fn platform_mut(&mut self) -> &mut P {
        self.card.platform_mut()
    }
}

impl<P: Restart> vpcd::VirtualCard for HsmCard<P> {
    fn atr(&self) -> &[u8] {
        &hsm_card::ATR
    }

    fn reset(&mut self) {
        self.card.reset();
    }

    fn transmit(&mut self, apdu: &[u8]) -> &[u8] {
        let len = self.card.transmit(apdu, &mut self.out);
        self.out.get(..len).unwrap_or(&self.out)
    }

    fn forget(&mut self) {
        // The last response may hold plaintext (a decrypted secret, a private data object).
        zeroize::Zeroize::zeroize(&mut self.out[..]);
    }

    fn after_response(&mut self) {
        if self.card.platform_mut().take_restart() {
            log::info!("reboot (rescue applet): the card restarts");
            self.card.restart();
        }
    }
}
