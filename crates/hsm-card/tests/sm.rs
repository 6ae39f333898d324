//! Secure messaging (reference §9, §3.21, §3.25), driven by the independent host client of
//! `tests/src/sm_client.rs` (TR-03110 / ISO 7816-4, RustCrypto crates, no card code).

mod common;
#[path = "../../../tests/src/sm_client.rs"]
mod sm_client;

use common::*;
use hsm_card::Card;
use hsm_card::testing::RamPlatform;
use hsm_crypto::asym::Curve;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use sm_client::{Handshake, Session, extended, mse_set_at};

/// Ephemeral host scalar number `i` (any value below the P-256 order).
fn scalar(i: u8) -> [u8; 32] {
    let mut s = sha256(&[b"sm test scalar", &[i]]);
    s[0] &= 0x7F;
    s
}

/// The device public point, read from C_DevAut (2F02) with a plain READ BINARY.
fn device_point(c: &mut TestCard) -> Vec<u8> {
    let (cvc, sw) = read_binary(c, 0x2F02);
    assert_eq!(sw, 0x9000);
    sm_client::cvc_public_point(&cvc).expect("C_DevAut holds the device point")
}

/// MSE SET AT + GENERAL AUTHENTICATE; the token checked by the client.
fn open(c: &mut TestCard, i: u8) -> Session {
    let point = device_point(c);
    assert_eq!(txb(c, &mse_set_at()), (vec![], 0x9000));
    let hs = Handshake::new(&scalar(i));
    let (answer, sw) = txb(c, &hs.general_authenticate());
    assert_eq!(sw, 0x9000);
    assert_eq!(answer.len(), 22);
    assert_eq!(answer[..4], [0x7C, 0x14, 0x81, 0x08]);
    assert_eq!(answer[12..14], [0x82, 0x08]);
    hs.finish(&point, &answer).expect("token checks out")
}

/// Sends a protected command; returns the unwrapped inner data and status word.
fn stx(c: &mut TestCard, s: &mut Session, header: [u8; 4], data: &[u8], le: Option<usize>) -> (Vec<u8>, u16) {
    let [cla, ins, p1, p2] = header;
    let cmd = s.wrap(cla, ins, p1, p2, data, le);
    let (resp, sw) = txb(c, &cmd);
    s.unwrap(&resp, sw)
        .unwrap_or_else(|e| panic!("{e}: {} {sw:04X}", hex::encode(&resp)))
}

/// Fresh card, no PIN verified.
fn card(seed: u64) -> TestCard {
    fresh(seed, "")
}

/// Whether the session still works: a protected READ BINARY of 2F02 answers 9000.
fn alive(c: &mut TestCard, s: &mut Session) -> bool {
    let cmd = s.wrap(0x00, 0xB1, 0x2F, 0x02, &h("54020000"), Some(65536));
    let (resp, sw) = txb(c, &cmd);
    match s.unwrap(&resp, sw) {
        Ok((_, 0x9000)) => true,
        Ok((_, other)) => panic!("inner {other:04X}"),
        Err(_) => {
            assert!(resp.is_empty() && (sw == 0x6988 || sw == 0x6987), "{sw:04X}");
            false
        }
    }
}

#[test]
fn token_checks_out_and_keys_differ_per_session() {
    let mut c = card(1);
    let a = open(&mut c, 1);
    let b = open(&mut c, 1);
    // Same host key, fresh nonce: different session keys.
    assert_ne!(a.k_enc, b.k_enc);
    assert_ne!(a.k_mac, b.k_mac);
    assert_eq!(b.ssc, 0);
    // The token binds the host key: another host key's token does not check out for this one.
    let point = device_point(&mut c);
    let hs1 = Handshake::new(&scalar(1));
    let hs2 = Handshake::new(&scalar(2));
    let (answer, sw) = txb(&mut c, &hs1.general_authenticate());
    assert_eq!(sw, 0x9000);
    assert!(hs2.finish(&point, &answer).is_err());
    assert!(hs1.finish(&point, &answer).is_ok());
}

