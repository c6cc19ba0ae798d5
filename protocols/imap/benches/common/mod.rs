//! The two benchmark streams and the four parsers, shared by `parse` (criterion) and
//! `ratio` (interleaved rounds, robust ratios on a noisy machine).
#![allow(dead_code, reason = "each bench uses its part")]

use std::hint::black_box;

use imap_codec::ResponseCodec;
use imap_codec::decode::Decoder;
use postwire_imap::wire::{Event, ReaderConfig, Response, ResponseReader, Status, parse_response};

/// Deterministic pseudo-random numbers (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Mailbox-sync stream (seed `0x2545_f491_4f6c_dd1d`, xorshift64 above): a mix of the FETCH
/// responses a client receives while synchronising a mailbox. Nothing in it is chosen for
/// the benefit of one parser; every parser must accept all of it.
///
/// Per response, drawn independently:
/// * 10 %: a flag update `* n FETCH (UID u FLAGS (...))` (0–3 flags).
/// * 90 %: a header fetch `UID u FLAGS (0–3 of \Seen \Answered \Flagged $Forwarded $NotJunk
///   $Junk NonJunk) INTERNALDATE "dd-Mon-yyyy hh:mm:ss +zzzz" RFC822.SIZE n ENVELOPE (...)
///   BODYSTRUCTURE (...) BODY[HEADER.FIELDS (REFERENCES LIST-ID)] {n}` with a 60–400 byte
///   header literal, and then
///   - 8 %: `BODY[TEXT] {n}` small body of 0.3–4 KB,
///   - 1 %: `BODY[TEXT] {n}` large body of 8–64 KB.
/// * ENVELOPE: RFC 5322 date; subject from a list with plain, `Re:`/`Fwd:`, escaped quotes
///   and `=?UTF-8?Q?...?=`/`=?utf-8?B?...?=` encoded words; From, Sender and Reply-To with
///   one address (Reply-To NIL 30 %), To with 1–5 addresses, Cc NIL (60 %) or 1–3
///   addresses, Bcc NIL; display names quoted (some with escapes or encoded words) or NIL
///   (25 %); In-Reply-To NIL (50 %) or a message id; a Message-ID.
/// * BODYSTRUCTURE (with extension data, as Dovecot/Gmail send it): 25 % single
///   text/plain; 40 % multipart/alternative (text/plain + text/html); 25 % multipart/mixed
///   holding a multipart/alternative and 1–2 attachments (application/pdf, image/jpeg,
///   application/zip with Content-Disposition and filename); 10 % multipart/related
///   (text/html + 1–2 inline images with Content-ID). Parameters (charset, format, name,
///   boundary), dispositions, occasional language ("EN") and location.
pub fn mailbox_sync_stream(target: usize) -> (Vec<u8>, usize) {
    use std::fmt::Write;
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    const FLAGS: [&str; 7] = [
        "\\Seen",
        "\\Answered",
        "\\Flagged",
        "$Forwarded",
        "$NotJunk",
        "$Junk",
        "NonJunk",
    ];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const ZONES: [&str; 5] = ["+0000", "-0700", "+0200", "+0100", "-0500"];
    const SUBJECTS: [&str; 12] = [
        "Quarterly report",
        "Re: lunch on Friday?",
        "Fwd: Re: Updated invoice #20931 for October",
        "=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_Berlin?=",
        "=?utf-8?B?w5xiZXJzaWNodCBkZXIgV29jaGU=?=",
        "[dev-list] Weekly digest, issue 42",
        "Your order has shipped",
        "Re: [project] Fix \\\"flaky\\\" test in CI (#1234)",
        "Meeting notes 2024-07-17",
        "Invitation: Design review @ Wed Jul 17, 2024 10am - 11am (PDT)",
        "Re: Re: Re: holiday plans",
        "=?UTF-8?Q?R=C3=A9union_d=27=C3=A9quipe?= =?UTF-8?Q?_demain?=",
    ];
    const NAMES: [&str; 10] = [
        "Alice Example",
        "Bob \\\"Bobby\\\" Builder",
        "Carol Danvers",
        "Dave von Nowhere",
        "=?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?=",
        "Erin O'Brien",
        "Frank (Support)",
        "GitHub",
        "=?utf-8?B?5bGx55Sw5aSq6YOO?=",
        "Heidi Klum-Smith",
    ];
    const USERS: [&str; 8] = [
        "alice",
        "bob.builder",
        "carol",
        "dave",
        "juergen.mueller",
        "erin",
        "noreply",
        "notifications",
    ];
    const HOSTS: [&str; 6] = [
        "example.org",
        "mail.example.com",
        "example.net",
        "github.com",
        "lists.example.org",
        "corp.example.co.uk",
    ];

    fn address(rng: &mut Rng, s: &mut String) {
        s.push('(');
        if rng.below(4) == 0 {
            s.push_str("NIL");
        } else {
            let _ = write!(s, "\"{}\"", NAMES[rng.below(10) as usize]);
        }
        let _ = write!(
            s,
            " NIL \"{}\" \"{}\")",
            USERS[rng.below(8) as usize],
            HOSTS[rng.below(6) as usize]
        );
    }
    fn addresses(rng: &mut Rng, s: &mut String, n: u64) {
        s.push('(');
        for _ in 0..n {
            address(rng, s);
        }
        s.push(')');
    }
    fn text_part(rng: &mut Rng, s: &mut String, sub: &str) {
        let size = 200 + rng.below(20_000);
        let enc = ["7BIT", "QUOTED-PRINTABLE", "8BIT", "BASE64"][rng.below(4) as usize];
        let params = if rng.below(3) == 0 {
            "(\"CHARSET\" \"utf-8\" \"FORMAT\" \"flowed\")"
        } else {
            "(\"CHARSET\" \"UTF-8\")"
        };
        let _ = write!(
            s,
            "(\"TEXT\" \"{sub}\" {params} NIL NIL \"{enc}\" {size} {} NIL NIL NIL NIL)",
            size / 60 + 1
        );
    }
    fn attachment(rng: &mut Rng, s: &mut String, inline: bool, k: u64) {
        let (t, sub, name) = [
            ("APPLICATION", "PDF", "report-q3.pdf"),
            ("IMAGE", "JPEG", "IMG_20240717_104233.jpg"),
            ("APPLICATION", "ZIP", "logs.zip"),
            ("IMAGE", "PNG", "logo.png"),
        ][rng.below(4) as usize];
        let size = 2_000 + rng.below(2_000_000);
        let id = if inline {
            format!("\"<part{k}.{}@example.org>\"", rng.below(1_000_000))
        } else {
            "NIL".to_owned()
        };
        let disp = if inline { "INLINE" } else { "ATTACHMENT" };
        let lang = if rng.below(5) == 0 { "\"EN\"" } else { "NIL" };
        let _ = write!(
            s,
            "(\"{t}\" \"{sub}\" (\"NAME\" \"{name}\") {id} NIL \"BASE64\" {size} NIL (\"{disp}\" (\"FILENAME\" \"{name}\" \"SIZE\" \"{size}\")) {lang} NIL)"
        );
    }
    fn boundary(rng: &mut Rng, s: &mut String, sub: &str) {
        let _ = write!(
            s,
            " \"{sub}\" (\"BOUNDARY\" \"----=_Part_{}_{}.{}\") NIL NIL NIL)",
            rng.below(100_000),
            rng.below(1_000_000_000),
            rng.below(10_000_000_000_000)
        );
    }
    fn alternative(rng: &mut Rng, s: &mut String) {
        s.push('(');
        text_part(rng, s, "PLAIN");
        text_part(rng, s, "HTML");
        boundary(rng, s, "ALTERNATIVE");
    }
    fn bodystructure(rng: &mut Rng, s: &mut String) {
        match rng.below(20) {
            0..5 => text_part(rng, s, "PLAIN"),
            5..13 => alternative(rng, s),
            13..18 => {
                s.push('(');
                alternative(rng, s);
                for k in 0..1 + rng.below(2) {
                    attachment(rng, s, false, k);
                }
                boundary(rng, s, "MIXED");
            }
            _ => {
                s.push('(');
                text_part(rng, s, "HTML");
                for k in 0..1 + rng.below(2) {
                    attachment(rng, s, true, k);
                }
                boundary(rng, s, "RELATED");
            }
        }
    }
    fn flags(rng: &mut Rng, s: &mut String) {
        s.push_str("FLAGS (");
        let n = rng.below(4);
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(FLAGS[rng.below(7) as usize]);
        }
        s.push(')');
    }
    fn literal_text(rng: &mut Rng, out: &mut Vec<u8>, len: usize) {
        // Mail-like text: 70-character lines of lower-case words.
        let mut col = 0;
        for _ in 0..len {
            let b = if col == 70 {
                col = 0;
                b'\n'
            } else if col == 69 {
                b'\r'
            } else if rng.below(6) == 0 {
                b' '
            } else {
                b'a' + rng.below(26) as u8
            };
            col += 1;
            out.push(b);
        }
    }

    let mut out = Vec::with_capacity(target + 128 * 1024);
    let mut s = String::with_capacity(4096);
    let mut n = 0;
    let mut seq = 1u64;
    let mut uid = 52_000u64;
    while out.len() < target {
        s.clear();
        uid += 1 + rng.below(3);
        let _ = write!(s, "* {seq} FETCH (UID {uid} ");
        flags(&mut rng, &mut s);
        if rng.below(10) == 0 {
            s.push_str(")\r\n");
            out.extend_from_slice(s.as_bytes());
        } else {
            let (day, mon, h, m, sec) = (
                1 + rng.below(28),
                MONTHS[rng.below(12) as usize],
                rng.below(24),
                rng.below(60),
                rng.below(60),
            );
            let zone = ZONES[rng.below(5) as usize];
            let _ = write!(
                s,
                " INTERNALDATE \"{day:2}-{mon}-2024 {h:02}:{m:02}:{sec:02} {zone}\" RFC822.SIZE {} ENVELOPE (\"{}, {day} {mon} 2024 {h:02}:{m:02}:{sec:02} {zone}\" \"{}\" ",
                1_000 + rng.below(200_000),
                DAYS[rng.below(7) as usize],
                SUBJECTS[rng.below(12) as usize],
            );
            let mut from = String::new();
            address(&mut rng, &mut from);
            let _ = write!(s, "({from}) ({from}) ");
            if rng.below(10) < 3 {
                s.push_str("NIL ");
            } else {
                addresses(&mut rng, &mut s, 1);
                s.push(' ');
            }
            let to = 1 + rng.below(5);
            addresses(&mut rng, &mut s, to);
            s.push(' ');
            if rng.below(10) < 6 {
                s.push_str("NIL");
            } else {
                let cc = 1 + rng.below(3);
                addresses(&mut rng, &mut s, cc);
            }
            s.push_str(" NIL ");
            if rng.below(2) == 0 {
                s.push_str("NIL");
            } else {
                let _ = write!(s, "\"<CAF{:x}@mail.example.com>\"", rng.next());
            }
            let _ = write!(
                s,
                " \"<{:x}.{uid}@example.org>\") BODYSTRUCTURE ",
                rng.next()
            );
            bodystructure(&mut rng, &mut s);
            let hdr = format!(
                "References: <CAF{:x}@mail.example.com>\r\n <{:x}@example.net>\r\nList-Id: Developers <dev.lists.example.org>\r\n\r\n",
                rng.next(),
                rng.next()
            );
            let hdr = &hdr[..hdr.len().min(60 + rng.below(340) as usize)];
            let _ = write!(
                s,
                " BODY[HEADER.FIELDS (REFERENCES LIST-ID)] {{{}}}\r\n{hdr}",
                hdr.len()
            );
            out.extend_from_slice(s.as_bytes());
            let body = match rng.below(100) {
                0..8 => 300 + rng.below(3_700) as usize,
                8 => 8 * 1024 + rng.below(56 * 1024) as usize,
                _ => 0,
            };
            if body > 0 {
                out.extend_from_slice(format!(" BODY[TEXT] {{{body}}}\r\n").as_bytes());
                literal_text(&mut rng, &mut out, body);
            }
            out.extend_from_slice(b")\r\n");
        }
        seq += 1;
        n += 1;
    }
    (out, n)
}

