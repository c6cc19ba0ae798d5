//! Streaming dot-stuffing (SMTP DATA) and un-stuffing (POP3 multi-line bodies).
//!
//! Both codecs keep a few bits of state between calls, so a message can be streamed through
//! small buffers in arbitrary chunks.
//!
//! ```
//! use postwire_core::dot::{DotStuffer, DotUnstuffer, Unstuffed};
//!
//! let mut wire = [0u8; 64];
//! let mut enc = DotStuffer::new();
//! let (consumed, mut n) = enc.encode(b"Hi\n.hidden\n", &mut wire);
//! assert_eq!(consumed, 11);
//! n += enc.finish(&mut wire[n..]).unwrap();
//! assert_eq!(&wire[..n], b"Hi\r\n..hidden\r\n.\r\n");
//!
//! let mut body = [0u8; 64];
//! let mut dec = DotUnstuffer::new();
//! let (consumed, written, state) = dec.decode(&wire[..n], &mut body);
//! assert_eq!((consumed, state), (n, Unstuffed::Done));
//! assert_eq!(&body[..written], b"Hi\r\n.hidden\r\n");
//! ```

use crate::error::WireError;

/// Streaming encoder for an SMTP DATA body.
///
/// * every bare CR and every bare LF becomes CR LF (defence against SMTP smuggling);
/// * a `.` at the start of a line is doubled;
/// * [`finish`](Self::finish) appends the end-of-data line `.` CR LF (preceded by a line
///   break when the data did not end with one).
///
/// The data is assumed to start at a line start (right after the `354` reply), so an empty
/// message is finished with just `.` CR LF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DotStuffer {
    /// A CR was written; its LF is still owed (or comes from the input).
    pending_cr: bool,
    /// The next output byte starts a line.
    at_line_start: bool,
}

impl DotStuffer {
    /// A new encoder, positioned at a line start.
    pub const fn new() -> Self {
        DotStuffer {
            pending_cr: false,
            at_line_start: true,
        }
    }

    /// Upper bound of the bytes produced for `input_len` input bytes, terminator included
    /// (`2 * input_len + 5`, saturating).
    ///
    /// ```
    /// assert_eq!(postwire_core::dot::DotStuffer::max_encoded_len(10), 25);
    /// ```
    pub const fn max_encoded_len(input_len: usize) -> usize {
        input_len.saturating_mul(2).saturating_add(5)
    }

    /// Encode as much of `input` as fits into `out`.
    ///
    /// Returns `(input bytes consumed, output bytes written)`. An expansion (CR LF, `..`) is
    /// never split: when it does not fit, encoding stops and the rest of `input` must be
    /// passed again. Progress is guaranteed whenever `input` is non-empty and
    /// `out.len() >= 2`.
    pub fn encode(&mut self, input: &[u8], out: &mut [u8]) -> (usize, usize) {
        let mut i = 0;
        let mut o = 0;
        while let Some(&b) = input.get(i) {
            if self.pending_cr {
                // A CR was written: complete it with LF, consuming an input LF if present.
                let Some(slot) = out.get_mut(o) else { break };
                *slot = b'\n';
                o += 1;
                self.pending_cr = false;
                self.at_line_start = true;
                if b == b'\n' {
                    i += 1;
                }
                continue;
            }
            let room = out.len() - o;
            match b {
                b'\r' => {
                    if room < 1 {
                        break;
                    }
                    put(out, o, b"\r");
                    o += 1;
                    self.pending_cr = true;
                    self.at_line_start = false;
                }
                b'\n' => {
                    if room < 2 {
                        break;
                    }
                    put(out, o, b"\r\n");
                    o += 2;
                    self.at_line_start = true;
                }
                b'.' if self.at_line_start => {
                    if room < 2 {
                        break;
                    }
                    put(out, o, b"..");
                    o += 2;
                    self.at_line_start = false;
                }
                _ => {
                    // Copy a run of ordinary bytes at once.
                    let run = input
                        .get(i..)
                        .unwrap_or_default()
                        .iter()
                        .take(room)
                        .take_while(|&&c| c != b'\r' && c != b'\n')
                        .count();
                    if run == 0 {
                        break;
                    }
                    let (Some(dst), Some(src)) = (out.get_mut(o..o + run), input.get(i..i + run))
                    else {
                        break;
                    };
                    dst.copy_from_slice(src);
                    o += run;
                    i += run;
                    self.at_line_start = false;
                    continue;
                }
            }
            i += 1;
        }
        (i, o)
    }

