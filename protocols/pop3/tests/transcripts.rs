//! Transcript tests of the POP3 client.
//!
//! 1. curl's POP3 test cases (`shared/corpus/public/curl/curl-*.json`, `"protocol": "pop3"`,
//!    format in FORMAT.md): [`CurlServer`] re-implements the defaults of curl's scripted test
//!    server (tests/ftpserver.pl, POP3 part) plus the case's `server.directives`; our client
//!    performs the operation of `client.curl_command_line`; the commands it sends must equal
//!    `client.expected_protocol`, and what it retrieves the case's data. Documented
//!    adaptations are in [`ADAPTED`]; cases that do not apply are in [`SKIPPED`] with a
//!    reason; the summary is printed.
//! 2. Sessions captured against Dovecot (`shared/peers/transcripts/pop3-*.log`): the server's
//!    side is replayed to our client, which must send exactly the captured client lines.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

mod common;

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

use common::{Bufs, Mock, Step, Timer, c, client, plain_config, run, s};
use embedded_io_async::{ErrorKind, ErrorType, Read, Write};
use postwire_core::sasl::{Credentials, Mechanism};
use postwire_pop3::client::{AuthMethod, Buffers, Client, ClientConfig, Error};
use postwire_pop3::proto::ProtocolError;
use postwire_pop3::{CodeKind, Stage};
use serde_json::Value;

const CURL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpus/public/curl"
);
const PEERS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/peers/transcripts"
);

/// Cases not run, with the reason.
const SKIPPED: &[(&str, &str)] = &[
    ("curl-868", "AUTH NTLM: mechanism not implemented"),
    (
        "curl-877",
        "AUTH NTLM (cancellation): mechanism not implemented",
    ),
    ("curl-869", "AUTH DIGEST-MD5: mechanism not implemented"),
    ("curl-883", "AUTH EXTERNAL: mechanism not implemented"),
    ("curl-885", "AUTH EXTERNAL: mechanism not implemented"),
    ("curl-886", "AUTH EXTERNAL: mechanism not implemented"),
    (
        "curl-887",
        "AUTH OAUTHBEARER: mechanism not implemented (XOAUTH2 is)",
    ),
    (
        "curl-888",
        "AUTH OAUTHBEARER: mechanism not implemented (XOAUTH2 is)",
    ),
    (
        "curl-890",
        "AUTH OAUTHBEARER: mechanism not implemented (XOAUTH2 is)",
    ),
    (
        "curl-872",
        "LOGIN with an initial response (--sasl-ir): non-standard (LOGIN has no initial \
         response), our client never sends one for LOGIN",
    ),
    (
        "curl-875",
        "CR LF in the URL's message id: message numbers are u64 in our API, CR/LF cannot be \
         expressed (the encoder refusing CR/LF is tested in wire::command)",
    ),
];

/// Cases run with our own expected command stream, because our behaviour legitimately
/// differs from curl's: (id, expected commands, reason).
const ADAPTED: &[(&str, &str, &str)] = &[
    (
        "curl-880",
        "CAPA\r\nAUTH PLAIN\r\nAHVzZXIAc2VjcmV0\r\nRETR 880\r\nQUIT\r\n",
        "NTLM is not implemented: our client goes straight to PLAIN (curl tries NTLM, \
         cancels with '*', then downgrades to PLAIN)",
    ),
    (
        "curl-881",
        "CAPA\r\nAUTH PLAIN\r\nAHVzZXIAc2VjcmV0\r\nRETR 881\r\nQUIT\r\n",
        "DIGEST-MD5 is not implemented: our client goes straight to PLAIN (curl tries \
         DIGEST-MD5, cancels with '*', then downgrades to PLAIN)",
    ),
    (
        "curl-894",
        "CAPA\r\n",
        "CR in the user name: curl refuses the URL before connecting; our client refuses it \
         at login with Error::InvalidArgument, after CAPA and before sending any credential",
    ),
];

