//! Opening connections: TCP through [`Net`], TLS (implicit or STARTTLS) with postwire-tls,
//! greeting and login, each wait bounded.

use core::future::Future;

use embassy_futures::select::{Either, select};
use embedded_hal_async::delay::DelayNs;
use postwire_core::sasl::Credentials;
use postwire_tls::{Provider, TlsClock, TlsStream};
use rand_core::CryptoRngCore;

use crate::error::{self, Error, ErrorKind, Service};
use crate::settings::{Endpoint, Security, Settings};
use crate::{ConnBuffers, Net};

/// TLS over the caller's TCP connection.
pub(crate) type Tls<'x, N> = TlsStream<'x, <N as Net>::Conn<'x>>;
/// The SMTP client of the app.
pub(crate) type Smtp<'x, N, D> = postwire_smtp::Client<'x, Tls<'x, N>, D>;
/// The IMAP client of the app.
pub(crate) type Imap<'x, N, D> = postwire_imap::client::Client<'x, Tls<'x, N>, D>;
/// The POP3 client of the app.
pub(crate) type Pop3<'x, N, D> = postwire_pop3::client::Client<'x, Tls<'x, N>, D>;

/// Runs `f` for at most `ms` milliseconds.
pub(crate) async fn timed<D: DelayNs, F: Future>(
    delay: &mut D,
    ms: u32,
    f: F,
) -> Option<F::Output> {
    match select(f, delay.delay_ms(ms)).await {
        Either::First(v) => Some(v),
        Either::Second(()) => None,
    }
}

async fn tcp<'x, N: Net, D: DelayNs>(
    net: &'x N,
    delay: &mut D,
    ep: &Endpoint<'_>,
    ms: u32,
    service: Service,
) -> Result<N::Conn<'x>, Error> {
    match timed(delay, ms, net.connect(ep.host, ep.port)).await {
        Some(Ok(c)) => Ok(c),
        Some(Err(e)) => Err(Error::new(
            service,
            ErrorKind::Connect(embedded_io::Error::kind(&e)),
        )),
        None => Err(Error::new(service, ErrorKind::Timeout)),
    }
}

/// The TLS handshake over `io`, certificate checked for the endpoint's name against the
/// settings' trust, validity periods against the clock `C`.
#[allow(clippy::too_many_arguments, reason = "internal helper")]
async fn tls<'x, T, D, R, C>(
    io: T,
    delay: &mut D,
    rng: &mut R,
    settings: &Settings<'_>,
    ep: &Endpoint<'_>,
    tls_rx: &'x mut [u8],
    tls_tx: &'x mut [u8],
    service: Service,
) -> Result<TlsStream<'x, T>, Error>
where
    T: embedded_io_async::Read + embedded_io_async::Write + 'x,
    D: DelayNs,
    R: CryptoRngCore,
    C: TlsClock,
{
    let mut provider = Provider::<&mut R, C>::new(rng, &settings.trust);
    let handshake =
        postwire_tls::connect_with_provider(io, ep.tls_name(), &mut provider, tls_rx, tls_tx);
    match timed(delay, settings.timeouts.tls_ms, handshake).await {
        Some(Ok(s)) => Ok(s),
        Some(Err(e)) => Err(Error::new(service, ErrorKind::Tls(e))),
        None => Err(Error::new(service, ErrorKind::Timeout)),
    }
}

fn smtp_config<'a>(settings: &Settings<'a>) -> postwire_smtp::ClientConfig<'a> {
    let t = settings.timeouts;
    postwire_smtp::ClientConfig {
        client_domain: settings.client_domain,
        timeouts: postwire_smtp::Timeouts {
            greeting_ms: t.command_ms,
            command_ms: t.command_ms,
            write_ms: t.command_ms,
            data_end_ms: t.data_end_ms,
        },
        ..postwire_smtp::ClientConfig::default()
    }
}

/// A logged-in SMTP client over TLS.
pub(crate) async fn open_smtp<'x, N, D, R, C>(
    net: &'x N,
    delay: &D,
    rng: &mut R,
    settings: &Settings<'x>,
    bufs: ConnBuffers<'x>,
) -> Result<Smtp<'x, N, D>, Error>
where
    N: Net,
    D: DelayNs + Clone,
    R: CryptoRngCore,
    C: TlsClock,
{
    let svc = Service::Smtp;
    let ep = settings.smtp;
    let mut d = delay.clone();
    let ConnBuffers {
        tls_rx,
        tls_tx,
        rx,
        tx,
    } = bufs;
    let conn = tcp(net, &mut d, &ep, settings.timeouts.connect_ms, svc).await?;
    let buffers = postwire_smtp::Buffers { rx, tx };
    let mut client = match ep.security {
        Security::Implicit => {
            let io =
                tls::<_, _, _, C>(conn, &mut d, rng, settings, &ep, tls_rx, tls_tx, svc).await?;
            let mut c =
                postwire_smtp::Client::new(io, delay.clone(), buffers, smtp_config(settings));
            c.set_implicit_tls();
            c.greet().await.map_err(error::smtp)?;
            c
        }
        Security::StartTls => {
            let mut c =
                postwire_smtp::Client::new(conn, delay.clone(), buffers, smtp_config(settings));
            c.greet().await.map_err(error::smtp)?;
            c.starttls().await.map_err(error::smtp)?;
            let (plain, pending) = c
                .into_starttls()
                .map_err(|_| Error::new(svc, ErrorKind::Protocol))?;
            let io =
                tls::<_, _, _, C>(plain, &mut d, rng, settings, &ep, tls_rx, tls_tx, svc).await?;
            let mut c = pending.resume(io);
            c.ehlo().await.map_err(error::smtp)?;
            c
        }
    };
    client
        .authenticate(&Credentials::new(settings.user, settings.password), None)
        .await
        .map_err(error::smtp)?;
    Ok(client)
}

