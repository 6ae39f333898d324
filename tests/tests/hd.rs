//! Hierarchical deterministic keys through PC/SC (INS 4A, COMPUTE SIGNATURE P2 A0, the HD cipher;
//! reference §3.20): the APDUs upstream's host library sends, on the virtual card in a private pcscd.
//!
//! * BIP32 test vector 1, the whole chain m/0H/1/2H/2/1000000000: each xpub, Base58Check-encoded
//!   here, equals the published one.
//! * SLIP-10 NIST P-256 vector 1 on the same chain (fingerprint, chain code, public key), and the
//!   SLIP-21 "Master encryption key" node.
//! * HD signatures on both curves, verified by `openssl pkeyutl` with the public key of the xpub
//!   (its compressed point in a SubjectPublicKeyInfo); SHA-256 of the message from `openssl dgst`.
//! * Timing, printed (never asserted): this test runs itself inside the namespaces as a PC/SC client
//!   (`pcsc_timing_client`) that sends each APDU many times and prints the medians. See them with
//!   `cargo test -p hsm-e2e --test hd -- --nocapture`.

use std::time::{Duration, Instant};

use hsm_e2e::{Env, SELECT_APDU, apdu_script_binary, path_str, verify_apdu};

const HARDENED: u32 = 0x8000_0000;
const SEED1: &str = "000102030405060708090a0b0c0d0e0f";
const SLIP21_SEED: &str = "c76c4ac4f4e4a00d6b274d5c39c700bb4a7ddc04fbc6f78e85ca75007b5b495f74a9043eeb77bdd53aa6fc3a0e31462270316fa04b8c19114c8798706cd02ac8";
/// m/0H/1/2H/2/1000000000.
const CHAIN: [u32; 5] = [HARDENED, 1, HARDENED + 2, 2, 1_000_000_000];
/// BIP32 test vector 1: the xpubs of m and of each prefix of [`CHAIN`].
const BIP32_V1: [&str; 6] = [
    "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8",
    "xpub68Gmy5EdvgibQVfPdqkBBCHxA5htiqg55crXYuXoQRKfDBFA1WEjWgP6LHhwBZeNK1VTsfTFUHCdrfp1bgwQ9xv5ski8PX9rL2dZXvgGDnw",
    "xpub6ASuArnXKPbfEwhqN6e3mwBcDTgzisQN1wXN9BJcM47sSikHjJf3UFHKkNAWbWMiGj7Wf5uMash7SyYq527Hqck2AxYysAA7xmALppuCkwQ",
    "xpub6D4BDPcP2GT577Vvch3R8wDkScZWzQzMMUm3PWbmWvVJrZwQY4VUNgqFJPMM3No2dFDFGTsxxpG5uJh7n7epu4trkrX7x7DogT5Uv6fcLW5",
    "xpub6FHa3pjLCk84BayeJxFW2SP4XRrFd1JYnxeLeU8EqN3vDfZmbqBqaGJAyiLjTAwm6ZLRQUMv1ZACTj37sR62cfN7fe5JnJ7dh8zL4fiyLHV",
    "xpub6H1LXWLaKsWFhvm6RVpEL9P4KfRZSW7abD2ttkWP3SSQvnyA8FSVqNTEcYFgJS2UaFcxupHiYkro49S8yGasTvXEYBVPamhGW6cFJodrTHy",
];
/// SLIP-10 NIST P-256 vector 1 on [`CHAIN`]: fingerprint, chain code, public key of m and each prefix.
const SLIP10_P256_V1: [(&str, &str, &str); 6] = [
    (
        "00000000",
        "beeb672fe4621673f722f38529c07392fecaa61015c80c34f29ce8b41b3cb6ea",
        "0266874dc6ade47b3ecd096745ca09bcd29638dd52c2c12117b11ed3e458cfa9e8",
    ),
    (
        "be6105b5",
        "3460cea53e6a6bb5fb391eeef3237ffd8724bf0a40e94943c98b83825342ee11",
        "0384610f5ecffe8fda089363a41f56a5c7ffc1d81b59a612d0d649b2d22355590c",
    ),
    (
        "9b02312f",
        "4187afff1aafa8445010097fb99d23aee9f599450c7bd140b6826ac22ba21d0c",
        "03526c63f8d0b4bbbf9c80df553fe66742df4676b241dabefdef67733e070f6844",
    ),
    (
        "b98005c1",
        "98c7514f562e64e74170cc3cf304ee1ce54d6b6da4f880f313e8204c2a185318",
        "0359cf160040778a4b14c5f4d7b76e327ccc8c4a6086dd9451b7482b5a4972dda0",
    ),
    (
        "0e9f3274",
        "ba96f776a5c3907d7fd48bde5620ee374d4acfd540378476019eab70790c63a0",
        "029f871f4cb9e1c97f9f4de9ccd0d4a2f2a171110c61178f84430062230833ff20",
    ),
    (
        "8b2b5c4b",
        "b9b7b82d326bb9cb5b5b121066feea4eb93d5241103c9e7a18aad40f1dde8059",
        "02216cd26d31147f72427a453c443ed2cde8a1e53c9cc44e5ddf739725413fe3f4",
    ),
];
/// SubjectPublicKeyInfo prefixes for a compressed point (RFC 5480): secp256k1, prime256v1.
const SPKI_K1: &str = "3036301006072a8648ce3d020106052b8104000a032200";
const SPKI_P256: &str = "3039301306072a8648ce3d020106082a8648ce3d030107032200";
/// Reader of the timing client (set by the test that starts it).
const CLIENT_READER: &str = "HSM_E2E_HD_READER";

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex")
}

