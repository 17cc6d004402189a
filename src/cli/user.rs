//! `udap-server user ...`: the local users who log in at the authorization endpoint
//! (authorization-code flow, SMART-17/SMART-18): add, list, remove, set a new password.
//!
//! Passwords are read from standard input only (never from the command line, where other users
//! could see them in the process list or shell history), are never printed, and are stored as
//! argon2id hashes.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context};
use clap::Subcommand;
use serde_json::{json, Value};

use crate::oauth::password::{
    check_policy, hash_password, PasswordError, MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS,
};
use crate::store::UserRecord;

use super::emit;

/// Longest username accepted.
const MAX_USERNAME_CHARS: usize = 128;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user who can log in to authorize apps.
    ///
    /// The password is the first line of standard input (at least 8 characters); pipe it in.
    #[command(after_help = "\
Examples:
  # A patient who may act for patient p1 (standalone patient launch)
  printf '%s\\n' \"$PASSWORD\" | udap-server user add alice --password-stdin \\
      --fhir-user Patient/p1 --patient p1
  # A clinician who may pick among several patients
  udap-server user add drsmith --password-stdin --fhir-user Practitioner/123 \\
      --patient p1 --patient p2 < password.txt")]
    Add {
        /// Login name (1-128 characters, no spaces or control characters).
        username: String,
        /// Read the password from the first line of standard input (required: passwords are never
        /// taken from the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// The user's FHIR resource, returned as `fhirUser` (SMART-36): Patient/ID, Practitioner/ID,
        /// RelatedPerson/ID or Person/ID, or an absolute URL ending in one of these.
        #[arg(long)]
        fhir_user: Option<String>,
        /// A patient id the user may act for (offered in the patient picker); repeat for several.
        #[arg(long = "patient")]
        patients: Vec<String>,
    },
    /// List users: username, fhirUser and patients (never password hashes).
    List,
    /// Remove a user and end the user's browser sessions. Grants the user made are kept; revoke
    /// them with `udap-server grant revoke`.
    Remove { username: String },
    /// Replace a user's password (first line of standard input) and end the user's sessions.
    #[command(after_help = "\
Example:
  printf '%s\\n' \"$NEW_PASSWORD\" | udap-server user set-password alice --password-stdin")]
    SetPassword {
        username: String,
        /// Read the new password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

fn summary(u: &UserRecord) -> Value {
    json!({
        "username": u.username,
        "fhir_user": u.fhir_user,
        "patients": u.patients,
        "created_at": u.created_at,
        "updated_at": u.updated_at,
    })
}

fn human_line(u: &UserRecord) -> String {
    format!(
        "{}  fhirUser={}  patients={}",
        u.username,
        u.fhir_user.as_deref().unwrap_or("-"),
        if u.patients.is_empty() {
            "-".to_string()
        } else {
            u.patients.join(",")
        }
    )
}

fn check_username(username: &str) -> anyhow::Result<()> {
    let chars = username.chars().count();
    if chars == 0 || chars > MAX_USERNAME_CHARS {
        bail!("the username must be 1 to {MAX_USERNAME_CHARS} characters long");
    }
    if username
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        bail!(
            "the username `{}` contains spaces or control characters; choose one without",
            username.escape_debug()
        );
    }
    Ok(())
}

/// A FHIR logical id: 1-64 of `A-Z a-z 0-9 - .`.
fn is_fhir_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// `Type/id` for the resource types SMART allows as `fhirUser`, relative or at the end of an
/// absolute http(s) URL.
fn check_fhir_user(value: &str) -> anyhow::Result<()> {
    const TYPES: [&str; 4] = ["Patient", "Practitioner", "RelatedPerson", "Person"];
    let relative = match url::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.query().is_none() && u.fragment().is_none() => {
            let mut parts = u.path().trim_end_matches('/').rsplitn(3, '/');
            let (id, ty) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            format!("{ty}/{id}")
        }
        Ok(_) => bail!("--fhir-user {value}: an absolute fhirUser must be an http(s) URL like https://fhir.example/Patient/p1"),
        Err(_) => value.to_string(),
    };
    match relative.split_once('/') {
        Some((ty, id)) if TYPES.contains(&ty) && is_fhir_id(id) => Ok(()),
        _ => bail!("--fhir-user {value} is not Patient/ID, Practitioner/ID, RelatedPerson/ID or Person/ID (or an absolute URL ending in one)"),
    }
}

/// The first line of standard input, without its line ending. Refuses a terminal: typing there
/// would echo the password on screen.
fn read_password_from_stdin() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        bail!(
            "--password-stdin reads the password from a pipe or file, not from the terminal (it would be shown as you type); \
             e.g. `printf '%s\\n' \"$PASSWORD\" | udap-server user ...` or `udap-server user ... --password-stdin < password.txt`"
        );
    }
    first_line_password(stdin.lock())
}

