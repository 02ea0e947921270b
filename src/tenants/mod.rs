//! One file over 500 lines: every query on `tenants`, so a row's login states are written in
//! one place.
//!
//! Tenant rows (docs/database.md): who to scrape, with which console credentials, and the login
//! state that keeps a failing tenant from being locked out of its console.
//!
//! [`load_active`] turns each active `grandstream_ucm` row into a [`TenantEntry`]; a row with bad
//! data becomes [`TenantEntry::Broken`] and never stops the others. A password found in plaintext
//! is used and sealed in place. Tokens are never rewritten: the Python backend keeps reading the
//! Fernet tokens it wrote, and our `v1:` values need no migration.
//!
//! A failed login blocks the tenant with exponential backoff ([`login_backoff`]); the block
//! remembers which credentials failed (`ucm_blocked_credentials`), so changing any of them, by
//! `ucm-scraper tenant update`, the backend or plain SQL, lifts it.

pub mod listing;

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sqlx::PgPool;
use url::Url;

use crate::failure::{Failure, NextStep};
use crate::ids::TenantId;
use crate::secrets::{PasswordCipher, Secret, SecretError, StoredFormat};

/// The port CloudUCM consoles listen on, and the column's default.
pub const DEFAULT_PBX_PORT: u16 = 8443;

/// First block after a failed login; each further failure with the same credentials doubles it.
const FIRST_BLOCK: Duration = Duration::from_secs(15 * 60);
/// The longest block: a tenant is tried at least once a day.
const LONGEST_BLOCK: Duration = Duration::from_secs(24 * 60 * 60);
/// `ucm_last_error` holds one reason, not a page of HTML.
const MAX_ERROR_CHARS: usize = 1000;

/// What identifies the credentials a block applies to: SHA-256 over the stored console columns
/// (the password as stored, so a ciphertext), each in its own position. SHA-256 rather than md5,
/// which Postgres refuses in FIPS mode. An API lockout blocks the tenant too, so the API columns
/// count, but only once one is set: `concat_ws` skips the NULL, and a tenant without API
/// credentials keeps the fingerprint its block was recorded with before they existed.
pub(crate) const CREDENTIALS_FINGERPRINT: &str = "encode(sha256(convert_to(concat_ws(chr(31), \
     coalesce(pbx_ip::text, ''), coalesce(pbx_port::text, ''), coalesce(pbx_username::text, ''), \
     coalesce(pbx_password::text, ''), \
     CASE WHEN api_username IS NOT NULL OR api_password IS NOT NULL OR api_port IS NOT NULL \
          THEN concat_ws(chr(30), coalesce(api_username, ''), coalesce(api_password, ''), \
                         coalesce(api_port::text, '')) END), 'UTF8')), 'hex')";

/// What identifies the API credentials a hold of the API road applies to (a refused API login):
/// the host and every API column as stored, so changing any of them lifts the hold.
pub(crate) const API_CREDENTIALS_FINGERPRINT: &str = "encode(sha256(convert_to(concat_ws(chr(31), \
     coalesce(pbx_ip::text, ''), coalesce(api_port::text, pbx_port::text, ''), \
     coalesce(api_username, ''), coalesce(api_password, '')), 'UTF8')), 'hex')";

/// A tenant ready to be scraped: its console address and opened credentials.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: TenantId,
    /// `company_name`, or the subdomain when the company has no name.
    pub name: String,
    pub subdomain: String,
    pub console: ConsoleAccess,
    /// The zone the console shows call times in (`ucm_timezone`).
    pub timezone: Tz,
    /// The firmware seen at the last login, if any.
    pub firmware: Option<String>,
    /// The road the operator chose (`tenants.driver`).
    pub driver: DriverChoice,
    /// The HTTPS API's address and credentials, as far as they are usable.
    pub api: ApiSetting,
}

