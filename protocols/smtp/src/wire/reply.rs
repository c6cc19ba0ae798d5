//! SMTP reply parsing (RFC 5321 §4.2) and enhanced status codes (RFC 3463).

use core::fmt;

use super::Status;

/// Default upper bound for one reply line, in octets, *including* its line terminator.
///
/// RFC 5321 §4.5.3.1.5 limits a reply line to 512 octets, but some real servers send longer
/// lines (long EHLO keyword lines, verbose error texts), so the decoder accepts up to the
/// 1000 octets RFC 5321 allows for a command or text line. A longer line is
/// [`ReplyError::LineTooLong`], even before its terminator arrives.
pub const MAX_REPLY_LINE: usize = 1000;

/// Default upper bound for the number of lines in one (multi-line) reply.
///
/// A reply whose 64th line is not its last one is [`ReplyError::TooManyLines`]. Sessions that
/// want to accept longer EHLO replies feed them line by line with [`next_reply_line`] instead
/// of buffering the whole reply.
pub const MAX_REPLY_LINES: usize = 64;

/// Bounds applied while framing replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReplyLimits {
    /// Longest accepted line in octets, including the terminator (see [`MAX_REPLY_LINE`]).
    pub max_line_len: usize,
    /// Most lines accepted in one reply (see [`MAX_REPLY_LINES`]).
    pub max_lines: usize,
}

impl ReplyLimits {
    /// The default limits: [`MAX_REPLY_LINE`] and [`MAX_REPLY_LINES`].
    pub const DEFAULT: Self = Self {
        max_line_len: MAX_REPLY_LINE,
        max_lines: MAX_REPLY_LINES,
    };
}

impl Default for ReplyLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why a reply could not be parsed. Every variant is fatal for the session: the byte stream
/// can no longer be trusted to be in step with the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ReplyError {
    /// The bytes do not follow the reply grammar. `offset` is the position of the first
    /// offending byte, relative to the start of the slice given to the parser.
    Malformed {
        /// Position of the offending byte.
        offset: usize,
    },
    /// A line (with or without its terminator yet) is longer than the line limit.
    LineTooLong,
    /// A reply has more lines than the line-count limit.
    TooManyLines,
    /// The lines of one multi-line reply carry different reply codes.
    InconsistentCode,
}

impl ReplyError {
    /// Whether the error leaves the connection unusable. Always `true` for reply errors:
    /// the client cannot tell where the next reply starts.
    pub const fn is_fatal(&self) -> bool {
        true
    }

    fn shifted(self, by: usize) -> Self {
        match self {
            Self::Malformed { offset } => Self::Malformed {
                offset: offset.saturating_add(by),
            },
            other => other,
        }
    }
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed { offset } => write!(f, "malformed SMTP reply at byte {offset}"),
            Self::LineTooLong => f.write_str("SMTP reply line exceeds the line length limit"),
            Self::TooManyLines => f.write_str("SMTP reply has more lines than the limit"),
            Self::InconsistentCode => {
                f.write_str("lines of one SMTP reply carry different reply codes")
            }
        }
    }
}

impl core::error::Error for ReplyError {}

/// A three-digit SMTP reply code (RFC 5321 §4.2).
///
/// Any value from `000` to `999` is syntactically a code; only `2xx`–`5xx` are meaningful
/// (see [`is_valid_class`](Self::is_valid_class)). A client must treat any other code as a
/// protocol failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReplyCode(u16);

impl ReplyCode {
    /// A code from its numeric value; `None` above 999.
    pub const fn new(value: u16) -> Option<Self> {
        if value <= 999 {
            Some(Self(value))
        } else {
            None
        }
    }

    /// The numeric value, e.g. `250`.
    pub const fn value(self) -> u16 {
        self.0
    }

    /// The first digit (`2` to `5` for valid codes; `0`, `1` or `6`–`9` otherwise).
    pub const fn class(self) -> u8 {
        // value <= 999, so the quotient fits in a u8.
        (self.0 / 100) as u8
    }

