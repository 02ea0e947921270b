//! Recordings the console lists but no `cdr_records` row references (README: Recordings without
//! a CDR row): noticed, reported, kept on request, and linked when their call arrives.
//!
//! Calls reach the database through the CDR feed (the UCM's CDR Real-Time Output to the
//! backend). When the feed breaks, calls never arrive, and their recordings stay on the console
//! until it deletes the oldest. So during a tenant's pass the worker reads the newest part of the
//! Recordings list (down to where the last read stopped, within a page budget), notes the files
//! no CDR row references in its own table, and says so once per pass. With
//! `UNMATCHED_RECORDINGS=store` it also keeps them under `tenant_<id>/unmatched/`; when their
//! call arrives later, the kept object is copied to the call's key instead of downloading again.
//!
//! Some consoles show no file name in a row (the row key is the console's own id). Such rows
//! are matched to the tenant's known calls the way the download finds a call's row, by caller,
//! callee and time within the selectors file's tolerance ([`listed`]); the rows no call claims
//! are noted under a key made of what they show, and a kept one takes the name its download
//! gives. Rows that show neither a file name nor caller, callee and time are said so, once per
//! pass: a silent zero would tell the operator that nothing is missing.
//!
//! Every step is written after the work it records, so a crash between any two only repeats
//! idempotent work: an upload or copy onto the same key, a scan's rows noted again.

mod keep;
mod listed;
mod table;

use std::sync::Arc;

use chrono::Utc;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::calls::Call;
use crate::config::{UnmatchedMode, UnmatchedSettings};
use crate::console::{Downloaded, ListedRecording, NewestQuery, ScanEnd};
use crate::driver::{Driver, DriverError};
use crate::failure::{Decision, Failure, NextStep};
use crate::ids::TenantId;
use crate::metrics::Metrics;
use crate::storage::{Keys, ObjectStore, StorageKey};
use table::Noted;

pub use table::{Entry, TableError};

/// The tenant a pass works for, as this module needs it: its id for the table and the
/// metric, its name for the log lines.
#[derive(Debug, Clone, Copy)]
pub struct PassTenant<'a> {
    pub id: TenantId,
    pub name: &'a str,
}

/// What the pipeline does with a recording the worker keeps or links.
#[async_trait::async_trait]
pub trait Keeper: Send + Sync {
    /// Converts and uploads a downloaded recording under `keys` (its [`Keys::unmatched`]), with
    /// no call and no AI trigger; removes the working files. A failure says what happens next
    /// ([`NextStep::StopPass`] ends the keeping).
    async fn keep(&self, file: Downloaded, keys: Keys) -> Result<Kept, Decision>;

    /// `call`'s recording is now at `kept.key` (copied from a kept one): record it and trigger
    /// AI as for any stored call.
    async fn linked(&self, call: &Call, kept: Kept) -> Result<(), Decision>;
}

/// How much of a pass's keeping may happen, and for whom.
pub struct Keeping<'a> {
    pub keeper: &'a dyn Keeper,
    /// Downloads at most, paced like any other.
    pub budget: usize,
    /// Keeping stops once this fires (shutdown, storage refusing the configuration).
    pub stop: &'a CancellationToken,
}

/// Where a kept recording went.
#[derive(Debug, Clone)]
pub struct Kept {
    pub key: StorageKey,
    pub stored_bytes: u64,
    pub original_bytes: u64,
}

/// The feature's one door for the pipeline.
pub struct Unmatched {
    pool: PgPool,
    settings: UnmatchedSettings,
    store: Arc<dyn ObjectStore>,
    metrics: Arc<Metrics>,
}

/// What the tenant's pass does with the list this time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListRead {
    /// Read the newest part of the list after the calls.
    Due,
    /// Not this pass.
    NotDue,
}

