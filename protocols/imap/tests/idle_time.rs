#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]
//! The IDLE refresh timer and the NOOP polling interval in simulated time: the client runs
//! with `embassy_time::Delay` over embassy-time's mock driver, on a transport whose reads stay
//! pending until the test feeds bytes; the test polls the client's future by hand (noop
//! waker) after every step and advances the clock with `MockDriver::advance`.
//!
//! The mock driver is one global clock: the tests take a lock and reset it.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use embassy_time::{Delay, Duration, Instant, MockDriver};
use embedded_io_async::{ErrorKind, ErrorType, Read, Write};
use postwire_imap::client::{
    Buffers, Client, ClientConfig, Error, IdleControl, IdleEnd, IdleEvent,
};

static CLOCK: Mutex<()> = Mutex::new(());

fn clock() -> MutexGuard<'static, ()> {
    let g = CLOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    MockDriver::get().reset();
    g
}

#[derive(Default)]
struct Wire {
    /// Server bytes not read yet.
    inbox: VecDeque<u8>,
    /// Everything the client wrote.
    sent: Vec<u8>,
}

/// A transport whose reads wait until the test feeds bytes.
#[derive(Clone, Default)]
struct Pipe(Rc<RefCell<Wire>>);

impl ErrorType for Pipe {
    type Error = ErrorKind;
}

impl Read for Pipe {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        poll_fn(|_| {
            let mut w = self.0.borrow_mut();
            if w.inbox.is_empty() {
                return Poll::Pending;
            }
            let n = buf.len().min(w.inbox.len());
            for (d, s) in buf.iter_mut().zip(w.inbox.drain(..n)) {
                *d = s;
            }
            Poll::Ready(Ok(n))
        })
        .await
    }
}

