//! MIME against the real servers (`../shared/peers`): a message with a UTF-8 subject and sender
//! name, an HTML alternative and a 1 MiB binary attachment is composed by `postwire-mime` *while*
//! the SMTP client sends it (the composer is the client's body source: no intermediate buffer),
//! goes through Postfix to Dovecot, is read back over IMAP, and its decoded parts are
//! byte-identical, by our reader and by mail-parser. The same through the `postwire send` CLI.
//!
//! These tests fail in CI when the peers are not up (`bash ../shared/peers/mail-servers.sh up`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

#[path = "../../protocols/mime/tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::{Expect, check_both, crlf, parse_ours};
use embedded_io_async::{ErrorType, Read};
use postwire_core::sasl::Credentials;
use postwire_host_sim::net::{TokioDelay, connect_tcp};
use postwire_host_sim::tls::{CaSet, TlsBuffers, start_tls};
use postwire_mime::{
    Attachment, Body, Composer, Date, Headers, Mailbox, Message, MessageId, Source,
};
use postwire_smtp::client::{Buffers, Client, ClientConfig, Envelope, RecipientStatus, Timeouts};
use postwire_tests::{fetch_by_subject, token};
use postwire_tls::Trust;

const TIMEOUT: Duration = Duration::from_secs(30);
const MIB: usize = 1 << 20;

/// Deterministic pseudo-random bytes, generated while they are read (never held whole).
struct Generator {
    left: usize,
    x: u64,
}

impl Generator {
    fn new(len: usize, seed: u64) -> Self {
        Generator {
            left: len,
            x: seed | 1,
        }
    }
    fn next_byte(&mut self) -> u8 {
        self.x ^= self.x << 13;
        self.x ^= self.x >> 7;
        self.x ^= self.x << 17;
        (self.x >> 24) as u8
    }
    fn all(len: usize, seed: u64) -> Vec<u8> {
        let mut g = Generator::new(len, seed);
        (0..len).map(|_| g.next_byte()).collect()
    }
}

impl ErrorType for Generator {
    type Error = core::convert::Infallible;
}

impl Read for Generator {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let n = buf.len().min(self.left).min(1000);
        for b in &mut buf[..n] {
            *b = self.next_byte();
        }
        self.left -= n;
        Ok(n)
    }
}

/// Either a generated attachment or text in memory: one reader type for the message.
enum Src<'a> {
    Gen(Generator),
    Mem(&'a [u8]),
}

impl ErrorType for Src<'_> {
    type Error = core::convert::Infallible;
}

impl Read for Src<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        match self {
            Src::Gen(g) => g.read(buf).await,
            Src::Mem(m) => Read::read(m, buf).await,
        }
    }
}

#[tokio::test]
async fn composed_while_sending_through_postfix_and_dovecot() {
    let peers = postwire_tests::peers_or_skip!();
    let tok = token("mime");
    let subject = format!("Grüße {tok} — Température 31 °C ✓ 日本語");
    let text =
        "Hallo Bob,\n\nanbei die Messdaten (1 MiB).\n.\nFrom the sensor: 31 °C ✓\n".to_string();
    let html =
        "<html><body><p>Hallo Bob,</p><p>anbei die <b>Messdaten</b> — 31 °C ✓</p></body></html>\n";
    let to = [Mailbox::named("Bob Ünal", "bob@example.test")];
    let headers = Headers {
        to: &to,
        subject: Some(&subject),
        date: Some(Date {
            unix: postwire_host_sim::message::now_unix() as i64,
            offset_minutes: 60,
        }),
        message_id: Some(MessageId {
            token: &tok,
            domain: "example.test",
        }),
        extra: &[("X-Postwire-Test", "mime")],
        ..Headers::new(Mailbox::named("Zoë Sensor-Müller", "alice@example.test"))
    };
    let mut msg: Message<'_, Src<'_>, 1> = Message::new(headers)
        .text(Body::Text(Source::Reader(Src::Mem(text.as_bytes()))))
        .html(Body::text(html));
    msg.attach(Attachment::binary(
        "application/octet-stream",
        "Messdaten März ☕.bin",
        Source::Reader(Src::Gen(Generator::new(MIB, 42))),
    ))
    .unwrap();
    let mut composer = Composer::new(msg, &tok).unwrap();

    // Implicit TLS to the submissions port, verifying the server; small client buffers.
    let ca = CaSet::from_file(peers.ca_bundle()).unwrap();
    let anchors = ca.anchors();
    let trust = Trust::Anchors(&anchors);
    let mut tls_bufs = TlsBuffers::new();
    let tcp = connect_tcp(
        peers.host(),
        peers.port("MAILPEERS_SUBMISSIONS_PORT"),
        TIMEOUT,
    )
    .await
    .unwrap();
    let tls = start_tls(tcp, peers.tls_name(), &trust, TIMEOUT, &mut tls_bufs)
        .await
        .unwrap();
    let (mut rx, mut tx) = ([0u8; 1024], [0u8; 1024]);
    let mut client = Client::new(
        tls,
        TokioDelay,
        Buffers {
            rx: &mut rx,
            tx: &mut tx,
        },
        ClientConfig {
            client_domain: "client.example.test",
            timeouts: Timeouts::uniform(30_000),
            allow_plaintext_auth: false,
            sasl_initial_response: true,
        },
    );
    client.set_implicit_tls();
    client.greet().await.unwrap();
    client
        .authenticate(&Credentials::new("alice", "alice-pw"), None)
        .await
        .unwrap();
    let rcpt = ["bob@example.test"];
    let mut status = [RecipientStatus::NotSent];
    let envelope = Envelope {
        eight_bit: composer.needs_8bit(),
        ..Envelope::new("alice@example.test", &rcpt)
    };
    let report = client
        .send_and_quit(&envelope, &mut composer, &mut status)
        .await
        .unwrap();
    assert_eq!(report.accepted, 1);

    let delivered = fetch_by_subject(&peers, "bob", "bob-pw", &tok);
    assert!(delivered.len() > MIB, "delivered {} bytes", delivered.len());
    let attachment = Generator::all(MIB, 42);
    let e = Expect {
        subject: Some(subject.clone()),
        from: (
            Some("Zoë Sensor-Müller".into()),
            "alice@example.test".into(),
        ),
        to: vec![(Some("Bob Ünal".into()), "bob@example.test".into())],
        text: Some(crlf(text.as_bytes())),
        html: Some(crlf(html.as_bytes())),
        attachments: vec![(Some("Messdaten März ☕.bin".into()), attachment.clone())],
    };
    check_both(&delivered, &e);
    let p = parse_ours(&delivered, 4096, 1024);
    assert_eq!(p.header("X-Postwire-Test"), Some("mime"));
    assert_eq!(p.attachments()[0].body.len(), MIB);
}

