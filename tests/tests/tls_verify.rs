//! The certificate verifier (`postwire_tls::verify_server_chain`) on chains made here with
//! rcgen: every accepted kind of chain and every refusal, each with its own error.
//!
//! RSA keys come from fixed test keys (`protocols/tls/testdata`): RSA key generation is too
//! slow for a test, and *ring* (rcgen's backend) cannot generate RSA keys.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::time::{SystemTime, UNIX_EPOCH};

use postwire_tls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use postwire_tls::{CertError, Time, TlsError, Trust, TrustedBy, verify_server_chain};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SignatureAlgorithm, date_time_ymd,
};

const RSA2048: &[u8] = include_bytes!("../../protocols/tls/testdata/rsa2048.pk8");
const RSA3072: &[u8] = include_bytes!("../../protocols/tls/testdata/rsa3072.pk8");
const RSA4096: &[u8] = include_bytes!("../../protocols/tls/testdata/rsa4096.pk8");

/// The kinds of keys the tests use.
#[derive(Debug, Clone, Copy)]
enum Alg {
    Rsa2048,
    Rsa3072Sha384,
    Rsa4096Sha512,
    P256,
    P384,
    Ed25519,
}

impl Alg {
    fn key(self) -> KeyPair {
        let (pk8, alg): (&[u8], &'static SignatureAlgorithm) = match self {
            Self::Rsa2048 => (RSA2048, &rcgen::PKCS_RSA_SHA256),
            Self::Rsa3072Sha384 => (RSA3072, &rcgen::PKCS_RSA_SHA384),
            Self::Rsa4096Sha512 => (RSA4096, &rcgen::PKCS_RSA_SHA512),
            Self::P256 => return KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
            Self::P384 => return KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap(),
            Self::Ed25519 => return KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap(),
        };
        KeyPair::from_pkcs8_der_and_sign_algo(&PrivatePkcs8KeyDer::from(pk8), alg).unwrap()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Parameters of a CA certificate named `cn`.
fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = date_time_ymd(2020, 1, 1);
    p.not_after = date_time_ymd(2090, 1, 1);
    p
}

/// Parameters of a server certificate for `names` (DNS names or IP addresses), the usual
/// extensions set.
fn leaf_params(names: &[&str]) -> CertificateParams {
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, "server");
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.not_before = date_time_ymd(2020, 1, 1);
    p.not_after = date_time_ymd(2090, 1, 1);
    p
}

/// A CA: its certificate (DER) and what signs with it.
struct Ca {
    der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn root(cn: &str, alg: Alg) -> Self {
        Self::root_with(ca_params(cn), alg)
    }

