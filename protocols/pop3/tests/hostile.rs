//! The client against hostile or broken servers, and the security rules (DESIGN §6): every
//! wait, line, listing, body and challenge loop is bounded; injected bytes abort; credentials
//! never go out in clear text unless allowed; messages stream through small buffers whatever
//! the chunking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::time::Duration;

use common::{Bufs, Mock, Step, Timer, c, client, plain_config, run, s};
use embedded_io_async::ErrorKind;
use postwire_core::sasl::{Credentials, Mechanism};
use postwire_pop3::client::{AuthMethod, ClientConfig, Error, Fatal};
use postwire_pop3::proto::{ProtocolError, SessionConfig};
use postwire_pop3::wire::ResponseError;
use postwire_pop3::{CodeKind, Stage};
use proptest::prelude::*;

const GREETING: &str = "+OK ready\r\n";
const CAPA: &str = "+OK\r\nUSER\r\nSASL PLAIN LOGIN CRAM-MD5\r\nSTLS\r\n.\r\n";

/// Greeting, CAPA and USER/PASS login, then `rest`.
fn logged_in(rest: Vec<Step>) -> Vec<Step> {
    let mut v = vec![
        s(GREETING),
        c("CAPA\r\n"),
        s(CAPA),
        c("USER u\r\n"),
        s("+OK\r\n"),
        c("PASS p\r\n"),
        s("+OK Logged in.\r\n"),
    ];
    v.extend(rest);
    v
}

macro_rules! session {
    ($mock:ident, $bufs:ident, $cl:ident, $cfg:expr, $timer:expr) => {
        let mut $bufs = Bufs::new();
        let mut $cl = client(&mut $mock, $timer, &mut $bufs, $cfg);
        run(async {
            $cl.greet().await.unwrap();
            $cl.login_user_pass("u", "p").await.unwrap();
        });
    };
}

#[test]
fn endless_listing_is_bounded() {
    let mut mock = Mock::new(logged_in(vec![
        c("UIDL\r\n"),
        s("+OK\r\n"),
        Step::Forever(b"1 abc\r\n".to_vec()),
    ]));
    let cfg = ClientConfig {
        limits: SessionConfig {
            max_listing_lines: 1000,
            ..SessionConfig::default()
        },
        ..plain_config()
    };
    session!(mock, bufs, cl, cfg, Timer::Never);
    let mut n = 0;
    let e = run(cl.uidl(|_, _| n += 1)).unwrap_err();
    assert!(
        matches!(e, Error::Protocol(ProtocolError::TooManyLines)),
        "{e:?}"
    );
    assert!(e.is_fatal());
    assert_eq!(n, 1000);
    assert!(matches!(
        run(cl.noop()),
        Err(Error::Failed(Fatal::Protocol(ProtocolError::TooManyLines)))
    ));
}

#[test]
fn endless_capa_is_bounded() {
    let mut mock = Mock::new(vec![
        s(GREETING),
        c("CAPA\r\n"),
        s("+OK\r\n"),
        Step::Forever(b"X-CAPA\r\n".to_vec()),
    ]);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, plain_config());
    let e = run(cl.greet()).unwrap_err();
    assert!(
        matches!(e, Error::Protocol(ProtocolError::TooManyLines)),
        "{e:?}"
    );
}

#[test]
fn endless_message_is_bounded() {
    let mut mock = Mock::new(logged_in(vec![
        c("RETR 1\r\n"),
        s("+OK\r\n"),
        Step::Forever(b"....................\r\n".to_vec()),
    ]));
    let cfg = ClientConfig {
        limits: SessionConfig {
            max_body_bytes: 100_000,
            ..SessionConfig::default()
        },
        ..plain_config()
    };
    session!(mock, bufs, cl, cfg, Timer::Never);
    let mut got = 0usize;
    let e = run(cl.retr_with(1, |ch| {
        got += ch.len();
        Ok(())
    }))
    .unwrap_err();
    assert!(
        matches!(e, Error::Protocol(ProtocolError::MessageTooLarge)),
        "{e:?}"
    );
    assert!(got <= 100_000);
}

