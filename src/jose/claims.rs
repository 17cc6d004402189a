//! Registered JWT claims (RFC 7519 §4.1) and the time rules every JWT check in the server
//! shares (UDAP-4, UDAP-28, SMART-49). Time is passed in; nothing here reads the clock.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{Map, Value};

use super::error::JoseError;

/// Clock skew tolerated on `exp`, `nbf` and `iat` for every JWT the server receives
/// (udap-dotnet allows 5 s; we allow 60). Replay entries live as long as this skew extends
/// acceptance (see [`TimeRules::accepted_until`]).
pub const CLOCK_SKEW: i64 = 60;

/// Longest `jti` accepted: ours are 22 characters; 256 leaves room for UUIDs and hashes.
pub const MAX_JTI_LEN: usize = 256;
/// Longest `iss`, `sub` or `aud` entry accepted: URIs in practice stay far below this.
pub const MAX_URI_CLAIM_LEN: usize = 2048;
/// Most `aud` entries accepted.
pub const MAX_AUD_ENTRIES: usize = 16;

/// UDAP-4: the registered claims, type-checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisteredClaims {
    /// `iss`.
    pub iss: Option<String>,
    /// `sub`.
    pub sub: Option<String>,
    /// `aud`: a single string or an array of strings (RFC 7519 §4.1.3); empty when absent.
    pub aud: Vec<String>,
    /// `exp`, unix seconds.
    pub exp: Option<i64>,
    /// `iat`, unix seconds.
    pub iat: Option<i64>,
    /// `nbf`, unix seconds.
    pub nbf: Option<i64>,
    /// `jti`.
    pub jti: Option<String>,
}

/// How a fractional NumericDate is turned into whole seconds: always toward the stricter side.
#[derive(Clone, Copy)]
enum Round {
    Down,
    Up,
}

impl RegisteredClaims {
    /// UDAP-4: read the registered claims; a claim of the wrong JSON type is
    /// [`JoseError::ClaimType`]. Presence is checked by the caller (or by [`check_time`] for
    /// `exp`), since what is required differs between token kinds.
    pub fn from_claims(map: &Map<String, Value>) -> Result<Self, JoseError> {
        Ok(Self {
            iss: bounded(string(map, "iss")?, "iss", MAX_URI_CLAIM_LEN)?,
            sub: bounded(string(map, "sub")?, "sub", MAX_URI_CLAIM_LEN)?,
            aud: audience(map)?,
            // A fractional `exp` is rounded down and `iat`/`nbf` up, so rounding never extends
            // a token's validity.
            exp: numeric_date(map, "exp", Round::Down)?,
            iat: numeric_date(map, "iat", Round::Up)?,
            nbf: numeric_date(map, "nbf", Round::Up)?,
            jti: bounded(string(map, "jti")?, "jti", MAX_JTI_LEN)?,
        })
    }

    /// UDAP-4: `iss`, `exp` and `jti` must be present in every UDAP JWT.
    pub fn require_udap(&self) -> Result<(), JoseError> {
        if self.iss.is_none() {
            return Err(JoseError::ClaimMissing { name: "iss" });
        }
        if self.exp.is_none() {
            return Err(JoseError::ClaimMissing { name: "exp" });
        }
        if self.jti.is_none() {
            return Err(JoseError::ClaimMissing { name: "jti" });
        }
        Ok(())
    }
}

fn string(map: &Map<String, Value>, name: &'static str) -> Result<Option<String>, JoseError> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(JoseError::ClaimType { name }),
    }
}

/// Refuses an over-long claim (`ClaimTooLong`), so that a validly signed JWT cannot make the
/// server store or log kilobytes per request.
fn bounded(
    value: Option<String>,
    name: &'static str,
    max: usize,
) -> Result<Option<String>, JoseError> {
    match value {
        Some(v) if v.len() > max => Err(JoseError::ClaimTooLong { name, max }),
        v => Ok(v),
    }
}

