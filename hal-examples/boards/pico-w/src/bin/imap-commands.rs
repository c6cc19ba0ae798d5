//! Job (b): serves the command mailbox over IMAP IDLE (TLS), replying by SMTP.
#![no_std]
#![no_main]

use embassy_executor::Spawner;
use postwire_board_pico_w as board;
use postwire_boards_common::jobs;

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let (stack, rng) = board::init(&spawner).await;
    jobs::imap_commands(stack, rng, board::BOARD).await
}
