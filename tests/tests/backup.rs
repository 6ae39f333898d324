//! DKEK shares and key wrap/unwrap between two virtual cards in one private pcscd, with OpenSC's
//! `sc-hsm-tool`: the same share gives the same key check value on both devices before any login,
//! keys wrapped on card 0 unwrap on card 1 and work there (signatures verified by openssl with
//! card 0's public keys, AES results identical), and a damaged blob changes nothing.

use hsm_e2e::{
    Env, SELECT_APDU, USER_PIN, apdu_script_binary, assert_no_failures, cipher_symmetric_apdu, kcv_in, path_str,
    verify_apdu,
};

const PASSWORD: &str = "backup-test-password";

/// UNWRAP KEY (80 74 id 93) of `blob`, extended length.
fn unwrap_apdu(id: u8, blob: &[u8]) -> String {
    let mut v = vec![0x80, 0x74, id, 0x93, 0, (blob.len() >> 8) as u8, blob.len() as u8];
    v.extend_from_slice(blob);
    v.extend_from_slice(&[0, 0]);
    hex::encode_upper(v)
}

/// The value of the first OCTET STRING inside the outer SEQUENCE of a DER file.
fn first_octet_string(der: &[u8]) -> Option<&[u8]> {
    fn header(d: &[u8]) -> Option<(u8, usize, &[u8])> {
        let (&tag, rest) = d.split_first()?;
        let (&first, rest) = rest.split_first()?;
        if first < 0x80 {
            return Some((tag, usize::from(first), rest));
        }
        let n = usize::from(first & 0x7F);
        let len = rest.get(..n)?.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b));
        Some((tag, len, rest.get(n..)?))
    }
    let (0x30, _, inner) = header(der)? else { return None };
    let (0x04, len, rest) = header(inner)? else { return None };
    rest.get(..len)
}

/// LIST KEYS and the KEY DOMAIN status of domain 0 of card `index`, without logging in.
fn keys_and_domain(env: &Env, index: usize) -> (String, String) {
    let r = env.apdu_script(
        apdu_script_binary!(),
        index,
        &[SELECT_APDU.into(), "8058000000".into(), "8052000000".into()],
    );
    (r[1].clone(), r[2].clone())
}

