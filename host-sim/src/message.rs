//! The message `postwire send` composes, built with the streaming composer of `postwire-mime`
//! (the same code a firmware runs): From/To/Cc/Reply-To/Subject/Date/Message-ID/MIME-Version,
//! extra headers, a text body, an optional HTML alternative and attachments.
//!
//! `postwire-mime` validates every value (CR, LF and NUL refused: no header injection), folds
//! long headers, writes non-ASCII display names and subjects as RFC 2047 encoded words and
//! non-ASCII file names as RFC 2231 parameters, and picks `7bit`, `quoted-printable` or
//! `base64` and `us-ascii` or `utf-8` per part. Bcc addresses never appear in a header.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use postwire_mime::{
    Attachment, Body, Composer, Date, Headers, Message, MessageId, MimeError, NoReader, Source,
};

/// Most attachments per message.
pub const MAX_ATTACHMENTS: usize = 16;

/// Why a message could not be composed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComposeError {
    /// A header name or value contains CR, LF, NUL or is otherwise invalid.
    InvalidHeader(String),
    /// An address is not a valid `local@domain` (optionally with a display name).
    InvalidAddress(String),
    /// The MIME composer refused the message.
    Mime(MimeError),
    /// More than [`MAX_ATTACHMENTS`] attachments.
    TooManyAttachments,
}

impl fmt::Display for ComposeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComposeError::InvalidHeader(h) => write!(f, "invalid header: {h}"),
            ComposeError::InvalidAddress(a) => write!(f, "invalid address: {a:?}"),
            ComposeError::Mime(e) => write!(f, "cannot compose the message: {e}"),
            ComposeError::TooManyAttachments => {
                write!(f, "at most {MAX_ATTACHMENTS} attachments")
            }
        }
    }
}

impl std::error::Error for ComposeError {}

impl From<MimeError> for ComposeError {
    fn from(e: MimeError) -> Self {
        ComposeError::Mime(e)
    }
}

/// A mailbox as given on the command line: `addr@example.test` or `Name <addr@example.test>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// The display name, if any.
    pub name: Option<String>,
    /// The address (addr-spec), used in the envelope.
    pub address: String,
}

impl Mailbox {
    /// Parses `addr` or `Display Name <addr>`.
    pub fn parse(s: &str) -> Result<Mailbox, ComposeError> {
        let s = s.trim();
        if s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(ComposeError::InvalidAddress(s.to_string()));
        }
        let (name, address) = match (s.rfind('<'), s.ends_with('>')) {
            (Some(i), true) => {
                let name = s[..i].trim().trim_matches('"').trim();
                let addr = &s[i + 1..s.len() - 1];
                (
                    (!name.is_empty()).then(|| name.to_string()),
                    addr.trim().to_string(),
                )
            }
            (None, false) => (None, s.to_string()),
            _ => return Err(ComposeError::InvalidAddress(s.to_string())),
        };
        if !valid_addr_spec(&address) {
            return Err(ComposeError::InvalidAddress(s.to_string()));
        }
        Ok(Mailbox { name, address })
    }

    fn as_mime(&self) -> postwire_mime::Mailbox<'_> {
        postwire_mime::Mailbox {
            name: self.name.as_deref(),
            address: &self.address,
        }
    }
}

/// An RFC 5322 addr-spec (non-ASCII allowed: it then needs SMTPUTF8 on the server).
pub fn valid_addr_spec(a: &str) -> bool {
    postwire_mime::header::check_address(a, true).is_ok()
}

/// A file to attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentFile {
    /// The file name shown to the recipient (the last path component).
    pub name: String,
    /// `type/subtype`.
    pub content_type: String,
    /// The bytes.
    pub data: Vec<u8>,
}

