//! The lexical layer: a cursor over one framed response, IMAP strings, and character classes.

use core::fmt;

use super::Error;

/// Character class bits, one table lookup per byte.
const C_ATOM: u8 = 1;
/// ASTRING-CHAR: ATOM-CHAR or `]`.
const C_ASTRING: u8 = 2;
/// Characters accepted in a flag or keyword (ATOM-CHAR plus `]`, a Gmail quirk).
const C_FLAG: u8 = 4;
/// Characters of a tag: ASTRING-CHAR except `+`.
const C_TAG: u8 = 8;
/// TEXT-CHAR: any byte except CR, LF and NUL (8-bit bytes are accepted: UTF-8 servers).
const C_TEXT: u8 = 16;
/// Bytes that end the plain run of a quoted string: `"`, `\`, CR, LF, NUL.
const C_QSTOP: u8 = 32;
/// Characters of a FETCH item name before its section: ATOM-CHAR except `[`.
const C_NAME: u8 = 64;
/// Bytes that end a plain run inside a FETCH section: `]`, `"`, CR, LF, NUL.
const C_SSTOP: u8 = 128;

#[allow(
    clippy::indexing_slicing,
    reason = "evaluated at compile time, i < 256"
)]
const fn build_classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        let atom = b > 0x20
            && b < 0x7f
            && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']');
        if atom {
            c |= C_ATOM | C_ASTRING | C_FLAG;
        }
        if b == b']' {
            c |= C_ASTRING | C_FLAG;
        }
        if (atom || b == b']') && b != b'+' {
            c |= C_TAG;
        }
        if !matches!(b, b'\r' | b'\n' | 0) {
            c |= C_TEXT;
        }
        if matches!(b, b'"' | b'\\' | b'\r' | b'\n' | 0) {
            c |= C_QSTOP;
        }
        if atom && b != b'[' {
            c |= C_NAME;
        }
        if matches!(b, b']' | b'"' | b'\r' | b'\n' | 0) {
            c |= C_SSTOP;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static CLASSES: [u8; 256] = build_classes();

#[inline(always)]
fn class(b: u8) -> u8 {
    match CLASSES.get(b as usize) {
        Some(&c) => c,
        None => 0,
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `v` that is `"`, a backslash or below 0x0E (a superset of
/// NUL, LF and CR). `(x - 0x01..) & !x & 0x80..` flags the bytes of `x` below 1 (zero) or,
/// for `v`, below 0x0E; exact for the lowest flagged byte (little-endian order), bytes
/// above it may be flagged spuriously through the borrow, which is harmless here.
#[inline(always)]
fn stops(v: u64) -> u64 {
    let (q, e) = (v ^ (LO * b'"' as u64), v ^ (LO * b'\\' as u64));
    ((q.wrapping_sub(LO) & !q) | (e.wrapping_sub(LO) & !e) | (v.wrapping_sub(LO * 0x0e) & !v)) & HI
}

/// Position of the first byte at or after `p` in `line` that ends the plain run of a
/// quoted string (`"`, `\\`, CR, LF or NUL), or `line.len()`. Eight bytes at a time while
/// eight bytes are left.
#[inline(always)]
fn quoted_stop(line: &[u8], mut p: usize) -> usize {
    // Sixteen bytes per step while sixteen are left, then eight.
    loop {
        let (m, base) = if let Some(w) = line.get(p..p + 16)
            && let Ok(w) = <[u8; 16]>::try_from(w)
        {
            let v = u128::from_le_bytes(w);
            let (m1, m2) = (stops(v as u64), stops((v >> 64) as u64));
            if m1 | m2 == 0 {
                p += 16;
                continue;
            }
            // Select without a branch (the half holding the stop varies from string to
            // string): a conditional move.
            let in_first = m1 != 0;
            (
                if in_first { m1 } else { m2 },
                p + 8 * usize::from(!in_first),
            )
        } else if let Some(w) = line.get(p..p + 8)
            && let Ok(w) = <[u8; 8]>::try_from(w)
        {
            let m = stops(u64::from_le_bytes(w));
            if m == 0 {
                p += 8;
                continue;
            }
            (m, p)
        } else {
            break;
        };
        let j = base + (m.trailing_zeros() / 8) as usize;
        if line.get(j).is_some_and(|&b| class(b) & C_QSTOP != 0) {
            return j;
        }
        // A control byte that is not a stop (TAB ...): go on after it.
        p = j + 1;
    }
    while let Some(&b) = line.get(p) {
        if class(b) & C_QSTOP != 0 {
            break;
        }
        p += 1;
    }
    p
}

/// Scan the content of a quoted string from `p` (just after its opening `"`): `(close, 0)`
/// or `(close, 1)` (escapes seen) with `close` the position of the closing quote, or
/// `(p, 2)` with `p` the position of a byte that may not appear (CR, LF, NUL, a backslash
/// not followed by `"` or a backslash) or the end of the line.
///
/// Two scalars instead of a `Result` so that the answer comes back in registers.
#[inline(never)]
fn scan_quoted(line: &[u8], mut p: usize) -> (usize, u8) {
    let mut escaped = 0;
    loop {
        p = quoted_stop(line, p);
        match line.get(p) {
            Some(b'"') => return (p, escaped),
            Some(b'\\') => match line.get(p + 1) {
                Some(b'"' | b'\\') => {
                    escaped = 1;
                    p += 2;
                }
                _ => return (p, 2),
            },
            _ => return (p, 2),
        }
    }
}

/// The leading decimal digits of the eight bytes `w` (first byte lowest): `Some((value,
/// count))` when a non-digit follows within the word (count 0..=7), `None` when all eight
/// bytes are digits.
#[inline(always)]
fn swar_number(w: u64) -> Option<(u64, usize)> {
    // A byte is a digit when its high nibble is 3 and adding 6 does not carry out of its
    // low nibble. A carry out of a byte (only from a byte >= 0xFA, a non-digit) can only
    // disturb bytes above it, so the lowest non-zero byte of `nd` is exact.
    let hi_nibble = (w & (LO * 0xf0)) ^ (LO * 0x30);
    let lo_nibble = (w.wrapping_add(LO * 0x06) & (LO * 0xf0)) ^ (LO * 0x30);
    let nd = hi_nibble | lo_nibble;
    // High bit of every non-zero byte of `nd` (no carries between bytes).
    let flags = (((nd & (LO * 0x7f)) + LO * 0x7f) | nd) & HI;
    if flags == 0 {
        return None;
    }
    let n = flags.trailing_zeros() / 8; // 0..=7
    if n == 0 {
        return Some((0, 0));
    }
    // Keep the `n` digits as values 0..=9, right-aligned in an eight-digit number whose
    // leading (low) bytes are zero, then combine pairs, quads and the two halves.
    let d = (w & (LO * 0x0f)) << (8 * (8 - n));
    let d = (d.wrapping_mul(10) + (d >> 8)) & 0x00ff_00ff_00ff_00ff;
    let d = (d.wrapping_mul(100) + (d >> 16)) & 0x0000_ffff_0000_ffff;
    let d = (d.wrapping_mul(10_000) + (d >> 32)) & 0xffff_ffff;
    Some((d, n as usize))
}

/// Whether `b` is an IMAP ATOM-CHAR (RFC 3501 §9).
#[inline]
pub fn is_atom_char(b: u8) -> bool {
    class(b) & C_ATOM != 0
}

/// Whether `b` is an IMAP ASTRING-CHAR (ATOM-CHAR or `]`).
#[inline]
pub fn is_astring_char(b: u8) -> bool {
    class(b) & C_ASTRING != 0
}

/// Whether `b` may appear in a tag (ASTRING-CHAR except `+`).
#[inline]
pub fn is_tag_char(b: u8) -> bool {
    class(b) & C_TAG != 0
}

/// An IMAP string value as found on the wire, borrowed from the response buffer.
///
/// Atoms, literals and quoted strings without backslash escapes are plain byte slices;
/// a quoted string that contains `\"` or `\\` keeps its escapes in [`raw`](Self::raw) and is
/// unescaped on demand ([`chunks`](Self::chunks), [`copy_into`](Self::copy_into)), so no
/// allocation is ever needed.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IStr<'a> {
    raw: &'a [u8],
    escaped: bool,
}

impl<'a> IStr<'a> {
    /// A string with no escapes (an atom, a literal or an escape-free quoted string).
    pub const fn plain(raw: &'a [u8]) -> Self {
        IStr {
            raw,
            escaped: false,
        }
    }

    pub(crate) const fn quoted(raw: &'a [u8], escaped: bool) -> Self {
        IStr { raw, escaped }
    }

    /// The bytes as on the wire (quotes removed, backslash escapes kept).
    pub const fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Whether the wire form holds backslash escapes.
    pub const fn has_escapes(&self) -> bool {
        self.escaped
    }

    /// The value as one slice, when it holds no escapes.
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        if self.escaped { None } else { Some(self.raw) }
    }

    /// The value as `&str` when it has no escapes and is valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| core::str::from_utf8(b).ok())
    }

    /// The unescaped value as a sequence of borrowed slices.
    pub fn chunks(&self) -> Chunks<'a> {
        Chunks {
            rest: self.raw,
            escaped: self.escaped,
            first: true,
        }
    }

    /// Length of the unescaped value.
    pub fn len(&self) -> usize {
        if self.escaped {
            self.chunks().map(<[u8]>::len).sum()
        } else {
            self.raw.len()
        }
    }

    /// Whether the value is empty (`""` or `{0}`).
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Copy the unescaped value into `out`; returns the length.
    ///
    /// Errors with [`Error::BufferTooSmall`] when `out` is too short.
    pub fn copy_into(&self, out: &mut [u8]) -> Result<usize, Error> {
        let mut n = 0;
        for c in self.chunks() {
            let dst = out.get_mut(n..n + c.len()).ok_or(Error::BufferTooSmall)?;
            dst.copy_from_slice(c);
            n += c.len();
        }
        Ok(n)
    }

    /// Whether the unescaped value equals `other`.
    pub fn eq_bytes(&self, other: &[u8]) -> bool {
        self.eq_by(other, |a, b| a == b)
    }

    /// Whether the unescaped value equals `other`, ignoring ASCII case.
    #[inline]
    pub fn eq_ignore_ascii_case(&self, other: &[u8]) -> bool {
        if !self.escaped {
            return self.raw.eq_ignore_ascii_case(other);
        }
        self.eq_by(other, |a, b| a.eq_ignore_ascii_case(b))
    }

    #[inline]
    fn eq_by(&self, other: &[u8], f: impl Fn(&[u8], &[u8]) -> bool) -> bool {
        if !self.escaped {
            return f(self.raw, other);
        }
        let mut rest = other;
        for c in self.chunks() {
            match (rest.get(..c.len()), rest.get(c.len()..)) {
                (Some(head), Some(tail)) if f(head, c) => rest = tail,
                _ => return false,
            }
        }
        rest.is_empty()
    }
}

