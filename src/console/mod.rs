//! The UCM web console, driven through headless Chromium over WebDriver. The only module that
//! knows fantoccini.
//!
//! A [`ConsoleSession`] is one browser session for one tenant pass: [`ConsoleSession::open`] starts
//! it with a fresh profile and download directory, [`ConsoleSession::sign_in`] logs in once and
//! picks the selectors file by the firmware shown, [`ConsoleSession::download`] fetches each call's
//! recording, and [`ConsoleSession::close`] ends it (also after errors; a dropped session is closed
//! in the background). Every locator comes from `selectors/*.toml` ([`selectors`]).

mod artifacts;
mod browser;
mod check;
mod downloads;
mod error;
mod evidence;
mod grid;
mod login;
mod optional;
mod recordings;
mod route;
pub mod selectors;
mod settled;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDateTime, TimeZone as _};
use fantoccini::ClientBuilder;
use serde_json::json;
use tokio::time::Instant;
use tracing::instrument;
use url::Url;

pub use browser::Timeouts;
pub use check::{CheckedOn, LocatorCheck};
pub use downloads::{DownloadDirError, DownloadRoot};
pub use error::{ConsoleError, ConsoleErrorKind};
pub use selectors::{SelectorCatalog, SelectorSet, SelectorsError};

use crate::config::{DownloadMode, Settings};
use crate::ids::{TenantId, UniqueId};
use crate::secrets::Secret;
use browser::{Browser, Step};
use check::Checker;
use downloads::{Content, DownloadDir, ExpectedFile, Look};
use login::LoginPage;
use recordings::{ListState, RecordingsPage, Row, Wanted};
use selectors::Vars;

/// How a browser session is started and paced.
#[derive(Debug, Clone)]
pub struct BrowserConfig {
    pub webdriver_url: Url,
    /// Show the window (`--headed`).
    pub headed: bool,
    /// Trust self-signed console certificates (`UCM_ACCEPT_INVALID_CERTS`).
    pub accept_invalid_certs: bool,
    pub download_mode: DownloadMode,
    /// Where the worker watches for downloads (`DOWNLOAD_DIR`).
    pub download_dir: PathBuf,
    /// The same directory as the browser sees it (`BROWSER_DOWNLOAD_DIR`).
    pub browser_download_dir: PathBuf,
    /// Finished recordings go to `<work_dir>/tenant_<id>/`.
    pub work_dir: PathBuf,
    pub artifacts_dir: PathBuf,
    pub selectors_dir: PathBuf,
    /// Where a fresh browser profile is made for each session (when chromedriver runs here).
    pub profiles_dir: PathBuf,
    /// Least time between two downloads from one console (`UCM_DOWNLOAD_GAP`).
    pub download_gap: Duration,
    pub timeouts: Timeouts,
}

impl BrowserConfig {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            webdriver_url: settings.webdriver_url.clone(),
            headed: settings.headed,
            accept_invalid_certs: settings.accept_invalid_certs,
            download_mode: settings.download_mode,
            download_dir: settings.download_dir.clone(),
            browser_download_dir: settings.browser_download_dir.clone(),
            work_dir: settings.download_dir.join("work"),
            artifacts_dir: settings.artifacts_dir.clone(),
            selectors_dir: settings.selectors_dir.clone(),
            profiles_dir: std::env::temp_dir(),
            download_gap: settings.download_gap,
            timeouts: Timeouts::default(),
        }
    }
}

/// The console of one tenant and how to log into it.
#[derive(Debug, Clone)]
pub struct ConsoleTarget {
    pub tenant_id: TenantId,
    pub tenant_name: String,
    /// `https://<pbx_ip>:<pbx_port>/`
    pub base_url: Url,
    pub username: String,
    pub password: Secret<String>,
    /// The zone the console shows call times in (`tenants.ucm_timezone`).
    pub timezone: chrono_tz::Tz,
}

/// A call whose recording is wanted.
#[derive(Debug, Clone)]
pub struct CallQuery {
    pub call_id: i64,
    pub uniqueid: UniqueId,
    pub caller: String,
    pub callee: String,
    pub call_date_utc: NaiveDateTime,
    /// As in `cdr_records.recordfiles`, split, each without its trailing `@`.
    pub recordfiles: Vec<String>,
}

