//! The road per tenant (`tenants.driver`, docs/https-api.md "Which road"): the browser, or the
//! HTTPS API with the browser as its fallback.
//!
//! - `browser`, or `auto` without API credentials: the browser.
//! - `auto` with API credentials: the API. A failure of the API road that is not about a call
//!   (the user refused, no permission, the API not served, `recapi` refusing every file, no
//!   answer) hands the rest of the pass to the browser, with one line saying why; the next pass
//!   tries the API again. A `.venc` file, or a file refused before any came through, goes to the
//!   browser for that call only.
//! - `api`: the API, never the browser: a closed road stops the tenant's pass.
//!
//! The read for recordings without a call ([`crate::unmatched`]) follows the same roads: over
//! the API while its road is open (`cdrapi`, `recapi`), else through the browser's list.
//!
//! A refused API login (-37/-71) holds the API road across passes
//! ([`tenants::record_api_refusal`]); a lockout (-68/-70) blocks the tenant for at least the
//! console's `remain_time` ([`tenants::record_lockout`]), as a web lockout does. Either way a
//! bad API login is spent at most once per block period.

use std::path::PathBuf;

use sqlx::PgPool;
use tracing::{info, warn};

use super::api::{ApiRoad, ApiRoadError, Road};
use super::browser::Browser;
use super::{Driver, DriverError, Drivers};
use crate::calls::Call;
use crate::config::Settings;
use crate::console::{
    BrowserConfig, CallQuery, Downloaded, ListedRecording, Match, NewestQuery, NewestRecordings,
    SignedIn,
};
use crate::failure::{Failure, NextStep};
use crate::ids::TenantId;
use crate::tenants::{self, ApiSetting, DriverChoice, Tenant};
use crate::ucm_api::ApiErrorKind;

/// What `SignedIn.selectors_file` says on the API road: it uses no selectors file.
const NO_SELECTORS: &str = "(HTTPS API: no selectors)";

/// Chooses each tenant's road and opens it.
pub(crate) struct Roads {
    browser: Browser,
    pool: PgPool,
    accept_invalid_certs: bool,
    work_dir: PathBuf,
}

impl Roads {
    pub(crate) fn new(
        browser: Browser,
        settings: &Settings,
        pool: &PgPool,
        config: &BrowserConfig,
    ) -> Self {
        Self {
            browser,
            pool: pool.clone(),
            accept_invalid_certs: settings.accept_invalid_certs,
            work_dir: config.work_dir.clone(),
        }
    }
}

/// Why a tenant's pass cannot take the road its operator chose.
#[derive(Debug, thiserror::Error)]
pub enum RoadError {
    #[error("tenant {name} (ID: {id}) must use the HTTPS API (driver = api), but the console refused its API credentials and no API login is tried before {until}: {reason}. Fix them with `ucm-scraper tenant update {id} --api-username NAME --api-password-stdin`, or choose `--driver auto`")]
    ApiHeld {
        id: TenantId,
        name: String,
        until: chrono::DateTime<chrono::Utc>,
        reason: String,
    },
}

impl Failure for RoadError {
    fn next_step(&self) -> NextStep {
        match self {
            // Nothing the calls did: they wait, uncharged, for an operator.
            Self::ApiHeld { .. } => NextStep::StopTenantUncharged,
        }
    }
}