    /// Whether the first digit is 2, 3, 4 or 5, the only classes RFC 5321 defines.
    pub const fn is_valid_class(self) -> bool {
        matches!(self.class(), 2..=5)
    }

    /// `2xx`: the requested action completed.
    pub const fn is_positive_completion(self) -> bool {
        self.class() == 2
    }

    /// `3xx`: accepted, the server waits for more (e.g. `354` after DATA, `334` in AUTH).
    pub const fn is_positive_intermediate(self) -> bool {
        self.class() == 3
    }

    /// `4xx`: transient failure; the same command may succeed later.
    pub const fn is_transient(self) -> bool {
        self.class() == 4
    }

    /// `5xx`: permanent failure.
    pub const fn is_permanent(self) -> bool {
        self.class() == 5
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

/// One parsed reply line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReplyLine<'a> {
    /// The line's reply code.
    pub code: ReplyCode,
    /// `true` when the separator is a space or absent (`250 text`, `250`): the reply's last
    /// line. `false` for `250-text`.
    pub last: bool,
    /// The text after the code and separator, without the line terminator (may be empty).
    pub text: &'a [u8],
}

/// Parse one reply line given *without* its terminator.
///
/// Accepts `CODE SP text`, `CODE "-" text` and a bare `CODE`. The code is three ASCII digits
/// (a fourth digit or a letter is malformed). The text may hold any byte except CR, LF and
/// NUL (UTF-8 is allowed for SMTPUTF8 servers). Line length is not checked here.
pub fn parse_reply_line(line: &[u8]) -> Result<ReplyLine<'_>, ReplyError> {
    let mut value: u16 = 0;
    for i in 0..3 {
        match line.get(i) {
            Some(&b) if b.is_ascii_digit() => value = value * 10 + u16::from(b - b'0'),
            _ => return Err(ReplyError::Malformed { offset: i }),
        }
    }
    let code = ReplyCode(value);
    let (last, text) = match line.get(3) {
        None => (true, &[][..]),
        Some(b' ') => (true, line.get(4..).unwrap_or(&[])),
        Some(b'-') => (false, line.get(4..).unwrap_or(&[])),
        Some(_) => return Err(ReplyError::Malformed { offset: 3 }),
    };
    if let Some(pos) = text.iter().position(|&b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(ReplyError::Malformed { offset: 4 + pos });
    }
    Ok(ReplyLine { code, last, text })
}

/// Find the next line in `input`.
///
/// Returns `(consumed, line)` where `consumed` includes the terminator and `line` excludes it.
/// The terminator is CRLF or, leniently, a bare LF. `Partial` when no LF has arrived yet;
/// [`ReplyError::LineTooLong`] when the line (including its terminator) is, or is bound to
/// become, longer than `max_line_len`.
pub fn frame_line(input: &[u8], max_line_len: usize) -> Result<Status<(usize, &[u8])>, ReplyError> {
    match input.iter().position(|&b| b == b'\n') {
        Some(lf) => {
            let consumed = lf + 1;
            if consumed > max_line_len {
                return Err(ReplyError::LineTooLong);
            }
            let mut line = input.get(..lf).unwrap_or(&[]);
            if let Some((&b'\r', head)) = line.split_last() {
                line = head;
            }
            Ok(Status::Complete((consumed, line)))
        }
        None if input.len() >= max_line_len => Err(ReplyError::LineTooLong),
        None => Ok(Status::Partial),
    }
}

/// Frame and parse the next reply line at the front of `input` (one line at a time, for
/// sessions that process long multi-line replies such as EHLO without buffering them whole).
///
/// Returns `(consumed, line)`; `Partial` until the line's terminator has arrived.
pub fn next_reply_line(
    input: &[u8],
    max_line_len: usize,
) -> Result<Status<(usize, ReplyLine<'_>)>, ReplyError> {
    match frame_line(input, max_line_len)? {
        Status::Partial => Ok(Status::Partial),
        Status::Complete((consumed, line)) => {
            Ok(Status::Complete((consumed, parse_reply_line(line)?)))
        }
    }
}

