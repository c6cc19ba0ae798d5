//! Job (a): sends an alert e-mail (SMTP, AUTH, TLS) once the network is up.
#![no_std]
#![no_main]

use embassy_executor::Spawner;
use postwire_board_stm32_eth as board;
use postwire_boards_common::jobs;

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let (stack, rng) = board::init(&spawner);
    jobs::alert(stack, rng).await
}
