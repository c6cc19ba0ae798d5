//! The sans-I/O part of the IMAP client: capabilities, the selected mailbox's state, and how
//! each server response changes them. No I/O, no generics; the async [`client`](crate::client)
//! feeds every response it reads through [`Session::apply`], so unsolicited responses
//! (EXISTS, EXPUNGE, VANISHED, FETCH flags, BYE, capability codes) update the state whenever
//! they arrive.
//!
//! ```
//! use postwire_imap::proto::{Cap, Session};
//! use postwire_imap::wire::{parse_response, Status};
//!
//! let mut s = Session::new();
//! for line in [
//!     &b"* CAPABILITY IMAP4rev1 IDLE MOVE LITERAL+ AUTH=PLAIN\r\n"[..],
//!     b"* 3 EXISTS\r\n",
//!     b"* OK [UIDVALIDITY 7] ok\r\n",
//!     b"* 2 EXPUNGE\r\n",
//! ] {
//!     let Ok(Status::Complete((_, r))) = parse_response(line) else { unreachable!() };
//!     s.apply(&r);
//! }
//! assert!(s.capabilities().has(Cap::Idle));
//! assert_eq!(s.mailbox().exists, 2);
//! assert_eq!(s.mailbox().uidvalidity, Some(7));
//! ```

use core::fmt;

use postwire_core::sasl::Mechanism;

use crate::wire::{Atoms, Code, FetchItem, Response, StatusKind, StatusResponse};

/// Capabilities the client acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
#[repr(u8)]
pub enum Cap {
    /// `IMAP4rev1`.
    Imap4Rev1,
    /// `IMAP4rev2` (RFC 9051).
    Imap4Rev2,
    /// `STARTTLS`.
    StartTls,
    /// `LOGINDISABLED`.
    LoginDisabled,
    /// `SASL-IR` (RFC 4959).
    SaslIr,
    /// `IDLE` (RFC 2177).
    Idle,
    /// `MOVE` (RFC 6851).
    Move,
    /// `UIDPLUS` (RFC 4315).
    UidPlus,
    /// `LITERAL+` (RFC 7888).
    LiteralPlus,
    /// `LITERAL-` (RFC 7888).
    LiteralMinus,
    /// `ENABLE` (RFC 5161).
    Enable,
    /// `CONDSTORE` (RFC 7162).
    CondStore,
    /// `QRESYNC` (RFC 7162).
    QResync,
    /// `UTF8=ACCEPT` (RFC 6855).
    Utf8Accept,
    /// `ESEARCH` (RFC 4731).
    ESearch,
    /// `ID` (RFC 2971).
    Id,
    /// `UNSELECT` (RFC 3691).
    Unselect,
    /// `SPECIAL-USE` (RFC 6154).
    SpecialUse,
    /// `NAMESPACE` (RFC 2342).
    Namespace,
    /// `BINARY` (RFC 3516).
    Binary,
    /// `LIST-EXTENDED` (RFC 5258).
    ListExtended,
}

const CAP_NAMES: [(&[u8], Cap); 21] = [
    (b"IMAP4REV1", Cap::Imap4Rev1),
    (b"IMAP4REV2", Cap::Imap4Rev2),
    (b"STARTTLS", Cap::StartTls),
    (b"LOGINDISABLED", Cap::LoginDisabled),
    (b"SASL-IR", Cap::SaslIr),
    (b"IDLE", Cap::Idle),
    (b"MOVE", Cap::Move),
    (b"UIDPLUS", Cap::UidPlus),
    (b"LITERAL+", Cap::LiteralPlus),
    (b"LITERAL-", Cap::LiteralMinus),
    (b"ENABLE", Cap::Enable),
    (b"CONDSTORE", Cap::CondStore),
    (b"QRESYNC", Cap::QResync),
    (b"UTF8=ACCEPT", Cap::Utf8Accept),
    (b"ESEARCH", Cap::ESearch),
    (b"ID", Cap::Id),
    (b"UNSELECT", Cap::Unselect),
    (b"SPECIAL-USE", Cap::SpecialUse),
    (b"NAMESPACE", Cap::Namespace),
    (b"BINARY", Cap::Binary),
    (b"LIST-EXTENDED", Cap::ListExtended),
];

