//! Test doubles for the protocol clients' tests: a scripted in-memory transport ([`Mock`]), a
//! controllable timer ([`Timer`]), a body reader that can fail ([`Body`]) and small helpers.
//! Shared by the SMTP and POP3 crates' tests (`tests/common/mod.rs` there adds the client
//! builder of each protocol).
//!
//! A script is a list of [`Step`]s played in order:
//! - `S(bytes)`: the server sends these bytes (handed to the client's reads in chunks of a
//!   configurable size, to test chunking invariance);
//! - `C(bytes)`: the client is expected to send exactly these bytes next (compared over the
//!   concatenated write stream, so write boundaries do not matter); a mismatch is recorded in
//!   [`Mock::failures`] with both texts and the write fails with an I/O error;
//! - `CUntil(suffix)`: the client sends anything up to and including the first `suffix`;
//! - `Close`: the server closes the connection (reads return `Ok(0)`; writes are accepted and
//!   logged, as a TCP peer that has not reset yet would);
//! - `Hang`: reads never complete (writes are accepted);
//! - `Forever(bytes)`: the server repeats these bytes for ever, whatever the client sends.
//!
//! A client read while a `C` step is due (the client waits for a reply it has not earned) is
//! recorded as a failure and answered with an I/O error, so a broken test never hangs.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test doubles: a failure is a failed test"
)]

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::future::Future;
use std::time::Duration;

use embedded_hal_async::delay::DelayNs;
use embedded_io_async::{ErrorKind, ErrorType, Read, Write};

/// One step of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Bytes the server sends.
    S(Vec<u8>),
    /// Bytes the client must send next.
    C(Vec<u8>),
    /// The client sends anything up to and including this suffix.
    CUntil(Vec<u8>),
    /// The server closes the connection.
    Close,
    /// The server never answers.
    Hang,
    /// The server sends these bytes again and again.
    Forever(Vec<u8>),
}

/// `Step::S` from anything byte-like.
pub fn s(b: impl AsRef<[u8]>) -> Step {
    Step::S(b.as_ref().to_vec())
}

/// `Step::C` from anything byte-like.
pub fn c(b: impl AsRef<[u8]>) -> Step {
    Step::C(b.as_ref().to_vec())
}

/// Printable form of bytes for failure messages.
pub fn show(b: &[u8]) -> String {
    let mut out = String::new();
    for &x in b {
        match x {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(x)),
            _ => {
                let _ = write!(out, "\\x{x:02x}");
            }
        }
    }
    out
}

/// The scripted transport.
#[derive(Debug)]
pub struct Mock {
    script: VecDeque<Step>,
    /// Server bytes of the current `S` step not yet read.
    out: VecDeque<u8>,
    /// Chunk sizes for reads, used in turn (cycled).
    chunks: Vec<usize>,
    next_chunk: usize,
    /// Client bytes written but not yet matched against a `C` step.
    pending: Vec<u8>,
    /// Everything the client wrote, in order.
    pub log: Vec<u8>,
    /// The client's individual `write` calls.
    pub writes: Vec<Vec<u8>>,
    /// Number of `flush` calls.
    pub flushes: usize,
    /// Everything the client read, in order.
    pub read_log: Vec<u8>,
    /// Script violations found (client sent something else, read out of turn, ...).
    pub failures: Vec<String>,
    /// Transitions from the client writing to the server answering (reads returning data
    /// after at least one write since the last such read).
    pub round_trips: usize,
    wrote_since_read: bool,
    broken: bool,
}

impl Mock {
    /// A transport playing `script`, handing out server bytes in chunks of up to 4096 bytes.
    pub fn new(script: Vec<Step>) -> Self {
        Mock {
            script: script.into(),
            out: VecDeque::new(),
            chunks: vec![4096],
            next_chunk: 0,
            pending: Vec::new(),
            log: Vec::new(),
            writes: Vec::new(),
            flushes: 0,
            read_log: Vec::new(),
            failures: Vec::new(),
            round_trips: 0,
            wrote_since_read: false,
            broken: false,
        }
    }

