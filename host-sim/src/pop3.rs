//! `postwire pop3`: the `postwire-pop3` client on host sockets, as a library function and as
//! the command-line front end.
//!
//! ```text
//! postwire pop3 --server pop3s://HOST:PORT|pop3://HOST:PORT --user NAME --password-env VAR
//!     [--ca FILE | --insecure] [--sigalgs LIST] [--allow-plaintext] [--tls-name NAME] [--timeout SECS]
//!     [--auth plain|login|cram-md5|xoauth2|apop|user] [--max-size BYTES] [--script FILE]
//!     COMMAND [--then COMMAND]...
//! COMMAND: stat | list [N] | uidl [N] | top N LINES [--out FILE] | retr N [--out FILE]
//!          | dele N [--uid UID] | rset | noop | capa | quit
//! ```
//!
//! One connection runs every command in order and ends with QUIT (sent automatically unless
//! the last command is `quit`). Deletions are committed only by that QUIT: `DELE` marks a
//! message, and the QUIT line of the output says whether the server removed the marked
//! messages (`"committed": true`). If any command fails, the connection is dropped without
//! QUIT, so nothing marked in this session is deleted.
//!
//! Standard output carries JSON lines only, one per result. Message bytes go to `--out FILE`;
//! a `retr`/`top` without `--out` is only allowed as the sole command: then the raw message
//! goes to standard output and the JSON lines to standard error.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, ValueEnum};
use embedded_io_async::{ErrorKind, Read, Write};
use postwire_core::sasl::{Credentials, Mechanism};
use postwire_pop3::client::{AuthMethod, Buffers, Client, ClientConfig, Error, Timeouts};
use postwire_pop3::proto::SessionConfig;
use postwire_tls::Trust;
use serde_json::json;

use crate::net::{TokioDelay, connect_tcp};
use crate::send::{Security, printable};
use crate::tls::{CaSet, ConnectError, TlsBuffers, start_tls_offering};
use postwire_tls::SigAlgs;

/// A parsed `--server` URL: `pop3s://HOST[:PORT]` (implicit TLS, default 995) or
/// `pop3://HOST[:PORT]` (STLS required, default 110).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pop3Url {
    /// `pop3s` → [`Security::Implicit`], `pop3` → [`Security::StartTls`].
    pub security: Security,
    /// Host name or IP address (without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl FromStr for Pop3Url {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (security, host, port) =
            crate::net::parse_server_url(s, ("pop3s", 995), ("pop3", 110))?;
        Ok(Pop3Url {
            security,
            host,
            port,
        })
    }
}

/// One command of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `stat`.
    Stat,
    /// `list` or `list N`.
    List(Option<u64>),
    /// `uidl` or `uidl N`.
    Uidl(Option<u64>),
    /// `top N LINES [--out FILE]`.
    Top {
        /// Message number.
        msg: u64,
        /// Body lines.
        lines: u64,
        /// Where the bytes go (`None`: standard output, sole command only).
        out: Option<PathBuf>,
    },
    /// `retr N [--out FILE]`.
    Retr {
        /// Message number.
        msg: u64,
        /// Where the bytes go (`None`: standard output, sole command only).
        out: Option<PathBuf>,
    },
    /// `dele N [--uid UID]`: marks the message; removed at QUIT. With `uid`, the message's
    /// unique-id is checked first (UIDL N), and nothing is marked when it differs.
    Dele {
        /// Message number.
        msg: u64,
        /// Expected unique-id.
        uid: Option<String>,
    },
    /// `rset`.
    Rset,
    /// `noop`.
    Noop,
    /// `capa`.
    Capa,
    /// `quit` (only as the last command; otherwise QUIT is sent automatically).
    Quit,
}

impl Op {
    fn writes_raw(&self) -> bool {
        matches!(self, Op::Top { out: None, .. } | Op::Retr { out: None, .. })
    }
}

fn number(word: Option<&String>, what: &str, cmd: &str) -> Result<u64, String> {
    let w = word.ok_or_else(|| format!("{cmd}: missing {what}"))?;
    w.parse::<u64>()
        .map_err(|_| format!("{cmd}: {what} must be a number, not {w:?}"))
}