impl AttachmentFile {
    /// Reads `FILE` or `FILE;type=TYPE` (the `--attach` syntax). Without a type, it is guessed
    /// from the file name's extension.
    pub fn from_arg(arg: &str) -> Result<AttachmentFile, String> {
        let (path, ty) = match arg.rsplit_once(";type=") {
            Some((p, t)) => (p, Some(t.trim().to_string())),
            None => (arg, None),
        };
        let data = std::fs::read(path).map_err(|e| format!("--attach {path}: {e}"))?;
        let name = std::path::Path::new(path)
            .file_name()
            .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned());
        let content_type = ty.unwrap_or_else(|| guess_type(&name).to_string());
        if !content_type.contains('/') {
            return Err(format!(
                "--attach {arg}: the type must be type/subtype, e.g. image/png"
            ));
        }
        Ok(AttachmentFile {
            name,
            content_type,
            data,
        })
    }
}

/// A media type for common file name extensions (`application/octet-stream` otherwise).
pub fn guess_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "log" => "text/plain",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        _ => "application/octet-stream",
    }
}

/// Everything that goes into the message.
#[derive(Debug, Clone, Default)]
pub struct SimpleMessage {
    /// From.
    pub from: Option<Mailbox>,
    /// To.
    pub to: Vec<Mailbox>,
    /// Cc.
    pub cc: Vec<Mailbox>,
    /// Reply-To.
    pub reply_to: Vec<Mailbox>,
    /// Subject (UTF-8).
    pub subject: Option<String>,
    /// Extra raw headers `(name, value)`.
    pub headers: Vec<(String, String)>,
    /// The text body (UTF-8). Left out when empty and there is HTML.
    pub text: String,
    /// An HTML alternative (UTF-8).
    pub html: Option<String>,
    /// Attachments.
    pub attachments: Vec<AttachmentFile>,
}

/// Checks a header name: printable ASCII without colon or space (RFC 5322 ftext).
pub fn valid_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

/// Parses a `Name: value` command-line header.
pub fn parse_header(s: &str) -> Result<(String, String), ComposeError> {
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| ComposeError::InvalidHeader(format!("{s:?}: expected 'Name: value'")))?;
    let (name, value) = (name.trim(), value.trim());
    if !valid_header_name(name) {
        return Err(ComposeError::InvalidHeader(format!(
            "bad header name {name:?}"
        )));
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(ComposeError::InvalidHeader(format!(
            "{name}: value contains CR, LF or NUL"
        )));
    }
    Ok((name.to_string(), value.to_string()))
}

impl SimpleMessage {
    /// Renders the message with CRLF line ends. `unix_time` is used for Date; `unique` (1–40
    /// of `A-Z a-z 0-9 . - _`) for the Message-ID and the MIME boundaries.
    pub fn render(&self, unix_time: u64, unique: &str) -> Result<Vec<u8>, ComposeError> {
        let from = self
            .from
            .as_ref()
            .ok_or_else(|| ComposeError::InvalidAddress("missing From".into()))?;
        if self.attachments.len() > MAX_ATTACHMENTS {
            return Err(ComposeError::TooManyAttachments);
        }
        let to: Vec<_> = self.to.iter().map(Mailbox::as_mime).collect();
        let cc: Vec<_> = self.cc.iter().map(Mailbox::as_mime).collect();
        let reply_to: Vec<_> = self.reply_to.iter().map(Mailbox::as_mime).collect();
        let extra: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let domain = from
            .address
            .rsplit_once('@')
            .map_or("localhost", |(_, d)| d);
        let smtputf8 = std::iter::once(from)
            .chain(&self.to)
            .chain(&self.cc)
            .chain(&self.reply_to)
            .any(|m| !m.address.is_ascii());
        let headers = Headers {
            to: &to,
            cc: &cc,
            reply_to: &reply_to,
            subject: self.subject.as_deref(),
            date: Some(Date {
                unix: i64::try_from(unix_time).unwrap_or(i64::MAX),
                offset_minutes: 0,
            }),
            message_id: Some(MessageId {
                token: unique,
                domain,
            }),
            extra: &extra,
            smtputf8,
            ..Headers::new(from.as_mime())
        };
        let mut msg: Message<'_, NoReader, MAX_ATTACHMENTS> = Message::new(headers);
        if !self.text.is_empty() || self.html.is_none() {
            msg = msg.text(Body::text(&self.text));
        }
        if let Some(h) = &self.html {
            msg = msg.html(Body::text(h));
        }
        for a in &self.attachments {
            let body =
                if a.content_type.starts_with("text/") && std::str::from_utf8(&a.data).is_ok() {
                    Body::Text(Source::Bytes(&a.data))
                } else {
                    Body::Binary(Source::Bytes(&a.data))
                };
            msg.attach(Attachment {
                body,
                content_type: &a.content_type,
                filename: Some(&a.name),
                content_id: None,
            })?;
        }
        let mut composer = Composer::new(msg, unique).map_err(|e| match e {
            MimeError::InvalidAddress | MimeError::NeedsSmtpUtf8 => {
                ComposeError::InvalidAddress(e.to_string())
            }
            MimeError::InvalidHeader => ComposeError::InvalidHeader(e.to_string()),
            other => ComposeError::Mime(other),
        })?;
        let mut out = Vec::new();
        composer
            .write_sync(|b| out.extend_from_slice(b))
            .map_err(|e| match e {
                postwire_mime::ComposeError::Mime(m) => ComposeError::Mime(m),
                postwire_mime::ComposeError::Io(never) => match never {},
            })?;
        Ok(out)
    }
}

