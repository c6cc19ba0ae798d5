//! Conformance of `postwire_smtp::wire` against the shared public corpus
//! (`shared/corpus/public/smtp/*` and `vectors/smtp-command.jsonl`, format in FORMAT.md).
//!
//! Every case is run. Cases the crate refuses on purpose are listed in [`REFUSED`] /
//! [`SKIPPED_VECTORS`] with their reason and printed; any other mismatch fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};

use postwire_smtp::wire::{Capabilities, Command, EnhancedCode, Reply, Status, parse_reply};
use serde_json::Value;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/public");

/// Reply cases refused on purpose: (id, reason). Only `quirk` cases may be listed.
const REFUSED: &[(&str, &str)] = &[];

/// Command vectors not run: (id, reason).
const SKIPPED_VECTORS: &[(&str, &str)] = &[
    (
        "vec-smtp-command-005",
        "unknown MAIL parameter TEST=value: Command::MailFrom only renders SIZE, BODY=8BITMIME and SMTPUTF8",
    ),
    (
        "vec-smtp-command-007",
        "unknown RCPT parameter TEST=value: Command::RcptTo renders no ESMTP parameters",
    ),
];

fn corpus_dir() -> PathBuf {
    let dir = Path::new(CORPUS);
    assert!(
        dir.join("smtp").is_dir(),
        "the shared corpus is missing: expected the directory {} (shared/ must sit beside the \
         workspace root)",
        dir.join("smtp").display()
    );
    dir.to_path_buf()
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

fn base64_encode(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Compare one parsed reply with its expected (partial) JSON object.
fn check_reply(
    id: &str,
    idx: usize,
    reply: &Reply<'_>,
    exp: &Value,
    unchecked: &mut Vec<String>,
) -> Result<(), String> {
    let ctx = format!("{id} reply {idx}");
    if let Some(code) = exp.get("code") {
        let want = code.as_u64().ok_or(format!("{ctx}: bad code"))?;
        if u64::from(reply.code().value()) != want {
            return Err(format!("{ctx}: code {} != {want}", reply.code()));
        }
    }
    let lines: Vec<&[u8]> = reply.lines().collect();
    if let Some(want) = exp.get("lines") {
        let want: Vec<&str> = want
            .as_array()
            .ok_or(format!("{ctx}: bad lines"))?
            .iter()
            .map(|v| v.as_str().unwrap_or_default())
            .collect();
        let got: Vec<String> = lines
            .iter()
            .map(|l| String::from_utf8(l.to_vec()).map_err(|_| format!("{ctx}: line not UTF-8")))
            .collect::<Result<_, _>>()?;
        if got != want {
            return Err(format!("{ctx}: lines {got:?} != {want:?}"));
        }
    }
    if let Some(want) = exp.get("lines_hex") {
        let got: Vec<String> = lines
            .iter()
            .map(|l| l.iter().map(|b| format!("{b:02x}")).collect())
            .collect();
        let want: Vec<String> = want
            .as_array()
            .ok_or(format!("{ctx}: bad lines_hex"))?
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_ascii_lowercase())
            .collect();
        if got != want {
            return Err(format!("{ctx}: lines_hex {got:?} != {want:?}"));
        }
    }
    if let Some(want) = exp.get("enhanced") {
        let got = reply.enhanced().map(|e| e.to_string());
        let want = want.as_str().map(str::to_owned);
        if got != want {
            return Err(format!("{ctx}: enhanced {got:?} != {want:?}"));
        }
    }
    if let Some(want) = exp.get("message") {
        // smtp-proto's join: enhanced code stripped from each line, lines joined with "\n".
        let parts: Vec<String> = lines
            .iter()
            .map(|l| {
                let text = match EnhancedCode::parse_prefix(l) {
                    Some((_, rest)) if reply.enhanced().is_some() => rest,
                    _ => l,
                };
                String::from_utf8_lossy(text).into_owned()
            })
            .collect();
        let got = parts.join("\n");
        if Some(got.as_str()) != want.as_str() {
            return Err(format!("{ctx}: message {got:?} != {want:?}"));
        }
    }
    if let Some(want) = exp.get("decoded") {
        let text =
            std::str::from_utf8(reply.first_line()).map_err(|_| format!("{ctx}: not UTF-8"))?;
        let got = base64_decode(text).ok_or(format!("{ctx}: challenge is not base64"))?;
        if Some(String::from_utf8_lossy(&got).as_ref()) != want.as_str() {
            return Err(format!("{ctx}: decoded {got:?} != {want:?}"));
        }
    }
    if let Some(want) = exp.get("ehlo") {
        let (caps, host) = Capabilities::from_ehlo(reply);
        for (key, value) in want.as_object().ok_or(format!("{ctx}: bad ehlo"))? {
            match key.as_str() {
                "hostname" => {
                    if Some(String::from_utf8_lossy(host).as_ref()) != value.as_str() {
                        return Err(format!("{ctx}: hostname {host:?} != {value}"));
                    }
                }
                "extensions" => {
                    let got: Vec<String> = lines
                        .iter()
                        .skip(1)
                        .map(|l| {
                            String::from_utf8_lossy(postwire_smtp::wire::EhloLine::parse(l).keyword)
                                .into_owned()
                        })
                        .collect();
                    let want: Vec<&str> = value
                        .as_array()
                        .ok_or(format!("{ctx}: bad extensions"))?
                        .iter()
                        .map(|v| v.as_str().unwrap_or_default())
                        .collect();
                    if got != want {
                        return Err(format!("{ctx}: extensions {got:?} != {want:?}"));
                    }
                }
                "size" => {
                    if caps.size != value.as_u64() {
                        return Err(format!("{ctx}: size {:?} != {value}", caps.size));
                    }
                }
                "auth" => {
                    // Only the mechanisms the crate knows are kept; the others must be ignored.
                    let mut want = postwire_smtp::wire::AuthMechanisms::empty();
                    for name in value.as_array().ok_or(format!("{ctx}: bad auth"))? {
                        want.insert_name(name.as_str().unwrap_or_default().as_bytes());
                    }
                    if caps.auth != want {
                        return Err(format!(
                            "{ctx}: auth {:?} != known part of {value}",
                            caps.auth
                        ));
                    }
                }
                other => unchecked.push(format!("{id}: ehlo.{other} (extension not modelled)")),
            }
        }
    }
    Ok(())
}

/// Whether the client must treat the reply as a protocol failure (for `invalid` + `ok`).
fn is_protocol_failure(reply: &Reply<'_>, command: &str) -> bool {
    let code = reply.code();
    !code.is_valid_class() || (command == "greeting" && !matches!(code.value(), 220 | 421 | 554))
}

enum Verdict {
    Pass,
    Refused(String),
}

fn run_case(
    id: &str,
    meta: &Value,
    bin: &[u8],
    unchecked: &mut Vec<String>,
) -> Result<Verdict, String> {
    let outcome = meta["outcome"].as_str().unwrap_or_default();
    let conformance = meta["conformance"].as_str().unwrap_or_default();
    let command = meta["context"]["command"].as_str().unwrap_or_default();
    let expected = meta["replies"].as_array().cloned().unwrap_or_default();

    let mut pos = 0;
    let mut replies = Vec::new();
    let end = loop {
        match parse_reply(&bin[pos..]) {
            Ok(Status::Complete((n, r))) => {
                pos += n;
                replies.push(r);
            }
            Ok(Status::Partial) => break Ok(()),
            Err(e) => break Err(e),
        }
    };

    match outcome {
        "ok" => {
            if let Err(e) = end {
                return if conformance == "quirk" {
                    Ok(Verdict::Refused(format!(
                        "quirk refused by the parser: {e}"
                    )))
                } else {
                    Err(format!("{id}: parse error {e}"))
                };
            }
            if replies.len() != expected.len() {
                return Err(format!(
                    "{id}: {} replies, expected {}",
                    replies.len(),
                    expected.len()
                ));
            }
            for (i, (r, e)) in replies.iter().zip(&expected).enumerate() {
                check_reply(id, i, r, e, unchecked)?;
            }
            let remainder = meta["remainder"]["data"].as_str().unwrap_or_default();
            if &bin[pos..] != remainder.as_bytes() {
                return Err(format!(
                    "{id}: remainder {:?} != {remainder:?}",
                    String::from_utf8_lossy(&bin[pos..])
                ));
            }
            if conformance == "invalid" && !replies.iter().any(|r| is_protocol_failure(r, command))
            {
                return Err(format!(
                    "{id}: invalid reply not recognised as a protocol failure"
                ));
            }
            Ok(Verdict::Pass)
        }
        "error" => match end {
            Err(_) if replies.is_empty() => Ok(Verdict::Pass),
            Err(_) => Err(format!(
                "{id}: error only after {} complete replies",
                replies.len()
            )),
            Ok(()) => Err(format!("{id}: accepted input that must be rejected")),
        },
        "incomplete" => match end {
            Ok(()) if replies.len() == expected.len() => {
                for (i, (r, e)) in replies.iter().zip(&expected).enumerate() {
                    check_reply(id, i, r, e, unchecked)?;
                }
                Ok(Verdict::Pass)
            }
            Ok(()) => Err(format!(
                "{id}: {} complete replies before the fragment, expected {}",
                replies.len(),
                expected.len()
            )),
            Err(e) => Err(format!("{id}: hard error {e} where more input was needed")),
        },
        other => Err(format!("{id}: unknown outcome {other:?}")),
    }
}

#[test]
fn smtp_reply_cases() {
    let dir = corpus_dir().join("smtp");
    let mut ids: Vec<String> = fs::read_dir(&dir)
        .expect("read corpus dir")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".json").map(str::to_owned)
        })
        .collect();
    ids.sort();
    assert!(!ids.is_empty(), "no cases in {}", dir.display());

    let (mut passed, mut failures, mut refused, mut unchecked) =
        (0, Vec::new(), Vec::new(), Vec::new());
    for id in &ids {
        let meta: Value =
            serde_json::from_slice(&fs::read(dir.join(format!("{id}.json"))).expect("json"))
                .expect("valid json");
        let bin = fs::read(dir.join(format!("{id}.bin"))).expect("bin file");
        let conformance = meta["conformance"].as_str().unwrap_or_default();
        match run_case(id, &meta, &bin, &mut unchecked) {
            Ok(Verdict::Pass) => {
                if let Some((_, why)) = REFUSED.iter().find(|(r, _)| r == id) {
                    failures.push(format!(
                        "{id}: listed as refused ({why}) but passes: remove it from REFUSED"
                    ));
                } else {
                    passed += 1;
                }
            }
            Ok(Verdict::Refused(msg)) => match REFUSED.iter().find(|(r, _)| r == id) {
                Some((_, why)) if conformance == "quirk" => {
                    refused.push(format!("{id}: {why} ({msg})"))
                }
                _ => failures.push(format!("{id}: {msg}, and not listed in REFUSED")),
            },
            Err(msg) => failures.push(msg),
        }
    }
    println!(
        "SMTP reply corpus: {} cases, {passed} passed, {} refused on purpose",
        ids.len(),
        refused.len()
    );
    for r in &refused {
        println!("  refused: {r}");
    }
    for u in &unchecked {
        println!("  not checked: {u}");
    }
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

