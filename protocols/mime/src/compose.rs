//! The streaming composer: a [`Message`] described by the caller becomes a [`Composer`], an
//! `embedded_io_async::Read` that produces the message bytes on demand.
//!
//! # Pull, not push
//! The composer is a *source*: each `read` fills the caller's buffer with the next bytes of
//! the message, reading attachment bytes from their own sources and encoding them on the fly.
//! It plugs straight into `postwire_smtp::Client::send(&envelope, &mut composer, ..)`, which
//! dot-stuffs what it reads into its transmit buffer: no copy of the message exists anywhere.
//! [`Composer::write_to`] pushes into any `embedded_io_async::Write` instead, and
//! [`Composer::write_sync`] drives it synchronously when no source can block.
//!
//! Memory: the composer holds the message description, a 512-byte input buffer (the
//! look-ahead, see below) and a few counters. Header blocks are *rendered*, not stored: each
//! is produced by deterministic code through a window on the output stream
//! ([`crate::sink::Window`]), so a block longer than the caller's buffer is rendered again on
//! the next read and continues where it stopped.
//!
//! # Structure
//! ```text
//! multipart/mixed                 when there is an attachment
//!   multipart/related             when there is HTML and a part with a Content-ID
//!     multipart/alternative       when there are both text and HTML
//!       text/plain
//!       text/html
//!     inline parts (Content-ID)
//!   attachments
//! ```
//! Levels that are not needed are left out; a message with only text is a single
//! `text/plain` entity. Parts with a Content-ID are attachments with
//! `Content-Disposition: inline` when there is no HTML to refer to them.
//!
//! # Sources
//! Every body comes from a [`Source`]: bytes in memory (`&[u8]`) or a reader `R`. All readers
//! of one message have the same type `R` (one generic parameter, no trait objects); to mix
//! kinds of readers, give an enum of them that implements `Read`. A message without readers
//! uses `R = &[u8]` ([`NoReader`]).
//!
//! # Transfer encodings and charsets
//! * [`Body::Text`]: UTF-8 text. Line breaks (CR LF, bare CR, bare LF) become CR LF. Then
//!   - `7bit`, `charset=us-ascii`: pure ASCII, no NUL, lines of at most 998 octets and no line
//!     that starts like a boundary (`--=_`);
//!   - else `quoted-printable` when at most one byte in six is non-ASCII (QP is then the
//!     shorter), `base64` otherwise; `charset=utf-8` (`us-ascii` when the text is ASCII).
//!
//!   In memory, the whole text is examined. **From a reader, the first 512 bytes are read
//!   ahead before the part's headers are written** (the bounded look-ahead): if the source ends
//!   within them the decision is exact as above; otherwise `7bit` is never chosen (the rest is
//!   unknown), the charset is `utf-8`, and QP or base64 is chosen from the look-ahead's share
//!   of non-ASCII bytes. Both encodings carry any bytes, so a wrong guess costs size, never
//!   correctness. Text that is not UTF-8 (in memory, or within the look-ahead) is refused with
//!   [`MimeError::NotUtf8`].
//! * [`Body::Binary`]: `base64`, lines of 76.
//! * [`Body::Declared`]: the caller names the charset (or none) and the transfer encoding
//!   (e.g. text already in ISO-2022-JP: `charset=iso-2022-jp`, `7bit`). `quoted-printable`
//!   and `base64` encode the bytes (as text when a charset is given: line breaks become CR LF
//!   first); `7bit` and `8bit` copy them and check them while streaming: a byte above 0x7F
//!   (7bit), a NUL, a line over 998 octets or a line starting with this message's boundary
//!   prefix fails the read with an error (in memory: already in [`Composer::new`]).
//!
//! # Boundaries
//! The boundary of nesting level `k` is `=_<token>_<k>`, where `<token>` is the caller's
//! unique token (random bytes in hex, say). It can never occur inside an encoded body:
//! * base64 output consists of `A-Z a-z 0-9 + /`, `=` (only as padding, at the very end) and
//!   CR LF, so no base64 line starts with `-`;
//! * quoted-printable output writes every `=` of the data as `=3D`; every other `=` it writes is
//!   followed by two hex digits or by CR LF (a soft break), never by `_`, so `=_` cannot
//!   occur, and a delimiter line `--=_...` cannot either;
//! * `7bit`/`8bit` content is only used (automatic) or accepted (declared) when no line starts
//!   with `--=_` (automatic) or with `--=_<token>` (declared; checked while streaming);
//! * header lines start with a field name or with whitespace (folding).
//!
//! Different levels differ in the digit after the token, and no boundary is a prefix of
//! another (each ends with the level digit, and a delimiter is followed by CR LF or `--`).
//!
//! # Line ends of bodies
//! The CR LF before a delimiter belongs to the delimiter, so a part's decoded content is
//! exactly what was given (after line-break normalisation for text). A message that is a single
//! part must end with a line break: base64 gets a final CR LF, quoted-printable a final soft
//! break (`=` CR LF, which decodes to nothing), and `7bit`/`8bit` text that does not end with a
//! line break gets one.

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll};

use embedded_io_async::{ErrorType, Read, Write};
use postwire_core::base64::Base64Encoder;

use crate::error::{ComposeError, MimeError};
use crate::header::{
    self, Date, Fold, Mailbox, address_list, check_charset, check_id_inner, check_media_type,
    check_name, check_token, check_value, date_header, id_list, text_header,
};
use crate::qp::{QpEncoder, QpOptions};
use crate::sink::{Counter, Sink, Window};

/// Size of the look-ahead (and input) buffer.
pub const LOOKAHEAD: usize = 512;
/// Reads into buffers smaller than this are served from a small internal carry buffer.
const MIN_OUT: usize = 16;
/// Longest line of `7bit`/`8bit` content (RFC 5322 §2.1.1), CR LF not counted.
const MAX_LINE: usize = 998;

/// The reader type of a message whose bodies are all in memory.
pub type NoReader = &'static [u8];

/// A Content-Transfer-Encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TransferEncoding {
    /// `7bit`: ASCII lines of at most 998 octets.
    SevenBit,
    /// `8bit`: any bytes but NUL, lines of at most 998 octets (needs 8BITMIME).
    EightBit,
    /// `quoted-printable`.
    QuotedPrintable,
    /// `base64`.
    Base64,
}

