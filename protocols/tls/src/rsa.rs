//! RSA signature verification (RFC 8017) without an allocator: RSASSA-PKCS1-v1_5 and
//! RSASSA-PSS on 4096-bit fixed-size integers (`crypto_bigint::U4096`, Montgomery
//! multiplication with a run-time modulus).
//!
//! - Moduli of 2048 to 4096 bits; anything else is refused (smaller keys are too weak, larger
//!   ones do not fit). The public exponent must be odd, at least 3 and below 2^32.
//! - Only public-key operations: nothing here handles a secret, so nothing needs to run in
//!   constant time.
//! - PSS: MGF1 with the signature's hash, salt length equal to the hash length (what TLS 1.3
//!   and the `RSASSA-PSS` AlgorithmIdentifiers rustls-webpki accepts require).
//!
//! Cost: one modular exponentiation with a 17-bit exponent (65537) is 16 squarings and one
//! multiplication of 4096-bit numbers, whatever the key size; the stack holds a few 512-byte
//! numbers (about 4 KiB in total).

use crypto_bigint::modular::montgomery_reduction;
use crypto_bigint::{Encoding, Limb, U4096, Uint, Word};
use sha2::Digest;

use crate::algs::HashAlg;
use crate::der::expect;

/// Bytes in the largest modulus (4096 bits).
const MAX_BYTES: usize = 512;
/// The smallest modulus accepted, in bits.
const MIN_BITS: usize = 2048;
/// DER INTEGER tag.
const INTEGER: u8 = 0x02;

/// A parsed RSAPublicKey.
struct PublicKey<'k> {
    /// Modulus, big-endian, without leading zero bytes.
    modulus: &'k [u8],
    /// Its size in bits.
    bits: usize,
    /// The public exponent.
    exponent: u32,
}

impl<'k> PublicKey<'k> {
    /// Parses the DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
    fn parse(der: &'k [u8]) -> Option<Self> {
        let (body, rest) = expect(der, crate::der::SEQUENCE)?;
        if !rest.is_empty() {
            return None;
        }
        let (modulus, body) = expect(body, INTEGER)?;
        let (exponent, body) = expect(body, INTEGER)?;
        if !body.is_empty() {
            return None;
        }
        let modulus = positive(modulus)?;
        let exponent = positive(exponent)?;
        if exponent.len() > 4 {
            return None;
        }
        let exponent = exponent
            .iter()
            .fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
        let top = *modulus.first()?;
        let bits = modulus.len() * 8 - top.leading_zeros() as usize;
        let odd = modulus.last().is_some_and(|b| b & 1 == 1);
        if !(MIN_BITS..=MAX_BYTES * 8).contains(&bits) || !odd || exponent < 3 || exponent & 1 == 0
        {
            return None;
        }
        Some(Self {
            modulus,
            bits,
            exponent,
        })
    }

    /// RSAVP1: `s^e mod n`, big-endian in `out` (as many bytes as the modulus). `None` when the
    /// signature does not have the modulus's length or is not below the modulus.
    fn public_op<'o>(&self, signature: &[u8], out: &'o mut [u8; MAX_BYTES]) -> Option<&'o [u8]> {
        let k = self.modulus.len();
        if signature.len() != k {
            return None;
        }
        let n = uint(self.modulus)?;
        let s = uint(signature)?;
        if s >= n {
            return None;
        }
        let mont = Montgomery::new(n);
        let base = mont.enter(&s);
        let mut acc = base;
        let top = 31 - self.exponent.leading_zeros();
        for bit in (0..top).rev() {
            acc = mont.mul(&acc, &acc);
            if (self.exponent >> bit) & 1 == 1 {
                acc = mont.mul(&acc, &base);
            }
        }
        *out = mont.leave(&acc).to_be_bytes();
        out.get(MAX_BYTES - k..)
    }
}

/// Montgomery arithmetic modulo an odd `n` with R = 2^4096.
///
/// crypto-bigint's `DynResidueParams::new` computes R² mod n (and R³) by bitwise long division
/// of a 8192-bit number, which costs more than the whole exponentiation; here R² comes from
/// R mod n by one doubling and twelve Montgomery squarings (Mont(2) squared 12 times is
/// Mont(2^4096) = R² mod n).
struct Montgomery {
    n: U4096,
    /// -n⁻¹ mod 2^Limb::BITS.
    n_neg_inv: Limb,
    /// R² mod n.
    r2: U4096,
}

