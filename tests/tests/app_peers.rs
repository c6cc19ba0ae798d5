//! The device logic (`postwire-app`) against the real Postfix + Dovecot peers: the alert
//! e-mail arrives intact; commands put into the command mailbox are executed exactly once
//! and answered, over IMAP (with IDLE) and POP3 — also when the connection is cut in the
//! middle of processing and the job is run again with the same journal.
//!
//! The cuts come from the test's own `Net`: its connections fail every read and write (or
//! only reads: the server still receives the last command) once the event hook arms them,
//! e.g. right after the device executed a command.
//!
//! Each IMAP test works in its own folders (named with a unique token); the POP3 tests share
//! bob's INBOX with everybody and therefore use `Settings::subject_tag`, so only their own
//! messages are touched.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use embedded_io_async::{ErrorType, Read, Write};
use postwire_app::{
    Alert, App, Command, CsvLog, Device, Endpoint, Event, FnEvents, ImapJournal, Memory, Net,
    Outcome, Pop3Journal, Security, Settings, Stage, Timeouts, Trust,
};
use postwire_host_sim::net::{TcpTransport, TokioDelay, connect_tcp};
use postwire_host_sim::tls::{CaSet, HostTlsStream, SystemClock, TlsBuffers, start_tls};
use postwire_imap::client::{Buffers, Client, ClientConfig};
use postwire_imap::wire::{FetchAttr, FetchItem, SearchKey};
use postwire_tests::{Peers, token};

const TIMEOUT: Duration = Duration::from_secs(20);
const JOB_TIMEOUT: Duration = Duration::from_secs(90);

// ------------------------------------------------------------------ the test's Net

/// Which connections fail: those to `port`, every operation (`ALL`) or only reads (`READS`).
#[derive(Default)]
struct CutSwitch {
    armed: AtomicU32,
}

const ALL: u32 = 1 << 16;
const READS: u32 = 2 << 16;

impl CutSwitch {
    fn arm(&self, port: u16, mode: u32) {
        self.armed.store(u32::from(port) | mode, Ordering::SeqCst);
    }
    fn disarm(&self) {
        self.armed.store(0, Ordering::SeqCst);
    }
    fn cut(&self, port: u16, read: bool) -> bool {
        let a = self.armed.load(Ordering::SeqCst);
        a & 0xffff == u32::from(port) && (a & ALL != 0 || (read && a & READS != 0))
    }
}

#[derive(Clone, Default)]
struct TestNet {
    switch: Arc<CutSwitch>,
}

struct CutConn {
    inner: TcpTransport,
    port: u16,
    switch: Arc<CutSwitch>,
}

fn aborted() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection cut by the test",
    )
}

impl ErrorType for CutConn {
    type Error = io::Error;
}

impl Read for CutConn {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, io::Error> {
        if self.switch.cut(self.port, true) {
            return Err(aborted());
        }
        self.inner.read(buf).await
    }
}

impl Write for CutConn {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, io::Error> {
        if self.switch.cut(self.port, false) {
            return Err(aborted());
        }
        self.inner.write(buf).await
    }
    async fn flush(&mut self) -> Result<(), io::Error> {
        if self.switch.cut(self.port, false) {
            return Err(aborted());
        }
        self.inner.flush().await
    }
}

impl Net for TestNet {
    type Error = io::Error;
    type Conn<'a> = CutConn;

    async fn connect(&self, host: &str, port: u16) -> Result<CutConn, io::Error> {
        if self.switch.cut(port, false) {
            return Err(aborted());
        }
        Ok(CutConn {
            inner: connect_tcp(host, port, TIMEOUT).await?,
            port,
            switch: self.switch.clone(),
        })
    }
}

// ------------------------------------------------------------------ device and events

/// Records every command it executes.
#[derive(Clone, Default)]
struct TestDevice {
    executed: Arc<Mutex<Vec<String>>>,
}

impl TestDevice {
    fn executed(&self) -> Vec<String> {
        self.executed.lock().unwrap().clone()
    }
}

