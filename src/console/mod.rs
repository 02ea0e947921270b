//! The UCM web console, driven through headless Chromium over WebDriver. The only module that
//! knows fantoccini.
//!
//! A [`ConsoleSession`] is one browser session for one tenant pass: [`ConsoleSession::open`] starts
//! it with a fresh profile and download directory, [`ConsoleSession::sign_in`] logs in once and
//! picks the selectors file by the firmware shown, [`ConsoleSession::download`] fetches each call's
//! recording, and [`ConsoleSession::close`] ends it (also after errors; a dropped session is closed
//! in the background). Every locator comes from `selectors/*.toml` ([`crate::selectors`]).

mod artifacts;
mod browser;
mod check;
mod click;
mod downloads;
mod error;
mod evidence;
mod grid;
mod heal;
mod learn;
mod login;
mod navigate;
mod optional;
mod orphans;
mod pacing;
mod page;
mod recordings;
mod route;
mod scan;
mod session;
mod target;
mod way;
mod webdriver;

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use url::Url;

pub use browser::Timeouts;
pub use check::{CheckedOn, LocatorCheck};
pub use downloads::{DownloadDirError, DownloadRoot};
pub use error::{ConsoleError, ConsoleErrorKind};
pub use heal::{drifted_key, learned_name, Healed, NotHealed};
pub use learn::{Change, HealMiss, Walk, SIGNED_IN};
pub(crate) use recordings::Match;
pub use scan::ScanEnd;
pub use session::ConsoleSession;
pub use way::{CameBy, Way};
pub use webdriver::{try_browser, CHROMIUM_ARGS};

use crate::config::{DownloadMode, Settings};
use crate::ids::{TenantId, UniqueId};
use crate::secrets::Secret;

/// Whether the browser shows its window: headless for the worker, shown with `--headed` for local
/// debugging. A command-line choice, so it is passed next to the settings, not read with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Window {
    #[default]
    Headless,
    Shown,
}

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
    pub fn from_settings(settings: &Settings, window: Window) -> Self {
        Self {
            webdriver_url: settings.webdriver_url.clone(),
            headed: window == Window::Shown,
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

/// A recording as one row of the Recordings list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedRecording {
    /// The recording's file name as the row shows it (its key); `None` when the row shows none
    /// (no key, or a key that is the console's own id): then only caller, callee and time tell
    /// which recording it is.
    pub file: Option<String>,
    pub caller: String,
    pub callee: String,
    /// The time the row shows, read in the tenant's zone; `None` when it could not be read.
    pub shown_at: Option<DateTime<Utc>>,
}

/// Which part of the Recordings list to read: the rows newer than the last read's newest.
#[derive(Debug, Clone)]
pub struct NewestQuery {
    /// The newest row the last read saw (its time and file); `None` the first time.
    pub newest: Option<(DateTime<Utc>, String)>,
    /// Rows older than this are not wanted (the first read's window).
    pub not_before: DateTime<Utc>,
    /// Pages read at most.
    pub max_pages: usize,
}

/// The rows a read of the newest part of the list saw, newest first.
#[derive(Debug, Clone)]
pub struct NewestRecordings {
    /// Every row read, with or without a file name.
    pub recordings: Vec<ListedRecording>,
    pub pages: usize,
    pub end: ScanEnd,
}
