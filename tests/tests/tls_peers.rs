//! TLS against the real Postfix/Dovecot peers (`../shared/peers`): implicit TLS, STARTTLS,
//! certificate and host-name verification.

// Test code: a failed expectation is a test failure.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use embedded_io_async::{ErrorType, Read, Write};
use postwire_host_sim::net::{TcpTransport, connect_tcp, os_rng};
use postwire_host_sim::tls::{CaSet, SystemClock, TlsBuffers, connect_tls, start_tls};
use postwire_tls::{CertError, Provider, Time, TlsError, Trust, TrustedBy, verify_server_chain};

const TIMEOUT: Duration = Duration::from_secs(10);

/// The peers' settings (shared loader), with the helpers these tests use.
struct Peers(postwire_tests::Peers);

impl Peers {
    fn load() -> Option<Self> {
        postwire_tests::Peers::try_load(module_path!()).map(Peers)
    }

    fn get(&self, name: &str) -> &str {
        self.0.get(name)
    }

    fn host(&self) -> &str {
        self.get("MAILPEERS_HOST")
    }

    fn port(&self, name: &str) -> u16 {
        self.get(name).parse().expect("port number")
    }

    fn name(&self) -> &str {
        self.get("MAILPEERS_TLS_NAME")
    }

    fn ca(&self, var: &str) -> CaSet {
        CaSet::from_file(self.get(var)).expect("CA file")
    }

    async fn tcp(&self, port_var: &str) -> TcpTransport {
        connect_tcp(self.host(), self.port(port_var), TIMEOUT)
            .await
            .expect("TCP connect")
    }
}

/// Reads one line (up to CRLF) byte by byte, so that nothing after it is consumed.
async fn read_line<S: Read>(stream: &mut S) -> String
where
    <S as ErrorType>::Error: std::fmt::Debug,
{
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\r\n") {
        assert!(line.len() < 4096, "line too long: {line:?}");
        let n = tokio::time::timeout(TIMEOUT, stream.read(&mut byte))
            .await
            .expect("read timed out")
            .expect("read");
        assert_eq!(
            n,
            1,
            "connection closed after {:?}",
            String::from_utf8_lossy(&line)
        );
        line.push(byte[0]);
    }
    String::from_utf8(line).expect("UTF-8 line")
}

/// Reads lines until one for which `last` is true; returns them all.
async fn read_until<S: Read>(stream: &mut S, last: impl Fn(&str) -> bool) -> Vec<String>
where
    <S as ErrorType>::Error: std::fmt::Debug,
{
    let mut lines = Vec::new();
    loop {
        let line = read_line(stream).await;
        let done = last(&line);
        lines.push(line);
        if done {
            return lines;
        }
    }
}

async fn send<S: Write>(stream: &mut S, data: &[u8])
where
    <S as ErrorType>::Error: std::fmt::Debug,
{
    stream.write_all(data).await.expect("write");
    stream.flush().await.expect("flush");
}

/// A transport that records what the client writes.
struct Recording<T> {
    inner: T,
    written: Vec<u8>,
}

impl<T: ErrorType> ErrorType for Recording<T> {
    type Error = T::Error;
}

impl<T: Read> Read for Recording<T> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, T::Error> {
        self.inner.read(buf).await
    }
}

impl<T: Write> Write for Recording<T> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, T::Error> {
        let n = self.inner.write(buf).await?;
        self.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    async fn flush(&mut self) -> Result<(), T::Error> {
        self.inner.flush().await
    }
}

/// The content types of the TLS records in `bytes`.
fn record_types(mut bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while bytes.len() >= 5 {
        let len = usize::from(u16::from_be_bytes([bytes[3], bytes[4]]));
        types.push(bytes[0]);
        bytes = &bytes[(5 + len).min(bytes.len())..];
    }
    assert!(bytes.is_empty(), "partial record written");
    types
}

/// Implicit TLS with the bundle (RSA CA first, ECDSA CA second) as trust; returns the greeting
/// and the index of the anchor that verified the server.
async fn implicit_greeting(peers: &Peers, port_var: &str) -> (String, Option<usize>) {
    let ca = peers.ca("MAILPEERS_CA_CERT");
    assert_eq!(ca.len(), 2, "ca.crt holds both CAs");
    let anchors = ca.anchors();
    let trust = Trust::Anchors(&anchors);
    let mut provider = Provider::<_, SystemClock>::new(os_rng(), &trust);
    let (mut rx, mut tx) = (vec![0; 16_640], vec![0; 4096]);
    let tcp = peers.tcp(port_var).await;
    let mut tls =
        postwire_tls::connect_with_provider(tcp, peers.name(), &mut provider, &mut rx, &mut tx)
            .await
            .unwrap_or_else(|e| panic!("{port_var}: handshake: {e}"));
    let greeting = read_line(&mut tls).await;
    let _ = tls.close().await;
    (greeting, provider.verifier().verified_anchor())
}

