//! The soak run (`cargo xtask soak`, binary `soak`, test `tests/soak.rs`): thousands of mixed
//! operations through pcscd from several clients that interleave PC/SC transactions on one virtual
//! card, every answer checked, and the card process's resident memory sampled along the way.
//!
//! Two halves, because a PC/SC client must run inside the [`Env`]'s namespaces (its pcscd socket lives
//! on a tmpfs there):
//!
//! * the driver ([`run`]) starts an [`Env`] with one card, initializes it (`sc-hsm-tool
//!   --initialize`, as the other end-to-end tests do) and starts the client half with
//!   [`client_command`] through the Env's `nsenter`, passing it the card's pid;
//! * the client half ([`run_client`]) connects once to set up: a P-256 key (slot 1) and an RSA-2048
//!   key (slot 2) generated on the card, their public keys taken from the CV requests the card
//!   answers, and a shared data object `CF01`. Then it runs `--clients` threads, each with its own
//!   PC/SC context and connection to the same reader. Each loops over transactions
//!   (`SCardBeginTransaction` … `SCardEndTransaction`): SELECT of the application and VERIFY of the
//!   PIN (the other client may have left the card in any state), then one to four operations drawn
//!   from a seeded generator: SELECT, VERIFY (status query), READ BINARY of `CF01` (compared with
//!   what setup wrote), UPDATE BINARY of the client's own `CD1x` read back and compared, ECDSA P-256
//!   and RSA-2048 PKCS#1 v1.5 signatures over random messages (verified with the `p256` and `rsa`
//!   crates once the transaction has ended, while the other client holds the card), GET CHALLENGE
//!   (length, and not equal to the one before) and LIST KEYS (equal to what setup saw).
//!
//! By default transactions alternate between the clients in turn (a token passed at the end of each
//! transaction; the signature checks run outside it, concurrently with the other client's
//! transaction). `--race` drops the token and leaves the arbitration to pcscd alone: pcsc-lite's
//! client library retries a refused `SCardBeginTransaction` only every 100 ms, so a client that
//! ends its transaction and begins the next at once keeps the card most of the time.
//!
//! Every status word and every result is checked; each mismatch is printed (client, operation, the
//! command APDU, what came back) and counted, and the run fails when any was counted. Every
//! `--sample-every` operations the card's VmRSS is read from `/proc/<pid>/status` and a progress
//! line printed; the summary gives operations per type with median latency, errors, and RSS
//! first / after warm-up / last / max. "Flat" means: last − the first sample taken after 10 % of
//! the operations ≤ 1 MiB. Reported, never asserted as a timing.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hsm_apdu::tlv;
use hsm_crypto::asym::Curve;
use p256::ecdsa::signature::Verifier as _;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use sha2::{Digest as _, Sha256};

use crate::{Env, USER_PIN};

/// SELECT of the SmartCard-HSM application, no FCI.
const SELECT: [u8; 16] = [
    0x00, 0xA4, 0x04, 0x0C, 0x0B, 0xE8, 0x2B, 0x06, 0x01, 0x04, 0x01, 0x81, 0xC3, 0x1F, 0x02, 0x01,
];
/// VERIFY without data: 9000 when the user PIN is verified.
const VERIFY_STATUS: [u8; 4] = [0x00, 0x20, 0x00, 0x81];
/// id-TA-ECDSA-SHA-256 and id-TA-RSA-v1-5-SHA-256, the OIDs of GENERATE templates.
const OID_ECDSA: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x02, 0x03];
const OID_RSA: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x01, 0x02];
/// Key slots of the two keys.
const EC_KEY: u8 = 1;
const RSA_KEY: u8 = 2;
/// The data object every client reads, and the first of the clients' own (`CD10 + client`).
const SHARED_FID: u16 = 0xCF01;
const OWN_FID: u16 = 0xCD10;
const SHARED_LEN: usize = 1000;
/// Errors printed in full; later ones are only counted.
const PRINTED_ERRORS: usize = 50;
/// A client that fails this many transactions in a row gives up.
const GIVE_UP_AFTER: usize = 20;

/// What a soak run does.
#[derive(Clone, Debug)]
pub struct Options {
    /// Operations in all, over all clients.
    pub ops: usize,
    /// Seed of the operation mix and the data (client `i` draws from `seed + i`).
    pub seed: u64,
    /// Client threads, each with its own PC/SC connection.
    pub clients: usize,
    /// Where to write the figures as JSON.
    pub json: Option<PathBuf>,
    /// Operations between two RSS samples (and progress lines).
    pub sample_every: usize,
    /// No turns: pcscd alone arbitrates the transactions.
    pub race: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            ops: 10_000,
            seed: 1,
            clients: 2,
            json: None,
            sample_every: 500,
            race: false,
        }
    }
}

