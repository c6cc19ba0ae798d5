//! `wire::parse_response` (framing of single- and multi-line POP3 responses, status lines,
//! RFC 2449 codes) and the listing parsers on arbitrary input: never a panic; a complete
//! response consumes at most the input; every shorter prefix of it is `Partial`; the lines
//! and octets of a multi-line body agree with the streaming `DotUnstuffer`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postwire_core::dot::{DotUnstuffer, Unstuffed};
use postwire_pop3::wire::{
    Framing, Status, apop_timestamp, parse_response, parse_scan_listing, parse_stat,
    parse_uid_listing,
};

fuzz_target!(|input: &[u8]| {
    let Some((&sel, data)) = input.split_first() else {
        return;
    };
    let framing = match sel % 4 {
        0 => Framing::Greeting,
        1 => Framing::SingleLine,
        2 => Framing::MultiLine,
        _ => Framing::Auth,
    };
    match parse_response(data, framing) {
        Ok(Status::Complete((n, r))) => {
            assert!(n > 0 && n <= data.len());
            for k in 0..n {
                assert!(
                    matches!(parse_response(&data[..k], framing), Ok(Status::Partial)),
                    "prefix {k} of a complete response of {n} bytes"
                );
            }
            let text = r.status.text_or_empty();
            let _ = (r.status.code().map(|c| c.kind()), r.status.message());
            let _ = (
                parse_stat(text),
                parse_scan_listing(text),
                parse_uid_listing(text),
            );
            let _ = apop_timestamp(text);
            if let Some(body) = r.body {
                // The streaming decoder gives the same bytes as the framed lines.
                let mut wire = body.to_vec();
                wire.extend_from_slice(b".\r\n");
                let mut out = vec![0u8; wire.len()];
                let (used, written, st) = DotUnstuffer::new().decode(&wire, &mut out);
                assert_eq!(st, Unstuffed::Done);
                assert_eq!(used, wire.len());
                assert_eq!(written as u64, r.octets());
                let mut joined = 0usize;
                for l in r.lines() {
                    let _ = parse_scan_listing(l);
                    let _ = parse_uid_listing(l);
                    joined += l.len();
                }
                assert!(joined <= written);
            }
        }
        Ok(Status::Partial) | Err(_) => {}
    }
});