#[test]
fn endless_challenges_are_bounded() {
    let mut mock = Mock::new(vec![
        s(GREETING),
        c("CAPA\r\n"),
        s(CAPA),
        c("AUTH LOGIN\r\n"),
        s("+ VXNlcm5hbWU6\r\n"),
        c("dQ==\r\n"),
        s("+ UGFzc3dvcmQ6\r\n"),
        c("cA==\r\n"),
        s("+ UGFzc3dvcmQ6\r\n"),
        // LOGIN has two steps: the third challenge is cancelled ...
        c("*\r\n"),
        // ... and a server that challenges on is dropped.
        s("+ UGFzc3dvcmQ6\r\n"),
    ]);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, plain_config());
    run(cl.greet()).unwrap();
    let e = run(cl.authenticate(&Credentials::new("u", "p"), Some(Mechanism::Login))).unwrap_err();
    assert!(
        matches!(e, Error::Protocol(ProtocolError::AuthLoop)),
        "{e:?}"
    );
    assert!(e.is_fatal());
    mock.assert_finished();
}

#[test]
fn unanswerable_challenge_is_cancelled_and_connection_stays_usable() {
    let mut mock = Mock::new(vec![
        s(GREETING),
        c("CAPA\r\n"),
        s(CAPA),
        c("AUTH CRAM-MD5\r\n"),
        s("+ Rubbish\r\n"),
        c("*\r\n"),
        s("-ERR AUTH exchange cancelled by client\r\n"),
        c("USER u\r\n"),
        s("+OK\r\n"),
        c("PASS p\r\n"),
        s("+OK\r\n"),
    ]);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, plain_config());
    run(async {
        cl.greet().await.unwrap();
        let e = cl
            .login(
                &Credentials::new("u", "p"),
                Some(AuthMethod::Sasl(Mechanism::CramMd5)),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, Error::AuthCancelled), "{e:?}");
        assert!(!e.is_fatal());
        cl.login(&Credentials::new("u", "p"), Some(AuthMethod::UserPass))
            .await
            .unwrap();
    });
    mock.assert_finished();
}

#[test]
fn huge_numbers_are_typed_errors() {
    for (cmd, reply) in [
        ("STAT\r\n", "+OK 99999999999999999999 1\r\n"),
        ("STAT\r\n", "+OK 18446744073709551616 1\r\n"),
        ("STAT\r\n", "+OK x\r\n"),
        ("LIST 1\r\n", "+OK 1 -5\r\n"),
    ] {
        let mut mock = Mock::new(logged_in(vec![c(cmd), s(reply)]));
        session!(mock, bufs, cl, plain_config(), Timer::Never);
        let e = if cmd == "STAT\r\n" {
            run(cl.stat()).map(|_| ()).unwrap_err()
        } else {
            run(cl.list_one(1)).map(|_| ()).unwrap_err()
        };
        assert!(
            matches!(
                e,
                Error::Protocol(ProtocolError::Response(ResponseError::BadNumber))
            ),
            "{reply}: {e:?}"
        );
    }
    // The largest u64 is fine.
    let mut mock = Mock::new(logged_in(vec![
        c("STAT\r\n"),
        s("+OK 18446744073709551615 18446744073709551615\r\n"),
    ]));
    session!(mock, bufs, cl, plain_config(), Timer::Never);
    let st = run(cl.stat()).unwrap();
    assert_eq!((st.count, st.size), (u64::MAX, u64::MAX));
}

#[test]
fn overlong_line_is_an_error() {
    let mut mock = Mock::new(vec![s(format!("+OK {}\r\n", "a".repeat(5000)))]);
    let mut bufs = Bufs::sized(512, 512);
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, plain_config());
    let e = run(cl.greet()).unwrap_err();
    assert!(
        matches!(e, Error::Protocol(ProtocolError::LineTooLong)),
        "{e:?}"
    );
}

