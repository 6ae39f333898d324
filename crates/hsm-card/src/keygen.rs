//! GENERATE ASYMMETRIC KEY PAIR (00 46 id 00; reference §3.12, §8.1).
//!
//! Every refusal happens before the first write, so a refused request leaves the store unchanged.

use alloc::vec::Vec;

use hsm_apdu::{CommandView, Reply, Status, tlv};
use hsm_crypto::asym::{Curve, CurveKind, EcPrivateKey};

use crate::dkek::{MAX_DOMAINS, xkek_fid};
use crate::files::prefix;
use crate::keys::{Metadata, PrivateKey};
use crate::{App, Platform, cvc};

/// Algorithm byte of XKEK key agreement (reference §3.15, P2 84).
pub(crate) const ALGO_EC_DH_XKEK: u8 = 0x84;
/// Default counter of new keys with the KEY_COUNTER_ALL option (reference §6.7).
const DEFAULT_COUNTER: u32 = 0xFFFF_FFFE;

/// What to generate.
enum Spec {
    Rsa { bits: usize, e: u32 },
    Ec(Curve),
}

struct Request<'a> {
    spec: Spec,
    car: Option<&'a [u8]>,
    chr: Option<&'a [u8]>,
    meta: Metadata,
}

/// A big-endian unsigned integer of 1..=4 bytes (6700 otherwise).
pub(crate) fn uint(v: &[u8]) -> Result<u32, Status> {
    if v.is_empty() || v.len() > 4 {
        return Err(Status::WrongLength);
    }
    Ok(v.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

fn parse(data: &[u8]) -> Result<Request<'_>, Status> {
    let mut template = None;
    let mut req = Request {
        spec: Spec::Ec(Curve::Secp256r1),
        car: None,
        chr: None,
        meta: Metadata::default(),
    };
    for item in tlv::Reader::new(data) {
        let item = item?;
        if req.meta.take(item.tag, item.value)? {
            continue;
        }
        match (item.tag, item.value) {
            (0x7F49, t) => template = Some(t),
            (0x42, car) => req.car = Some(car),
            (0x5F20, chr) => req.chr = Some(chr),
            _ => {}
        }
    }
    let template = template.filter(|t| !t.is_empty()).ok_or(Status::WrongLength)?;
    let find = |tag| tlv::find(template, tag);
    let oid = find(0x06)?.filter(|o| !o.is_empty()).ok_or(Status::WrongLength)?;
    req.spec = if oid == cvc::OID_TA_RSA_V15_SHA256 {
        let bits = find(0x02)?.map(uint).transpose()?.unwrap_or(2048);
        let e = find(0x82)?.map(uint).transpose()?.unwrap_or(65537);
        // DESIGN §5: any odd exponent ≥ 3 is kept.
        if e < 3 || e % 2 == 0 {
            return Err(Status::WrongLength);
        }
        Spec::Rsa { bits: bits as usize, e }
    } else if oid.get(..10) == Some(&cvc::OID_TA_ECDSA_SHA256[..]) {
        let prime = find(0x81)?.ok_or(Status::WrongLength)?;
        let curve = Curve::from_prime(prime).ok_or(Status::FunctionNotSupported)?;
        let g = find(0x83)?;
        if matches!(curve, Curve::X25519 | Curve::X448) && g.is_none_or(|g| g.is_empty()) {
            return Err(Status::WrongLength);
        }
        Spec::Ec(Curve::identify(prime, g.unwrap_or_default()).ok_or(Status::FunctionNotSupported)?)
    } else {
        return Err(Status::FunctionNotSupported);
    };
    Ok(req)
}

/// The default PKCS#15 private key description (PRKD) of a generated key: no label, key id =
/// the slot number in ASCII decimal (reference §3.12), path `CCxx`, the key size; RSA keys are a
/// `SEQUENCE` (30), EC keys `[0]` (A0), as OpenSC's `sc_pkcs15_decode_prkdf_entry` expects.
pub(crate) fn default_prkd(id: u8, rsa: bool, bits: usize) -> Vec<u8> {
    let key_id = ascii_id(id);
    // CommonObjectAttributes: flags = private.
    let common = cvc::tlv(0x30, &[0x03, 0x02, 0x07, 0x80]);
    let mut key_attrs = cvc::tlv(0x04, &key_id);
    // Usage: decrypt, sign, signRecover, unwrap (RSA); sign, derive (EC).
    if rsa {
        cvc::put(&mut key_attrs, 0x03, &[0x02, 0x74]);
    } else {
        cvc::put(&mut key_attrs, 0x03, &[0x07, 0x20, 0x80]);
    }
    let common_key = cvc::tlv(0x30, &key_attrs);
    let path = cvc::tlv(0x30, &cvc::tlv(0x04, &[prefix::KEY, id]));
    let mut specific = path;
    cvc::put(&mut specific, 0x02, &der_uint(bits));
    let typed = cvc::tlv(0xA1, &cvc::tlv(0x30, &specific));
    let mut body = common;
    body.extend_from_slice(&common_key);
    body.extend_from_slice(&typed);
    cvc::tlv(if rsa { 0x30 } else { 0xA0 }, &body)
}

/// A key slot number in ASCII decimal: upstream's key id in descriptions.
pub(crate) fn ascii_id(id: u8) -> Vec<u8> {
    let mut key_id = Vec::with_capacity(3);
    if id >= 100 {
        key_id.push(b'0' + id / 100);
    }
    if id >= 10 {
        key_id.push(b'0' + (id / 10) % 10);
    }
    key_id.push(b'0' + id % 10);
    key_id
}

/// The value of a DER INTEGER holding `n` (at most 16 bits; larger values saturate).
pub(crate) fn der_uint(n: usize) -> Vec<u8> {
    match u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes() {
        [0, lo] if lo < 0x80 => alloc::vec![lo],
        [hi, lo] if hi < 0x80 => alloc::vec![hi, lo],
        [hi, lo] => alloc::vec![0, hi, lo],
    }
}

impl<P: Platform> App<P> {
    /// GENERATE ASYMMETRIC KEY PAIR (00 46 id 00).
    pub(crate) fn generate_key_pair(&mut self, cmd: &CommandView<'_>, reply: &mut Reply<'_>) -> Result<(), Status> {
        let id = cmd.p1;
        if !self.session.user_authenticated || id == 0 {
            return Err(Status::SecurityStatusNotSatisfied);
        }
        let mut req = parse(cmd.data)?;
        if self.session.mkek.is_none() {
            return Err(Status::ExecutionError);
        }
        let extensions = self.xkek_extension(&req)?;
        self.apply_default_counter(&mut req.meta)?;
        let key = self.generate(&req.spec)?;
        let (request, description) = self.asymmetric_request(id, &key, req.car, req.chr, &extensions)?;
        if request.len() > reply.remaining() {
            return Err(Status::WrongLength);
        }

        self.install_key(id, &req.meta, &key, &description)?;
        self.write_file(u16::from_be_bytes([prefix::EE_CERT, id]), &request)?;
        reply.extend(&request)?;
        Ok(())
    }

    /// The extensions (`65` content) of an EC key whose algorithm list holds 0x84 (XKEK key
    /// agreement): its key domain (`92`, required) must be an XKEK domain, whose UID the request
    /// then names (reference §3.12; upstream's `cmd_keypair_gen.c`). Otherwise 6700, as upstream;
    /// RSA keys get no extension (upstream only looks at the list of EC keys).
    fn xkek_extension(&mut self, req: &Request<'_>) -> Result<Vec<u8>, Status> {
        let xkek = req
            .meta
            .algorithms
            .as_ref()
            .is_some_and(|a| a.contains(&ALGO_EC_DH_XKEK));
        if !xkek || !matches!(req.spec, Spec::Ec(_)) {
            return Ok(Vec::new());
        }
        let domain = req
            .meta
            .domain
            .filter(|d| *d < MAX_DOMAINS)
            .ok_or(Status::WrongLength)?;
        let uid = self.read_file(xkek_fid(domain))?.ok_or(Status::WrongLength)?;
        Ok(cvc::key_domain_uid_extension(&uid))
    }

    /// Gives `meta` the default use counter when the KEY_COUNTER_ALL option is on and the
    /// request set none (reference §6.7).
    pub(crate) fn apply_default_counter(&mut self, meta: &mut Metadata) -> Result<(), Status> {
        if meta.counter.is_none() && self.device_options()? & crate::files::options::KEY_COUNTER_ALL != 0 {
            meta.counter = Some(DEFAULT_COUNTER);
        }
        Ok(())
    }

    fn generate(&mut self, spec: &Spec) -> Result<PrivateKey, Status> {
        match *spec {
            Spec::Ec(curve) => EcPrivateKey::generate(curve, self.drbg()?)
                .map(PrivateKey::Ec)
                .map_err(|_| Status::ExecutionError),
            Spec::Rsa { bits, e } => self.generate_rsa(bits, e),
        }
    }

    /// The authenticated CV request (`67`, reference §8.1) of private key `key` at slot `id` —
    /// self-signed by the key, signed by the device key — and its default PRKD. CAR and CHR
    /// default to the device's name; `extensions` (the content of `65`, none when empty) end the
    /// body, inside both signatures.
    pub(crate) fn asymmetric_request(
        &mut self,
        id: u8,
        key: &PrivateKey,
        car: Option<&[u8]>,
        chr: Option<&[u8]>,
        extensions: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), Status> {
        let (pk, description) = match key {
            PrivateKey::Ec(k) => {
                let point = k.public_key().map_err(|_| Status::ExecutionError)?;
                let pk = cvc::public_key(&cvc::PublicKey::Ec {
                    curve: k.curve(),
                    point: &point,
                });
                (pk, default_prkd(id, false, k.curve().order_bits()))
            }
            #[cfg(feature = "rsa")]
            PrivateKey::Rsa(k) => {
                let pk = cvc::public_key(&cvc::PublicKey::Rsa {
                    n: &k.modulus(),
                    e: &k.public_exponent(),
                });
                (pk, default_prkd(id, true, k.bits()))
            }
            PrivateKey::Secret(_) => return Err(Status::ExecutionError),
        };
        let device = self.device_key()?.ok_or(Status::ExecutionError)?;
        let device_public = hsm_crypto::ec::p256_public(&device).ok_or(Status::ExecutionError)?;
        let name = crate::device_name(&device_public);
        let body = cvc::body_with_extensions(car.unwrap_or(&name), &pk, chr.unwrap_or(&name), false, extensions);
        let self_sig = self.self_signature(key, &body)?;
        let inner = cvc::certificate(&body, &self_sig);
        let tbs = cvc::authenticated_tbs(&inner, &name);
        let outer = hsm_crypto::ec::p256_sign_sha256(&device, &tbs).ok_or(Status::ExecutionError)?;
        Ok((cvc::authenticated_request(&tbs, &outer), description))
    }

    #[cfg(feature = "rsa")]
    fn generate_rsa(&mut self, bits: usize, e: u32) -> Result<PrivateKey, Status> {
        use hsm_crypto::asym::rsa::{MAX_BITS, MIN_BITS, RsaPrivateKey};
        if !(MIN_BITS..=MAX_BITS).contains(&bits) || !bits.is_multiple_of(256) {
            return Err(Status::FunctionNotSupported);
        }
        self.drbg()?; // seeded (or reseeded) before the search starts
        let helper = self.platform.prime_search();
        let key = RsaPrivateKey::generate_with(bits, e, &mut self.drbg, helper).map_err(|_| Status::ExecutionError)?;
        Ok(PrivateKey::Rsa(alloc::boxed::Box::new(key)))
    }

    #[cfg(not(feature = "rsa"))]
    fn generate_rsa(&mut self, _: usize, _: u32) -> Result<PrivateKey, Status> {
        Err(Status::FunctionNotSupported)
    }

    /// The inner (proof-of-possession) signature of a request body (reference §8.1).
    fn self_signature(&mut self, key: &PrivateKey, body: &[u8]) -> Result<Vec<u8>, Status> {
        let hash = hsm_crypto::hash::sha256(&[body]);
        match key {
            PrivateKey::Ec(k) => match k.curve().kind() {
                CurveKind::Weierstrass => k.ecdsa_sign_raw(&hash, self.drbg()?),
                CurveKind::Edwards => k.eddsa_sign(body),
                // Montgomery keys cannot sign: a zero-filled field of signature size.
                CurveKind::Montgomery => Ok(alloc::vec![0; 2 * k.curve().field_bytes()]),
            }
            .map_err(|_| Status::ExecutionError),
            #[cfg(feature = "rsa")]
            PrivateKey::Rsa(k) => k
                .sign_pkcs1v15(hsm_crypto::asym::rsa::HashAlg::Sha256, &hash, self.drbg()?)
                .map_err(|_| Status::ExecutionError),
            PrivateKey::Secret(_) => Err(Status::ExecutionError),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prkd_key_ids_are_ascii_decimal() {
        let p = default_prkd(7, false, 256);
        assert_eq!(p[0], 0xA0);
        assert!(p.windows(3).any(|w| w == [0x04, 0x01, b'7']));
        let p = default_prkd(123, true, 2048);
        assert_eq!(p[0], 0x30);
        assert!(p.windows(5).any(|w| w == [0x04, 0x03, b'1', b'2', b'3']));
        assert!(p.windows(4).any(|w| w == [0x02, 0x02, 0x08, 0x00]));
    }
}
