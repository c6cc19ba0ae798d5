//! Restricting the signature schemes the ClientHello offers (`--sigalgs`, as curl's).
//!
//! A server that holds several certificate chains picks one by the client's
//! `signature_algorithms` extension: Postfix and Dovecot with an ECDSA and an RSA chain
//! answer with the ECDSA chain whenever ECDSA is offered. [`SigAlgs`] says which families a
//! connection offers, so that a client can ask for the RSA chain (or test it).
//!
//! # How it is done with embedded-tls
//!
//! embedded-tls 0.19 builds its ClientHello from a list of schemes that cannot be changed
//! from outside the crate: P-256, P-384 and Ed25519 always, the RSA schemes after
//! `enable_rsa_signatures()`. postwire-tls therefore edits the ClientHello in two places,
//! identically:
//!
//! - on the wire, in [`Offered`], the transport wrapper every [`TlsStream`](crate::TlsStream)
//!   runs over: the first record written is the ClientHello, and every scheme outside the
//!   selection is overwritten in place;
//! - in the handshake transcript, in [`OfferHash`], the transcript hash of the cipher suite
//!   [`Suite`]: the ClientHello is the first message hashed, and the same schemes are
//!   overwritten before they are hashed.
//!
//! Both edits are the same function ([`restrict_client_hello`]), so the transcript stays
//! equal to what the server saw and the handshake's Finished messages verify. The edit keeps
//! every length: a scheme that is not offered is replaced by a GREASE value (RFC 8701:
//! `0x0A0A`, `0x1A1A`, ...), which servers must ignore. The selection is a const generic
//! parameter because embedded-tls creates the transcript hash with `Default`; a firmware
//! uses one selection (normally [`SigAlgs::ALL`], which changes nothing) and compiles one
//! handshake.
//!
//! The verifier also refuses a CertificateVerify whose scheme was not offered (RFC 8446
//! §4.4.3). Signatures inside the certificate chain are not restricted (the ClientHello
//! sends no `signature_algorithms_cert`; the chain is checked against every algorithm this
//! build supports).

use core::fmt;

use embedded_io::ErrorType;
use embedded_io_async::{Read, Write};
use embedded_tls::{Aes128GcmSha256, TlsCipherSuite};
use sha2::Sha256;
use sha2::digest::{
    FixedOutput, FixedOutputReset, HashMarker, Output, OutputSizeUser, Reset, Update,
    core_api::BlockSizeUser,
};

/// A set of signature-scheme families to offer in the ClientHello.
///
/// ```
/// use postwire_tls::SigAlgs;
/// let rsa = SigAlgs::parse("rsa").unwrap();
/// assert_eq!(rsa, SigAlgs::RSA);
/// assert_eq!(SigAlgs::parse("ecdsa,ed25519").unwrap(), SigAlgs::ECDSA.with(SigAlgs::ED25519));
/// assert!(SigAlgs::parse("dsa").is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SigAlgs(u8);

impl SigAlgs {
    /// RSA: PKCS#1 v1.5 and RSA-PSS (`rsa_pkcs1_*`, `rsa_pss_rsae_*`, `rsa_pss_pss_*`).
    pub const RSA: Self = Self(1);
    /// ECDSA (`ecdsa_secp256r1_sha256`, `ecdsa_secp384r1_sha384`, ...).
    pub const ECDSA: Self = Self(2);
    /// Ed25519.
    pub const ED25519: Self = Self(4);
    /// Every family: the ClientHello is left as embedded-tls makes it.
    pub const ALL: Self = Self(7);
    /// The bits of [`SigAlgs::ALL`], for the const generic parameter of [`Suite`].
    pub const ALL_BITS: u8 = 7;

    /// The set with these bits (bit 0 RSA, bit 1 ECDSA, bit 2 Ed25519; others ignored).
    pub const fn from_bits(bits: u8) -> Self {
        Self(bits & 7)
    }

