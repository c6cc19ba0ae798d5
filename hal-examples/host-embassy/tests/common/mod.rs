//! Test support shared by the channel and TAP tests: a recording device, the event log with
//! a cut trigger, an operator's IMAP client (postwire-imap over host sockets) and the alert
//! check.
#![allow(dead_code, reason = "each test binary uses a part")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use postwire_app::{Command, Device, Event, FnEvents, Outcome, Trust};
use postwire_host_embassy::cut::{CutMode, CutSwitch};
use postwire_host_sim::net::{TokioDelay, connect_tcp};
use postwire_host_sim::tls::{HostTlsStream, TlsBuffers, start_tls};
use postwire_imap::client::{Buffers, Client, ClientConfig, FetchEvent};
use postwire_imap::wire::{FetchAttr, FetchItem, SearchKey, SeqRange};

/// Bound of every operator step.
pub const STEP: Duration = Duration::from_secs(20);

// ------------------------------------------------------------------ running

/// Stack of the thread a test runs on: the futures of the TLS handshake and the mailbox
/// jobs are large in debug builds, more than a test thread's default 2 MiB.
const STACK: usize = 32 << 20;

/// Runs the future `make` returns on a tokio runtime (two workers for the peer and the
/// helpers), on a thread with a [`STACK`]-byte stack; a panic is passed on.
pub fn run<F: Future<Output = ()>>(make: impl FnOnce() -> F + Send + 'static) {
    let thread = std::thread::Builder::new()
        .name("embassy-test".into())
        .stack_size(STACK)
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("the tokio runtime starts");
            rt.block_on(make());
        })
        .expect("the test thread starts");
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

/// The decoded Subject of a message ("" when it has none).
pub fn subject(raw: &[u8]) -> String {
    mail_parser::MessageParser::default()
        .parse_headers(raw)
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_default()
}

// ------------------------------------------------------------------ device

/// Records every command it executes.
#[derive(Clone, Default)]
pub struct TestDevice {
    executed: Arc<Mutex<Vec<String>>>,
}

impl TestDevice {
    /// The commands executed so far, in order.
    pub fn executed(&self) -> Vec<String> {
        self.executed.lock().unwrap().clone()
    }
}

impl Device for TestDevice {
    fn execute(&mut self, command: &Command<'_>, out: &mut dyn std::fmt::Write) -> Outcome {
        self.executed.lock().unwrap().push(command.to_string());
        let _ = match command {
            Command::Set { name, value } => write!(out, "{name} = {value}"),
            Command::Status => write!(out, "all fine, 21.5 °C"),
            Command::Reboot => return Outcome::Reboot,
        };
        Outcome::Ok
    }
}

// ------------------------------------------------------------------ events

/// The device's transcript.
#[derive(Clone, Default)]
pub struct Log {
    lines: Arc<Mutex<Vec<String>>>,
}

impl Log {
    /// Lines containing `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Whether a line contains `needle`.
    pub fn has(&self, needle: &str) -> bool {
        self.count(needle) > 0
    }
}

/// Decides, per event, whether to cut now.
pub type Trigger = Box<dyn FnMut(&Event<'_>) -> bool>;

/// A cut armed by the first event `trigger` accepts.
pub struct Cut<'s> {
    /// The event.
    pub trigger: Trigger,
    /// The switch of the test's `CutNet`.
    pub switch: &'s CutSwitch,
    /// Whose connections fail.
    pub port: u16,
    /// How.
    pub mode: CutMode,
}

/// The event hook: prints and records each event, and arms `cut` at its trigger.
pub fn events<'s>(
    tag: &'static str,
    log: &Log,
    mut cut: Option<Cut<'s>>,
) -> FnEvents<impl FnMut(&Event<'_>) + 's> {
    let lines = log.lines.clone();
    FnEvents(move |ev: &Event<'_>| {
        let line = ev.to_string();
        println!("[{tag}] {line}");
        lines.lock().unwrap().push(line);
        if let Some(c) = cut.as_mut()
            && (c.trigger)(ev)
        {
            println!(
                "[{tag}] ---- cutting the connections to port {} here ({:?}) ----",
                c.port, c.mode
            );
            c.switch.arm(c.port, c.mode);
            cut = None;
        }
    })
}