impl Unmatched {
    pub fn new(
        pool: PgPool,
        settings: UnmatchedSettings,
        store: Arc<dyn ObjectStore>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            pool,
            settings,
            store,
            metrics,
        }
    }

    /// Before the browser opens: notes calls that arrived for noticed recordings, links the
    /// claimed calls whose recording is kept already (no download), and says whether this pass
    /// reads the list. Returns the calls still to download.
    pub async fn before_downloads(
        &self,
        tenant: PassTenant<'_>,
        calls: Vec<Call>,
        keeper: &dyn Keeper,
        linked: &mut usize,
    ) -> (Vec<Call>, ListRead) {
        if self.settings.mode == UnmatchedMode::Off {
            return (calls, ListRead::NotDue);
        }
        if let Err(error) = table::reconcile(&self.pool, tenant.id).await {
            warn!(%error, "Could not match noticed recordings to new calls; trying next pass");
        }
        let mut rest = Vec::with_capacity(calls.len());
        for call in calls {
            match self.link(tenant.id, &call, keeper).await {
                true => *linked += 1,
                false => rest.push(call),
            }
        }
        let due = self.list_read_due(tenant.id, rest.is_empty()).await;
        (rest, due)
    }

    /// With calls to download the list is read every pass (the driver is open anyway);
    /// without, a login only for it happens every `UNMATCHED_IDLE_EVERY`.
    async fn list_read_due(&self, tenant: TenantId, idle: bool) -> ListRead {
        if !idle {
            return ListRead::Due;
        }
        let last = match table::scan_state(&self.pool, tenant).await {
            Ok(state) => state.map(|s| s.scanned_at),
            Err(error) => {
                warn!(%error, "Could not tell when the Recordings list was last read; not reading it this pass");
                return ListRead::NotDue;
            }
        };
        let every = chrono::Duration::from_std(self.settings.idle_every).unwrap_or_default();
        match last {
            Some(at) if Utc::now() - at < every => ListRead::NotDue,
            _ => ListRead::Due,
        }
    }

    /// Links `call` to its kept recording, if there is one: copy, record, trigger, mark. False
    /// when the call must be downloaded as usual (nothing kept, or the copy failed).
    async fn link(&self, tenant: TenantId, call: &Call, keeper: &dyn Keeper) -> bool {
        let entry = match table::stored_copy(&self.pool, tenant, &call.recordfiles).await {
            Ok(Some(entry)) => entry,
            Ok(None) => return false,
            Err(error) => {
                warn!(%error, "Could not look for a kept copy of call {}; downloading it", call.uniqueid);
                return false;
            }
        };
        let Some(kept) = kept_copy(&entry) else {
            return false;
        };
        let to = kept_key_for(call, &kept.key);
        if let Err(error) = self.store.copy(&kept.key, &to).await {
            warn!(%error, "Could not copy the kept recording {} to call {}; downloading it", kept.key, call.uniqueid);
            return false;
        }
        if let Err(error) = keeper.linked(call, Kept { key: to, ..kept }).await {
            warn!(
                "Call {} not linked to its kept recording: {error}",
                call.uniqueid
            );
            return false;
        }
        info!(
            event = "UnmatchedRecordingLinked",
            "Call {} linked to its recording {} kept without a call; no download needed",
            call.uniqueid,
            entry.file
        );
        if let Err(error) = table::mark_matched(&self.pool, tenant, &entry.file, call.id).await {
            warn!(%error, "Could not mark {} matched; the next pass does", entry.file);
        }
        true
    }

    /// After the calls, with the driver signed in: reads the newest part of the list, notes
    /// what has no CDR row, and keeps it when `UNMATCHED_RECORDINGS=store`, as `keeping` says.
    pub(crate) async fn read_list(
        &self,
        driver: &mut dyn Driver,
        tenant: PassTenant<'_>,
        keeping: Keeping<'_>,
    ) {
        if let Err(error) = self.match_arrived(&*driver, tenant.id).await {
            warn!("{error}");
        }
        if let Err(error) = self.note_newest(driver, tenant).await {
            warn!("{error}");
            return;
        }
        if self.settings.mode == UnmatchedMode::Store {
            self.keep(driver, tenant, keeping).await;
        }
    }

    async fn note_newest(
        &self,
        driver: &mut dyn Driver,
        tenant: PassTenant<'_>,
    ) -> Result<(), ReadError> {
        let state = table::scan_state(&self.pool, tenant.id).await?;
        let window = chrono::Duration::from_std(self.settings.window).unwrap_or_default();
        let query = NewestQuery {
            newest: state.and_then(|s| Some((s.newest_shown_at?, s.newest_file?))),
            not_before: Utc::now() - window,
            max_pages: self.settings.max_pages,
        };
        let read = match driver.newest_recordings(&query).await {
            Ok(read) => read,
            Err(error) => {
                // Nothing noted and the mark unmoved; only the time of the try, so a tenant
                // with no calls is not logged into every pass while its list misbehaves.
                table::record_scan(&self.pool, tenant.id, &Noted::default(), None).await?;
                return Err(ReadError::List {
                    tenant: tenant.id,
                    error,
                });
            }
        };
        if read.end == ScanEnd::Budget {
            warn!(
                "Read {} page(s) of tenant {}'s Recordings list (UNMATCHED_MAX_PAGES) without \
                 reaching the last read; older rows of this stretch are not checked",
                read.pages, tenant.name
            );
        }
        let rows = read.recordings.len();
        let newest = read.recordings.iter().find_map(|r| {
            let key = r.file.clone().unwrap_or_else(|| table::unnamed_key(r));
            Some((r.shown_at?, key))
        });
        let sorted = listed::sort(read.recordings);
        let (unnamed, calls_known_upto) =
            self.unclaimed(&*driver, tenant.id, sorted.unnamed).await?;
        let noted = Noted {
            named: sorted.named,
            unnamed,
            calls_known_upto,
        };
        let noticed = table::record_scan(&self.pool, tenant.id, &noted, newest).await?;
        if sorted.untold > 0 {
            untold(tenant, sorted.untold, rows);
        }
        tracing::debug!(pages = read.pages, rows, noticed, "Recordings list read");
        Ok(())
    }

    /// The rows without a file name that no known call claims, and the greatest call id known
    /// when the calls were read.
    async fn unclaimed(
        &self,
        driver: &dyn Driver,
        tenant: TenantId,
        rows: Vec<ListedRecording>,
    ) -> Result<(Vec<ListedRecording>, Option<i32>), ReadError> {
        let Some(span) = listed::span(rows.iter().map(|r| r.shown_at)) else {
            return Ok((rows, None));
        };
        let (calls, upto) = table::calls_between(&self.pool, tenant, span, 0).await?;
        let owners = listed::owners(&rows, &calls, |row, call| driver.listed_match(row, call));
        let unclaimed = rows
            .into_iter()
            .zip(owners)
            .filter_map(|(row, owner)| owner.is_none().then_some(row))
            .collect();
        Ok((unclaimed, upto))
    }

    /// Recordings noticed without a file name whose call has arrived since: matched to it the
    /// way their rows would be, by calls that were not known when they were noticed.
    async fn match_arrived(&self, driver: &dyn Driver, tenant: TenantId) -> Result<(), ReadError> {
        let entries = table::unnamed_open(&self.pool, tenant).await?;
        let Some(span) = listed::span(entries.iter().map(|e| e.shown_at)) else {
            return Ok(());
        };
        let upto = |entry: &Entry| entry.calls_known_upto.unwrap_or(0);
        // Only calls that arrived since: after a long outage there are many entries, few such.
        let after = entries.iter().map(upto).min().unwrap_or(0);
        let (calls, _) = table::calls_between(&self.pool, tenant, span, after).await?;
        let owners = listed::owners(&entries, &calls, |entry, call| {
            let arrived = call.call_id > i64::from(upto(entry));
            arrived
                .then(|| driver.listed_match(&entry.listed(), call))
                .flatten()
        });
        for (entry, owner) in entries.iter().zip(owners) {
            if let Some(call) = owner.map(|c| &calls[c]) {
                table::mark_matched(&self.pool, tenant, &entry.file, call.call_id).await?;
                info!(
                    "Recording {} (noticed without a CDR row) is call {}'s: it has arrived",
                    entry.file, call.uniqueid
                );
            }
        }
        Ok(())
    }

    /// The pass's word on the tenant: one line when recordings without a call are waiting, and
    /// the `/metrics` gauge.
    pub async fn tell(&self, tenant: PassTenant<'_>) {
        if self.settings.mode == UnmatchedMode::Off {
            return;
        }
        let count = match table::open_count(&self.pool, tenant.id).await {
            Ok(count) => count,
            Err(error) => return warn!("{error}"),
        };
        self.metrics.unmatched_recordings(tenant.id, count as u64);
        if count > 0 {
            warn!(
                event = "UnmatchedRecordings",
                "Tenant {} (ID: {}) has {count} recording(s) on its console that no call in \
                 cdr_records references: check the CDR feed (CDR Real-Time Output on the UCM, \
                 and the backend that receives it); see `ucm-scraper tenant unmatched {}`",
                tenant.name,
                tenant.id,
                tenant.id
            );
        }
    }
}

