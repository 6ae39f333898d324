//! Key operations through the card (`Card::transmit` over a RAM platform) next to the same operation
//! called on `hsm-crypto` directly: the difference is the card's own cost (APDU parsing, key record
//! unsealing, use-counter write, response encoding).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hsm_apdu::tlv;
use hsm_card::testing::RamPlatform;
use hsm_card::{Card, RESPONSE_BUFFER_SIZE};
use hsm_crypto::asym::rsa::RsaPrivateKey;
use hsm_crypto::asym::{Curve, EcPrivateKey};
use hsm_crypto::drbg::Drbg;

const OID_ECDSA: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x02, 0x03];
const OID_RSA: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x01, 0x02];
/// DigestInfo of SHA-256 over 32 bytes of 0x42 (P2 30 input).
const SHA256_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
];

fn put(out: &mut Vec<u8>, tag: u16, value: &[u8]) {
    let mut hdr = [0u8; 7];
    out.extend_from_slice(tlv::header(tag, value.len(), &mut hdr));
    out.extend_from_slice(value);
}

fn apdu(cla: u8, ins: u8, p1: u8, p2: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![cla, ins, p1, p2, 0, (data.len() >> 8) as u8, data.len() as u8];
    v.extend_from_slice(data);
    v.extend_from_slice(&[0, 0]);
    v
}

fn run(card: &mut Card<RamPlatform>, a: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; RESPONSE_BUFFER_SIZE];
    let n = card.transmit(a, &mut out);
    assert_eq!(&out[n - 2..n], &[0x90, 0x00], "APDU {:02X?}", &a[..4]);
    out.truncate(n - 2);
    out
}

fn keygen_apdu(id: u8, template: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    put(&mut d, 0x5F29, &[0]);
    put(&mut d, 0x42, b"UTCA00001");
    put(&mut d, 0x7F49, template);
    put(&mut d, 0x5F20, b"UTTM00001");
    apdu(0x00, 0x46, id, 0x00, &d)
}

fn ec_template(curve: Curve) -> Vec<u8> {
    let d = curve.params();
    let mut t = Vec::new();
    put(&mut t, 0x06, &OID_ECDSA);
    put(&mut t, 0x81, d.p);
    if d.a.is_empty() {
        put(&mut t, 0x83, d.g);
    } else {
        put(&mut t, 0x82, d.a);
        put(&mut t, 0x83, d.b);
        put(&mut t, 0x84, d.g);
    }
    put(&mut t, 0x85, d.n);
    t
}

fn rsa_template(bits: u16) -> Vec<u8> {
    let mut t = Vec::new();
    put(&mut t, 0x06, &OID_RSA);
    put(&mut t, 0x02, &bits.to_be_bytes());
    put(&mut t, 0x82, &[0x01, 0x00, 0x01]);
    t
}

fn ready_card() -> Card<RamPlatform> {
    let mut card = Card::new(RamPlatform::new(5));
    for a in [
        "00A4040C0BE82B0601040181C31F0201",
        "8050000019800200018106363438323139820835373632313838309101 03",
        "0020008106363438323139",
    ] {
        run(&mut card, &hex::decode(a.replace(' ', "")).unwrap());
    }
    card
}

/// WRAP KEY and UNWRAP KEY per key type: the blob's crypto (AES-CBC, CMAC, SHA-256 of the DKEK),
/// unsealing or sealing the key, and on UNWRAP of RSA/EC keys the new CV request (two signatures).
fn bench_wrap(c: &mut Criterion) {
    let mut card = Card::new(RamPlatform::new(6));
    for a in [
        "00A4040C0BE82B0601040181C31F0201",
        "805000001C800200018106363438323139820835373632313838309101 03 920101",
        "0020008106363438323139",
    ] {
        run(&mut card, &hex::decode(a.replace(' ', "")).unwrap());
    }
    let mut share = vec![0x80, 0x52, 0x00, 0x00, 0x20];
    share.extend_from_slice(&[0x3C; 32]);
    share.push(0);
    run(&mut card, &share);
    let mut g = c.benchmark_group("wrap");
    g.sample_size(20);
    let keys: [(u8, &str, Vec<u8>); 5] = [
        (1, "P-256", keygen_apdu(1, &ec_template(Curve::Secp256r1))),
        (2, "Ed25519", keygen_apdu(2, &ec_template(Curve::Ed25519))),
        (3, "RSA-2048", keygen_apdu(3, &rsa_template(2048))),
        (4, "AES-256", vec![0x00, 0x48, 0x04, 0xB2]),
        (5, "P-521", keygen_apdu(5, &ec_template(Curve::Secp521r1))),
    ];
    for (id, name, generate) in keys {
        run(&mut card, &generate);
        let wrap = [0x80, 0x72, id, 0x92, 0x00, 0x00, 0x00];
        let blob = run(&mut card, &wrap);
        g.bench_function(BenchmarkId::new("wrap", name), |b| b.iter(|| run(&mut card, &wrap)));
        let unwrap = apdu(0x80, 0x74, 100 + id, 0x93, &blob);
        g.bench_function(BenchmarkId::new("unwrap", name), |b| b.iter(|| run(&mut card, &unwrap)));
    }
    g.finish();
}

