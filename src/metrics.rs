//! What `run` tells the outside while it works: `/healthz` (alive: last pass time and state),
//! `/readyz` (ready: storage took the last pass's configuration) and `/metrics` (Prometheus
//! text), on `METRICS_ADDR`.
//!
//! Names follow Prometheus conventions and their labels stay bounded: `stage` is one of the
//! pipeline's steps, `tenant` a tenant's id (never its name), never a call id. The
//! `prometheus-client` crate keeps the metric families typed and writes the text format
//! (version 0.0.4, the one Prometheus scrapes by default), escaping label values.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use axum::{extract::State, http::StatusCode, response::IntoResponse, routing::get, Json, Router};
use prometheus_client::encoding::{
    prometheus_text, EncodeLabelSet, EncodeLabelValue, LabelValueEncoder,
};
use prometheus_client::metrics::{counter::Counter, family::Family, gauge::Gauge};
use prometheus_client::registry::Registry;
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

impl EncodeLabelValue for Stage {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        self.as_str().encode(encoder)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StageLabel {
    stage: Stage,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TenantLabel {
    tenant: i64,
}

impl From<TenantId> for TenantLabel {
    fn from(tenant: TenantId) -> Self {
        Self { tenant: tenant.0 }
    }
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
    /// Every family below, in the order `/metrics` lists them.
    registry: Registry,
    recordings_stored: Counter,
    bytes_saved: Counter,
    passes: Counter,
    failures: Family<StageLabel, Counter>,
    last_pass_seconds: Gauge<f64, AtomicU64>,
    /// Recordings without a CDR row, per tenant, as the tenant's last pass counted them.
    unmatched: Family<TenantLabel, Gauge>,
    /// Selectors files learnt from a tenant's live console (issue 22), per tenant.
    learned: Family<TenantLabel, Counter>,
    ready: Gauge,
    health: Mutex<Health>,
    started_at: chrono::DateTime<chrono::Utc>,
    stale_after: std::time::Duration,
}

impl Metrics {
    /// `stale_after`: how long without a finished pass before `/healthz` reports failure.
    pub fn new(stale_after: std::time::Duration) -> Self {
        let metrics = Self {
            registry: Registry::default(),
            recordings_stored: Counter::default(),
            bytes_saved: Counter::default(),
            passes: Counter::default(),
            failures: Family::default(),
            last_pass_seconds: Gauge::default(),
            unmatched: Family::default(),
            learned: Family::default(),
            ready: Gauge::default(),
            started_at: chrono::Utc::now(),
            stale_after,
            health: Mutex::new(Health {
                state: PassState::Starting,
                ready: true,
                reason: None,
                last_pass_finished_at: None,
                last_pass_seconds: None,
            }),
        };
        metrics.registered()
    }

    /// Registers every family under its public name (the crate adds `_total` to counters and a
    /// full stop to the help). Every stage is shown from the start, at 0, so a rate over it
    /// has a series before its first failure.
    fn registered(mut self) -> Self {
        for stage in Stage::ALL {
            drop(self.failures.get_or_create(&StageLabel { stage }));
        }
        self.ready.set(1);
        let registry = &mut self.registry;
        registry.register(
            "ucm_recordings_stored",
            "Recordings uploaded and recorded in cdr_records",
            self.recordings_stored.clone(),
        );
        registry.register(
            "ucm_bytes_saved",
            "Bytes saved by converting WAV to MP3",
            self.bytes_saved.clone(),
        );
        registry.register(
            "ucm_passes",
            "Finished passes over all tenants",
            self.passes.clone(),
        );
        registry.register(
            "ucm_failures",
            "Failures by pipeline stage",
            self.failures.clone(),
        );
        registry.register(
            "ucm_last_pass_duration_seconds",
            "Wall time of the last pass",
            self.last_pass_seconds.clone(),
        );
        registry.register(
            "ucm_unmatched_recordings",
            "Recordings on a tenant's console that no call in cdr_records references (kept or \
             not), as its last pass counted them",
            self.unmatched.clone(),
        );
        registry.register(
            "ucm_selectors_learned",
            "Selectors files learnt from a tenant's live console after a required locator found \
             nothing (used or proposed)",
            self.learned.clone(),
        );
        registry.register(
            "ucm_ready",
            "1 unless the last pass stopped because storage refuses the configuration",
            self.ready.clone(),
        );
        self
    }

    pub fn recording_stored(&self, original_bytes: u64, stored_bytes: u64) {
        self.recordings_stored.inc();
        self.bytes_saved
            .inc_by(original_bytes.saturating_sub(stored_bytes));
    }

    /// The tenant's count of recordings on its console that no call references.
    pub fn unmatched_recordings(&self, tenant: TenantId, count: u64) {
        self.unmatched
            .get_or_create(&tenant.into())
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// A selectors file was learnt for the tenant (used or proposed).
    pub fn selectors_learned(&self, tenant: TenantId) {
        self.learned.get_or_create(&tenant.into()).inc();
    }

    pub fn failure(&self, stage: Stage) {
        self.failures.get_or_create(&StageLabel { stage }).inc();
    }

    /// A pass ended in `state`; `reason` says why calls wait through no fault of their own.
    pub fn pass_finished(&self, seconds: f64, state: PassState, reason: Option<&str>) {
        self.passes.inc();
        self.last_pass_seconds.set(seconds);
        let ready = state != PassState::Stopped;
        self.ready.set(i64::from(ready));
        let mut health = self.health.lock().expect("health lock");
        health.ready = ready;
        health.state = state;
        health.reason = reason.map(str::to_string);
        health.last_pass_finished_at = Some(chrono::Utc::now());
        health.last_pass_seconds = Some(seconds);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_text::encode(&mut out, &self.registry).expect("writing to a String never fails");
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
        [("content-type", prometheus_text::CONTENT_TYPE)],
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

    /// The names dashboards and alerts use, as the hand-written exposition had them.
    #[test]
    fn every_family_keeps_its_name_and_type() {
        let metrics = Metrics::new(std::time::Duration::from_secs(60));
        // A family without a series is not shown (as in Prometheus' own clients).
        metrics.unmatched_recordings(TenantId(1), 0);
        metrics.selectors_learned(TenantId(1));
        let text = metrics.render();
        for (name, kind) in [
            ("ucm_recordings_stored_total", "counter"),
            ("ucm_bytes_saved_total", "counter"),
            ("ucm_passes_total", "counter"),
            ("ucm_failures_total", "counter"),
            ("ucm_last_pass_duration_seconds", "gauge"),
            ("ucm_unmatched_recordings", "gauge"),
            ("ucm_selectors_learned_total", "counter"),
            ("ucm_ready", "gauge"),
        ] {
            let type_line = format!("# TYPE {name} {kind}");
            assert!(text.lines().any(|l| l == type_line), "{type_line}: {text}");
            assert!(text.contains(&format!("# HELP {name} ")), "{name}: {text}");
        }
        assert_eq!(text.matches("# TYPE ").count(), 8, "{text}");
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
