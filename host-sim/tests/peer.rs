//! The in-process test peer (`postwire_host_sim::peer`) driven by the real postwire clients
//! over TLS verified against the peer's CA: SMTP → IMAP → POP3, STARTTLS, IDLE pushes, wrong
//! passwords, fault injection, and raw-protocol robustness.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use postwire_core::sasl::{Credentials, Mechanism};
use postwire_host_sim::net::{TcpTransport, TokioDelay, connect_tcp};
use postwire_host_sim::peer::{
    CutPoint, Direction, Peer, PeerConfig, PeerHandle, Protocol, Tls, TranscriptLine,
};
use postwire_host_sim::tls::{HostTlsStream, TlsBuffers, start_tls};
use postwire_imap::client as imap;
use postwire_imap::wire::{FetchAttr, FetchItem, SearchKey, SeqRange, StoreMode};
use postwire_pop3::client as pop3;
use postwire_smtp::client as smtp;
use postwire_tls::Trust;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const T: Duration = Duration::from_secs(10);
const MS: u32 = 10_000;

fn user(peer: &PeerHandle, name: &str) -> (String, String) {
    let u = peer.user(name).unwrap();
    (u.name.clone(), u.password.clone())
}

async fn tcp(peer: &PeerHandle, p: Protocol, tls: Tls) -> TcpTransport {
    connect_tcp(peer.host(), peer.port(p, tls), T)
        .await
        .unwrap()
}

async fn handshake<'b>(
    peer: &PeerHandle,
    tcp: TcpTransport,
    bufs: &'b mut TlsBuffers,
) -> HostTlsStream<'b> {
    let anchors = [peer.ca_der()];
    let trust = Trust::Anchors(&anchors);
    start_tls(tcp, peer.tls_name(), &trust, T, bufs)
        .await
        .unwrap_or_else(|e| panic!("TLS handshake with the peer: {e}"))
}

// ------------------------------------------------------------------------------ SMTP

struct Mail<'a> {
    from: &'a str,
    to: &'a [&'a str],
    body: &'a [u8],
}

/// Sends one message; returns the recipients' status or the error text.
async fn smtp_send(
    peer: &PeerHandle,
    tls: Tls,
    creds: (&str, &str),
    mechanism: Option<Mechanism>,
    mail: &Mail<'_>,
) -> Result<Vec<smtp::RecipientStatus>, String> {
    let (mut rx, mut tx) = (vec![0u8; 2048], vec![0u8; 8192]);
    let mut tls_bufs = TlsBuffers::new();
    let config = smtp::ClientConfig {
        client_domain: "device.test",
        timeouts: smtp::Timeouts::uniform(MS),
        allow_plaintext_auth: false,
        sasl_initial_response: true,
    };
    let bufs = smtp::Buffers {
        rx: &mut rx,
        tx: &mut tx,
    };
    let plain = tcp(peer, Protocol::Smtp, tls).await;
    let mut client = match tls {
        Tls::Implicit => {
            let stream = handshake(peer, plain, &mut tls_bufs).await;
            let mut c = smtp::Client::new(stream, TokioDelay, bufs, config);
            c.set_implicit_tls();
            c.greet().await.map_err(|e| e.to_string())?;
            c
        }
        Tls::StartTls => {
            let mut c = smtp::Client::new(plain, TokioDelay, bufs, config);
            c.greet().await.map_err(|e| e.to_string())?;
            c.starttls().await.map_err(|e| e.to_string())?;
            let Ok((plain, pending)) = c.into_starttls() else {
                return Err("STARTTLS refused".into());
            };
            let stream = handshake(peer, plain, &mut tls_bufs).await;
            let mut c = pending.resume(stream);
            c.ehlo().await.map_err(|e| e.to_string())?;
            c
        }
    };
    client
        .authenticate(&Credentials::new(creds.0, creds.1), mechanism)
        .await
        .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(client.last_reply_text())))?;
    let mut status = vec![smtp::RecipientStatus::NotSent; mail.to.len()];
    let envelope = smtp::Envelope {
        from: mail.from,
        to: mail.to,
        size: Some(mail.body.len() as u64),
        eight_bit: !mail.body.is_ascii(),
    };
    client
        .send_and_quit(&envelope, mail.body, &mut status)
        .await
        .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(client.last_reply_text())))?;
    Ok(status)
}

// ------------------------------------------------------------------------------ IMAP

struct ImapBufs {
    rx: Vec<u8>,
    tx: Vec<u8>,
    tls: TlsBuffers,
}

impl ImapBufs {
    fn new() -> Self {
        Self {
            rx: vec![0; 16 * 1024],
            tx: vec![0; 8 * 1024],
            tls: TlsBuffers::new(),
        }
    }
}

type ImapClient<'b> = imap::Client<'b, HostTlsStream<'b>, TokioDelay>;

