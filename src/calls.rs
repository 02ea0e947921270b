//! One file over 500 lines: every query on `cdr_records`, so the work queue's states are
//! written in one place.
//!
//! `cdr_records` as a work queue (docs/database.md): claim the calls that need a recording with a
//! lease, then record what happened to each.
//!
//! A claim takes rows `FOR UPDATE SKIP LOCKED` and stamps a lease, so two workers never take the
//! same call and a crashed worker's calls come back once its lease expires. An attempt is counted
//! when the worker [`start`]s a call, not when it claims it: a worker that dies with a batch
//! claimed costs only the calls it was working on. A call whose attempts run out becomes `failed`
//! with its last error and stays so.
//!
//! A call whose recording the console does not list is not charged and not ended at once: the
//! recording may still be being written, or the console's list may lag behind its CDR. It stays
//! `pending` with `recording_not_listed_since` set and is checked again on later passes, after
//! the calls never checked, until it is older than the grace period ([`mark_not_listed`]).
//!
//! Longer than 500 lines on purpose: every query on the queue is here, most of the file is their
//! SQL, and they share the fragments that say which rows wait and which are free
//! (`AWAITING_RECORDING`, `LEASE_FREE`); split, those would be read in two places.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::PgPool;

use crate::failure::{Failure, NextStep};
use crate::ids::{TenantId, UniqueId};

/// A call waiting for its recording, as claimed.
#[derive(Debug, Clone)]
pub struct Call {
    pub id: i64,
    pub tenant_id: TenantId,
    pub uniqueid: UniqueId,
    pub src: String,
    pub dst: String,
    /// UTC, as the backend stores it.
    pub call_date: NaiveDateTime,
    /// The recording file names, e.g. `2026-02/auto-1770395696-1000-2815058290.wav`: the
    /// column's `@`-joined list split, empties dropped.
    pub recordfiles: Vec<String>,
    pub duration: Option<i32>,
    /// Attempts made before this claim ([`start`] counts the next one).
    pub attempts: i32,
    /// When the console first did not list this call's recording (it is checked again).
    pub not_listed_since: Option<DateTime<Utc>>,
}

/// How a pass claims work.
#[derive(Debug, Clone)]
pub struct ClaimPolicy {
    /// Calls older than this many days are not fetched (`LOOKBACK_DAYS`).
    pub lookback_days: u32,
    /// How long a claimed call stays the claimer's; longer than one call's download, convert and
    /// upload, shorter than the wait after a crash you accept.
    pub lease: Duration,
    /// At most this many calls per claim.
    pub limit: i64,
    /// After this many attempts a call is `failed` for good.
    pub max_attempts: i32,
}

/// What [`mark_failed`] made of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Back to `pending`: the next pass tries again.
    WillRetry { attempts: i32 },
    /// `failed`: no more automatic attempts.
    GaveUp { attempts: i32 },
}

/// What [`mark_not_listed`] made of a call whose recording the console does not list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotListed {
    /// Back to `pending`, uncharged: the call is younger than the grace period and is checked
    /// again on the next passes. `since`: when the console first did not list it.
    Yet { since: DateTime<Utc> },
    /// `not_on_console` for good: still not listed once the grace period after the call passed.
    Final,
}

/// A stored recording whose AI processing was not triggered yet.
#[derive(Debug, Clone)]
pub struct PendingTrigger {
    pub call_id: i64,
    pub tenant_id: TenantId,
    pub uniqueid: String,
    /// The storage key (`recording_local_path`).
    pub key: String,
    pub duration: Option<i32>,
}

#[derive(Debug, thiserror::Error)]
pub enum CallsError {
    #[error(
        "Postgres failed while {op} (cdr_records): {error}; check DATABASE_URL and that `ucm-scraper migrate` ran"
    )]
    Db {
        op: &'static str,
        error: sqlx::Error,
    },
    #[error("call {0} not found in cdr_records (deleted while it was processed?)")]
    NotFound(i64),
    #[error(
        "call {0} is no longer claimed by this worker (its lease ran out and another took it, or \
         it was deleted); leaving it"
    )]
    NotClaimed(i64),
}