#[test]
fn verify_travels_protected_before_any_pin_and_logs_in() {
    let mut c = card(2);
    let mut s = open(&mut c, 3);
    // Not logged in: key generation is refused (inside the wrapping).
    let keygen = keygen_data(&ec_template(Curve::Secp256r1), &[]);
    assert_eq!(stx(&mut c, &mut s, [0x00, 0x46, 1, 0], &keygen, Some(65536)).1, 0x6982);
    // Wrong PIN: 63C2, protected.
    assert_eq!(
        stx(&mut c, &mut s, [0x00, 0x20, 0x00, 0x81], b"000000", None),
        (vec![], 0x63C2)
    );
    // Right PIN.
    assert_eq!(
        stx(&mut c, &mut s, [0x00, 0x20, 0x00, 0x81], b"648219", None),
        (vec![], 0x9000)
    );
    // Status query (no data): verified.
    assert_eq!(
        stx(&mut c, &mut s, [0x00, 0x20, 0x00, 0x81], &[], None),
        (vec![], 0x9000)
    );

    // Key generation and a signature under secure messaging, checked on the host with p256.
    let (req, sw) = stx(&mut c, &mut s, [0x00, 0x46, 1, 0], &keygen, Some(65536));
    assert_eq!(sw, 0x9000);
    let point = public_point(&req, Curve::Secp256r1).to_vec();
    let hash = sha256(&[b"signed under secure messaging"]);
    let (sig, sw) = stx(&mut c, &mut s, [0x80, 0x68, 1, 0x70], &hash, Some(65536));
    assert_eq!(sw, 0x9000);
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).unwrap();
    vk.verify_prehash(&hash, &p256::ecdsa::Signature::from_der(&sig).unwrap())
        .unwrap();
    // The session still runs: the SSC advanced by two per command.
    assert_eq!(s.ssc, 12);
}

#[test]
fn read_binary_protected_even_and_odd() {
    let mut c = card(3);
    let (plain, sw) = read_binary(&mut c, 0x2F02);
    assert_eq!(sw, 0x9000);
    assert!(plain.len() > 200);
    let mut s = open(&mut c, 4);
    // Odd INS B1: the offset DO travels in 85 (checked by the client's encoding: odd INS → 85).
    let cmd = s.clone().wrap(0x00, 0xB1, 0x2F, 0x02, &h("54020000"), Some(65536));
    assert_eq!(cmd[7], 0x85, "odd INS uses DO 85");
    assert_eq!(
        stx(&mut c, &mut s, [0x00, 0xB1, 0x2F, 0x02], &h("54020000"), Some(65536)),
        (plain.clone(), 0x9000)
    );
    // A SELECT of the file, then B0 with a short Le (64) and an offset.
    assert_eq!(
        stx(&mut c, &mut s, [0x00, 0xA4, 0x00, 0x0C], &[0x2F, 0x02], None).1,
        0x9000
    );
    assert_eq!(
        stx(&mut c, &mut s, [0x00, 0xB0, 0x00, 0x10], &[], Some(64)),
        (plain[0x10..0x50].to_vec(), 0x9000)
    );
    // An even INS with 85 instead of 87 is refused.
    let mut t = s.clone();
    let cmd = t.wrap(0x00, 0xB1, 0x2F, 0x02, &h("54020000"), None);
    let mut bad = cmd.clone();
    bad[1] = 0xB0;
    assert_eq!(txb(&mut c, &bad), (vec![], 0x6988));
    assert!(!alive(&mut c, &mut s));
}

