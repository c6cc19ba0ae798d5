//! Throughput ratios against imap-proto that hold on a shared, noisy machine.
//!
//! `cargo bench -p postwire-imap --bench ratio` parses the same two ~64 MB streams as the
//! `parse` bench (see `common`), but in interleaved rounds: each round times postwire's slice
//! parser, its streaming reader (16 KiB buffer), imap-proto and imap-codec one after the
//! other on the whole stream, so that a slow phase of the machine hits all four alike. It
//! prints, per stream, the median MB/s of each parser and the median of the per-round
//! ratios postwire / imap-proto (the figure of issue 5's target: at least 4x imap-proto).
//! Criterion's `parse` bench runs each parser for seconds in a row, so its ratios move with
//! the machine's load.
//!
//! `RATIO_ROUNDS` (default 11) sets the number of rounds, `PARSE_BENCH_ONLY=mailbox-sync`
//! (or `body-heavy`) one stream.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    reason = "bench code"
)]

use std::time::Instant;

mod common;
use common::{
    body_heavy_stream, imap_codec, imap_proto, mailbox_sync_stream, postwire_reader, postwire_slice,
};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn timed(f: impl FnOnce() -> usize, count: usize) -> f64 {
    let t = Instant::now();
    assert_eq!(f(), count);
    t.elapsed().as_secs_f64()
}

fn run(name: &str, input: &[u8], count: usize, rounds: usize) {
    let mb = input.len() as f64 / 1e6;
    let mut buf = vec![0u8; 16 * 1024];
    // [slice, reader, imap-proto, imap-codec] seconds per round.
    let mut secs: [Vec<f64>; 4] = Default::default();
    let (mut r_slice, mut r_reader) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = [
            timed(|| postwire_slice(input), count),
            timed(|| postwire_reader(input, &mut buf), count),
            timed(|| imap_proto(input), count),
            timed(|| imap_codec(input), count),
        ];
        for (s, t) in secs.iter_mut().zip(t) {
            s.push(t);
        }
        r_slice.push(t[2] / t[0]);
        r_reader.push(t[2] / t[1]);
    }
    let mbs = |s: &mut Vec<f64>| mb / median(s);
    let [s, r, p, c] = &mut secs;
    println!(
        "{name}: {mb:.1} MB, {count} FETCH responses, {rounds} interleaved rounds (medians)\n  \
         postwire-slice      {:8.0} MB/s {:10.0} responses/s  {:.2}x imap-proto\n  \
         postwire-reader-16k {:8.0} MB/s {:10.0} responses/s  {:.2}x imap-proto\n  \
         imap-proto          {:8.0} MB/s {:10.0} responses/s\n  \
         imap-codec          {:8.0} MB/s {:10.0} responses/s",
        mbs(s),
        mbs(s) / mb * count as f64,
        median(&mut r_slice),
        mbs(r),
        mbs(r) / mb * count as f64,
        median(&mut r_reader),
        mbs(p),
        mbs(p) / mb * count as f64,
        mbs(c),
        mbs(c) / mb * count as f64,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this once, quickly.
    let quick = !std::env::args().any(|a| a == "--bench");
    let only = std::env::var("PARSE_BENCH_ONLY").ok();
    let rounds = std::env::var("RATIO_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(11)
        .max(1);
    let (size, rounds) = if quick {
        (1 << 20, 1)
    } else {
        (64 << 20, rounds)
    };
    let want = |n: &str| only.as_deref().is_none_or(|o| o == n);
    if want("mailbox-sync") {
        let (input, count) = mailbox_sync_stream(size);
        run("mailbox-sync", &input, count, rounds);
    }
    if want("body-heavy") {
        let (input, count) = body_heavy_stream(size);
        run("body-heavy", &input, count, rounds);
    }
}