impl Failure for CallsError {
    /// The database is a service outside the call: whatever it refused, the call comes back on a
    /// later pass (released, or when its lease ends) and the pass reports calls held back.
    fn next_step(&self) -> NextStep {
        NextStep::WaitForService
    }
}

impl CallsError {
    fn db(op: &'static str) -> impl FnOnce(sqlx::Error) -> Self {
        move |error| CallsError::Db { op, error }
    }
}

/// The calls of tenant `$1` that still wait for a recording (docs/database.md), whether or not
/// someone holds them right now; `$2` is LOOKBACK_DAYS. `call_date` is UTC without a zone, so it
/// is compared with the UTC wall clock whatever the session's time zone.
const AWAITING_RECORDING: &str = "tenant_id = $1 \
     AND recording_status IN ('pending', 'downloading') \
     AND btrim(coalesce(recordfiles, ''), '@ ') <> '' \
     AND coalesce(recording_local_path, '') = '' \
     AND call_date >= (now() AT TIME ZONE 'UTC') - make_interval(days => $2)";

/// Nobody holds the call: never leased, or the lease ran out (its holder crashed or hung).
const LEASE_FREE: &str = "(recording_lease_until IS NULL OR recording_lease_until <= now())";

#[derive(sqlx::FromRow)]
struct CallRow {
    id: i64,
    tenant_id: i64,
    uniqueid: String,
    src: String,
    dst: String,
    call_date: NaiveDateTime,
    recordfiles: String,
    duration: Option<i32>,
    recording_attempts: i32,
    recording_not_listed_since: Option<DateTime<Utc>>,
}

impl CallRow {
    fn into_call(self, uniqueid: UniqueId) -> Call {
        Call {
            id: self.id,
            tenant_id: TenantId(self.tenant_id),
            uniqueid,
            src: self.src,
            dst: self.dst,
            call_date: self.call_date,
            recordfiles: split_recordfiles(&self.recordfiles),
            duration: self.duration,
            attempts: self.recording_attempts,
            not_listed_since: self.recording_not_listed_since,
        }
    }
}

