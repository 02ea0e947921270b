//! One file over 500 lines: every `tenant` subcommand shares `Changes`, the one check and
//! sealing of a tenant's fields (the dashboard's forms use it too), so they read together.
//!
//! `ucm-scraper tenant add | list | update | enable | disable | unmatched | test` (README:
//! Tenants): the operator's way to manage tenants without SQL. Passwords come from stdin or a
//! prompt, never argv, and are sealed before they reach the database.

use std::io::{IsTerminal as _, Write};

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};

use super::{database, probe, CommandError, Outcome, Schema};
use crate::calls::{self, CallsError};
use crate::cli::{TenantArgs, TenantCommand};
use crate::config::Settings;
use crate::console::Window;
use crate::ids::TenantId;
use crate::secrets::{PasswordCipher, PasswordFormat, Secret, SecretError, StoredFormat};
use crate::tenants::{
    self, console_host, console_port, parse_timezone, DriverChoice, TenantError, TenantProblem,
    DEFAULT_PBX_PORT,
};
use crate::{learned, unmatched};

#[derive(Debug, thiserror::Error)]
pub enum TenantCommandError {
    #[error(transparent)]
    Tenant(#[from] TenantError),
    #[error(transparent)]
    Calls(#[from] CallsError),
    #[error(transparent)]
    Invalid(#[from] TenantProblem),
    #[error(transparent)]
    Unmatched(#[from] unmatched::TableError),
    #[error(transparent)]
    Learned(#[from] learned::StoreError),
    #[error("tenant add needs --subdomain (unique, e.g. acme)")]
    MissingSubdomain,
    #[error("subdomain {0:?} belongs to another tenant: choose another --subdomain")]
    SubdomainTaken(String),
    #[error(
        "nothing to update: give at least one of --company-name, --subdomain, --pbx-ip, \
         --pbx-port, --pbx-username, --pbx-password-stdin, --pbx-password-prompt, --ucm-timezone, \
         --api-username, --api-password-stdin, --api-port, --driver"
    )]
    NothingToUpdate,
    #[error("the password is empty: give it as the first line of stdin with --pbx-password-stdin, or at the prompt")]
    EmptyPassword,
    #[error(
        "the API password is empty: give it as the first line of stdin with --api-password-stdin"
    )]
    EmptyApiPassword,
    #[error("the API username is empty: give the API user's name with --api-username")]
    EmptyApiUsername,
    #[error("reading the password failed ({0}): without a terminal, pipe it in with --pbx-password-stdin")]
    ReadPassword(std::io::Error),
    #[error("cannot store the password: {0}")]
    Seal(SecretError),
    #[error("writing the output failed: {0}")]
    Output(#[from] std::io::Error),
}

/// Where a new UCM password is read from: never argv.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PasswordFrom {
    /// Not asked for, except that `add` with a username prompts on a terminal.
    NotGiven,
    /// The first line of stdin.
    Stdin,
    /// A prompt on the terminal, without echo.
    Prompt,
}

impl PasswordFrom {
    fn of(fields: &TenantArgs) -> Self {
        // clap refuses both flags at once.
        match (fields.pbx_password_stdin, fields.pbx_password_prompt) {
            (true, _) => PasswordFrom::Stdin,
            (false, true) => PasswordFrom::Prompt,
            (false, false) => PasswordFrom::NotGiven,
        }
    }
}

/// Runs one tenant command. Those that write migrate first; `list` and `unmatched` only read.
pub(super) async fn run(command: TenantCommand, window: Window) -> Result<Outcome, CommandError> {
    let settings = Settings::from_env()?;
    let cipher = settings.password_cipher();
    let mut out = std::io::stdout().lock();
    let written = match command {
        TenantCommand::Test { id } => {
            let probe = probe::tenant(
                &settings,
                window,
                TenantId(id),
                crate::probe::ApiProbe::Session,
            )
            .await?;
            write!(out, "{}", probe.summary())
        }
        TenantCommand::Add(fields) => {
            // Refused before a prompt asks for a password in vain.
            let subdomain = subdomain_to_add(&fields)?;
            // A console login without a password is never what was meant: ask on a terminal.
            let password = read_password(&fields, fields.pbx_username.is_some())?;
            let changes = Changes::check(&fields, password, &cipher)?
                .with_api_password(read_api_password(&fields)?, &cipher)?;
            let pool = database(&settings, Schema::Migrate).await?;
            let id = add(&pool, &subdomain, &changes).await?;
            writeln!(out, "{id}")
        }
        TenantCommand::List => {
            let pool = database(&settings, Schema::Current).await?;
            list(&pool, settings.lookback_days, &mut out).await?;
            Ok(())
        }
        TenantCommand::Update { id, fields } => {
            let password = read_password(&fields, false)?;
            let changes = Changes::check(&fields, password, &cipher)?
                .with_api_password(read_api_password(&fields)?, &cipher)?;
            let pool = database(&settings, Schema::Migrate).await?;
            update(&pool, &cipher, TenantId(id), &changes).await?;
            writeln!(out, "Tenant {id} updated")
        }
        TenantCommand::Enable { id } => {
            let pool = database(&settings, Schema::Migrate).await?;
            set_active(&pool, TenantId(id), true).await?;
            writeln!(out, "Tenant {id} enabled")
        }
        TenantCommand::Disable { id } => {
            let pool = database(&settings, Schema::Migrate).await?;
            set_active(&pool, TenantId(id), false).await?;
            writeln!(out, "Tenant {id} disabled")
        }
        TenantCommand::Unmatched { id } => {
            let pool = database(&settings, Schema::Current).await?;
            list_unmatched(&pool, TenantId(id), &mut out).await?;
            Ok(())
        }
    };
    written.map_err(TenantCommandError::Output)?;
    Ok(Outcome::Success)
}

/// A tenant's new values, checked, with the password sealed; `None` leaves a field as it is.
/// The command line and the dashboard's form both write through it.
pub struct Changes {
    company_name: Option<String>,
    subdomain: Option<String>,
    pbx_ip: Option<String>,
    pbx_port: Option<i32>,
    pbx_username: Option<String>,
    pbx_password: Option<String>,
    ucm_timezone: Option<String>,
    api_username: Option<String>,
    /// Sealed like `pbx_password`.
    api_password: Option<String>,
    api_port: Option<i32>,
    driver: Option<DriverChoice>,
}

impl Changes {
    /// Checks `fields` and seals `password` (already read: never from argv).
    pub fn check(
        fields: &TenantArgs,
        password: Option<Secret<String>>,
        cipher: &PasswordCipher,
    ) -> Result<Self, TenantCommandError> {
        let trimmed = |v: &Option<String>| v.as_deref().map(|v| v.trim().to_string());
        let pbx_ip = trimmed(&fields.pbx_ip);
        if let Some(ip) = &pbx_ip {
            console_host(ip)?;
        }
        if fields.pbx_port.is_some() {
            console_port(fields.pbx_port)?;
        }
        let ucm_timezone = trimmed(&fields.ucm_timezone);
        if let Some(tz) = &ucm_timezone {
            parse_timezone(tz)?;
        }
        if let Some(port) = fields.api_port {
            console_port(Some(port)).map_err(|_| TenantProblem::BadApiPort(port))?;
        }
        let api_username = trimmed(&fields.api_username);
        if api_username.as_ref().is_some_and(String::is_empty) {
            return Err(TenantCommandError::EmptyApiUsername);
        }
        if password.as_ref().is_some_and(|p| p.expose().is_empty()) {
            return Err(TenantCommandError::EmptyPassword);
        }
        Ok(Self {
            company_name: trimmed(&fields.company_name),
            subdomain: trimmed(&fields.subdomain),
            pbx_ip,
            pbx_port: fields.pbx_port,
            pbx_username: trimmed(&fields.pbx_username),
            pbx_password: seal(password, cipher)?,
            ucm_timezone,
            api_username,
            api_password: None,
            api_port: fields.api_port,
            driver: fields.driver,
        })
    }

