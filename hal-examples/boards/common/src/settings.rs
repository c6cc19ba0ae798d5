//! Settings fixed at build time from environment variables (see the boards' README.md).
//!
//! Every value has a placeholder default so that the firmware builds without any of them (CI
//! builds it that way to measure its size); a placeholder device simply fails to log in. The
//! values end up in flash as plain text: a production device reads its credentials from
//! provisioned storage or a secure element instead.

/// `opt` or `default` (a `const` replacement for `Option::unwrap_or`).
const fn or(opt: Option<&'static str>, default: &'static str) -> &'static str {
    match opt {
        Some(s) if !s.is_empty() => s,
        _ => default,
    }
}

/// A decimal port number given at build time, or `default`. A malformed number stops the
/// build (const evaluation panics).
const fn port(opt: Option<&'static str>, default: u16) -> u16 {
    let s = match opt {
        Some(s) if !s.is_empty() => s.as_bytes(),
        _ => return default,
    };
    let mut value: u32 = 0;
    let mut i = 0;
    while i < s.len() {
        let d = s[i];
        assert!(d.is_ascii_digit(), "port must be a decimal number");
        value = value * 10 + (d - b'0') as u32;
        assert!(value <= 65535, "port must be at most 65535");
        i += 1;
    }
    assert!(value != 0, "port must not be 0");
    value as u16
}

/// The SMTP submission server (`POSTWIRE_SMTP_HOST`), a DNS name or an IPv4 literal. It is
/// also the TLS server name checked against the certificate.
pub const SMTP_HOST: &str = or(option_env!("POSTWIRE_SMTP_HOST"), "mail.example.com");
/// `POSTWIRE_SMTP_PORT`; 465 (implicit TLS, RFC 8314) by default.
pub const SMTP_PORT: u16 = port(option_env!("POSTWIRE_SMTP_PORT"), 465);
/// The IMAP server (`POSTWIRE_IMAP_HOST`, default: the SMTP host).
pub const IMAP_HOST: &str = or(option_env!("POSTWIRE_IMAP_HOST"), SMTP_HOST);
/// `POSTWIRE_IMAP_PORT`; 993 (implicit TLS) by default.
pub const IMAP_PORT: u16 = port(option_env!("POSTWIRE_IMAP_PORT"), 993);
/// The POP3 server (`POSTWIRE_POP3_HOST`, default: the SMTP host).
pub const POP3_HOST: &str = or(option_env!("POSTWIRE_POP3_HOST"), SMTP_HOST);
/// `POSTWIRE_POP3_PORT`; 995 (implicit TLS) by default.
pub const POP3_PORT: u16 = port(option_env!("POSTWIRE_POP3_PORT"), 995);
/// The login name for all three servers (`POSTWIRE_USER`).
pub const USER: &str = or(option_env!("POSTWIRE_USER"), "device");
/// The password (`POSTWIRE_PASSWORD`). Never logged.
pub const PASSWORD: &str = or(option_env!("POSTWIRE_PASSWORD"), "unprovisioned");
/// The envelope sender and `From:` of alerts (`POSTWIRE_FROM`, default: the user name).
pub const FROM: &str = or(option_env!("POSTWIRE_FROM"), USER);
/// The alert recipient (`POSTWIRE_TO`, default: the sender).
pub const TO: &str = or(option_env!("POSTWIRE_TO"), FROM);
/// The one address whose e-mailed commands the device executes (`POSTWIRE_COMMANDS_FROM`,
/// default: the alert recipient). Compared with the `From:` header, so it is only as strong as
/// the mail server's sender checks.
pub const COMMANDS_FROM: &str = or(option_env!("POSTWIRE_COMMANDS_FROM"), TO);
/// The device's name: EHLO domain, alert subject, STATUS replies (`POSTWIRE_DEVICE_NAME`).
pub const DEVICE_NAME: &str = or(option_env!("POSTWIRE_DEVICE_NAME"), "postwire-device");
/// The IMAP mailbox polled for commands (`POSTWIRE_COMMAND_MAILBOX`, default `INBOX`).
pub const COMMAND_MAILBOX: &str = or(option_env!("POSTWIRE_COMMAND_MAILBOX"), "INBOX");
/// The Wi-Fi network (`POSTWIRE_WIFI_SSID`), for the Wi-Fi boards.
pub const WIFI_SSID: &str = or(option_env!("POSTWIRE_WIFI_SSID"), "postwire-test");
/// The WPA2/WPA3 passphrase (`POSTWIRE_WIFI_PASSWORD`); empty joins an open network.
pub const WIFI_PASSWORD: &str = match option_env!("POSTWIRE_WIFI_PASSWORD") {
    Some(s) => s,
    None => "",
};

include!(concat!(env!("OUT_DIR"), "/ca.rs"));
