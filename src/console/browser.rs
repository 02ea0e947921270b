//! One file over 500 lines: the one wrapper every console room calls, with its time bounds and
//! lookups side by side so their rules stay one.
//!
//! A thin layer over the WebDriver client: every command bounded in time, every lookup through a
//! [`Bound`] selector so a miss names its `desc` and file. Clicks, which must survive overlays,
//! animations and re-rendered elements, are in `click.rs`.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, Locator};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::Instant;

use super::error::ConsoleErrorKind;
use crate::selectors::{Bound, Selector, Strategy};

pub(crate) type Step<T> = Result<T, ConsoleErrorKind>;

/// What a loaded address answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    App,
    /// An error document, a JSON answer, a bare page: what it was, for the log.
    NotApp(String),
}

/// A selector as the page-side script takes it: `{"css": …}` or `{"xpath": …}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PageSelector {
    Css(String),
    Xpath(String),
}

impl From<&Bound> for PageSelector {
    fn from(bound: &Bound) -> Self {
        match bound.strategy {
            Strategy::Css => Self::Css(bound.text.clone()),
            Strategy::XPath => Self::Xpath(bound.text.clone()),
        }
    }
}

/// What to wait for in the page (see `quiet.js`): quiet for `quiet_ms` with no request of the
/// page's own pending and no `busy` marker shown, or `until` matching, within `budget_ms`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QuietSpec {
    pub quiet_ms: u64,
    pub budget_ms: u64,
    /// A request in flight longer (a long poll, a stream) does not keep the page busy; set by
    /// [`Browser::until_quiet`] to half the element timeout.
    pub long_ms: u64,
    /// Only changes in or around these elements count; none: the whole page.
    pub scope: Vec<PageSelector>,
    /// The rows' container counts too (found from the first row).
    pub rows_scope: Option<PageSelector>,
    pub busy: Vec<PageSelector>,
    pub until: Option<PageSelector>,
    /// The rows to read once quiet, in the same turn of the page.
    pub read: Option<RowsSpec>,
}

/// The rows to read: each row's cells in order, and its key attribute.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RowsSpec {
    pub row: PageSelector,
    pub cells: Vec<PageSelector>,
    pub file: Option<String>,
    pub empty: Option<PageSelector>,
}

/// What the page answered.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Quiet {
    /// The page went quiet within the budget.
    pub quiet: bool,
    /// Milliseconds since the last change that counts.
    pub since: u64,
    /// What the browser refused as a selector: `row`, `cell N` or `empty`.
    pub invalid: Option<String>,
    pub rows: Vec<PageRow>,
    /// No rows, and the `empty` marker shown.
    pub empty: bool,
}

/// One row as the page showed it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PageRow {
    pub file: Option<String>,
    /// The cells' texts, in the order asked, up to the first missing one.
    pub cells: Vec<String>,
    /// The first cell whose locator found nothing in the row.
    pub missing: Option<usize>,
}

/// Watches the page go quiet and reads the list, in the page; see the file for how.
const QUIET_SCRIPT: &str = include_str!("quiet.js");

/// How long the worker waits for each kind of thing. Defaults suit a real console; tests shorten.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// One WebDriver command; past it the browser counts as stuck.
    pub command: Duration,
    /// Loading a page (WebDriver page-load timeout).
    pub page_load: Duration,
    /// An element (form, table, marker) to appear.
    pub element: Duration,
    /// One recording to finish downloading (the operators saw up to 90 s).
    pub download: Duration,
    /// Between two looks at the page or the download directory.
    pub poll: Duration,
    /// After "Operating too frequently" when the console does not say how long.
    pub rate_limit_backoff: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            command: Duration::from_secs(60),
            page_load: Duration::from_secs(45),
            element: Duration::from_secs(20),
            download: Duration::from_secs(120),
            poll: Duration::from_millis(250),
            rate_limit_backoff: Duration::from_secs(15),
        }
    }
}

pub(crate) struct Browser {
    client: Client,
    pub(crate) timeouts: Timeouts,
    /// Optional elements not found this pass, each warned about once.
    pub(crate) warnings: Warnings,
}

fn locator(bound: &Bound) -> Locator<'_> {
    match bound.strategy {
        Strategy::Css => Locator::Css(&bound.text),
        Strategy::XPath => Locator::XPath(&bound.text),
    }
}