impl Cap {
    /// The capability name as announced (upper case).
    pub fn name(self) -> &'static str {
        CAP_NAMES
            .iter()
            .find(|(_, c)| *c == self)
            .and_then(|(n, _)| core::str::from_utf8(n).ok())
            .unwrap_or("?")
    }
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cap::Imap4Rev1 => f.write_str("IMAP4rev1"),
            Cap::Imap4Rev2 => f.write_str("IMAP4rev2"),
            other => f.write_str(other.name()),
        }
    }
}

/// The server's capabilities as far as the client uses them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Capabilities {
    bits: u32,
    auth: u8,
    known: bool,
}

fn mech_bit(m: Mechanism) -> u8 {
    match m {
        Mechanism::Plain => 1,
        Mechanism::Login => 2,
        Mechanism::CramMd5 => 4,
        Mechanism::XOAuth2 => 8,
        _ => 0,
    }
}

impl Capabilities {
    /// Nothing known yet.
    pub const fn unknown() -> Self {
        Capabilities {
            bits: 0,
            auth: 0,
            known: false,
        }
    }

    /// Known, but nothing announced (a server that refused CAPABILITY).
    pub const fn none() -> Self {
        Capabilities {
            bits: 0,
            auth: 0,
            known: true,
        }
    }

    /// Read a capability list (replacing what was known).
    pub fn from_atoms(atoms: Atoms<'_>) -> Self {
        let mut c = Capabilities {
            bits: 0,
            auth: 0,
            known: true,
        };
        for a in atoms {
            if let Some((_, cap)) = CAP_NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(a)) {
                c.bits |= 1 << (*cap as u8);
            } else if a.len() > 5
                && a.get(..5).is_some_and(|p| p.eq_ignore_ascii_case(b"AUTH="))
                && let Some(m) = a.get(5..).and_then(Mechanism::from_name)
            {
                c.auth |= mech_bit(m);
            }
        }
        c
    }

    /// Whether a capability list was received.
    pub const fn is_known(&self) -> bool {
        self.known
    }

    /// Whether the capability is announced.
    pub const fn has(&self, cap: Cap) -> bool {
        self.bits & (1 << (cap as u8)) != 0
    }

    /// Whether `AUTH=<mechanism>` is announced.
    pub fn auth(&self, m: Mechanism) -> bool {
        let b = mech_bit(m);
        b != 0 && self.auth & b != 0
    }

    /// Whether any `AUTH=` mechanism the client knows is announced.
    pub const fn any_auth(&self) -> bool {
        self.auth != 0
    }
}

/// System flags as bits (see [`FlagSet`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FlagBits(u8);

const SYSTEM_FLAGS: [(&str, u8); 7] = [
    ("\\Seen", 1),
    ("\\Answered", 2),
    ("\\Flagged", 4),
    ("\\Deleted", 8),
    ("\\Draft", 16),
    ("\\Recent", 32),
    ("\\*", 64),
];

impl FlagBits {
    fn bit(flag: &[u8]) -> u8 {
        SYSTEM_FLAGS
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(flag))
            .map_or(0, |(_, b)| *b)
    }

    /// Whether the system flag (e.g. `"\\Seen"`) is set; `"\\*"` is "new keywords may be
    /// created" in PERMANENTFLAGS.
    pub fn contains(&self, flag: &str) -> bool {
        let b = Self::bit(flag.as_bytes());
        b != 0 && self.0 & b != 0
    }

    /// The set flags' names.
    pub fn iter(&self) -> impl Iterator<Item = &'static str> + '_ {
        SYSTEM_FLAGS
            .iter()
            .filter(|(_, b)| self.0 & b != 0)
            .map(|(n, _)| *n)
    }

    /// Collect the system flags of a flag list.
    pub fn from_atoms(atoms: Atoms<'_>) -> Self {
        FlagBits(atoms.fold(0, |acc, a| acc | Self::bit(a)))
    }
}

/// Room for keyword flags in a [`FlagSet`].
pub const KEYWORD_BYTES: usize = 96;

/// A flag list without allocation: system flags as bits, keywords (and unknown
/// backslash flags) in a small fixed buffer. Keywords beyond [`KEYWORD_BYTES`] are counted in
/// [`truncated`](Self::truncated) rather than kept.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FlagSet {
    /// The system flags.
    pub system: FlagBits,
    keywords: [u8; KEYWORD_BYTES],
    len: u8,
    truncated: u8,
}

impl Default for FlagSet {
    fn default() -> Self {
        FlagSet {
            system: FlagBits(0),
            keywords: [0; KEYWORD_BYTES],
            len: 0,
            truncated: 0,
        }
    }
}

