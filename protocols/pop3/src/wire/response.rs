//! Status lines, extended response codes, framing of whole responses and the parsers of the
//! listing lines (STAT, LIST, UIDL).

use core::fmt;

use postwire_core::Status;
use postwire_core::line::find_line;

/// Longest status line (`+OK ...`, `-ERR ...`, `+ challenge`) accepted, terminator included.
///
/// RFC 2449 §4 limits response lines to 512 octets; SASL challenges (RFC 5034) may be longer,
/// so twice that is accepted. A longer line is [`ResponseError::LineTooLong`].
pub const MAX_STATUS_LINE: usize = 1024;

/// The status indicator at the start of a response line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Indicator {
    /// `+OK`: success.
    Ok,
    /// `-ERR`: failure.
    Err,
    /// `+` followed by a space (or nothing): a SASL continuation (RFC 5034) carrying a
    /// base64 challenge.
    Continue,
}

impl Indicator {
    /// `OK`, `ERR` or `CONTINUE` (the names of the shared corpus).
    pub const fn name(self) -> &'static str {
        match self {
            Indicator::Ok => "OK",
            Indicator::Err => "ERR",
            Indicator::Continue => "CONTINUE",
        }
    }
}

/// Errors of the response parsers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ResponseError {
    /// The line does not start with `+OK`, `-ERR` or `+ `; `offset` is the byte (relative to
    /// the line or input given) where that was noticed.
    Malformed {
        /// Byte offset of the problem.
        offset: usize,
    },
    /// A status line is longer than [`MAX_STATUS_LINE`].
    LineTooLong,
    /// A `+ ` continuation where none may come (outside AUTH, or as the greeting).
    UnexpectedContinuation,
    /// A number is missing, not decimal, or does not fit in a `u64`.
    BadNumber,
    /// A unique-id is empty, longer than [`MAX_UID_LEN`] or has bytes outside 0x21..=0x7E.
    BadUid,
    /// A message number of 0 (they start at 1).
    ZeroMessageNumber,
}

impl fmt::Display for ResponseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResponseError::Malformed { offset } => {
                write!(f, "malformed POP3 response at byte {offset}")
            }
            ResponseError::LineTooLong => write!(
                f,
                "status line longer than {MAX_STATUS_LINE} bytes (RFC 2449 allows 512)"
            ),
            ResponseError::UnexpectedContinuation => {
                f.write_str("'+ ' continuation where none is allowed")
            }
            ResponseError::BadNumber => f.write_str("missing, malformed or too large number"),
            ResponseError::BadUid => f.write_str("invalid unique-id"),
            ResponseError::ZeroMessageNumber => f.write_str("message number 0"),
        }
    }
}

impl core::error::Error for ResponseError {}

/// One parsed status line.
///
/// ```
/// use postwire_pop3::wire::{parse_status_line, Indicator, CodeKind};
///
/// let s = parse_status_line(b"-ERR [IN-USE] Mailbox locked").unwrap();
/// assert_eq!(s.indicator, Indicator::Err);
/// assert_eq!(s.code().map(|c| c.kind()), Some(CodeKind::InUse));
/// assert_eq!(s.message(), b"Mailbox locked");
/// assert_eq!(parse_status_line(b"+OK").unwrap().text, None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusLine<'a> {
    /// `+OK`, `-ERR` or `+`.
    pub indicator: Indicator,
    /// Everything after the indicator and its space; `None` when the line is only the
    /// indicator (`+OK`), `Some(b"")` for `+OK ` with a trailing space.
    pub text: Option<&'a [u8]>,
}

impl<'a> StatusLine<'a> {
    /// The text, empty when there is none.
    pub fn text_or_empty(&self) -> &'a [u8] {
        self.text.unwrap_or_default()
    }

    /// The RFC 2449 extended response code at the start of the text, if any (only `+OK` and
    /// `-ERR` lines carry one).
    pub fn code(&self) -> Option<ResponseCode<'a>> {
        if self.indicator == Indicator::Continue {
            return None;
        }
        ResponseCode::parse_prefix(self.text_or_empty()).map(|(c, _)| c)
    }

    /// The text after the extended response code (and the space after it), or the whole text.
    pub fn message(&self) -> &'a [u8] {
        let text = self.text_or_empty();
        if self.indicator == Indicator::Continue {
            return text;
        }
        match ResponseCode::parse_prefix(text) {
            Some((_, rest)) => rest,
            None => text,
        }
    }
}

