//! The journals that make command execution exactly-once across reconnects.
//!
//! # The state machine
//!
//! A command message goes through these stages; the journal records the last one reached:
//!
//! ```text
//!            claim (journal written, reported)        device.execute() + journal, no await between
//!   (new) ──────────────────────────────────▶ Claimed ───────────────────────────────▶ Executed
//!                                                                                         │ SMTP reply accepted
//!   Done ◀──────────── MOVE to Processed ◀──────── Flagged ◀── STORE \Seen $Done ◀──── Replied
//!         (POP3: Replied ── DELE ... QUIT +OK ──▶ entry removed)
//! ```
//!
//! Rules, which make every step either idempotent or skipped on resume:
//!
//! 1. A message is *claimed* (IMAP: `last_uid` set to its UID; POP3: its UIDL entered) and
//!    the journal reported ([`Event::ImapJournal`](crate::Event::ImapJournal)) **before** the
//!    device runs it. A claimed message is never executed again: IMAP only executes UIDs
//!    above `last_uid` (same UIDVALIDITY), POP3 only UIDLs not in the journal.
//! 2. The device's result is stored with stage `Executed` right after `execute` returns, with
//!    no network wait in between, so a cut connection cannot fall between the two.
//! 3. After that, the reply, the flags and the move (POP3: DELE + QUIT) are retried on every
//!    resume until each is known to be done. The reply text comes from the journal (the
//!    device is not asked again). STORE and MOVE of a message that is already flagged or
//!    gone are harmless; before resuming, the job checks with `UID SEARCH` whether the
//!    message is still in the folder.
//! 4. A message that already carries the done keyword is only moved (it was handled by a run
//!    whose journal was lost).
//!
//! # Guarantees and the residual windows
//!
//! - **Execution: at most once, and exactly once unless the device resets in the window
//!   below.** Connection cuts, timeouts and server errors at any point only lead to resumed
//!   steps, never to a second execution, as long as the caller hands the same journal to the
//!   next run.
//! - **Journal in flash, device reset between "claimed" and "executed":** the command may or
//!   may not have taken effect; it is not run again, and the reply says
//!   [`Outcome::Unknown`]. (Persisting before executing is the
//!   choice that keeps at-most-once; persisting after would reopen a double-execution
//!   window.)
//! - **Journal in RAM, device reset (including `REBOOT`):** the journal is lost. Handled
//!   messages are already in the processed folder (IMAP) or deleted (POP3), so they are
//!   safe; only the one message that was in progress could run again — unless it had
//!   reached `Flagged` (IMAP: the done keyword protects it). `REBOOT` is returned to the
//!   caller only after its message was filed, so it does not repeat.
//! - **Replies: at least once.** If the connection is cut after the SMTP server accepted
//!   the reply but before its `250` arrived, the reply is sent again on resume (SMTP cannot
//!   tell).
//! - **UIDVALIDITY change (IMAP):** UIDs are then meaningless. The journal takes the new
//!   UIDVALIDITY with `last_uid = 0`, so every message in the command folder counts as new
//!   (they are all unhandled by construction: handled ones were moved). The one message that
//!   may have been in progress is recognised by its Message-ID and resumed instead of
//!   executed; one without Message-ID would be executed again (documented limitation;
//!   servers change UIDVALIDITY only when a folder is recreated or restored).
//! - **POP3:** a deletion is only final when QUIT succeeds. Entries stay in the journal
//!   (stage `Replied`) until a QUIT committed their DELE, or until a later UIDL listing no
//!   longer shows them (QUIT committed but its `+OK` was lost). The journal holds
//!   [`POP3_JOURNAL_ENTRIES`] entries; when it is full, new messages wait for the next poll.

use core::fmt;

use postwire_pop3::client::Uid;

use crate::command::Outcome;
use crate::text::TextBuf;

