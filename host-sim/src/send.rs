//! `postwire send` as a library function: connect (plain, STARTTLS or implicit TLS), greet,
//! authenticate, send one message, quit — the same `postwire-smtp` client code a firmware runs,
//! over host sockets.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use embedded_io_async::{Read, Write};
use postwire_core::sasl::{Credentials, Mechanism};
use postwire_smtp::client::{
    Buffers, Client, ClientConfig, Envelope, Error, RecipientStatus, Timeouts,
};
use postwire_tls::Trust;

use crate::net::{TokioDelay, connect_tcp};
use crate::tls::{CaSet, ConnectError, TlsBuffers, start_tls_offering};
use postwire_tls::SigAlgs;

pub use crate::net::Security;

/// A parsed `--server` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrl {
    /// `smtps` → [`Security::Implicit`], `smtp` → [`Security::StartTls`].
    pub security: Security,
    /// Host name or IP address (without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl FromStr for ServerUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (security, host, port) =
            crate::net::parse_server_url(s, ("smtps", 465), ("smtp", 587))?;
        Ok(ServerUrl {
            security,
            host,
            port,
        })
    }
}

/// Everything one send needs.
pub struct SendRequest {
    /// Where to connect.
    pub server: ServerUrl,
    /// The name to verify the certificate against (default: the URL's host).
    pub tls_name: Option<String>,
    /// Trust anchors for certificate verification.
    pub ca: Option<CaSet>,
    /// Skip certificate verification (must be asked for explicitly).
    pub insecure: bool,
    /// The signature schemes offered in the TLS handshake (`--sigalgs`; default: all).
    pub sigalgs: SigAlgs,
    /// User name and password, if the server wants AUTH.
    pub credentials: Option<(String, String)>,
    /// Force a SASL mechanism.
    pub mechanism: Option<Mechanism>,
    /// Allow credentials over an unencrypted connection.
    pub allow_plaintext: bool,
    /// Envelope sender.
    pub from: String,
    /// Envelope recipients (To, Cc and Bcc).
    pub recipients: Vec<String>,
    /// The message (headers and body).
    pub message: Vec<u8>,
    /// Whether the message has 8-bit bytes.
    pub eight_bit: bool,
    /// Timeout of each network wait.
    pub timeout: Duration,
    /// EHLO name.
    pub client_domain: String,
}

/// A delivered message.
#[derive(Debug)]
pub struct SendSuccess {
    /// Recipients the server accepted.
    pub accepted: Vec<String>,
    /// Recipients it refused, with code, enhanced code and text.
    pub refused: Vec<(String, String)>,
    /// The server's final reply (code and text, e.g. the queue id).
    pub reply: String,
}

/// Why a send failed: the stage and one human-readable line.
#[derive(Debug)]
pub struct SendFailure {
    /// The stage: `connect`, `TLS handshake`, `greeting`, `EHLO`, `STARTTLS`, `AUTH`,
    /// `MAIL FROM`, `RCPT TO`, `DATA`, `end of message data`, ...
    pub stage: String,
    /// What went wrong, with the server's code and text when it refused.
    pub message: String,
    /// Recipients refused before the failure.
    pub refused: Vec<(String, String)>,
}

impl fmt::Display for SendFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.stage, self.message)
    }
}

impl std::error::Error for SendFailure {}

fn failure(stage: impl Into<String>, message: impl Into<String>) -> SendFailure {
    SendFailure {
        stage: stage.into(),
        message: message.into(),
        refused: Vec::new(),
    }
}

/// Server text made printable: control characters escaped.
pub fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

