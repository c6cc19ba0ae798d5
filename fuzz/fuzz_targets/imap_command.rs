//! `Command::encode` with arbitrary string arguments: no panic, and CR/LF only ever appear
//! in the final CRLF or right after a literal announcement (inside literal data).
#![no_main]

use libfuzzer_sys::fuzz_target;
use postwire_imap::wire::{Command, EncodeOptions, LiteralMode, SearchKey};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.splitn(3, '\u{1}');
    let a = parts.next().unwrap_or("");
    let b = parts.next().unwrap_or("");
    let opts = EncodeOptions {
        literal: [LiteralMode::Sync, LiteralMode::Plus, LiteralMode::Minus][usize::from(mode % 3)],
        utf8: mode & 4 != 0,
        prefer_quoted: mode & 8 != 0,
    };
    let key = SearchKey::Subject(b);
    let cmds = [
        Command::Login {
            username: a,
            password: b,
        },
        Command::Select {
            mailbox: a,
            condstore: false,
        },
        Command::Rename { from: a, to: b },
        Command::List {
            reference: a,
            pattern: b,
            return_special_use: true,
        },
        Command::Search {
            uid: true,
            charset: Some("UTF-8"),
            criteria: &[key],
        },
        Command::Raw(a),
    ];
    let mut buf = vec![0u8; 4 * rest.len() + 256];
    for c in cmds {
        if let Ok(e) = c.encode("A1", &opts, &mut buf) {
            let out = &buf[..e.len()];
            // Outside literal data, every LF ends the command or a literal announcement.
            let mut i = 0;
            while i < out.len() {
                if out[i] == b'\n' {
                    assert!(i >= 1 && out[i - 1] == b'\r');
                    let line = &out[..i - 1];
                    if let Some(open) = line.iter().rposition(|&b| b == b'{') {
                        let digits = &line[open + 1..];
                        let digits = digits.strip_suffix(b"}").unwrap_or(digits);
                        let digits = digits.strip_suffix(b"+").unwrap_or(digits);
                        if line.ends_with(b"}")
                            && !digits.is_empty()
                            && digits.iter().all(u8::is_ascii_digit)
                        {
                            let n: usize = std::str::from_utf8(digits).unwrap().parse().unwrap();
                            i += n;
                        }
                    }
                } else {
                    if out[i] == b'\r' {
                        assert_eq!(out.get(i + 1), Some(&b'\n'), "bare CR outside a literal");
                    }
                    assert_ne!(out[i], 0, "NUL in a command");
                }
                i += 1;
            }
            assert!(out.ends_with(b"\r\n"));
        }
    }
});
