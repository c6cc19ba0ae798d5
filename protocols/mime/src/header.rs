//! Header rendering for the composer: folding at 78 columns, RFC 2047 encoded words,
//! addresses, dates and RFC 2231 parameters. Every value is validated before it is written:
//! CR, LF and NUL are refused everywhere (header injection).

use core::fmt::Write as _;

use crate::error::MimeError;
use crate::sink::{FmtSink, Sink};

/// Preferred line length (RFC 5322 §2.1.1).
pub const FOLD_AT: usize = 78;
/// Longest single token written unencoded; longer words become encoded words (which fold).
const MAX_TOKEN: usize = 900;
/// Longest encoded word (RFC 2047 §2).
pub const MAX_WORD: usize = 75;

/// A mailbox: an address with an optional display name (any Unicode).
///
/// ```
/// use postwire_mime::Mailbox;
/// let m = Mailbox::named("Zoë Ünal", "zoe@example.test");
/// assert_eq!(m.address, "zoe@example.test");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mailbox<'a> {
    /// Display name.
    pub name: Option<&'a str>,
    /// The addr-spec `local@domain`.
    pub address: &'a str,
}

impl<'a> Mailbox<'a> {
    /// A bare address.
    pub const fn new(address: &'a str) -> Self {
        Mailbox {
            name: None,
            address,
        }
    }

    /// An address with a display name.
    pub const fn named(name: &'a str, address: &'a str) -> Self {
        Mailbox {
            name: Some(name),
            address,
        }
    }
}

/// A point in time for the Date header: seconds since 1970 (UTC) and the sender's offset
/// from UTC in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date {
    /// UNIX time.
    pub unix: i64,
    /// Offset from UTC in minutes (e.g. 60 for +0100), at most ±5999.
    pub offset_minutes: i16,
}

pub(crate) fn check_value(v: &[u8]) -> Result<(), MimeError> {
    if postwire_core::ascii::has_ctl_crlf_nul(v) {
        Err(MimeError::InvalidHeader)
    } else {
        Ok(())
    }
}

/// RFC 5322 field name: printable ASCII except `:`.
pub(crate) fn check_name(n: &str) -> Result<(), MimeError> {
    if n.is_empty() || n.len() > 76 || !n.bytes().all(|b| (33..=126).contains(&b) && b != b':') {
        Err(MimeError::InvalidHeader)
    } else {
        Ok(())
    }
}

fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

/// RFC 2045 token character.
pub(crate) fn is_token_char(b: u8) -> bool {
    (33..=126).contains(&b) && !b"()<>@,;:\\\"/[]?=".contains(&b)
}

/// `type/subtype` of token characters.
pub(crate) fn check_media_type(t: &str) -> Result<(), MimeError> {
    let Some((ty, sub)) = t.split_once('/') else {
        return Err(MimeError::InvalidMediaType);
    };
    let ok = |s: &str| !s.is_empty() && s.len() <= 64 && s.bytes().all(is_token_char);
    if ok(ty) && ok(sub) {
        Ok(())
    } else {
        Err(MimeError::InvalidMediaType)
    }
}

pub(crate) fn check_charset(c: &str) -> Result<(), MimeError> {
    if !c.is_empty() && c.len() <= 40 && c.bytes().all(is_token_char) {
        Ok(())
    } else {
        Err(MimeError::InvalidMediaType)
    }
}

/// A msg-id's inside (`left@right` without brackets): printable ASCII without space, `<`, `>`
/// or `"`, with one `@`.
pub(crate) fn check_id_inner(id: &str) -> Result<(), MimeError> {
    let ok = !id.is_empty()
        && id.len() <= 250
        && id
            .bytes()
            .all(|b| (33..=126).contains(&b) && !b"<>\"\\()[],;:".contains(&b))
        && id.bytes().filter(|&b| b == b'@').count() == 1
        && !id.starts_with('@')
        && !id.ends_with('@');
    if ok {
        Ok(())
    } else {
        Err(MimeError::InvalidMessageId)
    }
}

/// A msg-id with its brackets: `<left@right>`.
pub(crate) fn check_msg_id(id: &str) -> Result<(), MimeError> {
    match id.strip_prefix('<').and_then(|s| s.strip_suffix('>')) {
        Some(inner) => check_id_inner(inner),
        None => Err(MimeError::InvalidMessageId),
    }
}

