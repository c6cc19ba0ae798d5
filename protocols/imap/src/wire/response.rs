//! Response types and the parser of one framed response.

use super::Error;
use super::fetch::{Fetch, FetchItems, ItemsEnd, StreamedItem, items};
use super::lex::{Cursor, IStr, MAX_NESTING, PResult, is_atom_char};
use super::list::{
    Atoms, List, Numbers, SeqSet, Strings, Values, line_list, p_astring, p_atom, p_flag, p_number,
    p_string, paren_list, seq_set, value,
};

/// The status of a status response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StatusKind {
    /// `OK`.
    Ok,
    /// `NO`.
    No,
    /// `BAD`.
    Bad,
    /// `PREAUTH` (greeting only).
    PreAuth,
    /// `BYE`.
    Bye,
}

impl StatusKind {
    /// The keyword as on the wire (upper case).
    pub const fn as_str(self) -> &'static str {
        match self {
            StatusKind::Ok => "OK",
            StatusKind::No => "NO",
            StatusKind::Bad => "BAD",
            StatusKind::PreAuth => "PREAUTH",
            StatusKind::Bye => "BYE",
        }
    }
}

/// `[METADATA ...]` response code data (RFC 5464).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MetadataCode {
    /// `LONGENTRIES n`.
    LongEntries(u64),
    /// `MAXSIZE n`.
    MaxSize(u64),
    /// `TOOMANY`.
    TooMany,
    /// `NOPRIVATE`.
    NoPrivate,
}

/// A response code (`[...]` at the start of a response text).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Code<'a> {
    /// `ALERT`.
    Alert,
    /// `BADCHARSET [(charsets)]`.
    BadCharset(Option<Strings<'a>>),
    /// `CAPABILITY ...`.
    Capability(Atoms<'a>),
    /// `PARSE`.
    Parse,
    /// `PERMANENTFLAGS (...)`.
    PermanentFlags(Atoms<'a>),
    /// `READ-ONLY`.
    ReadOnly,
    /// `READ-WRITE`.
    ReadWrite,
    /// `TRYCREATE`.
    TryCreate,
    /// `UIDNEXT n`.
    UidNext(u64),
    /// `UIDVALIDITY n`.
    UidValidity(u64),
    /// `UNSEEN n`.
    Unseen(u64),
    /// `APPENDUID uidvalidity uids` (RFC 4315).
    AppendUid {
        /// UIDVALIDITY of the destination mailbox.
        uidvalidity: u64,
        /// The assigned UIDs.
        uids: SeqSet<'a>,
    },
    /// `COPYUID uidvalidity source dest` (RFC 4315).
    CopyUid {
        /// UIDVALIDITY of the destination mailbox.
        uidvalidity: u64,
        /// Source UIDs.
        source: SeqSet<'a>,
        /// Destination UIDs.
        dest: SeqSet<'a>,
    },
    /// `UIDNOTSTICKY`.
    UidNotSticky,
    /// `HIGHESTMODSEQ n` (RFC 7162).
    HighestModSeq(u64),
    /// `NOMODSEQ`.
    NoModSeq,
    /// `MODIFIED set`.
    Modified(SeqSet<'a>),
    /// `CLOSED` (RFC 7162).
    Closed,
    /// `METADATA ...` (RFC 5464).
    Metadata(MetadataCode),
    /// Any other code, or a known code whose data does not parse; kept as raw text.
    Other {
        /// The code name as on the wire.
        name: &'a [u8],
        /// The text after the name and a space, up to `]`.
        data: Option<&'a [u8]>,
    },
}

/// A status response: tagged or untagged `OK`/`NO`/`BAD`, untagged `PREAUTH`/`BYE`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StatusResponse<'a> {
    /// The tag, or `None` for an untagged response.
    pub tag: Option<&'a [u8]>,
    /// The status.
    pub kind: StatusKind,
    /// The response code.
    pub code: Option<Code<'a>>,
    /// The human-readable text (`None` when the line ends after the status or code).
    pub text: Option<&'a [u8]>,
}

/// A continuation request (`+ ...`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Continuation<'a> {
    /// A response code, if the text starts with one.
    pub code: Option<Code<'a>>,
    /// The text (`None` for a bare `+`, a server quirk).
    pub text: Option<&'a [u8]>,
}

impl<'a> Continuation<'a> {
    /// The text when it is syntactically a base64 SASL challenge (no code, non-empty, only
    /// base64 characters with correct padding). An empty challenge (`+ ` or `+`) is not
    /// reported here: check `text` for that.
    pub fn base64(&self) -> Option<&'a [u8]> {
        let t = self.text?;
        if self.code.is_some() || t.is_empty() || t.len() % 4 != 0 {
            return None;
        }
        let body = t
            .strip_suffix(b"==")
            .or_else(|| t.strip_suffix(b"="))
            .unwrap_or(t);
        body.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
            .then_some(t)
    }
}

/// `LIST` / `LSUB` response.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MailboxList<'a> {
    /// `true` for LSUB.
    pub lsub: bool,
    /// Name attributes (`\HasNoChildren`, `\Sent`, ...).
    pub attributes: Atoms<'a>,
    /// Hierarchy delimiter (`None` for NIL).
    pub delimiter: Option<IStr<'a>>,
    /// The mailbox name as on the wire (modified UTF-7 unless UTF-8 was enabled).
    pub mailbox: IStr<'a>,
    /// Extended data items (RFC 5258), if any.
    pub extended: Option<Values<'a>>,
}

