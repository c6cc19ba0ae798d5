//! Modified UTF-7 mailbox names (RFC 3501 §5.1.3) into caller buffers.
//!
//! Printable US-ASCII characters other than `&` stand for themselves, `&` is written `&-`,
//! and every other run of characters is UTF-16 encoded in a modified base64 (`,` instead
//! of `/`, no padding) between `&` and `-`.
//!
//! Decoding is strict, as RFC 3501 requires: it refuses raw 8-bit and control bytes,
//! base64 runs that encode printable ASCII, adjacent base64 runs, non-zero padding bits,
//! partial UTF-16 units, unpaired surrogates and unterminated runs. When IMAP4rev2 or
//! `UTF8=ACCEPT` is enabled, names are plain UTF-8 and need no conversion.
//!
//! ```
//! use postwire_imap::mutf7;
//! let mut buf = [0u8; 64];
//! let n = mutf7::encode("~peter/mail/台北/日本語", &mut buf).unwrap();
//! assert_eq!(&buf[..n], b"~peter/mail/&U,BTFw-/&ZeVnLIqe-");
//! let mut out = [0u8; 64];
//! assert_eq!(mutf7::decode_str(b"Entw&APw-rfe", &mut out), Ok("Entwürfe"));
//! ```

use crate::wire::Error;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

fn b64_value(b: u8) -> Option<u32> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b',' => 63,
        _ => return None,
    } as u32)
}

fn is_direct(c: char) -> bool {
    (' '..='~').contains(&c)
}

struct Out<'o> {
    buf: &'o mut [u8],
    n: usize,
}

impl Out<'_> {
    fn push(&mut self, b: u8) -> Result<(), Error> {
        let slot = self.buf.get_mut(self.n).ok_or(Error::BufferTooSmall)?;
        *slot = b;
        self.n += 1;
        Ok(())
    }
    fn push_slice(&mut self, s: &[u8]) -> Result<(), Error> {
        let dst = self
            .buf
            .get_mut(self.n..self.n + s.len())
            .ok_or(Error::BufferTooSmall)?;
        dst.copy_from_slice(s);
        self.n += s.len();
        Ok(())
    }
}

/// Length of the modified UTF-7 form of `name`.
pub fn encoded_len(name: &str) -> usize {
    let mut n = 0;
    let mut units = 0usize;
    for c in name.chars() {
        if is_direct(c) {
            if units > 0 {
                n += (units * 16).div_ceil(6) + 2;
                units = 0;
            }
            n += if c == '&' { 2 } else { 1 };
        } else {
            units += c.len_utf16();
        }
    }
    if units > 0 {
        n += (units * 16).div_ceil(6) + 2;
    }
    n
}

/// Encode a UTF-8 mailbox name into `out`; returns the length written.
///
/// Errors with [`Error::BufferTooSmall`] when `out` is too short.
pub fn encode(name: &str, out: &mut [u8]) -> Result<usize, Error> {
    let mut o = Out { buf: out, n: 0 };
    encode_with(name, &mut |b| o.push(b))?;
    Ok(o.n)
}

/// Encode `name`, handing each output byte to `emit`.
pub(crate) fn encode_with(
    name: &str,
    emit: &mut dyn FnMut(u8) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut bits: u32 = 0;
    let mut nbits = 0u32;
    let mut in_run = false;
    let sym = |v: u32| ALPHABET.get(v as usize).copied().unwrap_or(b'A');
    for c in name.chars() {
        if is_direct(c) {
            if in_run {
                if nbits > 0 {
                    emit(sym((bits << (6 - nbits)) & 63))?;
                }
                emit(b'-')?;
                in_run = false;
                bits = 0;
                nbits = 0;
            }
            emit(c as u8)?;
            if c == '&' {
                emit(b'-')?;
            }
            continue;
        }
        if !in_run {
            emit(b'&')?;
            in_run = true;
        }
        let mut units = [0u16; 2];
        for &u in c.encode_utf16(&mut units).iter() {
            bits = (bits << 16) | u32::from(u);
            nbits += 16;
            while nbits >= 6 {
                nbits -= 6;
                emit(sym((bits >> nbits) & 63))?;
            }
            bits &= (1 << nbits) - 1;
        }
    }
    if in_run {
        if nbits > 0 {
            emit(sym((bits << (6 - nbits)) & 63))?;
        }
        emit(b'-')?;
    }
    Ok(())
}

