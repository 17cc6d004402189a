//! The server's signing keys (issue 10 item 4): a key ring in the store, one active key per
//! purpose (access tokens, id_tokens), previous keys that still verify and are published until
//! retired, retired keys kept for the record. Keys are generated with openssl, kept in the store
//! (sealed with the KEK when one is configured) so a `kid` survives restarts and every instance on
//! a shared database signs with the same keys, and turned into the `TokenIssuer`.
//!
//! `list_keys`, `rotate` and `retire` are the administrator's operations; `token_issuer` applies
//! the start-up rule; `TokenIssuer::reload` (and `KeyPoller`, every `KEY_POLL_INTERVAL`) serves a
//! changed ring without a restart.

mod poller;
mod ring;
#[cfg(test)]
mod tests;

use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;

use crate::config::Settings;
use crate::jose::{Signer, CLOCK_SKEW};
use crate::kek::{self, Kek, KekError, KEK_ENV, KEK_FILE_ENV};
use crate::oauth::tokens::{KeySet, LiveKeys, TokenIssuer};
use crate::store::{KeyEntry, RingChange, RingSnapshot, ServerKey, Store, StoreError};

pub use crate::store::{KeyPurpose, KeyState, UnknownPurpose};
pub use poller::{KeyPoller, KEY_POLL_INTERVAL};
pub use ring::{adopt_legacy, retirable_at, KeyInfo, LegacyKey, MAX_TOKEN_LIFETIME, RETIRE_AFTER};

/// Why a key operation was refused or failed; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no server key has kid `{kid}`; `udap-server keys list` shows the kids")]
    UnknownKid { kid: String },
    #[error(
        "key `{kid}` is the active {purpose} key and signs new tokens, so it cannot be retired; \
         rotate the {purpose} key first (`udap-server keys rotate`), then retire `{kid}` once \
         the tokens it signed have expired"
    )]
    ActiveKey { kid: String, purpose: KeyPurpose },
    #[error(
        "key `{kid}` cannot be retired before {}: {purpose} tokens it signed until {} can be \
         valid until then (tokens live at most {MAX_TOKEN_LIFETIME} s, plus {CLOCK_SKEW} s of \
         clock skew); retire it at or after that time",
        rfc3339(*retirable_at),
        rfc3339(*superseded_at)
    )]
    TooEarly {
        kid: String,
        purpose: KeyPurpose,
        superseded_at: i64,
        retirable_at: i64,
    },
    #[error(
        "id_token keys are always RS256 (SMART App Launch: id_tokens are signed with RS256); \
         `{alg}` can only be chosen for the access-token key"
    )]
    IdTokenAlg { alg: String },
    #[error("`{alg}` is not an algorithm for server keys; use RS256 or ES256")]
    UnsupportedAlg { alg: String },
    #[error(
        "the key ring has no active {purpose} key; starting the server (`udap-server serve`) \
         creates one"
    )]
    NoActiveKey { purpose: KeyPurpose },
    #[error(
        "the server keys are sealed with a key-encryption key, but none is configured here; set \
         {KEK_ENV} or {KEK_FILE_ENV} to the key the server uses, so the new key is sealed too"
    )]
    KekRequired,
    #[error("the server key `{name}` cannot be opened: {source}")]
    Sealed {
        name: String,
        #[source]
        source: KekError,
    },
    #[error(
        "the server key `{name}` is not usable ({detail}); restore the `server_keys` table from a \
         backup"
    )]
    BadKey { name: String, detail: String },
    #[error("a new signing key could not be generated: {0}")]
    Generate(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Unix seconds as RFC 3339 UTC (`2024-05-01T12:00:00Z`), for messages.
fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| t.to_string())
}

/// The record name a key is sealed under (associated data, see `kek`).
fn seal_context(name: &str) -> String {
    format!("server_keys/{name}")
}

fn generate(alg: &str) -> Result<String, KeyError> {
    let key = match alg {
        "ES256" => EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)
            .and_then(|g| EcKey::generate(&g))
            .and_then(PKey::from_ec_key),
        _ => Rsa::generate(2048).and_then(PKey::from_rsa),
    };
    let pem = key
        .and_then(|k| k.private_key_to_pem_pkcs8())
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    String::from_utf8(pem).map_err(|e| KeyError::Generate(e.to_string()))
}

