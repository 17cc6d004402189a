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

/// The access-token issuer for these settings, creating its key on first use.
pub fn token_issuer(store: &Store, settings: &Settings, now: i64) -> anyhow::Result<TokenIssuer> {
    let alg = settings.token_signing_alg.as_str();
    let name = format!("token-{}", alg.to_ascii_lowercase());
    let key = store.server_keys().get_or_create(&name, now, || generate(alg))?;
    let signer = crate::jose::Signer::from_pem(&key.key_pem, None)?;
    let lifetime = i64::try_from(settings.access_token_lifetime_secs).unwrap_or(300);
    Ok(TokenIssuer::new(signer, &settings.base_url, &settings.base_url, lifetime)?)
}
