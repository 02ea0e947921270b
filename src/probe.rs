//! `tenant test` and `selectors check --tenant`: log into one tenant's live console, open its
//! Recordings page, and report what was found. Nothing is stored and no call is touched.
//! `tenant test` also tries the HTTPS API: with the tenant's API credentials, one short session
//! ([`api_session`]) that fetches one recording to prove `recapi` and drops it; without them,
//! whether the console answers the API at all ([`https_api`]).

mod api_session;
mod https_api;

use std::fmt::Write as _;

use sqlx::PgPool;
use url::Url;

use crate::config::Settings;
use crate::console::{
    BrowserConfig, CheckedOn, ConsoleError, ConsoleSession, ConsoleTarget, DownloadDirError,
    DownloadRoot, LocatorCheck, SignedIn, Window,
};
use crate::ids::TenantId;
use crate::tenants::{self, ApiSetting, Tenant, TenantEntry, TenantError};
use crate::ucm_api::ApiTarget;

pub use api_session::{SessionReport, StepResult};
pub use https_api::ApiAnswer;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Tenant(#[from] TenantError),
    #[error(transparent)]
    Console(#[from] ConsoleError),
    #[error(transparent)]
    DownloadDir(#[from] DownloadDirError),
    #[error("{0}")]
    NotReady(String),
}

/// What a probe of one console found.
pub struct Probe {
    pub tenant: Tenant,
    pub signed_in: SignedIn,
    pub checks: Vec<LocatorCheck>,
    /// What the HTTPS API said (asked before the browser's login).
    pub api: ApiCheck,
}

/// The HTTPS API part of a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiCheck {
    /// No API credentials: whether the console answers the API at all (one `challenge`).
    Asked(ApiAnswer),
    /// With API credentials: login, one page of `cdrapi`, one `recapi`, logout.
    Session(SessionReport),
    /// API credentials are set but nothing was sent: why (held after a refusal, or unusable).
    NotTried(String),
}

impl ApiCheck {
    /// Whether the tenant's API credentials are set and the API road does not work with them.
    pub fn road_closed(&self) -> bool {
        match self {
            ApiCheck::Asked(_) => false,
            ApiCheck::Session(report) => !report.all_work(),
            ApiCheck::NotTried(_) => true,
        }
    }
}

impl std::fmt::Display for ApiCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiCheck::Asked(answer) => write!(f, "{answer} (no API credentials set)"),
            ApiCheck::Session(report) => write!(f, "{report}"),
            ApiCheck::NotTried(why) => write!(f, "not tried: {why}"),
        }
    }
}

/// The steps of a probe, in order, as [`probe_step_by_step`] reports them when each is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeStep {
    /// The tenant's row loaded, its password opened.
    Tenant,
    /// The HTTPS API tried: a short session with the API credentials, or else one `challenge`.
    HttpsApi,
    /// A browser session opened on the console.
    Browser,
    /// Logged in, the Recordings page opened and every locator tried.
    Console,
}

impl ProbeStep {
    pub const ALL: [ProbeStep; 4] = [Self::Tenant, Self::HttpsApi, Self::Browser, Self::Console];

    pub fn label(self) -> &'static str {
        match self {
            Self::Tenant => "tenant and password",
            Self::HttpsApi => "HTTPS API",
            Self::Browser => "browser session",
            Self::Console => "login and Recordings page",
        }
    }
}

/// How far a probe goes over the HTTPS API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiProbe {
    /// With API credentials, a whole session: login, one `cdrapi` page, one `recapi` file,
    /// logout (`tenant test`, the dashboard's test connection).
    Session,
    /// Only whether the console answers the API, one `challenge` and no login: for a check of
    /// the web console's locators, which has no business downloading over the API.
    AnswerOnly,
}

/// Logs into the tenant's console (active or not) and tries every selectors file's locators
/// where they belong. The outcome goes into the tenant's row (last login, firmware, or last
/// error), where `tenant list` shows it.
pub async fn probe(
    pool: &PgPool,
    settings: &Settings,
    window: Window,
    id: TenantId,
    api: ApiProbe,
) -> Result<Probe, ProbeError> {
    probe_step_by_step(pool, settings, window, id, api, &|_, _| {}).await
}

