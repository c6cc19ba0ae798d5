//! Client side SASL mechanisms: PLAIN (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195) and XOAUTH2,
//! plus the POP3 APOP digest (RFC 1939).
//!
//! The client works on raw bytes: the protocol crate base64-decodes server challenges before
//! [`SaslClient::respond`] and base64-encodes the responses it writes (see
//! [`crate::base64`]). Every mechanism answers a bounded number of challenges; a server that
//! keeps challenging gets [`SaslError::TooManySteps`].
//!
//! ```
//! use postwire_core::sasl::{Credentials, Mechanism, SaslClient};
//!
//! let mut client = SaslClient::new(Mechanism::Plain, Credentials::new("user", "pass"));
//! let mut out = [0u8; 64];
//! let n = client.initial_response(&mut out).unwrap().unwrap();
//! assert_eq!(&out[..n], b"\0user\0pass");
//! ```

use core::fmt;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};

/// A SASL mechanism supported by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Mechanism {
    /// `PLAIN` (RFC 4616): sends the password in clear (inside TLS).
    Plain,
    /// `LOGIN`: username and password as two base64 responses.
    Login,
    /// `CRAM-MD5` (RFC 2195): challenge-response, the password is not sent.
    CramMd5,
    /// `XOAUTH2` (Google/Microsoft): an OAuth 2.0 bearer token.
    XOAuth2,
}

impl Mechanism {
    /// Mechanisms tried, strongest first, when the caller does not choose one. `XOAUTH2` is
    /// only used when the caller asks for it (the secret must be a bearer token).
    pub const PREFERENCE: [Mechanism; 3] = [Mechanism::CramMd5, Mechanism::Plain, Mechanism::Login];

    /// The registered mechanism name.
    ///
    /// ```
    /// use postwire_core::sasl::Mechanism;
    /// assert_eq!(Mechanism::CramMd5.name(), "CRAM-MD5");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::XOAuth2 => "XOAUTH2",
        }
    }

    /// Look up a mechanism by name (ASCII case-insensitive).
    ///
    /// ```
    /// use postwire_core::sasl::Mechanism;
    /// assert_eq!(Mechanism::from_name(b"cram-md5"), Some(Mechanism::CramMd5));
    /// assert_eq!(Mechanism::from_name(b"SCRAM-SHA-1"), None);
    /// ```
    pub fn from_name(name: &[u8]) -> Option<Self> {
        [
            Mechanism::Plain,
            Mechanism::Login,
            Mechanism::CramMd5,
            Mechanism::XOAuth2,
        ]
        .into_iter()
        .find(|m| m.name().as_bytes().eq_ignore_ascii_case(name))
    }

    /// Whether the mechanism starts with a client message (usable with SASL-IR / the SMTP
    /// `AUTH` initial response): PLAIN and XOAUTH2.
    pub const fn has_initial_response(self) -> bool {
        matches!(self, Mechanism::Plain | Mechanism::XOAuth2)
    }

    /// Whether the secret travels in clear (only base64-encoded): everything except CRAM-MD5.
    /// Such mechanisms must only be used over TLS unless the caller explicitly allows it.
    pub const fn sends_secret_in_clear(self) -> bool {
        !matches!(self, Mechanism::CramMd5)
    }

    /// Maximum number of server challenges the client answers for this mechanism (when the
    /// initial response was not used).
    pub const fn max_challenges(self) -> u8 {
        match self {
            Mechanism::Plain | Mechanism::CramMd5 => 1,
            Mechanism::Login | Mechanism::XOAuth2 => 2,
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Credentials for a SASL exchange.
///
/// `secret` is the password, or the OAuth 2.0 bearer token for XOAUTH2. The `Debug` output
/// never shows the secret.
///
/// ```
/// use postwire_core::sasl::Credentials;
/// let c = Credentials::new("alice", "wonderland");
/// assert!(!format!("{c:?}").contains("wonderland"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Credentials<'a> {
    /// Authorization identity (act as this user), when different from `username`.
    pub authzid: Option<&'a str>,
    /// Authentication identity.
    pub username: &'a str,
    /// Password or bearer token.
    pub secret: &'a str,
}

impl<'a> Credentials<'a> {
    /// Credentials without an authorization identity.
    pub const fn new(username: &'a str, secret: &'a str) -> Self {
        Credentials {
            authzid: None,
            username,
            secret,
        }
    }

    /// The same credentials with an authorization identity (PLAIN only).
    pub const fn with_authzid(mut self, authzid: &'a str) -> Self {
        self.authzid = Some(authzid);
        self
    }
}

impl fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("authzid", &self.authzid)
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Errors of the SASL client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SaslError {
    /// The output buffer is too small; the exchange state did not advance, retry with a
    /// larger buffer.
    BufferTooSmall,
    /// The server sent more challenges than the mechanism has steps.
    TooManySteps,
    /// The credentials cannot be encoded for this mechanism (NUL in a PLAIN field, `\x01` in
    /// an XOAUTH2 field).
    InvalidCredentials,
    /// The challenge is not acceptable for this mechanism (for example an empty CRAM-MD5
    /// challenge, or the initial response requested after the exchange started).
    UnexpectedChallenge,
}

impl fmt::Display for SaslError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SaslError::BufferTooSmall => "SASL response buffer too small",
            SaslError::TooManySteps => "too many SASL challenges from the server",
            SaslError::InvalidCredentials => "credentials cannot be encoded for this mechanism",
            SaslError::UnexpectedChallenge => "unexpected SASL challenge",
        })
    }
}

