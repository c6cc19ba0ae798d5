//! Signature algorithms for rustls-webpki, implemented with RustCrypto (ECDSA, Ed25519) and
//! this crate's own RSA on fixed-size integers. Each one is compiled in only
//! with its feature.

use embedded_tls::SignatureScheme;
use pki_types::SignatureVerificationAlgorithm;
#[cfg(any(
    feature = "p256",
    feature = "p384",
    feature = "ed25519",
    feature = "rsa"
))]
use pki_types::{AlgorithmIdentifier, InvalidSignature, alg_id};
#[cfg(any(feature = "p256", feature = "p384", feature = "rsa"))]
use sha2::Digest;

/// A hash function used by a signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(feature = "rsa"),
    allow(dead_code, reason = "some hashes are only used by some algorithms")
)]
pub(crate) enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    /// The digest of `msg` in `out`; returns its length.
    #[cfg(any(feature = "p256", feature = "p384", feature = "rsa"))]
    pub(crate) fn digest(self, msg: &[u8], out: &mut [u8; 64]) -> usize {
        fn put(out: &mut [u8; 64], digest: &[u8]) -> usize {
            if let Some(dst) = out.get_mut(..digest.len()) {
                dst.copy_from_slice(digest);
            }
            digest.len()
        }
        match self {
            Self::Sha256 => put(out, &sha2::Sha256::digest(msg)),
            Self::Sha384 => put(out, &sha2::Sha384::digest(msg)),
            Self::Sha512 => put(out, &sha2::Sha512::digest(msg)),
        }
    }
}

/// ECDSA over one curve with a given hash: the same code for P-256 and P-384, each behind its
/// feature.
macro_rules! ecdsa_algorithm {
    ($name:ident, $curve:ident, $feature:literal, $key_alg:expr, $doc:literal) => {
        #[doc = $doc]
        #[cfg(feature = $feature)]
        #[derive(Debug)]
        struct $name {
            hash: HashAlg,
            signature_alg_id: AlgorithmIdentifier,
        }

        #[cfg(feature = $feature)]
        impl SignatureVerificationAlgorithm for $name {
            fn verify_signature(
                &self,
                public_key: &[u8],
                message: &[u8],
                signature: &[u8],
            ) -> Result<(), InvalidSignature> {
                use $curve::ecdsa::signature::hazmat::PrehashVerifier;
                let key = $curve::ecdsa::VerifyingKey::from_sec1_bytes(public_key)
                    .map_err(|_| InvalidSignature)?;
                let signature =
                    $curve::ecdsa::Signature::from_der(signature).map_err(|_| InvalidSignature)?;
                let mut digest = [0u8; 64];
                let len = self.hash.digest(message, &mut digest);
                let prehash = digest.get(..len).ok_or(InvalidSignature)?;
                key.verify_prehash(prehash, &signature)
                    .map_err(|_| InvalidSignature)
            }

            fn public_key_alg_id(&self) -> AlgorithmIdentifier {
                $key_alg
            }

            fn signature_alg_id(&self) -> AlgorithmIdentifier {
                self.signature_alg_id
            }
        }
    };
}

ecdsa_algorithm!(
    EcdsaP256,
    p256,
    "p256",
    alg_id::ECDSA_P256,
    "ECDSA over P-256 with the given hash."
);
ecdsa_algorithm!(
    EcdsaP384,
    p384,
    "p384",
    alg_id::ECDSA_P384,
    "ECDSA over P-384 with the given hash."
);

/// Ed25519 (RFC 8032, with the strict checks of `verify_strict`).
#[cfg(feature = "ed25519")]
#[derive(Debug)]
struct Ed25519;

#[cfg(feature = "ed25519")]
impl SignatureVerificationAlgorithm for Ed25519 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let key: &[u8; 32] = public_key.try_into().map_err(|_| InvalidSignature)?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(key).map_err(|_| InvalidSignature)?;
        let signature =
            ed25519_dalek::Signature::from_slice(signature).map_err(|_| InvalidSignature)?;
        key.verify_strict(message, &signature)
            .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ED25519
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ED25519
    }
}

