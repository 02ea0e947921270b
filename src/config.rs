//! One file over 500 lines: every setting with its check, in the order of the configuration
//! table.
//!
//! Typed settings from the environment and an optional `.env` (README: Configuration), validated once at
//! start so that a mistake ends the process with one line that names the variable and the fix.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use url::Url;

use crate::secrets::{PasswordCipher, PasswordFormat, Secret};

/// Why the settings could not be built: always names the variable and what to do about it.
#[derive(Debug, thiserror::Error)]
#[error("{var} {problem}")]
pub struct ConfigError {
    pub var: &'static str,
    pub problem: String,
}

impl ConfigError {
    fn new(var: &'static str, problem: impl Into<String>) -> Self {
        Self {
            var,
            problem: problem.into(),
        }
    }
}

/// How a finished download reaches the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadMode {
    /// The browser writes into a directory the worker watches (same machine or shared volume).
    Watch,
    /// Selenium Grid managed downloads, fetched over the WebDriver connection.
    Grid,
}

/// What the worker does with recordings the console lists but no `cdr_records` row references
/// (`UNMATCHED_RECORDINGS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnmatchedMode {
    /// The Recordings list is not read for them.
    Off,
    /// They are noted and reported (the default).
    Report,
    /// Reported, and kept in storage under `tenant_<id>/unmatched/`.
    Store,
}

/// What the worker does when a required locator finds nothing on a page that otherwise is the
/// Recordings list (`SELECTORS_AUTOLEARN`; README: When the UCM firmware changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoLearn {
    /// The tenant stops with the locator named, as without healing; nothing is learnt or stored.
    Off,
    /// A proven draft is stored for review, the tenant still stops (calls uncharged) and the
    /// log prints the command that accepts it.
    Propose,
    /// A proven draft is stored and used for the tenant at once (the default).
    Use,
}

/// How recordings without a CDR row are noticed (README: Recordings without a CDR row).
#[derive(Debug, Clone)]
pub struct UnmatchedSettings {
    pub mode: UnmatchedMode,
    /// How far back the first read of a tenant's list goes (`UNMATCHED_WINDOW`).
    pub window: Duration,
    /// Pages of the list read at most per tenant per pass (`UNMATCHED_MAX_PAGES`).
    pub max_pages: usize,
    /// How often a tenant with no call to fetch is logged into only to read its list
    /// (`UNMATCHED_IDLE_EVERY`): a broken CDR feed leaves no calls to fetch at all.
    pub idle_every: Duration,
}

/// The operators' dashboard (docs/dashboard.md).
#[derive(Debug, Clone)]
pub struct DashboardSettings {
    /// Where `run` serves it (`DASHBOARD_ADDR`); unset: `run` serves no dashboard.
    pub addr: Option<SocketAddr>,
    /// Certificate chain and private key, PEM (`DASHBOARD_TLS_CERT`, `DASHBOARD_TLS_KEY`):
    /// served over HTTPS and its cookie marked `Secure`. Unset: plain HTTP.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// A session unused this long is signed out (`DASHBOARD_SESSION_IDLE`).
    pub session_idle: Duration,
}

#[derive(Debug, Clone)]
pub struct SupabaseSettings {
    pub url: Url,
    pub service_role_key: Secret<String>,
}

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub url: Url,
    pub secret: Option<Secret<String>>,
}

