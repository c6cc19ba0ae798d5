//! Quoted-printable (RFC 2045 §6.7): a streaming encoder and a streaming lenient decoder for
//! bodies, and the RFC 2047 "Q" decoding of encoded-word text.
//!
//! ```
//! use postwire_mime::qp::{QpDecoder, QpEncoder, QpOptions};
//!
//! let mut enc = QpEncoder::new(QpOptions::TEXT);
//! let mut wire = [0u8; 64];
//! let (used, mut n) = enc.encode("Grüße \n.\nFrom me".as_bytes(), &mut wire);
//! assert_eq!(used, 18);
//! n += enc.finish(&mut wire[n..]).unwrap();
//! assert_eq!(&wire[..n], b"Gr=C3=BC=C3=9Fe=20\r\n=2E\r\n=46rom me");
//!
//! let mut dec = QpDecoder::new();
//! let mut text = [0u8; 64];
//! let (c, m) = dec.decode(&wire[..n], &mut text);
//! assert_eq!(c, n);
//! let m = m + dec.finish(&mut text[m..]).unwrap();
//! assert_eq!(&text[..m], "Grüße \r\n.\r\nFrom me".as_bytes());
//! ```

use postwire_core::WireError;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Longest encoded line (without CRLF), as RFC 2045 requires.
pub const MAX_LINE: usize = 76;

/// Options of a [`QpEncoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QpOptions {
    /// Treat the input as text: CR LF, a bare CR and a bare LF each become a hard line break
    /// (CR LF). Otherwise CR and LF are data and encoded as `=0D` / `=0A`.
    pub text: bool,
    /// Encode a `.` or `F` at the start of a line (`=2E`, `=46`), so that no line of the
    /// encoding is a lone dot or starts with `From ` (mbox).
    pub escape_line_start: bool,
    /// Encode every space and tab (Python's `quotetabs`).
    pub quote_spaces: bool,
}

impl QpOptions {
    /// Text with line breaks normalised to CR LF and line starts escaped: what the composer uses.
    pub const TEXT: QpOptions = QpOptions {
        text: true,
        escape_line_start: true,
        quote_spaces: false,
    };
    /// Text with CR LF line breaks, no line-start escaping (the plain RFC 2045 encoding).
    pub const PLAIN: QpOptions = QpOptions {
        text: true,
        escape_line_start: false,
        quote_spaces: false,
    };
    /// Binary data: CR and LF are encoded.
    pub const BINARY: QpOptions = QpOptions {
        text: false,
        escape_line_start: false,
        quote_spaces: false,
    };
}

/// Streaming quoted-printable encoder.
///
/// One input byte is held back until the next one shows whether a line break follows (a
/// space or tab before a line break must be encoded, and the last unit of a line may use the
/// 76th column). Output lines are at most [`MAX_LINE`] characters, soft breaks included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QpEncoder {
    opts: QpOptions,
    /// Characters on the current output line.
    col: usize,
    held: Option<u8>,
    /// The held byte is the first of its line.
    held_at_start: bool,
    /// The next input byte starts a line.
    at_start: bool,
    /// The last input byte was a CR (a following LF belongs to the same line break).
    after_cr: bool,
}

impl QpEncoder {
    /// A new encoder.
    pub const fn new(opts: QpOptions) -> Self {
        QpEncoder {
            opts,
            col: 0,
            held: None,
            held_at_start: false,
            at_start: true,
            after_cr: false,
        }
    }

    /// Encoded unit of `b` (1 or 3 bytes) given what follows it.
    fn unit(&self, b: u8, at_start: bool, before_break: bool) -> ([u8; 3], usize) {
        let literal = match b {
            b' ' | b'\t' => !before_break && !self.opts.quote_spaces,
            b'.' | b'F' if at_start && self.opts.escape_line_start => false,
            b'=' => false,
            33..=126 => true,
            _ => false,
        };
        if literal {
            ([b, 0, 0], 1)
        } else {
            let hi = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
            let lo = HEX.get(usize::from(b & 15)).copied().unwrap_or(b'0');
            ([b'=', hi, lo], 3)
        }
    }