#[tokio::test]
async fn imaps_greeting_with_ca_bundle() {
    let Some(peers) = Peers::load() else { return };
    let (greeting, anchor) = implicit_greeting(&peers, "MAILPEERS_IMAPS_PORT").await;
    assert!(greeting.starts_with("* OK"), "{greeting:?}");
    assert_eq!(
        anchor,
        Some(1),
        "the ECDSA CA (second in ca.crt) verifies the chain"
    );
}

#[tokio::test]
async fn pop3s_greeting_with_ca_bundle() {
    let Some(peers) = Peers::load() else { return };
    let (greeting, anchor) = implicit_greeting(&peers, "MAILPEERS_POP3S_PORT").await;
    assert!(greeting.starts_with("+OK"), "{greeting:?}");
    assert_eq!(anchor, Some(1));
}

#[tokio::test]
async fn submissions_greeting_with_ca_bundle() {
    let Some(peers) = Peers::load() else { return };
    let (greeting, anchor) = implicit_greeting(&peers, "MAILPEERS_SUBMISSIONS_PORT").await;
    assert!(greeting.starts_with("220 "), "{greeting:?}");
    assert_eq!(anchor, Some(1));
}

#[tokio::test]
async fn plain_connect_api_and_imap_command() {
    let Some(peers) = Peers::load() else { return };
    let ca = peers.ca("MAILPEERS_CA_CERT_EC_DER");
    let anchors = ca.anchors();
    let trust = Trust::Anchors(&anchors);
    let (mut rx, mut tx) = (vec![0; 16_640], vec![0; 4096]);
    let socket = peers.tcp("MAILPEERS_IMAPS_PORT").await;
    let mut tls = postwire_tls::connect(socket, "localhost", &trust, os_rng(), &mut rx, &mut tx)
        .await
        .expect("handshake");
    assert!(read_line(&mut tls).await.starts_with("* OK"));
    send(&mut tls, b"a1 CAPABILITY\r\na2 LOGOUT\r\n").await;
    let lines = read_until(&mut tls, |l| l.starts_with("a2 ")).await;
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("* CAPABILITY IMAP4rev1")),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l.starts_with("a1 OK")), "{lines:?}");
    assert!(
        lines.last().is_some_and(|l| l.starts_with("a2 OK")),
        "{lines:?}"
    );
    // After LOGOUT the server closes: close_notify reads as end of stream.
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(TIMEOUT, tls.read(&mut buf))
        .await
        .expect("EOF in time");
    assert!(matches!(n, Ok(0) | Err(TlsError::Closed)), "{n:?}");
}

#[tokio::test]
async fn host_connect_tls_helper() {
    let Some(peers) = Peers::load() else { return };
    let ca = peers.ca("MAILPEERS_CA_CERT");
    let anchors = ca.anchors();
    let mut buffers = TlsBuffers::new();
    let mut tls = connect_tls(
        peers.host(),
        peers.port("MAILPEERS_SUBMISSIONS_PORT"),
        "mail.example.test",
        &Trust::Anchors(&anchors),
        TIMEOUT,
        &mut buffers,
    )
    .await
    .expect("connect_tls");
    assert!(read_line(&mut tls).await.starts_with("220 "));
    send(&mut tls, b"EHLO client.example.test\r\n").await;
    let lines = read_until(&mut tls, |l| l.starts_with("250 ")).await;
    assert!(lines.iter().any(|l| l.contains("AUTH")), "{lines:?}");
    send(&mut tls, b"QUIT\r\n").await;
    assert!(read_line(&mut tls).await.starts_with("221"));
}

#[tokio::test]
async fn wrong_ca_is_refused_before_any_data() {
    let Some(peers) = Peers::load() else { return };
    // The client gets the ECDSA chain (embedded-tls offers the ECDSA schemes first), the
    // anchor is the RSA CA: nothing verifies.
    let ca = peers.ca("MAILPEERS_CA_CERT_RSA_DER");
    let anchors = ca.anchors();
    let trust = Trust::Anchors(&anchors);
    for port_var in [
        "MAILPEERS_IMAPS_PORT",
        "MAILPEERS_POP3S_PORT",
        "MAILPEERS_SUBMISSIONS_PORT",
    ] {
        let mut transport = Recording {
            inner: peers.tcp(port_var).await,
            written: Vec::new(),
        };
        let (mut rx, mut tx) = (vec![0; 16_640], vec![0; 4096]);
        let result = postwire_tls::connect(
            &mut transport,
            "localhost",
            &trust,
            os_rng(),
            &mut rx,
            &mut tx,
        )
        .await;
        assert!(
            matches!(
                result,
                Err(TlsError::CertificateInvalid(CertError::UnknownIssuer))
            ),
            "{port_var}: {:?}",
            result.err()
        );
        // Only the ClientHello went out: no encrypted record (content type 23), so neither
        // the client Finished nor any application data.
        assert_eq!(record_types(&transport.written), [22], "{port_var}");
    }
}

