//! Domain parameters of every supported curve, big-endian, as the SmartCard-HSM CV public key
//! template (`7F49`, reference §8.1) carries them.
//!
//! Sources: SEC 2 v2 (secp*), FIPS 186-4 (NIST curves), RFC 5639 (brainpool), RFC 7748 (X25519,
//! X448) and RFC 8032 (Ed25519, Ed448). The values were cross-checked against the host library's
//! table (pycvc `ec_curves.py`) and, for the curves with a RustCrypto crate, against that crate in
//! the unit tests below.

/// Domain parameters of one curve, each a big-endian byte string unless noted.
///
/// Weierstrass curves fill every field; `g` is the uncompressed point `04 ‖ X ‖ Y`.
/// Montgomery and Edwards curves leave `a` and `b` empty (the CV template for them only carries
/// `p`, the order and `G`, reference §8.1) and encode `g` the way upstream's mbedTLS writes it:
/// the little-endian u-coordinate for X25519/X448 (`09 00 …`, `05 00 …`), the RFC 8032 point
/// encoding for Ed25519/Ed448 (`58 66 … 66`, 57 bytes for Ed448).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainParams {
    /// Field prime `p`.
    pub p: &'static [u8],
    /// Curve coefficient `a` (Weierstrass only).
    pub a: &'static [u8],
    /// Curve coefficient `b` (Weierstrass only).
    pub b: &'static [u8],
    /// Generator, encoded as described on the type.
    pub g: &'static [u8],
    /// Order `n` of the generator (the prime subgroup order `ℓ` for Curve25519/448).
    pub n: &'static [u8],
    /// Cofactor `h` as one byte.
    pub cofactor: &'static [u8],
}

const fn nibble(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => panic!("bad hex digit in a curve constant"),
    }
}

/// Decodes a hex constant at compile time (a malformed constant fails the build, never a run).
const fn h<const N: usize>(s: &str) -> [u8; N] {
    let s = s.as_bytes();
    assert!(s.len() == 2 * N, "curve constant has the wrong length");
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = (nibble(s[2 * i]) << 4) | nibble(s[2 * i + 1]);
        i += 1;
    }
    out
}

macro_rules! consts {
    ($($name:ident: $n:literal = $hex:literal;)*) => {
        $(pub(crate) const $name: [u8; $n] = h::<$n>($hex);)*
    };
}

