//! File identifiers, file classes and their access rules (reference §5.1, §5.2; DESIGN §5).

use alloc::vec::Vec;

/// The SmartCard-HSM application identifier (reference §1).
pub const AID: [u8; 11] = [0xE8, 0x2B, 0x06, 0x01, 0x04, 0x01, 0x81, 0xC3, 0x1F, 0x02, 0x01];

/// Well-known file identifiers.
pub mod fid {
    pub const MF: u16 = 0x3F00;
    pub const EF_DIR: u16 = 0x2F00;
    pub const EF_ATR: u16 = 0x2F01;
    /// Device CV certificate chain (C_DevAut).
    pub const C_DEVAUT: u16 = 0x2F02;
    pub const TOKEN_INFO: u16 = 0x2F03;
    pub const DF_PKCS15: u16 = 0x5015;
    /// User PIN record: length, format, verifier and the MKEK sealed under the PIN.
    pub const USER_PIN: u16 = 0x1081;
    /// User PIN retry counter `[max, current]` (counters store).
    pub const USER_RETRIES: u16 = 0x1083;
    /// SO-PIN record, same layout as [`USER_PIN`].
    pub const SO_PIN: u16 = 0x1088;
    /// SO-PIN retry counter `[max, current]` (counters store).
    pub const SO_RETRIES: u16 = 0x108A;
    pub const DEVICE_OPTIONS: u16 = 0x100E;
    /// The secure-lock record (`extras.rs`): the MKEK's device share `Z`, or `Z ⊕ S` and a check
    /// of the host secret `S` while the lock is on. Sealed under the device key. Internal.
    pub const SECURE_LOCK: u16 = 0x1010;
    pub const KEY_DOMAINS: u16 = 0x10A0;
    /// The journal of an INITIALIZE being applied (`init.rs`).
    pub const INIT_JOURNAL: u16 = 0x10F0;
    pub const DKEK: u16 = 0x1090;
    /// `1070+d`: the UID of XKEK key domain `d` (the group signer key's public point without its
    /// `04`), as upstream's `EF_XKEK`. Internal: not selectable, not readable.
    pub const XKEK: u16 = 0x1070;
    pub const PUK_AUTH: u16 = 0x10C0;
    /// The `CAxx` certificates PSO VERIFY CERTIFICATE verified (`pso.rs`): `xx ‖ SHA-256(certificate)`
    /// per entry. A `CAxx` file is trusted only with its entry here, so OpenSC may keep writing its
    /// own CA certificates into `CAxx` with UPDATE BINARY without making them trusted. Internal.
    pub const TRUSTED_CAS: u16 = 0x10B0;
    /// `1110+s`: the HD master of slot `s` (0..9, INS 4A), sealed under the MKEK, as upstream's
    /// `EF_MASTER_SEED`. Internal: not selectable, not readable.
    pub const HD_MASTER: u16 = 0x1110;
    /// Device private key (slot 0), sealed under the device root key.
    pub const DEVICE_KEY: u16 = 0xCC00;
    pub const DEVICE_PRKD: u16 = 0xC400;
    pub const DEVICE_REQUEST: u16 = 0xCE00;
    /// High byte of `D0xx`: metadata (tags 91–93) of key `xx`. The use counter (90) lives in the
    /// counters store under the key's own FID `CCxx`.
    pub const META_PREFIX: u8 = 0xD0;
}

/// File-id prefixes of dynamic objects (reference §5.2).
pub mod prefix {
    pub const KEY: u8 = 0xCC;
    pub const PRKD: u8 = 0xC4;
    pub const CD: u8 = 0xC8;
    pub const DCOD: u8 = 0xC9;
    pub const EE_CERT: u8 = 0xCE;
    pub const PROTECTED_DATA: u8 = 0xCD;
}

/// Device option bits (reference §6.7), EF 100E.
pub mod options {
    pub const RESET_RETRY_COUNTER: u16 = 0x0001;
    pub const TRANSPORT_PIN: u16 = 0x0002;
    pub const RESET_RETRY_ONLY: u16 = 0x0020;
    /// Press-to-confirm: key use waits for the button (`Platform::confirm`).
    pub const BUTTON: u16 = 0x0100;
    /// New keys get a use counter when their request sets none.
    pub const KEY_COUNTER_ALL: u16 = 0x0200;
    /// Secure lock. Never stored in EF 100E: reported from the secure-lock record (`extras.rs`).
    pub const SECURE_LOCK: u16 = 0x0400;
}