/// Which road the worker takes to a tenant's recordings (`tenants.driver`, docs/https-api.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DriverChoice {
    /// The API when its credentials are set and the console answers it; else the browser.
    #[default]
    Auto,
    /// The web console in a browser, always.
    Browser,
    /// The API, always: a closed API road stops the tenant instead of falling back.
    Api,
}

impl DriverChoice {
    /// The column's value.
    pub fn as_str(self) -> &'static str {
        match self {
            DriverChoice::Auto => "auto",
            DriverChoice::Browser => "browser",
            DriverChoice::Api => "api",
        }
    }

    fn from_column(value: &str) -> Self {
        match value {
            "browser" => DriverChoice::Browser,
            "api" => DriverChoice::Api,
            // The column's CHECK allows nothing else.
            _ => DriverChoice::Auto,
        }
    }
}

/// Where and as whom to use a tenant's HTTPS API.
#[derive(Debug, Clone)]
pub struct ApiAccess {
    /// `https://<pbx_ip>:<api_port or pbx_port>/`.
    pub base_url: Url,
    pub username: String,
    pub password: Secret<String>,
}

/// A tenant's API credentials as the loader found them.
#[derive(Debug, Clone)]
pub enum ApiSetting {
    /// No `api_username` and no `api_password`: the browser is the only road.
    NotSet,
    Ready(Box<ApiAccess>),
    /// The console refused these API credentials; no API login is tried before `until`
    /// unless they change ([`record_api_refusal`]).
    Held {
        until: DateTime<Utc>,
        reason: Option<String>,
    },
    /// Set but not usable as stored (half set, a bad port, a password that does not open): why.
    Unusable(String),
}

/// Where and as whom to log into a tenant's console.
#[derive(Debug, Clone)]
pub struct ConsoleAccess {
    /// `https://<pbx_ip>:<pbx_port>/`.
    pub base_url: Url,
    pub username: String,
    pub password: Secret<String>,
}

/// One active tenant as the loader found it.
#[derive(Debug)]
pub enum TenantEntry {
    Ready(Tenant),
    /// `pbx_ip`, `pbx_username` or `pbx_password` is NULL or empty.
    MissingCredentials {
        id: TenantId,
        name: String,
    },
    /// A failed login blocks it until `until`, unless its credentials change first.
    Blocked {
        id: TenantId,
        name: String,
        until: DateTime<Utc>,
        last_error: Option<String>,
    },
    /// Its row cannot be used as it is; `error` says what to fix.
    Broken {
        id: TenantId,
        name: String,
        error: TenantError,
    },
}