/// The unique token: 1–40 of `A-Z a-z 0-9 . - _`.
pub(crate) fn check_token(t: &str) -> Result<(), MimeError> {
    if !t.is_empty()
        && t.len() <= 40
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err(MimeError::InvalidToken)
    }
}

/// Check an addr-spec. `local` is a dot-atom or a quoted string; `domain` a dot-atom of
/// LDH labels or an address literal. Non-ASCII (UTF-8) is allowed in both only with
/// `smtputf8` (RFC 6531/6532).
///
/// ```
/// use postwire_mime::header::check_address;
/// use postwire_mime::MimeError;
/// assert!(check_address("a.b+c@example.test", false).is_ok());
/// assert!(check_address("\"john doe\"@example.test", false).is_ok());
/// assert_eq!(check_address("jörg@example.test", false), Err(MimeError::NeedsSmtpUtf8));
/// assert!(check_address("jörg@example.test", true).is_ok());
/// assert!(check_address("a@b\r\nBcc: x@y", true).is_err());
/// assert!(check_address("a..b@x", false).is_err());
/// ```
pub fn check_address(addr: &str, smtputf8: bool) -> Result<(), MimeError> {
    check_value(addr.as_bytes()).map_err(|_| MimeError::InvalidAddress)?;
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return Err(MimeError::InvalidAddress);
    };
    if local.is_empty() || local.len() > 64 || domain.is_empty() || addr.len() > 254 {
        return Err(MimeError::InvalidAddress);
    }
    let mut non_ascii = false;
    if let Some(q) = local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        let mut esc = false;
        for b in q.bytes() {
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' || b < 0x20 || b == 0x7f {
                return Err(MimeError::InvalidAddress);
            }
            non_ascii |= b >= 0x80;
        }
        if esc {
            return Err(MimeError::InvalidAddress);
        }
    } else {
        for atom in local.split('.') {
            if atom.is_empty() || !atom.bytes().all(|b| is_atext(b) || b >= 0x80) {
                return Err(MimeError::InvalidAddress);
            }
        }
        non_ascii |= !local.is_ascii();
    }
    if let Some(lit) = domain.strip_prefix('[') {
        let inner = lit.strip_suffix(']').ok_or(MimeError::InvalidAddress)?;
        if inner.is_empty()
            || !inner
                .bytes()
                .all(|b| (33..=90).contains(&b) || (94..=126).contains(&b))
        {
            return Err(MimeError::InvalidAddress);
        }
    } else {
        if domain.len() > 253 {
            return Err(MimeError::InvalidAddress);
        }
        for label in domain.split('.') {
            let ok = !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b >= 0x80);
            if !ok {
                return Err(MimeError::InvalidAddress);
            }
        }
        non_ascii |= !domain.is_ascii();
    }
    if non_ascii && !smtputf8 {
        return Err(MimeError::NeedsSmtpUtf8);
    }
    Ok(())
}

/// Writes one header field, folding between tokens so that lines stay within [`FOLD_AT`]
/// columns where the tokens allow.
pub(crate) struct Fold<'s, S: Sink + ?Sized> {
    s: &'s mut S,
    col: usize,
    first: bool,
}

impl<'s, S: Sink + ?Sized> Fold<'s, S> {
    /// Write `Name:`.
    pub(crate) fn start(s: &'s mut S, name: &str) -> Self {
        s.put(name.as_bytes());
        s.put(b":");
        Fold {
            s,
            col: name.len() + 1,
            first: true,
        }
    }

    /// Write a token, preceded by a space, or by a line break and a space when the token
    /// would pass the fold column (never before the first token).
    pub(crate) fn token(&mut self, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if !self.first && self.col + 1 + len > FOLD_AT {
            self.s.put(b"\r\n ");
            self.col = 1;
        } else {
            self.s.put(b" ");
            self.col += 1;
        }
        for p in parts {
            self.s.put(p);
        }
        self.col += len;
        self.first = false;
    }

    /// Write bytes right after the previous token (no space, no fold).
    pub(crate) fn glue(&mut self, bytes: &[u8]) {
        self.s.put(bytes);
        self.col += bytes.len();
    }

