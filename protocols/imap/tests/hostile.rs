#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]
//! The IMAP client against hostile or broken servers, and the security rules (DESIGN §6):
//! every wait, line, literal and challenge loop is bounded; a cut connection never yields a
//! success the server did not confirm; injected bytes abort; credentials never go out in
//! clear text unless allowed; bodies stream through small buffers whatever the chunking.

mod common;

use common::client::{Body, Bufs, Cl, Mock, Step, Timer, c, client, plain_config, run, s, show};
use embedded_io_async::ErrorKind;
use postwire_core::sasl::{Credentials, Mechanism};
use postwire_imap::client::{
    ClientConfig, Error, Fatal, FetchEvent, IdleControl, IdleEnd, IdleEvent, MIN_RX, MIN_TX,
    ProtocolError, RefusalCode, Rejection, Stage, UidPlus,
};
use postwire_imap::proto::{Cap, State};
use postwire_imap::wire::{self, FetchAttr, FetchItem, SearchKey, SeqRange, StoreMode};
use proptest::prelude::*;

/// A PREAUTH greeting with `IMAP4rev1` and `caps` (the client runs with implicit TLS), the
/// SELECT of INBOX (3 messages), then `rest`.
fn selected(caps: &str, rest: Vec<Step>) -> Vec<Step> {
    let mut v = vec![
        s(format!(
            "* PREAUTH [CAPABILITY {}] ready\r\n",
            cap_list(caps)
        )),
        c("A1 SELECT INBOX\r\n"),
        s(
            "* 3 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 9] n\r\n\
           A1 OK [READ-WRITE] selected\r\n",
        ),
    ];
    v.extend(rest);
    v
}

fn cap_list(caps: &str) -> String {
    format!("IMAP4rev1 {caps}").trim().to_string()
}

/// Greets and selects INBOX (see [`selected`]).
macro_rules! session {
    ($mock:ident, $bufs:ident, $cl:ident, $cfg:expr, $timer:expr) => {
        let mut $bufs = Bufs::new();
        session!($mock, $bufs, $cl, $cfg, $timer, sized);
    };
    ($mock:ident, $bufs:ident, $cl:ident, $cfg:expr, $timer:expr, sized) => {
        let mut $cl = client(&mut $mock, $timer, &mut $bufs, $cfg);
        $cl.set_implicit_tls();
        run(async {
            $cl.greet().await.unwrap();
            $cl.select("INBOX").await.unwrap();
        });
    };
}

fn cfg() -> ClientConfig {
    ClientConfig {
        enable_extensions: false,
        ..ClientConfig::default()
    }
}

