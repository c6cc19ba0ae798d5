//! Content-Type and Content-Disposition values: the media type (or disposition) and the
//! parameters, with RFC 2231 extended values (`name*=charset'lang'%XX`) and continuations
//! (`name*0`, `name*1*`, ... in any order).
//!
//! ```
//! use postwire_mime::params::split_value;
//! let (head, params) = split_value(b"attachment; filename*0*=utf-8''%e2%80%a1; filename*1*=%e2%80%A1.bin");
//! assert_eq!(head, b"attachment");
//! let mut out = [0u8; 32];
//! let v = params.get(b"filename", &mut out).unwrap().unwrap();
//! assert_eq!(&out[..v.len], "‡‡.bin".as_bytes());
//! ```

use crate::charset::Charset;
use crate::error::MimeError;

/// Most continuation sections assembled for one parameter.
const MAX_SECTIONS: u32 = 64;

/// The parameters after a header value's first `;`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params<'a> {
    rest: &'a [u8],
}

/// One parameter as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawParam<'a> {
    /// The name as written (e.g. `filename*1*`).
    pub name: &'a [u8],
    /// The value as written: for a quoted string, its inside (escapes not yet removed).
    pub value: &'a [u8],
    /// Whether the value was a quoted string.
    pub quoted: bool,
}

impl RawParam<'_> {
    /// Copy the value into `out`, removing quoted-pair escapes. Returns the length.
    pub fn unquote_into(&self, out: &mut [u8]) -> Result<usize, MimeError> {
        let mut o = 0;
        let mut esc = false;
        for &b in self.value {
            if self.quoted && !esc && b == b'\\' {
                esc = true;
                continue;
            }
            esc = false;
            *out.get_mut(o).ok_or(MimeError::BufferTooSmall)? = b;
            o += 1;
        }
        Ok(o)
    }

    /// Whether this is an RFC 2231 extended (percent-encoded) parameter: its name ends in `*`
    /// (`filename*`, `filename*1*`).
    pub fn is_extended(&self) -> bool {
        self.name.ends_with(b"*")
    }

    /// Percent-decode the value of an extended parameter into `out` as bytes, without charset
    /// conversion (a malformed `%` is kept; a `charset'language'` prefix is not removed, as it
    /// only belongs to section 0). Returns the length.
    ///
    /// This is for what [`Params::get`] does not report: a section after a gap in the
    /// continuation numbers, or a value in a charset that cannot be converted.
    ///
    /// ```
    /// use postwire_mime::params::split_value;
    /// let (_, params) = split_value(b"attachment; filename*2*=%20.bin");
    /// let p = params.iter().next().unwrap();
    /// assert!(p.is_extended());
    /// let mut out = [0u8; 16];
    /// let n = p.percent_decode_into(&mut out).unwrap();
    /// assert_eq!(&out[..n], b" .bin");
    /// ```
    pub fn percent_decode_into(&self, out: &mut [u8]) -> Result<usize, MimeError> {
        let mut w = Writer {
            out,
            o: 0,
            cs: Charset::Utf8,
            all_ascii: true,
        };
        w.extended(self.value)?;
        Ok(w.o)
    }
}

/// A decoded parameter value (see [`Params::get`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamValue {
    /// Bytes written to the caller's buffer.
    pub len: usize,
    /// The charset of an RFC 2231 value; `Charset::Other` (a charset that is not converted)
    /// only for a value whose bytes are all ASCII in an ASCII-compatible charset. `None` for a
    /// plain value.
    pub charset: Option<Charset>,
}

/// Split a Content-Type or Content-Disposition value into the head (`text/plain`,
/// `attachment`; trimmed) and its parameters.
pub fn split_value(value: &[u8]) -> (&[u8], Params<'_>) {
    // The head ends at the first `;` (heads never contain quotes).
    let end = value.iter().position(|&b| b == b';').unwrap_or(value.len());
    let head = strip_comments_end(value.get(..end).unwrap_or_default().trim_ascii());
    let rest = value.get(end..).unwrap_or_default();
    (head, Params { rest })
}

/// `text/plain (comment)` → `text/plain`.
fn strip_comments_end(s: &[u8]) -> &[u8] {
    match s.iter().position(|&b| b == b'(') {
        Some(p) => s.get(..p).unwrap_or_default().trim_ascii(),
        None => s,
    }
}

