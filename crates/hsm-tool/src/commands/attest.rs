//! `attest KEYID`: is key KEYID really generated in a device that a trusted CA vouches for?
//!
//! Reads the key's authenticated request (CExx, reference §8.1) and the device's chain (C_DevAut,
//! 2F02), then checks, each as one step: the inner self-signature (the key's proof of
//! possession), the outer signature by the device key (the request was made in that device), and
//! every certificate from the device certificate up to a trust anchor: a `--ca` certificate, the
//! built-in upstream roots ([`UPSTREAM_ROOTS`]), or, with `--trust-device-issuer`, the
//! self-signed issuer at the end of the device's own chain. Parsing and signature checks are
//! `hsm_card::cvc`'s, the card's own.

use std::path::PathBuf;

use clap::Args;
use hsm_card::cvc::{self, Certificate};

use crate::Error;
use crate::card::reader::Connection;
use crate::card::{Client, Transport};
use crate::hsm;

/// Built-in trust anchors: upstream's picokeys.com roots ESPICOHSMCA00001 (P-256) and
/// ESPICOHSMCA00002 (secp256k1), published in pico-hsm's `doc/scs3.md`. Empty in this build: the
/// certificates could not be obtained offline when this was written; give them with `--ca`.
pub const UPSTREAM_ROOTS: &[&[u8]] = &[];

/// Most certificates followed from the device certificate to an anchor.
const MAX_DEPTH: usize = 8;

#[derive(Args)]
pub struct AttestArgs {
    /// The key's id (1-255), as `pkcs15-tool -D` or LIST KEYS shows it
    #[arg(value_name = "KEYID", value_parser = clap::value_parser!(u8).range(1..))]
    pub key_id: u8,
    /// A trust anchor: a CV certificate file (binary, as `ca init` writes it, or hex) or a `ca init`
    /// directory; may be given more than once [default: the built-in upstream roots]
    #[arg(long, value_name = "CERTFILE")]
    pub ca: Vec<PathBuf>,
    /// Also trust the self-signed issuer at the end of the device's own chain (out of the box the
    /// device's own issuer): proves the key is in the device that holds this chain, not which
    /// device it is
    #[arg(long)]
    pub trust_device_issuer: bool,
    /// Print the result as JSON (fields: key_id, verified, device, anchor, steps[{step, result, detail}])
    #[arg(long)]
    pub json: bool,
}

/// How one step went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
    /// Not applicable (a key that cannot sign has no proof of possession).
    Skipped,
}

impl Outcome {
    fn word(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }
}

/// One step of the verification.
#[derive(Clone, Debug)]
pub struct Step {
    pub step: String,
    pub outcome: Outcome,
    pub detail: String,
}

/// The whole verification.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub key_id: u8,
    pub steps: Vec<Step>,
    /// The device CHR the request names.
    pub device: Option<String>,
    /// The trust anchor reached.
    pub anchor: Option<String>,
}

impl Report {
    /// Every step passed (or did not apply) and a trust anchor was reached.
    pub fn verified(&self) -> bool {
        self.anchor.is_some() && self.steps.iter().all(|s| s.outcome != Outcome::Failed)
    }

    fn push(&mut self, step: impl Into<String>, outcome: Outcome, detail: impl Into<String>) -> bool {
        self.steps.push(Step {
            step: step.into(),
            outcome,
            detail: detail.into(),
        });
        outcome != Outcome::Failed
    }

    /// The report as text, one line per step and the verdict.
    pub fn text(&self) -> String {
        let mut s = format!("Attestation of key {} (CE{:02X})\n", self.key_id, self.key_id);
        for step in &self.steps {
            let mark = match step.outcome {
                Outcome::Ok => "  OK  ",
                Outcome::Failed => "FAILED",
                Outcome::Skipped => " SKIP ",
            };
            s.push_str(&format!("  [{mark}] {}: {}\n", step.step, step.detail));
        }
        if self.verified() {
            s.push_str(&format!(
                "Verdict: VERIFIED: key {} was generated in device {}, certified by {}\n",
                self.key_id,
                self.device.as_deref().unwrap_or("?"),
                self.anchor.as_deref().unwrap_or("?")
            ));
        } else {
            s.push_str(&format!(
                "Verdict: NOT VERIFIED: key {} has no valid attestation\n",
                self.key_id
            ));
        }
        s
    }

