//! One tenant's part of a pass: its console lock, its claim, the calls linked without a
//! download, the browser session, the calls, and the read of the Recordings list.

use tracing::{error, info, info_span, Instrument as _};

use super::call::give_back;
use super::pass::PassStop;
use super::recorder::PassKeeper;
use super::summary::{Skipped, TenantOutcome, TenantReport};
use super::{Worker, LEASE, MAX_ATTEMPTS};
use crate::calls::{self, Charge, ClaimPolicy};
use crate::failure::Failure;
use crate::metrics::Stage;
use crate::tenants::{self, Tenant, TenantEntry};
use crate::unmatched::{Keeping, ListRead, PassTenant};

impl Worker {
    pub(super) async fn tenant_pass(&self, entry: TenantEntry, stop: &PassStop) -> TenantReport {
        match entry {
            TenantEntry::MissingCredentials { id, name } => {
                info!("Missing UCM credentials for tenant {name}. Skipping.");
                let skipped = TenantOutcome::Skipped(Skipped::MissingCredentials);
                TenantReport::new(id, &name, skipped)
            }
            TenantEntry::Blocked {
                id, name, until, ..
            } => {
                info!("Tenant {name} is blocked after failed logins until {until}. Skipping.");
                let skipped = TenantOutcome::Skipped(Skipped::Blocked { until });
                TenantReport::new(id, &name, skipped)
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
                let skipped = TenantOutcome::Skipped(Skipped::ConsoleHeld);
                return TenantReport::new(tenant.id, &tenant.name, skipped);
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
            report.outcome = TenantOutcome::Skipped(Skipped::PassStopped(stop.why()));
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
        let keeper = PassKeeper {
            recorder: &self.recorder,
            stop,
        };
        let named = PassTenant {
            id: tenant.id,
            name: &tenant.name,
        };
        let (calls, list_read) = self
            .unmatched
            .before_downloads(named, calls, &keeper, &mut report.stored)
            .await;
        if calls.is_empty() && list_read == ListRead::NotDue {
            self.unmatched.tell(named).await;
            return report; // no driver opened at all
        }
        let mut driver = match self.drivers.open(&tenant).await {
            Ok(driver) => driver,
            Err(error) => {
                self.metrics.failure(Stage::Login);
                error!(%error, "Could not open a browser session");
                give_back(&self.pool, &calls, Charge::Kept).await;
                report.outcome = TenantOutcome::Failed(error.decision());
                return report;
            }
        };
        // The driver is closed whatever happened inside, before the outcome is reported.
        let worked = self
            .work_calls(driver.as_mut(), &tenant, &calls, &mut report, stop)
            .await;
        if worked.is_ok() && list_read == ListRead::Due && !stop.is_stopped() {
            let budget = (self.claim_policy().limit as usize).saturating_sub(calls.len());
            let keeping = Keeping {
                keeper: &keeper,
                budget,
                stop: &stop.token,
            };
            self.unmatched
                .read_list(driver.as_mut(), named, keeping)
                .await;
        }
        report.road = Some(driver.road());
        driver.close().await;
        self.unmatched.tell(named).await;
        if let Err(error) = worked {
            report.outcome = TenantOutcome::Failed(error.decision());
        }
        report
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