fn drbg() -> Drbg {
    let mut d = Drbg::new();
    let mut e = [0u8; hsm_crypto::drbg::ENTROPY_LEN];
    for (i, b) in e.iter_mut().enumerate() {
        *b = i as u8 ^ 0x5A;
    }
    d.reseed(&e).unwrap();
    d
}

fn bench_ec(c: &mut Criterion) {
    let mut card = ready_card();
    let mut rng = drbg();
    let hash = [0x42u8; 32];
    for (id, name, curve) in [
        (1u8, "P-256", Curve::Secp256r1),
        (2, "P-384", Curve::Secp384r1),
        (3, "Ed25519", Curve::Ed25519),
        (4, "X25519", Curve::X25519),
    ] {
        let mut g = c.benchmark_group(name);
        g.sample_size(20);
        let gen_apdu = keygen_apdu(id, &ec_template(curve));
        run(&mut card, &gen_apdu);
        g.bench_function(BenchmarkId::new("keygen", "card"), |b| {
            b.iter(|| run(&mut card, &gen_apdu))
        });
        g.bench_function(BenchmarkId::new("keygen", "crypto"), |b| {
            b.iter(|| EcPrivateKey::generate(curve, &mut rng).unwrap())
        });
        let key = EcPrivateKey::generate(curve, &mut rng).unwrap();
        match curve {
            Curve::X25519 => {
                let peer = EcPrivateKey::generate(curve, &mut rng).unwrap().public_key().unwrap();
                let a = apdu(0x80, 0x62, id, 0x80, &peer);
                g.bench_function(BenchmarkId::new("ecdh", "card"), |b| b.iter(|| run(&mut card, &a)));
                g.bench_function(BenchmarkId::new("ecdh", "crypto"), |b| {
                    b.iter(|| key.ecdh(&peer).unwrap())
                });
            }
            Curve::Ed25519 => {
                let a = apdu(0x80, 0x68, id, 0x70, &hash);
                g.bench_function(BenchmarkId::new("sign", "card"), |b| b.iter(|| run(&mut card, &a)));
                g.bench_function(BenchmarkId::new("sign", "crypto"), |b| {
                    b.iter(|| key.eddsa_sign(&hash).unwrap())
                });
            }
            _ => {
                let a = apdu(0x80, 0x68, id, 0x70, &hash);
                g.bench_function(BenchmarkId::new("sign", "card"), |b| b.iter(|| run(&mut card, &a)));
                g.bench_function(BenchmarkId::new("sign", "crypto"), |b| {
                    b.iter(|| key.ecdsa_sign_prehash(&hash, &mut rng).unwrap())
                });
                let peer = EcPrivateKey::generate(curve, &mut rng).unwrap().public_key().unwrap();
                let a = apdu(0x80, 0x62, id, 0x80, &peer);
                g.bench_function(BenchmarkId::new("ecdh", "card"), |b| b.iter(|| run(&mut card, &a)));
                g.bench_function(BenchmarkId::new("ecdh", "crypto"), |b| {
                    b.iter(|| key.ecdh(&peer).unwrap())
                });
                let mut tweak = vec![0u8; curve.field_bytes()];
                *tweak.last_mut().unwrap() = 7;
                let mut d = vec![0x98];
                d.extend_from_slice(&tweak);
                let a = apdu(0x80, 0x76, id, id + 0x40, &d);
                g.bench_function(BenchmarkId::new("derive", "card"), |b| b.iter(|| run(&mut card, &a)));
                g.bench_function(BenchmarkId::new("derive", "crypto"), |b| {
                    b.iter(|| key.derive_additive(&tweak).unwrap())
                });
            }
        }
        g.finish();
    }
}

