//! One pass over the tenants, step by step as the operators' guide tells it:
//! get active tenants → log in → download → convert → upload → record → trigger AI.
//!
//! Postgres is the source of truth: calls are claimed with a lease before the browser opens,
//! and every call ends the pass stored, failed (with its reason), not listed on the console yet
//! (checked again, uncharged), not on the console, or released for the next pass. One tenant's
//! trouble never stops another.
//!
//! Storage is the exception, because it is shared: before any tenant is processed its preflight
//! runs, and a storage that refuses the worker's configuration (a missing bucket, a refused key)
//! stops the pass for every tenant, before a call is claimed or, when the refusal only shows
//! mid-pass, like a shutdown, with the refused calls given back uncharged.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use sqlx::PgPool;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, info_span, warn, Instrument as _, Span};

use crate::ai::{AiJob, AiTrigger};
use crate::calls::{self, Call, ClaimPolicy, NotListed};
use crate::config::Settings;
use crate::console::{
    BrowserConfig, CallQuery, ConsoleError, ConsoleSession, ConsoleTarget, DownloadDirError,
    DownloadRoot, Downloaded, Window,
};
use crate::db;
use crate::failure::{Decision, Failure, NextStep};
use crate::ids::TenantId;
use crate::learned::Healer;
use crate::metrics::{Metrics, PassState, Stage};
use crate::secrets::PasswordCipher;
use crate::storage::{self, Keys, ObjectStore, StorageError};
use crate::tenants::{self, Tenant, TenantEntry};
use crate::transcode::{self, TranscodeError};
use crate::unmatched::{Keeper, Keeping, Kept, ListRead, PassTenant, Unmatched};
use crate::ways;

/// A call that failed this often is left `failed` for an operator instead of being retried.
const MAX_ATTEMPTS: i32 = 5;
/// How long a claim holds a call; a crashed worker's calls come back after it.
const LEASE: Duration = Duration::from_secs(60 * 60);

/// Everything a pass needs, built once by [`Worker::build`] for `run`, `once` and the tests.
pub struct Worker {
    pool: PgPool,
    settings: Settings,
    cipher: PasswordCipher,
    browser: BrowserConfig,
    recorder: Recorder,
    /// Recordings the console lists without a call (issue 16).
    unmatched: Unmatched,
    metrics: Arc<Metrics>,
    /// Held while the worker lives: no other process sweeps its downloads.
    _download_root: DownloadRoot,
}

/// The half of the pipeline after a download: convert → upload → record → trigger AI.
/// Cheap to clone, so each downloaded file is finished in its own task while the browser
/// waits out the console's download gap.
#[derive(Clone)]
struct Recorder {
    pool: PgPool,
    store: Arc<dyn ObjectStore>,
    ai: Option<Arc<AiTrigger>>,
    bucket: String,
    bitrate_kbps: Option<u32>,
    metrics: Arc<Metrics>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Db(#[from] db::DbError),
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    #[error(transparent)]
    DownloadDir(#[from] DownloadDirError),
}

/// How one tenant's part of a pass ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantOutcome {
    /// Ran; the counts say what happened to its calls.
    Done,
    /// Not tried: the reason (missing credentials, blocked after failed logins).
    Skipped(String),
    /// Tried and failed: what happens next, and the message that says why.
    Failed(Decision),
}

/// One row of the pass summary.
#[derive(Debug, Clone)]
pub struct TenantReport {
    pub tenant_id: TenantId,
    pub name: String,
    pub outcome: TenantOutcome,
    pub claimed: usize,
    pub stored: usize,
    pub failed: usize,
    /// Not listed by the console yet: checked again on later passes, uncharged.
    pub not_listed_yet: usize,
    pub not_on_console: usize,
    /// Why some of `failed` failed through no fault of their own (storage unavailable, the
    /// database), the last such reason; they wait for a later pass.
    pub failed_outside: Option<String>,
}

impl TenantReport {
    fn new(tenant_id: TenantId, name: &str, outcome: TenantOutcome) -> Self {
        Self {
            tenant_id,
            name: name.to_string(),
            outcome,
            claimed: 0,
            stored: 0,
            failed: 0,
            not_listed_yet: 0,
            not_on_console: 0,
            failed_outside: None,
        }
    }
}

/// What a pass did, tenant by tenant.
#[derive(Debug, Clone, Default)]
pub struct PassSummary {
    pub tenants: Vec<TenantReport>,
    pub elapsed: Duration,
    /// Why the pass stopped for every tenant (storage refused the configuration or could not be
    /// reached), if it did.
    pub stopped: Option<String>,
    /// Calls still waiting for a recording after a pass that did not end well (see
    /// [`PassSummary::waiting_line`]); `None` when not counted.
    pub waiting: Option<i64>,
}

impl PassSummary {
    pub fn any_failed(&self) -> bool {
        self.tenants
            .iter()
            .any(|t| matches!(t.outcome, TenantOutcome::Failed(_)))
    }

