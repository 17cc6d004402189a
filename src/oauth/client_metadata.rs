//! Registration parameters carried in a UDAP software statement, validated (UDAP-15, UDAP-16 4.4).
//!
//! A plain function over the statement's claims: no HTTP, no store. Each failure names the
//! parameter so the client knows what to fix.

use serde_json::{Map, Value};

/// Grant types a UDAP client may register (UDAP-15).
pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_CLIENT_CREDENTIALS: &str = "client_credentials";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";

/// Extension claims for HTI1-2 (no standard UDAP claim exists): arrays of strings from the
/// configured vocabularies. Documented in the README.
pub const CLAIM_INTENDED_USERS: &str = "intended_users";
pub const CLAIM_INTENDED_PURPOSES: &str = "intended_purposes";

/// A registration parameter problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// RFC 7591 `invalid_client_metadata`.
    #[error("{field}: {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
    /// RFC 7591 `invalid_redirect_uri`.
    #[error("redirect_uris: {0}")]
    RedirectUri(String),
}

fn invalid(field: &'static str, problem: impl Into<String>) -> MetadataError {
    MetadataError::Invalid {
        field,
        problem: problem.into(),
    }
}

pub use crate::store::{ClientMetadata, IntendedUse};

/// Vocabularies for Intended User(s) and Intended Purpose(s) (HTI1-2).
#[derive(Debug, Clone)]
pub struct IntendedUseVocabulary {
    pub users: Vec<String>,
    pub purposes: Vec<String>,
}

impl Default for IntendedUseVocabulary {
    fn default() -> Self {
        let users = [
            "patient",
            "caregiver",
            "clinician",
            "care-team",
            "payer",
            "researcher",
            "public-health",
            "administrative",
        ];
        let purposes = [
            "individual-access",
            "treatment",
            "payment",
            "operations",
            "care-coordination",
            "research",
            "public-health",
            "quality-reporting",
        ];
        IntendedUseVocabulary {
            users: users.map(String::from).to_vec(),
            purposes: purposes.map(String::from).to_vec(),
        }
    }
}

fn string<'a>(
    claims: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, MetadataError> {
    match claims.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(field, "must be a string")),
    }
}