impl MailboxList<'_> {
    /// Whether the mailbox is the INBOX (case-insensitive).
    pub fn is_inbox(&self) -> bool {
        self.mailbox.eq_ignore_ascii_case(b"INBOX")
    }
}

/// `* STATUS mailbox (...)` response.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MailboxStatus<'a> {
    /// The mailbox.
    pub mailbox: IStr<'a>,
    /// `(name, value)` pairs.
    pub items: StatusItems<'a>,
}

/// STATUS items: `(name, value)`; values are numbers (MAILBOXID is reported via
/// [`StatusItems::mailbox_id`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StatusItems<'a> {
    list: Values<'a>,
}

impl<'a> StatusItems<'a> {
    /// The `MAILBOXID` (RFC 8474) item, if present.
    pub fn mailbox_id(&self) -> Option<IStr<'a>> {
        let mut it = self.list;
        while let Some(v) = it.next() {
            let val = it.next()?;
            if let (super::Value::Atom(n), super::Value::List(mut l)) = (v, val)
                && n.eq_ignore_ascii_case(b"MAILBOXID")
            {
                return match l.next()? {
                    super::Value::Atom(a) => Some(IStr::plain(a)),
                    super::Value::String(s) => Some(s),
                    _ => None,
                };
            }
        }
        None
    }
}

impl<'a> Iterator for StatusItems<'a> {
    type Item = (&'a [u8], u64);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let name = self.list.next()?;
            let val = self.list.next()?;
            if let (super::Value::Atom(n), super::Value::Number(v)) = (name, val) {
                return Some((n, v));
            }
        }
    }
}

/// `SEARCH` / `SORT` results.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Search<'a> {
    /// Message numbers or UIDs in wire order.
    pub ids: Numbers<'a>,
    /// `(MODSEQ n)` (RFC 7162).
    pub modseq: Option<u64>,
}

/// `ESEARCH` response (RFC 4731).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ESearch<'a> {
    /// The `(TAG "...")` correlator.
    pub tag: Option<IStr<'a>>,
    /// Whether the results are UIDs.
    pub uid: bool,
    /// `(name, value)` data items.
    pub data: ESearchData<'a>,
}

/// ESEARCH data items.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ESearchData<'a> {
    c: Cursor<'a>,
}

/// One ESEARCH data item.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum ESearchItem<'a> {
    /// `MIN n`.
    Min(u64),
    /// `MAX n`.
    Max(u64),
    /// `COUNT n`.
    Count(u64),
    /// `ALL set`.
    All(SeqSet<'a>),
    /// `MODSEQ n`.
    ModSeq(u64),
    /// Anything else.
    Other(&'a [u8], super::Value<'a>),
}

impl<'a> Iterator for ESearchData<'a> {
    type Item = ESearchItem<'a>;
    fn next(&mut self) -> Option<ESearchItem<'a>> {
        while self.c.peek() == Some(b' ') {
            self.c.pos += 1;
        }
        if self.c.at_end() {
            return None;
        }
        esearch_item(&mut self.c).ok()
    }
}

fn esearch_item<'a>(c: &mut Cursor<'a>) -> PResult<ESearchItem<'a>> {
    let name = c.atom()?;
    c.sp()?;
    let eq = |s: &[u8]| name.eq_ignore_ascii_case(s);
    Ok(if eq(b"MIN") {
        ESearchItem::Min(c.number()?)
    } else if eq(b"MAX") {
        ESearchItem::Max(c.number()?)
    } else if eq(b"COUNT") {
        ESearchItem::Count(c.number()?)
    } else if eq(b"MODSEQ") {
        ESearchItem::ModSeq(c.number()?)
    } else if eq(b"ALL") {
        ESearchItem::All(seq_set(c)?)
    } else {
        ESearchItem::Other(name, value(c, MAX_NESTING)?)
    })
}

/// `VANISHED` response (RFC 7162).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Vanished<'a> {
    /// `(EARLIER)` present.
    pub earlier: bool,
    /// The UIDs.
    pub uids: SeqSet<'a>,
}

/// One namespace description: prefix, delimiter and extensions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NamespaceDesc<'a> {
    /// The prefix.
    pub prefix: IStr<'a>,
    /// The hierarchy delimiter (`None` for NIL).
    pub delimiter: Option<IStr<'a>>,
    /// Extensions: `name (values)` pairs.
    pub extensions: NamespaceExtensions<'a>,
}

/// Namespace response extensions (RFC 2342 §5).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NamespaceExtensions<'a> {
    c: Cursor<'a>,
}

impl<'a> Iterator for NamespaceExtensions<'a> {
    type Item = (IStr<'a>, Strings<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        if !self.c.eat(b' ') {
            return None;
        }
        let name = self.c.string().ok()?;
        self.c.sp_lenient().ok()?;
        let vals = paren_list(&mut self.c, p_string).ok()?;
        Some((name, vals))
    }
}

/// A list of namespace descriptions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Namespaces<'a> {
    c: Cursor<'a>,
}

