//! Card-verifiable certificates (BSI TR-03110 style; reference §8.1): the builders the device uses
//! to produce its certificates and requests, and a parser and verifier for the certificates and
//! authenticated requests it receives (PSO VERIFY CERTIFICATE, PUK registration, PKA) and for the
//! host tool.
//!
//! # Parsing
//! [`Certificate::parse`] reads `7F21 { 7F4E body, 5F37 signature }`, [`AuthenticatedRequest::parse`]
//! reads `67 { 7F21 inner, 42 outer CAR, 5F37 outer signature }`. Both borrow slices of the input
//! and never allocate; every length is checked, so no input panics. The body's data objects may
//! come in any order; unknown ones are ignored, a repeated one is malformed. Mandatory: the CHR
//! (`5F20`) and the public key (`7F49` with its OID). The CAR (`42`) is optional in requests.
//!
//! # Verifying
//! A signature is made over the encoded body (`7F4E` tag, length and value) — for the outer
//! signature of a request, over the inner `7F21` object followed by the `42` object — with the
//! algorithm the *signer's* key OID names ([`Algorithm`]):
//! * ECDSA (id-TA-ECDSA-SHA-1/224/256/384/512), signature `r ‖ s` of the order's length each, on
//!   every Weierstrass curve hsm-crypto supports. The curve comes from the signer's own key
//!   template when it carries the domain (`81` prime …), else from the `domain` argument: the
//!   domain inherited from a certificate up the CAR chain ([`inherited_domain`]).
//! * RSA PKCS#1 v1.5 and PSS (id-TA-RSA-v1-5-SHA-1/256/512, id-TA-RSA-PSS-SHA-1/256/512; PSS with
//!   MGF1 of the same hash and any salt length), with the `rsa` feature; without it an RSA
//!   signer is [`CvcError::Unsupported`].
//!
//! Dates are returned, not checked: the card has no trusted clock (as upstream).

use alloc::vec::Vec;

use hsm_crypto::asym::{Curve, CurveKind};
use hsm_crypto::sym::Md;

/// id-TA-ECDSA-SHA-256 (0.4.0.127.0.7.2.2.2.2.3).
pub const OID_TA_ECDSA_SHA256: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x02, 0x03];
/// id-TA-RSA-v1-5-SHA-256 (0.4.0.127.0.7.2.2.2.1.2).
pub const OID_TA_RSA_V15_SHA256: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x01, 0x02];
/// id-RI-ECDH-SHA-256 (0.4.0.127.0.7.2.2.5.2.3), for Montgomery and Edwards keys.
const OID_RI_ECDH_SHA256: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x05, 0x02, 0x03];
/// id-AT role OID in the certificate holder authorization template.
const OID_ROLE_AT: [u8; 9] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x03, 0x01, 0x02, 0x02];
/// Effective date 2023-03-21 and expiry 2070-12-31, as upstream (reference §8.1).
const EFFECTIVE: [u8; 6] = [0x02, 0x03, 0x00, 0x03, 0x02, 0x01];
const EXPIRY: [u8; 6] = [0x07, 0x00, 0x01, 0x02, 0x03, 0x01];
/// id-KeyDomain-UID (1.3.6.1.4.1.24991.3.2.2): the extension naming an XKEK key domain
/// (upstream's `OID_ID_KEY_DOMAIN_UID`, reference §3.12).
pub const OID_KEY_DOMAIN_UID: [u8; 11] = [0x2B, 0x06, 0x01, 0x04, 0x01, 0x81, 0xC3, 0x1F, 0x03, 0x02, 0x02];

/// Appends `tag ‖ length ‖ value` (BER, minimal length) to `out`.
pub fn put(out: &mut Vec<u8>, tag: u16, value: &[u8]) {
    let mut hdr = [0u8; 7];
    out.extend_from_slice(hsm_apdu::tlv::header(tag, value.len(), &mut hdr));
    out.extend_from_slice(value);
}

/// `tag ‖ length ‖ value` as a new vector.
pub fn tlv(tag: u16, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(value.len() + 4);
    put(&mut v, tag, value);
    v
}

/// A public key as the `7F49` template carries it.
pub enum PublicKey<'a> {
    /// RSA modulus and public exponent, big-endian.
    #[cfg_attr(not(feature = "rsa"), allow(dead_code))]
    Rsa { n: &'a [u8], e: &'a [u8] },
    /// An EC public key in [`EcPrivateKey::public_key`](hsm_crypto::asym::EcPrivateKey::public_key)'s encoding.
    Ec { curve: Curve, point: &'a [u8] },
}

/// The `7F49` public-key template (reference §8.1).
pub fn public_key(key: &PublicKey<'_>) -> Vec<u8> {
    let mut body = Vec::with_capacity(600);
    match key {
        PublicKey::Rsa { n, e } => {
            put(&mut body, 0x06, &OID_TA_RSA_V15_SHA256);
            put(&mut body, 0x81, n);
            put(&mut body, 0x82, e);
        }
        PublicKey::Ec { curve, point } => {
            let d = curve.params();
            if curve.kind() == CurveKind::Weierstrass {
                put(&mut body, 0x06, &OID_TA_ECDSA_SHA256);
                put(&mut body, 0x81, d.p);
                put(&mut body, 0x82, d.a);
                put(&mut body, 0x83, d.b);
                put(&mut body, 0x84, d.g);
                put(&mut body, 0x85, d.n);
                put(&mut body, 0x86, point);
                put(&mut body, 0x87, d.cofactor);
            } else {
                // Montgomery and Edwards keys: p, order, G, public key (reference §8.1).
                put(&mut body, 0x06, &OID_RI_ECDH_SHA256);
                put(&mut body, 0x81, d.p);
                put(&mut body, 0x82, d.n);
                put(&mut body, 0x83, d.g);
                put(&mut body, 0x84, point);
            }
        }
    }
    tlv(0x7F49, &body)
}

/// The `7F49` public-key template of a P-256 point `04 X Y` (the device key).
pub fn p256_public_key(point: &[u8; 65]) -> Vec<u8> {
    public_key(&PublicKey::Ec {
        curve: Curve::Secp256r1,
        point,
    })
}

