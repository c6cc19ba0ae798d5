//! `wire::ResponseReader` on arbitrary bytes: the first two bytes choose the buffer size,
//! the inline literal limit and the read size. No panic, bounded memory (the reader only
//! uses its fixed buffer), events consistent (literal chunks never exceed what was
//! announced, views iterate without panicking).
#![no_main]

use libfuzzer_sys::fuzz_target;
use postwire_imap::wire::{Event, FetchItem, ReaderConfig, Response, ResponseReader};

fn walk(r: &Response<'_>) {
    if let Response::Fetch(f) = r {
        for (_, item) in f.items.with_names() {
            match item {
                FetchItem::Envelope(e) => {
                    let _ = (e.subject(), e.from().map(Iterator::count));
                }
                FetchItem::BodyStructure(b) | FetchItem::Body(b) => {
                    let _ = (
                        b.params().map(Iterator::count),
                        b.parts().count(),
                        b.extensions(),
                    );
                }
                _ => {}
            }
        }
    }
    let _ = format!("{r:?}");
}

fuzz_target!(|data: &[u8]| {
    let (cfg, input) = match data {
        [a, b, rest @ ..] => ((*a, *b), rest),
        _ => return,
    };
    let mut storage = vec![0u8; 16 + usize::from(cfg.0) * 4];
    let chunk = usize::from(cfg.1 % 64) + 1;
    let mut r = ResponseReader::new(
        &mut storage,
        ReaderConfig {
            inline_literal_max: usize::from(cfg.1),
            max_literal: 1 << 20,
            greeting: cfg.0 & 1 == 1,
        },
    );
    let mut rest = input;
    let mut remaining: Option<u64> = None;
    loop {
        loop {
            let failed = match r.next_event() {
                Ok(None) => break,
                Ok(Some(ev)) => {
                    match ev {
                        Event::Response(resp) => walk(&resp),
                        Event::FetchHead { streamed, .. } => remaining = Some(streamed.len),
                        Event::FetchMore { streamed, .. } => remaining = streamed.map(|s| s.len),
                        Event::LiteralData {
                            data,
                            remaining: left,
                        } => {
                            assert!(!data.is_empty());
                            if let Some(total) = remaining.as_mut() {
                                assert!(data.len() as u64 <= *total);
                                *total -= data.len() as u64;
                                assert_eq!(*total, left);
                            }
                        }
                        _ => {}
                    }
                    false
                }
                Err(_) => true,
            };
            if failed {
                if r.is_failed() {
                    return;
                }
                remaining = None;
            }
        }
        if rest.is_empty() {
            break;
        }
        let n = r.feed(&rest[..chunk.min(rest.len())]);
        if n == 0 {
            panic!("reader stalled");
        }
        rest = &rest[n..];
    }
    let _ = r.pending();
});
