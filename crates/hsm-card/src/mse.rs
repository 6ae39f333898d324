//! MANAGE SECURITY ENVIRONMENT (00 22 P1 P2), SET only (reference §3.21; upstream `cmd_mse.c`).
//!
//! * P2 must be A4, A6, AA, B4, B6 or B8 and P1 bit 0 (SET) must be set, else 6A86.
//! * `80 <OID>` with P2 A4: id-CA-ECDH-AES-CBC-CMAC-128 selects the secure-messaging protocol for
//!   the next GENERAL AUTHENTICATE ([`Session::sm_ca_selected`](crate::Session)); other OIDs are
//!   ignored.
//! * `83 <CHR>` (longer than one byte): with P2 B6 (DST) selects the trust-store certificate with
//!   that CHR as issuer for PSO VERIFY CERTIFICATE; with P2 A4 (AT) selects the registered PUK
//!   with that CHR for EXTERNAL AUTHENTICATE (6985 if it already authenticated in this session);
//!   unknown CHR, or any other P2, 6A88. The first `83` decides, as upstream.
//! * Everything else answers 9000 and changes nothing.
//!
//! Differences from upstream: CHRs are compared whole (upstream compares the stored CHR's length
//! of bytes, so a prefix matches); malformed TLV data answers 6700 (upstream stops reading);
//! a PUK that already authenticated is not selected when 6985 is answered.

use hsm_apdu::{CommandView, Status, tlv};

use crate::{App, Platform};

/// id-CA-ECDH-AES-CBC-CMAC-128 (0.4.0.127.0.7.2.2.3.2.2).
pub const OID_CA_ECDH_AES_CBC_CMAC_128: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x03, 0x02, 0x02];

impl<P: Platform> App<P> {
    /// MANAGE SECURITY ENVIRONMENT (00 22).
    pub(crate) fn manage_security_environment(&mut self, cmd: &CommandView<'_>) -> Result<(), Status> {
        if !matches!(cmd.p2, 0xA4 | 0xA6 | 0xAA | 0xB4 | 0xB6 | 0xB8) || cmd.p1 & 0x01 == 0 {
            return Err(Status::IncorrectP1P2);
        }
        // Everything is checked before the session changes: a malformed object anywhere is 6700.
        let mut sm_oid = false;
        let mut reference: Option<&[u8]> = None;
        for item in tlv::Reader::new(cmd.data) {
            let item = item?;
            match item.tag {
                0x80 if cmd.p2 == 0xA4 && item.value == OID_CA_ECDH_AES_CBC_CMAC_128 => sm_oid = true,
                0x83 if item.value.len() > 1 && reference.is_none() => reference = Some(item.value),
                _ => {}
            }
        }
        if let Some(chr) = reference {
            match cmd.p2 {
                0xB6 => {
                    let store = self.trust_store()?;
                    if store.find(chr).is_none() {
                        return Err(Status::ReferenceNotFound);
                    }
                    self.session.pso_issuer = Some(chr.to_vec());
                }
                0xA4 => {
                    let slot = self.puk_slot_of(chr)?.ok_or(Status::ReferenceNotFound)?;
                    if self.session.pka.authenticated(slot) {
                        return Err(Status::ConditionsNotSatisfied);
                    }
                    self.session.pka.selected = Some(slot);
                }
                _ => return Err(Status::ReferenceNotFound),
            }
        }
        if sm_oid {
            self.session.sm_ca_selected = true;
        }
        Ok(())
    }
}