impl Device for TestDevice {
    fn execute(&mut self, command: &Command<'_>, out: &mut dyn std::fmt::Write) -> Outcome {
        self.executed.lock().unwrap().push(command.to_string());
        match command {
            Command::Set { name, value } => {
                write!(out, "{name} = {value}").unwrap();
                Outcome::Ok
            }
            Command::Status => {
                write!(out, "all fine, 21.5 °C").unwrap();
                Outcome::Ok
            }
            Command::Reboot => Outcome::Reboot,
        }
    }
}

/// The transcript, and a trigger that arms the cut switch at the first matching event.
struct Log {
    lines: Arc<Mutex<Vec<String>>>,
}

type Trigger = Box<dyn FnMut(&Event<'_>) -> bool + Send>;

fn events(
    tag: &'static str,
    lines: Arc<Mutex<Vec<String>>>,
    switch: Arc<CutSwitch>,
    mut trigger: Option<(Trigger, u16, u32)>,
) -> FnEvents<impl FnMut(&Event<'_>)> {
    FnEvents(move |ev: &Event<'_>| {
        let line = ev.to_string();
        println!("[{tag}] {line}");
        lines.lock().unwrap().push(line);
        if let Some((t, port, mode)) = trigger.as_mut()
            && t(ev)
        {
            println!("[{tag}] ---- cutting the connections to port {port} here ----");
            switch.arm(*port, *mode);
            trigger = None;
        }
    })
}

impl Log {
    fn new() -> Self {
        Log {
            lines: Arc::new(Mutex::new(Vec::new())),
        }
    }
    fn count(&self, prefix: &str) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    }
    fn has(&self, needle: &str) -> bool {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(needle))
    }
}

// ------------------------------------------------------------------ settings

struct Env {
    peers: Peers,
    ca: CaSet,
}

impl Env {
    fn load() -> Option<Env> {
        let peers = Peers::try_load(module_path!())?;
        let ca = CaSet::from_file(peers.ca_bundle()).unwrap();
        Some(Env { peers, ca })
    }

    fn endpoint(&self, var: &str, security: Security) -> Endpoint<'_> {
        Endpoint {
            server_name: Some(self.peers.tls_name()),
            ..Endpoint::new(self.peers.host(), self.peers.port(var), security)
        }
    }
}

fn settings<'a>(env: &'a Env, anchors: &'a [&'a [u8]], user: &'a str, pw: &'a str) -> Settings<'a> {
    Settings {
        imap: Some(env.endpoint("MAILPEERS_IMAP_PORT", Security::StartTls)),
        pop3: Some(env.endpoint("MAILPEERS_POP3S_PORT", Security::Implicit)),
        from_name: Some("Sensor 7"),
        timeouts: Timeouts {
            connect_ms: 10_000,
            tls_ms: 20_000,
            command_ms: 30_000,
            data_end_ms: 60_000,
            idle_ms: 60_000,
        },
        ..Settings::new(
            env.endpoint("MAILPEERS_SUBMISSIONS_PORT", Security::Implicit),
            Trust::Anchors(anchors),
            user,
            pw,
            "bob@example.test",
        )
    }
}

type TestApp<'s, V> = App<'s, TestNet, TokioDelay, rand_core::OsRng, SystemClock, V>;

fn app<'s, V: postwire_app::Events>(
    net: &TestNet,
    settings: Settings<'s>,
    events: V,
) -> TestApp<'s, V> {
    App {
        net: net.clone(),
        delay: TokioDelay,
        rng: rand_core::OsRng,
        clock: SystemClock,
        events,
        settings,
    }
}

async fn timed<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(JOB_TIMEOUT, f)
        .await
        .expect("the job took too long")
}

// ------------------------------------------------------------------ an operator's IMAP client

struct Bufs {
    tls: TlsBuffers,
    rx: Vec<u8>,
    tx: Vec<u8>,
}

type Imaps<'b> = Client<'b, HostTlsStream<'b>, TokioDelay>;

async fn operator<'b>(env: &Env, user: &str, pw: &str, b: &'b mut Bufs) -> Imaps<'b> {
    let anchors = env.ca.anchors();
    let trust = Trust::Anchors(&anchors);
    let p = &env.peers;
    let tcp = connect_tcp(p.host(), p.port("MAILPEERS_IMAPS_PORT"), TIMEOUT)
        .await
        .unwrap();
    let tls = start_tls(tcp, p.tls_name(), &trust, TIMEOUT, &mut b.tls)
        .await
        .unwrap();
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
    c.greet().await.unwrap();
    c.login(user, pw).await.unwrap();
    c
}

