use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = udap_server::cli::Cli::parse();
    match udap_server::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole cause chain on one line: what failed and why.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
