//! A RAM platform for tests, benchmarks and fuzzing: RAM flash, deterministic entropy; and flashes
//! that share one power supply, to cut the power at any flash operation of a command.

use alloc::rc::Rc;
use core::cell::{Cell, Ref, RefCell};

use embedded_storage::nor_flash::{ErrorType, MultiwriteNorFlash, NorFlash, ReadNorFlash};
use hsm_store::Store;
use hsm_store::flash::{PowerCut, PowerCutError, RamFlash, RamFlashError};
use zeroize::Zeroizing;

use crate::{Platform, Reboot, RebootUnsupported};

/// Size of the RAM main store.
pub const MAIN_SIZE: usize = 512 * 1024;
/// Size of the RAM counters store.
pub const COUNTERS_SIZE: usize = 32 * 1024;

/// A platform entirely in RAM. Entropy is a seeded xorshift stream: deterministic, never for production.
///
/// Both stores live on flashes of type `F`: [`RamFlash`] by default, [`CutFlash`] to cut the power in
/// the middle of a command.
pub struct RamPlatform<F: NorFlash = RamFlash> {
    store: Store<F>,
    counters: Store<F>,
    state: u64,
    secret: [u8; 32],
    serial: [u8; 8],
    entropy_fails: bool,
    confirm: bool,
    confirmations: u32,
    clock_ms: u64,
    reboot: Option<Reboot>,
}

impl<F: NorFlash> core::fmt::Debug for RamPlatform<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RamPlatform").finish_non_exhaustive()
    }
}

impl RamPlatform {
    /// A blank device whose secrets and entropy derive from `seed`.
    pub fn new(seed: u64) -> Self {
        let store = Store::format(RamFlash::new(MAIN_SIZE)).unwrap_or_else(|_| unreachable_store());
        let counters = Store::format(RamFlash::new(COUNTERS_SIZE)).unwrap_or_else(|_| unreachable_store());
        Self::from_stores(store, counters, seed)
    }
}

impl RamPlatform<CutFlash> {
    /// A blank device like [`RamPlatform::new`] whose two stores both draw on `power`.
    pub fn with_power(seed: u64, power: &Power) -> Self {
        let store =
            Store::format(CutFlash::new(RamFlash::new(MAIN_SIZE), power)).unwrap_or_else(|_| unreachable_store());
        let counters =
            Store::format(CutFlash::new(RamFlash::new(COUNTERS_SIZE), power)).unwrap_or_else(|_| unreachable_store());
        Self::from_stores(store, counters, seed)
    }
}

impl<F: NorFlash> RamPlatform<F> {
    /// A device over existing stores (for example remounted after a simulated power cut).
    pub fn from_stores(store: Store<F>, counters: Store<F>, seed: u64) -> Self {
        let mut p = RamPlatform {
            store,
            counters,
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            secret: [0; 32],
            serial: [0; 8],
            entropy_fails: false,
            confirm: false,
            confirmations: 0,
            clock_ms: 0,
            reboot: None,
        };
        let mut secret = [0u8; 32];
        p.fill(&mut secret);
        let mut serial = [0u8; 8];
        p.fill(&mut serial);
        p.secret = secret;
        p.serial = serial;
        p
    }

    /// Gives the two stores back.
    pub fn into_stores(self) -> (Store<F>, Store<F>) {
        (self.store, self.counters)
    }

    /// Makes the entropy source fail its health tests (`true`) or work again.
    pub fn set_entropy_failure(&mut self, fails: bool) {
        self.entropy_fails = fails;
    }

    /// What the button answers from now on: pressed (`true`) or not (`false`, the default).
    pub fn set_confirm(&mut self, pressed: bool) {
        self.confirm = pressed;
    }

    /// How many times the card asked for the button.
    pub fn confirmations(&self) -> u32 {
        self.confirmations
    }

    /// Moves the monotonic clock (which starts at 0 ms) forward.
    pub fn advance_clock(&mut self, ms: u64) {
        self.clock_ms = self.clock_ms.saturating_add(ms);
    }

    /// The reboot the card asked for since the last call, if any.
    pub fn take_reboot(&mut self) -> Option<Reboot> {
        self.reboot.take()
    }

    /// The deterministic "entropy": xorshift64.
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            *b = (self.state >> 24) as u8;
        }
    }
}

#[allow(clippy::panic)]
fn unreachable_store<F: NorFlash>() -> Store<F> {
    panic!("formatting a RAM flash cannot fail")
}

impl<F: NorFlash> Platform for RamPlatform<F> {
    type Flash = F;

    fn store(&mut self) -> &mut Store<F> {
        &mut self.store
    }

    fn counters(&mut self) -> &mut Store<F> {
        &mut self.counters
    }

    fn entropy(&mut self, buf: &mut [u8]) -> Result<(), crate::EntropyFailure> {
        if self.entropy_fails {
            return Err(crate::EntropyFailure);
        }
        self.fill(buf);
        Ok(())
    }

    fn device_secret(&mut self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret)
    }

    fn serial(&self) -> [u8; 8] {
        self.serial
    }

    fn confirm(&mut self) -> bool {
        self.confirmations = self.confirmations.saturating_add(1);
        self.confirm
    }

    fn monotonic_ms(&mut self) -> Option<u64> {
        Some(self.clock_ms)
    }

    /// A normal reboot is recorded ([`RamPlatform::take_reboot`]); BOOTSEL is not supported.
    fn request_reboot(&mut self, mode: Reboot) -> Result<(), RebootUnsupported> {
        match mode {
            Reboot::Normal => {
                self.reboot = Some(mode);
                Ok(())
            }
            Reboot::Bootsel => Err(RebootUnsupported),
        }
    }

    fn flash_size(&self) -> u32 {
        (MAIN_SIZE + COUNTERS_SIZE) as u32
    }
}