impl TenantEntry {
    pub fn id(&self) -> TenantId {
        match self {
            TenantEntry::Ready(t) => t.id,
            TenantEntry::MissingCredentials { id, .. }
            | TenantEntry::Blocked { id, .. }
            | TenantEntry::Broken { id, .. } => *id,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            TenantEntry::Ready(t) => &t.name,
            TenantEntry::MissingCredentials { name, .. }
            | TenantEntry::Blocked { name, .. }
            | TenantEntry::Broken { name, .. } => name,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error(
        "Postgres failed while {op}: {error}; check DATABASE_URL and that `ucm-scraper migrate` ran"
    )]
    Db {
        op: &'static str,
        error: sqlx::Error,
    },
    #[error("tenant {0} not found: `ucm-scraper tenant list` shows the ids")]
    NotFound(TenantId),
    #[error("tenant {id} ({name}): {problem}")]
    Invalid {
        id: TenantId,
        name: String,
        problem: TenantProblem,
    },
}

impl Failure for TenantError {
    /// Postgres failing is waited for; a tenant whose row cannot be used waits for an operator.
    fn next_step(&self) -> NextStep {
        match self {
            Self::Db { .. } => NextStep::WaitForService,
            Self::NotFound(_) | Self::Invalid { .. } => NextStep::StopTenant,
        }
    }
}

impl TenantError {
    fn db(op: &'static str) -> impl FnOnce(sqlx::Error) -> Self {
        move |error| TenantError::Db { op, error }
    }
}

/// What is wrong with one tenant's data, and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum TenantProblem {
    #[error(transparent)]
    Password(#[from] SecretError),
    #[error(
        "pbx_ip {0:?} is not a host name or IP address: store only the host \
         (e.g. acme01.c.myucm.cloud or 203.0.113.7), without scheme, port or path; the port goes in pbx_port"
    )]
    BadHost(String),
    #[error(
        "pbx_port {0} is not a TCP port: use 1-65535 (CloudUCM 8443, on-prem UCMs usually 8089)"
    )]
    BadPort(i32),
    #[error("api_password: {0}")]
    ApiPassword(SecretError),
    #[error(
        "api_port {0} is not a TCP port: use 1-65535, or leave it empty for the API on pbx_port"
    )]
    BadApiPort(i32),
    #[error(
        "api_username and api_password go together: set both \
         (`ucm-scraper tenant update ID --api-username NAME --api-password-stdin`)"
    )]
    HalfApiCredentials,
    #[error(
        "driver is `api` but the API credentials are not set: set them \
         (`ucm-scraper tenant update ID --api-username NAME --api-password-stdin`) or choose \
         `--driver auto`"
    )]
    ApiDriverWithoutCredentials,
    #[error(
        "ucm_timezone {0:?} is not an IANA time zone: set one such as Europe/Berlin \
         (`ucm-scraper tenant update ID --ucm-timezone Europe/Berlin`)"
    )]
    BadTimezone(String),
}

/// Every column the worker reads from `tenants`, cast so that the backend's VARCHAR and int4
/// columns decode the same as ours.
const TENANT_COLUMNS: &str = "id::bigint AS id, company_name::text AS company_name, \
     subdomain::text AS subdomain, phone_system_type::text AS phone_system_type, \
     pbx_ip::text AS pbx_ip, pbx_port, pbx_username::text AS pbx_username, \
     pbx_password::text AS pbx_password, coalesce(is_active, false) AS is_active, \
     ucm_timezone, ucm_firmware, ucm_last_login_at, ucm_last_error, \
     api_username, api_password, api_port, driver, api_last_error";

#[derive(Debug, sqlx::FromRow)]
struct TenantRow {
    id: i64,
    company_name: Option<String>,
    subdomain: String,
    phone_system_type: Option<String>,
    pbx_ip: Option<String>,
    pbx_port: Option<i32>,
    pbx_username: Option<String>,
    pbx_password: Option<String>,
    is_active: bool,
    ucm_timezone: String,
    ucm_firmware: Option<String>,
    ucm_last_login_at: Option<DateTime<Utc>>,
    ucm_last_error: Option<String>,
    api_username: Option<String>,
    api_password: Option<String>,
    api_port: Option<i32>,
    driver: String,
    api_last_error: Option<String>,
    /// The block in force: in the future and for the credentials the row holds now.
    blocked_until: Option<DateTime<Utc>>,
    /// The hold of the API road in force: in the future and for the API credentials held.
    api_held_until: Option<DateTime<Utc>>,
}

impl TenantRow {
    fn select(filter: &str) -> String {
        format!(
            "SELECT {TENANT_COLUMNS}, \
             CASE WHEN ucm_blocked_until > now() \
                   AND ucm_blocked_credentials = {CREDENTIALS_FINGERPRINT} \
                  THEN ucm_blocked_until END AS blocked_until, \
             CASE WHEN api_held_until > now() \
                   AND api_held_credentials = {API_CREDENTIALS_FINGERPRINT} \
                  THEN api_held_until END AS api_held_until \
             FROM tenants {filter} ORDER BY id"
        )
    }

    fn id(&self) -> TenantId {
        TenantId(self.id)
    }

    fn name(&self) -> String {
        non_empty(&self.company_name)
            .unwrap_or(&self.subdomain)
            .to_string()
    }

