//! TLS on the host: CA files, a system clock, and a connect helper.

use std::fmt;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use embedded_io_async::{BufRead, ErrorType, Read, Write};
use postwire_tls::{Provider, SigAlgs, TlsClock, TlsError, TlsStream, Trust};

use crate::net::{TcpTransport, connect_tcp, os_rng};

/// CA certificates (DER), loaded from a file for `--ca FILE`.
#[derive(Debug, Clone, Default)]
pub struct CaSet {
    certs: Vec<Vec<u8>>,
}

impl CaSet {
    /// Reads a CA file: PEM with one or more `CERTIFICATE` blocks, or DER (one or more
    /// concatenated certificates). Errors name the file.
    pub fn from_file(path: impl AsRef<Path>) -> io::Result<Self> {
        let path = path.as_ref();
        let data = std::fs::read(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Self::from_bytes(&data).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })
    }

    /// Parses PEM or DER certificates (see [`CaSet::from_file`]).
    pub fn from_bytes(data: &[u8]) -> Result<Self, postwire_tls::pem::PemError> {
        let mut out = vec![0u8; data.len()];
        let mut certs = Vec::new();
        for cert in postwire_tls::pem::certificates(data, &mut out) {
            certs.push(cert?.to_vec());
        }
        if certs.is_empty() {
            return Err(postwire_tls::pem::PemError::NoCertificates);
        }
        Ok(Self { certs })
    }

    /// A set of the given DER certificates.
    pub fn from_der(certs: Vec<Vec<u8>>) -> Self {
        Self { certs }
    }

    /// The certificates, DER.
    pub fn certs(&self) -> &[Vec<u8>] {
        &self.certs
    }

    /// Number of certificates.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// The certificates as slices, for [`trust`]: `let a = ca.anchors(); trust(&a)`.
    pub fn anchors(&self) -> Vec<&[u8]> {
        self.certs.iter().map(Vec::as_slice).collect()
    }
}

/// Parses a `--sigalgs` list (`rsa`, `ecdsa`, `ed25519`, comma-separated).
pub fn parse_sigalgs(list: &str) -> Result<SigAlgs, String> {
    SigAlgs::parse(list).map_err(|e| format!("{e}: {list:?}"))
}

/// [`Trust::Anchors`] over `anchors` (from [`CaSet::anchors`]).
pub fn trust<'a>(anchors: &'a [&'a [u8]]) -> Trust<'a> {
    Trust::Anchors(anchors)
}

/// The host's default trust store, used when no `--ca` is given: Mozilla's root CAs from the
/// `webpki-roots` crate (the operating system's store is not read).
pub fn default_trust() -> Trust<'static> {
    Trust::Roots(webpki_roots::TLS_SERVER_ROOTS)
}

/// The system clock, so that certificate validity periods are checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl TlsClock for SystemClock {
    fn now() -> Option<u64> {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs())
    }
}

/// A TLS stream over a host TCP connection.
pub type HostTlsStream<'b> = HostTls<'b, TcpTransport>;

/// Defines [`HostTls`]: one variant per signature-scheme selection, because postwire-tls
/// takes the selection as a const generic parameter (see `postwire_tls::offer`).
macro_rules! host_tls {
    ($($variant:ident = $bits:expr, $doc:literal;)*) => {
        /// A TLS stream whose handshake offered the signature schemes of one
        /// [`SigAlgs`] selection (`--sigalgs`), as [`start_tls_offering`] opened it.
        pub enum HostTls<'b, T: Read + Write + 'b> {
            $(
                #[doc = $doc]
                $variant(TlsStream<'b, T, { $bits }>),
            )*
        }

        macro_rules! each_variant {
            ($self:expr, $s:ident => $body:expr) => {
                match $self {
                    $(HostTls::$variant($s) => $body,)*
                }
            };
        }

        /// Runs the handshake with the provider type of the selection `sigalgs`.
        async fn handshake<'b, T>(
            transport: T,
            server_name: &str,
            trust: &Trust<'_>,
            sigalgs: SigAlgs,
            buffers: &'b mut TlsBuffers,
        ) -> Result<HostTls<'b, T>, TlsError>
        where
            T: Read + Write + 'b,
        {
            $(
                if sigalgs.bits() == $bits {
                    let mut provider =
                        Provider::<_, SystemClock, { $bits }>::new(os_rng(), trust);
                    return postwire_tls::connect_with_provider(
                        transport,
                        server_name,
                        &mut provider,
                        &mut buffers.rx,
                        &mut buffers.tx,
                    )
                    .await
                    .map(HostTls::$variant);
                }
            )*
            Err(TlsError::NoSignatureScheme)
        }
    };
}

host_tls! {
    All = 7, "Every scheme (the default).";
    Rsa = 1, "RSA only.";
    Ecdsa = 2, "ECDSA only.";
    Ed25519 = 4, "Ed25519 only.";
    RsaEcdsa = 3, "RSA and ECDSA.";
    RsaEd25519 = 5, "RSA and Ed25519.";
    EcdsaEd25519 = 6, "ECDSA and Ed25519.";
}

