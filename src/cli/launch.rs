//! `udap-server launch create`: an EHR launch context for testing or for EHRs without HTTP access
//! (EHRs normally call `POST {base}/launch` with the `udap-server/launch` scope).

use std::path::Path;

use clap::Subcommand;
use serde_json::json;

use crate::oauth::launch;
use crate::store::{LaunchContext, Store};

use super::emit;
use super::serve::store_path;

#[derive(Debug, Subcommand)]
pub enum LaunchCommand {
    /// Create a launch context and print its opaque `launch` value (valid 10 minutes).
    #[command(after_help = "\
Example:
  udap-server launch create --patient 123 --encounter 456
  # then open: {base}/authorize?...&launch=<value>&scope=launch%20patient/*.rs...")]
    Create {
        /// Patient id in context.
        #[arg(long)]
        patient: String,
        /// Encounter id in context.
        #[arg(long)]
        encounter: Option<String>,
    },
}

pub fn run(cmd: LaunchCommand, data_dir: &Path, json_out: bool) -> anyhow::Result<()> {
    let store = Store::open(&store_path(data_dir))?;
    let now = chrono::Utc::now().timestamp();
    match cmd {
        LaunchCommand::Create { patient, encounter } => {
            let context = LaunchContext { patient: Some(patient), encounter, ..Default::default() };
            let (id, expires_at) = launch::create(&store, context, now)?;
            emit(json_out, &json!({"launch": id, "expires_in": expires_at - now}), || format!("launch: {id}\n(valid for {} seconds)", expires_at - now))
        }
    }
}