#[test]
fn bytes_after_stls_go_ahead_abort() {
    let mut mock = Mock::new(vec![
        s(GREETING),
        c("CAPA\r\n"),
        s(CAPA),
        c("STLS\r\n"),
        s("+OK Begin TLS negotiation now.\r\n+OK injected\r\n"),
    ]);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, ClientConfig::default());
    run(cl.greet()).unwrap();
    let e = run(cl.stls()).unwrap_err();
    assert!(
        matches!(e, Error::Protocol(ProtocolError::DataAfterStls)),
        "{e:?}"
    );
    assert!(cl.into_stls().is_err(), "no TLS upgrade after an injection");
}

#[test]
fn stls_not_offered_is_not_a_fallback() {
    let mut mock = Mock::new(vec![s(GREETING), c("CAPA\r\n"), s("-ERR no CAPA\r\n")]);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, ClientConfig::default());
    run(cl.greet()).unwrap();
    assert!(matches!(run(cl.stls()), Err(Error::StlsUnavailable)));
    // And no credentials without TLS.
    assert!(matches!(
        run(cl.login(&Credentials::new("u", "p"), None)),
        Err(Error::PlaintextAuthRefused)
    ));
    mock.assert_finished();
}

#[test]
fn unsolicited_response_is_fatal() {
    let mut mock = Mock::new(logged_in(vec![
        c("NOOP\r\n"),
        s("+OK\r\n+OK you did not ask\r\n"),
    ]));
    session!(mock, bufs, cl, plain_config(), Timer::Never);
    let e = run(cl.noop()).unwrap_err();
    assert!(
        matches!(e, Error::Protocol(ProtocolError::UnsolicitedResponse)),
        "{e:?}"
    );
    assert!(matches!(run(cl.stat()), Err(Error::Failed(_))));
}

#[test]
fn continuation_outside_auth_is_fatal() {
    let mut mock = Mock::new(logged_in(vec![c("NOOP\r\n"), s("+ what\r\n")]));
    session!(mock, bufs, cl, plain_config(), Timer::Never);
    let e = run(cl.noop()).unwrap_err();
    assert!(
        matches!(e, Error::Protocol(ProtocolError::UnexpectedContinuation)),
        "{e:?}"
    );
}

#[test]
fn timeouts_and_closed_connections() {
    // Same script position, a timer that fires at once.
    let mut mock = Mock::new(vec![s(GREETING), Step::Hang]);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Immediate, &mut bufs, plain_config());
    let e = run(cl.greet()).unwrap_err();
    assert!(
        matches!(e, Error::Timeout(Stage::Greeting)) || matches!(e, Error::Timeout(Stage::Capa)),
        "{e:?}"
    );
    assert!(e.is_fatal());

    let mut mock = Mock::new(logged_in(vec![
        c("RETR 1\r\n"),
        s("+OK\r\nhalf a mess"),
        Step::Close,
    ]));
    session!(mock, bufs, cl, plain_config(), Timer::Never);
    let e = run(cl.retr_with(1, |_| Ok(()))).unwrap_err();
    assert!(matches!(e, Error::ConnectionClosed(Stage::Retr)), "{e:?}");
}

#[test]
fn cancelled_operation_is_detected() {
    let mut mock = Mock::new(logged_in(vec![
        c("RETR 1\r\n"),
        s("+OK\r\nabc"),
        Step::Hang,
    ]));
    session!(mock, bufs, cl, plain_config(), Timer::Never);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let r = rt.block_on(async {
        tokio::time::timeout(Duration::from_millis(50), cl.retr_with(1, |_| Ok(()))).await
    });
    assert!(r.is_err(), "the retrieval hangs and is cancelled");
    assert!(matches!(run(cl.noop()), Err(Error::Cancelled)));
    assert!(matches!(
        run(cl.quit()),
        Err(Error::Failed(Fatal::Cancelled))
    ));
}