impl Write for Pipe {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        self.0.borrow_mut().sent.extend_from_slice(buf);
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

type Outcome = Result<IdleEnd, Error<ErrorKind>>;

/// The client's future, polled by hand.
struct Sim {
    fut: Pin<Box<dyn Future<Output = Outcome>>>,
    pipe: Pipe,
    /// Bytes of `sent` already checked.
    seen: usize,
    out: Option<Outcome>,
    events: Rc<RefCell<Vec<IdleEvent>>>,
    stop: Rc<Cell<bool>>,
    /// When the current IDLE (or poll) period started.
    t0: Instant,
}

impl Sim {
    /// A client over a fresh pipe: greets (PREAUTH on implicit TLS with `caps`), selects
    /// INBOX and idles until `stop` is set; every event is recorded.
    fn start(caps: &'static str, config: ClientConfig) -> Sim {
        let pipe = Pipe::default();
        let events = Rc::new(RefCell::new(Vec::new()));
        let stop = Rc::new(Cell::new(false));
        let (p, ev, st) = (pipe.clone(), events.clone(), stop.clone());
        let fut = async move {
            let mut rx = [0u8; 1024];
            let mut tx = [0u8; 512];
            let mut cl = Client::new(
                p,
                Delay,
                Buffers {
                    rx: &mut rx,
                    tx: &mut tx,
                },
                config,
            );
            cl.set_implicit_tls();
            cl.greet().await?;
            cl.select("INBOX").await?;
            let stop = poll_fn(|_| {
                if st.get() {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            });
            cl.idle(stop, |e| {
                ev.borrow_mut().push(e);
                IdleControl::Continue
            })
            .await
        };
        let mut sim = Sim {
            fut: Box::pin(fut),
            pipe,
            seen: 0,
            out: None,
            events,
            stop,
            t0: Instant::now(),
        };
        sim.poll();
        sim.feed(&format!(
            "* PREAUTH [CAPABILITY IMAP4rev1 {caps}] ready\r\n"
        ));
        sim.expect_sent("A1 SELECT INBOX\r\n");
        sim.feed("* 3 EXISTS\r\n* OK [UIDVALIDITY 1] v\r\nA1 OK [READ-WRITE] selected\r\n");
        sim
    }

    fn poll(&mut self) {
        if self.out.is_some() {
            return;
        }
        let mut cx = Context::from_waker(Waker::noop());
        if let Poll::Ready(r) = self.fut.as_mut().poll(&mut cx) {
            self.out = Some(r);
        }
    }

    fn feed(&mut self, bytes: &str) {
        self.pipe.0.borrow_mut().inbox.extend(bytes.as_bytes());
        self.poll();
    }

    /// Move the clock to `t0 + at` and let the client run.
    fn at(&mut self, at: Duration) {
        let target = self.t0 + at;
        let now = Instant::now();
        assert!(target >= now, "time goes forward only");
        MockDriver::get().advance(target - now);
        self.poll();
    }

    fn take_sent(&mut self) -> String {
        let w = self.pipe.0.borrow();
        let s = String::from_utf8_lossy(&w.sent[self.seen..]).to_string();
        self.seen = w.sent.len();
        s
    }

    fn expect_sent(&mut self, want: &str) {
        assert!(self.out.is_none(), "the client returned {:?}", self.out);
        assert_eq!(self.take_sent(), want);
    }

    /// The client sent IDLE (tag `tag`); the server says go ahead: a new period starts.
    fn idling(&mut self, tag: &str) {
        self.expect_sent(&format!("{tag} IDLE\r\n"));
        self.feed("+ idling\r\n");
        self.t0 = Instant::now();
        self.expect_sent("");
    }

    fn events(&self) -> Vec<IdleEvent> {
        self.events.borrow().clone()
    }
}

fn min(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

fn min_sec(m: u64, s: u64) -> Duration {
    Duration::from_secs(m * 60 + s)
}

fn config() -> ClientConfig {
    ClientConfig {
        enable_extensions: false,
        ..ClientConfig::default()
    }
}

/// The default refresh (29 minutes, RFC 2177): nothing at 28:59, DONE at 29:00, then a new
/// IDLE with a new period. No command timeout applies while idling.
#[test]
fn idle_is_refreshed_after_29_minutes() {
    let _clock = clock();
    let mut sim = Sim::start("IDLE", config());
    sim.idling("A2");
    sim.at(min(10));
    sim.expect_sent("");
    sim.at(min_sec(28, 59));
    sim.expect_sent("");
    sim.at(min(29));
    sim.expect_sent("DONE\r\n");
    // Pushes while leaving still count.
    sim.feed("* 4 EXISTS\r\nA2 OK Idle completed\r\n");
    assert_eq!(sim.events(), [IdleEvent::Exists(4), IdleEvent::Refreshed]);
    sim.idling("A3");
    sim.at(min_sec(28, 59));
    sim.expect_sent("");
    sim.at(min(29));
    sim.expect_sent("DONE\r\n");
    sim.feed("A3 OK Idle completed\r\n");
    sim.idling("A4");
}

/// A server keepalive (`* OK Still here`) at 20:00 restarts the period: no DONE at 29:00,
/// DONE at 49:00.
#[test]
fn keepalive_resets_the_refresh_timer() {
    let _clock = clock();
    let mut sim = Sim::start("IDLE", config());
    sim.idling("A2");
    sim.at(min(20));
    sim.feed("* OK Still here\r\n");
    assert_eq!(sim.events(), [IdleEvent::Keepalive]);
    sim.expect_sent("");
    sim.at(min(29));
    sim.expect_sent("");
    sim.at(min_sec(48, 59));
    sim.expect_sent("");
    sim.at(min(49));
    sim.expect_sent("DONE\r\n");
    sim.feed("A2 OK Idle completed\r\n");
    sim.idling("A3");
}

/// EXISTS (and EXPUNGE, FETCH) pushes are delivered at once and do not restart the period.
#[test]
fn pushes_are_delivered_without_resetting_the_timer() {
    let _clock = clock();
    let mut sim = Sim::start("IDLE", config());
    sim.idling("A2");
    sim.at(min(20));
    sim.feed("* 4 EXISTS\r\n");
    assert_eq!(sim.events(), [IdleEvent::Exists(4)]);
    sim.at(min(25));
    sim.feed("* 2 EXPUNGE\r\n* 1 FETCH (FLAGS (\\Seen))\r\n");
    assert_eq!(sim.events().len(), 3);
    assert_eq!(sim.events()[1], IdleEvent::Expunge(2));
    assert!(matches!(sim.events()[2], IdleEvent::Flags { seq: 1, .. }));
    sim.expect_sent("");
    sim.at(min(29));
    sim.expect_sent("DONE\r\n");
}

/// The configured period is honoured (10 minutes, for providers that drop idle connections
/// early).
#[test]
fn configured_refresh_period() {
    let _clock = clock();
    let cfg = ClientConfig {
        idle_refresh_ms: 10 * 60 * 1000,
        ..config()
    };
    let mut sim = Sim::start("IDLE", cfg);
    sim.idling("A2");
    sim.at(min_sec(9, 59));
    sim.expect_sent("");
    sim.at(min(10));
    sim.expect_sent("DONE\r\n");
    sim.feed("A2 OK done\r\n");
    sim.idling("A3");
    sim.at(Duration::from_millis(10 * 60 * 1000 - 1));
    sim.expect_sent("");
    sim.at(min(10));
    sim.expect_sent("DONE\r\n");
}

/// The `stop` future ends IDLE with DONE and a clean return; nothing more is sent.
#[test]
fn stop_future_ends_idle_cleanly() {
    let _clock = clock();
    let mut sim = Sim::start("IDLE", config());
    sim.idling("A2");
    sim.at(min(5));
    sim.stop.set(true);
    sim.poll();
    sim.expect_sent("DONE\r\n");
    sim.feed("A2 OK Idle completed\r\n");
    assert!(
        matches!(sim.out, Some(Ok(IdleEnd::StopFuture))),
        "{:?}",
        sim.out
    );
    assert_eq!(sim.take_sent(), "");
    assert!(sim.events().is_empty());
}

/// Without IDLE: NOOP at once, then every `poll_interval_ms` (60 s by default).
#[test]
fn noop_polling_interval_without_idle() {
    for (interval_ms, cfg) in [
        (60_000, config()),
        (
            15_000,
            ClientConfig {
                poll_interval_ms: 15_000,
                ..config()
            },
        ),
    ] {
        let _clock = clock();
        let mut sim = Sim::start("UIDPLUS", cfg);
        sim.expect_sent("A2 NOOP\r\n");
        sim.feed("A2 OK NOOP completed\r\n");
        sim.t0 = Instant::now();
        assert_eq!(sim.events(), [IdleEvent::Refreshed]);
        sim.at(Duration::from_millis(interval_ms - 1));
        sim.expect_sent("");
        sim.at(Duration::from_millis(interval_ms));
        sim.expect_sent("A3 NOOP\r\n");
        sim.feed("* 4 EXISTS\r\nA3 OK NOOP completed\r\n");
        sim.t0 = Instant::now();
        assert_eq!(
            sim.events(),
            [
                IdleEvent::Refreshed,
                IdleEvent::Exists(4),
                IdleEvent::Refreshed
            ]
        );
        sim.at(Duration::from_millis(interval_ms - 1));
        sim.expect_sent("");
        // The stop future ends the polling between two NOOPs.
        sim.stop.set(true);
        sim.poll();
        assert!(
            matches!(sim.out, Some(Ok(IdleEnd::StopFuture))),
            "{:?}",
            sim.out
        );
        assert_eq!(sim.take_sent(), "");
    }
}

/// The refresh timer does not run while the client waits for the go-ahead or the DONE
/// completion: those waits are bounded by the command timeout (60 s).
#[test]
fn command_timeout_bounds_the_done_completion() {
    let _clock = clock();
    let mut sim = Sim::start("IDLE", config());
    sim.idling("A2");
    sim.at(min(29));
    sim.expect_sent("DONE\r\n");
    sim.t0 = Instant::now();
    sim.at(Duration::from_secs(59));
    assert!(sim.out.is_none());
    sim.at(Duration::from_secs(60));
    assert!(
        matches!(
            sim.out,
            Some(Err(Error::Timeout(postwire_imap::client::Stage::Idle)))
        ),
        "{:?}",
        sim.out
    );
}
