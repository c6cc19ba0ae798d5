//! Shared helpers for the integration tests: the mail-server peers' settings, reading a
//! delivered message back, and a TCP proxy that counts round trips.

pub mod mock;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Loads the peers' settings or skips the calling test (see [`Peers::try_load`]).
#[macro_export]
macro_rules! peers_or_skip {
    () => {
        match $crate::Peers::try_load(module_path!()) {
            Some(p) => p,
            None => return,
        }
    };
}

/// The `MAILPEERS_*` settings written by `bash ../shared/peers/mail-servers.sh up`.
pub struct Peers {
    vars: HashMap<String, String>,
}

impl Peers {
    /// Reads `$MAILPEERS_DIR/mailpeers.env` (default `/tmp/mailpeers`).
    ///
    /// When the file is missing, a real-server test cannot run. With `POSTWIRE_REQUIRE_PEERS=1`
    /// (set by `scripts/test.sh` after it started the servers, so always in CI) or `CI=true` this
    /// panics: the test fails. Otherwise it prints a loud `SKIPPED` line naming the command that
    /// starts the servers and returns `None`, and the test returns early.
    pub fn try_load(test: &str) -> Option<Peers> {
        let dir = std::env::var_os("MAILPEERS_DIR")
            .map_or_else(|| PathBuf::from("/tmp/mailpeers"), PathBuf::from);
        let path = dir.join("mailpeers.env");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                let msg = format!(
                    "real-server test {test}: cannot read {}: {e}. The mail-server peers are not up: run \
                     `bash ../shared/peers/mail-servers.sh up` (as root) first",
                    path.display()
                );
                let required = std::env::var("POSTWIRE_REQUIRE_PEERS").is_ok_and(|v| v == "1")
                    || std::env::var("CI").is_ok_and(|v| v == "true");
                if required {
                    panic!("{msg}");
                }
                eprintln!("SKIPPED: {msg}");
                return None;
            }
        };
        let vars = text
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
            .collect();
        Some(Peers { vars })
    }

    /// A variable, or a panic naming it.
    pub fn get(&self, name: &str) -> &str {
        self.vars.get(name).unwrap_or_else(|| {
            panic!(
                "{name} missing from mailpeers.env; rerun `bash ../shared/peers/mail-servers.sh up`"
            )
        })
    }

    /// `MAILPEERS_HOST`.
    pub fn host(&self) -> &str {
        self.get("MAILPEERS_HOST")
    }

    /// A port variable as a number.
    pub fn port(&self, name: &str) -> u16 {
        self.get(name)
            .parse()
            .unwrap_or_else(|_| panic!("{name} is not a port"))
    }

    /// `MAILPEERS_TLS_NAME`.
    pub fn tls_name(&self) -> &str {
        self.get("MAILPEERS_TLS_NAME")
    }

    /// The CA bundle (both CAs).
    pub fn ca_bundle(&self) -> &str {
        self.get("MAILPEERS_CA_CERT")
    }
}

/// A unique token for subjects, so tests sharing the mailboxes find their own messages.
pub fn token(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("pw-{tag}-{}-{nanos:x}", std::process::id())
}

const FETCH_PY: &str = r#"
import imaplib, ssl, sys, time
host, port, ca, user, pw, token = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
deadline = time.time() + 15
while True:
    m = imaplib.IMAP4_SSL(host, int(port), ssl_context=ctx)
    m.login(user, pw)
    m.select("INBOX", readonly=True)
    typ, data = m.uid("SEARCH", None, "HEADER", "Subject", token)
    uids = data[0].split()
    if uids:
        typ, msg = m.uid("FETCH", uids[-1], "(BODY.PEEK[])")
        sys.stdout.buffer.write(msg[0][1])
        m.logout()
        break
    m.logout()
    if time.time() > deadline:
        sys.exit(3)
    time.sleep(0.2)
"#;

/// Reads the message whose Subject contains `token` from `user`'s INBOX over IMAPS with
/// Python's imaplib (until postwire's own IMAP client lands), waiting up to 15 s for delivery.
pub fn fetch_by_subject(peers: &Peers, user: &str, password: &str, token: &str) -> Vec<u8> {
    let out = Command::new("python3")
        .args([
            "-c",
            FETCH_PY,
            peers.host(),
            peers.get("MAILPEERS_IMAPS_PORT"),
            peers.ca_bundle(),
            user,
            password,
            token,
        ])
        .output()
        .expect("python3 must be installed for the read-back");
    assert!(
        out.status.success(),
        "reading back the message with subject token {token} failed (exit {:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Directions seen by the proxy.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dir {
    None,
    Client,
    Server,
}

#[derive(Debug)]
struct Counter {
    last: Dir,
    round_trips: usize,
    client_bytes: Vec<u8>,
}

/// A TCP proxy on 127.0.0.1 that forwards one connection to a target and counts round trips:
/// each time the server speaks after the client spoke, one round trip is complete. (A server
/// greeting before the client says anything is not a round trip.)
pub struct RoundTripProxy {
    /// The local port to connect to.
    pub port: u16,
    counter: Arc<Mutex<Counter>>,
    started: Instant,
}

impl RoundTripProxy {
    /// Starts the proxy in the background (one connection).
    pub async fn start(target_host: &str, target_port: u16) -> RoundTripProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let counter = Arc::new(Mutex::new(Counter {
            last: Dir::None,
            round_trips: 0,
            client_bytes: Vec::new(),
        }));
        let target = format!("{target_host}:{target_port}");
        let c = counter.clone();
        tokio::spawn(async move {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let Ok(server) = TcpStream::connect(&target).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let c1 = c.clone();
            let up = async move {
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = cr.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    {
                        let mut g = c1.lock().unwrap_or_else(|p| p.into_inner());
                        g.last = Dir::Client;
                        g.client_bytes.extend_from_slice(&buf[..n]);
                    }
                    if sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = sw.shutdown().await;
            };
            let down = async move {
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = sr.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    {
                        let mut g = c.lock().unwrap_or_else(|p| p.into_inner());
                        if g.last == Dir::Client {
                            g.round_trips += 1;
                        }
                        g.last = Dir::Server;
                    }
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = cw.shutdown().await;
            };
            tokio::join!(up, down);
        });
        RoundTripProxy {
            port,
            counter,
            started: Instant::now(),
        }
    }

    /// Round trips so far.
    pub fn round_trips(&self) -> usize {
        self.counter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .round_trips
    }

    /// Everything the client sent so far.
    pub fn client_bytes(&self) -> Vec<u8> {
        self.counter
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .client_bytes
            .clone()
    }

    /// Time since the proxy started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}
