//! Job (c): polls the command mailbox over POP3 (TLS) every minute, replying by SMTP.
#![no_std]
#![no_main]

use embassy_executor::Spawner;
use postwire_board_esp32c3 as board;
use postwire_boards_common::jobs;

esp_bootloader_esp_idf::esp_app_desc!();

#[esp_rtos::main]
async fn main(spawner: Spawner) -> ! {
    let (stack, rng) = board::init(&spawner);
    jobs::pop3_commands(stack, rng, board::BOARD).await
}
