//! Every committed fuzz input, once, through the harness of its target: the seeds
//! (`fuzz/seeds/<target>/`), the minimized corpus of the last 30-minute campaign
//! (`fuzz/corpus-min/<target>/`) and the regression inputs (`fuzz/regressions/<target>/`, each a crash or
//! failed invariant that was fixed). A harness panics when an invariant fails, so this test fails
//! the way the fuzz target would. libFuzzer itself runs with `cargo xtask fuzz`, not here.

use std::path::{Path, PathBuf};

/// The inputs of `target` under `fuzz/<kind>/`: files without an extension (a regression may keep
/// its `.orig` next to the minimized input, and the READMEs are documentation).
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz")
        .join(kind)
        .join(target);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_none())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("cannot read {}: {e}", dir.display()),
    };
    files.sort();
    files
}

fn replay(kind: &str) -> usize {
    let mut count = 0;
    for (target, run) in hsm_fuzz::TARGETS {
        for path in inputs(kind, target) {
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            println!("{target}: {}", path.display());
            run(&data);
            count += 1;
        }
    }
    count
}

#[test]
fn every_seed_passes_its_harness() {
    let n = replay("seeds");
    // The seed generator writes seeds for every target; none found means the path is wrong.
    assert!(n >= hsm_fuzz::TARGETS.len(), "only {n} seed inputs found");
}

#[test]
fn every_regression_input_passes_its_harness() {
    let n = replay("regressions");
    assert!(n >= 1, "no regression inputs found");
}

#[test]
fn every_campaign_input_passes_its_harness() {
    let n = replay("corpus-min");
    assert!(n >= hsm_fuzz::TARGETS.len(), "only {n} campaign inputs found");
}