    /// Why calls wait through no fault of their own: the pass was stopped, or storage (or the
    /// database) failed some calls. `once` exits non-zero on it.
    pub fn held_back(&self) -> Option<&str> {
        self.stopped.as_deref().or_else(|| {
            self.tenants
                .iter()
                .find_map(|t| t.failed_outside.as_deref())
        })
    }

    /// The line under `once`'s table when calls wait through no fault of their own: how many,
    /// and why.
    pub fn waiting_line(&self) -> Option<String> {
        let why = self.held_back()?;
        let waiting = match self.waiting {
            Some(n) => format!("{n} call(s) wait for a recording"),
            None => "calls wait for a recording".to_string(),
        };
        Some(match self.stopped.is_some() {
            true => format!("{waiting}; the pass stopped: {why}"),
            false => format!("{waiting}; some could not be stored this pass: {why}"),
        })
    }

    /// What `/healthz` reports for this pass.
    fn state(&self) -> PassState {
        match (&self.stopped, self.any_failed()) {
            (Some(_), _) => PassState::Stopped,
            (None, true) => PassState::Degraded,
            (None, false) => PassState::Ok,
        }
    }

    /// The summary table `once` prints.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<6} {:<28} {:>7} {:>6} {:>6} {:>14} {:>14}  {}\n",
            "id",
            "tenant",
            "claimed",
            "stored",
            "failed",
            "not_listed_yet",
            "not_on_console",
            "outcome"
        );
        for t in &self.tenants {
            let outcome = match &t.outcome {
                TenantOutcome::Done => "ok".to_string(),
                TenantOutcome::Skipped(why) => format!("skipped: {why}"),
                TenantOutcome::Failed(why) => format!("FAILED: {why}"),
            };
            out.push_str(&format!(
                "{:<6} {:<28} {:>7} {:>6} {:>6} {:>14} {:>14}  {}\n",
                t.tenant_id.0,
                truncate(&t.name, 28),
                t.claimed,
                t.stored,
                t.failed,
                t.not_listed_yet,
                t.not_on_console,
                outcome
            ));
        }
        out
    }
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