impl Montgomery {
    /// `n` must be odd.
    fn new(n: U4096) -> Self {
        let n_lo = Uint::<1>::from_words([n.as_words()[0]]);
        let inv = n_lo.inv_mod2k_vartime(Word::BITS as usize).as_words()[0];
        let n_neg_inv = Limb(Word::MIN.wrapping_sub(inv));
        // R mod n = ((R - 1) mod n) + 1 (n odd, so R mod n != 0).
        let r = U4096::MAX.const_rem(&n).0.wrapping_add(&U4096::ONE);
        let mut mont = Self {
            n,
            n_neg_inv,
            r2: U4096::ZERO,
        };
        // Mont(2) = 2R mod n; squaring 12 times gives Mont(2^(2^12)) = R * R mod n.
        let mut x = r.add_mod(&r, &n);
        for _ in 0..12 {
            x = mont.mul(&x, &x);
        }
        mont.r2 = x;
        mont
    }

    /// Montgomery multiplication: `a * b / R mod n` (`a`, `b` below `n`).
    fn mul(&self, a: &U4096, b: &U4096) -> U4096 {
        montgomery_reduction(&a.mul_wide(b), &self.n, self.n_neg_inv)
    }

    /// `a * R mod n` (`a` below `n`).
    fn enter(&self, a: &U4096) -> U4096 {
        self.mul(a, &self.r2)
    }

    /// `a / R mod n`.
    fn leave(&self, a: &U4096) -> U4096 {
        montgomery_reduction(&(*a, U4096::ZERO), &self.n, self.n_neg_inv)
    }
}

/// The magnitude of a DER INTEGER that must be positive (one leading zero byte allowed, and
/// required when the top bit is set).
fn positive(int: &[u8]) -> Option<&[u8]> {
    match int {
        [0, rest @ ..] if rest.first().is_some_and(|&b| b & 0x80 != 0) => Some(rest),
        [first, ..] if first & 0x80 == 0 && *first != 0 => Some(int),
        _ => None,
    }
}

/// A big-endian number of at most 512 bytes as a [`U4096`].
fn uint(bytes: &[u8]) -> Option<U4096> {
    let mut buf = [0u8; MAX_BYTES];
    let start = MAX_BYTES.checked_sub(bytes.len())?;
    buf.get_mut(start..)?.copy_from_slice(bytes);
    Some(U4096::from_be_bytes(buf))
}

/// The DER DigestInfo prefix for `hash` (RFC 8017 §9.2 note 1).
fn digest_info_prefix(hash: HashAlg) -> &'static [u8] {
    match hash {
        HashAlg::Sha256 => &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
        HashAlg::Sha384 => &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
        HashAlg::Sha512 => &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
    }
}

/// RSASSA-PKCS1-v1_5-VERIFY (RFC 8017 §8.2.2) of `signature` over `message` with the DER
/// RSAPublicKey `public_key`.
pub(crate) fn verify_pkcs1v15(
    public_key: &[u8],
    hash: HashAlg,
    message: &[u8],
    signature: &[u8],
) -> bool {
    let Some(key) = PublicKey::parse(public_key) else {
        return false;
    };
    let mut buf = [0u8; MAX_BYTES];
    let Some(em) = key.public_op(signature, &mut buf) else {
        return false;
    };
    let mut digest = [0u8; 64];
    let len = hash.digest(message, &mut digest);
    let prefix = digest_info_prefix(hash);
    let (Some(digest), Some(t_len)) = (digest.get(..len), prefix.len().checked_add(len)) else {
        return false;
    };
    // EM = 0x00 || 0x01 || PS (0xFF, at least 8 bytes) || 0x00 || T
    let Some(ps_len) = em.len().checked_sub(t_len + 3) else {
        return false;
    };
    if ps_len < 8 {
        return false;
    }
    let (head, t) = em.split_at(em.len() - t_len);
    let (t_prefix, t_digest) = t.split_at(prefix.len());
    head.first() == Some(&0)
        && head.get(1) == Some(&1)
        && head.last() == Some(&0)
        && head
            .get(2..head.len() - 1)
            .is_some_and(|ps| ps.iter().all(|&b| b == 0xFF))
        && t_prefix == prefix
        && t_digest == digest
}

/// RSASSA-PSS-VERIFY (RFC 8017 §8.1.2, EMSA-PSS-VERIFY §9.1.2) with MGF1(`hash`) and a salt as
/// long as the hash.
pub(crate) fn verify_pss(
    public_key: &[u8],
    hash: HashAlg,
    message: &[u8],
    signature: &[u8],
) -> bool {
    let Some(key) = PublicKey::parse(public_key) else {
        return false;
    };
    let mut buf = [0u8; MAX_BYTES];
    let Some(em) = key.public_op(signature, &mut buf) else {
        return false;
    };
    match hash {
        HashAlg::Sha256 => emsa_pss_verify::<sha2::Sha256>(em, key.bits - 1, message),
        HashAlg::Sha384 => emsa_pss_verify::<sha2::Sha384>(em, key.bits - 1, message),
        HashAlg::Sha512 => emsa_pss_verify::<sha2::Sha512>(em, key.bits - 1, message),
    }
}

