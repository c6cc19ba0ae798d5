//! IMAP over TLS: a device that watches a command mailbox. embassy-net TCP socket →
//! postwire-tls (embedded-tls, TLS 1.3, certificate verified against the provisioned anchor) →
//! postwire-imap client. Implicit TLS on port 993 (RFC 8314, preferred), falling back to
//! STARTTLS on port 143 when 993 cannot be reached; neither path sends credentials in clear
//! text.
//!
//! Once connected: authenticate (strongest SASL mechanism offered, LOGIN when none fits),
//! SELECT "Commands", then loop: the UIDs that arrived since the checkpoint (`new_since`), for
//! each the text of the message streamed through the 1 KiB receive buffer into a bounded
//! command buffer, act on it, flag it `\Seen` and move it to "Done"; then IDLE until the
//! server pushes a new message or ten minutes pass. The checkpoint survives reconnections (a
//! board keeps it in flash), so a command is acted on once even when the connection drops
//! between the action and the move.
#![no_std]
#![no_main]

use embassy_net::Stack;
use embassy_time::{Delay, Timer};
use embedded_io_async::{ErrorKind, Read, Write};
use postwire_core::sasl::Credentials;
use postwire_imap::client::{
    Buffers, Client, ClientConfig, Error, IdleControl, IdleEvent, Timeouts,
};
use postwire_imap::proto::Checkpoint;
use postwire_imap::wire::{SeqRange, StoreMode};
use postwire_noalloc_image::config::provisioning;
use postwire_noalloc_image::mail::{self, Outcome};
use postwire_noalloc_image::{net, rng::InsecureDemoRng, run_executor, time_driver};
use postwire_tls::{RECORD_READ_BUF_SIZE, RECORD_WRITE_BUF_SIZE, Trust};
use rand_core::RngCore;

/// IMAP receive buffer: the longest response line; message bodies stream through it.
const IMAP_RX: usize = 1024;
/// IMAP transmit buffer: the longest command (and the SASL response).
const IMAP_TX: usize = 512;
/// The part of a command message the device keeps.
const COMMAND_MAX: usize = 256;
/// New UIDs handled per round (more wait for the next round, which follows at once).
const BATCH: usize = 8;
/// The mailbox commands arrive in, and where they go once handled.
const COMMANDS: &str = "Commands";
const DONE: &str = "Done";
/// IDLE at most this long, then look again anyway (and the server sees the connection alive).
const IDLE_SECS: u64 = 600;
/// Rounds per connection (about a day of idling), then LOGOUT and a fresh connection.
const ROUNDS: u32 = 144;

/// The device's action; a board would switch a relay or change a setpoint.
fn act_on(command: &[u8]) -> bool {
    core::hint::black_box(command).starts_with(b"SET ") || !command.is_empty()
}

/// The client settings: 30 s for the greeting and writes, 60 s of silence per command, IDLE
/// refreshed every 10 minutes (some providers drop idle connections sooner than RFC 2177's 29).
fn client_config() -> ClientConfig {
    ClientConfig {
        timeouts: Timeouts {
            greeting_ms: 30_000,
            command_ms: 60_000,
            write_ms: 30_000,
        },
        idle_refresh_ms: 10 * 60 * 1000,
        ..ClientConfig::default()
    }
}

/// One connection's session after the greeting: log in (unless PREAUTH), select the command
/// mailbox and serve it for [`ROUNDS`] rounds, then LOGOUT.
async fn serve<T: Read + Write>(
    client: &mut Client<'_, T, Delay>,
    preauth: bool,
    seen: &mut Checkpoint,
) -> Result<(), Error<T::Error>> {
    let p = provisioning();
    if !preauth {
        match client
            .authenticate(&Credentials::new(p.username, p.password), None)
            .await
        {
            Ok(_) => {}
            Err(Error::NoCommonMechanism) => client.login(p.username, p.password).await?,
            Err(e) => return Err(e),
        }
    }
    client.select(COMMANDS).await?;
    for _ in 0..core::hint::black_box(ROUNDS) {
        let mut uids = [0u64; BATCH];
        let mut n = 0;
        let news = client
            .new_since(*seen, |uid| {
                if let Some(slot) = uids.get_mut(n) {
                    *slot = uid;
                    n += 1;
                }
            })
            .await?;
        *seen = news.checkpoint;
        for &uid in uids.get(..n).unwrap_or(&[]) {
            let mut command = [0u8; COMMAND_MAX];
            let mut len = 0;
            client
                .fetch_body_with(uid, "TEXT", |chunk| {
                    let take = chunk.len().min(COMMAND_MAX - len);
                    if let (Some(dst), Some(src)) =
                        (command.get_mut(len..len + take), chunk.get(..take))
                    {
                        dst.copy_from_slice(src);
                        len += take;
                    }
                    Ok::<(), ErrorKind>(())
                })
                .await?;
            act_on(command.get(..len).unwrap_or(&[]));
            let one = [SeqRange::one(uid)];
            client
                .store(true, &one, StoreMode::Add, &["\\Seen"], true, |_| {})
                .await?;
            client.move_to(true, &one, DONE).await?;
            seen.last_uid = seen.last_uid.max(uid);
        }
        if news.count > n as u64 {
            continue; // more commands waiting
        }
        // Wait for the server's push of a new message, at most IDLE_SECS.
        client
            .idle(Timer::after_secs(IDLE_SECS), |ev| match ev {
                IdleEvent::Exists(_) => IdleControl::Stop,
                _ => IdleControl::Continue,
            })
            .await?;
    }
    client.logout().await
}

