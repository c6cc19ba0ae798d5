//! The peer's IMAP4rev1 service (RFC 3501 with IDLE, MOVE, UIDPLUS, LITERAL+, SASL-IR,
//! UNSELECT, NAMESPACE, ID). See the [module documentation](super#imap) for what it covers.

use std::io;

use super::mime;
use super::store::{SYSTEM_FLAGS, StoreError, StoredMessage, now_unix};
use super::{Conn, Direction, Flow, Line, Reply, b64_decode, sasl_plain, show};

/// Longest line outside literals.
const MAX_LINE: usize = 64 * 1024;
/// Longest literal of a command other than APPEND.
const MAX_LITERAL: usize = 64 * 1024;
/// Most bytes of one command outside an APPEND message.
const MAX_COMMAND: usize = 1024 * 1024;
/// Deepest nesting of search keys and lists.
const MAX_DEPTH: usize = 16;

// ------------------------------------------------------------------------------ tokens

/// A command argument.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    /// An atom (also `BODY[HEADER.FIELDS (A B)]<0.10>`, `\Seen`, `1:*`).
    Atom(String),
    /// A quoted string or a literal.
    Str(Vec<u8>),
    /// A parenthesised list.
    List(Vec<Tok>),
}

impl Tok {
    fn atom(&self) -> Option<&str> {
        match self {
            Tok::Atom(a) => Some(a),
            _ => None,
        }
    }

    /// An astring as text (UTF-8).
    fn astring(&self) -> Option<String> {
        match self {
            Tok::Atom(a) => Some(a.clone()),
            Tok::Str(s) => String::from_utf8(s.clone()).ok(),
            _ => None,
        }
    }
}

struct Lexer<'a> {
    b: &'a [u8],
    i: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn tokens(&mut self, depth: usize, in_list: bool) -> Result<Vec<Tok>, &'static str> {
        if depth > MAX_DEPTH {
            return Err("Too deeply nested");
        }
        let mut out = Vec::new();
        loop {
            while self.peek() == Some(b' ') {
                self.i += 1;
            }
            match self.peek() {
                None if in_list => return Err("Unclosed list"),
                None => return Ok(out),
                Some(b')') if in_list => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b')') => return Err("Unexpected ')'"),
                Some(b'(') => {
                    self.i += 1;
                    out.push(Tok::List(self.tokens(depth + 1, true)?));
                }
                Some(b'"') => out.push(Tok::Str(self.quoted()?)),
                Some(b'{') => out.push(Tok::Str(self.literal()?)),
                Some(_) => out.push(Tok::Atom(self.atom()?)),
            }
        }
    }

    fn quoted(&mut self) -> Result<Vec<u8>, &'static str> {
        self.i += 1;
        let mut s = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r' | b'\n' | 0) => return Err("Bad quoted string"),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(s);
                }
                Some(b'\\') => {
                    let c = self.b.get(self.i + 1).copied();
                    match c {
                        Some(c @ (b'"' | b'\\')) => s.push(c),
                        _ => return Err("Bad escape in quoted string"),
                    }
                    self.i += 2;
                }
                Some(c) => {
                    s.push(c);
                    self.i += 1;
                }
            }
        }
    }

    fn literal(&mut self) -> Result<Vec<u8>, &'static str> {
        let rest = self.b.get(self.i..).unwrap_or_default();
        let close = rest.iter().position(|&c| c == b'}').ok_or("Bad literal")?;
        let spec = rest.get(1..close).unwrap_or_default();
        let spec = spec.strip_suffix(b"+").unwrap_or(spec);
        let n: usize = std::str::from_utf8(spec)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or("Bad literal length")?;
        if rest.get(close + 1..close + 3) != Some(b"\r\n") {
            return Err("Literal without CRLF");
        }
        let start = self.i + close + 3;
        let data = self.b.get(start..start + n).ok_or("Short literal")?;
        self.i = start + n;
        Ok(data.to_vec())
    }

    fn atom(&mut self) -> Result<String, &'static str> {
        let start = self.i;
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            match c {
                b'[' => depth += 1,
                b']' if depth > 0 => depth -= 1,
                b'\r' | b'\n' | 0 => return Err("Bad character"),
                b' ' | b'(' | b')' | b'"' | b'{' if depth == 0 => break,
                _ if !(0x20..0x7f).contains(&c) => return Err("Bad character in atom"),
                _ => {}
            }
            self.i += 1;
        }
        if depth > 0 {
            return Err("Unclosed '['");
        }
        let a = self.b.get(start..self.i).unwrap_or_default();
        if a.is_empty() {
            return Err("Empty atom");
        }
        Ok(String::from_utf8_lossy(a).into_owned())
    }
}

fn tokenize(b: &[u8]) -> Result<Vec<Tok>, &'static str> {
    Lexer { b, i: 0 }.tokens(0, false)
}

/// Whether `line` ends with a literal announcement; returns its length and whether it is
/// non-synchronizing (`{N+}`).
fn literal_at_end(line: &[u8]) -> Option<(usize, bool)> {
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&c| c == b'{')?;
    let spec = body.get(open + 1..)?;
    let (digits, plus) = match spec.strip_suffix(b"+") {
        Some(d) => (d, true),
        None => (spec, false),
    };
    if digits.is_empty() || digits.len() > 12 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some((std::str::from_utf8(digits).ok()?.parse().ok()?, plus))
}

enum Read {
    Command {
        bytes: Vec<u8>,
        shown: String,
    },
    TooLong,
    Eof,
    /// A synchronizing literal was refused: reply to this tag and go on.
    Refused {
        tag: String,
    },
    /// A non-synchronizing literal too large to read: the connection must end.
    Fatal,
}

fn first_word(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == b' ').unwrap_or(b.len());
    String::from_utf8_lossy(b.get(..end).unwrap_or_default()).into_owned()
}

fn is_append(b: &[u8]) -> bool {
    let mut w = b.split(|&c| c == b' ');
    w.next();
    w.next().is_some_and(|v| v.eq_ignore_ascii_case(b"APPEND"))
}

async fn read_command(conn: &mut Conn) -> io::Result<Read> {
    let mut bytes = Vec::new();
    let mut shown = String::new();
    let max_message = conn.shared.max_message_size;
    loop {
        let line = match conn.read_line(MAX_LINE).await? {
            Line::Ok(l) => l,
            Line::TooLong => return Ok(Read::TooLong),
            Line::Eof => return Ok(Read::Eof),
        };
        bytes.extend_from_slice(&line);
        shown.push_str(&show(&line));
        let Some((n, plus)) = literal_at_end(&line) else {
            return Ok(Read::Command { bytes, shown });
        };
        bytes.extend_from_slice(b"\r\n");
        let limit = if is_append(&bytes) {
            max_message
        } else {
            MAX_LITERAL
        };
        if n > limit || bytes.len() > MAX_COMMAND + max_message {
            if plus {
                return Ok(Read::Fatal);
            }
            return Ok(Read::Refused {
                tag: first_word(&bytes),
            });
        }
        if !plus {
            conn.send_line("+ Ready for literal data").await?;
        }
        let data = conn.read_exact(n).await?;
        bytes.extend_from_slice(&data);
        shown.push_str(&format!(" <{n} bytes>"));
    }
}

/// Masks passwords in a command's transcript line.
fn mask(shown: &str) -> String {
    let w: Vec<&str> = shown.splitn(4, ' ').collect();
    match w.as_slice() {
        [tag, verb, user, _] if verb.eq_ignore_ascii_case("LOGIN") => {
            format!("{tag} {verb} {user} ***")
        }
        [tag, verb, mech, _] if verb.eq_ignore_ascii_case("AUTHENTICATE") => {
            format!("{tag} {verb} {mech} ***")
        }
        _ => shown.to_string(),
    }
}

// ------------------------------------------------------------------------------ output

fn is_atom_char(c: u8) -> bool {
    c > 0x20 && c < 0x7f && !b"(){ %*\"\\]".contains(&c)
}