/// Claims up to `policy.limit` calls of `tenant` that need a recording, newest first, those the
/// console did not list yet after the others (new work is not held back by re-checks): status
/// `downloading` and a lease of `policy.lease`; no attempt is counted until [`start`]. Calls whose
/// attempts ran out on expired leases (a worker that died on them each time) become `failed`
/// instead, and so do rows whose uniqueid cannot name a file.
pub async fn claim(
    pool: &PgPool,
    tenant: TenantId,
    policy: &ClaimPolicy,
) -> Result<Vec<Call>, CallsError> {
    let op = "claiming calls";
    let days = i32::try_from(policy.lookback_days).unwrap_or(i32::MAX);
    let mut tx = pool.begin().await.map_err(CallsError::db(op))?;

    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE cdr_records SET recording_status = 'failed', recording_lease_until = NULL, \
                recording_error = coalesce(recording_error || '; ', '') || \
                    'gave up: the lease of the last attempt expired without a result \
                     (the worker crashed or was stopped on this call)' \
         WHERE {AWAITING_RECORDING} AND recording_status = 'downloading' \
           AND recording_lease_until <= now() AND recording_attempts >= $3"
    )))
    .bind(tenant.0)
    .bind(days)
    .bind(policy.max_attempts)
    .execute(&mut *tx)
    .await
    .map_err(CallsError::db(op))?;

    let rows: Vec<CallRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH picked AS ( \
             SELECT id FROM cdr_records WHERE {AWAITING_RECORDING} AND {LEASE_FREE} \
             ORDER BY recording_not_listed_since IS NOT NULL, call_date DESC, id DESC \
             LIMIT $4 FOR UPDATE SKIP LOCKED) \
         UPDATE cdr_records c SET recording_status = 'downloading', \
                recording_lease_until = now() + make_interval(secs => $3) \
         FROM picked WHERE c.id = picked.id \
         RETURNING c.id::bigint AS id, c.tenant_id::bigint AS tenant_id, \
                   coalesce(c.uniqueid, '')::text AS uniqueid, coalesce(c.src, '')::text AS src, \
                   coalesce(c.dst, '')::text AS dst, c.call_date, c.recordfiles::text AS recordfiles, \
                   c.duration, c.recording_attempts, c.recording_not_listed_since"
    )))
    .bind(tenant.0)
    .bind(days)
    .bind(policy.lease.as_secs_f64())
    .bind(policy.limit.max(0))
    .fetch_all(&mut *tx)
    .await
    .map_err(CallsError::db(op))?;

    let mut calls = Vec::with_capacity(rows.len());
    for row in rows {
        match UniqueId::parse(&row.uniqueid) {
            Ok(uniqueid) => calls.push(row.into_call(uniqueid)),
            Err(bad) => {
                tracing::warn!(call.id = row.id, tenant.id = tenant.0, %bad, "Skipping call: {bad}");
                set_final(&mut *tx, row.id, "failed", &bad.to_string())
                    .await
                    .map_err(CallsError::db(op))?;
            }
        }
    }
    tx.commit().await.map_err(CallsError::db(op))?;
    // RETURNING has no order; the pass works in the claim's order.
    calls.sort_by(|a, b| {
        (a.not_listed_since
            .is_some()
            .cmp(&b.not_listed_since.is_some()))
        .then(b.call_date.cmp(&a.call_date))
        .then(b.id.cmp(&a.id))
    });
    Ok(calls)
}

fn split_recordfiles(raw: &str) -> Vec<String> {
    raw.split('@')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect()
}

async fn set_final(
    conn: impl sqlx::PgExecutor<'_>,
    call_id: i64,
    status: &str,
    error: &str,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE cdr_records SET recording_status = $2, recording_error = $3, \
         recording_lease_until = NULL WHERE id = $1",
    )
    .bind(call_id)
    .bind(status)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

fn found(call_id: i64, rows: u64) -> Result<(), CallsError> {
    if rows == 0 {
        Err(CallsError::NotFound(call_id))
    } else {
        Ok(())
    }
}

/// The worker begins this claimed call: one attempt is counted, and the lease runs `lease` from
/// now, so a call late in a long pass is not given up by the lease its claim took. Returns the
/// attempts made, this one included.
pub async fn start(pool: &PgPool, call_id: i64, lease: Duration) -> Result<i32, CallsError> {
    let attempts: Option<i32> = sqlx::query_scalar(
        "UPDATE cdr_records SET recording_attempts = recording_attempts + 1, \
         recording_lease_until = now() + make_interval(secs => $2) \
         WHERE id = $1 AND recording_status = 'downloading' RETURNING recording_attempts",
    )
    .bind(call_id)
    .bind(lease.as_secs_f64())
    .fetch_optional(pool)
    .await
    .map_err(CallsError::db("starting a call"))?;
    attempts.ok_or(CallsError::NotClaimed(call_id))
}

/// The recording is uploaded under `key`: the call is done. Called after the upload, so a crash
/// in between only repeats an idempotent upload.
pub async fn mark_stored(
    pool: &PgPool,
    call_id: i64,
    key: &str,
    bytes: i64,
    original_bytes: i64,
) -> Result<(), CallsError> {
    let done = sqlx::query(
        "UPDATE cdr_records SET recording_status = 'stored', recording_local_path = $2, \
         recording_downloaded = true, recording_bytes = $3, recording_original_bytes = $4, \
         recording_error = NULL, recording_lease_until = NULL, recording_not_listed_since = NULL \
         WHERE id = $1",
    )
    .bind(call_id)
    .bind(key)
    .bind(bytes)
    .bind(original_bytes)
    .execute(pool)
    .await
    .map_err(CallsError::db("marking a call stored"))?;
    found(call_id, done.rows_affected())
}

