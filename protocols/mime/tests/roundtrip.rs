//! Every message composed here is parsed back by our reader and by mail-parser, with equal
//! headers, texts and attachment bytes; plus property tests over random Unicode text and
//! random binaries, and the streaming guarantees of the composer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use common::{Expect, check_both, crlf, parse_ours};
use embedded_io_async::{ErrorType, Read};
use postwire_mime::{
    Attachment, Body, ComposeError, Composer, Date, Headers, Mailbox, Message, MessageId,
    MimeError, NoReader, Source, TransferEncoding,
};
use proptest::prelude::*;

fn compose<R: Read, const N: usize>(c: &mut Composer<'_, R, N>, read_size: usize) -> Vec<u8> {
    embassy_futures::block_on(async {
        let mut out = Vec::new();
        let mut buf = vec![0u8; read_size];
        loop {
            let n = c
                .read(&mut buf)
                .await
                .unwrap_or_else(|e| panic!("read failed: {e:?}"));
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    })
}

/// A reader that hands out its data in chunks of varying size (and yields once in a while).
#[derive(Clone)]
struct Chunky<'d> {
    data: &'d [u8],
    pos: usize,
    step: usize,
}

impl<'d> Chunky<'d> {
    fn new(data: &'d [u8], step: usize) -> Self {
        Chunky {
            data,
            pos: 0,
            step: step.max(1),
        }
    }
}

impl ErrorType for Chunky<'_> {
    type Error = core::convert::Infallible;
}

impl Read for Chunky<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let n = (self.data.len() - self.pos)
            .min(buf.len())
            .min(self.step + self.pos % 7);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A reader that fails after some bytes.
struct Failing(usize);
#[derive(Debug, PartialEq)]
struct Boom;
impl core::fmt::Display for Boom {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("boom")
    }
}
impl std::error::Error for Boom {}
impl embedded_io_async::Error for Boom {
    fn kind(&self) -> embedded_io_async::ErrorKind {
        embedded_io_async::ErrorKind::Other
    }
}
impl ErrorType for Failing {
    type Error = Boom;
}
impl Read for Failing {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Boom> {
        if self.0 == 0 {
            return Err(Boom);
        }
        let n = self.0.min(buf.len());
        buf[..n].fill(b'a');
        self.0 -= n;
        Ok(n)
    }
}

fn binary(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

const FROM: Mailbox<'static> = Mailbox::named("Zoë Ünal — Sensorik", "zoe@example.test");

fn headers<'a>(to: &'a [Mailbox<'a>], subject: &'a str) -> Headers<'a> {
    Headers {
        to,
        subject: Some(subject),
        date: Some(Date {
            unix: 1_795_395_051,
            offset_minutes: -300,
        }),
        message_id: Some(MessageId {
            token: "abc.123",
            domain: "example.test",
        }),
        ..Headers::new(FROM)
    }
}