    /// Adds the API user's new password (already read: never from argv), sealed like the
    /// console's.
    pub fn with_api_password(
        self,
        password: Option<Secret<String>>,
        cipher: &PasswordCipher,
    ) -> Result<Self, TenantCommandError> {
        if password.as_ref().is_some_and(|p| p.expose().is_empty()) {
            return Err(TenantCommandError::EmptyApiPassword);
        }
        Ok(Self {
            api_password: seal(password, cipher)?,
            ..self
        })
    }

    /// The names of the columns it changes: what an audit may say, never a value.
    pub fn columns(&self) -> Vec<&'static str> {
        [
            ("company_name", self.company_name.is_some()),
            ("subdomain", self.subdomain.is_some()),
            ("pbx_ip", self.pbx_ip.is_some()),
            ("pbx_port", self.pbx_port.is_some()),
            ("pbx_username", self.pbx_username.is_some()),
            ("pbx_password", self.pbx_password.is_some()),
            ("ucm_timezone", self.ucm_timezone.is_some()),
            ("api_username", self.api_username.is_some()),
            ("api_password", self.api_password.is_some()),
            ("api_port", self.api_port.is_some()),
            ("driver", self.driver.is_some()),
        ]
        .into_iter()
        .filter_map(|(column, given)| given.then_some(column))
        .collect()
    }