/// EMSA-PSS-VERIFY with hash `D`, MGF1(`D`) and sLen = hLen. `em` is the output of RSAVP1 (as
/// many bytes as the modulus), `em_bits` is modBits - 1.
fn emsa_pss_verify<D: Digest>(em: &[u8], em_bits: usize, message: &[u8]) -> bool {
    let h_len = <D as Digest>::output_size();
    let s_len = h_len;
    let em_len = em_bits.div_ceil(8);
    // RSAVP1's output has k bytes; EM is its last emLen bytes, and any byte before must be 0.
    let Some(extra) = em.len().checked_sub(em_len) else {
        return false;
    };
    let (zeros, em) = em.split_at(extra);
    if zeros.iter().any(|&b| b != 0) || em_len < h_len + s_len + 2 || em.last() != Some(&0xbc) {
        return false;
    }
    let db_len = em_len - h_len - 1;
    let (masked_db, rest) = em.split_at(db_len);
    let Some(h) = rest.get(..h_len) else {
        return false;
    };
    // The leftmost 8*emLen - emBits bits of maskedDB must be zero.
    let unused_bits = 8 * em_len - em_bits;
    let top_mask = 0xFFu8.checked_shr(unused_bits as u32).unwrap_or(0);
    if masked_db.first().is_some_and(|&b| b & !top_mask != 0) {
        return false;
    }
    // DB = maskedDB xor MGF1(H, dbLen)
    let mut db = [0u8; MAX_BYTES];
    let Some(db) = db.get_mut(..db_len) else {
        return false;
    };
    db.copy_from_slice(masked_db);
    for (counter, chunk) in db.chunks_mut(h_len).enumerate() {
        let mask = D::new()
            .chain_update(h)
            .chain_update((counter as u32).to_be_bytes())
            .finalize();
        for (d, m) in chunk.iter_mut().zip(mask.iter()) {
            *d ^= m;
        }
    }
    if let Some(first) = db.first_mut() {
        *first &= top_mask;
    }
    // DB = PS (zeros) || 0x01 || salt
    let ps_len = em_len - h_len - s_len - 2;
    let (ps, rest) = db.split_at(ps_len);
    let Some((&one, salt)) = rest.split_first() else {
        return false;
    };
    if ps.iter().any(|&b| b != 0) || one != 0x01 || salt.len() != s_len {
        return false;
    }
    // H' = Hash(0x00 * 8 || mHash || salt)
    let m_hash = D::digest(message);
    let h2 = D::new()
        .chain_update([0u8; 8])
        .chain_update(&m_hash)
        .chain_update(salt)
        .finalize();
    h2.as_slice() == h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_integers() {
        assert_eq!(positive(&[0x01]), Some(&[0x01][..]));
        assert_eq!(positive(&[0x00, 0x80]), Some(&[0x80][..]));
        assert_eq!(positive(&[0x80]), None);
        assert_eq!(positive(&[0x00]), None);
        assert_eq!(positive(&[0x00, 0x01]), None);
        assert_eq!(positive(&[]), None);
    }

    #[test]
    fn garbage_keys_and_signatures_are_refused() {
        for len in 0..64 {
            let data: [u8; 64] = core::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x30);
            let d = &data[..len];
            assert!(!verify_pkcs1v15(d, HashAlg::Sha256, b"m", d));
            assert!(!verify_pss(d, HashAlg::Sha256, b"m", d));
        }
    }

    #[test]
    fn small_and_even_moduli_are_refused() {
        // 1024-bit, even 2048-bit and odd 2048-bit moduli, exponent 65537.
        let mut der = [0u8; 600];
        for (bits_bytes, odd, ok) in [
            (128usize, true, false),
            (256, false, false),
            (256, true, true),
        ] {
            let n_len = bits_bytes + 1; // leading zero
            let body_len = 4 + n_len + 5;
            der[0] = 0x30;
            der[1] = 0x82;
            der[2] = (body_len >> 8) as u8;
            der[3] = body_len as u8;
            der[4] = 0x02;
            der[5] = 0x82;
            der[6] = (n_len >> 8) as u8;
            der[7] = n_len as u8;
            der[8] = 0;
            for b in &mut der[9..9 + bits_bytes] {
                *b = 0xC3;
            }
            der[8 + bits_bytes] = if odd { 0xC3 } else { 0xC2 };
            let e = 8 + n_len;
            der[e..e + 5].copy_from_slice(&[0x02, 0x03, 0x01, 0x00, 0x01]);
            let total = 4 + body_len;
            assert_eq!(
                PublicKey::parse(&der[..total]).is_some(),
                ok,
                "{bits_bytes} {odd}"
            );
        }
    }
}