#[async_trait::async_trait]
impl Drivers for Roads {
    async fn open<'a>(&'a self, tenant: &Tenant) -> Result<Box<dyn Driver + 'a>, DriverError> {
        let forced = tenant.driver == DriverChoice::Api;
        let access = match (&tenant.api, tenant.driver) {
            (_, DriverChoice::Browser) | (ApiSetting::NotSet, _) => {
                return self.browser.open(tenant).await;
            }
            (ApiSetting::Held { until, reason }, _) if forced => {
                return Err(Box::new(RoadError::ApiHeld {
                    id: tenant.id,
                    name: tenant.name.clone(),
                    until: *until,
                    reason: reason.clone().unwrap_or_default(),
                }));
            }
            (ApiSetting::Held { until, reason }, _) => {
                let why = format!(
                    "the console refused its API credentials ({}); no API login is tried before {until} unless they change",
                    reason.as_deref().unwrap_or("no reason kept")
                );
                fallback_line(tenant, &why);
                return self.browser.open(tenant).await;
            }
            // With driver = api an unusable setting made the tenant Broken at load.
            (ApiSetting::Unusable(why), _) => {
                fallback_line(tenant, why);
                return self.browser.open(tenant).await;
            }
            (ApiSetting::Ready(access), _) => access,
        };
        let api = match ApiRoad::new(
            tenant,
            access,
            self.accept_invalid_certs,
            self.work_dir.clone(),
        ) {
            Ok(api) => api,
            Err(error) if forced => return Err(Box::new(error)),
            Err(error) => {
                fallback_line(tenant, &error.to_string());
                return self.browser.open(tenant).await;
            }
        };
        info!("Tenant {} takes the HTTPS API road", tenant.name);
        Ok(Box::new(ApiFirst {
            roads: self,
            tenant: tenant.clone(),
            forced,
            api: Some(api),
            browser: None,
            claimed: Vec::new(),
        }))
    }
}

/// The one line that says why a tenant's pass goes through the browser.
fn fallback_line(tenant: &Tenant, why: &str) {
    warn!(
        event = "ApiRoadClosed",
        "Tenant {} (ID: {}): the browser takes this pass, not the HTTPS API: {why}. The next pass tries the API again.",
        tenant.name,
        tenant.id
    );
}

/// A pass on the API road, with the browser behind it (opened only when needed).
struct ApiFirst<'a> {
    roads: &'a Roads,
    tenant: Tenant,
    /// `driver = api`: never the browser.
    forced: bool,
    /// `None` once the road closed for this pass.
    api: Option<ApiRoad>,
    browser: Option<Box<dyn Driver + 'a>>,
    /// The pass's calls, for a browser that signs in later.
    claimed: Vec<Call>,
}

impl<'a> ApiFirst<'a> {
    /// Closes the API road for this pass (with its line) unless the tenant insists on it.
    async fn close_api(&mut self, error: &ApiRoadError) {
        fallback_line(&self.tenant, &error.to_string());
        if let Some(api) = self.api.take() {
            api.close().await;
        }
    }

    /// What a failure of the API road leaves to the browser: `Ok` when the browser does `what`
    /// instead (a file the API cannot serve, or the road closed for the pass), the error when
    /// it is about the call or recording itself, or the tenant insists on the API.
    async fn after_api_failure(
        &mut self,
        error: ApiRoadError,
        what: &str,
    ) -> Result<(), DriverError> {
        match error.road() {
            Road::Open => Err(Box::new(error)),
            _ if self.forced => Err(Box::new(error)),
            Road::BrowserForCall => {
                info!("{error}; the browser fetches {what}");
                Ok(())
            }
            Road::BrowserForTenant => {
                self.close_api(&error).await;
                Ok(())
            }
        }
    }

    /// The browser, opened and signed in on first use. Its sign-in is recorded here, as the
    /// pipeline records the first one: a refused web login blocks the tenant.
    async fn browser(&mut self) -> Result<&mut Box<dyn Driver + 'a>, DriverError> {
        if self.browser.is_none() {
            let mut browser = self.roads.browser.open(&self.tenant).await?;
            match browser.sign_in(&self.claimed).await {
                Ok(signed_in) => {
                    let firmware = signed_in.firmware.as_deref();
                    let recorded =
                        tenants::record_login_success(&self.roads.pool, self.tenant.id, firmware)
                            .await;
                    if let Err(error) = recorded {
                        warn!(%error, "Could not record the browser's login");
                    }
                }
                Err(error) => {
                    if error.next_step() == NextStep::BlockTenant {
                        let reason = error.to_string();
                        let recorded = tenants::record_login_failure(
                            &self.roads.pool,
                            self.tenant.id,
                            &reason,
                        )
                        .await;
                        if let Err(error) = recorded {
                            warn!(%error, "Could not record the browser's failed login");
                        }
                    }
                    browser.close().await;
                    return Err(error);
                }
            }
            self.browser = Some(browser);
        }
        Ok(self.browser.as_mut().expect("opened above"))
    }
}

