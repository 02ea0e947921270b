//! What can go wrong on a console, classified by what the caller does next.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::ids::{TenantId, UniqueId};

use super::selectors::{Bound, SelectorsError};

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

impl ConsoleError {
    /// Whether the rest of this tenant's calls should wait for the next pass: true when the
    /// console or the browser is unusable (credentials, lockout, CAPTCHA, a changed UI, a stuck
    /// browser), false when only this call failed. A list that would not settle and a page that
    /// re-rendered under the worker are this call's trouble: they never stop a tenant.
    pub fn is_fatal_for_pass(&self) -> bool {
        !matches!(
            self.kind,
            ConsoleErrorKind::NotOnConsole { .. }
                | ConsoleErrorKind::DownloadTimeout { .. }
                | ConsoleErrorKind::NotARecording { .. }
                | ConsoleErrorKind::FileNameTooLong { .. }
                | ConsoleErrorKind::ListUncertain { .. }
                | ConsoleErrorKind::Stale { .. }
        )
    }

    /// Whether this call's answer proved nothing either way (a list that would not settle, a page
    /// re-rendered under the worker): the call is tried again next pass, uncharged, and never
    /// ended on such evidence.
    pub fn is_uncertain(&self) -> bool {
        matches!(
            self.kind,
            ConsoleErrorKind::ListUncertain { .. } | ConsoleErrorKind::Stale { .. }
        )
    }

    /// Whether the tenant stops and its calls go back as they were, no attempt charged: the
    /// console lacks something the selectors file requires, which is no call's fault and costs
    /// its timeout once per pass, not once per call. The operator fixes the file (the error
    /// names the key) and the calls are fetched on a later pass.
    pub fn stops_tenant_uncharged(&self) -> bool {
        matches!(
            self.kind,
            ConsoleErrorKind::LocatorNotFound { .. } | ConsoleErrorKind::Selectors(_)
        )
    }

    /// Whether trying this call again cannot help: it is failed for good at once.
    pub fn is_final_for_call(&self) -> bool {
        matches!(self.kind, ConsoleErrorKind::FileNameTooLong { .. })
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