#[test]
fn full_message_round_trips_in_both_parsers() {
    let to = [
        Mailbox::named("Bob \"the builder\" Ross", "bob@example.test"),
        Mailbox::new("carol@example.test"),
    ];
    let subject = "Grüße aus Halle 3 — Temperatur 31 °C, bitte prüfen: 日本語のテキストも少し ✓";
    let text = "Hallo Bob,\n.\nFrom here: a lone dot above.\r\nLänge: ".to_string()
        + &"x".repeat(1500)
        + "\nEnde\n";
    let html = "<html><body><p>Grüße</p><img src=\"cid:logo@example.test\"></body></html>\n";
    let logo = binary(3000, 7);
    let att = binary(100_000, 9);
    let csv = "a;b\n1;2\n";
    let mut msg: Message<'_, Chunky<'_>, 3> = Message::new(headers(&to, subject))
        .text(Body::Text(Source::Reader(Chunky::new(
            text.as_bytes(),
            100,
        ))))
        .html(Body::text(html));
    msg.attach(Attachment {
        body: Body::Binary(Source::Reader(Chunky::new(&logo, 333))),
        content_type: "image/png",
        filename: Some("logo.png"),
        content_id: Some("logo@example.test"),
    })
    .unwrap();
    msg.attach(Attachment::binary(
        "application/octet-stream",
        "Messdaten März ☕.bin",
        Source::Reader(Chunky::new(&att, 4096)),
    ))
    .unwrap();
    msg.attach(Attachment {
        body: Body::Text(Source::Bytes(csv.as_bytes())),
        content_type: "text/csv",
        filename: Some("werte.csv"),
        content_id: None,
    })
    .unwrap();
    let mut c = Composer::new(msg, "b0undary").unwrap();
    let wire = compose(&mut c, 100);
    let s = String::from_utf8(wire.clone()).unwrap();
    assert!(s.is_ascii());
    for line in s.split("\r\n") {
        assert!(line.len() <= 78, "line too long: {line}");
    }
    assert!(!s.replace("\r\n", "").contains('\r') && !s.replace("\r\n", "").contains('\n'));
    assert!(s.contains("multipart/mixed"));
    assert!(s.contains("multipart/related"));
    assert!(s.contains("multipart/alternative"));
    assert!(s.contains("Content-ID: <logo@example.test>"));
    let p = parse_ours(&wire, 4096, 4096);
    assert_eq!(
        p.structure
            .iter()
            .map(|(d, m)| format!("{d}{m}"))
            .collect::<Vec<_>>(),
        [
            "0multipart/mixed",
            "1multipart/related",
            "2multipart/alternative",
            "3text/plain",
            "3text/html",
            "2image/png",
            "1application/octet-stream",
            "1text/csv"
        ]
    );
    assert_eq!(
        p.header("From"),
        Some("Zoë Ünal — Sensorik <zoe@example.test>")
    );
    assert_eq!(
        p.header("To"),
        Some("\"Bob \\\"the builder\\\" Ross\" <bob@example.test>, carol@example.test")
    );
    assert_eq!(p.header("Date"), Some("Sun, 22 Nov 2026 19:50:51 -0500"));
    let e = Expect {
        subject: Some(subject.into()),
        from: (Some(FROM.name.unwrap().into()), FROM.address.into()),
        to: vec![
            (
                Some("Bob \"the builder\" Ross".into()),
                "bob@example.test".into(),
            ),
            (None, "carol@example.test".into()),
        ],
        text: Some(crlf(text.as_bytes())),
        html: Some(crlf(html.as_bytes())),
        attachments: vec![
            (Some("logo.png".into()), logo.clone()),
            (Some("Messdaten März ☕.bin".into()), att.clone()),
            (Some("werte.csv".into()), crlf(csv.as_bytes())),
        ],
    };
    check_both(&wire, &e);
}

#[test]
fn any_read_size_gives_the_same_bytes() {
    let to = [Mailbox::new("bob@example.test")];
    let data = binary(5000, 3);
    let make = |step| {
        let mut msg: Message<'_, Chunky<'_>, 1> = Message::new(headers(
            &to,
            "Size test with a rather long subject line that must be folded somewhere",
        ))
        .text(Body::text("Grüße\n"));
        msg.attach(Attachment::binary(
            "application/octet-stream",
            "x.bin",
            Source::Reader(Chunky::new(&data, step)),
        ))
        .unwrap();
        Composer::new(msg, "tok").unwrap()
    };
    let reference = compose(&mut make(1000), 4096);
    for (read, step) in [
        (1, 1),
        (2, 3),
        (15, 17),
        (16, 5),
        (17, 64),
        (63, 1),
        (500, 999),
    ] {
        assert_eq!(
            compose(&mut make(step), read),
            reference,
            "read size {read}, source step {step}"
        );
    }
}

#[test]
fn single_part_bodies_end_with_a_line_break() {
    let to = [Mailbox::new("bob@example.test")];
    for (body, ends) in [
        ("abc", "\r\n\r\nabc\r\n"),
        ("abc\n", "\r\n\r\nabc\r\n"),
        ("grün ist die Wiese", "gr=C3=BCn ist die Wiese=\r\n"),
        ("", "7bit\r\n\r\n"),
    ] {
        let msg: Message<'_, NoReader, 0> = Message::new(headers(&to, "x")).text(Body::text(body));
        let wire = compose(&mut Composer::new(msg, "t").unwrap(), 64);
        let s = String::from_utf8(wire.clone()).unwrap();
        assert!(s.ends_with(ends), "{body:?}: {s}");
        if body.ends_with('\n') || !body.is_ascii() {
            check_both(
                &wire,
                &Expect {
                    text: Some(crlf(body.as_bytes())),
                    from: (FROM.name.map(Into::into), FROM.address.into()),
                    ..Expect::default()
                },
            );
        }
    }
}

