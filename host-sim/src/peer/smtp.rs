//! The peer's SMTP submission service (RFC 5321, 6409, 3207, 4954, 1870, 6152, 6531,
//! 2920, 2034).

use std::io;

use super::store::now_unix;
use super::{Conn, Direction, Flow, Line, Reply, b64_decode, sasl_plain, show};

/// Longest command line (RFC 5321 says 512; AUTH lines may be longer).
const MAX_COMMAND: usize = 4096;
/// Longest text line in DATA (RFC 5321 says 1000; be generous).
const MAX_TEXT_LINE: usize = 64 * 1024;
/// Most recipients per message.
const MAX_RECIPIENTS: usize = 100;

#[derive(Default)]
struct Session {
    ehlo: bool,
    user: Option<String>,
    from: Option<String>,
    rcpts: Vec<String>,
    queued: u64,
}

impl Session {
    fn reset(&mut self) {
        self.from = None;
        self.rcpts.clear();
    }
}

/// The transcript form of a command line: AUTH initial responses masked.
fn mask(line: &[u8]) -> String {
    let s = show(line);
    let upper = s.to_ascii_uppercase();
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
    conn.send_line("220 localhost ESMTP postwire test peer")
        .await?;
    let mut s = Session::default();
    loop {
        let line = match conn.read_line(MAX_COMMAND).await? {
            Line::Ok(l) => l,
            Line::Eof => return Ok(()),
            Line::TooLong => {
                conn.note(Direction::Client, "<line too long>");
                conn.send_line("500 5.5.6 Line too long").await?;
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
        if flow == Flow::StartTls {
            // RFC 3207 §4.2: forget everything learned before TLS.
            s = Session::default();
        }
    }
}

fn ehlo_reply(conn: &Conn, s: &Session, domain: &str, extended: bool) -> Reply {
    if !extended {
        return Reply::line(&format!("250 localhost greets {domain}"));
    }
    let mut lines = vec![
        format!("localhost greets {domain}"),
        "PIPELINING".to_string(),
        format!("SIZE {}", conn.shared.max_message_size),
        "8BITMIME".to_string(),
        "SMTPUTF8".to_string(),
        "ENHANCEDSTATUSCODES".to_string(),
    ];
    if conn.is_tls() {
        if s.user.is_none() {
            lines.push("AUTH PLAIN LOGIN".to_string());
        }
    } else {
        lines.push("STARTTLS".to_string());
    }
    let mut r = Reply::default();
    let last = lines.len() - 1;
    for (i, l) in lines.iter().enumerate() {
        let sep = if i == last { ' ' } else { '-' };
        r.push_line(&format!("250{sep}{l}"));
    }
    r
}

/// Parses `FROM:<addr> params` / `TO:<addr> params` (the keyword already matched); returns
/// the address and the parameters.
fn path_and_params(rest: &str) -> Option<(&str, Vec<&str>)> {
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    let addr = &rest[..end];
    let params = rest[end + 1..].split_whitespace().collect();
    if addr.contains(['<', ' ']) {
        return None;
    }
    // A source route (`@a,@b:user@host`) is accepted and ignored (RFC 5321 §4.1.2).
    let addr = addr.rsplit_once(':').map_or(addr, |(_, a)| a);
    Some((addr, params))
}

fn strip_keyword<'a>(line: &'a str, kw: &str) -> Option<&'a str> {
    let head = line.get(..kw.len())?;
    head.eq_ignore_ascii_case(kw)
        .then(|| line.get(kw.len()..))
        .flatten()
}