#[test]
fn dkek_shares_and_wrapped_keys_move_between_devices() {
    let Some(env) = Env::with_cards(2) else { return };
    let mut failures = Vec::new();
    for index in 0..2 {
        env.initialize_reader(index, &["--dkek-shares", "1"]);
    }
    let share = path_str(&env.dir().join("share.pbe"));
    env.create_dkek_share(0, &share, PASSWORD).ok();
    let mut kcvs = Vec::new();
    for index in 0..2 {
        // A fresh connection: no PIN has been presented to either card since the restart.
        env.restart_card(index);
        let out = env.import_dkek_share(index, &share, PASSWORD);
        let kcv = kcv_in(&out.text());
        let (_, status) = keys_and_domain(&env, index);
        // 01 total, 00 missing, the KCV, 9000 — read back without a login.
        match &kcv {
            Some(k) if status == format!("0100{k}9000") => {}
            _ => failures.push(format!(
                "card {index}: import printed KCV {kcv:?}, status {status}:\n{out}"
            )),
        }
        kcvs.push(kcv);
    }
    assert_eq!(kcvs[0], kcvs[1], "the same share gave different KCVs");
    assert!(kcvs[0].as_deref().is_some_and(|k| k != "0000000000000000"));

    // Keys on card 0: P-256 and RSA-2048 through PKCS#11, AES-256 through the card's command.
    for (kind, id, label) in [("EC:prime256v1", "01", "ec-key"), ("rsa:2048", "02", "rsa-key")] {
        env.keypairgen_on(0, kind, id, label);
    }
    let r = env.apdu_script(
        apdu_script_binary!(),
        0,
        &[SELECT_APDU.into(), verify_apdu(), "004803B2".into()],
    );
    assert_eq!(r, ["9000", "9000", "9000"], "AES key generation on card 0");

    // Wrap on card 0, unwrap on card 1.
    for id in ["1", "2", "3"] {
        let file = path_str(&env.dir().join(format!("key{id}.wrap")));
        let out = env.sc_hsm_tool(&[
            "--reader",
            "0",
            "--wrap-key",
            &file,
            "--key-reference",
            id,
            "--pin",
            USER_PIN,
        ]);
        if !std::path::Path::new(&file).exists() {
            failures.push(format!("wrap of key {id} wrote no file:\n{out}"));
            continue;
        }
        let out = env.sc_hsm_tool(&[
            "--reader",
            "1",
            "--unwrap-key",
            &file,
            "--key-reference",
            id,
            "--pin",
            USER_PIN,
            "--force",
        ]);
        if out.text().to_ascii_lowercase().contains("fail") || out.text().contains("error") {
            failures.push(format!("unwrap of key {id}:\n{out}"));
        }
    }
    assert_no_failures(&failures);

    // Signatures on card 1 verify with card 0's public keys.
    let data_file = env.write_file("data.txt", b"signed on the second device\n");
    let hash_file = env.openssl_sha256(&data_file);
    for (id, mechanism) in [("01", "ECDSA-SHA256"), ("02", "SHA256-RSA-PKCS")] {
        let (out, _) = env.sign_and_verify_with(1, 0, id, mechanism, &data_file, &hash_file);
        if !out.contains("Signature Verified Successfully") {
            failures.push(format!(
                "key {id} signed on card 1 does not verify with card 0's key:\n{out}"
            ));
        }
    }
    // The AES key gives the same ciphertext on both cards.
    let block = [0x5Au8; 32];
    let cipher = |index| {
        let apdu = cipher_symmetric_apdu(3, 0x10, &block, 0);
        env.apdu_script_logged_in(apdu_script_binary!(), index, &[apdu])[0].clone()
    };
    let (a, b) = (cipher(0), cipher(1));
    if a != b || !a.ends_with("9000") || a.len() != 2 * 32 + 4 {
        failures.push(format!("AES-CBC on card 0 {a}, on card 1 {b}"));
    }
    // OpenSC lists the unwrapped asymmetric keys on card 1 with card 0's labels.
    let objects = env
        .pkcs11_tool(&["--slot-index", "1", "--list-objects", "--login", "--pin", USER_PIN])
        .ok();
    for label in ["ec-key", "rsa-key"] {
        if !objects.contains(label) {
            failures.push(format!("card 1 does not list {label}:\n{objects}"));
        }
    }

    // sc-hsm-tool's file is SEQUENCE { OCTET STRING blob, PRKD, certificate }. The blob itself,
    // with one bit flipped anywhere in a sample of positions, is refused and card 1 stays as it
    // was; the intact blob unwraps into another slot.
    let wrapped = std::fs::read(env.dir().join("key1.wrap")).expect("key1.wrap");
    let blob = first_octet_string(&wrapped).expect("blob in the wrap file");
    let before = keys_and_domain(&env, 1);
    let mut apdus = vec![SELECT_APDU.to_string(), verify_apdu()];
    let positions: Vec<usize> = (0..blob.len()).step_by(7).chain([blob.len() - 1]).collect();
    for &i in &positions {
        let mut bad = blob.to_vec();
        bad[i] ^= 0x01;
        apdus.push(unwrap_apdu(9, &bad));
    }
    apdus.push(unwrap_apdu(9, &blob[..blob.len() - 1]));
    let responses = env.apdu_script(apdu_script_binary!(), 1, &apdus);
    for (i, r) in positions.iter().zip(&responses[2..]) {
        if r == "9000" {
            failures.push(format!("blob with byte {i} flipped was accepted"));
        }
    }
    if responses.last().map(String::as_str) == Some("9000") {
        failures.push("truncated blob accepted".into());
    }
    if keys_and_domain(&env, 1) != before {
        failures.push("refused blobs changed card 1".into());
    }
    let r = env.apdu_script_logged_in(apdu_script_binary!(), 1, &[unwrap_apdu(9, blob)]);
    if r[0] != "9000" {
        failures.push(format!("intact blob refused: {}", r[0]));
    }
    assert_no_failures(&failures);
}

/// The password two shares recombine to (Lagrange interpolation at 0 modulo sc-hsm-tool's 64-bit
/// prime), as a number.
fn recombined_password(a: &PasswordShare, b: &PasswordShare) -> u128 {
    let num = |hex: &str| u128::from_str_radix(&hex.replace(':', ""), 16).expect("hex number");
    let p = num(&a.prime);
    let (x1, x2): (u128, u128) = (a.id.parse().expect("share id"), b.id.parse().expect("share id"));
    let (y1, y2) = (num(&a.value) % p, num(&b.value) % p);
    let mul = |a: u128, b: u128| {
        // p < 2^64, so a·b < 2^128.
        (a % p) * (b % p) % p
    };
    let pow = |mut base: u128, mut e: u128| {
        let mut r = 1;
        while e > 0 {
            if e & 1 == 1 {
                r = mul(r, base);
            }
            base = mul(base, base);
            e >>= 1;
        }
        r
    };
    let inv = |v: u128| pow(v % p, p - 2);
    // L1(0) = x2 / (x2 - x1), L2(0) = x1 / (x1 - x2).
    let l1 = mul(x2, inv((x2 + p - x1) % p));
    let l2 = mul(x1, inv((x1 + p - x2) % p));
    (mul(y1, l1) + mul(y2, l2)) % p
}