impl FlagSet {
    /// Read a flag list.
    pub fn from_atoms(atoms: Atoms<'_>) -> Self {
        let mut s = FlagSet::default();
        for a in atoms {
            let b = FlagBits::bit(a);
            if b != 0 {
                s.system.0 |= b;
                continue;
            }
            let at = usize::from(s.len);
            let sep = usize::from(at > 0);
            match s.keywords.get_mut(at..at + sep + a.len()) {
                Some(dst) if !a.is_empty() => {
                    if let Some((first, rest)) = dst.split_first_mut()
                        && sep == 1
                    {
                        *first = b' ';
                        rest.copy_from_slice(a);
                    } else {
                        dst.copy_from_slice(a);
                    }
                    s.len = (at + sep + a.len()) as u8;
                }
                _ => s.truncated = s.truncated.saturating_add(1),
            }
        }
        s
    }

    /// Whether `flag` is in the set (system flags and keywords, ASCII case-insensitive).
    pub fn contains(&self, flag: &str) -> bool {
        self.system.contains(flag) || self.keywords().any(|k| k.eq_ignore_ascii_case(flag))
    }

    /// The keywords (and unknown backslash flags) kept.
    pub fn keywords(&self) -> impl Iterator<Item = &str> + '_ {
        self.keywords
            .get(..usize::from(self.len))
            .unwrap_or_default()
            .split(|&b| b == b' ')
            .filter(|k| !k.is_empty())
            .filter_map(|k| core::str::from_utf8(k).ok())
    }

    /// Every flag: system flags, then keywords.
    pub fn iter<'a>(&'a self) -> impl Iterator<Item = &'a str> + 'a {
        self.system
            .iter()
            .map(|s| -> &'a str { s })
            .chain(self.keywords())
    }

    /// Keywords that did not fit and were dropped.
    pub fn truncated(&self) -> u8 {
        self.truncated
    }
}

impl fmt::Debug for FlagSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for FlagSet {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "FlagSet({=u8:b})", self.system.0)
    }
}

/// The state of the selected mailbox (RFC 3501 §7.3 and §7.1 response codes), kept up to
/// date by every response the client reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Mailbox {
    /// Number of messages (`* n EXISTS`, less expunged ones).
    pub exists: u64,
    /// `* n RECENT` (IMAP4rev1 only).
    pub recent: u64,
    /// `[UIDVALIDITY n]`.
    pub uidvalidity: Option<u64>,
    /// `[UIDNEXT n]`: the UID the next message will get (a lower bound once messages
    /// arrive).
    pub uidnext: Option<u64>,
    /// `[UNSEEN n]`: the first unseen message (IMAP4rev1 only).
    pub unseen: Option<u64>,
    /// `[HIGHESTMODSEQ n]` (CONDSTORE).
    pub highest_modseq: Option<u64>,
    /// `[NOMODSEQ]` was sent.
    pub no_modseq: bool,
    /// Opened read-only (EXAMINE, or `[READ-ONLY]`).
    pub read_only: bool,
    /// `* FLAGS (...)`.
    pub flags: FlagSet,
    /// `[PERMANENTFLAGS (...)]`.
    pub permanent_flags: FlagSet,
    /// Messages expunged (EXPUNGE / VANISHED) since the mailbox was selected.
    pub expunged: u64,
    /// Unsolicited or solicited FETCH responses carrying FLAGS since the mailbox was selected.
    pub flag_updates: u64,
}

/// A checkpoint for resuming a command mailbox on a new connection: store it (8 + 8 bytes)
/// and hand it to [`Client::new_since`](crate::client::Client::new_since).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Checkpoint {
    /// UIDVALIDITY of the mailbox when the checkpoint was taken.
    pub uidvalidity: u64,
    /// The highest UID processed (0: none).
    pub last_uid: u64,
}

/// Where the connection is (RFC 3501 §3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum State {
    /// Waiting for the greeting.
    #[default]
    Greeting,
    /// Greeting received, not logged in.
    NotAuthenticated,
    /// Logged in, no mailbox selected.
    Authenticated,
    /// A mailbox is selected.
    Selected,
    /// The server said BYE or the client logged out.
    Logout,
}

