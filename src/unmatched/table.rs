//! `console_recordings` and `console_recording_scans` (docs/database.md): the recordings noticed
//! without a CDR row, and how far each tenant's list has been read.
//!
//! A recording file is "referenced" by a `cdr_records` row of the same tenant when one of the
//! row's `@`-separated `recordfiles` has the same base name (the console may show the file with
//! or without its month folder).

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::console::{CallQuery, ListedRecording};
use crate::ids::{TenantId, UniqueId};

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
    /// The file name; for an entry not `named`, the key [`unnamed_key`] made.
    pub file: String,
    /// Whether `file` is the recording's file name (shown on the list, or its download's).
    pub named: bool,
    /// For an entry not `named`: the calls known when it was noticed went up to this id.
    pub calls_known_upto: Option<i32>,
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
            file: self.file_name().map(str::to_string),
            caller: self.caller.clone(),
            callee: self.callee.clone(),
            shown_at: self.shown_at,
        }
    }
}

impl Entry {
    /// The recording's file name, when known.
    pub fn file_name(&self) -> Option<&str> {
        self.named.then_some(self.file.as_str())
    }
}

const ENTRY: &str = "file, named, calls_known_upto, caller, callee, shown_at, first_seen_at, \
     status, storage_key, stored_bytes, original_bytes";

/// The key of a row that shows no file name: what it does show. The same row read again gives
/// the same key; it never looks like a file name (no extension).
pub fn unnamed_key(row: &ListedRecording) -> String {
    let at = row
        .shown_at
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    format!("{} to {} at {at}", row.caller, row.callee)
}

/// What one read of the list notes.
#[derive(Debug, Default)]
pub struct Noted {
    /// Rows with a file name: noted unless a `cdr_records` row references the file.
    pub named: Vec<ListedRecording>,
    /// Rows without one that no known call matched: noted under [`unnamed_key`], unless a row
    /// with the same caller, callee and time was noted before.
    pub unnamed: Vec<ListedRecording>,
    /// The greatest `cdr_records.id` of the tenant when the known calls were read.
    pub calls_known_upto: Option<i32>,
}

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

/// Notes the rows no call is known for and moves the read mark to `newest`, together: a crash
/// leaves either both or neither. With no rows and no `newest`, only the time of the read is
/// noted. Returns how many rows were noticed for the first time.
pub async fn record_scan(
    pool: &PgPool,
    tenant: TenantId,
    noted: &Noted,
    newest: Option<(DateTime<Utc>, String)>,
) -> Result<u64, TableError> {
    let fail = || db("noting the recordings read", tenant);
    let mut tx = pool.begin().await.map_err(fail())?;
    let named = Columns::of(&noted.named, |r| r.file.clone().unwrap_or_default());
    let mut inserted = named
        .bind(
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO console_recordings (tenant_id, file, caller, callee, shown_at) \
                 SELECT $1, file, caller, callee, shown_at FROM {ROWS} \
                 WHERE NOT EXISTS (SELECT 1 FROM cdr_records c WHERE c.tenant_id = $1 \
                       AND {REFERENCES}) \
                 ON CONFLICT (tenant_id, file) DO NOTHING"
            ))),
            tenant,
        )
        .execute(&mut *tx)
        .await
        .map_err(fail())?
        .rows_affected();
    // Read again, a row shows the same caller, callee and time: noted once, also after its
    // download named it.
    let unnamed = Columns::of(&noted.unnamed, unnamed_key);
    inserted += unnamed
        .bind(
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO console_recordings \
                 (tenant_id, file, named, calls_known_upto, caller, callee, shown_at) \
                 SELECT $1, file, false, $6, caller, callee, shown_at FROM {ROWS} \
                 WHERE NOT EXISTS (SELECT 1 FROM console_recordings e WHERE e.tenant_id = $1 \
                       AND e.caller = r.caller AND e.callee = r.callee \
                       AND e.shown_at = r.shown_at) \
                 ON CONFLICT (tenant_id, file) DO NOTHING"
            ))),
            tenant,
        )
        .bind(noted.calls_known_upto)
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

/// [`Columns`] as a table `r(file, caller, callee, shown_at)`, from parameters `$2` to `$5`.
const ROWS: &str = "unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[]) \
     AS r(file, caller, callee, shown_at)";

/// Listed rows as the columns of an `unnest`.
struct Columns {
    key: Vec<String>,
    caller: Vec<String>,
    callee: Vec<String>,
    shown_at: Vec<Option<DateTime<Utc>>>,
}

impl Columns {
    fn of(rows: &[ListedRecording], key: fn(&ListedRecording) -> String) -> Self {
        Self {
            key: rows.iter().map(key).collect(),
            caller: rows.iter().map(|r| r.caller.clone()).collect(),
            callee: rows.iter().map(|r| r.callee.clone()).collect(),
            shown_at: rows.iter().map(|r| r.shown_at).collect(),
        }
    }

