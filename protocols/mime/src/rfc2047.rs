//! Decoding header values: unfolding and RFC 2047 encoded words, into a caller buffer.
//!
//! ```
//! use postwire_mime::rfc2047::decode_header_value;
//! let mut out = [0u8; 64];
//! let d = decode_header_value(b"=?iso-8859-1?Q?=A1Hola,_se=F1or!?=\r\n =?utf-8?B?4pyT?=", &mut out).unwrap();
//! assert_eq!(&out[..d.len], "¡Hola, señor!✓".as_bytes());
//! assert!(!d.unconverted);
//! ```
//!
//! Rules (RFC 2047 with the usual leniency):
//! * folds (CR LF or LF before whitespace) are removed, the whitespace stays;
//! * `=?charset?B|Q?text?=` is decoded when it is not glued to a letter or digit on either
//!   side (so `"=?..?="` and `=?..?=<addr>` are decoded, `hello=?..?=` is not); the text may
//!   not contain whitespace;
//! * whitespace between two encoded words is dropped;
//! * UTF-8, US-ASCII, ISO-8859-1, ISO-8859-15, Windows-1252 and ISO-8859-6 are converted to
//!   UTF-8 (see [`crate::charset`]); a word in another charset is kept as written (and
//!   [`Decoded::unconverted`] is set), unless the charset is ASCII-compatible and the decoded
//!   bytes are plain ASCII;
//! * a word whose B or Q text is malformed is kept as written.

use crate::charset::Charset;
use crate::error::MimeError;
use postwire_core::base64::Base64Decoder;

/// The result of [`decode_header_value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes written.
    pub len: usize,
    /// At least one encoded word was left as written because its charset is not supported.
    pub unconverted: bool,
}

struct Out<'o> {
    buf: &'o mut [u8],
    o: usize,
}

impl Out<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), MimeError> {
        let d = self
            .buf
            .get_mut(self.o..self.o + bytes.len())
            .ok_or(MimeError::BufferTooSmall)?;
        d.copy_from_slice(bytes);
        self.o += bytes.len();
        Ok(())
    }

    fn put_byte(&mut self, cs: Charset, b: u8) -> Result<(), MimeError> {
        match cs.decode_byte(b) {
            Some(c) if b >= 0x80 => {
                let mut tmp = [0u8; 4];
                self.put(c.encode_utf8(&mut tmp).as_bytes())
            }
            _ => self.put(&[b]),
        }
    }
}

/// A parsed `=?charset?E?text?=`: (end index after `?=`, charset, encoding letter, text).
fn parse_word(raw: &[u8], start: usize, spaces: bool) -> Option<(usize, &[u8], u8, &[u8])> {
    let body = raw.get(start + 2..)?;
    let q1 = body.iter().position(|&b| b == b'?')?;
    let charset = body.get(..q1)?;
    let enc = *body.get(q1 + 1)?;
    if *body.get(q1 + 2)? != b'?' || charset.is_empty() {
        return None;
    }
    if !matches!(enc, b'B' | b'b' | b'Q' | b'q') {
        return None;
    }
    let text_start = q1 + 3;
    let rest = body.get(text_start..)?;
    let end = rest.windows(2).position(|w| w == b"?=")?;
    let text = rest.get(..end)?;
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    if charset.iter().any(ws) || (!spaces && text.iter().any(ws)) {
        return None;
    }
    Some((start + 2 + text_start + end + 2, charset, enc, text))
}

/// Decode one word's text into `out` (converted), or `Ok(None)` when it must stay verbatim.
fn decode_word(
    charset: &[u8],
    enc: u8,
    text: &[u8],
    out: &mut Out<'_>,
) -> Result<Option<()>, MimeError> {
    let cs = Charset::from_label(charset);
    let start = out.o;
    let mut all_ascii = true;
    let mut emit = |out: &mut Out<'_>, b: u8| -> Result<(), MimeError> {
        all_ascii &= b < 0x80;
        out.put_byte(cs, b)
    };
    if enc == b'B' || enc == b'b' {
        let mut dec = Base64Decoder::new();
        let mut rest = text;
        let mut tmp = [0u8; 48];
        while !rest.is_empty() {
            let Ok((c, n)) = dec.decode(rest, &mut tmp) else {
                out.o = start;
                return Ok(None);
            };
            for &b in tmp.get(..n).unwrap_or_default() {
                emit(out, b)?;
            }
            rest = rest.get(c..).unwrap_or_default();
            if c == 0 && n == 0 {
                break;
            }
        }
        match dec.finish(&mut tmp) {
            Ok(n) => {
                for &b in tmp.get(..n).unwrap_or_default() {
                    emit(out, b)?;
                }
            }
            Err(_) => {
                out.o = start;
                return Ok(None);
            }
        }
    } else {
        let mut i = 0;
        while let Some(&b) = text.get(i) {
            let byte = match b {
                b'_' => b' ',
                b'=' => {
                    let hex = |k: usize| text.get(k).and_then(|&h| (h as char).to_digit(16));
                    match (hex(i + 1), hex(i + 2)) {
                        (Some(h), Some(l)) => {
                            i += 2;
                            (h * 16 + l) as u8
                        }
                        _ => {
                            out.o = start;
                            return Ok(None);
                        }
                    }
                }
                _ => b,
            };
            emit(out, byte)?;
            i += 1;
        }
    }
    if cs == Charset::Other && !(all_ascii && Charset::is_ascii_compatible_label(charset)) {
        out.o = start;
        return Ok(None);
    }
    Ok(Some(()))
}