#[test]
fn flipped_mac_bit_answers_6988_and_ends_the_session() {
    let mut c = card(4);
    let mut s = open(&mut c, 5);
    assert!(alive(&mut c, &mut s));
    let mut cmd = s.wrap(0x00, 0x20, 0x00, 0x81, b"648219", None);
    let mac_last = cmd.len() - 3; // ... 8E 08 <mac> 00 00
    cmd[mac_last] ^= 0x01;
    refused(&mut c, &cmd, 0x6988);
    // Not logged in by it.
    assert_eq!(tx(&mut c, "0020 0081").1, 0x63C3);
    // The session is gone: a correctly wrapped command (SSC as the host sees it) fails too.
    let cmd = s.wrap(0x00, 0xB1, 0x2F, 0x02, &h("54020000"), None);
    refused(&mut c, &cmd, 0x6988);
    // Plain commands work.
    assert_eq!(read_binary(&mut c, 0x2F02).1, 0x9000);
    assert_eq!(tx(&mut c, VERIFY).1, 0x9000);
    // A new GENERAL AUTHENTICATE brings it back.
    let mut s = open(&mut c, 6);
    assert!(alive(&mut c, &mut s));
}

#[test]
fn missing_objects_answer_6987() {
    let mut c = card(5);
    // No 8E.
    let mut s = open(&mut c, 7);
    let dos = s.command_objects(0x00, 0x20, 0x00, 0x81, b"648219", None);
    let without_mac = &dos[..dos.len() - 10];
    refused(&mut c, &extended(0x0C, 0x20, 0x00, 0x81, without_mac), 0x6987);
    assert!(!alive(&mut c, &mut s));
    // No data field at all.
    let mut s = open(&mut c, 8);
    refused(&mut c, &h("0C20008100"), 0x6987);
    assert!(!alive(&mut c, &mut s));
    // 87 with the padding indicator and no cryptogram, correctly MACed.
    let mut s = open(&mut c, 9);
    s.ssc += 1;
    let mut dos = h("870101");
    let mac = s.mac_command(0x0C, 0x20, 0x00, 0x81, &dos);
    dos.extend_from_slice(&[0x8E, 8]);
    dos.extend_from_slice(&mac);
    refused(&mut c, &extended(0x0C, 0x20, 0x00, 0x81, &dos), 0x6987);
    assert!(!alive(&mut c, &mut s));
    assert_eq!(tx(&mut c, "0020 0081").1, 0x63C3, "no PIN was tried");
}

#[test]
fn replayed_command_answers_6988() {
    let mut c = card(6);
    let mut s = open(&mut c, 10);
    let first = s.wrap(0x00, 0xB1, 0x2F, 0x02, &h("54020000"), Some(16));
    let (resp, sw) = txb(&mut c, &first);
    assert_eq!(s.unwrap(&resp, sw).unwrap().1, 0x9000);
    refused(&mut c, &first, 0x6988);
    assert!(!alive(&mut c, &mut s));
    // A response replayed to the host fails the host's check too (different SSC).
    let mut s = open(&mut c, 11);
    let mut host = s.clone();
    let cmd = s.wrap(0x00, 0xB1, 0x2F, 0x02, &h("54020000"), Some(16));
    let (resp, sw) = txb(&mut c, &cmd);
    s.unwrap(&resp, sw).unwrap();
    host.ssc += 3;
    assert!(host.unwrap(&resp, sw).is_err());
}

