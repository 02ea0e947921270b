//! `tenant test` with API credentials: one short session over Grandstream's HTTPS API, the way
//! the API road would use it. It logs in, reads one page of `cdrapi`, fetches one recording with
//! `recapi`, and logs out. It reads nothing else, and each step is reported as it went: works,
//! refused with the console's status code and what the code means, or not served. A refused login
//! is not tried again (the client holds it), so a test costs at most one bad login.

use std::fmt;
use std::time::Duration;

use chrono::Utc;
use chrono_tz::Tz;

use crate::ucm_api::error::meaning;
use crate::ucm_api::{
    ApiClient, ApiError, ApiErrorKind, ApiTarget, Cdr, CdrQuery, FileDir, Pacing,
};

/// Records read from `cdrapi`: one page, enough to find a call with a recording.
const PAGE_SIZE: u32 = 50;
/// How long one request may take during the test (a recording's download included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// What one step of the session came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepResult {
    /// The step did what the road needs; what it found.
    Works(String),
    /// The API answered with a non-zero status.
    Refused {
        status: i64,
        /// The console's refusal in full, with what to do about it.
        detail: String,
    },
    /// Something other than the API answered `POST /api` (off, or another port).
    NotServed { http_status: u16 },
    /// No answer, or an answer that is not the API's.
    Failed(String),
    /// Not sent, and why.
    NotTried(&'static str),
}

impl StepResult {
    fn works(&self) -> bool {
        matches!(self, StepResult::Works(_))
    }

    fn of_error(error: &ApiError) -> Self {
        let status = match error.kind {
            ApiErrorKind::LoginRefused { status, .. }
            | ApiErrorKind::NoPermission { status }
            | ApiErrorKind::LoginBlocked { status, .. }
            | ApiErrorKind::Busy { status, .. }
            | ApiErrorKind::Failed { status } => status,
            ApiErrorKind::InvalidParameters => -1,
            ApiErrorKind::CookieRefused => -6,
            ApiErrorKind::NoSuchItem => -16,
            ApiErrorKind::NotServed { http_status } => {
                return StepResult::NotServed { http_status }
            }
            _ => return StepResult::Failed(error.kind.to_string()),
        };
        StepResult::Refused {
            status,
            detail: error.kind.to_string(),
        }
    }
}

impl fmt::Display for StepResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepResult::Works(found) => write!(f, "works ({found})"),
            StepResult::Refused { status, detail } => write!(
                f,
                "refused, status {status} ({}): {detail}",
                meaning(*status)
            ),
            StepResult::NotServed { http_status } => write!(
                f,
                "not served (HTTP {http_status} to POST /api): the API is off or not on this \
                 port; enable it under API Configuration → HTTPS API Settings, or set the API port"
            ),
            StepResult::Failed(why) => write!(f, "failed: {why}"),
            StepResult::NotTried(why) => write!(f, "not tried ({why})"),
        }
    }
}

/// The session's steps, in the order they were sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionReport {
    /// `user@host:port` of the API.
    pub console: String,
    pub login: StepResult,
    pub cdrapi: StepResult,
    /// The file asked for, when the page named one.
    pub recapi_file: Option<String>,
    pub recapi: StepResult,
    pub logout: StepResult,
}

impl SessionReport {
    /// Whether every step the road needs works.
    pub fn all_work(&self) -> bool {
        [&self.login, &self.cdrapi, &self.recapi]
            .iter()
            .all(|step| step.works())
    }
}

impl fmt::Display for SessionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match self.all_work() {
            true => "the API road works for this tenant",
            false => "the API road does not work yet",
        };
        writeln!(f, "as {}: {verdict}", self.console)?;
        writeln!(f, "  login: {}", self.login)?;
        writeln!(f, "  cdrapi (one page): {}", self.cdrapi)?;
        match &self.recapi_file {
            Some(file) => writeln!(f, "  recapi ({file}): {}", self.recapi)?,
            None => writeln!(f, "  recapi: {}", self.recapi)?,
        }
        write!(f, "  logout: {}", self.logout)
    }
}

