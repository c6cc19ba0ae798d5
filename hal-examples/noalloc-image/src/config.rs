//! Device settings: the mail server, credentials, addresses and the TLS trust anchor.
//!
//! A real device reads these from provisioned storage (a flash config page, a secure element),
//! never from source code. Here they are constants, read through [`core::hint::black_box`] so
//! that the compiler cannot fold them into the code and drop paths a real configuration would
//! take (the image must contain the whole client).

/// What a device is provisioned with.
pub struct Provisioning {
    /// The device's own IPv4 address (static: no DHCP client in the image).
    pub ip: [u8; 4],
    /// Prefix length of the local network.
    pub prefix_len: u8,
    /// The default gateway.
    pub gateway: [u8; 4],
    /// The mail server's address.
    pub server_ip: [u8; 4],
    /// Its name: the EHLO greeting's peer, the TLS server name (SNI and certificate check).
    pub server_name: &'static str,
    /// The name this device sends with EHLO.
    pub client_domain: &'static str,
    /// SMTP AUTH user name.
    pub username: &'static str,
    /// SMTP AUTH password.
    pub password: &'static str,
    /// The envelope sender.
    pub from: &'static str,
    /// The alert recipients.
    pub to: &'static [&'static str],
    /// The alert message (headers, blank line, body).
    pub alert: &'static [u8],
    /// The TLS trust anchors (DER CA certificates).
    pub trust_anchors: &'static [&'static [u8]],
}

/// **Placeholder**, not a certificate: CA files are not committed to this repository. A real
/// device is provisioned with the DER certificate of the CA that issued its mail server's
/// certificate (P-256 ECDSA with the default features; RSA, P-384 and Ed25519 need the
/// `rsa`, `p384`, `ed25519` features), e.g. `include_bytes!("mail-ca.der")`. With this
/// placeholder every handshake fails with `CertificateInvalid(UnknownIssuer)`, which is the
/// right outcome for an unprovisioned device.
pub static PLACEHOLDER_CA_DER: [u8; 16] = [
    0x30, 0x0e, // SEQUENCE, 14 bytes: structurally DER, semantically empty
    0x30, 0x0c, 0x02, 0x01, 0x00, 0x30, 0x07, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x00,
];

static PROVISIONING: Provisioning = Provisioning {
    // RFC 5737 documentation addresses: the image is built, not run.
    ip: [192, 0, 2, 10],
    prefix_len: 24,
    gateway: [192, 0, 2, 1],
    server_ip: [198, 51, 100, 25],
    server_name: "mail.example.com",
    client_domain: "sensor-17.example.com",
    username: "sensor-17",
    password: "placeholder-provisioned-secret",
    from: "sensor-17@example.com",
    to: &["ops@example.com", "oncall@example.com"],
    alert: b"From: sensor-17 <sensor-17@example.com>\r\n\
To: ops@example.com, oncall@example.com\r\n\
Subject: ALERT: temperature threshold exceeded\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
Sensor 17 reports 81.5 C (threshold 75.0 C).\r\n\
.leading dot line to exercise dot-stuffing\r\n",
    trust_anchors: &[&PLACEHOLDER_CA_DER],
};

/// The device's settings (opaque to the optimiser, as if read from flash at run time).
pub fn provisioning() -> &'static Provisioning {
    core::hint::black_box(&PROVISIONING)
}
