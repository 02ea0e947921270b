//! The convert step (issue 3): every WAV a call recorder writes becomes a speech-sized MP3 of
//! the right length, rate and channels; what cannot be converted is refused with nothing
//! written. Inputs are real telephone speech (asterisk prompts through sox); the MP3s are
//! checked with another decoder (minimp3) than the encoder.

mod support;

use std::path::{Path, PathBuf};

use support::audio::{self, Encoding, Mp3Facts, Rewrap};
use support::bin::{Run, UcmScraper};
use ucm_scraper::failure::{Failure as _, NextStep};
use ucm_scraper::transcode::{self, Codec, TranscodeError, TranscodeReport};

/// Converts `wav` next to itself; panics with the error's message on refusal.
fn convert(wav: &Path, bitrate: Option<u32>) -> (TranscodeReport, Mp3Facts, PathBuf) {
    let mp3 = wav.with_extension("mp3");
    let report = transcode::transcode_file(wav, &mp3, bitrate)
        .unwrap_or_else(|e| panic!("{}: {e}", wav.display()));
    (report, audio::decode_mp3(&mp3), mp3)
}

/// The MP3 lasts as long as the WAV, within one MPEG frame.
fn assert_duration(facts: &Mp3Facts, wav_frames: u64, rate: u32, what: &str) {
    let wav_frames_at_mp3_rate = wav_frames * u64::from(facts.sample_rate) / u64::from(rate);
    assert!(
        facts.frames.abs_diff(wav_frames_at_mp3_rate) <= facts.frame_len,
        "{what}: MP3 has {} frames, WAV {wav_frames_at_mp3_rate} (frame {})",
        facts.frames,
        facts.frame_len
    );
}

/// Pearson correlation of two decoded signals, over their common length.
fn correlation(a: &[i16], b: &[i16]) -> f64 {
    let n = a.len().min(b.len());
    let mean = |x: &[i16]| x[..n].iter().map(|&s| f64::from(s)).sum::<f64>() / n as f64;
    let (ma, mb) = (mean(a), mean(b));
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a[..n].iter().zip(&b[..n]) {
        let (x, y) = (f64::from(x) - ma, f64::from(y) - mb);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa * bb).sqrt()
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn ucm_recording_8khz_mono_keeps_the_80_percent_promise() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("auto-1770395696-1000-2815058290.wav");
    audio::speech_wav(&wav, 20.0, 8_000, 1);
    let (report, mp3, mp3_path) = convert(&wav, None);

    assert_eq!((report.sample_rate, report.channels), (8_000, 1));
    assert_eq!((mp3.sample_rate, mp3.channels), (8_000, 1));
    assert!((24..=32).contains(&report.bitrate_kbps), "{report:?}");
    assert!(mp3
        .bitrates_kbps
        .iter()
        .all(|&kbps| kbps == report.bitrate_kbps));
    let wav_frames = audio::soxi_frames(&wav);
    assert_duration(&mp3, wav_frames, 8_000, "8 kHz mono");
    assert!((report.duration.as_secs_f64() - wav_frames as f64 / 8_000.0).abs() < 1e-6);
    assert!(!report.truncated);

    assert_eq!(report.input_bytes, std::fs::metadata(&wav).unwrap().len());
    assert_eq!(
        report.output_bytes,
        std::fs::metadata(&mp3_path).unwrap().len()
    );
    assert!(report.saving_percent() >= 80.0, "{report}");
    let mb = |bytes: u64| bytes as f64 / 1024.0 / 1024.0;
    assert_eq!(
        report.to_string(),
        format!(
            "{:.1}MB → {:.1}MB (saved {:.1}%)",
            mb(report.input_bytes),
            mb(report.output_bytes),
            report.saving_percent()
        )
    );
    // Only the MP3 is left beside the WAV: the temporary file was renamed, not copied.
    assert_eq!(
        files_in(dir.path()),
        [
            "auto-1770395696-1000-2815058290.mp3",
            "auto-1770395696-1000-2815058290.wav"
        ]
    );
}

