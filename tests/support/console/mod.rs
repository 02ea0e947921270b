//! A stand-in for the Grandstream UCM / CloudUCM web console (docs/console.md), failures included.
//!
//! The server side is here; the pages are script-built single-page apps in `ucm63xx.js` and
//! `ucm62xx.js` (one per markup generation, "skin"). `README.md` next to this file documents the
//! markup, routes and texts the worker's selectors files must match.
//!
//! ```ignore
//! let console = FakeConsole::start(ConsoleConfig { recordings, ..Default::default() }).await;
//! // drive console.url with a browser ...
//! assert_eq!(console.events().logins_ok, 1);
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use chrono::TimeZone;
use serde_json::{json, Value};

/// A markup generation of the console's web UI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skin {
    /// UCM63xx / CloudUCM, React + Ant Design (docs/console.md, as closely as known).
    Ucm63xx,
    /// An older generation: other ids and classes, a table built from divs, a download link,
    /// other menu labels, route, column order and time format, "More" instead of pages.
    Ucm62xx,
    /// Made up for `selectors learn`'s test, unlike both: no ids and no form, data- attributes,
    /// a side rail, recordings as cards in a list, `DD.MM.YYYY` times, "Load more".
    Cards,
}

impl Skin {
    pub fn name(self) -> &'static str {
        match self {
            Skin::Ucm63xx => "ucm63xx",
            Skin::Ucm62xx => "ucm62xx",
            Skin::Cards => "cards",
        }
    }

    pub fn parse(name: &str) -> Option<Skin> {
        match name {
            "ucm63xx" => Some(Skin::Ucm63xx),
            "ucm62xx" | "ucm62xx-legacy" => Some(Skin::Ucm62xx),
            "cards" => Some(Skin::Cards),
            _ => None,
        }
    }

    /// The firmware string the dashboard shows unless the config says otherwise.
    pub fn default_firmware(self) -> &'static str {
        match self {
            Skin::Ucm63xx => "1.0.27.10",
            Skin::Ucm62xx => "1.0.20.52",
            Skin::Cards => "2.1.4.7",
        }
    }

    /// The route of the Recordings page.
    pub fn recordings_route(self) -> &'static str {
        match self {
            Skin::Ucm63xx => "/cdr/recordingFile",
            Skin::Ucm62xx => "/cdr/recordFiles",
            Skin::Cards => "/app/recordings",
        }
    }
}

/// How the app answers an address loaded directly (a deep link).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeepLinks {
    /// Every page path answers the app (the real console, as far as known).
    #[default]
    Served,
    /// Only `/` (and the login route) answer the app; other paths a `404` HTML error document.
    NotFound,
    /// Only `/` (and the login route) answer the app; other paths `200` with a JSON error.
    JsonError,
    /// The app routes by `#/path` under `/`; other paths answer `404`.
    HashRouting,
}

/// Where the firmware version is shown after login.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FirmwareShown {
    /// On the dashboard / status page, where the shipped selectors files look.
    #[default]
    Dashboard,
    /// In the page header instead (`span.header-firmware` / `span#fw-ver`).
    Header,
    Nowhere,
}

/// What the list shows while a page (or "More") loads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Loading {
    /// The old rows under the skin's known busy marker (`.ant-spin-spinning` / `#loading-mask`).
    #[default]
    KnownMarker,
    /// The list cleared to its "no data" placeholder, with no busy marker.
    Placeholder,
    /// The old rows kept under a mask the selectors files do not know (`.ant-table-loading-mask`
    /// / `div.loading-overlay`), the way Ant Design tables keep them.
    UnknownMask,
}

/// How rows are drawn once their data has come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Rows {
    #[default]
    AtOnce,
    /// First without the time and the download control, completed `render_step` later.
    TwoSteps,
    /// Drawn, then drawn again (new elements, same content) `render_step` later.
    Replaced,
    /// Drawn once; the first press on a download control after each drawing draws the rows
    /// again before the button is released, as a late refresh landing mid-click would. That
    /// press's click reaches no control and downloads nothing.
    RedrawnUnderClick,
}

/// How the paging control says there is nothing more.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EndOfList {
    /// Skin 1: `.ant-pagination-disabled` on "next"; skin 2: the "More" button is gone.
    #[default]
    Usual,
    /// Skin 1: only `aria-disabled="true"` and `disabled` on "next" (no class); skin 2: "More"
    /// stays, with the `disabled` attribute.
    DisabledAttribute,
}

/// Where a login lands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Landing {
    /// The dashboard / status page (where the firmware is shown).
    #[default]
    Dashboard,
    /// A page that is neither the dashboard nor the list (`/welcome` / `/home`), with the menu.
    Welcome,
}

/// What a row's key (`data-row-key` / `data-file`) holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RowKey {
    /// The recording's file name, the string `cdr_records.recordfiles` holds.
    #[default]
    File,
    /// The console's own id of the recording (digits); the row shows no file name anywhere.
    ConsoleId,
}

