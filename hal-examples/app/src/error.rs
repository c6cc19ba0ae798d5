//! The error of every job.

use core::fmt;

use embedded_io::ErrorKind as IoKind;
use postwire_mime::MimeError;
use postwire_tls::TlsError;

/// The server an error concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// The submission server.
    Smtp,
    /// The IMAP server.
    Imap,
    /// The POP3 server.
    Pop3,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::Smtp => "SMTP",
            Service::Imap => "IMAP",
            Service::Pop3 => "POP3",
        })
    }
}

/// The protocol step an error happened at, when the client knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// An SMTP step.
    Smtp(postwire_smtp::Stage),
    /// An IMAP command.
    Imap(postwire_imap::client::Stage),
    /// A POP3 step.
    Pop3(postwire_pop3::proto::Stage),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Smtp(s) => write!(f, "{s}"),
            Step::Imap(s) => write!(f, "{s}"),
            Step::Pop3(s) => write!(f, "{s}"),
        }
    }
}

/// What went wrong.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The settings lack something the job needs (no IMAP/POP3 endpoint, no alert
    /// recipient), or an address or name in them is invalid.
    Config,
    /// The TCP connection could not be opened.
    Connect(IoKind),
    /// A network wait (connect, TLS handshake, response, write) took too long.
    Timeout,
    /// The TLS handshake or a TLS record failed (certificate refused, ...).
    Tls(TlsError),
    /// The transport failed.
    Io(IoKind),
    /// The server closed the connection.
    Closed,
    /// The server refused a step (wrong password, unknown folder, refused recipient...).
    Refused,
    /// The server broke the protocol (or sent bytes after the STARTTLS go-ahead).
    Protocol,
    /// The server lacks something required (STARTTLS, a login method, MOVE/UIDPLUS).
    Unsupported,
    /// The message could not be composed (a header value with CR/LF, an invalid address).
    Compose(MimeError),
    /// Reading the attachment source failed.
    Source(IoKind),
    /// A buffer is too small.
    Capacity,
}

/// The error of a job: the service, what went wrong and, when known, the protocol step.
/// Every error ends the job's connection; calling the job again (after a pause) is the
/// recovery, with the same journal.
#[derive(Clone, Copy, Debug)]
pub struct Error {
    /// The server concerned.
    pub service: Service,
    /// What went wrong.
    pub kind: ErrorKind,
    /// The protocol step.
    pub step: Option<Step>,
}

impl Error {
    pub(crate) const fn new(service: Service, kind: ErrorKind) -> Self {
        Error {
            service,
            kind,
            step: None,
        }
    }

    /// Whether trying again later can help (network trouble, a server refusing for now),
    /// as opposed to a configuration or certificate problem that needs a person.
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Connect(_)
                | ErrorKind::Timeout
                | ErrorKind::Io(_)
                | ErrorKind::Closed
                | ErrorKind::Protocol
                | ErrorKind::Tls(TlsError::Io(_) | TlsError::Closed)
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.service)?;
        if let Some(s) = self.step {
            write!(f, " at {s}")?;
        }
        f.write_str(": ")?;
        match self.kind {
            ErrorKind::Config => f.write_str("invalid or missing setting"),
            ErrorKind::Connect(k) => write!(f, "cannot connect ({k:?})"),
            ErrorKind::Timeout => f.write_str("timed out"),
            ErrorKind::Tls(e) => write!(f, "TLS: {e}"),
            ErrorKind::Io(k) => write!(f, "I/O error ({k:?})"),
            ErrorKind::Closed => f.write_str("connection closed by the server"),
            ErrorKind::Refused => f.write_str("refused by the server"),
            ErrorKind::Protocol => f.write_str("protocol error"),
            ErrorKind::Unsupported => f.write_str("the server lacks a required feature"),
            ErrorKind::Compose(e) => write!(f, "composing the message failed: {e}"),
            ErrorKind::Source(k) => write!(f, "reading the attachment failed ({k:?})"),
            ErrorKind::Capacity => f.write_str("buffer too small"),
        }
    }
}

