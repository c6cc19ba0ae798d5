//! `postwire imap`: the `postwire-imap` client on host sockets, as library functions (the
//! connection setup in [`connect`] is shared with the real-server tests) and as the
//! command-line front end.
//!
//! ```text
//! postwire imap --server imaps://HOST:PORT|imap://HOST:PORT --user NAME --password-env VAR
//!     [--ca FILE | --insecure] [--sigalgs LIST] [--allow-plaintext] [--tls-name NAME] [--auth MECH]
//!     [--timeout SECS] SUBCOMMAND
//! SUBCOMMAND: list [PATTERN] | status MAILBOX | select MAILBOX
//!     | fetch MAILBOX SET [--uid] [--items ITEMS] [--body-to FILE]
//!     | search MAILBOX KEY... [--uid] | store MAILBOX SET +FLAGS|-FLAGS|FLAGS FLAG... [--uid]
//!     | copy MAILBOX SET DEST | move MAILBOX SET DEST | expunge MAILBOX
//!     | append MAILBOX FILE [--flags FLAG...] | create MAILBOX | delete MAILBOX
//!     | rename OLD NEW | idle MAILBOX [--timeout SECS] [--until-exists]
//! ```
//!
//! `imaps://` is implicit TLS (993), `imap://` is STARTTLS (143), required unless
//! `--allow-plaintext`. Standard output carries JSON lines only, one per response or result;
//! `fetch --body-to FILE` streams the message bytes into FILE through the client's 16 KiB
//! receive buffer (memory does not grow with the message) and draws a progress bar on
//! standard error when that is a terminal. Mailbox names are UTF-8 on the command line and in
//! the output; the encoder sends modified UTF-7 (or UTF-8 where the server enabled it).

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};
use embedded_io_async::ErrorKind;
use postwire_core::sasl::{Credentials, Mechanism};
use postwire_imap::client::{
    Buffers, Client, ClientConfig, Error, FetchEvent, IdleControl, IdleEnd, IdleEvent, ListEntry,
    RefusalCode, Timeouts,
};
use postwire_imap::proto::{Cap, FlagSet};
use postwire_imap::wire::{
    Addresses, Atoms, BodyStructure, Date, Envelope, FetchAttr, FetchItem, FetchItems, IStr,
    Params, SearchKey, SeqNum, SeqRange, StatusAttr, StoreMode, StreamedItem, Value as WireValue,
    Values,
};
use postwire_tls::{TlsError, Trust};
use serde_json::{Map, Value, json};

use crate::net::{Security, TcpTransport, TokioDelay, connect_tcp};
use crate::send::printable;
use crate::tls::{
    CaSet, ConnectError, HostTlsStream, TlsBuffers, default_trust, start_tls_offering,
};
use postwire_tls::SigAlgs;

// ------------------------------------------------------------------------------ connection

/// A parsed `--server` URL: `imaps://HOST[:PORT]` (implicit TLS, default 993) or
/// `imap://HOST[:PORT]` (STARTTLS required, default 143).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImapUrl {
    /// `imaps` → [`Security::Implicit`], `imap` → [`Security::StartTls`].
    pub security: Security,
    /// Host name or IP address (without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl FromStr for ImapUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (security, host, port) =
            crate::net::parse_server_url(s, ("imaps", 993), ("imap", 143))?;
        Ok(ImapUrl {
            security,
            host,
            port,
        })
    }
}

/// The transport under the client: plain TCP (`--allow-plaintext`, or before STARTTLS) or
/// TLS over TCP. One type for both, so that a connected client has one type.
#[allow(
    clippy::large_enum_variant,
    reason = "one per connection; the TLS state is used in place, never moved around"
)]
pub enum ImapTransport<'b> {
    /// Plain TCP.
    Plain(TcpTransport),
    /// TLS over TCP (implicit TLS or after STARTTLS).
    Tls(HostTlsStream<'b>),
}

/// The error of an [`ImapTransport`].
#[derive(Debug)]
pub enum TransportError {
    /// The TCP socket failed.
    Tcp(io::Error),
    /// The TLS layer failed.
    Tls(TlsError),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(e) => write!(f, "{e}"),
            Self::Tls(e) => write!(f, "TLS: {e}"),
        }
    }
}

impl std::error::Error for TransportError {}

impl embedded_io::Error for TransportError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Tcp(e) => embedded_io::Error::kind(e),
            Self::Tls(e) => embedded_io::Error::kind(e),
        }
    }
}

impl embedded_io_async::ErrorType for ImapTransport<'_> {
    type Error = TransportError;
}

impl embedded_io_async::Read for ImapTransport<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, TransportError> {
        match self {
            Self::Plain(t) => t.read(buf).await.map_err(TransportError::Tcp),
            Self::Tls(t) => t.read(buf).await.map_err(TransportError::Tls),
        }
    }
}

impl embedded_io_async::Write for ImapTransport<'_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, TransportError> {
        match self {
            Self::Plain(t) => t.write(buf).await.map_err(TransportError::Tcp),
            Self::Tls(t) => t.write(buf).await.map_err(TransportError::Tls),
        }
    }

    async fn flush(&mut self) -> Result<(), TransportError> {
        match self {
            Self::Plain(t) => t.flush().await.map_err(TransportError::Tcp),
            Self::Tls(t) => t.flush().await.map_err(TransportError::Tls),
        }
    }
}

/// A connected, logged-in client (see [`connect`]).
pub type ImapClient<'b> = Client<'b, ImapTransport<'b>, TokioDelay>;

/// Receive buffer of the command-line client: the longest response line (LIST, ENVELOPE),
/// and the chunk size bodies stream through.
pub const RX_BUFFER: usize = 16 * 1024;
/// Transmit buffer: the longest command, and the chunk size of APPEND.
pub const TX_BUFFER: usize = 8 * 1024;

/// The memory one connection uses: client buffers and TLS record buffers. Nothing else grows
/// with the size of a message.
pub struct ImapBuffers {
    /// Client receive buffer.
    pub rx: Vec<u8>,
    /// Client transmit buffer.
    pub tx: Vec<u8>,
    /// TLS record buffers.
    pub tls: TlsBuffers,
}

impl ImapBuffers {
    /// [`RX_BUFFER`] and [`TX_BUFFER`] bytes, and TLS buffers of the recommended sizes.
    pub fn new() -> Self {
        Self::with_sizes(RX_BUFFER, TX_BUFFER)
    }

    /// Client buffers of the given sizes (TLS buffers as recommended).
    pub fn with_sizes(rx: usize, tx: usize) -> Self {
        Self {
            rx: vec![0; rx],
            tx: vec![0; tx],
            tls: TlsBuffers::new(),
        }
    }
}

impl Default for ImapBuffers {
    fn default() -> Self {
        Self::new()
    }
}

/// `--auth` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuthArg {
    /// AUTHENTICATE PLAIN.
    Plain,
    /// AUTHENTICATE LOGIN.
    Login,
    /// AUTHENTICATE CRAM-MD5.
    CramMd5,
    /// AUTHENTICATE XOAUTH2 (the password is the bearer token).
    Xoauth2,
    /// The IMAP LOGIN command.
    LoginCommand,
}

/// Where and how to connect and log in. `Debug` leaves the password out.
#[derive(Clone)]
pub struct ConnectOptions {
    /// Server URL.
    pub server: ImapUrl,
    /// The name to verify the certificate against (default: the URL's host).
    pub tls_name: Option<String>,
    /// Trust anchors (default: the built-in root store).
    pub ca: Option<CaSet>,
    /// Skip certificate verification (must be asked for explicitly).
    pub insecure: bool,
    /// The signature schemes offered in the TLS handshake (`--sigalgs`; default: all).
    pub sigalgs: SigAlgs,
    /// With `imap://`: no TLS at all, credentials in clear text.
    pub allow_plaintext: bool,
    /// User name.
    pub user: String,
    /// Password (or bearer token for XOAUTH2).
    pub password: String,
    /// Login method (default: AUTHENTICATE with the best mechanism offered, else LOGIN).
    pub auth: Option<AuthArg>,
    /// Timeout of each network wait.
    pub timeout: Duration,
}

impl fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("server", &self.server)
            .field("tls_name", &self.tls_name)
            .field("ca", &self.ca.as_ref().map(CaSet::len))
            .field("insecure", &self.insecure)
            .field("allow_plaintext", &self.allow_plaintext)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl fmt::Debug for ImapBuffers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapBuffers")
            .field("rx", &self.rx.len())
            .field("tx", &self.tx.len())
            .finish_non_exhaustive()
    }
}

/// Why a session failed: the stage and one human-readable line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapFailure {
    /// `connect`, `TLS handshake`, `greeting`, `STARTTLS`, `AUTHENTICATE`, `LOGIN`, `SELECT`,
    /// `FETCH`, `--body-to FILE`, ...
    pub stage: String,
    /// What went wrong, with the server's text when it refused.
    pub message: String,
}

impl fmt::Display for ImapFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.stage, self.message)
    }
}

impl std::error::Error for ImapFailure {}

fn failure(stage: impl Into<String>, message: impl Into<String>) -> ImapFailure {
    ImapFailure {
        stage: stage.into(),
        message: message.into(),
    }
}

fn code_name(c: RefusalCode) -> Option<&'static str> {
    Some(match c {
        RefusalCode::Alert => "ALERT",
        RefusalCode::Parse => "PARSE",
        RefusalCode::TryCreate => "TRYCREATE",
        RefusalCode::Nonexistent => "NONEXISTENT",
        RefusalCode::AlreadyExists => "ALREADYEXISTS",
        RefusalCode::AuthenticationFailed => "AUTHENTICATIONFAILED",
        RefusalCode::AuthorizationFailed => "AUTHORIZATIONFAILED",
        RefusalCode::Unavailable => "UNAVAILABLE",
        RefusalCode::ExpungeIssued => "EXPUNGEISSUED",
        RefusalCode::Limit => "LIMIT",
        RefusalCode::OverQuota => "OVERQUOTA",
        RefusalCode::Cannot => "CANNOT",
        RefusalCode::NoPerm => "NOPERM",
        RefusalCode::InUse => "INUSE",
        RefusalCode::ServerBug => "SERVERBUG",
        RefusalCode::ClientBug => "CLIENTBUG",
        RefusalCode::ContactAdmin => "CONTACTADMIN",
        RefusalCode::PrivacyRequired => "PRIVACYREQUIRED",
        RefusalCode::BadCharset => "BADCHARSET",
        _ => return None,
    })
}

/// One line for a client error at `stage`, with the server's text for refusals and BYE.
pub fn describe(client: &ImapClient<'_>, stage: &str, e: &Error<TransportError>) -> ImapFailure {
    let text = printable(client.last_response_text());
    let message = match e {
        Error::Rejected(r) => {
            let kind = if r.bad { "BAD" } else { "NO" };
            let code = r
                .code
                .and_then(code_name)
                .map(|c| format!(" [{c}]"))
                .unwrap_or_default();
            format!("server replied {kind}{code} {text}")
        }
        Error::Bye(_) if !text.is_empty() => format!("{e}: {text}"),
        Error::Io(err) => format!("I/O error: {err}"),
        other => other.to_string(),
    };
    failure(stage, message)
}

fn tls_failure(e: ConnectError, name: &str) -> ImapFailure {
    match e {
        ConnectError::Tcp(e) => failure("connect", e.to_string()),
        ConnectError::Timeout => failure("TLS handshake", "timed out"),
        ConnectError::Tls(t) => failure("TLS handshake", format!("with {name}: {t}")),
    }
}

