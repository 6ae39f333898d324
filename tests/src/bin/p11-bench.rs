//! Operations per second through a PKCS#11 module: OpenSC's module in front of the virtual card, or
//! SoftHSM2, measured the same way in the same run.
//!
//! ```text
//! p11-bench --module PATH --pin PIN --op OP [--id HEX] [--token LABEL] [--count N]
//! ```
//!
//! `OP`: `sign-ecdsa`, `sign-eddsa`, `sign-rsa` (SHA256-RSA-PKCS), `decrypt-rsa` (RSA-PKCS, of a
//! ciphertext made in software with the public key of the same id: OpenSC's C_Encrypt does not
//! take the card's), `ecdh` (ECDH1-DERIVE with the
//! key's own public point as the peer), `keygen-ec` (P-256), `keygen-ed25519`, `keygen-rsa` (2048).
//! `--mechanism ecdsa|sha256-rsa-pkcs` is the older spelling of `--op sign-ecdsa|sign-rsa`.
//!
//! Opens one session, logs in, finds the key by CKA_ID (not for key generation) and runs the
//! operation N times after one warm-up; key generation makes token keys with `--id` and deletes
//! each pair outside the measured time. Prints the median of one operation and the rate, and a
//! line `RESULT <op> <median ms> <count>` for `cargo xtask bench`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;

/// DER OID of prime256v1 and of Ed25519 (CKA_EC_PARAMS).
const P256_OID: [u8; 10] = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
const ED25519_OID: [u8; 5] = [0x06, 0x03, 0x2B, 0x65, 0x70];