/// Everything the worker reads from its environment, parsed and checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: Secret<String>,
    pub pbx_encryption_key: Option<Secret<[u8; 32]>>,
    pub fernet_key: Option<Secret<String>>,
    pub password_format: PasswordFormat,
    pub accept_invalid_certs: bool,
    pub download_gap: Duration,
    pub webdriver_url: Url,
    pub download_mode: DownloadMode,
    pub download_dir: PathBuf,
    pub browser_download_dir: PathBuf,
    pub supabase: Option<SupabaseSettings>,
    pub bucket: String,
    /// Each upload request must finish within this (`STORAGE_TIMEOUT`); a hung one is retried.
    pub storage_timeout: Duration,
    pub storage_dir: PathBuf,
    pub ai_webhook: Option<WebhookSettings>,
    pub mp3_bitrate_kbps: Option<u32>,
    pub selectors_dir: PathBuf,
    pub scrape_interval: Duration,
    pub max_parallel_tenants: usize,
    pub lookback_days: u32,
    /// How long after a call its recording may still be missing from the console's list before
    /// the call is `not_on_console` for good (`NOT_LISTED_GRACE`); until then it is checked
    /// again each pass, uncharged.
    pub not_listed_grace: Duration,
    pub unmatched: UnmatchedSettings,
    /// Healing a drifted required locator (`SELECTORS_AUTOLEARN`).
    pub autolearn: AutoLearn,
    pub metrics_addr: Option<SocketAddr>,
    pub artifacts_dir: PathBuf,
    pub dashboard: DashboardSettings,
}

impl Settings {
    /// The `pbx_password` cipher these settings configure: their keys, their written format.
    pub fn password_cipher(&self) -> PasswordCipher {
        PasswordCipher::new(
            self.password_format,
            self.pbx_encryption_key.as_ref(),
            self.fernet_key.as_ref(),
        )
    }

