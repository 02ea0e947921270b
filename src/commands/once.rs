//! `ucm-scraper once [--tenant ID]`: one pass, then its summary table.

use std::sync::Arc;

use super::{CommandError, Outcome};
use crate::config::Settings;
use crate::console::Window;
use crate::ids::TenantId;
use crate::metrics::Metrics;
use crate::pipeline::Worker;
use crate::scheduler;

/// One pass, then the summary table and, when calls wait through no fault of their own, a line
/// saying how many and why. Fails when any tenant failed or any call was held back (storage,
/// configuration).
pub(super) async fn pass(
    settings: Settings,
    window: Window,
    only: Option<TenantId>,
) -> Result<Outcome, CommandError> {
    let metrics = Arc::new(Metrics::new(settings.scrape_interval * 3));
    let pool = super::pass_database(&settings).await?;
    let worker = Worker::build(pool, settings, window, metrics).await?;
    let shutdown = scheduler::shutdown_on_signals().map_err(CommandError::Signals)?;
    let summary = worker.pass(only, &shutdown).await;
    print!("{}", summary.table());
    if let Some(line) = summary.waiting_line() {
        println!("{line}");
    }
    Ok(Outcome::of(
        !summary.any_failed() && summary.held_back().is_none(),
    ))
}