impl<'a> Iterator for Namespaces<'a> {
    type Item = NamespaceDesc<'a>;
    fn next(&mut self) -> Option<Self::Item> {
        self.c.eat(b' ');
        if self.c.peek() != Some(b'(') {
            return None;
        }
        ns_desc(&mut self.c).ok()
    }
}

fn ns_desc<'a>(c: &mut Cursor<'a>) -> PResult<NamespaceDesc<'a>> {
    c.byte(b'(')?;
    let prefix = c.string()?;
    c.sp_lenient()?;
    let delimiter = c.nstring()?;
    let ext_start = *c;
    while c.peek() == Some(b' ') {
        c.pos += 1;
        c.string()?;
        c.sp_lenient()?;
        paren_list(c, p_string)?;
    }
    c.byte(b')')?;
    Ok(NamespaceDesc {
        prefix,
        delimiter,
        extensions: NamespaceExtensions { c: ext_start },
    })
}

fn namespaces<'a>(c: &mut Cursor<'a>) -> PResult<Option<Namespaces<'a>>> {
    if c.nil() {
        return Ok(None);
    }
    c.byte(b'(')?;
    let view = *c;
    loop {
        ns_desc(c)?;
        c.eat(b' ');
        if c.eat(b')') {
            return Ok(Some(Namespaces { c: view }));
        }
    }
}

/// `NAMESPACE` response (RFC 2342).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Namespace<'a> {
    /// Personal namespaces.
    pub personal: Option<Namespaces<'a>>,
    /// Other users' namespaces.
    pub other: Option<Namespaces<'a>>,
    /// Shared namespaces.
    pub shared: Option<Namespaces<'a>>,
}

/// `ID` parameters (RFC 2971): `(key, value)` pairs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IdParams<'a> {
    c: Cursor<'a>,
}

impl<'a> Iterator for IdParams<'a> {
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

/// `QUOTA` response (RFC 2087 / 9208).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quota<'a> {
    /// The quota root.
    pub root: IStr<'a>,
    /// `(resource, usage, limit)` triples.
    pub resources: QuotaResources<'a>,
}

/// Quota resources.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuotaResources<'a> {
    c: Cursor<'a>,
}

impl<'a> Iterator for QuotaResources<'a> {
    type Item = (&'a [u8], u64, u64);
    fn next(&mut self) -> Option<Self::Item> {
        while self.c.peek() == Some(b' ') {
            self.c.pos += 1;
        }
        if self.c.peek() == Some(b')') || self.c.at_end() {
            return None;
        }
        quota_resource(&mut self.c).ok()
    }
}

fn quota_resource<'a>(c: &mut Cursor<'a>) -> PResult<(&'a [u8], u64, u64)> {
    let n = c.atom()?;
    c.sp()?;
    let u = c.number()?;
    c.sp()?;
    let l = c.number()?;
    Ok((n, u, l))
}

/// `QUOTAROOT` response.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuotaRoot<'a> {
    /// The mailbox.
    pub mailbox: IStr<'a>,
    /// Its quota roots.
    pub roots: Strings<'a>,
}

/// `ACL` response (RFC 4314).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Acl<'a> {
    /// The mailbox.
    pub mailbox: IStr<'a>,
    /// Alternating identifier and rights strings.
    pub entries: Strings<'a>,
}

/// `LISTRIGHTS` response (RFC 4314).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ListRights<'a> {
    /// The mailbox.
    pub mailbox: IStr<'a>,
    /// The identifier.
    pub identifier: IStr<'a>,
    /// Required rights.
    pub required: IStr<'a>,
    /// Optional rights groups.
    pub optional: Strings<'a>,
}

/// `MYRIGHTS` response (RFC 4314).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MyRights<'a> {
    /// The mailbox.
    pub mailbox: IStr<'a>,
    /// The rights.
    pub rights: IStr<'a>,
}

/// `METADATA` response (RFC 5464).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metadata<'a> {
    /// The mailbox (`""` for server metadata).
    pub mailbox: IStr<'a>,
    /// `true`: `(entry value ...)` pairs; `false`: unsolicited list of changed entries.
    pub with_values: bool,
    /// Entries (and values alternating when `with_values`); a NIL value is `Value::Nil`.
    pub entries: Values<'a>,
}

/// `THREAD` response (RFC 5256), kept raw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thread<'a> {
    /// The thread lists as on the wire.
    pub raw: &'a [u8],
    /// Number of top-level threads.
    pub top_level_count: usize,
}

/// An untagged response this parser does not know.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OtherResponse<'a> {
    /// A leading number (`* 3 XFOO`), if any.
    pub number: Option<u64>,
    /// The response name.
    pub name: &'a [u8],
    /// The rest of the line after the name (may contain literals).
    pub rest: &'a [u8],
}