    /// Binds the tenant (`$1`) and the columns (`$2` to `$5`, see [`ROWS`]) to `query`.
    fn bind(self, query: PgQuery<'_>, tenant: TenantId) -> PgQuery<'_> {
        query
            .bind(tenant.0 as i32)
            .bind(self.key)
            .bind(self.caller)
            .bind(self.callee)
            .bind(self.shown_at)
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// The tenant's calls from `from` to `to` with an id above `after` that name a recording,
/// whatever their status, and the greatest call id the tenant had just before: what rows
/// without a file name are matched to.
pub async fn calls_between(
    pool: &PgPool,
    tenant: TenantId,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    after: i32,
) -> Result<(Vec<CallQuery>, Option<i32>), TableError> {
    let fail = || db("reading the calls a listed recording may belong to", tenant);
    // Read first: a call that arrives while the others are read has a greater id.
    let upto: Option<i32> =
        sqlx::query_scalar("SELECT max(id) FROM cdr_records WHERE tenant_id = $1")
            .bind(tenant.0 as i32)
            .fetch_one(pool)
            .await
            .map_err(fail())?;
    let rows: Vec<KnownCall> = sqlx::query_as(
        "SELECT id::bigint AS id, coalesce(uniqueid, '') AS uniqueid, \
                coalesce(src, '') AS caller, coalesce(dst, '') AS callee, call_date, \
                array_remove(string_to_array(btrim(recordfiles, '@ '), '@'), '') AS files \
         FROM cdr_records WHERE tenant_id = $1 AND btrim(coalesce(recordfiles, ''), '@ ') <> '' \
           AND call_date BETWEEN ($2 AT TIME ZONE 'UTC') AND ($3 AT TIME ZONE 'UTC') \
           AND id > $4",
    )
    .bind(tenant.0 as i32)
    .bind(from)
    .bind(to)
    .bind(after)
    .fetch_all(pool)
    .await
    .map_err(fail())?;
    let calls = rows.into_iter().filter_map(KnownCall::query).collect();
    Ok((calls, upto))
}

#[derive(sqlx::FromRow)]
struct KnownCall {
    id: i64,
    uniqueid: String,
    caller: String,
    callee: String,
    call_date: chrono::NaiveDateTime,
    files: Vec<String>,
}

impl KnownCall {
    /// `None` for a uniqueid no UCM call has: such a row is never fetched either.
    fn query(self) -> Option<CallQuery> {
        Some(CallQuery {
            call_id: self.id,
            uniqueid: UniqueId::parse(&self.uniqueid).ok()?,
            caller: self.caller,
            callee: self.callee,
            call_date_utc: self.call_date,
            recordfiles: self
                .files
                .into_iter()
                .map(|f| f.trim().to_string())
                .collect(),
        })
    }
}

/// The call whose `recordfiles` name `file`, if one does.
pub async fn referencing_call(
    pool: &PgPool,
    tenant: TenantId,
    file: &str,
) -> Result<Option<i64>, TableError> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT c.id::bigint FROM cdr_records c, (SELECT $2::text AS file) r \
         WHERE c.tenant_id = $1 AND {REFERENCES} ORDER BY c.id LIMIT 1"
    )))
    .bind(tenant.0 as i32)
    .bind(file)
    .fetch_optional(pool)
    .await
    .map_err(db("looking for the call of a downloaded recording", tenant))
}

/// Entries not `named` and not matched yet (kept ones are named): their call may arrive.
pub async fn unnamed_open(pool: &PgPool, tenant: TenantId) -> Result<Vec<Entry>, TableError> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ENTRY} FROM console_recordings WHERE tenant_id = $1 AND NOT named \
         AND status IN ('unmatched', 'lost')"
    )))
    .bind(tenant.0 as i32)
    .fetch_all(pool)
    .await
    .map_err(db(
        "reading the recordings noticed without a file name",
        tenant,
    ))
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

/// Where a kept recording went.
pub struct Stored<'a> {
    /// The file name its download gave: an entry not named yet takes it.
    pub name: &'a str,
    pub key: &'a str,
    pub stored_bytes: i64,
    pub original_bytes: i64,
}

/// Entry `file` is kept as `stored` says, and from now on noted under its file name. Called
/// after the upload: a crash in between only repeats an idempotent upload of the same key. An
/// unnamed entry whose file name another entry has already is dropped: that one stands for it.
pub async fn mark_stored(
    pool: &PgPool,
    tenant: TenantId,
    file: &str,
    stored: Stored<'_>,
) -> Result<(), TableError> {
    let fail = || db("noting a kept recording", tenant);
    let mut tx = pool.begin().await.map_err(fail())?;
    sqlx::query(
        "DELETE FROM console_recordings WHERE tenant_id = $1 AND file = $2 AND NOT named \
         AND EXISTS (SELECT 1 FROM console_recordings o WHERE o.tenant_id = $1 AND o.file = $3)",
    )
    .bind(tenant.0 as i32)
    .bind(file)
    .bind(stored.name)
    .execute(&mut *tx)
    .await
    .map_err(fail())?;
    sqlx::query(
        "UPDATE console_recordings SET status = 'stored', storage_key = $3, stored_bytes = $4, \
         original_bytes = $5, file = CASE WHEN named THEN file ELSE $6 END, named = true, \
         updated_at = now() WHERE tenant_id = $1 AND file = $2 AND status = 'unmatched'",
    )
    .bind(tenant.0 as i32)
    .bind(file)
    .bind(stored.key)
    .bind(stored.stored_bytes)
    .bind(stored.original_bytes)
    .bind(stored.name)
    .execute(&mut *tx)
    .await
    .map_err(fail())?;
    tx.commit().await.map_err(fail())
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
