//! What the tests measure: instructions (SysTick under `-icount shift=0`), heap bytes (a counting
//! global allocator) and stack depth (a painted stack). See the crate docs for the method.

use core::alloc::{GlobalAlloc, Layout};
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering::Relaxed};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{SCB, SYST};
use cortex_m_rt::exception;
use cortex_m_semihosting::{debug, hprintln};
use embedded_alloc::LlffHeap;

// ---------------------------------------------------------------------------------------------
// Instructions.

/// SysTick counts down from this value (its 24-bit maximum), then wraps and raises its exception.
const RELOAD: u32 = 0x00FF_FFFF;
/// Ticks per SysTick period.
const PERIOD: u64 = RELOAD as u64 + 1;
/// SysTick periods seen so far (counted by the SysTick exception).
static WRAPS: AtomicU32 = AtomicU32::new(0);
/// Periods after which the SysTick exception stops the run (see [`set_budget`]).
static WRAP_LIMIT: AtomicU32 = AtomicU32::new(u32::MAX);

/// Starts SysTick on the core clock, free running over its full 24-bit range, with its
/// exception enabled so that wraps extend it to 64 bits.
pub fn start(mut syst: SYST) {
    syst.disable_counter();
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Ticks since [`start`]: wraps × period + how far the current period has counted down.
pub fn ticks() -> u64 {
    cortex_m::interrupt::free(|_| {
        let wraps = WRAPS.load(Relaxed);
        let current = SYST::get_current();
        // A wrap that happened after interrupts were masked is pending, not yet counted. The
        // current value was read first, so a large one belongs to the new period.
        let wraps = if SCB::is_pendst_pending() && current > RELOAD / 2 {
            wraps + 1
        } else {
            wraps
        };
        u64::from(wraps) * PERIOD + u64::from(RELOAD - current)
    })
}

/// Stops the run (semihosting exit, failure) once `ticks` have passed, rounded up to whole
/// SysTick periods (2^24 ticks): the guard against a hang, in emulated time, so it fires whatever
/// the host's speed.
pub fn set_budget(ticks: u64) {
    let wraps = ticks.div_ceil(PERIOD).clamp(1, u64::from(u32::MAX));
    WRAP_LIMIT.store(wraps as u32, Relaxed);
}

#[exception]
fn SysTick() {
    let wraps = WRAPS.fetch_add(1, Relaxed) + 1;
    if wraps >= WRAP_LIMIT.load(Relaxed) {
        hprintln!(
            "TIMEOUT: instruction budget exhausted ({} SysTick periods); FAIL",
            wraps
        );
        debug::exit(debug::EXIT_FAILURE);
    }
}

/// A loop of exactly `2 × iterations` instructions (`subs`, `bne`).
#[inline(never)]
pub fn spin(iterations: u32) {
    if iterations == 0 {
        return;
    }
    // SAFETY: the loop only decrements its own register operand until zero; it touches no
    // memory and no stack, and clobbers only the flags (which `asm!` assumes by default).
    unsafe {
        core::arch::asm!(
            "2:",
            "subs {n}, {n}, #1",
            "bne 2b",
            n = inout(reg) iterations => _,
            options(nomem, nostack),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Heap.

/// Heap size: RSA-4096 key generation and the card's 544 KiB RAM flash fit with room to spare.
pub const HEAP_SIZE: usize = 2 * 1024 * 1024;

#[unsafe(link_section = ".uninit.HEAP")]
static mut HEAP_MEMORY: MaybeUninit<[u8; HEAP_SIZE]> = MaybeUninit::uninit();

/// The linked-list first-fit heap, counting what it hands out.
pub struct CountingHeap {
    heap: LlffHeap,
    /// Bytes requested and not yet freed.
    live: AtomicUsize,
    /// Highest `live` since the last [`CountingHeap::reset_peak`].
    peak: AtomicUsize,
    /// Highest `live` over the whole run.
    run_peak: AtomicUsize,
    /// Highest bytes in use by the allocator itself (with its rounding and alignment).
    used_peak: AtomicUsize,
    /// Number of allocations.
    count: AtomicUsize,
}

impl CountingHeap {
    pub const fn new() -> Self {
        CountingHeap {
            heap: LlffHeap::empty(),
            live: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            run_peak: AtomicUsize::new(0),
            used_peak: AtomicUsize::new(0),
            count: AtomicUsize::new(0),
        }
    }

    /// Hands the heap its memory. Call once, before the first allocation.
    pub fn init(&self) {
        let start = (&raw mut HEAP_MEMORY) as usize;
        // SAFETY: called once from `main` before anything allocates; `HEAP_MEMORY` is a static of
        // `HEAP_SIZE` bytes that nothing else references, so the heap owns it for the whole run.
        unsafe { self.heap.init(start, HEAP_SIZE) }
    }

    /// Bytes requested and not yet freed.
    pub fn live(&self) -> usize {
        self.live.load(Relaxed)
    }

    /// Starts a new per-test peak at the current live bytes.
    pub fn reset_peak(&self) {
        self.peak.store(self.live(), Relaxed);
    }

    /// Highest live bytes since [`CountingHeap::reset_peak`].
    pub fn peak(&self) -> usize {
        self.peak.load(Relaxed)
    }

    /// Highest live bytes over the whole run.
    pub fn run_peak(&self) -> usize {
        self.run_peak.load(Relaxed)
    }

    /// Highest bytes the allocator had in use (requested sizes rounded up by the allocator).
    pub fn used_peak(&self) -> usize {
        self.used_peak.load(Relaxed)
    }

    /// Allocations so far.
    pub fn count(&self) -> usize {
        self.count.load(Relaxed)
    }
}

// SAFETY: every call is forwarded unchanged to `LlffHeap`, a correct `GlobalAlloc`; the wrapper
// only updates counters, which never affect the pointers returned.
unsafe impl GlobalAlloc for CountingHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        let ptr = unsafe { self.heap.alloc(layout) };
        if !ptr.is_null() {
            let live = self.live.fetch_add(layout.size(), Relaxed) + layout.size();
            self.peak.fetch_max(live, Relaxed);
            self.run_peak.fetch_max(live, Relaxed);
            self.used_peak.fetch_max(self.heap.used(), Relaxed);
            self.count.fetch_add(1, Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract (`ptr` came from this
        // allocator with `layout`), passed on as is.
        unsafe { self.heap.dealloc(ptr, layout) };
        self.live.fetch_sub(layout.size(), Relaxed);
    }
}

// ---------------------------------------------------------------------------------------------
// Stack.

unsafe extern "C" {
    /// Lowest address the stack may reach (cortex-m-rt: the end of `.uninit`).
    static _stack_end: u32;
    /// Initial stack pointer (cortex-m-rt: the top of RAM).
    static _stack_start: u32;
}

/// The word written into unused stack.
const PAINT: u32 = 0x5A5A_A5A5;
/// Bytes left unpainted just below the stack pointer of the painting function.
const MARGIN: usize = 32;

/// Lowest and highest stack addresses.
pub fn stack_bounds() -> (usize, usize) {
    ((&raw const _stack_end) as usize, (&raw const _stack_start) as usize)
}

/// Size of the stack region.
pub fn stack_size() -> usize {
    let (bottom, top) = stack_bounds();
    top - bottom
}

/// Bytes of stack in use at the caller: from the top of the stack to its stack pointer.
#[inline(always)]
pub fn stack_depth() -> usize {
    let (_, top) = stack_bounds();
    top - cortex_m::register::msp::read() as usize
}

/// Paints the unused stack from its bottom up to [`MARGIN`] bytes below the current stack pointer.
#[inline(never)]
pub fn paint_stack() {
    let (bottom, _) = stack_bounds();
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = bottom;
    while p + 4 <= sp - MARGIN {
        // SAFETY: `p` is word aligned (cortex-m-rt aligns `_stack_end` to 4) and lies between the
        // stack's lowest address and below the live frames (the stack pointer minus a margin that
        // this loop, which calls nothing, never grows into): memory no one else uses.
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// Bytes of stack used since the last paint: from the top down to the lowest overwritten word.
#[inline(never)]
pub fn stack_used() -> usize {
    let (bottom, top) = stack_bounds();
    let mut p = bottom;
    // SAFETY: `p` stays word aligned inside the stack region, which is RAM that is always
    // mapped; a word an exception frame writes meanwhile only changes the value read.
    while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    top - p
}
