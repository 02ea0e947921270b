//! A stand-in for Grandstream's HTTPS API (`POST /api`), following the guide request by request
//! (docs/https-api.md): the `{"request":…}` wrapper (-1 without it), challenge and login with the
//! cookie in the JSON body, 10 minutes to a cookie's expiry on a test clock, -45 when too
//! frequent, a blacklist after 5 bad logins with `remain_num`/`remain_time`, `cdr_root` groups,
//! `recapi` bytes or JSON errors, `.venc` refused, and switches for the API off, no permission
//! and `recapi` refusing every file.
//!
//! [`ApiStandIn::router`] is a plain axum router, so the console stand-in can mount it on its own
//! port later; [`ApiStandIn::serve`] serves it alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use md5::Digest;
use serde_json::{json, Map, Value};

/// How long a cookie lives (the guide: "Cookie times out in 10 minutes").
pub const COOKIE_LIFE: Duration = Duration::from_secs(10 * 60);

/// Variations of the API, switched by the tests.
#[derive(Debug, Clone)]
pub struct ApiSwitches {
    /// `false`: the API is off; `POST /api` is not the API (405, no JSON).
    pub served: bool,
    /// Every request answered -47 (no permission: the address is not permitted).
    pub permission_denied: bool,
    /// Every `recapi` request answered with this status.
    pub recapi_refuses: Option<i64>,
    /// The same action again sooner than this after the last one is answered -45.
    pub min_gap: Option<Duration>,
    /// The next this many requests are answered `busy_status`, whatever they are.
    pub busy_next: u32,
    /// The status a busy console answers: -45 or -46 (retry after 15 s), -57 (after 60 s).
    pub busy_status: i64,
    /// A cookie expires 10 minutes after the login, however busy (the guide does not say
    /// whether from the login or from the last request; by default, from the last request).
    pub cookie_from_login: bool,
    /// A missing file is answered as the older REC API did ("404: Not Found"), not -16.
    pub missing_as_plain_404: bool,
    /// Bad logins before the address is blacklisted.
    pub bad_logins_allowed: u32,
    /// How long the blacklist lasts (`remain_time`).
    pub ban_period: Duration,
    /// The console's UTC offset, for `getSystemStatus`.
    pub utc_offset_minutes: i32,
}

impl Default for ApiSwitches {
    fn default() -> Self {
        Self {
            served: true,
            permission_denied: false,
            recapi_refuses: None,
            min_gap: None,
            busy_next: 0,
            busy_status: -45,
            cookie_from_login: false,
            missing_as_plain_404: false,
            bad_logins_allowed: 5,
            ban_period: Duration::from_secs(300),
            utc_offset_minutes: 120,
        }
    }
}

/// One CDR as the console keeps it.
#[derive(Debug, Clone)]
pub struct ApiCdr {
    pub acct_id: String,
    pub uniqueid: String,
    pub src: String,
    pub dst: String,
    /// `YYYY-MM-DD HH:MM:SS`, console local time.
    pub start: String,
    /// Recordings with their month folder, e.g. `2026-02/auto-1-1000-1001.wav`.
    pub files: Vec<String>,
}

impl ApiCdr {
    pub fn new(acct_id: u32, src: &str, dst: &str, start: &str) -> Self {
        Self {
            acct_id: acct_id.to_string(),
            uniqueid: format!("1770000000.{acct_id}"),
            src: src.into(),
            dst: dst.into(),
            start: start.into(),
            files: Vec::new(),
        }
    }

    pub fn with_files(mut self, files: &[&str]) -> Self {
        self.files = files.iter().map(|f| f.to_string()).collect();
        self
    }

    /// As `cdrapi` writes it: every file followed by `@`.
    fn render(&self) -> Value {
        let recordfiles: String = self.files.iter().map(|f| format!("{f}@")).collect();
        json!({
            "AcctId": self.acct_id, "uniqueid": self.uniqueid, "src": self.src, "dst": self.dst,
            "start": self.start, "disposition": "ANSWERED", "action_type": "DIAL",
            "recordfiles": recordfiles,
        })
    }
}

