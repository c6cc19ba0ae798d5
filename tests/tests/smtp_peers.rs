//! SMTP against the real Postfix peer (`../shared/peers`): sends over STARTTLS and implicit TLS
//! with every SASL mechanism and certificate verification, reads each message back over IMAP,
//! checks the typed refusals, and holds the number of round trips at the minimum.
//!
//! These tests fail (never skip) when the peers are not up: run
//! `bash ../shared/peers/mail-servers.sh up` first. The test script does.

use std::time::Duration;

use embedded_io_async::{ErrorType, Read};
use postwire_core::sasl::{Credentials, Mechanism};
use postwire_host_sim::message::{Mailbox, SimpleMessage, now_unix};
use postwire_host_sim::net::{TokioDelay, connect_tcp};
use postwire_host_sim::send::{Security, SendRequest, ServerUrl, send};
use postwire_host_sim::tls::{CaSet, TlsBuffers, start_tls};
use postwire_smtp::client::{
    Buffers, Client, ClientConfig, Envelope, Error, RecipientStatus, Timeouts,
};
use postwire_smtp::proto::Stage;
use postwire_tests::{Peers, RoundTripProxy, fetch_by_subject, token};
use postwire_tls::Trust;

const TIMEOUT: Duration = Duration::from_secs(20);

fn config(allow_plaintext_auth: bool) -> ClientConfig<'static> {
    ClientConfig {
        client_domain: "client.example.test",
        timeouts: Timeouts::uniform(20_000),
        allow_plaintext_auth,
        sasl_initial_response: true,
    }
}

fn compose(subject: &str, text: &str) -> Vec<u8> {
    let msg = SimpleMessage {
        from: Some(Mailbox::parse("Alice Sender <alice@example.test>").unwrap()),
        to: vec![Mailbox::parse("Bob <bob@example.test>").unwrap()],
        subject: Some(subject.to_string()),
        headers: vec![("X-Postwire-Test".into(), "yes".into())],
        text: text.to_string(),
        ..Default::default()
    };
    msg.render(now_unix(), &token("mid")).unwrap()
}

fn request(
    peers: &Peers,
    security: Security,
    mechanism: Option<Mechanism>,
    message: Vec<u8>,
) -> SendRequest {
    let port = match security {
        Security::Implicit => peers.port("MAILPEERS_SUBMISSIONS_PORT"),
        _ => peers.port("MAILPEERS_SUBMISSION_PORT"),
    };
    SendRequest {
        server: ServerUrl {
            security,
            host: peers.host().to_string(),
            port,
        },
        tls_name: Some(peers.tls_name().to_string()),
        ca: Some(CaSet::from_file(peers.ca_bundle()).unwrap()),
        insecure: false,
        sigalgs: postwire_tls::SigAlgs::ALL,
        credentials: Some(("alice".into(), "alice-pw".into())),
        mechanism,
        allow_plaintext: false,
        from: "alice@example.test".into(),
        recipients: vec!["bob@example.test".into()],
        eight_bit: false,
        message,
        timeout: TIMEOUT,
        client_domain: "client.example.test".into(),
    }
}

/// The delivered message is what we sent, after the headers the servers prepend.
fn assert_delivered(delivered: &[u8], sent: &[u8]) {
    assert!(
        delivered.ends_with(sent),
        "delivered message differs from the sent one:\n--- sent\n{}\n--- delivered\n{}",
        String::from_utf8_lossy(sent),
        String::from_utf8_lossy(delivered)
    );
}

