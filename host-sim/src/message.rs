//! A simple RFC 5322 text message for `postwire send`, until the streaming MIME composer
//! (`postwire-mime`) takes over: From/To/Cc/Reply-To/Subject/Date/Message-ID/MIME-Version and
//! one text/plain body.
//!
//! Header values are validated (CR, LF and NUL refused: no header injection), non-ASCII display
//! names and subjects become RFC 2047 encoded words, long address lists are folded, and the body
//! gets `7bit` when it is ASCII with short lines, `quoted-printable` otherwise, with
//! `charset=us-ascii` or `utf-8`. Bcc addresses never appear in a header.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Why a message could not be composed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComposeError {
    /// A header name or value contains CR, LF, NUL or is otherwise invalid.
    InvalidHeader(String),
    /// An address is not a valid `local@domain` (optionally with a display name).
    InvalidAddress(String),
}

impl fmt::Display for ComposeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComposeError::InvalidHeader(h) => write!(f, "invalid header: {h}"),
            ComposeError::InvalidAddress(a) => write!(f, "invalid address: {a:?}"),
        }
    }
}

impl std::error::Error for ComposeError {}

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

    fn render(&self) -> String {
        match &self.name {
            None => self.address.clone(),
            Some(n) => format!("{} <{}>", display_name(n), self.address),
        }
    }
}

/// A pragmatic addr-spec check: one `@`, a non-empty local part without spaces, angle brackets
/// or controls, and a domain of labels (letters, digits, hyphens; non-ASCII allowed for IDN and
/// SMTPUTF8) or an address literal.
pub fn valid_addr_spec(a: &str) -> bool {
    let Some((local, domain)) = a.rsplit_once('@') else {
        return false;
    };
    let bad = |c: char| c.is_control() || c == ' ' || c == '<' || c == '>' || c == ',';
    if local.is_empty()
        || local.len() > 64
        || local.chars().any(bad)
        || local.contains('@') && !local.starts_with('"')
    {
        return false;
    }
    if domain.starts_with('[') {
        return domain.ends_with(']') && domain.len() > 2 && !domain.chars().any(bad);
    }
    !domain.is_empty()
        && domain.len() <= 255
        && domain.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
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
    /// The text body (UTF-8).
    pub text: String,
}

const SPECIALS: &[u8] = b"()<>[]:;@\\,.\"";

fn display_name(n: &str) -> String {
    if !n.is_ascii() {
        encode_words(n)
    } else if n.bytes().any(|b| SPECIALS.contains(&b)) {
        format!("\"{}\"", n.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        n.to_string()
    }
}

/// RFC 2047 B encoding in UTF-8, words of at most 75 characters, never splitting a character.
pub fn encode_words(text: &str) -> String {
    // "=?utf-8?B?" + "?=" = 12 characters; 75 - 12 = 63 → 45 bytes of input per word at most.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| {
            let mut out = vec![0u8; postwire_core::base64::encoded_len(w.len())];
            let n = postwire_core::base64::encode_into(w.as_bytes(), &mut out).unwrap_or(0);
            format!("=?utf-8?B?{}?=", String::from_utf8_lossy(&out[..n]))
        })
        .collect::<Vec<_>>()
        .join("\r\n ")
}

fn check_value(name: &str, value: &str) -> Result<(), ComposeError> {
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(ComposeError::InvalidHeader(format!(
            "{name}: value contains CR, LF or NUL"
        )));
    }
    Ok(())
}

/// Checks a header name: printable ASCII without colon or space (RFC 5322 ftext).
pub fn valid_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

/// Parses a `Name: value` command-line header.
pub fn parse_header(s: &str) -> Result<(String, String), ComposeError> {
    let Some((name, value)) = s.split_once(':') else {
        return Err(ComposeError::InvalidHeader(format!(
            "{s:?} is not 'Name: value'"
        )));
    };
    let name = name.trim();
    if !valid_header_name(name) {
        return Err(ComposeError::InvalidHeader(format!(
            "bad header name {name:?}"
        )));
    }
    let value = value.trim();
    check_value(name, value)?;
    Ok((name.to_string(), value.to_string()))
}

fn push_address_header(out: &mut String, name: &str, list: &[Mailbox]) {
    if list.is_empty() {
        return;
    }
    let mut line_len = name.len() + 2;
    out.push_str(name);
    out.push_str(": ");
    for (i, m) in list.iter().enumerate() {
        let r = m.render();
        if i > 0 {
            out.push(',');
            line_len += 1;
            if line_len + 1 + r.len() > 78 {
                out.push_str("\r\n ");
                line_len = 1;
            } else {
                out.push(' ');
                line_len += 1;
            }
        }
        out.push_str(&r);
        line_len += r.rsplit("\r\n").next().map_or(r.len(), str::len);
    }
    out.push_str("\r\n");
}

