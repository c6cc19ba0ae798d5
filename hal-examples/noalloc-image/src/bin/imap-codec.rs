//! The IMAP codec without an allocator: encode commands (mUTF-7 mailbox names, literals),
//! read a response stream through a 1 KiB buffer — a FETCH whose message body is a literal far
//! larger than the buffer is handed out in chunks — and look at the parsed responses. This is
//! the layer the IMAP client sits on; linked here to prove it needs no heap and to measure its
//! flash cost (`scripts/footprint.sh`).
#![no_std]
#![no_main]

use core::hint::black_box;

use postwire_imap::mutf7;
use postwire_imap::wire::{
    Command, EncodeOptions, Event, LiteralMode, ReaderConfig, ResponseReader,
};
use postwire_noalloc_image::{run_executor, time_driver};

/// A server's answer to SELECT and a FETCH of a body (as a device would receive it in pieces).
const SERVER: &[u8] = b"* 3 EXISTS\r\n* OK [UIDVALIDITY 1700000000] UIDs valid\r\n\
* FLAGS (\\Seen \\Deleted \\Flagged)\r\na1 OK [READ-WRITE] SELECT completed\r\n\
* 1 FETCH (UID 42 FLAGS (\\Seen) ENVELOPE (\"Sun, 22 Nov 2026 00:00:00 +0000\" \"cmd\" \
((\"Ops\" NIL \"ops\" \"example.test\")) NIL NIL NIL NIL NIL NIL \"<id@example.test>\") \
BODY[TEXT] {18}\r\nSET interval 30\r\n\r\n)\r\na2 OK FETCH completed\r\n";

#[embassy_executor::task]
async fn imap_task() -> ! {
    let mut out = [0u8; 256];
    let opts = EncodeOptions {
        literal: LiteralMode::Plus,
        ..EncodeOptions::default()
    };
    let mailbox = black_box("Befehle/Entwürfe");
    let _ = black_box(
        Command::Select {
            mailbox,
            condstore: false,
        }
        .encode("a1", &opts, &mut out),
    );
    let mut name = [0u8; 64];
    let _ = black_box(mutf7::encode(mailbox, &mut name));
    let mut decoded = [0u8; 64];
    let _ = black_box(mutf7::decode(black_box(b"Entw&APw-rfe"), &mut decoded));

    let mut buf = [0u8; 1024];
    let mut reader = ResponseReader::new(&mut buf, ReaderConfig::DEFAULT);
    let mut input = black_box(SERVER);
    let mut body_bytes = 0usize;
    let mut responses = 0u64;
    loop {
        // Feed in small pieces, as a socket would deliver them.
        let take = input.len().min(black_box(64));
        let (chunk, rest) = input.split_at(take);
        let fed = reader.feed(chunk);
        input = chunk.get(fed..).map_or(rest, |_| rest);
        loop {
            match reader.next_event() {
                Ok(Some(Event::LiteralData { data, .. })) => body_bytes += data.len(),
                Ok(Some(Event::Response(response))) => {
                    black_box(&response);
                    responses += 1;
                }
                Ok(Some(ev)) => {
                    black_box(&ev);
                }
                Ok(None) | Err(_) => break,
            }
        }
        if input.is_empty() || fed == 0 {
            break;
        }
    }
    black_box((body_bytes, responses));
    loop {
        embassy_time::Timer::after_secs(60).await;
    }
}

#[cortex_m_rt::entry]
fn main() -> ! {
    let Some(p) = cortex_m::Peripherals::take() else {
        panic!("peripherals taken")
    };
    time_driver::init(p.SYST);
    run_executor(|spawner| match imap_task() {
        Ok(token) => spawner.spawn(token),
        Err(_) => panic!("imap task already spawned"),
    })
}