    /// End the field with CR LF.
    pub(crate) fn end(self) {
        self.s.put(b"\r\n");
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum WordMode {
    B,
    Q,
}

/// Overhead of `=?utf-8?X?` + `?=`.
const WORD_OVERHEAD: usize = 12;

fn q_cost(b: u8) -> usize {
    if b.is_ascii_alphanumeric() || b"!*+-/ ".contains(&b) {
        1
    } else {
        3
    }
}

fn payload_len(mode: WordMode, bytes: &[u8]) -> usize {
    match mode {
        WordMode::B => postwire_core::base64::encoded_len(bytes.len()),
        WordMode::Q => bytes.iter().map(|&b| q_cost(b)).sum(),
    }
}

/// Splits text into encoded-word payloads of at most 75 characters, at character boundaries.
struct WordSplit<'t> {
    text: &'t str,
    pos: usize,
    mode: WordMode,
    /// Payload budget of the first word (it cannot be folded onto a line of its own).
    first_budget: usize,
}

impl<'t> Iterator for WordSplit<'t> {
    type Item = &'t str;
    fn next(&mut self) -> Option<&'t str> {
        let rest = self.text.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        let budget = if self.pos == 0 {
            self.first_budget
        } else {
            MAX_WORD - WORD_OVERHEAD
        };
        let mut end = 0;
        let mut q = 0;
        for (i, c) in rest.char_indices() {
            let next = i + c.len_utf8();
            let fits = match self.mode {
                WordMode::B => postwire_core::base64::encoded_len(next) <= budget,
                WordMode::Q => {
                    let mut tmp = [0u8; 4];
                    let cost: usize = c.encode_utf8(&mut tmp).bytes().map(q_cost).sum();
                    if q + cost <= budget {
                        q += cost;
                        true
                    } else {
                        false
                    }
                }
            };
            if !fits {
                break;
            }
            end = next;
        }
        if end == 0 {
            // The first word's budget was too small for one character: take one anyway
            // (at most 4 bytes → 12 Q characters).
            end = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        let word = rest.get(..end)?;
        self.pos += end;
        Some(word)
    }
}

fn encode_payload(mode: WordMode, word: &[u8], out: &mut [u8; 64]) -> usize {
    match mode {
        WordMode::B => postwire_core::base64::encode_into(word, out).unwrap_or(0),
        WordMode::Q => {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            let mut o = 0;
            for &b in word {
                let unit: &[u8] = if b == b' ' {
                    b"_"
                } else if q_cost(b) == 1 {
                    core::slice::from_ref(&b)
                } else {
                    let hi = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
                    let lo = HEX.get(usize::from(b & 15)).copied().unwrap_or(b'0');
                    &[b'=', hi, lo]
                };
                if let Some(d) = out.get_mut(o..o + unit.len()) {
                    d.copy_from_slice(unit);
                    o += unit.len();
                }
            }
            o
        }
    }
}

/// Write `text` as RFC 2047 encoded words (UTF-8; B or Q, whichever is shorter in total, B on
/// a tie;
/// each word at most 75 characters; never split inside a character), one token per word.
pub(crate) fn encoded_words<S: Sink + ?Sized>(f: &mut Fold<'_, S>, text: &str) {
    let first_budget = if f.first {
        FOLD_AT
            .saturating_sub(f.col + 1 + WORD_OVERHEAD)
            .clamp(8, MAX_WORD - WORD_OVERHEAD)
    } else {
        MAX_WORD - WORD_OVERHEAD
    };
    let total = |mode| -> usize {
        WordSplit {
            text,
            pos: 0,
            mode,
            first_budget,
        }
        .map(|w| WORD_OVERHEAD + payload_len(mode, w.as_bytes()))
        .sum()
    };
    let mode = if total(WordMode::Q) < total(WordMode::B) {
        WordMode::Q
    } else {
        WordMode::B
    };
    let letter: &[u8] = if mode == WordMode::B { b"B" } else { b"Q" };
    let split = WordSplit {
        text,
        pos: 0,
        mode,
        first_budget,
    };
    for word in split {
        let mut buf = [0u8; 64];
        let n = encode_payload(mode, word.as_bytes(), &mut buf);
        f.token(&[
            b"=?utf-8?",
            letter,
            b"?",
            buf.get(..n).unwrap_or_default(),
            b"?=",
        ]);
    }
}

/// Whether unstructured text must be written as encoded words.
fn needs_words(text: &str) -> bool {
    !text.is_ascii()
        || text.contains("=?")
        || text.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
        || text.split(' ').any(|w| w.len() > MAX_TOKEN)
}

/// Write an unstructured value (Subject, extra headers): plain when it is ASCII that folds,
/// encoded words otherwise.
pub(crate) fn unstructured<S: Sink + ?Sized>(f: &mut Fold<'_, S>, text: &str) {
    let text = text.trim_matches(|c| c == ' ' || c == '\t');
    if needs_words(text) {
        encoded_words(f, text);
    } else {
        for w in text.split(' ') {
            f.token(&[w.as_bytes()]);
        }
    }
}

/// Write a display name: atoms, a quoted string, or encoded words.
fn phrase<S: Sink + ?Sized>(f: &mut Fold<'_, S>, name: &str) {
    let name = name.trim();
    if needs_words(name) {
        encoded_words(f, name);
    } else if name.bytes().all(|b| is_atext(b) || b == b' ') {
        for w in name.split(' ').filter(|w| !w.is_empty()) {
            f.token(&[w.as_bytes()]);
        }
    } else {
        // Quoted string, as one token; `"` and `\` escaped.
        quoted_token(f, name);
    }
}

fn quoted_token<S: Sink + ?Sized>(f: &mut Fold<'_, S>, s: &str) {
    let escapes = s.bytes().filter(|&b| b == b'"' || b == b'\\').count();
    // Emit as one token: compute its length, then write piecewise.
    let len = s.len() + escapes + 2;
    f.token_with_len(len, |sink| {
        sink.put(b"\"");
        for b in s.bytes() {
            if b == b'"' || b == b'\\' {
                sink.put(b"\\");
            }
            sink.put(core::slice::from_ref(&b));
        }
        sink.put(b"\"");
    });
}

impl<S: Sink + ?Sized> Fold<'_, S> {
    /// Like [`Fold::token`] for a token written by a closure; `len` must be its length.
    pub(crate) fn token_with_len(&mut self, len: usize, write: impl FnOnce(&mut S)) {
        if !self.first && self.col + 1 + len > FOLD_AT {
            self.s.put(b"\r\n ");
            self.col = 1;
        } else {
            self.s.put(b" ");
            self.col += 1;
        }
        write(self.s);
        self.col += len;
        self.first = false;
    }
}