#[tokio::test]
async fn sends_over_both_ports_with_every_mechanism_and_reads_back() {
    let peers = postwire_tests::peers_or_skip!();
    for security in [Security::StartTls, Security::Implicit] {
        for mech in [Mechanism::Plain, Mechanism::Login, Mechanism::CramMd5] {
            let tok = token(&format!("{security:?}-{}", mech.name()));
            let text = format!(
                "Hello Bob,\n.\n..two dots\nGrüße aus der Firmware ✓\nbare CR\rhere\n{}\nend\n",
                "x".repeat(1200)
            );
            let message = compose(&format!("alert {tok} Temperatur 31 °C"), &text);
            let req = request(&peers, security, Some(mech), message.clone());
            let ok = send(&req)
                .await
                .unwrap_or_else(|e| panic!("{security:?} {}: {e}", mech.name()));
            assert_eq!(ok.accepted, vec!["bob@example.test".to_string()]);
            assert!(ok.reply.starts_with("250 "), "{}", ok.reply);
            let delivered = fetch_by_subject(&peers, "bob", "bob-pw", &tok);
            assert_delivered(&delivered, &message);
        }
    }
}

/// An implicit-TLS client to the submissions port, verifying the server.
macro_rules! implicit_client {
    ($peers:expr, $tls:ident, $rx:ident, $tx:ident, $port:expr, $allow:expr) => {{
        let ca = CaSet::from_file($peers.ca_bundle()).unwrap();
        let anchors = ca.anchors();
        let trust = Trust::Anchors(&anchors);
        let tcp = connect_tcp("127.0.0.1", $port, TIMEOUT).await.unwrap();
        let tls = start_tls(tcp, $peers.tls_name(), &trust, TIMEOUT, &mut $tls)
            .await
            .unwrap();
        let mut c = Client::new(
            tls,
            TokioDelay,
            Buffers {
                rx: &mut $rx,
                tx: &mut $tx,
            },
            config($allow),
        );
        c.set_implicit_tls();
        c.greet().await.unwrap();
        c
    }};
}

