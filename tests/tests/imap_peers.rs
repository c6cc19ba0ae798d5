//! IMAP against the real Dovecot peer (`../shared/peers`): STARTTLS and implicit TLS with
//! certificate verification, LOGIN and every SASL mechanism Dovecot offers, ENABLE and ID;
//! mailboxes (LIST with special-use, STATUS, SELECT/EXAMINE state, CREATE/RENAME/DELETE of
//! non-ASCII names, SUBSCRIBE, CLOSE/UNSELECT); messages (APPEND, FETCH with streamed
//! bodies, SEARCH, STORE, COPY, MOVE, EXPUNGE, unsolicited updates); IDLE pushing a message
//! sent by our SMTP client; a 20 MiB message through a 1 KiB receive buffer; a wrong CA
//! refused before any credential; and resuming with a checkpoint after a cut connection.
//!
//! All tests share bob's mailboxes with every other test: each works in mailboxes named
//! with a unique token (deleted at the end), and in the INBOX touches only messages whose
//! subject holds its token.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use embedded_io_async::{ErrorType, Read};
use postwire_core::sasl::{Credentials, Mechanism};
use postwire_host_sim::message::{Mailbox as MailAddr, SimpleMessage, now_unix};
use postwire_host_sim::net::{TcpTransport, TokioDelay, connect_tcp};
use postwire_host_sim::send::{Security, SendRequest, ServerUrl, send};
use postwire_host_sim::tls::{CaSet, ConnectError, HostTlsStream, TlsBuffers, start_tls};
use postwire_imap::client::{
    Buffers, Client, ClientConfig, Error, FetchEvent, IdleControl, IdleEnd, IdleEvent, RefusalCode,
    Stage, Timeouts,
};
use postwire_imap::proto::{Cap, Checkpoint, State};
use postwire_imap::wire::{
    FetchAttr, FetchItem, FetchItems, SearchKey, SeqRange, StatusAttr, StoreMode,
};
use postwire_tests::{Peers, RoundTripProxy, token};
use postwire_tls::Trust;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

const TIMEOUT: Duration = Duration::from_secs(20);

fn config() -> ClientConfig {
    ClientConfig {
        timeouts: Timeouts {
            greeting_ms: 20_000,
            command_ms: 60_000,
            write_ms: 20_000,
        },
        ..ClientConfig::default()
    }
}

/// Buffers of one IMAP connection.
struct Bufs {
    tls: TlsBuffers,
    rx: Vec<u8>,
    tx: Vec<u8>,
}

impl Bufs {
    fn new() -> Self {
        Bufs::sized(4096, 1024)
    }

    fn sized(rx: usize, tx: usize) -> Self {
        Bufs {
            tls: TlsBuffers::new(),
            rx: vec![0; rx],
            tx: vec![0; tx],
        }
    }
}

type Imaps<'b> = Client<'b, HostTlsStream<'b>, TokioDelay>;
type Plain<'b> = Client<'b, TcpTransport, TokioDelay>;

fn ca(peers: &Peers) -> CaSet {
    CaSet::from_file(peers.ca_bundle()).unwrap()
}

/// A greeted client over implicit TLS to `host:port` (a proxy or IMAPS), certificate
/// verified.
async fn imaps_at<'b>(
    peers: &Peers,
    host: &str,
    port: u16,
    b: &'b mut Bufs,
    cfg: ClientConfig,
) -> Imaps<'b> {
    let ca = ca(peers);
    let anchors = ca.anchors();
    let trust = Trust::Anchors(&anchors);
    let tcp = connect_tcp(host, port, TIMEOUT).await.unwrap();
    let tls = start_tls(tcp, peers.tls_name(), &trust, TIMEOUT, &mut b.tls)
        .await
        .unwrap();
    let mut c = Client::new(
        tls,
        TokioDelay,
        Buffers {
            rx: &mut b.rx,
            tx: &mut b.tx,
        },
        cfg,
    );
    c.set_implicit_tls();
    assert!(c.is_tls());
    let g = c.greet().await.unwrap();
    assert!(!g.preauth);
    assert_eq!(c.session().state(), State::NotAuthenticated);
    c
}

/// A greeted IMAPS client.
async fn imaps<'b>(peers: &Peers, b: &'b mut Bufs) -> Imaps<'b> {
    let port = peers.port("MAILPEERS_IMAPS_PORT");
    imaps_at(peers, peers.host(), port, b, config()).await
}

/// bob, logged in over IMAPS.
async fn bob<'b>(peers: &Peers, b: &'b mut Bufs) -> Imaps<'b> {
    let mut c = imaps(peers, b).await;
    c.authenticate(&Credentials::new("bob", "bob-pw"), None)
        .await
        .unwrap();
    assert_eq!(c.session().state(), State::Authenticated);
    c
}

/// A greeted client on the plain port (through `port`, e.g. a proxy).
async fn plain_at<'b>(host: &str, port: u16, b: &'b mut Bufs, cfg: ClientConfig) -> Plain<'b> {
    let tcp = connect_tcp(host, port, TIMEOUT).await.unwrap();
    let mut c = Client::new(
        tcp,
        TokioDelay,
        Buffers {
            rx: &mut b.rx,
            tx: &mut b.tx,
        },
        cfg,
    );
    c.greet().await.unwrap();
    assert!(!c.is_tls());
    c
}

/// STARTTLS on the plain port (or a proxy to it), certificate verified: the client is
/// encrypted and has forgotten the capabilities it learned before TLS.
async fn starttls_at<'b>(
    peers: &Peers,
    host: &str,
    port: u16,
    b: &'b mut Bufs,
    cfg: ClientConfig,
) -> Imaps<'b> {
    let tcp = connect_tcp(host, port, TIMEOUT).await.unwrap();
    let mut c = Client::new(
        tcp,
        TokioDelay,
        Buffers {
            rx: &mut b.rx,
            tx: &mut b.tx,
        },
        cfg,
    );
    c.greet().await.unwrap();
    // Dovecot's greeting carries the capabilities.
    assert!(c.session().capabilities().is_known());
    assert!(c.session().capabilities().has(Cap::StartTls));
    c.starttls().await.unwrap();
    let (plain, pending) = c.into_starttls().ok().unwrap();
    let ca = ca(peers);
    let anchors = ca.anchors();
    let trust = Trust::Anchors(&anchors);
    let tls = start_tls(plain, peers.tls_name(), &trust, TIMEOUT, &mut b.tls)
        .await
        .unwrap();
    let c = pending.resume(tls);
    assert!(c.is_tls());
    assert!(!c.session().capabilities().is_known());
    assert_eq!(c.session().state(), State::NotAuthenticated);
    c
}

/// A multipart message with `tok` in the subject, CRLF line ends.
fn message(tok: &str, n: usize, text: &str) -> Vec<u8> {
    format!(
        "From: Alice Sender <alice@example.test>\r\n\
         To: Bob <bob@example.test>\r\n\
         Subject: imap test {tok} #{n}\r\n\
         Message-ID: <{tok}-{n}@example.test>\r\n\
         Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
         \r\n\
         --b1\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         {text}\r\n\
         --b1\r\n\
         Content-Type: application/octet-stream; name=\"data.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         AAECAwQ=\r\n\
         --b1--\r\n"
    )
    .into_bytes()
}