impl core::error::Error for SaslError {}

/// The client side of one SASL exchange.
///
/// ```
/// use postwire_core::sasl::{Credentials, Mechanism, SaslClient, SaslError};
///
/// let mut login = SaslClient::new(Mechanism::Login, Credentials::new("alice", "wonderland"));
/// let mut out = [0u8; 32];
/// assert_eq!(login.initial_response(&mut out), Ok(None));
/// let n = login.respond(b"Username:", &mut out).unwrap();
/// assert_eq!(&out[..n], b"alice");
/// let n = login.respond(b"Password:", &mut out).unwrap();
/// assert_eq!(&out[..n], b"wonderland");
/// assert_eq!(login.respond(b"Again?", &mut out), Err(SaslError::TooManySteps));
/// ```
#[derive(Debug, Clone)]
pub struct SaslClient<'a> {
    mechanism: Mechanism,
    credentials: Credentials<'a>,
    /// Client messages sent so far (initial response included).
    step: u8,
}

impl<'a> SaslClient<'a> {
    /// Start an exchange.
    pub fn new(mechanism: Mechanism, credentials: Credentials<'a>) -> Self {
        SaslClient {
            mechanism,
            credentials,
            step: 0,
        }
    }

    /// The mechanism of this exchange.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// The initial response (raw bytes, not base64) for SASL-IR or the SMTP `AUTH` initial
    /// response, written into `out`; `Ok(None)` when the mechanism has none.
    ///
    /// Must be called before any [`respond`](Self::respond); later calls fail with
    /// [`SaslError::UnexpectedChallenge`].
    pub fn initial_response(&mut self, out: &mut [u8]) -> Result<Option<usize>, SaslError> {
        if !self.mechanism.has_initial_response() {
            return Ok(None);
        }
        if self.step != 0 {
            return Err(SaslError::UnexpectedChallenge);
        }
        let n = self.first_message(out)?;
        self.step = 1;
        Ok(Some(n))
    }

    /// Answer a (base64-decoded) server challenge; returns the length of the raw response
    /// written into `out`.
    ///
    /// * PLAIN: answers the (empty) challenge with the PLAIN message, once.
    /// * LOGIN: answers the username, then the password (by step, whatever the prompt).
    /// * CRAM-MD5: `username SP hex(HMAC-MD5(secret, challenge))`, once.
    /// * XOAUTH2: the token message when no initial response was sent, then an empty
    ///   response to the server's error challenge (after which the server fails the command).
    ///
    /// Further challenges fail with [`SaslError::TooManySteps`].
    pub fn respond(&mut self, challenge: &[u8], out: &mut [u8]) -> Result<usize, SaslError> {
        let n = match (self.mechanism, self.step) {
            (Mechanism::Plain, 0) | (Mechanism::XOAuth2, 0) => self.first_message(out)?,
            (Mechanism::XOAuth2, 1) => 0,
            (Mechanism::Login, 0) => copy(self.credentials.username.as_bytes(), out)?,
            (Mechanism::Login, 1) => copy(self.credentials.secret.as_bytes(), out)?,
            (Mechanism::CramMd5, 0) => {
                if challenge.is_empty() {
                    return Err(SaslError::UnexpectedChallenge);
                }
                cram_md5(self.credentials, challenge, out)?
            }
            _ => return Err(SaslError::TooManySteps),
        };
        self.step = self.step.saturating_add(1);
        Ok(n)
    }