/// Connects, greets (STARTTLS when asked) and logs in (`login`: the LOGIN command, else
/// AUTHENTICATE PLAIN).
async fn imap_connect<'b>(
    peer: &PeerHandle,
    tls: Tls,
    creds: (&str, &str),
    login: bool,
    b: &'b mut ImapBufs,
) -> Result<ImapClient<'b>, String> {
    let ImapBufs { rx, tx, tls: tb } = b;
    let config = imap::ClientConfig {
        timeouts: imap::Timeouts {
            greeting_ms: MS,
            command_ms: MS,
            write_ms: MS,
        },
        inline_literal_max: 4096,
        ..imap::ClientConfig::default()
    };
    let bufs = imap::Buffers { rx, tx };
    let plain = tcp(peer, Protocol::Imap, tls).await;
    let mut c = match tls {
        Tls::Implicit => {
            let stream = handshake(peer, plain, tb).await;
            let mut c = imap::Client::new(stream, TokioDelay, bufs, config);
            c.set_implicit_tls();
            c.greet().await.map_err(|e| e.to_string())?;
            c
        }
        Tls::StartTls => {
            let mut c = imap::Client::new(plain, TokioDelay, bufs, config);
            c.greet().await.map_err(|e| e.to_string())?;
            c.starttls().await.map_err(|e| e.to_string())?;
            let Ok((plain, pending)) = c.into_starttls() else {
                return Err("STARTTLS refused".into());
            };
            let stream = handshake(peer, plain, tb).await;
            pending.resume(stream)
        }
    };
    let r = if login {
        c.login(creds.0, creds.1).await
    } else {
        c.capability().await.map_err(|e| e.to_string())?;
        c.authenticate(&Credentials::new(creds.0, creds.1), Some(Mechanism::Plain))
            .await
            .map(|_| ())
    };
    r.map_err(|e| format!("{e}: {}", String::from_utf8_lossy(c.last_response_text())))?;
    Ok(c)
}

// ------------------------------------------------------------------------------ POP3

struct Pop3Bufs {
    rx: Vec<u8>,
    tx: Vec<u8>,
    tls: TlsBuffers,
}

type Pop3Client<'b> = pop3::Client<'b, HostTlsStream<'b>, TokioDelay>;

async fn pop3_connect<'b>(
    peer: &PeerHandle,
    tls: Tls,
    creds: (&str, &str),
    method: Option<pop3::AuthMethod>,
    b: &'b mut Pop3Bufs,
) -> Result<Pop3Client<'b>, String> {
    let Pop3Bufs { rx, tx, tls: tb } = b;
    let config = pop3::ClientConfig {
        timeouts: pop3::Timeouts {
            greeting_ms: MS,
            command_ms: MS,
            write_ms: MS,
        },
        ..pop3::ClientConfig::default()
    };
    let bufs = pop3::Buffers { rx, tx };
    let plain = tcp(peer, Protocol::Pop3, tls).await;
    let mut c = match tls {
        Tls::Implicit => {
            let stream = handshake(peer, plain, tb).await;
            let mut c = pop3::Client::new(stream, TokioDelay, bufs, config);
            c.set_implicit_tls();
            c.greet().await.map_err(|e| e.to_string())?;
            c
        }
        Tls::StartTls => {
            let mut c = pop3::Client::new(plain, TokioDelay, bufs, config);
            c.greet().await.map_err(|e| e.to_string())?;
            c.stls().await.map_err(|e| e.to_string())?;
            let Ok((plain, pending)) = c.into_stls() else {
                return Err("STLS refused".into());
            };
            let stream = handshake(peer, plain, tb).await;
            pending.resume(stream)
        }
    };
    c.login(&Credentials::new(creds.0, creds.1), method)
        .await
        .map_err(|e| format!("{e}: {}", String::from_utf8_lossy(c.last_response_text())))?;
    Ok(c)
}

fn pop3_bufs() -> Pop3Bufs {
    Pop3Bufs {
        rx: vec![0; 4096],
        tx: vec![0; 1024],
        tls: TlsBuffers::new(),
    }
}

// ------------------------------------------------------------------------------ helpers

type Transcript = Arc<Mutex<Vec<TranscriptLine>>>;

async fn start() -> (PeerHandle, Transcript) {
    let lines: Transcript = Arc::default();
    let sink = lines.clone();
    let config = PeerConfig::default()
        .with_mailbox("Done")
        .with_transcript(move |l| sink.lock().unwrap().push(l.clone()));
    (Peer::start(config).await.unwrap(), lines)
}

fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Device <device@postwire.test>\r\nTo: operator@postwire.test\r\nSubject: {subject}\r\nMessage-ID: <{subject}@device.test>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    )
    .into_bytes()
}

fn assert_no_secrets(peer: &PeerHandle, t: &Transcript) {
    let lines = t.lock().unwrap();
    assert!(!lines.is_empty());
    for l in lines.iter() {
        for u in peer.users() {
            assert!(
                !l.text.contains(&u.password),
                "password in the transcript: {l}"
            );
        }
        // base64 of "\0device\0device-secret" (AUTH PLAIN).
        assert!(!l.text.contains("AGRldmljZQBkZXZpY2Ut"), "{l}");
    }
}

async fn with_timeout<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("test timed out")
}

// ------------------------------------------------------------------------------ tests