/// APPEND `msg`, returning its UID (from APPENDUID).
async fn append<T, D>(c: &mut Client<'_, T, D>, mailbox: &str, flags: &[&str], msg: &[u8]) -> u64
where
    T: embedded_io_async::Read + embedded_io_async::Write,
    D: embedded_hal_async::delay::DelayNs,
    T::Error: std::fmt::Debug,
{
    let mut src = msg;
    let up = c
        .append(mailbox, flags, None, msg.len() as u64, &mut src)
        .await
        .unwrap()
        .expect("Dovecot has UIDPLUS: APPENDUID");
    assert_eq!(up.count, 1);
    up.first_uid
}

/// One FETCH response, collected from the events.
#[derive(Default, Debug, Clone)]
struct Fetched {
    seq: u64,
    uid: Option<u64>,
    flags: Vec<String>,
    internal_date: Option<String>,
    size: Option<u64>,
    modseq: Option<u64>,
    subject: Option<String>,
    from: Option<String>,
    /// `type/subtype` of the body and of its parts.
    structure: Option<(String, Vec<String>)>,
    /// `(item name, bytes)` of body sections.
    sections: Vec<(String, Vec<u8>)>,
    /// Whether a section value was streamed in chunks.
    streamed: bool,
}

fn istr(s: postwire_imap::wire::IStr<'_>) -> String {
    String::from_utf8(s.chunks().flat_map(|c| c.iter().copied()).collect()).unwrap()
}

impl Fetched {
    fn take(&mut self, items: FetchItems<'_>) {
        for (name, item) in items.with_names() {
            match item {
                FetchItem::Uid(u) => self.uid = Some(u),
                FetchItem::Flags(a) => {
                    self.flags = a.map(|f| String::from_utf8(f.to_vec()).unwrap()).collect()
                }
                FetchItem::InternalDate(d) => self.internal_date = Some(istr(d)),
                FetchItem::Rfc822Size(n) => self.size = Some(n),
                FetchItem::ModSeq(m) => self.modseq = Some(m),
                FetchItem::Envelope(e) => {
                    self.subject = e.subject().map(istr);
                    self.from = e.from().and_then(|mut a| a.next()).map(|a| {
                        format!(
                            "{}@{}",
                            a.mailbox.map(istr).unwrap_or_default(),
                            a.host.map(istr).unwrap_or_default()
                        )
                    });
                }
                FetchItem::BodyStructure(b) => {
                    let kind = |b: &postwire_imap::wire::BodyStructure<'_>| {
                        format!("{}/{}", istr(b.media_type()), istr(b.subtype())).to_lowercase()
                    };
                    let parts = b.parts().map(|p| kind(&p)).collect();
                    self.structure = Some((kind(&b), parts));
                }
                FetchItem::Section(v) => {
                    let name = String::from_utf8(name.to_vec()).unwrap();
                    let bytes = v.map(|v| v.chunks().flat_map(|c| c.iter().copied()).collect());
                    self.sections.push((name, bytes.unwrap_or_default()));
                }
                _ => {}
            }
        }
    }

    fn section(&self, prefix: &str) -> &[u8] {
        &self
            .sections
            .iter()
            .find(|(n, _)| n.to_ascii_uppercase().starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {:?}", self.sections))
            .1
    }
}

/// FETCH into [`Fetched`] values.
async fn fetch<T, D>(
    c: &mut Client<'_, T, D>,
    uid: bool,
    set: &[SeqRange],
    attrs: &[FetchAttr<'_>],
) -> Vec<Fetched>
where
    T: embedded_io_async::Read + embedded_io_async::Write,
    D: embedded_hal_async::delay::DelayNs,
    T::Error: std::fmt::Debug,
{
    let mut out: Vec<Fetched> = Vec::new();
    let n = c
        .fetch(uid, set, attrs, |ev| {
            match ev {
                FetchEvent::Message { seq, items } => {
                    let mut f = Fetched {
                        seq,
                        ..Fetched::default()
                    };
                    f.take(items);
                    out.push(f);
                }
                FetchEvent::Start {
                    seq,
                    items,
                    streamed,
                } => {
                    let mut f = Fetched {
                        seq,
                        streamed: true,
                        ..Fetched::default()
                    };
                    f.take(items);
                    let name = String::from_utf8(streamed.name.to_vec()).unwrap();
                    f.sections.push((name, Vec::new()));
                    out.push(f);
                }
                FetchEvent::Data { data, .. } => {
                    let f = out.last_mut().unwrap();
                    f.sections.last_mut().unwrap().1.extend_from_slice(data);
                }
                FetchEvent::More { items, streamed } => {
                    let f = out.last_mut().unwrap();
                    f.take(items);
                    if let Some(s) = streamed {
                        let name = String::from_utf8(s.name.to_vec()).unwrap();
                        f.sections.push((name, Vec::new()));
                    }
                }
                _ => {}
            }
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(n, out.len() as u64);
    out
}

/// UID SEARCH (ESEARCH on Dovecot) for a subject.
async fn uids_with_subject<T, D>(c: &mut Client<'_, T, D>, tok: &str) -> Vec<u64>
where
    T: embedded_io_async::Read + embedded_io_async::Write,
    D: embedded_hal_async::delay::DelayNs,
    T::Error: std::fmt::Debug,
{
    let mut v = Vec::new();
    let n = c
        .search(true, &[SearchKey::Subject(tok)], |u| v.push(u))
        .await
        .unwrap();
    assert_eq!(n, v.len() as u64);
    v
}

/// The names (decoded) of the mailboxes matching `pattern`.
async fn list_names<T, D>(c: &mut Client<'_, T, D>, pattern: &str) -> Vec<String>
where
    T: embedded_io_async::Read + embedded_io_async::Write,
    D: embedded_hal_async::delay::DelayNs,
    T::Error: std::fmt::Debug,
{
    let mut v = Vec::new();
    let n = c
        .list("", pattern, |e| {
            v.push(e.name.expect("decodable name").to_string());
        })
        .await
        .unwrap();
    assert_eq!(n, v.len() as u64);
    v
}

/// The subscribed mailboxes matching `pattern` (LSUB, read with Python's imaplib).
fn subscribed(peers: &Peers, pattern: &str) -> String {
    const PY: &str = r#"
import imaplib, ssl, sys
host, port, ca, pattern = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx)
m.login("bob", "bob-pw")
typ, data = m.lsub('""', pattern)
for d in data:
    if d:
        print(d.decode())
m.logout()
"#;
    let out = Command::new("python3")
        .args([
            "-c",
            PY,
            peers.host(),
            peers.get("MAILPEERS_IMAPS_PORT"),
            peers.ca_bundle(),
            pattern,
        ])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

// ------------------------------------------------------------------------------------------
// 1. Connecting and logging in.

#[tokio::test]
async fn starttls_then_login_enable_and_id() {
    let peers = postwire_tests::peers_or_skip!();
    let proxy = RoundTripProxy::start(peers.host(), peers.port("MAILPEERS_IMAP_PORT")).await;
    let mut b = Bufs::new();
    let mut c = starttls_at(&peers, "127.0.0.1", proxy.port, &mut b, config()).await;
    // The capabilities are read again inside TLS: no STARTTLS any more.
    let caps = c.capability().await.unwrap();
    assert!(!caps.has(Cap::StartTls));
    assert!(caps.has(Cap::SaslIr) && caps.has(Cap::Id) && caps.has(Cap::Enable));
    assert!(caps.auth(Mechanism::Plain) && caps.auth(Mechanism::CramMd5));
    assert!(!caps.auth(Mechanism::XOAuth2));
    c.login("bob", "bob-pw").await.unwrap();
    assert_eq!(c.session().state(), State::Authenticated);
    // Post-login capabilities, and CONDSTORE/QRESYNC enabled by the client.
    let caps = *c.session().capabilities();
    assert!(caps.has(Cap::Move) && caps.has(Cap::UidPlus) && caps.has(Cap::CondStore));
    assert!(c.session().condstore(), "CONDSTORE enabled");
    assert!(c.session().qresync(), "QRESYNC enabled");
    let mut server = Vec::new();
    c.id(
        Some(&[("name", Some("postwire-tests")), ("version", Some("0.1"))]),
        |k, v| server.push((istr(k), v.map(istr))),
    )
    .await
    .unwrap();
    assert!(
        server.contains(&("name".to_string(), Some("Dovecot".to_string()))),
        "{server:?}"
    );
    // ID NIL: the client stays anonymous; the server still answers.
    let mut n = 0;
    c.id(None, |_, _| n += 1).await.unwrap();
    assert!(n > 0);
    c.noop().await.unwrap();
    c.logout().await.unwrap();
    assert_eq!(c.session().state(), State::Logout);
    let e = c.noop().await.unwrap_err();
    assert!(matches!(e, Error::Failed(_)), "{e:?}");
    // In clear only STARTTLS (the greeting carried the capabilities); everything else went
    // encrypted.
    let sent = proxy.client_bytes();
    let start = sent.windows(10).position(|w| w == b"STARTTLS\r\n").unwrap() + 10;
    let clear = String::from_utf8_lossy(&sent[..start]).to_string();
    assert_eq!(clear, "A1 STARTTLS\r\n");
    let records = tls_records(&sent[start..]);
    assert_eq!(records[0].0, 22, "ClientHello right after the go-ahead");
    assert!(
        records.iter().any(|r| r.0 == 23),
        "the session went encrypted"
    );
    assert!(!String::from_utf8_lossy(&sent).contains("bob-pw"));
}

#[tokio::test]
async fn every_login_method_over_implicit_tls() {
    let peers = postwire_tests::peers_or_skip!();
    // LOGIN.
    let mut b = Bufs::new();
    let mut c = imaps(&peers, &mut b).await;
    c.login("bob", "bob-pw").await.unwrap();
    assert_eq!(c.session().state(), State::Authenticated);
    c.logout().await.unwrap();
    // AUTHENTICATE, chosen by the client (PLAIN over TLS) and each one explicitly.
    for (mech, want) in [
        (None, Mechanism::Plain),
        (Some(Mechanism::Plain), Mechanism::Plain),
        (Some(Mechanism::Login), Mechanism::Login),
        (Some(Mechanism::CramMd5), Mechanism::CramMd5),
    ] {
        let mut b = Bufs::new();
        let mut c = imaps(&peers, &mut b).await;
        let got = c
            .authenticate(&Credentials::new("bob", "bob-pw"), mech)
            .await
            .unwrap_or_else(|e| panic!("{mech:?}: {e}"));
        assert_eq!(got, want);
        assert_eq!(c.session().state(), State::Authenticated);
        assert!(c.session().qresync());
        c.select("INBOX").await.unwrap();
        c.logout().await.unwrap();
    }
    // A wrong password: NO [AUTHENTICATIONFAILED], not fatal; then XOAUTH2 (not offered):
    // a clean refusal, not fatal; then the right password on the same connection.
    let mut b = Bufs::new();
    let mut c = imaps(&peers, &mut b).await;
    let wrong = Credentials::new("bob", "wrong-password");
    for mech in [
        Some(Mechanism::Plain),
        Some(Mechanism::Login),
        Some(Mechanism::CramMd5),
    ] {
        let e = c.authenticate(&wrong, mech).await.unwrap_err();
        match e {
            Error::Rejected(r) => {
                assert_eq!(r.stage, Stage::Authenticate);
                assert!(!r.bad);
                assert_eq!(r.code, Some(RefusalCode::AuthenticationFailed), "{mech:?}");
            }
            other => panic!("{mech:?}: {other:?}"),
        }
        assert!(!e.is_fatal());
        assert_eq!(c.last_response_text(), b"Authentication failed.");
    }
    let e = c.login("bob", "wrong-password").await.unwrap_err();
    assert!(
        matches!(e, Error::Rejected(r) if r.stage == Stage::Login && r.code == Some(RefusalCode::AuthenticationFailed)),
        "{e:?}"
    );
    let e = c
        .authenticate(
            &Credentials::new("bob", "not-a-token"),
            Some(Mechanism::XOAuth2),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Rejected(r) if r.stage == Stage::Authenticate)
            || matches!(e, Error::NoCommonMechanism),
        "{e:?}"
    );
    assert!(!e.is_fatal());
    assert_eq!(c.session().state(), State::NotAuthenticated);
    c.authenticate(&Credentials::new("bob", "bob-pw"), None)
        .await
        .unwrap();
    c.noop().await.unwrap();
    c.logout().await.unwrap();
}

#[tokio::test]
async fn sasl_ir_and_plaintext_rules_on_the_plain_port() {
    let peers = postwire_tests::peers_or_skip!();
    let port = peers.port("MAILPEERS_IMAP_PORT");
    // Default: no credentials over a plain connection; nothing is sent.
    let proxy = RoundTripProxy::start(peers.host(), port).await;
    let mut b = Bufs::new();
    let mut c = plain_at("127.0.0.1", proxy.port, &mut b, config()).await;
    let e = c.login("bob", "bob-pw").await.unwrap_err();
    assert!(matches!(e, Error::PlaintextAuthRefused), "{e:?}");
    for m in [None, Some(Mechanism::Plain), Some(Mechanism::CramMd5)] {
        let e = c
            .authenticate(&Credentials::new("bob", "bob-pw"), m)
            .await
            .unwrap_err();
        assert!(matches!(e, Error::PlaintextAuthRefused), "{e:?}");
        assert!(!e.is_fatal());
    }
    c.logout().await.unwrap();
    let sent = String::from_utf8_lossy(&proxy.client_bytes()).to_string();
    assert!(
        !sent.contains("LOGIN") && !sent.contains("AUTHENTICATE"),
        "{sent}"
    );

    // Allowed by the caller: PLAIN goes with its initial response on the command line
    // (SASL-IR): one round trip.
    let allow = ClientConfig {
        allow_plaintext_auth: true,
        ..config()
    };
    let proxy = RoundTripProxy::start(peers.host(), port).await;
    let mut b = Bufs::new();
    let mut c = plain_at("127.0.0.1", proxy.port, &mut b, allow).await;
    c.authenticate(&Credentials::new("bob", "bob-pw"), Some(Mechanism::Plain))
        .await
        .unwrap();
    c.logout().await.unwrap();
    let sent = String::from_utf8_lossy(&proxy.client_bytes()).to_string();
    assert!(
        sent.starts_with("A1 AUTHENTICATE PLAIN AGJvYgBib2ItcHc=\r\n"),
        "{sent}"
    );
    // Without SASL-IR use, PLAIN waits for the server's `+`.
    let proxy = RoundTripProxy::start(peers.host(), port).await;
    let mut b = Bufs::new();
    let no_ir = ClientConfig {
        sasl_initial_response: false,
        ..allow
    };
    let mut c = plain_at("127.0.0.1", proxy.port, &mut b, no_ir).await;
    c.authenticate(&Credentials::new("bob", "bob-pw"), Some(Mechanism::Plain))
        .await
        .unwrap();
    c.logout().await.unwrap();
    let sent = String::from_utf8_lossy(&proxy.client_bytes()).to_string();
    assert!(
        sent.starts_with("A1 AUTHENTICATE PLAIN\r\nAGJvYgBib2ItcHc=\r\n"),
        "{sent}"
    );
    // Without TLS the client picks CRAM-MD5: the password never crosses the wire.
    let proxy = RoundTripProxy::start(peers.host(), port).await;
    let mut b = Bufs::new();
    let mut c = plain_at("127.0.0.1", proxy.port, &mut b, allow).await;
    let m = c
        .authenticate(&Credentials::new("bob", "bob-pw"), None)
        .await
        .unwrap();
    assert_eq!(m, Mechanism::CramMd5);
    c.logout().await.unwrap();
    let sent = String::from_utf8_lossy(&proxy.client_bytes()).to_string();
    assert!(sent.starts_with("A1 AUTHENTICATE CRAM-MD5\r\n"), "{sent}");
    assert!(
        !sent.contains("bob-pw") && !sent.contains("Ym9iLXB3"),
        "{sent}"
    );

    // XOAUTH2 is not announced: asked for anyway, it goes without its initial response, so
    // the server refuses it before the token leaves.
    let proxy = RoundTripProxy::start(peers.host(), port).await;
    let mut b = Bufs::new();
    let mut c = plain_at("127.0.0.1", proxy.port, &mut b, allow).await;
    assert!(!c.session().capabilities().auth(Mechanism::XOAuth2));
    let e = c
        .authenticate(
            &Credentials::new("bob", "secret-bearer-token"),
            Some(Mechanism::XOAuth2),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Rejected(r) if r.stage == Stage::Authenticate && !r.bad),
        "{e:?}"
    );
    assert!(!e.is_fatal());
    let why = String::from_utf8_lossy(c.last_response_text()).to_string();
    assert!(
        why.contains("Unsupported authentication mechanism"),
        "{why}"
    );
    c.login("bob", "bob-pw").await.unwrap();
    c.logout().await.unwrap();
    let sent = String::from_utf8_lossy(&proxy.client_bytes()).to_string();
    assert!(
        sent.starts_with("A1 AUTHENTICATE XOAUTH2\r\nA2 LOGIN bob bob-pw\r\n"),
        "{sent}"
    );

    // ENABLE by hand when the client does not.

    let manual = ClientConfig {
        enable_extensions: false,
        ..allow
    };
    let mut b = Bufs::new();
    let mut c = plain_at(peers.host(), port, &mut b, manual).await;
    c.login("bob", "bob-pw").await.unwrap();
    assert!(!c.session().condstore() && !c.session().qresync());
    c.enable(&["CONDSTORE"]).await.unwrap();
    assert!(c.session().condstore() && !c.session().qresync());
    let m = c.select("INBOX").await.unwrap();
    assert!(m.highest_modseq.is_some());
    c.logout().await.unwrap();
}

// ------------------------------------------------------------------------------------------
// 2. Mailboxes.

#[tokio::test]
async fn mailboxes_list_status_select_and_utf8_names() {
    let peers = postwire_tests::peers_or_skip!();
    let tok = token("mbox");
    let mut b = Bufs::new();
    let mut c = bob(&peers, &mut b).await;

    // LIST with RETURN (SPECIAL-USE): the special-use folders carry their attribute.
    let mut special = Vec::new();
    let mut inbox = false;
    c.list("", "*", |e| {
        // Other tests' mailboxes come and go; only the well-known names matter here.
        let name = e.name.unwrap_or_default().to_string();
        assert_eq!(e.delimiter, Some(b'.'));
        for attr in ["\\Sent", "\\Trash", "\\Drafts", "\\Junk", "\\Archive"] {
            if e.has_attribute(attr) {
                special.push((name.clone(), attr));
            }
        }
        inbox |= name == "INBOX";
    })
    .await
    .unwrap();
    assert!(inbox);
    for (name, attr) in [
        ("Sent", "\\Sent"),
        ("Trash", "\\Trash"),
        ("Drafts", "\\Drafts"),
        ("Junk", "\\Junk"),
        ("Archive", "\\Archive"),
    ] {
        assert!(
            special.contains(&(name.to_string(), attr)),
            "{name} {attr}: {special:?}"
        );
    }

    // CREATE, SUBSCRIBE, STATUS, SELECT, EXAMINE, CLOSE, UNSELECT, UNSUBSCRIBE, DELETE.
    let name = format!("{tok}-box");
    c.create(&name).await.unwrap();
    let e = c.create(&name).await.unwrap_err();
    assert!(
        matches!(e, Error::Rejected(r) if r.stage == Stage::Create && r.code == Some(RefusalCode::AlreadyExists)),
        "{e:?}"
    );
    assert_eq!(list_names(&mut c, &name).await, vec![name.clone()]);
    c.subscribe(&name).await.unwrap();
    assert!(subscribed(&peers, &name).contains(&name));
    let st = c
        .status(
            &name,
            &[
                StatusAttr::Messages,
                StatusAttr::UidNext,
                StatusAttr::UidValidity,
                StatusAttr::Unseen,
                StatusAttr::Recent,
                StatusAttr::HighestModSeq,
            ],
        )
        .await
        .unwrap();
    assert_eq!(st.messages, Some(0));
    assert_eq!(st.unseen, Some(0));
    assert_eq!(st.recent, Some(0));
    assert_eq!(st.uidnext, Some(1));
    assert!(st.uidvalidity.is_some());
    assert!(st.highest_modseq.is_some());
    for (i, flag) in ["\\Seen", "\\Flagged"].iter().enumerate() {
        append(&mut c, &name, &[flag], &message(&tok, i, "hello")).await;
    }
    let st = c
        .status(
            &name,
            &[
                StatusAttr::Messages,
                StatusAttr::Unseen,
                StatusAttr::UidNext,
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        (st.messages, st.unseen, st.uidnext),
        (Some(2), Some(1), Some(3))
    );

    let m = c.select(&name).await.unwrap();
    assert_eq!(c.session().state(), State::Selected);
    assert_eq!(m, *c.mailbox());
    assert_eq!(m.exists, 2);
    assert!(!m.read_only);
    assert_eq!(m.uidvalidity, st.uidvalidity.or(m.uidvalidity));
    assert_eq!(m.uidnext, Some(3));
    assert!(m.highest_modseq.is_some_and(|h| h > 0));
    for f in ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"] {
        assert!(m.flags.contains(f), "FLAGS lacks {f}: {:?}", m.flags);
        assert!(m.permanent_flags.contains(f), "{:?}", m.permanent_flags);
    }
    assert!(m.permanent_flags.contains("\\*"), "new keywords allowed");
    c.noop().await.unwrap();
    c.close().await.unwrap();
    assert_eq!(c.session().state(), State::Authenticated);
    // Out of sequence: nothing is sent, not fatal.
    let e = c
        .fetch(false, &[SeqRange::one(1)], &[FetchAttr::Flags], |_| Ok(()))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Protocol(_)) && !e.is_fatal(), "{e:?}");

    let m = c.examine(&name).await.unwrap();
    assert!(m.read_only && c.mailbox().read_only);
    assert_eq!(m.exists, 2);
    assert_eq!(m.uidvalidity, st.uidvalidity.or(m.uidvalidity));
    c.unselect().await.unwrap();
    assert_eq!(c.session().state(), State::Authenticated);

    // A failed SELECT leaves no mailbox selected.
    c.select(&name).await.unwrap();
    let e = c.select(&format!("{tok}-missing")).await.unwrap_err();
    assert!(
        matches!(e, Error::Rejected(r) if r.stage == Stage::Select && !r.bad),
        "{e:?}"
    );
    let why = String::from_utf8_lossy(c.last_response_text()).to_string();
    assert!(why.contains("doesn't exist"), "{why}");
    assert_eq!(c.session().state(), State::Authenticated);

    c.unsubscribe(&name).await.unwrap();
    assert!(!subscribed(&peers, &name).contains(&name));
    c.delete(&name).await.unwrap();
    assert!(list_names(&mut c, &name).await.is_empty());
    let e = c.delete(&name).await.unwrap_err();
    assert!(
        matches!(e, Error::Rejected(r) if r.stage == Stage::Delete),
        "{e:?}"
    );

    // Non-ASCII names: sent in modified UTF-7, listed decoded.
    let utf = format!("Prüfung-日本-{tok}");
    let renamed = format!("Prüfung-日本-{tok}-neu");
    c.create(&utf).await.unwrap();
    let mut wire = String::new();
    c.list("", &format!("*{tok}*"), |e| {
        assert_eq!(e.name, Some(utf.as_str()));
        wire = istr(e.wire_name);
    })
    .await
    .unwrap();
    assert_eq!(wire, format!("Pr&APw-fung-&ZeVnLA--{tok}"));
    let m = c.select(&utf).await.unwrap();
    assert_eq!(m.exists, 0);
    append(&mut c, &utf, &[], &message(&tok, 9, "umlaut box")).await;
    c.noop().await.unwrap();
    assert_eq!(c.mailbox().exists, 1);
    c.unselect().await.unwrap();
    c.rename(&utf, &renamed).await.unwrap();
    assert_eq!(
        list_names(&mut c, &format!("*{tok}*")).await,
        vec![renamed.clone()]
    );
    let st = c.status(&renamed, &[StatusAttr::Messages]).await.unwrap();
    assert_eq!(st.messages, Some(1));
    c.delete(&renamed).await.unwrap();
    assert!(list_names(&mut c, &format!("*{tok}*")).await.is_empty());
    c.logout().await.unwrap();
}

// ------------------------------------------------------------------------------------------
// 3. Messages.

/// An internal date in the past (Dovecot replaces future ones with the current time).
fn internal_date(i: usize) -> String {
    format!("21-Nov-2025 10:0{i}:00 +0100")
}

/// Seconds since the epoch of an IMAP date-time `dd-Mon-yyyy hh:mm:ss +zzzz` (the server
/// may answer in another time zone).
fn date_time(s: &str) -> i64 {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let s = s.trim();
    let (date, rest) = s.split_once(' ').unwrap();
    let (time, zone) = rest.split_once(' ').unwrap();
    let mut d = date.split('-');
    let day: i64 = d.next().unwrap().trim().parse().unwrap();
    let mon = d.next().unwrap();
    let month = MONTHS.iter().position(|m| *m == mon).unwrap() as i64 + 1;
    let year: i64 = d.next().unwrap().parse().unwrap();
    let t: Vec<i64> = time.split(':').map(|x| x.parse().unwrap()).collect();
    let z: i64 = zone[1..].parse().unwrap();
    let offset = (z / 100 * 60 + z % 100) * 60 * if zone.starts_with('-') { -1 } else { 1 };
    // Days from the civil date (H. Hinnant's algorithm).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2] - offset
}

/// The flags without `\Recent` (which Dovecot adds for the first session to see a message).
fn flags(f: &Fetched) -> Vec<String> {
    let mut v: Vec<String> = f
        .flags
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .cloned()
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn messages_append_fetch_search_store_copy_move_expunge() {
    let peers = postwire_tests::peers_or_skip!();
    let tok = token("msgs");
    let src = format!("{tok}-src");
    let dst = format!("{tok}-dst");
    let mut b = Bufs::sized(2048, 1024);
    let mut c = bob(&peers, &mut b).await;
    c.create(&src).await.unwrap();
    c.create(&dst).await.unwrap();
    let src_validity = c
        .status(&src, &[StatusAttr::UidValidity])
        .await
        .unwrap()
        .uidvalidity
        .unwrap();

    // APPEND with flags and internal date: APPENDUID.
    let big_text = "Grüße aus der Firmware ✓ — line of a long body\r\n".repeat(200);
    let msgs = [
        message(&tok, 0, "short body"),
        message(&tok, 1, &big_text),
        message(&tok, 2, "third body"),
    ];
    assert!(
        msgs[1].len() > 4 * 2048,
        "streamed through the receive buffer"
    );
    let flag_sets: [&[&str]; 3] = [&["\\Flagged"], &["\\Seen", "$Label1"], &[]];
    let mut uids = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let mut s = &m[..];
        let up = c
            .append(
                &src,
                flag_sets[i],
                Some(&internal_date(i)),
                m.len() as u64,
                &mut s,
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!((up.uidvalidity, up.count), (src_validity, 1));
        uids.push(up.first_uid);
    }
    assert!(uids.windows(2).all(|w| w[0] < w[1]), "{uids:?}");

    let m = c.select(&src).await.unwrap();
    assert_eq!(m.exists, 3);
    assert_eq!(m.uidvalidity, Some(src_validity));
    assert_eq!(m.uidnext, Some(uids[2] + 1));

    // FETCH 1:* with several attributes.
    let all = fetch(
        &mut c,
        false,
        &[SeqRange::from(1)],
        &[
            FetchAttr::Uid,
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
            FetchAttr::Envelope,
            FetchAttr::BodyStructure,
            FetchAttr::ModSeq,
        ],
    )
    .await;
    assert_eq!(all.len(), 3, "{all:?}");
    for (i, f) in all.iter().enumerate() {
        assert_eq!(f.seq, i as u64 + 1);
        assert_eq!(f.uid, Some(uids[i]));
        assert_eq!(f.size, Some(msgs[i].len() as u64));
        assert_eq!(
            f.subject.as_deref(),
            Some(format!("imap test {tok} #{i}").as_str())
        );
        assert_eq!(f.from.as_deref(), Some("alice@example.test"));
        assert_eq!(
            date_time(f.internal_date.as_deref().unwrap()),
            date_time(&internal_date(i))
        );
        assert_eq!(
            f.structure,
            Some((
                "multipart/mixed".to_string(),
                vec![
                    "text/plain".to_string(),
                    "application/octet-stream".to_string()
                ]
            ))
        );
        assert!(f.modseq.is_some_and(|m| m > 0));
        assert!(!f.streamed);
    }
    assert_eq!(flags(&all[0]), ["\\Flagged"]);
    assert_eq!(flags(&all[1]), ["$Label1", "\\Seen"]);
    assert!(flags(&all[2]).is_empty());

    // UID FETCH of body sections: the whole message streamed, a header field and a partial
    // part inline.
    let f = fetch(
        &mut c,
        true,
        &[SeqRange::one(uids[1])],
        &[
            FetchAttr::Uid,
            FetchAttr::BodySection {
                section: "HEADER.FIELDS (SUBJECT)",
                peek: true,
                partial: None,
            },
            FetchAttr::BodySection {
                section: "",
                peek: true,
                partial: None,
            },
            FetchAttr::BodySection {
                section: "1",
                peek: true,
                partial: Some((0, 12)),
            },
        ],
    )
    .await;
    assert_eq!(f.len(), 1);
    let f = &f[0];
    assert_eq!(f.uid, Some(uids[1]));
    assert!(f.streamed, "BODY[] is larger than the receive buffer");
    assert_eq!(f.section("BODY[]"), &msgs[1][..]);
    assert_eq!(
        f.section("BODY[HEADER.FIELDS"),
        format!("Subject: imap test {tok} #1\r\n\r\n").as_bytes()
    );
    assert_eq!(f.section("BODY[1]<0>"), &big_text.as_bytes()[..12]);

    // The body helpers: into a writer and through a callback.
    let mut whole = vec![0u8; msgs[1].len() + 10];
    let n = c
        .fetch_body(uids[1], "", &mut &mut whole[..])
        .await
        .unwrap();
    assert_eq!(&whole[..n as usize], &msgs[1][..]);
    let mut text = Vec::new();
    let n = c
        .fetch_body_with(uids[0], "1", |chunk| {
            text.extend_from_slice(chunk);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!((n, &text[..]), (10, &b"short body"[..]));
    let e = c
        .fetch_body_with(uids[2] + 1000, "TEXT", |_| Ok(()))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NoSuchMessage) && !e.is_fatal(), "{e:?}");

    // A non-peek BODY[TEXT] sets \Seen.
    let f = fetch(
        &mut c,
        false,
        &[SeqRange::one(3)],
        &[FetchAttr::BodySection {
            section: "TEXT",
            peek: false,
            partial: None,
        }],
    )
    .await;
    assert!(
        String::from_utf8_lossy(f[0].section("BODY[TEXT]")).contains("third body"),
        "{f:?}"
    );
    let f = fetch(&mut c, true, &[SeqRange::one(uids[2])], &[FetchAttr::Flags]).await;
    assert_eq!(flags(&f[0]), ["\\Seen"]);

    // SEARCH (sequence numbers) and UID SEARCH (ESEARCH on Dovecot).
    assert!(c.session().capabilities().has(Cap::ESearch));
    let mut seqs = Vec::new();
    c.search(false, &[SearchKey::Flagged], |n| seqs.push(n))
        .await
        .unwrap();
    assert_eq!(seqs, [1]);
    assert_eq!(uids_with_subject(&mut c, &tok).await, uids);
    let search = async |c: &mut Imaps<'_>, keys: &[SearchKey<'_>]| {
        let mut v = Vec::new();
        c.search(true, keys, |u| v.push(u)).await.unwrap();
        v
    };
    assert_eq!(
        search(&mut c, &[SearchKey::Keyword("$Label1")]).await,
        [uids[1]]
    );
    assert_eq!(
        search(
            &mut c,
            &[SearchKey::Not(&SearchKey::Flagged), SearchKey::Seen]
        )
        .await,
        [uids[1], uids[2]]
    );
    assert_eq!(search(&mut c, &[SearchKey::Larger(4096)]).await, [uids[1]]);
    let mid = format!("<{tok}-2@example.test>");
    assert_eq!(
        search(&mut c, &[SearchKey::Header("Message-ID", &mid)]).await,
        [uids[2]]
    );
    assert_eq!(
        search(
            &mut c,
            &[SearchKey::Or(&SearchKey::Flagged, &SearchKey::Larger(4096))]
        )
        .await,
        [uids[0], uids[1]]
    );
    assert!(
        search(&mut c, &[SearchKey::Subject("no such subject at all")])
            .await
            .is_empty()
    );

    // STORE +FLAGS / -FLAGS / FLAGS, answered with FETCH FLAGS; .SILENT without.
    let store = async |c: &mut Imaps<'_>, uid: u64, mode: StoreMode, fl: &[&str], silent: bool| {
        let mut got = Vec::new();
        c.store(true, &[SeqRange::one(uid)], mode, fl, silent, |f| {
            if let Some(FetchItem::Flags(a)) = f.items.get(b"FLAGS") {
                let x = Fetched {
                    flags: a.map(|f| String::from_utf8(f.to_vec()).unwrap()).collect(),
                    ..Fetched::default()
                };
                got.push(flags(&x));
            }
        })
        .await
        .unwrap();
        got
    };
    let updates = c.mailbox().flag_updates;
    assert_eq!(
        store(
            &mut c,
            uids[2],
            StoreMode::Add,
            &["\\Answered", "$Done"],
            false
        )
        .await,
        [vec!["$Done", "\\Answered", "\\Seen"]]
    );
    assert_eq!(c.mailbox().flag_updates, updates + 1);
    assert_eq!(
        store(
            &mut c,
            uids[2],
            StoreMode::Remove,
            &["$Done", "\\Seen"],
            false
        )
        .await,
        [vec!["\\Answered"]]
    );
    assert_eq!(
        store(&mut c, uids[2], StoreMode::Replace, &["\\Draft"], false).await,
        [vec!["\\Draft"]]
    );
    assert!(
        store(&mut c, uids[2], StoreMode::Add, &["\\Flagged"], true)
            .await
            .is_empty()
    );
    let f = fetch(&mut c, true, &[SeqRange::one(uids[2])], &[FetchAttr::Flags]).await;
    assert_eq!(flags(&f[0]), ["\\Draft", "\\Flagged"]);
    // By sequence number.
    let mut n = 0;
    c.store(
        false,
        &[SeqRange::one(1)],
        StoreMode::Add,
        &["$BySeq"],
        false,
        |f| {
            assert_eq!(f.seq, 1);
            n += 1;
        },
    )
    .await
    .unwrap();
    assert_eq!(n, 1);
    // A flag that is not a flag is refused locally.
    let e = c
        .store(
            true,
            &[SeqRange::one(uids[0])],
            StoreMode::Add,
            &["bad flag"],
            true,
            |_| {},
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument), "{e:?}");

    // COPY: COPYUID.
    let dst_validity = c
        .status(&dst, &[StatusAttr::UidValidity])
        .await
        .unwrap()
        .uidvalidity
        .unwrap();
    let up = c
        .copy(true, &[SeqRange::range(uids[0], uids[1])], &dst)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((up.uidvalidity, up.count), (dst_validity, 2));
    assert_eq!(c.mailbox().exists, 3);
    let st = c.status(&dst, &[StatusAttr::Messages]).await.unwrap();
    assert_eq!(st.messages, Some(2));

    // MOVE: COPYUID, and the message leaves the source (VANISHED with QRESYNC).
    let expunged = c.mailbox().expunged;
    let up = c
        .move_to(true, &[SeqRange::one(uids[2])], &dst)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((up.uidvalidity, up.count), (dst_validity, 1));
    assert_eq!(c.mailbox().exists, 2);
    assert_eq!(c.mailbox().expunged, expunged + 1);
    let st = c.status(&dst, &[StatusAttr::Messages]).await.unwrap();
    assert_eq!(st.messages, Some(3));
    assert_eq!(uids_with_subject(&mut c, &tok).await, &uids[..2]);

    // EXPUNGE.
    store(&mut c, uids[0], StoreMode::Add, &["\\Deleted"], true).await;
    assert_eq!(c.expunge(|_| {}).await.unwrap(), 1);
    assert_eq!(c.mailbox().exists, 1);
    assert_eq!(uids_with_subject(&mut c, &tok).await, [uids[1]]);

    // UID EXPUNGE removes only the messages named, even if others are \Deleted.
    c.select(&dst).await.unwrap();
    let in_dst = uids_with_subject(&mut c, &tok).await;
    assert_eq!(in_dst.len(), 3);
    c.store(
        true,
        &[SeqRange::from(1)],
        StoreMode::Add,
        &["\\Deleted"],
        true,
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(c.uid_expunge(&[SeqRange::one(in_dst[0])]).await.unwrap(), 1);
    assert_eq!(c.mailbox().exists, 2);
    assert_eq!(uids_with_subject(&mut c, &tok).await, &in_dst[1..]);
    // APPEND to a mailbox that does not exist: NO [TRYCREATE], the literal was consumed
    // (LITERAL+) and the connection goes on.
    let msg = message(&tok, 7, "nowhere");
    let mut s = &msg[..];
    let e = c
        .append(
            &format!("{tok}-missing"),
            &[],
            None,
            msg.len() as u64,
            &mut s,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, Error::Rejected(r) if r.stage == Stage::Append && r.code == Some(RefusalCode::TryCreate)),
        "{e:?}"
    );
    assert!(!e.is_fatal());
    let e = c
        .append(&dst, &[], Some("not a date\r\n"), 1, &mut &b"x"[..])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidArgument), "{e:?}");
    c.noop().await.unwrap();
    // CLOSE expunges the rest silently; EXAMINE cannot expunge.
    c.close().await.unwrap();
    let st = c.status(&dst, &[StatusAttr::Messages]).await.unwrap();
    assert_eq!(st.messages, Some(0));
    c.examine(&src).await.unwrap();
    let e = c.expunge(|_| {}).await.unwrap_err();
    assert!(matches!(e, Error::Protocol(_)) && !e.is_fatal(), "{e:?}");

    // Unsolicited updates: a second connection changes the mailbox; NOOP brings the news.
    c.select(&src).await.unwrap();
    assert_eq!(c.mailbox().exists, 1);
    let mut b2 = Bufs::new();
    let mut c2 = bob(&peers, &mut b2).await;
    let new_uid = append(&mut c2, &src, &[], &message(&tok, 3, "from the other side")).await;
    c.noop().await.unwrap();
    assert_eq!(c.mailbox().exists, 2, "EXISTS pushed with the NOOP");
    c2.select(&src).await.unwrap();
    let updates = c.mailbox().flag_updates;
    c2.store(
        true,
        &[SeqRange::one(new_uid)],
        StoreMode::Add,
        &["\\Flagged"],
        true,
        |_| {},
    )
    .await
    .unwrap();
    c.noop().await.unwrap();
    assert_eq!(c.mailbox().flag_updates, updates + 1, "FETCH FLAGS pushed");
    c2.store(
        true,
        &[SeqRange::one(new_uid)],
        StoreMode::Add,
        &["\\Deleted"],
        true,
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(c2.uid_expunge(&[SeqRange::one(new_uid)]).await.unwrap(), 1);
    let expunged = c.mailbox().expunged;
    c.noop().await.unwrap();
    assert_eq!(c.mailbox().exists, 1);
    assert_eq!(c.mailbox().expunged, expunged + 1);
    c2.logout().await.unwrap();

    c.unselect().await.unwrap();
    c.delete(&src).await.unwrap();
    c.delete(&dst).await.unwrap();
    c.logout().await.unwrap();
}

