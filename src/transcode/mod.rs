//! WAV → MP3, the guide's "convert" step: every WAV a call recorder writes, streamed through
//! LAME at a speech bitrate (README: Transcoding).
//!
//! - [`inspect`] reads a header only: right after a download it tells a recording from the
//!   console's login page saved under the recording's name.
//! - [`transcode_file`] converts in bounded memory and writes the MP3 under a temporary name in
//!   the target directory, renamed into place when complete: a crash or a refusal never leaves a
//!   partial MP3 under the final name.

mod encode;
mod error;
mod g711;
pub mod policy;
mod wav;

use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use encode::LameFailure;
pub use error::TranscodeError;
pub use wav::{Codec, WavInfo};

/// What one conversion did, for the log line and the `recording_*_bytes` columns.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscodeReport {
    pub input_bytes: u64,
    pub output_bytes: u64,
    /// Length of the audio converted.
    pub duration: Duration,
    /// Of the MP3 (the input's own whenever MPEG can carry it).
    pub sample_rate: u32,
    pub channels: u16,
    /// The constant bitrate really written, after clamping.
    pub bitrate_kbps: u32,
    /// The input ended early (cut off mid-sample or before its declared length); what was there
    /// was converted.
    pub truncated: bool,
}

impl TranscodeReport {
    /// How much smaller the MP3 is than the WAV, in percent.
    pub fn saving_percent(&self) -> f64 {
        if self.input_bytes == 0 {
            return 0.0;
        }
        (1.0 - self.output_bytes as f64 / self.input_bytes as f64) * 100.0
    }
}

/// The guide's wording, `4.5MB → 0.9MB (saved 80.0%)`, with MB as the guide counts them (MiB).
impl fmt::Display for TranscodeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MB: f64 = 1024.0 * 1024.0;
        write!(
            f,
            "{:.1}MB → {:.1}MB (saved {:.1}%)",
            self.input_bytes as f64 / MB,
            self.output_bytes as f64 / MB,
            self.saving_percent()
        )
    }
}

/// Reads only the header of `path` and checks it against the file's length: cheap, so the
/// download step can call it on every file it receives.
pub fn inspect(path: &Path) -> Result<WavInfo, TranscodeError> {
    wav::open(path).map(|(info, _)| info)
}

/// Converts the WAV at `input` to an MP3 at `output`. Blocking: the pipeline runs it in
/// `spawn_blocking`. `bitrate_override_kbps` replaces the speech policy and is clamped to what
/// MPEG allows at the input's sample rate (see [`policy`]).
pub fn transcode_file(
    input: &Path,
    output: &Path,
    bitrate_override_kbps: Option<u32>,
) -> Result<TranscodeReport, TranscodeError> {
    let (info, mut samples) = wav::open(input)?;
    let output_rate = policy::output_sample_rate(info.sample_rate);
    let settings = encode::Settings {
        input_rate: info.sample_rate,
        output_rate,
        channels: info.channels,
        bitrate_kbps: policy::bitrate_kbps(output_rate, info.channels, bitrate_override_kbps),
    };
    let lame_error = |source| TranscodeError::Encode {
        path: input.to_owned(),
        source,
    };
    let mut encoder = encode::Mp3Encoder::new(&settings).map_err(lame_error)?;
    let mut part = PartialMp3::create(output)?;
    while let Some(block) = samples
        .next_block()
        .map_err(io_error(input, "reading the samples"))?
    {
        part.write(encoder.encode(block).map_err(lame_error)?)?;
    }
    part.write(encoder.finish().map_err(lame_error)?)?;
    let output_bytes = part.complete(encoder.info_tag(), output)?;
    Ok(TranscodeReport {
        input_bytes: info.file_bytes,
        output_bytes,
        duration: info.duration(),
        sample_rate: output_rate,
        channels: info.channels,
        bitrate_kbps: settings.bitrate_kbps,
        truncated: info.truncated,
    })
}

fn io_error(path: &Path, action: &'static str) -> impl Fn(std::io::Error) -> TranscodeError {
    let path = path.to_owned();
    move |source| TranscodeError::Io {
        path: path.clone(),
        action,
        source,
    }
}

/// The MP3 being written, under a hidden temporary name next to its final one (so the rename
/// stays on one file system). Dropped before [`complete`](Self::complete), it is deleted.
struct PartialMp3 {
    file: BufWriter<tempfile::NamedTempFile>,
    path: PathBuf,
    written: u64,
}

impl PartialMp3 {
    fn create(output: &Path) -> Result<Self, TranscodeError> {
        let dir = match output.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let file = tempfile::Builder::new()
            .prefix(".transcode-")
            .suffix(".mp3.part")
            .tempfile_in(dir)
            .map_err(io_error(output, "creating the temporary MP3 next to it"))?;
        Ok(Self {
            path: file.path().to_owned(),
            file: BufWriter::with_capacity(64 * 1024, file),
            written: 0,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), TranscodeError> {
        self.file
            .write_all(bytes)
            .map_err(io_error(&self.path, "writing the MP3"))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Puts the Info tag over the placeholder frame at the start, then renames: the final name
    /// only ever shows a complete MP3, even if the process dies midway. No fsync: the MP3 is
    /// uploaded and dropped within seconds, and after a power cut the call is simply fetched
    /// again (its lease expires), while an fsync added about 0.15 s to a 0.4 s conversion here.
    fn complete(self, info_tag: &[u8], output: &Path) -> Result<u64, TranscodeError> {
        let io = |action| io_error(&self.path, action);
        let part = self
            .file
            .into_inner()
            .map_err(|e| io("writing the MP3")(e.into_error()))?;
        let mut file: &File = part.as_file();
        file.seek(SeekFrom::Start(0))
            .map_err(io("writing the Info tag"))?;
        file.write_all(info_tag)
            .map_err(io("writing the Info tag"))?;
        part.persist(output)
            .map_err(|e| io_error(output, "renaming the temporary MP3 into place")(e.error))?;
        Ok(self.written)
    }
}
