//! Learned selectors files (issue 22): a tenant's own file, learnt by the worker when a required
//! locator drifted on its console, kept in Postgres (`learned_selectors`) so every replica uses
//! it, and never written into SELECTORS_DIR. [`Healer`] is the pass's side: it hands a stored
//! file to the tenant's session, heals a drifted locator once per pass at most, and says so.

use sqlx::PgPool;
use tracing::{info, warn};

use crate::calls::{self, Call};
use crate::config::{AutoLearn, Settings};
use crate::console::{
    drifted_key, learned_name, CallQuery, ConsoleError, ConsoleSession, Downloaded, Healed,
    NotHealed, SignedIn, SIGNED_IN,
};
use crate::ids::TenantId;
use crate::metrics::Metrics;
use crate::selectors::SelectorSet;

/// Known calls the inference looks for on the live page (besides the call in hand).
const KNOWN_CALLS: usize = 10;

#[derive(Debug, thiserror::Error)]
#[error("Postgres failed while {op} (learned_selectors): {error}; check DATABASE_URL and that `ucm-scraper migrate` ran")]
pub struct StoreError {
    op: &'static str,
    error: sqlx::Error,
}

fn db(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |error| StoreError { op, error }
}

/// Whether a learned file is used or waits for an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Use,
    Proposed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Use => "use",
            Status::Proposed => "proposed",
        }
    }
}

/// A tenant's learned file as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LearnedFile {
    pub status: String,
    /// The whole selectors file, TOML.
    pub selectors: String,
    /// One `key: old → new` per line.
    pub changed: String,
    pub evidence: String,
    pub firmware: Option<String>,
    pub learned_at: chrono::DateTime<chrono::Utc>,
}

impl LearnedFile {
    /// The changed keys on one line, for `tenant list`: `recordings.download (use)`.
    pub fn summary(&self) -> String {
        let keys: Vec<&str> = self
            .changed
            .lines()
            .filter_map(|l| l.split(':').next())
            .collect();
        format!("{} ({})", keys.join(", "), self.status)
    }
}

/// The tenant's learned file, if any.
pub async fn get(pool: &PgPool, tenant: TenantId) -> Result<Option<LearnedFile>, StoreError> {
    sqlx::query_as(
        "SELECT status, selectors, changed, evidence, firmware, learned_at \
         FROM learned_selectors WHERE tenant_id = $1",
    )
    .bind(tenant.0)
    .fetch_optional(pool)
    .await
    .map_err(db("reading a learned selectors file"))
}

/// Stores (or replaces) the tenant's learned file, with the firmware its console last showed.
async fn save(
    pool: &PgPool,
    tenant: TenantId,
    status: Status,
    selectors: &str,
    changed: &str,
    evidence: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO learned_selectors (tenant_id, status, selectors, changed, evidence, firmware) \
         VALUES ($1, $2, $3, $4, $5, (SELECT ucm_firmware FROM tenants WHERE id = $1)) \
         ON CONFLICT (tenant_id) DO UPDATE SET status = $2, selectors = $3, changed = $4, \
             evidence = $5, firmware = EXCLUDED.firmware, learned_at = now()",
    )
    .bind(tenant.0)
    .bind(status.as_str())
    .bind(selectors)
    .bind(changed)
    .bind(evidence)
    .execute(pool)
    .await
    .map_err(db("storing a learned selectors file"))?;
    Ok(())
}

/// Drops the tenant's learned file; whether there was one.
pub async fn forget(pool: &PgPool, tenant: TenantId) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM learned_selectors WHERE tenant_id = $1")
        .bind(tenant.0)
        .execute(pool)
        .await
        .map_err(db("dropping a learned selectors file"))?;
    Ok(done.rows_affected() > 0)
}

/// Puts a proposed file in use; whether there was one to accept.
pub async fn accept(pool: &PgPool, tenant: TenantId) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE learned_selectors SET status = 'use' WHERE tenant_id = $1 AND status = 'proposed'",
    )
    .bind(tenant.0)
    .execute(pool)
    .await
    .map_err(db("accepting a learned selectors file"))?;
    Ok(done.rows_affected() > 0)
}

/// One tenant's healing during one pass.
pub struct Healer<'a> {
    pool: &'a PgPool,
    settings: &'a Settings,
    metrics: &'a Metrics,
    tenant: TenantId,
    /// The text of the learned file the session uses, when it uses one.
    in_use: Option<String>,
    /// Learning runs once a pass at most.
    tried: bool,
}

