//! The HL7 B2B Authorization Extension Object, `extensions.hl7-b2b` (UDAP-29, UDAP-30).
//!
//! Defaults accept what the public test kit sends (`purpose_of_use: ["SYSDEV"]`, no `subject_id`);
//! a community can require the extension and restrict purpose-of-use codes.

use serde_json::{Map, Value};

use crate::community::CommunityPolicy;

/// Key of the extension object inside `extensions` and inside our access tokens.
pub const HL7_B2B: &str = "hl7-b2b";

/// What is wrong with the extensions; always `invalid_grant` at the token endpoint, with a
/// description naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum B2bError {
    #[error("extensions must be a JSON object")]
    ExtensionsNotObject,
    #[error("extensions.hl7-b2b is required by this community")]
    Missing,
    #[error("extensions.hl7-b2b.{field}: {problem}")]
    Field {
        field: &'static str,
        problem: String,
    },
}

fn field(field: &'static str, problem: impl Into<String>) -> B2bError {
    B2bError::Field {
        field,
        problem: problem.into(),
    }
}

fn is_uri(s: &str) -> bool {
    url::Url::parse(s).is_ok()
}

fn opt_string<'a>(
    o: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'a str>, B2bError> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(field(name, "must be a string")),
    }
}

fn opt_strings(
    o: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<Vec<String>>, B2bError> {
    match o.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(String::from)
                    .ok_or_else(|| field(name, "must be an array of strings"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(field(name, "must be an array of strings")),
    }
}

/// A purpose code matches an allowed entry written as the code (`TREAT`) or as the full URI
/// (`urn:oid:2.16.840.1.113883.5.8#TREAT`).
fn purpose_allowed(value: &str, allowed: &[String]) -> bool {
    allowed.is_empty()
        || allowed
            .iter()
            .any(|a| a == value || value.rsplit_once('#').is_some_and(|(_, code)| code == a))
}

/// Validates `extensions` from an authentication JWT. Returns the validated `hl7-b2b` object (to be
/// carried in the access token) or `None` when it is absent and not required.
pub fn validate(
    extensions: Option<&Value>,
    policy: &CommunityPolicy,
) -> Result<Option<Value>, B2bError> {
    let ext = match extensions {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => Some(m),
        // UDAP-28: `extensions` is a JSON object; the string form seen in one test fixture is refused.
        Some(_) => return Err(B2bError::ExtensionsNotObject),
    };
    let Some(b2b) = ext.and_then(|m| m.get(HL7_B2B)) else {
        return if policy.b2b_required {
            Err(B2bError::Missing)
        } else {
            Ok(None)
        };
    };
    let o = b2b
        .as_object()
        .ok_or_else(|| field("(object)", "hl7-b2b must be a JSON object"))?;

    if opt_string(o, "version")? != Some("1") {
        return Err(field("version", "must be the string \"1\""));
    }
    let org =
        opt_string(o, "organization_id")?.ok_or_else(|| field("organization_id", "is required"))?;
    if !is_uri(org) {
        return Err(field("organization_id", "must be a URI"));
    }
    let purposes =
        opt_strings(o, "purpose_of_use")?.ok_or_else(|| field("purpose_of_use", "is required"))?;
    if purposes.is_empty() {
        return Err(field("purpose_of_use", "must contain at least one code"));
    }
    if let Some(p) = purposes
        .iter()
        .find(|p| !purpose_allowed(p, &policy.purpose_of_use_allowed))
    {
        return Err(field(
            "purpose_of_use",
            format!("`{p}` is not allowed in this community"),
        ));
    }
    opt_string(o, "subject_name")?;
    opt_string(o, "subject_role")?;
    opt_string(o, "organization_name")?;
    if opt_string(o, "subject_id")?.is_some() && opt_string(o, "subject_name")?.is_none() {
        return Err(field("subject_id", "is only meaningful with subject_name"));
    }
    let policies = opt_strings(o, "consent_policy")?;
    if let Some(p) = policies
        .as_ref()
        .and_then(|ps| ps.iter().find(|p| !is_uri(p)))
    {
        return Err(field("consent_policy", format!("`{p}` is not a URI")));
    }
    if let Some(refs) = opt_strings(o, "consent_reference")? {
        if policies.is_none() {
            return Err(field(
                "consent_reference",
                "must be omitted when consent_policy is absent",
            ));
        }
        if let Some(r) = refs
            .iter()
            .find(|r| !url::Url::parse(r).is_ok_and(|u| matches!(u.scheme(), "http" | "https")))
        {
            return Err(field(
                "consent_reference",
                format!("`{r}` is not an absolute URL"),
            ));
        }
    }
    Ok(Some(b2b.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inferno() -> Value {
        // UDAP-30: exactly what the public test kit sends.
        json!({"hl7-b2b": {"version": "1", "subject_name": "UDAP Test Kit", "organization_name": "Inferno Framework",
            "organization_id": "https://inferno-framework.github.io/", "purpose_of_use": ["SYSDEV"]}})
    }

    fn with(k: &str, v: Value) -> Value {
        let mut e = inferno();
        if v.is_null() {
            e["hl7-b2b"].as_object_mut().unwrap().remove(k);
        } else {
            e["hl7-b2b"][k] = v;
        }
        e
    }

    #[test]
    fn inferno_shape_is_accepted_by_default() {
        let out = validate(Some(&inferno()), &CommunityPolicy::default())
            .unwrap()
            .unwrap();
        assert_eq!(out["purpose_of_use"], json!(["SYSDEV"]));
        assert_eq!(validate(None, &CommunityPolicy::default()), Ok(None));
    }

    #[test]
    fn each_rule_names_its_field() {
        // UDAP-29
        let p = CommunityPolicy::default();
        let rows: Vec<(Value, B2bError)> = vec![
            (json!("{\"hl7-b2b\":{}}"), B2bError::ExtensionsNotObject),
            (
                json!({"hl7-b2b": "x"}),
                field("(object)", "hl7-b2b must be a JSON object"),
            ),
            (
                with("version", Value::Null),
                field("version", "must be the string \"1\""),
            ),
            (
                with("version", json!(1)),
                field("version", "must be a string"),
            ),
            (
                with("organization_id", Value::Null),
                field("organization_id", "is required"),
            ),
            (
                with("organization_id", json!("not a uri")),
                field("organization_id", "must be a URI"),
            ),
            (
                with("purpose_of_use", Value::Null),
                field("purpose_of_use", "is required"),
            ),
            (
                with("purpose_of_use", json!([])),
                field("purpose_of_use", "must contain at least one code"),
            ),
            (
                with("purpose_of_use", json!("TREAT")),
                field("purpose_of_use", "must be an array of strings"),
            ),
            (
                with("consent_reference", json!(["https://x/Consent/1"])),
                field(
                    "consent_reference",
                    "must be omitted when consent_policy is absent",
                ),
            ),
        ];
        for (ext, want) in rows {
            assert_eq!(validate(Some(&ext), &p), Err(want.clone()), "{ext}");
            assert!(want.to_string().contains("extensions"));
        }
    }

    #[test]
    fn community_policy_requires_and_restricts() {
        let p = CommunityPolicy {
            b2b_required: true,
            purpose_of_use_allowed: vec!["TREAT".into()],
            ..Default::default()
        };
        assert_eq!(validate(None, &p), Err(B2bError::Missing));
        assert_eq!(validate(Some(&json!({})), &p), Err(B2bError::Missing));
        assert!(matches!(
            validate(Some(&inferno()), &p),
            Err(B2bError::Field {
                field: "purpose_of_use",
                ..
            })
        ));
        assert!(validate(
            Some(&with(
                "purpose_of_use",
                json!(["urn:oid:2.16.840.1.113883.5.8#TREAT"])
            )),
            &p
        )
        .unwrap()
        .is_some());
    }
}
