//! Allocation-free `no_std` MIME for mail clients on microcontrollers: a streaming composer and
//! a streaming reader.
//!
//! # Composing
//! Describe a [`Message`] (headers, text, HTML, attachments streamed from any
//! `embedded_io_async::Read`) and turn it into a [`Composer`], which *is* an
//! `embedded_io_async::Read`: hand it to the SMTP client's `send` and the message is produced
//! while it is being sent, through the client's buffers, with no copy of it anywhere. Charsets
//! and transfer encodings are chosen per part (see [`compose`]); headers are folded, non-ASCII
//! text becomes RFC 2047 encoded words, file names RFC 2231 parameters, and every value is
//! checked against header injection.
//!
//! ```
//! use postwire_mime::{Body, Composer, Date, Headers, Mailbox, Message, MessageId, NoReader};
//!
//! let to = [Mailbox::named("Bob", "bob@example.test")];
//! let msg: Message<'_, NoReader, 0> = Message::new(Headers {
//!     to: &to,
//!     subject: Some("Température: 31 °C"),
//!     date: Some(Date { unix: 1_795_395_051, offset_minutes: 60 }),
//!     message_id: Some(MessageId { token: "7f3a9c", domain: "example.test" }),
//!     ..Headers::new(Mailbox::named("Capteur 7", "s7@example.test"))
//! })
//! .text(Body::text("Halle 3: 31 °C\n"));
//! let mut composer = Composer::new(msg, "7f3a9c").unwrap();
//! let mut wire = Vec::new();
//! composer.write_sync(|b| wire.extend_from_slice(b)).unwrap();
//! let wire = String::from_utf8(wire).unwrap();
//! assert!(wire.starts_with("From: Capteur 7 <s7@example.test>\r\nTo: Bob <bob@example.test>\r\n"));
//! assert!(wire.contains("Subject: =?utf-8?B?VGVtcMOpcmF0dXJlOiAzMSDCsEM=?=\r\n"));
//! assert!(wire.contains("Date: Mon, 23 Nov 2026 01:50:51 +0100\r\n"));
//! assert!(wire.ends_with("Content-Transfer-Encoding: quoted-printable\r\n\r\nHalle 3: 31 =C2=B0C\r\n"));
//! ```
//!
//! # Reading
//! [`reader::Reader`] is a sans-I/O streaming parser: feed it bytes, get events (header fields,
//! part starts with their content type, decoded body chunks, part ends), nested multiparts and
//! `message/rfc822` included. It needs one caller buffer that holds the longest header field.
//! [`rfc2047::decode_header_value`] decodes header values, [`params`] Content-Type and
//! Content-Disposition parameters (RFC 2231), and [`text::text_of_message`] picks "the text"
//! of a message in one call.
//!
//! # Modules
//! | module | purpose |
//! |---|---|
//! | [`compose`] | [`Message`], [`Composer`] (the pull source) |
//! | [`header`] | header rendering: folding, encoded words, addresses, dates, parameters |
//! | [`reader`] | the streaming reader |
//! | [`text`] | "the text of this message" |
//! | [`rfc2047`] | header value decoding |
//! | [`params`] | Content-Type / Content-Disposition parameters |
//! | [`qp`] | streaming quoted-printable encoder and decoder |
//! | [`charset`] | UTF-8, US-ASCII, ISO-8859-1/-15/-6, Windows-1252 → UTF-8 |
//! | [`sink`] | the windowed header rendering |
//!
//! Base64 is `postwire_core::base64`.
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

pub mod charset;
pub mod compose;
pub mod error;
pub mod header;
pub mod params;
pub mod qp;
pub mod reader;
pub mod rfc2047;
pub mod sink;
pub mod text;

pub use compose::{
    Attachment, Body, Composer, Headers, Message, MessageId, NoReader, Source, TransferEncoding,
};
pub use error::{ComposeError, MimeError};
pub use header::{Date, Mailbox};
