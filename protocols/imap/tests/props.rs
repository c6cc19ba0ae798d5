//! Property tests: chunking and buffer-size invariance, and encode-then-parse round trips.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use common::json::{DecodeSettings, EXIT_ERROR, decode};
use postwire_imap::mutf7;
use postwire_imap::wire::{
    Command, EncodeOptions, LiteralMode, Response, SeqNum, SeqRange, Status, parse_response,
};
use proptest::prelude::*;

/// Write `s` as an IMAP string the way a server might: atom, quoted or literal.
fn server_string(s: &[u8], style: u8) -> Vec<u8> {
    let atom_ok = !s.is_empty()
        && s.iter().all(|&b| postwire_imap::wire::is_atom_char(b))
        && !s.eq_ignore_ascii_case(b"NIL");
    let quotable = s.iter().all(|&b| b != b'\r' && b != b'\n' && b != 0);
    let mut out = Vec::new();
    if style == 0 && atom_ok {
        out.extend_from_slice(s);
    } else if style <= 1 && quotable {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
        out.extend_from_slice(s);
    }
    out
}

fn any_text() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            Just(b'a'),
            Just(b' '),
            Just(b'"'),
            Just(b'\\'),
            Just(b'{'),
            Just(b'}'),
            Just(b'('),
            Just(b'\r'),
            Just(b'\n'),
            Just(0xe9u8),
            (0x20u8..0x7f),
        ],
        0..24,
    )
}

