//! The streaming reader: a sans-I/O MIME parser. Bytes in, events out.
//!
//! [`Reader::next`] takes the next input bytes and an output buffer and returns how many input
//! bytes it consumed and at most one [`Event`]:
//!
//! * [`Event::Header`]: one header field of the current entity, unfolded (CR LF before
//!   whitespace removed), value raw (RFC 2047 words not decoded: see
//!   [`crate::rfc2047::decode_header_value`]);
//! * [`Event::PartStart`]: the header section of an entity ended; its [`PartInfo`] (content
//!   type, charset, transfer encoding, disposition, depth);
//! * [`Event::Body`]: decoded body bytes (base64 and quoted-printable removed; the charset is
//!   not converted: see [`crate::charset`]) of a leaf entity, written into the output buffer;
//! * [`Event::PartEnd`]: the entity at `depth` ended;
//! * [`Event::End`]: the message ended (after [`Reader::finish`]).
//!
//! `Ok((consumed, None))` means all input was consumed and more is needed: read more and call
//! again, or call [`Reader::finish`] at the end of the message and keep calling with empty
//! input until [`Event::End`].
//!
//! Entities nest: a multipart's children and a `message/rfc822`'s inner message are reported
//! between the parent's `PartStart` and `PartEnd`, with `depth` one higher. Preambles and
//! epilogues are skipped. The root entity has depth 0.
//!
//! # Memory and bounds
//! The reader needs one caller buffer (`buf`, at least 128 bytes) that holds the longest
//! header field; a longer field is reported with `truncated: true` and its excess dropped.
//! Boundary lines are matched in the same buffer while body bytes stream through. At most
//! [`MAX_DEPTH`] entities nest; a multipart deeper than that (or with a boundary longer than
//! [`MAX_BOUNDARY`]) is treated as an opaque leaf. The output buffer of each call must be at
//! least [`MIN_OUT`] bytes.
//!
//! # Leniency
//! Line ends may be CR LF or bare LF. A line that *starts* with `--boundary` of any open
//! multipart is a delimiter (an outer boundary ends the inner parts that lack their close
//! delimiter). Invalid base64 characters are skipped and malformed quoted-printable is kept as
//! written ([`Reader::had_encoding_errors`]). A missing close delimiter ends at the end of
//! input.
//!
//! ```
//! use postwire_mime::reader::{Event, Reader};
//! let msg = b"Subject: hi\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n\
//!             --b\r\nContent-Type: text/plain\r\n\r\nplain\r\n--b\r\n\
//!             Content-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\nPGI+aDwvYj4=\r\n--b--\r\n";
//! let (mut buf, mut out) = ([0u8; 256], [0u8; 64]);
//! let mut r = Reader::new(&mut buf).unwrap();
//! let mut input = &msg[..];
//! let mut seen = Vec::new();
//! loop {
//!     let (n, ev) = r.next(input, &mut out).unwrap();
//!     input = &input[n..];
//!     match ev {
//!         None => r.finish(),
//!         Some(Event::End) => break,
//!         Some(Event::PartStart(p)) => seen.push(format!("start {} {}", p.depth, p.mime_type())),
//!         Some(Event::Body(b)) => seen.push(format!("body {}", String::from_utf8_lossy(b))),
//!         Some(Event::PartEnd { depth }) => seen.push(format!("end {depth}")),
//!         Some(Event::Header(h)) => seen.push(format!("{}", String::from_utf8_lossy(h.name))),
//!     }
//! }
//! assert_eq!(seen, ["Subject", "Content-Type", "start 0 multipart/alternative", "Content-Type",
//!     "start 1 text/plain", "body plain", "end 1", "Content-Type", "Content-Transfer-Encoding",
//!     "start 1 text/html", "body <b>h</b>", "end 1", "end 0"]);
//! ```

use crate::error::MimeError;
use crate::params::{split_media_type, split_value};
use crate::qp::QpDecoder;

/// Most nested entities.
pub const MAX_DEPTH: usize = 8;
/// Longest boundary kept (RFC 2046 allows 70).
pub const MAX_BOUNDARY: usize = 100;
/// Smallest output buffer per call.
pub const MIN_OUT: usize = 64;
/// Smallest header buffer.
pub const MIN_BUF: usize = 128;

/// A Content-Transfer-Encoding as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Encoding {
    /// `7bit`, `8bit`, `binary` or absent: bytes as they are.
    Identity,
    /// `quoted-printable`.
    QuotedPrintable,
    /// `base64`.
    Base64,
    /// Anything else (e.g. `x-uuencode`): passed through undecoded.
    Other,
}

/// A Content-Disposition as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Disposition {
    /// No Content-Disposition field.
    None,
    /// `inline`.
    Inline,
    /// `attachment`.
    Attachment,
    /// Something else.
    Other,
}

