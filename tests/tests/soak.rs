//! A short soak (`hsm_e2e::soak`; the long one is `cargo xtask soak`): 300 mixed operations from two
//! PC/SC clients interleaving transactions on one card, every answer checked. Asserts no errors and
//! that both clients did work; the RSS and timing figures are printed, never asserted.

use hsm_e2e::Env;
use hsm_e2e::soak::{self, Options};

#[test]
fn two_clients_interleave_300_operations_without_errors() {
    let Some(env) = Env::start() else { return };
    soak::prepare(&env);
    let json = env.dir().join("soak.json");
    let options = Options {
        ops: 300,
        seed: 7,
        clients: 2,
        json: Some(json.clone()),
        sample_every: 50,
        race: false,
    };
    let command = soak::client_command(&env, env!("CARGO_BIN_EXE_soak").as_ref(), &options);
    let out = env.capture(command, "soak --client (300 operations, 2 clients)".to_string());
    println!("{}", out.stdout.trim_end());
    assert!(out.success(), "the soak failed:\n{out}\n{}", env.diagnostics());
    let figures = std::fs::read_to_string(&json).expect("soak.json");
    assert!(figures.contains("\"errors\": 0,"), "{figures}");
    assert!(figures.contains("\"ops\": 300,"), "{figures}");
    // Both clients did work, in alternating transactions.
    let clients: Vec<usize> = out
        .stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("client "))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse().ok())
        .collect();
    assert_eq!(clients.len(), 2, "per-client lines:\n{}", out.stdout);
    assert!(clients.iter().all(|&ops| ops > 0), "a client did nothing: {clients:?}");
    assert_eq!(clients.iter().sum::<usize>(), 300, "{clients:?}");
    // Every kind of operation ran at least once.
    for op in [
        "select",
        "verify-pin",
        "read-binary",
        "update-binary+read-back",
        "sign-ecdsa-p256",
        "sign-rsa2048-pkcs1",
        "get-challenge",
        "list-keys",
    ] {
        assert!(
            !figures.contains(&format!("\"{op}\": {{\"count\": 0,")),
            "no {op} in:\n{figures}"
        );
    }
}
