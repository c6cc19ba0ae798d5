//! Allocation-free `no_std` IMAP4rev1 / IMAP4rev2 client and codec for postwire.
//!
//! Three layers, each usable on its own:
//!
//! | module | purpose |
//! |---|---|
//! | [`wire`] | the streaming response reader (fragmentizer + parser with lazily parsed views), one-shot slice parsing, and the command encoder |
//! | [`proto`] | the sans-I/O session: capabilities, connection state, the selected mailbox's state and how each response changes it |
//! | [`client`] | the async client over any `embedded_io_async::{Read, Write}` transport: STARTTLS / implicit TLS, LOGIN / AUTHENTICATE, mailboxes, streamed FETCH and APPEND, SEARCH, STORE, COPY / MOVE, EXPUNGE, IDLE, resumption |
//! | [`mutf7`] | modified UTF-7 mailbox names (RFC 3501 §5.1.3) into caller buffers |
//!
//! Everything works on caller-provided buffers, never allocates, contains no `unsafe` code
//! and bounds every line, literal and nesting level. Written from RFC 3501, RFC 9051 and the
//! extension RFCs (2087, 2177, 2342, 2971, 3691, 4314, 4315, 4731, 4959, 5161, 5256, 5258,
//! 5464, 5530, 6154, 6851, 7162, 7888, 8474).
//!
//! ```
//! use postwire_imap::wire::{parse_response, FetchItem, Response, Status};
//!
//! let input = b"* 12 FETCH (UID 99 FLAGS (\\Seen) ENVELOPE (NIL \"Hi\" NIL NIL NIL NIL NIL NIL NIL NIL))\r\n";
//! let Ok(Status::Complete((_, Response::Fetch(f)))) = parse_response(input) else { unreachable!() };
//! assert_eq!(f.seq, 12);
//! assert_eq!(f.items.uid(), Some(99));
//! let Some(FetchItem::Envelope(env)) = f.items.get(b"ENVELOPE") else { unreachable!() };
//! assert!(env.subject().unwrap().eq_bytes(b"Hi"));
//! ```
//!
//! # Features
//!
//! * `defmt`: derive `defmt::Format` for the public enums.
//! * `log`: logging through the `log` crate (via `postwire-core`).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

#[cfg(test)]
extern crate std;

pub mod client;
pub mod mutf7;
pub mod proto;
pub mod wire;