/// Body-heavy stream (seed `0x9e37_79b9_7f4a_7c15`): every response has UID, FLAGS,
/// INTERNALDATE, RFC822.SIZE, ENVELOPE, a three-part BODYSTRUCTURE and a 0.5–8.5 KB
/// `BODY[]` literal.
pub fn body_heavy_stream(target: usize) -> (Vec<u8>, usize) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let names = [
        "Alice Example",
        "Bob \\\"Bobby\\\" Builder",
        "Carol",
        "Dave von Nowhere",
    ];
    let subjects = [
        "Quarterly report",
        "Re: lunch?",
        "=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_Berlin?=",
        "[list] Weekly digest, issue 42",
    ];
    let mut out = Vec::with_capacity(target + 16 * 1024);
    let mut n = 0;
    let mut seq = 1u64;
    while out.len() < target {
        let body_len = 512 + rng.below(8 * 1024) as usize;
        let name = names[rng.below(4) as usize];
        let subj = subjects[rng.below(4) as usize];
        let uid = 100_000 + seq;
        out.extend_from_slice(format!(
            "* {seq} FETCH (UID {uid} FLAGS (\\Seen $NotJunk) INTERNALDATE \"17-Jul-2024 02:44:25 -0700\" RFC822.SIZE {size} \
ENVELOPE (\"Wed, 17 Jul 2024 02:44:25 -0700\" \"{subj}\" ((\"{name}\" NIL \"alice\" \"example.org\")) ((\"{name}\" NIL \"alice\" \"example.org\")) ((\"{name}\" NIL \"alice\" \"example.org\")) ((NIL NIL \"bob\" \"example.net\")(\"Carol\" NIL \"carol\" \"example.com\")) NIL NIL \"<parent-{seq}@example.org>\" \"<msg-{uid}@example.org>\") \
BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\" \"FORMAT\" \"flowed\") NIL NIL \"QUOTED-PRINTABLE\" {half} {lines} NIL NIL NIL NIL)(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" {half} {lines} NIL NIL NIL NIL)(\"APPLICATION\" \"PDF\" (\"NAME\" \"report.pdf\") NIL NIL \"BASE64\" 81234 NIL (\"ATTACHMENT\" (\"FILENAME\" \"report.pdf\")) NIL NIL) \"MIXED\" (\"BOUNDARY\" \"----=_Part_{seq}\") NIL NIL NIL) \
BODY[] {{{body_len}}}\r\n",
            size = body_len,
            half = body_len / 2,
            lines = body_len / 60,
        ).as_bytes());
        for i in 0..body_len {
            let b = if i % 64 == 63 {
                b'\n'
            } else if i % 64 == 62 {
                b'\r'
            } else {
                b'a' + (i % 26) as u8
            };
            out.push(b);
        }
        out.extend_from_slice(b")\r\n");
        seq += 1;
        n += 1;
    }
    (out, n)
}

