//! One file over 500 lines: a session's acts (open, sign in, download, close) and the order
//! between them; the work of each act is in its own room.
//!
//! One browser session on one tenant's console: open, sign in, download each call, close.

use std::sync::Arc;

use chrono::TimeZone as _;
use tracing::instrument;

use super::browser::{Browser, Step};
use super::check::{Checker, LocatorCheck};
use super::downloads::{DownloadDir, ExpectedFile};
use super::error::{io_error, ConsoleError, ConsoleErrorKind};
use super::login::LoginPage;
use super::pacing::{await_file, take, Arrival, Pacer};
use super::page;
use super::recordings::{ListState, Match, RecordingsPage, Row, RowInfo, Wanted};
use super::scan::StopLine;
use super::way::Way;
use super::webdriver::{capabilities, connect, is_local};
use super::{artifacts, grid, optional};
use super::{
    BrowserConfig, CallQuery, ConsoleTarget, Downloaded, ListedRecording, NewestQuery,
    NewestRecordings, SignedIn,
};
use crate::config::DownloadMode;
use crate::ids::UniqueId;
use crate::selectors::{SelectorCatalog, SelectorSet, SelectorsError, Vars};

/// Back-offs after "Operating too frequently" before one download gives up.
const MAX_BACKOFFS: u32 = 3;

/// One browser session on one tenant's console.
pub struct ConsoleSession {
    target: ConsoleTarget,
    config: BrowserConfig,
    catalog: SelectorCatalog,
    /// The file in use: the one whose login form matched, then the one the firmware picks.
    /// `None` only in a session opened to learn on a SELECTORS_DIR holding no file, until its
    /// draft is put in use: its walk reads the pages, not a file.
    selectors: Option<Arc<SelectorSet>>,
    /// `None` once closed.
    browser: Option<Browser>,
    downloads: Option<DownloadDir>,
    /// The browser profile, removed after the session (only when chromedriver runs here).
    profile: Option<tempfile::TempDir>,
    list: ListState,
    pacer: Pacer,
    webdriver_session: Option<String>,
    /// The tenant's learned selectors file (issue 22), used in place of the file the login picks.
    learned: Option<Arc<SelectorSet>>,
    /// The login page as the last login saw it: a drifted signed-in marker is learnt against it.
    login_page: Option<String>,
}

impl ConsoleSession {
    /// Starts a browser session with a fresh profile and download directory. SELECTORS_DIR must
    /// hold a selectors file: nothing can be scraped without one.
    pub async fn open(config: &BrowserConfig, target: ConsoleTarget) -> Result<Self, ConsoleError> {
        let catalog = SelectorCatalog::load_dir(&config.selectors_dir);
        Self::start(config, target, catalog).await
    }

    /// [`Self::open`] for `selectors learn` only, whose walk infers what no file describes:
    /// SELECTORS_DIR may hold no file (it must still exist and its files parse). Such a session
    /// has no file in use until the learnt draft is put in use ([`Self::prove_learnt`]).
    pub async fn open_to_learn(
        config: &BrowserConfig,
        target: ConsoleTarget,
    ) -> Result<Self, ConsoleError> {
        let catalog = SelectorCatalog::load_dir_to_learn(&config.selectors_dir);
        Self::start(config, target, catalog).await
    }

    #[instrument(skip_all, fields(tenant.id = %target.tenant_id))]
    async fn start(
        config: &BrowserConfig,
        target: ConsoleTarget,
        catalog: Result<SelectorCatalog, SelectorsError>,
    ) -> Result<Self, ConsoleError> {
        let fail = |kind| ConsoleError {
            tenant_id: target.tenant_id,
            tenant_name: target.tenant_name.clone(),
            call: None,
            kind,
            artifacts: None,
        };
        let catalog = catalog.map_err(|e| fail(e.into()))?;
        let selectors = catalog.login_candidates().next().cloned().map(Arc::new);
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
            learned: None,
            login_page: None,
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
        let wanted = self.wanted(call);
        let result = self.fetch(&wanted, call.uniqueid.as_str()).await;
        self.finish(result, Some(&call.uniqueid)).await
    }