/// JSON strings of the curl corpus carry the test files' UTF-8 bytes as Latin-1 code points;
/// this gives the bytes back.
fn bytes(s: &str) -> Vec<u8> {
    if s.chars().all(|ch| u32::from(ch) < 256) {
        s.chars().map(|ch| u32::from(ch) as u8).collect()
    } else {
        s.as_bytes().to_vec()
    }
}

fn string(v: &Value) -> Option<String> {
    v.as_str()
        .map(|s| String::from_utf8(bytes(s)).unwrap_or_else(|_| s.to_string()))
}

// ---------------------------------------------------------------------------------------
// The curl test server.

/// curl's scripted test server (tests/ftpserver.pl, POP3 part), reduced to what the cases
/// use: its default replies and the `REPLY`, `CAPA`, `AUTH` and `SLOWDOWN` directives.
///
/// One adaptation: the real server sends five ASCII-art lines before its `+OK` greeting
/// (curl skips lines that are not status lines). They are not POP3, and our client treats
/// them as a malformed greeting (tested in `art_lines_before_the_greeting_are_refused`), so
/// this server greets with the `+OK` line only.
struct CurlServer {
    replies: HashMap<String, String>,
    capa: Vec<String>,
    auth: Vec<String>,
    data: Vec<u8>,
    out: VecDeque<u8>,
    line: Vec<u8>,
    commands: Vec<u8>,
    closed: bool,
    failures: Vec<String>,
    chunk: usize,
}

impl CurlServer {
    fn new(directives: &[String], data: Vec<u8>) -> Self {
        let mut srv = CurlServer {
            replies: HashMap::new(),
            capa: Vec::new(),
            auth: Vec::new(),
            data,
            out: VecDeque::new(),
            line: Vec::new(),
            commands: Vec::new(),
            closed: false,
            failures: Vec::new(),
            chunk: 4096,
        };
        for d in directives {
            if let Some(rest) = d.strip_prefix("REPLY ") {
                let (cmd, text) = if let Some(q) = rest.strip_prefix('"') {
                    let end = q.find('"').unwrap();
                    (q[..end].to_string(), q[end + 1..].trim_start().to_string())
                } else {
                    let sp = rest.find(' ').unwrap_or(rest.len());
                    (
                        rest[..sp].to_string(),
                        rest.get(sp + 1..).unwrap_or("").to_string(),
                    )
                };
                srv.replies
                    .insert(cmd, text.replace("\\r\\n", "\r\n").replace("\\@", "@"));
            } else if let Some(rest) = d.strip_prefix("CAPA ") {
                srv.capa.extend(rest.split(' ').map(str::to_string));
            } else if let Some(rest) = d.strip_prefix("AUTH ") {
                srv.auth.extend(rest.split(' ').map(str::to_string));
            } else if d == "SLOWDOWN" {
                srv.chunk = 1;
            } else {
                panic!("unsupported server directive {d:?}");
            }
        }
        match srv.replies.get("welcome").cloned() {
            Some(w) => srv.send(&w),
            None => srv.send("+OK curl POP3 server ready to serve "),
        }
        srv
    }

    fn send(&mut self, line: &str) {
        self.out.extend(bytes(line));
        self.out.extend(b"\r\n");
    }

    fn send_data(&mut self, first: &str) {
        self.send(first);
        let data = self.data.clone();
        self.out.extend(data);
        self.send(".");
    }

