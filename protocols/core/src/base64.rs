//! Base64 (RFC 4648 standard alphabet), one-shot and streaming.
//!
//! * [`encode_into`] / [`decode_into`]: one-shot, strict (padding required, no whitespace),
//!   for SASL exchanges. Built on the constant-time [`base64ct`] crate.
//! * [`Base64Encoder`]: streaming encoder with optional line wrapping (MIME bodies).
//! * [`Base64Decoder`]: streaming lenient decoder for MIME bodies (skips whitespace and line
//!   breaks).
//!
//! ```
//! use postwire_core::base64::{decode_into, encode_into};
//!
//! let mut enc = [0u8; 8];
//! let n = encode_into(b"fooba", &mut enc).unwrap();
//! assert_eq!(&enc[..n], b"Zm9vYmE=");
//!
//! let mut dec = [0u8; 5];
//! let n = decode_into(&enc[..n], &mut dec).unwrap();
//! assert_eq!(&dec[..n], b"fooba");
//! ```

use crate::error::WireError;
use base64ct::{Base64, Encoding};

/// Length of the padded base64 encoding of `n` bytes (saturating at `usize::MAX`).
///
/// ```
/// use postwire_core::base64::encoded_len;
/// assert_eq!(encoded_len(0), 0);
/// assert_eq!(encoded_len(1), 4);
/// assert_eq!(encoded_len(3), 4);
/// assert_eq!(encoded_len(4), 8);
/// ```
pub const fn encoded_len(n: usize) -> usize {
    let groups = n / 3 + if n.is_multiple_of(3) { 0 } else { 1 };
    groups.saturating_mul(4)
}

/// Upper bound of the decoded length of `n` base64 symbols (`n / 4 * 3`, plus 2 for a
/// partial group).
pub const fn decoded_len_max(n: usize) -> usize {
    n / 4 * 3 + if n.is_multiple_of(4) { 0 } else { 2 }
}

/// Encode `input` into `out` (standard alphabet, with padding, no line breaks).
///
/// Returns the number of bytes written, or [`WireError::BufferTooSmall`] when
/// `out.len() < encoded_len(input.len())`.
pub fn encode_into(input: &[u8], out: &mut [u8]) -> Result<usize, WireError> {
    let need = encoded_len(input.len());
    let dst = out.get_mut(..need).ok_or(WireError::BufferTooSmall)?;
    Base64::encode(input, dst)
        .map(str::len)
        .map_err(|_| WireError::BufferTooSmall)
}

/// Decode strict base64 (standard alphabet, padding required, no whitespace, canonical
/// trailing bits).
///
/// Returns the number of bytes written. Errors: [`WireError::Malformed`] for invalid input
/// (`offset` = first offending byte, or the start of the last group when only the padding or
/// trailing bits are wrong, or `input.len()` for a bad length), [`WireError::BufferTooSmall`]
/// when `out` cannot hold the decoded bytes.
///
/// ```
/// use postwire_core::{base64::decode_into, WireError};
/// let mut out = [0u8; 8];
/// assert_eq!(decode_into(b"Zm9v", &mut out), Ok(3));
/// assert_eq!(decode_into(b"Zm 9v", &mut out), Err(WireError::Malformed { offset: 2 }));
/// assert_eq!(decode_into(b"Zm9", &mut out), Err(WireError::Malformed { offset: 3 }));
/// ```
pub fn decode_into(input: &[u8], out: &mut [u8]) -> Result<usize, WireError> {
    if !input.len().is_multiple_of(4) {
        return Err(WireError::Malformed {
            offset: malformed_offset(input).unwrap_or(input.len()),
        });
    }
    let pads = input
        .iter()
        .rev()
        .take(2)
        .take_while(|&&b| b == b'=')
        .count();
    let need = (input.len() / 4 * 3).saturating_sub(pads);
    if out.len() < need {
        // Report bad input in preference to a small buffer.
        if let Some(offset) = malformed_offset(input) {
            return Err(WireError::Malformed { offset });
        }
        return Err(WireError::BufferTooSmall);
    }
    match Base64::decode(input, out) {
        Ok(decoded) => Ok(decoded.len()),
        Err(base64ct::Error::InvalidLength) => Err(WireError::BufferTooSmall),
        Err(base64ct::Error::InvalidEncoding) => Err(WireError::Malformed {
            offset: malformed_offset(input).unwrap_or_else(|| input.len().saturating_sub(4)),
        }),
    }
}