/// This attempt failed with `error`: back to `pending` for the next pass, or `failed` for good
/// once `max_attempts` attempts were made. The call is no longer counted as not listed: this
/// attempt ended on something else.
pub async fn mark_failed(
    pool: &PgPool,
    call_id: i64,
    error: &str,
    max_attempts: i32,
) -> Result<FailureOutcome, CallsError> {
    // The decision is returned as made, not read back from the status text.
    let row: Option<(bool, i32)> = sqlx::query_as(
        "UPDATE cdr_records SET recording_error = $2, recording_lease_until = NULL, \
         recording_not_listed_since = NULL, \
         recording_status = CASE WHEN recording_attempts >= $3 THEN 'failed' ELSE 'pending' END \
         WHERE id = $1 RETURNING recording_attempts >= $3, recording_attempts",
    )
    .bind(call_id)
    .bind(error)
    .bind(max_attempts)
    .fetch_optional(pool)
    .await
    .map_err(CallsError::db("marking a call failed"))?;
    match row {
        Some((true, attempts)) => Ok(FailureOutcome::GaveUp { attempts }),
        Some((false, attempts)) => Ok(FailureOutcome::WillRetry { attempts }),
        None => Err(CallsError::NotFound(call_id)),
    }
}

/// The console (read to the end, on positive evidence) does not list this call's recording. Not
/// the call's fault, so the attempt [`start`] charged is refunded either way. While the call is
/// younger than `grace` (`NOT_LISTED_GRACE`, from its `call_date`) it goes back to `pending` and
/// is checked again on later passes; after that it is `not_on_console`, final. The grace is
/// judged on the database's clock, like the claim.
pub async fn mark_not_listed(
    pool: &PgPool,
    call: &Call,
    grace: Duration,
) -> Result<NotListed, CallsError> {
    let grace_text = humantime::format_duration(grace);
    let waiting = format!(
        "not listed on the console's Recordings page yet: checked again each pass until \
         NOT_LISTED_GRACE ({grace_text}) after the call"
    );
    let gone = format!(
        "no recording for this call on the console's Recordings page, still not listed \
         NOT_LISTED_GRACE ({grace_text}) after the call: it may have been deleted or not recorded"
    );
    // Without a call time there is nothing to wait from: such a call is final at once.
    let row: Option<(bool, DateTime<Utc>)> = sqlx::query_as(
        "WITH verdict AS ( \
             SELECT id, coalesce(call_date <= (now() AT TIME ZONE 'UTC') \
                                 - make_interval(secs => $3), true) AS gone \
             FROM cdr_records WHERE id = $1) \
         UPDATE cdr_records c SET recording_lease_until = NULL, \
                recording_attempts = least(c.recording_attempts, $2), \
                recording_not_listed_since = coalesce(c.recording_not_listed_since, now()), \
                recording_status = CASE WHEN verdict.gone THEN 'not_on_console' ELSE 'pending' END, \
                recording_error = CASE WHEN verdict.gone THEN $5 ELSE $4 END \
         FROM verdict WHERE c.id = verdict.id \
         RETURNING verdict.gone, c.recording_not_listed_since",
    )
    .bind(call.id)
    .bind(call.attempts)
    .bind(grace.as_secs_f64())
    .bind(&waiting)
    .bind(&gone)
    .fetch_optional(pool)
    .await
    .map_err(CallsError::db("marking a call not listed on the console"))?;
    match row {
        Some((true, _)) => Ok(NotListed::Final),
        Some((false, since)) => Ok(NotListed::Yet { since }),
        None => Err(CallsError::NotFound(call.id)),
    }
}