#[tokio::test]
async fn wrong_host_name_is_refused() {
    let Some(peers) = Peers::load() else { return };
    let ca = peers.ca("MAILPEERS_CA_CERT");
    let anchors = ca.anchors();
    let trust = Trust::Anchors(&anchors);
    for name in ["wrong.example", "localhost.example.test", "example"] {
        let (mut rx, mut tx) = (vec![0; 16_640], vec![0; 4096]);
        let tcp = peers.tcp("MAILPEERS_IMAPS_PORT").await;
        let result = postwire_tls::connect(tcp, name, &trust, os_rng(), &mut rx, &mut tx).await;
        assert!(
            matches!(result, Err(TlsError::HostnameMismatch)),
            "{name}: {:?}",
            result.err()
        );
    }
    // The other names in the certificate work.
    for name in ["mail.example.test", "example.test", "LOCALHOST"] {
        let (mut rx, mut tx) = (vec![0; 16_640], vec![0; 4096]);
        let tcp = peers.tcp("MAILPEERS_IMAPS_PORT").await;
        let result = postwire_tls::connect(tcp, name, &trust, os_rng(), &mut rx, &mut tx).await;
        assert!(result.is_ok(), "{name}: {:?}", result.err());
    }
}

#[tokio::test]
async fn invalid_server_names_are_refused_before_connecting_tls() {
    let Some(peers) = Peers::load() else { return };
    let trust = Trust::Insecure;
    for name in ["", "bad name", "x\r\nA1 LOGIN", "ünicode.example"] {
        let (mut rx, mut tx) = (vec![0; 16_640], vec![0; 4096]);
        let mut transport = Recording {
            inner: peers.tcp("MAILPEERS_IMAPS_PORT").await,
            written: Vec::new(),
        };
        let result =
            postwire_tls::connect(&mut transport, name, &trust, os_rng(), &mut rx, &mut tx).await;
        assert!(
            matches!(result, Err(TlsError::ServerName)),
            "{name:?}: {:?}",
            result.err()
        );
        assert!(transport.written.is_empty());
    }
}

#[tokio::test]
async fn ip_address_names_match_ip_sans() {
    let Some(peers) = Peers::load() else { return };
    let ca = peers.ca("MAILPEERS_CA_CERT");
    let anchors = ca.anchors();
    let trust = Trust::Anchors(&anchors);
    let port = peers.port("MAILPEERS_POP3S_PORT");
    // The certificate has IP:127.0.0.1 and IP:::1 (no SNI is sent for IP names).
    for (host, name) in [("127.0.0.1", "127.0.0.1"), ("::1", "::1")] {
        let (mut rx, mut tx) = (vec![0; 16_640], vec![0; 4096]);
        let tcp = connect_tcp(host, port, TIMEOUT).await.expect("TCP connect");
        let mut tls = postwire_tls::connect(tcp, name, &trust, os_rng(), &mut rx, &mut tx)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(read_line(&mut tls).await.starts_with("+OK"));
    }
    // An address that is not in the certificate.
    for name in ["127.0.0.2", "::2"] {
        let (mut rx, mut tx) = (vec![0; 16_640], vec![0; 4096]);
        let tcp = connect_tcp("127.0.0.1", port, TIMEOUT)
            .await
            .expect("TCP connect");
        let result = postwire_tls::connect(tcp, name, &trust, os_rng(), &mut rx, &mut tx).await;
        assert!(
            matches!(result, Err(TlsError::HostnameMismatch)),
            "{name}: {:?}",
            result.err()
        );
    }
    // The right IP with the wrong CA is a certificate error, not a name error.
    let rsa = peers.ca("MAILPEERS_CA_CERT_RSA");
    let rsa_anchors = rsa.anchors();
    let (mut rx, mut tx) = (vec![0; 16_640], vec![0; 4096]);
    let tcp = connect_tcp("127.0.0.1", port, TIMEOUT)
        .await
        .expect("TCP connect");
    let result = postwire_tls::connect(
        tcp,
        "127.0.0.1",
        &Trust::Anchors(&rsa_anchors),
        os_rng(),
        &mut rx,
        &mut tx,
    )
    .await;
    assert!(
        matches!(
            result,
            Err(TlsError::CertificateInvalid(CertError::UnknownIssuer))
        ),
        "{:?}",
        result.err()
    );
}