/// [`probe`], telling `done` each step as it finishes (the dashboard's "test connection" shows
/// them as they come): `Ok` with what it found, or `Err` with what did not work in a step the
/// probe goes on after (an API road that is set and does not work: the browser is still tested).
pub async fn probe_step_by_step(
    pool: &PgPool,
    settings: &Settings,
    window: Window,
    id: TenantId,
    api: ApiProbe,
    done: &(dyn Fn(ProbeStep, Result<String, String>) + Send + Sync),
) -> Result<Probe, ProbeError> {
    let tenant = ready_tenant(pool, settings, id).await?;
    done(
        ProbeStep::Tenant,
        Ok(format!("console at {}", tenant.console.base_url)),
    );
    let api = check_api(&tenant, settings, api).await;
    let report = api.to_string();
    done(
        ProbeStep::HttpsApi,
        if api.road_closed() {
            Err(report)
        } else {
            Ok(report)
        },
    );
    let config = BrowserConfig::from_settings(settings, window);
    // Held like a worker's, so that a worker starting meanwhile does not sweep this session away.
    let _download_root = DownloadRoot::hold(&config).await?;
    let mut session = ConsoleSession::open(&config, ConsoleTarget::from(&tenant)).await?;
    done(ProbeStep::Browser, Ok("opened".to_string()));
    let checked = session.check_selectors().await;
    session.close().await;
    match checked {
        Ok((signed_in, checks)) => {
            tenants::record_login_success(pool, id, signed_in.firmware.as_deref()).await?;
            Ok(Probe {
                tenant,
                signed_in,
                checks,
                api,
            })
        }
        Err(error) => {
            tenants::record_error(pool, id, &error.to_string()).await?;
            Err(error.into())
        }
    }
}

/// With API credentials and [`ApiProbe::Session`], a session over the API; otherwise whether
/// the console answers it.
async fn check_api(tenant: &Tenant, settings: &Settings, depth: ApiProbe) -> ApiCheck {
    let access = match &tenant.api {
        ApiSetting::Ready(access) if depth == ApiProbe::Session => access,
        // The API's own address and user where they are set, else the web console's.
        ApiSetting::Ready(access) => {
            return ask(&access.base_url, &access.username, settings).await;
        }
        ApiSetting::NotSet => {
            return ask(&tenant.console.base_url, &tenant.console.username, settings).await;
        }
        // A login now would spend another bad login on credentials the console refused.
        ApiSetting::Held { until, reason } => {
            return ApiCheck::NotTried(format!(
                "the console refused these API credentials{}; no API login is tried before {until} \
                 unless they change (`ucm-scraper tenant update {} --api-username … \
                 --api-password-stdin`)",
                reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
                tenant.id
            ))
        }
        ApiSetting::Unusable(why) => return ApiCheck::NotTried(why.clone()),
    };
    let target = ApiTarget::of(tenant, access, settings.accept_invalid_certs);
    ApiCheck::Session(
        api_session::try_session(target, tenant.timezone, settings.lookback_days).await,
    )
}

/// Whether the console answers the API at `base_url`: one `challenge`, no login.
async fn ask(base_url: &Url, user: &str, settings: &Settings) -> ApiCheck {
    ApiCheck::Asked(https_api::ask_challenge(base_url, user, settings.accept_invalid_certs).await)
}

/// The tenant with opened credentials, or why it cannot be logged into now.
pub async fn ready_tenant(
    pool: &PgPool,
    settings: &Settings,
    id: TenantId,
) -> Result<Tenant, ProbeError> {
    let cipher = settings.password_cipher();
    match tenants::load_one(pool, &cipher, id).await? {
        TenantEntry::Ready(tenant) => Ok(tenant),
        TenantEntry::MissingCredentials { name, .. } => Err(ProbeError::NotReady(format!(
            "tenant {name} (ID: {id}) has no UCM credentials: set --pbx-ip, --pbx-username and \
             the password with `ucm-scraper tenant update {id}`"
        ))),
        TenantEntry::Blocked { name, until, .. } => Err(ProbeError::NotReady(format!(
            "tenant {name} (ID: {id}) is blocked after failed logins until {until}: correct the \
             credentials with `ucm-scraper tenant update {id}`, which lifts the block"
        ))),
        TenantEntry::Broken { error, .. } => Err(ProbeError::NotReady(error.to_string())),
    }
}

impl Probe {
    /// `tenant test`'s report: login, firmware, and whether the Recordings page listed rows.
    pub fn summary(&self) -> String {
        let rows = self
            .checks
            .iter()
            .filter(|c| {
                c.file == self.signed_in.selectors_file && c.on == CheckedOn::RecordingsPage
            })
            .find(|c| c.origin.ends_with("recordings.row"))
            .map(|c| c.matches);
        format!(
            "Tenant {} (ID: {}): login ok\nfirmware: {}\nselectors file: {}\nCDR → Recordings: {}\n\
             HTTPS API: {}\n",
            self.tenant.name,
            self.tenant.id,
            self.signed_in.firmware.as_deref().unwrap_or("not shown"),
            self.signed_in.selectors_file.display(),
            match rows {
                Some(0) => "page opened, no recordings listed".to_string(),
                Some(n) => format!("page opened, {n} recordings on the first page"),
                None => "page opened".to_string(),
            },
            self.api,
        )
    }

    /// `selectors check --tenant`'s table: every locator of every file, and what it matched.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<8} {:<16} {:<44} {}\n",
            "matches", "page", "locator", "what"
        );
        for check in &self.checks {
            let _ = writeln!(
                out,
                "{:<8} {:<16} {:<44} {}{}",
                check.matches,
                format!("{:?}", check.on),
                check.origin,
                check.desc,
                check
                    .note
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            );
        }
        out
    }
}
