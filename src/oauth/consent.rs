//! The consent screen's model: what the user is asked, in plain words, and what the submitted form
//! means. Pure functions; the page itself is `http::pages::consent_page`.
//!
//! Rules (SMART-18, HTI1-6, SMART-34):
//! - One item per requested scope, in request order, all checked: the user deselects what they do
//!   not want. Resource scopes, `openid`, `fhirUser`, `profile`, `offline_access` and
//!   `online_access` can be deselected.
//! - Launch-context scopes (`launch`, `launch/patient`, `launch/encounter`, any `launch/...`) are
//!   shown but `required`: they carry the context the other scopes need (SMART-17) and grant no
//!   data by themselves, so they are always granted.
//! - `offline_access` is always listed with what it means (HTI1-6, AUT-PAT-11).
//! - A read/search scope on Condition or Observation without a `?` restriction gets one unchecked
//!   child per US Core category (HTI1-6, SMART-34): the user may keep the whole resource, or
//!   deselect it and pick only some categories.
//! - `granted_from_form` only ever returns requested scopes or their category children, so a
//!   tampered form cannot widen the grant.

use crate::oauth::scopes::{self, ResourceScope, Scope, ScopeContext};

/// `http://terminology.hl7.org/CodeSystem/condition-category`
pub const CONDITION_CATEGORY_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/condition-category";
/// US Core's Condition category code system (`health-concern`).
pub const US_CORE_CONDITION_CATEGORY_SYSTEM: &str =
    "http://hl7.org/fhir/us/core/CodeSystem/condition-category";
/// `http://terminology.hl7.org/CodeSystem/observation-category`
pub const OBSERVATION_CATEGORY_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/observation-category";
/// US Core category code system (`sdoh`).
pub const US_CORE_CATEGORY_SYSTEM: &str = "http://hl7.org/fhir/us/core/CodeSystem/us-core-category";

/// A category sub-scope: code system, code, plain label.
struct Category {
    system: &'static str,
    code: &'static str,
    label: &'static str,
}

/// Condition sub-resources required by (g)(10) AUT-PAT-28: Encounter Diagnosis, Problem List,
/// Health Concern (SMART-34).
const CONDITION_CATEGORIES: &[Category] = &[
    Category {
        system: CONDITION_CATEGORY_SYSTEM,
        code: "encounter-diagnosis",
        label: "Diagnoses made during visits",
    },
    Category {
        system: CONDITION_CATEGORY_SYSTEM,
        code: "problem-list-item",
        label: "Problem list",
    },
    Category {
        system: US_CORE_CONDITION_CATEGORY_SYSTEM,
        code: "health-concern",
        label: "Health concerns",
    },
];

/// Observation sub-resources required by (g)(10) AUT-PAT-28: Laboratory, Vital Signs, Social
/// History, Survey, SDOH, Clinical Test. Clinical Test uses `procedure` from the observation
/// category system, as the ONC test kit's US Core 6.1 guidance says (SMART-34).
const OBSERVATION_CATEGORIES: &[Category] = &[
    Category {
        system: OBSERVATION_CATEGORY_SYSTEM,
        code: "laboratory",
        label: "Laboratory results",
    },
    Category {
        system: OBSERVATION_CATEGORY_SYSTEM,
        code: "vital-signs",
        label: "Vital signs (blood pressure, weight, ...)",
    },
    Category {
        system: OBSERVATION_CATEGORY_SYSTEM,
        code: "social-history",
        label: "Social history (smoking, pregnancy, occupation, ...)",
    },
    Category {
        system: OBSERVATION_CATEGORY_SYSTEM,
        code: "survey",
        label: "Surveys, screenings and assessments",
    },
    Category {
        system: US_CORE_CATEGORY_SYSTEM,
        code: "sdoh",
        label: "Social needs (housing, food, transport: social determinants of health)",
    },
    Category {
        system: OBSERVATION_CATEGORY_SYSTEM,
        code: "procedure",
        label: "Clinical test results (e.g. ECG, pulmonary function)",
    },
];

/// One line of the consent screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentItem {
    /// The scope granted if this item stays checked.
    pub value: String,
    /// What it allows, in plain words.
    pub label: String,
    /// Initially checked.
    pub checked: bool,
    /// Cannot be deselected (launch context); shown checked and disabled, always granted.
    pub required: bool,
    /// Narrower alternatives (category sub-scopes), granted only when this item is deselected.
    pub children: Vec<ConsentItem>,
}