    /// Reads `.env` (when present) and the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(process_env())
    }

    /// `SELECTORS_DIR` alone, read as [`from_env`](Self::from_env) reads it, for a command that
    /// needs no database (`selectors check`).
    pub fn selectors_dir_from_env() -> PathBuf {
        selectors_dir(&set_only(process_env()))
    }

    /// `MP3_BITRATE_KBPS` alone, read as [`from_env`](Self::from_env) reads it, for a command
    /// that needs no database (`transcode`).
    pub fn mp3_bitrate_from_env() -> Result<Option<u32>, ConfigError> {
        mp3_bitrate_kbps(&set_only(process_env()))
    }

    /// Builds settings from any variable source; tests pass a map instead of the process env.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = set_only(lookup);

        let database_url = var("DATABASE_URL").ok_or_else(|| {
            ConfigError::new(
                "DATABASE_URL",
                "is not set: point it at the Postgres (Supabase) database, \
                 e.g. postgres://user:password@host:5432/postgres",
            )
        })?;
        let pbx_encryption_key = var("PBX_ENCRYPTION_KEY")
            .map(|v| parse_aes_key(&v))
            .transpose()?;
        let fernet_key = var("ENCRYPTION_KEY")
            .map(|v| parse_fernet_key(&v))
            .transpose()?;
        let password_format = match var("PBX_PASSWORD_FORMAT").as_deref() {
            Some("aes-gcm") => PasswordFormat::AesGcm,
            Some("fernet") => PasswordFormat::Fernet,
            Some(other) => {
                return Err(ConfigError::new(
                    "PBX_PASSWORD_FORMAT",
                    format!("is {other:?}: use aes-gcm or fernet"),
                ))
            }
            None if pbx_encryption_key.is_none() && fernet_key.is_some() => PasswordFormat::Fernet,
            None => PasswordFormat::AesGcm,
        };
        match password_format {
            PasswordFormat::AesGcm if pbx_encryption_key.is_none() && fernet_key.is_some() => {
                return Err(ConfigError::new(
                    "PBX_ENCRYPTION_KEY",
                    "is not set but PBX_PASSWORD_FORMAT=aes-gcm: make one with `openssl rand -base64 32`",
                ))
            }
            PasswordFormat::Fernet if fernet_key.is_none() => {
                return Err(ConfigError::new(
                    "ENCRYPTION_KEY",
                    "is not set but PBX_PASSWORD_FORMAT=fernet: use the backend's Fernet key",
                ))
            }
            _ => {}
        }

        let download_dir = PathBuf::from(var("DOWNLOAD_DIR").unwrap_or("./downloads".into()));
        let browser_download_dir = var("BROWSER_DOWNLOAD_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| download_dir.clone());

        let supabase = match (var("SUPABASE_URL"), var("SUPABASE_SERVICE_ROLE_KEY")) {
            (Some(url), Some(key)) => Some(SupabaseSettings {
                url: parse_url("SUPABASE_URL", &url)?,
                service_role_key: Secret::new(key),
            }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "SUPABASE_SERVICE_ROLE_KEY",
                    "is not set but SUPABASE_URL is: copy the service-role key from the Supabase dashboard (Settings → API)",
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "SUPABASE_URL",
                    "is not set but SUPABASE_SERVICE_ROLE_KEY is: set it to https://<project>.supabase.co",
                ))
            }
        };

        let ai_webhook = var("AI_WEBHOOK_URL")
            .map(|url| {
                Ok::<_, ConfigError>(WebhookSettings {
                    url: parse_url("AI_WEBHOOK_URL", &url)?,
                    secret: var("AI_WEBHOOK_SECRET").map(Secret::new),
                })
            })
            .transpose()?;

        Ok(Self {
            database_url: Secret::new(database_url),
            pbx_encryption_key,
            fernet_key,
            password_format,
            accept_invalid_certs: parse_bool(
                "UCM_ACCEPT_INVALID_CERTS",
                var("UCM_ACCEPT_INVALID_CERTS"),
            )?,
            download_gap: parse_duration("UCM_DOWNLOAD_GAP", var("UCM_DOWNLOAD_GAP"), "15s")?,
            webdriver_url: parse_url(
                "WEBDRIVER_URL",
                &var("WEBDRIVER_URL").unwrap_or("http://127.0.0.1:9515".into()),
            )?,
            download_mode: match var("DOWNLOAD_MODE").as_deref() {
                None | Some("watch") => DownloadMode::Watch,
                Some("grid") => DownloadMode::Grid,
                Some(other) => {
                    return Err(ConfigError::new(
                        "DOWNLOAD_MODE",
                        format!("is {other:?}: use watch (shared directory) or grid (Selenium managed downloads)"),
                    ))
                }
            },
            download_dir,
            browser_download_dir,
            supabase,
            bucket: var("SUPABASE_BUCKET").unwrap_or("call-recordings".into()),
            storage_timeout: parse_duration("STORAGE_TIMEOUT", var("STORAGE_TIMEOUT"), "120s")?,
            storage_dir: PathBuf::from(var("STORAGE_DIR").unwrap_or("./storage".into())),
            ai_webhook,
            mp3_bitrate_kbps: mp3_bitrate_kbps(&var)?,
            selectors_dir: selectors_dir(&var),
            scrape_interval: parse_duration("SCRAPE_INTERVAL", var("SCRAPE_INTERVAL"), "15m")?,
            max_parallel_tenants: parse_number("MAX_PARALLEL_TENANTS", var("MAX_PARALLEL_TENANTS"))?
                .unwrap_or(2)
                .max(1),
            lookback_days: parse_number("LOOKBACK_DAYS", var("LOOKBACK_DAYS"))?.unwrap_or(7),
            // A UCM lists a recording once its file is closed and indexed, normally seconds after
            // hang-up; a busy box, recordings kept on external storage (USB, SD card, NAS) or a
            // list that is rebuilt in batches can lag minutes to hours, and we have not seen
            // every firmware. 6 h is generous for such lags (24 uncharged re-checks at the default
            // SCRAPE_INTERVAL) and still tells the operator of a recording that is really
            // missing the same working day.
            not_listed_grace: parse_duration(
                "NOT_LISTED_GRACE",
                var("NOT_LISTED_GRACE"),
                "6h",
            )?,
            unmatched: unmatched(&var)?,
            autolearn: autolearn(&var)?,
            metrics_addr: var("METRICS_ADDR")
                .map(|v| {
                    v.parse().map_err(|_| {
                        ConfigError::new("METRICS_ADDR", format!("is {v:?}: use host:port, e.g. 0.0.0.0:9000"))
                    })
                })
                .transpose()?,
            artifacts_dir: PathBuf::from(var("ARTIFACTS_DIR").unwrap_or("./artifacts".into())),
            dashboard: dashboard(&var)?,
        })
    }
}

