//! `ucm-scraper transcode IN OUT`: the pipeline's convert step alone.

use std::path::PathBuf;

use super::{CommandError, Outcome};
use crate::config::Settings;

/// Needs no database: the only setting it reads is MP3_BITRATE_KBPS, when --bitrate is not
/// given.
pub(super) async fn file(
    input: PathBuf,
    output: PathBuf,
    bitrate: Option<u32>,
) -> Result<Outcome, CommandError> {
    let bitrate = match bitrate {
        Some(kbps) => Some(kbps),
        None => Settings::mp3_bitrate_from_env()?,
    };
    let report = tokio::task::spawn_blocking(move || {
        crate::transcode::transcode_file(&input, &output, bitrate)
    })
    .await??;
    println!("Converted to MP3: {report}");
    Ok(Outcome::Success)
}