/// Fetched bytes of every body section, inline or streamed.
fn collect_body(body: &mut Vec<u8>, ev: FetchEvent<'_>) {
    match ev {
        FetchEvent::Message { items, .. } => {
            for it in items {
                if let FetchItem::Section(Some(v)) = it {
                    v.chunks().for_each(|ch| body.extend_from_slice(ch));
                }
            }
        }
        FetchEvent::Data { data, .. } => body.extend_from_slice(data),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------
// A connection cut anywhere.

/// One command of the scripted session: what the client sends and the server's answer
/// (several pairs for commands with continuations).
struct Exchange {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

fn ex(pairs: &[(&str, &[u8])]) -> Exchange {
    Exchange {
        pairs: pairs
            .iter()
            .map(|(c, s)| (c.as_bytes().to_vec(), s.to_vec()))
            .collect(),
    }
}

fn cut_session_body() -> Vec<u8> {
    (0..1500u32)
        .map(|i| {
            if i % 60 == 59 {
                b'\n'
            } else {
                b'a' + (i % 26) as u8
            }
        })
        .collect()
}

fn cut_session() -> Vec<Exchange> {
    let body = cut_session_body();
    let mut fetch = format!("* 2 FETCH (UID 5 BODY[] {{{}}}\r\n", body.len()).into_bytes();
    fetch.extend_from_slice(&body);
    fetch.extend_from_slice(b")\r\nA3 OK done\r\n");
    vec![
        ex(&[(
            "",
            b"* OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS IDLE] ready\r\n",
        )]),
        ex(&[(
            "A1 LOGIN u p\r\n",
            b"A1 OK [CAPABILITY IMAP4rev1 LITERAL+ UIDPLUS IDLE] in\r\n",
        )]),
        ex(&[(
            "A2 SELECT INBOX\r\n",
            b"* 3 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\nA2 OK [READ-WRITE] ok\r\n",
        )]),
        Exchange {
            pairs: vec![(b"A3 UID FETCH 5 (UID BODY.PEEK[])\r\n".to_vec(), fetch)],
        },
        ex(&[(
            "A4 UID STORE 5 +FLAGS.SILENT (\\Seen)\r\n",
            b"* 2 FETCH (FLAGS (\\Seen) UID 5)\r\nA4 OK stored\r\n",
        )]),
        ex(&[(
            "A5 APPEND INBOX {5+}\r\nhello\r\n",
            b"* 4 EXISTS\r\nA5 OK [APPENDUID 7 10] ok\r\n",
        )]),
        ex(&[
            ("A6 IDLE\r\n", b"+ idling\r\n* 5 EXISTS\r\n"),
            ("DONE\r\n", b"A6 OK idle done\r\n"),
        ]),
        ex(&[("A7 LOGOUT\r\n", b"* BYE bye\r\nA7 OK out\r\n")]),
    ]
}

/// The script with the server's bytes cut after `cut` bytes (then the connection closes).
fn cut_script(session: &[Exchange], cut: usize) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut at = 0;
    for e in session {
        for (cl, sv) in &e.pairs {
            if !cl.is_empty() {
                steps.push(Step::C(cl.clone()));
            }
            if at + sv.len() <= cut {
                steps.push(Step::S(sv.clone()));
                at += sv.len();
            } else {
                if cut > at {
                    steps.push(Step::S(sv[..cut - at].to_vec()));
                }
                steps.push(Step::Close);
                return steps;
            }
        }
    }
    steps
}

/// Runs the session's operations; one result per operation (`Ok` or the error's text and
/// whether it is fatal).
fn run_cut_session(mock: &mut Mock) -> Vec<Result<(), (String, bool)>> {
    let mut bufs = Bufs::new();
    let mut cl = client(mock, Timer::Never, &mut bufs, plain_config());
    let res = |r: Result<(), Error<ErrorKind>>| r.map_err(|e| (format!("{e:?}"), e.is_fatal()));
    run(async {
        let mut out = Vec::new();
        out.push(res(cl.greet().await.map(|_| ())));
        out.push(res(cl.login("u", "p").await));
        out.push(res(cl.select("INBOX").await.map(|_| ())));
        let mut got = Vec::new();
        let r = cl
            .fetch_body_with(5, "", |ch| {
                got.extend_from_slice(ch);
                Ok(())
            })
            .await;
        if r.is_ok() {
            assert_eq!(got, cut_session_body());
        }
        out.push(res(r.map(|_| ())));
        out.push(res(cl
            .store(
                true,
                &[SeqRange::one(5)],
                StoreMode::Add,
                &["\\Seen"],
                true,
                |_| {},
            )
            .await));
        let mut body = Body::new(b"hello");
        out.push(res(cl
            .append("INBOX", &[], None, 5, &mut body)
            .await
            .map(|_| ())));
        out.push(res(cl
            .idle(core::future::pending::<()>(), |ev| {
                if matches!(ev, IdleEvent::Exists(_)) {
                    IdleControl::Stop
                } else {
                    IdleControl::Continue
                }
            })
            .await
            .map(|_| ())));
        out.push(res(cl.logout().await));
        out
    })
}

/// The server closes the connection after every possible byte offset of a session: an
/// operation succeeds only if its tagged OK (for LOGOUT: the BYE) arrived completely; every
/// failure is fatal and every later call fails too; nothing panics or hangs.
#[test]
fn connection_cut_at_every_byte() {
    let session = cut_session();
    // Where each operation's confirmation ends in the server's byte stream.
    let mut ends = Vec::new();
    let mut at = 0;
    for (i, e) in session.iter().enumerate() {
        for (_, sv) in &e.pairs {
            at += sv.len();
        }
        let last = &e.pairs.last().unwrap().1;
        ends.push(if i == session.len() - 1 {
            // LOGOUT succeeds once the BYE is in (servers may close without the OK).
            at - last.len() + b"* BYE bye\r\n".len()
        } else {
            at
        });
    }
    let total = at;
    // The whole session passes.
    let mut mock = Mock::new(cut_script(&session, total));
    assert!(run_cut_session(&mut mock).iter().all(Result::is_ok));
    mock.assert_finished();
    for cut in 0..total {
        let mut mock = Mock::new(cut_script(&session, cut));
        let results = run_cut_session(&mut mock);
        assert!(mock.failures.is_empty(), "cut {cut}: {:?}", mock.failures);
        let mut failed = false;
        for (i, r) in results.iter().enumerate() {
            match r {
                Ok(()) => {
                    assert!(
                        !failed,
                        "cut {cut}: operation {i} succeeded after a failure"
                    );
                    assert!(
                        cut >= ends[i],
                        "cut {cut}: operation {i} succeeded without its confirmation (ends at {})",
                        ends[i]
                    );
                }
                Err((e, fatal)) => {
                    assert!(*fatal, "cut {cut}: operation {i}: {e} is not fatal");
                    if failed {
                        assert!(e.starts_with("Failed("), "cut {cut}: operation {i}: {e}");
                    } else {
                        assert!(
                            e.starts_with("ConnectionClosed(") || e.starts_with("Bye("),
                            "cut {cut}: operation {i}: {e}"
                        );
                    }
                    failed = true;
                }
            }
        }
        if cut < ends[ends.len() - 1] {
            assert!(failed, "cut {cut}: everything succeeded");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Over-long lines and literals.

#[test]
fn overlong_untagged_line_is_skipped_and_the_connection_stays_usable() {
    let long = format!("* OK {}\r\n", "x".repeat(400));
    let mut mock = Mock::new(selected(
        "",
        vec![
            c("A2 NOOP\r\n"),
            s(format!("{long}* 4 EXISTS\r\nA2 OK done\r\n")),
            c("A3 NOOP\r\n"),
            s("A3 OK done\r\n"),
        ],
    ));
    let mut bufs = Bufs::sized(MIN_RX, MIN_TX);
    session!(mock, bufs, cl, cfg(), Timer::Never, sized);
    let e = run(cl.noop()).unwrap_err();
    assert!(
        matches!(e, Error::ResponseSkipped(wire::Error::LineTooLong)),
        "{e:?}"
    );
    assert!(!e.is_fatal());
    // The response after the skipped one was read.
    assert_eq!(cl.mailbox().exists, 4);
    run(cl.noop()).unwrap();
    mock.assert_finished();
}

/// A FETCH line too long for the buffer that ends in a literal: the literal is skipped with
/// it, never read as protocol (its bytes look like the command's tagged OK).
#[test]
fn overlong_line_with_literal_is_skipped_whole() {
    let mut mock = Mock::new(selected(
        "",
        vec![
            c("A2 FETCH 1 ENVELOPE\r\n"),
            s(format!(
                "* 1 FETCH (ENVELOPE (NIL \"{}\" NIL NIL NIL NIL NIL NIL NIL NIL) BODY[] {{12}}\r\n\
                 A2 OK fake\r\n)\r\nA2 OK done\r\n",
                "s".repeat(300)
            )),
            c("A3 NOOP\r\n"),
            s("A3 OK done\r\n"),
        ],
    ));
    let mut bufs = Bufs::sized(MIN_RX, MIN_TX);
    session!(mock, bufs, cl, cfg(), Timer::Never, sized);
    let mut n = 0;
    let e = run(
        cl.fetch(false, &[SeqRange::one(1)], &[FetchAttr::Envelope], |_| {
            n += 1;
            Ok(())
        }),
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::ResponseSkipped(wire::Error::LineTooLong)),
        "{e:?}"
    );
    assert_eq!(n, 0);
    assert_eq!(cl.last_response_text(), b"done");
    run(cl.noop()).unwrap();
    mock.assert_finished();
}

/// A tagged completion too long for the buffer cannot be recognised: the command never
/// completes and the wait is bounded by the timeout (fatal).
#[test]
fn overlong_tagged_line_times_out() {
    let mut mock = Mock::new(selected(
        "",
        vec![
            c("A2 NOOP\r\n"),
            s(format!("A2 OK {}\r\n", "y".repeat(400))),
            Step::Hang,
        ],
    ));
    let mut bufs = Bufs::sized(MIN_RX, MIN_TX);
    session!(mock, bufs, cl, cfg(), Timer::Immediate, sized);
    let e = run(cl.noop()).unwrap_err();
    assert!(matches!(e, Error::Timeout(Stage::Noop)), "{e:?}");
    assert!(e.is_fatal());
}

#[test]
fn overlong_greeting_is_fatal() {
    let mut mock = Mock::new(vec![s(format!("* OK {}\r\n", "g".repeat(400)))]);
    let mut bufs = Bufs::sized(MIN_RX, MIN_TX);
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, cfg());
    let e = run(cl.greet()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Protocol(ProtocolError::Wire(wire::Error::LineTooLong))
        ),
        "{e:?}"
    );
    assert!(e.is_fatal());
}

/// `{4294967295}`: above `max_literal`, fatal at once; the client never tries to read it.
#[test]
fn huge_literal_announcement_is_fatal_and_bounded() {
    for announce in [
        &b"* 1 FETCH (BODY[] {4294967295}\r\n"[..],
        b"* OK {4294967295}\r\n",
        b"* 1 FETCH (BODY[] {99999999999999999999999}\r\n",
    ] {
        let mut mock = Mock::new(selected(
            "",
            vec![
                c("A2 UID FETCH 1 (UID BODY.PEEK[])\r\n"),
                s(announce),
                Step::Forever(vec![b'x'; 4096]),
            ],
        ));
        session!(mock, bufs, cl, cfg(), Timer::Never);
        let e = run(cl.fetch_body_with(1, "", |_| Ok(()))).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Protocol(ProtocolError::Wire(
                    wire::Error::LiteralOverLimit { .. } | wire::Error::Malformed { .. }
                ))
            ),
            "{}: {e:?}",
            show(announce)
        );
        assert!(e.is_fatal());
        assert!(matches!(
            run(cl.noop()),
            Err(Error::Failed(Fatal::Protocol(_)))
        ));
        assert!(
            mock.read_log.len() < 100_000,
            "read {}",
            mock.read_log.len()
        );
    }
}