#[test]
fn encoding_choice() {
    let to = [Mailbox::new("bob@example.test")];
    let cte = |body: Body<'_, NoReader>| {
        let msg: Message<'_, NoReader, 0> = Message::new(headers(&to, "x")).text(body);
        let s = String::from_utf8(compose(&mut Composer::new(msg, "t").unwrap(), 512)).unwrap();
        let ct = s
            .lines()
            .find(|l| l.starts_with("Content-Type:"))
            .unwrap()
            .to_string();
        let te = s
            .lines()
            .find(|l| l.starts_with("Content-Transfer-Encoding:"))
            .unwrap()
            .to_string();
        (ct, te)
    };
    assert_eq!(
        cte(Body::text("plain ascii\n")).1,
        "Content-Transfer-Encoding: 7bit"
    );
    assert_eq!(
        cte(Body::text("plain ascii\n")).0,
        "Content-Type: text/plain; charset=us-ascii"
    );
    assert_eq!(
        cte(Body::text(&"y".repeat(999))).1,
        "Content-Transfer-Encoding: quoted-printable"
    );
    assert_eq!(
        cte(Body::text("--=_looks like a boundary\n")).1,
        "Content-Transfer-Encoding: quoted-printable"
    );
    assert_eq!(
        cte(Body::text("Grüße aus der Halle drei")).1,
        "Content-Transfer-Encoding: quoted-printable"
    );
    assert_eq!(
        cte(Body::text("Grüße aus der Halle drei")).0,
        "Content-Type: text/plain; charset=utf-8"
    );
    // Short text with a high share of non-ASCII: base64 is shorter.
    assert_eq!(
        cte(Body::text("Grüße")).1,
        "Content-Transfer-Encoding: base64"
    );
    assert_eq!(
        cte(Body::text("日本語のテキスト")).1,
        "Content-Transfer-Encoding: base64"
    );
    assert_eq!(
        cte(Body::text("nul\0byte")).1,
        "Content-Transfer-Encoding: quoted-printable"
    );
    // Allegro's ISO-2022-JP example: already encoded, declared by the caller.
    let jis = b"\x1b$BF|K\\8l\x1b(B\n";
    let d = Body::Declared {
        source: Source::Bytes(jis),
        charset: Some("iso-2022-jp"),
        encoding: TransferEncoding::SevenBit,
    };
    assert_eq!(
        cte(d),
        (
            "Content-Type: text/plain; charset=iso-2022-jp".into(),
            "Content-Transfer-Encoding: 7bit".into()
        )
    );
}

#[test]
fn streamed_text_uses_a_bounded_look_ahead() {
    let to = [Mailbox::new("bob@example.test")];
    let cte = |data: &[u8]| {
        let msg: Message<'_, Chunky<'_>, 0> =
            Message::new(headers(&to, "x")).text(Body::Text(Source::Reader(Chunky::new(data, 50))));
        let wire = compose(&mut Composer::new(msg, "t").unwrap(), 512);
        let s = String::from_utf8(wire.clone()).unwrap();
        let te = s
            .lines()
            .find(|l| l.starts_with("Content-Transfer-Encoding:"))
            .unwrap()[27..]
            .to_string();
        let cs = s.lines().find(|l| l.starts_with("Content-Type:")).unwrap()[34..].to_string();
        check_both(
            &wire,
            &Expect {
                text: Some(crlf(data)),
                from: (FROM.name.map(Into::into), FROM.address.into()),
                ..Expect::default()
            },
        );
        (te, cs)
    };
    // Ends within the 512-byte look-ahead: exact decision.
    assert_eq!(cte(b"short ascii\n"), ("7bit".into(), "us-ascii".into()));
    // Longer than the look-ahead: never 7bit, charset utf-8, QP for mostly ASCII...
    let long_ascii = "ascii line\n".repeat(100);
    assert_eq!(
        cte(long_ascii.as_bytes()),
        ("quoted-printable".into(), "utf-8".into())
    );
    // ... even when non-ASCII only comes after the look-ahead (QP carries it).
    let late = "a".repeat(600) + "日本語";
    assert_eq!(
        cte(late.as_bytes()),
        ("quoted-printable".into(), "utf-8".into())
    );
    // ... base64 when the look-ahead is mostly non-ASCII.
    let cjk = "日本語".repeat(100);
    assert_eq!(cte(cjk.as_bytes()), ("base64".into(), "utf-8".into()));
}

