//! SMTP over TLS: embassy-net TCP socket → postwire-tls (embedded-tls, TLS 1.3) →
//! postwire-smtp client. Implicit TLS on port 465 (RFC 8314, preferred), falling back to
//! STARTTLS on port 587 when 465 cannot be reached. Both paths verify the server certificate
//! against the provisioned trust anchor; neither ever sends credentials in clear text.
#![no_std]
#![no_main]

use embassy_net::Stack;
use embassy_time::{Delay, Timer};
use postwire_noalloc_image::config::provisioning;
use postwire_noalloc_image::mail::{self, Outcome};
use postwire_noalloc_image::{net, rng::InsecureDemoRng, run_executor, time_driver};
use postwire_smtp::client::{Buffers, Client};
use postwire_tls::{RECORD_READ_BUF_SIZE, RECORD_WRITE_BUF_SIZE, Trust};
use rand_core::RngCore;

#[embassy_executor::task]
async fn alert_task(stack: Stack<'static>) -> ! {
    let mut tcp_rx = [0u8; mail::TCP_RX];
    let mut tcp_tx = [0u8; mail::TCP_TX];
    let mut smtp_rx = [0u8; mail::SMTP_RX];
    let mut smtp_tx = [0u8; mail::SMTP_TX];
    let mut tls_rx = [0u8; RECORD_READ_BUF_SIZE];
    let mut tls_tx = [0u8; RECORD_WRITE_BUF_SIZE];
    // NOT SECURE: a board passes its hardware RNG here.
    let mut rng = InsecureDemoRng::new_insecure_constant_seed();
    loop {
        stack.wait_config_up().await;
        let p = provisioning();
        let trust = Trust::Anchors(p.trust_anchors);

        // Implicit TLS, port 465.
        if let Some(mut socket) = mail::connect(stack, 465, &mut tcp_rx, &mut tcp_tx).await {
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
                        rx: &mut smtp_rx,
                        tx: &mut smtp_tx,
                    };
                    let mut client =
                        Client::new(&mut tls, Delay, buffers, mail::client_config(false));
                    client.set_implicit_tls();
                    let r = match client.greet().await {
                        Ok(()) => mail::authenticate_and_send(&mut client).await,
                        Err(e) => Err(e),
                    };
                    mail::record_result(r);
                    let _ = tls.close().await;
                }
                Err(_) => mail::record(Outcome::TlsFailed),
            }
            socket.close();
            socket.abort();
        } else if let Some(mut socket) = mail::connect(stack, 587, &mut tcp_rx, &mut tcp_tx).await {
            // STARTTLS, port 587: greet in clear text, upgrade, EHLO again, then authenticate.
            let buffers = Buffers {
                rx: &mut smtp_rx,
                tx: &mut smtp_tx,
            };
            let mut client = Client::new(&mut socket, Delay, buffers, mail::client_config(false));
            let upgraded = match client.greet().await {
                Ok(()) => client.starttls().await,
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
                            let r = match client.ehlo().await {
                                Ok(()) => mail::authenticate_and_send(&mut client).await,
                                Err(e) => Err(e),
                            };
                            mail::record_result(r);
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
        match alert_task(stack) {
            Ok(token) => spawner.spawn(token),
            Err(_) => panic!("alert task already spawned"),
        }
    })
}