impl Options {
    /// The command-line form, as [`Options::parse`] reads it.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "--ops".to_string(),
            self.ops.to_string(),
            "--seed".into(),
            self.seed.to_string(),
            "--clients".into(),
            self.clients.to_string(),
            "--sample-every".into(),
            self.sample_every.to_string(),
        ];
        if let Some(json) = &self.json {
            args.extend(["--json".to_string(), json.display().to_string()]);
        }
        if self.race {
            args.push("--race".into());
        }
        args
    }

    /// Reads one option at `arg` (its value from `rest`); `Ok(false)` if `arg` is not one.
    pub fn parse_one(&mut self, arg: &str, rest: &mut dyn Iterator<Item = String>) -> Result<bool, String> {
        let mut number = |what: &str| -> Result<u64, String> {
            rest.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{what} needs a number"))
        };
        match arg {
            "--ops" => self.ops = number("--ops")? as usize,
            "--seed" => self.seed = number("--seed")?,
            "--clients" => self.clients = number("--clients")? as usize,
            "--sample-every" => self.sample_every = number("--sample-every")? as usize,
            "--json" => self.json = Some(PathBuf::from(rest.next().ok_or("--json needs a file")?)),
            "--race" => self.race = true,
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn check(&self) -> Result<(), String> {
        if self.ops == 0 || self.clients == 0 || self.sample_every == 0 {
            return Err("--ops, --clients and --sample-every must be at least 1".into());
        }
        if self.clients > 16 {
            return Err("--clients: at most 16 (each owns a data object CD10..CD1F)".into());
        }
        Ok(())
    }
}

/// Initializes card 0 of `env` for a soak run (`sc-hsm-tool --initialize` with the test PINs).
pub fn prepare(env: &Env) {
    env.initialize();
}

/// The client half (`binary --client ...`, `binary` being the `soak` program) inside `env`'s
/// namespaces, on card 0, with the card's pid for the RSS samples.
pub fn client_command(env: &Env, binary: &Path, options: &Options) -> Command {
    let mut command = env.ns_command(binary);
    command.args(["--client", "--reader", &Env::reader_name(0)]);
    if let Some(pid) = env.card_pid(0) {
        command.args(["--vcard-pid", &pid.to_string()]);
    }
    let mut options = options.clone();
    // nsenter's mount namespace entry moves the working directory to its root.
    options.json = options.json.map(|j| std::path::absolute(&j).unwrap_or(j));
    command.args(options.to_args());
    command
}

/// The driver: an [`Env`] with one card, [`prepare`]d, and the client half (`binary`) run in it with
/// this process's standard output and error. Returns whether the client half succeeded (no errors).
pub fn run(binary: &Path, options: &Options) -> Result<bool, String> {
    options.check()?;
    let env = Env::start().ok_or("the end-to-end environment cannot run here (see the message above)")?;
    println!("soak: card in a private pcscd ({}), initializing", env.dir().display());
    prepare(&env);
    let mut command = client_command(&env, binary, options);
    let status = command
        .status()
        .map_err(|e| format!("cannot start the soak client: {e}"))?;
    if !status.success() {
        eprintln!(
            "soak: the client exited with {status}; card log tail:\n{}",
            env.diagnostics()
        );
    }
    Ok(status.success())
}

/// One operation of the mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Select,
    /// VERIFY with the PIN.
    Verify,
    /// VERIFY without data (the PIN's status); what a drawn [`Op::Verify`] becomes half the time
    /// when the PIN is verified already.
    VerifyStatus,
    ReadShared,
    UpdateOwn,
    SignEcdsa,
    SignRsa,
    Challenge,
    ListKeys,
}

impl Op {
    const ALL: [Op; 9] = [
        Op::Select,
        Op::Verify,
        Op::VerifyStatus,
        Op::ReadShared,
        Op::UpdateOwn,
        Op::SignEcdsa,
        Op::SignRsa,
        Op::Challenge,
        Op::ListKeys,
    ];

    fn name(self) -> &'static str {
        match self {
            Op::Select => "select",
            Op::Verify => "verify-pin",
            Op::VerifyStatus => "verify-status",
            Op::ReadShared => "read-binary",
            Op::UpdateOwn => "update-binary+read-back",
            Op::SignEcdsa => "sign-ecdsa-p256",
            Op::SignRsa => "sign-rsa2048-pkcs1",
            Op::Challenge => "get-challenge",
            Op::ListKeys => "list-keys",
        }
    }

    /// The random part of a transaction, by weight.
    fn draw(rng: &mut ChaCha8Rng) -> Op {
        const WEIGHTED: [(Op, u32); 8] = [
            (Op::Select, 1),
            (Op::Verify, 1),
            (Op::ReadShared, 2),
            (Op::UpdateOwn, 2),
            (Op::SignEcdsa, 2),
            (Op::SignRsa, 1),
            (Op::Challenge, 2),
            (Op::ListKeys, 1),
        ];
        let total: u32 = WEIGHTED.iter().map(|(_, w)| w).sum();
        let mut pick = rng.next_u32() % total;
        for (op, weight) in WEIGHTED {
            if pick < weight {
                return op;
            }
            pick -= weight;
        }
        Op::Select
    }
}

/// Command APDU with extended lengths: data (case 3/4) and, if `le`, Le = 0000 (the maximum).
fn apdu(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8], le: bool) -> Vec<u8> {
    let mut v = vec![cla, ins, p1, p2];
    if !data.is_empty() {
        v.extend_from_slice(&[0, (data.len() >> 8) as u8, data.len() as u8]);
        v.extend_from_slice(data);
        if le {
            v.extend_from_slice(&[0, 0]);
        }
    } else if le {
        v.extend_from_slice(&[0, 0, 0]);
    }
    v
}

