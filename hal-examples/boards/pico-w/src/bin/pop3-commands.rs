//! Job (c): polls the command mailbox over POP3 (TLS) every minute, replying by SMTP.
#![no_std]
#![no_main]

use embassy_executor::Spawner;
use postwire_board_pico_w as board;
use postwire_boards_common::jobs;

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let (stack, rng) = board::init(&spawner).await;
    jobs::pop3_commands(stack, rng, board::BOARD).await
}