#[derive(Clone, Copy)]
struct Small<const N: usize> {
    b: [u8; N],
    len: usize,
}

impl<const N: usize> Small<N> {
    const fn new() -> Self {
        Small { b: [0; N], len: 0 }
    }
    fn set(&mut self, s: &[u8]) -> bool {
        let n = s.len().min(N);
        if let (Some(d), Some(src)) = (self.b.get_mut(..n), s.get(..n)) {
            d.copy_from_slice(src);
            d.make_ascii_lowercase();
        }
        self.len = n;
        n == s.len()
    }
    fn set_exact(&mut self, s: &[u8]) -> bool {
        let n = s.len().min(N);
        if let (Some(d), Some(src)) = (self.b.get_mut(..n), s.get(..n)) {
            d.copy_from_slice(src);
        }
        self.len = n;
        n == s.len()
    }
    fn get(&self) -> &[u8] {
        self.b.get(..self.len).unwrap_or_default()
    }
}

impl<const N: usize> core::fmt::Debug for Small<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", core::str::from_utf8(self.get()).unwrap_or("?"))
    }
}

/// What the reader knows about an entity once its header section ended.
#[derive(Debug, Clone, Copy)]
pub struct PartInfo {
    /// Nesting depth (the message is 0).
    pub depth: usize,
    /// Content-Transfer-Encoding.
    pub encoding: Encoding,
    /// Content-Disposition.
    pub disposition: Disposition,
    ty: Small<32>,
    subtype: Small<64>,
    charset: Small<40>,
    boundary: Small<MAX_BOUNDARY>,
    boundary_ok: bool,
    has_ct: bool,
    /// Content-Type `name` or Content-Disposition `filename` present.
    named: bool,
}

impl PartInfo {
    fn new(depth: usize, digest: bool) -> Self {
        let mut ty = Small::new();
        let mut subtype = Small::new();
        if digest {
            ty.set(b"message");
            subtype.set(b"rfc822");
        } else {
            ty.set(b"text");
            subtype.set(b"plain");
        }
        PartInfo {
            depth,
            encoding: Encoding::Identity,
            disposition: Disposition::None,
            ty,
            subtype,
            charset: Small::new(),
            boundary: Small::new(),
            boundary_ok: false,
            has_ct: false,
            named: false,
        }
    }

    /// The media type, lower-case (`text`; `text` when absent).
    pub fn media_type(&self) -> &[u8] {
        self.ty.get()
    }

    /// The subtype, lower-case (`plain` when absent).
    pub fn subtype(&self) -> &[u8] {
        self.subtype.get()
    }

    /// `type/subtype` as text (`?` if not ASCII).
    ///
    /// Written into a small internal buffer: only for display; compare with
    /// [`media_type`](Self::media_type) and [`subtype`](Self::subtype).
    pub fn mime_type(&self) -> MimeType<'_> {
        MimeType(self)
    }

    /// The charset parameter, lower-case, if any.
    pub fn charset(&self) -> Option<&[u8]> {
        (self.charset.len > 0).then(|| self.charset.get())
    }

    /// The entity had a Content-Type field.
    pub fn has_content_type(&self) -> bool {
        self.has_ct
    }

    /// A multipart entity (its children follow).
    pub fn is_multipart(&self) -> bool {
        self.ty.get() == b"multipart" && self.boundary_ok
    }

    /// A `message/rfc822` (or `message/global`) entity whose inner message follows.
    pub fn is_message(&self) -> bool {
        self.ty.get() == b"message"
            && matches!(self.subtype.get(), b"rfc822" | b"global")
            && self.encoding == Encoding::Identity
    }

    /// `text/*`.
    pub fn is_text(&self) -> bool {
        self.ty.get() == b"text"
    }

    /// Has a file name (Content-Type `name` or Content-Disposition `filename`).
    pub fn has_filename(&self) -> bool {
        self.named
    }
}

/// Display helper of [`PartInfo::mime_type`].
pub struct MimeType<'p>(&'p PartInfo);

impl core::fmt::Display for MimeType<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let t = core::str::from_utf8(self.0.ty.get()).unwrap_or("?");
        let s = core::str::from_utf8(self.0.subtype.get()).unwrap_or("?");
        write!(f, "{t}/{s}")
    }
}

/// A header field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The name as written.
    pub name: &'a [u8],
    /// The value, unfolded, leading whitespace removed, otherwise raw.
    pub value: &'a [u8],
    /// The field was longer than the buffer: `value` is its beginning.
    pub truncated: bool,
}

