//! The half of the pipeline after a download: convert → upload → record → trigger AI, and
//! the same steps for a recording kept without a call ([`Keeper`]).

use std::path::{Path, PathBuf};
use std::slice;
use std::sync::Arc;

use sqlx::PgPool;
use tracing::{error, info, warn};

use super::pass::PassStop;
use super::MAX_ATTEMPTS;
use crate::ai::{AiJob, AiTrigger};
use crate::calls::{self, Call, Charge};
use crate::console::Downloaded;
use crate::failure::{Decision, Failure, NextStep};
use crate::ids::TenantId;
use crate::metrics::{Metrics, Stage};
use crate::storage::{Keys, ObjectStore, StorageError};
use crate::transcode::{self, TranscodeError};
use crate::unmatched::{Keeper, Kept};

/// The half of the pipeline after a download: convert → upload → record → trigger AI.
/// Cheap to clone, so each downloaded file is finished in its own task while the browser
/// waits out the console's download gap.
#[derive(Clone)]
pub(super) struct Recorder {
    pub(super) pool: PgPool,
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) ai: Option<Arc<AiTrigger>>,
    pub(super) bucket: String,
    pub(super) bitrate_kbps: Option<u32>,
    pub(super) metrics: Arc<Metrics>,
}

/// Why a downloaded recording was not stored, by the step that failed; what happens next is
/// the failing part's own answer.
#[derive(Debug, thiserror::Error)]
enum RecordingError {
    #[error("the downloaded file is not a recording: {0}")]
    NotARecording(TranscodeError),
    #[error(transparent)]
    Upload(StorageError),
    /// Uploaded but not recorded in `cdr_records`.
    #[error(transparent)]
    Record(calls::CallsError),
}

impl RecordingError {
    fn stage(&self) -> Stage {
        match self {
            Self::NotARecording(_) => Stage::Transcode,
            Self::Upload(_) => Stage::Upload,
            Self::Record(_) => Stage::Record,
        }
    }
}

impl Failure for RecordingError {
    fn next_step(&self) -> NextStep {
        match self {
            Self::NotARecording(error) => error.next_step(),
            Self::Upload(error) => error.next_step(),
            Self::Record(error) => error.next_step(),
        }
    }
}

/// How one downloaded recording ended.
pub(super) enum Finished {
    Stored,
    /// Not stored: a charged failed attempt ([`NextStep::RetryCall`]), one held back by a
    /// service ([`NextStep::WaitForService`], which the pass reports), or given back uncharged
    /// because storage refused the configuration ([`NextStep::StopPass`]).
    NotStored(Decision),
}

impl Recorder {
    /// Converts, uploads, records and triggers one downloaded recording.
    /// The working files are removed whatever happens: the console keeps the original, and a
    /// failed call is fetched again on a later pass.
    pub(super) async fn finish(&self, call: Call, file: Downloaded, stop: &PassStop) -> Finished {
        let mp3 = file.path.with_extension("mp3");
        let result = self
            .store_recording(&call, &file.path, file.bytes, &mp3)
            .await;
        remove_quietly(&file.path).await;
        remove_quietly(&mp3).await;
        let error = match result {
            Ok(()) => return Finished::Stored,
            Err(error) => error,
        };
        let stage = error.stage();
        self.metrics.failure(stage);
        let decision = error.decision();
        let reason = &decision.message;
        match decision.next_step {
            NextStep::StopPass => {
                error!(
                    stage = stage.as_str(),
                    "Recording of call {} not stored, and no other can be: {reason}. Stopping the \
                     pass; its calls go back uncharged",
                    call.uniqueid
                );
                stop.storage_refused(reason.clone());
                let given = slice::from_ref(&call);
                record_or_warn(
                    calls::give_back(&self.pool, given, Charge::Refunded, None).await,
                    "give-back",
                );
            }
            // The call's own failure, or a service's (storage, the database): charged alike.
            NextStep::RetryCall
            | NextStep::RetryCallUncharged
            | NextStep::EndCall
            | NextStep::NotListed
            | NextStep::KeepOriginal
            | NextStep::WaitForService
            | NextStep::StopTenant
            | NextStep::StopTenantUncharged
            | NextStep::BlockTenant => {
                error!(
                    stage = stage.as_str(),
                    "Recording of call {} not stored: {reason}", call.uniqueid
                );
                record_or_warn(
                    calls::mark_failed(&self.pool, call.id, reason, MAX_ATTEMPTS).await,
                    "failure",
                );
            }
        }
        Finished::NotStored(decision)
    }

    async fn store_recording(
        &self,
        call: &Call,
        wav: &Path,
        original_bytes: u64,
        mp3: &Path,
    ) -> Result<(), RecordingError> {
        let keys = Keys::recording(call.tenant_id, &call.uniqueid);
        let kept = self.upload(wav, original_bytes, mp3, keys).await?;
        self.record_stored(call, kept).await
    }