    /// Write the end-of-data terminator and reset the encoder for the next message.
    ///
    /// Writes `.` CR LF after a line break, LF `.` CR LF after a pending CR, and
    /// CR LF `.` CR LF otherwise. Returns the bytes written, or
    /// [`WireError::BufferTooSmall`] (writing nothing) when `out.len() < 5`.
    pub fn finish(&mut self, out: &mut [u8]) -> Result<usize, WireError> {
        if out.len() < 5 {
            return Err(WireError::BufferTooSmall);
        }
        let tail: &[u8] = if self.pending_cr {
            b"\n.\r\n"
        } else if self.at_line_start {
            b".\r\n"
        } else {
            b"\r\n.\r\n"
        };
        put(out, 0, tail);
        *self = DotStuffer::new();
        Ok(tail.len())
    }
}

impl Default for DotStuffer {
    /// Same as [`DotStuffer::new`].
    fn default() -> Self {
        DotStuffer::new()
    }
}

/// Copy `bytes` into `out` at `at` when it fits (callers check the room first).
fn put(out: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = out.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// Progress of a [`DotUnstuffer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Unstuffed {
    /// More input is needed.
    Continue,
    /// The terminator line was seen; the body is complete. The consumed count includes the
    /// terminator.
    Done,
}

/// Streaming decoder for a dot-stuffed multi-line body (POP3 `RETR`/`TOP`/`LIST`, ...).
///
/// Input is raw wire bytes starting at a line start. A line consisting of `.` alone (ended
/// by CR LF or, leniently, a bare LF) terminates the body. On any other line starting with
/// `.`, that first `.` is removed (RFC 1939 section 3, RFC 5321 section 4.5.2), so `..x`
/// becomes `.x`. Line terminators inside the body are passed through unchanged.
///
/// After [`Unstuffed::Done`] the decoder is reset and can decode the next body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DotUnstuffer {
    /// The next input byte starts a line.
    at_line_start: bool,
}

impl DotUnstuffer {
    /// A new decoder, positioned at a line start.
    pub const fn new() -> Self {
        DotUnstuffer {
            at_line_start: true,
        }
    }

    /// Decode `input` into `out`.
    ///
    /// Returns `(input consumed, output written, state)`. Output never exceeds input. The
    /// decoder stops right after the terminator line: later bytes are not consumed. A `.` at a
    /// line start followed by too few bytes to decide (`.` or `.` CR at the end of `input`) is
    /// left unconsumed; pass it again with more data. Progress is guaranteed whenever
    /// `input.len() >= 3` and `out.len() >= 1`, or when `input` starts with a complete
    /// terminator.
    pub fn decode(&mut self, input: &[u8], out: &mut [u8]) -> (usize, usize, Unstuffed) {
        let mut i = 0;
        let mut o = 0;
        loop {
            if self.at_line_start && input.get(i) == Some(&b'.') {
                match input.get(i + 1) {
                    None => break,
                    Some(b'\n') => return self.done(i + 2, o),
                    Some(b'\r') => match input.get(i + 2) {
                        None => break,
                        Some(b'\n') => return self.done(i + 3, o),
                        Some(_) => {}
                    },
                    Some(_) => {}
                }
                // Not the terminator: drop the leading dot.
                i += 1;
                self.at_line_start = false;
            }
            // Copy up to and including the next LF.
            let rest = input.get(i..).unwrap_or_default();
            let room = out.len() - o;
            if rest.is_empty() || room == 0 {
                break;
            }
            let limit = rest.len().min(room);
            let (n, ends_line) = match rest.iter().take(limit).position(|&b| b == b'\n') {
                Some(lf) => (lf + 1, true),
                None => (limit, false),
            };
            let (Some(dst), Some(src)) = (out.get_mut(o..o + n), rest.get(..n)) else {
                break;
            };
            dst.copy_from_slice(src);
            i += n;
            o += n;
            self.at_line_start = ends_line;
        }
        (i, o, Unstuffed::Continue)
    }

    fn done(&mut self, consumed: usize, written: usize) -> (usize, usize, Unstuffed) {
        *self = DotUnstuffer::new();
        (consumed, written, Unstuffed::Done)
    }
}

