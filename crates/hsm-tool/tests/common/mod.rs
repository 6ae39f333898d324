//! What the in-process tests share: the card core as the tool's transport, and two DKEK shares.
#![allow(dead_code)]

use hsm_card::testing::RamPlatform;
use hsm_card::{Card, RESPONSE_BUFFER_SIZE};
use hsm_tool::card::{Error, Transport};
use zeroize::Zeroizing;

/// The card core on a RAM flash, answering the tool's APDUs as a reader would.
pub struct InProcess(pub Card<RamPlatform>);

impl Transport for InProcess {
    fn transmit_raw(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = vec![0; RESPONSE_BUFFER_SIZE];
        let n = self.0.transmit(apdu, &mut out);
        out.truncate(n);
        Ok(out)
    }
}

/// The shares in two of the sc-hsm-tool files in tests/data (see opensc_vectors.rs).
pub const SHARE_A: &str = "61bf73783d504237355be46b5949eab0d1b4ae79b53b3c49d51f45f7fcbf0406";
pub const SHARE_B: &str = "1baf64a079e5edc8847d3620d696f51265bd95e9fcc6066a19faeaaa915346fa";

/// A share from its hex.
pub fn share(hex_share: &str) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(hex::decode(hex_share).unwrap().try_into().unwrap())
}