#[test]
fn literal_limit_is_configurable() {
    let mut mock = Mock::new(selected(
        "",
        vec![
            c("A2 UID FETCH 1 (UID BODY.PEEK[])\r\n"),
            s("* 1 FETCH (UID 1 BODY[] {2001}\r\n"),
            Step::Forever(vec![b'x'; 100]),
        ],
    ));
    let config = ClientConfig {
        max_literal: 2000,
        ..cfg()
    };
    session!(mock, bufs, cl, config, Timer::Never);
    let e = run(cl.fetch_body_with(1, "", |_| Ok(()))).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Protocol(ProtocolError::Wire(wire::Error::LiteralOverLimit {
                len: 2001
            }))
        ),
        "{e:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Protocol violations.

#[test]
fn unknown_tag_is_fatal() {
    let mut mock = Mock::new(selected(
        "",
        vec![c("A2 NOOP\r\n"), s("* 4 EXISTS\r\nA9 OK done\r\n")],
    ));
    session!(mock, bufs, cl, cfg(), Timer::Never);
    let e = run(cl.noop()).unwrap_err();
    assert!(
        matches!(e, Error::Protocol(ProtocolError::UnknownTag)),
        "{e:?}"
    );
    assert!(e.is_fatal());
    assert!(matches!(
        run(cl.noop()),
        Err(Error::Failed(Fatal::Protocol(ProtocolError::UnknownTag)))
    ));
    assert_eq!(cl.session().state(), State::Logout);
    mock.assert_finished();
}

#[test]
fn unexpected_continuation_is_fatal() {
    let mut mock = Mock::new(selected("", vec![c("A2 NOOP\r\n"), s("+ go ahead\r\n")]));
    session!(mock, bufs, cl, cfg(), Timer::Never);
    let e = run(cl.noop()).unwrap_err();
    assert!(
        matches!(e, Error::Protocol(ProtocolError::UnexpectedContinuation)),
        "{e:?}"
    );
    assert!(e.is_fatal());
    assert!(matches!(run(cl.noop()), Err(Error::Failed(_))));
}

/// A `+` in the middle of IDLE (after the go-ahead) is not asked for either.
#[test]
fn unexpected_continuation_during_idle_is_fatal() {
    let mut mock = Mock::new(selected(
        "IDLE",
        vec![c("A2 IDLE\r\n"), s("+ idling\r\n+ again\r\n")],
    ));
    session!(mock, bufs, cl, cfg(), Timer::Never);
    let e = run(cl.idle(core::future::pending::<()>(), |_| IdleControl::Continue)).unwrap_err();
    assert!(
        matches!(e, Error::Protocol(ProtocolError::UnexpectedContinuation)),
        "{e:?}"
    );
}

#[test]
fn bad_greetings() {
    for (greeting, want) in [
        // The reader parses the first response as a greeting: anything but OK, PREAUTH or
        // BYE does not parse.
        (&b"A1 OK hello\r\n"[..], "Protocol("),
        (b"* NO go away\r\n", "Protocol("),
        (b"+ hello\r\n", "Protocol("),
        (b"* 1 EXISTS\r\n", "Protocol("),
        (b"* BYE too busy\r\n", "Bye(Greeting)"),
        (b"HTTP/1.1 400 Bad Request\r\n", "Protocol(Wire(Malformed"),
    ] {
        let mut mock = Mock::new(vec![s(greeting), Step::Close]);
        let mut bufs = Bufs::new();
        let mut cl = client(&mut mock, Timer::Never, &mut bufs, cfg());
        let e = run(cl.greet()).unwrap_err();
        let text = format!("{e:?}");
        assert!(text.contains(want), "{}: {text}", show(greeting));
        assert!(e.is_fatal(), "{text}");
        assert!(matches!(run(cl.noop()), Err(Error::Failed(_))));
    }
}

// ---------------------------------------------------------------------------------------
// STARTTLS, PREAUTH, credentials.

const STARTTLS_GREETING: &str =
    "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED AUTH=PLAIN] ready\r\n";

#[test]
fn bytes_after_starttls_go_ahead_are_injection() {
    for extra in [&b"* OK injected\r\n"[..], b"A2 OK LOGIN done\r\n", b"x"] {
        let mut tail = b"A1 OK begin TLS\r\n".to_vec();
        tail.extend_from_slice(extra);
        let mut mock = Mock::new(vec![s(STARTTLS_GREETING), c("A1 STARTTLS\r\n"), s(&tail)]);
        let mut bufs = Bufs::new();
        let mut cl = client(&mut mock, Timer::Never, &mut bufs, cfg());
        run(cl.greet()).unwrap();
        let e = run(cl.starttls()).unwrap_err();
        assert!(
            matches!(e, Error::Protocol(ProtocolError::StartTlsInjection)),
            "{e:?}"
        );
        assert!(e.is_fatal());
        // No TLS handshake over this connection.
        assert!(cl.into_starttls().is_err());
    }
}

#[test]
fn starttls_refused_without_capability_and_no_downgrade() {
    let mut mock = Mock::new(vec![s("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n")]);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, cfg());
    run(cl.greet()).unwrap();
    assert!(matches!(
        run(cl.starttls()),
        Err(Error::StartTlsUnavailable)
    ));
    // Still no credentials in clear text.
    assert!(matches!(
        run(cl.login("u", "secret")),
        Err(Error::PlaintextAuthRefused)
    ));
    assert!(cl.into_starttls().is_err());
    assert!(mock.log.is_empty(), "{}", mock.log_text());
}

