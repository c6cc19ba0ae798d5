//! The `postwire` command as a user runs it: exit codes, output lines, error lines; `send`
//! against the real Postfix peer.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::process::{Command, Output};

use postwire_tests::{fetch_by_subject, peers_or_skip, token};

fn postwire(args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_postwire"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("run postwire");
    {
        use std::io::Write;
        let mut sin = child.stdin.take().unwrap();
        if let Some(data) = stdin {
            sin.write_all(data).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn decode_smtp_exit_codes() {
    let out = postwire(&["decode", "smtp"], &[], Some(b"250-a\r\n250 2.1.0 ok\r\n"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let line: serde_json::Value = serde_json::from_str(text(&out.stdout).trim()).unwrap();
    assert_eq!(line["code"], 250);
    assert_eq!(line["lines"], serde_json::json!(["a", "2.1.0 ok"]));

    let out = postwire(&["decode", "smtp"], &[], Some(b"250 ok\r\n354 go"));
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stdout)
            .lines()
            .last()
            .unwrap()
            .contains("\"remainder\"")
    );
    assert!(text(&out.stderr).contains("incomplete"));

    let out = postwire(&["decode", "smtp"], &[], Some(b"2500 nope\r\n"));
    assert_eq!(out.status.code(), Some(1));
    assert!(!text(&out.stderr).contains("incomplete"));
}

#[test]
fn send_usage_errors_are_precise() {
    let base = [
        "send",
        "--server",
        "smtps://127.0.0.1:1",
        "--from",
        "a@example.test",
    ];
    let out = postwire(&base, &[], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("at least one recipient"),
        "{}",
        text(&out.stderr)
    );

    let out = postwire(
        &[
            "send",
            "--server",
            "imap://x",
            "--from",
            "a@example.test",
            "--to",
            "b@example.test",
        ],
        &[],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("smtps://HOST:PORT or smtp://HOST:PORT"));

    let mut args = base.to_vec();
    args.extend([
        "--to",
        "b@example.test",
        "--user",
        "u",
        "--password-env",
        "POSTWIRE_TEST_UNSET_VAR",
    ]);
    let out = postwire(&args, &[], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("POSTWIRE_TEST_UNSET_VAR"));

    let mut args = base.to_vec();
    args.extend([
        "--to",
        "b@example.test",
        "--header",
        "X-A: b\r\nBcc: c@example.test",
    ]);
    let out = postwire(&args, &[], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("CR, LF or NUL"),
        "{}",
        text(&out.stderr)
    );

    // Nothing listens on port 1: the connect stage is named.
    let mut args = base.to_vec();
    args.extend(["--to", "b@example.test", "--insecure", "--timeout", "5"]);
    let out = postwire(&args, &[], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("error: connect:"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn send_delivers_over_both_ports_and_reports_refusals() {
    let peers = peers_or_skip!();
    let ca = peers.ca_bundle().to_string();
    let host = peers.host().to_string();
    for (scheme, port_var) in [
        ("smtps", "MAILPEERS_SUBMISSIONS_PORT"),
        ("smtp", "MAILPEERS_SUBMISSION_PORT"),
    ] {
        let url = format!("{scheme}://{host}:{}", peers.get(port_var));
        let tok = token(&format!("cli-{scheme}"));
        let subject = format!("Alarm {tok} — Grüße ✓");
        let body = "Sensor 7: 31.5 °C\n.\nend\n";
        let out = postwire(
            &[
                "send",
                "--server",
                &url,
                "--user",
                "alice",
                "--password-env",
                "PW",
                "--ca",
                &ca,
                "--from",
                "Sensor Ünit <alice@example.test>",
                "--to",
                "Bob <bob@example.test>",
                "--cc",
                "alice@example.test",
                "--bcc",
                "bob@example.test",
                "--subject",
                &subject,
                "--text",
                "-",
                "--header",
                "X-Device: 7",
                "--reply-to",
                "ops@example.test",
            ],
            &[("PW", "alice-pw")],
            Some(body.as_bytes()),
        );
        assert_eq!(out.status.code(), Some(0), "{url}: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        assert!(stdout.contains("accepted: bob@example.test"), "{stdout}");
        assert!(stdout.contains("accepted: alice@example.test"), "{stdout}");
        assert!(
            stdout.contains("server: 250 2.0.0 Ok: queued as"),
            "{stdout}"
        );
        let got = text(&fetch_by_subject(&peers, "bob", "bob-pw", &tok));
        assert!(got.contains("From: =?utf-8?B?"), "{got}");
        assert!(got.contains("To: Bob <bob@example.test>"), "{got}");
        assert!(got.contains("Cc: alice@example.test"), "{got}");
        assert!(got.contains("Reply-To: ops@example.test"), "{got}");
        assert!(got.contains("X-Device: 7"), "{got}");
        assert!(!got.contains("Bcc"), "{got}");
        assert!(
            got.contains("Sensor 7: 31.5 =C2=B0C\r\n=2E\r\nend\r\n"),
            "{got}"
        );
    }

    let url = format!("smtps://{host}:{}", peers.get("MAILPEERS_SUBMISSIONS_PORT"));
    let out = postwire(
        &[
            "send",
            "--server",
            &url,
            "--user",
            "alice",
            "--password-env",
            "PW",
            "--ca",
            &ca,
            "--from",
            "alice@example.test",
            "--to",
            "bob@example.test",
        ],
        &[("PW", "wrong")],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("error: AUTH: server replied 535 5.7.8"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    let out = postwire(
        &[
            "send",
            "--server",
            &url,
            "--user",
            "alice",
            "--password-env",
            "PW",
            "--ca",
            &ca,
            "--from",
            "alice@example.test",
            "--to",
            "nobody@example.test",
        ],
        &[("PW", "alice-pw")],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("error: RCPT TO: no recipient was accepted"),
        "{err}"
    );
    assert!(err.contains("550 5.1.1"), "{err}");

    let rsa = peers.get("MAILPEERS_CA_CERT_RSA").to_string();
    let out = postwire(
        &[
            "send",
            "--server",
            &url,
            "--user",
            "alice",
            "--password-env",
            "PW",
            "--ca",
            &rsa,
            "--from",
            "alice@example.test",
            "--to",
            "bob@example.test",
        ],
        &[("PW", "alice-pw")],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("error: TLS handshake"),
        "{}",
        text(&out.stderr)
    );

    let plain = format!("smtp://{host}:{}", peers.get("MAILPEERS_SUBMISSION_PORT"));
    let out = postwire(
        &[
            "send",
            "--server",
            &plain,
            "--allow-plaintext",
            "--user",
            "alice",
            "--password-env",
            "PW",
            "--from",
            "alice@example.test",
            "--to",
            "bob@example.test",
        ],
        &[("PW", "alice-pw")],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("AUTH: server replied 530 5.7.0"),
        "{}",
        text(&out.stderr)
    );
}

/// `--sigalgs` restricts the signature schemes offered, and the shared peers (an ECDSA and an
/// RSA chain; ECDSA when offered) answer with the chain the offer selects: only RSA reaches
/// the RSA chain, which only the RSA CA verifies. Checked for `send` (implicit TLS and
/// STARTTLS), `imap` and `pop3`.
#[test]
fn sigalgs_select_the_servers_certificate_chain() {
    let peers = peers_or_skip!();
    let host = peers.host().to_string();
    let ca_rsa = peers.get("MAILPEERS_CA_CERT_RSA").to_string();
    let ca_ec = peers.get("MAILPEERS_CA_CERT_EC").to_string();
    let smtps = format!("smtps://{host}:{}", peers.get("MAILPEERS_SUBMISSIONS_PORT"));
    let smtp = format!("smtp://{host}:{}", peers.get("MAILPEERS_SUBMISSION_PORT"));
    let imaps = format!("imaps://{host}:{}", peers.get("MAILPEERS_IMAPS_PORT"));
    let imap = format!("imap://{host}:{}", peers.get("MAILPEERS_IMAP_PORT"));
    let pop3s = format!("pop3s://{host}:{}", peers.get("MAILPEERS_POP3S_PORT"));
    let tok = token("cli-sigalgs");
    let run = |url: &str, ca: &str, sigalgs: Option<&str>| {
        let mut args: Vec<String> = Vec::new();
        let cmd = &url[..url.find(':').unwrap()];
        let cmd = cmd.trim_end_matches('s');
        let cmd = if cmd == "smtp" { "send" } else { cmd };
        for a in [
            cmd,
            "--server",
            url,
            "--user",
            "alice",
            "--password-env",
            "PW",
        ] {
            args.push(a.to_string());
        }
        args.push("--ca".into());
        args.push(ca.into());
        if let Some(s) = sigalgs {
            args.push("--sigalgs".into());
            args.push(s.into());
        }
        match cmd {
            "send" => {
                for a in ["--from", "alice@example.test", "--to", "alice@example.test"] {
                    args.push(a.into());
                }
                args.push("--subject".into());
                args.push(format!("sigalgs {tok}"));
            }
            "imap" => args.push("list".into()),
            _ => args.push("stat".into()),
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        postwire(&args, &[("PW", "alice-pw")], Some(b"body\n"))
    };
    for url in [&smtps, &smtp, &imaps, &imap, &pop3s] {
        // RSA only: the RSA chain, which the RSA CA verifies.
        let out = run(url, &ca_rsa, Some("rsa"));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{url} rsa: {}",
            text(&out.stderr)
        );
        // ECDSA only: the ECDSA chain, which the RSA CA does not verify (and nothing but a
        // ClientHello was sent).
        let out = run(url, &ca_rsa, Some("ecdsa"));
        assert_eq!(
            out.status.code(),
            Some(1),
            "{url} ecdsa: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("not trusted"),
            "{url}: {}",
            text(&out.stderr)
        );
        let out = run(url, &ca_ec, Some("ecdsa"));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{url} ecdsa: {}",
            text(&out.stderr)
        );
        // The default offer (ECDSA among others) gets the ECDSA chain too.
        let out = run(url, &ca_ec, None);
        assert_eq!(out.status.code(), Some(0), "{url}: {}", text(&out.stderr));
        // Ed25519 only: neither of the server's keys can sign with it.
        let out = run(url, &ca_rsa, Some("ed25519"));
        assert_eq!(
            out.status.code(),
            Some(1),
            "{url} ed25519: {}",
            text(&out.stderr)
        );
    }
    // A bad list is a usage error naming the problem.
    let out = run(&smtps, &ca_rsa, Some("rsa,dsa"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown signature algorithm family"),
        "{}",
        text(&out.stderr)
    );
}

/// `postwire demo` with nothing installed: the in-process test peer; the transcript shows the
/// alert sent and received, each command executed once and each reply received.
#[test]
fn demo_runs_on_the_embedded_peer() {
    let out = postwire(&["demo"], &[], None);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    for expect in [
        "alert sent: \"Temperature alert: 31.5 °C",
        "operator | alert received",
        "with readings.csv attached",
        "waiting for new mail (IDLE)",
        ": SET interval 30 -> ok (interval = 30 s)",
        "filed to Processed",
        "reply received: \"> SET interval 30 / ok: interval = 30 s\"",
        ": STATUS -> ok (temperature 31.5 °C, interval 30 s",
        "QUIT: 1 message(s) deleted on the server",
        "demo | ok: alert sent and received; 2 command(s) executed exactly once (IMAP and POP3)",
    ] {
        assert!(stdout.contains(expect), "missing {expect:?} in\n{stdout}");
    }
    assert_eq!(stdout.matches("-> ok").count(), 2, "{stdout}");
    // No password in the transcript, also with the wire lines.
    let out = postwire(&["demo", "--wire"], &[], None);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("wire | IMAP#"), "{stdout}");
    assert!(!stdout.contains("secret"), "{stdout}");
}

/// `postwire demo` against the real Postfix/Dovecot peers with one account.
#[test]
fn demo_runs_against_real_servers() {
    let peers = peers_or_skip!();
    let host = peers.host().to_string();
    let smtp = format!("smtps://{host}:{}", peers.get("MAILPEERS_SUBMISSIONS_PORT"));
    let imap = format!("imap://{host}:{}", peers.get("MAILPEERS_IMAP_PORT"));
    let pop3 = format!("pop3s://{host}:{}", peers.get("MAILPEERS_POP3S_PORT"));
    let ca = peers.ca_bundle().to_string();
    let args = [
        "demo",
        "--smtp",
        &smtp,
        "--imap",
        &imap,
        "--pop3",
        &pop3,
        "--user",
        "bob",
        "--address",
        "bob@example.test",
        "--password-env",
        "PW",
        "--ca",
        &ca,
    ];
    let out = postwire(&args, &[("PW", "bob-pw")], None);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains(": SET interval 30 -> ok"), "{stdout}");
    assert!(stdout.contains(": STATUS -> ok"), "{stdout}");
    assert!(stdout.contains("demo | ok:"), "{stdout}");
    // Precise errors.
    let out = postwire(&args[..9], &[("PW", "bob-pw")], None);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("--password-env"), "{err}");
    let mut no_address: Vec<&str> = args.to_vec();
    no_address.drain(9..11);
    let out = postwire(&no_address, &[("PW", "bob-pw")], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--user bob is not an e-mail address"),
        "{}",
        text(&out.stderr)
    );
    let out = postwire(&args, &[("PW", "wrong")], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("alert"), "{}", text(&out.stderr));
}