/// One power supply shared by several [`CutFlash`]es (a device's main and counters stores): their
/// write and erase operations are numbered together from 0, and a cut at operation `n` tears that
/// operation, whichever flash it hits, and fails every later operation of all of them (reads included).
///
/// Cloning gives another handle on the same supply.
#[derive(Clone, Debug, Default)]
pub struct Power(Rc<Cell<PowerState>>);

#[derive(Clone, Copy, Debug, Default)]
struct PowerState {
    ops: u64,
    cut_at: Option<u64>,
    cut: bool,
    seed: u64,
}

impl Power {
    /// A supply that never fails until [`Power::cut_at`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Write and erase operations started so far on all flashes (the torn one included).
    pub fn ops(&self) -> u64 {
        self.0.get().ops
    }

    /// The operation with index `op` (as counted by [`Power::ops`]) is torn the way [`PowerCut`] tears
    /// it, with its randomness from `seed`.
    pub fn cut_at(&self, op: u64, seed: u64) {
        let mut s = self.0.get();
        s.cut_at = Some(op);
        s.seed = seed;
        self.0.set(s);
    }

    /// Whether the power has been cut.
    pub fn is_cut(&self) -> bool {
        self.0.get().cut
    }

    /// Counts an operation; returns whether it is the torn one, or `Cut` if the power is off.
    fn start_op(&self) -> Result<bool, PowerCutError<RamFlashError>> {
        let mut s = self.0.get();
        if s.cut {
            return Err(PowerCutError::Cut);
        }
        let torn = s.cut_at == Some(s.ops);
        s.ops += 1;
        s.cut = torn;
        self.0.set(s);
        Ok(torn)
    }
}

/// A [`RamFlash`] on a shared [`Power`] supply (see there). [`CutFlash::into_inner`] gives the RAM
/// flash back as the cut left it, for a remount; [`CutFlash::shared`] keeps it reachable when a
/// cut makes `Store::mount` fail (and drop the flash).
#[derive(Debug)]
pub struct CutFlash {
    flash: Rc<RefCell<RamFlash>>,
    power: Power,
}

impl CutFlash {
    /// `flash` drawing on `power`.
    pub fn new(flash: RamFlash, power: &Power) -> Self {
        Self {
            flash: Rc::new(RefCell::new(flash)),
            power: power.clone(),
        }
    }

    /// The RAM flash.
    pub fn inner(&self) -> Ref<'_, RamFlash> {
        self.flash.borrow()
    }

    /// The RAM flash, shared: it outlives this value.
    pub fn shared(&self) -> Rc<RefCell<RamFlash>> {
        Rc::clone(&self.flash)
    }

    /// Gives the RAM flash back (a copy if [`CutFlash::shared`] still shares it).
    pub fn into_inner(self) -> RamFlash {
        Rc::try_unwrap(self.flash).map_or_else(|rc| rc.borrow().clone(), RefCell::into_inner)
    }

    /// Runs one write or erase: passed through, or torn by a [`PowerCut`] armed at this very operation.
    fn op(&mut self, op: FlashOp<'_>) -> Result<(), PowerCutError<RamFlashError>> {
        let mut flash = self.flash.borrow_mut();
        if !self.power.start_op()? {
            return op.apply(&mut *flash).map_err(PowerCutError::Inner);
        }
        let mut torn = PowerCut::new(
            core::mem::replace(&mut *flash, RamFlash::new(0)),
            0,
            self.power.0.get().seed,
        );
        let result = op.apply(&mut torn);
        *flash = torn.into_inner();
        result.and(Err(PowerCutError::Cut))
    }
}

/// A write or an erase, to run on a plain or a torn flash.
enum FlashOp<'a> {
    Erase(u32, u32),
    Write(u32, &'a [u8]),
}

impl FlashOp<'_> {
    fn apply<F: NorFlash>(&self, flash: &mut F) -> Result<(), F::Error> {
        match *self {
            Self::Erase(from, to) => flash.erase(from, to),
            Self::Write(offset, bytes) => flash.write(offset, bytes),
        }
    }
}

impl ErrorType for CutFlash {
    type Error = PowerCutError<RamFlashError>;
}

impl ReadNorFlash for CutFlash {
    const READ_SIZE: usize = <RamFlash as ReadNorFlash>::READ_SIZE;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        if self.power.is_cut() {
            return Err(PowerCutError::Cut);
        }
        self.flash
            .borrow_mut()
            .read(offset, bytes)
            .map_err(PowerCutError::Inner)
    }

    fn capacity(&self) -> usize {
        self.flash.borrow().capacity()
    }
}

impl NorFlash for CutFlash {
    const WRITE_SIZE: usize = <RamFlash as NorFlash>::WRITE_SIZE;
    const ERASE_SIZE: usize = <RamFlash as NorFlash>::ERASE_SIZE;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        self.op(FlashOp::Erase(from, to))
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.op(FlashOp::Write(offset, bytes))
    }
}

/// A write ANDs into the old content, as on the RAM flash underneath.
impl MultiwriteNorFlash for CutFlash {}

/// Rewrites key `id` of `card` (user PIN verified) in the first key-file format, with its metadata
/// in `D0xx` and its use counter unbound, as devices of that format hold their keys.
pub fn rewrite_key_in_first_format<F: NorFlash>(
    card: &mut crate::Card<RamPlatform<F>>,
    id: u8,
) -> Result<(), hsm_apdu::Status> {
    card.app.rewrite_in_first_format(id)
}