/// Write an address list header (`From`, `To`, `Cc`, `Reply-To`).
pub(crate) fn address_list<S: Sink + ?Sized>(
    s: &mut S,
    name: &str,
    list: &[Mailbox<'_>],
    smtputf8: bool,
) -> Result<(), MimeError> {
    if list.is_empty() {
        return Ok(());
    }
    for m in list {
        check_address(m.address, smtputf8)?;
        if let Some(n) = m.name {
            check_value(n.as_bytes())?;
        }
    }
    let mut f = Fold::start(s, name);
    for (i, m) in list.iter().enumerate() {
        let comma: &[u8] = if i + 1 < list.len() { b"," } else { b"" };
        match m.name.map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) => {
                phrase(&mut f, n);
                f.token(&[b"<", m.address.as_bytes(), b">", comma]);
            }
            None => f.token(&[m.address.as_bytes(), comma]),
        }
    }
    f.end();
    Ok(())
}

/// Write an unstructured header after validating name and value.
pub(crate) fn text_header<S: Sink + ?Sized>(
    s: &mut S,
    name: &str,
    value: &str,
) -> Result<(), MimeError> {
    check_name(name)?;
    check_value(value.as_bytes())?;
    let mut f = Fold::start(s, name);
    unstructured(&mut f, value);
    f.end();
    Ok(())
}

