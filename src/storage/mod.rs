//! Where recordings end up (docs/storage.md): one small trait, two back-ends.
//!
//! - [`supabase::SupabaseStore`]: Supabase Storage over its REST API, when `SUPABASE_URL` and
//!   `SUPABASE_SERVICE_ROLE_KEY` are set.
//! - [`local::LocalStore`]: a directory (`STORAGE_DIR`), the embedded default.
//!
//! Both are idempotent upserts under the same key, so the pipeline can upload first and record
//! the key in `cdr_records` second: a crash in between costs one harmless re-upload.
//!
//! Both also have a [`ObjectStore::preflight`]: a check that writes no object, run before each
//! pass opens a browser, so that a bucket that does not exist or a refused key stops the pass
//! before any call is downloaded and charged an attempt.

pub mod local;
pub mod supabase;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::Settings;
use crate::failure::{Failure, NextStep};
use crate::ids::{TenantId, UniqueId};
use crate::retry::{NoAnswer, RetryPolicy};

/// An object's key inside the bucket, e.g. `tenant_1/1770395696.123_recording.mp3`.
///
/// Built only from validated parts ([`TenantId`], [`UniqueId`], a plain extension), so it is
/// always a relative path of safe characters: fit for a URL path and for a file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StorageKey(String);

impl StorageKey {
    /// The key of a call's recording. `extension` is `"mp3"`, or `"wav"` when the transcoder fell
    /// back to the original file.
    ///
    /// # Panics
    /// When `extension` is not 1–8 ASCII letters or digits: callers pass a literal.
    pub fn recording(tenant: TenantId, uniqueid: &UniqueId, extension: &str) -> Self {
        assert!(
            (1..=8).contains(&extension.len())
                && extension.bytes().all(|b| b.is_ascii_alphanumeric()),
            "storage key extension {extension:?} must be 1-8 ASCII letters or digits"
        );
        Self(format!("tenant_{tenant}/{uniqueid}_recording.{extension}"))
    }

    /// The key of a recording kept without a call (`tenant_<id>/unmatched/<file stem>.<ext>`):
    /// a folder the backend's keys never use. `None` when the console's file name is not a
    /// plain name of letters, digits, `.`, `-` and `_` (it could not be kept safely).
    pub fn unmatched(tenant: TenantId, file: &str, extension: &str) -> Option<Self> {
        let name = file.rsplit('/').next().unwrap_or(file);
        let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
        let plain = |b: u8| b.is_ascii_alphanumeric() || b"._-".contains(&b);
        let safe = !stem.is_empty() && !stem.starts_with('.') && stem.bytes().all(plain);
        let extension_ok = (1..=8).contains(&extension.len())
            && extension.bytes().all(|b| b.is_ascii_alphanumeric());
        (safe && extension_ok)
            .then(|| Self(format!("tenant_{tenant}/unmatched/{stem}.{extension}")))
    }

    /// A key [`StorageKey::unmatched`] made, read back from the database; `None` for anything
    /// else.
    pub fn parse_kept(raw: &str) -> Option<Self> {
        let (tenant, rest) = raw.strip_prefix("tenant_")?.split_once("/unmatched/")?;
        let (_, extension) = rest.rsplit_once('.')?;
        let key = Self::unmatched(TenantId(tenant.parse().ok()?), rest, extension)?;
        (key.0 == raw).then_some(key)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The key a recording gets by the format stored: the MP3, or the original WAV when the
/// transcoder keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    pub mp3: StorageKey,
    pub wav: StorageKey,
}

impl Keys {
    /// A call's recording ([`StorageKey::recording`]).
    pub fn recording(tenant: TenantId, uniqueid: &UniqueId) -> Self {
        Self {
            mp3: StorageKey::recording(tenant, uniqueid, "mp3"),
            wav: StorageKey::recording(tenant, uniqueid, "wav"),
        }
    }

