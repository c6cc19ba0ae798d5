//! `postwire demo`: the device jobs of `postwire-app` on the host, printed as a transcript.
//!
//! ```text
//! postwire demo [--wire] [--timeout SECS]
//! postwire demo --smtp URL --imap URL [--pop3 URL] --user NAME --password-env VAR
//!     [--ca FILE] [--tls-name NAME] [--address ADDR] [--wire] [--timeout SECS]
//! ```
//!
//! Without server options the demo starts the in-process test peer ([`crate::peer`]:
//! memory-backed SMTP submission, IMAP and POP3 over TLS with a CA made at start, users
//! `device` and `operator`), so it runs on a fresh machine with nothing installed. Then:
//!
//! 1. the device sends an alert e-mail (a reading in the subject, a CSV log attached,
//!    streamed) with `App::send_alert`; the operator finds it in its mailbox over IMAP;
//! 2. the device serves its command mailbox over IMAP (`App::serve_imap`) and waits in IDLE;
//!    the operator sends `SET interval 30` by SMTP; the server pushes it, the device executes
//!    it, replies by e-mail, flags it and moves it to `Processed`; the operator reads the
//!    reply;
//! 3. the operator sends `STATUS`; the device polls over POP3 (`App::poll_pop3`), executes,
//!    replies and deletes it; the operator reads the reply.
//!
//! With `--smtp`, `--imap` (and optionally `--pop3`) the same runs against real servers with
//! one account: the device and the operator are both `--user`, the messages of this run are
//! told apart by a token in their subject (`Settings::subject_tag`), the device's replies
//! carry `Auto-Submitted: auto-replied` and are therefore not taken for commands, and the
//! folder `Processed` is created if missing. The exit code is 0 only when every step was
//! seen to happen: the alert arrived, each command ran once, each reply arrived.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::process::ExitCode;
use std::rc::Rc;
use std::str::FromStr;
use std::time::{Duration, Instant};

use clap::Args;
use postwire_app::{
    Alert, Command, CsvLog, Device, Endpoint, Event, FnEvents, ImapJournal, Memory, Outcome,
    Pop3Journal, Security as AppSecurity, Settings, TextBuf, Timeouts, Trust,
};
use postwire_imap::wire::SearchKey;
use postwire_tls::SigAlgs;
use tokio::sync::Notify;

use crate::app_net::host_app;
use crate::imap::{ConnectOptions, ImapBuffers, ImapUrl};
use crate::net::Security;
use crate::peer::{Peer, PeerConfig, PeerHandle, Protocol, Tls};
use crate::pop3::Pop3Url;
use crate::send::{SendRequest, ServerUrl, send};
use crate::tls::{CaSet, default_trust};

/// `postwire demo` options.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Submission server of a real account (smtps://HOST:PORT or smtp://HOST:PORT). Without
    /// it, the in-process test peer is used.
    #[arg(long, value_name = "URL", requires_all = ["imap", "user", "password_env"])]
    pub smtp: Option<String>,
    /// IMAP server of that account (imaps://HOST:PORT or imap://HOST:PORT).
    #[arg(long, value_name = "URL", requires = "smtp")]
    pub imap: Option<String>,
    /// POP3 server of that account (pop3s://HOST:PORT or pop3://HOST:PORT); without it the
    /// POP3 step is left out against real servers.
    #[arg(long, value_name = "URL", requires = "smtp")]
    pub pop3: Option<String>,
    /// The account's user name.
    #[arg(long, value_name = "NAME", requires = "smtp")]
    pub user: Option<String>,
    /// Name of the environment variable that holds the password (never give it on the command line).
    #[arg(long, value_name = "VAR", requires = "user")]
    pub password_env: Option<String>,
    /// CA certificate(s) of the servers (PEM or DER); default: the built-in root store.
    #[arg(long, value_name = "FILE", requires = "smtp")]
    pub ca: Option<String>,
    /// Name to verify the server certificates against (default: each URL's host).
    #[arg(long, value_name = "NAME", requires = "smtp")]
    pub tls_name: Option<String>,
    /// The account's e-mail address (default: --user when it is an address).
    #[arg(long, value_name = "ADDR", requires = "smtp")]
    pub address: Option<String>,
    /// Also print the protocol lines the test peer sees (passwords masked).
    #[arg(long)]
    pub wire: bool,
    /// Longest wait for each step, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
}

