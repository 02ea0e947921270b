//! The browser sessions a dead run of this worker left open, ended when a new run takes the
//! download directory ([`super::DownloadRoot::hold`] finds them). Apart from the session code in
//! [`super::webdriver`], which needs the download directory, so the two do not import each other.

use super::BrowserConfig;

/// Ends the WebDriver sessions a dead run of this worker left open (found by
/// [`super::DownloadRoot::hold`]): their browsers would run on until chromedriver restarts.
/// Best effort: a session already gone, or a server that moved, only leaves a log line.
pub(super) async fn end_orphaned_sessions(config: &BrowserConfig, ids: &[String]) {
    if ids.is_empty() {
        return;
    }
    let client = match reqwest::Client::builder()
        .timeout(config.timeouts.command)
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::warn!(%error, "Could not end the browser sessions an earlier run left open");
            return;
        }
    };
    let base = config.webdriver_url.as_str().trim_end_matches('/');
    let mut ended = 0;
    for id in ids {
        match client.delete(format!("{base}/session/{id}")).send().await {
            Ok(answer) if answer.status().is_success() => ended += 1,
            Ok(answer) => {
                tracing::debug!(session = %id, status = %answer.status(), "an earlier run's browser session is gone already")
            }
            Err(error) => {
                tracing::warn!(session = %id, %error, "Could not end a browser session an earlier run left open")
            }
        }
    }
    if ended > 0 {
        tracing::info!("Ended {ended} browser session(s) an earlier run left open");
    }
}
