//! `wire::parse_response`, `parse_greeting` and `frame_response` on arbitrary bytes: no
//! panic, consumed counts in range, framing consistent with parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postwire_imap::wire::{Framed, Limits, Status, frame_response, parse_greeting, parse_response};

fuzz_target!(|data: &[u8]| {
    let _ = parse_greeting(data);
    let mut rest = data;
    loop {
        let framed = frame_response(rest, &Limits::DEFAULT);
        match parse_response(rest) {
            Ok(Status::Complete((used, resp))) => {
                assert!(used > 0 && used <= rest.len());
                assert_eq!(framed, Ok(Framed::Complete(used)));
                let _ = format!("{resp:?}");
                rest = &rest[used..];
            }
            Ok(Status::Partial) => {
                assert!(matches!(framed, Ok(Framed::Incomplete { .. })));
                break;
            }
            Err(_) => {
                // Skip the bad response when it could be framed.
                match framed {
                    Ok(Framed::Complete(n)) => rest = &rest[n..],
                    _ => break,
                }
            }
        }
    }
});
