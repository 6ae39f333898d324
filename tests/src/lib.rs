//! End-to-end harness: `pico-hsm-vcard` in a private pcscd, driven by real host tools.
//!
//! Every [`Env`] starts its own pcscd inside fresh mount and network namespaces (`unshare --mount
//! --net`): a tmpfs over `/run/pcscd` gives it its own socket, its own `reader.conf.d` adds the vpcd
//! readers, and the network namespace keeps vpcd's ports (which listen on all interfaces) private and
//! free of clashes. USB reader drivers are hidden from it so it never grabs a real reader. The virtual
//! cards and every client tool (`opensc-tool`, `pkcs11-tool`, ...) run in the same namespaces through
//! `nsenter`. So tests run side by side, and whether or not a system pcscd is running.
//!
//! Needs root (or unprivileged user namespaces) and the Debian packages `pcscd`, `vsmartcard-vpcd`,
//! `opensc`, `opensc-pkcs11`, `iproute2`, `util-linux`. Missing pieces skip the tests with a loud
//! message, unless `HSM_E2E_REQUIRE=1` (set by `cargo xtask test`) or running as root: then they fail.

use std::fmt;
use std::fs::{self, File};
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub mod sm_client;
pub mod soak;

/// The SO-PIN of the acceptance tests (`sc-hsm-tool --so-pin`), hex of "57621880".
pub const SO_PIN: &str = "3537363231383830";
/// The user PIN of the acceptance tests.
pub const USER_PIN: &str = "648219";
/// First vpcd port; card `i` uses `BASE_PORT + i`, shown as reader `Virtual PCD 00 0i`.
pub const BASE_PORT: u16 = 35963;
/// SELECT of the SmartCard-HSM application (AID E82B0601040181C31F0201, no FCI), hex for
/// [`Env::apdu_script`].
pub const SELECT_APDU: &str = "00A4040C0BE82B0601040181C31F0201";

