//! UDAP certifications (UDAP-17): JWTs signed by a certifier whose certificate chains to one of the
//! community's certifier anchors. A certification counts only when it verifies completely; the
//! certification URIs it asserts are returned so the caller can match them to requirements.

use serde_json::Value;

use crate::community::Community;
use crate::jose::{check_time, AlgPolicy, TimeRules, CLOCK_SKEW};
use crate::pki;

use super::udap_jwt;

/// Validates one certification of the app `subject` (the software statement's `iss`); returns its
/// `certification_uris`.
///
/// The signature is checked under the server's configured algorithm policy, like every other JWT
/// it receives (issue 8 item 8: it used the default policy).
pub fn validate(
    token: &str,
    community: &Community,
    subject: &str,
    now: i64,
    policy: &AlgPolicy,
) -> Result<Vec<String>, String> {
    let trust = community
        .certifier_trust
        .as_ref()
        .ok_or("this community has no certifier anchors")?;
    let (claims, x5c) = udap_jwt::verify_signature(token, policy).map_err(|e| e.to_string())?;
    let chain = pki::validate_chain(&x5c, trust, now).map_err(|e| e.to_string())?;
    let reg = crate::jose::RegisteredClaims::from_claims(&claims).map_err(|e| e.to_string())?;
    let iss = reg.iss.as_deref().ok_or("iss missing")?;
    if !chain.san_uris.iter().any(|s| s == iss) {
        return Err("iss is not a SAN URI of the certifier certificate".into());
    }
    if reg.sub.as_deref() != Some(subject) {
        return Err("sub is not the registering app's iss".into());
    }
    let rules = TimeRules {
        now,
        skew: CLOCK_SKEW,
        max_lifetime: None,
        max_exp_ahead: None,
        require_iat: true,
    };
    check_time(&reg, &rules).map_err(|e| e.to_string())?;
    Ok(claims
        .get("certification_uris")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default())
}