/// STARTTLS, handshake, capabilities asked again (LOGINDISABLED gone), LOGIN.
#[test]
fn starttls_then_login() {
    let mut mock = Mock::new(vec![
        s(STARTTLS_GREETING),
        c("A1 STARTTLS\r\n"),
        s("A1 OK begin TLS\r\n"),
        c("A2 CAPABILITY\r\n"),
        s("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nA2 OK caps\r\n"),
        c("A3 LOGIN u secret\r\n"),
        s("A3 OK in\r\n"),
    ]);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, cfg());
    run(cl.greet()).unwrap();
    assert!(matches!(
        run(cl.login("u", "secret")),
        Err(Error::PlaintextAuthRefused)
    ));
    run(cl.starttls()).unwrap();
    // Nothing but the handshake may follow the go-ahead.
    assert!(matches!(
        run(cl.noop()),
        Err(Error::Protocol(ProtocolError::OutOfSequence))
    ));
    let (io, half) = cl.into_starttls().ok().unwrap();
    let mut cl = half.resume(io);
    assert!(cl.is_tls());
    run(cl.login("u", "secret")).unwrap();
    assert_eq!(cl.session().state(), State::Authenticated);
    mock.assert_finished();
}

#[test]
fn preauth_without_tls_is_refused() {
    let mut mock = Mock::new(vec![s("* PREAUTH [CAPABILITY IMAP4rev1] hi bob\r\n")]);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, cfg());
    let e = run(cl.greet()).unwrap_err();
    assert!(matches!(e, Error::PreAuthWithoutTls), "{e:?}");
    assert!(e.is_fatal());
    assert!(matches!(
        run(cl.select("INBOX")),
        Err(Error::Failed(Fatal::Security))
    ));
    assert!(mock.log.is_empty());
    // Accepted over TLS, or when the caller does not require TLS.
    for (tls, require) in [(true, true), (false, false)] {
        let mut mock = Mock::new(vec![s("* PREAUTH [CAPABILITY IMAP4rev1] hi bob\r\n")]);
        let mut bufs = Bufs::new();
        let config = ClientConfig {
            require_tls: require,
            ..cfg()
        };
        let mut cl = client(&mut mock, Timer::Never, &mut bufs, config);
        if tls {
            cl.set_implicit_tls();
        }
        assert!(run(cl.greet()).unwrap().preauth);
        assert_eq!(cl.session().state(), State::Authenticated);
    }
}

/// Without TLS and without `allow_plaintext_auth`, no mechanism sends anything; with either,
/// the credentials go out.
#[test]
fn credentials_never_in_plaintext_unless_allowed() {
    let greeting = "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5 SASL-IR] hi\r\n";
    let mut mock = Mock::new(vec![s(greeting)]);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, cfg());
    run(cl.greet()).unwrap();
    let creds = Credentials::new("user", "hunter2");
    assert!(matches!(
        run(cl.login("user", "hunter2")),
        Err(Error::PlaintextAuthRefused)
    ));
    for mech in [
        None,
        Some(Mechanism::Plain),
        Some(Mechanism::Login),
        Some(Mechanism::CramMd5),
        Some(Mechanism::XOAuth2),
    ] {
        let e = run(cl.authenticate(&creds, mech)).unwrap_err();
        assert!(matches!(e, Error::PlaintextAuthRefused), "{mech:?}: {e:?}");
        assert!(!e.is_fatal());
    }
    assert_eq!(cl.session().state(), State::NotAuthenticated);
    assert!(mock.log.is_empty(), "sent {}", mock.log_text());

    // Allowed by the caller.
    let mut mock = Mock::new(vec![
        s(greeting),
        c("A1 LOGIN user hunter2\r\n"),
        s("A1 OK in\r\n"),
    ]);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, plain_config());
    run(cl.greet()).unwrap();
    run(cl.login("user", "hunter2")).unwrap();
    mock.assert_finished();

    // Implicit TLS: the strongest mechanism over TLS is PLAIN, with SASL-IR.
    let mut mock = Mock::new(vec![
        s(greeting),
        c("A1 AUTHENTICATE PLAIN AHVzZXIAaHVudGVyMg==\r\n"),
        s("A1 OK in\r\n"),
    ]);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, cfg());
    cl.set_implicit_tls();
    run(cl.greet()).unwrap();
    assert_eq!(
        run(cl.authenticate(&creds, None)).unwrap(),
        Mechanism::Plain
    );
    mock.assert_finished();
}

#[test]
fn logindisabled_is_honoured() {
    let mut mock = Mock::new(vec![s(STARTTLS_GREETING)]);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, plain_config());
    run(cl.greet()).unwrap();
    let e = run(cl.login("u", "secret")).unwrap_err();
    assert!(matches!(e, Error::LoginDisabled), "{e:?}");
    assert!(!e.is_fatal());
    assert!(mock.log.is_empty());
    // Also when the capabilities come from a CAPABILITY command.
    let mut mock = Mock::new(vec![
        s("* OK hi\r\n"),
        c("A1 CAPABILITY\r\n"),
        s("* CAPABILITY IMAP4rev1 LOGINDISABLED STARTTLS\r\nA1 OK\r\n"),
    ]);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, plain_config());
    run(cl.greet()).unwrap();
    assert!(matches!(
        run(cl.login("u", "secret")),
        Err(Error::LoginDisabled)
    ));
    mock.assert_finished();
}

/// A server that refuses CAPABILITY announces nothing: LOGIN goes on (LOGINDISABLED cannot
/// be announced), while STARTTLS, SASL and the extensions are not assumed.
#[test]
fn capability_refused_means_no_capabilities() {
    let mut mock = Mock::new(vec![
        s("* OK hi\r\n"),
        c("A1 CAPABILITY\r\n"),
        s("A1 BAD what?\r\n"),
        c("A2 LOGIN u secret\r\n"),
        s("A2 OK in\r\n"),
    ]);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, plain_config());
    run(cl.greet()).unwrap();
    assert!(matches!(
        run(cl.starttls()),
        Err(Error::StartTlsUnavailable)
    ));
    assert!(matches!(
        run(cl.authenticate(&Credentials::new("u", "secret"), None)),
        Err(Error::NoCommonMechanism)
    ));
    run(cl.login("u", "secret")).unwrap();
    mock.assert_finished();
}

