//! n-of-m password shares for DKEK share files, compatible with OpenSC's `sc-hsm-tool`
//! (`--pwd-shares-threshold T --pwd-shares-total N`; OpenSC 0.23 `src/tools/sc-hsm-tool.c`:
//! `generate_pwd_shares`, `recreate_password_from_shares`, `createShares`, `reconstructSecret`).
//!
//! The share file is encrypted with a random 8-byte password whose first bit is clear (a 63-bit
//! number). That number is Shamir-shared over a random 64-bit safe prime `p`: a polynomial of degree
//! T-1 with the secret as constant term and random coefficients in `[0, p)` is evaluated at x = 1..N.
//! Each custodian gets the prime, the share ID x (printed in decimal) and the share value y (big-endian,
//! minimal length, lowercase hex bytes separated by `:`), printed as [`PasswordShare::to_text`] does.
//! Any T shares give the secret back by Lagrange interpolation at 0; its big-endian bytes, at least 8
//! (left-padded with zeros), are the password.
//!
//! Two corners of sc-hsm-tool this module handles, so that shares work in both tools:
//! * sc-hsm-tool uses the reconstructed number's minimal encoding as the password, so when the random
//!   password starts with a zero byte (1 in 128 of its share sets) it derives the key from 7 bytes and
//!   cannot decrypt its own file. Here the password is padded back to 8 bytes, and passwords generated
//!   here never start with a zero byte.
//! * sc-hsm-tool prints the share ID in decimal but reads it back as hexadecimal; the two agree for IDs
//!   1 to 9. With ten or more shares, enter ID 10 into sc-hsm-tool as `a`, 11 as `b`, and so on.

use crypto_bigint::{NonZero, Odd, RandomMod, U64, U256};
use crypto_primes::Flavor;
use rand_core::CryptoRng;
use zeroize::Zeroizing;

/// The numbers shares are made of. sc-hsm-tool reads a prime of at most 64 hex digits, so 256 bits
/// hold anything it can take.
pub type Num = U256;

/// Bits of the prime sc-hsm-tool generates (and of the one generated here).
pub const PRIME_BITS: u32 = 64;
/// Length of the random password that is split into shares.
pub const PASSWORD_LEN: usize = 8;

/// One custodian's password share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordShare {
    pub prime: Num,
    /// The x coordinate, 1..=N.
    pub id: u32,
    /// The y coordinate.
    pub value: Num,
}

impl Drop for PasswordShare {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.value);
    }
}

/// What can go wrong with password shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShamirError {
    /// A share's text could not be read.
    Parse(String),
    /// The shares do not fit together (different primes, repeated IDs, values out of range, ...).
    Inconsistent(String),
}

