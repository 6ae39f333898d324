//! Known-answer tests against files made by OpenSC 0.23's `sc-hsm-tool --create-dkek-share` (see
//! tests/data/README.md for the commands). The expected shares were computed independently (Python:
//! hashlib MD5 x 10,000,000, `cryptography` AES-256-CBC, Lagrange interpolation with Python integers).
//! Each decryption derives its key with 30 million MD5 runs: about 3 s of CPU each.

use std::path::PathBuf;

use hsm_tool::pbe;
use hsm_tool::shamir::{self, PasswordShare};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(data(name)).unwrap()
}

fn password(name: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(data(name)).unwrap();
    text.lines().next().unwrap().as_bytes().to_vec()
}

fn share(prefix: &str, i: usize) -> PasswordShare {
    PasswordShare::parse(&std::fs::read_to_string(data(&format!("{prefix}-share{i}.txt"))).unwrap()).unwrap()
}

fn decrypt(file: &str, password: &[u8]) -> String {
    hex::encode(*pbe::decrypt(&read(file), password, pbe::OPENSC_ITERATIONS).unwrap())
}

#[test]
fn password_file() {
    assert_eq!(
        decrypt("opensc-password.pbe", &password("opensc-password.txt")),
        "61bf73783d504237355be46b5949eab0d1b4ae79b53b3c49d51f45f7fcbf0406"
    );
}

#[test]
fn utf8_password_file() {
    assert_eq!(
        decrypt("opensc-utf8-password.pbe", &password("opensc-utf8-password.txt")),
        "612fa463b752775a0832d3420d92ecf4f0c38f24b6f98feff786632f5ced3f6a"
    );
}

#[test]
fn two_of_three_password_shares() {
    let all: Vec<_> = (1..=3).map(|i| share("opensc-2of3", i)).collect();
    let expected = "32dbc94a56d04db2";
    for pair in [[0, 1], [0, 2], [1, 2], [2, 0]] {
        let pwd = shamir::recombine(&[all[pair[0]].clone(), all[pair[1]].clone()]).unwrap();
        assert_eq!(hex::encode(&pwd[..]), expected, "shares {pair:?}");
    }
    assert_eq!(
        decrypt("opensc-2of3.pbe", &hex::decode(expected).unwrap()),
        "a165cf94b76743e1dc05323b22a934fb4ff5f8e2d75cca27190555300070d69c"
    );
}

#[test]
fn three_of_five_password_shares_including_a_short_value() {
    let all: Vec<_> = (1..=5).map(|i| share("opensc-3of5", i)).collect();
    // Share 3's value has 7 bytes: sc-hsm-tool prints the minimal encoding.
    assert_eq!(shamir::hex_colons(&all[2].value), "d4:de:3f:cb:17:9c:ea");
    let expected = "679f0fd5f53a08d6";
    for trio in [[0, 1, 2], [0, 2, 4], [1, 3, 4], [4, 3, 2]] {
        let pick: Vec<_> = trio.iter().map(|&i| all[i].clone()).collect();
        assert_eq!(
            hex::encode(&shamir::recombine(&pick).unwrap()[..]),
            expected,
            "shares {trio:?}"
        );
    }
    assert_ne!(
        hex::encode(&shamir::recombine(&all[..2]).unwrap()[..]),
        expected,
        "two shares of a 3-of-5 do not give the password"
    );
    assert_eq!(
        decrypt("opensc-3of5.pbe", &hex::decode(expected).unwrap()),
        "1baf64a079e5edc8847d3620d696f51265bd95e9fcc6066a19faeaaa915346fa"
    );
}

#[test]
fn share_texts_print_back_byte_for_byte() {
    for (prefix, n) in [("opensc-2of3", 3), ("opensc-3of5", 5)] {
        for i in 1..=n {
            let text = std::fs::read_to_string(data(&format!("{prefix}-share{i}.txt"))).unwrap();
            assert_eq!(share(prefix, i).to_text(i, n), text, "{prefix} share {i}");
        }
    }
}
