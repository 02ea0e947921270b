//! One pass over the tenants, after storage's preflight, and what ends it early for all of them.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, info_span, warn, Instrument as _};

use super::summary::{PassSummary, Stop};
use super::Worker;
use crate::calls;
use crate::failure::{Decision, NextStep};
use crate::ids::TenantId;
use crate::tenants;

impl Worker {
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
                .map(|entry| async {
                    let started = chrono::Utc::now();
                    let report = self.tenant_pass(entry, &stop).await;
                    super::history::record(&self.pool, started, &report).await;
                    report
                })
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
pub(super) struct PassStop {
    shutdown: CancellationToken,
    /// Cancelled by the shutdown, or by [`PassStop::storage_refused`] for this pass only.
    pub(super) token: CancellationToken,
    /// The first storage refusal, which says what to fix.
    storage: Arc<Mutex<Option<Decision>>>,
}

impl PassStop {
    fn new(shutdown: &CancellationToken) -> Self {
        Self {
            shutdown: shutdown.clone(),
            token: shutdown.child_token(),
            storage: Arc::default(),
        }
    }

    pub(super) fn is_stopped(&self) -> bool {
        self.token.is_cancelled()
    }

    /// No recording can be stored until an operator acts: every tenant stops.
    pub(super) fn storage_refused(&self, reason: String) {
        self.storage
            .lock()
            .expect("stop lock")
            .get_or_insert(Decision {
                next_step: NextStep::StopPass,
                message: reason,
            });
        self.token.cancel();
    }

    fn storage_reason(&self) -> Option<Decision> {
        self.storage.lock().expect("stop lock").clone()
    }

    /// Why tenants stop, for their log line and summary row.
    pub(super) fn why(&self) -> Stop {
        match self.shutdown.is_cancelled() {
            true => Stop::Shutdown,
            false => Stop::StorageRefused,
        }
    }
}

/// A short random id that ties a pass's log lines together.
fn uuid_like() -> String {
    format!("{:08x}", rand::random::<u32>())
}