/// A lookup that found nothing is `None`; a selector the browser cannot parse is the file's fault.
fn found(bound: &Bound, result: Result<Vec<Element>, CmdError>) -> Step<Vec<Element>> {
    match result {
        Ok(elements) => Ok(elements),
        Err(e) if e.is_invalid_selector() => Err(ConsoleErrorKind::missing_because(
            bound,
            " (the browser refuses the selector as invalid)",
        )),
        Err(e) if e.is_no_such_element() => Ok(Vec::new()),
        Err(e) => Err(ConsoleErrorKind::webdriver("looking for an element")(e)),
    }
}

impl Browser {
    pub(crate) fn new(client: Client, timeouts: Timeouts) -> Self {
        Self {
            client,
            timeouts,
            warnings: Warnings::default(),
        }
    }

    /// The raw client, for commands fantoccini has no method for (the Grid's file endpoints);
    /// send them through [`Browser::run`] so they get the command timeout too.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Sets the session's own page-load and script timeouts; implicit waits stay off so that
    /// looking for an absent element answers at once.
    pub(crate) async fn apply_session_timeouts(&self) -> Step<()> {
        let timeouts = fantoccini::wd::TimeoutConfiguration::new(
            Some(self.timeouts.command),
            Some(self.timeouts.page_load),
            Some(Duration::ZERO),
        );
        self.run(
            "setting the browser's timeouts",
            self.client.update_timeouts(timeouts),
        )
        .await
    }

    /// Runs one WebDriver command with the command timeout: fantoccini has none of its own.
    pub(crate) async fn run<T>(
        &self,
        step: &'static str,
        command: impl Future<Output = Result<T, CmdError>>,
    ) -> Step<T> {
        match tokio::time::timeout(self.timeouts.command, command).await {
            Ok(result) => result.map_err(ConsoleErrorKind::webdriver(step)),
            Err(_) => Err(ConsoleErrorKind::Stuck {
                step,
                after: self.timeouts.command,
            }),
        }
    }

    /// The WebDriver session's id, for logs and leak checks.
    pub(crate) async fn session_id(&self) -> Step<Option<String>> {
        self.run("reading the session id", self.client.session_id())
            .await
    }

    /// Loads `url`; a console the browser cannot reach at all is told apart from other failures,
    /// since its cure is the tenant's address or the network, not the browser.
    pub(crate) async fn goto(&self, url: &str) -> Step<()> {
        let result = self
            .run("loading a console page", self.client.goto(url))
            .await;
        if let Err(ConsoleErrorKind::WebDriver { source, .. }) = &result {
            if let Some(reason) = network_error(source) {
                return Err(ConsoleErrorKind::Unreachable {
                    url: url.to_string(),
                    reason,
                });
            }
        }
        result?;
        self.watch_page().await;
        Ok(())
    }

    /// Starts watching the new document at once, so that the requests the app makes as it
    /// starts are seen in flight. Best effort: a page that refuses it is watched from the
    /// first [`Browser::until_quiet`] on.
    async fn watch_page(&self) {
        let spec = QuietSpec::default();
        if let Err(error) = self.until_quiet(&spec).await {
            tracing::debug!(%error, "could not start watching the page");
        }
    }

    /// Waits in the page, bounded by `spec.budget_ms` (and at most half the command timeout),
    /// for it to go quiet or show `spec.until`, and reads `spec.read` then; one round trip.
    pub(crate) async fn until_quiet(&self, spec: &QuietSpec) -> Step<Quiet> {
        let most = (self.timeouts.command / 2).as_millis() as u64;
        let spec = QuietSpec {
            budget_ms: spec.budget_ms.min(most),
            long_ms: (self.timeouts.element / 2).as_millis() as u64,
            ..spec.clone()
        };
        let arg = serde_json::to_value(&spec).unwrap_or(json!(null));
        let value = self
            .run(
                "watching the page go quiet",
                self.client.execute_async(QUIET_SCRIPT, vec![arg]),
            )
            .await?;
        serde_json::from_value(value).map_err(|e| ConsoleErrorKind::WebDriver {
            step: "reading what the page answered",
            source: CmdError::Json(e),
        })
    }

    pub(crate) async fn current_url(&self) -> Step<url::Url> {
        self.run("reading the page address", self.client.current_url())
            .await
    }

