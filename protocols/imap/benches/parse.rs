//! Response parsing throughput on one ~60 MB stream of realistic FETCH responses (FLAGS,
//! INTERNALDATE, ENVELOPE, BODYSTRUCTURE and a literal body), for postwire-imap (slice
//! parser and streaming reader), imap-proto and imap-codec, in the same run.
//!
//! `cargo bench -p postwire-imap` prints MB/s (criterion "thrpt"); responses/s = MB/s ×
//! responses per MB, printed once at the start.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    reason = "bench code"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use imap_codec::ResponseCodec;
use imap_codec::decode::Decoder;
use postwire_imap::wire::{Event, ReaderConfig, Response, ResponseReader, Status, parse_response};

/// Deterministic pseudo-random numbers (xorshift).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn stream(target: usize) -> (Vec<u8>, usize) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let names = [
        "Alice Example",
        "Bob \\\"Bobby\\\" Builder",
        "Carol",
        "Dave von Nowhere",
    ];
    let subjects = [
        "Quarterly report",
        "Re: lunch?",
        "=?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_Berlin?=",
        "[list] Weekly digest, issue 42",
    ];
    let mut out = Vec::with_capacity(target + 16 * 1024);
    let mut n = 0;
    let mut seq = 1u64;
    while out.len() < target {
        let body_len = 512 + rng.below(8 * 1024) as usize;
        let name = names[rng.below(4) as usize];
        let subj = subjects[rng.below(4) as usize];
        let uid = 100_000 + seq;
        out.extend_from_slice(format!(
            "* {seq} FETCH (UID {uid} FLAGS (\\Seen $NotJunk) INTERNALDATE \"17-Jul-2024 02:44:25 -0700\" RFC822.SIZE {size} \
ENVELOPE (\"Wed, 17 Jul 2024 02:44:25 -0700\" \"{subj}\" ((\"{name}\" NIL \"alice\" \"example.org\")) ((\"{name}\" NIL \"alice\" \"example.org\")) ((\"{name}\" NIL \"alice\" \"example.org\")) ((NIL NIL \"bob\" \"example.net\")(\"Carol\" NIL \"carol\" \"example.com\")) NIL NIL \"<parent-{seq}@example.org>\" \"<msg-{uid}@example.org>\") \
BODYSTRUCTURE ((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\" \"FORMAT\" \"flowed\") NIL NIL \"QUOTED-PRINTABLE\" {half} {lines} NIL NIL NIL NIL)(\"TEXT\" \"HTML\" (\"CHARSET\" \"utf-8\") NIL NIL \"QUOTED-PRINTABLE\" {half} {lines} NIL NIL NIL NIL)(\"APPLICATION\" \"PDF\" (\"NAME\" \"report.pdf\") NIL NIL \"BASE64\" 81234 NIL (\"ATTACHMENT\" (\"FILENAME\" \"report.pdf\")) NIL NIL) \"MIXED\" (\"BOUNDARY\" \"----=_Part_{seq}\") NIL NIL NIL) \
BODY[] {{{body_len}}}\r\n",
            size = body_len,
            half = body_len / 2,
            lines = body_len / 60,
        ).as_bytes());
        for i in 0..body_len {
            let b = if i % 64 == 63 {
                b'\n'
            } else if i % 64 == 62 {
                b'\r'
            } else {
                b'a' + (i % 26) as u8
            };
            out.push(b);
        }
        out.extend_from_slice(b")\r\n");
        seq += 1;
        n += 1;
    }
    (out, n)
}

fn postwire_slice(input: &[u8]) -> usize {
    let mut rest = input;
    let mut n = 0;
    while let Ok(Status::Complete((used, r))) = parse_response(rest) {
        black_box(&r);
        rest = &rest[used..];
        n += 1;
    }
    n
}

fn postwire_reader(input: &[u8], buf: &mut [u8]) -> usize {
    let mut r = ResponseReader::new(
        buf,
        ReaderConfig {
            greeting: false,
            ..ReaderConfig::DEFAULT
        },
    );
    let mut rest = input;
    let mut n = 0;
    loop {
        while let Some(ev) = r.next_event().unwrap() {
            match ev {
                Event::Response(Response::Fetch(f)) => {
                    black_box(f);
                    n += 1;
                }
                Event::FetchMore { streamed: None, .. } => n += 1,
                other => {
                    black_box(other);
                }
            }
        }
        if rest.is_empty() {
            return n;
        }
        let k = r.feed(rest);
        rest = &rest[k..];
    }
}

fn imap_proto(input: &[u8]) -> usize {
    let mut rest = input;
    let mut n = 0;
    while !rest.is_empty() {
        match imap_proto::parser::parse_response(rest) {
            Ok((r, resp)) => {
                black_box(&resp);
                rest = r;
                n += 1;
            }
            Err(_) => break,
        }
    }
    n
}

fn imap_codec(input: &[u8]) -> usize {
    let codec = ResponseCodec::default();
    let mut rest = input;
    let mut n = 0;
    while !rest.is_empty() {
        match codec.decode(rest) {
            Ok((r, resp)) => {
                black_box(&resp);
                rest = r;
                n += 1;
            }
            Err(_) => break,
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let (input, count) = stream(64 * 1024 * 1024);
    let mb = input.len() as f64 / 1e6;
    println!(
        "stream: {:.1} MB, {count} FETCH responses ({:.0} responses per MB)",
        mb,
        count as f64 / mb
    );
    let mut buf = vec![0u8; 16 * 1024];
    assert_eq!(postwire_slice(&input), count);
    assert_eq!(postwire_reader(&input, &mut buf), count);
    assert_eq!(imap_proto(&input), count);
    assert_eq!(imap_codec(&input), count);

    let mut g = c.benchmark_group("fetch-stream");
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("postwire-slice", |b| b.iter(|| postwire_slice(&input)));
    g.bench_function("postwire-reader-16k", |b| {
        b.iter(|| postwire_reader(&input, &mut buf))
    });
    g.bench_function("imap-proto", |b| b.iter(|| imap_proto(&input)));
    g.bench_function("imap-codec", |b| b.iter(|| imap_codec(&input)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