    fn root_with(params: CertificateParams, alg: Alg) -> Self {
        let key = alg.key();
        let cert = params.self_signed(&key).unwrap();
        Self {
            der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate with `params` for a new key of `alg`, signed by this CA.
    fn sign(&self, params: &CertificateParams, alg: Alg) -> (Vec<u8>, KeyPair) {
        let key = alg.key();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.der().to_vec(), key)
    }

    /// An intermediate CA with `params`, signed by this CA.
    fn intermediate(&self, params: CertificateParams, alg: Alg) -> Self {
        let (der, key) = self.sign(&params, alg);
        Self {
            der,
            issuer: Issuer::new(params, key),
        }
    }

    fn leaf(&self, names: &[&str], alg: Alg) -> Vec<u8> {
        self.sign(&leaf_params(names), alg).0
    }
}

/// A refusal, comparable (`TlsError` is not `PartialEq`: it can carry embedded-tls errors).
#[derive(Debug, PartialEq)]
enum Refusal {
    /// `TlsError::HostnameMismatch`
    Name,
    /// `TlsError::CertificateInvalid`
    Cert(CertError),
    /// Any other error.
    Other(String),
}

/// [`verify_server_chain`] with a comparable error.
fn check(chain: &[&[u8]], name: &str, trust: &Trust<'_>, time: Time) -> Result<TrustedBy, Refusal> {
    verify_server_chain(chain, name, trust, time).map_err(|e| match e {
        TlsError::HostnameMismatch => Refusal::Name,
        TlsError::CertificateInvalid(reason) => Refusal::Cert(reason),
        other => Refusal::Other(format!("{other:?}")),
    })
}

/// Verifies `chain` for `name` against `anchors` now.
fn verify(chain: &[&[u8]], name: &str, anchors: &[&[u8]]) -> Result<TrustedBy, Refusal> {
    check(chain, name, &Trust::Anchors(anchors), Time::Now(now()))
}

fn refused(result: Result<TrustedBy, Refusal>) -> CertError {
    match result {
        Err(Refusal::Cert(reason)) => reason,
        other => panic!("expected CertificateInvalid, got {other:?}"),
    }
}

const ALL_ALGS: [Alg; 6] = [
    Alg::Rsa2048,
    Alg::Rsa3072Sha384,
    Alg::Rsa4096Sha512,
    Alg::P256,
    Alg::P384,
    Alg::Ed25519,
];

#[test]
fn valid_chains_of_every_algorithm_are_accepted() {
    for alg in ALL_ALGS {
        // Root → leaf.
        let root = Ca::root("Root", alg);
        let leaf = root.leaf(&["mail.example.test"], alg);
        assert_eq!(
            verify(&[&leaf], "mail.example.test", &[&root.der]),
            Ok(TrustedBy::Anchor(0)),
            "{alg:?}"
        );
        // Root → intermediate → leaf, the intermediate sent by the server.
        let inter = root.intermediate(ca_params("Intermediate"), alg);
        let leaf = inter.leaf(&["mail.example.test"], alg);
        assert_eq!(
            verify(&[&leaf, &inter.der], "mail.example.test", &[&root.der]),
            Ok(TrustedBy::Anchor(0)),
            "{alg:?} with intermediate"
        );
        // Without a clock too.
        assert_eq!(
            check(
                &[&leaf, &inter.der],
                "mail.example.test",
                &Trust::Anchors(&[&root.der]),
                Time::NoClock
            ),
            Ok(TrustedBy::Anchor(0)),
            "{alg:?} without clock"
        );
    }
}

#[test]
fn mixed_algorithm_chains_are_accepted() {
    // RSA root, ECDSA intermediate, Ed25519 leaf; and the other way round.
    for (a, b, c) in [
        (Alg::Rsa4096Sha512, Alg::P384, Alg::Ed25519),
        (Alg::P256, Alg::Rsa2048, Alg::P384),
        (Alg::Ed25519, Alg::P256, Alg::Rsa2048),
    ] {
        let root = Ca::root("Root", a);
        let inter = root.intermediate(ca_params("Intermediate"), b);
        let leaf = inter.leaf(&["localhost"], c);
        assert!(
            verify(&[&leaf, &inter.der], "localhost", &[&root.der]).is_ok(),
            "{a:?} {b:?} {c:?}"
        );
    }
}

#[test]
fn wrong_host_is_refused() {
    let root = Ca::root("Root", Alg::P256);
    let leaf = root.leaf(&["mail.example.test", "127.0.0.1"], Alg::P256);
    for name in [
        "other.example.test",
        "example.test",
        "x.mail.example.test",
        "127.0.0.2",
        "::1",
    ] {
        assert_eq!(
            verify(&[&leaf], name, &[&root.der]),
            Err(Refusal::Name),
            "{name}"
        );
    }
    // The subject common name is not a host name (RFC 6125 §6.4.4).
    let mut p = leaf_params(&["a.example.test"]);
    p.distinguished_name
        .push(DnType::CommonName, "cn.example.test");
    let (leaf, _) = root.sign(&p, Alg::P256);
    assert_eq!(
        verify(&[&leaf], "cn.example.test", &[&root.der]),
        Err(Refusal::Name)
    );
}

#[test]
fn expired_and_not_yet_valid_are_refused() {
    let root = Ca::root("Root", Alg::P256);
    let mut p = leaf_params(&["localhost"]);
    p.not_before = date_time_ymd(2019, 1, 1);
    p.not_after = date_time_ymd(2021, 1, 1);
    let (expired, _) = root.sign(&p, Alg::P256);
    assert_eq!(
        refused(verify(&[&expired], "localhost", &[&root.der])),
        CertError::Expired
    );

    let mut p = leaf_params(&["localhost"]);
    p.not_before = date_time_ymd(2080, 1, 1);
    p.not_after = date_time_ymd(2090, 1, 1);
    let (future, _) = root.sign(&p, Alg::P256);
    assert_eq!(
        refused(verify(&[&future], "localhost", &[&root.der])),
        CertError::NotYetValid
    );

    // An expired intermediate.
    let mut ip = ca_params("Intermediate");
    ip.not_before = date_time_ymd(2019, 1, 1);
    ip.not_after = date_time_ymd(2021, 1, 1);
    let inter = root.intermediate(ip, Alg::P256);
    let leaf = inter.leaf(&["localhost"], Alg::P256);
    assert_eq!(
        refused(verify(&[&leaf, &inter.der], "localhost", &[&root.der])),
        CertError::Expired
    );
}

#[test]
fn validity_without_a_clock() {
    // Time::NoClock: an expired chain is accepted (nothing tells the present) ...
    let root = Ca::root("Root", Alg::P256);
    let mut p = leaf_params(&["localhost"]);
    p.not_before = date_time_ymd(2019, 1, 1);
    p.not_after = date_time_ymd(2021, 1, 1);
    let (expired, _) = root.sign(&p, Alg::P256);
    let trust = Trust::Anchors(&[&root.der]);
    assert!(check(&[&expired], "localhost", &trust, Time::NoClock).is_ok());
    // ... with a clock it is not.
    assert_eq!(
        refused(check(&[&expired], "localhost", &trust, Time::Now(now()))),
        CertError::Expired
    );
    // A chain that is never valid as a whole (the intermediate expired before the leaf
    // became valid) is refused without a clock too.
    let mut ip = ca_params("Intermediate");
    ip.not_before = date_time_ymd(2019, 1, 1);
    ip.not_after = date_time_ymd(2021, 1, 1);
    let inter = root.intermediate(ip, Alg::P256);
    let mut p = leaf_params(&["localhost"]);
    p.not_before = date_time_ymd(2022, 1, 1);
    let (leaf, _) = inter.sign(&p, Alg::P256);
    assert_eq!(
        refused(check(
            &[&leaf, &inter.der],
            "localhost",
            &trust,
            Time::NoClock
        )),
        CertError::Expired
    );
    // Everything else is still checked: an untrusted chain stays untrusted.
    let other = Ca::root("Other", Alg::P256);
    assert_eq!(
        refused(check(
            &[&expired],
            "localhost",
            &Trust::Anchors(&[&other.der]),
            Time::NoClock
        )),
        CertError::UnknownIssuer
    );
}

#[test]
fn leaf_signed_by_a_leaf_is_refused() {
    let root = Ca::root("Root", Alg::P256);
    // A genuine server certificate for "victim.example.test" ...
    let mut p = leaf_params(&["victim.example.test"]);
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, "victim");
    let key = Alg::P256.key();
    let victim = p.signed_by(&key, &root.issuer).unwrap();
    // ... used to sign a certificate for another name.
    let victim_issuer = Issuer::new(p, key);
    let forged_key = Alg::P256.key();
    let forged = leaf_params(&["mail.example.test"])
        .signed_by(&forged_key, &victim_issuer)
        .unwrap();
    assert_eq!(
        refused(verify(
            &[forged.der(), victim.der()],
            "mail.example.test",
            &[&root.der]
        )),
        CertError::EndEntityUsedAsCa
    );
    // The same with a leaf that has no basicConstraints at all.
    let mut p = leaf_params(&["victim.example.test"]);
    p.is_ca = IsCa::NoCa;
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, "victim2");
    let key = Alg::P256.key();
    let victim = p.signed_by(&key, &root.issuer).unwrap();
    let victim_issuer = Issuer::new(p, key);
    let forged = leaf_params(&["mail.example.test"])
        .signed_by(&forged_key, &victim_issuer)
        .unwrap();
    assert_eq!(
        refused(verify(
            &[forged.der(), victim.der()],
            "mail.example.test",
            &[&root.der]
        )),
        CertError::EndEntityUsedAsCa
    );
}

