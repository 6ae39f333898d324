//! Writes the seed corpora into `fuzz/seeds/<target>/`:
//!
//!     cargo run -p hsm-fuzz-harness --example gen_seeds
//!
//! Deterministic: the same crates give the same files. Re-run it when the store format or the card's
//! command set changes (the store_image seeds embed real store images).

use std::fs;
use std::path::{Path, PathBuf};

use hsm_card::testing::RamPlatform;
use hsm_card::{Card, RESPONSE_BUFFER_SIZE};
use hsm_fuzz::apdus::{self, build, read_binary, select_fid, update_binary};
use hsm_fuzz::parse::encode_records;
use hsm_fuzz::seq::{self, Item, Seq};
use hsm_fuzz::store::{self, op};
use hsm_store::Store;
use hsm_store::flash::RamFlash;

fn dir(target: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    fs::create_dir_all(&d).unwrap();
    d
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let path = dir(target).join(name);
    fs::write(&path, bytes).unwrap();
    println!("{:6} bytes  {}", bytes.len(), path.display());
}

fn a(v: &[u8]) -> Item {
    Item::Apdu(v.to_vec())
}

fn seq_seed(name: &str, flags: u8, out_sel: u8, items: Vec<Item>) {
    write("apdu_sequence", name, &Seq { flags, out_sel, items }.serialize());
}

