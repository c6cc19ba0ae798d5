//! Shared test support.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod client;
pub mod json;

use serde_json::Value;

/// Partial comparison of FORMAT.md values: only keys present in `expected` are compared.
pub fn matches(expected: &Value, actual: &Value, key: &str, parent: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let ci_keys = key == "params" || key == "params_hex";
            for (k, ev) in e {
                let av = if ci_keys {
                    a.iter()
                        .find(|(ak, _)| ak.eq_ignore_ascii_case(k))
                        .map(|(_, v)| v)
                } else {
                    a.get(k)
                };
                let Some(av) = av else {
                    return Err(format!("missing key {k:?} in {actual}"));
                };
                matches(ev, av, k, key).map_err(|e| format!("{k}: {e}"))?;
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!("length {} != {}: {actual}", a.len(), e.len()));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                matches(ev, av, key, parent).map_err(|e| format!("[{i}] {e}"))?;
            }
            Ok(())
        }
        (Value::String(e), Value::String(a)) => {
            let ci = matches!(key, "type" | "subtype" | "encoding" | "attributes")
                || (key == "name" && parent == "code")
                || (key == "mailbox" && e.eq_ignore_ascii_case("INBOX"));
            if e == a || (ci && e.eq_ignore_ascii_case(a)) {
                Ok(())
            } else {
                Err(format!("{a:?} != {e:?}"))
            }
        }
        (e, a) => {
            if e == a {
                Ok(())
            } else {
                Err(format!("{a} != {e}"))
            }
        }
    }
}
