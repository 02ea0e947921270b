//! How each tenant's part of a pass ended (`tenant_passes`): written here when a tenant's part
//! ends, read by the operators' dashboard. Nothing else keeps a pass's outcome once the
//! process that ran it is gone.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{TenantOutcome, TenantReport};
use crate::ids::TenantId;

/// Passes kept per tenant; older ones are removed as new ones are written.
const KEPT_PER_TENANT: i64 = 500;

/// One tenant's part of one pass, as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PassRow {
    pub tenant_id: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `ok`, `skipped` or `failed`.
    pub outcome: String,
    pub message: Option<String>,
    pub claimed: i32,
    pub stored: i32,
    pub failed: i32,
    pub not_listed_yet: i32,
    pub not_on_console: i32,
}

/// Stores how the tenant's part of a pass ended. A failure to write is a warning: the pass's
/// own work is done and must not be undone by its bookkeeping.
pub async fn record(pool: &PgPool, started_at: DateTime<Utc>, report: &TenantReport) {
    let (outcome, message) = match &report.outcome {
        TenantOutcome::Done => ("ok", None),
        TenantOutcome::Skipped(why) => ("skipped", Some(why.to_string())),
        TenantOutcome::Failed(decision) => ("failed", Some(decision.message.clone())),
    };
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    let written = sqlx::query(
        "WITH added AS (INSERT INTO tenant_passes (tenant_id, started_at, outcome, message, \
                 claimed, stored, failed, not_listed_yet, not_on_console) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)) \
         DELETE FROM tenant_passes WHERE tenant_id = $1 AND id <= ( \
             SELECT id FROM tenant_passes WHERE tenant_id = $1 \
             ORDER BY id DESC OFFSET $10 LIMIT 1)",
    )
    .bind(report.tenant_id.0)
    .bind(started_at)
    .bind(outcome)
    .bind(message)
    .bind(count(report.claimed))
    .bind(count(report.stored))
    .bind(count(report.failed))
    .bind(count(report.not_listed_yet))
    .bind(count(report.not_on_console))
    .bind(KEPT_PER_TENANT)
    .execute(pool)
    .await;
    if let Err(error) = written {
        tracing::warn!(tenant.id = %report.tenant_id, %error,
            "Could not store how the tenant's pass ended (tenant_passes); the dashboard shows the older passes");
    }
}

/// The tenant's last `limit` passes, newest first.
pub async fn recent(
    pool: &PgPool,
    tenant: TenantId,
    limit: i64,
) -> Result<Vec<PassRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT tenant_id, started_at, finished_at, outcome, message, claimed, stored, failed, \
                not_listed_yet, not_on_console \
         FROM tenant_passes WHERE tenant_id = $1 ORDER BY finished_at DESC, id DESC LIMIT $2",
    )
    .bind(tenant.0)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Every tenant's last pass.
pub async fn last_of_each(pool: &PgPool) -> Result<Vec<PassRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT DISTINCT ON (tenant_id) tenant_id, started_at, finished_at, outcome, message, \
                claimed, stored, failed, not_listed_yet, not_on_console \
         FROM tenant_passes ORDER BY tenant_id, finished_at DESC, id DESC",
    )
    .fetch_all(pool)
    .await
}
