//! The dashboard's commands: `ucm-scraper dashboard` (the dashboard alone) and
//! `ucm-scraper operator add | remove`.

use std::io::BufRead as _;
use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;

use super::operators::{self, Added, OperatorError};
use super::ServeError;
use crate::cli::OperatorCommand;
use crate::config::Settings;
use crate::console::Window;
use crate::db::{self, DbError};
use crate::secrets::Secret;

/// Where `ucm-scraper dashboard` listens when DASHBOARD_ADDR is not set: this machine only.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Operator(#[from] OperatorError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("reading the password from stdin failed: {0}")]
    ReadPassword(std::io::Error),
    #[error("no operator named {0:?}: nothing removed")]
    NoSuchOperator(String),
}

/// `operator add NAME --password-stdin` / `operator remove NAME`; returns the line to print.
pub async fn operator(
    settings: &Settings,
    command: OperatorCommand,
) -> Result<String, CommandError> {
    let pool = db::connect(&settings.database_url, 2).await?;
    db::migrate(&pool).await?;
    match command {
        OperatorCommand::Add { name, .. } => {
            let password = first_line_of_stdin()?;
            Ok(match operators::add(&pool, &name, &password).await? {
                Added::New => format!("Operator {name} added"),
                Added::PasswordChanged => {
                    format!("Operator {name}: password changed, sessions ended")
                }
            })
        }
        OperatorCommand::Remove { name } => match operators::remove(&pool, &name).await? {
            true => Ok(format!("Operator {name} removed, sessions ended")),
            false => Err(CommandError::NoSuchOperator(name)),
        },
    }
}

fn first_line_of_stdin() -> Result<Secret<String>, CommandError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(CommandError::ReadPassword)?;
    line.truncate(line.trim_end_matches(['\r', '\n']).len());
    Ok(Secret::new(line))
}

/// `ucm-scraper dashboard`: serves until `shutdown` fires.
pub async fn serve_alone(
    settings: Settings,
    window: Window,
    shutdown: CancellationToken,
) -> Result<(), CommandError> {
    let pool = db::connect(&settings.database_url, 4).await?;
    db::migrate(&pool).await?;
    let addr = settings.dashboard.addr.unwrap_or_else(|| {
        DEFAULT_ADDR
            .parse::<SocketAddr>()
            .expect("a socket address")
    });
    super::serve(addr, settings, window, pool, shutdown.clone()).await?;
    shutdown.cancelled().await;
    Ok(())
}
