//! From a validated authorization request to a code: the steps the user walks through (login,
//! patient choice, consent) and what approving or denying produces (SMART-16..18, SMART-22).

use serde_json::json;

use crate::store::{
    CodeRecord, Completion, GrantRecord, Interaction, LaunchContext, Store, StoreError,
};

use super::authorize::{needs_patient, redirect_url};

/// Codes live at most a minute (SMART-16, UDAP-23: short-lived).
pub const CODE_LIFETIME: i64 = 60;

/// The user a step is for, as the login established it.
#[derive(Debug, Clone)]
pub struct User {
    pub username: String,
    pub fhir_user: Option<String>,
    pub patients: Vec<String>,
}

/// What the user must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Choose among these patients (standalone `launch/patient`, SMART-17).
    PickPatient(Vec<String>),
    /// Review and approve the scopes (SMART-18).
    Consent { patient: Option<String> },
    /// No patient can be put in context: the request ends with `access_denied`.
    NoPatient,
    /// The EHR launch names a patient this user may not act for (issue 8 item 1): the request
    /// ends with `access_denied`.
    PatientNotAllowed,
}

/// Resource types whose users are clinicians: they may open an EHR launch for any patient (the
/// EHR that created the launch decided who is in context). Everyone else only for the patients
/// on their user record.
pub const CLINICIAN_TYPES: &[&str] = &["Practitioner", "PractitionerRole"];

/// True when `fhir_user` (relative `Practitioner/123` or an absolute URL ending in it) names a
/// clinician resource (`CLINICIAN_TYPES`) with a non-empty id.
pub fn is_clinician(fhir_user: Option<&str>) -> bool {
    let Some(f) = fhir_user else { return false };
    let mut parts = f.rsplit('/');
    let (id, kind) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    !id.is_empty() && CLINICIAN_TYPES.contains(&kind)
}

/// Issue 8 item 1: may `user` have `patient` (from an EHR launch) in context? Clinicians may;
/// anyone else only for a patient on their own record's list.
pub fn may_act_for(user: &User, patient: &str) -> bool {
    is_clinician(user.fhir_user.as_deref()) || user.patients.iter().any(|p| p == patient)
}

/// The patient in context for this interaction, if any is settled.
fn settled_patient(i: &Interaction) -> Option<String> {
    i.launch
        .as_ref()
        .and_then(|l| l.patient.clone())
        .or_else(|| i.selected_patient.clone())
}

/// Decides the next step for `user` (SMART-17: a patient scope needs a patient in context; a user
/// with exactly one patient skips the picker).
pub fn next_step(i: &Interaction, user: &User) -> Next {
    if let Some(p) = i.launch.as_ref().and_then(|l| l.patient.as_deref()) {
        if !may_act_for(user, p) {
            return Next::PatientNotAllowed;
        }
    }
    if let Some(p) = settled_patient(i) {
        return Next::Consent { patient: Some(p) };
    }
    if !needs_patient(&i.scope) {
        return Next::Consent { patient: None };
    }
    match user.patients.as_slice() {
        [] => Next::NoPatient,
        [one] => Next::Consent {
            patient: Some(one.clone()),
        },
        many => Next::PickPatient(many.to_vec()),
    }
}

/// True when the granted scopes give the app nothing: only context or refresh scopes are left
/// (the user deselected everything else).
pub fn grants_nothing(granted: &[String]) -> bool {
    granted
        .iter()
        .all(|g| g.starts_with("launch") || g == "offline_access" || g == "online_access")
}

/// The redirect for a refusal (`access_denied`, SMART-16) with the exact state.
pub fn deny_url(i: &Interaction, description: &str) -> String {
    error_url(i, "access_denied", description)
}

/// The redirect to the app with `error` (an OAuth or OIDC code) and the exact state.
pub fn error_url(i: &Interaction, error: &str, description: &str) -> String {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(s) = &i.state {
        params.push(("state", s));
    }
    redirect_url(&i.redirect_uri, &params)
}

/// The style document apps may fetch (`smart_style_url`, SMART-22).
pub fn style_url(base: &str) -> String {
    format!("{}/smart-style.json", base.trim_end_matches('/'))
}

/// Approves `granted` scopes for `user`: records the grant and a single-use code (hashed) in one
/// transaction, and returns the redirect carrying `code` and `state`. `None` when the interaction
/// was already completed (a concurrent approval won): no second code. `session_key` (the
/// `secret_key` of the approving session) binds the grant's online_access refresh tokens to it.
pub fn approve(
    store: &Store,
    i: &Interaction,
    user: &User,
    patient: Option<String>,
    granted: &[String],
    session_key: Option<String>,
    now: i64,
) -> Result<Option<String>, StoreError> {
    let scope = granted.join(" ");
    let launch = i.launch.clone().unwrap_or_default();
    let has = |s: &str| granted.iter().any(|g| g == s);
    let patient_scopes = needs_patient(&scope) || has("launch");
    let context = LaunchContext {
        patient: if patient_scopes { patient } else { None },
        encounter: if has("launch") || has("launch/encounter") {
            launch.encounter.clone()
        } else {
            None
        },
        fhir_context: if has("launch") {
            launch.fhir_context.clone()
        } else {
            Vec::new()
        },
        // Standalone launches have no EHR banner around them.
        need_patient_banner: patient_scopes.then_some(i.launch.is_none()),
        intent: launch.intent.clone(),
    };
    let grant = GrantRecord {
        grant_id: super::random_token(16),
        client_id: i.client_id.clone(),
        username: user.username.clone(),
        scope,
        context,
        fhir_user: user.fhir_user.clone(),
        created_at: now,
        revoked: false,
        session: session_key,
    };
    let code = super::random_token(32);
    let record = CodeRecord {
        client_id: i.client_id.clone(),
        redirect_uri: i.redirect_uri.clone(),
        redirect_uri_sent: i.redirect_uri_sent,
        code_challenge: i.code_challenge.clone(),
        grant_id: grant.grant_id.clone(),
        nonce: i.nonce.clone(),
        expires_at: now + CODE_LIFETIME,
        used: false,
    };
    if store.authz().complete(&i.id, &code, &record, &grant)? == Completion::AlreadyCompleted {
        return Ok(None);
    }
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = &i.state {
        params.push(("state", s));
    }
    Ok(Some(redirect_url(&i.redirect_uri, &params)))
}