fn bench_rsa(c: &mut Criterion) {
    let mut card = ready_card();
    let mut rng = drbg();
    let mut digest_info = SHA256_PREFIX.to_vec();
    digest_info.extend_from_slice(&[0x42; 32]);
    for (id, bits) in [(0x11u8, 2048u16), (0x12, 4096)] {
        let mut g = c.benchmark_group(format!("RSA-{bits}"));
        g.sample_size(10);
        let gen_apdu = keygen_apdu(id, &rsa_template(bits));
        // Generated once outside the measurement too, so a filtered run still has the key.
        run(&mut card, &gen_apdu);
        if bits == 2048 {
            g.bench_function(BenchmarkId::new("keygen", "card"), |b| {
                b.iter(|| run(&mut card, &gen_apdu))
            });
            g.bench_function(BenchmarkId::new("keygen", "crypto"), |b| {
                b.iter(|| RsaPrivateKey::generate(usize::from(bits), 65537, &mut rng).unwrap())
            });
        }
        let key = RsaPrivateKey::generate(usize::from(bits), 65537, &mut rng).unwrap();
        let a = apdu(0x80, 0x68, id, 0x30, &digest_info);
        g.bench_function(BenchmarkId::new("sign_pkcs1", "card"), |b| {
            b.iter(|| run(&mut card, &a))
        });
        g.bench_function(BenchmarkId::new("sign_pkcs1", "crypto"), |b| {
            b.iter(|| key.sign_pkcs1v15_digest_info(&digest_info, &mut rng).unwrap())
        });
        // A PKCS#1 v1.5 block for the card's key, encrypted with its public key taken from CE.
        let ct = {
            let mut em = vec![0x00, 0x02];
            em.resize(usize::from(bits / 8) - 17, 0x5A);
            em.push(0x00);
            em.extend_from_slice(&[0x11; 16]);
            let resp = run(&mut card, &apdu(0x00, 0xB1, 0xCE, id, &[0x54, 0x02, 0x00, 0x00]));
            let n = find_modulus(&resp);
            modpow_e65537(&em, &n)
        };
        let a = apdu(0x80, 0x62, id, 0x22, &ct);
        g.bench_function(BenchmarkId::new("decrypt_pkcs1", "card"), |b| {
            b.iter(|| run(&mut card, &a))
        });
        let own_ct = {
            let mut em = vec![0x00, 0x02];
            em.resize(usize::from(bits / 8) - 17, 0x5A);
            em.push(0x00);
            em.extend_from_slice(&[0x11; 16]);
            modpow_e65537(&em, &key.modulus())
        };
        g.bench_function(BenchmarkId::new("decrypt_pkcs1", "crypto"), |b| {
            b.iter(|| key.decrypt_pkcs1v15(&own_ct, &mut rng).unwrap())
        });
        g.finish();
    }
}

/// The modulus (`81`) in the CV request's `7F49` template.
fn find_modulus(cv: &[u8]) -> Vec<u8> {
    let pos = cv.windows(2).position(|w| w == [0x7F, 0x49]).unwrap();
    let tmpl = tlv::find(&cv[pos..], 0x7F49).unwrap().unwrap();
    tlv::find(tmpl, 0x81).unwrap().unwrap().to_vec()
}

fn modpow_e65537(m: &[u8], n: &[u8]) -> Vec<u8> {
    use rsa::BoxedUint;
    use rsa::traits::PublicKeyParts;
    let public = rsa::PublicKey::new(
        BoxedUint::from_be_slice_vartime(n),
        BoxedUint::from_be_slice_vartime(&[1, 0, 1]),
    )
    .unwrap();
    let m = BoxedUint::from_be_slice(m, public.n_bits_precision()).unwrap();
    let c = rsa::hazmat::rsa_encrypt(&public, &m).unwrap();
    let mut out = c.to_be_bytes().to_vec();
    let k = n.len();
    if out.len() > k {
        out.drain(..out.len() - k);
    }
    while out.len() < k {
        out.insert(0, 0);
    }
    out
}

criterion_group!(benches, bench_ec, bench_rsa, bench_wrap);
criterion_main!(benches);