/// Decode one encoded word given on its own (`=?charset?B|Q?text?=`), leniently: the text
/// may contain spaces. Input that is not a decodable word is copied as it is
/// ([`Decoded::unconverted`] set for an unsupported charset).
///
/// ```
/// use postwire_mime::rfc2047::decode_encoded_word;
/// let mut out = [0u8; 32];
/// let d = decode_encoded_word(b"=?iso-8859-1?q?this is some text?=", &mut out).unwrap();
/// assert_eq!(&out[..d.len], b"this is some text");
/// ```
pub fn decode_encoded_word(word: &[u8], out: &mut [u8]) -> Result<Decoded, MimeError> {
    let word = word.trim_ascii();
    let mut o = Out { buf: out, o: 0 };
    if let Some((end, charset, enc, text)) = parse_word(word, 0, true)
        && end == word.len()
        && word.starts_with(b"=?")
    {
        if decode_word(charset, enc, text, &mut o)?.is_some() {
            return Ok(Decoded {
                len: o.o,
                unconverted: false,
            });
        }
        o.o = 0;
        o.put(word)?;
        return Ok(Decoded {
            len: o.o,
            unconverted: Charset::from_label(charset) == Charset::Other,
        });
    }
    o.put(word)?;
    Ok(Decoded {
        len: o.o,
        unconverted: false,
    })
}

/// Unfold `raw` (a header value as received) and decode its encoded words into `out`.
///
/// Errors: [`MimeError::BufferTooSmall`] when `out` cannot hold the result (`raw.len() * 3`
/// always suffices).
pub fn decode_header_value(raw: &[u8], out: &mut [u8]) -> Result<Decoded, MimeError> {
    let raw = raw.trim_ascii_start();
    let mut out = Out { buf: out, o: 0 };
    let mut unconverted = false;
    let mut last_was_word = false;
    let mut ws_start: Option<usize> = None;
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        if b == b'=' && raw.get(i + 1) == Some(&b'?') {
            let glued_before = i > 0 && raw.get(i - 1).is_some_and(u8::is_ascii_alphanumeric);
            if !glued_before && let Some((end, charset, enc, text)) = parse_word(raw, i, false) {
                let glued_after = raw.get(end).is_some_and(u8::is_ascii_alphanumeric);
                if !glued_after {
                    let save = out.o;
                    if last_was_word && let Some(ws) = ws_start {
                        out.o = ws;
                    }
                    if decode_word(charset, enc, text, &mut out)?.is_some() {
                        last_was_word = true;
                        ws_start = None;
                        i = end;
                        continue;
                    }
                    out.o = save;
                    unconverted |= Charset::from_label(charset) == Charset::Other;
                    out.put(raw.get(i..end).unwrap_or_default())?;
                    last_was_word = false;
                    ws_start = None;
                    i = end;
                    continue;
                }
            }
        }
        match b {
            b'\r' | b'\n' => {}
            b' ' | b'\t' => {
                if ws_start.is_none() {
                    ws_start = Some(out.o);
                }
                out.put(&[b])?;
            }
            _ => {
                last_was_word = false;
                ws_start = None;
                out.put(&[b])?;
            }
        }
        i += 1;
    }
    // Trailing whitespace (after unfolding) is not part of the value.
    let mut len = out.o;
    while len > 0 && matches!(out.buf.get(len - 1), Some(b' ' | b'\t')) {
        len -= 1;
    }
    Ok(Decoded { len, unconverted })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    fn dec(raw: &str) -> (String, bool) {
        let mut out = [0u8; 512];
        let d = decode_header_value(raw.as_bytes(), &mut out).unwrap();
        (
            String::from_utf8(out[..d.len].to_vec()).unwrap(),
            d.unconverted,
        )
    }

    #[test]
    fn words() {
        assert_eq!(dec("=?US-ASCII?Q?Keith_Moore?=").0, "Keith Moore");
        assert_eq!(dec("=?iso-8859-1?Q?=805.4bn?=").0, "€5.4bn");
        assert_eq!(dec("a =?utf-8?q?b?=  =?utf-8?q?c?= d").0, "a bc d");
        assert_eq!(dec("hello=?utf-8?Q?world?=").0, "hello=?utf-8?Q?world?=");
        assert_eq!(dec("=?garbage?Q??=").0, "=?garbage?Q??=");
        assert!(dec("=?iso-2022-jp?B?GyRCRnwbKEI=?=").1);
        assert_eq!(dec("=?ISO-8859-2?B?dSB1bmRlcnN0YW5k?=").0, "u understand");
        assert_eq!(dec("=?utf-8?B?!!?=").0, "=?utf-8?B?!!?=");
        let mut small = [0u8; 3];
        assert_eq!(
            decode_header_value(b"abcdef", &mut small),
            Err(MimeError::BufferTooSmall)
        );
    }
}
