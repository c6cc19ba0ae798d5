//! The POP3 command encoder.

use core::fmt;

/// Why a command could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeError {
    /// An argument is empty where it may not be, contains CR, LF or NUL (or, in a name or
    /// SASL token, a space or control byte), or a message number is 0.
    InvalidArgument,
    /// The output buffer is too small; nothing usable was written.
    BufferTooSmall,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EncodeError::InvalidArgument => {
                "invalid command argument (CR, LF, NUL, space in a name, or message number 0)"
            }
            EncodeError::BufferTooSmall => "command buffer too small",
        })
    }
}

impl core::error::Error for EncodeError {}

/// A POP3 command (RFC 1939, RFC 2449, RFC 2595, RFC 5034).
///
/// ```
/// use postwire_pop3::wire::Command;
/// let mut buf = [0u8; 64];
/// let n = Command::Top { msg: 3, lines: 10 }.encode(&mut buf).unwrap();
/// assert_eq!(&buf[..n], b"TOP 3 10\r\n");
/// assert!(Command::User("eve\r\nDELE 1").encode(&mut buf).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// `USER name`.
    User(&'a str),
    /// `PASS secret` (the secret may contain spaces).
    Pass(&'a str),
    /// `APOP name digest` (the digest is lowercase hex MD5, see
    /// [`postwire_core::sasl::apop_digest`]).
    Apop {
        /// The mailbox name.
        user: &'a str,
        /// The 32 hex digits.
        digest: &'a [u8; 32],
    },
    /// `AUTH mechanism [initial-response]` (RFC 5034); the initial response is base64 already
    /// (`=` for an empty one).
    Auth {
        /// SASL mechanism name.
        mechanism: &'a str,
        /// Base64 initial response.
        initial_response: Option<&'a [u8]>,
    },
    /// `AUTH` without arguments: many servers list their mechanisms (multi-line).
    AuthList,
    /// One SASL response line (base64, or `*` to cancel).
    AuthResponse(&'a [u8]),
    /// `CAPA`.
    Capa,
    /// `STLS`.
    Stls,
    /// `STAT`.
    Stat,
    /// `LIST` (all) or `LIST msg`.
    List(Option<u64>),
    /// `UIDL` (all) or `UIDL msg`.
    Uidl(Option<u64>),
    /// `RETR msg`.
    Retr(u64),
    /// `TOP msg lines`.
    Top {
        /// Message number.
        msg: u64,
        /// Body lines after the header.
        lines: u64,
    },
    /// `DELE msg`.
    Dele(u64),
    /// `RSET`.
    Rset,
    /// `NOOP`.
    Noop,
    /// `QUIT`.
    Quit,
}

/// Whether `s` is usable as a name argument (USER, APOP): non-empty, no space, no control
/// byte.
fn valid_name(s: &[u8]) -> bool {
    !s.is_empty() && !s.iter().any(|&b| b <= b' ' || b == 0x7f)
}

/// Whether `s` may appear as a SASL token (mechanism, base64): no space, no control byte.
fn valid_token(s: &[u8]) -> bool {
    !s.iter().any(|&b| b <= b' ' || b == 0x7f)
}

struct Out<'o> {
    buf: &'o mut [u8],
    len: usize,
}

impl Out<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let dst = self
            .buf
            .get_mut(self.len..self.len + bytes.len())
            .ok_or(EncodeError::BufferTooSmall)?;
        dst.copy_from_slice(bytes);
        self.len += bytes.len();
        Ok(())
    }

    fn num(&mut self, mut n: u64) -> Result<(), EncodeError> {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            if let Some(d) = digits.get_mut(i) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        self.put(digits.get(i..).unwrap_or_default())
    }

    fn msg(&mut self, n: u64) -> Result<(), EncodeError> {
        if n == 0 {
            return Err(EncodeError::InvalidArgument);
        }
        self.num(n)
    }
}

