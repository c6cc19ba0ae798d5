//! Framing: split the byte stream into responses, honouring literal announcements.

use super::Error;

/// If `line` (without LF; a final CR is ignored) ends with a literal announcement `{N}`,
/// `{N+}` or `~{N}`, return `N`. `Err` when the number overflows `u64`.
pub(crate) fn literal_at_line_end(line: &[u8]) -> Option<Result<u64, ()>> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let body = line.strip_suffix(b"}")?;
    let body = body.strip_suffix(b"+").unwrap_or(body);
    let digits_start = body
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |p| p + 1);
    let digits = body.get(digits_start..)?;
    if digits.is_empty() || body.get(digits_start.checked_sub(1)?) != Some(&b'{') {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = match v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
        {
            Some(v) => v,
            None => return Some(Err(())),
        };
    }
    Some(Ok(v))
}

/// Limits for parsing from a complete slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Limits {
    /// Longest line fragment (bytes between the start of a line or the end of a literal and
    /// the next LF, LF included) that is accepted.
    pub max_line: usize,
    /// Largest literal that is accepted.
    pub max_literal: u64,
}

impl Limits {
    /// 64 KiB line fragments, literals up to 1 GiB.
    pub const DEFAULT: Limits = Limits {
        max_line: 64 * 1024,
        max_literal: 1 << 30,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Result of framing a slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Framed {
    /// A complete response of this many bytes (terminator included).
    Complete(usize),
    /// The input ends inside a response; `needed` = announced literal bytes not yet present.
    Incomplete {
        /// Literal bytes announced but not yet present (0 when waiting for a line end).
        needed: u64,
    },
}

/// Find the end of the first response in `input`: lines are followed as long as they end
/// with a literal announcement, whose bytes are skipped without being looked at.
pub fn frame_response(input: &[u8], limits: &Limits) -> Result<Framed, Error> {
    let mut line_start = 0;
    loop {
        let rest = input.get(line_start..).unwrap_or_default();
        let Some(lf) = memchr::memchr(b'\n', rest) else {
            if rest.len() >= limits.max_line {
                return Err(Error::LineTooLong);
            }
            return Ok(Framed::Incomplete { needed: 0 });
        };
        if lf + 1 > limits.max_line {
            return Err(Error::LineTooLong);
        }
        let line = rest.get(..lf).unwrap_or_default();
        match literal_at_line_end(line) {
            None => return Ok(Framed::Complete(line_start + lf + 1)),
            Some(Err(())) => {
                return Err(Error::Malformed {
                    offset: line_start + lf,
                });
            }
            Some(Ok(n)) => {
                if n > limits.max_literal {
                    return Err(Error::LiteralOverLimit { len: n });
                }
                let data_start = line_start + lf + 1;
                let have = (input.len() - data_start) as u64;
                if have < n {
                    return Ok(Framed::Incomplete { needed: n - have });
                }
                // n <= have <= usize::MAX
                line_start = data_start + n as usize;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_detection() {
        assert_eq!(literal_at_line_end(b"a {5}\r"), Some(Ok(5)));
        assert_eq!(literal_at_line_end(b"a {5+}"), Some(Ok(5)));
        assert_eq!(literal_at_line_end(b"a ~{0}"), Some(Ok(0)));
        assert_eq!(literal_at_line_end(b"{}"), None);
        assert_eq!(literal_at_line_end(b"5}"), None);
        assert_eq!(
            literal_at_line_end(b"{99999999999999999999999}"),
            Some(Err(()))
        );
    }

    #[test]
    fn framing() {
        let l = Limits::DEFAULT;
        assert_eq!(frame_response(b"* OK\r\nx", &l), Ok(Framed::Complete(6)));
        assert_eq!(
            frame_response(b"* 1 FETCH (BODY[] {3}\r\nab", &l),
            Ok(Framed::Incomplete { needed: 1 })
        );
        assert_eq!(
            frame_response(b"* 1 FETCH (BODY[] {3}\r\nabc)\r\n", &l),
            Ok(Framed::Complete(29))
        );
        // Literal bytes are not parsed: a LF inside the literal is data.
        assert_eq!(
            frame_response(b"* 1 FETCH (BODY[] {2}\r\n\r\n)\r\n", &l),
            Ok(Framed::Complete(28))
        );
    }
}