/// Parses one status line (without its CRLF).
///
/// Accepts `+OK`, `-ERR` (either alone or followed by a space and text; the indicator is
/// case-insensitive) and `+` alone or followed by a space (a SASL continuation). Anything
/// else, e.g. `+OKAY` or `+aaaa`, is [`ResponseError::Malformed`]. Lines longer than
/// [`MAX_STATUS_LINE`] (minus the CRLF) are [`ResponseError::LineTooLong`].
pub fn parse_status_line(line: &[u8]) -> Result<StatusLine<'_>, ResponseError> {
    if line.len() + 2 > MAX_STATUS_LINE {
        return Err(ResponseError::LineTooLong);
    }
    let (indicator, rest) = if let Some(rest) = strip_prefix_ci(line, b"+OK") {
        (Indicator::Ok, rest)
    } else if let Some(rest) = strip_prefix_ci(line, b"-ERR") {
        (Indicator::Err, rest)
    } else if let Some(rest) = line.strip_prefix(b"+") {
        (Indicator::Continue, rest)
    } else {
        return Err(ResponseError::Malformed { offset: 0 });
    };
    let offset = line.len() - rest.len();
    let text = match rest.split_first() {
        None => None,
        Some((b' ', text)) => Some(text),
        Some(_) => return Err(ResponseError::Malformed { offset }),
    };
    if text.is_some_and(|t| t.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0)) {
        let bad = text
            .and_then(|t| t.iter().position(|&b| b == b'\r' || b == b'\n' || b == 0))
            .unwrap_or(0);
        return Err(ResponseError::Malformed {
            offset: offset + 1 + bad,
        });
    }
    Ok(StatusLine { indicator, text })
}

fn strip_prefix_ci<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// The well-known RFC 2449 / RFC 3206 / RFC 6856 extended response codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CodeKind {
    /// `[IN-USE]`: the mailbox is locked by another session; try again later.
    InUse,
    /// `[LOGIN-DELAY]`: logged in too recently; try again after the LOGIN-DELAY interval.
    LoginDelay,
    /// `[SYS/TEMP]`: a temporary system problem (not the credentials).
    SysTemp,
    /// `[SYS/PERM]`: a permanent system problem (not the credentials).
    SysPerm,
    /// `[AUTH]`: the credentials are wrong (RFC 3206).
    Auth,
    /// `[UTF8]`: the command needs UTF-8 mode (RFC 6856).
    Utf8,
    /// Any other code; its text is in [`ResponseCode::as_bytes`].
    Other,
}

impl CodeKind {
    /// The code as written on the wire, `None` for [`CodeKind::Other`].
    pub const fn name(self) -> Option<&'static str> {
        match self {
            CodeKind::InUse => Some("IN-USE"),
            CodeKind::LoginDelay => Some("LOGIN-DELAY"),
            CodeKind::SysTemp => Some("SYS/TEMP"),
            CodeKind::SysPerm => Some("SYS/PERM"),
            CodeKind::Auth => Some("AUTH"),
            CodeKind::Utf8 => Some("UTF8"),
            CodeKind::Other => None,
        }
    }

    /// Whether the same command may succeed later without changing anything
    /// (`IN-USE`, `LOGIN-DELAY`, `SYS/TEMP`).
    pub const fn is_transient(self) -> bool {
        matches!(
            self,
            CodeKind::InUse | CodeKind::LoginDelay | CodeKind::SysTemp
        )
    }
}

impl fmt::Display for CodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name().unwrap_or("other"))
    }
}

/// An extended response code (RFC 2449 §8): `[` level *( `/` level ) `]`, each level made of
/// letters, digits and `-`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseCode<'a> {
    raw: &'a [u8],
}

