//! POP3 against the real Dovecot peer (`../shared/peers`): every command and login method
//! over implicit TLS and STLS, a message sent by our SMTP client found, retrieved
//! byte-identical (dot lines included) and deleted — only by a successful QUIT, never by a
//! dropped connection — and the `postwire pop3` command line.
//!
//! The tests share bob's mailbox with every other test: each finds its own messages by a
//! unique token in the subject and deletes only those, always choosing the message number
//! within the session that issues DELE.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::time::{Duration, Instant};

use postwire_core::sasl::{Credentials, Mechanism};
use postwire_host_sim::net::{TcpTransport, TokioDelay, connect_tcp};
use postwire_host_sim::tls::{CaSet, HostTlsStream, TlsBuffers, start_tls};
use postwire_pop3::client::{AuthMethod, Buffers, Client, ClientConfig, Error, Timeouts, Uid};
use postwire_pop3::proto::ProtocolError;
use postwire_pop3::{CodeKind, Stage};
use postwire_smtp::client::{
    Buffers as SmtpBuffers, Client as SmtpClient, ClientConfig as SmtpConfig, Envelope,
    RecipientStatus, Timeouts as SmtpTimeouts,
};
use postwire_tests::{Peers, fetch_by_subject, token};
use postwire_tls::Trust;

const TIMEOUT: Duration = Duration::from_secs(20);

fn config(allow_plaintext_auth: bool) -> ClientConfig {
    ClientConfig {
        timeouts: Timeouts::uniform(20_000),
        allow_plaintext_auth,
        ..ClientConfig::default()
    }
}

fn bob() -> Credentials<'static> {
    Credentials::new("bob", "bob-pw")
}

/// Buffers of one POP3 connection.
struct Bufs {
    tls: TlsBuffers,
    rx: Vec<u8>,
    tx: Vec<u8>,
}

impl Bufs {
    fn new() -> Self {
        // Small on purpose: messages must stream through them.
        Bufs {
            tls: TlsBuffers::new(),
            rx: vec![0; 512],
            tx: vec![0; 512],
        }
    }
}

type Pop3s<'b> = Client<'b, HostTlsStream<'b>, TokioDelay>;

/// A greeted client over implicit TLS (POP3S), certificate verified.
async fn pop3s<'b>(peers: &Peers, b: &'b mut Bufs) -> Pop3s<'b> {
    let ca = CaSet::from_file(peers.ca_bundle()).unwrap();
    let anchors = ca.anchors();
    let trust = Trust::Anchors(&anchors);
    let tcp = connect_tcp(peers.host(), peers.port("MAILPEERS_POP3S_PORT"), TIMEOUT)
        .await
        .unwrap();
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
        config(false),
    );
    c.set_implicit_tls();
    c.greet().await.unwrap();
    c
}

/// A greeted client on the plain port (STLS offered).
async fn pop3_plain<'b>(
    peers: &Peers,
    rx: &'b mut [u8],
    tx: &'b mut [u8],
    allow_plaintext: bool,
) -> Client<'b, TcpTransport, TokioDelay> {
    let tcp = connect_tcp(peers.host(), peers.port("MAILPEERS_POP3_PORT"), TIMEOUT)
        .await
        .unwrap();
    let mut c = Client::new(tcp, TokioDelay, Buffers { rx, tx }, config(allow_plaintext));
    c.greet().await.unwrap();
    c
}