// ------------------------------------------------------------------------------------------
// 4. IDLE.

#[tokio::test]
async fn idle_pushes_exists_flags_and_expunges_and_stops_cleanly() {
    let peers = postwire_tests::peers_or_skip!();
    let tok = token("idle");
    let name = format!("{tok}-idle");
    let mut b = Bufs::new();
    let mut c = bob(&peers, &mut b).await;
    c.create(&name).await.unwrap();
    c.select(&name).await.unwrap();
    let mut b2 = Bufs::new();
    let mut c2 = bob(&peers, &mut b2).await;

    // EXISTS: the callback stops IDLE.
    let mut events = Vec::new();
    let (end, uid) = tokio::join!(
        c.idle(tokio::time::sleep(TIMEOUT), |ev| {
            events.push(ev);
            if matches!(ev, IdleEvent::Exists(_)) {
                IdleControl::Stop
            } else {
                IdleControl::Continue
            }
        }),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            append(&mut c2, &name, &[], &message(&tok, 0, "pushed")).await
        }
    );
    assert_eq!(end.unwrap(), IdleEnd::Stopped, "{events:?}");
    assert!(events.contains(&IdleEvent::Exists(1)), "{events:?}");
    assert_eq!(c.mailbox().exists, 1);

    // A flag change and an expunge by the other connection.
    c2.select(&name).await.unwrap();
    let mut events = Vec::new();
    let (end, ()) = tokio::join!(
        c.idle(tokio::time::sleep(TIMEOUT), |ev| {
            events.push(ev);
            if matches!(ev, IdleEvent::Vanished(_) | IdleEvent::Expunge(_)) {
                IdleControl::Stop
            } else {
                IdleControl::Continue
            }
        }),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            c2.store(
                true,
                &[SeqRange::one(uid)],
                StoreMode::Add,
                &["\\Flagged"],
                true,
                |_| {},
            )
            .await
            .unwrap();
            tokio::time::sleep(Duration::from_millis(1500)).await;
            c2.store(
                true,
                &[SeqRange::one(uid)],
                StoreMode::Add,
                &["\\Deleted"],
                true,
                |_| {},
            )
            .await
            .unwrap();
            c2.uid_expunge(&[SeqRange::one(uid)]).await.unwrap();
        }
    );
    assert_eq!(end.unwrap(), IdleEnd::Stopped, "{events:?}");
    assert!(
        events.iter().any(|e| matches!(e, IdleEvent::Flags { seq: 1, uid: Some(u), flags } if *u == uid && flags.contains("\\Flagged"))),
        "{events:?}"
    );
    assert!(events.contains(&IdleEvent::Vanished(1)), "{events:?}");
    assert_eq!(c.mailbox().exists, 0);

    // The stop future ends IDLE cleanly; the connection goes on.
    let t = Instant::now();
    let end = c
        .idle(tokio::time::sleep(Duration::from_millis(500)), |_| {
            IdleControl::Continue
        })
        .await
        .unwrap();
    assert_eq!(end, IdleEnd::StopFuture);
    assert!(t.elapsed() < Duration::from_secs(5));
    c.noop().await.unwrap();
    c.logout().await.unwrap();

    // A short refresh period: IDLE is re-issued (DONE, IDLE) and reported.
    let mut b = Bufs::new();
    let cfg = ClientConfig {
        idle_refresh_ms: 400,
        ..config()
    };
    let port = peers.port("MAILPEERS_IMAPS_PORT");
    let mut c = imaps_at(&peers, peers.host(), port, &mut b, cfg).await;
    c.login("bob", "bob-pw").await.unwrap();
    c.examine(&name).await.unwrap();
    let mut refreshed = 0;
    let end = c
        .idle(tokio::time::sleep(Duration::from_millis(2000)), |ev| {
            if ev == IdleEvent::Refreshed {
                refreshed += 1;
            }
            IdleControl::Continue
        })
        .await
        .unwrap();
    assert_eq!(end, IdleEnd::StopFuture);
    assert!(refreshed >= 2, "{refreshed}");
    c.noop().await.unwrap();
    c.unselect().await.unwrap();
    c.delete(&name).await.unwrap();
    c.logout().await.unwrap();
    c2.logout().await.unwrap();
}