    /// The first element matching now, without waiting.
    pub(crate) async fn find(&self, bound: &Bound) -> Step<Option<Element>> {
        Ok(self.find_all(bound).await?.into_iter().next())
    }

    pub(crate) async fn find_all(&self, bound: &Bound) -> Step<Vec<Element>> {
        let result =
            tokio::time::timeout(self.timeouts.command, self.client.find_all(locator(bound)))
                .await
                .map_err(|_| ConsoleErrorKind::Stuck {
                    step: "looking for an element",
                    after: self.timeouts.command,
                })?;
        found(bound, result)
    }

    /// The first match inside `parent` (a row's cells and icons), without waiting.
    pub(crate) async fn find_in(&self, parent: &Element, bound: &Bound) -> Step<Option<Element>> {
        let result = tokio::time::timeout(self.timeouts.command, parent.find_all(locator(bound)))
            .await
            .map_err(|_| ConsoleErrorKind::Stuck {
                step: "looking inside a row",
                after: self.timeouts.command,
            })?;
        Ok(found(bound, result)?.into_iter().next())
    }

    /// Waits (bounded by the element timeout) for `bound` to appear.
    pub(crate) async fn wait_for(&self, bound: &Bound) -> Step<Element> {
        let deadline = Instant::now() + self.timeouts.element;
        loop {
            if let Some(element) = self.find(bound).await? {
                return Ok(element);
            }
            if Instant::now() >= deadline {
                return Err(ConsoleErrorKind::missing(bound));
            }
            tokio::time::sleep(self.timeouts.poll).await;
        }
    }

    /// Waits for spinners and overlays to go; a marker that never goes is left for the next step
    /// to trip over (with diagnostics), since waiting longer would not help.
    /// `busy` is optional: a marker the browser refuses is warned about once and ignored, and
    /// the list is read only once settled whether or not a marker showed.
    pub(crate) async fn wait_until_idle(&self, busy: &[Selector]) -> Step<()> {
        let deadline = Instant::now() + self.timeouts.element;
        for marker in busy {
            let bound = marker.plain();
            loop {
                match self.is_displayed(&bound).await {
                    Ok(false) => break,
                    Ok(true) => {}
                    Err(ConsoleErrorKind::LocatorNotFound { what, .. }) => {
                        self.warnings
                            .once(&bound, &format!("{what}; not waited for"));
                        break;
                    }
                    Err(e) => return Err(e),
                }
                if Instant::now() >= deadline {
                    self.warnings
                        .once(&bound, "still shown after the element timeout; going on");
                    return Ok(());
                }
                tokio::time::sleep(self.timeouts.poll).await;
            }
        }
        Ok(())
    }

