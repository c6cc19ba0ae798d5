//! Bounded line framing over a caller-provided buffer.
//!
//! [`LineBuffer`] collects socket bytes in a fixed buffer and hands out complete lines. A line
//! ends at LF; a CR directly before the LF belongs to the terminator. Lines longer than the
//! buffer are reported once as [`WireError::LineTooLong`] and skipped up to the next LF, so
//! the reader resynchronises instead of failing forever.
//!
//! ```
//! use postwire_core::line::LineBuffer;
//!
//! let mut storage = [0u8; 64];
//! let mut lines = LineBuffer::new(&mut storage);
//!
//! // Simulate a socket read into the spare space.
//! let received = b"+OK ready\r\n+OK bye";
//! let spare = lines.spare();
//! spare[..received.len()].copy_from_slice(received);
//! lines.commit(received.len());
//!
//! assert_eq!(lines.next_line(), Ok(Some(&b"+OK ready"[..])));
//! assert_eq!(lines.next_line(), Ok(None)); // "+OK bye" has no line end yet
//! assert_eq!(lines.buffered(), b"+OK bye");
//! ```

use crate::error::WireError;

/// Find the first line in `input`.
///
/// Returns `(line length without terminator, total length including the terminator)`, or
/// `None` when `input` holds no LF. The terminator is LF or CR LF; a CR elsewhere is content.
///
/// ```
/// use postwire_core::line::find_line;
/// assert_eq!(find_line(b"ab\r\ncd"), Some((2, 4)));
/// assert_eq!(find_line(b"ab\ncd"), Some((2, 3)));
/// assert_eq!(find_line(b"a\rb\n"), Some((3, 4)));
/// assert_eq!(find_line(b"ab\r"), None);
/// ```
pub fn find_line(input: &[u8]) -> Option<(usize, usize)> {
    let lf = input.iter().position(|&b| b == b'\n')?;
    let line_len = match lf.checked_sub(1).and_then(|i| input.get(i)) {
        Some(b'\r') => lf - 1,
        _ => lf,
    };
    Some((line_len, lf + 1))
}

/// A bounded line reader over a caller buffer.
///
/// Protocol drivers read socket bytes into [`spare`](Self::spare), [`commit`](Self::commit)
/// them, and then call [`next_line`](Self::next_line) until it returns `Ok(None)`. Raw byte
/// runs (IMAP literals, message bodies) can be taken from [`buffered`](Self::buffered) and
/// dropped with [`consume`](Self::consume).
///
/// A line (including its terminator) is always delivered if it fits into the buffer,
/// whatever the chunking of the input. A longer line produces exactly one
/// [`WireError::LineTooLong`]; its remaining bytes up to and including the next LF are
/// discarded.
pub struct LineBuffer<'b> {
    buf: &'b mut [u8],
    /// Start of the unconsumed data.
    start: usize,
    /// End of the unconsumed data.
    end: usize,
    /// Number of bytes from `start` known to contain no LF.
    scanned: usize,
    /// Dropping input up to and including the next LF.
    discarding: bool,
}

impl<'b> LineBuffer<'b> {
    /// Wrap `buf`. Its size bounds the longest line (terminator included) that can be read.
    pub fn new(buf: &'b mut [u8]) -> Self {
        LineBuffer {
            buf,
            start: 0,
            end: 0,
            scanned: 0,
            discarding: false,
        }
    }

    /// Size of the underlying buffer.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Free space at the end to read socket bytes into.
    ///
    /// Unconsumed bytes are moved to the front first when that is useful (no space left at
    /// the end, or more than half the buffer consumed). The slice is empty when the buffer
    /// is full: call [`next_line`](Self::next_line) then (it either returns a line or reports
    /// [`WireError::LineTooLong`] and frees the buffer).
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && (self.end == self.buf.len() || self.start >= self.buf.len() / 2)
        {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        self.buf.get_mut(self.end..).unwrap_or_default()
    }

    /// Commit `n` bytes that were written into [`spare`](Self::spare).
    ///
    /// `n` is clamped to the spare length.
    pub fn commit(&mut self, n: usize) {
        let room = self.buf.len().saturating_sub(self.end);
        self.end += n.min(room);
    }