fn audience(map: &Map<String, Value>) -> Result<Vec<String>, JoseError> {
    let aud = audience_values(map)?;
    if aud.len() > MAX_AUD_ENTRIES {
        return Err(JoseError::ClaimTooLong {
            name: "aud",
            max: MAX_AUD_ENTRIES,
        });
    }
    if aud.iter().any(|a| a.len() > MAX_URI_CLAIM_LEN) {
        return Err(JoseError::ClaimTooLong {
            name: "aud",
            max: MAX_URI_CLAIM_LEN,
        });
    }
    Ok(aud)
}

fn audience_values(map: &Map<String, Value>) -> Result<Vec<String>, JoseError> {
    match map.get("aud") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(JoseError::ClaimType { name: "aud" }),
        Some(_) => Err(JoseError::ClaimType { name: "aud" }),
    }
}

/// RFC 7519 §2 NumericDate: a JSON number of seconds, possibly fractional.
fn numeric_date(
    map: &Map<String, Value>,
    name: &'static str,
    round: Round,
) -> Result<Option<i64>, JoseError> {
    let Some(v) = map.get(name) else {
        return Ok(None);
    };
    let Value::Number(n) = v else {
        return Err(JoseError::ClaimType { name });
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    // A u64 beyond i64 or a float: accept only finite floats within i64 range.
    match n.as_f64() {
        Some(f) if n.is_f64() && f.is_finite() && f.abs() < 9.0e18 => {
            let r = match round {
                Round::Down => f.floor(),
                Round::Up => f.ceil(),
            };
            // In range by the guard above, so the cast is exact for whole numbers.
            Ok(Some(r as i64))
        }
        _ => Err(JoseError::ClaimType { name }),
    }
}

/// The time policy for one kind of JWT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRules {
    /// Current time, unix seconds (passed in by the handler).
    pub now: i64,
    /// Tolerated clock skew in seconds, applied to `exp`, `nbf`, `iat` and `max_exp_ahead`.
    pub skew: i64,
    /// UDAP-28: bound on `exp - iat` (e.g. 300 for authentication tokens); checked when `iat`
    /// is present (make it present with `require_iat`).
    pub max_lifetime: Option<i64>,
    /// SMART-49: bound on `exp - now` (e.g. 300 for client assertions).
    pub max_exp_ahead: Option<i64>,
    /// Whether `iat` must be present.
    pub require_iat: bool,
}

impl TimeRules {
    /// UDAP-5: the time until which [`check_time`] could still accept a JWT with this `exp`
    /// (`exp` plus the skew). A replay entry must live at least this long, or the same JWT is
    /// accepted again inside the skew window.
    pub fn accepted_until(&self, exp: i64) -> i64 {
        exp.saturating_add(self.skew)
    }
}

/// UDAP-4, UDAP-28, SMART-49: time checks, in order: `exp` present and not passed; `nbf`
/// reached; `iat` present if required and not in the future; `exp - iat` and `exp - now` bounds.
///
/// Skew widens each bound by `skew` seconds in the token's favour; arithmetic saturates so that
/// extreme claim values cannot overflow.
pub fn check_time(c: &RegisteredClaims, r: &TimeRules) -> Result<(), JoseError> {
    let exp = c.exp.ok_or(JoseError::ClaimMissing { name: "exp" })?;
    // RFC 7519 §4.1.4: the current time MUST be before `exp`.
    if r.now >= exp.saturating_add(r.skew) {
        return Err(JoseError::Expired { exp });
    }
    // RFC 7519 §4.1.5: the current time MUST be at or after `nbf`.
    if let Some(nbf) = c.nbf {
        if r.now.saturating_add(r.skew) < nbf {
            return Err(JoseError::NotYetValid { nbf });
        }
    }
    match c.iat {
        None if r.require_iat => return Err(JoseError::ClaimMissing { name: "iat" }),
        Some(iat) if iat > r.now.saturating_add(r.skew) => {
            return Err(JoseError::IatInFuture { iat })
        }
        _ => {}
    }
    if let (Some(max), Some(iat)) = (r.max_lifetime, c.iat) {
        let seconds = exp.saturating_sub(iat);
        if seconds > max {
            return Err(JoseError::LifetimeTooLong { seconds });
        }
    }
    if let Some(max) = r.max_exp_ahead {
        let seconds = exp.saturating_sub(r.now);
        if seconds > max.saturating_add(r.skew) {
            return Err(JoseError::ExpTooFar { seconds });
        }
    }
    Ok(())
}