/// One password share as `sc-hsm-tool` prints it: prime (hex), id (decimal), value (hex).
struct PasswordShare {
    prime: String,
    id: String,
    value: String,
}

fn password_shares(text: &str) -> Vec<PasswordShare> {
    let field = |line: &str, name: &str| {
        line.strip_prefix(name)
            .and_then(|rest| rest.trim_start().strip_prefix(':'))
            .map(|v| v.trim().to_string())
    };
    let mut shares = Vec::new();
    let mut prime = None;
    let mut id = None;
    for line in text.lines().map(str::trim) {
        if let Some(p) = field(line, "Prime") {
            prime = Some(p);
        } else if let Some(i) = field(line, "Share ID") {
            id = Some(i);
        } else if let Some(v) = field(line, "Share value")
            && let (Some(prime), Some(id)) = (prime.clone(), id.take())
        {
            shares.push(PasswordShare { prime, id, value: v });
        }
    }
    shares
}

/// Three DKEK shares, the third protected by a 2-of-3 password-share scheme (`sc-hsm-tool
/// --pwd-shares-threshold 2 --pwd-shares-total 3`), imported into two cards before any login:
/// the missing count falls share by share, internal files stay unreadable throughout, and both
/// cards end with the same key check value.
#[test]
fn three_shares_one_split_among_custodians() {
    let Some(env) = Env::with_cards(2) else { return };
    for index in 0..2 {
        env.initialize_reader(index, &["--dkek-shares", "3"]);
    }
    let file = |n: usize| path_str(&env.dir().join(format!("share{n}.pbe")));
    for n in 1..=2 {
        env.create_dkek_share(0, &file(n), &format!("{PASSWORD}-{n}")).ok();
    }
    // sc-hsm-tool waits for Enter before and after showing each password share. Its password is 8
    // random bytes; when the first is 00 (1 time in 128) sc-hsm-tool cannot decrypt its own file
    // (the recombined number loses the byte), so such a set is made again: a defect of the tool,
    // not of the card.
    let mut attempt = 0;
    let shares = loop {
        attempt += 1;
        let out = env.run_with_input(
            "sc-hsm-tool",
            &[
                "--reader",
                "0",
                "--create-dkek-share",
                &file(3),
                "--pwd-shares-threshold",
                "2",
                "--pwd-shares-total",
                "3",
            ],
            &"\n".repeat(16),
        );
        let shares = password_shares(&out.stdout);
        assert_eq!(shares.len(), 3, "expected three password shares:\n{out}");
        if recombined_password(&shares[0], &shares[2]) >= 1 << 56 || attempt == 5 {
            break shares;
        }
        std::fs::remove_file(file(3)).expect("remove share file");
    };

    let internal: Vec<String> = (0x1090..=0x109F)
        .chain([0x10A0])
        .map(|f: u16| format!("00B1{f:04X}045402000000"))
        .collect();
    let mut failures = Vec::new();
    let mut kcvs = Vec::new();
    for (index, reader) in ["0", "1"].into_iter().enumerate() {
        env.restart_card(index);
        for n in 1..=3 {
            let out = if n < 3 {
                env.import_dkek_share(index, &file(n), &format!("{PASSWORD}-{n}"))
            } else {
                // Custodians 1 and 3 present their shares; the first also types the prime.
                let (a, b) = (&shares[0], &shares[2]);
                let input = format!("{}\n\n{}\n{}\n\n{}\n{}\n", a.prime, a.id, a.value, b.id, b.value);
                env.run_with_input(
                    "sc-hsm-tool",
                    &[
                        "--reader",
                        reader,
                        "--import-dkek-share",
                        &file(3),
                        "--pwd-shares-total",
                        "2",
                    ],
                    &input,
                )
            };
            let (_, status) = keys_and_domain(&env, index);
            if !status.starts_with(&format!("03{:02X}", 3 - n)) || !status.ends_with("9000") {
                failures.push(format!("card {index} share {n}: status {status}\n{out}"));
            }
            let mut apdus = vec![SELECT_APDU.to_string()];
            apdus.extend(internal.iter().cloned());
            let answers = env.apdu_script(apdu_script_binary!(), index, &apdus);
            if let Some(a) = answers[1..].iter().find(|a| a.as_str() != "6982") {
                failures.push(format!("card {index} after share {n}: an internal file answered {a}"));
            }
            if n == 3 {
                kcvs.push(kcv_in(&out.text()));
                let kcv = kcvs.last().cloned().flatten().unwrap_or_default();
                if status != format!("0300{kcv}9000") {
                    failures.push(format!("card {index}: final status {status}, printed KCV {kcv}\n{out}"));
                }
            }
        }
    }
    assert_no_failures(&failures);
    assert_eq!(kcvs[0], kcvs[1], "three shares gave different KCVs on the two cards");
    assert!(kcvs[0].is_some());
}