/// A message to bob with `tok` in the subject and a body full of dot lines, CRLF line ends.
fn message(tok: &str, body: &str) -> Vec<u8> {
    let mut m = format!(
        "From: Alice <alice@example.test>\r\nTo: Bob <bob@example.test>\r\n\
         Subject: pop3 test {tok}\r\nMessage-ID: <{tok}@example.test>\r\n\
         Date: Sun, 22 Nov 2026 00:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    );
    for line in body.lines() {
        m.push_str(line);
        m.push_str("\r\n");
    }
    m.into_bytes()
}

/// Sends `msg` to bob with our SMTP client (submissions port, implicit TLS, AUTH as alice).
async fn deliver(peers: &Peers, msg: &[u8]) {
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
    let (mut rx, mut tx) = ([0u8; 1024], [0u8; 2048]);
    let mut smtp = SmtpClient::new(
        tls,
        TokioDelay,
        SmtpBuffers {
            rx: &mut rx,
            tx: &mut tx,
        },
        SmtpConfig {
            client_domain: "client.example.test",
            timeouts: SmtpTimeouts::uniform(20_000),
            ..SmtpConfig::default()
        },
    );
    smtp.set_implicit_tls();
    smtp.greet().await.unwrap();
    smtp.authenticate(&Credentials::new("alice", "alice-pw"), None)
        .await
        .unwrap();
    let to = ["bob@example.test"];
    let mut status = [RecipientStatus::NotSent];
    smtp.send_and_quit(&Envelope::new("alice@example.test", &to), msg, &mut status)
        .await
        .unwrap();
}

/// The message bytes of RETR (or TOP) through the chunk callback.
async fn retr_bytes(c: &mut Pop3s<'_>, msg: u64, top: Option<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    let n = match top {
        Some(lines) => {
            c.top_with(msg, lines, |chunk| {
                out.extend_from_slice(chunk);
                Ok(())
            })
            .await
        }
        None => {
            c.retr_with(msg, |chunk| {
                out.extend_from_slice(chunk);
                Ok(())
            })
            .await
        }
    }
    .unwrap();
    assert_eq!(n, out.len() as u64);
    out
}

/// Every (msg, uid) of the maildrop.
async fn uids(c: &mut Pop3s<'_>) -> Vec<(u64, Uid)> {
    let mut all = Vec::new();
    let n = c.uidl(|m, u| all.push((m, *u))).await.unwrap();
    assert_eq!(n, all.len() as u64);
    all
}

/// In this session: the number and unique-id of the newest message whose header holds `tok`.
async fn find(c: &mut Pop3s<'_>, tok: &str) -> Option<(u64, Uid)> {
    for (msg, uid) in uids(c).await.into_iter().rev() {
        let head = retr_bytes(c, msg, Some(0)).await;
        if String::from_utf8_lossy(&head).contains(tok) {
            return Some((msg, uid));
        }
    }
    None
}

/// In this session: the number of the message with `uid`.
async fn number_of(c: &mut Pop3s<'_>, uid: &Uid) -> Option<u64> {
    uids(c)
        .await
        .into_iter()
        .find(|(_, u)| u == uid)
        .map(|(m, _)| m)
}