impl<'a> Healer<'a> {
    /// Hands the tenant's stored learned file (when in use) to its session, which then uses it
    /// in place of the shipped one. A stored file that no longer parses is dropped.
    pub async fn start(
        pool: &'a PgPool,
        settings: &'a Settings,
        metrics: &'a Metrics,
        session: &mut ConsoleSession,
        tenant: TenantId,
    ) -> Healer<'a> {
        let mut healer = Healer {
            pool,
            settings,
            metrics,
            tenant,
            in_use: None,
            tried: false,
        };
        let stored = match get(pool, tenant).await {
            Ok(stored) => stored.filter(|f| f.status == Status::Use.as_str()),
            Err(error) => {
                warn!(%error, "Could not read the tenant's learned selectors; the shipped files are used");
                None
            }
        };
        if let Some(file) = stored {
            match SelectorSet::parse(&learned_name(tenant), &file.selectors) {
                Ok(set) => {
                    info!(changed = %file.changed.replace('\n', "; "), "Using the tenant's learned selectors file");
                    session.use_learned(set);
                    healer.in_use = Some(file.selectors);
                }
                Err(error) => healer.drop_learned(&error.to_string()).await,
            }
        }
        healer
    }

    /// Signs in; when the login left the login form but the signed-in marker found nothing,
    /// heals the marker from the page the login landed on (once a pass), proven by finding a
    /// known call on the list with it: `first` (the pass's first call), then the tenant's
    /// newest known ones. Without `first` nothing is learnt.
    pub async fn sign_in(
        &mut self,
        session: &mut ConsoleSession,
        first: Option<&Call>,
    ) -> Result<SignedIn, ConsoleError> {
        let error = match session.sign_in().await {
            Ok(signed_in) => return Ok(signed_in),
            Err(error) => error,
        };
        let (Some(call), Some(SIGNED_IN)) = (first.map(CallQuery::from), drifted_key(&error))
        else {
            return Err(error);
        };
        if !self.may_learn(SIGNED_IN).await {
            return Err(error);
        }
        let known = self.known(&call).await;
        let healed = session
            .heal_signed_in(self.in_use.as_deref(), &learned_name(self.tenant), &known)
            .await;
        match self.learnt(session, SIGNED_IN, healed).await {
            true => session.signed_in_healed().await,
            false => Err(error),
        }
    }

    /// Downloads the call; when a required list locator finds nothing, heals it from the live
    /// page (once a pass) and, with `SELECTORS_AUTOLEARN=use` and proof, tries the call again
    /// with the healed file.
    pub async fn download(
        &mut self,
        session: &mut ConsoleSession,
        call: &CallQuery,
    ) -> Result<Downloaded, ConsoleError> {
        let error = match session.download(call).await {
            Ok(file) => return Ok(file),
            Err(error) => error,
        };
        let Some(key) = drifted_key(&error).map(str::to_string) else {
            return Err(error);
        };
        if !self.may_learn(&key).await {
            return Err(error);
        }
        let known = self.known(call).await;
        let healed = session
            .heal(
                &key,
                self.in_use.as_deref(),
                &learned_name(self.tenant),
                &known,
            )
            .await;
        match self.learnt(session, &key, healed).await {
            true => session.download(call).await,
            false => Err(error),
        }
    }

    /// Whether `key` may be learnt now: learning is on and has not run this pass. A learned
    /// file in use whose key found nothing is dropped.
    async fn may_learn(&mut self, key: &str) -> bool {
        if self.settings.autolearn == AutoLearn::Off || self.tried {
            return false;
        }
        self.tried = true;
        if self.in_use.is_some() {
            self.drop_learned(&format!("{key} found nothing")).await;
        }
        true
    }

    /// Stores a healed file, says so, and (with `SELECTORS_AUTOLEARN=use`) puts it in use for
    /// the session; whether it is in use.
    async fn learnt(
        &mut self,
        session: &mut ConsoleSession,
        key: &str,
        healed: Result<Healed, NotHealed>,
    ) -> bool {
        let healed = match healed {
            Ok(healed) => healed,
            Err(why) => {
                warn!(
                    event = "SelectorsNotHealed",
                    "Could not learn {key} from the live page: {why}"
                );
                return false;
            }
        };
        let changed: Vec<String> = healed.changes.iter().map(ToString::to_string).collect();
        let status = match self.settings.autolearn {
            AutoLearn::Propose => Status::Proposed,
            _ => Status::Use,
        };
        let saved = save(
            self.pool,
            self.tenant,
            status,
            &healed.toml,
            &changed.join("\n"),
            &healed.evidence.join("\n"),
        )
        .await;
        if let Err(error) = &saved {
            warn!(%error, "Could not store the learned selectors file; it is used for this pass only");
        }
        self.metrics.selectors_learned(self.tenant);
        let proof = healed.evidence.len();
        match status {
            Status::Proposed => {
                warn!(
                    event = "SelectorsProposed",
                    "The console's {key} changed: {}; proven on {proof} known call(s) and stored \
                     for review (SELECTORS_AUTOLEARN=propose). Accept it with: ucm-scraper \
                     selectors accept --tenant {}",
                    changed.join("; "),
                    self.tenant
                );
                false
            }
            Status::Use => {
                warn!(
                    event = "SelectorsLearned",
                    "The console's {key} changed: {}; proven on {proof} known call(s), used for \
                     this tenant from now on (`ucm-scraper selectors learned --tenant {}` prints it)",
                    changed.join("; "),
                    self.tenant
                );
                self.in_use = Some(healed.toml);
                session.use_learned(healed.set);
                true
            }
        }
    }

    /// The call in hand and the tenant's newest known calls, to find on the live page.
    async fn known(&self, call: &CallQuery) -> Vec<CallQuery> {
        let lookback = self.settings.lookback_days;
        let mut known = vec![call.clone()];
        match calls::known(self.pool, self.tenant, lookback, KNOWN_CALLS).await {
            Ok(calls) => known.extend(
                calls
                    .iter()
                    .filter(|c| c.id != call.call_id)
                    .map(CallQuery::from),
            ),
            Err(error) => {
                warn!(%error, "Could not read the tenant's known calls; learning from the call in hand alone")
            }
        }
        known
    }

    /// A learned file that failed is dropped: the next learning starts from what the page shows.
    async fn drop_learned(&mut self, why: &str) {
        warn!(
            event = "LearnedSelectorsDropped",
            "The tenant's learned selectors file no longer fits the console ({why}): dropped"
        );
        if let Err(error) = forget(self.pool, self.tenant).await {
            warn!(%error, "Could not drop the learned selectors file");
        }
    }
}
