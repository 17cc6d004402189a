//! The key ring's rules as plain functions over ring entries (issue 10 item 4): adopting the keys
//! of a release before rotation, rotating, and when a key may be retired. No store, no clock.

use serde::Serialize;

use super::KeyError;
use crate::store::{KeyEntry, KeyPurpose, KeyState};

/// Longest lifetime of any token we sign: access tokens (at most 3600 s, UDAP-53, enforced by
/// `config`) and id_tokens, which get the same lifetime.
pub const MAX_TOKEN_LIFETIME: i64 = crate::config::MAX_ACCESS_TOKEN_LIFETIME as i64;

/// How long after a key stopped signing a token it signed can still be valid somewhere: the
/// longest lifetime plus the clock skew a relying party allows.
pub const RETIRE_AFTER: i64 = MAX_TOKEN_LIFETIME + crate::jose::CLOCK_SKEW;

/// The names earlier releases gave their keys: one per algorithm.
pub const LEGACY_NAMES: [&str; 2] = ["token-rs256", "token-es256"];

/// The record name earlier releases used for a key of `alg` (`token-rs256`).
pub fn legacy_name(alg: &str) -> String {
    format!("token-{}", alg.to_ascii_lowercase())
}

/// A key as `keys list` shows it: never the private key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub purpose: KeyPurpose,
    pub alg: String,
    pub state: KeyState,
    /// Unix seconds, like every time here.
    pub created_at: i64,
    pub superseded_at: Option<i64>,
    pub retired_at: Option<i64>,
    /// When a previous key may be retired (`retire` refuses before).
    pub retirable_at: Option<i64>,
    /// Whether `retire` would accept it now.
    pub retirable: bool,
}

impl KeyInfo {
    pub fn from_entry(e: &KeyEntry, now: i64) -> KeyInfo {
        let retirable_at = retirable_at(e);
        KeyInfo {
            kid: e.kid.clone(),
            purpose: e.purpose,
            alg: e.alg.clone(),
            state: e.state,
            created_at: e.created_at,
            superseded_at: e.superseded_at,
            retired_at: e.retired_at,
            retirable_at,
            retirable: retirable_at.is_some_and(|t| now >= t),
        }
    }
}

/// When a previous entry may be retired: `RETIRE_AFTER` after it stopped signing. `None` for
/// active keys (never retirable) and retired ones.
pub fn retirable_at(e: &KeyEntry) -> Option<i64> {
    // A previous entry always has `superseded_at`; should a hand-edited one lack it, its creation
    // is the earliest it can have stopped signing.
    (e.state == KeyState::Previous).then(|| {
        e.superseded_at
            .unwrap_or(e.created_at)
            .saturating_add(RETIRE_AFTER)
    })
}

/// A record written by a release before rotation (`token-rs256` or `token-es256`), with the `kid`
/// and algorithm read from its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyKey {
    pub name: String,
    pub kid: String,
    pub alg: String,
    pub created_at: i64,
}

/// Migration, on the first start of a release with rotation: the ring entries for the keys an
/// earlier release left. The same keys keep signing, so no published `kid` changes.
///
/// - access: `token-<configured alg>` if present, else the other one (start-up then rotates to the
///   configured algorithm and keeps it as previous, so the tokens it signed still verify);
/// - when both are present, the other one signed access tokens under an earlier configuration,
///   until an unknown time: previous, superseded now (published and verifying for one more token
///   lifetime, then retirable);
/// - id_token: `token-rs256`, which earlier releases signed id_tokens with (SMART-28).
///
/// Records with other names are not adopted; an empty list adopts nothing.
pub fn adopt_legacy(legacy: &[LegacyKey], configured_alg: &str, now: i64) -> Vec<KeyEntry> {
    let by_name = |name: &str| legacy.iter().find(|k| k.name == name);
    let configured = by_name(&legacy_name(configured_alg));
    let other = LEGACY_NAMES
        .iter()
        .filter(|n| **n != legacy_name(configured_alg))
        .find_map(|n| by_name(n));
    let entry = |k: &LegacyKey, purpose, state| KeyEntry {
        kid: k.kid.clone(),
        purpose,
        alg: k.alg.clone(),
        key_name: k.name.clone(),
        created_at: k.created_at,
        state,
        superseded_at: (state == KeyState::Previous).then_some(now),
        retired_at: None,
    };
    let mut out = Vec::new();
    match (configured, other) {
        (Some(c), Some(o)) => {
            out.push(entry(c, KeyPurpose::Access, KeyState::Active));
            out.push(entry(o, KeyPurpose::Access, KeyState::Previous));
        }
        (Some(k), None) | (None, Some(k)) => {
            out.push(entry(k, KeyPurpose::Access, KeyState::Active))
        }
        (None, None) => {}
    }
    if let Some(k) = by_name("token-rs256") {
        out.push(entry(k, KeyPurpose::IdToken, KeyState::Active));
    }
    out
}

