//! The character sets the reader converts to UTF-8: UTF-8 itself, US-ASCII, ISO-8859-1,
//! ISO-8859-15, Windows-1252 and ISO-8859-6 (Arabic).
//!
//! As in the WHATWG Encoding Standard (and in every mail client), the labels `us-ascii` and
//! `iso-8859-1` (`latin1`, ...) are decoded as Windows-1252, whose only difference from
//! ISO-8859-1 is that bytes 0x80–0x9F are the printable characters senders actually meant.
//! Every other charset is reported as [`Charset::Other`] and its bytes are left as they are.
//!
//! ```
//! use postwire_mime::charset::Charset;
//! let cs = Charset::from_label(b"ISO-8859-15");
//! assert_eq!(cs, Charset::Iso8859_15);
//! let mut out = [0u8; 8];
//! let (used, n) = cs.to_utf8(&[0xA4, b'5'], &mut out);
//! assert_eq!((used, &out[..n]), (2, "€5".as_bytes()));
//! ```

/// A character set known to the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Charset {
    /// UTF-8 (bytes pass through unchanged).
    Utf8,
    /// US-ASCII, ISO-8859-1 and Windows-1252 (decoded as Windows-1252).
    Windows1252,
    /// ISO-8859-15 (Latin-9).
    Iso8859_15,
    /// ISO-8859-6 (Arabic). Its unassigned bytes decode as U+FFFD.
    Iso8859_6,
    /// Any other charset: not converted.
    Other,
}

/// Windows-1252 0x80..=0x9F (0 = undefined, decoded as the C1 control of the same value).
const CP1252_HIGH: [u16; 32] = [
    0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039,
    0x0152, 0, 0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC,
    0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178,
];

fn strip_label(label: &[u8]) -> &[u8] {
    let label = label.trim_ascii();
    let label = label
        .strip_prefix(b"\"")
        .and_then(|l| l.strip_suffix(b"\""))
        .unwrap_or(label);
    // RFC 2231 language suffix: `utf-8*en`.
    match label.iter().position(|&b| b == b'*') {
        Some(p) => label.get(..p).unwrap_or_default(),
        None => label,
    }
}

impl Charset {
    /// The charset named by a MIME label (case-insensitive; an RFC 2231 `*language` suffix
    /// is ignored).
    pub fn from_label(label: &[u8]) -> Charset {
        let l = strip_label(label);
        const UTF8: &[&[u8]] = &[b"utf-8", b"utf8", b"unicode-1-1-utf-8"];
        const CP1252: &[&[u8]] = &[
            b"us-ascii",
            b"ascii",
            b"ansi_x3.4-1968",
            b"iso-ir-6",
            b"iso646-us",
            b"us",
            b"iso-8859-1",
            b"iso8859-1",
            b"iso_8859-1",
            b"iso88591",
            b"latin1",
            b"l1",
            b"cp819",
            b"windows-1252",
            b"cp1252",
            b"x-cp1252",
        ];
        const LATIN9: &[&[u8]] = &[
            b"iso-8859-15",
            b"iso8859-15",
            b"iso_8859-15",
            b"iso885915",
            b"latin-9",
            b"latin9",
            b"l9",
        ];
        const ARABIC: &[&[u8]] = &[
            b"iso-8859-6",
            b"iso8859-6",
            b"iso_8859-6",
            b"iso88596",
            b"arabic",
            b"asmo-708",
            b"ecma-114",
            b"iso-ir-127",
            b"csisolatinarabic",
        ];
        let is = |set: &[&[u8]]| set.iter().any(|s| l.eq_ignore_ascii_case(s));
        if is(UTF8) {
            Charset::Utf8
        } else if is(CP1252) {
            Charset::Windows1252
        } else if is(LATIN9) {
            Charset::Iso8859_15
        } else if is(ARABIC) {
            Charset::Iso8859_6
        } else {
            Charset::Other
        }
    }

    /// Whether `label` names a charset whose bytes 0x00–0x7F are ASCII (the ISO-8859 family,
    /// the Windows code pages, KOI8, the EUC and GB encodings, Big5, Shift_JIS): text in such a
    /// charset that happens to be pure ASCII can be shown even when it cannot be converted.
    pub fn is_ascii_compatible_label(label: &[u8]) -> bool {
        let l = strip_label(label);
        let starts = |p: &[u8]| postwire_core::ascii::starts_with_ignore_case(l, p);
        Charset::from_label(l) != Charset::Other
            || starts(b"iso-8859-")
            || starts(b"iso8859-")
            || starts(b"windows-125")
            || starts(b"cp125")
            || starts(b"koi8")
            || starts(b"euc-")
            || starts(b"gb")
            || starts(b"big5")
            || starts(b"shift_jis")
            || starts(b"sjis")
            || starts(b"tis-620")
    }