impl Worker {
    /// Connects, migrates and prepares storage: the same builder for `run`, `once` and tests.
    /// `window`: whether the browsers show their windows (`--headed`).
    pub async fn build(
        settings: Settings,
        window: Window,
        metrics: Arc<Metrics>,
    ) -> Result<Self, BuildError> {
        let connections = (settings.max_parallel_tenants as u32 * 2 + 2).max(4);
        let pool = db::connect(&settings.database_url, connections).await?;
        db::migrate(&pool).await?;
        let browser = BrowserConfig::from_settings(&settings, window);
        let download_root = DownloadRoot::hold(&browser).await?;
        let store = storage::from_settings(&settings)?;
        let recorder = Recorder {
            pool: pool.clone(),
            store: store.clone(),
            ai: AiTrigger::from_settings(&settings).map(Arc::new),
            bucket: settings.bucket.clone(),
            bitrate_kbps: settings.mp3_bitrate_kbps,
            metrics: metrics.clone(),
        };
        Ok(Self {
            unmatched: Unmatched::new(
                pool.clone(),
                settings.unmatched.clone(),
                store,
                metrics.clone(),
            ),
            cipher: settings.password_cipher(),
            browser,
            recorder,
            pool,
            settings,
            metrics,
            _download_root: download_root,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// One pass over every active tenant (or only `only`), at most `MAX_PARALLEL_TENANTS` at
    /// a time, after storage's preflight. Stops claiming new work once `shutdown` fires, or
    /// storage refuses the configuration.
    pub async fn pass(&self, only: Option<TenantId>, shutdown: &CancellationToken) -> PassSummary {
        let started = Instant::now();
        let span = info_span!("pass", pass.id = %uuid_like());
        let stop = PassStop::new(shutdown);
        let mut summary = async {
            let entries = match tenants::load_active(&self.pool, &self.cipher, only).await {
                Ok(entries) => entries,
                Err(error) => {
                    error!(%error, "Could not load tenants; no tenant processed this pass");
                    return PassSummary::default();
                }
            };
            info!("Found {} active tenants with UCM configured", entries.len());
            if let Err(problem) = self.recorder.store.preflight().await {
                error!("Storage cannot take recordings; no call is claimed this pass: {problem}");
                stop.storage_refused(problem.to_string());
            }
            let tenants = futures::stream::iter(entries)
                .map(|entry| self.tenant_pass(entry, &stop))
                .buffer_unordered(self.settings.max_parallel_tenants)
                .collect::<Vec<_>>()
                .await;
            PassSummary {
                tenants,
                stopped: stop.storage_reason(),
                ..PassSummary::default()
            }
        }
        .instrument(span)
        .await;
        summary.tenants.sort_by_key(|t| t.tenant_id);
        if summary.held_back().is_some() {
            summary.waiting = self.count_waiting(&summary).await;
        }
        summary.elapsed = started.elapsed();
        self.metrics.pass_finished(
            summary.elapsed.as_secs_f64(),
            summary.state(),
            summary.held_back(),
        );
        summary
    }

    /// The calls of the pass's tenants that still wait for a recording.
    async fn count_waiting(&self, summary: &PassSummary) -> Option<i64> {
        let mut total = 0;
        for tenant in &summary.tenants {
            match calls::backlog(&self.pool, tenant.tenant_id, self.settings.lookback_days).await {
                Ok(n) => total += n,
                Err(error) => {
                    warn!(%error, "Could not count the calls left waiting");
                    return None;
                }
            }
        }
        Some(total)
    }
}

/// Ends a pass early for every tenant: a shutdown, or storage refusing the worker's
/// configuration. Tenants then claim and start no more calls; what they hold goes back.
#[derive(Clone)]
struct PassStop {
    shutdown: CancellationToken,
    /// Cancelled by the shutdown, or by [`PassStop::storage_refused`] for this pass only.
    token: CancellationToken,
    /// The first storage refusal, which says what to fix.
    storage: Arc<Mutex<Option<String>>>,
}

impl PassStop {
    fn new(shutdown: &CancellationToken) -> Self {
        Self {
            shutdown: shutdown.clone(),
            token: shutdown.child_token(),
            storage: Arc::default(),
        }
    }

    fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    /// No recording can be stored until an operator acts: every tenant stops.
    fn storage_refused(&self, reason: String) {
        self.storage
            .lock()
            .expect("stop lock")
            .get_or_insert(reason);
        self.token.cancel();
    }

    fn storage_reason(&self) -> Option<String> {
        self.storage.lock().expect("stop lock").clone()
    }

    /// Why tenants stop, for their log line and summary row.
    fn why(&self) -> &'static str {
        match self.shutdown.is_cancelled() {
            true => "shutting down",
            false => "storage cannot take recordings (see the line below the table)",
        }
    }
}

/// A short random id that ties a pass's log lines together.
fn uuid_like() -> String {
    format!("{:08x}", rand::random::<u32>())
}

impl Worker {
    async fn tenant_pass(&self, entry: TenantEntry, stop: &PassStop) -> TenantReport {
        match entry {
            TenantEntry::MissingCredentials { id, name } => {
                info!("Missing UCM credentials for tenant {name}. Skipping.");
                TenantReport::new(
                    id,
                    &name,
                    TenantOutcome::Skipped("missing UCM credentials".into()),
                )
            }
            TenantEntry::Blocked {
                id, name, until, ..
            } => {
                info!("Tenant {name} is blocked after failed logins until {until}. Skipping.");
                TenantReport::new(
                    id,
                    &name,
                    TenantOutcome::Skipped(format!("blocked after failed logins until {until}")),
                )
            }
            TenantEntry::Broken { id, name, error } => {
                error!(tenant.id = %id, "{error}");
                TenantReport::new(id, &name, TenantOutcome::Failed(error.decision()))
            }
            TenantEntry::Ready(tenant) => {
                let span = info_span!("tenant", tenant.id = %tenant.id, tenant.name = %tenant.name);
                self.run_tenant(tenant, stop).instrument(span).await
            }
        }
    }

    async fn run_tenant(&self, tenant: Tenant, stop: &PassStop) -> TenantReport {
        info!("Processing tenant: {} (ID: {})", tenant.name, tenant.id);
        let lock = match tenants::lock_console(&self.pool, tenant.id).await {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                info!(
                    "Another worker is processing tenant {} right now. Skipping.",
                    tenant.name
                );
                let why = "another worker holds its console".to_string();
                return TenantReport::new(tenant.id, &tenant.name, TenantOutcome::Skipped(why));
            }
            Err(error) => {
                error!(%error, "Could not take the tenant's console lock");
                return TenantReport::new(
                    tenant.id,
                    &tenant.name,
                    TenantOutcome::Failed(error.decision()),
                );
            }
        };
        let report = self.run_locked_tenant(tenant, stop).await;
        lock.release().await;
        report
    }

    async fn run_locked_tenant(&self, tenant: Tenant, stop: &PassStop) -> TenantReport {
        let mut report = TenantReport::new(tenant.id, &tenant.name, TenantOutcome::Done);
        self.recorder.retry_ai_triggers(tenant.id).await;
        if stop.is_stopped() {
            report.outcome = TenantOutcome::Skipped(stop.why().into());
            return report;
        }
        let calls = match calls::claim(&self.pool, tenant.id, &self.claim_policy()).await {
            Ok(calls) => calls,
            Err(error) => {
                error!(%error, "Could not claim calls");
                report.outcome = TenantOutcome::Failed(error.decision());
                return report;
            }
        };
        info!("Found {} calls needing recordings", calls.len());
        report.claimed = calls.len();
        let named = PassTenant {
            id: tenant.id,
            name: &tenant.name,
        };
        let (calls, list_read) = self
            .unmatched
            .before_downloads(named, calls, &self.recorder, &mut report.stored)
            .await;
        if calls.is_empty() && list_read == ListRead::NotDue {
            self.unmatched.tell(named).await;
            return report; // no browser session at all
        }
        let mut session = match ConsoleSession::open(&self.browser, console_target(&tenant)).await {
            Ok(session) => session,
            Err(error) => {
                self.metrics.failure(Stage::Login);
                error!(%error, "Could not open a browser session");
                release(&self.pool, &calls).await;
                report.outcome = TenantOutcome::Failed(error.decision());
                return report;
            }
        };
        match ways::load(&self.pool, tenant.id).await {
            Ok(way) => way.into_iter().for_each(|way| session.follow_way(way)),
            Err(error) => warn!(%error, "Searching for the Recordings list afresh"),
        }
        // The session is closed whatever happened inside, before the outcome is reported.
        let worked = self
            .work_calls(&mut session, &tenant, &calls, &mut report, stop)
            .await;
        if worked.is_ok() && list_read == ListRead::Due && !stop.is_stopped() {
            let budget = (self.claim_policy().limit as usize).saturating_sub(calls.len());
            let keeping = Keeping {
                keeper: &self.recorder,
                budget,
                stop: &stop.token,
            };
            self.unmatched.read_list(&mut session, named, keeping).await;
        }
        if let Err(error) = ways::save(&self.pool, tenant.id, session.way()).await {
            warn!(%error, "The next pass searches for the Recordings list afresh");
        }
        session.close().await;
        self.unmatched.tell(named).await;
        if let Err(error) = worked {
            report.outcome = TenantOutcome::Failed(error.decision());
        }
        report
    }

    /// Signs in once, then fetches each claimed call in turn. Each downloaded file is finished
    /// (convert, upload, record, trigger) in its own task while the next download waits out
    /// the console's gap. Calls not reached (shutdown, storage refusing the configuration, a
    /// fatal console error) are released, and given back uncharged when the error is the
    /// console's UI rather than the call's.
    async fn work_calls(
        &self,
        session: &mut ConsoleSession,
        tenant: &Tenant,
        calls: &[Call],
        report: &mut TenantReport,
        stop: &PassStop,
    ) -> Result<(), ConsoleError> {
        // Issue 22: the tenant's learned selectors, and healing a drifted locator.
        let mut healer = Healer::start(
            &self.pool,
            &self.settings,
            &self.metrics,
            session,
            tenant.id,
        )
        .await;
        match healer.sign_in(session, calls.first()).await {
            Ok(signed_in) => {
                record_or_warn(
                    tenants::record_login_success(
                        &self.pool,
                        tenant.id,
                        signed_in.firmware.as_deref(),
                    )
                    .await,
                    "login success",
                );
            }
            Err(error) => {
                self.metrics.failure(Stage::Login);
                error!(%error, "Login failed");
                // No call was started: whatever the failure, every claimed call goes back.
                let reason = error.to_string();
                match error.next_step() {
                    NextStep::BlockTenant => record_or_warn(
                        tenants::record_login_failure(&self.pool, tenant.id, &reason).await,
                        "login failure",
                    ),
                    _ => record_or_warn(
                        tenants::record_error(&self.pool, tenant.id, &reason).await,
                        "tenant error",
                    ),
                }
                release(&self.pool, calls).await;
                return Err(error);
            }
        }

        let mut finishing = JoinSet::new();
        let mut reached = 0;
        let mut fatal = None;
        for call in calls {
            if stop.is_stopped() {
                info!(
                    "Stopping ({}): leaving the remaining calls for the next pass",
                    stop.why()
                );
                break;
            }
            reached += 1;
            let span = info_span!("call", call.id = call.id, call.uniqueid = %call.uniqueid);
            info!(parent: &span, "Processing call {} (Caller: {}, Callee: {})", call.uniqueid, call.src, call.dst);
            if let Err(error) = calls::start(&self.pool, call.id, LEASE).await {
                warn!(parent: &span, %error, "Could not start call {}; skipping it", call.uniqueid);
                continue;
            }
            match healer
                .download(session, &call_query(call))
                .instrument(span.clone())
                .await
            {
                Ok(file) => {
                    let (recorder, call, stop) =
                        (self.recorder.clone(), call.clone(), stop.clone());
                    finishing.spawn(
                        async move { recorder.finish(call, file, &stop).await }.instrument(span),
                    );
                }
                Err(error) => match error.next_step() {
                    NextStep::NotListed => {
                        self.not_listed(call, report).instrument(span.clone()).await;
                    }
                    NextStep::RetryCallUncharged => {
                        self.metrics.failure(Stage::Download);
                        warn!(parent: &span, %error, "Could not tell where the call's row is; trying it again next pass, uncharged");
                        report.failed += 1;
                        record_or_warn(
                            calls::retry_uncharged(&self.pool, call, &error.to_string()).await,
                            "uncertain list",
                        );
                    }
                    NextStep::RetryCall => {
                        self.download_failed(&error, report, &span);
                        record_or_warn(
                            calls::mark_failed(
                                &self.pool,
                                call.id,
                                &error.to_string(),
                                MAX_ATTEMPTS,
                            )
                            .await,
                            "download failure",
                        );
                    }
                    NextStep::EndCall => {
                        self.download_failed(&error, report, &span);
                        record_or_warn(
                            calls::give_up(&self.pool, call.id, &error.to_string()).await,
                            "download failure",
                        );
                    }
                    // The console or the browser is unusable (a changed UI, a refused login, a
                    // stuck browser): the rest of this tenant's calls wait for the next pass.
                    _ => {
                        self.metrics.failure(Stage::Download);
                        error!(parent: &span, %error, "Stopping this tenant's pass");
                        record_or_warn(
                            tenants::record_error(&self.pool, tenant.id, &error.to_string()).await,
                            "tenant error",
                        );
                        reached -= 1; // it goes back with the others
                        fatal = Some(error);
                        break;
                    }
                },
            }
            // At most one file finishing behind the browser: bounded disk and memory.
            while finishing.len() > 1 {
                tally(report, finishing.join_next().await);
            }
        }
        while let Some(done) = finishing.join_next().await {
            tally(report, Some(done));
        }
        let unfinished = &calls[reached..];
        match fatal.as_ref().map(Failure::next_step) {
            Some(NextStep::StopTenantUncharged) => give_back(&self.pool, unfinished).await,
            // The call in progress keeps its attempt: one that breaks every pass runs out.
            _ => release(&self.pool, unfinished).await,
        }
        fatal.map_or(Ok(()), Err)
    }

    /// A download that failed on this call's own account; what becomes of the call is the
    /// caller's to record.
    fn download_failed(&self, error: &ConsoleError, report: &mut TenantReport, span: &Span) {
        self.metrics.failure(Stage::Download);
        error!(parent: span, %error, "Download failed");
        report.failed += 1;
    }

    /// The console does not list the call's recording (positive evidence, not an unsettled
    /// list): uncharged, and checked again on later passes until `NOT_LISTED_GRACE` after the
    /// call; only then final.
    async fn not_listed(&self, call: &Call, report: &mut TenantReport) {
        let grace = self.settings.not_listed_grace;
        let marked = calls::mark_not_listed(&self.pool, call, grace).await;
        match &marked {
            Ok(NotListed::Yet { since }) => {
                report.not_listed_yet += 1;
                info!(
                    event = "RecordingNotListedYet",
                    "Recording of call {} is not listed on the console yet (first missed {since}); \
                     checked again each pass until {} after the call",
                    call.uniqueid,
                    humantime::format_duration(grace)
                );
            }
            Ok(NotListed::Final) => {
                report.not_on_console += 1;
                warn!(
                    event = "RecordingNotOnConsole",
                    "Recording of call {} is not on the console: still not listed {} after the call",
                    call.uniqueid,
                    humantime::format_duration(grace)
                );
            }
            Err(_) => {}
        }
        record_or_warn(marked, "recording not listed");
    }

    /// Calls claimed per tenant per pass: as many as the download gap lets through in one
    /// interval, so a pass ends before the next one is due.
    fn claim_policy(&self) -> ClaimPolicy {
        let gap = self.settings.download_gap.as_secs_f64().max(0.1);
        ClaimPolicy {
            lookback_days: self.settings.lookback_days,
            lease: LEASE,
            limit: (self.settings.scrape_interval.as_secs_f64() / gap).clamp(1.0, 500.0) as i64,
            max_attempts: MAX_ATTEMPTS,
        }
    }
}

fn tally(report: &mut TenantReport, joined: Option<Result<Finished, tokio::task::JoinError>>) {
    match joined {
        Some(Ok(Finished::Stored)) => report.stored += 1,
        Some(Ok(Finished::NotStored(decision))) => match decision.next_step {
            // Back to pending uncharged; the pass's stop reason speaks for it.
            NextStep::StopPass => {}
            NextStep::WaitForService => {
                report.failed += 1;
                report.failed_outside = Some(decision.message);
            }
            _ => report.failed += 1,
        },
        Some(Err(error)) => {
            error!(%error, "A recording task panicked; its call stays leased until the lease ends");
            report.failed += 1;
        }
        None => {}
    }
}

/// Where and how to log into a tenant's console.
pub(crate) fn console_target(tenant: &Tenant) -> ConsoleTarget {
    ConsoleTarget {
        tenant_id: tenant.id,
        tenant_name: tenant.name.clone(),
        base_url: tenant.console.base_url.clone(),
        username: tenant.console.username.clone(),
        password: tenant.console.password.clone(),
        timezone: tenant.timezone,
    }
}

pub(crate) fn call_query(call: &Call) -> CallQuery {
    CallQuery {
        call_id: call.id,
        uniqueid: call.uniqueid.clone(),
        caller: call.src.clone(),
        callee: call.dst.clone(),
        call_date_utc: call.call_date,
        recordfiles: call.recordfiles.clone(),
    }
}

async fn release(pool: &PgPool, calls: &[Call]) {
    if calls.is_empty() {
        return;
    }
    let ids: Vec<i64> = calls.iter().map(|c| c.id).collect();
    record_or_warn(
        calls::release(pool, &ids).await,
        "release of unprocessed calls",
    );
}

/// Gives calls back uncharged: what stopped them is not their fault (a UI change, see
/// [`NextStep::StopTenantUncharged`]), so it must never use up their attempts.
async fn give_back(pool: &PgPool, calls: &[Call]) {
    if calls.is_empty() {
        return;
    }
    record_or_warn(
        calls::give_back(pool, calls).await,
        "uncharged give-back of unprocessed calls",
    );
}

/// Bookkeeping that fails is logged, not fatal: the lease brings the call back.
fn record_or_warn<T, E: std::fmt::Display>(result: Result<T, E>, what: &str) {
    if let Err(error) = result {
        warn!(%error, "Could not record the {what} in the database; the call comes back after its lease");
    }
}

/// Why a downloaded recording was not stored, by the step that failed; what happens next is
/// the failing part's own answer.
#[derive(Debug, thiserror::Error)]
enum RecordingError {
    #[error("the downloaded file is not a recording: {0}")]
    NotARecording(TranscodeError),
    #[error(transparent)]
    Upload(StorageError),
    /// Uploaded but not recorded in `cdr_records`.
    #[error(transparent)]
    Record(calls::CallsError),
}

impl RecordingError {
    fn stage(&self) -> Stage {
        match self {
            Self::NotARecording(_) => Stage::Transcode,
            Self::Upload(_) => Stage::Upload,
            Self::Record(_) => Stage::Record,
        }
    }
}

impl Failure for RecordingError {
    fn next_step(&self) -> NextStep {
        match self {
            Self::NotARecording(error) => error.next_step(),
            Self::Upload(error) => error.next_step(),
            Self::Record(error) => error.next_step(),
        }
    }
}

/// How one downloaded recording ended.
enum Finished {
    Stored,
    /// Not stored: a charged failed attempt ([`NextStep::RetryCall`]), one held back by a
    /// service ([`NextStep::WaitForService`], which the pass reports), or given back uncharged
    /// because storage refused the configuration ([`NextStep::StopPass`]).
    NotStored(Decision),
}

impl Recorder {
    /// Converts, uploads, records and triggers one downloaded recording.
    /// The working files are removed whatever happens: the console keeps the original, and a
    /// failed call is fetched again on a later pass.
    async fn finish(&self, call: Call, file: Downloaded, stop: &PassStop) -> Finished {
        let mp3 = file.path.with_extension("mp3");
        let result = self
            .store_recording(&call, &file.path, file.bytes, &mp3)
            .await;
        remove_quietly(&file.path).await;
        remove_quietly(&mp3).await;
        let error = match result {
            Ok(()) => return Finished::Stored,
            Err(error) => error,
        };
        let stage = error.stage();
        self.metrics.failure(stage);
        let decision = error.decision();
        let reason = &decision.message;
        match decision.next_step {
            NextStep::StopPass => {
                error!(
                    stage = stage.as_str(),
                    "Recording of call {} not stored, and no other can be: {reason}. Stopping the \
                     pass; its calls go back uncharged",
                    call.uniqueid
                );
                stop.storage_refused(reason.clone());
                record_or_warn(
                    calls::give_back(&self.pool, std::slice::from_ref(&call)).await,
                    "give-back",
                );
            }
            // The call's own failure, or a service's (storage, the database): charged alike.
            _ => {
                error!(
                    stage = stage.as_str(),
                    "Recording of call {} not stored: {reason}", call.uniqueid
                );
                record_or_warn(
                    calls::mark_failed(&self.pool, call.id, reason, MAX_ATTEMPTS).await,
                    "failure",
                );
            }
        }
        Finished::NotStored(decision)
    }