#[test]
fn general_authenticate_refusals_change_nothing() {
    let mut c = card(7);
    let hs = Handshake::new(&scalar(12));
    let good = hs.general_authenticate();
    // Without MSE SET AT: 6985.
    refused(&mut c, &good, 0x6985);
    // Another protocol OID is accepted and ignored (upstream MSE: 9000), and selects nothing.
    let (data, sw) = common::unchanged(&mut c, &h("0022 41A4 0C 800A 04007F00070202030201"));
    assert_eq!((data.len(), sw), (0, 0x9000));
    refused(&mut c, &good, 0x6985);
    assert_eq!(txb(&mut c, &mse_set_at()).1, 0x9000);
    // P1-P2.
    let mut bad = good.clone();
    bad[3] = 1;
    refused(&mut c, &bad, 0x6A86);
    // Outer length wrong, missing 80, trailing bytes: 6700.
    let point = &hs.public;
    let mut data = vec![0x7C, 0x44, 0x80, 0x41];
    data.extend_from_slice(point);
    refused(&mut c, &extended(0, 0x86, 0, 0, &data), 0x6700);
    let mut data = vec![0x7C, 0x43, 0x81, 0x41];
    data.extend_from_slice(point);
    refused(&mut c, &extended(0, 0x86, 0, 0, &data), 0x6700);
    let mut data = vec![0x7C, 0x43, 0x80, 0x41];
    data.extend_from_slice(point);
    data.push(0);
    refused(&mut c, &extended(0, 0x86, 0, 0, &data), 0x6700);
    refused(&mut c, &extended(0, 0x86, 0, 0, &[]), 0x6700);
    // Point: compressed, not on the curve, wrong length: 6A80.
    let mut compressed = vec![0x7C, 0x23, 0x80, 0x21, 0x02 | (point[64] & 1)];
    compressed.extend_from_slice(&point[1..33]);
    refused(&mut c, &extended(0, 0x86, 0, 0, &compressed), 0x6A80);
    let mut off = point.clone();
    off[64] ^= 1;
    let mut data = vec![0x7C, 0x43, 0x80, 0x41];
    data.extend_from_slice(&off);
    refused(&mut c, &extended(0, 0x86, 0, 0, &data), 0x6A80);
    let mut data = vec![0x7C, 0x42, 0x80, 0x40];
    data.extend_from_slice(&point[1..]);
    refused(&mut c, &extended(0, 0x86, 0, 0, &data), 0x6A80);
    // None of them started a session.
    let mut fake = Session {
        k_enc: [0; 16],
        k_mac: [0; 16],
        ssc: 0,
    };
    refused(&mut c, &fake.wrap(0, 0xB1, 0x2F, 0x02, &h("54020000"), None), 0x6988);
    // Still selected: the good one works.
    let (answer, sw) = txb(&mut c, &good);
    assert_eq!(sw, 0x9000);
    let mut s = hs.finish(&device_point(&mut c), &answer).unwrap();
    // (the plain READ BINARY above ended that session: TR-03110, plain APDUs end SM)
    assert!(!alive(&mut c, &mut s));
}

#[test]
fn without_device_key_general_authenticate_answers_6a88() {
    let mut c = Card::new(RamPlatform::new(8));
    assert_eq!(tx(&mut c, SELECT_AID).1, 0x9000);
    assert_eq!(txb(&mut c, &mse_set_at()).1, 0x9000);
    let hs = Handshake::new(&scalar(13));
    assert_eq!(txb(&mut c, &hs.general_authenticate()), (vec![], 0x6A88));
}

#[test]
fn plain_command_select_and_reset_end_the_session() {
    let mut c = card(9);
    // A plain command.
    let mut s = open(&mut c, 14);
    assert!(alive(&mut c, &mut s));
    assert_eq!(tx(&mut c, "0020 0081").1, 0x63C3);
    assert!(!alive(&mut c, &mut s));
    // A protected SELECT of the application: answered under the old keys, then the session ends.
    let mut s = open(&mut c, 15);
    let aid = h("E82B0601040181C31F0201");
    assert_eq!(
        stx(&mut c, &mut s, [0x00, 0xA4, 0x04, 0x0C], &aid, None),
        (vec![], 0x9000)
    );
    assert!(!alive(&mut c, &mut s));
    // Reset.
    let mut s = open(&mut c, 16);
    reselect(&mut c);
    assert!(!alive(&mut c, &mut s));
    // GET RESPONSE is answered by the APDU layer and keeps the session: a long protected answer
    // fetched in parts.
    let mut s = open(&mut c, 17);
    let cmd = s.wrap(0x00, 0xB1, 0x2F, 0x02, &h("54020000"), Some(65536));
    let short = {
        // Same command with a short outer Le of 16: 61xx, then GET RESPONSE.
        let mut v = cmd[..cmd.len() - 2].to_vec();
        v.push(0x10);
        // The extended Lc needs an extended Le: keep two bytes.
        v.pop();
        v.extend_from_slice(&[0x00, 0x10]);
        v
    };
    let (mut resp, mut sw) = txb(&mut c, &short);
    while sw >> 8 == 0x61 {
        let (more, next) = txb(&mut c, &h("00C00000 00"));
        resp.extend_from_slice(&more);
        sw = next;
    }
    assert_eq!(s.unwrap(&resp, sw).unwrap().1, 0x9000);
    assert!(alive(&mut c, &mut s));
}

