//! EHLO reply parsing into service extensions (RFC 5321 §4.1.1.1 and the extension RFCs).

use core::fmt;

use super::reply::Reply;

/// A set of SASL mechanisms this crate knows, as announced in an `AUTH` EHLO line.
///
/// Mechanisms the crate does not implement are ignored, not errors.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AuthMechanisms(u8);

/// Names of the known mechanisms, in bit order.
const MECHANISM_NAMES: [(&str, AuthMechanisms); 4] = [
    ("PLAIN", AuthMechanisms::PLAIN),
    ("LOGIN", AuthMechanisms::LOGIN),
    ("CRAM-MD5", AuthMechanisms::CRAM_MD5),
    ("XOAUTH2", AuthMechanisms::XOAUTH2),
];

impl AuthMechanisms {
    /// `PLAIN` (RFC 4616).
    pub const PLAIN: Self = Self(1);
    /// `LOGIN` (draft-murchison-sasl-login).
    pub const LOGIN: Self = Self(1 << 1);
    /// `CRAM-MD5` (RFC 2195).
    pub const CRAM_MD5: Self = Self(1 << 2);
    /// `XOAUTH2` (Google / Microsoft OAuth 2.0 bearer).
    pub const XOAUTH2: Self = Self(1 << 3);

    /// The empty set.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// Whether no known mechanism is in the set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The raw bits (bit 0 PLAIN, 1 LOGIN, 2 CRAM-MD5, 3 XOAUTH2).
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every mechanism of `other` is in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets together.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Add the mechanisms of `other`.
    pub fn insert(&mut self, other: Self) {
        self.0 |= other.0;
    }

    /// PLAIN announced.
    pub const fn has_plain(self) -> bool {
        self.contains(Self::PLAIN)
    }

    /// LOGIN announced.
    pub const fn has_login(self) -> bool {
        self.contains(Self::LOGIN)
    }

    /// CRAM-MD5 announced.
    pub const fn has_cram_md5(self) -> bool {
        self.contains(Self::CRAM_MD5)
    }

    /// XOAUTH2 announced.
    pub const fn has_xoauth2(self) -> bool {
        self.contains(Self::XOAUTH2)
    }

    /// The known mechanism called `name` (ASCII case-insensitive), if any.
    pub fn from_name(name: &[u8]) -> Option<Self> {
        MECHANISM_NAMES
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
            .map(|&(_, m)| m)
    }

    /// Whether the known mechanism called `name` is in the set (`false` for unknown names).
    pub fn contains_name(&self, name: &[u8]) -> bool {
        Self::from_name(name).is_some_and(|m| self.contains(m))
    }

    /// Add the mechanism called `name`; unknown names are ignored.
    pub fn insert_name(&mut self, name: &[u8]) {
        if let Some(m) = Self::from_name(name) {
            self.insert(m);
        }
    }

    /// The upper-case names of the mechanisms in the set, in bit order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        MECHANISM_NAMES
            .iter()
            .filter(move |(_, m)| self.contains(*m))
            .map(|&(n, _)| n)
    }
}

impl fmt::Debug for AuthMechanisms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

/// One EHLO keyword line split into keyword and parameters (RFC 5321 §4.1.1.1:
/// `ehlo-line = ehlo-keyword *( SP ehlo-param )`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EhloLine<'a> {
    /// The keyword as on the wire (e.g. `SIZE`, or `AUTH=LOGIN` for the old AUTH form).
    pub keyword: &'a [u8],
    /// Everything after the keyword and the spaces following it (trailing spaces removed).
    pub params: &'a [u8],
}

impl<'a> EhloLine<'a> {
    /// Split a reply line's text.
    pub fn parse(line: &'a [u8]) -> Self {
        let line = trim(line);
        let end = line
            .iter()
            .position(|&b| b == b' ' || b == b'\t')
            .unwrap_or(line.len());
        let (keyword, params) = line.split_at(end);
        EhloLine {
            keyword,
            params: trim(params),
        }
    }

