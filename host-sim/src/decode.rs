//! `postwire decode`: server bytes to the JSON vocabulary of the shared corpus FORMAT.md
//! (contract in the corpus DECODE.md).

use std::io::Write;

use postwire_smtp::wire::{Reply, Status, parse_reply};
use serde_json::{Value, json};

/// Exit status: every byte was consumed by complete responses.
pub const EXIT_OK: i32 = 0;
/// Exit status: the input violates the protocol.
pub const EXIT_ERROR: i32 = 1;
/// Exit status: the input ends inside a response.
pub const EXIT_INCOMPLETE: i32 = 3;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The FORMAT.md object for one SMTP reply: `{"code", "lines" | "lines_hex", "enhanced"}`.
pub fn smtp_reply_json(reply: &Reply<'_>) -> Value {
    let texts: Vec<Option<&str>> = reply.lines().map(|l| std::str::from_utf8(l).ok()).collect();
    let enhanced = reply.enhanced().map(|e| e.to_string());
    if texts.iter().all(Option::is_some) {
        json!({
            "code": reply.code().value(),
            "lines": texts.into_iter().flatten().collect::<Vec<_>>(),
            "enhanced": enhanced,
        })
    } else {
        json!({
            "code": reply.code().value(),
            "lines_hex": reply.lines().map(hex).collect::<Vec<_>>(),
            "enhanced": enhanced,
        })
    }
}

/// `postwire decode smtp`: print one JSON line per complete reply in `input` to `out`.
///
/// Returns the exit status: [`EXIT_OK`] when every byte was consumed, [`EXIT_INCOMPLETE`]
/// (after a `{"type": "remainder", "bytes": N}` line, "incomplete" on `err`) when the input
/// ends inside a reply, [`EXIT_ERROR`] (reason on `err`) when the input violates the protocol,
/// including a trailing fragment longer than the line limit
/// ([`MAX_REPLY_LINE`](postwire_smtp::wire::MAX_REPLY_LINE)).
pub fn decode_smtp(input: &[u8], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let mut pos = 0;
    loop {
        let rest = input.get(pos..).unwrap_or_default();
        match parse_reply(rest) {
            Ok(Status::Complete((used, reply))) => {
                if writeln!(out, "{}", smtp_reply_json(&reply)).is_err() {
                    let _ = writeln!(err, "error: cannot write the output");
                    return EXIT_ERROR;
                }
                pos += used;
            }
            Ok(Status::Partial) if rest.is_empty() => return flush(out, err, EXIT_OK),
            Ok(Status::Partial) => {
                let line = json!({"type": "remainder", "bytes": rest.len()});
                if writeln!(out, "{line}").is_err() {
                    let _ = writeln!(err, "error: cannot write the output");
                    return EXIT_ERROR;
                }
                let _ = writeln!(
                    err,
                    "incomplete: the input ends inside a reply ({} bytes left)",
                    rest.len()
                );
                return flush(out, err, EXIT_INCOMPLETE);
            }
            Err(e) => {
                let e = match e {
                    postwire_smtp::wire::ReplyError::Malformed { offset } => {
                        format!("malformed SMTP reply at byte {}", pos + offset)
                    }
                    other => format!("{other} (reply starting at byte {pos})"),
                };
                let _ = writeln!(err, "error: {e}");
                return flush(out, err, EXIT_ERROR);
            }
        }
    }
}