    /// A recording kept without a call ([`StorageKey::unmatched`]); `None` when its name cannot
    /// be a safe key.
    pub fn unmatched(tenant: TenantId, file: &str) -> Option<Self> {
        Some(Self {
            mp3: StorageKey::unmatched(tenant, file, "mp3")?,
            wav: StorageKey::unmatched(tenant, file, "wav")?,
        })
    }
}

/// A place that keeps recordings under their [`StorageKey`].
#[async_trait::async_trait]
pub trait ObjectStore: Send + Sync + fmt::Debug {
    /// Idempotent upsert: a retried call overwrites its own object, never makes a second one.
    async fn put_file(
        &self,
        key: &StorageKey,
        path: &Path,
        content_type: &str,
    ) -> Result<(), StorageError>;

    /// Copies the object at `from` to `to` inside the store, overwriting `to`: an idempotent
    /// copy, so a retried link ends with the same single object.
    async fn copy(&self, from: &StorageKey, to: &StorageKey) -> Result<(), StorageError>;

    /// Where the object is, for logs and the demo ("supabase://call-recordings/tenant_1/..." or
    /// the local path).
    fn location(&self, key: &StorageKey) -> String;

    /// Whether recordings can be stored at all, checked without storing one: the bucket exists,
    /// the key is accepted and the bucket takes a long call's recording (Supabase), or the
    /// directory is writable (local). Returns what was found, for `doctor`.
    async fn preflight(&self) -> Result<String, PreflightError>;
}

/// The smallest file size limit a bucket may have: an hour-long call as the MP3 the speech
/// policy writes for a phone line (8 kHz mono, 24 kbps), 10.8 MB. Below it, ordinary long calls
/// would be refused every day; above it, only the odd WAV fallback of a long call is, which fails
/// that call alone.
pub const TYPICAL_RECORDING_BYTES: u64 = 3600 * 24_000 / 8;

/// The content types the worker uploads: MP3, and WAV when the transcoder keeps the original.
pub const CONTENT_TYPES: [&str; 2] = ["audio/mpeg", "audio/wav"];

/// Supabase when configured, else the local `STORAGE_DIR`.
pub fn from_settings(settings: &Settings) -> Result<Arc<dyn ObjectStore>, StorageError> {
    Ok(match &settings.supabase {
        Some(supabase) => Arc::new(supabase::SupabaseStore::new(
            supabase,
            &settings.bucket,
            RetryPolicy {
                request_timeout: settings.storage_timeout,
                ..RetryPolicy::default()
            },
        )?),
        None => Arc::new(local::LocalStore::new(&settings.storage_dir)?),
    })
}

/// Why an object was not stored. Every message names the key (tenant and call are in it) and,
/// where the operator can act, what to do; none ever contains the service-role key.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(
        "Supabase refused the service-role key uploading {key} (HTTP {status}: {message}): \
         check SUPABASE_SERVICE_ROLE_KEY (the service_role or sb_secret_ key, not the anon key)"
    )]
    Unauthorized {
        key: String,
        status: u16,
        message: String,
    },

    #[error(
        "bucket {bucket:?} not found uploading {key}: create it in Supabase (Storage → New bucket) \
         or set SUPABASE_BUCKET"
    )]
    BucketNotFound { bucket: String, key: String },

    #[error(
        "{key} ({bytes} bytes) is larger than the bucket allows: raise the bucket's file size \
         limit (or the project's global limit) in Supabase"
    )]
    TooLarge { key: String, bytes: u64 },

    #[error("{key} is not in storage (removed by someone?); it is downloaded again")]
    NotFound { key: String },

    #[error("{key} already exists and the upload did not ask to overwrite it (x-upsert)")]
    Duplicate { key: String },

    #[error("Supabase rejected {key}: HTTP {status}, {code}: {message}")]
    Rejected {
        key: String,
        status: u16,
        code: String,
        message: String,
    },

    #[error(
        "Supabase failed storing {key} (HTTP {status}: {message}) after {attempts} attempt(s)"
    )]
    Unavailable {
        key: String,
        status: u16,
        message: String,
        attempts: u32,
        /// `Retry-After` of a 429/503, in seconds.
        retry_after_secs: Option<u64>,
    },

    #[error("could not reach Supabase storing {key} after {attempts} attempt(s): {source}")]
    Transport {
        key: String,
        attempts: u32,
        #[source]
        source: NoAnswer,
    },

    #[error(
        "the resumable upload of {key} sent every byte but its completion was never confirmed"
    )]
    Unconfirmed { key: String },

    #[error("could not {action} {} for {key}: {source}", path.display())]
    Io {
        key: String,
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "{key} would be written to {}, outside STORAGE_DIR {} (a symlink?): refusing",
        path.display(),
        root.display()
    )]
    OutsideRoot {
        key: String,
        path: PathBuf,
        root: PathBuf,
    },

    #[error("storage is misconfigured: {0}")]
    Config(String),
}

