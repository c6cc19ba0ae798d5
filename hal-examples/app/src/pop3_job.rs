//! Job 3: the command mailbox over POP3.

/// What one [`App::poll_pop3`](crate::App::poll_pop3) run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pop3Report {
    /// Commands executed by the device (invalid ones not counted).
    pub executed: u32,
    /// Replies sent.
    pub replied: u32,
    /// Messages deleted by the final QUIT.
    pub deleted: u64,
    /// New messages left for the next poll (the journal was full).
    pub deferred: u32,
    /// A command asked for a reboot; its reply was sent and its deletion committed.
    pub reboot: bool,
}

use embedded_hal_async::delay::DelayNs;
use postwire_pop3::client::Uid;
use postwire_tls::TlsClock;
use rand_core::CryptoRngCore;

use crate::command::Outcome;
use crate::conn::open_pop3;
use crate::error::{self, Error, ErrorKind, Service};
use crate::event::{Event, Events, MsgRef};
use crate::journal::{POP3_JOURNAL_ENTRIES, Pop3Journal, Stage};
use crate::message::{Incoming, MessageParser, send_reply};
use crate::text::TextBuf;
use crate::{App, Buffers, ConnBuffers, Device, Net};

/// New messages looked at per poll.
const BATCH: usize = 16;

#[allow(clippy::too_many_arguments, reason = "internal helper")]
async fn reply<N, D, R, C, V>(
    net: &N,
    delay: &D,
    rng: &mut R,
    settings: &crate::Settings<'_>,
    smtp: ConnBuffers<'_>,
    journal: &Pop3Journal,
    uidl: &Uid,
    events: &mut V,
    report: &mut Pop3Report,
) -> Result<(), Error>
where
    N: Net,
    D: DelayNs + Clone,
    R: CryptoRngCore,
    C: TlsClock,
    V: Events,
{
    let p = *journal.pending();
    if p.wants_reply() {
        send_reply::<N, D, R, C>(net, delay, rng, settings, smtp, &p).await?;
        report.replied += 1;
        events.on(&Event::ReplySent {
            msg: MsgRef::Uidl(uidl.as_str()),
            to: p.to(),
        });
    }
    Ok(())
}

/// UIDL listing: fills `new` with messages numbered above `after` that are not in the
/// journal (and `present` with the numbers of the journal's entries); `true` when more new
/// messages than fit were listed.
async fn list_new<T, D>(
    pop: &mut postwire_pop3::client::Client<'_, T, D>,
    journal: &Pop3Journal,
    after: u64,
    new: &mut [Option<(u64, Uid)>; BATCH],
    mut present: Option<&mut [u64; POP3_JOURNAL_ENTRIES]>,
) -> Result<bool, Error>
where
    T: embedded_io_async::Read + embedded_io_async::Write,
    D: DelayNs,
{
    let mut n = 0;
    let mut more = false;
    pop.uidl(|msg, uid| {
        if let Some(i) = journal.find(uid.as_bytes()) {
            if let Some(p) = present.as_deref_mut().and_then(|p| p.get_mut(i)) {
                *p = msg;
            }
        } else if msg > after {
            match new.get_mut(n) {
                Some(slot) => {
                    *slot = Some((msg, *uid));
                    n += 1;
                }
                None => more = true,
            }
        }
    })
    .await
    .map_err(error::pop3)?;
    Ok(more)
}

