//! A small certificate authority for test and development communities (`udap-server ca`, and
//! every test suite's PKI), built on rcgen with OpenSSL-generated keys.
//!
//! Certificates always carry SubjectKeyIdentifier and AuthorityKeyIdentifier, like real-world
//! PKIs: that is what makes "same DN, other key" cases behave as they do in the field (UDAP-46).
//!
//! ```no_run
//! use udap_server::pki::ca::{self, CertSpec};
//! let now = 1_800_000_000;
//! let root = ca::self_signed(&CertSpec::ca("Example Root CA", now))?;
//! let leaf = ca::issue(&CertSpec::leaf("client", "https://client.example/app", now), &root.cert_pem, &root.key_pem)?;
//! let crl = ca::crl(&root.cert_pem, &root.key_pem, &[leaf.serial_hex.clone()], 1, now, now + 86_400)?;
//! # Ok::<(), udap_server::pki::CaError>(())
//! ```

mod dir;
mod keys;

pub use dir::{CaDir, CaNames, IssuedLeaf, PublishedCrl, RevokedCert, CA_STATE_FILE};
pub use keys::KeyKind;
pub use rcgen::{ExtendedKeyUsagePurpose, KeyUsagePurpose};

use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint,
    DnType, IsCa, Issuer, KeyIdMethod, RevokedCertParams, SanType, SerialNumber,
};
use time::OffsetDateTime;

use super::certinfo::normalize_serial;
use super::error::CaError;

/// One day in seconds.
pub const DAY: i64 = 86_400;

/// What to put in a certificate. Build one with [`CertSpec::leaf`] or [`CertSpec::ca`] and adjust
/// fields with struct-update syntax for special cases (expired, no SAN, odd key usage...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSpec {
    /// Subject CN (at most 64 characters, RFC 5280 ub-common-name).
    pub common_name: String,
    /// Subject O, if any.
    pub organization: Option<String>,
    /// uniformResourceIdentifier SANs; a UDAP client's `iss` must be one of them (UDAP-50).
    pub san_uris: Vec<String>,
    /// dNSName SANs (for TLS server certificates).
    pub dns_names: Vec<String>,
    pub key: KeyKind,
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds.
    pub not_after: i64,
    /// basicConstraints CA:TRUE (otherwise an explicit CA:FALSE is written).
    pub is_ca: bool,
    /// pathLenConstraint for CA certificates.
    pub path_len: Option<u8>,
    /// `None` = a sensible default: CA → keyCertSign, cRLSign, digitalSignature; leaf →
    /// digitalSignature. `Some(vec![])` omits the keyUsage extension.
    pub key_usage: Option<Vec<KeyUsagePurpose>>,
    /// extKeyUsage purposes; empty omits the extension (UDAP-51 requires no particular EKU).
    pub extended_key_usage: Vec<ExtendedKeyUsagePurpose>,
    /// cRLDistributionPoints URIs (UDAP-48), e.g. `http://ca.example/intermediate.crl`.
    pub crl_distribution_points: Vec<String>,
    /// Serial number; `None` = 127 random bits.
    pub serial: Option<u64>,
}

impl CertSpec {
    /// A client leaf: RSA-2048, SAN URI `san_uri`, keyUsage digitalSignature, valid from a day
    /// before `now` (clock skew) for a year.
    pub fn leaf(common_name: &str, san_uri: &str, now: i64) -> Self {
        CertSpec {
            common_name: common_name.to_string(),
            organization: None,
            san_uris: vec![san_uri.to_string()],
            dns_names: Vec::new(),
            key: KeyKind::Rsa2048,
            not_before: now - DAY,
            not_after: now + 365 * DAY,
            is_ca: false,
            path_len: None,
            key_usage: None,
            extended_key_usage: Vec::new(),
            crl_distribution_points: Vec::new(),
            serial: None,
        }
    }

    /// A CA: RSA-2048, CA:TRUE without path length limit, valid from a day before `now` for ten years.
    pub fn ca(common_name: &str, now: i64) -> Self {
        CertSpec {
            san_uris: Vec::new(),
            is_ca: true,
            not_after: now + 3650 * DAY,
            ..CertSpec::leaf(common_name, "", now)
        }
    }

