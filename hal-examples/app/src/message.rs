//! Reading a command message (headers and text, streamed through the MIME reader) and
//! sending the reply.

use core::fmt::Write as _;

use embedded_hal_async::delay::DelayNs;
use postwire_mime::reader::{Event as MimeEvent, MIN_OUT, Reader};
use postwire_mime::rfc2047::decode_header_value;
use postwire_mime::text::TextExtractor;
use postwire_mime::{Body, Composer, Date, Headers, Mailbox, Message, MessageId, NoReader};
use postwire_smtp::{Envelope, RecipientStatus};
use postwire_tls::TlsClock;
use rand_core::CryptoRngCore;

use crate::command::{MAX_TEXT, Outcome, parse_command};
use crate::conn::open_smtp;
use crate::error::{self, Error, ErrorKind, Service};
use crate::journal::{ADDR_LEN, COMMAND_LEN, MSGID_LEN, PendingReply, SUBJECT_LEN};
use crate::settings::Settings;
use crate::text::TextBuf;
use crate::{ConnBuffers, Device, Net};

/// Header buffer of the MIME reader (longest header field kept whole).
const HEADER_BUF: usize = 1024;

/// What the app keeps of an incoming message.
pub(crate) struct Incoming {
    pub from: TextBuf<ADDR_LEN>,
    pub subject: TextBuf<SUBJECT_LEN>,
    pub message_id: TextBuf<MSGID_LEN>,
    pub text: [u8; MAX_TEXT + 1],
    pub text_len: usize,
    pub text_truncated: bool,
    /// The message carries the done keyword (IMAP FLAGS).
    pub done: bool,
    /// Some body bytes arrived.
    pub seen: bool,
    /// An automatic message (RFC 3834 `Auto-Submitted:` other than `no`): never executed
    /// nor answered, so that two responders cannot answer each other forever.
    pub auto: bool,
}

impl Incoming {
    pub(crate) const fn new() -> Self {
        Incoming {
            from: TextBuf::new(),
            subject: TextBuf::new(),
            message_id: TextBuf::new(),
            text: [0; MAX_TEXT + 1],
            text_len: 0,
            text_truncated: false,
            done: false,
            seen: false,
            auto: false,
        }
    }

    /// The reply data (before execution).
    pub(crate) fn pending(&self, allowed: bool) -> PendingReply {
        let mut p = PendingReply::new();
        p.reply = allowed && !self.from.is_empty();
        p.to = self.from;
        p.subject = self.subject;
        p.message_id = self.message_id;
        p.command = TextBuf::<COMMAND_LEN>::from_str_lossy(first_line(self.text()));
        p
    }

    fn text(&self) -> &str {
        let b = self.text.get(..self.text_len).unwrap_or_default();
        match core::str::from_utf8(b) {
            Ok(s) => s,
            Err(e) => core::str::from_utf8(b.get(..e.valid_up_to()).unwrap_or_default())
                .unwrap_or_default(),
        }
    }

    /// Parses the command and runs it on the device (unless invalid). Returns the outcome
    /// and writes the result text.
    pub(crate) fn execute<X: Device>(&self, device: &mut X, out: &mut TextBuf<256>) -> Outcome {
        let parsed = if self.text_truncated || self.text_len > MAX_TEXT {
            Err(crate::ParseError::TooLong)
        } else {
            parse_command(self.text())
        };
        match parsed {
            Ok(cmd) => device.execute(&cmd, out),
            Err(e) => {
                let _ = write!(out, "{e}");
                Outcome::Invalid
            }
        }
    }
}

fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
}

/// Streams a message into an [`Incoming`]: top-level From/Subject/Message-ID and the text.
pub(crate) struct MessageParser<'b> {
    reader: Reader<'b>,
    ex: TextExtractor,
    top: bool,
    failed: bool,
    finished: bool,
}

impl<'b> MessageParser<'b> {
    pub(crate) fn new(buf: &'b mut [u8; HEADER_BUF]) -> Option<Self> {
        Some(MessageParser {
            reader: Reader::new(buf).ok()?,
            ex: TextExtractor::new(),
            top: true,
            failed: false,
            finished: false,
        })
    }

