//! `../shared/corpus/public/mime/*.eml` through the streaming reader, compared with the
//! expected parses (`summary` derived from mail-parser, or `expected` asserted by the source).
//! Each case is run as stored and with every LF turned into CR LF. Deviations are listed in
//! `KNOWN` with the reason; anything else fails, and so does a listed case that passes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::collapsible_if,
    reason = "test code"
)]

mod common;

use std::collections::BTreeMap;

use common::decode_value;
use postwire_mime::charset::Charset;
use postwire_mime::params::split_value;
use postwire_mime::reader::{Event, Reader};
use serde_json::Value;

const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpus/public/mime"
);

/// Cases (or `case/part/key`) where we differ from mail-parser's summary, and why.
const KNOWN: &[(&str, &str)] = &[
    (
        "mime-mailparser-integration-test_api: nested_message_text_0",
        "UTF-16 text: charset not supported, the bytes are reported unconverted",
    ),
    (
        "mime-mailparser-thirdparty-005/",
        "UTF-16 texts: charset not supported, lengths are of the unconverted bytes",
    ),
    (
        "mime-mailparser-malformed-000: part_count",
        "boundary \":foo\" is valid (RFC 2046 bchars); mail-parser does not split on it, we do",
    ),
    (
        "mime-mailparser-malformed-002/0/",
        "multipart without any delimiter: we report a multipart with no children (the preamble is skipped, RFC 2046); mail-parser reports the body as text",
    ),
    (
        "mime-mailparser-malformed-012: part_count",
        "a message/rfc822 whose inner message is cut by an outer delimiter: we end it there and read the next part; mail-parser swallows it",
    ),
    (
        "mime-mailparser-malformed-013: part_count",
        "nested multiparts reusing the enclosing boundary: ambiguous; we close at the innermost",
    ),
    (
        "mime-mailparser-malformed-016: part_count",
        "boundaries that are prefixes of each other: we match the longest delimiter, mail-parser the innermost prefix",
    ),
    (
        "mime-mailparser-malformed-021/1/",
        "two Content-Type fields in one header section: we use the last, mail-parser mixes them",
    ),
    (
        "mime-mailparser-malformed-022/2/",
        "message/rfc822 whose body is not a message: we parse it as one (its text lines are not header fields and are dropped), mail-parser falls back to text",
    ),
    (
        "mime-mailparser-rfc-000/4/",
        "invalid base64 (RFC example placeholder text): we skip the invalid characters and decode the rest, mail-parser keeps the raw text",
    ),
    (
        "mime-mailparser-rfc-000/5/",
        "invalid base64 (RFC example placeholder text), as above",
    ),
    (
        "mime-mailparser-thirdparty-015: part_count",
        "an inner message whose header section is cut by the outer delimiter: we end it and read the next attachments, mail-parser swallows them",
    ),
];

#[derive(Debug, Default, Clone)]
struct Part {
    depth: usize,
    mime: String,
    is_multipart: bool,
    is_message: bool,
    is_text: bool,
    has_ct: bool,
    ct_raw: Vec<u8>,
    cd_raw: Option<Vec<u8>>,
    subject: Option<String>,
    charset: Option<String>,
    body: Vec<u8>,
    /// Inner message (for message/rfc822): its flattened parts.
    inner: Vec<Part>,
}

impl Part {
    fn text(&self) -> String {
        let cs = Charset::from_label(self.charset.as_deref().unwrap_or("us-ascii").as_bytes());
        let mut out = vec![0u8; self.body.len() * 3 + 4];
        let (_, n) = cs.to_utf8(&self.body, &mut out);
        String::from_utf8_lossy(&out[..n]).into_owned()
    }
}