#[test]
fn every_pcm_width_and_float_converts() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("pcm16.wav");
    audio::speech_wav(&reference, 3.0, 8_000, 1);
    let (_, reference_mp3, reference_path) = convert(&reference, None);

    for (encoding, codec) in [
        (Encoding::Pcm(8), Codec::Pcm8),
        (Encoding::Pcm(24), Codec::Pcm24),
        (Encoding::Pcm(32), Codec::Pcm32),
        (Encoding::Float(32), Codec::Float32),
        (Encoding::Float(64), Codec::Float64),
    ] {
        let wav = dir.path().join(format!("{codec:?}.wav"));
        audio::speech_wav_as(&wav, 3.0, 8_000, 1, encoding);
        assert_eq!(transcode::inspect(&wav).unwrap().codec, codec);
        let (report, mp3, mp3_path) = convert(&wav, None);
        assert_eq!(
            (report.sample_rate, mp3.sample_rate, mp3.channels),
            (8_000, 8_000, 1)
        );
        assert_duration(&mp3, audio::soxi_frames(&wav), 8_000, &codec.to_string());
        if codec == Codec::Pcm8 {
            // 8 bits cannot hold the 16-bit speech exactly, but it is the same speech.
            let r = correlation(&mp3.samples, &reference_mp3.samples);
            assert!(
                r > 0.9,
                "8-bit PCM: correlation {r} with the 16-bit version"
            );
        } else {
            // sox widened the same 16-bit samples exactly, so LAME saw the very same input.
            assert!(
                same_bytes(&mp3_path, &reference_path),
                "{codec}: MP3 differs from 16-bit PCM's"
            );
        }
    }
}

#[test]
fn every_sample_rate_in_mono_and_stereo() {
    let dir = tempfile::tempdir().unwrap();
    for rate in [8_000, 11_025, 16_000, 22_050, 32_000, 44_100, 48_000] {
        for channels in [1u16, 2] {
            let what = format!("{rate} Hz x{channels}");
            let wav = dir.path().join(format!("{rate}-{channels}.wav"));
            audio::speech_wav(&wav, 2.0, rate, channels);
            let (report, mp3, _) = convert(&wav, None);
            assert_eq!((mp3.sample_rate, mp3.channels), (rate, channels), "{what}");
            assert_eq!(
                (report.sample_rate, report.channels),
                (rate, channels),
                "{what}"
            );
            assert!(
                mp3.bitrates_kbps
                    .iter()
                    .all(|&kbps| kbps == report.bitrate_kbps),
                "{what}: {:?} vs {}",
                mp3.bitrates_kbps,
                report.bitrate_kbps
            );
            assert_duration(&mp3, audio::soxi_frames(&wav), rate, &what);
        }
    }
}

#[test]
fn stereo_keeps_caller_and_callee_apart() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("caller-only.wav");
    audio::speech_left_silence_right(&wav, 5.0, 8_000);
    let (report, mp3, _) = convert(&wav, None);
    assert_eq!((report.channels, mp3.channels), (2, 2));
    let (left, right) = (mp3.channel_energy(0), mp3.channel_energy(1));
    assert!(left > 0.0, "the caller's channel is silent");
    assert!(
        right < left * 1e-4,
        "the callee's silent channel carries {right} against {left}"
    );
}

#[test]
fn g711_mu_law_and_a_law_decode_as_sox_decodes_them() {
    let dir = tempfile::tempdir().unwrap();
    for (encoding, codec) in [
        (Encoding::MuLaw, Codec::MuLaw),
        (Encoding::ALaw, Codec::ALaw),
    ] {
        let g711 = dir.path().join(format!("{codec:?}.wav"));
        audio::speech_wav_as(&g711, 4.0, 8_000, 1, encoding);
        assert_eq!(transcode::inspect(&g711).unwrap().codec, codec);
        let pcm = dir.path().join(format!("{codec:?}-by-sox.wav"));
        let args = [
            g711.display().to_string(),
            "-e".into(),
            "signed-integer".into(),
            "-b".into(),
            "16".into(),
            pcm.display().to_string(),
        ];
        audio::sox(&args);

        let (_, mp3, mp3_path) = convert(&g711, None);
        let (_, _, sox_mp3_path) = convert(&pcm, None);
        assert_duration(&mp3, audio::soxi_frames(&g711), 8_000, &codec.to_string());
        assert!(
            same_bytes(&mp3_path, &sox_mp3_path),
            "{codec}: our expansion differs from sox's"
        );
    }
}