/// Sends a message to bob with our SMTP client (submissions port, implicit TLS, AUTH as
/// alice).
async fn send_to_bob(peers: &Peers, subject: &str, text: &str) {
    let msg = SimpleMessage {
        from: Some(MailAddr::parse("Alice Sender <alice@example.test>").unwrap()),
        to: vec![MailAddr::parse("Bob <bob@example.test>").unwrap()],
        subject: Some(subject.to_string()),
        text: text.to_string(),
        ..Default::default()
    };
    let req = SendRequest {
        server: ServerUrl {
            security: Security::Implicit,
            host: peers.host().to_string(),
            port: peers.port("MAILPEERS_SUBMISSIONS_PORT"),
        },
        tls_name: Some(peers.tls_name().to_string()),
        ca: Some(ca(peers)),
        insecure: false,
        sigalgs: postwire_tls::SigAlgs::ALL,
        credentials: Some(("alice".into(), "alice-pw".into())),
        mechanism: None,
        allow_plaintext: false,
        from: "alice@example.test".into(),
        recipients: vec!["bob@example.test".into()],
        eight_bit: false,
        message: msg.render(now_unix(), &token("mid")).unwrap(),
        timeout: TIMEOUT,
        client_domain: "client.example.test".into(),
    };
    let ok = send(&req).await.unwrap();
    assert_eq!(ok.accepted, vec!["bob@example.test".to_string()]);
}

