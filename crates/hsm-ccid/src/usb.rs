//! The CCID class for `embassy-usb` (feature `embassy-usb`): one interface (class 0x0B) with
//! bulk-OUT, bulk-IN and interrupt-IN endpoints, the class descriptor of [`Ccid::CLASS_DESCRIPTOR`],
//! the class-specific ABORT control request, and a run loop that moves messages between the
//! endpoints, the [`Ccid`] core and the card.
//!
//! The card works elsewhere (a lower-priority executor or thread mode): [`CardPort`] hands it a
//! command and waits for its answer, while this loop keeps serving the bus and sends a time
//! extension every [`TIME_EXTENSION_INTERVAL`]. A command aborted by the host, a bus reset or a
//! power-off while the card works only marks its answer stale: it is dropped when it comes, and
//! the command the host sent meanwhile is started then.

use core::sync::atomic::{AtomicBool, Ordering};

use embassy_futures::select::{Either4, select, select4};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::signal::Signal;
use embassy_time::{Duration, Timer};
use embassy_usb::control::{InResponse, OutResponse, Recipient, Request, RequestType};
use embassy_usb::driver::{Driver, Endpoint, EndpointError, EndpointIn, EndpointOut};
use embassy_usb::types::InterfaceNumber;
use embassy_usb::{Builder, Handler};

use crate::{Ccid, Event, NOTIFY_SLOT_CHANGE_PRESENT, PACKET_SIZE, msg};

/// USB interface class of smart-card readers (CCID).
pub const CLASS_CCID: u8 = 0x0B;

/// How often a time extension goes out while the card works (CCID hosts wait at least a second;
/// libccid's default read timeout is far longer, so half a second leaves a wide margin).
pub const TIME_EXTENSION_INTERVAL: Duration = Duration::from_millis(500);

/// The card behind the reader, running outside the USB executor.
#[allow(async_fn_in_trait)]
pub trait CardPort {
    /// Hands `apdu` to the card. Called only while no earlier command is running.
    fn start(&mut self, apdu: &[u8]);
    /// Resolves when the command given to [`CardPort::start`] is answered. Must be cancel-safe
    /// (it is polled inside a `select`).
    async fn done(&mut self);
    /// Copies the answer (data and status word) into `out` and returns its length (capped to
    /// `out`). Called once after [`CardPort::done`]; `out` is `None` to drop a stale answer.
    fn take_response(&mut self, out: Option<&mut [u8]>) -> usize;
    /// IccPowerOn / IccPowerOff / bus reset: the card's volatile state must be cleared before it
    /// runs the next command.
    fn power(&mut self, on: bool);
    /// The card is busy (`true`) or idle again (`false`); for an LED.
    fn busy(&mut self, busy: bool) {
        let _ = busy;
    }
}

/// What the control handler passes to the run loop.
struct Shared {
    abort: Signal<CriticalSectionRawMutex, (u8, u8)>,
    configured: AtomicBool,
}

/// Storage for the class's control handler; lives as long as the USB device (a `static`).
pub struct State<'a> {
    control: Option<Control<'a>>,
    shared: Shared,
}

impl Default for State<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl State<'_> {
    /// Empty state for [`CcidClass::new`].
    #[must_use]
    pub const fn new() -> Self {
        Self {
            control: None,
            shared: Shared {
                abort: Signal::new(),
                configured: AtomicBool::new(false),
            },
        }
    }
}

struct Control<'a> {
    iface: InterfaceNumber,
    shared: &'a Shared,
}

impl Handler for Control<'_> {
    fn configured(&mut self, configured: bool) {
        self.shared.configured.store(configured, Ordering::Relaxed);
    }

    fn control_out(&mut self, req: Request, _data: &[u8]) -> Option<OutResponse> {
        if (req.request_type, req.recipient, req.index)
            != (RequestType::Class, Recipient::Interface, self.iface.0.into())
        {
            return None;
        }
        if req.request == msg::REQUEST_ABORT {
            // wValue: bSeq in the high byte, bSlot in the low byte (CCID Rev 1.1 §5.3.1).
            let [slot, seq] = req.value.to_le_bytes();
            self.shared.abort.signal((slot, seq));
            return Some(OutResponse::Accepted);
        }
        Some(OutResponse::Rejected)
    }

    fn control_in<'a>(&'a mut self, req: Request, _buf: &'a mut [u8]) -> Option<InResponse<'a>> {
        if (req.request_type, req.recipient, req.index)
            != (RequestType::Class, Recipient::Interface, self.iface.0.into())
        {
            return None;
        }
        // GET_CLOCK_FREQUENCIES / GET_DATA_RATES: the descriptor announces no lists to ask for.
        Some(InResponse::Rejected)
    }
}

/// Where the card stands relative to the CCID core's pending command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CardState {
    Idle,
    /// Working on the core's pending command.
    Running,
    /// Working on a command the host gave up (abort, power-off, bus reset): answer dropped.
    Stale,
}

/// The CCID interface: endpoints plus the message core.
pub struct CcidClass<'d, D: Driver<'d>, const N: usize> {
    read_ep: D::EndpointOut,
    write_ep: D::EndpointIn,
    int_ep: D::EndpointIn,
    shared: &'d Shared,
}