#[embassy_executor::task]
async fn mailbox_task(stack: Stack<'static>) -> ! {
    let mut tcp_rx = [0u8; mail::TCP_RX];
    let mut tcp_tx = [0u8; mail::TCP_TX];
    let mut imap_rx = [0u8; IMAP_RX];
    let mut imap_tx = [0u8; IMAP_TX];
    let mut tls_rx = [0u8; RECORD_READ_BUF_SIZE];
    let mut tls_tx = [0u8; RECORD_WRITE_BUF_SIZE];
    // NOT SECURE: a board passes its hardware RNG here.
    let mut rng = InsecureDemoRng::new_insecure_constant_seed();
    // A board restores this from flash (and writes it back as it advances).
    let mut seen = Checkpoint {
        uidvalidity: 0,
        last_uid: 0,
    };
    loop {
        stack.wait_config_up().await;
        let p = provisioning();
        let trust = Trust::Anchors(p.trust_anchors);

        // Implicit TLS, port 993.
        if let Some(mut socket) = mail::connect(stack, 993, &mut tcp_rx, &mut tcp_tx).await {
            match postwire_tls::connect(
                &mut socket,
                p.server_name,
                &trust,
                &mut rng,
                &mut tls_rx,
                &mut tls_tx,
            )
            .await
            {
                Ok(mut tls) => {
                    let buffers = Buffers {
                        rx: &mut imap_rx,
                        tx: &mut imap_tx,
                    };
                    let mut client = Client::new(&mut tls, Delay, buffers, client_config());
                    client.set_implicit_tls();
                    let r = match client.greet().await {
                        Ok(g) => serve(&mut client, g.preauth, &mut seen).await,
                        Err(e) => Err(e),
                    };
                    mail::record(if r.is_ok() {
                        Outcome::Sent
                    } else {
                        Outcome::SmtpFailed
                    });
                    let _ = tls.close().await;
                }
                Err(_) => mail::record(Outcome::TlsFailed),
            }
            socket.close();
            socket.abort();
        } else if let Some(mut socket) = mail::connect(stack, 143, &mut tcp_rx, &mut tcp_tx).await {
            // STARTTLS, port 143: greet in clear text, upgrade, then the same session.
            let buffers = Buffers {
                rx: &mut imap_rx,
                tx: &mut imap_tx,
            };
            let mut client = Client::new(&mut socket, Delay, buffers, client_config());
            let upgraded = match client.greet().await {
                Ok(_) => client.starttls().await,
                Err(e) => Err(e),
            };
            match upgraded.map(|()| client.into_starttls()) {
                Ok(Ok((plain, pending))) => {
                    match postwire_tls::connect(
                        plain,
                        p.server_name,
                        &trust,
                        &mut rng,
                        &mut tls_rx,
                        &mut tls_tx,
                    )
                    .await
                    {
                        Ok(mut tls) => {
                            let mut client = pending.resume(&mut tls);
                            let r = serve(&mut client, false, &mut seen).await;
                            mail::record(if r.is_ok() {
                                Outcome::Sent
                            } else {
                                Outcome::SmtpFailed
                            });
                            let _ = tls.close().await;
                        }
                        Err(_) => mail::record(Outcome::TlsFailed),
                    }
                }
                Ok(Err(_)) | Err(_) => mail::record(Outcome::SmtpFailed),
            }
            socket.close();
            socket.abort();
        }
        Timer::after_secs(60).await;
    }
}

#[cortex_m_rt::entry]
fn main() -> ! {
    let Some(p) = cortex_m::Peripherals::take() else {
        panic!("peripherals taken")
    };
    time_driver::init(p.SYST);
    run_executor(|spawner| {
        // A board seeds embassy-net from its hardware RNG.
        let seed = InsecureDemoRng::new_insecure_constant_seed().next_u64();
        let stack = net::init(&spawner, seed);
        match mailbox_task(stack) {
            Ok(token) => spawner.spawn(token),
            Err(_) => panic!("mailbox task already spawned"),
        }
    })
}
