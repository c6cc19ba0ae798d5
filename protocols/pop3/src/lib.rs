//! Allocation-free `no_std` POP3 client (RFC 1939, 2449, 2595, 3206, 5034) for firmware and
//! hosts alike.
//!
//! Three layers, each usable on its own:
//!
//! - [`wire`]: status lines (`+OK`, `-ERR`, `+ ` continuations) with RFC 2449 extended
//!   response codes (`[IN-USE]`, `[LOGIN-DELAY]`, `[SYS/TEMP]`, `[SYS/PERM]`, `[AUTH]`),
//!   framing of single- and multi-line responses, the STAT/LIST/UIDL/CAPA parsers (counts and
//!   sizes as `u64`) and the command encoder, which cannot emit CR, LF or NUL inside an
//!   argument.
//! - [`proto`]: the sans-I/O session state machine: it encodes commands into caller buffers,
//!   interprets status and listing lines, and removes the byte-stuffing of RETR/TOP bodies as a
//!   stream. No I/O, no generics.
//! - [`client`]: a thin async driver over any `embedded_io_async::{Read, Write}` transport
//!   (embassy-net sockets, embedded-tls streams, host sockets), with timeouts, STLS, every
//!   login method (USER/PASS, APOP, AUTH PLAIN/LOGIN/CRAM-MD5/XOAUTH2) and messages streamed
//!   into any `embedded_io_async::Write` or a chunk callback.
//!
//! Nothing allocates; every buffer is the caller's and every loop, line and listing is
//! bounded. A message of any size passes through a receive buffer of a few hundred bytes.
//!
//! # Deletions are committed only by QUIT
//!
//! `DELE` marks a message; the server removes the marked messages only when the session ends
//! with a successful `QUIT` ([`client::QuitReport::committed`]). `RSET`, a dropped connection,
//! a timeout or any failure before QUIT leaves every message in place. A device that polls a
//! command mailbox therefore retrieves a message, acts on it, and only then deletes it and
//! quits.
//!
//! # Security
//!
//! Credentials only over TLS unless the caller allows otherwise; implicit TLS (port 995) is
//! preferred, STLS (port 110) never falls back to plain text; bytes after the STLS go-ahead,
//! and any response nobody asked for, abort the connection; capabilities are re-read after
//! TLS; APOP only when the caller asks and the greeting carries a timestamp.
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

#[cfg(test)]
extern crate std;

#[cfg(all(feature = "defmt", feature = "log"))]
compile_error!("postwire-pop3: the features `defmt` and `log` cannot be enabled at the same time");

pub mod client;
pub mod proto;
pub mod wire;

pub use client::{
    AuthMethod, Buffers, Client, ClientConfig, Error, QuitReport, Stat, Stls, Timeouts, Uid,
};
pub use proto::{Rejection, Stage};
pub use wire::CodeKind;