#[test]
fn long_answers_fit_the_response_buffer() {
    let mut c = card(10);
    let mut s = open(&mut c, 18);
    // GET CHALLENGE for 65536 bytes: the card gives what fits once wrapped.
    let cmd = s.wrap(0x00, 0x84, 0x00, 0x00, &[], Some(65536));
    let (resp, sw) = txb(&mut c, &cmd);
    assert!(resp.len() <= hsm_apdu::MAX_RESPONSE_DATA);
    let (data, inner) = s.unwrap(&resp, sw).unwrap();
    assert_eq!(inner, 0x9000);
    assert!(data.len() > 4000, "{}", data.len());
    // A 4 KiB file: the protected READ BINARY returns a part, the rest comes with an offset.
    let content: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
    let mut s = {
        login(&mut c);
        assert_eq!(update_binary(&mut c, 0xCD01, &content), 0x9000);
        open(&mut c, 19)
    };
    let mut got = Vec::new();
    while got.len() < content.len() {
        let off = (got.len() as u16).to_be_bytes();
        let (part, sw) = stx(
            &mut c,
            &mut s,
            [0x00, 0xB1, 0xCD, 0x01],
            &[0x54, 0x02, off[0], off[1]],
            Some(65536),
        );
        assert_eq!(sw, 0x9000);
        assert!(!part.is_empty());
        got.extend_from_slice(&part);
    }
    assert_eq!(got, content);
}

