//! What the dashboard's pages show, read from the database as it is: the backend's `tenants`
//! and `cdr_records`, and the worker's own tables. Read-only; never a password.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgPool;

use crate::ids::TenantId;
use crate::learned::{self, LearnedFile};
use crate::pipeline::history::{self as passes, PassRow};
use crate::selectors::SelectorCatalog;
use crate::tenants::{API_CREDENTIALS_FINGERPRINT, CREDENTIALS_FINGERPRINT, DEFAULT_PBX_PORT};
use crate::unmatched::{self, Entry};

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("Postgres failed while reading {what} for the dashboard: {error}; check DATABASE_URL and that `ucm-scraper migrate` ran")]
    Db {
        what: &'static str,
        error: sqlx::Error,
    },
    #[error(transparent)]
    Unmatched(#[from] unmatched::TableError),
    #[error(transparent)]
    Learned(#[from] learned::StoreError),
}

fn db(what: &'static str) -> impl FnOnce(sqlx::Error) -> DataError {
    move |error| DataError::Db { what, error }
}

/// A tenant's row as the dashboard shows it: no password, only whether one is stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TenantRow {
    pub id: i64,
    pub name: String,
    pub is_active: bool,
    pub phone_system_type: Option<String>,
    pub pbx_ip: Option<String>,
    pub pbx_port: Option<i32>,
    pub pbx_username: Option<String>,
    pub has_password: bool,
    pub ucm_timezone: String,
    pub ucm_firmware: Option<String>,
    pub ucm_last_login_at: Option<DateTime<Utc>>,
    pub ucm_last_error: Option<String>,
    pub ucm_login_failures: i32,
    /// The HTTPS API user, if set; its password is never read, only whether one is stored.
    pub api_username: Option<String>,
    pub has_api_password: bool,
    /// The API's port when it differs from `pbx_port`.
    pub api_port: Option<i32>,
    /// The road setting: `auto`, `browser` or `api`.
    pub driver: String,
    /// The hold of the API road in force after a refused API login, for the credentials stored.
    pub api_held_until: Option<DateTime<Utc>>,
    /// The block in force: in the future and for the credentials the row holds now.
    pub blocked_until: Option<DateTime<Utc>>,
}

impl TenantRow {
    /// `user@host:port`, or what is missing.
    pub fn console(&self) -> String {
        let host = self.pbx_ip.as_deref().unwrap_or("").trim();
        let user = self.pbx_username.as_deref().unwrap_or("").trim();
        match (host.is_empty(), user.is_empty(), self.has_password) {
            (false, false, true) => format!(
                "{user}@{host}:{}",
                self.pbx_port.unwrap_or(DEFAULT_PBX_PORT.into())
            ),
            _ => "missing credentials".to_string(),
        }
    }

    /// Whether both API credentials are stored.
    pub fn has_api_credentials(&self) -> bool {
        self.has_api_password
            && self
                .api_username
                .as_deref()
                .is_some_and(|u| !u.trim().is_empty())
    }

    /// The road setting in words: what `auto` chooses depends on the API credentials.
    pub fn road(&self) -> String {
        let api = || {
            let host = self.pbx_ip.as_deref().unwrap_or("").trim();
            let port = self
                .api_port
                .or(self.pbx_port)
                .unwrap_or(DEFAULT_PBX_PORT.into());
            let user = self.api_username.as_deref().unwrap_or("").trim();
            let held = self
                .api_held_until
                .map(|until| {
                    format!(
                        ", login refused, held until {}",
                        until.format("%Y-%m-%d %H:%M UTC")
                    )
                })
                .unwrap_or_default();
            format!("HTTPS API ({user}@{host}:{port}{held})")
        };
        let browser = || format!("web console ({})", self.console());
        match (self.driver.as_str(), self.has_api_credentials()) {
            ("browser", _) => format!("browser only: {}", browser()),
            ("api", true) => format!("API only: {}", api()),
            ("api", false) => "API only, but no API credentials are set".to_string(),
            (_, true) => format!("auto: {}, else {}", api(), browser()),
            (_, false) => format!("auto: {} (no API credentials)", browser()),
        }
    }
}

