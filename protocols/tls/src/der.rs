//! A minimal DER reader: just enough to split certificate bundles and to read the names in a
//! leaf certificate. Every function returns `None` on malformed input; nothing here panics.

use core::net::IpAddr;

/// Tag of a universal SEQUENCE.
pub(crate) const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const INTEGER: u8 = 0x02;
const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;
const VERSION: u8 = 0xA0;
const EXTENSIONS: u8 = 0xA3;
const DNS_NAME: u8 = 0x82;
const IP_ADDRESS: u8 = 0x87;
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1D, 0x11];

/// Splits one TLV off `input`: `(tag, value, rest)`. Only low tag numbers and definite lengths
/// of up to four length bytes are accepted (X.509 needs nothing else).
pub(crate) fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1F == 0x1F {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (len_bytes, rest) = rest.split_at(n);
        let mut len = 0usize;
        for &b in len_bytes {
            len = len.checked_mul(256)?.checked_add(usize::from(b))?;
        }
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    Some((tag, value, rest))
}

/// Like [`tlv`], but the tag must be `want`.
fn expect(input: &[u8], want: u8) -> Option<(&[u8], &[u8])> {
    match tlv(input)? {
        (tag, value, rest) if tag == want => Some((value, rest)),
        _ => None,
    }
}

/// The names a leaf certificate is valid for, as far as host-name checks are concerned.
#[derive(Clone, Copy)]
pub(crate) struct LeafNames<'c> {
    /// Contents of the subjectAltName GeneralNames SEQUENCE, if the extension is present.
    san: Option<&'c [u8]>,
    /// The subject's common name (the last one, as embedded-tls reads it).
    cn: Option<&'c [u8]>,
}

impl<'c> LeafNames<'c> {
    /// Parses `cert` (a DER X.509 certificate) far enough to find its names.
    pub(crate) fn parse(cert: &'c [u8]) -> Option<Self> {
        let (cert_body, _) = expect(cert, SEQUENCE)?;
        let (tbs, _) = expect(cert_body, SEQUENCE)?;
        let mut rest = tbs;
        if tbs.first() == Some(&VERSION) {
            rest = tlv(rest)?.2;
        }
        rest = expect(rest, INTEGER)?.1; // serialNumber
        rest = expect(rest, SEQUENCE)?.1; // signature
        rest = expect(rest, SEQUENCE)?.1; // issuer
        rest = expect(rest, SEQUENCE)?.1; // validity
        let (subject, after_subject) = expect(rest, SEQUENCE)?;
        rest = expect(after_subject, SEQUENCE)?.1; // subjectPublicKeyInfo

        let cn = common_name(subject)?;
        let mut san = None;
        while !rest.is_empty() {
            let (tag, value, next) = tlv(rest)?;
            rest = next;
            if tag == EXTENSIONS {
                san = subject_alt_names(value)?;
            }
        }
        Some(Self { san, cn })
    }

    /// Whether the certificate lists `ip` as an iPAddress subjectAltName.
    pub(crate) fn has_ip(&self, ip: IpAddr) -> bool {
        let mut rest = self.san.unwrap_or(&[]);
        while let Some((tag, value, next)) = tlv(rest) {
            rest = next;
            if tag != IP_ADDRESS {
                continue;
            }
            let matches = match ip {
                IpAddr::V4(v4) => value == v4.octets(),
                IpAddr::V6(v6) => value == v6.octets(),
            };
            if matches {
                return true;
            }
        }
        false
    }

    /// A DNS name that embedded-tls's own name check accepts for this certificate: the first
    /// dNSName, or (without dNSNames) the common name. A leading `*` is replaced by `x`, so that
    /// a wildcard name matches itself. `None` when the certificate has no such name.
    pub(crate) fn dns_name<'b>(&self, buf: &'b mut [u8; 64]) -> Option<&'b str> {
        let mut first_dns = None;
        let mut rest = self.san.unwrap_or(&[]);
        while let Some((tag, value, next)) = tlv(rest) {
            rest = next;
            if tag == DNS_NAME {
                first_dns = Some(value);
                break;
            }
        }
        let name = first_dns.or(self.cn)?;
        let out = buf.get_mut(..name.len())?;
        out.copy_from_slice(name);
        if let Some(first) = out.first_mut()
            && *first == b'*'
        {
            *first = b'x';
        }
        core::str::from_utf8(out).ok()
    }
}

/// The last common name in `subject` (first attribute of each RDN, as embedded-tls reads it).
/// `Some(None)` when there is none, `None` when the subject is malformed.
fn common_name(subject: &[u8]) -> Option<Option<&[u8]>> {
    let mut cn = None;
    let mut rest = subject;
    while !rest.is_empty() {
        let (rdn, next) = expect(rest, SET)?;
        rest = next;
        let (attr, _) = expect(rdn, SEQUENCE)?;
        let (oid, value) = expect(attr, OID)?;
        if oid == OID_COMMON_NAME {
            cn = Some(tlv(value)?.1);
        }
    }
    Some(cn)
}

/// The GeneralNames contents of the subjectAltName extension in `[3] Extensions`.
fn subject_alt_names(explicit: &[u8]) -> Option<Option<&[u8]>> {
    let (mut exts, _) = expect(explicit, SEQUENCE)?;
    while !exts.is_empty() {
        let (ext, next) = expect(exts, SEQUENCE)?;
        exts = next;
        let (oid, mut rest) = expect(ext, OID)?;
        if rest.first() == Some(&BOOLEAN) {
            rest = tlv(rest)?.2;
        }
        let (value, _) = expect(rest, OCTET_STRING)?;
        if oid == OID_SUBJECT_ALT_NAME {
            return Some(Some(expect(value, SEQUENCE)?.0));
        }
    }
    Some(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_lengths() {
        assert_eq!(tlv(&[0x30, 0x00]), Some((0x30, &[][..], &[][..])));
        assert_eq!(
            tlv(&[0x04, 0x01, 0xAA, 0xBB]),
            Some((0x04, &[0xAA][..], &[0xBB][..]))
        );
        assert_eq!(
            tlv(&[0x04, 0x81, 0x01, 0xAA]),
            Some((0x04, &[0xAA][..], &[][..]))
        );
        assert_eq!(tlv(&[0x04, 0x02, 0xAA]), None);
        assert_eq!(tlv(&[0x04, 0x80]), None);
        assert_eq!(tlv(&[0x04, 0x85, 1, 1, 1, 1, 1]), None);
        assert_eq!(tlv(&[0x04, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]), None);
        assert_eq!(tlv(&[0x1F, 0x00]), None);
        assert_eq!(tlv(&[]), None);
    }

    #[test]
    fn garbage_never_panics() {
        let mut buf = [0u8; 64];
        for len in 0..40 {
            for seed in 0..=255u8 {
                let data: [u8; 40] = core::array::from_fn(|i| {
                    (i as u8).wrapping_mul(seed).wrapping_add(seed) ^ 0x30
                });
                if let Some(names) = LeafNames::parse(&data[..len]) {
                    let _ = names.has_ip(IpAddr::from([127, 0, 0, 1]));
                    let _ = names.dns_name(&mut buf);
                }
            }
        }
    }
}
