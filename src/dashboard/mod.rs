//! The operators' dashboard (issue 26, docs/dashboard.md): a server-drawn web UI over the
//! database, served by `run` on `DASHBOARD_ADDR` and by `ucm-scraper dashboard` alone.
//!
//! - [`operators`]: accounts (Argon2id), sign-in with failure limits, sessions.
//! - [`routes`]: the pages and the actions; every page but the sign-in page needs a session,
//!   every action is a POST carrying the session's form token and is written to [`audit`].
//! - [`data`]: what the pages show, read from the database (how each tenant's part of a pass
//!   ended comes from [`crate::pipeline::history`]).
//! - [`pages`], [`chart`]: HTML and SVG drawn on the server, every value escaped.
//! - [`screenshots`]: the tenant's newest failure screenshot in `ARTIFACTS_DIR`.
//! - [`testrun`]: "test connection", `tenant test` run in the background.
//!
//! `ucm-scraper dashboard` and `ucm-scraper operator add | remove` are in
//! [`crate::commands`].

pub mod audit;
pub mod chart;
pub mod data;
pub mod operators;
pub mod pages;
mod routes;
pub mod screenshots;
pub mod testrun;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

pub use audit::AuditRow;

use crate::config::Settings;
use crate::console::Window;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("the dashboard cannot listen on DASHBOARD_ADDR={addr}: {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error(
        "the dashboard's certificate or key cannot be used (DASHBOARD_TLS_CERT={cert}, \
         DASHBOARD_TLS_KEY={key}): {error}; give a PEM certificate chain and its PEM private key"
    )]
    Tls {
        cert: PathBuf,
        key: PathBuf,
        error: std::io::Error,
    },
}

/// What every request handler shares.
pub(crate) struct Dashboard {
    pool: PgPool,
    settings: Arc<Settings>,
    window: Window,
    /// Served over TLS: the session cookie is marked `Secure`.
    tls: bool,
    tests: testrun::TestRuns,
}

/// Serves the dashboard on `addr` until `shutdown` fires, over TLS when the settings name a
/// certificate. Returns the bound address (port 0 picks a free one) once listening.
pub async fn serve(
    addr: SocketAddr,
    settings: Settings,
    window: Window,
    pool: PgPool,
    shutdown: CancellationToken,
) -> Result<SocketAddr, ServeError> {
    let tls = match &settings.dashboard.tls {
        Some((cert, key)) => Some(tls_config(cert, key).await?),
        None => None,
    };
    let listener = std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|error| ServeError::Bind { addr, error })?;
    let bound = listener
        .local_addr()
        .map_err(|error| ServeError::Bind { addr, error })?;
    let app = routes::router(Arc::new(Dashboard {
        pool,
        settings: Arc::new(settings),
        window,
        tls: tls.is_some(),
        tests: testrun::TestRuns::default(),
    }))
    .into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let stopping = handle.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        stopping.graceful_shutdown(Some(Duration::from_secs(5)));
    });
    let scheme = if tls.is_some() { "https" } else { "http" };
    tokio::spawn(async move {
        let served = match tls {
            Some(tls) => match axum_server::from_tcp_rustls(listener, tls) {
                Ok(server) => server.handle(handle).serve(app).await,
                Err(error) => Err(error),
            },
            None => match axum_server::from_tcp(listener) {
                Ok(server) => server.handle(handle).serve(app).await,
                Err(error) => Err(error),
            },
        };
        if let Err(error) = served {
            tracing::error!(%error, "the dashboard stopped");
        }
    });
    tracing::info!("Serving the dashboard on {scheme}://{bound}/");
    Ok(bound)
}

async fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<axum_server::tls_rustls::RustlsConfig, ServeError> {
    // One process-wide provider; a second install (a test serving twice) changes nothing.
    let _ = rustls::crypto::ring::default_provider().install_default();
    axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
        .await
        .map_err(|error| ServeError::Tls {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            error,
        })
}
