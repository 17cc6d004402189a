//! The bodies of the cargo-fuzz targets in `fuzz/` (issue 8, "Fuzzing and hygiene").
//!
//! Each function takes raw bytes from the fuzzer, runs them through the crate's real parsers and
//! rule functions, and must never panic. They live here, not in `fuzz/`, so that the unit test
//! below replays every checked-in corpus file through exactly what the fuzzers ran: CI guards
//! against regressions without nightly or libFuzzer. Not an API.
//!
//! The PKI the targets verify against is fixed (`fuzz/fixtures/community.pem`, public
//! certificates and CRLs only), so that seeds signed once with its leaf keys stay valid and the
//! fuzzer starts from inputs that reach the deep checks. Time is pinned to [`NOW`].

use std::sync::{Arc, OnceLock};

use openssl::x509::X509;
use serde_json::{Map, Value};

use crate::jose::{self, AlgPolicy, RegisteredClaims, TimeRules, VerifyingKey};
use crate::oauth::authorize::AuthorizeParams;
use crate::oauth::client_metadata::{self, IntendedUseVocabulary};
use crate::oauth::{consent, pkce, scopes, udap_jwt};
use crate::pki::crl::ParsedCrl;
use crate::pki::{self, CrlFetcher, RevocationPolicy, TrustCommunity};

/// The time every target judges validity at: the fixture PKI was built for it.
pub const NOW: i64 = 1_750_000_000;

/// A target body: arbitrary bytes in, nothing out, never a panic.
pub type Target = fn(&[u8]);

/// Every target, by its cargo-fuzz name (`fuzz/fuzz_targets/<name>.rs`, `fuzz/corpus/<name>/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("jws", jws),
    ("x5c_chain", x5c_chain),
    ("crl", crl),
    ("form", form),
    ("scope", scope),
    ("metadata", metadata),
];

/// Root, intermediate, RSA leaf, EC leaf, revoked RSA leaf (certificates), then the root's and
/// the intermediate's CRLs (the latter revokes the last leaf). Regenerate with the ignored test
/// `fuzzing::tests::regenerate_fixture_and_seeds`.
const FIXTURE_PEM: &str = include_str!("../fuzz/fixtures/community.pem");

struct Fixture {
    community: TrustCommunity,
    rsa_key: VerifyingKey,
    ec_key: VerifyingKey,
    intermediate: X509,
    root: X509,
    rsa_leaf: X509,
    rs256_only: AlgPolicy,
    vocabulary: IntendedUseVocabulary,
}

/// Built once per process. Panics only on a broken fixture file (ours, never fuzzer input).
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let blocks = pki::pem::parse_blocks(FIXTURE_PEM).expect("fuzz fixture PEM");
        let certs: Vec<&[u8]> = blocks
            .iter()
            .filter(|b| b.label == "CERTIFICATE")
            .map(|b| b.der.as_slice())
            .collect();
        let crls: Vec<String> = blocks
            .iter()
            .filter(|b| b.label == "X509 CRL")
            .map(|b| pki::pem::encode("X509 CRL", &b.der))
            .collect();
        assert!(
            certs.len() == 5 && crls.len() == 2,
            "fuzz fixture: 5 certificates and 2 CRLs expected"
        );
        let x509 = |der: &[u8]| X509::from_der(der).expect("fuzz fixture certificate");
        let community = TrustCommunity::from_pem(
            pki::testing::COMMUNITY_URI,
            &[pki::pem::encode("CERTIFICATE", certs[0])],
            &[],
            &crls,
            RevocationPolicy::FailClosed,
            Arc::new(CrlFetcher::offline()),
        )
        .expect("fuzz fixture community");
        Fixture {
            community,
            rsa_key: VerifyingKey::from_certificate_der(certs[2]).expect("fuzz fixture RSA leaf"),
            ec_key: VerifyingKey::from_certificate_der(certs[3]).expect("fuzz fixture EC leaf"),
            root: x509(certs[0]),
            intermediate: x509(certs[1]),
            rsa_leaf: x509(certs[2]),
            rs256_only: AlgPolicy::from_names(&["RS256".to_string()]).expect("RS256 policy"),
            vocabulary: IntendedUseVocabulary::default(),
        }
    })
}