/// A media type split into type and subtype (trimmed; lower-casing is the caller's).
pub fn split_media_type(head: &[u8]) -> (&[u8], &[u8]) {
    match head.iter().position(|&b| b == b'/') {
        Some(p) => (
            head.get(..p).unwrap_or_default().trim_ascii(),
            head.get(p + 1..).unwrap_or_default().trim_ascii(),
        ),
        None => (head.trim_ascii(), b""),
    }
}

/// Iterator over [`RawParam`]s.
#[derive(Debug, Clone)]
pub struct ParamIter<'a> {
    rest: &'a [u8],
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = RawParam<'a>;

    fn next(&mut self) -> Option<RawParam<'a>> {
        loop {
            // Skip separators and whitespace.
            let skip = self
                .rest
                .iter()
                .take_while(|&&b| b == b';' || is_ws(b))
                .count();
            self.rest = self.rest.get(skip..)?;
            if self.rest.is_empty() {
                return None;
            }
            let eq = self.rest.iter().position(|&b| b == b'=' || b == b';');
            match eq.and_then(|p| self.rest.get(p).map(|&b| (p, b))) {
                Some((p, b'=')) => {
                    let name = self.rest.get(..p).unwrap_or_default().trim_ascii();
                    let after = self.rest.get(p + 1..).unwrap_or_default();
                    let lead = after.iter().take_while(|&&b| is_ws(b)).count();
                    let after = after.get(lead..).unwrap_or_default();
                    if after.first() == Some(&b'"') {
                        // Quoted string up to the closing quote (escapes skipped).
                        let inner = after.get(1..).unwrap_or_default();
                        let mut esc = false;
                        let mut end = inner.len();
                        for (k, &c) in inner.iter().enumerate() {
                            if esc {
                                esc = false;
                            } else if c == b'\\' {
                                esc = true;
                            } else if c == b'"' {
                                end = k;
                                break;
                            }
                        }
                        let value = inner.get(..end).unwrap_or_default();
                        self.rest = inner.get(end + 1..).unwrap_or_default();
                        // Drop anything up to the next `;`.
                        let junk = self.rest.iter().take_while(|&&b| b != b';').count();
                        self.rest = self.rest.get(junk..).unwrap_or_default();
                        if name.is_empty() {
                            continue;
                        }
                        return Some(RawParam {
                            name,
                            value,
                            quoted: true,
                        });
                    }
                    let end = after.iter().position(|&b| b == b';').unwrap_or(after.len());
                    let value =
                        strip_comments_end(after.get(..end).unwrap_or_default().trim_ascii());
                    self.rest = after.get(end..).unwrap_or_default();
                    if name.is_empty() {
                        continue;
                    }
                    return Some(RawParam {
                        name,
                        value,
                        quoted: false,
                    });
                }
                Some((p, _)) => {
                    // `;` before any `=`: a malformed parameter, skipped.
                    self.rest = self.rest.get(p..).unwrap_or_default();
                }
                None => {
                    self.rest = &[];
                    return None;
                }
            }
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|v| v as u8)
}

struct Writer<'o> {
    out: &'o mut [u8],
    o: usize,
    cs: Charset,
    /// No byte above 0x7F was written.
    all_ascii: bool,
}

impl Writer<'_> {
    fn byte(&mut self, b: u8) -> Result<(), MimeError> {
        self.all_ascii &= b < 0x80;
        let c = if b >= 0x80 {
            self.cs.decode_byte(b)
        } else {
            None
        };
        match c {
            Some(c) => {
                let mut tmp = [0u8; 4];
                let s = c.encode_utf8(&mut tmp).as_bytes();
                let d = self
                    .out
                    .get_mut(self.o..self.o + s.len())
                    .ok_or(MimeError::BufferTooSmall)?;
                d.copy_from_slice(s);
                self.o += s.len();
            }
            None => {
                *self.out.get_mut(self.o).ok_or(MimeError::BufferTooSmall)? = b;
                self.o += 1;
            }
        }
        Ok(())
    }

    /// Percent-decode an extended value (a malformed `%` is kept).
    fn extended(&mut self, v: &[u8]) -> Result<(), MimeError> {
        let mut i = 0;
        while let Some(&b) = v.get(i) {
            if b == b'%'
                && let (Some(h), Some(l)) = (
                    v.get(i + 1).copied().and_then(hex),
                    v.get(i + 2).copied().and_then(hex),
                )
            {
                self.byte((h << 4) | l)?;
                i += 3;
                continue;
            }
            self.byte(b)?;
            i += 1;
        }
        Ok(())
    }

    fn plain(&mut self, p: &RawParam<'_>) -> Result<(), MimeError> {
        let mut esc = false;
        for &b in p.value {
            if p.quoted && !esc && b == b'\\' {
                esc = true;
                continue;
            }
            esc = false;
            self.byte(b)?;
        }
        Ok(())
    }
}

