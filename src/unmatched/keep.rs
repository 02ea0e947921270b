//! Keeping the noticed recordings (`UNMATCHED_RECORDINGS=store`): each downloaded through the
//! driver and handed to the [`Keeper`], oldest first, within the pass's budget; a failure
//! that is the recording's own moves on to the next, any other ends the keeping for this pass.

use std::ops::ControlFlow;

use tracing::{info, warn};

use super::table::{self, Entry, Stored};
use super::{Keeper, Keeping, PassTenant, ReadError, Unmatched};
use crate::console::{Downloaded, ListedRecording};
use crate::driver::Driver;
use crate::failure::{Failure, NextStep};
use crate::ids::TenantId;
use crate::storage::Keys;

impl Unmatched {
    /// Downloads and keeps the noticed recordings not kept yet, oldest first.
    pub(super) async fn keep(
        &self,
        driver: &mut dyn Driver,
        tenant: PassTenant<'_>,
        keeping: Keeping<'_>,
    ) {
        let Keeping {
            keeper,
            budget,
            stop,
        } = keeping;
        let entries = match table::to_keep(&self.pool, tenant.id, budget as i64).await {
            Ok(entries) => entries,
            Err(error) => return warn!("{error}"),
        };
        for entry in entries {
            if stop.is_cancelled() {
                break;
            }
            if let Err(error) = self.keep_one(driver, tenant.id, &entry, keeper).await {
                warn!("{error}");
                if after(error.next_step()).is_break() {
                    break;
                }
            }
        }
    }

    async fn keep_one(
        &self,
        driver: &mut dyn Driver,
        tenant: TenantId,
        entry: &Entry,
        keeper: &dyn Keeper,
    ) -> Result<(), ReadError> {
        let no_safe_key = |file: &str| ReadError::NoSafeKey {
            tenant,
            file: file.to_string(),
        };
        // Not downloaded at all when it could not be stored under a safe key.
        let named_keys = match entry.file_name() {
            Some(name) => Some(Keys::unmatched(tenant, name).ok_or_else(|| no_safe_key(name))?),
            None => None,
        };
        let listed: ListedRecording = entry.listed();
        let file = match driver.fetch_listed(&listed, &entry.file).await {
            Ok(file) => file,
            // Positive evidence that the console no longer lists it.
            Err(error) if error.next_step() == NextStep::NotListed => {
                table::mark_lost(&self.pool, tenant, &entry.file).await?;
                warn!(
                    event = "UnmatchedRecordingLost",
                    "Recording {} of tenant {tenant} is lost: the console deleted it before it \
                     was kept, and no CDR row ever referenced it",
                    entry.file
                );
                return Ok(());
            }
            Err(error) => return Err(ReadError::Download { tenant, error }),
        };
        if !entry.named && self.is_a_calls(tenant, entry, &file).await? {
            return Ok(());
        }
        let keys = match named_keys {
            Some(keys) => keys,
            None => match Keys::unmatched(tenant, &file.file_name) {
                Some(keys) => keys,
                None => {
                    let error = no_safe_key(&file.file_name);
                    discard(&file);
                    return Err(error);
                }
            },
        };
        let name = file.file_name.clone();
        let kept = keeper
            .keep(file, keys)
            .await
            .map_err(|reason| ReadError::Keep {
                tenant,
                file: entry.file.clone(),
                reason,
            })?;
        let stored = Stored {
            name: &name,
            key: kept.key.as_str(),
            stored_bytes: kept.stored_bytes as i64,
            original_bytes: kept.original_bytes as i64,
        };
        table::mark_stored(&self.pool, tenant, &entry.file, stored).await?;
        info!(
            event = "UnmatchedRecordingKept",
            "Kept recording {name} (no CDR row yet) as {}",
            self.store.location(&kept.key)
        );
        Ok(())
    }

    /// Whether the download of a recording noticed without a file name turns out, by the name
    /// it came with, to be a known call's: then it is that call's, noted so, and not kept.
    async fn is_a_calls(
        &self,
        tenant: TenantId,
        entry: &Entry,
        file: &Downloaded,
    ) -> Result<bool, ReadError> {
        let Some(call) = table::referencing_call(&self.pool, tenant, &file.file_name).await? else {
            return Ok(false);
        };
        table::mark_matched(&self.pool, tenant, &entry.file, call).await?;
        info!(
            "Recording {} downloaded as {} is the recording of a known call (cdr_records id \
             {call}); not kept",
            entry.file, file.file_name
        );
        discard(file);
        Ok(true)
    }
}

/// Removes a downloaded recording that is not kept.
fn discard(file: &Downloaded) {
    if let Err(error) = std::fs::remove_file(&file.path) {
        warn!(%error, "Could not remove {}", file.path.display());
    }
}

/// Whether keeping goes on after a failure with this next step: on to the next recording when
/// the failure is this recording's own; stopped for this pass when the driver, storage or the
/// database is in trouble, or the pass stops.
fn after(step: NextStep) -> ControlFlow<()> {
    match step {
        NextStep::RetryCall
        | NextStep::RetryCallUncharged
        | NextStep::EndCall
        | NextStep::NotListed
        | NextStep::KeepOriginal => ControlFlow::Continue(()),
        NextStep::WaitForService
        | NextStep::StopTenant
        | NextStep::StopTenantUncharged
        | NextStep::BlockTenant
        | NextStep::StopPass => ControlFlow::Break(()),
    }
}
