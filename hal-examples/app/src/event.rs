//! The event hook: a readable transcript of what the device does.

use core::fmt;

use crate::command::Outcome;
use crate::error::Service;
use crate::journal::{ImapJournal, Pop3Journal, Stage};

/// Which message an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgRef<'a> {
    /// An IMAP UID (in the command folder).
    Uid(u64),
    /// A POP3 unique-id (UIDL).
    Uidl(&'a str),
}

impl fmt::Display for MsgRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MsgRef::Uid(u) => write!(f, "#{u}"),
            MsgRef::Uidl(u) => write!(f, "{u}"),
        }
    }
}

/// Something the device did. `Display` gives one readable line, e.g.
/// `command #12 from ops@example.com: SET interval 30 -> ok (interval = 30)`.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Connected, TLS verified, logged in.
    Connected {
        /// Which server.
        service: Service,
        /// Its host.
        host: &'a str,
        /// Its port.
        port: u16,
    },
    /// The server accepted the alert.
    AlertSent {
        /// Its subject.
        subject: &'a str,
        /// Recipients accepted.
        accepted: u16,
        /// Recipients refused.
        refused: u16,
    },
    /// A message from an allowed sender is about to be executed. The journal has already
    /// been updated (and reported with [`Event::ImapJournal`] / [`Event::Pop3Journal`]).
    Received {
        /// The message.
        msg: MsgRef<'a>,
        /// Its sender.
        from: &'a str,
        /// Its subject.
        subject: &'a str,
    },
    /// A command was executed (or found invalid; then the device was not called).
    Executed {
        /// The message.
        msg: MsgRef<'a>,
        /// Its sender.
        from: &'a str,
        /// The command as understood, or the first line of an invalid one.
        command: &'a str,
        /// The outcome.
        outcome: Outcome,
        /// The device's text (or the parse error).
        result: &'a str,
    },
    /// A message from somebody not in the allowed senders: not executed, not answered.
    NotAllowed {
        /// The message.
        msg: MsgRef<'a>,
        /// Its sender (empty when it has no usable `From:`).
        from: &'a str,
    },
    /// An automatic message (`Auto-Submitted:`, e.g. another device's reply, or a bounce):
    /// not executed, not answered (RFC 3834), filed or deleted like a handled one.
    Automatic {
        /// The message.
        msg: MsgRef<'a>,
        /// Its sender.
        from: &'a str,
    },
    /// A message that already carries the done keyword: only filed.
    AlreadyDone {
        /// The message.
        msg: MsgRef<'a>,
    },
    /// Work on a message interrupted earlier continues at `stage` (it is not executed again).
    Resumed {
        /// The message.
        msg: MsgRef<'a>,
        /// The last stage reached.
        stage: Stage,
    },
    /// The reply was accepted by the submission server.
    ReplySent {
        /// The message answered.
        msg: MsgRef<'a>,
        /// The recipient.
        to: &'a str,
    },
    /// The message was flagged and moved.
    Filed {
        /// The message (its UID in the command folder).
        msg: MsgRef<'a>,
        /// The folder it went to.
        folder: &'a str,
    },
    /// The message was marked for deletion (POP3 DELE; removed at QUIT).
    Deleted {
        /// The message.
        msg: MsgRef<'a>,
    },
    /// POP3 QUIT succeeded: the marked messages are gone.
    Committed {
        /// How many.
        deleted: u64,
    },
    /// The command folder's UIDVALIDITY differs from the journal's: UIDs were renumbered.
    UidValidityChanged {
        /// The journal's.
        old: u64,
        /// The folder's.
        new: u64,
    },
    /// Waiting for the server to push new mail (IMAP IDLE).
    Idle,
    /// The IMAP journal changed: persist it now if it lives in flash.
    ImapJournal(&'a ImapJournal),
    /// The POP3 journal changed: persist it now if it lives in flash.
    Pop3Journal(&'a Pop3Journal),
}

impl fmt::Display for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Connected {
                service,
                host,
                port,
            } => write!(f, "{service}: connected to {host}:{port} (TLS), logged in"),
            Event::AlertSent {
                subject,
                accepted,
                refused,
            } => {
                write!(
                    f,
                    "alert sent: {subject:?} ({accepted} recipient(s) accepted"
                )?;
                if *refused > 0 {
                    write!(f, ", {refused} refused")?;
                }
                f.write_str(")")
            }
            Event::Received { msg, from, subject } => {
                write!(f, "command {msg} from {from} ({subject:?})")
            }
            Event::Executed {
                msg,
                from,
                command,
                outcome,
                result,
            } => {
                write!(f, "command {msg} from {from}: {command} -> {outcome}")?;
                if !result.is_empty() {
                    write!(f, " ({result})")?;
                }
                Ok(())
            }
            Event::NotAllowed { msg, from } => {
                write!(f, "message {msg} from {from:?} ignored: sender not allowed")
            }
            Event::Automatic { msg, from } => write!(
                f,
                "message {msg} from {from:?} ignored: automatic (Auto-Submitted), not answered"
            ),
            Event::AlreadyDone { msg } => write!(f, "message {msg} already done: only filing it"),
            Event::Resumed { msg, stage } => {
                write!(
                    f,
                    "resuming command {msg} after {stage} (not executed again)"
                )
            }
            Event::ReplySent { msg, to } => write!(f, "reply to {msg} sent to {to}"),
            Event::Filed { msg, folder } => write!(f, "message {msg} filed to {folder}"),
            Event::Deleted { msg } => write!(f, "message {msg} marked for deletion"),
            Event::Committed { deleted } => {
                write!(f, "QUIT: {deleted} message(s) deleted on the server")
            }
            Event::UidValidityChanged { old, new } => write!(
                f,
                "UIDVALIDITY changed from {old} to {new}: the folder was renumbered"
            ),
            Event::Idle => f.write_str("waiting for new mail (IDLE)"),
            Event::ImapJournal(j) => write!(f, "journal: {j}"),
            Event::Pop3Journal(j) => write!(f, "journal: {j}"),
        }
    }
}

/// Receives [`Event`]s.
pub trait Events {
    /// Called for each event, synchronously, in order.
    fn on(&mut self, event: &Event<'_>);
}

/// Drops every event.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEvents;

impl Events for NoEvents {
    fn on(&mut self, _: &Event<'_>) {}
}

/// Events to a closure.
pub struct FnEvents<F>(pub F);

impl<F: FnMut(&Event<'_>)> Events for FnEvents<F> {
    fn on(&mut self, event: &Event<'_>) {
        (self.0)(event)
    }
}

impl<T: Events + ?Sized> Events for &mut T {
    fn on(&mut self, event: &Event<'_>) {
        (**self).on(event)
    }
}