pub(crate) async fn poll<N, D, R, C, V, X>(
    app: &mut App<'_, N, D, R, C, V>,
    buffers: Buffers<'_>,
    journal: &mut Pop3Journal,
    device: &mut X,
) -> Result<Pop3Report, Error>
where
    N: Net,
    D: DelayNs + Clone,
    R: CryptoRngCore,
    C: TlsClock,
    V: Events,
    X: Device,
{
    let settings = app.settings;
    let ep = settings
        .pop3
        .ok_or(Error::new(Service::Pop3, ErrorKind::Config))?;
    let Buffers { mailbox, mut smtp } = buffers;
    let App {
        net,
        delay,
        rng,
        events,
        ..
    } = app;
    let mut pop = open_pop3::<N, D, R, C>(net, delay, rng, &settings, &ep, mailbox).await?;
    events.on(&Event::Connected {
        service: Service::Pop3,
        host: ep.host,
        port: ep.port,
    });
    let mut report = Pop3Report::default();

    // The listing: which journal entries are still there, which messages are new.
    let mut present = [0u64; POP3_JOURNAL_ENTRIES]; // message number, 0: not listed
    let mut new: [Option<(u64, Uid)>; BATCH] = [None; BATCH];
    let mut more = list_new(&mut pop, journal, 0, &mut new, Some(&mut present)).await?;
    let mut deferred = 0u32;

    // Entries from earlier runs: resume (never execute), delete again, or forget.
    let mut marked = [false; POP3_JOURNAL_ENTRIES];
    for i in 0..POP3_JOURNAL_ENTRIES {
        let (Some(stage), Some(uidl)) = (journal.stage(i), journal.uidl(i)) else {
            continue;
        };
        let listed = present.get(i).copied().unwrap_or(0);
        if stage < Stage::Replied {
            events.on(&Event::Resumed {
                msg: MsgRef::Uidl(uidl.as_str()),
                stage,
            });
            reply::<N, D, R, C, V>(
                net,
                delay,
                rng,
                &settings,
                smtp.reborrow(),
                journal,
                &uidl,
                events,
                &mut report,
            )
            .await?;
            if journal.pending().outcome() == Outcome::Reboot {
                report.reboot = true;
            }
            journal.set_stage(i, Stage::Replied);
            events.on(&Event::Pop3Journal(journal));
        }
        if listed == 0 {
            // Gone: a QUIT committed its deletion (its +OK may have been lost).
            journal.remove(i);
            events.on(&Event::Pop3Journal(journal));
        } else {
            pop.dele(listed).await.map_err(error::pop3)?;
            if let Some(m) = marked.get_mut(i) {
                *m = true;
            }
            events.on(&Event::Deleted {
                msg: MsgRef::Uidl(uidl.as_str()),
            });
        }
    }

    // New messages, one at a time, in listing order; a batch at a time.
    let mut cursor = 0u64;
    loop {
        for (msg_no, uidl) in new.iter().flatten() {
            cursor = *msg_no;
            if report.reboot || !journal.has_room() {
                deferred += 1;
                continue;
            }
            let m = MsgRef::Uidl(uidl.as_str());
            if settings.subject_tag.is_some() {
                // Only the header first: a message not for this device is left alone.
                let mut head = Incoming::new();
                let mut hbuf = [0u8; MessageParser::HEADER_BUF];
                let mut parser = MessageParser::new(&mut hbuf)
                    .ok_or(Error::new(Service::Pop3, ErrorKind::Capacity))?;
                pop.top_with(*msg_no, 0, |chunk| {
                    parser.feed(chunk, &mut head);
                    Ok(())
                })
                .await
                .map_err(error::pop3)?;
                parser.finish(&mut head);
                if !settings.is_for_us(head.subject.as_str()) {
                    continue;
                }
            }
            let mut msg = Incoming::new();
            {
                let mut hbuf = [0u8; MessageParser::HEADER_BUF];
                let mut parser = MessageParser::new(&mut hbuf)
                    .ok_or(Error::new(Service::Pop3, ErrorKind::Capacity))?;
                pop.retr_with(*msg_no, |chunk| {
                    parser.feed(chunk, &mut msg);
                    Ok(())
                })
                .await
                .map_err(error::pop3)?;
                parser.finish(&mut msg);
            }
            if !settings.is_for_us(msg.subject.as_str()) {
                continue;
            }
            if msg.auto || !settings.is_allowed(msg.from.as_str()) {
                // Not executed, not answered; deleting it is idempotent.
                let from = msg.from.as_str();
                events.on(&if msg.auto {
                    Event::Automatic { msg: m, from }
                } else {
                    Event::NotAllowed { msg: m, from }
                });
                pop.dele(*msg_no).await.map_err(error::pop3)?;
                events.on(&Event::Deleted { msg: m });
                continue;
            }
            // Rule 1: claim and report before the device acts.
            let Some(i) = journal.claim(*uidl, msg.pending(true)) else {
                deferred += 1;
                continue;
            };
            events.on(&Event::Pop3Journal(journal));
            events.on(&Event::Received {
                msg: m,
                from: msg.from.as_str(),
                subject: msg.subject.as_str(),
            });
            // Rule 2: execute and record with no await in between.
            let mut out = TextBuf::<256>::new();
            let outcome = msg.execute(device, &mut out);
            journal.executed(i, outcome, out.as_str());
            if outcome != Outcome::Invalid {
                report.executed += 1;
            }
            events.on(&Event::Pop3Journal(journal));
            events.on(&Event::Executed {
                msg: m,
                from: msg.from.as_str(),
                command: journal.pending().command(),
                outcome,
                result: out.as_str(),
            });
            // Rule 3: reply, then DELE (committed by QUIT).
            reply::<N, D, R, C, V>(
                net,
                delay,
                rng,
                &settings,
                smtp.reborrow(),
                journal,
                uidl,
                events,
                &mut report,
            )
            .await?;
            journal.set_stage(i, Stage::Replied);
            events.on(&Event::Pop3Journal(journal));
            pop.dele(*msg_no).await.map_err(error::pop3)?;
            if let Some(mk) = marked.get_mut(i) {
                *mk = true;
            }
            events.on(&Event::Deleted { msg: m });
            if outcome == Outcome::Reboot {
                report.reboot = true;
            }
        }
        if !more || report.reboot {
            break;
        }
        new = [None; BATCH];
        more = list_new(&mut pop, journal, cursor, &mut new, None).await?;
    }

    let q = pop.quit().await.map_err(error::pop3)?;
    if q.committed {
        for (i, &mk) in marked.iter().enumerate() {
            if mk {
                journal.remove(i);
            }
        }
        report.deleted = q.deleted;
        events.on(&Event::Committed { deleted: q.deleted });
        events.on(&Event::Pop3Journal(journal));
    }
    let _ = pop.into_inner().close().await;
    report.deferred = deferred;
    Ok(report)
}