impl CallQuery {
    /// The files of a `cdr_records.recordfiles` value: `a.wav@b.wav@` → `[a.wav, b.wav]`.
    pub fn split_recordfiles(raw: &str) -> Vec<String> {
        raw.split('@')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// What the login found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// The firmware version the console shows, when the selectors file says where.
    pub firmware: Option<String>,
    /// The selectors file chosen for it.
    pub selectors_file: PathBuf,
}

/// A recording, moved out of the shared download directory into the tenant's work directory;
/// the caller removes it once stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    pub path: PathBuf,
    pub file_name: String,
    pub bytes: u64,
}

/// Back-offs after "Operating too frequently" before one download gives up.
const MAX_BACKOFFS: u32 = 3;

/// One browser session on one tenant's console.
pub struct ConsoleSession {
    target: ConsoleTarget,
    config: BrowserConfig,
    catalog: SelectorCatalog,
    /// The file in use: the one whose login form matched, then the one the firmware picks.
    selectors: Arc<SelectorSet>,
    /// `None` once closed.
    browser: Option<Browser>,
    downloads: Option<DownloadDir>,
    /// The browser profile, removed after the session (only when chromedriver runs here).
    profile: Option<tempfile::TempDir>,
    list: ListState,
    pacer: Pacer,
    webdriver_session: Option<String>,
}

impl ConsoleSession {
    /// Starts a browser session with a fresh profile and download directory.
    #[instrument(skip_all, fields(tenant.id = %target.tenant_id))]
    pub async fn open(config: &BrowserConfig, target: ConsoleTarget) -> Result<Self, ConsoleError> {
        let fail = |kind| ConsoleError {
            tenant_id: target.tenant_id,
            tenant_name: target.tenant_name.clone(),
            call: None,
            kind,
            artifacts: None,
        };
        let catalog =
            SelectorCatalog::load_dir(&config.selectors_dir).map_err(|e| fail(e.into()))?;
        let selectors = Arc::new(
            catalog
                .login_candidates()
                .next()
                .expect("a catalog has a file")
                .clone(),
        );
        let downloads = DownloadDir::create(
            &config.download_dir,
            &config.browser_download_dir,
            &config.work_dir,
            target.tenant_id,
        )
        .map_err(|source| {
            fail(ConsoleErrorKind::Io {
                what: "cannot make a download directory in",
                path: config.download_dir.clone(),
                source,
            })
        })?;
        let profile = match is_local(&config.webdriver_url) {
            true => Some(
                tempfile::Builder::new()
                    .prefix("ucm-scraper-profile-")
                    .tempdir_in(&config.profiles_dir)
                    .map_err(|source| {
                        fail(ConsoleErrorKind::Io {
                            what: "cannot make a browser profile in",
                            path: config.profiles_dir.clone(),
                            source,
                        })
                    })?,
            ),
            false => None,
        };
        let capabilities = capabilities(config, &downloads, profile.as_ref().map(|p| p.path()));
        let client = connect(config, capabilities).await.map_err(fail)?;
        let browser = Browser::new(client, config.timeouts);
        let webdriver_session = match browser.apply_session_timeouts().await {
            Ok(()) => browser.session_id().await,
            Err(kind) => Err(kind),
        };
        let webdriver_session = match webdriver_session {
            Ok(id) => id,
            Err(kind) => {
                browser.close().await;
                return Err(fail(kind));
            }
        };
        tracing::debug!(session = ?webdriver_session, "browser session started");
        if let Some(id) = &webdriver_session {
            if let Err(error) = downloads.record_session(id) {
                tracing::warn!(%error, "Could not note the browser session in DOWNLOAD_DIR; a crash would leave its browser open");
            }
        }
        Ok(Self {
            target,
            config: config.clone(),
            catalog,
            selectors,
            browser: Some(browser),
            downloads: Some(downloads),
            profile,
            list: ListState::default(),
            pacer: Pacer::new(config.download_gap),
            webdriver_session,
        })
    }

