//! Local users' passwords (the login step of the authorization-code flow, SMART-17/SMART-18):
//! argon2id hashes in PHC string form, verification in constant time, and a dummy verification so
//! an unknown username costs the same time as a wrong password (no user enumeration by timing).
//!
//! Parameters are OWASP's first recommended argon2id setting (m = 19 MiB, t = 2, p = 1), which are
//! also argon2's defaults. Verification reads the parameters from the stored PHC string, so hashes
//! made with older parameters keep working after these change.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;

/// Shortest password the administrator CLI accepts.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted anywhere: argon2 has no practical limit, but nobody types more, and a
/// bound keeps a hostile login form from making us hash megabytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;

const SALT_BYTES: usize = 16;

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("the password is empty")]
    Empty,
    #[error("the password is shorter than {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password is longer than {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("no randomness available for the salt")]
    Random,
    #[error("argon2 failed: {0}")]
    Hash(String),
}

/// A hash with exactly the parameters `hash_password` uses, of a password nobody knows: verifying
/// against it costs what a real verification costs. Generated once with `hash_password`; the test
/// `dummy_hash_matches_current_parameters` fails if the parameters change without it.
const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$C53eh9XKt2wsV7yoXIXQAg$U6qukStbi0gGjNVlqJkryNuS7AzSRk4kKPg68MoF0sA";

fn hasher() -> Argon2<'static> {
    // `Params::DEFAULT` is m=19456 KiB, t=2, p=1 — the OWASP Password Storage Cheat Sheet setting.
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::DEFAULT)
}

