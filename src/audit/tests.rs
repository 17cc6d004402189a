//! Unit tests of the audit records and the writer (embedded store; the conformance suite runs the
//! storage on both backends).

use std::net::{IpAddr, Ipv4Addr};

use serde_json::Value;

use super::event::AuditEvent;
use super::query::export_paged;
use super::*;
use crate::oauth::client_auth::Credentials;
use crate::oauth::{ErrorCode, OAuthError, Reason};
use crate::store::ClientRecord;

fn open_temp() -> (tempfile::TempDir, crate::store::Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::Store::open(&dir.path().join("udap.redb")).unwrap();
    (dir, store)
}

/// 2023-11-14T22:13:20Z
const T0: i64 = 1_700_000_000_000;

fn refused() -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClient, "bad secret s3cr3t-in-description")
        .with_detail("private detail s3cr3t-in-detail")
}

/// One row per kind: type, our subtype, action, outcome.
#[test]
fn each_kind_has_its_codes() {
    let rows: Vec<(AuditEvent, AuditKind, &str, &str, &str)> = vec![
        (
            AuditEvent::registration_created("c1", Some("urn:c")),
            AuditKind::RegistrationCreated,
            "rest",
            "C",
            "0",
        ),
        (
            AuditEvent::registration_updated("c1", None),
            AuditKind::RegistrationUpdated,
            "rest",
            "U",
            "0",
        ),
        (
            AuditEvent::registration_cancelled("c1", None),
            AuditKind::RegistrationCancelled,
            "rest",
            "D",
            "0",
        ),
        (
            AuditEvent::registration_refused(&refused()),
            AuditKind::RegistrationRefused,
            "rest",
            "E",
            "4",
        ),
        (
            AuditEvent::token_issued("c1", "client_credentials", None),
            AuditKind::TokenIssued,
            "110114",
            "E",
            "0",
        ),
        (
            AuditEvent::token_refused(None, &refused()),
            AuditKind::TokenRefused,
            "110114",
            "E",
            "4",
        ),
        (
            AuditEvent::login_succeeded("alice", Some("app")),
            AuditKind::LoginSucceeded,
            "110114",
            "E",
            "0",
        ),
        (
            AuditEvent::login_failed(Some("alice"), Some("app")),
            AuditKind::LoginFailed,
            "110114",
            "E",
            "4",
        ),
        (
            AuditEvent::consent_given("alice", "app", Some("p1")),
            AuditKind::ConsentGiven,
            "110113",
            "E",
            "0",
        ),
        (
            AuditEvent::consent_denied("alice", "app"),
            AuditKind::ConsentDenied,
            "110113",
            "E",
            "0",
        ),
        (
            AuditEvent::token_revoked("c1", "jti-1"),
            AuditKind::TokenRevoked,
            "110113",
            "D",
            "0",
        ),
        (
            AuditEvent::grant_revoked("app", "g1", None),
            AuditKind::GrantRevoked,
            "110113",
            "D",
            "0",
        ),
        (
            AuditEvent::admin_change("client.add", "ops", true, Some(("client", "c9")), None),
            AuditKind::AdminChange,
            "110113",
            "E",
            "0",
        ),
        (
            AuditEvent::admin_read("client.list", "ops", true, None),
            AuditKind::AdminRead,
            "rest",
            "R",
            "0",
        ),
    ];
    assert_eq!(rows.len(), AuditKind::ALL.len());
    for (e, kind, type_code, action, outcome) in rows {
        let j = e.to_json();
        assert_eq!(j["resourceType"], "AuditEvent", "{kind}");
        assert_eq!(e.kind(), Some(kind));
        assert_eq!(j["type"]["code"], type_code, "{kind}");
        assert_eq!(j["action"], action, "{kind}");
        assert_eq!(j["outcome"], outcome, "{kind}");
        assert_eq!(j["agent"][0]["requestor"], true, "{kind}");
        assert_eq!(j["source"]["type"][0]["code"], "4", "{kind}");
        assert_eq!(kind.as_str().parse::<AuditKind>(), Ok(kind));
        // The stored JSON reads back as the same record.
        let back: AuditEvent = serde_json::from_value(j).unwrap();
        assert_eq!(back, e);
    }
    assert!("tokens"
        .parse::<AuditKind>()
        .unwrap_err()
        .contains("token_refused"));
}

