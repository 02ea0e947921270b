//! Which MP3 the transcoder writes: output sample rate and bitrate (README: Transcoding).
//!
//! The speech policy picks, per MPEG version and channel count, the bitrate that keeps telephone
//! speech intelligible for transcription and still saves at least 80% against 16-bit PCM, the
//! saving the operators' guide promises. An override (`--bitrate`, `MP3_BITRATE_KBPS`) is clamped
//! to what MPEG allows at the output rate, because LAME silently lowers a bitrate the rate cannot
//! carry and the report must say what was really written.
//!
//! The policy also keeps LAME's Info tag: LAME leaves it out when the first frame is too small
//! to hold it, and without it players count the encoder's delay and padding (0.1–0.2 s) as part
//! of the recording. That lifts 11.025/12 kHz mono to 32 kbps, 22.05 kHz mono to 56 kbps and
//! 24 kHz mono to 64 kbps.

/// MPEG audio version, fixed by the output sample rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MpegVersion {
    /// 32, 44.1, 48 kHz.
    One,
    /// 16, 22.05, 24 kHz.
    Two,
    /// 8, 11.025, 12 kHz.
    TwoAndHalf,
}

/// Sample rates an MP3 can carry, ascending.
const MPEG_RATES: [u32; 9] = [
    8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000,
];

/// Layer III bitrates (kbps) of the MPEG-1 table.
const MPEG1_KBPS: &[u32] = &[
    32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
];
/// Layer III bitrates (kbps) of the MPEG-2 table.
const MPEG2_KBPS: &[u32] = &[8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160];
/// MPEG-2.5 shares MPEG-2's table, but LAME caps it at 64 kbps: 8 kHz "128k" is really 64k.
const MPEG25_KBPS: &[u32] = &[8, 16, 24, 32, 40, 48, 56, 64];

impl MpegVersion {
    fn of(output_rate: u32) -> Self {
        match output_rate {
            32_000.. => Self::One,
            16_000..=31_999 => Self::Two,
            _ => Self::TwoAndHalf,
        }
    }

    fn bitrates(self) -> &'static [u32] {
        match self {
            Self::One => MPEG1_KBPS,
            Self::Two => MPEG2_KBPS,
            Self::TwoAndHalf => MPEG25_KBPS,
        }
    }

    /// Speech bitrate for one channel: narrowband 24 kbps saves 81% of 8 kHz 16-bit PCM
    /// (128 kbps), where 32 kbps would save only 75%; the wider bands get headroom for their
    /// extra bandwidth and still save more than 80%.
    fn speech_kbps_per_channel(self) -> u32 {
        match self {
            Self::TwoAndHalf => 24,
            Self::Two => 48,
            Self::One => 64,
        }
    }

    /// Bytes of a frame at `kbps` (without the padding slot), as LAME computes it.
    fn frame_bytes(self, output_rate: u32, kbps: u32) -> u32 {
        let per_kbps = if self == Self::One { 144_000 } else { 72_000 };
        per_kbps * kbps / output_rate
    }

    /// Whether a frame has room for the 4-byte header, the side info and LAME's 156-byte Info
    /// tag (`InitVbrTag` in LAME's VbrTag.c).
    fn holds_info_tag(self, output_rate: u32, channels: u16, kbps: u32) -> bool {
        let side_info = match (self, channels) {
            (Self::One, 1) => 17,
            (Self::One, _) => 32,
            (_, 1) => 9,
            _ => 17,
        };
        self.frame_bytes(output_rate, kbps) >= 4 + side_info + 156
    }
}

/// The sample rate of the MP3: the input's own when MPEG can carry it (no resampling), else the
/// highest MPEG rate below it, so LAME resamples down rather than inventing bandwidth.
pub fn output_sample_rate(input_rate: u32) -> u32 {
    MPEG_RATES
        .iter()
        .rev()
        .copied()
        .find(|&rate| rate <= input_rate)
        .unwrap_or(MPEG_RATES[0])
}

