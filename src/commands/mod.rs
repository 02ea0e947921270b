//! What each command of the command line does ([`crate::cli`] says what it takes). The top
//! layer: a command may use every module below it, and none of them uses a command.
//!
//! The database is opened in one place, [`database`], and each command says what it needs of
//! the schema there:
//!
//! - [`Schema::Migrate`]: commands that write apply pending migrations first, as a pass would:
//!   `run`, `once`, `migrate`, `tenant add | update | enable | disable | test` and
//!   `selectors check --tenant` (a login's outcome goes into the tenant's row), and
//!   `selectors forget | accept`.
//! - [`Schema::Current`]: commands that only read never change the schema: an operator looking at
//!   a database (perhaps with a newer binary than the running worker's) must not migrate it by
//!   looking. `tenant list | unmatched`, `selectors learned` and `selectors learn` (it reads known
//!   calls; its draft goes to a file) refuse a schema that is behind and name `ucm-scraper migrate`.
//! - `doctor` reports unapplied migrations as a failed check; `selectors check` without a tenant
//!   and `transcode` open no database.

mod dashboard;
mod doctor;
mod once;
mod probe;
mod run;
mod selectors;
pub mod tenant;
mod transcode;

use sqlx::PgPool;

use crate::cli::{Cli, Command};
use crate::config::{ConfigError, Settings};
use crate::console::Window;
use crate::db::{self, DbError};
use crate::ids::TenantId;
use crate::pipeline::Worker;

/// Whether a command did what was asked; the binary makes it the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The command ran but found a failure it reported (a failed tenant, a broken selectors
    /// file, a failed check).
    Failure,
}

impl Outcome {
    fn of(passed: bool) -> Self {
        match passed {
            true => Outcome::Success,
            false => Outcome::Failure,
        }
    }
}

/// Why a command could not run to its end. Each names what was being done.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Settings(#[from] ConfigError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(
        "the database is behind this worker: {} of its migrations are not applied ({}); run \
         `ucm-scraper migrate` (run and once also apply them)",
        .0.len(),
        .0.join(", ")
    )]
    SchemaBehind(Vec<String>),
    #[error(transparent)]
    Tenant(#[from] tenant::TenantCommandError),
    #[error(transparent)]
    Dashboard(#[from] dashboard::DashboardCommandError),
    #[error(transparent)]
    Probe(#[from] crate::probe::ProbeError),
    #[error(transparent)]
    Learn(#[from] crate::learn::LearnError),
    #[error(transparent)]
    Learned(#[from] crate::learned::StoreError),
    #[error(transparent)]
    Build(#[from] crate::pipeline::BuildError),
    #[error(transparent)]
    Transcode(#[from] crate::transcode::TranscodeError),
    #[error("the conversion's task ended abnormally: {0}")]
    TranscodeTask(#[from] tokio::task::JoinError),
    #[error("listening for SIGTERM and SIGINT failed: {0}")]
    Signals(std::io::Error),
    #[error("serving /healthz and /metrics on METRICS_ADDR={addr} failed: {error}")]
    Serve {
        addr: std::net::SocketAddr,
        error: std::io::Error,
    },
}

/// What a command needs of the database's schema (see the module's doc for which is which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Schema {
    /// Apply pending migrations first: the command writes.
    Migrate,
    /// Leave the schema alone, and refuse one that is behind: the command only reads.
    Current,
}

/// Runs the command the command line asked for.
pub async fn run(cli: Cli) -> Result<Outcome, CommandError> {
    // A command-line choice, not a setting: it travels beside the settings to the browser.
    let window = match cli.headed {
        true => Window::Shown,
        false => Window::Headless,
    };
    match cli.command {
        Command::Run => run::scheduler_loop(Settings::from_env()?, window).await,
        Command::Once { tenant } => {
            once::pass(Settings::from_env()?, window, tenant.map(TenantId)).await
        }
        Command::Migrate => {
            database(&Settings::from_env()?, Schema::Migrate).await?;
            tracing::info!("Migrations applied");
            Ok(Outcome::Success)
        }
        Command::Doctor => doctor::check(window).await,
        Command::Tenant(command) => tenant::run(command, window).await,
        Command::Selectors(command) => selectors::run(command, window).await,
        Command::Dashboard => dashboard::serve_alone(window).await,
        Command::Operator(command) => dashboard::operator(command).await,
        Command::Transcode {
            input,
            output,
            bitrate,
        } => transcode::file(input, output, bitrate).await,
    }
}

/// Connects to `DATABASE_URL` and brings the schema to what the command needs.
async fn database(settings: &Settings, schema: Schema) -> Result<PgPool, CommandError> {
    sized_database(settings, schema, 2).await
}

/// The database for a pass (`run`, `once`): migrated, as a pass writes, with the connections
/// its tenants worked at once need ([`Worker::connections`]).
async fn pass_database(settings: &Settings) -> Result<PgPool, CommandError> {
    sized_database(settings, Schema::Migrate, Worker::connections(settings)).await
}

async fn sized_database(
    settings: &Settings,
    schema: Schema,
    connections: u32,
) -> Result<PgPool, CommandError> {
    let pool = db::connect(&settings.database_url, connections).await?;
    match schema {
        Schema::Migrate => db::migrate(&pool).await?,
        Schema::Current => {
            let unapplied = db::unapplied(&pool).await?;
            if !unapplied.is_empty() {
                return Err(CommandError::SchemaBehind(unapplied));
            }
        }
    }
    Ok(pool)
}

/// A password from the first line of stdin, without its line ending: never from argv.
fn first_line_of_stdin() -> std::io::Result<crate::secrets::Secret<String>> {
    use std::io::BufRead as _;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    line.truncate(line.trim_end_matches(['\r', '\n']).len());
    Ok(crate::secrets::Secret::new(line))
}