/// One reader event.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A header field of the current entity.
    Header(Field<'a>),
    /// The header section ended.
    PartStart(&'a PartInfo),
    /// Decoded body bytes.
    Body(&'a [u8]),
    /// An entity ended.
    PartEnd {
        /// Its depth.
        depth: usize,
    },
    /// The message ended.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ent {
    Leaf,
    Multi,
    Message,
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    boundary: Small<MAX_BOUNDARY>,
    /// Index of the multipart entity.
    ent: usize,
    digest: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    /// At the start of a header line (the previous line, if any, ended).
    HeaderAfterLf,
    HeaderLine,
    /// A CR at the start of a header line (blank line?).
    HeaderCr,
    /// Body bytes; `line_start`: at the start of a line (probing boundaries).
    Body {
        line_start: bool,
        cr: bool,
    },
    /// Collecting a line start in `buf` that may be a delimiter.
    Probe,
    /// Writing the held line break and the probe bytes as content.
    Flush,
    /// Skipping the rest of a delimiter line (`after`: bytes seen after the boundary, and
    /// whether they were `--` so far).
    DelimTail {
        frame: usize,
        after: u8,
        close: bool,
    },
    /// Emitting part ends, then going on with `then`.
    Ends {
        then: Then,
    },
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
    /// Headers of a new child (of the entity now on top).
    Child,
    /// Skip lines (epilogue).
    Discard,
    /// End of the message.
    End,
}

#[derive(Debug, Clone, Copy)]
enum Dec {
    Identity,
    Qp(QpDecoder),
    B64(B64),
}

/// Lenient streaming base64 for bodies: whitespace and invalid characters are skipped (the
/// latter noted), `=` ends the data (anything after it is ignored), a dangling partial group
/// is flushed as far as it goes. Never fails, so any chunking gives the same bytes.
#[derive(Debug, Clone, Copy, Default)]
struct B64 {
    acc: u32,
    n: u8,
    done: bool,
}

impl B64 {
    /// Decode into `out` (needs 3 bytes of room per 4 symbols); returns (consumed, written,
    /// invalid characters seen).
    fn decode(&mut self, input: &[u8], out: &mut [u8]) -> (usize, usize, bool) {
        let mut o = 0;
        let mut bad = false;
        for (i, &b) in input.iter().enumerate() {
            if self.done {
                return (input.len(), o, bad);
            }
            let v = match b {
                b'A'..=b'Z' => b - b'A',
                b'a'..=b'z' => b - b'a' + 26,
                b'0'..=b'9' => b - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                b'=' => {
                    self.done = true;
                    continue;
                }
                b'\r' | b'\n' | b' ' | b'\t' => continue,
                _ => {
                    bad = true;
                    continue;
                }
            };
            if self.n == 3 && out.len() - o < 3 {
                return (i, o, bad);
            }
            self.acc = (self.acc << 6) | u32::from(v);
            self.n += 1;
            if self.n == 4 {
                let [_, x, y, z] = self.acc.to_be_bytes();
                if let Some(d) = out.get_mut(o..o + 3) {
                    d.copy_from_slice(&[x, y, z]);
                }
                o += 3;
                self.n = 0;
                self.acc = 0;
            }
        }
        (input.len(), o, bad)
    }

    /// Flush a partial group (2 or 3 symbols → 1 or 2 bytes).
    fn finish(&mut self, out: &mut [u8]) -> usize {
        let bytes: &[u8] = match self.n {
            2 => &(self.acc << 12).to_be_bytes()[1..2],
            3 => &(self.acc << 6).to_be_bytes()[1..3],
            _ => &[],
        };
        let n = bytes.len().min(out.len());
        if let (Some(d), Some(s)) = (out.get_mut(..n), bytes.get(..n)) {
            d.copy_from_slice(s);
        }
        *self = B64::default();
        n
    }
}

/// What `step` decided to report.
enum Emit {
    Header { colon: usize, end: usize },
    PartStart,
    Body(usize),
    PartEnd(usize),
    End,
}

/// The streaming MIME reader. See the [module documentation](self).
pub struct Reader<'b> {
    buf: &'b mut [u8],
    len: usize,
    line_begin: usize,
    truncated: bool,
    /// The field in `buf` was reported: drop it at the next call.
    clear: bool,
    state: St,
    ents: [Ent; MAX_DEPTH],
    nent: usize,
    frames: [Option<Frame>; MAX_DEPTH],
    nframes: usize,
    info: PartInfo,
    dec: Dec,
    /// The current body's bytes are dropped (preamble, epilogue).
    discard: bool,
    eol: [u8; 2],
    eol_len: usize,
    eol_pos: usize,
    probe_pos: usize,
    /// Part ends still to report, deepest first: depths `ends_to..ends_from`.
    ends_from: usize,
    ends_to: usize,
    eof: bool,
    /// The decoder of the current leaf was finished.
    dec_finished: bool,
    bad_encoding: bool,
    /// A message/rfc822 entity was reported: its inner message's headers come next.
    pending_inner: bool,
    /// A delimiter was found in place of a header line: act on it.
    pending_delim: bool,
}

impl core::fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Reader")
            .field("state", &self.state)
            .field("depth", &self.nent)
            .finish_non_exhaustive()
    }
}

