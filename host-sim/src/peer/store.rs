//! The peer's mail store: accounts, mailboxes and messages, all in memory.
//!
//! Mailbox names are kept as they travel in IMAP (modified UTF-7 for non-ASCII names; an
//! ASCII name is itself); `INBOX` is case-insensitive and every account has one. The
//! hierarchy delimiter is `/`. UIDs start at 1 and grow per mailbox; each mailbox gets its own
//! UIDVALIDITY when it is created. Every change bumps a version number that sessions watch
//! (IMAP IDLE and NOOP report what changed since they last looked).

use std::collections::BTreeMap;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// The system flags a message can carry (`\Recent` is not stored).
pub const SYSTEM_FLAGS: [&str; 5] = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];

/// A message as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    /// Its UID in the mailbox.
    pub uid: u32,
    /// Flags and keywords, e.g. `\Seen`, `$Forwarded` (system flags in their canonical case).
    pub flags: Vec<String>,
    /// The message bytes as received (CRLF line ends when they came over SMTP or IMAP).
    pub raw: Vec<u8>,
    /// INTERNALDATE, seconds since 1970 (UTC).
    pub internal_date: u64,
}

impl StoredMessage {
    /// Whether the message has `flag` (case-insensitive, as IMAP compares flags).
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
    }
}

/// Why a store operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// No such user.
    NoSuchUser(String),
    /// No such mailbox.
    NoSuchMailbox(String),
    /// The mailbox exists already.
    MailboxExists(String),
    /// The name is not allowed (empty, `INBOX` where it cannot be used, control characters).
    BadName(String),
    /// The message is larger than the peer accepts.
    TooLarge,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSuchUser(u) => write!(f, "no such user: {u}"),
            Self::NoSuchMailbox(m) => write!(f, "no such mailbox: {m}"),
            Self::MailboxExists(m) => write!(f, "mailbox exists already: {m}"),
            Self::BadName(m) => write!(f, "invalid mailbox name: {m:?}"),
            Self::TooLarge => f.write_str("message too large"),
        }
    }
}

impl std::error::Error for StoreError {}

/// One mailbox.
#[derive(Clone, Debug)]
pub struct Mailbox {
    /// UIDVALIDITY.
    pub uidvalidity: u32,
    /// The next UID to assign.
    pub uidnext: u32,
    /// Messages, ascending by UID.
    pub messages: Vec<StoredMessage>,
}

impl Mailbox {
    fn new(uidvalidity: u32) -> Self {
        Self {
            uidvalidity,
            uidnext: 1,
            messages: Vec::new(),
        }
    }

    /// Adds a message, returns its UID.
    pub fn add(&mut self, raw: Vec<u8>, flags: Vec<String>, internal_date: u64) -> u32 {
        let uid = self.uidnext;
        self.uidnext = self.uidnext.saturating_add(1);
        self.messages.push(StoredMessage {
            uid,
            flags: normalize_flags(flags),
            raw,
            internal_date,
        });
        uid
    }

    /// The message with `uid`.
    pub fn get(&self, uid: u32) -> Option<&StoredMessage> {
        self.messages
            .binary_search_by_key(&uid, |m| m.uid)
            .ok()
            .and_then(|i| self.messages.get(i))
    }

    /// The message with `uid`, mutable.
    pub fn get_mut(&mut self, uid: u32) -> Option<&mut StoredMessage> {
        match self.messages.binary_search_by_key(&uid, |m| m.uid) {
            Ok(i) => self.messages.get_mut(i),
            Err(_) => None,
        }
    }

    /// Removes the messages whose UIDs are in `uids`; returns how many were removed.
    pub fn remove(&mut self, uids: &[u32]) -> usize {
        let before = self.messages.len();
        self.messages.retain(|m| !uids.contains(&m.uid));
        before - self.messages.len()
    }
}

/// Flags without duplicates, system flags in canonical case, `\Recent` dropped.
pub fn normalize_flags(flags: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(flags.len());
    for f in flags {
        let f = SYSTEM_FLAGS
            .iter()
            .find(|s| s.eq_ignore_ascii_case(&f))
            .map_or(f, |s| (*s).to_string());
        if f.eq_ignore_ascii_case("\\Recent") || out.iter().any(|o| o.eq_ignore_ascii_case(&f)) {
            continue;
        }
        out.push(f);
    }
    out
}

/// One account.
#[derive(Clone, Debug)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// Password.
    pub password: String,
    /// Mailboxes by name (`INBOX` upper case).
    pub mailboxes: BTreeMap<String, Mailbox>,
}