/// One parsed server response.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Response<'a> {
    /// `tag OK/NO/BAD ...`, `* OK/NO/BAD/PREAUTH/BYE ...`.
    Status(StatusResponse<'a>),
    /// `+ ...`.
    Continuation(Continuation<'a>),
    /// `* CAPABILITY ...`.
    Capability(Atoms<'a>),
    /// `* ENABLED ...` (RFC 5161).
    Enabled(Atoms<'a>),
    /// `* LIST` / `* LSUB`.
    List(MailboxList<'a>),
    /// `* STATUS`.
    MailboxStatus(MailboxStatus<'a>),
    /// `* SEARCH`.
    Search(Search<'a>),
    /// `* SORT` (RFC 5256).
    Sort(Search<'a>),
    /// `* THREAD` (RFC 5256).
    Thread(Thread<'a>),
    /// `* ESEARCH` (RFC 4731).
    ESearch(ESearch<'a>),
    /// `* FLAGS (...)`.
    Flags(Atoms<'a>),
    /// `* n EXISTS`.
    Exists(u64),
    /// `* n RECENT`.
    Recent(u64),
    /// `* n EXPUNGE`.
    Expunge(u64),
    /// `* VANISHED` (RFC 7162).
    Vanished(Vanished<'a>),
    /// `* n FETCH (...)`.
    Fetch(Fetch<'a>),
    /// `* NAMESPACE` (RFC 2342).
    Namespace(Namespace<'a>),
    /// `* ID` (RFC 2971); `None` for NIL.
    Id(Option<IdParams<'a>>),
    /// `* QUOTA` (RFC 2087).
    Quota(Quota<'a>),
    /// `* QUOTAROOT` (RFC 2087).
    QuotaRoot(QuotaRoot<'a>),
    /// `* ACL` (RFC 4314).
    Acl(Acl<'a>),
    /// `* LISTRIGHTS` (RFC 4314).
    ListRights(ListRights<'a>),
    /// `* MYRIGHTS` (RFC 4314).
    MyRights(MyRights<'a>),
    /// `* METADATA` (RFC 5464).
    Metadata(Metadata<'a>),
    /// Any other untagged response.
    Other(OtherResponse<'a>),
}

/// What a frame parsed into.
#[derive(Debug)]
pub(crate) enum Parsed<'a> {
    Response(Response<'a>),
    FetchHead {
        seq: u64,
        items: FetchItems<'a>,
        streamed: StreamedItem<'a>,
    },
    FetchTail {
        items: FetchItems<'a>,
        streamed: Option<StreamedItem<'a>>,
    },
}

/// How to parse a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Normal,
    Greeting,
    /// The continuation of a FETCH after a streamed literal.
    FetchTail,
}

/// Parse one framed response. `frame` holds the whole response including the final line
/// terminator; `streamed`: the frame ends with a literal announcement (of this length) whose
/// data is not in the frame.
pub(crate) fn parse_frame(
    frame: &[u8],
    mode: Mode,
    streamed: Option<u64>,
) -> Result<Parsed<'_>, Error> {
    let mut end = frame.len();
    if frame.last() == Some(&b'\n') {
        end -= 1;
        if end > 0 && frame.get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
    }
    let mut c = Cursor::new(frame, end);
    if streamed.is_some() {
        c.streamed_at = frame.len();
    }
    if mode == Mode::FetchTail {
        let (items, e) = items(&mut c, false)?;
        return Ok(Parsed::FetchTail {
            items,
            streamed: match e {
                ItemsEnd::Closed => None,
                ItemsEnd::Streamed(s) => Some(s),
            },
        });
    }
    let parsed = response(&mut c, mode == Mode::Greeting)?;
    if let Some(len) = streamed
        && !matches!(parsed, Parsed::FetchHead { .. })
    {
        return Err(Error::LiteralTooLarge { len });
    }
    Ok(parsed)
}

/// The common case of [`super::parse_response`] without its framing pass: a complete
/// `* n FETCH (...)` parsed straight from the unframed input, the line break found at the end
/// of the parse. `None` whenever anything is different (another response, an error, input
/// that ends early, a response longer than the limits allow): the caller then frames and
/// parses as usual, which gives the authoritative answer. When it returns a response, it is
/// the one the framed parse gives, with the same length: literals are taken by the same
/// announcements (`{N}`, `{N+}`, `~{N}` at a line end), no token reads a CR or LF, and the
/// final line break is the first one after the closing parenthesis.
pub(crate) fn fetch_unframed<'a>(
    input: &'a [u8],
    limits: &super::Limits,
) -> Option<(usize, Response<'a>)> {
    if input.get(..2) != Some(b"* ") {
        return None;
    }
    let mut c = Cursor::new(input, input.len());
    c.open = true;
    c.pos = 2;
    let seq = c.number().ok()?;
    c.sp().ok()?;
    if !c.atom().ok()?.eq_ignore_ascii_case(b"FETCH") {
        return None;
    }
    c.sp().ok()?;
    c.byte(b'(').ok()?;
    let (items, ItemsEnd::Closed) = items(&mut c, true).ok()? else {
        return None;
    };
    // The limits of frame_response hold when the whole response is within both of them.
    let len = c.pos;
    if len > limits.max_line || len as u64 > limits.max_literal {
        return None;
    }
    Some((len, Response::Fetch(Fetch { seq, items })))
}

fn response<'a>(c: &mut Cursor<'a>, greeting: bool) -> PResult<Parsed<'a>> {
    match c.peek() {
        Some(b'+') if !greeting => {
            c.pos += 1;
            let (code, text) = if c.at_end() {
                (None, None)
            } else {
                c.sp()?;
                resp_text_body(c)?
            };
            Ok(Parsed::Response(Response::Continuation(Continuation {
                code,
                text,
            })))
        }
        Some(b'*') => {
            c.pos += 1;
            c.sp()?;
            untagged(c, greeting)
        }
        _ if greeting => c.err(),
        _ => {
            let tag = c.tag()?;
            c.sp()?;
            let kind = if c.keyword(b"OK") {
                StatusKind::Ok
            } else if c.keyword(b"NO") {
                StatusKind::No
            } else if c.keyword(b"BAD") {
                StatusKind::Bad
            } else {
                return c.err();
            };
            let (code, text) = resp_text(c)?;
            Ok(Parsed::Response(Response::Status(StatusResponse {
                tag: Some(tag),
                kind,
                code,
                text,
            })))
        }
    }
}

/// `[SP resp-text]` after a status keyword.
fn resp_text<'a>(c: &mut Cursor<'a>) -> PResult<(Option<Code<'a>>, Option<&'a [u8]>)> {
    if c.at_end() {
        return Ok((None, None));
    }
    c.sp()?;
    resp_text_body(c)
}

fn resp_text_body<'a>(c: &mut Cursor<'a>) -> PResult<(Option<Code<'a>>, Option<&'a [u8]>)> {
    if c.peek() == Some(b'[') {
        let save = c.pos;
        c.pos += 1;
        if let Ok(code) = resp_code(c)
            && c.eat(b']')
        {
            if c.at_end() {
                return Ok((Some(code), None));
            }
            c.eat(b' ');
            return Ok((Some(code), Some(c.text()?)));
        }
        c.pos = save;
    }
    Ok((None, Some(c.text()?)))
}

fn resp_code<'a>(c: &mut Cursor<'a>) -> PResult<Code<'a>> {
    let start = c.pos;
    let name = c.atom()?;
    let after_name = c.pos;
    if let Ok(code) = known_code(c, name)
        && c.peek() == Some(b']')
    {
        return Ok(code);
    }
    // Unknown code, or bad data: keep the raw text up to `]`.
    c.pos = after_name;
    if c.peek() == Some(b']') {
        return Ok(Code::Other { name, data: None });
    }
    c.sp()?;
    let data_start = c.pos;
    let rest = c.rest();
    match memchr::memchr(b']', rest) {
        Some(i)
            if memchr::memchr3(b'\r', b'\n', 0, rest.get(..i).unwrap_or_default()).is_none() =>
        {
            c.pos = data_start + i;
            Ok(Code::Other {
                name,
                data: Some(c.slice(data_start, data_start + i)),
            })
        }
        _ => {
            c.pos = start;
            c.err()
        }
    }
}

fn known_code<'a>(c: &mut Cursor<'a>, name: &'a [u8]) -> PResult<Code<'a>> {
    let eq = |s: &[u8]| name.eq_ignore_ascii_case(s);
    let num = |c: &mut Cursor<'a>| -> PResult<u64> {
        c.sp()?;
        c.number()
    };
    Ok(if eq(b"ALERT") {
        Code::Alert
    } else if eq(b"PARSE") {
        Code::Parse
    } else if eq(b"READ-ONLY") {
        Code::ReadOnly
    } else if eq(b"READ-WRITE") {
        Code::ReadWrite
    } else if eq(b"TRYCREATE") {
        Code::TryCreate
    } else if eq(b"UIDNOTSTICKY") {
        Code::UidNotSticky
    } else if eq(b"NOMODSEQ") {
        Code::NoModSeq
    } else if eq(b"CLOSED") {
        Code::Closed
    } else if eq(b"UIDNEXT") {
        Code::UidNext(num(c)?)
    } else if eq(b"UIDVALIDITY") {
        Code::UidValidity(num(c)?)
    } else if eq(b"UNSEEN") {
        Code::Unseen(num(c)?)
    } else if eq(b"HIGHESTMODSEQ") {
        Code::HighestModSeq(num(c)?)
    } else if eq(b"BADCHARSET") {
        if c.eat(b' ') {
            let l = paren_list(c, p_astring)?;
            if l.is_empty() {
                return c.err();
            }
            Code::BadCharset(Some(l))
        } else {
            Code::BadCharset(None)
        }
    } else if eq(b"CAPABILITY") {
        let l = line_list_until(c, b']', p_atom)?;
        Code::Capability(l)
    } else if eq(b"PERMANENTFLAGS") {
        c.sp()?;
        Code::PermanentFlags(paren_list(c, p_flag)?)
    } else if eq(b"APPENDUID") {
        let uidvalidity = num(c)?;
        c.sp()?;
        Code::AppendUid {
            uidvalidity,
            uids: seq_set(c)?,
        }
    } else if eq(b"COPYUID") {
        let uidvalidity = num(c)?;
        c.sp()?;
        let source = seq_set(c)?;
        c.sp()?;
        Code::CopyUid {
            uidvalidity,
            source,
            dest: seq_set(c)?,
        }
    } else if eq(b"MODIFIED") {
        c.sp()?;
        Code::Modified(seq_set(c)?)
    } else if eq(b"METADATA") {
        c.sp()?;
        Code::Metadata(if c.keyword(b"LONGENTRIES") {
            MetadataCode::LongEntries(num(c)?)
        } else if c.keyword(b"MAXSIZE") {
            MetadataCode::MaxSize(num(c)?)
        } else if c.keyword(b"TOOMANY") {
            MetadataCode::TooMany
        } else if c.keyword(b"NOPRIVATE") {
            MetadataCode::NoPrivate
        } else {
            return c.err();
        })
    } else {
        return c.err();
    })
}

/// `*(SP atom)` up to `stop` (not consumed).
fn line_list_until<'a>(
    c: &mut Cursor<'a>,
    stop: u8,
    parse: fn(&mut Cursor<'a>) -> PResult<&'a [u8]>,
) -> PResult<Atoms<'a>> {
    let start = c.pos;
    while c.peek() != Some(stop) {
        c.sp()?;
        parse(c)?;
    }
    Ok(List::new(c.buf, start, c.pos, parse))
}

fn untagged<'a>(c: &mut Cursor<'a>, greeting: bool) -> PResult<Parsed<'a>> {
    if c.peek().is_some_and(|b| b.is_ascii_digit()) {
        if greeting {
            return c.err();
        }
        let n = c.number()?;
        c.sp()?;
        let name_start = c.pos;
        let name = c.atom()?;
        let eq = |s: &[u8]| name.eq_ignore_ascii_case(s);
        let r = if eq(b"EXISTS") {
            Response::Exists(n)
        } else if eq(b"RECENT") {
            Response::Recent(n)
        } else if eq(b"EXPUNGE") {
            Response::Expunge(n)
        } else if eq(b"FETCH") {
            c.sp()?;
            c.byte(b'(')?;
            let (items, end) = items(c, true)?;
            return Ok(match end {
                ItemsEnd::Closed => Parsed::Response(Response::Fetch(Fetch { seq: n, items })),
                ItemsEnd::Streamed(streamed) => Parsed::FetchHead {
                    seq: n,
                    items,
                    streamed,
                },
            });
        } else {
            c.pos = name_start;
            return other(c, Some(n));
        };
        c.finish()?;
        return Ok(Parsed::Response(r));
    }
    let kw_start = c.pos;
    let kw = c.atom()?;
    let eq = |s: &[u8]| kw.eq_ignore_ascii_case(s);
    let status = if eq(b"OK") {
        Some(StatusKind::Ok)
    } else if eq(b"PREAUTH") {
        Some(StatusKind::PreAuth)
    } else if eq(b"BYE") {
        Some(StatusKind::Bye)
    } else if !greeting && eq(b"NO") {
        Some(StatusKind::No)
    } else if !greeting && eq(b"BAD") {
        Some(StatusKind::Bad)
    } else {
        None
    };
    if let Some(kind) = status {
        if kind == StatusKind::PreAuth && !greeting {
            // PREAUTH is only valid as a greeting, but harmless to report.
        }
        let (code, text) = resp_text(c)?;
        return Ok(Parsed::Response(Response::Status(StatusResponse {
            tag: None,
            kind,
            code,
            text,
        })));
    }
    if greeting {
        c.pos = kw_start;
        return c.err();
    }
    let r = match kw.len() {
        10 if eq(b"CAPABILITY") => Response::Capability(line_list(c, p_atom)?),
        7 if eq(b"ENABLED") => Response::Enabled(line_list(c, p_atom)?),
        4 | 5 if eq(b"LIST") || eq(b"LSUB") => Response::List(list(c, eq(b"LSUB"))?),
        6 if eq(b"STATUS") => Response::MailboxStatus(status_response(c)?),
        6 if eq(b"SEARCH") => Response::Search(search(c)?),
        4 if eq(b"SORT") => Response::Sort(search(c)?),
        6 if eq(b"THREAD") => Response::Thread(thread(c)?),
        7 if eq(b"ESEARCH") => Response::ESearch(esearch(c)?),
        5 if eq(b"FLAGS") => {
            c.sp()?;
            Response::Flags(paren_list(c, p_flag)?)
        }
        8 if eq(b"VANISHED") => {
            c.sp()?;
            let earlier = if c.peek() == Some(b'(') {
                c.pos += 1;
                if !c.keyword(b"EARLIER") {
                    return c.err();
                }
                c.byte(b')')?;
                c.sp()?;
                true
            } else {
                false
            };
            Response::Vanished(Vanished {
                earlier,
                uids: seq_set(c)?,
            })
        }
        9 if eq(b"NAMESPACE") => {
            c.sp()?;
            let personal = namespaces(c)?;
            c.sp()?;
            let other = namespaces(c)?;
            c.sp()?;
            let shared = namespaces(c)?;
            Response::Namespace(Namespace {
                personal,
                other,
                shared,
            })
        }
        2 if eq(b"ID") => {
            c.sp()?;
            if c.nil() {
                Response::Id(None)
            } else {
                c.byte(b'(')?;
                let view = *c;
                let mut first = true;
                loop {
                    if c.eat(b')') {
                        break;
                    }
                    if !first {
                        c.sp_lenient()?;
                        if c.eat(b')') {
                            break;
                        }
                    }
                    first = false;
                    c.string()?;
                    c.sp_lenient()?;
                    c.nstring()?;
                }
                Response::Id(Some(IdParams { c: view }))
            }
        }
        5 if eq(b"QUOTA") => {
            c.sp()?;
            let root = c.astring()?;
            c.sp()?;
            c.byte(b'(')?;
            let view = *c;
            let mut first = true;
            while !c.eat(b')') {
                if !first {
                    c.sp()?;
                }
                first = false;
                quota_resource(c)?;
            }
            Response::Quota(Quota {
                root,
                resources: QuotaResources { c: view },
            })
        }
        9 if eq(b"QUOTAROOT") => {
            c.sp()?;
            let mailbox = c.astring()?;
            Response::QuotaRoot(QuotaRoot {
                mailbox,
                roots: line_list(c, p_astring)?,
            })
        }
        3 if eq(b"ACL") => {
            c.sp()?;
            let mailbox = c.astring()?;
            let entries = line_list(c, p_astring)?;
            if entries.count() % 2 != 0 {
                return c.err();
            }
            Response::Acl(Acl { mailbox, entries })
        }
        10 if eq(b"LISTRIGHTS") => {
            c.sp()?;
            let mailbox = c.astring()?;
            c.sp()?;
            let identifier = c.astring()?;
            c.sp()?;
            let required = c.astring()?;
            Response::ListRights(ListRights {
                mailbox,
                identifier,
                required,
                optional: line_list(c, p_astring)?,
            })
        }
        8 if eq(b"MYRIGHTS") => {
            c.sp()?;
            let mailbox = c.astring()?;
            c.sp()?;
            let rights = c.astring()?;
            Response::MyRights(MyRights { mailbox, rights })
        }
        8 if eq(b"METADATA") => {
            c.sp()?;
            let mailbox = c.astring()?;
            c.sp()?;
            if c.eat(b'(') {
                let start = c.pos;
                let mut first = true;
                loop {
                    if c.eat(b')') {
                        break;
                    }
                    if !first {
                        c.sp_lenient()?;
                    }
                    first = false;
                    c.astring()?;
                    c.sp()?;
                    c.nstring()?;
                }
                Response::Metadata(Metadata {
                    mailbox,
                    with_values: true,
                    entries: Values::new(c.buf, start, c.pos - 1),
                })
            } else {
                let start = c.pos;
                c.astring()?;
                while c.peek() == Some(b' ') && c.pos + 1 < c.end {
                    c.pos += 1;
                    c.astring()?;
                }
                Response::Metadata(Metadata {
                    mailbox,
                    with_values: false,
                    entries: Values::new(c.buf, start, c.pos),
                })
            }
        }
        _ => {
            c.pos = kw_start;
            return other(c, None);
        }
    };
    c.finish()?;
    Ok(Parsed::Response(r))
}

fn other<'a>(c: &mut Cursor<'a>, number: Option<u64>) -> PResult<Parsed<'a>> {
    let name = c.atom()?;
    let rest = if c.at_end() {
        &[][..]
    } else {
        c.sp()?;
        let r = c.rest();
        // Literals are allowed, but no bare CR/LF/NUL outside them: check the last line.
        c.pos = c.end;
        r
    };
    Ok(Parsed::Response(Response::Other(OtherResponse {
        number,
        name,
        rest,
    })))
}

fn list<'a>(c: &mut Cursor<'a>, lsub: bool) -> PResult<MailboxList<'a>> {
    c.sp()?;
    let attributes = paren_list(c, p_flag)?;
    c.sp()?;
    let delimiter = c.nstring()?;
    c.sp()?;
    let mailbox = c.astring()?;
    let extended = if c.peek() == Some(b' ') && c.peek_at(1) == Some(b'(') {
        c.pos += 1;
        let start = c.pos + 1;
        c.skip_value(MAX_NESTING)?;
        Some(Values::new(c.buf, start, c.pos - 1))
    } else {
        None
    };
    Ok(MailboxList {
        lsub,
        attributes,
        delimiter,
        mailbox,
        extended,
    })
}

fn status_response<'a>(c: &mut Cursor<'a>) -> PResult<MailboxStatus<'a>> {
    c.sp()?;
    let mailbox = c.astring()?;
    c.sp()?;
    c.byte(b'(')?;
    let start = c.pos;
    let mut first = true;
    loop {
        if c.eat(b')') {
            break;
        }
        if !first {
            c.sp_lenient()?;
            if c.eat(b')') {
                break;
            }
        }
        first = false;
        c.atom()?;
        c.sp()?;
        if c.peek() == Some(b'(') {
            c.skip_value(2)?;
        } else {
            c.number()?;
        }
    }
    Ok(MailboxStatus {
        mailbox,
        items: StatusItems {
            list: Values::new(c.buf, start, c.pos - 1),
        },
    })
}

fn search<'a>(c: &mut Cursor<'a>) -> PResult<Search<'a>> {
    let start = c.pos;
    let mut ids_end = c.pos;
    let mut modseq = None;
    while !c.at_end() {
        c.sp_lenient()?;
        if c.at_end() {
            break;
        }
        if c.peek() == Some(b'(') {
            c.pos += 1;
            if !c.keyword(b"MODSEQ") {
                return c.err();
            }
            c.sp()?;
            modseq = Some(c.number()?);
            c.byte(b')')?;
            break;
        }
        c.nz_number()?;
        ids_end = c.pos;
    }
    Ok(Search {
        ids: List::new(c.buf, start, ids_end, p_number),
        modseq,
    })
}