/// The issue's scenario: IDLE on bob's INBOX; our SMTP client sends bob a command; the push
/// arrives within 2 s; the client finds it with `new_since`, reads its text, flags it \Seen
/// and moves it to a "done" mailbox. A second connection checks the result.
#[tokio::test]
async fn smtp_message_is_pushed_by_idle_then_processed() {
    let peers = postwire_tests::peers_or_skip!();
    let tok = token("push");
    let done = format!("{tok}-done");
    let subject = format!("command {tok}");
    let command = format!("set-temperature 21.5 {tok}");
    let mut b = Bufs::sized(1024, 512);
    let mut c = bob(&peers, &mut b).await;
    c.create(&done).await.unwrap();
    let m = c.select("INBOX").await.unwrap();
    let mut seen = Checkpoint {
        uidvalidity: m.uidvalidity.unwrap(),
        last_uid: m.uidnext.unwrap() - 1,
    };

    // Watch (IDLE) and send at the same time. Other tests deliver to bob's INBOX too: every
    // new message is checked for the token.
    let watch = async {
        // When the EXISTS that announced the newest messages arrived.
        let mut pushed_at: Option<Instant> = None;
        loop {
            let before = c.mailbox().exists;
            let mut new = Vec::new();
            let r = c.new_since(seen, |u| new.push(u)).await.unwrap();
            assert!(!r.uidvalidity_changed);
            assert_eq!(r.count, new.len() as u64);
            for uid in new {
                let mut head = Vec::new();
                c.fetch_body_with(uid, "HEADER.FIELDS (SUBJECT)", |ch| {
                    head.extend_from_slice(ch);
                    Ok(())
                })
                .await
                .unwrap();
                if String::from_utf8_lossy(&head).contains(&tok) {
                    return (uid, pushed_at.unwrap_or_else(Instant::now));
                }
                seen.last_uid = seen.last_uid.max(uid);
            }
            if c.mailbox().exists != before {
                // EXISTS arrived with the commands above, not in IDLE.
                pushed_at = Some(Instant::now());
                continue;
            }
            let end = c
                .idle(tokio::time::sleep(Duration::from_secs(30)), |ev| match ev {
                    IdleEvent::Exists(_) => {
                        pushed_at = Some(Instant::now());
                        IdleControl::Stop
                    }
                    _ => IdleControl::Continue,
                })
                .await
                .unwrap();
            assert_eq!(end, IdleEnd::Stopped, "no push within 30 s");
        }
    };
    let sender = async {
        // Let the watcher enter IDLE first.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let start = Instant::now();
        send_to_bob(&peers, &subject, &command).await;
        (start, Instant::now())
    };
    let ((uid, pushed), (send_start, accepted)) = tokio::join!(watch, sender);
    let latency = pushed.saturating_duration_since(accepted);
    let from_start = pushed.saturating_duration_since(send_start);
    eprintln!(
        "IDLE push latency: {} ms after the server accepted the message ({} ms after the send started)",
        latency.as_millis(),
        from_start.as_millis()
    );
    assert!(
        from_start <= Duration::from_secs(2),
        "push took {from_start:?} from the start of the send"
    );

    // Read the text, flag \Seen, move to the done mailbox.
    let mut text = Vec::new();
    c.fetch_body_with(uid, "TEXT", |ch| {
        text.extend_from_slice(ch);
        Ok(())
    })
    .await
    .unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains(&command), "{text}");
    let f = fetch(&mut c, true, &[SeqRange::one(uid)], &[FetchAttr::Flags]).await;
    assert!(
        !flags(&f[0]).contains(&"\\Seen".to_string()),
        "PEEK keeps it unseen"
    );
    c.store(
        true,
        &[SeqRange::one(uid)],
        StoreMode::Add,
        &["\\Seen"],
        true,
        |_| {},
    )
    .await
    .unwrap();
    let exists = c.mailbox().exists;
    let up = c
        .move_to(true, &[SeqRange::one(uid)], &done)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(up.count, 1);
    assert_eq!(c.mailbox().exists, exists - 1);
    c.logout().await.unwrap();

    // A second connection: gone from the INBOX, in the done mailbox with \Seen.
    let mut b = Bufs::new();
    let mut c = bob(&peers, &mut b).await;
    c.examine("INBOX").await.unwrap();
    assert!(uids_with_subject(&mut c, &tok).await.is_empty());
    c.examine(&done).await.unwrap();
    assert_eq!(uids_with_subject(&mut c, &tok).await, [up.first_uid]);
    let f = fetch(
        &mut c,
        true,
        &[SeqRange::one(up.first_uid)],
        &[FetchAttr::Flags, FetchAttr::Envelope],
    )
    .await;
    assert_eq!(flags(&f[0]), ["\\Seen"]);
    assert_eq!(f[0].subject.as_deref(), Some(subject.as_str()));
    c.unselect().await.unwrap();
    c.delete(&done).await.unwrap();
    c.logout().await.unwrap();
}

