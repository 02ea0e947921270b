//! `console_ways` (docs/database.md): per tenant, the way to the Recordings list that worked
//! last, loaded before a tenant's browser session and saved after it, so the next pass on any
//! replica starts with it. The session itself never touches the database.
//!
//! Losing a way costs only a search on the next pass, so a failed read or write is a warning,
//! never the pass.

use sqlx::PgPool;

use crate::console::{CameBy, Way};
use crate::ids::TenantId;

#[derive(Debug, thiserror::Error)]
#[error(
    "Postgres failed while {op} for tenant {tenant} (console_ways): {error}; check DATABASE_URL \
     and that `ucm-scraper migrate` ran"
)]
pub struct WayError {
    op: &'static str,
    tenant: TenantId,
    #[source]
    error: sqlx::Error,
}

fn db(op: &'static str, tenant: TenantId) -> impl FnOnce(sqlx::Error) -> WayError {
    move |error| WayError { op, tenant, error }
}

/// The tenant's remembered way, if any; a row naming an unknown `came_by` counts as none.
pub async fn load(pool: &PgPool, tenant: TenantId) -> Result<Option<Way>, WayError> {
    let row: Option<(String, String, bool)> = sqlx::query_as(
        "SELECT address, came_by, login_at_start FROM console_ways WHERE tenant_id = $1",
    )
    .bind(tenant.0 as i32)
    .fetch_optional(pool)
    .await
    .map_err(db("reading the way to the Recordings list", tenant))?;
    Ok(row.and_then(|(address, came_by, login_at_start)| {
        Some(Way {
            address,
            came_by: CameBy::parse(&came_by)?,
            login_at_start,
        })
    }))
}

/// Keeps `way` as the tenant's way; `None` forgets the one kept (it stopped working).
pub async fn save(pool: &PgPool, tenant: TenantId, way: Option<&Way>) -> Result<(), WayError> {
    let fail = db("keeping the way to the Recordings list", tenant);
    let query = match way {
        Some(way) => sqlx::query(
            "INSERT INTO console_ways (tenant_id, address, came_by, login_at_start) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id) DO UPDATE SET address = EXCLUDED.address, \
               came_by = EXCLUDED.came_by, login_at_start = EXCLUDED.login_at_start, \
               found_at = CASE WHEN (console_ways.address, console_ways.came_by, \
                                     console_ways.login_at_start) \
                                  = (EXCLUDED.address, EXCLUDED.came_by, EXCLUDED.login_at_start) \
                          THEN console_ways.found_at ELSE now() END",
        )
        .bind(tenant.0 as i32)
        .bind(&way.address)
        .bind(way.came_by.as_str())
        .bind(way.login_at_start),
        None => sqlx::query("DELETE FROM console_ways WHERE tenant_id = $1").bind(tenant.0 as i32),
    };
    query.execute(pool).await.map_err(fail)?;
    Ok(())
}
