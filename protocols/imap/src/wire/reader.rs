//! The streaming response reader: a fragmentizer over a caller buffer feeding the parser.

use core::fmt;

use super::Error;
use super::fetch::{FetchItems, StreamedItem};
use super::frame::literal_at_line_end;
use super::response::{Mode, Parsed, Response, parse_frame};

/// Settings of a [`ResponseReader`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReaderConfig {
    /// Literals up to this size are kept in the buffer and parsed as part of their response
    /// (if the response still fits); larger ones are streamed as [`Event::LiteralData`].
    pub inline_literal_max: usize,
    /// A literal announcement above this size is a fatal [`Error::LiteralOverLimit`].
    pub max_literal: u64,
    /// Parse the first response as a server greeting (untagged OK, PREAUTH or BYE only).
    pub greeting: bool,
}

impl ReaderConfig {
    /// Inline literals up to 4 KiB, literals up to 1 GiB, greeting expected.
    pub const DEFAULT: ReaderConfig = ReaderConfig {
        inline_literal_max: 4096,
        max_literal: 1 << 30,
        greeting: true,
    };
}

impl Default for ReaderConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One event from the [`ResponseReader`].
///
/// A response whose literals are all small enough is one [`Event::Response`]. A FETCH
/// response with a large literal value arrives as [`Event::FetchHead`] (the items before the
/// literal), [`Event::LiteralData`] chunks, then [`Event::FetchMore`] (the items after it,
/// possibly announcing another streamed literal); the response is complete at the
/// `FetchMore` whose `streamed` is `None`.
#[derive(Debug, PartialEq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A complete response.
    Response(Response<'a>),
    /// The start of a FETCH response whose item `streamed` has a literal value that is
    /// streamed next.
    FetchHead {
        /// Message sequence number.
        seq: u64,
        /// Complete items before the streamed one.
        items: FetchItems<'a>,
        /// The item whose value follows as literal data.
        streamed: StreamedItem<'a>,
    },
    /// Bytes of a streamed literal.
    LiteralData {
        /// The bytes (never empty).
        data: &'a [u8],
        /// Bytes of the literal still to come after these.
        remaining: u64,
    },
    /// The continuation of a FETCH response after a streamed literal.
    FetchMore {
        /// Items after the streamed literal.
        items: FetchItems<'a>,
        /// Another streamed item, or `None` when the response is complete.
        streamed: Option<StreamedItem<'a>>,
    },
}

const TAIL: usize = 32;

#[derive(Clone, Copy, Debug)]
enum State {
    /// Framing a response (or the continuation of one after a streamed literal). Offsets
    /// are relative to `start`.
    Frame {
        scan: usize,
        line_start: usize,
        /// End of an inline literal still arriving (0 = none).
        lit_end: usize,
        tail: bool,
    },
    Literal {
        remaining: u64,
        deliver: bool,
    },
    /// Dropping a line that did not fit, watching for literal announcements.
    Discard {
        tail: [u8; TAIL],
        len: u8,
    },
    Failed(Error),
}

const FRESH: State = State::Frame {
    scan: 0,
    line_start: 0,
    lit_end: 0,
    tail: false,
};

enum Step {
    NeedMore,
    Frame {
        a: usize,
        b: usize,
        mode: Mode,
        streamed: Option<u64>,
    },
    Literal {
        a: usize,
        b: usize,
        remaining: u64,
    },
}

/// What is known about an unfinished response (see [`ResponseReader::pending`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Pending {
    /// Bytes of the unfinished response received so far (including streamed literal bytes
    /// already handed out); 0 when the reader is between responses.
    pub bytes: u64,
    /// Announced literal bytes not yet received.
    pub needed: u64,
}

