use alloc::vec::Vec;

use crypto_bigint::U256;
use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use super::*;
use crate::asym::{Curve, EcPrivateKey, raw_to_der};

fn hx(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn sha512(parts: &[&[u8]]) -> Vec<u8> {
    use sha2::Digest;
    let mut h = sha2::Sha512::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().to_vec()
}

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::from_seed([7; 32])
}

fn p256_arith() -> Arith<{ U256::LIMBS }> {
    Arith::new(Curve::Secp256r1.params()).unwrap()
}

/// The generic code instantiated with the P-256 parameters agrees with `p256`.
#[test]
fn generic_p256_matches_rustcrypto() {
    let a = p256_arith();
    let mut rng = rng();
    for i in 0..24 {
        let mut d = [0u8; 32];
        rng.fill_bytes(&mut d);
        if i == 0 {
            d = [0; 32];
            d[31] = 1;
        }
        let Ok(sk) = p256::ecdsa::SigningKey::from_slice(&d) else {
            continue;
        };
        let expected = sk.verifying_key().to_sec1_point(false).as_bytes().to_vec();
        assert_eq!(a.public(&d).unwrap(), expected, "public key {i}");

        let mut e = [0u8; 32];
        rng.fill_bytes(&mut e);
        let peer = p256::SecretKey::from_slice(&e).unwrap();
        use p256::elliptic_curve::sec1::ToSec1Point;
        let shared = a.ecdh(&d, peer.public_key().to_sec1_point(false).as_bytes()).unwrap();
        let theirs = (peer.public_key().to_projective() * **sk.as_nonzero_scalar()).to_affine();
        assert_eq!(&shared[..], theirs.to_sec1_point(false).as_bytes());

        let hash = crate::hash::sha256(&[&e]);
        let ours = a.sign(&d, &hash, b"").unwrap();
        let sig = p256::ecdsa::Signature::from_slice(&ours).unwrap();
        sk.verifying_key().verify_prehash(&hash, &sig).unwrap();
        // RFC 6979 with HMAC-SHA-256 and no extra data, as p256 signs: the same bytes.
        let theirs: p256::ecdsa::Signature = sk.sign_prehash(&hash).unwrap();
        assert_eq!(ours, theirs.to_bytes().to_vec());
        a.verify(&expected, &hash, &theirs.to_bytes()).unwrap();
        assert!(a.verify(&expected, &[0u8; 32], &theirs.to_bytes()).is_err());
    }
}

#[test]
fn generic_p256_compressed_points_and_rejections() {
    let a = p256_arith();
    let g = Curve::Secp256r1.params().g;
    let mut compressed = g[..33].to_vec();
    compressed[0] = 0x02 | (g[64] & 1);
    assert_eq!(a.decode_point_bytes(&compressed).unwrap(), g);
    let mut off = g.to_vec();
    off[64] ^= 1;
    assert_eq!(a.decode(&off).err(), Some(Error::InvalidPoint));
    assert!(a.decode(&[0x00]).is_err());
    assert!(a.decode(&g[..64]).is_err());
    let mut big = g.to_vec();
    big[1..33].copy_from_slice(Curve::Secp256r1.params().p);
    assert!(a.decode(&big).is_err());
}

impl<const L: usize> Arith<L>
where
    Uint<L>: Encoding + Unsigned,
{
    fn decode_point_bytes(&self, b: &[u8]) -> Result<Vec<u8>, Error> {
        self.decode(b).map(|p| self.encode(&p))
    }
}