/// How a row's download control is drawn (issue 22).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DownloadControl {
    /// Skin 1 `span.sprite-download`; skin 2 the text link `a.download-link`.
    #[default]
    Usual,
    /// An icon, as a later firmware draws it: skin 1 an Ant Design icon
    /// `span.anticon.anticon-download` holding an `<svg>`; skin 2 `a.btn-icon[title=Download]`
    /// holding an `<svg>` and no text.
    Icon,
}

/// The class names of the rows and their container (issue 22).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RowClasses {
    #[default]
    Usual,
    /// Skin 1: `tbody.rc-table-tbody > tr.rc-table-row` (Ant Design's newer table, no
    /// `ant-table-tbody`); skin 2: `div.grid-body > div.grid-line` (no `grid-row`).
    Other,
}

/// Details a firmware or cloud release might change (issues 13, 22). The default is the console as
/// the rest of this README describes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quirks {
    pub deep_links: DeepLinks,
    pub firmware: FirmwareShown,
    pub loading: Loading,
    pub rows: Rows,
    /// Delay between the two drawings of [`Rows::TwoSteps`] and [`Rows::Replaced`].
    pub render_step: Duration,
    pub end_of_list: EndOfList,
    /// A new call (the newest) arrives right after this many downloads have been served,
    /// shifting every row down by one across page boundaries.
    pub new_call_after_downloads: Option<u64>,
    /// The start page (`/`, and skin 2's `/login`) draws the login form even to a signed-in user.
    pub start_shows_login: bool,
    pub landing: Landing,
    /// The side menu is collapsed: hidden, its items not drawn, until a toggle in the header
    /// (`span.ant-layout-sider-trigger` / `a#nav-toggle`) opens it.
    pub menu_collapsed: bool,
    pub row_key: RowKey,
    pub download_control: DownloadControl,
    pub row_classes: RowClasses,
    /// Every session ends when this page of the list is first asked for (once): a session that
    /// expires mid-paging.
    pub expire_at_page: Option<usize>,
    /// The layout around the menu is drawn differently, so the shipped signed-in markers find
    /// nothing (issue 22): skin 1 the root menu is a `div.ant-menu` (no `ul.ant-menu`), skin 2
    /// the frame is `div#app-main` (no `div#main`). The menu itself is unchanged.
    pub other_layout: bool,
}

/// How the stand-in behaves. `Default` gives quick test values; the real console's are noted.
#[derive(Clone, Debug)]
pub struct ConsoleConfig {
    pub skin: Skin,
    pub username: String,
    pub password: String,
    /// Shown on the dashboard.
    pub firmware: String,
    /// Rows per page (skin 1) or per "More" (skin 2). Real: 10.
    pub page_size: usize,
    /// The zone call times are shown in.
    pub timezone: chrono_tz::Tz,
    /// Failed logins from one address within `lockout_window` that ban it. Real: 5.
    pub lockout_threshold: u32,
    pub lockout_window: Duration,
    /// How long a banned address is refused. Real: 5 min.
    pub lockout_duration: Duration,
    /// Every login is refused with -70 (address permanently blocked).
    pub blocked: bool,
    /// Idle time after which a session is gone. Real: 10 min.
    pub session_ttl: Duration,
    /// Least time between two served downloads; sooner gets the 429 page. Real: ~15 s.
    pub download_gap: Duration,
    /// How long the app script takes before it renders anything.
    pub boot_delay: Duration,
    /// How long each list (and dashboard) request takes.
    pub list_delay: Duration,
    /// How long a download takes: the body is sent in pieces over this time. Real: up to 90 s.
    pub download_delay: Duration,
    /// Serve HTTPS with a self-signed certificate generated at start.
    pub tls: bool,
    /// Show a reCAPTCHA on the login page; logins without a solved one are refused.
    pub captcha: bool,
    /// Cover the whole page with a mask during loads (clicks get intercepted).
    pub overlay: bool,
    /// Answer Grandstream's HTTPS API (`POST /api`, JSON) on the same port; only its
    /// `challenge` action is served. Off (the API's factory setting): `POST /api` gets the 405
    /// every unknown POST gets.
    pub https_api: bool,
    /// The full HTTPS API stand-in ([`super::ucm_api::ApiStandIn`]) on `POST /api` instead of
    /// the challenge-only answer above: the same calls and recordings as the web pages when
    /// the test gives it them ([`super::ucm_api::ApiStandIn::mirror`]), with its switches.
    pub api: Option<super::ucm_api::ApiStandIn>,
    /// Where to listen; port 0 picks a free one.
    pub bind: SocketAddr,
    pub recordings: Vec<Recording>,
    /// Ways this console differs from the usual one.
    pub quirks: Quirks,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig::for_skin(Skin::Ucm63xx)
    }
}

impl ConsoleConfig {
    /// The defaults, with the skin's own firmware string.
    pub fn for_skin(skin: Skin) -> Self {
        ConsoleConfig {
            skin,
            username: "admin".into(),
            password: "S3cret!pass".into(),
            firmware: skin.default_firmware().into(),
            page_size: 10,
            timezone: chrono_tz::UTC,
            lockout_threshold: 5,
            lockout_window: Duration::from_secs(300),
            lockout_duration: Duration::from_secs(300),
            blocked: false,
            session_ttl: Duration::from_secs(600),
            download_gap: Duration::from_secs(1),
            boot_delay: Duration::from_millis(200),
            list_delay: Duration::from_millis(150),
            download_delay: Duration::ZERO,
            tls: false,
            captcha: false,
            overlay: false,
            https_api: false,
            api: None,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            recordings: Vec::new(),
            quirks: Quirks::default(),
        }
    }
}