/// RFC 5322 date-time in UTC for a UNIX time.
pub fn rfc5322_date(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm, public domain description).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    let wd = (days + 4).rem_euclid(7) as usize; // 1970-01-01 was a Thursday
    const WD: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} +0000",
        WD[wd],
        d,
        MO[(m - 1) as usize],
        y,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Quoted-printable encoding of text with CRLF line ends (RFC 2045 §6.7), lines ≤ 76.
pub fn quoted_printable(text: &str) -> String {
    let mut out = String::new();
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = normalized.split('\n').collect();
    for (li, line) in lines.iter().enumerate() {
        let bytes = line.as_bytes();
        let mut col = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let last = i + 1 == bytes.len();
            let enc = if (b == b' ' || b == b'\t') && last
                || b == b'='
                || !(32..=126).contains(&b) && b != b'\t'
                || col == 0 && b == b'.'
            {
                format!("={b:02X}")
            } else {
                (b as char).to_string()
            };
            if col + enc.len() > 75 {
                out.push_str("=\r\n");
                col = 0;
            }
            out.push_str(&enc);
            col += enc.len();
        }
        if li + 1 < lines.len() {
            out.push_str("\r\n");
        }
    }
    out
}

impl SimpleMessage {
    /// Renders the message with CRLF line ends. `unix_time` is used for Date and, with
    /// `unique`, for Message-ID.
    pub fn render(&self, unix_time: u64, unique: &str) -> Result<Vec<u8>, ComposeError> {
        let mut h = String::new();
        let from = self
            .from
            .as_ref()
            .ok_or_else(|| ComposeError::InvalidAddress("missing From".into()))?;
        push_address_header(&mut h, "From", std::slice::from_ref(from));
        push_address_header(&mut h, "To", &self.to);
        push_address_header(&mut h, "Cc", &self.cc);
        push_address_header(&mut h, "Reply-To", &self.reply_to);
        if let Some(s) = &self.subject {
            check_value("Subject", s)?;
            if s.is_ascii() && s.len() <= 70 {
                h.push_str(&format!("Subject: {s}\r\n"));
            } else {
                h.push_str(&format!("Subject: {}\r\n", encode_words(s)));
            }
        }
        h.push_str(&format!("Date: {}\r\n", rfc5322_date(unix_time)));
        let domain = from
            .address
            .rsplit_once('@')
            .map_or("localhost", |(_, d)| d);
        h.push_str(&format!("Message-ID: <{unique}@{domain}>\r\n"));
        h.push_str("MIME-Version: 1.0\r\n");
        for (name, value) in &self.headers {
            if !valid_header_name(name) {
                return Err(ComposeError::InvalidHeader(format!(
                    "bad header name {name:?}"
                )));
            }
            check_value(name, value)?;
            h.push_str(&format!("{name}: {value}\r\n"));
        }
        let ascii = self.text.is_ascii();
        let short = self.text.split('\n').all(|l| l.len() <= 998);
        let bare_cr = self.text.replace("\r\n", "").contains('\r');
        let charset = if ascii { "us-ascii" } else { "utf-8" };
        h.push_str(&format!("Content-Type: text/plain; charset={charset}\r\n"));
        let body = if ascii && short && !bare_cr {
            h.push_str("Content-Transfer-Encoding: 7bit\r\n");
            let mut b = self.text.replace("\r\n", "\n").replace('\n', "\r\n");
            if !b.ends_with("\r\n") {
                b.push_str("\r\n");
            }
            b
        } else {
            h.push_str("Content-Transfer-Encoding: quoted-printable\r\n");
            let mut b = quoted_printable(&self.text);
            if !b.ends_with("\r\n") {
                b.push_str("\r\n");
            }
            b
        };
        h.push_str("\r\n");
        let mut out = h.into_bytes();
        out.extend_from_slice(body.as_bytes());
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
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_795_308_651),
            "Sun, 22 Nov 2026 00:50:51 +0000"
        );
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[test]
    fn mailboxes() {
        let m = Mailbox::parse("Zoë Ünal <zoe@example.test>").unwrap();
        assert_eq!(m.address, "zoe@example.test");
        assert!(m.render().starts_with("=?utf-8?B?"));
        assert!(Mailbox::parse("a@b\r\nBcc: x@y").is_err());
        assert!(Mailbox::parse("no-at-sign").is_err());
        assert_eq!(
            Mailbox::parse("J. Doe <j@x.org>").unwrap().render(),
            "\"J. Doe\" <j@x.org>"
        );
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
    fn encoded_words_are_bounded() {
        let s = "Überwachung: Temperatur zu hoch in Halle 3 — bitte prüfen ✓✓✓✓✓";
        let e = encode_words(s);
        for w in e.split("\r\n ") {
            assert!(w.len() <= 75, "{w}");
        }
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
        assert!(out.contains("Subject: =?utf-8?B?"));
        assert!(out.contains("charset=utf-8"));
        assert!(out.contains("quoted-printable"));
        assert!(out.contains("Temperatur: 31 =C2=B0C\r\n=2E\r\nEnde"));
        assert!(!out.contains("Bcc"));
    }
}