impl Command<'_> {
    /// Checks the arguments without encoding.
    pub fn validate(&self) -> Result<(), EncodeError> {
        let ok = match self {
            Command::User(u) => valid_name(u.as_bytes()),
            Command::Pass(p) => !p.is_empty() && !p.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)),
            Command::Apop { user, digest } => {
                valid_name(user.as_bytes()) && digest.iter().all(u8::is_ascii_hexdigit)
            }
            Command::Auth {
                mechanism,
                initial_response,
            } => {
                valid_name(mechanism.as_bytes())
                    && initial_response.is_none_or(|r| !r.is_empty() && valid_token(r))
            }
            Command::AuthResponse(r) => valid_token(r),
            Command::List(Some(0)) | Command::Uidl(Some(0)) | Command::Retr(0) => false,
            Command::Dele(0) | Command::Top { msg: 0, .. } => false,
            _ => true,
        };
        if ok {
            Ok(())
        } else {
            Err(EncodeError::InvalidArgument)
        }
    }

    /// Writes the command line, CRLF included, into `out` and returns its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        self.validate()?;
        let mut o = Out { buf: out, len: 0 };
        match self {
            Command::User(u) => {
                o.put(b"USER ")?;
                o.put(u.as_bytes())?;
            }
            Command::Pass(p) => {
                o.put(b"PASS ")?;
                o.put(p.as_bytes())?;
            }
            Command::Apop { user, digest } => {
                o.put(b"APOP ")?;
                o.put(user.as_bytes())?;
                o.put(b" ")?;
                o.put(&digest[..])?;
            }
            Command::Auth {
                mechanism,
                initial_response,
            } => {
                o.put(b"AUTH ")?;
                o.put(mechanism.as_bytes())?;
                if let Some(r) = initial_response {
                    o.put(b" ")?;
                    o.put(r)?;
                }
            }
            Command::AuthList => o.put(b"AUTH")?,
            Command::AuthResponse(r) => o.put(r)?,
            Command::Capa => o.put(b"CAPA")?,
            Command::Stls => o.put(b"STLS")?,
            Command::Stat => o.put(b"STAT")?,
            Command::List(m) | Command::Uidl(m) => {
                o.put(if matches!(self, Command::List(_)) {
                    b"LIST"
                } else {
                    b"UIDL"
                })?;
                if let Some(m) = m {
                    o.put(b" ")?;
                    o.msg(*m)?;
                }
            }
            Command::Retr(m) => {
                o.put(b"RETR ")?;
                o.msg(*m)?;
            }
            Command::Top { msg, lines } => {
                o.put(b"TOP ")?;
                o.msg(*msg)?;
                o.put(b" ")?;
                o.num(*lines)?;
            }
            Command::Dele(m) => {
                o.put(b"DELE ")?;
                o.msg(*m)?;
            }
            Command::Rset => o.put(b"RSET")?,
            Command::Noop => o.put(b"NOOP")?,
            Command::Quit => o.put(b"QUIT")?,
        }
        o.put(b"\r\n")?;
        Ok(o.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(c: Command<'_>) -> Result<std::string::String, EncodeError> {
        let mut buf = [0u8; 128];
        let n = c.encode(&mut buf)?;
        Ok(std::string::String::from_utf8(buf[..n].to_vec()).unwrap())
    }

    #[test]
    fn commands() {
        assert_eq!(enc(Command::User("alice")).unwrap(), "USER alice\r\n");
        assert_eq!(enc(Command::Pass("a b c")).unwrap(), "PASS a b c\r\n");
        assert_eq!(enc(Command::List(None)).unwrap(), "LIST\r\n");
        assert_eq!(enc(Command::List(Some(7))).unwrap(), "LIST 7\r\n");
        assert_eq!(
            enc(Command::Uidl(Some(u64::MAX))).unwrap(),
            "UIDL 18446744073709551615\r\n"
        );
        assert_eq!(
            enc(Command::Top { msg: 1, lines: 0 }).unwrap(),
            "TOP 1 0\r\n"
        );
        assert_eq!(enc(Command::Retr(850)).unwrap(), "RETR 850\r\n");
        assert_eq!(enc(Command::Dele(1)).unwrap(), "DELE 1\r\n");
        assert_eq!(
            enc(Command::Auth {
                mechanism: "PLAIN",
                initial_response: Some(b"AHVzZXIAc2VjcmV0")
            })
            .unwrap(),
            "AUTH PLAIN AHVzZXIAc2VjcmV0\r\n"
        );
        assert_eq!(enc(Command::AuthResponse(b"")).unwrap(), "\r\n");
        assert_eq!(enc(Command::AuthResponse(b"*")).unwrap(), "*\r\n");
        assert_eq!(enc(Command::AuthList).unwrap(), "AUTH\r\n");
        let d = *b"c4c9334bac560ecc979e58001b3e22fb";
        assert_eq!(
            enc(Command::Apop {
                user: "mrose",
                digest: &d
            })
            .unwrap(),
            "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"
        );
        for c in ["Capa", "Stls", "Stat", "Rset", "Noop", "Quit"] {
            let cmd = match c {
                "Capa" => Command::Capa,
                "Stls" => Command::Stls,
                "Stat" => Command::Stat,
                "Rset" => Command::Rset,
                "Noop" => Command::Noop,
                _ => Command::Quit,
            };
            assert_eq!(enc(cmd).unwrap(), std::format!("{}\r\n", c.to_uppercase()));
        }
    }

    #[test]
    fn refused() {
        for c in [
            Command::User(""),
            Command::User("a b"),
            Command::User("a\r\nDELE 1"),
            Command::Pass("x\ny"),
            Command::Pass(""),
            Command::Pass("a\0"),
            Command::Retr(0),
            Command::Dele(0),
            Command::List(Some(0)),
            Command::Top { msg: 0, lines: 1 },
            Command::AuthResponse(b"ab\r\n"),
            Command::Auth {
                mechanism: "PLAIN",
                initial_response: Some(b""),
            },
            Command::Auth {
                mechanism: "PL AIN",
                initial_response: None,
            },
        ] {
            assert_eq!(enc(c), Err(EncodeError::InvalidArgument), "{c:?}");
        }
        let mut small = [0u8; 5];
        assert_eq!(
            Command::Stat.encode(&mut small),
            Err(EncodeError::BufferTooSmall)
        );
        assert_eq!(Command::Stat.encode(&mut [0u8; 6]), Ok(6));
    }
}