/// The `postwire send` path (`--html`, `--attach`): host-sim's message composition over the
/// same composer, sent with `send()`.
#[tokio::test]
async fn cli_message_with_html_and_attachments() {
    use postwire_host_sim::message::{
        AttachmentFile, Mailbox as CliMailbox, SimpleMessage, now_unix,
    };
    use postwire_host_sim::send::{Security, SendRequest, ServerUrl, send};
    let peers = postwire_tests::peers_or_skip!();
    let tok = token("mimecli");
    let data = Generator::all(200_000, 5);
    let subject = format!("CLI {tok} — Grüße ✓");
    let msg = SimpleMessage {
        from: Some(CliMailbox::parse("Zoë CLI <alice@example.test>").unwrap()),
        to: vec![CliMailbox::parse("bob@example.test").unwrap()],
        reply_to: vec![CliMailbox::parse("Antwort Ärger <alice@example.test>").unwrap()],
        subject: Some(subject.clone()),
        text: "Grüße aus der CLI\n".into(),
        html: Some("<p>Grüße aus der <b>CLI</b></p>\n".into()),
        attachments: vec![
            AttachmentFile {
                name: "données.bin".into(),
                content_type: "application/octet-stream".into(),
                data: data.clone(),
            },
            AttachmentFile {
                name: "notes.txt".into(),
                content_type: "text/plain".into(),
                data: b"line 1\nline 2\n".to_vec(),
            },
        ],
        ..Default::default()
    };
    let message = msg.render(now_unix(), &tok.replace('-', "_")).unwrap();
    let req = SendRequest {
        server: ServerUrl {
            security: Security::Implicit,
            host: peers.host().to_string(),
            port: peers.port("MAILPEERS_SUBMISSIONS_PORT"),
        },
        tls_name: Some(peers.tls_name().to_string()),
        ca: Some(CaSet::from_file(peers.ca_bundle()).unwrap()),
        insecure: false,
        sigalgs: postwire_tls::SigAlgs::ALL,
        credentials: Some(("alice".into(), "alice-pw".into())),
        mechanism: None,
        allow_plaintext: false,
        from: "alice@example.test".into(),
        recipients: vec!["bob@example.test".into()],
        eight_bit: !message.is_ascii(),
        message: message.clone(),
        timeout: TIMEOUT,
        client_domain: "client.example.test".into(),
    };
    send(&req).await.unwrap();
    let delivered = fetch_by_subject(&peers, "bob", "bob-pw", &tok);
    assert!(delivered.ends_with(&message));
    let e = Expect {
        subject: Some(subject),
        from: (Some("Zoë CLI".into()), "alice@example.test".into()),
        to: vec![(None, "bob@example.test".into())],
        text: Some(b"Gr\xc3\xbc\xc3\x9fe aus der CLI\r\n".to_vec()),
        html: Some("<p>Grüße aus der <b>CLI</b></p>\r\n".as_bytes().to_vec()),
        attachments: vec![
            (Some("données.bin".into()), data),
            (Some("notes.txt".into()), b"line 1\r\nline 2\r\n".to_vec()),
        ],
    };
    check_both(&delivered, &e);
    let p = parse_ours(&delivered, 4096, 1024);
    assert_eq!(
        p.header("Reply-To"),
        Some("Antwort Ärger <alice@example.test>")
    );
}
