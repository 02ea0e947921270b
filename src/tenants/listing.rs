//! Every tenant as `ucm-scraper tenant list` shows it: what the worker will do with it and why.
//! A child of [`super`] because a block in force is judged by the row's credentials, which only
//! this module reads.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{DriverChoice, TenantError, TenantRow, DEFAULT_PBX_PORT};
use crate::ids::TenantId;

/// One `tenants` row, active or not, as an operator reads it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub id: TenantId,
    pub name: String,
    pub is_active: bool,
    /// `user@host:port`, or why the worker cannot log in.
    pub console: String,
    pub last_login_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// The block in force, if any.
    pub blocked_until: Option<DateTime<Utc>>,
    /// The road setting and what it means for this row, e.g. `auto: API, browser fallback`.
    pub road: String,
}

/// Every tenant, oldest first.
pub async fn all(pool: &PgPool) -> Result<Vec<Listed>, TenantError> {
    let rows: Vec<TenantRow> = sqlx::query_as(sqlx::AssertSqlSafe(TenantRow::select("")))
        .fetch_all(pool)
        .await
        .map_err(TenantError::db("listing tenants"))?;
    Ok(rows.into_iter().map(listed).collect())
}

fn listed(row: TenantRow) -> Listed {
    let console = match (row.phone_system_type.as_deref(), row.credentials()) {
        (Some("grandstream_ucm"), Some((host, user, _))) => format!(
            "{user}@{host}:{}",
            row.pbx_port.map_or(DEFAULT_PBX_PORT.into(), i64::from)
        ),
        (Some("grandstream_ucm"), None) => "missing credentials".to_string(),
        (other, _) => format!("not a UCM ({})", other.unwrap_or("none")),
    };
    Listed {
        road: road(&row),
        id: row.id(),
        name: row.name(),
        is_active: row.is_active,
        console,
        last_login_at: row.ucm_last_login_at,
        last_error: row.ucm_last_error,
        blocked_until: row.blocked_until,
    }
}

/// The road setting as an operator reads it: the choice, and what `auto` comes to.
fn road(row: &TenantRow) -> String {
    let driver = row.driver();
    let api = match row.api_credentials() {
        None => "no API credentials",
        Some(Err(_)) => "API credentials half set",
        Some(Ok(_)) if row.api_held_until.is_some() => "API login refused, held",
        Some(Ok(_)) => "API credentials set",
    };
    match driver {
        DriverChoice::Browser => driver.as_str().to_string(),
        DriverChoice::Auto | DriverChoice::Api => format!("{} ({api})", driver.as_str()),
    }
}