/// Certificate body (`7F4E`) of a request (no role, no dates) or of a full certificate.
pub fn body(car: &[u8], public_key: &[u8], chr: &[u8], full: bool) -> Vec<u8> {
    body_with_extensions(car, public_key, chr, full, &[])
}

/// [`body`] with the content of an extensions template `65` (none when `extensions` is empty),
/// placed last, after the CHR (and after role and dates in a full certificate), as upstream's
/// `asn1_cvc_cert_body` places it.
pub fn body_with_extensions(car: &[u8], public_key: &[u8], chr: &[u8], full: bool, extensions: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(public_key.len() + extensions.len() + 80);
    put(&mut b, 0x5F29, &[0x00]);
    put(&mut b, 0x42, car);
    b.extend_from_slice(public_key);
    put(&mut b, 0x5F20, chr);
    if full {
        let mut role = Vec::with_capacity(16);
        put(&mut role, 0x06, &OID_ROLE_AT);
        put(&mut role, 0x53, &[0x00]);
        put(&mut b, 0x7F4C, &role);
        put(&mut b, 0x5F25, &EFFECTIVE);
        put(&mut b, 0x5F24, &EXPIRY);
    }
    if !extensions.is_empty() {
        put(&mut b, 0x65, extensions);
    }
    tlv(0x7F4E, &b)
}

/// The discretionary data template of an XKEK key's request (the content of `65`):
/// `73 { 06 id-KeyDomain-UID, 80 <domain UID> }` (upstream's `cmd_keypair_gen.c`). Upstream
/// writes both lengths as one byte whatever the UID's length; here they are BER, which is the
/// same bytes for UIDs up to 113 bytes (every curve up to 384 bits).
pub fn key_domain_uid_extension(uid: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(uid.len() + 20);
    put(&mut t, 0x06, &OID_KEY_DOMAIN_UID);
    put(&mut t, 0x80, uid);
    tlv(0x73, &t)
}

/// The body (`7F4E` content) of a CV certificate or request, as upstream's `cvc_get_body` finds
/// it: inside a top-level `67` (authenticated request) when there is one, else in the top-level
/// `7F21`. `None` when there is no body; malformed TLVs are 6700.
pub fn find_body(data: &[u8]) -> Result<Option<&[u8]>, hsm_apdu::Status> {
    use hsm_apdu::tlv::find;
    let outer = find(data, 0x67)?.unwrap_or(data);
    match find(outer, 0x7F21)? {
        Some(cert) => find(cert, 0x7F4E),
        None => Ok(None),
    }
}

/// The domain UID an extensions template (`65` content) names: the `80` of the first `73`
/// whose `06` is id-KeyDomain-UID (upstream's `cmd_decrypt_asym.c`). `None` when no such `73`
/// exists or its `80` is absent or empty.
pub fn find_domain_uid(extensions: &[u8]) -> Result<Option<&[u8]>, hsm_apdu::Status> {
    use hsm_apdu::tlv::{Reader, find};
    for item in Reader::new(extensions) {
        let item = item?;
        if item.tag == 0x73 && find(item.value, 0x06)? == Some(&OID_KEY_DOMAIN_UID[..]) {
            return Ok(find(item.value, 0x80)?.filter(|u| !u.is_empty()));
        }
    }
    Ok(None)
}

/// `7F21 { body, 5F37 signature }`.
pub fn certificate(body: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut c = Vec::with_capacity(body.len() + signature.len() + 4);
    c.extend_from_slice(body);
    put(&mut c, 0x5F37, signature);
    tlv(0x7F21, &c)
}

/// The to-be-signed part of an authenticated request: `inner request ‖ 42 outer CAR`.
pub fn authenticated_tbs(inner: &[u8], outer_car: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(inner.len() + outer_car.len() + 2);
    v.extend_from_slice(inner);
    put(&mut v, 0x42, outer_car);
    v
}

/// `67 { inner request, 42 outer CAR, 5F37 outer signature }` (reference §8.1).
pub fn authenticated_request(tbs: &[u8], outer_signature: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(tbs.len() + outer_signature.len() + 4);
    v.extend_from_slice(tbs);
    put(&mut v, 0x5F37, outer_signature);
    tlv(0x67, &v)
}

// ---------------------------------------------------------------------------------------------
// Parsing and verification.

/// Why a CV certificate or request cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CvcError {
    /// Malformed encoding, a missing or repeated mandatory object, an unknown key OID, or an EC
    /// key whose domain is neither in its template nor inherited (the card answers 6984).
    Format,
    /// A known algorithm this build cannot verify (RSA without the `rsa` feature; 6984).
    Unsupported,
    /// The signature does not verify (6985).
    BadSignature,
}

impl CvcError {
    /// The status word the card answers for this error (reference §3.22): 6984 or 6985.
    pub fn status(self) -> hsm_apdu::Status {
        match self {
            CvcError::Format | CvcError::Unsupported => hsm_apdu::Status::DataInvalid,
            CvcError::BadSignature => hsm_apdu::Status::ConditionsNotSatisfied,
        }
    }
}

impl core::fmt::Display for CvcError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            CvcError::Format => "malformed CV certificate or unknown algorithm",
            CvcError::Unsupported => "CV signature algorithm not supported by this build",
            CvcError::BadSignature => "CV signature does not verify",
        })
    }
}

/// A BER-TLV object split off the front of some data: `(tag, value, whole object, rest)`.
type Split<'a> = (u16, &'a [u8], &'a [u8], &'a [u8]);

/// One BER-TLV object at the start of `data`.
fn split_tlv(data: &[u8]) -> Result<Split<'_>, CvcError> {
    let (tlv, rest) = hsm_apdu::tlv::split_object(data).ok_or(CvcError::Format)?;
    // `rest` is the tail of `data`: the object is what comes before it.
    let whole = data
        .get(..data.len().saturating_sub(rest.len()))
        .ok_or(CvcError::Format)?;
    Ok((tlv.tag, tlv.value, whole, rest))
}

/// The objects of `data` (all of it must be well-formed).
fn objects(data: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8], &[u8]), CvcError>> {
    let mut rest = data;
    core::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match split_tlv(rest) {
            Ok((tag, value, whole, next)) => {
                rest = next;
                Some(Ok((tag, value, whole)))
            }
            Err(e) => {
                rest = &[];
                Some(Err(e))
            }
        }
    })
}