    /// Whether the keyword equals `name`, ignoring ASCII case.
    pub fn is(&self, name: &[u8]) -> bool {
        self.keyword.eq_ignore_ascii_case(name)
    }

    /// The space-separated parameters.
    pub fn params(&self) -> Words<'a> {
        Words { rest: self.params }
    }
}

/// Iterator over space- or tab-separated words (see [`EhloLine::params`]).
#[derive(Clone, Debug)]
pub struct Words<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.rest.iter().position(|&b| b != b' ' && b != b'\t')?;
        let rest = self.rest.get(start..).unwrap_or(&[]);
        let end = rest
            .iter()
            .position(|&b| b == b' ' || b == b'\t')
            .unwrap_or(rest.len());
        let (word, tail) = rest.split_at(end);
        self.rest = tail;
        Some(word)
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(s.len());
    let s = s.get(start..).unwrap_or(&[]);
    let end = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    s.get(..end).unwrap_or(&[])
}

/// Parse a decimal `u64` made only of ASCII digits (no sign, no spaces); `None` on overflow.
pub(crate) fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// The service extensions a server announced in its EHLO reply that this crate uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Capabilities {
    /// `PIPELINING` (RFC 2920).
    pub pipelining: bool,
    /// `STARTTLS` (RFC 3207).
    pub starttls: bool,
    /// `SIZE` (RFC 1870): `Some(n)` is the fixed maximum message size; `Some(0)` means SIZE was
    /// announced without a (usable) number, i.e. no fixed limit; `None` means not announced.
    pub size: Option<u64>,
    /// `8BITMIME` (RFC 6152).
    pub eight_bit_mime: bool,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// `ENHANCEDSTATUSCODES` (RFC 2034).
    pub enhanced_status_codes: bool,
    /// `CHUNKING` (RFC 3030).
    pub chunking: bool,
    /// `DSN` (RFC 3461).
    pub dsn: bool,
    /// SASL mechanisms from `AUTH` lines (RFC 4954), and from the pre-standard `AUTH=` form.
    pub auth: AuthMechanisms,
}