/// Parses the command words: commands separated by `--then` (or given one per line of a
/// script, see [`parse_script`]).
pub fn parse_ops(words: &[String]) -> Result<Vec<Op>, String> {
    let mut ops = Vec::new();
    for segment in words.split(|w| w == "--then") {
        if segment.is_empty() {
            return Err("empty command (around --then)".into());
        }
        ops.push(parse_op(segment)?);
    }
    check_ops(&ops)?;
    Ok(ops)
}

/// Parses a script: one command per line; empty lines and lines starting with `#` are
/// ignored.
pub fn parse_script(text: &str) -> Result<Vec<Op>, String> {
    let mut ops = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        ops.push(parse_op(&words).map_err(|e| format!("line {}: {e}", i + 1))?);
    }
    check_ops(&ops)?;
    Ok(ops)
}

fn check_ops(ops: &[Op]) -> Result<(), String> {
    if ops.is_empty() {
        return Err(
            "no command given (stat, list, uidl, top, retr, dele, rset, noop, capa, quit)".into(),
        );
    }
    if let Some(i) = ops.iter().position(|o| *o == Op::Quit)
        && i + 1 != ops.len()
    {
        return Err("quit must be the last command".into());
    }
    let real: Vec<&Op> = ops.iter().filter(|o| **o != Op::Quit).collect();
    if real.iter().any(|o| o.writes_raw()) && real.len() > 1 {
        return Err(
            "retr/top without --out is only allowed as the sole command (stdout stays JSON-only)"
                .into(),
        );
    }
    Ok(())
}

fn parse_op(words: &[String]) -> Result<Op, String> {
    let cmd = words[0].to_ascii_lowercase();
    let mut args: Vec<&String> = Vec::new();
    let mut out = None;
    let mut uid = None;
    let mut i = 1;
    while i < words.len() {
        if words[i] == "--uid" {
            let u = words
                .get(i + 1)
                .ok_or_else(|| format!("{cmd}: --uid needs a unique-id"))?;
            uid = Some(u.clone());
            i += 2;
        } else if words[i] == "--out" {
            let f = words
                .get(i + 1)
                .ok_or_else(|| format!("{cmd}: --out needs a file name"))?;
            out = Some(PathBuf::from(f));
            i += 2;
        } else {
            args.push(&words[i]);
            i += 1;
        }
    }
    if out.is_some() && !matches!(cmd.as_str(), "retr" | "top") {
        return Err(format!("{cmd}: --out only applies to retr and top"));
    }
    if uid.is_some() && cmd != "dele" {
        return Err(format!("{cmd}: --uid only applies to dele"));
    }
    let max_args = match cmd.as_str() {
        "list" | "uidl" | "retr" | "dele" => 1,
        "top" => 2,
        _ => 0,
    };
    if args.len() > max_args {
        return Err(format!("{cmd}: unexpected argument {:?}", args[max_args]));
    }
    let opt = |a: Option<&&String>, cmd: &str| -> Result<Option<u64>, String> {
        a.map(|w| number(Some(w), "message number", cmd))
            .transpose()
    };
    let op = match cmd.as_str() {
        "stat" => Op::Stat,
        "list" => Op::List(opt(args.first(), "list")?),
        "uidl" => Op::Uidl(opt(args.first(), "uidl")?),
        "retr" => Op::Retr {
            msg: number(args.first().copied(), "message number", "retr")?,
            out,
        },
        "top" => Op::Top {
            msg: number(args.first().copied(), "message number", "top")?,
            lines: number(args.get(1).copied(), "line count", "top")?,
            out,
        },
        "dele" => Op::Dele {
            msg: number(args.first().copied(), "message number", "dele")?,
            uid,
        },
        "rset" => Op::Rset,
        "noop" => Op::Noop,
        "capa" => Op::Capa,
        "quit" => Op::Quit,
        other => return Err(format!("unknown command {other:?}")),
    };
    for m in [
        matches!(
            op,
            Op::List(Some(0)) | Op::Uidl(Some(0)) | Op::Dele { msg: 0, .. }
        ),
        matches!(op, Op::Retr { msg: 0, .. } | Op::Top { msg: 0, .. }),
    ] {
        if m {
            return Err(format!("{cmd}: message numbers start at 1"));
        }
    }
    Ok(op)
}

