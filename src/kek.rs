//! Protection of private keys at rest with a key-encryption key (KEK).
//!
//! With a shared database (PostgreSQL), the server's signing keys and the communities' signing
//! keys live in rows that database administrators and backups can read. When a KEK is configured,
//! each private key PEM is sealed with AES-256-GCM before it is stored and opened when it is read.
//! The KEK itself never enters the database: it comes from the environment or a file.
//!
//! Sealed values look like `udap-kek-v1:<kek id>:<base64url(nonce | ciphertext | tag)>`. The KEK id
//! (the first 8 bytes of SHA-256 of the KEK, hex) tells an administrator which key a value needs;
//! the record's name is bound as associated data, so a sealed value cannot be moved to another
//! record.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;

const PREFIX: &str = "udap-kek-v1:";

/// Environment variable holding the KEK (base64 of 32 random bytes).
pub const KEK_ENV: &str = "UDAP_KEY_ENCRYPTION_KEY";
/// Environment variable naming a file that holds the KEK (base64 of 32 random bytes).
pub const KEK_FILE_ENV: &str = "UDAP_KEY_ENCRYPTION_KEY_FILE";

/// Why a KEK could not be loaded or a value not opened.
#[derive(Debug, thiserror::Error)]
pub enum KekError {
    #[error("the key-encryption key must be base64 of exactly 32 bytes (generate one with `openssl rand -base64 32`)")]
    BadKey,
    #[error("cannot read the key-encryption key file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("a stored private key is sealed with key-encryption key {needed}, but the configured key is {configured}")]
    WrongKey { needed: String, configured: String },
    #[error("a stored private key is sealed, but no key-encryption key is configured (set {KEK_ENV} or {KEK_FILE_ENV})")]
    Missing,
    #[error("a sealed private key does not decrypt: it was altered, or belongs to another record")]
    Corrupt,
    #[error("sealing failed")]
    Seal,
    #[error("{0}")]
    Config(String),
}

/// A loaded key-encryption key.
pub struct Kek {
    key: LessSafeKey,
    id: String,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kek")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Kek {
    /// A KEK from its base64 text (standard or URL-safe alphabet, surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Kek, KekError> {
        let text = text.trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| KekError::BadKey)?;
        if bytes.len() != 32 {
            return Err(KekError::BadKey);
        }
        let id = hex::encode(&openssl::sha::sha256(&bytes)[..8]);
        let key =
            LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| KekError::BadKey)?);
        Ok(Kek { key, id })
    }

    /// The KEK from `UDAP_KEY_ENCRYPTION_KEY`, else from the file named by
    /// `UDAP_KEY_ENCRYPTION_KEY_FILE`, else none.
    pub fn from_env() -> Result<Option<Kek>, KekError> {
        if let Ok(v) = std::env::var(KEK_ENV) {
            return Kek::from_base64(&v).map(Some);
        }
        if let Ok(path) = std::env::var(KEK_FILE_ENV) {
            let text =
                std::fs::read_to_string(&path).map_err(|source| KekError::File { path, source })?;
            return Kek::from_base64(&text).map(Some);
        }
        Ok(None)
    }

    /// The KEK's id (hex), safe to log.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `plaintext` for the record named `context`.
    pub fn seal(&self, context: &str, plaintext: &str) -> Result<String, KekError> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| KekError::Seal)?;
        let mut buf = plaintext.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| KekError::Seal)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!(
            "{PREFIX}{}:{}",
            self.id,
            URL_SAFE_NO_PAD.encode(out)
        ))
    }

    fn open_sealed(&self, context: &str, id: &str, body: &str) -> Result<String, KekError> {
        if id != self.id {
            return Err(KekError::WrongKey {
                needed: id.to_string(),
                configured: self.id.clone(),
            });
        }
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| KekError::Corrupt)?;
        if raw.len() < NONCE_LEN {
            return Err(KekError::Corrupt);
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KekError::Corrupt)?;
        let mut buf = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| KekError::Corrupt)?;
        String::from_utf8(plain.to_vec()).map_err(|_| KekError::Corrupt)
    }
}