#[tokio::test]
async fn insecure_mode_connects_without_anchors() {
    let Some(peers) = Peers::load() else { return };
    let (mut rx, mut tx) = (vec![0; 16_640], vec![0; 4096]);
    let tcp = peers.tcp("MAILPEERS_IMAPS_PORT").await;
    let mut tls = postwire_tls::connect(
        tcp,
        "wrong.example",
        &Trust::Insecure,
        os_rng(),
        &mut rx,
        &mut tx,
    )
    .await
    .expect("insecure handshake");
    assert!(read_line(&mut tls).await.starts_with("* OK"));
    // No anchors at all: nobody is trusted.
    let (mut rx, mut tx) = (vec![0; 16_640], vec![0; 4096]);
    let tcp = peers.tcp("MAILPEERS_IMAPS_PORT").await;
    let result = postwire_tls::connect(
        tcp,
        "localhost",
        &Trust::Anchors(&[]),
        os_rng(),
        &mut rx,
        &mut tx,
    )
    .await;
    assert!(
        matches!(
            result,
            Err(TlsError::CertificateInvalid(CertError::UnknownIssuer))
        ),
        "{:?}",
        result.err()
    );
}

#[tokio::test]
async fn pop3_stls_upgrade() {
    let Some(peers) = Peers::load() else { return };
    let ca = peers.ca("MAILPEERS_CA_CERT");
    let anchors = ca.anchors();
    let trust = Trust::Anchors(&anchors);
    let mut plain = peers.tcp("MAILPEERS_POP3_PORT").await;
    let greeting = read_line(&mut plain).await;
    assert!(greeting.starts_with("+OK"), "{greeting:?}");
    send(&mut plain, b"STLS\r\n").await;
    let go_ahead = read_line(&mut plain).await;
    assert!(go_ahead.starts_with("+OK"), "{go_ahead:?}");
    let mut buffers = TlsBuffers::new();
    let mut tls = start_tls(plain, peers.name(), &trust, TIMEOUT, &mut buffers)
        .await
        .expect("STLS handshake");
    send(&mut tls, b"CAPA\r\n").await;
    let capa = read_until(&mut tls, |l| l == ".\r\n").await;
    assert!(capa[0].starts_with("+OK"), "{capa:?}");
    assert!(capa.iter().any(|l| l.starts_with("USER")), "{capa:?}");
    assert!(
        !capa.iter().any(|l| l.starts_with("STLS")),
        "no STLS after TLS: {capa:?}"
    );
    send(&mut tls, b"QUIT\r\n").await;
    assert!(read_line(&mut tls).await.starts_with("+OK"));
}

#[tokio::test]
async fn imap_starttls_upgrade() {
    let Some(peers) = Peers::load() else { return };
    let ca = peers.ca("MAILPEERS_CA_CERT_EC");
    let anchors = ca.anchors();
    let trust = Trust::Anchors(&anchors);
    let mut plain = peers.tcp("MAILPEERS_IMAP_PORT").await;
    assert!(read_line(&mut plain).await.starts_with("* OK"));
    send(&mut plain, b"s1 STARTTLS\r\n").await;
    assert!(read_line(&mut plain).await.starts_with("s1 OK"));
    let (mut rx, mut tx) = (vec![0; 16_640], vec![0; 4096]);
    let mut tls = postwire_tls::connect(plain, "localhost", &trust, os_rng(), &mut rx, &mut tx)
        .await
        .expect("STARTTLS handshake");
    send(&mut tls, b"s2 CAPABILITY\r\n").await;
    let lines = read_until(&mut tls, |l| l.starts_with("s2 ")).await;
    assert!(lines.iter().any(|l| l.contains("AUTH=PLAIN")), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("STARTTLS")), "{lines:?}");
}

