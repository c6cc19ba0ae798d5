//! The command encoder.
//!
//! [`Command::encode`] writes `tag SP command CRLF` into a caller buffer. Every string
//! argument becomes an atom, a quoted string or a literal, whichever its bytes need (with
//! [`EncodeOptions::prefer_quoted`], quoted strings instead of atoms). Nothing a caller
//! passes can end the command early: CR and LF only ever appear inside literals, NUL is
//! refused, and tags, flags, sections and mechanism names are validated.
//!
//! Synchronizing literals (`{N}`) require the client to wait for a `+` continuation before
//! sending the literal's bytes: [`Encoded::sync_points`] lists the offsets in the output
//! after which to wait. With `LITERAL+` (RFC 7888) every literal is non-synchronizing
//! (`{N+}`); with `LITERAL-` only those up to 4096 bytes are.
//!
//! ```
//! use postwire_imap::wire::{Command, EncodeOptions, LiteralMode};
//!
//! let mut buf = [0u8; 128];
//! let opts = EncodeOptions::default();
//! let e = Command::Login { username: "joe", password: "pa ss\"\\" }.encode("a1", &opts, &mut buf).unwrap();
//! assert_eq!(&buf[..e.len()], b"a1 LOGIN joe \"pa ss\\\"\\\\\"\r\n");
//!
//! let e = Command::Login { username: "joe", password: "line\nbreak" }.encode("a2", &opts, &mut buf).unwrap();
//! assert_eq!(&buf[..e.len()], b"a2 LOGIN joe {10}\r\nline\nbreak\r\n");
//! assert_eq!(e.sync_points(), &[19]); // wait for "+" after "{10}\r\n"
//!
//! let plus = EncodeOptions { literal: LiteralMode::Plus, ..EncodeOptions::default() };
//! let e = Command::Select { mailbox: "Entwürfe", condstore: false }.encode("a3", &plus, &mut buf).unwrap();
//! assert_eq!(&buf[..e.len()], b"a3 SELECT Entw&APw-rfe\r\n");
//! ```

use super::Error;
use super::lex::{is_astring_char, is_atom_char, is_tag_char};
use crate::mutf7;

/// How literals are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LiteralMode {
    /// Synchronizing literals only (`{N}`, wait for `+`).
    #[default]
    Sync,
    /// `LITERAL+`: every literal non-synchronizing (`{N+}`).
    Plus,
    /// `LITERAL-`: non-synchronizing up to 4096 bytes, synchronizing above.
    Minus,
}

/// Encoder settings (from the server's capabilities).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EncodeOptions {
    /// Literal style.
    pub literal: LiteralMode,
    /// `UTF8=ACCEPT` or IMAP4rev2 is enabled: mailbox names are sent as UTF-8 (quoted
    /// strings may hold 8-bit bytes) instead of modified UTF-7.
    pub utf8: bool,
    /// Prefer quoted strings over atoms for string arguments.
    pub prefer_quoted: bool,
}

/// Most synchronizing literals in one command.
pub const MAX_SYNC_LITERALS: usize = 4;

/// The result of [`Command::encode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoded {
    len: usize,
    syncs: [usize; MAX_SYNC_LITERALS],
    n_syncs: usize,
}

impl Encoded {
    /// Bytes written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written (never the case for a successful encode).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Offsets after which the client must wait for a `+` continuation before sending the
    /// rest. For [`Command::Append`] the last one may equal [`len`](Self::len): wait, then
    /// send the message and finally CRLF.
    pub fn sync_points(&self) -> &[usize] {
        self.syncs.get(..self.n_syncs).unwrap_or_default()
    }
}

/// A message sequence number or UID in a set: a number or `*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SeqNum {
    /// A number (non-zero).
    Value(u64),
    /// `*`: the largest number in use.
    Star,
}

/// A range `start:end` (or a single number when both are equal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SeqRange {
    /// First.
    pub start: SeqNum,
    /// Last.
    pub end: SeqNum,
}

impl SeqRange {
    /// A single number.
    pub const fn one(n: u64) -> Self {
        SeqRange {
            start: SeqNum::Value(n),
            end: SeqNum::Value(n),
        }
    }

    /// `a:b`.
    pub const fn range(a: u64, b: u64) -> Self {
        SeqRange {
            start: SeqNum::Value(a),
            end: SeqNum::Value(b),
        }
    }

    /// `a:*`.
    pub const fn from(a: u64) -> Self {
        SeqRange {
            start: SeqNum::Value(a),
            end: SeqNum::Star,
        }
    }
}

/// A sequence set: non-empty list of ranges.
pub type SequenceSet<'a> = &'a [SeqRange];

/// A date for SEARCH (`d-Mon-yyyy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Date {
    /// 1..=31.
    pub day: u8,
    /// 1..=12.
    pub month: u8,
    /// Year.
    pub year: u16,
}

/// STATUS data items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum StatusAttr {
    /// `MESSAGES`.
    Messages,
    /// `RECENT`.
    Recent,
    /// `UIDNEXT`.
    UidNext,
    /// `UIDVALIDITY`.
    UidValidity,
    /// `UNSEEN`.
    Unseen,
    /// `DELETED` (IMAP4rev2).
    Deleted,
    /// `SIZE` (IMAP4rev2).
    Size,
    /// `HIGHESTMODSEQ` (RFC 7162).
    HighestModSeq,
}

