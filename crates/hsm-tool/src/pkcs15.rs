//! What the tool reads from PKCS#15 object descriptions (C4xx, C8xx, C9xx, as OpenSC writes them):
//!
//! ```text
//! 30|A0|A8… {                                         a PKCS15Object (PKCS #15 §7.1)
//!     30 { 0C label, 03 flags, … }                    CommonObjectAttributes
//!     30 { … }                                        class attributes
//!     [A0 { … }]                                      subclass attributes
//!     A1 { 30 { 04 path … } }                         type attributes: a data object's Path
//!     A1 { 30 { 30 { 04 path … } … } }                … or a certificate's X509CertificateAttributes
//! }
//! ```

use crate::der;

/// The label of a description (CommonObjectAttributes' UTF8String), if it has one.
pub fn label(desc: &[u8]) -> Option<String> {
    let (obj, _) = der::split(desc)?;
    let common = der::children(obj.value)?.into_iter().next()?;
    if common.tag != 0x30 {
        return None;
    }
    let label = der::children(common.value)?.into_iter().find(|o| o.tag == 0x0C)?;
    (!label.value.is_empty()).then(|| String::from_utf8_lossy(label.value).into_owned())
}

/// The file a certificate or data object description points to: the last two bytes of the first
/// OCTET STRING in its type attributes (`A1`).
pub fn path_fid(desc: &[u8]) -> Option<u16> {
    let (obj, _) = der::split(desc)?;
    let mut cur = der::children(obj.value)?.into_iter().find(|o| o.tag == 0xA1)?;
    for _ in 0..4 {
        let first = der::children(cur.value)?.into_iter().next()?;
        match first.tag {
            0x04 => {
                let p = first.value;
                return (p.len() >= 2).then(|| u16::from_be_bytes([p[p.len() - 2], p[p.len() - 1]]));
            }
            0x30 => cur = first,
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    #[test]
    fn descriptions_written_by_opensc() {
        // What OpenSC 0.23 wrote to C900, C901 and C800 for `pkcs11-tool --write-object --type data
        // --label data-public`, the same with `--private`, and `--type cert --id 99 --label backup-ca`
        // (from the end-to-end test tests/tests/tool_backup.rs).
        let public = h("302a30110c0b646174612d7075626c696303020640300d0c0b646174612d7075626c6963a10630040402cf00");
        assert_eq!(label(&public).as_deref(), Some("data-public"));
        assert_eq!(path_fid(&public), Some(0xCF00));
        let private =
            h("302f30150c0c646174612d70726976617465030206c0040101300e0c0c646174612d70726976617465a10630040402cd01");
        assert_eq!(label(&private).as_deref(), Some("data-private"));
        assert_eq!(path_fid(&private), Some(0xCD01));
        let cd = h("3020300f0c096261636b75702d6361030206403003040199a108300630040402ca00");
        assert_eq!(label(&cd).as_deref(), Some("backup-ca"));
        assert_eq!(path_fid(&cd), Some(0xCA00));
    }

    #[test]
    fn other_shapes() {
        // A path with the application DF in front.
        let dcod = h("30 15 30 07 0C 01 78 03 02 06 40 30 00 A1 08 30 06 04 04 3F00 CF01");
        assert_eq!(path_fid(&dcod), Some(0xCF01));
        // A PRKD has no path; an empty label is no label.
        let prkd = h("A0 0E 30 08 0C 06 65632D6B6579 30 02 04 00");
        assert_eq!(label(&prkd).as_deref(), Some("ec-key"));
        assert_eq!(path_fid(&prkd), None);
        assert_eq!(label(&h("A8 04 30 02 0C 00")), None);
        assert_eq!(label(&h("30 00")), None);
        assert_eq!(path_fid(&h("30 04 A1 02 05 00")), None);
        assert_eq!(path_fid(&h("30 06 A1 04 30 02 04 00")), None);
    }
}
