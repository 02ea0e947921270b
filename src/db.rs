//! The Postgres connection and the worker's migrations (docs/database.md).
//!
//! The migrations must apply to an empty database and to the live one the Python backend owns,
//! so every statement is additive and idempotent (`IF NOT EXISTS`), and none rewrites a row.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::secrets::Secret;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL is not a Postgres URL: {0}")]
    BadUrl(#[source] sqlx::Error),
    #[error(
        "connecting to Postgres failed (check DATABASE_URL and that the server is reachable): {0}"
    )]
    Connect(#[source] sqlx::Error),
    #[error("applying migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Opens a pool. Statements are not cached as prepared statements, because Supabase's
/// transaction pooler (port 6543) cannot keep them between transactions (docs/database.md).
pub async fn connect(url: &Secret<String>, max_connections: u32) -> Result<PgPool, DbError> {
    let options: PgConnectOptions = url.expose().parse().map_err(DbError::BadUrl)?;
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(15))
        .connect_with(options.statement_cache_capacity(0))
        .await
        .map_err(DbError::Connect)
}

/// Applies every pending migration; already applied ones are skipped.
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}