    /// Logs in once; wrong credentials, a lockout and a CAPTCHA are errors, never retried here.
    #[instrument(skip_all, fields(tenant.id = %self.target.tenant_id))]
    pub async fn sign_in(&mut self) -> Result<SignedIn, ConsoleError> {
        let result = self.log_in().await;
        self.finish(result, None).await
    }

    /// Finds the call's row, downloads its recording and hands back the file.
    #[instrument(skip_all, fields(tenant.id = %self.target.tenant_id, call.uniqueid = %call.uniqueid))]
    pub async fn download(&mut self, call: &CallQuery) -> Result<Downloaded, ConsoleError> {
        let result = self.fetch(call).await;
        self.finish(result, Some(&call.uniqueid)).await
    }

    /// For `selectors check --tenant`: tries every locator of every selectors file on this
    /// console and says how many elements each matched: the login ones on the login page, the
    /// others after one login and on the Recordings page (reached as the chosen file says).
    #[instrument(skip_all, fields(tenant.id = %self.target.tenant_id))]
    pub async fn check_selectors(&mut self) -> Result<(SignedIn, Vec<LocatorCheck>), ConsoleError> {
        let result = self.try_check_selectors().await;
        self.finish(result, None).await
    }

    async fn try_check_selectors(&mut self) -> Step<(SignedIn, Vec<LocatorCheck>)> {
        let mut checks = Vec::new();
        let browser = self
            .browser
            .as_ref()
            .expect("the browser is open until close");
        browser.goto(self.target.base_url.as_str()).await?;
        LoginPage::recognise(browser, &self.catalog).await?;
        for set in self.catalog.sets() {
            checks.extend(Checker { browser, set }.login_page().await?);
        }
        let signed_in = self.log_in().await?;
        let browser = self
            .browser
            .as_ref()
            .expect("the browser is open until close");
        for set in self.catalog.sets() {
            checks.extend(Checker { browser, set }.after_login().await?);
        }
        let selectors = Arc::clone(&self.selectors);
        let mut page = RecordingsPage {
            browser,
            selectors: &selectors,
            base_url: &self.target.base_url,
            state: &mut self.list,
        };
        page.open().await?;
        for set in self.catalog.sets() {
            checks.extend(Checker { browser, set }.recordings_page().await?);
        }
        Ok((signed_in, checks))
    }

    /// Logs out (best effort) and ends the browser session; bounded by the command timeout.
    #[instrument(skip_all, fields(tenant.id = %self.target.tenant_id))]
    pub async fn close(mut self) {
        if let Some(browser) = self.browser.take() {
            optional::log_out(&browser, &self.selectors).await;
            browser.close().await;
        }
    }

    /// The WebDriver session id (chromedriver's), to tell this session in logs and checks.
    pub fn webdriver_session_id(&self) -> Option<&str> {
        self.webdriver_session.as_deref()
    }

    fn browser(&self) -> &Browser {
        self.browser
            .as_ref()
            .expect("the browser is open until close")
    }

    /// Adds the tenant and call to a failed step and saves its diagnostics.
    async fn finish<T>(&self, result: Step<T>, call: Option<&UniqueId>) -> Result<T, ConsoleError> {
        let kind = match result {
            Ok(value) => return Ok(value),
            Err(kind) => kind,
        };
        let artifacts = match kind.wants_artifacts() {
            true => {
                let failure = artifacts::Failure {
                    root: &self.config.artifacts_dir,
                    tenant: self.target.tenant_id,
                    call,
                    kind: &kind,
                    password: self.target.password.expose(),
                };
                artifacts::save(self.browser(), failure).await
            }
            false => None,
        };
        Err(ConsoleError {
            tenant_id: self.target.tenant_id,
            tenant_name: self.target.tenant_name.clone(),
            call: call.cloned(),
            kind,
            artifacts,
        })
    }