#[tokio::test]
async fn smtp_to_imap_to_pop3_over_implicit_tls() {
    with_timeout(async {
        let (peer, transcript) = start().await;
        let (dev, dev_pw) = user(&peer, "device");
        let (op, op_pw) = user(&peer, "operator");
        let op_addr = peer.address(&op);
        let body = message("alert", "Temperature high.\r\n.leading dot line\r\n");
        let status = smtp_send(
            &peer,
            Tls::Implicit,
            (&dev, &dev_pw),
            None,
            &Mail {
                from: "device@postwire.test",
                to: &[&op_addr],
                body: &body,
            },
        )
        .await
        .unwrap();
        assert_eq!(status, vec![smtp::RecipientStatus::Accepted]);
        let stored = peer.messages(&op, "INBOX").unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].raw, body, "dot-unstuffed, byte for byte");

        // IMAP: list, select, search, fetch, store, move.
        let mut b = ImapBufs::new();
        let mut c = imap_connect(&peer, Tls::Implicit, (&op, &op_pw), false, &mut b)
            .await
            .unwrap();
        let mut names = Vec::new();
        c.list("", "*", |e| names.push(e.name.unwrap_or("?").to_string()))
            .await
            .unwrap();
        assert_eq!(names, vec!["Done", "INBOX"]);
        let mb = c.select("INBOX").await.unwrap();
        assert_eq!(mb.exists, 1);
        assert_eq!(mb.uidnext, Some(2));
        assert!(mb.uidvalidity.is_some());

        let mut hits = Vec::new();
        c.search(
            true,
            &[SearchKey::Unseen, SearchKey::Subject("ALERT")],
            |u| hits.push(u),
        )
        .await
        .unwrap();
        assert_eq!(hits, vec![1]);
        let mut none = Vec::new();
        c.search(false, &[SearchKey::From("nobody@else")], |u| none.push(u))
            .await
            .unwrap();
        assert!(none.is_empty());

        let mut sizes = Vec::new();
        let mut subjects = Vec::new();
        let n = c
            .fetch(
                true,
                &[SeqRange::from(1)],
                &[
                    FetchAttr::Flags,
                    FetchAttr::Rfc822Size,
                    FetchAttr::Envelope,
                    FetchAttr::BodyStructure,
                    FetchAttr::InternalDate,
                    FetchAttr::BodySection {
                        section: "HEADER.FIELDS (SUBJECT)",
                        peek: true,
                        partial: None,
                    },
                ],
                |ev| {
                    if let imap::FetchEvent::Message { items, .. } = ev {
                        assert_eq!(items.uid(), Some(1));
                        if let Some(FetchItem::Rfc822Size(s)) = items.get(b"RFC822.SIZE") {
                            sizes.push(s);
                        }
                        if let Some(FetchItem::Envelope(e)) = items.get(b"ENVELOPE") {
                            subjects.push(format!("{e:?}"));
                        }
                        assert!(matches!(
                            items.get(b"BODYSTRUCTURE"),
                            Some(FetchItem::BodyStructure(_))
                        ));
                    }
                    Ok(())
                },
            )
            .await
            .unwrap();
        assert_eq!(n, 1);
        assert_eq!(sizes, vec![body.len() as u64]);
        assert!(subjects[0].contains("alert"), "{}", subjects[0]);

        let mut got = Vec::new();
        let len = c
            .fetch_body_with(1, "", |d| {
                got.extend_from_slice(d);
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(len, body.len() as u64);
        assert_eq!(got, body);
        let mut text = Vec::new();
        c.fetch_body_with(1, "TEXT", |d| {
            text.extend_from_slice(d);
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(text, b"Temperature high.\r\n.leading dot line\r\n");

        c.store(
            true,
            &[SeqRange::one(1)],
            StoreMode::Add,
            &["\\Seen", "\\Answered", "$Handled"],
            true,
            |_| {},
        )
        .await
        .unwrap();
        let flags = &peer.messages(&op, "INBOX").unwrap()[0].flags;
        assert_eq!(flags, &["\\Seen", "\\Answered", "$Handled"]);
        let mut unseen = Vec::new();
        c.search(true, &[SearchKey::Unseen], |u| unseen.push(u))
            .await
            .unwrap();
        assert!(unseen.is_empty());

        let moved = c.move_to(true, &[SeqRange::one(1)], "Done").await.unwrap();
        let moved = moved.expect("COPYUID");
        assert_eq!((moved.first_uid, moved.count), (1, 1));
        assert_eq!(c.mailbox().exists, 0);
        assert!(peer.messages(&op, "INBOX").unwrap().is_empty());
        let done = peer.messages(&op, "Done").unwrap();
        assert_eq!(done[0].raw, body);
        assert!(done[0].has_flag("$handled"));

        // APPEND (LITERAL+ is offered, so the client sends {N+}).
        let reply = message("reply", "ok\r\n");
        let appended = c
            .append(
                "Done",
                &["\\Seen"],
                None,
                reply.len() as u64,
                &mut &reply[..],
            )
            .await
            .unwrap()
            .expect("APPENDUID");
        assert_eq!(appended.first_uid, 2);
        c.logout().await.unwrap();
        drop(c);

        // POP3: the operator's INBOX is empty now; deliver one for the device.
        let uid = peer.deliver(&dev, &message("cmd", "..x\r\nend")).unwrap();
        assert_eq!(uid, 1);
        let mut pb = pop3_bufs();
        let mut p = pop3_connect(&peer, Tls::Implicit, (&dev, &dev_pw), None, &mut pb)
            .await
            .unwrap();
        let stat = p.stat().await.unwrap();
        assert_eq!(stat.count, 1);
        let mut uids = Vec::new();
        p.uidl(|n, u| uids.push((n, u.as_str().to_string())))
            .await
            .unwrap();
        assert_eq!(uids.len(), 1);
        let mut got = Vec::new();
        p.retr_with(1, |d| {
            got.extend_from_slice(d);
            Ok(())
        })
        .await
        .unwrap();
        // Line ends made CRLF, a final CRLF added; the dot-stuffed line comes back intact.
        assert_eq!(got, [&message("cmd", "..x\r\nend")[..], b"\r\n"].concat());
        let mut top = Vec::new();
        p.top_with(1, 0, |d| {
            top.extend_from_slice(d);
            Ok(())
        })
        .await
        .unwrap();
        assert!(top.ends_with(b"charset=utf-8\r\n\r\n"));
        p.dele(1).await.unwrap();
        // Not gone before QUIT.
        assert_eq!(peer.messages(&dev, "INBOX").unwrap().len(), 1);
        let q = p.quit().await.unwrap();
        assert!(q.committed);
        assert_eq!(q.deleted, 1);
        assert!(peer.messages(&dev, "INBOX").unwrap().is_empty());

        assert_no_secrets(&peer, &transcript);
        let t = transcript.lock().unwrap();
        assert!(t.iter().any(|l| l.direction == Direction::Client
            && l.protocol == Protocol::Imap
            && l.text.contains("AUTHENTICATE PLAIN ***")));
        assert!(
            t.iter()
                .any(|l| l.direction == Direction::Event && l.text.starts_with("TLS established"))
        );
    })
    .await;
}

#[tokio::test]
async fn starttls_paths_and_login_variants() {
    with_timeout(async {
        let (peer, transcript) = start().await;
        let (dev, dev_pw) = user(&peer, "device");
        let (op, op_pw) = user(&peer, "operator");
        let op_addr = peer.address(&op);
        let body = message("via-starttls", "hello\r\n");
        // AUTH LOGIN over STARTTLS.
        smtp_send(
            &peer,
            Tls::StartTls,
            (&dev, &dev_pw),
            Some(Mechanism::Login),
            &Mail {
                from: "device@postwire.test",
                to: &[&op_addr, "Operator@POSTWIRE.test"],
                body: &body,
            },
        )
        .await
        .unwrap();
        // Named twice, delivered once.
        assert_eq!(peer.messages(&op, "INBOX").unwrap().len(), 1);

        let mut b = ImapBufs::new();
        let mut c = imap_connect(&peer, Tls::StartTls, (&op, &op_pw), true, &mut b)
            .await
            .unwrap();
        let mb = c.examine("INBOX").await.unwrap();
        assert_eq!(mb.exists, 1);
        assert!(mb.read_only);
        let r = c
            .store(
                false,
                &[SeqRange::one(1)],
                StoreMode::Add,
                &["\\Seen"],
                false,
                |_| {},
            )
            .await;
        assert!(r.is_err(), "STORE in a read-only mailbox");
        c.unselect().await.unwrap();
        c.create("Archive/2026").await.unwrap();
        assert!(c.create("Archive/2026").await.is_err());
        c.logout().await.unwrap();
        drop(c);

        let mut pb = pop3_bufs();
        let mut p = pop3_connect(
            &peer,
            Tls::StartTls,
            (&op, &op_pw),
            Some(pop3::AuthMethod::UserPass),
            &mut pb,
        )
        .await
        .unwrap();
        assert_eq!(p.stat().await.unwrap().count, 1);
        let q = p.quit().await.unwrap();
        assert_eq!(q.deleted, 0);
        assert_no_secrets(&peer, &transcript);
        assert!(
            transcript
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.text == "PASS ***")
        );
    })
    .await;
}

#[tokio::test]
async fn wrong_password_and_unknown_recipient_are_refused() {
    with_timeout(async {
        let (peer, transcript) = start().await;
        let (dev, dev_pw) = user(&peer, "device");
        let mail = Mail {
            from: "device@postwire.test",
            to: &["device@postwire.test"],
            body: b"Subject: x\r\n\r\ny\r\n",
        };
        let e = smtp_send(&peer, Tls::Implicit, (&dev, "wrong"), None, &mail)
            .await
            .unwrap_err();
        assert!(e.contains("535"), "{e}");
        let e = imap_connect(
            &peer,
            Tls::Implicit,
            (&dev, "wrong"),
            true,
            &mut ImapBufs::new(),
        )
        .await
        .err()
        .unwrap();
        assert!(e.contains("Authentication failed"), "{e}");
        let e = imap_connect(
            &peer,
            Tls::Implicit,
            (&dev, "wrong"),
            false,
            &mut ImapBufs::new(),
        )
        .await
        .err()
        .unwrap();
        assert!(e.contains("Authentication failed"), "{e}");
        let e = pop3_connect(
            &peer,
            Tls::Implicit,
            (&dev, "wrong"),
            None,
            &mut pop3_bufs(),
        )
        .await
        .err()
        .unwrap();
        assert!(e.contains("AUTH"), "{e}");
        // Recipient outside the configured users: 550, nothing delivered.
        let status = smtp_send(
            &peer,
            Tls::Implicit,
            (&dev, &dev_pw),
            None,
            &Mail {
                from: "device@postwire.test",
                to: &["stranger@example.com", "device@postwire.test"],
                body: b"Subject: x\r\n\r\ny\r\n",
            },
        )
        .await
        .unwrap();
        match &status[0] {
            smtp::RecipientStatus::Refused(r) => assert_eq!(r.code.value(), 550),
            other => panic!("{other:?}"),
        }
        assert_eq!(status[1], smtp::RecipientStatus::Accepted);
        assert_eq!(peer.messages(&dev, "INBOX").unwrap().len(), 1);
        assert_no_secrets(&peer, &transcript);
    })
    .await;
}

#[tokio::test]
async fn idle_pushes_deliveries_flags_and_expunges() {
    with_timeout(async {
        let (peer, _) = start().await;
        let (op, op_pw) = user(&peer, "operator");
        let (dev, dev_pw) = user(&peer, "device");
        let mut b = ImapBufs::new();
        let mut c = imap_connect(&peer, Tls::Implicit, (&op, &op_pw), false, &mut b)
            .await
            .unwrap();
        assert_eq!(c.select("INBOX").await.unwrap().exists, 0);

        // A delivery by SMTP while the client is in IDLE.
        let op_addr = peer.address(&op);
        let body = message("pushed", "x\r\n");
        let mut events = Vec::new();
        let deliver = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            smtp_send(
                &peer,
                Tls::Implicit,
                (&dev, &dev_pw),
                None,
                &Mail {
                    from: "device@postwire.test",
                    to: &[&op_addr],
                    body: &body,
                },
            )
            .await
            .unwrap();
            // Keep the IDLE's stop future pending.
            std::future::pending::<()>().await;
        };
        let end = c
            .idle(deliver, |ev| {
                events.push(ev);
                if matches!(ev, imap::IdleEvent::Exists(_)) {
                    imap::IdleControl::Stop
                } else {
                    imap::IdleControl::Continue
                }
            })
            .await
            .unwrap();
        assert_eq!(end, imap::IdleEnd::Stopped);
        assert!(events.contains(&imap::IdleEvent::Exists(1)), "{events:?}");
        assert_eq!(c.mailbox().exists, 1);

        // Another IMAP connection flags and expunges it.
        let other = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut b2 = ImapBufs::new();
            let mut c2 = imap_connect(&peer, Tls::Implicit, (&op, &op_pw), true, &mut b2)
                .await
                .unwrap();
            c2.select("INBOX").await.unwrap();
            c2.store(
                true,
                &[SeqRange::one(1)],
                StoreMode::Add,
                &["\\Deleted"],
                true,
                |_| {},
            )
            .await
            .unwrap();
            c2.expunge(|_| {}).await.unwrap();
            c2.logout().await.unwrap();
            std::future::pending::<()>().await;
        };
        let mut events = Vec::new();
        c.idle(other, |ev| {
            events.push(ev);
            if matches!(ev, imap::IdleEvent::Expunge(_)) {
                imap::IdleControl::Stop
            } else {
                imap::IdleControl::Continue
            }
        })
        .await
        .unwrap();
        assert!(events.contains(&imap::IdleEvent::Expunge(1)), "{events:?}");
        assert!(
            events
                .iter()
                .any(|e| matches!(e, imap::IdleEvent::Flags { seq: 1, .. })),
            "{events:?}"
        );
        assert_eq!(c.mailbox().exists, 0);

        // POP3 deletions reach an IDLE session too.
        peer.deliver(&op, b"Subject: a\r\n\r\nb\r\n").unwrap();
        c.noop().await.unwrap();
        assert_eq!(c.mailbox().exists, 1);
        let pop = async {
            let mut pb = pop3_bufs();
            let mut p = pop3_connect(&peer, Tls::Implicit, (&op, &op_pw), None, &mut pb)
                .await
                .unwrap();
            p.dele(1).await.unwrap();
            p.quit().await.unwrap();
            std::future::pending::<()>().await;
        };
        let mut expunged = false;
        c.idle(pop, |ev| {
            expunged |= ev == imap::IdleEvent::Expunge(1);
            if expunged {
                imap::IdleControl::Stop
            } else {
                imap::IdleControl::Continue
            }
        })
        .await
        .unwrap();
        assert!(expunged);
        c.logout().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn faults_cut_connections_where_asked() {
    with_timeout(async {
        let (peer, transcript) = start().await;
        let (op, op_pw) = user(&peer, "operator");
        let (dev, dev_pw) = user(&peer, "device");
        peer.deliver(&op, &message("one", "1\r\n")).unwrap();
        peer.deliver(&op, &message("two", "2\r\n")).unwrap();

        // UID STORE takes effect, the tagged reply never comes.
        let fault = peer.cut(Protocol::Imap, CutPoint::BeforeReply, |l| {
            l.contains(" UID STORE ")
        });
        let mut b = ImapBufs::new();
        let mut c = imap_connect(&peer, Tls::Implicit, (&op, &op_pw), false, &mut b)
            .await
            .unwrap();
        c.select("INBOX").await.unwrap();
        let r = c
            .store(
                true,
                &[SeqRange::one(1)],
                StoreMode::Add,
                &["$Done"],
                true,
                |_| {},
            )
            .await;
        assert!(r.is_err(), "{r:?}");
        assert!(fault.fired());
        assert!(peer.messages(&op, "INBOX").unwrap()[0].has_flag("$Done"));
        drop(c);

        // UID MOVE: the reply arrives, then the connection is gone.
        let fault = peer.cut(Protocol::Imap, CutPoint::AfterReply, |l| {
            l.contains(" UID MOVE ")
        });
        let mut b = ImapBufs::new();
        let mut c = imap_connect(&peer, Tls::Implicit, (&op, &op_pw), false, &mut b)
            .await
            .unwrap();
        c.select("INBOX").await.unwrap();
        c.move_to(true, &[SeqRange::one(1)], "Done").await.unwrap();
        assert!(fault.fired());
        assert!(c.noop().await.is_err());
        assert_eq!(peer.messages(&op, "Done").unwrap().len(), 1);
        drop(c);

        // Before processing: nothing happens.
        let fault = peer.cut(Protocol::Imap, CutPoint::BeforeProcessing, |l| {
            l.contains(" UID MOVE ")
        });
        let mut b = ImapBufs::new();
        let mut c = imap_connect(&peer, Tls::Implicit, (&op, &op_pw), false, &mut b)
            .await
            .unwrap();
        c.select("INBOX").await.unwrap();
        assert!(c.move_to(true, &[SeqRange::one(2)], "Done").await.is_err());
        assert!(fault.fired());
        assert_eq!(peer.messages(&op, "INBOX").unwrap().len(), 1);
        drop(c);

        // SMTP: delivered, but the client never hears 250.
        let fault = peer.cut(Protocol::Smtp, CutPoint::BeforeReply, |l| l == "DATA");
        let op_addr = peer.address(&op);
        let r = smtp_send(
            &peer,
            Tls::Implicit,
            (&dev, &dev_pw),
            None,
            &Mail {
                from: "device@postwire.test",
                to: &[&op_addr],
                body: b"Subject: lost reply\r\n\r\nx\r\n",
            },
        )
        .await;
        assert!(r.is_err(), "{r:?}");
        assert!(fault.fired());
        assert_eq!(peer.messages(&op, "INBOX").unwrap().len(), 2);

        // POP3: QUIT commits, the +OK is lost.
        let fault = peer.cut(Protocol::Pop3, CutPoint::BeforeReply, |l| l == "QUIT");
        let mut pb = pop3_bufs();
        let mut p = pop3_connect(&peer, Tls::Implicit, (&op, &op_pw), None, &mut pb)
            .await
            .unwrap();
        p.dele(1).await.unwrap();
        let q = p.quit().await;
        assert!(fault.fired());
        assert!(!matches!(
            q,
            Ok(pop3::QuitReport {
                committed: true,
                ..
            })
        ));
        assert_eq!(peer.messages(&op, "INBOX").unwrap().len(), 1);

        // A disarmed fault never fires.
        let fault = peer.cut(Protocol::Imap, CutPoint::BeforeProcessing, |_| true);
        fault.disarm();
        let mut b = ImapBufs::new();
        let mut c = imap_connect(&peer, Tls::Implicit, (&op, &op_pw), false, &mut b)
            .await
            .unwrap();
        c.noop().await.unwrap();
        assert!(!fault.fired());
        assert!(
            transcript
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.text.contains("fault injection"))
        );
    })
    .await;
}

// ------------------------------------------------------------------------------ raw bytes

/// A TLS connection with rustls (not the postwire client), to send exact bytes.
async fn raw_tls(
    peer: &PeerHandle,
    p: Protocol,
) -> BufReader<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(
            peer.ca_der().to_vec(),
        ))
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect((peer.host(), peer.port(p, Tls::Implicit)))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap();
    BufReader::new(tls)
}