/// The canonical form of a mailbox name: `INBOX` in any case becomes `INBOX`; a trailing
/// delimiter is dropped.
pub fn canonical(name: &str) -> String {
    let name = name.strip_suffix('/').unwrap_or(name);
    if name.eq_ignore_ascii_case("INBOX") {
        "INBOX".to_string()
    } else {
        name.to_string()
    }
}

/// All accounts.
#[derive(Debug, Default)]
pub struct Store {
    accounts: BTreeMap<String, Account>,
    next_uidvalidity: u32,
}

/// Seconds since 1970.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            accounts: BTreeMap::new(),
            // Distinct per run, like a real server's.
            next_uidvalidity: u32::try_from(now_unix() % 1_000_000_000)
                .unwrap_or(1)
                .max(1),
        }
    }

    fn uidvalidity(&mut self) -> u32 {
        let v = self.next_uidvalidity;
        self.next_uidvalidity = self.next_uidvalidity.wrapping_add(1).max(1);
        v
    }

    /// Adds an account with an empty INBOX (replacing one of the same name).
    pub fn add_account(&mut self, name: &str, password: &str) {
        let mut mailboxes = BTreeMap::new();
        mailboxes.insert("INBOX".to_string(), Mailbox::new(self.uidvalidity()));
        self.accounts.insert(
            name.to_ascii_lowercase(),
            Account {
                name: name.to_string(),
                password: password.to_string(),
                mailboxes,
            },
        );
    }

    /// The account called `name` (case-insensitive).
    pub fn account(&self, name: &str) -> Result<&Account, StoreError> {
        self.accounts
            .get(&name.to_ascii_lowercase())
            .ok_or_else(|| StoreError::NoSuchUser(name.to_string()))
    }

    fn account_mut(&mut self, name: &str) -> Result<&mut Account, StoreError> {
        self.accounts
            .get_mut(&name.to_ascii_lowercase())
            .ok_or_else(|| StoreError::NoSuchUser(name.to_string()))
    }

    /// Checks a password; returns the account's canonical name.
    pub fn check_password(&self, name: &str, password: &str) -> Option<String> {
        let a = self.accounts.get(&name.to_ascii_lowercase())?;
        // Not constant-time: this is a test peer.
        (a.password == password).then(|| a.name.clone())
    }

    /// A mailbox of `user`.
    pub fn mailbox(&self, user: &str, name: &str) -> Result<&Mailbox, StoreError> {
        self.account(user)?
            .mailboxes
            .get(&canonical(name))
            .ok_or_else(|| StoreError::NoSuchMailbox(name.to_string()))
    }

    /// A mailbox of `user`, mutable.
    pub fn mailbox_mut(&mut self, user: &str, name: &str) -> Result<&mut Mailbox, StoreError> {
        self.account_mut(user)?
            .mailboxes
            .get_mut(&canonical(name))
            .ok_or_else(|| StoreError::NoSuchMailbox(name.to_string()))
    }

    /// The mailbox names of `user`, sorted.
    pub fn mailbox_names(&self, user: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.account(user)?.mailboxes.keys().cloned().collect())
    }

    /// Creates a mailbox.
    pub fn create(&mut self, user: &str, name: &str) -> Result<(), StoreError> {
        let name = canonical(name);
        if name.is_empty()
            || name.starts_with('/')
            || name.contains("//")
            || name
                .bytes()
                .any(|b| b < 0x20 || b == 0x7f || b == b'*' || b == b'%')
        {
            return Err(StoreError::BadName(name));
        }
        let v = self.uidvalidity();
        let account = self.account_mut(user)?;
        if account.mailboxes.contains_key(&name) {
            return Err(StoreError::MailboxExists(name));
        }
        account.mailboxes.insert(name, Mailbox::new(v));
        Ok(())
    }

    /// Deletes a mailbox (not INBOX).
    pub fn delete(&mut self, user: &str, name: &str) -> Result<(), StoreError> {
        let name = canonical(name);
        if name == "INBOX" {
            return Err(StoreError::BadName(name));
        }
        self.account_mut(user)?
            .mailboxes
            .remove(&name)
            .map(|_| ())
            .ok_or(StoreError::NoSuchMailbox(name))
    }

    /// Renames a mailbox (not INBOX); it keeps its messages, UIDs and UIDVALIDITY.
    pub fn rename(&mut self, user: &str, from: &str, to: &str) -> Result<(), StoreError> {
        let (from, to) = (canonical(from), canonical(to));
        if from == "INBOX" || to == "INBOX" || to.is_empty() {
            return Err(StoreError::BadName(to));
        }
        let account = self.account_mut(user)?;
        if account.mailboxes.contains_key(&to) {
            return Err(StoreError::MailboxExists(to));
        }
        let mb = account
            .mailboxes
            .remove(&from)
            .ok_or(StoreError::NoSuchMailbox(from))?;
        account.mailboxes.insert(to, mb);
        Ok(())
    }

    /// Appends a message to a mailbox; returns (UIDVALIDITY, UID).
    pub fn append(
        &mut self,
        user: &str,
        mailbox: &str,
        flags: Vec<String>,
        raw: Vec<u8>,
        internal_date: u64,
    ) -> Result<(u32, u32), StoreError> {
        let mb = self.mailbox_mut(user, mailbox)?;
        let uid = mb.add(raw, flags, internal_date);
        Ok((mb.uidvalidity, uid))
    }

    /// Copies the messages `uids` (those that exist, ascending) of `from` into `to`; returns
    /// the destination UIDVALIDITY and the (source, destination) UID pairs.
    pub fn copy(
        &mut self,
        user: &str,
        from: &str,
        uids: &[u32],
        to: &str,
    ) -> Result<(u32, Vec<(u32, u32)>), StoreError> {
        let src: Vec<StoredMessage> = {
            let mb = self.mailbox(user, from)?;
            uids.iter().filter_map(|u| mb.get(*u).cloned()).collect()
        };
        let dst = self.mailbox_mut(user, to)?;
        let pairs = src
            .into_iter()
            .map(|m| (m.uid, dst.add(m.raw, m.flags, m.internal_date)))
            .collect();
        Ok((dst.uidvalidity, pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_grow_and_copy_keeps_flags() {
        let mut s = Store::new();
        s.add_account("Alice", "pw");
        assert_eq!(s.check_password("alice", "pw").as_deref(), Some("Alice"));
        assert_eq!(s.check_password("alice", "nope"), None);
        let (v, a) = s
            .append("alice", "inbox", vec!["\\seen".into()], b"A".to_vec(), 1)
            .unwrap();
        let (_, b) = s
            .append("alice", "INBOX", vec![], b"B".to_vec(), 2)
            .unwrap();
        assert_eq!((a, b), (1, 2));
        assert_eq!(s.mailbox("alice", "INBOX").unwrap().uidvalidity, v);
        assert_eq!(
            s.mailbox("alice", "INBOX").unwrap().messages[0].flags,
            vec!["\\Seen".to_string()]
        );
        s.create("alice", "Done/2026").unwrap();
        assert_eq!(
            s.create("alice", "Done/2026"),
            Err(StoreError::MailboxExists("Done/2026".into()))
        );
        let (_, pairs) = s.copy("alice", "INBOX", &[2, 1, 9], "Done/2026").unwrap();
        assert_eq!(pairs, vec![(2, 1), (1, 2)]);
        let done = s.mailbox("alice", "Done/2026").unwrap();
        assert_eq!(done.uidnext, 3);
        assert!(done.get(2).unwrap().has_flag("\\SEEN"));
        assert_eq!(s.mailbox_mut("alice", "INBOX").unwrap().remove(&[1]), 1);
        assert_eq!(s.mailbox("alice", "INBOX").unwrap().messages.len(), 1);
        // UIDs are never reused.
        let (_, c) = s
            .append("alice", "INBOX", vec![], b"C".to_vec(), 3)
            .unwrap();
        assert_eq!(c, 3);
    }

    #[test]
    fn names_and_errors() {
        let mut s = Store::new();
        s.add_account("bob", "pw");
        assert!(matches!(
            s.delete("bob", "inbox"),
            Err(StoreError::BadName(_))
        ));
        assert!(matches!(
            s.mailbox("carol", "INBOX"),
            Err(StoreError::NoSuchUser(_))
        ));
        assert!(matches!(s.create("bob", ""), Err(StoreError::BadName(_))));
        assert!(matches!(s.create("bob", "a*"), Err(StoreError::BadName(_))));
        s.create("bob", "Archive/").unwrap();
        assert_eq!(s.mailbox_names("bob").unwrap(), vec!["Archive", "INBOX"]);
        s.rename("bob", "Archive", "Old").unwrap();
        assert_eq!(s.mailbox_names("bob").unwrap(), vec!["INBOX", "Old"]);
        s.delete("bob", "Old").unwrap();
        assert_eq!(
            normalize_flags(vec![
                "\\flagged".into(),
                "\\Recent".into(),
                "\\FLAGGED".into()
            ]),
            vec!["\\Flagged".to_string()]
        );
    }
}