    /// Write the held byte (if any), knowing whether a line break (or the end) follows.
    /// Returns `None` when `out` is too small (nothing written).
    fn flush_held(&mut self, out: &mut [u8], before_break: bool) -> Option<usize> {
        let Some(b) = self.held else { return Some(0) };
        let (unit, len) = self.unit(b, self.held_at_start, before_break);
        let limit = if before_break { MAX_LINE } else { MAX_LINE - 1 };
        let soft = self.col + len > limit;
        let need = len + if soft { 3 } else { 0 };
        let dst = out.get_mut(..need)?;
        let mut o = 0;
        if soft {
            dst.get_mut(..3)?.copy_from_slice(b"=\r\n");
            o = 3;
            self.col = 0;
        }
        dst.get_mut(o..o + len)?
            .copy_from_slice(unit.get(..len).unwrap_or_default());
        self.col += len;
        self.held = None;
        Some(need)
    }

    /// Encode as much of `input` as fits into `out`; returns `(consumed, written)`.
    ///
    /// Progress is guaranteed whenever `input` is non-empty and `out.len() >= 8`.
    pub fn encode(&mut self, input: &[u8], out: &mut [u8]) -> (usize, usize) {
        let mut i = 0;
        let mut o = 0;
        while let Some(&b) = input.get(i) {
            let is_break = self.opts.text && (b == b'\r' || b == b'\n');
            if is_break {
                if b == b'\n' && self.after_cr {
                    // Second half of a CR LF: already written.
                    self.after_cr = false;
                    i += 1;
                    continue;
                }
                // Held byte (before a break) + CR LF, all or nothing.
                let rest = out.get_mut(o..).unwrap_or_default();
                let mut probe = *self;
                let Some(n) = probe.flush_held(rest, true) else {
                    break;
                };
                let Some(dst) = rest.get_mut(n..n + 2) else {
                    break;
                };
                dst.copy_from_slice(b"\r\n");
                *self = probe;
                o += n + 2;
                self.col = 0;
                self.at_start = true;
                self.after_cr = b == b'\r';
                i += 1;
                continue;
            }
            self.after_cr = false;
            let rest = out.get_mut(o..).unwrap_or_default();
            let Some(n) = self.flush_held(rest, false) else {
                break;
            };
            o += n;
            self.held = Some(b);
            self.held_at_start = self.at_start;
            self.at_start = false;
            i += 1;
        }
        (i, o)
    }

    /// Write the held byte as the last of the data and reset the encoder. Returns the bytes
    /// written (at most 6), or [`WireError::BufferTooSmall`] (nothing written).
    pub fn finish(&mut self, out: &mut [u8]) -> Result<usize, WireError> {
        let n = self
            .flush_held(out, true)
            .ok_or(WireError::BufferTooSmall)?;
        *self = QpEncoder::new(self.opts);
        Ok(n)
    }

    /// Whether the output so far ends at the start of a line (nothing written on the current
    /// output line and nothing held).
    pub const fn at_line_start(&self) -> bool {
        self.col == 0 && self.held.is_none()
    }
}

/// Maximum run of whitespace held back while deciding whether it is trailing (and so to be
/// deleted). Longer runs are written out.
const WS_MAX: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DecState {
    Normal,
    /// After `=`.
    Eq,
    /// After `=` and one hex digit.
    EqHex(u8),
    /// After `=` and whitespace (transport padding before a soft break).
    EqWs,
    /// After a soft break's CR: a following LF is part of it.
    SoftCr,
}

/// Streaming lenient quoted-printable decoder for bodies.
///
/// * `=` CR LF and `=` LF (optionally with whitespace between) are soft line breaks;
/// * `=XX` (upper- or lower-case hex) is a byte;
/// * whitespace before a line break, or at the end, is deleted (RFC 2045);
/// * anything malformed (`=` not followed by hex or a line break) is kept literally;
/// * line breaks are passed through as they are (CR LF stays CR LF, a bare LF stays LF).
///
/// Runs of more than 32 spaces and tabs are written out even when they turn out to be
/// trailing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QpDecoder {
    state: DecState,
    /// Held whitespace: bit k of `ws_tabs` set = byte k is a tab.
    ws_len: usize,
    ws_tabs: u32,
}