/// How far the current command message got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Nothing in progress (the last claimed message was filed).
    Done,
    /// Claimed: the device may have started executing it.
    Claimed,
    /// Executed; the result is in the journal.
    Executed,
    /// The reply was accepted by the submission server (POP3: waiting for DELE + QUIT).
    Replied,
    /// Flagged `\Seen` and with the done keyword (IMAP); the move is next.
    Flagged,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Done => "done",
            Stage::Claimed => "claimed",
            Stage::Executed => "executed",
            Stage::Replied => "replied",
            Stage::Flagged => "flagged",
        })
    }
}

impl Stage {
    fn code(self) -> u8 {
        match self {
            Stage::Done => 0,
            Stage::Claimed => 1,
            Stage::Executed => 2,
            Stage::Replied => 3,
            Stage::Flagged => 4,
        }
    }

    fn from_code(c: u8) -> Option<Stage> {
        Some(match c {
            0 => Stage::Done,
            1 => Stage::Claimed,
            2 => Stage::Executed,
            3 => Stage::Replied,
            4 => Stage::Flagged,
            _ => return None,
        })
    }
}

/// Longest address kept.
pub const ADDR_LEN: usize = 254;
/// Longest subject kept (decoded).
pub const SUBJECT_LEN: usize = 160;
/// Longest Message-ID kept.
pub const MSGID_LEN: usize = 160;
/// Longest command line kept.
pub const COMMAND_LEN: usize = 96;
/// Longest result text kept.
pub const RESULT_LEN: usize = 256;

/// What the reply to the message in progress needs: kept in the journal so a resumed run
/// can answer without the device and without the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingReply {
    pub(crate) reply: bool,
    pub(crate) to: TextBuf<ADDR_LEN>,
    pub(crate) subject: TextBuf<SUBJECT_LEN>,
    pub(crate) message_id: TextBuf<MSGID_LEN>,
    pub(crate) command: TextBuf<COMMAND_LEN>,
    pub(crate) outcome: Outcome,
    pub(crate) result: TextBuf<RESULT_LEN>,
}

impl PendingReply {
    /// Nothing.
    pub const fn new() -> Self {
        PendingReply {
            reply: false,
            to: TextBuf::new(),
            subject: TextBuf::new(),
            message_id: TextBuf::new(),
            command: TextBuf::new(),
            outcome: Outcome::Unknown,
            result: TextBuf::new(),
        }
    }

    /// Whether a reply is due (not for senders that are not allowed).
    pub fn wants_reply(&self) -> bool {
        self.reply
    }

    /// The recipient of the reply (the command's sender).
    pub fn to(&self) -> &str {
        self.to.as_str()
    }

    /// The command message's subject.
    pub fn subject(&self) -> &str {
        self.subject.as_str()
    }

    /// The command message's Message-ID (with brackets), or empty.
    pub fn message_id(&self) -> &str {
        self.message_id.as_str()
    }

    /// The command line.
    pub fn command(&self) -> &str {
        self.command.as_str()
    }

    /// The outcome ([`Outcome::Unknown`] until executed).
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// The result text.
    pub fn result(&self) -> &str {
        self.result.as_str()
    }
}

impl Default for PendingReply {
    fn default() -> Self {
        Self::new()
    }
}

/// The IMAP job's journal (see the [module documentation](self)). Start with
/// [`ImapJournal::new`] and hand the same value to every run; persist it with
/// [`encode`](Self::encode) / [`decode`](Self::decode) when it must survive a reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImapJournal {
    uidvalidity: u64,
    last_uid: u64,
    /// The UID of the message in progress (normally `last_uid`; differs only after a
    /// UIDVALIDITY change found it under a new UID).
    current: u64,
    stage: Stage,
    /// The message in progress lost its UID (UIDVALIDITY changed): match by Message-ID.
    orphan: bool,
    pending: PendingReply,
}

/// What to do with a message found in the command folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Not claimed yet: execute.
    Execute,
    /// The message in progress: resume after this stage.
    Resume(Stage),
    /// Already claimed and finished (UID at or below `last_uid`): leave it.
    Skip,
}