impl TransferEncoding {
    /// The header value.
    pub const fn name(self) -> &'static str {
        match self {
            TransferEncoding::SevenBit => "7bit",
            TransferEncoding::EightBit => "8bit",
            TransferEncoding::QuotedPrintable => "quoted-printable",
            TransferEncoding::Base64 => "base64",
        }
    }
}

/// Where a body's bytes come from.
#[derive(Debug)]
pub enum Source<'a, R> {
    /// Bytes in memory (examined in full to choose the encoding).
    Bytes(&'a [u8]),
    /// A reader, read once, in order.
    Reader(R),
}

/// A body and how to encode it.
#[derive(Debug)]
pub enum Body<'a, R> {
    /// UTF-8 text; charset and transfer encoding are chosen automatically.
    Text(Source<'a, R>),
    /// Binary data: base64.
    Binary(Source<'a, R>),
    /// Charset (`None` for non-text) and transfer encoding given by the caller.
    Declared {
        /// The bytes.
        source: Source<'a, R>,
        /// The charset parameter; `Some` also means "text" (line breaks become CR LF).
        charset: Option<&'a str>,
        /// The transfer encoding to apply.
        encoding: TransferEncoding,
    },
}

impl<'a, R> Body<'a, R> {
    /// UTF-8 text from memory.
    pub const fn text(s: &'a str) -> Self {
        Body::Text(Source::Bytes(s.as_bytes()))
    }

    fn source_mut(&mut self) -> &mut Source<'a, R> {
        match self {
            Body::Text(s) | Body::Binary(s) | Body::Declared { source: s, .. } => s,
        }
    }
}

/// An attachment, or an inline part referred to by its Content-ID.
#[derive(Debug)]
pub struct Attachment<'a, R> {
    /// The body.
    pub body: Body<'a, R>,
    /// `type/subtype`, e.g. `image/png` (without parameters).
    pub content_type: &'a str,
    /// The file name (any Unicode; RFC 2231-encoded when needed).
    pub filename: Option<&'a str>,
    /// A Content-ID without the angle brackets (`logo@example.test`): the part is inline
    /// (in `multipart/related` with the HTML) rather than an attachment.
    pub content_id: Option<&'a str>,
}

impl<'a, R> Attachment<'a, R> {
    /// A binary attachment (base64) with a file name.
    pub const fn binary(content_type: &'a str, filename: &'a str, source: Source<'a, R>) -> Self {
        Attachment {
            body: Body::Binary(source),
            content_type,
            filename: Some(filename),
            content_id: None,
        }
    }
}

/// The Message-ID: `<token@domain>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageId<'a> {
    /// A unique token (printable ASCII without specials).
    pub token: &'a str,
    /// The domain, usually that of the sender.
    pub domain: &'a str,
}

/// The message headers.
///
/// ```
/// use postwire_mime::{Date, Headers, Mailbox, MessageId};
/// let to = [Mailbox::new("bob@example.test")];
/// let h = Headers {
///     to: &to,
///     subject: Some("Grüße"),
///     date: Some(Date { unix: 1_795_395_051, offset_minutes: 60 }),
///     message_id: Some(MessageId { token: "a1b2c3", domain: "example.test" }),
///     ..Headers::new(Mailbox::named("Sensor 7", "s7@example.test"))
/// };
/// assert!(h.cc.is_empty());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Headers<'a> {
    /// From.
    pub from: Mailbox<'a>,
    /// To.
    pub to: &'a [Mailbox<'a>],
    /// Cc.
    pub cc: &'a [Mailbox<'a>],
    /// Reply-To.
    pub reply_to: &'a [Mailbox<'a>],
    /// Subject (any Unicode).
    pub subject: Option<&'a str>,
    /// Date; leave `None` on a device without a clock (the submission server adds one).
    pub date: Option<Date>,
    /// Message-ID.
    pub message_id: Option<MessageId<'a>>,
    /// In-Reply-To: a msg-id with brackets, `<id@host>`.
    pub in_reply_to: Option<&'a str>,
    /// References: msg-ids with brackets.
    pub references: &'a [&'a str],
    /// Further fields `(name, value)`; values are unstructured text (encoded words when not
    /// ASCII). `Content-*` and `MIME-Version` are refused: the composer writes those.
    pub extra: &'a [(&'a str, &'a str)],
    /// The server offers SMTPUTF8: addresses may have non-ASCII local parts and domains.
    pub smtputf8: bool,
}

impl<'a> Headers<'a> {
    /// Headers with only a sender.
    pub const fn new(from: Mailbox<'a>) -> Self {
        Headers {
            from,
            to: &[],
            cc: &[],
            reply_to: &[],
            subject: None,
            date: None,
            message_id: None,
            in_reply_to: None,
            references: &[],
            extra: &[],
            smtputf8: false,
        }
    }
}

/// How one body is encoded (decided before its headers are written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decision<'a> {
    enc: TransferEncoding,
    charset: Option<&'a str>,
    /// Line breaks are normalised.
    text: bool,
}

/// A message: headers, optional text and HTML, and up to `N` attachments or inline parts.
///
/// ```
/// use postwire_mime::{Attachment, Body, Composer, Headers, Mailbox, Message, NoReader, Source};
/// let to = [Mailbox::new("bob@example.test")];
/// let mut msg: Message<'_, NoReader, 1> = Message::new(Headers {
///     to: &to,
///     subject: Some("Report"),
///     ..Headers::new(Mailbox::new("dev@example.test"))
/// })
/// .text(Body::text("See the attachment.\n"))
/// .html(Body::text("<p>See the attachment.</p>\n"));
/// msg.attach(Attachment::binary("application/octet-stream", "log.bin", Source::Bytes(&[0, 1, 2])))
///     .unwrap();
/// let mut composer = Composer::new(msg, "f00dfeed").unwrap();
/// let mut wire = Vec::new();
/// composer.write_sync(|b| wire.extend_from_slice(b)).unwrap();
/// let wire = String::from_utf8(wire).unwrap();
/// assert!(wire.contains("multipart/mixed; boundary=\"=_f00dfeed_0\""));
/// assert!(wire.contains("multipart/alternative"));
/// assert!(wire.contains("\r\nAAEC\r\n--=_f00dfeed_0--\r\n"));
/// ```
#[derive(Debug)]
pub struct Message<'a, R, const N: usize> {
    headers: Headers<'a>,
    text: Option<Body<'a, R>>,
    html: Option<Body<'a, R>>,
    parts: [Option<Attachment<'a, R>>; N],
}