/// One recording on the console.
#[derive(Clone, Debug)]
pub struct Recording {
    /// The row key and download name, as `recordfiles` holds it without the `@`:
    /// `2026-02/auto-1770395696-1000-2815058290.wav`.
    pub file: String,
    pub caller: String,
    pub callee: String,
    /// When recording started (the epoch in the file name).
    pub start_epoch: i64,
    pub wav: Arc<Vec<u8>>,
}

impl Recording {
    /// A recording named the UCM way; the month directory is taken in UTC.
    pub fn new(caller: &str, callee: &str, start_epoch: i64, wav: Arc<Vec<u8>>) -> Self {
        let month = chrono::Utc
            .timestamp_opt(start_epoch, 0)
            .single()
            .expect("a valid epoch")
            .format("%Y-%m");
        Recording {
            file: format!("{month}/auto-{start_epoch}-{caller}-{callee}.wav"),
            caller: caller.into(),
            callee: callee.into(),
            start_epoch,
            wav,
        }
    }

    /// The file name a browser saves it under.
    pub fn download_name(&self) -> &str {
        self.file.rsplit('/').next().unwrap_or(&self.file)
    }

    /// The console's own id of the recording, as [`RowKey::ConsoleId`] shows it: digits, the
    /// same for the same file on every list request.
    pub fn console_id(&self) -> String {
        // FNV-1a: stable across runs, unlike std's hasher.
        let hash = self.file.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        (hash % 1_000_000_000).to_string()
    }
}

/// A WAV of `seconds` of a 440 Hz tone: 8 kHz, 16-bit, mono PCM (16,000 bytes a second).
pub fn tone_wav(seconds: f32) -> Vec<u8> {
    let rate = 8000u32;
    let samples = (seconds * rate as f32) as u32;
    let data_len = samples * 2;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for n in 0..samples {
        let t = n as f32 / rate as f32;
        let v = (t * 440.0 * std::f32::consts::TAU).sin() * 8000.0;
        out.extend_from_slice(&(v as i16).to_le_bytes());
    }
    out
}

/// What happened on the console so far (a snapshot).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsoleEvents {
    pub challenges: u64,
    /// `challenge` requests to the HTTPS API (`POST /api`), answered or not.
    pub api_challenges: u64,
    /// Every `action=login`, whatever its outcome.
    pub logins_tried: u64,
    pub logins_ok: u64,
    /// Wrong user name or token (-37), including the one that triggers a ban.
    pub logins_failed: u64,
    /// Refused without checking the password: banned (-68), blocked (-70) or no captcha.
    pub logins_refused: u64,
    pub logouts: u64,
    /// List requests answered (each page, each "More").
    pub pages_listed: u64,
    pub files_checked: u64,
    pub downloads_served: u64,
    /// Refused with the 429 page: too soon after the previous download, or one of the
    /// downloads [`FakeConsole::refuse_next_downloads`] asked to refuse.
    pub downloads_rate_limited: u64,
    /// Answered with the login page because the session was missing or expired.
    pub downloads_without_session: u64,
    pub downloads_not_found: u64,
    /// Files served, in order.
    pub served_files: Vec<String>,
    /// Recordings added by [`Quirks::new_call_after_downloads`].
    pub calls_arrived: Vec<String>,
    /// Every download answered with the file or with the 429 page, in order.
    pub download_answers: Vec<DownloadAnswer>,
    /// Sessions alive now, and the most alive at once.
    pub sessions_active: usize,
    pub sessions_max_concurrent: usize,
}

/// One download request the console answered with the file or with "too frequently".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadAnswer {
    /// The recording asked for.
    pub file: String,
    pub at: Instant,
    /// The wait the 429 page stated; `None` when the file was served.
    pub refused_for: Option<Duration>,
}

/// The running stand-in. Stops when dropped.
pub struct FakeConsole {
    /// `http://127.0.0.1:<port>` or `https://...`, no trailing slash.
    pub url: String,
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    handle: axum_server::Handle<SocketAddr>,
}

