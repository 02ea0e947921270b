//! LAME, set up the way the `lame` command sets itself up for the same bitrate, so that our
//! MP3s and our speed compare one to one with it.

use std::ffi::c_int;
use std::num::NonZeroU32;

use mp3lame_encoder::{
    ffi, BuildError, Builder, EncodeError, Encoder, FlushGap, InterleavedPcm, Mode, MonoPcm,
};

/// LAME's own bound for one encode call (1.25 × samples + 7200), reused across blocks.
fn mp3_bytes_for(frames: usize) -> usize {
    frames * 5 / 4 + 7200
}

#[derive(Debug, thiserror::Error)]
pub enum LameFailure {
    #[error("LAME refused the settings ({what}: {cause})")]
    Setup {
        what: &'static str,
        cause: BuildError,
    },
    #[error("LAME failed while encoding ({0})")]
    Encode(EncodeError),
}

/// The MP3 stream's parameters.
pub struct Settings {
    pub input_rate: u32,
    pub output_rate: u32,
    pub channels: u16,
    pub bitrate_kbps: u32,
}

pub struct Mp3Encoder {
    lame: Encoder,
    stereo: bool,
    mp3: Vec<u8>,
}

impl Mp3Encoder {
    pub fn new(settings: &Settings) -> Result<Self, LameFailure> {
        let setup = |what| move |cause| LameFailure::Setup { what, cause };
        let mut builder = Builder::new().ok_or(LameFailure::Setup {
            what: "allocating the encoder",
            cause: BuildError::NoMem,
        })?;
        let stereo = settings.channels == 2;
        builder
            .set_num_channels(if stereo { 2 } else { 1 })
            .map_err(setup("channels"))?;
        builder
            .set_sample_rate(settings.input_rate)
            .map_err(setup("input sample rate"))?;
        // Explicit, or LAME picks a rate of its own for low bitrates and resamples.
        builder
            .set_output_sample_rate(NonZeroU32::new(settings.output_rate))
            .map_err(setup("output sample rate"))?;
        // Stereo, not joint stereo: caller and callee often sit on separate channels and must
        // stay apart for transcription.
        builder
            .set_mode(if stereo { Mode::Stereo } else { Mode::Mono })
            .map_err(setup("channel mode"))?;
        set_cbr_kbps(&mut builder, settings.bitrate_kbps).map_err(setup("bitrate"))?;
        // The Info tag carries the encoder delay and padding, so players and decoders show the
        // recording's exact duration; `lame` writes it too. Quality stays LAME's default (3),
        // also the `lame` command's.
        builder
            .set_to_write_vbr_tag(true)
            .map_err(setup("Info tag"))?;
        let lame = builder.build().map_err(setup("starting the encoder"))?;
        Ok(Self {
            lame,
            stereo,
            mp3: Vec::new(),
        })
    }

    /// Encodes interleaved full-scale samples; returns the MP3 bytes ready so far.
    pub fn encode(&mut self, interleaved: &[i32]) -> Result<&[u8], LameFailure> {
        let frames = interleaved.len() / if self.stereo { 2 } else { 1 };
        self.mp3.clear();
        self.mp3.reserve(mp3_bytes_for(frames));
        let encoded = if self.stereo {
            self.lame
                .encode_to_vec(InterleavedPcm(interleaved), &mut self.mp3)
        } else {
            self.lame.encode_to_vec(MonoPcm(interleaved), &mut self.mp3)
        };
        encoded.map_err(LameFailure::Encode)?;
        Ok(&self.mp3)
    }

    /// Encodes what LAME still buffers, padded to a whole frame, and returns the last bytes.
    /// `FlushGap` (`lame_encode_flush`, as `lame` uses it): the no-gap flush would leave the
    /// last buffered samples unencoded, waiting for a next file that never comes.
    pub fn finish(&mut self) -> Result<&[u8], LameFailure> {
        self.mp3.clear();
        self.mp3.reserve(mp3_bytes_for(0));
        self.lame
            .flush_to_vec::<FlushGap>(&mut self.mp3)
            .map_err(LameFailure::Encode)?;
        Ok(&self.mp3)
    }

    /// The Info frame that replaces the placeholder LAME wrote as the first frame; only
    /// complete after [`finish`](Self::finish).
    pub fn info_tag(&mut self) -> &[u8] {
        self.mp3.clear();
        self.mp3.reserve(self.lame.lame_tag_size());
        self.lame.lame_tag_encode_to_vec(&mut self.mp3);
        &self.mp3
    }
}

/// Sets a CBR bitrate through LAME's own call: the crate's `Bitrate` enum lacks 56 and 144 kbps,
/// which the MPEG tables allow.
fn set_cbr_kbps(builder: &mut Builder, kbps: u32) -> Result<(), BuildError> {
    let kbps = c_int::try_from(kbps).unwrap_or(c_int::MAX);
    // SAFETY: the pointer comes from a live Builder and is only used for this call, which sets
    // one field of LAME's settings struct and does not keep the pointer.
    let status = unsafe { ffi::lame_set_brate(builder.as_ptr(), kbps) };
    if status == 0 {
        Ok(())
    } else {
        Err(BuildError::Other(status))
    }
}
