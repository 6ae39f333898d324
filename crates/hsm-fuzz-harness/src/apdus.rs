//! APDUs the card knows: the setup commands, templates the structured mutator splices in, and helpers to
//! build well-formed command APDUs.

/// SELECT the SmartCard-HSM application by AID, no FCI (P2 = 0C), as OpenSC's sc-hsm driver does.
pub const SELECT_AID: &[u8] = &[
    0x00, 0xA4, 0x04, 0x0C, 0x0B, 0xE8, 0x2B, 0x06, 0x01, 0x04, 0x01, 0x81, 0xC3, 0x1F, 0x02, 0x01,
];
/// SELECT by AID returning the FCI.
pub const SELECT_AID_FCI: &[u8] = &[
    0x00, 0xA4, 0x04, 0x00, 0x0B, 0xE8, 0x2B, 0x06, 0x01, 0x04, 0x01, 0x81, 0xC3, 0x1F, 0x02, 0x01, 0x00,
];
/// `sc-hsm-tool --initialize --so-pin 3537363231383830 --pin 648219` (options 0001, 3 retries).
pub const INITIALIZE: &[u8] = &[
    0x80, 0x50, 0x00, 0x00, 0x19, 0x80, 0x02, 0x00, 0x01, 0x81, 0x06, 0x36, 0x34, 0x38, 0x32, 0x31, 0x39, 0x82, 0x08,
    0x35, 0x37, 0x36, 0x32, 0x31, 0x38, 0x38, 0x30, 0x91, 0x01, 0x03,
];
/// An INITIALIZE with every option the card parses: options 0023 (reset retry counter, transport PIN,
/// reset-only), 5 retries, DKEK shares 0 (DKEK generated), 2 PUKs of which 1 needed, 4 key domains.
pub fn initialize_alt() -> Vec<u8> {
    let mut body = tlv(0x80, &[0x00, 0x23]);
    body.extend_from_slice(&tlv(0x81, USER_PIN));
    body.extend_from_slice(&tlv(0x82, SO_PIN));
    body.extend_from_slice(&[
        0x91, 0x01, 0x05, 0x92, 0x01, 0x00, 0x93, 0x02, 0x02, 0x01, 0x97, 0x01, 0x04,
    ]);
    build(0x80, 0x50, 0x00, 0x00, &body, 0)
}
/// VERIFY the user PIN 648219.
pub const VERIFY_USER: &[u8] = &[0x00, 0x20, 0x00, 0x81, 0x06, 0x36, 0x34, 0x38, 0x32, 0x31, 0x39];
/// VERIFY the SO-PIN 3537363231383830.
pub const VERIFY_SO: &[u8] = &[
    0x00, 0x20, 0x00, 0x88, 0x08, 0x35, 0x37, 0x36, 0x32, 0x31, 0x38, 0x38, 0x30,
];

pub const USER_PIN: &[u8] = b"648219";
pub const SO_PIN: &[u8] = b"57621880";

/// Instruction bytes the card implements (plus GET RESPONSE, handled by the APDU layer).
pub const KNOWN_INS: &[u8] = &[
    0xA4, 0xB0, 0xB1, 0xD7, 0xE4, 0x58, 0x20, 0x24, 0x2C, 0x84, 0x50, 0xC0, 0x46, 0x48, 0x68, 0x62, 0x76, 0x78, 0x52,
    0x72, 0x74, 0x22, 0x2A, 0x54, 0x82,
];
/// Class bytes worth trying: ISO, proprietary, chained, secure messaging, unsupported.
pub const KNOWN_CLA: &[u8] = &[0x00, 0x80, 0x10, 0x90, 0x0C, 0x8C, 0xA0, 0x01];
/// File identifiers of every class (reference §5).
pub const KNOWN_FIDS: &[u16] = &[
    0x2F02, 0x2F03, 0xCC00, 0xC400, 0xCE00, 0x1081, 0xCF01, 0xCD01, 0x3F00, 0x5015, 0x2F00, 0x2F01, 0x1088, 0x100E,
    0x1090, 0xCC01, 0xC401, 0xC801, 0xC901, 0xCE01, 0x6040, 0x5031, 0x0000, 0xFFFF, 0xE010, 0xC701,
    // Trust store (CAxx, C8xx) and PKA (10C0, 10D0+i).
    0xCA00, 0xC800, 0x10C0, 0x10D0,
];
/// Tags of the data objects the card parses.
pub const KNOWN_TAGS: &[u8] = &[0x54, 0x53, 0x80, 0x81, 0x82, 0x83, 0x91, 0x92, 0x93, 0x97, 0x42, 0x67];