fn categories_of(resource: &str) -> &'static [Category] {
    match resource {
        "Condition" => CONDITION_CATEGORIES,
        "Observation" => OBSERVATION_CATEGORIES,
        _ => &[],
    }
}

/// Plain words for a FHIR resource type (US Core types; others by name).
fn resource_noun(resource: &str) -> String {
    let known = match resource {
        "*" => "all health records",
        "AllergyIntolerance" => "allergies and intolerances",
        "CarePlan" => "care plans",
        "CareTeam" => "care team members",
        "Condition" => "conditions (problems, diagnoses and health concerns)",
        "Coverage" => "insurance coverage",
        "Device" => "implanted devices",
        "DiagnosticReport" => "diagnostic reports (lab and imaging reports)",
        "DocumentReference" => "clinical notes and documents",
        "Encounter" => "visits and encounters",
        "Goal" => "health goals",
        "Immunization" => "immunizations",
        "Location" => "care locations",
        "Medication" => "medications",
        "MedicationDispense" => "medications dispensed",
        "MedicationRequest" => "prescriptions and medication orders",
        "Observation" => "lab results, vital signs and other observations",
        "Organization" => "healthcare organizations",
        "Patient" => "demographics (name, birth date, contact details)",
        "Practitioner" => "clinicians' details",
        "PractitionerRole" => "clinicians' roles",
        "Procedure" => "procedures",
        "Provenance" => "record history (who entered or changed what)",
        "QuestionnaireResponse" => "questionnaire answers",
        "RelatedPerson" => "related people (e.g. caregivers)",
        "ServiceRequest" => "orders and referrals",
        "Specimen" => "specimens",
        other => return format!("{other} records"),
    };
    known.to_string()
}

/// "Read and search", "Create, update and delete", ... from the `cruds` letters.
fn verb(r: &ResourceScope) -> String {
    let words: Vec<&str> = r
        .perms
        .to_string()
        .chars()
        .filter_map(|c| match c {
            'c' => Some("create"),
            'r' => Some("read"),
            'u' => Some("update"),
            'd' => Some("delete"),
            's' => Some("search"),
            _ => None,
        })
        .collect();
    let text = match words.as_slice() {
        [] => String::from("use"),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

fn whose(context: ScopeContext) -> &'static str {
    match context {
        ScopeContext::Patient => "",
        ScopeContext::User => " of any patient you can access",
        ScopeContext::System => " of all patients",
    }
}

/// The category named by a granular query (`category=<system>|<code>` or `category=<code>`).
fn known_category(resource: &str, query: &str) -> Option<&'static Category> {
    let value = query.strip_prefix("category=")?;
    categories_of(resource)
        .iter()
        .find(|c| match value.split_once('|') {
            Some((system, code)) => system == c.system && code == c.code,
            None => value == c.code,
        })
}

fn resource_label(r: &ResourceScope) -> String {
    let what = match &r.query {
        None => resource_noun(&r.resource),
        Some(q) => match known_category(&r.resource, q) {
            Some(c) => c.label.to_lowercase(),
            None => format!("{} matching {q}", resource_noun(&r.resource)),
        },
    };
    format!("{} {what}{}", verb(r), whose(r.context))
}

fn other_label(name: &str) -> (String, bool) {
    let label = match name {
        "openid" => "Your identity: let the app confirm who you are (OpenID Connect sign-in)".to_string(),
        "fhirUser" => "Your identity in this health record system (your FHIR user, e.g. Practitioner/123)".to_string(),
        "profile" => "Your name and basic profile".to_string(),
        "offline_access" => "Keep access when you are offline (a long-lived refresh token): the app can keep getting \
                             the data you allow here, without asking you again and while you are not using it, \
                             until you revoke its access"
            .to_string(),
        "online_access" => "Stay connected while you are signed in here (a refresh token that stops working when you \
                            sign out)"
            .to_string(),
        "launch" => return ("Use the patient and visit already open in your EHR session".to_string(), true),
        "launch/patient" => return ("Know which patient is in context".to_string(), true),
        "launch/encounter" => return ("Know which encounter (visit) is in context".to_string(), true),
        other => match other.strip_prefix("launch/") {
            Some(kind) => {
                let kind = kind.split('?').next().unwrap_or(kind);
                return (format!("Know which {kind} is in context"), true);
            }
            None => format!("Another permission the app asked for: {other}"),
        },
    };
    (label, false)
}

