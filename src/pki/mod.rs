//! Trust communities and X.509 path validation for UDAP (UDAP-46..UDAP-52), plus a small CA for
//! test and development communities.
//!
//! - [`TrustCommunity`]: a community's anchors, intermediates, configured CRLs, revocation policy
//!   and a cache of validated chains.
//! - [`validate_chain`]: builds and checks the path from an x5c leaf to an anchor at a given time.
//! - [`CrlFetcher`]: fetches CRLs from distribution points (through [`crate::fetch`]), caches them
//!   until nextUpdate and refreshes them ahead of it (UDAP-48).
//! - [`san_uris`]: a certificate's URI SANs (UDAP-50).
//! - [`ca`]: issues certificates and CRLs with rcgen (CLI `udap-server ca`, and tests);
//!   [`testing`] builds a standard test community from it.
//!
//! OpenSSL builds and verifies the path (`X509StoreContext`); x509-parser reads the fields the
//! remaining checks need; revocation is checked per certificate on the built path because the
//! openssl crate's safe API cannot add CRLs to a store (docs: design.md, "Path validation").

pub mod ca;
mod cache;
mod certinfo;
mod checks;
mod community;
pub(crate) mod crl;
mod error;
mod fetch;
mod path;
pub(crate) mod pem;
mod policy;
mod revocation;
pub mod testing;
mod validate;

#[cfg(test)]
mod tests;

pub use cache::MAX_CACHED_CHAINS;
pub use certinfo::{san_uris, subject_string};
pub use community::TrustCommunity;
pub use error::{CaError, ChainError, PkiConfigError};
pub use fetch::{
    CrlFetcher, DEFAULT_FETCH_TIMEOUT, FAILURE_BACKOFF_SECS, MAX_CRL_BYTES, MIN_CRL_LIFETIME_SECS,
};
pub use policy::{RevocationPolicy, UnknownRevocationPolicy};
pub use validate::{validate_chain, ValidatedChain, MAX_X5C_CERTS};
