//! `postwire imap` as a user runs it, against the real Dovecot peer: every subcommand, the
//! JSON lines, `fetch --body-to` byte for byte, IDLE with and without new mail, and the error
//! lines and exit codes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use postwire_tests::{Peers, peers_or_skip, token};
use serde_json::Value;

fn postwire(args: &[&str], password: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_postwire"))
        .args(args)
        .env("PW", password)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run postwire")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn lines(out: &Output) -> Vec<Value> {
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The global options for alice over IMAPS (`imaps`) or STARTTLS (`imap`).
struct Alice {
    imaps: Vec<String>,
    starttls: Vec<String>,
}

impl Alice {
    fn new(peers: &Peers) -> Self {
        let host = peers.host();
        let common = |url: String| {
            vec![
                "imap".to_string(),
                "--server".into(),
                url,
                "--user".into(),
                "alice".into(),
                "--password-env".into(),
                "PW".into(),
                "--ca".into(),
                peers.ca_bundle().into(),
            ]
        };
        Alice {
            imaps: common(format!(
                "imaps://{host}:{}",
                peers.get("MAILPEERS_IMAPS_PORT")
            )),
            starttls: common(format!(
                "imap://{host}:{}",
                peers.get("MAILPEERS_IMAP_PORT")
            )),
        }
    }

    fn run_with(&self, base: &[String], rest: &[&str]) -> Output {
        let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
        args.extend_from_slice(rest);
        postwire(&args, "alice-pw")
    }

    /// Runs over IMAPS and expects success; returns the JSON lines.
    fn ok(&self, rest: &[&str]) -> Vec<Value> {
        let out = self.run_with(&self.imaps, rest);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{rest:?}: {}{}",
            text(&out.stderr),
            text(&out.stdout)
        );
        lines(&out)
    }
}

/// Deletes the mailboxes a test created, also when it fails half-way.
struct Cleanup<'a> {
    alice: &'a Alice,
    mailboxes: Vec<String>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for m in &self.mailboxes {
            let _ = self.alice.run_with(&self.alice.imaps, &["delete", m]);
        }
    }
}

fn tmp_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{name}-{}", std::process::id()))
}

/// A CRLF message with a UTF-8 subject (RFC 2047), UTF-8 body bytes and a dot line.
fn message(tok: &str, body_lines: usize) -> Vec<u8> {
    let mut m = format!(
        "From: =?utf-8?q?J=C3=BCrgen?= <juergen@example.test>\r\n\
         To: Alice <alice@example.test>\r\n\
         Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= {tok}\r\n\
         Message-ID: <{tok}.{body_lines}@example.test>\r\n\
         Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Grüße aus dem Test ✓\r\n.a line with a dot\r\n"
    )
    .into_bytes();
    for i in 0..body_lines {
        m.extend_from_slice(format!("{i:06} {}\r\n", "x".repeat(70)).as_bytes());
    }
    m
}