/// Runs `postwire demo`; prints the transcript on standard output, errors on standard error.
pub fn cli_main(args: DemoArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("postwire demo: error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let plan = match Plan::from_args(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("postwire demo: error: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(plan, &args)) {
        Ok(summary) => {
            say("demo", &summary);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("postwire demo: error: {e}");
            ExitCode::from(1)
        }
    }
}

/// One line of the transcript: `actor | text`.
fn say(actor: &str, text: &str) {
    println!("{actor:>8} | {text}");
}

/// The servers and accounts of a run (owned; the app borrows from it).
struct Plan {
    smtp: ServerUrl,
    imap: ImapUrl,
    pop3: Option<Pop3Url>,
    tls_name: Option<String>,
    ca: Option<CaSet>,
    device: (String, String),
    device_addr: String,
    operator: (String, String),
    operator_addr: String,
    real: bool,
}

impl Plan {
    fn from_args(a: &DemoArgs) -> Result<Self, String> {
        let Some(smtp) = &a.smtp else {
            // The in-process peer: filled in by `run` once it listens.
            return Ok(Plan {
                smtp: ServerUrl::from_str("smtps://127.0.0.1:1")?,
                imap: ImapUrl::from_str("imaps://127.0.0.1:1")?,
                pop3: None,
                tls_name: None,
                ca: None,
                device: (String::new(), String::new()),
                device_addr: String::new(),
                operator: (String::new(), String::new()),
                operator_addr: String::new(),
                real: false,
            });
        };
        let smtp = ServerUrl::from_str(smtp).map_err(|e| format!("--smtp: {e}"))?;
        let imap = ImapUrl::from_str(a.imap.as_deref().unwrap_or_default())
            .map_err(|e| format!("--imap: {e}"))?;
        let pop3 = match &a.pop3 {
            Some(u) => Some(Pop3Url::from_str(u).map_err(|e| format!("--pop3: {e}"))?),
            None => None,
        };
        for (flag, sec) in [
            ("--smtp", smtp.security),
            ("--imap", imap.security),
            (
                "--pop3",
                pop3.as_ref().map_or(Security::Implicit, |p| p.security),
            ),
        ] {
            if sec == Security::Plain {
                return Err(format!("{flag}: the device jobs always use TLS"));
            }
        }
        let user = a.user.clone().unwrap_or_default();
        let var = a.password_env.clone().unwrap_or_default();
        let password = std::env::var(&var).map_err(|_| {
            format!("--password-env {var}: the environment variable {var} is not set")
        })?;
        let address = match &a.address {
            Some(addr) => addr.clone(),
            None if user.contains('@') => user.clone(),
            None => {
                return Err(format!(
                    "--user {user} is not an e-mail address: give the account's address with --address ADDR"
                ));
            }
        };
        if !address.contains('@') || address.contains(char::is_whitespace) {
            return Err(format!("--address {address:?}: not an e-mail address"));
        }
        let ca = match &a.ca {
            Some(path) => Some(CaSet::from_file(path).map_err(|e| format!("--ca {e}"))?),
            None => None,
        };
        Ok(Plan {
            smtp,
            imap,
            pop3,
            tls_name: a.tls_name.clone(),
            ca,
            device: (user.clone(), password.clone()),
            device_addr: address.clone(),
            operator: (user, password),
            operator_addr: address,
            real: true,
        })
    }

