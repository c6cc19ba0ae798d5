//! The mutf7 and imap-command vectors of the shared public corpus.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use postwire_imap::mutf7;
use postwire_imap::wire::{Command, EncodeOptions, StoreMode, quote_string};
use serde_json::Value;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpus/public/vectors"
);

fn load(kind: &str) -> Vec<Value> {
    let path = std::path::Path::new(VECTORS).join(format!("{kind}.jsonl"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("vectors missing at {}: {e}", path.display()));
    let v: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!v.is_empty());
    v
}

fn input_bytes(v: &Value) -> Vec<u8> {
    if let Some(h) = v.get("input_hex").and_then(Value::as_str) {
        return (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect();
    }
    v["input"].as_str().unwrap().as_bytes().to_vec()
}

fn enc(s: &str) -> Result<String, postwire_imap::wire::Error> {
    let mut buf = vec![0u8; s.len() * 4 + 8];
    let n = mutf7::encode(s, &mut buf)?;
    assert_eq!(n, mutf7::encoded_len(s));
    Ok(String::from_utf8(buf[..n].to_vec()).unwrap())
}

fn dec(b: &[u8]) -> Result<String, postwire_imap::wire::Error> {
    let mut buf = vec![0u8; b.len() * 4 + 8];
    mutf7::decode_str(b, &mut buf).map(str::to_owned)
}

#[test]
fn mutf7_vectors() {
    let (mut n, mut fail) = (0, Vec::new());
    for v in load("mutf7") {
        let id = v["id"].as_str().unwrap();
        let valid = v["valid"].as_bool().unwrap();
        let op = v["op"].as_str().unwrap();
        let input = input_bytes(&v);
        let expected = v["expected"].as_str();
        let ok = match op {
            "encode" => {
                let s = std::str::from_utf8(&input).unwrap();
                enc(s).ok().as_deref() == expected
            }
            "decode" => match (dec(&input), valid) {
                (Ok(s), true) => Some(s.as_str()) == expected,
                (Err(_), false) => true,
                _ => false,
            },
            "roundtrip" => {
                let s = std::str::from_utf8(&input).unwrap();
                let e = enc(s).unwrap();
                Some(e.as_str()) == expected && dec(e.as_bytes()).unwrap() == s
            }
            other => panic!("unknown op {other}"),
        };
        n += 1;
        if !ok {
            fail.push(id.to_owned());
        }
    }
    println!("mutf7 vectors: {n} cases, {} pass", n - fail.len());
    assert!(fail.is_empty(), "failed: {fail:?}");
}

#[test]
fn imap_command_vectors() {
    let (mut n, mut fail) = (0, Vec::new());
    for v in load("imap-command") {
        let id = v["id"].as_str().unwrap().to_owned();
        let op = v["op"].as_str().unwrap();
        let valid = v["valid"].as_bool().unwrap();
        let expected = v["expected"].as_str();
        let mut buf = [0u8; 512];
        let got: Option<String> = match op {
            "quote-string" => {
                let s = v["input"].as_str().unwrap();
                quote_string(s.as_bytes(), &mut buf)
                    .ok()
                    .map(|n| String::from_utf8(buf[..n].to_vec()).unwrap())
            }
            "format-id-params" => {
                let pairs: Vec<(String, Option<String>)> = v["input"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        (
                            p[0].as_str().unwrap().to_owned(),
                            p[1].as_str().map(str::to_owned),
                        )
                    })
                    .collect();
                let refs: Vec<(&str, Option<&str>)> = pairs
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_deref()))
                    .collect();
                Command::Id(Some(&refs))
                    .encode("t", &EncodeOptions::default(), &mut buf)
                    .ok()
                    .map(|e| {
                        // Strip "t ID (" and ")\r\n".
                        let s = String::from_utf8(buf[..e.len()].to_vec()).unwrap();
                        s["t ID (".len()..s.len() - 3].to_owned()
                    })
            }
            "encode-command" => {
                // Inputs are rust-imap calls written as words; rust-imap quotes every
                // string argument, hence `prefer_quoted`.
                let input = v["input"].as_str().unwrap();
                let words: Vec<&str> = input.split(' ').collect();
                let quoted = EncodeOptions {
                    prefer_quoted: true,
                    ..EncodeOptions::default()
                };
                let cmd = match words.as_slice() {
                    ["SETACL", mailbox, identifier, mode, rights] => Command::SetAcl {
                        mailbox,
                        identifier,
                        rights,
                        mode: match *mode {
                            "add" => StoreMode::Add,
                            "remove" => StoreMode::Remove,
                            _ => StoreMode::Replace,
                        },
                    },
                    ["DELETEACL", mailbox, identifier] => Command::DeleteAcl {
                        mailbox,
                        identifier,
                    },
                    // SORT / SEARCH queries are passed through verbatim by rust-imap.
                    _ => Command::Raw(input),
                };
                cmd.encode("a1", &quoted, &mut buf)
                    .ok()
                    .map(|e| String::from_utf8(buf[..e.len()].to_vec()).unwrap())
            }
            other => panic!("unknown op {other}"),
        };
        n += 1;
        let ok = if valid {
            got.as_deref() == expected
        } else {
            got.is_none()
        };
        if !ok {
            fail.push(format!("{id}: got {got:?} want {expected:?}"));
        }
    }
    println!("imap-command vectors: {n} cases, {} pass", n - fail.len());
    assert!(fail.is_empty(), "failed: {fail:#?}");
}
