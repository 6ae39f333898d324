//! Progress of a long command: a bar on a terminal (indicatif, on stderr), one plain line per step
//! on stdout otherwise; warnings on stderr either way.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A bar when stderr is a terminal, else plain lines.
    Auto,
    /// One line per step on stdout.
    Lines,
    /// Nothing but warnings.
    Quiet,
}

/// A running progress display.
pub struct Progress {
    bar: Option<ProgressBar>,
    lines: bool,
}

impl Progress {
    /// Starts a display for `len` steps; `what` leads the bar ("backup", "restore").
    pub fn new(mode: Mode, len: u64, what: &'static str) -> Self {
        let bar = (mode == Mode::Auto && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(len).with_prefix(what);
            if let Ok(style) = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {wide_msg}") {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Progress {
            lines: mode == Mode::Lines || (mode == Mode::Auto && bar.is_none()),
            bar,
        }
    }

    /// One step done: `line` says what.
    pub fn step(&self, line: &str) {
        match &self.bar {
            Some(bar) => {
                bar.set_message(line.to_string());
                bar.inc(1);
            }
            None if self.lines => println!("{line}"),
            None => {}
        }
    }

    /// A warning that stays on screen above the bar.
    pub fn warn(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("warning: {line}")),
            None => eprintln!("warning: {line}"),
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A spinner with the elapsed time for one long card operation (RSA key generation), on stderr when
/// it is a terminal; nothing otherwise.
pub struct Spinner {
    bar: Option<ProgressBar>,
    start: std::time::Instant,
}

impl Spinner {
    /// Starts spinning with `message`.
    pub fn new(mode: Mode, message: String) -> Self {
        let bar = (mode == Mode::Auto && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new_spinner().with_message(message);
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Spinner {
            bar,
            start: std::time::Instant::now(),
        }
    }

    /// Stops and removes the spinner; the time it ran.
    pub fn finish(self) -> std::time::Duration {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        self.start.elapsed()
    }
}