fn put(out: &mut Vec<u8>, tag: u16, value: &[u8]) {
    let mut header = [0u8; 7];
    out.extend_from_slice(tlv::header(tag, value.len(), &mut header));
    out.extend_from_slice(value);
}

fn verify_pin_apdu() -> Vec<u8> {
    apdu(0x00, 0x20, 0x00, 0x81, USER_PIN.as_bytes(), false)
}

fn read_binary_apdu(fid: u16) -> Vec<u8> {
    let [p1, p2] = fid.to_be_bytes();
    apdu(0x00, 0xB1, p1, p2, &[0x54, 0x02, 0x00, 0x00], true)
}

fn update_binary_apdu(fid: u16, content: &[u8]) -> Vec<u8> {
    let [p1, p2] = fid.to_be_bytes();
    let mut data = vec![0x54, 0x02, 0x00, 0x00];
    put(&mut data, 0x53, content);
    apdu(0x00, 0xD7, p1, p2, &data, false)
}

fn list_keys_apdu() -> Vec<u8> {
    apdu(0x80, 0x58, 0x00, 0x00, &[], true)
}

/// The APDU for messages: the header and at most 24 data bytes in hex.
fn shown(apdu: &[u8]) -> String {
    let cut = apdu.len().min(31);
    let mut s = hex::encode_upper(&apdu[..cut]);
    if cut < apdu.len() {
        let _ = write!(s, "… ({} bytes)", apdu.len());
    }
    s
}

fn keygen_apdu(id: u8, template: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    put(&mut d, 0x5F29, &[0]);
    put(&mut d, 0x42, b"UTCA00001");
    put(&mut d, 0x7F49, template);
    put(&mut d, 0x5F20, b"UTSOAK001");
    apdu(0x00, 0x46, id, 0x00, &d, true)
}

fn p256_template() -> Vec<u8> {
    let d = Curve::Secp256r1.params();
    let mut t = Vec::new();
    put(&mut t, 0x06, &OID_ECDSA);
    put(&mut t, 0x81, d.p);
    put(&mut t, 0x82, d.a);
    put(&mut t, 0x83, d.b);
    put(&mut t, 0x84, d.g);
    put(&mut t, 0x85, d.n);
    t
}

fn rsa2048_template() -> Vec<u8> {
    let mut t = Vec::new();
    put(&mut t, 0x06, &OID_RSA);
    put(&mut t, 0x02, &2048u16.to_be_bytes());
    put(&mut t, 0x82, &[0x01, 0x00, 0x01]);
    t
}

/// The public key template `7F49` of the CV request `67 { 7F21 { 7F4E { 7F49 } } }` a GENERATE
/// answers.
fn public_key_template(request: &[u8]) -> Result<&[u8], String> {
    let mut at = request;
    for tag in [0x67, 0x7F21, 0x7F4E, 0x7F49] {
        at = tlv::find(at, tag)
            .ok()
            .flatten()
            .ok_or_else(|| format!("tag {tag:X} missing in the CV request"))?;
    }
    Ok(at)
}

fn template_field(template: &[u8], tag: u16) -> Result<&[u8], String> {
    tlv::find(template, tag)
        .ok()
        .flatten()
        .ok_or_else(|| format!("tag {tag:X} missing in the public key template"))
}

/// What every client needs from setup.
struct Keys {
    ecdsa: p256::ecdsa::VerifyingKey,
    rsa: rsa::PublicKey,
    shared: Vec<u8>,
    list_keys: Vec<u8>,
}

/// Setup on one connection: SELECT, VERIFY, the two keys, the shared data object, LIST KEYS.
fn setup(card: &pcsc::Card, rng: &mut ChaCha8Rng) -> Result<Keys, String> {
    let ok = |what: &str, apdu: &[u8]| -> Result<Vec<u8>, String> {
        let answer = crate::pcsc_transmit(card, apdu).map_err(|e| format!("setup {what}: {e}"))?;
        if answer.sw != 0x9000 {
            return Err(format!("setup {what}: {} answered {:04X}", shown(apdu), answer.sw));
        }
        Ok(answer.data)
    };
    ok("SELECT", &SELECT)?;
    ok("VERIFY", &verify_pin_apdu())?;
    let request = ok("GENERATE P-256", &keygen_apdu(EC_KEY, &p256_template()))?;
    let point = template_field(public_key_template(&request)?, 0x86)?;
    let ecdsa = p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
        .map_err(|e| format!("the P-256 public key of the CV request: {e}"))?;
    let request = ok("GENERATE RSA-2048", &keygen_apdu(RSA_KEY, &rsa2048_template()))?;
    let template = public_key_template(&request)?;
    let (n, e) = (template_field(template, 0x81)?, template_field(template, 0x82)?);
    let rsa = rsa::PublicKey::new(
        rsa::BoxedUint::from_be_slice_vartime(n),
        rsa::BoxedUint::from_be_slice_vartime(e),
    )
    .map_err(|e| format!("the RSA public key of the CV request: {e}"))?;
    if n.len() != 256 {
        return Err(format!("RSA-2048 modulus of {} bytes", n.len()));
    }
    let mut shared = vec![0u8; SHARED_LEN];
    rng.fill_bytes(&mut shared);
    ok("UPDATE BINARY CF01", &update_binary_apdu(SHARED_FID, &shared))?;
    let list_keys = ok("LIST KEYS", &list_keys_apdu())?;
    for fid in [[0xCC, EC_KEY], [0xCC, RSA_KEY]] {
        if !list_keys.chunks(2).any(|c| c == fid) {
            return Err(format!(
                "LIST KEYS lacks {}: {}",
                hex::encode_upper(fid),
                hex::encode_upper(&list_keys)
            ));
        }
    }
    Ok(Keys {
        ecdsa,
        rsa,
        shared,
        list_keys,
    })
}