/// Waits (new session each time: a POP3 session sees the maildrop as it was at login) until
/// the message with `tok` arrived; returns its unique-id.
async fn wait_for(peers: &Peers, tok: &str) -> Uid {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut b = Bufs::new();
        let mut c = pop3s(peers, &mut b).await;
        c.login(&bob(), None).await.unwrap();
        let found = find(&mut c, tok).await;
        c.quit().await.unwrap();
        if let Some((_, uid)) = found {
            return uid;
        }
        assert!(
            Instant::now() < deadline,
            "message {tok} not delivered within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn logs_in_with_every_method_over_pop3s() {
    let peers = postwire_tests::peers_or_skip!();
    for method in [
        Some(AuthMethod::Sasl(Mechanism::Plain)),
        Some(AuthMethod::Sasl(Mechanism::Login)),
        Some(AuthMethod::Sasl(Mechanism::CramMd5)),
        Some(AuthMethod::UserPass),
        None,
    ] {
        let mut b = Bufs::new();
        let mut c = pop3s(&peers, &mut b).await;
        let caps = *c.capabilities();
        assert!(caps.top && caps.uidl && caps.user && caps.resp_codes && caps.auth_resp_code);
        assert!(!caps.stls, "no STLS inside TLS");
        let used = c.login(&bob(), method).await.unwrap();
        if method.is_none() {
            // Over TLS with SASL offered: PLAIN (one round trip with its initial response).
            assert_eq!(used, AuthMethod::Sasl(Mechanism::Plain));
        }
        let st = c.stat().await.unwrap();
        assert!(st.count <= st.size);
        c.noop().await.unwrap();
        let report = c.quit().await.unwrap();
        assert!(report.committed);
        assert_eq!(report.deleted, 0);
    }
    // APOP needs a timestamp in the greeting; Dovecot sends none: refused before sending.
    let mut b = Bufs::new();
    let mut c = pop3s(&peers, &mut b).await;
    assert_eq!(c.apop_timestamp(), None);
    let e = c.login(&bob(), Some(AuthMethod::Apop)).await.unwrap_err();
    assert!(matches!(e, Error::ApopUnavailable), "{e:?}");
    assert!(!e.is_fatal());
    c.login(&bob(), None).await.unwrap();
    c.quit().await.unwrap();
}

#[tokio::test]
async fn message_is_listed_retrieved_identically_and_deleted_only_by_quit() {
    let peers = postwire_tests::peers_or_skip!();
    let tok = token("pop3-roundtrip");
    let body = format!(
        "Command for device 17:\n.\n..two dots\n.leading dot\n...\n. \nend.\n{}last line",
        // Lines up to 990 bytes (Postfix folds longer ones), more than the 512-byte buffers.
        format!("{}\n.{}\n", "x".repeat(990), "y".repeat(900)).repeat(8)
    );
    let sent = message(&tok, &body);
    deliver(&peers, &sent).await;
    let uid = wait_for(&peers, &tok).await;

    // Session 1: every read-only command.
    let stored = {
        let mut b = Bufs::new();
        let mut c = pop3s(&peers, &mut b).await;
        c.login(&bob(), None).await.unwrap();
        let msg = number_of(&mut c, &uid).await.unwrap();
        let stat = c.stat().await.unwrap();
        assert!(stat.count >= msg);
        let size = c.list_one(msg).await.unwrap();
        let mut listed = Vec::new();
        let n = c.list(|m, s| listed.push((m, s))).await.unwrap();
        assert_eq!(n, stat.count);
        assert!(listed.contains(&(msg, size)));
        assert_eq!(listed.iter().map(|(_, s)| s).sum::<u64>(), stat.size);
        assert_eq!(c.uidl_one(msg).await.unwrap(), uid);
        let whole = retr_bytes(&mut c, msg, None).await;
        // The message as sent, after the trace headers the servers prepend.
        assert!(
            whole.ends_with(&sent),
            "retrieved message differs from the sent one:\n--- sent\n{}\n--- retrieved\n{}",
            String::from_utf8_lossy(&sent),
            String::from_utf8_lossy(&whole)
        );
        assert_eq!(whole.len() as u64, size, "LIST size = RETR bytes");
        let text = String::from_utf8_lossy(&whole);
        assert!(text.contains("\r\n.\r\n..two dots\r\n.leading dot\r\n...\r\n. \r\nend.\r\n"));
        // TOP 0: the header and the blank line; TOP 2: two body lines more.
        let head_end = whole.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert_eq!(retr_bytes(&mut c, msg, Some(0)).await, &whole[..head_end]);
        let top2 = retr_bytes(&mut c, msg, Some(2)).await;
        assert_eq!(
            top2,
            [&whole[..head_end], b"Command for device 17:\r\n.\r\n"].concat()
        );
        // The same message through a writer sink.
        let mut buf = vec![0u8; whole.len()];
        let n = c.retr(msg, &mut &mut buf[..]).await.unwrap();
        assert_eq!(n as usize, whole.len());
        assert_eq!(buf, whole);
        let report = c.quit().await.unwrap();
        assert_eq!((report.committed, report.deleted), (true, 0));
        whole
    };
    // Byte-identical to what the server stored (read over IMAP).
    assert_eq!(fetch_by_subject(&peers, "bob", "bob-pw", &tok), stored);

    // Session 2: the unique-id is stable across sessions.
    {
        let mut b = Bufs::new();
        let mut c = pop3s(&peers, &mut b).await;
        c.login(&bob(), Some(AuthMethod::UserPass)).await.unwrap();
        let (_, uid2) = find(&mut c, &tok).await.unwrap();
        assert_eq!(uid2, uid);
        c.quit().await.unwrap();
    }

    // Session 3: DELE, then the connection drops without QUIT: nothing is removed.
    {
        let mut b = Bufs::new();
        let mut c = pop3s(&peers, &mut b).await;
        c.login(&bob(), None).await.unwrap();
        let msg = number_of(&mut c, &uid).await.unwrap();
        c.dele(msg).await.unwrap();
        assert_eq!(c.session().marked_for_deletion(), 1);
        // Marked messages are gone for the rest of the session.
        let e = c.list_one(msg).await.unwrap_err();
        assert!(
            matches!(e, Error::Rejected(r) if r.stage == Stage::List),
            "{e:?}"
        );
        drop(c.into_inner());
    }

    // Session 4: still there; DELE, RSET, DELE, QUIT commits.
    {
        let mut b = Bufs::new();
        let mut c = pop3s(&peers, &mut b).await;
        c.login(&bob(), None).await.unwrap();
        let msg = number_of(&mut c, &uid)
            .await
            .expect("the message must survive DELE on a dropped connection");
        c.dele(msg).await.unwrap();
        c.rset().await.unwrap();
        assert_eq!(c.session().marked_for_deletion(), 0);
        assert!(c.list_one(msg).await.is_ok(), "RSET unmarks");
        c.dele(msg).await.unwrap();
        let report = c.quit().await.unwrap();
        assert!(report.committed);
        assert_eq!(report.deleted, 1);
    }

    // Session 5: gone.
    let mut b = Bufs::new();
    let mut c = pop3s(&peers, &mut b).await;
    c.login(&bob(), None).await.unwrap();
    assert_eq!(number_of(&mut c, &uid).await, None);
    assert_eq!(find(&mut c, &tok).await, None);
    c.quit().await.unwrap();
}

#[tokio::test]
async fn stls_rereads_capabilities_and_guards_credentials() {
    let peers = postwire_tests::peers_or_skip!();
    // Without TLS and without permission, no credentials leave the client.
    let (mut rx, mut tx) = ([0u8; 512], [0u8; 512]);
    let mut c = pop3_plain(&peers, &mut rx, &mut tx, false).await;
    let before = *c.capabilities();
    assert!(before.stls && before.user);
    for m in [
        None,
        Some(AuthMethod::UserPass),
        Some(AuthMethod::Sasl(Mechanism::CramMd5)),
    ] {
        let e = c.login(&bob(), m).await.unwrap_err();
        assert!(matches!(e, Error::PlaintextAuthRefused), "{e:?}");
        assert!(!e.is_fatal());
    }
    // STLS, TLS, CAPA again: the capabilities come from the encrypted session.
    c.stls().await.unwrap();
    let (plain, pending) = c.into_stls().ok().unwrap();
    let ca = CaSet::from_file(peers.ca_bundle()).unwrap();
    let anchors = ca.anchors();
    let trust = Trust::Anchors(&anchors);
    let mut tls_bufs = TlsBuffers::new();
    let tls = start_tls(plain, peers.tls_name(), &trust, TIMEOUT, &mut tls_bufs)
        .await
        .unwrap();
    let mut c = pending.resume(tls);
    assert!(c.is_tls());
    assert!(!c.session().capabilities_known());
    assert!(c.capa().await.unwrap());
    let after = *c.capabilities();
    assert!(!after.stls, "STLS is not offered again inside TLS");
    assert!(after.sasl.contains(Mechanism::Plain));
    assert_eq!(
        c.login(&bob(), None).await.unwrap(),
        AuthMethod::Sasl(Mechanism::Plain)
    );
    c.stat().await.unwrap();
    c.quit().await.unwrap();

    // STLS cannot be repeated; login() reads CAPA itself after STLS.
    let (mut rx, mut tx) = ([0u8; 512], [0u8; 512]);
    let mut c = pop3_plain(&peers, &mut rx, &mut tx, false).await;
    c.stls().await.unwrap();
    let (plain, pending) = c.into_stls().ok().unwrap();
    let mut tls_bufs = TlsBuffers::new();
    let tls = start_tls(plain, peers.tls_name(), &trust, TIMEOUT, &mut tls_bufs)
        .await
        .unwrap();
    let mut c = pending.resume(tls);
    let e = c.stls().await.unwrap_err();
    assert!(matches!(e, Error::StlsUnavailable), "{e:?}");
    c.login(&bob(), Some(AuthMethod::Sasl(Mechanism::CramMd5)))
        .await
        .unwrap();
    c.quit().await.unwrap();

    // Explicitly allowed: plain-text login works (CRAM-MD5 first without TLS).
    let (mut rx, mut tx) = ([0u8; 512], [0u8; 512]);
    let mut c = pop3_plain(&peers, &mut rx, &mut tx, true).await;
    assert_eq!(
        c.login(&bob(), None).await.unwrap(),
        AuthMethod::Sasl(Mechanism::CramMd5)
    );
    c.stat().await.unwrap();
    c.quit().await.unwrap();
    let (mut rx, mut tx) = ([0u8; 512], [0u8; 512]);
    let mut c = pop3_plain(&peers, &mut rx, &mut tx, true).await;
    c.login_user_pass("bob", "bob-pw").await.unwrap();
    c.quit().await.unwrap();
}

#[tokio::test]
async fn refusals_are_typed_and_leave_the_connection_usable() {
    let peers = postwire_tests::peers_or_skip!();
    let mut b = Bufs::new();
    let mut c = pop3s(&peers, &mut b).await;
    let wrong = Credentials::new("bob", "wrong-password");
    let e = c
        .login(&wrong, Some(AuthMethod::UserPass))
        .await
        .unwrap_err();
    match e {
        Error::Rejected(r) => {
            assert_eq!(r.stage, Stage::Pass);
            assert_eq!(r.code, Some(CodeKind::Auth));
            assert!(r.is_auth_failure() && !r.is_transient());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.last_response_text(), b"[AUTH] Authentication failed.");
    for m in [Mechanism::Plain, Mechanism::CramMd5, Mechanism::Login] {
        let e = c
            .login(&wrong, Some(AuthMethod::Sasl(m)))
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::Rejected(r) if r.stage == Stage::Auth && r.code == Some(CodeKind::Auth)),
            "{m:?}: {e:?}"
        );
    }
    // Transaction commands before login are refused locally.
    let e = c.stat().await.unwrap_err();
    assert!(matches!(e, Error::Protocol(ProtocolError::OutOfSequence)));
    assert!(!e.is_fatal());
    c.login(&bob(), None).await.unwrap();
    let e = c.retr_with(999_999_999, |_| Ok(())).await.unwrap_err();
    assert!(
        matches!(e, Error::Rejected(r) if r.stage == Stage::Retr),
        "{e:?}"
    );
    let e = c.dele(999_999_999).await.unwrap_err();
    assert!(
        matches!(e, Error::Rejected(r) if r.stage == Stage::Dele),
        "{e:?}"
    );
    let e = c.list_one(0).await.unwrap_err();
    assert!(matches!(e, Error::InvalidArgument), "{e:?}");
    c.noop().await.unwrap();
    let report = c.quit().await.unwrap();
    assert_eq!(report.deleted, 0);
}