/// The time rules of a client assertion and of a software statement.
fn time_rules() -> [TimeRules; 2] {
    let assertion = TimeRules {
        now: NOW,
        skew: 60,
        max_lifetime: Some(300),
        max_exp_ahead: Some(300),
        require_iat: false,
    };
    let statement = TimeRules {
        max_exp_ahead: None,
        require_iat: true,
        ..assertion
    };
    [assertion, statement]
}

fn registered_claims(claims: &Map<String, Value>) {
    if let Ok(c) = RegisteredClaims::from_claims(claims) {
        let _ = c.require_udap();
        for rules in time_rules() {
            let _ = jose::check_time(&c, &rules);
        }
    }
}

/// Compact JWS: parsing, the header and x5c, verification with the fixture's RSA and EC leaf keys
/// under the default and an RS256-only policy, registered claims, and the UDAP path that takes
/// the key from the token's own x5c leaf.
pub fn jws(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let f = fixture();
    if let Ok(jws) = jose::parse_compact(token) {
        let _ = jws.header().raw().len();
        let _ = jws.x5c_der();
        for key in [&f.rsa_key, &f.ec_key] {
            for policy in [AlgPolicy::default(), f.rs256_only] {
                if let Ok(claims) = jws.verify(key, &policy) {
                    registered_claims(claims);
                }
            }
        }
        registered_claims(jws.unverified_claims());
        // A JWKS member is a JSON object too: the payload doubles as a JWK.
        let _ = VerifyingKey::from_jwk(&Value::Object(jws.unverified_claims().clone()));
    }
    if let Ok((claims, _x5c)) = udap_jwt::verify_signature(token, &AlgPolicy::default()) {
        registered_claims(&claims);
    }
}

/// Splits fuzzer bytes into an x5c and a validation time. The first byte holds the element count
/// (bits 0-1: 1..=4) and the time (bits 2-3: valid, before the certificates, after the CRLs'
/// nextUpdate, after the leaves expired); every element but the last is prefixed by a big-endian
/// u16 length, the last takes the rest.
pub fn split_x5c(data: &[u8]) -> (Vec<Vec<u8>>, i64) {
    let Some((&control, mut rest)) = data.split_first() else {
        return (vec![Vec::new()], NOW);
    };
    let count = usize::from(control & 3) + 1;
    let now = [NOW, NOW - 2 * 86_400, NOW + 8 * 86_400, NOW + 400 * 86_400]
        [usize::from((control >> 2) & 3)];
    let mut x5c = Vec::with_capacity(count);
    for _ in 1..count {
        let (len, tail) = match rest {
            [a, b, tail @ ..] => (usize::from(u16::from_be_bytes([*a, *b])), tail),
            _ => (0, &[][..]),
        };
        let (blob, tail) = tail.split_at(len.min(tail.len()));
        x5c.push(blob.to_vec());
        rest = tail;
    }
    x5c.push(rest.to_vec());
    (x5c, now)
}