/// What a file id is, which decides what SELECT, READ, UPDATE and DELETE may do with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// 3F00.
    MasterFile,
    /// 5015 (PKCS#15 DF).
    Directory,
    /// EF.DIR: generated, read-only.
    Generated,
    /// EF.TokenInfo: generated until the host writes its own (label).
    TokenInfo,
    /// Empty, read-only placeholders (EF.ATR, ODF, PKCS#15 DFs).
    Placeholder,
    /// PINs, options, MKEK, domains, DKEK, XKEK domain UIDs, PUKs, seeds, metadata: never readable or
    /// writable from outside.
    Internal,
    /// CCxx: key material, never readable; written only by key commands.
    Key,
    /// CDxx: readable after user authentication.
    ProtectedData,
    /// Everything else: public objects (C4, C8, C9, CE, CF, 2F02, ...).
    Public,
}

/// The class of `fid`.
pub fn classify(fid: u16) -> Class {
    let [hi, _] = fid.to_be_bytes();
    match fid {
        fid::MF => Class::MasterFile,
        fid::DF_PKCS15 => Class::Directory,
        fid::EF_DIR => Class::Generated,
        fid::TOKEN_INFO => Class::TokenInfo,
        fid::EF_ATR | 0x5031..=0x5033 | 0x6040..=0x6045 => Class::Placeholder,
        0x0000 | 0xFFFF => Class::Internal,
        0x1000..=0x11FF | 0xD000..=0xD2FF | 0xE000..=0xFFFE => Class::Internal,
        _ if hi == 0xC7 => Class::Internal,
        _ if hi == prefix::KEY => Class::Key,
        _ if hi == prefix::PROTECTED_DATA => Class::ProtectedData,
        _ => Class::Public,
    }
}

/// EF.DIR content: one application template with our AID and label (reference §5.1).
pub fn ef_dir() -> Vec<u8> {
    let label = b"SmartCard-HSM";
    let mut v = Vec::with_capacity(32);
    let inner_len = 2 + AID.len() + 2 + label.len();
    v.extend_from_slice(&[0x61, inner_len as u8, 0x4F, AID.len() as u8]);
    v.extend_from_slice(&AID);
    v.extend_from_slice(&[0x50, label.len() as u8]);
    v.extend_from_slice(label);
    v
}

/// The default EF.TokenInfo (PKCS#15 TokenInfo) when the host has not written one.
pub fn default_token_info(serial: &[u8; 8]) -> Vec<u8> {
    let manufacturer = b"Pico HSM";
    let label = b"Pico-HSM";
    let mut body = Vec::with_capacity(48);
    body.extend_from_slice(&[0x02, 0x01, 0x00]);
    body.extend_from_slice(&[0x04, 0x08]);
    body.extend_from_slice(serial);
    body.extend_from_slice(&[0x0C, manufacturer.len() as u8]);
    body.extend_from_slice(manufacturer);
    body.extend_from_slice(&[0x80, label.len() as u8]);
    body.extend_from_slice(label);
    body.extend_from_slice(&[0x03, 0x02, 0x04, 0x30]);
    let mut v = Vec::with_capacity(body.len() + 2);
    v.extend_from_slice(&[0x30, body.len() as u8]);
    v.extend_from_slice(&body);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(classify(0x1081), Class::Internal);
        assert_eq!(classify(0x100E), Class::Internal);
        assert_eq!(classify(0xE010), Class::Internal);
        for s in 0..10 {
            assert_eq!(classify(fid::HD_MASTER + s), Class::Internal);
        }
        for d in 0..16 {
            assert_eq!(classify(fid::XKEK + d), Class::Internal);
            assert_eq!(classify(fid::DKEK + d), Class::Internal);
        }
        assert_eq!(classify(0xCC00), Class::Key);
        assert_eq!(classify(0xCC01), Class::Key);
        assert_eq!(classify(0xCD01), Class::ProtectedData);
        assert_eq!(classify(0xCF01), Class::Public);
        assert_eq!(classify(0xC401), Class::Public);
        assert_eq!(classify(0x2F02), Class::Public);
        assert_eq!(classify(0x2F03), Class::TokenInfo);
        assert_eq!(classify(0x6042), Class::Placeholder);
    }

    #[test]
    fn ef_dir_is_valid_tlv() {
        let d = ef_dir();
        assert_eq!(d[0], 0x61);
        assert_eq!(d[1] as usize, d.len() - 2);
    }
}