/// `charset'language'rest` → (charset, rest); `None` when the quotes are missing.
fn split_ext(v: &[u8]) -> Option<(&[u8], &[u8])> {
    let q1 = v.iter().position(|&b| b == b'\'')?;
    let after = v.get(q1 + 1..)?;
    let q2 = after.iter().position(|&b| b == b'\'')?;
    Some((v.get(..q1)?, after.get(q2 + 1..)?))
}

/// `name*3*` → (`name`, Some(3), extended = true).
fn parse_name(n: &[u8]) -> (&[u8], Option<u32>, bool) {
    let (n, ext) = match n.strip_suffix(b"*") {
        Some(s) => (s, true),
        None => (n, false),
    };
    if let Some(star) = n.iter().rposition(|&b| b == b'*') {
        let digits = n.get(star + 1..).unwrap_or_default();
        if !digits.is_empty()
            && digits.len() <= 3
            && digits.iter().all(u8::is_ascii_digit)
            && !(digits.len() > 1 && digits.first() == Some(&b'0'))
        {
            let k = digits
                .iter()
                .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'));
            return (n.get(..star).unwrap_or_default(), Some(k), ext);
        }
    }
    (n, None, ext)
}

impl<'a> Params<'a> {
    /// The parameters as written.
    pub fn iter(&self) -> ParamIter<'a> {
        ParamIter { rest: self.rest }
    }

    /// The value of parameter `name` (case-insensitive), decoded into `out`.
    ///
    /// A plain `name=value` wins when present (senders add it as the fallback of an
    /// RFC 2231 value); otherwise `name*=charset'lang'value` or the continuations
    /// `name*0[*]`, `name*1[*]`, ... (in any order, up to the first missing index, at most 64)
    /// are assembled; sections after a gap in the numbering are not part of the value (RFC 2231
    /// §3), they stay visible in [`Params::iter`]. Extended sections are percent-decoded and
    /// the charset of section 0 converts the bytes to UTF-8 (see [`crate::charset`]).
    ///
    /// An extended value in a charset that is not supported cannot be decoded: as for RFC 2047
    /// words, it is only reported when it is plain ASCII in an ASCII-compatible charset
    /// ([`ParamValue::charset`] is then `Some(Charset::Other)`). Otherwise `get` returns
    /// `None` and the parameter is left as written, in [`Params::iter`] (see
    /// [`RawParam::percent_decode_into`] for its bytes).
    ///
    /// Returns `None` when the parameter is absent (or not decodable, as above),
    /// `Some(Err(BufferTooSmall))` when `out` is too small.
    pub fn get(&self, name: &[u8], out: &mut [u8]) -> Option<Result<ParamValue, MimeError>> {
        // 1. plain
        if let Some(p) = self.iter().find(|p| p.name.eq_ignore_ascii_case(name)) {
            let mut w = Writer {
                out,
                o: 0,
                cs: Charset::Utf8,
                all_ascii: true,
            };
            return Some(w.plain(&p).map(|()| ParamValue {
                len: w.o,
                charset: None,
            }));
        }
        // 2. extended, single
        let single = self.iter().find(|p| {
            let (n, idx, ext) = parse_name(p.name);
            ext && idx.is_none() && n.eq_ignore_ascii_case(name)
        });
        if let Some(p) = single {
            let (cs_label, rest) = split_ext(p.value).unwrap_or((b"", p.value));
            let cs = Charset::from_label(cs_label);
            let cs = if cs_label.is_empty() {
                Charset::Utf8
            } else {
                cs
            };
            let mut w = Writer {
                out,
                o: 0,
                cs,
                all_ascii: true,
            };
            if let Err(e) = w.extended(rest) {
                return Some(Err(e));
            }
            if !decodable(cs, cs_label, w.all_ascii) {
                return None;
            }
            return Some(Ok(ParamValue {
                len: w.o,
                charset: Some(cs),
            }));
        }
        // 3. continuations
        let section = |k: u32| {
            self.iter().find_map(|p| {
                let (n, idx, ext) = parse_name(p.name);
                (idx == Some(k) && n.eq_ignore_ascii_case(name)).then_some((p, ext))
            })
        };
        let (first, first_ext) = section(0)?;
        let mut cs = None;
        let mut cs_label: &'a [u8] = b"";
        let mut w = Writer {
            out,
            o: 0,
            cs: Charset::Utf8,
            all_ascii: true,
        };
        let mut run = |w: &mut Writer<'_>, p: RawParam<'a>, ext: bool, k: u32| {
            if ext {
                // The charset belongs to section 0; some senders put it on a later one.
                let v = if k == 0 || cs.is_none() {
                    match split_ext(p.value) {
                        Some((label, rest)) => {
                            let c = if label.is_empty() {
                                Charset::Utf8
                            } else {
                                Charset::from_label(label)
                            };
                            w.cs = c;
                            cs = Some(c);
                            cs_label = label;
                            rest
                        }
                        None => p.value,
                    }
                } else {
                    p.value
                };
                w.extended(v)
            } else {
                w.plain(&p)
            }
        };
        if let Err(e) = run(&mut w, first, first_ext, 0) {
            return Some(Err(e));
        }
        for k in 1..MAX_SECTIONS {
            let Some((p, ext)) = section(k) else { break };
            if let Err(e) = run(&mut w, p, ext, k) {
                return Some(Err(e));
            }
        }
        if let Some(c) = cs
            && !decodable(c, cs_label, w.all_ascii)
        {
            return None;
        }
        Some(Ok(ParamValue {
            len: w.o,
            charset: cs,
        }))
    }
}