/// Connects, reads the greeting, runs STARTTLS when the URL asks for it (`imap://` without
/// `allow_plaintext`), verifies the certificate (against `ca`, the built-in root store, or
/// not at all with `insecure`), and logs in. Returns a client in the authenticated state
/// whose buffers live in `bufs`.
///
/// Credentials never go out before the TLS handshake succeeded (unless `allow_plaintext`);
/// a PREAUTH greeting on a connection that should get STARTTLS is refused.
pub async fn connect<'b>(
    opts: &ConnectOptions,
    bufs: &'b mut ImapBuffers,
) -> Result<ImapClient<'b>, ImapFailure> {
    let mut security = opts.server.security;
    if opts.allow_plaintext && security == Security::StartTls {
        security = Security::Plain;
    }
    let name = opts
        .tls_name
        .clone()
        .unwrap_or_else(|| opts.server.host.clone());
    let anchors: Vec<&[u8]> = opts.ca.as_ref().map(CaSet::anchors).unwrap_or_default();
    // The same trust rules as `postwire send` and `postwire pop3`.
    let trust = if opts.insecure {
        Trust::Insecure
    } else if anchors.is_empty() {
        default_trust()
    } else {
        Trust::Anchors(&anchors)
    };
    let ms = u32::try_from(opts.timeout.as_millis()).unwrap_or(u32::MAX);
    let plain = security == Security::Plain;
    let config = ClientConfig {
        timeouts: Timeouts {
            greeting_ms: ms,
            command_ms: ms,
            write_ms: ms,
        },
        allow_plaintext_auth: plain,
        require_tls: !plain,
        // Strings sent as literals (mailbox names, subjects) stay inline up to 4 KiB; bodies
        // above that are streamed through the receive buffer.
        inline_literal_max: 4096,
        ..ClientConfig::default()
    };
    let ImapBuffers { rx, tx, tls } = bufs;
    let buffers = Buffers {
        rx: rx.as_mut_slice(),
        tx: tx.as_mut_slice(),
    };
    let tcp = connect_tcp(&opts.server.host, opts.server.port, opts.timeout)
        .await
        .map_err(|e| failure("connect", e.to_string()))?;
    let (mut client, preauth) = match security {
        Security::Implicit => {
            let stream = start_tls_offering(tcp, &name, &trust, opts.sigalgs, opts.timeout, tls)
                .await
                .map_err(|e| tls_failure(e, &name))?;
            let mut c = Client::new(ImapTransport::Tls(stream), TokioDelay, buffers, config);
            c.set_implicit_tls();
            let g = c.greet().await.map_err(|e| describe(&c, "greeting", &e))?;
            (c, g.preauth)
        }
        Security::Plain => {
            let mut c = Client::new(ImapTransport::Plain(tcp), TokioDelay, buffers, config);
            let g = c.greet().await.map_err(|e| describe(&c, "greeting", &e))?;
            (c, g.preauth)
        }
        Security::StartTls => {
            let mut c = Client::new(ImapTransport::Plain(tcp), TokioDelay, buffers, config);
            c.greet().await.map_err(|e| describe(&c, "greeting", &e))?;
            c.starttls()
                .await
                .map_err(|e| describe(&c, "STARTTLS", &e))?;
            let (transport, pending) = c
                .into_starttls()
                .map_err(|_| failure("STARTTLS", "the server did not accept STARTTLS"))?;
            let ImapTransport::Plain(tcp) = transport else {
                return Err(failure("STARTTLS", "the connection is already encrypted"));
            };
            let stream = start_tls_offering(tcp, &name, &trust, opts.sigalgs, opts.timeout, tls)
                .await
                .map_err(|e| tls_failure(e, &name))?;
            (pending.resume(ImapTransport::Tls(stream)), false)
        }
    };
    if !preauth {
        login(&mut client, opts).await?;
    }
    Ok(client)
}

async fn login(client: &mut ImapClient<'_>, opts: &ConnectOptions) -> Result<(), ImapFailure> {
    if !client.session().capabilities().is_known() {
        client
            .capability()
            .await
            .map_err(|e| describe(client, "CAPABILITY", &e))?;
    }
    let caps = *client.session().capabilities();
    let creds = Credentials::new(&opts.user, &opts.password);
    let mechanism = match opts.auth {
        Some(AuthArg::LoginCommand) => None,
        Some(AuthArg::Plain) => Some(Some(Mechanism::Plain)),
        Some(AuthArg::Login) => Some(Some(Mechanism::Login)),
        Some(AuthArg::CramMd5) => Some(Some(Mechanism::CramMd5)),
        Some(AuthArg::Xoauth2) => Some(Some(Mechanism::XOAuth2)),
        // The client picks the best of these the server offers; without any, LOGIN.
        None => [Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5]
            .iter()
            .any(|m| caps.auth(*m))
            .then_some(None),
    };
    match mechanism {
        Some(m) => client
            .authenticate(&creds, m)
            .await
            .map(|_| ())
            .map_err(|e| describe(client, "AUTHENTICATE", &e)),
        None => client
            .login(&opts.user, &opts.password)
            .await
            .map_err(|e| describe(client, "LOGIN", &e)),
    }
}

// ------------------------------------------------------------------------------ arguments

/// Most ranges in one SET argument.
pub const MAX_SET_RANGES: usize = 64;

fn seq_num(w: &str, whole: &str) -> Result<SeqNum, String> {
    if w == "*" {
        return Ok(SeqNum::Star);
    }
    match w.parse::<u64>() {
        Ok(0) => Err(format!(
            "SET {whole:?}: message numbers and UIDs start at 1"
        )),
        Ok(n) if n <= u64::from(u32::MAX) => Ok(SeqNum::Value(n)),
        _ => Err(format!(
            "SET {whole:?}: {w:?} is not a number from 1 to 4294967295 or *"
        )),
    }
}

/// Parses an IMAP sequence set: `1`, `1:5`, `3,7:9`, `5:*`, `*` (at most
/// [`MAX_SET_RANGES`] ranges).
pub fn parse_set(s: &str) -> Result<Vec<SeqRange>, String> {
    if s.is_empty() {
        return Err("SET is empty (e.g. 1, 1:5, 3,7:9, 5:*, *)".into());
    }
    let mut out = Vec::new();
    for part in s.split(',') {
        if out.len() == MAX_SET_RANGES {
            return Err(format!(
                "SET {s:?}: more than {MAX_SET_RANGES} ranges; use ranges (a:b) or several runs"
            ));
        }
        let (a, b) = match part.split_once(':') {
            Some((a, b)) => (seq_num(a, s)?, seq_num(b, s)?),
            None => {
                let n = seq_num(part, s)?;
                (n, n)
            }
        };
        out.push(SeqRange { start: a, end: b });
    }
    Ok(out)
}

/// Splits an ITEMS argument into item words: whitespace separates items except inside
/// `[...]` (section specs like `HEADER.FIELDS (FROM SUBJECT)`); one pair of parentheses
/// around the whole list is dropped.
fn item_words(s: &str) -> Result<Vec<&str>, String> {
    let t = s.trim();
    let t = match t.strip_prefix('(') {
        Some(inner) => inner
            .strip_suffix(')')
            .ok_or_else(|| format!("--items {s:?}: unbalanced parentheses"))?,
        None => t,
    };
    let mut words = Vec::new();
    let mut depth = 0usize;
    let mut start = None;
    for (i, c) in t.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("--items {s:?}: ']' without '['"))?;
            }
            _ => {}
        }
        if c.is_whitespace() && depth == 0 {
            if let Some(b) = start.take() {
                words.push(&t[b..i]);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if depth != 0 {
        return Err(format!("--items {s:?}: '[' without ']'"));
    }
    if let Some(b) = start {
        words.push(&t[b..]);
    }
    if words.is_empty() {
        return Err("--items is empty".into());
    }
    Ok(words)
}

fn partial(spec: &str, word: &str) -> Result<Option<(u64, u64)>, String> {
    if spec.is_empty() {
        return Ok(None);
    }
    let bad = || format!("--items: {word:?}: the partial range must be <ORIGIN.COUNT>");
    let inner = spec
        .strip_prefix('<')
        .and_then(|x| x.strip_suffix('>'))
        .ok_or_else(bad)?;
    let (o, n) = inner.split_once('.').ok_or_else(bad)?;
    Ok(Some((
        o.parse().map_err(|_| bad())?,
        n.parse().map_err(|_| bad())?,
    )))
}

/// Maps ITEMS (`UID FLAGS ENVELOPE BODY.PEEK[TEXT]`, optionally in parentheses) to
/// FETCH attributes. The macros ALL, FAST and FULL are sent as macros when they are the only
/// item, and expanded otherwise.
pub fn parse_items(s: &str) -> Result<Vec<FetchAttr<'_>>, String> {
    let words = item_words(s)?;
    let alone = words.len() == 1;
    let mut out = Vec::new();
    for w in words {
        let (base, rest) = match w.find('[') {
            Some(i) => (&w[..i], Some(&w[i..])),
            None => (w, None),
        };
        let upper = base.to_ascii_uppercase();
        let attr = match rest {
            Some(rest) => {
                let close = rest
                    .rfind(']')
                    .ok_or_else(|| format!("--items: {w:?}: missing ']'"))?;
                let section = &rest[1..close];
                let partial = partial(&rest[close + 1..], w)?;
                match upper.as_str() {
                    "BODY" | "BODY.PEEK" => FetchAttr::BodySection {
                        section,
                        peek: upper == "BODY.PEEK",
                        partial,
                    },
                    "BINARY" | "BINARY.PEEK" => FetchAttr::Binary {
                        section,
                        peek: upper == "BINARY.PEEK",
                        partial,
                    },
                    "BINARY.SIZE" if partial.is_none() => FetchAttr::BinarySize(section),
                    _ => return Err(format!("--items: unknown item {w:?}")),
                }
            }
            None => match upper.as_str() {
                "ALL" | "FAST" | "FULL" if !alone => {
                    out.extend([
                        FetchAttr::Flags,
                        FetchAttr::InternalDate,
                        FetchAttr::Rfc822Size,
                    ]);
                    if upper != "FAST" {
                        out.push(FetchAttr::Envelope);
                    }
                    if upper == "FULL" {
                        out.push(FetchAttr::Body);
                    }
                    continue;
                }
                "ALL" => FetchAttr::All,
                "FAST" => FetchAttr::Fast,
                "FULL" => FetchAttr::Full,
                "UID" => FetchAttr::Uid,
                "FLAGS" => FetchAttr::Flags,
                "INTERNALDATE" => FetchAttr::InternalDate,
                "RFC822.SIZE" => FetchAttr::Rfc822Size,
                "ENVELOPE" => FetchAttr::Envelope,
                "BODY" => FetchAttr::Body,
                "BODYSTRUCTURE" => FetchAttr::BodyStructure,
                "MODSEQ" => FetchAttr::ModSeq,
                "X-GM-MSGID" => FetchAttr::GmMsgId,
                "X-GM-THRID" => FetchAttr::GmThrId,
                "X-GM-LABELS" => FetchAttr::GmLabels,
                "EMAILID" => FetchAttr::EmailId,
                "THREADID" => FetchAttr::ThreadId,
                "RFC822" => FetchAttr::Rfc822,
                "RFC822.HEADER" => FetchAttr::Rfc822Header,
                "RFC822.TEXT" => FetchAttr::Rfc822Text,
                _ => return Err(format!("--items: unknown item {w:?}")),
            },
        };
        out.push(attr);
    }
    Ok(out)
}

