//! Shared test helpers: parse a message with our reader and with mail-parser, and compare
//! what a composed message should contain. Also used by `tests/tests/mime_peers.rs`.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use mail_parser::MimeHeaders as _;
use postwire_mime::charset::Charset;
use postwire_mime::params::split_value;
use postwire_mime::reader::{Disposition, Event, Reader};
use postwire_mime::rfc2047::decode_header_value;

/// A leaf as our reader sees it.
#[derive(Debug, Clone)]
pub struct Leaf {
    pub depth: usize,
    pub mime: String,
    pub charset: Option<String>,
    pub disposition: Disposition,
    pub filename: Option<String>,
    pub content_id: Option<String>,
    /// Decoded (transfer encoding) bytes.
    pub body: Vec<u8>,
}

impl Leaf {
    /// The body converted to UTF-8 through its charset.
    pub fn text(&self) -> Vec<u8> {
        let cs = Charset::from_label(self.charset.as_deref().unwrap_or("us-ascii").as_bytes());
        let mut out = vec![0u8; self.body.len() * 3 + 4];
        let (c, n) = cs.to_utf8(&self.body, &mut out);
        assert_eq!(c, self.body.len());
        out.truncate(n);
        out
    }
}

/// A message as our reader sees it.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// Root header fields: (name, decoded value).
    pub headers: Vec<(String, String)>,
    pub leaves: Vec<Leaf>,
    /// Every PartStart's `type/subtype`, depth-first (containers included).
    pub structure: Vec<(usize, String)>,
}

impl Parsed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn first(&self, mime: &str) -> Option<&Leaf> {
        self.leaves
            .iter()
            .find(|l| l.mime == mime && l.disposition != Disposition::Attachment)
    }
    pub fn attachments(&self) -> Vec<&Leaf> {
        self.leaves
            .iter()
            .filter(|l| l.disposition == Disposition::Attachment || l.content_id.is_some())
            .collect()
    }
}

pub fn decode_value(raw: &[u8]) -> String {
    let mut out = vec![0u8; raw.len() * 3 + 8];
    let d = decode_header_value(raw, &mut out).unwrap();
    String::from_utf8_lossy(&out[..d.len]).into_owned()
}

fn param(value: &[u8], name: &str) -> Option<String> {
    let (_, p) = split_value(value);
    let mut out = vec![0u8; value.len() * 3 + 8];
    p.get(name.as_bytes(), &mut out)
        .map(|r| String::from_utf8_lossy(&out[..r.unwrap().len]).into_owned())
}

/// Parse with our reader, feeding `chunk` bytes at a time through an output buffer of
/// `out_len` bytes.
pub fn parse_ours(msg: &[u8], chunk: usize, out_len: usize) -> Parsed {
    let mut buf = vec![0u8; 4096];
    let mut out = vec![0u8; out_len];
    let mut r = Reader::new(&mut buf).unwrap();
    let mut parsed = Parsed::default();
    let mut fields: Vec<(String, Vec<u8>)> = Vec::new();
    let mut current: Option<Leaf> = None;
    let mut pos = 0;
    let mut fed_end = chunk.min(msg.len());
    let mut finished = false;
    let mut guard = 0usize;
    loop {
        guard += 1;
        assert!(guard < 10_000_000, "reader does not progress");
        let (n, ev) = r.next(&msg[pos..fed_end], &mut out).unwrap();
        pos += n;
        match ev {
            None => {
                assert_eq!(pos, fed_end, "None without consuming all input");
                if fed_end == msg.len() {
                    assert!(!finished || n == 0);
                    r.finish();
                    finished = true;
                } else {
                    fed_end = (fed_end + chunk).min(msg.len());
                }
            }
            Some(Event::End) => break,
            Some(Event::Header(f)) => {
                fields.push((
                    String::from_utf8_lossy(f.name).into_owned(),
                    f.value.to_vec(),
                ));
            }
            Some(Event::PartStart(p)) => {
                if p.depth == 0 {
                    parsed.headers = fields
                        .iter()
                        .map(|(n, v)| (n.clone(), decode_value(v)))
                        .collect();
                }
                parsed.structure.push((p.depth, p.mime_type().to_string()));
                if !p.is_multipart() && !p.is_message() {
                    let get = |name: &str| {
                        fields
                            .iter()
                            .find(|(n, _)| n.eq_ignore_ascii_case(name))
                            .map(|(_, v)| v.clone())
                    };
                    let filename = get("content-disposition")
                        .and_then(|v| param(&v, "filename"))
                        .or_else(|| get("content-type").and_then(|v| param(&v, "name")));
                    let content_id = get("content-id").map(|v| {
                        String::from_utf8_lossy(&v)
                            .trim()
                            .trim_matches(['<', '>'])
                            .to_string()
                    });
                    current = Some(Leaf {
                        depth: p.depth,
                        mime: p.mime_type().to_string(),
                        charset: p.charset().map(|c| String::from_utf8_lossy(c).into_owned()),
                        disposition: p.disposition,
                        filename,
                        content_id,
                        body: Vec::new(),
                    });
                }
                fields.clear();
            }
            Some(Event::Body(b)) => current
                .as_mut()
                .expect("body outside a leaf")
                .body
                .extend_from_slice(b),
            Some(Event::PartEnd { depth }) => {
                if let Some(l) = current.take_if(|l| l.depth == depth) {
                    parsed.leaves.push(l);
                }
            }
        }
    }
    parsed
}