/// Reads `.env` (when present) into the process environment and returns its reader.
fn process_env() -> impl Fn(&str) -> Option<String> {
    // A missing .env is normal in containers; a broken one is reported by the parse after.
    let _ = dotenvy::dotenv();
    |name: &str| std::env::var(name).ok()
}

/// A variable set to nothing but blanks counts as not set.
fn set_only(lookup: impl Fn(&str) -> Option<String>) -> impl Fn(&str) -> Option<String> {
    move |name: &str| lookup(name).filter(|v| !v.trim().is_empty())
}

fn selectors_dir(var: &impl Fn(&str) -> Option<String>) -> PathBuf {
    PathBuf::from(var("SELECTORS_DIR").unwrap_or("./selectors".into()))
}

fn autolearn(var: &impl Fn(&str) -> Option<String>) -> Result<AutoLearn, ConfigError> {
    match var("SELECTORS_AUTOLEARN").as_deref() {
        None | Some("use") => Ok(AutoLearn::Use),
        Some("propose") => Ok(AutoLearn::Propose),
        Some("off") => Ok(AutoLearn::Off),
        Some(other) => Err(ConfigError::new(
            "SELECTORS_AUTOLEARN",
            format!("is {other:?}: use use (the default), propose or off"),
        )),
    }
}

fn unmatched(var: &impl Fn(&str) -> Option<String>) -> Result<UnmatchedSettings, ConfigError> {
    let mode = match var("UNMATCHED_RECORDINGS").as_deref() {
        None | Some("report") => UnmatchedMode::Report,
        Some("store") => UnmatchedMode::Store,
        Some("off") => UnmatchedMode::Off,
        Some(other) => {
            return Err(ConfigError::new(
                "UNMATCHED_RECORDINGS",
                format!("is {other:?}: use report (the default), store or off"),
            ))
        }
    };
    Ok(UnmatchedSettings {
        mode,
        window: parse_duration("UNMATCHED_WINDOW", var("UNMATCHED_WINDOW"), "1d")?,
        max_pages: parse_number("UNMATCHED_MAX_PAGES", var("UNMATCHED_MAX_PAGES"))?
            .unwrap_or(3)
            .max(1),
        idle_every: parse_duration("UNMATCHED_IDLE_EVERY", var("UNMATCHED_IDLE_EVERY"), "1h")?,
    })
}

fn dashboard(var: &impl Fn(&str) -> Option<String>) -> Result<DashboardSettings, ConfigError> {
    let addr = var("DASHBOARD_ADDR")
        .map(|v| {
            v.parse().map_err(|_| {
                ConfigError::new(
                    "DASHBOARD_ADDR",
                    format!("is {v:?}: use host:port, e.g. 0.0.0.0:8080"),
                )
            })
        })
        .transpose()?;
    let tls =
        match (var("DASHBOARD_TLS_CERT"), var("DASHBOARD_TLS_KEY")) {
            (Some(cert), Some(key)) => Some((PathBuf::from(cert), PathBuf::from(key))),
            (None, None) => None,
            (Some(_), None) => return Err(ConfigError::new(
                "DASHBOARD_TLS_KEY",
                "is not set but DASHBOARD_TLS_CERT is: give the certificate's private key (PEM)",
            )),
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "DASHBOARD_TLS_CERT",
                    "is not set but DASHBOARD_TLS_KEY is: give the certificate chain (PEM)",
                ))
            }
        };
    Ok(DashboardSettings {
        addr,
        tls,
        session_idle: parse_duration(
            "DASHBOARD_SESSION_IDLE",
            var("DASHBOARD_SESSION_IDLE"),
            "30m",
        )?,
    })
}