/// The FETCH items `fetch` sends without `--items`.
pub const DEFAULT_ITEMS: &str = "UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE";

fn is_content(a: &FetchAttr<'_>) -> bool {
    matches!(
        a,
        FetchAttr::BodySection { .. }
            | FetchAttr::Binary { .. }
            | FetchAttr::Rfc822
            | FetchAttr::Rfc822Header
            | FetchAttr::Rfc822Text
    )
}

/// Whether fetching `a` sets `\Seen` (then the mailbox is opened read-write).
fn sets_seen(a: &FetchAttr<'_>) -> bool {
    matches!(
        a,
        FetchAttr::BodySection { peek: false, .. }
            | FetchAttr::Binary { peek: false, .. }
            | FetchAttr::Rfc822
            | FetchAttr::Rfc822Text
    )
}

/// The attributes `fetch` sends: ITEMS (or [`DEFAULT_ITEMS`]), plus `BODY.PEEK[]` with
/// `--body-to` when ITEMS has no content item.
pub fn fetch_attrs(items: Option<&str>, body_to: bool) -> Result<Vec<FetchAttr<'_>>, String> {
    let mut attrs = parse_items(items.unwrap_or(DEFAULT_ITEMS))?;
    if body_to && !attrs.iter().any(is_content) {
        if matches!(
            attrs.as_slice(),
            [FetchAttr::All | FetchAttr::Fast | FetchAttr::Full]
        ) {
            // A macro must stand alone: expand it to add the body.
            let macro_name = match attrs.first() {
                Some(FetchAttr::All) => "ALL",
                Some(FetchAttr::Fast) => "FAST",
                _ => "FULL",
            };
            attrs.clear();
            attrs.extend([
                FetchAttr::Flags,
                FetchAttr::InternalDate,
                FetchAttr::Rfc822Size,
            ]);
            if macro_name != "FAST" {
                attrs.push(FetchAttr::Envelope);
            }
            if macro_name == "FULL" {
                attrs.push(FetchAttr::Body);
            }
        }
        attrs.push(FetchAttr::BodySection {
            section: "",
            peek: true,
            partial: None,
        });
    }
    Ok(attrs)
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

/// Parses a SEARCH date: `1-Jan-2026` (RFC 3501) or `2026-01-01`.
pub fn parse_date(w: &str) -> Result<Date, String> {
    let bad = || format!("{w:?} is not a date like 1-Jan-2026 or 2026-01-31");
    let parts: Vec<&str> = w.split('-').collect();
    let [a, b, c] = parts.as_slice() else {
        return Err(bad());
    };
    let (day, month, year) = if a.len() == 4 {
        (
            c.parse::<u8>().map_err(|_| bad())?,
            b.parse::<u8>().map_err(|_| bad())?,
            a.parse::<u16>().map_err(|_| bad())?,
        )
    } else {
        let m = MONTHS
            .iter()
            .position(|m| m.eq_ignore_ascii_case(b))
            .ok_or_else(bad)?;
        (
            a.parse::<u8>().map_err(|_| bad())?,
            u8::try_from(m + 1).map_err(|_| bad())?,
            c.parse::<u16>().map_err(|_| bad())?,
        )
    };
    if !(1..=31).contains(&day) || !(1..=12).contains(&month) || !(1..=9999).contains(&year) {
        return Err(bad());
    }
    Ok(Date { day, month, year })
}

/// A parsed SEARCH key whose subkeys are owned; [`build_search`] turns a list of them into
/// the borrowed [`SearchKey`]s the client sends.
#[derive(Clone, Debug, PartialEq)]
pub enum Key<'w> {
    /// A key without subkeys or sets.
    Leaf(SearchKey<'w>),
    /// `NOT key`.
    Not(Box<Key<'w>>),
    /// `OR key key`.
    Or(Box<Key<'w>>, Box<Key<'w>>),
    /// `( key ... )`.
    And(Vec<Key<'w>>),
    /// `UID set`.
    Uid(Vec<SeqRange>),
    /// A sequence set.
    Seq(Vec<SeqRange>),
}

impl Key<'_> {
    /// Arena slots [`build_search`] needs for this key.
    fn slots(&self) -> usize {
        match self {
            Key::Not(k) => 1 + k.slots(),
            Key::Or(a, b) => 2 + a.slots() + b.slots(),
            Key::And(v) => v.len() + v.iter().map(Key::slots).sum::<usize>(),
            _ => 0,
        }
    }
}

/// Deepest nesting of NOT/OR/parentheses accepted.
const MAX_SEARCH_DEPTH: usize = 32;

struct KeyParser<'w> {
    words: &'w [String],
    pos: usize,
    /// Pieces split off a word (a leading `(`, trailing `)`), read before the next word.
    pushed: Vec<&'w str>,
    depth: usize,
}

impl<'w> KeyParser<'w> {
    fn next(&mut self) -> Option<&'w str> {
        if let Some(w) = self.pushed.pop() {
            return Some(w);
        }
        let w = self.words.get(self.pos)?;
        self.pos += 1;
        Some(w.as_str())
    }

    fn peek(&mut self) -> Option<&'w str> {
        let w = self.next()?;
        self.pushed.push(w);
        Some(w)
    }

    fn arg(&mut self, key: &str, what: &str) -> Result<&'w str, String> {
        self.next()
            .ok_or_else(|| format!("search key {key} needs {what}"))
    }

    fn number(&mut self, key: &str) -> Result<u64, String> {
        let w = self.arg(key, "a number")?;
        w.parse()
            .map_err(|_| format!("search key {key}: {w:?} is not a number"))
    }

    fn date(&mut self, key: &str) -> Result<Date, String> {
        let w = self.arg(key, "a date")?;
        parse_date(w).map_err(|e| format!("search key {key}: {e}"))
    }

    fn key(&mut self) -> Result<Key<'w>, String> {
        if self.depth >= MAX_SEARCH_DEPTH {
            return Err(format!(
                "search keys nested deeper than {MAX_SEARCH_DEPTH} levels"
            ));
        }
        let w = self.next().ok_or("a search key is missing")?;
        if let Some(rest) = w.strip_prefix('(') {
            if !rest.is_empty() {
                self.pushed.push(rest);
            }
            return self.group();
        }
        if w == ")" {
            return Err("')' without '('".into());
        }
        // `SEEN)` or `1:5))` inside a group: the closing parentheses are separate.
        let mut word = w;
        if self.depth > 0 {
            let trimmed = w.trim_end_matches(')');
            let closes = w.len() - trimmed.len();
            if closes > 0 && !trimmed.is_empty() {
                for _ in 0..closes {
                    self.pushed.push(")");
                }
                word = trimmed;
            }
        }
        let upper = word.to_ascii_uppercase();
        let leaf = |k: SearchKey<'w>| Ok(Key::Leaf(k));
        match upper.as_str() {
            "ALL" => leaf(SearchKey::All),
            "ANSWERED" => leaf(SearchKey::Answered),
            "DELETED" => leaf(SearchKey::Deleted),
            "DRAFT" => leaf(SearchKey::Draft),
            "FLAGGED" => leaf(SearchKey::Flagged),
            "NEW" => leaf(SearchKey::New),
            "OLD" => leaf(SearchKey::Old),
            "RECENT" => leaf(SearchKey::Recent),
            "SEEN" => leaf(SearchKey::Seen),
            "UNANSWERED" => leaf(SearchKey::Unanswered),
            "UNDELETED" => leaf(SearchKey::Undeleted),
            "UNDRAFT" => leaf(SearchKey::Undraft),
            "UNFLAGGED" => leaf(SearchKey::Unflagged),
            "UNSEEN" => leaf(SearchKey::Unseen),
            _ if word.starts_with(|c: char| c.is_ascii_digit() || c == '*') => {
                Ok(Key::Seq(parse_set(word)?))
            }
            _ if word.len() != w.len() => Err(format!(
                "search key {word}: write its argument before the ')' (or ')' as a separate word)"
            )),
            "BCC" => leaf(SearchKey::Bcc(self.arg(&upper, "a string")?)),
            "BODY" => leaf(SearchKey::Body(self.arg(&upper, "a string")?)),
            "CC" => leaf(SearchKey::Cc(self.arg(&upper, "a string")?)),
            "FROM" => leaf(SearchKey::From(self.arg(&upper, "a string")?)),
            "SUBJECT" => leaf(SearchKey::Subject(self.arg(&upper, "a string")?)),
            "TEXT" => leaf(SearchKey::Text(self.arg(&upper, "a string")?)),
            "TO" => leaf(SearchKey::To(self.arg(&upper, "a string")?)),
            "KEYWORD" => leaf(SearchKey::Keyword(self.arg(&upper, "a flag")?)),
            "UNKEYWORD" => leaf(SearchKey::Unkeyword(self.arg(&upper, "a flag")?)),
            "HEADER" => {
                let field = self.arg(&upper, "a field name and a string")?;
                let value = self.arg(&upper, "a field name and a string")?;
                leaf(SearchKey::Header(field, value))
            }
            "BEFORE" => leaf(SearchKey::Before(self.date(&upper)?)),
            "ON" => leaf(SearchKey::On(self.date(&upper)?)),
            "SINCE" => leaf(SearchKey::Since(self.date(&upper)?)),
            "SENTBEFORE" => leaf(SearchKey::SentBefore(self.date(&upper)?)),
            "SENTON" => leaf(SearchKey::SentOn(self.date(&upper)?)),
            "SENTSINCE" => leaf(SearchKey::SentSince(self.date(&upper)?)),
            "LARGER" => leaf(SearchKey::Larger(self.number(&upper)?)),
            "SMALLER" => leaf(SearchKey::Smaller(self.number(&upper)?)),
            "MODSEQ" => leaf(SearchKey::ModSeq(self.number(&upper)?)),
            "UID" => {
                let set = self.arg(&upper, "a set")?;
                Ok(Key::Uid(parse_set(set)?))
            }
            "NOT" => {
                self.depth += 1;
                let k = self.key()?;
                self.depth -= 1;
                Ok(Key::Not(Box::new(k)))
            }
            "OR" => {
                self.depth += 1;
                let a = self.key()?;
                let b = self.key()?;
                self.depth -= 1;
                Ok(Key::Or(Box::new(a), Box::new(b)))
            }
            _ => Err(format!("unknown search key {word:?}")),
        }
    }

    fn group(&mut self) -> Result<Key<'w>, String> {
        self.depth += 1;
        let mut keys = Vec::new();
        loop {
            match self.peek() {
                None => return Err("'(' without ')' in the search keys".into()),
                Some(")") => {
                    self.next();
                    break;
                }
                Some(_) => keys.push(self.key()?),
            }
        }
        self.depth -= 1;
        match keys.len() {
            0 => Err("empty '( )' in the search keys".into()),
            1 => Ok(keys.remove(0)),
            _ => Ok(Key::And(keys)),
        }
    }
}

/// Parses SEARCH keys (RFC 3501 §6.4.4 words, case-insensitive): `ALL`, `SEEN`,
/// `FROM x`, `SINCE 1-Jan-2026`, `UID 5:*`, `NOT k`, `OR k k`, `HEADER f v`, `( k k )`,
/// a sequence set, ... Several keys must all match.
pub fn parse_search(words: &[String]) -> Result<Vec<Key<'_>>, String> {
    let mut p = KeyParser {
        words,
        pos: 0,
        pushed: Vec::new(),
        depth: 0,
    };
    let mut keys = Vec::new();
    while let Some(w) = p.peek() {
        if w == ")" {
            return Err("')' without '('".into());
        }
        keys.push(p.key()?);
    }
    if keys.is_empty() {
        return Err("give at least one search key (e.g. ALL, UNSEEN, SUBJECT text)".into());
    }
    Ok(keys)
}