impl<'d, D: Driver<'d>, const N: usize> CcidClass<'d, D, N> {
    /// Adds the CCID interface to `builder`. `N` is the message buffer size of the [`Ccid`] the
    /// class will run with (advertised as `dwMaxCCIDMessageLength`).
    pub fn new(builder: &mut Builder<'d, D>, state: &'d mut State<'d>) -> Self {
        let mut func = builder.function(CLASS_CCID, 0, 0);
        let mut iface = func.interface();
        let iface_number = iface.interface_number();
        let mut alt = iface.alt_setting(CLASS_CCID, 0, 0, None);
        // The class descriptor comes before the endpoints; `descriptor` writes bLength and type.
        let class = Ccid::<N>::CLASS_DESCRIPTOR;
        alt.descriptor(class[1], class.get(2..).unwrap_or(&[]));
        let read_ep = alt.endpoint_bulk_out(None, PACKET_SIZE as u16);
        let write_ep = alt.endpoint_bulk_in(None, PACKET_SIZE as u16);
        let int_ep = alt.endpoint_interrupt_in(None, 8, 255);
        drop(func);

        let State { control, shared } = state;
        let shared: &'d Shared = shared;
        let control = control.insert(Control {
            iface: iface_number,
            shared,
        });
        builder.handler(control);
        Self {
            read_ep,
            write_ep,
            int_ep,
            shared,
        }
    }

    /// Serves the reader forever: waits for configuration, announces the card on interrupt-IN,
    /// then moves messages until the bus is reset or deconfigured, and starts over.
    pub async fn run<C: CardPort>(&mut self, ccid: &mut Ccid<'_, N>, card: &mut C) -> ! {
        let mut state = CardState::Idle;
        loop {
            self.read_ep.wait_enabled().await;
            ccid.reset();
            card.power(false);
            if state == CardState::Running {
                state = CardState::Stale;
            }
            // Best effort, bounded: a host that does not read the interrupt endpoint still polls
            // the slot, and must not keep us from serving bulk-OUT.
            let _ = select(
                self.int_ep.write(&NOTIFY_SLOT_CHANGE_PRESENT),
                Timer::after(Duration::from_millis(100)),
            )
            .await;
            let _ = self.session(ccid, card, &mut state).await;
        }
    }

    /// One configured session; returns when an endpoint is disabled (bus reset, deconfigured).
    async fn session<C: CardPort>(
        &mut self,
        ccid: &mut Ccid<'_, N>,
        card: &mut C,
        state: &mut CardState,
    ) -> Result<(), EndpointError> {
        let mut packet = [0u8; PACKET_SIZE];
        loop {
            let working = *state != CardState::Idle;
            let waiting_host = ccid.is_busy();
            let event = select4(
                self.read_ep.read(&mut packet),
                async {
                    if working {
                        card.done().await
                    } else {
                        core::future::pending().await
                    }
                },
                async {
                    if waiting_host {
                        Timer::after(TIME_EXTENSION_INTERVAL).await
                    } else {
                        core::future::pending().await
                    }
                },
                self.shared.abort.wait(),
            )
            .await;
            match event {
                Either4::First(read) => {
                    let n = read?;
                    let data = packet.get(..n).unwrap_or(&[]);
                    match ccid.receive(data) {
                        Event::None => {}
                        Event::PowerOn => card.power(true),
                        Event::PowerOff => {
                            card.power(false);
                            if *state == CardState::Running {
                                *state = CardState::Stale;
                            }
                        }
                        Event::Command { apdu, .. } => {
                            if *state == CardState::Idle {
                                card.start(apdu);
                                card.busy(true);
                                *state = CardState::Running;
                            }
                            // Else the card still works on a stale command; this one waits in
                            // the core (`pending_command`) until that ends.
                        }
                        Event::Aborted { .. } => {
                            if *state == CardState::Running {
                                *state = CardState::Stale;
                            }
                        }
                    }
                }
                Either4::Second(()) => {
                    if *state == CardState::Running {
                        let len = card.take_response(ccid.response_buffer());
                        // NotBusy cannot happen (Running implies a pending command); TooLong has
                        // already been answered to the host with XFR_OVERRUN.
                        let _ = ccid.finish_response(len);
                        *state = CardState::Idle;
                    } else {
                        card.take_response(None);
                        *state = CardState::Idle;
                        if let Some((apdu, _)) = ccid.pending_command() {
                            card.start(apdu);
                            *state = CardState::Running;
                        }
                    }
                    if *state == CardState::Idle {
                        card.busy(false);
                    }
                }
                Either4::Third(()) => {
                    let _ = ccid.time_extension();
                }
                Either4::Fourth((slot, seq)) => {
                    if ccid.control_abort(slot, seq).is_some() && *state == CardState::Running {
                        *state = CardState::Stale;
                    }
                }
            }
            while let Some(p) = ccid.next_in_packet() {
                self.write_ep.write(p).await?;
            }
        }
    }

    /// Whether the host has configured the device (SET_CONFIGURATION seen, not reset since).
    #[must_use]
    pub fn configured(&self) -> bool {
        self.shared.configured.load(Ordering::Relaxed)
    }

    /// The bulk-OUT endpoint's address, for diagnostics.
    #[must_use]
    pub fn out_address(&self) -> u8 {
        self.read_ep.info().addr.into()
    }
}