struct Args {
    module: String,
    pin: String,
    id: Vec<u8>,
    op: String,
    token: Option<String>,
    count: usize,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("p11-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        module: String::new(),
        pin: String::new(),
        id: vec![0x7E],
        op: String::new(),
        token: None,
        count: 200,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--module" => a.module = value()?,
            "--pin" => a.pin = value()?,
            "--id" => a.id = hex::decode(value()?).map_err(|e| format!("--id: {e}"))?,
            "--op" => a.op = value()?,
            "--mechanism" => {
                a.op = match value()?.as_str() {
                    "ecdsa" => "sign-ecdsa".into(),
                    "sha256-rsa-pkcs" => "sign-rsa".into(),
                    other => return Err(format!("unknown mechanism {other:?}")),
                }
            }
            "--token" => a.token = Some(value()?),
            "--count" => a.count = value()?.parse().map_err(|e| format!("--count: {e}"))?,
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    if a.module.is_empty() || a.pin.is_empty() || a.id.is_empty() || a.count == 0 || a.op.is_empty() {
        return Err("usage: p11-bench --module PATH --pin PIN --op OP [--id HEX] [--token LABEL] [--count N]".into());
    }
    Ok(a)
}

fn find(session: &Session, class: ObjectClass, id: &[u8]) -> Result<ObjectHandle, String> {
    session
        .find_objects(&[Attribute::Class(class), Attribute::Id(id.to_vec())])
        .map_err(|e| format!("find key: {e}"))?
        .first()
        .copied()
        .ok_or_else(|| format!("no {class} with id {}", hex::encode(id)))
}

/// The raw point of a public EC key (CKA_EC_POINT is a DER OCTET STRING around it).
fn public_point(session: &Session, key: ObjectHandle) -> Result<Vec<u8>, String> {
    let attrs = session
        .get_attributes(key, &[AttributeType::EcPoint])
        .map_err(|e| format!("CKA_EC_POINT: {e}"))?;
    let Some(Attribute::EcPoint(der)) = attrs.first() else {
        return Err("no CKA_EC_POINT".into());
    };
    Ok(match der.as_slice() {
        [0x04, len, rest @ ..] if usize::from(*len) == rest.len() => rest.to_vec(),
        [0x04, 0x81, len, rest @ ..] if usize::from(*len) == rest.len() => rest.to_vec(),
        raw => raw.to_vec(),
    })
}

/// RSAES-PKCS1-v1_5 encryption of `msg` with the public key object `public` (modulus and exponent
/// read through PKCS#11, encryption by the `rsa` crate).
fn encrypt_pkcs1(session: &Session, public: ObjectHandle, msg: &[u8]) -> Result<Vec<u8>, String> {
    use rand_chacha::rand_core::SeedableRng;
    let attrs = session
        .get_attributes(public, &[AttributeType::Modulus, AttributeType::PublicExponent])
        .map_err(|e| format!("CKA_MODULUS: {e}"))?;
    let (mut n, mut e) = (None, None);
    for a in attrs {
        match a {
            Attribute::Modulus(v) => n = Some(v),
            Attribute::PublicExponent(v) => e = Some(v),
            _ => {}
        }
    }
    let (n, e) = n.zip(e).ok_or("no modulus or exponent")?;
    let key = rsa::PublicKey::new(
        rsa::BoxedUint::from_be_slice_vartime(&n),
        rsa::BoxedUint::from_be_slice_vartime(&e),
    )
    .map_err(|e| format!("public key: {e}"))?;
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([7; 32]);
    key.encrypt(&mut rng, rsa::Pkcs1v15Encrypt, msg)
        .map_err(|e| format!("encrypt: {e}"))
}

/// Times `count` runs of `op` after one warm-up; `setup` runs before each, outside the timing.
fn measure(
    count: usize,
    mut setup: impl FnMut() -> Result<(), String>,
    mut op: impl FnMut() -> Result<(), String>,
    mut cleanup: impl FnMut() -> Result<(), String>,
) -> Result<(Duration, Duration), String> {
    setup()?;
    op()?;
    cleanup()?;
    let mut times = Vec::with_capacity(count);
    let mut busy = Duration::ZERO;
    for _ in 0..count {
        setup()?;
        let t = Instant::now();
        op()?;
        let elapsed = t.elapsed();
        cleanup()?;
        busy += elapsed;
        times.push(elapsed);
    }
    times.sort();
    Ok((times[times.len() / 2], busy))
}

fn run() -> Result<(), String> {
    let args = parse()?;
    let p11 = Pkcs11::new(&args.module).map_err(|e| format!("load {}: {e}", args.module))?;
    p11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(|e| format!("C_Initialize: {e}"))?;
    let slots = p11.get_slots_with_token().map_err(|e| format!("slots: {e}"))?;
    let slot = slots
        .into_iter()
        .find(|s| match &args.token {
            None => true,
            Some(label) => p11
                .get_token_info(*s)
                .map(|t| t.label().trim() == label)
                .unwrap_or(false),
        })
        .ok_or("no token")?;
    let session = p11.open_rw_session(slot).map_err(|e| format!("open session: {e}"))?;
    session
        .login(UserType::User, Some(&AuthPin::from(args.pin.clone())))
        .map_err(|e| format!("login: {e}"))?;
    let id = args.id.clone();
    let none = || Ok(());
    let sign = |mechanism: Mechanism<'static>, data: Vec<u8>| -> Result<(Duration, Duration), String> {
        let key = find(&session, ObjectClass::PRIVATE_KEY, &id)?;
        measure(
            args.count,
            none,
            || {
                session
                    .sign(&mechanism, key, &data)
                    .map(drop)
                    .map_err(|e| format!("C_Sign: {e}"))
            },
            none,
        )
    };
    let (median, busy) = match args.op.as_str() {
        "sign-ecdsa" => sign(Mechanism::Ecdsa, vec![0x42; 32])?,
        "sign-eddsa" => sign(
            Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
            b"data to sign".to_vec(),
        )?,
        "sign-rsa" => sign(Mechanism::Sha256RsaPkcs, b"data to sign".to_vec())?,
        "decrypt-rsa" => {
            let public = find(&session, ObjectClass::PUBLIC_KEY, &id)?;
            let key = find(&session, ObjectClass::PRIVATE_KEY, &id)?;
            let ct = encrypt_pkcs1(&session, public, &[0x5A; 32])?;
            measure(
                args.count,
                none,
                || {
                    let m = session
                        .decrypt(&Mechanism::RsaPkcs, key, &ct)
                        .map_err(|e| format!("C_Decrypt: {e}"))?;
                    if m != [0x5A; 32] {
                        return Err("C_Decrypt gave another message".into());
                    }
                    Ok(())
                },
                none,
            )?
        }
        "ecdh" => {
            let key = find(&session, ObjectClass::PRIVATE_KEY, &id)?;
            let point = public_point(&session, find(&session, ObjectClass::PUBLIC_KEY, &id)?)?;
            let template = [
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::GENERIC_SECRET),
                Attribute::Token(false),
                Attribute::Sensitive(false),
                Attribute::Extractable(true),
                Attribute::ValueLen(32.into()),
            ];
            let derived = std::cell::Cell::new(None);
            measure(
                args.count,
                none,
                || {
                    let params = Ecdh1DeriveParams::new(EcKdf::null(), &point);
                    derived.set(Some(
                        session
                            .derive_key(&Mechanism::Ecdh1Derive(params), key, &template)
                            .map_err(|e| format!("C_DeriveKey: {e}"))?,
                    ));
                    Ok(())
                },
                || match derived.take() {
                    Some(k) => session.destroy_object(k).map_err(|e| format!("destroy: {e}")),
                    None => Ok(()),
                },
            )?
        }
        "keygen-ec" | "keygen-ed25519" | "keygen-rsa" => {
            let (mechanism, mut public, private_usage) = match args.op.as_str() {
                "keygen-ec" => (
                    Mechanism::EccKeyPairGen,
                    vec![Attribute::EcParams(P256_OID.to_vec()), Attribute::Verify(true)],
                    vec![Attribute::Sign(true), Attribute::Derive(true)],
                ),
                "keygen-ed25519" => (
                    Mechanism::EccEdwardsKeyPairGen,
                    vec![Attribute::EcParams(ED25519_OID.to_vec()), Attribute::Verify(true)],
                    vec![Attribute::Sign(true)],
                ),
                _ => (
                    Mechanism::RsaPkcsKeyPairGen,
                    vec![
                        Attribute::ModulusBits(2048.into()),
                        Attribute::PublicExponent(vec![1, 0, 1]),
                        Attribute::Verify(true),
                        Attribute::Encrypt(true),
                    ],
                    vec![Attribute::Sign(true), Attribute::Decrypt(true)],
                ),
            };
            let label = Attribute::Label(b"p11-bench".to_vec());
            public.extend([Attribute::Token(true), Attribute::Id(id.clone()), label.clone()]);
            let mut private = vec![
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Id(id.clone()),
                label,
            ];
            private.extend(private_usage);
            let made = std::cell::Cell::new(None);
            measure(
                args.count,
                none,
                || {
                    made.set(Some(
                        session
                            .generate_key_pair(&mechanism, &public, &private)
                            .map_err(|e| format!("C_GenerateKeyPair: {e}"))?,
                    ));
                    Ok(())
                },
                || match made.take() {
                    Some((public, private)) => {
                        session
                            .destroy_object(private)
                            .map_err(|e| format!("destroy private key: {e}"))?;
                        // OpenSC may take the public key with the private one.
                        session.destroy_object(public).ok();
                        Ok(())
                    }
                    None => Ok(()),
                },
            )?
        }
        other => return Err(format!("unknown --op {other:?}")),
    };
    let median_ms = median.as_secs_f64() * 1e3;
    println!(
        "{} {}: median {median_ms:.3} ms per operation, {:.0} operations/s over {}",
        args.module,
        args.op,
        args.count as f64 / busy.as_secs_f64(),
        args.count
    );
    println!("RESULT {} {median_ms:.4} {}", args.op, args.count);
    Ok(())
}
