//! PC/SC: finding the reader, connecting, and the [`Transport`] over a connected card.

use std::ffi::CStr;

use super::{Error, Transport};

/// A card connected through pcscd.
pub struct Connection {
    card: pcsc::Card,
    reader: String,
}

impl Connection {
    /// Connects to the card in `reader`, or in the first reader that has one. The error lists the readers
    /// when none has a card.
    pub fn open(reader: Option<&str>) -> Result<Self, Error> {
        let ctx = pcsc::Context::establish(pcsc::Scope::User)
            .map_err(|e| Error::Transport(format!("cannot reach pcscd ({e}); is it running?")))?;
        let readers = ctx
            .list_readers_owned()
            .map_err(|e| Error::Transport(format!("cannot list the readers: {e}")))?;
        let names: Vec<String> = readers.iter().map(|r| r.to_string_lossy().into_owned()).collect();
        if let Some(wanted) = reader {
            let Some(name) = readers.iter().find(|r| r.to_string_lossy() == wanted) else {
                return Err(Error::Transport(format!(
                    "no reader named {wanted:?}; readers: {}",
                    list(&names)
                )));
            };
            return connect(&ctx, name).map_err(|e| Error::Transport(format!("reader {wanted:?}: {e}")));
        }
        let mut seen = Vec::new();
        for name in &readers {
            match connect(&ctx, name) {
                Ok(c) => return Ok(c),
                Err(e) => seen.push(format!("{:?} ({e})", name.to_string_lossy())),
            }
        }
        if seen.is_empty() {
            Err(Error::Transport(
                "no smart card readers found (is pcscd running, is the device plugged in?)".into(),
            ))
        } else {
            Err(Error::Transport(format!(
                "no reader with a usable card; readers: {}",
                seen.join(", ")
            )))
        }
    }

    /// The reader's name.
    pub fn reader(&self) -> &str {
        &self.reader
    }

    /// Runs `f` inside a PC/SC transaction, so no other program's commands come between ours (another
    /// SELECT would end our PIN session). Where the reader refuses transactions, runs `f` without one.
    pub fn with_transaction<R>(&mut self, f: impl FnOnce(PcscTransport<'_>) -> R) -> R {
        match self.card.transaction2() {
            Ok(tx) => f(PcscTransport::new(&tx)),
            Err((card, _)) => f(PcscTransport::new(card)),
        }
    }
}

fn connect(ctx: &pcsc::Context, name: &CStr) -> Result<Connection, String> {
    let card = ctx
        .connect(name, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .map_err(|e| match e {
            pcsc::Error::NoSmartcard | pcsc::Error::RemovedCard => "no card".to_string(),
            e => e.to_string(),
        })?;
    Ok(Connection {
        card,
        reader: name.to_string_lossy().into_owned(),
    })
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
    }
}

/// [`Transport`] over a connected PC/SC card.
pub struct PcscTransport<'a> {
    card: &'a pcsc::Card,
    buf: Vec<u8>,
}

impl<'a> PcscTransport<'a> {
    fn new(card: &'a pcsc::Card) -> Self {
        PcscTransport {
            card,
            buf: vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED],
        }
    }
}

impl Drop for PcscTransport<'_> {
    fn drop(&mut self) {
        // Responses carry key material and PIN state; do not leave them in freed memory.
        zeroize::Zeroize::zeroize(&mut self.buf);
    }
}

impl Transport for PcscTransport<'_> {
    fn transmit_raw(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
        let resp = self
            .card
            .transmit(apdu, &mut self.buf)
            .map_err(|e| Error::Transport(format!("transmit failed: {e}")))?;
        Ok(resp.to_vec())
    }
}
