//! The device jobs over a real embassy-net stack, unprivileged: a device stack and a gateway
//! stack joined in-process by embassy-net-driver-channel; the gateway forwards the device's
//! TCP connections to the in-process mail peer of `postwire-host-sim` on loopback. The device
//! side is the firmware's code (embassy-net + the boards' `Net`); the peer is checked through
//! its store, and the commands are put in by another client (IMAP APPEND over host sockets).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use embedded_io_async::{Read, Write};
use postwire_app::{
    Alert, App, CsvLog, Endpoint, Event, Events, ImapJournal, Memory, Net, Pop3Journal, Security,
    Settings, Stage, Timeouts, Trust,
};
use postwire_host_embassy::cut::{CutMode, CutNet, CutSwitch};
use postwire_host_embassy::gateway::Route;
use postwire_host_embassy::{Counters, DeviceNet, GATEWAY_HOST, with_channel_network};
use postwire_host_sim::peer::{CutPoint, Peer, PeerConfig, PeerHandle, Protocol, Tls};
use postwire_host_sim::tls::SystemClock;

use common::{Cut, Imaps, Log, TestDevice, check_alert, command_mail, csv_log, events, token};

/// Upper bound of one job run (embassy time).
const JOB: embassy_time::Duration = embassy_time::Duration::from_secs(90);

/// The gateway's ports (well-known numbers, as a device would be configured) and what they
/// forward to.
const PORTS: [(u16, Protocol, Tls); 6] = [
    (465, Protocol::Smtp, Tls::Implicit),
    (587, Protocol::Smtp, Tls::StartTls),
    (993, Protocol::Imap, Tls::Implicit),
    (143, Protocol::Imap, Tls::StartTls),
    (995, Protocol::Pop3, Tls::Implicit),
    (110, Protocol::Pop3, Tls::StartTls),
];

const DEVICE: (&str, &str) = ("device", "device-secret");
const OPERATOR: &str = "operator@postwire.test";

fn routes(peer: &PeerHandle) -> Vec<Route> {
    PORTS
        .iter()
        .map(|&(port, protocol, tls)| Route {
            port,
            target: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), peer.port(protocol, tls)),
        })
        .collect()
}

async fn start_peer() -> PeerHandle {
    let config = PeerConfig::default().with_transcript(|l| println!("[peer] {l}"));
    Peer::start(config).await.expect("the peer starts")
}

/// An endpoint on the gateway, certificate checked for the peer's name.
fn endpoint(port: u16, security: Security) -> Endpoint<'static> {
    Endpoint {
        server_name: Some("localhost"),
        ..Endpoint::new(GATEWAY_HOST, port, security)
    }
}