    /// The Unicode scalar for byte `b` (single-byte charsets; `None` for UTF-8 and Other).
    pub fn decode_byte(self, b: u8) -> Option<char> {
        let cp: u32 = match self {
            Charset::Utf8 | Charset::Other => return None,
            Charset::Windows1252 => match b {
                0x80..=0x9F => match CP1252_HIGH.get(usize::from(b - 0x80)) {
                    Some(&0) | None => u32::from(b),
                    Some(&c) => u32::from(c),
                },
                _ => u32::from(b),
            },
            Charset::Iso8859_15 => match b {
                0xA4 => 0x20AC,
                0xA6 => 0x0160,
                0xA8 => 0x0161,
                0xB4 => 0x017D,
                0xB8 => 0x017E,
                0xBC => 0x0152,
                0xBD => 0x0153,
                0xBE => 0x0178,
                _ => u32::from(b),
            },
            // Unicode's 8859-6.TXT: the Arabic letters are contiguous runs.
            Charset::Iso8859_6 => match b {
                0x00..=0xA0 | 0xA4 | 0xAD => u32::from(b),
                0xAC => 0x060C,
                0xBB => 0x061B,
                0xBF => 0x061F,
                0xC1..=0xDA => 0x0621 + u32::from(b - 0xC1),
                0xE0..=0xF2 => 0x0640 + u32::from(b - 0xE0),
                _ => return Some(char::REPLACEMENT_CHARACTER),
            },
        };
        char::from_u32(cp)
    }

    /// Convert `input` to UTF-8 into `out`; returns `(consumed, written)`. UTF-8 and Other
    /// are copied unchanged. A character that does not fit is left for the next call, so
    /// progress is guaranteed whenever `out.len() >= 3`.
    pub fn to_utf8(self, input: &[u8], out: &mut [u8]) -> (usize, usize) {
        match self {
            Charset::Utf8 | Charset::Other => {
                let n = input.len().min(out.len());
                if let (Some(d), Some(s)) = (out.get_mut(..n), input.get(..n)) {
                    d.copy_from_slice(s);
                }
                (n, n)
            }
            _ => {
                let mut o = 0;
                let mut i = 0;
                for &b in input {
                    let c = self.decode_byte(b).unwrap_or(char::REPLACEMENT_CHARACTER);
                    let len = c.len_utf8();
                    let Some(dst) = out.get_mut(o..o + len) else {
                        break;
                    };
                    c.encode_utf8(dst);
                    o += len;
                    i += 1;
                }
                (i, o)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_bytes() {
        assert_eq!(Charset::from_label(b"UTF-8"), Charset::Utf8);
        assert_eq!(Charset::from_label(b"utf-8*en"), Charset::Utf8);
        assert_eq!(Charset::from_label(b"\"us-ascii\""), Charset::Windows1252);
        assert_eq!(Charset::from_label(b"Latin1"), Charset::Windows1252);
        assert_eq!(Charset::from_label(b"ISO-2022-JP"), Charset::Other);
        assert!(Charset::is_ascii_compatible_label(b"ISO-8859-2"));
        assert!(!Charset::is_ascii_compatible_label(b"utf-16"));
        assert!(!Charset::is_ascii_compatible_label(b"garbage"));
        assert_eq!(Charset::Windows1252.decode_byte(0x80), Some('€'));
        assert_eq!(Charset::Windows1252.decode_byte(0x81), Some('\u{81}'));
        assert_eq!(Charset::Windows1252.decode_byte(0xE9), Some('é'));
        assert_eq!(Charset::Iso8859_15.decode_byte(0xBD), Some('œ'));
        assert_eq!(Charset::from_label(b"ISO-8859-6"), Charset::Iso8859_6);
        assert_eq!(Charset::Iso8859_6.decode_byte(0xC7), Some('\u{0627}'));
        assert_eq!(Charset::Iso8859_6.decode_byte(0xAC), Some('\u{060C}'));
        assert_eq!(Charset::Iso8859_6.decode_byte(0xF2), Some('\u{0652}'));
        assert_eq!(Charset::Iso8859_6.decode_byte(0xE0), Some('\u{0640}'));
        assert_eq!(Charset::Iso8859_6.decode_byte(0xA1), Some('\u{FFFD}'));
        assert_eq!(Charset::Iso8859_6.decode_byte(0xFF), Some('\u{FFFD}'));
        let mut out = [0u8; 4];
        assert_eq!(
            Charset::Windows1252.to_utf8(&[0x80, 0x80], &mut out),
            (1, 3)
        );
        assert_eq!(Charset::Other.to_utf8(b"abcdef", &mut out), (4, 4));
    }
}