/// RSA PKCS#1 v1.5 or RSA-PSS (salt length = hash length, MGF1 with the same hash), with an
/// `rsaEncryption` public key of 2048 to 4096 bits.
#[cfg(feature = "rsa")]
#[derive(Debug)]
struct Rsa {
    hash: HashAlg,
    pss: bool,
    signature_alg_id: AlgorithmIdentifier,
}

#[cfg(feature = "rsa")]
impl SignatureVerificationAlgorithm for Rsa {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let ok = if self.pss {
            crate::rsa::verify_pss(public_key, self.hash, message, signature)
        } else {
            crate::rsa::verify_pkcs1v15(public_key, self.hash, message, signature)
        };
        if ok { Ok(()) } else { Err(InvalidSignature) }
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.signature_alg_id
    }
}

/// ECDSA P-256 with SHA-256 (`ecdsa-with-SHA256`; TLS `ecdsa_secp256r1_sha256`).
#[cfg(feature = "p256")]
pub static ECDSA_P256_SHA256: &dyn SignatureVerificationAlgorithm = &EcdsaP256 {
    hash: HashAlg::Sha256,
    signature_alg_id: alg_id::ECDSA_SHA256,
};
/// ECDSA P-256 with SHA-384 (`ecdsa-with-SHA384` on a P-256 key; certificates only).
#[cfg(feature = "p256")]
pub static ECDSA_P256_SHA384: &dyn SignatureVerificationAlgorithm = &EcdsaP256 {
    hash: HashAlg::Sha384,
    signature_alg_id: alg_id::ECDSA_SHA384,
};
/// ECDSA P-384 with SHA-384 (`ecdsa-with-SHA384`; TLS `ecdsa_secp384r1_sha384`).
#[cfg(feature = "p384")]
pub static ECDSA_P384_SHA384: &dyn SignatureVerificationAlgorithm = &EcdsaP384 {
    hash: HashAlg::Sha384,
    signature_alg_id: alg_id::ECDSA_SHA384,
};
/// ECDSA P-384 with SHA-256 (`ecdsa-with-SHA256` on a P-384 key; certificates only).
#[cfg(feature = "p384")]
pub static ECDSA_P384_SHA256: &dyn SignatureVerificationAlgorithm = &EcdsaP384 {
    hash: HashAlg::Sha256,
    signature_alg_id: alg_id::ECDSA_SHA256,
};
/// Ed25519 (certificates and TLS `ed25519`).
#[cfg(feature = "ed25519")]
pub static ED25519: &dyn SignatureVerificationAlgorithm = &Ed25519;
/// RSA PKCS#1 v1.5 with SHA-256 (`sha256WithRSAEncryption`).
#[cfg(feature = "rsa")]
pub static RSA_PKCS1_SHA256: &dyn SignatureVerificationAlgorithm = &Rsa {
    hash: HashAlg::Sha256,
    pss: false,
    signature_alg_id: alg_id::RSA_PKCS1_SHA256,
};
/// RSA PKCS#1 v1.5 with SHA-384 (`sha384WithRSAEncryption`).
#[cfg(feature = "rsa")]
pub static RSA_PKCS1_SHA384: &dyn SignatureVerificationAlgorithm = &Rsa {
    hash: HashAlg::Sha384,
    pss: false,
    signature_alg_id: alg_id::RSA_PKCS1_SHA384,
};
/// RSA PKCS#1 v1.5 with SHA-512 (`sha512WithRSAEncryption`).
#[cfg(feature = "rsa")]
pub static RSA_PKCS1_SHA512: &dyn SignatureVerificationAlgorithm = &Rsa {
    hash: HashAlg::Sha512,
    pss: false,
    signature_alg_id: alg_id::RSA_PKCS1_SHA512,
};
/// RSA-PSS with SHA-256 on an `rsaEncryption` key (TLS `rsa_pss_rsae_sha256`).
#[cfg(feature = "rsa")]
pub static RSA_PSS_SHA256: &dyn SignatureVerificationAlgorithm = &Rsa {
    hash: HashAlg::Sha256,
    pss: true,
    signature_alg_id: alg_id::RSA_PSS_SHA256,
};
/// RSA-PSS with SHA-384 on an `rsaEncryption` key (TLS `rsa_pss_rsae_sha384`).
#[cfg(feature = "rsa")]
pub static RSA_PSS_SHA384: &dyn SignatureVerificationAlgorithm = &Rsa {
    hash: HashAlg::Sha384,
    pss: true,
    signature_alg_id: alg_id::RSA_PSS_SHA384,
};
/// RSA-PSS with SHA-512 on an `rsaEncryption` key (TLS `rsa_pss_rsae_sha512`).
#[cfg(feature = "rsa")]
pub static RSA_PSS_SHA512: &dyn SignatureVerificationAlgorithm = &Rsa {
    hash: HashAlg::Sha512,
    pss: true,
    signature_alg_id: alg_id::RSA_PSS_SHA512,
};

