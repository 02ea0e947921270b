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
    #[error("Postgres is reachable but refused to say which migrations are applied: {0}")]
    Read(#[source] sqlx::Error),
    #[error("recording the reworded migrations' checksums failed: {0}")]
    Reword(#[source] sqlx::Error),
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

/// Released migrations whose comments were later reworded (they cited a document outside this
/// repository), with the SHA-384 of the text as first released. Their SQL is unchanged.
pub const REWORDED: &[(i64, &str)] = &[
    (
        20260201000000,
        "e707f7e369ad660619ea2a5a2910605028c8feaab935868abc2e2f98c18fc4fb756883e885e195897dfcaf734c2e4ac1",
    ),
    (
        20260201000001,
        "a116c15d36dd7cc9e5d03b8924401de83784ecf3431ef5761232c279d9688a9d7a846d55302c8723fedfa7ad22017e94",
    ),
];

/// Applies every pending migration; already applied ones are skipped.
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    accept_reworded(pool).await?;
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// The migrations this worker carries that the database has not applied (or applied only half
/// way), as `<version>_<description>`; empty when the schema is current. Reads only.
pub async fn unapplied(pool: &PgPool) -> Result<Vec<String>, DbError> {
    let table: Option<String> = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
        .fetch_one(pool)
        .await
        .map_err(DbError::Read)?;
    let applied: Vec<i64> = match table {
        Some(_) => sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await
            .map_err(DbError::Read)?,
        None => Vec::new(),
    };
    Ok(MIGRATOR
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .map(|m| format!("{}_{}", m.version, m.description.replace(' ', "_")))
        .collect())
}

/// sqlx refuses a database whose applied migration's checksum differs from the file's. A
/// database migrated before the rewording holds the first text's checksum: it is moved to the
/// current one, but only when it is exactly that first text's, so a real edit is still refused.
async fn accept_reworded(pool: &PgPool) -> Result<(), DbError> {
    let applied: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
            .fetch_one(pool)
            .await
            .map_err(DbError::Reword)?;
    if applied.is_none() {
        return Ok(()); // an empty database: nothing applied yet
    }
    for (version, first_text) in REWORDED {
        let Some(current) = MIGRATOR.iter().find(|m| m.version == *version) else {
            continue;
        };
        sqlx::query(
            "UPDATE _sqlx_migrations SET checksum = $2 \
             WHERE version = $1 AND checksum = decode($3, 'hex')",
        )
        .bind(version)
        .bind(current.checksum.as_ref())
        .bind(first_text)
        .execute(pool)
        .await
        .map_err(DbError::Reword)?;
    }
    Ok(())
}