    fn params(&self) -> Result<CertificateParams, CaError> {
        if self.not_after <= self.not_before {
            return Err(CaError::BadSpec(format!(
                "notAfter {} is not after notBefore {}",
                self.not_after, self.not_before
            )));
        }
        if self.common_name.is_empty() || self.common_name.chars().count() > 64 {
            return Err(CaError::BadSpec(
                "the common name must have 1 to 64 characters".into(),
            ));
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(org) = &self.organization {
            params
                .distinguished_name
                .push(DnType::OrganizationName, org.as_str());
        }
        params
            .distinguished_name
            .push(DnType::CommonName, self.common_name.as_str());
        params.not_before = timestamp(self.not_before)?;
        params.not_after = timestamp(self.not_after)?;
        params.serial_number = Some(SerialNumber::from_slice(&match self.serial {
            Some(s) => normalize_serial(&s.to_be_bytes()),
            None => random_serial()?,
        }));
        for uri in &self.san_uris {
            let ia5 = uri
                .as_str()
                .try_into()
                .map_err(|e| CaError::BadSpec(format!("SAN URI `{uri}`: {e}")))?;
            params.subject_alt_names.push(SanType::URI(ia5));
        }
        for dns in &self.dns_names {
            let ia5 = dns
                .as_str()
                .try_into()
                .map_err(|e| CaError::BadSpec(format!("DNS name `{dns}`: {e}")))?;
            params.subject_alt_names.push(SanType::DnsName(ia5));
        }
        params.is_ca = if self.is_ca {
            IsCa::Ca(self.path_len.map_or(
                BasicConstraints::Unconstrained,
                BasicConstraints::Constrained,
            ))
        } else {
            // Explicit CA:FALSE also makes rcgen write the SubjectKeyIdentifier.
            IsCa::ExplicitNoCa
        };
        params.key_usages = match &self.key_usage {
            Some(ku) => ku.clone(),
            None if self.is_ca => {
                vec![
                    KeyUsagePurpose::KeyCertSign,
                    KeyUsagePurpose::CrlSign,
                    KeyUsagePurpose::DigitalSignature,
                ]
            }
            None => vec![KeyUsagePurpose::DigitalSignature],
        };
        params.extended_key_usages = self.extended_key_usage.clone();
        if !self.crl_distribution_points.is_empty() {
            params.crl_distribution_points = vec![CrlDistributionPoint {
                uris: self.crl_distribution_points.clone(),
            }];
        }
        params.use_authority_key_identifier_extension = true;
        params.key_identifier_method = KeyIdMethod::Sha256;
        Ok(params)
    }
}

/// A generated certificate and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCert {
    /// The certificate alone, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM. Keep it secret (write it with mode 0600).
    pub key_pem: String,
    /// The certificate, DER (what goes into x5c).
    pub der: Vec<u8>,
    /// Lower-case hex serial number without leading zeros (as `ca revoke` and CRLs use it).
    pub serial_hex: String,
}

/// Creates a self-signed certificate (normally a root CA) from `spec`.
pub fn self_signed(spec: &CertSpec) -> Result<IssuedCert, CaError> {
    let key = spec.key.generate()?;
    let key_pem = keys::private_pem(&key)?;
    let (pair, _) = keys::signing_key(&key_pem)?;
    let params = spec.params()?;
    let cert = params
        .self_signed(&pair)
        .map_err(|e| CaError::Generate(e.to_string()))?;
    finish(cert.der().to_vec(), key_pem)
}

/// Issues a certificate for `spec` with a fresh key, signed by the issuer (its certificate PEM,
/// the first certificate if several, and its private key PEM). The issuer key must belong to
/// the issuer certificate.
pub fn issue(
    spec: &CertSpec,
    issuer_cert_pem: &str,
    issuer_key_pem: &str,
) -> Result<IssuedCert, CaError> {
    issue_inner(spec, issuer_cert_pem, issuer_key_pem, true)
}

/// `issue` without the key-matches-certificate check, so tests can forge a certificate that names
/// an issuer (DN and AuthorityKeyIdentifier) whose key did not sign it (UDAP-46 negative cases).
pub(crate) fn issue_inner(
    spec: &CertSpec,
    issuer_cert_pem: &str,
    issuer_key_pem: &str,
    check_key: bool,
) -> Result<IssuedCert, CaError> {
    let issuer = load_issuer(issuer_cert_pem, issuer_key_pem, check_key)?;
    let key = spec.key.generate()?;
    issue_for_key(spec, &key, &issuer)
}

fn issue_for_key(
    spec: &CertSpec,
    key: &PKey<Private>,
    issuer: &Issuer<'static, rcgen::KeyPair>,
) -> Result<IssuedCert, CaError> {
    let key_pem = keys::private_pem(key)?;
    let public = keys::subject_public_key(key)?;
    let cert = spec
        .params()?
        .signed_by(&public, issuer)
        .map_err(|e| CaError::Generate(e.to_string()))?;
    finish(cert.der().to_vec(), key_pem)
}

/// Creates a CRL (PEM) signed by the issuer, listing `revoked_serials_hex` (hex, any case, colons
/// allowed), with the given CRL number and thisUpdate/nextUpdate (unix seconds).
pub fn crl(
    issuer_cert_pem: &str,
    issuer_key_pem: &str,
    revoked_serials_hex: &[String],
    crl_number: u64,
    this_update: i64,
    next_update: i64,
) -> Result<String, CaError> {
    crl_inner(
        issuer_cert_pem,
        issuer_key_pem,
        revoked_serials_hex,
        crl_number,
        this_update,
        next_update,
        true,
    )
}