#[test]
fn greeting_refused_and_quit_refused() {
    let mut mock = Mock::new(vec![s("-ERR [SYS/TEMP] try later\r\n")]);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, plain_config());
    let e = run(cl.greet()).unwrap_err();
    assert!(
        matches!(e, Error::Rejected(r) if r.stage == Stage::Greeting && r.code == Some(CodeKind::SysTemp) && r.is_transient())
    );
    assert!(e.is_fatal());

    let mut mock = Mock::new(logged_in(vec![
        c("DELE 1\r\n"),
        s("+OK\r\n"),
        c("QUIT\r\n"),
        s("-ERR some deleted messages not removed\r\n"),
    ]));
    session!(mock, bufs, cl, plain_config(), Timer::Never);
    run(cl.dele(1)).unwrap();
    let e = run(cl.quit()).unwrap_err();
    assert!(
        matches!(e, Error::Rejected(r) if r.stage == Stage::Quit),
        "{e:?}"
    );
}

#[test]
fn in_use_and_login_delay_codes() {
    for (reply, code) in [
        ("-ERR [IN-USE] Mailbox locked\r\n", CodeKind::InUse),
        ("-ERR [LOGIN-DELAY] Wait\r\n", CodeKind::LoginDelay),
        ("-ERR [SYS/PERM] Broken\r\n", CodeKind::SysPerm),
        ("-ERR [AUTH] Wrong\r\n", CodeKind::Auth),
    ] {
        let mut mock = Mock::new(vec![
            s(GREETING),
            c("CAPA\r\n"),
            s(CAPA),
            c("USER u\r\n"),
            s("+OK\r\n"),
            c("PASS p\r\n"),
            s(reply),
        ]);
        let mut bufs = Bufs::new();
        let mut cl = client(&mut mock, Timer::Never, &mut bufs, plain_config());
        run(cl.greet()).unwrap();
        let e = run(cl.login_user_pass("u", "p")).unwrap_err();
        assert!(
            matches!(e, Error::Rejected(r) if r.code == Some(code) && r.stage == Stage::Pass),
            "{e:?}"
        );
        assert!(!e.is_fatal());
    }
}

#[test]
fn plaintext_credentials_are_never_sent_unless_allowed() {
    let mut mock = Mock::new(vec![s(GREETING), c("CAPA\r\n"), s(CAPA)]);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, ClientConfig::default());
    run(async {
        cl.greet().await.unwrap();
        for m in [
            None,
            Some(AuthMethod::UserPass),
            Some(AuthMethod::Apop),
            Some(AuthMethod::Sasl(Mechanism::CramMd5)),
        ] {
            assert!(matches!(
                cl.login(&Credentials::new("u", "p"), m).await,
                Err(Error::PlaintextAuthRefused)
            ));
        }
        assert!(matches!(
            cl.login_user_pass("u", "p").await,
            Err(Error::PlaintextAuthRefused)
        ));
    });
    mock.assert_finished();
}

#[test]
fn injection_through_arguments_is_refused_before_sending() {
    let mut mock = Mock::new(vec![s(GREETING), c("CAPA\r\n"), s(CAPA)]);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, plain_config());
    run(async {
        cl.greet().await.unwrap();
        for (u, p) in [
            ("u\r\nDELE 1", "p"),
            ("u", "p\r\nDELE 1"),
            ("u v", "p"),
            ("", "p"),
        ] {
            let e = cl.login_user_pass(u, p).await.unwrap_err();
            assert!(matches!(e, Error::InvalidArgument), "{u:?} {p:?}: {e:?}");
        }
    });
    mock.assert_finished();
}

#[test]
fn apop_rfc1939_example() {
    let mut mock = Mock::new(vec![
        s("+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n"),
        c("CAPA\r\n"),
        s("-ERR\r\n"),
        c("APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"),
        s("+OK mrose's maildrop has 2 messages (320 octets)\r\n"),
    ]);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, plain_config());
    run(async {
        cl.greet().await.unwrap();
        assert_eq!(
            cl.apop_timestamp(),
            Some(&b"<1896.697170952@dbc.mtview.ca.us>"[..])
        );
        // APOP only when asked: the default would be USER/PASS here.
        cl.login(
            &Credentials::new("mrose", "tanstaaf"),
            Some(AuthMethod::Apop),
        )
        .await
        .unwrap();
    });
    mock.assert_finished();
}

