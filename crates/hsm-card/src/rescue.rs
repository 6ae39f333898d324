//! The rescue applet of every Pico Keys firmware (reference §3.27; upstream `pico-keys-sdk`
//! `src/rescue.c`): device identity, PHY configuration, flash information, real-time clock, the
//! device key ("keydev") and reboot. Host tools (pypicokey, the PicoKey App) select it first to
//! learn which device and product they talk to.
//!
//! Parse first ([`Command::parse`]: class, INS, P1-P2 and lengths, in upstream's order), then ask
//! for the button where upstream does, then execute. A refused command changes nothing.

use alloc::vec::Vec;

use hsm_apdu::{CommandView, Reply, Status, tlv};
use hsm_crypto::asym::{Curve, EcPrivateKey};

use crate::files::fid;
use crate::platform::Reboot;
use crate::{App, Platform, VERSION};

/// The rescue applet's AID (upstream `rescue_aid`).
pub const AID: [u8; 8] = [0xA0, 0x58, 0x3F, 0xC1, 0x9B, 0x7E, 0x4F, 0x21];

/// Product number of the HSM (upstream `PICO_PRODUCT`, pypicokey `Product.HSM`).
const PRODUCT_HSM: u8 = 1;

/// The PHY configuration (reference §10.3, upstream `EF_PHY`). Internal: the HSM application can
/// neither read nor write it, and INITIALIZE keeps it.
pub const PHY_FID: u16 = 0xE020;

/// The rescue applet's class byte; any other answers 6E00 (upstream `rescue_process_apdu`).
const CLA_RESCUE: u8 = 0x80;

/// The clock, as set by INS 1C P1 02: the Unix time `secs` at monotonic instant `at_ms`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rtc {
    secs: u64,
    at_ms: u64,
}

/// How INS 1C/1E P1 04 carry the time (P2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TimeFormat {
    /// P2 01: `year(2, BE) month(0-11) day weekday(0 = Sunday) hour minute second`, UTC.
    Calendar,
    /// P2 02: seconds since 1970-01-01 UTC, 4 bytes big-endian.
    Epoch,
}

impl TimeFormat {
    fn from_p2(p2: u8) -> Result<Self, Status> {
        match p2 {
            0x01 => Ok(Self::Calendar),
            0x02 => Ok(Self::Epoch),
            _ => Err(Status::IncorrectP1P2),
        }
    }
}