    fn command(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line).to_string();
        let word = text.split(' ').next().unwrap_or("").to_string();
        let verb = word.to_ascii_uppercase();
        if let Some(r) = self
            .replies
            .get(&text)
            .or_else(|| self.replies.get(&word))
            .cloned()
        {
            for l in r.split("\r\n") {
                self.send(l);
            }
            if verb == "QUIT" {
                self.closed = true;
            }
            return;
        }
        let has_arg = text.len() > word.len();
        match verb.as_str() {
            "CAPA" => {
                let mut list: Vec<String> =
                    self.capa.iter().filter(|c| *c != "APOP").cloned().collect();
                if !self.auth.is_empty() {
                    list.push(format!("SASL {}", self.auth.join(" ")));
                }
                if list.is_empty() {
                    self.send("-ERR Unrecognized command");
                } else {
                    self.send("+OK List of capabilities follows");
                    for l in list {
                        self.send(&l);
                    }
                    self.send(".");
                }
            }
            "USER" => self.send("+OK We are happy you popped in!"),
            "PASS" | "APOP" => self.send("+OK Login successful"),
            "AUTH" => self.send("-ERR Unrecognized authentication type"),
            "RETR" | "TOP" => self.send_data("+OK Mail transfer starts"),
            "LIST" if !has_arg => self.send_data("+OK Listing starts"),
            "STAT" => self.send("+OK 3 4294967800"),
            "DELE" => self.send("+OK message marked for deletion"),
            "RSET" | "NOOP" => self.send("+OK"),
            "QUIT" => {
                self.send("+OK curl POP3 server signing off");
                self.closed = true;
            }
            _ => self.send("-ERR Unrecognized command"),
        }
    }

    fn receive(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.commands.push(b);
            self.line.push(b);
            if b == b'\n' {
                let mut line = std::mem::take(&mut self.line);
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.command(&line);
            }
        }
    }
}

impl ErrorType for CurlServer {
    type Error = ErrorKind;
}

impl Read for CurlServer {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        if self.out.is_empty() {
            if self.closed {
                return Ok(0);
            }
            self.failures
                .push("the client waits for a reply the server does not owe".into());
            return Err(ErrorKind::Other);
        }
        let n = buf.len().min(self.out.len()).min(self.chunk);
        for (i, b) in self.out.drain(..n).enumerate() {
            buf[i] = b;
        }
        Ok(n)
    }
}

impl Write for CurlServer {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        if self.closed && self.out.is_empty() {
            return Err(ErrorKind::BrokenPipe);
        }
        self.receive(buf);
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// The operation of a curl command line.

#[derive(Debug, Default)]
struct Operation {
    user: String,
    pass: String,
    authzid: Option<String>,
    sasl_ir: bool,
    /// The URL path: a message number, or empty for LIST.
    path: String,
    custom: Option<String>,
    ssl_required: bool,
}

fn parse_operation(case: &Value) -> Operation {
    let cmdline = string(&case["client"]["curl_command_line"]).unwrap();
    let words: Vec<String> = shell_words(&cmdline);
    let mut op = Operation::default();
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        let next = words.get(i + 1).cloned();
        let mut takes = true;
        match w {
            "-u" | "--user" => {
                let v = next.unwrap();
                let (u, p) = v.split_once(':').unwrap_or((&v, ""));
                op.user = u.to_string();
                op.pass = p.to_string();
            }
            "--sasl-authzid" => op.authzid = next,
            "-X" | "--request" => op.custom = next,
            "--sasl-ir" => {
                op.sasl_ir = true;
                takes = false;
            }
            "--ssl" | "--ssl-reqd" => {
                op.ssl_required = true;
                takes = false;
            }
            _ if w.starts_with("pop3://") => {
                let rest = &w["pop3://".len()..];
                let (userinfo, hostpath) = match rest.split_once('@') {
                    Some((u, h)) => (Some(u), h),
                    None => (None, rest),
                };
                if let Some(u) = userinfo {
                    let (u, p) = u.split_once(':').unwrap_or((u, ""));
                    op.user = u.replace("%0d", "\r");
                    op.pass = p.to_string();
                }
                op.path = hostpath
                    .split_once('/')
                    .map(|(_, p)| p.to_string())
                    .unwrap_or_default();
                takes = false;
            }
            _ => takes = false, // -I: nothing to do
        }
        i += if takes { 2 } else { 1 };
    }
    op
}