#[test]
fn long_initial_response_waits_for_the_challenge() {
    // RFC 5034 §4: an AUTH line longer than 255 octets must not carry the initial response.
    let token = "t".repeat(300);
    let mut mock = Mock::new(vec![
        s(GREETING),
        c("CAPA\r\n"),
        s("+OK\r\nSASL XOAUTH2 PLAIN\r\n.\r\n"),
        c("AUTH XOAUTH2\r\n"),
        s("+ \r\n"),
        Step::CUntil(b"\r\n".to_vec()),
        s("+OK\r\n"),
    ]);
    let mut bufs = Bufs::sized(1024, 2048);
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, plain_config());
    run(async {
        cl.greet().await.unwrap();
        cl.authenticate(&Credentials::new("u", &token), Some(Mechanism::XOAuth2))
            .await
            .unwrap();
    });
    mock.assert_finished();
    // A short one rides on the AUTH line (checked with a fresh session).
    let mut mock2 = Mock::new(vec![
        s(GREETING),
        c("CAPA\r\n"),
        s("+OK\r\nSASL PLAIN\r\n.\r\n"),
        c("AUTH PLAIN AHUAcA==\r\n"),
        s("+OK\r\n"),
    ]);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock2, Timer::Never, &mut bufs, plain_config());
    run(async {
        cl.greet().await.unwrap();
        cl.login(&Credentials::new("u", "p"), None).await.unwrap();
    });
    mock2.assert_finished();
}

#[test]
fn sink_failure_keeps_the_connection() {
    let mut mock = Mock::new(logged_in(vec![
        c("RETR 1\r\n"),
        s("+OK\r\nline one\r\nline two\r\n.\r\n"),
        c("NOOP\r\n"),
        s("+OK\r\n"),
    ]));
    session!(mock, bufs, cl, plain_config(), Timer::Never);
    let mut calls = 0;
    let e = run(cl.retr_with(1, |_| {
        calls += 1;
        Err(ErrorKind::OutOfMemory)
    }))
    .unwrap_err();
    assert!(matches!(e, Error::Sink(ErrorKind::OutOfMemory)), "{e:?}");
    assert!(!e.is_fatal());
    assert_eq!(calls, 1, "no calls after the sink failed");
    run(cl.noop()).unwrap();
    mock.assert_finished();
}

/// The lines of a body as a POP3 server sends them: dot-stuffed, CRLF, terminated.
fn stuffed(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        if l.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(l);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any chunking of the server's bytes, through the smallest buffers, gives the message
    /// byte for byte.
    #[test]
    fn retrieval_is_chunking_invariant(
        lines in proptest::collection::vec(
            proptest::collection::vec(
                prop_oneof![Just(b'.'), Just(b'a'), Just(b'\r'), Just(b' '), (0x21u8..0x7f)],
                0..200,
            ),
            0..30,
        ),
        chunks in proptest::collection::vec(1usize..40, 1..8),
        rx in 64usize..200,
    ) {
        let lines: Vec<Vec<u8>> = lines
            .into_iter()
            .map(|l| {
                // A CR right before the line end would merge with it: keep CRs inside.
                let mut l = l;
                while l.last() == Some(&b'\r') {
                    l.pop();
                }
                l
            })
            .collect();
        let mut message = Vec::new();
        for l in &lines {
            message.extend_from_slice(l);
            message.extend_from_slice(b"\r\n");
        }
        let mut wire = b"+OK\r\n".to_vec();
        wire.extend(stuffed(&lines));
        let mut mock = Mock::new(logged_in(vec![c("RETR 7\r\n"), Step::S(wire), c("NOOP\r\n"), s("+OK\r\n")]))
            .chunk_pattern(chunks);
        let mut bufs = Bufs::sized(rx, 256);
        let mut cl = client(&mut mock, Timer::Never, &mut bufs, plain_config());
        let mut got = Vec::new();
        run(async {
            cl.greet().await.unwrap();
            cl.login_user_pass("u", "p").await.unwrap();
            let n = cl.retr_with(7, |ch| { got.extend_from_slice(ch); Ok(()) }).await.unwrap();
            assert_eq!(n as usize, got.len());
            cl.noop().await.unwrap();
        });
        prop_assert_eq!(got, message);
        mock.assert_finished();
    }
}