/// Sans-I/O IMAP response reader over a caller buffer.
///
/// Read socket bytes into [`spare`](Self::spare), [`commit`](Self::commit) them, then call
/// [`next_event`](Self::next_event) until it returns `Ok(None)`.
///
/// * The buffer must hold the longest non-literal line fragment plus any literals kept
///   inline; literals larger than [`ReaderConfig::inline_literal_max`] (or than what the
///   buffer can hold with their response) are handed out in chunks, so a 50 MB message
///   passes through a 1 KiB buffer.
/// * Incomplete input is not an error: `Ok(None)` asks for more bytes. Events do not depend
///   on how the input is split into reads.
/// * A response line longer than the buffer is reported once as [`Error::LineTooLong`];
///   the rest of that response is skipped, still honouring literal announcements, so
///   literal bytes are never parsed as protocol. A literal that is too large to keep
///   inline in a place where it cannot be streamed (anything but a FETCH item value) is
///   [`Error::LiteralTooLarge`] and the response is skipped the same way. A response that
///   does not parse is reported as [`Error::Malformed`] after it has been consumed.
///   In all these cases the reader continues with the next response.
/// * An announced literal above [`ReaderConfig::max_literal`] or an unreadable literal
///   length is fatal: the reader returns the same error from then on.
///
/// ```
/// use postwire_imap::wire::{Event, ReaderConfig, ResponseReader, Response};
///
/// let mut storage = [0u8; 64];
/// let cfg = ReaderConfig { inline_literal_max: 8, greeting: false, ..ReaderConfig::DEFAULT };
/// let mut r = ResponseReader::new(&mut storage, cfg);
/// let input = b"* 1 FETCH (UID 7 BODY[] {12}\r\nHello world!)\r\nA1 OK done\r\n";
/// let spare = r.spare();
/// spare[..input.len()].copy_from_slice(input);
/// r.commit(input.len());
/// let mut body = Vec::new();
/// while let Some(ev) = r.next_event().unwrap() {
///     match ev {
///         Event::FetchHead { seq, items, streamed } => {
///             assert_eq!((seq, items.uid(), streamed.name, streamed.len), (1, Some(7), &b"BODY[]"[..], 12));
///         }
///         Event::LiteralData { data, .. } => body.extend_from_slice(data),
///         Event::FetchMore { streamed, .. } => assert!(streamed.is_none()),
///         Event::Response(Response::Status(s)) => assert_eq!(s.tag, Some(&b"A1"[..])),
///         other => panic!("{other:?}"),
///     }
/// }
/// assert_eq!(body, b"Hello world!");
/// ```
pub struct ResponseReader<'b> {
    buf: &'b mut [u8],
    start: usize,
    end: usize,
    state: State,
    cfg: ReaderConfig,
    greeting_pending: bool,
    consumed: u64,
    response_start: u64,
}

impl<'b> ResponseReader<'b> {
    /// Wrap `buf` with the given settings.
    pub fn new(buf: &'b mut [u8], cfg: ReaderConfig) -> Self {
        ResponseReader {
            buf,
            start: 0,
            end: 0,
            state: FRESH,
            greeting_pending: cfg.greeting,
            cfg,
            consumed: 0,
            response_start: 0,
        }
    }

    /// Size of the buffer.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Free space to read socket bytes into (unconsumed bytes are moved to the front when
    /// useful). Empty only when the buffer is full; [`next_event`](Self::next_event) then
    /// makes progress.
    pub fn spare(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && (self.end == self.buf.len() || self.start >= self.buf.len() / 2)
        {
            if let Some(live) = self.buf.get_mut(..self.end) {
                let from = self.start.min(live.len());
                live.copy_within(from.., 0);
            }
            self.end -= self.start;
            self.start = 0;
        }
        self.buf.get_mut(self.end..).unwrap_or_default()
    }

    /// Commit `n` bytes written into [`spare`](Self::spare) (clamped to its length).
    pub fn commit(&mut self, n: usize) {
        let room = self.buf.len().saturating_sub(self.end);
        self.end += n.min(room);
    }