impl StatusAttr {
    fn keyword(self) -> &'static [u8] {
        match self {
            StatusAttr::Messages => b"MESSAGES",
            StatusAttr::Recent => b"RECENT",
            StatusAttr::UidNext => b"UIDNEXT",
            StatusAttr::UidValidity => b"UIDVALIDITY",
            StatusAttr::Unseen => b"UNSEEN",
            StatusAttr::Deleted => b"DELETED",
            StatusAttr::Size => b"SIZE",
            StatusAttr::HighestModSeq => b"HIGHESTMODSEQ",
        }
    }
}

/// STORE modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StoreMode {
    /// `FLAGS`: replace.
    Replace,
    /// `+FLAGS`: add.
    Add,
    /// `-FLAGS`: remove.
    Remove,
}

/// FETCH attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FetchAttr<'a> {
    /// `ALL` macro (must be the only attribute).
    All,
    /// `FAST` macro.
    Fast,
    /// `FULL` macro.
    Full,
    /// `UID`.
    Uid,
    /// `FLAGS`.
    Flags,
    /// `INTERNALDATE`.
    InternalDate,
    /// `RFC822.SIZE`.
    Rfc822Size,
    /// `ENVELOPE`.
    Envelope,
    /// `BODY`.
    Body,
    /// `BODYSTRUCTURE`.
    BodyStructure,
    /// `MODSEQ`.
    ModSeq,
    /// `X-GM-MSGID`.
    GmMsgId,
    /// `X-GM-THRID`.
    GmThrId,
    /// `X-GM-LABELS`.
    GmLabels,
    /// `EMAILID`.
    EmailId,
    /// `THREADID`.
    ThreadId,
    /// `RFC822`.
    Rfc822,
    /// `RFC822.HEADER`.
    Rfc822Header,
    /// `RFC822.TEXT`.
    Rfc822Text,
    /// `BODY[section]<partial>` / `BODY.PEEK[...]`. `section` is written as given, e.g.
    /// `""`, `"TEXT"`, `"1.2.MIME"`, `"HEADER.FIELDS (DATE FROM)"`.
    BodySection {
        /// The section spec.
        section: &'a str,
        /// Use `BODY.PEEK` (do not set `\Seen`).
        peek: bool,
        /// `<origin.count>`.
        partial: Option<(u64, u64)>,
    },
    /// `BINARY[part]<partial>` / `BINARY.PEEK` (RFC 3516).
    Binary {
        /// Part number, e.g. `"1.2"` or `""`.
        section: &'a str,
        /// Use `BINARY.PEEK`.
        peek: bool,
        /// `<origin.count>`.
        partial: Option<(u64, u64)>,
    },
    /// `BINARY.SIZE[part]`.
    BinarySize(&'a str),
}