/// Only the error's code and reason kind reach a record: never its description or detail.
#[test]
fn refusals_record_the_kind_only() {
    let e = refused();
    for ev in [
        AuditEvent::token_refused(None, &e),
        AuditEvent::registration_refused(&e),
    ] {
        let text = serde_json::to_string(&ev).unwrap();
        assert!(!text.contains("s3cr3t"), "{text}");
        assert_eq!(ev.outcome_desc(), Some("invalid_client (client_auth)"));
        assert_eq!(
            ev.to_json()["agent"][0]["who"]["display"],
            "unauthenticated"
        );
    }
    let internal = OAuthError::internal("db down").with_reason(Reason::Internal);
    assert_eq!(AuditEvent::token_refused(None, &internal).outcome(), "8");
    // A grant type outside the three served is not copied.
    let issued = AuditEvent::token_issued("c1", "urn:x:evil-text", None);
    assert!(!serde_json::to_string(&issued).unwrap().contains("evil"));
    assert_eq!(
        issued.to_json()["entity"][0]["detail"][0]["valueString"],
        "other"
    );
}

#[test]
fn agents_entities_and_client_index() {
    let claimed = ClientAgent {
        client_id: "c1".into(),
        authenticated: false,
    };
    let e = AuditEvent::token_refused(Some(&claimed), &refused())
        .with_address(Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let j = e.to_json();
    assert_eq!(j["agent"][0]["who"]["identifier"]["value"], "c1");
    assert_eq!(j["agent"][0]["type"]["coding"][0]["code"], "claimed");
    assert_eq!(j["agent"][0]["network"]["address"], "127.0.0.1");
    assert_eq!(e.client_id(), Some("c1"));
    // A user's event is indexed under the client it concerns.
    let c = AuditEvent::consent_given("alice", "app", Some("p1"));
    assert_eq!(
        (c.agent_id(), c.client_id(), c.patient()),
        (Some("alice"), Some("app"), Some("p1"))
    );
    let g = AuditEvent::grant_revoked("app", "g1", Some("j1"));
    assert_eq!(g.entity_id(GRANT_SYSTEM), Some("g1"));
    assert_eq!(g.entity_id(TOKEN_SYSTEM), Some("j1"));
    let a = AuditEvent::admin_change(
        "community.add",
        "ops-token",
        false,
        Some(("community", "urn:c")),
        Some("bad_anchor"),
    );
    assert_eq!(a.agent_id(), Some("ops-token"));
    assert_eq!(a.entity_id(COMMUNITY_SYSTEM), Some("urn:c"));
    assert_eq!((a.outcome(), a.outcome_desc()), ("4", Some("bad_anchor")));
    assert_eq!(a.client_id(), None);
    // An unknown username is never recorded.
    let f = AuditEvent::login_failed(None, Some("app"));
    assert_eq!(
        (f.agent_id(), f.outcome_desc()),
        (None, Some("unknown_user"))
    );
}

#[test]
fn stamps_are_unique_sortable_and_pinned() {
    let a = AuditEvent::consent_denied("u", "c").stamped_at(T0);
    let b = AuditEvent::consent_denied("u", "c").stamped_at(T0);
    let c = AuditEvent::consent_denied("u", "c").stamped_at(T0 + 1);
    assert_ne!(a.id(), b.id());
    assert!(
        a.id() < b.id() && b.id() < c.id(),
        "{} {} {}",
        a.id(),
        b.id(),
        c.id()
    );
    assert_eq!(a.recorded(), "2023-11-14T22:13:20.000Z");
    assert_eq!(c.recorded_ms(), T0 + 1);
    assert!(
        a.id().len() <= 64
            && a.id()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    );
}

fn events(n: usize, at: i64) -> Vec<AuditEvent> {
    (0..n)
        .map(|i| {
            AuditEvent::token_issued(&format!("c{}", i % 3), "client_credentials", None)
                .stamped_at(at + i as i64)
        })
        .collect()
}

#[test]
fn the_writer_commits_everything_and_flushes_on_drop() {
    let (_dir, store) = open_temp();
    let log = AuditLog::start(store.clone(), "https://as.example/fhir");
    for _ in 0..1200 {
        log.record(AuditEvent::token_issued("c1", "client_credentials", None));
    }
    assert!(log.flush());
    let c = log.counters();
    assert_eq!((c.committed, c.dropped), (1200, 0));
    // Batched: more than one event per commit.
    assert!(c.batches < 1200, "{c:?}");
    let all = query(&store, &AuditQuery::default()).unwrap();
    assert_eq!(all.len(), 1200);
    assert!(all.windows(2).all(|w| w[0].id() < w[1].id()));
    assert_eq!(
        all[0].to_json()["source"]["observer"]["identifier"]["value"],
        "https://as.example/fhir"
    );
    // What is queued at drop is committed.
    for _ in 0..50 {
        log.record(AuditEvent::consent_denied("u", "c1"));
    }
    drop(log);
    let q = AuditQuery {
        kind: Some(AuditKind::ConsentDenied),
        ..Default::default()
    };
    assert_eq!(query(&store, &q).unwrap().len(), 50);
}

#[test]
fn disabled_records_nothing() {
    let (_dir, store) = open_temp();
    let log = AuditLog::disabled();
    log.record(AuditEvent::consent_denied("u", "c"));
    assert!(log.flush() && !log.is_enabled());
    drop(log);
    assert!(query(&store, &AuditQuery::default()).unwrap().is_empty());
}

#[test]
fn record_now_and_paged_ndjson_export() {
    let (_dir, store) = open_temp();
    store.audit().append_batch(&events(7, T0)).unwrap();
    record_now(
        &store,
        &AuditEvent::admin_change("client.add", "ops", true, Some(("client", "c9")), None),
    )
    .unwrap();
    let mut out = Vec::new();
    let q = AuditQuery {
        since: Some(T0 / 1000),
        ..Default::default()
    };
    assert_eq!(export_paged(&store, &q, &mut out, 3).unwrap(), 8);
    let lines: Vec<Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 8);
    assert!(lines
        .windows(2)
        .all(|w| w[0]["id"].as_str() < w[1]["id"].as_str()));
    assert_eq!(lines[7]["subtype"][0]["code"], "admin_change");
    // A limit across pages, newest first.
    let mut out = Vec::new();
    let q = AuditQuery {
        limit: Some(5),
        newest_first: true,
        ..Default::default()
    };
    assert_eq!(export_paged(&store, &q, &mut out, 2).unwrap(), 5);
    let first: Value =
        serde_json::from_str(String::from_utf8(out).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(first["subtype"][0]["code"], "admin_change");
}

#[test]
fn claimed_client_names_only_registered_clients() {
    let (_dir, store) = open_temp();
    store
        .clients()
        .put(&ClientRecord::admin(
            "known",
            "Known",
            "client_secret_basic",
            &["client_credentials"],
            "system/*.rs",
            1,
        ))
        .unwrap();
    let basic = |id: &str| Credentials {
        basic: Some((id.into(), "pw".into())),
        ..Default::default()
    };
    assert_eq!(
        claimed_client(&store, &basic("known")),
        Some(ClientAgent {
            client_id: "known".into(),
            authenticated: false
        })
    );
    assert_eq!(
        claimed_client(&store, &basic("my-password-typed-here")),
        None
    );
    let form = Credentials {
        client_id: Some("known".into()),
        ..Default::default()
    };
    assert!(claimed_client(&store, &form).is_some());
    assert_eq!(claimed_client(&store, &Credentials::default()), None);
}
