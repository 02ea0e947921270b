//! `console_recordings` and `console_recording_scans` (docs/database.md): the recordings noticed
//! without a CDR row, and how far each tenant's list has been read.
//!
//! A recording file is "referenced" by a `cdr_records` row of the same tenant when one of the
//! row's `@`-separated `recordfiles` has the same base name (the console may show the file with
//! or without its month folder).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::console::ListedRecording;
use crate::ids::TenantId;

/// Whether `cdr_records` row `c` references the file in column `file` (both base names).
const REFERENCES: &str =
    "EXISTS (SELECT 1 FROM unnest(string_to_array(c.recordfiles, '@')) AS f(name) \
     WHERE regexp_replace(btrim(f.name), '^.*/', '') = regexp_replace(file, '^.*/', ''))";

#[derive(Debug, thiserror::Error)]
#[error(
    "Postgres failed while {op} for tenant {tenant} (console_recordings): {error}; check \
     DATABASE_URL and that `ucm-scraper migrate` ran"
)]
pub struct TableError {
    op: &'static str,
    tenant: TenantId,
    #[source]
    error: sqlx::Error,
}

fn db(op: &'static str, tenant: TenantId) -> impl FnOnce(sqlx::Error) -> TableError {
    move |error| TableError { op, tenant, error }
}

/// How far a tenant's list was read.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScanState {
    pub newest_shown_at: Option<DateTime<Utc>>,
    pub newest_file: Option<String>,
    pub scanned_at: DateTime<Utc>,
}

/// One noticed recording.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Entry {
    pub file: String,
    pub caller: String,
    pub callee: String,
    pub shown_at: Option<DateTime<Utc>>,
    pub first_seen_at: DateTime<Utc>,
    pub status: String,
    pub storage_key: Option<String>,
    pub stored_bytes: Option<i64>,
    pub original_bytes: Option<i64>,
}

impl Entry {
    pub fn listed(&self) -> ListedRecording {
        ListedRecording {
            file: self.file.clone(),
            caller: self.caller.clone(),
            callee: self.callee.clone(),
            shown_at: self.shown_at,
        }
    }
}

const ENTRY: &str = "file, caller, callee, shown_at, first_seen_at, status, storage_key, \
     stored_bytes, original_bytes";

pub async fn scan_state(pool: &PgPool, tenant: TenantId) -> Result<Option<ScanState>, TableError> {
    sqlx::query_as(
        "SELECT newest_shown_at, newest_file, scanned_at FROM console_recording_scans \
         WHERE tenant_id = $1",
    )
    .bind(tenant.0 as i32)
    .fetch_optional(pool)
    .await
    .map_err(db("reading the list's read mark", tenant))
}

/// Notes the rows no CDR row references and moves the read mark to `newest`, together: a crash
/// leaves either both or neither. With no rows and no `newest`, only the time of the read is
/// noted. Returns how many rows were noticed for the first time.
pub async fn record_scan(
    pool: &PgPool,
    tenant: TenantId,
    rows: &[ListedRecording],
    newest: Option<(DateTime<Utc>, String)>,
) -> Result<u64, TableError> {
    let fail = || db("noting the recordings read", tenant);
    let mut tx = pool.begin().await.map_err(fail())?;
    let column = |f: fn(&ListedRecording) -> String| rows.iter().map(f).collect::<Vec<_>>();
    let shown: Vec<Option<DateTime<Utc>>> = rows.iter().map(|r| r.shown_at).collect();
    let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO console_recordings (tenant_id, file, caller, callee, shown_at) \
         SELECT $1, file, caller, callee, shown_at \
         FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[]) \
              AS r(file, caller, callee, shown_at) \
         WHERE NOT EXISTS (SELECT 1 FROM cdr_records c WHERE c.tenant_id = $1 AND {REFERENCES}) \
         ON CONFLICT (tenant_id, file) DO NOTHING"
    )))
    .bind(tenant.0 as i32)
    .bind(column(|r| r.file.clone()))
    .bind(column(|r| r.caller.clone()))
    .bind(column(|r| r.callee.clone()))
    .bind(shown)
    .execute(&mut *tx)
    .await
    .map_err(fail())?
    .rows_affected();
    let (at, file) = newest.unzip();
    // A read that saw nothing new keeps the old mark (COALESCE) and notes only when it ran.
    sqlx::query(
        "INSERT INTO console_recording_scans (tenant_id, newest_shown_at, newest_file, scanned_at) \
         VALUES ($1, $2, $3, now()) ON CONFLICT (tenant_id) DO UPDATE SET \
         newest_shown_at = COALESCE(EXCLUDED.newest_shown_at, console_recording_scans.newest_shown_at), \
         newest_file = COALESCE(EXCLUDED.newest_file, console_recording_scans.newest_file), \
         scanned_at = now()",
    )
    .bind(tenant.0 as i32)
    .bind(at)
    .bind(file)
    .execute(&mut *tx)
    .await
    .map_err(fail())?;
    tx.commit().await.map_err(fail())?;
    Ok(inserted)
}