impl FakeConsole {
    /// Starts the console on `config.bind` (port 0: a free port) and returns once it listens.
    pub async fn start(config: ConsoleConfig) -> FakeConsole {
        let listener = std::net::TcpListener::bind(config.bind).expect("bind the console");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local addr");
        let tls = config.tls;
        let shared = Arc::new(Shared {
            state: Mutex::new(ConsoleState {
                config,
                events: ConsoleEvents::default(),
                sessions: HashMap::new(),
                challenges: HashMap::new(),
                failures: HashMap::new(),
                banned_until: HashMap::new(),
                last_download: None,
                downloads_to_refuse: 0,
                expired_at_page: false,
            }),
            lists_held: tokio::sync::watch::Sender::new(false),
        });
        let app = router(shared.clone());
        let handle = axum_server::Handle::new();
        let make = app.into_make_service_with_connect_info::<SocketAddr>();
        let scheme = if tls { "https" } else { "http" };
        let tls_config = tls.then(tls_config);
        // Its own thread and runtime, like a server on another machine: a test that blocks its
        // own runtime (or ends it) does not freeze or kill the console under the browser.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fake-ucm")
            .enable_all()
            .build()
            .expect("console runtime");
        let server_handle = handle.clone();
        std::thread::Builder::new()
            .name("fake-ucm".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let served = match tls_config {
                        Some(config) => {
                            let rustls = axum_server::tls_rustls::RustlsConfig::from_config(
                                Arc::new(config),
                            );
                            axum_server::from_tcp_rustls(listener, rustls)
                                .expect("serve the console over TLS")
                                .handle(server_handle)
                                .serve(make)
                                .await
                        }
                        None => {
                            axum_server::from_tcp(listener)
                                .expect("serve the console")
                                .handle(server_handle)
                                .serve(make)
                                .await
                        }
                    };
                    if let Err(e) = served {
                        eprintln!("fake UCM console stopped: {e}");
                    }
                });
                // Streams of slow downloads still running must not keep the thread alive.
                runtime.shutdown_background();
            })
            .expect("console thread");
        handle.listening().await.expect("console listening");
        let host = if addr.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            addr.ip().to_string()
        };
        FakeConsole {
            url: format!("{scheme}://{host}:{}", addr.port()),
            addr,
            shared,
            handle,
        }
    }

    pub fn events(&self) -> ConsoleEvents {
        let mut st = self.shared.lock();
        st.prune_sessions();
        st.events.sessions_active = st.sessions.len();
        st.events.clone()
    }

    pub fn add_recording(&self, recording: Recording) {
        self.shared.lock().config.recordings.push(recording);
    }

    /// The console deletes a recording (its storage filled up, the oldest go first).
    pub fn remove_recording(&self, file: &str) {
        self.shared
            .lock()
            .config
            .recordings
            .retain(|r| r.file != file);
    }

    /// Ends every session now, as if the idle timeout had passed.
    pub fn expire_sessions(&self) {
        self.shared.lock().sessions.clear();
    }

    /// Lifts bans and forgets failed logins.
    pub fn clear_lockouts(&self) {
        let mut st = self.shared.lock();
        st.failures.clear();
        st.banned_until.clear();
    }

    /// Refuses the next `n` downloads with the 429 page ("too frequently", a wait of
    /// `download_gap` rounded up to whole seconds, at least 1), however long after the previous
    /// one they come: a refusal a test can count on, which the gap under load is not.
    pub fn refuse_next_downloads(&self, n: u64) {
        self.shared.lock().downloads_to_refuse = n;
    }

    /// Holds every list request's answer (each page, each "More") from now until
    /// [`FakeConsole::release_lists`]: the page shows its loading state (busy marker, mask) for
    /// as long as a test needs it, not for a `list_delay` that a loaded machine may outlast.
    pub fn hold_lists(&self) {
        self.shared.lists_held.send_replace(true);
    }

    /// Answers the held list requests, and the next ones as usual.
    pub fn release_lists(&self) {
        self.shared.lists_held.send_replace(false);
    }

    /// Changes the configuration of the running console (delays, captcha, gap, ...).
    /// `bind` and `tls` have no effect after start.
    pub fn reconfigure(&self, change: impl FnOnce(&mut ConsoleConfig)) {
        change(&mut self.shared.lock().config);
    }

    /// The download URL of a recording file (`2026-02/auto-….wav`), as the console builds it.
    pub fn download_url(&self, file: &str) -> String {
        format!(
            "{}/cgi?action=downloadFile&type=voice_recording&data={}",
            self.url,
            file.replace('/', "%2F")
        )
    }

    /// One challenge + login over `/cgi`; returns the status and the session cookie.
    pub async fn cgi_login(
        &self,
        http: &reqwest::Client,
        user: &str,
        pass: &str,
    ) -> (i64, serde_json::Value, Option<String>) {
        use md5::Digest;
        let cgi = self.route("/cgi");
        let challenge: serde_json::Value = http
            .post(&cgi)
            .form(&[("action", "challenge"), ("user", user), ("version", "1.0")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let challenge = challenge["response"]["challenge"].as_str().unwrap();
        let token = hex::encode(md5::Md5::digest(format!("{challenge}{pass}").as_bytes()));
        let answer = http
            .post(&cgi)
            .form(&[("action", "login"), ("user", user), ("token", &token)])
            .send()
            .await
            .unwrap();
        let cookie = answer
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string());
        let body: serde_json::Value = answer.json().await.unwrap();
        (
            body["status"].as_i64().unwrap(),
            body["response"].clone(),
            cookie,
        )
    }

    /// The URL of a route, e.g. `console.route("/cdr/recordingFile")`.
    pub fn route(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }
}

