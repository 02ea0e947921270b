//! `ucm-scraper doctor`: every dependency checked the way an operator would check it by hand,
//! one line each, saying `ok` and what was found, or what to fix.
//!
//! It writes nothing a pass would not (no object, no row, no password re-encrypted) and sends
//! nothing to the AI webhook: the checks are reads, a browser started and ended, and a TCP
//! connection opened and closed.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use sqlx::PgPool;

use crate::config::Settings;
use crate::console::{self, BrowserConfig, Window};
use crate::db;
use crate::secrets::{PasswordCipher, StoredFormat};
use crate::selectors::{SelectorCatalog, SelectorSet};
use crate::storage;

/// Opening a TCP connection to the AI webhook's host gives up after this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok(String),
    /// What is wrong and what to do about it.
    Failed(String),
    /// Not checked: not configured, or an earlier check it needs failed.
    Skipped(String),
}

#[derive(Debug, Clone)]
pub struct Check {
    /// `database`, `passwords`, `webdriver`, `storage`, `ai-webhook`, `selectors`.
    pub name: &'static str,
    pub outcome: Outcome,
}

/// Every check, in the order they ran.
#[derive(Debug, Clone)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    /// True when no check failed (skipped ones do not count).
    pub fn passed(&self) -> bool {
        !self
            .checks
            .iter()
            .any(|c| matches!(c.outcome, Outcome::Failed(_)))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            let (mark, text) = match &check.outcome {
                Outcome::Ok(text) => ("ok", text),
                Outcome::Failed(text) => ("FAIL", text),
                Outcome::Skipped(text) => ("skip", text),
            };
            // One line each, whatever the text: a TOML parse error spans several.
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            writeln!(f, "{mark:<5} {:<11} {text}", check.name)?;
        }
        Ok(())
    }
}

/// Runs every check against the configured services.
/// `window`: whether the test browser shows its window (`--headed`).
pub async fn run(settings: &Settings, window: Window) -> Report {
    let mut checks = Vec::new();
    let pool = db::connect(&settings.database_url, 2).await;
    let database = match &pool {
        Ok(pool) => migrations(pool).await,
        Err(error) => Err(error.to_string()),
    };
    let database_ok = database.is_ok();
    checks.push(check("database", database));
    checks.push(Check {
        name: "passwords",
        outcome: match &pool {
            Ok(pool) if database_ok => outcome(passwords(pool, &settings.password_cipher()).await),
            _ => Outcome::Skipped("needs the database, migrated".into()),
        },
    });
    checks.push(check("webdriver", webdriver(settings, window).await));
    checks.push(check("storage", storage_ready(settings).await));
    checks.push(Check {
        name: "ai-webhook",
        outcome: match &settings.ai_webhook {
            Some(webhook) => outcome(webhook_reachable(&webhook.url).await),
            None => {
                Outcome::Skipped("AI_WEBHOOK_URL is not set: no AI processing is triggered".into())
            }
        },
    });
    checks.push(check("selectors", selectors(&settings.selectors_dir)));
    if let Ok(pool) = pool {
        pool.close().await;
    }
    Report { checks }
}

fn check(name: &'static str, result: Result<String, String>) -> Check {
    Check {
        name,
        outcome: outcome(result),
    }
}

fn outcome(result: Result<String, String>) -> Outcome {
    match result {
        Ok(found) => Outcome::Ok(found),
        Err(problem) => Outcome::Failed(problem),
    }
}

/// Every migration this worker carries is applied (and none failed half-way).
async fn migrations(pool: &PgPool) -> Result<String, String> {
    let missing = db::unapplied(pool).await.map_err(|e| e.to_string())?;
    let total = db::MIGRATOR.iter().count();
    match missing.is_empty() {
        true => Ok(format!(
            "Postgres reachable; all {total} migrations applied"
        )),
        false => Err(format!(
            "Postgres reachable, but {} of {total} migrations are not applied ({}): run \
             `ucm-scraper migrate` (run and once also apply them)",
            missing.len(),
            missing.join(", ")
        )),
    }
}