impl Failure for StorageError {
    /// A refusal no call can get past until an operator changes the configuration (the key, the
    /// bucket's name) stops the pass, which gives its calls back uncharged instead of burning
    /// them one by one. A timeout, a refused connection, 5xx or 429 waits for the service: the
    /// same upload may work in a moment or on the next pass. Anything else (too large for the
    /// bucket, a rejected object) is this call's failed attempt.
    fn next_step(&self) -> NextStep {
        match self {
            Self::Unauthorized { .. } | Self::BucketNotFound { .. } => NextStep::StopPass,
            // The local store's own directory refusing writes: every call would meet it.
            Self::Io { action, source, .. }
                if STORE_SIDE_ACTIONS.contains(action)
                    && matches!(
                        source.kind(),
                        std::io::ErrorKind::PermissionDenied
                            | std::io::ErrorKind::ReadOnlyFilesystem
                    ) =>
            {
                NextStep::StopPass
            }
            Self::Unavailable { .. } | Self::Transport { .. } | Self::Unconfirmed { .. } => {
                NextStep::WaitForService
            }
            Self::TooLarge { .. }
            | Self::NotFound { .. }
            | Self::Duplicate { .. }
            | Self::Rejected { .. }
            | Self::Io { .. }
            | Self::OutsideRoot { .. }
            | Self::Config(_) => NextStep::RetryCall,
        }
    }

    fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Self::Unavailable {
                retry_after_secs: Some(secs),
                ..
            } => Some(std::time::Duration::from_secs(*secs)),
            _ => None,
        }
    }
}

/// [`StorageError::Io`] actions on the store's side (STORAGE_DIR), as opposed to reading the
/// recording being stored.
const STORE_SIDE_ACTIONS: [&str; 3] = ["create directory", "create a temp file in", "rename into"];