impl Drop for FakeConsole {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

/// A self-signed certificate for localhost, as many UCMs have.
pub fn tls_config() -> rustls::ServerConfig {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("self-signed certificate");
    let cert = key.cert.der().clone();
    let private = rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into());
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert], private)
    .expect("TLS certificate");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

struct Shared {
    state: Mutex<ConsoleState>,
    /// Set while list answers are held ([`FakeConsole::hold_lists`]).
    lists_held: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, ConsoleState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct ConsoleState {
    config: ConsoleConfig,
    events: ConsoleEvents,
    /// session id -> last activity
    sessions: HashMap<String, Instant>,
    /// user -> outstanding challenge
    challenges: HashMap<String, String>,
    failures: HashMap<IpAddr, Vec<Instant>>,
    banned_until: HashMap<IpAddr, Instant>,
    last_download: Option<Instant>,
    /// Downloads still to refuse whatever the gap ([`FakeConsole::refuse_next_downloads`]).
    downloads_to_refuse: u64,
    /// [`Quirks::expire_at_page`] has ended the sessions.
    expired_at_page: bool,
}

impl ConsoleState {
    fn prune_sessions(&mut self) {
        let ttl = self.config.session_ttl;
        self.sessions.retain(|_, seen| seen.elapsed() < ttl);
    }

    /// Whether the request carries a live session; touching it keeps it alive (idle timeout).
    fn touch(&mut self, headers: &HeaderMap) -> bool {
        self.prune_sessions();
        match session_cookie(headers) {
            Some(sid) => match self.sessions.get_mut(&sid) {
                Some(seen) => {
                    *seen = Instant::now();
                    true
                }
                None => false,
            },
            None => false,
        }
    }

    fn ban_remaining(&mut self, ip: IpAddr) -> Option<u64> {
        let until = *self.banned_until.get(&ip)?;
        let now = Instant::now();
        if until > now {
            Some((until - now).as_secs_f64().ceil() as u64)
        } else {
            self.banned_until.remove(&ip);
            None
        }
    }

    fn find(&self, file: &str) -> Option<Recording> {
        self.config
            .recordings
            .iter()
            .find(|r| r.file == file)
            .cloned()
    }

    /// A call newer than every other, so each row moves down one place.
    fn new_call_arrives(&mut self, like: &Recording) {
        let newest = self.config.recordings.iter().map(|r| r.start_epoch).max();
        let epoch = newest.unwrap_or(like.start_epoch) + 60;
        let call = Recording::new("1999", &like.callee, epoch, like.wav.clone());
        self.events.calls_arrived.push(call.file.clone());
        self.config.recordings.push(call);
    }