/// Headers that hold the same samples as a plain 16-bit PCM file must give the same MP3.
fn assert_same_mp3_as_plain(name: &str, how: Rewrap) -> TranscodeReport {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.wav");
    audio::speech_wav(&plain, 3.0, 8_000, 1);
    let odd = dir.path().join(format!("{name}.wav"));
    audio::rewrap(&plain, &odd, &how);
    let (_, _, plain_mp3) = convert(&plain, None);
    let (report, mp3, odd_mp3) = convert(&odd, None);
    assert_duration(&mp3, audio::soxi_frames(&plain), 8_000, name);
    assert!(
        same_bytes(&odd_mp3, &plain_mp3),
        "{name}: MP3 differs from the plain file's"
    );
    report
}

#[test]
fn wave_format_extensible_reads_like_plain_pcm() {
    let report = assert_same_mp3_as_plain(
        "extensible",
        Rewrap {
            extensible: true,
            ..Rewrap::default()
        },
    );
    assert!(!report.truncated);
}

#[test]
fn list_fact_and_odd_sized_chunks_before_data_are_skipped() {
    let chunks = vec![
        (
            *b"LIST",
            b"INFOISFT\x0e\x00\x00\x00Grandstream\x00\x00\x00".to_vec(),
        ),
        (*b"fact", 24_000u32.to_le_bytes().to_vec()),
        (*b"odd ", b"seven!!".to_vec()),
        (*b"JUNK", vec![0; 27]),
    ];
    assert_same_mp3_as_plain(
        "chunks",
        Rewrap {
            chunks_before_data: chunks,
            ..Rewrap::default()
        },
    );
}

#[test]
fn sizes_the_writer_never_patched_read_to_end_of_file() {
    for (name, riff, data) in [
        ("zero-sizes", 0, 0),
        ("streaming-sizes", u32::MAX, u32::MAX),
        ("zero-data-size", 4_000_000, 0),
    ] {
        let how = Rewrap {
            riff_size: Some(riff),
            data_size: Some(data),
            ..Rewrap::default()
        };
        let report = assert_same_mp3_as_plain(name, how);
        assert!(!report.truncated, "{name}");
    }
}

#[test]
fn recording_cut_off_mid_sample_converts_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.wav");
    audio::speech_wav(&plain, 3.0, 8_000, 1);
    let whole_frames = 12_345u64;
    let data_offset = audio::rewrap(&plain, &dir.path().join("probe.wav"), &Rewrap::default());

    // The header still promises 3 s; the file stops one byte into frame 12,346.
    let cut = dir.path().join("cut.wav");
    let cut_to = data_offset + whole_frames as usize * 2 + 1;
    audio::rewrap(
        &plain,
        &cut,
        &Rewrap {
            cut_to: Some(cut_to),
            ..Rewrap::default()
        },
    );
    let info = transcode::inspect(&cut).unwrap();
    assert_eq!((info.frames, info.truncated), (whole_frames, true));

    let reference = dir.path().join("reference.wav");
    let args = [
        plain.display().to_string(),
        reference.display().to_string(),
        "trim".into(),
        "0".into(),
        format!("{whole_frames}s"),
    ];
    audio::sox(&args);
    let (report, mp3, cut_mp3) = convert(&cut, None);
    let (_, _, reference_mp3) = convert(&reference, None);
    assert!(report.truncated);
    assert_duration(&mp3, whole_frames, 8_000, "cut mid-sample");
    assert!(
        same_bytes(&cut_mp3, &reference_mp3),
        "the whole frames before the cut differ"
    );
}