impl<'b> Reader<'b> {
    /// A reader using `buf` for header fields (at least [`MIN_BUF`] bytes; 1 KiB is
    /// comfortable, 4 KiB holds almost any real header field).
    pub fn new(buf: &'b mut [u8]) -> Result<Self, MimeError> {
        if buf.len() < MIN_BUF {
            return Err(MimeError::BufferTooSmall);
        }
        Ok(Reader {
            buf,
            len: 0,
            line_begin: 0,
            truncated: false,
            clear: false,
            state: St::HeaderAfterLf,
            ents: [Ent::Leaf; MAX_DEPTH],
            nent: 0,
            frames: [None; MAX_DEPTH],
            nframes: 0,
            info: PartInfo::new(0, false),
            dec: Dec::Identity,
            discard: false,
            eol: [0; 2],
            eol_len: 0,
            eol_pos: 0,
            probe_pos: 0,
            ends_from: 0,
            ends_to: 0,
            eof: false,
            dec_finished: true,
            bad_encoding: false,
            pending_inner: false,
            pending_delim: false,
        })
    }

    /// The input has ended: call [`next`](Self::next) with empty input until [`Event::End`].
    pub fn finish(&mut self) {
        self.eof = true;
    }

    /// Whether invalid base64 characters were skipped or malformed quoted-printable kept.
    pub fn had_encoding_errors(&self) -> bool {
        self.bad_encoding
    }