    /// Newest first.
    fn sorted(&self) -> Vec<Recording> {
        let mut all = self.config.recordings.clone();
        all.sort_by(|a, b| {
            b.start_epoch
                .cmp(&a.start_epoch)
                .then_with(|| b.file.cmp(&a.file))
        });
        all
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == "session-identify")
        .map(|(_, v)| v.to_string())
}

fn router(shared: Arc<Shared>) -> Router {
    let mounted = shared.lock().config.api.clone();
    let mut console = Router::new().route("/cgi", get(cgi_get).post(cgi_post));
    if mounted.is_none() {
        console = console.route("/api", axum::routing::post(api));
    }
    let console = console
        .route("/static/{file}", get(static_file))
        .route("/recaptcha/api2/anchor", get(captcha_frame))
        .fallback(get(shell))
        .with_state(shared);
    match mounted {
        Some(api) => console.merge(api.router()),
        None => console,
    }
}

type St = State<Arc<Shared>>;

/// Every page path answers with the same empty shell; the script renders the view. With
/// [`DeepLinks`] other than `Served`, only `/` and the login route do.
async fn shell(State(shared): St, uri: axum::http::Uri) -> Response {
    let (skin, deep_links) = {
        let st = shared.lock();
        (st.config.skin, st.config.quirks.deep_links)
    };
    let entry = uri.path() == "/" || (skin == Skin::Ucm62xx && uri.path() == "/login");
    match deep_links {
        DeepLinks::Served => html(StatusCode::OK, shell_html(skin)),
        _ if entry => html(StatusCode::OK, shell_html(skin)),
        DeepLinks::JsonError => axum::Json(json!({
            "response": { "message": format!("no such page: {}", uri.path()) },
            "status": -1
        }))
        .into_response(),
        DeepLinks::NotFound | DeepLinks::HashRouting => html(
            StatusCode::NOT_FOUND,
            "<!DOCTYPE html><html><head><title>404 Not Found</title></head>\
             <body><h1>404 Not Found</h1><p>The requested URL was not found on this server.</p>\
             </body></html>"
                .into(),
        ),
    }
}

fn shell_html(skin: Skin) -> String {
    match skin {
        Skin::Ucm63xx => include_str!("ucm63xx.html").to_string(),
        Skin::Ucm62xx => include_str!("ucm62xx.html").to_string(),
        Skin::Cards => include_str!("cards.html").to_string(),
    }
}

async fn static_file(
    State(shared): St,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    let (skin, cfg) = {
        let st = shared.lock();
        let c = &st.config;
        let q = &c.quirks;
        let cfg = json!({
            "bootDelayMs": c.boot_delay.as_millis() as u64,
            "overlay": c.overlay,
            "captcha": c.captcha,
            "sitekey": "6LfStandInSiteKeyForTestsOnly000000000000",
            "hashRouting": q.deep_links == DeepLinks::HashRouting,
            "firmwareShown": match q.firmware {
                FirmwareShown::Dashboard => "dashboard",
                FirmwareShown::Header => "header",
                FirmwareShown::Nowhere => "nowhere",
            },
            "firmware": c.firmware,
            "loading": match q.loading {
                Loading::KnownMarker => "marker",
                Loading::Placeholder => "placeholder",
                Loading::UnknownMask => "mask",
            },
            "rows": match q.rows {
                Rows::AtOnce => "once",
                Rows::TwoSteps => "two-steps",
                Rows::Replaced => "replaced",
                Rows::RedrawnUnderClick => "under-click",
            },
            "renderStepMs": q.render_step.as_millis() as u64,
            "endByAttribute": q.end_of_list == EndOfList::DisabledAttribute,
            "startShowsLogin": q.start_shows_login,
            "landing": match q.landing {
                Landing::Dashboard => "dashboard",
                Landing::Welcome => "welcome",
            },
            "menuCollapsed": q.menu_collapsed,
            "otherLayout": q.other_layout,
            "rowKeyIsId": q.row_key == RowKey::ConsoleId,
            "downloadIcon": q.download_control == DownloadControl::Icon,
            "otherRowClasses": q.row_classes == RowClasses::Other,
        });
        (c.skin, cfg)
    };
    let (body, ctype) = match (skin, file.as_str()) {
        (_, "md5.js") => (include_str!("md5.js").to_string(), "application/javascript"),
        (Skin::Ucm63xx, "app.js") => (
            format!("var UCM_CONFIG = {cfg};\n{}", include_str!("ucm63xx.js")),
            "application/javascript",
        ),
        (Skin::Ucm62xx, "main.js") => (
            format!("var UCM_CONFIG = {cfg};\n{}", include_str!("ucm62xx.js")),
            "application/javascript",
        ),
        (Skin::Ucm63xx, "app.css") => (include_str!("ucm63xx.css").to_string(), "text/css"),
        (Skin::Ucm62xx, "main.css") => (include_str!("ucm62xx.css").to_string(), "text/css"),
        (Skin::Cards, "cards.js") => (
            format!("var UCM_CONFIG = {cfg};\n{}", include_str!("cards.js")),
            "application/javascript",
        ),
        (Skin::Cards, "cards.css") => (include_str!("cards.css").to_string(), "text/css"),
        _ => return (StatusCode::NOT_FOUND, "not found").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, ctype),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn captcha_frame() -> Response {
    html(
        StatusCode::OK,
        "<!DOCTYPE html><html><body style=\"margin:0;font:14px sans-serif\">\
         <div class=\"recaptcha-checkbox\" role=\"checkbox\" aria-checked=\"false\" \
         style=\"border:1px solid #ccc;padding:20px\">I'm not a robot</div></body></html>"
            .to_string(),
    )
}

async fn cgi_post(
    State(shared): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(params): Form<HashMap<String, String>>,
) -> Response {
    cgi(shared, peer.ip(), headers, params).await
}

/// The HTTPS API: `{"request":{"action":"challenge","user":…}}` gets a challenge, which is
/// not a login attempt and starts nothing; any other action gets -1 (invalid parameters).
async fn api(State(shared): St, axum::Json(body): axum::Json<Value>) -> Response {
    let mut st = shared.lock();
    let action = body.pointer("/request/action").and_then(Value::as_str);
    if action == Some("challenge") {
        st.events.api_challenges += 1;
    }
    match (st.config.https_api, action) {
        (false, _) => StatusCode::METHOD_NOT_ALLOWED.into_response(),
        (true, Some("challenge")) => ok(json!({ "challenge": new_challenge() })),
        (true, _) => status(-1),
    }
}

async fn cgi_get(
    State(shared): St,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    cgi(shared, peer.ip(), headers, params).await
}

fn status(code: i32) -> Response {
    axum::Json(json!({ "response": {}, "status": code })).into_response()
}

fn ok(response: Value) -> Response {
    axum::Json(json!({ "response": response, "status": 0 })).into_response()
}

async fn cgi(
    shared: Arc<Shared>,
    ip: IpAddr,
    headers: HeaderMap,
    params: HashMap<String, String>,
) -> Response {
    let param = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    match param("action") {
        "challenge" => challenge(&shared, param("user")),
        "login" => login(&shared, ip, &params),
        "logout" => {
            let mut st = shared.lock();
            if let Some(sid) = session_cookie(&headers) {
                if st.sessions.remove(&sid).is_some() {
                    st.events.logouts += 1;
                }
            }
            let mut r = status(0);
            r.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_static("session-identify=; Path=/; Max-Age=0"),
            );
            r
        }
        "getSystemStatus" => {
            let (live, delay, firmware) = {
                let mut st = shared.lock();
                let live = st.touch(&headers);
                (live, st.config.list_delay, st.config.firmware.clone())
            };
            if !live {
                return status(-6);
            }
            tokio::time::sleep(delay).await;
            ok(json!({ "prog-version": firmware, "model": "UCM", "up-time": "3 days 04:12:09" }))
        }
        "listFile" => {
            let filter = Filter {
                caller: param("caller").to_string(),
                callee: param("callee").to_string(),
            };
            list_file(&shared, &headers, param("page"), &filter).await
        }
        "checkFile" => {
            let mut st = shared.lock();
            if !st.touch(&headers) {
                return status(-6);
            }
            st.events.files_checked += 1;
            if st.find(param("data")).is_some() {
                status(0)
            } else {
                status(-9)
            }
        }
        "downloadFile" => download(&shared, &headers, param("data")).await,
        _ => status(-1),
    }
}

fn challenge(shared: &Shared, user: &str) -> Response {
    // Bans are enforced at `login`, so each attempt is one challenge and one login.
    let mut st = shared.lock();
    st.events.challenges += 1;
    let challenge = new_challenge();
    st.challenges.insert(user.to_string(), challenge.clone());
    ok(json!({ "challenge": challenge }))
}

/// Sixteen digits, like the console's.
fn new_challenge() -> String {
    format!("{:016}", rand::random::<u64>() % 10_000_000_000_000_000)
}

fn login(shared: &Shared, ip: IpAddr, params: &HashMap<String, String>) -> Response {
    use md5::Digest;
    let param = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    let mut st = shared.lock();
    st.events.logins_tried += 1;
    if st.config.blocked {
        st.events.logins_refused += 1;
        return status(-70);
    }
    if let Some(remain) = st.ban_remaining(ip) {
        st.events.logins_refused += 1;
        return axum::Json(json!({ "response": { "remain_time": remain }, "status": -68 }))
            .into_response();
    }
    if st.config.captcha && param("g-recaptcha-response").is_empty() {
        st.events.logins_refused += 1;
        return status(-50);
    }
    let user = param("user");
    let expected = st.challenges.remove(user).map(|challenge| {
        let digest = md5::Md5::digest(format!("{challenge}{}", st.config.password).as_bytes());
        hex::encode(digest)
    });
    let good = user == st.config.username
        && expected.is_some_and(|t| t.eq_ignore_ascii_case(param("token")));
    if !good {
        st.events.logins_failed += 1;
        let now = Instant::now();
        let window = st.config.lockout_window;
        let threshold = st.config.lockout_threshold;
        let lockout = st.config.lockout_duration;
        let failures = st.failures.entry(ip).or_default();
        failures.retain(|t| now.duration_since(*t) < window);
        failures.push(now);
        let count = failures.len() as u32;
        if count >= threshold {
            st.failures.remove(&ip);
            st.banned_until.insert(ip, now + lockout);
            let remain = lockout.as_secs_f64().ceil() as u64;
            return axum::Json(json!({ "response": { "remain_time": remain }, "status": -68 }))
                .into_response();
        }
        return axum::Json(json!({
            "response": { "remain_num": threshold - count },
            "status": -37
        }))
        .into_response();
    }
    st.failures.remove(&ip);
    st.prune_sessions();
    let sid = format!(
        "sid{}-{}",
        rand::random::<u32>(),
        chrono::Utc::now().timestamp()
    );
    st.sessions.insert(sid.clone(), Instant::now());
    st.events.logins_ok += 1;
    let alive = st.sessions.len();
    st.events.sessions_max_concurrent = st.events.sessions_max_concurrent.max(alive);
    let mut r = ok(json!({ "cookie": sid, "user": { "user_name": user } }));
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&format!("session-identify={sid}; Path=/")).expect("cookie"),
    );
    r
}

