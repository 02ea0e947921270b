//! Learned selectors files (issue 22): a tenant's own file, learnt by the worker when a required
//! locator drifted on its console, kept in Postgres (`learned_selectors`) so every replica uses
//! it, and never written into SELECTORS_DIR. [`Healer`] is the pass's side: it hands a stored
//! file to the tenant's session, heals each drifted key once a pass at most, and says so.

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

/// Stores (or replaces) the tenant's learned file, with the firmware its console showed in
/// this session (`None`: not shown, or not read yet).
async fn save(
    pool: &PgPool,
    tenant: TenantId,
    status: Status,
    file: (&str, &str, &str),
    firmware: Option<&str>,
) -> Result<(), StoreError> {
    let (selectors, changed, evidence) = file;
    sqlx::query(
        "INSERT INTO learned_selectors (tenant_id, status, selectors, changed, evidence, firmware) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (tenant_id) DO UPDATE SET status = $2, selectors = $3, changed = $4, \
             evidence = $5, firmware = $6, learned_at = now()",
    )
    .bind(tenant.0)
    .bind(status.as_str())
    .bind(selectors)
    .bind(changed)
    .bind(evidence)
    .bind(firmware)
    .execute(pool)
    .await
    .map_err(db("storing a learned selectors file"))?;
    Ok(())
}

/// The firmware the console showed once the login that healed its signed-in marker ended (the
/// marker is learnt before the firmware is read).
async fn set_firmware(pool: &PgPool, tenant: TenantId, firmware: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE learned_selectors SET firmware = $2 WHERE tenant_id = $1")
        .bind(tenant.0)
        .bind(firmware)
        .execute(pool)
        .await
        .map_err(db("recording a learned file's firmware"))?;
    Ok(())
}

/// Another tenant's learned file in use, learnt on a console showing `firmware`: the newest.
#[derive(Debug, sqlx::FromRow)]
struct Shared {
    tenant_id: i32,
    selectors: String,
    changed: String,
}

async fn same_firmware(
    pool: &PgPool,
    tenant: TenantId,
    firmware: &str,
) -> Result<Option<Shared>, StoreError> {
    sqlx::query_as(
        "SELECT tenant_id, selectors, changed FROM learned_selectors \
         WHERE status = 'use' AND firmware = $2 AND tenant_id <> $1 \
         ORDER BY learned_at DESC LIMIT 1",
    )
    .bind(tenant.0)
    .bind(firmware)
    .fetch_optional(pool)
    .await
    .map_err(db("looking for a learned file of the same firmware"))
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
    /// Whether `in_use` is the file stored by an earlier pass (dropped when a key of it finds
    /// nothing), not one learnt in this pass (which a later learning of this pass builds on).
    stored_in_use: bool,
    /// The keys learning ran for in this pass. Each drifted key is learnt once a pass at most:
    /// one pass can heal the marker at login and then a list locator, each with its own proof,
    /// yet a key that finds nothing again after its own learning is not learnt again, so
    /// learning never loops (at most one learning per healable key, a fixed handful, a pass).
    tried: Vec<String>,
    /// What this pass learnt so far, one `key: old → new` per line, and its proof: a later
    /// learning of the same pass stores them with its own, since its file holds both.
    learnt_changes: Vec<String>,
    learnt_evidence: Vec<String>,
    /// The firmware the console showed at this session's login, when it showed one.
    firmware: Option<String>,
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
            stored_in_use: false,
            tried: Vec::new(),
            learnt_changes: Vec::new(),
            learnt_evidence: Vec::new(),
            firmware: None,
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
                    healer.stored_in_use = true;
                }
                Err(error) => healer.drop_learned(&error.to_string()).await,
            }
        }
        healer
    }

    /// Signs in; when the login left the login form but the signed-in marker found nothing,
    /// heals the marker from the page the login landed on (once a pass for that key), proven by finding a
    /// known call on the list with it: `first` (the pass's first call), then the tenant's
    /// newest known ones. Without `first` nothing is learnt.
    pub async fn sign_in(
        &mut self,
        session: &mut ConsoleSession,
        first: Option<&Call>,
    ) -> Result<SignedIn, ConsoleError> {
        let error = match session.sign_in().await {
            Ok(signed_in) => {
                self.firmware.clone_from(&signed_in.firmware);
                return Ok(signed_in);
            }
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
        if !self.learnt(session, SIGNED_IN, healed).await {
            return Err(error);
        }
        let signed_in = session.signed_in_healed().await?;
        self.firmware.clone_from(&signed_in.firmware);
        if let Some(firmware) = &self.firmware {
            if let Err(error) = set_firmware(self.pool, self.tenant, firmware).await {
                warn!(%error, "The learned file is kept without its firmware; it is not shared");
            }
        }
        Ok(signed_in)
    }

    /// Downloads the call; when a required list locator finds nothing, heals it (once a pass per
    /// key): from another tenant's learned file of the same firmware ([`Self::shared`]), else
    /// from the live page; with `SELECTORS_AUTOLEARN=use` and proof, tries the call again
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
        let healed = match self.shared(session, &known).await {
            Some(shared) => Ok(shared),
            None => {
                session
                    .heal(
                        &key,
                        self.in_use.as_deref(),
                        &learned_name(self.tenant),
                        &known,
                    )
                    .await
            }
        };
        match self.learnt(session, &key, healed).await {
            true => session.download(call).await,
            false => Err(error),
        }
    }

    /// Whether `key` may be learnt now: learning is on and has not run for `key` this pass. A
    /// learned file stored by an earlier pass whose key found nothing is dropped.
    async fn may_learn(&mut self, key: &str) -> bool {
        if self.settings.autolearn == AutoLearn::Off || self.tried.iter().any(|k| k == key) {
            return false;
        }
        self.tried.push(key.to_string());
        if self.stored_in_use {
            self.stored_in_use = false;
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
        self.learnt_changes.extend(changed.iter().cloned());
        self.learnt_evidence.extend(healed.evidence.iter().cloned());
        let (all_changed, all_evidence) = (
            self.learnt_changes.join("\n"),
            self.learnt_evidence.join("\n"),
        );
        let file = (healed.toml.as_str(), &*all_changed, &*all_evidence);
        let saved = save(
            self.pool,
            self.tenant,
            status,
            file,
            self.firmware.as_deref(),
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

    /// Another tenant's learned file, when one in use was learnt on a console showing the
    /// firmware this console shows, proven on this tenant's `known` calls. A file of another or
    /// an unknown firmware is never tried: one tenant's learning changes another's locators only
    /// where their consoles show the same firmware.
    async fn shared(&self, session: &mut ConsoleSession, known: &[CallQuery]) -> Option<Healed> {
        let firmware = self.firmware.as_deref()?;
        let other = match same_firmware(self.pool, self.tenant, firmware).await {
            Ok(other) => other?,
            Err(error) => {
                warn!(%error, "Learning from the live page instead");
                return None;
            }
        };
        let from = format!(
            "the learned file of tenant {} (firmware {firmware})",
            other.tenant_id
        );
        let named = learned_name(self.tenant);
        let adopted = session
            .adopt(&other.selectors, &other.changed, &from, &named, known)
            .await;
        match adopted {
            Ok(healed) => {
                info!(
                    event = "SelectorsShared",
                    "Trying {from}: its console shows the same firmware, and it found this                      tenant's known calls on the list"
                );
                Some(healed)
            }
            Err(why) => {
                info!(
                    event = "SelectorsShared",
                    "Not using {from}: {why}; learning from the live page instead"
                );
                None
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