fn string_array(
    claims: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<Vec<String>>, MetadataError> {
    match claims.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(String::from)
                    .ok_or_else(|| invalid(field, "must be an array of strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(invalid(field, "must be an array of strings")),
    }
}

fn is_https_url(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| u.scheme() == "https" && u.host_str().is_some())
}

/// `grant_types` alone, for telling a cancellation (`[]`, UDAP-21) from a registration early.
pub fn grant_types(claims: &Map<String, Value>) -> Result<Vec<String>, MetadataError> {
    string_array(claims, "grant_types")?.ok_or_else(|| invalid("grant_types", "is required"))
}

/// Validates the registration parameters of a software statement (UDAP-15, UDAP-16 4.4).
/// `grant_types` must be non-empty here; cancellation is handled before.
pub fn validate(claims: &Map<String, Value>) -> Result<ClientMetadata, MetadataError> {
    let client_name = string(claims, "client_name")?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| invalid("client_name", "is required"))?
        .to_string();

    let contacts =
        string_array(claims, "contacts")?.ok_or_else(|| invalid("contacts", "is required"))?;
    if !contacts
        .iter()
        .any(|c| c.len() > "mailto:".len() && c.to_ascii_lowercase().starts_with("mailto:"))
    {
        return Err(invalid("contacts", "must contain at least one mailto: URI"));
    }
    if contacts.iter().any(|c| url::Url::parse(c).is_err()) {
        return Err(invalid(
            "contacts",
            "every contact must be a URI (e.g. mailto:ops@example.org)",
        ));
    }

    let grant_types = grant_types(claims)?;
    if grant_types.is_empty() {
        return Err(invalid(
            "grant_types",
            "must not be empty (an empty array cancels an existing registration)",
        ));
    }
    for g in &grant_types {
        if ![
            GRANT_AUTHORIZATION_CODE,
            GRANT_CLIENT_CREDENTIALS,
            GRANT_REFRESH_TOKEN,
        ]
        .contains(&g.as_str())
        {
            return Err(invalid("grant_types", format!("`{g}` is not supported (use authorization_code, client_credentials, refresh_token)")));
        }
    }
    let auth_code = grant_types.iter().any(|g| g == GRANT_AUTHORIZATION_CODE);
    let client_credentials = grant_types.iter().any(|g| g == GRANT_CLIENT_CREDENTIALS);
    if auth_code == client_credentials {
        return Err(invalid(
            "grant_types",
            "must include either authorization_code or client_credentials, not both",
        ));
    }
    if grant_types.iter().any(|g| g == GRANT_REFRESH_TOKEN) && !auth_code {
        return Err(invalid(
            "grant_types",
            "refresh_token is only allowed together with authorization_code",
        ));
    }

    let response_types = string_array(claims, "response_types")?;
    let response_types = match (auth_code, response_types) {
        (true, Some(rt)) if rt == ["code"] => rt,
        (true, _) => {
            return Err(invalid(
                "response_types",
                "must be exactly [\"code\"] with authorization_code",
            ))
        }
        (false, None) => Vec::new(),
        (false, Some(_)) => {
            return Err(invalid(
                "response_types",
                "must be omitted without authorization_code",
            ))
        }
    };

    let redirect_uris = string_array(claims, "redirect_uris")?;
    let redirect_uris = match (auth_code, redirect_uris) {
        (true, Some(uris)) if !uris.is_empty() => {
            for u in &uris {
                let parsed = url::Url::parse(u).map_err(|_| {
                    MetadataError::RedirectUri(format!("`{u}` is not an absolute URI"))
                })?;
                if parsed.scheme() != "https" {
                    return Err(MetadataError::RedirectUri(format!("`{u}` must use https")));
                }
                if parsed.fragment().is_some() {
                    return Err(MetadataError::RedirectUri(format!(
                        "`{u}` must not contain a fragment"
                    )));
                }
            }
            uris
        }
        (true, _) => {
            return Err(MetadataError::RedirectUri(
                "at least one https redirect URI is required with authorization_code".into(),
            ))
        }
        (false, None) => Vec::new(),
        (false, Some(_)) => {
            return Err(MetadataError::RedirectUri(
                "must be omitted without authorization_code".into(),
            ))
        }
    };

    let logo_uri = string(claims, "logo_uri")?.map(String::from);
    if let Some(logo) = &logo_uri {
        // Validated syntactically only: fetching a client-supplied URL would be an SSRF vector.
        let path = url::Url::parse(logo)
            .map(|u| u.path().to_ascii_lowercase())
            .unwrap_or_default();
        if !is_https_url(logo)
            || ![".png", ".jpg", ".jpeg", ".gif"]
                .iter()
                .any(|ext| path.ends_with(ext))
        {
            return Err(invalid(
                "logo_uri",
                "must be an https URL of a PNG, JPG or GIF image",
            ));
        }
    } else if auth_code {
        return Err(invalid("logo_uri", "is required with authorization_code"));
    }

    let token_endpoint_auth_method = string(claims, "token_endpoint_auth_method")?
        .ok_or_else(|| invalid("token_endpoint_auth_method", "is required"))?;
    if token_endpoint_auth_method != "private_key_jwt" {
        return Err(invalid(
            "token_endpoint_auth_method",
            "must be private_key_jwt",
        ));
    }

    let scope = string(claims, "scope")?
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("scope", "is required (space-separated scopes)"))?;
    // Issue 8 item 1: administrative scopes are never self-granted. They are stripped (RFC 7591
    // §3.2.1 lets the server register other values than requested; the response carries the
    // granted scope), and a request that asked for nothing else is refused.
    if scope.split_ascii_whitespace().count() > super::scopes::MAX_SCOPES {
        return Err(invalid(
            "scope",
            format!("lists more than {} scopes", super::scopes::MAX_SCOPES),
        ));
    }
    let (scope, stripped) = super::admin_scopes::strip_admin_scopes(scope);
    if !stripped.is_empty() {
        tracing::warn!(stripped = ?stripped, "registration asked for administrative scopes; removed");
    }
    if scope.is_empty() {
        return Err(invalid(
            "scope",
            "holds only administrative scopes (udap-server/*), which registration never grants",
        ));
    }

    Ok(ClientMetadata {
        client_name,
        contacts,
        logo_uri,
        grant_types,
        response_types,
        redirect_uris,
        token_endpoint_auth_method: token_endpoint_auth_method.to_string(),
        scope,
    })
}