/// The bitrate (kbps) to encode at: the override clamped to the bitrates allowed at
/// `output_rate`, or the speech policy for that rate and channel count (stereo gets twice the
/// mono rate, since caller and callee are often on separate channels).
pub fn bitrate_kbps(output_rate: u32, channels: u16, override_kbps: Option<u32>) -> u32 {
    let version = MpegVersion::of(output_rate);
    match override_kbps {
        Some(wanted) => clamp_to(version.bitrates(), wanted),
        None => {
            let speech = version.speech_kbps_per_channel() * u32::from(channels);
            let allowed = version.bitrates();
            allowed
                .iter()
                .copied()
                .find(|&kbps| kbps >= speech && version.holds_info_tag(output_rate, channels, kbps))
                .unwrap_or(allowed[allowed.len() - 1])
        }
    }
}

/// The highest allowed bitrate not above `wanted`, or the lowest allowed one.
fn clamp_to(allowed: &[u32], wanted: u32) -> u32 {
    allowed
        .iter()
        .rev()
        .copied()
        .find(|&kbps| kbps <= wanted)
        .unwrap_or(allowed[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_128k_becomes_64k_at_8_khz() {
        assert_eq!(bitrate_kbps(8_000, 1, Some(128)), 64);
        assert_eq!(bitrate_kbps(44_100, 1, Some(128)), 128);
    }

    #[test]
    fn speech_policy_saves_at_least_80_percent_of_16_bit_pcm() {
        for rate in MPEG_RATES {
            for channels in [1u16, 2] {
                let pcm_kbps = f64::from(rate) * 16.0 * f64::from(channels) / 1000.0;
                let mp3_kbps = f64::from(bitrate_kbps(rate, channels, None));
                let saving = 1.0 - mp3_kbps / pcm_kbps;
                assert!(saving >= 0.80, "{rate} Hz x{channels}: {mp3_kbps} kbps");
            }
        }
    }

    #[test]
    fn speech_policy_leaves_room_for_the_info_tag() {
        for rate in MPEG_RATES {
            for channels in [1u16, 2] {
                let kbps = bitrate_kbps(rate, channels, None);
                let version = MpegVersion::of(rate);
                assert!(
                    version.holds_info_tag(rate, channels, kbps),
                    "{rate} x{channels}"
                );
            }
        }
        // The 11.025 kHz case that lost its tag at 24 kbps: a 156-byte frame.
        assert!(!MpegVersion::TwoAndHalf.holds_info_tag(11_025, 1, 24));
    }

    #[test]
    fn speech_policy_stays_in_the_design_ranges() {
        assert!((24..=32).contains(&bitrate_kbps(8_000, 1, None)));
        assert!((48..=64).contains(&bitrate_kbps(8_000, 2, None)));
        assert!((32..=48).contains(&bitrate_kbps(16_000, 1, None)));
        assert!((64..=96).contains(&bitrate_kbps(16_000, 2, None)));
    }

    #[test]
    fn overrides_clamp_to_the_table_of_the_output_rate() {
        assert_eq!(bitrate_kbps(8_000, 1, Some(56)), 56);
        assert_eq!(bitrate_kbps(16_000, 1, Some(150)), 144);
        assert_eq!(bitrate_kbps(48_000, 2, Some(8)), 32);
        assert_eq!(bitrate_kbps(48_000, 2, Some(1000)), 320);
    }

    #[test]
    fn rates_mpeg_cannot_carry_go_down_to_one_it_can() {
        assert_eq!(output_sample_rate(8_000), 8_000);
        assert_eq!(output_sample_rate(44_100), 44_100);
        assert_eq!(output_sample_rate(96_000), 48_000);
        assert_eq!(output_sample_rate(20_000), 16_000);
        assert_eq!(output_sample_rate(6_000), 8_000);
    }
}
