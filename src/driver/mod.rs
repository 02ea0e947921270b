//! The seam between a pass and what reaches a tenant's recordings (issue 23).
//!
//! The pipeline asks a `Driver` to sign in (and say which firmware and selectors it used),
//! to find and fetch a call's recording, and, for recordings without a call
//! ([`crate::unmatched`]), to read the newest part of the recordings list, match a listed row
//! to a call and fetch a listed recording. Everything else stays the pipeline's, the same for
//! any driver: claims and leases, attempts, the not-listed grace, storage, the database, the AI
//! trigger and the summary.
//!
//! Two roads implement it: the browser (`browser`, a console session in Chromium) and the
//! console's HTTPS API (`api`). `roads` chooses per tenant in `Drivers::open` and falls back
//! from the API to the browser; the pipeline does not know which road a tenant took.
//!
//! A driver's errors answer the one failure vocabulary ([`crate::failure`]): the pipeline reads
//! `next_step()` and the message, nothing else.

pub mod api;
pub mod browser;
pub mod roads;

use std::sync::Arc;

use sqlx::PgPool;

use crate::calls::Call;
use crate::config::Settings;
use crate::console::{
    BrowserConfig, CallQuery, DownloadDirError, Downloaded, ListedRecording, Match, NewestQuery,
    NewestRecordings, SignedIn, Window,
};
use crate::failure::Failure;
use crate::metrics::Metrics;
use crate::tenants::Tenant;

/// A driver's failure, whatever the driver: it says what happens next and why.
pub(crate) type DriverError = Box<dyn DriverFailure>;

/// What a driver's error must be: an error of the failure vocabulary, sendable across tasks.
pub(crate) trait DriverFailure: Failure + std::error::Error + Send + Sync {}

impl<E: Failure + std::error::Error + Send + Sync> DriverFailure for E {}

/// Reaches one tenant's recordings for one pass; closed by [`Driver::close`] in every case.
#[async_trait::async_trait]
pub(crate) trait Driver: Send {
    /// Signs in once; says which firmware the console showed and which selectors it uses.
    /// `claimed` are the pass's calls: a driver that learns a drifted sign-in proves what it
    /// learnt by finding one of them.
    async fn sign_in(&mut self, claimed: &[Call]) -> Result<SignedIn, DriverError>;

    /// Finds `call`'s recording and fetches it into the work directory.
    async fn fetch(&mut self, call: &Call) -> Result<Downloaded, DriverError>;

    /// Reads the newest part of the recordings list, down to the query's line.
    async fn newest_recordings(
        &mut self,
        query: &NewestQuery,
    ) -> Result<NewestRecordings, DriverError>;

    /// Whether `row` is `call`'s recording, as [`Driver::fetch`] would pick it: `None` when it
    /// is not; the smaller, the surer.
    fn listed_match(&self, row: &ListedRecording, call: &CallQuery) -> Option<Match>;

    /// Fetches a recording the list showed, with no call behind it; `name` names it in errors.
    async fn fetch_listed(
        &mut self,
        row: &ListedRecording,
        name: &str,
    ) -> Result<Downloaded, DriverError>;

    /// The road this pass took, for the summary: `browser`, `api`, or `api>browser` when the
    /// API road closed during the pass and the browser took over.
    fn road(&self) -> &'static str;

    /// Ends the session and keeps what it learnt for the next pass (best effort).
    async fn close(self: Box<Self>);
}

/// Opens a tenant's [`Driver`] for a pass.
#[async_trait::async_trait]
pub(crate) trait Drivers: Send + Sync {
    /// A driver for `tenant`, not signed in yet.
    async fn open<'a>(&'a self, tenant: &Tenant) -> Result<Box<dyn Driver + 'a>, DriverError>;
}

/// The drivers the worker uses: each tenant's road as its row says ([`roads`]), the HTTPS API
/// with the browser behind it, or the browser alone.
pub(crate) async fn from_settings(
    settings: &Settings,
    window: Window,
    pool: &PgPool,
    metrics: &Arc<Metrics>,
) -> Result<Box<dyn Drivers>, DownloadDirError> {
    let browser = browser::Browser::new(settings, window, pool, metrics).await?;
    let config = BrowserConfig::from_settings(settings, window);
    Ok(Box::new(roads::Roads::new(
        browser, settings, pool, &config,
    )))
}
