//! Property tests for the wire layer.

extern crate std;

use std::string::String;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;

/// Reply as seen by a test: code and line texts.
type Seen = (u16, Vec<Vec<u8>>);

/// Replies with their end offsets, and how parsing stopped.
type Parsed = (Vec<(usize, Seen)>, Result<Status<()>, ReplyError>);

fn parse_all(input: &[u8]) -> Parsed {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        match parse_reply(&input[pos..]) {
            Ok(Status::Complete((n, r))) => {
                assert!(n > 0 && pos + n <= input.len());
                pos += n;
                out.push((
                    pos,
                    (r.code().value(), r.lines().map(<[u8]>::to_vec).collect()),
                ));
            }
            Ok(Status::Partial) => return (out, Ok(Status::Partial)),
            Err(e) => return (out, Err(e)),
        }
    }
}

fn reply_strategy() -> impl Strategy<Value = (u16, Vec<(String, bool)>)> {
    (
        0u16..=999,
        prop::collection::vec(("[ -~\u{e9}\u{3b1}]{0,30}", any::<bool>()), 1..5),
    )
}

fn render(code: u16, lines: &[(String, bool)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, (text, crlf)) in lines.iter().enumerate() {
        let last = i + 1 == lines.len();
        out.extend_from_slice(std::format!("{code:03}").as_bytes());
        if !(last && text.is_empty() && *crlf) {
            out.push(if last { b' ' } else { b'-' });
        }
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
    }
    out
}

proptest! {
    #[test]
    fn any_prefix_gives_the_same_replies(replies in prop::collection::vec(reply_strategy(), 1..5)) {
        let mut input = Vec::new();
        let mut expected: Vec<(usize, Seen)> = Vec::new();
        for (code, lines) in &replies {
            input.extend_from_slice(&render(*code, lines));
            let texts = lines.iter().map(|(t, _)| t.as_bytes().to_vec()).collect();
            expected.push((input.len(), (*code, texts)));
        }
        let (full, end) = parse_all(&input);
        prop_assert_eq!(&full, &expected);
        prop_assert_eq!(end, Ok(Status::Partial));
        for k in 0..=input.len() {
            let (got, end) = parse_all(&input[..k]);
            let done = expected.iter().filter(|(e, _)| *e <= k).count();
            prop_assert_eq!(&got[..], &expected[..done]);
            prop_assert_eq!(end, Ok(Status::Partial));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_prefixes_agree(input in prop::collection::vec(any::<u8>(), 0..300)) {
        let full = parse_reply(&input);
        if let Ok(Status::Complete((n, r))) = full {
            prop_assert!(n <= input.len());
            for k in 0..n {
                prop_assert_eq!(parse_reply(&input[..k]), Ok(Status::Partial));
            }
            let again = parse_reply(&input[..n]);
            prop_assert_eq!(again, Ok(Status::Complete((n, r))));
            let _ = r.enhanced();
            let _ = Capabilities::from_ehlo(&r);
        }
    }

    #[test]
    fn encode_never_emits_line_breaks(
        s in "(?s).{0,40}",
        b in prop::collection::vec(any::<u8>(), 0..40),
        n in any::<u64>(),
        flags in any::<(bool, bool)>(),
    ) {
        let commands = [
            Command::Ehlo(&s),
            Command::Helo(&s),
            Command::Auth { mechanism: &s, initial_response: None },
            Command::Auth { mechanism: "PLAIN", initial_response: Some(&b) },
            Command::AuthResponse(&b),
            Command::AuthResponse(s.as_bytes()),
            Command::MailFrom { address: &s, size: Some(n), body_8bitmime: flags.0, smtputf8: flags.1 },
            Command::RcptTo { address: &s, smtputf8: flags.1 },
            Command::Vrfy(&s),
            Command::Expn(&s),
            Command::Help(Some(&s)),
            Command::Bdat { size: n, last: flags.0 },
        ];
        for c in commands {
            let mut buf = [0u8; 256];
            match c.encode(&mut buf) {
                Ok(len) => {
                    prop_assert_eq!(len, c.encoded_len());
                    prop_assert!(len >= 2);
                    prop_assert_eq!(&buf[len - 2..len], b"\r\n");
                    prop_assert!(!buf[..len - 2].iter().any(|&x| x == b'\r' || x == b'\n' || x == 0));
                }
                Err(e) => prop_assert_eq!(e, EncodeError::InvalidArgument),
            }
        }
    }
}