impl fmt::Debug for IStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.chunks() {
            for &b in c {
                if b == b'"' || b == b'\\' {
                    write!(f, "\\{}", b as char)?;
                } else if (0x20..0x7f).contains(&b) {
                    write!(f, "{}", b as char)?;
                } else {
                    write!(f, "\\x{b:02x}")?;
                }
            }
        }
        f.write_str("\"")
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for IStr<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=[u8]}", self.raw)
    }
}

/// The unescaped pieces of an [`IStr`]: their concatenation is the string's value.
#[derive(Clone, Debug)]
pub struct Chunks<'a> {
    rest: &'a [u8],
    escaped: bool,
    first: bool,
}

impl<'a> Iterator for Chunks<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if !self.escaped {
            if self.first {
                self.first = false;
                return Some(self.rest);
            }
            return None;
        }
        if self.rest.is_empty() {
            return None;
        }
        // The first byte of `rest` is literal text (possibly an escaped character) unless
        // this is the very first piece and it starts with a backslash.
        let skip = usize::from(!self.first);
        self.first = false;
        let tail = self.rest.get(skip..).unwrap_or_default();
        match memchr::memchr(b'\\', tail) {
            Some(i) => {
                let piece = self.rest.get(..skip + i).unwrap_or_default();
                self.rest = self.rest.get(skip + i + 1..).unwrap_or_default();
                if piece.is_empty() {
                    self.next()
                } else {
                    Some(piece)
                }
            }
            None => {
                let piece = self.rest;
                self.rest = &[];
                Some(piece)
            }
        }
    }
}