/// Runs the session against `target`: calls of the last `lookback_days` days (in the console's
/// zone `timezone`, as its CDRs are written), one page, one recording, logout.
pub async fn try_session(target: ApiTarget, timezone: Tz, lookback_days: u32) -> SessionReport {
    let console = format!(
        "{}@{}:{}",
        target.user,
        target.base_url.host_str().unwrap_or("?"),
        target.base_url.port_or_known_default().unwrap_or(0)
    );
    let pacing = Pacing {
        request_timeout: REQUEST_TIMEOUT,
        ..Pacing::default()
    };
    let mut client = match ApiClient::new(target, pacing) {
        Ok(client) => client,
        Err(error) => return SessionReport::not_logged_in(console, StepResult::of_error(&error)),
    };
    if let Err(error) = client.login().await {
        return SessionReport::not_logged_in(console, StepResult::of_error(&error));
    }
    let login = StepResult::Works("a session cookie was given".to_string());
    let now = Utc::now().with_timezone(&timezone).naive_local();
    let query = CdrQuery {
        start: Some(now - chrono::Days::new(lookback_days.into())),
        page_size: PAGE_SIZE,
        ..CdrQuery::default()
    };
    let (cdrapi, file) = match client.cdr_page(&query, 0).await {
        Ok(page) => (
            StepResult::Works(format!(
                "{} record(s) in the last {lookback_days} day(s), {} with a recording",
                page.records.len(),
                page.records
                    .iter()
                    .filter(|c| !c.recordfiles.is_empty())
                    .count()
            )),
            first_fetchable(&page.records),
        ),
        Err(error) => (StepResult::of_error(&error), None),
    };
    let recapi = match &file {
        Some(file) => match client.recording(FileDir::Monitor, file).await {
            Ok(bytes) => StepResult::Works(format!("{} bytes of WAV audio", bytes.len())),
            Err(error) => StepResult::of_error(&error),
        },
        None if cdrapi.works() => StepResult::NotTried("no call on that page has a recording"),
        None => StepResult::NotTried("no call was read"),
    };
    let logout = match client.logout().await {
        Ok(()) => StepResult::Works("session ended".to_string()),
        Err(error) => StepResult::of_error(&error),
    };
    SessionReport {
        console,
        login,
        cdrapi,
        recapi_file: file,
        recapi,
        logout,
    }
}

impl SessionReport {
    fn not_logged_in(console: String, login: StepResult) -> Self {
        Self {
            console,
            login,
            cdrapi: StepResult::NotTried("no login"),
            recapi_file: None,
            recapi: StepResult::NotTried("no login"),
            logout: StepResult::NotTried("no login"),
        }
    }
}

/// The newest call's first recording the API road fetches (GDMS/NAS `.venc` files are the
/// browser's).
fn first_fetchable(records: &[Cdr]) -> Option<String> {
    records
        .iter()
        .rev()
        .flat_map(|c| &c.recordfiles)
        .find(|f| crate::ucm_api::recording::check_fetchable(f).is_ok())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;

    fn error(kind: ApiErrorKind) -> ApiError {
        ApiError {
            tenant_id: TenantId(3),
            tenant_name: "Acme".into(),
            console: "pbx.example:8089".into(),
            action: "login".into(),
            kind,
        }
    }

    #[test]
    fn a_refusal_names_its_code_what_it_means_and_the_fix() {
        let refused = StepResult::of_error(&error(ApiErrorKind::from_status(-37, Some(4), None)));
        let text = refused.to_string();
        for part in [
            "refused, status -37",
            "wrong account or password",
            "HTTPS API Settings",
            "4 attempt(s) left",
        ] {
            assert!(text.contains(part), "{text}");
        }
        let off = StepResult::of_error(&error(ApiErrorKind::NotServed { http_status: 405 }));
        assert!(off.to_string().starts_with("not served (HTTP 405"), "{off}");
        let unreachable = StepResult::of_error(&error(ApiErrorKind::Unreachable {
            reason: "connection failed".into(),
        }));
        assert!(
            matches!(unreachable, StepResult::Failed(_)),
            "{unreachable}"
        );
    }
}