impl<'a, R, const N: usize> Message<'a, R, N> {
    /// A message with headers and no body yet.
    pub fn new(headers: Headers<'a>) -> Self {
        Message {
            headers,
            text: None,
            html: None,
            parts: [const { None }; N],
        }
    }

    /// Set the plain text body (`text/plain`).
    pub fn text(mut self, body: Body<'a, R>) -> Self {
        self.text = Some(body);
        self
    }

    /// Set the HTML body (`text/html`).
    pub fn html(mut self, body: Body<'a, R>) -> Self {
        self.html = Some(body);
        self
    }

    /// Add an attachment or inline part. Fails with [`MimeError::TooManyParts`] when all `N`
    /// slots are taken.
    pub fn attach(&mut self, a: Attachment<'a, R>) -> Result<&mut Self, MimeError> {
        let slot = self
            .parts
            .iter_mut()
            .find(|s| s.is_none())
            .ok_or(MimeError::TooManyParts)?;
        *slot = Some(a);
        Ok(self)
    }

    /// The headers.
    pub fn headers(&self) -> &Headers<'a> {
        &self.headers
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaf {
    Text,
    Html,
    Part(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Multi {
    Mixed,
    Related,
    Alternative,
}

impl Multi {
    fn name(self) -> &'static [u8] {
        match self {
            Multi::Mixed => b"mixed",
            Multi::Related => b"related",
            Multi::Alternative => b"alternative",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Leaf(Leaf),
    Multi(Multi),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Headers { top: bool, node: Node, level: u8 },
    Open { level: u8 },
    Next { level: u8 },
    Close { level: u8 },
    Body(Leaf),
    End,
}

/// Text statistics for the automatic choice.
#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    len: usize,
    non_ascii: usize,
    nul: bool,
    max_line: usize,
    boundary_like: bool,
}

fn scan(bytes: &[u8], pattern: &Pattern<'_>) -> Stats {
    let mut st = Stats {
        len: bytes.len(),
        ..Stats::default()
    };
    let mut line = 0usize;
    let mut m = Matcher::new();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\r' | b'\n' => {
                st.max_line = st.max_line.max(line);
                line = 0;
                m = Matcher::new();
                if b == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            _ => {
                line += 1;
                st.non_ascii += usize::from(b >= 0x80);
                st.nul |= b == 0;
                if m.feed(b, pattern) {
                    st.boundary_like = true;
                }
            }
        }
        i += 1;
    }
    st.max_line = st.max_line.max(line);
    st
}

/// The start of a boundary delimiter line: `--=_` followed by the token (or by nothing, for
/// the conservative automatic check).
#[derive(Debug, Clone, Copy)]
struct Pattern<'t> {
    token: &'t [u8],
}

impl Pattern<'_> {
    fn get(&self, i: usize) -> Option<u8> {
        match i {
            0 | 1 => Some(b'-'),
            2 => Some(b'='),
            3 => Some(b'_'),
            _ => self.token.get(i - 4).copied(),
        }
    }
    fn len(&self) -> usize {
        4 + self.token.len()
    }
}

/// Matches the pattern at the start of a line.
#[derive(Debug, Clone, Copy)]
struct Matcher {
    matched: usize,
    live: bool,
}

impl Matcher {
    const fn new() -> Self {
        Matcher {
            matched: 0,
            live: true,
        }
    }
    /// Feed a byte of the line; true when the whole pattern has matched.
    fn feed(&mut self, b: u8, p: &Pattern<'_>) -> bool {
        if !self.live {
            return false;
        }
        if p.get(self.matched) == Some(b) {
            self.matched += 1;
            if self.matched == p.len() {
                self.live = false;
                return true;
            }
        } else {
            self.live = false;
        }
        false
    }
}

const AUTO_PATTERN: Pattern<'static> = Pattern { token: b"" };

fn decide_text<'a>(prefix: &[u8], complete: bool) -> Result<Decision<'a>, MimeError> {
    match core::str::from_utf8(prefix) {
        Ok(_) => {}
        // A character cut by the end of the look-ahead is fine.
        Err(e) if !complete && e.error_len().is_none() => {}
        Err(_) => return Err(MimeError::NotUtf8),
    }
    let st = scan(prefix, &AUTO_PATTERN);
    if complete && st.non_ascii == 0 && !st.nul && st.max_line <= MAX_LINE && !st.boundary_like {
        return Ok(Decision {
            enc: TransferEncoding::SevenBit,
            charset: Some("us-ascii"),
            text: true,
        });
    }
    let charset = if complete && st.non_ascii == 0 {
        "us-ascii"
    } else {
        "utf-8"
    };
    let enc = if st.non_ascii.saturating_mul(6) <= st.len {
        TransferEncoding::QuotedPrintable
    } else {
        TransferEncoding::Base64
    };
    Ok(Decision {
        enc,
        charset: Some(charset),
        text: true,
    })
}

fn check_declared(bytes: &[u8], seven: bool, pattern: &Pattern<'_>) -> Result<(), MimeError> {
    let st = scan(bytes, pattern);
    if st.nul || (seven && st.non_ascii > 0) {
        return Err(MimeError::Not7Bit);
    }
    if st.max_line > MAX_LINE {
        return Err(MimeError::LineTooLong);
    }
    if st.boundary_like {
        return Err(MimeError::BoundaryInContent);
    }
    Ok(())
}

/// What a leaf looks like in its headers.
struct LeafMeta<'a> {
    content_type: &'a str,
    filename: Option<&'a str>,
    content_id: Option<&'a str>,
    disposition: Option<&'static str>,
}

impl<'a, R, const N: usize> Message<'a, R, N> {
    fn has_cid_parts(&self) -> bool {
        self.parts.iter().flatten().any(|p| p.content_id.is_some())
    }

