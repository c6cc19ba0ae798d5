//! Reader properties: any chunking of the input and any output size give the same events;
//! arbitrary bytes never panic and always end; `text_of_message` picks plain over HTML.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use postwire_mime::reader::{Event, Reader};
use postwire_mime::text::{TextKind, read_text_of_message, text_of_message};
use proptest::prelude::*;

/// Events as strings, body chunks merged.
fn events(msg: &[u8], chunk: usize, out_len: usize, buf_len: usize) -> Vec<String> {
    let mut buf = vec![0u8; buf_len];
    let mut out = vec![0u8; out_len];
    let mut r = Reader::new(&mut buf).unwrap();
    let mut evs: Vec<String> = Vec::new();
    let mut body = Vec::new();
    let (mut pos, mut end) = (0, chunk.min(msg.len()));
    let mut steps = 0usize;
    loop {
        steps += 1;
        assert!(steps < 1_000_000, "no progress");
        let (n, ev) = r.next(&msg[pos..end], &mut out).unwrap();
        pos += n;
        if let Some(Event::Body(b)) = ev {
            body.extend_from_slice(b);
            continue;
        }
        if ev.is_some() && !body.is_empty() {
            evs.push(format!("body {}", String::from_utf8_lossy(&body)));
            body.clear();
        }
        match ev {
            None if end == msg.len() => r.finish(),
            None => end = (end + chunk).min(msg.len()),
            Some(Event::End) => return evs,
            Some(Event::Header(f)) => evs.push(format!(
                "{}: {}{}",
                String::from_utf8_lossy(f.name),
                String::from_utf8_lossy(f.value),
                if f.truncated { " [truncated]" } else { "" }
            )),
            Some(Event::PartStart(p)) => evs.push(format!(
                "start {} {} {:?}",
                p.depth,
                p.mime_type(),
                p.encoding
            )),
            Some(Event::PartEnd { depth }) => evs.push(format!("end {depth}")),
            Some(Event::Body(_)) => unreachable!(),
        }
    }
}

const SAMPLE: &[u8] = b"From: a@b\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n folded\r\nContent-Type: multipart/mixed;\r\n boundary=\"outer\"\r\n\r\npreamble\r\n--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe =\r\naus Halle\r\n--inner\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--inner--\r\n--outer\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--outer\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\nAwQF\r\n--outer--\r\nepilogue\r\n";

#[test]
fn sample_events() {
    let e = events(SAMPLE, SAMPLE.len(), 64, 256);
    assert_eq!(
        e,
        [
            "From: a@b",
            "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= folded",
            "Content-Type: multipart/mixed; boundary=\"outer\"",
            "start 0 multipart/mixed Identity",
            "Content-Type: multipart/alternative; boundary=inner",
            "start 1 multipart/alternative Identity",
            "Content-Type: text/plain; charset=iso-8859-1",
            "Content-Transfer-Encoding: quoted-printable",
            "start 2 text/plain QuotedPrintable",
            "body Gr\u{fffd}\u{fffd}e aus Halle",
            "end 2",
            "Content-Type: text/html",
            "start 2 text/html Identity",
            "body <p>x</p>",
            "end 2",
            "end 1",
            "Content-Type: message/rfc822",
            "start 1 message/rfc822 Identity",
            "Subject: inner",
            "start 2 text/plain Identity",
            "body inner body",
            "end 2",
            "end 1",
            "Content-Type: application/octet-stream",
            "Content-Transfer-Encoding: base64",
            "start 1 application/octet-stream Base64",
            "body \0\u{1}\u{2}\u{3}\u{4}\u{5}",
            "end 1",
            "end 0",
        ]
    );
    // Bare LF line ends: the same structure.
    let lf: Vec<u8> = SAMPLE.iter().copied().filter(|&b| b != b'\r').collect();
    let e_lf = events(&lf, 5, 64, 256);
    assert_eq!(e_lf.len(), e.len());
    // A header field longer than the buffer is reported truncated, the rest goes on.
    let long = [b"X-Long: ".as_slice(), &[b'a'; 300], b"\r\n\r\nbody\r\n"].concat();
    let e = events(&long, 7, 64, 128);
    assert!(e[0].ends_with("[truncated]"));
    assert_eq!(e[2], "body body\r\n");
}

#[test]
fn text_of_message_prefers_plain() {
    let mut buf = [0u8; 512];
    let mut out = [0u8; 256];
    let t = text_of_message(SAMPLE, &mut buf, &mut out)
        .unwrap()
        .unwrap();
    assert_eq!(t.kind, TextKind::Plain);
    assert_eq!(&out[..t.len], "Grüße aus Halle".as_bytes());
    let html_first = b"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>h</p>\r\n--b\r\nContent-Type: text/plain\r\n\r\nplain\r\n--b--\r\n";
    let t = text_of_message(html_first, &mut buf, &mut out)
        .unwrap()
        .unwrap();
    assert_eq!((t.kind, &out[..t.len]), (TextKind::Plain, &b"plain"[..]));
    let html_only = b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>h\xc3\xa9</p>\r\n";
    let t = embassy_futures::block_on(read_text_of_message(&html_only[..], &mut buf, &mut out))
        .unwrap()
        .unwrap();
    assert_eq!(
        (t.kind, &out[..t.len]),
        (TextKind::Html, "<p>hé</p>\r\n".as_bytes())
    );
    let mut small = [0u8; 4];
    let t = text_of_message(SAMPLE, &mut buf, &mut small)
        .unwrap()
        .unwrap();
    assert!(t.truncated);
    assert_eq!(
        text_of_message(b"Content-Type: image/png\r\n\r\nxx", &mut buf, &mut out).unwrap(),
        None
    );
}

proptest! {
    #[test]
    fn chunking_does_not_matter(chunk in 1usize..80, out_len in 64usize..200) {
        prop_assert_eq!(events(SAMPLE, chunk, out_len, 256), events(SAMPLE, SAMPLE.len(), 4096, 256));
    }

    #[test]
    fn arbitrary_input_ends(data in proptest::collection::vec(prop_oneof![
        Just(b"\r\n".to_vec()), Just(b"\n".to_vec()), Just(b"--b".to_vec()), Just(b"--b--".to_vec()),
        Just(b"Content-Type: multipart/mixed; boundary=b\r\n".to_vec()),
        Just(b"Content-Type: message/rfc822\r\n".to_vec()),
        Just(b"Content-Transfer-Encoding: base64\r\n".to_vec()),
        Just(b"Content-Transfer-Encoding: quoted-printable\r\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..20),
    ], 0..60), chunk in 1usize..50) {
        let msg = data.concat();
        let a = events(&msg, chunk, 64, 128);
        let b = events(&msg, msg.len().max(1), 1000, 128);
        prop_assert_eq!(a, b);
    }
}