/// Decode a modified UTF-7 name into UTF-8 in `out`; returns the length written.
///
/// Errors: [`Error::Malformed`] (offset of the offending byte) for anything RFC 3501 does
/// not allow, [`Error::BufferTooSmall`] when `out` is too short.
pub fn decode(input: &[u8], out: &mut [u8]) -> Result<usize, Error> {
    let mut o = Out { buf: out, n: 0 };
    let mut i = 0;
    // Position just after the '-' of the last base64 run (adjacent runs are not allowed).
    let mut last_run_end = usize::MAX;
    while let Some(&b) = input.get(i) {
        if b != b'&' {
            if !(0x20..0x7f).contains(&b) {
                return Err(Error::Malformed { offset: i });
            }
            o.push(b)?;
            i += 1;
            continue;
        }
        if input.get(i + 1) == Some(&b'-') {
            o.push(b'&')?;
            i += 2;
            continue;
        }
        if last_run_end == i {
            return Err(Error::Malformed { offset: i });
        }
        let run_start = i;
        i += 1;
        let mut bits: u32 = 0;
        let mut nbits = 0u32;
        let mut high: Option<u16> = None;
        let mut units = 0usize;
        loop {
            let Some(&c) = input.get(i) else {
                return Err(Error::Malformed { offset: i });
            };
            if c == b'-' {
                break;
            }
            let v = b64_value(c).ok_or(Error::Malformed { offset: i })?;
            bits = (bits << 6) | v;
            nbits += 6;
            if nbits >= 16 {
                nbits -= 16;
                let unit = ((bits >> nbits) & 0xffff) as u16;
                bits &= (1 << nbits) - 1;
                units += 1;
                let ch = match (high.take(), unit) {
                    (None, 0xd800..=0xdbff) => {
                        high = Some(unit);
                        None
                    }
                    (None, 0xdc00..=0xdfff) => return Err(Error::Malformed { offset: i }),
                    (None, u) => Some(u32::from(u)),
                    (Some(h), 0xdc00..=0xdfff) => {
                        Some(0x10000 + ((u32::from(h) - 0xd800) << 10) + (u32::from(unit) - 0xdc00))
                    }
                    (Some(_), _) => return Err(Error::Malformed { offset: i }),
                };
                if let Some(cp) = ch {
                    let ch = char::from_u32(cp).ok_or(Error::Malformed { offset: i })?;
                    if is_direct(ch) {
                        return Err(Error::Malformed { offset: i });
                    }
                    let mut tmp = [0u8; 4];
                    o.push_slice(ch.encode_utf8(&mut tmp).as_bytes())?;
                }
            }
            i += 1;
        }
        // Leftover bits must be fewer than 6 and zero; the run must not be empty.
        if units == 0 || nbits >= 6 || bits != 0 || high.is_some() {
            return Err(Error::Malformed { offset: run_start });
        }
        i += 1;
        last_run_end = i;
    }
    Ok(o.n)
}

/// Decode into `out` and return the result as `&str`.
pub fn decode_str<'o>(input: &[u8], out: &'o mut [u8]) -> Result<&'o str, Error> {
    let n = decode(input, out)?;
    let bytes = out.get(..n).unwrap_or_default();
    core::str::from_utf8(bytes).map_err(|_| Error::Malformed { offset: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_basic() {
        let mut b = [0u8; 64];
        for s in ["", "&", "a&b", "日本語", "\u{1F600}x", "\u{7f}"] {
            let n = encode(s, &mut b).unwrap();
            assert_eq!(n, encoded_len(s));
            let mut o = [0u8; 64];
            let enc = b[..n].to_vec();
            assert_eq!(decode_str(&enc, &mut o).unwrap(), s);
        }
        assert_eq!(encode("日本語", &mut [0u8; 3]), Err(Error::BufferTooSmall));
    }
}