    /// Process input; see the [module documentation](self).
    ///
    /// Errors: [`MimeError::BufferTooSmall`] when `out` is shorter than [`MIN_OUT`].
    pub fn next<'s>(
        &'s mut self,
        input: &[u8],
        out: &'s mut [u8],
    ) -> Result<(usize, Option<Event<'s>>), MimeError> {
        if out.len() < MIN_OUT {
            return Err(MimeError::BufferTooSmall);
        }
        let (n, emit) = self.step(input, out);
        let ev = match emit {
            None => None,
            Some(Emit::Header { colon, end }) => {
                let name = self.buf.get(..colon).unwrap_or_default().trim_ascii();
                let value = self
                    .buf
                    .get(colon + 1..end)
                    .unwrap_or_default()
                    .trim_ascii_start();
                Some(Event::Header(Field {
                    name,
                    value,
                    truncated: self.truncated,
                }))
            }
            Some(Emit::PartStart) => Some(Event::PartStart(&self.info)),
            Some(Emit::Body(k)) => Some(Event::Body(out.get(..k).unwrap_or_default())),
            Some(Emit::PartEnd(depth)) => Some(Event::PartEnd { depth }),
            Some(Emit::End) => Some(Event::End),
        };
        Ok((n, ev))
    }

    fn put_header_byte(&mut self, b: u8) {
        match self.buf.get_mut(self.len) {
            Some(slot) => {
                *slot = b;
                self.len += 1;
            }
            None => self.truncated = true,
        }
    }

    /// Match the line start `p` against the delimiters `--boundary` of the open frames.
    /// Returns the frame with the longest delimiter that `p` starts with (innermost first
    /// among equals), and whether `p` is still a strict prefix of a longer delimiter.
    fn match_delim(&self, p: &[u8]) -> (Option<(usize, usize)>, bool) {
        let mut best: Option<(usize, usize)> = None;
        let mut longer = false;
        for f in (0..self.nframes).rev() {
            let Some(Some(fr)) = self.frames.get(f) else {
                continue;
            };
            let b = fr.boundary.get();
            let want_len = 2 + b.len();
            let ok = p.iter().enumerate().take(want_len).all(|(k, &c)| {
                let w = if k < 2 { Some(&b'-') } else { b.get(k - 2) };
                w == Some(&c)
            });
            if !ok {
                continue;
            }
            if p.len() >= want_len {
                if best.is_none_or(|(_, l)| want_len > l) {
                    best = Some((f, want_len));
                }
            } else {
                longer = true;
            }
        }
        (best, longer)
    }

    /// Field complete in `buf`: update the part info.
    fn note_field(&mut self, colon: usize) {
        let name = self.buf.get(..colon).unwrap_or_default().trim_ascii();
        let value = self
            .buf
            .get(colon + 1..self.len)
            .unwrap_or_default()
            .trim_ascii();
        if name.eq_ignore_ascii_case(b"content-type") {
            let (head, params) = split_value(value);
            let (t, s) = split_media_type(head);
            if !t.is_empty() && !s.is_empty() {
                self.info.ty.set(t);
                self.info.subtype.set(s);
                self.info.has_ct = true;
            }
            let mut tmp = [0u8; MAX_BOUNDARY];
            if let Some(Ok(v)) = params.get(b"charset", &mut tmp) {
                self.info.charset.set(tmp.get(..v.len).unwrap_or_default());
            }
            self.info.boundary_ok = match params.get(b"boundary", &mut tmp) {
                Some(Ok(v)) if v.len > 0 => {
                    // Trailing spaces are not part of a boundary (RFC 2046 bchars end).
                    let bnd = tmp.get(..v.len).unwrap_or_default().trim_ascii_end();
                    !bnd.is_empty() && self.info.boundary.set_exact(bnd)
                }
                _ => false,
            };
            self.info.named |= params.iter().any(|p| {
                let n = p.name;
                n.eq_ignore_ascii_case(b"name")
                    || postwire_core::ascii::starts_with_ignore_case(n, b"name*")
            });
        } else if name.eq_ignore_ascii_case(b"content-transfer-encoding") {
            let v = split_value(value).0;
            self.info.encoding = if v.eq_ignore_ascii_case(b"base64") {
                Encoding::Base64
            } else if v.eq_ignore_ascii_case(b"quoted-printable") {
                Encoding::QuotedPrintable
            } else if v.is_empty()
                || v.eq_ignore_ascii_case(b"7bit")
                || v.eq_ignore_ascii_case(b"8bit")
                || v.eq_ignore_ascii_case(b"binary")
            {
                Encoding::Identity
            } else {
                Encoding::Other
            };
        } else if name.eq_ignore_ascii_case(b"content-disposition") {
            let (head, params) = split_value(value);
            self.info.disposition = if head.eq_ignore_ascii_case(b"inline") {
                Disposition::Inline
            } else if head.eq_ignore_ascii_case(b"attachment") {
                Disposition::Attachment
            } else {
                Disposition::Other
            };
            self.info.named |= params.iter().any(|p| {
                let n = p.name;
                n.eq_ignore_ascii_case(b"filename")
                    || postwire_core::ascii::starts_with_ignore_case(n, b"filename*")
            });
        }
    }

    /// The header section ended: open the entity.
    fn open_entity(&mut self) {
        let depth = self.nent;
        self.info.depth = depth;
        self.len = 0;
        self.line_begin = 0;
        self.truncated = false;
        // Containers only below the last level, so that a leaf always fits.
        let room = self.nent + 1 < MAX_DEPTH;
        if self.info.is_multipart() && room && self.nframes < MAX_DEPTH {
            if let Some(slot) = self.frames.get_mut(self.nframes) {
                *slot = Some(Frame {
                    boundary: self.info.boundary,
                    ent: depth,
                    digest: self.info.subtype.get() == b"digest",
                });
                self.nframes += 1;
            }
            self.push_ent(Ent::Multi);
            self.discard = true;
            self.state = St::Body {
                line_start: true,
                cr: false,
            };
        } else if self.info.is_message() && room {
            self.push_ent(Ent::Message);
            self.discard = true;
            // The inner message's headers follow.
            self.state = St::HeaderAfterLf;
            self.pending_inner = true;
        } else {
            self.push_ent(Ent::Leaf);
            self.discard = false;
            self.dec = match self.info.encoding {
                Encoding::QuotedPrintable => Dec::Qp(QpDecoder::new()),
                Encoding::Base64 => Dec::B64(B64::default()),
                _ => Dec::Identity,
            };
            self.dec_finished = false;
            self.state = St::Body {
                line_start: true,
                cr: false,
            };
        }
        self.eol_len = 0;
        self.eol_pos = 0;
    }

    fn push_ent(&mut self, e: Ent) {
        if let Some(slot) = self.ents.get_mut(self.nent) {
            *slot = e;
            self.nent += 1;
        }
    }

    /// Start reading the header section of a new entity (a child of the top entity).
    fn start_child(&mut self) {
        let digest = self
            .nframes
            .checked_sub(1)
            .and_then(|f| self.frames.get(f).copied().flatten())
            .is_some_and(|fr| fr.digest && fr.ent + 1 == self.nent);
        self.info = PartInfo::new(self.nent, digest);
        self.len = 0;
        self.line_begin = 0;
        self.truncated = false;
        self.state = St::HeaderAfterLf;
    }

    /// Feed content bytes to the current body; returns how many were consumed.
    fn feed(&mut self, data: &[u8], out: &mut [u8], o: &mut usize) -> usize {
        if self.discard || self.dec_finished {
            return data.len();
        }
        let dst = out.get_mut(*o..).unwrap_or_default();
        let (c, w) = match &mut self.dec {
            Dec::Identity => {
                let n = data.len().min(dst.len());
                if let (Some(d), Some(s)) = (dst.get_mut(..n), data.get(..n)) {
                    d.copy_from_slice(s);
                }
                (n, n)
            }
            Dec::Qp(q) => q.decode(data, dst),
            Dec::B64(b) => {
                let (c, w, bad) = b.decode(data, dst);
                self.bad_encoding |= bad;
                (c, w)
            }
        };
        *o += w;
        c
    }

    /// Finish the current leaf's decoder into `out`.
    fn finish_decoder(&mut self, out: &mut [u8], o: &mut usize) {
        if self.dec_finished {
            return;
        }
        let dst = out.get_mut(*o..).unwrap_or_default();
        let n = match &mut self.dec {
            Dec::Identity => 0,
            Dec::Qp(q) => q.finish(dst).unwrap_or(0),
            Dec::B64(b) => b.finish(dst),
        };
        *o += n;
        self.dec_finished = true;
    }

    /// A delimiter of frame `f` was read: finish the body, schedule the part ends.
    fn delimiter(&mut self, f: usize, close: bool, out: &mut [u8], o: &mut usize) {
        self.finish_decoder(out, o);
        let Some(Some(fr)) = self.frames.get(f).copied() else {
            self.state = St::Ends {
                then: Then::Discard,
            };
            return;
        };
        let keep_ents = if close { fr.ent } else { fr.ent + 1 };
        self.ends_from = self.nent;
        self.ends_to = keep_ents.min(self.nent);
        self.nent = self.ends_to;
        self.nframes = if close { f } else { f + 1 };
        self.discard = true;
        self.state = St::Ends {
            then: if close { Then::Discard } else { Then::Child },
        };
    }

    fn step(&mut self, input: &[u8], out: &mut [u8]) -> (usize, Option<Emit>) {
        if self.clear {
            self.clear = false;
            self.len = 0;
            self.line_begin = 0;
            self.truncated = false;
        }
        let mut i = 0;
        let mut o = 0;
        if self.pending_delim {
            self.pending_delim = false;
            self.pending_inner = false;
            if let St::DelimTail { frame, close, .. } = self.state {
                self.delimiter(frame, close, out, &mut o);
            }
        }
        if self.pending_inner {
            self.pending_inner = false;
            self.start_child();
        }
        // Leave room for a decoder's flush.
        let limit = out.len() - 8;
        loop {
            if o >= limit {
                return (i, Some(Emit::Body(o)));
            }
            match self.state {
                St::Done => return (i, Some(Emit::End)),
                St::Ends { then } => {
                    if o > 0 {
                        return (i, Some(Emit::Body(o)));
                    }
                    if self.ends_from > self.ends_to {
                        self.ends_from -= 1;
                        return (i, Some(Emit::PartEnd(self.ends_from)));
                    }
                    match then {
                        Then::Child if self.eof && input.get(i).is_none() => {
                            // The input ended right after a delimiter: no child follows.
                            self.discard = true;
                            self.state = St::Body {
                                line_start: false,
                                cr: false,
                            };
                            self.eol_len = 0;
                        }
                        Then::Child => self.start_child(),
                        Then::Discard => {
                            self.discard = true;
                            self.state = St::Body {
                                line_start: true,
                                cr: false,
                            };
                            self.eol_len = 0;
                        }
                        Then::End => self.state = St::Done,
                    }
                }
                St::HeaderAfterLf | St::HeaderLine | St::HeaderCr => {
                    let Some(&b) = input.get(i) else {
                        if self.eof {
                            return self.eof_in_headers(i);
                        }
                        return (i, None);
                    };
                    match self.state {
                        St::HeaderAfterLf => {
                            if self.len > 0 {
                                if b == b' ' || b == b'\t' {
                                    self.line_begin = self.len;
                                    self.put_header_byte(b);
                                    self.state = St::HeaderLine;
                                    i += 1;
                                    continue;
                                }
                                // The previous field is complete.
                                if let Some(e) = self.complete_field() {
                                    return (i, Some(e));
                                }
                                continue;
                            }
                            i += 1;
                            match b {
                                b'\n' => {
                                    self.open_entity();
                                    return (i, Some(Emit::PartStart));
                                }
                                b'\r' => self.state = St::HeaderCr,
                                _ => {
                                    self.line_begin = 0;
                                    self.put_header_byte(b);
                                    self.state = St::HeaderLine;
                                }
                            }
                        }
                        St::HeaderCr => {
                            if b == b'\n' {
                                i += 1;
                            }
                            self.open_entity();
                            return (i, Some(Emit::PartStart));
                        }
                        _ => {
                            i += 1;
                            if b == b'\n' {
                                if self.len > 0 && self.buf.get(self.len - 1) == Some(&b'\r') {
                                    self.len -= 1;
                                }
                                // A delimiter where a header line should be.
                                if self.nframes > 0 && self.line_begin == 0 {
                                    let line = self.buf.get(..self.len).unwrap_or_default();
                                    if let (Some((f, want)), _) = self.match_delim(line) {
                                        let close = line.get(want..want + 2) == Some(&b"--"[..]);
                                        self.len = 0;
                                        // An entity with headers cut short and no body.
                                        self.open_entity();
                                        self.state = St::DelimTail {
                                            frame: f,
                                            after: 2,
                                            close,
                                        };
                                        // Re-run the delimiter at once (line already read).
                                        self.pending_delim = true;
                                        return (i, Some(Emit::PartStart));
                                    }
                                }
                                self.state = St::HeaderAfterLf;
                            } else {
                                self.put_header_byte(b);
                            }
                        }
                    }
                }
                St::Body { line_start, cr } => {
                    let Some(&b) = input.get(i) else {
                        if self.eof {
                            if let Some(e) = self.eof_in_body(out, &mut o) {
                                return (i, Some(e));
                            }
                            continue;
                        }
                        return (i, if o > 0 { Some(Emit::Body(o)) } else { None });
                    };
                    if cr {
                        if b == b'\n' {
                            i += 1;
                            self.hold_eol(b"\r\n");
                        } else {
                            // A bare CR is content.
                            let n = self.feed(b"\r", out, &mut o);
                            if n == 0 {
                                return (i, Some(Emit::Body(o)));
                            }
                            self.state = St::Body {
                                line_start: false,
                                cr: false,
                            };
                        }
                        continue;
                    }
                    if line_start && self.nframes > 0 {
                        self.probe_pos = 0;
                        self.len = 0;
                        self.state = St::Probe;
                        continue;
                    }
                    if line_start && self.eol_len > 0 {
                        // No boundaries to look for: the held line break is content.
                        self.state = St::Flush;
                        self.len = 0;
                        self.probe_pos = 0;
                        continue;
                    }
                    // Mid-line: a run up to CR or LF.
                    let rest = input.get(i..).unwrap_or_default();
                    let run = rest
                        .iter()
                        .position(|&c| c == b'\r' || c == b'\n')
                        .unwrap_or(rest.len());
                    if run > 0 {
                        let n = self.feed(rest.get(..run).unwrap_or_default(), out, &mut o);
                        i += n;
                        self.state = St::Body {
                            line_start: false,
                            cr: false,
                        };
                        if n < run {
                            return (i, Some(Emit::Body(o)));
                        }
                        continue;
                    }
                    i += 1;
                    if b == b'\r' {
                        self.state = St::Body {
                            line_start: false,
                            cr: true,
                        };
                    } else {
                        self.hold_eol(b"\n");
                    }
                }
                St::Probe => {
                    let mut probe = [0u8; MAX_BOUNDARY + 4];
                    let plen = self.len.min(probe.len() - 1);
                    if let (Some(d), Some(s)) = (probe.get_mut(..plen), self.buf.get(..plen)) {
                        d.copy_from_slice(s);
                    }
                    let Some(&b) = input.get(i) else {
                        if self.eof {
                            // The input ends within the line.
                            match self.match_delim(probe.get(..plen).unwrap_or_default()).0 {
                                Some((f, want)) => self.probe_delim(f, want, &probe, plen),
                                None => self.state = St::Flush,
                            }
                            continue;
                        }
                        return (i, if o > 0 { Some(Emit::Body(o)) } else { None });
                    };
                    if let Some(slot) = probe.get_mut(plen) {
                        *slot = b;
                    }
                    let with_b = probe.get(..plen + 1).unwrap_or_default();
                    match self.match_delim(with_b) {
                        (_, true) if plen + 1 < probe.len() => {
                            // A longer delimiter may still match: keep collecting.
                            i += 1;
                            self.put_header_byte(b);
                        }
                        (Some((f, want)), _) if want == plen + 1 => {
                            i += 1;
                            self.probe_delim(f, want, &probe, plen + 1);
                        }
                        (Some((f, want)), _) => {
                            // `b` is already past the delimiter: leave it to DelimTail.
                            self.probe_delim(f, want, &probe, plen);
                        }
                        (None, _) => {
                            // Not a delimiter: the line break and the probe are content.
                            self.state = St::Flush;
                            self.probe_pos = 0;
                        }
                    }
                }
                St::Flush => {
                    while self.eol_pos < self.eol_len {
                        let e = self.eol;
                        let n = self.feed(
                            e.get(self.eol_pos..self.eol_len).unwrap_or_default(),
                            out,
                            &mut o,
                        );
                        if n == 0 {
                            return (i, Some(Emit::Body(o)));
                        }
                        self.eol_pos += n;
                    }
                    self.eol_len = 0;
                    self.eol_pos = 0;
                    while self.probe_pos < self.len {
                        let mut tmp = [0u8; MAX_BOUNDARY + 2];
                        let chunk = (self.len - self.probe_pos).min(tmp.len());
                        if let (Some(d), Some(s)) = (
                            tmp.get_mut(..chunk),
                            self.buf.get(self.probe_pos..self.probe_pos + chunk),
                        ) {
                            d.copy_from_slice(s);
                        }
                        let n = self.feed(tmp.get(..chunk).unwrap_or_default(), out, &mut o);
                        if n == 0 {
                            return (i, Some(Emit::Body(o)));
                        }
                        self.probe_pos += n;
                    }
                    self.len = 0;
                    self.probe_pos = 0;
                    self.state = St::Body {
                        line_start: false,
                        cr: false,
                    };
                    if self.eof
                        && input.get(i).is_none()
                        && let Some(e) = self.eof_in_body(out, &mut o)
                    {
                        return (i, Some(e));
                    }
                }
                St::DelimTail {
                    frame,
                    after,
                    close,
                } => {
                    let b = input.get(i).copied();
                    match b {
                        None if !self.eof => {
                            return (i, if o > 0 { Some(Emit::Body(o)) } else { None });
                        }
                        None | Some(b'\n') => {
                            if b.is_some() {
                                i += 1;
                            }
                            let close = close && after >= 2;
                            self.delimiter(frame, close, out, &mut o);
                        }
                        Some(c) => {
                            i += 1;
                            let close = close && (after >= 2 || c == b'-');
                            self.state = St::DelimTail {
                                frame,
                                after: after.saturating_add(1),
                                close,
                            };
                        }
                    }
                }
            }
        }
    }

    /// The probe (`probe[..len]`) starts with the delimiter of frame `f` (`want` bytes).
    fn probe_delim(&mut self, f: usize, want: usize, probe: &[u8], len: usize) {
        let tail = probe.get(want..len).unwrap_or_default();
        // The held line break belongs to the delimiter.
        self.eol_len = 0;
        self.len = 0;
        self.state = St::DelimTail {
            frame: f,
            after: u8::try_from(tail.len()).unwrap_or(u8::MAX),
            close: tail.iter().take(2).all(|&c| c == b'-'),
        };
    }

    fn hold_eol(&mut self, e: &[u8]) {
        let n = e.len().min(2);
        if let (Some(d), Some(s)) = (self.eol.get_mut(..n), e.get(..n)) {
            d.copy_from_slice(s);
        }
        self.eol_len = n;
        self.eol_pos = 0;
        self.state = St::Body {
            line_start: true,
            cr: false,
        };
    }

    /// A complete field is in `buf`: report it (or drop it when it has no colon).
    fn complete_field(&mut self) -> Option<Emit> {
        let colon = self.buf.get(..self.len)?.iter().position(|&c| c == b':');
        match colon {
            Some(colon) => {
                self.note_field(colon);
                self.clear = true;
                Some(Emit::Header {
                    colon,
                    end: self.len,
                })
            }
            None => {
                self.len = 0;
                self.line_begin = 0;
                self.truncated = false;
                None
            }
        }
    }

    fn eof_in_headers(&mut self, i: usize) -> (usize, Option<Emit>) {
        if self.len > 0 {
            if self.state == St::HeaderLine && self.buf.get(self.len - 1) == Some(&b'\r') {
                self.len -= 1;
            }
            self.state = St::HeaderAfterLf;
            if let Some(e) = self.complete_field() {
                return (i, Some(e));
            }
        }
        // Headers without a body: open the entity, then everything ends.
        self.open_entity();
        self.pending_inner = false;
        self.state = St::Body {
            line_start: false,
            cr: false,
        };
        self.eol_len = 0;
        (i, Some(Emit::PartStart))
    }

    /// End of input inside a body.
    fn eof_in_body(&mut self, out: &mut [u8], o: &mut usize) -> Option<Emit> {
        if self.eol_len > self.eol_pos {
            self.state = St::Flush;
            return None;
        }
        self.finish_decoder(out, o);
        self.ends_from = self.nent;
        self.ends_to = 0;
        self.nent = 0;
        self.nframes = 0;
        self.state = St::Ends { then: Then::End };
        None
    }
}