/// A fresh key of `alg`: its record name (from `name_for(kid)`), the record (sealed when `kek`
/// is set) and its `kid`.
fn new_key(
    kek: Option<&Kek>,
    alg: &str,
    now: i64,
    name_for: impl FnOnce(&str) -> String,
) -> Result<(String, ServerKey, String), KeyError> {
    let pem = generate(alg)?;
    let kid = Signer::from_pem(&pem, None)
        .map_err(|e| KeyError::Generate(e.to_string()))?
        .kid()
        .to_string();
    let name = name_for(&kid);
    let key_pem = kek::seal_if_configured(kek, &seal_context(&name), &pem).map_err(|source| {
        KeyError::Sealed {
            name: name.clone(),
            source,
        }
    })?;
    let key = ServerKey {
        key_pem,
        created_at: now,
    };
    Ok((name, key, kid))
}

fn open_signer(kek: Option<&Kek>, name: &str, key: &ServerKey) -> Result<Signer, KeyError> {
    let pem = kek::open_stored(kek, &seal_context(name), &key.key_pem).map_err(|source| {
        KeyError::Sealed {
            name: name.to_string(),
            source,
        }
    })?;
    Signer::from_pem(&pem, None).map_err(|e| KeyError::BadKey {
        name: name.to_string(),
        detail: e.to_string(),
    })
}

fn alg_of(signer: &Signer) -> String {
    format!("{:?}", signer.alg())
}

/// The records an earlier release left, read to learn their `kid`s.
fn legacy_keys(snapshot: &RingSnapshot, kek: Option<&Kek>) -> Result<Vec<LegacyKey>, KeyError> {
    ring::LEGACY_NAMES
        .iter()
        .filter_map(|name| snapshot.key(name).map(|k| (*name, k)))
        .map(|(name, key)| {
            let signer = open_signer(kek, name, key)?;
            Ok(LegacyKey {
                name: name.to_string(),
                kid: signer.kid().to_string(),
                alg: alg_of(&signer),
                created_at: key.created_at,
            })
        })
        .collect()
}

/// A new active key for `purpose`, decided inside a ring transaction.
struct Created {
    purpose: KeyPurpose,
    alg: String,
    kid: String,
    replaced: Option<(String, String)>,
}

/// The start-up rule, in one ring transaction: adopt an earlier release's keys (first start with
/// rotation); create an active key per purpose when there is none (access: the configured
/// algorithm; id_token: RS256); and when the configured access algorithm differs from the active
/// access key's, rotate to a new key of the configured algorithm, the old one staying as previous.
fn ensure_ring(
    store: &Store,
    kek: Option<&Kek>,
    configured_alg: &str,
    now: i64,
) -> Result<(), KeyError> {
    let created = store.server_keys().change_ring(|snap| {
        let mut change = RingChange::default();
        let mut entries = snap.entries.clone();
        let mut created = Vec::new();
        if entries.is_empty() {
            entries = adopt_legacy(&legacy_keys(snap, kek)?, configured_alg, now);
            change.entries.clone_from(&entries);
        }
        for (purpose, alg) in [
            (KeyPurpose::Access, configured_alg),
            (KeyPurpose::IdToken, "RS256"),
        ] {
            let active = entries
                .iter()
                .find(|e| e.purpose == purpose && e.state == KeyState::Active);
            if active.is_some_and(|a| a.alg == alg) {
                continue;
            }
            let replaced = active.map(|a| (a.kid.clone(), a.alg.clone()));
            // First keys get the names earlier releases used (a downgrade finds them); later ones
            // are named by kid.
            let taken =
                |n: &str| snap.key(n).is_some() || change.new_keys.iter().any(|(x, _)| x == n);
            let legacy = ring::legacy_name(alg);
            let legacy_free = !taken(&legacy);
            let (name, key, kid) = new_key(kek, alg, now, |kid| {
                if legacy_free {
                    legacy
                } else {
                    kid.to_string()
                }
            })?;
            let entry = KeyEntry {
                kid: kid.clone(),
                purpose,
                alg: alg.to_string(),
                key_name: name.clone(),
                created_at: now,
                state: KeyState::Active,
                superseded_at: None,
                retired_at: None,
            };
            for e in ring::rotation(&entries, entry, now) {
                ring::upsert(&mut entries, e.clone());
                ring::upsert(&mut change.entries, e);
            }
            change.new_keys.push((name, key));
            created.push(Created {
                purpose,
                alg: alg.to_string(),
                kid,
                replaced,
            });
        }
        Ok::<_, KeyError>((change, created))
    })?;
    for c in created {
        match c.replaced {
            Some((old_kid, old_alg)) => tracing::info!(
                purpose = %c.purpose, kid = %c.kid, alg = %c.alg, previous_kid = %old_kid, previous_alg = %old_alg,
                "the configured token signing algorithm differs from the active key's: rotated to a new key; the old one still verifies and is published until retired"
            ),
            None => {
                tracing::info!(purpose = %c.purpose, kid = %c.kid, alg = %c.alg, "created a server signing key")
            }
        }
    }
    Ok(())
}