fn describe<T, E: fmt::Debug>(client: &Client<'_, T, TokioDelay>, e: &Error<E>) -> SendFailure
where
    T: Read + Write,
{
    let text = printable(client.last_reply_text());
    let stage = e
        .stage()
        .map_or_else(|| "SMTP".to_string(), |s| s.name().to_string());
    let message = match e {
        Error::Rejected(r) => format!("server replied {} {text}", r.code.value()),
        Error::NoRecipientsAccepted => {
            let first = printable(client.session().first_refusal_text());
            return SendFailure {
                stage: "RCPT TO".into(),
                message: format!(
                    "no recipient was accepted, nothing was sent (first refusal: {first})"
                ),
                refused: Vec::new(),
            };
        }
        other => other.to_string(),
    };
    SendFailure {
        stage,
        message,
        refused: Vec::new(),
    }
}

fn tls_failure(e: ConnectError, name: &str) -> SendFailure {
    match e {
        ConnectError::Tcp(e) => failure("connect", e.to_string()),
        ConnectError::Timeout => failure("TLS handshake", "timed out"),
        ConnectError::Tls(t) => failure("TLS handshake", format!("with {name}: {t}")),
    }
}

/// Sends one message as described by `req`.
pub async fn send(req: &SendRequest) -> Result<SendSuccess, SendFailure> {
    let mut security = req.server.security;
    if req.allow_plaintext && security == Security::StartTls {
        security = Security::Plain;
    }
    let name = req
        .tls_name
        .clone()
        .unwrap_or_else(|| req.server.host.clone());
    let anchors: Vec<&[u8]> = req.ca.as_ref().map(|c| c.anchors()).unwrap_or_default();
    let trust = if req.insecure {
        Trust::Insecure
    } else if anchors.is_empty() {
        // No --ca: the default trust store (Mozilla's roots), never "trust anything".
        crate::tls::default_trust()
    } else {
        Trust::Anchors(&anchors)
    };
    let mut rx = vec![0u8; 2048];
    let mut tx = vec![0u8; 16 * 1024];
    let config = ClientConfig {
        client_domain: &req.client_domain,
        timeouts: Timeouts::uniform(u32::try_from(req.timeout.as_millis()).unwrap_or(u32::MAX)),
        allow_plaintext_auth: req.allow_plaintext,
        sasl_initial_response: true,
    };
    let mut tls_bufs = TlsBuffers::new();
    let tcp = connect_tcp(&req.server.host, req.server.port, req.timeout)
        .await
        .map_err(|e| failure("connect", e.to_string()))?;
    match security {
        Security::Implicit => {
            let tls =
                start_tls_offering(tcp, &name, &trust, req.sigalgs, req.timeout, &mut tls_bufs)
                    .await
                    .map_err(|e| tls_failure(e, &name))?;
            let mut client = Client::new(
                tls,
                TokioDelay,
                Buffers {
                    rx: &mut rx,
                    tx: &mut tx,
                },
                config,
            );
            client.set_implicit_tls();
            client.greet().await.map_err(|e| describe(&client, &e))?;
            transact(&mut client, req).await
        }
        Security::Plain => {
            let mut client = Client::new(
                tcp,
                TokioDelay,
                Buffers {
                    rx: &mut rx,
                    tx: &mut tx,
                },
                config,
            );
            client.greet().await.map_err(|e| describe(&client, &e))?;
            transact(&mut client, req).await
        }
        Security::StartTls => {
            let mut client = Client::new(
                tcp,
                TokioDelay,
                Buffers {
                    rx: &mut rx,
                    tx: &mut tx,
                },
                config,
            );
            client.greet().await.map_err(|e| describe(&client, &e))?;
            client.starttls().await.map_err(|e| describe(&client, &e))?;
            let (plain, pending) = client
                .into_starttls()
                .map_err(|_| failure("STARTTLS", "the server did not accept STARTTLS"))?;
            let tls = start_tls_offering(
                plain,
                &name,
                &trust,
                req.sigalgs,
                req.timeout,
                &mut tls_bufs,
            )
            .await
            .map_err(|e| tls_failure(e, &name))?;
            let mut client = pending.resume(tls);
            client.ehlo().await.map_err(|e| describe(&client, &e))?;
            transact(&mut client, req).await
        }
    }
}

async fn transact<T: Read + Write>(
    client: &mut Client<'_, T, TokioDelay>,
    req: &SendRequest,
) -> Result<SendSuccess, SendFailure>
where
    T::Error: fmt::Debug,
{
    if let Some((user, password)) = &req.credentials {
        let creds = Credentials::new(user, password);
        client
            .authenticate(&creds, req.mechanism)
            .await
            .map_err(|e| describe(client, &e))?;
    }
    let to: Vec<&str> = req.recipients.iter().map(String::as_str).collect();
    let mut status = vec![RecipientStatus::NotSent; to.len()];
    let envelope = Envelope {
        from: &req.from,
        to: &to,
        size: Some(req.message.len() as u64),
        eight_bit: req.eight_bit,
    };
    let result = client
        .send_and_quit(&envelope, &req.message[..], &mut status)
        .await;
    let refused: Vec<(String, String)> = to
        .iter()
        .zip(&status)
        .filter_map(|(a, s)| match s {
            RecipientStatus::Refused(r) => Some((
                (*a).to_string(),
                format!(
                    "{}{}",
                    r.code.value(),
                    r.enhanced.map(|e| format!(" {e}")).unwrap_or_default()
                ),
            )),
            _ => None,
        })
        .collect();
    match result {
        Ok(report) => Ok(SendSuccess {
            accepted: to
                .iter()
                .zip(&status)
                .filter(|(_, s)| **s == RecipientStatus::Accepted)
                .map(|(a, _)| (*a).to_string())
                .collect(),
            refused,
            reply: format!(
                "{} {}",
                report.code.value(),
                printable(client.message_reply_text())
            ),
        }),
        Err(e) => {
            let mut f = describe(client, &e);
            f.refused = refused;
            Err(f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u: ServerUrl = "smtps://127.0.0.1:10465".parse().unwrap();
        assert_eq!(
            (u.security, u.host.as_str(), u.port),
            (Security::Implicit, "127.0.0.1", 10465)
        );
        let u: ServerUrl = "smtp://[::1]:10587".parse().unwrap();
        assert_eq!(
            (u.security, u.host.as_str(), u.port),
            (Security::StartTls, "::1", 10587)
        );
        let u: ServerUrl = "smtp://mail.example.com".parse().unwrap();
        assert_eq!(u.port, 587);
        assert!("imap://x".parse::<ServerUrl>().is_err());
        assert!("smtp://x:notaport".parse::<ServerUrl>().is_err());
    }
}