/// Every certificate signature algorithm this build verifies (depends on the features).
pub static ALL: &[&dyn SignatureVerificationAlgorithm] = &[
    #[cfg(feature = "p256")]
    ECDSA_P256_SHA256,
    #[cfg(feature = "p256")]
    ECDSA_P256_SHA384,
    #[cfg(feature = "p384")]
    ECDSA_P384_SHA384,
    #[cfg(feature = "p384")]
    ECDSA_P384_SHA256,
    #[cfg(feature = "ed25519")]
    ED25519,
    #[cfg(feature = "rsa")]
    RSA_PKCS1_SHA256,
    #[cfg(feature = "rsa")]
    RSA_PKCS1_SHA384,
    #[cfg(feature = "rsa")]
    RSA_PKCS1_SHA512,
    #[cfg(feature = "rsa")]
    RSA_PSS_SHA256,
    #[cfg(feature = "rsa")]
    RSA_PSS_SHA384,
    #[cfg(feature = "rsa")]
    RSA_PSS_SHA512,
];

/// The algorithm for a TLS 1.3 CertificateVerify signature scheme, if this build has it.
///
/// `rsa_pkcs1_*` schemes give `None` whatever the features: RFC 8446 §4.4.3 requires RSA
/// signatures in TLS 1.3 handshakes to be RSASSA-PSS ("rsa_pkcs1_* ... refer solely to
/// signatures which appear in certificates"), so a server that signs its CertificateVerify with
/// PKCS#1 v1.5 is refused. The same goes for schemes that TLS 1.3 forbids (SHA-1, SHA-224) or
/// that no feature provides.
pub fn for_tls13_scheme(
    scheme: SignatureScheme,
) -> Option<&'static dyn SignatureVerificationAlgorithm> {
    match scheme {
        #[cfg(feature = "p256")]
        SignatureScheme::EcdsaSecp256r1Sha256 => Some(ECDSA_P256_SHA256),
        #[cfg(feature = "p384")]
        SignatureScheme::EcdsaSecp384r1Sha384 => Some(ECDSA_P384_SHA384),
        #[cfg(feature = "ed25519")]
        SignatureScheme::Ed25519 => Some(ED25519),
        #[cfg(feature = "rsa")]
        SignatureScheme::RsaPssRsaeSha256 => Some(RSA_PSS_SHA256),
        #[cfg(feature = "rsa")]
        SignatureScheme::RsaPssRsaeSha384 => Some(RSA_PSS_SHA384),
        #[cfg(feature = "rsa")]
        SignatureScheme::RsaPssRsaeSha512 => Some(RSA_PSS_SHA512),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        unused_imports,
        dead_code,
        reason = "what is used depends on the features"
    )]
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{self as rs, KeyPair};

    /// Checks that `alg` accepts `sig` over `msg` with `key` and refuses every corruption.
    fn check(alg: &dyn SignatureVerificationAlgorithm, key: &[u8], msg: &[u8], sig: &[u8]) {
        assert!(alg.verify_signature(key, msg, sig).is_ok(), "{alg:?}");
        let mut bad = sig.to_vec();
        let last = bad.len() - 5;
        bad[last] ^= 0x01;
        assert!(
            alg.verify_signature(key, msg, &bad).is_err(),
            "{alg:?}: corrupted signature"
        );
        assert!(
            alg.verify_signature(key, b"other message", sig).is_err(),
            "{alg:?}: message"
        );
        assert!(
            alg.verify_signature(key, msg, &sig[..sig.len() - 1])
                .is_err(),
            "{alg:?}: short"
        );
        assert!(
            alg.verify_signature(&key[..key.len() - 1], msg, sig)
                .is_err(),
            "{alg:?}: key"
        );
        assert!(
            alg.verify_signature(key, msg, &[]).is_err(),
            "{alg:?}: empty"
        );
    }

    #[cfg(feature = "rsa")]
    const RSA_KEYS: [&[u8]; 3] = [
        include_bytes!("../testdata/rsa2048.pk8"),
        include_bytes!("../testdata/rsa3072.pk8"),
        include_bytes!("../testdata/rsa4096.pk8"),
    ];

    #[cfg(feature = "rsa")]
    #[test]
    fn rsa_pkcs1_and_pss() {
        let rng = SystemRandom::new();
        let msg = b"TLS 1.3, server CertificateVerify";
        for pk8 in RSA_KEYS {
            let pair = rs::RsaKeyPair::from_pkcs8(pk8).unwrap();
            let public = pair.public().as_ref();
            let mut sig = vec![0u8; pair.public().modulus_len()];
            for (encoding, alg) in [
                (
                    &rs::RSA_PKCS1_SHA256 as &dyn rs::RsaEncoding,
                    RSA_PKCS1_SHA256,
                ),
                (&rs::RSA_PKCS1_SHA384, RSA_PKCS1_SHA384),
                (&rs::RSA_PKCS1_SHA512, RSA_PKCS1_SHA512),
                (&rs::RSA_PSS_SHA256, RSA_PSS_SHA256),
                (&rs::RSA_PSS_SHA384, RSA_PSS_SHA384),
                (&rs::RSA_PSS_SHA512, RSA_PSS_SHA512),
            ] {
                pair.sign(encoding, &rng, msg, &mut sig).unwrap();
                check(alg, public, msg, &sig);
            }
            // PKCS#1 and PSS signatures are not interchangeable, nor are the hashes.
            pair.sign(&rs::RSA_PSS_SHA256, &rng, msg, &mut sig).unwrap();
            assert!(
                RSA_PKCS1_SHA256
                    .verify_signature(public, msg, &sig)
                    .is_err()
            );
            assert!(RSA_PSS_SHA384.verify_signature(public, msg, &sig).is_err());
            pair.sign(&rs::RSA_PKCS1_SHA256, &rng, msg, &mut sig)
                .unwrap();
            assert!(RSA_PSS_SHA256.verify_signature(public, msg, &sig).is_err());
            assert!(
                RSA_PKCS1_SHA512
                    .verify_signature(public, msg, &sig)
                    .is_err()
            );
        }
    }

    #[cfg(feature = "p256")]
    #[test]
    fn ecdsa_p256() {
        let rng = SystemRandom::new();
        let alg = &rs::ECDSA_P256_SHA256_ASN1_SIGNING;
        let pk8 = rs::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = rs::EcdsaKeyPair::from_pkcs8(alg, pk8.as_ref(), &rng).unwrap();
        let sig = pair.sign(&rng, b"hello").unwrap();
        check(
            ECDSA_P256_SHA256,
            pair.public_key().as_ref(),
            b"hello",
            sig.as_ref(),
        );
        assert!(
            ECDSA_P256_SHA384
                .verify_signature(pair.public_key().as_ref(), b"hello", sig.as_ref())
                .is_err()
        );
    }

    #[cfg(feature = "p384")]
    #[test]
    fn ecdsa_p384() {
        let rng = SystemRandom::new();
        let alg = &rs::ECDSA_P384_SHA384_ASN1_SIGNING;
        let pk8 = rs::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = rs::EcdsaKeyPair::from_pkcs8(alg, pk8.as_ref(), &rng).unwrap();
        let sig = pair.sign(&rng, b"hello").unwrap();
        check(
            ECDSA_P384_SHA384,
            pair.public_key().as_ref(),
            b"hello",
            sig.as_ref(),
        );
        assert!(
            ECDSA_P384_SHA256
                .verify_signature(pair.public_key().as_ref(), b"hello", sig.as_ref())
                .is_err()
        );
    }

    #[cfg(feature = "ed25519")]
    #[test]
    fn ed25519() {
        let rng = SystemRandom::new();
        let pk8 = rs::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = rs::Ed25519KeyPair::from_pkcs8(pk8.as_ref()).unwrap();
        let sig = pair.sign(b"hello");
        check(ED25519, pair.public_key().as_ref(), b"hello", sig.as_ref());
    }

    #[test]
    fn tls13_schemes() {
        assert!(for_tls13_scheme(SignatureScheme::RsaPkcs1Sha256).is_none());
        assert!(for_tls13_scheme(SignatureScheme::RsaPkcs1Sha1).is_none());
        assert_eq!(
            for_tls13_scheme(SignatureScheme::EcdsaSecp256r1Sha256).is_some(),
            cfg!(feature = "p256")
        );
        assert_eq!(
            for_tls13_scheme(SignatureScheme::RsaPssRsaeSha384).is_some(),
            cfg!(feature = "rsa")
        );
    }

    /// Verification time of each algorithm (meaningful with `--release`; printed with
    /// `--nocapture`).
    #[cfg(all(
        feature = "rsa",
        feature = "p256",
        feature = "p384",
        feature = "ed25519"
    ))]
    #[test]
    fn timings() {
        let rng = SystemRandom::new();
        let msg = b"timing";
        let time =
            |name: &str, alg: &dyn SignatureVerificationAlgorithm, key: &[u8], sig: &[u8]| {
                let start = std::time::Instant::now();
                let n = 5;
                for _ in 0..n {
                    alg.verify_signature(key, msg, sig).unwrap();
                }
                std::println!("{name}: {:?} per verification", start.elapsed() / n);
            };
        for (bits, pk8) in [2048, 3072, 4096].into_iter().zip(RSA_KEYS) {
            let pair = rs::RsaKeyPair::from_pkcs8(pk8).unwrap();
            let mut sig = vec![0u8; pair.public().modulus_len()];
            pair.sign(&rs::RSA_PSS_SHA256, &rng, msg, &mut sig).unwrap();
            time(
                &format!("RSA-{bits} PSS"),
                RSA_PSS_SHA256,
                pair.public().as_ref(),
                &sig,
            );
        }
        let alg = &rs::ECDSA_P256_SHA256_ASN1_SIGNING;
        let pk8 = rs::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = rs::EcdsaKeyPair::from_pkcs8(alg, pk8.as_ref(), &rng).unwrap();
        let sig = pair.sign(&rng, msg).unwrap();
        time(
            "ECDSA P-256",
            ECDSA_P256_SHA256,
            pair.public_key().as_ref(),
            sig.as_ref(),
        );
        let alg = &rs::ECDSA_P384_SHA384_ASN1_SIGNING;
        let pk8 = rs::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = rs::EcdsaKeyPair::from_pkcs8(alg, pk8.as_ref(), &rng).unwrap();
        let sig = pair.sign(&rng, msg).unwrap();
        time(
            "ECDSA P-384",
            ECDSA_P384_SHA384,
            pair.public_key().as_ref(),
            sig.as_ref(),
        );
        let pk8 = rs::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = rs::Ed25519KeyPair::from_pkcs8(pk8.as_ref()).unwrap();
        let sig = pair.sign(msg);
        time("Ed25519", ED25519, pair.public_key().as_ref(), sig.as_ref());
    }
}