#[test]
fn malformed_protected_commands_answer_a_status_and_change_nothing() {
    let mut c = card(11);
    // Data fields; the APDU gets a short Lc (and no Le).
    let fixed: Vec<(u8, &str)> = vec![
        (0x0C, "8E0100"),
        (0x0C, "8E08"),
        (0x0C, "8E080000000000000000 00"),
        (0x0C, "8E080000000000000000 9700"),
        (0x0C, "97030000 8E0600000000"),
        (0x0C, "8701 02 8E080000000000000000"),
        (0x0C, "8F01 00 8E080000000000000000"),
        (0x0C, "8703 010000 8E080000000000000000"),
        (0x0C, "8E080000000000000000FF"),
        (0x0C, "8E85"),
        (0x0C, "8E8300"),
        (0x0C, "8E080000000000000000 8E00"),
        (0x0C, "9700 8E080000000000000000"),
        (0x0C, "9701 00 9701 00 8E080000000000000000"),
        (0x0C, "8511 01 000102030405060708090A0B0C0D0E0F 8E080000000000000000"),
        (0x0C, "8E080000000000000000 8711 01 000102030405060708090A0B0C0D0E0F"),
        (0x0C, ""),
        (0x04, "8E080000000000000000"),
        (0x08, "8E080000000000000000"),
    ];
    let fixed: Vec<Vec<u8>> = fixed
        .into_iter()
        .map(|(cla, data)| {
            let data = h(data);
            let mut v = vec![cla, 0x20, 0x00, 0x81];
            if !data.is_empty() {
                v.push(data.len() as u8);
                v.extend_from_slice(&data);
            }
            v
        })
        .collect();
    for cmd in &fixed {
        let mut s = open(&mut c, 20);
        let (data, sw) = unchanged(&mut c, cmd);
        assert!(data.is_empty(), "{}", hex::encode(cmd));
        if cmd[0] == 0x0C {
            assert!(matches!(sw, 0x6987 | 0x6988), "{} answered {sw:04X}", hex::encode(cmd));
            assert!(!alive(&mut c, &mut s), "{}", hex::encode(cmd));
        } else {
            // Only CLA bits 0C are secure messaging here; 04 and 08 are not supported classes.
            assert_eq!(sw, 0x6E00, "{}", hex::encode(cmd));
        }
    }
    // Correctly MACed, but the cryptogram does not decrypt to padded data.
    let mut s = open(&mut c, 21);
    let mut t = s.clone();
    t.ssc += 1;
    let mut dos = h("8711 01 000102030405060708090A0B0C0D0E0F");
    let mac = t.mac_command(0x0C, 0x20, 0x00, 0x81, &dos);
    dos.extend_from_slice(&[0x8E, 8]);
    dos.extend_from_slice(&mac);
    let undecryptable = extended(0x0C, 0x20, 0x00, 0x81, &dos);
    let (data, sw) = unchanged(&mut c, &undecryptable);
    assert!(data.is_empty());
    assert_eq!(sw, 0x6988);
    assert!(!alive(&mut c, &mut s));
    // Random mutations of a good protected VERIFY under a live session.
    for i in 0..150u32 {
        let mut s = open(&mut c, 22);
        let mut cmd = s.wrap(0x00, 0x20, 0x00, 0x81, b"648219", None);
        let seed = sha256(&[&i.to_be_bytes()]);
        let pos = 7 + usize::from(seed[0]) % (cmd.len() - 9);
        match seed[1] % 3 {
            0 => cmd[pos] ^= seed[2] | 1,
            1 => {
                cmd.remove(pos);
            }
            _ => cmd.insert(pos, seed[2]),
        }
        let lc = (cmd.len() - 9) as u16;
        cmd[5..7].copy_from_slice(&lc.to_be_bytes());
        let (data, sw) = unchanged(&mut c, &cmd);
        assert!(data.is_empty(), "{}", hex::encode(&cmd));
        assert!(matches!(sw, 0x6987 | 0x6988), "{} answered {sw:04X}", hex::encode(&cmd));
        assert!(!alive(&mut c, &mut s));
    }
    // The PIN was never tried, let alone verified.
    assert_eq!(tx(&mut c, "0020 0081").1, 0x63C3);
}

#[test]
fn chained_protected_command_and_short_apdus() {
    let mut c = card(12);
    let mut s = open(&mut c, 23);
    assert_eq!(stx(&mut c, &mut s, [0, 0x20, 0, 0x81], b"648219", None).1, 0x9000);
    // A protected UPDATE BINARY of 1000 bytes, its outer APDU sent as a chain of short parts
    // (CLA 1C, then 0C): the APDU layer assembles the outer APDU, then it is unwrapped.
    let content: Vec<u8> = (0..1000u32).map(|i| (i * 13 + 1) as u8).collect();
    let mut data = h("54020000 538203E8");
    data.extend_from_slice(&content);
    let dos = s.command_objects(0x00, 0xD7, 0xCD, 0x02, &data, None);
    let parts: Vec<&[u8]> = dos.chunks(200).collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i == parts.len() - 1;
        let mut apdu = vec![if last { 0x0C } else { 0x1C }, 0xD7, 0xCD, 0x02, part.len() as u8];
        apdu.extend_from_slice(part);
        if last {
            apdu.push(0);
        }
        let (resp, sw) = txb(&mut c, &apdu);
        if !last {
            assert_eq!((resp.len(), sw), (0, 0x9000), "chain part {i}");
        } else {
            assert_eq!(s.unwrap(&resp, sw).unwrap(), (vec![], 0x9000));
        }
    }
    assert_eq!(read_binary(&mut c, 0xCD02), (content, 0x9000));
}
