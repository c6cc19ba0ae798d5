//! Job 2: the command mailbox over IMAP (see [`crate::journal`] for the state machine).

use core::cell::Cell;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::pin;

use embassy_futures::select::{Either, select};
use embedded_hal_async::delay::DelayNs;
use embedded_io_async::{Read, Write};
use postwire_imap::client::{Client as ImapClient, FetchEvent, IdleControl, IdleEvent};
use postwire_imap::proto::Checkpoint;
use postwire_imap::wire::{FetchAttr, FetchItem, FetchItems, SearchKey, SeqRange, StoreMode};
use postwire_tls::TlsClock;
use rand_core::CryptoRngCore;

use crate::command::Outcome;
use crate::conn::{Imap, open_imap};
use crate::error::{self, Error, ErrorKind, Service};
use crate::event::{Event, Events, MsgRef};
use crate::journal::{ImapJournal, Plan, Stage};
use crate::message::{Incoming, MessageParser, send_reply};
use crate::settings::Settings;
use crate::text::TextBuf;
use crate::{App, Buffers, ConnBuffers, Device, Net};

/// New UIDs handled per SEARCH (more follow at once).
const BATCH: usize = 16;

/// What one [`App::serve_imap`](crate::App::serve_imap) run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImapReport {
    /// Commands executed by the device (invalid ones not counted).
    pub executed: u32,
    /// Replies sent.
    pub replied: u32,
    /// Messages moved to the processed folder.
    pub filed: u32,
    /// A command asked for a reboot; its message has been filed and the reply sent.
    pub reboot: bool,
}

struct Ctx<'a, 'x, N, D, R, C, X, V> {
    net: &'x N,
    delay: &'a D,
    rng: &'a mut R,
    events: &'a mut V,
    settings: Settings<'a>,
    smtp: ConnBuffers<'a>,
    journal: &'a mut ImapJournal,
    device: &'a mut X,
    report: ImapReport,
    _clock: PhantomData<C>,
}

pub(crate) async fn serve<N, D, R, C, V, X, S>(
    app: &mut App<'_, N, D, R, C, V>,
    buffers: Buffers<'_>,
    journal: &mut ImapJournal,
    device: &mut X,
    stop: S,
) -> Result<ImapReport, Error>
where
    N: Net,
    D: DelayNs + Clone,
    R: CryptoRngCore,
    C: TlsClock,
    V: Events,
    X: Device,
    S: Future,
{
    let settings = app.settings;
    let ep = settings
        .imap
        .ok_or(Error::new(Service::Imap, ErrorKind::Config))?;
    let Buffers { mailbox, smtp } = buffers;
    let App {
        net,
        delay,
        rng,
        events,
        ..
    } = app;
    let mut imap = open_imap::<N, D, R, C>(net, delay, rng, &settings, &ep, mailbox).await?;
    events.on(&Event::Connected {
        service: Service::Imap,
        host: ep.host,
        port: ep.port,
    });
    let mut cx: Ctx<'_, '_, N, D, R, C, X, V> = Ctx {
        net,
        delay,
        rng,
        events,
        settings,
        smtp,
        journal,
        device,
        report: ImapReport::default(),
        _clock: PhantomData,
    };
    let r = cx.run(&mut imap, stop).await;
    if r.is_ok() {
        let _ = imap.logout().await;
        let _ = imap.into_inner().close().await;
    }
    r
}