/// A complete (possibly multi-line) reply, borrowing the input it was parsed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Reply<'a> {
    code: ReplyCode,
    raw: &'a [u8],
    line_count: usize,
}

impl<'a> Reply<'a> {
    /// The reply code (shared by all lines).
    pub const fn code(&self) -> ReplyCode {
        self.code
    }

    /// All bytes of the reply, every line including its terminator.
    pub const fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Number of lines (at least 1).
    pub const fn line_count(&self) -> usize {
        self.line_count
    }

    /// The text of each line (after the code and separator, without terminator), in order.
    pub fn lines(&self) -> ReplyLines<'a> {
        ReplyLines { rest: self.raw }
    }

    /// The text of the first line.
    pub fn first_line(&self) -> &'a [u8] {
        self.lines().next().unwrap_or(&[])
    }

    /// The RFC 3463 enhanced status code, if every line starts with the same one and its class
    /// equals the reply code's first digit (RFC 2034 §4). Only meaningful when the server
    /// announced ENHANCEDSTATUSCODES.
    pub fn enhanced(&self) -> Option<EnhancedCode> {
        let mut found: Option<EnhancedCode> = None;
        for line in self.lines() {
            let (code, _) = EnhancedCode::parse_prefix(line)?;
            if code.class != self.code.class() {
                return None;
            }
            match found {
                None => found = Some(code),
                Some(first) if first != code => return None,
                Some(_) => {}
            }
        }
        found
    }
}

/// Iterator over the line texts of a [`Reply`] (see [`Reply::lines`]).
#[derive(Clone, Debug)]
pub struct ReplyLines<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for ReplyLines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.rest.is_empty() {
            return None;
        }
        let (line, rest) = match self.rest.iter().position(|&b| b == b'\n') {
            Some(lf) => (
                self.rest.get(..lf).unwrap_or(&[]),
                self.rest.get(lf + 1..).unwrap_or(&[]),
            ),
            None => (self.rest, &[][..]),
        };
        self.rest = rest;
        let line = match line.split_last() {
            Some((&b'\r', head)) => head,
            _ => line,
        };
        Some(line.get(4..).unwrap_or(&[]))
    }
}

/// Parse one complete reply from the front of `input` with the default [`ReplyLimits`].
///
/// Returns `Complete((consumed, reply))`, or `Partial` when the input ends before the last
/// line's terminator (not an error: read more and call again with the longer input). All
/// lines must carry the same code ([`ReplyError::InconsistentCode`]).
pub fn parse_reply(input: &[u8]) -> Result<Status<(usize, Reply<'_>)>, ReplyError> {
    parse_reply_with(input, ReplyLimits::DEFAULT)
}

/// [`parse_reply`] with explicit limits.
pub fn parse_reply_with(
    input: &[u8],
    limits: ReplyLimits,
) -> Result<Status<(usize, Reply<'_>)>, ReplyError> {
    let mut pos = 0usize;
    let mut count = 0usize;
    let mut code: Option<ReplyCode> = None;
    loop {
        let rest = input.get(pos..).unwrap_or(&[]);
        let (used, line) = match next_reply_line(rest, limits.max_line_len) {
            Ok(Status::Complete(found)) => found,
            Ok(Status::Partial) => return Ok(Status::Partial),
            Err(e) => return Err(e.shifted(pos)),
        };
        count += 1;
        match code {
            None => code = Some(line.code),
            Some(c) if c != line.code => return Err(ReplyError::InconsistentCode),
            Some(_) => {}
        }
        pos += used;
        if line.last {
            return Ok(Status::Complete((
                pos,
                Reply {
                    code: line.code,
                    raw: input.get(..pos).unwrap_or(&[]),
                    line_count: count,
                },
            )));
        }
        if count >= limits.max_lines {
            return Err(ReplyError::TooManyLines);
        }
    }
}

/// An RFC 3463 enhanced mail system status code, `class.subject.detail`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EnhancedCode {
    /// 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    pub class: u8,
    /// Subject, 0–999.
    pub subject: u16,
    /// Detail, 0–999.
    pub detail: u16,
}