/// Line breaks (CR LF, CR, LF) → CR LF.
pub fn crlf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 16);
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if text.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// What a composed message must contain, checked with both parsers.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    pub subject: Option<String>,
    pub from: (Option<String>, String),
    pub to: Vec<(Option<String>, String)>,
    /// Expected decoded text (line breaks CR LF).
    pub text: Option<Vec<u8>>,
    pub html: Option<Vec<u8>>,
    /// (file name, bytes)
    pub attachments: Vec<(Option<String>, Vec<u8>)>,
}

fn norm_name(n: Option<&str>) -> Option<String> {
    // mail-parser trims Unicode whitespace around display names.
    n.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Check `wire` with our reader (several chunkings) and with mail-parser.
pub fn check_both(wire: &[u8], e: &Expect) {
    for (chunk, out) in [(wire.len().max(1), 4096), (7, 64), (1000, 100)] {
        let p = parse_ours(wire, chunk, out);
        if let Some(s) = &e.subject {
            // Header whitespace is SP and HTAB (RFC 5322 WSP); a no-break space is content.
            assert_eq!(
                p.header("Subject"),
                Some(s.trim_matches([' ', '\t'])),
                "our subject"
            );
        }
        if let Some(t) = &e.text {
            let leaf = p.first("text/plain").expect("our text/plain");
            assert_eq!(leaf.text(), *t, "our text (chunk {chunk})");
        }
        if let Some(h) = &e.html {
            let leaf = p.first("text/html").expect("our text/html");
            assert_eq!(leaf.text(), *h, "our html");
        }
        let atts = p.attachments();
        assert_eq!(atts.len(), e.attachments.len(), "our attachment count");
        for (a, (name, bytes)) in atts.iter().zip(&e.attachments) {
            assert_eq!(&a.filename, name, "our file name");
            assert!(
                a.body == *bytes,
                "our attachment bytes differ ({} vs {} bytes)",
                a.body.len(),
                bytes.len()
            );
        }
    }
    // mail-parser
    let m = mail_parser::MessageParser::default()
        .parse(wire)
        .expect("mail-parser parses the message");
    if let Some(s) = &e.subject {
        assert_eq!(
            m.subject(),
            Some(s.trim_matches([' ', '\t'])),
            "mail-parser subject"
        );
    }
    let from = m.from().and_then(|f| f.first()).expect("mail-parser From");
    assert_eq!(from.address(), Some(e.from.1.as_str()));
    assert_eq!(
        norm_name(from.name()),
        norm_name(e.from.0.as_deref()),
        "mail-parser From name"
    );
    if !e.to.is_empty() {
        let to: Vec<_> = m
            .to()
            .expect("To")
            .iter()
            .map(|a| {
                (
                    norm_name(a.name()),
                    a.address().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let want: Vec<_> =
            e.to.iter()
                .map(|(n, a)| (norm_name(n.as_deref()), a.clone()))
                .collect();
        assert_eq!(to, want, "mail-parser To");
    }
    if let Some(t) = &e.text {
        let got = m.body_text(0).expect("mail-parser text");
        assert_eq!(crlf(got.as_bytes()), *t, "mail-parser text");
    }
    if let Some(h) = &e.html {
        let got = m.body_html(0).expect("mail-parser html");
        assert_eq!(crlf(got.as_bytes()), *h, "mail-parser html");
    }
    let atts: Vec<_> = m.attachments().collect();
    assert_eq!(
        atts.len(),
        e.attachments.len(),
        "mail-parser attachment count"
    );
    for (a, (name, bytes)) in atts.iter().zip(&e.attachments) {
        assert_eq!(
            a.attachment_name().map(str::to_string),
            *name,
            "mail-parser file name"
        );
        assert!(
            a.contents() == bytes.as_slice(),
            "mail-parser attachment bytes differ"
        );
    }
}