impl<N, D, R, C, X, V> Ctx<'_, '_, N, D, R, C, X, V>
where
    N: Net,
    D: DelayNs + Clone,
    R: CryptoRngCore,
    C: TlsClock,
    V: Events,
    X: Device,
{
    fn journal_changed(&mut self) {
        self.events.on(&Event::ImapJournal(self.journal));
    }

    async fn run<S: Future>(
        &mut self,
        imap: &mut Imap<'_, N, D>,
        stop: S,
    ) -> Result<ImapReport, Error> {
        let s = self.settings;
        // The processed folder: created when missing (NO [ALREADYEXISTS] is fine).
        match imap.create(s.processed_folder).await {
            Ok(()) => {}
            Err(e) if !e.is_fatal() => {}
            Err(e) => return Err(error::imap(e)),
        }
        let mb = imap.select(s.command_folder).await.map_err(error::imap)?;
        let uidvalidity = mb.uidvalidity.unwrap_or(0);
        if let Some(old) = self.journal.on_select(uidvalidity) {
            self.events.on(&Event::UidValidityChanged {
                old,
                new: uidvalidity,
            });
        }
        self.journal_changed();

        // A message in progress before a UIDVALIDITY change: find it by its Message-ID.
        if self.journal.orphan_pending() {
            let id = self.journal.pending().message_id;
            let mut found = None;
            if !id.is_empty() {
                let key = [SearchKey::Header("Message-ID", id.as_str())];
                imap.search(true, &key, |u| {
                    found = Some(found.map_or(u, |f: u64| f.max(u)))
                })
                .await
                .map_err(error::imap)?;
            }
            match found {
                Some(uid) => self.journal.adopt(uid),
                None => {
                    self.finish_gone(0).await?;
                    self.journal.drop_orphan();
                }
            }
            self.journal_changed();
        }

        // Finish the message in progress first.
        if let Some(uid) = self.journal.in_progress() {
            let stage = self.journal.stage();
            self.events.on(&Event::Resumed {
                msg: MsgRef::Uid(uid),
                stage,
            });
            if exists(imap, uid).await? {
                self.finish(imap, uid).await?;
            } else {
                self.finish_gone(uid).await?;
            }
            if self.report.reboot {
                return Ok(self.report);
            }
        }

        let mut stop = pin!(stop);
        loop {
            let mut uids = [0u64; BATCH];
            let mut n = 0;
            let since = Checkpoint {
                uidvalidity: self.journal.uidvalidity(),
                last_uid: self.journal.last_uid(),
            };
            let news = imap
                .new_since(since, |uid| {
                    if let Some(slot) = uids.get_mut(n) {
                        *slot = uid;
                        n += 1;
                    }
                })
                .await
                .map_err(error::imap)?;
            for &uid in uids.get(..n).unwrap_or_default() {
                self.process(imap, uid).await?;
                if self.report.reboot {
                    return Ok(self.report);
                }
            }
            if n > 0 || news.count > n as u64 {
                continue; // look again before idling: more may have arrived meanwhile
            }
            self.events.on(&Event::Idle);
            let stopped = Cell::new(false);
            let mut d = self.delay.clone();
            let ms = self.settings.timeouts.idle_ms;
            let wait = async {
                if let Either::First(_) = select(stop.as_mut(), d.delay_ms(ms)).await {
                    stopped.set(true);
                }
            };
            imap.idle(wait, |ev| match ev {
                IdleEvent::Exists(_) => IdleControl::Stop,
                _ => IdleControl::Continue,
            })
            .await
            .map_err(error::imap)?;
            if stopped.get() {
                return Ok(self.report);
            }
        }
    }

    /// A message above `last_uid` (or the orphan in progress).
    async fn process(&mut self, imap: &mut Imap<'_, N, D>, uid: u64) -> Result<(), Error> {
        let mut msg = Incoming::new();
        if !fetch(imap, uid, self.settings.done_keyword, &mut msg).await? {
            return Ok(()); // gone meanwhile: nothing claimed, nothing to do
        }
        let m = MsgRef::Uid(uid);
        if !self.settings.is_for_us(msg.subject.as_str()) {
            self.journal.pass(uid);
            return Ok(());
        }
        match self.journal.plan(uid, msg.message_id.as_str()) {
            Plan::Skip => return Ok(()),
            Plan::Resume(stage) => {
                self.journal.adopt(uid);
                self.journal_changed();
                self.events.on(&Event::Resumed { msg: m, stage });
            }
            Plan::Execute if msg.done => {
                // Handled by a run whose journal was lost: only file it.
                self.journal.claim(uid, msg.pending(false));
                self.journal.advance(Stage::Flagged);
                self.journal_changed();
                self.events.on(&Event::AlreadyDone { msg: m });
            }
            Plan::Execute if msg.auto || !self.settings.is_allowed(msg.from.as_str()) => {
                self.journal.claim(uid, msg.pending(false));
                self.journal.advance(Stage::Replied);
                self.journal_changed();
                let from = msg.from.as_str();
                self.events.on(&if msg.auto {
                    Event::Automatic { msg: m, from }
                } else {
                    Event::NotAllowed { msg: m, from }
                });
            }
            Plan::Execute => {
                // Rule 1: claim and report before the device acts.
                if !self.journal.claim(uid, msg.pending(true)) {
                    return Ok(());
                }
                self.journal_changed();
                self.events.on(&Event::Received {
                    msg: m,
                    from: msg.from.as_str(),
                    subject: msg.subject.as_str(),
                });
                // Rule 2: execute and record with no await in between.
                let mut out = TextBuf::<256>::new();
                let outcome = msg.execute(self.device, &mut out);
                self.journal.executed(outcome, out.as_str());
                if outcome != Outcome::Invalid {
                    self.report.executed += 1;
                }
                self.journal_changed();
                let p = self.journal.pending();
                self.events.on(&Event::Executed {
                    msg: m,
                    from: p.to(),
                    command: p.command(),
                    outcome,
                    result: out.as_str(),
                });
            }
        }
        self.finish(imap, uid).await
    }

    async fn reply(&mut self, uid: u64) -> Result<(), Error> {
        if self.journal.pending().wants_reply() {
            let p = *self.journal.pending();
            send_reply::<N, D, R, C>(
                self.net,
                self.delay,
                self.rng,
                &self.settings,
                self.smtp.reborrow(),
                &p,
            )
            .await?;
            self.report.replied += 1;
            self.events.on(&Event::ReplySent {
                msg: MsgRef::Uid(uid),
                to: p.to(),
            });
        }
        self.journal.advance(Stage::Replied);
        self.journal_changed();
        Ok(())
    }

    /// Rule 3: the steps after the execution, from the journal's stage on.
    async fn finish(&mut self, imap: &mut Imap<'_, N, D>, uid: u64) -> Result<(), Error> {
        let s = self.settings;
        if self.journal.stage() < Stage::Replied {
            self.reply(uid).await?;
        }
        let one = [SeqRange::one(uid)];
        if self.journal.stage() < Stage::Flagged {
            match imap
                .store(
                    true,
                    &one,
                    StoreMode::Add,
                    &["\\Seen", s.done_keyword],
                    true,
                    |_| {},
                )
                .await
            {
                Ok(()) => {}
                // A server without keywords: \Seen alone, the move is what counts.
                Err(e) if !e.is_fatal() => imap
                    .store(true, &one, StoreMode::Add, &["\\Seen"], true, |_| {})
                    .await
                    .map_err(error::imap)?,
                Err(e) => return Err(error::imap(e)),
            }
            self.journal.advance(Stage::Flagged);
            self.journal_changed();
        }
        imap.move_to(true, &one, s.processed_folder)
            .await
            .map_err(error::imap)?;
        self.report.filed += 1;
        let outcome = self.journal.pending().outcome();
        self.journal.done();
        self.journal_changed();
        self.events.on(&Event::Filed {
            msg: MsgRef::Uid(uid),
            folder: s.processed_folder,
        });
        if outcome == Outcome::Reboot {
            self.report.reboot = true;
        }
        Ok(())
    }

    /// The message in progress is no longer in the folder: send the reply if it is still
    /// due, then it is done.
    async fn finish_gone(&mut self, uid: u64) -> Result<(), Error> {
        if self.journal.stage() < Stage::Replied {
            self.reply(uid).await?;
        }
        if self.journal.pending().outcome() == Outcome::Reboot {
            self.report.reboot = true;
        }
        self.journal.done();
        self.journal_changed();
        Ok(())
    }
}

