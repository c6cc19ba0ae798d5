//! The SMTP client tests' shared doubles: the scripted transport and timer from
//! `postwire_tests::mock`, plus the SMTP client builder and a reference dot-stuffing model.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use postwire_smtp::client::{Buffers, Client, ClientConfig};
pub use postwire_tests::mock::*;

/// A client over `mock` with `timer` and `config`.
pub fn client<'b>(
    mock: &'b mut Mock,
    timer: Timer,
    bufs: &'b mut Bufs,
    config: ClientConfig<'b>,
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

/// The data section as it must appear on the wire: bare CR and LF become CRLF, a dot at a line
/// start is doubled, a final line break is added when missing, then `.` CRLF. A test-side
/// reference model, written independently of `DotStuffer`.
pub fn reference_stuff(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at_start = true;
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        match b {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if body.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                at_start = true;
            }
            b'\n' => {
                out.extend_from_slice(b"\r\n");
                at_start = true;
            }
            _ => {
                if at_start && b == b'.' {
                    out.push(b'.');
                }
                out.push(b);
                at_start = false;
            }
        }
        i += 1;
    }
    if !at_start {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}