    async fn log_in(&mut self) -> Step<SignedIn> {
        tracing::info!("Logging into UCM at {}", self.target.base_url);
        let browser = self
            .browser
            .as_ref()
            .expect("the browser is open until close");
        browser.goto(self.target.base_url.as_str()).await?;
        let page = LoginPage::recognise(browser, &self.catalog).await?;
        page.sign_in(&self.target.username, &self.target.password)
            .await?;
        let firmware = optional::read_firmware(browser, page.selectors()).await?;
        let chosen = firmware
            .as_deref()
            .and_then(|v| self.catalog.for_firmware(v))
            .unwrap_or(page.selectors());
        self.selectors = Arc::new(chosen.clone());
        self.list.closed();
        tracing::info!(
            firmware = firmware.as_deref().unwrap_or("unknown"),
            selectors = %chosen.file.display(),
            "Logged into UCM console"
        );
        Ok(SignedIn {
            firmware,
            selectors_file: chosen.file.clone(),
        })
    }

    /// One download, with one new login when the session turns out to have expired.
    async fn fetch(&mut self, call: &CallQuery) -> Step<Downloaded> {
        let wanted = self.wanted(call);
        match self.fetch_once(&wanted).await {
            Err(ConsoleErrorKind::SessionExpired) => {
                if self.still_signed_in().await? {
                    // A page instead of the file while the session is fine: this recording's
                    // fault, not the session's; logging in again would find no login form.
                    return Err(ConsoleErrorKind::NotARecording {
                        file: call.uniqueid.to_string(),
                        head: "an HTML page while the session was still valid".into(),
                    });
                }
                tracing::info!("UCM session expired; logging in again");
                self.log_in().await?;
                self.fetch_once(&wanted).await
            }
            other => other,
        }
    }

    /// Opens the console's start page and tells whether it shows the signed-in marker (true)
    /// or a login form (false), waiting a bounded time for the page to render either.
    async fn still_signed_in(&mut self) -> Step<bool> {
        let browser = self
            .browser
            .as_ref()
            .expect("the browser is open until close");
        browser.goto(self.target.base_url.as_str()).await?;
        self.list.closed();
        let signed_in = self.selectors.login.signed_in.plain();
        let deadline = Instant::now() + browser.timeouts.element;
        while Instant::now() < deadline {
            if browser.find(&signed_in).await?.is_some() {
                return Ok(true);
            }
            for set in self.catalog.login_candidates() {
                if browser.find(&set.login.username.plain()).await?.is_some() {
                    return Ok(false);
                }
            }
            tokio::time::sleep(browser.timeouts.poll).await; // the SPA renders after a delay
        }
        Ok(false)
    }

    fn wanted(&self, call: &CallQuery) -> Wanted {
        let local_start = self
            .target
            .timezone
            .from_utc_datetime(&call.call_date_utc)
            .naive_local();
        let start = local_start
            .format(&self.selectors.recordings.time_format)
            .to_string();
        let vars = Vars::default()
            .with(
                "file",
                call.recordfiles.first().cloned().unwrap_or_default(),
            )
            .with("uniqueid", call.uniqueid.to_string())
            .with("caller", call.caller.clone())
            .with("callee", call.callee.clone())
            .with("start", start);
        Wanted {
            files: call.recordfiles.clone(),
            caller: call.caller.clone(),
            callee: call.callee.clone(),
            local_start,
            epoch: call.call_date_utc.and_utc().timestamp(),
            vars,
        }
    }

    /// Finds the call's row and downloads its recording.
    async fn fetch_once(&mut self, wanted: &Wanted) -> Step<Downloaded> {
        let selectors = Arc::clone(&self.selectors);
        let row = self.recordings(&selectors).find(wanted).await?;
        let expected = row.expected_file(wanted, selectors.recordings.tolerance());
        if let Some(bytes) = expected.too_long_to_save() {
            return Err(ConsoleErrorKind::FileNameTooLong {
                file: expected.describe(),
                bytes,
            });
        }
        self.download_row(&selectors, &row, &expected).await
    }

    fn recordings<'a>(&'a mut self, selectors: &'a SelectorSet) -> RecordingsPage<'a> {
        RecordingsPage {
            browser: self
                .browser
                .as_ref()
                .expect("the browser is open until close"),
            selectors,
            base_url: &self.target.base_url,
            state: &mut self.list,
        }
    }