/// Whether `uid` is in the selected folder.
async fn exists<T: Read + Write, D: DelayNs>(
    imap: &mut ImapClient<'_, T, D>,
    uid: u64,
) -> Result<bool, Error> {
    let mut found = false;
    let set = [SeqRange::one(uid)];
    imap.search(true, &[SearchKey::Uid(&set)], |u| found |= u == uid)
        .await
        .map_err(error::imap)?;
    Ok(found)
}

fn has_keyword(items: &FetchItems<'_>, keyword: &str) -> bool {
    match items.get(b"FLAGS") {
        Some(FetchItem::Flags(flags)) => flags
            .into_iter()
            .any(|f| f.eq_ignore_ascii_case(keyword.as_bytes())),
        _ => false,
    }
}

/// `UID FETCH uid (UID FLAGS BODY.PEEK[])`, the message streamed through the MIME reader.
/// `false` when the server returned no such message.
async fn fetch<T: Read + Write, D: DelayNs>(
    imap: &mut ImapClient<'_, T, D>,
    uid: u64,
    keyword: &str,
    msg: &mut Incoming,
) -> Result<bool, Error> {
    let mut hbuf = [0u8; MessageParser::HEADER_BUF];
    let mut parser =
        MessageParser::new(&mut hbuf).ok_or(Error::new(Service::Imap, ErrorKind::Capacity))?;
    let mut found = false;
    let mut streaming = false;
    let attrs = [
        FetchAttr::Uid,
        FetchAttr::Flags,
        FetchAttr::BodySection {
            section: "",
            peek: true,
            partial: None,
        },
    ];
    let ours = |items: &FetchItems<'_>| items.uid().is_none_or(|u| u == uid);
    imap.fetch(true, &[SeqRange::one(uid)], &attrs, |ev| {
        match ev {
            FetchEvent::Message { items, .. } => {
                // Unsolicited FETCH responses (flag changes) carry no body.
                if let Some(FetchItem::Section(body)) = items.get(b"BODY[]")
                    && ours(&items)
                {
                    found = true;
                    msg.done |= has_keyword(&items, keyword);
                    if let Some(body) = body {
                        for chunk in body.chunks() {
                            parser.feed(chunk, msg);
                        }
                    }
                }
            }
            FetchEvent::Start {
                items, streamed, ..
            } => {
                streaming = streamed.name.len() >= 5
                    && streamed
                        .name
                        .get(..5)
                        .is_some_and(|n| n.eq_ignore_ascii_case(b"BODY["))
                    && ours(&items);
                if streaming {
                    found = true;
                    msg.done |= has_keyword(&items, keyword);
                }
            }
            FetchEvent::Data { data, .. } if streaming => parser.feed(data, msg),
            FetchEvent::More { items, .. } => {
                if streaming {
                    msg.done |= has_keyword(&items, keyword);
                }
                streaming = false;
            }
            _ => {}
        }
        Ok(())
    })
    .await
    .map_err(error::imap)?;
    parser.finish(msg);
    Ok(found)
}
