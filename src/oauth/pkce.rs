//! PKCE with S256 only (RFC 7636; SMART-15; HTI1-1): `plain` is never supported.

use base64::Engine;

/// Why a PKCE value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    #[error("code_challenge is required (PKCE with S256)")]
    MissingChallenge,
    #[error("code_challenge_method must be S256")]
    MethodNotS256,
    #[error("code_challenge must be 43 base64url characters (S256 of the verifier)")]
    BadChallenge,
    #[error("code_verifier is required")]
    MissingVerifier,
    #[error("code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]")]
    BadVerifier,
    #[error("code_verifier does not match the code_challenge")]
    Mismatch,
}

/// Checks the authorization request's PKCE parameters (SMART-15): S256 and a well-formed challenge.
pub fn check_challenge(challenge: Option<&str>, method: Option<&str>) -> Result<String, PkceError> {
    let challenge = challenge
        .filter(|c| !c.is_empty())
        .ok_or(PkceError::MissingChallenge)?;
    if method != Some("S256") {
        return Err(PkceError::MethodNotS256);
    }
    let ok = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !ok {
        return Err(PkceError::BadChallenge);
    }
    Ok(challenge.to_string())
}

/// Checks the token request's `code_verifier` against the stored challenge (SMART-15): present,
/// well-formed, not the challenge itself (the "plain" downgrade), and S256(verifier) = challenge.
pub fn verify(verifier: Option<&str>, challenge: &str) -> Result<(), PkceError> {
    let verifier = verifier
        .filter(|v| !v.is_empty())
        .ok_or(PkceError::MissingVerifier)?;
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !well_formed {
        return Err(PkceError::BadVerifier);
    }
    if verifier == challenge {
        return Err(PkceError::Mismatch);
    }
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(openssl::sha::sha256(verifier.as_bytes()));
    if subtle::ConstantTimeEq::ct_eq(computed.as_bytes(), challenge.as_bytes()).into() {
        Ok(())
    } else {
        Err(PkceError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc_7636_example_verifies() {
        assert_eq!(
            check_challenge(Some(CHALLENGE), Some("S256")),
            Ok(CHALLENGE.to_string())
        );
        assert_eq!(verify(Some(VERIFIER), CHALLENGE), Ok(()));
    }

    #[test]
    fn authorize_side_rules() {
        // HTI1-1 / SMART-15: missing challenge, missing or plain method.
        assert_eq!(
            check_challenge(None, Some("S256")),
            Err(PkceError::MissingChallenge)
        );
        assert_eq!(
            check_challenge(Some(CHALLENGE), None),
            Err(PkceError::MethodNotS256)
        );
        assert_eq!(
            check_challenge(Some(CHALLENGE), Some("plain")),
            Err(PkceError::MethodNotS256)
        );
        assert_eq!(
            check_challenge(Some("short"), Some("S256")),
            Err(PkceError::BadChallenge)
        );
        assert_eq!(
            check_challenge(Some(&format!("{}=", &CHALLENGE[..42])), Some("S256")),
            Err(PkceError::BadChallenge)
        );
    }

    #[test]
    fn token_side_rules() {
        // SMART-15: missing, wrong, or equal to the challenge.
        assert_eq!(verify(None, CHALLENGE), Err(PkceError::MissingVerifier));
        assert_eq!(verify(Some(""), CHALLENGE), Err(PkceError::MissingVerifier));
        assert_eq!(
            verify(Some(&"a".repeat(43)), CHALLENGE),
            Err(PkceError::Mismatch)
        );
        assert_eq!(verify(Some(CHALLENGE), CHALLENGE), Err(PkceError::Mismatch));
        assert_eq!(
            verify(Some("too-short"), CHALLENGE),
            Err(PkceError::BadVerifier)
        );
        assert_eq!(
            verify(Some(&format!("{VERIFIER}!")), CHALLENGE),
            Err(PkceError::BadVerifier)
        );
    }
}