    fn changes_credentials(&self) -> bool {
        self.pbx_ip.is_some()
            || self.pbx_port.is_some()
            || self.pbx_username.is_some()
            || self.pbx_password.is_some()
            || self.changes_api_credentials()
    }

    fn changes_api_credentials(&self) -> bool {
        self.api_username.is_some() || self.api_password.is_some() || self.api_port.is_some()
    }
}

fn seal(
    password: Option<Secret<String>>,
    cipher: &PasswordCipher,
) -> Result<Option<String>, TenantCommandError> {
    password
        .map(|p| cipher.seal(&p).map_err(TenantCommandError::Seal))
        .transpose()
}

/// The API user's password: the first line of stdin with `--api-password-stdin`.
fn read_api_password(fields: &TenantArgs) -> Result<Option<Secret<String>>, TenantCommandError> {
    if !fields.api_password_stdin {
        return Ok(None);
    }
    Ok(Some(read_stdin_line()?))
}

fn read_stdin_line() -> Result<Secret<String>, TenantCommandError> {
    super::first_line_of_stdin().map_err(TenantCommandError::ReadPassword)
}

/// The password the flags ask for. `prompt_by_default`: ask on a terminal even without
/// `--pbx-password-prompt`.
fn read_password(
    fields: &TenantArgs,
    prompt_by_default: bool,
) -> Result<Option<Secret<String>>, TenantCommandError> {
    let from = match PasswordFrom::of(fields) {
        PasswordFrom::NotGiven if prompt_by_default && std::io::stdin().is_terminal() => {
            PasswordFrom::Prompt
        }
        given => given,
    };
    match from {
        PasswordFrom::Stdin => Ok(Some(read_stdin_line()?)),
        PasswordFrom::Prompt => rpassword::prompt_password("UCM password (not shown): ")
            .map(|p| Some(Secret::new(p)))
            .map_err(TenantCommandError::ReadPassword),
        PasswordFrom::NotGiven => Ok(None),
    }
}

/// Postgres failed while doing `op`.
fn db_failed(op: &'static str) -> impl FnOnce(sqlx::Error) -> TenantError {
    move |error| TenantError::Db { op, error }
}

/// Maps a unique violation on `subdomain` to the operator's mistake it is.
fn insert_error<'a>(
    subdomain: &'a str,
    op: &'static str,
) -> impl FnOnce(sqlx::Error) -> TenantCommandError + 'a {
    move |error| match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            TenantCommandError::SubdomainTaken(subdomain.to_string())
        }
        _ => TenantError::Db { op, error }.into(),
    }
}

/// `tenant add` needs a subdomain: the backend's unique name of a tenant.
fn subdomain_to_add(fields: &TenantArgs) -> Result<String, TenantCommandError> {
    fields
        .subdomain
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or(TenantCommandError::MissingSubdomain)
}