fn ids(v: &Value) -> Vec<u64> {
    v["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

fn flags(v: &Value) -> Vec<String> {
    v["flags"]
        .as_array()
        .unwrap_or_else(|| panic!("no flags: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn imap_every_subcommand_against_dovecot() {
    let peers = peers_or_skip!();
    let alice = Alice::new(&peers);
    let tok = token("cli-imap");
    let src = format!("Prüfung-{tok}");
    let dest = format!("Ziel-{tok}");
    let renamed = format!("Ziel-umbenannt-{tok}");
    let mut cleanup = Cleanup {
        alice: &alice,
        mailboxes: vec![src.clone(), dest.clone(), renamed.clone()],
    };

    // create, list (UTF-8 name shown, mUTF-7 on the wire).
    assert_eq!(
        alice.ok(&["create", &src]),
        [serde_json::json!({"created": src})]
    );
    alice.ok(&["create", &dest]);
    let pattern = format!("*{tok}");
    let listed = alice.ok(&["list", &pattern]);
    assert_eq!(listed.len(), 2, "{listed:?}");
    let entry = listed
        .iter()
        .find(|l| l["mailbox"] == src.as_str())
        .unwrap();
    assert_eq!(entry["wire_name"], format!("Pr&APw-fung-{tok}"));
    assert_eq!(entry["delimiter"], ".");
    assert!(entry["attributes"].is_array());

    // append a small message (kept inline by the reader) and a large one (streamed).
    let small = message(&tok, 2);
    let big = message(&tok, 4000);
    let small_file = tmp_file(&format!("{tok}-small.eml"));
    let big_file = tmp_file(&format!("{tok}-big.eml"));
    std::fs::write(&small_file, &small).unwrap();
    std::fs::write(&big_file, &big).unwrap();
    let a = alice.ok(&[
        "append",
        &src,
        small_file.to_str().unwrap(),
        "--flags",
        "\\Flagged",
        "$Test",
    ]);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0]["appended"], true);
    assert_eq!(a[0]["bytes"], small.len());
    let small_uid = a[0]["uid"].as_u64().unwrap();
    let uidvalidity = a[0]["uidvalidity"].as_u64().unwrap();
    let a = alice.ok(&["append", &src, big_file.to_str().unwrap()]);
    let big_uid = a[0]["uid"].as_u64().unwrap();
    assert!(big_uid > small_uid);

    // status (over STARTTLS) and select.
    let out = alice.run_with(&alice.starttls, &["status", &src]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let st = lines(&out);
    assert_eq!(st[0]["messages"], 2);
    assert_eq!(st[0]["uidvalidity"], uidvalidity);
    assert_eq!(st[0]["mailbox"], src.as_str());
    let sel = alice.ok(&["select", &src]);
    assert_eq!(sel[0]["exists"], 2);
    assert_eq!(sel[0]["uidvalidity"], uidvalidity);
    assert_eq!(sel[0]["uidnext"], big_uid + 1);
    assert_eq!(sel[0]["read_only"], false);
    assert!(flags(&sel[0]).contains(&"\\Seen".to_string()));
    assert!(sel[0]["permanent_flags"].is_array());
    let ro = alice.ok(&["select", &src, "--read-only"]);
    assert_eq!(ro[0]["read_only"], true);

    // search: several key forms, sequence numbers and UIDs.
    let s = alice.ok(&["search", &src, "SUBJECT", &tok]);
    assert_eq!(
        (ids(&s[0]), s[0]["uid"].clone()),
        (vec![1, 2], Value::Bool(false))
    );
    let s = alice.ok(&["search", &src, "--uid", "FLAGGED"]);
    assert_eq!(ids(&s[0]), vec![small_uid]);
    assert_eq!(s[0]["uid"], true);
    let s = alice.ok(&["search", &src, "LARGER", "100000", "SINCE", "1-Jan-2020"]);
    assert_eq!(ids(&s[0]), vec![2]);
    let s = alice.ok(&["search", &src, "NOT", "FLAGGED", "UNSEEN"]);
    assert_eq!(ids(&s[0]), vec![2]);
    let s = alice.ok(&["search", &src, "OR", "KEYWORD", "$Test", "LARGER", "100000"]);
    assert_eq!(ids(&s[0]), vec![1, 2]);
    let mid = format!("<{tok}.4000@example.test>");
    let s = alice.ok(&["search", &src, "--uid", "HEADER", "Message-ID", &mid]);
    assert_eq!(ids(&s[0]), vec![big_uid]);
    let uid_set = format!("{big_uid}:*");
    let s = alice.ok(&[
        "search",
        &src,
        "(",
        "UID",
        &uid_set,
        "BEFORE",
        "1-Jan-2999",
        ")",
    ]);
    assert_eq!(ids(&s[0]), vec![2]);
    let s = alice.ok(&["search", &src, "SUBJECT", "no-such-subject-anywhere"]);
    assert_eq!(s[0]["count"], 0);

    // fetch: default items, one line per message.
    let f = alice.ok(&["fetch", &src, "1:*"]);
    assert_eq!(f.len(), 2, "{f:?}");
    assert_eq!(f[0]["seq"], 1);
    assert_eq!(f[0]["uid"], small_uid);
    assert_eq!(f[0]["size"], small.len());
    assert_eq!(f[1]["size"], big.len());
    assert!(flags(&f[0]).contains(&"\\Flagged".to_string()));
    let env = &f[0]["envelope"];
    assert_eq!(env["subject"], format!("Grüße {tok}"));
    assert_eq!(
        env["subject_raw"],
        format!("=?utf-8?q?Gr=C3=BC=C3=9Fe?= {tok}")
    );
    assert_eq!(env["from"][0]["name"], "Jürgen");
    assert_eq!(env["from"][0]["address"], "juergen@example.test");
    assert_eq!(env["to"][0]["address"], "alice@example.test");
    assert_eq!(env["message_id"], format!("<{tok}.2@example.test>"));
    assert!(f[0]["internal_date"].is_string());

    // fetch with --items: sections as text, a header field subset, BODYSTRUCTURE; --uid.
    let uid_s = small_uid.to_string();
    let f = alice.ok(&[
        "fetch",
        &src,
        &uid_s,
        "--uid",
        "--items",
        "(UID BODY.PEEK[TEXT] BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODYSTRUCTURE)",
    ]);
    assert_eq!(f.len(), 1);
    let sections = f[0]["sections"].as_array().unwrap();
    let body_start = small.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let want_text = std::str::from_utf8(&small[body_start..]).unwrap();
    assert_eq!(sections[0]["name"], "BODY[TEXT]");
    assert_eq!(sections[0]["text"], want_text);
    assert_eq!(sections[0]["bytes"], want_text.len());
    assert_eq!(
        sections[1]["text"],
        format!("Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= {tok}\r\n\r\n")
    );
    assert_eq!(f[0]["body_structure"]["type"], "text");
    assert_eq!(f[0]["body_structure"]["params"]["charset"], "utf-8");
    // A streamed section (the big body) is reassembled into the JSON line.
    let f = alice.ok(&["fetch", &src, "2", "--items", "BODY.PEEK[TEXT]"]);
    let big_start = big.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(f[0]["sections"][0]["bytes"], big.len() - big_start);
    assert_eq!(
        f[0]["sections"][0]["text"].as_str().unwrap().as_bytes(),
        &big[big_start..]
    );
    // A partial fetch.
    let f = alice.ok(&["fetch", &src, "1", "--items", "BODY.PEEK[]<0.6>"]);
    assert_eq!(f[0]["sections"][0]["text"], "From: ");
    assert_eq!(f[0]["sections"][0]["name"], "BODY[]<0>");

    // fetch --body-to: byte for byte (inline and streamed), several messages in a row.
    for (set, want) in [(&uid_s, &small), (&big_uid.to_string(), &big)] {
        let out_file = tmp_file(&format!("{tok}-out-{set}.eml"));
        let f = alice.ok(&[
            "fetch",
            &src,
            set,
            "--uid",
            "--body-to",
            out_file.to_str().unwrap(),
        ]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0]["body_bytes"], want.len());
        assert_eq!(f[0]["body_to"], out_file.to_str().unwrap());
        assert_eq!(f[0]["body_section"], "BODY[]");
        let got = std::fs::read(&out_file).unwrap();
        assert!(got == **want, "--body-to bytes differ for UID {set}");
        let _ = std::fs::remove_file(&out_file);
    }
    let both = tmp_file(&format!("{tok}-both.eml"));
    let f = alice.ok(&["fetch", &src, "1:2", "--body-to", both.to_str().unwrap()]);
    assert_eq!(f.len(), 2);
    assert_eq!(f[1]["body_offset"], small.len());
    let got = std::fs::read(&both).unwrap();
    assert!(got == [small.clone(), big.clone()].concat());
    let _ = std::fs::remove_file(&both);
    // --body-to with a section from --items.
    let text_file = tmp_file(&format!("{tok}-text.eml"));
    alice.ok(&[
        "fetch",
        &src,
        "1",
        "--items",
        "UID BODY.PEEK[TEXT]",
        "--body-to",
        text_file.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(&text_file).unwrap(), &small[body_start..]);
    let _ = std::fs::remove_file(&text_file);

    // store: add, remove (by UID), replace; one line per FETCH with the new flags.
    let s = alice.ok(&["store", &src, "1", "+FLAGS", "\\Seen"]);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["seq"], 1);
    let fl = flags(&s[0]);
    assert!(fl.contains(&"\\Seen".to_string()) && fl.contains(&"\\Flagged".to_string()));
    let s = alice.ok(&["store", &src, &uid_s, "-FLAGS", "\\Flagged", "--uid"]);
    assert!(!flags(&s[0]).contains(&"\\Flagged".to_string()));
    assert_eq!(s[0]["uid"], small_uid);
    let s = alice.ok(&["store", &src, "2", "FLAGS", "\\Answered", "$Label1"]);
    assert_eq!(flags(&s[0]), ["\\Answered", "$Label1"]);

    // copy (COPYUID) and move.
    let c = alice.ok(&["copy", &src, "1:2", &dest]);
    assert_eq!(c[0]["copied"], true);
    assert_eq!(c[0]["count"], 2);
    assert!(c[0]["uidvalidity"].as_u64().is_some());
    let d = alice.ok(&["status", &dest]);
    assert_eq!(d[0]["messages"], 2);
    let m = alice.ok(&["move", &dest, "1", &src]);
    assert_eq!(m[0]["moved"], true);
    assert_eq!(m[0]["uidvalidity"], uidvalidity);
    assert_eq!(m[0]["first_uid"], big_uid + 1);
    assert_eq!(alice.ok(&["status", &dest])[0]["messages"], 1);
    assert_eq!(alice.ok(&["status", &src])[0]["messages"], 3);

    // expunge what is flagged \Deleted.
    alice.ok(&["store", &src, "2:3", "+FLAGS.SILENT", "\\Deleted"]);
    let e = alice.ok(&["expunge", &src]);
    assert_eq!(e[0]["expunged"], 2);
    assert_eq!(alice.ok(&["status", &src])[0]["messages"], 1);

    // rename, then delete everything.
    let r = alice.ok(&["rename", &dest, &renamed]);
    assert_eq!(r[0]["renamed"], dest.as_str());
    assert_eq!(r[0]["to"], renamed.as_str());
    let pattern = format!("Ziel*{tok}");
    let listed = alice.ok(&["list", &pattern]);
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["mailbox"], renamed.as_str());
    assert_eq!(
        alice.ok(&["delete", &renamed])[0]["deleted"],
        renamed.as_str()
    );
    assert_eq!(alice.ok(&["delete", &src])[0]["deleted"], src.as_str());
    assert!(alice.ok(&["list", &format!("*{tok}*")]).is_empty());
    cleanup.mailboxes.clear();
    let _ = std::fs::remove_file(&small_file);
    let _ = std::fs::remove_file(&big_file);
}

#[test]
fn imap_idle_timeout_exists_and_until_exists() {
    let peers = peers_or_skip!();
    let alice = Alice::new(&peers);
    let tok = token("cli-idle");
    let mbox = format!("Idle-{tok}");
    let _cleanup = Cleanup {
        alice: &alice,
        mailboxes: vec![mbox.clone()],
    };
    alice.ok(&["create", &mbox]);
    let file = tmp_file(&format!("{tok}.eml"));
    std::fs::write(&file, message(&tok, 1)).unwrap();

    // Nothing arrives: the timeout ends IDLE after about 2 s with a final line.
    let t = Instant::now();
    let out = alice.ok(&["idle", &mbox, "--timeout", "2"]);
    let took = t.elapsed();
    // Dovecot aligns its "* OK Still here" keepalives across a user's connections, so one may
    // arrive at any moment of an IDLE: it is a legitimate event, not a push.
    let out: Vec<_> = out
        .into_iter()
        .filter(|l| l["event"] != "keepalive")
        .collect();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0]["event"], "end");
    assert_eq!(out[0]["reason"], "timeout");
    assert_eq!(out[0]["exists"], 0);

    // A second client appends during IDLE: an exists event, IDLE runs on to the timeout.
    let append_later = |delay: Duration| {
        let args: Vec<String> = alice
            .imaps
            .iter()
            .cloned()
            .chain(["append".into(), mbox.clone(), file.display().to_string()])
            .collect();
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = postwire(&a, "alice-pw");
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        })
    };
    let helper = append_later(Duration::from_millis(700));
    let t = Instant::now();
    let out = alice.ok(&["idle", &mbox, "--timeout", "4"]);
    helper.join().unwrap();
    assert!(t.elapsed() >= Duration::from_secs(4));
    assert!(
        out.iter()
            .any(|l| l["event"] == "exists" && l["count"] == 1),
        "{out:?}"
    );
    let last = out.last().unwrap();
    assert_eq!(
        (&last["reason"], &last["exists"]),
        (&"timeout".into(), &1.into())
    );

    // --until-exists returns at the first EXISTS that raises the count, long before the
    // timeout.
    let helper = append_later(Duration::from_millis(700));
    let t = Instant::now();
    let out = alice.ok(&["idle", &mbox, "--timeout", "30", "--until-exists"]);
    helper.join().unwrap();
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    let last = out.last().unwrap();
    assert_eq!(last["event"], "end");
    assert_eq!(last["reason"], "exists");
    assert_eq!(last["exists"], 2);
    assert!(
        out.iter()
            .any(|l| l["event"] == "exists" && l["count"] == 2)
    );
    let _ = std::fs::remove_file(&file);
}