#[tokio::test]
async fn refused_recipient_wrong_password_and_size_are_typed() {
    let peers = postwire_tests::peers_or_skip!();
    let port = peers.port("MAILPEERS_SUBMISSIONS_PORT");
    let (mut tls, mut rx, mut tx) = (TlsBuffers::new(), [0u8; 1024], [0u8; 1024]);
    let mut c = implicit_client!(peers, tls, rx, tx, port, false);
    assert_eq!(c.capabilities().size, Some(10_240_000));
    assert!(c.capabilities().pipelining);
    c.authenticate(&Credentials::new("alice", "alice-pw"), None)
        .await
        .unwrap();

    // The only recipient is refused: nothing is sent.
    let to = ["nobody@example.test"];
    let mut status = [RecipientStatus::NotSent];
    let e = c
        .send(
            &Envelope::new("alice@example.test", &to),
            &b"Subject: x\r\n\r\nx\r\n"[..],
            &mut status,
        )
        .await;
    assert!(matches!(e, Err(Error::NoRecipientsAccepted)), "{e:?}");
    match status[0] {
        RecipientStatus::Refused(r) => {
            assert_eq!(r.stage, Stage::RcptTo);
            assert_eq!(r.code.value(), 550);
            assert_eq!(r.enhanced.map(|e| e.to_string()), Some("5.1.1".to_string()));
            assert!(r.is_permanent());
        }
        other => panic!("{other:?}"),
    }
    assert!(
        String::from_utf8_lossy(c.session().first_refusal_text()).contains("nobody@example.test")
    );

    // The connection is still usable: SIZE is checked before anything is sent.
    let to = ["bob@example.test"];
    let mut status = [RecipientStatus::NotSent];
    let env = Envelope {
        size: Some(20_000_000),
        ..Envelope::new("alice@example.test", &to)
    };
    let e = c.send(&env, &b"x"[..], &mut status).await;
    assert!(
        matches!(
            e,
            Err(Error::MessageTooLarge {
                size: 20_000_000,
                limit: 10_240_000
            })
        ),
        "{e:?}"
    );
    assert_eq!(status[0], RecipientStatus::NotSent);

    // Then a good message on the same connection, and a second one.
    for i in 0..2 {
        let tok = token(&format!("same-conn-{i}"));
        let body = format!("Subject: {tok}\r\nFrom: alice@example.test\r\n\r\nmessage {i}\r\n");
        let report = c
            .send(
                &Envelope::new("alice@example.test", &to),
                body.as_bytes(),
                &mut status,
            )
            .await
            .unwrap();
        assert_eq!((report.accepted, report.refused), (1, 0));
        assert_eq!(report.code.value(), 250);
        assert_eq!(status[0], RecipientStatus::Accepted);
        let delivered = fetch_by_subject(&peers, "bob", "bob-pw", &tok);
        assert!(delivered.ends_with(format!("\r\n\r\nmessage {i}\r\n").as_bytes()));
    }
    c.noop().await.unwrap();
    c.reset().await.unwrap();
    c.quit().await.unwrap();

    // A wrong password: 535 at the AUTH stage, recoverable.
    let (mut tls, mut rx, mut tx) = (TlsBuffers::new(), [0u8; 1024], [0u8; 1024]);
    let mut c = implicit_client!(peers, tls, rx, tx, port, false);
    let e = c
        .authenticate(&Credentials::new("alice", "wrong"), Some(Mechanism::Plain))
        .await;
    match e {
        Err(Error::Rejected(r)) => {
            assert_eq!((r.stage, r.code.value()), (Stage::Auth, 535));
            assert!(!Error::<()>::Rejected(r).is_fatal());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn plaintext_auth_on_submission_is_refused_by_server_and_by_default() {
    let peers = postwire_tests::peers_or_skip!();
    let port = peers.port("MAILPEERS_SUBMISSION_PORT");

    // Allowed by the caller, but the submission port wants STARTTLS first: 530. AUTH was not
    // announced, so PLAIN goes without an initial response and the password never leaves.
    let proxy = RoundTripProxy::start(peers.host(), port).await;
    let tcp = connect_tcp("127.0.0.1", proxy.port, TIMEOUT).await.unwrap();
    let (mut rx, mut tx) = ([0u8; 1024], [0u8; 1024]);
    let mut c = Client::new(
        tcp,
        TokioDelay,
        Buffers {
            rx: &mut rx,
            tx: &mut tx,
        },
        config(true),
    );
    c.greet().await.unwrap();
    assert!(c.capabilities().starttls);
    assert!(c.capabilities().auth.is_empty());
    let e = c
        .authenticate(
            &Credentials::new("alice", "alice-pw"),
            Some(Mechanism::Plain),
        )
        .await;
    match e {
        Err(Error::Rejected(r)) => assert_eq!((r.stage, r.code.value()), (Stage::Auth, 530)),
        other => panic!("{other:?}"),
    }
    assert!(String::from_utf8_lossy(c.last_reply_text()).contains("STARTTLS"));
    c.quit().await.unwrap();
    let sent = String::from_utf8_lossy(&proxy.client_bytes()).to_string();
    assert!(sent.contains("AUTH PLAIN\r\n"), "{sent}");
    assert!(
        !sent.contains("AGFsaWNl"),
        "credentials left in clear text: {sent}"
    );

    // Not allowed (the default): refused before anything is sent, on the MX port that does
    // announce AUTH without TLS.
    let mx = peers.port("MAILPEERS_SMTP_PORT");
    let proxy = RoundTripProxy::start(peers.host(), mx).await;
    let tcp = connect_tcp("127.0.0.1", proxy.port, TIMEOUT).await.unwrap();
    let (mut rx, mut tx) = ([0u8; 1024], [0u8; 1024]);
    let mut c = Client::new(
        tcp,
        TokioDelay,
        Buffers {
            rx: &mut rx,
            tx: &mut tx,
        },
        config(false),
    );
    c.greet().await.unwrap();
    assert!(c.capabilities().auth.has_plain());
    let e = c
        .authenticate(&Credentials::new("alice", "alice-pw"), None)
        .await;
    assert!(matches!(e, Err(Error::PlaintextAuthRefused)), "{e:?}");
    c.quit().await.unwrap();
    let sent = String::from_utf8_lossy(&proxy.client_bytes()).to_string();
    assert!(!sent.contains("AUTH"), "{sent}");
}

#[tokio::test]
async fn unauthenticated_relay_on_the_mx_port() {
    let peers = postwire_tests::peers_or_skip!();
    let mx = peers.port("MAILPEERS_SMTP_PORT");
    let tcp = connect_tcp(peers.host(), mx, TIMEOUT).await.unwrap();
    let (mut rx, mut tx) = ([0u8; 512], [0u8; 512]);
    let mut c = Client::new(
        tcp,
        TokioDelay,
        Buffers {
            rx: &mut rx,
            tx: &mut tx,
        },
        config(false),
    );
    c.greet().await.unwrap();
    let tok = token("mx");
    let to = ["someone@elsewhere.test", "bob@example.test"];
    let mut status = [RecipientStatus::NotSent; 2];
    let body = format!("Subject: {tok}\r\n\r\nvia MX\r\n");
    let report = c
        .send_and_quit(
            &Envelope::new("sensor@device.test", &to),
            body.as_bytes(),
            &mut status,
        )
        .await
        .unwrap();
    assert_eq!((report.accepted, report.refused), (1, 1));
    assert!(
        matches!(status[0], RecipientStatus::Refused(r) if r.code.value() == 554 && r.is_permanent())
    );
    assert_eq!(status[1], RecipientStatus::Accepted);
    assert!(String::from_utf8_lossy(c.message_reply_text()).contains("queued"));
    fetch_by_subject(&peers, "bob", "bob-pw", &tok);
}

#[tokio::test]
async fn wrong_ca_refuses_before_any_credential() {
    let peers = postwire_tests::peers_or_skip!();
    let proxy = RoundTripProxy::start(peers.host(), peers.port("MAILPEERS_SUBMISSIONS_PORT")).await;
    let mut req = request(&peers, Security::Implicit, None, compose("never", "never"));
    req.server.port = proxy.port;
    req.ca = Some(CaSet::from_file(peers.get("MAILPEERS_CA_CERT_RSA")).unwrap());
    let e = send(&req).await.unwrap_err();
    assert_eq!(e.stage, "TLS handshake", "{e}");
    assert!(e.message.contains("not trusted"), "{e}");
    // Only the ClientHello and perhaps an alert went out: two round trips at most, no
    // application data.
    assert!(proxy.round_trips() <= 1, "{}", proxy.round_trips());
}

/// A body far larger than the buffers, generated on the fly.
struct Generated {
    left: usize,
    line: usize,
    pos: usize,
}

impl ErrorType for Generated {
    type Error = core::convert::Infallible;
}

impl Read for Generated {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let mut n = 0;
        while n < buf.len() && self.left > 0 {
            let line = generated_line(self.line);
            let b = line.as_bytes()[self.pos];
            buf[n] = b;
            n += 1;
            self.left -= 1;
            self.pos += 1;
            if self.pos == line.len() {
                self.pos = 0;
                self.line += 1;
            }
        }
        Ok(n)
    }
}

fn generated_line(i: usize) -> String {
    match i % 5 {
        0 => ".\r\n".to_string(),
        1 => format!(".{i} starts with a dot\r\n"),
        _ => format!("line {i} {}\r\n", "abcdefghij".repeat(i % 7)),
    }
}

#[tokio::test]
async fn large_body_streams_through_small_buffers() {
    let peers = postwire_tests::peers_or_skip!();
    let port = peers.port("MAILPEERS_SUBMISSIONS_PORT");
    let (mut tls, mut rx, mut tx) = (TlsBuffers::new(), [0u8; 512], [0u8; 512]);
    let mut c = implicit_client!(peers, tls, rx, tx, port, false);
    c.authenticate(&Credentials::new("alice", "alice-pw"), None)
        .await
        .unwrap();
    let tok = token("large");
    let header = format!(
        "Subject: {tok}\r\nFrom: alice@example.test\r\nDate: Sun, 22 Nov 2026 00:00:00 +0000\r\nMessage-ID: <{tok}@example.test>\r\n\r\n"
    );
    let mut expected = header.clone().into_bytes();
    let body_len = 3 * 1024 * 1024;
    let mut g = Generated {
        left: body_len,
        line: 0,
        pos: 0,
    };
    let mut tmp = vec![0u8; body_len];
    let n = g.read(&mut tmp).await.unwrap();
    assert_eq!(n, body_len);
    // End on a line break so the delivered body equals the source exactly.
    let cut = tmp.iter().rposition(|&b| b == b'\n').unwrap() + 1;
    expected.extend_from_slice(&tmp[..cut]);
    let source = [header.as_bytes(), &tmp[..cut]].concat();
    let to = ["bob@example.test"];
    let mut status = [RecipientStatus::NotSent];
    let env = Envelope {
        size: Some(source.len() as u64),
        ..Envelope::new("alice@example.test", &to)
    };
    c.send_and_quit(&env, &source[..], &mut status)
        .await
        .unwrap();
    let delivered = fetch_by_subject(&peers, "bob", "bob-pw", &tok);
    assert!(delivered.len() >= expected.len());
    assert_delivered(&delivered, &expected);
    // And from a generating reader that never holds the whole body.
    let (mut tls, mut rx, mut tx) = (TlsBuffers::new(), [0u8; 512], [0u8; 512]);
    let mut c = implicit_client!(peers, tls, rx, tx, port, false);
    c.authenticate(&Credentials::new("alice", "alice-pw"), None)
        .await
        .unwrap();
    let tok = token("generated");
    let head = format!("Subject: {tok}\r\n\r\n");
    let reader = Chain {
        first: head.as_bytes(),
        second: Generated {
            left: 1 << 20,
            line: 0,
            pos: 0,
        },
    };
    c.send_and_quit(
        &Envelope::new("alice@example.test", &to),
        reader,
        &mut status,
    )
    .await
    .unwrap();
    let delivered = fetch_by_subject(&peers, "bob", "bob-pw", &tok);
    let body_start = delivered.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut all = vec![0u8; 1 << 20];
    let n = Generated {
        left: 1 << 20,
        line: 0,
        pos: 0,
    }
    .read(&mut all)
    .await
    .unwrap();
    let mut want = all[..n].to_vec();
    if !want.ends_with(b"\r\n") {
        want.extend_from_slice(b"\r\n");
    }
    assert_eq!(delivered.len() - body_start, want.len());
    assert!(
        delivered[body_start..] == want[..],
        "generated body differs"
    );
}

struct Chain<'a, R> {
    first: &'a [u8],
    second: R,
}

impl<R: Read> ErrorType for Chain<'_, R> {
    type Error = R::Error;
}