/// The Recordings page's search fields (skin 1): a row matches when its number contains the
/// text given (empty: any).
struct Filter {
    caller: String,
    callee: String,
}

impl Filter {
    fn matches(&self, r: &Recording) -> bool {
        r.caller.contains(self.caller.trim()) && r.callee.contains(self.callee.trim())
    }
}

async fn list_file(shared: &Shared, headers: &HeaderMap, page: &str, filter: &Filter) -> Response {
    let (live, delay) = {
        let mut st = shared.lock();
        let asked = page.parse::<usize>().ok();
        if asked.is_some() && asked == st.config.quirks.expire_at_page && !st.expired_at_page {
            st.expired_at_page = true;
            st.sessions.clear();
        }
        (st.touch(headers), st.config.list_delay)
    };
    // A refusal for an expired session takes the listing's time too: the app's frame (the
    // signed-in marker, the list's header) stays up until it comes.
    tokio::time::sleep(delay).await;
    if !live {
        return status(-6);
    }
    let mut held = shared.lists_held.subscribe();
    // Only an ended console drops the sender; nothing is held then.
    let _ = held.wait_for(|held| !*held).await;
    let mut st = shared.lock();
    st.events.pages_listed += 1;
    let size = st.config.page_size.max(1);
    let all: Vec<Recording> = st
        .sorted()
        .into_iter()
        .filter(|r| filter.matches(r))
        .collect();
    let total = all.len();
    let pages = total.div_ceil(size).max(1);
    let page = page.parse::<usize>().unwrap_or(1).clamp(1, pages);
    let tz = st.config.timezone;
    let time_format = match st.config.skin {
        Skin::Ucm63xx => "%Y-%m-%d %H:%M:%S",
        Skin::Ucm62xx => "%Y/%m/%d %H:%M:%S",
        Skin::Cards => "%d.%m.%Y %H:%M:%S",
    };
    let rows: Vec<Value> = all
        .iter()
        .skip((page - 1) * size)
        .take(size)
        .map(|r| {
            let time = tz
                .timestamp_opt(r.start_epoch, 0)
                .single()
                .map(|t| t.format(time_format).to_string())
                .unwrap_or_default();
            json!({
                "n": r.download_name(),
                "f": r.file,
                "id": r.console_id(),
                "caller": r.caller,
                "callee": r.callee,
                "d": time,
                "s": human_size(r.wav.len()),
            })
        })
        .collect();
    ok(json!({
        "voice_recording": rows,
        "total_item": total,
        "total_page": pages,
        "page": page,
    }))
}

