//! ENVELOPE and BODYSTRUCTURE as lazily parsed views over the response bytes.
//!
//! The response parser validates the whole structure once (bounded nesting, see
//! [`MAX_NESTING`](super::MAX_NESTING)) and records where it starts. Accessors re-read the
//! requested field from the raw bytes: nothing is copied and nothing is allocated, and a
//! caller that never looks at a structure pays only for the validation pass.

use core::fmt;

use super::Error;
use super::lex::{Cursor, IStr, PResult};
use super::list::{Strings, Values, p_string, paren_list};

/// An ENVELOPE (RFC 3501 §7.4.2) view.
#[derive(Clone, Copy, PartialEq)]
pub struct Envelope<'a> {
    c: Cursor<'a>,
    fields: [u32; 10],
}

/// One ENVELOPE address: `(name adl mailbox host)`. In a group, a `mailbox` without `host`
/// starts the group (mailbox = group name) and an all-NIL-host address ends it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Address<'a> {
    /// The display name.
    pub name: Option<IStr<'a>>,
    /// The source route (obsolete).
    pub adl: Option<IStr<'a>>,
    /// The local part (or group name).
    pub mailbox: Option<IStr<'a>>,
    /// The domain.
    pub host: Option<IStr<'a>>,
}

/// A lazily parsed address list.
#[derive(Clone, Copy, PartialEq)]
pub struct Addresses<'a> {
    c: Cursor<'a>,
}

impl<'a> Iterator for Addresses<'a> {
    type Item = Address<'a>;
    fn next(&mut self) -> Option<Address<'a>> {
        while self.c.peek() == Some(b' ') {
            self.c.pos += 1;
        }
        if self.c.peek() != Some(b'(') {
            return None;
        }
        address(&mut self.c).ok()
    }
}

impl fmt::Debug for Addresses<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(*self).finish()
    }
}

fn address<'a>(c: &mut Cursor<'a>) -> PResult<Address<'a>> {
    c.byte(b'(')?;
    let name = c.nstring()?;
    c.sp_lenient()?;
    let adl = c.nstring()?;
    c.sp_lenient()?;
    let mailbox = c.nstring()?;
    c.sp_lenient()?;
    let host = c.nstring()?;
    c.byte(b')')?;
    Ok(Address {
        name,
        adl,
        mailbox,
        host,
    })
}

/// Validate one address like [`address`] without producing it.
#[inline]
fn skip_address(c: &mut Cursor<'_>) -> PResult<()> {
    c.byte(b'(')?;
    c.skip_nstring()?;
    c.sp_lenient()?;
    c.skip_nstring()?;
    c.sp_lenient()?;
    c.skip_nstring()?;
    c.sp_lenient()?;
    c.skip_nstring()?;
    c.byte(b')')
}

fn address_list(c: &mut Cursor<'_>) -> PResult<()> {
    if c.nil() {
        return Ok(());
    }
    c.byte(b'(')?;
    loop {
        c.eat(b' ');
        if c.eat(b')') {
            return Ok(());
        }
        skip_address(c)?;
    }
}

pub(crate) fn envelope<'a>(c: &mut Cursor<'a>) -> PResult<Envelope<'a>> {
    let base = *c;
    c.byte(b'(')?;
    // Written out field by field (no loop over a field index): each test then has its own
    // branch history.
    let mut fields = [0u32; 10];
    let [
        date,
        subject,
        from,
        sender,
        reply_to,
        to,
        cc,
        bcc,
        in_reply_to,
        message_id,
    ] = &mut fields;
    *date = pos32(c)?;
    c.skip_nstring()?;
    c.sp_lenient()?;
    *subject = pos32(c)?;
    c.skip_nstring()?;
    for f in [from, sender, reply_to, to, cc, bcc] {
        c.sp_lenient()?;
        *f = pos32(c)?;
        address_list(c)?;
    }
    c.sp_lenient()?;
    *in_reply_to = pos32(c)?;
    c.skip_nstring()?;
    c.sp_lenient()?;
    *message_id = pos32(c)?;
    c.skip_nstring()?;
    c.eat(b' ');
    c.byte(b')')?;
    Ok(Envelope { c: base, fields })
}