/// Splits a command line like a shell would (single and double quotes).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '\'' | '"' => {
                in_word = true;
                for c2 in chars.by_ref() {
                    if c2 == ch {
                        break;
                    }
                    cur.push(c2);
                }
            }
            c2 if c2.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            _ => {
                in_word = true;
                cur.push(ch);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// What the client retrieved.
#[derive(Debug, Default)]
struct Outcome {
    body: Vec<u8>,
    listing: Vec<(u64, u64)>,
}

fn run_case(case: &Value) -> (Vec<u8>, Result<Outcome, Error<ErrorKind>>, bool) {
    let id = case["id"].as_str().unwrap();
    let directives: Vec<String> = case["server"]["directives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| string(d).unwrap())
        .collect();
    let data = bytes(case["server"]["reply_data"]["data"].as_str().unwrap_or(""));
    let mut server = CurlServer::new(&directives, data);
    let op = parse_operation(case);
    let expected = case["client"]["expected_protocol"]
        .as_str()
        .map(bytes)
        .unwrap_or_default();
    let curl_quits = expected.ends_with(b"QUIT\r\n");
    let apop = case["features"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "apop");
    let mut rx = [0u8; 256];
    let mut tx = [0u8; 512];
    let cfg = ClientConfig {
        allow_plaintext_auth: true,
        sasl_initial_response: op.sasl_ir,
        ..ClientConfig::default()
    };
    let mut fatal = false;
    let result = {
        let mut cl = Client::new(
            &mut server,
            Timer::Never,
            Buffers {
                rx: &mut rx,
                tx: &mut tx,
            },
            cfg,
        );
        run(async {
            let r: Result<Outcome, Error<ErrorKind>> = async {
                cl.greet().await?;
                if op.ssl_required {
                    cl.stls().await?;
                }
                let mut creds = Credentials::new(&op.user, &op.pass);
                if let Some(z) = &op.authzid {
                    creds = creds.with_authzid(z);
                }
                let method = apop.then_some(AuthMethod::Apop);
                cl.login(&creds, method).await?;
                let mut out = Outcome::default();
                let msg = || op.path.parse::<u64>().unwrap();
                match op.custom.as_deref() {
                    Some("DELE") => cl.dele(msg()).await?,
                    Some("RSET") => cl.rset().await?,
                    Some("STAT") => {
                        let st = cl.stat().await?;
                        assert_eq!((st.count, st.size), (3, 4_294_967_800), "{id}");
                    }
                    Some(top) if top.starts_with("TOP ") => {
                        let w: Vec<u64> = top[4..].split(' ').map(|n| n.parse().unwrap()).collect();
                        cl.top_with(w[0], w[1], |ch| {
                            out.body.extend_from_slice(ch);
                            Ok(())
                        })
                        .await?;
                    }
                    Some(other) => panic!("{id}: custom request {other:?}"),
                    None if op.path.is_empty() => {
                        cl.list(|m, sz| out.listing.push((m, sz))).await?;
                    }
                    None => {
                        cl.retr_with(msg(), |ch| {
                            out.body.extend_from_slice(ch);
                            Ok(())
                        })
                        .await?;
                    }
                }
                Ok(out)
            }
            .await;
            fatal = matches!(&r, Err(e) if e.is_fatal());
            // curl ends with QUIT unless the failure made it drop the connection.
            if curl_quits && !fatal {
                cl.quit().await.unwrap();
            }
            r
        })
    };
    assert!(server.failures.is_empty(), "{id}: {:?}", server.failures);
    (server.commands, result, fatal)
}

fn curl_cases() -> Vec<Value> {
    let dir = Path::new(CURL);
    assert!(
        dir.is_dir(),
        "the curl corpus is missing: expected the directory {}",
        dir.display()
    );
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("curl-") && n.ends_with(".json"))
        })
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| serde_json::from_str::<Value>(&fs::read_to_string(p).unwrap()).unwrap())
        .filter(|v| v["protocol"] == "pop3")
        .collect()
}

