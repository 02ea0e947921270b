//! `ucm-scraper run`: the scheduler loop, with `/healthz` and `/metrics` on `METRICS_ADDR` and
//! the operators' dashboard on `DASHBOARD_ADDR`.

use std::sync::Arc;

use super::{CommandError, Outcome};
use crate::config::Settings;
use crate::console::Window;
use crate::metrics::{self, Metrics};
use crate::pipeline::Worker;
use crate::scheduler;

/// A pass every `SCRAPE_INTERVAL` until SIGTERM/SIGINT; the current call finishes and browsers
/// close.
pub(super) async fn scheduler_loop(
    settings: Settings,
    window: Window,
) -> Result<Outcome, CommandError> {
    let interval = settings.scrape_interval;
    let metrics_addr = settings.metrics_addr;
    let dashboard_settings = settings.clone();
    // Three missed passes and /healthz reports the worker stuck.
    let metrics = Arc::new(Metrics::new(interval * 3));
    let pool = super::pass_database(&settings).await?;
    let worker = Worker::build(pool, settings, window, metrics.clone()).await?;
    let shutdown = scheduler::shutdown_on_signals().map_err(CommandError::Signals)?;
    if let Some(addr) = metrics_addr {
        let bound = metrics::serve(addr, metrics, shutdown.clone())
            .await
            .map_err(|error| CommandError::Serve { addr, error })?;
        tracing::info!("Serving /healthz and /metrics on http://{bound}");
    }
    if let Some(addr) = dashboard_settings.dashboard.addr {
        let pool = worker.pool().clone();
        crate::dashboard::serve(addr, dashboard_settings, window, pool, shutdown.clone())
            .await
            .map_err(super::dashboard::DashboardCommandError::from)?;
    }
    let worker = &worker;
    scheduler::run_every(interval, shutdown, |token| async move {
        let summary = worker.pass(None, &token).await;
        if let Some(line) = summary.waiting_line() {
            tracing::warn!("{line}");
        }
        tracing::info!(
            seconds = summary.elapsed.as_secs_f64(),
            failed = summary.any_failed(),
            "Pass finished; next in {}",
            humantime::format_duration(interval)
        );
    })
    .await;
    tracing::info!("Stopped: browsers closed, unfinished calls released");
    Ok(Outcome::Success)
}