fn flush(out: &mut dyn Write, err: &mut dyn Write, code: i32) -> i32 {
    if out.flush().is_err() {
        let _ = writeln!(err, "error: cannot write the output");
        return EXIT_ERROR;
    }
    code
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> (i32, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = decode_smtp(input, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn complete_replies() {
        let (code, out, err) = run(b"250-a\r\n250 b\r\n551 5.7.1 no\r\n");
        assert_eq!(code, EXIT_OK);
        assert!(err.is_empty());
        let lines: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines,
            vec![
                json!({"code": 250, "lines": ["a", "b"], "enhanced": null}),
                json!({"code": 551, "lines": ["5.7.1 no"], "enhanced": "5.7.1"}),
            ]
        );
    }

    #[test]
    fn empty_input() {
        assert_eq!(run(b""), (EXIT_OK, String::new(), String::new()));
    }

    #[test]
    fn non_utf8_lines() {
        let (code, out, _) = run(b"250 caf\xe9\r\n");
        assert_eq!(code, EXIT_OK);
        let v: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(
            v,
            json!({"code": 250, "lines_hex": ["636166e9"], "enhanced": null})
        );
    }

    #[test]
    fn remainder() {
        let (code, out, err) = run(b"250-Missing space\r\n250\r\n250 Ignore this");
        assert_eq!(code, EXIT_INCOMPLETE);
        assert!(err.contains("incomplete"));
        let last: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        assert_eq!(last, json!({"type": "remainder", "bytes": 15}));
        assert_eq!(out.lines().count(), 2);
    }

    /// Every public SMTP corpus case: exit status per outcome, and the printed replies.
    #[test]
    fn smtp_corpus_exit_codes() {
        let dir = std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/corpus/public/smtp"
        ));
        assert!(dir.is_dir(), "shared corpus missing at {}", dir.display());
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let meta: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let bin = std::fs::read(path.with_extension("bin")).unwrap();
            let (code, out, err) = run(&bin);
            let id = meta["id"].as_str().unwrap();
            let has_remainder = meta.get("remainder").is_some();
            let want = match meta["outcome"].as_str().unwrap() {
                "ok" if has_remainder => EXIT_INCOMPLETE,
                "ok" => EXIT_OK,
                "error" => EXIT_ERROR,
                _ => EXIT_INCOMPLETE,
            };
            assert_eq!(code, want, "{id}: {err}");
            let printed: Vec<Value> = out
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .filter(|v: &Value| v.get("type").is_none())
                .collect();
            let expected = meta["replies"].as_array().unwrap();
            if want != EXIT_ERROR {
                assert_eq!(printed.len(), expected.len(), "{id}");
                for (p, e) in printed.iter().zip(expected) {
                    assert_eq!(p["code"], e["code"], "{id}");
                    assert_eq!(p["lines"], e["lines"], "{id}");
                    if let Some(enh) = e.get("enhanced") {
                        assert_eq!(&p["enhanced"], enh, "{id}");
                    }
                }
            }
            if has_remainder {
                let bytes = meta["remainder"]["data"].as_str().unwrap().len();
                let last: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
                assert_eq!(last, json!({"type": "remainder", "bytes": bytes}), "{id}");
            }
            n += 1;
        }
        assert!(n > 0);
    }

    #[test]
    fn errors() {
        for input in [
            &b"2506-me\r\n250 x\r\n"[..],
            b"250-a\r\n251 b\r\n",
            &[b'2'; 1500],
        ] {
            let (code, _, err) = run(input);
            assert_eq!(code, EXIT_ERROR, "{input:?}");
            assert!(!err.is_empty() && !err.contains("incomplete"), "{err}");
        }
        let (code, out, err) = run(b"250 ok\r\nxyz\r\n");
        assert_eq!(code, EXIT_ERROR);
        assert_eq!(out.lines().count(), 1);
        assert!(err.contains("byte 8"), "{err}");
    }
}

/// The FORMAT.md conversion of IMAP responses, shared with the `postwire-imap` conformance
/// tests so that both print exactly the same JSON.
#[path = "../../protocols/imap/tests/common/json.rs"]
mod imap_json;

