//! ISO 7816-4 APDU layer of Pico HSM.
//!
//! * [`CommandView`]: a parsed command APDU (short or extended Lc/Le), borrowing its bytes.
//! * [`ApduLayer`]: the one place that does CLA command chaining, `61xx` and GET RESPONSE, and
//!   hands complete commands to an [`Application`].
//! * [`Status`]: status words; [`Reply`]: response data built into a fixed buffer.
//! * [`tlv`]: a BER-TLV reader and writer.
//!
//! No crypto, no storage, no allocation.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing))]

mod command;
mod layer;
mod reply;
mod status;
pub mod tlv;

pub use command::CommandView;
pub use layer::{ApduLayer, Application, MAX_COMMAND_DATA, MAX_RESPONSE_DATA};
pub use reply::{Full, Reply};
pub use status::Status;