/// Offset of the first byte that is neither an alphabet symbol nor part of at most two
/// trailing `=`.
fn malformed_offset(input: &[u8]) -> Option<usize> {
    let pads = input
        .iter()
        .rev()
        .take(2)
        .take_while(|&&b| b == b'=')
        .count();
    let body = input.get(..input.len() - pads).unwrap_or_default();
    body.iter().position(|&b| sextet(b).is_none())
}

/// The 6-bit value of a base64 symbol of the standard alphabet.
const fn sextet(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Streaming base64 encoder with optional line wrapping.
///
/// Input may arrive in arbitrary chunks; at most 2 input bytes are held between calls. With
/// `line_len > 0`, a CR LF is inserted before a symbol whenever the current line already
/// holds `line_len` symbols (76 for MIME, RFC 2045). No line break is written after the last
/// symbol: the caller ends the body as it needs.
///
/// ```
/// use postwire_core::base64::Base64Encoder;
///
/// let mut enc = Base64Encoder::new(4);
/// let mut out = [0u8; 32];
/// let (consumed, mut n) = enc.encode(b"foob", &mut out);
/// assert_eq!(consumed, 4);
/// n += enc.finish(&mut out[n..]).unwrap();
/// assert_eq!(&out[..n], b"Zm9v\r\nYg==");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Base64Encoder {
    line_len: usize,
    /// Symbols on the current output line.
    col: usize,
    pending: [u8; 2],
    npend: usize,
}

impl Base64Encoder {
    /// A new encoder; `line_len` symbols per line (0 = no wrapping).
    pub const fn new(line_len: usize) -> Self {
        Base64Encoder {
            line_len,
            col: 0,
            pending: [0; 2],
            npend: 0,
        }
    }

    /// Encode as much of `input` as fits into `out`; returns `(consumed, written)`.
    ///
    /// Every 3 input bytes are written as one unit of 4 symbols (plus the line breaks falling
    /// inside it); a unit that does not fit is left for the next call. Progress is guaranteed
    /// whenever `out.len() >= 12` (`>= 6` when `line_len` is 0 or at least 4).
    pub fn encode(&mut self, input: &[u8], out: &mut [u8]) -> (usize, usize) {
        let mut i = 0;
        let mut o = 0;
        loop {
            let rest = input.get(i..).unwrap_or_default();
            let need = 3 - self.npend;
            if rest.len() < need {
                // Stash the remainder (at most 2 bytes in total).
                for &b in rest {
                    if let Some(slot) = self.pending.get_mut(self.npend) {
                        *slot = b;
                        self.npend += 1;
                        i += 1;
                    }
                }
                break;
            }
            if self.npend == 0 {
                // Bulk path: whole groups that fit in the current line and in `out`.
                let line_room = if self.line_len == 0 {
                    usize::MAX
                } else {
                    self.line_len.saturating_sub(self.col)
                };
                let groups = (rest.len() / 3).min((out.len() - o) / 4).min(line_room / 4);
                if groups > 0 {
                    let src = rest.get(..groups * 3).unwrap_or_default();
                    let Some(dst) = out.get_mut(o..o + groups * 4) else {
                        break;
                    };
                    if Base64::encode(src, dst).is_err() {
                        break;
                    }
                    i += groups * 3;
                    o += groups * 4;
                    self.col += groups * 4;
                    continue;
                }
            }
            // One group, possibly wrapping inside it.
            let mut group = [0u8; 3];
            for (k, slot) in group.iter_mut().enumerate() {
                *slot = match self.pending.get(k) {
                    Some(&p) if k < self.npend => p,
                    _ => rest.get(k - self.npend).copied().unwrap_or(0),
                };
            }
            let mut symbols = [0u8; 4];
            if Base64::encode(&group, &mut symbols).is_err() {
                break;
            }
            match self.emit(&symbols, out.get_mut(o..).unwrap_or_default()) {
                Some(n) => {
                    o += n;
                    i += need;
                    self.npend = 0;
                }
                None => break,
            }
        }
        (i, o)
    }

    /// Write the final (padded) group for the pending bytes and reset the encoder.
    ///
    /// Returns the bytes written (0 when nothing is pending), or
    /// [`WireError::BufferTooSmall`] (writing nothing) when the group does not fit (6 bytes
    /// always suffice when `line_len` is 0 or at least 4, otherwise 12).
    pub fn finish(&mut self, out: &mut [u8]) -> Result<usize, WireError> {
        let pending = self.pending.get(..self.npend).unwrap_or_default();
        let mut symbols = [0u8; 4];
        let n = if pending.is_empty() {
            0
        } else {
            let encoded = Base64::encode(pending, &mut symbols)
                .map_err(|_| WireError::BufferTooSmall)?
                .len();
            let symbols = symbols.get(..encoded).unwrap_or_default();
            self.emit(symbols, out).ok_or(WireError::BufferTooSmall)?
        };
        *self = Base64Encoder::new(self.line_len);
        Ok(n)
    }