impl<'a> Envelope<'a> {
    fn at(&self, i: usize) -> Cursor<'a> {
        let mut c = self.c;
        c.pos = self.fields.get(i).map_or(c.end, |&p| p as usize);
        c
    }
    fn nstring(&self, i: usize) -> Option<IStr<'a>> {
        self.at(i).nstring().ok().flatten()
    }
    fn addresses(&self, i: usize) -> Option<Addresses<'a>> {
        let mut c = self.at(i);
        if c.nil() {
            return None;
        }
        c.pos += 1;
        Some(Addresses { c })
    }
    /// `Date:` (NIL → `None`).
    pub fn date(&self) -> Option<IStr<'a>> {
        self.nstring(0)
    }
    /// `Subject:`.
    pub fn subject(&self) -> Option<IStr<'a>> {
        self.nstring(1)
    }
    /// `From:` (NIL → `None`).
    pub fn from(&self) -> Option<Addresses<'a>> {
        self.addresses(2)
    }
    /// `Sender:`.
    pub fn sender(&self) -> Option<Addresses<'a>> {
        self.addresses(3)
    }
    /// `Reply-To:`.
    pub fn reply_to(&self) -> Option<Addresses<'a>> {
        self.addresses(4)
    }
    /// `To:`.
    pub fn to(&self) -> Option<Addresses<'a>> {
        self.addresses(5)
    }
    /// `Cc:`.
    pub fn cc(&self) -> Option<Addresses<'a>> {
        self.addresses(6)
    }
    /// `Bcc:`.
    pub fn bcc(&self) -> Option<Addresses<'a>> {
        self.addresses(7)
    }
    /// `In-Reply-To:`.
    pub fn in_reply_to(&self) -> Option<IStr<'a>> {
        self.nstring(8)
    }
    /// `Message-ID:`.
    pub fn message_id(&self) -> Option<IStr<'a>> {
        self.nstring(9)
    }
}

impl fmt::Debug for Envelope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("date", &self.date())
            .field("subject", &self.subject())
            .field("from", &self.from())
            .field("to", &self.to())
            .field("message_id", &self.message_id())
            .finish_non_exhaustive()
    }
}

/// Parameters `(name value name value ...)` of a body part or disposition.
#[derive(Clone, Copy, PartialEq)]
pub struct Params<'a> {
    c: Cursor<'a>,
}

impl<'a> Iterator for Params<'a> {
    /// `(name, value)`; a NIL value (a server quirk) is `None`.
    type Item = (IStr<'a>, Option<IStr<'a>>);
    fn next(&mut self) -> Option<Self::Item> {
        while self.c.peek() == Some(b' ') {
            self.c.pos += 1;
        }
        if self.c.peek() == Some(b')') || self.c.at_end() {
            return None;
        }
        let k = self.c.string().ok()?;
        self.c.sp_lenient().ok()?;
        let v = self.c.nstring().ok()?;
        Some((k, v))
    }
}

impl fmt::Debug for Params<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(*self).finish()
    }
}

/// `body-fld-param`: NIL or a parenthesised list of pairs (an empty list is tolerated).
fn params<'a>(c: &mut Cursor<'a>) -> PResult<Option<Params<'a>>> {
    if c.nil() {
        return Ok(None);
    }
    c.byte(b'(')?;
    let view = Params { c: *c };
    let mut first = true;
    loop {
        if c.eat(b')') {
            return Ok(Some(view));
        }
        if !first {
            c.sp_lenient()?;
            if c.eat(b')') {
                return Ok(Some(view));
            }
        }
        first = false;
        c.skip_string()?;
        c.sp_lenient()?;
        c.skip_nstring()?;
    }
}

/// A `Content-Disposition` from BODYSTRUCTURE extension data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Disposition<'a> {
    /// `inline`, `attachment`, ...
    pub kind: IStr<'a>,
    /// Its parameters.
    pub params: Option<Params<'a>>,
}