fn vector_command<'a>(id: &str, storage: &'a mut String) -> Option<Command<'a>> {
    Some(match id {
        "vec-smtp-command-001" => Command::Ehlo("localhost"),
        "vec-smtp-command-003" => Command::MailFrom {
            address: "",
            size: None,
            body_8bitmime: false,
            smtputf8: false,
        },
        "vec-smtp-command-004" => Command::MailFrom {
            address: "test@example.com",
            size: Some(42),
            body_8bitmime: false,
            smtputf8: false,
        },
        "vec-smtp-command-006" => Command::RcptTo {
            address: "test@example.com",
            smtputf8: false,
        },
        "vec-smtp-command-010" => Command::Noop,
        "vec-smtp-command-012" => Command::Help(Some("test")),
        "vec-smtp-command-013" => Command::Vrfy("test"),
        "vec-smtp-command-016" => {
            *storage = base64_encode(b"\0user\0password");
            Command::Auth {
                mechanism: "PLAIN",
                initial_response: Some(storage.as_bytes()),
            }
        }
        "vec-smtp-command-017" => Command::Auth {
            mechanism: "LOGIN",
            initial_response: None,
        },
        _ => return None,
    })
}

#[test]
fn smtp_command_vectors() {
    let path = corpus_dir().join("vectors/smtp-command.jsonl");
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let (mut passed, mut failures, mut skipped) = (0, Vec::new(), Vec::new());
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).expect("valid json line");
        let id = v["id"].as_str().unwrap_or_default();
        let op = v["op"].as_str().unwrap_or_default();
        if op != "encode-command" {
            skipped.push(format!("{id}: op {op} is not a wire command encoding (dot-stuffing belongs to the DATA codec)"));
            continue;
        }
        if let Some((_, why)) = SKIPPED_VECTORS.iter().find(|(s, _)| *s == id) {
            skipped.push(format!("{id}: {why}"));
            continue;
        }
        let mut storage = String::new();
        let Some(cmd) = vector_command(id, &mut storage) else {
            failures.push(format!(
                "{id}: no Command mapping for input {:?}: add one",
                v["input"]
            ));
            continue;
        };
        let mut buf = [0u8; 512];
        let got = cmd.encode(&mut buf).map(|n| buf[..n].to_vec());
        let valid = v["valid"].as_bool().unwrap_or(true);
        match (valid, got) {
            (true, Ok(bytes))
                if Some(bytes.as_slice()) == v["expected"].as_str().map(str::as_bytes) =>
            {
                passed += 1
            }
            (true, Ok(bytes)) => failures.push(format!(
                "{id}: encoded {:?}, expected {}",
                String::from_utf8_lossy(&bytes),
                v["expected"]
            )),
            (true, Err(e)) => failures.push(format!("{id}: refused: {e}")),
            (false, Err(_)) => passed += 1,
            (false, Ok(bytes)) => failures.push(format!(
                "{id}: encoded invalid input {:?}",
                String::from_utf8_lossy(&bytes)
            )),
        }
    }
    println!(
        "SMTP command vectors: {passed} passed, {} skipped on purpose",
        skipped.len()
    );
    for s in &skipped {
        println!("  skipped: {s}");
    }
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}
