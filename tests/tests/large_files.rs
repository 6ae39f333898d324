//! Files beyond what OpenSC's tools send: a 70 KB file written with 32-bit offsets through PC/SC and
//! read back in extended-length chunks, surviving a restart of the card.

use hsm_e2e::{Env, SELECT_APDU, apdu_script_binary, assert_same_bytes, verify_apdu};

/// Runs APDUs through the card in reader 0 and returns the responses (data ‖ SW) as hex.
fn script(env: &Env, apdus: &[String]) -> Vec<String> {
    env.apdu_script(apdu_script_binary!(), 0, apdus)
}

fn read_back(env: &Env, fid: &str, len: usize) -> Vec<u8> {
    let mut apdus = vec![SELECT_APDU.to_string()];
    // 4096 bytes per READ BINARY (extended Le = 0000), offsets as 4-byte DOs.
    for off in (0..len).step_by(4096) {
        apdus.push(format!("00B1{fid}000006 5404{off:08X} 0000").replace(' ', ""));
    }
    let responses = script(env, &apdus);
    let mut data = Vec::new();
    for r in &responses[1..] {
        assert!(r.ends_with("9000"), "READ BINARY answered {r}");
        data.extend(hex::decode(&r[..r.len() - 4]).unwrap());
    }
    data
}

#[test]
fn seventy_kilobyte_file_round_trips_with_32_bit_offsets() {
    let Some(env) = Env::start() else { return };
    assert!(hsm_e2e::initialize_succeeded(&env.initialize()));
    let content: Vec<u8> = (0..70_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut apdus = vec![SELECT_APDU.to_string(), verify_apdu()];
    for (i, chunk) in content.chunks(2000).enumerate() {
        let mut body = format!("5404{:08X}538207D0", i * 2000);
        if chunk.len() != 2000 {
            body = format!("5404{:08X}5382{:04X}", i * 2000, chunk.len());
        }
        body.push_str(&hex::encode_upper(chunk));
        apdus.push(format!("00D7CF10 00{:04X}{body}", body.len() / 2).replace(' ', ""));
    }
    let responses = script(&env, &apdus);
    for (apdu, r) in apdus.iter().zip(&responses) {
        assert_eq!(r, "9000", "{}… answered {r}", &apdu[..apdu.len().min(24)]);
    }
    assert_same_bytes("read back", &read_back(&env, "CF10", content.len()), &content);
    env.restart_card(0);
    assert_same_bytes("after a restart", &read_back(&env, "CF10", content.len()), &content);
}