    /// The bits of this set, for the const generic parameter of [`Suite`].
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// This set and `other`.
    #[must_use]
    pub const fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether every family of `other` is in this set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Parses a comma-separated list of `rsa`, `ecdsa` and `ed25519` (case-insensitive,
    /// spaces around names allowed), as given to `--sigalgs`.
    pub fn parse(list: &str) -> Result<Self, SigAlgsError> {
        let mut set = Self(0);
        for name in list.split(',') {
            let name = name.trim();
            set = set.with(if name.eq_ignore_ascii_case("rsa") {
                Self::RSA
            } else if name.eq_ignore_ascii_case("ecdsa") {
                Self::ECDSA
            } else if name.eq_ignore_ascii_case("ed25519") {
                Self::ED25519
            } else if name.is_empty() {
                return Err(SigAlgsError::Empty);
            } else {
                return Err(SigAlgsError::Unknown);
            });
        }
        Ok(set)
    }

    /// The family of a TLS 1.3 signature scheme code point, if it is one of ours.
    pub const fn of_scheme(scheme: u16) -> Option<Self> {
        match scheme {
            // rsa_pkcs1_sha256/384/512 (and the legacy sha1 one)
            0x0201 | 0x0401 | 0x0501 | 0x0601 => Some(Self::RSA),
            // rsa_pss_rsae_sha256/384/512, rsa_pss_pss_sha256/384/512
            0x0804..=0x0806 | 0x0809..=0x080b => Some(Self::RSA),
            // ecdsa_secp256r1_sha256, secp384r1_sha384, secp521r1_sha512, ecdsa_sha1
            0x0203 | 0x0403 | 0x0503 | 0x0603 => Some(Self::ECDSA),
            0x0807 => Some(Self::ED25519),
            _ => None,
        }
    }

    /// Whether a scheme is offered under this set: schemes of the families in the set, and
    /// (only for [`SigAlgs::ALL`]) every other scheme too.
    pub const fn allows_scheme(self, scheme: u16) -> bool {
        match Self::of_scheme(scheme) {
            Some(family) => self.0 & family.0 != 0,
            None => self.0 == Self::ALL_BITS,
        }
    }
}

impl Default for SigAlgs {
    fn default() -> Self {
        Self::ALL
    }
}

impl fmt::Debug for SigAlgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for SigAlgs {
    /// `rsa,ecdsa,ed25519` (the families in the set), or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (family, name) in [
            (Self::RSA, "rsa"),
            (Self::ECDSA, "ecdsa"),
            (Self::ED25519, "ed25519"),
        ] {
            if self.contains(family) {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// Why a `--sigalgs` list was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlgsError {
    /// A name other than `rsa`, `ecdsa` and `ed25519`.
    Unknown,
    /// An empty name (an empty list, or two commas in a row).
    Empty,
}

impl fmt::Display for SigAlgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unknown => "unknown signature algorithm family (use rsa, ecdsa, ed25519)",
            Self::Empty => "empty signature algorithm name in the list",
        })
    }
}

impl core::error::Error for SigAlgsError {}

/// Why [`restrict_client_hello`] could not edit a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelloError {
    /// The bytes are not a complete ClientHello handshake message.
    Malformed,
    /// It has no `signature_algorithms` extension.
    NoSignatureAlgorithms,
    /// No offered scheme would be left.
    NothingLeft,
}

/// Where the `signature_algorithms` list of a ClientHello handshake message lies: the byte
/// range of its schemes (2 bytes each) within `msg`.
fn find_sigalgs(msg: &[u8]) -> Result<(usize, usize), HelloError> {
    let mut r = Cursor { msg, pos: 0 };
    // Handshake header: type 1 (client_hello), u24 length.
    if r.u8()? != 1 {
        return Err(HelloError::Malformed);
    }
    let len = r.u24()?;
    if msg.len() != 4 + len {
        return Err(HelloError::Malformed);
    }
    r.skip(2 + 32)?; // legacy_version, random
    let n = usize::from(r.u8()?);
    r.skip(n)?; // legacy_session_id
    let n = r.u16()?;
    r.skip(n)?; // cipher_suites
    let n = usize::from(r.u8()?);
    r.skip(n)?; // legacy_compression_methods
    let ext_len = r.u16()?;
    let end = r.pos + ext_len;
    if end != msg.len() {
        return Err(HelloError::Malformed);
    }
    while r.pos < end {
        let kind = r.u16()?;
        let len = r.u16()?;
        if kind == 0x000d {
            let list = r.u16()?;
            if list + 2 != len || list % 2 != 0 || r.pos + list > end {
                return Err(HelloError::Malformed);
            }
            return Ok((r.pos, r.pos + list));
        }
        r.skip(len)?;
    }
    Err(HelloError::NoSignatureAlgorithms)
}