/// The keys `entries` name, opened: active ones sign, previous ones verify and are published,
/// retired ones are left out.
fn load_key_set(
    store: &Store,
    kek: Option<&Kek>,
    entries: Vec<KeyEntry>,
) -> Result<KeySet, KeyError> {
    let (mut access, mut id_token, mut previous) = (None, None, Vec::new());
    for e in entries.iter().filter(|e| e.state != KeyState::Retired) {
        let record = store
            .server_keys()
            .get(&e.key_name)?
            .ok_or_else(|| KeyError::BadKey {
                name: e.key_name.clone(),
                detail: "the key ring names it, but it is missing".into(),
            })?;
        let signer = open_signer(kek, &e.key_name, &record)?;
        if signer.kid() != e.kid || alg_of(&signer) != e.alg {
            return Err(KeyError::BadKey {
                name: e.key_name.clone(),
                detail: format!("it is not the {} key `{}` the key ring names", e.alg, e.kid),
            });
        }
        match (e.purpose, e.state) {
            (KeyPurpose::Access, KeyState::Active) => access = Some(signer),
            (KeyPurpose::IdToken, KeyState::Active) => id_token = Some(signer),
            (purpose, _) => previous.push((purpose, signer)),
        }
    }
    let access = access.ok_or(KeyError::NoActiveKey {
        purpose: KeyPurpose::Access,
    })?;
    let id_token = id_token.ok_or(KeyError::NoActiveKey {
        purpose: KeyPurpose::IdToken,
    })?;
    KeySet::new(access, id_token, previous, entries).map_err(|e| KeyError::BadKey {
        name: "server key ring".into(),
        detail: e.to_string(),
    })
}

/// The token issuer for these settings, applying the start-up rule first:
///
/// - an earlier release's keys (`token-rs256`, `token-es256`) join the ring on the first start,
///   with their `kid`s (`adopt_legacy`);
/// - with no active access key, one of `settings.token_signing_alg` is created; with no active
///   id_token key, an RS256 one (SMART-28);
/// - when `token_signing_alg` differs from the active access key's algorithm, a new key of the
///   configured algorithm becomes active and the old one previous (its tokens still verify).
///   So `keys rotate --alg ES256` on a server configured for RS256 lasts until the next restart,
///   which rotates back to RS256: change the configuration too. Instances sharing a database
///   must be configured with the same algorithm, or each start rotates.
pub fn token_issuer(
    store: &Store,
    settings: &Settings,
    kek: Option<&Kek>,
    now: i64,
) -> anyhow::Result<TokenIssuer> {
    ensure_ring(store, kek, &settings.token_signing_alg, now)?;
    let keys = load_key_set(store, kek, store.server_keys().ring()?)?;
    let lifetime = i64::try_from(settings.access_token_lifetime_secs).unwrap_or(300);
    Ok(TokenIssuer::with_keys(
        keys,
        &settings.base_url,
        &settings.base_url,
        lifetime,
    ))
}

/// `TokenIssuer::reload`: serves the ring in `store` if it differs from what `live` serves.
pub(crate) fn reload(
    live: &LiveKeys,
    store: &Store,
    kek: Option<&Kek>,
    now: i64,
) -> anyhow::Result<bool> {
    let changed = live.reload_with(|current| {
        let entries = store.server_keys().ring()?;
        if entries == current.entries() {
            return Ok::<_, KeyError>(None);
        }
        load_key_set(store, kek, entries).map(Some)
    })?;
    if changed {
        let keys = live.current();
        tracing::info!(
            at = now,
            access_kid = keys.active_kid(KeyPurpose::Access),
            id_token_kid = keys.active_kid(KeyPurpose::IdToken),
            "the server key ring changed in the store; now signing and publishing the new set"
        );
    }
    Ok(changed)
}