/// A string: quoted when it can be, else a literal.
fn push_string(r: &mut Reply, s: &[u8]) {
    if s.len() < 1024 && s.iter().all(|&c| (0x20..0x7f).contains(&c)) {
        let mut q = String::with_capacity(s.len() + 2);
        q.push('"');
        for &c in s {
            if c == b'"' || c == b'\\' {
                q.push('\\');
            }
            q.push(char::from(c));
        }
        q.push('"');
        r.push(&q);
    } else {
        r.literal(s);
    }
}

fn push_nstring(r: &mut Reply, s: Option<&[u8]>) {
    match s {
        Some(s) => push_string(r, s),
        None => r.push("NIL"),
    }
}

/// An astring (mailbox names): an atom when possible.
fn push_astring(r: &mut Reply, s: &str) {
    if !s.is_empty() && s.bytes().all(|c| is_atom_char(c) || c == b']') {
        r.push(s);
    } else {
        push_string(r, s.as_bytes());
    }
}

fn flag_list(flags: &[String]) -> String {
    format!("({})", flags.join(" "))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `"17-Jul-1996 02:44:25 +0000"`.
fn internal_date(t: u64) -> String {
    let t = i64::try_from(t).unwrap_or(0);
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    let month = MONTHS.get(m as usize - 1).copied().unwrap_or("Jan");
    format!(
        "\"{d:02}-{month}-{y:04} {:02}:{:02}:{:02} +0000\"",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// `d-Mon-yyyy` → days since 1970.
fn parse_day(s: &str) -> Option<i64> {
    let mut p = s.trim().split('-');
    let d: u32 = p.next()?.trim().parse().ok()?;
    let mon = p.next()?;
    let m = MONTHS.iter().position(|x| x.eq_ignore_ascii_case(mon))? as u32 + 1;
    let y: i64 = p.next()?.parse().ok()?;
    if p.next().is_some() || !(1..=31).contains(&d) || !(1..=9999).contains(&y) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// `dd-Mon-yyyy hh:mm:ss +zzzz` → seconds since 1970.
fn parse_date_time(s: &str) -> Option<u64> {
    let (date, rest) = s.trim_start().split_once(' ')?;
    let (time, zone) = rest.split_once(' ')?;
    let days = parse_day(date)?;
    let mut t = time.split(':');
    let h: i64 = t.next()?.parse().ok()?;
    let mi: i64 = t.next()?.parse().ok()?;
    let se: i64 = t.next()?.parse().ok()?;
    let sign = match zone.get(..1)? {
        "+" => 1,
        "-" => -1,
        _ => return None,
    };
    let z: i64 = zone.get(1..)?.parse().ok()?;
    if zone.len() != 5 || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let offset = sign * (z / 100 * 3600 + z % 100 * 60);
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + se - offset).ok()
}

// ------------------------------------------------------------------------------ session

struct Selected {
    name: String,
    readonly: bool,
    /// The session's view: (UID, flags) by sequence number - 1.
    view: Vec<(u32, Vec<String>)>,
}

struct Session {
    user: Option<String>,
    selected: Option<Selected>,
    watch: tokio::sync::watch::Receiver<u64>,
}

fn capabilities(conn: &Conn, authed: bool) -> String {
    let mut c = String::from("IMAP4rev1 LITERAL+ SASL-IR ID IDLE NAMESPACE UNSELECT UIDPLUS MOVE");
    if !conn.is_tls() {
        c.push_str(" STARTTLS LOGINDISABLED");
    } else if !authed {
        c.push_str(" AUTH=PLAIN");
    }
    c
}

pub(crate) async fn serve(conn: &mut Conn) -> io::Result<()> {
    let caps = capabilities(conn, false);
    conn.send_line(&format!(
        "* OK [CAPABILITY {caps}] postwire test peer ready"
    ))
    .await?;
    let mut s = Session {
        user: None,
        selected: None,
        watch: conn.shared.watch(),
    };
    loop {
        let (bytes, shown) = match read_command(conn).await? {
            Read::Command { bytes, shown } => (bytes, shown),
            Read::Eof => return Ok(()),
            Read::TooLong => {
                conn.note(Direction::Client, "<line too long>");
                conn.send_line("* BAD Line too long").await?;
                continue;
            }
            Read::Refused { tag } => {
                conn.note(Direction::Client, format!("{tag} ... <literal too large>"));
                conn.send_line(&format!("{tag} NO [TOOBIG] Literal too large"))
                    .await?;
                continue;
            }
            Read::Fatal => {
                conn.note(Direction::Client, "<literal too large>");
                conn.send_line("* BYE Literal too large").await?;
                return Ok(());
            }
        };
        let shown = mask(&shown);
        conn.note(Direction::Client, shown.clone());
        let cut = conn.take_fault(&shown);
        if conn.cut_now(cut) {
            return Ok(());
        }
        let (reply, flow) = match tokenize(&bytes) {
            Ok(toks) => command(conn, &mut s, toks).await?,
            Err(e) => {
                let tag = first_word(&bytes);
                let line = if tag.is_empty() || !tag.bytes().all(is_tag_char) {
                    format!("* BAD {e}")
                } else {
                    format!("{tag} BAD {e}")
                };
                (Reply::line(&line), Flow::Continue)
            }
        };
        if !conn.finish(cut, reply, flow).await? {
            return Ok(());
        }
    }
}

fn is_tag_char(c: u8) -> bool {
    is_atom_char(c) && c != b'+'
}

/// Reports changes of the selected mailbox since the session last looked: EXPUNGE (when
/// allowed), flag changes and EXISTS.
fn sync(conn: &Conn, s: &mut Session, r: &mut Reply, allow_expunge: bool) {
    let (Some(user), Some(sel)) = (&s.user, s.selected.as_mut()) else {
        return;
    };
    let current: Vec<(u32, Vec<String>)> = conn.shared.read(|st| {
        st.mailbox(user, &sel.name)
            .map(|mb| {
                mb.messages
                    .iter()
                    .map(|m| (m.uid, m.flags.clone()))
                    .collect()
            })
            .unwrap_or_default()
    });
    let find = |uid: u32| {
        current
            .binary_search_by_key(&uid, |m| m.0)
            .ok()
            .and_then(|i| current.get(i))
    };
    if allow_expunge {
        for i in (0..sel.view.len()).rev() {
            let gone = sel.view.get(i).is_some_and(|v| find(v.0).is_none());
            if gone {
                sel.view.remove(i);
                r.push_line(&format!("* {} EXPUNGE", i + 1));
            }
        }
    }
    for (i, (uid, flags)) in sel.view.iter_mut().enumerate() {
        if let Some((_, now)) = find(*uid)
            && now != flags
        {
            flags.clone_from(now);
            r.push_line(&format!(
                "* {} FETCH (UID {uid} FLAGS {})",
                i + 1,
                flag_list(flags)
            ));
        }
    }
    let max = sel.view.last().map_or(0, |v| v.0);
    let before = sel.view.len();
    sel.view
        .extend(current.iter().filter(|m| m.0 > max).cloned());
    if sel.view.len() != before {
        r.push_line(&format!("* {} EXISTS", sel.view.len()));
    }
}

fn tagged(r: &mut Reply, tag: &str, text: &str) {
    r.push_line(&format!("{tag} {text}"));
}

fn done(mut r: Reply, tag: &str, text: &str) -> io::Result<(Reply, Flow)> {
    tagged(&mut r, tag, text);
    Ok((r, Flow::Continue))
}

fn one(tag: &str, text: &str) -> io::Result<(Reply, Flow)> {
    done(Reply::default(), tag, text)
}

fn store_error(e: &StoreError) -> &'static str {
    match e {
        StoreError::NoSuchMailbox(_) => "NO [NONEXISTENT] No such mailbox",
        StoreError::MailboxExists(_) => "NO [ALREADYEXISTS] Mailbox exists already",
        StoreError::BadName(_) => "NO [CANNOT] Invalid mailbox name",
        StoreError::TooLarge => "NO [TOOBIG] Message too large",
        _ => "NO [SERVERBUG] Store error",
    }
}

async fn command(conn: &mut Conn, s: &mut Session, toks: Vec<Tok>) -> io::Result<(Reply, Flow)> {
    let mut it = toks.into_iter();
    let tag = match it.next() {
        Some(Tok::Atom(t)) if t.bytes().all(is_tag_char) => t,
        _ => return Ok((Reply::line("* BAD Missing or invalid tag"), Flow::Continue)),
    };
    let Some(Tok::Atom(verb)) = it.next() else {
        return one(&tag, "BAD Missing command");
    };
    let mut verb = verb.to_ascii_uppercase();
    let mut uid = false;
    if verb == "UID" {
        let Some(Tok::Atom(v)) = it.next() else {
            return one(&tag, "BAD Missing UID command");
        };
        verb = v.to_ascii_uppercase();
        uid = true;
        if !matches!(
            verb.as_str(),
            "FETCH" | "SEARCH" | "STORE" | "COPY" | "MOVE" | "EXPUNGE"
        ) {
            return one(&tag, "BAD Unknown UID command");
        }
    }
    let args: Vec<Tok> = it.collect();
    let authed = s.user.is_some();
    let selected = s.selected.is_some();
    match verb.as_str() {
        "CAPABILITY" if args.is_empty() => {
            let mut r = Reply::line(&format!("* CAPABILITY {}", capabilities(conn, authed)));
            sync(conn, s, &mut r, true);
            done(r, &tag, "OK CAPABILITY completed")
        }
        "NOOP" | "CHECK" if args.is_empty() && (verb == "NOOP" || selected) => {
            let mut r = Reply::default();
            sync(conn, s, &mut r, true);
            done(r, &tag, &format!("OK {verb} completed"))
        }
        "LOGOUT" if args.is_empty() => {
            let mut r = Reply::line("* BYE Logging out");
            tagged(&mut r, &tag, "OK LOGOUT completed");
            Ok((r, Flow::Close))
        }
        "ID" => {
            let mut r = Reply::line("* ID (\"name\" \"postwire-test-peer\")");
            sync(conn, s, &mut r, true);
            done(r, &tag, "OK ID completed")
        }
        "STARTTLS" if args.is_empty() => {
            if conn.is_tls() {
                return one(&tag, "BAD TLS is already active");
            }
            if authed {
                return one(&tag, "BAD Already authenticated");
            }
            let mut r = Reply::default();
            tagged(&mut r, &tag, "OK Begin TLS negotiation now");
            Ok((r, Flow::StartTls))
        }
        "LOGIN" | "AUTHENTICATE" if authed => one(&tag, "BAD Already authenticated"),
        "LOGIN" => {
            if !conn.is_tls() {
                return one(&tag, "NO [PRIVACYREQUIRED] LOGIN needs TLS first");
            }
            let (Some(u), Some(p), 2) = (
                args.first().and_then(Tok::astring),
                args.get(1).and_then(Tok::astring),
                args.len(),
            ) else {
                return one(&tag, "BAD Syntax: LOGIN user password");
            };
            login(conn, s, &tag, &u, &p)
        }
        "AUTHENTICATE" => authenticate(conn, s, &tag, &args).await,
        _ if !authed => one(&tag, "BAD Command unknown or not allowed before login"),
        "ENABLE" => done(Reply::line("* ENABLED"), &tag, "OK ENABLE completed"),
        "NAMESPACE" if args.is_empty() => done(
            Reply::line("* NAMESPACE ((\"\" \"/\")) NIL NIL"),
            &tag,
            "OK NAMESPACE completed",
        ),
        "LIST" | "LSUB" => list(conn, s, &tag, &verb, &args),
        "CREATE" | "DELETE" | "SUBSCRIBE" | "UNSUBSCRIBE" => {
            let (Some(name), 1) = (args.first().and_then(Tok::astring), args.len()) else {
                return one(&tag, &format!("BAD Syntax: {verb} mailbox"));
            };
            let user = s.user.clone().unwrap_or_default();
            let result = match verb.as_str() {
                "CREATE" => conn.shared.modify(|st| st.create(&user, &name)),
                "DELETE" => conn.shared.modify(|st| st.delete(&user, &name)),
                _ => conn.shared.read(|st| st.mailbox(&user, &name).map(|_| ())),
            };
            let mut r = Reply::default();
            sync(conn, s, &mut r, true);
            match result {
                Ok(()) => done(r, &tag, &format!("OK {verb} completed")),
                Err(e) => done(r, &tag, store_error(&e)),
            }
        }
        "RENAME" => {
            let (Some(from), Some(to), 2) = (
                args.first().and_then(Tok::astring),
                args.get(1).and_then(Tok::astring),
                args.len(),
            ) else {
                return one(&tag, "BAD Syntax: RENAME from to");
            };
            let user = s.user.clone().unwrap_or_default();
            match conn.shared.modify(|st| st.rename(&user, &from, &to)) {
                Ok(()) => one(&tag, "OK RENAME completed"),
                Err(e) => one(&tag, store_error(&e)),
            }
        }
        "STATUS" => status(conn, s, &tag, &args),
        "SELECT" | "EXAMINE" => select(conn, s, &tag, &verb, &args),
        "APPEND" => append(conn, s, &tag, &args),
        "IDLE" if args.is_empty() => idle(conn, s, &tag).await,
        _ if !selected => one(&tag, "BAD Command unknown or not allowed in this state"),
        "CLOSE" | "UNSELECT" if args.is_empty() => {
            let Some(sel) = s.selected.take() else {
                return one(&tag, "BAD No mailbox selected");
            };
            if verb == "CLOSE" && !sel.readonly {
                let user = s.user.clone().unwrap_or_default();
                conn.shared.modify(|st| {
                    if let Ok(mb) = st.mailbox_mut(&user, &sel.name) {
                        mb.messages.retain(|m| !m.has_flag("\\Deleted"));
                    }
                });
            }
            one(&tag, &format!("OK {verb} completed"))
        }
        "EXPUNGE" => expunge(conn, s, &tag, uid, &args),
        "FETCH" => fetch(conn, s, &tag, uid, &args),
        "STORE" => store(conn, s, &tag, uid, &args),
        "SEARCH" => search(conn, s, &tag, uid, &args),
        "COPY" | "MOVE" => copy_move(conn, s, &tag, uid, verb == "MOVE", &args),
        _ => one(&tag, "BAD Command unknown or arguments invalid"),
    }
}

fn login(
    conn: &Conn,
    s: &mut Session,
    tag: &str,
    user: &str,
    pass: &str,
) -> io::Result<(Reply, Flow)> {
    match conn.shared.check_login(user, pass) {
        Some(name) => {
            s.user = Some(name);
            let caps = capabilities(conn, true);
            one(tag, &format!("OK [CAPABILITY {caps}] Logged in"))
        }
        None => one(tag, "NO [AUTHENTICATIONFAILED] Authentication failed"),
    }
}

async fn authenticate(
    conn: &mut Conn,
    s: &mut Session,
    tag: &str,
    args: &[Tok],
) -> io::Result<(Reply, Flow)> {
    if !conn.is_tls() {
        return one(tag, "NO [PRIVACYREQUIRED] AUTHENTICATE needs TLS first");
    }
    let (mech, ir) = match args {
        [Tok::Atom(m)] => (m, None),
        [Tok::Atom(m), Tok::Atom(ir)] => (m, Some(ir.as_bytes().to_vec())),
        _ => return one(tag, "BAD Syntax: AUTHENTICATE mechanism [initial-response]"),
    };
    if !mech.eq_ignore_ascii_case("PLAIN") {
        return one(tag, "NO [CANNOT] Unsupported authentication mechanism");
    }
    let response = match ir {
        Some(ir) => ir,
        None => {
            conn.send_line("+ ").await?;
            match conn.read_line(MAX_LINE).await? {
                Line::Ok(l) => {
                    conn.note(Direction::Client, "***");
                    l
                }
                Line::TooLong => return one(tag, "BAD Line too long"),
                Line::Eof => return Err(io::ErrorKind::UnexpectedEof.into()),
            }
        }
    };
    if response == b"*" {
        return one(tag, "BAD Authentication cancelled");
    }
    let Some(msg) = b64_decode(&response) else {
        return one(tag, "BAD Invalid base64");
    };
    match sasl_plain(&msg) {
        Some((u, p)) => login(conn, s, tag, &u, &p),
        None => one(tag, "NO [AUTHENTICATIONFAILED] Authentication failed"),
    }
}

/// `*` any characters, `%` any but the delimiter.
fn glob(p: &[u8], n: &[u8]) -> bool {
    match p.split_first() {
        None => n.is_empty(),
        Some((b'*', rest)) => (0..=n.len()).any(|i| glob(rest, n.get(i..).unwrap_or_default())),
        Some((b'%', rest)) => (0..=n.len())
            .take_while(|&i| i == 0 || n.get(i - 1) != Some(&b'/'))
            .any(|i| glob(rest, n.get(i..).unwrap_or_default())),
        Some((c, rest)) => n
            .split_first()
            .is_some_and(|(d, nr)| c == d && glob(rest, nr)),
    }
}

fn list(
    conn: &Conn,
    s: &mut Session,
    tag: &str,
    verb: &str,
    args: &[Tok],
) -> io::Result<(Reply, Flow)> {
    let (reference, pattern) = match args {
        [r, p] | [r, p, Tok::Atom(_), Tok::List(_)] => match (r.astring(), p.astring()) {
            (Some(r), Some(p)) => (r, p),
            _ => return one(tag, &format!("BAD Syntax: {verb} reference pattern")),
        },
        _ => return one(tag, &format!("BAD Syntax: {verb} reference pattern")),
    };
    let mut r = Reply::default();
    if pattern.is_empty() {
        r.push_line(&format!("* {verb} (\\Noselect) \"/\" \"\""));
        return done(r, tag, &format!("OK {verb} completed"));
    }
    let user = s.user.clone().unwrap_or_default();
    let names = conn
        .shared
        .read(|st| st.mailbox_names(&user))
        .unwrap_or_default();
    let full = format!("{reference}{pattern}");
    for name in &names {
        let inbox_match = name == "INBOX" && glob(full.to_ascii_uppercase().as_bytes(), b"INBOX");
        if !(glob(full.as_bytes(), name.as_bytes()) || inbox_match) {
            continue;
        }
        let prefix = format!("{name}/");
        let children = names.iter().any(|n| n.starts_with(&prefix));
        let attr = if children {
            "\\HasChildren"
        } else {
            "\\HasNoChildren"
        };
        r.push(&format!("* {verb} ({attr}) \"/\" "));
        push_astring(&mut r, name);
        r.end();
    }
    sync(conn, s, &mut r, true);
    done(r, tag, &format!("OK {verb} completed"))
}

fn status(conn: &Conn, s: &mut Session, tag: &str, args: &[Tok]) -> io::Result<(Reply, Flow)> {
    let (Some(name), Some(Tok::List(items)), 2) =
        (args.first().and_then(Tok::astring), args.get(1), args.len())
    else {
        return one(tag, "BAD Syntax: STATUS mailbox (items)");
    };
    let user = s.user.clone().unwrap_or_default();
    let mb = match conn.shared.read(|st| st.mailbox(&user, &name).cloned()) {
        Ok(mb) => mb,
        Err(e) => return one(tag, store_error(&e)),
    };
    let mut out = Vec::new();
    for item in items {
        let Some(a) = item.atom() else {
            return one(tag, "BAD Invalid STATUS item");
        };
        let a = a.to_ascii_uppercase();
        let v: u64 = match a.as_str() {
            "MESSAGES" => mb.messages.len() as u64,
            "RECENT" => 0,
            "UIDNEXT" => u64::from(mb.uidnext),
            "UIDVALIDITY" => u64::from(mb.uidvalidity),
            "UNSEEN" => mb.messages.iter().filter(|m| !m.has_flag("\\Seen")).count() as u64,
            "DELETED" => mb
                .messages
                .iter()
                .filter(|m| m.has_flag("\\Deleted"))
                .count() as u64,
            "SIZE" => mb.messages.iter().map(|m| m.raw.len() as u64).sum(),
            _ => return one(tag, "BAD Unsupported STATUS item"),
        };
        out.push(format!("{a} {v}"));
    }
    let mut r = Reply::default();
    r.push("* STATUS ");
    push_astring(&mut r, &name);
    r.push(&format!(" ({})", out.join(" ")));
    r.end();
    sync(conn, s, &mut r, true);
    done(r, tag, "OK STATUS completed")
}

fn select(
    conn: &Conn,
    s: &mut Session,
    tag: &str,
    verb: &str,
    args: &[Tok],
) -> io::Result<(Reply, Flow)> {
    // A failed SELECT leaves no mailbox selected (RFC 3501 §6.3.1).
    s.selected = None;
    let (Some(name), 1) = (args.first().and_then(Tok::astring), args.len()) else {
        return one(tag, &format!("BAD Syntax: {verb} mailbox"));
    };
    let user = s.user.clone().unwrap_or_default();
    s.watch.borrow_and_update();
    let mb = match conn.shared.read(|st| st.mailbox(&user, &name).cloned()) {
        Ok(mb) => mb,
        Err(e) => return one(tag, store_error(&e)),
    };
    let readonly = verb == "EXAMINE";
    let mut flags: Vec<String> = SYSTEM_FLAGS.iter().map(|f| (*f).to_string()).collect();
    for m in &mb.messages {
        for f in &m.flags {
            if !flags.iter().any(|x| x.eq_ignore_ascii_case(f)) {
                flags.push(f.clone());
            }
        }
    }
    let mut r = Reply::line(&format!("* FLAGS {}", flag_list(&flags)));
    if readonly {
        r.push_line("* OK [PERMANENTFLAGS ()] Read-only mailbox");
    } else {
        flags.push("\\*".to_string());
        r.push_line(&format!(
            "* OK [PERMANENTFLAGS {}] Flags permitted",
            flag_list(&flags)
        ));
    }
    r.push_line(&format!("* {} EXISTS", mb.messages.len()));
    r.push_line("* 0 RECENT");
    if let Some(i) = mb.messages.iter().position(|m| !m.has_flag("\\Seen")) {
        r.push_line(&format!("* OK [UNSEEN {}] First unseen", i + 1));
    }
    r.push_line(&format!("* OK [UIDVALIDITY {}] UIDs valid", mb.uidvalidity));
    r.push_line(&format!("* OK [UIDNEXT {}] Predicted next UID", mb.uidnext));
    s.selected = Some(Selected {
        name: super::store::canonical(&name),
        readonly,
        view: mb
            .messages
            .iter()
            .map(|m| (m.uid, m.flags.clone()))
            .collect(),
    });
    let mode = if readonly { "READ-ONLY" } else { "READ-WRITE" };
    done(r, tag, &format!("OK [{mode}] {verb} completed"))
}

/// Validates flags for STORE and APPEND: system flags (not `\Recent`) and keywords.
fn parse_flags(toks: &[Tok]) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for t in toks {
        let f = t.atom()?;
        if let Some(name) = f.strip_prefix('\\') {
            if !SYSTEM_FLAGS
                .iter()
                .any(|s| s.get(1..).is_some_and(|s| s.eq_ignore_ascii_case(name)))
            {
                return None;
            }
        } else if !f.bytes().all(is_atom_char) {
            return None;
        }
        out.push(f.to_string());
    }
    Some(out)
}

fn append(conn: &Conn, s: &mut Session, tag: &str, args: &[Tok]) -> io::Result<(Reply, Flow)> {
    let Some(name) = args.first().and_then(Tok::astring) else {
        return one(tag, "BAD Syntax: APPEND mailbox [(flags)] [date] literal");
    };
    let mut rest = args.get(1..).unwrap_or_default();
    let mut flags = Vec::new();
    if let Some((Tok::List(l), r)) = rest.split_first() {
        let Some(f) = parse_flags(l) else {
            return one(tag, "BAD Invalid flags");
        };
        flags = f;
        rest = r;
    }
    let mut date = now_unix();
    if let [Tok::Str(d), _] = rest {
        let Some(t) = std::str::from_utf8(d).ok().and_then(parse_date_time) else {
            return one(tag, "BAD Invalid date-time");
        };
        date = t;
        rest = rest.get(1..).unwrap_or_default();
    }
    let [Tok::Str(message)] = rest else {
        return one(tag, "BAD Syntax: APPEND mailbox [(flags)] [date] literal");
    };
    if message.len() > conn.shared.max_message_size {
        return one(tag, "NO [TOOBIG] Message too large");
    }
    let user = s.user.clone().unwrap_or_default();
    let result = conn
        .shared
        .modify(|st| st.append(&user, &name, flags, message.clone(), date));
    let mut r = Reply::default();
    sync(conn, s, &mut r, true);
    match result {
        Ok((v, u)) => done(r, tag, &format!("OK [APPENDUID {v} {u}] APPEND completed")),
        Err(StoreError::NoSuchMailbox(_)) => done(r, tag, "NO [TRYCREATE] No such mailbox"),
        Err(e) => done(r, tag, store_error(&e)),
    }
}

async fn idle(conn: &mut Conn, s: &mut Session, tag: &str) -> io::Result<(Reply, Flow)> {
    conn.send_line("+ idling").await?;
    loop {
        s.watch.borrow_and_update();
        let mut r = Reply::default();
        sync(conn, s, &mut r, true);
        if !r.bytes.is_empty() {
            conn.send(r).await?;
        }
        tokio::select! {
            line = conn.read_line(MAX_LINE) => {
                return match line? {
                    Line::Ok(l) => {
                        conn.note(Direction::Client, show(&l));
                        if l.eq_ignore_ascii_case(b"DONE") {
                            one(tag, "OK IDLE terminated")
                        } else {
                            one(tag, "BAD Expected DONE")
                        }
                    }
                    Line::TooLong => one(tag, "BAD Expected DONE"),
                    Line::Eof => Err(io::ErrorKind::UnexpectedEof.into()),
                };
            }
            changed = s.watch.changed() => {
                if changed.is_err() {
                    return Err(io::Error::other("peer stopped"));
                }
            }
        }
    }
}

/// Resolves a sequence set (or UID set) to indexes into the view, ascending and unique.
/// `None` for a syntax error or (sequence numbers only) a number beyond the view.
fn resolve(set: &str, uid: bool, view: &[(u32, Vec<String>)]) -> Option<Vec<usize>> {
    let star = if uid {
        view.last().map_or(0, |v| u64::from(v.0))
    } else {
        view.len() as u64
    };
    let num = |w: &str| -> Option<u64> {
        if w == "*" {
            return Some(star);
        }
        let n: u64 = w.parse().ok()?;
        (n > 0 && n <= u64::from(u32::MAX)).then_some(n)
    };
    let mut out = Vec::new();
    for part in set.split(',') {
        let (a, b) = match part.split_once(':') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let n = num(part)?;
                (n, n)
            }
        };
        let (lo, hi) = (a.min(b), a.max(b));
        if uid {
            out.extend(
                view.iter()
                    .enumerate()
                    .filter(|(_, v)| (lo..=hi).contains(&u64::from(v.0)))
                    .map(|(i, _)| i),
            );
        } else {
            if hi > view.len() as u64 || lo == 0 {
                return None;
            }
            out.extend((lo as usize - 1)..(hi as usize));
        }
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

fn set_arg(tok: Option<&Tok>) -> Option<&str> {
    let a = tok?.atom()?;
    a.bytes()
        .all(|c| c.is_ascii_digit() || c == b':' || c == b',' || c == b'*')
        .then_some(a)
}

fn expunge(
    conn: &Conn,
    s: &mut Session,
    tag: &str,
    uid: bool,
    args: &[Tok],
) -> io::Result<(Reply, Flow)> {
    let Some(sel) = s.selected.as_ref() else {
        return one(tag, "BAD No mailbox selected");
    };
    if sel.readonly {
        return one(tag, "NO [READ-ONLY] Mailbox is read-only");
    }
    let only: Option<Vec<u32>> = if uid {
        let (Some(set), 1) = (set_arg(args.first()), args.len()) else {
            return one(tag, "BAD Syntax: UID EXPUNGE set");
        };
        let Some(ix) = resolve(set, true, &sel.view) else {
            return one(tag, "BAD Invalid UID set");
        };
        Some(
            ix.iter()
                .filter_map(|&i| sel.view.get(i))
                .map(|v| v.0)
                .collect(),
        )
    } else {
        if !args.is_empty() {
            return one(tag, "BAD Syntax: EXPUNGE");
        }
        None
    };
    let user = s.user.clone().unwrap_or_default();
    let name = sel.name.clone();
    conn.shared.modify(|st| {
        if let Ok(mb) = st.mailbox_mut(&user, &name) {
            mb.messages.retain(|m| {
                !(m.has_flag("\\Deleted") && only.as_ref().is_none_or(|o| o.contains(&m.uid)))
            });
        }
    });
    let mut r = Reply::default();
    sync(conn, s, &mut r, true);
    done(r, tag, "OK EXPUNGE completed")
}

/// A FETCH item.
enum Item {
    Uid,
    Flags,
    InternalDate,
    Size,
    Envelope,
    Structure(&'static str),
    /// `BODY[...]` and friends: the name to answer with, the section, whether it sets
    /// `\Seen`, and the partial origin and count.
    Section {
        name: String,
        section: String,
        seen: bool,
        partial: Option<(usize, usize)>,
    },
}

fn parse_item(a: &str) -> Option<Vec<Item>> {
    let up = a.to_ascii_uppercase();
    let simple = |s: &str, seen: bool| Item::Section {
        name: up.clone(),
        section: s.to_string(),
        seen,
        partial: None,
    };
    Some(match up.as_str() {
        "UID" => vec![Item::Uid],
        "FLAGS" => vec![Item::Flags],
        "INTERNALDATE" => vec![Item::InternalDate],
        "RFC822.SIZE" => vec![Item::Size],
        "ENVELOPE" => vec![Item::Envelope],
        "BODYSTRUCTURE" => vec![Item::Structure("BODYSTRUCTURE")],
        "BODY" => vec![Item::Structure("BODY")],
        "RFC822" => vec![simple("", true)],
        "RFC822.HEADER" => vec![simple("HEADER", false)],
        "RFC822.TEXT" => vec![simple("TEXT", true)],
        "ALL" => vec![Item::Flags, Item::InternalDate, Item::Size, Item::Envelope],
        "FAST" => vec![Item::Flags, Item::InternalDate, Item::Size],
        "FULL" => vec![
            Item::Flags,
            Item::InternalDate,
            Item::Size,
            Item::Envelope,
            Item::Structure("BODY"),
        ],
        _ => {
            let (peek, rest) = if let Some(r) = up.strip_prefix("BODY.PEEK[") {
                (true, r)
            } else if let Some(r) = up.strip_prefix("BODY[") {
                (false, r)
            } else {
                return None;
            };
            let close = rest.rfind(']')?;
            // The section as the client wrote it (same length: ASCII upper-casing).
            let start = a.len() - rest.len();
            let section = a.get(start..start + close)?.to_string();
            let tail = rest.get(close + 1..)?;
            let partial = if tail.is_empty() {
                None
            } else {
                let inner = tail.strip_prefix('<')?.strip_suffix('>')?;
                let (o, c) = inner.split_once('.')?;
                Some((o.parse().ok()?, c.parse().ok()?))
            };
            let name = format!(
                "BODY[{section}]{}",
                partial.map_or(String::new(), |(o, _)| format!("<{o}>"))
            );
            vec![Item::Section {
                name,
                section,
                seen: !peek,
                partial,
            }]
        }
    })
}

fn fetch(
    conn: &Conn,
    s: &mut Session,
    tag: &str,
    uid: bool,
    args: &[Tok],
) -> io::Result<(Reply, Flow)> {
    let mut r = Reply::default();
    sync(conn, s, &mut r, false);
    let Some(set) = set_arg(args.first()) else {
        return one(tag, "BAD Syntax: FETCH set items");
    };
    let atoms: Vec<&Tok> = match args.get(1..) {
        Some([Tok::List(l)]) => l.iter().collect(),
        Some([a @ Tok::Atom(_)]) => vec![a],
        _ => return one(tag, "BAD Syntax: FETCH set items"),
    };
    let mut items = Vec::new();
    if uid {
        items.push(Item::Uid);
    }
    for a in atoms {
        match a.atom().and_then(parse_item) {
            Some(mut v) => items.append(&mut v),
            None => return one(tag, "BAD Unsupported FETCH item"),
        }
    }
    let Some(user) = s.user.clone() else {
        return one(tag, "BAD Not logged in");
    };
    let Some(sel) = s.selected.as_mut() else {
        return one(tag, "BAD No mailbox selected");
    };
    let Some(ixs) = resolve(set, uid, &sel.view) else {
        return one(tag, "BAD Invalid message set");
    };
    let sets_seen = !sel.readonly
        && items
            .iter()
            .any(|i| matches!(i, Item::Section { seen: true, .. }));
    for i in ixs {
        let Some((muid, _)) = sel.view.get(i).cloned() else {
            continue;
        };
        let msg = if sets_seen {
            conn.shared.modify(|st| {
                let m = st.mailbox_mut(&user, &sel.name).ok()?.get_mut(muid)?;
                if !m.has_flag("\\Seen") {
                    m.flags.push("\\Seen".to_string());
                }
                Some(m.clone())
            })
        } else {
            conn.shared
                .read(|st| st.mailbox(&user, &sel.name).ok()?.get(muid).cloned())
        };
        // Expunged by another session and not yet reported: nothing to say.
        let Some(msg) = msg else { continue };
        r.push(&format!("* {} FETCH (", i + 1));
        let mut first = true;
        let mut flags_sent = false;
        let mut uid_sent = false;
        for item in &items {
            if matches!(item, Item::Uid) && uid_sent || matches!(item, Item::Flags) && flags_sent {
                continue;
            }
            if !first {
                r.push(" ");
            }
            first = false;
            match item {
                Item::Uid => {
                    uid_sent = true;
                    r.push(&format!("UID {muid}"));
                }
                Item::Flags => {
                    flags_sent = true;
                    r.push(&format!("FLAGS {}", flag_list(&msg.flags)));
                }
                Item::InternalDate => {
                    r.push(&format!(
                        "INTERNALDATE {}",
                        internal_date(msg.internal_date)
                    ));
                }
                Item::Size => r.push(&format!("RFC822.SIZE {}", msg.raw.len())),
                Item::Envelope => {
                    r.push("ENVELOPE ");
                    envelope(&mut r, &msg.raw);
                }
                Item::Structure(name) => {
                    r.push(name);
                    r.push(" ");
                    body_structure(&mut r, &msg.raw, 0);
                }
                Item::Section {
                    name,
                    section,
                    partial,
                    ..
                } => {
                    let Some(data) = mime::section(&msg.raw, section) else {
                        return one(tag, "BAD Unsupported section");
                    };
                    let data = match partial {
                        Some((o, c)) => {
                            let start = (*o).min(data.len());
                            let end = start.saturating_add(*c).min(data.len());
                            data.get(start..end).unwrap_or_default()
                        }
                        None => data.as_slice(),
                    };
                    r.push(name);
                    r.push(" ");
                    r.literal(data);
                }
            }
        }
        if let Some(v) = sel.view.get_mut(i) {
            if sets_seen && v.1 != msg.flags && !flags_sent {
                r.push(&format!(" FLAGS {}", flag_list(&msg.flags)));
            }
            v.1.clone_from(&msg.flags);
        }
        r.push(")");
        r.end();
    }
    done(
        r,
        tag,
        &format!("OK {}FETCH completed", if uid { "UID " } else { "" }),
    )
}

fn store(
    conn: &Conn,
    s: &mut Session,
    tag: &str,
    uid: bool,
    args: &[Tok],
) -> io::Result<(Reply, Flow)> {
    let mut r = Reply::default();
    sync(conn, s, &mut r, false);
    let (Some(set), Some(Tok::Atom(item))) = (set_arg(args.first()), args.get(1)) else {
        return one(tag, "BAD Syntax: STORE set item flags");
    };
    let item = item.to_ascii_uppercase();
    let (mode, rest) = match item.as_bytes().first() {
        Some(b'+') => (1, item.get(1..).unwrap_or_default()),
        Some(b'-') => (-1, item.get(1..).unwrap_or_default()),
        _ => (0, item.as_str()),
    };
    let silent = match rest {
        "FLAGS" => false,
        "FLAGS.SILENT" => true,
        _ => return one(tag, "BAD Unsupported STORE item"),
    };
    let flag_toks: &[Tok] = match args.get(2..) {
        Some([Tok::List(l)]) => l,
        Some(t) if !t.is_empty() => t,
        _ => return one(tag, "BAD Missing flags"),
    };
    let Some(flags) = parse_flags(flag_toks) else {
        return one(tag, "BAD Invalid flags");
    };
    let Some(user) = s.user.clone() else {
        return one(tag, "BAD Not logged in");
    };
    let Some(sel) = s.selected.as_mut() else {
        return one(tag, "BAD No mailbox selected");
    };
    if sel.readonly {
        return one(tag, "NO [READ-ONLY] Mailbox is read-only");
    }
    let Some(ixs) = resolve(set, uid, &sel.view) else {
        return one(tag, "BAD Invalid message set");
    };
    let uids: Vec<(usize, u32)> = ixs
        .iter()
        .filter_map(|&i| sel.view.get(i).map(|v| (i, v.0)))
        .collect();
    let results: Vec<(usize, u32, Vec<String>)> = conn.shared.modify(|st| {
        let Ok(mb) = st.mailbox_mut(&user, &sel.name) else {
            return Vec::new();
        };
        uids.iter()
            .filter_map(|&(i, u)| {
                let m = mb.get_mut(u)?;
                let mut new = match mode {
                    0 => Vec::new(),
                    _ => m.flags.clone(),
                };
                if mode >= 0 {
                    new.extend(flags.iter().cloned());
                } else {
                    new.retain(|f| !flags.iter().any(|x| x.eq_ignore_ascii_case(f)));
                }
                m.flags = super::store::normalize_flags(new);
                Some((i, u, m.flags.clone()))
            })
            .collect()
    });
    for (i, u, f) in results {
        if !silent {
            r.push_line(&format!(
                "* {} FETCH (UID {u} FLAGS {})",
                i + 1,
                flag_list(&f)
            ));
        }
        if let Some(v) = sel.view.get_mut(i) {
            v.1 = f;
        }
    }
    done(
        r,
        tag,
        &format!("OK {}STORE completed", if uid { "UID " } else { "" }),
    )
}

/// A compact UID set: `1:3,7`.
fn uid_set(uids: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while let Some(&a) = uids.get(i) {
        let mut j = i;
        while uids
            .get(j + 1)
            .is_some_and(|&n| Some(n) == uids.get(j).and_then(|x| x.checked_add(1)))
        {
            j += 1;
        }
        let b = uids.get(j).copied().unwrap_or(a);
        out.push(if a == b {
            a.to_string()
        } else {
            format!("{a}:{b}")
        });
        i = j + 1;
    }
    out.join(",")
}

fn copy_move(
    conn: &Conn,
    s: &mut Session,
    tag: &str,
    uid: bool,
    is_move: bool,
    args: &[Tok],
) -> io::Result<(Reply, Flow)> {
    let verb = if is_move { "MOVE" } else { "COPY" };
    let (Some(set), Some(dest), 2) = (
        set_arg(args.first()),
        args.get(1).and_then(Tok::astring),
        args.len(),
    ) else {
        return one(tag, &format!("BAD Syntax: {verb} set mailbox"));
    };
    let Some(user) = s.user.clone() else {
        return one(tag, "BAD Not logged in");
    };
    let Some(sel) = s.selected.as_ref() else {
        return one(tag, "BAD No mailbox selected");
    };
    if is_move && sel.readonly {
        return one(tag, "NO [READ-ONLY] Mailbox is read-only");
    }
    let Some(ixs) = resolve(set, uid, &sel.view) else {
        return one(tag, "BAD Invalid message set");
    };
    let uids: Vec<u32> = ixs
        .iter()
        .filter_map(|&i| sel.view.get(i))
        .map(|v| v.0)
        .collect();
    let name = sel.name.clone();
    let result = conn.shared.modify(|st| {
        let (v, pairs) = st.copy(&user, &name, &uids, &dest)?;
        if is_move {
            let moved: Vec<u32> = pairs.iter().map(|p| p.0).collect();
            if let Ok(mb) = st.mailbox_mut(&user, &name) {
                mb.remove(&moved);
            }
        }
        Ok::<_, StoreError>((v, pairs))
    });
    let (v, pairs) = match result {
        Ok(x) => x,
        Err(StoreError::NoSuchMailbox(_)) => return one(tag, "NO [TRYCREATE] No such mailbox"),
        Err(e) => return one(tag, store_error(&e)),
    };
    let code = if pairs.is_empty() {
        String::new()
    } else {
        let src: Vec<u32> = pairs.iter().map(|p| p.0).collect();
        let dst: Vec<u32> = pairs.iter().map(|p| p.1).collect();
        format!("[COPYUID {v} {} {}] ", uid_set(&src), uid_set(&dst))
    };
    let mut r = Reply::default();
    if is_move {
        // RFC 6851 §4.3: COPYUID in an untagged OK before the EXPUNGEs.
        if !code.is_empty() {
            r.push_line(&format!("* OK {code}Moved"));
        }
        sync(conn, s, &mut r, true);
        done(r, tag, &format!("OK {verb} completed"))
    } else {
        sync(conn, s, &mut r, true);
        done(r, tag, &format!("OK {code}{verb} completed"))
    }
}

// ------------------------------------------------------------------------------ SEARCH

enum Key {
    All,
    Set(String, bool),
    Flag(String, bool),
    Never,
    Header(String, Vec<u8>),
    Body(Vec<u8>),
    Text(Vec<u8>),
    Larger(u64),
    Smaller(u64),
    Date(std::cmp::Ordering, i64, bool),
    Not(Box<Key>),
    Or(Box<Key>, Box<Key>),
    And(Vec<Key>),
}

fn bytes_arg(t: Option<&Tok>) -> Option<Vec<u8>> {
    match t? {
        Tok::Atom(a) => Some(a.as_bytes().to_vec()),
        Tok::Str(s) => Some(s.clone()),
        Tok::List(_) => None,
    }
}

fn parse_key<'t>(
    it: &mut impl Iterator<Item = &'t Tok>,
    depth: usize,
) -> Result<Key, &'static str> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    if depth > MAX_DEPTH {
        return Err("Search too deeply nested");
    }
    let tok = it.next().ok_or("Missing search key")?;
    let a = match tok {
        Tok::List(l) => {
            let mut inner = l.iter();
            let mut keys = Vec::new();
            while inner.clone().next().is_some() {
                keys.push(parse_key(&mut inner, depth + 1)?);
            }
            return Ok(Key::And(keys));
        }
        Tok::Str(_) => return Err("Unexpected string"),
        Tok::Atom(a) => a.to_ascii_uppercase(),
    };
    if a.starts_with(|c: char| c.is_ascii_digit() || c == '*') {
        return Ok(Key::Set(a, false));
    }
    let flag = |f: &str, has: bool| Ok(Key::Flag(f.to_string(), has));
    let mut s = || bytes_arg(it.next()).ok_or("Missing search argument");
    let header = |name: &str, v: Vec<u8>| Ok(Key::Header(name.to_string(), v));
    match a.as_str() {
        "ALL" => Ok(Key::All),
        "ANSWERED" => flag("\\Answered", true),
        "UNANSWERED" => flag("\\Answered", false),
        "DELETED" => flag("\\Deleted", true),
        "UNDELETED" => flag("\\Deleted", false),
        "DRAFT" => flag("\\Draft", true),
        "UNDRAFT" => flag("\\Draft", false),
        "FLAGGED" => flag("\\Flagged", true),
        "UNFLAGGED" => flag("\\Flagged", false),
        "SEEN" => flag("\\Seen", true),
        "UNSEEN" => flag("\\Seen", false),
        "KEYWORD" | "UNKEYWORD" => {
            let k = String::from_utf8(s()?).map_err(|_| "Bad keyword")?;
            Ok(Key::Flag(k, a == "KEYWORD"))
        }
        "NEW" | "RECENT" => Ok(Key::Never),
        "OLD" => Ok(Key::All),
        "FROM" | "TO" | "CC" | "BCC" | "SUBJECT" => {
            let v = s()?;
            header(&a, v)
        }
        "HEADER" => {
            let name = String::from_utf8(s()?).map_err(|_| "Bad header name")?;
            let v = s()?;
            header(&name, v)
        }
        "BODY" => Ok(Key::Body(s()?)),
        "TEXT" => Ok(Key::Text(s()?)),
        "LARGER" | "SMALLER" => {
            let n: u64 = String::from_utf8(s()?)
                .ok()
                .and_then(|n| n.parse().ok())
                .ok_or("Bad number")?;
            Ok(if a == "LARGER" {
                Key::Larger(n)
            } else {
                Key::Smaller(n)
            })
        }
        "BEFORE" | "ON" | "SINCE" => {
            let d = String::from_utf8(s()?)
                .ok()
                .and_then(|d| parse_day(&d))
                .ok_or("Bad date")?;
            let (ord, or_equal) = match a.as_str() {
                "BEFORE" => (Less, false),
                "ON" => (Equal, true),
                _ => (Greater, true),
            };
            Ok(Key::Date(ord, d, or_equal))
        }
        "UID" => {
            let set = String::from_utf8(s()?).map_err(|_| "Bad UID set")?;
            Ok(Key::Set(set, true))
        }
        "NOT" => Ok(Key::Not(Box::new(parse_key(it, depth + 1)?))),
        "OR" => {
            let x = parse_key(it, depth + 1)?;
            let y = parse_key(it, depth + 1)?;
            Ok(Key::Or(Box::new(x), Box::new(y)))
        }
        _ => Err("Unsupported search key"),
    }
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