// ------------------------------------------------------------------------------------------
// 5. A 20 MiB message through a 1 KiB receive buffer.

const LINE: u64 = 80;
const BIG_BODY: u64 = 20 * 1024 * 1024;

/// Line `i` of the generated body: 78 printable bytes and CRLF, different for every line.
fn big_line(i: u64) -> [u8; LINE as usize] {
    const ALPHABET: &[u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,;:-_+=";
    let mut l = [0u8; LINE as usize];
    l[..8].copy_from_slice(format!("{:08}", i % 100_000_000).as_bytes());
    l[8] = b' ';
    for (k, b) in l[9..78].iter_mut().enumerate() {
        *b = ALPHABET[((i as usize).wrapping_mul(31) + k * 7) % ALPHABET.len()];
    }
    l[78..].copy_from_slice(b"\r\n");
    l
}

/// A message generated on the fly: never held whole.
struct Big {
    header: Vec<u8>,
    pos: u64,
}

impl Big {
    fn new(tok: &str) -> Self {
        let header = format!(
            "From: Alice Sender <alice@example.test>\r\nTo: Bob <bob@example.test>\r\n\
             Subject: big {tok}\r\nMessage-ID: <{tok}@example.test>\r\n\
             Date: Sun, 22 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        )
        .into_bytes();
        Big { header, pos: 0 }
    }

    fn len(&self) -> u64 {
        self.header.len() as u64 + BIG_BODY
    }

    /// The bytes at `off..`, as many as fit into `buf`.
    fn fill_at(&self, mut off: u64, buf: &mut [u8]) -> usize {
        let h = self.header.len() as u64;
        let mut n = 0;
        while n < buf.len() && off < self.len() {
            let k = if off < h {
                let src = &self.header[off as usize..];
                let k = src.len().min(buf.len() - n);
                buf[n..n + k].copy_from_slice(&src[..k]);
                k
            } else {
                let rel = off - h;
                let line = big_line(rel / LINE);
                let src = &line[(rel % LINE) as usize..];
                let k = src.len().min(buf.len() - n);
                buf[n..n + k].copy_from_slice(&src[..k]);
                k
            };
            n += k;
            off += k as u64;
        }
        n
    }

    fn sha256(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut off = 0;
        loop {
            let n = self.fill_at(off, &mut buf);
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            off += n as u64;
        }
        h.finalize().into()
    }
}

impl ErrorType for Big {
    type Error = core::convert::Infallible;
}

impl Read for Big {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let n = self.fill_at(self.pos, buf);
        self.pos += n as u64;
        Ok(n)
    }
}

#[tokio::test]
async fn twenty_mib_message_appended_and_fetched_through_1_kib() {
    let peers = postwire_tests::peers_or_skip!();
    let tok = token("big");
    let name = format!("{tok}-big");
    let mut tls = TlsBuffers::new();
    let (mut rx, mut tx) = ([0u8; 1024], [0u8; 1024]);
    let ca = ca(&peers);
    let anchors = ca.anchors();
    let trust = Trust::Anchors(&anchors);
    let tcp = connect_tcp(peers.host(), peers.port("MAILPEERS_IMAPS_PORT"), TIMEOUT)
        .await
        .unwrap();
    let stream = start_tls(tcp, peers.tls_name(), &trust, TIMEOUT, &mut tls)
        .await
        .unwrap();
    let mut c = Client::new(
        stream,
        TokioDelay,
        Buffers {
            rx: &mut rx,
            tx: &mut tx,
        },
        config(),
    );
    c.set_implicit_tls();
    c.greet().await.unwrap();
    c.login("bob", "bob-pw").await.unwrap();
    c.create(&name).await.unwrap();

    let mut big = Big::new(&tok);
    let len = big.len();
    let t = Instant::now();
    let up = c
        .append(&name, &["\\Seen"], None, len, &mut big)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(big.pos, len, "the whole source was read");
    eprintln!("APPEND of {len} bytes: {:?}", t.elapsed());

    c.select(&name).await.unwrap();
    let f = fetch(
        &mut c,
        true,
        &[SeqRange::one(up.first_uid)],
        &[FetchAttr::Uid, FetchAttr::Rfc822Size],
    )
    .await;
    assert_eq!(f[0].size, Some(len));

    // Fetched back through the 1 KiB receive buffer, compared byte by byte with the
    // generator and by SHA-256.
    let want = Big::new(&tok);
    let mut hash = Sha256::new();
    let mut off = 0u64;
    let mut expect = vec![0u8; 16 * 1024];
    let mut chunks = 0u64;
    let mut largest = 0usize;
    let t = Instant::now();
    let n = c
        .fetch_body_with(up.first_uid, "", |chunk| {
            let k = want.fill_at(off, &mut expect[..chunk.len()]);
            if k != chunk.len() || expect[..k] != *chunk {
                panic!("fetched bytes differ at or after offset {off}");
            }
            hash.update(chunk);
            off += chunk.len() as u64;
            chunks += 1;
            largest = largest.max(chunk.len());
            Ok(())
        })
        .await
        .unwrap();
    eprintln!(
        "FETCH of {n} bytes: {:?}, {chunks} chunks of at most {largest} bytes",
        t.elapsed()
    );
    assert_eq!(n, len);
    assert_eq!(off, len);
    assert!(largest <= 1024);
    let got: [u8; 32] = hash.finalize().into();
    assert_eq!(got, want.sha256());

    c.close().await.unwrap();
    c.delete(&name).await.unwrap();
    c.logout().await.unwrap();
}

// ------------------------------------------------------------------------------------------
// 6. A wrong CA: refused before any credential.

/// A CA that never signed the peers' certificates.
fn unrelated_ca() -> CaSet {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "not the mailpeers CA");
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = p.self_signed(&key).unwrap();
    CaSet::from_der(vec![cert.der().to_vec()])
}

