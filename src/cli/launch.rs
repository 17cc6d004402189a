//! `udap-server launch create`: an EHR launch context for testing or for EHRs without HTTP access
//! (EHRs normally call `POST {base}/launch` with the `udap-server/launch` scope).

use clap::Subcommand;

use crate::admin::launch::LaunchOp;
use crate::admin::AdminOp;

#[derive(Debug, Subcommand)]
pub enum LaunchCommand {
    /// Create a launch context for one app and print its opaque `launch` value (single use,
    /// valid 5 minutes).
    #[command(after_help = "\
Example:
  udap-server launch create --client-id APP_CLIENT_ID --patient 123 --encounter 456
  # then open: {base}/authorize?...&launch=<value>&scope=launch%20patient/*.rs...")]
    Create {
        /// The app (client_id) the launch is for; only that app can use it.
        #[arg(long)]
        client_id: String,
        /// Patient id in context (a FHIR id: letters, digits, `-`, `.`; at most 64).
        #[arg(long)]
        patient: String,
        /// Encounter id in context (a FHIR id).
        #[arg(long)]
        encounter: Option<String>,
    },
}

pub fn run(cmd: LaunchCommand, target: &super::StoreTarget, json_out: bool) -> anyhow::Result<()> {
    let LaunchCommand::Create {
        client_id,
        patient,
        encounter,
    } = cmd;
    let op = LaunchOp::Create {
        client_id,
        patient,
        encounter,
    };
    super::run_op(AdminOp::Launch(op), target, json_out, None)
}