fn matches(key: &Key, seq: usize, m: &StoredMessage, view: &[(u32, Vec<String>)]) -> bool {
    match key {
        Key::All => true,
        Key::Never => false,
        Key::Set(set, uid) => resolve(set, *uid, view).is_some_and(|ix| ix.contains(&seq)),
        Key::Flag(f, has) => m.has_flag(f) == *has,
        Key::Header(name, needle) => {
            let (head, _) = mime::split(&m.raw);
            mime::field_values(head, name)
                .iter()
                .any(|v| contains_ci(v, needle))
        }
        Key::Body(n) => contains_ci(mime::split(&m.raw).1, n),
        Key::Text(n) => contains_ci(&m.raw, n),
        Key::Larger(n) => m.raw.len() as u64 > *n,
        Key::Smaller(n) => (m.raw.len() as u64) < *n,
        Key::Date(ord, day, or_equal) => {
            let d = i64::try_from(m.internal_date / 86_400).unwrap_or(0);
            d.cmp(day) == *ord || (*or_equal && d == *day)
        }
        Key::Not(k) => !matches(k, seq, m, view),
        Key::Or(a, b) => matches(a, seq, m, view) || matches(b, seq, m, view),
        Key::And(keys) => keys.iter().all(|k| matches(k, seq, m, view)),
    }
}

