//! Allocation-free `no_std` SMTP client (RFC 5321) for firmware and hosts alike.
//!
//! Three layers, each usable on its own:
//!
//! - [`wire`]: the reply parser (multi-line replies, RFC 3463 enhanced status codes, EHLO
//!   capabilities) and the command encoder, which cannot emit CR, LF or NUL inside an argument.
//! - [`proto`]: the sans-I/O session state machine: it encodes commands into caller buffers and
//!   interprets reply lines, with pipelining, STARTTLS and AUTH bookkeeping. No I/O, no generics.
//! - [`client`]: a thin async driver over any `embedded_io_async::{Read, Write}` transport
//!   (embassy-net sockets, embedded-tls streams, host sockets), with timeouts and streamed
//!   message bodies.
//!
//! Nothing allocates; every buffer is the caller's and every loop and line is bounded.
//!
//! Security rules kept by the client: credentials only over TLS unless the caller allows
//! otherwise; no fallback to plain text when STARTTLS was asked for; bytes received after the
//! STARTTLS go-ahead abort the connection; capabilities are re-read after TLS; the body is
//! dot-stuffed and every bare CR or LF in it becomes CRLF (SMTP smuggling defence).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod proto;
pub mod wire;

pub use client::{
    Buffers, Client, ClientConfig, Envelope, Error, RecipientStatus, SendReport, Timeouts,
};
pub use proto::{Rejection, Stage};