/// Sets `slot` once; a second occurrence of the same object is malformed.
fn once<'a>(slot: &mut Option<&'a [u8]>, value: &'a [u8]) -> Result<(), CvcError> {
    if slot.replace(value).is_some() {
        return Err(CvcError::Format);
    }
    Ok(())
}

/// A signature algorithm named by a CV public key's OID (BSI TR-03110-3 A.6.4; upstream `cvc.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// id-TA-ECDSA-SHA-*: ECDSA with this hash, signature `r ‖ s`.
    Ecdsa(Md),
    /// id-TA-RSA-v1-5-SHA-*: RSASSA-PKCS1-v1_5 with this hash.
    RsaPkcs1v15(Md),
    /// id-TA-RSA-PSS-SHA-*: RSASSA-PSS with this hash and MGF1 of it.
    RsaPss(Md),
}

/// id-TA (0.4.0.127.0.7.2.2.2): the common prefix of the key OIDs.
const OID_TA: [u8; 8] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02];

impl Algorithm {
    /// The algorithm of a key OID (the `06` value of a `7F49` template).
    pub fn from_oid(oid: &[u8]) -> Option<Algorithm> {
        let [family, variant] = *oid.strip_prefix(&OID_TA[..])? else {
            return None;
        };
        Some(match (family, variant) {
            (1, 1) => Algorithm::RsaPkcs1v15(Md::Sha1),
            (1, 2) => Algorithm::RsaPkcs1v15(Md::Sha256),
            (1, 3) => Algorithm::RsaPss(Md::Sha1),
            (1, 4) => Algorithm::RsaPss(Md::Sha256),
            (1, 5) => Algorithm::RsaPkcs1v15(Md::Sha512),
            (1, 6) => Algorithm::RsaPss(Md::Sha512),
            (2, 1) => Algorithm::Ecdsa(Md::Sha1),
            (2, 2) => Algorithm::Ecdsa(Md::Sha224),
            (2, 3) => Algorithm::Ecdsa(Md::Sha256),
            (2, 4) => Algorithm::Ecdsa(Md::Sha384),
            (2, 5) => Algorithm::Ecdsa(Md::Sha512),
            _ => return None,
        })
    }

    /// The hash the algorithm signs with.
    pub fn hash(self) -> Md {
        match self {
            Algorithm::Ecdsa(h) | Algorithm::RsaPkcs1v15(h) | Algorithm::RsaPss(h) => h,
        }
    }
}

/// A `7F49` public-key template, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKeyRef<'a> {
    /// The whole `7F49` object (tag, length, value).
    pub encoded: &'a [u8],
    /// The OID (`06` value).
    pub oid: &'a [u8],
    /// The context-specific objects `81` … `87` (index 0 is `81`), each at most once.
    fields: [Option<&'a [u8]>; 7],
}

impl<'a> PublicKeyRef<'a> {
    /// Parses a whole `7F49` object (nothing may follow it).
    pub fn parse(encoded: &'a [u8]) -> Result<Self, CvcError> {
        let (tag, value, _, rest) = split_tlv(encoded)?;
        if tag != 0x7F49 || !rest.is_empty() {
            return Err(CvcError::Format);
        }
        let mut oid = None;
        let mut fields = [None; 7];
        for item in objects(value) {
            let (tag, v, _) = item?;
            match tag {
                0x06 => once(&mut oid, v)?,
                0x81..=0x87 => {
                    let slot = fields.get_mut(usize::from(tag - 0x81)).ok_or(CvcError::Format)?;
                    once(slot, v)?;
                }
                _ => return Err(CvcError::Format),
            }
        }
        Ok(PublicKeyRef {
            encoded,
            oid: oid.ok_or(CvcError::Format)?,
            fields,
        })
    }

