//! One audit record: a FHIR R4 `AuditEvent`-shaped JSON document, built only by the constructors
//! below.
//!
//! The constructors take identifiers (client ids, usernames, grant ids, a token's `jti`) and the
//! kind of a refusal (`OAuthError`'s code and `Reason`), never a request: there is no way to put a
//! token, code, secret, password, assertion or PEM in a record through this API, and no field holds
//! text a client sent except identifiers the server already knows (a registered client id, an
//! existing username).

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::oauth::OAuthError;

/// The code system of our own event kinds (`AuditKind::as_str`), in every record's `subtype`.
pub const LOCAL_SYSTEM: &str = "urn:udap-server:audit";
const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
const HL7_EVENT_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-event-type";
const ENTITY_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
const SOURCE_TYPE: &str = "http://terminology.hl7.org/CodeSystem/security-source-type";
/// Identifier systems of the things a record names.
pub const CLIENT_SYSTEM: &str = "urn:udap-server:client";
pub const USER_SYSTEM: &str = "urn:udap-server:user";
pub const ADMIN_SYSTEM: &str = "urn:udap-server:admin-token";
pub const COMMUNITY_SYSTEM: &str = "urn:udap-server:community";
pub const GRANT_SYSTEM: &str = "urn:udap-server:grant";
pub const TOKEN_SYSTEM: &str = "urn:udap-server:token";
pub const KEY_SYSTEM: &str = "urn:udap-server:key";
const ADMIN_OP_SYSTEM: &str = "urn:udap-server:admin-op";

/// The security events the server records (issue 10 item 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AuditKind {
    RegistrationCreated,
    RegistrationUpdated,
    RegistrationCancelled,
    RegistrationRefused,
    TokenIssued,
    TokenRefused,
    LoginSucceeded,
    LoginFailed,
    ConsentGiven,
    ConsentDenied,
    /// An access token revoked on its own (RFC 7009; no user grant behind it).
    TokenRevoked,
    /// A user grant ended (RFC 7009 on one of its tokens, or an administrator).
    GrantRevoked,
    AdminChange,
    /// An admin API request that changes nothing (a listing, an export), or one refused before
    /// any op ran (no live token).
    AdminRead,
}

impl AuditKind {
    pub const ALL: [AuditKind; 14] = [
        AuditKind::RegistrationCreated,
        AuditKind::RegistrationUpdated,
        AuditKind::RegistrationCancelled,
        AuditKind::RegistrationRefused,
        AuditKind::TokenIssued,
        AuditKind::TokenRefused,
        AuditKind::LoginSucceeded,
        AuditKind::LoginFailed,
        AuditKind::ConsentGiven,
        AuditKind::ConsentDenied,
        AuditKind::TokenRevoked,
        AuditKind::GrantRevoked,
        AuditKind::AdminChange,
        AuditKind::AdminRead,
    ];

