//! One file over 500 lines: one API session; each request sits beside the login and cookie
//! rules they share.
//!
//! The HTTPS API session: every request is `POST /api` with `{"request":{"action":…}}`; the
//! login's cookie comes back in the JSON body and goes out as the `cookie` field of each later
//! request (docs/https-api.md).

use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, NaiveDateTime};
use md5::Digest as _;
use serde_json::{json, Map, Value};
use url::Url;

use crate::ids::TenantId;
use crate::secrets::Secret;
use crate::tenants::{ApiAccess, Tenant};

use super::cdr::{self, Cdr, CdrPage};
use super::error::{ApiError, ApiErrorKind};
use super::recording::{self, FileDir, RecapiAnswer};

/// The guide's upper bound for `numRecords`.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// A CDR read that has not ended after this many pages is not trusted (a console that ignores
/// `offset` would otherwise be read forever).
const MAX_PAGES: u32 = 500;
/// How long a login block lasts when the console gives no `remain_time`.
const BLOCK_WITHOUT_PERIOD: Duration = Duration::from_secs(15 * 60);
/// The API version the client was written against; the guide asks every challenge to name it.
const API_VERSION: &str = "1.0";

/// Whose API to talk to, and how.
#[derive(Debug, Clone)]
pub struct ApiTarget {
    pub tenant_id: TenantId,
    pub tenant_name: String,
    /// The console's web address with the API's port, e.g. `https://pbx.example:8089/`.
    pub base_url: Url,
    /// The API user (a separate account from the web admin).
    pub user: String,
    pub password: Secret<String>,
    /// Trust a self-signed certificate (`UCM_ACCEPT_INVALID_CERTS`), as the browser does: the
    /// API uses the web portal's certificate.
    pub accept_invalid_certs: bool,
}

impl ApiTarget {
    /// The API of `tenant`'s console, with the credentials its row holds.
    pub fn of(tenant: &Tenant, access: &ApiAccess, accept_invalid_certs: bool) -> Self {
        Self {
            tenant_id: tenant.id,
            tenant_name: tenant.name.clone(),
            base_url: access.base_url.clone(),
            user: access.username.clone(),
            password: access.password.clone(),
            accept_invalid_certs,
        }
    }
}

/// How the client paces itself when the console says it is too busy.
#[derive(Debug, Clone)]
pub struct Pacing {
    /// The pause after -45/-46 ("retry after 15 seconds").
    pub too_frequent: Duration,
    /// The pause after -57 ("retry after 60 seconds").
    pub retry_later: Duration,
    /// How many pauses one request may take before it is given up for this pass.
    pub max_pauses: u32,
    /// How long one request may take, a recording's download included.
    pub request_timeout: Duration,
}

impl Default for Pacing {
    /// The guide's pauses; two per request at most.
    fn default() -> Self {
        Self {
            too_frequent: Duration::from_secs(15),
            retry_later: Duration::from_secs(60),
            max_pauses: 2,
            request_timeout: Duration::from_secs(120),
        }
    }
}

impl Pacing {
    fn pause_for(&self, status: i64) -> Option<Duration> {
        match status {
            -45 | -46 => Some(self.too_frequent),
            -57 => Some(self.retry_later),
            _ => None,
        }
    }
}

/// What `cdrapi` is asked for. Times are the console's local time (its CDRs carry no zone).
#[derive(Debug, Clone, Default)]
pub struct CdrQuery {
    pub start: Option<NaiveDateTime>,
    pub end: Option<NaiveDateTime>,
    pub caller: Option<String>,
    pub callee: Option<String>,
    /// `numRecords`: 1..=1000; 0 means the most the guide allows.
    pub page_size: u32,
}

impl CdrQuery {
    fn page_size(&self) -> u32 {
        match self.page_size {
            0 => MAX_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        }
    }

