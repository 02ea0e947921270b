//! WebDriver plumbing: the capabilities of a session, connecting (and waiting out a restarting
//! server), and ending the sessions a dead run left open.

use std::time::Duration;

use fantoccini::ClientBuilder;
use serde_json::json;
use tokio::time::Instant;
use url::Url;

use super::browser::{Browser, Step};
use super::downloads::DownloadDir;
use super::error::ConsoleErrorKind;
use super::BrowserConfig;
use crate::config::DownloadMode;

pub(super) fn is_local(url: &Url) -> bool {
    matches!(
        url.host_str(),
        Some("127.0.0.1" | "localhost" | "[::1]" | "::1")
    )
}

/// The capabilities of a session: Chromium flags that keep it from hanging on a closed network,
/// a fresh profile, downloads without prompts into the session's directory.
/// The flags without which Chromium hangs or phones home on a closed network (headless is
/// added unless `--headed`). The test harness starts its own browsers with the same ones.
pub const CHROMIUM_ARGS: &[&str] = &[
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1366,900",
];

pub(super) fn capabilities(
    config: &BrowserConfig,
    downloads: &DownloadDir,
    profile: Option<&std::path::Path>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut args = chromium_args(config);
    if let Some(profile) = profile {
        args.push(format!("--user-data-dir={}", profile.display()));
    }
    let mut prefs = json!({
        "download.prompt_for_download": false,
        "download.directory_upgrade": true,
        // The console starts each download from script after a check request; without this
        // Chrome may hold a later one behind a "download multiple files" prompt.
        "profile.default_content_setting_values.automatic_downloads": 1,
    });
    let mut caps = serde_json::Map::new();
    match config.download_mode {
        DownloadMode::Watch => {
            prefs["download.default_directory"] = json!(downloads.browser_path());
        }
        // The Grid picks the node's download directory itself and must not be given one.
        DownloadMode::Grid => {
            caps.insert("se:downloadsEnabled".into(), json!(true));
        }
    }
    let chrome = json!({ "args": args, "prefs": prefs });
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:chromeOptions".into(), chrome);
    if config.accept_invalid_certs {
        caps.insert("acceptInsecureCerts".into(), json!(true));
    }
    caps
}

pub(super) fn chromium_args(config: &BrowserConfig) -> Vec<String> {
    let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
    if !config.headed {
        args.push("--headless=new".into());
    }
    args
}

/// Starts a browser on the WebDriver server and ends it at once, opening no page (`doctor`).
/// Asked once, without waiting for a server that does not answer: an operator is waiting.
pub async fn try_browser(config: &BrowserConfig) -> Result<(), ConsoleErrorKind> {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({ "args": chromium_args(config) }),
    );
    let client = connect_once(config, caps).await?;
    Browser::new(client, config.timeouts).close().await;
    Ok(())
}

/// How long starting a session waits for a WebDriver server that does not answer at all: a
/// chromedriver sidecar that died is restarted by its container runtime within seconds, and a
/// tenant should not fail for that.
const WEBDRIVER_COMEBACK: Duration = Duration::from_secs(20);

/// Starts a session, waiting up to [`WEBDRIVER_COMEBACK`] for an unreachable server to return.
pub(super) async fn connect(
    config: &BrowserConfig,
    capabilities: serde_json::Map<String, serde_json::Value>,
) -> Step<fantoccini::Client> {
    let deadline = Instant::now() + WEBDRIVER_COMEBACK;
    let mut pause = Duration::from_millis(100);
    loop {
        match connect_once(config, capabilities.clone()).await {
            Err(ConsoleErrorKind::NewSession(error))
                if is_unreachable(&error) && Instant::now() + pause < deadline =>
            {
                tracing::warn!(%error, "WebDriver server not reachable; waiting for it to come back");
                // Waiting out a restart: there is nothing to watch but the port itself.
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            other => return other,
        }
    }
}

/// No answer at all (refused, reset), as opposed to an answer that refuses the session.
fn is_unreachable(error: &fantoccini::error::NewSessionError) -> bool {
    use fantoccini::error::NewSessionError as E;
    matches!(error, E::Failed(_) | E::FailedC(_) | E::Lost(_))
}

async fn connect_once(
    config: &BrowserConfig,
    capabilities: serde_json::Map<String, serde_json::Value>,
) -> Step<fantoccini::Client> {
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let mut builder = ClientBuilder::new(connector);
    builder.capabilities(capabilities);
    let connecting = builder.connect(config.webdriver_url.as_str());
    match tokio::time::timeout(config.timeouts.command, connecting).await {
        Ok(result) => result.map_err(ConsoleErrorKind::NewSession),
        Err(_) => Err(ConsoleErrorKind::Stuck {
            step: "starting a browser session",
            after: config.timeouts.command,
        }),
    }
}