/// A CRAM-MD5 challenge that is not base64 cannot be answered: the client cancels with `*`;
/// the connection stays usable.
#[test]
fn unanswerable_challenge_is_cancelled() {
    let mut mock = Mock::new(vec![
        s("* OK [CAPABILITY IMAP4rev1 AUTH=CRAM-MD5] hi\r\n"),
        c("A1 AUTHENTICATE CRAM-MD5\r\n"),
        s("+ !!not base64!!\r\n"),
        c("*\r\n"),
        s("A1 BAD AUTHENTICATE cancelled\r\n"),
        c("A2 NOOP\r\n"),
        s("A2 OK\r\n"),
    ]);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, plain_config());
    run(cl.greet()).unwrap();
    let e = run(cl.authenticate(&Credentials::new("u", "secret"), None)).unwrap_err();
    assert!(matches!(e, Error::AuthCancelled), "{e:?}");
    assert!(!e.is_fatal());
    assert_eq!(cl.session().state(), State::NotAuthenticated);
    run(cl.noop()).unwrap();
    mock.assert_finished();
}

/// Challenges for ever: bounded by the mechanism's step count.
#[test]
fn endless_challenges_are_an_auth_loop() {
    for (mech, first) in [
        (Mechanism::Plain, "A1 AUTHENTICATE PLAIN\r\n"),
        (Mechanism::Login, "A1 AUTHENTICATE LOGIN\r\n"),
        (Mechanism::CramMd5, "A1 AUTHENTICATE CRAM-MD5\r\n"),
        (Mechanism::XOAuth2, "A1 AUTHENTICATE XOAUTH2\r\n"),
    ] {
        let mut mock = Mock::new(vec![
            s(
                "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5 AUTH=XOAUTH2] hi\r\n",
            ),
            c(first),
            Step::Forever(b"+ PDEyMzQ1QGhvc3Q+\r\n".to_vec()),
        ]);
        let mut bufs = Bufs::new();
        let config = ClientConfig {
            sasl_initial_response: false,
            ..plain_config()
        };
        let mut cl = client(&mut mock, Timer::Never, &mut bufs, config);
        run(cl.greet()).unwrap();
        let e = run(cl.authenticate(&Credentials::new("u", "secret"), Some(mech))).unwrap_err();
        assert!(
            matches!(e, Error::Protocol(ProtocolError::AuthLoop)),
            "{mech:?}: {e:?}"
        );
        assert!(e.is_fatal());
        assert!(mock.log.len() < 1000, "{mech:?}: sent {}", mock.log.len());
    }
}

// ---------------------------------------------------------------------------------------
// BYE, timeouts.

#[test]
fn bye_mid_command_then_failed_for_every_call() {
    let mut mock = Mock::new(selected(
        "",
        vec![
            c("A2 UID SEARCH UID 1:*\r\n"),
            s("* BYE server shutting down\r\n"),
            Step::Close,
        ],
    ));
    session!(mock, bufs, cl, cfg(), Timer::Never);
    let e = run(cl.search(true, &[SearchKey::Uid(&[SeqRange::from(1)])], |_| {})).unwrap_err();
    assert!(matches!(e, Error::Bye(Stage::Search)), "{e:?}");
    assert!(e.is_fatal());
    assert_eq!(e.stage(), Some(Stage::Search));
    assert_eq!(cl.last_response_text(), b"server shutting down");
    assert_eq!(cl.session().state(), State::Logout);
    let failed = |r: Result<(), Error<ErrorKind>>| {
        assert!(
            matches!(r, Err(Error::Failed(Fatal::Bye(Stage::Search)))),
            "{r:?}"
        );
    };
    failed(run(cl.noop()));
    failed(run(cl.select("INBOX")).map(|_| ()));
    failed(run(cl.fetch_body_with(1, "", |_| Ok(()))).map(|_| ()));
    failed(run(cl.idle(core::future::pending::<()>(), |_| IdleControl::Stop)).map(|_| ()));
    failed(run(cl.logout()));
    mock.assert_finished();
}

/// BYE while idling: the pushes before it were delivered, then Error::Bye.
#[test]
fn bye_during_idle() {
    let mut mock = Mock::new(selected(
        "IDLE",
        vec![
            c("A2 IDLE\r\n"),
            s("+ idling\r\n* 4 EXISTS\r\n* BYE idle for too long\r\n"),
            Step::Close,
        ],
    ));
    session!(mock, bufs, cl, cfg(), Timer::Never);
    let mut events = Vec::new();
    let e = run(cl.idle(core::future::pending::<()>(), |ev| {
        events.push(ev);
        IdleControl::Continue
    }))
    .unwrap_err();
    assert!(matches!(e, Error::Bye(Stage::Idle)), "{e:?}");
    assert_eq!(events, [IdleEvent::Exists(4)]);
    assert_eq!(cl.last_response_text(), b"idle for too long");
}

