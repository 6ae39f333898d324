//! One module per command family, on the same `card` client and `hsm` commands.

pub mod attest;
pub mod backup;
pub mod ca;
pub mod device;
pub mod dkek;
pub mod hd;
pub mod info;
pub mod init;
pub mod keys;