/// Entries whose call has arrived since: `unmatched` (and `lost`) ones become `matched` as soon
/// as a CDR row references them; `stored` ones only once that call is stored (by a link, or a
/// download of its own), so a stored copy is never forgotten before it was linked.
pub async fn reconcile(pool: &PgPool, tenant: TenantId) -> Result<u64, TableError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE console_recordings SET status = 'matched', matched_call_id = c.id, \
         updated_at = now() FROM cdr_records c \
         WHERE console_recordings.tenant_id = $1 AND c.tenant_id = $1 AND {REFERENCES} \
         AND (status IN ('unmatched', 'lost') \
              OR (status = 'stored' AND c.recording_status = 'stored'))"
    )))
    .bind(tenant.0 as i32)
    .execute(pool)
    .await
    .map(|done| done.rows_affected())
    .map_err(db("matching noticed recordings to new calls", tenant))
}

/// Recordings without a call, kept or not: what `tenant list` and `/metrics` count.
pub async fn open_count(pool: &PgPool, tenant: TenantId) -> Result<i64, TableError> {
    sqlx::query_scalar(
        "SELECT count(*) FROM console_recordings \
         WHERE tenant_id = $1 AND status IN ('unmatched', 'stored')",
    )
    .bind(tenant.0 as i32)
    .fetch_one(pool)
    .await
    .map_err(db("counting recordings without a call", tenant))
}

/// Every entry not matched yet (lost ones included), oldest first: `tenant unmatched ID`.
pub async fn not_matched(pool: &PgPool, tenant: TenantId) -> Result<Vec<Entry>, TableError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ENTRY} FROM console_recordings WHERE tenant_id = $1 AND status <> 'matched' \
         ORDER BY shown_at NULLS FIRST, file"
    )))
    .bind(tenant.0 as i32)
    .fetch_all(pool)
    .await
    .map_err(db("listing recordings without a call", tenant))
}

/// Entries still to keep, oldest first: the console deletes its oldest recordings first.
pub async fn to_keep(
    pool: &PgPool,
    tenant: TenantId,
    limit: i64,
) -> Result<Vec<Entry>, TableError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ENTRY} FROM console_recordings WHERE tenant_id = $1 AND status = 'unmatched' \
         ORDER BY shown_at NULLS FIRST, file LIMIT $2"
    )))
    .bind(tenant.0 as i32)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(db("choosing recordings to keep", tenant))
}

/// The kept copy of one of `files` (a call's recordfiles), if there is one.
pub async fn stored_copy(
    pool: &PgPool,
    tenant: TenantId,
    files: &[String],
) -> Result<Option<Entry>, TableError> {
    let names: Vec<&str> = files
        .iter()
        .map(|f| f.rsplit('/').next().unwrap_or(f))
        .collect();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ENTRY} FROM console_recordings WHERE tenant_id = $1 AND status = 'stored' \
         AND regexp_replace(file, '^.*/', '') = ANY($2) LIMIT 1"
    )))
    .bind(tenant.0 as i32)
    .bind(names)
    .fetch_optional(pool)
    .await
    .map_err(db("looking for a kept copy of a call's recording", tenant))
}

/// The recording is kept under `key`. Called after the upload: a crash in between only repeats
/// an idempotent upload of the same key.
pub async fn mark_stored(
    pool: &PgPool,
    tenant: TenantId,
    file: &str,
    key: &str,
    stored_bytes: i64,
    original_bytes: i64,
) -> Result<(), TableError> {
    sqlx::query(
        "UPDATE console_recordings SET status = 'stored', storage_key = $3, stored_bytes = $4, \
         original_bytes = $5, updated_at = now() \
         WHERE tenant_id = $1 AND file = $2 AND status = 'unmatched'",
    )
    .bind(tenant.0 as i32)
    .bind(file)
    .bind(key)
    .bind(stored_bytes)
    .bind(original_bytes)
    .execute(pool)
    .await
    .map(drop)
    .map_err(db("noting a kept recording", tenant))
}

/// The console no longer lists the recording, and it was never kept.
pub async fn mark_lost(pool: &PgPool, tenant: TenantId, file: &str) -> Result<(), TableError> {
    sqlx::query(
        "UPDATE console_recordings SET status = 'lost', updated_at = now() \
         WHERE tenant_id = $1 AND file = $2 AND status = 'unmatched'",
    )
    .bind(tenant.0 as i32)
    .bind(file)
    .execute(pool)
    .await
    .map(drop)
    .map_err(db("noting a lost recording", tenant))
}

/// The kept copy now belongs to call `call_id`.
pub async fn mark_matched(
    pool: &PgPool,
    tenant: TenantId,
    file: &str,
    call_id: i64,
) -> Result<(), TableError> {
    sqlx::query(
        "UPDATE console_recordings SET status = 'matched', matched_call_id = $3, \
         updated_at = now() WHERE tenant_id = $1 AND file = $2",
    )
    .bind(tenant.0 as i32)
    .bind(file)
    .bind(call_id as i32)
    .execute(pool)
    .await
    .map(drop)
    .map_err(db("linking a kept recording to its call", tenant))
}