/// The TLS records in `bytes` as (content type, length); panics on a partial record.
fn tls_records(bytes: &[u8]) -> Vec<(u8, usize)> {
    let mut v = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        assert!(i + 5 <= bytes.len(), "partial record header at {i}");
        assert_eq!(
            bytes[i + 1],
            3,
            "not a TLS record at {i}: {:?}",
            &bytes[i..]
        );
        let len = usize::from(u16::from_be_bytes([bytes[i + 3], bytes[i + 4]]));
        v.push((bytes[i], len));
        i += 5 + len;
    }
    assert_eq!(i, bytes.len(), "partial record");
    v
}

/// What the client sent after the point TLS began: only the ClientHello and possibly an
/// alert, no application data (TLS 1.3 encrypts a late alert as a small type-23 record; a
/// command with credentials would be larger and would come after the client's Finished,
/// which a failed verification never sends).
fn assert_handshake_only(bytes: &[u8]) {
    let recs = tls_records(bytes);
    assert_eq!(
        recs.first().map(|r| r.0),
        Some(22),
        "ClientHello first: {recs:?}"
    );
    for &(kind, len) in &recs[1..] {
        let alert = kind == 21 || (kind == 23 && len <= 2 + 1 + 16);
        assert!(
            kind == 20 || alert,
            "unexpected record after the ClientHello: {recs:?}"
        );
    }
}