async fn add(
    pool: &PgPool,
    subdomain: &str,
    changes: &Changes,
) -> Result<TenantId, TenantCommandError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO tenants (company_name, subdomain, phone_system_type, pbx_ip, pbx_port, \
                              pbx_username, pbx_password, ucm_timezone, api_username, \
                              api_password, api_port, driver) \
         VALUES ($1, $2, 'grandstream_ucm', $3, coalesce($4, $5), $6, $7, coalesce($8, 'UTC'), \
                 $9, $10, $11, coalesce($12, 'auto')) \
         RETURNING id::bigint",
    )
    .bind(&changes.company_name)
    .bind(subdomain)
    .bind(&changes.pbx_ip)
    .bind(changes.pbx_port)
    .bind(i32::from(DEFAULT_PBX_PORT))
    .bind(&changes.pbx_username)
    .bind(&changes.pbx_password)
    .bind(&changes.ucm_timezone)
    .bind(&changes.api_username)
    .bind(&changes.api_password)
    .bind(changes.api_port)
    .bind(changes.driver.map(DriverChoice::as_str))
    .fetch_one(pool)
    .await
    .map_err(insert_error(subdomain, "adding a tenant"))?;
    tracing::info!(tenant.id = id, "Added tenant {id} ({subdomain})");
    Ok(TenantId(id))
}

/// Changes only the given fields. Changing the console address or credentials lifts a login
/// block at once (it would be lifted at the next load anyway, see [`super`]), so `list` agrees.
pub async fn update(
    pool: &PgPool,
    cipher: &PasswordCipher,
    id: TenantId,
    changes: &Changes,
) -> Result<(), TenantCommandError> {
    if changes.pbx_password.is_some() && cipher.write_format() == PasswordFormat::AesGcm {
        warn_if_backend_loses_password(pool, id).await?;
    }
    let mut query: QueryBuilder<Postgres> = QueryBuilder::new("UPDATE tenants SET ");
    let mut set = query.separated(", ");
    let columns = [
        ("company_name", &changes.company_name),
        ("subdomain", &changes.subdomain),
        ("pbx_ip", &changes.pbx_ip),
        ("pbx_username", &changes.pbx_username),
        ("pbx_password", &changes.pbx_password),
        ("ucm_timezone", &changes.ucm_timezone),
        ("api_username", &changes.api_username),
        ("api_password", &changes.api_password),
    ];
    let mut any = false;
    for (column, value) in columns {
        if let Some(value) = value {
            set.push(format!("{column} = "))
                .push_bind_unseparated(value.clone());
            any = true;
        }
    }
    for (column, port) in [
        ("pbx_port", changes.pbx_port),
        ("api_port", changes.api_port),
    ] {
        if let Some(port) = port {
            set.push(format!("{column} = ")).push_bind_unseparated(port);
            any = true;
        }
    }
    if let Some(driver) = changes.driver {
        set.push("driver = ").push_bind_unseparated(driver.as_str());
        any = true;
    }
    if !any {
        return Err(TenantCommandError::NothingToUpdate);
    }
    if changes.changes_credentials() {
        set.push("ucm_login_failures = 0");
        set.push("ucm_blocked_until = NULL");
        set.push("ucm_blocked_credentials = NULL");
    }
    if changes.changes_api_credentials() {
        set.push("api_login_failures = 0");
        set.push("api_held_until = NULL");
        set.push("api_held_credentials = NULL");
        set.push("api_last_error = NULL");
    }
    query.push(" WHERE id = ").push_bind(id.0);
    let subdomain = changes.subdomain.as_deref().unwrap_or_default();
    let done = query
        .build()
        .execute(pool)
        .await
        .map_err(insert_error(subdomain, "updating a tenant"))?;
    if done.rows_affected() == 0 {
        return Err(TenantError::NotFound(id).into());
    }
    tracing::info!(
        tenant.id = id.0,
        credentials_changed = changes.changes_credentials(),
        "Updated tenant {id}"
    );
    Ok(())
}

/// Replacing the backend's Fernet token with a `v1:` value is the operator's choice
/// (`PBX_PASSWORD_FORMAT`), but one the backend notices only when it fails to read the column.
async fn warn_if_backend_loses_password(
    pool: &PgPool,
    id: TenantId,
) -> Result<(), TenantCommandError> {
    let stored: Option<(Option<String>,)> =
        sqlx::query_as("SELECT pbx_password::text FROM tenants WHERE id = $1")
            .bind(id.0)
            .fetch_optional(pool)
            .await
            .map_err(db_failed("reading a tenant's password format"))?;
    if let Some((Some(stored),)) = stored {
        if StoredFormat::of(&stored) == StoredFormat::Fernet {
            tracing::warn!(
                tenant.id = id.0,
                "Tenant {id}: replacing the backend's Fernet token with an aes-gcm (v1) value, which \
                 the Python backend cannot read; use PBX_PASSWORD_FORMAT=fernet if it must"
            );
        }
    }
    Ok(())
}