fn apdu_sequence() {
    use seq::*;
    // What OpenSC does: probe with SELECT + FCI, read the version, sc-hsm-tool --initialize, then the
    // PKCS#15 emulation reads EF.TokenInfo and C_DevAut and lists the keys.
    seq_seed(
        "opensc_initialize",
        FLAG_NO_SELECT,
        0,
        vec![
            a(apdus::SELECT_AID_FCI),
            a(&build(0x80, 0x50, 0, 0, &[], 256)),
            a(apdus::SELECT_AID),
            a(apdus::INITIALIZE),
            a(&read_binary(0x2F03, 0, 65536, true)),
            a(&read_binary(0x2F02, 0, 65536, true)),
            a(&build(0x80, 0x58, 0, 0, &[], 65536)),
            a(&build(0x00, 0x20, 0x00, 0x81, &[], 0)),
        ],
    );
    // pkcs15-init: VERIFY, write and read back public and protected objects, delete.
    seq_seed(
        "verify_update_read",
        FLAG_INIT,
        0,
        vec![
            a(&build(0x00, 0x20, 0x00, 0x81, &[], 0)),
            a(apdus::VERIFY_USER),
            a(&update_binary(
                0xCF01,
                0,
                &[0x30, 0x06, 0x04, 0x04, 0xDE, 0xAD, 0xBE, 0xEF],
            )),
            a(&read_binary(0xCF01, 0, 256, false)),
            a(&update_binary(0xCD01, 0, b"protected data object")),
            a(&read_binary(0xCD01, 4, 256, false)),
            a(&update_binary(0xCF01, 8, &[0x11; 40])),
            a(&read_binary(0xCF01, 0, 65536, true)),
            a(&select_fid(0xCF01)),
            a(&build(0x00, 0xB0, 0x00, 0x02, &[], 4)),
            a(&build(0x80, 0x58, 0, 0, &[], 65536)),
            a(&build(0x00, 0xE4, 0, 0, &[0xCF, 0x01], 0)),
            a(&read_binary(0xCF01, 0, 256, false)),
        ],
    );
    // Retry counters: wrong PINs until blocked, RESET RETRY COUNTER, CHANGE REFERENCE DATA.
    seq_seed(
        "pin_lifecycle",
        FLAG_INIT,
        0,
        vec![
            a(&build(0x00, 0x20, 0x00, 0x81, b"000000", 0)),
            a(&build(0x00, 0x20, 0x00, 0x81, b"000000", 0)),
            a(&build(0x00, 0x20, 0x00, 0x81, b"000000", 0)),
            a(apdus::VERIFY_USER),
            a(&build(0x00, 0x2C, 0x00, 0x81, b"57621880123456", 0)),
            a(&build(0x00, 0x20, 0x00, 0x81, b"123456", 0)),
            a(&build(0x00, 0x24, 0x00, 0x81, b"123456648219", 0)),
            a(apdus::VERIFY_SO),
            a(&build(0x00, 0x2C, 0x02, 0x81, b"99999999", 0)),
            a(&build(0x00, 0x24, 0x00, 0x88, b"5762188012345678", 0)),
            a(&build(0x00, 0x20, 0x00, 0x88, b"12345678", 0)),
        ],
    );
    // Command chaining, 61xx and GET RESPONSE, with a small response buffer.
    let big = vec![0x42u8; 600];
    let mut body = apdus::tlv(0x54, &[0, 0]);
    body.extend_from_slice(&apdus::tlv(0x53, &big));
    let (part1, part2) = body.split_at(200);
    seq_seed(
        "chaining_get_response",
        FLAG_INIT | FLAG_USER | FLAG_SMALL_OUT,
        100,
        vec![
            a(&build(0x10, 0xD7, 0xCF, 0x02, part1, 0)),
            a(&build(0x00, 0xD7, 0xCF, 0x02, part2, 0)),
            a(&read_binary(0xCF02, 0, 65536, true)),
            a(&build(0x00, 0xC0, 0, 0, &[], 256)),
            a(&build(0x00, 0xC0, 0, 0, &[], 0x80)),
            a(&build(0x00, 0xC0, 0, 0, &[], 256)),
            a(&read_binary(0xCF02, 0, 0, false)),
            a(&build(0x00, 0xC0, 0, 0, &[], 256)),
            a(&build(0x10, 0xD7, 0xCF, 0x03, &[0x54], 0)),
            a(&build(0x00, 0xB1, 0xCF, 0x03, &[0x54], 0)),
        ],
    );
    // Reset and power cycle drop the PIN state.
    seq_seed(
        "reset_power_cycle",
        FLAG_INIT | FLAG_USER,
        0,
        vec![
            a(&update_binary(0xCD02, 0, b"secret-ish")),
            Item::Reset,
            a(&read_binary(0xCD02, 0, 256, false)),
            a(apdus::SELECT_AID),
            a(&read_binary(0xCD02, 0, 256, false)),
            Item::ResetSetup,
            a(&read_binary(0xCD02, 0, 256, false)),
            Item::PowerCycle,
            a(&build(0x00, 0x20, 0x00, 0x81, &[], 0)),
            a(&read_binary(0xCD02, 0, 256, false)),
        ],
    );
    // The alternative initialization: transport PIN, reset-retry-only, DKEK, PUKs, key domains.
    seq_seed(
        "transport_pin_options",
        FLAG_INIT | FLAG_ALT_INIT | FLAG_SO,
        0,
        vec![
            a(apdus::VERIFY_USER),
            a(&build(0x00, 0x2C, 0x01, 0x81, apdus::SO_PIN, 0)),
            a(&build(0x00, 0x2C, 0x03, 0x81, &[], 0)),
            a(&build(0x00, 0x24, 0x00, 0x81, b"648219654321", 0)),
            a(&build(0x00, 0x20, 0x00, 0x81, b"654321", 0)),
            a(apdus::SELECT_AID_FCI),
        ],
    );
    // Re-initialization needs the current SO-PIN.
    let mut wrong_init = apdus::INITIALIZE.to_vec();
    let last_so = wrong_init.len() - 4;
    wrong_init[last_so] ^= 1;
    seq_seed(
        "reinitialize",
        FLAG_INIT | FLAG_USER,
        0,
        vec![
            a(&update_binary(0xCF01, 0, &[0xAB, 0xCD])),
            a(&wrong_init),
            a(&build(0x00, 0x20, 0x00, 0x88, &[], 0)),
            a(apdus::INITIALIZE),
            a(&read_binary(0xCF01, 0, 256, false)),
            a(&apdus::initialize_alt()),
            a(&build(0x80, 0x50, 0, 0, &[], 256)),
        ],
    );
    // SELECT forms and READ BINARY of the current EF.
    seq_seed(
        "select_forms",
        FLAG_INIT,
        0,
        vec![
            a(&build(0x00, 0xA4, 0x00, 0x00, &[], 0)),
            a(&build(
                0x00,
                0xA4,
                0x08,
                0x04,
                &[0x3F, 0x00, 0x50, 0x15, 0x2F, 0x03],
                256,
            )),
            a(&build(0x00, 0xB0, 0x00, 0x00, &[], 256)),
            a(&build(0x00, 0xA4, 0x09, 0x0C, &[0x50, 0x15, 0x2F, 0x02], 0)),
            a(&build(0x00, 0xB0, 0x00, 0x10, &[], 0)),
            a(&select_fid(0x2F00)),
            a(&build(0x00, 0xB1, 0x00, 0x00, &apdus::tlv(0x54, &[0x00]), 256)),
            a(&select_fid(0xCC00)),
            a(&build(0x00, 0xB0, 0x00, 0x00, &[], 256)),
            a(&select_fid(0x5015)),
            a(&build(0x00, 0xB0, 0x00, 0x00, &[], 256)),
        ],
    );
    // Secret keys: GENERATE SYMMETRIC KEY with metadata, then CIPHER SYMMETRIC in every family.
    let ext = |oid: &[u8], data: &[u8], iv: Option<&[u8]>, aad: Option<&[u8]>| {
        let mut v = apdus::tlv(0x06, oid);
        v.extend_from_slice(&apdus::tlv(0x81, data));
        if let Some(iv) = iv {
            v.extend_from_slice(&apdus::tlv(0x82, iv));
        }
        if let Some(aad) = aad {
            v.extend_from_slice(&apdus::tlv(0x83, aad));
        }
        v
    };
    let aes = |arc: u8| [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, arc];
    let hmac256 = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x02, 0x09];
    let mut pbkdf2 = apdus::tlv(0x04, b"salt");
    pbkdf2.extend_from_slice(&apdus::tlv(0x02, &[0x10]));
    pbkdf2.extend_from_slice(&apdus::tlv(0x30, &apdus::tlv(0x06, &hmac256)));
    seq_seed(
        "symmetric",
        FLAG_INIT | FLAG_USER,
        0,
        vec![
            a(&build(
                0x00,
                0x48,
                0x01,
                0xB2,
                &[0x90, 0x04, 0, 0, 0, 9, 0x91, 0x03, 0x10, 0x51, 0x52],
                0,
            )),
            a(&build(0x00, 0x48, 0x02, 0xB3, &[], 0)),
            a(&build(0x80, 0x78, 0x01, 0x10, &[0x11; 32], 0)),
            a(&build(0x80, 0x78, 0x01, 0x18, b"cmac", 0)),
            a(&build(
                0x80,
                0x78,
                0x01,
                0x51,
                &ext(&aes(0x2E), b"gcm", Some(&[1; 12]), Some(b"aad")),
                65536,
            )),
            a(&build(
                0x80,
                0x78,
                0x01,
                0x52,
                &ext(&aes(0x2F), &[0; 20], Some(&[1; 7]), None),
                65536,
            )),
            a(&build(
                0x80,
                0x78,
                0x01,
                0x51,
                &ext(&aes(0x31), b"ctr", None, None),
                65536,
            )),
            a(&build(
                0x80,
                0x78,
                0x02,
                0x51,
                &ext(
                    &[0x2B, 0x6F, 0x02, 0x8C, 0x53, 0x00, 0x00, 0x01, 0x02],
                    &[0; 17],
                    Some(&[2; 16]),
                    None,
                ),
                65536,
            )),
            a(&build(
                0x80,
                0x78,
                0x02,
                0x51,
                &ext(&hmac256, b"mac", None, None),
                65536,
            )),
            a(&build(
                0x80,
                0x78,
                0x02,
                0x51,
                &ext(
                    &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x05, 0x0C],
                    &pbkdf2,
                    None,
                    None,
                ),
                40,
            )),
            a(&build(
                0x80,
                0x78,
                0x02,
                0x51,
                &ext(
                    &[0x2B, 0x81, 0x05, 0x10, 0x86, 0x48, 0x3F],
                    &hmac256,
                    None,
                    Some(b"info"),
                ),
                48,
            )),
            a(&build(
                0x80,
                0x78,
                0x02,
                0x51,
                &ext(
                    &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x10, 0x03, 0x1D],
                    b"info",
                    Some(b"salt"),
                    None,
                ),
                100,
            )),
            a(&build(0x80, 0x78, 0x02, 0x99, b"derive", 0)),
            a(&build(0x80, 0x58, 0, 0, &[], 65536)),
        ],
    );
    // DKEK shares, key domains, WRAP and UNWRAP. The blob for UNWRAP is made here by a card that
    // imported the same share, so the fuzzer starts from a blob whose KCV and CMAC are valid.
    let share = [0x5Au8; 32];
    let blob = wrapped_aes_blob(&share);
    seq_seed(
        "dkek_wrap",
        FLAG_INIT | FLAG_ALT_INIT | FLAG_USER,
        0,
        vec![
            a(&build(0x80, 0x52, 0x00, 0x00, &[], 0)),
            a(&build(0x80, 0x52, 0x01, 0x00, &[0x01], 0)),
            a(&build(0x80, 0x52, 0x00, 0x00, &share, 0)),
            a(&build(0x80, 0x52, 0x01, 0x01, &[0x02], 0)),
            a(&build(0x80, 0x52, 0x00, 0x01, &[0x33; 32], 0)),
            a(&build(0x00, 0x48, 0x01, 0xB2, &[0x91, 0x02, 0x10, 0x92], 0)),
            a(&build(0x80, 0x72, 0x01, 0x92, &[], 65536)),
            a(&build(0x80, 0x74, 0x02, 0x93, &blob, 0)),
            a(&update_binary(0x2F10, 0, &blob)),
            a(&build(0x80, 0x74, 0x03, 0x93, &[], 0)),
            a(&build(0x80, 0x78, 0x03, 0x10, &[0; 16], 0)),
            a(&build(0x80, 0x52, 0x04, 0x01, &[], 0)),
            a(&build(0x80, 0x52, 0x03, 0x01, &[], 0)),
        ],
    );
    // GET CHALLENGE and odd classes, before and after SELECT.
    seq_seed(
        "unselected_and_classes",
        FLAG_NO_SELECT,
        0,
        vec![
            a(&build(0x00, 0x84, 0, 0, &[], 8)),
            a(apdus::SELECT_AID),
            a(&build(0x00, 0x84, 0, 0, &[], 8)),
            a(&[0x00, 0x84, 0x00, 0x00]),
            a(&build(0x00, 0x84, 0, 0, &[], 65536)),
            a(&build(0x0C, 0x84, 0, 0, &[], 8)),
            a(&build(0xA0, 0x84, 0, 0, &[], 8)),
            a(&build(0x80, 0xFF, 0, 0, &[], 0)),
            a(&[0x00, 0x84, 0x00]),
        ],
    );
    // Secure messaging: the runner opens a session and wraps the plain items (VERIFY travels
    // protected, then a write, reads, a key listing); a protected SELECT ends it; after a reset
    // the setup opens a new one, and an input's own protected command (a MAC that cannot be
    // right) ends that.
    seq_seed(
        "secure_messaging",
        FLAG_INIT | FLAG_SM,
        0,
        vec![
            a(apdus::VERIFY_USER),
            a(&update_binary(0xCD01, 0, b"written under secure messaging")),
            a(&read_binary(0xCD01, 0, 65536, true)),
            a(&read_binary(0x2F02, 0, 16, false)),
            a(&build(0x80, 0x58, 0, 0, &[], 65536)),
            a(&build(0x00, 0x84, 0, 0, &[], 65536)),
            a(apdus::SELECT_AID),
            a(&build(0x00, 0x84, 0, 0, &[], 8)),
            Item::ResetSetup,
            a(&build(0x00, 0x20, 0x00, 0x81, b"000000", 0)),
            a(&build(0x0C, 0x20, 0x00, 0x81, &[0x8E, 0x08, 1, 2, 3, 4, 5, 6, 7, 8], 0)),
            a(apdus::VERIFY_USER),
        ],
    );
    // The handshake sent by the input itself, then protected commands it cannot MAC.
    seq_seed(
        "secure_messaging_handshake",
        FLAG_INIT,
        0,
        vec![
            a(&hsm_fuzz::sm_client::mse_set_at()),
            a(&hsm_fuzz::sm_client::Handshake::new(&[0x5E; 32]).general_authenticate()),
            a(&build(0x0C, 0x20, 0x00, 0x81, &[0x8E, 0x08, 1, 2, 3, 4, 5, 6, 7, 8], 0)),
            a(&build(
                0x0C,
                0xB1,
                0x2F,
                0x02,
                &[
                    0x85, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x8E, 0x08, 1, 2, 3, 4, 5, 6, 7, 8,
                ],
                256,
            )),
            a(&build(0x00, 0x86, 0x00, 0x00, &[0x7C, 0x02, 0x80, 0x00], 256)),
        ],
    );
}