type Raw = BufReader<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

async fn line(r: &mut Raw) -> String {
    let mut s = String::new();
    tokio::time::timeout(T, r.read_line(&mut s))
        .await
        .unwrap()
        .unwrap();
    s
}

async fn send(r: &mut Raw, b: &[u8]) {
    r.get_mut().write_all(b).await.unwrap();
    r.get_mut().flush().await.unwrap();
}

/// Sends a command and reads up to its tagged reply; returns every line.
async fn cmd(r: &mut Raw, tag: &str, b: &[u8]) -> Vec<String> {
    send(r, b).await;
    let mut out = Vec::new();
    loop {
        let l = line(r).await;
        assert!(!l.is_empty(), "connection closed after {out:?}");
        let done = l.starts_with(&format!("{tag} "));
        out.push(l);
        if done {
            return out;
        }
    }
}

#[tokio::test]
async fn raw_imap_literals_and_bad_input() {
    with_timeout(async {
        let (peer, _) = start().await;
        let (op, op_pw) = user(&peer, "operator");
        let mut r = raw_tls(&peer, Protocol::Imap).await;
        assert!(line(&mut r).await.starts_with("* OK [CAPABILITY IMAP4rev1"));
        // Garbage gets BAD, never a crash.
        assert!(cmd(&mut r, "*", b"\r\n").await[0].starts_with("* BAD"));
        assert!(cmd(&mut r, "a0", b"a0 FROB\r\n").await[0].starts_with("a0 BAD"));
        assert!(cmd(&mut r, "a0", b"a0 LOGIN (\r\n").await[0].starts_with("a0 BAD"));
        assert!(cmd(&mut r, "a0", b"a0 SELECT INBOX\r\n").await[0].starts_with("a0 BAD"));
        // LOGIN with synchronizing literals.
        let login = format!("a1 LOGIN {{{}}}\r\n", op.len());
        send(&mut r, login.as_bytes()).await;
        assert!(line(&mut r).await.starts_with("+ "));
        send(&mut r, format!("{op} {{{}}}\r\n", op_pw.len()).as_bytes()).await;
        assert!(line(&mut r).await.starts_with("+ "));
        let out = cmd(&mut r, "a1", format!("{op_pw}\r\n").as_bytes()).await;
        assert!(out[0].starts_with("a1 OK [CAPABILITY"), "{out:?}");
        // A literal too large is refused before its bytes are sent.
        let out = cmd(&mut r, "a2", b"a2 APPEND INBOX {999999999}\r\n").await;
        assert!(out[0].starts_with("a2 NO [TOOBIG]"), "{out:?}");
        // APPEND with a sync literal, flags and a date; then FETCH it back.
        let msg = b"Subject: raw\r\n\r\nbody\r\n";
        send(
            &mut r,
            format!(
                "a3 APPEND INBOX (\\Flagged kw) \"05-Mar-2024 10:00:00 +0100\" {{{}}}\r\n",
                msg.len()
            )
            .as_bytes(),
        )
        .await;
        assert!(line(&mut r).await.starts_with("+ "));
        let out = cmd(&mut r, "a3", &[&msg[..], b"\r\n"].concat()).await;
        assert!(out[0].starts_with("a3 OK [APPENDUID "), "{out:?}");
        let out = cmd(&mut r, "a4", b"a4 SELECT INBOX\r\n").await;
        assert!(out.iter().any(|l| l == "* 1 EXISTS\r\n"), "{out:?}");
        assert!(out.last().unwrap().starts_with("a4 OK [READ-WRITE]"));
        let out = cmd(
            &mut r,
            "a5",
            b"a5 FETCH 1 (FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY[TEXT]<1.3>)\r\n",
        )
        .await;
        let all = out.concat();
        // BODY[TEXT] (not PEEK) sets \Seen, and FLAGS shows it.
        assert!(all.contains("FLAGS (\\Flagged kw \\Seen)"), "{all}");
        assert!(all.contains("INTERNALDATE \"05-Mar-2024 09:00:00 +0000\""), "{all}");
        assert!(
            all.contains("BODY[HEADER.FIELDS (SUBJECT)] {16}\r\nSubject: raw\r\n\r\n"),
            "{all}"
        );
        assert!(all.contains("BODY[TEXT]<1> {3}\r\nody"), "{all}");
        let out = cmd(&mut r, "a6", b"a6 UID SEARCH OR SUBJECT nothing KEYWORD kw\r\n").await;
        assert_eq!(out[0], "* SEARCH 1\r\n");
        let out = cmd(&mut r, "a7", b"a7 SEARCH CHARSET KOI8-R ALL\r\n").await;
        assert!(out[0].starts_with("a7 NO [BADCHARSET"), "{out:?}");
        assert!(cmd(&mut r, "a8", b"a8 FETCH 9 FLAGS\r\n").await[0].starts_with("a8 BAD"));
        assert!(cmd(&mut r, "a9", b"a9 STORE 1 FLAGS (\\Bogus)\r\n").await[0].starts_with("a9 BAD"));
        let out = cmd(&mut r, "b1", b"b1 COPY 1 Nowhere\r\n").await;
        assert!(out[0].starts_with("b1 NO [TRYCREATE]"), "{out:?}");
        let out = cmd(&mut r, "b2", b"b2 STATUS Done (MESSAGES UIDNEXT UNSEEN)\r\n").await;
        assert_eq!(out[0], "* STATUS Done (MESSAGES 0 UIDNEXT 1 UNSEEN 0)\r\n");
        // A line longer than the limit is answered and skipped.
        let mut long = vec![b'x'; 70 * 1024];
        long.extend_from_slice(b"\r\n");
        send(&mut r, &long).await;
        let l = line(&mut r).await;
        assert!(l.starts_with("* BAD"), "{}", &l[..l.len().min(100)]);
        let out = cmd(&mut r, "b3", b"b3 LOGOUT\r\n").await;
        assert_eq!(out[0], "* BYE Logging out\r\n");
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).await.ok();
    })
    .await;
}

