//! Why a recording could not be converted, classified by what the caller does next.

use std::io;
use std::path::PathBuf;

use super::encode::LameFailure;
use crate::failure::{Failure, NextStep};

/// A refused or failed conversion. Nothing is left under the output name in any case.
///
/// Its [`next_step`](Failure::next_step) tells the pipeline whether the downloaded file is still
/// a recording worth uploading as it is (README: Transcoding), or a failed download to fetch again.
#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    #[error(
        "converting {path} to MP3: the file is empty (0 bytes), the download produced no \
         recording; no MP3 was written, download it again"
    )]
    Empty { path: PathBuf },

    #[error(
        "converting {path} to MP3: its WAV header announces audio but the file holds no \
         samples; no MP3 was written, download it again"
    )]
    NoSamples { path: PathBuf },

    #[error(
        "converting {path} to MP3: the file is an HTML page, not a WAV recording: the console \
         session has expired and the console answered the download with a web page; no MP3 was \
         written, log in again and download it again"
    )]
    HtmlPage { path: PathBuf },

    #[error(
        "converting {path} to MP3: it is not a RIFF/WAVE file (it starts with {shown}); no MP3 \
         was written, the original file is kept as it is",
        shown = show_bytes(.first_bytes)
    )]
    NotWav { path: PathBuf, first_bytes: Vec<u8> },

    #[error(
        "converting {path} to MP3: its audio is {name} (WAV format tag {tag:#06x}), which the \
         transcoder does not decode; no MP3 was written, the original file is kept as it is"
    )]
    UnsupportedCodec {
        path: PathBuf,
        tag: u16,
        name: &'static str,
    },

    #[error(
        "converting {path} to MP3: {problem}; no MP3 was written, the original file is kept as \
         it is"
    )]
    BadHeader { path: PathBuf, problem: String },

    #[error("converting {path} to MP3: {action} failed: {source}; no MP3 was written")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },

    #[error(
        "converting {path} to MP3: {source}; no MP3 was written, the original file is kept as \
         it is"
    )]
    Encode {
        path: PathBuf,
        #[source]
        source: LameFailure,
    },
}

impl TranscodeError {
    /// The console's session expired and its login page was saved under the recording's name.
    pub fn is_html_page(&self) -> bool {
        matches!(self, Self::HtmlPage { .. })
    }
}

impl Failure for TranscodeError {
    /// Audio the transcoder cannot convert is still worth uploading as the original recording;
    /// a failed download (empty, no samples, a web page) or a failing machine (I/O) is this
    /// call's failed attempt, which a later one may cure.
    fn next_step(&self) -> NextStep {
        match self {
            Self::NotWav { .. }
            | Self::UnsupportedCodec { .. }
            | Self::BadHeader { .. }
            | Self::Encode { .. } => NextStep::KeepOriginal,
            Self::Empty { .. }
            | Self::NoSamples { .. }
            | Self::HtmlPage { .. }
            | Self::Io { .. } => NextStep::RetryCall,
        }
    }
}

/// `47 53 46 46 … "GSFF…"`: hex for the exact bytes, text for a quick read.
fn show_bytes(bytes: &[u8]) -> String {
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let text: String = bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '.'
            }
        })
        .collect();
    format!("{} {text:?}", hex.join(" "))
}