/// Everything one `postwire pop3` session needs.
pub struct Pop3Request {
    /// Where to connect.
    pub server: Pop3Url,
    /// The name to verify the certificate against (default: the URL's host).
    pub tls_name: Option<String>,
    /// Trust anchors for certificate verification (default: the host's default trust store).
    pub ca: Option<CaSet>,
    /// Skip certificate verification (must be asked for explicitly).
    pub insecure: bool,
    /// The signature schemes offered in the TLS handshake (`--sigalgs`; default: all).
    pub sigalgs: SigAlgs,
    /// With `pop3://`: no TLS at all, credentials in clear text.
    pub allow_plaintext: bool,
    /// User name.
    pub user: String,
    /// Password (or bearer token for XOAUTH2).
    pub password: String,
    /// Login method (default: the best the server offers).
    pub method: Option<AuthMethod>,
    /// Timeout of each network wait.
    pub timeout: Duration,
    /// Largest message accepted by RETR/TOP.
    pub max_size: u64,
    /// The commands.
    pub ops: Vec<Op>,
}

/// Why a session failed: the stage and one human-readable line.
#[derive(Debug)]
pub struct Pop3Failure {
    /// `connect`, `TLS handshake`, `greeting`, `CAPA`, `STLS`, `USER`, `PASS`, `AUTH`,
    /// `RETR`, `--out FILE`, ...
    pub stage: String,
    /// What went wrong, with the server's text when it answered `-ERR`.
    pub message: String,
}

impl fmt::Display for Pop3Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.stage, self.message)
    }
}

impl std::error::Error for Pop3Failure {}

fn failure(stage: impl Into<String>, message: impl Into<String>) -> Pop3Failure {
    Pop3Failure {
        stage: stage.into(),
        message: message.into(),
    }
}

fn describe<T: Read + Write, E: fmt::Debug>(
    client: &Client<'_, T, TokioDelay>,
    stage: &str,
    e: &Error<E>,
) -> Pop3Failure {
    let stage = e
        .stage()
        .map_or_else(|| stage.to_string(), |s| s.name().to_string());
    let message = match e {
        Error::Rejected(_) => format!(
            "server replied -ERR {}",
            printable(client.last_response_text())
        ),
        other => other.to_string(),
    };
    Pop3Failure { stage, message }
}

fn tls_failure(e: ConnectError, name: &str) -> Pop3Failure {
    match e {
        ConnectError::Tcp(e) => failure("connect", e.to_string()),
        ConnectError::Timeout => failure("TLS handshake", "timed out"),
        ConnectError::Tls(t) => failure("TLS handshake", format!("with {name}: {t}")),
    }
}

/// Where results go: JSON lines, and raw message bytes for a `retr`/`top` without `--out`.
pub struct Outputs<'a> {
    /// JSON lines.
    pub json: &'a mut dyn io::Write,
    /// Raw message bytes.
    pub raw: &'a mut dyn io::Write,
}

impl Outputs<'_> {
    fn line(&mut self, v: serde_json::Value) -> Result<(), Pop3Failure> {
        writeln!(self.json, "{v}")
            .and_then(|()| self.json.flush())
            .map_err(|e| failure("output", e.to_string()))
    }
}

