//! Pico HSM firmware: the SmartCard-HSM card core (`hsm-card`) behind USB CCID on the Raspberry Pi
//! Pico (RP2040, feature `rp2040`) and Pico 2 (RP2350, feature `rp235x`).
//!
//! # How it runs
//! * USB runs on an interrupt executor (software interrupt SWI_IRQ_1): the device task, the CCID
//!   class (`hsm_ccid::usb`) and the LED. It preempts the card whenever the bus needs it, so time
//!   extensions go out every 500 ms even during an RSA-4096 key generation.
//! * The card runs in thread mode, in `main`'s loop: it sleeps (WFE) until the mailbox (`port`)
//!   holds a command or a power event, runs `Card::transmit`, and hands the answer back.
//! * Flash writes stop the whole chip for the erase or program time (XIP is off meanwhile): embassy-rp
//!   runs them from RAM with interrupts disabled. The USB host sees NAKs for those milliseconds.
//!
//! * Core 1 (RP2040 only) searches RSA primes in parallel with a key generation on core 0
//!   (`core1`); it sleeps otherwise. The Pico 2 runs everything on core 0.
//!
//! # Start-up
//! Mount both stores (a store region that is not ours is never erased: the board waits for BOOTSEL
//! held 5 s, see [`mount_or_wait`]), load the device root (`root`), then serve USB. Any fault that
//! would risk keys stops the board with the LED blinking 100/100 ms (the panic handler).
#![no_std]
#![no_main]

#[cfg(feature = "rp2040")]
mod core1;
mod entropy;
mod layout;
mod led;
#[cfg(feature = "rp2040")]
mod lmul;
mod platform;
mod port;
mod root;

use core::cell::RefCell;
use core::mem::MaybeUninit;

use embassy_executor::InterruptExecutor;
use embassy_rp::flash::Flash;
use embassy_rp::gpio::{Level, Output};
use embassy_rp::interrupt;
use embassy_rp::interrupt::{InterruptExt, Priority};
use embassy_rp::peripherals::USB;
use embassy_rp::usb::Driver;
use embassy_sync::blocking_mutex::Mutex;
use embassy_usb::{Builder, Handler};
use embedded_alloc::LlffHeap as Heap;
use hsm_card::Card;
use hsm_ccid::Ccid;
use hsm_ccid::usb::{CcidClass, State};
use hsm_store::Store;
use static_cell::StaticCell;

use crate::layout::{CCID_MESSAGE, COUNTERS_SIZE, COUNTERS_START, MAIN_SIZE, MAIN_START, MAX_APDU};
use crate::platform::{Board, Part, SharedFlash};
use crate::port::MAX_RESPONSE;

embassy_rp::bind_interrupts!(struct Irqs {
    USBCTRL_IRQ => embassy_rp::usb::InterruptHandler<USB>;
});

#[cfg(feature = "rp235x")]
embassy_rp::bind_interrupts!(struct TrngIrqs {
    TRNG_IRQ => embassy_rp::trng::InterruptHandler<embassy_rp::peripherals::TRNG>;
});

/// The heap: key objects, big integers, file contents (`hsm-card` allocates per command). 152 KiB:
/// 160 KiB before core 1's stack (`core1::STACK_SIZE`) took 8 of them.
#[cfg(feature = "rp2040")]
const HEAP_SIZE: usize = 152 * 1024;
/// The heap: key objects, big integers, file contents (`hsm-card` allocates per command). 320 KiB
/// leaves room for the P-256 and secp256k1 tables in .bss (an RSA-4096 key generation peaks at
/// 19 KB of heap on the Cortex-M33, README "Boards").
#[cfg(feature = "rp235x")]
const HEAP_SIZE: usize = 320 * 1024;

#[global_allocator]
static HEAP: Heap = Heap::empty();

/// USB vendor and product id (reference §10.1: granted by Raspberry Pi to Pico Keys).
const USB_VID: u16 = 0x2E8A;
const USB_PID: u16 = 0x10FD;

static EXECUTOR_USB: InterruptExecutor = InterruptExecutor::new();

#[interrupt]
unsafe fn SWI_IRQ_1() {
    // SAFETY: the interrupt executor is started on exactly this interrupt in `main`.
    unsafe { EXECUTOR_USB.on_interrupt() }
}

type UsbDriver = Driver<'static, USB>;

