//! `recapi` answers: the guide names no content type, so audio is told from an error by its
//! bytes. A WAV file starts with a RIFF/WAVE header; an error is the API's JSON, or the older
//! REC API's plain "404: Not Found".

use serde_json::Value;

use super::error::ApiErrorKind;

/// The directory `recapi` looks in (`filedir`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileDir {
    /// Ordinary call recordings (the guide's default).
    Monitor,
    /// Queue call recordings.
    Queue,
    Emergency,
    Meetme,
    Sca,
}

impl FileDir {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Monitor => "monitor",
            Self::Queue => "queue",
            Self::Emergency => "emergency",
            Self::Meetme => "meetme",
            Self::Sca => "sca",
        }
    }
}

/// What a `recapi` answer is.
#[derive(Debug, PartialEq, Eq)]
pub enum RecapiAnswer {
    /// A WAV recording.
    Audio,
    /// The API's JSON with a status.
    Status {
        status: i64,
        remain_num: Option<u64>,
        remain_time: Option<u64>,
    },
    /// The older REC API's answer for a file it does not have.
    NotFound,
    /// Anything else: neither audio nor an answer the guide describes.
    Other,
}

/// Tells the answer's kind from its first bytes.
pub fn classify(body: &[u8]) -> RecapiAnswer {
    if is_wav(body) {
        return RecapiAnswer::Audio;
    }
    if let Ok(answer) = serde_json::from_slice::<Value>(body) {
        if let Some(status) = answer.get("status").and_then(Value::as_i64) {
            let (remain_num, remain_time) = remains(&answer);
            return RecapiAnswer::Status {
                status,
                remain_num,
                remain_time,
            };
        }
    }
    if String::from_utf8_lossy(body).trim() == "404: Not Found" {
        return RecapiAnswer::NotFound;
    }
    RecapiAnswer::Other
}

/// A RIFF container of WAVE audio: bytes 0..4 `RIFF`, 8..12 `WAVE`.
fn is_wav(body: &[u8]) -> bool {
    body.len() >= 12 && &body[0..4] == b"RIFF" && &body[8..12] == b"WAVE"
}

/// `remain_num` and `remain_time` of a login answer, wherever the console puts them (at the top
/// level, or inside `response`: the guide lists them beside `status` without saying).
pub fn remains(answer: &Value) -> (Option<u64>, Option<u64>) {
    let field = |key: &str| {
        answer
            .get(key)
            .or_else(|| answer.pointer(&format!("/response/{key}")))
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.trim().parse().ok()))
    };
    (field("remain_num"), field("remain_time"))
}

/// Whether the API road fetches this file: GDMS/NAS files (`.venc`) need another request shape
/// (`path_type`, `uniquecode`) and are encrypted, so they are left to the browser.
pub fn check_fetchable(filename: &str) -> Result<(), ApiErrorKind> {
    if filename.to_ascii_lowercase().ends_with(".venc") {
        return Err(ApiErrorKind::VencOutOfScope);
    }
    Ok(())
}

/// The first bytes of an unexpected answer, printable, for the error message.
pub fn preview(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_is_told_from_errors_by_its_bytes() {
        let mut wav = b"RIFF\x24\x00\x00\x00WAVEfmt ".to_vec();
        wav.extend([0u8; 16]);
        assert_eq!(classify(&wav), RecapiAnswer::Audio);
        assert_eq!(
            classify(br#"{"response":{},"status":-16}"#),
            RecapiAnswer::Status {
                status: -16,
                remain_num: None,
                remain_time: None
            }
        );
        assert_eq!(classify(b"404: Not Found\n"), RecapiAnswer::NotFound);
        assert_eq!(classify(b"<html>login</html>"), RecapiAnswer::Other);
        assert_eq!(classify(b"RIFF\0\0\0\0AVI "), RecapiAnswer::Other);
    }

    #[test]
    fn remains_are_read_at_either_level_and_venc_is_refused() {
        let top = serde_json::json!({ "status": -37, "remain_num": 3 });
        assert_eq!(remains(&top), (Some(3), None));
        let inside = serde_json::json!({ "status": -68, "response": { "remain_time": "300" } });
        assert_eq!(remains(&inside), (None, Some(300)));
        assert!(matches!(
            check_fetchable("auto-1-2015-2002.VENC"),
            Err(ApiErrorKind::VencOutOfScope)
        ));
        assert!(check_fetchable("auto-1-2015-2002.wav").is_ok());
    }
}
