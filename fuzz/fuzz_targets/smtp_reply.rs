//! `wire::parse_reply` and `wire::parse_reply_line` on arbitrary bytes: no panic, consumed
//! counts in range, parsed lines free of CR/LF/NUL, and whole-reply parsing consistent with
//! line-by-line parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postwire_smtp::wire::{
    Capabilities, EnhancedCode, MAX_REPLY_LINE, Status, next_reply_line, parse_reply,
    parse_reply_line,
};

fuzz_target!(|data: &[u8]| {
    // Whole replies, one after the other.
    let mut rest = data;
    while let Ok(Status::Complete((used, reply))) = parse_reply(rest) {
        assert!(
            used > 0 && used <= rest.len(),
            "consumed {used} of {}",
            rest.len()
        );
        assert_eq!(reply.raw().len(), used);
        let code = reply.code();
        assert!(code.value() <= 999);
        let mut n = 0;
        for line in reply.lines() {
            assert!(!line.contains(&b'\n'));
            n += 1;
        }
        assert_eq!(n, reply.line_count());
        let _ = reply.first_line();
        let _ = reply.enhanced();
        let (caps, _domain) = Capabilities::from_ehlo(&reply);
        let _ = caps.auth.names().count();
        // The same bytes, line by line, give the same code on every line.
        let mut lines = &rest[..used];
        let mut last = false;
        while !lines.is_empty() {
            match next_reply_line(lines, MAX_REPLY_LINE) {
                Ok(Status::Complete((k, line))) => {
                    assert!(k > 0 && k <= lines.len());
                    assert_eq!(line.code, code);
                    assert!(!last, "a line after the last line of a reply");
                    last = line.last;
                    lines = &lines[k..];
                }
                other => panic!("line-by-line parsing disagrees: {other:?}"),
            }
        }
        assert!(last);
        rest = &rest[used..];
    }
    // Single lines.
    for line in data.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Ok(l) = parse_reply_line(line) {
            assert!(!l.text.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)));
            assert!(l.code.value() <= 999);
            if let Some((e, tail)) = EnhancedCode::parse_prefix(l.text) {
                assert!(tail.len() < l.text.len());
                assert!((2..=5).contains(&e.class));
            }
        }
    }
});
