//! The pass benchmark (issue 6): `ucm-scraper once` over console stand-ins that refuse downloads
//! closer than a 1 s gap, with real Postgres, real Chromium and the Supabase Storage stand-in.
//!
//! `cargo bench --bench pass` (release) or `cargo bench --profile dev --bench pass` (debug, no
//! release build needed). Runs one tenant alone, then `BENCH_TENANTS` tenants (3) with
//! `MAX_PARALLEL_TENANTS` equal to that, each on its own console with `BENCH_CALLS` calls (40).
//! Prints, per console, recordings a minute against the limit the gap sets (60/min for 1 s),
//! measured from the first download the console served to its last (the steady rate), from the
//! login (the console's first login challenge) to the last download (the pace, login included),
//! and over the whole pass (browser start and the reads after the last call included), and each
//! pass's wall time.
//! Other knobs: `BENCH_GAP` (1s), `BENCH_CALL_SECS` (30, the length of each recording),
//! `UCM_BIN` (the worker binary; default the one cargo built with this bench), `BENCH_LOG_DIR`
//! (keep each pass's worker log there), `BENCH_RUST_LOG` (the worker's `RUST_LOG`, default info).

#[path = "../tests/support/mod.rs"]
mod support;

mod shared;

use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::{add_tenant, console_with, env_or, WorkerEnv};
use support::browser::wait_no_browsers;
use support::console::{FakeConsole, Recording};
use support::fernet;
use support::pg::migrated_database;
use support::storage::StorageStandIn;

struct Knobs {
    calls: usize,
    tenants: usize,
    gap: Duration,
    call_secs: f64,
    bin: String,
}

/// What one console saw during a pass.
struct ConsoleFigures {
    served: u64,
    rate_limited: u64,
    /// From the first download served to the last.
    steady_per_min: f64,
    /// From the login's challenge to the last download served.
    paced_per_min: f64,
    /// From the login's challenge to the first download served.
    login_to_first: Duration,
    /// Over the pass's whole wall time.
    overall_per_min: f64,
    /// Between two downloads served one after the other, as the console timed them: the
    /// shortest and the median.
    closest: Duration,
    median: Duration,
}

struct PassFigures {
    wall: Duration,
    consoles: Vec<ConsoleFigures>,
    stored: usize,
    expected: usize,
}

fn main() {
    let knobs = Knobs {
        calls: env_or("BENCH_CALLS", 40),
        tenants: env_or("BENCH_TENANTS", 3),
        gap: shared::gap_knob(),
        call_secs: env_or("BENCH_CALL_SECS", 30.0),
        bin: shared::worker_bin(),
    };
    let limit = 60.0 / knobs.gap.as_secs_f64();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    println!("{}", shared::machine::machine_line());
    println!(
        "worker: {} ({}); {} calls of {} s speech (8 kHz mono WAV) per console; gap {:?} \
         (limit {limit:.0}/min per console)",
        knobs.bin,
        shared::build_kind(&knobs.bin),
        knobs.calls,
        knobs.call_secs,
        knobs.gap
    );
    let one = runtime.block_on(pass(&knobs, 1));
    report("1 tenant", &one, limit);
    let many = runtime.block_on(pass(&knobs, knobs.tenants));
    report(&format!("{} tenants", knobs.tenants), &many, limit);

    let lowest = |figure: fn(&ConsoleFigures) -> f64| {
        many.consoles
            .iter()
            .chain(&one.consoles)
            .map(figure)
            .fold(f64::INFINITY, f64::min)
    };
    let worst = lowest(|c| c.steady_per_min);
    let worst_paced = lowest(|c| c.paced_per_min);
    let ratio = many.wall.as_secs_f64() / one.wall.as_secs_f64();
    println!(
        "target per console ≥ {:.0}/min (0.9 × limit) from login on: worst {worst_paced:.1}/min → {}",
        0.9 * limit,
        verdict(worst_paced >= 0.9 * limit)
    );
    println!(
        "target per console ≥ {:.0}/min (0.9 × limit): worst steady {worst:.1}/min → {}",
        0.9 * limit,
        verdict(worst >= 0.9 * limit)
    );
    println!(
        "target {} tenants within 1.3 × one tenant's time: {ratio:.2} × → {}",
        knobs.tenants,
        verdict(ratio <= 1.3)
    );
}

