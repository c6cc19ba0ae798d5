//! Lazily parsed lists and generic values.

use core::fmt;

use super::Error;
use super::lex::{Cursor, IStr, MAX_NESTING, PResult};

/// A lazily parsed list borrowed from the response: iterating re-reads the items from the
/// raw bytes (they were validated when the response was parsed).
pub struct List<'a, T> {
    c: Cursor<'a>,
    parse: fn(&mut Cursor<'a>) -> PResult<T>,
}

impl<T> Clone for List<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for List<'_, T> {}

impl<'a, T> List<'a, T> {
    pub(crate) fn new(
        buf: &'a [u8],
        start: usize,
        end: usize,
        parse: fn(&mut Cursor<'a>) -> PResult<T>,
    ) -> Self {
        let mut c = Cursor::new(buf, end);
        c.pos = start;
        List { c, parse }
    }

    /// The raw bytes of the list's items (without the surrounding parentheses).
    pub fn raw(&self) -> &'a [u8] {
        self.c.rest()
    }

    /// Whether the list has no items.
    pub fn is_empty(&self) -> bool {
        self.c.rest().iter().all(|&b| b == b' ')
    }
}

impl<'a, T> Iterator for List<'a, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        while self.c.peek() == Some(b' ') {
            self.c.pos += 1;
        }
        if self.c.at_end() {
            return None;
        }
        match (self.parse)(&mut self.c) {
            Ok(v) => Some(v),
            Err(_) => {
                self.c.pos = self.c.end;
                None
            }
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for List<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(*self).finish()
    }
}

impl<T> PartialEq for List<'_, T> {
    fn eq(&self, other: &Self) -> bool {
        self.raw() == other.raw()
    }
}

/// Atoms (capabilities, list attributes, flags).
pub type Atoms<'a> = List<'a, &'a [u8]>;
/// IMAP strings (astrings or strings).
pub type Strings<'a> = List<'a, IStr<'a>>;
/// Numbers.
pub type Numbers<'a> = List<'a, u64>;

pub(crate) fn p_atom<'a>(c: &mut Cursor<'a>) -> PResult<&'a [u8]> {
    c.atom()
}
pub(crate) fn p_flag<'a>(c: &mut Cursor<'a>) -> PResult<&'a [u8]> {
    c.flag()
}
pub(crate) fn p_astring<'a>(c: &mut Cursor<'a>) -> PResult<IStr<'a>> {
    c.astring()
}
pub(crate) fn p_string<'a>(c: &mut Cursor<'a>) -> PResult<IStr<'a>> {
    c.string()
}
pub(crate) fn p_number(c: &mut Cursor<'_>) -> PResult<u64> {
    c.number()
}
/// A Gmail label: a `\`-flag or an astring.
pub(crate) fn p_label<'a>(c: &mut Cursor<'a>) -> PResult<IStr<'a>> {
    if c.peek() == Some(b'\\') {
        c.flag().map(IStr::plain)
    } else {
        c.astring()
    }
}

/// Parse `"(" [item *(SP item)] [SP] ")"` (spaces lenient) and return the list view.
pub(crate) fn paren_list<'a, T>(
    c: &mut Cursor<'a>,
    parse: fn(&mut Cursor<'a>) -> PResult<T>,
) -> PResult<List<'a, T>> {
    c.byte(b'(')?;
    let start = c.pos;
    loop {
        if c.eat(b')') {
            break;
        }
        if c.pos != start {
            c.sp_lenient()?;
            if c.eat(b')') {
                break;
            }
        }
        parse(c)?;
    }
    Ok(List::new(c.buf, start, c.pos - 1, parse))
}

/// Parse `*(SP item)` up to the end of the line (a single trailing space tolerated).
pub(crate) fn line_list<'a, T>(
    c: &mut Cursor<'a>,
    parse: fn(&mut Cursor<'a>) -> PResult<T>,
) -> PResult<List<'a, T>> {
    let start = c.pos;
    while !c.at_end() {
        c.sp_lenient()?;
        if c.at_end() {
            break;
        }
        parse(c)?;
    }
    Ok(List::new(c.buf, start, c.end, parse))
}