/// Overwrites, in a ClientHello handshake message (type byte, 3-byte length, body), every
/// signature scheme outside `allow` with a GREASE value (RFC 8701), keeping all lengths.
///
/// Returns the number of schemes still offered. With [`SigAlgs::ALL`] nothing changes.
///
/// ```
/// use postwire_tls::{SigAlgs, offer::restrict_client_hello};
/// // A minimal ClientHello offering ecdsa_secp256r1_sha256 and rsa_pss_rsae_sha256.
/// let mut hello = vec![1, 0, 0, 0];
/// hello.extend_from_slice(&[3, 3]);
/// hello.extend_from_slice(&[0; 32]);
/// hello.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
/// hello.extend_from_slice(&[0, 10, 0, 13, 0, 6, 0, 4, 4, 3, 8, 4]);
/// let body = (hello.len() - 4) as u8;
/// hello[3] = body;
/// assert_eq!(restrict_client_hello(&mut hello, SigAlgs::RSA), Ok(1));
/// assert_eq!(&hello[hello.len() - 4..], &[0x0a, 0x0a, 8, 4]);
/// ```
pub fn restrict_client_hello(msg: &mut [u8], allow: SigAlgs) -> Result<usize, HelloError> {
    let (start, end) = find_sigalgs(msg)?;
    restrict_list(msg.get_mut(start..end).ok_or(HelloError::Malformed)?, allow)
}

/// Overwrites every scheme of a `signature_algorithms` list (2 bytes each) outside `allow`
/// with a GREASE value; returns how many are left.
fn restrict_list(list: &mut [u8], allow: SigAlgs) -> Result<usize, HelloError> {
    let mut kept = 0;
    let mut grease = 0u8;
    for pair in list.chunks_exact_mut(2) {
        let scheme = u16::from_be_bytes([pair[0], pair[1]]);
        if allow.allows_scheme(scheme) {
            kept += 1;
        } else {
            let g = (grease << 4) | 0x0a;
            pair.copy_from_slice(&[g, g]);
            grease = (grease + 1) % 16;
        }
    }
    if kept == 0 {
        return Err(HelloError::NothingLeft);
    }
    Ok(kept)
}

struct Cursor<'m> {
    msg: &'m [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn u8(&mut self) -> Result<u8, HelloError> {
        let b = *self.msg.get(self.pos).ok_or(HelloError::Malformed)?;
        self.pos += 1;
        Ok(b)
    }

    fn u16(&mut self) -> Result<usize, HelloError> {
        Ok(usize::from(self.u8()?) << 8 | usize::from(self.u8()?))
    }

    fn u24(&mut self) -> Result<usize, HelloError> {
        Ok(usize::from(self.u8()?) << 16 | self.u16()?)
    }

    fn skip(&mut self, n: usize) -> Result<(), HelloError> {
        if self.msg.len() - self.pos < n {
            return Err(HelloError::Malformed);
        }
        self.pos += n;
        Ok(())
    }
}

/// The longest `signature_algorithms` list [`OfferHash`] and [`Offered`] edit (embedded-tls
/// offers at most 25 schemes).
const MAX_LIST: usize = 64;

/// The edited scheme list of a ClientHello: its range in the message, and the new bytes.
#[derive(Clone, Copy)]
struct Patch {
    start: usize,
    len: usize,
    bytes: [u8; MAX_LIST],
}