async fn command(conn: &mut Conn, s: &mut Session, raw: &[u8]) -> io::Result<(Reply, Flow)> {
    let Ok(line) = std::str::from_utf8(raw) else {
        return Ok((
            Reply::line("500 5.5.2 Invalid characters in command"),
            Flow::Continue,
        ));
    };
    let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
    let verb = verb.to_ascii_uppercase();
    let ok = |t: &str| Ok((Reply::line(t), Flow::Continue));
    match verb.as_str() {
        "EHLO" | "HELO" => {
            let domain = arg.trim();
            if domain.is_empty() {
                return ok("501 5.5.4 Syntax: EHLO hostname");
            }
            s.ehlo = true;
            s.reset();
            Ok((ehlo_reply(conn, s, domain, verb == "EHLO"), Flow::Continue))
        }
        "STARTTLS" => {
            if conn.is_tls() {
                return ok("503 5.5.1 TLS already active");
            }
            if !arg.is_empty() {
                return ok("501 5.5.4 Syntax: STARTTLS");
            }
            Ok((Reply::line("220 2.0.0 Ready to start TLS"), Flow::StartTls))
        }
        "AUTH" => auth(conn, s, arg).await,
        "MAIL" => {
            if !s.ehlo {
                return ok("503 5.5.1 Send EHLO first");
            }
            if s.from.is_some() {
                return ok("503 5.5.1 Nested MAIL command");
            }
            if conn.shared.smtp_require_auth && s.user.is_none() {
                return ok("530 5.7.0 Authentication required");
            }
            let Some((addr, params)) = strip_keyword(arg, "FROM:").and_then(path_and_params) else {
                return ok("501 5.5.4 Syntax: MAIL FROM:<address>");
            };
            for p in params {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                match k.to_ascii_uppercase().as_str() {
                    "SIZE" => match v.parse::<u64>() {
                        Ok(n) if n > conn.shared.max_message_size as u64 => {
                            return ok("552 5.3.4 Message size exceeds fixed limit");
                        }
                        Ok(_) => {}
                        Err(_) => return ok("501 5.5.4 Bad SIZE parameter"),
                    },
                    "BODY"
                        if v.eq_ignore_ascii_case("7BIT") || v.eq_ignore_ascii_case("8BITMIME") => {
                    }
                    "SMTPUTF8" if v.is_empty() => {}
                    _ => return ok("555 5.5.4 Unsupported MAIL parameter"),
                }
            }
            s.from = Some(addr.to_string());
            ok("250 2.1.0 Ok")
        }
        "RCPT" => {
            if s.from.is_none() {
                return ok("503 5.5.1 Need MAIL command");
            }
            let Some((addr, params)) = strip_keyword(arg, "TO:").and_then(path_and_params) else {
                return ok("501 5.5.4 Syntax: RCPT TO:<address>");
            };
            if !params.is_empty() {
                return ok("555 5.5.4 Unsupported RCPT parameter");
            }
            if s.rcpts.len() >= MAX_RECIPIENTS {
                return ok("452 4.5.3 Too many recipients");
            }
            match conn.shared.local_user(addr) {
                Some(user) => {
                    // One copy per mailbox, however often it is named.
                    if !s.rcpts.contains(&user) {
                        s.rcpts.push(user);
                    }
                    ok("250 2.1.5 Ok")
                }
                None => ok(&format!(
                    "550 5.1.1 <{addr}>: Recipient address rejected: not a local user"
                )),
            }
        }
        "DATA" => {
            if !arg.is_empty() {
                return ok("501 5.5.4 Syntax: DATA");
            }
            if s.from.is_none() {
                return ok("503 5.5.1 Need MAIL command");
            }
            if s.rcpts.is_empty() {
                return ok("554 5.5.1 No valid recipients");
            }
            data(conn, s).await
        }
        "RSET" => {
            s.reset();
            ok("250 2.0.0 Ok")
        }
        "NOOP" => ok("250 2.0.0 Ok"),
        "VRFY" => ok("252 2.0.0 Send some mail, I'll try my best"),
        "QUIT" => Ok((Reply::line("221 2.0.0 Bye"), Flow::Close)),
        "BDAT" => ok("502 5.5.1 BDAT not supported"),
        _ => ok("500 5.5.2 Command not recognized"),
    }
}

/// Reads a SASL response line: base64, or `*` to cancel.
async fn sasl_line(conn: &mut Conn) -> io::Result<Option<Vec<u8>>> {
    match conn.read_line(MAX_COMMAND).await? {
        Line::Ok(l) => {
            conn.note(Direction::Client, "***");
            Ok(Some(l))
        }
        Line::TooLong => {
            conn.note(Direction::Client, "<line too long>");
            Ok(None)
        }
        Line::Eof => Err(io::ErrorKind::UnexpectedEof.into()),
    }
}

