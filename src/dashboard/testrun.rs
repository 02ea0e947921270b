//! "Test connection": what `ucm-scraper tenant test` runs, started from the dashboard and run in
//! the background, one run per tenant at a time. Its page shows each step as it finishes and
//! reloads itself (a `refresh` header, no script) until the run is over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::config::Settings;
use crate::console::Window;
use crate::ids::TenantId;
use crate::probe::{self, ProbeStep};

/// Where a step stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepState {
    Waiting,
    Done(String),
    Failed(String),
}

/// One run of the test, as its page shows it.
#[derive(Debug, Clone)]
pub struct TestRun {
    pub operator: String,
    pub started_at: DateTime<Utc>,
    pub steps: Vec<(ProbeStep, StepState)>,
    /// `tenant test`'s report once the run succeeded.
    pub summary: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl TestRun {
    fn new(operator: &str) -> Self {
        Self {
            operator: operator.to_string(),
            started_at: Utc::now(),
            steps: ProbeStep::ALL
                .iter()
                .map(|s| (*s, StepState::Waiting))
                .collect(),
            summary: None,
            finished_at: None,
        }
    }

    fn set(&mut self, step: ProbeStep, state: StepState) {
        if let Some((_, slot)) = self.steps.iter_mut().find(|(s, _)| *s == step) {
            *slot = state;
        }
    }

    /// The first step not done yet takes the failure.
    fn fail(&mut self, error: String) {
        match self
            .steps
            .iter_mut()
            .find(|(_, state)| *state == StepState::Waiting)
        {
            Some((_, slot)) => *slot = StepState::Failed(error),
            None => self.summary = Some(error),
        }
    }
}

/// The runs of this process, by tenant (the last one of each is kept for its page).
#[derive(Clone, Default)]
pub struct TestRuns(Arc<Mutex<HashMap<TenantId, TestRun>>>);

impl TestRuns {
    pub fn get(&self, tenant: TenantId) -> Option<TestRun> {
        self.0.lock().expect("test runs lock").get(&tenant).cloned()
    }

    /// Starts a run for `tenant` unless one is under way; false when one was.
    pub fn start(
        &self,
        pool: PgPool,
        settings: Arc<Settings>,
        window: Window,
        tenant: TenantId,
        operator: &str,
    ) -> bool {
        {
            let mut runs = self.0.lock().expect("test runs lock");
            if runs
                .get(&tenant)
                .is_some_and(|run| run.finished_at.is_none())
            {
                return false;
            }
            runs.insert(tenant, TestRun::new(operator));
        }
        let runs = self.clone();
        tokio::spawn(async move {
            let update = |change: &dyn Fn(&mut TestRun)| {
                if let Some(run) = runs.0.lock().expect("test runs lock").get_mut(&tenant) {
                    change(run);
                }
            };
            let done = |step: ProbeStep, found: Result<String, String>| {
                let state = match found {
                    Ok(found) => StepState::Done(found),
                    Err(problem) => StepState::Failed(problem),
                };
                update(&|run| run.set(step, state.clone()));
            };
            let probed = probe::probe_step_by_step(
                &pool,
                &settings,
                window,
                tenant,
                probe::ApiProbe::Session,
                &done,
            )
            .await;
            match probed {
                Ok(probe) => {
                    let summary = probe.summary();
                    update(&|run| {
                        run.set(
                            ProbeStep::Console,
                            StepState::Done("signed in; the report is below".to_string()),
                        );
                        run.summary = Some(summary.clone());
                    });
                }
                Err(error) => {
                    tracing::warn!(tenant.id = %tenant, %error, "Dashboard connection test failed");
                    update(&|run| run.fail(error.to_string()));
                }
            }
            update(&|run| run.finished_at = Some(Utc::now()));
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_lands_on_the_first_step_not_done() {
        let mut run = TestRun::new("ops");
        run.set(ProbeStep::Tenant, StepState::Done("console".into()));
        run.fail("no browser".into());
        assert_eq!(run.steps[1].1, StepState::Failed("no browser".into()));
        assert_eq!(run.steps[2].1, StepState::Waiting);
    }
}