    /// The report as one JSON object.
    pub fn json(&self) -> String {
        let opt = |v: &Option<String>| v.as_deref().map_or("null".to_string(), json_string);
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|s| {
                format!(
                    "{{\"step\":{},\"result\":\"{}\",\"detail\":{}}}",
                    json_string(&s.step),
                    s.outcome.word(),
                    json_string(&s.detail)
                )
            })
            .collect();
        format!(
            "{{\"key_id\":{},\"verified\":{},\"device\":{},\"anchor\":{},\"steps\":[{}]}}",
            self.key_id,
            self.verified(),
            opt(&self.device),
            opt(&self.anchor),
            steps.join(",")
        )
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn name(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A trust anchor: a certificate and where it came from.
pub struct Anchor {
    pub cert: Vec<u8>,
    pub source: String,
}

/// Reads an anchor file: a binary CV certificate, or its hex; a `ca init` directory stands for its
/// certificate.
pub fn read_anchor(path: &std::path::Path) -> Result<Anchor, Error> {
    let file;
    let path = if path.is_dir() {
        file = path.join(crate::commands::ca::CERT_FILE);
        file.as_path()
    } else {
        path
    };
    let raw = std::fs::read(path).map_err(|e| Error::Input(format!("cannot read {}: {e}", path.display())))?;
    let cert = if raw.starts_with(&[0x7F, 0x21]) {
        raw
    } else {
        let text = String::from_utf8_lossy(&raw);
        let hex: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        hex::decode(hex)
            .map_err(|_| Error::Input(format!("{}: not a CV certificate (binary or hex)", path.display())))?
    };
    Certificate::parse(&cert).map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
    Ok(Anchor {
        cert,
        source: path.display().to_string(),
    })
}

/// Verifies key `key_id`'s request `request` against the device chain `chain` and `anchors`.
pub fn verify(key_id: u8, request: &[u8], chain: &[u8], anchors: &[Anchor], trust_device_issuer: bool) -> Report {
    let mut r = Report {
        key_id,
        ..Report::default()
    };
    let req = match cvc::AuthenticatedRequest::parse(request) {
        Ok(req) => req,
        Err(e) => {
            r.push(
                "key request",
                Outcome::Failed,
                format!("CE{key_id:02X} is not an authenticated CV request ({e})"),
            );
            return r;
        }
    };
    r.push(
        "key request",
        Outcome::Ok,
        format!("holder {}, made by device {}", name(req.inner.chr), name(req.outer_car)),
    );
    r.device = Some(name(req.outer_car));
    if req.inner.public_key.algorithm().is_none() {
        r.push(
            "proof of possession",
            Outcome::Skipped,
            "the key cannot sign (Montgomery/Edwards key): its request carries no self-signature",
        );
    } else {
        match req.verify_inner() {
            Ok(()) => r.push(
                "proof of possession",
                Outcome::Ok,
                "the request's self-signature verifies with the key's public key",
            ),
            Err(e) => r.push("proof of possession", Outcome::Failed, format!("self-signature: {e}")),
        };
    }

    let certs: Result<Vec<Certificate<'_>>, _> = Certificate::parse_all(chain).collect();
    let certs = match certs {
        Ok(c) if !c.is_empty() => c,
        Ok(_) => {
            r.push("device certificate", Outcome::Failed, "C_DevAut (2F02) is empty");
            return r;
        }
        Err(e) => {
            r.push("device certificate", Outcome::Failed, format!("C_DevAut (2F02): {e}"));
            return r;
        }
    };
    let anchor_certs: Vec<(Certificate<'_>, &str)> = anchors
        .iter()
        .filter_map(|a| Certificate::parse(&a.cert).ok().map(|c| (c, a.source.as_str())))
        .collect();
    let lookup = |chr: &[u8]| -> Option<Certificate<'_>> {
        anchor_certs
            .iter()
            .map(|(c, _)| *c)
            .chain(certs.iter().copied())
            .find(|c| c.chr == chr)
    };

    let device = certs[0];
    if device.chr != req.outer_car {
        r.push(
            "device signature",
            Outcome::Failed,
            format!(
                "the request was made by device {}, C_DevAut certifies {}",
                name(req.outer_car),
                name(device.chr)
            ),
        );
        return r;
    }
    let domain = cvc::inherited_domain(&device, lookup).ok().flatten();
    let ok = match req.verify_outer(&device.public_key, domain) {
        Ok(()) => r.push(
            "device signature",
            Outcome::Ok,
            format!(
                "the request's outer signature verifies with device {}'s key",
                name(device.chr)
            ),
        ),
        Err(e) => r.push("device signature", Outcome::Failed, format!("outer signature: {e}")),
    };
    if !ok {
        return r;
    }

    // Up the chain: each certificate is checked with its issuer's key, an anchor's when the
    // issuer is one (never the chain's copy of it).
    let mut current = device;
    for _ in 0..MAX_DEPTH {
        let Some(car) = current.car else {
            r.push(
                format!("certificate {}", name(current.chr)),
                Outcome::Failed,
                "no issuer reference (CAR)",
            );
            return r;
        };
        let what = format!("certificate {}", name(current.chr));
        if let Some((anchor, source)) = anchor_certs.iter().find(|(a, _)| a.chr == car) {
            let domain = cvc::inherited_domain(anchor, lookup).ok().flatten();
            match current.verify(&anchor.public_key, domain) {
                Ok(()) => {
                    r.push(
                        what,
                        Outcome::Ok,
                        format!("signed by trust anchor {} ({source})", name(anchor.chr)),
                    );
                    r.anchor = Some(name(anchor.chr));
                }
                Err(e) => {
                    r.push(
                        what,
                        Outcome::Failed,
                        format!("not signed by trust anchor {} ({source}): {e}", name(anchor.chr)),
                    );
                }
            }
            return r;
        }
        let Some(issuer) = certs.iter().copied().find(|c| c.chr == car) else {
            r.push(
                what,
                Outcome::Failed,
                format!("its issuer {} is neither in C_DevAut nor a trust anchor", name(car)),
            );
            return r;
        };
        let domain = cvc::inherited_domain(&issuer, lookup).ok().flatten();
        if let Err(e) = current.verify(&issuer.public_key, domain) {
            r.push(
                what,
                Outcome::Failed,
                format!("not signed by {}: {e}", name(issuer.chr)),
            );
            return r;
        }
        if current.is_self_signed() {
            // A root of the device's chain that no anchor named.
            if trust_device_issuer {
                r.push(
                    what,
                    Outcome::Ok,
                    "self-signed root of the device's own chain, trusted by --trust-device-issuer",
                );
                r.anchor = Some(format!("{} (the device's own issuer)", name(current.chr)));
            } else {
                r.push(
                    what,
                    Outcome::Failed,
                    "the device's chain ends at this self-signed root, which is no trust anchor \
                     (give its CA with --ca, or --trust-device-issuer)",
                );
            }
            return r;
        }
        r.push(
            what,
            Outcome::Ok,
            format!("signed by {} (from C_DevAut)", name(issuer.chr)),
        );
        current = issuer;
    }
    r.push(
        "certificate chain",
        Outcome::Failed,
        format!("longer than {MAX_DEPTH} certificates"),
    );
    r
}

/// Reads CExx and C_DevAut and verifies.
pub fn attest<T: Transport>(
    c: &mut Client<T>,
    key_id: u8,
    anchors: &[Anchor],
    trust_device_issuer: bool,
) -> Result<Report, Error> {
    hsm::select(c)?;
    let request = match hsm::read_file(c, u16::from_be_bytes([0xCE, key_id])) {
        Ok(r) => r,
        Err(e) if e.sw() == Some(0x6A82) => {
            return Err(Error::Input(format!(
                "key {key_id} has no request or certificate (CE{key_id:02X} not found)"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let chain = hsm::read_file(c, hsm::FID_C_DEVAUT)?;
    Ok(verify(key_id, &request, &chain, anchors, trust_device_issuer))
}

/// Runs `attest`; the error when the attestation does not verify.
pub fn run(args: &AttestArgs, reader: Option<&str>) -> Result<(), Error> {
    let mut anchors = args.ca.iter().map(|p| read_anchor(p)).collect::<Result<Vec<_>, _>>()?;
    if args.ca.is_empty() {
        anchors.extend(UPSTREAM_ROOTS.iter().map(|c| Anchor {
            cert: c.to_vec(),
            source: "built-in".into(),
        }));
    }
    let start = std::time::Instant::now();
    let mut conn = Connection::open(reader)?;
    let report =
        conn.with_transaction(|t| attest(&mut Client::new(t), args.key_id, &anchors, args.trust_device_issuer))?;
    let elapsed = start.elapsed();
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
        eprintln!("(checked in {} ms)", elapsed.as_millis());
    }
    if report.verified() {
        Ok(())
    } else {
        Err(Error::Input(format!("key {} attestation NOT verified", args.key_id)))
    }
}
