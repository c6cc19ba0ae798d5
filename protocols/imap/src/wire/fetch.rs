//! FETCH responses (RFC 3501 §7.4.2, RFC 3516 BINARY, RFC 7162 MODSEQ, Gmail, RFC 8474).

use core::fmt;

use super::Error;
use super::body::{BodyStructure, Envelope, body, envelope};
use super::lex::{Cursor, IStr, MAX_NESTING, PResult, StreamedLiteral};
use super::list::{Atoms, List, Strings, Values, p_flag, p_label, paren_list};

/// A FETCH response: `* <seq> FETCH (<items>)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fetch<'a> {
    /// Message sequence number.
    pub seq: u64,
    /// The data items.
    pub items: FetchItems<'a>,
}

/// The data items of a FETCH response, parsed on demand.
#[derive(Clone, Copy, PartialEq)]
pub struct FetchItems<'a> {
    c: Cursor<'a>,
}

impl<'a> FetchItems<'a> {
    /// The bytes the items are parsed from, and the range of the items in them (tests).
    #[cfg(test)]
    pub(crate) fn raw_parts(&self) -> (&'a [u8], usize, usize) {
        (
            self.c.buf.get(..self.c.end).unwrap_or_default(),
            self.c.pos,
            self.c.end,
        )
    }

    /// The first item with the given attribute name (case-insensitive, e.g. `b"UID"`).
    pub fn get(&self, name: &[u8]) -> Option<FetchItem<'a>> {
        self.with_names()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The UID item, if present.
    pub fn uid(&self) -> Option<u64> {
        self.into_iter().find_map(|i| match i {
            FetchItem::Uid(u) => Some(u),
            _ => None,
        })
    }

    /// Iterate `(name as on the wire, item)` pairs; the name includes a section and origin,
    /// e.g. `BODY[HEADER.FIELDS (DATE)]<0>`.
    pub fn with_names(&self) -> NamedItems<'a> {
        NamedItems { c: self.c }
    }
}

impl<'a> IntoIterator for FetchItems<'a> {
    type Item = FetchItem<'a>;
    type IntoIter = core::iter::Map<NamedItems<'a>, fn((&'a [u8], FetchItem<'a>)) -> FetchItem<'a>>;
    fn into_iter(self) -> Self::IntoIter {
        self.with_names().map(|(_, v)| v)
    }
}

impl fmt::Debug for FetchItems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.with_names()).finish()
    }
}

/// Iterator over `(name, item)` pairs of a FETCH response.
#[derive(Clone, Debug)]
pub struct NamedItems<'a> {
    c: Cursor<'a>,
}

impl<'a> Iterator for NamedItems<'a> {
    type Item = (&'a [u8], FetchItem<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        while self.c.peek() == Some(b' ') {
            self.c.pos += 1;
        }
        if self.c.at_end() {
            return None;
        }
        match item(&mut self.c) {
            Ok((name, Ok(v))) => Some((name, v)),
            _ => {
                self.c.pos = self.c.end;
                None
            }
        }
    }
}