fn bufs() -> Bufs {
    Bufs {
        tls: TlsBuffers::new(),
        rx: vec![0; 8192],
        tx: vec![0; 2048],
    }
}

fn command_mail(from: &str, to: &str, subject: &str, id: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Operations <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}@example.test>\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// APPENDs a command message (as bob, from alice) to `folder`.
async fn put_command(env: &Env, folder: &str, subject: &str, id: &str, body: &str) {
    let mut b = bufs();
    let mut c = operator(env, "bob", "bob-pw", &mut b).await;
    let msg = command_mail("alice@example.test", "bob@example.test", subject, id, body);
    c.append(folder, &[], None, msg.len() as u64, &mut &msg[..])
        .await
        .unwrap();
    c.logout().await.unwrap();
}

/// Creates the test's command folder.
async fn create_folder(env: &Env, folder: &str) {
    let mut b = bufs();
    let mut c = operator(env, "bob", "bob-pw", &mut b).await;
    c.create(folder).await.unwrap();
    c.logout().await.unwrap();
}

/// UIDs of the messages in `user`'s `folder` whose Subject holds `token`, with their flags.
async fn messages(
    env: &Env,
    user: &str,
    pw: &str,
    folder: &str,
    token: &str,
) -> Vec<(u64, String)> {
    let mut b = bufs();
    let mut c = operator(env, user, pw, &mut b).await;
    c.examine(folder).await.unwrap();
    let mut uids = Vec::new();
    c.search(true, &[SearchKey::Header("Subject", token)], |u| {
        uids.push(u)
    })
    .await
    .unwrap();
    let mut out = Vec::new();
    for uid in uids {
        let mut flags = String::new();
        c.fetch(
            true,
            &[postwire_imap::wire::SeqRange::one(uid)],
            &[FetchAttr::Flags],
            |ev| {
                if let postwire_imap::client::FetchEvent::Message { items, .. } = ev
                    && let Some(FetchItem::Flags(f)) = items.get(b"FLAGS")
                {
                    for a in f {
                        flags.push_str(&String::from_utf8_lossy(a));
                        flags.push(' ');
                    }
                }
                Ok(())
            },
        )
        .await
        .unwrap();
        out.push((uid, flags));
    }
    c.logout().await.unwrap();
    out
}