    /// Copy as much of `input` as fits into the buffer; returns the number of bytes taken.
    pub fn feed(&mut self, input: &[u8]) -> usize {
        let spare = self.spare();
        let n = spare.len().min(input.len());
        if let (Some(dst), Some(src)) = (spare.get_mut(..n), input.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.commit(n);
        n
    }

    /// Bytes received but not yet consumed by an event.
    pub fn buffered(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    /// Total bytes consumed from the stream so far.
    pub fn position(&self) -> u64 {
        self.consumed
    }

    /// The state of an unfinished response (for "incomplete" reports).
    pub fn pending(&self) -> Pending {
        let buffered = (self.end - self.start) as u64;
        let bytes = self.consumed + buffered - self.response_start;
        let needed = match self.state {
            State::Literal { remaining, .. } => remaining.saturating_sub(buffered),
            State::Frame { lit_end, .. } if lit_end > 0 => {
                (lit_end as u64).saturating_sub(buffered)
            }
            _ => 0,
        };
        Pending { bytes, needed }
    }

    /// Whether a fatal framing error occurred ([`Error::LiteralOverLimit`] or an unreadable
    /// literal length); every further call returns that error.
    pub fn is_failed(&self) -> bool {
        matches!(self.state, State::Failed(_))
    }

    /// Forget all buffered data and state (for example after a TLS upgrade).
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
        self.state = FRESH;
        self.response_start = self.consumed;
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.consumed += n as u64;
    }

    fn fail(&mut self, e: Error) -> Error {
        self.state = State::Failed(e);
        e
    }

    /// The next event, `Ok(None)` when more input is needed.
    pub fn next_event(&mut self) -> Result<Option<Event<'_>>, Error> {
        match self.step()? {
            Step::NeedMore => Ok(None),
            Step::Literal { a, b, remaining } => Ok(Some(Event::LiteralData {
                data: self.buf.get(a..b).unwrap_or_default(),
                remaining,
            })),
            Step::Frame {
                a,
                b,
                mode,
                streamed,
            } => {
                let frame = self.buf.get(a..b).unwrap_or_default();
                match parse_frame(frame, mode, streamed) {
                    Ok(Parsed::Response(r)) => Ok(Some(Event::Response(r))),
                    Ok(Parsed::FetchHead {
                        seq,
                        items,
                        streamed,
                    }) => Ok(Some(Event::FetchHead {
                        seq,
                        items,
                        streamed,
                    })),
                    Ok(Parsed::FetchTail { items, streamed }) => {
                        Ok(Some(Event::FetchMore { items, streamed }))
                    }
                    Err(e) => {
                        if let State::Literal { deliver, .. } = &mut self.state {
                            // The literal cannot be handed out: skip it and the rest.
                            *deliver = false;
                        }
                        Err(e)
                    }
                }
            }
        }
    }

