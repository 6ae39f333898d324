//! Known answers, each from a published vector or computed on the host by code independent of
//! the crates under test.

/// Hex to bytes at compile time (`N` must be half the string's length).
pub const fn hex<const N: usize>(s: &str) -> [u8; N] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => panic!("not a hex digit"),
        }
    }
    let s = s.as_bytes();
    assert!(s.len() == 2 * N, "hex string length");
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = (nibble(s[2 * i]) << 4) | nibble(s[2 * i + 1]);
        i += 1;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// ECDSA P-256, RFC 6979 appendix A.2.5.

/// Private key `x`.
pub const P256_X: [u8; 32] = hex("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721");
/// Public key `04 ‖ Ux ‖ Uy`.
pub const P256_PUBLIC: [u8; 65] = hex(concat!(
    "04",
    "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6",
    "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299"
));
/// The message.
pub const P256_MSG: &[u8] = b"sample";
/// With SHA-256: `r ‖ s` (k = A6E3C57D…8AAD60).
pub const P256_SHA256_RS: [u8; 64] = hex(concat!(
    "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716",
    "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8"
));

/// hsm-crypto's card signature with the same key over SHA-256("sample"): RFC 6979 with
/// HMAC-SHA-256 (the hash hsm-crypto pairs with P-256) and the 32 bytes 00 01 … 1F as additional
/// input (RFC 6979 §3.6), `r ‖ s`. Computed on the host by a separate pure-Python RFC 6979 and
/// P-256 implementation (the same script reproduces A.2.5 above, and with HMAC-SHA-512 the value
/// this vector had before the nonce hash changed).
pub const P256_CARD_RS: [u8; 64] = hex(concat!(
    "25404CFDB1228F680881E195DAE0665F43F988C40CBC4E23927810D7C4635D74",
    "8F076E7B9EA4BDE92FB16B5CF25D0D3656DB01A6E19C885B53CB8754F1B819C3"
));

// ---------------------------------------------------------------------------------------------
// Ed25519, RFC 8032 §7.1 TEST 2.

pub const ED25519_SEED: [u8; 32] = hex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
pub const ED25519_PUBLIC: [u8; 32] = hex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
pub const ED25519_MSG: &[u8] = &[0x72];
pub const ED25519_SIG: [u8; 64] = hex(concat!(
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da",
    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
));

// ---------------------------------------------------------------------------------------------
// AES-GCM, McGrew & Viega "The Galois/Counter Mode of Operation", test cases 4 (AES-128) and
// 16 (AES-256): 60-byte plaintext, 20-byte AAD, 96-bit IV.

pub const GCM_KEY_128: [u8; 16] = hex("feffe9928665731c6d6a8f9467308308");
pub const GCM_KEY_256: [u8; 32] = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
pub const GCM_IV: [u8; 12] = hex("cafebabefacedbaddecaf888");
pub const GCM_AAD: [u8; 20] = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
pub const GCM_PT: [u8; 60] = hex(concat!(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72",
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
));
/// Test case 4: ciphertext ‖ tag.
pub const GCM_CT_TAG_128: [u8; 76] = hex(concat!(
    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e",
    "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
    "5bc94fbc3221a5db94fae95ae7121a47"
));
/// Test case 16: ciphertext ‖ tag.
pub const GCM_CT_TAG_256: [u8; 76] = hex(concat!(
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa",
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
    "76fc6ece0f4e1768cddf8853bb2d551b"
));

// ---------------------------------------------------------------------------------------------
// RSA-2048, PKCS#1 v1.5 with SHA-256. A test key generated once with `openssl genrsa 2048`
// (e = 65537); the signature was made by `openssl dgst -sha256 -sign` over [`RSA_MSG`].

