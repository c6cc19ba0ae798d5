//! [`TextBuf`]: a bounded UTF-8 string for results, subjects and addresses.

use core::fmt;

/// A string of at most `N` bytes, written with [`core::fmt::Write`]. Text that does not fit
/// is cut at a character boundary and [`truncated`](Self::truncated) is set; writing never
/// fails, so a `write!` into it cannot abort a job.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TextBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
    truncated: bool,
}

impl<const N: usize> TextBuf<N> {
    /// An empty string.
    pub const fn new() -> Self {
        TextBuf {
            buf: [0; N],
            len: 0,
            truncated: false,
        }
    }

    /// A string holding (the beginning of) `s`.
    pub fn from_str_lossy(s: &str) -> Self {
        let mut t = Self::new();
        t.push_str(s);
        t
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        let bytes = self.buf.get(..self.len).unwrap_or_default();
        // Only whole characters are ever copied in; fall back to the valid prefix anyway.
        match core::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => core::str::from_utf8(bytes.get(..e.valid_up_to()).unwrap_or_default())
                .unwrap_or_default(),
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether some text did not fit.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Empties it.
    pub fn clear(&mut self) {
        self.len = 0;
        self.truncated = false;
    }

    /// Appends as much of `s` as fits (whole characters).
    pub fn push_str(&mut self, s: &str) {
        let room = N - self.len;
        let mut take = s.len().min(room);
        while take > 0 && !s.is_char_boundary(take) {
            take -= 1;
        }
        if take < s.len() {
            self.truncated = true;
        }
        if let (Some(dst), Some(src)) = (
            self.buf.get_mut(self.len..self.len + take),
            s.as_bytes().get(..take),
        ) {
            dst.copy_from_slice(src);
            self.len += take;
        }
    }

    /// Appends the UTF-8 prefix of `bytes` that fits; invalid UTF-8 ends the copy.
    pub fn push_utf8_lossy(&mut self, bytes: &[u8]) {
        let valid = match core::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => {
                self.truncated = true;
                core::str::from_utf8(bytes.get(..e.valid_up_to()).unwrap_or_default())
                    .unwrap_or_default()
            }
        };
        self.push_str(valid);
    }
}

impl<const N: usize> Default for TextBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for TextBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_str(s);
        Ok(())
    }
}

impl<const N: usize> fmt::Display for TextBuf<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> fmt::Debug for TextBuf<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::TextBuf;
    use core::fmt::Write;

    #[test]
    fn truncates_at_char_boundary() {
        let mut t = TextBuf::<5>::new();
        write!(t, "ab°cd").unwrap(); // ° is 2 bytes: "ab°c" = 5 bytes
        assert_eq!(t.as_str(), "ab°c");
        assert!(t.truncated());
        let mut t = TextBuf::<3>::new();
        t.push_str("a°°");
        assert_eq!(t.as_str(), "a°");
        t.clear();
        t.push_utf8_lossy(b"x\xffy");
        assert_eq!(t.as_str(), "x");
        assert!(t.truncated());
    }
}