impl<'a> ResponseCode<'a> {
    /// Parses a code at the start of `text`; returns it and the text after `]` and one space.
    ///
    /// ```
    /// use postwire_pop3::wire::{ResponseCode, CodeKind};
    /// let (c, rest) = ResponseCode::parse_prefix(b"[SYS/TEMP] try later").unwrap();
    /// assert_eq!((c.as_bytes(), c.kind(), rest), (&b"SYS/TEMP"[..], CodeKind::SysTemp, &b"try later"[..]));
    /// assert!(ResponseCode::parse_prefix(b"[bad code] x").is_none());
    /// ```
    pub fn parse_prefix(text: &'a [u8]) -> Option<(Self, &'a [u8])> {
        let inner_and_rest = text.strip_prefix(b"[")?;
        let close = inner_and_rest.iter().position(|&b| b == b']')?;
        let raw = inner_and_rest.get(..close)?;
        let valid = !raw.is_empty()
            && raw.split(|&b| b == b'/').all(|level| {
                !level.is_empty()
                    && level
                        .iter()
                        .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !valid {
            return None;
        }
        let rest = inner_and_rest.get(close + 1..).unwrap_or_default();
        let rest = rest.strip_prefix(b" ").unwrap_or(rest);
        Some((ResponseCode { raw }, rest))
    }

    /// The code without brackets, e.g. `SYS/TEMP`.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    /// The well-known code this is (case-insensitive), or [`CodeKind::Other`].
    pub fn kind(&self) -> CodeKind {
        [
            CodeKind::InUse,
            CodeKind::LoginDelay,
            CodeKind::SysTemp,
            CodeKind::SysPerm,
            CodeKind::Auth,
            CodeKind::Utf8,
        ]
        .into_iter()
        .find(|k| {
            k.name()
                .is_some_and(|n| n.as_bytes().eq_ignore_ascii_case(self.raw))
        })
        .unwrap_or(CodeKind::Other)
    }
}

/// How the response to a command is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Framing {
    /// The server greeting: one `+OK` or `-ERR` line (no continuation).
    Greeting,
    /// One line (`+OK` or `-ERR`).
    SingleLine,
    /// `+OK` starts a multi-line response ended by a line holding only `.`; `-ERR` is one
    /// line. (LIST and UIDL without argument, RETR, TOP, CAPA, AUTH without argument.)
    MultiLine,
    /// AUTH with a mechanism: `+ ` continuations until a `+OK` or `-ERR` line.
    Auth,
}

/// Which framing the response to `command` (a command line without CRLF, e.g. `LIST`,
/// `RETR 1`, `AUTH PLAIN`, or the pseudo-command `greeting`) has.
///
/// ```
/// use postwire_pop3::wire::{framing_for, Framing};
/// assert_eq!(framing_for(b"LIST"), Framing::MultiLine);
/// assert_eq!(framing_for(b"list 1"), Framing::SingleLine);
/// assert_eq!(framing_for(b"AUTH PLAIN"), Framing::Auth);
/// assert_eq!(framing_for(b"greeting"), Framing::Greeting);
/// ```
pub fn framing_for(command: &[u8]) -> Framing {
    let command = command.trim_ascii();
    let (verb, args) = match command.iter().position(|&b| b == b' ') {
        Some(sp) => (
            command.get(..sp).unwrap_or_default(),
            command.get(sp + 1..).unwrap_or_default().trim_ascii(),
        ),
        None => (command, &b""[..]),
    };
    let is = |name: &[u8]| verb.eq_ignore_ascii_case(name);
    if is(b"greeting") {
        Framing::Greeting
    } else if is(b"RETR") || is(b"TOP") || is(b"CAPA") {
        Framing::MultiLine
    } else if is(b"LIST") || is(b"UIDL") || is(b"AUTH") {
        if args.is_empty() {
            Framing::MultiLine
        } else if is(b"AUTH") {
            Framing::Auth
        } else {
            Framing::SingleLine
        }
    } else {
        Framing::SingleLine
    }
}

/// One complete response, borrowed from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Response<'a> {
    /// The first line.
    pub status: StatusLine<'a>,
    /// For a multi-line response: the raw (still dot-stuffed) bytes between the status line
    /// and the terminator line, with their line ends. `None` for single-line responses.
    pub body: Option<&'a [u8]>,
}