    pub(crate) const HEADER_BUF: usize = HEADER_BUF;

    /// Feeds message bytes.
    pub(crate) fn feed(&mut self, mut input: &[u8], msg: &mut Incoming) {
        msg.seen = true;
        let mut chunk = [0u8; MIN_OUT * 4];
        // Every call either consumes input or emits an event; bound the loop anyway.
        let mut budget = input.len() * 4 + 64;
        while !self.failed && !self.finished && budget > 0 {
            budget -= 1;
            let (n, ev) = match self.reader.next(input, &mut chunk) {
                Ok(r) => r,
                Err(_) => {
                    self.failed = true;
                    break;
                }
            };
            input = input.get(n..).unwrap_or_default();
            match ev {
                None if input.is_empty() || n == 0 => break,
                None => {}
                Some(ev) => on_event(&mut self.top, &mut self.finished, &mut self.ex, &ev, msg),
            }
        }
    }

    /// The message ended.
    pub(crate) fn finish(&mut self, msg: &mut Incoming) {
        self.reader.finish();
        let mut chunk = [0u8; MIN_OUT * 4];
        let mut budget = 4096;
        while !self.failed && !self.finished && budget > 0 {
            budget -= 1;
            match self.reader.next(&[], &mut chunk) {
                Ok((_, Some(ev))) => {
                    on_event(&mut self.top, &mut self.finished, &mut self.ex, &ev, msg)
                }
                Ok((_, None)) => {}
                Err(_) => self.failed = true,
            }
        }
        if let Some(t) = self.ex.result() {
            msg.text_len = t.len;
            msg.text_truncated = t.truncated;
        }
    }
}

fn on_event(
    top: &mut bool,
    finished: &mut bool,
    ex: &mut TextExtractor,
    ev: &MimeEvent<'_>,
    msg: &mut Incoming,
) {
    {
        match ev {
            MimeEvent::Header(f) if *top => {
                if f.name.eq_ignore_ascii_case(b"From") {
                    msg.from = parse_address(f.value);
                } else if f.name.eq_ignore_ascii_case(b"Subject") {
                    msg.subject = decode_subject(f.value);
                } else if f.name.eq_ignore_ascii_case(b"Message-ID") {
                    msg.message_id = parse_message_id(f.value);
                } else if f.name.eq_ignore_ascii_case(b"Auto-Submitted") {
                    msg.auto |= is_automatic(f.value);
                }
            }
            MimeEvent::PartStart(_) => *top = false,
            MimeEvent::End => *finished = true,
            _ => {}
        }
        ex.event(ev, &mut msg.text);
    }
}

/// Whether an `Auto-Submitted:` value marks an automatic message: any keyword but `no`
/// (RFC 3834 §5; parameters after `;` and comments are ignored).
pub(crate) fn is_automatic(value: &[u8]) -> bool {
    let keyword = value
        .split(|&b| b == b';' || b == b'(')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    !keyword.eq_ignore_ascii_case(b"no")
}

/// The addr-spec of a `From:` value: inside `<...>` when present, else the value itself.
/// Empty when it does not look like one address.
pub(crate) fn parse_address(value: &[u8]) -> TextBuf<ADDR_LEN> {
    let v = value.trim_ascii();
    let addr = match v.iter().rposition(|&b| b == b'<') {
        Some(i) => {
            let rest = v.get(i + 1..).unwrap_or_default();
            match rest.iter().position(|&b| b == b'>') {
                Some(j) => rest.get(..j).unwrap_or_default(),
                None => return TextBuf::new(),
            }
        }
        None => v,
    };
    let addr = addr.trim_ascii();
    let ok = !addr.is_empty()
        && addr.len() <= ADDR_LEN
        && addr.iter().filter(|&&b| b == b'@').count() == 1
        && !addr.starts_with(b"@")
        && !addr.ends_with(b"@")
        && addr
            .iter()
            .all(|&b| (33..=126).contains(&b) && !b"<>()[],;:\\\"".contains(&b));
    let mut t = TextBuf::new();
    if ok {
        t.push_utf8_lossy(addr);
    }
    t
}

