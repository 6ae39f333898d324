//! One module per command family. `backup` / `restore` (WRAP KEY / UNWRAP KEY over the key files) will
//! sit here next to these, on the same `card` client and `hsm` commands.

pub mod dkek;
pub mod info;
