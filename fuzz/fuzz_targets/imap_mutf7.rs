//! `mutf7::decode` on arbitrary bytes and `mutf7::encode` on arbitrary strings: no panic,
//! decode(encode(s)) == s, and whatever decodes re-encodes to the same bytes (the decoder
//! is strict, so the encoding is canonical).
#![no_main]

use libfuzzer_sys::fuzz_target;
use postwire_imap::mutf7;

fuzz_target!(|data: &[u8]| {
    let mut out = vec![0u8; data.len() * 4 + 8];
    if let Ok(s) = mutf7::decode_str(data, &mut out) {
        let s = s.to_owned();
        let mut enc = vec![0u8; mutf7::encoded_len(&s)];
        let n = mutf7::encode(&s, &mut enc).expect("sized by encoded_len");
        assert_eq!(&enc[..n], data, "decoded input must be canonical");
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let mut enc = vec![0u8; mutf7::encoded_len(s)];
        let n = mutf7::encode(s, &mut enc).expect("sized by encoded_len");
        let mut dec = vec![0u8; s.len() + 8];
        assert_eq!(
            mutf7::decode_str(&enc[..n], &mut dec).expect("own output decodes"),
            s
        );
    }
});
