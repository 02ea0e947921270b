//! Our RIFF/WAVE chunk reader: every WAV a call recorder writes, read as a stream.
//!
//! hound 3.5 reads the tidy files only: no G.711, a data size of 0 reads as silence and
//! 0xFFFFFFFF fails (hound's source), so the header is walked here, chunk by chunk, and the
//! samples are decoded here too, one bounded block at a time, into the full-scale 32-bit
//! integers LAME takes (`lame_encode_buffer_int`, as the `lame` command feeds it).

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::time::Duration;

use super::g711;
use super::TranscodeError;

/// Frames decoded per block: large enough that per-call overhead vanishes against LAME's work,
/// small enough that memory stays a few hundred KiB whatever the recording's length.
const BLOCK_FRAMES: usize = 8192;
/// How much of a file that is not a WAV is examined to recognise an HTML page.
const SNIFF_BYTES: usize = 512;
/// A `fmt ` chunk longer than this is not a format description but a damaged header.
const MAX_FMT_BYTES: u32 = 1024;

const WAVE_FORMAT_PCM: u16 = 0x0001;
const WAVE_FORMAT_IEEE_FLOAT: u16 = 0x0003;
const WAVE_FORMAT_ALAW: u16 = 0x0006;
const WAVE_FORMAT_MULAW: u16 = 0x0007;
const WAVE_FORMAT_EXTENSIBLE: u16 = 0xFFFE;

/// How the samples are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    Pcm8,
    Pcm16,
    Pcm24,
    Pcm32,
    Float32,
    Float64,
    ALaw,
    MuLaw,
}

impl Codec {
    fn bytes_per_sample(self) -> usize {
        match self {
            Self::Pcm8 | Self::ALaw | Self::MuLaw => 1,
            Self::Pcm16 => 2,
            Self::Pcm24 => 3,
            Self::Pcm32 | Self::Float32 => 4,
            Self::Float64 => 8,
        }
    }

    /// Appends `bytes` (whole samples) to `out` as full-scale 32-bit integers.
    fn decode(self, bytes: &[u8], out: &mut Vec<i32>) {
        out.extend(
            bytes
                .chunks_exact(self.bytes_per_sample())
                .map(|s| match self {
                    Self::Pcm8 => (i32::from(s[0]) - 128) << 24,
                    Self::Pcm16 => i32::from(i16::from_le_bytes([s[0], s[1]])) << 16,
                    Self::Pcm24 => i32::from_le_bytes([0, s[0], s[1], s[2]]),
                    Self::Pcm32 => i32::from_le_bytes([s[0], s[1], s[2], s[3]]),
                    Self::Float32 => {
                        float_to_i32(f64::from(f32::from_le_bytes([s[0], s[1], s[2], s[3]])))
                    }
                    Self::Float64 => {
                        float_to_i32(f64::from_le_bytes(s.try_into().expect("8-byte sample")))
                    }
                    Self::ALaw => i32::from(g711::ALAW[usize::from(s[0])]) << 16,
                    Self::MuLaw => i32::from(g711::ULAW[usize::from(s[0])]) << 16,
                }),
        );
    }
}

/// Float samples are nominally in [-1, 1]; louder ones clip as they would on playback, and the
/// saturating cast keeps +1.0 (and NaN, as 0) in range.
fn float_to_i32(sample: f64) -> i32 {
    (sample.clamp(-1.0, 1.0) * 2_147_483_648.0) as i32
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pcm8 => "8-bit PCM",
            Self::Pcm16 => "16-bit PCM",
            Self::Pcm24 => "24-bit PCM",
            Self::Pcm32 => "32-bit PCM",
            Self::Float32 => "32-bit float",
            Self::Float64 => "64-bit float",
            Self::ALaw => "G.711 A-law",
            Self::MuLaw => "G.711 µ-law",
        })
    }
}

/// What a WAV header says, checked against the file's real length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WavInfo {
    pub codec: Codec,
    pub sample_rate: u32,
    pub channels: u16,
    /// Whole frames (one sample per channel) present in the file.
    pub frames: u64,
    /// The file ends before its header says it should, or in the middle of a frame.
    pub truncated: bool,
    /// The writer never filled in the data size (0 or 0xFFFFFFFF): the data runs to the end.
    pub size_unpatched: bool,
    /// Size of the whole file.
    pub file_bytes: u64,
    block_align: u16,
}

impl WavInfo {
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.frames as f64 / f64::from(self.sample_rate))
    }
}

/// The `fmt ` chunk, reduced to what decoding needs.
struct Format {
    codec: Codec,
    sample_rate: u32,
    channels: u16,
    block_align: u16,
}