/// Builds one key; subkeys (NOT, OR, groups) go into `free`, children before parents, so
/// that a parent borrows finished children. Returns the key and the rest of `free`.
fn build_key<'a>(
    key: &'a Key<'a>,
    free: &'a mut [SearchKey<'a>],
) -> Option<(SearchKey<'a>, &'a mut [SearchKey<'a>])> {
    Some(match key {
        Key::Leaf(k) => (*k, free),
        Key::Uid(set) => (SearchKey::Uid(set), free),
        Key::Seq(set) => (SearchKey::Seq(set), free),
        Key::Not(k) => {
            let (child, free) = build_key(k, free)?;
            let (slot, free) = free.split_first_mut()?;
            *slot = child;
            let slot: &'a SearchKey<'a> = slot;
            (SearchKey::Not(slot), free)
        }
        Key::Or(a, b) => {
            let (ka, free) = build_key(a, free)?;
            let (kb, free) = build_key(b, free)?;
            let (pair, free) = free.split_at_mut_checked(2)?;
            let [sa, sb] = pair else { return None };
            *sa = ka;
            *sb = kb;
            let (sa, sb): (&'a SearchKey<'a>, &'a SearchKey<'a>) = (sa, sb);
            (SearchKey::Or(sa, sb), free)
        }
        Key::And(keys) => {
            let mut values = Vec::with_capacity(keys.len());
            let mut free = free;
            for k in keys {
                let (v, rest) = build_key(k, free)?;
                values.push(v);
                free = rest;
            }
            let (block, free) = free.split_at_mut_checked(values.len())?;
            block.copy_from_slice(&values);
            let block: &'a [SearchKey<'a>] = block;
            (SearchKey::And(block), free)
        }
    })
}

/// The arena size [`build_search`] needs for `keys`.
pub fn search_slots(keys: &[Key<'_>]) -> usize {
    keys.iter().map(Key::slots).sum()
}

/// Turns parsed keys into the criteria list for [`Client::search`]; subkeys live in `arena`
/// (at least [`search_slots`] long). `None` when the arena is too small.
pub fn build_search<'a>(
    keys: &'a [Key<'a>],
    arena: &'a mut [SearchKey<'a>],
) -> Option<Vec<SearchKey<'a>>> {
    let mut out = Vec::with_capacity(keys.len());
    let mut free = arena;
    for k in keys {
        let (v, rest) = build_key(k, free)?;
        out.push(v);
        free = rest;
    }
    Some(out)
}

/// Parses the STORE mode word: `+FLAGS`, `-FLAGS` or `FLAGS`, each optionally `.SILENT`.
/// Returns the mode and whether it is silent.
pub fn parse_store_mode(w: &str) -> Result<(StoreMode, bool), String> {
    let upper = w.to_ascii_uppercase();
    let (base, silent) = match upper.strip_suffix(".SILENT") {
        Some(b) => (b, true),
        None => (upper.as_str(), false),
    };
    let mode = match base {
        "+FLAGS" => StoreMode::Add,
        "-FLAGS" => StoreMode::Remove,
        "FLAGS" => StoreMode::Replace,
        _ => {
            return Err(format!(
                "store: {w:?} must be +FLAGS, -FLAGS or FLAGS (optionally .SILENT)"
            ));
        }
    };
    Ok((mode, silent))
}

/// Flags from FLAG arguments; `(\Seen \Flagged)` in one argument is split.
fn flag_words(args: &[String]) -> Vec<&str> {
    args.iter()
        .flat_map(|a| {
            a.trim_start_matches('(')
                .trim_end_matches(')')
                .split_whitespace()
        })
        .collect()
}

// ------------------------------------------------------------------------------ JSON

fn istr_bytes(s: IStr<'_>) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len());
    for c in s.chunks() {
        v.extend_from_slice(c);
    }
    v
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn istr_json(s: Option<IStr<'_>>) -> Value {
    s.map_or(Value::Null, |s| Value::String(lossy(&istr_bytes(s))))
}

/// A header text with its RFC 2047 encoded words decoded.
fn header_text(raw: &[u8]) -> String {
    let mut out = vec![0u8; raw.len() * 3 + 16];
    match postwire_mime::rfc2047::decode_header_value(raw, &mut out) {
        Ok(d) => lossy(out.get(..d.len).unwrap_or_default()),
        Err(_) => lossy(raw),
    }
}

fn atoms_json(a: Atoms<'_>) -> Value {
    Value::Array(a.map(|x| Value::String(lossy(x))).collect())
}

fn flagset_json(f: &FlagSet) -> Value {
    Value::Array(f.iter().map(|s| Value::String(s.to_string())).collect())
}

fn addresses_json(list: Option<Addresses<'_>>) -> Value {
    let Some(list) = list else {
        return Value::Null;
    };
    let mut out = Vec::new();
    for a in list {
        let mailbox = a.mailbox.map(istr_bytes);
        let host = a.host.map(istr_bytes);
        let mut m = Map::new();
        match (mailbox, host) {
            // RFC 3501 groups: a start marker (no host) and an end marker (nothing).
            (Some(g), None) => {
                m.insert("group".into(), Value::String(header_text(&g)));
            }
            (None, None) => continue,
            (mailbox, Some(host)) => {
                let name = a.name.map(istr_bytes);
                m.insert(
                    "name".into(),
                    name.map_or(Value::Null, |n| Value::String(header_text(&n))),
                );
                let local = mailbox.unwrap_or_default();
                m.insert(
                    "address".into(),
                    Value::String(format!("{}@{}", lossy(&local), lossy(&host))),
                );
            }
        }
        out.push(Value::Object(m));
    }
    Value::Array(out)
}

fn envelope_json(e: &Envelope<'_>) -> Value {
    let mut m = Map::new();
    m.insert("date".into(), istr_json(e.date()));
    let raw = e.subject().map(istr_bytes);
    let subject = raw.as_deref().map(header_text);
    if let (Some(raw), Some(s)) = (&raw, &subject)
        && s.as_bytes() != raw.as_slice()
    {
        m.insert("subject_raw".into(), Value::String(lossy(raw)));
    }
    m.insert("subject".into(), subject.map_or(Value::Null, Value::String));
    m.insert("from".into(), addresses_json(e.from()));
    m.insert("sender".into(), addresses_json(e.sender()));
    m.insert("reply_to".into(), addresses_json(e.reply_to()));
    m.insert("to".into(), addresses_json(e.to()));
    m.insert("cc".into(), addresses_json(e.cc()));
    m.insert("bcc".into(), addresses_json(e.bcc()));
    m.insert("in_reply_to".into(), istr_json(e.in_reply_to()));
    m.insert("message_id".into(), istr_json(e.message_id()));
    Value::Object(m)
}

fn params_json(p: Option<Params<'_>>) -> Value {
    let Some(p) = p else {
        return Value::Null;
    };
    let mut m = Map::new();
    for (k, v) in p {
        m.insert(lossy(&istr_bytes(k)).to_ascii_lowercase(), istr_json(v));
    }
    Value::Object(m)
}

fn body_json(b: &BodyStructure<'_>) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), istr_json(Some(b.media_type())));
    m.insert("subtype".into(), istr_json(Some(b.subtype())));
    if b.is_multipart() {
        m.insert(
            "parts".into(),
            Value::Array(b.parts().map(|p| body_json(&p)).collect()),
        );
    } else {
        m.insert("params".into(), params_json(b.params()));
        m.insert("id".into(), istr_json(b.id()));
        m.insert("description".into(), istr_json(b.description()));
        m.insert("encoding".into(), istr_json(b.encoding()));
        m.insert("size".into(), json!(b.size()));
        if let Some(l) = b.lines() {
            m.insert("lines".into(), json!(l));
        }
        if let Some(inner) = b.body() {
            m.insert("body".into(), body_json(&inner));
        }
    }
    if let Some(Some(d)) = b.disposition() {
        m.insert(
            "disposition".into(),
            json!({"type": istr_json(Some(d.kind)), "params": params_json(d.params)}),
        );
    }
    Value::Object(m)
}

fn values_json(v: Values<'_>) -> Value {
    fn one(v: WireValue<'_>) -> Value {
        match v {
            WireValue::Nil => Value::Null,
            WireValue::Number(n) => json!(n),
            WireValue::String(s) => istr_json(Some(s)),
            WireValue::Atom(a) => Value::String(lossy(a)),
            WireValue::List(l) => Value::Array(l.map(one).collect()),
        }
    }
    let mut all: Vec<Value> = v.map(one).collect();
    if all.len() == 1 {
        all.pop().unwrap_or(Value::Null)
    } else {
        Value::Array(all)
    }
}

fn base64(data: &[u8]) -> String {
    let mut out = vec![0u8; data.len().div_ceil(3) * 4 + 4];
    match postwire_core::base64::encode_into(data, &mut out) {
        Ok(n) => lossy(out.get(..n).unwrap_or_default()),
        Err(_) => String::new(),
    }
}

/// A body section as JSON: `text` when the bytes are UTF-8, `base64` otherwise, `text: null`
/// for NIL.
fn section_json(name: &[u8], data: Option<&[u8]>) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), Value::String(lossy(name)));
    match data {
        None => {
            m.insert("bytes".into(), json!(0));
            m.insert("text".into(), Value::Null);
        }
        Some(d) => {
            m.insert("bytes".into(), json!(d.len()));
            match std::str::from_utf8(d) {
                Ok(s) => m.insert("text".into(), Value::String(s.to_string())),
                Err(_) => m.insert("base64".into(), Value::String(base64(d))),
            };
        }
    }
    Value::Object(m)
}

/// Adds a (non-content) FETCH item to a line.
fn item_into(m: &mut Map<String, Value>, name: &[u8], item: FetchItem<'_>) {
    let (key, value) = match item {
        FetchItem::Uid(n) => ("uid", json!(n)),
        FetchItem::Flags(f) => ("flags", atoms_json(f)),
        FetchItem::InternalDate(s) => ("internal_date", istr_json(Some(s))),
        FetchItem::Rfc822Size(n) => ("size", json!(n)),
        FetchItem::Envelope(e) => ("envelope", envelope_json(&e)),
        FetchItem::Body(b) | FetchItem::BodyStructure(b) => ("body_structure", body_json(&b)),
        FetchItem::ModSeq(n) => ("modseq", json!(n)),
        other => {
            let v = match other {
                FetchItem::BinarySize(n) | FetchItem::GmMsgId(n) | FetchItem::GmThrId(n) => {
                    json!(n)
                }
                FetchItem::GmLabels(l) => Value::Array(l.map(|s| istr_json(Some(s))).collect()),
                FetchItem::EmailId(s) | FetchItem::ThreadId(s) | FetchItem::SaveDate(s) => {
                    istr_json(s)
                }
                FetchItem::Section(s) => istr_json(s),
                FetchItem::Other(v) => values_json(v),
                _ => Value::Null,
            };
            let items = m
                .entry("items")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(items) = items {
                items.insert(lossy(name).to_ascii_uppercase(), v);
            }
            return;
        }
    };
    m.insert(key.into(), value);
}

fn write_line(out: &mut dyn io::Write, v: &Value) -> Result<(), ImapFailure> {
    writeln!(out, "{v}")
        .and_then(|()| out.flush())
        .map_err(|e| failure("output", e.to_string()))
}

