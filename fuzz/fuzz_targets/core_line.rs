//! `line::LineBuffer` with arbitrary input, buffer size and chunking: the lines and errors it
//! reports equal a simple reference model, whatever the chunking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postwire_core::line::LineBuffer;

#[derive(Debug, PartialEq)]
enum Item {
    Line(Vec<u8>),
    TooLong,
}

fn reference(data: &[u8], cap: usize) -> Vec<Item> {
    let mut items = Vec::new();
    let mut rest = data;
    while let Some(lf) = rest.iter().position(|&b| b == b'\n') {
        let seg = &rest[..=lf];
        if seg.len() <= cap {
            let line = &seg[..lf];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            items.push(Item::Line(line.to_vec()));
        } else {
            items.push(Item::TooLong);
        }
        rest = &rest[lf + 1..];
    }
    if rest.len() >= cap {
        items.push(Item::TooLong);
    }
    items
}

fn run(data: &[u8], cap: usize, chunks: &[u8]) -> Vec<Item> {
    let mut storage = vec![0u8; cap];
    let mut lb = LineBuffer::new(&mut storage);
    let mut items = Vec::new();
    let mut rest = data;
    let mut i = 0;
    loop {
        loop {
            match lb.next_line() {
                Ok(Some(line)) => {
                    assert!(!line.contains(&b'\n'));
                    items.push(Item::Line(line.to_vec()));
                }
                Ok(None) => break,
                Err(_) => items.push(Item::TooLong),
            }
        }
        if rest.is_empty() {
            break;
        }
        let want = usize::from(chunks.get(i % chunks.len().max(1)).copied().unwrap_or(255)).max(1);
        i += 1;
        let spare = lb.spare();
        assert!(
            !spare.is_empty(),
            "no spare room after next_line returned None"
        );
        let n = want.min(spare.len()).min(rest.len());
        spare[..n].copy_from_slice(&rest[..n]);
        lb.commit(n);
        rest = &rest[n..];
    }
    items
}

fuzz_target!(|input: &[u8]| {
    let [size, nchunks, tail @ ..] = input else {
        return;
    };
    let cap = usize::from(*size % 64) + 1;
    let k = usize::from(*nchunks % 8).min(tail.len());
    let (chunks, data) = tail.split_at(k);
    let want = reference(data, cap);
    let got = run(data, cap, chunks);
    assert_eq!(got, want, "cap {cap}, chunks {chunks:?}");
});