/// Why storage cannot take recordings, found by [`ObjectStore::preflight`] before a pass. Each
/// message says what to fix; none contains the service-role key.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error(
        "Supabase refused SUPABASE_SERVICE_ROLE_KEY reading bucket {bucket:?} (HTTP {status}: \
         {message}): copy the service_role (or sb_secret_) key of the project at SUPABASE_URL \
         from the Supabase dashboard, Settings → API"
    )]
    KeyRefused {
        bucket: String,
        status: u16,
        message: String,
    },

    #[error(
        "bucket {bucket:?} does not exist in the Supabase project at SUPABASE_URL: create it \
         (Storage → New bucket) or set SUPABASE_BUCKET to the bucket's name"
    )]
    NoBucket { bucket: String },

    #[error(
        "bucket {bucket:?} takes files of at most {limit} bytes, less than an hour-long call's \
         recording ({needed} bytes): raise its file size limit in Supabase (Storage → the \
         bucket → Edit bucket) to at least {needed} bytes, or remove it"
    )]
    LimitTooSmall {
        bucket: String,
        limit: u64,
        needed: u64,
    },

    #[error(
        "bucket {bucket:?} does not take {refused} files (it allows {allowed}): add audio/mpeg \
         and audio/wav (or audio/*) to its allowed MIME types in Supabase, or clear them"
    )]
    TypeRefused {
        bucket: String,
        refused: String,
        allowed: String,
    },

    #[error(
        "Supabase did not answer reading bucket {bucket:?} ({detail}): check SUPABASE_URL, the \
         network and Supabase's status page"
    )]
    Unreachable { bucket: String, detail: String },

    #[error(
        "Supabase answered HTTP {status} reading bucket {bucket:?} ({message}): check that \
         SUPABASE_URL is the project's URL, https://<project>.supabase.co"
    )]
    Unexpected {
        bucket: String,
        status: u16,
        message: String,
    },

    #[error(
        "STORAGE_DIR {} is not writable ({source}): let the worker's user write there, or set \
         STORAGE_DIR to a directory it can write",
        dir.display()
    )]
    DirNotWritable {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Failure for PreflightError {
    /// Supabase not answering is waited for within the check; every other finding needs an
    /// operator. Either way a pass whose preflight fails claims no call.
    fn next_step(&self) -> NextStep {
        match self {
            Self::Unreachable { .. } => NextStep::WaitForService,
            Self::KeyRefused { .. }
            | Self::NoBucket { .. }
            | Self::LimitTooSmall { .. }
            | Self::TypeRefused { .. }
            | Self::Unexpected { .. }
            | Self::DirNotWritable { .. } => NextStep::StopPass,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_keys_follow_the_contract() {
        let uid = UniqueId::parse("1770395696.123").unwrap();
        assert_eq!(
            StorageKey::recording(TenantId(1), &uid, "mp3").as_str(),
            "tenant_1/1770395696.123_recording.mp3"
        );
        assert_eq!(
            StorageKey::recording(TenantId(42), &uid, "wav").to_string(),
            "tenant_42/1770395696.123_recording.wav"
        );
    }

    #[test]
    fn only_the_stores_own_directory_refusing_writes_stops_the_pass() {
        let io = |action, kind| StorageError::Io {
            key: "tenant_1/1.2_recording.mp3".into(),
            action,
            path: PathBuf::from("recordings"),
            source: std::io::Error::from(kind),
        };
        let denied = std::io::ErrorKind::PermissionDenied;
        assert_eq!(
            io("create directory", denied).next_step(),
            NextStep::StopPass
        );
        assert_eq!(io("rename into", denied).next_step(), NextStep::StopPass);
        // The recording being stored, not the store: this call's trouble.
        assert_eq!(io("read", denied).next_step(), NextStep::RetryCall);
        let full = std::io::ErrorKind::StorageFull;
        assert_eq!(
            io("create directory", full).next_step(),
            NextStep::RetryCall
        );
    }

    #[test]
    fn unmatched_keys_have_their_own_folder_and_only_plain_names() {
        let key = StorageKey::unmatched(TenantId(3), "2026-02/auto-17-1000-2000.wav", "mp3");
        assert_eq!(
            key.unwrap().as_str(),
            "tenant_3/unmatched/auto-17-1000-2000.mp3"
        );
        assert!(StorageKey::unmatched(TenantId(3), "x;y.wav", "mp3").is_none());
        assert!(StorageKey::unmatched(TenantId(3), "2026-02/...wav", "mp3").is_none());
        assert!(StorageKey::unmatched(TenantId(3), "a b.wav", "mp3").is_none());
        assert!(StorageKey::unmatched(TenantId(3), ".wav", "mp3").is_none());
        let kept = "tenant_3/unmatched/auto-17-1000-2000.mp3";
        assert_eq!(StorageKey::parse_kept(kept).unwrap().as_str(), kept);
        assert!(StorageKey::parse_kept("tenant_3/unmatched/../x.mp3").is_none());
        assert!(StorageKey::parse_kept("tenant_3/1.2_recording.mp3").is_none());
    }

    #[test]
    #[should_panic(expected = "extension")]
    fn an_extension_with_a_path_in_it_is_a_bug() {
        let uid = UniqueId::parse("1.2").unwrap();
        StorageKey::recording(TenantId(1), &uid, "mp3/../../x");
    }
}
