//! `udap-server admin token ...`: the admin API's bearer tokens (issue 10 item 1).

use clap::Subcommand;

use crate::admin::tokens::AdminTokenOp;
use crate::admin::AdminOp;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Admin API tokens: random, stored only as a hash, each with a name that the audit trail
    /// records for every change made with it.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once.
    #[command(after_help = "\
Example:
  udap-server admin token create ops-laptop --expires-in 86400
  UDAP_ADMIN_TOKEN=udapadm_... udap-server --server http://10.0.0.5:8081 client list")]
    Create {
        /// Who or what holds the token (unique; shown in the audit trail).
        name: String,
        /// Lifetime in seconds [default: until revoked].
        #[arg(long)]
        expires_in: Option<i64>,
    },
    /// List tokens (never the tokens themselves).
    List,
    /// Revoke a token by its id or name; requests with it are refused at once.
    Revoke {
        /// The token's id or name (see `admin token list`).
        token: String,
    },
}

pub fn run(cmd: AdminCommand, target: &super::StoreTarget, json_out: bool) -> anyhow::Result<()> {
    let AdminCommand::Token(cmd) = cmd;
    let op = match cmd {
        TokenCommand::Create { name, expires_in } => AdminTokenOp::Create { name, expires_in },
        TokenCommand::List => AdminTokenOp::List,
        TokenCommand::Revoke { token } => AdminTokenOp::Revoke { token },
    };
    super::run_op(AdminOp::AdminToken(op), target, json_out, None)
}