/// The WRAP KEY answer for an AES-256 key on a card whose domain 0 has `share` as its only share.
fn wrapped_aes_blob(share: &[u8; 32]) -> Vec<u8> {
    let mut card = Card::new(RamPlatform::new(1));
    let mut out = vec![0u8; RESPONSE_BUFFER_SIZE];
    let mut send = |card: &mut Card<RamPlatform>, apdu: &[u8]| {
        let n = card.transmit(apdu, &mut out);
        assert_eq!(&out[n - 2..n], &[0x90, 0x00], "{apdu:02X?}");
        out[..n - 2].to_vec()
    };
    let mut init = apdus::tlv(0x81, apdus::USER_PIN);
    init.extend_from_slice(&apdus::tlv(0x82, apdus::SO_PIN));
    init.extend_from_slice(&[0x92, 0x01, 0x01]);
    send(&mut card, apdus::SELECT_AID);
    send(&mut card, &build(0x80, 0x50, 0, 0, &init, 0));
    send(&mut card, &build(0x80, 0x52, 0x00, 0x00, share, 256));
    send(&mut card, &build(0x00, 0x48, 0x01, 0xB2, &[], 0));
    send(&mut card, &build(0x80, 0x72, 0x01, 0x92, &[], 65536))
}

fn apdu_parse() {
    let t = "apdu_parse";
    // Single APDUs of every case (the whole input is also parsed as one command).
    write(t, "case1", &[0x80, 0x50, 0x01, 0x02]);
    write(t, "case4s", apdus::SELECT_AID_FCI);
    write(t, "case4e", &read_binary(0x2F02, 0, 65536, true));
    write(t, "case2e", &[0x00, 0xB0, 0x00, 0x00, 0x00, 0x01, 0x02]);
    write(t, "tlv_init", &apdus::INITIALIZE[5..]);
    write(
        t,
        "tlv_update",
        &[
            0x54, 0x02, 0x00, 0x00, 0x53, 0x82, 0x00, 0x02, 0xAB, 0xCD, 0x7F, 0x49, 0x81, 0x01, 0x00,
        ],
    );
    // Layer sequences: [out_sel] [len] [APDU]. Echo app: INS EE fails with SW = P1P2, otherwise answers
    // P1P2 & 1FFF bytes.
    let resp_2k = build(0x00, 0x01, 0x08, 0x00, &[], 0);
    write(
        t,
        "layer_get_response",
        &encode_records(&[
            (0, &resp_2k),
            (0, &build(0x00, 0xC0, 0, 0, &[], 256)),
            (0, &build(0x00, 0xC0, 0, 0, &[], 0x10)),
            (0, &build(0x00, 0xC0, 0, 1, &[], 256)),
            (0, &build(0x00, 0xC0, 0, 0, &[], 65536)),
            (0, &build(0x00, 0xC0, 0, 0, &[], 256)),
            (60, &build(0x00, 0x02, 0x01, 0x00, &[], 256)),
            (0, &build(0x80, 0xC0, 0, 0, &[], 256)),
        ]),
    );
    let chunk = vec![0x5Au8; 255];
    let ext = vec![0xA5u8; 2000];
    write(
        t,
        "layer_chaining",
        &encode_records(&[
            (0, &build(0x10, 0x03, 0x00, 0x10, &chunk, 0)),
            (0, &build(0x10, 0x03, 0x00, 0x10, &chunk, 0)),
            (0, &build(0x00, 0x03, 0x00, 0x10, &chunk, 256)),
            (0, &build(0x10, 0x04, 0x00, 0x00, &ext, 0)),
            (0, &build(0x10, 0x04, 0x00, 0x00, &ext, 0)),
            (0, &build(0x10, 0x04, 0x00, 0x00, &ext, 0)),
            (0, &build(0x10, 0x05, 0x00, 0x00, &[1, 2], 0)),
            (0, &build(0x00, 0x06, 0x00, 0x00, &[3], 0)),
            (0, &build(0x10, 0x05, 0x00, 0x00, &[1, 2], 0)),
            (0, apdus::SELECT_AID),
        ]),
    );
    write(
        t,
        "layer_errors",
        &encode_records(&[
            (0, &build(0x00, 0xEE, 0x6A, 0x82, &[], 0)),
            (0, &build(0x00, 0xEE, 0x90, 0x00, &[], 0)),
            (0, &build(0x00, 0x07, 0x1F, 0xFF, &[], 0)),
            (1, &build(0x00, 0x07, 0x00, 0x10, &[], 0)),
            (3, &build(0x00, 0x07, 0x00, 0x10, &[], 0)),
            (0, &[0x00, 0x01, 0x02]),
            (0, &[0x00, 0x01, 0x02, 0x03, 0x00, 0x05]),
            (0, &build(0x00, 0x08, 0x00, 0x00, &vec![0; 4097], 0)),
        ]),
    );
}