    /// The next complete line, without its terminator.
    ///
    /// * `Ok(Some(line))`: a complete line (LF or CR LF stripped; a lone CR is content).
    /// * `Ok(None)`: no complete line buffered yet; read more bytes.
    /// * `Err(WireError::LineTooLong)`: the buffer is full and holds no LF. The buffered bytes
    ///   are dropped and input is discarded up to and including the next LF, after which
    ///   reading resumes normally. Reported once per over-long line.
    ///
    /// ```
    /// use postwire_core::{line::LineBuffer, WireError};
    ///
    /// let mut storage = [0u8; 4];
    /// let mut lines = LineBuffer::new(&mut storage);
    /// for chunk in [&b"abcd"[..], b"ef\nok\n"] {
    ///     let mut rest = chunk;
    ///     while !rest.is_empty() {
    ///         let spare = lines.spare();
    ///         let n = spare.len().min(rest.len());
    ///         spare[..n].copy_from_slice(&rest[..n]);
    ///         lines.commit(n);
    ///         rest = &rest[n..];
    ///         loop {
    ///             match lines.next_line() {
    ///                 Ok(Some(line)) => assert_eq!(line, b"ok"),
    ///                 Ok(None) => break,
    ///                 Err(e) => assert_eq!(e, WireError::LineTooLong),
    ///             }
    ///         }
    ///     }
    /// }
    /// ```
    pub fn next_line(&mut self) -> Result<Option<&[u8]>, WireError> {
        if self.discarding {
            let pending = self.buf.get(self.start..self.end).unwrap_or_default();
            match pending.iter().position(|&b| b == b'\n') {
                Some(lf) => {
                    self.start += lf + 1;
                    self.scanned = 0;
                    self.discarding = false;
                    crate::log_trace!("line reader resynchronised");
                }
                None => {
                    self.start = 0;
                    self.end = 0;
                    self.scanned = 0;
                    return Ok(None);
                }
            }
        }
        let pending = self.buf.get(self.start..self.end).unwrap_or_default();
        let unscanned = pending.get(self.scanned..).unwrap_or_default();
        match unscanned.iter().position(|&b| b == b'\n') {
            Some(rel) => {
                let lf = self.scanned + rel;
                let line_len = match lf.checked_sub(1).and_then(|i| pending.get(i)) {
                    Some(b'\r') => lf - 1,
                    _ => lf,
                };
                let line_start = self.start;
                self.start += lf + 1;
                self.scanned = 0;
                let line_end = line_start + line_len;
                Ok(Some(self.buf.get(line_start..line_end).unwrap_or_default()))
            }
            None => {
                self.scanned = pending.len();
                if pending.len() >= self.buf.len() {
                    crate::log_debug!("line longer than {} bytes dropped", self.buf.len());
                    self.start = 0;
                    self.end = 0;
                    self.scanned = 0;
                    self.discarding = true;
                    Err(WireError::LineTooLong)
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// Unconsumed buffered bytes (not yet returned as lines).
    pub fn buffered(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    /// Drop `n` bytes from the front of the unconsumed data (for callers that consume raw
    /// bytes, such as literals or message bodies). Clamped to the buffered length.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.scanned = self.scanned.saturating_sub(n);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Forget everything buffered and leave discarding mode (for example after a TLS
    /// upgrade, when plaintext bytes must not be interpreted).
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
        self.scanned = 0;
        self.discarding = false;
    }

    /// Whether the reader is currently discarding the rest of an over-long line.
    pub fn is_discarding(&self) -> bool {
        self.discarding
    }
}

impl core::fmt::Debug for LineBuffer<'_> {
    /// Shows the sizes and state, not the buffered bytes.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LineBuffer")
            .field("capacity", &self.buf.len())
            .field("buffered", &(self.end - self.start))
            .field("discarding", &self.discarding)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Event {
        Line(Vec<u8>),
        TooLong,
    }

    /// Feed `chunks` through a `LineBuffer` of size `cap`, draining lines after every commit.
    fn run(cap: usize, chunks: &[&[u8]]) -> (Vec<Event>, Vec<u8>) {
        let mut storage = std::vec![0u8; cap];
        let mut lb = LineBuffer::new(&mut storage);
        let mut events = Vec::new();
        let drain = |lb: &mut LineBuffer<'_>, events: &mut Vec<Event>| loop {
            match lb.next_line() {
                Ok(Some(l)) => events.push(Event::Line(l.to_vec())),
                Ok(None) => break,
                Err(WireError::LineTooLong) => events.push(Event::TooLong),
                Err(e) => panic!("unexpected {e:?}"),
            }
        };
        for chunk in chunks {
            let mut rest: &[u8] = chunk;
            while !rest.is_empty() {
                let spare = lb.spare();
                let n = spare.len().min(rest.len());
                spare[..n].copy_from_slice(&rest[..n]);
                lb.commit(n);
                rest = &rest[n..];
                drain(&mut lb, &mut events);
            }
        }
        drain(&mut lb, &mut events);
        let rest = if lb.is_discarding() {
            Vec::new()
        } else {
            lb.buffered().to_vec()
        };
        (events, rest)
    }

    /// Reference model: lines of total length <= cap are delivered, longer ones are one error.
    fn model(cap: usize, input: &[u8]) -> (Vec<Event>, Vec<u8>) {
        let mut events = Vec::new();
        let mut rest = input;
        while let Some((len, total)) = find_line(rest) {
            if total <= cap {
                events.push(Event::Line(rest[..len].to_vec()));
            } else {
                events.push(Event::TooLong);
            }
            rest = &rest[total..];
        }
        // A final fragment without LF: a full buffer reports it once, then discards.
        let mut tail = rest.to_vec();
        if tail.len() >= cap {
            events.push(Event::TooLong);
            tail.clear();
        }
        (events, tail)
    }

    #[test]
    fn find_line_cases() {
        assert_eq!(find_line(b""), None);
        assert_eq!(find_line(b"\n"), Some((0, 1)));
        assert_eq!(find_line(b"\r\n"), Some((0, 2)));
        assert_eq!(find_line(b"\r\r\n"), Some((1, 3)));
        assert_eq!(find_line(b"abc"), None);
    }

    #[test]
    fn basic_lines() {
        let (ev, rest) = run(16, &[b"a\r\nb\nc\rd\r\n\r\nxyz"]);
        assert_eq!(
            ev,
            std::vec![
                Event::Line(b"a".to_vec()),
                Event::Line(b"b".to_vec()),
                Event::Line(b"c\rd".to_vec()),
                Event::Line(b"".to_vec()),
            ]
        );
        assert_eq!(rest, b"xyz");
    }

    #[test]
    fn too_long_resync() {
        let (ev, _) = run(4, &[b"0123456789\r\nok\r\n"]);
        assert_eq!(ev, std::vec![Event::TooLong, Event::Line(b"ok".to_vec())]);
        // Exactly fitting line: 2 content + CRLF = 4.
        let (ev, _) = run(4, &[b"ab\r\n"]);
        assert_eq!(ev, std::vec![Event::Line(b"ab".to_vec())]);
        // One more byte does not fit.
        let (ev, _) = run(4, &[b"abc\r\nd\n"]);
        assert_eq!(ev, std::vec![Event::TooLong, Event::Line(b"d".to_vec())]);
    }

    #[test]
    fn discarding_state() {
        let mut storage = [0u8; 3];
        let mut lb = LineBuffer::new(&mut storage);
        lb.spare().copy_from_slice(b"abc");
        lb.commit(3);
        assert!(lb.spare().is_empty());
        assert_eq!(lb.next_line(), Err(WireError::LineTooLong));
        assert!(lb.is_discarding());
        assert_eq!(lb.next_line(), Ok(None));
        lb.spare()[..3].copy_from_slice(b"d\nx");
        lb.commit(3);
        assert_eq!(lb.next_line(), Ok(None));
        assert!(!lb.is_discarding());
        assert_eq!(lb.buffered(), b"x");
        lb.clear();
        assert_eq!(lb.buffered(), b"");
    }

    #[test]
    fn consume_and_clamps() {
        let mut storage = [0u8; 8];
        let mut lb = LineBuffer::new(&mut storage);
        lb.spare()[..5].copy_from_slice(b"12345");
        lb.commit(100);
        assert_eq!(lb.buffered().len(), 8);
        lb.clear();
        lb.spare()[..6].copy_from_slice(b"{3}xyz");
        lb.commit(6);
        lb.consume(3);
        assert_eq!(lb.buffered(), b"xyz");
        lb.consume(100);
        assert_eq!(lb.buffered(), b"");
        assert_eq!(lb.capacity(), 8);
        assert_eq!(
            std::format!("{lb:?}"),
            "LineBuffer { capacity: 8, buffered: 0, discarding: false }"
        );
        let mut empty: [u8; 0] = [];
        let mut lb = LineBuffer::new(&mut empty);
        assert!(lb.spare().is_empty());
        lb.commit(5);
        assert_eq!(lb.next_line(), Err(WireError::LineTooLong));
    }

    fn chunked(input: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        points.push(0);
        points.push(input.len());
        points.sort_unstable();
        points
            .windows(2)
            .map(|w| input[w[0]..w[1]].to_vec())
            .collect()
    }

    fn line_bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                Just(b'\r'),
                Just(b'\n'),
                Just(b'a'),
                Just(b'.'),
                any::<u8>()
            ],
            0..200,
        )
    }

    proptest! {
        #[test]
        fn chunking_invariance_large_buffer(input in line_bytes(), cuts in proptest::collection::vec(any::<usize>(), 0..20), extra in 0usize..8) {
            let mut longest = 0;
            let mut rest = &input[..];
            while let Some((len, total)) = find_line(rest) {
                longest = longest.max(len);
                rest = &rest[total..];
            }
            longest = longest.max(rest.len());
            let cap = longest + 2 + extra;
            let whole = run(cap, &[&input]);
            let parts = chunked(&input, &cuts);
            let parts: Vec<&[u8]> = parts.iter().map(|p| &p[..]).collect();
            prop_assert_eq!(&run(cap, &parts), &whole);
            prop_assert!(!whole.0.contains(&Event::TooLong));
            prop_assert_eq!(whole, model(cap, &input));
        }

        #[test]
        fn chunking_invariance_small_buffer(input in line_bytes(), cuts in proptest::collection::vec(any::<usize>(), 0..20), cap in 1usize..12) {
            let whole = run(cap, &[&input]);
            let parts = chunked(&input, &cuts);
            let parts: Vec<&[u8]> = parts.iter().map(|p| &p[..]).collect();
            prop_assert_eq!(&run(cap, &parts), &whole);
            prop_assert_eq!(whole, model(cap, &input));
        }
    }
}