    /// The console credentials, when all three are there.
    fn credentials(&self) -> Option<(&str, &str, &str)> {
        Some((
            non_empty(&self.pbx_ip)?,
            non_empty(&self.pbx_username)?,
            // Not trimmed: spaces may be part of a password.
            self.pbx_password.as_deref().filter(|p| !p.is_empty())?,
        ))
    }

    fn driver(&self) -> DriverChoice {
        DriverChoice::from_column(&self.driver)
    }

    /// The API user and its stored password: `None` when neither is set.
    fn api_credentials(&self) -> Option<Result<(&str, &str), TenantProblem>> {
        let user = non_empty(&self.api_username);
        // Not trimmed: spaces may be part of a password.
        let stored = self.api_password.as_deref().filter(|p| !p.is_empty());
        match (user, stored) {
            (None, None) => None,
            (Some(user), Some(stored)) => Some(Ok((user, stored))),
            _ => Some(Err(TenantProblem::HalfApiCredentials)),
        }
    }

    /// The API's port: `api_port`, else `pbx_port`.
    fn api_port(&self) -> Result<Option<i32>, TenantProblem> {
        match self.api_port {
            Some(port) => console_port(Some(port))
                .map(|_| Some(port))
                .map_err(|_| TenantProblem::BadApiPort(port)),
            None => Ok(self.pbx_port),
        }
    }
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Loads the active `grandstream_ucm` tenants (only `only`, when given), oldest first.
/// Fails only when Postgres does; a tenant's bad data is reported in its entry.
pub async fn load_active(
    pool: &PgPool,
    cipher: &PasswordCipher,
    only: Option<TenantId>,
) -> Result<Vec<TenantEntry>, TenantError> {
    let rows: Vec<TenantRow> = sqlx::query_as(sqlx::AssertSqlSafe(TenantRow::select(
        "WHERE is_active AND phone_system_type = 'grandstream_ucm' \
         AND ($1::bigint IS NULL OR id = $1)",
    )))
    .bind(only.map(|id| id.0))
    .fetch_all(pool)
    .await
    .map_err(TenantError::db("loading active tenants"))?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        entries.push(entry(pool, cipher, row).await);
    }
    Ok(entries)
}

/// Loads one tenant whether active or not (`tenant test`, `once --tenant` diagnostics).
pub async fn load_one(
    pool: &PgPool,
    cipher: &PasswordCipher,
    id: TenantId,
) -> Result<TenantEntry, TenantError> {
    let row: Option<TenantRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(TenantRow::select("WHERE id = $1")))
            .bind(id.0)
            .fetch_optional(pool)
            .await
            .map_err(TenantError::db("loading a tenant"))?;
    match row {
        Some(row) => Ok(entry(pool, cipher, row).await),
        None => Err(TenantError::NotFound(id)),
    }
}

async fn entry(pool: &PgPool, cipher: &PasswordCipher, row: TenantRow) -> TenantEntry {
    let (id, name) = (row.id(), row.name());
    if let Some(until) = row.blocked_until {
        return TenantEntry::Blocked {
            id,
            name,
            until,
            last_error: row.ucm_last_error,
        };
    }
    let Some((host, username, stored)) = row.credentials() else {
        return TenantEntry::MissingCredentials { id, name };
    };
    let checked = || -> Result<_, TenantProblem> {
        Ok((
            console_url(host, row.pbx_port)?,
            cipher.open(stored)?,
            parse_timezone(&row.ucm_timezone)?,
        ))
    };
    let (base_url, opened, timezone) = match checked() {
        Ok(parts) => parts,
        Err(problem) => {
            let error = TenantError::Invalid {
                id,
                name: name.clone(),
                problem,
            };
            return TenantEntry::Broken { id, name, error };
        }
    };
    if opened.format == StoredFormat::Plaintext {
        seal_plaintext(
            pool,
            cipher,
            id,
            &name,
            Sealed::Pbx,
            stored,
            &opened.password,
        )
        .await;
    }
    let driver = row.driver();
    let api = match api_setting(pool, cipher, id, &name, host, &row).await {
        Ok(api) => api,
        Err(problem) if driver == DriverChoice::Api => {
            let error = TenantError::Invalid {
                id,
                name: name.clone(),
                problem,
            };
            return TenantEntry::Broken { id, name, error };
        }
        // The browser is the road then; the driver says why once per pass.
        Err(problem) => ApiSetting::Unusable(problem.to_string()),
    };
    TenantEntry::Ready(Tenant {
        id,
        console: ConsoleAccess {
            base_url,
            username: username.to_string(),
            password: opened.password,
        },
        name,
        subdomain: row.subdomain,
        timezone,
        firmware: row.ucm_firmware,
        driver,
        api,
    })
}