impl Default for QpDecoder {
    fn default() -> Self {
        QpDecoder::new()
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

impl QpDecoder {
    /// Output room a single step may need: `=`, the held whitespace, a hex digit and a byte.
    pub const MIN_OUT: usize = WS_MAX + 4;

    /// A new decoder.
    pub const fn new() -> Self {
        QpDecoder {
            state: DecState::Normal,
            ws_len: 0,
            ws_tabs: 0,
        }
    }

    fn write_ws(&mut self, out: &mut [u8], o: &mut usize) {
        for k in 0..self.ws_len {
            let b = if self.ws_tabs & (1 << k) != 0 {
                b'\t'
            } else {
                b' '
            };
            if let Some(slot) = out.get_mut(*o) {
                *slot = b;
                *o += 1;
            }
        }
        self.ws_len = 0;
        self.ws_tabs = 0;
    }

    fn hold_ws(&mut self, b: u8, out: &mut [u8], o: &mut usize) {
        if self.ws_len == WS_MAX {
            self.write_ws(out, o);
        }
        if b == b'\t' {
            self.ws_tabs |= 1 << self.ws_len;
        }
        self.ws_len += 1;
    }

    fn put(out: &mut [u8], o: &mut usize, b: u8) {
        if let Some(slot) = out.get_mut(*o) {
            *slot = b;
            *o += 1;
        }
    }

    /// Decode as much of `input` as fits into `out`; returns `(consumed, written)`.
    ///
    /// Each input byte is only consumed when `out` has room for the most it can produce
    /// ([`QpDecoder::MIN_OUT`] bytes), so progress is guaranteed whenever `out` is at least
    /// that large.
    pub fn decode(&mut self, input: &[u8], out: &mut [u8]) -> (usize, usize) {
        let mut i = 0;
        let mut o = 0;
        while let Some(&b) = input.get(i) {
            if out.len() - o < Self::MIN_OUT {
                // Fast path still possible for plain bytes with room for one.
                if !(self.state == DecState::Normal
                    && self.ws_len == 0
                    && o < out.len()
                    && !matches!(b, b'=' | b' ' | b'\t' | b'\r' | b'\n'))
                {
                    break;
                }
            }
            i += 1;
            match self.state {
                DecState::Normal => match b {
                    b' ' | b'\t' => self.hold_ws(b, out, &mut o),
                    b'\r' | b'\n' => {
                        // Trailing whitespace is deleted.
                        self.ws_len = 0;
                        self.ws_tabs = 0;
                        Self::put(out, &mut o, b);
                    }
                    b'=' => {
                        self.write_ws(out, &mut o);
                        self.state = DecState::Eq;
                    }
                    _ => {
                        self.write_ws(out, &mut o);
                        // Copy a run of plain bytes at once.
                        let run = input
                            .get(i - 1..)
                            .unwrap_or_default()
                            .iter()
                            .take(out.len() - o)
                            .take_while(|&&c| !matches!(c, b'=' | b' ' | b'\t' | b'\r' | b'\n'))
                            .count();
                        if let (Some(src), Some(dst)) =
                            (input.get(i - 1..i - 1 + run), out.get_mut(o..o + run))
                        {
                            dst.copy_from_slice(src);
                        }
                        o += run;
                        i += run.saturating_sub(1);
                    }
                },
                DecState::Eq => match b {
                    b'\r' => self.state = DecState::SoftCr,
                    b'\n' => self.state = DecState::Normal,
                    b' ' | b'\t' => {
                        self.hold_ws(b, out, &mut o);
                        self.state = DecState::EqWs;
                    }
                    _ => match hex_val(b) {
                        Some(_) => self.state = DecState::EqHex(b),
                        None => {
                            // Malformed: keep the `=` and reread the byte.
                            Self::put(out, &mut o, b'=');
                            self.state = DecState::Normal;
                            i -= 1;
                        }
                    },
                },
                DecState::EqHex(h) => {
                    self.state = DecState::Normal;
                    match (hex_val(h), hex_val(b)) {
                        (Some(hi), Some(lo)) => Self::put(out, &mut o, (hi << 4) | lo),
                        _ => {
                            Self::put(out, &mut o, b'=');
                            Self::put(out, &mut o, h);
                            i -= 1;
                        }
                    }
                }
                DecState::EqWs => match b {
                    b' ' | b'\t' => self.hold_ws(b, out, &mut o),
                    b'\r' => {
                        self.ws_len = 0;
                        self.ws_tabs = 0;
                        self.state = DecState::SoftCr;
                    }
                    b'\n' => {
                        self.ws_len = 0;
                        self.ws_tabs = 0;
                        self.state = DecState::Normal;
                    }
                    _ => {
                        Self::put(out, &mut o, b'=');
                        self.write_ws(out, &mut o);
                        self.state = DecState::Normal;
                        i -= 1;
                    }
                },
                DecState::SoftCr => {
                    self.state = DecState::Normal;
                    if b != b'\n' {
                        i -= 1;
                    }
                }
            }
        }
        (i, o)
    }

    /// End of the encoded data: trailing whitespace and a dangling soft break are dropped, a
    /// dangling `=X` is kept literally. Resets the decoder. Returns the bytes written (at most
    /// 2), or [`WireError::BufferTooSmall`].
    pub fn finish(&mut self, out: &mut [u8]) -> Result<usize, WireError> {
        let n = match self.state {
            DecState::EqHex(h) => {
                let dst = out.get_mut(..2).ok_or(WireError::BufferTooSmall)?;
                dst.copy_from_slice(&[b'=', h]);
                2
            }
            _ => 0,
        };
        *self = QpDecoder::new();
        Ok(n)
    }
}

/// Decode RFC 2047 "Q" encoded text (`_` is a space, `=XX` a byte), up to an optional `?=`
/// terminator. Strict: a `=` not followed by two hex digits is an error.
///
/// ```
/// use postwire_mime::qp::decode_q;
/// let mut out = [0u8; 32];
/// let n = decode_q(b"Keith_Moore?=", &mut out).unwrap();
/// assert_eq!(&out[..n], b"Keith Moore");
/// assert!(decode_q(b"=AX?=", &mut out).is_err());
/// ```
pub fn decode_q(input: &[u8], out: &mut [u8]) -> Result<usize, WireError> {
    let text = match input.windows(2).rposition(|w| w == b"?=") {
        Some(p) if p + 2 == input.len() => input.get(..p).unwrap_or_default(),
        _ => input,
    };
    let mut o = 0;
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        let byte = match b {
            b'_' => b' ',
            b'=' => {
                let hi = text.get(i + 1).copied().and_then(hex_val);
                let lo = text.get(i + 2).copied().and_then(hex_val);
                match (hi, lo) {
                    (Some(h), Some(l)) => {
                        i += 2;
                        (h << 4) | l
                    }
                    _ => return Err(WireError::Malformed { offset: i }),
                }
            }
            b'\r' | b'\n' => return Err(WireError::Malformed { offset: i }),
            _ => b,
        };
        *out.get_mut(o).ok_or(WireError::BufferTooSmall)? = byte;
        o += 1;
        i += 1;
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    pub(crate) fn encode_all(
        opts: QpOptions,
        input: &[u8],
        chunk: usize,
        out_size: usize,
    ) -> Vec<u8> {
        let mut enc = QpEncoder::new(opts);
        let mut buf = std::vec![0u8; out_size];
        let mut result = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            let mut rest = piece;
            while !rest.is_empty() {
                let (c, n) = enc.encode(rest, &mut buf);
                assert!(c > 0 || n > 0, "no progress");
                result.extend_from_slice(&buf[..n]);
                rest = &rest[c..];
            }
        }
        let n = enc.finish(&mut buf).unwrap();
        result.extend_from_slice(&buf[..n]);
        result
    }

    pub(crate) fn decode_all(input: &[u8], chunk: usize, out_size: usize) -> Vec<u8> {
        let mut dec = QpDecoder::new();
        let mut buf = std::vec![0u8; out_size];
        let mut result = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            let mut rest = piece;
            while !rest.is_empty() {
                let (c, n) = dec.decode(rest, &mut buf);
                assert!(c > 0 || n > 0, "no progress");
                result.extend_from_slice(&buf[..n]);
                rest = &rest[c..];
            }
        }
        let n = dec.finish(&mut buf).unwrap();
        result.extend_from_slice(&buf[..n]);
        result
    }