    /// The code in `urn:udap-server:audit` (and the `--type` value of `audit list`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::RegistrationCreated => "registration_created",
            AuditKind::RegistrationUpdated => "registration_updated",
            AuditKind::RegistrationCancelled => "registration_cancelled",
            AuditKind::RegistrationRefused => "registration_refused",
            AuditKind::TokenIssued => "token_issued",
            AuditKind::TokenRefused => "token_refused",
            AuditKind::LoginSucceeded => "login_succeeded",
            AuditKind::LoginFailed => "login_failed",
            AuditKind::ConsentGiven => "consent_given",
            AuditKind::ConsentDenied => "consent_denied",
            AuditKind::TokenRevoked => "token_revoked",
            AuditKind::GrantRevoked => "grant_revoked",
            AuditKind::AdminChange => "admin_change",
            AuditKind::AdminRead => "admin_read",
        }
    }

    fn display(self) -> &'static str {
        match self {
            AuditKind::RegistrationCreated => "Client registration created",
            AuditKind::RegistrationUpdated => "Client registration updated",
            AuditKind::RegistrationCancelled => "Client registration cancelled",
            AuditKind::RegistrationRefused => "Client registration refused",
            AuditKind::TokenIssued => "Access token issued",
            AuditKind::TokenRefused => "Token request refused",
            AuditKind::LoginSucceeded => "User login succeeded",
            AuditKind::LoginFailed => "User login failed",
            AuditKind::ConsentGiven => "Consent given",
            AuditKind::ConsentDenied => "Consent denied",
            AuditKind::TokenRevoked => "Access token revoked",
            AuditKind::GrantRevoked => "Grant revoked",
            AuditKind::AdminChange => "Administrative change",
            AuditKind::AdminRead => "Administrative read",
        }
    }

    /// `AuditEvent.type`: the standard code where one exists. Registrations are REST operations
    /// on a client resource; tokens and logins authenticate someone (DICOM 110114); consents,
    /// revocations and admin changes alter what someone may do (DICOM 110113 Security Alert, with
    /// a standard subtype).
    fn event_type(self) -> Coding {
        use AuditKind::*;
        match self {
            RegistrationCreated
            | RegistrationUpdated
            | RegistrationCancelled
            | RegistrationRefused => Coding::new(HL7_EVENT_TYPE, "rest", "RESTful Operation"),
            TokenIssued | TokenRefused | LoginSucceeded | LoginFailed => {
                Coding::new(DCM, "110114", "User Authentication")
            }
            ConsentGiven | ConsentDenied | TokenRevoked | GrantRevoked | AdminChange => {
                Coding::new(DCM, "110113", "Security Alert")
            }
            AdminRead => Coding::new(HL7_EVENT_TYPE, "rest", "RESTful Operation"),
        }
    }

    /// A standard subtype beside our own code, where DICOM has one.
    fn standard_subtype(self) -> Option<Coding> {
        use AuditKind::*;
        match self {
            LoginSucceeded | LoginFailed => Some(Coding::new(DCM, "110122", "Login")),
            ConsentGiven | ConsentDenied | TokenRevoked | GrantRevoked => Some(Coding::new(
                DCM,
                "110137",
                "User Security Attributes Changed",
            )),
            AdminChange => Some(Coding::new(DCM, "110129", "Security Configuration")),
            _ => None,
        }
    }

    /// `AuditEvent.action` (C create, U update, D delete, E execute).
    fn action(self) -> &'static str {
        use AuditKind::*;
        match self {
            RegistrationCreated => "C",
            RegistrationUpdated => "U",
            RegistrationCancelled | TokenRevoked | GrantRevoked => "D",
            AdminRead => "R",
            _ => "E",
        }
    }
}

impl std::fmt::Display for AuditKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `"token_refused"` and the like; the error lists the valid names.
impl FromStr for AuditKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuditKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = AuditKind::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "`{s}` is not an audit event type; use one of {}",
                    names.join(", ")
                )
            })
    }
}

/// `AuditEvent.outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// "0"
    Success,
    /// "4": the request was refused (the client's fault).
    MinorFailure,
    /// "8": the server failed.
    SeriousFailure,
}