/// The tenant's API setting; an error is data an operator must fix. With `driver = api` and no
/// API credentials the tenant cannot be worked at all.
async fn api_setting(
    pool: &PgPool,
    cipher: &PasswordCipher,
    id: TenantId,
    name: &str,
    host: &str,
    row: &TenantRow,
) -> Result<ApiSetting, TenantProblem> {
    let Some(credentials) = row.api_credentials() else {
        return match row.driver() {
            DriverChoice::Api => Err(TenantProblem::ApiDriverWithoutCredentials),
            _ => Ok(ApiSetting::NotSet),
        };
    };
    let (username, stored) = credentials?;
    if let Some(until) = row.api_held_until {
        return Ok(ApiSetting::Held {
            until,
            reason: row.api_last_error.clone(),
        });
    }
    let base_url = console_url(host, row.api_port()?)?;
    let opened = cipher.open(stored).map_err(TenantProblem::ApiPassword)?;
    if opened.format == StoredFormat::Plaintext {
        seal_plaintext(
            pool,
            cipher,
            id,
            name,
            Sealed::Api,
            stored,
            &opened.password,
        )
        .await;
    }
    Ok(ApiSetting::Ready(Box::new(ApiAccess {
        base_url,
        username: username.to_string(),
        password: opened.password,
    })))
}

/// The password columns the loader seals in place when it finds them in plaintext.
#[derive(Debug, Clone, Copy)]
enum Sealed {
    Pbx,
    Api,
}

impl Sealed {
    fn column(self) -> &'static str {
        match self {
            Sealed::Pbx => "pbx_password",
            Sealed::Api => "api_password",
        }
    }
}

/// Replaces a plaintext password column with its sealed form. Only when the column still holds
/// that plaintext, so a concurrent change by an operator is never overwritten. Failing to seal
/// is a warning, not an error: the password works, and the operator learns how to fix it.
async fn seal_plaintext(
    pool: &PgPool,
    cipher: &PasswordCipher,
    id: TenantId,
    name: &str,
    which: Sealed,
    stored: &str,
    password: &Secret<String>,
) {
    let column = which.column();
    let sealed = match cipher.seal(password) {
        Ok(sealed) => sealed,
        Err(error) => {
            tracing::warn!(tenant.id = id.0, tenant.name = name, %error,
                "{column} of tenant {name} (ID: {id}) is stored in plaintext and was left so");
            return;
        }
    };
    let result = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE tenants SET {column} = $2 WHERE id = $1 AND {column} = $3"
    )))
    .bind(id.0)
    .bind(&sealed)
    .bind(stored)
    .execute(pool)
    .await;
    match result {
        Ok(_) => {
            tracing::warn!(tenant.id = id.0, tenant.name = name, format = ?cipher.write_format(),
            "{column} of tenant {name} (ID: {id}) was stored in plaintext; encrypted it in place")
        }
        Err(error) => tracing::warn!(tenant.id = id.0, tenant.name = name, %error,
            "{column} of tenant {name} (ID: {id}) is stored in plaintext; encrypting it in place failed"),
    }
}