/// `postwire decode imap [--greeting]`: print one JSON line per complete IMAP response in
/// `input` to `out` (streaming reader, 64 KiB line limit; large FETCH literals are streamed
/// and reassembled for printing).
///
/// Returns [`EXIT_OK`], [`EXIT_INCOMPLETE`] (after a `{"type": "remainder", "bytes": N,
/// "needed"?: K}` line, "incomplete" on `err`) or [`EXIT_ERROR`] (reason on `err`).
pub fn decode_imap(input: &[u8], greeting: bool, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let d = imap_json::decode(input, greeting, imap_json::DecodeSettings::DEFAULT);
    for line in &d.lines {
        if writeln!(out, "{line}").is_err() {
            let _ = writeln!(err, "error: cannot write the output");
            return EXIT_ERROR;
        }
    }
    match d.exit {
        imap_json::EXIT_OK => flush(out, err, EXIT_OK),
        imap_json::EXIT_INCOMPLETE => {
            let _ = writeln!(err, "{}", d.message);
            flush(out, err, EXIT_INCOMPLETE)
        }
        _ => {
            let _ = writeln!(err, "error: {}", d.message);
            flush(out, err, EXIT_ERROR)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod imap_tests {
    use super::*;

    fn run(input: &[u8], greeting: bool) -> (i32, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = decode_imap(input, greeting, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn imap_decode_contract() {
        let (code, out, _) = run(
            b"* 2 FETCH (BODY[TEXT] {3}\r\nfoo)\r\nA1 OK done\r\n",
            false,
        );
        assert_eq!(code, EXIT_OK);
        let v: Vec<Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            v[0],
            json!({"type": "fetch", "seq": 2, "items": {"BODY[TEXT]": "foo"}})
        );
        assert_eq!(v[1]["tag"], json!("A1"));
        let (code, out, err) = run(b"* 4 FETCH (UID 1 RFC822.HEADER {10}\r\nab", false);
        assert_eq!(code, EXIT_INCOMPLETE);
        assert!(err.contains("incomplete"));
        let last: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        assert_eq!(last, json!({"type": "remainder", "bytes": 39, "needed": 8}));
        let (code, _, err) = run(b"A1 search\r\n", false);
        assert_eq!(code, EXIT_ERROR);
        assert!(!err.contains("incomplete"));
        let (code, _, _) = run(b"* 1 EXISTS\r\n", true);
        assert_eq!(code, EXIT_ERROR);
        let (code, _, _) = run(&[b'a'; 70_000], false);
        assert_eq!(code, EXIT_ERROR);
        assert_eq!(run(b"", false).0, EXIT_OK);
    }
}

use postwire_pop3::wire as pop3_wire;

/// A JSON string for `bytes`, or `None` when they are not UTF-8.
fn pop3_str(bytes: &[u8]) -> Option<String> {
    std::str::from_utf8(bytes).ok().map(str::to_string)
}

/// The FORMAT.md object for one POP3 response (`{"status", "text", "multiline", "lines",
/// ...}` plus `stat`, `list`, `uidl`, `capa`, `apop_timestamp`, `octets`, `base64` and the
/// RFC 2449 `code` where they apply), or the reason the response is a protocol violation
/// (a STAT/LIST/UIDL answer whose numbers do not parse).
pub fn pop3_response_json(
    resp: &pop3_wire::Response<'_>,
    command: &str,
    first: bool,
) -> Result<Value, pop3_wire::ResponseError> {
    use pop3_wire::Indicator;
    let status = resp.status;
    let mut v = json!({"status": status.indicator.name(), "multiline": resp.is_multiline()});
    match status.text {
        None => v["text"] = Value::Null,
        Some(t) => match pop3_str(t) {
            Some(s) => v["text"] = json!(s),
            None => v["text_hex"] = json!(hex(t)),
        },
    }
    if status.indicator == Indicator::Continue {
        v["base64"] = json!(String::from_utf8_lossy(status.text_or_empty()));
        return Ok(v);
    }
    if let Some(code) = status.code() {
        v["code"] = json!(String::from_utf8_lossy(code.as_bytes()));
    }
    if resp.is_multiline() {
        let lines: Vec<&[u8]> = resp.lines().collect();
        if lines.iter().all(|l| std::str::from_utf8(l).is_ok()) {
            v["lines"] = json!(
                lines
                    .iter()
                    .map(|l| String::from_utf8_lossy(l))
                    .collect::<Vec<_>>()
            );
        } else {
            v["lines_hex"] = json!(lines.iter().map(|l| hex(l)).collect::<Vec<_>>());
        }
        v["octets"] = json!(resp.octets());
    }
    if status.indicator != Indicator::Ok {
        return Ok(v);
    }
    let verb = command
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let text = status.text_or_empty();
    match verb.as_str() {
        "GREETING" if first => {
            if let Some(ts) = pop3_wire::apop_timestamp(text) {
                v["apop_timestamp"] = json!(String::from_utf8_lossy(ts));
            }
        }
        "STAT" => {
            let (count, size) = pop3_wire::parse_stat(text)?;
            v["stat"] = json!({"count": count, "size": size});
        }
        "LIST" => {
            let mut list = Vec::new();
            if resp.is_multiline() {
                for l in resp.lines() {
                    list.push(pop3_wire::parse_scan_listing(l)?);
                }
            } else {
                list.push(pop3_wire::parse_scan_listing(text)?);
            }
            v["list"] = json!(list.iter().map(|(m, s)| json!([m, s])).collect::<Vec<_>>());
        }
        "UIDL" => {
            let mut uidl = Vec::new();
            if resp.is_multiline() {
                for l in resp.lines() {
                    uidl.push(pop3_wire::parse_uid_listing(l)?);
                }
            } else {
                uidl.push(pop3_wire::parse_uid_listing(text)?);
            }
            v["uidl"] = json!(
                uidl.iter()
                    .map(|(m, u)| json!([m, String::from_utf8_lossy(u)]))
                    .collect::<Vec<_>>()
            );
        }
        "CAPA" => {
            let mut capa = serde_json::Map::new();
            for l in resp.lines() {
                let cl = pop3_wire::CapaLine::parse(l);
                if cl.keyword.is_empty() {
                    continue;
                }
                let args: Vec<String> = cl
                    .words()
                    .map(|w| String::from_utf8_lossy(w).into_owned())
                    .collect();
                capa.insert(
                    String::from_utf8_lossy(cl.keyword).into_owned(),
                    json!(args),
                );
            }
            v["capa"] = Value::Object(capa);
        }
        _ => {}
    }
    Ok(v)
}

/// `postwire decode pop3 --command CMD`: print one JSON line per complete POP3 response in
/// `input` to `out`. `command` is the command the responses answer (`STAT`, `LIST`,
/// `RETR 1`, `CAPA`, `AUTH PLAIN`, ... or `greeting`): it decides single- versus multi-line
/// framing ([`framing_for`](postwire_pop3::wire::framing_for)); `greeting` applies to the
/// first response only, the ones after it are read as single-line.
///
/// Returns [`EXIT_OK`], [`EXIT_INCOMPLETE`] (after a `{"type": "remainder", "bytes": N}`
/// line, "incomplete" on `err`) or [`EXIT_ERROR`] (reason on `err`), including a status line
/// longer than [`MAX_STATUS_LINE`](postwire_pop3::wire::MAX_STATUS_LINE).
pub fn decode_pop3(input: &[u8], command: &str, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    use pop3_wire::{Framing, ResponseError, Status, framing_for, parse_response};
    let framing = framing_for(command.as_bytes());
    let mut pos = 0;
    let mut first = true;
    loop {
        let rest = input.get(pos..).unwrap_or_default();
        let fr = match framing {
            Framing::Greeting if !first => Framing::SingleLine,
            f => f,
        };
        let error = |e: ResponseError, err: &mut dyn Write, out: &mut dyn Write| {
            let msg = match e {
                ResponseError::Malformed { offset } => {
                    format!("malformed POP3 response at byte {}", pos + offset)
                }
                other => format!("{other} (response starting at byte {pos})"),
            };
            let _ = writeln!(err, "error: {msg}");
            flush(out, err, EXIT_ERROR)
        };
        match parse_response(rest, fr) {
            Ok(Status::Complete((used, resp))) => {
                let v = match pop3_response_json(&resp, command, first) {
                    Ok(v) => v,
                    Err(e) => return error(e, err, out),
                };
                if writeln!(out, "{v}").is_err() {
                    let _ = writeln!(err, "error: cannot write the output");
                    return EXIT_ERROR;
                }
                pos += used;
                first = false;
            }
            Ok(Status::Partial) if rest.is_empty() => return flush(out, err, EXIT_OK),
            Ok(Status::Partial) => {
                let line = json!({"type": "remainder", "bytes": rest.len()});
                if writeln!(out, "{line}").is_err() {
                    let _ = writeln!(err, "error: cannot write the output");
                    return EXIT_ERROR;
                }
                let _ = writeln!(
                    err,
                    "incomplete: the input ends inside a response ({} bytes left)",
                    rest.len()
                );
                return flush(out, err, EXIT_INCOMPLETE);
            }
            Err(e) => return error(e, err, out),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod pop3_tests {
    use super::*;

    fn run(input: &[u8], command: &str) -> (i32, Vec<Value>, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = decode_pop3(input, command, &mut out, &mut err);
        let lines = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (code, lines, String::from_utf8(err).unwrap())
    }

    #[test]
    fn pop3_decode_contract() {
        let (code, v, _) = run(b"+OK 2 320\r\n", "STAT");
        assert_eq!(code, EXIT_OK);
        assert_eq!(v[0]["stat"], json!({"count": 2, "size": 320}));
        let (code, v, _) = run(b"+OK\r\n1 1\r\n..x\r\n.\r\n", "RETR 1");
        assert_eq!(code, EXIT_OK);
        assert_eq!(v[0]["lines"], json!(["1 1", ".x"]));
        assert_eq!(v[0]["octets"], json!(9));
        let (code, v, err) = run(b"+OK\r\n1 1\r\n", "LIST");
        assert_eq!(code, EXIT_INCOMPLETE);
        assert!(err.contains("incomplete"));
        assert_eq!(v[0], json!({"type": "remainder", "bytes": 10}));
        let (code, v, _) = run(b"-ERR [IN-USE] locked\r\n", "PASS x");
        assert_eq!(code, EXIT_OK);
        assert_eq!(v[0]["code"], json!("IN-USE"));
        assert_eq!(v[0]["status"], json!("ERR"));
        let (code, _, err) = run(b"+OK x y\r\n", "STAT");
        assert_eq!(code, EXIT_ERROR);
        assert!(!err.contains("incomplete"));
        let (code, _, _) = run(b"+ abc\r\n", "STAT");
        assert_eq!(code, EXIT_ERROR);
        let (code, v, _) = run(b"+ abc\r\n+OK\r\n", "AUTH PLAIN");
        assert_eq!(code, EXIT_OK);
        assert_eq!(v[0]["base64"], json!("abc"));
        let (code, _, _) = run(&[b'+'; 5000], "STAT");
        assert_eq!(code, EXIT_ERROR);
        assert_eq!(run(b"", "STAT").0, EXIT_OK);
        let (code, v, _) = run(b"+OK caf\xe9\r\n", "NOOP");
        assert_eq!(code, EXIT_OK);
        assert_eq!(v[0]["text_hex"], json!("636166e9"));
    }

    /// Every public POP3 corpus case through the decoder: exit status per outcome, and the
    /// expected (partial) objects.
    #[test]
    fn pop3_corpus() {
        let dir = std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/corpus/public/pop3"
        ));
        assert!(dir.is_dir(), "shared corpus missing at {}", dir.display());
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let meta: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            let bin = std::fs::read(path.with_extension("bin")).unwrap();
            let id = meta["id"].as_str().unwrap();
            let command = meta["context"]["command"].as_str().unwrap_or("any");
            let (code, printed, err) = run(&bin, command);
            let want = match meta["outcome"].as_str().unwrap() {
                "ok" if meta.get("remainder").is_some() => EXIT_INCOMPLETE,
                "ok" => EXIT_OK,
                "error" => EXIT_ERROR,
                _ => EXIT_INCOMPLETE,
            };
            assert_eq!(code, want, "{id}: {err}");
            let printed: Vec<&Value> = printed.iter().filter(|v| v.get("type").is_none()).collect();
            let expected = meta["responses"].as_array().unwrap();
            if want == EXIT_OK {
                assert_eq!(printed.len(), expected.len(), "{id}");
                for (p, e) in printed.iter().zip(expected) {
                    for (k, ev) in e.as_object().unwrap() {
                        assert_eq!(&p[k], ev, "{id}: {k}");
                    }
                }
            }
            n += 1;
        }
        assert!(n > 0);
    }
}