/// Flattened parts, depth-first, message/rfc822 inner parts kept apart (as mail-parser does).
fn parse(msg: &[u8]) -> Vec<Part> {
    let mut buf = vec![0u8; 8192];
    let mut out = vec![0u8; 512];
    let mut r = Reader::new(&mut buf).unwrap();
    let mut input = msg;
    let mut fields: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    // Parts in pre-order; `stack` holds (list level, index) of the open ones; a
    // message/rfc822 part opens a new list level for its inner message.
    let mut stack: Vec<(usize, usize)> = Vec::new();
    let mut done: Vec<Vec<Part>> = vec![Vec::new()];
    loop {
        let (n, ev) = r.next(input, &mut out).unwrap();
        input = &input[n..];
        match ev {
            None => r.finish(),
            Some(Event::End) => break,
            Some(Event::Header(f)) => fields.push((f.name.to_vec(), f.value.to_vec())),
            Some(Event::PartStart(p)) => {
                let get = |name: &str| {
                    fields
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
                        .map(|(_, v)| v.clone())
                };
                let part = Part {
                    depth: p.depth,
                    mime: p.mime_type().to_string(),
                    is_multipart: p.is_multipart(),
                    is_message: p.is_message(),
                    is_text: p.is_text(),
                    has_ct: p.has_content_type(),
                    ct_raw: get("content-type").unwrap_or_default(),
                    cd_raw: get("content-disposition"),
                    subject: get("subject").map(|v| decode_value(&v)),
                    charset: p.charset().map(|c| String::from_utf8_lossy(c).into_owned()),
                    ..Part::default()
                };
                fields.clear();
                let is_message = part.is_message;
                let level = done.len() - 1;
                done[level].push(part);
                stack.push((level, done[level].len() - 1));
                if is_message {
                    done.push(Vec::new());
                }
            }
            Some(Event::Body(b)) => {
                let (l, i) = *stack.last().unwrap();
                done[l][i].body.extend_from_slice(b);
            }
            Some(Event::PartEnd { depth }) => {
                let (l, i) = stack.pop().unwrap();
                assert_eq!(done[l][i].depth, depth);
                if done[l][i].is_message {
                    let inner = done.pop().unwrap();
                    done[l][i].inner = inner;
                }
            }
        }
    }
    assert!(stack.is_empty());
    done.pop().unwrap()
}

fn param(raw: &[u8], name: &str) -> Option<String> {
    let (_, p) = split_value(raw);
    let mut out = vec![0u8; raw.len() * 3 + 8];
    p.get(name.as_bytes(), &mut out)
        .map(|r| String::from_utf8_lossy(&out[..r.unwrap().len]).into_owned())
}

fn compare_summary(id: &str, parts: &[Part], summary: &Value, fails: &mut Vec<String>) {
    let want_count = summary["part_count"].as_u64().unwrap() as usize;
    if parts.len() != want_count {
        fails.push(format!("{id}: part_count {} != {want_count}", parts.len()));
        return;
    }
    for (i, (p, w)) in parts
        .iter()
        .zip(summary["parts"].as_array().unwrap())
        .enumerate()
    {
        let mut fail = |key: &str, detail: String| fails.push(format!("{id}/{i}/{key}: {detail}"));
        if let Some(ct) = w.get("content_type").and_then(Value::as_str) {
            if !p.mime.eq_ignore_ascii_case(ct) {
                fail("content_type", format!("{} != {ct}", p.mime));
            }
        }
        if let Some(params) = w.get("content_type_params").and_then(Value::as_object) {
            for (k, v) in params {
                let got = param(&p.ct_raw, k);
                if got.as_deref() != v.as_str() {
                    fail("content_type_params", format!("{k}: {got:?} != {v}"));
                }
            }
        }
        if let Some(kind) = w.get("body_kind").and_then(Value::as_str) {
            let ok = match kind {
                "Multipart" => p.is_multipart,
                "Message" => p.is_message,
                "Text" => !p.is_multipart && !p.is_message && (p.is_text || !p.has_ct),
                "Html" => p.mime == "text/html",
                _ => !p.is_multipart && !p.is_message,
            };
            if !ok {
                fail("body_kind", format!("{kind} vs {}", p.mime));
            }
            if let Some(len) = w.get("body_len_chars").and_then(Value::as_u64) {
                let text = p.text();
                let got = text.chars().count();
                if got as u64 != len {
                    fail("body_len_chars", format!("{got} != {len}"));
                }
            }
        }
        if let Some(s) = w.get("subject").and_then(Value::as_str) {
            let got = if p.is_message {
                p.inner.first().and_then(|q| q.subject.clone())
            } else {
                p.subject.clone()
            };
            if got.as_deref() != Some(s) {
                fail("subject", format!("{got:?} != {s:?}"));
            }
        }
        if let Some(d) = w.get("disposition").and_then(Value::as_str) {
            let got = p
                .cd_raw
                .as_ref()
                .map(|v| String::from_utf8_lossy(split_value(v).0).to_ascii_lowercase());
            if got.as_deref() != Some(&d.to_ascii_lowercase()) {
                fail("disposition", format!("{got:?} != {d}"));
            }
        }
        if let Some(params) = w.get("disposition_params").and_then(Value::as_object) {
            for (k, v) in params {
                let got = p.cd_raw.as_ref().and_then(|raw| param(raw, k));
                if got.as_deref() != v.as_str() {
                    fail("disposition_params", format!("{k}: {got:?} != {v}"));
                }
            }
        }
    }
}

