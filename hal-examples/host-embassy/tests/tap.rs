//! The device jobs over embassy-net on a TAP device (embassy-net-tuntap) against the real
//! Postfix/Dovecot peers, over TLS verified with the peers' CA.
//!
//! Needs root and a prepared network namespace: run `tap-test.sh` (beside Cargo.toml), which
//! creates the namespace and the TAP device, forwards the mail servers' ports to the TAP
//! device's kernel-side address, and runs this binary inside with `POSTWIRE_TAP` set. Without
//! `POSTWIRE_TAP` the test does not run and says so (it cannot work without the namespace);
//! with it, it runs and any failure fails the binary.
//!
//! Variables: `POSTWIRE_TAP` (the TAP device, e.g. `pwtap0`), `POSTWIRE_TAP_HOST` (the
//! kernel-side address where the mail ports are forwarded, default `10.43.0.1`),
//! `POSTWIRE_TAP_ADDR` (the device's address, default `10.43.0.2/24`), and the peers' env
//! file (`$MAILPEERS_DIR/mailpeers.env`, default `/tmp/mailpeers/mailpeers.env`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::process::ExitCode;

use embassy_net_tuntap::TunTapDevice;
use postwire_app::{
    Alert, App, CsvLog, Endpoint, Event, Events, ImapJournal, Memory, Security, Settings, Stage,
    Timeouts, Trust,
};
use postwire_host_embassy::cut::{CutMode, CutNet, CutSwitch};
use postwire_host_embassy::{Device, DeviceNet, static_config, with_driver};
use postwire_host_sim::tls::SystemClock;

use common::{Cut, Imaps, Log, TestDevice, check_alert, command_mail, csv_log, events, token};

const NAME: &str = "tap_alert_and_imap_commands_against_postfix_dovecot";

/// Upper bound of one job run (embassy time).
const JOB: embassy_time::Duration = embassy_time::Duration::from_secs(120);

fn main() -> ExitCode {
    let Ok(tap) = std::env::var("POSTWIRE_TAP") else {
        println!(
            "test {NAME} ... ignored, POSTWIRE_TAP is not set: run hal-examples/host-embassy/tap-test.sh as root"
        );
        println!("\ntest result: ok. 0 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out\n");
        return ExitCode::SUCCESS;
    };
    println!("\nrunning 1 test");
    let started = std::time::Instant::now();
    let outcome = std::panic::catch_unwind(|| common::run(move || tap_test(tap)));
    let secs = started.elapsed().as_secs_f64();
    match outcome {
        Ok(()) => {
            println!("test {NAME} ... ok");
            println!(
                "\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in {secs:.2}s\n"
            );
            ExitCode::SUCCESS
        }
        Err(_) => {
            println!("test {NAME} ... FAILED");
            println!(
                "\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in {secs:.2}s\n"
            );
            ExitCode::from(101)
        }
    }
}

/// The peers' variables from their env file.
fn peers_env() -> HashMap<String, String> {
    let dir = std::env::var("MAILPEERS_DIR").unwrap_or_else(|_| "/tmp/mailpeers".into());
    let path = format!("{dir}/mailpeers.env");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("cannot read {path} ({e}): start the peers with `bash ../shared/peers/mail-servers.sh up`")
    });
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

struct Env {
    vars: HashMap<String, String>,
    /// Where the mail ports are reached (the TAP device's kernel side).
    host: String,
    anchors: Vec<Vec<u8>>,
}

impl Env {
    fn get(&self, name: &str) -> &str {
        self.vars
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing from mailpeers.env"))
    }

    fn port(&self, name: &str) -> u16 {
        self.get(name)
            .parse()
            .unwrap_or_else(|e| panic!("{name}: not a port ({e})"))
    }