    /// Whether an element `bound` finds is shown now.
    pub(crate) async fn is_displayed(&self, bound: &Bound) -> Step<bool> {
        for element in self.find_all(bound).await? {
            // A marker removed while we look is simply gone.
            if element.is_displayed().await.unwrap_or(false) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The page's visible text, to recognise the console's error messages.
    pub(crate) async fn page_text(&self) -> Step<String> {
        let script = "return document.body ? document.body.innerText : '';";
        let value = self
            .run("reading the page text", self.client.execute(script, vec![]))
            .await?;
        Ok(value.as_str().unwrap_or_default().to_string())
    }

    /// Types into a field after clearing what the page put there.
    pub(crate) async fn fill(&self, bound: &Bound, text: &str) -> Step<()> {
        let field = self.wait_for(bound).await?;
        self.run("clearing a form field", field.clear()).await?;
        self.run("typing into a form field", field.send_keys(text))
            .await
    }

    /// The text of an element, trimmed; a re-rendered element is [`ConsoleErrorKind::Stale`].
    pub(crate) async fn text_of(&self, element: &Element) -> Step<String> {
        let text = self.run("reading a cell", element.text()).await?;
        Ok(text.trim().to_string())
    }

    /// An attribute's value (`None` when the element has none); a re-rendered element is
    /// [`ConsoleErrorKind::Stale`].
    pub(crate) async fn attr_of(&self, element: &Element, name: &str) -> Step<Option<String>> {
        self.run("reading an attribute", element.attr(name)).await
    }

    /// Whether a control is disabled however the UI says so: the `disabled` property or
    /// attribute, `aria-disabled="true"`, or a class ending in `disabled` (`ant-pagination-disabled`).
    pub(crate) async fn is_disabled(&self, element: &Element) -> Step<bool> {
        let arg = serde_json::to_value(element).unwrap_or(json!(null));
        let script = "var e = arguments[0]; \
            return !!(e.disabled || e.hasAttribute('disabled') \
              || e.getAttribute('aria-disabled') === 'true' \
              || /(^|[\\s-])disabled(\\s|$)/.test(e.className || ''));";
        let value = self
            .run(
                "reading whether a control is disabled",
                self.client.execute(script, vec![arg]),
            )
            .await?;
        Ok(value.as_bool().unwrap_or(false))
    }

    /// What kind of answer the page shown now is: the app, or an error document, a JSON
    /// answer or another non-app page, told at once from the navigation's HTTP status, the
    /// document type and whether it loads any script (every console app does).
    pub(crate) async fn answer(&self) -> Step<Answer> {
        let script = "var n = (performance.getEntriesByType('navigation') || [])[0]; \
            return { status: (n && n.responseStatus) || 0, type: document.contentType || '', \
                     scripts: document.scripts.length };";
        let value = self
            .run(
                "reading what the page is",
                self.client.execute(script, vec![]),
            )
            .await?;
        let status = value["status"].as_u64().unwrap_or(0);
        let kind = value["type"].as_str().unwrap_or_default().to_string();
        let scripts = value["scripts"].as_u64().unwrap_or(0);
        Ok(match (status, kind.as_str(), scripts) {
            (400.., _, _) => Answer::NotApp(format!("HTTP status {status}")),
            (_, "text/html" | "application/xhtml+xml", 1..) => Answer::App,
            (_, "text/html" | "application/xhtml+xml", 0) => {
                Answer::NotApp("a page without the app's script".into())
            }
            _ => Answer::NotApp(format!("a {kind} answer")),
        })
    }

    pub(crate) async fn screenshot(&self) -> Step<Vec<u8>> {
        self.run("taking a screenshot", self.client.screenshot())
            .await
    }

    pub(crate) async fn source(&self) -> Step<String> {
        self.run("reading the page HTML", self.client.source())
            .await
    }

    /// Ends the WebDriver session, bounded so a hung browser cannot hold the worker.
    pub(crate) async fn close(self) {
        match tokio::time::timeout(self.timeouts.command, self.client.close()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "closing the browser session failed"),
            Err(_) => tracing::warn!("closing the browser session timed out"),
        }
    }
}

/// Chromium's network error (`net::ERR_CONNECTION_REFUSED`, `net::ERR_NAME_NOT_RESOLVED`, …)
/// when a page could not be loaded at all.
fn network_error(error: &CmdError) -> Option<String> {
    let text = error.to_string();
    let start = text.find("net::ERR_")?;
    let code = text[start..]
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .next()?;
    Some(code.to_string())
}

/// The optional locators already warned about in this pass, by origin (`file: key`).
#[derive(Debug, Default)]
pub(crate) struct Warnings(Mutex<BTreeSet<String>>);

impl Warnings {
    /// Logs `problem` about `bound` unless this pass has already said it.
    pub(crate) fn once(&self, bound: &Bound, problem: &str) {
        let mut warned = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if warned.insert(bound.origin.clone()) {
            tracing::warn!(
                event = "OptionalLocatorMissing",
                locator = %bound.origin,
                "{} ({}): {problem} (optional; going on)",
                bound.desc,
                bound.origin
            );
        }
    }
}

/// How long nothing in or around the list may change before it counts as settled: the "moment"
/// between two reads that agree.
pub(crate) fn quiet_period(timeouts: &Timeouts) -> Duration {
    timeouts
        .poll
        .clamp(Duration::from_millis(100), Duration::from_millis(500))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fantoccini::error::ErrorStatus;

    #[test]
    fn a_page_that_could_not_load_names_chromiums_network_error() {
        let refused = CmdError::Standard(fantoccini::error::WebDriver::new(
            ErrorStatus::UnknownError,
            "unknown error: net::ERR_CONNECTION_REFUSED\n  (Session info: chrome=156.0.8078.108)",
        ));
        assert_eq!(
            network_error(&refused).as_deref(),
            Some("net::ERR_CONNECTION_REFUSED")
        );
        let other = CmdError::Standard(fantoccini::error::WebDriver::new(
            ErrorStatus::NoSuchElement,
            "no such element",
        ));
        assert_eq!(network_error(&other), None);
    }
}