/// `keys list`: every key in the ring, active first, then previous, then retired, per purpose;
/// never a private key.
pub fn list_keys(store: &Store, now: i64) -> anyhow::Result<Vec<KeyInfo>> {
    let mut entries = store.server_keys().ring()?;
    entries.sort_by(|a, b| {
        (a.purpose, a.state, -a.created_at, &a.kid).cmp(&(
            b.purpose,
            b.state,
            -b.created_at,
            &b.kid,
        ))
    });
    Ok(entries
        .iter()
        .map(|e| KeyInfo::from_entry(e, now))
        .collect())
}

/// `keys rotate`: a new key of `alg` (None: the active key's algorithm) becomes the active key
/// for `purpose` and the active one becomes previous, in one store transaction. Running servers
/// sign with it after their next reload. id_token keys are RS256 only.
///
/// The new key is sealed like the key it replaces: refused without a KEK when that one is sealed,
/// and with a KEK that cannot open it.
pub fn rotate(
    store: &Store,
    kek: Option<&Kek>,
    purpose: KeyPurpose,
    alg: Option<&str>,
    now: i64,
) -> Result<KeyInfo, KeyError> {
    let ring = store.server_keys().ring()?;
    let active = ring
        .iter()
        .find(|e| e.purpose == purpose && e.state == KeyState::Active)
        .ok_or(KeyError::NoActiveKey { purpose })?;
    let alg = ring::rotation_alg(purpose, alg, &active.alg)?;
    let current = store
        .server_keys()
        .get(&active.key_name)?
        .ok_or_else(|| KeyError::BadKey {
            name: active.key_name.clone(),
            detail: "the key ring names it, but it is missing".into(),
        })?;
    match kek {
        None if kek::is_sealed(&current.key_pem) => return Err(KeyError::KekRequired),
        None => {}
        Some(_) => {
            open_signer(kek, &active.key_name, &current)?;
        }
    }
    // Generated before the transaction: an RSA key takes a while, and the store should not wait.
    let (name, key, kid) = new_key(kek, &alg, now, str::to_string)?;
    let entry = KeyEntry {
        kid,
        purpose,
        alg,
        key_name: name.clone(),
        created_at: now,
        state: KeyState::Active,
        superseded_at: None,
        retired_at: None,
    };
    store.server_keys().change_ring(|snap| {
        if !snap
            .entries
            .iter()
            .any(|e| e.purpose == purpose && e.state == KeyState::Active)
        {
            return Err(KeyError::NoActiveKey { purpose });
        }
        let change = RingChange {
            new_keys: vec![(name, key)],
            entries: ring::rotation(&snap.entries, entry.clone(), now),
        };
        Ok((change, ()))
    })?;
    tracing::info!(%purpose, kid = %entry.kid, alg = %entry.alg, "rotated a server signing key");
    Ok(KeyInfo::from_entry(&entry, now))
}

/// `keys retire KID`: the key stops being published and verifying; its record stays (audit).
/// Refused while it is active (rotate first) and until `RETIRE_AFTER` after it stopped signing,
/// while tokens it signed can still be valid. A key that served both purposes is retired for
/// both; the first of its entries (access before id_token) is returned. Retiring a retired key
/// changes nothing.
pub fn retire(store: &Store, kid: &str, now: i64) -> Result<KeyInfo, KeyError> {
    let info = store.server_keys().change_ring(|snap| {
        let changed = ring::retirement(&snap.entries, kid, now)?;
        let mut after = snap.entries.clone();
        for e in &changed {
            ring::upsert(&mut after, e.clone());
        }
        let info = after
            .iter()
            .find(|e| e.kid == kid)
            .map(|e| KeyInfo::from_entry(e, now))
            .ok_or_else(|| KeyError::UnknownKid {
                kid: kid.to_string(),
            })?;
        let change = RingChange {
            new_keys: Vec::new(),
            entries: changed,
        };
        Ok::<_, KeyError>((change, info))
    })?;
    tracing::info!(kid, "retired a server signing key");
    Ok(info)
}
