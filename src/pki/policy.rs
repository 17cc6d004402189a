//! The per-community revocation policy (UDAP-48).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What to do when a certificate's revocation status cannot be determined (UDAP-48: "choose
/// fail-closed or fail-open per community"). Written `fail-closed` / `fail-open` in configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevocationPolicy {
    /// Reject the chain (`ChainError::RevocationUnknown`). The default, as in udap-dotnet, whose
    /// default problem flags include OfflineRevocation and RevocationStatusUnknown.
    #[default]
    FailClosed,
    /// Accept the chain and log a warning. Use only for communities without reachable CRLs.
    FailOpen,
}

impl RevocationPolicy {
    /// The configuration spelling (`fail-closed` or `fail-open`).
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationPolicy::FailClosed => "fail-closed",
            RevocationPolicy::FailOpen => "fail-open",
        }
    }
}

impl fmt::Display for RevocationPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value given was neither `fail-closed` nor `fail-open`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown revocation policy `{0}` (use fail-closed or fail-open)")]
pub struct UnknownRevocationPolicy(pub String);

impl FromStr for RevocationPolicy {
    type Err = UnknownRevocationPolicy;

    /// Accepts `fail-closed`/`fail-open`, case-insensitively, also with `_` for `-`
    /// (environment variables and TOML keys are often written that way).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "fail-closed" => Ok(RevocationPolicy::FailClosed),
            "fail-open" => Ok(RevocationPolicy::FailOpen),
            _ => Err(UnknownRevocationPolicy(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_displays_and_serializes() {
        assert_eq!(
            "fail-closed".parse::<RevocationPolicy>().unwrap(),
            RevocationPolicy::FailClosed
        );
        assert_eq!(
            "FAIL_OPEN".parse::<RevocationPolicy>().unwrap(),
            RevocationPolicy::FailOpen
        );
        assert!("open".parse::<RevocationPolicy>().is_err());
        assert_eq!(RevocationPolicy::default().to_string(), "fail-closed");
        assert_eq!(
            serde_json::to_string(&RevocationPolicy::FailOpen).unwrap(),
            "\"fail-open\""
        );
        assert_eq!(
            serde_json::from_str::<RevocationPolicy>("\"fail-closed\"").unwrap(),
            RevocationPolicy::FailClosed
        );
    }
}