/// An extended case 4 APDU (Le 0000) as bytes.
fn apdu(ins: u8, p1: u8, p2: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, ins, p1, p2, 0, (data.len() >> 8) as u8, data.len() as u8];
    v.extend_from_slice(data);
    v.extend_from_slice(&[0, 0]);
    v
}

/// pypicohsm `_hd_encode_path` of indices.
fn path(slot: u8, indices: &[u32]) -> Vec<u8> {
    let mut v = vec![0x02, 0x01, slot];
    for i in indices {
        v.extend_from_slice(&[0x02, 0x04]);
        v.extend_from_slice(&i.to_be_bytes());
    }
    v
}

fn labels(slot: u8, labels: &[&[u8]]) -> Vec<u8> {
    let mut v = vec![0x02, 0x01, slot];
    for l in labels {
        v.extend_from_slice(&[0x04, l.len() as u8]);
        v.extend_from_slice(l);
    }
    v
}

fn xpub(path: &[u8]) -> Vec<u8> {
    apdu(0x4A, 0x0A, 0x00, path)
}

fn keep(path: &[u8]) -> Vec<u8> {
    apdu(0x4A, 0x10, 0x00, path)
}

fn sign(hash: &[u8]) -> Vec<u8> {
    apdu(0x68, 0x00, 0xA0, hash)
}

/// Data and status word of an `apdu-script` response line.
fn split(response: &str) -> (Vec<u8>, u16) {
    let bytes = h(response);
    let (data, sw) = bytes.split_at(bytes.len() - 2);
    (data.to_vec(), u16::from_be_bytes([sw[0], sw[1]]))
}

fn sha256d(data: &[u8], env: &Env, name: &str) -> Vec<u8> {
    let file = env.write_file(name, data);
    let once = std::fs::read(env.openssl_sha256(&file)).expect("hash");
    let file = env.write_file(&format!("{name}.1"), &once);
    std::fs::read(env.openssl_sha256(&file)).expect("hash")
}