// ------------------------------------------------------------------------------ fetch

/// A progress bar on standard error (only when it is a terminal).
struct Progress {
    on: bool,
    total: u64,
    done: u64,
    start: Instant,
    last: Instant,
    drawn: bool,
}

impl Progress {
    fn new(on: bool) -> Self {
        let now = Instant::now();
        Progress {
            on,
            total: 0,
            done: 0,
            start: now,
            last: now,
            drawn: false,
        }
    }

    fn begin(&mut self, total: u64) {
        self.total = total;
        self.done = 0;
        self.start = Instant::now();
        self.last = self.start;
        self.drawn = false;
    }

    fn advance(&mut self, n: u64) {
        self.done += n;
        if self.on && (self.done >= self.total || self.last.elapsed() >= Duration::from_millis(100))
        {
            self.draw();
        }
    }

    fn draw(&mut self) {
        const MIB: f64 = 1024.0 * 1024.0;
        let pct = if self.total == 0 {
            100.0
        } else {
            self.done as f64 * 100.0 / self.total as f64
        };
        let secs = self.start.elapsed().as_secs_f64().max(1e-6);
        let _ = write!(
            io::stderr(),
            "\r{pct:5.1}%  {:.1} / {:.1} MiB  {:.1} MB/s ",
            self.done as f64 / MIB,
            self.total as f64 / MIB,
            self.done as f64 / secs / 1e6
        );
        self.last = Instant::now();
        self.drawn = true;
    }

    fn finish(&mut self) {
        if self.on && self.drawn {
            let _ = writeln!(io::stderr());
        }
        self.drawn = false;
    }
}

/// The `--body-to` file.
struct BodyFile {
    path: String,
    out: BufWriter<File>,
    written: u64,
    bodies: u64,
    progress: Progress,
}

enum Stream {
    None,
    File { name: String, start: u64 },
    Collect { name: String, data: Vec<u8> },
}

/// Turns FETCH events into JSON lines and the `--body-to` file.
struct FetchSink<'o> {
    out: &'o mut dyn io::Write,
    body: Option<BodyFile>,
    line: Map<String, Value>,
    sections: Vec<Value>,
    took_body: bool,
    stream: Stream,
    failure: Option<ImapFailure>,
}

impl FetchSink<'_> {
    fn on(&mut self, ev: FetchEvent<'_>) -> Result<(), ErrorKind> {
        match ev {
            FetchEvent::Message { seq, items } => {
                self.begin(seq);
                self.items(items)?;
                self.emit()
            }
            FetchEvent::Start {
                seq,
                items,
                streamed,
            } => {
                self.begin(seq);
                self.items(items)?;
                self.start_stream(streamed);
                Ok(())
            }
            FetchEvent::Data { data, .. } => self.data(data),
            FetchEvent::More { items, streamed } => {
                self.end_stream();
                self.items(items)?;
                match streamed {
                    Some(s) => {
                        self.start_stream(s);
                        Ok(())
                    }
                    None => self.emit(),
                }
            }
            _ => Ok(()),
        }
    }

    fn fail(&mut self, f: ImapFailure, kind: ErrorKind) -> ErrorKind {
        self.failure.get_or_insert(f);
        kind
    }

    fn begin(&mut self, seq: u64) {
        self.line = Map::new();
        self.line.insert("seq".into(), json!(seq));
        self.sections.clear();
        self.took_body = false;
        self.stream = Stream::None;
    }

    fn write_body(&mut self, data: &[u8]) -> Result<(), ErrorKind> {
        let Some(b) = self.body.as_mut() else {
            return Ok(());
        };
        match b.out.write_all(data) {
            Ok(()) => {
                b.written += data.len() as u64;
                Ok(())
            }
            Err(e) => {
                let f = failure(format!("--body-to {}", b.path), e.to_string());
                Err(self.fail(f, ErrorKind::Other))
            }
        }
    }

    fn note_body(&mut self, name: &[u8], start: u64) {
        if let Some(b) = self.body.as_mut() {
            b.bodies += 1;
            self.line
                .insert("body_section".into(), Value::String(lossy(name)));
            self.line
                .insert("body_bytes".into(), json!(b.written - start));
            self.line.insert("body_offset".into(), json!(start));
            self.line
                .insert("body_to".into(), Value::String(b.path.clone()));
        }
    }

    fn items(&mut self, items: FetchItems<'_>) -> Result<(), ErrorKind> {
        for (name, item) in items.with_names() {
            match item {
                FetchItem::Section(v) if self.body.is_some() && !self.took_body => {
                    self.took_body = true;
                    let start = self.body.as_ref().map_or(0, |b| b.written);
                    if let Some(v) = v {
                        for chunk in v.chunks() {
                            self.write_body(chunk)?;
                        }
                    }
                    self.note_body(name, start);
                }
                FetchItem::Section(v) => {
                    let data = v.map(istr_bytes);
                    self.sections.push(section_json(name, data.as_deref()));
                }
                other => item_into(&mut self.line, name, other),
            }
        }
        Ok(())
    }

    fn start_stream(&mut self, s: StreamedItem<'_>) {
        let name = lossy(s.name);
        if let Some(b) = self.body.as_mut()
            && !self.took_body
        {
            self.took_body = true;
            b.progress.begin(s.len);
            self.stream = Stream::File {
                name,
                start: b.written,
            };
        } else {
            let cap = usize::try_from(s.len.min(1 << 20)).unwrap_or(0);
            self.stream = Stream::Collect {
                name,
                data: Vec::with_capacity(cap),
            };
        }
    }

    fn data(&mut self, data: &[u8]) -> Result<(), ErrorKind> {
        match &mut self.stream {
            Stream::None => Ok(()),
            Stream::Collect { data: d, .. } => {
                d.extend_from_slice(data);
                Ok(())
            }
            Stream::File { .. } => {
                self.write_body(data)?;
                if let Some(b) = self.body.as_mut() {
                    b.progress.advance(data.len() as u64);
                }
                Ok(())
            }
        }
    }

    fn end_stream(&mut self) {
        match std::mem::replace(&mut self.stream, Stream::None) {
            Stream::None => {}
            Stream::Collect { name, data } => {
                self.sections
                    .push(section_json(name.as_bytes(), Some(&data)));
            }
            Stream::File { name, start } => {
                if let Some(b) = self.body.as_mut() {
                    b.progress.finish();
                }
                self.note_body(name.as_bytes(), start);
            }
        }
    }

    fn emit(&mut self) -> Result<(), ErrorKind> {
        let mut line = std::mem::take(&mut self.line);
        if !self.sections.is_empty() {
            line.insert(
                "sections".into(),
                Value::Array(std::mem::take(&mut self.sections)),
            );
        }
        write_line(self.out, &Value::Object(line)).map_err(|f| self.fail(f, ErrorKind::BrokenPipe))
    }
}

// ------------------------------------------------------------------------------ commands

/// The subcommands of `postwire imap`.
#[derive(Subcommand, Debug, Clone)]
pub enum ImapCommand {
    /// List mailboxes (LIST): one line per mailbox.
    List {
        /// Mailbox pattern: `*` every mailbox, `%` one level.
        #[arg(value_name = "PATTERN", default_value = "*")]
        pattern: String,
        /// LIST reference name.
        #[arg(long, value_name = "REF", default_value = "")]
        reference: String,
    },
    /// Counters of a mailbox (STATUS), without selecting it.
    Status {
        /// The mailbox (UTF-8).
        #[arg(value_name = "MAILBOX")]
        mailbox: String,
    },
    /// Open a mailbox (SELECT) and show its state.
    Select {
        /// The mailbox (UTF-8).
        #[arg(value_name = "MAILBOX")]
        mailbox: String,
        /// Open it read-only (EXAMINE).
        #[arg(long)]
        read_only: bool,
    },
    /// Fetch messages (FETCH): one line per FETCH response.
    Fetch {
        /// The mailbox (UTF-8).
        #[arg(value_name = "MAILBOX")]
        mailbox: String,
        /// Messages: 1 | 1:5 | 3,7:9 | 5:* | *.
        #[arg(value_name = "SET")]
        set: String,
        /// SET holds UIDs (UID FETCH).
        #[arg(long)]
        uid: bool,
        /// FETCH items, e.g. "UID FLAGS ENVELOPE BODY.PEEK[TEXT]" (default: UID FLAGS
        /// RFC822.SIZE INTERNALDATE ENVELOPE).
        #[arg(long, value_name = "ITEMS")]
        items: Option<String>,
        /// Write the message bytes (BODY.PEEK[], or the first content item of --items) to
        /// FILE, streamed; several messages are written one after the other.
        #[arg(long, value_name = "FILE")]
        body_to: Option<PathBuf>,
    },
    /// Search messages (SEARCH): one line with the matching numbers.
    Search {
        /// The mailbox (UTF-8).
        #[arg(value_name = "MAILBOX")]
        mailbox: String,
        /// Search keys, e.g. UNSEEN FROM alice SINCE 1-Jan-2026 (see below).
        #[arg(value_name = "KEY", required = true, num_args = 1..)]
        keys: Vec<String>,
        /// Return UIDs instead of sequence numbers (UID SEARCH).
        #[arg(long)]
        uid: bool,
    },
    /// Change flags (STORE): one line per FETCH response with the new flags.
    Store {
        /// The mailbox (UTF-8).
        #[arg(value_name = "MAILBOX")]
        mailbox: String,
        /// Messages: 1 | 1:5 | 3,7:9 | 5:* | *.
        #[arg(value_name = "SET")]
        set: String,
        /// +FLAGS (add), -FLAGS (remove) or FLAGS (replace), optionally .SILENT.
        #[arg(value_name = "+FLAGS|-FLAGS|FLAGS", allow_hyphen_values = true)]
        mode: String,
        /// Flags, e.g. '\Seen' '\Flagged' '$Label1'.
        #[arg(value_name = "FLAG", required = true, num_args = 1..)]
        flags: Vec<String>,
        /// SET holds UIDs (UID STORE).
        #[arg(long)]
        uid: bool,
    },
    /// Copy messages to another mailbox (COPY).
    Copy {
        /// The mailbox (UTF-8).
        #[arg(value_name = "MAILBOX")]
        mailbox: String,
        /// Messages: 1 | 1:5 | 3,7:9 | 5:* | *.
        #[arg(value_name = "SET")]
        set: String,
        /// Destination mailbox (UTF-8).
        #[arg(value_name = "DEST")]
        dest: String,
        /// SET holds UIDs (UID COPY).
        #[arg(long)]
        uid: bool,
    },
    /// Move messages to another mailbox (MOVE, or COPY + STORE + UID EXPUNGE).
    Move {
        /// The mailbox (UTF-8).
        #[arg(value_name = "MAILBOX")]
        mailbox: String,
        /// Messages: 1 | 1:5 | 3,7:9 | 5:* | *.
        #[arg(value_name = "SET")]
        set: String,
        /// Destination mailbox (UTF-8).
        #[arg(value_name = "DEST")]
        dest: String,
        /// SET holds UIDs (UID MOVE).
        #[arg(long)]
        uid: bool,
    },
    /// Remove the messages flagged \Deleted (EXPUNGE).
    Expunge {
        /// The mailbox (UTF-8).
        #[arg(value_name = "MAILBOX")]
        mailbox: String,
    },
    /// Add a message from a file (APPEND), byte for byte (use CRLF line ends).
    Append {
        /// The mailbox (UTF-8).
        #[arg(value_name = "MAILBOX")]
        mailbox: String,
        /// The message file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Flags to set, e.g. --flags '\Seen' '\Flagged'.
        #[arg(long, value_name = "FLAG", num_args = 1..)]
        flags: Vec<String>,
        /// Internal date, "dd-Mon-yyyy hh:mm:ss +zzzz" (default: the server's clock).
        #[arg(long, value_name = "DATE")]
        date: Option<String>,
    },
    /// Create a mailbox (CREATE).
    Create {
        /// The mailbox (UTF-8).
        #[arg(value_name = "MAILBOX")]
        mailbox: String,
    },
    /// Delete a mailbox (DELETE).
    Delete {
        /// The mailbox (UTF-8).
        #[arg(value_name = "MAILBOX")]
        mailbox: String,
    },
    /// Rename a mailbox (RENAME).
    Rename {
        /// The current name (UTF-8).
        #[arg(value_name = "OLD")]
        from: String,
        /// The new name (UTF-8).
        #[arg(value_name = "NEW")]
        to: String,
    },
    /// Wait for changes (IDLE): one line per push, and a final line.
    Idle {
        /// The mailbox (UTF-8).
        #[arg(value_name = "MAILBOX")]
        mailbox: String,
        /// Stop after SECS seconds (default: wait until --until-exists or forever).
        #[arg(long = "timeout", value_name = "SECS")]
        idle_timeout: Option<f64>,
        /// Stop at the first EXISTS that raises the message count (new mail).
        #[arg(long)]
        until_exists: bool,
    },
}

