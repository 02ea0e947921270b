//! The binary's edge: parse arguments, set up logging, run the command ([`ucm_scraper::commands`]),
//! map its outcome to an exit status.

use std::process::ExitCode;

use clap::Parser as _;
use ucm_scraper::cli::Cli;
use ucm_scraper::commands::{self, Outcome};
use ucm_scraper::telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    match commands::run(cli).await {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failure) => ExitCode::FAILURE,
        Err(err) => {
            // `{:#}` prints the cause chain on one line: the operator's one clear line.
            eprintln!("error: {:#}", anyhow::Error::from(err));
            ExitCode::FAILURE
        }
    }
}