    async fn store_recording(
        &self,
        call: &Call,
        wav: &Path,
        original_bytes: u64,
        mp3: &Path,
    ) -> Result<(), RecordingError> {
        let keys = Keys::recording(call.tenant_id, &call.uniqueid);
        let kept = self.upload(wav, original_bytes, mp3, keys).await?;
        self.record_stored(call, kept).await
    }

    /// Converts (keeping the original when the transcoder cannot) and uploads under the key
    /// of the format stored.
    async fn upload(
        &self,
        wav: &Path,
        original_bytes: u64,
        mp3: &Path,
        keys: Keys,
    ) -> Result<Kept, RecordingError> {
        let (upload, key, content_type, stored_bytes) =
            match self.convert(wav.to_path_buf(), mp3.to_path_buf()).await {
                Ok(report) => {
                    info!("Converted to MP3: {report}");
                    (mp3, keys.mp3, "audio/mpeg", report.output_bytes)
                }
                Err(error) if error.next_step() == NextStep::KeepOriginal => {
                    warn!("Failed to convert to MP3: {error}. Using original file.");
                    (wav, keys.wav, "audio/wav", original_bytes)
                }
                Err(error) => return Err(RecordingError::NotARecording(error)),
            };
        self.store
            .put_file(&key, upload, content_type)
            .await
            .map_err(RecordingError::Upload)?;
        Ok(Kept {
            key,
            stored_bytes,
            original_bytes,
        })
    }