#[test]
fn timeouts_name_the_stage() {
    // The greeting.
    let mut mock = Mock::new(vec![Step::Hang]);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Immediate, &mut bufs, cfg());
    let e = run(cl.greet()).unwrap_err();
    assert!(matches!(e, Error::Timeout(Stage::Greeting)), "{e:?}");
    assert!(matches!(
        run(cl.noop()),
        Err(Error::Failed(Fatal::Timeout(Stage::Greeting)))
    ));

    let cases: Vec<(Vec<Step>, Stage)> = vec![
        (vec![c("A2 NOOP\r\n"), Step::Hang], Stage::Noop),
        (
            vec![
                c("A2 UID FETCH 5 (UID BODY.PEEK[])\r\n"),
                s(format!(
                    "* 1 FETCH (UID 5 BODY[] {{2000}}\r\n{}",
                    "z".repeat(700)
                )),
                Step::Hang,
            ],
            Stage::Fetch,
        ),
        // No LITERAL+: the client waits for the "+".
        (
            vec![c("A2 APPEND INBOX {5}\r\n"), Step::Hang],
            Stage::Append,
        ),
        // IDLE: the (immediate) refresh timer fires, DONE (checked below), then the OK
        // never comes.
        (
            vec![c("A2 IDLE\r\n"), s("+ idling\r\n"), Step::Hang],
            Stage::Idle,
        ),
        (vec![c("A2 LOGOUT\r\n"), Step::Hang], Stage::Logout),
        (vec![c("A2 EXAMINE Archive\r\n"), Step::Hang], Stage::Select),
    ];
    for (rest, stage) in cases {
        let mut mock = Mock::new(selected("IDLE", rest));
        session!(mock, bufs, cl, cfg(), Timer::Immediate);
        let r = run(async {
            match stage {
                Stage::Noop => cl.noop().await,
                Stage::Fetch => cl.fetch_body_with(5, "", |_| Ok(())).await.map(|_| ()),
                Stage::Append => {
                    let mut b = Body::new(b"hello");
                    cl.append("INBOX", &[], None, 5, &mut b).await.map(|_| ())
                }
                Stage::Idle => cl
                    .idle(core::future::pending::<()>(), |_| IdleControl::Continue)
                    .await
                    .map(|_| ()),
                Stage::Logout => cl.logout().await,
                _ => cl.examine("Archive").await.map(|_| ()),
            }
        });
        let e = r.unwrap_err();
        assert!(
            matches!(e, Error::Timeout(s) if s == stage),
            "{stage:?}: {e:?}"
        );
        assert!(e.is_fatal());
        assert!(matches!(
            run(cl.noop()),
            Err(Error::Failed(Fatal::Timeout(s))) if s == stage
        ));
        assert!(mock.failures.is_empty(), "{:?}", mock.failures);
        if stage == Stage::Idle {
            assert!(
                mock.log.ends_with(b"A2 IDLE\r\nDONE\r\n"),
                "{}",
                mock.log_text()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// MOVE and IDLE fallbacks, APPEND.

#[test]
fn move_falls_back_to_copy_store_uid_expunge() {
    let set = [SeqRange::one(5), SeqRange::range(7, 9)];
    let mut mock = Mock::new(selected(
        "UIDPLUS",
        vec![
            c("A2 UID COPY 5,7:9 Archive\r\n"),
            s("A2 OK [COPYUID 3 5,7:9 20:23] copied\r\n"),
            c("A3 UID STORE 5,7:9 +FLAGS.SILENT (\\Deleted)\r\n"),
            s("A3 OK stored\r\n"),
            c("A4 UID EXPUNGE 5,7:9\r\n"),
            s("* 1 EXPUNGE\r\n* 1 EXPUNGE\r\nA4 OK expunged\r\n"),
        ],
    ));
    session!(mock, bufs, cl, cfg(), Timer::Never);
    let u = run(cl.move_to(true, &set, "Archive")).unwrap();
    assert_eq!(
        u,
        Some(UidPlus {
            uidvalidity: 3,
            first_uid: 20,
            count: 4
        })
    );
    assert_eq!(cl.mailbox().exists, 1);
    // Sequence numbers cannot be expunged selectively.
    assert!(matches!(
        run(cl.move_to(false, &set, "Archive")),
        Err(Error::Unsupported(Cap::Move))
    ));
    mock.assert_finished();

    // Without UIDPLUS a plain EXPUNGE could remove other \Deleted messages: refused.
    let mut mock = Mock::new(selected("", vec![]));
    session!(mock, bufs, cl, cfg(), Timer::Never);
    assert!(matches!(
        run(cl.move_to(true, &set, "Archive")),
        Err(Error::Unsupported(Cap::UidPlus))
    ));
    mock.assert_finished();

    // With MOVE: one command.
    let mut mock = Mock::new(selected(
        "MOVE UIDPLUS",
        vec![
            c("A2 UID MOVE 5,7:9 Archive\r\n"),
            s("* OK [COPYUID 3 5,7:9 20:23] moved\r\n* 1 EXPUNGE\r\nA2 OK done\r\n"),
        ],
    ));
    session!(mock, bufs, cl, cfg(), Timer::Never);
    let u = run(cl.move_to(true, &set, "Archive")).unwrap();
    assert_eq!(u.map(|u| (u.first_uid, u.count)), Some((20, 4)));
    mock.assert_finished();
}

/// No IDLE capability: NOOP every poll interval.
#[test]
fn idle_falls_back_to_noop_polling() {
    let mut mock = Mock::new(selected(
        "",
        vec![
            c("A2 NOOP\r\n"),
            s("A2 OK nothing\r\n"),
            c("A3 NOOP\r\n"),
            s("* 4 EXISTS\r\n* 1 RECENT\r\nA3 OK news\r\n"),
        ],
    ));
    session!(mock, bufs, cl, cfg(), Timer::Immediate);
    let mut events = Vec::new();
    let end = run(cl.idle(core::future::pending::<()>(), |ev| {
        events.push(ev);
        if matches!(ev, IdleEvent::Exists(_)) {
            IdleControl::Stop
        } else {
            IdleControl::Continue
        }
    }))
    .unwrap();
    assert_eq!(end, IdleEnd::Stopped);
    assert_eq!(
        events,
        [
            IdleEvent::Refreshed,
            IdleEvent::Exists(4),
            IdleEvent::Recent(1)
        ]
    );
    assert_eq!(cl.mailbox().exists, 4);
    mock.assert_finished();

    // The stop future ends the polling between two NOOPs.
    let mut mock = Mock::new(selected("", vec![c("A2 NOOP\r\n"), s("A2 OK\r\n")]));
    session!(mock, bufs, cl, cfg(), Timer::Never);
    let end = run(cl.idle(core::future::ready(()), |_| IdleControl::Continue)).unwrap();
    assert_eq!(end, IdleEnd::StopFuture);
    mock.assert_finished();
}

#[test]
fn append_synchronizing_literal_waits_for_continuation() {
    let mut mock = Mock::new(selected(
        "UIDPLUS",
        vec![
            c("A2 APPEND INBOX (\\Seen) {5}\r\n"),
            s("+ go ahead\r\n"),
            c("hello\r\n"),
            s("* 4 EXISTS\r\nA2 OK [APPENDUID 7 10] appended\r\n"),
        ],
    ));
    session!(mock, bufs, cl, cfg(), Timer::Never);
    let mut body = Body::new(b"hello");
    let u = run(cl.append("INBOX", &["\\Seen"], None, 5, &mut body)).unwrap();
    assert_eq!(
        u,
        Some(UidPlus {
            uidvalidity: 7,
            first_uid: 10,
            count: 1
        })
    );
    assert_eq!(cl.mailbox().exists, 4);
    mock.assert_finished();
}

#[test]
fn append_literal_plus_does_not_wait() {
    let mut mock = Mock::new(selected(
        "LITERAL+",
        vec![
            c("A2 APPEND INBOX {5+}\r\nhello\r\n"),
            s("A2 OK appended\r\n"),
        ],
    ));
    session!(mock, bufs, cl, cfg(), Timer::Never);
    let mut body = Body::new(b"hello");
    assert_eq!(
        run(cl.append("INBOX", &[], None, 5, &mut body)).unwrap(),
        None
    );
    mock.assert_finished();
    // LITERAL-: non-synchronizing up to 4096 bytes only.
    let big = vec![b'q'; 5000];
    let mut tail = big.clone();
    tail.extend_from_slice(b"\r\n");
    let mut mock = Mock::new(selected(
        "LITERAL-",
        vec![
            c("A2 APPEND INBOX {5+}\r\nhello\r\n"),
            s("A2 OK appended\r\n"),
            c("A3 APPEND INBOX {5000}\r\n"),
            s("+ ok\r\n"),
            Step::C(tail),
            s("A3 OK appended\r\n"),
        ],
    ));
    session!(mock, bufs, cl, cfg(), Timer::Never);
    let mut body = Body::new(b"hello");
    run(cl.append("INBOX", &[], None, 5, &mut body)).unwrap();
    let mut body = Body::new(&big);
    body.chunk = 333;
    run(cl.append("INBOX", &[], None, 5000, &mut body)).unwrap();
    mock.assert_finished();
}

/// The server refuses before the "+": nothing is read from the source, nothing sent, the
/// connection stays usable.
#[test]
fn append_refused_before_continuation() {
    let mut mock = Mock::new(selected(
        "",
        vec![
            c("A2 APPEND Nope {5}\r\n"),
            s("A2 NO [TRYCREATE] no such mailbox\r\n"),
            c("A3 NOOP\r\n"),
            s("A3 OK\r\n"),
        ],
    ));
    session!(mock, bufs, cl, cfg(), Timer::Never);
    let mut body = Body::new(b"hello");
    let e = run(cl.append("Nope", &[], None, 5, &mut body)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Rejected(Rejection {
                stage: Stage::Append,
                bad: false,
                code: Some(RefusalCode::TryCreate)
            })
        ),
        "{e:?}"
    );
    assert!(!e.is_fatal());
    assert_eq!(body.reads, 0);
    run(cl.noop()).unwrap();
    mock.assert_finished();
}

#[test]
fn append_source_ending_early_is_fatal() {
    let mut mock = Mock::new(selected(
        "LITERAL+",
        vec![c("A2 APPEND INBOX {10+}\r\nhello"), Step::Hang],
    ));
    session!(mock, bufs, cl, cfg(), Timer::Never);
    let mut body = Body::new(b"hello");
    let e = run(cl.append("INBOX", &[], None, 10, &mut body)).unwrap_err();
    assert!(matches!(e, Error::SourceEnded { missing: 5 }), "{e:?}");
    assert!(e.is_fatal());
    assert!(matches!(run(cl.noop()), Err(Error::Failed(Fatal::Source))));

    // A failing source.
    let mut mock = Mock::new(selected(
        "LITERAL+",
        vec![c("A2 APPEND INBOX {10+}\r\nhello"), Step::Hang],
    ));
    session!(mock, bufs, cl, cfg(), Timer::Never);
    let mut body = Body::new(b"hello");
    body.fail_with = Some(ErrorKind::BrokenPipe);
    let e = run(cl.append("INBOX", &[], None, 10, &mut body)).unwrap_err();
    assert!(matches!(e, Error::Source(ErrorKind::BrokenPipe)), "{e:?}");
    assert!(e.is_fatal());
}

// ---------------------------------------------------------------------------------------
// FETCH: sinks, unsolicited responses, large bodies.

/// The caller's sink fails on the first chunk: the rest of the command is read and dropped,
/// responses after the body are still applied, the connection stays usable.
#[test]
fn sink_error_during_fetch_drains_the_command() {
    let body = vec![b'b'; 5000];
    let mut answer = format!("* 2 FETCH (UID 5 BODY[] {{{}}}\r\n", body.len()).into_bytes();
    answer.extend_from_slice(&body);
    answer.extend_from_slice(b" FLAGS (\\Seen))\r\n* 7 EXISTS\r\nA2 OK fetched\r\n");
    let mut mock = Mock::new(selected(
        "",
        vec![
            c("A2 UID FETCH 5 (UID BODY.PEEK[])\r\n"),
            Step::S(answer),
            c("A3 NOOP\r\n"),
            s("A3 OK\r\n"),
        ],
    ));
    session!(mock, bufs, cl, cfg(), Timer::Never);
    let mut calls = 0;
    let e = run(cl.fetch_body_with(5, "", |_| {
        calls += 1;
        Err(ErrorKind::OutOfMemory)
    }))
    .unwrap_err();
    assert!(matches!(e, Error::Sink(ErrorKind::OutOfMemory)), "{e:?}");
    assert!(!e.is_fatal());
    assert_eq!(calls, 1);
    assert_eq!(cl.mailbox().exists, 7);
    assert_eq!(cl.mailbox().flag_updates, 1);
    run(cl.noop()).unwrap();
    mock.assert_finished();
}

/// Unsolicited EXISTS, EXPUNGE, FETCH (flags) and VANISHED arriving during other commands
/// update the mailbox state.
#[test]
fn unsolicited_responses_update_the_mailbox() {
    let mut mock = Mock::new(selected(
        "",
        vec![
            c("A2 UID STORE 1 +FLAGS.SILENT (\\Flagged)\r\n"),
            s("* 2 EXPUNGE\r\n* 9 EXISTS\r\n* 4 FETCH (FLAGS (\\Seen \\Deleted))\r\nA2 OK\r\n"),
            c("A3 UID SEARCH DELETED\r\n"),
            s("* 5 RECENT\r\n* SEARCH 4\r\n* 3 EXPUNGE\r\nA3 OK\r\n"),
            c("A4 STATUS Archive (MESSAGES)\r\n"),
            s(
                "* STATUS Archive (MESSAGES 2)\r\n* 12 EXISTS\r\n* OK [UIDNEXT 20] next\r\nA4 OK\r\n",
            ),
        ],
    ));
    session!(mock, bufs, cl, cfg(), Timer::Never);
    assert_eq!(cl.mailbox().exists, 3);
    run(cl.store(
        true,
        &[SeqRange::one(1)],
        StoreMode::Add,
        &["\\Flagged"],
        true,
        |_| {},
    ))
    .unwrap();
    assert_eq!(cl.mailbox().exists, 9);
    assert_eq!(cl.mailbox().expunged, 1);
    assert_eq!(cl.mailbox().flag_updates, 1);
    let mut found = Vec::new();
    run(cl.search(true, &[SearchKey::Deleted], |n| found.push(n))).unwrap();
    assert_eq!(found, [4]);
    assert_eq!(cl.mailbox().exists, 8);
    assert_eq!(cl.mailbox().recent, 5);
    let st = run(cl.status("Archive", &[wire::StatusAttr::Messages])).unwrap();
    assert_eq!(st.messages, Some(2));
    assert_eq!(cl.mailbox().exists, 12);
    assert_eq!(cl.mailbox().uidnext, Some(20));
    mock.assert_finished();
}

/// A 1 MiB body through a receive buffer of MIN_RX bytes, in odd-sized reads: intact.
#[test]
fn one_mebibyte_body_through_min_rx() {
    let body: Vec<u8> = (0..1u32 << 20)
        .map(|i| match i % 97 {
            95 => b'\r',
            96 => b'\n',
            k => b' ' + (k as u8 % 90),
        })
        .collect();
    let mut answer = format!("* 1 FETCH (UID 5 BODY[] {{{}}}\r\n", body.len()).into_bytes();
    answer.extend_from_slice(&body);
    answer.extend_from_slice(b")\r\nA2 OK fetched\r\n");
    let mut mock = Mock::new(selected(
        "",
        vec![c("A2 UID FETCH 5 (UID BODY.PEEK[])\r\n"), Step::S(answer)],
    ))
    .chunk_pattern(vec![7, 4096, 1, 300, 1000, 65536]);
    let mut bufs = Bufs::sized(MIN_RX, MIN_TX);
    session!(mock, bufs, cl, cfg(), Timer::Never, sized);
    let mut got = Vec::with_capacity(body.len());
    let mut biggest = 0;
    let n = run(cl.fetch_body_with(5, "", |ch| {
        biggest = biggest.max(ch.len());
        got.extend_from_slice(ch);
        Ok(())
    }))
    .unwrap();
    assert_eq!(n, 1 << 20);
    assert!(got == body, "body differs");
    assert!(biggest <= MIN_RX);
    mock.assert_finished();
}

// ---------------------------------------------------------------------------------------
// Chunking invariance.

fn chunk_session() -> Vec<Step> {
    let big: Vec<u8> = (0..3000u32).map(|i| b'A' + (i % 26) as u8).collect();
    let mut fetch = b"* 1 FETCH (UID 5 FLAGS (\\Seen) BODY[TEXT] {3000}\r\n".to_vec();
    fetch.extend_from_slice(&big);
    fetch.extend_from_slice(
        b" BODY[HEADER] {23}\r\nSubject: hi\r\nX-A: {3}\r\n)\r\n* 2 FETCH (FLAGS (\\Deleted))\r\n\
          A3 OK fetched\r\n",
    );
    vec![
        s("* OK [CAPABILITY IMAP4rev1 IDLE UIDPLUS LITERAL+ AUTH=PLAIN] hello\r\n"),
        c("A1 LOGIN u p\r\n"),
        s("* CAPABILITY IMAP4rev1 IDLE UIDPLUS LITERAL+ MOVE\r\nA1 OK in\r\n"),
        c("A2 SELECT INBOX\r\n"),
        s(
            "* FLAGS (\\Seen \\Deleted $Work)\r\n* 3 EXISTS\r\n* 0 RECENT\r\n\
           * OK [UIDVALIDITY 99] v\r\n* OK [UIDNEXT 11] n\r\n* OK [PERMANENTFLAGS (\\Seen \\*)] p\r\n\
           A2 OK [READ-WRITE] selected\r\n",
        ),
        c("A3 UID FETCH 5 (UID FLAGS BODY.PEEK[TEXT] BODY.PEEK[HEADER])\r\n"),
        Step::S(fetch),
        c("A4 UID SEARCH ALL\r\n"),
        s("* SEARCH 5 7 10\r\n* 4 EXISTS\r\nA4 OK\r\n"),
        c("A5 UID MOVE 7 Done\r\n"),
        s("* OK [COPYUID 4 7 1] moved\r\n* 2 EXPUNGE\r\nA5 OK\r\n"),
        c("A6 IDLE\r\n"),
        s("+ idling\r\n* OK still here\r\n* 4 EXISTS\r\n"),
        c("DONE\r\n"),
        s("A6 OK done\r\n"),
        c("A7 LOGOUT\r\n"),
        s("* BYE bye\r\nA7 OK out\r\n"),
    ]
}

/// Everything the client observed, as text.
fn chunk_run(mock: &mut Mock, rx: usize) -> String {
    let mut bufs = Bufs::sized(rx, 256);
    let mut cl: Cl<'_> = client(mock, Timer::Never, &mut bufs, plain_config());
    let mut log = String::new();
    run(async {
        log += &format!("{:?}\n", cl.greet().await);
        log += &format!("{:?}\n", cl.login("u", "p").await);
        log += &format!("{:?}\n", cl.select("INBOX").await);
        let mut body = Vec::new();
        let mut events = 0;
        let r = cl
            .fetch(
                true,
                &[SeqRange::one(5)],
                &[
                    FetchAttr::Uid,
                    FetchAttr::Flags,
                    FetchAttr::BodySection {
                        section: "TEXT",
                        peek: true,
                        partial: None,
                    },
                    FetchAttr::BodySection {
                        section: "HEADER",
                        peek: true,
                        partial: None,
                    },
                ],
                |ev| {
                    if !matches!(ev, FetchEvent::Data { .. }) {
                        events += 1;
                    }
                    collect_body(&mut body, ev);
                    Ok(())
                },
            )
            .await;
        log += &format!(
            "{r:?} {} {}\n",
            body.len(),
            show(&body[body.len().saturating_sub(30)..])
        );
        let _ = events;
        let mut uids = Vec::new();
        log += &format!(
            "{:?} {uids:?}\n",
            cl.search(true, &[SearchKey::All], |u| uids.push(u)).await
        );
        log += &format!("{uids:?}\n");
        log += &format!(
            "{:?}\n",
            cl.move_to(true, &[SeqRange::one(7)], "Done").await
        );
        let mut evs = Vec::new();
        log += &format!(
            "{:?}\n",
            cl.idle(core::future::pending::<()>(), |ev| {
                evs.push(ev);
                if matches!(ev, IdleEvent::Exists(_)) {
                    IdleControl::Stop
                } else {
                    IdleControl::Continue
                }
            })
            .await
        );
        log += &format!("{evs:?}\n{:?}\n", cl.mailbox());
        log += &format!("{:?}\n", cl.logout().await);
    });
    log
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any chunking of the server's bytes (and a receive buffer from MIN_RX up) gives the same
    /// results, events and mailbox state, and the same bytes sent.
    #[test]
    fn results_do_not_depend_on_chunking(
        chunks in proptest::collection::vec(1usize..80, 1..8),
        rx in MIN_RX..600,
    ) {
        let mut reference = Mock::new(chunk_session());
        let want = chunk_run(&mut reference, 4096);
        reference.assert_finished();
        prop_assert!(!want.contains("Err"), "{}", want);
        let mut mock = Mock::new(chunk_session()).chunk_pattern(chunks);
        let got = chunk_run(&mut mock, rx);
        prop_assert!(mock.failures.is_empty(), "{:?}", mock.failures);
        prop_assert_eq!(got, want);
        prop_assert_eq!(mock.log, reference.log);
    }
}