/// A generic value: extension data in BODYSTRUCTURE, unknown FETCH items, LIST extended
/// items, unknown ESEARCH data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// `NIL`.
    Nil,
    /// A number.
    Number(u64),
    /// A string (quoted or literal).
    String(IStr<'a>),
    /// An atom or other bare token (e.g. a sequence set or a flag).
    Atom(&'a [u8]),
    /// A parenthesised list of values.
    List(Values<'a>),
}

/// A lazily parsed list of [`Value`]s.
#[derive(Clone, Copy, PartialEq)]
pub struct Values<'a> {
    c: Cursor<'a>,
}

impl fmt::Debug for Values<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(*self).finish()
    }
}

impl PartialEq for Cursor<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.rest() == other.rest()
    }
}

impl<'a> Values<'a> {
    pub(crate) fn new(buf: &'a [u8], start: usize, end: usize) -> Self {
        let mut c = Cursor::new(buf, end);
        c.pos = start;
        Values { c }
    }
}

impl<'a> Iterator for Values<'a> {
    type Item = Value<'a>;

    fn next(&mut self) -> Option<Value<'a>> {
        while self.c.peek() == Some(b' ') {
            self.c.pos += 1;
        }
        if self.c.at_end() {
            return None;
        }
        match value(&mut self.c, MAX_NESTING) {
            Ok(v) => Some(v),
            Err(_) => {
                self.c.pos = self.c.end;
                None
            }
        }
    }
}

/// Parse one generic value.
pub(crate) fn value<'a>(c: &mut Cursor<'a>, depth: u8) -> PResult<Value<'a>> {
    match c.peek() {
        Some(b'(') => {
            let start = c.pos + 1;
            c.skip_value(depth)?;
            Ok(Value::List(Values::new(c.buf, start, c.pos - 1)))
        }
        Some(b'"' | b'{') => c.string().map(Value::String),
        Some(b'~') if c.peek_at(1) == Some(b'{') => c.string().map(Value::String),
        Some(b) if b.is_ascii_digit() => {
            let start = c.pos;
            let n = c.number()?;
            if c.peek().is_some_and(super::lex::is_atom_char) {
                c.pos = start;
                c.atom().map(Value::Atom)
            } else {
                Ok(Value::Number(n))
            }
        }
        Some(b'\\') => c.flag().map(Value::Atom),
        _ => {
            if c.nil() {
                return Ok(Value::Nil);
            }
            let s = c.astring()?;
            Ok(Value::Atom(s.raw()))
        }
    }
}

/// A sequence set from a response (`1:5,7`), as inclusive ranges in wire order.
#[derive(Clone, Copy, PartialEq)]
pub struct SeqSet<'a> {
    raw: &'a [u8],
}

impl fmt::Debug for SeqSet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(*self).finish()
    }
}

impl<'a> SeqSet<'a> {
    /// The set as on the wire.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }
}

/// Parse a sequence set of non-zero numbers (no `*`).
pub(crate) fn seq_set<'a>(c: &mut Cursor<'a>) -> PResult<SeqSet<'a>> {
    let start = c.pos;
    loop {
        c.nz_number()?;
        if c.eat(b':') {
            c.nz_number()?;
        }
        if !c.eat(b',') {
            break;
        }
    }
    Ok(SeqSet {
        raw: c.slice(start, c.pos),
    })
}

impl Iterator for SeqSet<'_> {
    /// `(first, last)` as written (`first` may be larger than `last`).
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        if self.raw.is_empty() {
            return None;
        }
        let mut c = Cursor::new(self.raw, self.raw.len());
        let a = c.number().ok()?;
        let b = if c.eat(b':') { c.number().ok()? } else { a };
        c.eat(b',');
        self.raw = c.rest();
        Some((a, b))
    }
}

/// Map a cursor error to the cursor position (helper for callers that need `Error`).
#[allow(dead_code)]
pub(crate) fn malformed(c: &Cursor<'_>) -> Error {
    Error::Malformed { offset: c.pos }
}
