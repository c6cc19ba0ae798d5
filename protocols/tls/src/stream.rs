//! Opening a TLS connection over a connected transport, and the resulting stream.

use core::net::IpAddr;

use embedded_io_async::{BufRead, ErrorType, Read, Write};
use embedded_tls::{NoClock, TlsClock, TlsConfig, TlsConnection, TlsContext};
use rand_core::CryptoRngCore;

use crate::TlsError;
use crate::Trust;
use crate::offer::{Offered, SigAlgs, Suite};
use crate::verify::{MAX_SERVER_NAME_LEN, Provider};

/// Size of a record read buffer that fits every TLS record: 16 KiB of plaintext plus
/// 256 bytes of record overhead (16,640 bytes). Smaller buffers only work with servers that
/// never send a larger record, which a client cannot control: embedded-tls's
/// max_fragment_length negotiation only helps when every handshake message fits one
/// fragment.
pub const RECORD_READ_BUF_SIZE: usize = 16_640;

/// A reasonable size for the record write buffer. Each write becomes at most one record of
/// this size; 4 KiB keeps the overhead per record small. The buffer must hold the
/// ClientHello (about 200 bytes plus the server name) and
/// [`embedded_tls::TLS_RECORD_OVERHEAD`] more than the largest record payload.
pub const RECORD_WRITE_BUF_SIZE: usize = 4096;

/// An open TLS 1.3 connection over the transport `T`, usable as
/// [`embedded_io_async::Read`] + [`Write`] + [`BufRead`].
///
/// Writes are buffered into TLS records: call [`Write::flush`] after each command. A TLS
/// close_notify from the server reads as end of stream (`Ok(0)`); a connection that ends
/// without one gives [`TlsError::Closed`] (it may have been truncated).
///
/// Cancel safety: like the transport's; a cancelled read or write can leave a partial record
/// behind, after which the connection must be dropped.
///
/// `S` is the signature-scheme selection the handshake offered ([`SigAlgs::bits`]; the
/// default offers every scheme). Under embedded-tls the stream runs over [`Offered`]`<T, S>`.
pub struct TlsStream<'a, T, const S: u8 = { SigAlgs::ALL_BITS }>
where
    T: Read + Write + 'a,
{
    conn: TlsConnection<'a, Offered<T, S>, Suite<S>>,
    eof: bool,
}

impl<'a, T, const S: u8> TlsStream<'a, T, S>
where
    T: Read + Write + 'a,
{
    /// The embedded-tls connection (for its flush policy, for example).
    pub fn inner_mut(&mut self) -> &mut TlsConnection<'a, Offered<T, S>, Suite<S>> {
        &mut self.conn
    }

    /// The embedded-tls connection.
    pub fn into_inner(self) -> TlsConnection<'a, Offered<T, S>, Suite<S>> {
        self.conn
    }

    /// Sends close_notify and gives the transport back (still connected; close it next).
    pub async fn close(self) -> Result<T, (T, TlsError)> {
        self.conn
            .close()
            .await
            .map(Offered::into_inner)
            .map_err(|(t, e)| (t.into_inner(), TlsError::from_stream(e)))
    }
}

impl<'a, T, const S: u8> ErrorType for TlsStream<'a, T, S>
where
    T: Read + Write + 'a,
{
    type Error = TlsError;
}

impl<'a, T, const S: u8> Read for TlsStream<'a, T, S>
where
    T: Read + Write + 'a,
{
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, TlsError> {
        if self.eof || buf.is_empty() {
            return Ok(0);
        }
        match self.conn.read(buf).await {
            Ok(n) => Ok(n),
            Err(embedded_tls::TlsError::ConnectionClosed) => {
                self.eof = true;
                Ok(0)
            }
            Err(e) => Err(TlsError::from_stream(e)),
        }
    }
}

impl<'a, T, const S: u8> BufRead for TlsStream<'a, T, S>
where
    T: Read + Write + 'a,
{
    async fn fill_buf(&mut self) -> Result<&[u8], TlsError> {
        if self.eof {
            return Ok(&[]);
        }
        match self.conn.fill_buf().await {
            Ok(data) => Ok(data),
            Err(embedded_tls::TlsError::ConnectionClosed) => {
                self.eof = true;
                Ok(&[])
            }
            Err(e) => Err(TlsError::from_stream(e)),
        }
    }

    fn consume(&mut self, amt: usize) {
        if !self.eof {
            self.conn.consume(amt);
        }
    }
}

impl<'a, T, const S: u8> Write for TlsStream<'a, T, S>
where
    T: Read + Write + 'a,
{
    async fn write(&mut self, buf: &[u8]) -> Result<usize, TlsError> {
        self.conn.write(buf).await.map_err(TlsError::from_stream)
    }

    async fn flush(&mut self) -> Result<(), TlsError> {
        Write::flush(&mut self.conn)
            .await
            .map_err(TlsError::from_stream)
    }
}

/// Checks a server name: 1..=253 bytes of letters, digits, `-`, `.`, `_`, or an IP address.
fn check_server_name(name: &str) -> Result<bool, TlsError> {
    if name.parse::<IpAddr>().is_ok() {
        return Ok(true);
    }
    let valid = !name.is_empty()
        && name.len() <= MAX_SERVER_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if valid {
        Ok(false)
    } else {
        Err(TlsError::ServerName)
    }
}