impl<'a> Response<'a> {
    /// Whether this is a multi-line response.
    pub fn is_multiline(&self) -> bool {
        self.body.is_some()
    }

    /// The lines of a multi-line response, dot-unstuffed, without line ends (empty for a
    /// single-line response).
    pub fn lines(&self) -> BodyLines<'a> {
        BodyLines {
            rest: self.body.unwrap_or_default(),
        }
    }

    /// The size of the unstuffed body of a multi-line response, line ends included (what
    /// Python's poplib reports as `octets`).
    pub fn octets(&self) -> u64 {
        let mut n: u64 = 0;
        let mut rest = self.body.unwrap_or_default();
        while let Some((_, total)) = find_line(rest) {
            let line = rest.get(..total).unwrap_or_default();
            let dot = u64::from(line.first() == Some(&b'.'));
            n = n.saturating_add(total as u64 - dot);
            rest = rest.get(total..).unwrap_or_default();
        }
        n
    }
}

/// Iterator over the unstuffed lines of a multi-line response body.
#[derive(Clone, Debug)]
pub struct BodyLines<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for BodyLines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (len, total) = find_line(self.rest)?;
        let line = self.rest.get(..len).unwrap_or_default();
        self.rest = self.rest.get(total..).unwrap_or_default();
        Some(unstuff_line(line))
    }
}

/// Removes the byte-stuffing dot of one multi-line response line (RFC 1939 §3).
pub fn unstuff_line(line: &[u8]) -> &[u8] {
    line.strip_prefix(b".").unwrap_or(line)
}

/// Whether `line` (without its line end) is the terminator of a multi-line response.
pub fn is_terminator(line: &[u8]) -> bool {
    line == b"."
}

/// Frames and parses one complete response from the front of `input`.
///
/// Returns `Ok(Status::Complete((consumed, response)))`, `Ok(Status::Partial)` when the input
/// ends inside the response (read more and call again with the same input plus the new
/// bytes), or an error. Lines end in CRLF or, leniently, a bare LF. The status line is
/// bounded by [`MAX_STATUS_LINE`]; the lines of a multi-line body are not (a message line
/// may be long), but the caller's input is.
///
/// ```
/// use postwire_pop3::wire::{parse_response, Framing, Indicator, Status};
///
/// let input = b"+OK 2 messages\r\n1 120\r\n2 ..x\r\n.\r\n+OK";
/// let Ok(Status::Complete((used, r))) = parse_response(input, Framing::MultiLine) else { panic!() };
/// assert_eq!(used, input.len() - 3);
/// assert_eq!(r.status.indicator, Indicator::Ok);
/// assert_eq!(r.lines().collect::<Vec<_>>(), [&b"1 120"[..], b"2 ..x"]);
/// ```
pub fn parse_response(
    input: &[u8],
    framing: Framing,
) -> Result<Status<(usize, Response<'_>)>, ResponseError> {
    let Some((len, total)) = find_line(input) else {
        if input.len() >= MAX_STATUS_LINE {
            return Err(ResponseError::LineTooLong);
        }
        // Reject a fragment that can never become a status line as early as possible.
        check_indicator_prefix(input)?;
        return Ok(Status::Partial);
    };
    let line = input.get(..len).unwrap_or_default();
    let status = parse_status_line(line)?;
    match (status.indicator, framing) {
        (Indicator::Continue, Framing::Auth) => {
            return Ok(Status::Complete((total, Response { status, body: None })));
        }
        (Indicator::Continue, _) => return Err(ResponseError::UnexpectedContinuation),
        (Indicator::Ok, Framing::MultiLine) => {}
        _ => return Ok(Status::Complete((total, Response { status, body: None }))),
    }
    let body_start = total;
    let mut pos = total;
    loop {
        let rest = input.get(pos..).unwrap_or_default();
        let Some((len, total)) = find_line(rest) else {
            return Ok(Status::Partial);
        };
        if is_terminator(rest.get(..len).unwrap_or_default()) {
            let body = input.get(body_start..pos).unwrap_or_default();
            return Ok(Status::Complete((
                pos + total,
                Response {
                    status,
                    body: Some(body),
                },
            )));
        }
        pos += total;
    }
}