impl ImapJournal {
    /// A journal that has seen nothing.
    pub const fn new() -> Self {
        ImapJournal {
            uidvalidity: 0,
            last_uid: 0,
            current: 0,
            stage: Stage::Done,
            orphan: false,
            pending: PendingReply::new(),
        }
    }

    /// UIDVALIDITY of the command folder the UIDs belong to (0: none yet).
    pub fn uidvalidity(&self) -> u64 {
        self.uidvalidity
    }

    /// The highest UID claimed: nothing at or below it is executed again.
    pub fn last_uid(&self) -> u64 {
        self.last_uid
    }

    /// The UID of the message in progress (normally [`last_uid`](Self::last_uid)).
    pub fn current_uid(&self) -> u64 {
        self.current
    }

    /// How far the message in progress got ([`Stage::Done`]: none in progress).
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// The reply data of the message in progress.
    pub fn pending(&self) -> &PendingReply {
        &self.pending
    }

    /// After SELECT: adopt the folder's UIDVALIDITY. Returns the old one when it changed
    /// (then `last_uid` restarts at 0 and a message in progress is matched by Message-ID).
    pub(crate) fn on_select(&mut self, uidvalidity: u64) -> Option<u64> {
        if self.uidvalidity == uidvalidity {
            return None;
        }
        let old = self.uidvalidity;
        if self.stage != Stage::Done {
            self.orphan = true;
        }
        self.uidvalidity = uidvalidity;
        self.last_uid = 0;
        self.current = 0;
        if old == 0 { None } else { Some(old) }
    }

    /// The message in progress under the current UIDVALIDITY, if any.
    pub(crate) fn in_progress(&self) -> Option<u64> {
        (self.stage != Stage::Done && !self.orphan && self.current != 0).then_some(self.current)
    }

    /// Whether the journal's message in progress lost its UID (matched by Message-ID).
    pub(crate) fn orphan_pending(&self) -> bool {
        self.orphan && self.stage != Stage::Done
    }

    /// What to do with the message `uid` whose Message-ID is `message_id`.
    pub(crate) fn plan(&self, uid: u64, message_id: &str) -> Plan {
        if self.orphan_pending()
            && !message_id.is_empty()
            && message_id == self.pending.message_id.as_str()
        {
            return Plan::Resume(self.stage);
        }
        if uid == self.current && self.stage != Stage::Done && !self.orphan {
            Plan::Resume(self.stage)
        } else if uid > self.last_uid {
            Plan::Execute
        } else {
            Plan::Skip
        }
    }

    /// Claims `uid` before it is executed (rule 1). `uid` must be above `last_uid`.
    pub(crate) fn claim(&mut self, uid: u64, pending: PendingReply) -> bool {
        if uid <= self.last_uid && !self.orphan_pending() {
            return false;
        }
        self.orphan = false;
        self.last_uid = self.last_uid.max(uid);
        self.current = uid;
        self.stage = Stage::Claimed;
        self.pending = pending;
        true
    }

    /// Passes over `uid` (a message not for this device) without claiming it.
    pub(crate) fn pass(&mut self, uid: u64) {
        if self.stage == Stage::Done {
            self.last_uid = self.last_uid.max(uid);
        }
    }

    /// Takes over an orphaned message in progress under its new `uid`.
    pub(crate) fn adopt(&mut self, uid: u64) {
        self.orphan = false;
        self.current = uid;
    }

    /// Records the device's result (rule 2).
    pub(crate) fn executed(&mut self, outcome: Outcome, result: &str) {
        self.pending.outcome = outcome;
        self.pending.result = TextBuf::from_str_lossy(result);
        self.stage = Stage::Executed;
    }

    /// Moves to `stage` (forward only).
    pub(crate) fn advance(&mut self, stage: Stage) {
        if stage > self.stage {
            self.stage = stage;
        }
    }

    /// The message in progress is finished (filed, or gone from the folder).
    pub(crate) fn done(&mut self) {
        self.stage = Stage::Done;
        self.orphan = false;
        self.pending = PendingReply::new();
    }

