//! Turns the CA certificate file named by `POSTWIRE_CA` (PEM bundle or a single DER
//! certificate) into DER files in `OUT_DIR` plus `ca.rs`, which `src/settings.rs` includes as
//! the firmware's trust anchors. Without `POSTWIRE_CA` the firmware has no trust anchor and
//! every TLS handshake fails with an unknown-issuer error (the safe outcome for an
//! unprovisioned device); nothing is downloaded.
use std::{env, fs, path::PathBuf};

/// At most this many certificates are taken from a PEM bundle.
const MAX_ANCHORS: usize = 8;

/// The settings read with `option_env!` in src/settings.rs: rebuild when they change.
const SETTINGS: &[&str] = &[
    "POSTWIRE_CA",
    "POSTWIRE_SMTP_HOST",
    "POSTWIRE_SMTP_PORT",
    "POSTWIRE_IMAP_HOST",
    "POSTWIRE_IMAP_PORT",
    "POSTWIRE_POP3_HOST",
    "POSTWIRE_POP3_PORT",
    "POSTWIRE_USER",
    "POSTWIRE_PASSWORD",
    "POSTWIRE_FROM",
    "POSTWIRE_TO",
    "POSTWIRE_COMMANDS_FROM",
    "POSTWIRE_DEVICE_NAME",
    "POSTWIRE_COMMAND_MAILBOX",
    "POSTWIRE_WIFI_SSID",
    "POSTWIRE_WIFI_PASSWORD",
];

fn main() {
    for name in SETTINGS {
        println!("cargo::rerun-if-env-changed={name}");
    }
    println!("cargo::rerun-if-changed=build.rs");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));

    let mut ders: Vec<Vec<u8>> = Vec::new();
    if let Some(path) = env::var_os("POSTWIRE_CA").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_absolute() {
            panic!(
                "POSTWIRE_CA must be an absolute path (got {})",
                path.display()
            );
        }
        println!("cargo::rerun-if-changed={}", path.display());
        let bytes = fs::read(&path)
            .unwrap_or_else(|e| panic!("POSTWIRE_CA: cannot read {}: {e}", path.display()));
        if bytes.first() == Some(&0x30) {
            ders.push(bytes); // DER: a SEQUENCE
        } else {
            let text = String::from_utf8(bytes).expect("POSTWIRE_CA: neither DER nor PEM text");
            ders = pem_certificates(&text);
            if ders.is_empty() {
                panic!(
                    "POSTWIRE_CA: no -----BEGIN CERTIFICATE----- block in {}",
                    path.display()
                );
            }
        }
        if ders.len() > MAX_ANCHORS {
            panic!(
                "POSTWIRE_CA: {} certificates, at most {MAX_ANCHORS} are supported",
                ders.len()
            );
        }
    }

    let mut rs = String::from(
        "/// The trust anchors (DER CA certificates) given at build time by `POSTWIRE_CA`.\n",
    );
    rs.push_str("pub static CA_ANCHORS: &[&[u8]] = &[\n");
    for (i, der) in ders.iter().enumerate() {
        let file = out.join(format!("ca{i}.der"));
        fs::write(&file, der).expect("write DER");
        rs.push_str(&format!(
            "    include_bytes!(concat!(env!(\"OUT_DIR\"), \"/ca{i}.der\")),\n"
        ));
    }
    rs.push_str("];\n");
    fs::write(out.join("ca.rs"), rs).expect("write ca.rs");
}

/// The DER bytes of every `CERTIFICATE` block of a PEM text.
fn pem_certificates(text: &str) -> Vec<Vec<u8>> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut certs = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let body_start = start + BEGIN.len();
        let Some(len) = rest[body_start..].find(END) else {
            panic!("POSTWIRE_CA: unterminated CERTIFICATE block");
        };
        certs.push(base64_decode(&rest[body_start..body_start + len]));
        rest = &rest[body_start + len + END.len()..];
    }
    certs
}

/// Standard base64 (RFC 4648 alphabet, `=` padding), ignoring whitespace.
fn base64_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            _ => panic!("POSTWIRE_CA: invalid base64 character {:?}", c as char),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