/// The store an initialized card leaves behind, rewritten into a `sectors`-sector flash: a realistic
/// store image (all FF while hsm-store keeps its files in RAM).
fn card_store_image(sectors: usize) -> Vec<u8> {
    let mut card = Card::new(RamPlatform::new(hsm_fuzz::card::SEED));
    let mut out = vec![0u8; RESPONSE_BUFFER_SIZE];
    for apdu in [
        apdus::SELECT_AID,
        apdus::INITIALIZE,
        &update_binary(0xCF01, 0, &[0x77; 300])[..],
    ] {
        card.transmit(apdu, &mut out);
    }
    let (mut main, _) = card.into_platform().into_stores();
    let mut s = Store::format(RamFlash::new(sectors * store::SECTOR)).unwrap();
    let fids: Vec<u16> = main.fids().collect();
    for f in fids {
        s.write(f, &main.read_all(f).unwrap()).unwrap();
    }
    s.into_flash().into_bytes()
}

fn store_image() {
    let t = "store_image";
    // Operation bytes (see hsm_fuzz::store::op).
    let ops: Vec<u8> = vec![
        op::FORMAT,
        op::WRITE,
        4,
        0x05,
        0x11, // 1081, 5 bytes
        op::WRITE,
        11,
        0x41,
        0x22, // CF01, 64 bytes
        op::WRITE,
        0,
        0x82,
        0x33, // 0000, 2 KiB
        op::WRITE,
        1,
        0x03,
        0xFF, // FFFF, 3 bytes of FF
        op::READ,
        11,
        0x00,
        0x10,
        0x00,
        0x20,
        op::DELETE,
        4,
        op::REMOUNT,
        op::CHECK,
        op::WRITE,
        11,
        0xC0,
        0x44, // CF01, about max_file_size
        op::FILL,
        12,
        op::RETAIN,
        1,
        op::REMOUNT,
        op::CHECK,
    ];
    let blank = vec![0xFFu8; 8 * store::SECTOR];
    write(t, "blank_ops", &store::encode(8, 0, store::NO_CUT, &ops, &blank, false));
    write(
        t,
        "blank_ops_w4",
        &store::encode(16, 1, store::NO_CUT, &ops, &blank, false),
    );
    write(
        t,
        "blank_ops_w256",
        &store::encode(8, 2, store::NO_CUT, &ops, &blank, false),
    );
    for cut in [0u16, 1, 3, 7, 20] {
        write(
            t,
            &format!("power_cut_{cut}"),
            &store::encode(8, 0, cut, &ops, &blank, false),
        );
    }
    let img = card_store_image(32);
    write(
        t,
        "card_image_sparse",
        &store::encode(32, 0, store::NO_CUT, &[op::CHECK, op::READ, 4, 0, 0, 1, 0], &img, true),
    );
    let img8 = card_store_image(8);
    write(
        t,
        "card_image_dense",
        &store::encode(
            8,
            0,
            store::NO_CUT,
            &[op::CHECK, op::WRITE, 11, 0x10, 0x01, op::REMOUNT],
            &img8,
            false,
        ),
    );
    // Found by fuzzing (they once tripped harness checks that were too strict): a store with free_space 0
    // refusing an empty file, and a retain refused as Full.
    write(
        t,
        "full_zero_free_space",
        &hex("0000000325050004ffffffffffffff038233000103ff010b0010002002040406000bc044070c03010406"),
    );
    write(
        t,
        "retain_full",
        &hex(concat!(
            "000000145925050004051100 0b412200 00823300fe03ff00 0020020404060077",
            "7777777777777777777777777777777777777777772c770bc044070c03070c03010406"
        )),
    );
    write(
        t,
        "zeros",
        &store::encode(8, 0, store::NO_CUT, &[op::CHECK], &vec![0u8; 8192], false),
    );
    let noise: Vec<u8> = (0..6000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    write(
        t,
        "noise",
        &store::encode(
            8,
            0,
            store::NO_CUT,
            &[op::CHECK, op::WRITE, 2, 0x01, 0x01],
            &noise,
            false,
        ),
    );
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// `ccid_stream`: power on, an APDU over two packets with the card's answer and a time extension,
/// an abort, a bus reset (the operation codes of `hsm_fuzz::ccid`).
fn ccid_stream() {
    let packet = |bytes: &[u8]| {
        let mut v = vec![0u8, bytes.len() as u8];
        v.extend_from_slice(bytes);
        v
    };
    let header = |kind: u8, len: u32, seq: u8| {
        let mut h = vec![kind];
        h.extend_from_slice(&len.to_le_bytes());
        h.extend_from_slice(&[0, seq, 0, 0, 0]);
        h
    };
    let mut power = packet(&header(0x62, 0, 1));
    power.push(6);
    let mut xfr = header(0x6F, 100, 2);
    xfr.extend_from_slice(&[0x80; 54]);
    let mut apdu = power.clone();
    apdu.extend(packet(&xfr));
    apdu.extend(packet(&[0x80; 46]));
    apdu.extend([2, 1, 0x01, 0x00, 6]);
    write("ccid_stream", "power_on_apdu", &apdu);
    let mut abort = power.clone();
    let mut short_xfr = header(0x6F, 5, 3);
    short_xfr.extend_from_slice(&[0x00, 0x84, 0x00, 0x00, 0x08]);
    abort.extend(packet(&short_xfr));
    abort.extend([3, 0, 3]);
    abort.extend(packet(&header(0x72, 0, 3)));
    abort.extend([6, 4]);
    abort.extend(packet(&header(0x65, 0, 4)));
    abort.push(6);
    write("ccid_stream", "abort_reset", &abort);
}

fn main() {
    apdu_sequence();
    apdu_parse();
    store_image();
    ccid_stream();
}