/// The inverse of [`split_x5c`], for seeds.
pub fn join_x5c(x5c: &[Vec<u8>], time_index: u8) -> Vec<u8> {
    let count = x5c.len().clamp(1, 4);
    let mut out = vec![(count - 1) as u8 | ((time_index & 3) << 2)];
    for (i, der) in x5c.iter().take(count).enumerate() {
        if i + 1 < count {
            out.extend_from_slice(&(der.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
        }
        out.extend_from_slice(der);
    }
    out
}

/// x5c / DER: the leaf key (UDAP-3, UDAP-52) and `validate_chain` against the fixture community
/// (parsing, path building, validity, CA rules, key strength, SAN URIs, revocation with its CRLs).
pub fn x5c_chain(data: &[u8]) {
    let (x5c, now) = split_x5c(data);
    if let Some(leaf) = x5c.first() {
        let _ = VerifyingKey::from_certificate_der(leaf);
    }
    let _ = pki::validate_chain(&x5c, &fixture().community, now);
}

fn crl_checks(der: &[u8]) {
    let f = fixture();
    if let Ok(parsed) = ParsedCrl::from_der(der) {
        let _ = parsed.fresh_at(NOW);
        let _ = parsed.is_revoked(&[0x01, 0x02]);
        // As the intermediate's CRL (for the leaf) and as the root's (for the intermediate).
        let _ = parsed.usable_for(&f.rsa_leaf, false, &f.intermediate, NOW);
        let _ = parsed.usable_for(&f.intermediate, true, &f.root, NOW);
    }
}

/// CRLs: DER parsing with the scope and extension rules (UDAP-48), freshness, issuer match and
/// signature against the fixture's CAs; and the PEM splitter that configured CRLs go through.
pub fn crl(data: &[u8]) {
    crl_checks(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(blocks) = pki::pem::parse_blocks(text) {
            for block in blocks.iter().take(4) {
                crl_checks(&block.der);
            }
        }
    }
}

/// Form and query parsing: the token endpoint's form (repeated parameters refused), the
/// authorize request (query or form), the page forms (pairs), `Authorization: Basic`, and the
/// PKCE values an authorize request and a token request carry.
pub fn form(data: &[u8]) {
    if let Ok(map) = crate::http::form::parse_pairs(data) {
        if let Some(challenge) = map.get("code_challenge") {
            let _ = pkce::verify(map.get("code_verifier").map(String::as_str), challenge);
        }
    }
    if let Ok(p) = serde_urlencoded::from_bytes::<AuthorizeParams>(data) {
        let _ = pkce::check_challenge(
            p.code_challenge.as_deref(),
            p.code_challenge_method.as_deref(),
        );
    }
    let _ = serde_urlencoded::from_bytes::<Vec<(String, String)>>(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = serde_urlencoded::from_str::<AuthorizeParams>(text);
        let _ = crate::http::form::parse_basic(text);
    }
}

/// The scope grammar (SMART v1/v2, granular): parsing, granted = requested ∩ registered, and the
/// consent screen built from what was granted. Input: `requested`, a newline, `registered`.
///
/// Checks the grant rule: what was granted is granted again, unchanged, when requested again (so
/// it is within what was registered, in a form the grammar reads back).
pub fn scope(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (requested, registered) = text.split_once('\n').unwrap_or((text, text));
    for token in requested.split_ascii_whitespace().take(64) {
        let _ = scopes::parse(token);
    }
    let keeps: [fn(&scopes::Scope) -> bool; 2] = [|_| true, scopes::is_system];
    for keep in keeps {
        let granted = scopes::grant(requested, registered, keep);
        let again = scopes::grant(&granted.join(" "), registered, keep);
        assert_eq!(
            again, granted,
            "granting the granted scopes again changed them"
        );
        let items = consent::consent_items(&granted);
        let selected: Vec<String> = items
            .iter()
            .step_by(2)
            .map(|i| i.value.clone())
            .chain(
                items
                    .iter()
                    .flat_map(|i| i.children.iter().map(|c| c.value.clone())),
            )
            .collect();
        let _ = consent::granted_from_form(&granted, &selected);
    }
}

fn metadata_checks(claims: &Map<String, Value>) {
    let _ = client_metadata::grant_types(claims);
    let _ = client_metadata::validate(claims);
    let _ = client_metadata::intended_use(claims, &fixture().vocabulary);
    registered_claims(claims);
}

/// Software statements and client metadata: a registration request body (JSON object), its
/// `software_statement` verified with its x5c leaf (UDAP-16 4.1), and the registration parameter
/// and intended-use rules on the statement's claims and on the body itself.
pub fn metadata(data: &[u8]) {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    metadata_checks(&body);
    if let Some(statement) = body.get("software_statement").and_then(Value::as_str) {
        if let Ok((claims, _x5c)) = udap_jwt::verify_signature(statement, &AlgPolicy::default()) {
            metadata_checks(&claims);
        }
    }
}

#[cfg(test)]
mod tests;