/// Fails early when a partial first line cannot start with a status indicator.
fn check_indicator_prefix(input: &[u8]) -> Result<(), ResponseError> {
    let ok = [&b"+OK"[..], b"-ERR", b"+"].iter().any(|ind| {
        let n = input.len().min(ind.len());
        input
            .get(..n)
            .zip(ind.get(..n))
            .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
    });
    let ok = ok
        && match input.first() {
            // "+OK" needs a space or the line end after it; "+x" is only valid as "+OK..".
            Some(b'+') => match input.get(1) {
                None | Some(b' ' | b'\r') => true,
                Some(b'O' | b'o') => match input.get(2) {
                    None | Some(b'K' | b'k') => {
                        input.get(3).is_none_or(|&b| b == b' ' || b == b'\r')
                    }
                    _ => false,
                },
                _ => false,
            },
            Some(b'-') => input.get(4).is_none_or(|&b| b == b' ' || b == b'\r'),
            _ => true,
        };
    if ok || input.is_empty() {
        Ok(())
    } else {
        Err(ResponseError::Malformed { offset: 0 })
    }
}

/// Parses a decimal `u64` (1 to 20 digits, no sign, no overflow).
///
/// ```
/// use postwire_pop3::wire::parse_u64;
/// assert_eq!(parse_u64(b"4294967800"), Ok(4294967800));
/// assert!(parse_u64(b"18446744073709551616").is_err());
/// assert!(parse_u64(b"").is_err());
/// ```
pub fn parse_u64(digits: &[u8]) -> Result<u64, ResponseError> {
    if digits.is_empty() || digits.len() > 20 {
        return Err(ResponseError::BadNumber);
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return Err(ResponseError::BadNumber);
        }
        acc.checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or(ResponseError::BadNumber)
    })
}

/// Splits off the first space-separated word (leading spaces skipped).
fn word(s: &[u8]) -> (&[u8], &[u8]) {
    let s = s.trim_ascii_start();
    match s.iter().position(|&b| b == b' ' || b == b'\t') {
        Some(i) => (
            s.get(..i).unwrap_or_default(),
            s.get(i + 1..).unwrap_or_default(),
        ),
        None => (s, &b""[..]),
    }
}

/// Two numbers at the start of `text` (anything after them is ignored, RFC 1939 allows it).
fn two_numbers(text: &[u8]) -> Result<(u64, u64), ResponseError> {
    let (a, rest) = word(text);
    let (b, _) = word(rest);
    Ok((parse_u64(a)?, parse_u64(b)?))
}

/// The drop listing of STAT: `count size` (message count and mailbox size in octets).
///
/// ```
/// use postwire_pop3::wire::parse_stat;
/// assert_eq!(parse_stat(b"3 4294967800"), Ok((3, 4294967800)));
/// ```
pub fn parse_stat(text: &[u8]) -> Result<(u64, u64), ResponseError> {
    two_numbers(text)
}

/// A scan listing (a LIST line, or the text of `LIST n`): `msg size`.
///
/// ```
/// use postwire_pop3::wire::parse_scan_listing;
/// assert_eq!(parse_scan_listing(b"2 200"), Ok((2, 200)));
/// assert!(parse_scan_listing(b"0 200").is_err());
/// ```
pub fn parse_scan_listing(text: &[u8]) -> Result<(u64, u64), ResponseError> {
    let (msg, size) = two_numbers(text)?;
    if msg == 0 {
        return Err(ResponseError::ZeroMessageNumber);
    }
    Ok((msg, size))
}

/// Longest unique-id (RFC 1939 §7: 1 to 70 characters in 0x21..=0x7E).
pub const MAX_UID_LEN: usize = 70;

/// A unique-id listing (a UIDL line, or the text of `UIDL n`): `msg uid`.
///
/// ```
/// use postwire_pop3::wire::parse_uid_listing;
/// assert_eq!(parse_uid_listing(b"1 000000016b023317"), Ok((1, &b"000000016b023317"[..])));
/// assert!(parse_uid_listing(b"1 ").is_err());
/// ```
pub fn parse_uid_listing(text: &[u8]) -> Result<(u64, &[u8]), ResponseError> {
    let (msg, rest) = word(text);
    let msg = parse_u64(msg)?;
    if msg == 0 {
        return Err(ResponseError::ZeroMessageNumber);
    }
    let (uid, _) = word(rest);
    if uid.is_empty() || uid.len() > MAX_UID_LEN || !uid.iter().all(|&b| (0x21..=0x7e).contains(&b))
    {
        return Err(ResponseError::BadUid);
    }
    Ok((msg, uid))
}

