//! SMTP command encoding (RFC 5321 §4.1 and extensions).
//!
//! Every argument is validated before anything is written, so no command can carry CR, LF or
//! NUL (or any other byte that would change its meaning) into the stream.

use core::fmt;

/// Why a command could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer cannot hold the command ([`Command::encoded_len`] says how much is
    /// needed). Recoverable: retry with a larger buffer.
    BufferTooSmall,
    /// An argument contains bytes the command cannot carry (CR, LF, NUL, other controls,
    /// `<`/`>`/space in an address, non-ASCII without SMTPUTF8, a malformed domain...).
    InvalidArgument,
}

impl EncodeError {
    /// Whether the error is fatal. Encoding errors never are: nothing was sent.
    pub const fn is_fatal(&self) -> bool {
        false
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall => f.write_str("buffer too small for the SMTP command"),
            Self::InvalidArgument => f.write_str("invalid SMTP command argument"),
        }
    }
}

impl core::error::Error for EncodeError {}

/// An SMTP command, ready to be encoded as one line ending in CRLF.
///
/// `Debug` redacts SASL data (`Auth::initial_response` and `AuthResponse`), which carries
/// credentials.
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command<'a> {
    /// `EHLO domain` (RFC 5321 §4.1.1.1). The domain is an address literal such as
    /// `[192.0.2.1]` / `[IPv6:2001:db8::1]` or letters, digits, hyphens and dots.
    Ehlo(&'a str),
    /// `HELO domain`, same argument rules as [`Command::Ehlo`].
    Helo(&'a str),
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954).
    Auth {
        /// SASL mechanism name: 1–20 of `A-Z a-z 0-9 - _`.
        mechanism: &'a str,
        /// Initial response, already base64-encoded; `b"="` for an empty one (RFC 4954 §4).
        /// Must be non-empty base64.
        initial_response: Option<&'a [u8]>,
    },
    /// A SASL response line: base64 text (possibly empty), or `*` to cancel the exchange.
    AuthResponse(&'a [u8]),
    /// `MAIL FROM:<address>[ SIZE=n][ BODY=8BITMIME][ SMTPUTF8]`.
    MailFrom {
        /// The reverse-path without angle brackets; `""` is the null reverse-path `<>`.
        address: &'a str,
        /// RFC 1870 `SIZE=` estimate.
        size: Option<u64>,
        /// RFC 6152 `BODY=8BITMIME`.
        body_8bitmime: bool,
        /// RFC 6531 `SMTPUTF8`: also allows non-ASCII (UTF-8) in the address.
        smtputf8: bool,
    },
    /// `RCPT TO:<address>`.
    RcptTo {
        /// The forward-path without angle brackets (must not be empty).
        address: &'a str,
        /// The transaction uses SMTPUTF8: allows non-ASCII (UTF-8) in the address.
        smtputf8: bool,
    },
    /// `DATA`.
    Data,
    /// `BDAT size[ LAST]` (RFC 3030); the `size` octets of the chunk follow the command line.
    Bdat {
        /// Chunk size in octets.
        size: u64,
        /// Whether this is the last chunk.
        last: bool,
    },
    /// `RSET`.
    Rset,
    /// `NOOP`.
    Noop,
    /// `QUIT`.
    Quit,
    /// `VRFY string` (printable ASCII, non-empty).
    Vrfy(&'a str),
    /// `EXPN string` (printable ASCII, non-empty).
    Expn(&'a str),
    /// `HELP[ topic]` (printable ASCII, non-empty when given).
    Help(Option<&'a str>),
}

impl fmt::Debug for Command<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ehlo(d) => f.debug_tuple("Ehlo").field(d).finish(),
            Self::Helo(d) => f.debug_tuple("Helo").field(d).finish(),
            Self::StartTls => f.write_str("StartTls"),
            Self::Auth {
                mechanism,
                initial_response,
            } => f
                .debug_struct("Auth")
                .field("mechanism", mechanism)
                .field("initial_response", &initial_response.map(|_| "<redacted>"))
                .finish(),
            Self::AuthResponse(_) => f.write_str("AuthResponse(<redacted>)"),
            Self::MailFrom {
                address,
                size,
                body_8bitmime,
                smtputf8,
            } => f
                .debug_struct("MailFrom")
                .field("address", address)
                .field("size", size)
                .field("body_8bitmime", body_8bitmime)
                .field("smtputf8", smtputf8)
                .finish(),
            Self::RcptTo { address, smtputf8 } => f
                .debug_struct("RcptTo")
                .field("address", address)
                .field("smtputf8", smtputf8)
                .finish(),
            Self::Data => f.write_str("Data"),
            Self::Bdat { size, last } => f
                .debug_struct("Bdat")
                .field("size", size)
                .field("last", last)
                .finish(),
            Self::Rset => f.write_str("Rset"),
            Self::Noop => f.write_str("Noop"),
            Self::Quit => f.write_str("Quit"),
            Self::Vrfy(s) => f.debug_tuple("Vrfy").field(s).finish(),
            Self::Expn(s) => f.debug_tuple("Expn").field(s).finish(),
            Self::Help(s) => f.debug_tuple("Help").field(s).finish(),
        }
    }
}

/// Byte sink that either writes into a buffer or only counts.
struct Sink<'b> {
    buf: Option<&'b mut [u8]>,
    len: usize,
    overflow: bool,
}