/// Trying this call again cannot help (`reason` says why and what to do): `failed` for good now,
/// whatever attempts are left.
pub async fn give_up(pool: &PgPool, call_id: i64, reason: &str) -> Result<(), CallsError> {
    let rows = set_final(pool, call_id, "failed", reason)
        .await
        .map_err(CallsError::db("giving up on a call"))?;
    found(call_id, rows)
}

/// Who pays for a call given back unfinished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charge {
    /// The attempt [`start`] counted stays (shutdown, a failed login, a lost browser): a call
    /// started when the pass broke keeps it, so one that breaks every pass still runs out of
    /// attempts. Calls never started were charged nothing.
    Kept,
    /// The failure is not the call's (a locator the console's UI lacks, storage refusing the
    /// worker's configuration, a list that proved nothing): each call's attempts go back to
    /// what they were when it was claimed, so a call [`start`]ed on the way gets its attempt
    /// refunded. Restoring the claimed count, rather than subtracting one, makes a repeated
    /// give-back harmless and leaves unstarted calls as they are.
    Refunded,
}

/// Gives claimed calls back: `pending`, the lease cleared and free at once, charged as `charge`
/// says, with `reason` in `recording_error` when given (the last error is kept otherwise).
/// Calls already finished (stored, failed, final) are left alone.
pub async fn give_back(
    pool: &PgPool,
    calls: &[Call],
    charge: Charge,
    reason: Option<&str>,
) -> Result<(), CallsError> {
    let (ids, attempts): (Vec<i64>, Vec<i32>) = calls.iter().map(|c| (c.id, c.attempts)).unzip();
    sqlx::query(
        "UPDATE cdr_records c SET recording_status = 'pending', recording_lease_until = NULL, \
                recording_attempts = CASE WHEN $4 \
                    THEN least(c.recording_attempts, claimed.attempts) \
                    ELSE c.recording_attempts END, \
                recording_error = coalesce($3, c.recording_error) \
         FROM unnest($1::bigint[], $2::integer[]) AS claimed(id, attempts) \
         WHERE c.id = claimed.id AND c.recording_status = 'downloading'",
    )
    .bind(&ids)
    .bind(&attempts)
    .bind(reason)
    .bind(charge == Charge::Refunded)
    .execute(pool)
    .await
    .map_err(CallsError::db("giving calls back"))?;
    Ok(())
}

/// Recordings this worker stored whose AI trigger has not succeeded yet, oldest first. Only
/// `stored` rows: recordings the old scraper fetched were handed to AI by it.
pub async fn pending_ai_triggers(
    pool: &PgPool,
    tenant: TenantId,
) -> Result<Vec<PendingTrigger>, CallsError> {
    let rows: Vec<(i64, i64, String, String, Option<i32>)> = sqlx::query_as(
        "SELECT id::bigint, tenant_id::bigint, coalesce(uniqueid, '')::text, \
                recording_local_path::text, duration \
         FROM cdr_records WHERE tenant_id = $1 AND recording_status = 'stored' \
           AND ai_triggered_at IS NULL AND coalesce(recording_local_path, '') <> '' \
         ORDER BY call_date, id",
    )
    .bind(tenant.0)
    .fetch_all(pool)
    .await
    .map_err(CallsError::db("listing pending AI triggers"))?;
    Ok(rows
        .into_iter()
        .map(
            |(call_id, tenant_id, uniqueid, key, duration)| PendingTrigger {
                call_id,
                tenant_id: TenantId(tenant_id),
                uniqueid,
                key,
                duration,
            },
        )
        .collect())
}

/// The AI webhook answered 2xx for this call.
pub async fn mark_ai_triggered(pool: &PgPool, call_id: i64) -> Result<DateTime<Utc>, CallsError> {
    let at: Option<(DateTime<Utc>,)> = sqlx::query_as(
        "UPDATE cdr_records SET ai_triggered_at = now() WHERE id = $1 RETURNING ai_triggered_at",
    )
    .bind(call_id)
    .fetch_optional(pool)
    .await
    .map_err(CallsError::db("marking an AI trigger"))?;
    at.map(|(at,)| at).ok_or(CallsError::NotFound(call_id))
}

