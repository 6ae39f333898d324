//! Core 1 of the RP2040: searches RSA primes while core 0's key generation searches too (issue 13).
//!
//! Core 1 is started once at boot (embassy-rp's `spawn_core1`) and sleeps (WFE) until core 0
//! posts a [`PrimeJob`]. It then runs `hsm_crypto`'s [`search_primes`] on its own DRBG (seeded by
//! the card's) and puts each prime it finds into the mailbox; core 0 takes them between its own
//! Miller–Rabin tests ([`Core1`] is the card's [`PrimeSearch`]) and ends the job when it has two
//! primes. A prime found by core 1 never leaves the mailbox but to core 0: a job that ended is
//! seen under the same lock that would post, and what core 1 holds is zeroized when dropped.
//!
//! Everything both cores touch is in [`MAILBOX`], behind embassy-rp's critical section (a hardware
//! spinlock plus interrupts off on the calling core), so no atomics are needed on the Cortex-M0+.
//! Each side wakes the other with SEV after a change. Flash writes stay safe: embassy-rp pauses core
//! 1 in a RAM interrupt handler during every erase or program.
//!
//! The RP2350 build does not start core 1 (not run anywhere yet: no emulator of that chip here).

use core::cell::RefCell;

use embassy_rp::multicore::{Stack, spawn_core1};
use embassy_rp::peripherals::CORE1;
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use hsm_crypto::asym::rsa::{Prime, PrimeJob, PrimeSearch, search_primes};
use static_cell::ConstStaticCell;

/// Core 1's stack: the search keeps its numbers on the heap; its deepest frames (Miller–Rabin in
/// `monty.rs`, the DRBG, the allocator) stay well inside this (measured in the emulator, NOTES.md).
pub const STACK_SIZE: usize = 8 * 1024;

static STACK: ConstStaticCell<Stack<STACK_SIZE>> = ConstStaticCell::new(Stack::new());

/// What the two cores share.
struct Mailbox {
    /// The job waiting for core 1.
    job: Option<PrimeJob>,
    /// The number of the current job (0: none); core 1 stops when it changes.
    current: u32,
    /// Core 1 is inside a search (set and cleared by core 1).
    busy: bool,
    /// A prime core 1 found, not yet taken by core 0.
    found: Option<Prime>,
}

static MAILBOX: Mutex<CriticalSectionRawMutex, RefCell<Mailbox>> = Mutex::new(RefCell::new(Mailbox {
    job: None,
    current: 0,
    busy: false,
    found: None,
}));

fn with<R>(f: impl FnOnce(&mut Mailbox) -> R) -> R {
    MAILBOX.lock(|m| f(&mut m.borrow_mut()))
}

/// Starts core 1 on [`run`].
pub fn start(core1: embassy_rp::Peri<'static, CORE1>) {
    spawn_core1(core1, STACK.take(), || run());
}

/// Core 1's loop: wait for a job, search, repeat.
fn run() -> ! {
    loop {
        let (job, id) = loop {
            let taken = with(|m| {
                let job = m.job.take()?;
                m.busy = true;
                Some((job, m.current))
            });
            match taken {
                Some(t) => break t,
                None => cortex_m::asm::wfe(),
            }
        };
        let mut stop = || with(|m| m.current != id);
        let mut post = |p: Prime| {
            let mut p = Some(p);
            loop {
                // Placed, or the job is over (then `p` is dropped, zeroized): either ends the wait.
                let done = with(|m| {
                    if m.current != id {
                        return Some(false);
                    }
                    if m.found.is_none() {
                        m.found = p.take();
                        return Some(true);
                    }
                    None
                });
                match done {
                    Some(placed) => {
                        cortex_m::asm::sev();
                        return placed;
                    }
                    None => cortex_m::asm::wfe(),
                }
            }
        };
        // An error (a refused seed, 64 empty windows) only means core 0 finds both primes itself.
        let _ = search_primes(job, &mut stop, &mut post);
        with(|m| m.busy = false);
        cortex_m::asm::sev();
    }
}

/// Core 0's side: the card's [`PrimeSearch`].
#[derive(Default)]
pub struct Core1 {
    last_id: u32,
}

impl PrimeSearch for Core1 {
    fn start(&mut self, job: PrimeJob) -> bool {
        // Core 1 may still be ending the previous job: it stops at its next check, within one
        // Miller–Rabin test (0.4 s for RSA-2048, a few seconds for RSA-4096), so waiting beats
        // searching alone; a core 1 that never comes back leaves core 0 to search alone.
        let deadline = embassy_time::Instant::now() + embassy_time::Duration::from_secs(5);
        while with(|m| m.busy) && embassy_time::Instant::now() < deadline {
            cortex_m::asm::wfe();
        }
        let id = self.last_id.wrapping_add(1).max(1);
        let started = with(|m| {
            if m.busy || m.job.is_some() {
                return false;
            }
            m.current = id;
            m.found = None;
            m.job = Some(job);
            true
        });
        if started {
            self.last_id = id;
            cortex_m::asm::sev();
        }
        started
    }

    fn take(&mut self) -> Option<Prime> {
        let p = with(|m| m.found.take());
        if p.is_some() {
            cortex_m::asm::sev(); // core 1 may wait for the slot
        }
        p
    }

    fn stop(&mut self) {
        with(|m| {
            m.current = 0;
            m.job = None;
            m.found = None;
        });
        cortex_m::asm::sev();
    }
}