/// The KEK this process was configured with (environment), loaded once.
pub fn configured() -> Result<Option<&'static Kek>, KekError> {
    static KEK: std::sync::OnceLock<Result<Option<Kek>, String>> = std::sync::OnceLock::new();
    match KEK.get_or_init(|| Kek::from_env().map_err(|e| e.to_string())) {
        Ok(k) => Ok(k.as_ref()),
        Err(text) => Err(KekError::Config(text.clone())),
    }
}

/// The record name bound to a community's sealed signing key.
pub fn community_key_context(uri: &str) -> String {
    format!("communities/{uri}/signing_key")
}

/// A community's signing key PEM as it is stored: sealed when a KEK is configured.
pub fn seal_community_key(uri: &str, pem: &str) -> Result<String, KekError> {
    seal_if_configured(configured()?, &community_key_context(uri), pem)
}

/// True for a value produced by [`Kek::seal`].
pub fn is_sealed(value: &str) -> bool {
    value.starts_with(PREFIX)
}

/// Seals `plaintext` when a KEK is configured; stores it as is otherwise.
pub fn seal_if_configured(
    kek: Option<&Kek>,
    context: &str,
    plaintext: &str,
) -> Result<String, KekError> {
    match kek {
        Some(k) => k.seal(context, plaintext),
        None => Ok(plaintext.to_string()),
    }
}

/// Opens a stored value: sealed ones need the KEK that sealed them; plain ones (written before a
/// KEK was configured) are returned as they are.
pub fn open_stored(kek: Option<&Kek>, context: &str, stored: &str) -> Result<String, KekError> {
    let Some(rest) = stored.strip_prefix(PREFIX) else {
        return Ok(stored.to_string());
    };
    let (id, body) = rest.split_once(':').ok_or(KekError::Corrupt)?;
    match kek {
        Some(k) => k.open_sealed(context, id, body),
        None => Err(KekError::Missing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // "0123456789abcdef0123456789abcdef"
    const K2: &str = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=";

    #[test]
    fn seal_open_round_trip_and_every_refusal() {
        let k1 = Kek::from_base64(K1).unwrap();
        let k2 = Kek::from_base64(K2).unwrap();
        let pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        let sealed = k1.seal("server_keys/token-rs256", pem).unwrap();
        assert!(is_sealed(&sealed));
        assert!(
            !sealed.contains("PRIVATE KEY"),
            "the PEM is not readable in the row"
        );
        assert_ne!(
            sealed,
            k1.seal("server_keys/token-rs256", pem).unwrap(),
            "a fresh nonce each time"
        );
        assert_eq!(
            open_stored(Some(&k1), "server_keys/token-rs256", &sealed).unwrap(),
            pem
        );
        // Plain values written before a KEK was configured still open.
        assert_eq!(open_stored(Some(&k1), "x", pem).unwrap(), pem);
        let rows: Vec<(&str, Option<&Kek>, &str, &str)> = vec![
            ("another record", Some(&k1), "server_keys/other", &sealed),
            ("wrong key", Some(&k2), "server_keys/token-rs256", &sealed),
            ("no key", None, "server_keys/token-rs256", &sealed),
        ];
        for (name, kek, ctx, value) in rows {
            assert!(open_stored(kek, ctx, value).is_err(), "{name}");
        }
        assert!(matches!(
            open_stored(Some(&k2), "server_keys/token-rs256", &sealed),
            Err(KekError::WrongKey { .. })
        ));
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(matches!(
            open_stored(Some(&k1), "server_keys/token-rs256", &tampered),
            Err(KekError::Corrupt)
        ));
    }

    #[test]
    fn the_key_must_be_32_bytes_of_base64() {
        for bad in [
            "",
            "not base64!",
            "c2hvcnQ=",
            &STANDARD.encode([0u8; 31]),
            &STANDARD.encode([0u8; 33]),
        ] {
            assert!(
                matches!(Kek::from_base64(bad), Err(KekError::BadKey)),
                "{bad}"
            );
        }
        assert!(Kek::from_base64(&format!("  {K1}\n")).is_ok());
    }
}