/// Checks a command's arguments before connecting (usage errors exit 2).
pub fn validate(cmd: &ImapCommand) -> Result<(), String> {
    match cmd {
        ImapCommand::Fetch {
            set,
            items,
            body_to,
            ..
        } => {
            parse_set(set)?;
            fetch_attrs(items.as_deref(), body_to.is_some())?;
        }
        ImapCommand::Search { keys, .. } => {
            parse_search(keys)?;
        }
        ImapCommand::Store {
            set, mode, flags, ..
        } => {
            parse_set(set)?;
            parse_store_mode(mode)?;
            if flag_words(flags).is_empty() && !mode.to_ascii_uppercase().starts_with("FLAGS") {
                return Err("store: give at least one FLAG".into());
            }
        }
        ImapCommand::Copy { set, .. } | ImapCommand::Move { set, .. } => {
            parse_set(set)?;
        }
        ImapCommand::Append { file, .. } => {
            let meta =
                std::fs::metadata(file).map_err(|e| format!("append: {}: {e}", file.display()))?;
            if !meta.is_file() {
                return Err(format!("append: {} is not a file", file.display()));
            }
        }
        ImapCommand::Idle {
            idle_timeout: Some(t),
            ..
        } if !(t.is_finite() && *t > 0.0 && *t < 1e9) => {
            return Err(format!(
                "idle --timeout {t}: give a number of seconds above 0"
            ));
        }
        _ => {}
    }
    Ok(())
}

async fn open(
    client: &mut ImapClient<'_>,
    mailbox: &str,
    read_only: bool,
) -> Result<postwire_imap::proto::Mailbox, ImapFailure> {
    let r = if read_only {
        client.examine(mailbox).await
    } else {
        client.select(mailbox).await
    };
    let stage = if read_only { "EXAMINE" } else { "SELECT" };
    r.map_err(|e| describe(client, stage, &e))
}

fn usage_bug(e: String) -> ImapFailure {
    failure("arguments", e)
}

/// An APPEND source over a file (blocking reads: a command-line tool reading a local file).
struct FileSource(File);

impl embedded_io_async::ErrorType for FileSource {
    type Error = io::Error;
}

impl embedded_io_async::Read for FileSource {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, io::Error> {
        io::Read::read(&mut self.0, buf)
    }
}

/// Runs one subcommand on a logged-in client, writing JSON lines to `out`.
pub async fn run_command(
    client: &mut ImapClient<'_>,
    cmd: &ImapCommand,
    out: &mut dyn io::Write,
) -> Result<(), ImapFailure> {
    match cmd {
        ImapCommand::List { pattern, reference } => {
            let mut lines = Vec::new();
            client
                .list(reference, pattern, |e: &ListEntry<'_, '_>| {
                    let wire = lossy(&istr_bytes(e.wire_name));
                    lines.push(json!({
                        "mailbox": e.name.map_or_else(|| wire.clone(), str::to_string),
                        "wire_name": wire,
                        "delimiter": e.delimiter.map(|d| (d as char).to_string()),
                        "attributes": atoms_json(e.attributes),
                    }));
                })
                .await
                .map_err(|e| describe(client, "LIST", &e))?;
            lines.iter().try_for_each(|l| write_line(out, l))
        }
        ImapCommand::Status { mailbox } => {
            let caps = *client.session().capabilities();
            let mut items = vec![
                StatusAttr::Messages,
                StatusAttr::Recent,
                StatusAttr::UidNext,
                StatusAttr::UidValidity,
                StatusAttr::Unseen,
            ];
            if caps.has(Cap::CondStore) {
                items.push(StatusAttr::HighestModSeq);
            }
            if caps.has(Cap::Imap4Rev2) {
                items.extend([StatusAttr::Size, StatusAttr::Deleted]);
            }
            let s = client
                .status(mailbox, &items)
                .await
                .map_err(|e| describe(client, "STATUS", &e))?;
            let mut v = json!({
                "mailbox": mailbox, "messages": s.messages, "recent": s.recent,
                "uidnext": s.uidnext, "uidvalidity": s.uidvalidity, "unseen": s.unseen,
                "highest_modseq": s.highest_modseq,
            });
            // IMAP4rev2 items, only where the server has them.
            for (k, n) in [("size", s.size), ("deleted", s.deleted)] {
                if let Some(n) = n {
                    v[k] = json!(n);
                }
            }
            write_line(out, &v)
        }
        ImapCommand::Select { mailbox, read_only } => {
            let m = open(client, mailbox, *read_only).await?;
            write_line(
                out,
                &json!({
                    "mailbox": mailbox, "exists": m.exists, "recent": m.recent,
                    "uidvalidity": m.uidvalidity, "uidnext": m.uidnext, "unseen": m.unseen,
                    "highest_modseq": m.highest_modseq, "flags": flagset_json(&m.flags),
                    "permanent_flags": flagset_json(&m.permanent_flags),
                    "read_only": m.read_only,
                }),
            )
        }
        ImapCommand::Fetch {
            mailbox,
            set,
            uid,
            items,
            body_to,
        } => fetch(client, mailbox, set, *uid, items.as_deref(), body_to, out).await,
        ImapCommand::Search { mailbox, keys, uid } => {
            let tree = parse_search(keys).map_err(usage_bug)?;
            let mut arena = vec![SearchKey::All; search_slots(&tree)];
            let criteria = build_search(&tree, &mut arena)
                .ok_or_else(|| failure("SEARCH", "internal: search key arena too small"))?;
            open(client, mailbox, true).await?;
            let mut ids = Vec::new();
            client
                .search(*uid, &criteria, |n| ids.push(n))
                .await
                .map_err(|e| describe(client, "SEARCH", &e))?;
            ids.sort_unstable();
            ids.dedup();
            write_line(
                out,
                &json!({"mailbox": mailbox, "uid": uid, "count": ids.len(), "ids": ids}),
            )
        }
        ImapCommand::Store {
            mailbox,
            set,
            mode,
            flags,
            uid,
        } => {
            let set = parse_set(set).map_err(usage_bug)?;
            let (mode, silent) = parse_store_mode(mode).map_err(usage_bug)?;
            let flags = flag_words(flags);
            open(client, mailbox, false).await?;
            let mut lines = Vec::new();
            client
                .store(*uid, &set, mode, &flags, silent, |f| {
                    let mut m = Map::new();
                    m.insert("seq".into(), json!(f.seq));
                    for (name, item) in f.items.with_names() {
                        item_into(&mut m, name, item);
                    }
                    lines.push(Value::Object(m));
                })
                .await
                .map_err(|e| describe(client, "STORE", &e))?;
            lines.iter().try_for_each(|l| write_line(out, l))
        }
        ImapCommand::Copy {
            mailbox,
            set,
            dest,
            uid,
        }
        | ImapCommand::Move {
            mailbox,
            set,
            dest,
            uid,
        } => {
            let moving = matches!(cmd, ImapCommand::Move { .. });
            let set = parse_set(set).map_err(usage_bug)?;
            open(client, mailbox, !moving).await?;
            let (r, stage, key) = if moving {
                (client.move_to(*uid, &set, dest).await, "MOVE", "moved")
            } else {
                (client.copy(*uid, &set, dest).await, "COPY", "copied")
            };
            let plus = r.map_err(|e| describe(client, stage, &e))?;
            let mut m = Map::new();
            m.insert(key.into(), json!(true));
            m.insert("mailbox".into(), json!(mailbox));
            m.insert("to".into(), json!(dest));
            if let Some(p) = plus {
                m.insert("uidvalidity".into(), json!(p.uidvalidity));
                m.insert("first_uid".into(), json!(p.first_uid));
                m.insert("count".into(), json!(p.count));
            }
            write_line(out, &Value::Object(m))
        }
        ImapCommand::Expunge { mailbox } => {
            open(client, mailbox, false).await?;
            let n = client
                .expunge(|_| {})
                .await
                .map_err(|e| describe(client, "EXPUNGE", &e))?;
            write_line(out, &json!({"mailbox": mailbox, "expunged": n}))
        }
        ImapCommand::Append {
            mailbox,
            file,
            flags,
            date,
        } => {
            let label = format!("append {}", file.display());
            let f = File::open(file).map_err(|e| failure(&label, e.to_string()))?;
            let len = f
                .metadata()
                .map_err(|e| failure(&label, e.to_string()))?
                .len();
            let flags = flag_words(flags);
            let mut source = FileSource(f);
            let plus = client
                .append(mailbox, &flags, date.as_deref(), len, &mut source)
                .await
                .map_err(|e| match e {
                    Error::Source(_) | Error::SourceEnded { .. } => {
                        failure(&label, format!("{e} (the file changed while it was sent)"))
                    }
                    e => describe(client, "APPEND", &e),
                })?;
            write_line(
                out,
                &json!({
                    "appended": true, "mailbox": mailbox, "bytes": len,
                    "uidvalidity": plus.map(|p| p.uidvalidity), "uid": plus.map(|p| p.first_uid),
                }),
            )
        }
        ImapCommand::Create { mailbox } => {
            client
                .create(mailbox)
                .await
                .map_err(|e| describe(client, "CREATE", &e))?;
            write_line(out, &json!({"created": mailbox}))
        }
        ImapCommand::Delete { mailbox } => {
            client
                .delete(mailbox)
                .await
                .map_err(|e| describe(client, "DELETE", &e))?;
            write_line(out, &json!({"deleted": mailbox}))
        }
        ImapCommand::Rename { from, to } => {
            client
                .rename(from, to)
                .await
                .map_err(|e| describe(client, "RENAME", &e))?;
            write_line(out, &json!({"renamed": from, "to": to}))
        }
        ImapCommand::Idle {
            mailbox,
            idle_timeout,
            until_exists,
        } => {
            let timeout = idle_timeout.and_then(|t| Duration::try_from_secs_f64(t).ok());
            idle(client, mailbox, timeout, *until_exists, out).await
        }
    }
}