/// Write a header of msg-ids (`In-Reply-To`, `References`), one token per id.
pub(crate) fn id_list<S: Sink + ?Sized>(
    s: &mut S,
    name: &str,
    ids: &[&str],
) -> Result<(), MimeError> {
    if ids.is_empty() {
        return Ok(());
    }
    for id in ids {
        check_msg_id(id)?;
    }
    let mut f = Fold::start(s, name);
    for id in ids {
        f.token(&[id.as_bytes()]);
    }
    f.end();
    Ok(())
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31) (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// Write `Date: Thu, 1 Jan 1970 00:00:00 +0000` (RFC 5322 §3.3) for the sender's local time.
pub(crate) fn date_header<S: Sink + ?Sized>(s: &mut S, date: Date) -> Result<(), MimeError> {
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let off = i64::from(date.offset_minutes);
    if off.abs() >= 100 * 60 {
        return Err(MimeError::InvalidHeader);
    }
    let local = date
        .unix
        .checked_add(off * 60)
        .ok_or(MimeError::InvalidHeader)?;
    let days = local.div_euclid(86_400);
    let secs = local.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        return Err(MimeError::InvalidHeader);
    }
    let wd = WD
        .get(usize::try_from(days.rem_euclid(7)).unwrap_or(0))
        .copied()
        .unwrap_or("Thu");
    let mo = MO
        .get(usize::try_from(m).unwrap_or(1).saturating_sub(1))
        .copied()
        .unwrap_or("Jan");
    let sign = if off < 0 { '-' } else { '+' };
    let _ = write!(
        FmtSink(s),
        "Date: {wd}, {d} {mo} {y} {:02}:{:02}:{:02} {sign}{:02}{:02}\r\n",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        off.abs() / 60,
        off.abs() % 60
    );
    Ok(())
}

fn is_attr_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b)
}