    /// The message in progress was orphaned and is gone: forget it.
    pub(crate) fn drop_orphan(&mut self) {
        if self.orphan {
            self.orphan = false;
            self.stage = Stage::Done;
            self.pending = PendingReply::new();
        }
    }

    /// Bytes needed by [`encode`](Self::encode).
    pub const ENCODED_LEN: usize = 1 + 8 + 8 + 8 + 1 + 1 + PENDING_LEN;

    /// Writes the journal into `out` (at least [`ENCODED_LEN`](Self::ENCODED_LEN) bytes) for
    /// flash; returns the length, or `None` when `out` is too small.
    pub fn encode(&self, out: &mut [u8]) -> Option<usize> {
        let mut w = Writer { out, pos: 0 };
        w.bytes(&[JOURNAL_VERSION])?;
        w.bytes(&self.uidvalidity.to_le_bytes())?;
        w.bytes(&self.last_uid.to_le_bytes())?;
        w.bytes(&self.current.to_le_bytes())?;
        w.bytes(&[self.stage.code(), u8::from(self.orphan)])?;
        encode_pending(&self.pending, &mut w)?;
        Some(w.pos)
    }

    /// Reads a journal written by [`encode`](Self::encode); `None` when it is not one.
    pub fn decode(data: &[u8]) -> Option<Self> {
        let mut r = Reader { data, pos: 0 };
        if r.byte()? != JOURNAL_VERSION {
            return None;
        }
        let uidvalidity = r.u64()?;
        let last_uid = r.u64()?;
        let current = r.u64()?;
        let stage = Stage::from_code(r.byte()?)?;
        let orphan = r.byte()? != 0;
        let pending = decode_pending(&mut r)?;
        Some(ImapJournal {
            uidvalidity,
            last_uid,
            current,
            stage,
            orphan,
            pending,
        })
    }
}

impl Default for ImapJournal {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ImapJournal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "UIDVALIDITY {}, last UID {}",
            self.uidvalidity, self.last_uid
        )?;
        if self.stage != Stage::Done {
            write!(f, ", #{} {}", self.current, self.stage)?;
        }
        if self.orphan {
            f.write_str(", in progress before a UIDVALIDITY change")?;
        }
        Ok(())
    }
}

/// Entries of a [`Pop3Journal`].
pub const POP3_JOURNAL_ENTRIES: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pop3Entry {
    uidl: Uid,
    stage: Stage,
}

/// The POP3 job's journal: the UIDLs claimed and not yet known to be deleted (see the
/// [module documentation](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pop3Journal {
    entries: [Option<Pop3Entry>; POP3_JOURNAL_ENTRIES],
    pending: PendingReply,
}

impl Pop3Journal {
    /// An empty journal.
    pub const fn new() -> Self {
        Pop3Journal {
            entries: [None; POP3_JOURNAL_ENTRIES],
            pending: PendingReply::new(),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.iter().flatten().count()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a new message can be claimed.
    pub fn has_room(&self) -> bool {
        self.entries.iter().any(Option::is_none)
    }

    /// The stage of the message with unique-id `uidl`, if it is in the journal.
    pub fn stage_of(&self, uidl: &str) -> Option<Stage> {
        self.find(uidl.as_bytes())
            .and_then(|i| self.entries.get(i).copied().flatten())
            .map(|e| e.stage)
    }

    /// The entries: unique-id and stage.
    pub fn entries(&self) -> impl Iterator<Item = (&str, Stage)> {
        self.entries
            .iter()
            .flatten()
            .map(|e| (e.uidl.as_str(), e.stage))
    }

    /// The reply data of the entry in progress (stage `Claimed` or `Executed`).
    pub fn pending(&self) -> &PendingReply {
        &self.pending
    }

    pub(crate) fn find(&self, uidl: &[u8]) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.is_some_and(|e| e.uidl.as_bytes() == uidl))
    }

