//! Job 1: the alert e-mail.

use embedded_hal_async::delay::DelayNs;
use embedded_io_async::Read;
use postwire_mime::{Attachment, Body, Composer, Headers, Mailbox, Message, MessageId, Source};
use postwire_smtp::{Envelope, RecipientStatus};
use postwire_tls::TlsClock;
use rand_core::CryptoRngCore;

use crate::conn::open_smtp;
use crate::error::{self, Error, ErrorKind, Service};
use crate::event::{Event, Events};
use crate::message::{date_now, domain_of, random_token};
use crate::{App, ConnBuffers, Net};

/// Most alert recipients used.
pub const MAX_ALERT_RECIPIENTS: usize = 8;

/// A log attached to an alert, streamed from `source` while the message is sent (sent as
/// `text/csv`, base64, so its bytes arrive unchanged).
pub struct CsvLog<'a, L> {
    /// The file name shown to the recipient (any Unicode).
    pub filename: &'a str,
    /// The bytes.
    pub source: L,
}

/// An alert e-mail.
///
/// Format the reading into the subject with a [`TextBuf`](crate::TextBuf):
/// ```
/// use core::fmt::Write;
/// let mut subject = postwire_app::TextBuf::<64>::new();
/// write!(subject, "Temperature alert: {:.1} °C", 31.46f32).unwrap();
/// assert_eq!(subject.as_str(), "Temperature alert: 31.5 °C");
/// ```
pub struct Alert<'a, L> {
    /// Subject (any Unicode; encoded as needed).
    pub subject: &'a str,
    /// Text of the message (UTF-8).
    pub text: &'a str,
    /// An attached log, if any.
    pub csv: Option<CsvLog<'a, L>>,
}

/// The server's verdict on an alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertReport {
    /// Recipients accepted (at least one).
    pub accepted: u16,
    /// Recipients refused.
    pub refused: u16,
}

pub(crate) async fn send_alert<N, D, R, C, V, L>(
    app: &mut App<'_, N, D, R, C, V>,
    bufs: ConnBuffers<'_>,
    alert: Alert<'_, L>,
) -> Result<AlertReport, Error>
where
    N: Net,
    D: DelayNs + Clone,
    R: CryptoRngCore,
    C: TlsClock,
    V: Events,
    L: Read,
{
    let settings = app.settings;
    let n = settings.alert_to.len().min(MAX_ALERT_RECIPIENTS);
    let rcpt = settings.alert_to.get(..n).unwrap_or_default();
    if rcpt.is_empty() {
        return Err(Error::new(Service::Smtp, ErrorKind::Config));
    }
    let mut to = [Mailbox::new(""); MAX_ALERT_RECIPIENTS];
    for (m, a) in to.iter_mut().zip(rcpt) {
        *m = Mailbox::new(a);
    }
    let to = to.get(..n).unwrap_or_default();
    let token = random_token(&mut app.rng);
    let token = core::str::from_utf8(&token).unwrap_or("0");
    let from = match settings.from_name {
        Some(name) => Mailbox::named(name, settings.from),
        None => Mailbox::new(settings.from),
    };
    let mut msg: Message<'_, L, 1> = Message::new(Headers {
        to,
        subject: Some(alert.subject),
        date: date_now::<C>(),
        message_id: Some(MessageId {
            token,
            domain: domain_of(settings.from),
        }),
        ..Headers::new(from)
    })
    .text(Body::Text(Source::Bytes(alert.text.as_bytes())));
    if let Some(csv) = alert.csv {
        msg.attach(Attachment {
            body: Body::Binary(Source::Reader(csv.source)),
            content_type: "text/csv",
            filename: Some(csv.filename),
            content_id: None,
        })
        .map_err(|e| Error::new(Service::Smtp, ErrorKind::Compose(e)))?;
    }
    let mut composer =
        Composer::new(msg, token).map_err(|e| Error::new(Service::Smtp, ErrorKind::Compose(e)))?;

    let mut client =
        open_smtp::<N, D, R, C>(&app.net, &app.delay, &mut app.rng, &settings, bufs).await?;
    app.events.on(&Event::Connected {
        service: Service::Smtp,
        host: settings.smtp.host,
        port: settings.smtp.port,
    });
    let mut status = [RecipientStatus::NotSent; MAX_ALERT_RECIPIENTS];
    let status = status.get_mut(..n).unwrap_or_default();
    let report = client
        .send_and_quit(&Envelope::new(settings.from, rcpt), &mut composer, status)
        .await
        .map_err(error::smtp)?;
    let _ = client.into_inner().close().await;
    app.events.on(&Event::AlertSent {
        subject: alert.subject,
        accepted: report.accepted,
        refused: report.refused,
    });
    Ok(AlertReport {
        accepted: report.accepted,
        refused: report.refused,
    })
}
