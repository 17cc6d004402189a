//! placeholder (pki helper writes the real file)
#[derive(Debug, clap::Subcommand)]
pub enum CaCommand { Placeholder }
pub fn run(_cmd: CaCommand, _json: bool) -> anyhow::Result<()> { Ok(()) }
