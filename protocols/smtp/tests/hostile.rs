//! Hostile-server tests for the SMTP client (DESIGN §6): every bad input must give a typed
//! error — never a panic, never a hang, never a false success. Each test asserts the exact
//! error variant.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Body, Bufs, Mock, Step, Timer, c, client, reference_stuff, run, s, show};
use embedded_io_async::ErrorKind;
use postwire_core::sasl::{Credentials, Mechanism};
use postwire_smtp::client::{ClientConfig, Envelope, Error, Fatal, RecipientStatus, SendReport};
use postwire_smtp::proto::ProtocolError;
use postwire_smtp::wire::ReplyError;
use postwire_smtp::{Rejection, Stage};
use proptest::prelude::*;

const GREETING: &str = "220 mx.example.test ESMTP\r\n";
const EHLO: &str = "EHLO client.example\r\n";
const EHLO_PIPE: &str = "250-mx.example.test\r\n250-PIPELINING\r\n250-AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2\r\n250-STARTTLS\r\n250 8BITMIME\r\n";
const EHLO_PLAIN: &str = "250-mx.example.test\r\n250-AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2\r\n250-STARTTLS\r\n250 8BITMIME\r\n";
const AUTH_PLAIN_IR: &str = "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n";
const AUTH_OK: &str = "235 2.7.0 Authentication successful\r\n";
const FROM: &str = "alice@example.test";
const TO: &str = "bob@example.test";
const BODY: &[u8] = b"Subject: hi\r\n\r\nHello.\r\n";

fn config() -> ClientConfig<'static> {
    ClientConfig {
        client_domain: "client.example",
        allow_plaintext_auth: true,
        ..ClientConfig::default()
    }
}

fn creds() -> Credentials<'static> {
    Credentials::new("alice", "secret")
}

/// Builds a client over `$mock` and runs `$body` (an expression using the client `$c`) to
/// completion; the value of `$body` is returned.
macro_rules! with_client {
    ($mock:expr, $timer:expr, $cfg:expr, |$c:ident| $body:expr) => {{
        let mut bufs = Bufs::new();
        with_client!($mock, $timer, $cfg, bufs, |$c| $body)
    }};
    ($mock:expr, $timer:expr, $cfg:expr, $bufs:ident, |$c:ident| $body:expr) => {{
        #[allow(unused_mut)]
        let mut $c = client(&mut $mock, $timer, &mut $bufs, $cfg);
        run(async { $body })
    }};
}

fn is_rejected<E>(e: &Error<E>, stage: Stage, code: u16) -> bool {
    matches!(e, Error::Rejected(r) if r.stage == stage && r.code.value() == code)
}

/// Steps up to and including a successful EHLO.
fn greeted(ehlo_reply: &str) -> Vec<Step> {
    vec![s(GREETING), c(EHLO), s(ehlo_reply)]
}

// ---------------------------------------------------------------------------------------
// A full successful session, used for the cut and chunking tests.

struct Session {
    steps: Vec<Step>,
    /// Offset in the server byte stream just after the reply to the end of the data.
    accepted_at: usize,
}

fn full_session(pipelining: bool, quit_with_data: bool) -> Session {
    let mut steps = greeted(if pipelining { EHLO_PIPE } else { EHLO_PLAIN });
    steps.push(c(AUTH_PLAIN_IR));
    steps.push(s(AUTH_OK));
    if pipelining {
        steps.push(c(format!(
            "MAIL FROM:<{FROM}>\r\nRCPT TO:<{TO}>\r\nRCPT TO:<carol@example.test>\r\nDATA\r\n"
        )));
        steps.push(s(
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 unknown\r\n354 End data with <CR><LF>.<CR><LF>\r\n",
        ));
    } else {
        steps.push(c(format!("MAIL FROM:<{FROM}>\r\n")));
        steps.push(s("250 2.1.0 Ok\r\n"));
        steps.push(c(format!("RCPT TO:<{TO}>\r\n")));
        steps.push(s("250 2.1.5 Ok\r\n"));
        steps.push(c("RCPT TO:<carol@example.test>\r\n"));
        steps.push(s("550-5.1.1 unknown\r\n550 5.1.1 user\r\n"));
        steps.push(c("DATA\r\n"));
        steps.push(s("354 End data with <CR><LF>.<CR><LF>\r\n"));
    }
    let data = reference_stuff(BODY);
    if quit_with_data {
        let mut d = data;
        d.extend_from_slice(b"QUIT\r\n");
        steps.push(c(d));
        steps.push(s("250 2.0.0 Ok: queued as ABC\r\n221 2.0.0 Bye\r\n"));
    } else {
        steps.push(c(data));
        steps.push(s("250 2.0.0 Ok: queued as ABC\r\n"));
        steps.push(c("QUIT\r\n"));
        steps.push(s("221 2.0.0 Bye\r\n"));
    }
    let server: Vec<u8> = server_bytes(&steps);
    let marker = b"250 2.0.0 Ok: queued as ABC\r\n";
    let at = server
        .windows(marker.len())
        .position(|w| w == marker)
        .unwrap();
    Session {
        steps,
        accepted_at: at + marker.len(),
    }
}