#[test]
fn curl_pop3_cases() {
    let cases = curl_cases();
    assert!(!cases.is_empty(), "no POP3 cases in the curl corpus");
    let (mut ran, mut adapted, mut skipped, mut failures) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for case in &cases {
        let id = case["id"].as_str().unwrap();
        if let Some((_, why)) = SKIPPED.iter().find(|(s, _)| *s == id) {
            skipped.push((id, *why));
            continue;
        }
        let (commands, result, _) = run_case(case);
        let adaptation = ADAPTED.iter().find(|(a, _, _)| *a == id);
        let expected = match adaptation {
            Some((_, exp, why)) => {
                adapted.push((id, *why));
                exp.as_bytes().to_vec()
            }
            None => case["client"]["expected_protocol"]
                .as_str()
                .map(bytes)
                .unwrap_or_default(),
        };
        if commands != expected {
            failures.push(format!(
                "{id}: commands\n  sent     {:?}\n  expected {:?}",
                String::from_utf8_lossy(&commands),
                String::from_utf8_lossy(&expected)
            ));
            continue;
        }
        let exit = case["client"]["expected_exit_code"].as_i64().unwrap_or(0);
        match (&result, exit) {
            (Ok(out), 0) => {
                let rd = &case["server"]["reply_data"];
                let want = rd
                    .get("datacheck")
                    .or_else(|| rd.get("data"))
                    .and_then(Value::as_str)
                    .map(bytes)
                    .unwrap_or_default();
                if out.listing.is_empty() {
                    if out.body != want {
                        failures.push(format!(
                            "{id}: retrieved {:?}, expected {:?}",
                            String::from_utf8_lossy(&out.body),
                            String::from_utf8_lossy(&want)
                        ));
                    }
                } else {
                    let text: String = out
                        .listing
                        .iter()
                        .map(|(m, s)| format!("{m} {s}\r\n"))
                        .collect();
                    if text.as_bytes() != want {
                        failures.push(format!("{id}: listing {text:?}"));
                    }
                }
            }
            (Err(_), 0) => failures.push(format!("{id}: failed: {result:?}")),
            (Ok(_), code) => failures.push(format!("{id}: succeeded, curl exits {code}")),
            (Err(e), code) => {
                // The typed error that corresponds to curl's exit code.
                let ok = match code {
                    67 => {
                        matches!(
                            e,
                            Error::Rejected(r) if matches!(r.stage, Stage::Pass | Stage::Auth)
                        ) || matches!(e, Error::AuthCancelled)
                    }
                    8 => matches!(e, Error::Rejected(_) | Error::Protocol(_)),
                    64 => matches!(e, Error::StlsUnavailable),
                    3 => matches!(e, Error::InvalidArgument),
                    _ => false,
                };
                if !ok {
                    failures.push(format!("{id}: error {e:?} for curl exit {code}"));
                }
            }
        }
        ran.push(id);
    }
    println!(
        "curl POP3 cases: {} total, {} run ({} adapted), {} not applicable",
        cases.len(),
        ran.len(),
        adapted.len(),
        skipped.len()
    );
    for (id, why) in &adapted {
        println!("  adapted {id}: {why}");
    }
    for (id, why) in &skipped {
        println!("  not applicable {id}: {why}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(ran.len() + skipped.len(), cases.len());
}

#[test]
fn curl_982_injected_responses_after_stls_refusal_abort() {
    let case = curl_cases()
        .into_iter()
        .find(|c| c["id"] == "curl-982")
        .expect("curl-982 is in the public corpus");
    let (_, result, fatal) = run_case(&case);
    let e = result.unwrap_err();
    assert!(
        matches!(e, Error::Protocol(ProtocolError::DataAfterStls)) && fatal,
        "{e:?}"
    );
}

#[test]
fn art_lines_before_the_greeting_are_refused() {
    let mut mock = Mock::new(vec![s(
        "        _   _ ____  _     \r\n+OK curl POP3 server ready to serve \r\n",
    )]);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, plain_config());
    let e = run(cl.greet()).unwrap_err();
    assert!(
        matches!(e, Error::Protocol(ProtocolError::Response(_))),
        "{e:?}"
    );
    assert!(e.is_fatal());
}

// ---------------------------------------------------------------------------------------
// Dovecot transcripts.

/// A `.log` transcript as script steps: consecutive `S:` lines form one server step,
/// consecutive `C:` lines one client step; `##` notes are dropped. Exchanges whose client
/// line is in `skip` (commands our API does not send) are removed with their answer.
fn transcript(name: &str, skip: &[&str]) -> Vec<Step> {
    let path = Path::new(PEERS).join(format!("{name}.log"));
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("transcript {} missing: {e}", path.display()));
    let mut steps: Vec<Step> = Vec::new();
    let mut skipping = false;
    for line in text.lines() {
        let (dir, body) = match line.split_at_checked(3) {
            Some(("S: ", b)) => ('S', b),
            Some(("C: ", b)) => ('C', b),
            _ if line == "S:" => ('S', ""),
            _ => continue,
        };
        let mut bytes = body.replace("\\t", "\t").into_bytes();
        bytes.extend_from_slice(b"\r\n");
        if dir == 'C' {
            skipping = skip.contains(&body);
            if skipping {
                continue;
            }
        } else if skipping {
            continue;
        }
        match (dir, steps.last_mut()) {
            ('S', Some(Step::S(b))) | ('C', Some(Step::C(b))) => b.extend_from_slice(&bytes),
            ('S', _) => steps.push(Step::S(bytes)),
            _ => steps.push(Step::C(bytes)),
        }
    }
    steps
}