    /// Points the plan at the in-process peer.
    fn use_peer(&mut self, peer: &PeerHandle) -> Result<(), String> {
        self.smtp = ServerUrl::from_str(&peer.url(Protocol::Smtp, Tls::Implicit))?;
        self.imap = ImapUrl::from_str(&peer.url(Protocol::Imap, Tls::Implicit))?;
        self.pop3 = Some(Pop3Url::from_str(&peer.url(Protocol::Pop3, Tls::Implicit))?);
        self.tls_name = Some(peer.tls_name().to_string());
        self.ca = Some(peer.ca_set());
        let user = |name: &str| {
            peer.user(name)
                .map(|u| (u.name.clone(), u.password.clone()))
                .ok_or_else(|| format!("the test peer has no user {name}"))
        };
        self.device = user("device")?;
        self.operator = user("operator")?;
        self.device_addr = peer.address("device");
        self.operator_addr = peer.address("operator");
        Ok(())
    }

    fn security(s: Security) -> AppSecurity {
        match s {
            Security::StartTls => AppSecurity::StartTls,
            _ => AppSecurity::Implicit,
        }
    }
}

/// The device of the demo: a sensor with one setting.
struct DemoDevice {
    interval_s: u32,
    started: Instant,
}

impl Device for DemoDevice {
    fn execute(&mut self, cmd: &Command<'_>, out: &mut dyn std::fmt::Write) -> Outcome {
        match cmd {
            Command::Set { name, value } if name.eq_ignore_ascii_case("interval") => {
                match value.parse::<u32>() {
                    Ok(v) if (1..=86_400).contains(&v) => {
                        self.interval_s = v;
                        let _ = write!(out, "interval = {v} s");
                        Outcome::Ok
                    }
                    _ => {
                        let _ = write!(out, "interval must be 1..86400 seconds");
                        Outcome::Failed
                    }
                }
            }
            Command::Set { name, .. } => {
                let _ = write!(out, "unknown setting {name:?}");
                Outcome::Failed
            }
            Command::Status => {
                let _ = write!(
                    out,
                    "temperature 31.5 °C, interval {} s, up {} s",
                    self.interval_s,
                    self.started.elapsed().as_secs()
                );
                Outcome::Ok
            }
            Command::Reboot => {
                let _ = write!(out, "rebooting (the demo only pretends)");
                Outcome::Reboot
            }
        }
    }
}

/// What the device's events tell the rest of the demo.
#[derive(Default)]
struct Progress {
    idle: Cell<bool>,
    executed: Cell<u32>,
    filed: Cell<u32>,
    changed: Notify,
}

async fn wait_until(p: &Progress, what: impl Fn(&Progress) -> bool) {
    loop {
        let notified = p.changed.notified();
        if what(p) {
            return;
        }
        notified.await;
    }
}

