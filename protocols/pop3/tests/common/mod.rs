//! The POP3 client tests' shared doubles: the scripted transport and timer from
//! `postwire_tests::mock`, plus the POP3 client builder.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use postwire_pop3::client::{Buffers, Client, ClientConfig};
pub use postwire_tests::mock::*;

/// A client over `mock` with `timer` and `config`.
pub fn client<'b>(
    mock: &'b mut Mock,
    timer: Timer,
    bufs: &'b mut Bufs,
    config: ClientConfig,
) -> Client<'b, &'b mut Mock, Timer> {
    Client::new(
        mock,
        timer,
        Buffers {
            rx: &mut bufs.rx,
            tx: &mut bufs.tx,
        },
        config,
    )
}

/// A configuration allowing credentials without TLS (the mock is not encrypted).
pub fn plain_config() -> ClientConfig {
    ClientConfig {
        allow_plaintext_auth: true,
        ..ClientConfig::default()
    }
}