    fn normalize(text: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < text.len() {
            match text[i] {
                b'\r' => {
                    out.extend_from_slice(b"\r\n");
                    if text.get(i + 1) == Some(&b'\n') {
                        i += 1;
                    }
                }
                b'\n' => out.extend_from_slice(b"\r\n"),
                b => out.push(b),
            }
            i += 1;
        }
        out
    }

    #[test]
    fn encoder_basics() {
        assert_eq!(
            encode_all(QpOptions::PLAIN, b"hello ", 100, 64),
            b"hello=20"
        );
        assert_eq!(encode_all(QpOptions::PLAIN, b"a \nb", 1, 8), b"a=20\r\nb");
        assert_eq!(encode_all(QpOptions::BINARY, b"a\r\n", 100, 64), b"a=0D=0A");
        assert_eq!(
            encode_all(QpOptions::TEXT, b"x\n.\nFrom", 3, 8),
            b"x\r\n=2E\r\n=46rom"
        );
        let long = [b'z'; 200];
        let enc = encode_all(QpOptions::PLAIN, &long, 7, 9);
        for line in enc.split(|&b| b == b'\n') {
            assert!(line.len() <= 77, "{}", line.len());
        }
        assert_eq!(decode_all(&enc, 5, 40), long);
    }

    #[test]
    fn decoder_basics() {
        let input = b"hello  \r\nbar=\r\n\r\nfoo\t=\r\nbar\r\nfoo\t \t= \r\n=62\r\nfoo = \t\r\nbar\r\nfoo =\r\n=62\r\nfoo  \r\nbar=\r\n\r\nfoo_bar\r\n";
        let want = b"hello\r\nbar\r\nfoo\tbar\r\nfoo\t \tb\r\nfoo bar\r\nfoo b\r\nfoo\r\nbar\r\nfoo_bar\r\n";
        for chunk in [1, 2, 3, 7, 100] {
            assert_eq!(decode_all(input, chunk, 40), want);
        }
        assert_eq!(decode_all(b"a=ZZb=4", 100, 40), b"a=ZZb=4");
        assert_eq!(decode_all(b"a=\nb=c3=A9", 1, 40), "ab\u{e9}".as_bytes());
    }