fn decode_subject(value: &[u8]) -> TextBuf<SUBJECT_LEN> {
    let mut out = [0u8; SUBJECT_LEN * 3];
    let mut t = TextBuf::new();
    let raw = value
        .get(..value.len().min(SUBJECT_LEN * 3))
        .unwrap_or(value);
    match decode_header_value(raw, &mut out) {
        Ok(d) => t.push_utf8_lossy(out.get(..d.len).unwrap_or_default()),
        Err(_) => t.push_utf8_lossy(raw),
    }
    // No control characters in a subject we echo.
    let clean = t.as_str().chars().all(|c| !c.is_control());
    if clean { t } else { TextBuf::new() }
}

/// A Message-ID `<left@right>` as the composer accepts it, or empty.
fn parse_message_id(value: &[u8]) -> TextBuf<MSGID_LEN> {
    let v = value.trim_ascii();
    let mut t = TextBuf::new();
    let inner = v
        .strip_prefix(b"<")
        .and_then(|r| r.strip_suffix(b">"))
        .unwrap_or_default();
    let ok = !inner.is_empty()
        && v.len() <= MSGID_LEN
        && inner
            .iter()
            .all(|&b| (33..=126).contains(&b) && !b"<>\"\\()[],;:".contains(&b))
        && inner.iter().filter(|&&b| b == b'@').count() == 1
        && !inner.starts_with(b"@")
        && !inner.ends_with(b"@");
    if ok {
        t.push_utf8_lossy(v);
    }
    t
}

/// 32 random hex digits.
pub(crate) fn random_token<R: CryptoRngCore>(rng: &mut R) -> [u8; 32] {
    let mut raw = [0u8; 16];
    rng.fill_bytes(&mut raw);
    let mut out = [b'0'; 32];
    for (pair, b) in out.chunks_exact_mut(2).zip(raw) {
        if let [hi, lo] = pair {
            *hi = hex(b >> 4);
            *lo = hex(b & 0xf);
        }
    }
    out
}

fn hex(n: u8) -> u8 {
    if n < 10 { b'0' + n } else { b'a' + n - 10 }
}

/// The domain of the device's address (for Message-IDs).
pub(crate) fn domain_of(addr: &str) -> &str {
    match addr.rsplit_once('@') {
        Some((_, d)) if !d.is_empty() => d,
        _ => "localhost",
    }
}

/// The `Date:` from the clock, when it knows the time.
pub(crate) fn date_now<C: TlsClock>() -> Option<Date> {
    C::now().and_then(|s| {
        Some(Date {
            unix: i64::try_from(s).ok()?,
            offset_minutes: 0,
        })
    })
}

