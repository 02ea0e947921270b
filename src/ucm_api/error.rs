//! What can go wrong on the HTTPS API, and what the worker does next (docs/https-api.md, "Status
//! codes"). Each status code of the guide has one answer; nothing unknown is ever taken as proof
//! that a call has no recording.

use std::fmt;
use std::time::Duration;

use crate::failure::{Failure, NextStep};
use crate::ids::TenantId;

/// A failed API step. Its message names the tenant, the console's address and the action.
#[derive(Debug, thiserror::Error)]
#[error("tenant {tenant_name} (ID: {tenant_id}), HTTPS API at {console}, {action}: {kind}")]
pub struct ApiError {
    pub tenant_id: TenantId,
    pub tenant_name: String,
    /// `host:port` of the API (never the credentials).
    pub console: String,
    /// The action and its subject, e.g. `recapi monitor/auto-1-1000-1001.wav`.
    pub action: String,
    pub kind: ApiErrorKind,
}

/// Which road the tenant's calls take after this failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Road {
    /// The API road stays open: the failure is about this request only.
    Open,
    /// The API cannot serve this call (a `.venc` file): the browser fetches it.
    BrowserForCall,
    /// The API road is closed for this tenant in this pass (off, refused, not understood): the
    /// browser takes over, and the next pass tries the API again.
    BrowserForTenant,
}

/// The kinds of API failure, each with the status code that caused it where there is one.
#[derive(Debug, thiserror::Error)]
pub enum ApiErrorKind {
    #[error("no answer from the console ({reason}); tried again next pass")]
    Unreachable { reason: String },
    #[error("the console does not serve the HTTPS API here (HTTP {http_status} to POST /api, not the API's JSON): enable it under API Configuration → HTTPS API Settings, or set the API port; the browser is used")]
    NotServed { http_status: u16 },
    #[error(
        "the answer is not the API's JSON as the guide describes it ({what}); the browser is used"
    )]
    Unrecognised { what: String },
    #[error(
        "the console refused the request (status -1, invalid parameters); the browser is used"
    )]
    InvalidParameters,
    #[error("the console refused the API user or password (status {status}{}): check the API user under API Configuration → HTTPS API Settings and the tenant's API credentials; the browser is used", RemainNote(*.remain_num))]
    LoginRefused {
        status: i64,
        remain_num: Option<u64>,
    },
    #[error("the console refused this API user the action (status {status}: {}): permit the worker's address and the user's rights under HTTPS API Settings; the browser is used", meaning(*.status))]
    NoPermission { status: i64 },
    #[error("the console blocks API logins from this address or user (status {status}: {}){}: no login is tried until it ends; unblock the worker's IP on the UCM, or wait", meaning(*.status), BanNote(*.remain_time))]
    LoginBlocked {
        status: i64,
        remain_time: Option<Duration>,
    },
    #[error("the session cookie was refused again right after a new login (status -6); tried again next pass")]
    CookieRefused,
    #[error("the console kept answering \"{}\" (status {status}) after {waits} pause(s); tried again next pass", meaning(*.status))]
    Busy {
        status: i64,
        waits: u32,
        retry_after: Duration,
    },
    #[error("the console has no such item (status -16)")]
    NoSuchItem,
    #[error("the console answered \"404: Not Found\": no such file in that directory")]
    FileNotFound,
    #[error("the file is stored on GDMS or a NAS (.venc), which the API road does not fetch; the browser fetches it")]
    VencOutOfScope,
    #[error("the console failed the request (status {status}: {})", meaning(*.status))]
    Failed { status: i64 },
    #[error("the console answered with neither audio nor the API's JSON ({bytes} bytes starting {start:?})")]
    NotAudio { bytes: usize, start: String },
    #[error(
        "the CDR list did not end after {pages} pages of {page_size}; the paging is not trusted"
    )]
    EndlessPaging { pages: usize, page_size: u32 },
    #[error("no login was tried: {why}")]
    NotLoggedIn { why: String },
}

impl ApiErrorKind {
    /// The kind a non-zero `status` stands for, with the login fields the answer carried.
    pub fn from_status(status: i64, remain_num: Option<u64>, remain_time: Option<u64>) -> Self {
        match status {
            -1 => Self::InvalidParameters,
            -37 | -71 => Self::LoginRefused { status, remain_num },
            -5 | -47 => Self::NoPermission { status },
            -68 | -70 => Self::LoginBlocked {
                status,
                remain_time: remain_time.map(Duration::from_secs),
            },
            -16 => Self::NoSuchItem,
            status => Self::Failed { status },
        }
    }

    /// The pause the guide asks for before the same request is sent again, for the codes
    /// that ask for one.
    pub fn pause_for(status: i64) -> Option<Duration> {
        match status {
            -45 | -46 => Some(Duration::from_secs(15)),
            -57 => Some(Duration::from_secs(60)),
            _ => None,
        }
    }
}