/// What the card logs when vpcd sends its first request on a connection.
const USING: &str = "pcscd is using the card";
const VPCD_DRIVER: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// On the emulated board every operation takes emulated seconds, and the emulator runs at 20-30 M
/// instructions per second (fewer when the machine is busy): RSA-1024 key generation alone is 1-3 G
/// cycles, a random amount.
const EMULATED_COMMAND_TIMEOUT: Duration = Duration::from_secs(1200);
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The result of one client command.
pub struct Output {
    /// The command line, for messages.
    pub command: String,
    /// Exit status; `None` when it was killed after [`COMMAND_TIMEOUT`] (emulated board:
    /// [`EMULATED_COMMAND_TIMEOUT`]).
    pub status: Option<ExitStatus>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// Standard output followed by standard error.
    pub fn text(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Whether stdout or stderr contains `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.stdout.contains(needle) || self.stderr.contains(needle)
    }

    /// Panics (with the whole output) unless the command succeeded.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(self.success(), "command failed:\n{self}");
        self
    }

    /// Panics (with the whole output) unless the command failed.
    #[track_caller]
    pub fn failed(self) -> Self {
        assert!(!self.success(), "command unexpectedly succeeded:\n{self}");
        self
    }

    /// Panics (with the whole output) unless stdout or stderr contains `needle`.
    #[track_caller]
    pub fn expect(self, needle: &str) -> Self {
        assert!(self.contains(needle), "expected {needle:?} in the output of:\n{self}");
        self
    }

    /// Panics (with the whole output) if stdout or stderr contains `needle`.
    #[track_caller]
    pub fn expect_not(self, needle: &str) -> Self {
        assert!(
            !self.contains(needle),
            "did not expect {needle:?} in the output of:\n{self}"
        );
        self
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self
            .status
            .map_or("killed after timeout".to_string(), |s| s.to_string());
        writeln!(f, "$ {}\n[{status}]", self.command)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr ---\n{}", self.stderr.trim_end())
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

struct CardSlot {
    state_dir: PathBuf,
    port: u16,
    process: Option<Child>,
    starts: usize,
    log: PathBuf,
    /// The card is the Pico image in the rp2040js emulator instead of pico-hsm-vcard.
    emulated: Option<&'static EmulatedBoard>,
    /// More pico-hsm-vcard arguments ([`Env::set_card_args`]).
    args: Vec<String>,
}

/// What the emulated Pico needs: node, the harness in `emu/` with its rp2040js, the UF2.
pub struct EmulatedBoard {
    harness: PathBuf,
    uf2: PathBuf,
}

/// A private pcscd with virtual cards in their own namespaces. Everything stops on drop.
pub struct Env {
    dir: TempDir,
    holder: Child,
    ns_pid: u32,
    user_ns: bool,
    cards: Mutex<Vec<CardSlot>>,
    seq: AtomicUsize,
    pkcs11_module: PathBuf,
    /// How long a client command may take before it is killed.
    command_timeout: Duration,
}

impl Env {
    /// One card on a fresh state directory, ready (reader "Virtual PCD 00 00"). `None`: skipped.
    pub fn start() -> Option<Self> {
        Self::with_cards(1)
    }

    /// `count` cards (at most 2: one vpcd entry serves two readers), each on its own state directory.
    pub fn with_cards(count: usize) -> Option<Self> {
        assert!((1..=2).contains(&count), "one vpcd entry serves at most two readers");
        let prerequisites = prerequisites()?;
        let env = Self::start_pcscd(prerequisites)?;
        for index in 0..count {
            let state_dir = env.dir.path().join(format!("state{index}"));
            let log = env.dir.path().join(format!("vcard{index}-0.log"));
            env.lock_cards().push(CardSlot {
                state_dir,
                port: BASE_PORT + index as u16,
                process: None,
                starts: 0,
                log,
                emulated: None,
                args: Vec::new(),
            });
            env.start_card(index);
        }
        Some(env)
    }

    /// One card that is the Pico (RP2040) firmware image, `target/firmware/pico-hsm-pico.uf2`,
    /// booted in the rp2040js emulator by `emu/harness.js` and bridged to this pcscd's vpcd (reader
    /// "Virtual PCD 00 00"); its flash file lives in the card's state directory. `None`: skipped
    /// (no pcscd prerequisites, or no emulator: `cargo xtask firmware --board pico` and
    /// `cargo xtask setup` make it; with HSM_E2E_REQUIRE=1 a missing emulator fails instead).
    pub fn emulated_board() -> Option<Self> {
        let prerequisites = prerequisites()?;
        let board = emulated_board_prerequisites()?;
        let mut env = Self::start_pcscd(prerequisites)?;
        env.command_timeout = EMULATED_COMMAND_TIMEOUT;
        let state_dir = env.dir.path().join("board0");
        fs::create_dir(&state_dir).expect("board state directory");
        env.lock_cards().push(CardSlot {
            state_dir,
            port: BASE_PORT,
            process: None,
            starts: 0,
            log: env.dir.path().join("board0-0.log"),
            emulated: Some(board),
            args: Vec::new(),
        });
        env.start_card(0);
        Some(env)
    }

    fn start_pcscd(prerequisites: &Prerequisites) -> Option<Self> {
        let dir = tempfile::Builder::new()
            .prefix("hsm-e2e-")
            .tempdir()
            .expect("temporary directory");
        let conf_dir = dir.path().join("reader.conf.d");
        fs::create_dir(&conf_dir).expect("reader.conf.d");
        fs::write(
            conf_dir.join("vpcd"),
            format!(
                "FRIENDLYNAME \"Virtual PCD\"\nDEVICENAME   /dev/null:0x{BASE_PORT:04X}\n\
                 LIBPATH      {VPCD_DRIVER}\nCHANNELID    0x{BASE_PORT:04X}\n"
            ),
        )
        .expect("vpcd reader config");
        fs::create_dir(dir.path().join("home")).expect("home");
        fs::write(
            dir.path().join("opensc.conf"),
            "app default {\n  framework pkcs15 {\n    use_file_caching = no;\n  }\n}\n",
        )
        .expect("opensc.conf");

        // Runs inside the new namespaces. The loop at the end is a watchdog: when the test process is gone
        // (even killed), it takes pcscd and the cards (same process group) down with it. When pcscd exits
        // and the file `restart-pcscd` exists, it starts pcscd again (Env::restart_pcscd).
        let script = r#"
            set -e
            if [ -d /run/pcscd ] || mkdir -p /run/pcscd 2>/dev/null; then
                mount -t tmpfs -o mode=0755 tmpfs /run/pcscd
            else
                mount -t tmpfs -o mode=0755 tmpfs /run
                mkdir /run/pcscd
            fi
            for bundle in /usr/lib/pcsc/drivers/*.bundle; do
                if [ -d "$bundle" ]; then mount -t tmpfs tmpfs "$bundle"; fi
            done
            ip link set lo up
            set +e
            while :; do
                pcscd -f -c "$1" >>"$2" 2>&1 &
                pcscd=$!
                echo "$pcscd" >"$4.tmp" && mv "$4.tmp" "$4"
                while kill -0 "$3" 2>/dev/null && kill -0 "$pcscd" 2>/dev/null; do sleep 0.2; done
                kill -0 "$3" 2>/dev/null && [ -e "$5" ] || break
                wait "$pcscd"
                rm -f "$5"
            done
            kill -KILL 0
        "#;
        let pcscd_log = dir.path().join("pcscd.log");
        let mut command = Command::new("unshare");
        if prerequisites.user_ns {
            command.arg("--map-root-user");
        }
        command
            .args(["--mount", "--net", "sh", "-c", script, "sh"])
            .arg(&conf_dir)
            .arg(&pcscd_log)
            .arg(std::process::id().to_string())
            .arg(dir.path().join("pcscd.pid"))
            .arg(dir.path().join("restart-pcscd"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(dir.path().join("namespace.log")).expect("namespace.log"))
            .process_group(0);
        let holder = command.spawn().expect("spawn unshare");
        let env = Self {
            ns_pid: holder.id(),
            holder,
            dir,
            user_ns: prerequisites.user_ns,
            cards: Mutex::new(Vec::new()),
            seq: AtomicUsize::new(0),
            pkcs11_module: prerequisites.pkcs11_module.clone(),
            command_timeout: COMMAND_TIMEOUT,
        };
        env.wait_for("pcscd to open its socket", || {
            env.run("test", &["-S", "/run/pcscd/pcscd.comm"]).success()
        });
        Some(env)
    }

    fn lock_cards(&self) -> MutexGuard<'_, Vec<CardSlot>> {
        self.cards.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The temporary directory of this environment (state directories, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The state directory of card `index`.
    pub fn state_dir(&self, index: usize) -> PathBuf {
        self.lock_cards()[index].state_dir.clone()
    }

    /// The PC/SC reader name of card `index`.
    pub fn reader_name(index: usize) -> String {
        format!("Virtual PCD 00 {index:02}")
    }

    /// Starts card `index` (again, on the same state directory) and waits until it answers through pcscd.
    pub fn start_card(&self, index: usize) {
        let log = {
            let mut cards = self.lock_cards();
            let slot = &mut cards[index];
            assert!(slot.process.is_none(), "card {index} is already running");
            slot.log = self.dir.path().join(format!("vcard{index}-{}.log", slot.starts));
            slot.starts += 1;
            let vpcd = format!("127.0.0.1:{}", slot.port);
            let mut command = match slot.emulated {
                None => {
                    let mut c = self.ns_command(vcard_binary());
                    c.arg("--state-dir").arg(&slot.state_dir).arg("--vpcd").arg(&vpcd);
                    c.args(&slot.args);
                    c
                }
                Some(board) => {
                    let mut c = self.ns_command("node");
                    c.arg(&board.harness)
                        .arg("--uf2")
                        .arg(&board.uf2)
                        .arg("--flash")
                        .arg(slot.state_dir.join("flash-pico.bin"))
                        .arg("--vpcd")
                        .arg(&vpcd)
                        .arg("-v");
                    c
                }
            };
            command
                .env("RUST_LOG", "debug")
                .stdin(Stdio::null())
                .stdout(File::create(&slot.log).expect("vcard log"))
                .stderr(File::options().append(true).open(&slot.log).expect("vcard log"))
                .process_group(self.ns_pid as i32);
            slot.process = Some(command.spawn().expect("spawn pico-hsm-vcard"));
            slot.log.clone()
        };
        self.wait_for(&format!("pcscd to take card {index}"), || {
            self.card_exited(index);
            fs::read_to_string(&log).is_ok_and(|text| text.contains(USING))
        });
        self.wait_for(
            &format!("card {index} to answer in reader {}", Self::reader_name(index)),
            || {
                self.run("opensc-tool", &["--reader", &index.to_string(), "--atr"])
                    .success()
            },
        );
    }

    fn card_exited(&self, index: usize) {
        let mut cards = self.lock_cards();
        let slot = &mut cards[index];
        if let Some(process) = slot.process.as_mut()
            && let Ok(Some(status)) = process.try_wait()
        {
            slot.process = None;
            let log = fs::read_to_string(&slot.log).unwrap_or_default();
            drop(cards);
            panic!(
                "pico-hsm-vcard {index} exited with {status}:\n{log}\n{}",
                self.diagnostics()
            );
        }
    }

    /// The process id of card `index` while it runs (`nsenter` execs the card without forking, so
    /// this is `pico-hsm-vcard` itself): for `/proc/<pid>/status` (the soak driver samples its RSS).
    pub fn card_pid(&self, index: usize) -> Option<u32> {
        self.lock_cards()[index].process.as_ref().map(Child::id)
    }

    /// Kills card `index` with SIGKILL (a power cut for its flash file) and waits for it to be gone.
    pub fn kill_card(&self, index: usize) {
        let process = self.lock_cards()[index].process.take();
        if let Some(mut process) = process {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Stops card `index` with SIGTERM and returns its exit status and log.
    pub fn stop_card(&self, index: usize) -> (ExitStatus, String) {
        let (process, log) = {
            let mut cards = self.lock_cards();
            (cards[index].process.take(), cards[index].log.clone())
        };
        let mut process = process.expect("card is running");
        let pid = process.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = process.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = process.kill();
                panic!(
                    "pico-hsm-vcard did not stop within 10 s of SIGTERM:\n{}",
                    self.diagnostics()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        (status, fs::read_to_string(log).unwrap_or_default())
    }

    /// More pico-hsm-vcard arguments for card `index` (e.g. `--auto-confirm`), from its next start
    /// ([`Env::restart_card`]) on.
    pub fn set_card_args(&self, index: usize, args: &[&str]) {
        self.lock_cards()[index].args = args.iter().map(|a| a.to_string()).collect();
    }

    /// Kills card `index` with SIGKILL and starts it again on the same state directory.
    pub fn restart_card(&self, index: usize) {
        self.kill_card(index);
        self.start_card(index);
    }

    /// Stops pcscd (SIGTERM) and starts it again in the same namespaces, as a package upgrade or
    /// `systemctl restart pcscd` would; then waits until every running card is back in its reader.
    pub fn restart_pcscd(&self) {
        let pid_file = self.dir.path().join("pcscd.pid");
        let old = fs::read_to_string(&pid_file).expect("pcscd.pid").trim().to_string();
        let cards = self.lock_cards().len();
        let seen: Vec<usize> = (0..cards).map(|i| self.card_log(i).matches(USING).count()).collect();
        fs::write(self.dir.path().join("restart-pcscd"), b"").expect("restart-pcscd");
        let sent = Command::new("kill").args(["-TERM", &old]).status().expect("kill");
        assert!(sent.success(), "kill -TERM {old} (pcscd) failed");
        self.wait_for("pcscd to restart", || {
            fs::read_to_string(&pid_file).is_ok_and(|pid| pid.trim() != old)
                && self.run("test", &["-S", "/run/pcscd/pcscd.comm"]).success()
        });
        for (index, before) in seen.into_iter().enumerate() {
            self.wait_for(&format!("card {index} to reconnect to the new pcscd"), || {
                self.card_exited(index);
                self.card_log(index).matches(USING).count() > before
            });
            self.wait_for(&format!("card {index} to answer after the pcscd restart"), || {
                self.run("opensc-tool", &["--reader", &index.to_string(), "--atr"])
                    .success()
            });
        }
    }

    /// The log of the current (or last) run of card `index`.
    pub fn card_log(&self, index: usize) -> String {
        fs::read_to_string(&self.lock_cards()[index].log).unwrap_or_default()
    }

    /// pcscd's output and the tail of every card's log, for failure messages.
    pub fn diagnostics(&self) -> String {
        let mut text = String::new();
        for name in ["namespace.log", "pcscd.log"] {
            let content = fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            text += &format!("--- {name} ---\n{}\n", tail(&content, 40));
        }
        for (index, slot) in self.lock_cards().iter().enumerate() {
            let content = fs::read_to_string(&slot.log).unwrap_or_default();
            text += &format!(
                "--- card {index} log ({}) ---\n{}\n",
                slot.log.display(),
                tail(&content, 60)
            );
        }
        text
    }

    #[track_caller]
    fn wait_for(&self, what: &str, mut ready: impl FnMut() -> bool) {
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        while !ready() {
            if started.elapsed() > READY_TIMEOUT {
                panic!(
                    "timed out after {READY_TIMEOUT:?} waiting for {what}\n{}",
                    self.diagnostics()
                );
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// A command that runs `program` inside this environment's namespaces.
    pub fn ns_command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("nsenter");
        command.arg("-t").arg(self.ns_pid.to_string());
        if self.user_ns {
            command.args(["-U", "--preserve-credentials"]);
        }
        command.args(["-m", "-n", "--"]).arg(program);
        command
            .env("HOME", self.dir.path().join("home"))
            .env("XDG_CACHE_HOME", self.dir.path().join("home/.cache"))
            .env("OPENSC_CONF", self.dir.path().join("opensc.conf"))
            .env_remove("PCSCLITE_CSOCK_NAME");
        command
    }

    /// Runs `program args` inside the namespaces, capturing its output (killed after 120 s).
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        let mut command = self.ns_command(program);
        command.args(args);
        self.capture(command, format!("{program} {}", args.join(" ")))
    }

    /// Runs a prepared command (from [`Env::ns_command`]), capturing its output.
    pub fn capture(&self, command: Command, description: String) -> Output {
        self.capture_with_input(command, description, None)
    }

    /// `program args` in the namespaces with `input` on its standard input (for tools that read
    /// answers to their prompts from stdin, such as `sc-hsm-tool` asking for password shares).
    pub fn run_with_input(&self, program: &str, args: &[&str], input: &str) -> Output {
        let mut command = self.ns_command(program);
        command.args(args);
        self.capture_with_input(command, format!("{program} {}", args.join(" ")), Some(input))
    }

    /// [`Env::capture`] with `input` (if any) on the program's standard input.
    pub fn capture_with_input(&self, mut command: Command, description: String, input: Option<&str>) -> Output {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let out_path = self.dir.path().join(format!("cmd{n}.out"));
        let err_path = self.dir.path().join(format!("cmd{n}.err"));
        let stdin = match input {
            Some(text) => {
                let in_path = self.dir.path().join(format!("cmd{n}.in"));
                fs::write(&in_path, text).expect("stdin file");
                Stdio::from(File::open(&in_path).expect("stdin file"))
            }
            None => Stdio::null(),
        };
        command
            .stdin(stdin)
            .stdout(File::create(&out_path).expect("capture file"))
            .stderr(File::create(&err_path).expect("capture file"));
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {description}: {e}"));
        let timeout = self.command_timeout;
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break Some(status);
            }
            if started.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        };
        let output = Output {
            command: description,
            status,
            stdout: fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: fs::read_to_string(&err_path).unwrap_or_default(),
        };
        let _ = fs::remove_file(out_path);
        let _ = fs::remove_file(err_path);
        output
    }

    /// `opensc-tool args`.
    pub fn opensc_tool(&self, args: &[&str]) -> Output {
        self.run("opensc-tool", args)
    }

    /// `sc-hsm-tool args`. It exits 0 even when the card refuses: judge by the output.
    pub fn sc_hsm_tool(&self, args: &[&str]) -> Output {
        self.run("sc-hsm-tool", args)
    }

    /// `pkcs15-tool args`.
    pub fn pkcs15_tool(&self, args: &[&str]) -> Output {
        self.run("pkcs15-tool", args)
    }

    /// `pkcs11-tool --module <opensc-pkcs11.so> args`.
    pub fn pkcs11_tool(&self, args: &[&str]) -> Output {
        let module = self.pkcs11_module.display().to_string();
        let mut full = vec!["--module", module.as_str()];
        full.extend_from_slice(args);
        self.run("pkcs11-tool", &full)
    }

    /// The path of OpenSC's PKCS#11 module.
    pub fn pkcs11_module(&self) -> &Path {
        &self.pkcs11_module
    }

    /// `sc-hsm-tool --initialize` with the test PINs; panics unless the output looks like success.
    #[track_caller]
    pub fn initialize(&self) -> Output {
        let out = self.sc_hsm_tool(&["--initialize", "--so-pin", SO_PIN, "--pin", USER_PIN]);
        assert!(
            initialize_succeeded(&out),
            "sc-hsm-tool --initialize did not succeed:\n{out}"
        );
        out
    }

    /// `sc-hsm-tool --reader INDEX --initialize --so-pin SO_PIN --pin USER_PIN EXTRA_ARGS...` on card
    /// `index` (`extra_args` such as `["--dkek-shares", "1"]`); panics unless the output looks like
    /// success.
    #[track_caller]
    pub fn initialize_reader(&self, index: usize, extra_args: &[&str]) -> Output {
        let reader = index.to_string();
        let mut args = vec![
            "--reader",
            &reader,
            "--initialize",
            "--so-pin",
            SO_PIN,
            "--pin",
            USER_PIN,
        ];
        args.extend_from_slice(extra_args);
        let out = self.sc_hsm_tool(&args);
        assert!(
            initialize_succeeded(&out),
            "initialize in reader {index} failed:\n{out}"
        );
        out
    }

    /// `sc-hsm-tool --reader INDEX --create-dkek-share FILE --password PASSWORD`: a new DKEK share
    /// file, protected by `password`. Judge the output yourself.
    pub fn create_dkek_share(&self, index: usize, file: &str, password: &str) -> Output {
        let reader = index.to_string();
        self.sc_hsm_tool(&["--reader", &reader, "--create-dkek-share", file, "--password", password])
    }

    /// `sc-hsm-tool --reader INDEX --import-dkek-share FILE --password PASSWORD` on card `index`; the
    /// output shows the key check value ([`kcv_in`]). Judge the output yourself.
    pub fn import_dkek_share(&self, index: usize, file: &str, password: &str) -> Output {
        let reader = index.to_string();
        self.sc_hsm_tool(&["--reader", &reader, "--import-dkek-share", file, "--password", password])
    }

    /// Writes `content` to a file in the environment's directory and returns its path.
    pub fn write_file(&self, name: &str, content: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        let mut file = File::create(&path).expect("create file");
        file.write_all(content).expect("write file");
        path
    }

    /// Writes a PKCS#11 data object (logged in with the user PIN); `private` makes it readable only
    /// after login.
    pub fn write_data_object(&self, label: &str, content: &[u8], private: bool) -> Output {
        self.write_data_object_in(&[], label, content, private)
    }

    /// [`Env::write_data_object`] on the token of card `index` (`pkcs11-tool --slot-index INDEX`).
    pub fn write_data_object_on(&self, index: usize, label: &str, content: &[u8], private: bool) -> Output {
        let slot = index.to_string();
        self.write_data_object_in(&["--slot-index", &slot], label, content, private)
    }

    fn write_data_object_in(&self, slot: &[&str], label: &str, content: &[u8], private: bool) -> Output {
        let input = self.write_file(&format!("{label}.in"), content);
        let input = input.to_string_lossy();
        let mut args = slot.to_vec();
        args.extend_from_slice(&[
            "--login",
            "--pin",
            USER_PIN,
            "--write-object",
            &input,
            "--type",
            "data",
            "--label",
            label,
        ]);
        if private {
            args.push("--private");
        }
        self.pkcs11_tool(&args)
    }

    /// Reads a data object back, after logging in with `pin` if given: the tool's output and, if it
    /// succeeded, the bytes.
    pub fn read_data_object(&self, label: &str, pin: Option<&str>) -> (Output, Option<Vec<u8>>) {
        self.read_data_object_in(&[], label, pin)
    }

    /// [`Env::read_data_object`] on the token of card `index` (`pkcs11-tool --slot-index INDEX`).
    pub fn read_data_object_on(&self, index: usize, label: &str, pin: Option<&str>) -> (Output, Option<Vec<u8>>) {
        let slot = index.to_string();
        self.read_data_object_in(&["--slot-index", &slot], label, pin)
    }

    fn read_data_object_in(&self, slot: &[&str], label: &str, pin: Option<&str>) -> (Output, Option<Vec<u8>>) {
        let output = self.dir().join(format!("{label}.out"));
        let _ = std::fs::remove_file(&output);
        let path = output.to_string_lossy();
        let mut args = vec!["--read-object", "--type", "data", "--label", label, "-o", &path];
        if let Some(pin) = pin {
            args.splice(0..0, ["--login", "--pin", pin]);
        }
        args.splice(0..0, slot.iter().copied());
        let out = self.pkcs11_tool(&args);
        let data = if out.success() {
            std::fs::read(&output).ok()
        } else {
            None
        };
        (out, data)
    }

    /// `pkcs11-tool --keypairgen --key-type KEY_TYPE --id ID --label LABEL`, logged in with the user PIN;
    /// panics unless it succeeds.
    #[track_caller]
    pub fn keypairgen(&self, key_type: &str, id: &str, label: &str) -> Output {
        self.keypairgen_in(&[], key_type, id, label)
    }

    /// [`Env::keypairgen`] on the token of card `index` (`pkcs11-tool --slot-index INDEX`).
    #[track_caller]
    pub fn keypairgen_on(&self, index: usize, key_type: &str, id: &str, label: &str) -> Output {
        let slot = index.to_string();
        self.keypairgen_in(&["--slot-index", &slot], key_type, id, label)
    }

    #[track_caller]
    fn keypairgen_in(&self, slot: &[&str], key_type: &str, id: &str, label: &str) -> Output {
        let mut args = slot.to_vec();
        args.extend_from_slice(&[
            "--keypairgen",
            "--key-type",
            key_type,
            "--id",
            id,
            "--label",
            label,
            "--login",
            "--pin",
            USER_PIN,
        ]);
        self.pkcs11_tool(&args).ok()
    }

    /// Exports the public key of PKCS#15 id `id` as PEM (`pkcs15-tool --read-public-key`) to a file.
    #[track_caller]
    pub fn public_key_pem(&self, id: &str) -> PathBuf {
        self.public_key_pem_in(&["--read-public-key", id], &format!("pub-{id}.pem"))
    }

    /// [`Env::public_key_pem`] of card `index` (`pkcs15-tool --reader INDEX`), to `card<INDEX>-<id>.pem`.
    #[track_caller]
    pub fn public_key_pem_on(&self, index: usize, id: &str) -> PathBuf {
        let reader = index.to_string();
        self.public_key_pem_in(
            &["--reader", &reader, "--read-public-key", id],
            &format!("card{index}-{id}.pem"),
        )
    }

    #[track_caller]
    fn public_key_pem_in(&self, args: &[&str], file: &str) -> PathBuf {
        let out = self.pkcs15_tool(args).ok();
        assert!(out.stdout.contains("BEGIN PUBLIC KEY"), "no PEM public key:\n{out}");
        self.write_file(file, out.stdout.as_bytes())
    }

    /// `pkcs11-tool --login --pin USER_PIN OP --mechanism MECHANISM --id ID --input-file INPUT
    /// --output-file OUT EXTRA...` for `op` = `--sign`, `--decrypt` or `--derive`: the tool's output and,
    /// if it succeeded, the bytes written.
    pub fn pkcs11_key_op(
        &self,
        op: &str,
        id: &str,
        mechanism: &str,
        input: &Path,
        extra: &[&str],
    ) -> (Output, Option<Vec<u8>>) {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let output = self.dir.path().join(format!("op{n}-{id}-{mechanism}.out"));
        let (input, out_s) = (path_str(input), path_str(&output));
        let mut args = vec![
            "--login",
            "--pin",
            USER_PIN,
            op,
            "--mechanism",
            mechanism,
            "--id",
            id,
            "--input-file",
            &input,
            "--output-file",
            &out_s,
        ];
        args.extend_from_slice(extra);
        let out = self.pkcs11_tool(&args);
        let data = if out.success() { fs::read(&output).ok() } else { None };
        (out, data)
    }

    /// ECDH of card key `id` (`pkcs11-tool --derive`, ECDH1-DERIVE) with a peer key that openssl
    /// makes on `curve` (an openssl curve name), and the same secret derived by openssl from the
    /// peer's private key and the card's public key `public` (PEM). Returns the tool's output, the
    /// card's secret if it succeeded, and openssl's (panics if openssl fails).
    #[track_caller]
    pub fn ecdh_with_openssl_peer(&self, id: &str, curve: &str, public: &Path) -> (Output, Option<Vec<u8>>, Vec<u8>) {
        let peer = self.dir().join(format!("peer-{id}.pem"));
        let peer_der = self.dir().join(format!("peer-{id}.der"));
        let (peer_s, peer_der_s) = (path_str(&peer), path_str(&peer_der));
        let curve_opt = format!("ec_paramgen_curve:{curve}");
        self.openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", &curve_opt, "-out", &peer_s])
            .ok();
        self.openssl(&[
            "pkey",
            "-in",
            &peer_s,
            "-pubout",
            "-outform",
            "DER",
            "-out",
            &peer_der_s,
        ])
        .ok();
        let (out, card) = self.pkcs11_key_op("--derive", id, "ECDH1-DERIVE", &peer_der, &[]);
        let expected = self.dir().join(format!("ecdh-{id}.openssl"));
        self.openssl(&[
            "pkeyutl",
            "-derive",
            "-inkey",
            &peer_s,
            "-peerkey",
            &path_str(public),
            "-out",
            &path_str(&expected),
        ])
        .ok();
        let want = fs::read(&expected).expect("openssl's ECDH secret");
        (out, card, want)
    }

    /// `openssl args` inside the namespaces.
    pub fn openssl(&self, args: &[&str]) -> Output {
        self.run("openssl", args)
    }

    /// Writes SHA-256 of the file `data` (`openssl dgst -sha256 -binary`) to `<data>.sha256` and
    /// returns that path; panics if openssl fails.
    #[track_caller]
    pub fn openssl_sha256(&self, data: &Path) -> PathBuf {
        let hash = PathBuf::from(format!("{}.sha256", data.display()));
        self.openssl(&["dgst", "-sha256", "-binary", "-out", &path_str(&hash), &path_str(data)])
            .ok();
        hash
    }

    /// Signs the file `data` on the token of card `signer` with key `id` through PKCS#11
    /// (`pkcs11-tool --slot-index SIGNER --sign --mechanism MECHANISM`, ECDSA signatures in OpenSSL's
    /// DER format) and checks the signature with `openssl pkeyutl -verify -pkeyopt digest:sha256`
    /// against the public key card `owner` exports for `id` ([`Env::public_key_pem_on`]). `hash` is
    /// SHA-256 of `data` ([`Env::openssl_sha256`]).
    ///
    /// Panics if signing or the export fails. Returns openssl's output, for the caller to judge
    /// (`contains("Signature Verified Successfully")`), and the PEM file of the public key.
    #[track_caller]
    pub fn sign_and_verify_with(
        &self,
        signer: usize,
        owner: usize,
        id: &str,
        mechanism: &str,
        data: &Path,
        hash: &Path,
    ) -> (Output, PathBuf) {
        let pem = self.public_key_pem_on(owner, id);
        let slot = signer.to_string();
        let mut extra = vec!["--slot-index", slot.as_str()];
        if mechanism.starts_with("ECDSA") {
            extra.extend_from_slice(&["--signature-format", "openssl"]);
        }
        let (out, signature) = self.pkcs11_key_op("--sign", id, mechanism, data, &extra);
        let signature =
            signature.unwrap_or_else(|| panic!("{mechanism} signature with key {id} on card {signer}:\n{out}"));
        let sig = self.write_file(&format!("sig-{signer}-{id}.bin"), &signature);
        let verified = self.openssl(&[
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            &path_str(&pem),
            "-in",
            &path_str(hash),
            "-sigfile",
            &path_str(&sig),
            "-pkeyopt",
            "digest:sha256",
        ]);
        (verified, pem)
    }

    /// Runs hex command APDUs through PC/SC on card `index` with the `apdu-script` helper (pass
    /// [`apdu_script_binary!()`](crate::apdu_script_binary)) and returns the responses (data ‖ SW, hex).
    #[track_caller]
    pub fn apdu_script(&self, binary: &str, index: usize, apdus: &[String]) -> Vec<String> {
        let mut command = self.ns_command(binary);
        command.args(["--reader", &Self::reader_name(index)]);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start apdu-script");
        let mut stdin = child.stdin.take().expect("stdin");
        for apdu in apdus {
            writeln!(stdin, "{apdu}").expect("write APDU");
        }
        drop(stdin);
        let out = child.wait_with_output().expect("apdu-script");
        assert!(
            out.status.success(),
            "apdu-script failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.diagnostics()
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// [`Env::apdu_script`] on card `index` after SELECT ([`SELECT_APDU`]) and VERIFY of the user PIN
    /// ([`verify_apdu`]): the responses to `apdus` only. The responses to SELECT and VERIFY are not
    /// checked; a failed login shows in the responses of commands that need it.
    #[track_caller]
    pub fn apdu_script_logged_in(&self, binary: &str, index: usize, apdus: &[String]) -> Vec<String> {
        let mut all = vec![SELECT_APDU.to_string(), verify_apdu()];
        all.extend_from_slice(apdus);
        self.apdu_script(binary, index, &all).split_off(2)
    }

    /// Stops card `index`, stores known secret keys in its state directory with the
    /// `install-secret-key` fixture (pass [`install_secret_key_binary!()`](crate::install_secret_key_binary);
    /// each spec is `ID:HEXKEY[:HEXMETA]`, logged in with [`USER_PIN`]) and starts the card again.
    #[track_caller]
    pub fn install_secret_keys(&self, binary: &str, index: usize, specs: &[String]) {
        let (status, log) = self.stop_card(index);
        assert!(status.success(), "card did not stop cleanly: {status}\n{log}");
        let state = path_str(&self.state_dir(index));
        let mut args = vec!["--state-dir", &state, "--pin", USER_PIN];
        args.extend(specs.iter().map(String::as_str));
        self.run(binary, &args).ok();
        self.start_card(index);
    }

    /// `pkcs11-tool --login --login-type so --so-pin SO --init-pin --new-pin NEW`: unblocks or resets
    /// the user PIN with the SO-PIN.
    pub fn so_init_pin(&self, so_pin: &str, new_pin: &str) -> Output {
        self.pkcs11_tool(&[
            "--login",
            "--login-type",
            "so",
            "--so-pin",
            so_pin,
            "--init-pin",
            "--new-pin",
            new_pin,
        ])
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let count = self.lock_cards().len();
        for index in 0..count {
            self.kill_card(index);
        }
        // The namespace's process group: the watchdog shell, pcscd and anything left in it.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.ns_pid)])
            .status();
        let _ = self.holder.wait();
        if std::thread::panicking() || std::env::var_os("HSM_E2E_KEEP").is_some() {
            let kept = std::mem::replace(&mut self.dir, TempDir::new().expect("temporary directory"));
            eprintln!("hsm-e2e: kept {} for inspection", kept.keep().display());
        }
    }
}

/// A path as a `String` for command arguments.
pub fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Fails with every collected failure listed (table-driven tests collect them instead of stopping at
/// the first).
#[track_caller]
pub fn assert_no_failures(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} failure(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Whether `sc-hsm-tool --initialize` reported success (it exits 0 either way).
pub fn initialize_succeeded(out: &Output) -> bool {
    out.success() && !out.text().to_lowercase().contains("fail") && !out.contains("rror")
}

/// VERIFY (00 20 00 81) of [`USER_PIN`], hex for [`Env::apdu_script`].
pub fn verify_apdu() -> String {
    let mut v = vec![0x00, 0x20, 0x00, 0x81, USER_PIN.len() as u8];
    v.extend_from_slice(USER_PIN.as_bytes());
    hex::encode_upper(v)
}

/// The key check value a tool printed after a DKEK share import (`sc-hsm-tool`, `pico-hsm-tool`):
/// the 16 hex digits on a line with "check value", upper case.
pub fn kcv_in(text: &str) -> Option<String> {
    text.lines()
        .filter(|l| l.to_ascii_lowercase().contains("check value"))
        .find_map(|l| {
            l.split(|c: char| !c.is_ascii_hexdigit())
                .find(|w| w.len() == 16)
                .map(str::to_ascii_uppercase)
        })
}

/// Asserts two byte strings are equal; on mismatch reports lengths and the first difference, not the bytes.
#[track_caller]
pub fn assert_same_bytes(what: &str, actual: &[u8], expected: &[u8]) {
    if actual == expected {
        return;
    }
    let first = actual
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(actual.len().min(expected.len()));
    panic!(
        "{what}: got {} bytes, expected {}; first difference at offset {first} (got {:02X?}, expected {:02X?})",
        actual.len(),
        expected.len(),
        actual.get(first),
        expected.get(first)
    );
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

struct Prerequisites {
    user_ns: bool,
    pkcs11_module: PathBuf,
}

/// Checks once whether end-to-end tests can run here. `None` means skip (after a loud message).
fn prerequisites() -> Option<&'static Prerequisites> {
    static CHECK: OnceLock<Result<Prerequisites, String>> = OnceLock::new();
    match CHECK.get_or_init(check_prerequisites) {
        Ok(prerequisites) => Some(prerequisites),
        Err(reason) => {
            let must_run = std::env::var_os("HSM_E2E_REQUIRE").is_some_and(|v| v == "1") || is_root();
            assert!(!must_run, "end-to-end tests cannot run: {reason}");
            eprintln!(
                "\n==================== hsm-e2e: SKIPPED ====================\n{reason}\n\
                 Run as root (or with user namespaces enabled) on Debian with pcscd, vsmartcard-vpcd, opensc,\n\
                 opensc-pkcs11; `cargo xtask test` installs them. HSM_E2E_REQUIRE=1 turns this skip into a failure.\n\
                 ===========================================================\n"
            );
            None
        }
    }
}

fn check_prerequisites() -> Result<Prerequisites, String> {
    for (program, package) in [
        ("pcscd", "pcscd"),
        ("opensc-tool", "opensc"),
        ("pkcs11-tool", "opensc"),
        ("unshare", "util-linux"),
        ("nsenter", "util-linux"),
        ("ip", "iproute2"),
    ] {
        if !on_path(program) {
            return Err(format!("`{program}` not found (Debian package {package})"));
        }
    }
    if !Path::new(VPCD_DRIVER).exists() {
        return Err(format!("{VPCD_DRIVER} not found (Debian package vsmartcard-vpcd)"));
    }
    let pkcs11_module = find_pkcs11_module().ok_or("opensc-pkcs11.so not found (Debian package opensc-pkcs11)")?;
    let user_ns = !is_root();
    let mut probe = Command::new("unshare");
    if user_ns {
        probe.arg("--map-root-user");
    }
    let probe = probe
        .args(["--mount", "--net", "sh", "-c", "ip link set lo up"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    if !probe.status.success() {
        return Err(format!(
            "cannot create mount and network namespaces ({}): {}",
            if user_ns {
                "not root, user namespaces tried"
            } else {
                "as root"
            },
            String::from_utf8_lossy(&probe.stderr).trim()
        ));
    }
    Ok(Prerequisites { user_ns, pkcs11_module })
}

/// Checks once whether the emulated Pico can run. `None` means skip (after a loud message).
fn emulated_board_prerequisites() -> Option<&'static EmulatedBoard> {
    static CHECK: OnceLock<Result<EmulatedBoard, String>> = OnceLock::new();
    let check = || {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .ok_or("no workspace root")?
            .to_path_buf();
        if !on_path("node") {
            return Err("`node` not found (the emulator harness runs on node 20 or later)".to_string());
        }
        let harness = root.join("emu/harness.js");
        if !root.join("emu/node_modules/rp2040js").is_dir() {
            return Err("emu/node_modules/rp2040js missing: run `cargo xtask setup` (npm ci in emu/)".to_string());
        }
        let uf2 = root.join("target/firmware/pico-hsm-pico.uf2");
        if !uf2.is_file() {
            return Err(format!(
                "{} missing: run `cargo xtask firmware --board pico`",
                uf2.display()
            ));
        }
        Ok(EmulatedBoard { harness, uf2 })
    };
    match CHECK.get_or_init(check) {
        Ok(board) => Some(board),
        Err(reason) => {
            let must_run = std::env::var_os("HSM_E2E_REQUIRE").is_some_and(|v| v == "1");
            assert!(!must_run, "the emulated-board tests cannot run: {reason}");
            eprintln!("\n=== hsm-e2e: emulated-board test SKIPPED: {reason} ===\n");
            None
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// OpenSC's PKCS#11 module: from `dpkg -L opensc-pkcs11`, else the usual multiarch places.
pub fn find_pkcs11_module() -> Option<PathBuf> {
    let listed = Command::new("dpkg")
        .args(["-L", "opensc-pkcs11"])
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    let from_dpkg = listed
        .lines()
        .filter(|l| l.ends_with("/opensc-pkcs11.so"))
        .map(PathBuf::from);
    let usual = [
        "x86_64-linux-gnu",
        "aarch64-linux-gnu",
        "arm-linux-gnueabihf",
        "i386-linux-gnu",
    ]
    .iter()
    .flat_map(|arch| {
        [
            format!("/usr/lib/{arch}/opensc-pkcs11.so"),
            format!("/usr/lib/{arch}/pkcs11/opensc-pkcs11.so"),
        ]
    })
    .map(PathBuf::from);
    from_dpkg
        .chain(usual)
        .chain([PathBuf::from("/usr/lib/opensc-pkcs11.so")])
        .find(|p| p.exists())
}

/// The virtual card binary: `$PICO_HSM_VCARD` if set, else this package's `e2e-vcard` (the
/// `pico-hsm-vcard` program, `hsm_vcard::cli::main`), which cargo builds before running these tests.
pub fn vcard_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        if let Some(path) = std::env::var_os("PICO_HSM_VCARD") {
            return PathBuf::from(path);
        }
        // Test executables live in <target>/<profile>/deps/, the package's binaries (and the `soak`
        // driver, which starts an Env itself) in <target>/<profile>/.
        let exe = std::env::current_exe().expect("current_exe");
        let beside = exe.parent().map(|dir| dir.join("e2e-vcard"));
        let binary = match beside {
            Some(path) if path.is_file() => path,
            _ => exe
                .parent()
                .and_then(Path::parent)
                .map(|dir| dir.join("e2e-vcard"))
                .unwrap_or_default(),
        };
        assert!(
            binary.is_file(),
            "{} not found: run the end-to-end tests through cargo (cargo test -p hsm-e2e), or set PICO_HSM_VCARD",
            binary.display()
        );
        binary
    })
}

/// The `apdu-bench` helper of this package (for tests of this package).
#[macro_export]
macro_rules! apdu_bench_binary {
    () => {
        env!("CARGO_BIN_EXE_apdu-bench")
    };
}

/// The `apdu-script` helper of this package (for tests of this package).
#[macro_export]
macro_rules! apdu_script_binary {
    () => {
        env!("CARGO_BIN_EXE_apdu-script")
    };
}

/// A BER-TLV with a one-byte tag and a definite length (short, 81 or 82 form).
pub fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    match value.len() {
        n if n < 0x80 => v.push(n as u8),
        n if n < 0x100 => v.extend_from_slice(&[0x81, n as u8]),
        n => v.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
    }
    v.extend_from_slice(value);
    v
}

/// CIPHER SYMMETRIC `80 78 id p2` as an extended case 4 APDU in hex, with Le `le` (0 = `0000`,
/// "the default length").
pub fn cipher_symmetric_apdu(id: u8, p2: u8, data: &[u8], le: u16) -> String {
    let mut v = vec![0x80, 0x78, id, p2, 0, (data.len() >> 8) as u8, data.len() as u8];
    v.extend_from_slice(data);
    v.extend_from_slice(&le.to_be_bytes());
    hex::encode_upper(v)
}

/// The `install-secret-key` fixture of this package (for tests of this package).
#[macro_export]
macro_rules! install_secret_key_binary {
    () => {
        env!("CARGO_BIN_EXE_install-secret-key")
    };
}

/// The `p11-bench` helper of this package (for tests of this package).
#[macro_export]
macro_rules! p11_bench_binary {
    () => {
        env!("CARGO_BIN_EXE_p11-bench")
    };
}

/// A card answer: data and status word.
pub struct Answer {
    /// Response data, GET RESPONSE continuations included.
    pub data: Vec<u8>,
    /// SW1 SW2.
    pub sw: u16,
}

/// A PC/SC round trip, with 61xx answered by GET RESPONSE.
pub fn pcsc_transmit(card: &pcsc::Card, apdu: &[u8]) -> Result<Answer, String> {
    let mut buf = vec![0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
    let mut data = Vec::new();
    let mut command = apdu.to_vec();
    loop {
        let response = card
            .transmit(&command, &mut buf)
            .map_err(|e| format!("transmit failed: {e}"))?;
        let Some((body, sw)) = response.split_last_chunk::<2>() else {
            return Err(format!("answer of {} bytes, no status word", response.len()));
        };
        data.extend_from_slice(body);
        let sw = u16::from_be_bytes(*sw);
        if sw >> 8 == 0x61 {
            command = vec![0x00, 0xC0, 0x00, 0x00, sw as u8];
            continue;
        }
        return Ok(Answer { data, sw });
    }
}
