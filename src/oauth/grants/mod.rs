//! One file per grant type, each a short checklist citing its rules (design habit 6).

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;

/// Policy shared by every grant.
#[derive(Debug, Clone, Default)]
pub struct GrantPolicy {
    /// HTI1-2: from this unix time on, clients without intended users and purposes get no tokens.
    pub intended_use_enforced_from: Option<i64>,
}
