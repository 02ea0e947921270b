//! The browser driver: the tenant's web console in Chromium over WebDriver
//! ([`crate::console::ConsoleSession`]), with the tenant's learned selectors and healing
//! ([`crate::learned`]) and the remembered way to its Recordings list ([`crate::ways`]).

use std::sync::Arc;

use sqlx::PgPool;
use tracing::warn;

use super::{Driver, DriverError, Drivers};
use crate::calls::Call;
use crate::config::Settings;
use crate::console::{
    BrowserConfig, CallQuery, ConsoleError, ConsoleSession, ConsoleTarget, DownloadDirError,
    DownloadRoot, Downloaded, ListedRecording, Match, NewestQuery, NewestRecordings, SignedIn,
    Window,
};
use crate::ids::TenantId;
use crate::learned::Healer;
use crate::metrics::Metrics;
use crate::tenants::Tenant;
use crate::ways;

/// Opens console sessions in Chromium.
pub(crate) struct Browser {
    config: BrowserConfig,
    pool: PgPool,
    settings: Settings,
    metrics: Arc<Metrics>,
    /// Held while the worker lives: no other process sweeps its downloads.
    _download_root: DownloadRoot,
}

impl Browser {
    pub(crate) async fn new(
        settings: &Settings,
        window: Window,
        pool: &PgPool,
        metrics: &Arc<Metrics>,
    ) -> Result<Self, DownloadDirError> {
        let config = BrowserConfig::from_settings(settings, window);
        let download_root = DownloadRoot::hold(&config).await?;
        Ok(Self {
            config,
            pool: pool.clone(),
            settings: settings.clone(),
            metrics: Arc::clone(metrics),
            _download_root: download_root,
        })
    }
}

#[async_trait::async_trait]
impl Drivers for Browser {
    /// Opens the session, follows the way that worked last time, and hands it the tenant's
    /// learned selectors file when one is in use.
    async fn open<'a>(&'a self, tenant: &Tenant) -> Result<Box<dyn Driver + 'a>, DriverError> {
        let mut session = ConsoleSession::open(&self.config, ConsoleTarget::from(tenant))
            .await
            .map_err(boxed)?;
        match ways::load(&self.pool, tenant.id).await {
            Ok(way) => way.into_iter().for_each(|way| session.follow_way(way)),
            Err(error) => warn!(%error, "Searching for the Recordings list afresh"),
        }
        let healer = Healer::start(
            &self.pool,
            &self.settings,
            &self.metrics,
            &mut session,
            tenant.id,
        )
        .await;
        Ok(Box::new(BrowserDriver {
            session,
            healer,
            pool: &self.pool,
            tenant: tenant.id,
        }))
    }
}

/// One tenant's console session for one pass.
struct BrowserDriver<'a> {
    session: ConsoleSession,
    /// Heals a drifted list locator once a pass at most (issue 22).
    healer: Healer<'a>,
    pool: &'a PgPool,
    tenant: TenantId,
}

fn boxed(error: ConsoleError) -> DriverError {
    Box::new(error)
}

#[async_trait::async_trait]
impl Driver for BrowserDriver<'_> {
    async fn sign_in(&mut self, claimed: &[Call]) -> Result<SignedIn, DriverError> {
        self.healer
            .sign_in(&mut self.session, claimed.first())
            .await
            .map_err(boxed)
    }

    async fn fetch(&mut self, call: &Call) -> Result<Downloaded, DriverError> {
        self.healer
            .download(&mut self.session, &CallQuery::from(call))
            .await
            .map_err(boxed)
    }

    async fn newest_recordings(
        &mut self,
        query: &NewestQuery,
    ) -> Result<NewestRecordings, DriverError> {
        self.session.newest_recordings(query).await.map_err(boxed)
    }

    fn listed_match(&self, row: &ListedRecording, call: &CallQuery) -> Option<Match> {
        self.session.listed_match(row, call)
    }

    async fn fetch_listed(
        &mut self,
        row: &ListedRecording,
        name: &str,
    ) -> Result<Downloaded, DriverError> {
        self.session.download_listed(row, name).await.map_err(boxed)
    }

    fn road(&self) -> &'static str {
        "browser"
    }

    /// Saves the way the session leaves for the next pass, then logs out and ends the session.
    async fn close(self: Box<Self>) {
        if let Err(error) = ways::save(self.pool, self.tenant, self.session.way()).await {
            warn!(%error, "The next pass searches for the Recordings list afresh");
        }
        self.session.close().await;
    }
}
