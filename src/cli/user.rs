//! `udap-server user ...`: the local users who log in at the authorization endpoint
//! (authorization-code flow, SMART-17/SMART-18): add, list, remove, set a new password.
//!
//! Passwords are read from standard input only (never from the command line, where other users
//! could see them in the process list or shell history), are never printed, and are stored as
//! argon2id hashes.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context};
use clap::Subcommand;

use crate::admin::user::{check_new_user, UserOp};
use crate::admin::{AdminOp, Secret};
use crate::oauth::password::{
    check_policy, hash_password, PasswordError, MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS,
};

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

/// Reads the password and hashes it here, so the op (and the admin API) never carries it.
fn password_hash_from_stdin() -> anyhow::Result<Secret> {
    let password = read_password_from_stdin()?;
    Ok(Secret::new(
        hash_password(&password).context("cannot hash the password")?,
    ))
}

pub fn run(cmd: UserCommand, target: &super::StoreTarget, json_out: bool) -> anyhow::Result<()> {
    let op = match cmd {
        UserCommand::Add {
            username,
            password_stdin: _,
            fhir_user,
            patients,
        } => {
            // Checked before the password is read, so a typo does not cost a retyped password.
            check_new_user(&username, fhir_user.as_deref())?;
            UserOp::Add {
                password_hash: password_hash_from_stdin()?,
                username,
                fhir_user,
                patients,
            }
        }
        UserCommand::List => UserOp::List,
        UserCommand::Remove { username } => UserOp::Remove { username },
        UserCommand::SetPassword {
            username,
            password_stdin: _,
        } => UserOp::SetPassword {
            password_hash: password_hash_from_stdin()?,
            username,
        },
    };
    super::run_op(AdminOp::User(op), target, json_out, None)
}

#[cfg(test)]
mod tests {
    use super::*;

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