impl Capabilities {
    /// Record one EHLO keyword line (the text of a reply line after the first one).
    ///
    /// Works one line at a time so a session can process a long EHLO reply as it arrives.
    /// Unknown keywords and unknown SASL mechanisms are ignored; keywords compare
    /// case-insensitively. `AUTH` lines accumulate.
    pub fn apply_ehlo_line(&mut self, keyword_line: &[u8]) {
        let line = EhloLine::parse(keyword_line);
        let kw = line.keyword;
        if kw.len() > 5
            && kw
                .get(..5)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"AUTH="))
        {
            // Old form "AUTH=LOGIN PLAIN" (sent by some servers for pre-RFC 2554 clients).
            self.auth.insert_name(kw.get(5..).unwrap_or(&[]));
            for mech in line.params() {
                self.auth.insert_name(mech);
            }
        } else if line.is(b"AUTH") {
            for mech in line.params() {
                self.auth.insert_name(mech);
            }
        } else if line.is(b"SIZE") {
            let limit = line.params().next().and_then(parse_u64).unwrap_or(0);
            self.size = Some(limit);
        } else if line.is(b"PIPELINING") {
            self.pipelining = true;
        } else if line.is(b"STARTTLS") {
            self.starttls = true;
        } else if line.is(b"8BITMIME") {
            self.eight_bit_mime = true;
        } else if line.is(b"SMTPUTF8") {
            self.smtputf8 = true;
        } else if line.is(b"ENHANCEDSTATUSCODES") {
            self.enhanced_status_codes = true;
        } else if line.is(b"CHUNKING") {
            self.chunking = true;
        } else if line.is(b"DSN") {
            self.dsn = true;
        }
    }

    /// Capabilities and greeting domain from a complete EHLO reply.
    ///
    /// The domain is the first word of the first line (possibly empty). For a reply that is not
    /// `2xx` the result is `(Capabilities::default(), b"")`: the EHLO failed.
    pub fn from_ehlo<'a>(reply: &Reply<'a>) -> (Capabilities, &'a [u8]) {
        let mut caps = Capabilities::default();
        if !reply.code().is_positive_completion() {
            return (caps, &[]);
        }
        let mut lines = reply.lines();
        let hostname = lines
            .next()
            .map(|first| EhloLine::parse(first).keyword)
            .unwrap_or(&[]);
        for line in lines {
            caps.apply_ehlo_line(line);
        }
        (caps, hostname)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::super::{Status, parse_reply};
    use super::*;

    fn caps_of(input: &[u8]) -> (Capabilities, &[u8]) {
        let Ok(Status::Complete((_, reply))) = parse_reply(input) else {
            panic!("not a reply")
        };
        Capabilities::from_ehlo(&reply)
    }

    #[test]
    fn typical_ehlo() {
        let (caps, host) = caps_of(
            b"250-mx.example.org Hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n\
              250-STARTTLS\r\n250-AUTH PLAIN LOGIN XOAUTH2 GSSAPI\r\n250-ENHANCEDSTATUSCODES\r\n\
              250-8BITMIME\r\n250-DSN\r\n250-smtputf8\r\n250 CHUNKING\r\n",
        );
        assert_eq!(host, b"mx.example.org");
        assert_eq!(
            caps,
            Capabilities {
                pipelining: true,
                starttls: true,
                size: Some(10_240_000),
                eight_bit_mime: true,
                smtputf8: true,
                enhanced_status_codes: true,
                chunking: true,
                dsn: true,
                auth: AuthMechanisms::PLAIN
                    .union(AuthMechanisms::LOGIN)
                    .union(AuthMechanisms::XOAUTH2),
            }
        );
        assert!(!caps.auth.has_cram_md5());
    }

    #[test]
    fn size_forms() {
        let mut c = Capabilities::default();
        c.apply_ehlo_line(b"SIZE");
        assert_eq!(c.size, Some(0));
        c.apply_ehlo_line(b"SIZE 42 ");
        assert_eq!(c.size, Some(42));
        c.apply_ehlo_line(b"SIZE 99999999999999999999999");
        assert_eq!(c.size, Some(0));
        c.apply_ehlo_line(b"SIZE abc");
        assert_eq!(c.size, Some(0));
    }

    #[test]
    fn old_auth_form_and_union() {
        let mut c = Capabilities::default();
        c.apply_ehlo_line(b"AUTH=LOGIN PLAIN");
        assert!(c.auth.has_login() && c.auth.has_plain());
        c.apply_ehlo_line(b"auth cram-md5");
        assert!(c.auth.has_cram_md5());
        assert!(c.auth.contains_name(b"Cram-MD5"));
        assert!(!c.auth.contains_name(b"GSSAPI"));
        let names: [&str; 3] = ["PLAIN", "LOGIN", "CRAM-MD5"];
        assert!(c.auth.names().eq(names.iter().copied()));
    }

    #[test]
    fn failed_ehlo() {
        let (caps, host) = caps_of(b"523-Massive\r\n523 PIPELINING\r\n");
        assert_eq!(caps, Capabilities::default());
        assert_eq!(host, b"");
    }

    #[test]
    fn empty_domain_line() {
        let (caps, host) = caps_of(b"250-\r\n250 SIZE\r\n");
        assert_eq!(host, b"");
        assert_eq!(caps.size, Some(0));
    }

    #[test]
    fn ehlo_line_split() {
        let l = EhloLine::parse(b"FUTURERELEASE 1234  5678 ");
        assert_eq!(l.keyword, b"FUTURERELEASE");
        let p: [&[u8]; 2] = [b"1234", b"5678"];
        assert!(l.params().eq(p.iter().copied()));
        assert_eq!(EhloLine::parse(b"").keyword, b"");
    }
}
