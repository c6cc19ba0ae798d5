//! `dot::DotStuffer` / `dot::DotUnstuffer` round trip with arbitrary chunking:
//! decode(encode(x)) == x with every bare CR/LF turned into CRLF and a final CRLF added when
//! missing; the encoded form contains exactly one terminator, at its end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postwire_core::dot::{DotStuffer, DotUnstuffer, Unstuffed};

fn normalized(x: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < x.len() {
        match x[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if x.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

fuzz_target!(|input: &[u8]| {
    let [a, b, c, data @ ..] = input else {
        return;
    };
    let in_chunk = usize::from(*a % 16) + 1;
    let out_room = usize::from(*b % 16) + 2; // progress is guaranteed with >= 2
    let dec_room = usize::from(*c % 16) + 1;

    // Encode in chunks through a small output window.
    let mut enc = DotStuffer::new();
    let mut wire = Vec::new();
    let mut window = vec![0u8; out_room];
    for chunk in data.chunks(in_chunk) {
        let mut off = 0;
        while off < chunk.len() {
            let (used, written) = enc.encode(&chunk[off..], &mut window);
            assert!(used > 0 || written > 0, "encoder made no progress");
            assert!(written <= window.len());
            wire.extend_from_slice(&window[..written]);
            off += used;
        }
    }
    let mut tail = [0u8; 5];
    let n = enc.finish(&mut tail).expect("finish with 5 bytes");
    wire.extend_from_slice(&tail[..n]);
    assert!(wire.len() <= DotStuffer::max_encoded_len(data.len()));

    // Exactly one terminator, at the end; every line break is CRLF.
    let mut framed = b"\r\n".to_vec();
    framed.extend_from_slice(&wire);
    let first = framed.windows(5).position(|w| w == b"\r\n.\r\n");
    assert_eq!(first, Some(framed.len() - 5), "early terminator");
    for (i, &x) in framed.iter().enumerate() {
        if x == b'\r' {
            assert_eq!(framed.get(i + 1), Some(&b'\n'), "bare CR");
        }
        if x == b'\n' {
            assert_eq!(framed[i - 1], b'\r', "bare LF");
        }
    }

    // Decode through a small output window.
    let mut dec = DotUnstuffer::new();
    let mut body = Vec::new();
    let mut out = vec![0u8; dec_room];
    let mut pos = 0;
    loop {
        let (used, written, state) = dec.decode(&wire[pos..], &mut out);
        body.extend_from_slice(&out[..written]);
        pos += used;
        if state == Unstuffed::Done {
            break;
        }
        assert!(
            used > 0 || written > 0,
            "decoder made no progress at {pos}/{}",
            wire.len()
        );
    }
    assert_eq!(pos, wire.len(), "decoder stopped before the end");
    assert_eq!(body, normalized(data));
});