/// Builds a command APDU with the shortest encoding that carries `data` and `ne`
/// (`ne == 0`: no Le; extended when `data` is longer than 255 bytes or `ne` above 256).
pub fn build(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], ne: usize) -> Vec<u8> {
    let extended = data.len() > 255 || ne > 256;
    build_with(cla, ins, p1, p2, data, ne, extended)
}

/// Builds a command APDU, short or extended as asked (lengths are truncated to what the form can carry).
pub fn build_with(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], ne: usize, extended: bool) -> Vec<u8> {
    let mut v = vec![cla, ins, p1, p2];
    if !extended {
        let data = &data[..data.len().min(255)];
        if !data.is_empty() {
            v.push(data.len() as u8);
            v.extend_from_slice(data);
        }
        if ne > 0 {
            v.push(if ne >= 256 { 0 } else { ne as u8 });
        }
    } else {
        let data = &data[..data.len().min(65535)];
        let le = |ne: usize| -> [u8; 2] { if ne >= 65536 { [0, 0] } else { (ne as u16).to_be_bytes() } };
        v.push(0);
        if data.is_empty() {
            v.extend_from_slice(&le(ne.max(1)));
        } else {
            v.extend_from_slice(&(data.len() as u16).to_be_bytes());
            v.extend_from_slice(data);
            if ne > 0 {
                v.extend_from_slice(&le(ne));
            }
        }
    }
    v
}

/// `tag len value` with a minimal BER length.
pub fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut hdr = [0u8; 7];
    let mut v = hsm_apdu::tlv::header(u16::from(tag), value.len(), &mut hdr).to_vec();
    v.extend_from_slice(value);
    v
}

/// READ BINARY B1 of `fid` at `offset` (offset DO 54), Ne as given.
pub fn read_binary(fid: u16, offset: u16, ne: usize, extended: bool) -> Vec<u8> {
    let [p1, p2] = fid.to_be_bytes();
    build_with(0x00, 0xB1, p1, p2, &tlv(0x54, &offset.to_be_bytes()), ne, extended)
}

/// UPDATE BINARY D7 of `fid`: `54 offset`, `53 data`.
pub fn update_binary(fid: u16, offset: u16, data: &[u8]) -> Vec<u8> {
    let [p1, p2] = fid.to_be_bytes();
    let mut body = tlv(0x54, &offset.to_be_bytes());
    body.extend_from_slice(&tlv(0x53, data));
    build(0x00, 0xD7, p1, p2, &body, 0)
}

/// SELECT by file id, FCI requested.
pub fn select_fid(fid: u16) -> Vec<u8> {
    build(0x00, 0xA4, 0x00, 0x04, &fid.to_be_bytes(), 256)
}

/// [`templates`], built once.
pub fn templates_cached() -> &'static [Vec<u8>] {
    static T: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    T.get_or_init(templates)
}

