//! Test audio made from real telephone speech, and a look inside the MP3s made from it.
//!
//! The speech is Debian's `asterisk-core-sounds-en-wav` (8 kHz 16-bit mono prompts, the sound of
//! a real call recording) joined and converted by `sox`; both come from `scripts/install-deps.sh`.
//!
//! ```ignore
//! audio::speech_wav(&path, 3.0, 8_000, 1);                       // 3 s, like a UCM recording
//! audio::speech_wav_as(&path, 3.0, 8_000, 1, Encoding::MuLaw);   // the same speech, G.711
//! let mp3 = audio::decode_mp3(&mp3_path);                        // rate, channels, duration
//! ```
//! The benches include this file by path, so it uses nothing else from `tests/support`.
#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory of the 8 kHz prompts, as `scripts/speech-dir.sh` finds it (the one place that
/// knows: it asks dpkg where the installed package put them). Asked once per test process.
pub fn prompts_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/speech-dir.sh");
        let out = Command::new(&script)
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", script.display());
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// Sample encodings `sox` writes into WAV, each with its WAV format tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// 8-bit unsigned, 16/24/32-bit signed PCM (24 and 32 bits come as WAVE_FORMAT_EXTENSIBLE).
    Pcm(u8),
    /// IEEE float, 32 or 64 bits.
    Float(u8),
    /// G.711 µ-law, tag 7.
    MuLaw,
    /// G.711 A-law, tag 6.
    ALaw,
    /// GSM 6.10, tag 0x31: a codec the transcoder refuses.
    Gsm,
}

impl Encoding {
    fn sox_args(self) -> Vec<String> {
        let (encoding, bits) = match self {
            Self::Pcm(8) => ("unsigned-integer", Some(8)),
            Self::Pcm(bits) => ("signed-integer", Some(bits)),
            Self::Float(bits) => ("floating-point", Some(bits)),
            Self::MuLaw => ("mu-law", None),
            Self::ALaw => ("a-law", None),
            Self::Gsm => ("gsm-full-rate", None),
        };
        let mut args = vec!["-e".to_string(), encoding.to_string()];
        if let Some(bits) = bits {
            args.extend(["-b".to_string(), bits.to_string()]);
        }
        args
    }
}

/// Writes `secs` of real speech as a 16-bit PCM WAV at `rate` Hz. With two channels each
/// channel carries different prompts, like caller and callee on separate channels.
pub fn speech_wav(path: &Path, secs: f64, rate: u32, channels: u16) {
    speech_wav_as(path, secs, rate, channels, Encoding::Pcm(16));
}

/// Like [`speech_wav`], in another sample encoding.
pub fn speech_wav_as(path: &Path, secs: f64, rate: u32, channels: u16, encoding: Encoding) {
    assert!(
        (1..=2).contains(&channels),
        "speech_wav makes mono or stereo"
    );
    let mut args: Vec<String> = Vec::new();
    if channels == 2 {
        // -M: one input per channel. The second voice runs through the prompts backwards.
        args.push("-M".into());
        args.extend(speech_input(secs, false));
        args.extend(speech_input(secs, true));
    } else {
        args.extend(speech_input(secs, false));
    }
    args.extend(encoding.sox_args());
    args.extend([
        "-r".into(),
        rate.to_string(),
        "-c".into(),
        channels.to_string(),
    ]);
    args.push(path.display().to_string());
    args.extend(["trim".into(), "0".into(), format!("{secs}")]);
    sox(&args);
}

/// Stereo speech with the second channel silent: a call where only the caller speaks, to show
/// that the channels stay apart.
pub fn speech_left_silence_right(path: &Path, secs: f64, rate: u32) {
    let mut args = vec!["-M".to_string()];
    args.extend(speech_input(secs, false));
    // `-v 0` silences the next input: the same prompts, at volume 0.
    args.extend(["-v".into(), "0".into()]);
    args.extend(speech_input(secs, false));
    args.extend(Encoding::Pcm(16).sox_args());
    args.extend(["-r".into(), rate.to_string()]);
    args.push(path.display().to_string());
    args.extend(["trim".into(), "0".into(), format!("{secs}")]);
    sox(&args);
}