fn fixture(name: &str) -> Vec<u8> {
    fs::read(Path::new(PEERS).join("fixtures").join(name)).unwrap()
}

#[test]
fn dovecot_full_session() {
    for chunk in [1, 7, 4096] {
        let script = transcript("pop3-session", &["BOGUS"]);
        let mut mock = Mock::new(script).chunked(chunk);
        let mut bufs = Bufs::sized(128, 256);
        let mut cl = client(&mut mock, Timer::Never, &mut bufs, plain_config());
        run(async {
            cl.greet().await.unwrap();
            assert!(cl.capabilities().stls && cl.capabilities().user);
            let e = cl
                .login_user_pass("alice", "wrong-password")
                .await
                .unwrap_err();
            assert!(
                matches!(e, Error::Rejected(r) if r.stage == Stage::Pass && r.code == Some(CodeKind::Auth))
            );
            assert_eq!(cl.last_response_text(), b"[AUTH] Authentication failed.");
            cl.login_user_pass("alice", "alice-pw").await.unwrap();
            let st = cl.stat().await.unwrap();
            assert_eq!((st.count, st.size), (4, 5972));
            let mut list = Vec::new();
            assert_eq!(cl.list(|m, s| list.push((m, s))).await.unwrap(), 4);
            assert_eq!(list, [(1, 944), (2, 1462), (3, 1595), (4, 1971)]);
            assert_eq!(cl.list_one(2).await.unwrap(), 1462);
            let mut uids = Vec::new();
            cl.uidl(|m, u| uids.push((m, u.as_str().to_string())))
                .await
                .unwrap();
            assert_eq!(uids[0], (1, "000000016b023317".to_string()));
            assert_eq!(cl.uidl_one(3).await.unwrap().as_str(), "000000036b023317");
            let mut top = Vec::new();
            cl.top_with(3, 5, |ch| {
                top.extend_from_slice(ch);
                Ok(())
            })
            .await
            .unwrap();
            assert!(top.ends_with(b"\r\nHallo Bob,\r\n"));
            let mut two = Vec::new();
            let n = cl
                .retr_with(2, |ch| {
                    two.extend_from_slice(ch);
                    Ok(())
                })
                .await
                .unwrap();
            assert_eq!((n, two.len()), (1462, 1462));
            assert!(two.ends_with(b"--=_alt_boundary_42--\r\n"));
            let mut one = Vec::new();
            cl.retr_with(1, |ch| {
                one.extend_from_slice(ch);
                Ok(())
            })
            .await
            .unwrap();
            // Byte-identical to the fixture, including its line starting with a dot.
            assert!(
                one.ends_with(&fixture("plain.eml")),
                "{}",
                String::from_utf8_lossy(&one)
            );
            assert_eq!(one.len(), 944, "LIST size");
            cl.dele(1).await.unwrap();
            let mut list = Vec::new();
            cl.list(|m, s| list.push((m, s))).await.unwrap();
            assert_eq!(list.len(), 3);
            let e = cl.retr_with(1, |_| Ok(())).await.unwrap_err();
            assert!(matches!(e, Error::Rejected(r) if r.stage == Stage::Retr));
            cl.noop().await.unwrap();
            cl.rset().await.unwrap();
            cl.dele(1).await.unwrap();
            let report = cl.quit().await.unwrap();
            assert_eq!((report.committed, report.deleted), (true, 1));
        });
        mock.assert_finished();
    }
}