fn thread<'a>(c: &mut Cursor<'a>) -> PResult<Thread<'a>> {
    let start = c.pos;
    let mut count = 0;
    c.eat(b' ');
    let body_start = c.pos;
    while c.peek() == Some(b'(') {
        thread_list(c, MAX_NESTING)?;
        count += 1;
    }
    let _ = start;
    Ok(Thread {
        raw: c.slice(body_start, c.pos),
        top_level_count: count,
    })
}

fn thread_list(c: &mut Cursor<'_>, depth: u8) -> PResult<()> {
    if depth == 0 {
        return Err(Error::TooDeep);
    }
    c.byte(b'(')?;
    if c.peek() == Some(b'(') {
        while c.peek() == Some(b'(') {
            thread_list(c, depth - 1)?;
        }
    } else {
        c.nz_number()?;
        while c.eat(b' ') {
            if c.peek() == Some(b'(') {
                while c.peek() == Some(b'(') {
                    thread_list(c, depth - 1)?;
                }
                break;
            }
            c.nz_number()?;
        }
    }
    c.byte(b')')
}

fn esearch<'a>(c: &mut Cursor<'a>) -> PResult<ESearch<'a>> {
    let mut tag = None;
    let mut uid = false;
    if c.peek() == Some(b' ') && c.peek_at(1) == Some(b'(') {
        c.pos += 2;
        if !c.keyword(b"TAG") {
            return c.err();
        }
        c.sp()?;
        tag = Some(c.string()?);
        c.byte(b')')?;
    }
    let save = c.pos;
    if c.eat(b' ') {
        if c.keyword(b"UID") {
            uid = true;
        } else {
            c.pos = save;
        }
    }
    let start = c.pos;
    while c.peek() == Some(b' ') && c.pos + 1 < c.end {
        c.pos += 1;
        esearch_item(c)?;
    }
    let mut view = Cursor::new(c.buf, c.pos);
    view.pos = start;
    Ok(ESearch {
        tag,
        uid,
        data: ESearchData { c: view },
    })
}

