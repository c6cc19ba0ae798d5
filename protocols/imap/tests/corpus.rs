//! Conformance over every IMAP case of the shared public corpus.
//!
//! * `rfc` cases must pass; `invalid` cases with `outcome: error` must be refused;
//! * `quirk` cases must pass or be listed in [`REFUSED_QUIRKS`] with the reason;
//! * every case is also decoded byte by byte, in 7-byte pieces and with all literals streamed
//!   through a small inline limit, and must give the same result.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use std::path::Path;

use common::json::{DecodeSettings, EXIT_ERROR, EXIT_INCOMPLETE, EXIT_OK, decode};
use common::matches;
use serde_json::Value;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus/public");

/// Quirk cases this parser refuses on purpose, with the reason.
const REFUSED_QUIRKS: &[(&str, &str)] = &[];

fn load_cases() -> Vec<(Value, Vec<u8>)> {
    let dir = Path::new(CORPUS).join("imap");
    assert!(dir.is_dir(), "shared corpus missing at {}", dir.display());
    let mut cases = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let meta: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let bin = std::fs::read(path.with_extension("bin")).unwrap();
        cases.push((meta, bin));
    }
    assert!(!cases.is_empty(), "no IMAP cases in {}", dir.display());
    cases
}

#[test]
fn imap_corpus() {
    let mut counts = std::collections::BTreeMap::<String, (usize, usize, usize)>::new();
    let mut failures = Vec::new();
    for (meta, bin) in load_cases() {
        let id = meta["id"].as_str().unwrap().to_owned();
        let conformance = meta["conformance"].as_str().unwrap().to_owned();
        let outcome = meta["outcome"].as_str().unwrap();
        let greeting = meta.get("context").and_then(Value::as_str) == Some("greeting");
        let d = decode(&bin, greeting, DecodeSettings::DEFAULT);

        // Chunking and streaming invariance.
        for s in [
            DecodeSettings {
                chunk: 1,
                ..DecodeSettings::DEFAULT
            },
            DecodeSettings {
                chunk: 7,
                ..DecodeSettings::DEFAULT
            },
            DecodeSettings {
                chunk: 5,
                buffer: 2048,
                inline_literal_max: 0,
            },
        ] {
            let other = decode(&bin, greeting, s);
            if s.inline_literal_max == 0
                && other.exit == EXIT_ERROR
                && other.message.contains("literal")
            {
                // A literal outside a FETCH value cannot be streamed: expected.
                continue;
            }
            if (other.lines.clone(), other.exit) != (d.lines.clone(), d.exit) {
                failures.push(format!(
                    "{id}: settings {s:?} differ: {:?} vs {:?}",
                    other, d
                ));
            }
        }

        let printed: Vec<&Value> = d
            .lines
            .iter()
            .filter(|v| v.get("type").and_then(Value::as_str) != Some("remainder"))
            .collect();
        let expected = meta["responses"].as_array().cloned().unwrap_or_default();
        let remainder = meta
            .get("remainder")
            .and_then(|r| r.get("data"))
            .and_then(Value::as_str);
        let result: Result<(), String> = (|| match outcome {
            "ok" => {
                let want = if remainder.is_some() {
                    EXIT_INCOMPLETE
                } else {
                    EXIT_OK
                };
                if d.exit != want {
                    return Err(format!("exit {} (want {want}): {}", d.exit, d.message));
                }
                if printed.len() != expected.len() {
                    return Err(format!(
                        "{} responses, want {}: {:?}",
                        printed.len(),
                        expected.len(),
                        d.lines
                    ));
                }
                for (i, (e, a)) in expected.iter().zip(&printed).enumerate() {
                    matches(e, a, "", "").map_err(|m| format!("response {i}: {m}"))?;
                }
                if let Some(rem) = remainder {
                    let last = d.lines.last().unwrap();
                    if last["bytes"].as_u64() != Some(rem.len() as u64) {
                        return Err(format!("remainder {last} want {} bytes", rem.len()));
                    }
                }
                Ok(())
            }
            "error" => {
                if d.exit != EXIT_ERROR {
                    return Err(format!("accepted invalid input: {:?}", d.lines));
                }
                if d.message.contains("incomplete") {
                    return Err("error message mentions incomplete".into());
                }
                Ok(())
            }
            "incomplete" => {
                if d.exit != EXIT_INCOMPLETE {
                    return Err(format!("exit {} (want incomplete): {}", d.exit, d.message));
                }
                for (i, (e, a)) in expected.iter().zip(&printed).enumerate() {
                    matches(e, a, "", "").map_err(|m| format!("response {i}: {m}"))?;
                }
                if let Some(k) = meta.get("incomplete_needed").and_then(Value::as_u64) {
                    let last = d.lines.last().unwrap();
                    if last["needed"].as_u64() != Some(k) {
                        return Err(format!("needed {last}, want {k}"));
                    }
                }
                Ok(())
            }
            other => Err(format!("unknown outcome {other}")),
        })();
        let entry = counts.entry(conformance.clone()).or_default();
        entry.0 += 1;
        match result {
            Ok(()) => entry.1 += 1,
            Err(e) => {
                let refused = REFUSED_QUIRKS.iter().find(|(q, _)| *q == id);
                if conformance == "quirk" && d.exit == EXIT_ERROR && refused.is_some() {
                    entry.2 += 1;
                } else {
                    failures.push(format!("{id} [{conformance}/{outcome}]: {e}"));
                }
            }
        }
    }
    for (class, (n, pass, refused)) in &counts {
        println!("imap corpus {class}: {n} cases, {pass} pass, {refused} refused on purpose");
    }
    for (q, why) in REFUSED_QUIRKS {
        println!("refused quirk {q}: {why}");
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