impl core::error::Error for Error {}

fn io_kind<E: embedded_io::Error>(e: &E) -> ErrorKind {
    ErrorKind::Io(e.kind())
}

pub(crate) fn smtp<E: embedded_io::Error>(e: postwire_smtp::Error<E>) -> Error {
    use postwire_smtp::Error as S;
    use postwire_smtp::client::Fatal as F;
    let step = e.stage().map(Step::Smtp);
    let kind = match &e {
        S::Io(x) => io_kind(x),
        S::Timeout(_) | S::Failed(F::Timeout(_)) => ErrorKind::Timeout,
        S::ConnectionClosed(_) | S::Failed(F::Closed(_)) => ErrorKind::Closed,
        S::Rejected(_) | S::NoRecipientsAccepted | S::Failed(F::Rejected(_)) => ErrorKind::Refused,
        S::Failed(F::Io(k)) => ErrorKind::Io(*k),
        S::BodyRead(k) | S::Failed(F::BodyRead(k)) => ErrorKind::Source(*k),
        S::StartTlsUnavailable | S::NoCommonMechanism | S::SmtpUtf8Unsupported => {
            ErrorKind::Unsupported
        }
        S::EightBitUnsupported | S::MessageTooLarge { .. } => ErrorKind::Unsupported,
        S::InvalidArgument | S::PlaintextAuthRefused | S::Sasl(_) => ErrorKind::Config,
        S::Capacity => ErrorKind::Capacity,
        _ => ErrorKind::Protocol,
    };
    Error {
        service: Service::Smtp,
        kind,
        step,
    }
}

pub(crate) fn imap<E: embedded_io::Error>(e: postwire_imap::client::Error<E>) -> Error {
    use postwire_imap::client::Error as I;
    use postwire_imap::client::Fatal as F;
    let step = e.stage().map(Step::Imap);
    let kind = match &e {
        I::Io(x) => io_kind(x),
        I::Timeout(_) | I::Failed(F::Timeout(_)) => ErrorKind::Timeout,
        I::ConnectionClosed(_) | I::Bye(_) | I::Failed(F::Closed(_) | F::Bye(_)) => {
            ErrorKind::Closed
        }
        I::Failed(F::Io(k)) => ErrorKind::Io(*k),
        I::Rejected(_) | I::AuthCancelled | I::NoSuchMessage => ErrorKind::Refused,
        I::StartTlsUnavailable
        | I::LoginDisabled
        | I::NoCommonMechanism
        | I::Unsupported(_)
        | I::PreAuthWithoutTls => ErrorKind::Unsupported,
        I::InvalidArgument | I::PlaintextAuthRefused | I::Sasl(_) => ErrorKind::Config,
        I::Capacity => ErrorKind::Capacity,
        _ => ErrorKind::Protocol,
    };
    Error {
        service: Service::Imap,
        kind,
        step,
    }
}

pub(crate) fn pop3<E: embedded_io::Error>(e: postwire_pop3::client::Error<E>) -> Error {
    use postwire_pop3::client::Error as P;
    use postwire_pop3::client::Fatal as F;
    let step = e.stage().map(Step::Pop3);
    let kind = match &e {
        P::Io(x) => io_kind(x),
        P::Timeout(_) | P::Failed(F::Timeout(_)) => ErrorKind::Timeout,
        P::ConnectionClosed(_) | P::Failed(F::Closed(_)) => ErrorKind::Closed,
        P::Failed(F::Io(k)) => ErrorKind::Io(*k),
        P::Rejected(_) | P::AuthCancelled | P::Failed(F::Rejected(_)) => ErrorKind::Refused,
        P::StlsUnavailable | P::NoCommonMechanism | P::ApopUnavailable => ErrorKind::Unsupported,
        P::InvalidArgument | P::PlaintextAuthRefused | P::Sasl(_) => ErrorKind::Config,
        P::Capacity => ErrorKind::Capacity,
        _ => ErrorKind::Protocol,
    };
    Error {
        service: Service::Pop3,
        kind,
        step,
    }
}