/// UDAP-6: a fresh, unguessable `jti` (128 random bits, base64url) for every token we sign.
pub fn random_jti() -> Result<String, JoseError> {
    let mut buf = [0u8; 16];
    openssl::rand::rand_bytes(&mut buf).map_err(|e| JoseError::Sign(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Result<RegisteredClaims, JoseError> {
        RegisteredClaims::from_claims(v.as_object().unwrap())
    }

    // RFC 7519 §4.1, UDAP-4: types of registered claims.
    #[test]
    fn from_claims_table() {
        let cases: Vec<(Value, Result<RegisteredClaims, JoseError>)> = vec![
            (json!({}), Ok(RegisteredClaims::default())),
            (
                json!({"iss": "a", "sub": "b", "aud": "x", "exp": 10, "iat": 5, "nbf": 4, "jti": "j"}),
                Ok(RegisteredClaims {
                    iss: Some("a".into()),
                    sub: Some("b".into()),
                    aud: vec!["x".into()],
                    exp: Some(10),
                    iat: Some(5),
                    nbf: Some(4),
                    jti: Some("j".into()),
                }),
            ),
            (
                json!({"aud": ["x", "y"]}),
                Ok(RegisteredClaims {
                    aud: vec!["x".into(), "y".into()],
                    ..Default::default()
                }),
            ),
            (
                json!({"exp": 10.7, "iat": 5.2}),
                Ok(RegisteredClaims {
                    exp: Some(10),
                    iat: Some(6),
                    ..Default::default()
                }),
            ),
            (
                json!({"exp": "10"}),
                Err(JoseError::ClaimType { name: "exp" }),
            ),
            (
                json!({"exp": null}),
                Err(JoseError::ClaimType { name: "exp" }),
            ),
            (
                json!({"exp": 18446744073709551615u64}),
                Err(JoseError::ClaimType { name: "exp" }),
            ),
            (
                json!({"iat": true}),
                Err(JoseError::ClaimType { name: "iat" }),
            ),
            (
                json!({"nbf": [1]}),
                Err(JoseError::ClaimType { name: "nbf" }),
            ),
            (json!({"iss": 1}), Err(JoseError::ClaimType { name: "iss" })),
            (
                json!({"sub": {}}),
                Err(JoseError::ClaimType { name: "sub" }),
            ),
            (json!({"jti": 7}), Err(JoseError::ClaimType { name: "jti" })),
            (json!({"aud": 1}), Err(JoseError::ClaimType { name: "aud" })),
            (
                json!({"aud": ["x", 1]}),
                Err(JoseError::ClaimType { name: "aud" }),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(claims(input.clone()), want, "{input}");
        }
    }

    // UDAP-4
    #[test]
    fn require_udap_table() {
        let full = json!({"iss": "a", "exp": 1, "jti": "j"});
        assert_eq!(claims(full).unwrap().require_udap(), Ok(()));
        for (missing, name) in [("iss", "iss"), ("exp", "exp"), ("jti", "jti")] {
            let mut v = json!({"iss": "a", "exp": 1, "jti": "j"});
            v.as_object_mut().unwrap().remove(missing);
            assert_eq!(
                claims(v).unwrap().require_udap(),
                Err(JoseError::ClaimMissing { name })
            );
        }
    }

    // UDAP-4, UDAP-28, SMART-49: time rules.
    #[test]
    fn check_time_table() {
        const NOW: i64 = 1_700_000_000;
        let rules = TimeRules {
            now: NOW,
            skew: 30,
            max_lifetime: Some(300),
            max_exp_ahead: Some(300),
            require_iat: true,
        };
        let c = |exp: Option<i64>, iat: Option<i64>, nbf: Option<i64>| RegisteredClaims {
            exp,
            iat,
            nbf,
            ..Default::default()
        };
        let cases: Vec<(&str, RegisteredClaims, TimeRules, Result<(), JoseError>)> = vec![
            ("valid", c(Some(NOW + 60), Some(NOW), None), rules, Ok(())),
            (
                "exp within skew",
                c(Some(NOW - 29), Some(NOW - 100), None),
                rules,
                Ok(()),
            ),
            (
                "expired",
                c(Some(NOW - 30), Some(NOW - 100), None),
                rules,
                Err(JoseError::Expired { exp: NOW - 30 }),
            ),
            (
                "expired no skew",
                c(Some(NOW), Some(NOW - 10), None),
                TimeRules { skew: 0, ..rules },
                Err(JoseError::Expired { exp: NOW }),
            ),
            (
                "missing exp",
                c(None, Some(NOW), None),
                rules,
                Err(JoseError::ClaimMissing { name: "exp" }),
            ),
            (
                "nbf within skew",
                c(Some(NOW + 60), Some(NOW), Some(NOW + 30)),
                rules,
                Ok(()),
            ),
            (
                "nbf future",
                c(Some(NOW + 60), Some(NOW), Some(NOW + 31)),
                rules,
                Err(JoseError::NotYetValid { nbf: NOW + 31 }),
            ),
            (
                "iat within skew",
                c(Some(NOW + 60), Some(NOW + 30), None),
                rules,
                Ok(()),
            ),
            (
                "iat future",
                c(Some(NOW + 60), Some(NOW + 31), None),
                rules,
                Err(JoseError::IatInFuture { iat: NOW + 31 }),
            ),
            (
                "iat missing required",
                c(Some(NOW + 60), None, None),
                rules,
                Err(JoseError::ClaimMissing { name: "iat" }),
            ),
            (
                "iat missing optional",
                c(Some(NOW + 60), None, None),
                TimeRules {
                    require_iat: false,
                    ..rules
                },
                Ok(()),
            ),
            (
                "lifetime 300",
                c(Some(NOW + 200), Some(NOW - 100), None),
                rules,
                Ok(()),
            ),
            (
                "lifetime 301",
                c(Some(NOW + 201), Some(NOW - 100), None),
                rules,
                Err(JoseError::LifetimeTooLong { seconds: 301 }),
            ),
            (
                "exp ahead within skew",
                c(Some(NOW + 330), None, None),
                TimeRules {
                    require_iat: false,
                    ..rules
                },
                Ok(()),
            ),
            (
                "exp too far",
                c(Some(NOW + 331), None, None),
                TimeRules {
                    require_iat: false,
                    ..rules
                },
                Err(JoseError::ExpTooFar { seconds: 331 }),
            ),
            (
                "no bounds",
                c(Some(NOW + 86_400), Some(NOW), None),
                TimeRules {
                    max_lifetime: None,
                    max_exp_ahead: None,
                    ..rules
                },
                Ok(()),
            ),
            (
                "extreme exp",
                c(Some(i64::MAX), Some(i64::MIN), None),
                rules,
                Err(JoseError::LifetimeTooLong { seconds: i64::MAX }),
            ),
        ];
        for (name, claims, rules, want) in cases {
            assert_eq!(check_time(&claims, &rules), want, "{name}");
        }
    }

    // UDAP-4 with aud given either way, then checked by time.
    #[test]
    fn aud_string_and_array_then_time() {
        for v in [
            json!({"aud": "https://as/token", "exp": 100}),
            json!({"aud": ["https://as/token"], "exp": 100}),
        ] {
            let c = claims(v).unwrap();
            assert_eq!(c.aud, vec!["https://as/token".to_string()]);
            let r = TimeRules {
                now: 50,
                skew: 0,
                max_lifetime: None,
                max_exp_ahead: None,
                require_iat: false,
            };
            assert_eq!(check_time(&c, &r), Ok(()));
        }
    }

    // UDAP-6: jti values are fresh.
    #[test]
    fn random_jti_is_fresh() {
        let a = random_jti().unwrap();
        let b = random_jti().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 22);
    }
}