pub fn postwire_slice(input: &[u8]) -> usize {
    let mut rest = input;
    let mut n = 0;
    while let Ok(Status::Complete((used, r))) = parse_response(rest) {
        black_box(&r);
        rest = &rest[used..];
        n += 1;
    }
    n
}

pub fn postwire_reader(input: &[u8], buf: &mut [u8]) -> usize {
    let mut r = ResponseReader::new(
        buf,
        ReaderConfig {
            greeting: false,
            ..ReaderConfig::DEFAULT
        },
    );
    let mut rest = input;
    let mut n = 0;
    loop {
        while let Some(ev) = r.next_event().unwrap() {
            match ev {
                Event::Response(Response::Fetch(f)) => {
                    black_box(f);
                    n += 1;
                }
                Event::FetchMore { streamed: None, .. } => n += 1,
                other => {
                    black_box(other);
                }
            }
        }
        if rest.is_empty() {
            return n;
        }
        let k = r.feed(rest);
        rest = &rest[k..];
    }
}

pub fn imap_proto(input: &[u8]) -> usize {
    let mut rest = input;
    let mut n = 0;
    while !rest.is_empty() {
        match imap_proto::parser::parse_response(rest) {
            Ok((r, resp)) => {
                black_box(&resp);
                rest = r;
                n += 1;
            }
            Err(_) => break,
        }
    }
    n
}

pub fn imap_codec(input: &[u8]) -> usize {
    let codec = ResponseCodec::default();
    let mut rest = input;
    let mut n = 0;
    while !rest.is_empty() {
        match codec.decode(rest) {
            Ok((r, resp)) => {
                black_box(&resp);
                rest = r;
                n += 1;
            }
            Err(_) => break,
        }
    }
    n
}
