//! The peer's POP3 service (RFC 1939, 2449, 2595, 5034). The maildrop is the user's INBOX
//! as it was at login; DELE marks, QUIT commits (the messages leave the INBOX, which IMAP
//! sessions see as EXPUNGE). There is no maildrop lock.

use std::io;

use super::{Conn, Direction, Flow, Line, Reply, b64_decode, sasl_plain, show};

/// Longest command line (RFC 2449 allows 255 octets; AUTH responses may be longer).
const MAX_COMMAND: usize = 4096;

struct Msg {
    uid: u32,
    /// The message with CRLF line ends, ending in CRLF.
    text: Vec<u8>,
    deleted: bool,
}

struct Drop_ {
    user: String,
    uidvalidity: u32,
    msgs: Vec<Msg>,
}

#[derive(Default)]
struct Session {
    user_given: Option<String>,
    drop: Option<Drop_>,
}

/// `raw` with every line end made CRLF, ending in CRLF (unless empty).
fn to_crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 16);
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'\r' if raw.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            _ => out.push(b),
        }
        i += 1;
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Lines of CRLF text, dot-stuffed, then the terminator.
fn dot_stuffed(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 16);
    let mut at_line_start = true;
    for &b in text {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    out.extend_from_slice(b".\r\n");
    out
}

fn mask(line: &[u8]) -> String {
    let s = show(line);
    let upper = s.to_ascii_uppercase();
    if upper.starts_with("PASS ") || upper == "PASS" {
        return "PASS ***".to_string();
    }
    if upper.starts_with("AUTH ") {
        let mut w = s.split(' ');
        let verb = w.next().unwrap_or_default();
        let mech = w.next().unwrap_or_default();
        if w.next().is_some() {
            return format!("{verb} {mech} ***");
        }
    }
    s
}

pub(crate) async fn serve(conn: &mut Conn) -> io::Result<()> {
    conn.send_line("+OK postwire test peer ready").await?;
    let mut s = Session::default();
    loop {
        let line = match conn.read_line(MAX_COMMAND).await? {
            Line::Ok(l) => l,
            Line::Eof => return Ok(()),
            Line::TooLong => {
                conn.note(Direction::Client, "<line too long>");
                conn.send_line("-ERR Line too long").await?;
                continue;
            }
        };
        let shown = mask(&line);
        conn.note(Direction::Client, shown.clone());
        let cut = conn.take_fault(&shown);
        if conn.cut_now(cut) {
            return Ok(());
        }
        let (reply, flow) = command(conn, &mut s, &line).await?;
        if !conn.finish(cut, reply, flow).await? {
            return Ok(());
        }
    }
}

fn capa(conn: &Conn, s: &Session) -> Reply {
    let mut r = Reply::line("+OK Capability list follows");
    for c in ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE"] {
        r.push_line(c);
    }
    if conn.is_tls() {
        // Login only once TLS is up (RFC 2595 §4).
        if s.drop.is_none() {
            r.push_line("USER");
            r.push_line("SASL PLAIN");
        }
    } else {
        r.push_line("STLS");
    }
    r.push_line("IMPLEMENTATION postwire-test-peer");
    r.push_line(".");
    r
}

fn err(t: &str) -> io::Result<(Reply, Flow)> {
    Ok((Reply::line(&format!("-ERR {t}")), Flow::Continue))
}

fn okr(t: &str) -> io::Result<(Reply, Flow)> {
    let line = if t.is_empty() {
        "+OK".to_string()
    } else {
        format!("+OK {t}")
    };
    Ok((Reply::line(&line), Flow::Continue))
}

fn login(conn: &Conn, s: &mut Session, user: &str, pass: &str) -> io::Result<(Reply, Flow)> {
    let Some(name) = conn.shared.check_login(user, pass) else {
        return err("[AUTH] Invalid user name or password");
    };
    let drop = conn.shared.read(|st| {
        st.mailbox(&name, "INBOX").ok().map(|mb| Drop_ {
            user: name.clone(),
            uidvalidity: mb.uidvalidity,
            msgs: mb
                .messages
                .iter()
                .map(|m| Msg {
                    uid: m.uid,
                    text: to_crlf(&m.raw),
                    deleted: false,
                })
                .collect(),
        })
    });
    let Some(drop) = drop else {
        return err("[SYS/TEMP] Maildrop unavailable");
    };
    let n = drop.msgs.len();
    s.drop = Some(drop);
    okr(&format!("Logged in, {n} messages"))
}