/// `https://<pbx_ip>:<pbx_port>/`. `pbx_ip` must be a bare host: a scheme, port or path in it is
/// an operator's mistake worth naming rather than guessing around.
pub fn console_url(pbx_ip: &str, pbx_port: Option<i32>) -> Result<Url, TenantProblem> {
    let host = console_host(pbx_ip)?;
    let port = console_port(pbx_port)?;
    Url::parse(&format!("https://{host}:{port}/"))
        .map_err(|_| TenantProblem::BadHost(pbx_ip.to_string()))
}

/// The host as it goes into a URL (IPv6 in brackets).
pub fn console_host(pbx_ip: &str) -> Result<String, TenantProblem> {
    let value = pbx_ip.trim();
    match value.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => return Ok(format!("[{v6}]")),
        Ok(IpAddr::V4(v4)) => return Ok(v4.to_string()),
        Err(_) => {}
    }
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    };
    if value.len() <= 253 && value.split('.').all(label_ok) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(TenantProblem::BadHost(pbx_ip.to_string()))
    }
}

pub fn console_port(pbx_port: Option<i32>) -> Result<u16, TenantProblem> {
    match pbx_port {
        None => Ok(DEFAULT_PBX_PORT),
        Some(port) => u16::try_from(port)
            .ok()
            .filter(|p| *p != 0)
            .ok_or(TenantProblem::BadPort(port)),
    }
}

pub fn parse_timezone(name: &str) -> Result<Tz, TenantProblem> {
    name.trim()
        .parse()
        .map_err(|_| TenantProblem::BadTimezone(name.to_string()))
}

/// How long a tenant is blocked after its `failures`-th failed login in a row with the same
/// credentials: 15 min, 30 min, 1 h, … at most 24 h.
pub fn login_backoff(failures: i32) -> Duration {
    let doublings = failures.saturating_sub(1).clamp(0, 16) as u32;
    FIRST_BLOCK
        .saturating_mul(1 << doublings)
        .min(LONGEST_BLOCK)
}

/// A login worked: clear failures, block and error; remember when and which firmware.
pub async fn record_login_success(
    pool: &PgPool,
    id: TenantId,
    firmware: Option<&str>,
) -> Result<(), TenantError> {
    sqlx::query(
        "UPDATE tenants SET ucm_last_login_at = now(), ucm_firmware = coalesce($2, ucm_firmware), \
         ucm_login_failures = 0, ucm_blocked_until = NULL, ucm_blocked_credentials = NULL, \
         ucm_last_error = NULL WHERE id = $1",
    )
    .bind(id.0)
    .bind(firmware)
    .execute(pool)
    .await
    .map_err(TenantError::db("recording a successful login"))?;
    Ok(())
}

/// A login failed (rejected credentials, lockout, CAPTCHA): block the tenant for
/// [`login_backoff`] of its consecutive failures with these credentials. Returns the end of the
/// block. Failures counted against other credentials do not carry over to changed ones.
pub async fn record_login_failure(
    pool: &PgPool,
    id: TenantId,
    reason: &str,
) -> Result<DateTime<Utc>, TenantError> {
    record_failure(pool, id, reason, &WEB_LOGIN).await
}

/// Where a run of failed logins is counted: the web login's columns or the API road's.
struct FailureColumns {
    op: &'static str,
    failures: &'static str,
    until: &'static str,
    credentials: &'static str,
    error: &'static str,
    fingerprint: &'static str,
}

const WEB_LOGIN: FailureColumns = FailureColumns {
    op: "recording a failed login",
    failures: "ucm_login_failures",
    until: "ucm_blocked_until",
    credentials: "ucm_blocked_credentials",
    error: "ucm_last_error",
    fingerprint: CREDENTIALS_FINGERPRINT,
};

const API_LOGIN: FailureColumns = FailureColumns {
    op: "recording a refused API login",
    failures: "api_login_failures",
    until: "api_held_until",
    credentials: "api_held_credentials",
    error: "api_last_error",
    fingerprint: API_CREDENTIALS_FINGERPRINT,
};