impl Patch {
    /// Works out the edit of the ClientHello handshake message `msg` under `allow`.
    fn of(msg: &[u8], allow: SigAlgs) -> Result<Self, HelloError> {
        let (start, end) = find_sigalgs(msg)?;
        let list = msg.get(start..end).ok_or(HelloError::Malformed)?;
        let mut bytes = [0; MAX_LIST];
        let dst = bytes.get_mut(..list.len()).ok_or(HelloError::Malformed)?;
        dst.copy_from_slice(list);
        restrict_list(dst, allow)?;
        Ok(Self {
            start,
            len: list.len(),
            bytes,
        })
    }

    fn edited(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

/// The transcript hash of [`Suite`]: SHA-256, with the ClientHello's scheme list edited as
/// on the wire (see the [module documentation](self)).
///
/// The first message of a TLS 1.3 transcript is the ClientHello; it is recognised as the
/// first `update` of a fresh hash, longer than one SHA-256 block (HMAC, which also makes
/// fresh hashes of this type, starts each with exactly one block), that parses as a
/// ClientHello. With [`SigAlgs::ALL`] this is plain SHA-256.
#[derive(Clone, Default)]
pub struct OfferHash<const S: u8> {
    inner: Sha256,
    started: bool,
}

impl<const S: u8> HashMarker for OfferHash<S> {}

impl<const S: u8> OutputSizeUser for OfferHash<S> {
    type OutputSize = <Sha256 as OutputSizeUser>::OutputSize;
}

impl<const S: u8> BlockSizeUser for OfferHash<S> {
    type BlockSize = <Sha256 as BlockSizeUser>::BlockSize;
}

impl<const S: u8> Update for OfferHash<S> {
    fn update(&mut self, data: &[u8]) {
        let first = !self.started;
        self.started = true;
        if first
            && S != SigAlgs::ALL_BITS
            && data.len() > 128
            && let Ok(patch) = Patch::of(data, SigAlgs::from_bits(S))
        {
            let (head, rest) = data.split_at(patch.start.min(data.len()));
            let tail = rest.get(patch.len..).unwrap_or(&[]);
            Update::update(&mut self.inner, head);
            Update::update(&mut self.inner, patch.edited());
            Update::update(&mut self.inner, tail);
            return;
        }
        Update::update(&mut self.inner, data);
    }
}

impl<const S: u8> FixedOutput for OfferHash<S> {
    fn finalize_into(self, out: &mut Output<Self>) {
        FixedOutput::finalize_into(self.inner, out);
    }
}

impl<const S: u8> Reset for OfferHash<S> {
    fn reset(&mut self) {
        Reset::reset(&mut self.inner);
        self.started = false;
    }
}

impl<const S: u8> FixedOutputReset for OfferHash<S> {
    fn finalize_into_reset(&mut self, out: &mut Output<Self>) {
        FixedOutputReset::finalize_into_reset(&mut self.inner, out);
        self.started = false;
    }
}

/// The cipher suite of every postwire-tls connection: TLS_AES_128_GCM_SHA256, with the
/// transcript hash [`OfferHash`] for the signature-scheme selection `S`
/// ([`SigAlgs::bits`]). `Suite<7>` ([`SigAlgs::ALL_BITS`]) is the ClientHello as
/// embedded-tls makes it.
///
/// One suite for all connections keeps a single copy of the handshake code in flash. Every
/// TLS 1.3 server must support it (RFC 8446 §9.1).
pub struct Suite<const S: u8>;

impl<const S: u8> TlsCipherSuite for Suite<S> {
    const CODE_POINT: u16 = <Aes128GcmSha256 as TlsCipherSuite>::CODE_POINT;
    type Cipher = <Aes128GcmSha256 as TlsCipherSuite>::Cipher;
    type KeyLen = <Aes128GcmSha256 as TlsCipherSuite>::KeyLen;
    type IvLen = <Aes128GcmSha256 as TlsCipherSuite>::IvLen;
    type Hash = OfferHash<S>;
    type LabelBufferSize = <Aes128GcmSha256 as TlsCipherSuite>::LabelBufferSize;
}

/// An error of the transport under [`Offered`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferError<E> {
    /// The transport's own error.
    Io(E),
    /// The first record written was not a complete ClientHello that could be edited (this
    /// would be a bug: nothing was sent).
    Hello(HelloError),
}

impl<E: embedded_io::Error> embedded_io::Error for OfferError<E> {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self {
            Self::Io(e) => e.kind(),
            Self::Hello(_) => embedded_io::ErrorKind::InvalidInput,
        }
    }
}