    fn endpoint(&self, var: &str, security: Security) -> Endpoint<'_> {
        Endpoint {
            server_name: Some(self.get("MAILPEERS_TLS_NAME")),
            ..Endpoint::new(&self.host, self.port(var), security)
        }
    }

    /// The operator's IMAPS client, through the same forwarded port as the device.
    fn operator(&self) -> Imaps {
        Imaps {
            host: self.host.clone(),
            port: self.port("MAILPEERS_IMAPS_PORT"),
            tls_name: self.get("MAILPEERS_TLS_NAME").to_string(),
            anchors: self.anchors.clone(),
        }
    }
}

fn settings<'a>(env: &'a Env, anchors: &'a [&'a [u8]]) -> Settings<'a> {
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
            "bob",
            "bob-pw",
            "bob@example.test",
        )
    }
}

type TapApp<'s, 'd, V> =
    App<'s, CutNet<'s, DeviceNet<'d>>, embassy_time::Delay, rand_core::OsRng, SystemClock, V>;

fn app<'s, 'd, V: Events>(
    device: Device<'d>,
    switch: &'s CutSwitch,
    settings: Settings<'s>,
    events: V,
) -> TapApp<'s, 'd, V> {
    App {
        net: CutNet {
            inner: device.net(),
            switch,
        },
        delay: embassy_time::Delay,
        rng: rand_core::OsRng,
        clock: SystemClock,
        events,
        settings,
    }
}

async fn job<F: Future>(f: F) -> F::Output {
    postwire_host_embassy::within(JOB, f)
        .await
        .expect("the job took too long")
}

async fn tap_test(tap: String) {
    let vars = peers_env();
    let host = std::env::var("POSTWIRE_TAP_HOST").unwrap_or_else(|_| "10.43.0.1".into());
    let addr = std::env::var("POSTWIRE_TAP_ADDR").unwrap_or_else(|_| "10.43.0.2/24".into());
    let (ip, prefix) = addr
        .split_once('/')
        .and_then(|(a, p)| Some((a.parse::<Ipv4Addr>().ok()?, p.parse::<u8>().ok()?)))
        .unwrap_or_else(|| panic!("POSTWIRE_TAP_ADDR={addr:?}: expected IPv4/prefix"));
    let mut env = Env {
        vars,
        host,
        anchors: Vec::new(),
    };
    // Both CAs: which chain the servers present depends on the signature schemes offered.
    for var in ["MAILPEERS_CA_CERT_EC_DER", "MAILPEERS_CA_CERT_RSA_DER"] {
        let path = env.get(var).to_string();
        env.anchors
            .push(std::fs::read(&path).unwrap_or_else(|e| panic!("{var}={path}: {e}")));
    }
    let mut driver = TunTapDevice::new(&tap).unwrap_or_else(|e| panic!("TAP device {tap}: {e}"));
    driver.set_hardware_address([0x02, 0x00, 0x00, 0x43, 0x00, 0x02]);
    let gateway: Ipv4Addr = env
        .host
        .parse()
        .unwrap_or_else(|e| panic!("POSTWIRE_TAP_HOST: {e}"));
    println!("device {ip}/{prefix} on {tap}, mail servers at {gateway}");
    let env = &env;
    with_driver(
        driver,
        static_config(ip, prefix, Some(gateway)),
        async |device| {
            alert(env, device).await;
            imap_cut(
                env,
                device,
                "tap-imap-exec",
                |ev| matches!(ev, Event::Executed { .. }),
                "MAILPEERS_IMAP_PORT",
                CutMode::All,
            )
            .await;
            imap_cut(
                env,
                device,
                "tap-imap-move",
                |ev| matches!(ev, Event::ImapJournal(j) if j.stage() == Stage::Flagged),
                "MAILPEERS_IMAP_PORT",
                CutMode::Reads,
            )
            .await;
        },
    )
    .await;
}