/// Runs one session as described by `req`.
pub async fn run(req: &Pop3Request, outputs: &mut Outputs<'_>) -> Result<(), Pop3Failure> {
    let mut security = req.server.security;
    if req.allow_plaintext && security == Security::StartTls {
        security = Security::Plain;
    }
    let name = req
        .tls_name
        .clone()
        .unwrap_or_else(|| req.server.host.clone());
    let anchors: Vec<&[u8]> = req.ca.as_ref().map(|c| c.anchors()).unwrap_or_default();
    // The same trust rules as `postwire send`.
    let trust = if req.insecure {
        Trust::Insecure
    } else if anchors.is_empty() {
        crate::tls::default_trust()
    } else {
        Trust::Anchors(&anchors)
    };
    let mut rx = vec![0u8; 16 * 1024];
    let mut tx = vec![0u8; 16 * 1024];
    let config = ClientConfig {
        timeouts: Timeouts::uniform(u32::try_from(req.timeout.as_millis()).unwrap_or(u32::MAX)),
        allow_plaintext_auth: req.allow_plaintext,
        sasl_initial_response: true,
        read_capabilities: true,
        limits: SessionConfig {
            max_body_bytes: req.max_size,
            ..SessionConfig::default()
        },
    };
    let mut tls_bufs = TlsBuffers::new();
    let tcp = connect_tcp(&req.server.host, req.server.port, req.timeout)
        .await
        .map_err(|e| failure("connect", e.to_string()))?;
    let buffers = Buffers {
        rx: &mut rx,
        tx: &mut tx,
    };
    match security {
        Security::Implicit => {
            let tls =
                start_tls_offering(tcp, &name, &trust, req.sigalgs, req.timeout, &mut tls_bufs)
                    .await
                    .map_err(|e| tls_failure(e, &name))?;
            let mut client = Client::new(tls, TokioDelay, buffers, config);
            client.set_implicit_tls();
            client
                .greet()
                .await
                .map_err(|e| describe(&client, "greeting", &e))?;
            transact(&mut client, req, outputs).await
        }
        Security::Plain => {
            let mut client = Client::new(tcp, TokioDelay, buffers, config);
            client
                .greet()
                .await
                .map_err(|e| describe(&client, "greeting", &e))?;
            transact(&mut client, req, outputs).await
        }
        Security::StartTls => {
            let mut client = Client::new(tcp, TokioDelay, buffers, config);
            client
                .greet()
                .await
                .map_err(|e| describe(&client, "greeting", &e))?;
            client
                .stls()
                .await
                .map_err(|e| describe(&client, "STLS", &e))?;
            let (plain, pending) = client
                .into_stls()
                .map_err(|_| failure("STLS", "the server did not accept STLS"))?;
            let tls = start_tls_offering(
                plain,
                &name,
                &trust,
                req.sigalgs,
                req.timeout,
                &mut tls_bufs,
            )
            .await
            .map_err(|e| tls_failure(e, &name))?;
            let mut client = pending.resume(tls);
            // RFC 2595: forget what was said before TLS and ask again.
            client
                .capa()
                .await
                .map_err(|e| describe(&client, "CAPA", &e))?;
            transact(&mut client, req, outputs).await
        }
    }
}

fn method_stage(m: Option<AuthMethod>) -> &'static str {
    match m {
        Some(AuthMethod::Apop) => "APOP",
        Some(AuthMethod::UserPass) => "USER",
        _ => "AUTH",
    }
}

async fn transact<T: Read + Write>(
    client: &mut Client<'_, T, TokioDelay>,
    req: &Pop3Request,
    outputs: &mut Outputs<'_>,
) -> Result<(), Pop3Failure>
where
    T::Error: fmt::Debug,
{
    let creds = Credentials::new(&req.user, &req.password);
    client
        .login(&creds, req.method)
        .await
        .map_err(|e| describe(client, method_stage(req.method), &e))?;
    let mut quit_sent = false;
    for op in &req.ops {
        run_op(client, op, outputs).await?;
        if *op == Op::Quit {
            quit_sent = true;
        }
    }
    if !quit_sent {
        run_op(client, &Op::Quit, outputs).await?;
    }
    Ok(())
}

/// A buffered file (or the raw output) as the message sink.
struct FileSink<'a> {
    out: &'a mut dyn io::Write,
    error: Option<io::Error>,
}

impl FileSink<'_> {
    fn put(&mut self, chunk: &[u8]) -> Result<(), ErrorKind> {
        self.out.write_all(chunk).map_err(|e| {
            let k = match e.kind() {
                io::ErrorKind::BrokenPipe => ErrorKind::BrokenPipe,
                io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
                _ => ErrorKind::Other,
            };
            self.error = Some(e);
            k
        })
    }
}