impl<E: fmt::Display> fmt::Display for OfferError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => e.fmt(f),
            Self::Hello(e) => write!(f, "cannot restrict the ClientHello: {e:?}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> core::error::Error for OfferError<E> {}

#[derive(Clone, Copy)]
enum HelloState {
    /// Nothing written yet: the next write is the ClientHello record.
    Start,
    /// Writing the ClientHello record: `sent` of its `len` bytes are out.
    Sending {
        len: usize,
        sent: usize,
        patch: Patch,
    },
    /// Past the ClientHello: a plain pass-through.
    Done,
}

/// The transport wrapper under every [`TlsStream`](crate::TlsStream): it edits the
/// ClientHello's scheme list on the wire for the selection `S`, exactly as [`OfferHash`]
/// does in the transcript, and passes everything else through. With [`SigAlgs::ALL_BITS`]
/// it changes nothing.
pub struct Offered<T, const S: u8> {
    inner: T,
    state: HelloState,
}

impl<T, const S: u8> Offered<T, S> {
    /// Wraps a connected transport, before the handshake.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            state: if S == SigAlgs::ALL_BITS {
                HelloState::Done
            } else {
                HelloState::Start
            },
        }
    }

    /// The transport.
    pub fn into_inner(self) -> T {
        self.inner
    }

    /// The transport.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: ErrorType, const S: u8> ErrorType for Offered<T, S> {
    type Error = OfferError<T::Error>;
}

impl<T: Read, const S: u8> Read for Offered<T, S> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.inner.read(buf).await.map_err(OfferError::Io)
    }
}

