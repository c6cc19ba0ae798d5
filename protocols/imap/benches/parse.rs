//! Response parsing throughput for postwire-imap (slice parser and streaming reader),
//! imap-proto and imap-codec, all in the same run, on two deterministic streams of FETCH
//! responses (each ~64 MB, generated once at start-up; sizes and responses per MB printed):
//!
//! * `mailbox-sync` (structure-heavy, the "realistic FETCH responses" of the target): what
//!   a client sees when it synchronises a mailbox, see [`mailbox_sync_stream`].
//! * `body-heavy`: every response carries FLAGS, INTERNALDATE, ENVELOPE, a three-part
//!   BODYSTRUCTURE and a 0.5–8.5 KB literal body, see [`body_heavy_stream`].
//!
//! `cargo bench -p postwire-imap` prints throughput (criterion "thrpt", in MiB/s or GiB/s,
//! i.e. 2^20 / 2^30 bytes per second); responses/s = bytes/s ÷ bytes per response, printed
//! at the start for each stream. `PARSE_BENCH_ONLY=mailbox-sync` (or `body-heavy`) runs
//! one stream only.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    reason = "bench code"
)]

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

mod common;
use common::{
    body_heavy_stream, imap_codec, imap_proto, mailbox_sync_stream, postwire_reader, postwire_slice,
};

fn bench_stream(c: &mut Criterion, name: &str, input: &[u8], count: usize) {
    let mb = input.len() as f64 / 1e6;
    println!(
        "{name}: {:.1} MB, {count} FETCH responses ({:.0} responses per MB, {:.0} bytes per response)",
        mb,
        count as f64 / mb,
        input.len() as f64 / count as f64
    );
    let mut buf = vec![0u8; 16 * 1024];
    assert_eq!(postwire_slice(input), count);
    assert_eq!(postwire_reader(input, &mut buf), count);
    assert_eq!(imap_proto(input), count);
    assert_eq!(imap_codec(input), count);

    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(6));
    g.bench_function("postwire-slice", |b| b.iter(|| postwire_slice(input)));
    g.bench_function("postwire-reader-16k", |b| {
        b.iter(|| postwire_reader(input, &mut buf))
    });
    g.bench_function("imap-proto", |b| b.iter(|| imap_proto(input)));
    g.bench_function("imap-codec", |b| b.iter(|| imap_codec(input)));
    g.finish();
}

fn bench(c: &mut Criterion) {
    let only = std::env::var("PARSE_BENCH_ONLY").ok();
    let run = |n: &str| only.as_deref().is_none_or(|o| o == n);
    if run("mailbox-sync") {
        let (input, count) = mailbox_sync_stream(64 * 1024 * 1024);
        bench_stream(c, "mailbox-sync", &input, count);
    }
    if run("body-heavy") {
        let (input, count) = body_heavy_stream(64 * 1024 * 1024);
        bench_stream(c, "body-heavy", &input, count);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
