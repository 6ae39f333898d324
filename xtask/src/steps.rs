//! A sequence of named, timed steps that keeps going after a failure and prints a summary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Steps {
    root: PathBuf,
    started: Instant,
    results: Vec<(String, Duration, Result<(), String>)>,
}

impl Steps {
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            started: Instant::now(),
            results: Vec::new(),
        }
    }

    /// Runs one step and records its time and outcome.
    pub fn step(&mut self, name: &str, body: impl FnOnce(&Path) -> Result<(), String>) {
        println!("\n==> {name}");
        let started = Instant::now();
        let result = body(&self.root);
        if let Err(e) = &result {
            eprintln!("xtask: step `{name}` failed: {e}");
        }
        self.results.push((name.to_string(), started.elapsed(), result));
    }

    /// A step that is one cargo command in the workspace root.
    pub fn cargo(&mut self, name: &str, args: &[&str]) {
        self.step(name, |root| run_cargo(root, args, &[]));
    }

    pub fn failed(&self) -> bool {
        self.results.iter().any(|(_, _, r)| r.is_err())
    }

    /// Prints the summary; an error if any step failed.
    pub fn finish(self) -> Result<(), String> {
        println!("\n==> summary");
        for (name, time, result) in &self.results {
            let status = if result.is_ok() { "ok" } else { "FAILED" };
            println!("  {status:<6} {:>8.1} s  {name}", time.as_secs_f64());
        }
        println!("  total  {:>8.1} s", self.started.elapsed().as_secs_f64());
        let failed: Vec<&str> = self
            .results
            .iter()
            .filter(|(_, _, r)| r.is_err())
            .map(|(n, _, _)| n.as_str())
            .collect();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(format!("failed: {}", failed.join(", ")))
        }
    }
}

/// Runs `cargo args` in `dir` with extra environment variables; an error unless it succeeds.
pub fn run_cargo(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    println!("$ cargo {}", args.join(" "));
    let mut command = Command::new(&cargo);
    command.current_dir(dir).args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let status = command.status().map_err(|e| format!("cannot run {cargo}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` exited with {status}", args.join(" ")))
    }
}
