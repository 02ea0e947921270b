//! One tenant's live console, for `tenant test` and `selectors check --tenant`.

use super::{database, CommandError, Schema};
use crate::config::Settings;
use crate::console::Window;
use crate::ids::TenantId;
use crate::probe::{self, ApiProbe, Probe};

/// Logs into the tenant's console and reports. Migrates first: the login's outcome goes into
/// the tenant's row.
pub(super) async fn tenant(
    settings: &Settings,
    window: Window,
    id: TenantId,
    api: ApiProbe,
) -> Result<Probe, CommandError> {
    let pool = database(settings, Schema::Migrate).await?;
    Ok(probe::probe(&pool, settings, window, id, api).await?)
}