async fn run_op<T: Read + Write>(
    client: &mut Client<'_, T, TokioDelay>,
    op: &Op,
    outputs: &mut Outputs<'_>,
) -> Result<(), Pop3Failure>
where
    T::Error: fmt::Debug,
{
    match op {
        Op::Stat => {
            let s = client
                .stat()
                .await
                .map_err(|e| describe(client, "STAT", &e))?;
            outputs.line(json!({"command": "STAT", "count": s.count, "size": s.size}))
        }
        Op::List(Some(msg)) => {
            let size = client
                .list_one(*msg)
                .await
                .map_err(|e| describe(client, "LIST", &e))?;
            outputs.line(json!({"command": "LIST", "msg": msg, "size": size}))
        }
        Op::List(None) => {
            let mut lines = Vec::new();
            client
                .list(|msg, size| lines.push(json!({"command": "LIST", "msg": msg, "size": size})))
                .await
                .map_err(|e| describe(client, "LIST", &e))?;
            lines.into_iter().try_for_each(|l| outputs.line(l))
        }
        Op::Uidl(Some(msg)) => {
            let uid = client
                .uidl_one(*msg)
                .await
                .map_err(|e| describe(client, "UIDL", &e))?;
            outputs.line(json!({"command": "UIDL", "msg": msg, "uid": uid.as_str()}))
        }
        Op::Uidl(None) => {
            let mut lines = Vec::new();
            client
                .uidl(|msg, uid| {
                    lines.push(json!({"command": "UIDL", "msg": msg, "uid": uid.as_str()}))
                })
                .await
                .map_err(|e| describe(client, "UIDL", &e))?;
            lines.into_iter().try_for_each(|l| outputs.line(l))
        }
        Op::Retr { msg, out } | Op::Top { msg, out, .. } => {
            let (name, lines) = match op {
                Op::Top { lines, .. } => ("TOP", Some(*lines)),
                _ => ("RETR", None),
            };
            let mut file_writer;
            let (target, label): (&mut dyn io::Write, serde_json::Value) = match out {
                Some(path) => {
                    let f = std::fs::File::create(path)
                        .map_err(|e| failure(format!("--out {}", path.display()), e.to_string()))?;
                    file_writer = io::BufWriter::with_capacity(64 * 1024, f);
                    (&mut file_writer, json!(path.display().to_string()))
                }
                None => (&mut *outputs.raw, serde_json::Value::Null),
            };
            let mut sink = FileSink {
                out: target,
                error: None,
            };
            let r = match lines {
                Some(n) => client.top_with(*msg, n, |c| sink.put(c)).await,
                None => client.retr_with(*msg, |c| sink.put(c)).await,
            };
            let where_to = out.as_ref().map_or_else(
                || "standard output".to_string(),
                |p| p.display().to_string(),
            );
            let bytes = match r {
                Ok(b) => b,
                Err(Error::Sink(_)) => {
                    let why = sink.error.map_or_else(String::new, |e| e.to_string());
                    return Err(failure(
                        format!("{name} {msg}"),
                        format!("writing {where_to}: {why}"),
                    ));
                }
                Err(e) => return Err(describe(client, name, &e)),
            };
            sink.out.flush().map_err(|e| {
                failure(format!("{name} {msg}"), format!("writing {where_to}: {e}"))
            })?;
            let mut v = json!({"command": name, "msg": msg, "bytes": bytes, "out": label});
            if let Some(n) = lines {
                v["lines"] = json!(n);
            }
            outputs.line(v)
        }
        Op::Dele { msg, uid } => {
            if let Some(want) = uid {
                let got = client
                    .uidl_one(*msg)
                    .await
                    .map_err(|e| describe(client, "UIDL", &e))?;
                if got.as_str() != want {
                    return Err(failure(
                        "DELE",
                        format!(
                            "message {msg} has unique-id {got}, not {want}; nothing was deleted"
                        ),
                    ));
                }
            }
            client
                .dele(*msg)
                .await
                .map_err(|e| describe(client, "DELE", &e))?;
            outputs.line(json!({
                "command": "DELE", "msg": msg, "deleted": true,
                "note": "marked; removed only when QUIT succeeds",
            }))
        }
        Op::Rset => {
            client
                .rset()
                .await
                .map_err(|e| describe(client, "RSET", &e))?;
            outputs.line(json!({"command": "RSET"}))
        }
        Op::Noop => {
            client
                .noop()
                .await
                .map_err(|e| describe(client, "NOOP", &e))?;
            outputs.line(json!({"command": "NOOP"}))
        }
        Op::Capa => {
            let known = client
                .capa()
                .await
                .map_err(|e| describe(client, "CAPA", &e))?;
            let c = client.capabilities();
            let sasl: Vec<&str> = [
                Mechanism::Plain,
                Mechanism::Login,
                Mechanism::CramMd5,
                Mechanism::XOAuth2,
            ]
            .iter()
            .filter(|m| c.sasl.contains(**m))
            .map(|m| m.name())
            .collect();
            outputs.line(json!({
                "command": "CAPA", "supported": known,
                "top": c.top, "uidl": c.uidl, "user": c.user, "stls": c.stls,
                "pipelining": c.pipelining, "resp_codes": c.resp_codes,
                "auth_resp_code": c.auth_resp_code, "utf8": c.utf8, "sasl": sasl,
                "login_delay": c.login_delay, "expire": c.expire,
            }))
        }
        Op::Quit => {
            let r = client
                .quit()
                .await
                .map_err(|e| describe(client, "QUIT", &e))?;
            outputs.line(json!({"command": "QUIT", "committed": r.committed, "deleted": r.deleted}))
        }
    }
}

