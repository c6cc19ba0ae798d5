//! The IMAP client tests' shared doubles: the scripted transport and timer from
//! `postwire_tests::mock`, plus the IMAP client builder and small script helpers.

use postwire_imap::client::{Buffers, Client, ClientConfig};
pub use postwire_tests::mock::*;

/// The client type of the tests.
pub type Cl<'b> = Client<'b, &'b mut Mock, Timer>;

/// A client over `mock` with `timer` and `config`.
pub fn client<'b>(
    mock: &'b mut Mock,
    timer: Timer,
    bufs: &'b mut Bufs,
    config: ClientConfig,
) -> Cl<'b> {
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

/// A configuration allowing credentials without TLS (the mock is not encrypted) and no
/// automatic ENABLE after login.
pub fn plain_config() -> ClientConfig {
    ClientConfig {
        allow_plaintext_auth: true,
        enable_extensions: false,
        ..ClientConfig::default()
    }
}

/// Rewrites the tag at the start of every line of `bytes` that begins with `from` followed
/// by a space into `to`.
pub fn retag(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let prefix = format!("{from} ");
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        match line.strip_prefix(prefix.as_bytes()) {
            Some(rest) => {
                out.extend_from_slice(to.as_bytes());
                out.push(b' ');
                out.extend_from_slice(rest);
            }
            None => out.extend_from_slice(line),
        }
    }
    out
}
