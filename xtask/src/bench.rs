//! `cargo xtask bench`: one table of host operations through PKCS#11, the virtual card (OpenSC's
//! module, pcscd, vpcd) next to SoftHSM2 and `openssl speed` in the same run, and, when the Pico
//! image is built, the emulated board's cycle counts as milliseconds at 125 MHz next to upstream's
//! published RP2040 figures.
//!
//! The PKCS#11 figures come from the end-to-end test `bench_pkcs11` (it writes them to the file
//! named by `HSM_BENCH_OUT`); the board's from [`emulated_board_ms`].

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::steps;

/// The table's rows: p11-bench's operation name, what the row says, and the operation's name in
/// `emu/bench.json` (written by `node emu/bench.js`).
const ROWS: [(&str, &str, &str); 8] = [
    ("sign-ecdsa", "ECDSA P-256 sign", "P-256 sign"),
    ("sign-eddsa", "Ed25519 sign", "Ed25519 sign"),
    ("sign-rsa", "RSA-2048 sign (PKCS#1 v1.5)", "RSA-2048 sign"),
    ("decrypt-rsa", "RSA-2048 decrypt (PKCS#1 v1.5)", "RSA-2048 decrypt"),
    ("ecdh", "ECDH P-256", "P-256 ECDH"),
    ("keygen-ec", "P-256 keygen", "P-256 keygen"),
    ("keygen-ed25519", "Ed25519 keygen", "Ed25519 keygen"),
    ("keygen-rsa", "RSA-2048 keygen", "RSA-2048 keygen"),
];

/// Clock of the RP2040 the emulated cycle counts are converted at.
const RP2040_HZ: f64 = 125e6;

/// Upstream's published RP2040 figures (pico-hsm README), in ms; the other rows have none.
fn upstream_rp2040_ms(op: &str) -> Option<f64> {
    match op {
        "sign-rsa" => Some(3_000.0),
        "keygen-rsa" => Some(124_000.0),
        _ => None,
    }
}

/// The emulated board's column: milliseconds at 125 MHz per row, from the emulated cycle counts
/// in `emu/bench.json`, when `target/firmware/pico-hsm-pico.uf2` exists (`None`: no image, no
/// column).
///
/// The hook for the board's measurements. `emu/bench.json` is what `node emu/bench.js` writes:
/// `{"ops": {"P-256 sign": {"cycles": N, …}, "RSA-2048 keygen": {"cycles": N, …}, …}, …}`, with
/// the operation names of [`ROWS`]' third column; a flat `{"sign-ecdsa": N, …}` (this table's
/// names, cycles as numbers) is read too. Rows it lacks print "—".
pub fn emulated_board_ms(root: &Path) -> Option<Result<BTreeMap<String, f64>, String>> {
    if !root.join("target/firmware/pico-hsm-pico.uf2").is_file() {
        return None;
    }
    let path = root.join("emu/bench.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(Ok(BTreeMap::new())),
        Err(e) => return Some(Err(format!("{}: {e}", path.display()))),
    };
    let mut ms = BTreeMap::new();
    for (op, _, emu_name) in ROWS {
        if let Some(cycles) = cycles_of(&text, emu_name).or_else(|| cycles_of(&text, op)) {
            ms.insert(op.to_string(), cycles / RP2040_HZ * 1e3);
        }
    }
    Some(Ok(ms))
}

/// The cycles of operation `name` in the JSON `text`: `"name": {"cycles": N, …}` or `"name": N`.
fn cycles_of(text: &str, name: &str) -> Option<f64> {
    let key = format!("\"{name}\"");
    let at = text.find(&key)? + key.len();
    let value = text.get(at..)?.trim_start().strip_prefix(':')?.trim_start();
    let number = match value.strip_prefix('{') {
        Some(object) => {
            let object = object.get(..object.find('}')?)?;
            let at = object.find("\"cycles\"")? + "\"cycles\"".len();
            object.get(at..)?.trim_start().strip_prefix(':')?.trim_start()
        }
        None => value,
    };
    let end = number
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-')))
        .unwrap_or(number.len());
    number
        .get(..end)?
        .parse()
        .ok()
        .filter(|c: &f64| c.is_finite() && *c >= 0.0)
}