/// How many calls of `tenant` wait for a recording, held or not (`tenant list`), those the
/// console did not list yet included.
pub async fn backlog(
    pool: &PgPool,
    tenant: TenantId,
    lookback_days: u32,
) -> Result<i64, CallsError> {
    let (count,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM cdr_records WHERE {AWAITING_RECORDING}"
    )))
    .bind(tenant.0)
    .bind(i32::try_from(lookback_days).unwrap_or(i32::MAX))
    .fetch_one(pool)
    .await
    .map_err(CallsError::db("counting the backlog"))?;
    Ok(count)
}

/// The newest `limit` calls of `tenant` within LOOKBACK_DAYS that name a recording file,
/// whatever their status, read-only: what `selectors learn` looks for on the console.
pub async fn known(
    pool: &PgPool,
    tenant: TenantId,
    lookback_days: u32,
    limit: usize,
) -> Result<Vec<Call>, CallsError> {
    let rows: Vec<CallRow> = sqlx::query_as(
        "SELECT id::bigint AS id, tenant_id::bigint AS tenant_id, \
                coalesce(uniqueid, '')::text AS uniqueid, coalesce(src, '')::text AS src, \
                coalesce(dst, '')::text AS dst, call_date, recordfiles::text AS recordfiles, \
                duration, recording_attempts, recording_not_listed_since \
         FROM cdr_records \
         WHERE tenant_id = $1 AND btrim(coalesce(recordfiles, ''), '@ ') <> '' \
           AND call_date >= (now() AT TIME ZONE 'UTC') - make_interval(days => $2) \
         ORDER BY call_date DESC, id DESC LIMIT $3",
    )
    .bind(tenant.0)
    .bind(i32::try_from(lookback_days).unwrap_or(i32::MAX))
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await
    .map_err(CallsError::db("reading the known calls"))?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let uniqueid = UniqueId::parse(&row.uniqueid).ok()?;
            Some(row.into_call(uniqueid))
        })
        .collect())
}

/// Calls of `tenant` within LOOKBACK_DAYS whose recording the console did not list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unlisted {
    /// Still waiting (part of the backlog): checked again each pass until the grace period.
    pub not_listed_yet: i64,
    /// Final: still not listed once the grace period after the call had passed.
    pub not_on_console: i64,
}

/// The calls of `tenant` the console did not list, waiting and final apart (`tenant list`).
pub async fn unlisted(
    pool: &PgPool,
    tenant: TenantId,
    lookback_days: u32,
) -> Result<Unlisted, CallsError> {
    let (not_listed_yet, not_on_console): (i64, i64) =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FILTER (WHERE {AWAITING_RECORDING} \
                                   AND recording_not_listed_since IS NOT NULL), \
                count(*) FILTER (WHERE recording_status = 'not_on_console' \
                    AND call_date >= (now() AT TIME ZONE 'UTC') - make_interval(days => $2)) \
         FROM cdr_records WHERE tenant_id = $1"
        )))
        .bind(tenant.0)
        .bind(i32::try_from(lookback_days).unwrap_or(i32::MAX))
        .fetch_one(pool)
        .await
        .map_err(CallsError::db("counting calls the console does not list"))?;
    Ok(Unlisted {
        not_listed_yet,
        not_on_console,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recordfiles_split_on_at_without_empties() {
        assert_eq!(
            split_recordfiles("2026-02/auto-1-1000-2000.wav@"),
            ["2026-02/auto-1-1000-2000.wav"]
        );
        assert_eq!(split_recordfiles("a.wav@b.wav@"), ["a.wav", "b.wav"]);
        assert!(split_recordfiles("@").is_empty());
    }
}
