//! Small ASCII byte-string helpers used for argument validation.

/// ASCII case-insensitive equality of two byte strings.
///
/// ```
/// use postwire_core::ascii::eq_ignore_case;
/// assert!(eq_ignore_case(b"Cram-MD5", b"CRAM-md5"));
/// assert!(!eq_ignore_case(b"PLAIN", b"PLAINX"));
/// ```
pub fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// ASCII case-insensitive prefix test.
///
/// ```
/// use postwire_core::ascii::starts_with_ignore_case;
/// assert!(starts_with_ignore_case(b"auth=PLAIN", b"AUTH="));
/// assert!(!starts_with_ignore_case(b"AU", b"AUTH="));
/// ```
pub fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// Whether `s` contains CR, LF or NUL: bytes that must never appear inside a command
/// argument or header value (they would end or corrupt the command line).
///
/// ```
/// use postwire_core::ascii::has_ctl_crlf_nul;
/// assert!(has_ctl_crlf_nul(b"evil\r\nRCPT TO:<x>"));
/// assert!(has_ctl_crlf_nul(b"a\0b"));
/// assert!(!has_ctl_crlf_nul(b"fine\tvalue"));
/// ```
pub fn has_ctl_crlf_nul(s: &[u8]) -> bool {
    s.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0))
}

/// Whether `s` contains any ASCII control byte (0x00..=0x1F or 0x7F).
///
/// ```
/// use postwire_core::ascii::has_ctl;
/// assert!(has_ctl(b"a\tb"));
/// assert!(!has_ctl("ä b".as_bytes()));
/// ```
pub fn has_ctl(s: &[u8]) -> bool {
    s.iter().any(|&b| b < 0x20 || b == 0x7f)
}

/// Remove leading and trailing ASCII whitespace (space, tab, CR, LF, FF).
///
/// ```
/// use postwire_core::ascii::trim;
/// assert_eq!(trim(b"  x y \r\n"), b"x y");
/// ```
pub fn trim(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert!(eq_ignore_case(b"", b""));
        assert!(!eq_ignore_case(b"a", b"b"));
        assert!(has_ctl_crlf_nul(b"\n"));
        assert!(has_ctl_crlf_nul(b"\r"));
        assert!(!has_ctl_crlf_nul(b""));
        assert!(starts_with_ignore_case(b"abc", b""));
        assert_eq!(trim(b"   "), b"");
    }
}