/// One FETCH data item.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum FetchItem<'a> {
    /// `UID n`.
    Uid(u64),
    /// `FLAGS (...)`.
    Flags(Atoms<'a>),
    /// `INTERNALDATE "..."` as on the wire.
    InternalDate(IStr<'a>),
    /// `RFC822.SIZE n`.
    Rfc822Size(u64),
    /// `ENVELOPE (...)`.
    Envelope(Envelope<'a>),
    /// `BODY (...)` (no extension data).
    Body(BodyStructure<'a>),
    /// `BODYSTRUCTURE (...)`.
    BodyStructure(BodyStructure<'a>),
    /// Message content: `BODY[section]<origin>`, `BINARY[section]<origin>`, `RFC822`,
    /// `RFC822.HEADER`, `RFC822.TEXT`. `None` for NIL. The item's name (from
    /// [`FetchItems::with_names`]) holds the section.
    Section(Option<IStr<'a>>),
    /// `BINARY.SIZE[section] n`.
    BinarySize(u64),
    /// `MODSEQ (n)` (RFC 7162).
    ModSeq(u64),
    /// `X-GM-MSGID n`.
    GmMsgId(u64),
    /// `X-GM-THRID n`.
    GmThrId(u64),
    /// `X-GM-LABELS (...)`.
    GmLabels(Strings<'a>),
    /// `EMAILID (id)` (RFC 8474).
    EmailId(Option<IStr<'a>>),
    /// `THREADID (id)` or NIL (RFC 8474).
    ThreadId(Option<IStr<'a>>),
    /// `SAVEDATE "..."` or NIL (RFC 8514).
    SaveDate(Option<IStr<'a>>),
    /// An item this parser does not know, with its value.
    Other(Values<'a>),
}

/// A FETCH item whose literal value is too large for the buffer and is streamed as
/// [`Event::LiteralData`](super::Event::LiteralData).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamedItem<'a> {
    /// The item name as on the wire, e.g. `BODY[]` or `BINARY[1]<0>`.
    pub name: &'a [u8],
    /// The announced literal length.
    pub len: u64,
}

fn objectid<'a>(c: &mut Cursor<'a>) -> PResult<Option<IStr<'a>>> {
    if c.nil() {
        return Ok(None);
    }
    c.byte(b'(')?;
    let id = c.astring()?;
    c.byte(b')')?;
    Ok(Some(id))
}

/// Scan an item name, its `[section]` and `<origin>`.
fn item_name<'a>(c: &mut Cursor<'a>) -> PResult<(&'a [u8], usize)> {
    let start = c.pos;
    c.item_base();
    let base_end = c.pos;
    if base_end == start {
        return c.err();
    }
    if c.eat(b'[') {
        loop {
            c.skip_section_text();
            match c.peek() {
                Some(b']') => {
                    c.pos += 1;
                    break;
                }
                Some(b'"') => {
                    c.quoted()?;
                }
                Some(b'\r' | b'\n' | 0) | None => return c.err(),
                Some(_) => c.pos += 1,
            }
        }
        if c.eat(b'<') {
            c.number()?;
            c.byte(b'>')?;
        }
    }
    Ok((c.slice(start, c.pos), base_end - start))
}

/// The items most responses carry, recognised without scanning the name byte by byte.
#[derive(Clone, Copy)]
enum Common {
    Uid,
    Flags,
    InternalDate,
    Rfc822Size,
    Envelope,
    BodyStructure,
}

/// If the cursor is at one of the [`Common`] items, spelt in upper case (as servers send
/// them) and followed by a space, return it and the length of its name.
#[inline(always)]
fn common_item(c: &Cursor<'_>) -> Option<(Common, usize)> {
    let rest = c.rest();
    let (item, name): (Common, &[u8]) = match rest.first()? {
        b'U' if rest.starts_with(b"UID ") => (Common::Uid, b"UID"),
        b'F' if rest.starts_with(b"FLAGS ") => (Common::Flags, b"FLAGS"),
        b'I' if rest.starts_with(b"INTERNALDATE ") => (Common::InternalDate, b"INTERNALDATE"),
        b'R' if rest.starts_with(b"RFC822.SIZE ") => (Common::Rfc822Size, b"RFC822.SIZE"),
        b'E' if rest.starts_with(b"ENVELOPE ") => (Common::Envelope, b"ENVELOPE"),
        b'B' if rest.starts_with(b"BODYSTRUCTURE ") => (Common::BodyStructure, b"BODYSTRUCTURE"),
        _ => return None,
    };
    Some((item, name.len()))
}

/// Parse one item. `Ok((name, Err(StreamedLiteral)))` when its value is a streamed literal.
pub(crate) fn item<'a>(
    c: &mut Cursor<'a>,
) -> PResult<(&'a [u8], Result<FetchItem<'a>, StreamedLiteral>)> {
    // Fast path, same result as the general one below: name, one space, value.
    if let Some((common, len)) = common_item(c) {
        let name = c.slice(c.pos, c.pos + len);
        c.pos += len + 1;
        let v = match common {
            Common::Uid => FetchItem::Uid(c.nz_number()?),
            Common::Flags => FetchItem::Flags(paren_list(c, p_flag)?),
            Common::InternalDate => FetchItem::InternalDate(c.string()?),
            Common::Rfc822Size => FetchItem::Rfc822Size(c.number()?),
            Common::Envelope => FetchItem::Envelope(envelope(c)?),
            Common::BodyStructure => FetchItem::BodyStructure(body(c, MAX_NESTING)?),
        };
        return Ok((name, Ok(v)));
    }
    let (name, base_len) = item_name(c)?;
    let base = name.get(..base_len).unwrap_or_default();
    let sectioned = base_len != name.len();
    // Servers send upper case: try an exact comparison first.
    let eq = |s: &[u8]| base == s || base.eq_ignore_ascii_case(s);
    let v = if sectioned {
        if eq(b"BODY") || eq(b"BINARY") || eq(b"BODY.PEEK") {
            c.sp_lenient()?;
            return section_value(c, name);
        } else if eq(b"BINARY.SIZE") {
            c.sp()?;
            FetchItem::BinarySize(c.number()?)
        } else {
            c.sp()?;
            FetchItem::Other(other_value(c)?)
        }
    } else {
        match base.len() {
            3 if eq(b"UID") => {
                c.sp()?;
                FetchItem::Uid(c.nz_number()?)
            }
            5 if eq(b"FLAGS") => {
                c.sp()?;
                FetchItem::Flags(paren_list(c, p_flag)?)
            }
            12 if eq(b"INTERNALDATE") => {
                c.sp()?;
                FetchItem::InternalDate(c.string()?)
            }
            11 if eq(b"RFC822.SIZE") => {
                c.sp()?;
                FetchItem::Rfc822Size(c.number()?)
            }
            8 if eq(b"ENVELOPE") => {
                c.sp()?;
                FetchItem::Envelope(envelope(c)?)
            }
            4 if eq(b"BODY") => {
                c.sp()?;
                FetchItem::Body(body(c, MAX_NESTING)?)
            }
            13 if eq(b"BODYSTRUCTURE") => {
                c.sp()?;
                FetchItem::BodyStructure(body(c, MAX_NESTING)?)
            }
            6 | 11 | 13 if eq(b"RFC822") || eq(b"RFC822.TEXT") || eq(b"RFC822.HEADER") => {
                c.sp_lenient()?;
                return section_value(c, name);
            }
            6 if eq(b"MODSEQ") => {
                c.sp()?;
                c.byte(b'(')?;
                let n = c.number()?;
                c.byte(b')')?;
                FetchItem::ModSeq(n)
            }
            10 if eq(b"X-GM-MSGID") => {
                c.sp()?;
                FetchItem::GmMsgId(c.number()?)
            }
            10 if eq(b"X-GM-THRID") => {
                c.sp()?;
                FetchItem::GmThrId(c.number()?)
            }
            11 if eq(b"X-GM-LABELS") => {
                c.sp()?;
                FetchItem::GmLabels(paren_list(c, p_label)?)
            }
            7 if eq(b"EMAILID") => {
                c.sp()?;
                FetchItem::EmailId(objectid(c)?)
            }
            8 if eq(b"THREADID") => {
                c.sp()?;
                FetchItem::ThreadId(objectid(c)?)
            }
            8 if eq(b"SAVEDATE") => {
                c.sp()?;
                FetchItem::SaveDate(c.nstring()?)
            }
            _ => {
                c.sp()?;
                FetchItem::Other(other_value(c)?)
            }
        }
    };
    Ok((name, Ok(v)))
}

fn other_value<'a>(c: &mut Cursor<'a>) -> PResult<Values<'a>> {
    let start = c.pos;
    c.skip_value(MAX_NESTING)?;
    Ok(Values::new(c.buf, start, c.pos))
}

fn section_value<'a>(
    c: &mut Cursor<'a>,
    name: &'a [u8],
) -> PResult<(&'a [u8], Result<FetchItem<'a>, StreamedLiteral>)> {
    if c.nil() {
        return Ok((name, Ok(FetchItem::Section(None))));
    }
    match c.string_or_streamed()? {
        Ok(s) => Ok((name, Ok(FetchItem::Section(Some(s))))),
        Err(s) => Ok((name, Err(s))),
    }
}

/// How a FETCH item list ended.
pub(crate) enum ItemsEnd<'a> {
    /// At `)` (the response is complete).
    Closed,
    /// At a streamed literal.
    Streamed(StreamedItem<'a>),
}

/// Parse items up to `)` or a streamed literal. `first`: the list starts right after `(`.
pub(crate) fn items<'a>(
    c: &mut Cursor<'a>,
    first: bool,
) -> PResult<(FetchItems<'a>, ItemsEnd<'a>)> {
    let start = c.pos;
    let mut need_sep = !first;
    loop {
        let before = c.pos;
        if c.eat(b')') {
            let view = FetchItems {
                c: view(c, start, before),
            };
            c.finish()?;
            return Ok((view, ItemsEnd::Closed));
        }
        if need_sep {
            c.sp_lenient()?;
            if c.eat(b')') {
                let view = FetchItems {
                    c: view(c, start, c.pos - 1),
                };
                c.finish()?;
                return Ok((view, ItemsEnd::Closed));
            }
        }
        need_sep = true;
        let item_start = c.pos;
        match item(c)? {
            (_, Ok(_)) => {}
            (name, Err(StreamedLiteral(len))) => {
                if c.pos != c.buf.len() {
                    return c.err();
                }
                let view = FetchItems {
                    c: view(c, start, item_start),
                };
                return Ok((view, ItemsEnd::Streamed(StreamedItem { name, len })));
            }
        }
    }
}

fn view<'a>(c: &Cursor<'a>, start: usize, end: usize) -> Cursor<'a> {
    let mut v = Cursor::new(c.buf, end);
    v.pos = start;
    v
}

/// Unused helper kept for symmetry with other list kinds.
#[allow(dead_code)]
pub(crate) fn labels<'a>(c: &mut Cursor<'a>) -> PResult<List<'a, IStr<'a>>> {
    paren_list(c, p_label)
}

impl From<StreamedLiteral> for Error {
    fn from(s: StreamedLiteral) -> Self {
        Error::LiteralTooLarge { len: s.0 }
    }
}