async fn fetch(
    client: &mut ImapClient<'_>,
    mailbox: &str,
    set: &str,
    uid: bool,
    items: Option<&str>,
    body_to: &Option<PathBuf>,
    out: &mut dyn io::Write,
) -> Result<(), ImapFailure> {
    let set = parse_set(set).map_err(usage_bug)?;
    let attrs = fetch_attrs(items, body_to.is_some()).map_err(usage_bug)?;
    let body = match body_to {
        Some(p) => Some(open_body_file(p)?),
        None => None,
    };
    open(client, mailbox, !attrs.iter().any(sets_seen)).await?;
    let mut sink = FetchSink {
        out,
        body,
        line: Map::new(),
        sections: Vec::new(),
        took_body: false,
        stream: Stream::None,
        failure: None,
    };
    let r = client.fetch(uid, &set, &attrs, |ev| sink.on(ev)).await;
    match r {
        Ok(_) => {}
        Err(Error::Sink(_)) if sink.failure.is_some() => {
            return Err(sink.failure.take().unwrap_or_else(|| failure("FETCH", "")));
        }
        Err(e) => return Err(describe(client, "FETCH", &e)),
    }
    if let Some(mut b) = sink.body.take() {
        b.out
            .flush()
            .map_err(|e| failure(format!("--body-to {}", b.path), e.to_string()))?;
        if b.bodies == 0 {
            return Err(failure(
                "FETCH",
                format!(
                    "no message in {mailbox} matches {}; nothing was written to {}",
                    if uid { "UID set" } else { "set" },
                    b.path
                ),
            ));
        }
    }
    Ok(())
}

fn open_body_file(p: &Path) -> Result<BodyFile, ImapFailure> {
    let path = p.display().to_string();
    let f = File::create(p).map_err(|e| failure(format!("--body-to {path}"), e.to_string()))?;
    Ok(BodyFile {
        path,
        out: BufWriter::with_capacity(64 * 1024, f),
        written: 0,
        bodies: 0,
        progress: Progress::new(io::stderr().is_terminal()),
    })
}