    fn params(&self, offset: u32) -> Map<String, Value> {
        let mut params = Map::new();
        params.insert("format".into(), json!("json"));
        params.insert("numRecords".into(), json!(self.page_size()));
        params.insert("offset".into(), json!(offset));
        let times = [("startTime", self.start), ("endTime", self.end)];
        for (key, at) in times {
            if let Some(at) = at {
                params.insert(key.into(), json!(cdr::filter_time(at)));
            }
        }
        for (key, number) in [("caller", &self.caller), ("callee", &self.callee)] {
            if let Some(number) = number {
                params.insert(key.into(), json!(number));
            }
        }
        params
    }
}

/// Why no login is tried now.
#[derive(Debug, Clone)]
enum Held {
    /// The console refused the user or password; trying again costs a bad login each time.
    Refused(String),
    /// The console blocks logins until then.
    BlockedUntil { status: i64, until: Instant },
}

/// One API session of one tenant. Not shared between tenants; `&mut self` keeps its requests
/// in order, as the console's cookie and pacing expect.
pub struct ApiClient {
    target: ApiTarget,
    pacing: Pacing,
    http: reqwest::Client,
    url: Url,
    console: String,
    cookie: Option<Secret<String>>,
    held: Option<Held>,
}

impl ApiClient {
    pub fn new(target: ApiTarget, pacing: Pacing) -> Result<Self, ApiError> {
        let console = format!(
            "{}:{}",
            target.base_url.host_str().unwrap_or("?"),
            target.base_url.port_or_known_default().unwrap_or(0)
        );
        let fail = |kind| ApiError {
            tenant_id: target.tenant_id,
            tenant_name: target.tenant_name.clone(),
            console: console.clone(),
            action: "setup".into(),
            kind,
        };
        let url = target.base_url.join("/api").map_err(|e| {
            fail(ApiErrorKind::Unrecognised {
                what: format!("no API address from the console's address: {e}"),
            })
        })?;
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(target.accept_invalid_certs)
            .timeout(pacing.request_timeout)
            .build()
            .map_err(|e| {
                fail(ApiErrorKind::Unreachable {
                    reason: e.without_url().to_string(),
                })
            })?;
        Ok(Self {
            target,
            pacing,
            http,
            url,
            console,
            cookie: None,
            held: None,
        })
    }

    /// Challenge, then login with `md5(challenge + password)`; keeps the cookie. Never tried
    /// again after the console refused the credentials or while it blocks logins, so a pass
    /// costs at most one bad login.
    pub async fn login(&mut self) -> Result<(), ApiError> {
        self.check_not_held()?;
        let logged_in = self.challenge_and_login().await;
        if let Err(e) = &logged_in {
            self.hold_after(e);
        }
        logged_in
    }

    async fn challenge_and_login(&mut self) -> Result<(), ApiError> {
        let challenge = self
            .plain(
                "challenge",
                json!({ "user": self.target.user, "version": API_VERSION }),
            )
            .await?;
        let challenge = self.response_of("challenge", &challenge)?;
        let Some(challenge) = challenge.get("challenge").and_then(Value::as_str) else {
            return Err(self.unrecognised("challenge", "no challenge in a successful answer"));
        };
        let token = hex::encode(md5::Md5::digest(
            format!("{challenge}{}", self.target.password.expose()).as_bytes(),
        ));
        let answer = self
            .plain("login", json!({ "user": self.target.user, "token": token }))
            .await?;
        let response = self.response_of("login", &answer)?;
        let Some(cookie) = response.get("cookie").and_then(Value::as_str) else {
            return Err(self.unrecognised("login", "no cookie in a successful answer"));
        };
        self.cookie = Some(Secret::new(cookie.to_string()));
        tracing::debug!(console = %self.console, "Logged in to the HTTPS API");
        Ok(())
    }