/// What a client found wrong.
struct Failure {
    client: usize,
    op: &'static str,
    apdu: String,
    detail: String,
}

/// One RSS sample: at how many finished operations, when (seconds from the start of the clients),
/// the card's VmRSS in KiB.
#[derive(Clone, Copy)]
struct Sample {
    ops: usize,
    seconds: f64,
    rss_kib: Option<u64>,
}

/// State shared by the clients: the turn, the operation budget, counters, samples, errors.
struct Shared {
    state: Mutex<State>,
    turn_changed: Condvar,
    options: Options,
    vcard_pid: Option<u32>,
    started: Instant,
}

struct State {
    turn: usize,
    active: Vec<bool>,
    claimed: usize,
    done: usize,
    transactions: usize,
    switches: usize,
    last_client: Option<usize>,
    next_sample: usize,
    /// When the last operation finished, from the start of the clients.
    last_done: Duration,
    samples: Vec<Sample>,
    errors: usize,
    failures: Vec<Failure>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for `client`'s turn (unless racing); false when the run is over.
    fn wait_turn(&self, client: usize) -> bool {
        let mut state = self.lock();
        if self.options.race {
            return state.claimed < self.options.ops;
        }
        while state.turn != client && state.claimed < self.options.ops {
            state = self.turn_changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.claimed < self.options.ops
    }

    /// Hands the turn to the next active client.
    fn pass_turn(&self, client: usize) {
        let mut state = self.lock();
        let n = state.active.len();
        let next = (1..=n).map(|k| (client + k) % n).find(|&c| state.active[c]);
        if let Some(next) = next {
            state.turn = next;
        }
        drop(state);
        self.turn_changed.notify_all();
    }

    fn retire(&self, client: usize) {
        self.lock().active[client] = false;
        self.pass_turn(client);
    }

    /// Takes up to `want` operations of the budget; notes the transaction and a change of client.
    fn claim(&self, client: usize, want: usize) -> usize {
        let mut state = self.lock();
        let n = want.min(self.options.ops - state.claimed);
        state.claimed += n;
        if n > 0 {
            state.transactions += 1;
            if state.last_client.is_some_and(|c| c != client) {
                state.switches += 1;
            }
            state.last_client = Some(client);
        }
        n
    }

    fn fail(&self, failure: Failure) {
        let mut state = self.lock();
        state.errors += 1;
        if state.errors <= PRINTED_ERRORS {
            let apdu = if failure.apdu.is_empty() {
                String::new()
            } else {
                format!(" APDU {}:", failure.apdu)
            };
            eprintln!(
                "soak: ERROR client {} {}:{apdu} {}",
                failure.client, failure.op, failure.detail
            );
            state.failures.push(failure);
        } else if state.errors == PRINTED_ERRORS + 1 {
            eprintln!("soak: more errors, counted but not printed");
        }
    }

    /// Counts `ops` finished operations; samples RSS and prints progress at every `sample_every`.
    fn finished(&self, ops: usize) {
        let mut state = self.lock();
        state.done += ops;
        state.last_done = self.started.elapsed();
        while state.done >= state.next_sample {
            let sample = Sample {
                ops: state.done,
                seconds: self.started.elapsed().as_secs_f64(),
                rss_kib: self.vcard_pid.and_then(vm_rss_kib),
            };
            // The rate since the sample before, and over the whole run so far.
            let (ops_before, seconds_before) = state.samples.last().map_or((0, 0.0), |s| (s.ops, s.seconds));
            let rate = |ops: usize, seconds: f64| ops as f64 / seconds.max(1e-9);
            println!(
                "soak: {:>6}/{} ops, {:>7.1} ops/s ({:>7.1} overall), vcard RSS {}, errors {}",
                state.done,
                self.options.ops,
                rate(sample.ops - ops_before, sample.seconds - seconds_before),
                rate(sample.ops, sample.seconds),
                sample.rss_kib.map_or("n/a".to_string(), mib),
                state.errors
            );
            state.samples.push(sample);
            state.next_sample = (state.done / self.options.sample_every + 1) * self.options.sample_every;
        }
    }
}

/// VmRSS of process `pid` in KiB.
fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

fn mib(kib: u64) -> String {
    format!("{:.2} MiB", kib as f64 / 1024.0)
}

/// What one client did.
#[derive(Default)]
struct ClientReport {
    ops: usize,
    transactions: usize,
    latencies: BTreeMap<Op, Vec<Duration>>,
}

/// A signature to check once the transaction is over.
struct Pending {
    op: Op,
    apdu: String,
    message: Vec<u8>,
    signature: Vec<u8>,
}

/// The client loop of client `id`: its own context and connection to `reader`.
fn client(id: usize, reader: &str, shared: &Shared, keys: &Keys) -> ClientReport {
    let mut report = ClientReport::default();
    let my_errors = std::cell::Cell::new(0usize);
    let fail = |op: &'static str, apdu: String, detail: String| {
        my_errors.set(my_errors.get() + 1);
        shared.fail(Failure {
            client: id,
            op,
            apdu,
            detail,
        })
    };
    let connected = pcsc::Context::establish(pcsc::Scope::User)
        .map_err(|e| format!("no pcscd: {e}"))
        .and_then(|context| {
            let name = CString::new(reader).map_err(|_| "bad reader name".to_string())?;
            context
                .connect(&name, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
                .map_err(|e| format!("cannot connect to {reader:?}: {e}"))
        });
    let mut card = match connected {
        Ok(card) => card,
        Err(e) => {
            fail("connect", String::new(), e);
            shared.retire(id);
            return report;
        }
    };
    let mut rng = ChaCha8Rng::seed_from_u64(shared.options.seed.wrapping_add(id as u64 + 1));
    let own_fid = OWN_FID + id as u16;
    let mut last_challenge: Vec<u8> = Vec::new();
    let mut failed_in_a_row = 0;
    while shared.wait_turn(id) {
        let want = 2 + 1 + (rng.next_u32() % 4) as usize;
        let count = shared.claim(id, want);
        if count == 0 {
            break;
        }
        // SELECT ends the PIN's verified state: a VERIFY follows every SELECT.
        let mut plan = vec![Op::Select, Op::Verify];
        while plan.len() < count {
            let op = match plan.last() {
                Some(Op::Select) => Op::Verify,
                _ => Op::draw(&mut rng),
            };
            plan.push(op);
        }
        plan.truncate(count);
        let mut logged_in = false;
        let errors_before = my_errors.get();
        let mut pending = Vec::new();
        let mut transaction_ok = true;
        match card.transaction2() {
            Err((card, e)) => {
                fail("begin-transaction", String::new(), e.to_string());
                transaction_ok = false;
                // Someone reset the card (an error all the same): reconnect, as a client must.
                if e == pcsc::Error::ResetCard
                    && let Err(e) = card.reconnect(
                        pcsc::ShareMode::Shared,
                        pcsc::Protocols::ANY,
                        pcsc::Disposition::LeaveCard,
                    )
                {
                    fail("reconnect", String::new(), e.to_string());
                }
            }
            Ok(tx) => {
                for &op in &plan {
                    let started = Instant::now();
                    let mut client = ClientState {
                        rng: &mut rng,
                        own_fid,
                        logged_in: &mut logged_in,
                        last_challenge: &mut last_challenge,
                        pending: &mut pending,
                    };
                    if let Some(ran) = run_op(op, &tx, &mut client, keys, &fail) {
                        report.latencies.entry(ran).or_default().push(started.elapsed());
                    }
                }
                if let Err((_, e)) = tx.end(pcsc::Disposition::LeaveCard) {
                    fail("end-transaction", String::new(), e.to_string());
                    transaction_ok = false;
                }
            }
        }
        shared.pass_turn(id);
        for p in pending {
            check_signature(&p, keys, &fail);
        }
        report.ops += plan.len();
        report.transactions += 1;
        shared.finished(plan.len());
        let clean = transaction_ok && my_errors.get() == errors_before;
        failed_in_a_row = if clean { 0 } else { failed_in_a_row + 1 };
        if failed_in_a_row >= GIVE_UP_AFTER {
            fail(
                "give-up",
                String::new(),
                format!("{GIVE_UP_AFTER} transactions in a row failed; client stops"),
            );
            break;
        }
    }
    // Dropping a pcsc::Card disconnects with a reset, which the other clients would see as
    // SCARD_W_RESET_CARD in their next transaction: leave the card as it is.
    if let Err((_, e)) = card.disconnect(pcsc::Disposition::LeaveCard) {
        fail("disconnect", String::new(), e.to_string());
    }
    shared.retire(id);
    report
}

/// A client's state an operation uses and changes.
struct ClientState<'a> {
    rng: &'a mut ChaCha8Rng,
    own_fid: u16,
    /// Whether the user PIN is verified now (SELECT of the application ends it).
    logged_in: &'a mut bool,
    last_challenge: &'a mut Vec<u8>,
    pending: &'a mut Vec<Pending>,
}

