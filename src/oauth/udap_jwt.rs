//! The checks every UDAP JWT from a client goes through, in the IG's order (UDAP-16, UDAP-31..33):
//! 1. compact JWS with `alg` allowed by policy and an `x5c` header (UDAP-1..3);
//! 2. signature with the x5c leaf key (4.1 / 6.1);
//! 3. a certificate path from the leaf to a community anchor, with validity and revocation (4.2 / 6.2);
//! 4. the registered claims (4.3 / 6.3) are checked by the caller, which knows its rules.
//!
//! The error says which stage failed so each endpoint can map it to its own error code
//! (registration: `invalid_software_statement` / `unapproved_software_statement`; token endpoint:
//! `invalid_request` / `invalid_client`).

use serde_json::{Map, Value};

use crate::community::{Community, CommunitySet};
use crate::jose::{self, AlgPolicy, JoseError, RegisteredClaims, VerifyingKey};
use crate::pki::{self, ChainError, ValidatedChain};

/// Which stage of UDAP JWT validation failed.
#[derive(Debug, thiserror::Error)]
pub enum UdapJwtError {
    /// Not a compact JWS, no usable x5c, or an algorithm the policy forbids (UDAP-1..3).
    #[error("{0}")]
    Malformed(JoseError),
    /// The signature does not verify with the x5c leaf key (UDAP-16 4.1, UDAP-31).
    #[error("{0}")]
    Signature(JoseError),
    /// No trusted, valid, unrevoked path to an anchor (UDAP-16 4.2, UDAP-32).
    #[error("{0}")]
    Untrusted(ChainError),
}

/// A UDAP JWT whose signature and certificate path have been verified; claims are not yet checked.
pub struct VerifiedUdapJwt {
    pub claims: Map<String, Value>,
    pub registered: RegisteredClaims,
    pub chain: ValidatedChain,
}

/// A JWT's claims and its x5c certificates (DER, leaf first).
pub type SignedClaims = (Map<String, Value>, Vec<Vec<u8>>);

/// Stages 1 and 2: parse, apply the algorithm policy and verify the signature with the x5c leaf key.
pub fn verify_signature(token: &str, policy: &AlgPolicy) -> Result<SignedClaims, UdapJwtError> {
    let jws = jose::parse_compact(token).map_err(UdapJwtError::Malformed)?;
    verify_parsed_signature(&jws, policy)
}

/// Stages 1 and 2 on an already parsed JWS (the token endpoint parses once to find the client).
pub fn verify_parsed_signature(
    jws: &jose::UnverifiedJws,
    policy: &AlgPolicy,
) -> Result<SignedClaims, UdapJwtError> {
    let x5c = jws.x5c_der().map_err(UdapJwtError::Malformed)?;
    let leaf = x5c
        .first()
        .ok_or(UdapJwtError::Malformed(JoseError::MissingX5c))?;
    let key = VerifyingKey::from_certificate_der(leaf).map_err(UdapJwtError::Malformed)?;
    let claims = jws.verify(&key, policy).map_err(|e| match e {
        JoseError::BadSignature => UdapJwtError::Signature(e),
        other => UdapJwtError::Malformed(other),
    })?;
    Ok((claims.clone(), x5c))
}

fn finish(
    claims: Map<String, Value>,
    chain: ValidatedChain,
) -> Result<VerifiedUdapJwt, UdapJwtError> {
    let registered = RegisteredClaims::from_claims(&claims).map_err(UdapJwtError::Malformed)?;
    Ok(VerifiedUdapJwt {
        claims,
        registered,
        chain,
    })
}

/// Stages 1-3 against one community (token endpoint: the client's registered community).
pub fn verify_in_community(
    jws: &jose::UnverifiedJws,
    policy: &AlgPolicy,
    community: &Community,
    now: i64,
) -> Result<VerifiedUdapJwt, UdapJwtError> {
    let (claims, x5c) = verify_parsed_signature(jws, policy)?;
    let chain =
        pki::validate_chain(&x5c, &community.trust, now).map_err(UdapJwtError::Untrusted)?;
    finish(claims, chain)
}

/// Stages 1-3 against every community (registration: the community is the one whose anchors the
/// statement chains to). The default community is tried first; when none accepts the chain, the
/// most specific failure is reported (a revoked or expired certificate says more than "untrusted").
pub fn verify_in_any_community<'a>(
    token: &str,
    policy: &AlgPolicy,
    communities: &'a CommunitySet,
    now: i64,
) -> Result<(&'a std::sync::Arc<Community>, VerifiedUdapJwt), UdapJwtError> {
    let (claims, x5c) = verify_signature(token, policy)?;
    let default = communities.default_community();
    let ordered = default.into_iter().chain(
        communities
            .iter()
            .filter(|c| !default.is_some_and(|d| std::sync::Arc::ptr_eq(d, c))),
    );
    let mut best: Option<ChainError> = None;
    for community in ordered {
        match pki::validate_chain(&x5c, &community.trust, now) {
            Ok(chain) => return Ok((community, finish(claims, chain)?)),
            Err(e) => {
                if best
                    .as_ref()
                    .is_none_or(|b| specificity(&e) > specificity(b))
                {
                    best = Some(e);
                }
            }
        }
    }
    Err(UdapJwtError::Untrusted(best.unwrap_or(ChainError::Empty)))
}

/// How much a chain error tells the client: "untrusted" (wrong community) says least.
fn specificity(e: &ChainError) -> u8 {
    match e {
        ChainError::Untrusted { .. } => 0,
        ChainError::Empty | ChainError::Malformed { .. } => 1,
        _ => 2,
    }
}