impl Default for DotUnstuffer {
    /// Same as [`DotUnstuffer::new`].
    fn default() -> Self {
        DotUnstuffer::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn stuff_whole(input: &[u8]) -> Vec<u8> {
        let mut out = std::vec![0u8; DotStuffer::max_encoded_len(input.len())];
        let mut enc = DotStuffer::new();
        let (c, mut n) = enc.encode(input, &mut out);
        assert_eq!(c, input.len());
        n += enc.finish(&mut out[n..]).unwrap();
        out.truncate(n);
        out
    }

    fn stuff_chunked(input: &[u8], chunk: usize, out_size: usize) -> Vec<u8> {
        let mut enc = DotStuffer::new();
        let mut result = Vec::new();
        let mut buf = std::vec![0u8; out_size];
        for piece in input.chunks(chunk.max(1)) {
            let mut rest = piece;
            while !rest.is_empty() {
                let (c, n) = enc.encode(rest, &mut buf);
                assert!(c > 0 || n > 0, "no progress");
                result.extend_from_slice(&buf[..n]);
                rest = &rest[c..];
            }
        }
        let mut fin = [0u8; 5];
        let n = enc.finish(&mut fin).unwrap();
        result.extend_from_slice(&fin[..n]);
        result
    }

    /// Decode a whole stream; returns (body, consumed, done).
    fn unstuff_chunked(wire: &[u8], chunk: usize, out_size: usize) -> (Vec<u8>, usize, bool) {
        let mut dec = DotUnstuffer::new();
        let mut body = Vec::new();
        let mut buf = std::vec![0u8; out_size];
        let mut pending: Vec<u8> = Vec::new();
        let mut fed = 0;
        let mut consumed_total = 0;
        loop {
            let (c, n, st) = dec.decode(&pending, &mut buf);
            body.extend_from_slice(&buf[..n]);
            pending.drain(..c);
            consumed_total += c;
            if st == Unstuffed::Done {
                return (body, consumed_total, true);
            }
            if fed == wire.len() {
                if c == 0 && n == 0 {
                    return (body, consumed_total, false);
                }
                continue;
            }
            let take = chunk.max(1).min(wire.len() - fed);
            pending.extend_from_slice(&wire[fed..fed + take]);
            fed += take;
        }
    }

    fn normalise(x: &[u8]) -> Vec<u8> {
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

    #[test]
    fn stuffer_examples() {
        assert_eq!(stuff_whole(b"a\n.\nb"), b"a\r\n..\r\nb\r\n.\r\n");
        assert_eq!(stuff_whole(b"a\rb"), b"a\r\nb\r\n.\r\n");
        assert_eq!(stuff_whole(b"x\r\n.\r\ny"), b"x\r\n..\r\ny\r\n.\r\n");
        assert_eq!(stuff_whole(b""), b".\r\n");
        assert_eq!(stuff_whole(b"x"), b"x\r\n.\r\n");
        assert_eq!(stuff_whole(b"x\r\n"), b"x\r\n.\r\n");
        assert_eq!(stuff_whole(b"x\r"), b"x\r\n.\r\n");
        assert_eq!(stuff_whole(b"."), b"..\r\n.\r\n");
        assert_eq!(stuff_whole(b"\r\r\n\n"), b"\r\n\r\n\r\n.\r\n");
        assert_eq!(stuff_whole(b"\r."), b"\r\n..\r\n.\r\n");
        assert_eq!(stuff_whole(b"a.b\n..c"), b"a.b\r\n...c\r\n.\r\n");
    }

    #[test]
    fn stuffer_small_buffers() {
        let mut enc = DotStuffer::new();
        let mut out = [0u8; 1];
        // "." needs 2 bytes: no progress with a 1-byte buffer, state unchanged.
        assert_eq!(enc.encode(b".", &mut out), (0, 0));
        assert_eq!(enc.encode(b"\n", &mut out), (0, 0));
        assert_eq!(enc.encode(b"\r", &mut out), (1, 1));
        assert_eq!(enc.encode(b"\n", &mut out), (1, 1));
        assert_eq!(&out, b"\n");
        let mut small = [0u8; 4];
        assert_eq!(enc.finish(&mut small), Err(WireError::BufferTooSmall));
        assert_eq!(small, [0; 4]);
        let mut ok = [0u8; 5];
        assert_eq!(enc.finish(&mut ok), Ok(3));
        assert_eq!(&ok[..3], b".\r\n");
        // Finish reset the encoder.
        assert_eq!(enc, DotStuffer::new());
        assert_eq!(DotStuffer::default().finish(&mut ok), Ok(3));
        assert_eq!(DotUnstuffer::default(), DotUnstuffer::new());
        assert_eq!(DotStuffer::max_encoded_len(usize::MAX), usize::MAX);
    }

    #[test]
    fn unstuffer_examples() {
        let mut out = [0u8; 64];
        let mut dec = DotUnstuffer::new();
        assert_eq!(
            dec.decode(b"a\r\n..b\r\n.\r\n+OK", &mut out),
            (11, 7, Unstuffed::Done)
        );
        assert_eq!(&out[..7], b"a\r\n.b\r\n");
        // Bare LF terminator.
        assert_eq!(dec.decode(b"x\n.\nrest", &mut out), (4, 2, Unstuffed::Done));
        // Empty body.
        assert_eq!(dec.decode(b".\r\n", &mut []), (3, 0, Unstuffed::Done));
        // Held back dot.
        assert_eq!(
            dec.decode(b"ab\r\n.", &mut out),
            (4, 4, Unstuffed::Continue)
        );
        assert_eq!(dec.decode(b".\r", &mut out), (0, 0, Unstuffed::Continue));
        assert_eq!(
            dec.decode(b".\rx\r\n", &mut out),
            (5, 4, Unstuffed::Continue)
        );
        assert_eq!(&out[..4], b"\rx\r\n");
        // A dot not at a line start is content.
        assert_eq!(
            dec.decode(b"a.\r\n.\r\n", &mut out),
            (7, 4, Unstuffed::Done)
        );
        assert_eq!(&out[..4], b"a.\r\n");
        // ".." alone is a line ".".
        assert_eq!(
            dec.decode(b"..\r\n.\r\n", &mut out),
            (7, 3, Unstuffed::Done)
        );
        assert_eq!(&out[..3], b".\r\n");
        // Unterminated.
        assert_eq!(dec.decode(b"abc", &mut out), (3, 3, Unstuffed::Continue));
    }

    #[test]
    fn unstuffer_progress_small_out() {
        let mut dec = DotUnstuffer::new();
        let mut out = [0u8; 1];
        assert_eq!(dec.decode(b"..x", &mut out), (2, 1, Unstuffed::Continue));
        assert_eq!(&out, b".");
        assert_eq!(dec.decode(b"x\r\n", &mut out), (1, 1, Unstuffed::Continue));
    }

    fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                Just(&b"\r"[..]),
                Just(&b"\n"[..]),
                Just(&b"."[..]),
                Just(&b".."[..]),
                Just(&b"\r\n.\r\n"[..]),
                Just(&b"\n.\n"[..]),
                Just(&b"a"[..]),
                Just(&b"xyz"[..]),
                Just(&b"\0"[..]),
            ],
            0..40,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn roundtrip(x in body_bytes()) {
            let wire = stuff_whole(&x);
            let (body, consumed, done) = unstuff_chunked(&wire, wire.len(), wire.len() + 1);
            prop_assert!(done);
            prop_assert_eq!(consumed, wire.len());
            prop_assert_eq!(body, normalise(&x));
        }

        #[test]
        fn roundtrip_arbitrary(x in proptest::collection::vec(any::<u8>(), 0..100)) {
            let wire = stuff_whole(&x);
            let (body, _, done) = unstuff_chunked(&wire, 1000, 1000);
            prop_assert!(done);
            prop_assert_eq!(body, normalise(&x));
        }

        #[test]
        fn stuffer_chunking(x in body_bytes(), chunk in 1usize..10, out_size in 2usize..10) {
            prop_assert_eq!(stuff_chunked(&x, chunk, out_size), stuff_whole(&x));
        }

        #[test]
        fn unstuffer_chunking(x in body_bytes(), trailer in body_bytes(), chunk in 1usize..10, out_size in 1usize..10) {
            let mut wire = stuff_whole(&x);
            let body_len = wire.len();
            wire.extend_from_slice(&trailer);
            let whole = unstuff_chunked(&wire, wire.len(), wire.len() + 1);
            prop_assert_eq!(whole.1, body_len);
            prop_assert_eq!(unstuff_chunked(&wire, chunk, out_size), whole);
        }
    }
}