    /// Write `symbols` with line breaks as needed, all or nothing. Returns bytes written.
    fn emit(&mut self, symbols: &[u8], out: &mut [u8]) -> Option<usize> {
        let mut col = self.col;
        let mut need = 0usize;
        for _ in symbols {
            if self.line_len > 0 && col >= self.line_len {
                need += 2;
                col = 0;
            }
            need += 1;
            col += 1;
        }
        if need > out.len() {
            return None;
        }
        let mut o = 0;
        for &s in symbols {
            if self.line_len > 0 && self.col >= self.line_len {
                out.get_mut(o..o + 2)?.copy_from_slice(b"\r\n");
                o += 2;
                self.col = 0;
            }
            *out.get_mut(o)? = s;
            o += 1;
            self.col += 1;
        }
        Some(o)
    }
}

/// Streaming lenient base64 decoder for MIME bodies.
///
/// CR, LF, space and tab are skipped anywhere. Decoding stops at the first `=`: the pending
/// symbols are flushed and every later input byte is consumed and ignored. Any other
/// non-alphabet byte is [`WireError::Malformed`] with `offset` counted from the start of the
/// stream (all bytes consumed by earlier calls included). At most 3 symbols are held between
/// calls. A missing final padding is accepted by [`finish`](Self::finish).
///
/// ```
/// use postwire_core::base64::Base64Decoder;
///
/// let mut dec = Base64Decoder::new();
/// let mut out = [0u8; 16];
/// let (c1, n1) = dec.decode(b"Zm9v\r\nYm", &mut out).unwrap();
/// let (c2, n2) = dec.decode(b"Fy\r\n", &mut out[n1..]).unwrap();
/// assert_eq!((c1, c2), (8, 4));
/// let n3 = dec.finish(&mut out[n1 + n2..]).unwrap();
/// assert_eq!(&out[..n1 + n2 + n3], b"foobar");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Base64Decoder {
    quad: [u8; 4],
    n: usize,
    /// Padding was seen: ignore everything else.
    done: bool,
    /// Stream offset of the next input byte.
    pos: usize,
}

impl Default for Base64Decoder {
    /// Same as [`Base64Decoder::new`].
    fn default() -> Self {
        Base64Decoder::new()
    }
}

impl Default for Base64Encoder {
    /// Same as [`Base64Encoder::new`]`(0)` (no line wrapping).
    fn default() -> Self {
        Base64Encoder::new(0)
    }
}

impl Base64Decoder {
    /// A new decoder.
    pub const fn new() -> Self {
        Base64Decoder {
            quad: [0; 4],
            n: 0,
            done: false,
            pos: 0,
        }
    }

    /// Whether padding was seen (the encoded data has ended).
    pub const fn is_done(&self) -> bool {
        self.done
    }

    /// Decode as much of `input` as fits into `out`; returns `(consumed, written)`.
    ///
    /// A complete group (3 output bytes) that does not fit is left unconsumed. Progress is
    /// guaranteed whenever `input` is non-empty and `out.len() >= 3`.
    pub fn decode(&mut self, input: &[u8], out: &mut [u8]) -> Result<(usize, usize), WireError> {
        let mut o = 0;
        let mut i = 0;
        while let Some(&b) = input.get(i) {
            if self.done {
                i = input.len();
                break;
            }
            match b {
                b'\r' | b'\n' | b' ' | b'\t' => {}
                b'=' => {
                    let n = self.flush(out.get_mut(o..).unwrap_or_default(), i)?;
                    let Some(n) = n else { break };
                    o += n;
                    self.done = true;
                }
                _ => {
                    let Some(v) = sextet(b) else {
                        let offset = self.pos.saturating_add(i);
                        return Err(WireError::Malformed { offset });
                    };
                    if self.n == 3 {
                        let Some(dst) = out.get_mut(o..o + 3) else {
                            break;
                        };
                        let [a, b1, c, _] = self.quad;
                        write_group(dst, [a, b1, c, v]);
                        o += 3;
                        self.n = 0;
                    } else if let Some(slot) = self.quad.get_mut(self.n) {
                        *slot = v;
                        self.n += 1;
                    }
                }
            }
            i += 1;
        }
        self.pos = self.pos.saturating_add(i);
        Ok((i, o))
    }

