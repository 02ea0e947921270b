//! Each claimed call through the signed-in session, and what becomes of it: handed to the
//! recorder, not listed yet, failed on its own account, or given back with the rest.

use std::slice;

use sqlx::PgPool;
use tokio::task::JoinSet;
use tracing::{error, info, info_span, warn, Instrument as _};

use super::pass::PassStop;
use super::recorder::{record_or_warn, Finished};
use super::summary::TenantReport;
use super::{Worker, LEASE, MAX_ATTEMPTS};
use crate::calls::{self, Call, Charge, NotListed};
use crate::driver::{Driver, DriverError};
use crate::failure::NextStep;
use crate::metrics::Stage;
use crate::tenants::{self, Tenant};

impl Worker {
    /// Signs in once, then fetches each claimed call in turn. Each fetched file is finished
    /// (convert, upload, record, trigger) in its own task while the next fetch waits out the
    /// console's gap. Calls not reached (shutdown, storage refusing the configuration, a fatal
    /// driver error) are given back, uncharged when the error is not the calls' own.
    pub(super) async fn work_calls(
        &self,
        driver: &mut dyn Driver,
        tenant: &Tenant,
        calls: &[Call],
        report: &mut TenantReport,
        stop: &PassStop,
    ) -> Result<(), DriverError> {
        if let Err(error) = self.sign_in(driver, tenant, calls).await {
            // No call was started: whatever the failure, every claimed call goes back.
            give_back(&self.pool, calls, Charge::Kept).await;
            return Err(error);
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
            match driver.fetch(call).instrument(span.clone()).await {
                Ok(file) => {
                    let (recorder, call, stop) =
                        (self.recorder.clone(), call.clone(), stop.clone());
                    finishing.spawn(
                        async move { recorder.finish(call, file, &stop).await }.instrument(span),
                    );
                }
                Err(error) => {
                    let handled = self
                        .fetch_failed(tenant, call, error, report)
                        .instrument(span)
                        .await;
                    if let Err(error) = handled {
                        reached -= 1; // it goes back with the others
                        fatal = Some(error);
                        break;
                    }
                }
            }
            // At most one file finishing behind the browser: bounded disk and memory.
            while finishing.len() > 1 {
                tally(report, finishing.join_next().await);
            }
        }
        while let Some(done) = finishing.join_next().await {
            tally(report, Some(done));
        }
        let charge = fatal
            .as_ref()
            .map_or(Charge::Kept, |e| charge_after(e.next_step()));
        give_back(&self.pool, &calls[reached..], charge).await;
        fatal.map_or(Ok(()), Err)
    }

    /// Signs in and records how it went on the tenant: the firmware seen, or the failure (a
    /// refused login blocks the tenant).
    async fn sign_in(
        &self,
        driver: &mut dyn Driver,
        tenant: &Tenant,
        calls: &[Call],
    ) -> Result<(), DriverError> {
        let error = match driver.sign_in(calls).await {
            Ok(signed_in) => {
                let firmware = signed_in.firmware.as_deref();
                record_or_warn(
                    tenants::record_login_success(&self.pool, tenant.id, firmware).await,
                    "login success",
                );
                return Ok(());
            }
            Err(error) => error,
        };
        self.metrics.failure(Stage::Login);
        error!(%error, "Login failed");
        let reason = error.to_string();
        match error.next_step() {
            NextStep::BlockTenant => record_or_warn(
                tenants::record_login_failure(&self.pool, tenant.id, &reason).await,
                "login failure",
            ),
            NextStep::RetryCall
            | NextStep::RetryCallUncharged
            | NextStep::EndCall
            | NextStep::NotListed
            | NextStep::KeepOriginal
            | NextStep::WaitForService
            | NextStep::StopTenant
            | NextStep::StopTenantUncharged
            | NextStep::StopPass => record_or_warn(
                tenants::record_error(&self.pool, tenant.id, &reason).await,
                "tenant error",
            ),
        }
        Err(error)
    }