/// A generated server response: (bytes, longest non-streamed fragment).
fn response() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (1u64..u64::MAX, 0u8..3).prop_map(|(n, k)| {
            let w = ["EXISTS", "RECENT", "EXPUNGE"][k as usize];
            format!("* {n} {w}\r\n").into_bytes()
        }),
        ("[a-z]{1,6}", "[ -~&&[^\\[]]{0,20}")
            .prop_map(|(t, text)| format!("{t} OK {text}\r\n").into_bytes()),
        (
            1u64..1000,
            1u64..u64::MAX,
            any_text(),
            0u8..3,
            proptest::collection::vec(any::<u8>(), 0..300),
            0u8..3
        )
            .prop_map(|(seq, uid, subject, style, body, bstyle)| {
                let mut r = format!("* {seq} FETCH (UID {uid} FLAGS (\\Seen $Junk) ENVELOPE (NIL ")
                    .into_bytes();
                r.extend(server_string(&subject, style.max(1)));
                r.extend_from_slice(b" NIL NIL NIL NIL NIL NIL NIL NIL) BODY[] ");
                r.extend(server_string(&body, bstyle.max(1)));
                r.extend_from_slice(b" RFC822.SIZE 12)\r\n");
                r
            }),
        (any_text(), 0u8..3).prop_map(|(name, style)| {
            let mut r = b"* LIST (\\HasNoChildren) \"/\" ".to_vec();
            r.extend(server_string(&name, style));
            r.extend_from_slice(b"\r\n");
            r
        }),
        Just(b"* CAPABILITY IMAP4rev1 LITERAL+ IDLE \r\n".to_vec()),
        Just(b"+ idling\r\n".to_vec()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// The same responses for any read size, any buffer at least as long as the longest
    /// line, and any inline limit (large FETCH literals are then streamed).
    #[test]
    fn chunking_and_buffer_invariance(
        responses in proptest::collection::vec(response(), 1..8),
        chunk in 1usize..64,
        slack in 0usize..64,
        inline in 24usize..64,
    ) {
        let input: Vec<u8> = responses.concat();
        let base = decode(&input, false, DecodeSettings::DEFAULT);
        prop_assert_eq!(base.exit, 0, "{}", base.message);
        prop_assert_eq!(base.lines.len(), responses.len());
        // Longest response without its FETCH body literal (bodies may be streamed).
        let longest = responses.iter().map(|r| {
            let text = String::from_utf8_lossy(r);
            match text.find("BODY[] {") {
                Some(p) => p + 16,
                None => r.len(),
            }
        }).max().unwrap();
        // Subject literals (< 24 bytes) stay inline; count them in.
        let buffer = longest + 64 + slack;
        let other = decode(&input, false, DecodeSettings { buffer, inline_literal_max: inline, chunk });
        prop_assert_eq!(&other.lines, &base.lines, "{}", other.message);
        let tiny = decode(&input, false, DecodeSettings { buffer: 64 * 1024, inline_literal_max: 64 * 1024, chunk: 1 });
        prop_assert_eq!(&tiny.lines, &base.lines);
    }

    /// The slice parser (which parses a FETCH without framing it first) cuts the stream into
    /// exactly the frames `frame_response` finds.
    #[test]
    fn slice_parser_frames_as_frame_response(responses in proptest::collection::vec(response(), 1..8)) {
        let input: Vec<u8> = responses.concat();
        let mut rest = &input[..];
        let mut n = 0;
        while !rest.is_empty() {
            let framed = postwire_imap::wire::frame_response(rest, &postwire_imap::wire::Limits::DEFAULT);
            match postwire_imap::wire::parse_response(rest) {
                Ok(postwire_imap::wire::Status::Complete((len, _))) => {
                    prop_assert_eq!(framed, Ok(postwire_imap::wire::Framed::Complete(len)));
                    prop_assert_eq!(len, responses[n].len());
                    rest = &rest[len..];
                    n += 1;
                }
                other => prop_assert!(false, "{:?}", other.map(|_| ())),
            }
        }
        prop_assert_eq!(n, responses.len());
    }

    /// Arbitrary bytes: never a panic, and the same outcome for every read size.
    #[test]
    fn garbage_is_chunking_invariant(input in proptest::collection::vec(
        prop_oneof![Just(b'{'), Just(b'}'), Just(b'\r'), Just(b'\n'), Just(b'*'), Just(b' '), Just(b'('), Just(b')'), Just(b'3'), any::<u8>()], 0..300),
        chunk in 1usize..40, buffer in 8usize..128, inline in 0usize..64)
    {
        let s = DecodeSettings { buffer, inline_literal_max: inline, chunk: 0 };
        let a = decode(&input, false, s);
        let b = decode(&input, false, DecodeSettings { chunk, ..s });
        prop_assert_eq!(a.exit, b.exit);
        prop_assert_eq!(a.lines, b.lines);
        let _ = parse_response(&input);
    }

    /// Mailbox names: encode a command, turn its argument into a LIST response, parse it and
    /// decode the modified UTF-7 name back.
    #[test]
    fn mailbox_roundtrip(name in "\\PC{0,12}", mode in 0u8..3, quoted in any::<bool>()) {
        prop_assume!(!name.is_empty() && !name.contains('\0') && !name.eq_ignore_ascii_case("INBOX"));
        let opts = EncodeOptions {
            literal: [LiteralMode::Sync, LiteralMode::Plus, LiteralMode::Minus][mode as usize],
            utf8: false,
            prefer_quoted: quoted,
        };
        let mut buf = [0u8; 512];
        let e = Command::Create(&name).encode("t", &opts, &mut buf).unwrap();
        let wire = &buf[..e.len()];
        prop_assert!(!wire[..wire.len() - 2].contains(&b'\n'), "CR/LF outside a literal");
        let mut resp = b"* LIST () \"/\" ".to_vec();
        resp.extend_from_slice(&wire[b"t CREATE ".len()..]);
        let Ok(Status::Complete((n, Response::List(l)))) = parse_response(&resp) else {
            panic!("{:?}", String::from_utf8_lossy(&resp));
        };
        prop_assert_eq!(n, resp.len());
        let raw: Vec<u8> = l.mailbox.chunks().flatten().copied().collect();
        let mut out = [0u8; 256];
        prop_assert_eq!(mutf7::decode_str(&raw, &mut out).unwrap(), name.as_str());
    }

    /// Arbitrary strings (including CR/LF and 8-bit) survive astring encoding and parsing:
    /// LOGIN's password becomes a QUOTA root.
    #[test]
    fn string_roundtrip(pw in "[^\\x00]{0,40}", mode in 0u8..3, utf8 in any::<bool>()) {
        let opts = EncodeOptions {
            literal: [LiteralMode::Sync, LiteralMode::Plus, LiteralMode::Minus][mode as usize],
            utf8,
            prefer_quoted: false,
        };
        let mut buf = [0u8; 512];
        let e = Command::Login { username: "u", password: &pw }.encode("t", &opts, &mut buf).unwrap();
        let wire = &buf[..e.len()];
        let arg = &wire[b"t LOGIN u ".len()..];
        // Synchronizing literals: the wait point is right after the announcement.
        for &p in e.sync_points() {
            prop_assert_eq!(&buf[p - 2..p], b"\r\n");
            prop_assert_eq!(buf[p - 3], b'}');
        }
        let mut resp = b"* QUOTA ".to_vec();
        resp.extend_from_slice(&arg[..arg.len() - 2]);
        resp.extend_from_slice(b" (STORAGE 1 2)\r\n");
        let Ok(Status::Complete((_, Response::Quota(q)))) = parse_response(&resp) else {
            panic!("{:?}", String::from_utf8_lossy(&resp));
        };
        let got: Vec<u8> = q.root.chunks().flatten().copied().collect();
        prop_assert_eq!(got, pw.as_bytes().to_vec());
    }

    /// Sequence sets: UID EXPUNGE's set parsed back from a VANISHED response.
    #[test]
    fn seqset_roundtrip(ranges in proptest::collection::vec((1u64..u64::MAX, 1u64..u64::MAX), 1..10)) {
        let set: Vec<SeqRange> = ranges.iter().map(|&(a, b)| SeqRange { start: SeqNum::Value(a), end: SeqNum::Value(b) }).collect();
        let mut buf = [0u8; 1024];
        let e = Command::UidExpunge(&set).encode("t", &EncodeOptions::default(), &mut buf).unwrap();
        let mut resp = b"* VANISHED ".to_vec();
        resp.extend_from_slice(&buf[b"t UID EXPUNGE ".len()..e.len()]);
        let Ok(Status::Complete((_, Response::Vanished(v)))) = parse_response(&resp) else { panic!() };
        let got: Vec<(u64, u64)> = v.uids.collect();
        prop_assert_eq!(got, ranges);
    }
}

