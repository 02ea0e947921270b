//! Diagnostics of a failed step: a screenshot, the page HTML (bounded, password redacted) and what
//! failed, under `artifacts/<tenant>/<call or "session">/<UTC time>/`.

use std::path::{Path, PathBuf};

use super::browser::Browser;
use super::error::ConsoleErrorKind;
use crate::ids::{TenantId, UniqueId};

/// Page HTML beyond this is cut: enough to see the DOM around a failed locator.
const MAX_HTML_BYTES: usize = 2 * 1024 * 1024;

/// What to save and where.
pub(crate) struct Failure<'a> {
    pub root: &'a Path,
    pub tenant: TenantId,
    pub call: Option<&'a UniqueId>,
    pub kind: &'a ConsoleErrorKind,
    /// Removed from the page HTML wherever it appears.
    pub password: &'a str,
}

/// Saves what can be saved, each part bounded by the browser's command timeout; returns the
/// directory, or `None` when not even it could be made (logged, never masking the failure).
pub(crate) async fn save(browser: &Browser, failure: Failure<'_>) -> Option<PathBuf> {
    let dir = failure
        .root
        .join(failure.tenant.to_string())
        .join(
            failure
                .call
                .map_or("session".to_string(), UniqueId::to_string),
        )
        .join(chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string());
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::warn!(error = %e, dir = %dir.display(), "cannot save diagnostics");
        return None;
    }
    let mut notes = format!("{}\n", failure.kind);
    if let ConsoleErrorKind::LocatorNotFound {
        what,
        origin,
        selector,
    } = failure.kind
    {
        notes.push_str(&format!(
            "locator: {what}\nfrom: {origin}\nselector: {selector}\n"
        ));
    }
    match browser.current_url().await {
        Ok(url) => notes.push_str(&format!("url: {url}\n")),
        Err(e) => notes.push_str(&format!("url: unknown ({e})\n")),
    }
    match browser.screenshot().await {
        Ok(png) => write(&dir.join("screenshot.png"), &png),
        Err(e) => notes.push_str(&format!("screenshot: not taken ({e})\n")),
    }
    match browser.source().await {
        Ok(html) => write(
            &dir.join("page.html"),
            redact(&html, failure.password).as_bytes(),
        ),
        Err(e) => notes.push_str(&format!("page.html: not saved ({e})\n")),
    }
    write(&dir.join("failure.txt"), notes.as_bytes());
    Some(dir)
}

pub(crate) fn write(path: &Path, bytes: &[u8]) {
    if let Err(e) = std::fs::write(path, bytes) {
        tracing::warn!(error = %e, path = %path.display(), "cannot save diagnostics");
    }
}

/// The HTML with the password replaced and cut to [`MAX_HTML_BYTES`] at a character boundary.
pub(crate) fn redact(html: &str, password: &str) -> String {
    // Redact before cutting, so a password split by the cut cannot survive in part.
    let mut redacted = match password.is_empty() {
        true => html.to_string(),
        false => html.replace(password, "***"),
    };
    let mut end = redacted.len().min(MAX_HTML_BYTES);
    while !redacted.is_char_boundary(end) {
        end -= 1;
    }
    redacted.truncate(end);
    redacted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_reaches_the_saved_page() {
        let html = r#"<input id="password" value="s3cr3t!"><p>s3cr3t!</p>"#;
        let saved = redact(html, "s3cr3t!");
        assert!(!saved.contains("s3cr3t!"));
        assert_eq!(saved.matches("***").count(), 2);
    }

    #[test]
    fn big_pages_are_cut() {
        let html = "é".repeat(MAX_HTML_BYTES);
        let saved = redact(&html, "");
        assert!(saved.len() <= MAX_HTML_BYTES);
    }
}