/// Runs a TLS 1.3 handshake over `transport` and returns the encrypted stream.
///
/// The same call serves implicit TLS (call it right after the TCP connect) and STARTTLS
/// (call it after the server's go-ahead to `STARTTLS`/`STLS`, on the same transport; make
/// sure the plain-text reader did not read past the go-ahead line).
///
/// - `server_name`: the name the certificate must be valid for, also sent as SNI. An IP
///   address (`192.0.2.1`, `::1`, without brackets) is not sent as SNI and is matched against the
///   certificate's iPAddress names.
/// - `trust`: the trust anchors, or [`Trust::Insecure`].
/// - `rng`: a cryptographically secure random number generator.
/// - `record_read_buf`: [`RECORD_READ_BUF_SIZE`] bytes is the safe size.
/// - `record_write_buf`: [`RECORD_WRITE_BUF_SIZE`] bytes is a good size.
///
/// Certificate validity periods are checked as [`Time::NoClock`](crate::Time::NoClock)
/// describes (there is no clock here); use [`connect_with_provider`] with a clock to check
/// them against the present.
///
/// On error nothing has been sent but handshake messages; drop the transport.
///
/// ```
/// # use embedded_io_async::{Read, Write};
/// # async fn demo<T: Read + Write>(
/// #     socket: T,
/// #     rng: impl rand_core::CryptoRngCore,
/// #     ca_der: &[u8],
/// # ) -> Result<(), postwire_tls::TlsError> {
/// use postwire_tls::{RECORD_READ_BUF_SIZE, RECORD_WRITE_BUF_SIZE, Trust};
/// let mut rx = [0u8; RECORD_READ_BUF_SIZE];
/// let mut tx = [0u8; RECORD_WRITE_BUF_SIZE];
/// let anchors = [ca_der];
/// let trust = Trust::Anchors(&anchors);
/// let mut tls = postwire_tls::connect(socket, "mail.example.com", &trust, rng, &mut rx, &mut tx)
///     .await?;
/// tls.write_all(b"a1 CAPABILITY\r\n").await?;
/// tls.flush().await?;
/// # Ok(())
/// # }
/// ```
pub async fn connect<'a, T, R>(
    transport: T,
    server_name: &str,
    trust: &Trust<'_>,
    rng: R,
    record_read_buf: &'a mut [u8],
    record_write_buf: &'a mut [u8],
) -> Result<TlsStream<'a, T>, TlsError>
where
    T: Read + Write + 'a,
    R: CryptoRngCore,
{
    let mut provider = Provider::<R, NoClock>::new(rng, trust);
    connect_with_provider(
        transport,
        server_name,
        &mut provider,
        record_read_buf,
        record_write_buf,
    )
    .await
}

/// Like [`connect`], with a [`Provider`] made by the caller: choose a clock for certificate
/// validity checks, or look at the provider's verifier after the handshake.
///
/// The provider's selection `S` restricts the signature schemes offered (see
/// [`crate::offer`]): `Provider::<_, _, { SigAlgs::RSA.bits() }>` offers only RSA, so a
/// server with an ECDSA and an RSA certificate answers with the RSA one.
pub async fn connect_with_provider<'a, T, R, C, const S: u8>(
    transport: T,
    server_name: &str,
    provider: &mut Provider<'_, R, C, S>,
    record_read_buf: &'a mut [u8],
    record_write_buf: &'a mut [u8],
) -> Result<TlsStream<'a, T, S>, TlsError>
where
    T: Read + Write + 'a,
    R: CryptoRngCore,
    C: TlsClock,
{
    let is_ip = check_server_name(server_name)?;
    // embedded-tls offers ECDSA P-256, P-384 and Ed25519 always; the RSA schemes (appended
    // after those) only when this build can verify them.
    let compiled = if cfg!(feature = "rsa") {
        SigAlgs::ALL
    } else {
        SigAlgs::ECDSA.with(SigAlgs::ED25519)
    };
    let offered = SigAlgs::from_bits(S & compiled.bits());
    if offered.is_empty() {
        return Err(TlsError::NoSignatureScheme);
    }
    provider.verifier_mut().prepare(server_name)?;
    provider.verifier_mut().set_offered(SigAlgs::from_bits(S));
    let mut config = TlsConfig::new();
    if cfg!(feature = "rsa") {
        config = config.enable_rsa_signatures();
    }
    if !is_ip {
        config = config.with_server_name(server_name);
    }
    let mut conn = TlsConnection::new(
        Offered::<T, S>::new(transport),
        record_read_buf,
        record_write_buf,
    );
    let opened = conn.open(TlsContext::new(&config, &mut *provider)).await;
    let verifier = provider.verifier();
    match opened {
        Err(e) => Err(verifier.handshake_error(e)),
        // embedded-tls accepts a handshake without Certificate/CertificateVerify: refuse it.
        Ok(()) if !verifier.authenticated() => Err(verifier.unauthenticated_error()),
        Ok(()) => Ok(TlsStream { conn, eof: false }),
    }
}

#[cfg(test)]
mod tests {
    use super::check_server_name;
    use crate::TlsError;

    #[test]
    fn server_names() {
        assert!(matches!(check_server_name("localhost"), Ok(false)));
        assert!(matches!(check_server_name("mail.example.test"), Ok(false)));
        assert!(matches!(check_server_name("127.0.0.1"), Ok(true)));
        assert!(matches!(check_server_name("::1"), Ok(true)));
        let long = format!("{}a", "a.".repeat(126));
        assert_eq!(long.len(), 253);
        assert!(matches!(check_server_name(&long), Ok(false)));
        for bad in ["", "a b", "x\r\n", "a\0", "é.example", &"a.".repeat(127)] {
            assert!(
                matches!(check_server_name(bad), Err(TlsError::ServerName)),
                "{bad:?}"
            );
        }
    }
}
