//! A parsed CRL and the rules for when it may be used to decide a certificate's status (UDAP-48,
//! RFC 5280 6.3.3 reduced to what UDAP communities use: complete, direct CRLs).

use std::collections::HashSet;
use std::fmt;

use openssl::x509::{X509Crl, X509Ref};
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::certinfo::normalize_serial;

/// A CRL ready for lookups: OpenSSL keeps it for signature checks and issuer-name comparison,
/// the other fields are extracted once with x509-parser.
pub(crate) struct ParsedCrl {
    crl: X509Crl,
    /// Issuer DN as text, for messages.
    pub issuer: String,
    pub this_update: i64,
    /// RFC 5280 requires nextUpdate; a CRL without one cannot be judged fresh and is not used.
    pub next_update: Option<i64>,
    /// Normalized serial numbers of the revoked certificates.
    revoked: HashSet<Vec<u8>>,
    /// Set when the CRL's scope makes it unusable for deciding status (delta CRL, partitioned by
    /// reason, indirect, unknown critical extension). Checked before every use.
    unusable: Option<String>,
    /// Set for CRLs that cover only end-entity or only CA certificates (issuingDistributionPoint).
    scope: Scope,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    All,
    UserCertsOnly,
    CaCertsOnly,
}

impl fmt::Debug for ParsedCrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedCrl")
            .field("issuer", &self.issuer)
            .field("this_update", &self.this_update)
            .field("next_update", &self.next_update)
            .field("revoked", &self.revoked.len())
            .field("unusable", &self.unusable)
            .finish()
    }
}

// RFC 5280 CRL extension OIDs that we either understand or must refuse.
const OID_AUTHORITY_KEY_ID: &str = "2.5.29.35";
const OID_CRL_NUMBER: &str = "2.5.29.20";
const OID_DELTA_CRL_INDICATOR: &str = "2.5.29.27";
const OID_ISSUING_DISTRIBUTION_POINT: &str = "2.5.29.28";
const OID_FRESHEST_CRL: &str = "2.5.29.46";
const OID_ENTRY_REASON: &str = "2.5.29.21";
const OID_ENTRY_INVALIDITY_DATE: &str = "2.5.29.24";

impl ParsedCrl {
    /// Parses a DER CRL. Structural problems that make it unusable are recorded, not returned as
    /// errors, so a configured-but-unusable CRL is reported where it matters (on validation).
    pub(crate) fn from_der(der: &[u8]) -> Result<Self, String> {
        let (rest, parsed) = CertificateRevocationList::from_der(der).map_err(|e| e.to_string())?;
        if !rest.is_empty() {
            return Err(format!("{} trailing bytes after the CRL", rest.len()));
        }
        let crl = X509Crl::from_der(der).map_err(|e| e.to_string())?;

        let mut unusable = None;
        let mut scope = Scope::All;
        for ext in parsed.extensions() {
            let oid = ext.oid.to_id_string();
            match (oid.as_str(), ext.parsed_extension()) {
                (OID_DELTA_CRL_INDICATOR, _) => unusable = Some("it is a delta CRL".to_string()),
                (
                    OID_ISSUING_DISTRIBUTION_POINT,
                    ParsedExtension::IssuingDistributionPoint(idp),
                ) => {
                    if idp.indirect_crl {
                        unusable = Some("it is an indirect CRL".into());
                    } else if idp.only_some_reasons.is_some() {
                        unusable = Some("it covers only some revocation reasons".into());
                    } else if idp.only_contains_attribute_certs {
                        unusable = Some("it covers only attribute certificates".into());
                    } else if idp.only_contains_user_certs {
                        scope = Scope::UserCertsOnly;
                    } else if idp.only_contains_ca_certs {
                        scope = Scope::CaCertsOnly;
                    }
                }
                (OID_ISSUING_DISTRIBUTION_POINT, _) => {
                    unusable = Some("its issuingDistributionPoint extension is malformed".into())
                }
                (OID_AUTHORITY_KEY_ID | OID_CRL_NUMBER | OID_FRESHEST_CRL, _) => {}
                // RFC 5280 5.2: a CRL with an unrecognized critical extension must not be used.
                (other, _) if ext.critical => {
                    unusable = Some(format!("it has the unsupported critical extension {other}"))
                }
                _ => {}
            }
        }

        let mut revoked = HashSet::new();
        for entry in parsed.iter_revoked_certificates() {
            for ext in entry.extensions() {
                let oid = ext.oid.to_id_string();
                // A critical entry extension we do not know (e.g. certificateIssuer of an
                // indirect CRL) changes the entry's meaning; refuse the whole CRL.
                if ext.critical && oid != OID_ENTRY_REASON && oid != OID_ENTRY_INVALIDITY_DATE {
                    unusable = Some(format!(
                        "an entry has the unsupported critical extension {oid}"
                    ));
                }
            }
            revoked.insert(normalize_serial(entry.raw_serial()));
        }

        Ok(ParsedCrl {
            issuer: parsed.issuer().to_string(),
            this_update: parsed.last_update().timestamp(),
            next_update: parsed.next_update().map(|t| t.timestamp()),
            revoked,
            unusable,
            scope,
            crl,
        })
    }