/// Rotation: `new` becomes the active key of its purpose and the active one before it becomes
/// previous, superseded `now`. Returns the entries that change.
pub fn rotation(entries: &[KeyEntry], new: KeyEntry, now: i64) -> Vec<KeyEntry> {
    let mut out: Vec<KeyEntry> = entries
        .iter()
        .filter(|e| e.purpose == new.purpose && e.state == KeyState::Active && e.kid != new.kid)
        .map(|e| KeyEntry {
            state: KeyState::Previous,
            superseded_at: Some(now),
            ..e.clone()
        })
        .collect();
    out.push(KeyEntry {
        state: KeyState::Active,
        superseded_at: None,
        retired_at: None,
        ..new
    });
    out
}

/// Retirement of the key `kid` (every purpose it serves): the entries that change, none if it is
/// already retired. Refused while it is active anywhere, or while a token it signed can still be
/// valid (`RETIRE_AFTER` after it stopped signing).
pub fn retirement(entries: &[KeyEntry], kid: &str, now: i64) -> Result<Vec<KeyEntry>, KeyError> {
    let mine: Vec<&KeyEntry> = entries.iter().filter(|e| e.kid == kid).collect();
    if mine.is_empty() {
        return Err(KeyError::UnknownKid {
            kid: kid.to_string(),
        });
    }
    if let Some(a) = mine.iter().find(|e| e.state == KeyState::Active) {
        return Err(KeyError::ActiveKey {
            kid: kid.to_string(),
            purpose: a.purpose,
        });
    }
    let pending: Vec<&KeyEntry> = mine
        .into_iter()
        .filter(|e| e.state == KeyState::Previous)
        .collect();
    if let Some((e, at)) = pending
        .iter()
        .filter_map(|e| retirable_at(e).map(|at| (e, at)))
        .max_by_key(|(_, at)| *at)
    {
        if now < at {
            return Err(KeyError::TooEarly {
                kid: kid.to_string(),
                purpose: e.purpose,
                superseded_at: e.superseded_at.unwrap_or(e.created_at),
                retirable_at: at,
            });
        }
    }
    Ok(pending
        .into_iter()
        .map(|e| KeyEntry {
            state: KeyState::Retired,
            retired_at: Some(now),
            ..e.clone()
        })
        .collect())
}

/// The algorithm a rotation uses: `requested` (RS256 or ES256, any case) or else the current
/// active key's. id_token keys are RS256 only (SMART-28).
pub fn rotation_alg(
    purpose: KeyPurpose,
    requested: Option<&str>,
    active_alg: &str,
) -> Result<String, KeyError> {
    let alg = match requested {
        None => active_alg.to_string(),
        Some(a) => {
            let upper = a.trim().to_ascii_uppercase();
            if !matches!(upper.as_str(), "RS256" | "ES256") {
                return Err(KeyError::UnsupportedAlg { alg: a.to_string() });
            }
            upper
        }
    };
    if purpose == KeyPurpose::IdToken && alg != "RS256" {
        return Err(KeyError::IdTokenAlg { alg });
    }
    Ok(alg)
}

/// Replaces the entry with the same purpose and kid, or appends `e`.
pub(super) fn upsert(list: &mut Vec<KeyEntry>, e: KeyEntry) {
    match list
        .iter_mut()
        .find(|x| x.purpose == e.purpose && x.kid == e.kid)
    {
        Some(x) => *x = e,
        None => list.push(e),
    }
}