impl<R: Read> Read for Chain<'_, R> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if !self.first.is_empty() {
            let n = self.first.len().min(buf.len());
            buf[..n].copy_from_slice(&self.first[..n]);
            self.first = &self.first[n..];
            return Ok(n);
        }
        self.second.read(buf).await
    }
}

/// One authenticated send over implicit TLS: TLS 1.3 handshake (1), Finished → greeting (2),
/// EHLO (3), AUTH PLAIN with initial response (4), MAIL+RCPT+DATA (5), body+terminator+QUIT
/// (6). Over STARTTLS: EHLO, STARTTLS, handshake, Finished+EHLO, AUTH, MAIL+RCPT+DATA,
/// body+QUIT = 7.
#[tokio::test]
async fn round_trips_are_minimal() {
    let peers = postwire_tests::peers_or_skip!();
    for (security, port_var, expected) in [
        (Security::Implicit, "MAILPEERS_SUBMISSIONS_PORT", 6),
        (Security::StartTls, "MAILPEERS_SUBMISSION_PORT", 7),
    ] {
        let proxy = RoundTripProxy::start(peers.host(), peers.port(port_var)).await;
        let tok = token("rtt");
        let mut req = request(&peers, security, None, compose(&tok, "round trips"));
        req.server.host = "127.0.0.1".into();
        req.server.port = proxy.port;
        send(&req).await.unwrap();
        // Let the proxy forward the last server bytes.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(proxy.round_trips(), expected, "{security:?}: round trips");
        fetch_by_subject(&peers, "bob", "bob-pw", &tok);
    }
}