async fn run(mut plan: Plan, args: &DemoArgs) -> Result<String, String> {
    let step = Duration::from_secs(args.timeout.max(1));
    let token = run_token();
    let _peer = if plan.real {
        say(
            "demo",
            "running against real servers, one account for device and operator",
        );
        None
    } else {
        let wire = args.wire;
        let mut config = PeerConfig::default().with_mailbox("Processed");
        if wire {
            config = config.with_transcript(|line| say("wire", &line.to_string()));
        }
        let peer = Peer::start(config)
            .await
            .map_err(|e| format!("cannot start the test peer: {e}"))?;
        plan.use_peer(&peer)?;
        say(
            "peer",
            &format!(
                "in-process test peer (memory only, not a mail server): SMTP {}, IMAP {}, POP3 {}",
                peer.url(Protocol::Smtp, Tls::Implicit),
                peer.url(Protocol::Imap, Tls::Implicit),
                peer.url(Protocol::Pop3, Tls::Implicit),
            ),
        );
        say(
            "peer",
            "TLS 1.3 with a CA made at start; the device trusts only that CA",
        );
        Some(peer)
    };

    // The device's settings, borrowed from the plan.
    let anchors: Vec<&[u8]> = plan
        .ca
        .as_ref()
        .map(|ca| ca.certs().iter().map(Vec::as_slice).collect())
        .unwrap_or_default();
    let trust = if plan.ca.is_some() {
        Trust::Anchors(&anchors)
    } else {
        default_trust()
    };
    let tls_name = plan.tls_name.as_deref();
    fn endpoint<'a>(
        host: &'a str,
        port: u16,
        sec: Security,
        name: Option<&'a str>,
    ) -> Endpoint<'a> {
        Endpoint {
            server_name: name,
            ..Endpoint::new(host, port, Plan::security(sec))
        }
    }
    let tag = format!("[postwire-demo {token}]");
    let alert_to = [plan.operator_addr.as_str()];
    let allowed = [plan.operator_addr.as_str()];
    let mut settings = Settings::new(
        endpoint(
            &plan.smtp.host,
            plan.smtp.port,
            plan.smtp.security,
            tls_name,
        ),
        trust,
        &plan.device.0,
        &plan.device.1,
        &plan.device_addr,
    );
    settings.imap = Some(endpoint(
        &plan.imap.host,
        plan.imap.port,
        plan.imap.security,
        tls_name,
    ));
    settings.pop3 = plan
        .pop3
        .as_ref()
        .map(|p| endpoint(&p.host, p.port, p.security, tls_name));
    settings.from_name = Some("Sensor 7");
    settings.alert_to = &alert_to;
    settings.allowed_senders = &allowed;
    settings.subject_tag = Some(&tag);
    let ms = u32::try_from(step.as_millis()).unwrap_or(u32::MAX);
    settings.timeouts = Timeouts {
        connect_ms: ms,
        tls_ms: ms,
        command_ms: ms,
        data_end_ms: ms,
        idle_ms: 60_000,
    };

    let progress = Rc::new(Progress::default());
    let log = Rc::new(RefCell::new(Vec::<String>::new()));
    let events = {
        let progress = progress.clone();
        let log = log.clone();
        FnEvents(move |e: &Event<'_>| {
            match e {
                Event::ImapJournal(_) | Event::Pop3Journal(_) => return,
                Event::Idle => progress.idle.set(true),
                Event::Executed { .. } => progress.executed.set(progress.executed.get() + 1),
                Event::Filed { .. } => progress.filed.set(progress.filed.get() + 1),
                _ => {}
            }
            let line = e.to_string();
            say("device", &line);
            log.borrow_mut().push(line);
            progress.changed.notify_waiters();
        })
    };
    let mut app = host_app(settings, events);
    let mut memory = Box::new(Memory::new());
    let mut device = DemoDevice {
        interval_s: 60,
        started: Instant::now(),
    };
    let operator = Operator { plan: &plan, step };

    // 1. The alert.
    let mut subject = TextBuf::<96>::new();
    let _ = write!(
        subject,
        "Temperature alert: 31.5 °C (sensor 7, run {token})"
    );
    let csv: &[u8] = b"time,temperature_c\r\n\
        2026-11-22T10:00:00Z,29.8\r\n2026-11-22T10:05:00Z,30.6\r\n2026-11-22T10:10:00Z,31.5\r\n";
    let text = format!(
        "Sensor 7 measured 31.5 °C, above the limit of 30.0 °C.\nThe last readings are attached.\nRun {token}.\n"
    );
    say(
        "device",
        "job 1: alert e-mail over SMTP (implicit TLS, AUTH)",
    );
    let report = app
        .send_alert(
            memory.smtp.buffers(),
            Alert {
                subject: subject.as_str(),
                text: &text,
                csv: Some(CsvLog {
                    filename: "readings.csv",
                    source: csv,
                }),
            },
        )
        .await
        .map_err(|e| format!("alert: {e}"))?;
    if report.accepted == 0 {
        return Err("alert: no recipient accepted".into());
    }
    let alert = operator
        .wait_for(&SearchKey::Body(&token), &["INBOX"], "the alert")
        .await?;
    let alert_text = text_of(&alert);
    if !contains(&alert, b"readings.csv") || !alert_text.contains("31.5 °C") {
        return Err("alert: the message that arrived lacks its text or its attachment".into());
    }
    say(
        "operator",
        &format!(
            "alert received ({} bytes), text {:?}, with readings.csv attached",
            alert.len(),
            alert_text.lines().next().unwrap_or_default()
        ),
    );

    // 2. The command mailbox over IMAP. With one account for both sides the device sees its
    // own replies (automatic: filed without an answer), so the operator looks there too.
    let reply_folders: &[&str] = if plan.real {
        &["INBOX", "Processed"]
    } else {
        &["INBOX"]
    };
    say("device", "job 2: command mailbox over IMAP (IDLE)");
    let mut journal = ImapJournal::new();
    let command_subject = format!("{tag} set interval");
    let serve = {
        let progress = progress.clone();
        let stop = async move {
            wait_until(&progress, |p| p.filed.get() >= 1).await;
        };
        app.serve_imap(memory.buffers(), &mut journal, &mut device, stop)
    };
    let operate = async {
        tokio::time::timeout(step, wait_until(&progress, |p| p.idle.get()))
            .await
            .map_err(|_| "the device did not reach IDLE in time".to_string())?;
        operator
            .send_command(&command_subject, "SET interval 30")
            .await?;
        let reply = operator
            .wait_for(
                &SearchKey::Header("Subject", &format!("Re: {command_subject}")),
                reply_folders,
                "the reply to SET interval 30",
            )
            .await?;
        say(
            "operator",
            &format!("reply received: {:?}", first_line(&text_of(&reply))),
        );
        Ok::<_, String>(reply)
    };
    let (served, reply) = tokio::time::timeout(step * 4, async { tokio::join!(serve, operate) })
        .await
        .map_err(|_| "the IMAP command step took too long".to_string())?;
    let served = served.map_err(|e| format!("command mailbox (IMAP): {e}"))?;
    let reply = reply?;
    // `filed` also counts the device's own reply when it shares the mailbox (filed unanswered).
    if served.executed != 1 || served.replied != 1 || served.filed < 1 {
        return Err(format!(
            "command mailbox (IMAP): executed {}, replied {}, filed {} (expected 1, 1, at least 1)",
            served.executed, served.replied, served.filed
        ));
    }
    if device.interval_s != 30 || !text_of(&reply).contains("interval = 30 s") {
        return Err("command mailbox (IMAP): the command did not take effect".into());
    }

    // 3. The same over POP3.
    let mut pop3_done = false;
    if plan.pop3.is_some() {
        say("device", "job 3: command mailbox over POP3 (UIDL, DELE)");
        let status_subject = format!("{tag} status");
        operator.send_command(&status_subject, "STATUS").await?;
        let mut journal = Pop3Journal::new();
        let started = Instant::now();
        loop {
            let polled = app
                .poll_pop3(memory.buffers(), &mut journal, &mut device)
                .await
                .map_err(|e| format!("command mailbox (POP3): {e}"))?;
            if polled.executed >= 1 {
                if polled.replied != 1 {
                    return Err("command mailbox (POP3): the reply was not sent".into());
                }
                break;
            }
            if started.elapsed() > step {
                return Err("command mailbox (POP3): the command never arrived".into());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let reply = operator
            .wait_for(
                &SearchKey::Header("Subject", &format!("Re: {status_subject}")),
                reply_folders,
                "the reply to STATUS",
            )
            .await?;
        say(
            "operator",
            &format!("reply received: {:?}", first_line(&text_of(&reply))),
        );
        pop3_done = true;
    }
    let executed = progress.executed.get();
    Ok(format!(
        "ok: alert sent and received; {executed} command(s) executed exactly once ({}), each reply received",
        if pop3_done { "IMAP and POP3" } else { "IMAP" }
    ))
}

/// The other side: a person (or script) with an ordinary mail client.
struct Operator<'p> {
    plan: &'p Plan,
    step: Duration,
}