    /// Records the call stored under `kept.key` and triggers AI. Upload first, then record: a
    /// crash between the two only causes an idempotent re-upload of the same key on a later
    /// pass, never a row pointing at nothing.
    async fn record_stored(&self, call: &Call, kept: Kept) -> Result<(), RecordingError> {
        let Kept {
            key,
            stored_bytes,
            original_bytes,
        } = kept;
        calls::mark_stored(
            &self.pool,
            call.id,
            key.as_str(),
            stored_bytes as i64,
            original_bytes as i64,
        )
        .await
        .map_err(RecordingError::Record)?;
        self.metrics.recording_stored(original_bytes, stored_bytes);
        info!(
            event = "RecordingStored",
            "Stored {}",
            self.store.location(&key)
        );
        self.trigger_ai(
            call.tenant_id,
            call.id,
            &call.uniqueid,
            key.as_str(),
            call.duration,
        )
        .await;
        Ok(())
    }

    async fn convert(
        &self,
        wav: PathBuf,
        mp3: PathBuf,
    ) -> Result<transcode::TranscodeReport, TranscodeError> {
        let bitrate = self.bitrate_kbps;
        tokio::task::spawn_blocking(move || transcode::transcode_file(&wav, &mp3, bitrate))
            .await
            .expect("the transcoder does not panic")
    }