#[test]
fn hd_vectors_signatures_and_timing_through_pcsc() {
    let Some(env) = Env::start() else { return };
    env.initialize();

    // SHA-256 of the message, by openssl.
    let message = env.write_file("hd-message.txt", b"Pico Keys are awesome!");
    let hash_file = env.openssl_sha256(&message);
    let hash = std::fs::read(&hash_file).expect("hash");

    let mut apdus: Vec<Vec<u8>> = vec![
        apdu(0x4A, 0x01, 0, &h(SEED1)),
        apdu(0x4A, 0x02, 1, &h(SEED1)),
        apdu(0x4A, 0x03, 7, &h(SLIP21_SEED)),
    ];
    for depth in 0..=CHAIN.len() {
        apdus.push(xpub(&path(0, &CHAIN[..depth])));
    }
    for depth in 0..=CHAIN.len() {
        apdus.push(xpub(&path(1, &CHAIN[..depth])));
    }
    let slip21 = labels(7, &[b"SLIP-0021", b"Master encryption key"]);
    apdus.push(xpub(&slip21));
    for slot in [0, 1] {
        apdus.push(keep(&path(slot, &CHAIN)));
        apdus.push(sign(&hash));
    }
    // Refusals through PC/SC too: no node, unknown master, too deep, malformed index.
    apdus.push(sign(&hash));
    apdus.push(xpub(&path(9, &[])));
    apdus.push(xpub(&path(0, &[1; 11])));
    apdus.push(xpub(&[0x02, 0x01, 0x00, 0x02, 0x05, 1, 0, 0, 0, 0]));
    let hex: Vec<String> = apdus.iter().map(hex::encode_upper).collect();
    let answers = env.apdu_script_logged_in(apdu_script_binary!(), 0, &hex);
    let mut answers = answers.iter().map(|a| split(a));

    for slot in [0, 1, 7] {
        assert_eq!(answers.next().unwrap(), (vec![], 0x9000), "master in slot {slot}");
    }
    for (depth, expected) in BIP32_V1.iter().enumerate() {
        let (body, sw) = answers.next().unwrap();
        assert_eq!((sw, body.len()), (0x9000, 78), "BIP32 xpub depth {depth}");
        assert_eq!(
            bs58::encode(&body).with_check().into_string(),
            *expected,
            "BIP32 vector 1 depth {depth}"
        );
    }
    let mut points = Vec::new();
    for (depth, (fingerprint, chain, public)) in SLIP10_P256_V1.iter().enumerate() {
        let (body, sw) = answers.next().unwrap();
        assert_eq!((sw, body.len()), (0x9000, 78), "SLIP-10 P-256 xpub depth {depth}");
        assert_eq!(
            hex::encode(&body[5..9]),
            *fingerprint,
            "P-256 depth {depth} fingerprint"
        );
        assert_eq!(hex::encode(&body[13..45]), *chain, "P-256 depth {depth} chain code");
        assert_eq!(hex::encode(&body[45..]), *public, "P-256 depth {depth} public key");
        points.push(body[45..].to_vec());
    }
    let (body, sw) = answers.next().unwrap();
    assert_eq!((sw, body.len()), (0x9000, 77), "SLIP-21 node");
    let key = h("ea163130e35bbafdf5ddee97a17b39cef2be4b4f390180d65b54cf05c6a82fde");
    assert_eq!(body[45..], sha256d(&key, &env, "slip21-key")[..], "SLIP-21 node key");

    // Signatures, verified by openssl with the xpub's point.
    let k1_point = bs58::decode(BIP32_V1[5]).with_check(None).into_vec().unwrap()[45..].to_vec();
    for (name, spki, point) in [
        ("secp256k1", SPKI_K1, k1_point),
        ("prime256v1", SPKI_P256, points[5].clone()),
    ] {
        assert_eq!(answers.next().unwrap(), (vec![], 0x9000), "4A 10 on {name}");
        let (sig, sw) = answers.next().unwrap();
        assert_eq!(sw, 0x9000, "68 A0 on {name}");
        let public = env.write_file(&format!("hd-{name}.der"), &[h(spki), point].concat());
        let sig_file = env.write_file(&format!("hd-{name}.sig"), &sig);
        let verify = |data: &std::path::Path| {
            env.openssl(&[
                "pkeyutl",
                "-verify",
                "-pubin",
                "-keyform",
                "DER",
                "-inkey",
                &path_str(&public),
                "-in",
                &path_str(data),
                "-sigfile",
                &path_str(&sig_file),
            ])
        };
        verify(&hash_file).ok().expect("Signature Verified Successfully");
        // Not vacuous: the same signature does not verify another hash.
        let other = env.write_file(&format!("hd-{name}.other"), &[0x55; 32]);
        verify(&other).failed();
    }
    for (what, sw) in [
        ("68 A0 without a node", 0x6985),
        ("unknown master", 0x6A88),
        ("path deeper than 10", 0x6700),
        ("index of 5 bytes", 0x6700),
    ] {
        assert_eq!(answers.next().unwrap(), (vec![], sw), "{what}");
    }
    assert!(answers.next().is_none());

    // Timing: this binary again, as a PC/SC client inside the namespaces.
    let exe = std::env::current_exe().expect("test executable");
    let mut client = env.ns_command(exe);
    client
        .args([
            "--exact",
            "pcsc_timing_client",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CLIENT_READER, Env::reader_name(0));
    let out = env.capture(client, "hd timing client".to_string()).ok();
    // With --nocapture the harness's "test ... " may precede the first line.
    for line in out
        .stdout
        .lines()
        .filter_map(|l| l.find("hd through pcscd").map(|i| &l[i..]))
    {
        println!("{line}");
    }
    assert!(
        out.stdout.contains("hd through pcscd"),
        "timing client printed nothing:\n{out}"
    );
}

/// The timing client (started by the test above inside the namespaces; without
/// `HSM_E2E_HD_READER` it does nothing). Uses the masters the test created: secp256k1 in slot 0,
/// P-256 in slot 1.
#[test]
#[ignore]
fn pcsc_timing_client() {
    let Ok(reader) = std::env::var(CLIENT_READER) else {
        return;
    };
    let count: usize = std::env::var("HSM_E2E_BENCH_COUNT")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(51);
    let context = pcsc::Context::establish(pcsc::Scope::User).expect("pcscd");
    let name = std::ffi::CString::new(reader).unwrap();
    let card = context
        .connect(&name, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .expect("card");
    let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    let mut send = |a: &[u8]| -> Duration {
        let started = Instant::now();
        let r = card.transmit(a, &mut buf).expect("transmit");
        let elapsed = started.elapsed();
        assert_eq!(&r[r.len() - 2..], &[0x90, 0x00], "{}", hex::encode_upper(a));
        elapsed
    };
    send(&h(SELECT_APDU));
    send(&h(&verify_apdu()));
    let median = |mut t: Vec<Duration>| {
        t.sort();
        t[t.len() / 2].as_secs_f64() * 1e3
    };
    let challenge = median((0..count).map(|_| send(&[0x00, 0x84, 0x00, 0x00, 0x08])).collect());
    println!("hd through pcscd: GET CHALLENGE (round trip) median {challenge:.3} ms, {count} runs");
    for (slot, curve) in [(0u8, "secp256k1"), (1, "P-256")] {
        for hardened in [true, false] {
            let mut line = format!(
                "hd through pcscd: {curve} xpub, {} levels:",
                if hardened { "hardened" } else { "normal" }
            );
            for depth in [0u32, 1, 5, 10] {
                let p: Vec<u32> = (0..depth).map(|i| if hardened { HARDENED + i } else { i }).collect();
                let a = xpub(&path(slot, &p));
                line += &format!(
                    " depth {depth} {:.3} ms;",
                    median((0..count).map(|_| send(&a)).collect())
                );
            }
            println!("{line}");
        }
        let p = path(slot, &[HARDENED + 44, HARDENED, HARDENED, 0, 0]);
        let (mut k, mut s) = (Vec::new(), Vec::new());
        for _ in 0..count {
            k.push(send(&keep(&p)));
            s.push(send(&sign(&[0x5A; 32])));
        }
        println!(
            "hd through pcscd: {curve} signature: 4A 10 (depth 5) median {:.3} ms, 68 A0 median {:.3} ms",
            median(k),
            median(s)
        );
    }
}