fn imap_config(settings: &Settings<'_>) -> postwire_imap::client::ClientConfig {
    let t = settings.timeouts;
    postwire_imap::client::ClientConfig {
        timeouts: postwire_imap::client::Timeouts {
            greeting_ms: t.command_ms,
            command_ms: t.command_ms,
            write_ms: t.command_ms,
        },
        idle_refresh_ms: t.idle_ms,
        poll_interval_ms: t.idle_ms.min(60_000),
        // The command mailbox needs no CONDSTORE/QRESYNC; keep the session simple.
        enable_extensions: false,
        ..postwire_imap::client::ClientConfig::default()
    }
}

/// A logged-in IMAP client over TLS.
pub(crate) async fn open_imap<'x, N, D, R, C>(
    net: &'x N,
    delay: &D,
    rng: &mut R,
    settings: &Settings<'_>,
    ep: &Endpoint<'_>,
    bufs: ConnBuffers<'x>,
) -> Result<Imap<'x, N, D>, Error>
where
    N: Net,
    D: DelayNs + Clone,
    R: CryptoRngCore,
    C: TlsClock,
{
    use postwire_imap::client::{Buffers, Client, Error as E};
    let svc = Service::Imap;
    let mut d = delay.clone();
    let ConnBuffers {
        tls_rx,
        tls_tx,
        rx,
        tx,
    } = bufs;
    let conn = tcp(net, &mut d, ep, settings.timeouts.connect_ms, svc).await?;
    let buffers = Buffers { rx, tx };
    let (mut client, preauth) = match ep.security {
        Security::Implicit => {
            let io =
                tls::<_, _, _, C>(conn, &mut d, rng, settings, ep, tls_rx, tls_tx, svc).await?;
            let mut c = Client::new(io, delay.clone(), buffers, imap_config(settings));
            c.set_implicit_tls();
            let g = c.greet().await.map_err(error::imap)?;
            (c, g.preauth)
        }
        Security::StartTls => {
            let mut c = Client::new(conn, delay.clone(), buffers, imap_config(settings));
            c.greet().await.map_err(error::imap)?;
            c.starttls().await.map_err(error::imap)?;
            let (plain, pending) = c
                .into_starttls()
                .map_err(|_| Error::new(svc, ErrorKind::Protocol))?;
            let io =
                tls::<_, _, _, C>(plain, &mut d, rng, settings, ep, tls_rx, tls_tx, svc).await?;
            (pending.resume(io), false)
        }
    };
    if !preauth {
        let creds = Credentials::new(settings.user, settings.password);
        match client.authenticate(&creds, None).await {
            Ok(_) => {}
            Err(E::NoCommonMechanism) => client
                .login(settings.user, settings.password)
                .await
                .map_err(error::imap)?,
            Err(e) => return Err(error::imap(e)),
        }
    }
    Ok(client)
}

fn pop3_config(settings: &Settings<'_>) -> postwire_pop3::client::ClientConfig {
    postwire_pop3::client::ClientConfig {
        timeouts: postwire_pop3::client::Timeouts::uniform(settings.timeouts.command_ms),
        ..postwire_pop3::client::ClientConfig::default()
    }
}

/// A logged-in POP3 client over TLS.
pub(crate) async fn open_pop3<'x, N, D, R, C>(
    net: &'x N,
    delay: &D,
    rng: &mut R,
    settings: &Settings<'_>,
    ep: &Endpoint<'_>,
    bufs: ConnBuffers<'x>,
) -> Result<Pop3<'x, N, D>, Error>
where
    N: Net,
    D: DelayNs + Clone,
    R: CryptoRngCore,
    C: TlsClock,
{
    use postwire_pop3::client::{Buffers, Client};
    let svc = Service::Pop3;
    let mut d = delay.clone();
    let ConnBuffers {
        tls_rx,
        tls_tx,
        rx,
        tx,
    } = bufs;
    let conn = tcp(net, &mut d, ep, settings.timeouts.connect_ms, svc).await?;
    let buffers = Buffers { rx, tx };
    let mut client = match ep.security {
        Security::Implicit => {
            let io =
                tls::<_, _, _, C>(conn, &mut d, rng, settings, ep, tls_rx, tls_tx, svc).await?;
            let mut c = Client::new(io, delay.clone(), buffers, pop3_config(settings));
            c.set_implicit_tls();
            c.greet().await.map_err(error::pop3)?;
            c
        }
        Security::StartTls => {
            let mut c = Client::new(conn, delay.clone(), buffers, pop3_config(settings));
            c.greet().await.map_err(error::pop3)?;
            c.stls().await.map_err(error::pop3)?;
            let (plain, pending) = c
                .into_stls()
                .map_err(|_| Error::new(svc, ErrorKind::Protocol))?;
            let io =
                tls::<_, _, _, C>(plain, &mut d, rng, settings, ep, tls_rx, tls_tx, svc).await?;
            pending.resume(io)
        }
    };
    client
        .login(&Credentials::new(settings.user, settings.password), None)
        .await
        .map_err(error::pop3)?;
    Ok(client)
}