/// What a response meant for the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Applied {
    /// Nothing the session tracks.
    Nothing,
    /// `* n EXISTS`.
    Exists(u64),
    /// `* n RECENT`.
    Recent(u64),
    /// `* n EXPUNGE`.
    Expunge(u64),
    /// `* VANISHED` (not EARLIER) with this many UIDs.
    Vanished(u64),
    /// A FETCH response carrying FLAGS.
    Flags {
        /// Sequence number.
        seq: u64,
        /// UID, when the response carried it.
        uid: Option<u64>,
        /// The system flags now set.
        flags: FlagBits,
    },
    /// An untagged `OK` with no response code the session tracks (e.g. a keepalive).
    Keepalive,
    /// `* BYE`: the server is closing the connection.
    Bye,
    /// Capabilities changed.
    Capabilities,
}

/// Capabilities, state and selected mailbox of one connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Session {
    caps: Capabilities,
    state: State,
    mailbox: Mailbox,
    utf8: bool,
    condstore: bool,
    qresync: bool,
    tag: u32,
}

impl Session {
    /// A session waiting for the greeting.
    pub const fn new() -> Self {
        Session {
            caps: Capabilities::unknown(),
            state: State::Greeting,
            mailbox: Mailbox {
                exists: 0,
                recent: 0,
                uidvalidity: None,
                uidnext: None,
                unseen: None,
                highest_modseq: None,
                no_modseq: false,
                read_only: false,
                flags: FlagSet {
                    system: FlagBits(0),
                    keywords: [0; KEYWORD_BYTES],
                    len: 0,
                    truncated: 0,
                },
                permanent_flags: FlagSet {
                    system: FlagBits(0),
                    keywords: [0; KEYWORD_BYTES],
                    len: 0,
                    truncated: 0,
                },
                expunged: 0,
                flag_updates: 0,
            },
            utf8: false,
            condstore: false,
            qresync: false,
            tag: 0,
        }
    }

    /// The capabilities known (forgotten at a TLS upgrade and after login until re-read).
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// Replace the capabilities.
    pub fn set_capabilities(&mut self, caps: Capabilities) {
        self.caps = caps;
    }

    /// Forget the capabilities (after STARTTLS; RFC 3501 §6.2.1).
    pub fn forget_capabilities(&mut self) {
        self.caps = Capabilities::unknown();
    }

    /// The connection state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Set the connection state.
    pub fn set_state(&mut self, state: State) {
        self.state = state;
    }

    /// The selected mailbox (meaningful in [`State::Selected`]).
    pub fn mailbox(&self) -> &Mailbox {
        &self.mailbox
    }

    /// Start a SELECT / EXAMINE: the old mailbox state is dropped.
    pub fn begin_select(&mut self, read_only: bool) {
        self.mailbox = Session::new().mailbox;
        self.mailbox.read_only = read_only;
        if self.state == State::Selected {
            self.state = State::Authenticated;
        }
    }

    /// Whether UTF-8 mailbox names are in use (`UTF8=ACCEPT` enabled or IMAP4rev2).
    pub fn utf8(&self) -> bool {
        self.utf8
    }

    /// Whether CONDSTORE is enabled.
    pub fn condstore(&self) -> bool {
        self.condstore || self.qresync
    }

    /// Whether QRESYNC is enabled (EXPUNGE arrives as VANISHED).
    pub fn qresync(&self) -> bool {
        self.qresync
    }