    /// Reads return at most `n` bytes each.
    pub fn chunked(mut self, n: usize) -> Self {
        assert!(n > 0);
        self.chunks = vec![n];
        self
    }

    /// Reads return at most `sizes[i % len]` bytes for the i-th read that returns data.
    pub fn chunk_pattern(mut self, sizes: Vec<usize>) -> Self {
        assert!(!sizes.is_empty() && sizes.iter().all(|&n| n > 0));
        self.chunks = sizes;
        self
    }

    /// Whether every step of the script was played (a trailing `Close`/`Hang`/`Forever` counts
    /// as played) and no failure was recorded.
    pub fn finished(&self) -> bool {
        self.failures.is_empty()
            && self.out.is_empty()
            && self.pending.is_empty()
            && self
                .script
                .iter()
                .all(|s| matches!(s, Step::Close | Step::Hang | Step::Forever(_)))
    }

    /// Panics with a readable report unless the script was played completely and exactly.
    pub fn assert_finished(&self) {
        assert!(
            self.failures.is_empty(),
            "script violations: {:#?}",
            self.failures
        );
        assert!(
            self.finished(),
            "script not finished: next steps {:?}, unread server bytes {:?}, unmatched client bytes {:?}",
            self.script.iter().take(3).collect::<Vec<_>>(),
            show(&self.out.iter().copied().collect::<Vec<_>>()),
            show(&self.pending)
        );
    }

    /// What the client wrote, as text.
    pub fn log_text(&self) -> String {
        show(&self.log)
    }

    fn fail(&mut self, msg: String) -> ErrorKind {
        self.failures.push(msg);
        self.broken = true;
        ErrorKind::Other
    }

    /// Matches buffered client bytes against the `C` / `CUntil` steps at the front.
    fn match_writes(&mut self) -> Result<(), ErrorKind> {
        while !self.pending.is_empty() {
            match self.script.front() {
                Some(Step::C(expected)) => {
                    let n = expected.len().min(self.pending.len());
                    if self.pending[..n] != expected[..n] {
                        let msg = format!(
                            "client sent {:?}\n      expected {:?}",
                            show(&self.pending),
                            show(expected)
                        );
                        return Err(self.fail(msg));
                    }
                    if n < expected.len() {
                        return Ok(()); // more of this step will come
                    }
                    self.pending.drain(..n);
                    self.script.pop_front();
                }
                Some(Step::CUntil(suffix)) => {
                    let found = self
                        .pending
                        .windows(suffix.len())
                        .position(|w| w == &suffix[..]);
                    match found {
                        Some(p) => {
                            let end = p + suffix.len();
                            self.pending.drain(..end);
                            self.script.pop_front();
                        }
                        None => return Ok(()),
                    }
                }
                Some(Step::Close | Step::Hang | Step::Forever(_)) => {
                    // The peer is gone or deaf: bytes vanish.
                    self.pending.clear();
                }
                Some(Step::S(_)) | None => {
                    let msg = format!(
                        "client sent {:?} when it was the server's turn (next step {:?})",
                        show(&self.pending),
                        self.script.front().map(|s| match s {
                            Step::S(b) => format!("S({})", show(b)),
                            other => format!("{other:?}"),
                        })
                    );
                    return Err(self.fail(msg));
                }
            }
        }
        Ok(())
    }

    fn take_chunk(&mut self, buf: &mut [u8]) -> usize {
        let size = self.chunks[self.next_chunk % self.chunks.len()];
        self.next_chunk += 1;
        let n = size.min(buf.len()).min(self.out.len());
        for (i, b) in self.out.drain(..n).enumerate() {
            buf[i] = b;
        }
        self.read_log.extend_from_slice(&buf[..n]);
        if self.wrote_since_read {
            self.round_trips += 1;
            self.wrote_since_read = false;
        }
        n
    }
}

