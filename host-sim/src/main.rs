//! `postwire`: the postwire mail clients on the host.
//!
//! ```text
//! postwire send --server smtps://HOST:PORT --user NAME --password-env VAR --ca FILE \
//!     --from ADDR --to ADDR [--cc ADDR]... [--bcc ADDR]... [--reply-to ADDR]... [--subject TEXT] \
//!     [--text FILE|-] [--html FILE] [--attach FILE[;type=TYPE]]... [--header 'Name: value']...
//! postwire demo        (the device jobs against the in-process test peer; see `postwire demo --help`)
//! postwire decode smtp < BYTES
//! postwire decode imap [--greeting] < BYTES
//! postwire decode pop3 --command CMD < BYTES
//! postwire pop3 --server pop3s://HOST:PORT --user NAME --password-env VAR [--ca FILE] \
//!     retr N --out FILE --then dele N     (see `postwire pop3 --help`)
//! postwire imap --server imaps://HOST:PORT --user NAME --password-env VAR [--ca FILE] \
//!     fetch INBOX 42 --uid --body-to FILE  (see `postwire imap --help`)
//! ```

use postwire_tls::SigAlgs;
use std::io::Read as _;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use postwire_core::sasl::Mechanism;
use postwire_host_sim::message::{AttachmentFile, Mailbox, SimpleMessage, now_unix, parse_header};
use postwire_host_sim::send::{SendRequest, ServerUrl, send};
use postwire_host_sim::tls::CaSet;