    fn related(&self) -> bool {
        self.html.is_some() && self.has_cid_parts()
    }

    /// Whether part `i` belongs under multipart/related (rather than mixed).
    fn in_related(&self, p: &Attachment<'a, R>) -> bool {
        p.content_id.is_some() && self.related()
    }

    fn main(&self) -> Option<Node> {
        if self.related() {
            Some(Node::Multi(Multi::Related))
        } else {
            self.alt_or_single()
        }
    }

    fn alt_or_single(&self) -> Option<Node> {
        match (self.text.is_some(), self.html.is_some()) {
            (true, true) => Some(Node::Multi(Multi::Alternative)),
            (true, false) => Some(Node::Leaf(Leaf::Text)),
            (false, true) => Some(Node::Leaf(Leaf::Html)),
            (false, false) => None,
        }
    }

    fn root(&self) -> Node {
        let mixed = self.parts.iter().flatten().any(|p| !self.in_related(p));
        if mixed {
            Node::Multi(Multi::Mixed)
        } else {
            self.main().unwrap_or(Node::Leaf(Leaf::Text))
        }
    }

    fn child(&self, kind: Multi, j: usize) -> Option<Node> {
        let mut k = j;
        let (first, related_parts) = match kind {
            Multi::Alternative => {
                return match j {
                    0 => Some(Node::Leaf(Leaf::Text)),
                    1 => Some(Node::Leaf(Leaf::Html)),
                    _ => None,
                };
            }
            Multi::Mixed => (self.main(), false),
            Multi::Related => (self.alt_or_single(), true),
        };
        if let Some(f) = first {
            if k == 0 {
                return Some(f);
            }
            k -= 1;
        }
        self.parts
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|p| (i, p)))
            .filter(|(_, p)| self.in_related(p) == related_parts)
            .nth(k)
            .map(|(i, _)| Node::Leaf(Leaf::Part(i)))
    }

    fn walk_node(&self, node: Node, level: u8, top: bool, f: &mut dyn FnMut(Step) -> bool) -> bool {
        if f(Step::Headers { top, node, level }) {
            return true;
        }
        match node {
            Node::Leaf(l) => f(Step::Body(l)),
            Node::Multi(kind) => {
                let mut j = 0;
                while let Some(c) = self.child(kind, j) {
                    let s = if j == 0 {
                        Step::Open { level }
                    } else {
                        Step::Next { level }
                    };
                    if f(s) || self.walk_node(c, level + 1, false, f) {
                        return true;
                    }
                    j += 1;
                }
                f(Step::Close { level })
            }
        }
    }

    fn walk(&self, f: &mut dyn FnMut(Step) -> bool) {
        let root = self.root();
        if !self.walk_node(root, 0, true, f) && matches!(root, Node::Multi(_)) {
            f(Step::End);
        }
    }

    fn step_at(&self, k: usize) -> Option<Step> {
        let mut i = 0;
        let mut found = None;
        self.walk(&mut |s| {
            if i == k {
                found = Some(s);
                true
            } else {
                i += 1;
                false
            }
        });
        found
    }

    fn body(&self, l: Leaf) -> Option<&Body<'a, R>> {
        match l {
            Leaf::Text => self.text.as_ref(),
            Leaf::Html => self.html.as_ref(),
            Leaf::Part(i) => self.parts.get(i)?.as_ref().map(|p| &p.body),
        }
    }

    fn body_mut(&mut self, l: Leaf) -> Option<&mut Body<'a, R>> {
        match l {
            Leaf::Text => self.text.as_mut(),
            Leaf::Html => self.html.as_mut(),
            Leaf::Part(i) => self.parts.get_mut(i)?.as_mut().map(|p| &mut p.body),
        }
    }

    fn meta(&self, l: Leaf) -> LeafMeta<'a> {
        match l {
            Leaf::Text => LeafMeta {
                content_type: "text/plain",
                filename: None,
                content_id: None,
                disposition: None,
            },
            Leaf::Html => LeafMeta {
                content_type: "text/html",
                filename: None,
                content_id: None,
                disposition: None,
            },
            Leaf::Part(i) => match self.parts.get(i).and_then(Option::as_ref) {
                Some(p) => LeafMeta {
                    content_type: p.content_type,
                    filename: p.filename,
                    content_id: p.content_id,
                    disposition: Some(if p.content_id.is_some() {
                        "inline"
                    } else {
                        "attachment"
                    }),
                },
                None => LeafMeta {
                    content_type: "application/octet-stream",
                    filename: None,
                    content_id: None,
                    disposition: None,
                },
            },
        }
    }
}

/// Per-leaf decisions, stored outside the message (index: text, html, parts...).
struct Decisions<'a, const N: usize> {
    text: Option<Decision<'a>>,
    html: Option<Decision<'a>>,
    parts: [Option<Decision<'a>>; N],
}