/// The alert arrives intact in bob's INBOX (read back by IMAP).
async fn alert(env: &Env, device: Device<'_>) {
    let tok = token("tap-alert");
    let subject = format!("Temperature alert: 31.5 °C {tok}");
    let csv = csv_log();
    let anchors: Vec<&[u8]> = env.anchors.iter().map(Vec::as_slice).collect();
    let s = Settings {
        alert_to: &["bob@example.test"],
        ..settings(env, &anchors)
    };
    let switch = CutSwitch::default();
    let log = Log::default();
    let mut app = app(device, &switch, s, events("tap-alert", &log, None));
    let mut mem = Box::new(Memory::new());
    let report = job(app.send_alert(
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
    .expect("the alert is sent");
    assert_eq!((report.accepted, report.refused), (1, 0));
    let found = env
        .operator()
        .settled("bob", "bob-pw", "INBOX", &tok, 1)
        .await;
    assert_eq!(found.len(), 1, "exactly one alert");
    check_alert(&found[0].raw, &subject, &csv);
    println!("[tap-alert] arrived intact: {} bytes", found[0].raw.len());
}

/// A command appended by another client is executed once across a cut and a resume with the
/// same journal; one reply, the message flagged and filed once.
async fn imap_cut(
    env: &Env,
    device: Device<'_>,
    name: &'static str,
    trigger: fn(&Event<'_>) -> bool,
    port_var: &str,
    mode: CutMode,
) {
    let tok = token(name);
    let (cmd, done) = (format!("Cmd-{tok}"), format!("Done-{tok}"));
    let operator = env.operator();
    operator.create("bob", "bob-pw", &cmd).await;
    let msg = command_mail(
        "alice@example.test",
        "bob@example.test",
        &format!("cmd {tok}"),
        &format!("{tok}-1"),
        "SET led on",
    );
    operator.append("bob", "bob-pw", &cmd, &msg).await;
    let anchors: Vec<&[u8]> = env.anchors.iter().map(Vec::as_slice).collect();
    let s = Settings {
        allowed_senders: &["alice@example.test"],
        command_folder: &cmd,
        processed_folder: &done,
        ..settings(env, &anchors)
    };
    let switch = CutSwitch::default();
    let log = Log::default();
    let mut journal = ImapJournal::new();
    let mut dev = TestDevice::default();
    let mut mem = Box::new(Memory::new());
    {
        let cut = Cut {
            trigger: Box::new(trigger),
            switch: &switch,
            port: env.port(port_var),
            mode,
        };
        let mut app = app(device, &switch, s, events(name, &log, Some(cut)));
        let r = job(app.serve_imap(
            mem.buffers(),
            &mut journal,
            &mut dev,
            std::future::pending::<()>(),
        ))
        .await;
        let e = r.expect_err("the cut must end the first run");
        println!("[{name}] first run ended: {e}");
    }
    assert!(switch.cuts() > 0, "the connection was cut");
    assert_eq!(dev.executed(), ["SET led on"]);
    assert_ne!(
        journal.stage(),
        Stage::Done,
        "the journal holds the message in progress"
    );
    switch.disarm();
    {
        let mut app = app(device, &switch, s, events(name, &log, None));
        let report = job(app.serve_imap(
            mem.buffers(),
            &mut journal,
            &mut dev,
            std::future::ready(()),
        ))
        .await
        .expect("the resumed run succeeds");
        assert_eq!(report.executed, 0, "nothing is executed on resume");
    }
    assert_eq!(dev.executed(), ["SET led on"], "executed exactly once");
    assert_eq!(journal.stage(), Stage::Done);
    assert!(log.has("resuming command"));
    let replies = operator
        .settled("alice", "alice-pw", "INBOX", &tok, 1)
        .await;
    assert_eq!(replies.len(), 1, "exactly one reply");
    assert!(
        operator
            .messages("bob", "bob-pw", &cmd, &tok)
            .await
            .is_empty(),
        "the command folder is empty"
    );
    let filed = operator.messages("bob", "bob-pw", &done, &tok).await;
    assert_eq!(filed.len(), 1, "filed once");
    assert!(
        filed[0].has_flag("\\Seen") && filed[0].has_flag("$Done"),
        "{:?}",
        filed[0].flags
    );
    operator.delete("bob", "bob-pw", &[&cmd, &done]).await;
    println!("[{name}] executed once, one reply, filed once");
}