impl ApiError {
    /// Which road the tenant's calls take after this failure.
    pub fn road(&self) -> Road {
        match self.kind {
            ApiErrorKind::NotServed { .. }
            | ApiErrorKind::Unrecognised { .. }
            | ApiErrorKind::InvalidParameters
            | ApiErrorKind::LoginRefused { .. }
            | ApiErrorKind::NoPermission { .. }
            | ApiErrorKind::NotAudio { .. }
            | ApiErrorKind::EndlessPaging { .. } => Road::BrowserForTenant,
            ApiErrorKind::VencOutOfScope => Road::BrowserForCall,
            _ => Road::Open,
        }
    }
}

impl Failure for ApiError {
    fn next_step(&self) -> NextStep {
        if self.road() == Road::BrowserForTenant {
            // No call is at fault when the road is closed: the tenant's calls go back uncharged
            // (the driver hands them to the browser).
            return NextStep::StopTenantUncharged;
        }
        match self.kind {
            ApiErrorKind::LoginBlocked { .. } => NextStep::BlockTenant,
            // The guide: "no such item"; the old REC API: "404: Not Found (if no matching files
            // are found)". Evidence the file is not there now, so checked again on later passes
            // and final only after the not-listed grace, like a list read to the end.
            ApiErrorKind::NoSuchItem | ApiErrorKind::FileNotFound => NextStep::NotListed,
            ApiErrorKind::VencOutOfScope => NextStep::RetryCallUncharged,
            ApiErrorKind::Failed { .. } => NextStep::RetryCall,
            _ => NextStep::StopTenant,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self.kind {
            ApiErrorKind::Busy { retry_after, .. } => Some(retry_after),
            ApiErrorKind::LoginBlocked { remain_time, .. } => remain_time,
            _ => None,
        }
    }
}

/// The guide's words for a status code (its "Error Return Codes" table).
pub fn meaning(status: i64) -> &'static str {
    match status {
        -1 => "invalid parameters",
        -5 => "need authentication",
        -6 => "cookie error",
        -7 => "connection closed",
        -8 => "system timeout",
        -9 => "abnormal system error",
        -15 => "invalid value",
        -16 => "no such item",
        -24 => "failed to operate data",
        -25 => "failed to update data",
        -26 => "failed to get data",
        -37 => "wrong account or password",
        -45 | -46 => "operating too frequently, retry after 15 seconds",
        -47 => "no permission",
        -51 => "another task is running now",
        -57 => "retry after 60 seconds",
        -68 => "login restriction",
        -70 => "login forbidden",
        -71 => "the username does not exist",
        _ => "not in the guide's table",
    }
}

struct RemainNote(Option<u64>);

impl fmt::Display for RemainNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(
                f,
                ", {n} attempt(s) left before the console blacklists the address"
            ),
            None => Ok(()),
        }
    }
}

struct BanNote(Option<Duration>);

impl fmt::Display for BanNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(d) => write!(f, " for {}s", d.as_secs()),
            None => write!(f, " (the console gave no period)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(kind: ApiErrorKind) -> ApiError {
        ApiError {
            tenant_id: TenantId(7),
            tenant_name: "Acme".into(),
            console: "pbx.example:8089".into(),
            action: "login".into(),
            kind,
        }
    }

    #[test]
    fn every_code_of_the_guide_has_one_answer() {
        let cases = [
            (-37, NextStep::StopTenantUncharged, Road::BrowserForTenant),
            (-71, NextStep::StopTenantUncharged, Road::BrowserForTenant),
            (-47, NextStep::StopTenantUncharged, Road::BrowserForTenant),
            (-5, NextStep::StopTenantUncharged, Road::BrowserForTenant),
            (-1, NextStep::StopTenantUncharged, Road::BrowserForTenant),
            (-68, NextStep::BlockTenant, Road::Open),
            (-70, NextStep::BlockTenant, Road::Open),
            (-16, NextStep::NotListed, Road::Open),
            (-25, NextStep::RetryCall, Road::Open),
            (-9, NextStep::RetryCall, Road::Open),
        ];
        for (status, next, road) in cases {
            let e = error(ApiErrorKind::from_status(status, Some(2), Some(300)));
            assert_eq!((e.next_step(), e.road()), (next, road), "status {status}");
        }
        assert_eq!(ApiErrorKind::pause_for(-45), Some(Duration::from_secs(15)));
        assert_eq!(ApiErrorKind::pause_for(-46), Some(Duration::from_secs(15)));
        assert_eq!(ApiErrorKind::pause_for(-57), Some(Duration::from_secs(60)));
        assert_eq!(ApiErrorKind::pause_for(-16), None);
    }

    #[test]
    fn a_block_says_how_long_and_the_message_names_tenant_console_and_action() {
        let e = error(ApiErrorKind::from_status(-68, None, Some(300)));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(300)));
        let text = e.to_string();
        for part in ["Acme", "ID: 7", "pbx.example:8089", "login", "for 300s"] {
            assert!(text.contains(part), "{text}");
        }
        let venc = error(ApiErrorKind::VencOutOfScope);
        assert_eq!(venc.road(), Road::BrowserForCall);
        assert_eq!(venc.next_step(), NextStep::RetryCallUncharged);
    }
}