    fn step(&mut self) -> Result<Step, Error> {
        loop {
            match self.state {
                State::Failed(e) => return Err(e),
                State::Literal { remaining, deliver } => {
                    let avail = self.end - self.start;
                    if avail == 0 {
                        return Ok(Step::NeedMore);
                    }
                    let n = (avail as u64).min(remaining) as usize;
                    let a = self.start;
                    self.consume(n);
                    let remaining = remaining - n as u64;
                    self.state = if remaining > 0 {
                        State::Literal { remaining, deliver }
                    } else if deliver {
                        State::Frame {
                            scan: 0,
                            line_start: 0,
                            lit_end: 0,
                            tail: true,
                        }
                    } else {
                        State::Discard {
                            tail: [0; TAIL],
                            len: 0,
                        }
                    };
                    if deliver {
                        return Ok(Step::Literal {
                            a,
                            b: a + n,
                            remaining,
                        });
                    }
                }
                State::Discard { tail, len } => {
                    let data = self.buf.get(self.start..self.end).unwrap_or_default();
                    match memchr::memchr(b'\n', data) {
                        None => {
                            let (tail, len) = keep_tail(&tail, len, data);
                            let n = data.len();
                            self.consume(n);
                            self.state = State::Discard { tail, len };
                            return Ok(Step::NeedMore);
                        }
                        Some(i) => {
                            let (t, l) = keep_tail(&tail, len, data.get(..i).unwrap_or_default());
                            self.consume(i + 1);
                            match literal_at_line_end(t.get(..l as usize).unwrap_or_default()) {
                                None => {
                                    self.state = FRESH;
                                    self.response_start = self.consumed;
                                }
                                Some(Ok(n)) if n <= self.cfg.max_literal => {
                                    self.state = State::Literal {
                                        remaining: n,
                                        deliver: false,
                                    };
                                }
                                Some(Ok(n)) => {
                                    return Err(self.fail(Error::LiteralOverLimit { len: n }));
                                }
                                Some(Err(())) => {
                                    return Err(self.fail(Error::Malformed { offset: 0 }));
                                }
                            }
                        }
                    }
                }
                State::Frame {
                    mut scan,
                    mut line_start,
                    mut lit_end,
                    tail,
                } => {
                    let avail = self.end - self.start;
                    if lit_end != 0 {
                        if avail < lit_end {
                            return Ok(Step::NeedMore);
                        }
                        scan = lit_end;
                        line_start = lit_end;
                        lit_end = 0;
                    }
                    let data = self
                        .buf
                        .get(self.start + scan..self.end)
                        .unwrap_or_default();
                    let Some(i) = memchr::memchr(b'\n', data) else {
                        if avail >= self.buf.len() {
                            let line = self
                                .buf
                                .get(self.start + line_start..self.end)
                                .unwrap_or_default();
                            let (t, l) = keep_tail(&[0; TAIL], 0, line);
                            self.consume(avail);
                            self.state = State::Discard { tail: t, len: l };
                            return Err(Error::LineTooLong);
                        }
                        self.state = State::Frame {
                            scan: avail,
                            line_start,
                            lit_end,
                            tail,
                        };
                        return Ok(Step::NeedMore);
                    };
                    let lf = scan + i;
                    let line = self
                        .buf
                        .get(self.start + line_start..self.start + lf)
                        .unwrap_or_default();
                    let mode = if tail {
                        Mode::FetchTail
                    } else if self.greeting_pending {
                        Mode::Greeting
                    } else {
                        Mode::Normal
                    };
                    let a = self.start;
                    match literal_at_line_end(line) {
                        None => {
                            self.consume(lf + 1);
                            self.state = FRESH;
                            self.response_start = self.consumed;
                            self.greeting_pending = false;
                            return Ok(Step::Frame {
                                a,
                                b: a + lf + 1,
                                mode,
                                streamed: None,
                            });
                        }
                        Some(Err(())) => {
                            return Err(self.fail(Error::Malformed { offset: lf }));
                        }
                        Some(Ok(n)) if n > self.cfg.max_literal => {
                            return Err(self.fail(Error::LiteralOverLimit { len: n }));
                        }
                        Some(Ok(n)) => {
                            let data_start = lf + 1;
                            let inline = n <= self.cfg.inline_literal_max as u64
                                && (data_start as u64).saturating_add(n) <= self.buf.len() as u64;
                            if inline {
                                self.state = State::Frame {
                                    scan: data_start,
                                    line_start: data_start,
                                    lit_end: data_start + n as usize,
                                    tail,
                                };
                                continue;
                            }
                            self.consume(lf + 1);
                            self.greeting_pending = false;
                            self.state = State::Literal {
                                remaining: n,
                                deliver: true,
                            };
                            return Ok(Step::Frame {
                                a,
                                b: a + lf + 1,
                                mode,
                                streamed: Some(n),
                            });
                        }
                    }
                }
            }
        }
    }
}

impl fmt::Debug for ResponseReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseReader")
            .field("capacity", &self.buf.len())
            .field("buffered", &(self.end - self.start))
            .field("state", &self.state)
            .finish()
    }
}

/// Keep the last `TAIL` bytes of `old[..len] ++ new`.
fn keep_tail(old: &[u8; TAIL], len: u8, new: &[u8]) -> ([u8; TAIL], u8) {
    let mut out = [0u8; TAIL];
    if new.len() >= TAIL {
        if let Some(src) = new.get(new.len() - TAIL..) {
            out.copy_from_slice(src);
        }
        return (out, TAIL as u8);
    }
    let keep_old = (TAIL - new.len()).min(len as usize);
    let old_part = old
        .get(len as usize - keep_old..len as usize)
        .unwrap_or_default();
    let total = keep_old + new.len();
    if let Some(dst) = out.get_mut(..keep_old) {
        dst.copy_from_slice(old_part);
    }
    if let Some(dst) = out.get_mut(keep_old..total) {
        dst.copy_from_slice(new);
    }
    (out, total as u8)
}