#[test]
fn refusals() {
    let to = [Mailbox::new("bob@example.test")];
    let new = |h: Headers<'static>| {
        Composer::<NoReader, 0>::new(Message::new(h).text(Body::text("x")), "t").err()
    };
    let base = Headers {
        to: &[],
        ..Headers::new(Mailbox::new("a@example.test"))
    };
    assert_eq!(
        new(Headers {
            subject: Some("x\r\nBcc: evil@x"),
            ..base
        }),
        Some(MimeError::InvalidHeader)
    );
    assert_eq!(
        new(Headers {
            subject: Some("nul\0"),
            ..base
        }),
        Some(MimeError::InvalidHeader)
    );
    assert_eq!(
        new(Headers {
            from: Mailbox::named("x\nBcc: y", "a@example.test"),
            ..base
        }),
        Some(MimeError::InvalidHeader)
    );
    assert_eq!(
        new(Headers {
            from: Mailbox::new("a@b>\r\nX: y"),
            ..base
        }),
        Some(MimeError::InvalidAddress)
    );
    assert_eq!(
        new(Headers {
            from: Mailbox::new("jörg@example.test"),
            ..base
        }),
        Some(MimeError::NeedsSmtpUtf8)
    );
    assert_eq!(
        new(Headers {
            from: Mailbox::new("jörg@example.test"),
            smtputf8: true,
            ..base
        }),
        None
    );
    assert_eq!(
        new(Headers {
            extra: &[("X-Ok", "v"), ("Content-Type", "text/html")],
            ..base
        }),
        Some(MimeError::InvalidHeader)
    );
    assert_eq!(
        new(Headers {
            extra: &[("X Bad", "v")],
            ..base
        }),
        Some(MimeError::InvalidHeader)
    );
    assert_eq!(
        new(Headers {
            in_reply_to: Some("no-brackets@x"),
            ..base
        }),
        Some(MimeError::InvalidMessageId)
    );
    assert_eq!(
        new(Headers {
            references: &["<a@b>", "<c@d>\r\n"],
            ..base
        }),
        Some(MimeError::InvalidMessageId)
    );
    assert_eq!(
        new(Headers {
            message_id: Some(MessageId {
                token: "a>b",
                domain: "x"
            }),
            ..base
        }),
        Some(MimeError::InvalidMessageId)
    );
    assert!(Composer::<NoReader, 0>::new(Message::new(base), "bad token!").is_err());
    let _ = to;
    // Declared 7bit content that is not 7bit, or holds the boundary.
    let d = |bytes: &'static [u8]| {
        Composer::<NoReader, 0>::new(
            Message::new(base).text(Body::Declared {
                source: Source::Bytes(bytes),
                charset: Some("us-ascii"),
                encoding: TransferEncoding::SevenBit,
            }),
            "tok",
        )
        .err()
    };
    assert_eq!(d(b"caf\xe9"), Some(MimeError::Not7Bit));
    assert_eq!(d(b"ok\n--=_tok_0\n"), Some(MimeError::BoundaryInContent));
    assert_eq!(d(&[b'a'; 1000]), Some(MimeError::LineTooLong));
    assert_eq!(
        Composer::<NoReader, 0>::new(
            Message::new(base).text(Body::Text(Source::Bytes(b"\xff\xfe"))),
            "t"
        )
        .err(),
        Some(MimeError::NotUtf8)
    );
    // ... and the same found while streaming fails the read.
    let mut c = Composer::<Chunky<'_>, 0>::new(
        Message::new(base).text(Body::Declared {
            source: Source::Reader(Chunky::new(b"fine\n--=_tok_1 oops\n", 3)),
            charset: Some("us-ascii"),
            encoding: TransferEncoding::SevenBit,
        }),
        "tok",
    )
    .unwrap();
    let r = embassy_futures::block_on(async {
        let mut buf = [0u8; 64];
        loop {
            match c.read(&mut buf).await {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => return Some(e),
            }
        }
    });
    assert_eq!(r, Some(ComposeError::Mime(MimeError::BoundaryInContent)));
    // A failing source fails the read (and every later one).
    let mut msg: Message<'_, Failing, 1> = Message::new(base).text(Body::text("x"));
    msg.attach(Attachment::binary(
        "application/octet-stream",
        "f",
        Source::Reader(Failing(1000)),
    ))
    .unwrap();
    let mut c = Composer::new(msg, "t").unwrap();
    embassy_futures::block_on(async {
        let mut buf = [0u8; 256];
        let e = loop {
            match c.read(&mut buf).await {
                Ok(0) => panic!("must fail"),
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        assert!(matches!(e, ComposeError::Io(Boom)));
        assert!(c.read(&mut buf).await.is_err());
    });
    // Too many parts.
    let mut m: Message<'_, NoReader, 1> = Message::new(base);
    m.attach(Attachment::binary("a/b", "1", Source::Bytes(b"1")))
        .unwrap();
    assert_eq!(
        m.attach(Attachment::binary("a/b", "2", Source::Bytes(b"2")))
            .err(),
        Some(MimeError::TooManyParts)
    );
}

#[test]
fn boundaries_never_occur_in_encoded_content() {
    // Content built to collide: every line starts with the boundary text itself.
    let token = "K";
    let evil = "--=_K_0\n--=_K_1--\n--=_K_0--\n".repeat(50) + "Grüße";
    let to = [Mailbox::new("bob@example.test")];
    let mut msg: Message<'_, NoReader, 2> = Message::new(headers(&to, "evil"))
        .text(Body::text(&evil))
        .html(Body::text(&evil));
    msg.attach(Attachment {
        body: Body::Text(Source::Bytes(evil.as_bytes())),
        content_type: "text/plain",
        filename: Some("evil.txt"),
        content_id: None,
    })
    .unwrap();
    msg.attach(Attachment {
        body: Body::Declared {
            source: Source::Bytes(evil.as_bytes()),
            charset: None,
            encoding: TransferEncoding::QuotedPrintable,
        },
        content_type: "application/x-evil",
        filename: Some("evil.bin"),
        content_id: None,
    })
    .unwrap();
    let wire = compose(&mut Composer::new(msg, token).unwrap(), 256);
    let s = String::from_utf8(wire.clone()).unwrap();
    let delimiters = s.split("\r\n").filter(|l| l.starts_with("--=_K")).count();
    // mixed: open + 2 next + close; alternative: open + next + close.
    assert_eq!(delimiters, 7, "{s}");
    let p = parse_ours(&wire, 333, 128);
    assert_eq!(p.leaves.len(), 4);
    for l in &p.leaves[..3] {
        assert_eq!(l.text(), crlf(evil.as_bytes()));
    }
    assert_eq!(p.leaves[3].body, evil.as_bytes());
}

prop_compose! {
    fn nasty_text()(parts in proptest::collection::vec(prop_oneof![
        "\\PC{0,40}",
        Just(".".to_string()),
        Just("From me".to_string()),
        Just("\r".to_string()), Just("\n".to_string()), Just("\r\n".to_string()),
        Just(" \t ".to_string()),
        Just("=?utf-8?Q?x?=".to_string()),
        Just("--=_".to_string()),
        "[a-z]{990,1010}",
    ], 0..30)) -> String {
        parts.concat()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_text_and_binary_round_trip(
        text in nasty_text(),
        html in proptest::option::of(nasty_text()),
        subject in "\\PC{0,120}",
        name in "[^\r\n\0]{0,40}",
        data in proptest::collection::vec(any::<u8>(), 0..5000),
        fname in "\\PC{1,60}",
        read in 1usize..300,
        step in 1usize..500,
    ) {
        let subject_ok = !subject.contains(['\r', '\n', '\0']);
        prop_assume!(subject_ok);
        let to = [Mailbox::new("bob@example.test")];
        let from = Mailbox::named(&name, "zoe@example.test");
        let h = Headers { to: &to, subject: Some(&subject), ..Headers::new(from) };
        let mut msg: Message<'_, Chunky<'_>, 1> = Message::new(h).text(Body::Text(Source::Reader(Chunky::new(text.as_bytes(), step))));
        if let Some(h) = &html {
            msg = msg.html(Body::text(h));
        }
        msg.attach(Attachment::binary("application/octet-stream", &fname, Source::Reader(Chunky::new(&data, step)))).unwrap();
        let wire = compose(&mut Composer::new(msg, "p").unwrap(), read);
        let s = std::str::from_utf8(&wire).unwrap();
        for line in s.split("\r\n") {
            prop_assert!(line.len() <= 998);
        }
        // Headers fold at 78 where words allow: every header line is short.
        let head = &s[..s.find("\r\n\r\n").unwrap()];
        for line in head.split("\r\n") {
            prop_assert!(line.len() <= 78, "{}", line);
        }
        let trimmed = subject.trim_matches([' ', '\t']);
        let e = Expect {
            subject: (!trimmed.is_empty() && !trimmed.contains('\t')).then(|| trimmed.to_string()),
            from: (Some(name.clone()), "zoe@example.test".into()),
            to: vec![],
            text: Some(crlf(text.as_bytes())),
            html: html.as_ref().map(|h| crlf(h.as_bytes())),
            attachments: vec![(Some(fname.trim().to_string()).filter(|_| fname.trim() == fname), data.clone())],
        };
        if fname.trim() == fname && !name.contains(['"', '\\']) {
            check_both(&wire, &e);
        } else {
            let p = parse_ours(&wire, 97, 64);
            prop_assert_eq!(p.first("text/plain").unwrap().text(), crlf(text.as_bytes()));
            prop_assert!(p.attachments()[0].body == data);
        }
    }
}

/// Found by `random_text_and_binary_round_trip`: a subject ending in U+00A0 (no-break space)
/// keeps it; only SP and HTAB are header whitespace.
#[test]
fn subject_keeps_trailing_no_break_space() {
    let to = [Mailbox::new("bob@example.test")];
    let subject = "\u{1b150}{x]\"%[AV&Ui r:\u{b66}\u{1f574}\u{a5}\u{b8};\u{a0}";
    let h = Headers {
        to: &to,
        subject: Some(subject),
        ..Headers::new(Mailbox::named("Zoë", "zoe@example.test"))
    };
    let msg: Message<'_, Chunky<'_>, 0> =
        Message::new(h).text(Body::Text(Source::Reader(Chunky::new(b"hi\n", 3))));
    let wire = compose(&mut Composer::new(msg, "p").unwrap(), 64);
    let e = Expect {
        subject: Some(subject.to_string()),
        from: (Some("Zoë".into()), "zoe@example.test".into()),
        to: vec![],
        text: Some(b"hi\r\n".to_vec()),
        html: None,
        attachments: vec![],
    };
    check_both(&wire, &e);
}

#[test]
fn empty_streamed_text_and_long_html() {
    let to = [Mailbox::new("bob@example.test")];
    let html = "h".repeat(1000);
    for len in [997usize, 998, 999, 1000] {
        let html = &html[..len];
        let msg: Message<'_, Chunky<'_>, 0> = Message::new(headers(&to, "x"))
            .text(Body::Text(Source::Reader(Chunky::new(b"", 5))))
            .html(Body::text(html));
        let wire = compose(&mut Composer::new(msg, "t").unwrap(), 100);
        let p = parse_ours(&wire, 100, 100);
        assert_eq!(p.first("text/html").unwrap().text(), html.as_bytes());
    }
}