    /// The value of context-specific object `tag` (`0x81` … `0x87`), if present.
    pub fn field(&self, tag: u8) -> Option<&'a [u8]> {
        let i = usize::from(tag.checked_sub(0x81)?);
        self.fields.get(i).copied().flatten()
    }

    /// The signature algorithm the OID names, `None` for other OIDs (e.g. id-RI-ECDH).
    pub fn algorithm(&self) -> Option<Algorithm> {
        Algorithm::from_oid(self.oid)
    }

    /// Whether this is an RSA key (id-TA-RSA-*).
    pub fn is_rsa(&self) -> bool {
        matches!(self.algorithm(), Some(Algorithm::RsaPkcs1v15(_) | Algorithm::RsaPss(_)))
    }

    /// RSA modulus (`81`) and public exponent (`82`).
    pub fn rsa_components(&self) -> Option<(&'a [u8], &'a [u8])> {
        if !self.is_rsa() {
            return None;
        }
        Some((self.field(0x81)?, self.field(0x82)?))
    }

    /// The EC public point (`86`, uncompressed `04 ‖ X ‖ Y`) of an ECDSA key.
    pub fn ec_point(&self) -> Option<&'a [u8]> {
        match self.algorithm() {
            Some(Algorithm::Ecdsa(_)) => self.field(0x86),
            _ => None,
        }
    }

    /// The curve of an ECDSA key's own domain parameters: `Ok(None)` when the template carries
    /// no prime (`81`, the domain is inherited) or is not an ECDSA key; [`CvcError::Format`]
    /// when the prime is unknown or another parameter present (`82` a, `83` b, `84` G, `85`
    /// order, `87` cofactor) differs from that curve's.
    pub fn own_domain(&self) -> Result<Option<Curve>, CvcError> {
        if !matches!(self.algorithm(), Some(Algorithm::Ecdsa(_))) {
            return Ok(None);
        }
        let Some(prime) = self.field(0x81) else {
            return Ok(None);
        };
        let curve = Curve::from_prime(prime)
            .filter(|c| c.kind() == CurveKind::Weierstrass)
            .ok_or(CvcError::Format)?;
        let d = curve.params();
        let expected: [(u8, &[u8]); 5] = [(0x82, d.a), (0x83, d.b), (0x84, d.g), (0x85, d.n), (0x87, d.cofactor)];
        for (tag, want) in expected {
            if let Some(got) = self.field(tag)
                && !same_integer(got, want)
            {
                return Err(CvcError::Format);
            }
        }
        Ok(Some(curve))
    }

    /// Verifies `signature` over `message` made by this key with the algorithm of its OID.
    /// `domain` is the inherited curve, used only when the template carries no domain of its
    /// own (see the module docs).
    pub fn verify(&self, domain: Option<Curve>, message: &[u8], signature: &[u8]) -> Result<(), CvcError> {
        let alg = self.algorithm().ok_or(CvcError::Format)?;
        let hash = alg.hash().digest(message);
        self.verify_digest(domain, &hash, signature)
    }

    /// As [`PublicKeyRef::verify`] for a message already hashed with the OID's hash.
    pub fn verify_digest(&self, domain: Option<Curve>, hash: &[u8], signature: &[u8]) -> Result<(), CvcError> {
        let alg = self.algorithm().ok_or(CvcError::Format)?;
        self.verify_with_hash(domain, alg.hash(), hash, signature)
    }

    /// As [`PublicKeyRef::verify_digest`], with the hash `md` instead of the OID's (the OID still
    /// picks ECDSA, PKCS#1 v1.5 or PSS). PKA's EXTERNAL AUTHENTICATE signs SHA-256 whatever the
    /// key's OID (upstream `cmd_external_authenticate.c`).
    pub fn verify_with_hash(
        &self,
        domain: Option<Curve>,
        md: Md,
        hash: &[u8],
        signature: &[u8],
    ) -> Result<(), CvcError> {
        let alg = match self.algorithm().ok_or(CvcError::Format)? {
            Algorithm::Ecdsa(_) => Algorithm::Ecdsa(md),
            Algorithm::RsaPkcs1v15(_) => Algorithm::RsaPkcs1v15(md),
            Algorithm::RsaPss(_) => Algorithm::RsaPss(md),
        };
        if hash.len() != md.output_len() {
            return Err(CvcError::Format);
        }
        match alg {
            Algorithm::Ecdsa(_) => {
                let curve = match self.own_domain()? {
                    Some(c) => c,
                    None => domain
                        .filter(|c| c.kind() == CurveKind::Weierstrass)
                        .ok_or(CvcError::Format)?,
                };
                let point = self.field(0x86).ok_or(CvcError::Format)?;
                curve.validate_public_key(point).map_err(|_| CvcError::Format)?;
                let rs = raw_signature(signature, curve.order_bits().div_ceil(8)).ok_or(CvcError::BadSignature)?;
                curve
                    .verify_ecdsa_raw(point, hash, &rs)
                    .map_err(|_| CvcError::BadSignature)
            }
            Algorithm::RsaPkcs1v15(_) | Algorithm::RsaPss(_) => self.verify_rsa(alg, hash, signature),
        }
    }

    #[cfg(feature = "rsa")]
    fn verify_rsa(&self, alg: Algorithm, hash: &[u8], signature: &[u8]) -> Result<(), CvcError> {
        use hsm_crypto::asym::rsa::{self, HashAlg};
        let (n, e) = self.rsa_components().ok_or(CvcError::Format)?;
        let h = match alg.hash() {
            Md::Sha1 => HashAlg::Sha1,
            Md::Sha224 => HashAlg::Sha224,
            Md::Sha256 => HashAlg::Sha256,
            Md::Sha384 => HashAlg::Sha384,
            Md::Sha512 => HashAlg::Sha512,
        };
        let r = match alg {
            Algorithm::RsaPss(_) => rsa::verify_pss(n, e, h, hash, signature),
            _ => rsa::verify_pkcs1v15(n, e, h, hash, signature),
        };
        r.map_err(|err| match err {
            hsm_crypto::asym::Error::InvalidSignature => CvcError::BadSignature,
            _ => CvcError::Format,
        })
    }

    #[cfg(not(feature = "rsa"))]
    fn verify_rsa(&self, _alg: Algorithm, _hash: &[u8], _signature: &[u8]) -> Result<(), CvcError> {
        self.rsa_components().ok_or(CvcError::Format)?;
        Err(CvcError::Unsupported)
    }
}

/// Whether two big-endian integers are equal, ignoring leading zeros.
fn same_integer(a: &[u8], b: &[u8]) -> bool {
    let strip = |x: &[u8]| -> usize { x.iter().position(|b| *b != 0).unwrap_or(x.len()) };
    a.get(strip(a)..) == b.get(strip(b)..)
}

/// `r ‖ s` of `n` bytes each from a raw signature of exactly `2n` bytes, or of an even length
/// below that whose halves are shorter integers (upstream writes `r` and `s` without leading
/// zeros), left-padded.
fn raw_signature(sig: &[u8], n: usize) -> Option<Vec<u8>> {
    if sig.len() == 2 * n {
        return Some(sig.to_vec());
    }
    if sig.is_empty() || !sig.len().is_multiple_of(2) || sig.len() > 2 * n {
        return None;
    }
    let (r, s) = sig.split_at(sig.len() / 2);
    let mut out = alloc::vec![0u8; 2 * n];
    out.get_mut(n - r.len()..n)?.copy_from_slice(r);
    out.get_mut(2 * n - s.len()..)?.copy_from_slice(s);
    Some(out)
}

/// A CV certificate (or the self-signed inner request of an authenticated request), borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Certificate<'a> {
    /// The whole `7F21` object.
    pub encoded: &'a [u8],
    /// The whole `7F4E` object (tag, length, value): the bytes the signature covers.
    pub body: &'a [u8],
    /// Certificate profile identifier (`5F29` value).
    pub profile: Option<&'a [u8]>,
    /// Certification authority reference (`42` value); requests may omit it.
    pub car: Option<&'a [u8]>,
    /// The holder's public key (`7F49`).
    pub public_key: PublicKeyRef<'a>,
    /// Certificate holder reference (`5F20` value).
    pub chr: &'a [u8],
    /// Certificate holder authorization template (`7F4C` value).
    pub chat: Option<&'a [u8]>,
    /// Effective date (`5F25` value, six unpacked BCD digits YYMMDD).
    pub effective_date: Option<&'a [u8]>,
    /// Expiration date (`5F24` value).
    pub expiration_date: Option<&'a [u8]>,
    /// Certificate extensions (`65` value).
    pub extensions: Option<&'a [u8]>,
    /// The signature (`5F37` value).
    pub signature: &'a [u8],
}

