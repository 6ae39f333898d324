//! State in the state directory survives restarts, clean ones and SIGKILL in the middle of writes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hsm_e2e::{Env, USER_PIN, assert_same_bytes};

/// Largest object `pkcs11-tool --write-object` writes whole (it silently truncates beyond 5000 bytes).
const PKCS11_TOOL_MAX_OBJECT: usize = 5000;

/// Content of the `n`th object: sizes from 100 bytes up, cycling below pkcs11-tool's limit so the
/// test's outcome does not depend on how many writes a machine manages between the kills.
fn content_for(n: usize) -> Vec<u8> {
    let len = 100 + (n * 37) % (PKCS11_TOOL_MAX_OBJECT - 100);
    (0..len).map(|i| (i * 31 + n) as u8).collect()
}

#[test]
fn state_survives_clean_and_hard_restarts() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    env.write_data_object("before-restart", b"written before a clean stop", false)
        .ok();

    let (status, log) = env.stop_card(0);
    assert!(status.success(), "SIGTERM stop failed: {status}\n{log}");
    env.start_card(0);
    let (out, data) = env.read_data_object("before-restart", Some(USER_PIN));
    assert_eq!(data.as_deref(), Some(&b"written before a clean stop"[..]), "{out}");

    env.write_data_object("before-kill", b"written before SIGKILL", false)
        .ok();
    env.restart_card(0);
    for (label, expected) in [
        ("before-restart", &b"written before a clean stop"[..]),
        ("before-kill", b"written before SIGKILL"),
    ] {
        let (out, data) = env.read_data_object(label, Some(USER_PIN));
        assert_eq!(data.as_deref(), Some(expected), "{label}: {out}");
    }
    env.pkcs15_tool(&["-D"]).ok().expect("UserPIN");
}

/// A small xorshift generator: random kill moments without a dependency.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1;
        println!("kill schedule seed: {seed}");
        Self(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn sigkill_during_writes_loses_nothing_reported_written() {
    let Some(env) = Env::start() else { return };
    env.initialize();
    let rounds: usize = std::env::var("HSM_E2E_KILL_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(12);
    let writing = AtomicBool::new(true);
    let mut written = BTreeMap::new();
    let mut attempts = 0;
    let mut kills = 0;
    assert!((0..10_000).all(|n| content_for(n).len() <= PKCS11_TOOL_MAX_OBJECT));

    std::thread::scope(|scope| {
        let killer = scope.spawn(|| {
            let mut rng = Rng::new();
            for _ in 0..rounds {
                std::thread::sleep(Duration::from_millis(50 + rng.below(400)));
                env.restart_card(0);
                kills += 1;
            }
            writing.store(false, Ordering::SeqCst);
        });
        let deadline = Instant::now() + Duration::from_secs(300);
        while writing.load(Ordering::SeqCst) && Instant::now() < deadline {
            let label = format!("obj{attempts}");
            let content = content_for(attempts);
            attempts += 1;
            // Only what pkcs11-tool reported as written must survive; failed writes may or may not.
            if env.write_data_object(&label, &content, false).success() {
                written.insert(label, content);
            }
        }
        killer.join().unwrap();
    });

    println!(
        "{attempts} writes attempted, {} reported written, {kills} SIGKILLs",
        written.len()
    );
    assert!(
        !written.is_empty(),
        "no write succeeded between the kills\n{}",
        env.diagnostics()
    );
    for (label, expected) in &written {
        let (out, data) = env.read_data_object(label, Some(USER_PIN));
        match data {
            Some(data) => assert_same_bytes(&format!("object {label} reported written"), &data, expected),
            None => panic!(
                "object {label} reported written but not readable:\n{out}\n{}",
                env.diagnostics()
            ),
        }
    }
    // And the card still works normally.
    env.write_data_object("after", b"after the storm", false).ok();
    assert_eq!(
        env.read_data_object("after", Some(USER_PIN)).1.as_deref(),
        Some(&b"after the storm"[..])
    );
}