    pub(crate) fn uidl(&self, i: usize) -> Option<Uid> {
        self.entries.get(i).copied().flatten().map(|e| e.uidl)
    }

    pub(crate) fn stage(&self, i: usize) -> Option<Stage> {
        self.entries.get(i).copied().flatten().map(|e| e.stage)
    }

    /// The entry still before its reply, if any (at most one: messages are handled one at a
    /// time).
    pub(crate) fn in_progress(&self) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.is_some_and(|e| e.stage < Stage::Replied))
    }

    /// Claims `uidl` before it is executed; `None` when full, already present, or another
    /// entry is still before its reply.
    pub(crate) fn claim(&mut self, uidl: Uid, pending: PendingReply) -> Option<usize> {
        if self.find(uidl.as_bytes()).is_some() || self.in_progress().is_some() {
            return None;
        }
        let i = self.entries.iter().position(Option::is_none)?;
        let slot = self.entries.get_mut(i)?;
        *slot = Some(Pop3Entry {
            uidl,
            stage: Stage::Claimed,
        });
        self.pending = pending;
        Some(i)
    }

    pub(crate) fn executed(&mut self, i: usize, outcome: Outcome, result: &str) {
        self.pending.outcome = outcome;
        self.pending.result = TextBuf::from_str_lossy(result);
        self.set_stage(i, Stage::Executed);
    }

    pub(crate) fn set_stage(&mut self, i: usize, stage: Stage) {
        if let Some(Some(e)) = self.entries.get_mut(i)
            && stage > e.stage
        {
            e.stage = stage;
            if stage >= Stage::Replied {
                self.pending = PendingReply::new();
            }
        }
    }

    pub(crate) fn remove(&mut self, i: usize) {
        if let Some(e) = self.entries.get_mut(i) {
            if e.is_some_and(|e| e.stage < Stage::Replied) {
                self.pending = PendingReply::new();
            }
            *e = None;
        }
    }

    /// Bytes needed by [`encode`](Self::encode).
    pub const ENCODED_LEN: usize = 1 + POP3_JOURNAL_ENTRIES * (1 + 2 + 70) + PENDING_LEN;

    /// Writes the journal into `out` for flash; returns the length, or `None` when `out` is
    /// too small.
    pub fn encode(&self, out: &mut [u8]) -> Option<usize> {
        let mut w = Writer { out, pos: 0 };
        w.bytes(&[JOURNAL_VERSION])?;
        for e in &self.entries {
            match e {
                Some(e) => {
                    w.bytes(&[e.stage.code()])?;
                    w.str(e.uidl.as_str(), 70)?;
                }
                None => {
                    w.bytes(&[0xff])?;
                    w.str("", 70)?;
                }
            }
        }
        encode_pending(&self.pending, &mut w)?;
        Some(w.pos)
    }

    /// Reads a journal written by [`encode`](Self::encode); `None` when it is not one.
    pub fn decode(data: &[u8]) -> Option<Self> {
        let mut r = Reader { data, pos: 0 };
        if r.byte()? != JOURNAL_VERSION {
            return None;
        }
        let mut j = Pop3Journal::new();
        for slot in &mut j.entries {
            let code = r.byte()?;
            let uidl = r.str::<70>(70)?;
            if code != 0xff {
                *slot = Some(Pop3Entry {
                    uidl: Uid::new(uidl.as_str().as_bytes())?,
                    stage: Stage::from_code(code)?,
                });
            }
        }
        j.pending = decode_pending(&mut r)?;
        Some(j)
    }
}