impl std::fmt::Display for ShamirError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShamirError::Parse(s) | ShamirError::Inconsistent(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for ShamirError {}

/// A random password for a shared share file: 8 bytes, first byte 01..7F (see the module docs).
pub fn random_password(rng: &mut (impl CryptoRng + ?Sized)) -> Zeroizing<[u8; PASSWORD_LEN]> {
    let mut pwd = Zeroizing::new([0u8; PASSWORD_LEN]);
    loop {
        rng.fill_bytes(&mut pwd[..]);
        pwd[0] &= 0x7F;
        if pwd[0] != 0 {
            return pwd;
        }
    }
}

/// A random 64-bit safe prime, as sc-hsm-tool's `generatePrime` (`BN_generate_prime_ex(p, 64, safe=1)`).
pub fn random_prime(rng: &mut (impl CryptoRng + ?Sized)) -> Odd<Num> {
    let p: U64 = crypto_primes::random_prime(rng, Flavor::Safe, PRIME_BITS);
    // A prime of 64 bits is odd and non-zero.
    Odd::new(p.resize()).expect("a prime above 2 is odd")
}

/// Splits `password` into `total` shares of which any `threshold` recover it.
pub fn split(
    password: &[u8],
    prime: &Odd<Num>,
    threshold: u8,
    total: u8,
    rng: &mut (impl CryptoRng + ?Sized),
) -> Result<Vec<PasswordShare>, ShamirError> {
    if threshold < 2 || total < threshold {
        return Err(ShamirError::Inconsistent(format!(
            "a {threshold}-of-{total} split needs 2 <= threshold <= total"
        )));
    }
    let p: NonZero<Num> = *prime.as_nz_ref();
    let secret = number(password)?;
    if secret >= *p.as_ref() {
        return Err(ShamirError::Inconsistent(
            "the password is not smaller than the prime".into(),
        ));
    }
    // a(x) = secret + a_1 x + ... + a_(t-1) x^(t-1) mod p, coefficients uniform in [0, p) (BN_rand_range).
    let mut coefficients = Zeroizing::new(vec![secret]);
    for _ in 1..threshold {
        coefficients.push(Num::random_mod_vartime(rng, &p));
    }
    Ok((1..=u32::from(total))
        .map(|x| {
            let xn = Num::from_u32(x);
            // Horner's rule; the same value as sc-hsm-tool's sum of a_i x^i.
            let value = coefficients
                .iter()
                .rev()
                .fold(Num::ZERO, |acc, a| acc.mul_mod(&xn, &p).add_mod(a, &p));
            PasswordShare {
                prime: *prime.as_ref(),
                id: x,
                value,
            }
        })
        .collect())
}

/// The password from `shares` (at least two, same prime, distinct IDs): Lagrange interpolation at 0,
/// as the big-endian bytes of the result, at least [`PASSWORD_LEN`] of them.
pub fn recombine(shares: &[PasswordShare]) -> Result<Zeroizing<Vec<u8>>, ShamirError> {
    let [first, ..] = shares else {
        return Err(ShamirError::Inconsistent("no password shares".into()));
    };
    if shares.len() < 2 {
        return Err(ShamirError::Inconsistent(
            "at least two password shares are needed".into(),
        ));
    }
    let prime = first.prime;
    let odd = Odd::new(prime)
        .into_option()
        .filter(|p| p.as_ref() > &Num::from_u8(2))
        .ok_or_else(|| ShamirError::Inconsistent("the prime is not an odd number above 2".into()))?;
    if !crypto_primes::is_prime(Flavor::Any, odd.as_ref()) {
        return Err(ShamirError::Inconsistent(
            "the prime is not a prime number: check how it was typed".into(),
        ));
    }
    let p: NonZero<Num> = *odd.as_nz_ref();
    for (i, s) in shares.iter().enumerate() {
        if s.prime != prime {
            return Err(ShamirError::Inconsistent(format!(
                "share {} has another prime than share 1: shares of different sets cannot be combined",
                i + 1
            )));
        }
        if s.id == 0 || Num::from_u32(s.id) >= prime {
            return Err(ShamirError::Inconsistent(format!("share ID {} is out of range", s.id)));
        }
        if s.value >= prime {
            return Err(ShamirError::Inconsistent(format!(
                "the value of share ID {} is not smaller than the prime: check how it was typed",
                s.id
            )));
        }
        if shares[..i].iter().any(|o| o.id == s.id) {
            return Err(ShamirError::Inconsistent(format!("share ID {} is given twice", s.id)));
        }
    }
    let mut secret = Num::ZERO;
    for (i, si) in shares.iter().enumerate() {
        let xi = Num::from_u32(si.id);
        let (mut num, mut den) = (Num::ONE, Num::ONE);
        for (j, sj) in shares.iter().enumerate() {
            if i != j {
                let xj = Num::from_u32(sj.id);
                num = num.mul_mod(&xj, &p);
                den = den.mul_mod(&xj.sub_mod(&xi, &p), &p);
            }
        }
        // IDs are distinct and below the prime, so the denominator is invertible.
        let inv = den
            .invert_odd_mod(&odd)
            .into_option()
            .ok_or_else(|| ShamirError::Inconsistent("the share IDs do not fit the prime".into()))?;
        let lagrange = num.mul_mod(&inv, &p);
        secret = secret.add_mod(&si.value.mul_mod(&lagrange, &p), &p);
    }
    let mut bytes = Zeroizing::new([0u8; 32]);
    bytes.copy_from_slice(secret.to_be_bytes().as_ref());
    let skip = bytes
        .iter()
        .take_while(|b| **b == 0)
        .count()
        .min(bytes.len() - PASSWORD_LEN);
    Ok(Zeroizing::new(bytes[skip..].to_vec()))
}

/// A big-endian byte string as a number; at most 32 bytes.
fn number(bytes: &[u8]) -> Result<Num, ShamirError> {
    if bytes.len() > 32 {
        return Err(ShamirError::Parse(format!(
            "{} bytes do not fit a 256-bit number",
            bytes.len()
        )));
    }
    let mut buf = Zeroizing::new([0u8; 32]);
    buf[32 - bytes.len()..].copy_from_slice(bytes);
    Ok(Num::from_be_slice(&buf[..]))
}

/// sc-hsm-tool's `BN_bn2bin` + `sc_bin_to_hex(.., ':')`: minimal big-endian bytes, lowercase, `:`-separated.
/// Zero, which sc-hsm-tool would print as an empty string, is printed as `00`.
pub fn hex_colons(n: &Num) -> String {
    let bytes = n.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count().min(bytes.len() - 1);
    bytes[skip..]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Reads a number written as hex bytes with `:` or space separators (each group one byte of one or two
/// digits; OpenSC 0.23's `sc_hex_to_bin` wants two) or as one hex string (odd length allowed).
pub fn parse_hex(text: &str) -> Result<Num, ShamirError> {
    let text = text.trim();
    let bad = || ShamirError::Parse(format!("{text:?} is not a hexadecimal number"));
    let bytes: Vec<u8> = if text.contains([':', ' ']) {
        text.split([':', ' '])
            .filter(|g| !g.is_empty())
            .map(|g| {
                if g.len() <= 2 {
                    u8::from_str_radix(g, 16).map_err(|_| bad())
                } else {
                    Err(bad())
                }
            })
            .collect::<Result<_, _>>()?
    } else {
        if text.is_empty() {
            return Err(bad());
        }
        let padded = if text.len() % 2 == 1 {
            format!("0{text}")
        } else {
            text.to_string()
        };
        hex::decode(padded).map_err(|_| bad())?
    };
    let first_nonzero = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    number(&bytes[first_nonzero..])
}

impl PasswordShare {
    /// The share as sc-hsm-tool prints it (`generate_pwd_shares`), `index` of `total`.
    pub fn to_text(&self, index: usize, total: usize) -> String {
        format!(
            "Share {index} of {total}\n\n\nPrime       : {}\nShare ID    : {}\nShare value : {}\n",
            hex_colons(&self.prime),
            self.id,
            hex_colons(&self.value)
        )
    }

    /// Reads a share from text with the lines `Prime : ...`, `Share ID : ...` and `Share value : ...`
    /// (as [`Self::to_text`] and sc-hsm-tool print them; spacing and case do not matter, other lines are
    /// ignored). The ID is decimal, as printed; `0x` marks a hexadecimal one.
    pub fn parse(text: &str) -> Result<Self, ShamirError> {
        let (mut prime, mut id, mut value) = (None, None, None);
        for line in text.lines() {
            let Some((key, val)) = line.split_once(':') else {
                continue;
            };
            let key = key
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_lowercase();
            let slot = match key.as_str() {
                "prime" => &mut prime,
                "share id" => &mut id,
                "share value" => &mut value,
                _ => continue,
            };
            if slot.is_some() {
                return Err(ShamirError::Parse(format!("{key:?} appears twice")));
            }
            *slot = Some(val.trim().to_string());
        }
        let missing = |what: &str| ShamirError::Parse(format!("no \"{what} :\" line"));
        let prime = parse_hex(&prime.ok_or_else(|| missing("Prime"))?)?;
        let id = parse_id(&id.ok_or_else(|| missing("Share ID"))?)?;
        let value = parse_hex(&value.ok_or_else(|| missing("Share value"))?)?;
        Ok(PasswordShare { prime, id, value })
    }
}

/// A share ID: decimal, or hexadecimal after `0x`.
pub fn parse_id(text: &str) -> Result<u32, ShamirError> {
    let text = text.trim();
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| ShamirError::Parse(format!("share ID {text:?} is not a number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct TestRng(u64);

    impl rand_core::TryRng for TestRng {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok(self.try_next_u64()? as u32)
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            // splitmix64: deterministic, good enough to drive the tests.
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            Ok(z ^ (z >> 31))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            for chunk in dst.chunks_mut(8) {
                let v = self.try_next_u64()?.to_le_bytes();
                chunk.copy_from_slice(&v[..chunk.len()]);
            }
            Ok(())
        }
    }

    impl rand_core::TryCryptoRng for TestRng {}

    #[test]
    fn split_and_recombine_every_subset() {
        let mut rng = TestRng(1);
        let prime = random_prime(&mut rng);
        assert_eq!(prime.as_ref().bit_width(), 64);
        let half = prime.as_ref().shr_vartime(1);
        assert!(crypto_primes::is_prime(Flavor::Any, &half), "a safe prime");
        let pwd = random_password(&mut rng);
        let shares = split(&pwd[..], &prime, 3, 5, &mut rng).unwrap();
        assert_eq!(shares.len(), 5);
        for a in 0..5 {
            for b in a + 1..5 {
                for c in b + 1..5 {
                    let subset = [shares[a].clone(), shares[b].clone(), shares[c].clone()];
                    assert_eq!(&recombine(&subset).unwrap()[..], &pwd[..]);
                }
                // Two of a 3-of-5 give some other number.
                let two = [shares[a].clone(), shares[b].clone()];
                assert_ne!(&recombine(&two).unwrap()[..], &pwd[..]);
            }
        }
        assert_eq!(&recombine(&shares).unwrap()[..], &pwd[..], "more shares than needed");
    }

    #[test]
    fn password_with_leading_zero_byte_keeps_eight_bytes() {
        let mut rng = TestRng(7);
        let prime = random_prime(&mut rng);
        let pwd = [0, 0, 0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC];
        let shares = split(&pwd, &prime, 2, 3, &mut rng).unwrap();
        assert_eq!(&recombine(&shares[1..]).unwrap()[..], &pwd);
    }

    #[test]
    fn random_passwords_are_63_bits_without_a_zero_first_byte() {
        let mut rng = TestRng(3);
        for _ in 0..1000 {
            let p = random_password(&mut rng);
            assert!((1..=0x7F).contains(&p[0]));
        }
    }

    #[test]
    fn text_round_trip_in_sc_hsm_tool_layout() {
        let share = PasswordShare {
            prime: parse_hex("e7:69:99:d3:b2:30:0a:2f").unwrap(),
            id: 2,
            value: parse_hex("00:af:37:34:e5:7e:2e:ff").unwrap(),
        };
        let text = share.to_text(2, 3);
        assert_eq!(
            text,
            "Share 2 of 3\n\n\nPrime       : e7:69:99:d3:b2:30:0a:2f\nShare ID    : 2\nShare value : af:37:34:e5:7e:2e:ff\n"
        );
        assert_eq!(PasswordShare::parse(&text).unwrap(), share);
        let loose = "prime: E76999D3B2300A2F\n share id : 0x2\nSHARE VALUE:af 37 34 e5 7e 2e ff\n";
        assert_eq!(PasswordShare::parse(loose).unwrap(), share);
    }

    #[test]
    fn parse_errors() {
        assert!(parse_hex("xyz").is_err());
        assert!(parse_hex("").is_err());
        assert!(parse_hex("123:45").is_err());
        assert_eq!(parse_hex("5:ab").unwrap(), Num::from_u32(0x05AB));
        assert_eq!(parse_hex("5ab").unwrap(), Num::from_u32(0x05AB));
        assert!(PasswordShare::parse("Prime : 0b\nShare ID : 1\n").is_err());
        assert!(parse_id("ten").is_err());
        assert_eq!(parse_id("10").unwrap(), 10);
    }

    #[test]
    fn inconsistent_shares_are_refused() {
        let p = parse_hex("e7:69:99:d3:b2:30:0a:2f").unwrap();
        let s = |id, v| PasswordShare {
            prime: p,
            id,
            value: Num::from_u32(v),
        };
        assert!(recombine(&[s(1, 5)]).is_err());
        assert!(recombine(&[s(1, 5), s(1, 6)]).is_err());
        let mut other = s(2, 6);
        other.prime = parse_hex("e7:69:99:d3:b2:30:0a:31").unwrap();
        assert!(recombine(&[s(1, 5), other]).is_err());
        let mut not_prime = [s(1, 5), s(2, 6)];
        for share in &mut not_prime {
            share.prime = Num::from_u32(91);
        }
        assert!(recombine(&not_prime).is_err());
        let mut too_big = s(2, 6);
        too_big.value = p;
        assert!(recombine(&[s(1, 5), too_big]).is_err());
    }
}
