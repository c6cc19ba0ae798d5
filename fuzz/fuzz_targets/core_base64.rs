//! `base64::Base64Decoder` (streaming): arbitrary input in arbitrary chunks must give the
//! same result as one call; valid encodings with whitespace inserted decode to the original.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postwire_core::base64::{Base64Decoder, decode_into, encode_into, encoded_len};

/// Decodes `input` in chunks of `chunk` bytes through an output window of `room` (>= 3) bytes.
fn stream(input: &[u8], chunk: usize, room: usize) -> Result<Vec<u8>, ()> {
    let mut dec = Base64Decoder::new();
    let mut out = Vec::new();
    let mut window = vec![0u8; room];
    for piece in input.chunks(chunk) {
        let mut off = 0;
        while off < piece.len() {
            let (used, written) = dec.decode(&piece[off..], &mut window).map_err(|_| ())?;
            assert!(used > 0 || written > 0, "no progress");
            out.extend_from_slice(&window[..written]);
            off += used;
        }
    }
    let n = dec.finish(&mut window).map_err(|_| ())?;
    out.extend_from_slice(&window[..n]);
    Ok(out)
}

fuzz_target!(|input: &[u8]| {
    let [mode, a, b, data @ ..] = input else {
        return;
    };
    let chunk = usize::from(*a % 32) + 1;
    let room = usize::from(*b % 16) + 3;
    if mode % 2 == 0 {
        // Arbitrary bytes: chunking must not matter.
        let whole = stream(data, data.len().max(1), 4096.max(data.len() + 3));
        let chunked = stream(data, chunk, room);
        assert_eq!(whole, chunked);
        // Strict one-shot decoding never panics, and agrees when it accepts.
        let mut out = vec![0u8; data.len()];
        if let Ok(n) = decode_into(data, &mut out) {
            assert_eq!(whole.as_deref(), Ok(&out[..n]));
        }
    } else {
        // A valid encoding of `data`, with whitespace inserted, decodes back to `data`.
        let mut enc = vec![0u8; encoded_len(data.len())];
        let n = encode_into(data, &mut enc).expect("encode");
        assert_eq!(n, enc.len());
        let mut spaced = Vec::new();
        for (i, &x) in enc.iter().enumerate() {
            if i % (usize::from(*mode) % 7 + 2) == 0 {
                spaced.extend_from_slice(match mode % 3 {
                    0 => b"\r\n",
                    1 => b" ",
                    _ => b"\t",
                });
            }
            spaced.push(x);
        }
        assert_eq!(stream(&spaced, chunk, room), Ok(data.to_vec()));
        let mut out = vec![0u8; data.len()];
        assert_eq!(decode_into(&enc, &mut out), Ok(data.len()));
        assert_eq!(out, data);
    }
});
