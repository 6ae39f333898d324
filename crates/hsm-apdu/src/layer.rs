//! APDU layer: chaining and GET RESPONSE.

use crate::{CommandView, Reply, Status};

/// Assembled (de-chained) command data limit; upstream is 2076.
pub const MAX_COMMAND_DATA: usize = 4096;
/// Longest response data an Application may produce.
pub const MAX_RESPONSE_DATA: usize = 4096;

/// A card application.
pub trait Application {
    /// Processes one complete (de-chained) command. Response data goes into `reply` (capacity MAX_RESPONSE_DATA).
    /// Ok(()) answers 9000 with the reply data; Err(sw) answers sw with NO data (reply is discarded).
    fn process(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status>;
}

/// The APDU layer state.
pub struct ApduLayer {
    chain: [u8; MAX_COMMAND_DATA],
    chain_len: usize,
    pending: [u8; MAX_RESPONSE_DATA],
    pending_off: usize,
    pending_len: usize,
}

impl ApduLayer {
    /// A fresh layer.
    pub const fn new() -> Self {
        ApduLayer {
            chain: [0; MAX_COMMAND_DATA],
            chain_len: 0,
            pending: [0; MAX_RESPONSE_DATA],
            pending_off: 0,
            pending_len: 0,
        }
    }

    /// Card power-off / reset: drops any chain and pending response.
    pub fn reset(&mut self) {
        self.chain_len = 0;
        self.pending_off = 0;
        self.pending_len = 0;
    }

    /// Handles one raw command APDU from the transport.
    pub fn process<A: Application>(&mut self, app: &mut A, apdu: &[u8], out: &mut [u8]) -> usize {
        let _ = (app, apdu, &self.chain, &self.pending);
        let Some(sw) = out.get_mut(..2) else { return 0 };
        sw.copy_from_slice(&Status::UnknownError.to_bytes());
        2
    }
}

impl Default for ApduLayer {
    fn default() -> Self {
        Self::new()
    }
}