impl<T: Write, const S: u8> Write for Offered<T, S> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        if let HelloState::Start = self.state {
            // A handshake record (type 22, version, u16 length) holding the ClientHello.
            let len = match buf {
                [22, _, _, hi, lo, ..] => 5 + (usize::from(*hi) << 8 | usize::from(*lo)),
                _ => return Err(OfferError::Hello(HelloError::Malformed)),
            };
            let msg = buf
                .get(5..len)
                .ok_or(OfferError::Hello(HelloError::Malformed))?;
            let mut patch = Patch::of(msg, SigAlgs::from_bits(S)).map_err(OfferError::Hello)?;
            patch.start += 5;
            self.state = HelloState::Sending {
                len,
                sent: 0,
                patch,
            };
        }
        let HelloState::Sending {
            len,
            mut sent,
            patch,
        } = self.state
        else {
            return self.inner.write(buf).await.map_err(OfferError::Io);
        };
        // `buf` holds the record from byte `sent` on (write_all passes what is left).
        let piece = if sent < patch.start {
            buf.get(..buf.len().min(patch.start - sent))
        } else if sent < patch.start + patch.len {
            let edited = patch.edited().get(sent - patch.start..).unwrap_or(&[]);
            edited.get(..edited.len().min(buf.len()))
        } else {
            buf.get(..buf.len().min(len - sent))
        }
        .unwrap_or(&[]);
        if piece.is_empty() {
            return Ok(0);
        }
        let n = self.inner.write(piece).await.map_err(OfferError::Io)?;
        sent += n;
        self.state = if sent >= len {
            HelloState::Done
        } else {
            HelloState::Sending { len, sent, patch }
        };
        Ok(n)
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        self.inner.flush().await.map_err(OfferError::Io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    /// A ClientHello as embedded-tls makes it, with the RSA schemes enabled.
    fn hello() -> std::vec::Vec<u8> {
        let schemes: [u16; 9] = [
            0x0403, 0x0503, 0x0807, 0x0401, 0x0501, 0x0601, 0x0804, 0x0805, 0x0806,
        ];
        let mut ext = std::vec::Vec::new();
        ext.extend_from_slice(&[0, 43, 0, 3, 2, 3, 4]); // supported_versions
        ext.extend_from_slice(&[0, 13]);
        ext.extend_from_slice(&((schemes.len() * 2 + 2) as u16).to_be_bytes());
        ext.extend_from_slice(&((schemes.len() * 2) as u16).to_be_bytes());
        for s in schemes {
            ext.extend_from_slice(&s.to_be_bytes());
        }
        ext.extend_from_slice(&[0, 10, 0, 4, 0, 2, 0, 23]); // supported_groups
        ext.extend_from_slice(&[0, 51, 0, 71, 0, 69, 0, 23, 0, 65]); // key_share
        ext.extend_from_slice(&[4; 65]);
        let mut body = std::vec![3, 3];
        body.extend_from_slice(&[7; 32]);
        body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        let mut msg = std::vec![1, 0];
        msg.extend_from_slice(&(body.len() as u16).to_be_bytes());
        msg.extend_from_slice(&body);
        msg
    }

    fn offered(msg: &[u8]) -> std::vec::Vec<u16> {
        let (start, end) = find_sigalgs(msg).unwrap();
        msg[start..end]
            .chunks(2)
            .map(|p| u16::from_be_bytes([p[0], p[1]]))
            .filter(|s| SigAlgs::of_scheme(*s).is_some())
            .collect()
    }

    #[test]
    fn parse_and_display() {
        assert_eq!(SigAlgs::parse("RSA").unwrap(), SigAlgs::RSA);
        assert_eq!(
            SigAlgs::parse(" rsa , ed25519").unwrap(),
            SigAlgs::RSA.with(SigAlgs::ED25519)
        );
        assert_eq!(SigAlgs::parse("rsa,ecdsa,ed25519").unwrap(), SigAlgs::ALL);
        assert_eq!(SigAlgs::parse("rsa,,ecdsa"), Err(SigAlgsError::Empty));
        assert_eq!(SigAlgs::parse(""), Err(SigAlgsError::Empty));
        assert_eq!(SigAlgs::parse("rsa-pss"), Err(SigAlgsError::Unknown));
        assert_eq!(
            std::format!("{}", SigAlgs::ECDSA.with(SigAlgs::RSA)),
            "rsa,ecdsa"
        );
        assert_eq!(std::format!("{}", SigAlgs::from_bits(0)), "none");
    }

    #[test]
    fn restricts_in_place_keeping_lengths() {
        let original = hello();
        for (allow, expect) in [
            (
                SigAlgs::RSA,
                &[0x0401u16, 0x0501, 0x0601, 0x0804, 0x0805, 0x0806][..],
            ),
            (SigAlgs::ECDSA, &[0x0403, 0x0503][..]),
            (SigAlgs::ED25519, &[0x0807][..]),
            (
                SigAlgs::ALL,
                &[
                    0x0403, 0x0503, 0x0807, 0x0401, 0x0501, 0x0601, 0x0804, 0x0805, 0x0806,
                ][..],
            ),
        ] {
            let mut msg = original.clone();
            assert_eq!(restrict_client_hello(&mut msg, allow), Ok(expect.len()));
            assert_eq!(msg.len(), original.len());
            assert_eq!(offered(&msg), expect, "{allow}");
            // Only the scheme list changed.
            let (start, end) = find_sigalgs(&original).unwrap();
            assert_eq!(msg[..start], original[..start]);
            assert_eq!(msg[end..], original[end..]);
            // GREASE values fill the gaps.
            for p in msg[start..end].chunks(2) {
                let s = u16::from_be_bytes([p[0], p[1]]);
                assert!(SigAlgs::of_scheme(s).is_some() || (p[0] == p[1] && p[0] & 0x0f == 0x0a));
            }
        }
        let mut msg = original.clone();
        let mut only_ecdsa = msg.clone();
        restrict_client_hello(&mut only_ecdsa, SigAlgs::ECDSA).unwrap();
        assert_eq!(
            restrict_client_hello(&mut only_ecdsa, SigAlgs::RSA),
            Err(HelloError::NothingLeft)
        );
        msg.truncate(msg.len() - 1);
        assert_eq!(
            restrict_client_hello(&mut msg, SigAlgs::RSA),
            Err(HelloError::Malformed)
        );
    }

    #[test]
    fn no_panic_on_any_truncation_or_byte_flip() {
        let original = hello();
        for cut in 0..original.len() {
            let mut msg = original[..cut].to_vec();
            let _ = restrict_client_hello(&mut msg, SigAlgs::RSA);
        }
        for i in 0..original.len() {
            for v in [0u8, 1, 0x7f, 0xff] {
                let mut msg = original.clone();
                msg[i] = v;
                let _ = restrict_client_hello(&mut msg, SigAlgs::RSA);
                let _ = Patch::of(&msg, SigAlgs::ECDSA);
            }
        }
    }

    #[test]
    fn transcript_hash_sees_the_edited_hello() {
        const RSA: u8 = SigAlgs::RSA.bits();
        let original = hello();
        let mut edited = original.clone();
        restrict_client_hello(&mut edited, SigAlgs::RSA).unwrap();
        let mut h = OfferHash::<RSA>::default();
        Update::update(&mut h, &original);
        Update::update(&mut h, b"server hello");
        let mut plain = Sha256::new();
        Digest::update(&mut plain, &edited);
        Digest::update(&mut plain, b"server hello");
        assert_eq!(h.finalize_fixed(), plain.finalize());
        // Only the first update is a ClientHello.
        let mut h = OfferHash::<RSA>::default();
        Update::update(&mut h, b"x");
        Update::update(&mut h, &original);
        assert_eq!(
            h.finalize_fixed(),
            Sha256::new()
                .chain_update(b"x")
                .chain_update(&original)
                .finalize()
        );
        // ALL is plain SHA-256.
        let mut h = OfferHash::<{ SigAlgs::ALL_BITS }>::default();
        Update::update(&mut h, &original);
        assert_eq!(h.finalize_fixed(), Sha256::digest(&original));
    }

    /// A transport that takes at most `chunk` bytes per write.
    struct Sink {
        out: std::vec::Vec<u8>,
        chunk: usize,
    }
    impl ErrorType for Sink {
        type Error = core::convert::Infallible;
    }
    impl Write for Sink {
        async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
            let n = buf.len().min(self.chunk);
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        async fn flush(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }

    #[test]
    fn wire_edit_matches_for_any_write_size() {
        const RSA: u8 = SigAlgs::RSA.bits();
        let msg = hello();
        let mut record = std::vec![22, 3, 1];
        record.extend_from_slice(&(msg.len() as u16).to_be_bytes());
        record.extend_from_slice(&msg);
        let mut expect = record.clone();
        restrict_client_hello(&mut expect[5..], SigAlgs::RSA).unwrap();
        expect.extend_from_slice(b"after");
        for chunk in [1, 2, 3, 7, 50, 1000] {
            let mut t = Offered::<_, RSA>::new(Sink {
                out: std::vec::Vec::new(),
                chunk,
            });
            embassy_futures::block_on(async {
                t.write_all(&record).await.unwrap();
                t.write_all(b"after").await.unwrap();
            });
            assert_eq!(t.into_inner().out, expect, "chunk {chunk}");
        }
        // Anything but a ClientHello record is refused before a byte is sent.
        let mut t = Offered::<_, RSA>::new(Sink {
            out: std::vec::Vec::new(),
            chunk: 100,
        });
        let r = embassy_futures::block_on(t.write(b"\x17\x03\x03\x00\x01x"));
        assert!(matches!(r, Err(OfferError::Hello(HelloError::Malformed))));
        assert!(t.into_inner().out.is_empty());
    }
}