async fn idle(
    client: &mut ImapClient<'_>,
    mailbox: &str,
    timeout: Option<Duration>,
    until_exists: bool,
    out: &mut dyn io::Write,
) -> Result<(), ImapFailure> {
    let m = open(client, mailbox, true).await?;
    let started = Instant::now();
    let mut count = m.exists;
    let mut grew = false;
    let mut out_err: Option<ImapFailure> = None;
    let stop = async move {
        match timeout {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending::<()>().await,
        }
    };
    let r = client
        .idle(stop, |ev| {
            let line = match ev {
                IdleEvent::Exists(n) => {
                    if n > count {
                        grew = true;
                    }
                    count = n;
                    json!({"event": "exists", "count": n})
                }
                IdleEvent::Expunge(seq) => {
                    count = count.saturating_sub(1);
                    json!({"event": "expunge", "seq": seq})
                }
                IdleEvent::Vanished(n) => {
                    count = count.saturating_sub(n);
                    json!({"event": "vanished", "count": n})
                }
                IdleEvent::Recent(n) => json!({"event": "recent", "count": n}),
                IdleEvent::Flags { seq, uid, flags } => json!({
                    "event": "flags", "seq": seq, "uid": uid,
                    "flags": flags.iter().collect::<Vec<_>>(),
                }),
                IdleEvent::Keepalive => json!({"event": "keepalive"}),
                IdleEvent::Refreshed => json!({"event": "refreshed"}),
                _ => return IdleControl::Continue,
            };
            if out_err.is_some() {
                return IdleControl::Stop;
            }
            if let Err(f) = write_line(out, &line) {
                out_err = Some(f);
                return IdleControl::Stop;
            }
            if until_exists && grew {
                IdleControl::Stop
            } else {
                IdleControl::Continue
            }
        })
        .await;
    let end = r.map_err(|e| describe(client, "IDLE", &e))?;
    if let Some(f) = out_err {
        return Err(f);
    }
    let reason = match end {
        IdleEnd::StopFuture => "timeout",
        _ => "exists",
    };
    write_line(
        out,
        &json!({
            "event": "end", "reason": reason, "mailbox": mailbox, "exists": count,
            "elapsed_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        }),
    )
}

// ------------------------------------------------------------------------------ CLI

/// Everything one `postwire imap` run needs.
#[derive(Debug, Clone)]
pub struct ImapRequest {
    /// Connection and login.
    pub connect: ConnectOptions,
    /// The subcommand.
    pub command: ImapCommand,
}

/// Runs one session: connect, log in, run the subcommand, log out.
pub async fn run(req: &ImapRequest, out: &mut dyn io::Write) -> Result<(), ImapFailure> {
    let mut bufs = ImapBuffers::new();
    let mut client = connect(&req.connect, &mut bufs).await?;
    run_command(&mut client, &req.command, out).await?;
    // The work is done; a failing LOGOUT changes nothing.
    let _ = client.logout().await;
    Ok(())
}

/// The arguments of `postwire imap`.
#[derive(Args, Debug)]
#[command(after_help = "\
SET: message sequence numbers (or UIDs with --uid): 1 | 1:5 | 3,7:9 | 5:* | * (up to 64 ranges).

ITEMS (fetch --items, one string): UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY
  BODYSTRUCTURE MODSEQ RFC822 RFC822.HEADER RFC822.TEXT BODY[SECTION]<ORIGIN.COUNT>
  BODY.PEEK[SECTION] BINARY[PART] BINARY.PEEK[PART] BINARY.SIZE[PART] X-GM-MSGID X-GM-THRID
  X-GM-LABELS EMAILID THREADID, or one of the macros ALL FAST FULL; e.g.
  --items 'UID FLAGS BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)]'.

KEY (search): ALL ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN UNANSWERED UNDELETED
  UNDRAFT UNFLAGGED UNSEEN | BCC|BODY|CC|FROM|SUBJECT|TEXT|TO STRING | KEYWORD|UNKEYWORD FLAG
  | HEADER FIELD STRING | BEFORE|ON|SINCE|SENTBEFORE|SENTON|SENTSINCE DATE (1-Jan-2026 or
  2026-01-01) | LARGER|SMALLER|MODSEQ N | UID SET | SET | NOT KEY | OR KEY KEY | ( KEY... ).
  Several keys must all match. A STRING starting with '-' goes after '--'.

Output: one JSON line per result on standard output:
  list    {\"mailbox\":\"Entwürfe\",\"wire_name\":\"Entw&APw-rfe\",\"delimiter\":\".\",\"attributes\":[..]}
  status  {\"mailbox\":..,\"messages\":N,\"recent\":N,\"uidnext\":N,\"uidvalidity\":N,\"unseen\":N,..}
  select  {\"mailbox\":..,\"exists\":N,\"recent\":N,\"uidvalidity\":N,\"uidnext\":N,\"unseen\":N,
           \"highest_modseq\":N,\"flags\":[..],\"permanent_flags\":[..],\"read_only\":false}
  fetch   {\"seq\":N,\"uid\":N,\"flags\":[..],\"size\":N,\"internal_date\":..,\"envelope\":{..},
           \"sections\":[{\"name\":\"BODY[TEXT]\",\"bytes\":N,\"text\":..|\"base64\":..}],..}
          with --body-to also \"body_to\",\"body_section\",\"body_bytes\",\"body_offset\"
  search  {\"mailbox\":..,\"uid\":false,\"count\":N,\"ids\":[..]}
  store   {\"seq\":N,\"uid\":N,\"flags\":[..]} per message (nothing with .SILENT)
  copy    {\"copied\":true,\"mailbox\":..,\"to\":..,\"uidvalidity\":N,\"first_uid\":N,\"count\":N}
  move    {\"moved\":true,...} (the same fields)
  expunge {\"mailbox\":..,\"expunged\":N}
  append  {\"appended\":true,\"mailbox\":..,\"bytes\":N,\"uidvalidity\":N,\"uid\":N}
  create/delete/rename {\"created\":..} {\"deleted\":..} {\"renamed\":..,\"to\":..}
  idle    {\"event\":\"exists\",\"count\":N} | expunge | vanished | recent | flags | keepalive,
          then {\"event\":\"end\",\"reason\":\"timeout\"|\"exists\",\"exists\":N,\"elapsed_ms\":N}
fetch --body-to FILE writes the raw bytes to FILE (constant memory) and draws a progress bar
on standard error when it is a terminal.

Exit status: 0 success; 1 the session failed (connect, TLS, login, a refusal such as an
unknown mailbox, a broken connection, FILE not writable): one line on standard error naming
the stage and the server's text, e.g.
  postwire imap: error: AUTHENTICATE: server replied NO [AUTHENTICATIONFAILED] Authentication failed.
2 usage error (bad arguments, SET, ITEMS or KEY, password variable not set).

Example: postwire imap --server imaps://mail.example.com --user dev --password-env PW \\
             fetch INBOX 42 --uid --body-to msg.eml")]
pub struct ImapArgs {
    /// imaps://HOST:PORT (implicit TLS, default port 993) or imap://HOST:PORT (STARTTLS, required unless --allow-plaintext; default 143).
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// User name.
    #[arg(long, value_name = "NAME")]
    pub user: String,
    /// Name of the environment variable that holds the password (never give it on the command line).
    #[arg(long, value_name = "VAR")]
    pub password_env: String,
    /// CA certificate(s) to verify the server against (PEM or DER); default: the built-in root store.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub ca: Option<String>,
    /// Do not verify the server's certificate (dangerous: anyone on the path can read the password).
    #[arg(long)]
    pub insecure: bool,
    /// Signature algorithms to offer in the TLS handshake: a comma-separated list of rsa,
    /// ecdsa and ed25519, as curl's --sigalgs. A server with several certificates picks one by
    /// this offer. Default: all of them.
    #[arg(long, value_name = "LIST", value_parser = crate::tls::parse_sigalgs)]
    pub sigalgs: Option<SigAlgs>,
    /// With imap://: talk without TLS (no STARTTLS); credentials then cross the network in clear text.
    #[arg(long)]
    pub allow_plaintext: bool,
    /// Name to verify the server certificate against (default: the host of --server).
    #[arg(long, value_name = "NAME")]
    pub tls_name: Option<String>,
    /// Login method (default: AUTHENTICATE with the best mechanism offered, else LOGIN).
    #[arg(long, value_enum)]
    pub auth: Option<AuthArg>,
    /// Timeout of each network wait, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
    /// The subcommand.
    #[command(subcommand)]
    pub command: ImapCommand,
}

#[derive(Parser)]
#[command(name = "postwire imap")]
struct Standalone {
    #[command(flatten)]
    args: ImapArgs,
}

fn usage(err: &mut dyn io::Write, msg: impl fmt::Display) -> i32 {
    let _ = writeln!(err, "postwire imap: error: {msg}");
    2
}

/// Builds the request from the arguments; `Err(exit status)` after printing a usage error.
fn request(
    a: ImapArgs,
    env: &dyn Fn(&str) -> Option<String>,
    err: &mut dyn io::Write,
) -> Result<ImapRequest, i32> {
    let server: ImapUrl = a.server.parse().map_err(|e| usage(err, e))?;
    let password = env(&a.password_env).ok_or_else(|| {
        usage(
            err,
            format!(
                "environment variable {} (from --password-env) is not set or not UTF-8",
                a.password_env
            ),
        )
    })?;
    let ca = match &a.ca {
        Some(path) => {
            Some(CaSet::from_file(path).map_err(|e| usage(err, format!("--ca {path}: {e}")))?)
        }
        None => None,
    };
    validate(&a.command).map_err(|e| usage(err, e))?;
    Ok(ImapRequest {
        connect: ConnectOptions {
            server,
            tls_name: a.tls_name,
            ca,
            insecure: a.insecure,
            sigalgs: a.sigalgs.unwrap_or(SigAlgs::ALL),
            allow_plaintext: a.allow_plaintext,
            user: a.user,
            password,
            auth: a.auth,
            timeout: Duration::from_secs(a.timeout.max(1)),
        },
        command: a.command,
    })
}

/// Runs `postwire imap` with parsed arguments: builds a runtime, runs the session, prints
/// the results. `env` looks up the password variable. Returns the exit status: 0, 1 (the
/// session failed; one line naming the stage on `stderr`) or 2 (usage error).
pub fn run_args(
    a: ImapArgs,
    env: &dyn Fn(&str) -> Option<String>,
    stdout: &mut dyn io::Write,
    stderr: &mut dyn io::Write,
) -> i32 {
    let req = match request(a, env, stderr) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(
                stderr,
                "postwire imap: error: cannot start the runtime: {e}"
            );
            return 1;
        }
    };
    match rt.block_on(run(&req, stdout)) {
        Ok(()) => 0,
        Err(f) => {
            let _ = writeln!(stderr, "postwire imap: error: {f}");
            1
        }
    }
}

/// Runs `postwire imap ARGS...` (without the program and subcommand names), as the binary
/// would; for tests.
pub fn run_argv(
    argv: &[&str],
    env: &dyn Fn(&str) -> Option<String>,
    stdout: &mut dyn io::Write,
    stderr: &mut dyn io::Write,
) -> i32 {
    let all = std::iter::once("postwire-imap").chain(argv.iter().copied());
    match Standalone::try_parse_from(all) {
        Ok(s) => run_args(s.args, env, stdout, stderr),
        Err(e) => {
            let _ = write!(stderr, "{e}");
            if e.use_stderr() { 2 } else { 0 }
        }
    }
}

/// The `postwire imap` subcommand of the binary.
pub fn cli_main(args: ImapArgs) -> ExitCode {
    let env = |k: &str| std::env::var(k).ok();
    let code = run_args(
        args,
        &env,
        &mut io::stdout().lock(),
        &mut io::stderr().lock(),
    );
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn urls() {
        let u: ImapUrl = "imaps://127.0.0.1:10993".parse().unwrap();
        assert_eq!((u.security, u.port), (Security::Implicit, 10993));
        let u: ImapUrl = "imap://[::1]".parse().unwrap();
        assert_eq!(
            (u.security, u.host.as_str(), u.port),
            (Security::StartTls, "::1", 143)
        );
        assert_eq!("imaps://h".parse::<ImapUrl>().unwrap().port, 993);
        assert!("pop3://x".parse::<ImapUrl>().is_err());
        assert!("imap://x:port".parse::<ImapUrl>().is_err());
    }

    #[test]
    fn sets() {
        assert_eq!(parse_set("1").unwrap(), vec![SeqRange::one(1)]);
        assert_eq!(
            parse_set("3,7:9,5:*,*").unwrap(),
            vec![
                SeqRange::one(3),
                SeqRange::range(7, 9),
                SeqRange::from(5),
                SeqRange {
                    start: SeqNum::Star,
                    end: SeqNum::Star
                }
            ]
        );
        for bad in ["", "0", "1:0", "a", "1,", ":", "1:2:3", "-1", "4294967296"] {
            assert!(parse_set(bad).is_err(), "{bad:?}");
        }
        let many: Vec<String> = (1..=64).map(|i| (i * 2).to_string()).collect();
        assert_eq!(parse_set(&many.join(",")).unwrap().len(), 64);
        let e = parse_set(&format!("{},999", many.join(","))).unwrap_err();
        assert!(e.contains("more than 64 ranges"), "{e}");
    }

    #[test]
    fn items() {
        let a = parse_items("(UID FLAGS ENVELOPE BODY.PEEK[TEXT])").unwrap();
        assert_eq!(
            a,
            vec![
                FetchAttr::Uid,
                FetchAttr::Flags,
                FetchAttr::Envelope,
                FetchAttr::BodySection {
                    section: "TEXT",
                    peek: true,
                    partial: None
                }
            ]
        );
        let a = parse_items("body[HEADER.FIELDS (FROM SUBJECT)]<0.100> binary.peek[1] binary.size[1] rfc822.size x-gm-labels").unwrap();
        assert_eq!(
            a,
            vec![
                FetchAttr::BodySection {
                    section: "HEADER.FIELDS (FROM SUBJECT)",
                    peek: false,
                    partial: Some((0, 100))
                },
                FetchAttr::Binary {
                    section: "1",
                    peek: true,
                    partial: None
                },
                FetchAttr::BinarySize("1"),
                FetchAttr::Rfc822Size,
                FetchAttr::GmLabels,
            ]
        );
        assert_eq!(parse_items("FULL").unwrap(), vec![FetchAttr::Full]);
        assert_eq!(parse_items("fast uid").unwrap().len(), 4);
        for bad in [
            "",
            "()",
            "BOGUS",
            "BODY[",
            "BODY]",
            "BODY[]<1>",
            "BINARY.SIZE[1]<0.1>",
        ] {
            assert!(parse_items(bad).is_err(), "{bad:?}");
        }
        let a = fetch_attrs(None, true).unwrap();
        assert_eq!(
            a.last(),
            Some(&FetchAttr::BodySection {
                section: "",
                peek: true,
                partial: None
            })
        );
        assert!(!a.iter().any(sets_seen));
        let a = fetch_attrs(Some("ALL"), true).unwrap();
        assert_eq!(a.len(), 5);
        let a = fetch_attrs(Some("UID BODY[TEXT]"), true).unwrap();
        assert_eq!(a.len(), 2);
        assert!(a.iter().any(sets_seen));
    }

    #[test]
    fn dates() {
        assert_eq!(
            parse_date("1-Jan-2026").unwrap(),
            Date {
                day: 1,
                month: 1,
                year: 2026
            }
        );
        assert_eq!(parse_date("2026-12-31").unwrap().month, 12);
        for bad in [
            "1-Foo-2026",
            "32-Jan-2026",
            "2026-13-01",
            "yesterday",
            "1-1-1-1",
        ] {
            assert!(parse_date(bad).is_err(), "{bad:?}");
        }
    }

    fn search(s: &str) -> Vec<String> {
        words(s)
    }

    #[test]
    fn search_keys() {
        let w = search(
            "UNSEEN FROM alice OR SEEN ( FLAGGED LARGER 10 ) NOT UID 5:* SINCE 1-Jan-2026 HEADER X-A b",
        );
        let tree = parse_search(&w).unwrap();
        let mut arena = vec![SearchKey::All; search_slots(&tree)];
        let c = build_search(&tree, &mut arena).unwrap();
        let range = [SeqRange::from(5)];
        let inner = [SearchKey::Flagged, SearchKey::Larger(10)];
        let and = SearchKey::And(&inner);
        let uid = SearchKey::Uid(&range);
        assert_eq!(
            c,
            vec![
                SearchKey::Unseen,
                SearchKey::From("alice"),
                SearchKey::Or(&SearchKey::Seen, &and),
                SearchKey::Not(&uid),
                SearchKey::Since(Date {
                    day: 1,
                    month: 1,
                    year: 2026
                }),
                SearchKey::Header("X-A", "b"),
            ]
        );
        // Parentheses glued to keywords, nested.
        let w = search("(SEEN (DELETED 1:3))");
        let tree = parse_search(&w).unwrap();
        let mut arena = vec![SearchKey::All; search_slots(&tree)];
        let c = build_search(&tree, &mut arena).unwrap();
        let seqs = [SeqRange::range(1, 3)];
        let inner = [SearchKey::Deleted, SearchKey::Seq(&seqs)];
        let outer = [SearchKey::Seen, SearchKey::And(&inner)];
        assert_eq!(c, vec![SearchKey::And(&outer)]);
        for bad in [
            "",
            "BOGUS",
            "FROM",
            "SINCE tomorrow",
            "LARGER x",
            "( SEEN",
            "SEEN )",
            "( )",
            "NOT",
            "OR SEEN",
            "UID 0",
            "(FROM x)",
        ] {
            assert!(parse_search(&search(bad)).is_err(), "{bad:?}");
        }
        let deep = "NOT ".repeat(40) + "SEEN";
        assert!(parse_search(&search(&deep)).is_err());
    }

    #[test]
    fn store_modes() {
        assert_eq!(parse_store_mode("+flags").unwrap(), (StoreMode::Add, false));
        assert_eq!(
            parse_store_mode("-FLAGS.SILENT").unwrap(),
            (StoreMode::Remove, true)
        );
        assert_eq!(
            parse_store_mode("FLAGS").unwrap(),
            (StoreMode::Replace, false)
        );
        assert!(parse_store_mode("FLAG").is_err());
        assert_eq!(
            flag_words(&words("(\\Seen \\Flagged) $x")),
            vec!["\\Seen", "\\Flagged", "$x"]
        );
    }

    #[test]
    fn sections_and_addresses() {
        let v = section_json(b"BODY[TEXT]", Some(b"hi\r\n"));
        assert_eq!(
            v,
            json!({"name": "BODY[TEXT]", "bytes": 4, "text": "hi\r\n"})
        );
        let v = section_json(b"BODY[1]", Some(&[0xff, 0, 1]));
        assert_eq!(v, json!({"name": "BODY[1]", "bytes": 3, "base64": "/wAB"}));
        assert_eq!(
            section_json(b"BODY[2]", None),
            json!({"name": "BODY[2]", "bytes": 0, "text": null})
        );
        assert_eq!(header_text(b"=?utf-8?q?Gr=C3=BC=C3=9Fe?= x"), "Grüße x");
    }

    fn argv(rest: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = [
            "--server",
            "imaps://127.0.0.1:1",
            "--user",
            "u",
            "--password-env",
            "P",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(rest.iter().map(|s| s.to_string()));
        v
    }

    fn run(rest: &[&str], env: Option<&str>) -> (i32, String) {
        let env = |_: &str| env.map(str::to_string);
        let a = argv(rest);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_argv(&a, &env, &mut out, &mut err);
        (code, String::from_utf8_lossy(&err).into_owned())
    }

    #[test]
    fn usage_errors() {
        let (code, err) = run(&["list"], None);
        assert_eq!(code, 2);
        assert!(err.contains("environment variable P"), "{err}");
        let pw = Some("pw");
        for (args, want) in [
            (&["fetch", "INBOX", "0"][..], "start at 1"),
            (&["fetch", "INBOX", "1", "--items", "BOGUS"], "unknown item"),
            (&["search", "INBOX", "BOGUS"], "unknown search key"),
            (&["store", "INBOX", "1", "+FLAG", "\\Seen"], "+FLAGS"),
            (&["idle", "INBOX", "--timeout", "0"], "above 0"),
            (&["append", "INBOX", "/nonexistent/x.eml"], "append"),
        ] {
            let (code, err) = run(args, pw);
            assert_eq!(code, 2, "{args:?}: {err}");
            assert!(err.contains(want), "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
        // Nothing listens on port 1: the connect stage is named, exit 1.
        let (code, err) = run(&["--timeout", "5", "list"], pw);
        assert_eq!(code, 1);
        assert!(err.contains("error: connect:"), "{err}");
        let (code, _) = run(&["--help"], pw);
        assert_eq!(code, 0);
    }
}