fn tenant_select(filter: &str) -> String {
    format!(
        "SELECT id::bigint AS id, \
                coalesce(nullif(btrim(company_name::text), ''), subdomain::text) AS name, \
                coalesce(is_active, false) AS is_active, \
                phone_system_type::text AS phone_system_type, pbx_ip::text AS pbx_ip, pbx_port, \
                pbx_username::text AS pbx_username, \
                coalesce(pbx_password::text, '') <> '' AS has_password, \
                ucm_timezone, ucm_firmware, ucm_last_login_at, ucm_last_error, ucm_login_failures, \
                api_username::text AS api_username, \
                coalesce(api_password::text, '') <> '' AS has_api_password, api_port, \
                coalesce(driver::text, 'auto') AS driver, \
                CASE WHEN ucm_blocked_until > now() \
                      AND ucm_blocked_credentials = {CREDENTIALS_FINGERPRINT} \
                     THEN ucm_blocked_until END AS blocked_until, \
                CASE WHEN api_held_until > now() \
                      AND api_held_credentials = {API_CREDENTIALS_FINGERPRINT} \
                     THEN api_held_until END AS api_held_until \
         FROM tenants {filter} ORDER BY id"
    )
}

/// One tenant's row, or `None` when there is no such tenant.
pub async fn tenant_row(pool: &PgPool, id: TenantId) -> Result<Option<TenantRow>, DataError> {
    sqlx::query_as(sqlx::AssertSqlSafe(tenant_select("WHERE id = $1")))
        .bind(id.0)
        .fetch_optional(pool)
        .await
        .map_err(db("a tenant"))
}

/// Calls within LOOKBACK_DAYS that wait, or waited in vain, for a recording, by reason.
#[derive(Debug, Clone, Copy, Default, sqlx::FromRow)]
pub struct Waiting {
    /// Waiting, never missed by the console.
    pub pending: i64,
    /// Waiting; the console did not list the recording when last searched.
    pub not_listed_yet: i64,
    /// Final: attempts used up, or a failure retrying cannot cure.
    pub failed: i64,
    /// Final: still not listed `NOT_LISTED_GRACE` after the call.
    pub not_on_console: i64,
}

/// Recordings stored, counted by the day of their call (`cdr_records` keeps no time of storing).
#[derive(Debug, Clone, Copy, Default, sqlx::FromRow)]
pub struct Stored {
    pub last_24h: i64,
    pub last_7d: i64,
}

#[derive(Debug, Clone, Copy, Default, sqlx::FromRow)]
struct Counts {
    tenant_id: i64,
    #[sqlx(flatten)]
    stored: Stored,
    #[sqlx(flatten)]
    waiting: Waiting,
}

/// The conditions of [`Waiting`], over `cdr_records` rows that name a recording and have none
/// stored, within `$1` days.
const COUNTS: &str = "count(*) FILTER (WHERE recording_status = 'stored' \
        AND call_date >= (now() AT TIME ZONE 'UTC') - interval '1 day') AS last_24h, \
     count(*) FILTER (WHERE recording_status = 'stored' \
        AND call_date >= (now() AT TIME ZONE 'UTC') - interval '7 days') AS last_7d, \
     count(*) FILTER (WHERE waiting AND recording_status IN ('pending', 'downloading') \
        AND recording_not_listed_since IS NULL) AS pending, \
     count(*) FILTER (WHERE waiting AND recording_status IN ('pending', 'downloading') \
        AND recording_not_listed_since IS NOT NULL) AS not_listed_yet, \
     count(*) FILTER (WHERE waiting AND recording_status = 'failed') AS failed, \
     count(*) FILTER (WHERE waiting AND recording_status = 'not_on_console') AS not_on_console";

const WAITING_ROWS: &str = "(SELECT *, btrim(coalesce(recordfiles, ''), '@ ') <> '' \
        AND coalesce(recording_local_path, '') = '' \
        AND call_date >= (now() AT TIME ZONE 'UTC') - make_interval(days => $1) AS waiting \
     FROM cdr_records) AS c";

