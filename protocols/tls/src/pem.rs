//! Certificates from PEM or DER, without an allocator.
//!
//! A firmware can bake a CA bundle in with `include_bytes!` and decode it at start-up:
//!
//! ```
//! # let bundle: &[u8] = &[];
//! // static BUNDLE: &[u8] = include_bytes!("ca-bundle.pem");
//! let mut der = [0u8; 4096];
//! let mut anchors: [&[u8]; 4] = [&[]; 4];
//! if let Ok(n) = postwire_tls::pem::decode_certificates(bundle, &mut der, &mut anchors) {
//!     let trust = postwire_tls::Trust::Anchors(&anchors[..n]);
//! #   let _ = trust;
//! }
//! ```

use base64ct::{Base64, Encoding};

use crate::der::{SEQUENCE, tlv};

const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
const END: &[u8] = b"-----END CERTIFICATE-----";

/// Why a certificate bundle could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PemError {
    /// A CERTIFICATE block without its END line, with bad Base64, or whose contents (or the
    /// DER input) are not a DER SEQUENCE.
    Malformed,
    /// The output buffer is too small for the decoded certificates.
    BufferTooSmall,
    /// More certificates than slots in the output slice.
    TooManyCertificates,
    /// The input holds no certificate.
    NoCertificates,
}

impl core::fmt::Display for PemError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Malformed => "malformed certificate (PEM or DER)",
            Self::BufferTooSmall => "buffer too small for the decoded certificates",
            Self::TooManyCertificates => "too many certificates",
            Self::NoCertificates => "no certificate found",
        })
    }
}

impl core::error::Error for PemError {}

/// Iterator over the DER certificates in a bundle; see [`certificates`].
pub struct Certificates<'a> {
    rest: &'a [u8],
    out: &'a mut [u8],
    der: bool,
}

/// The certificates in `input`, each as DER.
///
/// `input` is either PEM (any number of `-----BEGIN CERTIFICATE-----` blocks; text outside
/// them and other block types are ignored, line breaks may be LF or CRLF) or DER (one or
/// more concatenated certificates; recognised by the first byte, 0x30). PEM blocks are
/// decoded into successive parts of `out`; DER certificates are returned as slices of
/// `input`, without copying. A bundle needs about 3/4 of its PEM size in `out`.
///
/// The iterator ends after the first error.
pub fn certificates<'a>(input: &'a [u8], out: &'a mut [u8]) -> Certificates<'a> {
    Certificates {
        rest: input,
        out,
        der: input.first() == Some(&SEQUENCE),
    }
}

/// Decodes all certificates in `input` (see [`certificates`]) into `out` and stores them in
/// `certs`; returns how many there are, so that `Trust::Anchors(&certs[..n])` trusts them.
pub fn decode_certificates<'a>(
    input: &'a [u8],
    out: &'a mut [u8],
    certs: &mut [&'a [u8]],
) -> Result<usize, PemError> {
    let mut n = 0;
    for cert in certificates(input, out) {
        let slot = certs.get_mut(n).ok_or(PemError::TooManyCertificates)?;
        *slot = cert?;
        n += 1;
    }
    if n == 0 {
        Err(PemError::NoCertificates)
    } else {
        Ok(n)
    }
}

impl<'a> Iterator for Certificates<'a> {
    type Item = Result<&'a [u8], PemError>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = if self.der {
            self.next_der()
        } else {
            self.next_pem()
        };
        if let Some(Err(_)) = item {
            self.rest = &[];
        }
        item
    }
}

impl<'a> Certificates<'a> {
    fn next_der(&mut self) -> Option<Result<&'a [u8], PemError>> {
        if self.rest.is_empty() {
            return None;
        }
        Some(match tlv(self.rest) {
            Some((SEQUENCE, _, rest)) => {
                let len = self.rest.len() - rest.len();
                let (cert, rest) = self.rest.split_at(len);
                self.rest = rest;
                Ok(cert)
            }
            _ => Err(PemError::Malformed),
        })
    }

    fn next_pem(&mut self) -> Option<Result<&'a [u8], PemError>> {
        let start = find(self.rest, BEGIN)? + BEGIN.len();
        let after_begin = self.rest.get(start..)?;
        let Some(end) = find(after_begin, END) else {
            return Some(Err(PemError::Malformed));
        };
        let (body, rest) = after_begin.split_at(end);
        self.rest = rest.get(END.len()..).unwrap_or(&[]);
        let out = core::mem::take(&mut self.out);
        Some(match decode_base64(body, out) {
            Ok(len) => {
                let (cert, rest) = out.split_at_mut(len);
                self.out = rest;
                match tlv(cert) {
                    Some((SEQUENCE, _, [])) => Ok(&*cert),
                    _ => Err(PemError::Malformed),
                }
            }
            Err(e) => Err(e),
        })
    }
}

