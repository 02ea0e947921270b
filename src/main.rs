//! The binary's edge: parse arguments, set up logging, run one command, map the outcome to an
//! exit status. Everything else lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use ucm_scraper::cli::{Cli, Command};
use ucm_scraper::config::Settings;
use ucm_scraper::{db, telemetry, transcode};

/// Exit status of a command that is declared but not built yet.
const NOT_IMPLEMENTED: u8 = 2;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    match run(cli).await {
        Ok(code) => code,
        Err(err) => {
            // `{:#}` prints the context chain on one line: the operator's one clear line.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Migrate => {
            let settings = load_settings(cli.headed)?;
            let pool = db::connect(&settings.database_url, 2).await?;
            db::migrate(&pool).await.context("ucm-scraper migrate")?;
            tracing::info!("Migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Transcode {
            input,
            output,
            bitrate,
        } => transcode(input, output, bitrate).await,
        other => {
            eprintln!("ucm-scraper {}: not implemented yet", other.name());
            Ok(ExitCode::from(NOT_IMPLEMENTED))
        }
    }
}

/// The pipeline's convert step alone. Needs no database: the only setting it reads is
/// MP3_BITRATE_KBPS, when --bitrate is not given.
async fn transcode(
    input: PathBuf,
    output: PathBuf,
    bitrate: Option<u32>,
) -> anyhow::Result<ExitCode> {
    let bitrate = match bitrate {
        Some(kbps) => Some(kbps),
        None => bitrate_from_env()?,
    };
    let report =
        tokio::task::spawn_blocking(move || transcode::transcode_file(&input, &output, bitrate))
            .await??;
    println!("Converted to MP3: {report}");
    Ok(ExitCode::SUCCESS)
}

/// MP3_BITRATE_KBPS from the environment or `.env`, as `Settings` would read it.
fn bitrate_from_env() -> anyhow::Result<Option<u32>> {
    let value = match dotenvy::var("MP3_BITRATE_KBPS") {
        Ok(value) => value,
        Err(dotenvy::Error::EnvVar(std::env::VarError::NotPresent)) => return Ok(None),
        Err(e) => return Err(e).context("reading MP3_BITRATE_KBPS"),
    };
    value.trim().parse().map(Some).with_context(|| {
        format!("MP3_BITRATE_KBPS is {value:?}: use a whole number of kbps, such as 32")
    })
}

fn load_settings(headed: bool) -> anyhow::Result<Settings> {
    let mut settings = Settings::from_env()?;
    settings.headed = headed;
    Ok(settings)
}
