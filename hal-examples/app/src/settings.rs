//! What the device is configured with.

use postwire_tls::Trust;

/// How a connection is secured. There is no plain-text mode: credentials always travel
/// inside TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (RFC 8314; ports 465, 993, 995). Preferred.
    Implicit,
    /// Plain connection upgraded with STARTTLS / STLS before anything else (ports 587, 143,
    /// 110). Required: a server that does not offer it is an error, never a fallback.
    StartTls,
}

/// A server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint<'a> {
    /// Host name or IP address handed to [`Net::connect`](crate::Net::connect).
    pub host: &'a str,
    /// TCP port.
    pub port: u16,
    /// Implicit TLS or STARTTLS.
    pub security: Security,
    /// The name the certificate must be valid for (also sent as SNI); `None`: `host`.
    pub server_name: Option<&'a str>,
}

impl<'a> Endpoint<'a> {
    /// An endpoint whose certificate is checked for `host`.
    pub const fn new(host: &'a str, port: u16, security: Security) -> Self {
        Endpoint {
            host,
            port,
            security,
            server_name: None,
        }
    }

    /// The TLS server name.
    pub fn tls_name(&self) -> &'a str {
        self.server_name.unwrap_or(self.host)
    }
}

/// Network waits, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect.
    pub connect_ms: u32,
    /// TLS handshake.
    pub tls_ms: u32,
    /// Greeting, each command's response, each write (inactivity: a long download is fine
    /// while bytes arrive).
    pub command_ms: u32,
    /// The SMTP server's verdict after the message data.
    pub data_end_ms: u32,
    /// The longest IDLE before the IMAP job looks again on its own (and the server sees
    /// the connection alive). Also the IDLE refresh interval.
    pub idle_ms: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect_ms: 15_000,
            tls_ms: 20_000,
            command_ms: 30_000,
            data_end_ms: 120_000,
            idle_ms: 10 * 60 * 1000,
        }
    }
}

/// The device's settings.
///
/// ```
/// use postwire_app::{Endpoint, Security, Settings, Trust};
/// static CA: &[u8] = &[]; // DER of the CA certificate
/// static ANCHORS: &[&[u8]] = &[CA];
/// let s = Settings {
///     imap: Some(Endpoint::new("mail.example.com", 993, Security::Implicit)),
///     alert_to: &["ops@example.com"],
///     allowed_senders: &["ops@example.com"],
///     ..Settings::new(
///         Endpoint::new("mail.example.com", 465, Security::Implicit),
///         Trust::Anchors(ANCHORS),
///         "sensor-7@example.com",
///         "secret",
///         "sensor-7@example.com",
///     )
/// };
/// assert_eq!(s.command_folder, "INBOX");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Settings<'a> {
    /// Submission server (alerts and replies).
    pub smtp: Endpoint<'a>,
    /// IMAP server of the command mailbox ([`App::serve_imap`](crate::App::serve_imap)).
    pub imap: Option<Endpoint<'a>>,
    /// POP3 server of the command mailbox ([`App::poll_pop3`](crate::App::poll_pop3)).
    pub pop3: Option<Endpoint<'a>>,
    /// Whom to trust for every server's certificate.
    pub trust: Trust<'a>,
    /// Login name (the same account on every server).
    pub user: &'a str,
    /// Password. Never logged, never part of an [`Event`](crate::Event).
    pub password: &'a str,
    /// The device's address (`From:` and envelope sender).
    pub from: &'a str,
    /// Display name in `From:` (optional).
    pub from_name: Option<&'a str>,
    /// Recipients of alerts.
    pub alert_to: &'a [&'a str],
    /// Addresses whose commands are executed (compared without regard to case). A message
    /// from anybody else is filed (IMAP) or deleted (POP3) unexecuted and unanswered. The
    /// check trusts the `From:` header, so it is as strong as the mail server's sender
    /// verification (submission servers that bind From to the login, DKIM/DMARC checks).
    pub allowed_senders: &'a [&'a str],
    /// When set, only messages whose Subject contains this text (ignoring ASCII case) are
    /// for this device; the others are left alone (not read beyond their header, not
    /// moved, not deleted, not answered). For a mailbox several devices (or people) share.
    pub subject_tag: Option<&'a str>,
    /// The IMAP folder commands arrive in. Default `INBOX`.
    pub command_folder: &'a str,
    /// Where handled commands go; created when missing. Default `Processed`.
    pub processed_folder: &'a str,
    /// The keyword set on handled commands (with `\Seen`) before they are moved. Default
    /// `$Done`. A message that already carries it is only moved, never executed.
    pub done_keyword: &'a str,
    /// The name sent with EHLO. Default `localhost`.
    pub client_domain: &'a str,
    /// Network waits.
    pub timeouts: Timeouts,
}

impl<'a> Settings<'a> {
    /// Settings with the defaults: no IMAP or POP3 server, no alert recipients, nobody
    /// allowed to send commands, folders `INBOX` and `Processed`, keyword `$Done`.
    pub const fn new(
        smtp: Endpoint<'a>,
        trust: Trust<'a>,
        user: &'a str,
        password: &'a str,
        from: &'a str,
    ) -> Self {
        Settings {
            smtp,
            imap: None,
            pop3: None,
            trust,
            user,
            password,
            from,
            from_name: None,
            alert_to: &[],
            allowed_senders: &[],
            subject_tag: None,
            command_folder: "INBOX",
            processed_folder: "Processed",
            done_keyword: "$Done",
            client_domain: "localhost",
            timeouts: Timeouts {
                connect_ms: 15_000,
                tls_ms: 20_000,
                command_ms: 30_000,
                data_end_ms: 120_000,
                idle_ms: 10 * 60 * 1000,
            },
        }
    }

    /// Whether a message with this subject is for this device ([`subject_tag`](Self::subject_tag)).
    pub fn is_for_us(&self, subject: &str) -> bool {
        match self.subject_tag {
            None => true,
            Some(tag) => {
                let (s, t) = (subject.as_bytes(), tag.as_bytes());
                t.is_empty() || s.windows(t.len()).any(|w| w.eq_ignore_ascii_case(t))
            }
        }
    }

    /// Whether `address` may send commands.
    pub fn is_allowed(&self, address: &str) -> bool {
        self.allowed_senders
            .iter()
            .any(|a| a.trim().eq_ignore_ascii_case(address.trim()))
    }
}