#[tokio::test]
async fn wrong_ca_is_refused_before_any_credential() {
    let peers = postwire_tests::peers_or_skip!();
    let wrong = [
        unrelated_ca(),
        // The peers' other CA alone: the handshake gets the ECDSA chain.
        CaSet::from_file(peers.get("MAILPEERS_CA_CERT_RSA")).unwrap(),
    ];
    for ca in &wrong {
        let anchors = ca.anchors();
        let trust = Trust::Anchors(&anchors);

        // Implicit TLS.
        let proxy = RoundTripProxy::start(peers.host(), peers.port("MAILPEERS_IMAPS_PORT")).await;
        let tcp = connect_tcp("127.0.0.1", proxy.port, TIMEOUT).await.unwrap();
        let mut tls = TlsBuffers::new();
        let e = start_tls(tcp, peers.tls_name(), &trust, TIMEOUT, &mut tls)
            .await
            .err()
            .expect("the handshake must fail");
        assert!(matches!(e, ConnectError::Tls(_)), "{e}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(proxy.round_trips() <= 1, "{}", proxy.round_trips());
        assert_handshake_only(&proxy.client_bytes());

        // STARTTLS.
        let proxy = RoundTripProxy::start(peers.host(), peers.port("MAILPEERS_IMAP_PORT")).await;
        let mut b = Bufs::new();
        let mut c = plain_at("127.0.0.1", proxy.port, &mut b, config()).await;
        c.starttls().await.unwrap();
        let (plain, _pending) = c.into_starttls().ok().unwrap();
        let e = start_tls(plain, peers.tls_name(), &trust, TIMEOUT, &mut b.tls)
            .await
            .err()
            .expect("the handshake must fail");
        assert!(matches!(e, ConnectError::Tls(_)), "{e}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        let sent = proxy.client_bytes();
        let clear = b"A1 STARTTLS\r\n";
        assert!(
            sent.starts_with(clear),
            "{}",
            String::from_utf8_lossy(&sent)
        );
        assert_handshake_only(&sent[clear.len()..]);
    }
}

// ------------------------------------------------------------------------------------------
// 7. A fatal error, then resuming on a new connection with the checkpoint.

/// A TCP proxy for one connection that can be cut (both sides closed) on demand.
struct CutProxy {
    port: u16,
    cut: Arc<Notify>,
}

impl CutProxy {
    async fn start(host: &str, port: u16) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let local = listener.local_addr().unwrap().port();
        let cut = Arc::new(Notify::new());
        let notified = cut.clone();
        let target = format!("{host}:{port}");
        tokio::spawn(async move {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let Ok(mut server) = TcpStream::connect(&target).await else {
                return;
            };
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                () = notified.notified() => {}
            }
            let _ = client.shutdown().await;
            let _ = server.shutdown().await;
        });
        CutProxy { port: local, cut }
    }

    fn cut(&self) {
        self.cut.notify_one();
    }
}

#[tokio::test]
async fn fatal_error_sticks_and_a_new_connection_resumes_from_the_checkpoint() {
    let peers = postwire_tests::peers_or_skip!();
    let tok = token("resume");
    let name = format!("{tok}-cmds");
    let port = peers.port("MAILPEERS_IMAPS_PORT");
    let mut bw = Bufs::new();
    let mut writer = bob(&peers, &mut bw).await;
    writer.create(&name).await.unwrap();
    let mut first = Vec::new();
    for i in 0..2 {
        first.push(append(&mut writer, &name, &[], &message(&tok, i, "command")).await);
    }

    // The device's connection goes through a proxy that will be cut.
    let proxy = CutProxy::start(peers.host(), port).await;
    let mut b = Bufs::sized(1024, 512);
    let mut c = imaps_at(&peers, "127.0.0.1", proxy.port, &mut b, config()).await;
    c.authenticate(&Credentials::new("bob", "bob-pw"), None)
        .await
        .unwrap();
    c.select(&name).await.unwrap();
    let mut got = Vec::new();
    let r = c
        .new_since(
            Checkpoint {
                uidvalidity: 0,
                last_uid: 0,
            },
            |u| got.push(u),
        )
        .await
        .unwrap();
    assert!(r.uidvalidity_changed);
    assert_eq!(got, first);
    let checkpoint = Checkpoint {
        last_uid: *got.last().unwrap(),
        ..r.checkpoint
    };
    // Nothing new: no UIDs.
    let r = c.new_since(checkpoint, |_| panic!()).await.unwrap();
    assert_eq!((r.count, r.uidvalidity_changed), (0, false));

    // The server side goes away in the middle of IDLE: a fatal error.
    let (end, ()) = tokio::join!(
        c.idle(tokio::time::sleep(TIMEOUT), |_| IdleControl::Continue),
        async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            proxy.cut();
        }
    );
    let e = end.unwrap_err();
    assert!(e.is_fatal(), "{e:?}");
    assert!(
        matches!(e, Error::ConnectionClosed(Stage::Idle) | Error::Io(_)),
        "{e:?}"
    );
    // From now on every call fails the same way, without touching the transport.
    for _ in 0..2 {
        let e = c.noop().await.unwrap_err();
        assert!(matches!(e, Error::Failed(_)) && e.is_fatal(), "{e:?}");
        let e = c.new_since(checkpoint, |_| {}).await.unwrap_err();
        assert!(matches!(e, Error::Failed(_)), "{e:?}");
        let e = c.select("INBOX").await.unwrap_err();
        assert!(matches!(e, Error::Failed(_)), "{e:?}");
        let e = c.logout().await.unwrap_err();
        assert!(matches!(e, Error::Failed(_)), "{e:?}");
    }
    assert_eq!(c.session().state(), State::Logout);
    drop(c);

    // Meanwhile three more commands arrive.
    let mut more = Vec::new();
    for i in 2..5 {
        more.push(append(&mut writer, &name, &[], &message(&tok, i, "command")).await);
    }

    // A new connection continues from the checkpoint: exactly the new messages.
    let mut b = Bufs::sized(1024, 512);
    let mut c = bob(&peers, &mut b).await;
    c.select(&name).await.unwrap();
    let mut got = Vec::new();
    let r = c.new_since(checkpoint, |u| got.push(u)).await.unwrap();
    assert!(!r.uidvalidity_changed);
    assert_eq!(r.checkpoint, checkpoint);
    assert_eq!(got, more);
    // A checkpoint from another UIDVALIDITY: everything counts as new.
    let mut all = Vec::new();
    let stale = Checkpoint {
        uidvalidity: checkpoint.uidvalidity.wrapping_add(1),
        last_uid: u64::MAX / 2,
    };
    let r = c.new_since(stale, |u| all.push(u)).await.unwrap();
    assert!(r.uidvalidity_changed);
    assert_eq!(r.checkpoint.last_uid, 0);
    assert_eq!(all, [first.clone(), more.clone()].concat());
    c.unselect().await.unwrap();
    c.delete(&name).await.unwrap();
    c.logout().await.unwrap();
    writer.logout().await.unwrap();
}