impl Sink<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.len.saturating_add(bytes.len());
        if let Some(buf) = self.buf.as_deref_mut() {
            match buf.get_mut(self.len..end) {
                Some(dst) => dst.copy_from_slice(bytes),
                None => self.overflow = true,
            }
        }
        self.len = end;
    }

    fn put_u64(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            if let Some(d) = digits.get_mut(start) {
                // n % 10 < 10, fits in u8.
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || start == 0 {
                break;
            }
        }
        self.put(digits.get(start..).unwrap_or(&[]));
    }
}

impl Command<'_> {
    /// Write the command line, including the final CRLF, into `out`; returns its length.
    ///
    /// Arguments are validated first ([`EncodeError::InvalidArgument`]). On any error the
    /// contents of `out` are unspecified and nothing should be sent.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        self.validate()?;
        let mut sink = Sink {
            buf: Some(out),
            len: 0,
            overflow: false,
        };
        self.write(&mut sink);
        if sink.overflow {
            Err(EncodeError::BufferTooSmall)
        } else {
            Ok(sink.len)
        }
    }

    /// The number of bytes [`encode`](Self::encode) writes for this command (including CRLF),
    /// assuming its arguments are valid.
    pub fn encoded_len(&self) -> usize {
        let mut sink = Sink {
            buf: None,
            len: 0,
            overflow: false,
        };
        self.write(&mut sink);
        sink.len
    }

    /// Check the arguments without encoding.
    pub fn validate(&self) -> Result<(), EncodeError> {
        let ok = match *self {
            Self::Ehlo(d) | Self::Helo(d) => valid_domain(d.as_bytes()),
            Self::Auth {
                mechanism,
                initial_response,
            } => {
                valid_mechanism(mechanism.as_bytes())
                    && initial_response.is_none_or(|ir| !ir.is_empty() && valid_base64(ir))
            }
            Self::AuthResponse(r) => r == b"*" || valid_base64(r),
            Self::MailFrom {
                address, smtputf8, ..
            } => valid_address(address, smtputf8),
            Self::RcptTo { address, smtputf8 } => {
                !address.is_empty() && valid_address(address, smtputf8)
            }
            Self::Vrfy(s) | Self::Expn(s) | Self::Help(Some(s)) => valid_word(s.as_bytes()),
            Self::StartTls
            | Self::Data
            | Self::Bdat { .. }
            | Self::Rset
            | Self::Noop
            | Self::Quit
            | Self::Help(None) => true,
        };
        if ok {
            Ok(())
        } else {
            Err(EncodeError::InvalidArgument)
        }
    }

    fn write(&self, s: &mut Sink<'_>) {
        match *self {
            Self::Ehlo(d) => {
                s.put(b"EHLO ");
                s.put(d.as_bytes());
            }
            Self::Helo(d) => {
                s.put(b"HELO ");
                s.put(d.as_bytes());
            }
            Self::StartTls => s.put(b"STARTTLS"),
            Self::Auth {
                mechanism,
                initial_response,
            } => {
                s.put(b"AUTH ");
                s.put(mechanism.as_bytes());
                if let Some(ir) = initial_response {
                    s.put(b" ");
                    s.put(ir);
                }
            }
            Self::AuthResponse(r) => s.put(r),
            Self::MailFrom {
                address,
                size,
                body_8bitmime,
                smtputf8,
            } => {
                s.put(b"MAIL FROM:<");
                s.put(address.as_bytes());
                s.put(b">");
                if let Some(n) = size {
                    s.put(b" SIZE=");
                    s.put_u64(n);
                }
                if body_8bitmime {
                    s.put(b" BODY=8BITMIME");
                }
                if smtputf8 {
                    s.put(b" SMTPUTF8");
                }
            }
            Self::RcptTo { address, .. } => {
                s.put(b"RCPT TO:<");
                s.put(address.as_bytes());
                s.put(b">");
            }
            Self::Data => s.put(b"DATA"),
            Self::Bdat { size, last } => {
                s.put(b"BDAT ");
                s.put_u64(size);
                if last {
                    s.put(b" LAST");
                }
            }
            Self::Rset => s.put(b"RSET"),
            Self::Noop => s.put(b"NOOP"),
            Self::Quit => s.put(b"QUIT"),
            Self::Vrfy(a) => {
                s.put(b"VRFY ");
                s.put(a.as_bytes());
            }
            Self::Expn(a) => {
                s.put(b"EXPN ");
                s.put(a.as_bytes());
            }
            Self::Help(topic) => {
                s.put(b"HELP");
                if let Some(t) = topic {
                    s.put(b" ");
                    s.put(t.as_bytes());
                }
            }
        }
        s.put(b"\r\n");
    }
}