/// `--auth` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum AuthArg {
    /// AUTH PLAIN.
    Plain,
    /// AUTH LOGIN.
    Login,
    /// AUTH CRAM-MD5.
    CramMd5,
    /// AUTH XOAUTH2 (the password is the bearer token).
    Xoauth2,
    /// APOP (needs a timestamp in the greeting).
    Apop,
    /// USER and PASS.
    User,
}

/// The arguments of `postwire pop3`.
#[derive(Args, Debug)]
#[command(after_help = "\
Commands (chain them with --then, or one per line in --script FILE):
  stat                    message count and mailbox size
  list [N]                size of every message, or of message N
  uidl [N]                unique-id of every message, or of message N
  top N LINES [--out F]   header and first LINES body lines of message N
  retr N [--out F]        message N, byte for byte
  dele N [--uid UID]      mark message N for deletion (only if its unique-id is UID)
  rset                    unmark every message marked in this session
  noop                    check the connection
  capa                    the server's capabilities
  quit                    end the session (sent automatically after the last command)

Deletions are committed only by QUIT: DELE marks, and the final {\"command\":\"QUIT\",
\"committed\":true} line says the server removed the marked messages. If a command fails,
the connection is dropped without QUIT, so nothing is deleted.

Output: JSON lines on standard output, message bytes to --out FILE. A retr/top without
--out must be the only command; its bytes then go to standard output and the JSON lines
to standard error.

Example: postwire pop3 --server pop3s://mail.example.com --user dev --password-env PW \\
             retr 1 --out cmd.eml --then dele 1")]
pub struct Pop3Args {
    /// pop3s://HOST:PORT (implicit TLS, default port 995) or pop3://HOST:PORT (STLS, required unless --allow-plaintext; default 110).
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// User name.
    #[arg(long, value_name = "NAME")]
    pub user: String,
    /// Name of the environment variable that holds the password (never give it on the command line).
    #[arg(long, value_name = "VAR")]
    pub password_env: String,
    /// CA certificate(s) to verify the server against (PEM or DER); default: the built-in root store.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub ca: Option<String>,
    /// Do not verify the server's certificate (dangerous: anyone on the path can read the password).
    #[arg(long)]
    pub insecure: bool,
    /// Signature algorithms to offer in the TLS handshake: a comma-separated list of rsa,
    /// ecdsa and ed25519, as curl's --sigalgs. A server with several certificates picks one by
    /// this offer. Default: all of them.
    #[arg(long, value_name = "LIST", value_parser = crate::tls::parse_sigalgs)]
    pub sigalgs: Option<SigAlgs>,
    /// With pop3://: talk without TLS (no STLS); credentials then cross the network in clear text.
    #[arg(long)]
    pub allow_plaintext: bool,
    /// Name to verify the server certificate against (default: the host of --server).
    #[arg(long, value_name = "NAME")]
    pub tls_name: Option<String>,
    /// Login method (default: the best SASL mechanism the server offers, else USER/PASS).
    #[arg(long, value_enum)]
    pub auth: Option<AuthArg>,
    /// Timeout of each network wait, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
    /// Largest message retr/top accepts, in bytes (a server that never ends a message is cut off).
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 34)]
    pub max_size: u64,
    /// Read the commands from FILE, one per line (instead of the command line).
    #[arg(long, value_name = "FILE")]
    pub script: Option<String>,
    /// The commands: stat | list [N] | uidl [N] | top N LINES [--out FILE] | retr N [--out FILE] | dele N [--uid UID] | rset | noop | capa | quit, separated by --then.
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub commands: Vec<String>,
}

