//! What a pass did, tenant by tenant: the rows `once` prints, and the pass's state for
//! `/healthz`.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::failure::Decision;
#[cfg(doc)]
use crate::failure::NextStep;
use crate::ids::TenantId;
use crate::metrics::PassState;

/// How one tenant's part of a pass ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantOutcome {
    /// Ran; the counts say what happened to its calls.
    Done,
    /// Not tried, and why.
    Skipped(Skipped),
    /// Tried and failed: what happens next, and the message that says why.
    Failed(Decision),
}

/// Why a tenant was not tried this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skipped {
    /// `pbx_ip`, `pbx_username` or `pbx_password` is missing.
    MissingCredentials,
    /// A failed login blocks it until then, unless its credentials change first.
    Blocked { until: DateTime<Utc> },
    /// Another worker holds its console lock right now.
    ConsoleHeld,
    /// The pass stopped before the tenant claimed anything.
    PassStopped(Stop),
}

/// What stopped a pass for every tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// `run` got SIGTERM or SIGINT.
    Shutdown,
    /// Storage refused the worker's configuration ([`PassSummary::stopped`] says how).
    StorageRefused,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stop::Shutdown => "shutting down",
            Stop::StorageRefused => "storage cannot take recordings (see the line below the table)",
        })
    }
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skipped::MissingCredentials => f.write_str("missing UCM credentials"),
            Skipped::Blocked { until } => write!(f, "blocked after failed logins until {until}"),
            Skipped::ConsoleHeld => f.write_str("another worker holds its console"),
            Skipped::PassStopped(stop) => stop.fmt(f),
        }
    }
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
    /// database): the last such failure ([`NextStep::WaitForService`]); they wait for a later
    /// pass.
    pub failed_outside: Option<Decision>,
    /// The road the tenant's recordings took ([`crate::driver::Driver::road`]); `None` when no
    /// driver was opened.
    pub road: Option<&'static str>,
}

impl TenantReport {
    pub(super) fn new(tenant_id: TenantId, name: &str, outcome: TenantOutcome) -> Self {
        Self {
            tenant_id,
            name: name.to_string(),
            outcome,
            claimed: 0,
            road: None,
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
    /// reached), if it did ([`NextStep::StopPass`]).
    pub stopped: Option<Decision>,
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
        self.stopped
            .as_ref()
            .or_else(|| self.tenants.iter().find_map(|t| t.failed_outside.as_ref()))
            .map(|decision| decision.message.as_str())
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
    pub(super) fn state(&self) -> PassState {
        match (&self.stopped, self.any_failed()) {
            (Some(_), _) => PassState::Stopped,
            (None, true) => PassState::Degraded,
            (None, false) => PassState::Ok,
        }
    }

    /// The summary table `once` prints.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<6} {:<28} {:<11} {:>7} {:>6} {:>6} {:>14} {:>14}  {}\n",
            "id",
            "tenant",
            "road",
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
                "{:<6} {:<28} {:<11} {:>7} {:>6} {:>6} {:>14} {:>14}  {}\n",
                t.tenant_id.0,
                truncate(&t.name, 28),
                t.road.unwrap_or("-"),
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
