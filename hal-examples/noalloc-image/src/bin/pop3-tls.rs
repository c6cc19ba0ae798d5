//! POP3 over TLS: a device that polls a command mailbox. embassy-net TCP socket → postwire-tls
//! (embedded-tls, TLS 1.3, certificate verified against the provisioned anchor) →
//! postwire-pop3 client on port 995 (implicit TLS, RFC 8314).
//!
//! Every minute: log in, and if a message waits, stream it through a 512-byte receive buffer
//! into a bounded command buffer (a message of any size passes; only its first bytes are
//! kept), act on it, and only then delete it. The deletion is committed by QUIT: if the
//! device resets before, the command is still there next time.
#![no_std]
#![no_main]

use embassy_net::Stack;
use embassy_time::{Delay, Timer};
use embedded_io_async::{ErrorKind, Read, Write};
use postwire_core::sasl::Credentials;
use postwire_noalloc_image::config::provisioning;
use postwire_noalloc_image::mail::{self, Outcome};
use postwire_noalloc_image::{net, rng::InsecureDemoRng, run_executor, time_driver};
use postwire_pop3::client::{Buffers, Client, ClientConfig, Error, Timeouts};
use postwire_tls::{RECORD_READ_BUF_SIZE, RECORD_WRITE_BUF_SIZE, Trust};
use rand_core::RngCore;

/// POP3 client buffers: the receive buffer bounds the longest status line (RFC 2449: 512).
const POP3_RX: usize = 512;
const POP3_TX: usize = 512;
/// The part of a command message the device keeps.
const COMMAND_MAX: usize = 256;

/// The device's action; a board would switch a relay or change a setpoint.
fn act_on(command: &[u8]) -> bool {
    core::hint::black_box(command).starts_with(b"From:") || !command.is_empty()
}

/// One poll: the oldest message is retrieved, acted on, deleted; QUIT commits the deletion.
async fn poll<T: Read + Write>(client: &mut Client<'_, T, Delay>) -> Result<bool, Error<T::Error>> {
    let p = provisioning();
    client.greet().await?;
    client
        .login(&Credentials::new(p.username, p.password), None)
        .await?;
    let stat = client.stat().await?;
    let mut acted = false;
    if stat.count > 0 {
        let uid = client.uidl_one(1).await?;
        let mut command = [0u8; COMMAND_MAX];
        let mut len = 0;
        client
            .retr_with(1, |chunk| {
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
        core::hint::black_box(uid.as_bytes());
        if act_on(command.get(..len).unwrap_or(&[])) {
            client.dele(1).await?;
            acted = true;
        }
    }
    let report = client.quit().await?;
    Ok(acted && report.committed)
}

#[embassy_executor::task]
async fn poll_task(stack: Stack<'static>) -> ! {
    let mut tcp_rx = [0u8; mail::TCP_RX];
    let mut tcp_tx = [0u8; mail::TCP_TX];
    let mut pop3_rx = [0u8; POP3_RX];
    let mut pop3_tx = [0u8; POP3_TX];
    let mut tls_rx = [0u8; RECORD_READ_BUF_SIZE];
    let mut tls_tx = [0u8; RECORD_WRITE_BUF_SIZE];
    // NOT SECURE: a board passes its hardware RNG here.
    let mut rng = InsecureDemoRng::new_insecure_constant_seed();
    loop {
        stack.wait_config_up().await;
        let p = provisioning();
        let trust = Trust::Anchors(p.trust_anchors);
        if let Some(mut socket) = mail::connect(stack, 995, &mut tcp_rx, &mut tcp_tx).await {
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
                        rx: &mut pop3_rx,
                        tx: &mut pop3_tx,
                    };
                    let config = ClientConfig {
                        timeouts: Timeouts::uniform(30_000),
                        ..ClientConfig::default()
                    };
                    let mut client = Client::new(&mut tls, Delay, buffers, config);
                    client.set_implicit_tls();
                    let r = poll(&mut client).await;
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
        match poll_task(stack) {
            Ok(token) => spawner.spawn(token),
            Err(_) => panic!("poll task already spawned"),
        }
    })
}