#[test]
fn recording_cut_off_between_samples_says_it_was_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.wav");
    audio::speech_wav(&plain, 2.0, 8_000, 1);
    let cut = dir.path().join("cut.wav");
    let data_offset = audio::rewrap(&plain, &cut, &Rewrap::default());
    audio::rewrap(
        &plain,
        &cut,
        &Rewrap {
            cut_to: Some(data_offset + 8_000 * 2),
            ..Rewrap::default()
        },
    );
    let (report, mp3, _) = convert(&cut, None);
    assert!(report.truncated);
    assert_duration(&mp3, 8_000, 8_000, "cut at 1 s of 2 s");
}

/// A refused input: the error, with nothing written beside it.
fn refuse(dir: &Path, name: &str, content: &[u8]) -> TranscodeError {
    let wav = dir.join(name);
    std::fs::write(&wav, content).unwrap();
    let inspected = transcode::inspect(&wav).expect_err("inspect accepted it");
    let err = transcode::transcode_file(&wav, &wav.with_extension("mp3"), None)
        .expect_err("transcode accepted it");
    assert_eq!(
        std::mem::discriminant(&inspected),
        std::mem::discriminant(&err),
        "inspect and transcode disagree: {inspected} / {err}"
    );
    assert_eq!(files_in(dir), [name], "something was written for {name}");
    assert!(
        err.to_string().contains(&wav.display().to_string()),
        "{err}"
    );
    std::fs::remove_file(&wav).unwrap();
    err
}

#[test]
fn what_is_not_a_recording_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();

    let err = refuse(dir, "empty.wav", b"");
    assert!(
        matches!(err, TranscodeError::Empty { .. }) && err.next_step() == NextStep::RetryCall,
        "{err}"
    );

    let login_page = b"\xEF\xBB\xBF\n  <!DOCTYPE html>\n<html lang=\"en\"><head><title>UCM6302</title></head><body><div id=\"root\"></div></body></html>";
    let err = refuse(dir, "expired-session.wav", login_page);
    assert!(
        err.is_html_page() && err.next_step() == NextStep::RetryCall,
        "{err}"
    );
    assert!(
        err.to_string().contains("HTML page") && err.to_string().contains("session"),
        "{err}"
    );

    let err = refuse(
        dir,
        "download-all.wav",
        b"GSFF\x10\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00",
    );
    assert!(
        matches!(err, TranscodeError::NotWav { .. }) && err.next_step() == NextStep::KeepOriginal,
        "{err}"
    );
    assert!(
        err.to_string().contains("47 53 46 46") && err.to_string().contains("GSFF"),
        "{err}"
    );
    assert!(!err.is_html_page());

    // A header whose data chunk is empty, and one with no data chunk at all.
    let plain = dir.join("plain.wav");
    audio::speech_wav(&plain, 1.0, 8_000, 1);
    let header_only = dir.join("header.wav");
    let data_offset = audio::rewrap(&plain, &header_only, &Rewrap::default());
    let header = std::fs::read(&header_only).unwrap()[..data_offset].to_vec();
    std::fs::remove_file(&plain).unwrap();
    std::fs::remove_file(&header_only).unwrap();
    let err = refuse(dir, "header-only.wav", &header);
    assert!(
        matches!(err, TranscodeError::NoSamples { .. }) && err.next_step() == NextStep::RetryCall,
        "{err}"
    );
    let err = refuse(dir, "no-data-chunk.wav", &header[..data_offset - 8]);
    assert!(matches!(err, TranscodeError::NoSamples { .. }), "{err}");
}