// ------------------------------------------------------------------ messages

/// A command e-mail as an operator's mail client would write it.
pub fn command_mail(from: &str, to: &str, subject: &str, id: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Operations <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}@postwire.test>\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// A temperature log of about 100 KB: larger than every TCP and TLS buffer on the way.
pub fn csv_log() -> Vec<u8> {
    let mut csv = b"time,temperature\r\n".to_vec();
    for i in 0..3000 {
        csv.extend_from_slice(
            format!(
                "2026-11-23T{:02}:{:02}:{:02}Z,{}.{}\n",
                i / 3600,
                i / 60 % 60,
                i % 60,
                28 + i % 4,
                i % 10
            )
            .as_bytes(),
        );
    }
    csv
}

/// The alert's text.
pub const ALERT_TEXT: &str = "The temperature in hall 3 is 31.5 °C (limit 30 °C).\nLog attached.\n";

/// Checks that `raw` is the alert: subject, text and the CSV attachment byte for byte.
pub fn check_alert(raw: &[u8], subject: &str, csv: &[u8]) {
    let msg = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("the alert is a parsable message");
    assert_eq!(msg.subject(), Some(subject), "subject");
    assert_eq!(
        msg.body_text(0).expect("a text part").replace("\r\n", "\n"),
        ALERT_TEXT,
        "text"
    );
    let attachments: Vec<_> = msg.attachments().collect();
    assert_eq!(attachments.len(), 1, "one attachment");
    assert_eq!(
        mail_parser::MimeHeaders::attachment_name(attachments[0]),
        Some("temperatur-log.csv")
    );
    assert_eq!(
        attachments[0].contents(),
        csv,
        "the CSV bytes arrive unchanged"
    );
}

// ------------------------------------------------------------------ the operator's IMAP client

/// Where the operator's client connects (implicit TLS).
pub struct Imaps {
    /// Host (IP literal).
    pub host: String,
    /// Port.
    pub port: u16,
    /// The certificate's name.
    pub tls_name: String,
    /// Trust anchors (DER).
    pub anchors: Vec<Vec<u8>>,
}

/// The operator client's buffers.
pub struct OpBufs {
    tls: TlsBuffers,
    rx: Vec<u8>,
    tx: Vec<u8>,
}

impl OpBufs {
    /// Fresh buffers.
    pub fn new() -> Self {
        OpBufs {
            tls: TlsBuffers::new(),
            rx: vec![0; 16384],
            tx: vec![0; 4096],
        }
    }
}

/// An operator's IMAP session.
pub type OpClient<'b> = Client<'b, HostTlsStream<'b>, TokioDelay>;