fn cli(peers: &Peers, server: &str, args: &[&str]) -> (i32, String, String) {
    let server = server.to_string();
    let mut argv = vec![
        "--server",
        &server,
        "--tls-name",
        peers.tls_name(),
        "--ca",
        peers.ca_bundle(),
        "--user",
        "bob",
        "--password-env",
        "POP3_TEST_PW",
        "--timeout",
        "20",
    ];
    argv.extend_from_slice(args);
    let env = |k: &str| (k == "POP3_TEST_PW").then(|| "bob-pw".to_string());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = postwire_host_sim::pop3::run_argv(&argv, &env, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn json_lines(s: &str) -> Vec<serde_json::Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

#[test]
fn command_line_retrieves_and_deletes_in_one_connection() {
    let peers = postwire_tests::peers_or_skip!();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tok = token("pop3-cli");
    let sent = message(&tok, ".dot line\nhello device\n..\n");
    rt.block_on(deliver(&peers, &sent));
    let uid = rt.block_on(wait_for(&peers, &tok));
    let pop3s = format!(
        "pop3s://{}:{}",
        peers.host(),
        peers.port("MAILPEERS_POP3S_PORT")
    );
    let pop3 = format!(
        "pop3://{}:{}",
        peers.host(),
        peers.port("MAILPEERS_POP3_PORT")
    );
    let msg = rt.block_on(async {
        let mut b = Bufs::new();
        let mut c = pop3s_client(&peers, &mut b).await;
        c.login(&bob(), None).await.unwrap();
        let m = number_of(&mut c, &uid).await.unwrap();
        c.quit().await.unwrap();
        m
    });
    let dir = std::env::temp_dir().join(&tok);
    std::fs::create_dir_all(&dir).unwrap();
    let out_file = dir.join("msg.eml");
    let top_file = dir.join("top.eml");
    let m = msg.to_string();

    // Several commands in one session (STLS on the plain port).
    let (code, out, err) = cli(
        &peers,
        &pop3,
        &[
            "stat",
            "--then",
            "uidl",
            &m,
            "--then",
            "list",
            &m,
            "--then",
            "retr",
            &m,
            "--out",
            out_file.to_str().unwrap(),
            "--then",
            "top",
            &m,
            "0",
            "--out",
            top_file.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    let lines = json_lines(&out);
    assert_eq!(lines[0]["command"], "STAT");
    assert_eq!(lines[1]["uid"], uid.as_str());
    let size = lines[2]["size"].as_u64().unwrap();
    assert_eq!(lines[3]["command"], "RETR");
    assert_eq!(lines[3]["bytes"].as_u64(), Some(size));
    let retrieved = std::fs::read(&out_file).unwrap();
    assert!(retrieved.ends_with(&sent));
    assert_eq!(retrieved.len() as u64, size);
    assert_eq!(lines[4]["command"], "TOP");
    let top = std::fs::read(&top_file).unwrap();
    assert!(retrieved.starts_with(&top) && top.ends_with(b"\r\n\r\n"));
    assert_eq!(
        lines[5],
        serde_json::json!({"command": "QUIT", "committed": true, "deleted": 0})
    );

    // The sole retr without --out: raw bytes on stdout, JSON on stderr.
    let (code, out, err) = cli(&peers, &pop3s, &["retr", &m]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.as_bytes(), &retrieved[..]);
    assert!(err.contains("\"command\":\"RETR\""));

    // A guarded DELE of someone else's unique-id deletes nothing and sends no QUIT.
    let (code, out, err) = cli(&peers, &pop3s, &["dele", &m, "--uid", "not-this-one"]);
    assert_eq!(code, 1);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("DELE") && err.contains("nothing was deleted"),
        "{err}"
    );

    // DELE then QUIT in one connection from the command line.
    let (code, out, err) = cli(
        &peers,
        &pop3s,
        &["dele", &m, "--uid", uid.as_str(), "--then", "quit"],
    );
    assert_eq!(code, 0, "{err}");
    let lines = json_lines(&out);
    assert_eq!(lines[0]["command"], "DELE");
    assert_eq!(lines[0]["deleted"], true);
    assert_eq!(
        lines[1],
        serde_json::json!({"command": "QUIT", "committed": true, "deleted": 1})
    );
    assert_eq!(lines.len(), 2, "no second QUIT");
    rt.block_on(async {
        let mut b = Bufs::new();
        let mut c = pop3s_client(&peers, &mut b).await;
        c.login(&bob(), None).await.unwrap();
        assert_eq!(number_of(&mut c, &uid).await, None, "deleted by the CLI");
        c.quit().await.unwrap();
    });

    // Errors: one line naming the stage and the server's text, exit 1.
    let (code, _, err) = cli(&peers, &pop3s, &["--auth", "user", "retr", "999999999"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("postwire pop3: error: RETR: server replied -ERR"),
        "{err}"
    );
    let env = |_: &str| Some("wrong".to_string());
    let (mut o, mut e) = (Vec::new(), Vec::new());
    let code = postwire_host_sim::pop3::run_argv(
        &[
            "--server",
            &pop3s,
            "--tls-name",
            peers.tls_name(),
            "--ca",
            peers.ca_bundle(),
            "--user",
            "bob",
            "--password-env",
            "X",
            "--auth",
            "user",
            "stat",
        ],
        &env,
        &mut o,
        &mut e,
    );
    assert_eq!(code, 1);
    assert_eq!(
        String::from_utf8(e).unwrap(),
        "postwire pop3: error: PASS: server replied -ERR [AUTH] Authentication failed.\n"
    );
    // Without --allow-plaintext, pop3:// never logs in without TLS; with it, no STLS at all.
    let (code, out, err) = cli(&peers, &pop3, &["--allow-plaintext", "stat"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json_lines(&out)[0]["command"], "STAT");
    let _ = std::fs::remove_dir_all(&dir);
}

/// [`pop3s`] under another name for use inside `block_on` in non-async tests.
async fn pop3s_client<'b>(peers: &Peers, b: &'b mut Bufs) -> Pop3s<'b> {
    pop3s(peers, b).await
}