/// A `cdr_root` entry: one record, or a transfer/queue group.
#[derive(Debug, Clone)]
pub enum CdrEntry {
    Single(ApiCdr),
    Group { main: ApiCdr, subs: Vec<ApiCdr> },
}

impl CdrEntry {
    fn start(&self) -> &str {
        match self {
            Self::Single(cdr) | Self::Group { main: cdr, .. } => &cdr.start,
        }
    }

    fn records(&self) -> Vec<&ApiCdr> {
        match self {
            Self::Single(cdr) => vec![cdr],
            Self::Group { main, subs } => std::iter::once(main).chain(subs).collect(),
        }
    }

    fn render(&self) -> Value {
        match self {
            Self::Single(cdr) => cdr.render(),
            Self::Group { main, subs } => {
                let mut group = Map::new();
                group.insert("main_cdr".into(), main.render());
                for (n, sub) in subs.iter().enumerate() {
                    group.insert(format!("sub_cdr_{}", n + 1), sub.render());
                }
                Value::Object(group)
            }
        }
    }
}

/// What the API was asked, for the tests to check.
#[derive(Debug, Clone, Default)]
pub struct ApiEvents {
    /// Requests by action, refused ones included.
    pub requests: HashMap<String, u32>,
    pub logins: u32,
    pub bad_logins: u32,
    /// Logins answered -68 while the address was blacklisted.
    pub blocked_logins: u32,
    pub busy_answers: u32,
    pub expired_cookies: u32,
    /// The files `recapi` served.
    pub served_files: Vec<String>,
}

impl ApiEvents {
    pub fn count(&self, action: &str) -> u32 {
        self.requests.get(action).copied().unwrap_or(0)
    }
}

struct ApiState {
    user: String,
    password: String,
    switches: ApiSwitches,
    entries: Vec<CdrEntry>,
    /// `(filedir, filename)` → bytes.
    files: HashMap<(String, String), Vec<u8>>,
    /// cookie → its last use (or its login, with `cookie_from_login`) on the test clock.
    sessions: HashMap<String, Duration>,
    challenges: HashMap<String, String>,
    bad_logins_in_a_row: u32,
    banned_until: Option<Duration>,
    /// The test clock: real time since start plus what the test advanced.
    started: Instant,
    advanced: Duration,
    /// Real time of each action's last request, for `min_gap`.
    last_request: HashMap<String, Instant>,
    events: ApiEvents,
}

impl ApiState {
    fn now(&self) -> Duration {
        self.started.elapsed() + self.advanced
    }
}

/// The API's state, shared by the router and the test.
#[derive(Clone)]
pub struct ApiStandIn {
    state: Arc<Mutex<ApiState>>,
}

impl std::fmt::Debug for ApiStandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiStandIn")
            .field("switches", &self.lock().switches)
            .finish_non_exhaustive()
    }
}