/// Reads the header of `path` and leaves the reader at the first sample.
pub fn open(path: &Path) -> Result<(WavInfo, Samples), TranscodeError> {
    let io_err = |action| {
        move |source| TranscodeError::Io {
            path: path.to_owned(),
            action,
            source,
        }
    };
    let file = File::open(path).map_err(io_err("opening the WAV file"))?;
    let file_len = file
        .metadata()
        .map_err(io_err("reading the WAV file's size"))?
        .len();
    if file_len == 0 {
        return Err(TranscodeError::Empty {
            path: path.to_owned(),
        });
    }
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let info = read_header(path, &mut reader, file_len).map_err(|e| match e {
        HeaderError::Io(source) => io_err("reading the WAV header")(source),
        HeaderError::Refused(refusal) => refusal,
    })?;
    let samples = Samples {
        reader,
        codec: info.codec,
        bytes_left: info.frames * u64::from(info.block_align),
        block_bytes: BLOCK_FRAMES * usize::from(info.block_align),
        bytes: Vec::new(),
        decoded: Vec::new(),
    };
    Ok((info, samples))
}

enum HeaderError {
    Io(io::Error),
    Refused(TranscodeError),
}

impl From<io::Error> for HeaderError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<TranscodeError> for HeaderError {
    fn from(e: TranscodeError) -> Self {
        Self::Refused(e)
    }
}

/// Walks the chunks up to `data`; `LIST`, `fact`, `bext`, `JUNK` and any other chunk is skipped
/// with its pad byte (chunks are word-aligned, so an odd size is followed by one more byte).
fn read_header(
    path: &Path,
    reader: &mut BufReader<File>,
    file_len: u64,
) -> Result<WavInfo, HeaderError> {
    let mut start = [0u8; SNIFF_BYTES];
    let got = read_up_to(reader, &mut start[..12])?;
    if got < 12 || &start[0..4] != b"RIFF" || &start[8..12] != b"WAVE" {
        let got = got + read_up_to(reader, &mut start[got..])?;
        return Err(not_wav(path, &start[..got]).into());
    }
    let bad = |problem: String| TranscodeError::BadHeader {
        path: path.to_owned(),
        problem,
    };
    let mut position = 12u64;
    let mut format = None;
    loop {
        let mut chunk = [0u8; 8];
        if read_up_to(reader, &mut chunk)? < 8 {
            return Err(match format {
                Some(_) => TranscodeError::NoSamples {
                    path: path.to_owned(),
                },
                None => bad("the WAV header has no fmt chunk".into()),
            }
            .into());
        }
        position += 8;
        let size = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
        match &chunk[0..4] {
            b"data" => {
                let format = format
                    .ok_or_else(|| bad("the data chunk comes before the fmt chunk".into()))?;
                return Ok(data_extent(path, format, size, position, file_len)?);
            }
            b"fmt " => {
                if !(16..=MAX_FMT_BYTES).contains(&size) {
                    return Err(bad(format!("the fmt chunk is {size} bytes long")).into());
                }
                let mut body = vec![0u8; size as usize];
                reader.read_exact(&mut body)?;
                format = Some(parse_format(path, &body)?);
                reader.seek_relative(i64::from(size & 1))?;
            }
            _ => reader.seek_relative(i64::from(size) + i64::from(size & 1))?,
        }
        position += u64::from(size) + u64::from(size & 1);
    }
}

/// How much of the data chunk is really there. Recorders that are killed never patch the size
/// (0, or 0xFFFFFFFF from streaming writers): then the samples run to the end of the file.
fn data_extent(
    path: &Path,
    format: Format,
    declared: u32,
    data_offset: u64,
    file_bytes: u64,
) -> Result<WavInfo, TranscodeError> {
    let available = file_bytes.saturating_sub(data_offset);
    let size_unpatched = declared == 0 || declared == u32::MAX;
    let present = if size_unpatched {
        available
    } else {
        available.min(u64::from(declared))
    };
    let block_align = u64::from(format.block_align);
    let frames = present / block_align;
    if frames == 0 {
        return Err(TranscodeError::NoSamples {
            path: path.to_owned(),
        });
    }
    Ok(WavInfo {
        codec: format.codec,
        sample_rate: format.sample_rate,
        channels: format.channels,
        frames,
        truncated: present % block_align != 0
            || (!size_unpatched && u64::from(declared) > available),
        size_unpatched,
        file_bytes,
        block_align: format.block_align,
    })
}