/// `crl` without the key check: tests use it to make a CRL that names an issuer but is signed by
/// another key (it must be ignored, UDAP-48).
pub(crate) fn crl_inner(
    issuer_cert_pem: &str,
    issuer_key_pem: &str,
    revoked_serials_hex: &[String],
    crl_number: u64,
    this_update: i64,
    next_update: i64,
    check_key: bool,
) -> Result<String, CaError> {
    let issuer = load_issuer(issuer_cert_pem, issuer_key_pem, check_key)?;
    let revocation_time = timestamp(this_update)?;
    let mut revoked_certs = Vec::with_capacity(revoked_serials_hex.len());
    for serial in revoked_serials_hex {
        revoked_certs.push(RevokedCertParams {
            serial_number: SerialNumber::from_slice(&parse_serial_hex(serial)?),
            revocation_time,
            reason_code: None,
            invalidity_date: None,
        });
    }
    let params = CertificateRevocationListParams {
        this_update: revocation_time,
        next_update: timestamp(next_update)?,
        crl_number: SerialNumber::from_slice(&normalize_serial(&crl_number.to_be_bytes())),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let crl = params
        .signed_by(&issuer)
        .map_err(|e| CaError::Generate(e.to_string()))?;
    crl.pem().map_err(|e| CaError::Generate(e.to_string()))
}

/// Parses a hex serial (`0A:1b`, `0a1b`) into normalized bytes.
pub fn parse_serial_hex(serial: &str) -> Result<Vec<u8>, CaError> {
    let clean: String = serial
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    let padded = if clean.len() % 2 == 1 {
        format!("0{clean}")
    } else {
        clean
    };
    let bytes = hex::decode(&padded)
        .map_err(|_| CaError::BadSpec(format!("serial `{serial}` is not hex")))?;
    if bytes.is_empty() || bytes.len() > 20 {
        return Err(CaError::BadSpec(format!(
            "serial `{serial}` must have 1 to 20 octets"
        )));
    }
    Ok(normalize_serial(&bytes))
}

fn load_issuer(
    cert_pem: &str,
    key_pem: &str,
    check_key: bool,
) -> Result<Issuer<'static, rcgen::KeyPair>, CaError> {
    let (pair, key) = keys::signing_key(key_pem)?;
    if check_key {
        let cert = X509::from_pem(cert_pem.as_bytes()).map_err(|e| CaError::BadInput {
            what: "issuer certificate",
            detail: e.to_string(),
        })?;
        let public = cert.public_key().map_err(|e| CaError::BadInput {
            what: "issuer certificate",
            detail: e.to_string(),
        })?;
        if !public.public_eq(&key) {
            return Err(CaError::BadInput {
                what: "issuer private key",
                detail: "it does not belong to the issuer certificate".into(),
            });
        }
    }
    Issuer::from_ca_cert_pem(cert_pem, pair).map_err(|e| CaError::BadInput {
        what: "issuer certificate",
        detail: e.to_string(),
    })
}

fn finish(der: Vec<u8>, key_pem: String) -> Result<IssuedCert, CaError> {
    let cert = X509::from_der(&der)
        .map_err(|e| CaError::Generate(format!("re-reading the certificate: {e}")))?;
    let serial = cert
        .serial_number()
        .to_bn()
        .map_err(|e| CaError::Generate(format!("reading the serial: {e}")))?
        .to_vec();
    Ok(IssuedCert {
        cert_pem: super::pem::encode("CERTIFICATE", &der),
        key_pem,
        serial_hex: hex::encode(normalize_serial(&serial)),
        der,
    })
}

fn timestamp(unix: i64) -> Result<OffsetDateTime, CaError> {
    OffsetDateTime::from_unix_timestamp(unix)
        .map_err(|e| CaError::BadSpec(format!("time {unix} out of range: {e}")))
}

/// 127 random bits: positive, never zero, and below the 20-octet limit of RFC 5280 4.1.2.2.
fn random_serial() -> Result<Vec<u8>, CaError> {
    let mut bytes = [0u8; 16];
    openssl::rand::rand_bytes(&mut bytes)
        .map_err(|e| CaError::Key(format!("random serial: {e}")))?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(bytes.to_vec())
}

/// Issues a leaf for an existing key (tests: a weak RSA-1024 leaf, or a second certificate for
/// the same key).
pub fn issue_for_existing_key(
    spec: &CertSpec,
    key_pem: &str,
    issuer_cert_pem: &str,
    issuer_key_pem: &str,
) -> Result<IssuedCert, CaError> {
    let key = PKey::private_key_from_pem(key_pem.as_bytes()).map_err(|e| CaError::BadInput {
        what: "subject private key",
        detail: e.to_string(),
    })?;
    let issuer = load_issuer(issuer_cert_pem, issuer_key_pem, true)?;
    issue_for_key(spec, &key, &issuer)
}