impl EnhancedCode {
    /// Parse an enhanced code at the start of a reply line's text.
    ///
    /// The code must be followed by a space or the end of the text. Returns the code and the
    /// text after it (without the separating space).
    pub fn parse_prefix(text: &[u8]) -> Option<(EnhancedCode, &[u8])> {
        let class = match text.first() {
            Some(&b @ (b'2' | b'4' | b'5')) => b - b'0',
            _ => return None,
        };
        if text.get(1) != Some(&b'.') {
            return None;
        }
        let (subject, after) = number_1_to_3(text.get(2..)?)?;
        let after = after.strip_prefix(b".")?;
        let (detail, after) = number_1_to_3(after)?;
        let rest = match after.split_first() {
            None => after,
            Some((b' ', rest)) => rest,
            Some(_) => return None,
        };
        Some((
            EnhancedCode {
                class,
                subject,
                detail,
            },
            rest,
        ))
    }
}

fn number_1_to_3(s: &[u8]) -> Option<(u16, &[u8])> {
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if !(1..=3).contains(&digits) {
        return None;
    }
    let value = s
        .get(..digits)?
        .iter()
        .fold(0u16, |acc, &b| acc * 10 + u16::from(b - b'0'));
    Some((value, s.get(digits..)?))
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    extern crate std;
    use std::string::ToString;

    use super::*;

    fn complete(input: &[u8]) -> (usize, Reply<'_>) {
        match parse_reply(input) {
            Ok(Status::Complete(r)) => r,
            other => panic!("expected complete reply, got {other:?}"),
        }
    }

    #[test]
    fn single_line() {
        let (n, r) = complete(b"250 OK\r\nrest");
        assert_eq!(n, 8);
        assert_eq!(r.code().value(), 250);
        assert_eq!(r.line_count(), 1);
        assert_eq!(r.first_line(), b"OK");
        assert_eq!(r.raw(), b"250 OK\r\n");
        assert_eq!(r.enhanced(), None);
    }

    #[test]
    fn multi_line_and_bare_lf() {
        let (n, r) = complete(b"250-a\n250-\r\n250 c d\n");
        assert_eq!(n, 20);
        let lines: [&[u8]; 3] = [b"a", b"", b"c d"];
        assert!(r.lines().eq(lines.iter().copied()));
    }

    #[test]
    fn bare_code_ends_reply() {
        let (n, r) = complete(b"250-x\r\n250\r\n250 y");
        assert_eq!(n, 12);
        assert_eq!(r.line_count(), 2);
        assert_eq!(r.lines().nth(1), Some(&b""[..]));
    }

    #[test]
    fn partial() {
        assert_eq!(parse_reply(b""), Ok(Status::Partial));
        assert_eq!(parse_reply(b"25"), Ok(Status::Partial));
        assert_eq!(parse_reply(b"250-a\r\n"), Ok(Status::Partial));
        assert_eq!(parse_reply(b"250 a\r"), Ok(Status::Partial));
    }

    #[test]
    fn malformed() {
        assert_eq!(
            parse_reply(b"2506-me\r\n"),
            Err(ReplyError::Malformed { offset: 3 })
        );
        assert_eq!(
            parse_reply(b"250-a\r\nxyz b\r\n"),
            Err(ReplyError::Malformed { offset: 7 })
        );
        assert_eq!(
            parse_reply(b"25\r\n"),
            Err(ReplyError::Malformed { offset: 2 })
        );
        assert_eq!(
            parse_reply(b"250 a\rb\r\n"),
            Err(ReplyError::Malformed { offset: 5 })
        );
        assert_eq!(
            parse_reply(b"250 a\0\r\n"),
            Err(ReplyError::Malformed { offset: 5 })
        );
        assert_eq!(
            parse_reply(b"250-a\r\n251 b\r\n"),
            Err(ReplyError::InconsistentCode)
        );
    }

    #[test]
    fn invalid_class_is_parseable() {
        let (_, r) = complete(b"199 hi\r\n");
        assert!(!r.code().is_valid_class());
        let (_, r) = complete(b"600 hi\r\n");
        assert!(!r.code().is_valid_class());
        let (_, r) = complete(b"554 no\r\n");
        assert!(r.code().is_valid_class() && r.code().is_permanent());
    }

    #[test]
    fn code_classes() {
        let c = |v| ReplyCode::new(v).unwrap();
        assert!(c(250).is_positive_completion());
        assert!(c(354).is_positive_intermediate());
        assert!(c(421).is_transient());
        assert!(c(550).is_permanent());
        assert_eq!(c(7).to_string(), "007");
        assert_eq!(ReplyCode::new(1000), None);
    }

    #[test]
    fn line_limits() {
        let mut long = [b'a'; 1200];
        long[..4].copy_from_slice(b"250 ");
        assert_eq!(parse_reply(&long), Err(ReplyError::LineTooLong));
        assert_eq!(parse_reply(&long[..999]), Ok(Status::Partial));
        assert_eq!(parse_reply(&long[..1000]), Err(ReplyError::LineTooLong));
        long[998] = b'\r';
        long[999] = b'\n';
        assert!(matches!(
            parse_reply(&long),
            Ok(Status::Complete((1000, _)))
        ));
        long[999] = b'x';
        long[1000] = b'\n';
        assert_eq!(parse_reply(&long), Err(ReplyError::LineTooLong));
    }

    #[test]
    fn too_many_lines() {
        let limits = ReplyLimits {
            max_line_len: 100,
            max_lines: 3,
        };
        assert!(matches!(
            parse_reply_with(b"250-a\r\n250-b\r\n250 c\r\n", limits),
            Ok(Status::Complete(_))
        ));
        assert_eq!(
            parse_reply_with(b"250-a\r\n250-b\r\n250-c\r\n", limits),
            Err(ReplyError::TooManyLines)
        );
    }

    #[test]
    fn enhanced_codes() {
        let (_, r) = complete(b"551-5.7.1 a\r\n551 5.7.1 b\r\n");
        let e = r.enhanced().unwrap();
        assert_eq!(
            e,
            EnhancedCode {
                class: 5,
                subject: 7,
                detail: 1
            }
        );
        assert_eq!(e.to_string(), "5.7.1");
        // One line without the code.
        let (_, r) = complete(b"551-5.7.1 a\r\n551 b\r\n");
        assert_eq!(r.enhanced(), None);
        // Class mismatch.
        let (_, r) = complete(b"250 5.7.1 a\r\n");
        assert_eq!(r.enhanced(), None);
        // Different codes.
        let (_, r) = complete(b"250-2.1.0 a\r\n250 2.1.5 b\r\n");
        assert_eq!(r.enhanced(), None);
        let (_, r) = complete(b"250 2.0.0\r\n");
        assert_eq!(r.enhanced().map(|e| e.detail), Some(0));
    }

    #[test]
    fn enhanced_prefix_grammar() {
        let p = EnhancedCode::parse_prefix;
        assert_eq!(p(b"2.1.0 ok").map(|(_, r)| r), Some(&b"ok"[..]));
        assert_eq!(
            p(b"4.123.999").map(|(c, _)| (c.subject, c.detail)),
            Some((123, 999))
        );
        assert_eq!(p(b"3.1.0 x"), None);
        assert_eq!(p(b"2.1234.0"), None);
        assert_eq!(p(b"2..0"), None);
        assert_eq!(p(b"2.1.0x"), None);
        assert_eq!(p(b"2.1"), None);
        assert_eq!(p(b""), None);
    }

    #[test]
    fn line_by_line() {
        let input = b"250-a\r\n250 b\r\n";
        let Ok(Status::Complete((n, l))) = next_reply_line(input, MAX_REPLY_LINE) else {
            panic!()
        };
        assert_eq!((n, l.last, l.text), (7, false, &b"a"[..]));
        let Ok(Status::Complete((_, l))) = next_reply_line(&input[n..], MAX_REPLY_LINE) else {
            panic!()
        };
        assert!(l.last);
    }

    #[test]
    fn error_display() {
        assert_eq!(
            ReplyError::Malformed { offset: 3 }.to_string(),
            "malformed SMTP reply at byte 3"
        );
    }
}
