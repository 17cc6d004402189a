//! What every request handler can reach: settings, store, communities, policy and metrics.

use std::time::Instant;

use crate::community::LiveCommunities;
use crate::config::Settings;
use crate::jose::AlgPolicy;
use crate::oauth::client_auth::AuthContext;
use crate::oauth::client_metadata::IntendedUseVocabulary;
use crate::oauth::grants::GrantPolicy;
use crate::oauth::jwks_cache::JwksCache;
use crate::oauth::login_throttle::LoginThrottle;
use crate::oauth::registration::RegistrationContext;
use crate::oauth::tokens::TokenIssuer;
use crate::oauth::urls::Endpoints;
use crate::store::Store;

use super::metrics::Metrics;

/// Shared, read-mostly server state (wrapped in `web::Data`).
pub struct AppState {
    pub settings: Settings,
    pub store: Store,
    /// Reloaded when the stored communities change (`cli::serve` polls).
    pub communities: std::sync::Arc<LiveCommunities>,
    /// Polls the store for community changes; dropped with the state (joins its thread).
    community_poller: Option<crate::community::CommunityPoller>,
    /// UDAP-2: the explicit algorithm allow-list applied to every JWT the server receives.
    pub alg_policy: AlgPolicy,
    pub metrics: Metrics,
    pub started_at: Instant,
    /// Absolute endpoint URLs under the base URL.
    pub endpoints: Endpoints,
    /// HTI1-2 vocabularies for intended users and purposes.
    pub vocabulary: IntendedUseVocabulary,
    /// Signs and checks access tokens.
    pub tokens: TokenIssuer,
    /// SMART clients' JWK Sets fetched from their `jwks_uri`.
    pub jwks_cache: JwksCache,
    pub grant_policy: GrantPolicy,
    /// Issue 8 item 3: the password-hashing cap and the login backoff tables.
    pub login_throttle: LoginThrottle,
    /// Issue 10 item 3: re-reads changed CRL files; dropped with the state (joins its thread).
    pub crl_file_watcher: Option<crate::community::CrlFileWatcher>,
    /// Issue 10 item 5: the audit trail (a writer thread; dropped with the state, which commits
    /// what is queued).
    pub audit: crate::audit::AuditLog,
}

impl AppState {
    pub fn new(
        settings: Settings,
        store: Store,
        communities: std::sync::Arc<LiveCommunities>,
        tokens: TokenIssuer,
    ) -> Result<Self, crate::jose::JoseError> {
        let alg_policy = AlgPolicy::from_names(&settings.allowed_algs)?;
        let endpoints = Endpoints::new(&settings.base_url);
        let vocabulary = settings.vocabulary.clone();
        let grant_policy = GrantPolicy {
            intended_use_enforced_from: settings.intended_use_enforced_from,
        };
        let jwks_cache = JwksCache::new(crate::fetch::Outbound::shared(
            settings.outbound_allow_private,
        ));
        let settings_throttle = settings.login_throttle;
        let audit = if settings.audit {
            crate::audit::AuditLog::start(store.clone(), &settings.base_url)
        } else {
            crate::audit::AuditLog::disabled()
        };
        Ok(AppState {
            audit,
            settings,
            store,
            communities,
            community_poller: None,
            alg_policy,
            metrics: Metrics::default(),
            started_at: Instant::now(),
            endpoints,
            vocabulary,
            tokens,
            jwks_cache,
            grant_policy,
            login_throttle: LoginThrottle::from_settings(&settings_throttle),
            crl_file_watcher: None,
        })
    }

    /// Keeps the community poller running for as long as this state lives.
    pub fn with_community_poller(mut self, poller: crate::community::CommunityPoller) -> Self {
        self.community_poller = Some(poller);
        self
    }

    /// Issue 10 item 3: keeps the CRL-file watcher (if any) running for as long as this state lives.
    pub fn with_crl_file_watcher(
        mut self,
        watcher: Option<crate::community::CrlFileWatcher>,
    ) -> Self {
        self.crl_file_watcher = watcher;
        self
    }

    /// Issue 8 item 4: fetch JWK Sets through `outbound`, the client the CRL fetcher uses too, so
    /// the concurrency bound covers every outbound fetch.
    pub fn with_outbound(mut self, outbound: std::sync::Arc<crate::fetch::Outbound>) -> Self {
        self.jwks_cache = JwksCache::new(outbound);
        self
    }

    /// What client authentication needs (token, introspection, revocation, launch endpoints).
    pub fn auth_context(&self) -> AuthContext<'_> {
        AuthContext {
            communities: self.communities.current(),
            policy: &self.alg_policy,
            store: &self.store,
            jwks: &self.jwks_cache,
            token_endpoint: &self.endpoints.token,
            issuer: &self.endpoints.base,
        }
    }

    /// What UDAP registration needs.
    pub fn registration_context(&self) -> RegistrationContext<'_> {
        RegistrationContext {
            communities: self.communities.current(),
            policy: &self.alg_policy,
            registration_endpoint: &self.endpoints.registration,
            store: &self.store,
            vocabulary: &self.vocabulary,
        }
    }

    /// Current time in unix seconds; the only clock read on the request path, passed down from here
    /// (design habit 1).
    pub fn now(&self) -> i64 {
        chrono::Utc::now().timestamp()
    }
}
