//! A minimal DER reader: just enough to split certificate bundles and to read the few
//! certificate fields the verifier needs beside rustls-webpki (the SubjectPublicKeyInfo, the
//! validity period and keyUsage). Every function returns `None` on malformed input; nothing
//! here panics.

/// Tag of a universal SEQUENCE.
pub(crate) const SEQUENCE: u8 = 0x30;
const OID: u8 = 0x06;
const INTEGER: u8 = 0x02;
const BOOLEAN: u8 = 0x01;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const VERSION: u8 = 0xA0;
const EXTENSIONS: u8 = 0xA3;
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1D, 0x0F];

/// Splits one TLV off `input`: `(tag, value, rest)`. Only low tag numbers and definite lengths
/// of up to four length bytes are accepted (X.509 needs nothing else).
pub(crate) fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1F == 0x1F {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (len_bytes, rest) = rest.split_at(n);
        let mut len = 0usize;
        for &b in len_bytes {
            len = len.checked_mul(256)?.checked_add(usize::from(b))?;
        }
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    Some((tag, value, rest))
}

/// Like [`tlv`], but the tag must be `want`.
pub(crate) fn expect(input: &[u8], want: u8) -> Option<(&[u8], &[u8])> {
    match tlv(input)? {
        (tag, value, rest) if tag == want => Some((value, rest)),
        _ => None,
    }
}

/// The fields of a certificate that the verifier reads itself.
#[derive(Clone, Copy)]
pub(crate) struct CertFields<'c> {
    /// The whole SubjectPublicKeyInfo, tag and length included (what SPKI pins hash).
    pub(crate) spki: &'c [u8],
    /// notBefore, Unix seconds.
    pub(crate) not_before: i64,
    /// The keyUsage bits (bit 0 = digitalSignature is the most significant bit of the first
    /// byte), when the extension is present.
    pub(crate) key_usage: Option<KeyUsageBits>,
}

/// The first two bytes of a keyUsage BIT STRING (the bits past the ninth are unused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KeyUsageBits(u16);

impl KeyUsageBits {
    /// digitalSignature (bit 0).
    pub(crate) fn digital_signature(self) -> bool {
        self.0 & 0x8000 != 0
    }

    /// keyCertSign (bit 5).
    pub(crate) fn key_cert_sign(self) -> bool {
        self.0 & 0x0400 != 0
    }
}

impl<'c> CertFields<'c> {
    /// Parses `cert` (a DER X.509 certificate) far enough to find these fields.
    pub(crate) fn parse(cert: &'c [u8]) -> Option<Self> {
        let (cert_body, _) = expect(cert, SEQUENCE)?;
        let (tbs, _) = expect(cert_body, SEQUENCE)?;
        let mut rest = tbs;
        if tbs.first() == Some(&VERSION) {
            rest = tlv(rest)?.2;
        }
        rest = expect(rest, INTEGER)?.1; // serialNumber
        rest = expect(rest, SEQUENCE)?.1; // signature
        rest = expect(rest, SEQUENCE)?.1; // issuer
        let (validity, after_validity) = expect(rest, SEQUENCE)?;
        rest = expect(after_validity, SEQUENCE)?.1; // subject
        let spki_start = rest;
        let (_, after_spki) = expect(rest, SEQUENCE)?;
        let spki = spki_start.get(..spki_start.len() - after_spki.len())?;
        rest = after_spki;

        let (not_before, validity) = time(validity)?;
        let _not_after = time(validity)?;

        let mut key_usage = None;
        while !rest.is_empty() {
            let (tag, value, next) = tlv(rest)?;
            rest = next;
            if tag == EXTENSIONS {
                key_usage = key_usage_bits(value)?;
            }
        }
        Some(Self {
            spki,
            not_before,
            key_usage,
        })
    }
}

/// Splits a SubjectPublicKeyInfo (whole TLV) into the contents of its AlgorithmIdentifier and
/// the subjectPublicKey bits (which must be whole bytes).
pub(crate) fn split_spki(spki: &[u8]) -> Option<(&[u8], &[u8])> {
    let (body, _) = expect(spki, SEQUENCE)?;
    let (alg, rest) = expect(body, SEQUENCE)?;
    let (bits, _) = expect(rest, BIT_STRING)?;
    match bits.split_first()? {
        (0, key) => Some((alg, key)),
        _ => None,
    }
}