/// Every tenant's stored console password opens with the configured keys. Nothing is written
/// (a plaintext password is only counted) and no password is printed.
async fn passwords(pool: &PgPool, cipher: &PasswordCipher) -> Result<String, String> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT id::bigint, coalesce(company_name, '')::text, pbx_password::text FROM tenants \
         WHERE coalesce(pbx_password, '') <> '' ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .map_err(|e| format!("could not read tenants.pbx_password: {e}"))?;
    let (mut fernet, mut aes, mut plain) = (0, 0, 0);
    let mut broken = Vec::new();
    for (id, name, stored) in &rows {
        match cipher.open(stored) {
            Ok(opened) => match opened.format {
                StoredFormat::Fernet => fernet += 1,
                StoredFormat::AesGcmV1 => aes += 1,
                StoredFormat::Plaintext => plain += 1,
            },
            Err(error) => broken.push(format!("tenant {id} ({name}): {error}")),
        }
    }
    match broken.is_empty() {
        true => Ok(format!(
            "{} stored password(s) open: {fernet} Fernet (ENCRYPTION_KEY), {aes} v1 \
             (PBX_ENCRYPTION_KEY), {plain} plaintext (encrypted at their next use)",
            rows.len()
        )),
        false => Err(format!(
            "{} of {} stored password(s) do not open: {}",
            broken.len(),
            rows.len(),
            broken.join("; ")
        )),
    }
}

/// The WebDriver server answers and starts (and ends) a browser.
async fn webdriver(settings: &Settings, window: Window) -> Result<String, String> {
    let config = BrowserConfig::from_settings(settings, window);
    match console::try_browser(&config).await {
        Ok(()) => Ok(format!(
            "the WebDriver server at {} started and ended a browser",
            config.webdriver_url
        )),
        Err(error) => Err(format!("{error} ({})", config.webdriver_url)),
    }
}

/// The same preflight a pass runs before it claims any call.
async fn storage_ready(settings: &Settings) -> Result<String, String> {
    let store = storage::from_settings(settings).map_err(|e| e.to_string())?;
    store.preflight().await.map_err(|e| e.to_string())
}

/// The webhook's host resolves and accepts a TCP connection; no request is sent. Only host and
/// port are printed: the URL may carry a token.
async fn webhook_reachable(url: &url::Url) -> Result<String, String> {
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return Err("AI_WEBHOOK_URL has no host: use https://host/path".into());
    };
    let addrs: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| {
            format!(
                "the AI webhook's host {host} does not resolve ({e}): check AI_WEBHOOK_URL and DNS"
            )
        })?
        .collect();
    let mut last = None;
    for addr in &addrs {
        match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_stream)) => {
                return Ok(format!(
                    "{host}:{port} resolves and accepts a connection (nothing sent)"
                ))
            }
            Ok(Err(e)) => last = Some(e.to_string()),
            Err(_) => last = Some(format!("no answer within {CONNECT_TIMEOUT:?}")),
        }
    }
    Err(format!(
        "the AI webhook at {host}:{port} does not accept a connection ({}): check AI_WEBHOOK_URL \
         and that the receiver runs",
        last.unwrap_or_else(|| "no address".into())
    ))
}

/// Every selectors file parses, and together they name one default.
fn selectors(dir: &Path) -> Result<String, String> {
    let files = SelectorCatalog::files(dir).map_err(|e| e.to_string())?;
    let broken: Vec<String> = files
        .iter()
        .filter_map(|file| SelectorSet::load(file).err())
        .map(|e| e.to_string())
        .collect();
    if !broken.is_empty() {
        return Err(broken.join("; "));
    }
    SelectorCatalog::load_dir(dir).map_err(|e| e.to_string())?;
    Ok(format!(
        "{} selectors file(s) in {} parse",
        files.len(),
        dir.display()
    ))
}
