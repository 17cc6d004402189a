//! The server's token-signing key: generated with openssl on first start, kept in the store so the
//! published `kid` survives restarts, and turned into the `TokenIssuer`.

use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;

use crate::config::Settings;
use crate::oauth::tokens::TokenIssuer;
use crate::store::{Store, StoreError};

fn generate(alg: &str) -> Result<String, StoreError> {
    let key = match alg {
        "ES256" => EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).and_then(|g| EcKey::generate(&g)).and_then(PKey::from_ec_key),
        _ => Rsa::generate(2048).and_then(PKey::from_rsa),
    };
    key.and_then(|k| k.private_key_to_pem_pkcs8())
        .map_err(|e| StoreError::Io { path: "token signing key generation".into(), source: std::io::Error::other(e) })
        .and_then(|pem| String::from_utf8(pem).map_err(|e| StoreError::Io { path: "token signing key".into(), source: std::io::Error::other(e) }))
}

fn signer(store: &Store, alg: &str, now: i64) -> anyhow::Result<crate::jose::Signer> {
    let name = format!("token-{}", alg.to_ascii_lowercase());
    let key = store.server_keys().get_or_create(&name, now, || generate(alg))?;
    Ok(crate::jose::Signer::from_pem(&key.key_pem, None)?)
}

/// The token issuer for these settings, creating its keys on first use: the access-token key of
/// the configured algorithm, and an RS256 key for id_tokens (SMART-28).
pub fn token_issuer(store: &Store, settings: &Settings, now: i64) -> anyhow::Result<TokenIssuer> {
    let access = signer(store, &settings.token_signing_alg, now)?;
    let id = signer(store, "RS256", now)?;
    let lifetime = i64::try_from(settings.access_token_lifetime_secs).unwrap_or(300);
    Ok(TokenIssuer::new(access, id, &settings.base_url, &settings.base_url, lifetime)?)
}