fn parse_format(path: &Path, body: &[u8]) -> Result<Format, TranscodeError> {
    let u16_at = |at: usize| u16::from_le_bytes([body[at], body[at + 1]]);
    let bad = |problem: String| TranscodeError::BadHeader {
        path: path.to_owned(),
        problem,
    };
    let declared_tag = u16_at(0);
    let channels = u16_at(2);
    let sample_rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
    let block_align = u16_at(12);
    // WAVE_FORMAT_EXTENSIBLE keeps the real format tag in the first two bytes of its GUID.
    let tag = match declared_tag {
        WAVE_FORMAT_EXTENSIBLE if body.len() >= 40 => u16_at(24),
        WAVE_FORMAT_EXTENSIBLE => {
            return Err(bad("its WAVE_FORMAT_EXTENSIBLE header is cut short".into()))
        }
        tag => tag,
    };
    if !(1..=2).contains(&channels) {
        return Err(bad(format!(
            "it has {channels} channels; MP3 carries 1 or 2"
        )));
    }
    if sample_rate == 0 || block_align == 0 || block_align % channels != 0 {
        return Err(bad(format!(
            "its fmt chunk is inconsistent ({sample_rate} Hz, {channels} channels, {block_align}-byte frames)"
        )));
    }
    let width = block_align / channels;
    let codec = match (tag, width) {
        (WAVE_FORMAT_PCM, 1) => Codec::Pcm8,
        (WAVE_FORMAT_PCM, 2) => Codec::Pcm16,
        (WAVE_FORMAT_PCM, 3) => Codec::Pcm24,
        (WAVE_FORMAT_PCM, 4) => Codec::Pcm32,
        (WAVE_FORMAT_IEEE_FLOAT, 4) => Codec::Float32,
        (WAVE_FORMAT_IEEE_FLOAT, 8) => Codec::Float64,
        (WAVE_FORMAT_ALAW, 1) => Codec::ALaw,
        (WAVE_FORMAT_MULAW, 1) => Codec::MuLaw,
        (WAVE_FORMAT_PCM | WAVE_FORMAT_IEEE_FLOAT | WAVE_FORMAT_ALAW | WAVE_FORMAT_MULAW, _) => {
            return Err(bad(format!("its samples are {width} bytes wide, which its format tag {tag:#06x} does not allow")))
        }
        (tag, _) => {
            return Err(TranscodeError::UnsupportedCodec {
                path: path.to_owned(),
                tag,
                name: codec_name(tag),
            })
        }
    };
    Ok(Format {
        codec,
        sample_rate,
        channels,
        block_align,
    })
}

/// Names of the codecs found in telephony WAVs that we do not decode, for the refusal message.
fn codec_name(tag: u16) -> &'static str {
    match tag {
        0x0002 => "Microsoft ADPCM",
        0x0011 => "IMA ADPCM",
        0x0031 => "GSM 6.10",
        0x0040 => "G.721 ADPCM",
        0x0050 => "MPEG audio",
        0x0055 => "MPEG Layer III",
        0x0064 => "G.726 ADPCM",
        0x0065 => "G.722 ADPCM",
        _ => "an unknown codec",
    }
}

fn not_wav(path: &Path, start: &[u8]) -> TranscodeError {
    if looks_like_html(start) {
        return TranscodeError::HtmlPage {
            path: path.to_owned(),
        };
    }
    TranscodeError::NotWav {
        path: path.to_owned(),
        first_bytes: start[..start.len().min(16)].to_vec(),
    }
}

/// A web page, possibly after a byte-order mark and blank lines: what a console whose session
/// expired serves in place of the recording.
fn looks_like_html(start: &[u8]) -> bool {
    let text = String::from_utf8_lossy(start.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(start))
        .to_ascii_lowercase();
    let text = text.trim_start();
    text.starts_with("<!doctype html")
        || (text.starts_with('<')
            && ["<html", "<head", "<body"]
                .iter()
                .any(|tag| text.contains(tag)))
}

/// Like `read_exact`, but a short read at the end of the file is an answer, not an error.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The samples of an opened WAV, decoded block by block with buffers reused: memory does not
/// grow with the recording's length.
pub struct Samples {
    reader: BufReader<File>,
    codec: Codec,
    bytes_left: u64,
    block_bytes: usize,
    bytes: Vec<u8>,
    decoded: Vec<i32>,
}

impl Samples {
    /// The next block of interleaved samples, or `None` after the last whole frame.
    pub fn next_block(&mut self) -> io::Result<Option<&[i32]>> {
        let len = self.bytes_left.min(self.block_bytes as u64) as usize;
        if len == 0 {
            return Ok(None);
        }
        self.bytes.resize(len, 0);
        self.reader.read_exact(&mut self.bytes)?;
        self.bytes_left -= len as u64;
        self.decoded.clear();
        self.codec.decode(&self.bytes, &mut self.decoded);
        Ok(Some(&self.decoded))
    }
}