fn category_children(token: &str, r: &ResourceScope, requested: &[String]) -> Vec<ConsentItem> {
    let perms = r.perms.to_string();
    // Only read/search access is narrowed by category; a restriction on a bare query would be
    // a second `?` and is not offered.
    if r.query.is_some() || !(perms.contains('r') || perms.contains('s')) {
        return Vec::new();
    }
    categories_of(&r.resource)
        .iter()
        .map(|c| format!("{token}?category={}|{}", c.system, c.code))
        .zip(categories_of(&r.resource))
        // A category the app asked for itself is already its own item.
        .filter(|(value, _)| !requested.contains(value))
        .map(|(value, c)| ConsentItem {
            value,
            label: c.label.to_string(),
            checked: false,
            required: false,
            children: Vec::new(),
        })
        .collect()
}

/// The consent screen's items for the requested scopes (already limited to what the client may
/// have), in request order, duplicates and unparseable tokens dropped. See the module rules.
pub fn consent_items(requested: &[String]) -> Vec<ConsentItem> {
    let mut seen: Vec<&str> = Vec::new();
    let mut items = Vec::new();
    for token in requested {
        if seen.contains(&token.as_str()) {
            continue;
        }
        seen.push(token);
        match scopes::parse(token) {
            Some(Scope::Resource(r)) => items.push(ConsentItem {
                value: token.clone(),
                label: resource_label(&r),
                checked: true,
                required: false,
                children: category_children(token, &r, requested),
            }),
            Some(Scope::Other(name)) => {
                let (label, required) = other_label(&name);
                items.push(ConsentItem {
                    value: token.clone(),
                    label,
                    checked: true,
                    required,
                    children: Vec::new(),
                });
            }
            // Breaks the scope grammar: it can never be granted, so it is not offered.
            None => {}
        }
    }
    items
}