    /// Converts (keeping the original when the transcoder cannot) and uploads under the key
    /// of the format stored.
    async fn upload(
        &self,
        wav: &Path,
        original_bytes: u64,
        mp3: &Path,
        keys: Keys,
    ) -> Result<Kept, RecordingError> {
        let (upload, key, content_type, stored_bytes) =
            match self.convert(wav.to_path_buf(), mp3.to_path_buf()).await {
                Ok(report) => {
                    info!("Converted to MP3: {report}");
                    (mp3, keys.mp3, "audio/mpeg", report.output_bytes)
                }
                Err(error) if error.next_step() == NextStep::KeepOriginal => {
                    warn!("Failed to convert to MP3: {error}. Using original file.");
                    (wav, keys.wav, "audio/wav", original_bytes)
                }
                Err(error) => return Err(RecordingError::NotARecording(error)),
            };
        self.store
            .put_file(&key, upload, content_type)
            .await
            .map_err(RecordingError::Upload)?;
        Ok(Kept {
            key,
            stored_bytes,
            original_bytes,
        })
    }

    /// Records the call stored under `kept.key` and triggers AI. Upload first, then record: a
    /// crash between the two only causes an idempotent re-upload of the same key on a later
    /// pass, never a row pointing at nothing.
    async fn record_stored(&self, call: &Call, kept: Kept) -> Result<(), RecordingError> {
        let Kept {
            key,
            stored_bytes,
            original_bytes,
        } = kept;
        calls::mark_stored(
            &self.pool,
            call.id,
            key.as_str(),
            stored_bytes as i64,
            original_bytes as i64,
        )
        .await
        .map_err(RecordingError::Record)?;
        self.metrics.recording_stored(original_bytes, stored_bytes);
        info!(
            event = "RecordingStored",
            "Stored {}",
            self.store.location(&key)
        );
        self.trigger_ai(
            call.tenant_id,
            call.id,
            &call.uniqueid,
            key.as_str(),
            call.duration,
        )
        .await;
        Ok(())
    }

    async fn convert(
        &self,
        wav: PathBuf,
        mp3: PathBuf,
    ) -> Result<transcode::TranscodeReport, TranscodeError> {
        let bitrate = self.bitrate_kbps;
        tokio::task::spawn_blocking(move || transcode::transcode_file(&wav, &mp3, bitrate))
            .await
            .expect("the transcoder does not panic")
    }

    async fn trigger_ai(
        &self,
        tenant_id: TenantId,
        call_id: i64,
        uniqueid: &crate::ids::UniqueId,
        key: &str,
        duration: Option<i32>,
    ) {
        let Some(ai) = &self.ai else { return };
        let job = AiJob {
            tenant_id,
            call_id,
            uniqueid: uniqueid.clone(),
            bucket: self.bucket.clone(),
            key: key.to_string(),
            duration_secs: duration.map(i64::from),
        };
        match ai.trigger(&job).await {
            Ok(()) => record_or_warn(
                calls::mark_ai_triggered(&self.pool, call_id).await,
                "AI trigger",
            ),
            Err(error) => {
                self.metrics.failure(Stage::Trigger);
                warn!(%error, "AI processing not triggered for call {uniqueid}; retried on the next pass");
            }
        }
    }

    /// Triggers left pending by an earlier pass (the webhook was down) are sent again first.
    pub(super) async fn retry_ai_triggers(&self, tenant: TenantId) {
        if self.ai.is_none() {
            return;
        }
        match calls::pending_ai_triggers(&self.pool, tenant).await {
            Ok(pending) => {
                for call in pending {
                    let Ok(uniqueid) = crate::ids::UniqueId::parse(&call.uniqueid) else {
                        continue; // claim() already marked such a row failed
                    };
                    self.trigger_ai(tenant, call.call_id, &uniqueid, &call.key, call.duration)
                        .await;
                }
            }
            Err(error) => warn!(%error, "Could not read pending AI triggers"),
        }
    }
}

/// The recorder as [`crate::unmatched`] uses it during one tenant's pass: a storage refusal
/// while keeping a recording stops the pass for every tenant, as a call's would.
pub(super) struct PassKeeper<'a> {
    pub(super) recorder: &'a Recorder,
    pub(super) stop: &'a PassStop,
}

#[async_trait::async_trait]
impl Keeper for PassKeeper<'_> {
    async fn keep(&self, file: Downloaded, keys: Keys) -> Result<Kept, Decision> {
        let mp3 = file.path.with_extension("mp3");
        let kept = self
            .recorder
            .upload(&file.path, file.bytes, &mp3, keys)
            .await;
        remove_quietly(&file.path).await;
        remove_quietly(&mp3).await;
        kept.map_err(|error| self.decided(&error))
    }

    async fn linked(&self, call: &Call, kept: Kept) -> Result<(), Decision> {
        self.recorder
            .record_stored(call, kept)
            .await
            .map_err(|error| self.decided(&error))
    }
}

impl PassKeeper<'_> {
    /// The failure's decision, after stopping the pass when it says so.
    fn decided(&self, error: &RecordingError) -> Decision {
        let decision = error.decision();
        if decision.next_step == NextStep::StopPass {
            self.stop.storage_refused(decision.message.clone());
        }
        decision
    }
}

async fn remove_quietly(path: &Path) {
    match tokio::fs::remove_file(path).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => warn!(%error, path = %path.display(), "Could not remove a working file"),
    }
}

/// Bookkeeping that fails is logged, not fatal: the lease brings the call back.
pub(super) fn record_or_warn<T, E: std::fmt::Display>(result: Result<T, E>, what: &str) {
    if let Err(error) = result {
        warn!(%error, "Could not record the {what} in the database; the call comes back after its lease");
    }
}
