//! Wrapped-key files exactly as OpenSC's `sc-hsm-tool --wrap-key` writes them and `--unwrap-key`
//! reads them (OpenSC 0.23 `src/tools/sc-hsm-tool.c`: `wrap_key` lines 1320–1456, `unwrap_key`
//! 1520–1694):
//!
//! ```text
//! 30 <len> {
//!     04 <len> <key blob>        the WRAP KEY answer (reference §7.3)
//!     <PRKD>                     optional: the content of C4xx as the card holds it, one TLV
//!     <certificate>              optional: the content of CExx, one TLV (a CV request 67…, an X.509
//! }                              certificate 30…, or a CV certificate 7F21…)
//! ```
//!
//! DER lengths in their minimal form (`sc_asn1_put_tag`). The two optional parts are told apart by their
//! position only: sc-hsm-tool takes the first TLV after the OCTET STRING as the description and the
//! next as the certificate, so a certificate without a description cannot be written in this format
//! (the backup keeps such a certificate in a file of its own). sc-hsm-tool reads at most 5852 bytes of a
//! file, 256 of a description and 4096 of a certificate ([`OPENSC_LIMITS`]); larger parts work here
//! but not there.

use crate::der;

/// sc-hsm-tool's buffers: `MAX_KEY` (blob), `MAX_PRKD`, `MAX_CERT`, `MAX_WRAPPED_KEY` (the file).
pub const OPENSC_LIMITS: Limits = Limits {
    blob: 1500,
    prkd: 256,
    cert: 4096,
    file: 1500 + 256 + 4096,
};

/// Size limits of a reader of the format.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub blob: usize,
    pub prkd: usize,
    pub cert: usize,
    pub file: usize,
}

/// A wrapped key with what belongs to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedKey {
    /// The SmartCard-HSM key blob.
    pub blob: Vec<u8>,
    /// The PKCS#15 description (C4xx), one TLV.
    pub prkd: Option<Vec<u8>>,
    /// The certificate or CV request (CExx), one TLV. Only with a description (see the module docs).
    pub cert: Option<Vec<u8>>,
}

/// The key types of a blob (byte 8, reference §7.3).
pub fn blob_type(blob: &[u8]) -> &'static str {
    match blob.get(8) {
        Some(5) | Some(6) => "RSA",
        Some(12) => "EC",
        Some(15) => "AES",
        _ => "unknown type",
    }
}

/// The key check value a blob was made under: its first 8 bytes.
pub fn blob_kcv(blob: &[u8]) -> Option<[u8; 8]> {
    blob.get(..8)?.try_into().ok()
}

impl WrappedKey {
    /// The file's bytes. A certificate needs a description (the format is positional).
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        if self.cert.is_some() && self.prkd.is_none() {
            return Err("a certificate without a key description cannot be stored in sc-hsm-tool's format".into());
        }
        let mut inner = der::encode(0x04, &self.blob);
        for part in [&self.prkd, &self.cert].into_iter().flatten() {
            match der::split(part) {
                Some((_, [])) => inner.extend_from_slice(part),
                _ => return Err("a key description or certificate that is not one TLV object".into()),
            }
        }
        Ok(der::encode(0x30, &inner))
    }

    /// Reads a file as sc-hsm-tool does, but strictly: nothing may follow the certificate or the outer
    /// SEQUENCE, and every part must be well formed.
    pub fn parse(file: &[u8]) -> Result<Self, String> {
        let (outer, rest) = der::split(file).ok_or("not a DER object (expected SEQUENCE 30)")?;
        if outer.tag != 0x30 {
            return Err(format!(
                "starts with tag {:02X}, not a SEQUENCE (30): not a wrapped key file",
                outer.tag
            ));
        }
        if !rest.is_empty() {
            return Err(format!("{} bytes after the outer SEQUENCE", rest.len()));
        }
        let (blob, rest) = der::split(outer.value).ok_or("the SEQUENCE is empty or malformed")?;
        if blob.tag != 0x04 || blob.constructed {
            return Err(format!(
                "the SEQUENCE starts with tag {:02X}, not the key blob's OCTET STRING (04)",
                blob.tag
            ));
        }
        let parts = der::children(rest).ok_or("the description or certificate after the blob is malformed")?;
        if parts.len() > 2 {
            return Err(format!(
                "{} objects after the key blob (at most a description and a certificate)",
                parts.len()
            ));
        }
        Ok(WrappedKey {
            blob: blob.value.to_vec(),
            prkd: parts.first().map(|o| o.raw.to_vec()),
            cert: parts.get(1).map(|o| o.raw.to_vec()),
        })
    }

    /// What of this key exceeds `limits`, in words; empty when nothing does.
    pub fn exceeds(&self, limits: &Limits) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |what: &str, len: usize, max: usize| {
            if len > max {
                out.push(format!("{what} of {len} bytes (at most {max})"));
            }
        };
        check("key blob", self.blob.len(), limits.blob);
        check("description", self.prkd.as_ref().map_or(0, Vec::len), limits.prkd);
        check("certificate", self.cert.as_ref().map_or(0, Vec::len), limits.cert);
        if let Ok(file) = self.encode() {
            check("file", file.len(), limits.file);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    #[test]
    fn round_trip_with_optional_parts() {
        let blob = vec![0x11; 200];
        let prkd = h("A0 06 30 04 0C 02 6B 31");
        let cert = h("67 03 01 02 03");
        for (p, c) in [
            (None, None),
            (Some(prkd.clone()), None),
            (Some(prkd.clone()), Some(cert.clone())),
        ] {
            let w = WrappedKey {
                blob: blob.clone(),
                prkd: p,
                cert: c,
            };
            let file = w.encode().unwrap();
            assert_eq!(&file[..2], &[0x30, 0x81]);
            assert_eq!(WrappedKey::parse(&file).unwrap(), w);
        }
        let lone_cert = WrappedKey {
            blob,
            prkd: None,
            cert: Some(cert),
        };
        assert!(lone_cert.encode().is_err());
    }

    #[test]
    fn byte_layout_is_sc_hsm_tools() {
        let w = WrappedKey {
            blob: h("0102"),
            prkd: Some(h("A8 00")),
            cert: Some(h("7F21 01 FF")),
        };
        assert_eq!(w.encode().unwrap(), h("30 0A 04 02 0102 A8 00 7F21 01 FF"));
    }

    #[test]
    fn malformed_files_are_refused() {
        for bad in [
            "",
            "31 02 04 00",
            "30 02 05 00",
            "30 02 24 00",
            "30 04 04 00 A0 05",
            "30 02 04 00 00",
            "30 08 04 00 0400 0400 0400",
        ] {
            assert!(WrappedKey::parse(&h(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits() {
        let w = WrappedKey {
            blob: vec![0; 10],
            prkd: Some(der::encode(0x30, &[0; 300])),
            cert: None,
        };
        assert_eq!(w.exceeds(&OPENSC_LIMITS), ["description of 304 bytes (at most 256)"]);
        assert_eq!(blob_type(&h("0000000000000000 0C")), "EC");
        assert_eq!(blob_kcv(&[1, 2, 3]), None);
    }
}