fn settings<'a>(anchors: &'a [&'a [u8]], folders: Option<(&'a str, &'a str)>) -> Settings<'a> {
    let mut s = Settings {
        imap: Some(endpoint(993, Security::Implicit)),
        pop3: Some(endpoint(995, Security::Implicit)),
        alert_to: &[OPERATOR],
        allowed_senders: &[OPERATOR],
        from_name: Some("Sensor 7"),
        timeouts: Timeouts {
            connect_ms: 10_000,
            tls_ms: 20_000,
            command_ms: 20_000,
            data_end_ms: 30_000,
            idle_ms: 30_000,
        },
        ..Settings::new(
            endpoint(465, Security::Implicit),
            Trust::Anchors(anchors),
            DEVICE.0,
            DEVICE.1,
            "device@postwire.test",
        )
    };
    if let Some((cmd, done)) = folders {
        s.command_folder = cmd;
        s.processed_folder = done;
    }
    s
}

type TestApp<'s, 'd, V> =
    App<'s, CutNet<'s, DeviceNet<'d>>, embassy_time::Delay, rand_core::OsRng, SystemClock, V>;

fn app<'s, 'd, V: Events>(
    net: DeviceNet<'d>,
    switch: &'s CutSwitch,
    settings: Settings<'s>,
    events: V,
) -> TestApp<'s, 'd, V> {
    App {
        net: CutNet { inner: net, switch },
        delay: embassy_time::Delay,
        rng: rand_core::OsRng,
        clock: SystemClock,
        events,
        settings,
    }
}

/// The operator's IMAP client, straight to the peer on loopback (another client than the
/// device).
fn operator_imap(peer: &PeerHandle) -> Imaps {
    Imaps {
        host: peer.host().to_string(),
        port: peer.port(Protocol::Imap, Tls::Implicit),
        tls_name: peer.tls_name().to_string(),
        anchors: vec![peer.ca_der().to_vec()],
    }
}

/// Messages of `user`'s `mailbox` whose (decoded) subject holds `token`, after waiting for
/// `expected` of them and a little longer (so a duplicate would show).
async fn settled(
    peer: &PeerHandle,
    user: &str,
    mailbox: &str,
    token: &str,
    expected: usize,
) -> Vec<Vec<u8>> {
    let with_token = || {
        peer.messages(user, mailbox)
            .unwrap()
            .into_iter()
            .filter(|m| common::subject(&m.raw).contains(token))
            .map(|m| m.raw)
            .collect::<Vec<_>>()
    };
    for _ in 0..100 {
        if with_token().len() >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    with_token()
}

async fn job<F: Future>(f: F) -> F::Output {
    postwire_host_embassy::within(JOB, f)
        .await
        .expect("the job took too long")
}

// ------------------------------------------------------------------ plumbing

/// Raw TCP through both stacks: 256 KiB echoed back unchanged by a host echo server.
#[test]
fn tcp_echo_through_two_stacks() {
    common::run(tcp_echo_through_two_stacks_impl);
}

async fn tcp_echo_through_two_stacks_impl() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let counters = Counters::default();
    let routes = [Route { port: 7, target }];
    let data: Vec<u8> = (0..256 * 1024u32)
        .map(|i| (i * 7 + i / 251) as u8)
        .collect();
    let echoed = with_channel_network(&routes, &counters, async |device| {
        let net = device.net();
        let mut conn = net
            .connect(GATEWAY_HOST, 7)
            .await
            .expect("connect through the gateway");
        let mut back = Vec::with_capacity(data.len());
        let mut buf = [0u8; 1500];
        for chunk in data.chunks(4096) {
            conn.write_all(chunk).await.expect("write");
            let want = back.len() + chunk.len();
            while back.len() < want {
                let n = conn.read(&mut buf).await.expect("read");
                assert_ne!(n, 0, "the echo connection closed early");
                back.extend_from_slice(&buf[..n]);
            }
        }
        back
    })
    .await;
    assert!(echoed == data, "the echoed bytes differ");
    assert_eq!(counters.gateway.accepted(), 1);
    assert!(
        counters.link.bytes() > 2 * data.len() as u64,
        "both directions crossed the link"
    );
    println!(
        "link: {} frames, {} bytes; gateway: {}",
        counters.link.frames(),
        counters.link.bytes(),
        counters.gateway
    );
}

// ------------------------------------------------------------------ job 1: the alert

#[test]
fn alert_arrives_intact() {
    common::run(alert_arrives_intact_impl);
}

async fn alert_arrives_intact_impl() {
    let peer = start_peer().await;
    let tok = token("alert");
    let subject = format!("Temperature alert: 31.5 °C {tok}");
    let csv = csv_log();
    let ca = peer.ca_der().to_vec();
    let anchors = [ca.as_slice()];
    let switch = CutSwitch::default();
    let log = Log::default();
    let counters = Counters::default();
    let report = with_channel_network(&routes(&peer), &counters, async |device| {
        let mut app = app(
            device.net(),
            &switch,
            settings(&anchors, None),
            events("alert", &log, None),
        );
        let mut mem = Box::new(Memory::new());
        job(app.send_alert(
            mem.smtp.buffers(),
            Alert {
                subject: &subject,
                text: common::ALERT_TEXT,
                csv: Some(CsvLog {
                    filename: "temperatur-log.csv",
                    source: &csv[..],
                }),
            },
        ))
        .await
    })
    .await
    .expect("the alert is sent");
    assert_eq!((report.accepted, report.refused), (1, 0));
    assert!(log.has("alert sent"));
    let inbox = settled(&peer, "operator", "INBOX", &tok, 1).await;
    assert_eq!(inbox.len(), 1, "exactly one alert");
    check_alert(&inbox[0], &subject, &csv);
    assert!(
        counters.link.bytes() > csv.len() as u64,
        "the alert crossed the embassy-net link"
    );
    println!(
        "link: {} frames, {} bytes; gateway: {}",
        counters.link.frames(),
        counters.link.bytes(),
        counters.gateway
    );
}

// ------------------------------------------------------------------ job 2: IMAP

/// Commands appended by another client are executed once each and answered: the first one
/// before the job starts, the second while the job IDLEs. IMAP over STARTTLS (143), replies
/// over SMTP submission with STARTTLS (587).
#[test]
fn imap_commands_exactly_once_with_idle() {
    common::run(imap_commands_exactly_once_with_idle_impl);
}

async fn imap_commands_exactly_once_with_idle_impl() {
    let peer = start_peer().await;
    let tok = token("imap");
    let (cmd, done) = (format!("Cmd-{tok}"), format!("Done-{tok}"));
    let operator = operator_imap(&peer);
    operator.create(DEVICE.0, DEVICE.1, &cmd).await;
    let first = command_mail(
        OPERATOR,
        "device@postwire.test",
        &format!("set interval {tok}"),
        &format!("{tok}-1"),
        "SET interval 30",
    );
    operator.append(DEVICE.0, DEVICE.1, &cmd, &first).await;

    let ca = peer.ca_der().to_vec();
    let anchors = [ca.as_slice()];
    let s = Settings {
        imap: Some(endpoint(143, Security::StartTls)),
        smtp: endpoint(587, Security::StartTls),
        ..settings(&anchors, Some((&cmd, &done)))
    };
    let switch = CutSwitch::default();
    let log = Log::default();
    let counters = Counters::default();
    let mut device = TestDevice::default();
    let probe = device.clone();
    let mut journal = ImapJournal::new();
    let stop = Arc::new(tokio::sync::Notify::new());
    let report = with_channel_network(&routes(&peer), &counters, async |net| {
        let mut app = app(net.net(), &switch, s, events("imap", &log, None));
        let mut mem = Box::new(Memory::new());
        let run = app.serve_imap(mem.buffers(), &mut journal, &mut device, stop.notified());
        let driver = async {
            for _ in 0..300 {
                if log.has("waiting for new mail") && log.has("filed to") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert_eq!(
                probe.executed(),
                ["SET interval 30"],
                "the first command, before IDLE"
            );
            let second = command_mail(
                OPERATOR,
                "device@postwire.test",
                &format!("status {tok}"),
                &format!("{tok}-2"),
                "STATUS",
            );
            operator.append(DEVICE.0, DEVICE.1, &cmd, &second).await;
            for _ in 0..300 {
                if log.count("filed to") >= 2 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            stop.notify_one();
        };
        job(async { embassy_futures::join::join(run, driver).await.0 }).await
    })
    .await
    .expect("the IMAP job ends cleanly when stopped");
    assert_eq!(device.executed(), ["SET interval 30", "STATUS"]);
    assert_eq!((report.executed, report.replied, report.filed), (2, 2, 2));
    assert_eq!(journal.stage(), Stage::Done);
    let replies = settled(&peer, "operator", "INBOX", &tok, 2).await;
    assert_eq!(replies.len(), 2, "one reply per command");
    assert!(
        peer.messages(DEVICE.0, &cmd).unwrap().is_empty(),
        "the command folder is empty"
    );
    let filed = peer.messages(DEVICE.0, &done).unwrap();
    assert_eq!(filed.len(), 2);
    for m in &filed {
        assert!(m.has_flag("\\Seen") && m.has_flag("$Done"), "{:?}", m.flags);
    }
    println!(
        "link: {} frames, {} bytes; gateway: {}",
        counters.link.frames(),
        counters.link.bytes(),
        counters.gateway
    );
}

/// How a cut test breaks the first run.
enum Breaker {
    /// The peer's fault injection: the server drops the connection at a command.
    Peer(Protocol, CutPoint, &'static str),
    /// The device's `CutNet`: connections to a gateway port fail from an event on.
    Device(fn(&Event<'_>) -> bool, u16, CutMode),
}

/// Runs the IMAP job with a cut, expects the run to fail, runs it again with the same
/// journal; checks one execution, one reply, the message filed once.
async fn imap_cut(name: &'static str, breaker: Breaker) {
    let peer = start_peer().await;
    let tok = token(name);
    let (cmd, done) = (format!("Cmd-{tok}"), format!("Done-{tok}"));
    let operator = operator_imap(&peer);
    operator.create(DEVICE.0, DEVICE.1, &cmd).await;
    let msg = command_mail(
        OPERATOR,
        "device@postwire.test",
        &format!("cmd {tok}"),
        &format!("{tok}-1"),
        "SET led on",
    );
    operator.append(DEVICE.0, DEVICE.1, &cmd, &msg).await;
    let ca = peer.ca_der().to_vec();
    let anchors = [ca.as_slice()];
    let s = settings(&anchors, Some((&cmd, &done)));
    let switch = CutSwitch::default();
    let log = Log::default();
    let counters = Counters::default();
    let mut device = TestDevice::default();
    let mut journal = ImapJournal::new();
    let mut fault = None;
    let mut cut = None;
    match breaker {
        Breaker::Peer(protocol, point, needle) => {
            fault = Some(peer.cut(protocol, point, move |l| l.contains(needle)));
        }
        Breaker::Device(trigger, port, mode) => {
            cut = Some(Cut {
                trigger: Box::new(trigger),
                switch: &switch,
                port,
                mode,
            });
        }
    }
    with_channel_network(&routes(&peer), &counters, async |net| {
        let mut mem = Box::new(Memory::new());
        {
            let mut app = app(net.net(), &switch, s, events(name, &log, cut));
            let r = job(app.serve_imap(
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
        if let Some(f) = &fault {
            assert!(f.fired(), "the peer's fault fired");
        } else {
            assert!(switch.cuts() > 0, "the device's connections were cut");
        }
        switch.disarm();
        let mut app = app(net.net(), &switch, s, events(name, &log, None));
        // Resume, find nothing new, return at once (the stop future is ready).
        let report = job(app.serve_imap(
            mem.buffers(),
            &mut journal,
            &mut device,
            std::future::ready(()),
        ))
        .await
        .expect("the resumed run succeeds");
        assert_eq!(report.executed, 0, "nothing is executed on resume");
    })
    .await;
    assert_eq!(device.executed(), ["SET led on"], "executed exactly once");
    assert_eq!(journal.stage(), Stage::Done);
    assert!(log.has("resuming command"));
    assert_eq!(
        settled(&peer, "operator", "INBOX", &tok, 1).await.len(),
        1,
        "exactly one reply"
    );
    assert!(
        peer.messages(DEVICE.0, &cmd).unwrap().is_empty(),
        "the command folder is empty"
    );
    let filed = peer.messages(DEVICE.0, &done).unwrap();
    assert_eq!(filed.len(), 1, "filed once");
    assert!(
        filed[0].has_flag("\\Seen") && filed[0].has_flag("$Done"),
        "{:?}",
        filed[0].flags
    );
    println!(
        "link: {} frames, {} bytes; gateway: {}",
        counters.link.frames(),
        counters.link.bytes(),
        counters.gateway
    );
}

/// The server carries out the MOVE but drops the connection before answering it.
#[test]
fn imap_cut_by_peer_move_answer_lost() {
    common::run(imap_cut_by_peer_move_answer_lost_impl);
}

async fn imap_cut_by_peer_move_answer_lost_impl() {
    imap_cut(
        "imap-peer-move",
        Breaker::Peer(Protocol::Imap, CutPoint::BeforeReply, "UID MOVE"),
    )
    .await;
}

/// The server drops the connection when the flags are stored, before storing them.
#[test]
fn imap_cut_by_peer_before_store() {
    common::run(imap_cut_by_peer_before_store_impl);
}

async fn imap_cut_by_peer_before_store_impl() {
    imap_cut(
        "imap-peer-store",
        Breaker::Peer(Protocol::Imap, CutPoint::BeforeProcessing, "UID STORE"),
    )
    .await;
}

/// The device's connections to the SMTP port fail right after the command was executed: the
/// reply cannot be sent in the first run.
#[test]
fn imap_cut_by_device_before_reply() {
    common::run(imap_cut_by_device_before_reply_impl);
}

async fn imap_cut_by_device_before_reply_impl() {
    imap_cut(
        "imap-device-smtp",
        Breaker::Device(|ev| matches!(ev, Event::Executed { .. }), 465, CutMode::All),
    )
    .await;
}

// ------------------------------------------------------------------ job 3: POP3

/// A command delivered to the device's INBOX is executed once, answered and deleted; with
/// `quit_answer_lost`, the server commits the deletion at QUIT but the connection drops
/// before its answer, and a second poll finds the message gone without executing anything.
async fn pop3_run(name: &'static str, quit_answer_lost: bool) {
    let peer = start_peer().await;
    let tok = token(name);
    let operator = operator_imap(&peer);
    let msg = command_mail(
        OPERATOR,
        "device@postwire.test",
        &format!("cmd {tok}"),
        &format!("{tok}-1"),
        "SET mode eco",
    );
    operator.append(DEVICE.0, DEVICE.1, "INBOX", &msg).await;
    let fault = quit_answer_lost.then(|| {
        peer.cut(Protocol::Pop3, CutPoint::BeforeReply, |l| {
            l.trim() == "QUIT"
        })
    });
    let ca = peer.ca_der().to_vec();
    let anchors = [ca.as_slice()];
    let s = Settings {
        pop3: Some(endpoint(110, Security::StartTls)),
        ..settings(&anchors, None)
    };
    let switch = CutSwitch::default();
    let log = Log::default();
    let counters = Counters::default();
    let mut device = TestDevice::default();
    let mut journal = Pop3Journal::new();
    with_channel_network(&routes(&peer), &counters, async |net| {
        let mut mem = Box::new(Memory::new());
        let mut app = app(net.net(), &switch, s, events(name, &log, None));
        let r = job(app.poll_pop3(mem.buffers(), &mut journal, &mut device)).await;
        if quit_answer_lost {
            let e = r.expect_err("the lost QUIT answer fails the first poll");
            println!("[{name}] first poll ended: {e}");
            assert!(fault.as_ref().is_some_and(|f| f.fired()));
            assert_eq!(
                journal.len(),
                1,
                "the journal remembers the message: {journal}"
            );
            let report = job(app.poll_pop3(mem.buffers(), &mut journal, &mut device))
                .await
                .expect("the second poll succeeds");
            assert_eq!(report.executed, 0, "nothing is executed on the second poll");
        } else {
            let report = r.expect("the poll succeeds");
            assert_eq!((report.executed, report.replied, report.deleted), (1, 1, 1));
        }
        assert!(journal.is_empty(), "{journal}");
    })
    .await;
    assert_eq!(device.executed(), ["SET mode eco"], "executed exactly once");
    assert_eq!(
        settled(&peer, "operator", "INBOX", &tok, 1).await.len(),
        1,
        "exactly one reply"
    );
    assert!(
        settled(&peer, DEVICE.0, "INBOX", &tok, 0).await.is_empty(),
        "the command was deleted"
    );
    println!(
        "link: {} frames, {} bytes; gateway: {}",
        counters.link.frames(),
        counters.link.bytes(),
        counters.gateway
    );
}

#[test]
fn pop3_command_exactly_once() {
    common::run(pop3_command_exactly_once_impl);
}

async fn pop3_command_exactly_once_impl() {
    pop3_run("pop3", false).await;
}

#[test]
fn pop3_quit_answer_lost() {
    common::run(pop3_quit_answer_lost_impl);
}

async fn pop3_quit_answer_lost_impl() {
    pop3_run("pop3-quit", true).await;
}