impl Outcome {
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Success => "0",
            Outcome::MinorFailure => "4",
            Outcome::SeriousFailure => "8",
        }
    }

    fn of_error(e: &OAuthError) -> Outcome {
        if e.reason == crate::oauth::Reason::Internal {
            Outcome::SeriousFailure
        } else {
            Outcome::MinorFailure
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coding {
    pub system: String,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl Coding {
    fn new(system: &str, code: &str, display: &str) -> Coding {
        Coding {
            system: system.into(),
            code: code.into(),
            display: Some(display.into()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identifier {
    pub system: String,
    pub value: String,
}

/// A FHIR Reference: a literal `reference` (`Patient/123`), a logical `identifier`, or a display.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Identifier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl Reference {
    fn identified(system: &str, value: &str) -> Reference {
        Reference {
            identifier: Some(Identifier {
                system: system.into(),
                value: value.into(),
            }),
            ..Default::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeableConcept {
    pub coding: Vec<Coding>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub address: String,
    /// "2": an IP address.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `AuditEvent.agent`: who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    /// Set (our code `claimed`) when the identity was claimed but not proven.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<CodeableConcept>,
    pub who: Reference,
    pub requestor: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
}

/// `AuditEvent.source`: the server that observed the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub observer: Reference,
    #[serde(rename = "type", default, skip_serializing_if = "Vec::is_empty")]
    pub kind: Vec<Coding>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detail {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "valueString")]
    pub value: String,
}

/// `AuditEvent.entity`: what the event was about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    pub what: Reference,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Coding>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub detail: Vec<Detail>,
}

impl Entity {
    fn object(system: &str, id: &str) -> Entity {
        Entity {
            what: Reference::identified(system, id),
            kind: Some(Coding::new(ENTITY_TYPE, "2", "System Object")),
            detail: Vec::new(),
        }
    }

    fn client(client_id: &str) -> Entity {
        Entity::object(CLIENT_SYSTEM, client_id)
    }

    fn patient(id: &str) -> Entity {
        Entity {
            what: Reference {
                reference: Some(format!("Patient/{id}")),
                ..Default::default()
            },
            kind: Some(Coding::new(ENTITY_TYPE, "1", "Person")),
            detail: Vec::new(),
        }
    }
}

/// A client named by a request: authenticated, or only claimed (a registered client id that the
/// request failed to prove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAgent {
    pub client_id: String,
    pub authenticated: bool,
}

/// A security event, shaped as a FHIR R4 AuditEvent (`serde_json::to_value` gives the resource).
///
/// Built by the constructors (`registration_created`, `token_refused`, ...); `AuditLog::record`
/// stamps it with its id, time and this server's base URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    resource_type: String,
    /// Time-sortable and unique: `{unix ms, 13 digits}-{sequence}-{process tag}`.
    #[serde(default)]
    id: String,
    #[serde(rename = "type")]
    event_type: Coding,
    subtype: Vec<Coding>,
    action: String,
    /// RFC 3339, milliseconds, UTC.
    #[serde(default)]
    recorded: String,
    outcome: String,
    /// The kind of failure only (an OAuth error code and our `Reason` kind): never client text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outcome_desc: Option<String>,
    agent: Vec<Agent>,
    source: Source,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    entity: Vec<Entity>,
}

fn agent(system: &str, id: &str) -> Agent {
    Agent {
        kind: None,
        who: Reference::identified(system, id),
        requestor: true,
        network: None,
    }
}

fn client_agent(c: &ClientAgent) -> Agent {
    let mut a = agent(CLIENT_SYSTEM, &c.client_id);
    if !c.authenticated {
        a.kind = Some(CodeableConcept {
            coding: vec![Coding::new(
                LOCAL_SYSTEM,
                "claimed",
                "Identity claimed, not authenticated",
            )],
        });
    }
    a
}

fn anonymous() -> Agent {
    Agent {
        kind: None,
        who: Reference {
            display: Some("unauthenticated".into()),
            ..Default::default()
        },
        requestor: true,
        network: None,
    }
}

/// `invalid_client (client_auth)`: the error code and the reason kind, both fixed strings.
fn error_kind(e: &OAuthError) -> String {
    format!("{} ({})", e.code.as_str(), e.reason.as_str())
}

/// Grant types are recorded only as one of the values the token endpoint accepts.
fn known_grant_type(grant_type: &str) -> &'static str {
    match grant_type {
        "client_credentials" => "client_credentials",
        "authorization_code" => "authorization_code",
        "refresh_token" => "refresh_token",
        _ => "other",
    }
}

static SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// A random tag per process, so ids made by several instances on one database never collide.
fn process_tag() -> u32 {
    static TAG: OnceLock<u32> = OnceLock::new();
    *TAG.get_or_init(|| {
        let mut b = [0u8; 4];
        if openssl::rand::rand_bytes(&mut b).is_err() {
            // Not fatal: the tag only separates processes; the pid does that too.
            return std::process::id();
        }
        u32::from_be_bytes(b)
    })
}

impl AuditEvent {
    fn new(kind: AuditKind, outcome: Outcome, agent: Agent) -> AuditEvent {
        let mut subtype = vec![Coding::new(LOCAL_SYSTEM, kind.as_str(), kind.display())];
        subtype.extend(kind.standard_subtype());
        AuditEvent {
            resource_type: "AuditEvent".into(),
            id: String::new(),
            event_type: kind.event_type(),
            subtype,
            action: kind.action().into(),
            recorded: String::new(),
            outcome: outcome.code().into(),
            outcome_desc: None,
            agent: vec![agent],
            source: Source {
                observer: Reference {
                    display: Some("udap-server".into()),
                    ..Default::default()
                },
                kind: vec![Coding::new(SOURCE_TYPE, "4", "Application Server")],
            },
            entity: Vec::new(),
        }
    }

    fn failed(mut self, e: &OAuthError) -> Self {
        self.outcome = Outcome::of_error(e).code().into();
        self.outcome_desc = Some(error_kind(e));
        self
    }

    fn about(mut self, entity: Entity) -> Self {
        self.entity.push(entity);
        self
    }

    fn about_community(self, community: Option<&str>) -> Self {
        match community {
            Some(c) => self.about(Entity::object(COMMUNITY_SYSTEM, c)),
            None => self,
        }
    }

    fn registration(kind: AuditKind, client_id: &str, community: Option<&str>) -> Self {
        AuditEvent::new(kind, Outcome::Success, agent(CLIENT_SYSTEM, client_id))
            .about(Entity::client(client_id))
            .about_community(community)
    }

    /// UDAP-18: a new client registered itself.
    pub fn registration_created(client_id: &str, community: Option<&str>) -> Self {
        Self::registration(AuditKind::RegistrationCreated, client_id, community)
    }

    /// UDAP-20: a client replaced its registration.
    pub fn registration_updated(client_id: &str, community: Option<&str>) -> Self {
        Self::registration(AuditKind::RegistrationUpdated, client_id, community)
    }

    /// UDAP-21: a client cancelled its registration (empty grant types).
    pub fn registration_cancelled(client_id: &str, community: Option<&str>) -> Self {
        Self::registration(AuditKind::RegistrationCancelled, client_id, community)
    }

    /// What `oauth::registration::register` did.
    pub fn registered(
        kind: crate::oauth::registration::RegistrationKind,
        client_id: &str,
        community: Option<&str>,
    ) -> Self {
        use crate::oauth::registration::RegistrationKind as K;
        let kind = match kind {
            K::Created => AuditKind::RegistrationCreated,
            K::Updated => AuditKind::RegistrationUpdated,
            K::Cancelled => AuditKind::RegistrationCancelled,
        };
        Self::registration(kind, client_id, community)
    }

    /// A registration request was refused; who sent it is not known (the statement was not
    /// accepted), so the agent is "unauthenticated" (add `with_address`).
    pub fn registration_refused(error: &OAuthError) -> Self {
        AuditEvent::new(
            AuditKind::RegistrationRefused,
            Outcome::MinorFailure,
            anonymous(),
        )
        .failed(error)
    }

    /// An access token was issued to `client_id` by `grant_type` (only the three grant types the
    /// token endpoint serves are named; anything else reads "other"), for `patient` if any.
    pub fn token_issued(client_id: &str, grant_type: &str, patient: Option<&str>) -> Self {
        let mut client = Entity::client(client_id);
        client.detail.push(Detail {
            kind: "grant_type".into(),
            value: known_grant_type(grant_type).into(),
        });
        let e = AuditEvent::new(
            AuditKind::TokenIssued,
            Outcome::Success,
            agent(CLIENT_SYSTEM, client_id),
        )
        .about(client);
        match patient {
            Some(p) => e.about(Entity::patient(p)),
            None => e,
        }
    }

    /// A token request was refused: the error's code and reason kind only. `client`: the client
    /// that authenticated, or the registered client the request claimed to be (`claimed_client`).
    pub fn token_refused(client: Option<&ClientAgent>, error: &OAuthError) -> Self {
        let who = client.map(client_agent).unwrap_or_else(anonymous);
        let e = AuditEvent::new(AuditKind::TokenRefused, Outcome::MinorFailure, who).failed(error);
        match client {
            Some(c) => e.about(Entity::client(&c.client_id)),
            None => e,
        }
    }

    /// A user signed in (for the authorization of `client_id`).
    pub fn login_succeeded(username: &str, client_id: Option<&str>) -> Self {
        let e = AuditEvent::new(
            AuditKind::LoginSucceeded,
            Outcome::Success,
            agent(USER_SYSTEM, username),
        );
        match client_id {
            Some(c) => e.about(Entity::client(c)),
            None => e,
        }
    }

    /// A password check failed. `known_user`: the username, only when such a user exists (a
    /// mistyped username can be a password; an unknown one is not recorded).
    pub fn login_failed(known_user: Option<&str>, client_id: Option<&str>) -> Self {
        let who = match known_user {
            Some(u) => agent(USER_SYSTEM, u),
            None => anonymous(),
        };
        let mut e = AuditEvent::new(AuditKind::LoginFailed, Outcome::MinorFailure, who);
        e.outcome_desc = Some(
            if known_user.is_some() {
                "wrong_password"
            } else {
                "unknown_user"
            }
            .into(),
        );
        match client_id {
            Some(c) => e.about(Entity::client(c)),
            None => e,
        }
    }

    /// The user approved the consent page: `client_id` may act for them (and `patient`).
    pub fn consent_given(username: &str, client_id: &str, patient: Option<&str>) -> Self {
        let e = AuditEvent::new(
            AuditKind::ConsentGiven,
            Outcome::Success,
            agent(USER_SYSTEM, username),
        )
        .about(Entity::client(client_id));
        match patient {
            Some(p) => e.about(Entity::patient(p)),
            None => e,
        }
    }

    /// The user denied the request (or left nothing selected).
    pub fn consent_denied(username: &str, client_id: &str) -> Self {
        AuditEvent::new(
            AuditKind::ConsentDenied,
            Outcome::Success,
            agent(USER_SYSTEM, username),
        )
        .about(Entity::client(client_id))
    }

    /// RFC 7009: `client_id` revoked one of its access tokens (`jti`), which had no user grant.
    pub fn token_revoked(client_id: &str, jti: &str) -> Self {
        AuditEvent::new(
            AuditKind::TokenRevoked,
            Outcome::Success,
            agent(CLIENT_SYSTEM, client_id),
        )
        .about(Entity::client(client_id))
        .about(Entity::object(TOKEN_SYSTEM, jti))
    }

    /// RFC 7009 / HTI1-4: `client_id` revoked a token of grant `grant_id` (the access token's `jti`
    /// when it was one), which ends the whole grant.
    pub fn grant_revoked(client_id: &str, grant_id: &str, jti: Option<&str>) -> Self {
        let e = AuditEvent::new(
            AuditKind::GrantRevoked,
            Outcome::Success,
            agent(CLIENT_SYSTEM, client_id),
        )
        .about(Entity::client(client_id))
        .about(Entity::object(GRANT_SYSTEM, grant_id));
        match jti {
            Some(j) => e.about(Entity::object(TOKEN_SYSTEM, j)),
            None => e,
        }
    }

    /// An administrative operation `op` (e.g. "community.add") by the admin token named
    /// `admin_name` (or the local operator's name for the offline CLI); `entity` is
    /// `(kind, id)`: kind one of client, patient, community, grant, key, user, launch, ...;
    /// `reason_kind` a fixed word for a refusal.
    pub fn admin_change(
        op: &str,
        admin_name: &str,
        outcome_ok: bool,
        entity: Option<(&str, &str)>,
        reason_kind: Option<&str>,
    ) -> Self {
        let e = AuditEvent::admin(
            AuditKind::AdminChange,
            op,
            admin_name,
            outcome_ok,
            reason_kind,
        );
        match entity {
            Some(("patient", id)) => e.about(Entity::patient(id)),
            Some((kind, id)) => e.about(Entity::object(&format!("urn:udap-server:{kind}"), id)),
            None => e,
        }
    }

    /// An admin request that changed nothing: a read (`admin_name` is the token's name), or a
    /// request refused before any op ran (`admin_name` `-`, `reason_kind` e.g. `unauthorized`).
    pub fn admin_read(
        op: &str,
        admin_name: &str,
        outcome_ok: bool,
        reason_kind: Option<&str>,
    ) -> Self {
        AuditEvent::admin(
            AuditKind::AdminRead,
            op,
            admin_name,
            outcome_ok,
            reason_kind,
        )
    }

    /// An admin record of `kind`: the admin as the agent, the op as a subtype, the refusal's kind.
    fn admin(
        kind: AuditKind,
        op: &str,
        admin_name: &str,
        outcome_ok: bool,
        reason_kind: Option<&str>,
    ) -> Self {
        let outcome = if outcome_ok {
            Outcome::Success
        } else {
            Outcome::MinorFailure
        };
        let mut e = AuditEvent::new(kind, outcome, agent(ADMIN_SYSTEM, admin_name));
        e.subtype.push(Coding {
            system: ADMIN_OP_SYSTEM.into(),
            code: op.into(),
            display: None,
        });
        e.outcome_desc = reason_kind.map(String::from);
        e
    }

    /// The requester's IP address (the TCP peer), when known.
    pub fn with_address(mut self, addr: Option<IpAddr>) -> Self {
        if let (Some(a), Some(agent)) = (addr, self.agent.first_mut()) {
            agent.network = Some(Network {
                address: a.to_string(),
                kind: "2".into(),
            });
        }
        self
    }

    /// Names the observing server by its base URL.
    pub fn with_source(mut self, base_url: &str) -> Self {
        self.source.observer.identifier = Some(Identifier {
            system: "urn:ietf:rfc:3986".into(),
            value: base_url.into(),
        });
        self
    }

    /// Gives the event its id and `recorded` time (`at_ms`: unix milliseconds). Done once, by
    /// `AuditLog::record` / `record_now`; tests pin the time with it.
    pub fn stamped_at(mut self, at_ms: i64) -> Self {
        let at_ms = at_ms.max(0);
        let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        self.id = format!("{at_ms:013}-{seq:08x}-{:08x}", process_tag());
        self.recorded = chrono::DateTime::from_timestamp_millis(at_ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        self
    }

    pub(crate) fn is_stamped(&self) -> bool {
        !self.id.is_empty()
    }

    pub(crate) fn has_source(&self) -> bool {
        self.source.observer.identifier.is_some()
    }

    /// Empty until stamped.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Unix milliseconds of `recorded` (from the id, which starts with them); 0 if unstamped.
    pub fn recorded_ms(&self) -> i64 {
        self.id
            .get(..13)
            .and_then(|p| p.parse().ok())
            .unwrap_or_default()
    }

    /// RFC 3339; empty until stamped.
    pub fn recorded(&self) -> &str {
        &self.recorded
    }

    /// Our kind (the `urn:udap-server:audit` subtype); `None` only for a record this release
    /// does not know.
    pub fn kind(&self) -> Option<AuditKind> {
        self.subtype
            .iter()
            .find(|c| c.system == LOCAL_SYSTEM)
            .and_then(|c| c.code.parse().ok())
    }

    /// `0`, `4` or `8`.
    pub fn outcome(&self) -> &str {
        &self.outcome
    }

    pub fn outcome_desc(&self) -> Option<&str> {
        self.outcome_desc.as_deref()
    }

    pub fn agents(&self) -> &[Agent] {
        &self.agent
    }

    pub fn entities(&self) -> &[Entity] {
        &self.entity
    }

    /// The id the acting agent is known by (client id, username, admin token name), if any.
    pub fn agent_id(&self) -> Option<&str> {
        self.agent
            .first()
            .and_then(|a| a.who.identifier.as_ref())
            .map(|i| i.value.as_str())
    }

    /// The client the event concerns: the acting client, else a client entity. Indexed for
    /// `audit list --client`.
    pub fn client_id(&self) -> Option<&str> {
        fn is_client(r: &Reference) -> Option<&str> {
            r.identifier
                .as_ref()
                .filter(|i| i.system == CLIENT_SYSTEM)
                .map(|i| i.value.as_str())
        }
        self.agent
            .iter()
            .find_map(|a| is_client(&a.who))
            .or_else(|| self.entity.iter().find_map(|e| is_client(&e.what)))
    }

    /// The identifier value of the first entity in `system` (e.g. `GRANT_SYSTEM`).
    pub fn entity_id(&self, system: &str) -> Option<&str> {
        self.entity.iter().find_map(|e| {
            e.what
                .identifier
                .as_ref()
                .filter(|i| i.system == system)
                .map(|i| i.value.as_str())
        })
    }

    /// The patient id of a `Patient/{id}` entity.
    pub fn patient(&self) -> Option<&str> {
        self.entity.iter().find_map(|e| {
            e.what
                .reference
                .as_deref()
                .and_then(|r| r.strip_prefix("Patient/"))
        })
    }

    /// The FHIR JSON resource.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}