pub async fn set_active(
    pool: &PgPool,
    id: TenantId,
    active: bool,
) -> Result<(), TenantCommandError> {
    let done = sqlx::query("UPDATE tenants SET is_active = $2 WHERE id = $1")
        .bind(id.0)
        .bind(active)
        .execute(pool)
        .await
        .map_err(db_failed("enabling or disabling a tenant"))?;
    if done.rows_affected() == 0 {
        return Err(TenantError::NotFound(id).into());
    }
    Ok(())
}

/// Longest last error shown in the table; `ucm_last_error` has the whole text.
const ERROR_COLUMN_CHARS: usize = 60;

/// The table of every tenant: what the worker will do with it and why. BACKLOG counts every call
/// waiting for its recording; NOT LISTED YET, those of them the console did not list yet
/// (checked again each pass); NOT ON CONSOLE, the calls ended for good because it never did.
pub async fn list(
    pool: &PgPool,
    lookback_days: u32,
    out: &mut dyn Write,
) -> Result<(), TenantCommandError> {
    let rows = tenants::listing::all(pool).await?;
    let mut table = vec![[
        "ID",
        "NAME",
        "ACTIVE",
        "CONSOLE",
        "LAST LOGIN",
        "LAST ERROR",
        "BLOCKED UNTIL",
        "ROAD",
        "BACKLOG",
        "NOT LISTED YET",
        "NOT ON CONSOLE",
        "UNMATCHED",
        "LEARNED SELECTORS",
    ]
    .map(String::from)];
    for row in &rows {
        let backlog = calls::backlog(pool, row.id, lookback_days).await?;
        let unlisted = calls::unlisted(pool, row.id, lookback_days).await?;
        let unmatched = unmatched::open_count(pool, row.id).await?;
        let learned = learned::get(pool, row.id)
            .await?
            .map_or(String::new(), |file| file.summary());
        let error: String = row
            .last_error
            .as_deref()
            .unwrap_or("")
            .chars()
            .take(ERROR_COLUMN_CHARS)
            .collect();
        table.push([
            row.id.to_string(),
            row.name.clone(),
            if row.is_active { "yes" } else { "no" }.to_string(),
            row.console.clone(),
            time(row.last_login_at),
            error.replace(['\n', '\r'], " "),
            time(row.blocked_until),
            row.road.clone(),
            backlog.to_string(),
            unlisted.not_listed_yet.to_string(),
            unlisted.not_on_console.to_string(),
            unmatched.to_string(),
            learned,
        ]);
    }
    write_table(out, &table)?;
    Ok(())
}

/// `tenant unmatched ID`: the recordings noticed on the console without a call, oldest first.
async fn list_unmatched(
    pool: &PgPool,
    tenant: TenantId,
    out: &mut dyn Write,
) -> Result<(), TenantCommandError> {
    let entries = unmatched::not_matched(pool, tenant).await?;
    let mut table = vec![[
        "FILE",
        "CALLER",
        "CALLEE",
        "SHOWN",
        "FIRST SEEN",
        "STATUS",
        "KEPT AS",
    ]
    .map(String::from)];
    for entry in &entries {
        table.push([
            entry.file_name().unwrap_or("-").to_string(),
            entry.caller.clone(),
            entry.callee.clone(),
            time(entry.shown_at),
            time(Some(entry.first_seen_at)),
            entry.status.clone(),
            entry.storage_key.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    write_table(out, &table)?;
    Ok(())
}

fn time(at: Option<DateTime<Utc>>) -> String {
    at.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "-".to_string())
}

fn write_table<const N: usize>(out: &mut dyn Write, rows: &[[String; N]]) -> std::io::Result<()> {
    let mut widths = [0; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    Ok(())
}
