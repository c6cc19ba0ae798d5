//! `proto::Session` fed arbitrary reply lines, with commands issued from a script chosen by
//! the input: it must never panic, and once failed it must stay failed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use postwire_smtp::proto::{Session, SessionConfig, State};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut s = Session::new(SessionConfig {
        client_domain: "client.example",
    });
    let mut out = [0u8; 512];
    let mut step = usize::from(selector);
    let mut rcpt: u16 = 0;
    for line in rest.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // Issue commands while no reply is outstanding (or pipelined ones).
        for _ in 0..3 {
            if s.awaiting_reply() && step % 3 != 0 {
                break;
            }
            let r = match step % 13 {
                0 => s.write_ehlo(&mut out),
                1 => s.write_helo(&mut out),
                2 => s.write_starttls(&mut out),
                3 => s.write_auth("PLAIN", Some(b"AGFsaWNlAHNlY3JldA=="), &mut out),
                4 => s.write_auth_response(b"dXNlcg==", &mut out),
                5 => s.write_mail_from(
                    "alice@example.test",
                    Some(100),
                    step % 2 == 0,
                    false,
                    &mut out,
                ),
                6 => {
                    rcpt = rcpt.wrapping_add(1);
                    s.write_rcpt_to("bob@example.test", rcpt, false, &mut out)
                }
                7 => s.write_data(&mut out),
                8 => s.data_sent().map(|()| 0),
                9 => s.write_rset(&mut out),
                10 => s.write_noop(&mut out),
                11 => s.tls_established().map(|()| 0),
                _ => s.write_quit(&mut out),
            };
            if let Ok(n) = r {
                assert!(n <= out.len());
                assert!(out[..n].ends_with(b"\r\n") || n == 0);
            }
            step = step
                .wrapping_mul(31)
                .wrapping_add(usize::from(line.first().copied().unwrap_or(7)));
        }
        let failed_before = s.failure();
        let r = s.handle_line(line);
        if let Some(f) = failed_before {
            assert_eq!(r, Err(f), "a failed session accepted input");
        }
        if s.failure().is_some() {
            assert_eq!(s.state(), State::Failed);
        }
        let _ = s.capabilities();
        let _ = s.last_reply_text();
        let _ = s.first_refusal_text();
        let _ = s.message_reply_text();
    }
});