impl Default for Pop3Journal {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for Pop3Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} entr", self.len())?;
        f.write_str(if self.len() == 1 { "y" } else { "ies" })?;
        for (uidl, stage) in self.entries() {
            write!(f, ", {uidl} ({stage})")?;
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ encoding

const JOURNAL_VERSION: u8 = 1;
const PENDING_LEN: usize = 1
    + 1
    + (2 + ADDR_LEN)
    + (2 + SUBJECT_LEN)
    + (2 + MSGID_LEN)
    + (2 + COMMAND_LEN)
    + (2 + RESULT_LEN);

struct Writer<'o> {
    out: &'o mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) -> Option<()> {
        let dst = self.out.get_mut(self.pos..self.pos + b.len())?;
        dst.copy_from_slice(b);
        self.pos += b.len();
        Some(())
    }

    /// A string in a fixed-size field: length (u16 LE) and `cap` bytes.
    fn str(&mut self, s: &str, cap: usize) -> Option<()> {
        let n = s.len().min(cap);
        self.bytes(&u16::try_from(n).ok()?.to_le_bytes())?;
        self.bytes(s.as_bytes().get(..n)?)?;
        let dst = self.out.get_mut(self.pos..self.pos + (cap - n))?;
        dst.fill(0);
        self.pos += cap - n;
        Some(())
    }
}

struct Reader<'d> {
    data: &'d [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let b = self.data.get(self.pos..self.pos + n)?;
        self.pos += n;
        Some(b)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn str<const N: usize>(&mut self, cap: usize) -> Option<TextBuf<N>> {
        let n = usize::from(u16::from_le_bytes(self.take(2)?.try_into().ok()?));
        let field = self.take(cap)?;
        let s = core::str::from_utf8(field.get(..n)?).ok()?;
        let t = TextBuf::from_str_lossy(s);
        (!t.truncated()).then_some(t)
    }
}

fn outcome_code(o: Outcome) -> u8 {
    match o {
        Outcome::Ok => 0,
        Outcome::Failed => 1,
        Outcome::Reboot => 2,
        Outcome::Invalid => 3,
        Outcome::Unknown => 4,
    }
}

fn outcome_from(c: u8) -> Option<Outcome> {
    Some(match c {
        0 => Outcome::Ok,
        1 => Outcome::Failed,
        2 => Outcome::Reboot,
        3 => Outcome::Invalid,
        4 => Outcome::Unknown,
        _ => return None,
    })
}

fn encode_pending(p: &PendingReply, w: &mut Writer<'_>) -> Option<()> {
    w.bytes(&[u8::from(p.reply), outcome_code(p.outcome)])?;
    w.str(p.to.as_str(), ADDR_LEN)?;
    w.str(p.subject.as_str(), SUBJECT_LEN)?;
    w.str(p.message_id.as_str(), MSGID_LEN)?;
    w.str(p.command.as_str(), COMMAND_LEN)?;
    w.str(p.result.as_str(), RESULT_LEN)
}

