//! The server's token-signing key: generated with openssl on first start, kept in the store so the
//! published `kid` survives restarts, and turned into the `TokenIssuer`.

use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;

use anyhow::Context;

use crate::config::Settings;
use crate::kek::{self, Kek};
use crate::oauth::tokens::TokenIssuer;
use crate::store::{Store, StoreError};

fn generate(alg: &str) -> Result<String, StoreError> {
    let key = match alg {
        "ES256" => EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)
            .and_then(|g| EcKey::generate(&g))
            .and_then(PKey::from_ec_key),
        _ => Rsa::generate(2048).and_then(PKey::from_rsa),
    };
    key.and_then(|k| k.private_key_to_pem_pkcs8())
        .map_err(|e| StoreError::Io {
            path: "token signing key generation".into(),
            source: std::io::Error::other(e),
        })
        .and_then(|pem| {
            String::from_utf8(pem).map_err(|e| StoreError::Io {
                path: "token signing key".into(),
                source: std::io::Error::other(e),
            })
        })
}

fn signer(
    store: &Store,
    kek: Option<&Kek>,
    alg: &str,
    now: i64,
) -> anyhow::Result<crate::jose::Signer> {
    let name = format!("token-{}", alg.to_ascii_lowercase());
    let context = format!("server_keys/{name}");
    // Sealed before it is stored when a key-encryption key is configured (`kek`).
    let key = store.server_keys().get_or_create(&name, now, || {
        let pem = generate(alg)?;
        kek::seal_if_configured(kek, &context, &pem).map_err(|e| StoreError::Io {
            path: "token signing key sealing".into(),
            source: std::io::Error::other(e),
        })
    })?;
    let pem = kek::open_stored(kek, &context, &key.key_pem)
        .with_context(|| format!("the server key `{name}` cannot be opened"))?;
    Ok(crate::jose::Signer::from_pem(&pem, None)?)
}

/// The token issuer for these settings, creating its keys on first use: the access-token key of
/// the configured algorithm, and an RS256 key for id_tokens (SMART-28).
pub fn token_issuer(
    store: &Store,
    settings: &Settings,
    kek: Option<&Kek>,
    now: i64,
) -> anyhow::Result<TokenIssuer> {
    let access = signer(store, kek, &settings.token_signing_alg, now)?;
    let id = signer(store, kek, "RS256", now)?;
    let lifetime = i64::try_from(settings.access_token_lifetime_secs).unwrap_or(300);
    Ok(TokenIssuer::new(
        access,
        id,
        &settings.base_url,
        &settings.base_url,
        lifetime,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FileConfig, Overrides};

    #[test]
    fn server_keys_are_sealed_at_rest_when_a_kek_is_configured() {
        // Issue 9: private keys in a shared database are protected with a key-encryption key.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb")).unwrap();
        let settings = Settings::resolve(
            dir.path().to_path_buf(),
            FileConfig::default(),
            Overrides::default(),
        )
        .unwrap();
        let kek = Kek::from_base64("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").unwrap();
        let first = token_issuer(&store, &settings, Some(&kek), 0)
            .unwrap()
            .public_keys();
        let stored = store
            .server_keys()
            .get_or_create("token-rs256", 0, || panic!("created above"))
            .unwrap();
        assert!(kek::is_sealed(&stored.key_pem), "stored sealed");
        assert!(!stored.key_pem.contains("PRIVATE KEY"));
        // The same keys come back with the same KEK...
        assert_eq!(
            token_issuer(&store, &settings, Some(&kek), 0)
                .unwrap()
                .public_keys(),
            first
        );
        // ...and not without it, or with another one.
        assert!(token_issuer(&store, &settings, None, 0).is_err());
        let other = Kek::from_base64("ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=").unwrap();
        assert!(token_issuer(&store, &settings, Some(&other), 0).is_err());
    }
}
