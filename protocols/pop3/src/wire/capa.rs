//! CAPA (RFC 2449): the capability lines of a server.

use postwire_core::sasl::Mechanism;

use super::response::parse_u64;

/// The SASL mechanisms a server announced (`SASL` capability, or the lines of a bare `AUTH`),
/// reduced to the ones the client can use, plus whether it announced any other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Mechanisms {
    bits: u8,
}

const PLAIN: u8 = 1;
const LOGIN: u8 = 2;
const CRAM_MD5: u8 = 4;
const XOAUTH2: u8 = 8;
const OTHER: u8 = 16;

impl Mechanisms {
    /// None announced.
    pub const fn empty() -> Self {
        Mechanisms { bits: 0 }
    }

    fn bit(m: Mechanism) -> u8 {
        match m {
            Mechanism::Plain => PLAIN,
            Mechanism::Login => LOGIN,
            Mechanism::CramMd5 => CRAM_MD5,
            Mechanism::XOAuth2 => XOAUTH2,
            _ => OTHER,
        }
    }

    /// Records a mechanism name (ASCII case-insensitive).
    pub fn insert_name(&mut self, name: &[u8]) {
        self.bits |= match Mechanism::from_name(name) {
            Some(m) => Self::bit(m),
            None => OTHER,
        };
    }

    /// Records a mechanism.
    pub fn insert(&mut self, m: Mechanism) {
        self.bits |= Self::bit(m);
    }

    /// Whether `m` was announced.
    pub fn contains(&self, m: Mechanism) -> bool {
        let b = Self::bit(m);
        b != OTHER && self.bits & b != 0
    }

    /// Whether nothing was announced at all.
    pub const fn is_empty(&self) -> bool {
        self.bits == 0
    }

    /// Whether only mechanisms the client does not implement were announced.
    pub const fn only_unknown(&self) -> bool {
        self.bits == OTHER
    }
}

/// What a server announced in its CAPA response.
///
/// ```
/// use postwire_pop3::wire::Capabilities;
/// use postwire_core::sasl::Mechanism;
///
/// let mut caps = Capabilities::default();
/// for line in [&b"TOP"[..], b"UIDL", b"STLS", b"SASL PLAIN CRAM-MD5 SCRAM-SHA-1", b"LOGIN-DELAY 900"] {
///     caps.apply_capa_line(line);
/// }
/// assert!(caps.top && caps.uidl && caps.stls && !caps.user);
/// assert!(caps.sasl.contains(Mechanism::CramMd5) && !caps.sasl.contains(Mechanism::Login));
/// assert_eq!(caps.login_delay, Some(900));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Capabilities {
    /// `TOP`.
    pub top: bool,
    /// `UIDL`.
    pub uidl: bool,
    /// `USER`: USER/PASS login is possible (now).
    pub user: bool,
    /// `STLS` (RFC 2595).
    pub stls: bool,
    /// `PIPELINING`.
    pub pipelining: bool,
    /// `RESP-CODES`: `-ERR` replies carry RFC 2449 extended response codes.
    pub resp_codes: bool,
    /// `AUTH-RESP-CODE` (RFC 3206): `[AUTH]`, `[SYS/TEMP]`, `[SYS/PERM]` after login failures.
    pub auth_resp_code: bool,
    /// `UTF8` (RFC 6856).
    pub utf8: bool,
    /// `SASL` mechanisms.
    pub sasl: Mechanisms,
    /// `LOGIN-DELAY n`: minimum seconds between logins, when announced.
    pub login_delay: Option<u64>,
    /// `EXPIRE n` / `EXPIRE NEVER`: days the server keeps retrieved messages (`u64::MAX` for
    /// NEVER), when announced.
    pub expire: Option<u64>,
}

/// One CAPA line split into keyword and arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapaLine<'a> {
    /// The capability name as on the wire (e.g. `SASL`).
    pub keyword: &'a [u8],
    /// The rest of the line after the keyword (space-separated arguments).
    pub args: &'a [u8],
}

impl<'a> CapaLine<'a> {
    /// Splits a CAPA line.
    pub fn parse(line: &'a [u8]) -> Self {
        let line = line.trim_ascii();
        match line.iter().position(|&b| b == b' ') {
            Some(sp) => CapaLine {
                keyword: line.get(..sp).unwrap_or_default(),
                args: line.get(sp + 1..).unwrap_or_default().trim_ascii(),
            },
            None => CapaLine {
                keyword: line,
                args: b"",
            },
        }
    }

    /// The arguments one by one.
    pub fn words(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.args.split(|&b| b == b' ').filter(|w| !w.is_empty())
    }
}

impl Capabilities {
    /// Records one line of a CAPA response (already dot-unstuffed). Unknown capabilities are
    /// ignored.
    pub fn apply_capa_line(&mut self, line: &[u8]) {
        let cl = CapaLine::parse(line);
        let is = |name: &[u8]| cl.keyword.eq_ignore_ascii_case(name);
        if is(b"TOP") {
            self.top = true;
        } else if is(b"UIDL") {
            self.uidl = true;
        } else if is(b"USER") {
            self.user = true;
        } else if is(b"STLS") {
            self.stls = true;
        } else if is(b"PIPELINING") {
            self.pipelining = true;
        } else if is(b"RESP-CODES") {
            self.resp_codes = true;
        } else if is(b"AUTH-RESP-CODE") {
            self.auth_resp_code = true;
        } else if is(b"UTF8") {
            self.utf8 = true;
        } else if is(b"SASL") {
            for w in cl.words() {
                self.sasl.insert_name(w);
            }
        } else if is(b"LOGIN-DELAY") {
            self.login_delay = cl.words().next().and_then(|w| parse_u64(w).ok());
        } else if is(b"EXPIRE") {
            self.expire = cl.words().next().and_then(|w| {
                if w.eq_ignore_ascii_case(b"NEVER") {
                    Some(u64::MAX)
                } else {
                    parse_u64(w).ok()
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dovecot() {
        let mut caps = Capabilities::default();
        for l in [
            &b"CAPA"[..],
            b"TOP",
            b"UIDL",
            b"RESP-CODES",
            b"PIPELINING",
            b"AUTH-RESP-CODE",
            b"STLS",
            b"USER",
            b"SASL PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256",
            b"EXPIRE NEVER",
        ] {
            caps.apply_capa_line(l);
        }
        assert!(caps.top && caps.uidl && caps.resp_codes && caps.pipelining);
        assert!(caps.auth_resp_code && caps.stls && caps.user && !caps.utf8);
        assert!(caps.sasl.contains(Mechanism::Plain));
        assert!(caps.sasl.contains(Mechanism::Login));
        assert!(!caps.sasl.contains(Mechanism::XOAuth2));
        assert!(!caps.sasl.only_unknown());
        assert_eq!(caps.expire, Some(u64::MAX));
        let mut m = Mechanisms::empty();
        assert!(m.is_empty());
        m.insert_name(b"NTLM");
        assert!(m.only_unknown() && !m.is_empty());
        m.insert(Mechanism::XOAuth2);
        assert!(m.contains(Mechanism::XOAuth2));
        let cl = CapaLine::parse(b"IMPLEMENTATION python-testlib-pop-server");
        assert_eq!(cl.keyword, b"IMPLEMENTATION");
        assert_eq!(cl.words().count(), 1);
    }
}