/// SEARCH keys (RFC 3501 §6.4.4, plus MODSEQ from RFC 7162).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SearchKey<'a> {
    /// `ALL`.
    All,
    /// `ANSWERED`.
    Answered,
    /// `BCC string`.
    Bcc(&'a str),
    /// `BEFORE date`.
    Before(Date),
    /// `BODY string`.
    Body(&'a str),
    /// `CC string`.
    Cc(&'a str),
    /// `DELETED`.
    Deleted,
    /// `DRAFT`.
    Draft,
    /// `FLAGGED`.
    Flagged,
    /// `FROM string`.
    From(&'a str),
    /// `HEADER name string`.
    Header(&'a str, &'a str),
    /// `KEYWORD flag`.
    Keyword(&'a str),
    /// `LARGER n`.
    Larger(u64),
    /// `NEW`.
    New,
    /// `NOT key`.
    Not(&'a SearchKey<'a>),
    /// `OLD`.
    Old,
    /// `ON date`.
    On(Date),
    /// `OR key key`.
    Or(&'a SearchKey<'a>, &'a SearchKey<'a>),
    /// `RECENT`.
    Recent,
    /// `SEEN`.
    Seen,
    /// `SENTBEFORE date`.
    SentBefore(Date),
    /// `SENTON date`.
    SentOn(Date),
    /// `SENTSINCE date`.
    SentSince(Date),
    /// `SINCE date`.
    Since(Date),
    /// `SMALLER n`.
    Smaller(u64),
    /// `SUBJECT string`.
    Subject(&'a str),
    /// `TEXT string`.
    Text(&'a str),
    /// `TO string`.
    To(&'a str),
    /// `UID set`.
    Uid(SequenceSet<'a>),
    /// `UNANSWERED`.
    Unanswered,
    /// `UNDELETED`.
    Undeleted,
    /// `UNDRAFT`.
    Undraft,
    /// `UNFLAGGED`.
    Unflagged,
    /// `UNKEYWORD flag`.
    Unkeyword(&'a str),
    /// `UNSEEN`.
    Unseen,
    /// A message sequence set.
    Seq(SequenceSet<'a>),
    /// `(key key ...)`.
    And(&'a [SearchKey<'a>]),
    /// `MODSEQ n` (RFC 7162).
    ModSeq(u64),
}

/// An IMAP command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Command<'a> {
    /// `CAPABILITY`.
    Capability,
    /// `NOOP`.
    Noop,
    /// `LOGOUT`.
    Logout,
    /// `STARTTLS`.
    StartTls,
    /// `AUTHENTICATE mechanism [initial-response]`; the initial response (SASL-IR, RFC 4959)
    /// is given raw and base64-encoded here (empty → `=`).
    Authenticate {
        /// Mechanism name (an atom such as `PLAIN`).
        mechanism: &'a str,
        /// Raw initial response.
        initial_response: Option<&'a [u8]>,
    },
    /// `LOGIN user password`.
    Login {
        /// User name.
        username: &'a str,
        /// Password.
        password: &'a str,
    },
    /// `ENABLE cap...` (RFC 5161).
    Enable(&'a [&'a str]),
    /// `ID (...)` or `ID NIL` (RFC 2971).
    Id(Option<&'a [(&'a str, Option<&'a str>)]>),
    /// `SELECT mailbox [(CONDSTORE)]`.
    Select {
        /// UTF-8 mailbox name.
        mailbox: &'a str,
        /// Add `(CONDSTORE)`.
        condstore: bool,
    },
    /// `EXAMINE mailbox [(CONDSTORE)]`.
    Examine {
        /// UTF-8 mailbox name.
        mailbox: &'a str,
        /// Add `(CONDSTORE)`.
        condstore: bool,
    },
    /// `CREATE mailbox`.
    Create(&'a str),
    /// `DELETE mailbox`.
    Delete(&'a str),
    /// `RENAME from to`.
    Rename {
        /// Existing name.
        from: &'a str,
        /// New name.
        to: &'a str,
    },
    /// `SUBSCRIBE mailbox`.
    Subscribe(&'a str),
    /// `UNSUBSCRIBE mailbox`.
    Unsubscribe(&'a str),
    /// `LIST reference pattern [RETURN (SPECIAL-USE)]`.
    List {
        /// Reference name.
        reference: &'a str,
        /// Pattern with `%` / `*` wildcards.
        pattern: &'a str,
        /// Add `RETURN (SPECIAL-USE)` (RFC 6154).
        return_special_use: bool,
    },
    /// `LSUB reference pattern`.
    Lsub {
        /// Reference name.
        reference: &'a str,
        /// Pattern.
        pattern: &'a str,
    },
    /// `NAMESPACE`.
    Namespace,
    /// `STATUS mailbox (items)`.
    Status {
        /// Mailbox.
        mailbox: &'a str,
        /// Items (non-empty).
        items: &'a [StatusAttr],
    },
    /// `APPEND mailbox [(flags)] [date] {len}`: the message bytes are not part of the
    /// encoding. After the output (and a `+` when [`Encoded::sync_points`] ends at its
    /// length), send exactly `message_len` bytes, then CRLF.
    Append {
        /// Mailbox.
        mailbox: &'a str,
        /// Flags.
        flags: &'a [&'a str],
        /// INTERNALDATE (`"dd-Mon-yyyy hh:mm:ss +zzzz"`), written as a quoted string.
        date: Option<&'a str>,
        /// Message length.
        message_len: u64,
    },
    /// `IDLE` (finish with [`encode_done`]).
    Idle,
    /// `CLOSE`.
    Close,
    /// `UNSELECT`.
    Unselect,
    /// `EXPUNGE`.
    Expunge,
    /// `UID EXPUNGE set` (RFC 4315).
    UidExpunge(SequenceSet<'a>),
    /// `[UID] SEARCH [CHARSET x] keys`.
    Search {
        /// `UID SEARCH`.
        uid: bool,
        /// `CHARSET` argument.
        charset: Option<&'a str>,
        /// Keys (non-empty; several are ANDed).
        criteria: &'a [SearchKey<'a>],
    },
    /// `[UID] SEARCH RETURN (ALL) [CHARSET x] keys` (RFC 4731 ESEARCH): the result arrives
    /// as one `* ESEARCH` response with a compact sequence set.
    ///
    /// ```
    /// use postwire_imap::wire::{Command, EncodeOptions, SearchKey, SeqNum, SeqRange};
    /// let mut buf = [0u8; 64];
    /// let uids = [SeqRange { start: SeqNum::Value(5), end: SeqNum::Star }];
    /// let e = Command::ESearch { uid: true, charset: None, criteria: &[SearchKey::Uid(&uids)] }
    ///     .encode("a1", &EncodeOptions::default(), &mut buf)
    ///     .unwrap();
    /// assert_eq!(&buf[..e.len()], b"a1 UID SEARCH RETURN (ALL) UID 5:*\r\n");
    /// ```
    ESearch {
        /// `UID SEARCH`.
        uid: bool,
        /// `CHARSET` argument.
        charset: Option<&'a str>,
        /// Keys (non-empty; several are ANDed).
        criteria: &'a [SearchKey<'a>],
    },
    /// `[UID] FETCH set attrs [(CHANGEDSINCE n)]`.
    Fetch {
        /// `UID FETCH`.
        uid: bool,
        /// The messages.
        set: SequenceSet<'a>,
        /// Attributes (non-empty).
        attrs: &'a [FetchAttr<'a>],
        /// `(CHANGEDSINCE n)` (RFC 7162).
        changed_since: Option<u64>,
    },
    /// `[UID] STORE set [(UNCHANGEDSINCE n)] [+-]FLAGS[.SILENT] (flags)`.
    Store {
        /// `UID STORE`.
        uid: bool,
        /// The messages.
        set: SequenceSet<'a>,
        /// Replace, add or remove.
        mode: StoreMode,
        /// `.SILENT`.
        silent: bool,
        /// The flags.
        flags: &'a [&'a str],
        /// `(UNCHANGEDSINCE n)` (RFC 7162).
        unchanged_since: Option<u64>,
    },
    /// `[UID] COPY set mailbox`.
    Copy {
        /// `UID COPY`.
        uid: bool,
        /// The messages.
        set: SequenceSet<'a>,
        /// Destination.
        mailbox: &'a str,
    },
    /// `[UID] MOVE set mailbox` (RFC 6851).
    Move {
        /// `UID MOVE`.
        uid: bool,
        /// The messages.
        set: SequenceSet<'a>,
        /// Destination.
        mailbox: &'a str,
    },
    /// `GETQUOTAROOT mailbox`.
    GetQuotaRoot(&'a str),
    /// `GETQUOTA root`.
    GetQuota(&'a str),
    /// `SETACL mailbox identifier [+-]rights` (RFC 4314).
    SetAcl {
        /// Mailbox.
        mailbox: &'a str,
        /// Identifier.
        identifier: &'a str,
        /// Rights.
        rights: &'a str,
        /// Replace, add or remove rights.
        mode: StoreMode,
    },
    /// `DELETEACL mailbox identifier`.
    DeleteAcl {
        /// Mailbox.
        mailbox: &'a str,
        /// Identifier.
        identifier: &'a str,
    },
    /// A command given verbatim after the tag (for extensions); it must not contain CR, LF
    /// or NUL.
    Raw(&'a str),
}

struct W<'o> {
    buf: &'o mut [u8],
    n: usize,
    opts: EncodeOptions,
    syncs: [usize; MAX_SYNC_LITERALS],
    n_syncs: usize,
}

impl W<'_> {
    fn raw(&mut self, s: &[u8]) -> Result<(), Error> {
        let dst = self
            .buf
            .get_mut(self.n..self.n + s.len())
            .ok_or(Error::BufferTooSmall)?;
        dst.copy_from_slice(s);
        self.n += s.len();
        Ok(())
    }

    fn byte(&mut self, b: u8) -> Result<(), Error> {
        let slot = self.buf.get_mut(self.n).ok_or(Error::BufferTooSmall)?;
        *slot = b;
        self.n += 1;
        Ok(())
    }

    fn sp(&mut self) -> Result<(), Error> {
        self.byte(b' ')
    }

    fn num(&mut self, mut v: u64) -> Result<(), Error> {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            if let Some(slot) = tmp.get_mut(i) {
                *slot = b'0' + (v % 10) as u8;
            }
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.raw(tmp.get(i..).unwrap_or_default())
    }

    fn atom(&mut self, s: &[u8]) -> Result<(), Error> {
        if s.is_empty() || !s.iter().all(|&b| is_atom_char(b)) {
            return Err(Error::InvalidArgument);
        }
        self.raw(s)
    }

    /// Announce a literal of `len` bytes; records a sync point when synchronizing.
    fn literal_head(&mut self, len: u64) -> Result<(), Error> {
        let non_sync = match self.opts.literal {
            LiteralMode::Sync => false,
            LiteralMode::Plus => true,
            LiteralMode::Minus => len <= 4096,
        };
        self.byte(b'{')?;
        self.num(len)?;
        if non_sync {
            self.byte(b'+')?;
        }
        self.raw(b"}\r\n")?;
        if !non_sync {
            let slot = self
                .syncs
                .get_mut(self.n_syncs)
                .ok_or(Error::InvalidArgument)?;
            *slot = self.n;
            self.n_syncs += 1;
        }
        Ok(())
    }

    fn quoted(&mut self, s: &[u8]) -> Result<(), Error> {
        self.byte(b'"')?;
        for &b in s {
            if b == b'"' || b == b'\\' {
                self.byte(b'\\')?;
            }
            self.byte(b)?;
        }
        self.byte(b'"')
    }

    /// A string (quoted or literal, never an atom).
    fn string(&mut self, s: &[u8]) -> Result<(), Error> {
        if s.contains(&0) {
            return Err(Error::InvalidArgument);
        }
        let eight_bit_ok = self.opts.utf8;
        let quotable = s
            .iter()
            .all(|&b| b != b'\r' && b != b'\n' && (b < 0x80 || eight_bit_ok));
        if quotable {
            self.quoted(s)
        } else {
            self.literal_head(s.len() as u64)?;
            self.raw(s)
        }
    }

    /// An astring: atom when possible (unless `prefer_quoted`), else quoted or literal.
    fn astring(&mut self, s: &[u8]) -> Result<(), Error> {
        if !self.opts.prefer_quoted && !s.is_empty() && s.iter().all(|&b| is_astring_char(b)) {
            return self.raw(s);
        }
        self.string(s)
    }

    /// A mailbox name (or LIST pattern when `wildcards`): modified UTF-7 unless UTF-8 is
    /// enabled.
    fn mailbox(&mut self, name: &str, wildcards: bool) -> Result<(), Error> {
        if name.eq_ignore_ascii_case("INBOX") {
            return self.astring(name.as_bytes());
        }
        if self.opts.utf8 || name.is_ascii() && !name.bytes().any(|b| b < 0x20 || b == 0x7f) {
            if wildcards
                && !self.opts.prefer_quoted
                && !name.is_empty()
                && name
                    .bytes()
                    .all(|b| is_astring_char(b) || b == b'%' || b == b'*')
            {
                return self.raw(name.as_bytes());
            }
            if !name.contains('&') || self.opts.utf8 {
                return self.astring(name.as_bytes());
            }
        }
        // Modified UTF-7: printable ASCII output, decide atom versus quoted first.
        let mut atom_ok = !name.is_empty() && !self.opts.prefer_quoted;
        mutf7::encode_with(name, &mut |b| {
            if !(is_astring_char(b) || (wildcards && (b == b'%' || b == b'*'))) {
                atom_ok = false;
            }
            Ok(())
        })?;
        if !atom_ok {
            self.byte(b'"')?;
        }
        mutf7::encode_with(name, &mut |b| {
            if !atom_ok && (b == b'"' || b == b'\\') {
                self.byte(b'\\')?;
            }
            self.byte(b)
        })?;
        if !atom_ok {
            self.byte(b'"')?;
        }
        Ok(())
    }

    fn flag(&mut self, f: &str) -> Result<(), Error> {
        let b = f.as_bytes();
        match b.strip_prefix(b"\\") {
            Some(rest) => {
                self.byte(b'\\')?;
                self.atom(rest)
            }
            None => self.atom(b),
        }
    }

    fn flag_list(&mut self, flags: &[&str]) -> Result<(), Error> {
        self.byte(b'(')?;
        for (i, f) in flags.iter().enumerate() {
            if i > 0 {
                self.sp()?;
            }
            self.flag(f)?;
        }
        self.byte(b')')
    }

    fn seq_num(&mut self, n: SeqNum) -> Result<(), Error> {
        match n {
            SeqNum::Star => self.byte(b'*'),
            SeqNum::Value(0) => Err(Error::InvalidArgument),
            SeqNum::Value(v) => self.num(v),
        }
    }

    fn seq_set(&mut self, set: SequenceSet<'_>) -> Result<(), Error> {
        if set.is_empty() {
            return Err(Error::InvalidArgument);
        }
        for (i, r) in set.iter().enumerate() {
            if i > 0 {
                self.byte(b',')?;
            }
            self.seq_num(r.start)?;
            if r.end != r.start {
                self.byte(b':')?;
                self.seq_num(r.end)?;
            }
        }
        Ok(())
    }

    fn date(&mut self, d: Date) -> Result<(), Error> {
        const MONTHS: [&[u8; 3]; 12] = [
            b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
            b"Dec",
        ];
        let month = MONTHS
            .get(usize::from(d.month).wrapping_sub(1))
            .ok_or(Error::InvalidArgument)?;
        if !(1..=31).contains(&d.day) || d.year > 9999 {
            return Err(Error::InvalidArgument);
        }
        self.num(u64::from(d.day))?;
        self.byte(b'-')?;
        self.raw(*month)?;
        self.byte(b'-')?;
        self.num(u64::from(d.year))
    }

    fn section_text(&mut self, s: &str) -> Result<(), Error> {
        if s.bytes()
            .any(|b| !(0x20..0x7f).contains(&b) || b == b'[' || b == b']')
        {
            return Err(Error::InvalidArgument);
        }
        self.raw(s.as_bytes())
    }

    fn partial(&mut self, p: Option<(u64, u64)>) -> Result<(), Error> {
        if let Some((origin, count)) = p {
            if count == 0 {
                return Err(Error::InvalidArgument);
            }
            self.byte(b'<')?;
            self.num(origin)?;
            self.byte(b'.')?;
            self.num(count)?;
            self.byte(b'>')?;
        }
        Ok(())
    }

    fn fetch_attr(&mut self, a: &FetchAttr<'_>) -> Result<(), Error> {
        let kw: &[u8] = match a {
            FetchAttr::All => b"ALL",
            FetchAttr::Fast => b"FAST",
            FetchAttr::Full => b"FULL",
            FetchAttr::Uid => b"UID",
            FetchAttr::Flags => b"FLAGS",
            FetchAttr::InternalDate => b"INTERNALDATE",
            FetchAttr::Rfc822Size => b"RFC822.SIZE",
            FetchAttr::Envelope => b"ENVELOPE",
            FetchAttr::Body => b"BODY",
            FetchAttr::BodyStructure => b"BODYSTRUCTURE",
            FetchAttr::ModSeq => b"MODSEQ",
            FetchAttr::GmMsgId => b"X-GM-MSGID",
            FetchAttr::GmThrId => b"X-GM-THRID",
            FetchAttr::GmLabels => b"X-GM-LABELS",
            FetchAttr::EmailId => b"EMAILID",
            FetchAttr::ThreadId => b"THREADID",
            FetchAttr::Rfc822 => b"RFC822",
            FetchAttr::Rfc822Header => b"RFC822.HEADER",
            FetchAttr::Rfc822Text => b"RFC822.TEXT",
            FetchAttr::BodySection {
                section,
                peek,
                partial,
            } => {
                self.raw(if *peek { b"BODY.PEEK[" } else { b"BODY[" })?;
                self.section_text(section)?;
                self.byte(b']')?;
                return self.partial(*partial);
            }
            FetchAttr::Binary {
                section,
                peek,
                partial,
            } => {
                if !section.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                    return Err(Error::InvalidArgument);
                }
                self.raw(if *peek { b"BINARY.PEEK[" } else { b"BINARY[" })?;
                self.raw(section.as_bytes())?;
                self.byte(b']')?;
                return self.partial(*partial);
            }
            FetchAttr::BinarySize(section) => {
                if !section.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                    return Err(Error::InvalidArgument);
                }
                self.raw(b"BINARY.SIZE[")?;
                self.raw(section.as_bytes())?;
                return self.byte(b']');
            }
        };
        self.raw(kw)
    }

    fn search_key(&mut self, k: &SearchKey<'_>, depth: u8) -> Result<(), Error> {
        if depth == 0 {
            return Err(Error::InvalidArgument);
        }
        let (kw, arg): (&[u8], Option<&str>) = match k {
            SearchKey::All => (b"ALL", None),
            SearchKey::Answered => (b"ANSWERED", None),
            SearchKey::Deleted => (b"DELETED", None),
            SearchKey::Draft => (b"DRAFT", None),
            SearchKey::Flagged => (b"FLAGGED", None),
            SearchKey::New => (b"NEW", None),
            SearchKey::Old => (b"OLD", None),
            SearchKey::Recent => (b"RECENT", None),
            SearchKey::Seen => (b"SEEN", None),
            SearchKey::Unanswered => (b"UNANSWERED", None),
            SearchKey::Undeleted => (b"UNDELETED", None),
            SearchKey::Undraft => (b"UNDRAFT", None),
            SearchKey::Unflagged => (b"UNFLAGGED", None),
            SearchKey::Unseen => (b"UNSEEN", None),
            SearchKey::Bcc(s) => (b"BCC", Some(s)),
            SearchKey::Body(s) => (b"BODY", Some(s)),
            SearchKey::Cc(s) => (b"CC", Some(s)),
            SearchKey::From(s) => (b"FROM", Some(s)),
            SearchKey::Subject(s) => (b"SUBJECT", Some(s)),
            SearchKey::Text(s) => (b"TEXT", Some(s)),
            SearchKey::To(s) => (b"TO", Some(s)),
            SearchKey::Keyword(f) | SearchKey::Unkeyword(f) => {
                self.raw(if matches!(k, SearchKey::Keyword(_)) {
                    b"KEYWORD "
                } else {
                    b"UNKEYWORD "
                })?;
                return self.atom(f.as_bytes());
            }
            SearchKey::Header(name, value) => {
                self.raw(b"HEADER ")?;
                self.astring(name.as_bytes())?;
                self.sp()?;
                return self.astring(value.as_bytes());
            }
            SearchKey::Larger(n) | SearchKey::Smaller(n) | SearchKey::ModSeq(n) => {
                self.raw(match k {
                    SearchKey::Larger(_) => b"LARGER ",
                    SearchKey::Smaller(_) => b"SMALLER ",
                    _ => b"MODSEQ ",
                })?;
                return self.num(*n);
            }
            SearchKey::Before(d)
            | SearchKey::On(d)
            | SearchKey::SentBefore(d)
            | SearchKey::SentOn(d)
            | SearchKey::SentSince(d)
            | SearchKey::Since(d) => {
                self.raw(match k {
                    SearchKey::Before(_) => b"BEFORE ",
                    SearchKey::On(_) => b"ON ",
                    SearchKey::SentBefore(_) => b"SENTBEFORE ",
                    SearchKey::SentOn(_) => b"SENTON ",
                    SearchKey::SentSince(_) => b"SENTSINCE ",
                    _ => b"SINCE ",
                })?;
                return self.date(*d);
            }
            SearchKey::Not(inner) => {
                self.raw(b"NOT ")?;
                return self.search_key(inner, depth - 1);
            }
            SearchKey::Or(a, b) => {
                self.raw(b"OR ")?;
                self.search_key(a, depth - 1)?;
                self.sp()?;
                return self.search_key(b, depth - 1);
            }
            SearchKey::Uid(set) => {
                self.raw(b"UID ")?;
                return self.seq_set(set);
            }
            SearchKey::Seq(set) => return self.seq_set(set),
            SearchKey::And(keys) => {
                if keys.is_empty() {
                    return Err(Error::InvalidArgument);
                }
                self.byte(b'(')?;
                self.search_keys(keys, depth - 1)?;
                return self.byte(b')');
            }
        };
        self.raw(kw)?;
        if let Some(a) = arg {
            self.sp()?;
            self.astring(a.as_bytes())?;
        }
        Ok(())
    }

    fn search_keys(&mut self, keys: &[SearchKey<'_>], depth: u8) -> Result<(), Error> {
        if keys.is_empty() {
            return Err(Error::InvalidArgument);
        }
        for (i, k) in keys.iter().enumerate() {
            if i > 0 {
                self.sp()?;
            }
            self.search_key(k, depth)?;
        }
        Ok(())
    }

    fn uid(&mut self, uid: bool) -> Result<(), Error> {
        if uid { self.raw(b"UID ") } else { Ok(()) }
    }
}

/// Search key nesting bound.
const MAX_SEARCH_DEPTH: u8 = 16;

impl Command<'_> {
    /// Encode `tag SP command CRLF` into `out`.
    ///
    /// Errors: [`Error::BufferTooSmall`], [`Error::InvalidArgument`] (invalid tag, flag,
    /// atom, empty set or list, NUL byte, more than [`MAX_SYNC_LITERALS`] synchronizing
    /// literals).
    pub fn encode(
        &self,
        tag: &str,
        opts: &EncodeOptions,
        out: &mut [u8],
    ) -> Result<Encoded, Error> {
        if tag.is_empty() || !tag.bytes().all(is_tag_char) {
            return Err(Error::InvalidArgument);
        }
        let mut w = W {
            buf: out,
            n: 0,
            opts: *opts,
            syncs: [0; MAX_SYNC_LITERALS],
            n_syncs: 0,
        };
        w.raw(tag.as_bytes())?;
        w.sp()?;
        let mut crlf = true;
        match self {
            Command::Capability => w.raw(b"CAPABILITY")?,
            Command::Noop => w.raw(b"NOOP")?,
            Command::Logout => w.raw(b"LOGOUT")?,
            Command::StartTls => w.raw(b"STARTTLS")?,
            Command::Namespace => w.raw(b"NAMESPACE")?,
            Command::Idle => w.raw(b"IDLE")?,
            Command::Close => w.raw(b"CLOSE")?,
            Command::Unselect => w.raw(b"UNSELECT")?,
            Command::Expunge => w.raw(b"EXPUNGE")?,
            Command::Authenticate {
                mechanism,
                initial_response,
            } => {
                w.raw(b"AUTHENTICATE ")?;
                w.atom(mechanism.as_bytes())?;
                if let Some(ir) = initial_response {
                    w.sp()?;
                    if ir.is_empty() {
                        w.byte(b'=')?;
                    } else {
                        let dst = w.buf.get_mut(w.n..).ok_or(Error::BufferTooSmall)?;
                        let n = postwire_core::base64::encode_into(ir, dst)
                            .map_err(|_| Error::BufferTooSmall)?;
                        w.n += n;
                    }
                }
            }
            Command::Login { username, password } => {
                w.raw(b"LOGIN ")?;
                w.astring(username.as_bytes())?;
                w.sp()?;
                w.astring(password.as_bytes())?;
            }
            Command::Enable(caps) => {
                if caps.is_empty() {
                    return Err(Error::InvalidArgument);
                }
                w.raw(b"ENABLE")?;
                for c in *caps {
                    w.sp()?;
                    w.atom(c.as_bytes())?;
                }
            }
            Command::Id(params) => {
                w.raw(b"ID ")?;
                match params {
                    None | Some([]) => w.raw(b"NIL")?,
                    Some(p) => {
                        w.byte(b'(')?;
                        for (i, (k, v)) in p.iter().enumerate() {
                            if i > 0 {
                                w.sp()?;
                            }
                            w.string(k.as_bytes())?;
                            w.sp()?;
                            match v {
                                Some(v) => w.string(v.as_bytes())?,
                                None => w.raw(b"NIL")?,
                            }
                        }
                        w.byte(b')')?;
                    }
                }
            }
            Command::Select { mailbox, condstore } | Command::Examine { mailbox, condstore } => {
                w.raw(if matches!(self, Command::Select { .. }) {
                    b"SELECT "
                } else {
                    b"EXAMINE "
                })?;
                w.mailbox(mailbox, false)?;
                if *condstore {
                    w.raw(b" (CONDSTORE)")?;
                }
            }
            Command::Create(m)
            | Command::Delete(m)
            | Command::Subscribe(m)
            | Command::Unsubscribe(m)
            | Command::GetQuotaRoot(m) => {
                w.raw(match self {
                    Command::Create(_) => b"CREATE ",
                    Command::Delete(_) => b"DELETE ",
                    Command::Subscribe(_) => b"SUBSCRIBE ",
                    Command::Unsubscribe(_) => b"UNSUBSCRIBE ",
                    _ => b"GETQUOTAROOT ",
                })?;
                w.mailbox(m, false)?;
            }
            Command::GetQuota(root) => {
                w.raw(b"GETQUOTA ")?;
                w.astring(root.as_bytes())?;
            }
            Command::Rename { from, to } => {
                w.raw(b"RENAME ")?;
                w.mailbox(from, false)?;
                w.sp()?;
                w.mailbox(to, false)?;
            }
            Command::List {
                reference,
                pattern,
                return_special_use,
            } => {
                w.raw(b"LIST ")?;
                if reference.is_empty() {
                    w.raw(b"\"\"")?;
                } else {
                    w.mailbox(reference, false)?;
                }
                w.sp()?;
                if pattern.is_empty() {
                    w.raw(b"\"\"")?;
                } else {
                    w.mailbox(pattern, true)?;
                }
                if *return_special_use {
                    w.raw(b" RETURN (SPECIAL-USE)")?;
                }
            }
            Command::Lsub { reference, pattern } => {
                w.raw(b"LSUB ")?;
                if reference.is_empty() {
                    w.raw(b"\"\"")?;
                } else {
                    w.mailbox(reference, false)?;
                }
                w.sp()?;
                if pattern.is_empty() {
                    w.raw(b"\"\"")?;
                } else {
                    w.mailbox(pattern, true)?;
                }
            }
            Command::Status { mailbox, items } => {
                if items.is_empty() {
                    return Err(Error::InvalidArgument);
                }
                w.raw(b"STATUS ")?;
                w.mailbox(mailbox, false)?;
                w.raw(b" (")?;
                for (i, it) in items.iter().enumerate() {
                    if i > 0 {
                        w.sp()?;
                    }
                    w.raw(it.keyword())?;
                }
                w.byte(b')')?;
            }
            Command::Append {
                mailbox,
                flags,
                date,
                message_len,
            } => {
                w.raw(b"APPEND ")?;
                w.mailbox(mailbox, false)?;
                if !flags.is_empty() {
                    w.sp()?;
                    w.flag_list(flags)?;
                }
                if let Some(d) = date {
                    if !d
                        .bytes()
                        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
                    {
                        return Err(Error::InvalidArgument);
                    }
                    w.sp()?;
                    w.quoted(d.as_bytes())?;
                }
                w.sp()?;
                w.literal_head(*message_len)?;
                crlf = false;
            }
            Command::UidExpunge(set) => {
                w.raw(b"UID EXPUNGE ")?;
                w.seq_set(set)?;
            }
            Command::Search {
                uid,
                charset,
                criteria,
            }
            | Command::ESearch {
                uid,
                charset,
                criteria,
            } => {
                w.uid(*uid)?;
                w.raw(b"SEARCH ")?;
                if matches!(self, Command::ESearch { .. }) {
                    w.raw(b"RETURN (ALL) ")?;
                }
                if let Some(cs) = charset {
                    w.raw(b"CHARSET ")?;
                    w.astring(cs.as_bytes())?;
                    w.sp()?;
                }
                w.search_keys(criteria, MAX_SEARCH_DEPTH)?;
            }
            Command::Fetch {
                uid,
                set,
                attrs,
                changed_since,
            } => {
                w.uid(*uid)?;
                w.raw(b"FETCH ")?;
                w.seq_set(set)?;
                w.sp()?;
                let is_macro = |a: &FetchAttr<'_>| {
                    matches!(a, FetchAttr::All | FetchAttr::Fast | FetchAttr::Full)
                };
                match attrs {
                    [] => return Err(Error::InvalidArgument),
                    [one] => w.fetch_attr(one)?,
                    many => {
                        if many.iter().any(is_macro) {
                            return Err(Error::InvalidArgument);
                        }
                        w.byte(b'(')?;
                        for (i, a) in many.iter().enumerate() {
                            if i > 0 {
                                w.sp()?;
                            }
                            w.fetch_attr(a)?;
                        }
                        w.byte(b')')?;
                    }
                }
                if let Some(n) = changed_since {
                    w.raw(b" (CHANGEDSINCE ")?;
                    w.num(*n)?;
                    w.byte(b')')?;
                }
            }
            Command::Store {
                uid,
                set,
                mode,
                silent,
                flags,
                unchanged_since,
            } => {
                w.uid(*uid)?;
                w.raw(b"STORE ")?;
                w.seq_set(set)?;
                w.sp()?;
                if let Some(n) = unchanged_since {
                    w.raw(b"(UNCHANGEDSINCE ")?;
                    w.num(*n)?;
                    w.raw(b") ")?;
                }
                w.raw(match mode {
                    StoreMode::Replace => b"FLAGS",
                    StoreMode::Add => b"+FLAGS",
                    StoreMode::Remove => b"-FLAGS",
                })?;
                if *silent {
                    w.raw(b".SILENT")?;
                }
                w.sp()?;
                w.flag_list(flags)?;
            }
            Command::Copy { uid, set, mailbox } | Command::Move { uid, set, mailbox } => {
                w.uid(*uid)?;
                w.raw(if matches!(self, Command::Copy { .. }) {
                    b"COPY "
                } else {
                    b"MOVE "
                })?;
                w.seq_set(set)?;
                w.sp()?;
                w.mailbox(mailbox, false)?;
            }
            Command::SetAcl {
                mailbox,
                identifier,
                rights,
                mode,
            } => {
                w.raw(b"SETACL ")?;
                w.mailbox(mailbox, false)?;
                w.sp()?;
                w.astring(identifier.as_bytes())?;
                w.sp()?;
                let prefix: &[u8] = match mode {
                    StoreMode::Replace => b"",
                    StoreMode::Add => b"+",
                    StoreMode::Remove => b"-",
                };
                if rights.is_empty() || !rights.bytes().all(is_astring_char) {
                    return Err(Error::InvalidArgument);
                }
                w.raw(prefix)?;
                w.raw(rights.as_bytes())?;
            }
            Command::DeleteAcl {
                mailbox,
                identifier,
            } => {
                w.raw(b"DELETEACL ")?;
                w.mailbox(mailbox, false)?;
                w.sp()?;
                w.astring(identifier.as_bytes())?;
            }
            Command::Raw(s) => {
                if s.is_empty() || s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
                    return Err(Error::InvalidArgument);
                }
                w.raw(s.as_bytes())?;
            }
        }
        if crlf {
            w.raw(b"\r\n")?;
        }
        Ok(Encoded {
            len: w.n,
            syncs: w.syncs,
            n_syncs: w.n_syncs,
        })
    }
}

/// `DONE\r\n`, ending IDLE.
pub fn encode_done(out: &mut [u8]) -> Result<usize, Error> {
    let dst = out.get_mut(..6).ok_or(Error::BufferTooSmall)?;
    dst.copy_from_slice(b"DONE\r\n");
    Ok(6)
}

/// A SASL response line: `base64(data) CRLF` (empty data gives an empty line). Use `*\r\n`
/// to cancel an exchange.
pub fn encode_sasl_response(data: &[u8], out: &mut [u8]) -> Result<usize, Error> {
    let n = postwire_core::base64::encode_into(data, out).map_err(|_| Error::BufferTooSmall)?;
    let dst = out.get_mut(n..n + 2).ok_or(Error::BufferTooSmall)?;
    dst.copy_from_slice(b"\r\n");
    Ok(n + 2)
}

/// Write `s` as an IMAP quoted string (escaping `"` and `\`). CR, LF and NUL cannot be
/// quoted: [`Error::InvalidArgument`] (send such values as literals).
///
/// ```
/// use postwire_imap::wire::quote_string;
/// let mut buf = [0u8; 16];
/// let n = quote_string(b"a\"b\\c", &mut buf).unwrap();
/// assert_eq!(&buf[..n], b"\"a\\\"b\\\\c\"");
/// ```
pub fn quote_string(s: &[u8], out: &mut [u8]) -> Result<usize, Error> {
    if s.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(Error::InvalidArgument);
    }
    let mut w = W {
        buf: out,
        n: 0,
        opts: EncodeOptions::default(),
        syncs: [0; MAX_SYNC_LITERALS],
        n_syncs: 0,
    };
    w.quoted(s)?;
    Ok(w.n)
}