type Fail<'a> = &'a dyn Fn(&'static str, String, String);

/// One operation inside a transaction: the operation as it ran ([`Op::Verify`] may become
/// [`Op::VerifyStatus`]), `None` when it failed (the failure is reported).
fn run_op(op: Op, card: &pcsc::Card, client: &mut ClientState<'_>, keys: &Keys, fail: Fail<'_>) -> Option<Op> {
    // Not logged in: VERIFY presents the PIN. Logged in: it presents it again or asks for its
    // status (VERIFY without data answers 9000 while the PIN is verified), at random.
    let op = match op {
        Op::Verify if *client.logged_in && client.rng.next_u32() & 1 == 0 => Op::VerifyStatus,
        op => op,
    };
    let name = op.name();
    let rng = &mut *client.rng;
    // One exchange that must answer 9000: its data.
    let exchange = |apdu: &[u8]| -> Option<Vec<u8>> {
        match crate::pcsc_transmit(card, apdu) {
            Err(e) => {
                fail(name, shown(apdu), e);
                None
            }
            Ok(a) if a.sw != 0x9000 => {
                fail(name, shown(apdu), format!("status {:04X}, expected 9000", a.sw));
                None
            }
            Ok(a) => Some(a.data),
        }
    };
    let expect_empty = |apdu: &[u8], data: Vec<u8>| -> bool {
        if data.is_empty() {
            true
        } else {
            fail(name, shown(apdu), format!("{} unexpected data bytes", data.len()));
            false
        }
    };
    let ok = match op {
        Op::Select => {
            *client.logged_in = false;
            exchange(&SELECT).is_some_and(|d| expect_empty(&SELECT, d))
        }
        Op::Verify | Op::VerifyStatus => {
            let apdu = if op == Op::Verify {
                verify_pin_apdu()
            } else {
                VERIFY_STATUS.to_vec()
            };
            let ok = exchange(&apdu).is_some_and(|d| expect_empty(&apdu, d));
            *client.logged_in = ok;
            ok
        }
        Op::ReadShared => {
            let apdu = read_binary_apdu(SHARED_FID);
            exchange(&apdu).is_some_and(|data| {
                let same = data == keys.shared;
                if !same {
                    fail(name, shown(&apdu), difference(&data, &keys.shared));
                }
                same
            })
        }
        Op::UpdateOwn => {
            let mut content = vec![0u8; 1 + (rng.next_u32() % 1024) as usize];
            rng.fill_bytes(&mut content);
            let update = update_binary_apdu(client.own_fid, &content);
            if !exchange(&update).is_some_and(|d| expect_empty(&update, d)) {
                return None;
            }
            let read = read_binary_apdu(client.own_fid);
            exchange(&read).is_some_and(|data| {
                let same = data == content;
                if !same {
                    fail(
                        name,
                        shown(&read),
                        format!("read back: {}", difference(&data, &content)),
                    );
                }
                same
            })
        }
        Op::SignEcdsa | Op::SignRsa => {
            let mut message = vec![0u8; 16 + (rng.next_u32() % 200) as usize];
            rng.fill_bytes(&mut message);
            // P2 73: ECDSA over SHA-256 of the data; P2 33: PKCS#1 v1.5 over SHA-256 of the data.
            let (key, p2) = if op == Op::SignEcdsa {
                (EC_KEY, 0x73)
            } else {
                (RSA_KEY, 0x33)
            };
            let apdu = apdu(0x80, 0x68, key, p2, &message, true);
            exchange(&apdu).is_some_and(|signature| {
                client.pending.push(Pending {
                    op,
                    apdu: shown(&apdu),
                    message,
                    signature,
                });
                true
            })
        }
        Op::Challenge => {
            let len = 8 + (rng.next_u32() % 57) as u8;
            let apdu = [0x00, 0x84, 0x00, 0x00, len];
            exchange(&apdu).is_some_and(|data| {
                if data.len() != usize::from(len) {
                    fail(
                        name,
                        shown(&apdu),
                        format!("{} random bytes, expected {len}", data.len()),
                    );
                    return false;
                }
                if client.last_challenge.get(..8) == data.get(..8) {
                    fail(
                        name,
                        shown(&apdu),
                        "the same random bytes as the challenge before".into(),
                    );
                    return false;
                }
                *client.last_challenge = data;
                true
            })
        }
        Op::ListKeys => {
            let apdu = list_keys_apdu();
            exchange(&apdu).is_some_and(|data| {
                let same = data == keys.list_keys;
                if !same {
                    fail(
                        name,
                        shown(&apdu),
                        format!(
                            "{}, setup saw {}",
                            hex::encode_upper(&data),
                            hex::encode_upper(&keys.list_keys)
                        ),
                    );
                }
                same
            })
        }
    };
    ok.then_some(op)
}

fn check_signature(p: &Pending, keys: &Keys, fail: Fail<'_>) {
    let name = p.op.name();
    let problem = match p.op {
        Op::SignEcdsa => match p256::ecdsa::Signature::from_der(&p.signature) {
            Err(e) => Some(format!("not a DER ECDSA signature: {e}")),
            Ok(sig) => keys
                .ecdsa
                .verify(&p.message, &sig)
                .err()
                .map(|e| format!("signature does not verify with the P-256 key: {e}")),
        },
        _ => keys
            .rsa
            .verify(
                rsa::Pkcs1v15Sign::new::<Sha256>(),
                &Sha256::digest(&p.message),
                &p.signature,
            )
            .err()
            .map(|e| format!("signature does not verify with the RSA key: {e}")),
    };
    if let Some(problem) = problem {
        fail(name, p.apdu.clone(), problem);
    }
}

fn difference(got: &[u8], expected: &[u8]) -> String {
    let first = got
        .iter()
        .zip(expected)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(expected.len()));
    format!(
        "{} bytes, expected {}; first difference at offset {first}",
        got.len(),
        expected.len()
    )
}