    /// One page of `cdrapi` at `offset`.
    pub async fn cdr_page(&mut self, query: &CdrQuery, offset: u32) -> Result<CdrPage, ApiError> {
        let subject = format!("cdrapi offset {offset}");
        let body = self
            .authed("cdrapi", query.params(offset), &subject)
            .await?;
        let answer = self.json_of(&subject, &body)?;
        if let Some(page) = cdr::read_page(&answer) {
            return Ok(page);
        }
        // No `cdr_root`: the status says why, or the answer is not understood.
        self.response_of(&subject, &answer)?;
        Err(self.unrecognised(&subject, "no cdr_root in the answer"))
    }

    /// Every record of the query: pages by `offset` until a page is shorter than `numRecords`.
    pub async fn cdrs(&mut self, query: &CdrQuery) -> Result<Vec<Cdr>, ApiError> {
        let page_size = query.page_size();
        let mut records = Vec::new();
        for page in 0..MAX_PAGES {
            let read = self.cdr_page(query, page * page_size).await?;
            records.extend(read.records);
            if read.root_entries < page_size as usize {
                return Ok(records);
            }
        }
        Err(self.error(
            "cdrapi",
            ApiErrorKind::EndlessPaging {
                pages: MAX_PAGES as usize,
                page_size,
            },
        ))
    }

    /// The bare names of a call's recordings, by its `AcctId` (`getRecordInfosByCall`).
    pub async fn record_files(&mut self, acct_id: &str) -> Result<Vec<String>, ApiError> {
        let subject = format!("getRecordInfosByCall {acct_id}");
        let mut params = Map::new();
        params.insert("id".into(), json!(acct_id));
        let body = self
            .authed("getRecordInfosByCall", params, &subject)
            .await?;
        let answer = self.json_of(&subject, &body)?;
        let response = self.response_of(&subject, &answer)?;
        let raw = response
            .get("recordfiles")
            .and_then(Value::as_str)
            .unwrap_or("");
        Ok(cdr::record_files(raw))
    }

    /// One recording's bytes (`recapi`), checked to be WAV audio.
    pub async fn recording(&mut self, dir: FileDir, filename: &str) -> Result<Bytes, ApiError> {
        let subject = format!("recapi {}/{filename}", dir.as_str());
        recording::check_fetchable(filename).map_err(|kind| self.error(&subject, kind))?;
        let mut params = Map::new();
        params.insert("filedir".into(), json!(dir.as_str()));
        params.insert("filename".into(), json!(filename));
        let body = self.authed("recapi", params, &subject).await?;
        let kind = match recording::classify(&body) {
            RecapiAnswer::Audio => return Ok(body),
            RecapiAnswer::Status {
                status,
                remain_num,
                remain_time,
            } if status != 0 => ApiErrorKind::from_status(status, remain_num, remain_time),
            RecapiAnswer::NotFound => ApiErrorKind::FileNotFound,
            RecapiAnswer::Status { .. } | RecapiAnswer::Other => ApiErrorKind::NotAudio {
                bytes: body.len(),
                start: recording::preview(&body),
            },
        };
        Err(self.error(&subject, kind))
    }

    /// The console's clock with its UTC offset (`getSystemStatus`, `system-time`).
    pub async fn console_clock(&mut self) -> Result<DateTime<FixedOffset>, ApiError> {
        let subject = "getSystemStatus";
        let body = self.authed(subject, Map::new(), subject).await?;
        let answer = self.json_of(subject, &body)?;
        let response = self.response_of(subject, &answer)?;
        let text = response
            .get("system-time")
            .and_then(Value::as_str)
            .unwrap_or("");
        parse_system_time(text)
            .ok_or_else(|| self.unrecognised(subject, &format!("system-time {text:?}")))
    }