#[test]
fn gsm_6_10_is_refused_naming_the_codec_so_the_original_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let made = dir.path().join("made.wav");
    audio::speech_wav_as(&made, 2.0, 8_000, 1, Encoding::Gsm);
    let gsm = std::fs::read(&made).unwrap();
    std::fs::remove_file(&made).unwrap();
    let err = refuse(dir.path(), "gsm.wav", &gsm);
    assert!(
        matches!(err, TranscodeError::UnsupportedCodec { tag: 0x31, .. })
            && err.next_step() == NextStep::KeepOriginal,
        "{err}"
    );
    assert!(err.to_string().contains("GSM 6.10"), "{err}");
}

#[test]
fn more_than_two_channels_are_refused_keeping_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let mono = dir.path().join("mono.wav");
    let three = dir.path().join("three.wav");
    audio::speech_wav(&mono, 1.0, 8_000, 1);
    let m = mono.display().to_string();
    audio::sox(&[
        "-M".into(),
        m.clone(),
        m.clone(),
        m,
        three.display().to_string(),
    ]);
    let content = std::fs::read(&three).unwrap();
    std::fs::remove_file(&mono).unwrap();
    std::fs::remove_file(&three).unwrap();
    let err = refuse(dir.path(), "conference.wav", &content);
    assert!(
        matches!(err, TranscodeError::BadHeader { .. })
            && err.next_step() == NextStep::KeepOriginal,
        "{err}"
    );
    assert!(err.to_string().contains("3 channels"), "{err}");
}

#[test]
fn bitrate_override_is_clamped_to_what_mpeg_allows() {
    let dir = tempfile::tempdir().unwrap();
    for (rate, asked, allowed) in [(8_000, 128, 64), (16_000, 56, 56), (44_100, 8, 32)] {
        let wav = dir.path().join(format!("{rate}.wav"));
        audio::speech_wav(&wav, 2.0, rate, 1);
        let (report, mp3, _) = convert(&wav, Some(asked));
        assert_eq!(
            report.bitrate_kbps, allowed,
            "{rate} Hz, {asked} kbps asked"
        );
        assert!(
            mp3.bitrates_kbps.iter().all(|&kbps| kbps == allowed),
            "{rate} Hz: frames at {:?}",
            mp3.bitrates_kbps
        );
    }
}

fn ucm_scraper(args: &[&Path], env: &[(&str, &str)], workdir: &Path) -> Run {
    UcmScraper::new(&["transcode"])
        .args(args)
        .current_dir(workdir)
        .envs(env.iter().copied())
        .run()
}

#[test]
fn command_converts_without_database_settings() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("call.wav");
    let mp3 = dir.path().join("call.mp3");
    audio::speech_wav(&wav, 3.0, 8_000, 1);
    // Relative names, as an operator types them: the MP3 goes into the working directory.
    let (wav_name, mp3_name) = (Path::new("call.wav"), Path::new("call.mp3"));
    let out = ucm_scraper(
        &[wav_name, mp3_name],
        &[("MP3_BITRATE_KBPS", "40")],
        dir.path(),
    );
    let stdout = &out.stdout;
    assert!(out.ok, "{stdout}{}", out.stderr);
    assert!(
        stdout.starts_with("Converted to MP3: ") && stdout.contains("(saved "),
        "{stdout}"
    );
    assert!(audio::decode_mp3(&mp3)
        .bitrates_kbps
        .iter()
        .all(|&kbps| kbps == 40));
}

#[test]
fn command_refuses_with_one_clear_line_and_a_failure_status() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("call.wav");
    std::fs::write(&wav, "<html><body>Login</body></html>").unwrap();
    let out = ucm_scraper(&[&wav, &dir.path().join("call.mp3")], &[], dir.path());
    let stderr = &out.stderr;
    assert!(!out.ok);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("HTML page") && stderr.contains("call.wav"),
        "{stderr}"
    );
    assert_eq!(files_in(dir.path()), ["call.wav"]);

    let out = ucm_scraper(
        &[&wav, &dir.path().join("call.mp3")],
        &[("MP3_BITRATE_KBPS", "fast")],
        dir.path(),
    );
    assert!(!out.ok);
    assert!(out.stderr.contains("MP3_BITRATE_KBPS"));
}