/// The USB device with its one CCID interface, built and served on the USB executor (the
/// device is not `Send`, so it is made where it runs).
#[embassy_executor::task]
async fn usb(driver: UsbDriver, serial: &'static str) -> ! {
    let mut config = embassy_usb::Config::new(USB_VID, USB_PID);
    config.manufacturer = Some("Pico HSM");
    config.product = Some("Pico Key");
    config.serial_number = Some(serial);
    config.max_power = 100;
    config.max_packet_size_0 = 64;
    config.device_release = 0x0100;
    // One function (the CCID interface): the class is per interface, as upstream's device descriptor
    // has it (bDeviceClass 0). embassy-usb's default is a composite device (0xEF/02/01) with an
    // interface association descriptor in front of the interface.
    config.device_class = 0;
    config.device_sub_class = 0;
    config.device_protocol = 0;
    config.composite_with_iads = false;

    static CONFIG_DESC: StaticCell<[u8; 256]> = StaticCell::new();
    static BOS_DESC: StaticCell<[u8; 64]> = StaticCell::new();
    static CONTROL_BUF: StaticCell<[u8; 64]> = StaticCell::new();
    static CCID_STATE: StaticCell<State> = StaticCell::new();
    static LED_HANDLER: StaticCell<LedHandler> = StaticCell::new();
    static READER: StaticCell<Ccid<'static, CCID_MESSAGE>> = StaticCell::new();
    let mut builder = Builder::new(
        driver,
        config,
        CONFIG_DESC.init([0; 256]),
        BOS_DESC.init([0; 64]),
        &mut [],
        CONTROL_BUF.init([0; 64]),
    );
    let mut class: CcidClass<'static, UsbDriver, CCID_MESSAGE> =
        CcidClass::new(&mut builder, CCID_STATE.init(State::new()));
    builder.handler(LED_HANDLER.init(LedHandler));
    let mut device = builder.build();
    let reader = READER.init(Ccid::new(&hsm_card::ATR));
    let (never, _) = embassy_futures::join::join(device.run(), class.run(reader, &mut port::Port)).await;
    never
}

/// USB device state for the LED.
struct LedHandler;

impl Handler for LedHandler {
    fn configured(&mut self, configured: bool) {
        led::set_mounted(configured);
    }

    fn suspended(&mut self, suspended: bool) {
        led::set_suspended(suspended);
    }

    fn reset(&mut self) {
        led::set_mounted(false);
    }
}

/// The 16 hex digits of the serial, the USB serial number string.
fn serial_hex(serial: &[u8; 8], out: &'static mut [u8; 16]) -> &'static str {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for (i, b) in serial.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 0xF)];
    }
    core::str::from_utf8(out).unwrap_or("0000000000000000")
}

/// Mounts a store. If the region holds something that is not a store of ours (another firmware's
/// files, or damage), nothing is erased on our own. On the Pico the LED shows "waiting for the
/// button" and only BOOTSEL held for 5 seconds formats the region; on the Pico 2 (no BOOTSEL
/// reading yet) the board stops with the fault pattern, and the README tells how to erase.
fn mount_or_wait(part: Part, bootsel: &mut embassy_rp::Peri<'static, embassy_rp::peripherals::BOOTSEL>) -> Store<Part> {
    let part = match Store::mount(part.clone()) {
        Ok(store) => return store,
        Err(_) => part,
    };
    #[cfg(feature = "rp235x")]
    {
        let _ = (part, bootsel);
        panic!("the store region holds no store of ours");
    }
    #[cfg(feature = "rp2040")]
    {
        led::set_waiting_button(true);
        let mut held_ms = 0u32;
        while held_ms < 5000 {
            embassy_time::block_for(embassy_time::Duration::from_millis(50));
            if embassy_rp::bootsel::is_bootsel_pressed(bootsel.reborrow()) {
                held_ms += 50;
            } else {
                held_ms = 0;
            }
        }
        led::set_waiting_button(false);
        match Store::format(part) {
            Ok(store) => store,
            Err(_) => panic!("cannot format the store region"),
        }
    }
}