fn disposition<'a>(c: &mut Cursor<'a>) -> PResult<Option<Disposition<'a>>> {
    if c.nil() {
        return Ok(None);
    }
    c.byte(b'(')?;
    let kind = c.string()?;
    c.sp_lenient()?;
    let params = params(c)?;
    c.eat(b' ');
    c.byte(b')')?;
    Ok(Some(Disposition { kind, params }))
}

/// `body-fld-lang`: one string or a list of strings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Languages<'a> {
    /// A single language tag.
    One(IStr<'a>),
    /// A list of language tags.
    List(Strings<'a>),
}

fn languages<'a>(c: &mut Cursor<'a>) -> PResult<Option<Languages<'a>>> {
    if c.peek() == Some(b'(') {
        return paren_list(c, p_string).map(|l| Some(Languages::List(l)));
    }
    Ok(c.nstring()?.map(Languages::One))
}

/// A BODY / BODYSTRUCTURE view (RFC 3501 §7.4.2), single part or multipart.
#[derive(Clone, Copy, PartialEq)]
pub struct BodyStructure<'a> {
    c: Cursor<'a>,
    f: Fields,
}

/// Positions of the fields of one body (relative to the frame), found while validating.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Fields {
    multipart: bool,
    /// multipart: first part; single: media type.
    first: u32,
    /// Subtype (both kinds).
    subtype: u32,
    /// single part: the body fields (param); multipart: extension params (0 = absent).
    params: u32,
    size: u64,
    lines: Option<u64>,
    /// message/rfc822: envelope position (0 = absent).
    envelope: u32,
    /// message/rfc822: body position.
    body: u32,
    /// Extension fields: md5 (single only), disposition, language, location, rest.
    ext: [u32; 5],
}

fn pos32(c: &Cursor<'_>) -> PResult<u32> {
    u32::try_from(c.pos).map_err(|_| Error::Malformed { offset: c.pos })
}

/// Parse and validate a body; `depth` bounds the nesting.
pub(crate) fn body<'a>(c: &mut Cursor<'a>, depth: u8) -> PResult<BodyStructure<'a>> {
    let base = *c;
    let f = body_fields(c, depth)?;
    Ok(BodyStructure { c: base, f })
}

fn body_fields(c: &mut Cursor<'_>, depth: u8) -> PResult<Fields> {
    if depth == 0 {
        return Err(Error::TooDeep);
    }
    c.byte(b'(')?;
    let mut f = Fields::default();
    if c.peek() == Some(b'(') {
        f.multipart = true;
        f.first = pos32(c)?;
        loop {
            body_fields(c, depth - 1)?;
            if c.peek() == Some(b' ') && c.peek_at(1) == Some(b'(') {
                c.pos += 1;
            }
            if c.peek() != Some(b'(') {
                break;
            }
        }
        c.sp()?;
        f.subtype = pos32(c)?;
        c.astring()?;
        if c.peek() == Some(b' ') && c.peek_at(1) != Some(b')') {
            c.pos += 1;
            f.params = pos32(c)?;
            params(c)?;
            ext_tail(c, &mut f)?;
        }
    } else {
        f.first = pos32(c)?;
        let media = c.astring()?;
        c.sp_lenient()?;
        f.subtype = pos32(c)?;
        let sub = c.astring()?;
        c.sp_lenient()?;
        f.params = pos32(c)?;
        params(c)?;
        c.sp_lenient()?;
        c.skip_nstring_lenient()?;
        c.sp_lenient()?;
        c.skip_nstring_lenient()?;
        c.sp_lenient()?;
        c.skip_nstring_lenient()?;
        c.sp_lenient()?;
        f.size = c.number()?;
        if media.eq_ignore_ascii_case(b"MESSAGE")
            && (sub.eq_ignore_ascii_case(b"RFC822") || sub.eq_ignore_ascii_case(b"GLOBAL"))
        {
            let save = *c;
            let ok = (|| -> PResult<(u32, u32, u64)> {
                c.sp()?;
                let e = pos32(c)?;
                envelope(c)?;
                c.sp_lenient()?;
                let b = pos32(c)?;
                body_fields(c, depth - 1)?;
                c.sp_lenient()?;
                Ok((e, b, c.number()?))
            })();
            match ok {
                Ok((e, b, l)) => {
                    f.envelope = e;
                    f.body = b;
                    f.lines = Some(l);
                }
                Err(Error::TooDeep) => return Err(Error::TooDeep),
                Err(_) => *c = save,
            }
        } else if media.eq_ignore_ascii_case(b"TEXT") {
            c.sp()?;
            f.lines = Some(c.number()?);
        }
        if c.peek() == Some(b' ') && c.peek_at(1) != Some(b')') {
            c.pos += 1;
            f.ext[0] = pos32(c)?;
            c.skip_nstring()?;
            ext_tail(c, &mut f)?;
        }
    }
    c.eat(b' ');
    c.byte(b')')?;
    Ok(f)
}