impl<'a> Certificate<'a> {
    /// Parses exactly one `7F21` object (nothing may follow).
    pub fn parse(data: &'a [u8]) -> Result<Self, CvcError> {
        let (cert, rest) = Self::parse_prefix(data)?;
        if !rest.is_empty() {
            return Err(CvcError::Format);
        }
        Ok(cert)
    }

    /// Parses the `7F21` object at the start of `data`; returns it and what follows.
    pub fn parse_prefix(data: &'a [u8]) -> Result<(Self, &'a [u8]), CvcError> {
        let (tag, value, encoded, rest) = split_tlv(data)?;
        if tag != 0x7F21 {
            return Err(CvcError::Format);
        }
        let (mut body, mut signature) = (None, None);
        for item in objects(value) {
            let (tag, v, whole) = item?;
            match tag {
                0x7F4E => once(&mut body, whole)?,
                0x5F37 => once(&mut signature, v)?,
                _ => return Err(CvcError::Format),
            }
        }
        let body = body.ok_or(CvcError::Format)?;
        let signature = signature.ok_or(CvcError::Format)?;
        let cert = Self::from_body(encoded, body, signature)?;
        Ok((cert, rest))
    }

    fn from_body(encoded: &'a [u8], body: &'a [u8], signature: &'a [u8]) -> Result<Self, CvcError> {
        let (_, content, _, _) = split_tlv(body)?;
        let mut profile = None;
        let mut car = None;
        let mut key = None;
        let mut chr = None;
        let mut chat = None;
        let mut effective_date = None;
        let mut expiration_date = None;
        let mut extensions = None;
        for item in objects(content) {
            let (tag, v, whole) = item?;
            match tag {
                0x5F29 => once(&mut profile, v)?,
                0x42 => once(&mut car, v)?,
                0x7F49 => once(&mut key, whole)?,
                0x5F20 => once(&mut chr, v)?,
                0x7F4C => once(&mut chat, v)?,
                0x5F25 => once(&mut effective_date, v)?,
                0x5F24 => once(&mut expiration_date, v)?,
                0x65 => once(&mut extensions, v)?,
                _ => {}
            }
        }
        let chr = chr.filter(|c| !c.is_empty()).ok_or(CvcError::Format)?;
        let public_key = PublicKeyRef::parse(key.ok_or(CvcError::Format)?)?;
        Ok(Certificate {
            encoded,
            body,
            profile,
            car,
            public_key,
            chr,
            chat,
            effective_date,
            expiration_date,
            extensions,
            signature,
        })
    }

    /// The certificates of a concatenation (`2F02` holds device ‖ issuer ‖ root), in order.
    pub fn parse_all(data: &'a [u8]) -> impl Iterator<Item = Result<Certificate<'a>, CvcError>> + 'a {
        let mut rest = data;
        core::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            match Certificate::parse_prefix(rest) {
                Ok((c, next)) => {
                    rest = next;
                    Some(Ok(c))
                }
                Err(e) => {
                    rest = &[];
                    Some(Err(e))
                }
            }
        })
    }

    /// Whether the CAR equals the CHR (a root or a self-signed request).
    pub fn is_self_signed(&self) -> bool {
        self.car == Some(self.chr)
    }

    /// Verifies the signature over the body with `issuer`'s key; `domain` as in
    /// [`PublicKeyRef::verify`].
    pub fn verify(&self, issuer: &PublicKeyRef<'_>, domain: Option<Curve>) -> Result<(), CvcError> {
        issuer.verify(domain, self.body, self.signature)
    }

    /// Verifies the signature with the certificate's own key (a root, or the inner request of a
    /// registration: proof of possession). `domain` is used when the key carries none.
    pub fn verify_self_signed(&self, domain: Option<Curve>) -> Result<(), CvcError> {
        self.verify(&self.public_key, domain)
    }
}

/// The EC domain for `cert`'s key: its own when its template carries one, else the first one
/// found walking up the CAR chain with `issuer_of` (which finds a certificate by CHR; at most
/// 8 steps, stopping at a self-signed certificate). `Ok(None)` for RSA keys and when no
/// certificate up the chain has a domain.
pub fn inherited_domain<'b>(
    cert: &Certificate<'_>,
    mut issuer_of: impl FnMut(&[u8]) -> Option<Certificate<'b>>,
) -> Result<Option<Curve>, CvcError> {
    if let Some(c) = cert.public_key.own_domain()? {
        return Ok(Some(c));
    }
    if cert.is_self_signed() {
        return Ok(None);
    }
    let mut car = cert.car;
    for _ in 0..8 {
        let Some(name) = car else { return Ok(None) };
        let Some(issuer) = issuer_of(name) else {
            return Ok(None);
        };
        if let Some(c) = issuer.public_key.own_domain()? {
            return Ok(Some(c));
        }
        if issuer.is_self_signed() {
            return Ok(None);
        }
        car = issuer.car;
    }
    Ok(None)
}

/// An authenticated request `67 { 7F21 inner request, 42 outer CAR, 5F37 outer signature }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthenticatedRequest<'a> {
    /// The content of the `67` object (what pypicohsm sends to PUK AUTH).
    pub content: &'a [u8],
    /// The inner, self-signed request.
    pub inner: Certificate<'a>,
    /// The outer CAR (`42` value): the CHR of the device that signed the request.
    pub outer_car: &'a [u8],
    /// The outer signature (`5F37` value).
    pub outer_signature: &'a [u8],
    /// What the outer signature covers: the inner `7F21` object followed by the `42` object.
    pub outer_signed: &'a [u8],
}

impl<'a> AuthenticatedRequest<'a> {
    /// Parses exactly one `67` object (nothing may follow).
    pub fn parse(data: &'a [u8]) -> Result<Self, CvcError> {
        let (req, rest) = Self::parse_prefix(data)?;
        if !rest.is_empty() {
            return Err(CvcError::Format);
        }
        Ok(req)
    }

    /// Parses the `67` object at the start of `data`; returns it and what follows.
    pub fn parse_prefix(data: &'a [u8]) -> Result<(Self, &'a [u8]), CvcError> {
        let (tag, value, _, rest) = split_tlv(data)?;
        if tag != 0x67 {
            return Err(CvcError::Format);
        }
        Ok((Self::parse_content(value)?, rest))
    }