/// A cursor over one framed response.
///
/// `end` is the end of the response's last line (its terminator excluded); literal bytes and
/// the line breaks after literal announcements lie inside `[0, end)`.
#[derive(Clone, Copy)]
pub(crate) struct Cursor<'a> {
    pub buf: &'a [u8],
    /// `buf[..end]` (clamped to `buf`): the bytes the cursor may read; one bounds check
    /// per byte. Set by [`Cursor::new`]; `end` never changes afterwards.
    line: &'a [u8],
    pub pos: usize,
    pub end: usize,
    /// Position just after the line break of a literal announcement whose data is streamed
    /// (not in `buf`), or `usize::MAX`.
    pub streamed_at: usize,
    /// Unframed: `end` is the end of the input, not of the response, and [`Cursor::finish`]
    /// finds the line break itself (see `response::fetch_unframed`).
    pub open: bool,
}

impl fmt::Debug for Cursor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cursor")
            .field("buf", &self.buf)
            .field("pos", &self.pos)
            .field("end", &self.end)
            .field("streamed_at", &self.streamed_at)
            .finish()
    }
}

/// A literal whose bytes are not in the buffer: its announced length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StreamedLiteral(pub u64);

pub(crate) type PResult<T> = Result<T, Error>;

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8], end: usize) -> Self {
        Cursor {
            buf,
            line: buf.get(..end).unwrap_or(buf),
            pos: 0,
            end,
            streamed_at: usize::MAX,
            open: false,
        }
    }

    #[inline(always)]
    pub fn err<T>(&self) -> PResult<T> {
        Err(Error::Malformed { offset: self.pos })
    }

    #[inline(always)]
    pub fn peek(&self) -> Option<u8> {
        self.line.get(self.pos).copied()
    }

    #[inline(always)]
    pub fn peek_at(&self, off: usize) -> Option<u8> {
        self.line.get(self.pos + off).copied()
    }

    #[inline(always)]
    pub fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    #[inline(always)]
    pub fn byte(&mut self, b: u8) -> PResult<()> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            self.err()
        }
    }

    #[inline(always)]
    pub fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Exactly one space.
    #[inline(always)]
    pub fn sp(&mut self) -> PResult<()> {
        self.byte(b' ')
    }

    /// One space, or (quirk) two.
    #[inline(always)]
    pub fn sp_lenient(&mut self) -> PResult<()> {
        self.byte(b' ')?;
        self.eat(b' ');
        Ok(())
    }

    /// The rest of the line must be empty or (quirk) one space.
    pub fn finish(&mut self) -> PResult<()> {
        if self.open {
            return self.finish_open();
        }
        if self.pos == self.end || (self.pos + 1 == self.end && self.peek() == Some(b' ')) {
            self.pos = self.end;
            Ok(())
        } else {
            self.err()
        }
    }

    /// [`Cursor::finish`] of an unframed cursor: the same rule (nothing, or one space, before
    /// the line break), then CRLF or LF; `pos` ends up just after it (the response's length).
    #[cold]
    fn finish_open(&mut self) -> PResult<()> {
        let mut p = self.pos;
        if self.buf.get(p) == Some(&b' ') {
            p += 1;
        }
        let lf = match (self.buf.get(p), self.buf.get(p + 1)) {
            (Some(b'\r'), Some(b'\n')) => p + 1,
            (Some(b'\n'), _) => p,
            _ => return self.err(),
        };
        self.pos = lf + 1;
        Ok(())
    }

    pub fn slice(&self, from: usize, to: usize) -> &'a [u8] {
        self.buf.get(from..to).unwrap_or_default()
    }

    /// The remaining bytes of the line.
    pub fn rest(&self) -> &'a [u8] {
        self.slice(self.pos, self.end)
    }

    /// Run of bytes of class `c` (possibly empty).
    #[inline(always)]
    fn run(&mut self, c: u8) -> &'a [u8] {
        let rest = self.line.get(self.pos..).unwrap_or_default();
        let n = rest
            .iter()
            .position(|&b| class(b) & c == 0)
            .unwrap_or(rest.len());
        self.pos += n;
        rest.get(..n).unwrap_or_default()
    }

    pub fn atom(&mut self) -> PResult<&'a [u8]> {
        let a = self.run(C_ATOM);
        if a.is_empty() { self.err() } else { Ok(a) }
    }

    pub fn tag(&mut self) -> PResult<&'a [u8]> {
        let a = self.run(C_TAG);
        if a.is_empty() { self.err() } else { Ok(a) }
    }

    /// A flag: `\` atom, `\*`, or a keyword atom (`]` tolerated).
    pub fn flag(&mut self) -> PResult<&'a [u8]> {
        let start = self.pos;
        if self.eat(b'\\') {
            if self.eat(b'*') {
                return Ok(self.slice(start, self.pos));
            }
            self.run(C_FLAG);
            if self.pos == start + 1 {
                return self.err();
            }
            return Ok(self.slice(start, self.pos));
        }
        let a = self.run(C_FLAG);
        if a.is_empty() { self.err() } else { Ok(a) }
    }

    /// FETCH item name base: a run of ATOM-CHARs other than `[`.
    pub fn item_base(&mut self) -> &'a [u8] {
        let rest = self.line.get(self.pos..).unwrap_or_default();
        let n = rest
            .iter()
            .position(|&b| class(b) & C_NAME == 0)
            .unwrap_or(rest.len());
        self.pos += n;
        rest.get(..n).unwrap_or_default()
    }

    /// Skip bytes up to the next `]`, `"`, CR, LF or NUL (or the end of the line).
    pub fn skip_section_text(&mut self) {
        let rest = self.line.get(self.pos..).unwrap_or_default();
        self.pos += rest
            .iter()
            .position(|&b| class(b) & C_SSTOP != 0)
            .unwrap_or(rest.len());
    }

    /// Keyword (case-insensitive) followed by a non-atom character.
    pub fn keyword(&mut self, kw: &[u8]) -> bool {
        let end = self.pos + kw.len();
        match self.line.get(self.pos..end) {
            Some(s) if s.eq_ignore_ascii_case(kw) => {
                let next_ok = self.peek_at(kw.len()).is_none_or(|b| !is_atom_char(b));
                if next_ok {
                    self.pos = end;
                }
                next_ok
            }
            _ => false,
        }
    }

    /// Unsigned decimal number up to `u64::MAX`.
    #[inline]
    pub fn number(&mut self) -> PResult<u64> {
        let start = self.pos;
        // Fast path: fewer than eight digits followed by a non-digit, read as one word.
        if let Some(w) = self.line.get(start..start.wrapping_add(8))
            && let Ok(w) = <[u8; 8]>::try_from(w)
            && let Some((v, n)) = swar_number(u64::from_le_bytes(w))
        {
            if n == 0 {
                return self.err();
            }
            self.pos = start + n;
            return Ok(v);
        }
        self.number_slow()
    }

    #[inline(never)]
    fn number_slow(&mut self) -> PResult<u64> {
        let start = self.pos;
        let rest = self.line.get(start..).unwrap_or_default();
        let mut v: u64 = 0;
        let mut n = 0;
        for &b in rest {
            if !b.is_ascii_digit() {
                break;
            }
            v = match v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(b - b'0')))
            {
                Some(v) => v,
                None => {
                    self.pos = start + n;
                    return Err(Error::Malformed { offset: start });
                }
            };
            n += 1;
        }
        self.pos = start + n;
        if n == 0 { self.err() } else { Ok(v) }
    }

    /// Non-zero number.
    pub fn nz_number(&mut self) -> PResult<u64> {
        let start = self.pos;
        match self.number()? {
            0 => Err(Error::Malformed { offset: start }),
            n => Ok(n),
        }
    }

    /// `keyword(b"NIL")` without the generic comparison: `NIL` in any case, followed by a
    /// non-atom character or the end of the line.
    #[inline(always)]
    fn eat_nil(&mut self) -> bool {
        // `b | 0x20` maps exactly the upper and lower case letter to the lower case one.
        let nil = match self.line.get(self.pos..) {
            Some([n, i, l, rest @ ..]) if (n | 0x20, i | 0x20, l | 0x20) == (b'n', b'i', b'l') => {
                rest.first().is_none_or(|&b| !is_atom_char(b))
            }
            _ => false,
        };
        if nil {
            self.pos += 3;
        }
        nil
    }

    /// Whether the cursor is at `NIL`.
    #[inline]
    pub fn nil(&mut self) -> bool {
        self.eat_nil()
    }

    /// quoted / literal / literal8.
    #[inline]
    pub fn string(&mut self) -> PResult<IStr<'a>> {
        if self.peek() == Some(b'"') {
            return self.quoted();
        }
        match self.string_or_streamed()? {
            Ok(s) => Ok(s),
            Err(StreamedLiteral(len)) => Err(Error::LiteralTooLarge { len }),
        }
    }

    /// Like [`string`](Self::string), but a literal whose data is streamed is returned as
    /// `Err(StreamedLiteral)` instead of an error.
    #[inline]
    pub fn string_or_streamed(&mut self) -> PResult<Result<IStr<'a>, StreamedLiteral>> {
        match self.peek() {
            Some(b'"') => self.quoted().map(Ok),
            Some(b'{') => self.literal(),
            Some(b'~') if self.peek_at(1) == Some(b'{') => self.literal(),
            _ => self.err(),
        }
    }

    /// Scan a quoted string whose opening `"` is at `start - 1`: `Ok((close, escaped))`
    /// with `close` the position of the closing quote, `Err(p)` at the offending byte.
    ///
    /// Fast path without a call: a string without escapes that closes within the next eight
    /// bytes is found with one word test.
    #[inline(always)]
    fn quoted_tail(&self, start: usize) -> Result<(usize, bool), usize> {
        let mut from = start;
        if let Some(w) = self.line.get(start..start.wrapping_add(8))
            && let Ok(w) = <[u8; 8]>::try_from(w)
        {
            let v = u64::from_le_bytes(w);
            let m = stops(v);
            if m == 0 {
                from = start + 8;
            } else {
                let k = m.trailing_zeros() / 8;
                // `stops` is exact for its lowest flagged byte: no stop byte before it.
                if (v >> (8 * k)) as u8 == b'"' {
                    return Ok((start + k as usize, false));
                }
            }
        }
        match scan_quoted(self.line, from) {
            (p, 0) => Ok((p, false)),
            (p, 1) => Ok((p, true)),
            (p, _) => Err(p),
        }
    }

    #[inline]
    pub fn quoted(&mut self) -> PResult<IStr<'a>> {
        self.byte(b'"')?;
        let start = self.pos;
        match self.quoted_tail(start) {
            Ok((p, escaped)) => {
                self.pos = p + 1;
                Ok(IStr::quoted(self.slice(start, p), escaped))
            }
            Err(p) => {
                self.pos = p;
                self.err()
            }
        }
    }

    /// Skip a quoted string (the cursor is at its opening `"`); errors as [`quoted`].
    #[inline(always)]
    fn skip_quoted(&mut self) -> PResult<()> {
        match self.quoted_tail(self.pos + 1) {
            Ok((p, _)) => {
                self.pos = p + 1;
                Ok(())
            }
            Err(p) => {
                self.pos = p;
                self.err()
            }
        }
    }

    /// Validate a string like [`string`](Self::string) without producing it.
    #[inline]
    pub fn skip_string(&mut self) -> PResult<()> {
        if self.peek() == Some(b'"') {
            self.skip_quoted()
        } else {
            self.string().map(drop)
        }
    }

    /// Validate an nstring like [`nstring`](Self::nstring) without producing it.
    #[inline(always)]
    pub fn skip_nstring(&mut self) -> PResult<()> {
        match self.peek() {
            Some(b'"') => self.skip_quoted(),
            Some(b'N' | b'n') if self.eat_nil() => Ok(()),
            _ => self.string().map(drop),
        }
    }

    /// Validate like [`nstring_lenient`](Self::nstring_lenient) without producing it.
    #[inline(always)]
    pub fn skip_nstring_lenient(&mut self) -> PResult<()> {
        match self.peek() {
            Some(b'"') => self.skip_quoted(),
            Some(b'N' | b'n') if self.eat_nil() => Ok(()),
            _ => self.astring().map(drop),
        }
    }

    fn literal(&mut self) -> PResult<Result<IStr<'a>, StreamedLiteral>> {
        let at = self.pos;
        self.eat(b'~');
        self.byte(b'{')?;
        let len = self.number()?;
        self.eat(b'+');
        self.byte(b'}')?;
        // The line break after the announcement lies inside the frame.
        let nl = match self.buf.get(self.pos) {
            Some(b'\r') if self.buf.get(self.pos + 1) == Some(&b'\n') => 2,
            Some(b'\n') => 1,
            _ => return self.err(),
        };
        let _ = at;
        if self.pos + nl == self.streamed_at {
            self.pos += nl;
            return Ok(Err(StreamedLiteral(len)));
        }
        let start = self.pos + nl;
        let Ok(n) = usize::try_from(len) else {
            return self.err();
        };
        let data = match self.buf.get(start..start.saturating_add(n)) {
            Some(d) if start + n <= self.end => d,
            _ => return self.err(),
        };
        self.pos = start + n;
        Ok(Ok(IStr::plain(data)))
    }

    /// astring = 1*ASTRING-CHAR / string
    pub fn astring(&mut self) -> PResult<IStr<'a>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.string(),
            Some(b'~') if self.peek_at(1) == Some(b'{') => self.string(),
            _ => {
                let a = self.run(C_ASTRING);
                if a.is_empty() {
                    self.err()
                } else {
                    Ok(IStr::plain(a))
                }
            }
        }
    }

    /// nstring = string / NIL
    #[inline]
    pub fn nstring(&mut self) -> PResult<Option<IStr<'a>>> {
        match self.peek() {
            Some(b'"') => self.quoted().map(Some),
            Some(b'N' | b'n') if self.eat_nil() => Ok(None),
            _ => self.string().map(Some),
        }
    }

    /// nstring, or an atom (lenient: some servers send bare atoms where strings belong).
    pub fn nstring_lenient(&mut self) -> PResult<Option<IStr<'a>>> {
        if self.nil() {
            Ok(None)
        } else {
            self.astring().map(Some)
        }
    }

    /// Text up to the end of the line: no CR, LF or NUL.
    pub fn text(&mut self) -> PResult<&'a [u8]> {
        let t = self.rest();
        if let Some(bad) = memchr::memchr3(b'\r', b'\n', 0, t) {
            self.pos += bad;
            return self.err();
        }
        self.pos = self.end;
        Ok(t)
    }

    /// Skip one generic value (number, atom, string, NIL or parenthesised list of values).
    pub fn skip_value(&mut self, depth: u8) -> PResult<()> {
        match self.peek() {
            Some(b'(') => {
                if depth == 0 {
                    return Err(Error::TooDeep);
                }
                self.pos += 1;
                self.eat(b' ');
                while !self.eat(b')') {
                    self.skip_value(depth - 1)?;
                    if self.peek() == Some(b' ') {
                        self.pos += 1;
                        self.eat(b' ');
                    } else if self.peek() != Some(b')') {
                        return self.err();
                    }
                }
                Ok(())
            }
            Some(b'"' | b'{') => self.string().map(drop),
            Some(b'~') if self.peek_at(1) == Some(b'{') => self.string().map(drop),
            Some(b) if b.is_ascii_digit() => {
                self.number()?;
                // A sequence set such as 1:3,5 is also a valid extension value.
                self.run(C_ATOM);
                Ok(())
            }
            Some(b'\\') => self.flag().map(drop),
            _ => self.astring().map(drop),
        }
    }
}