/// One line of the tenants page.
#[derive(Debug, Clone)]
pub struct TenantLine {
    pub tenant: TenantRow,
    pub last_pass: Option<PassRow>,
    pub stored: Stored,
    pub waiting: Waiting,
    pub unmatched: i64,
    pub selectors: String,
}

impl TenantLine {
    /// Failing: blocked after failed logins, or its last pass failed (or, before any pass was
    /// kept, a last error is recorded).
    pub fn failing(&self) -> bool {
        let last_failed = match &self.last_pass {
            Some(pass) => pass.outcome == "failed",
            None => self.tenant.ucm_last_error.is_some(),
        };
        self.tenant.blocked_until.is_some() || last_failed
    }
}

/// Which selectors file a tenant uses: its learned one, or the shipped one its firmware picks.
fn selectors_file(
    catalog: Option<&SelectorCatalog>,
    tenant: &TenantRow,
    learned: Option<&LearnedFile>,
) -> String {
    if let Some(file) = learned {
        return format!("learned: {}", file.summary());
    }
    let by_firmware = tenant
        .ucm_firmware
        .as_deref()
        .and_then(|firmware| catalog?.for_firmware(firmware));
    match by_firmware {
        Some(set) => format!("shipped: {}", set.name),
        None => "shipped (chosen at login)".to_string(),
    }
}

/// Every tenant, failing ones first, then by id.
pub async fn tenant_lines(
    pool: &PgPool,
    selectors_dir: &Path,
    lookback_days: u32,
) -> Result<Vec<TenantLine>, DataError> {
    let tenants: Vec<TenantRow> = sqlx::query_as(sqlx::AssertSqlSafe(tenant_select("")))
        .fetch_all(pool)
        .await
        .map_err(db("the tenants"))?;
    let counts: Vec<Counts> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT tenant_id::bigint AS tenant_id, {COUNTS} FROM {WAITING_ROWS} GROUP BY tenant_id"
    )))
    .bind(days(lookback_days))
    .fetch_all(pool)
    .await
    .map_err(db("the calls' counts"))?;
    let mut counts: HashMap<i64, Counts> = counts.into_iter().map(|c| (c.tenant_id, c)).collect();
    let mut last: HashMap<i64, PassRow> = passes::last_of_each(pool)
        .await
        .map_err(db("the last passes"))?
        .into_iter()
        .map(|p| (p.tenant_id, p))
        .collect();
    let catalog = SelectorCatalog::load_dir(selectors_dir).ok();
    let mut lines = Vec::with_capacity(tenants.len());
    for tenant in tenants {
        let id = TenantId(tenant.id);
        let learned = learned::get(pool, id).await?;
        let count = counts.remove(&tenant.id).unwrap_or_default();
        lines.push(TenantLine {
            selectors: selectors_file(catalog.as_ref(), &tenant, learned.as_ref()),
            last_pass: last.remove(&tenant.id),
            stored: count.stored,
            waiting: count.waiting,
            unmatched: unmatched::open_count(pool, id).await?,
            tenant,
        });
    }
    // Stable: within each group the ids stay in order.
    lines.sort_by_key(|line| !line.failing());
    Ok(lines)
}

fn days(lookback_days: u32) -> i32 {
    i32::try_from(lookback_days).unwrap_or(i32::MAX)
}

/// A call that waits, or waited in vain, for its recording.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WaitingCall {
    pub id: i64,
    pub uniqueid: String,
    pub src: String,
    pub dst: String,
    pub call_date: chrono::NaiveDateTime,
    pub recording_status: String,
    pub recording_attempts: i32,
    pub recording_error: Option<String>,
    pub recording_not_listed_since: Option<DateTime<Utc>>,
}

impl WaitingCall {
    /// The reason in the words of the tenants page's columns.
    pub fn reason(&self) -> &'static str {
        match (
            self.recording_status.as_str(),
            self.recording_not_listed_since,
        ) {
            ("failed", _) => "failed",
            ("not_on_console", _) => "not on console",
            (_, Some(_)) => "not listed yet",
            _ => "pending",
        }
    }
}