#[cortex_m_rt::entry]
fn main() -> ! {
    {
        static mut HEAP_MEM: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];
        // SAFETY: called once, before any allocation; HEAP_MEM is used by nothing else.
        unsafe { HEAP.init(&raw mut HEAP_MEM as usize, HEAP_SIZE) }
    }

    // Every u64 product of the crypto goes through our `__aeabi_lmul`: a wrong one would make wrong
    // signatures, so it is checked before anything else runs.
    #[cfg(feature = "rp2040")]
    if !lmul::self_test() {
        panic!("__aeabi_lmul self-test failed");
    }

    let p = embassy_rp::init(Default::default());
    #[cfg(feature = "rp2040")]
    core1::start(p.CORE1);
    let led_pin = Output::new(p.PIN_25, Level::Low);
    let mut bootsel = p.BOOTSEL;

    // USB first, so the LED and the host see the device while the stores mount.
    interrupt::SWI_IRQ_1.set_priority(Priority::P1);
    let spawner = EXECUTOR_USB.start(interrupt::SWI_IRQ_1);
    spawner.spawn(led::run(led_pin)).expect("LED task");

    #[cfg_attr(feature = "rp235x", allow(unused_mut))]
    let mut flash = Flash::<_, embassy_rp::flash::Blocking, { layout::FLASH_SIZE }>::new_blocking(p.FLASH);
    #[cfg(feature = "rp2040")]
    let serial = {
        let mut uid = [0u8; 8];
        if flash.blocking_unique_id(&mut uid).is_err() {
            panic!("cannot read the flash unique id");
        }
        uid
    };
    #[cfg(feature = "rp235x")]
    let serial = match embassy_rp::otp::get_chipid() {
        Ok(id) => id.to_be_bytes(),
        Err(_) => panic!("cannot read the chip id"),
    };

    static FLASH: StaticCell<SharedFlash> = StaticCell::new();
    let flash: &'static SharedFlash = FLASH.init(Mutex::new(RefCell::new(flash)));
    let store = mount_or_wait(Part::new(flash, MAIN_START, MAIN_SIZE), &mut bootsel);
    #[cfg_attr(feature = "rp235x", allow(unused_mut))]
    let mut counters = mount_or_wait(Part::new(flash, COUNTERS_START, COUNTERS_SIZE), &mut bootsel);

    #[cfg(feature = "rp2040")]
    let mut source = entropy::Source::new();
    #[cfg(feature = "rp235x")]
    let mut source = entropy::Source::new(embassy_rp::trng::Trng::new(
        p.TRNG,
        TrngIrqs,
        embassy_rp::trng::Config::default(),
    ));
    let mut fill = |buf: &mut [u8]| source.fill(buf).map_err(|_| root::RootError::Entropy);
    #[cfg(feature = "rp2040")]
    let secret = root::load_from_store(&mut counters, &mut fill);
    #[cfg(feature = "rp235x")]
    let secret = root::load_otp(&mut fill);
    let secret = match secret {
        Ok(s) => s,
        Err(e) => panic!("device root: {e:?}"),
    };

    static CARD: StaticCell<Card<Board>> = StaticCell::new();
    let card = CARD.init(Card::new(Board::new(
        store,
        counters,
        source,
        secret,
        serial,
        #[cfg(feature = "rp2040")]
        bootsel,
    )));

    static SERIAL: StaticCell<[u8; 16]> = StaticCell::new();
    let serial_str = serial_hex(&serial, SERIAL.init([0; 16]));
    spawner
        .spawn(usb(Driver::new(p.USB, Irqs), serial_str))
        .expect("USB task");

    // The card, in thread mode.
    static COMMAND: StaticCell<[u8; MAX_APDU]> = StaticCell::new();
    static RESPONSE: StaticCell<[u8; MAX_RESPONSE]> = StaticCell::new();
    let command = COMMAND.init([0; MAX_APDU]);
    let response = RESPONSE.init([0; MAX_RESPONSE]);
    loop {
        let job = port::take_job(command);
        if job.reset {
            card.reset();
        }
        match job.command {
            Some(len) => {
                let n = card.transmit(&command[..len], response);
                port::finish(&response[..n.min(response.len())]);
                if let Some(mode) = card.platform_mut().take_reboot() {
                    reboot(mode);
                }
            }
            None if !job.reset => cortex_m::asm::wfe(),
            None => {}
        }
    }
}

/// The rescue applet's reboot, once its answer is on its way: the USB executor gets 100 ms to send
/// it (upstream's `watchdog_reboot(0, 0, 100)`). Flash writes are complete when a command returns.
fn reboot(mode: hsm_card::Reboot) -> ! {
    embassy_time::block_for(embassy_time::Duration::from_millis(100));
    match mode {
        hsm_card::Reboot::Normal => cortex_m::peripheral::SCB::sys_reset(),
        hsm_card::Reboot::Bootsel => {
            embassy_rp::rom_data::reset_to_usb_boot(0, 0);
            // The boot ROM does not return; if it ever did, a plain reset is the safe way out.
            cortex_m::peripheral::SCB::sys_reset()
        }
    }
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    cortex_m::interrupt::disable();
    // The fault pattern on the LED (GPIO 25, already an output): 100 ms on, 100 ms off, forever.
    // USB stops being served, so the host sees the device go away.
    loop {
        embassy_rp::pac::SIO.gpio_out(0).value_xor().write_value(1 << 25);
        cortex_m::asm::delay(12_500_000);
    }
}