/// A `sox` input of at least `secs` of prompts. `|cmd` is sox's own way to nest a command, so
/// however many prompt files it takes they become one input (one channel with `-M`); beyond one
/// pass through the prompts, `repeat` loops them rather than growing the command line.
fn speech_input(secs: f64, backwards: bool) -> Vec<String> {
    let mut prompts = prompt_files();
    if backwards {
        prompts.reverse();
    }
    let mut chosen = Vec::new();
    let mut total = 0.0;
    // 8 kHz 16-bit mono: 16,000 bytes a second; one spare second covers the headers.
    for prompt in &prompts {
        if total > secs + 1.0 {
            break;
        }
        total += std::fs::metadata(prompt).unwrap().len() as f64 / 16_000.0;
        chosen.push(prompt.display().to_string());
    }
    let repeats = ((secs + 1.0) / total).ceil() as u32;
    vec![format!(
        "|sox {} -t wav -r 8000 -c 1 - repeat {}",
        chosen.join(" "),
        repeats.saturating_sub(1)
    )]
}

fn prompt_files() -> Vec<PathBuf> {
    let dir = prompts_dir();
    let mut prompts: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/install-deps.sh", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wav"))
        .collect();
    prompts.sort();
    prompts
}

/// Runs `sox` with `args`, failing the test with its stderr.
pub fn sox(args: &[String]) {
    let out = Command::new("sox")
        .args(args)
        .output()
        .expect("run sox (install it with scripts/install-deps.sh)");
    assert!(
        out.status.success(),
        "sox {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Frames (samples per channel) in an audio file, as `soxi` counts them: an oracle independent
/// of the transcoder's own WAV reader.
pub fn soxi_frames(path: &Path) -> u64 {
    let out = Command::new("soxi").arg("-s").arg(path).output().unwrap();
    assert!(out.status.success(), "soxi {}", path.display());
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// What a decoder finds in an MP3.
#[derive(Debug, Clone, PartialEq)]
pub struct Mp3Facts {
    pub sample_rate: u32,
    pub channels: u16,
    /// Bitrate of every audio frame, in kbps (a CBR file has one value).
    pub bitrates_kbps: Vec<u32>,
    /// Samples per channel of one MPEG frame (1152 for MPEG-1, 576 for MPEG-2 and 2.5).
    pub frame_len: u64,
    /// Samples per channel the recording has, with LAME's encoder delay and padding (from its
    /// Info tag) and the tag's own frame removed, as gapless players do.
    pub frames: u64,
    /// The decoded samples, interleaved.
    pub samples: Vec<i16>,
}

impl Mp3Facts {
    pub fn duration_secs(&self) -> f64 {
        self.frames as f64 / f64::from(self.sample_rate)
    }

    /// Mean square of one channel's samples.
    pub fn channel_energy(&self, channel: usize) -> f64 {
        let step = usize::from(self.channels);
        let samples: Vec<f64> = self
            .samples
            .iter()
            .skip(channel)
            .step_by(step)
            .map(|&s| f64::from(s))
            .collect();
        samples.iter().map(|s| s * s).sum::<f64>() / samples.len().max(1) as f64
    }
}

/// Decodes `path` with minimp3 (not LAME) and reads LAME's Info tag. Without a tag (LAME
/// leaves it out when a frame is too small to hold it, e.g. 32 kbps at 44.1 kHz) `frames` counts
/// every decoded sample, delay and padding included.
pub fn decode_mp3(path: &Path) -> Mp3Facts {
    let bytes = std::fs::read(path).unwrap();
    let tag = lame_delay_and_padding(&bytes);
    let mut decoder = minimp3::Decoder::new(bytes.as_slice());
    let mut frames = Vec::new();
    loop {
        match decoder.next_frame() {
            Ok(frame) => frames.push(frame),
            Err(minimp3::Error::Eof) => break,
            Err(e) => panic!("{}: {e:?}", path.display()),
        }
    }
    let first = frames
        .first()
        .unwrap_or_else(|| panic!("{}: no MP3 frames", path.display()));
    let channels = first.channels;
    let sample_rate = first.sample_rate as u32;
    let frame_len = (first.data.len() / channels) as u64;
    for frame in &frames {
        assert_eq!(
            (frame.sample_rate as u32, frame.channels),
            (sample_rate, channels)
        );
    }
    // The Info tag sits in a frame of its own: silence to a decoder, not part of the audio.
    let (audio, delay, padding) = match tag {
        Some((delay, padding)) => (&frames[1..], delay, padding),
        None => (&frames[..], 0, 0),
    };
    let decoded: Vec<i16> = audio.iter().flat_map(|f| f.data.iter().copied()).collect();
    let total = decoded.len() as u64 / channels as u64;
    let kept = total - delay - padding;
    let start = delay as usize * channels;
    Mp3Facts {
        sample_rate,
        channels: channels as u16,
        bitrates_kbps: audio.iter().map(|f| f.bitrate as u32).collect(),
        frame_len,
        frames: kept,
        samples: decoded[start..start + kept as usize * channels].to_vec(),
    }
}

/// Encoder delay and padding, 12 bits each, from the LAME extension of the Info/Xing tag.
fn lame_delay_and_padding(mp3: &[u8]) -> Option<(u64, u64)> {
    let head = &mp3[..mp3.len().min(400)];
    let tag = head.windows(4).position(|w| w == b"Info" || w == b"Xing")?;
    let flags = u32::from_be_bytes(head[tag + 4..tag + 8].try_into().ok()?);
    // Optional fields: frame count, byte count, 100-byte seek table, quality.
    let mut at = tag + 8;
    for (bit, len) in [(1, 4), (2, 4), (4, 100), (8, 4)] {
        if flags & bit != 0 {
            at += len;
        }
    }
    if head.get(at..at + 4)? != b"LAME" {
        return None;
    }
    // 9-byte version, revision, lowpass, peak (4), two gains (2 + 2), flags, bitrate: 21 bytes.
    let d = head.get(at + 21..at + 24)?;
    let delay = (u64::from(d[0]) << 4) | (u64::from(d[1]) >> 4);
    let padding = (u64::from(d[1] & 0x0F) << 8) | u64::from(d[2]);
    Some((delay, padding))
}

/// How to re-wrap the samples of a plain 16-bit PCM WAV in a header of the kind real
/// recorders write. `Default` gives back an equivalent plain file.
#[derive(Debug, Clone, Default)]
pub struct Rewrap {
    /// `WAVE_FORMAT_EXTENSIBLE` (tag 0xFFFE, the real tag in the sub-format GUID).
    pub extensible: bool,
    /// Chunks between `fmt ` and `data`, written with a pad byte after odd sizes.
    pub chunks_before_data: Vec<([u8; 4], Vec<u8>)>,
    /// The RIFF size field; `None` writes the right one.
    pub riff_size: Option<u32>,
    /// The data size field; `None` writes the right one.
    pub data_size: Option<u32>,
    /// Cut the finished file to this many bytes, as a killed recorder leaves it.
    pub cut_to: Option<usize>,
}

/// Writes `plain`'s samples (read with hound) to `out` as `how` says; returns the offset of the
/// first sample byte.
pub fn rewrap(plain: &Path, out: &Path, how: &Rewrap) -> usize {
    let mut reader = hound::WavReader::open(plain).unwrap();
    let spec = reader.spec();
    assert_eq!(
        (spec.bits_per_sample, spec.sample_format),
        (16, hound::SampleFormat::Int)
    );
    let data: Vec<u8> = reader
        .samples::<i16>()
        .flat_map(|s| s.unwrap().to_le_bytes())
        .collect();
    let block_align = spec.channels * 2;
    let mut fmt = Vec::new();
    fmt.extend_from_slice(&(if how.extensible { 0xFFFEu16 } else { 1 }).to_le_bytes());
    fmt.extend_from_slice(&spec.channels.to_le_bytes());
    fmt.extend_from_slice(&spec.sample_rate.to_le_bytes());
    fmt.extend_from_slice(&(spec.sample_rate * u32::from(block_align)).to_le_bytes());
    fmt.extend_from_slice(&block_align.to_le_bytes());
    fmt.extend_from_slice(&16u16.to_le_bytes());
    if how.extensible {
        let channel_mask: u32 = if spec.channels == 1 { 0x4 } else { 0x3 };
        fmt.extend_from_slice(&22u16.to_le_bytes()); // cbSize
        fmt.extend_from_slice(&16u16.to_le_bytes()); // valid bits
        fmt.extend_from_slice(&channel_mask.to_le_bytes());
        // KSDATAFORMAT_SUBTYPE_PCM
        fmt.extend_from_slice(&[
            0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38,
            0x9B, 0x71,
        ]);
    }
    let mut body = b"WAVE".to_vec();
    let mut chunks = vec![(*b"fmt ", fmt)];
    chunks.extend(how.chunks_before_data.iter().cloned());
    for (id, content) in &chunks {
        body.extend_from_slice(id);
        body.extend_from_slice(&(content.len() as u32).to_le_bytes());
        body.extend_from_slice(content);
        if content.len() % 2 == 1 {
            body.push(0);
        }
    }
    body.extend_from_slice(b"data");
    body.extend_from_slice(&how.data_size.unwrap_or(data.len() as u32).to_le_bytes());
    let data_offset = 8 + body.len();
    body.extend_from_slice(&data);
    let mut file = b"RIFF".to_vec();
    file.extend_from_slice(&how.riff_size.unwrap_or(body.len() as u32).to_le_bytes());
    file.extend_from_slice(&body);
    file.truncate(how.cut_to.unwrap_or(file.len()));
    std::fs::write(out, file).unwrap();
    data_offset
}