/// `openssl speed` in ms per operation for the rows it measures (sign/s and op/s columns). RSA
/// decryption is the same private operation as signing in OpenSSL 3.0's `speed`, which does not
/// time it separately; key generation it does not time at all.
fn openssl_speed_ms() -> Result<BTreeMap<String, f64>, String> {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "2", "ecdsap256", "ed25519", "rsa2048", "ecdhp256"])
        .output()
        .map_err(|e| format!("openssl speed: {e}"))?;
    if !out.status.success() {
        return Err(format!("openssl speed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut ms = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // "rsa 2048 bits 0.000640s 0.000019s 1562.5 52631.6", " 256 bits ecdsa (nistp256) 0.0000s
        // 0.0001s 22465.2 7262.5", " 253 bits EdDSA (Ed25519) …", " 256 bits ecdh (nistp256) 0.0001s 15000.0".
        let per_second = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).map(|r| 1e3 / r);
        let row = match fields.as_slice() {
            ["rsa", "2048", "bits", ..] => Some(("sign-rsa", per_second(5))),
            [_, "bits", "ecdsa", "(nistp256)", ..] => Some(("sign-ecdsa", per_second(6))),
            [_, "bits", "EdDSA", "(Ed25519)", ..] => Some(("sign-eddsa", per_second(6))),
            [_, "bits", "ecdh", "(nistp256)", ..] => Some(("ecdh", per_second(5))),
            _ => None,
        };
        if let Some((op, Some(v))) = row {
            ms.insert(op.to_string(), v);
        }
    }
    if let Some(sign) = ms.get("sign-rsa").copied() {
        ms.insert("decrypt-rsa".to_string(), sign);
    }
    Ok(ms)
}

/// `column<TAB>op<TAB>ms` lines of `bench_pkcs11`.
fn read_results(path: &Path) -> Result<BTreeMap<(String, String), f64>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let (column, op, ms) = (f.next()?, f.next()?, f.next()?.parse().ok()?);
            Some(((column.to_string(), op.to_string()), ms))
        })
        .collect())
}

fn cell(ms: Option<f64>) -> String {
    match ms {
        None => "—".to_string(),
        Some(ms) if ms >= 1000.0 => format!("{:.1} s", ms / 1e3),
        Some(ms) if ms >= 10.0 => format!("{ms:.1} ms"),
        Some(ms) => format!("{ms:.3} ms"),
    }
}

/// Runs one end-to-end measurement, a test of hsm-e2e that prints its figures, in release and alone
/// (one measurement at a time, so they do not disturb each other).
pub fn e2e_measurement(root: &Path, test: &str, env: &[(&str, &str)]) -> Result<(), String> {
    let args = [
        "test",
        "--quiet",
        "--release",
        "-p",
        "hsm-e2e",
        "--test",
        test,
        "--",
        "--nocapture",
        "--test-threads=1",
    ];
    steps::run_cargo(root, &args, env)
}