impl Imaps {
    /// Connects, verifies the certificate and logs in.
    pub async fn login<'b>(&self, user: &str, password: &str, b: &'b mut OpBufs) -> OpClient<'b> {
        let anchors: Vec<&[u8]> = self.anchors.iter().map(Vec::as_slice).collect();
        let trust = Trust::Anchors(&anchors);
        let tcp = connect_tcp(&self.host, self.port, STEP)
            .await
            .unwrap_or_else(|e| panic!("operator: connect to {}:{}: {e}", self.host, self.port));
        let tls = start_tls(tcp, &self.tls_name, &trust, STEP, &mut b.tls)
            .await
            .unwrap_or_else(|e| panic!("operator: TLS with {}:{}: {e}", self.host, self.port));
        let mut c = Client::new(
            tls,
            TokioDelay,
            Buffers {
                rx: &mut b.rx,
                tx: &mut b.tx,
            },
            ClientConfig::default(),
        );
        c.set_implicit_tls();
        c.greet().await.expect("operator: greeting");
        c.login(user, password).await.expect("operator: login");
        c
    }

    /// APPENDs `message` to `folder` of `user`.
    pub async fn append(&self, user: &str, password: &str, folder: &str, message: &[u8]) {
        let mut b = OpBufs::new();
        let mut c = self.login(user, password, &mut b).await;
        c.append(folder, &[], None, message.len() as u64, &mut &message[..])
            .await
            .unwrap_or_else(|e| panic!("operator: APPEND to {folder}: {e}"));
        c.logout().await.expect("operator: logout");
    }

    /// CREATEs `folder` of `user`.
    pub async fn create(&self, user: &str, password: &str, folder: &str) {
        let mut b = OpBufs::new();
        let mut c = self.login(user, password, &mut b).await;
        c.create(folder)
            .await
            .unwrap_or_else(|e| panic!("operator: CREATE {folder}: {e}"));
        c.logout().await.expect("operator: logout");
    }

    /// DELETEs folders of `user` (cleanup; errors ignored).
    pub async fn delete(&self, user: &str, password: &str, folders: &[&str]) {
        let mut b = OpBufs::new();
        let mut c = self.login(user, password, &mut b).await;
        for f in folders {
            let _ = c.delete(f).await;
        }
        let _ = c.logout().await;
    }

    /// The messages of `user`'s `folder` whose Subject contains `token`: UID, flags and the
    /// whole message.
    pub async fn messages(
        &self,
        user: &str,
        password: &str,
        folder: &str,
        token: &str,
    ) -> Vec<Found> {
        let mut b = OpBufs::new();
        let mut c = self.login(user, password, &mut b).await;
        c.examine(folder)
            .await
            .unwrap_or_else(|e| panic!("operator: EXAMINE {folder}: {e}"));
        let mut uids = Vec::new();
        c.search(true, &[SearchKey::Header("Subject", token)], |u| {
            uids.push(u)
        })
        .await
        .expect("operator: SEARCH");
        let mut out = Vec::new();
        for uid in uids {
            let mut found = Found {
                uid,
                flags: Vec::new(),
                raw: Vec::new(),
            };
            let attrs = [
                FetchAttr::Flags,
                FetchAttr::BodySection {
                    section: "",
                    peek: true,
                    partial: None,
                },
            ];
            c.fetch(true, &[SeqRange::one(uid)], &attrs, |ev| {
                let items = match ev {
                    FetchEvent::Message { items, .. }
                    | FetchEvent::Start { items, .. }
                    | FetchEvent::More { items, .. } => items,
                    FetchEvent::Data { data, .. } => {
                        found.raw.extend_from_slice(data);
                        return Ok(());
                    }
                    _ => return Ok(()),
                };
                for (_, item) in items.with_names() {
                    match item {
                        FetchItem::Flags(flags) => {
                            found.flags = flags
                                .into_iter()
                                .map(|f| String::from_utf8_lossy(f).into_owned())
                                .collect();
                        }
                        FetchItem::Section(Some(s)) => {
                            for chunk in s.chunks() {
                                found.raw.extend_from_slice(chunk);
                            }
                        }
                        _ => {}
                    }
                }
                Ok(())
            })
            .await
            .expect("operator: FETCH");
            out.push(found);
        }
        c.logout().await.expect("operator: logout");
        out
    }

    /// Waits until `user`'s `folder` holds at least `expected` messages with `token` in the
    /// subject (at most 20 s), then a little longer so a duplicate would show; returns them.
    pub async fn settled(
        &self,
        user: &str,
        password: &str,
        folder: &str,
        token: &str,
        expected: usize,
    ) -> Vec<Found> {
        for _ in 0..100 {
            if self.messages(user, password, folder, token).await.len() >= expected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        self.messages(user, password, folder, token).await
    }
}

/// A message found by [`Imaps::messages`].
#[derive(Debug)]
pub struct Found {
    /// Its UID.
    pub uid: u64,
    /// Its flags and keywords.
    pub flags: Vec<String>,
    /// The message.
    pub raw: Vec<u8>,
}

impl Found {
    /// Whether it has `flag` (ASCII case ignored).
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
    }
}

/// A unique token for subjects and folder names.
pub fn token(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("pw-emb-{tag}-{}-{nanos:x}", std::process::id())
}