/// Whether `b` may start an atom (used by the reader to sanity-check tags).
#[allow(dead_code)]
pub(crate) fn starts_atom(b: u8) -> bool {
    is_atom_char(b)
}

#[cfg(test)]
mod unframed_tests {
    use super::*;
    use crate::wire::frame::{Framed, Limits, frame_response};

    /// Length, sequence number, and the items' bytes and range.
    type Parts<'a> = (usize, u64, (&'a [u8], usize, usize));

    /// What the framed parse gives: `Some((len, seq, items bytes, items range))` for a
    /// complete FETCH, `None` otherwise.
    fn framed<'a>(input: &'a [u8], limits: &Limits) -> Option<Parts<'a>> {
        let Ok(Framed::Complete(n)) = frame_response(input, limits) else {
            return None;
        };
        match parse_frame(&input[..n], Mode::Normal, None) {
            Ok(Parsed::Response(Response::Fetch(f))) => Some((n, f.seq, f.items.raw_parts())),
            _ => None,
        }
    }

    fn check(input: &[u8], limits: &Limits) {
        if let Some((n, r)) = fetch_unframed(input, limits) {
            let Response::Fetch(f) = r else {
                panic!("not a FETCH: {input:?}")
            };
            assert_eq!(
                Some((n, f.seq, f.items.raw_parts())),
                framed(input, limits),
                "{:?}",
                std::string::String::from_utf8_lossy(input)
            );
        }
    }

    const CASES: &[&[u8]] = &[
        b"* 1 FETCH (UID 7 FLAGS (\\Seen))\r\n",
        b"* 12 fetch (UID 7 BODY[] {5}\r\nab\r\nc)\r\n",
        b"* 3 FETCH (BODY[HEADER] {3+}\r\nabc BODY[TEXT] ~{2}\r\nxy) \r\n",
        b"* 4 FETCH (ENVELOPE (\"d\" {4}\nsubj ((\"A\" NIL \"a\" \"h\")) NIL NIL NIL NIL NIL NIL \"<m>\"))\n",
        b"* 5 FETCH (BODYSTRUCTURE (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 3 1))\r\n",
        b"* 6 FETCH (UID 1)\r\r\n",
        b"* 7 FETCH (UID 1)  \r\n",
        b"* 8 FETCH (BODY[] {3}\r\n)\r\n)\r\n",
        b"* 9 FETCH (X-UNKNOWN \"a\" RFC822.SIZE 4)\r\n",
    ];

    /// The unframed FETCH parse agrees with framing + parsing on every prefix, every
    /// single-byte change and with more input after the response; where it gives up the
    /// caller frames as before.
    #[test]
    fn unframed_fetch_equals_framed_parse() {
        let limits = Limits::DEFAULT;
        let mut hits = 0;
        for case in CASES {
            let mut input = case.to_vec();
            input.extend_from_slice(b"* 2 EXISTS\r\n");
            for cut in 0..=input.len() {
                check(&input[..cut], &limits);
                hits += usize::from(fetch_unframed(&input[..cut], &limits).is_some());
            }
            for i in 0..case.len() {
                for b in [b' ', b'\r', b'\n', b'"', b'{', b'}', b')', b'0', b'\\', 0] {
                    let mut m = input.clone();
                    m[i] = b;
                    check(&m, &limits);
                }
            }
        }
        assert!(hits > 20, "the fast path was taken {hits} times");
        // Limits: a response longer than max_line (or max_literal) goes to the framed path.
        let small = Limits {
            max_line: 10,
            max_literal: 1 << 30,
        };
        assert!(fetch_unframed(b"* 1 FETCH (UID 7)\r\n", &small).is_none());
        assert!(fetch_unframed(b"* 1 FETCH (UID 7)\r\n", &limits).is_some());
    }
}