/// RFC 7027 appendix A.3 (brainpoolP512r1 ECDH); the shared point was also recomputed with
/// OpenSSL 3.0 as the public key of `dA·dB mod n`.
#[test]
fn brainpool512_rfc7027() {
    let da = hx(
        "16302FF0DBBB5A8D733DAB7141C1B45ACBC8715939677F6A56850A38BD87BD59B09E80279609FF333EB9D4C061231FB26F92EEB04982A5F1D1764CAD57665422",
    );
    let qa = hx(
        "040A420517E406AAC0ACDCE90FCD71487718D3B953EFD7FBEC5F7F27E28C6149999397E91E029E06457DB2D3E640668B392C2A7E737A7F0BF04436D11640FD09FD72E6882E8DB28AAD36237CD25D580DB23783961C8DC52DFA2EC138AD472A0FCEF3887CF62B623B2A87DE5C588301EA3E5FC269B373B60724F5E82A6AD147FDE7",
    );
    let db = hx(
        "230E18E1BCC88A362FA54E4EA3902009292F7F8033624FD471B5D8ACE49D12CFABBC19963DAB8E2F1EBA00BFFB29E4D72D13F2224562F405CB80503666B25429",
    );
    let qb = hx(
        "049D45F66DE5D67E2E6DB6E93A59CE0BB48106097FF78A081DE781CDB31FCE8CCBAAEA8DD4320C4119F1E9CD437A2EAB3731FA9668AB268D871DEDA55A5473199F2FDC313095BCDD5FB3A91636F07A959C8E86B5636A1E930E8396049CB481961D365CC11453A06C719835475B12CB52FC3C383BCE35E27EF194512B71876285FA",
    );
    let z = hx(
        "04A7927098655F1F9976FA50A9D566865DC530331846381C87256BAF3226244B76D36403C024D7BBF0AA0803EAFF405D3D24F11A9B5C0BEF679FE1454B21C4CD1F7DB71C3DEF63212841C463E881BDCF055523BD368240E6C3143BD8DEF8B3B3223B95E0F53082FF5E412F4222537A43DF1C6D25729DDB51620A832BE6A26680A2",
    );
    let a = EcPrivateKey::from_bytes(Curve::BrainpoolP512r1, &da).unwrap();
    let b = EcPrivateKey::from_bytes(Curve::BrainpoolP512r1, &db).unwrap();
    assert_eq!(a.public_key().unwrap(), qa);
    assert_eq!(b.public_key().unwrap(), qb);
    assert_eq!(&a.ecdh(&qb).unwrap()[..], &z[..]);
    assert_eq!(&b.ecdh(&qa).unwrap()[..], &z[..]);
}

/// Keys and signatures made by OpenSSL 3.0 (`openssl ecparam -name brainpoolP512r1 -genkey`,
/// `openssl dgst -sha256|-sha512 -sign`), verified by our code: a hash shorter than the order.
#[test]
fn brainpool512_openssl_signatures() {
    let d = hx(
        "58a5084bd10012eaf802a8047fd5288ab421ba9db2073a92d9bbca3419ed3ad9df11321a8241d9af902a8010a45033aebd1c5d18b7973db2b1bdcdcd056e8f41",
    );
    let q = hx(
        "04513427abba5d7ab95a19137676f7e08895c54897c6ee6c759f822535edd5a516f9953780a27d923683615d52732b2acad909316ec0a0e743e23d299a6975e6632deadd192519fcd11cbeed845feb8be1ca0ecd7e1abb337fc45f4b711fe6c1fd4d816bb27db22633cbddaf791a69d16a74a5fbccda8c1b1e9f847567b57d48dc",
    );
    let key = EcPrivateKey::from_bytes(Curve::BrainpoolP512r1, &d).unwrap();
    assert_eq!(key.public_key().unwrap(), q);
    let sig256 = hx(
        "3081850241009a070a5592b1c3693721ab174191dad157c26f0601b641fc670a12f877437f1a343fdb74920409e90fe863a2d5a432547da23142eccdd25204050d2af1876c52024019a25a173ae63446de05af09a256d0fd3d5c8c42d4dc8e12b42eae7d2f34ed784797c5a1925fb47d77d82952782e70dfbf63b8fc1091e9e0cf670cdc2bc489e8",
    );
    let sig512 = hx(
        "308184024071271e3e205779f6c27e5a03c63217e9aa8fc80a1562dc7c755e648891c2fe835f37bf19b46f034ef09db26ce8305febc13ed8d077222328a0c663edbcc88a22024019a0d90c9f07ec1c4b362a54ed41e2f546e8dbc95feb0c7ec6fc2c21d4b4f59ccebe53b021b06727656637b610b0860e97a97763cd01fc21fa97a8d6ca23987a",
    );
    let c = Curve::BrainpoolP512r1;
    c.verify_ecdsa_prehash(&q, &crate::hash::sha256(&[b"abc"]), &sig256)
        .unwrap();
    c.verify_ecdsa_prehash(&q, &sha512(&[b"abc"]), &sig512).unwrap();
    assert!(c.verify_ecdsa_prehash(&q, &sha512(&[b"abd"]), &sig512).is_err());
}