fn compare_expected(id: &str, parts: &[Part], e: &Value, fails: &mut Vec<String>) {
    let root = &parts[0];
    if let Some(s) = e.get("subject").and_then(Value::as_str) {
        if root.subject.as_deref() != Some(s) {
            fails.push(format!("{id}: subject {:?} != {s:?}", root.subject));
        }
    }
    if let Some(n) = e.get("top_level_part_count").and_then(Value::as_u64) {
        if parts.len() as u64 != n {
            fails.push(format!("{id}: top_level_part_count {} != {n}", parts.len()));
        }
    }
    if let Some(h) = e.get("html_body_0").and_then(Value::as_str) {
        let got = parts.iter().find(|p| p.mime == "text/html").map(Part::text);
        if got.as_deref().map(str::trim_end) != Some(h) {
            fails.push(format!("{id}: html_body_0 {got:?}"));
        }
    }
    let nested = parts.iter().find(|p| p.is_message);
    if let Some(s) = e.get("nested_message_subject").and_then(Value::as_str) {
        let got = nested
            .and_then(|m| m.inner.first())
            .and_then(|p| p.subject.clone());
        if got.as_deref() != Some(s) {
            fails.push(format!("{id}: nested_message_subject {got:?}"));
        }
    }
    if let Some(t) = e.get("nested_message_text_0").and_then(Value::as_str) {
        let got = nested
            .and_then(|m| m.inner.iter().find(|p| p.mime == "text/plain"))
            .map(Part::text);
        if got.as_deref() != Some(t) {
            fails.push(format!("{id}: nested_message_text_0 {got:?}"));
        }
    }
    let att = nested.and_then(|m| {
        m.inner
            .iter()
            .find(|p| p.cd_raw.is_some() || (!p.is_text && !p.is_multipart))
    });
    if let Some(n) = e.get("nested_attachment_len").and_then(Value::as_u64) {
        if att.map(|a| a.body.len() as u64) != Some(n) {
            fails.push(format!(
                "{id}: nested_attachment_len {:?}",
                att.map(|a| a.body.len())
            ));
        }
    }
    if let Some(n) = e.get("nested_attachment_name").and_then(Value::as_str) {
        let got = att.and_then(|a| {
            a.cd_raw
                .as_ref()
                .and_then(|cd| param(cd, "filename"))
                .or_else(|| param(&a.ct_raw, "name"))
        });
        if got.as_deref() != Some(n) {
            fails.push(format!("{id}: nested_attachment_name {got:?}"));
        }
    }
}

#[test]
fn mime_corpus() {
    let mut ids: Vec<String> = std::fs::read_dir(DIR)
        .unwrap_or_else(|e| panic!("corpus missing at {DIR}: {e}"))
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".eml").map(str::to_string)
        })
        .collect();
    ids.sort();
    assert!(
        ids.len() >= 30,
        "expected the public MIME corpus, found {} cases",
        ids.len()
    );
    let mut fails = Vec::new();
    let mut checked = BTreeMap::new();
    for id in &ids {
        let eml = std::fs::read(format!("{DIR}/{id}.eml")).unwrap();
        let meta: Value =
            serde_json::from_slice(&std::fs::read(format!("{DIR}/{id}.json")).unwrap()).unwrap();
        let lf = meta["line_endings"].as_str() == Some("LF");
        let parts = parse(&eml);
        // Same structure with CR LF line ends, and with any chunking.
        let crlf: Vec<u8> = if lf {
            eml.iter()
                .flat_map(|&b| {
                    if b == b'\n' {
                        vec![b'\r', b'\n']
                    } else {
                        vec![b]
                    }
                })
                .collect()
        } else {
            eml.clone()
        };
        let parts_crlf = parse(&crlf);
        let shape = |ps: &[Part]| {
            ps.iter()
                .map(|p| (p.depth, p.mime.clone()))
                .collect::<Vec<_>>()
        };
        if shape(&parts) != shape(&parts_crlf) {
            fails.push(format!("{id}: structure differs with CR LF"));
        }
        if let Some(summary) = meta.get("summary") {
            compare_summary(id, &parts, summary, &mut fails);
            checked.insert(id.clone(), "summary");
        } else if let Some(e) = meta.get("expected") {
            compare_expected(id, &parts, e, &mut fails);
            checked.insert(id.clone(), "expected");
        } else {
            assert!(!parts.is_empty());
            checked.insert(id.clone(), "parsed");
        }
    }
    eprintln!("checked {} cases: {checked:?}", checked.len());
    for f in &fails {
        eprintln!("DEVIATION {f}");
    }
    let unexpected: Vec<_> = fails
        .iter()
        .filter(|f| !KNOWN.iter().any(|(k, _)| f.starts_with(k)))
        .collect();
    let stale: Vec<_> = KNOWN
        .iter()
        .filter(|(k, _)| !fails.iter().any(|f| f.starts_with(k)))
        .collect();
    assert!(
        unexpected.is_empty() && stale.is_empty(),
        "unexpected deviations: {unexpected:#?}\nlisted but passing: {stale:#?}"
    );
}