/// Reads a UTCTime or GeneralizedTime (`…Z`, seconds present, as RFC 5280 requires) off
/// `input`: `(unix seconds, rest)`.
fn time(input: &[u8]) -> Option<(i64, &[u8])> {
    let (tag, value, rest) = tlv(input)?;
    let (year, digits) = match (tag, value.len()) {
        (UTC_TIME, 13) => {
            let yy = number(value.get(..2)?)?;
            // RFC 5280 4.1.2.5.1: YY >= 50 is 19YY, otherwise 20YY.
            (
                if yy >= 50 { 1900 + yy } else { 2000 + yy },
                value.get(2..)?,
            )
        }
        (GENERALIZED_TIME, 15) => (number(value.get(..4)?)?, value.get(4..)?),
        _ => return None,
    };
    if digits.get(10) != Some(&b'Z') {
        return None;
    }
    let month = number(digits.get(0..2)?)?;
    let day = number(digits.get(2..4)?)?;
    let hour = number(digits.get(4..6)?)?;
    let minute = number(digits.get(6..8)?)?;
    let second = number(digits.get(8..10)?)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // Seconds up to 60: a leap second rounds up.
    if second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + hour * 3_600 + minute * 60 + second, rest))
}

/// Decimal digits to a number.
fn number(digits: &[u8]) -> Option<i64> {
    digits.iter().try_fold(0i64, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The keyUsage bits in `[3] Extensions`, if the extension is there.
fn key_usage_bits(explicit: &[u8]) -> Option<Option<KeyUsageBits>> {
    let (mut exts, _) = expect(explicit, SEQUENCE)?;
    while !exts.is_empty() {
        let (ext, next) = expect(exts, SEQUENCE)?;
        exts = next;
        let (oid, mut rest) = expect(ext, OID)?;
        if rest.first() == Some(&BOOLEAN) {
            rest = tlv(rest)?.2;
        }
        let (value, _) = expect(rest, OCTET_STRING)?;
        if oid == OID_KEY_USAGE {
            let (bits, _) = expect(value, BIT_STRING)?;
            let (_unused, bytes) = bits.split_first()?;
            let hi = bytes.first().copied().unwrap_or(0);
            let lo = bytes.get(1).copied().unwrap_or(0);
            return Some(Some(KeyUsageBits(u16::from_be_bytes([hi, lo]))));
        }
    }
    Some(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_lengths() {
        assert_eq!(tlv(&[0x30, 0x00]), Some((0x30, &[][..], &[][..])));
        assert_eq!(
            tlv(&[0x04, 0x01, 0xAA, 0xBB]),
            Some((0x04, &[0xAA][..], &[0xBB][..]))
        );
        assert_eq!(
            tlv(&[0x04, 0x81, 0x01, 0xAA]),
            Some((0x04, &[0xAA][..], &[][..]))
        );
        assert_eq!(tlv(&[0x04, 0x02, 0xAA]), None);
        assert_eq!(tlv(&[0x04, 0x80]), None);
        assert_eq!(tlv(&[0x04, 0x85, 1, 1, 1, 1, 1]), None);
        assert_eq!(tlv(&[0x04, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]), None);
        assert_eq!(tlv(&[0x1F, 0x00]), None);
        assert_eq!(tlv(&[]), None);
    }

    #[test]
    fn times() {
        assert_eq!(time(b"\x17\x0d700101000000Z"), Some((0, &[][..])));
        assert_eq!(
            time(b"\x17\x0d491231235959Z"),
            Some((2_524_607_999, &[][..]))
        );
        assert_eq!(
            time(b"\x18\x0f20280229120000Z"),
            Some((1_835_438_400, &[][..]))
        );
        assert_eq!(
            time(b"\x18\x0f99991231235959Z"),
            Some((253_402_300_799, &[][..]))
        );
        assert_eq!(time(b"\x17\x0d700101000000+"), None);
        assert_eq!(time(b"\x17\x0d701301000000Z"), None);
        assert_eq!(time(b"\x17\x0b7001010000Z"), None);
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..40 {
            for seed in 0..=255u8 {
                let data: [u8; 40] = core::array::from_fn(|i| {
                    (i as u8).wrapping_mul(seed).wrapping_add(seed) ^ 0x30
                });
                if let Some(fields) = CertFields::parse(&data[..len]) {
                    let _ = split_spki(fields.spki);
                }
                let _ = time(&data[..len]);
                let _ = split_spki(&data[..len]);
            }
        }
    }
}