fn mp3_bitrate_kbps(var: &impl Fn(&str) -> Option<String>) -> Result<Option<u32>, ConfigError> {
    var("MP3_BITRATE_KBPS")
        .map(|v| {
            v.trim().parse().map_err(|_| {
                ConfigError::new(
                    "MP3_BITRATE_KBPS",
                    format!("is {v:?}: use a whole number of kbps, such as 32"),
                )
            })
        })
        .transpose()
}

fn parse_aes_key(value: &str) -> Result<Secret<[u8; 32]>, ConfigError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()
        .filter(|b| b.len() == 32)
        .ok_or_else(|| {
            ConfigError::new(
                "PBX_ENCRYPTION_KEY",
                "is not base64 of 32 bytes: make one with `openssl rand -base64 32`",
            )
        })?;
    let mut key = [0u8; 32];
    key.copy_from_slice(&bytes);
    Ok(Secret::new(key))
}

fn parse_fernet_key(value: &str) -> Result<Secret<String>, ConfigError> {
    fernet::Fernet::new(value.trim()).ok_or_else(|| {
        ConfigError::new(
            "ENCRYPTION_KEY",
            "is not a Fernet key (urlsafe base64 of 32 bytes): use the backend's ENCRYPTION_KEY",
        )
    })?;
    Ok(Secret::new(value.trim().to_string()))
}

fn parse_url(var: &'static str, value: &str) -> Result<Url, ConfigError> {
    Url::parse(value).map_err(|e| ConfigError::new(var, format!("is not a URL ({e}): {value:?}")))
}

fn parse_bool(var: &'static str, value: Option<String>) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("false" | "0" | "no") => Ok(false),
        Some("true" | "1" | "yes") => Ok(true),
        Some(other) => Err(ConfigError::new(
            var,
            format!("is {other:?}: use true or false"),
        )),
    }
}

fn parse_duration(
    var: &'static str,
    value: Option<String>,
    default: &str,
) -> Result<Duration, ConfigError> {
    let text = value.as_deref().unwrap_or(default);
    humantime::parse_duration(text).map_err(|_| {
        ConfigError::new(
            var,
            format!("is {text:?}: use a duration such as 15s, 15m or 900s"),
        )
    })
}