    /// Records what becomes of `call` after its fetch failed with `error`, as the error's next
    /// step says. `Err` when the tenant's pass stops: the driver or the console is unusable (a
    /// changed UI, a stuck browser), and the rest of its calls wait for the next pass.
    async fn fetch_failed(
        &self,
        tenant: &Tenant,
        call: &Call,
        error: DriverError,
        report: &mut TenantReport,
    ) -> Result<(), DriverError> {
        let reason = error.to_string();
        match error.next_step() {
            NextStep::NotListed => self.not_listed(call, report).await,
            NextStep::RetryCallUncharged => {
                self.metrics.failure(Stage::Download);
                warn!(%error, "Could not tell where the call's row is; trying it again next pass, uncharged");
                report.failed += 1;
                record_or_warn(
                    calls::give_back(
                        &self.pool,
                        slice::from_ref(call),
                        Charge::Refunded,
                        Some(&reason),
                    )
                    .await,
                    "uncertain list",
                );
            }
            NextStep::RetryCall => {
                self.download_failed(&reason, report);
                record_or_warn(
                    calls::mark_failed(&self.pool, call.id, &reason, MAX_ATTEMPTS).await,
                    "download failure",
                );
            }
            NextStep::EndCall => {
                self.download_failed(&reason, report);
                record_or_warn(
                    calls::give_up(&self.pool, call.id, &reason).await,
                    "download failure",
                );
            }
            NextStep::KeepOriginal
            | NextStep::WaitForService
            | NextStep::StopTenant
            | NextStep::StopTenantUncharged
            | NextStep::BlockTenant
            | NextStep::StopPass => {
                self.metrics.failure(Stage::Download);
                error!(%error, "Stopping this tenant's pass");
                record_or_warn(
                    tenants::record_error(&self.pool, tenant.id, &reason).await,
                    "tenant error",
                );
                return Err(error);
            }
        }
        Ok(())
    }

    /// A download that failed on this call's own account; what becomes of the call is the
    /// caller's to record.
    fn download_failed(&self, error: &str, report: &mut TenantReport) {
        self.metrics.failure(Stage::Download);
        error!(%error, "Download failed");
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
}

fn tally(report: &mut TenantReport, joined: Option<Result<Finished, tokio::task::JoinError>>) {
    match joined {
        Some(Ok(Finished::Stored)) => report.stored += 1,
        Some(Ok(Finished::NotStored(decision))) => match decision.next_step {
            // Back to pending uncharged; the pass's stop reason speaks for it.
            NextStep::StopPass => {}
            NextStep::WaitForService => {
                report.failed += 1;
                report.failed_outside = Some(decision);
            }
            NextStep::RetryCall
            | NextStep::RetryCallUncharged
            | NextStep::EndCall
            | NextStep::NotListed
            | NextStep::KeepOriginal
            | NextStep::StopTenant
            | NextStep::StopTenantUncharged
            | NextStep::BlockTenant => report.failed += 1,
        },
        Some(Err(error)) => {
            error!(%error, "A recording task panicked; its call stays leased until the lease ends");
            report.failed += 1;
        }
        None => {}
    }
}

/// Gives calls back for the next pass, charged as `charge` says (see [`Charge`]).
pub(super) async fn give_back(pool: &PgPool, calls: &[Call], charge: Charge) {
    if calls.is_empty() {
        return;
    }
    record_or_warn(
        calls::give_back(pool, calls, charge, None).await,
        "give-back of unprocessed calls",
    );
}

/// Who pays for the calls a tenant's pass gives back after it stopped on a failure with this
/// next step: nobody when the failure is not the calls' (the console's UI, storage's
/// configuration); otherwise the call in progress keeps its attempt, so one that breaks every
/// pass runs out of them.
fn charge_after(step: NextStep) -> Charge {
    match step {
        NextStep::StopTenantUncharged | NextStep::StopPass => Charge::Refunded,
        NextStep::RetryCall
        | NextStep::RetryCallUncharged
        | NextStep::EndCall
        | NextStep::NotListed
        | NextStep::KeepOriginal
        | NextStep::WaitForService
        | NextStep::StopTenant
        | NextStep::BlockTenant => Charge::Kept,
    }
}
