//! Compose throughput of a message with text, HTML and a 1 MiB binary attachment:
//! postwire-mime (streaming, no allocation) against mail-builder and lettre (both build the
//! whole message in memory), in the same run. Throughput is counted in attachment bytes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    reason = "bench code"
)]

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use postwire_mime::{Attachment, Body, Composer, Headers, Mailbox, Message, NoReader, Source};

const MIB: usize = 1 << 20;
const TEXT: &str = "Grüße aus der Halle 3.\nDie Temperatur liegt bei 31 °C.\n";
const HTML: &str = "<html><body><p>Grüße aus der Halle 3.</p><p>31 °C</p></body></html>\n";
const SUBJECT: &str = "Messdaten März — Halle 3 ✓";

fn data() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..MIB)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn ours(att: &[u8]) -> usize {
    let to = [Mailbox::named("Bob", "bob@example.test")];
    let mut msg: Message<'_, NoReader, 1> = Message::new(Headers {
        to: &to,
        subject: Some(SUBJECT),
        ..Headers::new(Mailbox::named("Zoë Sensor", "zoe@example.test"))
    })
    .text(Body::text(TEXT))
    .html(Body::text(HTML));
    msg.attach(Attachment::binary(
        "application/octet-stream",
        "messdaten.bin",
        Source::Bytes(att),
    ))
    .unwrap();
    let mut c = Composer::new(msg, "bench0token").unwrap();
    // Stream through a 512-byte buffer into a sink that only counts (as the SMTP client's
    // dot-stuffer would consume it).
    let mut n = 0;
    c.write_sync(|b| n += black_box(b).len()).unwrap();
    n
}

fn mail_builder(att: &[u8]) -> usize {
    mail_builder::MessageBuilder::new()
        .from(("Zoë Sensor", "zoe@example.test"))
        .to(("Bob", "bob@example.test"))
        .subject(SUBJECT)
        .text_body(TEXT)
        .html_body(HTML)
        .attachment("application/octet-stream", "messdaten.bin", att)
        .write_to_vec()
        .unwrap()
        .len()
}

fn lettre(att: &[u8]) -> usize {
    use lettre::message::{Attachment as LAttachment, MultiPart, header::ContentType};
    let m = lettre::Message::builder()
        .from("Zoë Sensor <zoe@example.test>".parse().unwrap())
        .to("Bob <bob@example.test>".parse().unwrap())
        .subject(SUBJECT)
        .multipart(
            MultiPart::mixed()
                .multipart(MultiPart::alternative_plain_html(
                    TEXT.to_string(),
                    HTML.to_string(),
                ))
                .singlepart(LAttachment::new("messdaten.bin".to_string()).body(
                    att.to_vec(),
                    ContentType::parse("application/octet-stream").unwrap(),
                )),
        )
        .unwrap();
    m.formatted().len()
}

fn compose(c: &mut Criterion) {
    let att = data();
    eprintln!(
        "message sizes: postwire-mime {} B, mail-builder {} B, lettre {} B",
        ours(&att),
        mail_builder(&att),
        lettre(&att)
    );
    let mut g = c.benchmark_group("compose_1MiB_attachment");
    g.throughput(Throughput::Bytes(MIB as u64));
    g.sample_size(30);
    g.bench_function("postwire-mime", |b| b.iter(|| ours(black_box(&att))));
    g.bench_function("mail-builder", |b| b.iter(|| mail_builder(black_box(&att))));
    g.bench_function("lettre", |b| b.iter(|| lettre(black_box(&att))));
    g.finish();
}

criterion_group!(benches, compose);
criterion_main!(benches);