/// Replies with `token` in alice's INBOX, after waiting for `expected` to be delivered (and a
/// little more, so a duplicate would show).
async fn replies(env: &Env, token: &str, expected: usize) -> usize {
    for _ in 0..50 {
        if messages(env, "alice", "alice-pw", "INBOX", token)
            .await
            .len()
            >= expected
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    messages(env, "alice", "alice-pw", "INBOX", token)
        .await
        .len()
}

async fn delete_folders(env: &Env, folders: &[&str]) {
    let mut b = bufs();
    let mut c = operator(env, "bob", "bob-pw", &mut b).await;
    for f in folders {
        let _ = c.delete(f).await;
    }
    let _ = c.logout().await;
}

// ------------------------------------------------------------------ job 1: the alert

#[tokio::test]
async fn alert_arrives_intact() {
    let Some(env) = Env::load() else { return };
    let tok = token("app-alert");
    let anchors = env.ca.anchors();
    let s = Settings {
        alert_to: &["bob@example.test"],
        ..settings(&env, &anchors, "bob", "bob-pw")
    };
    let net = TestNet::default();
    let log = Log::new();
    let mut app = app(
        &net,
        s,
        events("alert", log.lines.clone(), net.switch.clone(), None),
    );
    let mut mem = Box::new(Memory::new());
    let subject = format!("Temperature alert: 31.5 °C {tok}");
    let mut csv = b"time,temperature\n2026-11-23T10:00:00Z,29.0\n".to_vec();
    for i in 0..2000 {
        csv.extend_from_slice(
            format!(
                "2026-11-23T10:{:02}:{:02}Z,{}.{}\n",
                i / 60 % 60,
                i % 60,
                29 + i % 3,
                i % 10
            )
            .as_bytes(),
        );
    }
    let report = timed(app.send_alert(
        mem.smtp.buffers(),
        Alert {
            subject: &subject,
            text: "The temperature in hall 3 is 31.5 °C (limit 30 °C).\nLog attached.\n",
            csv: Some(CsvLog {
                filename: "temperatur-log.csv",
                source: &csv[..],
            }),
        },
    ))
    .await
    .unwrap();
    assert_eq!(report.accepted, 1);
    assert!(log.has("alert sent"));

    let raw = postwire_tests::fetch_by_subject(&env.peers, "bob", "bob-pw", &tok);
    let msg = mail_parser::MessageParser::default().parse(&raw).unwrap();
    assert_eq!(msg.subject(), Some(subject.as_str()));
    assert!(
        String::from_utf8_lossy(&raw).contains("Subject: =?utf-8?"),
        "the non-ASCII subject is an encoded word"
    );
    assert_eq!(
        msg.body_text(0).unwrap().replace("\r\n", "\n"),
        "The temperature in hall 3 is 31.5 °C (limit 30 °C).\nLog attached.\n"
    );
    let att: Vec<_> = msg.attachments().collect();
    assert_eq!(att.len(), 1);
    assert_eq!(
        mail_parser::MimeHeaders::attachment_name(att[0]),
        Some("temperatur-log.csv")
    );
    assert_eq!(
        att[0].contents(),
        &csv[..],
        "the CSV bytes arrive unchanged"
    );
}

// ------------------------------------------------------------------ job 2: IMAP

/// Folder names of one test.
fn folders(tok: &str) -> (String, String) {
    (format!("Cmd-{tok}"), format!("Done-{tok}"))
}

/// Commands arriving while the job runs (the first before it starts, the second pushed
/// during IDLE) are executed once each, answered, flagged and filed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_commands_exactly_once_with_idle() {
    let Some(env) = Env::load() else { return };
    let tok = token("app-imap");
    let (cmd, done) = folders(&tok);
    create_folder(&env, &cmd).await;
    put_command(
        &env,
        &cmd,
        &format!("set interval {tok}"),
        &format!("{tok}-1"),
        "SET interval 30",
    )
    .await;

    let anchors = env.ca.anchors();
    let s = Settings {
        allowed_senders: &["alice@example.test"],
        command_folder: &cmd,
        processed_folder: &done,
        ..settings(&env, &anchors, "bob", "bob-pw")
    };
    let net = TestNet::default();
    let log = Log::new();
    let mut app = app(
        &net,
        s,
        events("imap", log.lines.clone(), net.switch.clone(), None),
    );
    let mut mem = Box::new(Memory::new());
    let mut journal = ImapJournal::new();
    let mut device = TestDevice::default();
    let probe = device.clone();
    let stop = Arc::new(tokio::sync::Notify::new());

    let job = app.serve_imap(mem.buffers(), &mut journal, &mut device, stop.notified());
    let driver = async {
        // Wait for the first command to be filed and the job to idle, then push another.
        for _ in 0..300 {
            if log.count("waiting for new mail") >= 1 && log.count("message #") >= 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(probe.executed(), ["SET interval 30"]);
        put_command(
            &env,
            &cmd,
            &format!("status {tok}"),
            &format!("{tok}-2"),
            "STATUS",
        )
        .await;
        for _ in 0..300 {
            if log.count("message #") >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stop.notify_one();
    };
    let (report, ()) = timed(async { tokio::join!(job, driver) }).await;
    let report = report.unwrap();
    assert_eq!(device.executed(), ["SET interval 30", "STATUS"]);
    assert_eq!((report.executed, report.replied, report.filed), (2, 2, 2));
    assert_eq!(journal.stage(), Stage::Done);
    assert_eq!(replies(&env, &tok, 2).await, 2, "one reply per command");
    assert!(messages(&env, "bob", "bob-pw", &cmd, &tok).await.is_empty());
    let filed = messages(&env, "bob", "bob-pw", &done, &tok).await;
    assert_eq!(filed.len(), 2);
    for (_, flags) in &filed {
        assert!(
            flags.contains("\\Seen") && flags.contains("$Done"),
            "{flags}"
        );
    }
    delete_folders(&env, &[&cmd, &done]).await;
}

/// Runs the IMAP job once with a cut armed by `trigger`, expects it to fail, then runs it
/// again with the same journal; checks one execution, one reply, the message filed.
async fn imap_cut(name: &'static str, trigger: Trigger, service_port: &str, mode: u32) {
    let Some(env) = Env::load() else { return };
    let tok = token(name);
    let (cmd, done) = folders(&tok);
    create_folder(&env, &cmd).await;
    put_command(
        &env,
        &cmd,
        &format!("cmd {tok}"),
        &format!("{tok}-1"),
        "SET led on",
    )
    .await;
    let anchors = env.ca.anchors();
    let s = Settings {
        allowed_senders: &["alice@example.test"],
        command_folder: &cmd,
        processed_folder: &done,
        ..settings(&env, &anchors, "bob", "bob-pw")
    };
    let port = env.peers.port(service_port);
    let net = TestNet::default();
    let log = Log::new();
    let mut journal = ImapJournal::new();
    let mut device = TestDevice::default();
    let mut mem = Box::new(Memory::new());
    {
        let ev = events(
            name,
            log.lines.clone(),
            net.switch.clone(),
            Some((trigger, port, mode)),
        );
        let mut app = app(&net, s, ev);
        let r = timed(app.serve_imap(
            mem.buffers(),
            &mut journal,
            &mut device,
            std::future::pending::<()>(),
        ))
        .await;
        let e = r.expect_err("the cut must end the first run");
        println!("[{name}] first run ended: {e}");
    }
    assert_eq!(device.executed(), ["SET led on"]);
    assert_ne!(
        journal.stage(),
        Stage::Done,
        "the journal holds the message in progress"
    );
    net.switch.disarm();
    {
        let ev = events(name, log.lines.clone(), net.switch.clone(), None);
        let mut app = app(&net, s, ev);
        // Resume, find nothing new, return at once (the stop future is ready).
        let report = timed(app.serve_imap(
            mem.buffers(),
            &mut journal,
            &mut device,
            std::future::ready(()),
        ))
        .await
        .unwrap();
        assert_eq!(report.executed, 0, "nothing is executed on resume");
    }
    assert_eq!(device.executed(), ["SET led on"], "executed exactly once");
    assert_eq!(journal.stage(), Stage::Done);
    assert!(log.has("resuming command"));
    assert_eq!(replies(&env, &tok, 1).await, 1, "exactly one reply");
    assert!(messages(&env, "bob", "bob-pw", &cmd, &tok).await.is_empty());
    assert_eq!(messages(&env, "bob", "bob-pw", &done, &tok).await.len(), 1);
    delete_folders(&env, &[&cmd, &done]).await;
}

/// Cut after the device executed, before the reply: the SMTP connection fails.
#[tokio::test]
async fn imap_cut_before_reply() {
    imap_cut(
        "app-imap-cut-smtp",
        Box::new(|ev| matches!(ev, Event::Executed { .. })),
        "MAILPEERS_SUBMISSIONS_PORT",
        ALL,
    )
    .await;
}

/// Cut after the device executed: the reply goes out, the IMAP connection fails at STORE.
#[tokio::test]
async fn imap_cut_after_execute_before_move() {
    imap_cut(
        "app-imap-cut-exec",
        Box::new(|ev| matches!(ev, Event::Executed { .. })),
        "MAILPEERS_IMAP_PORT",
        ALL,
    )
    .await;
}

/// Cut after the reply, before the flag.
#[tokio::test]
async fn imap_cut_after_reply_before_flag() {
    imap_cut(
        "app-imap-cut-reply",
        Box::new(|ev| matches!(ev, Event::ReplySent { .. })),
        "MAILPEERS_IMAP_PORT",
        ALL,
    )
    .await;
}

/// The server executes the MOVE but its answer is lost.
#[tokio::test]
async fn imap_cut_move_answer_lost() {
    imap_cut(
        "app-imap-cut-move",
        Box::new(|ev| matches!(ev, Event::ImapJournal(j) if j.stage() == Stage::Flagged)),
        "MAILPEERS_IMAP_PORT",
        READS,
    )
    .await;
}

// ------------------------------------------------------------------ job 3: POP3

/// Dovecot locks a POP3 maildrop per session: the POP3 tests (all on bob's INBOX) take
/// turns, and a run refused with `[IN-USE]` (the previous, cut session not yet cleaned up
/// by the server) is tried again, as a device would.
static POP3_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn pop3_retrying<V: postwire_app::Events>(
    app: &mut TestApp<'_, V>,
    mem: &mut Memory,
    journal: &mut Pop3Journal,
    device: &mut TestDevice,
) -> Result<postwire_app::Pop3Report, postwire_app::Error> {
    for _ in 0..20 {
        match timed(app.poll_pop3(mem.buffers(), journal, device)).await {
            Err(e) if matches!(e.kind, postwire_app::ErrorKind::Refused) => {
                println!("refused ({e}); trying again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            r => return r,
        }
    }
    timed(app.poll_pop3(mem.buffers(), journal, device)).await
}

async fn pop3_run(name: &'static str, cut: Option<(Trigger, u32)>) {
    let Some(env) = Env::load() else { return };
    let _turn = POP3_TURN.lock().await;
    let tok = token(name);
    put_command(
        &env,
        "INBOX",
        &format!("cmd {tok}"),
        &format!("{tok}-1"),
        "SET mode eco",
    )
    .await;
    let anchors = env.ca.anchors();
    let s = Settings {
        allowed_senders: &["alice@example.test"],
        subject_tag: Some(&tok),
        smtp: env.endpoint("MAILPEERS_SUBMISSION_PORT", Security::StartTls),
        ..settings(&env, &anchors, "bob", "bob-pw")
    };
    let port = env.peers.port("MAILPEERS_POP3S_PORT");
    let net = TestNet::default();
    let log = Log::new();
    let mut journal = Pop3Journal::new();
    let mut device = TestDevice::default();
    let mut mem = Box::new(Memory::new());
    let cut_armed = cut.is_some();
    let trigger = cut.map(|(t, mode)| (t, port, mode));
    {
        let ev = events(name, log.lines.clone(), net.switch.clone(), trigger);
        let mut app = app(&net, s, ev);
        let r = pop3_retrying(&mut app, &mut mem, &mut journal, &mut device).await;
        if cut_armed {
            let e = r.expect_err("the cut must end the first run");
            println!("[{name}] first run ended: {e}");
            assert_eq!(
                journal.len(),
                1,
                "the journal remembers the message: {journal}"
            );
        } else {
            let report = r.unwrap();
            assert_eq!((report.executed, report.replied, report.deleted), (1, 1, 1));
            assert!(journal.is_empty());
        }
    }
    assert_eq!(device.executed(), ["SET mode eco"]);
    if cut_armed {
        net.switch.disarm();
        let ev = events(name, log.lines.clone(), net.switch.clone(), None);
        let mut app = app(&net, s, ev);
        let report = pop3_retrying(&mut app, &mut mem, &mut journal, &mut device)
            .await
            .unwrap();
        assert_eq!(report.executed, 0, "nothing is executed on resume");
        assert!(journal.is_empty(), "{journal}");
        assert_eq!(device.executed(), ["SET mode eco"], "executed exactly once");
    }
    assert_eq!(replies(&env, &tok, 1).await, 1, "exactly one reply");
    assert!(
        messages(&env, "bob", "bob-pw", "INBOX", &tok)
            .await
            .is_empty(),
        "the command was deleted"
    );
}

#[tokio::test]
async fn pop3_command_exactly_once() {
    pop3_run("app-pop3", None).await;
}

/// Cut after the reply, before DELE: the next run deletes without executing.
#[tokio::test]
async fn pop3_cut_after_reply() {
    pop3_run(
        "app-pop3-cut-reply",
        Some((Box::new(|ev| matches!(ev, Event::ReplySent { .. })), ALL)),
    )
    .await;
}

/// QUIT reaches the server (which deletes the message) but its answer is lost: the next run
/// finds the message gone and forgets it.
#[tokio::test]
async fn pop3_quit_answer_lost() {
    pop3_run(
        "app-pop3-cut-quit",
        Some((Box::new(|ev| matches!(ev, Event::Deleted { .. })), READS)),
    )
    .await;
}