#[test]
fn intermediate_without_ca_flag_is_refused() {
    let root = Ca::root("Root", Alg::P256);
    let mut ip = ca_params("Intermediate");
    ip.is_ca = IsCa::ExplicitNoCa;
    let inter = root.intermediate(ip, Alg::P256);
    let leaf = inter.leaf(&["localhost"], Alg::P256);
    assert_eq!(
        refused(verify(&[&leaf, &inter.der], "localhost", &[&root.der])),
        CertError::EndEntityUsedAsCa
    );
}

#[test]
fn ca_certificate_as_server_certificate_is_refused() {
    let root = Ca::root("Root", Alg::P256);
    let mut p = ca_params("Sub CA");
    p.subject_alt_names = vec![SanType::DnsName("localhost".try_into().unwrap())];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let (ca_leaf, _) = root.sign(&p, Alg::P256);
    assert_eq!(
        refused(verify(&[&ca_leaf], "localhost", &[&root.der])),
        CertError::CaUsedAsEndEntity
    );
}

#[test]
fn path_length_exceeded_is_refused() {
    let root = Ca::root("Root", Alg::P256);
    // Intermediate 1 may not have CAs below it; intermediate 2 is one.
    let mut p1 = ca_params("Intermediate 1");
    p1.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let inter1 = root.intermediate(p1, Alg::P256);
    let inter2 = inter1.intermediate(ca_params("Intermediate 2"), Alg::P256);
    let leaf = inter2.leaf(&["localhost"], Alg::P256);
    assert_eq!(
        refused(verify(
            &[&leaf, &inter2.der, &inter1.der],
            "localhost",
            &[&root.der]
        )),
        CertError::PathLenConstraintViolated
    );
    // With pathlen 1 the same chain is fine.
    let mut p1 = ca_params("Intermediate 1");
    p1.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
    let inter1 = root.intermediate(p1, Alg::P256);
    let inter2 = inter1.intermediate(ca_params("Intermediate 2"), Alg::P256);
    let leaf = inter2.leaf(&["localhost"], Alg::P256);
    assert!(
        verify(
            &[&leaf, &inter2.der, &inter1.der],
            "localhost",
            &[&root.der]
        )
        .is_ok()
    );
}