/// Counts one more failed login with the same credentials (the count restarts with others)
/// and holds until [`login_backoff`] of the count from now, or later when a hold in force with
/// the same credentials ends later. Returns the end of the hold.
async fn record_failure(
    pool: &PgPool,
    id: TenantId,
    reason: &str,
    columns: &FailureColumns,
) -> Result<DateTime<Utc>, TenantError> {
    let FailureColumns {
        op,
        failures,
        until,
        credentials,
        error,
        fingerprint,
    } = columns;
    let mut tx = pool.begin().await.map_err(TenantError::db(op))?;
    let previous: Option<(i32, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {failures}, coalesce({credentials} = {fingerprint}, false) \
         FROM tenants WHERE id = $1 FOR UPDATE"
    )))
    .bind(id.0)
    .fetch_optional(&mut *tx)
    .await
    .map_err(TenantError::db(op))?;
    let (count, same_credentials) = previous.ok_or(TenantError::NotFound(id))?;
    let count = if same_credentials { count + 1 } else { 1 };
    let (held_until,): (DateTime<Utc>,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE tenants SET {failures} = $2, \
                {until} = CASE WHEN $5 \
                    THEN greatest({until}, now() + make_interval(secs => $3)) \
                    ELSE now() + make_interval(secs => $3) END, \
                {credentials} = {fingerprint}, {error} = $4 \
         WHERE id = $1 RETURNING {until}"
    )))
    .bind(id.0)
    .bind(count)
    .bind(login_backoff(count).as_secs_f64())
    .bind(bounded(reason))
    .bind(same_credentials)
    .fetch_one(&mut *tx)
    .await
    .map_err(TenantError::db(op))?;
    tx.commit().await.map_err(TenantError::db(op))?;
    Ok(held_until)
}

/// The console blocks logins (an API lockout, -68/-70) for at least `at_least`: the tenant is
/// blocked that long, like a web lockout, so no login is tried before the console's own period
/// ends. A block recorded after it ([`record_login_failure`]) keeps the later end.
pub async fn record_lockout(
    pool: &PgPool,
    id: TenantId,
    reason: &str,
    at_least: Duration,
) -> Result<DateTime<Utc>, TenantError> {
    let (until,): (DateTime<Utc>,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE tenants SET ucm_blocked_until = now() + make_interval(secs => $2), \
                ucm_blocked_credentials = {CREDENTIALS_FINGERPRINT}, ucm_last_error = $3 \
         WHERE id = $1 RETURNING ucm_blocked_until"
    )))
    .bind(id.0)
    .bind(at_least.as_secs_f64())
    .bind(bounded(reason))
    .fetch_optional(pool)
    .await
    .map_err(TenantError::db("recording a login lockout"))?
    .ok_or(TenantError::NotFound(id))?;
    Ok(until)
}

/// The console refused the API user or password (-37/-71): the API road is held for
/// [`login_backoff`] of the refusals in a row with these API credentials, so a wrong API
/// password costs one bad login per hold, not one per pass. Changing them lifts the hold.
pub async fn record_api_refusal(
    pool: &PgPool,
    id: TenantId,
    reason: &str,
) -> Result<DateTime<Utc>, TenantError> {
    record_failure(pool, id, reason, &API_LOGIN).await
}

/// An API login worked: the API road's refusals are forgotten.
pub async fn record_api_login(pool: &PgPool, id: TenantId) -> Result<(), TenantError> {
    sqlx::query(
        "UPDATE tenants SET api_login_failures = 0, api_held_until = NULL, \
         api_held_credentials = NULL, api_last_error = NULL \
         WHERE id = $1 AND (api_login_failures <> 0 OR api_last_error IS NOT NULL)",
    )
    .bind(id.0)
    .execute(pool)
    .await
    .map_err(TenantError::db("recording an API login"))?;
    Ok(())
}