impl<'b, T: Read + Write + 'b> HostTls<'b, T> {
    /// Sends close_notify and gives the transport back.
    pub async fn close(self) -> Result<T, (T, TlsError)> {
        each_variant!(self, s => s.close().await)
    }

    /// The signature schemes the handshake offered.
    pub fn sigalgs(&self) -> SigAlgs {
        each_variant!(self, s => sigalgs_of(s))
    }
}

fn sigalgs_of<T: Read + Write, const S: u8>(_: &TlsStream<'_, T, S>) -> SigAlgs {
    SigAlgs::from_bits(S)
}

impl<'b, T: Read + Write + 'b> ErrorType for HostTls<'b, T> {
    type Error = TlsError;
}

impl<'b, T: Read + Write + 'b> Read for HostTls<'b, T> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, TlsError> {
        each_variant!(self, s => s.read(buf).await)
    }
}

impl<'b, T: Read + Write + 'b> BufRead for HostTls<'b, T> {
    async fn fill_buf(&mut self) -> Result<&[u8], TlsError> {
        each_variant!(self, s => s.fill_buf().await)
    }

    fn consume(&mut self, amt: usize) {
        each_variant!(self, s => s.consume(amt))
    }
}

impl<'b, T: Read + Write + 'b> Write for HostTls<'b, T> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, TlsError> {
        each_variant!(self, s => s.write(buf).await)
    }

    async fn flush(&mut self) -> Result<(), TlsError> {
        each_variant!(self, s => s.flush().await)
    }
}

/// Record buffers for one TLS connection, at the sizes postwire-tls recommends.
pub struct TlsBuffers {
    /// Record read buffer.
    pub rx: Vec<u8>,
    /// Record write buffer.
    pub tx: Vec<u8>,
}

impl TlsBuffers {
    /// Buffers of [`postwire_tls::RECORD_READ_BUF_SIZE`] and
    /// [`postwire_tls::RECORD_WRITE_BUF_SIZE`] bytes.
    pub fn new() -> Self {
        Self {
            rx: vec![0; postwire_tls::RECORD_READ_BUF_SIZE],
            tx: vec![0; postwire_tls::RECORD_WRITE_BUF_SIZE],
        }
    }
}

impl Default for TlsBuffers {
    fn default() -> Self {
        Self::new()
    }
}

/// Why [`connect_tls`] or [`start_tls`] failed.
#[derive(Debug)]
pub enum ConnectError {
    /// The TCP connection failed (the message names host and port).
    Tcp(io::Error),
    /// The TLS handshake failed.
    Tls(TlsError),
    /// The handshake took longer than the timeout.
    Timeout,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(e) => write!(f, "{e}"),
            Self::Tls(e) => write!(f, "{e}"),
            Self::Timeout => f.write_str("TLS handshake timed out"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Tcp(e) => Some(e),
            Self::Tls(e) => Some(e),
            Self::Timeout => None,
        }
    }
}

impl From<TlsError> for ConnectError {
    fn from(e: TlsError) -> Self {
        Self::Tls(e)
    }
}

/// Connects to `host:port` and runs the TLS handshake (implicit TLS), each step within
/// `timeout`. Certificates are checked against `trust` for `server_name`, with the system
/// clock.
pub async fn connect_tls<'b>(
    host: &str,
    port: u16,
    server_name: &str,
    trust: &Trust<'_>,
    timeout: Duration,
    buffers: &'b mut TlsBuffers,
) -> Result<HostTlsStream<'b>, ConnectError> {
    let tcp = connect_tcp(host, port, timeout)
        .await
        .map_err(ConnectError::Tcp)?;
    start_tls(tcp, server_name, trust, timeout, buffers).await
}

/// Runs the TLS handshake over an already connected transport (implicit TLS right after
/// connecting, or STARTTLS after the server's go-ahead), within `timeout`, checking
/// validity periods with the system clock. Offers every signature scheme.
pub async fn start_tls<'b, T>(
    transport: T,
    server_name: &str,
    trust: &Trust<'_>,
    timeout: Duration,
    buffers: &'b mut TlsBuffers,
) -> Result<HostTls<'b, T>, ConnectError>
where
    T: Read + Write + 'b,
{
    start_tls_offering(
        transport,
        server_name,
        trust,
        SigAlgs::ALL,
        timeout,
        buffers,
    )
    .await
}

/// [`start_tls`] offering only the signature schemes of `sigalgs` (`--sigalgs`): a server
/// with several certificates picks one by this offer.
pub async fn start_tls_offering<'b, T>(
    transport: T,
    server_name: &str,
    trust: &Trust<'_>,
    sigalgs: SigAlgs,
    timeout: Duration,
    buffers: &'b mut TlsBuffers,
) -> Result<HostTls<'b, T>, ConnectError>
where
    T: Read + Write + 'b,
{
    let opened = handshake(transport, server_name, trust, sigalgs, buffers);
    match tokio::time::timeout(timeout, opened).await {
        Ok(result) => result.map_err(ConnectError::Tls),
        Err(_) => Err(ConnectError::Timeout),
    }
}