    async fn trigger_ai(
        &self,
        tenant_id: TenantId,
        call_id: i64,
        uniqueid: &crate::ids::UniqueId,
        key: &str,
        duration: Option<i32>,
    ) {
        let Some(ai) = &self.ai else { return };
        let job = AiJob {
            tenant_id,
            call_id,
            uniqueid: uniqueid.clone(),
            bucket: self.bucket.clone(),
            key: key.to_string(),
            duration_secs: duration.map(i64::from),
        };
        match ai.trigger(&job).await {
            Ok(()) => record_or_warn(
                calls::mark_ai_triggered(&self.pool, call_id).await,
                "AI trigger",
            ),
            Err(error) => {
                self.metrics.failure(Stage::Trigger);
                warn!(%error, "AI processing not triggered for call {uniqueid}; retried on the next pass");
            }
        }
    }

    /// Triggers left pending by an earlier pass (the webhook was down) are sent again first.
    async fn retry_ai_triggers(&self, tenant: TenantId) {
        if self.ai.is_none() {
            return;
        }
        match calls::pending_ai_triggers(&self.pool, tenant).await {
            Ok(pending) => {
                for call in pending {
                    let Ok(uniqueid) = crate::ids::UniqueId::parse(&call.uniqueid) else {
                        continue; // claim() already marked such a row failed
                    };
                    self.trigger_ai(tenant, call.call_id, &uniqueid, &call.key, call.duration)
                        .await;
                }
            }
            Err(error) => warn!(%error, "Could not read pending AI triggers"),
        }
    }
}

#[async_trait::async_trait]
impl Keeper for Recorder {
    async fn keep(&self, file: Downloaded, keys: Keys) -> Result<Kept, String> {
        let mp3 = file.path.with_extension("mp3");
        let kept = self.upload(&file.path, file.bytes, &mp3, keys).await;
        remove_quietly(&file.path).await;
        remove_quietly(&mp3).await;
        kept.map_err(|error| error.to_string())
    }

    async fn linked(&self, call: &Call, kept: Kept) -> Result<(), String> {
        self.record_stored(call, kept)
            .await
            .map_err(|error| error.to_string())
    }
}

async fn remove_quietly(path: &Path) {
    match tokio::fs::remove_file(path).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => warn!(%error, path = %path.display(), "Could not remove a working file"),
    }
}
