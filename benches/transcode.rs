//! `ucm-scraper transcode` against the `lame` command, on the same real-speech 8 kHz mono WAV
//! at the same bitrate, each as a child process so that its peak memory (maxrss from `wait4`)
//! and CPU time are its own.
//!
//! `cargo bench --bench transcode` (release build). Prints, for the 5-minute file, the best and
//! the median of several alternated runs of each and their ratios (on a shared machine the best
//! run is the one least disturbed by others); then both peak memories for a 1-minute and a
//! 60-minute file, which shows whether memory grows with the recording's length.
//! `BENCH_RUNS` changes the number of runs (default 7).

#[path = "../tests/support/audio.rs"]
mod audio;
#[path = "shared/machine.rs"]
mod machine;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The speech policy's bitrate for 8 kHz mono, given to both encoders.
const KBPS: &str = "24";

/// What one child process cost.
#[derive(Debug, Clone, Copy)]
struct Cost {
    wall: Duration,
    cpu: Duration,
    peak_rss_kib: i64,
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("transcode-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(7);
    println!("{}, lame: {}", machine::machine_line(), lame_version());

    let five = speech(&dir, 5);
    println!(
        "\nspeed: {} (8 kHz mono 16-bit, {} MB), {KBPS} kbps CBR, {runs} alternated runs",
        five.display(),
        mb(&five)
    );
    let ours_mp3 = dir.join("ours.mp3");
    let lame_mp3 = dir.join("lame.mp3");
    let mut ours = Vec::new();
    let mut lame = Vec::new();
    let mut lame_no_gain = Vec::new();
    for _ in 0..runs {
        ours.push(run_ours(&five, &ours_mp3));
        lame.push(run_lame(&five, &lame_mp3, &[]));
        lame_no_gain.push(run_lame(&five, &lame_mp3, &["--noreplaygain"]));
    }
    for (rank, quantile) in [("best", 0.0), ("median", 0.5)] {
        let ours = quantile_of(&ours, quantile);
        let lame = quantile_of(&lame, quantile);
        let lame_no_gain = quantile_of(&lame_no_gain, quantile);
        println!("{rank}:");
        show("ucm-scraper transcode", ours);
        show("lame (defaults)", lame);
        show("lame --noreplaygain", lame_no_gain);
        println!(
            "  ratio ours/lame: wall {:.3}, cpu {:.3}; ours/lame --noreplaygain: wall {:.3}, cpu {:.3}",
            ratio(ours.wall, lame.wall),
            ratio(ours.cpu, lame.cpu),
            ratio(ours.wall, lame_no_gain.wall),
            ratio(ours.cpu, lame_no_gain.cpu)
        );
    }
    println!("our MP3 vs lame's: {}", difference(&ours_mp3, &lame_mp3));

    println!("\npeak memory (maxrss):");
    for minutes in [1, 60] {
        let wav = speech(&dir, minutes);
        let ours = run_ours(&wav, &ours_mp3);
        let lame = run_lame(&wav, &lame_mp3, &[]);
        println!(
            "  {minutes:>2}-minute WAV ({:>5} MB): ucm-scraper {:>6} KiB ({:.2} s), lame {:>6} KiB ({:.2} s)",
            mb(&wav),
            ours.peak_rss_kib,
            ours.wall.as_secs_f64(),
            lame.peak_rss_kib,
            lame.wall.as_secs_f64()
        );
    }
}

/// `minutes` of real speech, made once and kept in the target directory.
fn speech(dir: &Path, minutes: u32) -> PathBuf {
    let path = dir.join(format!("speech-{minutes}min-8k-mono.wav"));
    if !path.exists() {
        audio::speech_wav(&path, f64::from(minutes) * 60.0, 8_000, 1);
    }
    path
}

fn run_ours(wav: &Path, mp3: &Path) -> Cost {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ucm-scraper"));
    cmd.arg("transcode")
        .arg(wav)
        .arg(mp3)
        .args(["--bitrate", KBPS]);
    measure(cmd)
}

fn run_lame(wav: &Path, mp3: &Path, extra: &[&str]) -> Cost {
    let mut cmd = Command::new("lame");
    cmd.args(["--silent", "-b", KBPS])
        .args(extra)
        .arg(wav)
        .arg(mp3);
    measure(cmd)
}

/// Runs `cmd` to completion and reads its own resource use from `wait4`.
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which std's wait cannot replace: it gives the rusage"
)]
fn measure(mut cmd: Command) -> Cost {
    let started = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in; the pid is our own child, reaped here
    // (the Child handle is not waited on again).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let wall = started.elapsed();
    assert_eq!(pid, child.id() as libc::pid_t, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed"
    );
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Cost {
        wall,
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        peak_rss_kib: usage.ru_maxrss,
    }
}

/// Wall and CPU time at `quantile` (0 = best run, 0.5 = median), each on its own; the
/// highest peak memory of all runs.
fn quantile_of(costs: &[Cost], quantile: f64) -> Cost {
    let pick = |key: fn(&Cost) -> Duration| {
        let mut values: Vec<Duration> = costs.iter().map(key).collect();
        values.sort();
        values[((values.len() - 1) as f64 * quantile).round() as usize]
    };
    Cost {
        wall: pick(|c| c.wall),
        cpu: pick(|c| c.cpu),
        peak_rss_kib: costs.iter().map(|c| c.peak_rss_kib).max().unwrap(),
    }
}

fn show(name: &str, cost: Cost) {
    println!(
        "  {name:<22} wall {:.3} s  cpu {:.3} s  peak {} KiB",
        cost.wall.as_secs_f64(),
        cost.cpu.as_secs_f64(),
        cost.peak_rss_kib
    );
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn mb(path: &Path) -> String {
    format!("{:.1}", std::fs::metadata(path).unwrap().len() as f64 / 1e6)
}

/// How two MP3s differ: sizes, and how many bytes differ with the last one's offset. `lame`
/// puts the ReplayGain it computes (and so another CRC) into the Info tag of the first frame.
fn difference(a: &Path, b: &Path) -> String {
    let (a, b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    let differing: Vec<usize> = (0..a.len().min(b.len()))
        .filter(|&i| a[i] != b[i])
        .collect();
    format!(
        "sizes {} / {} bytes; {} bytes differ, the last at offset {:?}",
        a.len(),
        b.len(),
        differing.len(),
        differing.last()
    )
}

fn lame_version() -> String {
    let out = Command::new("lame").arg("--version").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}