    /// True when the CRL names `cert`'s issuer as its issuer (canonical DN comparison).
    pub(crate) fn issuer_matches(&self, cert: &X509Ref) -> bool {
        matches!(
            self.crl.issuer_name().try_cmp(cert.issuer_name()),
            Ok(std::cmp::Ordering::Equal)
        )
    }

    /// Whether this CRL may decide the status of `cert` (issued by `issuer`) at `now`; the `Err`
    /// says why not, for the `RevocationUnknown` reason. Checks, in order: issuer name, scope,
    /// freshness (lastUpdate <= now < nextUpdate) and the signature with the issuer's key.
    pub(crate) fn usable_for(
        &self,
        cert: &X509Ref,
        cert_is_ca: bool,
        issuer: &X509Ref,
        now: i64,
    ) -> Result<(), String> {
        if !self.issuer_matches(cert) {
            return Err(format!(
                "CRL issuer `{}` is not the certificate's issuer",
                self.issuer
            ));
        }
        if let Some(why) = &self.unusable {
            return Err(format!("CRL from `{}` cannot be used: {why}", self.issuer));
        }
        match (self.scope, cert_is_ca) {
            (Scope::UserCertsOnly, true) => {
                return Err(format!(
                    "CRL from `{}` covers only end-entity certificates",
                    self.issuer
                ))
            }
            (Scope::CaCertsOnly, false) => {
                return Err(format!(
                    "CRL from `{}` covers only CA certificates",
                    self.issuer
                ))
            }
            _ => {}
        }
        self.fresh_at(now)?;
        let key = issuer
            .public_key()
            .map_err(|e| format!("issuer key unreadable: {e}"))?;
        match self.crl.verify(&key) {
            Ok(true) => Ok(()),
            _ => Err(format!(
                "CRL from `{}` is not signed by the issuer's key",
                self.issuer
            )),
        }
    }

    /// lastUpdate <= now < nextUpdate.
    pub(crate) fn fresh_at(&self, now: i64) -> Result<(), String> {
        let Some(next_update) = self.next_update else {
            return Err(format!("CRL from `{}` has no nextUpdate", self.issuer));
        };
        if now < self.this_update {
            return Err(format!(
                "CRL from `{}` is not valid before {} (lastUpdate)",
                self.issuer, self.this_update
            ));
        }
        if now >= next_update {
            return Err(format!(
                "CRL from `{}` is stale: nextUpdate {} has passed",
                self.issuer, next_update
            ));
        }
        Ok(())
    }

    /// True when the normalized `serial` is listed.
    pub(crate) fn is_revoked(&self, serial: &[u8]) -> bool {
        self.revoked.contains(&normalize_serial(serial))
    }
}