/// The recordings noticed without a call for `tenant unmatched ID`, oldest first.
pub async fn not_matched(pool: &PgPool, tenant: TenantId) -> Result<Vec<Entry>, TableError> {
    table::not_matched(pool, tenant).await
}

/// How many recordings without a call a tenant has (kept or not), for `tenant list`.
pub async fn open_count(pool: &PgPool, tenant: TenantId) -> Result<i64, TableError> {
    table::open_count(pool, tenant).await
}

/// Says once per pass that `untold` of the `rows` read show neither a file name nor caller,
/// callee and time, so whether their recordings have a call cannot be told.
fn untold(tenant: PassTenant<'_>, untold: usize, rows: usize) {
    warn!(
        event = "UnmatchedCannotTell",
        "Tenant {} (ID: {}): {untold} of {rows} row(s) read from its Recordings list show \
         neither a file name nor a caller, callee and readable call time, so recordings without \
         a CDR row cannot be told among them and are not counted; check `[recordings]` \
         `caller`, `callee`, `time`, `time_format` (and `file_attribute`, if the rows hold the \
         file name) of its selectors file with `ucm-scraper selectors check --tenant {}`",
        tenant.name,
        tenant.id,
        tenant.id
    );
}

/// An entry's kept object, when its row says where.
fn kept_copy(entry: &Entry) -> Option<Kept> {
    let key = entry.storage_key.as_deref()?;
    Some(Kept {
        key: StorageKey::parse_kept(key)?,
        stored_bytes: entry.stored_bytes.unwrap_or(0) as u64,
        original_bytes: entry.original_bytes.unwrap_or(0) as u64,
    })
}

