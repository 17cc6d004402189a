//! Local users who log in at the authorization endpoint (SMART-17/SMART-18): add, list, remove,
//! set a new password. Ops carry an argon2id hash made on the administrator's machine, never the
//! password itself.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::oauth::launch::is_fhir_id;
use crate::oauth::password::is_storable_hash;
use crate::store::UserRecord;

use super::{AdminContext, AdminError, Output, Secret};

const MAX_USERNAME_CHARS: usize = 128;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum UserOp {
    Add {
        username: String,
        password_hash: Secret,
        fhir_user: Option<String>,
        patients: Vec<String>,
    },
    List,
    Remove {
        username: String,
    },
    SetPassword {
        username: String,
        password_hash: Secret,
    },
}

impl UserOp {
    pub fn command(&self) -> &'static str {
        match self {
            UserOp::Add { .. } => "add",
            UserOp::List => "list",
            UserOp::Remove { .. } => "remove",
            UserOp::SetPassword { .. } => "set-password",
        }
    }

    pub fn is_change(&self) -> bool {
        !matches!(self, UserOp::List)
    }

    pub fn entity(&self) -> Option<String> {
        match self {
            UserOp::List => None,
            UserOp::Add { username, .. }
            | UserOp::Remove { username }
            | UserOp::SetPassword { username, .. } => Some(username.clone()),
        }
    }
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

pub(crate) fn check_username(username: &str) -> Result<(), AdminError> {
    let chars = username.chars().count();
    if chars == 0 || chars > MAX_USERNAME_CHARS {
        return Err(AdminError::invalid(format!(
            "the username must be 1 to {MAX_USERNAME_CHARS} characters long"
        )));
    }
    if username
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(AdminError::invalid(format!(
            "the username `{}` contains spaces or control characters; choose one without",
            username.escape_debug()
        )));
    }
    Ok(())
}

pub(crate) fn check_fhir_user(value: &str) -> Result<(), AdminError> {
    const TYPES: [&str; 4] = ["Patient", "Practitioner", "RelatedPerson", "Person"];
    let relative = match url::Url::parse(value) {
        Ok(u)
            if matches!(u.scheme(), "https" | "http")
                && u.query().is_none()
                && u.fragment().is_none() =>
        {
            let mut parts = u.path().trim_end_matches('/').rsplitn(3, '/');
            let (id, ty) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            format!("{ty}/{id}")
        }
        Ok(_) => return Err(AdminError::invalid(format!("--fhir-user {value}: an absolute fhirUser must be an http(s) URL like https://fhir.example/Patient/p1"))),
        Err(_) => value.to_string(),
    };
    match relative.split_once('/') {
        Some((ty, id)) if TYPES.contains(&ty) && is_fhir_id(id) => Ok(()),
        _ => Err(AdminError::invalid(format!("--fhir-user {value} is not Patient/ID, Practitioner/ID, RelatedPerson/ID or Person/ID (or an absolute URL ending in one)"))),
    }
}

/// The username and fhirUser checks of `user add` (the CLI runs them before it reads a password).
pub(crate) fn check_new_user(username: &str, fhir_user: Option<&str>) -> Result<(), AdminError> {
    check_username(username)?;
    fhir_user.map_or(Ok(()), check_fhir_user)
}

fn check_hash(hash: &Secret) -> Result<(), AdminError> {
    if is_storable_hash(hash.expose()) {
        Ok(())
    } else {
        Err(AdminError::invalid(
            "password_hash is not an argon2id PHC string (the CLI hashes the password it reads with --password-stdin)",
        ))
    }
}

fn missing(username: &str) -> AdminError {
    AdminError::not_found(format!("no user {username}; see `udap-server user list`"))
}

pub fn execute(op: UserOp, ctx: &AdminContext<'_>) -> Result<Output, AdminError> {
    let now = ctx.now;
    match op {
        UserOp::Add {
            username,
            password_hash,
            fhir_user,
            patients,
        } => {
            check_new_user(&username, fhir_user.as_deref())?;
            if let Some(bad) = patients.iter().find(|p| !is_fhir_id(p)) {
                return Err(AdminError::invalid(format!(
                    "--patient {bad} is not a FHIR id (1-64 letters, digits, `-` or `.`)"
                )));
            }
            check_hash(&password_hash)?;
            let mut unique: Vec<String> = Vec::new();
            for p in patients {
                if !unique.contains(&p) {
                    unique.push(p);
                }
            }
            let user = UserRecord {
                username,
                password_hash: password_hash.expose().to_string(),
                fhir_user,
                patients: unique,
                created_at: now,
                updated_at: now,
            };
            if !ctx.store.users().create(&user)? {
                return Err(AdminError::conflict(format!(
                    "user {} already exists; change its password with `udap-server user set-password`, or remove it first",
                    user.username
                )));
            }
            let mut text = format!("user {} added", user.username);
            if user.patients.is_empty()
                && !user
                    .fhir_user
                    .as_deref()
                    .is_some_and(|f| f.contains("Patient/"))
            {
                text.push_str("\nnote: no --patient given; this user cannot pick a patient in a standalone launch");
            }
            Ok(Output::new(summary(&user), text))
        }
        UserOp::List => {
            let users = ctx.store.users().list()?;
            let text = if users.is_empty() {
                "no users; add one with `udap-server user add USERNAME --password-stdin`".into()
            } else {
                users.iter().map(human_line).collect::<Vec<_>>().join("\n")
            };
            Ok(Output::new(
                Value::Array(users.iter().map(summary).collect()),
                text,
            ))
        }
        UserOp::Remove { username } => {
            if !ctx.store.users().remove(&username)? {
                return Err(missing(&username));
            }
            Ok(Output::new(
                json!({"removed": username}),
                format!("user {username} removed (sessions ended)"),
            ))
        }
        UserOp::SetPassword {
            username,
            password_hash,
        } => {
            check_hash(&password_hash)?;
            if !ctx
                .store
                .users()
                .set_password_hash(&username, password_hash.expose(), now)?
            {
                return Err(missing(&username));
            }
            Ok(Output::new(
                json!({"username": username, "password_changed": true}),
                format!("password of {username} changed (sessions ended)"),
            ))
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
    fn only_argon2id_hashes_are_stored() {
        let good = crate::oauth::password::hash_password("correct horse battery").unwrap();
        assert!(check_hash(&Secret::new(good)).is_ok());
        for bad in [
            "correct horse battery",
            "",
            "$argon2i$v=19$m=16,t=2,p=1$c2FsdHNhbHQ$aGFzaA",
        ] {
            assert!(check_hash(&Secret::new(bad)).is_err(), "{bad}");
        }
    }
}