    /// Clicks the row's download once the gap has passed and waits for the file, backing off
    /// when the console says "too frequently".
    async fn download_row(
        &mut self,
        selectors: &SelectorSet,
        row: &Row,
        expected: &ExpectedFile,
    ) -> Step<Downloaded> {
        for backoff in 0..=MAX_BACKOFFS {
            let not_before = self.pacer.next_click();
            let downloads = self
                .downloads
                .as_ref()
                .expect("the download directory lives until drop");
            downloads
                .clear()
                .map_err(io_error("cannot empty", downloads.path()))?;
            let grid = self.config.download_mode == DownloadMode::Grid;
            if grid {
                grid::clear(self.browser.as_ref().expect("open until close")).await?;
            }
            let mut watch = downloads.watch(self.config.timeouts.poll);
            let clicked = self
                .recordings(selectors)
                .click_download(row, not_before)
                .await?;
            self.pacer.clicked(clicked);
            let browser = self
                .browser
                .as_ref()
                .expect("the browser is open until close");
            match await_file(browser, selectors, &mut watch, expected, grid).await? {
                Arrival::Recording(path) => {
                    let downloads = self.downloads.as_ref().expect("lives until drop");
                    return take(downloads, &path);
                }
                Arrival::RateLimited(wait) => {
                    let wait = wait.unwrap_or(self.config.timeouts.rate_limit_backoff);
                    tracing::warn!(
                        wait_s = wait.as_secs_f32(),
                        backoff,
                        "UCM says operating too frequently; backing off"
                    );
                    self.pacer.refused();
                    // The deliberate back-off the console asks for.
                    tokio::time::sleep(wait).await;
                    // The refusal may have replaced the page; start again from the list.
                    self.list.closed();
                }
            }
        }
        Err(ConsoleErrorKind::RateLimited {
            attempts: MAX_BACKOFFS,
        })
    }
}

/// The console's gap between downloads (`UCM_DOWNLOAD_GAP`), kept from our side.
#[derive(Debug)]
struct Pacer {
    gap: Duration,
    /// Added to the gap. The console times the gap from when the download request reaches it,
    /// which follows our click by a check request of varying latency. The margin starts small
    /// and doubles at each refusal, so a slow console or a busy host costs one back-off, not
    /// one per download.
    margin: Duration,
    last_click: Option<Instant>,
}

impl Pacer {
    fn new(gap: Duration) -> Self {
        Self {
            gap,
            margin: (gap / 20).clamp(Duration::from_millis(50), Duration::from_secs(1)),
            last_click: None,
        }
    }

    /// When the next download may be clicked; `None` for the first.
    fn next_click(&self) -> Option<Instant> {
        self.last_click.map(|last| last + self.gap + self.margin)
    }

    fn clicked(&mut self, at: Instant) {
        self.last_click = Some(at);
    }

    /// The console said "too frequently": keep further from its limit from now on.
    fn refused(&mut self) {
        self.margin = (self.margin * 2).min((self.gap / 2).max(self.margin));
        tracing::info!(
            pause_s = (self.gap + self.margin).as_secs_f32(),
            "Pausing longer between downloads from this console"
        );
    }
}

enum Arrival {
    /// A finished WAV file.
    Recording(PathBuf),
    RateLimited(Option<Duration>),
}

/// Waits for the file, watching the page too: the console may refuse ("too frequently") or show
/// its login form instead (the session expired).
async fn await_file(
    browser: &Browser,
    selectors: &SelectorSet,
    watch: &mut downloads::Watch,
    expected: &ExpectedFile,
    grid: bool,
) -> Step<Arrival> {
    let deadline = Instant::now() + browser.timeouts.download;
    let login_form = selectors.login.username.plain();
    loop {
        if grid {
            // The browser's disk is the node's: bring a finished file over into the watched
            // directory, where it arrives like a local download.
            grid::pull(browser, expected, watch.dir()).await?;
        }
        let look = watch
            .look(expected)
            .map_err(io_error("cannot read", watch.dir()))?;
        if let Look::Finished { path, .. } = look {
            return inspect(selectors, path);
        }
        let text = browser.page_text().await?;
        if let Some(line) = login::matching_line(&text, &selectors.texts.rate_limited) {
            return Ok(Arrival::RateLimited(login::stated_wait(line, &text)));
        }
        if browser.find(&login_form).await?.is_some() {
            return Err(ConsoleErrorKind::SessionExpired);
        }
        if Instant::now() >= deadline {
            return Err(ConsoleErrorKind::DownloadTimeout {
                file: expected.describe(),
                waited: browser.timeouts.download,
            });
        }
        watch.changed().await;
    }
}

