//! The command language of the command mailbox, and the [`Device`] that executes it.
//!
//! One command per message, in the message's text (the first `text/plain` part, else the
//! HTML one), on the first non-empty line; keywords are case-insensitive:
//!
//! | command | meaning |
//! |---|---|
//! | `SET <name> <value>` | set a parameter; `name` is 1–32 of `A-Z a-z 0-9 _ - .`, `value` the rest of the line (1–64 bytes, no control characters) |
//! | `STATUS` | report the device's state |
//! | `REBOOT` | restart (after the reply was sent and the message filed) |
//!
//! Lines after the command must be empty, or start a signature (`-- `) or a quotation
//! (`>`), after which everything is ignored. Anything else is an error reply, and the device
//! is not called.

use core::fmt;

/// Longest parameter name.
pub const MAX_NAME: usize = 32;
/// Longest value.
pub const MAX_VALUE: usize = 64;
/// Longest command text examined (bytes of the message's text).
pub const MAX_TEXT: usize = 512;

/// A parsed command; strings borrow from the message text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// `SET name value`.
    Set {
        /// The parameter, as written (compare it ignoring ASCII case).
        name: &'a str,
        /// The value, surrounding spaces removed.
        value: &'a str,
    },
    /// `STATUS`.
    Status,
    /// `REBOOT`.
    Reboot,
}

impl fmt::Display for Command<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Set { name, value } => write!(f, "SET {name} {value}"),
            Command::Status => f.write_str("STATUS"),
            Command::Reboot => f.write_str("REBOOT"),
        }
    }
}

/// Why a message's text is not a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// The text is empty (or the message has no text part).
    Empty,
    /// The first word is not a known command.
    Unknown,
    /// `SET` without name or value.
    MissingArgument,
    /// The name is empty, too long or has characters outside `A-Z a-z 0-9 _ - .`.
    BadName,
    /// The value is longer than [`MAX_VALUE`] or holds control characters.
    BadValue,
    /// `STATUS` or `REBOOT` followed by more words.
    UnexpectedArgument,
    /// More text follows the command (one command per message).
    MoreThanOneCommand,
    /// The text is longer than [`MAX_TEXT`] bytes, or not UTF-8.
    TooLong,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ParseError::Empty => "no command found (the message text is empty)",
            ParseError::Unknown => "unknown command (known: SET <name> <value>, STATUS, REBOOT)",
            ParseError::MissingArgument => "SET needs a name and a value",
            ParseError::BadName => "invalid name (1-32 of A-Z a-z 0-9 _ - .)",
            ParseError::BadValue => "invalid value (1-64 bytes, no control characters)",
            ParseError::UnexpectedArgument => "this command takes no argument",
            ParseError::MoreThanOneCommand => "one command per message",
            ParseError::TooLong => "the message text is too long",
        })
    }
}

/// Parses the text of a command message (see the [module documentation](self)).
///
/// ```
/// use postwire_app::{parse_command, Command};
/// assert_eq!(parse_command("\r\n  set Interval 30 \r\n-- \r\nops"), Ok(Command::Set { name: "Interval", value: "30" }));
/// assert_eq!(parse_command("Status"), Ok(Command::Status));
/// assert!(parse_command("FORMAT disk").is_err());
/// ```
pub fn parse_command(text: &str) -> Result<Command<'_>, ParseError> {
    if text.len() > MAX_TEXT {
        return Err(ParseError::TooLong);
    }
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .skip_while(|l| l.trim().is_empty());
    let line = lines.next().ok_or(ParseError::Empty)?.trim();
    for rest in lines {
        if rest == "-- " || rest.starts_with('>') {
            break;
        }
        if !rest.trim().is_empty() {
            return Err(ParseError::MoreThanOneCommand);
        }
    }
    let (word, args) = match line.split_once([' ', '\t']) {
        Some((w, a)) => (w, a.trim()),
        None => (line, ""),
    };
    if word.eq_ignore_ascii_case("SET") {
        let (name, value) = args
            .split_once([' ', '\t'])
            .map(|(n, v)| (n, v.trim()))
            .ok_or(ParseError::MissingArgument)?;
        if name.is_empty()
            || name.len() > MAX_NAME
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(ParseError::BadName);
        }
        if value.is_empty() {
            return Err(ParseError::MissingArgument);
        }
        if value.len() > MAX_VALUE || value.chars().any(char::is_control) {
            return Err(ParseError::BadValue);
        }
        Ok(Command::Set { name, value })
    } else if word.eq_ignore_ascii_case("STATUS") || word.eq_ignore_ascii_case("REBOOT") {
        if !args.is_empty() {
            return Err(ParseError::UnexpectedArgument);
        }
        Ok(if word.eq_ignore_ascii_case("STATUS") {
            Command::Status
        } else {
            Command::Reboot
        })
    } else {
        Err(ParseError::Unknown)
    }
}

