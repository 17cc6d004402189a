//! `udap-server grant ...`: what users have allowed apps, and revoking it (HTI1-4: a patient's
//! revocation takes effect at once: access tokens introspect inactive, refresh tokens stop working).

use clap::Subcommand;

use crate::admin::grant::GrantOp;
use crate::admin::AdminOp;

#[derive(Debug, Subcommand)]
pub enum GrantCommand {
    /// List a user's grants (optionally for one client).
    List {
        username: String,
        #[arg(long)]
        client: Option<String>,
    },
    /// Revoke every grant a user gave a client.
    #[command(after_help = "Example:\n  udap-server grant revoke alice --client 9cK2...")]
    Revoke {
        username: String,
        #[arg(long)]
        client: String,
    },
}

pub fn run(cmd: GrantCommand, target: &super::StoreTarget, json_out: bool) -> anyhow::Result<()> {
    let op = match cmd {
        GrantCommand::List { username, client } => GrantOp::List { username, client },
        GrantCommand::Revoke { username, client } => GrantOp::Revoke { username, client },
    };
    super::run_op(AdminOp::Grant(op), target, json_out, None)
}