    /// The message of PLAIN or XOAUTH2.
    fn first_message(&self, out: &mut [u8]) -> Result<usize, SaslError> {
        let c = self.credentials;
        match self.mechanism {
            Mechanism::Plain => {
                let authzid = c.authzid.unwrap_or("");
                if [authzid, c.username, c.secret]
                    .iter()
                    .any(|f| f.as_bytes().contains(&0))
                {
                    return Err(SaslError::InvalidCredentials);
                }
                let mut w = Writer::new(out);
                w.put(authzid.as_bytes())?;
                w.put(b"\0")?;
                w.put(c.username.as_bytes())?;
                w.put(b"\0")?;
                w.put(c.secret.as_bytes())?;
                Ok(w.len())
            }
            Mechanism::XOAuth2 => {
                if [c.username, c.secret]
                    .iter()
                    .any(|f| f.as_bytes().contains(&1))
                {
                    return Err(SaslError::InvalidCredentials);
                }
                let mut w = Writer::new(out);
                w.put(b"user=")?;
                w.put(c.username.as_bytes())?;
                w.put(b"\x01auth=Bearer ")?;
                w.put(c.secret.as_bytes())?;
                w.put(b"\x01\x01")?;
                Ok(w.len())
            }
            Mechanism::Login | Mechanism::CramMd5 => Err(SaslError::UnexpectedChallenge),
        }
    }
}

/// The APOP digest (RFC 1939 section 7): lowercase hex of MD5(`timestamp` + `secret`), where
/// `timestamp` is the `<...>` string from the POP3 greeting, angle brackets included.
///
/// ```
/// use postwire_core::sasl::apop_digest;
/// // The example of RFC 1939.
/// let d = apop_digest(b"<1896.697170952@dbc.mtview.ca.us>", b"tanstaaf");
/// assert_eq!(&d, b"c4c9334bac560ecc979e58001b3e22fb");
/// ```
pub fn apop_digest(timestamp: &[u8], secret: &[u8]) -> [u8; 32] {
    let mut md5 = Md5::new();
    md5.update(timestamp);
    md5.update(secret);
    let digest = md5.finalize();
    let mut hex = [0u8; 32];
    write_hex(&digest, &mut hex);
    hex
}

/// `username SP hex(HMAC-MD5(secret, challenge))`.
fn cram_md5(c: Credentials<'_>, challenge: &[u8], out: &mut [u8]) -> Result<usize, SaslError> {
    let mut mac = <Hmac<Md5> as Mac>::new_from_slice(c.secret.as_bytes())
        .map_err(|_| SaslError::InvalidCredentials)?;
    mac.update(challenge);
    let tag = mac.finalize().into_bytes();
    let mut hex = [0u8; 32];
    write_hex(&tag, &mut hex);
    let mut w = Writer::new(out);
    w.put(c.username.as_bytes())?;
    w.put(b" ")?;
    w.put(&hex)?;
    Ok(w.len())
}

fn write_hex(bytes: &[u8], out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        if let [hi, lo] = pair {
            *hi = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
            *lo = HEX.get(usize::from(b & 0x0f)).copied().unwrap_or(b'0');
        }
    }
}

fn copy(src: &[u8], out: &mut [u8]) -> Result<usize, SaslError> {
    let mut w = Writer::new(out);
    w.put(src)?;
    Ok(w.len())
}

/// Appends to a byte slice, failing with `BufferTooSmall`.
struct Writer<'o> {
    out: &'o mut [u8],
    len: usize,
}