/// Maximum nesting of parenthesised lists (BODYSTRUCTURE, extension values).
pub const MAX_NESTING: u8 = 24;

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn unescape(s: IStr<'_>) -> Vec<u8> {
        s.chunks().flatten().copied().collect()
    }

    #[test]
    fn chunks() {
        let buf: &[u8] = br#""a\"b\\c\\" "\\x" "" "\"""#;
        let mut c = Cursor::new(buf, buf.len());
        let s = c.quoted().unwrap();
        assert_eq!(unescape(s), br#"a"b\c\"#);
        assert_eq!(s.len(), 6);
        assert!(s.eq_bytes(br#"a"b\c\"#));
        c.sp().unwrap();
        assert_eq!(unescape(c.quoted().unwrap()), br"\x");
        c.sp().unwrap();
        assert_eq!(unescape(c.quoted().unwrap()), b"");
        c.sp().unwrap();
        assert_eq!(unescape(c.quoted().unwrap()), b"\"");
    }

    /// The content of a quoted string, byte by byte (see `Cursor::quoted_tail`).
    fn naive_quoted(s: &[u8]) -> Result<(usize, bool), usize> {
        let (mut i, mut escaped) = (0, false);
        while i < s.len() {
            match s[i] {
                b'"' => return Ok((i, escaped)),
                b'\\' if matches!(s.get(i + 1), Some(b'"' | b'\\')) => {
                    escaped = true;
                    i += 2;
                }
                b'\\' | b'\r' | b'\n' | 0 => return Err(i),
                _ => i += 1,
            }
        }
        Err(s.len())
    }

    #[test]
    fn quoted_stop_matches_bytewise_scan() {
        let naive = |s: &[u8]| {
            s.iter()
                .position(|&b| class(b) & C_QSTOP != 0)
                .unwrap_or(s.len())
        };
        let alphabet = [
            b'a', b'"', b'\\', b'\r', b'\n', 0, b'\t', 0x0d, 0x0e, 0x7f, 0x80, 0xff, 0x21, 0x5b,
        ];
        let mut x: u32 = 12345;
        for len in 0..40 {
            for _ in 0..200 {
                let s: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        // Mostly plain bytes, sometimes one of the interesting ones.
                        if x.is_multiple_of(5) {
                            alphabet[(x / 5) as usize % alphabet.len()]
                        } else {
                            b'a' + (x % 26) as u8
                        }
                    })
                    .collect();
                assert_eq!(quoted_stop(&s, 0), naive(&s), "{s:?}");
                let c = Cursor::new(&s, s.len());
                assert_eq!(c.quoted_tail(0), naive_quoted(&s), "{s:?}");
                if len > 3 {
                    assert_eq!(quoted_stop(&s, 3), 3 + naive(&s[3..]), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn swar_number_matches_bytewise_parse() {
        let alphabet = [
            b'0', b'5', b'9', b'/', b':', b' ', b')', 0xfa, 0xff, 0x39, 0x30, b'a',
        ];
        let mut x: u32 = 987_654_321;
        for _ in 0..200_000 {
            let mut w = [0u8; 8];
            for b in &mut w {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *b = if x.is_multiple_of(3) {
                    alphabet[(x / 3) as usize % alphabet.len()]
                } else {
                    b'0' + (x % 10) as u8
                };
            }
            let n = w.iter().take_while(|b| b.is_ascii_digit()).count();
            let want = if n == 8 {
                None
            } else {
                let v = w[..n]
                    .iter()
                    .fold(0u64, |v, &b| v * 10 + u64::from(b - b'0'));
                Some((v, n))
            };
            assert_eq!(swar_number(u64::from_le_bytes(w)), want, "{w:?}");
            // The cursor gives the same number with and without the fast path.
            let mut c = Cursor::new(&w, 8);
            let mut slow = c;
            assert_eq!(c.number().ok(), slow.number_slow().ok(), "{w:?}");
            assert_eq!(c.pos, slow.pos, "{w:?}");
        }
    }

    #[test]
    fn numbers() {
        let mut c = Cursor::new(b"18446744073709551615 18446744073709551616", 41);
        assert_eq!(c.number().unwrap(), u64::MAX);
        c.sp().unwrap();
        assert!(c.number().is_err());
    }

    #[test]
    fn literal_and_nil() {
        let buf = b"{3}\r\nabc NIL nil \"x\"";
        let mut c = Cursor::new(buf, buf.len());
        assert!(c.nstring().unwrap().unwrap().eq_bytes(b"abc"));
        c.sp().unwrap();
        assert_eq!(c.nstring().unwrap(), None);
        c.sp().unwrap();
        assert_eq!(c.nstring().unwrap(), None);
        c.sp().unwrap();
        assert!(c.nstring().unwrap().unwrap().eq_bytes(b"x"));
        let mut c = Cursor::new(b"NILS", 4);
        assert!(!c.nil());
    }
}
