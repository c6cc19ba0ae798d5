//! "The text of this message": the first `text/plain` part that is not an attachment, else
//! the first `text/html` one, decoded (transfer encoding removed, converted to UTF-8 when the
//! charset is supported) into a caller buffer.
//!
//! One pass, no look-back: an HTML part met first is kept in the output buffer and replaced
//! when a plain-text part follows.
//!
//! ```
//! use postwire_mime::text::{text_of_message, TextKind};
//! let msg = b"Content-Type: text/plain; charset=iso-8859-1\r\n\
//!             Content-Transfer-Encoding: quoted-printable\r\n\r\nTemp=E9rature: 31 =B0C\r\n";
//! let (mut buf, mut out) = ([0u8; 256], [0u8; 64]);
//! let t = text_of_message(msg, &mut buf, &mut out).unwrap().unwrap();
//! assert_eq!(t.kind, TextKind::Plain);
//! assert_eq!(&out[..t.len], "Température: 31 °C\r\n".as_bytes());
//! ```

use embedded_io_async::Read;

use crate::charset::Charset;
use crate::error::MimeError;
use crate::reader::{Disposition, Event, MIN_OUT, Reader};

/// Which kind of part the text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TextKind {
    /// `text/plain`.
    Plain,
    /// `text/html`.
    Html,
}

/// The text found (its bytes are in the caller's buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Text {
    /// Plain or HTML.
    pub kind: TextKind,
    /// Bytes written.
    pub len: usize,
    /// The text did not fit: the buffer holds its beginning.
    pub truncated: bool,
    /// The part's charset is not supported: the bytes are as sent, not UTF-8.
    pub unconverted: bool,
}

/// Collects the text from reader events (sans-I/O; [`text_of_message`] drives it).
#[derive(Debug, Clone, Copy, Default)]
pub struct TextExtractor {
    best: Option<TextKind>,
    capturing: Option<(usize, Charset)>,
    len: usize,
    truncated: bool,
    unconverted: bool,
}

impl TextExtractor {
    /// A new extractor.
    pub const fn new() -> Self {
        TextExtractor {
            best: None,
            capturing: None,
            len: 0,
            truncated: false,
            unconverted: false,
        }
    }

    /// Feed one reader event; text bytes go to `out`.
    pub fn event(&mut self, ev: &Event<'_>, out: &mut [u8]) {
        match ev {
            Event::PartStart(p) => {
                if p.is_multipart() || p.is_message() || !p.is_text() {
                    return;
                }
                if p.disposition == Disposition::Attachment {
                    return;
                }
                let kind = match p.subtype() {
                    b"plain" => TextKind::Plain,
                    b"html" => TextKind::Html,
                    _ => return,
                };
                let take = matches!(
                    (self.best, kind),
                    (None, _) | (Some(TextKind::Html), TextKind::Plain)
                );
                if take {
                    self.best = Some(kind);
                    self.len = 0;
                    self.truncated = false;
                    let cs = Charset::from_label(p.charset().unwrap_or(b"us-ascii"));
                    self.unconverted = cs == Charset::Other;
                    self.capturing = Some((p.depth, cs));
                }
            }
            Event::Body(b) => {
                if let Some((_, cs)) = self.capturing {
                    let dst = out.get_mut(self.len..).unwrap_or_default();
                    let (c, w) = cs.to_utf8(b, dst);
                    self.len += w;
                    self.truncated |= c < b.len();
                }
            }
            Event::PartEnd { depth } => {
                if matches!(self.capturing, Some((d, _)) if d == *depth) {
                    self.capturing = None;
                }
            }
            _ => {}
        }
    }

    /// The result: `None` when the message has no text part.
    pub fn result(&self) -> Option<Text> {
        self.best.map(|kind| Text {
            kind,
            len: self.len,
            truncated: self.truncated,
            unconverted: self.unconverted,
        })
    }
}

/// The text of a message held in memory. `buf` is the reader's header buffer (see
/// [`Reader::new`]), `out` receives the text.
pub fn text_of_message(
    msg: &[u8],
    buf: &mut [u8],
    out: &mut [u8],
) -> Result<Option<Text>, MimeError> {
    let mut reader = Reader::new(buf)?;
    let mut ex = TextExtractor::new();
    let mut chunk = [0u8; MIN_OUT * 4];
    let mut input = msg;
    loop {
        let (n, ev) = reader.next(input, &mut chunk)?;
        input = input.get(n..).unwrap_or_default();
        match ev {
            None => reader.finish(),
            Some(Event::End) => return Ok(ex.result()),
            Some(ev) => ex.event(&ev, out),
        }
    }
}

/// The text of a message read from `src` (e.g. a POP3 RETR or IMAP FETCH body), in one pass
/// through a 256-byte input chunk.
pub async fn read_text_of_message<R: Read>(
    mut src: R,
    buf: &mut [u8],
    out: &mut [u8],
) -> Result<Option<Text>, crate::error::ComposeError<R::Error>> {
    let mut reader = Reader::new(buf)?;
    let mut ex = TextExtractor::new();
    let mut chunk = [0u8; MIN_OUT * 4];
    let mut inbuf = [0u8; 256];
    let (mut start, mut end) = (0usize, 0usize);
    loop {
        let input = inbuf.get(start..end).unwrap_or_default();
        let (n, ev) = reader.next(input, &mut chunk)?;
        start += n;
        match ev {
            None => {
                let got = src
                    .read(&mut inbuf)
                    .await
                    .map_err(crate::error::ComposeError::Io)?;
                start = 0;
                end = got;
                if got == 0 {
                    reader.finish();
                }
            }
            Some(Event::End) => return Ok(ex.result()),
            Some(ev) => ex.event(&ev, out),
        }
    }
}