#[tokio::test]
async fn raw_smtp_and_pop3_edges() {
    with_timeout(async {
        let (peer, _) = start().await;
        let (op, op_pw) = user(&peer, "operator");
        let mut s = raw_tls(&peer, Protocol::Smtp).await;
        assert!(line(&mut s).await.starts_with("220 "));
        send(&mut s, b"MAIL FROM:<a@b>\r\n").await;
        assert!(line(&mut s).await.starts_with("503"));
        send(&mut s, b"EHLO me\r\n").await;
        let mut caps = Vec::new();
        loop {
            let l = line(&mut s).await;
            let last = l.as_bytes().get(3) == Some(&b' ');
            caps.push(l);
            if last {
                break;
            }
        }
        let caps = caps.concat();
        for c in ["PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE ", "AUTH PLAIN LOGIN"] {
            assert!(caps.contains(c), "{caps}");
        }
        assert!(!caps.contains("STARTTLS"));
        send(&mut s, b"MAIL FROM:<a@b>\r\n").await;
        assert!(line(&mut s).await.starts_with("530 5.7.0"));
        let plain = format!("\0{op}\0{op_pw}");
        let mut b64 = vec![0u8; 200];
        let n = postwire_core::base64::encode_into(plain.as_bytes(), &mut b64).unwrap();
        send(&mut s, b"AUTH PLAIN ").await;
        send(&mut s, &b64[..n]).await;
        send(&mut s, b"\r\n").await;
        assert!(line(&mut s).await.starts_with("235 "));
        // Pipelined transaction; dot-unstuffing; a bare LF stays inside a line.
        send(
            &mut s,
            b"MAIL FROM:<x@y> SIZE=100\r\nRCPT TO:<nobody@postwire.test>\r\nRCPT TO:<operator@postwire.test>\r\nDATA\r\n",
        )
        .await;
        assert!(line(&mut s).await.starts_with("250"));
        assert!(line(&mut s).await.starts_with("550 5.1.1"));
        assert!(line(&mut s).await.starts_with("250"));
        assert!(line(&mut s).await.starts_with("354"));
        send(&mut s, b"Subject: p\r\n\r\n..dot\r\nbare\n.\nlf\r\n.\r\n").await;
        assert!(line(&mut s).await.starts_with("250 2.0.0"));
        let m = peer.messages(&op, "INBOX").unwrap();
        assert_eq!(m[0].raw, b"Subject: p\r\n\r\n.dot\r\nbare\n.\nlf\r\n");
        send(&mut s, b"MAIL FROM:<x@y> SIZE=999999999999\r\n").await;
        assert!(line(&mut s).await.starts_with("552"));
        send(&mut s, b"QUIT\r\n").await;
        assert!(line(&mut s).await.starts_with("221"));

        let mut p = raw_tls(&peer, Protocol::Pop3).await;
        assert!(line(&mut p).await.starts_with("+OK"));
        send(&mut p, b"STAT\r\n").await;
        assert!(line(&mut p).await.starts_with("-ERR"));
        send(&mut p, format!("USER {op}\r\nPASS {op_pw}\r\n").as_bytes()).await;
        assert!(line(&mut p).await.starts_with("+OK"));
        assert!(line(&mut p).await.starts_with("+OK"));
        send(&mut p, b"RETR 1\r\n").await;
        assert!(line(&mut p).await.starts_with("+OK"));
        let mut body = String::new();
        loop {
            let l = line(&mut p).await;
            if l == ".\r\n" {
                break;
            }
            body.push_str(&l);
        }
        // Bare LFs became CRLF; lines starting with a dot are stuffed.
        assert_eq!(body, "Subject: p\r\n\r\n..dot\r\nbare\r\n..\r\nlf\r\n");
        send(&mut p, b"RETR 2\r\nDELE x\r\nLIST\r\n").await;
        assert!(line(&mut p).await.starts_with("-ERR"));
        assert!(line(&mut p).await.starts_with("-ERR"));
        assert!(line(&mut p).await.starts_with("+OK 1 messages"));
        // LIST counts the unstuffed octets.
        assert_eq!(line(&mut p).await, format!("1 {}\r\n", body.len() - 2));
        assert_eq!(line(&mut p).await, ".\r\n");
        send(&mut p, b"QUIT\r\n").await;
        assert!(line(&mut p).await.starts_with("+OK"));
    })
    .await;
}