impl ApiStandIn {
    /// An API with one API user.
    pub fn new(user: &str, password: &str) -> Self {
        Self {
            state: Arc::new(Mutex::new(ApiState {
                user: user.into(),
                password: password.into(),
                switches: ApiSwitches::default(),
                entries: Vec::new(),
                files: HashMap::new(),
                sessions: HashMap::new(),
                challenges: HashMap::new(),
                bad_logins_in_a_row: 0,
                banned_until: None,
                started: Instant::now(),
                advanced: Duration::ZERO,
                last_request: HashMap::new(),
                events: ApiEvents::default(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ApiState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `POST /api`, to be served alone or merged into the console stand-in's router.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/api", axum::routing::post(api))
            .with_state(self.clone())
    }

    /// Serves the API alone on a free local port, over plain HTTP or (`tls`) HTTPS with a
    /// self-signed certificate, on its own thread and runtime.
    pub async fn serve(&self, tls: bool) -> ServedApi {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the API stand-in");
        listener.set_nonblocking(true).expect("non-blocking");
        let scheme = if tls { "https" } else { "http" };
        let url = format!("{scheme}://{}/", listener.local_addr().expect("local addr"));
        let handle = axum_server::Handle::new();
        let server = handle.clone();
        let service = self.router().into_make_service();
        std::thread::Builder::new()
            .name("fake-ucm-api".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("API stand-in runtime");
                let served = runtime.block_on(async move {
                    if tls {
                        let config = axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(
                            super::console::tls_config(),
                        ));
                        let server = axum_server::from_tcp_rustls(listener, config)?.handle(server);
                        server.serve(service).await
                    } else {
                        axum_server::from_tcp(listener)?
                            .handle(server)
                            .serve(service)
                            .await
                    }
                });
                if let Err(e) = served {
                    eprintln!("API stand-in stopped: {e}");
                }
            })
            .expect("API stand-in thread");
        handle.listening().await.expect("API stand-in listening");
        ServedApi { url, handle }
    }

    /// Serves the console stand-in's recordings as the API does: one CDR each, with the
    /// uniqueid the backend stored for it, its start in the console's zone, and its file in
    /// `monitor`.
    pub fn mirror(
        &self,
        recordings: &[super::console::Recording],
        uniqueids: &[String],
        zone: chrono_tz::Tz,
    ) {
        use chrono::TimeZone as _;
        for (i, (r, uniqueid)) in recordings.iter().zip(uniqueids).enumerate() {
            let start = zone
                .timestamp_opt(r.start_epoch, 0)
                .unwrap()
                .format("%Y-%m-%d %H:%M:%S")
                .to_string();
            let cdr = ApiCdr {
                uniqueid: uniqueid.clone(),
                ..ApiCdr::new(1000 + i as u32, &r.caller, &r.callee, &start)
            }
            .with_files(&[&r.file]);
            self.add_call(CdrEntry::Single(cdr));
            let bare = r.file.rsplit('/').next().unwrap_or(&r.file);
            self.add_file("monitor", bare, r.wav.to_vec());
        }
    }

    pub fn add_call(&self, entry: CdrEntry) {
        self.lock().entries.push(entry);
    }

    pub fn add_file(&self, filedir: &str, filename: &str, bytes: Vec<u8>) {
        self.lock()
            .files
            .insert((filedir.into(), filename.into()), bytes);
    }

    pub fn switch(&self, change: impl FnOnce(&mut ApiSwitches)) {
        change(&mut self.lock().switches);
    }

    /// Moves the test clock on (cookie expiry, the blacklist's period), without sleeping.
    pub fn advance(&self, by: Duration) {
        self.lock().advanced += by;
    }

    pub fn events(&self) -> ApiEvents {
        self.lock().events.clone()
    }
}

/// The stand-in served on its own port; stops when dropped.
pub struct ServedApi {
    pub url: String,
    handle: axum_server::Handle<std::net::SocketAddr>,
}

impl Drop for ServedApi {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

fn status(code: i64) -> Response {
    axum::Json(json!({ "response": {}, "status": code })).into_response()
}

fn ok(response: Value) -> Response {
    axum::Json(json!({ "response": response, "status": 0 })).into_response()
}

async fn api(State(api): State<ApiStandIn>, body: Bytes) -> Response {
    let mut st = api.lock();
    if !st.switches.served {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let request = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b.get("request").and_then(Value::as_object).cloned());
    let Some(request) = request else {
        return status(-1);
    };
    let action = request
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    *st.events.requests.entry(action.clone()).or_default() += 1;
    if st.switches.permission_denied {
        return status(-47);
    }
    if let Some(busy) = too_frequent(&mut st, &action) {
        st.events.busy_answers += 1;
        return status(busy);
    }
    let param = |key: &str| request.get(key).and_then(Value::as_str).map(str::to_string);
    match action.as_str() {
        "challenge" => challenge(&mut st, param("user")),
        "login" => login(&mut st, param("user"), param("token")),
        _ => {
            if !session_alive(&mut st, param("cookie")) {
                return status(-6);
            }
            authed(&mut st, &action, &request)
        }
    }
}

/// `busy_status` for the next `busy_next` requests; -45 for an action repeated within `min_gap`.
fn too_frequent(st: &mut ApiState, action: &str) -> Option<i64> {
    if st.switches.busy_next > 0 {
        st.switches.busy_next -= 1;
        return Some(st.switches.busy_status);
    }
    let now = Instant::now();
    let last = st.last_request.insert(action.to_string(), now);
    match (st.switches.min_gap, last) {
        (Some(gap), Some(last)) if now.duration_since(last) < gap => Some(-45),
        _ => None,
    }
}

fn challenge(st: &mut ApiState, user: Option<String>) -> Response {
    let Some(user) = user else {
        return status(-1);
    };
    let challenge = format!("{:016}", rand::random::<u64>() % 10u64.pow(16));
    st.challenges.insert(user, challenge.clone());
    ok(json!({ "challenge": challenge }))
}

fn login(st: &mut ApiState, user: Option<String>, token: Option<String>) -> Response {
    let (Some(user), Some(token)) = (user, token) else {
        return status(-1);
    };
    let now = st.now();
    if let Some(until) = st.banned_until.filter(|until| *until > now) {
        st.events.blocked_logins += 1;
        let remain = (until - now).as_secs().max(1);
        return axum::Json(json!({ "response": {}, "status": -68, "remain_time": remain }))
            .into_response();
    }
    let challenge = st.challenges.remove(&user).unwrap_or_default();
    let expected = hex::encode(md5::Md5::digest(
        format!("{challenge}{}", st.password).as_bytes(),
    ));
    if user == st.user && !challenge.is_empty() && token == expected {
        st.bad_logins_in_a_row = 0;
        st.events.logins += 1;
        let cookie = format!("sid{}-{}", rand::random::<u32>(), now.as_secs());
        st.sessions.insert(cookie.clone(), now);
        return ok(json!({ "cookie": cookie }));
    }
    st.events.bad_logins += 1;
    st.bad_logins_in_a_row += 1;
    let allowed = st.switches.bad_logins_allowed;
    if st.bad_logins_in_a_row >= allowed {
        st.bad_logins_in_a_row = 0;
        st.banned_until = Some(now + st.switches.ban_period);
        let remain = st.switches.ban_period.as_secs();
        return axum::Json(json!({ "response": {}, "status": -68, "remain_time": remain }))
            .into_response();
    }
    let code = if user == st.user { -37 } else { -71 };
    let remain_num = allowed - st.bad_logins_in_a_row;
    axum::Json(json!({ "response": {}, "status": code, "remain_num": remain_num })).into_response()
}

/// Whether the cookie names a session within its 10 minutes (from its last use, or from the
/// login with `cookie_from_login`); touches it if so.
fn session_alive(st: &mut ApiState, cookie: Option<String>) -> bool {
    let now = st.now();
    let Some(cookie) = cookie else {
        return false;
    };
    match st.sessions.get(&cookie).copied() {
        Some(since) if now.saturating_sub(since) <= COOKIE_LIFE => {
            if !st.switches.cookie_from_login {
                st.sessions.insert(cookie, now);
            }
            true
        }
        Some(_) => {
            st.sessions.remove(&cookie);
            st.events.expired_cookies += 1;
            false
        }
        None => false,
    }
}

fn authed(st: &mut ApiState, action: &str, request: &Map<String, Value>) -> Response {
    let param = |key: &str| request.get(key).and_then(Value::as_str).map(str::to_string);
    match action {
        "cdrapi" => cdrapi(st, request),
        "recapi" => recapi(st, param("filedir"), param("filename")),
        "getRecordInfosByCall" => record_infos(st, param("id")),
        "getSystemStatus" => system_status(st),
        "logout" => {
            if let Some(cookie) = param("cookie") {
                st.sessions.remove(&cookie);
            }
            ok(json!({}))
        }
        _ => status(-1),
    }
}

/// A number the client may send as a JSON number or a string.
fn number(request: &Map<String, Value>, key: &str) -> Option<Result<u64, ()>> {
    let value = request.get(key)?;
    Some(
        value
            .as_u64()
            .or_else(|| value.as_str()?.parse().ok())
            .ok_or(()),
    )
}

/// `cdr_root` with no `status`, filtered by start time and numbers, paged by offset.
fn cdrapi(st: &ApiState, request: &Map<String, Value>) -> Response {
    let (Ok(page_size), Ok(offset)) = (
        number(request, "numRecords").unwrap_or(Ok(1000)),
        number(request, "offset").unwrap_or(Ok(0)),
    ) else {
        return status(-1);
    };
    if page_size > 1000 {
        return status(-1);
    }
    let text = |key: &str| request.get(key).and_then(Value::as_str);
    // The guide's `YYYY-MM-DDTHH:MM[:SS]` against the CDR's `YYYY-MM-DD HH:MM:SS`: compared as
    // text with the separator unified, which orders them as times.
    let bound = |key: &str| text(key).map(|t| t.replace('T', " "));
    let (from, to) = (bound("startTime"), bound("endTime"));
    let picked: Vec<Value> = st
        .entries
        .iter()
        .filter(|e| from.as_deref().is_none_or(|from| e.start() >= from))
        .filter(|e| to.as_deref().is_none_or(|to| e.start() <= to))
        .filter(|e| matches_number(e, text("caller"), |c| &c.src))
        .filter(|e| matches_number(e, text("callee"), |c| &c.dst))
        .skip(offset as usize)
        .take(page_size as usize)
        .map(CdrEntry::render)
        .collect();
    axum::Json(json!({ "cdr_root": picked })).into_response()
}

fn matches_number(entry: &CdrEntry, wanted: Option<&str>, field: fn(&ApiCdr) -> &String) -> bool {
    wanted.is_none_or(|wanted| entry.records().iter().any(|c| field(c) == wanted))
}

fn recapi(st: &mut ApiState, filedir: Option<String>, filename: Option<String>) -> Response {
    if let Some(code) = st.switches.recapi_refuses {
        return status(code);
    }
    let filedir = filedir.unwrap_or_else(|| "monitor".into());
    // Listing directories (no filename) is not what the worker asks; GDMS/NAS files need
    // `path_type` and `uniquecode`, which this stand-in does not serve.
    let Some(filename) = filename else {
        return status(-1);
    };
    if filename.contains('/') || filename.contains("..") || filename.ends_with(".venc") {
        return status(-1);
    }
    match st.files.get(&(filedir.clone(), filename.clone())) {
        Some(bytes) => {
            st.events.served_files.push(filename);
            // The guide names no content type; the client must not need one.
            (
                [(header::CONTENT_TYPE, "application/octet-stream")],
                bytes.clone(),
            )
                .into_response()
        }
        None if st.switches.missing_as_plain_404 => {
            (StatusCode::NOT_FOUND, "404: Not Found").into_response()
        }
        None => status(-16),
    }
}

/// `recordfiles` of the record with this `AcctId`: month folders, comma-separated, no `@`.
fn record_infos(st: &ApiState, id: Option<String>) -> Response {
    let Some(id) = id else {
        return status(-1);
    };
    let found = st
        .entries
        .iter()
        .flat_map(CdrEntry::records)
        .find(|c| c.acct_id == id);
    match found {
        Some(cdr) => ok(json!({ "recordfiles": cdr.files.join(",") })),
        None => status(-16),
    }
}

/// `system-time` as the guide shows it: `2019-11-22 17:50:26 UTC+02:00`.
fn system_status(st: &ApiState) -> Response {
    let offset = chrono::FixedOffset::east_opt(st.switches.utc_offset_minutes * 60)
        .expect("a valid UTC offset");
    let at = (chrono::Utc::now() + st.advanced).with_timezone(&offset);
    let system_time = format!("{} UTC{}", at.format("%Y-%m-%d %H:%M:%S"), at.format("%:z"));
    ok(json!({ "system-time": system_time, "up-time": "07:33:15" }))
}