/// `[SP dsp [SP lang [SP loc *(SP extension)]]]`, filling `f.ext[1..]`. Written out field by
/// field rather than as a loop over the field index, so that each test has its own branch
/// history.
fn ext_tail(c: &mut Cursor<'_>, f: &mut Fields) -> PResult<()> {
    #[inline(always)]
    fn next(c: &mut Cursor<'_>, slot: &mut u32) -> PResult<bool> {
        if !(c.peek() == Some(b' ') && c.peek_at(1) != Some(b')')) {
            return Ok(false);
        }
        c.pos += 1;
        *slot = pos32(c)?;
        Ok(true)
    }
    let [_, dsp, lang, loc, rest] = &mut f.ext;
    if !next(c, dsp)? {
        return Ok(());
    }
    disposition(c)?;
    if !next(c, lang)? {
        return Ok(());
    }
    languages(c)?;
    if !next(c, loc)? {
        return Ok(());
    }
    c.skip_nstring()?;
    if !next(c, rest)? {
        return Ok(());
    }
    // Any further extension values.
    loop {
        c.skip_value(super::lex::MAX_NESTING)?;
        if !(c.peek() == Some(b' ') && c.peek_at(1) != Some(b')')) {
            return Ok(());
        }
        c.pos += 1;
    }
}