fn median(times: &mut [Duration]) -> Option<Duration> {
    times.sort();
    times.get(times.len().checked_sub(1)? / 2).copied()
}

/// The client half: setup on one connection, then the clients; prints progress and the summary and
/// writes the JSON. Ok(true) when the run counted no error.
pub fn run_client(options: &Options, reader: &str, vcard_pid: Option<u32>) -> Result<bool, String> {
    options.check()?;
    let context = pcsc::Context::establish(pcsc::Scope::User).map_err(|e| format!("no pcscd: {e}"))?;
    let name = CString::new(reader).map_err(|_| "bad reader name")?;
    let card = context
        .connect(&name, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .map_err(|e| format!("cannot connect to the card in {reader:?}: {e}"))?;
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    println!("soak: setup: P-256 and RSA-2048 keys, shared data object CF01");
    let keys = setup(&card, &mut rng)?;
    // Not a plain drop: that disconnects with a reset (the PIN state would go, harmlessly here).
    card.disconnect(pcsc::Disposition::LeaveCard)
        .map_err(|(_, e)| format!("disconnect after setup: {e}"))?;
    drop(context);
    let first_rss = vcard_pid.and_then(vm_rss_kib);
    if vcard_pid.is_some() && first_rss.is_none() {
        return Err(format!("cannot read VmRSS of the card process {vcard_pid:?}"));
    }
    println!(
        "soak: {} operations, {} clients ({}), seed {}, card pid {}",
        options.ops,
        options.clients,
        if options.race {
            "racing for the reader"
        } else {
            "transactions in turn"
        },
        options.seed,
        vcard_pid.map_or("unknown".to_string(), |p| p.to_string())
    );
    let shared = Shared {
        state: Mutex::new(State {
            turn: 0,
            active: vec![true; options.clients],
            claimed: 0,
            done: 0,
            transactions: 0,
            switches: 0,
            last_client: None,
            next_sample: 0,
            last_done: Duration::ZERO,
            samples: Vec::new(),
            errors: 0,
            failures: Vec::new(),
        }),
        turn_changed: Condvar::new(),
        options: options.clone(),
        vcard_pid,
        started: Instant::now(),
    };
    shared.finished(0);
    let reports: Vec<ClientReport> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..options.clients)
            .map(|id| {
                let (shared, keys) = (&shared, &keys);
                scope.spawn(move || client(id, reader, shared, keys))
            })
            .collect();
        handles
            .into_iter()
            .enumerate()
            .map(|(id, h)| {
                h.join().unwrap_or_else(|_| {
                    shared.fail(Failure {
                        client: id,
                        op: "thread",
                        apdu: String::new(),
                        detail: "the client thread panicked".into(),
                    });
                    ClientReport::default()
                })
            })
            .collect()
    });
    let mut state = shared.lock();
    let seconds = state.last_done.as_secs_f64();
    if state.samples.last().is_none_or(|s| s.ops != state.done) {
        let sample = Sample {
            ops: state.done,
            seconds,
            rss_kib: vcard_pid.and_then(vm_rss_kib),
        };
        state.samples.push(sample);
    }
    let summary = Summary::new(options, seconds, &state, &reports);
    println!("{}", summary.text());
    if let Some(path) = &options.json {
        std::fs::write(path, summary.json()).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("soak: figures written to {}", path.display());
    }
    Ok(summary.errors == 0)
}