fn server_bytes(steps: &[Step]) -> Vec<u8> {
    steps
        .iter()
        .filter_map(|st| match st {
            Step::S(b) => Some(b.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The script with the server stream cut after `k` bytes (then the server closes).
fn cut(steps: &[Step], k: usize) -> Vec<Step> {
    let mut out = Vec::new();
    let mut sent = 0;
    for st in steps {
        match st {
            Step::S(b) => {
                if sent + b.len() <= k {
                    sent += b.len();
                    out.push(st.clone());
                } else {
                    let take = k - sent;
                    if take > 0 {
                        out.push(Step::S(b[..take].to_vec()));
                    }
                    out.push(Step::Close);
                    return out;
                }
            }
            other => out.push(other.clone()),
        }
    }
    out.push(Step::Close);
    out
}

/// What a run of the full session produced.
#[derive(Debug, PartialEq)]
struct Outcome {
    /// The first error, if any, and the operation it came from.
    error: Option<(&'static str, String)>,
    send: Option<Result<SendReport, String>>,
    status: [RecipientStatus; 2],
}

/// Runs greet, AUTH PLAIN, send (or send_and_quit) and quit, stopping at the first error.
fn drive(mock: &mut Mock, quit_with_data: bool) -> (Outcome, Option<Error<ErrorKind>>) {
    with_client!(*mock, Timer::Never, config(), |cl| {
        let mut first: Option<(&'static str, Error<ErrorKind>)> = None;
        let mut send = None;
        let mut status = [RecipientStatus::NotSent; 2];
        let to = [TO, "carol@example.test"];
        let env = Envelope::new(FROM, &to);
        'ops: {
            if let Err(e) = cl.greet().await {
                first = Some(("greet", e));
                break 'ops;
            }
            if let Err(e) = cl.authenticate(&creds(), Some(Mechanism::Plain)).await {
                first = Some(("authenticate", e));
                break 'ops;
            }
            let r = if quit_with_data {
                cl.send_and_quit(&env, Body::new(BODY), &mut status).await
            } else {
                cl.send(&env, Body::new(BODY), &mut status).await
            };
            match r {
                Ok(rep) => send = Some(Ok(rep)),
                Err(e) => {
                    send = Some(Err(format!("{e:?}")));
                    first = Some(("send", e));
                    break 'ops;
                }
            }
            if !quit_with_data && let Err(e) = cl.quit().await {
                first = Some(("quit", e));
            }
        }
        // After a fatal error every later call fails the same way, and sends nothing.
        if let Some((_, e)) = &first
            && e.is_fatal()
        {
            let again = cl.noop().await;
            assert!(
                matches!(again, Err(Error::Failed(_))),
                "call after fatal {e:?} gave {again:?}"
            );
        }
        let outcome = Outcome {
            error: first.as_ref().map(|(op, e)| (*op, format!("{e:?}"))),
            send,
            status,
        };
        (outcome, first.map(|(_, e)| e))
    })
}

#[test]
fn full_sessions_succeed() {
    for (pipelining, qwd, trips) in [(true, true, 4), (true, false, 5), (false, true, 7)] {
        let sess = full_session(pipelining, qwd);
        let mut mock = Mock::new(sess.steps);
        let (out, err) = drive(&mut mock, qwd);
        assert!(err.is_none(), "{out:?}");
        mock.assert_finished();
        let rep = out.send.unwrap().unwrap();
        assert_eq!((rep.accepted, rep.refused, rep.code.value()), (1, 1, 250));
        assert_eq!(out.status[0], RecipientStatus::Accepted);
        assert!(matches!(out.status[1], RecipientStatus::Refused(r) if r.code.value() == 550));
        // Round trips: EHLO, AUTH, the transaction (1 when pipelined, 4 otherwise), the data
        // end (with QUIT when pipelined with it), QUIT.
        assert_eq!(
            mock.round_trips, trips,
            "pipelining={pipelining} quit_with_data={qwd}"
        );
    }
}

/// The connection closed at every byte offset of a full session: an error every time
/// (ConnectionClosed), and `send` is `Ok` exactly when the server's 2xx after the data was
/// completely received.
#[test]
fn connection_closed_at_every_offset() {
    for (pipelining, qwd) in [(true, true), (true, false), (false, true), (false, false)] {
        let sess = full_session(pipelining, qwd);
        let total = server_bytes(&sess.steps).len();
        for k in 0..=total {
            let mut mock = Mock::new(cut(&sess.steps, k));
            let (out, err) = drive(&mut mock, qwd);
            assert!(
                mock.failures.is_empty(),
                "cut {k}: client broke the script: {:?}",
                mock.failures
            );
            let send_ok = matches!(out.send, Some(Ok(_)));
            assert_eq!(
                send_ok,
                k >= sess.accepted_at,
                "cut at {k}/{total} (pipelining={pipelining}): {out:?}"
            );
            if send_ok {
                // The rest (QUIT) may fail or not; a closed connection after QUIT is fine.
                assert!(err.is_none(), "cut {k}: {out:?}");
                continue;
            }
            match err {
                Some(Error::ConnectionClosed(_)) => {}
                other => panic!("cut {k}: expected ConnectionClosed, got {other:?}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Chunking invariance (property test).

fn run_chunked(steps: Vec<Step>, pattern: Vec<usize>, qwd: bool) -> (Vec<u8>, Outcome) {
    let mut mock = Mock::new(steps).chunk_pattern(pattern);
    let (out, _) = drive(&mut mock, qwd);
    assert!(mock.failures.is_empty(), "{:?}", mock.failures);
    (mock.log, out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn chunking_does_not_change_anything(
        pattern in proptest::collection::vec(1usize..64, 1..8),
        pipelining in any::<bool>(),
        qwd in any::<bool>(),
    ) {
        let sess = full_session(pipelining, qwd);
        let (log_ref, out_ref) = run_chunked(sess.steps.clone(), vec![4096], qwd);
        prop_assert!(out_ref.error.is_none());
        let (log, out) = run_chunked(sess.steps, pattern, qwd);
        prop_assert_eq!(show(&log), show(&log_ref));
        prop_assert_eq!(out, out_ref);
    }

    /// Any body, any chunking of the body source, any transmit buffer: the data on the wire
    /// is the reference encoding (bare CR/LF → CRLF, dot-stuffed, terminated once).
    #[test]
    fn any_body_is_framed_safely(
        body in proptest::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'.'), Just(b'a'), any::<u8>()], 0..600),
        chunk in 1usize..300,
        tx in 256usize..700,
    ) {
        let data = reference_stuff(&body);
        check_framing(&data);
        let mut steps = greeted(EHLO_PIPE);
        steps.push(c(format!("MAIL FROM:<{FROM}>\r\nRCPT TO:<{TO}>\r\nDATA\r\n")));
        steps.push(s("250 ok\r\n250 ok\r\n354 go\r\n"));
        steps.push(c(&data));
        steps.push(s("250 queued\r\n"));
        let mut mock = Mock::new(steps);
        let mut bufs = Bufs::sized(512, tx);
        let r = with_client!(mock, Timer::Never, config(), bufs, |cl| {
            cl.greet().await.unwrap();
            let mut st = [RecipientStatus::NotSent];
            let mut b = Body::new(&body);
            b.chunk = chunk;
            cl.send(&Envelope::new(FROM, &[TO]), b, &mut st).await
        });
        prop_assert!(r.is_ok(), "{:?}", r);
        mock.assert_finished();
    }
}

// ---------------------------------------------------------------------------------------
// SMTP smuggling (DESIGN §6.2).

/// `data` (everything after the `DATA` command line) ends with the only `CRLF.CRLF`, and every
/// line break in it is CRLF.
fn check_framing(data: &[u8]) {
    let mut framed = b"\r\n".to_vec(); // the CRLF that ended the DATA line
    framed.extend_from_slice(data);
    let term = b"\r\n.\r\n";
    let first = framed.windows(5).position(|w| w == term);
    assert_eq!(
        first,
        Some(framed.len() - 5),
        "terminator before the end in {:?}",
        show(data)
    );
    for (i, &b) in framed.iter().enumerate() {
        if b == b'\r' {
            assert_eq!(
                framed.get(i + 1),
                Some(&b'\n'),
                "bare CR in {:?}",
                show(data)
            );
        }
        if b == b'\n' {
            assert_eq!(framed[i - 1], b'\r', "bare LF in {:?}", show(data));
        }
    }
}

#[test]
fn smuggling_bodies_are_neutralised() {
    let bodies: &[&[u8]] = &[
        b"a\n.\nMAIL FROM:<evil@x>\n",
        b"a\r.\rb",
        b"a\r\n.\r\nMAIL FROM:<evil@x>\r\nRCPT TO:<victim@y>\r\nDATA\r\n",
        b"a\n.\r\nb",
        b"a\r.\r\nb",
        b"\n.\n",
        b".\r\n",
        b".",
        b"..",
        b"\r",
        b"\n",
        b"a\r",
        b"x\r\n.\r",
        b"\r\r\n.\n\r",
        b"",
        b"no final line break",
        b".leading dot\r\n..two\r\n...three\n.\n",
    ];
    for body in bodies {
        for tx in [256, 1024] {
            for chunk in [1, 2, 3, 7, usize::MAX] {
                let data = reference_stuff(body);
                let mut steps = greeted(EHLO_PIPE);
                steps.push(c(format!(
                    "MAIL FROM:<{FROM}>\r\nRCPT TO:<{TO}>\r\nDATA\r\n"
                )));
                steps.push(s("250 ok\r\n250 ok\r\n354 go\r\n"));
                steps.push(c(&data));
                steps.push(s("250 queued\r\n"));
                let mut mock = Mock::new(steps);
                let mut bufs = Bufs::sized(512, tx);
                let r = with_client!(mock, Timer::Never, config(), bufs, |cl| {
                    cl.greet().await.unwrap();
                    let mut st = [RecipientStatus::NotSent];
                    let mut b = Body::new(body);
                    b.chunk = chunk;
                    cl.send(&Envelope::new(FROM, &[TO]), b, &mut st).await
                });
                assert!(r.is_ok(), "body {:?}: {r:?}", show(body));
                mock.assert_finished();
                let log = &mock.log;
                let start = log.windows(6).position(|w| w == b"DATA\r\n").unwrap() + 6;
                let wire = &log[start..];
                check_framing(wire);
                assert_eq!(show(wire), show(&data), "body {:?}", show(body));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Command injection (DESIGN §6.1).

#[test]
fn bad_addresses_are_refused_before_anything_is_sent() {
    let bad = [
        "a\r\nRCPT TO:<x@y>",
        "a\n@b",
        "a\r@b",
        "a\0@b",
        "<a@b>",
        "a>@b",
        "a@b>",
        "a<b@c",
        "a b@c",
        "a@b SIZE=1",
        "a@b\t",
    ];
    for addr in bad {
        for pipelining in [true, false] {
            for as_from in [true, false] {
                let mut steps = greeted(if pipelining { EHLO_PIPE } else { EHLO_PLAIN });
                // After the refusal the connection is still usable and in step.
                steps.push(c("NOOP\r\n"));
                steps.push(s("250 ok\r\n"));
                let mut mock = Mock::new(steps);
                let (r, noop) = with_client!(mock, Timer::Never, config(), |cl| {
                    cl.greet().await.unwrap();
                    let mut st = [RecipientStatus::NotSent; 2];
                    let to = if as_from { [TO, TO] } else { [TO, addr] };
                    let from = if as_from { addr } else { FROM };
                    let r = cl
                        .send(&Envelope::new(from, &to), Body::new(BODY), &mut st)
                        .await;
                    (r, cl.noop().await)
                });
                assert!(
                    matches!(r, Err(Error::InvalidArgument)),
                    "{:?} (from={as_from}, pipelining={pipelining}): {r:?}",
                    show(addr.as_bytes())
                );
                assert!(
                    noop.is_ok(),
                    "{:?}: connection unusable after the refusal: {noop:?}",
                    show(addr.as_bytes())
                );
                mock.assert_finished();
            }
        }
    }
}

#[test]
fn bad_ehlo_names_are_refused_before_anything_is_sent() {
    for name in [
        "client\r\nMAIL FROM:<x@y>",
        "client\n",
        "cli\rent",
        "cl ient",
        "cl\0ient",
        "<client>",
        "client>",
        "",
    ] {
        let mut mock = Mock::new(vec![s(GREETING)]);
        let cfg = ClientConfig {
            client_domain: name,
            ..config()
        };
        let r = with_client!(mock, Timer::Never, cfg, |cl| cl.greet().await);
        assert!(
            matches!(r, Err(Error::InvalidArgument)),
            "{:?}: {r:?}",
            show(name.as_bytes())
        );
        assert!(mock.log.is_empty(), "{:?} wrote {}", name, mock.log_text());
        mock.assert_finished();
    }
}

#[test]
fn credentials_never_go_out_in_clear_unless_allowed() {
    let mut mock = Mock::new(greeted(EHLO_PIPE));
    let cfg = ClientConfig {
        allow_plaintext_auth: false,
        ..config()
    };
    let r = with_client!(mock, Timer::Never, cfg, |cl| {
        cl.greet().await.unwrap();
        cl.authenticate(&creds(), None).await
    });
    assert!(matches!(r, Err(Error::PlaintextAuthRefused)), "{r:?}");
    mock.assert_finished();
    assert_eq!(mock.log_text(), show(EHLO.as_bytes()));
}

// ---------------------------------------------------------------------------------------
// Endless AUTH challenges (DESIGN §6.5).

#[test]
fn endless_auth_challenges_are_bounded() {
    let cases: [(Mechanism, bool, &str, &str); 6] = [
        (
            Mechanism::Login,
            true,
            "AUTH LOGIN\r\n",
            "334 VXNlcm5hbWU6\r\n",
        ),
        (
            Mechanism::CramMd5,
            true,
            "AUTH CRAM-MD5\r\n",
            "334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n",
        ),
        (Mechanism::Plain, true, AUTH_PLAIN_IR, "334 \r\n"),
        (Mechanism::Plain, false, "AUTH PLAIN\r\n", "334 \r\n"),
        (
            Mechanism::XOAuth2,
            true,
            "AUTH XOAUTH2 dXNlcj1hbGljZQFhdXRoPUJlYXJlciBzZWNyZXQBAQ==\r\n",
            "334 eyJzdGF0dXMiOiI0MDEifQ==\r\n",
        ),
        (Mechanism::XOAuth2, false, "AUTH XOAUTH2\r\n", "334 \r\n"),
    ];
    for (mech, ir, auth_line, challenge) in cases {
        let mut steps = greeted(EHLO_PIPE);
        steps.push(c(auth_line));
        steps.push(Step::Forever(challenge.as_bytes().to_vec()));
        let mut mock = Mock::new(steps);
        let cfg = ClientConfig {
            sasl_initial_response: ir,
            ..config()
        };
        let r = with_client!(mock, Timer::Never, cfg, |cl| {
            cl.greet().await.unwrap();
            let r = cl.authenticate(&creds(), Some(mech)).await;
            (r, cl.noop().await)
        });
        assert!(
            matches!(r.0, Err(Error::Protocol(ProtocolError::AuthLoop))),
            "{mech:?} ir={ir}: {:?}",
            r.0
        );
        assert!(matches!(
            r.1,
            Err(Error::Failed(Fatal::Protocol(ProtocolError::AuthLoop)))
        ));
        assert!(mock.failures.is_empty(), "{:?}", mock.failures);
        let lines = mock.log.iter().filter(|&&b| b == b'\n').count();
        assert!(lines <= 4, "{mech:?}: {} lines sent", lines);
    }
}

#[test]
fn non_base64_challenge_is_a_protocol_error() {
    let mut steps = greeted(EHLO_PIPE);
    steps.push(c("AUTH CRAM-MD5\r\n"));
    steps.push(s("334 not base64!\r\n"));
    let mut mock = Mock::new(steps);
    let r = with_client!(mock, Timer::Never, config(), |cl| {
        cl.greet().await.unwrap();
        cl.authenticate(&creds(), Some(Mechanism::CramMd5)).await
    });
    assert!(
        matches!(r, Err(Error::Protocol(ProtocolError::BadChallenge))),
        "{r:?}"
    );
    mock.assert_finished();
}

/// PLAIN and LOGIN do not use the challenge: free text after 334 (not base64) is ignored
/// instead of failing the exchange. CRAM-MD5 (above) needs it and stays strict.
#[test]
fn free_text_challenges_are_ignored_where_unused() {
    for (mech, lines) in [
        (
            Mechanism::Plain,
            vec![
                c("AUTH PLAIN\r\n"),
                s("334 PLAIN supported\r\n"),
                c("AGFsaWNlAHNlY3JldA==\r\n"),
            ],
        ),
        (
            Mechanism::Login,
            vec![
                c("AUTH LOGIN\r\n"),
                s("334 Username:\r\n"),
                c("YWxpY2U=\r\n"),
                s("334 Password:\r\n"),
                c("c2VjcmV0\r\n"),
            ],
        ),
    ] {
        let mut steps = greeted(EHLO_PIPE);
        steps.extend(lines);
        steps.push(s(AUTH_OK));
        let mut mock = Mock::new(steps);
        let cfg = ClientConfig {
            sasl_initial_response: false,
            ..config()
        };
        let r = with_client!(mock, Timer::Never, cfg, |cl| {
            cl.greet().await.unwrap();
            cl.authenticate(&creds(), Some(mech)).await
        });
        assert_eq!(r.unwrap(), mech);
        mock.assert_finished();
    }
}

// ---------------------------------------------------------------------------------------
// Malformed replies.

fn greet_with(server: Vec<Step>, rx: usize) -> (Result<(), Error<ErrorKind>>, Mock) {
    let mut mock = Mock::new(server);
    let mut bufs = Bufs::sized(rx, 1024);
    let r = with_client!(mock, Timer::Never, config(), bufs, |cl| {
        let r = cl.greet().await;
        if let Err(e) = &r
            && e.is_fatal()
        {
            assert!(matches!(cl.noop().await, Err(Error::Failed(_))));
        }
        r
    });
    (r, mock)
}

#[test]
fn endless_multiline_replies_are_bounded() {
    let (r, _) = greet_with(
        vec![Step::Forever(b"220-still greeting\r\n".to_vec())],
        1024,
    );
    assert!(
        matches!(
            r,
            Err(Error::Protocol(ProtocolError::Reply(
                ReplyError::TooManyLines
            )))
        ),
        "{r:?}"
    );
    let (r, _) = greet_with(
        vec![
            s(GREETING),
            c(EHLO),
            Step::Forever(b"250-SIZE 1000\r\n".to_vec()),
        ],
        1024,
    );
    assert!(
        matches!(
            r,
            Err(Error::Protocol(ProtocolError::Reply(
                ReplyError::TooManyLines
            )))
        ),
        "{r:?}"
    );
}

#[test]
fn overlong_lines_are_errors() {
    let long = format!("220 {}\r\n", "x".repeat(300));
    let (r, _) = greet_with(vec![s(long)], 128);
    assert!(
        matches!(r, Err(Error::Protocol(ProtocolError::LineTooLong))),
        "{r:?}"
    );
    // A line that never ends.
    let (r, _) = greet_with(vec![Step::Forever(b"220 xxxxxxxxxxxx".to_vec())], 128);
    assert!(
        matches!(r, Err(Error::Protocol(ProtocolError::LineTooLong))),
        "{r:?}"
    );
    // In the EHLO reply.
    let long = format!("250-{}\r\n250 ok\r\n", "A".repeat(200));
    let (r, _) = greet_with(vec![s(GREETING), c(EHLO), s(long)], 128);
    assert!(
        matches!(r, Err(Error::Protocol(ProtocolError::LineTooLong))),
        "{r:?}"
    );
}

#[test]
fn malformed_greetings_are_protocol_errors() {
    let unexpected = |code: u16| move |e: &Error<ErrorKind>| matches!(e, Error::Protocol(ProtocolError::UnexpectedCode { stage: Stage::Greeting, code: c }) if c.value() == code);
    let malformed = |offset: usize| move |e: &Error<ErrorKind>| matches!(e, Error::Protocol(ProtocolError::Reply(ReplyError::Malformed { offset: o })) if *o == offset);
    let inconsistent = |e: &Error<ErrorKind>| {
        matches!(
            e,
            Error::Protocol(ProtocolError::Reply(ReplyError::InconsistentCode))
        )
    };
    type Check = Box<dyn Fn(&Error<ErrorKind>) -> bool>;
    let cases: Vec<(&[u8], Check)> = vec![
        (b"199 hello\r\n", Box::new(unexpected(199))),
        (b"600 hello\r\n", Box::new(unexpected(600))),
        (b"000 hello\r\n", Box::new(unexpected(0))),
        (b"999\r\n", Box::new(unexpected(999))),
        (b"354 hello\r\n", Box::new(unexpected(354))),
        (b"2200 hello\r\n", Box::new(malformed(3))),
        (b"22 hello\r\n", Box::new(malformed(2))),
        (b"220_hello\r\n", Box::new(malformed(3))),
        (b"\r\n", Box::new(malformed(0))),
        (
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n",
            Box::new(malformed(0)),
        ),
        (b"HTTP/1.1 400 Bad Request\r\n", Box::new(malformed(0))),
        (b"220 he\0llo\r\n", Box::new(malformed(6))),
        (b"220-one\r\n250 two\r\n", Box::new(inconsistent)),
        (
            b"220-one\r\n220-two\r\n221 three\r\n",
            Box::new(inconsistent),
        ),
        (b"220-one\r\n2x0 two\r\n", Box::new(malformed(1))),
    ];
    for (bytes, check) in cases {
        let (r, _) = greet_with(vec![s(bytes)], 1024);
        let e = r.expect_err(&show(bytes));
        assert!(check(&e), "{:?}: {e:?}", show(bytes));
        assert!(e.is_fatal());
    }
    // 554 greeting: a refusal, fatal.
    let (r, _) = greet_with(vec![s("554 no service\r\n")], 1024);
    assert!(
        matches!(&r, Err(e) if is_rejected(e, Stage::Greeting, 554) && e.is_fatal()),
        "{r:?}"
    );
}

#[test]
fn bad_codes_later_in_the_session() {
    // 199 to EHLO.
    let (r, _) = greet_with(vec![s(GREETING), c(EHLO), s("199 what\r\n")], 1024);
    assert!(
        matches!(r, Err(Error::Protocol(ProtocolError::UnexpectedCode { stage: Stage::Ehlo, code })) if code.value() == 199),
        "{r:?}"
    );
    // 354 after the data: not a success.
    let mut steps = greeted(EHLO_PIPE);
    steps.push(c(format!(
        "MAIL FROM:<{FROM}>\r\nRCPT TO:<{TO}>\r\nDATA\r\n"
    )));
    steps.push(s("250 ok\r\n250 ok\r\n354 go\r\n"));
    steps.push(c(reference_stuff(BODY)));
    steps.push(s("354 again\r\n"));
    let mut mock = Mock::new(steps);
    let r = with_client!(mock, Timer::Never, config(), |cl| {
        cl.greet().await.unwrap();
        let mut st = [RecipientStatus::NotSent];
        cl.send(&Envelope::new(FROM, &[TO]), Body::new(BODY), &mut st)
            .await
    });
    assert!(
        matches!(r, Err(Error::Protocol(ProtocolError::UnexpectedCode { stage: Stage::DataEnd, code })) if code.value() == 354),
        "{r:?}"
    );
    mock.assert_finished();
    // An extra reply nobody asked for, received while the body should go out.
    let mut steps = greeted(EHLO_PIPE);
    steps.push(c(format!(
        "MAIL FROM:<{FROM}>\r\nRCPT TO:<{TO}>\r\nDATA\r\n"
    )));
    steps.push(s("250 ok\r\n250 ok\r\n354 go\r\n250 surprise\r\n"));
    let mut mock = Mock::new(steps);
    let r = with_client!(mock, Timer::Never, config(), |cl| {
        cl.greet().await.unwrap();
        let mut st = [RecipientStatus::NotSent];
        cl.send(&Envelope::new(FROM, &[TO]), Body::new(BODY), &mut st)
            .await
    });
    assert!(
        matches!(r, Err(Error::Protocol(ProtocolError::UnsolicitedReply))),
        "{r:?}"
    );
    mock.assert_finished();
}

// ---------------------------------------------------------------------------------------
// Timeouts: a server that never answers.

fn hang_at(stage: Stage) {
    // The script up to the point where the server stops answering.
    let mut steps = greeted(EHLO_PIPE);
    match stage {
        Stage::Greeting => steps.clear(),
        Stage::Ehlo => steps.truncate(2),
        Stage::StartTls => steps.push(c("STARTTLS\r\n")),
        Stage::Auth => steps.push(c(AUTH_PLAIN_IR)),
        Stage::Noop => steps.push(c("NOOP\r\n")),
        Stage::Rset => steps.push(c("RSET\r\n")),
        Stage::Quit => steps.push(c("QUIT\r\n")),
        Stage::MailFrom | Stage::RcptTo | Stage::Data | Stage::DataEnd => {
            steps.push(c(format!(
                "MAIL FROM:<{FROM}>\r\nRCPT TO:<{TO}>\r\nDATA\r\n"
            )));
            match stage {
                Stage::RcptTo => steps.push(s("250 ok\r\n")),
                Stage::Data => steps.push(s("250 ok\r\n250 ok\r\n")),
                Stage::DataEnd => {
                    steps.push(s("250 ok\r\n250 ok\r\n354 go\r\n"));
                    steps.push(c(reference_stuff(BODY)));
                }
                _ => {}
            }
        }
        _ => unreachable!(),
    }
    steps.push(Step::Hang);
    let mut mock = Mock::new(steps);
    let (r, later) = with_client!(mock, Timer::Immediate, config(), |cl| {
        let r = async {
            cl.greet().await?;
            match stage {
                Stage::StartTls => cl.starttls().await?,
                Stage::Auth => {
                    cl.authenticate(&creds(), Some(Mechanism::Plain)).await?;
                }
                Stage::Noop => cl.noop().await?,
                Stage::Rset => cl.reset().await?,
                Stage::Quit => cl.quit().await?,
                Stage::MailFrom | Stage::RcptTo | Stage::Data | Stage::DataEnd => {
                    let mut st = [RecipientStatus::NotSent];
                    cl.send(&Envelope::new(FROM, &[TO]), Body::new(BODY), &mut st)
                        .await?;
                }
                _ => {}
            }
            Ok::<(), Error<ErrorKind>>(())
        }
        .await;
        (r, cl.noop().await)
    });
    assert!(
        matches!(r, Err(Error::Timeout(s)) if s == stage),
        "hang at {stage:?}: {r:?}"
    );
    assert!(
        matches!(later, Err(Error::Failed(Fatal::Timeout(s))) if s == stage),
        "after timeout at {stage:?}: {later:?}"
    );
    assert!(mock.failures.is_empty(), "{:?}", mock.failures);
}

#[test]
fn hanging_server_times_out_with_the_right_stage() {
    for stage in [
        Stage::Greeting,
        Stage::Ehlo,
        Stage::StartTls,
        Stage::Auth,
        Stage::MailFrom,
        Stage::RcptTo,
        Stage::Data,
        Stage::DataEnd,
        Stage::Noop,
        Stage::Rset,
        Stage::Quit,
    ] {
        hang_at(stage);
    }
}

#[test]
fn hanging_server_without_pipelining_times_out_with_the_right_stage() {
    for (stage, replies) in [
        (Stage::MailFrom, 0),
        (Stage::RcptTo, 1),
        (Stage::Data, 2),
        (Stage::DataEnd, 3),
    ] {
        let mut steps = greeted(EHLO_PLAIN);
        let exchange = [
            (format!("MAIL FROM:<{FROM}>\r\n"), "250 ok\r\n"),
            (format!("RCPT TO:<{TO}>\r\n"), "250 ok\r\n"),
            ("DATA\r\n".to_string(), "354 go\r\n"),
        ];
        for (i, (cmd, reply)) in exchange.iter().enumerate() {
            steps.push(c(cmd));
            if i < replies {
                steps.push(s(reply));
            } else {
                break;
            }
        }
        if replies == 3 {
            steps.push(c(reference_stuff(BODY)));
        }
        steps.push(Step::Hang);
        let mut mock = Mock::new(steps);
        let r = with_client!(mock, Timer::Immediate, config(), |cl| {
            cl.greet().await.unwrap();
            let mut st = [RecipientStatus::NotSent];
            cl.send(&Envelope::new(FROM, &[TO]), Body::new(BODY), &mut st)
                .await
        });
        assert!(
            matches!(r, Err(Error::Timeout(s)) if s == stage),
            "{stage:?}: {r:?}"
        );
        assert!(mock.failures.is_empty(), "{:?}", mock.failures);
    }
}

// ---------------------------------------------------------------------------------------
// STARTTLS (DESIGN §6.3).

#[test]
fn bytes_after_starttls_go_ahead_abort() {
    for extra in [
        &b"250-injected\r\n"[..],
        b"2",
        b"\r\n",
        b"250 AUTH PLAIN\r\n250 ok\r\n",
    ] {
        let mut go = b"220 2.0.0 Ready to start TLS\r\n".to_vec();
        go.extend_from_slice(extra);
        let mut steps = greeted(EHLO_PIPE);
        steps.push(c("STARTTLS\r\n"));
        steps.push(Step::S(go));
        let mut mock = Mock::new(steps);
        let mut bufs = Bufs::new();
        let mut cl = client(&mut mock, Timer::Never, &mut bufs, config());
        let (r, later) = run(async {
            cl.greet().await.unwrap();
            let r = cl.starttls().await;
            (r, cl.noop().await)
        });
        assert!(
            matches!(r, Err(Error::Protocol(ProtocolError::DataAfterStartTls))),
            "{:?}: {r:?}",
            show(extra)
        );
        assert!(matches!(
            later,
            Err(Error::Failed(Fatal::Protocol(
                ProtocolError::DataAfterStartTls
            )))
        ));
        // The handshake cannot be started on this connection.
        assert!(cl.into_starttls().is_err());
        assert!(mock.failures.is_empty(), "{:?}", mock.failures);
    }
}

#[test]
fn starttls_not_offered_or_refused() {
    // Not offered: nothing is sent, no fallback.
    let mut mock = Mock::new(greeted("250-mx\r\n250 PIPELINING\r\n"));
    let r = with_client!(mock, Timer::Never, config(), |cl| {
        cl.greet().await.unwrap();
        cl.starttls().await
    });
    assert!(matches!(r, Err(Error::StartTlsUnavailable)), "{r:?}");
    mock.assert_finished();
    assert_eq!(mock.log_text(), show(EHLO.as_bytes()));

    // 454: refused, the client stays in plain text and cannot start the handshake.
    let mut steps = greeted(EHLO_PIPE);
    steps.push(c("STARTTLS\r\n"));
    steps.push(s("454 4.7.0 TLS not available due to local problem\r\n"));
    let mut mock = Mock::new(steps);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, config());
    let r = run(async {
        cl.greet().await.unwrap();
        cl.starttls().await
    });
    assert!(
        matches!(&r, Err(e) if is_rejected(e, Stage::StartTls, 454) && !e.is_fatal()),
        "{r:?}"
    );
    assert!(!cl.is_tls());
    assert!(cl.into_starttls().is_err());
    mock.assert_finished();
}

#[test]
fn capabilities_are_forgotten_after_starttls() {
    for send_first in [false, true] {
        let mut steps = greeted(EHLO_PIPE);
        steps.push(c("STARTTLS\r\n"));
        steps.push(s("220 go ahead\r\n"));
        if !send_first {
            // After the handshake the client says EHLO again before anything else.
            steps.push(c(EHLO));
            steps.push(s("250-mx\r\n250 AUTH PLAIN\r\n"));
        }
        let mut mock = Mock::new(steps);
        let mut bufs = Bufs::new();
        let mut cl = client(&mut mock, Timer::Never, &mut bufs, config());
        run(async {
            cl.greet().await.unwrap();
            cl.starttls().await.unwrap();
        });
        let (io, half) = cl.into_starttls().ok().unwrap();
        let mut cl = half.resume(io);
        assert!(cl.is_tls());
        assert!(!cl.capabilities().pipelining && !cl.capabilities().starttls);
        if send_first {
            // Mail before the new EHLO is refused, and nothing goes out.
            let mut st = [RecipientStatus::NotSent];
            let r = run(cl.send(&Envelope::new(FROM, &[TO]), Body::new(BODY), &mut st));
            assert!(
                matches!(r, Err(Error::Protocol(ProtocolError::OutOfSequence))),
                "{r:?}"
            );
        } else {
            run(cl.ehlo()).unwrap();
            assert!(!cl.capabilities().pipelining && cl.capabilities().auth.has_plain());
        }
        mock.assert_finished();
    }
}

// ---------------------------------------------------------------------------------------
// 421 at any stage.

#[test]
fn service_closing_is_fatal_at_every_stage() {
    let r421 = "421 4.3.2 Service shutting down\r\n";
    let mail3 = format!("MAIL FROM:<{FROM}>\r\nRCPT TO:<{TO}>\r\nDATA\r\n");
    let scripts: Vec<(Stage, Vec<Step>)> = vec![
        (Stage::Greeting, vec![s(r421)]),
        (Stage::Ehlo, vec![s(GREETING), c(EHLO), s(r421)]),
        (Stage::Auth, {
            let mut v = greeted(EHLO_PIPE);
            v.extend([c(AUTH_PLAIN_IR), s(r421)]);
            v
        }),
        (Stage::MailFrom, {
            let mut v = greeted(EHLO_PIPE);
            v.extend([c(&mail3), s(r421)]);
            v
        }),
        (Stage::RcptTo, {
            let mut v = greeted(EHLO_PLAIN);
            v.extend([
                c(format!("MAIL FROM:<{FROM}>\r\n")),
                s("250 ok\r\n"),
                c(format!("RCPT TO:<{TO}>\r\n")),
                s(r421),
            ]);
            v
        }),
        (Stage::Data, {
            let mut v = greeted(EHLO_PIPE);
            v.extend([c(&mail3), s("250 ok\r\n250 ok\r\n"), s(r421)]);
            v
        }),
        (Stage::DataEnd, {
            let mut v = greeted(EHLO_PIPE);
            v.extend([
                c(&mail3),
                s("250 ok\r\n250 ok\r\n354 go\r\n"),
                c(reference_stuff(BODY)),
                s(r421),
            ]);
            v
        }),
        (Stage::Noop, {
            let mut v = greeted(EHLO_PIPE);
            v.extend([c("NOOP\r\n"), s(r421)]);
            v
        }),
    ];
    for (stage, steps) in scripts {
        let mut mock = Mock::new(steps);
        let mut st = [RecipientStatus::NotSent];
        let (r, later) = with_client!(mock, Timer::Never, config(), |cl| {
            let r = async {
                cl.greet().await?;
                match stage {
                    Stage::Auth => {
                        cl.authenticate(&creds(), Some(Mechanism::Plain)).await?;
                    }
                    Stage::Noop => cl.noop().await?,
                    Stage::MailFrom | Stage::RcptTo | Stage::Data | Stage::DataEnd => {
                        cl.send(&Envelope::new(FROM, &[TO]), Body::new(BODY), &mut st)
                            .await?;
                    }
                    _ => {}
                }
                Ok::<(), Error<ErrorKind>>(())
            }
            .await;
            (r, cl.quit().await)
        });
        let e = r.expect_err("421 must fail");
        assert!(is_rejected(&e, stage, 421), "{stage:?}: {e:?}");
        assert!(e.is_fatal(), "{stage:?}");
        assert!(
            matches!(later, Err(Error::Failed(Fatal::Rejected(Rejection { code, .. }))) if code.value() == 421),
            "{stage:?}: later call gave {later:?}"
        );
        // The later call (QUIT) sent nothing.
        mock.assert_finished();
    }
}

// ---------------------------------------------------------------------------------------
// Transactions that fail.

#[test]
fn all_recipients_refused_but_354_sends_no_body() {
    let mut steps = greeted(EHLO_PIPE);
    steps.push(c(format!(
        "MAIL FROM:<{FROM}>\r\nRCPT TO:<{TO}>\r\nRCPT TO:<carol@example.test>\r\nDATA\r\n"
    )));
    steps.push(s(
        "250 ok\r\n550 5.1.1 no such user\r\n450 4.2.1 try later\r\n354 go ahead anyway\r\n",
    ));
    steps.push(c(".\r\n"));
    steps.push(s("554 5.5.1 Error: no valid recipients\r\n"));
    steps.push(c("NOOP\r\n"));
    steps.push(s("250 ok\r\n"));
    let mut mock = Mock::new(steps);
    let mut body = Body::new(b"SECRET BODY\r\n");
    let mut st = [RecipientStatus::NotSent; 2];
    let (r, noop) = with_client!(mock, Timer::Never, config(), |cl| {
        cl.greet().await.unwrap();
        let r = cl
            .send(
                &Envelope::new(FROM, &[TO, "carol@example.test"]),
                &mut body,
                &mut st,
            )
            .await;
        (r, cl.noop().await)
    });
    assert!(matches!(r, Err(Error::NoRecipientsAccepted)), "{r:?}");
    assert!(matches!(st[0], RecipientStatus::Refused(r) if r.code.value() == 550));
    assert!(
        matches!(st[1], RecipientStatus::Refused(r) if r.code.value() == 450 && r.is_transient())
    );
    assert_eq!(body.reads, 0, "the body source was read");
    noop.unwrap();
    mock.assert_finished();
    assert!(!mock.log_text().contains("SECRET"));
}

#[test]
fn all_recipients_refused_without_pipelining_sends_no_data() {
    let mut steps = greeted(EHLO_PLAIN);
    steps.extend([
        c(format!("MAIL FROM:<{FROM}>\r\n")),
        s("250 ok\r\n"),
        c(format!("RCPT TO:<{TO}>\r\n")),
        s("550 no\r\n"),
        c("RSET\r\n"),
        s("250 ok\r\n"),
    ]);
    let mut mock = Mock::new(steps);
    let mut st = [RecipientStatus::NotSent];
    let r = with_client!(mock, Timer::Never, config(), |cl| {
        cl.greet().await.unwrap();
        cl.send(&Envelope::new(FROM, &[TO]), Body::new(BODY), &mut st)
            .await
    });
    assert!(matches!(r, Err(Error::NoRecipientsAccepted)), "{r:?}");
    mock.assert_finished();
}

#[test]
fn mail_refused_with_pipelining_resets() {
    let mut steps = greeted(EHLO_PIPE);
    steps.push(c(format!(
        "MAIL FROM:<{FROM}>\r\nRCPT TO:<{TO}>\r\nDATA\r\n"
    )));
    steps.push(s(
        "550 5.7.1 sender rejected\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need RCPT\r\n",
    ));
    steps.push(c("RSET\r\n"));
    steps.push(s("250 2.0.0 Ok\r\n"));
    let mut mock = Mock::new(steps);
    let mut st = [RecipientStatus::NotSent];
    let r = with_client!(mock, Timer::Never, config(), |cl| {
        cl.greet().await.unwrap();
        let r = cl
            .send(&Envelope::new(FROM, &[TO]), Body::new(BODY), &mut st)
            .await;
        assert_eq!(cl.session().first_refusal_text(), b"5.7.1 sender rejected");
        r
    });
    let e = r.unwrap_err();
    assert!(is_rejected(&e, Stage::MailFrom, 550), "{e:?}");
    assert!(!e.is_fatal());
    assert_ne!(st[0], RecipientStatus::Accepted);
    mock.assert_finished();
}

#[test]
fn refusal_after_the_data_is_not_a_success() {
    for (code, text) in [
        (554, "554 5.7.1 spam\r\n"),
        (451, "451 4.3.0 try again\r\n"),
    ] {
        let mut steps = greeted(EHLO_PIPE);
        steps.push(c(format!(
            "MAIL FROM:<{FROM}>\r\nRCPT TO:<{TO}>\r\nRCPT TO:<carol@example.test>\r\nDATA\r\n"
        )));
        steps.push(s("250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n"));
        steps.push(c(reference_stuff(BODY)));
        steps.push(s(text));
        steps.push(c("NOOP\r\n"));
        steps.push(s("250 ok\r\n"));
        let mut mock = Mock::new(steps);
        let mut st = [RecipientStatus::NotSent; 2];
        let (r, noop) = with_client!(mock, Timer::Never, config(), |cl| {
            cl.greet().await.unwrap();
            let r = cl
                .send(
                    &Envelope::new(FROM, &[TO, "carol@example.test"]),
                    Body::new(BODY),
                    &mut st,
                )
                .await;
            (r, cl.noop().await)
        });
        let e = r.unwrap_err();
        assert!(is_rejected(&e, Stage::DataEnd, code), "{e:?}");
        assert!(
            !st.contains(&RecipientStatus::Accepted),
            "status still says Accepted: {st:?}"
        );
        noop.unwrap();
        mock.assert_finished();
    }
}

#[test]
fn body_read_failure_never_terminates_the_data() {
    let big: Vec<u8> = b"line of the body\r\n".repeat(200);
    for tx in [256, 1024, 8192] {
        let mut steps = greeted(EHLO_PIPE);
        steps.push(c(format!(
            "MAIL FROM:<{FROM}>\r\nRCPT TO:<{TO}>\r\nDATA\r\n"
        )));
        steps.push(s("250 ok\r\n250 ok\r\n354 go\r\n"));
        // Whatever the client sends from now on is swallowed; it must not read (the server
        // would report a close).
        steps.push(Step::Close);
        let mut mock = Mock::new(steps);
        let mut bufs = Bufs::sized(1024, tx);
        let mut st = [RecipientStatus::NotSent];
        let (r, later) = with_client!(mock, Timer::Never, config(), bufs, |cl| {
            cl.greet().await.unwrap();
            let mut body = Body::new(&big);
            body.chunk = 100;
            body.fail_with = Some(ErrorKind::BrokenPipe);
            let r = cl.send(&Envelope::new(FROM, &[TO]), body, &mut st).await;
            (r, cl.noop().await)
        });
        assert!(
            matches!(r, Err(Error::BodyRead(ErrorKind::BrokenPipe))),
            "tx {tx}: {r:?}"
        );
        assert!(matches!(
            later,
            Err(Error::Failed(Fatal::BodyRead(ErrorKind::BrokenPipe)))
        ));
        let log = &mock.log;
        let start = log.windows(6).position(|w| w == b"DATA\r\n").unwrap() + 4;
        let after = &log[start..];
        assert!(
            !after.windows(5).any(|w| w == b"\r\n.\r\n"),
            "tx {tx}: the data was terminated after a body read error"
        );
        assert!(mock.failures.is_empty(), "{:?}", mock.failures);
    }
}

/// A refused recipient in the middle is reported; the others receive the message.
#[test]
fn partial_acceptance_is_reported_per_recipient() {
    let sess = full_session(true, false);
    let mut mock = Mock::new(sess.steps);
    let (out, err) = drive(&mut mock, false);
    assert!(err.is_none());
    assert_eq!(out.status[0], RecipientStatus::Accepted);
    assert!(matches!(out.status[1], RecipientStatus::Refused(r) if r.stage == Stage::RcptTo));
    mock.assert_finished();
}
