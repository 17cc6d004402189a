//! Error types of the `pki` module: one enum per concern, each variant naming what is wrong and
//! which certificate (by subject DN) or which configuration input caused it.

use thiserror::Error;

/// Why an x5c certificate chain was rejected (UDAP-46..UDAP-52).
///
/// Every variant that concerns a certificate carries its subject DN (`subject`) so an operator can
/// tell which certificate to replace. The variants are deliberately specific: callers map them to
/// an OAuth error once (the client sees a fixed description; the detail goes to the log).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChainError {
    /// The x5c array holds no certificate (UDAP-46: the leaf is the first element).
    #[error("x5c holds no certificate")]
    Empty,
    /// More certificates than any legitimate path needs; bounds the work an attacker can cause.
    #[error("x5c holds {count} certificates; at most {max} are accepted")]
    TooManyCertificates { count: usize, max: usize },
    /// x5c element `index` is not a DER X.509 certificate (or has trailing data).
    #[error("x5c[{index}] is not a well-formed DER X.509 certificate")]
    Malformed { index: usize },
    /// UDAP-47: the certificate's notAfter lies before the validation time.
    #[error("certificate `{subject}` expired at {not_after} (unix seconds)")]
    Expired { subject: String, not_after: i64 },
    /// UDAP-47: the certificate's notBefore lies after the validation time.
    #[error("certificate `{subject}` is not valid before {not_before} (unix seconds)")]
    NotYetValid { subject: String, not_before: i64 },
    /// UDAP-46: no path from this certificate to one of the community's anchors (this includes a
    /// self-signed certificate that is not an anchor, and an issuer that cannot be found at all).
    #[error("certificate `{subject}` does not chain to a trust anchor of this community")]
    Untrusted { subject: String },
    /// UDAP-46: a certificate with the issuer's name exists, but its key did not sign this
    /// certificate (same DN, other key), or the signature itself is broken.
    #[error(
        "the signature on certificate `{subject}` does not verify with its named issuer's key"
    )]
    BadSignature { subject: String },
    /// UDAP-49: an issuing certificate lacks basicConstraints CA:TRUE.
    #[error("certificate `{subject}` issues certificates but is not a CA (basicConstraints CA:TRUE missing)")]
    NotCa { subject: String },
    /// UDAP-49: the path is longer than this CA's basicConstraints pathLenConstraint allows.
    #[error("the path exceeds the pathLenConstraint of CA certificate `{subject}`")]
    PathLength { subject: String },
    /// A CA certificate (basicConstraints CA:TRUE) was presented as the x5c leaf.
    #[error(
        "certificate `{subject}` is a CA certificate and cannot be used as a client or server leaf"
    )]
    LeafIsCa { subject: String },
    /// UDAP-51: the leaf's keyUsage lacks digitalSignature, or an issuer's keyUsage lacks keyCertSign.
    #[error("certificate `{subject}` has a keyUsage that does not allow this use")]
    KeyUsage { subject: String },
    /// UDAP-52: key too small or of a type/curve we do not accept (RSA >= 2048, EC P-256/P-384).
    #[error("certificate `{subject}` has an unacceptable key: {detail}")]
    WeakKey { subject: String, detail: String },
    /// The certificate is signed with a broken digest (MD5, SHA-1).
    #[error("certificate `{subject}` is signed with the weak algorithm {algorithm}")]
    WeakSignature { subject: String, algorithm: String },
    /// UDAP-48: a usable CRL of the issuer lists this certificate's serial number.
    #[error("certificate `{subject}` (serial {serial}) is revoked")]
    Revoked { subject: String, serial: String },
    /// UDAP-48: no usable CRL was found and the community fails closed.
    #[error("revocation status of certificate `{subject}` is unknown: {reason}")]
    RevocationUnknown { subject: String, reason: String },
    /// UDAP-50: the leaf carries no uniformResourceIdentifier SAN, so it cannot be matched to `iss`.
    #[error("certificate `{subject}` has no subjectAltName URI")]
    NoSanUri { subject: String },
    /// A name in the certificate violates an issuer's nameConstraints.
    #[error("certificate `{subject}` violates a nameConstraints extension of its path")]
    NameConstraints { subject: String },
    /// The certificate has a critical extension that cannot be processed (RFC 5280 4.2).
    #[error("certificate `{subject}` has an unsupported critical extension")]
    UnhandledCriticalExtension { subject: String },
    /// The built path is longer than the verification depth limit.
    #[error("the path through certificate `{subject}` is longer than the allowed depth")]
    ChainTooLong { subject: String },
    /// Any other OpenSSL verification failure; `code` is the X509_V_ERR value, `detail` its text.
    #[error("certificate `{subject}` was rejected: {detail} (X509_V_ERR {code})")]
    Rejected {
        subject: String,
        code: i32,
        detail: String,
    },
    /// OpenSSL failed internally (allocation, library state); not a verdict on the certificates.
    #[error("certificate validation could not run: {detail}")]
    Internal { detail: String },
}