/// secp192k1: the SEC 2 generator is `1·G`, `(n−1)·G = −G`, and an OpenSSL 3.0 key pair, ECDH
/// (`openssl pkeyutl -derive`, X only) and SHA-256 signature (hash longer than the order).
#[test]
fn secp192k1_vectors() {
    let c = Curve::Secp192k1;
    let p = c.params();
    let mut one = [0u8; 24];
    one[23] = 1;
    let k = EcPrivateKey::from_bytes(c, &one).unwrap();
    assert_eq!(k.public_key().unwrap(), p.g);
    let mut nm1 = p.n.to_vec();
    nm1[23] -= 1;
    let neg = EcPrivateKey::from_bytes(c, &nm1).unwrap().public_key().unwrap();
    assert_eq!(neg[..25], p.g[..25]);
    assert_ne!(neg[25..], p.g[25..]);
    assert!(EcPrivateKey::from_bytes(c, p.n).is_err());
    assert!(EcPrivateKey::from_bytes(c, &[0u8; 24]).is_err());

    let da = hx("90b668ffbc22786eafc1716149deaeb0b436069a5ff24679");
    let qa = hx("04bf309d4af741882ebc8c540ff6217d1268620f4ab5ae0bffef1e78ae53d2e0eaae89c53816c08ad25b97601f6807b4b3");
    let db = hx("ec065ef1fbf588565e973c7e18eab10d97b70fdb8086e59b");
    let qb = hx("0474a386f3000ac72d1cb43b91085a7ecbfe38b9f6718c98a1544143f54cb542850d9781bef8b88dbc5af0050e960de680");
    let a = EcPrivateKey::from_bytes(c, &da).unwrap();
    let b = EcPrivateKey::from_bytes(c, &db).unwrap();
    assert_eq!(a.public_key().unwrap(), qa);
    assert_eq!(b.public_key().unwrap(), qb);
    let z = a.ecdh(&qb).unwrap();
    assert_eq!(z[1..25], hx("ecd14da9425a32ee2a0251a45294cb4a762d4f98cd59ec49")[..]);
    assert_eq!(z, b.ecdh(&qa).unwrap());
    let sig = hx(
        "3034021867146674e6bb9531a1a80ccbf3b7c587c9f5b15945444d01021810053c815bb648f329347bc36ddf91f7d6f8d5df3378e4d7",
    );
    c.verify_ecdsa_prehash(&qa, &crate::hash::sha256(&[b"abc"]), &sig)
        .unwrap();
}

#[test]
fn generic_sign_verify_roundtrip_and_derive() {
    let mut rng = rng();
    for c in [Curve::Secp192k1, Curve::BrainpoolP512r1] {
        let k = EcPrivateKey::generate(c, &mut rng).unwrap();
        let q = k.public_key().unwrap();
        for len in [1usize, 20, 32, 64, 80] {
            let hash = alloc::vec![0xa5u8; len];
            let raw = k.ecdsa_sign_raw(&hash, &mut rng).unwrap();
            c.verify_ecdsa_raw(&q, &hash, &raw).unwrap();
            c.verify_ecdsa_prehash(&q, &hash, &raw_to_der(&raw)).unwrap();
        }
        assert_eq!(k.ecdsa_sign_raw(&[], &mut rng).err(), Some(Error::InvalidInput));
        // (d + t1) + t2 == d + (t1 + t2), and t = n leaves d unchanged.
        let d1 = k.derive_additive(&[3]).unwrap().derive_additive(&[4]).unwrap();
        let d2 = k.derive_additive(&[7]).unwrap();
        assert_eq!(d1.to_bytes(), d2.to_bytes());
        assert_eq!(k.derive_additive(c.params().n).unwrap().to_bytes(), k.to_bytes());
        assert!(k.derive_additive(&alloc::vec![1u8; 100]).is_err());
    }
}
