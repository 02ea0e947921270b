//! What can go wrong on a console, classified by what the caller does next.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::failure::{Failure, NextStep};
use crate::ids::{TenantId, UniqueId};

use crate::selectors::{Bound, SelectorsError};

/// A failed console step. Its message names the tenant (and call), what happened, what to do,
/// and where the diagnostics (screenshot, page HTML, failed locator) were saved.
#[derive(Debug, thiserror::Error)]
// `kind` is shown in the message rather than as `source`, so a printed chain says it once.
#[error("tenant {tenant_name} (ID: {tenant_id}){}: {kind}{}", CallNote(.call.as_ref()), ArtifactsNote(.artifacts.as_ref()))]
pub struct ConsoleError {
    pub tenant_id: TenantId,
    pub tenant_name: String,
    pub call: Option<UniqueId>,
    pub kind: ConsoleErrorKind,
    /// Where the diagnostics of this failure were saved, when they could be.
    pub artifacts: Option<PathBuf>,
}

struct CallNote<'a>(Option<&'a UniqueId>);

impl fmt::Display for CallNote<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(call) => write!(f, ", call {call}"),
            None => Ok(()),
        }
    }
}

struct ArtifactsNote<'a>(Option<&'a PathBuf>);

impl fmt::Display for ArtifactsNote<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(path) => write!(
                f,
                " [screenshot, page and locator saved in {}]",
                path.display()
            ),
            None => Ok(()),
        }
    }
}