fn search(
    conn: &Conn,
    s: &mut Session,
    tag: &str,
    uid: bool,
    args: &[Tok],
) -> io::Result<(Reply, Flow)> {
    let mut r = Reply::default();
    sync(conn, s, &mut r, false);
    let mut rest = args;
    if let [Tok::Atom(c), cs, tail @ ..] = args
        && c.eq_ignore_ascii_case("CHARSET")
    {
        let ok = bytes_arg(Some(cs)).is_some_and(|c| {
            c.eq_ignore_ascii_case(b"UTF-8") || c.eq_ignore_ascii_case(b"US-ASCII")
        });
        if !ok {
            return one(tag, "NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
        }
        rest = tail;
    }
    if rest.is_empty() {
        return one(tag, "BAD Missing search criteria");
    }
    let mut it = rest.iter();
    let mut keys = Vec::new();
    while it.clone().next().is_some() {
        match parse_key(&mut it, 0) {
            Ok(k) => keys.push(k),
            Err(e) => return one(tag, &format!("BAD {e}")),
        }
    }
    let key = Key::And(keys);
    let Some(user) = s.user.clone() else {
        return one(tag, "BAD Not logged in");
    };
    let Some(sel) = s.selected.as_ref() else {
        return one(tag, "BAD No mailbox selected");
    };
    let hits: Vec<String> = conn.shared.read(|st| {
        let Ok(mb) = st.mailbox(&user, &sel.name) else {
            return Vec::new();
        };
        sel.view
            .iter()
            .enumerate()
            .filter_map(|(i, (u, _))| {
                let m = mb.get(*u)?;
                matches(&key, i, m, &sel.view).then(|| {
                    if uid {
                        u.to_string()
                    } else {
                        (i + 1).to_string()
                    }
                })
            })
            .collect()
    });
    if hits.is_empty() {
        r.push_line("* SEARCH");
    } else {
        r.push_line(&format!("* SEARCH {}", hits.join(" ")));
    }
    done(
        r,
        tag,
        &format!("OK {}SEARCH completed", if uid { "UID " } else { "" }),
    )
}

// ------------------------------------------------------------------------------ ENVELOPE

/// An address list as `((name adl mailbox host) ...)` or NIL.
fn push_addresses(r: &mut Reply, value: Option<&[u8]>) {
    let addrs = value.map(mime::addresses).unwrap_or_default();
    if addrs.is_empty() {
        r.push("NIL");
        return;
    }
    r.push("(");
    for (name, mailbox, host) in addrs {
        r.push("(");
        push_nstring(r, name.as_deref());
        r.push(" NIL ");
        push_string(r, &mailbox);
        r.push(" ");
        push_nstring(r, host.as_deref());
        r.push(")");
    }
    r.push(")");
}

fn envelope(r: &mut Reply, raw: &[u8]) {
    let (head, _) = mime::split(raw);
    let get = |n: &str| mime::field_values(head, n).into_iter().next();
    let from = get("From");
    r.push("(");
    push_nstring(r, get("Date").as_deref());
    r.push(" ");
    push_nstring(r, get("Subject").as_deref());
    r.push(" ");
    push_addresses(r, from.as_deref());
    r.push(" ");
    push_addresses(r, get("Sender").or_else(|| from.clone()).as_deref());
    r.push(" ");
    push_addresses(r, get("Reply-To").or_else(|| from.clone()).as_deref());
    for f in ["To", "Cc", "Bcc"] {
        r.push(" ");
        push_addresses(r, get(f).as_deref());
    }
    r.push(" ");
    push_nstring(r, get("In-Reply-To").as_deref());
    r.push(" ");
    push_nstring(r, get("Message-ID").as_deref());
    r.push(")");
}

/// BODYSTRUCTURE / BODY of an entity (without extension data): multiparts split on their
/// boundary, message/rfc822 parts described with their envelope, at most 8 levels deep.
fn body_structure(r: &mut Reply, entity: &[u8], depth: usize) {
    let (head, body) = mime::split(entity);
    let (t, st, params) = mime::content_type(head);
    if t == "multipart" && depth < 8 {
        let parts = mime::multipart_parts(entity);
        if !parts.is_empty() {
            r.push("(");
            for p in parts {
                body_structure(r, p, depth + 1);
            }
            r.push(" ");
            push_string(r, st.to_ascii_uppercase().as_bytes());
            r.push(")");
            return;
        }
    }
    // A multipart without parts is described as text.
    let (t, st) = if t == "multipart" {
        ("text".to_string(), "plain".to_string())
    } else {
        (t, st)
    };
    let get = |n: &str| mime::field_values(head, n).into_iter().next();
    r.push("(");
    push_string(r, t.to_ascii_uppercase().as_bytes());
    r.push(" ");
    push_string(r, st.to_ascii_uppercase().as_bytes());
    r.push(" ");
    let params: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "boundary").collect();
    if params.is_empty() {
        r.push("NIL");
    } else {
        r.push("(");
        for (i, (k, v)) in params.iter().enumerate() {
            if i > 0 {
                r.push(" ");
            }
            push_string(r, k.to_ascii_uppercase().as_bytes());
            r.push(" ");
            push_string(r, v.as_bytes());
        }
        r.push(")");
    }
    r.push(" ");
    push_nstring(r, get("Content-ID").as_deref());
    r.push(" ");
    push_nstring(r, get("Content-Description").as_deref());
    r.push(" ");
    let cte = get("Content-Transfer-Encoding").unwrap_or_else(|| b"7BIT".to_vec());
    push_string(r, &cte.to_ascii_uppercase());
    r.push(&format!(" {}", body.len()));
    let lines = body.iter().filter(|&&c| c == b'\n').count();
    if t == "message" && st == "rfc822" && depth < 8 {
        r.push(" ");
        envelope(r, body);
        r.push(" ");
        body_structure(r, body, depth + 1);
        r.push(&format!(" {lines}"));
    } else if t == "text" {
        r.push(&format!(" {lines}"));
    }
    r.push(")");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let t = tokenize(b"a1 UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)]<0.10>)")
            .unwrap();
        assert_eq!(t.len(), 5);
        assert_eq!(
            t[4],
            Tok::List(vec![
                Tok::Atom("UID".into()),
                Tok::Atom("BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)]<0.10>".into())
            ])
        );
        let t = tokenize(b"a2 LOGIN {3+}\r\nbob \"p\\\"w\"").unwrap();
        assert_eq!(t[2], Tok::Str(b"bob".to_vec()));
        assert_eq!(t[3], Tok::Str(b"p\"w".to_vec()));
        assert!(tokenize(b"a3 X (").is_err());
        assert!(tokenize(b"a3 X {9}\r\nab").is_err());
        assert_eq!(literal_at_end(b"a APPEND x {12+}"), Some((12, true)));
        assert_eq!(literal_at_end(b"a APPEND x {12}"), Some((12, false)));
        assert_eq!(literal_at_end(b"a X \"{12}\""), None);
        assert_eq!(mask("a1 LOGIN bob \"secret word\""), "a1 LOGIN bob ***");
        assert_eq!(
            mask("a1 AUTHENTICATE PLAIN AGJvYgB4"),
            "a1 AUTHENTICATE PLAIN ***"
        );
    }

    #[test]
    fn sets_and_items() {
        let view: Vec<(u32, Vec<String>)> = [3, 5, 9].iter().map(|u| (*u, Vec::new())).collect();
        assert_eq!(resolve("1:*", false, &view), Some(vec![0, 1, 2]));
        assert_eq!(resolve("4", false, &view), None);
        assert_eq!(resolve("5:*", true, &view), Some(vec![1, 2]));
        assert_eq!(resolve("10:*", true, &view), Some(vec![2]));
        assert_eq!(resolve("4", true, &view), Some(vec![]));
        assert_eq!(resolve("x", true, &view), None);
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert!(parse_item("BODY.PEEK[header.fields (From)]<0.5>").is_some());
        assert!(parse_item("BINARY[]").is_none());
    }

    #[test]
    fn dates() {
        assert_eq!(internal_date(0), "\"01-Jan-1970 00:00:00 +0000\"");
        assert_eq!(
            parse_date_time("17-Jul-1996 02:44:25 -0700"),
            Some(837_596_665)
        );
        assert_eq!(internal_date(837_596_665), "\"17-Jul-1996 09:44:25 +0000\"");
        assert_eq!(parse_day("1-Feb-2000"), Some(10_988));
        assert_eq!(parse_day("1-Feb-99999999999999"), None);
        assert_eq!(parse_date_time("1-Feb-2000 99:00:00 +0000"), None);
        assert!(glob(b"*", b"a/b"));
        assert!(!glob(b"%", b"a/b"));
        assert!(glob(b"a/%", b"a/b"));
    }
}
