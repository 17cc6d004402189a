//! Reading the certificate fields the checks need, with x509-parser (OpenSSL builds and verifies
//! the path; x509-parser gives typed access to extensions without unsafe FFI).

use openssl::x509::X509Ref;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

use super::error::ChainError;

/// Shown instead of a subject DN when the certificate cannot even be parsed.
pub(crate) const UNPARSEABLE_SUBJECT: &str = "<unparseable certificate>";

/// The keyUsage bits the checks look at (UDAP-51).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyUsageBits {
    pub digital_signature: bool,
    pub key_cert_sign: bool,
    pub crl_sign: bool,
}

/// The fields of one certificate used by validation and revocation.
#[derive(Debug, Clone)]
pub(crate) struct CertFacts {
    pub subject: String,
    pub not_before: i64,
    pub not_after: i64,
    /// basicConstraints present with CA:TRUE.
    pub is_ca: bool,
    /// `None` when the keyUsage extension is absent (then every usage is allowed, RFC 5280 4.2.1.3).
    pub key_usage: Option<KeyUsageBits>,
    pub san_uris: Vec<String>,
    /// http(s) URLs from the cRLDistributionPoints fullName entries (UDAP-48).
    pub crl_urls: Vec<String>,
    /// Serial number without leading zero octets, as compared against CRL entries.
    pub serial: Vec<u8>,
    /// The signature algorithm's dotted OID.
    pub signature_oid: String,
}

impl CertFacts {
    /// Parses DER; rejects trailing bytes and duplicate or malformed extensions.
    pub(crate) fn parse(der: &[u8]) -> Result<Self, String> {
        let (rest, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
        if !rest.is_empty() {
            return Err(format!(
                "{} trailing bytes after the certificate",
                rest.len()
            ));
        }
        let is_ca = cert
            .basic_constraints()
            .map_err(|e| e.to_string())?
            .is_some_and(|bc| bc.value.ca);
        let key_usage = cert
            .key_usage()
            .map_err(|e| e.to_string())?
            .map(|ku| KeyUsageBits {
                digital_signature: ku.value.digital_signature(),
                key_cert_sign: ku.value.key_cert_sign(),
                crl_sign: ku.value.crl_sign(),
            });
        let san_uris = uri_sans(&cert)?;
        let mut crl_urls = Vec::new();
        for ext in cert.extensions() {
            if let ParsedExtension::CRLDistributionPoints(points) = ext.parsed_extension() {
                for point in points.iter() {
                    if let Some(DistributionPointName::FullName(names)) = &point.distribution_point
                    {
                        for name in names {
                            if let GeneralName::URI(uri) = name {
                                let lower = uri.to_ascii_lowercase();
                                // Only HTTP(S) can be fetched; LDAP and others are ignored.
                                if lower.starts_with("http://") || lower.starts_with("https://") {
                                    crl_urls.push((*uri).to_string());
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(CertFacts {
            subject: cert.subject().to_string(),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            is_ca,
            key_usage,
            san_uris,
            crl_urls,
            serial: normalize_serial(cert.tbs_certificate.raw_serial()),
            signature_oid: cert.signature_algorithm.algorithm.to_id_string(),
        })
    }

    /// Parses an OpenSSL certificate (re-encoding it to DER first).
    pub(crate) fn of(cert: &X509Ref) -> Result<Self, String> {
        let der = cert.to_der().map_err(|e| e.to_string())?;
        Self::parse(&der)
    }
}

fn uri_sans(cert: &X509Certificate<'_>) -> Result<Vec<String>, String> {
    let Some(san) = cert.subject_alternative_name().map_err(|e| e.to_string())? else {
        return Ok(Vec::new());
    };
    Ok(san
        .value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::URI(uri) => Some((*uri).to_string()),
            _ => None,
        })
        .collect())
}

/// Serial numbers are compared as unsigned magnitudes: strip the sign-padding zero octets.
pub(crate) fn normalize_serial(raw: &[u8]) -> Vec<u8> {
    let start = raw
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(raw.len().saturating_sub(1));
    raw[start..].to_vec()
}

/// Lower-case hex of a normalized serial, as shown in errors and written by the CA tooling.
pub(crate) fn serial_hex(serial: &[u8]) -> String {
    hex::encode(normalize_serial(serial))
}

/// Names signature algorithms we refuse because their digest is broken; `None` if acceptable.
pub(crate) fn weak_signature_name(oid: &str) -> Option<&'static str> {
    match oid {
        "1.2.840.113549.1.1.2" => Some("md2WithRSAEncryption"),
        "1.2.840.113549.1.1.4" => Some("md5WithRSAEncryption"),
        "1.2.840.113549.1.1.5" => Some("sha1WithRSAEncryption"),
        "1.2.840.10045.4.1" => Some("ecdsa-with-SHA1"),
        "1.2.840.10040.4.3" => Some("dsa-with-SHA1"),
        _ => None,
    }
}

/// The subject DN of a certificate as text (`C=US, O=Example, CN=Name`), for messages and logs.
pub fn subject_string(cert: &X509Ref) -> String {
    cert.to_der()
        .ok()
        .and_then(|der| {
            X509Certificate::from_der(&der)
                .ok()
                .map(|(_, c)| c.subject().to_string())
        })
        .unwrap_or_else(|| UNPARSEABLE_SUBJECT.to_string())
}

/// UDAP-50: the leaf's uniformResourceIdentifier SANs, in certificate order. Other SAN types
/// (DNS names, e-mail) are ignored: only URIs can equal a software statement's `iss`.
pub fn san_uris(cert_der: &[u8]) -> Result<Vec<String>, ChainError> {
    let (rest, cert) =
        X509Certificate::from_der(cert_der).map_err(|_| ChainError::Malformed { index: 0 })?;
    if !rest.is_empty() {
        return Err(ChainError::Malformed { index: 0 });
    }
    uri_sans(&cert).map_err(|_| ChainError::Malformed { index: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_normalization() {
        assert_eq!(normalize_serial(&[0, 0x80, 1]), vec![0x80, 1]);
        assert_eq!(normalize_serial(&[0]), vec![0]);
        assert_eq!(normalize_serial(&[]), Vec::<u8>::new());
        assert_eq!(serial_hex(&[0, 0xab]), "ab");
    }

    #[test]
    fn san_uris_rejects_garbage() {
        assert_eq!(
            san_uris(b"not a certificate"),
            Err(ChainError::Malformed { index: 0 })
        );
    }
}