struct Summary {
    ops: usize,
    target: usize,
    clients: usize,
    seed: u64,
    race: bool,
    seconds: f64,
    transactions: usize,
    switches: usize,
    errors: usize,
    /// The printed errors, as text.
    first_errors: Vec<String>,
    per_client: Vec<(usize, usize)>,
    per_op: Vec<(&'static str, usize, Option<Duration>)>,
    samples: Vec<Sample>,
    rss: Option<Rss>,
}

struct Rss {
    first: u64,
    warm: u64,
    warm_at: usize,
    last: u64,
    max: u64,
}

impl Rss {
    fn flat(&self) -> bool {
        self.last.saturating_sub(self.warm) <= 1024
    }
}

impl Summary {
    fn new(options: &Options, seconds: f64, state: &State, reports: &[ClientReport]) -> Self {
        let mut per_op = Vec::new();
        for op in Op::ALL {
            let mut all: Vec<Duration> = reports
                .iter()
                .flat_map(|r| r.latencies.get(&op).into_iter().flatten().copied())
                .collect();
            per_op.push((op.name(), all.len(), median(&mut all)));
        }
        let known: Vec<(usize, u64)> = state
            .samples
            .iter()
            .filter_map(|s| s.rss_kib.map(|k| (s.ops, k)))
            .collect();
        let warm_from = options.ops.div_ceil(10);
        let rss = match (known.first(), known.last()) {
            (Some(&(_, first)), Some(&(_, last))) => {
                let &(warm_at, warm) = known
                    .iter()
                    .find(|(at, _)| *at >= warm_from)
                    .unwrap_or(&known[known.len() - 1]);
                Some(Rss {
                    first,
                    warm,
                    warm_at,
                    last,
                    max: known.iter().map(|&(_, k)| k).max().unwrap_or(last),
                })
            }
            _ => None,
        };
        Self {
            ops: state.done,
            target: options.ops,
            clients: options.clients,
            seed: options.seed,
            race: options.race,
            seconds,
            transactions: state.transactions,
            switches: state.switches,
            errors: state.errors,
            first_errors: state
                .failures
                .iter()
                .map(|f| format!("client {} {}: APDU {}: {}", f.client, f.op, f.apdu, f.detail))
                .collect(),
            per_client: reports.iter().map(|r| (r.ops, r.transactions)).collect(),
            per_op,
            samples: state.samples.clone(),
            rss,
        }
    }

    fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "soak: summary: {} of {} operations in {:.1} s ({:.1} ops/s), {} transactions, {} client switches, seed {}",
            self.ops,
            self.target,
            self.seconds,
            self.ops as f64 / self.seconds.max(1e-9),
            self.transactions,
            self.switches,
            self.seed
        );
        for (i, (ops, tx)) in self.per_client.iter().enumerate() {
            let _ = writeln!(s, "  client {i}: {ops} operations in {tx} transactions");
        }
        let _ = writeln!(s, "  {:<24} {:>7} {:>12}", "operation", "count", "median");
        for (name, count, med) in &self.per_op {
            let med = med.map_or("—".to_string(), |d| format!("{:.3} ms", d.as_secs_f64() * 1e3));
            let _ = writeln!(s, "  {name:<24} {count:>7} {med:>12}");
        }
        match &self.rss {
            Some(r) => {
                let _ = writeln!(
                    s,
                    "  vcard RSS: first {}, after warm-up ({} ops) {}, last {}, max {}; last − warm-up {:+.2} MiB: {}",
                    mib(r.first),
                    r.warm_at,
                    mib(r.warm),
                    mib(r.last),
                    mib(r.max),
                    (r.last as f64 - r.warm as f64) / 1024.0,
                    if r.flat() {
                        "flat (≤ 1 MiB)"
                    } else {
                        "NOT flat (> 1 MiB)"
                    }
                );
            }
            None => {
                let _ = writeln!(s, "  vcard RSS: not sampled (card pid unknown)");
            }
        }
        let _ = write!(s, "  errors: {}", self.errors);
        s
    }

    fn json(&self) -> String {
        let mut s = String::from("{\n");
        let _ = writeln!(s, "  \"ops\": {},", self.ops);
        let _ = writeln!(s, "  \"ops_requested\": {},", self.target);
        let _ = writeln!(s, "  \"clients\": {},", self.clients);
        let _ = writeln!(s, "  \"seed\": {},", self.seed);
        let _ = writeln!(s, "  \"race\": {},", self.race);
        let _ = writeln!(s, "  \"seconds\": {:.3},", self.seconds);
        let _ = writeln!(
            s,
            "  \"ops_per_second\": {:.1},",
            self.ops as f64 / self.seconds.max(1e-9)
        );
        let _ = writeln!(s, "  \"transactions\": {},", self.transactions);
        let _ = writeln!(s, "  \"client_switches\": {},", self.switches);
        let _ = writeln!(s, "  \"errors\": {},", self.errors);
        let first: Vec<String> = self.first_errors.iter().map(|e| json_string(e)).collect();
        let _ = writeln!(s, "  \"first_errors\": [{}],", first.join(", "));
        let clients: Vec<String> = self
            .per_client
            .iter()
            .map(|(ops, tx)| format!("{{\"ops\": {ops}, \"transactions\": {tx}}}"))
            .collect();
        let _ = writeln!(s, "  \"per_client\": [{}],", clients.join(", "));
        let ops: Vec<String> = self
            .per_op
            .iter()
            .map(|(name, count, med)| {
                let med = med.map_or("null".to_string(), |d| format!("{:.4}", d.as_secs_f64() * 1e3));
                format!("    \"{name}\": {{\"count\": {count}, \"median_ms\": {med}}}")
            })
            .collect();
        let _ = writeln!(s, "  \"per_op\": {{\n{}\n  }},", ops.join(",\n"));
        match &self.rss {
            Some(r) => {
                let _ = writeln!(
                    s,
                    "  \"rss_kib\": {{\"first\": {}, \"warm\": {}, \"warm_at_ops\": {}, \"last\": {}, \"max\": {}, \"flat\": {}}},",
                    r.first,
                    r.warm,
                    r.warm_at,
                    r.last,
                    r.max,
                    r.flat()
                );
            }
            None => s.push_str("  \"rss_kib\": null,\n"),
        }
        let samples: Vec<String> = self
            .samples
            .iter()
            .map(|x| {
                let kib = x.rss_kib.map_or("null".to_string(), |k| k.to_string());
                format!("[{}, {:.3}, {kib}]", x.ops, x.seconds)
            })
            .collect();
        let _ = writeln!(s, "  \"rss_samples\": [{}],", samples.join(", "));
        s.push_str("  \"rss_samples_are\": \"[operations finished, seconds, VmRSS KiB]\"\n");
        s.push_str("}\n");
        s
    }
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut s = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
    s
}