/// EHLO/HELO argument: an address literal `[...]` or a domain of letters, digits, `-`, `.`.
fn valid_domain(d: &[u8]) -> bool {
    if d.is_empty() || d.len() > 255 {
        return false;
    }
    if let Some(inner) = d.strip_prefix(b"[") {
        // RFC 5321 §4.1.3: IPv4, "IPv6:" or General-address-literal; dcontent is
        // %d33-90 / %d94-126, i.e. printable ASCII except "[", "\" and "]".
        match inner.strip_suffix(b"]") {
            Some(content) => {
                !content.is_empty() && content.iter().all(|&b| matches!(b, 33..=90 | 94..=126))
            }
            None => false,
        }
    } else {
        d.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    }
}

/// SASL mechanism name (RFC 4422 §3.1), case accepted in both forms.
fn valid_mechanism(m: &[u8]) -> bool {
    (1..=20).contains(&m.len())
        && m.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Base64 alphabet plus padding (no line breaks, no spaces).
fn valid_base64(s: &[u8]) -> bool {
    s.iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// Mailbox between `<` and `>`: no controls, spaces or angle brackets; non-ASCII only with
/// SMTPUTF8.
fn valid_address(a: &str, smtputf8: bool) -> bool {
    a.chars().all(|c| {
        !(c.is_control() || c == ' ' || c == '<' || c == '>' || (!c.is_ascii() && !smtputf8))
    })
}

/// VRFY/EXPN/HELP argument: non-empty printable ASCII (spaces allowed).
fn valid_word(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| (0x20..=0x7e).contains(&b))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn enc(c: Command<'_>) -> Result<([u8; 128], usize), EncodeError> {
        let mut buf = [0u8; 128];
        let n = c.encode(&mut buf)?;
        assert_eq!(n, c.encoded_len());
        Ok((buf, n))
    }

    fn check(c: Command<'_>, expected: &[u8]) {
        let (buf, n) = enc(c).unwrap();
        assert_eq!(&buf[..n], expected, "{c:?}");
    }

    #[test]
    fn simple_commands() {
        check(Command::Ehlo("localhost"), b"EHLO localhost\r\n");
        check(Command::Helo("[127.0.0.1]"), b"HELO [127.0.0.1]\r\n");
        check(
            Command::Ehlo("[IPv6:2001:db8::1]"),
            b"EHLO [IPv6:2001:db8::1]\r\n",
        );
        check(Command::StartTls, b"STARTTLS\r\n");
        check(Command::Data, b"DATA\r\n");
        check(Command::Rset, b"RSET\r\n");
        check(Command::Noop, b"NOOP\r\n");
        check(Command::Quit, b"QUIT\r\n");
        check(Command::Help(None), b"HELP\r\n");
        check(Command::Help(Some("MAIL")), b"HELP MAIL\r\n");
        check(Command::Vrfy("Smith"), b"VRFY Smith\r\n");
        check(Command::Expn("staff"), b"EXPN staff\r\n");
        check(
            Command::Bdat {
                size: 0,
                last: true,
            },
            b"BDAT 0 LAST\r\n",
        );
        check(
            Command::Bdat {
                size: u64::MAX,
                last: false,
            },
            b"BDAT 18446744073709551615\r\n",
        );
    }

    #[test]
    fn mail_and_rcpt() {
        check(
            Command::MailFrom {
                address: "",
                size: None,
                body_8bitmime: false,
                smtputf8: false,
            },
            b"MAIL FROM:<>\r\n",
        );
        check(
            Command::MailFrom {
                address: "a@b.c",
                size: Some(42),
                body_8bitmime: true,
                smtputf8: true,
            },
            b"MAIL FROM:<a@b.c> SIZE=42 BODY=8BITMIME SMTPUTF8\r\n",
        );
        check(
            Command::RcptTo {
                address: "x@y.z",
                smtputf8: false,
            },
            b"RCPT TO:<x@y.z>\r\n",
        );
        check(
            Command::RcptTo {
                address: "δοκιμή@παράδειγμα.δοκιμή",
                smtputf8: true,
            },
            "RCPT TO:<δοκιμή@παράδειγμα.δοκιμή>\r\n".as_bytes(),
        );
    }

    #[test]
    fn auth() {
        check(
            Command::Auth {
                mechanism: "PLAIN",
                initial_response: Some(b"AHVzZXIAcGFzc3dvcmQ="),
            },
            b"AUTH PLAIN AHVzZXIAcGFzc3dvcmQ=\r\n",
        );
        check(
            Command::Auth {
                mechanism: "PLAIN",
                initial_response: Some(b"="),
            },
            b"AUTH PLAIN =\r\n",
        );
        check(
            Command::Auth {
                mechanism: "LOGIN",
                initial_response: None,
            },
            b"AUTH LOGIN\r\n",
        );
        check(Command::AuthResponse(b"*"), b"*\r\n");
        check(Command::AuthResponse(b""), b"\r\n");
        check(Command::AuthResponse(b"dXNlcg=="), b"dXNlcg==\r\n");
    }

    #[test]
    fn refusals() {
        let bad = [
            Command::Ehlo(""),
            Command::Ehlo("evil\r\nRCPT TO:<x>"),
            Command::Ehlo("a b"),
            Command::Ehlo("[1.2.3.4"),
            Command::Ehlo("[]"),
            Command::Ehlo("[a]b]"),
            Command::Helo("ex_ample"),
            Command::Auth {
                mechanism: "",
                initial_response: None,
            },
            Command::Auth {
                mechanism: "PLAIN\r\n",
                initial_response: None,
            },
            Command::Auth {
                mechanism: "PLAIN",
                initial_response: Some(b""),
            },
            Command::Auth {
                mechanism: "PLAIN",
                initial_response: Some(b"abc\r\n"),
            },
            Command::AuthResponse(b"abc\n"),
            Command::AuthResponse(b"**"),
            Command::MailFrom {
                address: "a@b\r\nRCPT TO:<c@d>",
                size: None,
                body_8bitmime: false,
                smtputf8: false,
            },
            Command::MailFrom {
                address: "a>@b",
                size: None,
                body_8bitmime: false,
                smtputf8: false,
            },
            Command::MailFrom {
                address: "ü@b",
                size: None,
                body_8bitmime: false,
                smtputf8: false,
            },
            Command::RcptTo {
                address: "",
                smtputf8: false,
            },
            Command::RcptTo {
                address: "a b@c",
                smtputf8: false,
            },
            Command::RcptTo {
                address: "a\0@c",
                smtputf8: true,
            },
            Command::RcptTo {
                address: "a\u{85}@c",
                smtputf8: true,
            },
            Command::Vrfy(""),
            Command::Vrfy("a\rb"),
            Command::Expn("é"),
            Command::Help(Some("")),
            Command::Help(Some("x\ty")),
        ];
        for c in bad {
            assert_eq!(
                enc(c).map(|_| ()),
                Err(EncodeError::InvalidArgument),
                "{c:?}"
            );
        }
    }

    #[test]
    fn buffer_too_small() {
        let c = Command::Ehlo("localhost");
        let mut buf = [0u8; 15];
        assert_eq!(c.encode(&mut buf), Err(EncodeError::BufferTooSmall));
        let mut buf = [0u8; 16];
        assert_eq!(c.encode(&mut buf), Ok(16));
        assert_eq!(
            Command::Quit.encode(&mut []),
            Err(EncodeError::BufferTooSmall)
        );
    }

    #[test]
    fn debug_redacts_secrets() {
        extern crate std;
        use std::format;
        let s = format!(
            "{:?}",
            Command::Auth {
                mechanism: "PLAIN",
                initial_response: Some(b"c2VjcmV0")
            }
        );
        assert!(!s.contains("c2VjcmV0"), "{s}");
        let s = format!("{:?}", Command::AuthResponse(b"c2VjcmV0"));
        assert!(!s.contains("c2VjcmV0"), "{s}");
    }
}