impl<'a, const N: usize> Decisions<'a, N> {
    fn get(&self, l: Leaf) -> Option<Decision<'a>> {
        match l {
            Leaf::Text => self.text,
            Leaf::Html => self.html,
            Leaf::Part(i) => self.parts.get(i).copied().flatten(),
        }
    }
    fn set(&mut self, l: Leaf, d: Decision<'a>) {
        match l {
            Leaf::Text => self.text = Some(d),
            Leaf::Html => self.html = Some(d),
            Leaf::Part(i) => {
                if let Some(s) = self.parts.get_mut(i) {
                    *s = Some(d);
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Enc {
    Copy { seven: bool },
    Qp(QpEncoder),
    B64(Base64Encoder),
}

/// State of the body being written.
#[derive(Debug, Clone, Copy)]
struct BodyState {
    started: bool,
    enc: Enc,
    text: bool,
    /// Offset into a `Source::Bytes`.
    pos: usize,
    after_cr: bool,
    /// Base64 text: bytes of an owed CR LF already fed (0 = none owed).
    eol_fed: u8,
    eol_owed: bool,
    line_len: usize,
    at_line_start: bool,
    matcher: Matcher,
    wrote: bool,
    /// Finishing: tail bytes (encoder flush and final line break).
    tail: [u8; 16],
    tail_len: usize,
    tail_pos: usize,
    in_tail: bool,
}

impl BodyState {
    const fn new() -> Self {
        BodyState {
            started: false,
            enc: Enc::Copy { seven: true },
            text: true,
            pos: 0,
            after_cr: false,
            eol_fed: 0,
            eol_owed: false,
            line_len: 0,
            at_line_start: true,
            matcher: Matcher::new(),
            wrote: false,
            tail: [0; 16],
            tail_len: 0,
            tail_pos: 0,
            in_tail: false,
        }
    }

    /// Encode from `input` into `out`; returns `(consumed, written)`.
    fn encode(
        &mut self,
        input: &[u8],
        out: &mut [u8],
        pattern: &Pattern<'_>,
    ) -> Result<(usize, usize), MimeError> {
        let r = match &mut self.enc {
            Enc::Qp(q) => Ok(q.encode(input, out)),
            Enc::B64(b) if !self.text => Ok(b.encode(input, out)),
            Enc::B64(_) => Ok(self.encode_b64_text(input, out)),
            Enc::Copy { seven } => {
                let seven = *seven;
                self.copy_text(input, out, seven, pattern)
            }
        };
        if let Ok((_, w)) = r {
            self.wrote |= w > 0;
        }
        r
    }

    fn encode_b64_text(&mut self, input: &[u8], out: &mut [u8]) -> (usize, usize) {
        let Enc::B64(enc) = &mut self.enc else {
            return (0, 0);
        };
        let mut i = 0;
        let mut o = 0;
        loop {
            if self.eol_owed {
                let crlf = b"\r\n".get(usize::from(self.eol_fed)..).unwrap_or_default();
                let (c, w) = enc.encode(crlf, out.get_mut(o..).unwrap_or_default());
                o += w;
                self.eol_fed += c as u8;
                if self.eol_fed >= 2 {
                    self.eol_owed = false;
                    self.eol_fed = 0;
                } else {
                    break;
                }
            }
            let Some(&b) = input.get(i) else { break };
            match b {
                b'\r' => {
                    self.after_cr = true;
                    self.eol_owed = true;
                    i += 1;
                }
                b'\n' => {
                    if !self.after_cr {
                        self.eol_owed = true;
                    }
                    self.after_cr = false;
                    i += 1;
                }
                _ => {
                    self.after_cr = false;
                    let run = input
                        .get(i..)
                        .unwrap_or_default()
                        .iter()
                        .take_while(|&&c| c != b'\r' && c != b'\n')
                        .count();
                    let src = input.get(i..i + run).unwrap_or_default();
                    let (c, w) = enc.encode(src, out.get_mut(o..).unwrap_or_default());
                    i += c;
                    o += w;
                    if c < run {
                        break;
                    }
                }
            }
        }
        (i, o)
    }

    fn copy_text(
        &mut self,
        input: &[u8],
        out: &mut [u8],
        seven: bool,
        pattern: &Pattern<'_>,
    ) -> Result<(usize, usize), MimeError> {
        let mut i = 0;
        let mut o = 0;
        while let Some(&b) = input.get(i) {
            match b {
                b'\r' | b'\n' => {
                    if b == b'\n' && self.after_cr {
                        self.after_cr = false;
                        i += 1;
                        continue;
                    }
                    let Some(d) = out.get_mut(o..o + 2) else {
                        break;
                    };
                    d.copy_from_slice(b"\r\n");
                    o += 2;
                    self.after_cr = b == b'\r';
                    self.line_len = 0;
                    self.at_line_start = true;
                    self.matcher = Matcher::new();
                    i += 1;
                }
                _ => {
                    if o >= out.len() {
                        break;
                    }
                    self.after_cr = false;
                    if b == 0 || (seven && b >= 0x80) {
                        return Err(MimeError::Not7Bit);
                    }
                    if self.matcher.feed(b, pattern) {
                        return Err(MimeError::BoundaryInContent);
                    }
                    self.line_len += 1;
                    if self.line_len > MAX_LINE {
                        return Err(MimeError::LineTooLong);
                    }
                    let Some(d) = out.get_mut(o) else { break };
                    *d = b;
                    o += 1;
                    self.at_line_start = false;
                    i += 1;
                }
            }
        }
        Ok((i, o))
    }

    /// Prepare the tail: flush the encoder, then the final line break of a single-part message.
    fn start_tail(&mut self, single: bool) -> Result<(), MimeError> {
        let mut n = 0;
        let mut tail = [0u8; 16];
        match &mut self.enc {
            Enc::Copy { .. } => {
                if single && !self.at_line_start && self.wrote {
                    tail[..2].copy_from_slice(b"\r\n");
                    n = 2;
                }
            }
            Enc::Qp(q) => {
                let open = !q.at_line_start();
                n = q.finish(&mut tail)?;
                if single
                    && open
                    && let Some(d) = tail.get_mut(n..n + 3)
                {
                    d.copy_from_slice(b"=\r\n");
                    n += 3;
                }
            }
            Enc::B64(b) => {
                if self.text && self.eol_owed {
                    // An owed line break that did not fit before the end.
                    let crlf = b"\r\n".get(usize::from(self.eol_fed)..).unwrap_or_default();
                    let (_, w) = b.encode(crlf, &mut tail);
                    n = w;
                    self.eol_owed = false;
                }
                n += b.finish(tail.get_mut(n..).unwrap_or_default())?;
                if single
                    && (self.wrote || n > 0)
                    && let Some(d) = tail.get_mut(n..n + 2)
                {
                    d.copy_from_slice(b"\r\n");
                    n += 2;
                }
            }
        }
        self.tail = tail;
        self.tail_len = n;
        self.tail_pos = 0;
        self.in_tail = true;
        Ok(())
    }
}

/// The streaming composer: an `embedded_io_async::Read` producing the message.
///
/// See the [module documentation](self) for the encoding rules and guarantees. After an error
/// (from a source, or content that breaks a declared encoding) every further read returns
/// the same error: the message is incomplete and must not be sent (the SMTP client aborts the
/// data phase when a read fails).
pub struct Composer<'a, R, const N: usize> {
    msg: Message<'a, R, N>,
    token: &'a str,
    decisions: Decisions<'a, N>,
    step: usize,
    offset: usize,
    body: BodyState,
    inbuf: [u8; LOOKAHEAD],
    in_start: usize,
    in_end: usize,
    in_eof: bool,
    /// The look-ahead of the current body has been read.
    prefetched: bool,
    carry: [u8; MIN_OUT],
    carry_len: usize,
    carry_pos: usize,
    failed: Option<MimeError>,
}

impl<'a, R, const N: usize> core::fmt::Debug for Composer<'a, R, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Composer")
            .field("step", &self.step)
            .field("offset", &self.offset)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

fn level_digit(level: u8) -> [u8; 1] {
    [b'0' + level % 10]
}

impl<'a, R, const N: usize> Composer<'a, R, N> {
    /// Validate the message and prepare to stream it. `boundary_token` makes the boundaries
    /// (1–40 of `A-Z a-z 0-9 . - _`; use random bytes in hex).
    ///
    /// Everything that can be checked without reading a stream is checked here: header names
    /// and values (CR, LF, NUL), addresses, media types, charsets, Content-IDs, msg-ids, and
    /// in-memory bodies (UTF-8 for text, declared `7bit`/`8bit` rules).
    pub fn new(msg: Message<'a, R, N>, boundary_token: &'a str) -> Result<Self, MimeError> {
        check_token(boundary_token)?;
        let mut c = Composer {
            msg,
            token: boundary_token,
            decisions: Decisions {
                text: None,
                html: None,
                parts: [None; N],
            },
            step: 0,
            offset: 0,
            body: BodyState::new(),
            inbuf: [0; LOOKAHEAD],
            in_start: 0,
            in_end: 0,
            in_eof: false,
            prefetched: false,
            carry: [0; MIN_OUT],
            carry_len: 0,
            carry_pos: 0,
            failed: None,
        };
        if c.msg.text.is_none() && c.msg.html.is_none() && c.msg.parts.iter().all(Option::is_none) {
            c.msg.text = Some(Body::Text(Source::Bytes(b"")));
        }
        let token = boundary_token.as_bytes();
        let pattern = Pattern { token };
        for l in [Leaf::Text, Leaf::Html]
            .into_iter()
            .chain((0..N).map(Leaf::Part))
        {
            let Some(body) = c.msg.body(l) else { continue };
            let meta = c.msg.meta(l);
            check_media_type(meta.content_type)?;
            if let Some(f) = meta.filename {
                check_value(f.as_bytes())?;
            }
            if let Some(id) = meta.content_id {
                check_id_inner(id)?;
            }
            let d = match body {
                Body::Text(Source::Bytes(b)) => Some(decide_text(b, true)?),
                Body::Text(Source::Reader(_)) => None,
                Body::Binary(_) => Some(Decision {
                    enc: TransferEncoding::Base64,
                    charset: None,
                    text: false,
                }),
                Body::Declared {
                    source,
                    charset,
                    encoding,
                } => {
                    if let Some(cs) = charset {
                        check_charset(cs)?;
                    }
                    if let Source::Bytes(b) = source {
                        match encoding {
                            TransferEncoding::SevenBit => check_declared(b, true, &pattern)?,
                            TransferEncoding::EightBit => check_declared(b, false, &pattern)?,
                            _ => {}
                        }
                    }
                    let text = charset.is_some()
                        || matches!(
                            encoding,
                            TransferEncoding::SevenBit | TransferEncoding::EightBit
                        );
                    Some(Decision {
                        enc: *encoding,
                        charset: *charset,
                        text,
                    })
                }
            };
            if let Some(d) = d {
                c.decisions.set(l, d);
            }
        }
        // Render every header block once (the ones whose decision waits for a look-ahead are
        // checked without their body fields) to validate all values.
        let mut k = 0;
        while let Some(step) = c.msg.step_at(k) {
            if !matches!(step, Step::Body(_)) {
                let mut counter = Counter::default();
                c.render(step, &mut counter, true)?;
            }
            k += 1;
        }
        Ok(c)
    }

    /// Whether the message needs an 8-bit-clean path: a part declared `8bit`, or non-ASCII
    /// addresses (SMTPUTF8). Set `Envelope::eight_bit` accordingly.
    pub fn needs_8bit(&self) -> bool {
        let h = &self.msg.headers;
        let utf8_addr = h.smtputf8
            && core::iter::once(&h.from)
                .chain(h.to)
                .chain(h.cc)
                .chain(h.reply_to)
                .any(|m| !m.address.is_ascii());
        let eight = [Leaf::Text, Leaf::Html]
            .into_iter()
            .chain((0..N).map(Leaf::Part))
            .filter_map(|l| self.decisions.get(l))
            .any(|d| d.enc == TransferEncoding::EightBit);
        utf8_addr || eight
    }

    fn write_boundary<S: Sink + ?Sized>(&self, s: &mut S, level: u8) {
        s.put(b"=_");
        s.put(self.token.as_bytes());
        s.put(b"_");
        s.put(&level_digit(level));
    }

    fn render_message_headers<S: Sink + ?Sized>(&self, s: &mut S) -> Result<(), MimeError> {
        let h = &self.msg.headers;
        let u = h.smtputf8;
        address_list(s, "From", core::slice::from_ref(&h.from), u)?;
        address_list(s, "To", h.to, u)?;
        address_list(s, "Cc", h.cc, u)?;
        address_list(s, "Reply-To", h.reply_to, u)?;
        if let Some(subj) = h.subject {
            text_header(s, "Subject", subj)?;
        }
        if let Some(d) = h.date {
            date_header(s, d)?;
        }
        if let Some(id) = h.message_id {
            check_value(id.token.as_bytes())?;
            check_value(id.domain.as_bytes())?;
            let inner_ok = !id.token.contains('@')
                && !id.domain.contains('@')
                && check_id_inner_parts(id.token, id.domain);
            if !inner_ok {
                return Err(MimeError::InvalidMessageId);
            }
            s.put(b"Message-ID: <");
            s.put(id.token.as_bytes());
            s.put(b"@");
            s.put(id.domain.as_bytes());
            s.put(b">\r\n");
        }
        if let Some(irt) = h.in_reply_to {
            id_list(s, "In-Reply-To", &[irt])?;
        }
        id_list(s, "References", h.references)?;
        for (name, value) in h.extra {
            check_name(name)?;
            if postwire_core::ascii::starts_with_ignore_case(name.as_bytes(), b"content-")
                || name.eq_ignore_ascii_case("mime-version")
            {
                return Err(MimeError::InvalidHeader);
            }
            text_header(s, name, value)?;
        }
        s.put(b"MIME-Version: 1.0\r\n");
        Ok(())
    }

    fn render_leaf_headers<S: Sink + ?Sized>(
        &self,
        l: Leaf,
        s: &mut S,
        validating: bool,
    ) -> Result<(), MimeError> {
        let meta = self.msg.meta(l);
        let d = match self.decisions.get(l) {
            Some(d) => d,
            None if validating => Decision {
                enc: TransferEncoding::QuotedPrintable,
                charset: Some("utf-8"),
                text: true,
            },
            None => return Err(MimeError::Malformed),
        };
        let mut f = Fold::start(s, "Content-Type");
        f.token(&[meta.content_type.as_bytes()]);
        if let Some(cs) = d.charset {
            header::param(&mut f, "charset", cs)?;
        }
        if let Some(name) = meta.filename {
            header::param(&mut f, "name", name)?;
        }
        f.end();
        s.put(b"Content-Transfer-Encoding: ");
        s.put(d.enc.name().as_bytes());
        s.put(b"\r\n");
        if let Some(id) = meta.content_id {
            s.put(b"Content-ID: <");
            s.put(id.as_bytes());
            s.put(b">\r\n");
        }
        if let Some(disp) = meta.disposition {
            let mut f = Fold::start(s, "Content-Disposition");
            f.token(&[disp.as_bytes()]);
            if let Some(name) = meta.filename {
                header::param(&mut f, "filename", name)?;
            }
            f.end();
        }
        Ok(())
    }

    fn render<S: Sink + ?Sized>(
        &self,
        step: Step,
        s: &mut S,
        validating: bool,
    ) -> Result<(), MimeError> {
        match step {
            Step::Headers { top, node, level } => {
                if top {
                    self.render_message_headers(s)?;
                }
                match node {
                    Node::Multi(kind) => {
                        let mut f = Fold::start(s, "Content-Type");
                        f.token(&[b"multipart/", kind.name()]);
                        f.glue(b";");
                        f.token(&[
                            b"boundary=\"=_",
                            self.token.as_bytes(),
                            b"_",
                            &level_digit(level),
                            b"\"",
                        ]);
                        f.end();
                    }
                    Node::Leaf(l) => self.render_leaf_headers(l, s, validating)?,
                }
                s.put(b"\r\n");
            }
            Step::Open { level } => {
                s.put(b"--");
                self.write_boundary(s, level);
                s.put(b"\r\n");
            }
            Step::Next { level } => {
                s.put(b"\r\n--");
                self.write_boundary(s, level);
                s.put(b"\r\n");
            }
            Step::Close { level } => {
                s.put(b"\r\n--");
                self.write_boundary(s, level);
                s.put(b"--");
            }
            Step::End => s.put(b"\r\n"),
            Step::Body(_) => {}
        }
        Ok(())
    }
}

fn check_id_inner_parts(token: &str, domain: &str) -> bool {
    // `token@domain` must be a valid msg-id inside; checked without building it.
    let ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| (33..=126).contains(&b) && !b"<>\"\\()[],;:@".contains(&b))
    };
    ok(token) && ok(domain) && token.len() + domain.len() < 250
}

impl<'a, R: Read, const N: usize> Composer<'a, R, N> {
    /// Read the look-ahead of a text part from a reader and decide its encoding.
    async fn prefetch(&mut self, l: Leaf) -> Result<(), ComposeError<R::Error>> {
        if self.decisions.get(l).is_some() || self.prefetched {
            return Ok(());
        }
        let Composer {
            msg,
            inbuf,
            in_end,
            in_eof,
            ..
        } = self;
        if let Some(Body::Text(Source::Reader(r))) = msg.body_mut(l) {
            while *in_end < inbuf.len() {
                let dst = inbuf.get_mut(*in_end..).unwrap_or_default();
                let n = r.read(dst).await.map_err(ComposeError::Io)?;
                if n == 0 {
                    *in_eof = true;
                    break;
                }
                *in_end += n;
            }
        }
        let prefix = self.inbuf.get(..self.in_end).unwrap_or_default();
        let d = decide_text(prefix, self.in_eof)?;
        self.decisions.set(l, d);
        self.in_start = 0;
        self.prefetched = true;
        Ok(())
    }

    /// Write body bytes of leaf `l`; returns `(written, done)`.
    async fn body_step(
        &mut self,
        l: Leaf,
        out: &mut [u8],
    ) -> Result<(usize, bool), ComposeError<R::Error>> {
        let single = matches!(self.msg.root(), Node::Leaf(_));
        if !self.body.started {
            let d = self.decisions.get(l).ok_or(MimeError::Malformed)?;
            self.body = BodyState::new();
            self.body.started = true;
            self.body.text = d.text;
            self.body.enc = match d.enc {
                TransferEncoding::SevenBit => Enc::Copy { seven: true },
                TransferEncoding::EightBit => Enc::Copy { seven: false },
                TransferEncoding::QuotedPrintable => Enc::Qp(QpEncoder::new(if d.text {
                    QpOptions::TEXT
                } else {
                    QpOptions::BINARY
                })),
                TransferEncoding::Base64 => Enc::B64(Base64Encoder::new(76)),
            };
        }
        let token = self.token.as_bytes();
        let pattern = Pattern { token };
        let mut o = 0;
        loop {
            if self.body.in_tail {
                let src = self
                    .body
                    .tail
                    .get(self.body.tail_pos..self.body.tail_len)
                    .unwrap_or_default();
                let dst = out.get_mut(o..).unwrap_or_default();
                let n = src.len().min(dst.len());
                if let (Some(d), Some(s)) = (dst.get_mut(..n), src.get(..n)) {
                    d.copy_from_slice(s);
                }
                o += n;
                self.body.tail_pos += n;
                return Ok((o, self.body.tail_pos >= self.body.tail_len));
            }
            if out.len() - o < MIN_OUT {
                return Ok((o, false));
            }
            let Composer {
                msg,
                body,
                inbuf,
                in_start,
                in_end,
                in_eof,
                ..
            } = self;
            let source = msg.body_mut(l).map(Body::source_mut);
            match source {
                Some(Source::Bytes(b)) => {
                    let input = b.get(body.pos..).unwrap_or_default();
                    if input.is_empty() {
                        body.start_tail(single)?;
                        continue;
                    }
                    let (c, w) =
                        body.encode(input, out.get_mut(o..).unwrap_or_default(), &pattern)?;
                    body.pos += c;
                    o += w;
                    if c == 0 && w == 0 {
                        return Ok((o, false));
                    }
                }
                Some(Source::Reader(r)) => {
                    if *in_start >= *in_end {
                        if *in_eof {
                            body.start_tail(single)?;
                            continue;
                        }
                        let n = r.read(inbuf).await.map_err(ComposeError::Io)?;
                        *in_start = 0;
                        *in_end = n;
                        if n == 0 {
                            *in_eof = true;
                        }
                        continue;
                    }
                    let input = inbuf.get(*in_start..*in_end).unwrap_or_default();
                    let (c, w) =
                        body.encode(input, out.get_mut(o..).unwrap_or_default(), &pattern)?;
                    *in_start += c;
                    o += w;
                    if c == 0 && w == 0 {
                        return Ok((o, false));
                    }
                }
                None => {
                    body.start_tail(single)?;
                }
            }
        }
    }

    async fn produce(&mut self, out: &mut [u8]) -> Result<usize, ComposeError<R::Error>> {
        if let Some(e) = self.failed {
            return Err(ComposeError::Mime(e));
        }
        let r = self.produce_inner(out).await;
        if let Err(e) = &r {
            self.failed = Some(match e {
                ComposeError::Mime(m) => *m,
                ComposeError::Io(_) => MimeError::Malformed,
            });
        }
        r
    }

    async fn produce_inner(&mut self, out: &mut [u8]) -> Result<usize, ComposeError<R::Error>> {
        let mut o = 0;
        while o < out.len() {
            let Some(step) = self.msg.step_at(self.step) else {
                break;
            };
            match step {
                Step::Body(l) => {
                    let (n, done) = self
                        .body_step(l, out.get_mut(o..).unwrap_or_default())
                        .await?;
                    o += n;
                    if done {
                        self.step += 1;
                        self.body = BodyState::new();
                        self.in_start = 0;
                        self.in_end = 0;
                        self.in_eof = false;
                        self.prefetched = false;
                    } else {
                        break;
                    }
                }
                s => {
                    if self.offset == 0
                        && let Step::Headers {
                            node: Node::Leaf(l),
                            ..
                        } = s
                    {
                        self.prefetch(l).await?;
                    }
                    let mut w = Window::new(self.offset, out.get_mut(o..).unwrap_or_default());
                    self.render(s, &mut w, false)?;
                    let (written, total) = (w.written(), w.total());
                    self.offset += written;
                    o += written;
                    if self.offset >= total {
                        self.step += 1;
                        self.offset = 0;
                    }
                }
            }
        }
        Ok(o)
    }

    /// Push the whole message into `w`. Errors of the source and of the writer are reported
    /// by kind.
    pub async fn write_to<W: Write>(
        &mut self,
        w: &mut W,
    ) -> Result<usize, ComposeError<embedded_io_async::ErrorKind>> {
        use embedded_io_async::Error as _;
        let mut buf = [0u8; 256];
        let mut total = 0;
        loop {
            let n = match self.produce(&mut buf).await {
                Ok(n) => n,
                Err(ComposeError::Io(e)) => return Err(ComposeError::Io(e.kind())),
                Err(ComposeError::Mime(m)) => return Err(ComposeError::Mime(m)),
            };
            if n == 0 {
                return Ok(total);
            }
            w.write_all(buf.get(..n).unwrap_or_default())
                .await
                .map_err(|e| ComposeError::Io(e.kind()))?;
            total += n;
        }
    }

    /// Drive the composer synchronously, handing each chunk to `sink`; returns the message
    /// length. For sources that never wait (memory, files on the host): a source that returns
    /// `Pending` fails the composition with [`MimeError::WouldBlock`].
    pub fn write_sync(
        &mut self,
        mut sink: impl FnMut(&[u8]),
    ) -> Result<usize, ComposeError<R::Error>> {
        let mut buf = [0u8; 512];
        let mut cx = Context::from_waker(core::task::Waker::noop());
        let mut total = 0;
        loop {
            let r = {
                let fut = pin!(self.produce(&mut buf));
                poll_once(fut, &mut cx)
            };
            match r {
                Poll::Ready(Ok(0)) => return Ok(total),
                Poll::Ready(Ok(n)) => {
                    sink(buf.get(..n).unwrap_or_default());
                    total += n;
                }
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => {
                    self.failed = Some(MimeError::WouldBlock);
                    return Err(ComposeError::Mime(MimeError::WouldBlock));
                }
            }
        }
    }
}

fn poll_once<F: Future>(fut: core::pin::Pin<&mut F>, cx: &mut Context<'_>) -> Poll<F::Output> {
    fut.poll(cx)
}

impl<'a, R: Read, const N: usize> ErrorType for Composer<'a, R, N> {
    type Error = ComposeError<R::Error>;
}

impl<'a, R: Read, const N: usize> Read for Composer<'a, R, N> {
    /// The next bytes of the message; `Ok(0)` at the end. Not cancel-safe: a dropped read
    /// loses the bytes it produced (the message is then broken).
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.carry_pos >= self.carry_len && buf.len() >= MIN_OUT {
            return self.produce(buf).await;
        }
        if self.carry_pos >= self.carry_len {
            let mut carry = [0u8; MIN_OUT];
            let n = self.produce(&mut carry).await?;
            self.carry = carry;
            self.carry_len = n;
            self.carry_pos = 0;
        }
        let src = self
            .carry
            .get(self.carry_pos..self.carry_len)
            .unwrap_or_default();
        let n = src.len().min(buf.len());
        if let (Some(d), Some(s)) = (buf.get_mut(..n), src.get(..n)) {
            d.copy_from_slice(s);
        }
        self.carry_pos += n;
        Ok(n)
    }
}