consts! {
    ONE: 1 = "01";
    FOUR: 1 = "04";
    EIGHT: 1 = "08";

    P192_P: 24 = "fffffffffffffffffffffffffffffffeffffffffffffffff";
    P192_A: 24 = "fffffffffffffffffffffffffffffffefffffffffffffffc";
    P192_B: 24 = "64210519e59c80e70fa7e9ab72243049feb8deecc146b9b1";
    P192_G: 49 = "04188da80eb03090f67cbf20eb43a18800f4ff0afd82ff101207192b95ffc8da78631011ed6b24cdd573f977a11e794811";
    P192_N: 24 = "ffffffffffffffffffffffff99def836146bc9b1b4d22831";

    P224_P: 28 = "ffffffffffffffffffffffffffffffff000000000000000000000001";
    P224_A: 28 = "fffffffffffffffffffffffffffffffefffffffffffffffffffffffe";
    P224_B: 28 = "b4050a850c04b3abf54132565044b0b7d7bfd8ba270b39432355ffb4";
    P224_G: 57 = "04b70e0cbd6bb4bf7f321390b94a03c1d356c21122343280d6115c1d21bd376388b5f723fb4c22dfe6cd4375a05a07476444d5819985007e34";
    P224_N: 28 = "ffffffffffffffffffffffffffff16a2e0b8f03e13dd29455c5c2a3d";

    P256_P: 32 = "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";
    P256_A: 32 = "ffffffff00000001000000000000000000000000fffffffffffffffffffffffc";
    P256_B: 32 = "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b";
    P256_G: 65 = "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";
    P256_N: 32 = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";

    P384_P: 48 = "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff";
    P384_A: 48 = "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000fffffffc";
    P384_B: 48 = "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef";
    P384_G: 97 = "04aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab73617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f";
    P384_N: 48 = "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973";

    P521_P: 66 = "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    P521_A: 66 = "01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffc";
    P521_B: 66 = "0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00";
    P521_G: 133 = "0400c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650";
    P521_N: 66 = "01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409";

    BP256_P: 32 = "a9fb57dba1eea9bc3e660a909d838d726e3bf623d52620282013481d1f6e5377";
    BP256_A: 32 = "7d5a0975fc2c3057eef67530417affe7fb8055c126dc5c6ce94a4b44f330b5d9";
    BP256_B: 32 = "26dc5c6ce94a4b44f330b5d9bbd77cbf958416295cf7e1ce6bccdc18ff8c07b6";
    BP256_G: 65 = "048bd2aeb9cb7e57cb2c4b482ffc81b7afb9de27e1e3bd23c23a4453bd9ace3262547ef835c3dac4fd97f8461a14611dc9c27745132ded8e545c1d54c72f046997";
    BP256_N: 32 = "a9fb57dba1eea9bc3e660a909d838d718c397aa3b561a6f7901e0e82974856a7";

    BP384_P: 48 = "8cb91e82a3386d280f5d6f7e50e641df152f7109ed5456b412b1da197fb71123acd3a729901d1a71874700133107ec53";
    BP384_A: 48 = "7bc382c63d8c150c3c72080ace05afa0c2bea28e4fb22787139165efba91f90f8aa5814a503ad4eb04a8c7dd22ce2826";
    BP384_B: 48 = "04a8c7dd22ce28268b39b55416f0447c2fb77de107dcd2a62e880ea53eeb62d57cb4390295dbc9943ab78696fa504c11";
    BP384_G: 97 = "041d1c64f068cf45ffa2a63a81b7c13f6b8847a3e77ef14fe3db7fcafe0cbd10e8e826e03436d646aaef87b2e247d4af1e8abe1d7520f9c2a45cb1eb8e95cfd55262b70b29feec5864e19c054ff99129280e4646217791811142820341263c5315";
    BP384_N: 48 = "8cb91e82a3386d280f5d6f7e50e641df152f7109ed5456b31f166e6cac0425a7cf3ab6af6b7fc3103b883202e9046565";

    BP512_P: 64 = "aadd9db8dbe9c48b3fd4e6ae33c9fc07cb308db3b3c9d20ed6639cca703308717d4d9b009bc66842aecda12ae6a380e62881ff2f2d82c68528aa6056583a48f3";
    BP512_A: 64 = "7830a3318b603b89e2327145ac234cc594cbdd8d3df91610a83441caea9863bc2ded5d5aa8253aa10a2ef1c98b9ac8b57f1117a72bf2c7b9e7c1ac4d77fc94ca";
    BP512_B: 64 = "3df91610a83441caea9863bc2ded5d5aa8253aa10a2ef1c98b9ac8b57f1117a72bf2c7b9e7c1ac4d77fc94cadc083e67984050b75ebae5dd2809bd638016f723";
    BP512_G: 129 = "0481aee4bdd82ed9645a21322e9c4c6a9385ed9f70b5d916c1b43b62eef4d0098eff3b1f78e2d0d48d50d1687b93b97d5f7c6d5047406a5e688b352209bcb9f8227dde385d566332ecc0eabfa9cf7822fdf209f70024a57b1aa000c55b881f8111b2dcde494a5f485e5bca4bd88a2763aed1ca2b2fa8f0540678cd1e0f3ad80892";
    BP512_N: 64 = "aadd9db8dbe9c48b3fd4e6ae33c9fc07cb308db3b3c9d20ed6639cca70330870553e5c414ca92619418661197fac10471db1d381085ddaddb58796829ca90069";

    K192_P: 24 = "fffffffffffffffffffffffffffffffffffffffeffffee37";
    K192_A: 24 = "000000000000000000000000000000000000000000000000";
    K192_B: 24 = "000000000000000000000000000000000000000000000003";
    K192_G: 49 = "04db4ff10ec057e9ae26b07d0280b7f4341da5d1b1eae06c7d9b2f2f6d9c5628a7844163d015be86344082aa88d95e2f9d";
    K192_N: 24 = "fffffffffffffffffffffffe26f2fc170f69466a74defd8d";

    K256_P: 32 = "fffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2f";
    K256_A: 32 = "0000000000000000000000000000000000000000000000000000000000000000";
    K256_B: 32 = "0000000000000000000000000000000000000000000000000000000000000007";
    K256_G: 65 = "0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8";
    K256_N: 32 = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";

    C25519_P: 32 = "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed";
    C25519_N: 32 = "1000000000000000000000000000000014def9dea2f79cd65812631a5cf5d3ed";
    X25519_G: 32 = "0900000000000000000000000000000000000000000000000000000000000000";
    ED25519_G: 32 = "5866666666666666666666666666666666666666666666666666666666666666";

    C448_P: 56 = "fffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    C448_N: 56 = "3fffffffffffffffffffffffffffffffffffffffffffffffffffffff7cca23e9c44edb49aed63690216cc2728dc58f552378c292ab5844f3";
    X448_G: 56 = "0500000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";
    ED448_G: 57 = "14fa30f25b790898adc8d74e2c13bdfdc4397ce61cffd33ad7c2a0051e9c78874098a36c7373ea4b62c7c9563720768824bcb66e71463f6900";
}