#[derive(Parser)]
#[command(name = "postwire pop3")]
struct Standalone {
    #[command(flatten)]
    args: Pop3Args,
}

fn usage(err: &mut dyn io::Write, msg: impl fmt::Display) -> i32 {
    let _ = writeln!(err, "postwire pop3: error: {msg}");
    2
}

/// Builds the request from the arguments; `Err(exit status)` after printing a usage error.
fn request(
    a: Pop3Args,
    env: &dyn Fn(&str) -> Option<String>,
    err: &mut dyn io::Write,
) -> Result<Pop3Request, i32> {
    let server: Pop3Url = a.server.parse().map_err(|e| usage(err, e))?;
    let password = env(&a.password_env).ok_or_else(|| {
        usage(
            err,
            format!(
                "environment variable {} (from --password-env) is not set or not UTF-8",
                a.password_env
            ),
        )
    })?;
    let ca = match &a.ca {
        Some(path) => {
            Some(CaSet::from_file(path).map_err(|e| usage(err, format!("--ca {path}: {e}")))?)
        }
        None => None,
    };
    let ops = match &a.script {
        Some(path) => {
            if !a.commands.is_empty() {
                return Err(usage(
                    err,
                    "give the commands either with --script or on the command line",
                ));
            }
            let text = std::fs::read_to_string(path)
                .map_err(|e| usage(err, format!("--script {path}: {e}")))?;
            parse_script(&text).map_err(|e| usage(err, format!("--script {path}: {e}")))?
        }
        None => parse_ops(&a.commands).map_err(|e| usage(err, e))?,
    };
    Ok(Pop3Request {
        server,
        tls_name: a.tls_name,
        ca,
        insecure: a.insecure,
        sigalgs: a.sigalgs.unwrap_or(SigAlgs::ALL),
        allow_plaintext: a.allow_plaintext,
        user: a.user,
        password,
        method: a.auth.map(|m| match m {
            AuthArg::Plain => AuthMethod::Sasl(Mechanism::Plain),
            AuthArg::Login => AuthMethod::Sasl(Mechanism::Login),
            AuthArg::CramMd5 => AuthMethod::Sasl(Mechanism::CramMd5),
            AuthArg::Xoauth2 => AuthMethod::Sasl(Mechanism::XOAuth2),
            AuthArg::Apop => AuthMethod::Apop,
            AuthArg::User => AuthMethod::UserPass,
        }),
        timeout: Duration::from_secs(a.timeout.max(1)),
        max_size: a.max_size,
        ops,
    })
}

/// Runs `postwire pop3` with parsed arguments: builds a runtime, runs the session, prints
/// the results. `env` looks up the password variable. Returns the exit status: 0, 1 (the
/// session failed; one line naming the stage on `stderr`) or 2 (usage error).
pub fn run_args(
    a: Pop3Args,
    env: &dyn Fn(&str) -> Option<String>,
    stdout: &mut dyn io::Write,
    stderr: &mut dyn io::Write,
) -> i32 {
    let req = match request(a, env, stderr) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(
                stderr,
                "postwire pop3: error: cannot start the runtime: {e}"
            );
            return 1;
        }
    };
    let raw_mode = req.ops.iter().any(Op::writes_raw);
    let mut json_err = Vec::new();
    let result = if raw_mode {
        // The message goes to standard output; the JSON lines to standard error.
        let mut outputs = Outputs {
            json: &mut json_err,
            raw: stdout,
        };
        rt.block_on(run(&req, &mut outputs))
    } else {
        let mut sink = io::sink();
        let mut outputs = Outputs {
            json: stdout,
            raw: &mut sink,
        };
        rt.block_on(run(&req, &mut outputs))
    };
    let _ = stderr.write_all(&json_err);
    match result {
        Ok(()) => 0,
        Err(f) => {
            let _ = writeln!(stderr, "postwire pop3: error: {f}");
            1
        }
    }
}