    /// Ends the session; a cookie the console already dropped (-6) counts as ended.
    pub async fn logout(&mut self) -> Result<(), ApiError> {
        let Some(cookie) = self.cookie.take() else {
            return Ok(());
        };
        let answer = self
            .plain("logout", json!({ "cookie": cookie.expose() }))
            .await?;
        match self.response_of("logout", &answer) {
            Err(ApiError {
                kind: ApiErrorKind::Failed { status: -6 },
                ..
            }) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// A request that needs the session: logs in first if needed, and once more if the console
    /// refuses the cookie (-6, e.g. after 10 minutes).
    async fn authed(
        &mut self,
        action: &str,
        params: Map<String, Value>,
        subject: &str,
    ) -> Result<Bytes, ApiError> {
        if self.cookie.is_none() {
            self.login().await?;
        }
        let mut logged_in_again = false;
        loop {
            let mut request = params.clone();
            let cookie = self.cookie.as_ref().map(|c| c.expose().clone());
            request.insert("cookie".into(), json!(cookie));
            let body = self.paced(action, Value::Object(request), subject).await?;
            if status_of(&body) != Some(-6) {
                return Ok(body);
            }
            if logged_in_again {
                return Err(self.error(subject, ApiErrorKind::CookieRefused));
            }
            tracing::info!(console = %self.console, %subject, "The API cookie was refused (-6); logging in again once");
            logged_in_again = true;
            self.cookie = None;
            self.login().await?;
        }
    }

    /// A request without the session's cookie (challenge, login, logout).
    async fn plain(&mut self, action: &str, params: Value) -> Result<Value, ApiError> {
        let body = self.paced(action, params, action).await?;
        self.json_of(action, &body)
    }

    /// Sends the request, pausing as the console asks (-45/-46: 15 s, -57: 60 s), a bounded
    /// number of times.
    async fn paced(&self, action: &str, params: Value, subject: &str) -> Result<Bytes, ApiError> {
        let mut request = params;
        request["action"] = json!(action);
        let body = json!({ "request": request });
        let mut pauses = 0;
        loop {
            let answer = self.post(&body, subject).await?;
            let Some(status) = status_of(&answer) else {
                return Ok(answer);
            };
            let Some(pause) = self.pacing.pause_for(status) else {
                return Ok(answer);
            };
            if pauses == self.pacing.max_pauses {
                let retry_after = ApiErrorKind::pause_for(status).unwrap_or(pause);
                let kind = ApiErrorKind::Busy {
                    status,
                    waits: pauses,
                    retry_after,
                };
                return Err(self.error(subject, kind));
            }
            pauses += 1;
            tracing::info!(console = %self.console, %subject, status, pause_s = pause.as_secs_f64(), "The console asked the worker to slow down");
            tokio::time::sleep(pause).await;
        }
    }

    /// One `POST /api`. Anything but the API's JSON, audio or the old "404: Not Found" means the
    /// API is not served here.
    async fn post(&self, body: &Value, subject: &str) -> Result<Bytes, ApiError> {
        let unreachable = |e: reqwest::Error| {
            self.error(
                subject,
                ApiErrorKind::Unreachable {
                    reason: transport_failure(e),
                },
            )
        };
        let response = self
            .http
            .post(self.url.clone())
            .json(body)
            .send()
            .await
            .map_err(unreachable)?;
        let http_status = response.status();
        let answer = response.bytes().await.map_err(unreachable)?;
        let understood = match recording::classify(&answer) {
            RecapiAnswer::Audio | RecapiAnswer::Status { .. } | RecapiAnswer::NotFound => true,
            RecapiAnswer::Other => {
                http_status.is_success() && serde_json::from_slice::<Value>(&answer).is_ok()
            }
        };
        if !understood {
            let kind = ApiErrorKind::NotServed {
                http_status: http_status.as_u16(),
            };
            return Err(self.error(subject, kind));
        }
        Ok(answer)
    }

    fn json_of(&self, subject: &str, body: &[u8]) -> Result<Value, ApiError> {
        serde_json::from_slice(body).map_err(|_| {
            self.error(
                subject,
                ApiErrorKind::Unrecognised {
                    what: format!("not JSON: {:?}", recording::preview(body)),
                },
            )
        })
    }

    /// The `response` of a `status: 0` answer, or the error its status stands for.
    fn response_of(&self, subject: &str, answer: &Value) -> Result<Value, ApiError> {
        match answer.get("status").and_then(Value::as_i64) {
            Some(0) => Ok(answer.get("response").cloned().unwrap_or(Value::Null)),
            Some(status) => {
                let (remain_num, remain_time) = recording::remains(answer);
                let kind = ApiErrorKind::from_status(status, remain_num, remain_time);
                Err(self.error(subject, kind))
            }
            None => Err(self.unrecognised(subject, "no status in the answer")),
        }
    }

    /// Remembers a refusal or a block, so no further bad login is spent on it.
    fn hold_after(&mut self, e: &ApiError) {
        self.held = match e.kind {
            ApiErrorKind::LoginRefused { status, .. } => Some(Held::Refused(format!(
                "the console refused the login earlier (status {status})"
            ))),
            ApiErrorKind::LoginBlocked {
                status,
                remain_time,
            } => Some(Held::BlockedUntil {
                status,
                until: Instant::now() + remain_time.unwrap_or(BLOCK_WITHOUT_PERIOD),
            }),
            _ => return,
        };
    }

    fn check_not_held(&self) -> Result<(), ApiError> {
        let kind = match &self.held {
            None => return Ok(()),
            Some(Held::Refused(why)) => ApiErrorKind::NotLoggedIn { why: why.clone() },
            Some(Held::BlockedUntil { status, until }) => {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(());
                }
                ApiErrorKind::LoginBlocked {
                    status: *status,
                    remain_time: Some(left),
                }
            }
        };
        Err(self.error("login", kind))
    }

    fn unrecognised(&self, subject: &str, what: &str) -> ApiError {
        self.error(subject, ApiErrorKind::Unrecognised { what: what.into() })
    }

    fn error(&self, subject: &str, kind: ApiErrorKind) -> ApiError {
        ApiError {
            tenant_id: self.target.tenant_id,
            tenant_name: self.target.tenant_name.clone(),
            console: self.console.clone(),
            action: subject.to_string(),
            kind,
        }
    }
}

/// The `status` of a JSON answer, if the body is one.
fn status_of(body: &[u8]) -> Option<i64> {
    match recording::classify(body) {
        RecapiAnswer::Status { status, .. } => Some(status),
        _ => None,
    }
}

/// `2019-11-22 17:50:26 UTC+02:00`, the guide's `system-time`.
fn parse_system_time(text: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S UTC%:z").ok()
}

/// A transport error in a few words, without the URL (the error's context already names the
/// console): also what `tenant test` prints when the API does not answer.
pub fn transport_failure(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    format!("{kind}: {}", e.without_url())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_clock_keeps_its_offset() {
        let at = parse_system_time("2019-11-22 17:50:26 UTC+02:00").unwrap();
        assert_eq!(at.offset().local_minus_utc(), 2 * 3600);
        assert_eq!(at.naive_local().to_string(), "2019-11-22 17:50:26");
        assert!(parse_system_time("yesterday").is_none());
    }

    #[test]
    fn a_query_names_the_guides_parameters() {
        let query = CdrQuery {
            start: NaiveDateTime::parse_from_str("2026-02-03 00:00:00", "%Y-%m-%d %H:%M:%S").ok(),
            callee: Some("1001".into()),
            page_size: 5000,
            ..CdrQuery::default()
        };
        let params = Value::Object(query.params(2000));
        assert_eq!(params["numRecords"], 1000);
        assert_eq!(params["offset"], 2000);
        assert_eq!(params["startTime"], "2026-02-03T00:00:00");
        assert_eq!(params["callee"], "1001");
        assert!(params.get("endTime").is_none());
    }
}