/// Write `; name=value` parameters after the previous token: a quoted string when the value
/// is short printable ASCII, RFC 2231 `name*0*=utf-8''%XX...` sections otherwise.
pub(crate) fn param<S: Sink + ?Sized>(
    f: &mut Fold<'_, S>,
    name: &str,
    value: &str,
) -> Result<(), MimeError> {
    check_value(value.as_bytes())?;
    f.glue(b";");
    let plain =
        value.is_ascii() && value.len() <= 60 && !value.bytes().any(|b| b < 0x20 || b == 0x7f);
    if plain {
        if !value.is_empty() && value.bytes().all(is_token_char) {
            f.token(&[name.as_bytes(), b"=", value.as_bytes()]);
        } else {
            let escapes = value.bytes().filter(|&b| b == b'"' || b == b'\\').count();
            f.token_with_len(name.len() + 3 + value.len() + escapes, |s| {
                s.put(name.as_bytes());
                s.put(b"=\"");
                for b in value.bytes() {
                    if b == b'"' || b == b'\\' {
                        s.put(b"\\");
                    }
                    s.put(core::slice::from_ref(&b));
                }
                s.put(b"\"");
            });
        }
        return Ok(());
    }
    // RFC 2231: sections of at most ~60 encoded characters, never splitting a %XX.
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = value.as_bytes();
    let cost = |b: u8| if is_attr_char(b) { 1 } else { 3 };
    let single = bytes.iter().map(|&b| cost(b)).sum::<usize>() <= 60;
    let mut pos = 0;
    let mut section = 0u32;
    while pos < bytes.len() || section == 0 {
        let mut enc = [0u8; 72];
        let mut n = 0;
        let prefix: &[u8] = if section == 0 { b"utf-8''" } else { b"" };
        while let Some(&b) = bytes.get(pos) {
            let unit_len = cost(b);
            // Never split a character across sections: some decoders (mail-parser among
            // them) convert each section on its own.
            if b & 0xC0 != 0x80 {
                let char_len = value
                    .get(pos..)
                    .and_then(|r| r.chars().next())
                    .map_or(1, char::len_utf8);
                let char_cost: usize = bytes
                    .get(pos..pos + char_len)
                    .unwrap_or_default()
                    .iter()
                    .map(|&c| cost(c))
                    .sum();
                if n > 0 && n + char_cost > 60 {
                    break;
                }
            }
            if unit_len == 1 {
                if let Some(d) = enc.get_mut(n) {
                    *d = b;
                }
            } else if let Some(d) = enc.get_mut(n..n + 3) {
                d.copy_from_slice(&[
                    b'%',
                    HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'),
                    HEX.get(usize::from(b & 15)).copied().unwrap_or(b'0'),
                ]);
            }
            n += unit_len;
            pos += 1;
        }
        let mut idx = [0u8; 10];
        let idx_len = {
            let mut v = section;
            let mut digits = [0u8; 10];
            let mut k = 0;
            loop {
                if let Some(d) = digits.get_mut(k) {
                    *d = b'0' + (v % 10) as u8;
                }
                k += 1;
                v /= 10;
                if v == 0 {
                    break;
                }
            }
            for j in 0..k {
                if let (Some(d), Some(&s)) = (idx.get_mut(j), digits.get(k - 1 - j)) {
                    *d = s;
                }
            }
            k
        };
        if section > 0 {
            f.glue(b";");
        }
        let idx = if single {
            &[][..]
        } else {
            idx.get(..idx_len).unwrap_or_default()
        };
        f.token(&[
            name.as_bytes(),
            b"*",
            idx,
            if single { b"=" } else { b"*=" },
            prefix,
            enc.get(..n).unwrap_or_default(),
        ]);
        section += 1;
        if pos >= bytes.len() {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec::Vec;

    struct VecSink(Vec<u8>);
    impl Sink for VecSink {
        fn put(&mut self, b: &[u8]) {
            self.0.extend_from_slice(b);
        }
    }

    fn render(f: impl FnOnce(&mut VecSink)) -> String {
        let mut s = VecSink(Vec::new());
        f(&mut s);
        String::from_utf8(s.0).unwrap()
    }

    #[test]
    fn dates() {
        let d = |unix, off| {
            render(|s| {
                date_header(
                    s,
                    Date {
                        unix,
                        offset_minutes: off,
                    },
                )
                .unwrap()
            })
        };
        assert_eq!(d(0, 0), "Date: Thu, 1 Jan 1970 00:00:00 +0000\r\n");
        assert_eq!(
            d(1_795_395_051, 0),
            "Date: Mon, 23 Nov 2026 00:50:51 +0000\r\n"
        );
        assert_eq!(
            d(951_782_400, 60),
            "Date: Tue, 29 Feb 2000 01:00:00 +0100\r\n"
        );
        assert_eq!(d(0, -330), "Date: Wed, 31 Dec 1969 18:30:00 -0530\r\n");
        let mut s = VecSink(Vec::new());
        assert!(
            date_header(
                &mut s,
                Date {
                    unix: 0,
                    offset_minutes: 6000
                }
            )
            .is_err()
        );
    }

    #[test]
    fn folding_and_words() {
        let subject =
            "Überwachung: Temperatur zu hoch in Halle 3 — bitte prüfen ✓✓✓✓✓ und noch mehr Text";
        let out = render(|s| text_header(s, "Subject", subject).unwrap());
        for line in out.split("\r\n") {
            assert!(line.len() <= 78, "{line}");
        }
        for word in out.split(['\r', '\n', ' ']).filter(|w| w.starts_with("=?")) {
            assert!(word.len() <= MAX_WORD, "{word}");
        }
        let ascii = "a ".repeat(100);
        let out = render(|s| text_header(s, "Subject", &ascii).unwrap());
        assert!(out.lines().all(|l| l.len() <= 78));
        assert_eq!(
            out.replace("\r\n", "").trim_end(),
            std::format!("Subject: {}", ascii.trim())
        );
        let mut s = VecSink(Vec::new());
        assert_eq!(
            text_header(&mut s, "Subject", "a\r\nBcc: x"),
            Err(MimeError::InvalidHeader)
        );
        assert_eq!(
            text_header(&mut s, "Bad Name", "x"),
            Err(MimeError::InvalidHeader)
        );
    }

    #[test]
    fn addresses() {
        let list = [
            Mailbox::named("J. Doe", "j@x.org"),
            Mailbox::named("Zoë", "z@x.org"),
            Mailbox::new("plain@x.org"),
        ];
        let out = render(|s| address_list(s, "To", &list, false).unwrap());
        assert_eq!(
            out,
            "To: \"J. Doe\" <j@x.org>, =?utf-8?B?Wm/Dqw==?= <z@x.org>, plain@x.org\r\n"
        );
    }

    #[test]
    fn params() {
        let out = render(|s| {
            let mut f = Fold::start(s, "Content-Disposition");
            f.token(&[b"attachment"]);
            param(&mut f, "filename", "Book about ☕ tables.gif").unwrap();
            f.end();
        });
        assert_eq!(
            out,
            "Content-Disposition: attachment;\r\n filename*=utf-8''Book%20about%20%E2%98%95%20tables.gif\r\n"
        );
        let out = render(|s| {
            let mut f = Fold::start(s, "Content-Type");
            f.token(&[b"text/plain"]);
            param(&mut f, "name", "a \"b\".txt").unwrap();
            f.end();
        });
        assert_eq!(
            out,
            "Content-Type: text/plain; name=\"a \\\"b\\\".txt\"\r\n"
        );
    }
}