/// A set of well-formed APDUs covering every command family; the mutator splices them in.
pub fn templates() -> Vec<Vec<u8>> {
    let mut t: Vec<Vec<u8>> = vec![
        SELECT_AID.to_vec(),
        SELECT_AID_FCI.to_vec(),
        INITIALIZE.to_vec(),
        initialize_alt(),
        build(0x80, 0x50, 0, 0, &[], 256),
        VERIFY_USER.to_vec(),
        VERIFY_SO.to_vec(),
        build(0x00, 0x20, 0x00, 0x81, &[], 0),
        build(0x00, 0x20, 0x00, 0x88, &[], 0),
        build(0x00, 0x20, 0x00, 0x81, b"000000", 0),
        // CHANGE REFERENCE DATA: old PIN ‖ new PIN.
        build(0x00, 0x24, 0x00, 0x81, b"648219123456", 0),
        build(0x00, 0x24, 0x00, 0x88, b"5762188012345678", 0),
        // RESET RETRY COUNTER, the four P1 forms.
        build(0x00, 0x2C, 0x00, 0x81, b"57621880123456", 0),
        build(0x00, 0x2C, 0x01, 0x81, b"57621880", 0),
        build(0x00, 0x2C, 0x02, 0x81, b"123456", 0),
        build(0x00, 0x2C, 0x03, 0x81, &[], 0),
        build(0x80, 0x58, 0, 0, &[], 65536),
        build(0x00, 0x84, 0, 0, &[], 8),
        build(0x00, 0xC0, 0, 0, &[], 256),
        build(0x00, 0xB0, 0, 0, &[], 256),
        build(0x00, 0xA4, 0x00, 0x00, &[], 0),
        build(0x00, 0xA4, 0x08, 0x04, &[0x3F, 0x00, 0x50, 0x15, 0x2F, 0x03], 256),
        build(0x00, 0xA4, 0x09, 0x0C, &[0x50, 0x15, 0xCF, 0x01], 0),
        update_binary(0xCF01, 0, &[0xAB, 0xCD]),
        update_binary(0xCD01, 0, b"protected"),
        update_binary(0x2F03, 0, &[0x30, 0x03, 0x02, 0x01, 0x00]),
        update_binary(0xCF01, 2, &[0x11; 300]),
        build(0x00, 0xE4, 0, 0, &[0xCF, 0x01], 0),
        build(0x00, 0xE4, 0, 0, &[0xCC, 0x00], 0),
        build(0x00, 0xE4, 0, 0, &[], 0),
        // MSE SET: DST and AT references, the secure-messaging OID (reference §3.21).
        build(0x00, 0x22, 0x81, 0xB6, &tlv(0x83, b"ESPICOHSMTR00001"), 0),
        build(0x00, 0x22, 0x81, 0xA4, &tlv(0x83, b"PUKOWNER00001"), 0),
        build(
            0x00,
            0x22,
            0x41,
            0xA4,
            &tlv(0x80, &[0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x03, 0x02, 0x02]),
            0,
        ),
        // PSO VERIFY CERTIFICATE of a CV certificate, with and without its 7F21 header.
        build(0x00, 0x2A, 0x00, 0xBE, &cv_certificate(), 0),
        build(0x00, 0x2A, 0x00, 0xBE, &cv_certificate()[4..], 0),
        // PUK AUTH: status, register (the content of a 67 request), query; EXTERNAL AUTHENTICATE.
        build(0x80, 0x54, 0x00, 0x00, &[], 256),
        build(0x80, 0x54, 0x00, 0x00, &puk_request(), 256),
        build(0x80, 0x54, 0x02, 0x00, &[], 256),
        build(0x00, 0x82, 0x00, 0x00, &[0x5A; 64], 0),
        // A two-part command chain (CLA bit 10).
        build(0x10, 0xD7, 0xCF, 0x02, &[0x54, 0x02, 0x00, 0x00, 0x53, 0x04], 0),
        build(0x00, 0xD7, 0xCF, 0x02, &[1, 2, 3, 4], 0),
    ];
    for &fid in KNOWN_FIDS {
        t.push(read_binary(fid, 0, 256, false));
        t.push(select_fid(fid));
    }
    t.push(read_binary(0x2F02, 0, 65536, true));
    t.push(read_binary(0x2F02, 0x100, 0, false));
    t
}

/// A structurally valid CV certificate `7F21 { 7F4E { 5F29, 42, 7F49 { 06, 86 }, 5F20 }, 5F37 }`
/// (signature and point made up), for PSO VERIFY CERTIFICATE.
pub fn cv_certificate() -> Vec<u8> {
    let mut point = vec![0x04];
    point.extend_from_slice(&[0x11; 64]);
    let mut key = hsm_card::cvc::tlv(0x06, &[0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x02, 0x03]);
    key.extend_from_slice(&hsm_card::cvc::tlv(0x86, &point));
    let mut body = hsm_card::cvc::tlv(0x5F29, &[0]);
    body.extend_from_slice(&hsm_card::cvc::tlv(0x42, b"ESPICOHSMTR00001"));
    body.extend_from_slice(&hsm_card::cvc::tlv(0x7F49, &key));
    body.extend_from_slice(&hsm_card::cvc::tlv(0x5F20, b"ESPICOHSMCA00001"));
    let mut cert = hsm_card::cvc::tlv(0x7F4E, &body);
    cert.extend_from_slice(&hsm_card::cvc::tlv(0x5F37, &[0x22; 64]));
    hsm_card::cvc::tlv(0x7F21, &cert)
}

/// The content of an authenticated request `7F21 ‖ 42 ‖ 5F37` (PUK AUTH registration data).
pub fn puk_request() -> Vec<u8> {
    let mut r = cv_certificate();
    r.extend_from_slice(&hsm_card::cvc::tlv(0x42, b"ESPICOHSMTR00001"));
    r.extend_from_slice(&hsm_card::cvc::tlv(0x5F37, &[0x33; 64]));
    r
}