    /// The next command tag (`A1`, `A2`, ...), written into `out`.
    pub fn next_tag<'o>(&mut self, out: &'o mut [u8; 12]) -> &'o str {
        self.tag = self.tag.wrapping_add(1);
        let mut v = self.tag;
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        loop {
            i -= 1;
            if let Some(d) = digits.get_mut(i) {
                *d = b'0' + (v % 10) as u8;
            }
            v /= 10;
            if v == 0 {
                break;
            }
        }
        if let Some(a) = out.first_mut() {
            *a = b'A';
        }
        let n = digits.len() - i;
        if let (Some(dst), Some(src)) = (out.get_mut(1..1 + n), digits.get(i..)) {
            dst.copy_from_slice(src);
        }
        core::str::from_utf8(out.get(..1 + n).unwrap_or_default()).unwrap_or("A")
    }

    /// Apply one response (tagged or untagged) to the state.
    pub fn apply(&mut self, r: &Response<'_>) -> Applied {
        match r {
            Response::Capability(atoms) => {
                self.caps = Capabilities::from_atoms(*atoms);
                if self.caps.has(Cap::Imap4Rev2) && !self.caps.has(Cap::Imap4Rev1) {
                    // An IMAP4rev2-only server: UTF-8 names, no RECENT, ESEARCH semantics.
                    self.utf8 = true;
                }
                Applied::Capabilities
            }
            Response::Enabled(atoms) => {
                for a in *atoms {
                    if a.eq_ignore_ascii_case(b"UTF8=ACCEPT")
                        || a.eq_ignore_ascii_case(b"IMAP4rev2")
                    {
                        self.utf8 = true;
                    } else if a.eq_ignore_ascii_case(b"CONDSTORE") {
                        self.condstore = true;
                    } else if a.eq_ignore_ascii_case(b"QRESYNC") {
                        self.qresync = true;
                    }
                }
                Applied::Nothing
            }
            Response::Status(s) => self.apply_status(s),
            Response::Flags(atoms) => {
                self.mailbox.flags = FlagSet::from_atoms(*atoms);
                Applied::Nothing
            }
            Response::Exists(n) => {
                self.mailbox.exists = *n;
                Applied::Exists(*n)
            }
            Response::Recent(n) => {
                self.mailbox.recent = *n;
                Applied::Recent(*n)
            }
            Response::Expunge(n) => {
                self.mailbox.exists = self.mailbox.exists.saturating_sub(1);
                self.mailbox.expunged += 1;
                Applied::Expunge(*n)
            }
            Response::Vanished(v) => {
                if v.earlier {
                    return Applied::Nothing;
                }
                let n = v
                    .uids
                    .fold(0u64, |acc, (a, b)| acc.saturating_add(a.abs_diff(b) + 1));
                self.mailbox.exists = self.mailbox.exists.saturating_sub(n);
                self.mailbox.expunged = self.mailbox.expunged.saturating_add(n);
                Applied::Vanished(n)
            }
            Response::Fetch(f) => {
                let mut flags = None;
                let mut uid = None;
                for item in f.items {
                    match item {
                        FetchItem::Flags(a) => flags = Some(FlagBits::from_atoms(a)),
                        FetchItem::Uid(u) => uid = Some(u),
                        FetchItem::ModSeq(m)
                            if self.mailbox.highest_modseq.is_some_and(|h| m > h) =>
                        {
                            self.mailbox.highest_modseq = Some(m);
                        }
                        _ => {}
                    }
                }
                match flags {
                    Some(flags) => {
                        self.mailbox.flag_updates += 1;
                        Applied::Flags {
                            seq: f.seq,
                            uid,
                            flags,
                        }
                    }
                    None => Applied::Nothing,
                }
            }
            _ => Applied::Nothing,
        }
    }

    fn apply_status(&mut self, s: &StatusResponse<'_>) -> Applied {
        if s.kind == StatusKind::Bye {
            self.state = State::Logout;
            return Applied::Bye;
        }
        let Some(code) = &s.code else {
            return if s.tag.is_none() && s.kind == StatusKind::Ok {
                Applied::Keepalive
            } else {
                Applied::Nothing
            };
        };
        let m = &mut self.mailbox;
        match code {
            Code::Capability(atoms) => {
                self.caps = Capabilities::from_atoms(*atoms);
                return Applied::Capabilities;
            }
            Code::UidValidity(v) => m.uidvalidity = Some(*v),
            Code::UidNext(v) => m.uidnext = Some(*v),
            Code::Unseen(v) => m.unseen = Some(*v),
            Code::HighestModSeq(v) => m.highest_modseq = Some(*v),
            Code::NoModSeq => m.no_modseq = true,
            Code::PermanentFlags(atoms) => m.permanent_flags = FlagSet::from_atoms(*atoms),
            Code::ReadOnly if s.tag.is_some() => m.read_only = true,
            Code::ReadWrite if s.tag.is_some() => m.read_only = false,
            _ => {}
        }
        Applied::Nothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Status, parse_response};

    fn apply(s: &mut Session, line: &[u8]) -> Applied {
        let Ok(Status::Complete((_, r))) = parse_response(line) else {
            panic!("{}", std::string::String::from_utf8_lossy(line))
        };
        s.apply(&r)
    }

    #[test]
    fn select_state() {
        let mut s = Session::new();
        s.begin_select(false);
        for l in [
            &b"* 172 EXISTS\r\n"[..],
            b"* 1 RECENT\r\n",
            b"* OK [UNSEEN 12] Message 12 is first unseen\r\n",
            b"* OK [UIDVALIDITY 3857529045] UIDs valid\r\n",
            b"* OK [UIDNEXT 4392] Predicted next UID\r\n",
            b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded)\r\n",
            b"* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n",
            b"* OK [HIGHESTMODSEQ 715194045007] Highest\r\n",
            b"A142 OK [READ-WRITE] SELECT completed\r\n",
        ] {
            apply(&mut s, l);
        }
        let m = s.mailbox();
        assert_eq!(m.exists, 172);
        assert_eq!(m.recent, 1);
        assert_eq!(m.unseen, Some(12));
        assert_eq!(m.uidvalidity, Some(3857529045));
        assert_eq!(m.uidnext, Some(4392));
        assert_eq!(m.highest_modseq, Some(715194045007));
        assert!(!m.read_only);
        assert!(m.flags.contains("\\seen"));
        assert!(m.flags.contains("$forwarded"));
        assert!(!m.flags.contains("\\Recent"));
        assert!(m.permanent_flags.contains("\\*"));
        assert!(!m.permanent_flags.contains("\\Answered"));
        assert_eq!(
            m.flags.iter().collect::<std::vec::Vec<_>>(),
            [
                "\\Seen",
                "\\Answered",
                "\\Flagged",
                "\\Deleted",
                "\\Draft",
                "$Forwarded"
            ]
        );
    }

    #[test]
    fn unsolicited_updates() {
        let mut s = Session::new();
        assert_eq!(apply(&mut s, b"* 5 EXISTS\r\n"), Applied::Exists(5));
        assert_eq!(apply(&mut s, b"* 3 EXPUNGE\r\n"), Applied::Expunge(3));
        assert_eq!(
            apply(&mut s, b"* VANISHED 10:12,15\r\n"),
            Applied::Vanished(4)
        );
        assert_eq!(s.mailbox().exists, 0);
        assert_eq!(s.mailbox().expunged, 5);
        assert_eq!(
            apply(&mut s, b"* VANISHED (EARLIER) 1:3\r\n"),
            Applied::Nothing
        );
        let a = apply(&mut s, b"* 2 FETCH (FLAGS (\\Seen \\Deleted) UID 9)\r\n");
        let Applied::Flags { seq, uid, flags } = a else {
            panic!("{a:?}")
        };
        assert_eq!((seq, uid), (2, Some(9)));
        assert!(flags.contains("\\Deleted") && !flags.contains("\\Flagged"));
        assert_eq!(apply(&mut s, b"* OK Still here\r\n"), Applied::Keepalive);
        assert_eq!(apply(&mut s, b"* BYE shutting down\r\n"), Applied::Bye);
        assert_eq!(s.state(), State::Logout);
    }

    #[test]
    fn capabilities() {
        let mut s = Session::new();
        apply(
            &mut s,
            b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN AUTH=CRAM-MD5 AUTH=SCRAM-SHA-1] ready\r\n",
        );
        let c = s.capabilities();
        assert!(c.is_known());
        assert!(c.has(Cap::SaslIr) && c.has(Cap::Idle) && c.has(Cap::LiteralPlus));
        assert!(!c.has(Cap::Move) && !c.has(Cap::LoginDisabled));
        assert!(c.auth(Mechanism::Plain) && c.auth(Mechanism::CramMd5));
        assert!(!c.auth(Mechanism::Login));
        s.forget_capabilities();
        assert!(!s.capabilities().is_known());
        apply(&mut s, b"* ENABLED CONDSTORE UTF8=ACCEPT\r\n");
        assert!(s.utf8() && s.condstore() && !s.qresync());
        assert_eq!(Cap::LiteralPlus.name(), "LITERAL+");
        assert_eq!(std::format!("{}", Cap::Imap4Rev2), "IMAP4rev2");
    }

    #[test]
    fn keywords_bounded() {
        let mut line = std::vec::Vec::from(&b"* FLAGS (\\Seen"[..]);
        for i in 0..40 {
            line.extend_from_slice(std::format!(" kw{i:03}").as_bytes());
        }
        line.extend_from_slice(b")\r\n");
        let mut s = Session::new();
        apply(&mut s, &line);
        let f = s.mailbox().flags;
        assert!(f.contains("\\Seen") && f.contains("kw000"));
        assert_eq!(f.keywords().count() + usize::from(f.truncated()), 40);
        assert!(f.truncated() > 0);
    }

    #[test]
    fn tags() {
        let mut s = Session::new();
        let mut b = [0u8; 12];
        assert_eq!(s.next_tag(&mut b), "A1");
        for _ in 0..98 {
            s.next_tag(&mut b);
        }
        assert_eq!(s.next_tag(&mut b), "A100");
    }
}
