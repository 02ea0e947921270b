//! `ucm-scraper dashboard` (the operators' dashboard alone) and `ucm-scraper operator add |
//! remove` (its accounts).

use std::net::SocketAddr;

use super::{database, CommandError, Outcome, Schema};
use crate::cli::OperatorCommand;
use crate::config::Settings;
use crate::console::Window;
use crate::dashboard::operators::{self, Added, OperatorError};
use crate::dashboard::ServeError;
use crate::scheduler;

/// Where `ucm-scraper dashboard` listens when DASHBOARD_ADDR is not set: this machine only.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";

#[derive(Debug, thiserror::Error)]
pub enum DashboardCommandError {
    #[error(transparent)]
    Operator(#[from] OperatorError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("reading the password from stdin failed: {0}")]
    ReadPassword(std::io::Error),
    #[error("no operator named {0:?}: nothing removed")]
    NoSuchOperator(String),
}

/// `operator add NAME --password-stdin` / `operator remove NAME`. Writes: migrates first.
pub(super) async fn operator(command: OperatorCommand) -> Result<Outcome, CommandError> {
    let pool = database(&Settings::from_env()?, Schema::Migrate).await?;
    let done = match command {
        OperatorCommand::Add { name, .. } => {
            let password =
                super::first_line_of_stdin().map_err(DashboardCommandError::ReadPassword)?;
            match operators::add(&pool, &name, &password)
                .await
                .map_err(DashboardCommandError::from)?
            {
                Added::New => format!("Operator {name} added"),
                Added::PasswordChanged => {
                    format!("Operator {name}: password changed, sessions ended")
                }
            }
        }
        OperatorCommand::Remove { name } => match operators::remove(&pool, &name)
            .await
            .map_err(DashboardCommandError::from)?
        {
            true => format!("Operator {name} removed, sessions ended"),
            false => return Err(DashboardCommandError::NoSuchOperator(name).into()),
        },
    };
    println!("{done}");
    Ok(Outcome::Success)
}

/// `ucm-scraper dashboard`: serves until SIGTERM/SIGINT. Its actions write: migrates first.
pub(super) async fn serve_alone(window: Window) -> Result<Outcome, CommandError> {
    let settings = Settings::from_env()?;
    let pool = database(&settings, Schema::Migrate).await?;
    let shutdown = scheduler::shutdown_on_signals().map_err(CommandError::Signals)?;
    let addr = settings.dashboard.addr.unwrap_or_else(|| {
        DEFAULT_ADDR
            .parse::<SocketAddr>()
            .expect("a socket address")
    });
    crate::dashboard::serve(addr, settings, window, pool, shutdown.clone())
        .await
        .map_err(DashboardCommandError::from)?;
    shutdown.cancelled().await;
    Ok(Outcome::Success)
}