    #[test]
    fn q_words() {
        let mut out = [0u8; 32];
        assert_eq!(
            decode_q(b"????????=", &mut out).map(|n| out[..n].to_vec()),
            Ok(b"???????".to_vec())
        );
        assert!(decode_q(b"=\n=\n==?=", &mut out).is_err());
        assert!(decode_q(b"=\r=1z?=", &mut out).is_err());
        assert_eq!(decode_q(b"", &mut out), Ok(0));
        assert_eq!(
            decode_q(b"abc", &mut [0u8; 2]),
            Err(WireError::BufferTooSmall)
        );
    }

    proptest! {
        #[test]
        fn text_round_trip(text in "(?s)[a-zA-Z .=\t\r\nFé€😀-]{0,300}", chunk in 1usize..50, out in 8usize..40) {
            let enc = encode_all(QpOptions::TEXT, text.as_bytes(), chunk, out);
            for line in enc.split(|&b| b == b'\n') {
                prop_assert!(line.len() <= 77);
                prop_assert!(line.iter().all(|&b| b == b'\r' || (32..127).contains(&b) || b == b'\t'));
            }
            prop_assert_eq!(decode_all(&enc, chunk, 40), normalize(text.as_bytes()));
        }

        #[test]
        fn binary_round_trip(data in proptest::collection::vec(any::<u8>(), 0..400), chunk in 1usize..50) {
            let enc = encode_all(QpOptions::BINARY, &data, chunk, 8);
            prop_assert_eq!(decode_all(&enc, chunk, 36), data);
        }

        #[test]
        fn decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200), chunk in 1usize..20) {
            let _ = decode_all(&data, chunk, 36);
        }
    }
}
