//! The tool's card commands against the Pico HSM card core in-process (no pcscd): the same APDUs as
//! through PC/SC, answered by `hsm-card` on a RAM flash.

mod common;

use common::{InProcess, SHARE_A, SHARE_B, share};
use hsm_card::Card;
use hsm_card::testing::RamPlatform;
use hsm_tool::card::{Client, Command};
use hsm_tool::commands::{dkek, info};
use hsm_tool::hsm::{self, Domain, PinRef, PinStatus};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// A card initialized as `sc-hsm-tool --initialize --so-pin 3537363231383830 --pin 648219
/// --dkek-shares 2` does it, with the application selected again.
fn initialized_card() -> Client<InProcess> {
    let mut c = Client::new(InProcess(Card::new(RamPlatform::new(7))));
    hsm_tool::cli::open(&mut c, None).unwrap();
    let init = hex::decode("80020001 8106 363438323139 8208 3537363231383830 910103 920102".replace(' ', "")).unwrap();
    c.call("INITIALIZE", &Command::new(0x80, 0x50, 0x00, 0x00).data(&init))
        .unwrap();
    hsm_tool::cli::open(&mut c, None).unwrap();
    c
}

#[test]
fn device_information() {
    let mut c = Client::new(InProcess(Card::new(RamPlatform::new(7))));
    let app = hsm_tool::cli::open(&mut c, None).unwrap();
    assert_eq!(app.version, Some((6, 6)));
    assert_eq!(hsm::device_id(&mut c).unwrap(), None, "no C_DevAut before INITIALIZE");
    assert_eq!(hsm::pin_status(&mut c, PinRef::User).unwrap(), PinStatus::NotSet);

    let mut c = initialized_card();
    let mem = hsm::memory_and_version(&mut c).unwrap().unwrap();
    assert_eq!(mem.version, (6, 6));
    assert!(mem.free > 0);
    let id = hsm::device_id(&mut c).unwrap().unwrap();
    assert_eq!(id.len(), 16);
    assert!(id.starts_with("ES") && id.ends_with("00001"), "{id}");
    assert_eq!(hsm::pin_status(&mut c, PinRef::User).unwrap(), PinStatus::TriesLeft(3));
    assert_eq!(hsm::pin_status(&mut c, PinRef::So).unwrap(), PinStatus::TriesLeft(15));
    let rescue = info::rescue(&mut c).unwrap();
    let r = rescue.info.clone().expect("rescue applet");
    assert_eq!(
        (r.mcu_name(), r.product_name(), r.version),
        ("emulation", "HSM", (6, 6))
    );
    let flash = rescue.flash.expect("flash info");
    assert_eq!(flash.free + flash.used, flash.total);
    let app = hsm_tool::cli::open(&mut c, None).unwrap();
    let pins = info::pins(&mut c).unwrap();
    let (v, _) = info::collect(&mut c, "in-process", &rescue, &app, pins, false).unwrap();
    assert_eq!(v["device_id"], id.as_str());
    assert_eq!(v["rescue"]["serial"].as_str().unwrap().len(), 16);
    assert_eq!(v["user_pin"]["tries_left"], 3);
    assert_eq!(v["options"]["set"][0], "reset-retry-counter");
    assert_eq!(v["secure_lock"], serde_json::Value::Null, "unknown without a PIN");
    assert_eq!(v["key_domains"][0]["state"], "import-pending");
    info::info(&mut c, "in-process", &rescue, &app, pins, false, false).unwrap();
}

#[test]
fn dkek_import_two_shares() {
    let mut c = initialized_card();
    let domains = hsm::key_domains(&mut c).unwrap();
    assert_eq!(domains.len(), 1);
    let Domain::Configured(s) = &domains[0] else {
        panic!("{domains:?}")
    };
    assert_eq!((s.total, s.missing), (2, 2));
    dkek::check_importable(&mut c, 0).unwrap();
    assert!(dkek::check_importable(&mut c, 1).is_err(), "no domain 1");

    let (a, b) = (share(SHARE_A), share(SHARE_B));
    let st = hsm::import_dkek_share(&mut c, 0, &a).unwrap();
    assert_eq!((st.total, st.missing), (2, 1));
    dkek::import(&mut c, 0, &b).unwrap();

    let Some(Domain::Configured(st)) = hsm::key_domain(&mut c, 0).unwrap() else {
        panic!()
    };
    assert_eq!(st.missing, 0);
    let dkek: Vec<u8> = a.iter().zip(b.iter()).map(|(x, y)| x ^ y).collect();
    assert_eq!(st.kcv[..], Sha256::digest(&dkek)[..8], "KCV = SHA-256(DKEK)[0..8]");

    let err = dkek::check_importable(&mut c, 0).unwrap_err().to_string();
    assert!(err.contains("already imported"), "{err}");
    let err = hsm::import_dkek_share(&mut c, 0, &a).unwrap_err();
    assert_eq!(err.sw(), Some(0x6986));
    dkek::status(&mut c, None).unwrap();
}

#[test]
fn wrong_pin_names_the_status_word() {
    let mut c = initialized_card();
    let pin = Zeroizing::new(b"000000".to_vec());
    let err = hsm_tool::cli::open(&mut c, Some(&pin)).unwrap_err().to_string();
    assert_eq!(err, "VERIFY (user PIN): 63C2 wrong PIN, 2 tries left");
    let pin = Zeroizing::new(b"648219".to_vec());
    hsm_tool::cli::open(&mut c, Some(&pin)).unwrap();
    assert_eq!(hsm::pin_status(&mut c, PinRef::User).unwrap(), PinStatus::Verified);
}