/// Runs `postwire pop3 ARGS...` (without the program and subcommand names), as the binary
/// would; for tests.
pub fn run_argv(
    argv: &[&str],
    env: &dyn Fn(&str) -> Option<String>,
    stdout: &mut dyn io::Write,
    stderr: &mut dyn io::Write,
) -> i32 {
    let all = std::iter::once("postwire-pop3").chain(argv.iter().copied());
    match Standalone::try_parse_from(all) {
        Ok(s) => run_args(s.args, env, stdout, stderr),
        Err(e) => {
            let _ = write!(stderr, "{e}");
            if e.use_stderr() { 2 } else { 0 }
        }
    }
}

/// The `postwire pop3` subcommand of the binary.
pub fn cli_main(args: Pop3Args) -> ExitCode {
    let env = |k: &str| std::env::var(k).ok();
    let code = run_args(
        args,
        &env,
        &mut io::stdout().lock(),
        &mut io::stderr().lock(),
    );
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn urls() {
        let u: Pop3Url = "pop3s://127.0.0.1:10995".parse().unwrap();
        assert_eq!((u.security, u.port), (Security::Implicit, 10995));
        let u: Pop3Url = "pop3://[::1]".parse().unwrap();
        assert_eq!(
            (u.security, u.host.as_str(), u.port),
            (Security::StartTls, "::1", 110)
        );
        assert_eq!("pop3s://h".parse::<Pop3Url>().unwrap().port, 995);
        assert!("imap://x".parse::<Pop3Url>().is_err());
        assert!("pop3://x:port".parse::<Pop3Url>().is_err());
    }

    #[test]
    fn ops() {
        assert_eq!(
            parse_ops(&words("retr 1 --out f.eml --then dele 1 --then quit")).unwrap(),
            vec![
                Op::Retr {
                    msg: 1,
                    out: Some("f.eml".into())
                },
                Op::Dele { msg: 1, uid: None },
                Op::Quit
            ]
        );
        assert_eq!(parse_ops(&words("dele 1 --then quit")).unwrap().len(), 2);
        assert_eq!(
            parse_ops(&words("dele 4 --uid abc")).unwrap(),
            vec![Op::Dele {
                msg: 4,
                uid: Some("abc".into())
            }]
        );
        assert!(parse_ops(&words("retr 1 --uid abc")).is_err());
        assert_eq!(
            parse_ops(&words("top 2 0")).unwrap(),
            vec![Op::Top {
                msg: 2,
                lines: 0,
                out: None
            }]
        );
        assert_eq!(
            parse_ops(&words("list --then uidl 3")).unwrap()[1],
            Op::Uidl(Some(3))
        );
        for bad in [
            "",
            "retr",
            "retr x",
            "retr 0",
            "dele",
            "top 1",
            "quit --then stat",
            "bogus",
            "stat 1",
            "retr 1 --then stat",
            "stat --then",
            "list --out f",
            "retr 1 --out",
        ] {
            assert!(parse_ops(&words(bad)).is_err(), "{bad:?}");
        }
        let s = parse_script("# poll\nretr 1 --out a\n\ndele 1\nquit\n").unwrap();
        assert_eq!(s.len(), 3);
        assert!(parse_script("stat\nnope\n").unwrap_err().contains("line 2"));
    }

    #[test]
    fn usage_errors() {
        let env = |_: &str| None;
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_argv(
            &[
                "--server",
                "pop3s://h",
                "--user",
                "u",
                "--password-env",
                "NOPE",
                "stat",
            ],
            &env,
            &mut out,
            &mut err,
        );
        assert_eq!(code, 2);
        assert!(String::from_utf8_lossy(&err).contains("NOPE"));
        let env = |_: &str| Some("pw".to_string());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_argv(
            &[
                "--server",
                "http://h",
                "--user",
                "u",
                "--password-env",
                "P",
                "stat",
            ],
            &env,
            &mut out,
            &mut err,
        );
        assert_eq!(code, 2);
        let code = run_argv(&["--user", "u"], &env, &mut out, &mut err);
        assert_eq!(code, 2);
    }
}