fn parse_number<T: std::str::FromStr>(
    var: &'static str,
    value: Option<String>,
) -> Result<Option<T>, ConfigError> {
    value
        .map(|v| {
            v.trim()
                .parse()
                .map_err(|_| ConfigError::new(var, format!("is {v:?}: use a whole number")))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn missing_database_url_names_the_variable() {
        let err = settings(&[]).unwrap_err();
        assert_eq!(err.var, "DATABASE_URL");
        assert!(
            err.to_string().starts_with("DATABASE_URL is not set"),
            "{err}"
        );
    }

    #[test]
    fn short_encryption_key_says_how_to_make_one() {
        let err = settings(&[
            ("DATABASE_URL", "postgres://x/y"),
            ("PBX_ENCRYPTION_KEY", "c2hvcnQ="),
        ])
        .unwrap_err();
        assert_eq!(err.var, "PBX_ENCRYPTION_KEY");
        assert!(err.to_string().contains("openssl rand -base64 32"), "{err}");
    }

    #[test]
    fn defaults_follow_the_contract() {
        let s = settings(&[("DATABASE_URL", "postgres://x/y")]).unwrap();
        assert_eq!(s.download_gap, Duration::from_secs(15));
        assert_eq!(s.scrape_interval, Duration::from_secs(900));
        assert_eq!(s.bucket, "call-recordings");
        assert_eq!(s.max_parallel_tenants, 2);
        assert_eq!(s.lookback_days, 7);
        assert_eq!(s.not_listed_grace, Duration::from_secs(6 * 3600));
        assert_eq!(s.webdriver_url.as_str(), "http://127.0.0.1:9515/");
        assert_eq!(s.browser_download_dir, s.download_dir);
        assert_eq!(s.password_format, PasswordFormat::AesGcm);
        assert!(s.supabase.is_none());
    }

    #[test]
    fn a_drifted_locator_is_healed_and_used_by_default_and_the_mode_is_checked() {
        let db = ("DATABASE_URL", "postgres://localhost/x");
        assert_eq!(settings(&[db]).unwrap().autolearn, AutoLearn::Use);
        let s = settings(&[db, ("SELECTORS_AUTOLEARN", "propose")]).unwrap();
        assert_eq!(s.autolearn, AutoLearn::Propose);
        let err = settings(&[db, ("SELECTORS_AUTOLEARN", "yes")]).unwrap_err();
        assert_eq!(err.var, "SELECTORS_AUTOLEARN");
    }

    #[test]
    fn recordings_without_a_call_are_reported_by_default_and_the_mode_is_checked() {
        let db = ("DATABASE_URL", "postgres://localhost/x");
        let s = settings(&[db]).unwrap();
        assert_eq!(s.unmatched.mode, UnmatchedMode::Report);
        assert_eq!(s.unmatched.window, Duration::from_secs(24 * 3600));
        assert_eq!(s.unmatched.max_pages, 3);
        assert_eq!(s.unmatched.idle_every, Duration::from_secs(3600));
        let s = settings(&[
            db,
            ("UNMATCHED_RECORDINGS", "store"),
            ("UNMATCHED_MAX_PAGES", "0"),
        ]);
        let s = s.unwrap();
        assert_eq!(
            (s.unmatched.mode, s.unmatched.max_pages),
            (UnmatchedMode::Store, 1)
        );
        let err = settings(&[db, ("UNMATCHED_RECORDINGS", "keep")]).unwrap_err();
        assert_eq!(err.var, "UNMATCHED_RECORDINGS");
        assert!(
            err.to_string()
                .contains("report (the default), store or off"),
            "{err}"
        );
    }

    #[test]
    fn not_listed_grace_takes_a_duration() {
        let db = ("DATABASE_URL", "postgres://x/y");
        let s = settings(&[db, ("NOT_LISTED_GRACE", "90m")]).unwrap();
        assert_eq!(s.not_listed_grace, Duration::from_secs(90 * 60));
        let err = settings(&[db, ("NOT_LISTED_GRACE", "six hours")]).unwrap_err();
        assert_eq!(err.var, "NOT_LISTED_GRACE");
    }

    #[test]
    fn a_bitrate_that_is_not_a_number_says_what_to_use() {
        let err = settings(&[
            ("DATABASE_URL", "postgres://x/y"),
            ("MP3_BITRATE_KBPS", "fast"),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "MP3_BITRATE_KBPS is \"fast\": use a whole number of kbps, such as 32"
        );
    }

    #[test]
    fn fernet_is_the_written_format_when_only_the_backend_key_is_set() {
        let key = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
        let s = settings(&[("DATABASE_URL", "postgres://x/y"), ("ENCRYPTION_KEY", key)]).unwrap();
        assert_eq!(s.password_format, PasswordFormat::Fernet);
    }

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let s = settings(&[
            ("DATABASE_URL", "postgres://u:dbpass@h/d"),
            ("SUPABASE_URL", "http://127.0.0.1:1"),
            ("SUPABASE_SERVICE_ROLE_KEY", "service-role-value"),
        ])
        .unwrap();
        let text = format!("{s:?}");
        assert!(
            !text.contains("dbpass") && !text.contains("service-role-value"),
            "{text}"
        );
    }
}
