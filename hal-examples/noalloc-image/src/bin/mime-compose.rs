//! MIME without an allocator: compose a message (UTF-8 subject and sender name, text, an HTML
//! alternative and an attachment streamed from a reader) through a 1 KiB window, parse it back
//! with the streaming reader, and pull "the text of a message" out of a received one — what an
//! alert device and a command-mailbox device do. Linked here to prove it needs no heap and to
//! measure its flash cost (`scripts/footprint.sh`).
#![no_std]
#![no_main]

use core::hint::black_box;

use embedded_io_async::{ErrorType, Read};
use postwire_mime::reader::{Event, Reader};
use postwire_mime::{Attachment, Body, Composer, Headers, Mailbox, Message, Source};
use postwire_noalloc_image::{run_executor, time_driver};

/// A sensor log produced on the fly: the attachment is never held whole.
struct SensorLog(usize);

impl ErrorType for SensorLog {
    type Error = core::convert::Infallible;
}

impl Read for SensorLog {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let n = buf.len().min(self.0);
        for (i, b) in buf.iter_mut().take(n).enumerate() {
            *b = black_box(b'0' + (i % 10) as u8);
        }
        self.0 -= n;
        Ok(n)
    }
}

#[embassy_executor::task]
async fn compose_task() -> ! {
    let to = [Mailbox::named("Ops", "ops@example.test")];
    let msg: Message<'_, SensorLog, 1> = Message::new(Headers {
        to: &to,
        subject: Some(black_box("Temperatur 31 °C — Halle 3")),
        ..Headers::new(Mailbox::named("Sensor Ünit 7", "sensor7@example.test"))
    })
    .text(Body::Text(Source::Bytes(black_box(
        b"Temperatur: 31 \xc2\xb0C\n",
    ))))
    .html(Body::text(black_box("<p>Temperatur: 31 &deg;C</p>")));
    let mut msg = msg;
    let _ = msg.attach(Attachment::binary(
        "text/csv",
        "log.csv",
        Source::Reader(SensorLog(black_box(4096))),
    ));
    let mut wire = [0u8; 1024];
    let mut header_buf = [0u8; 256];
    let mut decoded = [0u8; 64];
    if let Ok(mut composer) = Composer::new(msg, black_box("a1b2c3")) {
        let mut reader = Reader::new(&mut header_buf).ok();
        loop {
            let n = composer.read(&mut wire).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            let Some(r) = reader.as_mut() else { break };
            let mut input = wire.get(..n).unwrap_or(&[]);
            while !input.is_empty() {
                match r.next(input, &mut decoded) {
                    Ok((k, ev)) => {
                        input = input.get(k..).unwrap_or(&[]);
                        if let Some(Event::Body(b)) = ev {
                            black_box(b);
                        }
                        if k == 0 && ev.is_none() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        }
    }
    let mut headers = [0u8; 256];
    let mut text = [0u8; 128];
    let received = black_box(
        &b"Subject: cmd\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSET interval 30\r\n"[..],
    );
    let _ = black_box(postwire_mime::text::text_of_message(
        received,
        &mut headers,
        &mut text,
    ));
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
    run_executor(|spawner| match compose_task() {
        Ok(token) => spawner.spawn(token),
        Err(_) => panic!("compose task already spawned"),
    })
}