/// Checks the administrator's password rules: not empty, at least `MIN_PASSWORD_CHARS` characters,
/// at most `MAX_PASSWORD_BYTES` bytes.
pub fn check_policy(pw: &str) -> Result<(), PasswordError> {
    if pw.is_empty() {
        return Err(PasswordError::Empty);
    }
    if pw.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if pw.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

/// Hashes a new password with argon2id and a random 128-bit salt; returns the PHC string to store.
/// Applies `check_policy` first.
pub fn hash_password(pw: &str) -> Result<String, PasswordError> {
    check_policy(pw)?;
    let mut salt = [0u8; SALT_BYTES];
    openssl::rand::rand_bytes(&mut salt).map_err(|_| PasswordError::Random)?;
    hasher()
        .hash_password_with_salt(pw.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// True when `pw` matches the stored PHC string. argon2 compares the outputs in constant time; a
/// malformed stored hash or an over-long password is simply `false`.
pub fn verify_password(pw: &str, phc: &str) -> bool {
    if pw.len() > MAX_PASSWORD_BYTES {
        // Still spend the usual time, so the length check is not a timing signal.
        dummy_verify("");
        return false;
    }
    hasher().verify_password(pw.as_bytes(), phc).is_ok()
}

/// Working memory for argon2 checks, kept between checks (issue 8 item 3). Each check fills about
/// 19 MiB; allocating it afresh every time left freed blocks in the allocator's per-thread arenas
/// (a login flood grew the server by ~19 MiB per blocking thread that ever hashed). The login
/// throttle owns one of these per hashing slot, so the memory for password checks is bounded by
/// the number of slots.
#[derive(Default)]
pub struct HashMemory {
    blocks: Vec<Block>,
}

impl std::fmt::Debug for HashMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HashMemory({} KiB)", self.blocks.len())
    }
}

/// Largest working memory kept between checks (64 MiB); a stored hash asking for more gets a
/// temporary buffer.
const MAX_KEPT_BLOCKS: usize = 64 * 1024;

impl HashMemory {
    pub fn new() -> Self {
        HashMemory::default()
    }

    /// KiB currently held.
    pub fn kib(&self) -> usize {
        self.blocks.len()
    }
}

/// `verify_password` with caller-provided working memory (the same answers).
pub fn verify_password_in(pw: &str, phc: &str, memory: &mut HashMemory) -> bool {
    if pw.len() > MAX_PASSWORD_BYTES {
        dummy_verify_in("", memory);
        return false;
    }
    check_phc(pw.as_bytes(), phc, memory).unwrap_or(false)
}

/// `dummy_verify` with caller-provided working memory.
pub fn dummy_verify_in(pw: &str, memory: &mut HashMemory) {
    let pw = if pw.len() > MAX_PASSWORD_BYTES {
        ""
    } else {
        pw
    };
    let _ = check_phc(pw.as_bytes(), DUMMY_PHC, memory);
}

/// Recomputes the PHC string's hash for `pw` with its own algorithm, version and parameters, in
/// `memory`, and compares the outputs in constant time. `None` for a malformed hash.
fn check_phc(pw: &[u8], phc: &str, memory: &mut HashMemory) -> Option<bool> {
    let hash = PasswordHash::new(phc).ok()?;
    let algorithm = Algorithm::try_from(hash.algorithm.as_str()).ok()?;
    let version = match hash.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(&hash).ok()?;
    let (salt, expected) = (hash.salt.as_ref()?, hash.hash.as_ref()?);
    let needed = params.block_count();
    let mut temporary = Vec::new();
    let blocks: &mut [Block] = if needed <= MAX_KEPT_BLOCKS {
        if memory.blocks.len() < needed {
            memory.blocks.resize(needed, Block::default());
        }
        &mut memory.blocks[..needed]
    } else {
        temporary.resize(needed, Block::default());
        &mut temporary
    };
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(pw, salt, &mut out, blocks)
        .ok()?;
    Some(bool::from(out.as_slice().ct_eq(expected.as_bytes())))
}

/// Spends the time of one verification for a username that does not exist, so the response time
/// does not tell an attacker which usernames are real. Call it where `verify_password` would have
/// been called, and treat the outcome as a failed login.
pub fn dummy_verify(pw: &str) {
    let pw = if pw.len() > MAX_PASSWORD_BYTES {
        ""
    } else {
        pw
    };
    let _ = hasher().verify_password(pw.as_bytes(), DUMMY_PHC);
}

/// Issue 10: the admin API receives password hashes, never passwords (the CLI hashes on the
/// administrator's machine). True when `phc` is an argon2id PHC string this server can verify.
pub fn is_storable_hash(phc: &str) -> bool {
    phc.len() <= 512
        && argon2::PasswordHash::new(phc).is_ok_and(|h| h.algorithm.as_str() == "argon2id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_password() {
        let phc = hash_password("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("correct horse battery", &phc));
        assert!(!verify_password("correct horse batterx", &phc));
        assert!(!verify_password("", &phc));
        assert!(!verify_password(
            "correct horse battery",
            "not a phc string"
        ));
        // A fresh salt every time.
        assert_ne!(phc, hash_password("correct horse battery").unwrap());
    }

    #[test]
    fn policy() {
        assert_eq!(hash_password(""), Err(PasswordError::Empty));
        assert_eq!(hash_password("1234567"), Err(PasswordError::TooShort));
        assert_eq!(
            check_policy(&"x".repeat(MAX_PASSWORD_BYTES + 1)),
            Err(PasswordError::TooLong)
        );
        // Characters, not bytes: eight non-ASCII characters are enough.
        assert_eq!(check_policy("éééééééé"), Ok(()));
        assert!(!verify_password(
            &"x".repeat(MAX_PASSWORD_BYTES + 1),
            DUMMY_PHC
        ));
    }

    #[test]
    fn dummy_hash_matches_current_parameters() {
        let fresh = hash_password("some password").unwrap();
        let params = |s: &str| s.split('$').take(4).collect::<Vec<_>>().join("$");
        assert_eq!(params(DUMMY_PHC), params(&fresh));
        // It parses, so dummy_verify really runs argon2 instead of failing fast.
        assert!(argon2::password_hash::phc::PasswordHash::new(DUMMY_PHC).is_ok());
        assert_eq!(
            hasher().verify_password(b"anything", DUMMY_PHC),
            Err(argon2::password_hash::Error::PasswordInvalid)
        );
        dummy_verify("anything");
    }

    #[test]
    fn checks_in_kept_memory_agree_with_the_library() {
        let phc = hash_password("correct horse battery").unwrap();
        let mut memory = HashMemory::new();
        let table: &[(&str, &str, bool)] = &[
            ("correct horse battery", &phc, true),
            ("correct horse batterx", &phc, false),
            ("", &phc, false),
            ("correct horse battery", "not a phc string", false),
            ("anything", DUMMY_PHC, false),
        ];
        for _ in 0..2 {
            for &(pw, hash, expected) in table {
                assert_eq!(
                    verify_password_in(pw, hash, &mut memory),
                    expected,
                    "{pw:?}"
                );
                assert_eq!(verify_password(pw, hash), expected, "{pw:?}");
            }
        }
        assert!(!verify_password_in(
            &"x".repeat(MAX_PASSWORD_BYTES + 1),
            &phc,
            &mut memory
        ));
        // One buffer of m = 19456 KiB, reused.
        assert_eq!(memory.kib(), 19456);
        // Older parameters still verify (m = 8 MiB, t = 3).
        let old = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 3, 1, None).unwrap(),
        )
        .hash_password_with_salt(b"old password", b"0123456789abcdef")
        .unwrap()
        .to_string();
        assert!(verify_password_in("old password", &old, &mut memory));
        assert!(!verify_password_in("old passwork", &old, &mut memory));
    }
}