fn one_error_line(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(out.stdout.is_empty(), "{}", text(&out.stdout));
    err
}

#[test]
fn imap_errors_name_the_stage() {
    let peers = peers_or_skip!();
    let alice = Alice::new(&peers);

    // Wrong password: AUTHENTICATE (default) and LOGIN, with the server's code and text.
    let args: Vec<&str> = alice.imaps.iter().map(String::as_str).collect();
    let out = postwire(&[&args[..], &["list"]].concat(), "wrong");
    let err = one_error_line(&out);
    assert_eq!(
        err.trim_end(),
        "postwire imap: error: AUTHENTICATE: server replied NO [AUTHENTICATIONFAILED] Authentication failed."
    );
    let out = postwire(
        &[&args[..], &["--auth", "login-command", "list"]].concat(),
        "wrong",
    );
    let err = one_error_line(&out);
    assert!(
        err.contains("error: LOGIN: server replied NO [AUTHENTICATIONFAILED]"),
        "{err}"
    );

    // The wrong CA (or none: the built-in roots): refused at the handshake, before any
    // credentials, over implicit TLS and STARTTLS.
    let rsa_ca = peers.get("MAILPEERS_CA_CERT_RSA").to_string();
    for base in [&alice.imaps, &alice.starttls] {
        let mut a: Vec<&str> = base.iter().map(String::as_str).collect();
        let ca_at = a.iter().position(|x| *x == "--ca").unwrap();
        a[ca_at + 1] = &rsa_ca;
        a.push("list");
        let err = one_error_line(&postwire(&a, "alice-pw"));
        assert!(err.contains("error: TLS handshake: with "), "{err}");
        assert!(err.contains("not trusted"), "{err}");
        a.drain(ca_at..ca_at + 2);
        let err = one_error_line(&postwire(&a, "alice-pw"));
        assert!(err.contains("error: TLS handshake: with "), "{err}");
    }

    // Unknown mailbox: SELECT (for fetch, search, ...) and STATUS name it.
    let nope = format!("Gibt-es-nicht-{}", token("nope"));
    let out = alice.run_with(&alice.imaps, &["fetch", &nope, "1"]);
    let err = one_error_line(&out);
    assert!(
        err.contains("error: EXAMINE: server replied NO") && err.contains("doesn't exist"),
        "{err}"
    );
    let out = alice.run_with(&alice.imaps, &["store", &nope, "1", "+FLAGS", "\\Seen"]);
    assert!(one_error_line(&out).contains("error: SELECT: server replied NO"));
    let out = alice.run_with(&alice.imaps, &["status", &nope]);
    assert!(one_error_line(&out).contains("error: STATUS: server replied NO"));

    // --body-to on a UID that does not exist: nothing to write is an error.
    let file = tmp_file("cli-imap-nobody");
    let out = alice.run_with(
        &alice.imaps,
        &[
            "fetch",
            "INBOX",
            "4000000000",
            "--uid",
            "--body-to",
            file.to_str().unwrap(),
        ],
    );
    assert!(one_error_line(&out).contains("error: FETCH: no message in INBOX"));
    let _ = std::fs::remove_file(&file);

    // Without --allow-plaintext, imap:// insists on STARTTLS; with it, plain text works.
    let host = peers.host();
    let plain = format!("imap://{host}:{}", peers.get("MAILPEERS_IMAP_PORT"));
    let out = postwire(
        &[
            "imap",
            "--server",
            &plain,
            "--user",
            "alice",
            "--password-env",
            "PW",
            "--allow-plaintext",
            "status",
            "INBOX",
        ],
        "alice-pw",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(lines(&out)[0]["messages"].is_u64());
}

#[test]
fn imap_usage_errors_exit_2() {
    let base = [
        "imap",
        "--server",
        "imaps://127.0.0.1:1",
        "--user",
        "u",
        "--password-env",
        "POSTWIRE_TEST_UNSET_VAR",
    ];
    let out = Command::new(env!("CARGO_BIN_EXE_postwire"))
        .args(base)
        .arg("list")
        .env_remove("POSTWIRE_TEST_UNSET_VAR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("POSTWIRE_TEST_UNSET_VAR"));

    let mut with_pw = base.to_vec();
    with_pw[6] = "PW";
    for (rest, want) in [
        (&["fetch", "INBOX", "1:x"][..], "SET"),
        (&["store", "INBOX", "1", "+FLAGS"], "FLAG"),
        (&["search", "INBOX", "SINCE", "soon"], "SINCE"),
        (&["bogus"], "unrecognized subcommand"),
    ] {
        let out = postwire(&[&with_pw[..], rest].concat(), "pw");
        assert_eq!(
            out.status.code(),
            Some(2),
            "{rest:?}: {}",
            text(&out.stderr)
        );
        assert!(text(&out.stderr).contains(want), "{}", text(&out.stderr));
    }
    let out = postwire(
        &[
            "imap",
            "--server",
            "pop3s://x",
            "--user",
            "u",
            "--password-env",
            "PW",
            "list",
        ],
        "pw",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("imaps://HOST:PORT or imap://HOST:PORT"));

    let out = postwire(&["imap", "--help"], "pw");
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for word in ["Exit status", "fetch", "idle", "--body-to", "SET"] {
        assert!(help.contains(word), "{word}: {help}");
    }
}