#[test]
fn over_long_line_resynchronises_honouring_literals() {
    // The over-long line announces a literal containing a fake tagged response.
    let mut input = b"* 1 FETCH (BODY[HEADER.FIELDS (".to_vec();
    input.extend(std::iter::repeat_n(b'X', 300));
    input.extend_from_slice(b")] {13}\r\nA1 OK fake\r\n)\r\nA2 OK real\r\n");
    let d = decode(
        &input,
        false,
        DecodeSettings {
            buffer: 64,
            inline_literal_max: 16,
            chunk: 5,
        },
    );
    assert_eq!(d.exit, EXIT_ERROR);
    assert!(d.message.contains("longer"), "{}", d.message);
    // The reader itself continues after the error: check with the raw API.
    let mut storage = [0u8; 64];
    let mut r = postwire_imap::wire::ResponseReader::new(
        &mut storage,
        postwire_imap::wire::ReaderConfig {
            greeting: false,
            inline_literal_max: 16,
            ..Default::default()
        },
    );
    let mut tags = Vec::new();
    let mut errors = 0;
    let mut rest = &input[..];
    loop {
        loop {
            match r.next_event() {
                Ok(None) => break,
                Ok(Some(postwire_imap::wire::Event::Response(Response::Status(s)))) => {
                    tags.push(s.tag.unwrap().to_vec())
                }
                Ok(Some(_)) => {}
                Err(_) => errors += 1,
            }
        }
        if rest.is_empty() {
            break;
        }
        let n = r.feed(rest);
        rest = &rest[n..];
    }
    assert_eq!(errors, 1);
    assert_eq!(tags, vec![b"A2".to_vec()]);
}

#[test]
fn fifty_megabytes_through_one_kib() {
    let body_len = 50 * 1024 * 1024u64;
    let head = format!("* 7 FETCH (UID 9 BODY[] {{{body_len}}}\r\n");
    let mut storage = [0u8; 1024];
    let mut r = postwire_imap::wire::ResponseReader::new(
        &mut storage,
        postwire_imap::wire::ReaderConfig {
            greeting: false,
            ..Default::default()
        },
    );
    let chunk = vec![b'x'; 4096];
    let mut sent = 0u64;
    let mut got = 0u64;
    let mut done = false;
    let mut pending: Vec<u8> = head.into_bytes();
    loop {
        while !pending.is_empty() {
            let n = r.feed(&pending);
            pending.drain(..n);
            while let Some(ev) = r.next_event().unwrap() {
                match ev {
                    postwire_imap::wire::Event::LiteralData { data, .. } => {
                        got += data.len() as u64
                    }
                    postwire_imap::wire::Event::FetchMore { streamed: None, .. } => done = true,
                    _ => {}
                }
            }
        }
        if sent < body_len {
            let n = chunk.len().min((body_len - sent) as usize);
            pending.extend_from_slice(&chunk[..n]);
            sent += n as u64;
        } else if !done {
            pending.extend_from_slice(b" FLAGS (\\Seen))\r\n");
            sent += 1;
            if sent > body_len + 1 {
                break;
            }
        } else {
            break;
        }
    }
    assert!(done);
    assert_eq!(got, body_len);
}