/// Tells a recording from a page the console served in its place: "too frequently" is a
/// refusal to back off from, any other page means the session expired.
fn inspect(selectors: &SelectorSet, path: PathBuf) -> Step<Arrival> {
    match downloads::sniff(&path).map_err(io_error("cannot read", &path))? {
        Content::Wav => Ok(Arrival::Recording(path)),
        Content::Html(text) => match login::matching_line(&text, &selectors.texts.rate_limited) {
            Some(line) => Ok(Arrival::RateLimited(login::stated_wait(line, &text))),
            None => Err(ConsoleErrorKind::SessionExpired),
        },
        Content::Other(head) => Err(ConsoleErrorKind::NotARecording {
            file: path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            head,
        }),
    }
}

/// Moves the recording to the work directory.
fn take(downloads: &DownloadDir, path: &std::path::Path) -> Step<Downloaded> {
    let file_name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let moved = downloads
        .take(path)
        .map_err(io_error("cannot move", path))?;
    let bytes = std::fs::metadata(&moved)
        .map_err(io_error("cannot read", &moved))?
        .len();
    tracing::info!(file = %file_name, bytes, "Downloaded recording");
    Ok(Downloaded {
        path: moved,
        file_name,
        bytes,
    })
}

fn io_error(
    what: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> ConsoleErrorKind {
    let path = path.to_path_buf();
    move |source| ConsoleErrorKind::Io { what, path, source }
}

impl Drop for ConsoleSession {
    /// A session dropped without `close` (an error path, a cancelled pass) is closed in the
    /// background while the runtime lives; the profile is removed after the browser has gone.
    fn drop(&mut self) {
        let (Some(browser), Ok(runtime)) =
            (self.browser.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let profile = self.profile.take();
        runtime.spawn(async move {
            browser.close().await;
            drop(profile);
        });
    }
}

fn is_local(url: &Url) -> bool {
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

fn capabilities(
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

fn chromium_args(config: &BrowserConfig) -> Vec<String> {
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

/// Ends the WebDriver sessions a dead run of this worker left open (found by
/// [`DownloadRoot::hold`]): their browsers would run on until chromedriver restarts.
/// Best effort: a session already gone, or a server that moved, only leaves a log line.
async fn end_orphaned_sessions(config: &BrowserConfig, ids: &[String]) {
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

/// How long starting a session waits for a WebDriver server that does not answer at all: a
/// chromedriver sidecar that died is restarted by its container runtime within seconds, and a
/// tenant should not fail for that.
const WEBDRIVER_COMEBACK: Duration = Duration::from_secs(20);

/// Starts a session, waiting up to [`WEBDRIVER_COMEBACK`] for an unreachable server to return.
async fn connect(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_between_downloads_widens_at_each_refusal_up_to_half_the_gap() {
        let mut pacer = Pacer::new(Duration::from_secs(1));
        assert_eq!(
            pacer.next_click(),
            None,
            "the first download waits for nothing"
        );
        let click = Instant::now();
        pacer.clicked(click);
        assert_eq!(
            pacer.next_click(),
            Some(click + Duration::from_millis(1050))
        );
        pacer.refused();
        assert_eq!(
            pacer.next_click(),
            Some(click + Duration::from_millis(1100))
        );
        for _ in 0..10 {
            pacer.refused();
        }
        assert_eq!(
            pacer.next_click(),
            Some(click + Duration::from_millis(1500))
        );
        let production = Pacer::new(Duration::from_secs(15));
        assert_eq!(production.margin, Duration::from_millis(750));
    }

    #[test]
    fn recordfiles_are_split_at_their_at_signs() {
        assert_eq!(
            CallQuery::split_recordfiles(
                "2026-02/auto-1-1000-2000.wav@2026-02/auto-2-1000-2000.wav@"
            ),
            [
                "2026-02/auto-1-1000-2000.wav",
                "2026-02/auto-2-1000-2000.wav"
            ]
        );
        assert!(CallQuery::split_recordfiles("@").is_empty());
    }
}