/// Position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Decodes padded Base64 with embedded white space into `out`; returns the length.
fn decode_base64(body: &[u8], out: &mut [u8]) -> Result<usize, PemError> {
    let mut quad = [0u8; 4];
    let mut filled = 0;
    let mut len = 0;
    let mut finished = false;
    for &b in body {
        if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
            continue;
        }
        if finished {
            return Err(PemError::Malformed);
        }
        if let Some(slot) = quad.get_mut(filled) {
            *slot = b;
        }
        filled += 1;
        if filled == 4 {
            let mut bytes = [0u8; 3];
            let decoded = Base64::decode(quad, &mut bytes).map_err(|_| PemError::Malformed)?;
            let dst = out
                .get_mut(len..len + decoded.len())
                .ok_or(PemError::BufferTooSmall)?;
            dst.copy_from_slice(decoded);
            len += decoded.len();
            finished = quad[3] == b'=';
            filled = 0;
        }
    }
    if filled != 0 || len == 0 {
        return Err(PemError::Malformed);
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    // A tiny "certificate": SEQUENCE { INTEGER 1 } = 30 03 02 01 01 -> "MAMCAQE="
    const PEM: &[u8] =
        b"junk\n-----BEGIN CERTIFICATE-----\r\nMAMC\r\nAQE=\r\n-----END CERTIFICATE-----\n\
-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n\
-----BEGIN CERTIFICATE-----\nMAQCAgEA\n-----END CERTIFICATE-----\n";

    #[test]
    fn pem_bundle() {
        let mut out = [0u8; 64];
        let mut certs: [&[u8]; 4] = [&[]; 4];
        let n = decode_certificates(PEM, &mut out, &mut certs);
        assert_eq!(n, Ok(2));
        assert_eq!(certs[0], &[0x30, 0x03, 0x02, 0x01, 0x01][..]);
        assert_eq!(certs[1], &[0x30, 0x04, 0x02, 0x02, 0x01, 0x00][..]);
    }

    #[test]
    fn der_bundle() {
        let der = [0x30, 0x03, 0x02, 0x01, 0x01, 0x30, 0x00];
        let mut certs: [&[u8]; 4] = [&[]; 4];
        assert_eq!(decode_certificates(&der, &mut [], &mut certs), Ok(2));
        assert_eq!(certs[1], &[0x30, 0x00][..]);
        assert_eq!(
            decode_certificates(&der[..4], &mut [], &mut certs),
            Err(PemError::Malformed)
        );
    }

    /// Decodes `input` with `out_len` bytes of output and 4 slots.
    fn count(input: &[u8], out_len: usize) -> Result<usize, PemError> {
        let mut out = [0u8; 64];
        let mut certs: [&[u8]; 4] = [&[]; 4];
        decode_certificates(input, &mut out[..out_len], &mut certs)
    }

    #[test]
    fn errors() {
        let mut out = [0u8; 64];
        let mut one: [&[u8]; 1] = [&[]];
        assert_eq!(
            decode_certificates(PEM, &mut out, &mut one),
            Err(PemError::TooManyCertificates)
        );
        assert_eq!(count(PEM, 3), Err(PemError::BufferTooSmall));
        assert_eq!(count(b"nothing here", 64), Err(PemError::NoCertificates));
        for bad in [
            &b"-----BEGIN CERTIFICATE-----\nMAMCAQE=\n"[..],
            b"-----BEGIN CERTIFICATE-----\nMAM\n-----END CERTIFICATE-----",
            b"-----BEGIN CERTIFICATE-----\nMA==MAMC\n-----END CERTIFICATE-----",
            b"-----BEGIN CERTIFICATE-----\nMAMCAQ!=\n-----END CERTIFICATE-----",
            b"-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----",
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
        ] {
            assert_eq!(count(bad, 64), Err(PemError::Malformed), "{bad:?}");
        }
    }
}
