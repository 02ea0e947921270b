//! One pass over the tenants, step by step as the operators' guide tells it:
//! get active tenants → log in → download → convert → upload → record → trigger AI.
//!
//! Postgres is the source of truth: calls are claimed with a lease before the browser opens,
//! and every call ends the pass stored, failed (with its reason), not listed on the console yet
//! (checked again, uncharged), not on the console, or released for the next pass. One tenant's
//! trouble never stops another.
//!
//! Storage is the exception, because it is shared: before any tenant is processed its preflight
//! runs, and a storage that refuses the worker's configuration (a missing bucket, a refused key)
//! stops the pass for every tenant, before a call is claimed or, when the refusal only shows
//! mid-pass, like a shutdown, with the refused calls given back uncharged.
//!
//! The rooms, by job:
//! - this file: the [`Worker`] and its builder, the one door;
//! - `pass`: one pass over the tenants, and what stops it for all of them;
//! - `tenant`: one tenant's part: lock, claim, the driver, calls, the unmatched read;
//! - `call`: each claimed call through the tenant's [`crate::driver`], and what becomes of it;
//! - `recorder`: after a download: convert, upload, record, trigger AI (and keeping a
//!   recording without a call for [`crate::unmatched`]);
//! - `summary`: what a pass did, tenant by tenant, and the table `once` prints;
//! - [`history`]: how each tenant's part of each pass ended, kept in `tenant_passes`.

mod call;
pub mod history;
mod pass;
mod recorder;
mod summary;
mod tenant;

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

use crate::ai::AiTrigger;
use crate::config::Settings;
use crate::console::{DownloadDirError, Window};
use crate::driver::{self, Drivers};
use crate::metrics::Metrics;
use crate::secrets::PasswordCipher;
use crate::storage;
use crate::unmatched::Unmatched;
use recorder::Recorder;

pub use summary::{PassSummary, Skipped, Stop, TenantOutcome, TenantReport};

/// A call that failed this often is left `failed` for an operator instead of being retried.
const MAX_ATTEMPTS: i32 = 5;
/// How long a claim holds a call; a crashed worker's calls come back after it.
const LEASE: Duration = Duration::from_secs(60 * 60);

/// Everything a pass needs, built once by [`Worker::build`] for `run`, `once` and the tests.
pub struct Worker {
    pool: PgPool,
    settings: Settings,
    cipher: PasswordCipher,
    /// What reaches each tenant's recordings: the browser today ([`crate::driver`]).
    drivers: Box<dyn Drivers>,
    recorder: Recorder,
    /// Recordings the console lists without a call (issue 16).
    unmatched: Unmatched,
    metrics: Arc<Metrics>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    #[error(transparent)]
    DownloadDir(#[from] DownloadDirError),
}

impl Worker {
    /// The connections a worker's pool needs: two for each tenant worked at once, and two for
    /// the pass around them.
    pub fn connections(settings: &Settings) -> u32 {
        (settings.max_parallel_tenants as u32 * 2 + 2).max(4)
    }

    /// Prepares the drivers and storage on a pool already connected and migrated (by
    /// `commands::database` for `run` and `once`, sized by [`Worker::connections`]): the same
    /// builder for `run`, `once` and tests. `window`: whether the browsers show their windows
    /// (`--headed`).
    pub async fn build(
        pool: PgPool,
        settings: Settings,
        window: Window,
        metrics: Arc<Metrics>,
    ) -> Result<Self, BuildError> {
        let drivers = driver::from_settings(&settings, window, &pool, &metrics).await?;
        let store = storage::from_settings(&settings)?;
        let recorder = Recorder {
            pool: pool.clone(),
            store: store.clone(),
            ai: AiTrigger::from_settings(&settings).map(Arc::new),
            bucket: settings.bucket.clone(),
            bitrate_kbps: settings.mp3_bitrate_kbps,
            metrics: metrics.clone(),
        };
        Ok(Self {
            unmatched: Unmatched::new(
                pool.clone(),
                settings.unmatched.clone(),
                store,
                metrics.clone(),
            ),
            cipher: settings.password_cipher(),
            drivers,
            recorder,
            pool,
            settings,
            metrics,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
