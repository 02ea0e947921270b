//! What `run` tells the outside while it works: `/healthz` (alive: last pass time and state),
//! `/readyz` (ready: storage took the last pass's configuration) and `/metrics` (Prometheus
//! text), on `METRICS_ADDR`.
//!
//! Names follow Prometheus conventions and their labels stay bounded: `stage` is one of the
//! pipeline's steps, `tenant` a tenant's id (never its name), never a call id.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::{extract::State, http::StatusCode, response::IntoResponse, routing::get, Json, Router};
use tokio_util::sync::CancellationToken;

use crate::ids::TenantId;

/// The pipeline step a failure happened in (a bounded label value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Login,
    List,
    Download,
    Transcode,
    Upload,
    Record,
    Trigger,
}

impl Stage {
    const ALL: [Stage; 7] = [
        Stage::Login,
        Stage::List,
        Stage::Download,
        Stage::Transcode,
        Stage::Upload,
        Stage::Record,
        Stage::Trigger,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Login => "login",
            Stage::List => "list",
            Stage::Download => "download",
            Stage::Transcode => "transcode",
            Stage::Upload => "upload",
            Stage::Record => "record",
            Stage::Trigger => "trigger",
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PassState {
    /// No pass has finished since start.
    Starting,
    /// The last pass finished and no tenant failed.
    Ok,
    /// The last pass finished with at least one failed tenant.
    Degraded,
    /// The last pass stopped for every tenant: storage refuses the worker's configuration (or
    /// could not be reached). Not ready until a pass gets past it; restarting does not help.
    Stopped,
}

#[derive(Debug, Clone, serde::Serialize)]
struct Health {
    state: PassState,
    /// False while the last pass was stopped: an operator has to act (see `reason`).
    ready: bool,
    /// Why calls wait through no fault of their own after the last pass, if they do.
    reason: Option<String>,
    last_pass_finished_at: Option<chrono::DateTime<chrono::Utc>>,
    last_pass_seconds: Option<f64>,
}

/// Counters shared by the pipeline and the HTTP endpoint.
#[derive(Debug)]
pub struct Metrics {
    recordings_stored: AtomicU64,
    bytes_saved: AtomicU64,
    failures: [AtomicU64; Stage::ALL.len()],
    passes: AtomicU64,
    health: Mutex<Health>,
    /// Recordings without a CDR row, per tenant, as the tenant's last pass counted them.
    unmatched: Mutex<BTreeMap<TenantId, u64>>,
    /// Selectors files learnt from a tenant's live console (issue 22), per tenant.
    learned: Mutex<BTreeMap<TenantId, u64>>,
    started_at: chrono::DateTime<chrono::Utc>,
    stale_after: std::time::Duration,
}

impl Metrics {
    /// `stale_after`: how long without a finished pass before `/healthz` reports failure.
    pub fn new(stale_after: std::time::Duration) -> Self {
        Self {
            started_at: chrono::Utc::now(),
            stale_after,
            recordings_stored: AtomicU64::new(0),
            bytes_saved: AtomicU64::new(0),
            failures: Default::default(),
            passes: AtomicU64::new(0),
            unmatched: Mutex::default(),
            learned: Mutex::default(),
            health: Mutex::new(Health {
                state: PassState::Starting,
                ready: true,
                reason: None,
                last_pass_finished_at: None,
                last_pass_seconds: None,
            }),
        }
    }

    pub fn recording_stored(&self, original_bytes: u64, stored_bytes: u64) {
        self.recordings_stored.fetch_add(1, Ordering::Relaxed);
        self.bytes_saved.fetch_add(
            original_bytes.saturating_sub(stored_bytes),
            Ordering::Relaxed,
        );
    }

    /// The tenant's count of recordings on its console that no call references.
    pub fn unmatched_recordings(&self, tenant: TenantId, count: u64) {
        self.unmatched
            .lock()
            .expect("unmatched lock")
            .insert(tenant, count);
    }

    /// A selectors file was learnt for the tenant (used or proposed).
    pub fn selectors_learned(&self, tenant: TenantId) {
        *self
            .learned
            .lock()
            .expect("learned lock")
            .entry(tenant)
            .or_default() += 1;
    }

    pub fn failure(&self, stage: Stage) {
        self.failures[stage as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// A pass ended in `state`; `reason` says why calls wait through no fault of their own.
    pub fn pass_finished(&self, seconds: f64, state: PassState, reason: Option<&str>) {
        self.passes.fetch_add(1, Ordering::Relaxed);
        let mut health = self.health.lock().expect("health lock");
        health.ready = state != PassState::Stopped;
        health.state = state;
        health.reason = reason.map(str::to_string);
        health.last_pass_finished_at = Some(chrono::Utc::now());
        health.last_pass_seconds = Some(seconds);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let health = self.health.lock().expect("health lock").clone();
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            &mut out,
            "ucm_recordings_stored_total",
            "Recordings uploaded and recorded in cdr_records.",
            self.recordings_stored.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "ucm_bytes_saved_total",
            "Bytes saved by converting WAV to MP3.",
            self.bytes_saved.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "ucm_passes_total",
            "Finished passes over all tenants.",
            self.passes.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP ucm_failures_total Failures by pipeline stage.\n# TYPE ucm_failures_total counter"
        );
        for stage in Stage::ALL {
            let _ = writeln!(
                out,
                "ucm_failures_total{{stage=\"{}\"}} {}",
                stage.as_str(),
                self.failures[stage as usize].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP ucm_last_pass_duration_seconds Wall time of the last pass.\n\
             # TYPE ucm_last_pass_duration_seconds gauge\nucm_last_pass_duration_seconds {}",
            health.last_pass_seconds.unwrap_or(0.0)
        );
        let _ = writeln!(
            out,
            "# HELP ucm_unmatched_recordings Recordings on a tenant's console that no call in \
             cdr_records references (kept or not), as its last pass counted them.\n\
             # TYPE ucm_unmatched_recordings gauge"
        );
        for (tenant, count) in self.unmatched.lock().expect("unmatched lock").iter() {
            let _ = writeln!(
                out,
                "ucm_unmatched_recordings{{tenant=\"{tenant}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP ucm_selectors_learned_total Selectors files learnt from a tenant's live console \
             after a required locator found nothing (used or proposed).\n\
             # TYPE ucm_selectors_learned_total counter"
        );
        for (tenant, count) in self.learned.lock().expect("learned lock").iter() {
            let _ = writeln!(
                out,
                "ucm_selectors_learned_total{{tenant=\"{tenant}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP ucm_ready 1 unless the last pass stopped because storage refuses the configuration.\n\
             # TYPE ucm_ready gauge\nucm_ready {}",
            u8::from(health.ready)
        );
        out
    }
}

/// Serves `/healthz` and `/metrics` until `shutdown` fires. Returns the bound address (port 0
/// picks a free one) once listening.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(metrics);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "metrics endpoint stopped");
        }
    });
    Ok(bound)
}

/// 200 while passes keep finishing, 503 once none has finished for `stale_after`: a tenant with
/// a wrong password degrades the state but must not make an orchestrator restart the worker.
async fn healthz(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    let health = metrics.health.lock().expect("health lock").clone();
    let since = health.last_pass_finished_at.unwrap_or(metrics.started_at);
    let stalled = (chrono::Utc::now() - since).to_std().unwrap_or_default() > metrics.stale_after;
    let status = if stalled {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, Json(health))
}

/// 200 while passes get past storage's preflight, 503 while an operator has to fix the
/// configuration (the body's `reason` says what); `/healthz` stays 200 meanwhile.
async fn readyz(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    let health = metrics.health.lock().expect("health lock").clone();
    let status = match health.ready {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(health))
}

async fn metrics_text(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        metrics.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_counts_by_stage_and_bytes_saved() {
        let metrics = Metrics::new(std::time::Duration::from_secs(60));
        metrics.recording_stored(1_000, 200);
        metrics.failure(Stage::Upload);
        metrics.failure(Stage::Upload);
        metrics.unmatched_recordings(TenantId(7), 3);
        metrics.selectors_learned(TenantId(7));
        let text = metrics.render();
        assert!(
            text.contains("ucm_selectors_learned_total{tenant=\"7\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("ucm_unmatched_recordings{tenant=\"7\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("ucm_recordings_stored_total 1\n"), "{text}");
        assert!(text.contains("ucm_bytes_saved_total 800\n"), "{text}");
        assert!(
            text.contains("ucm_failures_total{stage=\"upload\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("ucm_failures_total{stage=\"login\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("ucm_ready 1\n"), "{text}");
    }

    #[test]
    fn a_stopped_pass_is_not_ready_until_one_gets_past_it() {
        let metrics = Metrics::new(std::time::Duration::from_secs(60));
        metrics.pass_finished(0.1, PassState::Stopped, Some("bucket missing"));
        assert!(metrics.render().contains("ucm_ready 0\n"));
        let health = metrics.health.lock().unwrap().clone();
        assert_eq!(
            (health.ready, health.reason.as_deref()),
            (false, Some("bucket missing"))
        );
        metrics.pass_finished(3.0, PassState::Ok, None);
        assert!(metrics.render().contains("ucm_ready 1\n"));
    }
}