#[test]
fn unknown_critical_extension_is_refused() {
    let root = Ca::root("Root", Alg::P256);
    let mut p = leaf_params(&["localhost"]);
    let mut ext =
        CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 99999, 1], vec![0x05, 0x00]);
    ext.set_criticality(true);
    p.custom_extensions = vec![ext];
    let (leaf, _) = root.sign(&p, Alg::P256);
    assert_eq!(
        refused(verify(&[&leaf], "localhost", &[&root.der])),
        CertError::UnsupportedCriticalExtension
    );
    // The same extension, not critical, is ignored.
    let mut p = leaf_params(&["localhost"]);
    p.custom_extensions = vec![CustomExtension::from_oid_content(
        &[1, 3, 6, 1, 4, 1, 99999, 1],
        vec![0x05, 0x00],
    )];
    let (leaf, _) = root.sign(&p, Alg::P256);
    assert!(verify(&[&leaf], "localhost", &[&root.der]).is_ok());
}

#[test]
fn eku_without_server_auth_is_refused() {
    let root = Ca::root("Root", Alg::P256);
    let mut p = leaf_params(&["localhost"]);
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsagePurpose::EmailProtection,
    ];
    let (leaf, _) = root.sign(&p, Alg::P256);
    assert_eq!(
        refused(verify(&[&leaf], "localhost", &[&root.der])),
        CertError::RequiredEkuNotFound
    );
    // No extendedKeyUsage at all: any use.
    let mut p = leaf_params(&["localhost"]);
    p.extended_key_usages = vec![];
    let (leaf, _) = root.sign(&p, Alg::P256);
    assert!(verify(&[&leaf], "localhost", &[&root.der]).is_ok());
}

#[test]
fn key_usage_is_checked() {
    let root = Ca::root("Root", Alg::P256);
    // A server certificate that may not sign (TLS 1.3 servers sign the handshake).
    let mut p = leaf_params(&["localhost"]);
    p.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
    let (leaf, _) = root.sign(&p, Alg::P256);
    assert_eq!(
        refused(verify(&[&leaf], "localhost", &[&root.der])),
        CertError::KeyUsageNotAllowed
    );
    // An intermediate CA that may not sign certificates.
    let mut ip = ca_params("Intermediate");
    ip.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let inter = root.intermediate(ip, Alg::P256);
    let leaf = inter.leaf(&["localhost"], Alg::P256);
    assert_eq!(
        refused(verify(&[&leaf, &inter.der], "localhost", &[&root.der])),
        CertError::KeyUsageNotAllowed
    );
    // No keyUsage extension: any use.
    let mut p = leaf_params(&["localhost"]);
    p.key_usages = vec![];
    let (leaf, _) = root.sign(&p, Alg::P256);
    assert!(verify(&[&leaf], "localhost", &[&root.der]).is_ok());
}

#[test]
fn corrupted_signature_is_refused() {
    for alg in ALL_ALGS {
        let root = Ca::root("Root", alg);
        let mut leaf = root.leaf(&["localhost"], alg);
        // The signature is the last field: change its last byte.
        let last = leaf.len() - 1;
        leaf[last] ^= 0x01;
        assert_eq!(
            refused(verify(&[&leaf], "localhost", &[&root.der])),
            CertError::BadSignature,
            "{alg:?}"
        );
    }
}

