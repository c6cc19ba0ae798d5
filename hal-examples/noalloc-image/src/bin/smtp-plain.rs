//! SMTP over plain TCP (a relay on a trusted network, port 25/587): embassy-net TCP socket →
//! postwire-smtp client. CRAM-MD5 is preferred for AUTH without TLS; the clear-text
//! allowance is explicit (`allow_plaintext_auth`).
#![no_std]
#![no_main]

use embassy_net::Stack;
use embassy_time::{Delay, Timer};
use postwire_noalloc_image::{mail, net, rng::InsecureDemoRng, run_executor, time_driver};
use postwire_smtp::client::{Buffers, Client};
use rand_core::RngCore;

#[embassy_executor::task]
async fn alert_task(stack: Stack<'static>) -> ! {
    let mut tcp_rx = [0u8; mail::TCP_RX];
    let mut tcp_tx = [0u8; mail::TCP_TX];
    let mut smtp_rx = [0u8; mail::SMTP_RX];
    let mut smtp_tx = [0u8; mail::SMTP_TX];
    loop {
        stack.wait_config_up().await;
        if let Some(mut socket) = mail::connect(stack, 587, &mut tcp_rx, &mut tcp_tx).await {
            let buffers = Buffers {
                rx: &mut smtp_rx,
                tx: &mut smtp_tx,
            };
            let mut client = Client::new(&mut socket, Delay, buffers, mail::client_config(true));
            let r = match client.greet().await {
                Ok(()) => mail::authenticate_and_send(&mut client).await,
                Err(e) => Err(e),
            };
            mail::record_result(r);
            socket.close();
            let _ = embedded_io_async::Write::flush(&mut socket).await;
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