impl<'o> Writer<'o> {
    fn new(out: &'o mut [u8]) -> Self {
        Writer { out, len: 0 }
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), SaslError> {
        let end = self
            .len
            .checked_add(bytes.len())
            .ok_or(SaslError::BufferTooSmall)?;
        self.out
            .get_mut(self.len..end)
            .ok_or(SaslError::BufferTooSmall)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn names() {
        for m in [
            Mechanism::Plain,
            Mechanism::Login,
            Mechanism::CramMd5,
            Mechanism::XOAuth2,
        ] {
            assert_eq!(Mechanism::from_name(m.name().as_bytes()), Some(m));
            assert_eq!(
                Mechanism::from_name(m.name().to_ascii_lowercase().as_bytes()),
                Some(m)
            );
            assert_eq!(format!("{m}"), m.name());
        }
        assert_eq!(Mechanism::from_name(b""), None);
        assert_eq!(Mechanism::from_name(b"PLAINX"), None);
        assert!(Mechanism::Plain.has_initial_response());
        assert!(Mechanism::XOAuth2.has_initial_response());
        assert!(!Mechanism::Login.has_initial_response());
        assert!(!Mechanism::CramMd5.has_initial_response());
        assert!(!Mechanism::CramMd5.sends_secret_in_clear());
        assert!(Mechanism::Login.sends_secret_in_clear());
    }

    #[test]
    fn cram_md5_rfc2195() {
        let mut c = SaslClient::new(
            Mechanism::CramMd5,
            Credentials::new("tim", "tanstaaftanstaaf"),
        );
        let mut out = [0u8; 64];
        assert_eq!(c.initial_response(&mut out), Ok(None));
        assert_eq!(
            c.respond(b"", &mut out),
            Err(SaslError::UnexpectedChallenge)
        );
        let n = c
            .respond(b"<1896.697170952@postoffice.reston.mci.net>", &mut out)
            .unwrap();
        assert_eq!(&out[..n], b"tim b913a602c7eda7a495b4e6e7334d3890");
        assert_eq!(c.respond(b"x", &mut out), Err(SaslError::TooManySteps));
    }

    #[test]
    fn plain() {
        let creds = Credentials::new("user", "pass").with_authzid("admin");
        let mut c = SaslClient::new(Mechanism::Plain, creds);
        let mut out = [0u8; 64];
        let n = c.respond(b"", &mut out).unwrap();
        assert_eq!(&out[..n], b"admin\0user\0pass");
        assert_eq!(c.respond(b"", &mut out), Err(SaslError::TooManySteps));
        assert_eq!(
            c.initial_response(&mut out),
            Err(SaslError::UnexpectedChallenge)
        );
        // Buffer too small does not advance.
        let mut c = SaslClient::new(Mechanism::Plain, Credentials::new("user", "pass"));
        assert_eq!(
            c.initial_response(&mut out[..5]),
            Err(SaslError::BufferTooSmall)
        );
        assert_eq!(c.initial_response(&mut out), Ok(Some(10)));
        assert_eq!(c.respond(b"", &mut out), Err(SaslError::TooManySteps));
        let mut bad = SaslClient::new(Mechanism::Plain, Credentials::new("us\0er", "pass"));
        assert_eq!(
            bad.initial_response(&mut out),
            Err(SaslError::InvalidCredentials)
        );
    }

    #[test]
    fn xoauth2() {
        let mut c = SaslClient::new(Mechanism::XOAuth2, Credentials::new("u@x", "tok"));
        let mut out = [0u8; 64];
        let n = c.initial_response(&mut out).unwrap().unwrap();
        assert_eq!(&out[..n], b"user=u@x\x01auth=Bearer tok\x01\x01");
        assert_eq!(c.respond(b"{\"status\":\"401\"}", &mut out), Ok(0));
        assert_eq!(c.respond(b"{}", &mut out), Err(SaslError::TooManySteps));
        // Without the initial response.
        let mut c = SaslClient::new(Mechanism::XOAuth2, Credentials::new("u", "t"));
        assert_eq!(c.respond(b"", &mut out), Ok(22));
        assert_eq!(c.respond(b"{}", &mut out), Ok(0));
        assert_eq!(c.respond(b"{}", &mut out), Err(SaslError::TooManySteps));
        let mut bad = SaslClient::new(Mechanism::XOAuth2, Credentials::new("u", "t\x01"));
        assert_eq!(
            bad.initial_response(&mut out),
            Err(SaslError::InvalidCredentials)
        );
    }

    #[test]
    fn login_bounded() {
        let mut c = SaslClient::new(Mechanism::Login, Credentials::new("a", "b"));
        let mut out = [0u8; 8];
        assert_eq!(c.respond(b"Password:", &mut out), Ok(1));
        assert_eq!(out[0], b'a');
        assert_eq!(
            c.respond(b"", &mut [0u8; 0]),
            Err(SaslError::BufferTooSmall)
        );
        assert_eq!(c.respond(b"", &mut out), Ok(1));
        assert_eq!(out[0], b'b');
        for _ in 0..300 {
            assert_eq!(c.respond(b"", &mut out), Err(SaslError::TooManySteps));
        }
        assert_eq!(c.mechanism(), Mechanism::Login);
    }

    #[test]
    fn debug_redacts_secret() {
        let c = SaslClient::new(Mechanism::Plain, Credentials::new("u", "hunter2"));
        let s = format!("{c:?}");
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("redacted"));
        assert_eq!(
            format!("{}", SaslError::TooManySteps),
            "too many SASL challenges from the server"
        );
    }
}