#[test]
fn untrusted_root_is_refused() {
    let root = Ca::root("Root", Alg::P256);
    let other = Ca::root("Root", Alg::P256); // same name, other key
    let unrelated = Ca::root("Another Root", Alg::Rsa2048);
    let leaf = root.leaf(&["localhost"], Alg::P256);
    assert_eq!(
        refused(verify(&[&leaf], "localhost", &[&unrelated.der])),
        CertError::UnknownIssuer
    );
    // A root with the issuer's name but another key: the signature does not verify.
    let reason = refused(verify(&[&leaf], "localhost", &[&other.der]));
    assert!(
        matches!(reason, CertError::UnknownIssuer | CertError::BadSignature),
        "{reason:?}"
    );
    // No anchors at all.
    assert_eq!(
        refused(verify(&[&leaf], "localhost", &[])),
        CertError::UnknownIssuer
    );
    // A self-signed server certificate.
    let self_signed = leaf_params(&["localhost"])
        .self_signed(&Alg::P256.key())
        .unwrap();
    assert_eq!(
        refused(verify(&[self_signed.der()], "localhost", &[&root.der])),
        CertError::UnknownIssuer
    );
    // An intermediate that is missing from the chain.
    let inter = root.intermediate(ca_params("Intermediate"), Alg::P256);
    let leaf = inter.leaf(&["localhost"], Alg::P256);
    assert_eq!(
        refused(verify(&[&leaf], "localhost", &[&root.der])),
        CertError::UnknownIssuer
    );
}