pub const RSA_E: u32 = 65537;
pub const RSA_P: [u8; 128] = hex(concat!(
    "f8a5684bb858ec89c387d975ccd81a073c64828d488e5c5534ce27eef4f5a70e",
    "61f2ea5f3501cda44791943260a0e2ddd755f756518b4cb634d43ba2ec17ea85",
    "6b9edce5f153cd2f90e63fb1c036f692deca32fe7ec5e23934c9da057196a214",
    "c727867e04bca0b850b9e81cd204ce4838d5a2035ce3eda99dfb0ab95929db8d"
));
pub const RSA_Q: [u8; 128] = hex(concat!(
    "ddf363f89e5ab231382d4531d0192bdd9556036b772cd6b78fe036579e146cc2",
    "814d34902d5ad5afc08d0b4fe6f1254568f1bab4811c4fad49aeeafdbfcc5a6b",
    "c028430ae42def3ee7cbf5194b4aca025ce25378d7af83a6f94462541a9fbdd4",
    "9b90317330d713bf0aa0d424771cdddbb0df69f98bca99fb352c31d1da68b071"
));
pub const RSA_N: [u8; 256] = hex(concat!(
    "d7933124cf653fd8a552c1c63a7bf048aec358cdebac3a08af0d00365841cd18",
    "70662add0a1c9c0d7bdc3546a470d9f0d57f176f233fac747bf4d66ac43fe985",
    "ae999e283eebe7ada7a9798c862d25e7118cae44d1d8d9d9bc0cfd2a98ad29f6",
    "fe9d2c0137eff5be0e27fab1a856c83d12cee87575bfed521852afa7a9bce8a5",
    "032a2d417331cfe8288507697bc1706d13563e1c3abb5b5c753574c0c37857d7",
    "40345405557d0d8c97caf9862f3245f05f9f37d79690c0b54edbce71e48613f7",
    "d50f2cc51d49be730310f4a28d7aa1011033bcea286319d9d1312baf37019f5f",
    "f02a54f5117d0eb1bd41cc5b6f23951e2e6207cf2c463ae13fd7423165b2d93d"
));
pub const RSA_MSG: &[u8] = b"Pico HSM Cortex-M33 known-answer test";
pub const RSA_SIG: [u8; 256] = hex(concat!(
    "cb24e7ab5bf405c89d4311904ea6d50bef70203fe8ddf3dcb5bb7fcf470a2878",
    "3e00f9be507e4d3444ef2749d6bea8813556f3db3a1f8fbb3eaa70c2e3966af0",
    "b071801a48d52ba67df45263f8e7d63c2dc991330a2f414a3f85e5305b4357cd",
    "54d3407291eb6672e0970945e761351fe79302109f39cabe2c2f1d5a3b6e73bd",
    "7fc7425f367797e9d6a8fbdf22e54466708d0e1e8a679054fd3744125705efbf",
    "229f13cd8f4842e7616ac3e269f29cfb7375aa795ebd101c916ca0d52d9bde57",
    "753183036a60ab094bec98d42099c5b3e7f3bc04398e610714c2609a08d5319e",
    "ea6b647a0ea752c005e503230dc1d024520919adfa33cd6d1c314c8bb239d004"
));

/// SHA-256 of the modulus `RsaPrivateKey::generate(4096, 65537, ChaCha20Rng::from_seed([0x42; 32]))`
/// gives. Not an independent vector: the same hsm-crypto code run on x86-64 (64-bit limbs) gave
/// it, so this checks that the 32-bit target generates the same key. Recompute it on the host
/// after a change to `rsa`, `crypto-bigint` or `crypto-primes`.
#[cfg(feature = "keygen4096")]
pub const RSA4096_SEED42_MODULUS_SHA256: [u8; 32] =
    hex("d8ba06cc9d5a72656eb39ede7d9913e5e828e61357421d1b3f80bc7b73f3b4ee");

// ---------------------------------------------------------------------------------------------
// The card session (as `crates/hsm-card/tests/common/mod.rs`).

/// SELECT of the SmartCard-HSM application, no FCI.
pub const SELECT_AID: [u8; 16] = hex("00A4040C0BE82B0601040181C31F0201");
/// INITIALIZE: options 0001, PIN 648219, SO-PIN 57621880, 3 retries.
pub const INITIALIZE: [u8; 30] = hex(concat!(
    "8050000019",
    "80020001",
    "8106363438323139",
    "82083537363231383830",
    "910103"
));
/// VERIFY of the user PIN 648219.
pub const VERIFY: [u8; 11] = hex("0020008106363438323139");
/// The ECDSA key algorithm OID of a `7F49` template.
pub const OID_ECDSA: [u8; 10] = [0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, 0x02, 0x03];