/// One parsed rescue command.
#[derive(Debug, PartialEq, Eq)]
enum Command<'a> {
    /// 10 01: upstream signs a 32-byte hash with its keydev key. Refused here (6A81): our device
    /// key is the attestation key of every CV request, and a signature over a host's hash would
    /// let the host forge the attestation of a key made outside the card.
    KeydevSign,
    /// 10 02: the device key's public point.
    KeydevPublic,
    /// 10 03: replace C_DevAut (2F02) with a certificate chain for the device key (button).
    KeydevCertificate(&'a [u8]),
    /// 1C 01: replace the PHY configuration (button).
    WritePhy(&'a [u8]),
    /// 1C 02: set the clock.
    SetTime(u64),
    /// 1E 01: the PHY configuration.
    ReadPhy,
    /// 1E 02: flash information.
    FlashInfo,
    /// 1E 03: secure-boot status.
    SecureBoot,
    /// 1E 04: the clock.
    GetTime(TimeFormat),
    /// 1F: reboot (BOOTSEL: button).
    Reboot(Reboot),
}

impl<'a> Command<'a> {
    fn parse(cmd: &CommandView<'a>) -> Result<Self, Status> {
        if cmd.cla != CLA_RESCUE {
            return Err(Status::ClassNotSupported);
        }
        let data = cmd.data;
        let no_p2 = |c: Command<'a>| if cmd.p2 == 0 { Ok(c) } else { Err(Status::IncorrectP1P2) };
        match cmd.ins {
            0x10 => match cmd.p1 {
                0x01 if data.len() != 32 => Err(Status::WrongLength),
                0x01 => no_p2(Command::KeydevSign),
                0x02 if !data.is_empty() => Err(Status::WrongLength),
                0x02 => no_p2(Command::KeydevPublic),
                0x03 if data.is_empty() => Err(Status::WrongLength),
                0x03 => no_p2(Command::KeydevCertificate(data)),
                _ => Err(Status::IncorrectP1P2),
            },
            0x1C => {
                // Upstream `cmd_write` checks the length before anything else.
                if data.len() < 2 {
                    return Err(Status::WrongLength);
                }
                match cmd.p1 {
                    0x01 => {
                        check_phy(data)?;
                        no_p2(Command::WritePhy(data))
                    }
                    0x02 => Ok(Command::SetTime(parse_time(TimeFormat::from_p2(cmd.p2)?, data)?)),
                    _ => Err(Status::IncorrectP1P2),
                }
            }
            0x1E => {
                if !data.is_empty() {
                    return Err(Status::WrongLength);
                }
                match cmd.p1 {
                    0x01 => no_p2(Command::ReadPhy),
                    0x02 => no_p2(Command::FlashInfo),
                    0x03 => no_p2(Command::SecureBoot),
                    0x04 => Ok(Command::GetTime(TimeFormat::from_p2(cmd.p2)?)),
                    _ => Err(Status::IncorrectP1P2),
                }
            }
            0x1F => {
                if !data.is_empty() {
                    return Err(Status::WrongLength);
                }
                match cmd.p1 {
                    0x00 => no_p2(Command::Reboot(Reboot::Normal)),
                    0x01 => no_p2(Command::Reboot(Reboot::Bootsel)),
                    _ => Err(Status::IncorrectP1P2),
                }
            }
            // 1D (secure boot) exists upstream on the RP2350 and ESP32 only: not offered here.
            _ => Err(Status::InstructionNotSupported),
        }
    }

    /// Whether upstream asks for the button before this command.
    fn needs_button(&self) -> bool {
        matches!(
            self,
            Command::KeydevCertificate(_) | Command::WritePhy(_) | Command::Reboot(Reboot::Bootsel)
        )
    }
}

/// Checks a PHY configuration: `tag len value` items of the tags of reference §10.3, each at most
/// once, with their lengths. Anything else is 6700 (upstream's "wrong data").
fn check_phy(data: &[u8]) -> Result<(), Status> {
    let mut seen = 0u16;
    let mut rest = data;
    while let Some((&tag, after)) = rest.split_first() {
        let (&len, after) = after.split_first().ok_or(Status::WrongLength)?;
        let (value, after) = after.split_at_checked(usize::from(len)).ok_or(Status::WrongLength)?;
        let ok = match tag {
            // VID:PID; curves bitmap.
            0x00 | 0x0A => value.len() == 4,
            // LED GPIO, LED brightness, button timeout, USB interfaces, LED driver.
            0x04 | 0x05 | 0x08 | 0x0B | 0x0C => value.len() == 1,
            // Options.
            0x06 => value.len() == 2,
            // USB product string: printable ASCII, optionally NUL-terminated.
            0x09 => {
                let text = value.strip_suffix(&[0]).unwrap_or(value);
                !text.is_empty() && value.len() <= 32 && text.iter().all(|c| (0x20..0x7F).contains(c))
            }
            _ => false,
        };
        let bit = 1u16 << (tag & 0x0F);
        if !ok || seen & bit != 0 {
            return Err(Status::WrongLength);
        }
        seen |= bit;
        rest = after;
    }
    Ok(())
}

/// The Unix time a SET TIME carries.
fn parse_time(format: TimeFormat, data: &[u8]) -> Result<u64, Status> {
    match format {
        TimeFormat::Epoch => {
            let b: [u8; 4] = data.try_into().map_err(|_| Status::WrongLength)?;
            Ok(u64::from(u32::from_be_bytes(b)))
        }
        TimeFormat::Calendar => {
            let [y0, y1, month, day, _weekday, hour, minute, second]: [u8; 8] =
                data.try_into().map_err(|_| Status::WrongLength)?;
            let year = u16::from_be_bytes([y0, y1]);
            // The epoch format's range: 1970 up to 2106-02-07.
            let valid = (1970..=2105).contains(&year)
                && month < 12
                && day >= 1
                && day <= days_in_month(year, month)
                && hour < 24
                && minute < 60
                && second < 60;
            if !valid {
                return Err(Status::WrongLength);
            }
            let days = days_from_civil(i64::from(year), u32::from(month) + 1, u32::from(day));
            let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
            u64::try_from(secs).map_err(|_| Status::WrongLength)
        }
    }
}

fn days_in_month(year: u16, month0: u8) -> u8 {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    match month0 {
        1 if leap => 29,
        1 => 28,
        3 | 5 | 8 | 10 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant, "chrono-compatible low-level
/// date algorithms").
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The calendar date of a day count since 1970-01-01: (year, month 1-12, day).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The 8-byte calendar form of Unix time `secs` (UTC), as upstream's GET TIME P2 01.
fn calendar(secs: u64) -> [u8; 8] {
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let [y0, y1] = u16::try_from(year).unwrap_or(u16::MAX).to_be_bytes();
    // 1970-01-01 was a Thursday (4, with Sunday 0 as `tm_wday`).
    let weekday = (days + 4).rem_euclid(7) as u8;
    [
        y0,
        y1,
        (month - 1) as u8,
        day as u8,
        weekday,
        (rem / 3600) as u8,
        (rem / 60 % 60) as u8,
        (rem % 60) as u8,
    ]
}

impl<P: Platform> App<P> {
    /// SELECT of the rescue applet: `MCU ‖ product ‖ version major ‖ minor ‖ serial(8)` (upstream
    /// `rescue_select`). The HSM application's session ends, as upstream's `unload` ends it.
    pub(crate) fn select_rescue(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        let fci = match cmd.p2 & 0xFC {
            0x00 | 0x04 => true,
            0x0C => false,
            _ => return Err(Status::IncorrectP1P2),
        };
        self.session = crate::Session {
            rescue_selected: true,
            ..crate::Session::default()
        };
        if fci {
            reply.extend(&[self.platform.mcu() as u8, PRODUCT_HSM, VERSION.0, VERSION.1])?;
            reply.extend(&self.serial)?;
        }
        Ok(())
    }

    /// A command to the selected rescue applet.
    pub(crate) fn rescue(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        let command = Command::parse(cmd)?;
        // Checks that need no button come first, so that a command bound to fail never asks for it.
        match &command {
            Command::KeydevCertificate(chain) => self.check_device_chain(chain)?,
            Command::KeydevSign => return Err(Status::FunctionNotSupported),
            _ => {}
        }
        if command.needs_button() && !self.platform.confirm() {
            return Err(Status::SecurityIssue);
        }
        match command {
            Command::KeydevSign => return Err(Status::FunctionNotSupported),
            Command::KeydevPublic => {
                if self.device_key()?.is_none() {
                    self.ensure_device_identity()?;
                }
                let key = self.device_ec_key()?.ok_or(Status::ExecutionError)?;
                reply.extend(&key.public_key().map_err(|_| Status::ExecutionError)?)?;
            }
            Command::KeydevCertificate(chain) => self.write_file(fid::C_DEVAUT, chain)?,
            Command::WritePhy(phy) => self.write_file(PHY_FID, phy)?,
            Command::SetTime(secs) => {
                let at_ms = self.platform.monotonic_ms().ok_or(Status::FunctionNotSupported)?;
                self.rtc = Some(Rtc { secs, at_ms });
            }
            Command::ReadPhy => {
                if let Some(phy) = self.read_file(PHY_FID)? {
                    reply.extend(&phy)?;
                }
            }
            Command::FlashInfo => self.flash_info(reply)?,
            // No secure boot on these boards (upstream's answer on the RP2040 and in emulation).
            Command::SecureBoot => reply.extend(&[0x00, 0x00, 0xFF])?,
            Command::GetTime(format) => {
                let secs = self.now()?.ok_or(Status::ConditionsNotSatisfied)?;
                match format {
                    TimeFormat::Calendar => reply.extend(&calendar(secs))?,
                    TimeFormat::Epoch => reply.extend(&u32::try_from(secs).unwrap_or(u32::MAX).to_be_bytes())?,
                }
            }
            Command::Reboot(mode) => self
                .platform
                .request_reboot(mode)
                .map_err(|_| Status::FunctionNotSupported)?,
        }
        Ok(())
    }

    /// The device key (slot 0) as an EC key, if there is one.
    fn device_ec_key(&mut self) -> Result<Option<EcPrivateKey>, Status> {
        let Some(secret) = self.device_key()? else {
            return Ok(None);
        };
        EcPrivateKey::from_bytes(Curve::Secp256r1, &secret[..])
            .map(Some)
            .map_err(|_| Status::ExecutionError)
    }

    /// A certificate chain for C_DevAut must be CV certificates (`7F21`) back to back, the first one
    /// for the device key: anything else would make the HSM's attestations unverifiable.
    fn check_device_chain(&mut self, chain: &[u8]) -> Result<(), Status> {
        for item in tlv::Reader::new(chain) {
            if item.map_err(|_| Status::WrongLength)?.tag != 0x7F21 {
                return Err(Status::WrongLength);
            }
        }
        let body = crate::cvc::find_body(chain).ok().flatten().ok_or(Status::WrongLength)?;
        let point = tlv::find(body, 0x7F49)
            .ok()
            .flatten()
            .and_then(|key| tlv::find(key, 0x86).ok().flatten())
            .ok_or(Status::WrongLength)?;
        let key = self.device_ec_key()?.ok_or(Status::ReferenceNotFound)?;
        let public = key.public_key().map_err(|_| Status::ExecutionError)?;
        if point != public.as_slice() {
            return Err(Status::ConditionsNotSatisfied);
        }
        Ok(())
    }

    /// `free ‖ used ‖ total ‖ files ‖ flash size [‖ firmware size]`, each 4 bytes big-endian
    /// (upstream `cmd_read` P1 02). Free, used and total count file data of the main store.
    fn flash_info(&mut self, reply: &mut Reply<'_>) -> Result<(), Status> {
        let store = self.platform.store();
        let free = store.free_space();
        let total = store.max_file_size();
        let files = store.fids().count();
        let be = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes();
        let mut info = Vec::with_capacity(24);
        info.extend_from_slice(&be(free));
        info.extend_from_slice(&be(total.saturating_sub(free)));
        info.extend_from_slice(&be(total));
        info.extend_from_slice(&be(files));
        info.extend_from_slice(&self.platform.flash_size().to_be_bytes());
        if let Some(size) = self.platform.firmware_size() {
            info.extend_from_slice(&size.to_be_bytes());
        }
        reply.extend(&info)?;
        Ok(())
    }

    /// The Unix time now, `None` until the clock is set.
    fn now(&mut self) -> Result<Option<u64>, Status> {
        let Some(rtc) = self.rtc else {
            return Ok(None);
        };
        let now_ms = self.platform.monotonic_ms().ok_or(Status::ExecutionError)?;
        Ok(Some(rtc.secs.saturating_add(now_ms.saturating_sub(rtc.at_ms) / 1000)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips() {
        for secs in [0u64, 951_782_400, 1_700_000_000, 4_102_444_799, 4_291_747_199] {
            let c = calendar(secs);
            assert_eq!(parse_time(TimeFormat::Calendar, &c).unwrap(), secs, "{c:?}");
        }
        // 2000-02-29 12:34:56 UTC, a Tuesday.
        assert_eq!(calendar(951_827_696), [0x07, 0xD0, 1, 29, 2, 12, 34, 56]);
        // 1970-01-01 was a Thursday.
        assert_eq!(calendar(0), [0x07, 0xB2, 0, 1, 4, 0, 0, 0]);
    }

    #[test]
    fn impossible_dates_are_refused() {
        for bad in [
            [0x07, 0xB1, 0, 1, 0, 0, 0, 0],  // 1969
            [0x07, 0xE9, 12, 1, 0, 0, 0, 0], // month 12
            [0x07, 0xE9, 1, 29, 0, 0, 0, 0], // 2025-02-29
            [0x07, 0xE9, 0, 0, 0, 0, 0, 0],  // day 0
            [0x07, 0xE9, 0, 1, 0, 24, 0, 0], // hour 24
            [0x07, 0xE9, 0, 1, 0, 0, 60, 0], // minute 60
            [0x07, 0xE9, 0, 1, 0, 0, 0, 60], // second 60
        ] {
            assert_eq!(
                parse_time(TimeFormat::Calendar, &bad),
                Err(Status::WrongLength),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn phy_items_are_checked() {
        assert!(check_phy(&[0x05, 1, 0x42, 0x06, 2, 0x00, 0x08]).is_ok());
        assert!(check_phy(&[0x00, 4, 0x2E, 0x8A, 0x10, 0xFD, 0x09, 4, b'a', b'b', b'c', 0]).is_ok());
        assert!(check_phy(&[0x05, 2, 0x42, 0x00]).is_err());
        assert!(check_phy(&[0x05, 1, 0x42, 0x05, 1, 0x43]).is_err());
        assert!(check_phy(&[0x05, 1]).is_err());
        assert!(check_phy(&[0x07, 1, 0]).is_err());
        assert!(check_phy(&[0x09, 1, 0]).is_err());
    }
}