    /// Reads the Recordings list newest first down to the query's line (see [`NewestQuery`]).
    /// A page that does not settle is an error: nothing of such a read is to be acted on.
    #[instrument(skip_all, fields(tenant.id = %self.target.tenant_id))]
    pub async fn newest_recordings(
        &mut self,
        query: &NewestQuery,
    ) -> Result<NewestRecordings, ConsoleError> {
        let result = match &self.list.unsettled {
            Some(doubt) => Err(ConsoleErrorKind::ListUncertain {
                doubt: format!("earlier in this pass {doubt}; not waited for again"),
                pages: 0,
            }),
            None => self.read_newest(query).await,
        };
        self.finish(result, None).await
    }

    /// Downloads a recording the list showed, by its row, with no call behind it; `name` names
    /// it in errors.
    #[instrument(skip_all, fields(tenant.id = %self.target.tenant_id, file = %name))]
    pub async fn download_listed(
        &mut self,
        listed: &ListedRecording,
        name: &str,
    ) -> Result<Downloaded, ConsoleError> {
        let wanted = self.wanted_listed(listed);
        let result = self.fetch(&wanted, name).await;
        self.finish(result, None).await
    }

    /// How `listed` matches `call` the way [`Self::download`] picks a call's row: by file name,
    /// else by caller, callee and time within the selectors file's tolerance. `None` when the
    /// row is not the call's; the smaller, the surer.
    pub(crate) fn listed_match(&self, listed: &ListedRecording, call: &CallQuery) -> Option<Match> {
        let zone = self.target.timezone;
        let row = RowInfo {
            file: listed.file.clone(),
            caller: listed.caller.clone(),
            callee: listed.callee.clone(),
            time: listed
                .shown_at
                .map(|t| t.with_timezone(&zone).naive_local()),
        };
        self.wanted(call)
            .matches(&row, self.selectors_in_use().recordings.tolerance())
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
        let browser = open(&self.browser);
        browser.goto(self.target.base_url.as_str()).await?;
        LoginPage::recognise(browser, &self.catalog).await?;
        for set in self.catalog.sets() {
            checks.extend(Checker { browser, set }.login_page().await?);
        }
        let signed_in = self.log_in().await?;
        let browser = open(&self.browser);
        for set in self.catalog.sets() {
            checks.extend(Checker { browser, set }.after_login().await?);
        }
        let selectors = self.selectors_in_use();
        let mut page = RecordingsPage {
            browser,
            selectors: &selectors,
            target: &self.target,
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
            // Without a file in use (a learning walk that failed) there is no way known out.
            if let Some(selectors) = &self.selectors {
                optional::log_out(&browser, selectors).await;
            }
            browser.close().await;
        }
    }

    /// Starts the search for the Recordings list with the way that worked before (kept per
    /// tenant by the caller); one that no longer works is dropped with a log line.
    pub fn follow_way(&mut self, way: Way) {
        self.list.ways.follow(way);
    }

    /// The way to the Recordings list as this session leaves it: the one found or followed,
    /// `None` when the one handed in stopped working and no other was found.
    pub fn way(&self) -> Option<&Way> {
        self.list.ways.way()
    }

    /// The WebDriver session id (chromedriver's), to tell this session in logs and checks.
    pub fn webdriver_session_id(&self) -> Option<&str> {
        self.webdriver_session.as_deref()
    }

    /// Adds the tenant and call to a failed step and saves its diagnostics.
    pub(super) async fn finish<T>(
        &self,
        result: Step<T>,
        call: Option<&UniqueId>,
    ) -> Result<T, ConsoleError> {
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
                artifacts::save(open(&self.browser), failure).await
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
        let browser = open(&self.browser);
        browser.goto(self.target.base_url.as_str()).await?;
        let page = LoginPage::recognise(browser, &self.catalog).await?;
        let matched = page.selectors().clone();
        // Until the firmware picks one, the file in use is the learned one, else the one whose
        // login form matched: its signed-in marker tells the login worked.
        let using = match &self.learned {
            Some(learned) => Arc::clone(learned),
            None => Arc::new(matched.clone()),
        };
        self.selectors = Some(Arc::clone(&using));
        self.login_page = Some(browser.source().await?);
        LoginPage::on(browser, &using)
            .sign_in(&self.target.username, &self.target.password)
            .await?;
        self.after_login(&matched).await
    }