macro_rules! weierstrass {
    ($p:ident, $a:ident, $b:ident, $g:ident, $n:ident) => {
        DomainParams {
            p: &$p,
            a: &$a,
            b: &$b,
            g: &$g,
            n: &$n,
            cofactor: &ONE,
        }
    };
}

pub(crate) static SECP192R1: DomainParams = weierstrass!(P192_P, P192_A, P192_B, P192_G, P192_N);
pub(crate) static SECP224R1: DomainParams = weierstrass!(P224_P, P224_A, P224_B, P224_G, P224_N);
pub(crate) static SECP256R1: DomainParams = weierstrass!(P256_P, P256_A, P256_B, P256_G, P256_N);
pub(crate) static SECP384R1: DomainParams = weierstrass!(P384_P, P384_A, P384_B, P384_G, P384_N);
pub(crate) static SECP521R1: DomainParams = weierstrass!(P521_P, P521_A, P521_B, P521_G, P521_N);
pub(crate) static BRAINPOOL_P256R1: DomainParams = weierstrass!(BP256_P, BP256_A, BP256_B, BP256_G, BP256_N);
pub(crate) static BRAINPOOL_P384R1: DomainParams = weierstrass!(BP384_P, BP384_A, BP384_B, BP384_G, BP384_N);
pub(crate) static BRAINPOOL_P512R1: DomainParams = weierstrass!(BP512_P, BP512_A, BP512_B, BP512_G, BP512_N);
pub(crate) static SECP192K1: DomainParams = weierstrass!(K192_P, K192_A, K192_B, K192_G, K192_N);
pub(crate) static SECP256K1: DomainParams = weierstrass!(K256_P, K256_A, K256_B, K256_G, K256_N);

pub(crate) static X25519: DomainParams = DomainParams {
    p: &C25519_P,
    a: &[],
    b: &[],
    g: &X25519_G,
    n: &C25519_N,
    cofactor: &EIGHT,
};
pub(crate) static ED25519: DomainParams = DomainParams {
    p: &C25519_P,
    a: &[],
    b: &[],
    g: &ED25519_G,
    n: &C25519_N,
    cofactor: &EIGHT,
};
pub(crate) static X448: DomainParams = DomainParams {
    p: &C448_P,
    a: &[],
    b: &[],
    g: &X448_G,
    n: &C448_N,
    cofactor: &FOUR,
};
pub(crate) static ED448: DomainParams = DomainParams {
    p: &C448_P,
    a: &[],
    b: &[],
    g: &ED448_G,
    n: &C448_N,
    cofactor: &FOUR,
};