/// The password on the first line of `input` (LF or CRLF ending), checked against the policy.
fn first_line_password(input: impl BufRead) -> anyhow::Result<String> {
    let mut line = String::new();
    // One byte more than allowed (plus CRLF) is enough to tell that it is too long.
    input
        .take(MAX_PASSWORD_BYTES as u64 + 3)
        .read_line(&mut line)
        .context("cannot read the password from standard input (is it valid UTF-8?)")?;
    let pw = line.strip_suffix('\n').unwrap_or(&line);
    let pw = pw.strip_suffix('\r').unwrap_or(pw);
    match check_policy(pw) {
        Ok(()) => Ok(pw.to_string()),
        Err(PasswordError::Empty) => bail!("no password on standard input; pipe it in, e.g. `printf '%s\\n' \"$PASSWORD\" | udap-server user ...`"),
        Err(PasswordError::TooShort) => bail!("the password is shorter than {MIN_PASSWORD_CHARS} characters; choose a longer one"),
        Err(PasswordError::TooLong) => bail!("the password is longer than {MAX_PASSWORD_BYTES} bytes"),
        Err(e) => Err(e.into()),
    }
}

pub fn run(cmd: UserCommand, target: &super::StoreTarget, json_out: bool) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp();
    match cmd {
        UserCommand::Add {
            username,
            password_stdin: _,
            fhir_user,
            patients,
        } => {
            check_username(&username)?;
            if let Some(f) = &fhir_user {
                check_fhir_user(f)?;
            }
            if let Some(bad) = patients.iter().find(|p| !is_fhir_id(p)) {
                bail!("--patient {bad} is not a FHIR id (1-64 letters, digits, `-` or `.`)");
            }
            let mut unique: Vec<String> = Vec::new();
            for p in patients {
                if !unique.contains(&p) {
                    unique.push(p);
                }
            }
            let password = read_password_from_stdin()?;
            let password_hash = hash_password(&password).context("cannot hash the password")?;
            let store = target.open()?;
            let user = UserRecord {
                username,
                password_hash,
                fhir_user,
                patients: unique,
                created_at: now,
                updated_at: now,
            };
            if !store.users().create(&user)? {
                bail!(
                    "user {} already exists; change its password with `udap-server user set-password`, or remove it first",
                    user.username
                );
            }
            emit(json_out, &summary(&user), || {
                let mut text = format!("user {} added", user.username);
                if user.patients.is_empty()
                    && !user
                        .fhir_user
                        .as_deref()
                        .is_some_and(|f| f.contains("Patient/"))
                {
                    text.push_str("\nnote: no --patient given; this user cannot pick a patient in a standalone launch");
                }
                text
            })
        }
        UserCommand::List => {
            let store = target.open()?;
            let users = store.users().list()?;
            emit(
                json_out,
                &Value::Array(users.iter().map(summary).collect()),
                || {
                    if users.is_empty() {
                        "no users; add one with `udap-server user add USERNAME --password-stdin`"
                            .into()
                    } else {
                        users.iter().map(human_line).collect::<Vec<_>>().join("\n")
                    }
                },
            )
        }
        UserCommand::Remove { username } => {
            let store = target.open()?;
            if !store.users().remove(&username)? {
                bail!("no user {username}; see `udap-server user list`");
            }
            emit(json_out, &json!({"removed": username}), || {
                format!("user {username} removed (sessions ended)")
            })
        }
        UserCommand::SetPassword {
            username,
            password_stdin: _,
        } => {
            let store = target.open()?;
            if store.users().get(&username)?.is_none() {
                bail!("no user {username}; see `udap-server user list`");
            }
            let password = read_password_from_stdin()?;
            let password_hash = hash_password(&password).context("cannot hash the password")?;
            if !store
                .users()
                .set_password_hash(&username, &password_hash, now)?
            {
                bail!("no user {username}; see `udap-server user list`");
            }
            emit(
                json_out,
                &json!({"username": username, "password_changed": true}),
                || format!("password of {username} changed (sessions ended)"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_checks() {
        assert!(check_username("alice").is_ok());
        assert!(check_username("").is_err());
        assert!(check_username("a b").is_err());
        assert!(check_username(&"a".repeat(129)).is_err());
        for ok in [
            "Patient/p1",
            "Practitioner/123",
            "https://fhir.example/r4/Practitioner/123",
        ] {
            assert!(check_fhir_user(ok).is_ok(), "{ok}");
        }
        for bad in [
            "Observation/1",
            "Patient/",
            "p1",
            "Patient/a b",
            "ftp://x/Patient/1",
            "https://fhir.example/Patient/1?x=1",
        ] {
            assert!(check_fhir_user(bad).is_err(), "{bad}");
        }
        assert!(is_fhir_id("p-1.2") && !is_fhir_id("") && !is_fhir_id("a/b"));
    }

    #[test]
    fn password_is_the_first_line() {
        assert_eq!(
            first_line_password(&b"correct horse battery\nsecond"[..]).unwrap(),
            "correct horse battery"
        );
        assert_eq!(
            first_line_password(&b" spaces kept \r\n"[..]).unwrap(),
            " spaces kept "
        );
        assert!(first_line_password(&b""[..]).is_err());
        assert!(first_line_password(&b"\nlater line"[..]).is_err());
        assert!(first_line_password(&b"short\n"[..]).is_err());
        assert!(first_line_password("x".repeat(MAX_PASSWORD_BYTES + 1).as_bytes()).is_err());
        assert_eq!(
            first_line_password("x".repeat(MAX_PASSWORD_BYTES).as_bytes())
                .unwrap()
                .len(),
            MAX_PASSWORD_BYTES
        );
    }
}
