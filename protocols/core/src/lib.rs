//! Allocation-free building blocks shared by the postwire mail protocol crates.
//!
//! `postwire-core` is `#![no_std]`, never allocates and contains no `unsafe` code. Every
//! function works on caller-provided `&[u8]` / `&mut [u8]` buffers and every loop, line and
//! step count is bounded, so the same code runs on a microcontroller and on the host.
//!
//! # Layering
//!
//! The protocol crates (`postwire-smtp`, `postwire-pop3`, `postwire-imap`, `postwire-mime`)
//! are split into `wire` (pure parsing/encoding), `proto` (sans-I/O session state machines)
//! and `client` (thin async drivers). This crate sits below all of them and holds what they
//! share:
//!
//! | module | purpose |
//! |---|---|
//! | [`status`] | [`Status`]: `Complete(T)` or `Partial` (need more input) for incremental parsers |
//! | [`error`] | [`WireError`]: the shared wire-level error kinds |
//! | [`line`](mod@line) | [`line::LineBuffer`]: bounded line framing over a caller buffer, resynchronising after over-long lines |
//! | [`dot`] | streaming dot-stuffing ([`dot::DotStuffer`], SMTP DATA) and un-stuffing ([`dot::DotUnstuffer`], POP3 bodies) |
//! | [`base64`] | one-shot and streaming base64 (strict for SASL, lenient and line-wrapping for MIME) |
//! | [`sasl`] | client side SASL mechanisms: PLAIN, LOGIN, CRAM-MD5, XOAUTH2 (plus the POP3 APOP digest) |
//! | [`ascii`] | small byte-string helpers used for argument validation |
//! | [`fmt`] | logging shim macros forwarding to `defmt` or `log` (features of the same names) |
//!
//! Nothing here performs I/O; the protocol crates move bytes between sockets and these
//! codecs.
//!
//! # Features
//!
//! * `defmt`: derive `defmt::Format` for the public enums and route the logging macros to
//!   `defmt`.
//! * `log`: route the logging macros to the `log` crate.
//!
//! Enabling both is a compile error.
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

#[cfg(all(feature = "defmt", feature = "log"))]
compile_error!("postwire-core: the features `defmt` and `log` cannot be enabled at the same time");

pub mod fmt;

pub mod ascii;
pub mod base64;
pub mod dot;
pub mod error;
pub mod io;
pub mod line;
pub mod sasl;
pub mod status;

pub use error::WireError;
pub use status::Status;

/// Implementation details used by the exported macros. Not part of the public API.
#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "defmt")]
    pub use defmt;
    #[cfg(feature = "log")]
    pub use log;
}