#[async_trait::async_trait]
impl Driver for ApiFirst<'_> {
    async fn sign_in(&mut self, claimed: &[Call]) -> Result<SignedIn, DriverError> {
        self.claimed = claimed.to_vec();
        if let Some(api) = self.api.as_mut() {
            let error = match api.sign_in().await {
                Ok(()) => {
                    let recorded = tenants::record_api_login(&self.roads.pool, self.tenant.id);
                    if let Err(error) = recorded.await {
                        warn!(%error, "Could not record the API login");
                    }
                    return Ok(SignedIn {
                        firmware: None,
                        selectors_file: PathBuf::from(NO_SELECTORS),
                    });
                }
                Err(error) => error,
            };
            remember_login_failure(&self.roads.pool, self.tenant.id, &error).await;
            if self.forced || error.next_step() == NextStep::BlockTenant {
                return Err(Box::new(error));
            }
            self.close_api(&error).await;
        }
        // The pipeline records this sign-in itself; `browser()` records the later ones.
        let mut browser = self.roads.browser.open(&self.tenant).await?;
        match browser.sign_in(claimed).await {
            Ok(signed_in) => {
                self.browser = Some(browser);
                Ok(signed_in)
            }
            Err(error) => {
                browser.close().await;
                Err(error)
            }
        }
    }

    async fn fetch(&mut self, call: &Call) -> Result<Downloaded, DriverError> {
        if let Some(api) = self.api.as_mut() {
            let error = match api.fetch(call).await {
                Ok(file) => return Ok(file),
                Err(error) => error,
            };
            let what = format!("call {}", call.uniqueid);
            self.after_api_failure(error, &what).await?;
        }
        self.browser().await?.fetch(call).await
    }

    /// Over the API (`cdrapi`) while its road is open, else through the browser's list.
    async fn newest_recordings(
        &mut self,
        query: &NewestQuery,
    ) -> Result<NewestRecordings, DriverError> {
        if let Some(api) = self.api.as_mut() {
            let error = match api.newest_recordings(query).await {
                Ok(read) => return Ok(read),
                Err(error) => error,
            };
            self.after_api_failure(error, "the newest recordings")
                .await?;
        }
        self.browser().await?.newest_recordings(query).await
    }

    fn listed_match(&self, row: &ListedRecording, call: &CallQuery) -> Option<Match> {
        self.browser.as_ref()?.listed_match(row, call)
    }

    async fn fetch_listed(
        &mut self,
        row: &ListedRecording,
        name: &str,
    ) -> Result<Downloaded, DriverError> {
        if let Some(api) = self.api.as_mut() {
            let error = match api.fetch_listed(row, name).await {
                Ok(file) => return Ok(file),
                Err(error) => error,
            };
            let what = format!("recording {name}");
            self.after_api_failure(error, &what).await?;
        }
        self.browser().await?.fetch_listed(row, name).await
    }

    fn road(&self) -> &'static str {
        match (&self.api, &self.browser) {
            (Some(_), None) => "api",
            // The API served some calls and the browser others (`.venc`, unproven files).
            (Some(_), Some(_)) => "api+browser",
            (None, _) => "api>browser",
        }
    }

    async fn close(self: Box<Self>) {
        let this = *self;
        if let Some(api) = this.api {
            api.close().await;
        }
        if let Some(browser) = this.browser {
            browser.close().await;
        }
    }
}

/// Keeps what a failed API login means across passes: a refusal holds the API road, a
/// lockout blocks the tenant for at least the console's period.
async fn remember_login_failure(pool: &PgPool, id: TenantId, error: &ApiRoadError) {
    let ApiRoadError::Api(api) = error else {
        return;
    };
    let reason = error.to_string();
    let recorded = match api.kind {
        ApiErrorKind::LoginRefused { .. } => tenants::record_api_refusal(pool, id, &reason).await,
        ApiErrorKind::LoginBlocked { remain_time, .. } => {
            let at_least = remain_time.unwrap_or(tenants::login_backoff(1));
            tenants::record_lockout(pool, id, &reason, at_least).await
        }
        _ => return,
    };
    if let Err(error) = recorded {
        warn!(%error, "Could not keep the API login's failure for the next passes");
    }
}