#[test]
fn tenth_san_matches() {
    let root = Ca::root("Root", Alg::P256);
    let names: Vec<String> = (1..=12).map(|i| format!("host{i}.example.test")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let leaf = root.leaf(&refs, Alg::P256);
    for name in &names {
        assert!(verify(&[&leaf], name, &[&root.der]).is_ok(), "{name}");
    }
    assert_eq!(
        verify(&[&leaf], "host10.example.test", &[&root.der]),
        Ok(TrustedBy::Anchor(0))
    );
    assert_eq!(
        verify(&[&leaf], "host13.example.test", &[&root.der]),
        Err(Refusal::Name)
    );
}

#[test]
fn ip_address_sans() {
    let root = Ca::root("Root", Alg::P256);
    let leaf = root.leaf(
        &["localhost", "10.1.2.3", "127.0.0.1", "::1", "2001:db8::25"],
        Alg::P256,
    );
    for name in [
        "127.0.0.1",
        "10.1.2.3",
        "::1",
        "2001:db8::25",
        "2001:0db8:0::25",
    ] {
        assert!(verify(&[&leaf], name, &[&root.der]).is_ok(), "{name}");
    }
    for name in ["127.0.0.2", "::2", "2001:db8::26"] {
        assert_eq!(
            verify(&[&leaf], name, &[&root.der]),
            Err(Refusal::Name),
            "{name}"
        );
    }
    // A DNS-only certificate does not match an IP address, even one written in it as text.
    let leaf = root.leaf(&["localhost"], Alg::P256);
    assert_eq!(
        verify(&[&leaf], "127.0.0.1", &[&root.der]),
        Err(Refusal::Name)
    );
}

#[test]
fn wildcards_follow_rfc_6125() {
    let root = Ca::root("Root", Alg::P256);
    let leaf = root.leaf(&["*.example.test"], Alg::P256);
    assert!(verify(&[&leaf], "mail.example.test", &[&root.der]).is_ok());
    assert!(verify(&[&leaf], "MAIL.Example.TEST", &[&root.der]).is_ok());
    for name in ["example.test", "a.b.example.test", "mail.example.org"] {
        assert_eq!(
            verify(&[&leaf], name, &[&root.der]),
            Err(Refusal::Name),
            "{name}"
        );
    }
    // Partial wildcards match nothing.
    let leaf = root.leaf(&["m*.example.test"], Alg::P256);
    assert!(verify(&[&leaf], "mail.example.test", &[&root.der]).is_err());
    // A wildcard not in the left-most label matches nothing.
    let leaf = root.leaf(&["mail.*.test"], Alg::P256);
    assert!(verify(&[&leaf], "mail.example.test", &[&root.der]).is_err());
}

#[test]
fn several_anchors_in_any_order() {
    let a = Ca::root("Root A", Alg::P256);
    let b = Ca::root("Root B", Alg::Rsa2048);
    let c = Ca::root("Root C", Alg::Ed25519);
    let leaf_b = b.leaf(&["localhost"], Alg::P384);
    let leaf_c = c.leaf(&["localhost"], Alg::P256);
    assert_eq!(
        verify(&[&leaf_b], "localhost", &[&a.der, &b.der, &c.der]),
        Ok(TrustedBy::Anchor(1))
    );
    assert_eq!(
        verify(&[&leaf_b], "localhost", &[&b.der, &c.der, &a.der]),
        Ok(TrustedBy::Anchor(0))
    );
    assert_eq!(
        verify(&[&leaf_c], "localhost", &[&a.der, &b.der, &c.der]),
        Ok(TrustedBy::Anchor(2))
    );
    // A malformed anchor is skipped.
    assert_eq!(
        verify(&[&leaf_c], "localhost", &[b"garbage", &c.der]),
        Ok(TrustedBy::Anchor(1))
    );
    // The most specific error wins over "unknown issuer" from the other anchors.
    let mut p = leaf_params(&["localhost"]);
    p.not_after = date_time_ymd(2021, 1, 1);
    let (expired, _) = c.sign(&p, Alg::P256);
    assert_eq!(
        refused(verify(&[&expired], "localhost", &[&a.der, &b.der, &c.der])),
        CertError::Expired
    );
}

#[test]
fn pre_parsed_roots() {
    let a = Ca::root("Root A", Alg::P256);
    let b = Ca::root("Root B", Alg::P384);
    let leaf = b.leaf(&["localhost"], Alg::P256);
    let (a_der, b_der) = (
        CertificateDer::from(a.der.as_slice()),
        CertificateDer::from(b.der.as_slice()),
    );
    let roots = [
        postwire_tls::webpki::anchor_from_trusted_cert(&a_der).unwrap(),
        postwire_tls::webpki::anchor_from_trusted_cert(&b_der).unwrap(),
    ];
    assert_eq!(
        check(
            &[&leaf],
            "localhost",
            &Trust::Roots(&roots),
            Time::Now(now())
        ),
        Ok(TrustedBy::Anchor(1))
    );
    assert_eq!(
        refused(check(
            &[&leaf],
            "localhost",
            &Trust::Roots(&roots[..1]),
            Time::Now(now())
        )),
        CertError::UnknownIssuer
    );
}

#[test]
fn spki_pinning() {
    let root = Ca::root("Root", Alg::P256);
    let leaf = root.leaf(&["localhost"], Alg::P256);
    let other = root.leaf(&["localhost"], Alg::P256);
    let pin = postwire_tls::spki_sha256(&leaf).unwrap();
    let other_pin = postwire_tls::spki_sha256(&other).unwrap();
    // Pinned: the chain, the name and the validity are not looked at.
    let pins = [other_pin, pin];
    assert_eq!(
        check(&[&leaf], "any.name", &Trust::Pinned(&pins), Time::NoClock),
        Ok(TrustedBy::Pin(1))
    );
    assert_eq!(
        refused(check(
            &[&leaf],
            "localhost",
            &Trust::Pinned(&[other_pin]),
            Time::NoClock
        )),
        CertError::NotPinned
    );
    assert_eq!(
        refused(check(
            &[&leaf],
            "localhost",
            &Trust::Pinned(&[]),
            Time::NoClock
        )),
        CertError::NotPinned
    );
    // The pin is the SHA-256 of the DER SubjectPublicKeyInfo.
    let key = Alg::P384.key();
    let cert = leaf_params(&["localhost"])
        .signed_by(&key, &root.issuer)
        .unwrap();
    use rcgen::PublicKeyData;
    use sha2::Digest;
    let spki = key.subject_public_key_info();
    let digest: [u8; 32] = sha2::Sha256::digest(&spki).into();
    assert_eq!(postwire_tls::spki_sha256(cert.der()), Some(digest));
}

#[test]
fn malformed_input_is_refused() {
    let root = Ca::root("Root", Alg::P256);
    let leaf = root.leaf(&["localhost"], Alg::P256);
    assert_eq!(
        refused(verify(
            &[&leaf[..leaf.len() - 1]],
            "localhost",
            &[&root.der]
        )),
        CertError::Malformed
    );
    assert_eq!(
        refused(verify(&[], "localhost", &[&root.der])),
        CertError::NoCertificate
    );
    let long: Vec<&[u8]> = std::iter::repeat_n(leaf.as_slice(), 17).collect();
    assert_eq!(
        refused(verify(&long, "localhost", &[&root.der])),
        CertError::Malformed
    );
    assert!(matches!(
        verify_server_chain(
            &[&leaf],
            "bad name!",
            &Trust::Anchors(&[&root.der]),
            Time::NoClock
        ),
        Err(TlsError::ServerName)
    ));
    // Insecure accepts anything (it must be asked for explicitly).
    assert_eq!(
        check(&[b"junk"], "localhost", &Trust::Insecure, Time::NoClock),
        Ok(TrustedBy::Insecure)
    );
}

mod certificate_verify {
    //! The verifier as embedded-tls drives it: the Certificate message, then the
    //! CertificateVerify signature over the transcript (RFC 8446 §4.4.3).
    use super::*;
    use postwire_tls::Verifier;
    use postwire_tls::embedded_tls::{
        Aes128GcmSha256, CertificateEntryRef, CertificateRef, CertificateVerifyRef,
        SignatureScheme, TlsVerifier,
    };
    use sha2::{Digest, Sha256};

    /// The signed content for transcript hash `hash`.
    fn signed_content(hash: &[u8]) -> Vec<u8> {
        let mut m = vec![0x20; 64];
        m.extend_from_slice(b"TLS 1.3, server CertificateVerify\x00");
        m.extend_from_slice(hash);
        m
    }

    fn transcript() -> Sha256 {
        let mut t = Sha256::new();
        t.update(b"ClientHello ServerHello EncryptedExtensions Certificate");
        t
    }

    /// Runs Certificate + CertificateVerify through a fresh verifier; returns the refusal.
    fn run(
        chain: &[&[u8]],
        anchors: &[&[u8]],
        scheme: SignatureScheme,
        signature: &[u8],
    ) -> Result<Option<TrustedBy>, TlsError> {
        let trust = Trust::Anchors(anchors);
        let mut v: Verifier<'_> = Verifier::new(&trust);
        TlsVerifier::<Aes128GcmSha256>::set_hostname_verification(&mut v, "localhost").unwrap();
        let mut cert = CertificateRef::with_context(&[]);
        for der in chain {
            cert.add(CertificateEntryRef::X509(der)).unwrap();
        }
        let t = transcript();
        if TlsVerifier::<Aes128GcmSha256>::verify_certificate(&mut v, &t, cert).is_err() {
            return Err(v.last_error().expect("error recorded"));
        }
        let verify = CertificateVerifyRef {
            signature_scheme: scheme,
            signature,
        };
        match TlsVerifier::<Aes128GcmSha256>::verify_signature(&mut v, verify) {
            Ok(()) => Ok(v.trusted_by()),
            Err(_) => Err(v.last_error().expect("error recorded")),
        }
    }

    fn reason(r: Result<Option<TrustedBy>, TlsError>) -> CertError {
        match r {
            Err(TlsError::CertificateInvalid(reason)) => reason,
            other => panic!("expected CertificateInvalid, got {other:?}"),
        }
    }

    #[test]
    fn ecdsa_and_ed25519_signatures() {
        use rcgen::SigningKey;
        let content = signed_content(&transcript().finalize());
        for (alg, scheme) in [
            (Alg::P256, SignatureScheme::EcdsaSecp256r1Sha256),
            (Alg::P384, SignatureScheme::EcdsaSecp384r1Sha384),
            (Alg::Ed25519, SignatureScheme::Ed25519),
        ] {
            let root = Ca::root("Root", Alg::P256);
            let key = alg.key();
            let leaf = leaf_params(&["localhost"])
                .signed_by(&key, &root.issuer)
                .unwrap();
            let sig = key.sign(&content).unwrap();
            assert!(
                matches!(
                    run(&[leaf.der()], &[&root.der], scheme, &sig),
                    Ok(Some(TrustedBy::Anchor(0)))
                ),
                "{alg:?}"
            );
            // A corrupted signature, or one over another transcript.
            let mut bad = sig.clone();
            let i = bad.len() - 3;
            bad[i] ^= 0x40;
            assert_eq!(
                reason(run(&[leaf.der()], &[&root.der], scheme, &bad)),
                CertError::BadHandshakeSignature,
                "{alg:?}"
            );
            let other = key.sign(&signed_content(&[0u8; 32])).unwrap();
            assert_eq!(
                reason(run(&[leaf.der()], &[&root.der], scheme, &other)),
                CertError::BadHandshakeSignature,
                "{alg:?}"
            );
        }
    }

    #[test]
    fn scheme_must_match_the_key() {
        use rcgen::SigningKey;
        let root = Ca::root("Root", Alg::P256);
        let key = Alg::P256.key();
        let leaf = leaf_params(&["localhost"])
            .signed_by(&key, &root.issuer)
            .unwrap();
        let sig = key.sign(&signed_content(&transcript().finalize())).unwrap();
        for scheme in [
            SignatureScheme::EcdsaSecp384r1Sha384,
            SignatureScheme::Ed25519,
            SignatureScheme::RsaPssRsaeSha256,
            SignatureScheme::EcdsaSha1,
        ] {
            assert_eq!(
                reason(run(&[leaf.der()], &[&root.der], scheme, &sig)),
                CertError::UnsupportedSignatureAlgorithm,
                "{scheme:?}"
            );
        }
    }

    #[test]
    fn rsa_pss_signatures_and_no_pkcs1() {
        use ring::signature as rs;
        let rng = ring::rand::SystemRandom::new();
        let content = signed_content(&transcript().finalize());
        let root = Ca::root("Root", Alg::Rsa2048);
        for pk8 in [RSA2048, RSA3072, RSA4096] {
            let key = KeyPair::from_pkcs8_der_and_sign_algo(
                &PrivatePkcs8KeyDer::from(pk8),
                &rcgen::PKCS_RSA_SHA256,
            )
            .unwrap();
            let leaf = leaf_params(&["localhost"])
                .signed_by(&key, &root.issuer)
                .unwrap();
            let ring_key = rs::RsaKeyPair::from_pkcs8(pk8).unwrap();
            let mut sig = vec![0u8; ring_key.public().modulus_len()];
            for (encoding, scheme) in [
                (&rs::RSA_PSS_SHA256, SignatureScheme::RsaPssRsaeSha256),
                (&rs::RSA_PSS_SHA384, SignatureScheme::RsaPssRsaeSha384),
                (&rs::RSA_PSS_SHA512, SignatureScheme::RsaPssRsaeSha512),
            ] {
                ring_key.sign(encoding, &rng, &content, &mut sig).unwrap();
                assert!(
                    matches!(
                        run(&[leaf.der()], &[&root.der], scheme, &sig),
                        Ok(Some(TrustedBy::Anchor(0)))
                    ),
                    "{scheme:?}"
                );
                sig[7] ^= 1;
                assert_eq!(
                    reason(run(&[leaf.der()], &[&root.der], scheme, &sig)),
                    CertError::BadHandshakeSignature,
                    "{scheme:?}"
                );
            }
            // RSASSA-PKCS1-v1_5 is not allowed in TLS 1.3 CertificateVerify (RFC 8446
            // §4.4.3), even when correctly made.
            ring_key
                .sign(&rs::RSA_PKCS1_SHA256, &rng, &content, &mut sig)
                .unwrap();
            assert_eq!(
                reason(run(
                    &[leaf.der()],
                    &[&root.der],
                    SignatureScheme::RsaPkcs1Sha256,
                    &sig
                )),
                CertError::UnsupportedSignatureAlgorithm
            );
        }
    }

    #[test]
    fn signature_without_certificate_is_refused() {
        let trust = Trust::Anchors(&[]);
        let mut v: Verifier<'_> = Verifier::new(&trust);
        let verify = CertificateVerifyRef {
            signature_scheme: SignatureScheme::EcdsaSecp256r1Sha256,
            signature: &[0x30, 0x00],
        };
        assert!(TlsVerifier::<Aes128GcmSha256>::verify_signature(&mut v, verify).is_err());
        assert!(matches!(
            v.last_error(),
            Some(TlsError::CertificateInvalid(CertError::NoCertificate))
        ));
        assert_eq!(v.trusted_by(), None);
    }

    #[test]
    fn refused_chain_reports_its_reason() {
        let root = Ca::root("Root", Alg::P256);
        let other = Ca::root("Other", Alg::P256);
        let leaf = root.leaf(&["localhost"], Alg::P256);
        assert_eq!(
            reason(run(
                &[&leaf],
                &[&other.der],
                SignatureScheme::EcdsaSecp256r1Sha256,
                &[]
            )),
            CertError::UnknownIssuer
        );
        let leaf = root.leaf(&["elsewhere"], Alg::P256);
        assert!(matches!(
            run(
                &[&leaf],
                &[&root.der],
                SignatureScheme::EcdsaSecp256r1Sha256,
                &[]
            ),
            Err(TlsError::HostnameMismatch)
        ));
    }
}

#[test]
fn mutated_certificates_never_panic_and_are_never_accepted_for_another_key() {
    // Every truncation and a bit flip in every byte of a valid chain: the verifier must
    // return (no panic) and refuse: every byte of a DER certificate is either signed or part
    // of the signature.
    let root = Ca::root("Root", Alg::P256);
    let inter = root.intermediate(ca_params("Intermediate"), Alg::P256);
    let leaf = inter.leaf(&["localhost"], Alg::P256);
    let anchors: [&[u8]; 1] = [&root.der];
    let pin = postwire_tls::spki_sha256(&leaf).unwrap();
    for len in 0..leaf.len() {
        assert!(verify(&[&leaf[..len], &inter.der], "localhost", &anchors).is_err());
    }
    for len in 0..inter.der.len() {
        assert!(verify(&[&leaf, &inter.der[..len]], "localhost", &anchors).is_err());
    }
    let mut accepted = 0;
    for i in 0..leaf.len() {
        let mut m = leaf.clone();
        m[i] ^= 0x10;
        if verify(&[&m, &inter.der], "localhost", &anchors).is_ok() {
            assert_eq!(postwire_tls::spki_sha256(&m), Some(pin), "byte {i}");
            accepted += 1;
        }
        let _ = check(&[&m], "localhost", &Trust::Pinned(&[pin]), Time::NoClock);
        let _ = check(
            &[&m, &inter.der],
            "localhost",
            &Trust::Anchors(&anchors),
            Time::NoClock,
        );
    }
    assert_eq!(accepted, 0);
}
