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