async fn auth(conn: &mut Conn, s: &mut Session, arg: &str) -> io::Result<(Reply, Flow)> {
    let ok = |t: &str| Ok((Reply::line(t), Flow::Continue));
    if !conn.is_tls() {
        return ok("530 5.7.0 Must issue a STARTTLS command first");
    }
    if s.user.is_some() {
        return ok("503 5.5.1 Already authenticated");
    }
    if s.from.is_some() {
        return ok("503 5.5.1 AUTH not allowed during a mail transaction");
    }
    let mut words = arg.split(' ');
    let mech = words.next().unwrap_or_default().to_ascii_uppercase();
    let initial = words.next();
    if words.next().is_some() {
        return ok("501 5.5.4 Syntax: AUTH mechanism [initial-response]");
    }
    let creds = match mech.as_str() {
        "PLAIN" => {
            let response = match initial {
                Some(ir) => ir.as_bytes().to_vec(),
                None => {
                    conn.send_line("334 ").await?;
                    match sasl_line(conn).await? {
                        Some(l) => l,
                        None => return ok("500 5.5.6 Line too long"),
                    }
                }
            };
            if response == b"*" {
                return ok("501 5.7.0 Authentication cancelled");
            }
            match b64_decode(&response) {
                Some(msg) => sasl_plain(&msg),
                None => return ok("501 5.5.2 Cannot decode response"),
            }
        }
        "LOGIN" => {
            let user = match initial {
                Some(ir) => ir.as_bytes().to_vec(),
                None => {
                    conn.send_line("334 VXNlcm5hbWU6").await?;
                    match sasl_line(conn).await? {
                        Some(l) => l,
                        None => return ok("500 5.5.6 Line too long"),
                    }
                }
            };
            if user == b"*" {
                return ok("501 5.7.0 Authentication cancelled");
            }
            conn.send_line("334 UGFzc3dvcmQ6").await?;
            let Some(pass) = sasl_line(conn).await? else {
                return ok("500 5.5.6 Line too long");
            };
            if pass == b"*" {
                return ok("501 5.7.0 Authentication cancelled");
            }
            match (b64_decode(&user), b64_decode(&pass)) {
                (Some(u), Some(p)) => match (String::from_utf8(u), String::from_utf8(p)) {
                    (Ok(u), Ok(p)) => Some((u, p)),
                    _ => None,
                },
                _ => return ok("501 5.5.2 Cannot decode response"),
            }
        }
        "" => return ok("501 5.5.4 Syntax: AUTH mechanism"),
        _ => return ok("504 5.5.4 Unrecognized authentication type"),
    };
    match creds.and_then(|(u, p)| conn.shared.check_login(&u, &p)) {
        Some(user) => {
            s.user = Some(user);
            ok("235 2.7.0 Authentication successful")
        }
        None => ok("535 5.7.8 Authentication credentials invalid"),
    }
}

async fn data(conn: &mut Conn, s: &mut Session) -> io::Result<(Reply, Flow)> {
    conn.send_line("354 End data with <CR><LF>.<CR><LF>")
        .await?;
    let max = conn.shared.max_message_size;
    let mut message = Vec::new();
    let mut too_big = false;
    let mut long_line = false;
    loop {
        let line = match conn.read_line(MAX_TEXT_LINE).await? {
            Line::Ok(l) => l,
            Line::TooLong => {
                long_line = true;
                continue;
            }
            Line::Eof => return Err(io::ErrorKind::UnexpectedEof.into()),
        };
        if line == b"." {
            break;
        }
        // Dot-unstuffing (RFC 5321 §4.5.2).
        let text = line.strip_prefix(b".").unwrap_or(&line);
        if message.len() + text.len() + 2 > max {
            too_big = true;
            continue;
        }
        message.extend_from_slice(text);
        message.extend_from_slice(b"\r\n");
    }
    conn.note(
        Direction::Client,
        format!("<message data: {} bytes> .", message.len()),
    );
    let rcpts = std::mem::take(&mut s.rcpts);
    s.reset();
    if too_big {
        return Ok((
            Reply::line("552 5.3.4 Message size exceeds fixed limit"),
            Flow::Continue,
        ));
    }
    if long_line {
        return Ok((
            Reply::line("500 5.5.6 Message line too long"),
            Flow::Continue,
        ));
    }
    let now = now_unix();
    let delivered = conn.shared.modify(|st| {
        rcpts
            .iter()
            .filter(|u| {
                st.append(u, "INBOX", Vec::new(), message.clone(), now)
                    .is_ok()
            })
            .count()
    });
    if delivered == 0 {
        return Ok((Reply::line("451 4.3.0 Delivery failed"), Flow::Continue));
    }
    s.queued += 1;
    let id = format!("{:X}{:04X}", conn.id, s.queued);
    Ok((
        Reply::line(&format!("250 2.0.0 Ok: queued as {id}")),
        Flow::Continue,
    ))
}