    /// Flush the pending symbols (missing padding is accepted) and reset the decoder.
    ///
    /// Returns the bytes written (at most 2). Errors: [`WireError::Malformed`] when a single
    /// symbol is pending (it cannot encode a byte), [`WireError::BufferTooSmall`] when `out`
    /// is too small (nothing written, state kept).
    pub fn finish(&mut self, out: &mut [u8]) -> Result<usize, WireError> {
        let n = self.flush(out, 0)?.ok_or(WireError::BufferTooSmall)?;
        *self = Base64Decoder::new();
        Ok(n)
    }

    /// Write the bytes of a partial group. `Ok(None)` = `out` too small (state unchanged).
    fn flush(&mut self, out: &mut [u8], at: usize) -> Result<Option<usize>, WireError> {
        let bytes = match self.n {
            0 => 0,
            1 => {
                return Err(WireError::Malformed {
                    offset: self.pos.saturating_add(at),
                });
            }
            n => n - 1,
        };
        let Some(dst) = out.get_mut(..bytes) else {
            return Ok(None);
        };
        let mut group = [0u8; 3];
        write_group(&mut group, self.quad);
        dst.copy_from_slice(group.get(..bytes).unwrap_or_default());
        self.n = 0;
        self.quad = [0; 4];
        Ok(Some(bytes))
    }
}