/// Kills the child process (started by this test) when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn tls12_only_server_gives_a_clear_error() {
    let Some(peers) = Peers::load() else { return };
    let dir = PathBuf::from(peers.get("MAILPEERS_CA_CERT"))
        .parent()
        .expect("tls dir")
        .to_path_buf();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = std::process::Command::new("openssl")
        .args(["s_server", "-quiet", "-tls1_2", "-naccept", "1", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(dir.join("server-ec.crt"))
        .arg("-key")
        .arg(dir.join("server-ec.key"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl (installed by `bash ../shared/peers/mail-servers.sh up`)");
    let _guard = KillOnDrop(child);
    let mut tcp = None;
    for _ in 0..100 {
        if let Ok(t) = connect_tcp("127.0.0.1", port, TIMEOUT).await {
            tcp = Some(t);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let tcp = tcp.expect("openssl s_server did not start");
    let ca = peers.ca("MAILPEERS_CA_CERT");
    let anchors = ca.anchors();
    let (mut rx, mut tx) = (vec![0; 16_640], vec![0; 4096]);
    let result = postwire_tls::connect(
        tcp,
        "localhost",
        &Trust::Anchors(&anchors),
        os_rng(),
        &mut rx,
        &mut tx,
    )
    .await;
    let err = result.err().expect("TLS 1.2 server must be refused");
    eprintln!("TLS 1.2-only server: {err:?}");
    assert!(matches!(err, TlsError::ProtocolVersion), "{err:?}");
}

#[tokio::test]
async fn ca_files_load_as_pem_and_der() {
    let Some(peers) = Peers::load() else { return };
    assert_eq!(peers.ca("MAILPEERS_CA_CERT").len(), 2);
    let pem = peers.ca("MAILPEERS_CA_CERT_EC");
    let der = peers.ca("MAILPEERS_CA_CERT_EC_DER");
    assert_eq!(pem.certs(), der.certs());
    let err = CaSet::from_file("/nonexistent/ca.pem").expect_err("missing file");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}

#[tokio::test]
async fn anchor_order_does_not_matter() {
    let Some(peers) = Peers::load() else { return };
    let ec = peers.ca("MAILPEERS_CA_CERT_EC_DER");
    let rsa = peers.ca("MAILPEERS_CA_CERT_RSA_DER");
    // ECDSA CA first: found by the first trial, then verified for real.
    let anchors = [ec.certs()[0].as_slice(), rsa.certs()[0].as_slice()];
    let trust = Trust::Anchors(&anchors);
    let mut provider = Provider::<_, SystemClock>::new(os_rng(), &trust);
    let (mut rx, mut tx) = (vec![0; 16_640], vec![0; 4096]);
    let tcp = peers.tcp("MAILPEERS_SUBMISSIONS_PORT").await;
    let mut tls =
        postwire_tls::connect_with_provider(tcp, "localhost", &mut provider, &mut rx, &mut tx)
            .await
            .expect("handshake");
    assert!(read_line(&mut tls).await.starts_with("220 "));
    drop(tls);
    assert_eq!(provider.verifier().verified_anchor(), Some(0));
    assert_eq!(provider.verifier().trusted_by(), Some(TrustedBy::Anchor(0)));
    // RSA CA first: the ECDSA CA (second) verifies.
    let anchors = [rsa.certs()[0].as_slice(), ec.certs()[0].as_slice()];
    let trust = Trust::Anchors(&anchors);
    let mut provider = Provider::<_, SystemClock>::new(os_rng(), &trust);
    let tcp = peers.tcp("MAILPEERS_SUBMISSIONS_PORT").await;
    let mut tls =
        postwire_tls::connect_with_provider(tcp, "localhost", &mut provider, &mut rx, &mut tx)
            .await
            .expect("handshake");
    assert!(read_line(&mut tls).await.starts_with("220 "));
    drop(tls);
    assert_eq!(provider.verifier().verified_anchor(), Some(1));
}

/// The peers' certificate files, as DER.
fn cert_file(peers: &Peers, var: &str) -> Vec<u8> {
    let set = peers.ca(var);
    assert_eq!(set.len(), 1, "{var}: one certificate");
    set.certs()[0].clone()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[tokio::test]
async fn rsa_and_ecdsa_server_certificate_files_verify() {
    // Both server certificate files verified directly, as the handshake would: chain, name and
    // validity against the system clock (the handshakes that reach each chain are in
    // `sigalgs_selection_reaches_each_chain`).
    let Some(peers) = Peers::load() else { return };
    for (cert_var, ca_var, other_ca_var) in [
        (
            "MAILPEERS_SERVER_CERT_RSA",
            "MAILPEERS_CA_CERT_RSA",
            "MAILPEERS_CA_CERT_EC",
        ),
        (
            "MAILPEERS_SERVER_CERT_EC",
            "MAILPEERS_CA_CERT_EC",
            "MAILPEERS_CA_CERT_RSA",
        ),
    ] {
        let leaf = cert_file(&peers, cert_var);
        let ca = peers.ca(ca_var);
        let anchors = ca.anchors();
        let trust = Trust::Anchors(&anchors);
        for name in [
            "localhost",
            "mail.example.test",
            "example.test",
            "127.0.0.1",
            "::1",
        ] {
            for time in [Time::Now(unix_now()), Time::NoClock] {
                let result = verify_server_chain(&[&leaf], name, &trust, time);
                assert!(
                    matches!(result, Ok(TrustedBy::Anchor(0))),
                    "{cert_var} {name} {time:?}: {result:?}"
                );
            }
        }
        let result = verify_server_chain(&[&leaf], "other.example", &trust, Time::Now(unix_now()));
        assert!(
            matches!(result, Err(TlsError::HostnameMismatch)),
            "{cert_var}: {result:?}"
        );
        // Against the other CA, and against both (bundle order RSA, ECDSA).
        let other = peers.ca(other_ca_var);
        let other_anchors = other.anchors();
        let result = verify_server_chain(
            &[&leaf],
            "localhost",
            &Trust::Anchors(&other_anchors),
            Time::Now(unix_now()),
        );
        assert!(
            matches!(
                result,
                Err(TlsError::CertificateInvalid(CertError::UnknownIssuer))
            ),
            "{cert_var}: {result:?}"
        );
        let bundle = peers.ca("MAILPEERS_CA_CERT");
        let bundle_anchors = bundle.anchors();
        let result = verify_server_chain(
            &[&leaf],
            "localhost",
            &Trust::Anchors(&bundle_anchors),
            Time::Now(unix_now()),
        );
        let expected = if cert_var.ends_with("RSA") { 0 } else { 1 };
        assert!(
            matches!(result, Ok(TrustedBy::Anchor(i)) if i == expected),
            "{cert_var}: {result:?}"
        );
        // A certificate used as its own anchor is not a CA: refused.
        let result = verify_server_chain(
            &[&leaf],
            "localhost",
            &Trust::Anchors(&[&leaf]),
            Time::Now(unix_now()),
        );
        assert!(result.is_err(), "{cert_var}: {result:?}");
    }
}

#[tokio::test]
async fn spki_pinning_in_a_real_handshake() {
    let Some(peers) = Peers::load() else { return };
    let ec_pin =
        postwire_tls::spki_sha256(&cert_file(&peers, "MAILPEERS_SERVER_CERT_EC")).expect("pin");
    let rsa_pin =
        postwire_tls::spki_sha256(&cert_file(&peers, "MAILPEERS_SERVER_CERT_RSA")).expect("pin");
    // The ECDSA key is pinned: the handshake works (CertificateVerify checked with that key).
    let pins = [rsa_pin, ec_pin];
    let trust = Trust::Pinned(&pins);
    let mut provider = Provider::<_, SystemClock>::new(os_rng(), &trust);
    let (mut rx, mut tx) = (vec![0; 16_640], vec![0; 4096]);
    let tcp = peers.tcp("MAILPEERS_IMAPS_PORT").await;
    let mut tls =
        postwire_tls::connect_with_provider(tcp, "localhost", &mut provider, &mut rx, &mut tx)
            .await
            .expect("pinned handshake");
    assert!(read_line(&mut tls).await.starts_with("* OK"));
    drop(tls);
    assert_eq!(provider.verifier().trusted_by(), Some(TrustedBy::Pin(1)));
    // Only the RSA key pinned: the server (which uses its ECDSA key) is refused before any
    // application data.
    let mut transport = Recording {
        inner: peers.tcp("MAILPEERS_IMAPS_PORT").await,
        written: Vec::new(),
    };
    let result = postwire_tls::connect(
        &mut transport,
        "localhost",
        &Trust::Pinned(&[rsa_pin]),
        os_rng(),
        &mut rx,
        &mut tx,
    )
    .await;
    assert!(
        matches!(
            result,
            Err(TlsError::CertificateInvalid(CertError::NotPinned))
        ),
        "{:?}",
        result.err()
    );
    assert_eq!(record_types(&transport.written), [22]);
}

#[tokio::test]
async fn postwire_send_with_wrong_ca_sends_no_credentials() {
    use postwire_host_sim::send::{SendRequest, send};
    let Some(peers) = Peers::load() else { return };
    for (scheme, port_var) in [
        ("smtps", "MAILPEERS_SUBMISSIONS_PORT"),
        ("smtp", "MAILPEERS_SUBMISSION_PORT"),
    ] {
        let proxy = postwire_tests::RoundTripProxy::start(peers.host(), peers.port(port_var)).await;
        let req = SendRequest {
            server: format!("{scheme}://127.0.0.1:{}", proxy.port)
                .parse()
                .expect("URL"),
            tls_name: Some("localhost".to_string()),
            ca: Some(peers.ca("MAILPEERS_CA_CERT_RSA")),
            insecure: false,
            sigalgs: postwire_tls::SigAlgs::ALL,
            credentials: Some(("alice".to_string(), "alice-pw".to_string())),
            mechanism: None,
            allow_plaintext: false,
            from: "alice@example.test".to_string(),
            recipients: vec!["bob@example.test".to_string()],
            message: b"Subject: must not be sent\r\n\r\nbody\r\n".to_vec(),
            eight_bit: false,
            timeout: TIMEOUT,
            client_domain: "client.example.test".to_string(),
        };
        let err = send(&req).await.expect_err("wrong CA must fail");
        assert_eq!(err.stage, "TLS handshake", "{scheme}: {err:?}");
        assert!(err.message.contains("unknown CA"), "{scheme}: {err:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        // What reached the server: for STARTTLS the plain EHLO/STARTTLS dialogue, then only
        // TLS handshake records (the ClientHello); no credentials, no encrypted data.
        let received = proxy.client_bytes();
        let tls_start = if scheme == "smtp" {
            let text = String::from_utf8_lossy(&received);
            let at = text.find("STARTTLS\r\n").expect("STARTTLS sent") + "STARTTLS\r\n".len();
            assert!(!text[..at].contains("AUTH"), "{text}");
            at
        } else {
            0
        };
        assert_eq!(record_types(&received[tls_start..]), [22], "{scheme}");
        let text = String::from_utf8_lossy(&received);
        for secret in ["alice-pw", "YWxpY2UtcHc", "AGFsaWNlAGFsaWNlLXB3"] {
            assert!(!text.contains(secret), "{scheme}: {secret} sent");
        }
    }
}

/// Starts `openssl s_server` (TLS 1.3 only, one connection) with the peers' `cert`/`key` files
/// and the server signature algorithms `sigalgs`, and connects to it.
async fn openssl_tls13_server(
    peers: &Peers,
    cert: &str,
    key: &str,
    sigalgs: &str,
) -> (KillOnDrop, TcpTransport) {
    let dir = PathBuf::from(peers.get("MAILPEERS_CA_CERT"))
        .parent()
        .expect("tls dir")
        .to_path_buf();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = std::process::Command::new("openssl")
        .args(["s_server", "-quiet", "-tls1_3", "-naccept", "1", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(dir.join(cert))
        .arg("-key")
        .arg(dir.join(key))
        .args(["-sigalgs", sigalgs])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl (installed by `bash ../shared/peers/mail-servers.sh up`)");
    let guard = KillOnDrop(child);
    for _ in 0..100 {
        if let Ok(t) = connect_tcp("127.0.0.1", port, TIMEOUT).await {
            return (guard, t);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("openssl s_server did not start");
}

#[tokio::test]
async fn rsa_chain_in_a_real_handshake() {
    // The peers' RSA certificate served alone (openssl s_server, TLS 1.3), so that the
    // server has to sign its CertificateVerify with RSA-PSS: the whole RSA path of a
    // handshake (chain signed sha256WithRSAEncryption, rsa_pss_rsae_* CertificateVerify).
    let Some(peers) = Peers::load() else { return };
    let rsa_ca = peers.ca("MAILPEERS_CA_CERT_RSA");
    let rsa_anchors = rsa_ca.anchors();
    let trust = Trust::Anchors(&rsa_anchors);
    for sigalgs in [
        "rsa_pss_rsae_sha256",
        "rsa_pss_rsae_sha384",
        "rsa_pss_rsae_sha512",
    ] {
        let (_server, tcp) =
            openssl_tls13_server(&peers, "server-rsa.crt", "server-rsa.key", sigalgs).await;
        let mut provider = Provider::<_, SystemClock>::new(os_rng(), &trust);
        let (mut rx, mut tx) = (vec![0; 16_640], vec![0; 4096]);
        let result =
            postwire_tls::connect_with_provider(tcp, "localhost", &mut provider, &mut rx, &mut tx)
                .await;
        assert!(result.is_ok(), "{sigalgs}: {:?}", result.err());
        drop(result);
        assert_eq!(
            provider.verifier().trusted_by(),
            Some(TrustedBy::Anchor(0)),
            "{sigalgs}"
        );
    }
    // The same server with the ECDSA CA as anchor: refused.
    let ec_ca = peers.ca("MAILPEERS_CA_CERT_EC");
    let ec_anchors = ec_ca.anchors();
    let (_server, tcp) = openssl_tls13_server(
        &peers,
        "server-rsa.crt",
        "server-rsa.key",
        "rsa_pss_rsae_sha256",
    )
    .await;
    let (mut rx, mut tx) = (vec![0; 16_640], vec![0; 4096]);
    let result = postwire_tls::connect(
        tcp,
        "localhost",
        &Trust::Anchors(&ec_anchors),
        os_rng(),
        &mut rx,
        &mut tx,
    )
    .await;
    assert!(
        matches!(
            result,
            Err(TlsError::CertificateInvalid(CertError::UnknownIssuer))
        ),
        "{:?}",
        result.err()
    );
}

#[tokio::test]
async fn postwire_send_without_ca_uses_the_default_roots() {
    use postwire_host_sim::send::{SendRequest, send};
    let Some(peers) = Peers::load() else { return };
    // The default trust store is Mozilla's roots, not "trust anything".
    let Trust::Roots(roots) = postwire_host_sim::tls::default_trust() else {
        panic!("default trust is not a root store");
    };
    assert!(roots.len() > 100, "{} roots", roots.len());
    // The peers' private CA is not among them: refused before any credential is sent.
    let proxy = postwire_tests::RoundTripProxy::start(
        peers.host(),
        peers.port("MAILPEERS_SUBMISSIONS_PORT"),
    )
    .await;
    let req = SendRequest {
        server: format!("smtps://127.0.0.1:{}", proxy.port)
            .parse()
            .expect("URL"),
        tls_name: Some("localhost".to_string()),
        ca: None,
        insecure: false,
        sigalgs: postwire_tls::SigAlgs::ALL,
        credentials: Some(("alice".to_string(), "alice-pw".to_string())),
        mechanism: None,
        allow_plaintext: false,
        from: "alice@example.test".to_string(),
        recipients: vec!["bob@example.test".to_string()],
        message: b"Subject: must not be sent\r\n\r\nbody\r\n".to_vec(),
        eight_bit: false,
        timeout: TIMEOUT,
        client_domain: "client.example.test".to_string(),
    };
    let err = send(&req).await.expect_err("untrusted CA must fail");
    assert_eq!(err.stage, "TLS handshake", "{err:?}");
    assert!(err.message.contains("unknown CA"), "{err:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(record_types(&proxy.client_bytes()), [22]);
    // The same with the chain-verification entry point.
    let leaf = cert_file(&peers, "MAILPEERS_SERVER_CERT_EC");
    let result = verify_server_chain(
        &[&leaf],
        "localhost",
        &postwire_host_sim::tls::default_trust(),
        Time::Now(unix_now()),
    );
    assert!(
        matches!(
            result,
            Err(TlsError::CertificateInvalid(CertError::UnknownIssuer))
        ),
        "{result:?}"
    );
}

/// The signature schemes of the ClientHello among the bytes a client sent (the first TLS
/// record), without GREASE values.
fn offered_schemes(client_bytes: &[u8]) -> Vec<u16> {
    let record = &client_bytes[5..];
    let mut i = 4 + 2 + 32;
    i += 1 + record[i] as usize;
    i += 2 + u16::from_be_bytes([record[i], record[i + 1]]) as usize;
    i += 1 + record[i] as usize;
    let end = i + 2 + u16::from_be_bytes([record[i], record[i + 1]]) as usize;
    i += 2;
    while i < end {
        let kind = u16::from_be_bytes([record[i], record[i + 1]]);
        let len = u16::from_be_bytes([record[i + 2], record[i + 3]]) as usize;
        if kind == 13 {
            return record[i + 6..i + 4 + len]
                .chunks(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .filter(|s| postwire_tls::SigAlgs::of_scheme(*s).is_some())
                .collect();
        }
        i += 4 + len;
    }
    panic!("no signature_algorithms extension");
}

/// A selection of signature schemes (`--sigalgs`) is what goes on the wire, the server answers
/// with the chain it selects, and the handshake completes (the transcript matches the edited
/// ClientHello): RSA only gives the RSA chain, ECDSA only the ECDSA chain.
#[tokio::test]
async fn sigalgs_selection_reaches_each_chain() {
    use postwire_tls::SigAlgs;
    let Some(peers) = Peers::load() else { return };
    let rsa = peers.ca("MAILPEERS_CA_CERT_RSA_DER");
    let ec = peers.ca("MAILPEERS_CA_CERT_EC_DER");
    let anchors = [rsa.certs()[0].as_slice(), ec.certs()[0].as_slice()];
    let trust = Trust::Anchors(&anchors);
    let (mut rx, mut tx) = (vec![0; 16_640], vec![0; 4096]);
    for port_var in ["MAILPEERS_SUBMISSIONS_PORT", "MAILPEERS_IMAPS_PORT"] {
        let proxy = postwire_tests::RoundTripProxy::start(peers.host(), peers.port(port_var)).await;
        let tcp = connect_tcp("127.0.0.1", proxy.port, TIMEOUT).await.unwrap();
        let mut provider =
            Provider::<_, SystemClock, { SigAlgs::RSA.bits() }>::new(os_rng(), &trust);
        let mut tls =
            postwire_tls::connect_with_provider(tcp, "localhost", &mut provider, &mut rx, &mut tx)
                .await
                .expect("RSA-only handshake");
        let greeting = read_line(&mut tls).await;
        assert!(
            greeting.starts_with("220 ") || greeting.starts_with("* OK"),
            "{greeting}"
        );
        drop(tls);
        assert_eq!(
            provider.verifier().trusted_by(),
            Some(TrustedBy::Anchor(0)),
            "{port_var}"
        );
        let offered = offered_schemes(&proxy.client_bytes());
        assert!(!offered.is_empty());
        assert!(
            offered
                .iter()
                .all(|s| SigAlgs::of_scheme(*s) == Some(SigAlgs::RSA)),
            "{offered:04x?}"
        );

        let proxy = postwire_tests::RoundTripProxy::start(peers.host(), peers.port(port_var)).await;
        let tcp = connect_tcp("127.0.0.1", proxy.port, TIMEOUT).await.unwrap();
        let mut provider =
            Provider::<_, SystemClock, { SigAlgs::ECDSA.bits() }>::new(os_rng(), &trust);
        let mut tls =
            postwire_tls::connect_with_provider(tcp, "localhost", &mut provider, &mut rx, &mut tx)
                .await
                .expect("ECDSA-only handshake");
        let _ = read_line(&mut tls).await;
        drop(tls);
        assert_eq!(
            provider.verifier().trusted_by(),
            Some(TrustedBy::Anchor(1)),
            "{port_var}"
        );
        let offered = offered_schemes(&proxy.client_bytes());
        assert_eq!(offered, [0x0403, 0x0503], "{offered:04x?}");
    }
}