impl ChainError {
    /// A fixed text for clients: says what is wrong without echoing subject DNs, OpenSSL error
    /// stacks or CRL URLs (those are in `Display`, for the log).
    pub fn public_text(&self) -> &'static str {
        match self {
            ChainError::Empty
            | ChainError::TooManyCertificates { .. }
            | ChainError::Malformed { .. } => "the x5c certificate chain is malformed",
            ChainError::Expired { .. } => "the certificate has expired",
            ChainError::NotYetValid { .. } => "the certificate is not yet valid",
            ChainError::Untrusted { .. } => {
                "the certificate does not chain to a trust anchor of this community"
            }
            ChainError::BadSignature { .. } => {
                "a signature in the certificate chain does not verify"
            }
            ChainError::NotCa { .. } => "an issuing certificate in the chain is not a CA",
            ChainError::PathLength { .. } => "the chain exceeds a CA's path length constraint",
            ChainError::LeafIsCa { .. } => "a CA certificate cannot be used as the leaf",
            ChainError::KeyUsage { .. } => "the certificate's key usage does not allow this use",
            ChainError::WeakKey { .. } => {
                "the certificate's key is too weak or of an unsupported type"
            }
            ChainError::WeakSignature { .. } => "the certificate is signed with a weak algorithm",
            ChainError::Revoked { .. } => "the certificate has been revoked",
            ChainError::RevocationUnknown { .. } => {
                "the certificate's revocation status could not be established"
            }
            ChainError::NoSanUri { .. } => "the certificate has no subjectAltName URI",
            ChainError::NameConstraints { .. } => {
                "the certificate violates a name constraint of its chain"
            }
            ChainError::UnhandledCriticalExtension { .. } => {
                "the certificate has an unsupported critical extension"
            }
            ChainError::ChainTooLong { .. } => "the certificate chain is too long",
            ChainError::Rejected { .. } => "the certificate chain was rejected",
            ChainError::Internal { .. } => "the certificate chain could not be validated",
        }
    }
}

/// Why a trust community's configuration cannot be used. Raised once at construction, so a
/// half-valid community is never served (fail closed on configuration).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PkiConfigError {
    /// A community without anchors would trust nothing; almost certainly a configuration mistake.
    #[error("community `{uri}`: no trust anchor configured")]
    NoAnchors { uri: String },
    /// An input string is not PEM, or a PEM block does not decode.
    #[error("community `{uri}`: {what} #{index} is not valid PEM: {detail}")]
    BadPem {
        uri: String,
        what: &'static str,
        index: usize,
        detail: String,
    },
    /// An anchor or intermediate input holds no CERTIFICATE block.
    #[error("community `{uri}`: {what} #{index} holds no PEM CERTIFICATE block")]
    NoCertificate {
        uri: String,
        what: &'static str,
        index: usize,
    },
    /// A certificate in an anchor or intermediate input does not parse.
    #[error("community `{uri}`: {what} #{index} holds a malformed certificate: {detail}")]
    BadCertificate {
        uri: String,
        what: &'static str,
        index: usize,
        detail: String,
    },
    /// Anchors and intermediates must be CA certificates (UDAP-49); a leaf pinned as an anchor is
    /// refused so that the trust model stays "CAs vouch for clients".
    #[error("community `{uri}`: {what} #{index} `{subject}` is not a CA certificate (basicConstraints CA:TRUE missing)")]
    NotCa {
        uri: String,
        what: &'static str,
        index: usize,
        subject: String,
    },
    /// A CRL input holds no X509 CRL block.
    #[error("community `{uri}`: CRL #{index} holds no PEM X509 CRL block")]
    NoCrl { uri: String, index: usize },
    /// A CRL does not parse.
    #[error("community `{uri}`: CRL #{index} is malformed: {detail}")]
    BadCrl {
        uri: String,
        index: usize,
        detail: String,
    },
}

/// Why the test/development CA tooling (`pki::ca`) could not issue a certificate or CRL.
#[derive(Debug, Error)]
pub enum CaError {
    /// The issuer certificate or key PEM could not be read.
    #[error("cannot read {what}: {detail}")]
    BadInput { what: &'static str, detail: String },
    /// The certificate specification is inconsistent (e.g. notAfter before notBefore).
    #[error("invalid certificate specification: {0}")]
    BadSpec(String),
    /// Key generation or key conversion failed.
    #[error("key error: {0}")]
    Key(String),
    /// rcgen refused to build the certificate or CRL.
    #[error("certificate generation failed: {0}")]
    Generate(String),
    /// A file-system operation on a CA directory failed.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The CA directory is missing, incomplete or already exists.
    #[error("CA directory {path}: {problem}")]
    Dir { path: String, problem: String },
}
