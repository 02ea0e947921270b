//! `ucm-scraper doctor`: [`crate::doctor`]'s checks, one line each.

use super::{CommandError, Outcome};
use crate::config::Settings;
use crate::console::Window;

/// Prints every check; fails when any check failed. Applies no migration: unapplied ones are a
/// failed check of their own.
pub(super) async fn check(window: Window) -> Result<Outcome, CommandError> {
    let report = crate::doctor::run(&Settings::from_env()?, window).await;
    print!("{report}");
    Ok(Outcome::of(report.passed()))
}
