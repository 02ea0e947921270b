//! What the selectors format calls optional is optional here too: `firmware_marker`, `logout`,
//! `busy` and `login.captcha` may be missing from a console (or refused by the browser) without
//! costing the pass. Each such miss is logged once per pass (one browser session), naming the
//! file and key, and the worker goes on.

use super::browser::{quiet_period, Browser, QuietSpec, Step};
use super::error::ConsoleErrorKind;
use crate::selectors::{Bound, Selector, SelectorSet};

/// Looks up an optional element now: `None` when absent, and also when the browser refuses the
/// selector (warned once), since an optional element must never fail a step.
pub(crate) async fn find(
    browser: &Browser,
    bound: &Bound,
) -> Step<Option<fantoccini::elements::Element>> {
    match browser.find(bound).await {
        Err(ConsoleErrorKind::LocatorNotFound { what, .. }) => {
            browser.warnings.once(bound, &what);
            Ok(None)
        }
        other => other,
    }
}

/// Whether the page shows an optional element now: `false` when the file does not name it,
/// and as [`find`] says otherwise.
pub(crate) async fn shown(browser: &Browser, selector: Option<&Selector>) -> Step<bool> {
    match selector {
        Some(selector) => Ok(find(browser, &selector.plain()).await?.is_some()),
        None => Ok(false),
    }
}

/// The firmware version the console shows after login, when the file says where: the first
/// dotted number in the marker's text (`Firmware 1.0.27.10` → `1.0.27.10`). The marker is
/// waited for until the page has gone quiet (drawn, no request in flight, no `busy` marker
/// shown), within a quarter of the element timeout: a page that drew everything and shows no
/// marker will not show one. Not shown: warned about, and the version is unknown: the file
/// whose login form matched stays in use.
pub(crate) async fn read_firmware(
    browser: &Browser,
    selectors: &SelectorSet,
) -> Step<Option<String>> {
    let Some(marker) = &selectors.firmware_marker else {
        return Ok(None);
    };
    let bound = marker.plain();
    let waited = browser
        .until_quiet(&QuietSpec {
            quiet_ms: quiet_period(&browser.timeouts).as_millis() as u64,
            budget_ms: (browser.timeouts.element / 4).as_millis() as u64,
            busy: selectors.busy.iter().map(|b| (&b.plain()).into()).collect(),
            until: Some((&bound).into()),
            ..QuietSpec::default()
        })
        .await?;
    // Looked up once more in any case: it may have come with the last change.
    let Some(element) = find(browser, &bound).await? else {
        let why = match waited.quiet {
            true => "not shown once the page was drawn",
            false => "not shown within a quarter of the element timeout",
        };
        browser.warnings.once(
            &bound,
            &format!(
                "{why}; the firmware is unknown and {} stays in use",
                selectors.file.display()
            ),
        );
        return Ok(None);
    };
    let text = match browser.text_of(&element).await {
        Ok(text) if !text.is_empty() => text,
        Ok(_) => browser
            .attr_of(&element, "title")
            .await?
            .unwrap_or_default(),
        // Re-rendered between finding and reading: unknown this time, never a failed login.
        Err(ConsoleErrorKind::Stale { .. }) => String::new(),
        Err(e) => return Err(e),
    };
    let version = dotted_version(&text);
    if version.is_none() {
        browser.warnings.once(
            &bound,
            "shows no dotted version number; the firmware is unknown",
        );
    }
    Ok(version)
}

fn dotted_version(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|w| w.trim_matches('.'))
        .find(|w| w.contains('.') && w.split('.').all(|p| !p.is_empty()))
        .map(str::to_string)
}

/// Clicks the file's log-out steps, best effort and only while signed in (not after a failed
/// login or an expired session, where waiting for them would only delay).
pub(crate) async fn log_out(browser: &Browser, selectors: &SelectorSet) {
    let Some(first) = selectors.logout.first() else {
        return;
    };
    let signed_in = selectors.login.signed_in.plain();
    if !matches!(browser.find(&signed_in).await, Ok(Some(_))) {
        return; // signed out already (a failed login, an expired session): nothing to do
    }
    let first = first.plain();
    if !matches!(find(browser, &first).await, Ok(Some(_))) {
        browser.warnings.once(
            &first,
            "not on the page at the end of the pass; closing without logging out",
        );
        return;
    }
    for step in &selectors.logout {
        let bound = step.plain();
        if browser.click(&bound, &selectors.busy).await.is_err() {
            browser
                .warnings
                .once(&bound, "could not be clicked; closing without logging out");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firmware_versions_in_text() {
        assert_eq!(
            dotted_version("Firmware: 1.0.27.10").as_deref(),
            Some("1.0.27.10")
        );
        assert_eq!(dotted_version("v1.0.2."), Some("1.0.2".into()));
        assert_eq!(dotted_version("UCM6304 build 12"), None);
    }
}