impl IntendedUseVocabulary {
    /// The defaults, with either list replaced when configured; empty lists or blank values are
    /// refused (a vocabulary nobody can match would lock every app out after the enforcement date).
    pub fn with_overrides(
        users: Option<Vec<String>>,
        purposes: Option<Vec<String>>,
    ) -> Result<Self, String> {
        let mut v = IntendedUseVocabulary::default();
        for (list, target, name) in [
            (users, &mut v.users, "users"),
            (purposes, &mut v.purposes, "purposes"),
        ] {
            if let Some(values) = list {
                let values: Vec<String> =
                    values.into_iter().map(|x| x.trim().to_string()).collect();
                if values.is_empty() || values.iter().any(String::is_empty) {
                    return Err(format!(
                        "the intended {name} vocabulary must list at least one non-blank value"
                    ));
                }
                *target = values;
            }
        }
        Ok(v)
    }
}

/// Reads the HTI1-2 extension claims, checking values against the vocabularies.
pub fn intended_use(
    claims: &Map<String, Value>,
    vocab: &IntendedUseVocabulary,
) -> Result<IntendedUse, MetadataError> {
    let users = string_array(claims, CLAIM_INTENDED_USERS)?.unwrap_or_default();
    let purposes = string_array(claims, CLAIM_INTENDED_PURPOSES)?.unwrap_or_default();
    if let Some(u) = users.iter().find(|u| !vocab.users.contains(u)) {
        return Err(invalid(
            CLAIM_INTENDED_USERS,
            format!("`{u}` is not one of {:?}", vocab.users),
        ));
    }
    if let Some(p) = purposes.iter().find(|p| !vocab.purposes.contains(p)) {
        return Err(invalid(
            CLAIM_INTENDED_PURPOSES,
            format!("`{p}` is not one of {:?}", vocab.purposes),
        ));
    }
    Ok(IntendedUse { users, purposes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cc() -> Map<String, Value> {
        json!({
            "client_name": "B2B app", "contacts": ["mailto:ops@example.org"], "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt", "scope": "system/Patient.rs",
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    fn ac() -> Map<String, Value> {
        let mut m = cc();
        m.insert(
            "grant_types".into(),
            json!(["authorization_code", "refresh_token"]),
        );
        m.insert("response_types".into(), json!(["code"]));
        m.insert("redirect_uris".into(), json!(["https://app.example/cb"]));
        m.insert("logo_uri".into(), json!("https://app.example/logo.png"));
        m
    }

    fn with(mut m: Map<String, Value>, k: &str, v: Value) -> Map<String, Value> {
        if v.is_null() {
            m.remove(k);
        } else {
            m.insert(k.into(), v);
        }
        m
    }

    #[test]
    fn valid_client_credentials_and_authorization_code() {
        // UDAP-15
        let m = validate(&cc()).unwrap();
        assert_eq!(m.grant_types, vec!["client_credentials"]);
        assert!(m.redirect_uris.is_empty() && m.response_types.is_empty());
        let m = validate(&ac()).unwrap();
        assert_eq!(m.response_types, vec!["code"]);
        assert_eq!(m.redirect_uris, vec!["https://app.example/cb"]);
    }

    #[test]
    fn each_rule_rejects_with_the_field_named() {
        // UDAP-15, UDAP-16 (4.4): one row per registration-parameter rule.
        let rows: Vec<(&str, Map<String, Value>, &str)> = vec![
            (
                "client_name missing",
                with(cc(), "client_name", Value::Null),
                "client_name",
            ),
            (
                "client_name blank",
                with(cc(), "client_name", json!("  ")),
                "client_name",
            ),
            (
                "contacts missing",
                with(cc(), "contacts", Value::Null),
                "contacts",
            ),
            (
                "contacts without mailto",
                with(cc(), "contacts", json!(["https://example.org"])),
                "contacts",
            ),
            (
                "contacts not an array",
                with(cc(), "contacts", json!("mailto:a@b")),
                "contacts",
            ),
            (
                "grant_types missing",
                with(cc(), "grant_types", Value::Null),
                "grant_types",
            ),
            (
                "both grants",
                with(
                    cc(),
                    "grant_types",
                    json!(["client_credentials", "authorization_code"]),
                ),
                "grant_types",
            ),
            (
                "refresh without code",
                with(
                    cc(),
                    "grant_types",
                    json!(["client_credentials", "refresh_token"]),
                ),
                "grant_types",
            ),
            (
                "unknown grant",
                with(cc(), "grant_types", json!(["password"])),
                "grant_types",
            ),
            (
                "response_types with cc",
                with(cc(), "response_types", json!(["code"])),
                "response_types",
            ),
            (
                "response_types missing with code",
                with(ac(), "response_types", Value::Null),
                "response_types",
            ),
            (
                "response_types wrong",
                with(ac(), "response_types", json!(["code", "token"])),
                "response_types",
            ),
            (
                "logo missing with code",
                with(ac(), "logo_uri", Value::Null),
                "logo_uri",
            ),
            (
                "logo http",
                with(ac(), "logo_uri", json!("http://app.example/logo.png")),
                "logo_uri",
            ),
            (
                "logo not an image",
                with(ac(), "logo_uri", json!("https://app.example/logo.svg")),
                "logo_uri",
            ),
            (
                "auth method missing",
                with(cc(), "token_endpoint_auth_method", Value::Null),
                "token_endpoint_auth_method",
            ),
            (
                "auth method secret",
                with(
                    cc(),
                    "token_endpoint_auth_method",
                    json!("client_secret_basic"),
                ),
                "token_endpoint_auth_method",
            ),
            ("scope missing", with(cc(), "scope", Value::Null), "scope"),
            (
                "only administrative scopes",
                with(
                    cc(),
                    "scope",
                    json!("udap-server/introspect udap-server/launch"),
                ),
                "scope",
            ),
            (
                "too many scopes",
                with(
                    cc(),
                    "scope",
                    json!(vec!["system/Patient.rs"; 257].join(" ")),
                ),
                "scope",
            ),
        ];
        for (name, claims, field) in rows {
            match validate(&claims) {
                Err(MetadataError::Invalid { field: f, .. }) => assert_eq!(f, field, "{name}"),
                other => panic!("{name}: expected Invalid({field}), got {other:?}"),
            }
        }
    }

    #[test]
    fn redirect_uri_rules_use_invalid_redirect_uri() {
        // UDAP-15: redirect_uris present iff authorization_code, each https.
        let rows = vec![
            with(ac(), "redirect_uris", Value::Null),
            with(ac(), "redirect_uris", json!([])),
            with(ac(), "redirect_uris", json!(["http://app.example/cb"])),
            with(
                ac(),
                "redirect_uris",
                json!(["https://app.example/cb#frag"]),
            ),
            with(cc(), "redirect_uris", json!(["https://app.example/cb"])),
        ];
        for claims in rows {
            assert!(
                matches!(validate(&claims), Err(MetadataError::RedirectUri(_))),
                "{claims:?}"
            );
        }
    }

    #[test]
    fn administrative_scopes_are_stripped_from_a_self_registration() {
        // Issue 8 item 1: privilege escalation through self-registration.
        let m = validate(&with(
            cc(),
            "scope",
            json!("udap-server/launch udap-server/introspect system/*.rs"),
        ))
        .unwrap();
        assert_eq!(m.scope, "system/*.rs");
    }

    #[test]
    fn inferno_sends_a_logo_with_client_credentials_too() {
        // Inferno's DCR test sends logo_uri for both grants; it must not be rejected.
        let m = validate(&with(
            cc(),
            "logo_uri",
            json!("https://inferno-framework.github.io/assets/inferno_logo.png"),
        ))
        .unwrap();
        assert!(m.logo_uri.is_some());
    }

    #[test]
    fn intended_use_is_checked_against_the_vocabulary() {
        // HTI1-2
        let vocab = IntendedUseVocabulary::default();
        let ok = json!({"intended_users": ["clinician"], "intended_purposes": ["treatment"]});
        let u = intended_use(ok.as_object().unwrap(), &vocab).unwrap();
        assert!(u.is_complete());
        let none = intended_use(&Map::new(), &vocab).unwrap();
        assert!(!none.is_complete());
        let bad = json!({"intended_users": ["robot"]});
        assert!(intended_use(bad.as_object().unwrap(), &vocab).is_err());
        // Vocabularies are configurable.
        let custom =
            IntendedUseVocabulary::with_overrides(Some(vec!["robot".into()]), None).unwrap();
        assert!(intended_use(bad.as_object().unwrap(), &custom).is_ok());
        assert!(IntendedUseVocabulary::with_overrides(Some(vec![]), None).is_err());
        assert!(IntendedUseVocabulary::with_overrides(None, Some(vec![" ".into()])).is_err());
    }
}