/// The kinds of console failure; the pipeline branches on these.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleErrorKind {
    #[error("the console refused the UCM username or password ({message}): correct them with `ucm-scraper tenant update`; not retried in this pass")]
    LoginRejected { message: String },
    #[error("the console has locked this login out{}: wait, or unblock the worker's IP on the UCM (Maintenance → Login Settings); not retried in this pass", RetryNote(*.retry_after))]
    LockedOut { retry_after: Option<Duration> },
    #[error("the console shows a CAPTCHA on its login page: log in once by hand from the worker's IP (or ask Grandstream to whitelist it); skipped until the next pass")]
    Captcha,
    #[error("the console session expired again right after logging in anew: check the UCM's login timeout and that one account is not used from two places")]
    SessionExpired,
    #[error("the recording is not on the console's Recordings page ({pages} page(s) searched): it may have been deleted or not recorded")]
    NotOnConsole { pages: usize },
    #[error("{what} not found ({origin}): the console's web UI may have changed; compare the screenshot with the selectors file (README: When the UCM firmware changes)")]
    LocatorNotFound {
        what: String,
        origin: String,
        /// The CSS or XPath as sent to the browser (in the artefacts, not the message).
        selector: String,
    },
    #[error("the download of {file} did not finish within {}s: the console may be slow or refusing it; retried next pass", .waited.as_secs())]
    DownloadTimeout { file: String, waited: Duration },
    #[error("the console at {url} cannot be reached ({reason}): check the tenant's pbx_ip and pbx_port (`ucm-scraper tenant update`) and that this worker's network reaches it; retried next pass")]
    Unreachable { url: String, reason: String },
    #[error("the recording's file name {file} is {bytes} bytes, longer than a browser download can be saved under (at most {}): the browser would cancel it; download it from the console by hand; not retried", super::downloads::LONGEST_SAVED_NAME)]
    FileNameTooLong { file: String, bytes: usize },
    #[error("the downloaded file {file} is not a WAV recording (it starts with {head:?}); kept out of the pipeline")]
    NotARecording { file: String, head: String },
    #[error("the console kept answering \"too frequently\" after {attempts} back-offs: raise UCM_DOWNLOAD_GAP; retried next pass")]
    RateLimited { attempts: u32 },
    #[error("the browser did not answer within {}s while {step}: is chromedriver overloaded? retried next pass", .after.as_secs())]
    Stuck { step: &'static str, after: Duration },
    #[error("the page re-rendered while {step} and did not hold still within the wait: retried next pass")]
    Stale { step: &'static str },
    #[error("the Recordings list could not be read with certainty: {doubt} ({pages} page(s) read); the call is not ended and is retried next pass; if this repeats, compare the screenshot with the selectors file (README: When the UCM firmware changes)")]
    ListUncertain { doubt: String, pages: usize },
    #[error("the browser failed while {step}: {source}")]
    WebDriver {
        step: &'static str,
        #[source]
        source: fantoccini::error::CmdError,
    },
    #[error("the Grid node's download {name} could not be read ({problem}): check that the node runs Selenium 4.8+ with --enable-managed-downloads true")]
    GridFile { name: String, problem: String },
    #[error("no browser session could be started at WEBDRIVER_URL: {0}")]
    NewSession(#[source] fantoccini::error::NewSessionError),
    #[error("{0}")]
    Selectors(#[from] SelectorsError),
    #[error("{what} {}: {source}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

struct RetryNote(Option<Duration>);

impl fmt::Display for RetryNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(d) => write!(f, " for {}s", d.as_secs()),
            None => Ok(()),
        }
    }
}

impl Failure for ConsoleError {
    fn next_step(&self) -> NextStep {
        self.kind.next_step()
    }
}

impl ConsoleErrorKind {
    /// What happens after this failure (the table in docs/architecture.md: Failures).
    ///
    /// Only positive evidence ends a call: a recording the console does not list, or a file name
    /// no browser can save. A list that would not settle and a page re-rendered under the worker
    /// proved nothing, so the call is tried again uncharged. A console lacking what the
    /// selectors file requires is no call's fault, and costs its timeout once per pass, not once
    /// per call: the tenant stops and its calls go back uncharged until the operator fixes the
    /// file (the error names the key). A refused login blocks the tenant with a back-off, since
    /// five failures ban the worker's IP. Anything else that makes the console or the browser
    /// unusable stops the tenant for this pass.
    pub fn next_step(&self) -> NextStep {
        match self {
            Self::NotOnConsole { .. } => NextStep::NotListed,
            Self::FileNameTooLong { .. } => NextStep::EndCall,
            Self::DownloadTimeout { .. } | Self::NotARecording { .. } => NextStep::RetryCall,
            Self::ListUncertain { .. } | Self::Stale { .. } => NextStep::RetryCallUncharged,
            Self::LocatorNotFound { .. } | Self::Selectors(_) => NextStep::StopTenantUncharged,
            Self::LoginRejected { .. } | Self::LockedOut { .. } | Self::Captcha => {
                NextStep::BlockTenant
            }
            Self::SessionExpired
            | Self::Unreachable { .. }
            | Self::RateLimited { .. }
            | Self::Stuck { .. }
            | Self::WebDriver { .. }
            | Self::GridFile { .. }
            | Self::NewSession(_)
            | Self::Io { .. } => NextStep::StopTenant,
        }
    }
}

impl ConsoleErrorKind {
    /// Whether diagnostics are worth saving: every failed step, but not the plain outcome that a
    /// recording is absent, failures before there is a page, nor a browser that stopped answering
    /// (asking it for a screenshot would only wait again).
    pub(crate) fn wants_artifacts(&self) -> bool {
        !matches!(
            self,
            ConsoleErrorKind::NotOnConsole { .. }
                | ConsoleErrorKind::Unreachable { .. }
                | ConsoleErrorKind::FileNameTooLong { .. }
                | ConsoleErrorKind::Stuck { .. }
                | ConsoleErrorKind::NewSession(_)
                | ConsoleErrorKind::GridFile { .. }
                | ConsoleErrorKind::Selectors(_)
                | ConsoleErrorKind::Io { .. }
        )
    }

    /// `bound` found nothing.
    pub(crate) fn missing(bound: &Bound) -> Self {
        Self::missing_because(bound, "")
    }

    /// `bound` found nothing, or not what was needed; `note` says more.
    pub(crate) fn missing_because(bound: &Bound, note: &str) -> Self {
        Self::LocatorNotFound {
            what: format!("{}{note}", bound.desc),
            origin: bound.origin.clone(),
            selector: bound.text.clone(),
        }
    }

    /// A failed WebDriver command; an element the page re-rendered under it is [`Self::Stale`],
    /// which the page objects look up again.
    pub(crate) fn webdriver(
        step: &'static str,
    ) -> impl FnOnce(fantoccini::error::CmdError) -> Self {
        move |source| match source.is_stale_element_reference() {
            true => Self::Stale { step },
            false => Self::WebDriver { step, source },
        }
    }
}

/// Maps an I/O failure on `path` to the console error that names it.
pub(super) fn io_error(
    what: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> ConsoleErrorKind {
    let path = path.to_path_buf();
    move |source| ConsoleErrorKind::Io { what, path, source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// One of each kind with the next step docs/architecture.md (Failures) documents for it.
    fn documented() -> Vec<(ConsoleErrorKind, NextStep)> {
        let text = String::new;
        let io = || std::io::Error::other("disk");
        vec![
            (
                ConsoleErrorKind::LoginRejected { message: text() },
                NextStep::BlockTenant,
            ),
            (
                ConsoleErrorKind::LockedOut { retry_after: None },
                NextStep::BlockTenant,
            ),
            (ConsoleErrorKind::Captcha, NextStep::BlockTenant),
            (ConsoleErrorKind::SessionExpired, NextStep::StopTenant),
            (
                ConsoleErrorKind::NotOnConsole { pages: 1 },
                NextStep::NotListed,
            ),
            (
                ConsoleErrorKind::LocatorNotFound {
                    what: text(),
                    origin: text(),
                    selector: text(),
                },
                NextStep::StopTenantUncharged,
            ),
            (
                ConsoleErrorKind::DownloadTimeout {
                    file: text(),
                    waited: Duration::ZERO,
                },
                NextStep::RetryCall,
            ),
            (
                ConsoleErrorKind::Unreachable {
                    url: text(),
                    reason: text(),
                },
                NextStep::StopTenant,
            ),
            (
                ConsoleErrorKind::FileNameTooLong {
                    file: text(),
                    bytes: 300,
                },
                NextStep::EndCall,
            ),
            (
                ConsoleErrorKind::NotARecording {
                    file: text(),
                    head: text(),
                },
                NextStep::RetryCall,
            ),
            (
                ConsoleErrorKind::RateLimited { attempts: 3 },
                NextStep::StopTenant,
            ),
            (
                ConsoleErrorKind::Stuck {
                    step: "clicking",
                    after: Duration::ZERO,
                },
                NextStep::StopTenant,
            ),
            (
                ConsoleErrorKind::Stale { step: "clicking" },
                NextStep::RetryCallUncharged,
            ),
            (
                ConsoleErrorKind::ListUncertain {
                    doubt: text(),
                    pages: 1,
                },
                NextStep::RetryCallUncharged,
            ),
            (
                ConsoleErrorKind::WebDriver {
                    step: "clicking",
                    source: fantoccini::error::CmdError::NotJson(text()),
                },
                NextStep::StopTenant,
            ),
            (
                ConsoleErrorKind::GridFile {
                    name: text(),
                    problem: text(),
                },
                NextStep::StopTenant,
            ),
            (
                ConsoleErrorKind::NewSession(fantoccini::error::NewSessionError::Lost(io())),
                NextStep::StopTenant,
            ),
            (
                ConsoleErrorKind::Selectors(SelectorsError {
                    file: PathBuf::new(),
                    problem: text(),
                }),
                NextStep::StopTenantUncharged,
            ),
            (
                ConsoleErrorKind::Io {
                    what: "saving",
                    path: PathBuf::new(),
                    source: io(),
                },
                NextStep::StopTenant,
            ),
        ]
    }

    /// Exhaustive on purpose: a new kind does not compile until it is named here, and then the
    /// count below fails until the table (and the docs) say what happens after it.
    fn name(kind: &ConsoleErrorKind) -> &'static str {
        match kind {
            ConsoleErrorKind::LoginRejected { .. } => "LoginRejected",
            ConsoleErrorKind::LockedOut { .. } => "LockedOut",
            ConsoleErrorKind::Captcha => "Captcha",
            ConsoleErrorKind::SessionExpired => "SessionExpired",
            ConsoleErrorKind::NotOnConsole { .. } => "NotOnConsole",
            ConsoleErrorKind::LocatorNotFound { .. } => "LocatorNotFound",
            ConsoleErrorKind::DownloadTimeout { .. } => "DownloadTimeout",
            ConsoleErrorKind::Unreachable { .. } => "Unreachable",
            ConsoleErrorKind::FileNameTooLong { .. } => "FileNameTooLong",
            ConsoleErrorKind::NotARecording { .. } => "NotARecording",
            ConsoleErrorKind::RateLimited { .. } => "RateLimited",
            ConsoleErrorKind::Stuck { .. } => "Stuck",
            ConsoleErrorKind::Stale { .. } => "Stale",
            ConsoleErrorKind::ListUncertain { .. } => "ListUncertain",
            ConsoleErrorKind::WebDriver { .. } => "WebDriver",
            ConsoleErrorKind::GridFile { .. } => "GridFile",
            ConsoleErrorKind::NewSession(_) => "NewSession",
            ConsoleErrorKind::Selectors(_) => "Selectors",
            ConsoleErrorKind::Io { .. } => "Io",
        }
    }

    #[test]
    fn every_kind_leads_to_its_documented_next_step() {
        let table = documented();
        let named: BTreeSet<_> = table.iter().map(|(kind, _)| name(kind)).collect();
        assert_eq!(named.len(), 19, "one row per kind: {named:?}");
        for (kind, expected) in &table {
            assert_eq!(kind.next_step(), *expected, "{}", name(kind));
        }
    }

    #[test]
    fn the_error_answers_for_its_kind() {
        let error = ConsoleError {
            tenant_id: TenantId(1),
            tenant_name: "Acme Corp".into(),
            call: None,
            kind: ConsoleErrorKind::Captcha,
            artifacts: None,
        };
        assert_eq!(error.next_step(), NextStep::BlockTenant);
    }
}