#[tokio::test]
async fn multipart_structure_and_parts_reach_the_client() {
    with_timeout(async {
        let (peer, _) = start().await;
        let (op, op_pw) = user(&peer, "operator");
        let msg = "From: \"Zoë, Sensor\" <sensor@postwire.test>\r\nTo: undisclosed-recipients:;\r\nSubject: =?utf-8?q?R=C3=A9sum=C3=A9?=\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\npreamble\r\n--outer\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nTempérature 21 °C\r\n--outer\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=in\r\n\r\n--in\r\n\r\nplain\r\n--in\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--in--\r\n--outer\r\nContent-Type: application/octet-stream; name=\"data.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--outer--\r\n";
        peer.deliver(&op, msg.as_bytes()).unwrap();
        let mut b = ImapBufs::new();
        let mut c = imap_connect(&peer, Tls::Implicit, (&op, &op_pw), false, &mut b)
            .await
            .unwrap();
        c.select("INBOX").await.unwrap();
        let mut seen = Vec::new();
        c.fetch(
            false,
            &[SeqRange::one(1)],
            &[FetchAttr::Envelope, FetchAttr::BodyStructure, FetchAttr::Body],
            |ev| {
                if let imap::FetchEvent::Message { items, .. } = ev {
                    for (name, item) in items.with_names() {
                        seen.push((String::from_utf8_lossy(name).into_owned(), format!("{item:?}")));
                    }
                }
                Ok(())
            },
        )
        .await
        .unwrap();
        let names: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["ENVELOPE", "BODYSTRUCTURE", "BODY"], "{seen:?}");
        for (section, want) in [
            ("1", "Température 21 °C".as_bytes()),
            ("2.1", b"plain"),
            ("2.2", b"<p>html</p>"),
            ("3", b"AAECAw=="),
            ("2.HEADER", b"Subject: inner\r\nContent-Type: multipart/alternative; boundary=in\r\n\r\n"),
        ] {
            let mut got = Vec::new();
            c.fetch_body_with(1, section, |d| {
                got.extend_from_slice(d);
                Ok(())
            })
            .await
            .unwrap();
            assert_eq!(got, want, "section {section}");
        }
        c.logout().await.unwrap();
    })
    .await;
}
