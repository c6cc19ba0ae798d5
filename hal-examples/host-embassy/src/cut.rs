//! Cutting the device's connections at a chosen moment: a `postwire_app::Net` wrapper whose
//! connections to one port start failing once a [`CutSwitch`] is armed — every read and
//! write ([`CutMode::All`]), or only reads ([`CutMode::Reads`]: the server still receives
//! the command that was just written, but its answer is lost). A test arms the switch from
//! the app's event hook, e.g. right after the device executed a command.
//!
//! The failing connection is then dropped by the app, which closes the underlying embassy-net
//! socket; the server sees the connection go away in the middle of the session.

use core::sync::atomic::{AtomicU32, Ordering};

use embedded_io_async::{ErrorKind, ErrorType, Read, Write};
use postwire_app::Net;

/// What fails once a switch is armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutMode {
    /// Reads, writes and new connections to the port.
    All,
    /// Only reads (writes still go out).
    Reads,
}

const ALL: u32 = 1 << 16;
const READS: u32 = 2 << 16;

/// Which port's connections fail (shared between the test and the [`CutNet`]).
#[derive(Debug, Default)]
pub struct CutSwitch {
    armed: AtomicU32,
    cuts: AtomicU32,
}

impl CutSwitch {
    /// Makes connections to `port` fail as `mode` says, from now on.
    pub fn arm(&self, port: u16, mode: CutMode) {
        let m = match mode {
            CutMode::All => ALL,
            CutMode::Reads => READS,
        };
        self.armed.store(u32::from(port) | m, Ordering::SeqCst);
    }

    /// Lets every connection work again.
    pub fn disarm(&self) {
        self.armed.store(0, Ordering::SeqCst);
    }

    /// How many operations failed because of the switch.
    pub fn cuts(&self) -> u32 {
        self.cuts.load(Ordering::SeqCst)
    }

    fn cut(&self, port: u16, read: bool) -> bool {
        let a = self.armed.load(Ordering::SeqCst);
        let hit =
            a != 0 && a & 0xffff == u32::from(port) && (a & ALL != 0 || (read && a & READS != 0));
        if hit {
            self.cuts.fetch_add(1, Ordering::SeqCst);
        }
        hit
    }
}

/// An error of a [`CutNet`] connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutError<E> {
    /// The switch cut the connection.
    Cut,
    /// The wrapped network failed.
    Net(E),
}

impl<E: core::fmt::Display> core::fmt::Display for CutError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CutError::Cut => f.write_str("connection cut by the test"),
            CutError::Net(e) => e.fmt(f),
        }
    }
}

impl<E: core::error::Error> core::error::Error for CutError<E> {}

impl<E: embedded_io_async::Error + core::fmt::Display> embedded_io_async::Error for CutError<E> {
    fn kind(&self) -> ErrorKind {
        match self {
            CutError::Cut => ErrorKind::ConnectionReset,
            CutError::Net(e) => e.kind(),
        }
    }
}

/// `inner` with its connections governed by `switch`.
pub struct CutNet<'s, N> {
    /// The wrapped network.
    pub inner: N,
    /// The switch.
    pub switch: &'s CutSwitch,
}

/// A connection of a [`CutNet`].
pub struct CutConn<'s, C> {
    inner: C,
    port: u16,
    switch: &'s CutSwitch,
}

impl<C: ErrorType> ErrorType for CutConn<'_, C>
where
    C::Error: core::fmt::Display,
{
    type Error = CutError<C::Error>;
}

impl<C: Read> Read for CutConn<'_, C>
where
    C::Error: core::fmt::Display,
{
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if self.switch.cut(self.port, true) {
            return Err(CutError::Cut);
        }
        let n = self.inner.read(buf).await.map_err(CutError::Net)?;
        // Armed while the read was waiting: the data never reaches the app.
        if self.switch.cut(self.port, true) {
            return Err(CutError::Cut);
        }
        Ok(n)
    }
}

impl<C: Write> Write for CutConn<'_, C>
where
    C::Error: core::fmt::Display,
{
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        if self.switch.cut(self.port, false) {
            return Err(CutError::Cut);
        }
        self.inner.write(buf).await.map_err(CutError::Net)
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        if self.switch.cut(self.port, false) {
            return Err(CutError::Cut);
        }
        self.inner.flush().await.map_err(CutError::Net)
    }
}

impl<'s, N: Net> Net for CutNet<'s, N>
where
    N::Error: core::fmt::Display,
{
    type Error = CutError<N::Error>;
    type Conn<'a>
        = CutConn<'s, N::Conn<'a>>
    where
        Self: 'a;

    async fn connect<'a>(&'a self, host: &str, port: u16) -> Result<Self::Conn<'a>, Self::Error> {
        if self.switch.cut(port, false) {
            return Err(CutError::Cut);
        }
        let inner = self
            .inner
            .connect(host, port)
            .await
            .map_err(CutError::Net)?;
        Ok(CutConn {
            inner,
            port,
            switch: self.switch,
        })
    }
}