/// Seconds since 1970 now.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailboxes() {
        let m = Mailbox::parse("Zoë Ünal <zoe@example.test>").unwrap();
        assert_eq!(m.address, "zoe@example.test");
        assert_eq!(m.name.as_deref(), Some("Zoë Ünal"));
        assert!(Mailbox::parse("a@b\r\nBcc: x@y").is_err());
        assert!(Mailbox::parse("no-at-sign").is_err());
    }

    #[test]
    fn headers_refuse_injection() {
        assert!(parse_header("X-A: b\r\nBcc: evil@x").is_err());
        assert!(parse_header("Bad Name: v").is_err());
        assert_eq!(
            parse_header("X-Tag:  v ").unwrap(),
            ("X-Tag".into(), "v".into())
        );
    }

    #[test]
    fn render_utf8() {
        let msg = SimpleMessage {
            from: Some(Mailbox::parse("Sensor <s@example.test>").unwrap()),
            to: vec![Mailbox::parse("a@example.test").unwrap()],
            subject: Some("Grüße".into()),
            text: "Temperatur: 31 °C\n.\nEnde".into(),
            ..Default::default()
        };
        let out = String::from_utf8(msg.render(0, "x1").unwrap()).unwrap();
        assert!(out.contains("Subject: =?utf-8?"));
        assert!(out.contains("Date: Thu, 1 Jan 1970 00:00:00 +0000\r\n"));
        assert!(out.contains("Message-ID: <x1@example.test>\r\n"));
        assert!(out.contains("charset=utf-8"));
        assert!(out.contains("quoted-printable"));
        assert!(out.contains("Temperatur: 31 =C2=B0C\r\n=2E\r\nEnde=\r\n"));
        assert!(!out.contains("Bcc"));
    }

    #[test]
    fn html_and_attachments() {
        let msg = SimpleMessage {
            from: Some(Mailbox::parse("s@example.test").unwrap()),
            to: vec![Mailbox::parse("a@example.test").unwrap()],
            text: "plain".into(),
            html: Some("<b>html</b>".into()),
            attachments: vec![AttachmentFile {
                name: "données.bin".into(),
                content_type: "application/octet-stream".into(),
                data: vec![0, 255, 1],
            }],
            ..Default::default()
        };
        let out = String::from_utf8(msg.render(0, "tok").unwrap()).unwrap();
        assert!(out.contains("multipart/mixed; boundary=\"=_tok_0\""));
        assert!(out.contains("multipart/alternative; boundary=\"=_tok_1\""));
        assert!(out.contains("filename*=utf-8''donn%C3%A9es.bin"));
        assert!(out.contains("AP8B\r\n--=_tok_0--\r\n"));
        assert_eq!(guess_type("x.PNG"), "image/png");
    }
}