/// Whether an extended value in charset `cs` (label `label`) can be reported: a supported
/// charset, or plain ASCII in an ASCII-compatible one.
fn decodable(cs: Charset, label: &[u8], all_ascii: bool) -> bool {
    cs != Charset::Other || (all_ascii && Charset::is_ascii_compatible_label(label))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    fn get(v: &str, name: &str) -> Option<String> {
        let (_, p) = split_value(v.as_bytes());
        let mut out = [0u8; 256];
        p.get(name.as_bytes(), &mut out)
            .map(|r| String::from_utf8(out[..r.unwrap().len].to_vec()).unwrap())
    }

    #[test]
    fn params() {
        assert_eq!(
            get("text/plain; charset=\"us-ascii\"", "CHARSET").as_deref(),
            Some("us-ascii")
        );
        assert_eq!(
            get(
                "multipart/mixed;\r\n boundary=\"a\\\"b;c\" ; x=1",
                "boundary"
            )
            .as_deref(),
            Some("a\"b;c")
        );
        assert_eq!(get("multipart/mixed; x=1", "boundary"), None);
        assert_eq!(
            get(
                "attachment; filename*1*=%20.bin; filename*0*=utf-8'en'%e2%80%a1",
                "filename"
            )
            .as_deref(),
            Some("‡ .bin")
        );
        assert_eq!(
            get("attachment; filename*=iso-8859-1''%E9t%E9", "filename").as_deref(),
            Some("été")
        );
        assert_eq!(
            get("a; broken; name=x (comment)", "name").as_deref(),
            Some("x")
        );
        let (head, _) = split_value(b" Text/HTML (c) ; charset=x");
        assert_eq!(split_media_type(head), (&b"Text"[..], &b"HTML"[..]));
        // Unsupported charset: not decoded, left as written (unless plain ASCII in an
        // ASCII-compatible charset).
        assert_eq!(
            get("a; filename*=x-unknown''%e2%80%a1.bin", "filename"),
            None
        );
        assert_eq!(
            get("a; filename*0*=x-unknown''%e2; filename*1*=%80", "filename"),
            None
        );
        assert_eq!(
            get("a; filename*=iso-8859-2''a%20b.bin", "filename").as_deref(),
            Some("a b.bin")
        );
        assert_eq!(
            get("a; filename*=iso-8859-6''%C7", "filename").as_deref(),
            Some("\u{0627}")
        );
        // A section after a gap is not part of the value.
        assert_eq!(
            get(
                "a; filename*0*=utf-8''%e2%80%a1; filename*2*=%20.bin",
                "filename"
            )
            .as_deref(),
            Some("‡")
        );
        let mut small = [0u8; 2];
        let (_, p) = split_value(b"x; a=hello");
        assert_eq!(
            p.get(b"a", &mut small),
            Some(Err(MimeError::BufferTooSmall))
        );
    }
}