/// Any other failure of a tenant's pass, shown by `tenant list`; it does not block the tenant.
pub async fn record_error(pool: &PgPool, id: TenantId, reason: &str) -> Result<(), TenantError> {
    sqlx::query("UPDATE tenants SET ucm_last_error = $2 WHERE id = $1")
        .bind(id.0)
        .bind(bounded(reason))
        .execute(pool)
        .await
        .map_err(TenantError::db("recording a tenant's error"))?;
    Ok(())
}

fn bounded(reason: &str) -> &str {
    match reason.char_indices().nth(MAX_ERROR_CHARS) {
        Some((cut, _)) => &reason[..cut],
        None => reason,
    }
}

/// The right to drive a tenant's console, held by one worker at a time: a Postgres
/// session-level advisory lock on a connection of its own. Replicas that find it taken skip
/// the tenant for this pass, so a console never sees two of our logins at once. A crashed
/// worker's connection closes and the lock goes with it.
pub struct ConsoleLock {
    conn: Option<sqlx::PgConnection>,
    id: TenantId,
}

/// Namespace of our advisory locks, so they never collide with another application's.
const CONSOLE_LOCK_SPACE: i32 = 0x5543_4d00; // "UCM\0"

/// Takes the tenant's console lock, or `None` when another worker holds it.
pub async fn lock_console(pool: &PgPool, id: TenantId) -> Result<Option<ConsoleLock>, TenantError> {
    // Detached from the pool: a lock must never go back into the pool with its connection.
    let mut conn = pool
        .acquire()
        .await
        .map_err(TenantError::db("taking a console lock"))?
        .detach();
    let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
        .bind(CONSOLE_LOCK_SPACE)
        .bind(id.0 as i32)
        .fetch_one(&mut conn)
        .await
        .map_err(TenantError::db("taking a console lock"))?;
    Ok(taken.then_some(ConsoleLock {
        conn: Some(conn),
        id,
    }))
}

impl ConsoleLock {
    /// Gives the console back; dropping the lock does the same by closing its connection.
    pub async fn release(mut self) {
        use sqlx::Connection as _;
        if let Some(mut conn) = self.conn.take() {
            let _ = sqlx::query("SELECT pg_advisory_unlock($1, $2)")
                .bind(CONSOLE_LOCK_SPACE)
                .bind(self.id.0 as i32)
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_15_minutes_and_stops_at_a_day() {
        let minutes: Vec<u64> = (0..=10).map(|n| login_backoff(n).as_secs() / 60).collect();
        assert_eq!(
            minutes,
            [15, 15, 30, 60, 120, 240, 480, 960, 1440, 1440, 1440]
        );
        assert_eq!(login_backoff(i32::MAX), LONGEST_BLOCK);
    }

    #[test]
    fn console_url_takes_bare_hosts_only() {
        assert_eq!(
            console_url("Acme01.c.myucm.cloud", None).unwrap().as_str(),
            "https://acme01.c.myucm.cloud:8443/"
        );
        assert_eq!(
            console_url(" 192.0.2.7 ", Some(8089)).unwrap().as_str(),
            "https://192.0.2.7:8089/"
        );
        assert_eq!(
            console_url("2001:db8::1", Some(8089)).unwrap().as_str(),
            "https://[2001:db8::1]:8089/"
        );
        for bad in [
            "https://pbx.example.com",
            "pbx.example.com/",
            "pbx.example.com:8089",
            "a b",
            "",
            "-x.com",
            "x..com",
        ] {
            assert!(
                matches!(console_url(bad, None), Err(TenantProblem::BadHost(_))),
                "{bad:?}"
            );
        }
        for bad in [0, -1, 65536] {
            assert!(
                matches!(
                    console_url("pbx", Some(bad)),
                    Err(TenantProblem::BadPort(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn long_errors_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_ERROR_CHARS + 5);
        assert_eq!(bounded(&long).chars().count(), MAX_ERROR_CHARS);
        assert_eq!(bounded("short"), "short");
    }
}