/// The APOP timestamp of a greeting (RFC 1939 §7): the first `<...>` in the text, angle
/// brackets included, holding no spaces, controls or further angle brackets.
///
/// ```
/// use postwire_pop3::wire::apop_timestamp;
/// assert_eq!(
///     apop_timestamp(b"POP3 server ready <1896.697170952@dbc.mtview.ca.us>"),
///     Some(&b"<1896.697170952@dbc.mtview.ca.us>"[..])
/// );
/// assert_eq!(apop_timestamp(b"Dovecot (Debian) ready."), None);
/// ```
pub fn apop_timestamp(text: &[u8]) -> Option<&[u8]> {
    let start = text.iter().position(|&b| b == b'<')?;
    let after = text.get(start + 1..)?;
    let end = after.iter().position(|&b| b == b'>')?;
    let inner = after.get(..end)?;
    if inner.is_empty()
        || !inner
            .iter()
            .all(|&b| (0x21..=0x7e).contains(&b) && b != b'<')
    {
        return None;
    }
    text.get(start..start + end + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        let s = parse_status_line(b"+OK 2 200").unwrap();
        assert_eq!((s.indicator, s.text), (Indicator::Ok, Some(&b"2 200"[..])));
        assert_eq!(parse_status_line(b"+OK ").unwrap().text, Some(&b""[..]));
        assert_eq!(
            parse_status_line(b"-ERR").unwrap(),
            StatusLine {
                indicator: Indicator::Err,
                text: None
            }
        );
        assert_eq!(
            parse_status_line(b"+ PDc3@vm>").unwrap().indicator,
            Indicator::Continue
        );
        assert_eq!(
            parse_status_line(b"+").unwrap(),
            StatusLine {
                indicator: Indicator::Continue,
                text: None
            }
        );
        assert_eq!(
            parse_status_line(b"+ok fine").unwrap().indicator,
            Indicator::Ok
        );
        for bad in [
            &b"+OKAY"[..],
            b"+aaaa",
            b"OK",
            b"",
            b"-ERRx",
            b"* OK",
            b"+OK a\0b",
        ] {
            assert!(parse_status_line(bad).is_err(), "{bad:?}");
        }
        let long = [b'a'; 1100];
        let mut line = b"+OK ".to_vec();
        line.extend_from_slice(&long);
        assert_eq!(parse_status_line(&line), Err(ResponseError::LineTooLong));
    }

    #[test]
    fn codes() {
        let s = parse_status_line(b"-ERR [AUTH] Authentication failed.").unwrap();
        assert_eq!(s.code().unwrap().kind(), CodeKind::Auth);
        assert_eq!(s.message(), b"Authentication failed.");
        let s = parse_status_line(b"-ERR [login-delay] wait").unwrap();
        assert_eq!(s.code().unwrap().kind(), CodeKind::LoginDelay);
        let s = parse_status_line(b"-ERR [X-VENDOR/SUB] y").unwrap();
        assert_eq!(s.code().unwrap().kind(), CodeKind::Other);
        assert_eq!(s.code().unwrap().as_bytes(), b"X-VENDOR/SUB");
        for no in [
            &b"-ERR [] x"[..],
            b"-ERR [A//B] x",
            b"-ERR [A B] x",
            b"-ERR [open",
        ] {
            assert!(parse_status_line(no).unwrap().code().is_none(), "{no:?}");
        }
        assert!(CodeKind::InUse.is_transient() && !CodeKind::Auth.is_transient());
        assert_eq!(parse_status_line(b"+ [AUTH]").unwrap().code(), None);
    }

    #[test]
    fn framing() {
        assert_eq!(framing_for(b"UIDL"), Framing::MultiLine);
        assert_eq!(framing_for(b"UIDL 3"), Framing::SingleLine);
        assert_eq!(framing_for(b"TOP 1 0"), Framing::MultiLine);
        assert_eq!(framing_for(b"AUTH"), Framing::MultiLine);
        assert_eq!(framing_for(b"STAT"), Framing::SingleLine);
        assert_eq!(framing_for(b"any"), Framing::SingleLine);
        assert_eq!(framing_for(b" retr 1 "), Framing::MultiLine);
    }

    #[test]
    fn responses() {
        assert_eq!(
            parse_response(b"", Framing::SingleLine),
            Ok(Status::Partial)
        );
        assert_eq!(
            parse_response(b"-ERR", Framing::SingleLine),
            Ok(Status::Partial)
        );
        assert_eq!(
            parse_response(b"+O", Framing::SingleLine),
            Ok(Status::Partial)
        );
        assert!(parse_response(b"+a", Framing::SingleLine).is_err());
        assert_eq!(
            parse_response(b"+OK\r", Framing::SingleLine),
            Ok(Status::Partial)
        );
        assert_eq!(
            parse_response(b"-ERR\r", Framing::SingleLine),
            Ok(Status::Partial)
        );
        assert!(parse_response(b"-ERRx", Framing::SingleLine).is_err());
        assert!(parse_response(b"hello", Framing::SingleLine).is_err());
        let r = parse_response(b"-ERR no\r\n1 2\r\n", Framing::MultiLine).unwrap();
        assert!(matches!(
            r,
            Status::Complete((9, Response { body: None, .. }))
        ));
        let r = parse_response(b"+OK\r\n..\r\n...x\r\n.\r\n", Framing::MultiLine).unwrap();
        let Status::Complete((n, resp)) = r else {
            panic!()
        };
        assert_eq!(n, 18);
        assert_eq!(
            resp.lines().collect::<std::vec::Vec<_>>(),
            [&b"."[..], b"..x"]
        );
        assert_eq!(resp.octets(), 3 + 5);
        assert_eq!(
            parse_response(b"+OK\r\n1 2\r\n", Framing::MultiLine),
            Ok(Status::Partial)
        );
        assert_eq!(
            parse_response(b"+ abc\r\n", Framing::SingleLine),
            Err(ResponseError::UnexpectedContinuation)
        );
        assert_eq!(
            parse_response(b"+ Hola\n", Framing::Greeting),
            Err(ResponseError::UnexpectedContinuation)
        );
        assert!(parse_response(&[b'+'; 2000], Framing::SingleLine).is_err());
    }

    #[test]
    fn listings() {
        assert_eq!(parse_stat(b"20 600"), Ok((20, 600)));
        assert_eq!(parse_stat(b"20 600 extra"), Ok((20, 600)));
        assert_eq!(parse_stat(b"20"), Err(ResponseError::BadNumber));
        assert_eq!(parse_stat(b"-1 2"), Err(ResponseError::BadNumber));
        assert_eq!(
            parse_stat(b"99999999999999999999 1"),
            Err(ResponseError::BadNumber)
        );
        assert_eq!(parse_u64(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_scan_listing(b"2 4294967400"), Ok((2, 4294967400)));
        assert_eq!(parse_uid_listing(b"1 0"), Ok((1, &b"0"[..])));
        assert_eq!(
            parse_uid_listing(&[b'1', b' ', 0x7f]),
            Err(ResponseError::BadUid)
        );
        let mut long = b"1 ".to_vec();
        long.extend_from_slice(&[b'x'; 71]);
        assert_eq!(parse_uid_listing(&long), Err(ResponseError::BadUid));
        assert_eq!(
            parse_uid_listing(b"0 x"),
            Err(ResponseError::ZeroMessageNumber)
        );
    }

    #[test]
    fn timestamps() {
        assert_eq!(apop_timestamp(b"x <timestamp>"), Some(&b"<timestamp>"[..]));
        assert_eq!(apop_timestamp(b"<>"), None);
        assert_eq!(apop_timestamp(b"<a b>"), None);
        assert_eq!(apop_timestamp(b"<abc"), None);
        assert_eq!(
            apop_timestamp(b"ready <1972.987654321@curl>"),
            Some(&b"<1972.987654321@curl>"[..])
        );
    }
}