fn human_size(bytes: usize) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 {
        format!("{:.2} MB", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2} KB", b / 1024.0)
    }
}

async fn download(shared: &Shared, headers: &HeaderMap, file: &str) -> Response {
    let (recording, delay) = {
        let mut st = shared.lock();
        if !st.touch(headers) {
            st.events.downloads_without_session += 1;
            // What the real console does to a scraper: the login page, 200, text/html.
            // The stale cookie is cleared, so the page the browser shows is the login form.
            let skin = st.config.skin;
            let mut page = html(StatusCode::OK, shell_html(skin));
            page.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_static("session-identify=; Path=/; Max-Age=0"),
            );
            return page;
        }
        let gap = st.config.download_gap;
        if st.downloads_to_refuse > 0 {
            st.downloads_to_refuse -= 1;
            return refuse(&mut st, file, gap);
        }
        if let Some(last) = st.last_download {
            let since = last.elapsed();
            if since < gap {
                return refuse(&mut st, file, gap - since);
            }
        }
        let Some(recording) = st.find(file) else {
            st.events.downloads_not_found += 1;
            return html(
                StatusCode::NOT_FOUND,
                "<!DOCTYPE html><html><head><title>404 Not Found</title></head>\
                 <body><h1>404 Not Found</h1><p>The file does not exist.</p></body></html>"
                    .into(),
            );
        };
        st.last_download = Some(Instant::now());
        st.events.download_answers.push(DownloadAnswer {
            file: recording.file.clone(),
            at: Instant::now(),
            refused_for: None,
        });
        st.events.downloads_served += 1;
        st.events.served_files.push(recording.file.clone());
        if st.config.quirks.new_call_after_downloads == Some(st.events.downloads_served) {
            st.new_call_arrives(&recording);
        }
        (recording, st.config.download_delay)
    };
    let len = recording.wav.len();
    let body = if delay.is_zero() || len == 0 {
        Body::from(recording.wav.as_ref().clone())
    } else {
        // Headers now, the bytes spread over `delay`: the browser shows a partial download.
        let pieces = 20usize;
        let step = delay / pieces as u32;
        let chunk = len.div_ceil(pieces);
        let wav = recording.wav.clone();
        let stream = futures::stream::unfold(0usize, move |offset| {
            let wav = wav.clone();
            async move {
                if offset >= wav.len() {
                    return None;
                }
                tokio::time::sleep(step).await;
                let end = (offset + chunk).min(wav.len());
                let bytes = axum::body::Bytes::copy_from_slice(&wav[offset..end]);
                Some((Ok::<_, std::io::Error>(bytes), end))
            }
        });
        Body::from_stream(stream)
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, len)
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", recording.download_name()),
        )
        .body(body)
        .expect("download response")
}

/// Refuses a download of `file` as too frequent, asking for `wait` (whole seconds, at least 1).
fn refuse(st: &mut ConsoleState, file: &str, wait: Duration) -> Response {
    let wait = wait.as_secs_f64().ceil().max(1.0) as u64;
    st.events.downloads_rate_limited += 1;
    st.events.download_answers.push(DownloadAnswer {
        file: file.to_string(),
        at: Instant::now(),
        refused_for: Some(Duration::from_secs(wait)),
    });
    too_frequent(wait)
}

/// The throttling answer (codes -45/-46 in the console's API), as a page.
fn too_frequent(wait: u64) -> Response {
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>429 Too Many Requests</title></head>\
         <body><div class=\"error-page\" data-status=\"-45\"><h1>429 Too Many Requests</h1>\
         <p class=\"error-message\">Operating too frequently, please retry after {wait} seconds.</p>\
         </div></body></html>"
    );
    let mut r = html(StatusCode::TOO_MANY_REQUESTS, page);
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_str(&wait.to_string()).expect("retry-after"),
    );
    r
}

fn html(code: StatusCode, body: String) -> Response {
    (
        code,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}