/// Pack 4 sextets into 3 bytes (`dst` must be 3 bytes long; shorter slices get a prefix).
fn write_group(dst: &mut [u8], q: [u8; 4]) {
    let [a, b, c, d] = q;
    let bytes = [(a << 2) | (b >> 4), (b << 4) | (c >> 2), (c << 6) | d];
    for (slot, v) in dst.iter_mut().zip(bytes) {
        *slot = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn reference_encode(input: &[u8]) -> Vec<u8> {
        let mut out = std::vec![0u8; encoded_len(input.len())];
        let n = encode_into(input, &mut out).unwrap();
        out.truncate(n);
        out
    }

    fn wrap(encoded: &[u8], line_len: usize) -> Vec<u8> {
        if line_len == 0 {
            return encoded.to_vec();
        }
        let mut out = Vec::new();
        for (k, chunk) in encoded.chunks(line_len).enumerate() {
            if k > 0 {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(chunk);
        }
        out
    }

    fn stream_encode(input: &[u8], line_len: usize, chunk: usize, out_size: usize) -> Vec<u8> {
        let mut enc = Base64Encoder::new(line_len);
        let mut buf = std::vec![0u8; out_size];
        let mut result = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            let mut rest = piece;
            loop {
                let (c, n) = enc.encode(rest, &mut buf);
                result.extend_from_slice(&buf[..n]);
                rest = &rest[c..];
                if rest.is_empty() {
                    break;
                }
                assert!(c > 0 || n > 0, "no progress");
            }
        }
        let n = enc.finish(&mut buf).unwrap();
        result.extend_from_slice(&buf[..n]);
        result
    }

    fn stream_decode(input: &[u8], chunk: usize, out_size: usize) -> Result<Vec<u8>, WireError> {
        let mut dec = Base64Decoder::new();
        let mut buf = std::vec![0u8; out_size];
        let mut result = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            let mut rest = piece;
            while !rest.is_empty() {
                let (c, n) = dec.decode(rest, &mut buf)?;
                assert!(c > 0 || n > 0, "no progress");
                result.extend_from_slice(&buf[..n]);
                rest = &rest[c..];
            }
        }
        let n = dec.finish(&mut buf)?;
        result.extend_from_slice(&buf[..n]);
        Ok(result)
    }

    #[test]
    fn rfc4648_vectors() {
        let cases: [(&[u8], &[u8]); 7] = [
            (b"", b""),
            (b"f", b"Zg=="),
            (b"fo", b"Zm8="),
            (b"foo", b"Zm9v"),
            (b"foob", b"Zm9vYg=="),
            (b"fooba", b"Zm9vYmE="),
            (b"foobar", b"Zm9vYmFy"),
        ];
        for (plain, enc) in cases {
            assert_eq!(reference_encode(plain), enc);
            let mut out = [0u8; 6];
            let n = decode_into(enc, &mut out).unwrap();
            assert_eq!(&out[..n], plain);
            assert_eq!(stream_encode(plain, 0, 1, 6), enc);
            assert_eq!(stream_decode(enc, 1, 3).unwrap(), plain);
        }
    }

    #[test]
    fn strict_errors() {
        let mut out = [0u8; 16];
        assert_eq!(
            decode_into(b"Zg=", &mut out),
            Err(WireError::Malformed { offset: 3 })
        );
        assert_eq!(
            decode_into(b"Zh==", &mut out),
            Err(WireError::Malformed { offset: 0 })
        );
        assert_eq!(
            decode_into(b"Z===", &mut out),
            Err(WireError::Malformed { offset: 1 })
        );
        assert_eq!(
            decode_into(b"====", &mut out),
            Err(WireError::Malformed { offset: 0 })
        );
        assert_eq!(
            decode_into(b"Zg==Zg==", &mut out),
            Err(WireError::Malformed { offset: 2 })
        );
        assert_eq!(
            decode_into(b"Zm9v", &mut [0u8; 2]),
            Err(WireError::BufferTooSmall)
        );
        assert_eq!(decode_into(b"Zg==", &mut [0u8; 1]), Ok(1));
        assert_eq!(
            encode_into(b"f", &mut [0u8; 3]),
            Err(WireError::BufferTooSmall)
        );
        assert_eq!(encoded_len(usize::MAX), usize::MAX);
        assert_eq!(decoded_len_max(6), 5);
    }

    #[test]
    fn lenient_decoder() {
        assert_eq!(
            stream_decode(b"Zm9v\r\n Ym\tFy", 100, 100).unwrap(),
            b"foobar"
        );
        assert_eq!(stream_decode(b"====", 100, 100).unwrap(), b"");
        assert_eq!(
            stream_decode(b"Zg==trailing junk!", 100, 100).unwrap(),
            b"f"
        );
        assert_eq!(stream_decode(b"Zg", 100, 100).unwrap(), b"f");
        assert_eq!(
            stream_decode(b"Zm9v*", 100, 100),
            Err(WireError::Malformed { offset: 4 })
        );
        assert_eq!(
            stream_decode(b"Zm9v\r\nZ*", 3, 100),
            Err(WireError::Malformed { offset: 7 })
        );
        assert_eq!(
            stream_decode(b"Z", 100, 100),
            Err(WireError::Malformed { offset: 1 })
        );
        let mut dec = Base64Decoder::new();
        assert_eq!(dec.decode(b"Zm9v", &mut [0u8; 2]), Ok((3, 0)));
        assert_eq!(dec.finish(&mut []), Err(WireError::BufferTooSmall));
        assert!(!dec.is_done());
    }

    #[test]
    fn encoder_wrapping() {
        let data: Vec<u8> = (0..=255u8).collect();
        let flat = reference_encode(&data);
        assert_eq!(stream_encode(&data, 76, 7, 100), wrap(&flat, 76));
        assert_eq!(stream_encode(&data, 1, 1, 12), wrap(&flat, 1));
        assert_eq!(stream_encode(&data, 5, 2, 12), wrap(&flat, 5));
        let mut enc = Base64Encoder::new(0);
        assert_eq!(enc.encode(b"abc", &mut [0u8; 3]), (0, 0));
        assert_eq!(enc.encode(b"ab", &mut [0u8; 0]), (2, 0));
        assert_eq!(enc.finish(&mut [0u8; 3]), Err(WireError::BufferTooSmall));
        assert_eq!(enc.finish(&mut [0u8; 4]), Ok(4));
        assert_eq!(Base64Encoder::default(), Base64Encoder::new(0));
    }

    proptest! {
        #[test]
        fn encoder_chunking(data in proptest::collection::vec(any::<u8>(), 0..300),
                            line_len in prop_oneof![Just(0usize), Just(76), 1usize..20],
                            chunk in 1usize..40, out_size in 12usize..50) {
            let expected = wrap(&reference_encode(&data), line_len);
            prop_assert_eq!(stream_encode(&data, line_len, chunk, out_size), expected);
        }

        #[test]
        fn decoder_chunking(data in proptest::collection::vec(any::<u8>(), 0..300),
                            line_len in prop_oneof![Just(0usize), Just(76), 1usize..20],
                            chunk in 1usize..40, out_size in 3usize..50) {
            let encoded = wrap(&reference_encode(&data), line_len);
            prop_assert_eq!(stream_decode(&encoded, chunk, out_size).unwrap(), data.clone());
            let mut strict = std::vec![0u8; data.len()];
            let flat = reference_encode(&data);
            let n = decode_into(&flat, &mut strict).unwrap();
            prop_assert_eq!(&strict[..n], &data[..]);
        }

        #[test]
        fn strict_decode_never_panics(input in proptest::collection::vec(any::<u8>(), 0..40), out_size in 0usize..40) {
            let mut out = std::vec![0u8; out_size];
            let _ = decode_into(&input, &mut out);
            let _ = stream_decode(&input, 3, out_size.max(3));
        }
    }
}