/// What became of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Ok,
    /// The device refused or failed (the text written says why).
    Failed,
    /// Done; the device wants to restart. The job files the message and returns (with
    /// `reboot` set in its report) before the firmware restarts, so the command is not
    /// seen again.
    Reboot,
    /// The message was not a valid command; the device was not called.
    Invalid,
    /// The command was claimed but the device was reset before its outcome was recorded
    /// (only possible with a journal kept in flash); it is not run again.
    Unknown,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Reboot => "ok, rebooting",
            Outcome::Invalid => "invalid command",
            Outcome::Unknown => "interrupted, outcome unknown, not repeated",
        })
    }
}

/// The device: executes commands.
pub trait Device {
    /// Executes `command` and writes a short human-readable result to `out` (it becomes
    /// the reply's text; at most about 256 bytes are kept). Called at most once per command
    /// message. Must not block for long: the mailbox connection waits meanwhile.
    fn execute(&mut self, command: &Command<'_>, out: &mut dyn fmt::Write) -> Outcome;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(
            parse_command("SET interval 30"),
            Ok(Command::Set {
                name: "interval",
                value: "30"
            })
        );
        assert_eq!(
            parse_command("  sEt  led.color   dark red  \r\n\r\n"),
            Ok(Command::Set {
                name: "led.color",
                value: "dark red"
            })
        );
        assert_eq!(parse_command("status\r\n"), Ok(Command::Status));
        assert_eq!(parse_command("\n\nREBOOT"), Ok(Command::Reboot));
        assert_eq!(
            parse_command("reboot\r\n-- \r\nOps team\r\n"),
            Ok(Command::Reboot)
        );
        assert_eq!(
            parse_command("STATUS\r\n\r\n> SET x 1\r\n> old"),
            Ok(Command::Status)
        );
    }

    #[test]
    fn errors() {
        assert_eq!(parse_command(""), Err(ParseError::Empty));
        assert_eq!(parse_command(" \r\n\t\r\n"), Err(ParseError::Empty));
        assert_eq!(parse_command("FORMAT c:"), Err(ParseError::Unknown));
        assert_eq!(parse_command("SETX a b"), Err(ParseError::Unknown));
        assert_eq!(parse_command("SET"), Err(ParseError::MissingArgument));
        assert_eq!(
            parse_command("SET interval"),
            Err(ParseError::MissingArgument)
        );
        assert_eq!(parse_command("SET a/b 1"), Err(ParseError::BadName));
        assert_eq!(
            parse_command(&std::format!("SET {} 1", "n".repeat(33))),
            Err(ParseError::BadName)
        );
        assert_eq!(
            parse_command(&std::format!("SET n {}", "v".repeat(65))),
            Err(ParseError::BadValue)
        );
        assert_eq!(parse_command("SET n a\u{7}b"), Err(ParseError::BadValue));
        assert_eq!(
            parse_command("STATUS now"),
            Err(ParseError::UnexpectedArgument)
        );
        assert_eq!(
            parse_command("STATUS\r\nREBOOT\r\n"),
            Err(ParseError::MoreThanOneCommand)
        );
        assert_eq!(
            parse_command(&"x".repeat(MAX_TEXT + 1)),
            Err(ParseError::TooLong)
        );
    }
}