/// The call's canonical key, with the kept object's extension (`mp3`, or `wav`).
fn kept_key_for(call: &Call, kept: &StorageKey) -> StorageKey {
    let extension = kept.as_str().rsplit('.').next().unwrap_or("mp3");
    StorageKey::recording(call.tenant_id, &call.uniqueid, extension)
}

/// Why reading the list or keeping a recording stopped; each names the tenant.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(
        "Recordings without a CDR row not checked for tenant {tenant} this pass: {error}; the \
         next pass reads the list again from the same point"
    )]
    List {
        tenant: TenantId,
        error: DriverError,
    },
    #[error(
        "A recording without a CDR row of tenant {tenant} was not downloaded: {error}; it is \
         tried again next pass"
    )]
    Download {
        tenant: TenantId,
        error: DriverError,
    },
    #[error(
        "Recording {file} of tenant {tenant} was downloaded but not kept: {reason}; it is \
         tried again next pass"
    )]
    Keep {
        tenant: TenantId,
        file: String,
        reason: Decision,
    },
    #[error(
        "Recording {file} of tenant {tenant} cannot be kept: its name is not a plain file name \
         (letters, digits, `.`, `-`, `_`), so it has no safe storage key; it stays reported"
    )]
    NoSafeKey { tenant: TenantId, file: String },
}

impl Failure for ReadError {
    fn next_step(&self) -> NextStep {
        match self {
            // The database, a service outside the recording.
            ReadError::Table(_) => NextStep::WaitForService,
            ReadError::List { error, .. } | ReadError::Download { error, .. } => error.next_step(),
            ReadError::Keep { reason, .. } => reason.next_step(),
            // Trying again cannot give it a safe key.
            ReadError::NoSafeKey { .. } => NextStep::EndCall,
        }
    }
}