/// The message number argument (1-based, not deleted).
fn msg_arg<'d>(drop: &'d Drop_, arg: &str) -> Result<(usize, &'d Msg), &'static str> {
    let n: usize = arg.parse().map_err(|_| "Invalid message number")?;
    match n.checked_sub(1).and_then(|i| drop.msgs.get(i)) {
        Some(m) if m.deleted => Err("Message is deleted"),
        Some(m) => Ok((n, m)),
        None => Err("No such message"),
    }
}

async fn command(conn: &mut Conn, s: &mut Session, raw: &[u8]) -> io::Result<(Reply, Flow)> {
    let Ok(line) = std::str::from_utf8(raw) else {
        return err("Invalid characters in command");
    };
    let mut words = line.split(' ');
    let verb = words.next().unwrap_or_default().to_ascii_uppercase();
    if verb == "PASS" && s.drop.is_none() {
        // The password is the rest of the line, spaces included (RFC 1939 §7).
        let pass = line.get(5..).unwrap_or_default();
        let Some(user) = s.user_given.take() else {
            return err("Send USER first");
        };
        return login(conn, s, &user, pass);
    }
    let args: Vec<&str> = words.collect();
    if args.iter().any(|a| a.is_empty()) {
        return err("Syntax error");
    }
    match verb.as_str() {
        "CAPA" if args.is_empty() => Ok((capa(conn, s), Flow::Continue)),
        "QUIT" if args.is_empty() => {
            let Some(drop) = s.drop.take() else {
                return Ok((Reply::line("+OK Bye"), Flow::Close));
            };
            let gone: Vec<u32> = drop
                .msgs
                .iter()
                .filter(|m| m.deleted)
                .map(|m| m.uid)
                .collect();
            if !gone.is_empty() {
                conn.shared.modify(|st| {
                    if let Ok(mb) = st.mailbox_mut(&drop.user, "INBOX") {
                        mb.remove(&gone);
                    }
                });
            }
            Ok((
                Reply::line(&format!("+OK Bye, {} messages deleted", gone.len())),
                Flow::Close,
            ))
        }
        "NOOP" if args.is_empty() && s.drop.is_some() => okr(""),
        _ if s.drop.is_none() => authorization(conn, s, &verb, &args).await,
        _ => transaction(s, &verb, &args),
    }
}

async fn authorization(
    conn: &mut Conn,
    s: &mut Session,
    verb: &str,
    args: &[&str],
) -> io::Result<(Reply, Flow)> {
    match (verb, args) {
        ("STLS", []) => {
            if conn.is_tls() {
                return err("Command not permitted when TLS active");
            }
            Ok((Reply::line("+OK Begin TLS negotiation"), Flow::StartTls))
        }
        ("USER", [name]) => {
            if !conn.is_tls() {
                return err("[SYS/PERM] Issue STLS first");
            }
            s.user_given = Some((*name).to_string());
            okr("")
        }
        ("AUTH", []) => {
            let mut r = Reply::line("+OK Mechanisms follow");
            if conn.is_tls() {
                r.push_line("PLAIN");
            }
            r.push_line(".");
            Ok((r, Flow::Continue))
        }
        ("AUTH", [mech, rest @ ..]) if rest.len() <= 1 => {
            if !conn.is_tls() {
                return err("[SYS/PERM] Issue STLS first");
            }
            if !mech.eq_ignore_ascii_case("PLAIN") {
                return err("Unsupported mechanism");
            }
            let response = match rest.first() {
                Some(ir) => ir.as_bytes().to_vec(),
                None => {
                    conn.send_line("+ ").await?;
                    match conn.read_line(MAX_COMMAND).await? {
                        Line::Ok(l) => {
                            conn.note(Direction::Client, "***");
                            l
                        }
                        Line::TooLong => return err("Line too long"),
                        Line::Eof => return Err(io::ErrorKind::UnexpectedEof.into()),
                    }
                }
            };
            if response == b"*" {
                return err("Authentication cancelled");
            }
            match b64_decode(&response).as_deref().and_then(sasl_plain) {
                Some((u, p)) => login(conn, s, &u, &p),
                None => err("[AUTH] Authentication failed"),
            }
        }
        _ => err("Unknown command or wrong state"),
    }
}

fn transaction(s: &mut Session, verb: &str, args: &[&str]) -> io::Result<(Reply, Flow)> {
    let Some(drop) = s.drop.as_mut() else {
        return err("Not logged in");
    };
    let live = || drop.msgs.iter().enumerate().filter(|(_, m)| !m.deleted);
    match (verb, args) {
        ("STAT", []) => {
            let (n, size) = live().fold((0, 0), |(n, z), (_, m)| (n + 1, z + m.text.len()));
            okr(&format!("{n} {size}"))
        }
        ("LIST", []) | ("UIDL", []) => {
            let (n, size) = live().fold((0, 0), |(n, z), (_, m)| (n + 1, z + m.text.len()));
            let mut r = Reply::line(&format!("+OK {n} messages ({size} octets)"));
            for (i, m) in live() {
                if verb == "LIST" {
                    r.push_line(&format!("{} {}", i + 1, m.text.len()));
                } else {
                    r.push_line(&format!("{} {}.{}", i + 1, drop.uidvalidity, m.uid));
                }
            }
            r.push_line(".");
            Ok((r, Flow::Continue))
        }
        ("LIST", [n]) => match msg_arg(drop, n) {
            Ok((n, m)) => okr(&format!("{n} {}", m.text.len())),
            Err(e) => err(e),
        },
        ("UIDL", [n]) => match msg_arg(drop, n) {
            Ok((n, m)) => okr(&format!("{n} {}.{}", drop.uidvalidity, m.uid)),
            Err(e) => err(e),
        },
        ("RETR", [n]) => match msg_arg(drop, n) {
            Ok((_, m)) => {
                let mut r = Reply::line(&format!("+OK {} octets", m.text.len()));
                r.push_blob(
                    &dot_stuffed(&m.text),
                    format!("<message: {} bytes> .", m.text.len()),
                );
                Ok((r, Flow::Continue))
            }
            Err(e) => err(e),
        },
        ("TOP", [n, lines]) => {
            let Ok(k) = lines.parse::<usize>() else {
                return err("Invalid line count");
            };
            match msg_arg(drop, n) {
                Ok((_, m)) => {
                    let text = &m.text;
                    let head_end = text
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .map_or(text.len(), |i| i + 4);
                    let mut end = head_end;
                    for _ in 0..k {
                        match text
                            .get(end..)
                            .and_then(|t| t.windows(2).position(|w| w == b"\r\n"))
                        {
                            Some(i) => end += i + 2,
                            None => {
                                end = text.len();
                                break;
                            }
                        }
                    }
                    let part = text.get(..end).unwrap_or(text);
                    let mut r = Reply::line("+OK");
                    r.push_blob(
                        &dot_stuffed(part),
                        format!("<header and {k} lines: {} bytes> .", part.len()),
                    );
                    Ok((r, Flow::Continue))
                }
                Err(e) => err(e),
            }
        }
        ("DELE", [n]) => {
            let i = match msg_arg(drop, n) {
                Ok((n, _)) => n - 1,
                Err(e) => return err(e),
            };
            if let Some(m) = drop.msgs.get_mut(i) {
                m.deleted = true;
            }
            okr("Marked to be deleted")
        }
        ("RSET", []) => {
            for m in &mut drop.msgs {
                m.deleted = false;
            }
            okr("")
        }
        _ => err("Unknown command or wrong arguments"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_and_stuffing() {
        assert_eq!(to_crlf(b"a\nb\r\nc"), b"a\r\nb\r\nc\r\n");
        assert_eq!(to_crlf(b""), b"");
        assert_eq!(
            dot_stuffed(b".a\r\nb\r\n..\r\n"),
            b"..a\r\nb\r\n...\r\n.\r\n"
        );
        assert_eq!(mask(b"PASS secret word"), "PASS ***");
        assert_eq!(mask(b"AUTH PLAIN AGFAYg=="), "AUTH PLAIN ***");
    }
}