impl Operator<'_> {
    fn connect_options(&self) -> ConnectOptions {
        ConnectOptions {
            server: self.plan.imap.clone(),
            tls_name: self.plan.tls_name.clone(),
            ca: self.plan.ca.clone(),
            insecure: false,
            sigalgs: SigAlgs::ALL,
            allow_plaintext: false,
            user: self.plan.operator.0.clone(),
            password: self.plan.operator.1.clone(),
            auth: None,
            timeout: self.step,
        }
    }

    /// Sends a command e-mail to the device by SMTP.
    async fn send_command(&self, subject: &str, command: &str) -> Result<(), String> {
        let p = self.plan;
        let message = format!(
            "From: Operator <{}>\r\nTo: Sensor 7 <{}>\r\nSubject: {subject}\r\n\
             Message-ID: <{}.{}@postwire.demo>\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=us-ascii\r\n\r\n{command}\r\n",
            p.operator_addr,
            p.device_addr,
            run_token(),
            subject.len()
        );
        let req = SendRequest {
            server: p.smtp.clone(),
            tls_name: p.tls_name.clone(),
            ca: p.ca.clone(),
            insecure: false,
            sigalgs: SigAlgs::ALL,
            credentials: Some(p.operator.clone()),
            mechanism: None,
            allow_plaintext: false,
            from: p.operator_addr.clone(),
            recipients: vec![p.device_addr.clone()],
            message: message.into_bytes(),
            eight_bit: false,
            timeout: self.step,
            client_domain: "operator.localhost".into(),
        };
        let ok = send(&req)
            .await
            .map_err(|e| format!("operator's SMTP send: {e}"))?;
        say(
            "operator",
            &format!(
                "sent {command:?} to {} (server: {})",
                p.device_addr, ok.reply
            ),
        );
        Ok(())
    }

    /// Waits until a message matching `key` is in `folder`, and returns it.
    async fn wait_for(
        &self,
        key: &SearchKey<'_>,
        folders: &[&str],
        what: &str,
    ) -> Result<Vec<u8>, String> {
        let started = Instant::now();
        let opts = self.connect_options();
        let mut bufs = ImapBuffers::new();
        let mut client = crate::imap::connect(&opts, &mut bufs)
            .await
            .map_err(|e| format!("operator's IMAP: {e}"))?;
        loop {
            for folder in folders {
                client
                    .select(folder)
                    .await
                    .map_err(|e| format!("operator's IMAP SELECT {folder}: {e}"))?;
                let mut uids = Vec::new();
                client
                    .search(true, std::slice::from_ref(key), |u| uids.push(u))
                    .await
                    .map_err(|e| format!("operator's IMAP SEARCH: {e}"))?;
                if let Some(&uid) = uids.last() {
                    let mut raw = Vec::new();
                    client
                        .fetch_body(uid, "", &mut raw)
                        .await
                        .map_err(|e| format!("operator's IMAP FETCH: {e}"))?;
                    let _ = client.logout().await;
                    return Ok(raw);
                }
            }
            if started.elapsed() > self.step {
                return Err(format!(
                    "{what} did not arrive in {} within {:?}",
                    folders.join(" or "),
                    self.step
                ));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// A short random token that tells this run's messages apart.
fn run_token() -> String {
    let mut b = [0u8; 4];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The text of a message (decoded), or an empty string.
fn text_of(raw: &[u8]) -> String {
    let mut buf = vec![0u8; 4096];
    let mut out = vec![0u8; 64 * 1024];
    match postwire_mime::text::text_of_message(raw, &mut buf, &mut out) {
        Ok(Some(t)) => String::from_utf8_lossy(&out[..t.len]).into_owned(),
        _ => String::new(),
    }
}

/// The lines of a reply before its signature, joined with " / ".
fn first_line(s: &str) -> String {
    s.lines()
        .take_while(|l| *l != "-- ")
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
