//! `proto::Session` fed arbitrary server bytes through a `LineBuffer` (status and listing
//! lines) and `handle_body` (RETR/TOP bodies), with commands issued from a script chosen by
//! the input: never a panic, body output never exceeds input, and once failed it stays
//! failed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postwire_core::line::LineBuffer;
use postwire_pop3::proto::{Session, SessionConfig, State};

fuzz_target!(|data: &[u8]| {
    let [sel, chunk, rest @ ..] = data else {
        return;
    };
    let chunk = usize::from(*chunk % 64) + 1;
    let mut s = Session::new(SessionConfig {
        max_listing_lines: 50,
        max_body_bytes: 4096,
    });
    let mut storage = [0u8; 96];
    let mut rx = LineBuffer::new(&mut storage);
    let mut out = [0u8; 64];
    let mut body = [0u8; 32];
    let mut step = usize::from(*sel);
    for piece in rest.chunks(chunk) {
        let spare = rx.spare();
        let n = spare.len().min(piece.len());
        spare[..n].copy_from_slice(&piece[..n]);
        rx.commit(n);
        loop {
            if s.state() == State::Failed {
                assert!(s.failure().is_some());
                assert!(s.write_noop(&mut out).is_err());
                return;
            }
            if !s.awaiting_response() {
                step = step.wrapping_mul(31).wrapping_add(7);
                let _ = match step % 16 {
                    0 => s.write_capa(&mut out),
                    1 => s.write_stls(&mut out),
                    2 => s.write_user("alice", &mut out),
                    3 => s.write_pass("secret", &mut out),
                    4 => s.write_auth("PLAIN", Some(b"AGFsaWNlAHNlY3JldA=="), &mut out),
                    5 => s.write_auth_response(b"dXNlcg==", &mut out),
                    6 => s.write_stat(&mut out),
                    7 => s.write_list(None, &mut out),
                    8 => s.write_list(Some(1), &mut out),
                    9 => s.write_uidl(None, &mut out),
                    10 => s.write_uidl(Some(2), &mut out),
                    11 => s.write_retr(1, &mut out),
                    12 => s.write_top(1, 3, &mut out),
                    13 => s.write_dele(1, &mut out),
                    14 => s.write_apop("alice", b"c4c9334bac560ecc979e58001b3e22fb", &mut out),
                    _ => s.write_quit(&mut out),
                };
                if s.state() == State::TlsPending {
                    let _ = s.tls_established();
                }
            }
            if s.in_body() {
                let input = rx.buffered();
                let len = input.len();
                match s.handle_body(input, &mut body) {
                    Ok(p) => {
                        assert!(p.consumed <= len && p.written <= p.consumed);
                        rx.consume(p.consumed);
                        if p.consumed == 0 && !p.done {
                            break;
                        }
                    }
                    Err(_) => continue,
                }
                continue;
            }
            match rx.next_line() {
                Ok(Some(line)) => {
                    let _ = s.handle_line(line);
                }
                Ok(None) => break,
                Err(_) => {}
            }
        }
    }
});
