//! The audit table: every action taken from the dashboard, who took it, when, on which tenant.
//! The detail names what changed, never a value that is a secret.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::ids::TenantId;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub at: DateTime<Utc>,
    pub operator: String,
    pub action: String,
    pub tenant_id: Option<i64>,
    pub detail: String,
}

pub async fn write(
    pool: &PgPool,
    operator: &str,
    action: &str,
    tenant: Option<TenantId>,
    detail: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO dashboard_audit (operator, action, tenant_id, detail) VALUES ($1, $2, $3, $4)",
    )
    .bind(operator)
    .bind(action)
    .bind(tenant.map(|t| t.0))
    .bind(detail)
    .execute(pool)
    .await?;
    tracing::info!(
        operator,
        action,
        tenant.id = tenant.map(|t| t.0),
        detail,
        "Dashboard action"
    );
    Ok(())
}

/// The tenant's newest `limit` entries, newest first.
pub async fn for_tenant(
    pool: &PgPool,
    tenant: TenantId,
    limit: i64,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT at, operator, action, tenant_id, detail FROM dashboard_audit \
         WHERE tenant_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
    )
    .bind(tenant.0)
    .bind(limit)
    .fetch_all(pool)
    .await
}
