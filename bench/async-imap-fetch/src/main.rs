//! `async-imap-fetch`: fetch one message over IMAPS (implicit TLS) with the `async-imap` crate
//! and write it to a file, for comparing memory and speed with `postwire imap ... fetch
//! --body-to FILE` (see `scripts/imap-fetch-rss.sh`).
//!
//! ```text
//! async-imap-fetch --host HOST --port PORT --ca FILE --user NAME --password-env VAR
//!                  --uid UID --out FILE [--mailbox NAME] [--tls-name NAME] [--timeout SECS]
//! ```
//!
//! It connects, verifies the server certificate against the CA file (PEM, one or more
//! certificates), reads the greeting, logs in with LOGIN, SELECTs the mailbox (INBOX by
//! default), sends `UID FETCH <uid> BODY.PEEK[]`, writes the returned bytes unchanged to the
//! output file and logs out. On success it prints one JSON line to standard output:
//! `{"bytes":N,"seconds":S,"mb_per_s":X}`, where `seconds` runs from before the TCP connect
//! to after the file is written (connect, TLS handshake, login, select, fetch, write; not the
//! logout) and `mb_per_s` is `bytes / seconds / 1e6`. Errors go to standard error with exit
//! status 1 (2 for bad usage).

use std::net::IpAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

const USAGE: &str = "usage: async-imap-fetch --host HOST --port PORT --ca FILE --user NAME \
--password-env VAR --uid UID --out FILE [--mailbox NAME] [--tls-name NAME] [--timeout SECS]";

struct Args {
    host: String,
    port: u16,
    ca: String,
    user: String,
    password_env: String,
    uid: u32,
    out: String,
    mailbox: String,
    tls_name: Option<String>,
    timeout: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut host = None;
    let mut port = None;
    let mut ca = None;
    let mut user = None;
    let mut password_env = None;
    let mut uid = None;
    let mut out = None;
    let mut mailbox = String::from("INBOX");
    let mut tls_name = None;
    let mut timeout = Duration::from_secs(120);

    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--host" => host = Some(value),
            "--port" => port = Some(value.parse::<u16>().map_err(|e| format!("--port: {e}"))?),
            "--ca" => ca = Some(value),
            "--user" => user = Some(value),
            "--password-env" => password_env = Some(value),
            "--uid" => {
                let n = value.parse::<u32>().map_err(|e| format!("--uid: {e}"))?;
                if n == 0 {
                    return Err("--uid: must be at least 1".into());
                }
                uid = Some(n);
            }
            "--out" => out = Some(value),
            "--mailbox" => mailbox = value,
            "--tls-name" => tls_name = Some(value),
            "--timeout" => {
                let secs = value
                    .parse::<u64>()
                    .map_err(|e| format!("--timeout: {e}"))?;
                timeout = Duration::from_secs(secs);
            }
            other => return Err(format!("unknown option {other}")),
        }
    }
    let need = |v: Option<String>, name: &str| v.ok_or_else(|| format!("{name} is required"));
    Ok(Args {
        host: need(host, "--host")?,
        port: port.ok_or("--port is required")?,
        ca: need(ca, "--ca")?,
        user: need(user, "--user")?,
        password_env: need(password_env, "--password-env")?,
        uid: uid.ok_or("--uid is required")?,
        out: need(out, "--out")?,
        mailbox,
        tls_name,
        timeout,
    })
}

fn tls_connector(ca_file: &str) -> Result<TlsConnector, String> {
    let mut roots = RootCertStore::empty();
    let certs =
        CertificateDer::pem_file_iter(ca_file).map_err(|e| format!("--ca {ca_file}: {e}"))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("--ca {ca_file}: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("--ca {ca_file}: unusable certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("--ca {ca_file}: no certificate in the file"));
    }
    let config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Everything from the TCP connect to the written file. Returns the number of bytes written
/// and the time it took.
async fn fetch(args: &Args, password: &str) -> Result<(usize, Duration), String> {
    let connector = tls_connector(&args.ca)?;
    let name_text = args.tls_name.clone().unwrap_or_else(|| args.host.clone());
    let server_name = match name_text.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(name_text.clone())
            .map_err(|e| format!("bad TLS name {name_text:?}: {e}"))?,
    };

    let start = Instant::now();
    let tcp = TcpStream::connect((args.host.as_str(), args.port))
        .await
        .map_err(|e| format!("connect {}:{}: {e}", args.host, args.port))?;
    tcp.set_nodelay(true)
        .map_err(|e| format!("set_nodelay: {e}"))?;
    let tls = connector
        .connect(server_name, tcp)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))?;

    let mut client = async_imap::Client::new(tls);
    client
        .read_response()
        .await
        .map_err(|e| format!("reading the greeting: {e}"))?
        .ok_or("connection closed before the greeting")?;
    let mut session = client
        .login(&args.user, password)
        .await
        .map_err(|(e, _)| format!("LOGIN: {e}"))?;
    session
        .select(&args.mailbox)
        .await
        .map_err(|e| format!("SELECT {}: {e}", args.mailbox))?;

    let written = {
        let mut fetches = session
            .uid_fetch(args.uid.to_string(), "BODY.PEEK[]")
            .await
            .map_err(|e| format!("UID FETCH: {e}"))?;
        let mut written = None;
        while let Some(item) = fetches
            .try_next()
            .await
            .map_err(|e| format!("UID FETCH: {e}"))?
        {
            // Unsolicited FETCH responses (flag changes by other clients) carry no body.
            if let Some(body) = item.body() {
                if item.uid.is_some_and(|u| u != args.uid) {
                    continue;
                }
                if written.is_some() {
                    return Err(format!(
                        "UID FETCH {}: more than one body returned",
                        args.uid
                    ));
                }
                std::fs::write(&args.out, body)
                    .map_err(|e| format!("writing {}: {e}", args.out))?;
                written = Some(body.len());
            }
        }
        written.ok_or_else(|| {
            format!(
                "UID FETCH {}: no such message in {}",
                args.uid, args.mailbox
            )
        })?
    };
    let elapsed = start.elapsed();

    session.logout().await.map_err(|e| format!("LOGOUT: {e}"))?;
    Ok((written, elapsed))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("async-imap-fetch: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let password = match std::env::var(&args.password_env) {
        Ok(p) => p,
        Err(_) => {
            eprintln!(
                "async-imap-fetch: environment variable {} is not set",
                args.password_env
            );
            return ExitCode::from(2);
        }
    };

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("async-imap-fetch: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        tokio::time::timeout(args.timeout, fetch(&args, &password))
            .await
            .unwrap_or_else(|_| Err(format!("timed out after {} s", args.timeout.as_secs())))
    });
    match result {
        Ok((bytes, elapsed)) => {
            let secs = elapsed.as_secs_f64();
            let mb_per_s = if secs > 0.0 {
                bytes as f64 / secs / 1e6
            } else {
                0.0
            };
            println!("{{\"bytes\":{bytes},\"seconds\":{secs:.6},\"mb_per_s\":{mb_per_s:.3}}}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("async-imap-fetch: {e}");
            ExitCode::FAILURE
        }
    }
}