/// Calls shown on a tenant page at most.
const CALLS_SHOWN: i64 = 200;
/// Days in the tenant page's chart.
pub const CHART_DAYS: u32 = 30;

/// Everything a tenant page shows.
#[derive(Debug, Clone)]
pub struct TenantPage {
    pub line: TenantLine,
    pub passes: Vec<PassRow>,
    /// Stored per call day, oldest first, one entry for each of the last [`CHART_DAYS`] days.
    pub per_day: Vec<(NaiveDate, i64)>,
    pub calls: Vec<WaitingCall>,
    pub unmatched: Vec<Entry>,
    pub learned: Option<LearnedFile>,
}

/// The tenant's page, or `None` when there is no such tenant.
pub async fn tenant_page(
    pool: &PgPool,
    selectors_dir: &Path,
    lookback_days: u32,
    id: TenantId,
) -> Result<Option<TenantPage>, DataError> {
    let Some(tenant) = tenant_row(pool, id).await? else {
        return Ok(None);
    };
    let counts: Option<Counts> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT tenant_id::bigint AS tenant_id, {COUNTS} FROM {WAITING_ROWS} \
         WHERE tenant_id = $2 GROUP BY tenant_id"
    )))
    .bind(days(lookback_days))
    .bind(id.0)
    .fetch_optional(pool)
    .await
    .map_err(db("the tenant's counts"))?;
    let counts = counts.unwrap_or_default();
    let passes = passes::recent(pool, id, 20)
        .await
        .map_err(db("the tenant's passes"))?;
    let learned = learned::get(pool, id).await?;
    let catalog = SelectorCatalog::load_dir(selectors_dir).ok();
    let line = TenantLine {
        selectors: selectors_file(catalog.as_ref(), &tenant, learned.as_ref()),
        last_pass: passes.first().cloned(),
        stored: counts.stored,
        waiting: counts.waiting,
        unmatched: unmatched::open_count(pool, id).await?,
        tenant,
    };
    let calls: Vec<WaitingCall> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id::bigint AS id, coalesce(uniqueid, '')::text AS uniqueid, \
                coalesce(src, '')::text AS src, coalesce(dst, '')::text AS dst, call_date, \
                recording_status, recording_attempts, recording_error, recording_not_listed_since \
         FROM {WAITING_ROWS} WHERE tenant_id = $2 AND waiting \
           AND recording_status IN ('pending', 'downloading', 'failed', 'not_on_console') \
         ORDER BY call_date DESC, id DESC LIMIT $3"
    )))
    .bind(days(lookback_days))
    .bind(id.0)
    .bind(CALLS_SHOWN)
    .fetch_all(pool)
    .await
    .map_err(db("the tenant's waiting calls"))?;
    Ok(Some(TenantPage {
        per_day: stored_per_day(pool, id).await?,
        line,
        passes,
        calls,
        unmatched: unmatched::not_matched(pool, id).await?,
        learned,
    }))
}

/// Recordings stored per call day (UTC) over the last [`CHART_DAYS`] days, today included.
async fn stored_per_day(pool: &PgPool, id: TenantId) -> Result<Vec<(NaiveDate, i64)>, DataError> {
    let rows: Vec<(NaiveDate, i64)> = sqlx::query_as(
        "SELECT call_date::date AS day, count(*) FROM cdr_records \
         WHERE tenant_id = $1 AND recording_status = 'stored' \
           AND call_date >= (now() AT TIME ZONE 'UTC')::date - ($2 - 1) \
         GROUP BY 1",
    )
    .bind(id.0)
    .bind(CHART_DAYS as i32)
    .fetch_all(pool)
    .await
    .map_err(db("the tenant's stored recordings per day"))?;
    let counts: HashMap<NaiveDate, i64> = rows.into_iter().collect();
    let today = Utc::now().date_naive();
    Ok((0..CHART_DAYS)
        .rev()
        .map(|back| today - chrono::Days::new(back.into()))
        .map(|day| (day, counts.get(&day).copied().unwrap_or(0)))
        .collect())
}