fn decode_pending(r: &mut Reader<'_>) -> Option<PendingReply> {
    let reply = r.byte()? != 0;
    let outcome = outcome_from(r.byte()?)?;
    Some(PendingReply {
        reply,
        outcome,
        to: r.str(ADDR_LEN)?,
        subject: r.str(SUBJECT_LEN)?,
        message_id: r.str(MSGID_LEN)?,
        command: r.str(COMMAND_LEN)?,
        result: r.str(RESULT_LEN)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(id: &str) -> PendingReply {
        PendingReply {
            reply: true,
            to: TextBuf::from_str_lossy("ops@example.test"),
            subject: TextBuf::from_str_lossy("cmd"),
            message_id: TextBuf::from_str_lossy(id),
            command: TextBuf::from_str_lossy("SET a 1"),
            ..PendingReply::new()
        }
    }

    #[test]
    fn imap_claim_once() {
        let mut j = ImapJournal::new();
        assert_eq!(j.on_select(7), None);
        assert_eq!(j.plan(3, "<a@x>"), Plan::Execute);
        assert!(j.claim(3, pending("<a@x>")));
        // The claimed UID is never executed again, whatever stage.
        assert_eq!(j.plan(3, "<a@x>"), Plan::Resume(Stage::Claimed));
        assert!(!j.claim(3, pending("<a@x>")));
        assert!(!j.claim(2, pending("<b@x>")));
        j.executed(Outcome::Ok, "a = 1");
        assert_eq!(j.in_progress(), Some(3));
        assert_eq!(j.plan(3, "<a@x>"), Plan::Resume(Stage::Executed));
        j.advance(Stage::Replied);
        j.advance(Stage::Executed); // never backwards
        assert_eq!(j.stage(), Stage::Replied);
        j.advance(Stage::Flagged);
        j.done();
        assert_eq!(j.in_progress(), None);
        assert_eq!(j.plan(3, "<a@x>"), Plan::Skip);
        assert_eq!(j.plan(4, ""), Plan::Execute);
        // Same UIDVALIDITY after a reconnect: nothing changes.
        assert_eq!(j.on_select(7), None);
        assert_eq!(j.last_uid(), 3);
    }

    #[test]
    fn imap_uidvalidity_change_matches_message_id() {
        let mut j = ImapJournal::new();
        j.on_select(7);
        assert!(j.claim(10, pending("<a@x>")));
        j.executed(Outcome::Ok, "done");
        assert_eq!(j.on_select(9), Some(7));
        assert_eq!(j.last_uid(), 0);
        assert_eq!(j.in_progress(), None);
        assert!(j.orphan_pending());
        // Another message is new; the one in progress is recognised by its Message-ID.
        assert_eq!(j.plan(1, "<b@x>"), Plan::Execute);
        assert_eq!(j.plan(2, "<a@x>"), Plan::Resume(Stage::Executed));
        j.adopt(2);
        assert_eq!(j.in_progress(), Some(2));
        assert_eq!(j.pending().result(), "done");
        assert_eq!(j.plan(2, "<a@x>"), Plan::Resume(Stage::Executed));
        // Lower UIDs of the renumbered folder are still new.
        assert_eq!(j.plan(1, "<b@x>"), Plan::Execute);
        j.done();
        assert_eq!(j.plan(2, "<a@x>"), Plan::Execute);
    }

    #[test]
    fn imap_encode_roundtrip() {
        let mut j = ImapJournal::new();
        j.on_select(1234);
        j.claim(99, pending("<id@host>"));
        j.executed(Outcome::Reboot, "rebooting °");
        let mut buf = [0u8; ImapJournal::ENCODED_LEN];
        assert_eq!(j.encode(&mut buf), Some(ImapJournal::ENCODED_LEN));
        assert_eq!(ImapJournal::decode(&buf), Some(j));
        assert_eq!(j.encode(&mut buf[..10]), None);
        assert_eq!(ImapJournal::decode(&buf[..20]), None);
    }

    #[test]
    fn pop3_entries() {
        let mut j = Pop3Journal::new();
        let u = |s: &str| Uid::new(s.as_bytes()).unwrap();
        let i = j.claim(u("a1"), pending("<a@x>")).unwrap();
        // One message at a time, each UIDL once.
        assert_eq!(j.claim(u("b2"), pending("<b@x>")), None);
        j.executed(i, Outcome::Ok, "ok");
        assert_eq!(j.claim(u("a1"), pending("<a@x>")), None);
        assert_eq!(j.in_progress(), Some(i));
        j.set_stage(i, Stage::Replied);
        assert_eq!(j.in_progress(), None);
        assert_eq!(j.stage_of("a1"), Some(Stage::Replied));
        assert_eq!(j.claim(u("a1"), pending("<a@x>")), None);
        // Fill up.
        for k in 0..POP3_JOURNAL_ENTRIES - 1 {
            let id = std::format!("m{k}");
            let i = j.claim(u(&id), pending("")).unwrap();
            j.set_stage(i, Stage::Replied);
        }
        assert!(!j.has_room());
        assert_eq!(j.claim(u("z"), pending("")), None);
        let mut buf = [0u8; Pop3Journal::ENCODED_LEN];
        j.encode(&mut buf).unwrap();
        assert_eq!(Pop3Journal::decode(&buf), Some(j));
        j.remove(i);
        assert!(j.has_room());
        assert_eq!(j.stage_of("a1"), None);
    }
}