impl<'a> BodyStructure<'a> {
    fn at(&self, p: u32) -> Option<Cursor<'a>> {
        if p == 0 {
            return None;
        }
        let mut c = self.c;
        c.pos = p as usize;
        Some(c)
    }

    /// Whether this is a multipart body.
    pub fn is_multipart(&self) -> bool {
        self.f.multipart
    }

    /// Media type (`TEXT`, `IMAGE`, ...); `MULTIPART` for multipart bodies.
    pub fn media_type(&self) -> IStr<'a> {
        if self.f.multipart {
            return IStr::plain(b"MULTIPART");
        }
        self.at(self.f.first)
            .and_then(|mut c| c.astring().ok())
            .unwrap_or(IStr::plain(b""))
    }

    /// Media subtype (`PLAIN`, `MIXED`, ...).
    pub fn subtype(&self) -> IStr<'a> {
        self.at(self.f.subtype)
            .and_then(|mut c| c.astring().ok())
            .unwrap_or(IStr::plain(b""))
    }

    /// Content-Type parameters. For multipart bodies they are extension data (`None` when
    /// absent or NIL).
    pub fn params(&self) -> Option<Params<'a>> {
        self.at(self.f.params)
            .and_then(|mut c| params(&mut c).ok().flatten())
    }

    /// Whether the extension params field of a multipart body is present.
    pub fn has_params_field(&self) -> bool {
        !self.f.multipart || self.f.params != 0
    }

    fn field(&self, n: usize) -> Option<Cursor<'a>> {
        if self.f.multipart {
            return None;
        }
        let mut c = self.at(self.f.params)?;
        params(&mut c).ok()?;
        for _ in 0..n {
            c.sp_lenient().ok()?;
            c.nstring_lenient().ok()?;
        }
        c.sp_lenient().ok()?;
        Some(c)
    }

    /// Content-ID (single part only).
    pub fn id(&self) -> Option<IStr<'a>> {
        self.field(0)?.nstring_lenient().ok()?
    }

    /// Content-Description (single part only).
    pub fn description(&self) -> Option<IStr<'a>> {
        self.field(1)?.nstring_lenient().ok()?
    }

    /// Content-Transfer-Encoding (single part only; NIL from a lenient server → `None`).
    pub fn encoding(&self) -> Option<IStr<'a>> {
        self.field(2)?.nstring_lenient().ok()?
    }

    /// Size in octets (0 for multipart).
    pub fn size(&self) -> u64 {
        self.f.size
    }

    /// Number of lines (TEXT and MESSAGE/RFC822 parts).
    pub fn lines(&self) -> Option<u64> {
        self.f.lines
    }

    /// The envelope of an embedded MESSAGE/RFC822.
    pub fn envelope(&self) -> Option<Envelope<'a>> {
        self.at(self.f.envelope)
            .and_then(|mut c| envelope(&mut c).ok())
    }

    /// The body of an embedded MESSAGE/RFC822.
    pub fn body(&self) -> Option<BodyStructure<'a>> {
        self.at(self.f.body)
            .and_then(|mut c| body(&mut c, super::lex::MAX_NESTING).ok())
    }

    /// The parts of a multipart body (empty for single parts).
    pub fn parts(&self) -> Parts<'a> {
        Parts {
            c: if self.f.multipart {
                self.at(self.f.first)
            } else {
                None
            },
        }
    }

    /// MD5 extension field: `None` when absent, `Some(None)` when NIL.
    pub fn md5(&self) -> Option<Option<IStr<'a>>> {
        if self.f.multipart {
            return None;
        }
        self.at(self.f.ext[0]).and_then(|mut c| c.nstring().ok())
    }

    /// Disposition extension field: `None` when absent, `Some(None)` when NIL.
    pub fn disposition(&self) -> Option<Option<Disposition<'a>>> {
        self.at(self.f.ext[1])
            .and_then(|mut c| disposition(&mut c).ok())
    }

    /// Language extension field: `None` when absent, `Some(None)` when NIL.
    pub fn language(&self) -> Option<Option<Languages<'a>>> {
        self.at(self.f.ext[2])
            .and_then(|mut c| languages(&mut c).ok())
    }

    /// Location extension field: `None` when absent, `Some(None)` when NIL.
    pub fn location(&self) -> Option<Option<IStr<'a>>> {
        self.at(self.f.ext[3]).and_then(|mut c| c.nstring().ok())
    }

    /// Further extension values (`None` when absent).
    pub fn extensions(&self) -> Option<Values<'a>> {
        let c = self.at(self.f.ext[4])?;
        let mut end = c;
        let mut f = Fields::default();
        ext_tail_end(&mut end, &mut f).ok()?;
        Some(Values::new(c.buf, c.pos, end.pos))
    }
}

fn ext_tail_end(c: &mut Cursor<'_>, _f: &mut Fields) -> PResult<()> {
    loop {
        c.skip_value(super::lex::MAX_NESTING)?;
        if !(c.peek() == Some(b' ') && c.peek_at(1) != Some(b')')) {
            return Ok(());
        }
        c.pos += 1;
    }
}

impl fmt::Debug for BodyStructure<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("BodyStructure");
        d.field("type", &self.media_type())
            .field("subtype", &self.subtype());
        if self.is_multipart() {
            d.field("parts", &self.parts());
        } else {
            d.field("size", &self.size());
        }
        d.finish_non_exhaustive()
    }
}

/// The parts of a multipart body.
#[derive(Clone, Copy, PartialEq)]
pub struct Parts<'a> {
    c: Option<Cursor<'a>>,
}

impl<'a> Iterator for Parts<'a> {
    type Item = BodyStructure<'a>;
    fn next(&mut self) -> Option<BodyStructure<'a>> {
        let c = self.c.as_mut()?;
        c.eat(b' ');
        if c.peek() != Some(b'(') {
            self.c = None;
            return None;
        }
        match body(c, super::lex::MAX_NESTING) {
            Ok(b) => Some(b),
            Err(_) => {
                self.c = None;
                None
            }
        }
    }
}

impl fmt::Debug for Parts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(*self).finish()
    }
}