/// The scopes the user granted: required items always; a checked item (its children are then
/// redundant); for an unchecked item, its checked children. Values that are not on the screen are
/// ignored. Request order, no duplicates.
pub fn granted_from_form(requested: &[String], selected: &[String]) -> Vec<String> {
    let is_selected = |v: &str| selected.iter().any(|s| s == v);
    let mut out: Vec<String> = Vec::new();
    let mut push = |v: &str| {
        if !out.iter().any(|o| o == v) {
            out.push(v.to_string());
        }
    };
    for item in consent_items(requested) {
        if item.required || is_selected(&item.value) {
            push(&item.value);
            continue;
        }
        for child in item.children.iter().filter(|c| is_selected(&c.value)) {
            push(&child.value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    const LAB: &str = "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory";
    const VITALS: &str = "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs";
    const SDOH: &str = "patient/Observation.rs?category=http://hl7.org/fhir/us/core/CodeSystem/us-core-category|sdoh";
    const HEALTH_CONCERN: &str = "patient/Condition.rs?category=http://hl7.org/fhir/us/core/CodeSystem/condition-category|health-concern";

    #[test]
    fn labels_and_flags() {
        let items = consent_items(&s(&[
            "launch/patient",
            "openid",
            "fhirUser",
            "offline_access",
            "patient/Patient.rs",
            "user/Encounter.cud",
            "launch",
            "patient/Patient.rs",
            "patient/Bad.xx",
        ]));
        let labels: Vec<(&str, &str, bool)> = items
            .iter()
            .map(|i| (i.value.as_str(), i.label.as_str(), i.required))
            .collect();
        assert_eq!(
            labels[0],
            ("launch/patient", "Know which patient is in context", true)
        );
        assert!(labels[1].1.starts_with("Your identity"));
        assert!(!labels[1].2, "openid may be deselected");
        assert!(
            labels[3].1.contains("offline")
                && labels[3].1.contains("refresh token")
                && !labels[3].2
        );
        assert_eq!(
            labels[4].1,
            "Read and search demographics (name, birth date, contact details)"
        );
        assert_eq!(
            labels[5].1,
            "Create, update and delete visits and encounters of any patient you can access"
        );
        assert_eq!(
            labels[6],
            (
                "launch",
                "Use the patient and visit already open in your EHR session",
                true
            )
        );
        // Duplicates and ungrammatical tokens dropped.
        assert_eq!(items.len(), 7);
        assert!(items.iter().all(|i| i.checked));
        assert_eq!(
            consent_items(&s(&["launch/location?role=x"]))[0].label,
            "Know which location is in context"
        );
    }

    #[test]
    fn category_children_v2_and_v1() {
        let items = consent_items(&s(&[
            "patient/Condition.rs",
            "patient/Observation.read",
            "user/Observation.rs",
            "patient/Observation.cud",
            "patient/Patient.rs",
        ]));
        let cond: Vec<&str> = items[0].children.iter().map(|c| c.value.as_str()).collect();
        assert_eq!(
            cond,
            [
                "patient/Condition.rs?category=http://terminology.hl7.org/CodeSystem/condition-category|encounter-diagnosis",
                "patient/Condition.rs?category=http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item",
                HEALTH_CONCERN,
            ]
        );
        let obs: Vec<&str> = items[1].children.iter().map(|c| c.value.as_str()).collect();
        assert_eq!(obs.len(), 6);
        assert_eq!(obs[0], "patient/Observation.read?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory");
        assert!(obs.contains(&"patient/Observation.read?category=http://hl7.org/fhir/us/core/CodeSystem/us-core-category|sdoh"));
        assert!(obs.contains(&"patient/Observation.read?category=http://terminology.hl7.org/CodeSystem/observation-category|procedure"));
        // Every child is a grammatical scope the scopes module accepts.
        for c in items.iter().flat_map(|i| &i.children) {
            assert!(
                matches!(scopes::parse(&c.value), Some(Scope::Resource(_))),
                "{}",
                c.value
            );
            assert!(!c.checked);
        }
        assert_eq!(items[1].children[0].label, "Laboratory results");
        assert_eq!(items[2].children.len(), 6, "user/ scopes too");
        assert!(
            items[3].children.is_empty(),
            "write-only access is not split by category"
        );
        assert!(items[4].children.is_empty());
        // A granular scope requested directly is labelled by its category, without children.
        let granular = consent_items(&s(&[LAB, "patient/Observation.rs?code=1234-5"]));
        assert_eq!(granular[0].label, "Read and search laboratory results");
        assert!(granular[0].children.is_empty());
        assert_eq!(
            granular[1].label,
            "Read and search lab results, vital signs and other observations matching code=1234-5"
        );
        // A category requested on its own is not repeated as a child.
        let both = consent_items(&s(&["patient/Observation.rs", LAB]));
        assert_eq!(both[0].children.len(), 5);
    }

    #[test]
    fn granted_from_form_rules() {
        let requested = s(&[
            "launch/patient",
            "openid",
            "patient/Condition.rs",
            "patient/Observation.rs",
            "offline_access",
            "patient/Patient.rs",
        ]);
        // Everything kept: children redundant.
        let all = s(&[
            "openid",
            "patient/Condition.rs",
            "patient/Observation.rs",
            LAB,
            "offline_access",
            "patient/Patient.rs",
        ]);
        assert_eq!(
            granted_from_form(&requested, &all),
            s(&[
                "launch/patient",
                "openid",
                "patient/Condition.rs",
                "patient/Observation.rs",
                "offline_access",
                "patient/Patient.rs"
            ])
        );
        // Deselect a resource and offline_access; launch/patient stays (required).
        assert_eq!(
            granted_from_form(&requested, &s(&["patient/Patient.rs", "openid"])),
            s(&["launch/patient", "openid", "patient/Patient.rs"])
        );
        // Only some categories, given in any order: granted in screen order.
        assert_eq!(
            granted_from_form(&requested, &s(&[SDOH, HEALTH_CONCERN, LAB, VITALS])),
            s(&["launch/patient", HEALTH_CONCERN, LAB, VITALS, SDOH])
        );
        // Injected values are ignored: other scopes, categories of unrequested resources, v1/v2 mixes.
        let injected = s(&["system/*.cruds", "patient/*.rs", "user/Observation.rs", "patient/Observation.read?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory", "patient/Patient.rs"]);
        assert_eq!(
            granted_from_form(&requested, &injected),
            s(&["launch/patient", "patient/Patient.rs"])
        );
        // Nothing selected: only the context.
        assert_eq!(granted_from_form(&requested, &[]), s(&["launch/patient"]));
    }
}