    /// Parses the content of a `67` object: `7F21 ‖ 42 ‖ 5F37`, in this order, nothing else.
    pub fn parse_content(content: &'a [u8]) -> Result<Self, CvcError> {
        let (inner, after_inner) = Certificate::parse_prefix(content)?;
        let (tag, outer_car, _, after_car) = split_tlv(after_inner)?;
        if tag != 0x42 || outer_car.is_empty() {
            return Err(CvcError::Format);
        }
        let (tag, outer_signature, _, rest) = split_tlv(after_car)?;
        if tag != 0x5F37 || !rest.is_empty() {
            return Err(CvcError::Format);
        }
        let signed_len = content.len() - after_car.len();
        let outer_signed = content.get(..signed_len).ok_or(CvcError::Format)?;
        Ok(AuthenticatedRequest {
            content,
            inner,
            outer_car,
            outer_signature,
            outer_signed,
        })
    }

    /// Verifies the inner self-signature (proof of possession of the requested key). An EC key
    /// without its own domain cannot be checked: [`CvcError::Format`].
    pub fn verify_inner(&self) -> Result<(), CvcError> {
        self.inner.verify_self_signed(None)
    }

    /// Verifies the outer signature with the signing device's key (`issuer`, the key of the
    /// certificate whose CHR is [`AuthenticatedRequest::outer_car`]); `domain` as in
    /// [`PublicKeyRef::verify`].
    pub fn verify_outer(&self, issuer: &PublicKeyRef<'_>, domain: Option<Curve>) -> Result<(), CvcError> {
        issuer.verify(domain, self.outer_signed, self.outer_signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_parameters_match_the_crate() {
        let secret = [7u8; 32];
        let q = hsm_crypto::ec::p256_public(&secret).unwrap();
        let pk = p256_public_key(&q);
        assert_eq!(&pk[..2], &[0x7F, 0x49]);
        // The generator encoded in the template is the public key of scalar 1.
        let mut one = [0u8; 32];
        one[31] = 1;
        let g = hsm_crypto::ec::p256_public(&one).unwrap();
        assert!(pk.windows(65).any(|w| w == g));
    }

    use hsm_crypto::asym::EcPrivateKey;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn rng() -> ChaCha20Rng {
        ChaCha20Rng::from_seed([9; 32])
    }

    /// A certificate made by the builders with a P-256 key (the device's own way).
    fn p256_cert(secret: &[u8; 32], car: &[u8], chr: &[u8], signer: &[u8; 32]) -> Vec<u8> {
        let q = hsm_crypto::ec::p256_public(secret).unwrap();
        let b = body(car, &p256_public_key(&q), chr, true);
        let sig = hsm_crypto::ec::p256_sign_sha256(signer, &b).unwrap();
        certificate(&b, &sig)
    }

    #[test]
    fn parses_and_verifies_builder_certificates() {
        let root = [1u8; 32];
        let dev = [2u8; 32];
        let root_cert = p256_cert(&root, b"ROOTCA00001", b"ROOTCA00001", &root);
        let dev_cert = p256_cert(&dev, b"ROOTCA00001", b"DEVICE00001", &root);
        let r = Certificate::parse(&root_cert).unwrap();
        let d = Certificate::parse(&dev_cert).unwrap();
        assert_eq!(r.chr, b"ROOTCA00001");
        assert!(r.is_self_signed() && !d.is_self_signed());
        assert_eq!(d.car, Some(&b"ROOTCA00001"[..]));
        assert_eq!(d.effective_date, Some(&EFFECTIVE[..]));
        assert_eq!(d.expiration_date, Some(&EXPIRY[..]));
        assert_eq!(d.profile, Some(&[0u8][..]));
        assert!(d.chat.is_some() && d.extensions.is_none());
        assert_eq!(d.public_key.algorithm(), Some(Algorithm::Ecdsa(Md::Sha256)));
        assert_eq!(d.public_key.own_domain(), Ok(Some(Curve::Secp256r1)));
        assert_eq!(
            d.public_key.ec_point().unwrap(),
            &hsm_crypto::ec::p256_public(&dev).unwrap()[..]
        );
        r.verify_self_signed(None).unwrap();
        d.verify(&r.public_key, None).unwrap();
        // Signed by the wrong key; self-signature of a certificate the root signed.
        assert_eq!(d.verify(&d.public_key, None), Err(CvcError::BadSignature));
        assert_eq!(d.verify_self_signed(None), Err(CvcError::BadSignature));
        // A changed body byte (inside the CHR) breaks the signature.
        let mut bad = dev_cert.clone();
        let pos = bad.windows(11).position(|w| w == b"DEVICE00001").unwrap();
        bad[pos] ^= 1;
        assert_eq!(
            Certificate::parse(&bad).unwrap().verify(&r.public_key, None),
            Err(CvcError::BadSignature)
        );
        // Chains parse in order; trailing bytes are rejected by `parse`.
        let chain = [dev_cert.clone(), root_cert.clone()].concat();
        let all: Vec<_> = Certificate::parse_all(&chain).map(|c| c.unwrap().chr).collect();
        assert_eq!(all, [&b"DEVICE00001"[..], b"ROOTCA00001"]);
        assert_eq!(Certificate::parse(&chain), Err(CvcError::Format));
        let (first, rest) = Certificate::parse_prefix(&chain).unwrap();
        assert_eq!(first.encoded, &dev_cert[..]);
        assert_eq!(rest, &root_cert[..]);
    }

    #[test]
    fn authenticated_request_inner_and_outer() {
        let key = [3u8; 32];
        let dev = [4u8; 32];
        let q = hsm_crypto::ec::p256_public(&key).unwrap();
        let rb = body(b"UTCA00001", &p256_public_key(&q), b"PUK00001", false);
        let inner = certificate(&rb, &hsm_crypto::ec::p256_sign_sha256(&key, &rb).unwrap());
        let tbs = authenticated_tbs(&inner, b"DEVICE00001");
        let req = authenticated_request(&tbs, &hsm_crypto::ec::p256_sign_sha256(&dev, &tbs).unwrap());
        let dev_cert = p256_cert(&dev, b"DEVICE00001", b"DEVICE00001", &dev);
        let dc = Certificate::parse(&dev_cert).unwrap();
        let a = AuthenticatedRequest::parse(&req).unwrap();
        assert_eq!(a.inner.chr, b"PUK00001");
        assert_eq!(a.outer_car, b"DEVICE00001");
        assert_eq!(a.outer_signed, &tbs[..]);
        assert!(a.inner.chat.is_none() && a.inner.effective_date.is_none());
        a.verify_inner().unwrap();
        a.verify_outer(&dc.public_key, None).unwrap();
        assert_eq!(a.verify_outer(&a.inner.public_key, None), Err(CvcError::BadSignature));
        // The content alone (pypicohsm's PUK AUTH data) parses the same.
        let (_, content, _, _) = split_tlv(&req).unwrap();
        assert_eq!(AuthenticatedRequest::parse_content(content).unwrap(), a);
        // Fields out of order or extra objects in the content are malformed.
        let mut swapped = Vec::new();
        put(&mut swapped, 0x42, b"DEVICE00001");
        swapped.extend_from_slice(&inner);
        assert_eq!(AuthenticatedRequest::parse_content(&swapped), Err(CvcError::Format));
        let mut extra = content.to_vec();
        extra.extend_from_slice(&[0x01, 0x00]);
        assert_eq!(AuthenticatedRequest::parse_content(&extra), Err(CvcError::Format));
        // The device's own request (CE00 layout) from `init.rs`'s builders verifies too.
        let pk = p256_public_key(&hsm_crypto::ec::p256_public(&dev).unwrap());
        let b2 = body(b"DEVICE00001", &pk, b"DEVICE00001", false);
        let inner2 = certificate(&b2, &hsm_crypto::ec::p256_sign_sha256(&dev, &b2).unwrap());
        let tbs2 = authenticated_tbs(&inner2, b"DEVICE00001");
        let req2 = authenticated_request(&tbs2, &hsm_crypto::ec::p256_sign_sha256(&dev, &tbs2).unwrap());
        let a2 = AuthenticatedRequest::parse(&req2).unwrap();
        a2.verify_inner().unwrap();
        a2.verify_outer(&a2.inner.public_key, None).unwrap();
    }

    /// An independent signer (the `p256` crate) over hand-assembled bytes, and a key template
    /// without domain parameters whose curve is inherited.
    #[test]
    fn independent_p256_signature_and_inherited_domain() {
        use p256::ecdsa::signature::Signer;
        let sk = p256::ecdsa::SigningKey::from_slice(&[5u8; 32]).unwrap();
        let point = sk.verifying_key().to_sec1_point(false);
        // 7F49 { 06 id-TA-ECDSA-SHA-256, 86 Q } only.
        let mut t = Vec::new();
        put(&mut t, 0x06, &OID_TA_ECDSA_SHA256);
        put(&mut t, 0x86, point.as_bytes());
        let pk = tlv(0x7F49, &t);
        let b = body(b"CVCA00001", &pk, b"TERM00001", true);
        let sig: p256::ecdsa::Signature = sk.sign(&b);
        let cert = certificate(&b, &sig.to_bytes());
        let c = Certificate::parse(&cert).unwrap();
        assert_eq!(c.public_key.own_domain(), Ok(None));
        assert_eq!(c.verify_self_signed(None), Err(CvcError::Format));
        c.verify_self_signed(Some(Curve::Secp256r1)).unwrap();
        assert!(c.verify_self_signed(Some(Curve::Secp384r1)).is_err());
        // The domain of the issuer chain: TERM → DV (no domain) → CVCA (P-256).
        let cvca_b = body(b"CVCA00001", &p256_public_key(&[4; 65]), b"CVCA00001", true);
        let cvca = certificate(&cvca_b, &[0; 64]);
        let dv_b = body(b"CVCA00001", &pk, b"DV0000001", true);
        let dv = certificate(&dv_b, &[0; 64]);
        let store = [Certificate::parse(&cvca).unwrap(), Certificate::parse(&dv).unwrap()];
        let term_b = body(b"DV0000001", &pk, b"TERM00001", true);
        let term = certificate(&term_b, &[0; 64]);
        let tc = Certificate::parse(&term).unwrap();
        let lookup = |chr: &[u8]| store.iter().find(|c| c.chr == chr).copied();
        assert_eq!(inherited_domain(&tc, lookup), Ok(Some(Curve::Secp256r1)));
        assert_eq!(inherited_domain(&tc, |_| None), Ok(None));
        // A loop in the CAR chain ends.
        let looped = [Certificate::parse(&dv).unwrap()];
        let dv_self = body(b"TERM00001", &pk, b"DV0000001", true);
        let dvs = certificate(&dv_self, &[0; 64]);
        let l2 = [Certificate::parse(&dvs).unwrap(), looped[0]];
        assert_eq!(
            inherited_domain(&tc, |chr: &[u8]| l2.iter().find(|c| c.chr == chr).copied()),
            Ok(None)
        );
        // A domain whose generator differs from the named curve's is malformed.
        let d = Curve::Secp256r1.params();
        let mut t = Vec::new();
        put(&mut t, 0x06, &OID_TA_ECDSA_SHA256);
        put(&mut t, 0x81, d.p);
        put(&mut t, 0x84, point.as_bytes());
        put(&mut t, 0x86, point.as_bytes());
        assert_eq!(
            PublicKeyRef::parse(&tlv(0x7F49, &t)).unwrap().own_domain(),
            Err(CvcError::Format)
        );
    }

    /// ECDSA on other curves (keys and signatures of hsm-crypto, raw r‖s) with the OID's hash.
    #[test]
    fn other_curves_and_hashes() {
        let mut rng = rng();
        for (curve, oid_last, md) in [
            (Curve::Secp384r1, 4u8, Md::Sha384),
            (Curve::Secp521r1, 5, Md::Sha512),
            (Curve::BrainpoolP256r1, 3, Md::Sha256),
            (Curve::Secp256k1, 3, Md::Sha256),
            (Curve::Secp192r1, 2, Md::Sha224),
            (Curve::BrainpoolP512r1, 5, Md::Sha512),
        ] {
            let k = EcPrivateKey::generate(curve, &mut rng).unwrap();
            let mut pk = public_key(&PublicKey::Ec {
                curve,
                point: &k.public_key().unwrap(),
            });
            // Rewrite the OID's last arc for the hash.
            let pos = pk.windows(10).position(|w| w == OID_TA_ECDSA_SHA256).unwrap();
            pk[pos + 9] = oid_last;
            let b = body(b"X", &pk, b"X", true);
            let sig = k.ecdsa_sign_raw(&md.digest(&b), &mut rng).unwrap();
            let cert = certificate(&b, &sig);
            let c = Certificate::parse(&cert).unwrap();
            assert_eq!(c.public_key.algorithm(), Some(Algorithm::Ecdsa(md)), "{curve:?}");
            assert_eq!(c.public_key.own_domain(), Ok(Some(curve)));
            c.verify_self_signed(None).unwrap_or_else(|e| panic!("{curve:?}: {e}"));
            let mut bad = sig.clone();
            bad[3] ^= 0x40;
            assert_eq!(
                c.public_key.verify(None, &b, &bad),
                Err(CvcError::BadSignature),
                "{curve:?}"
            );
        }
    }

    /// RSA issuers: PKCS#1 v1.5 and PSS signatures made by the `rsa` crate.
    #[cfg(feature = "rsa")]
    #[test]
    fn rsa_issuer_v15_and_pss() {
        use rsa::traits::PublicKeyParts;
        use rsa::{Pkcs1v15Sign, Pss};
        use sha2::Digest;
        let mut rng = rng();
        let k = rsa::PrivateKey::new(&mut rng, 2048).unwrap();
        let n = k.n().as_ref().to_be_bytes();
        let e = k.e().to_be_bytes();
        let e = &e[e.iter().position(|b| *b != 0).unwrap()..];
        let pk = public_key(&PublicKey::Rsa { n: &n, e });
        let b = body(b"RSACA0001", &pk, b"RSACA0001", true);
        let h = sha2::Sha256::digest(&b);
        let mut t = hsm_crypto::asym::rsa::HashAlg::Sha256.digest_info_prefix().to_vec();
        t.extend_from_slice(&h);
        let v15 = k.sign(Pkcs1v15Sign::new_unprefixed(), &t).unwrap();
        let cert = certificate(&b, &v15);
        let c = Certificate::parse(&cert).unwrap();
        assert!(c.public_key.is_rsa());
        assert_eq!(c.public_key.rsa_components(), Some((&n[..], e)));
        c.verify_self_signed(None).unwrap();
        let mut bad = v15.clone();
        bad[0] ^= 1;
        assert_eq!(c.public_key.verify(None, &b, &bad), Err(CvcError::BadSignature));
        // The same key under id-TA-RSA-PSS-SHA-256 (…02 02 02 01 04) verifies PSS, not v1.5.
        let mut pss_pk = pk.clone();
        let pos = pss_pk.windows(10).position(|w| w == OID_TA_RSA_V15_SHA256).unwrap();
        pss_pk[pos + 9] = 4;
        let pss_key = PublicKeyRef::parse(&pss_pk).unwrap();
        assert_eq!(pss_key.algorithm(), Some(Algorithm::RsaPss(Md::Sha256)));
        let pss = k.sign_with_rng(&mut rng, Pss::<sha2::Sha256>::new(), &h).unwrap();
        pss_key.verify(None, &b, &pss).unwrap();
        assert_eq!(pss_key.verify(None, &b, &v15), Err(CvcError::BadSignature));
        assert_eq!(c.public_key.verify(None, &b, &pss), Err(CvcError::BadSignature));
    }

    #[test]
    fn malformed_inputs_never_panic() {
        let root = [1u8; 32];
        let cert = p256_cert(&root, b"R", b"R", &root);
        for len in 0..cert.len() {
            assert!(Certificate::parse(&cert[..len]).is_err(), "prefix {len}");
            assert!(AuthenticatedRequest::parse(&cert[..len]).is_err());
        }
        // Every single-byte change either fails to parse or fails to verify (or, in the signature
        // or an ignored byte, still parses): never a panic.
        for i in 0..cert.len() {
            for x in [0x01u8, 0x80, 0xFF] {
                let mut c = cert.clone();
                c[i] ^= x;
                if let Ok(p) = Certificate::parse(&c) {
                    let _ = p.verify_self_signed(None);
                    let _ = inherited_domain(&p, |_| Some(p));
                }
            }
        }
        // Missing CHR, missing key, repeated objects, unknown key OID.
        let q = hsm_crypto::ec::p256_public(&root).unwrap();
        let pk = p256_public_key(&q);
        let mut no_chr = Vec::new();
        put(&mut no_chr, 0x42, b"R");
        no_chr.extend_from_slice(&pk);
        assert_eq!(
            Certificate::parse(&certificate(&tlv(0x7F4E, &no_chr), &[0; 64])),
            Err(CvcError::Format)
        );
        let mut twice = no_chr.clone();
        put(&mut twice, 0x5F20, b"R");
        put(&mut twice, 0x5F20, b"R");
        assert_eq!(
            Certificate::parse(&certificate(&tlv(0x7F4E, &twice), &[0; 64])),
            Err(CvcError::Format)
        );
        let mut odd_oid = Vec::new();
        put(&mut odd_oid, 0x06, &OID_RI_ECDH_SHA256);
        put(&mut odd_oid, 0x86, &q);
        let odd_pk = tlv(0x7F49, &odd_oid);
        let k = PublicKeyRef::parse(&odd_pk).unwrap();
        assert_eq!(k.algorithm(), None);
        assert_eq!(k.verify(Some(Curve::Secp256r1), b"m", &[0; 64]), Err(CvcError::Format));
        assert_eq!(CvcError::Format.status(), hsm_apdu::Status::DataInvalid);
        assert_eq!(
            CvcError::BadSignature.status(),
            hsm_apdu::Status::ConditionsNotSatisfied
        );
    }

    #[test]
    fn short_raw_signatures_are_left_padded() {
        assert_eq!(raw_signature(&[1, 2], 2).unwrap(), [0, 1, 0, 2]);
        assert_eq!(raw_signature(&[1, 2, 3, 4], 2).unwrap(), [1, 2, 3, 4]);
        assert!(raw_signature(&[1, 2, 3], 2).is_none());
        assert!(raw_signature(&[1; 6], 2).is_none());
        assert!(raw_signature(&[], 2).is_none());
    }
}