/// Runs the measurements and prints the table.
pub fn run(root: &Path, count: u32) -> Result<(), String> {
    let out = root.join("target/bench/pkcs11.tsv");
    std::fs::create_dir_all(out.parent().unwrap_or(root)).map_err(|e| format!("target/bench: {e}"))?;
    let _ = std::fs::remove_file(&out);
    let count = count.to_string();
    let out_str = out.to_string_lossy().to_string();
    println!(
        "xtask: PKCS#11 operations, the virtual card (OpenSC) and SoftHSM2 (cargo test --release -p hsm-e2e --test bench_pkcs11)"
    );
    e2e_measurement(
        root,
        "bench_pkcs11",
        &[
            ("HSM_E2E_REQUIRE", "1"),
            ("HSM_E2E_BENCH_COUNT", count.as_str()),
            ("HSM_BENCH_OUT", out_str.as_str()),
        ],
    )?;
    let p11 = read_results(&out)?;
    println!("xtask: openssl speed");
    let openssl = openssl_speed_ms().unwrap_or_else(|e| {
        eprintln!("xtask: {e}");
        BTreeMap::new()
    });
    let board = match emulated_board_ms(root) {
        None => None,
        Some(Ok(b)) => Some(b),
        Some(Err(e)) => {
            eprintln!("xtask: {e}");
            Some(BTreeMap::new())
        }
    };

    let mut header = vec![
        "operation (median)".to_string(),
        "pico-hsm-vcard (PKCS#11)".to_string(),
        "SoftHSM2 (PKCS#11)".to_string(),
        "openssl speed".to_string(),
    ];
    if board.is_some() {
        header.push("emulated RP2040 @125 MHz".to_string());
        header.push("upstream RP2040 (published)".to_string());
    }
    let mut rows = vec![header];
    for (op, name, _) in ROWS {
        let get = |column: &str| p11.get(&(column.to_string(), op.to_string())).copied();
        let mut card = cell(get("pico-hsm-vcard"));
        if matches!(op, "sign-eddsa" | "keygen-ed25519") && card != "—" {
            card.push_str(" ¹");
        }
        let mut ossl = cell(openssl.get(op).copied());
        if op == "decrypt-rsa" && ossl != "—" {
            ossl.push_str(" ²");
        }
        let mut row = vec![name.to_string(), card, cell(get("SoftHSM2")), ossl];
        if let Some(board) = &board {
            row.push(cell(board.get(op).copied()));
            row.push(cell(upstream_rp2040_ms(op)));
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    println!();
    for (n, row) in rows.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let pad = widths[i] - c.chars().count();
                if i == 0 {
                    format!("{c}{}", " ".repeat(pad))
                } else {
                    format!("{}{c}", " ".repeat(pad))
                }
            })
            .collect();
        println!("| {} |", line.join(" | "));
        if n == 0 {
            let rule: Vec<String> = widths
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    if i == 0 {
                        "-".repeat(*w)
                    } else {
                        format!("{}:", "-".repeat(w - 1))
                    }
                })
                .collect();
            println!("| {} |", rule.join(" | "));
        }
    }
    println!();
    println!("¹ OpenSC 0.23 offers no EdDSA for this card: the GENERATE / COMPUTE SIGNATURE APDU through pcscd.");
    println!("² OpenSSL 3.0's speed times the RSA private operation once, as sign; decryption is the same operation.");
    if let Some(board) = &board {
        if board.is_empty() {
            println!(
                "The Pico image is built, but emu/bench.json (emulated cycles per operation) is missing or empty."
            );
        }
        println!("Upstream RP2040 figures: RSA-2048 sign ≈ 3 s, keygen ≈ 124 s (RSA-4096 keygen ≈ 1000 s).");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_file() {
        let board = r#"{"board": "pico", "ops": {"P-256 keygen": {"cycles": 1000, "ms_at_125mhz": 0},
            "P-256 sign": { "cycles" : 18750000, "ms_at_125mhz": 150 }}, "wall_s": 3}"#;
        assert_eq!(cycles_of(board, "P-256 sign"), Some(18_750_000.0));
        assert_eq!(cycles_of(board, "P-256 keygen"), Some(1000.0));
        assert_eq!(cycles_of(board, "RSA-2048 sign"), None);
        let flat = "{\"sign-rsa\": 187500000.5}";
        assert_eq!(cycles_of(flat, "sign-rsa"), Some(187_500_000.5));
        assert_eq!(cycles_of("{\"x\": -1}", "x"), None);
    }

    #[test]
    fn board_column_only_with_an_image() {
        let root = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
        std::fs::create_dir_all(root.join("emu")).unwrap();
        std::fs::write(
            root.join("emu/bench.json"),
            r#"{"ops": {"P-256 sign": {"cycles": 12500000}, "RSA-2048 keygen": {"cycles": 1.25e9}}}"#,
        )
        .unwrap();
        assert!(emulated_board_ms(&root).is_none(), "no image, no column");
        std::fs::create_dir_all(root.join("target/firmware")).unwrap();
        std::fs::write(root.join("target/firmware/pico-hsm-pico.uf2"), b"").unwrap();
        let ms = emulated_board_ms(&root).unwrap().unwrap();
        assert_eq!(ms.get("sign-ecdsa"), Some(&100.0));
        assert_eq!(ms.get("keygen-rsa"), Some(&10_000.0));
        assert_eq!(ms.get("sign-rsa"), None);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