impl ErrorType for Mock {
    type Error = ErrorKind;
}

impl Read for Mock {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.broken {
                return Err(ErrorKind::Other);
            }
            if !self.out.is_empty() {
                return Ok(self.take_chunk(buf));
            }
            match self.script.front() {
                Some(Step::S(_)) => {
                    if let Some(Step::S(b)) = self.script.pop_front() {
                        self.out.extend(b);
                    }
                }
                Some(Step::Forever(b)) => {
                    let b = b.clone();
                    self.out.extend(b);
                }
                Some(Step::Close) => return Ok(0),
                Some(Step::Hang) => core::future::pending::<()>().await,
                Some(Step::C(expected)) => {
                    let msg = format!(
                        "client reads although it should send {:?} (sent so far {:?})",
                        show(expected),
                        show(&self.pending)
                    );
                    return Err(self.fail(msg));
                }
                Some(Step::CUntil(suffix)) => {
                    let msg = format!(
                        "client reads although it should send data ending in {:?}",
                        show(suffix)
                    );
                    return Err(self.fail(msg));
                }
                None => {
                    let msg = "client reads past the end of the script".to_string();
                    return Err(self.fail(msg));
                }
            }
        }
    }
}

impl Write for Mock {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        if self.broken {
            return Err(ErrorKind::Other);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        self.log.extend_from_slice(buf);
        self.writes.push(buf.to_vec());
        self.pending.extend_from_slice(buf);
        self.wrote_since_read = true;
        self.match_writes()?;
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), ErrorKind> {
        self.flushes += 1;
        if self.broken {
            return Err(ErrorKind::Other);
        }
        Ok(())
    }
}

/// The delay used for every timeout of the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Never fires (timeouts cannot happen).
    Never,
    /// Fires at once: any wait that is not ready on its first poll times out.
    Immediate,
}

impl DelayNs for Timer {
    async fn delay_ns(&mut self, _ns: u32) {
        match self {
            Timer::Never => core::future::pending::<()>().await,
            Timer::Immediate => {}
        }
    }
}

/// A reader that hands out `data` in pieces of at most `chunk` bytes, then fails with
/// `fail_with` (if set) instead of reporting the end.
pub struct Body<'a> {
    pub data: &'a [u8],
    pub chunk: usize,
    pub fail_with: Option<ErrorKind>,
    /// Number of successful reads that returned data.
    pub reads: usize,
}

impl<'a> Body<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Body {
            data,
            chunk: usize::MAX,
            fail_with: None,
            reads: 0,
        }
    }
}

impl ErrorType for Body<'_> {
    type Error = ErrorKind;
}

impl Read for Body<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        if self.data.is_empty() {
            return match self.fail_with {
                Some(e) => Err(e),
                None => Ok(0),
            };
        }
        let n = self.chunk.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.reads += 1;
        Ok(n)
    }
}

/// Runs a future to completion on a current-thread tokio runtime, failing the test if it takes
/// longer than 20 seconds (a client that hangs is a bug, DESIGN §6).
pub fn run<F: Future>(f: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        match tokio::time::timeout(Duration::from_secs(20), f).await {
            Ok(v) => v,
            Err(_) => panic!("the client hung (no result after 20 s)"),
        }
    })
}

/// Client buffers of usual sizes.
pub struct Bufs {
    pub rx: Vec<u8>,
    pub tx: Vec<u8>,
}

impl Default for Bufs {
    fn default() -> Self {
        Bufs::new()
    }
}

impl Bufs {
    pub fn new() -> Self {
        Bufs::sized(1024, 1024)
    }

    pub fn sized(rx: usize, tx: usize) -> Self {
        Bufs {
            rx: vec![0; rx],
            tx: vec![0; tx],
        }
    }
}
