//! postwire on the host: std/tokio adapters to `embedded-io-async`, TLS over them with the same
//! embedded-tls code a firmware uses, and the pieces of the `postwire` command-line tool.
//!
//! - [`app_net`]: the device logic (`postwire-app`) on the host: its `Net` over tokio.
//! - [`demo`]: `postwire demo`: the device jobs against the test peer or real servers.
//! - [`net`]: TCP connections (TCP_NODELAY set), a tokio-backed `DelayNs`, the OS RNG.
//! - [`tls`]: CA files, and TLS handshakes over host sockets through `postwire-tls`.
//! - [`send`]: `postwire send` as a function.
//! - [`message`]: the simple text message `postwire send` composes.
//! - [`decode`]: `postwire decode`.
//! - [`pop3`]: `postwire pop3` as a function and its command-line front end.
//! - [`imap`]: `postwire imap`: connection setup (connect, STARTTLS, login) as a function,
//!   and the command-line front end.
//! - [`peer`]: an in-process, memory-backed SMTP/IMAP/POP3 peer over TLS for tests and
//!   `postwire demo` (a test peer, not a mail server).

pub mod app_net;
pub mod decode;
pub mod demo;
pub mod imap;
pub mod message;
pub mod net;
pub mod peer;
pub mod pop3;
pub mod send;
pub mod tls;