#[derive(Parser)]
#[command(
    name = "postwire",
    version,
    about = "Allocation-free mail clients (SMTP, IMAP, POP3), run on the host"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send one message over SMTP (submission with STARTTLS, or implicit TLS).
    Send(Box<SendArgs>),
    /// Read a maildrop over POP3 (implicit TLS or STLS): stat, list, uidl, top, retr, dele, ...
    Pop3(Box<postwire_host_sim::pop3::Pop3Args>),
    /// Work with mailboxes over IMAP (implicit TLS or STARTTLS): list, status, select, fetch,
    /// search, store, copy, move, expunge, append, create, delete, rename, idle.
    Imap(Box<postwire_host_sim::imap::ImapArgs>),
    /// Run the device jobs (alert e-mail; command mailbox over IMAP and POP3) against the
    /// in-process test peer, or against real servers with --smtp/--imap.
    Demo(Box<postwire_host_sim::demo::DemoArgs>),
    /// Parse server bytes from standard input and print each response as one JSON line.
    Decode {
        /// The protocol of the bytes.
        protocol: DecodeProtocol,
        /// IMAP: parse the first response as a server greeting.
        #[arg(long)]
        greeting: bool,
        /// POP3: the command the responses answer (decides single- or multi-line framing),
        /// e.g. STAT, LIST, RETR 1, CAPA, AUTH PLAIN, greeting.
        #[arg(long, value_name = "CMD")]
        command: Option<String>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum DecodeProtocol {
    /// SMTP replies.
    Smtp,
    /// IMAP responses.
    Imap,
    /// POP3 responses (with --command).
    Pop3,
}

#[derive(Clone, Copy, ValueEnum)]
enum AuthMech {
    Plain,
    Login,
    CramMd5,
    Xoauth2,
}

#[derive(Args)]
struct SendArgs {
    /// smtps://HOST:PORT (implicit TLS) or smtp://HOST:PORT (STARTTLS, required unless --allow-plaintext).
    #[arg(long, value_name = "URL")]
    server: String,
    /// User name for AUTH (needs --password-env).
    #[arg(long, value_name = "NAME", requires = "password_env")]
    user: Option<String>,
    /// Name of the environment variable that holds the password (never give it on the command line).
    #[arg(long, value_name = "VAR", requires = "user")]
    password_env: Option<String>,
    /// CA certificate(s) to verify the server against (PEM or DER, one or several per file);
    /// without it, the built-in Mozilla root store is used.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    ca: Option<String>,
    /// Do not verify the server's certificate (dangerous: anyone on the path can read the password).
    #[arg(long)]
    insecure: bool,
    /// Signature algorithms to offer in the TLS handshake: a comma-separated list of rsa,
    /// ecdsa and ed25519, as curl's --sigalgs. A server with several certificates picks one by
    /// this offer. Default: all of them.
    #[arg(long, value_name = "LIST", value_parser = postwire_host_sim::tls::parse_sigalgs)]
    sigalgs: Option<SigAlgs>,
    /// With smtp://: talk without TLS (no STARTTLS); credentials then cross the network in clear text.
    #[arg(long)]
    allow_plaintext: bool,
    /// Name to verify the server certificate against (default: the host of --server).
    #[arg(long, value_name = "NAME")]
    tls_name: Option<String>,
    /// SASL mechanism to use (default: the best one the server offers).
    #[arg(long, value_enum)]
    auth: Option<AuthMech>,
    /// Sender: ADDR or 'Name <ADDR>'.
    #[arg(long, value_name = "ADDR")]
    from: String,
    /// Recipient (repeatable).
    #[arg(long, value_name = "ADDR")]
    to: Vec<String>,
    /// Copy recipient (repeatable).
    #[arg(long, value_name = "ADDR")]
    cc: Vec<String>,
    /// Blind copy recipient (repeatable; never appears in a header).
    #[arg(long, value_name = "ADDR")]
    bcc: Vec<String>,
    /// Reply-To address (repeatable).
    #[arg(long, value_name = "ADDR")]
    reply_to: Vec<String>,
    /// Subject (UTF-8).
    #[arg(long)]
    subject: Option<String>,
    /// Text body from FILE, or - for standard input (UTF-8).
    #[arg(long, value_name = "FILE|-")]
    text: Option<String>,
    /// HTML alternative from FILE (UTF-8): sent as multipart/alternative with the text.
    #[arg(long, value_name = "FILE")]
    html: Option<String>,
    /// Attach FILE (repeatable); the media type is guessed from the extension unless given
    /// as FILE;type=TYPE.
    #[arg(long, value_name = "FILE[;type=TYPE]")]
    attach: Vec<String>,
    /// Extra header 'Name: value' (repeatable).
    #[arg(long, value_name = "'Name: value'")]
    header: Vec<String>,
    /// Timeout of each network wait, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    timeout: u64,
    /// Name to introduce the client with in EHLO.
    #[arg(long, value_name = "NAME", default_value = "localhost")]
    ehlo: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Send(args) => run_send(*args),
        Command::Pop3(args) => postwire_host_sim::pop3::cli_main(*args),
        Command::Imap(args) => postwire_host_sim::imap::cli_main(*args),
        Command::Demo(args) => postwire_host_sim::demo::cli_main(*args),
        Command::Decode {
            protocol: DecodeProtocol::Pop3,
            command,
            ..
        } => {
            let Some(command) = command else {
                eprintln!(
                    "postwire decode: error: pop3 needs --command CMD (e.g. STAT, LIST, RETR 1, greeting)"
                );
                return ExitCode::from(2);
            };
            let mut input = Vec::new();
            if let Err(e) = std::io::stdin().read_to_end(&mut input) {
                eprintln!("postwire decode: cannot read standard input: {e}");
                return ExitCode::from(1);
            }
            let code = postwire_host_sim::decode::decode_pop3(
                &input,
                &command,
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            );
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        Command::Decode {
            protocol: DecodeProtocol::Imap,
            greeting,
            ..
        } => {
            let mut input = Vec::new();
            if let Err(e) = std::io::stdin().read_to_end(&mut input) {
                eprintln!("postwire decode: cannot read standard input: {e}");
                return ExitCode::from(1);
            }
            let code = postwire_host_sim::decode::decode_imap(
                &input,
                greeting,
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            );
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        Command::Decode {
            protocol: DecodeProtocol::Smtp,
            ..
        } => {
            let mut input = Vec::new();
            if let Err(e) = std::io::stdin().read_to_end(&mut input) {
                eprintln!("postwire decode: cannot read standard input: {e}");
                return ExitCode::from(1);
            }
            let code = postwire_host_sim::decode::decode_smtp(
                &input,
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            );
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
    }
}

fn usage_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("postwire send: error: {msg}");
    ExitCode::from(2)
}

fn run_send(a: SendArgs) -> ExitCode {
    let server: ServerUrl = match a.server.parse() {
        Ok(s) => s,
        Err(e) => return usage_error(e),
    };
    let parse_all = |list: &[String]| {
        list.iter()
            .map(|s| Mailbox::parse(s))
            .collect::<Result<Vec<_>, _>>()
    };
    let (from, to, cc, bcc, reply_to) = match (
        Mailbox::parse(&a.from),
        parse_all(&a.to),
        parse_all(&a.cc),
        parse_all(&a.bcc),
        parse_all(&a.reply_to),
    ) {
        (Ok(f), Ok(t), Ok(c), Ok(b), Ok(r)) => (f, t, c, b, r),
        (Err(e), ..)
        | (_, Err(e), ..)
        | (_, _, Err(e), ..)
        | (_, _, _, Err(e), _)
        | (.., Err(e)) => return usage_error(e),
    };
    if to.is_empty() && cc.is_empty() && bcc.is_empty() {
        return usage_error("give at least one recipient with --to, --cc or --bcc");
    }
    let credentials = match (&a.user, &a.password_env) {
        (Some(user), Some(var)) => match std::env::var(var) {
            Ok(p) => Some((user.clone(), p)),
            Err(_) => {
                return usage_error(format!(
                    "environment variable {var} (from --password-env) is not set or not UTF-8"
                ));
            }
        },
        _ => None,
    };
    let ca = match &a.ca {
        Some(path) => match CaSet::from_file(path) {
            Ok(c) => Some(c),
            Err(e) => return usage_error(format!("--ca {path}: {e}")),
        },
        None => None,
    };
    let text = match a.text.as_deref() {
        None => String::new(),
        Some("-") => {
            let mut s = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut s) {
                return usage_error(format!(
                    "--text -: cannot read standard input as UTF-8: {e}"
                ));
            }
            s
        }
        Some(path) => match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) => return usage_error(format!("--text {path}: {e}")),
        },
    };
    let mut headers = Vec::new();
    for h in &a.header {
        match parse_header(h) {
            Ok(h) => headers.push(h),
            Err(e) => return usage_error(e),
        }
    }
    let html = match a.html.as_deref() {
        None => None,
        Some(path) => match std::fs::read_to_string(path) {
            Ok(s) => Some(s),
            Err(e) => return usage_error(format!("--html {path}: {e}")),
        },
    };
    let mut attachments = Vec::new();
    for arg in &a.attach {
        match AttachmentFile::from_arg(arg) {
            Ok(f) => attachments.push(f),
            Err(e) => return usage_error(e),
        }
    }
    let msg = SimpleMessage {
        from: Some(from.clone()),
        to: to.clone(),
        cc: cc.clone(),
        reply_to,
        subject: a.subject.clone(),
        headers,
        text,
        html,
        attachments,
    };
    let unique = format!("{:016x}.{}", rand_u64(), now_unix());
    let message = match msg.render(now_unix(), &unique) {
        Ok(m) => m,
        Err(e) => return usage_error(e),
    };
    let recipients: Vec<String> = to
        .iter()
        .chain(&cc)
        .chain(&bcc)
        .map(|m| m.address.clone())
        .collect();
    let req = SendRequest {
        server,
        tls_name: a.tls_name,
        ca,
        insecure: a.insecure,
        sigalgs: a.sigalgs.unwrap_or(SigAlgs::ALL),
        credentials,
        mechanism: a.auth.map(|m| match m {
            AuthMech::Plain => Mechanism::Plain,
            AuthMech::Login => Mechanism::Login,
            AuthMech::CramMd5 => Mechanism::CramMd5,
            AuthMech::Xoauth2 => Mechanism::XOAuth2,
        }),
        allow_plaintext: a.allow_plaintext,
        from: from.address,
        recipients,
        eight_bit: !message.is_ascii(),
        message,
        timeout: Duration::from_secs(a.timeout.max(1)),
        client_domain: a.ehlo,
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("postwire send: error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(send(&req)) {
        Ok(ok) => {
            for r in &ok.accepted {
                println!("accepted: {r}");
            }
            for (r, why) in &ok.refused {
                println!("refused: {r} ({why})");
            }
            println!("server: {}", ok.reply);
            ExitCode::SUCCESS
        }
        Err(f) => {
            for (r, why) in &f.refused {
                eprintln!("postwire send: refused: {r} ({why})");
            }
            eprintln!("postwire send: error: {f}");
            ExitCode::from(1)
        }
    }
}

fn rand_u64() -> u64 {
    use rand_core::RngCore;
    postwire_host_sim::net::os_rng().next_u64()
}