/// The shortest and the median time between two downloads served in a row, as the console
/// timed them when it answered (a refusal in between breaks the row).
fn served_intervals(answers: &[support::console::DownloadAnswer]) -> (Duration, Duration) {
    let mut intervals: Vec<Duration> = answers
        .windows(2)
        .filter(|pair| pair.iter().all(|a| a.refused_for.is_none()))
        .map(|pair| pair[1].at - pair[0].at)
        .collect();
    intervals.sort();
    match intervals.first() {
        Some(&closest) => (closest, intervals[intervals.len() / 2]),
        None => (Duration::ZERO, Duration::ZERO),
    }
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

fn report(label: &str, figures: &PassFigures, limit: f64) {
    println!(
        "{label}: wall {:.1} s, stored {}/{}",
        figures.wall.as_secs_f64(),
        figures.stored,
        figures.expected
    );
    for (i, c) in figures.consoles.iter().enumerate() {
        println!(
            "  console {}: {} served, {} refused for pacing; steady {:.1}/min ({:.2} × limit), \
             from login {:.1}/min ({:.2} × limit; login to first download {:.1} s), \
             whole pass {:.1}/min; served {:.3} s apart at the closest, {:.3} s at the median",
            i + 1,
            c.served,
            c.rate_limited,
            c.steady_per_min,
            c.steady_per_min / limit,
            c.paced_per_min,
            c.paced_per_min / limit,
            c.login_to_first.as_secs_f64(),
            c.overall_per_min,
            c.closest.as_secs_f64(),
            c.median.as_secs_f64()
        );
    }
}

/// One `ucm-scraper once` over `tenants` fresh consoles and a fresh database.
async fn pass(knobs: &Knobs, tenants: usize) -> PassFigures {
    let work = tempfile::tempdir().unwrap();
    let wav = shared::speech_wav(work.path(), knobs.call_secs);
    let db = migrated_database().await;
    let storage = StorageStandIn::start().await;
    let key = fernet::key();
    let token = fernet::encrypt(&key, shared::PASSWORD);

    let mut consoles = Vec::new();
    let mut expected_keys = Vec::new();
    for t in 0..tenants {
        let (console, recordings) = console_with_calls(knobs, &wav).await;
        let tenant = add_tenant(&db.pool, &format!("Bench {t}"), &console, &token).await;
        for uniqueid in support::scenario::insert_calls(&db.pool, tenant, &recordings, 30).await {
            expected_keys.push(format!("tenant_{tenant}/{uniqueid}_recording.mp3"));
        }
        consoles.push(console);
    }

    let env = WorkerEnv {
        database_url: &db.url,
        fernet_key: &key,
        storage_url: &storage.url,
        gap: knobs.gap,
        parallel_tenants: tenants,
    };
    let started = Instant::now();
    let mut child =
        tokio::process::Command::from(shared::worker_command(&knobs.bin, work.path(), &env))
            .kill_on_drop(true)
            .spawn()
            .expect("start ucm-scraper once");

    // When each console was first asked for a login challenge, and served its first and its
    // latest download, sampled every 10 ms (the gap is 100 times longer).
    let mut login: Vec<Option<Instant>> = vec![None; tenants];
    let mut first: Vec<Option<Instant>> = vec![None; tenants];
    let mut latest: Vec<Option<Instant>> = vec![None; tenants];
    let mut seen = vec![0u64; tenants];
    let status = loop {
        for (i, console) in consoles.iter().enumerate() {
            let events = console.events();
            if events.challenges > 0 {
                login[i].get_or_insert_with(Instant::now);
            }
            let served = events.downloads_served;
            if served > seen[i] {
                let now = Instant::now();
                first[i].get_or_insert(now);
                latest[i] = Some(now);
                seen[i] = served;
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let wall = started.elapsed();
    shared::after_worker(work.path(), &format!("pass-{tenants}-tenants.log"), status);

    let figures = consoles
        .iter()
        .enumerate()
        .map(|(i, console)| {
            let events = console.events();
            let steady = match (first[i], latest[i]) {
                (Some(a), Some(b)) if events.downloads_served > 1 && b > a => {
                    (events.downloads_served - 1) as f64 / (b - a).as_secs_f64() * 60.0
                }
                _ => 0.0,
            };
            let (paced, login_to_first) = match (login[i], first[i], latest[i]) {
                (Some(l), Some(f), Some(b)) if b > l => (
                    events.downloads_served as f64 / (b - l).as_secs_f64() * 60.0,
                    f - l,
                ),
                _ => (0.0, Duration::ZERO),
            };
            let (closest, median) = served_intervals(&events.download_answers);
            ConsoleFigures {
                closest,
                median,
                served: events.downloads_served,
                rate_limited: events.downloads_rate_limited,
                steady_per_min: steady,
                paced_per_min: paced,
                login_to_first,
                overall_per_min: events.downloads_served as f64 / wall.as_secs_f64() * 60.0,
            }
        })
        .collect();
    let stored = expected_keys
        .iter()
        .filter(|k| storage.stores_of(k) == 1)
        .count();
    assert_eq!(
        wait_no_browsers(Duration::from_secs(20)).await,
        0,
        "the worker closed every browser"
    );
    PassFigures {
        wall,
        consoles: figures,
        stored,
        expected: expected_keys.len(),
    }
}

/// A console with the knobs' calls.
async fn console_with_calls(knobs: &Knobs, wav: &Arc<Vec<u8>>) -> (FakeConsole, Vec<Recording>) {
    let recordings = shared::recordings(knobs.calls, wav);
    (console_with(&recordings, knobs.gap).await, recordings)
}