#[test]
fn dovecot_stls_then_auth_plain() {
    let script = transcript("pop3-stls", &[]);
    // The captured session did not read CAPA before STLS; our client does (to know STLS is
    // offered): answer it as Dovecot does on that port.
    let mut steps = vec![
        script[0].clone(),
        c("CAPA\r\n"),
        s(
            "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nSTLS\r\nUSER\r\nSASL PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256\r\n.\r\n",
        ),
    ];
    steps.extend(script[1..].iter().cloned());
    let mut mock = Mock::new(steps);
    let mut bufs = Bufs::new();
    // Plain-text credentials are NOT allowed: the login happens after STLS.
    let cfg = ClientConfig::default();
    let cl = client(&mut mock, Timer::Never, &mut bufs, cfg);
    run(async move {
        let mut cl = cl;
        cl.greet().await.unwrap();
        cl.stls().await.unwrap();
        let (io, pending) = cl.into_stls().ok().unwrap();
        // The "TLS" stream of the test is the same mock (the transcript holds the plaintext).
        let mut cl = pending.resume(io);
        assert!(cl.is_tls() && !cl.session().capabilities_known());
        let used = cl
            .login(&Credentials::new("alice", "alice-pw"), None)
            .await
            .unwrap();
        assert_eq!(used, AuthMethod::Sasl(Mechanism::Plain));
        assert!(!cl.capabilities().stls);
        let mut n = 0;
        cl.uidl(|_, _| n += 1).await.unwrap();
        assert_eq!(n, 3);
        cl.quit().await.unwrap();
    });
    mock.assert_finished();
}

#[test]
fn dovecot_pop3s_cram_md5() {
    // The bare "AUTH" (mechanism listing) of the capture is not something our client sends.
    let script = transcript("pop3s-auth", &["AUTH"]);
    let mut steps = vec![
        script[0].clone(),
        c("CAPA\r\n"),
        s(
            "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nUSER\r\nSASL PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256\r\n.\r\n",
        ),
    ];
    steps.extend(script[1..].iter().cloned());
    let mut mock = Mock::new(steps);
    let mut bufs = Bufs::new();
    let mut cl = client(&mut mock, Timer::Never, &mut bufs, ClientConfig::default());
    cl.set_implicit_tls();
    run(async {
        cl.greet().await.unwrap();
        cl.authenticate(
            &Credentials::new("alice", "alice-pw"),
            Some(Mechanism::CramMd5),
        )
        .await
        .unwrap();
        let st = cl.stat().await.unwrap();
        assert_eq!((st.count, st.size), (3, 5028));
        cl.quit().await.unwrap();
    });
    mock.assert_finished();
}