/// The launch-context members of a token response (SMART-22).
pub fn context_members(
    grant: &GrantRecord,
    base: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    let c = &grant.context;
    if let Some(p) = &c.patient {
        m.insert("patient".into(), json!(p));
    }
    if let Some(e) = &c.encounter {
        m.insert("encounter".into(), json!(e));
    }
    if !c.fhir_context.is_empty() {
        m.insert("fhirContext".into(), json!(c.fhir_context));
    }
    if let Some(b) = c.need_patient_banner {
        m.insert("need_patient_banner".into(), json!(b));
        m.insert("smart_style_url".into(), json!(style_url(base)));
    }
    if let Some(intent) = &c.intent {
        m.insert("intent".into(), json!(intent));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interaction(scope: &str) -> Interaction {
        Interaction {
            id: "i".into(),
            client_id: "c".into(),
            redirect_uri: "https://app.example/cb".into(),
            redirect_uri_sent: true,
            state: Some("xyz".into()),
            scope: scope.into(),
            code_challenge: None,
            nonce: None,
            aud: "https://fhir.example".into(),
            launch: None,
            username: None,
            selected_patient: None,
            created_at: 0,
            expires_at: 600,
        }
    }

    fn user(patients: &[&str]) -> User {
        User {
            username: "u".into(),
            fhir_user: None,
            patients: patients.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn patient_picker_only_when_needed_and_ambiguous() {
        // SMART-17
        let i = interaction("launch/patient patient/Observation.rs");
        assert_eq!(
            next_step(&i, &user(&["p1", "p2"])),
            Next::PickPatient(vec!["p1".into(), "p2".into()])
        );
        assert_eq!(
            next_step(&i, &user(&["p1"])),
            Next::Consent {
                patient: Some("p1".into())
            }
        );
        assert_eq!(next_step(&i, &user(&[])), Next::NoPatient);
        assert_eq!(
            next_step(&interaction("user/Observation.rs"), &user(&["p1", "p2"])),
            Next::Consent { patient: None }
        );
        let mut ehr = interaction("launch patient/Observation.rs");
        ehr.launch = Some(LaunchContext {
            patient: Some("p9".into()),
            ..Default::default()
        });
        let clinician = User {
            fhir_user: Some("Practitioner/pr7".into()),
            ..user(&["p1", "p2"])
        };
        assert_eq!(
            next_step(&ehr, &clinician),
            Next::Consent {
                patient: Some("p9".into())
            }
        );
    }

    #[test]
    fn clinicians_are_practitioner_users() {
        // Issue 8 item 1: who counts as a clinician.
        let table: &[(Option<&str>, bool)] = &[
            (Some("Practitioner/pr7"), true),
            (Some("PractitionerRole/r1"), true),
            (Some("https://fhir.example/r4/Practitioner/pr7"), true),
            (Some("Patient/p1"), false),
            (Some("RelatedPerson/rp1"), false),
            (Some("Practitioner/"), false),
            (Some("Practitioner"), false),
            (Some("NotPractitioner/x"), false),
            (Some(""), false),
            (None, false),
        ];
        for &(fhir_user, expected) in table {
            assert_eq!(is_clinician(fhir_user), expected, "{fhir_user:?}");
        }
    }

    #[test]
    fn an_ehr_launch_patient_must_be_one_the_user_may_act_for() {
        // Issue 8 item 1: (fhirUser, user's patients, launch patient, allowed)
        let table: &[(Option<&str>, &[&str], &str, bool)] = &[
            (Some("Patient/p1"), &["p1"], "p1", true),
            (Some("RelatedPerson/rp1"), &["p1", "p2"], "p2", true),
            (Some("Patient/p1"), &["p1"], "p9", false),
            (None, &[], "p9", false),
            (Some("Patient/p9"), &[], "p9", false), // only the record's list counts
            (Some("Practitioner/pr7"), &[], "p9", true),
            (Some("PractitionerRole/r1"), &["p1"], "p9", true),
        ];
        for &(fhir_user, patients, launch_patient, allowed) in table {
            let u = User {
                username: "u".into(),
                fhir_user: fhir_user.map(String::from),
                patients: patients.iter().map(|p| p.to_string()).collect(),
            };
            assert_eq!(
                may_act_for(&u, launch_patient),
                allowed,
                "{fhir_user:?} {patients:?} {launch_patient}"
            );
            let mut ehr = interaction("launch patient/Observation.rs");
            ehr.launch = Some(LaunchContext {
                patient: Some(launch_patient.into()),
                ..Default::default()
            });
            let expected = if allowed {
                Next::Consent {
                    patient: Some(launch_patient.into()),
                }
            } else {
                Next::PatientNotAllowed
            };
            assert_eq!(next_step(&ehr, &u), expected);
        }
    }

    #[test]
    fn deny_redirect_carries_the_exact_state() {
        let url = deny_url(&interaction("openid"), "the user declined");
        assert!(url.starts_with("https://app.example/cb?error=access_denied&"));
        assert!(url.ends_with("&state=xyz"));
    }
}