/// Sends the reply described by `p` (one SMTP connection). `Ok` once the server accepted it.
pub(crate) async fn send_reply<'x, N, D, R, C>(
    net: &'x N,
    delay: &D,
    rng: &mut R,
    settings: &Settings<'x>,
    bufs: ConnBuffers<'x>,
    p: &PendingReply,
) -> Result<(), Error>
where
    N: Net,
    D: DelayNs + Clone,
    R: CryptoRngCore,
    C: TlsClock,
{
    let mut subject = TextBuf::<{ SUBJECT_LEN + 4 }>::new();
    let orig = p.subject();
    let is_re = orig.get(..3).is_some_and(|s| s.eq_ignore_ascii_case("re:"));
    if !is_re {
        subject.push_str("Re: ");
    }
    subject.push_str(if orig.is_empty() { "command" } else { orig });
    let mut body = TextBuf::<768>::new();
    let _ = write!(
        body,
        "> {}\n\n{}",
        if p.command().is_empty() {
            "(no command)"
        } else {
            p.command()
        },
        p.outcome()
    );
    if !p.result().is_empty() {
        let _ = write!(body, ": {}", p.result());
    }
    let _ = write!(body, "\n\n-- \n{}\n", settings.from);

    let token = random_token(rng);
    let token = core::str::from_utf8(&token).unwrap_or("0");
    let to = [Mailbox::new(p.to())];
    let refs = [p.message_id()];
    let from = match settings.from_name {
        Some(n) => Mailbox::named(n, settings.from),
        None => Mailbox::new(settings.from),
    };
    let threaded = !p.message_id().is_empty();
    let headers = Headers {
        to: &to,
        subject: Some(subject.as_str()),
        date: date_now::<C>(),
        message_id: Some(MessageId {
            token,
            domain: domain_of(settings.from),
        }),
        in_reply_to: threaded.then_some(p.message_id()),
        references: if threaded { &refs } else { &[] },
        // RFC 3834: the reply is automatic; responders (this one included) do not answer it.
        extra: &[("Auto-Submitted", "auto-replied")],
        ..Headers::new(from)
    };
    let text = body.as_str();
    let mut composer = match Composer::new(reply_message(headers, text), token) {
        Ok(c) => c,
        // An odd Message-ID of the command: answer without threading rather than not at all.
        Err(_) => Composer::new(
            reply_message(
                Headers {
                    in_reply_to: None,
                    references: &[],
                    ..headers
                },
                text,
            ),
            token,
        )
        .map_err(|e| Error::new(Service::Smtp, ErrorKind::Compose(e)))?,
    };

    let mut client = open_smtp::<N, D, R, C>(net, delay, rng, settings, bufs).await?;
    let rcpt = [p.to()];
    let mut status = [RecipientStatus::NotSent];
    client
        .send_and_quit(
            &Envelope::new(settings.from, &rcpt),
            &mut composer,
            &mut status,
        )
        .await
        .map_err(error::smtp)?;
    if let Ok(tls) = client.into_inner().close().await {
        drop(tls);
    }
    Ok(())
}

fn reply_message<'a>(h: Headers<'a>, text: &'a str) -> Message<'a, NoReader, 0> {
    Message::new(h).text(Body::text(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_address(b"Ops <ops@example.test>").as_str(),
            "ops@example.test"
        );
        assert_eq!(
            parse_address(b" ops@example.test ").as_str(),
            "ops@example.test"
        );
        assert_eq!(
            parse_address(b"\"Doe, J <x@y>\" <j@example.test>").as_str(),
            "j@example.test"
        );
        assert_eq!(parse_address(b"a@b, c@d").as_str(), "");
        assert_eq!(parse_address(b"nobody").as_str(), "");
        assert_eq!(parse_address(b"<a@b").as_str(), "");
    }

    #[test]
    fn automatic_messages() {
        assert!(is_automatic(b" auto-replied"));
        assert!(is_automatic(b"auto-generated; owner-email=\"a@b\""));
        assert!(is_automatic(b"Auto-Notified"));
        assert!(!is_automatic(b" no"));
        assert!(!is_automatic(b"No (a human)"));
    }

    #[test]
    fn message_ids() {
        assert_eq!(parse_message_id(b" <a.b@c> ").as_str(), "<a.b@c>");
        assert_eq!(parse_message_id(b"a@b").as_str(), "");
        assert_eq!(parse_message_id(b"<a b@c>").as_str(), "");
    }

    #[test]
    fn parse_streamed_message() {
        let msg = b"From: =?utf-8?q?Op=C3=A9rations?= <Ops@Example.test>\r\n\
Subject: =?utf-8?B?UsOpZ2xhZ2U=?=\r\nMessage-ID: <m1@example.test>\r\n\
Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
SET interval 3=\r\n0\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--b--\r\n";
        for step in [1, 7, 64, msg.len()] {
            let mut buf = [0u8; HEADER_BUF];
            let mut p = MessageParser::new(&mut buf).unwrap();
            let mut m = Incoming::new();
            for c in msg.chunks(step) {
                p.feed(c, &mut m);
            }
            p.finish(&mut m);
            assert_eq!(m.from.as_str(), "Ops@Example.test");
            assert_eq!(m.subject.as_str(), "Réglage");
            assert_eq!(m.message_id.as_str(), "<m1@example.test>");
            assert_eq!(m.text().trim(), "SET interval 30", "chunk {step}");
        }
    }
}