    /// What follows a login: the firmware read, the file it picks (the learned file when there
    /// is one), and a list to open anew.
    async fn after_login(&mut self, matched: &SelectorSet) -> Step<SignedIn> {
        let browser = open(&self.browser);
        let firmware = optional::read_firmware(browser, matched).await?;
        let chosen = firmware
            .as_deref()
            .and_then(|v| self.catalog.for_firmware(v))
            .unwrap_or(matched);
        let chosen = self.learned.as_deref().unwrap_or(chosen);
        self.selectors = Some(Arc::new(chosen.clone()));
        self.list.closed();
        self.list.ways.logged_in();
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

    /// Ends a login whose signed-in marker was healed ([`Self::heal_signed_in`]) and is now in
    /// use as the tenant's learned file: the login itself succeeded, only its marker had drifted.
    pub async fn signed_in_healed(&mut self) -> Result<SignedIn, ConsoleError> {
        let learned = self.selectors_in_use();
        let result = self.after_login(&learned).await;
        self.finish(result, None).await
    }

    /// The login page the last login saw (its HTML).
    pub(super) fn login_page(&self) -> Option<&str> {
        self.login_page.as_deref()
    }

    /// One download, with one new login when the session turns out to have expired; `name`
    /// names the recording in errors.
    async fn fetch(&mut self, wanted: &Wanted, name: &str) -> Step<Downloaded> {
        match self.fetch_once(wanted).await {
            Err(ConsoleErrorKind::SessionExpired) => {
                if self.still_signed_in().await? {
                    // A page instead of the file while the session is fine: this recording's
                    // fault, not the session's; logging in again would find no login form.
                    return Err(ConsoleErrorKind::NotARecording {
                        file: name.to_string(),
                        head: "an HTML page while the session was still valid".into(),
                    });
                }
                tracing::info!("UCM session expired; logging in again");
                self.log_in().await?;
                self.fetch_once(wanted).await
            }
            other => other,
        }
    }

    /// Tells whether the session is still signed in: loads the list's remembered address (the
    /// start page when there is none, or when it shows the login form to anyone) and looks,
    /// a bounded time, for the list's data (true) or the login form (false); see
    /// [`page::still_signed_in`].
    async fn still_signed_in(&mut self) -> Step<bool> {
        let address = self.list.ways.way().map(|w| w.address.clone());
        let selectors = self.selectors_in_use();
        self.recordings(&selectors)
            .load(address.as_deref().unwrap_or(""), "the console")
            .await?;
        self.list.closed();
        page::still_signed_in(open(&self.browser), &selectors).await
    }

    fn wanted(&self, call: &CallQuery) -> Wanted {
        let local_start = self
            .target
            .timezone
            .from_utc_datetime(&call.call_date_utc)
            .naive_local();
        let start = local_start
            .format(&self.selectors_in_use().recordings.time_format)
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

    /// Finds the call's row without downloading it; returns the page it is on.
    pub(super) async fn find_row(&mut self, call: &CallQuery) -> Step<usize> {
        let wanted = self.wanted(call);
        let selectors = self.selectors_in_use();
        let row = self.recordings(&selectors).find(&wanted).await?;
        Ok(row.page)
    }

    /// Uses `set`, a selectors file learnt for this tenant, from now on and after every login,
    /// in place of the file the login picks (issue 22).
    pub fn use_learned(&mut self, set: SelectorSet) {
        let set = Arc::new(set);
        self.put_in_use(Arc::clone(&set));
        self.learned = Some(set);
    }

    /// The file in use. Every act but a learning walk reads one, and a session has one from
    /// its start, except a session opened to learn on an empty SELECTORS_DIR, whose walk reads
    /// none and whose draft is put in use before anything else ([`Self::open_to_learn`]).
    pub(super) fn selectors_in_use(&self) -> Arc<SelectorSet> {
        Arc::clone(
            self.selectors
                .as_ref()
                .expect("a selectors file is in use once a learning walk is over"),
        )
    }

    /// Puts `set` in use until the next login or swap.
    pub(super) fn put_in_use(&mut self, set: Arc<SelectorSet>) {
        self.list.judge_anew();
        self.selectors = Some(set);
    }

    /// Puts `set` in use until the next login or swap; returns the file it replaced.
    pub(super) fn swap_selectors(&mut self, set: Arc<SelectorSet>) -> Arc<SelectorSet> {
        let previous = self.selectors_in_use();
        self.put_in_use(set);
        previous
    }

    /// Loads the address where this session last saw the list (or the remembered way says it
    /// is), when there is one: where a drifted `recordings.ready` is learnt from, since the
    /// navigation that missed the list has moved on from it.
    pub(super) async fn back_to_list_address(&mut self) -> Step<()> {
        let selectors = self.selectors_in_use();
        self.recordings(&selectors).back_to_list_address().await
    }

    pub(super) fn target(&self) -> &ConsoleTarget {
        &self.target
    }

    pub(super) fn catalog_sets(&self) -> &[SelectorSet] {
        self.catalog.sets()
    }

    pub(super) fn open_browser(&self) -> &Browser {
        open(&self.browser)
    }

    /// The newest rows, with their times turned from the console's zone into UTC.
    async fn read_newest(&mut self, query: &NewestQuery) -> Step<NewestRecordings> {
        let zone = self.target.timezone;
        let local = |at: &chrono::DateTime<chrono::Utc>| at.with_timezone(&zone).naive_local();
        let line = StopLine {
            newest: query
                .newest
                .as_ref()
                .map(|(at, file)| (local(at), file.clone())),
            not_before: local(&query.not_before),
            max_pages: query.max_pages,
        };
        let selectors = self.selectors_in_use();
        let read = self.recordings(&selectors).read_newest(&line).await?;
        let recordings = read
            .rows
            .into_iter()
            .map(|row| ListedRecording {
                file: row.file,
                caller: row.caller,
                callee: row.callee,
                shown_at: row
                    .time
                    .and_then(|t| zone.from_local_datetime(&t).earliest())
                    .map(|t| t.with_timezone(&chrono::Utc)),
            })
            .collect();
        Ok(NewestRecordings {
            recordings,
            pages: read.pages,
            end: read.end,
        })
    }

    /// A listed recording as the row search wants it: found by its file name, or without one
    /// by its caller, callee and time.
    fn wanted_listed(&self, listed: &ListedRecording) -> Wanted {
        let shown = listed.shown_at.unwrap_or_default();
        let local_start = shown.with_timezone(&self.target.timezone).naive_local();
        Wanted {
            files: listed.file.iter().cloned().collect(),
            caller: listed.caller.clone(),
            callee: listed.callee.clone(),
            local_start,
            epoch: shown.timestamp(),
            vars: Vars::default()
                .with("file", listed.file.clone().unwrap_or_default())
                .with("caller", listed.caller.clone())
                .with("callee", listed.callee.clone())
                .with(
                    "start",
                    local_start
                        .format(&self.selectors_in_use().recordings.time_format)
                        .to_string(),
                ),
        }
    }

    /// Finds the call's row and downloads its recording.
    async fn fetch_once(&mut self, wanted: &Wanted) -> Step<Downloaded> {
        let selectors = self.selectors_in_use();
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
            browser: open(&self.browser),
            selectors,
            target: &self.target,
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
            let downloads = live(&self.downloads);
            downloads
                .clear()
                .map_err(io_error("cannot empty", downloads.path()))?;
            let grid = self.config.download_mode == DownloadMode::Grid;
            if grid {
                grid::clear(open(&self.browser)).await?;
            }
            let mut watch = downloads.watch(self.config.timeouts.poll);
            let clicked = self
                .recordings(selectors)
                .click_download(row, not_before)
                .await?;
            self.pacer.clicked(clicked);
            let browser = open(&self.browser);
            let arrival = await_file(browser, selectors, &mut watch, expected, grid).await;
            if let Some(began) = watch.began() {
                self.pacer.arrived(began);
            }
            match arrival? {
                Arrival::Recording(path) => {
                    let downloads = live(&self.downloads);
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

/// The browser of a session: [`ConsoleSession::close`] and `drop` take it, and nothing runs
/// after them. A free function over the field, so a borrow of it leaves the session's other
/// fields free (the list state, the pacer).
fn open(browser: &Option<Browser>) -> &Browser {
    browser.as_ref().expect("the browser is open until close")
}

/// The session's download directory, which lives until the session is dropped.
fn live(downloads: &Option<DownloadDir>) -> &DownloadDir {
    downloads
        .as_ref()
        .expect("the download directory lives until drop")
}
