//! `udap-server keys ...`: the server's token-signing keys (issue 10 item 4).

use clap::Subcommand;

use crate::admin::keys::KeysOp;
use crate::admin::AdminOp;
use crate::server_keys::KeyPurpose;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the signing keys: active (signs new tokens), previous (still verifies and is
    /// published), retired; with when each previous key may be retired.
    List,
    /// Make new active keys. Tokens signed with the previous keys stay valid until they expire,
    /// and the JWKS keeps publishing those keys until they are retired.
    #[command(after_help = "\
Examples:
  udap-server keys rotate                     # access-token and id_token keys
  udap-server keys rotate --alg ES256 --purpose access

A running server signs with the new key at once; other instances on a shared database within a few
seconds. A restart with another --token-signing-alg rotates the access key to that algorithm.")]
    Rotate {
        /// Algorithm of the new access-token key: RS256 or ES256 [default: the current one].
        /// id_token keys are always RS256.
        #[arg(long)]
        alg: Option<String>,
        /// Rotate only the `access` or the `id_token` key [default: both].
        #[arg(long)]
        purpose: Option<KeyPurpose>,
    },
    /// Stop publishing and accepting a previous key. Refused for the active key, and until every
    /// token it signed has expired (`keys list` shows when).
    Retire {
        /// The key's kid (see `keys list`).
        kid: String,
    },
}

pub fn run(cmd: KeysCommand, target: &super::StoreTarget, json_out: bool) -> anyhow::Result<()> {
    let op = match cmd {
        KeysCommand::List => KeysOp::List,
        KeysCommand::Rotate { alg, purpose } => KeysOp::Rotate { alg, purpose },
        KeysCommand::Retire { kid } => KeysOp::Retire { kid },
    };
    super::run_op(AdminOp::Keys(op), target, json_out, None)
}
