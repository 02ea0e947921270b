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

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use support::browser::{wait_no_browsers, Chromedriver};
use support::console::{ConsoleConfig, FakeConsole, Recording, Skin};
use support::pg::migrated_database;
use support::storage::{StorageStandIn, LEGACY_KEY};
use support::{audio, fernet};

const PASSWORD: &str = "Bench-pass1";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

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
        gap: humantime::parse_duration(&std::env::var("BENCH_GAP").unwrap_or("1s".into()))
            .expect("BENCH_GAP like 1s or 500ms"),
        call_secs: env_or("BENCH_CALL_SECS", 30.0),
        bin: std::env::var("UCM_BIN").unwrap_or(env!("CARGO_BIN_EXE_ucm-scraper").into()),
    };
    let limit = 60.0 / knobs.gap.as_secs_f64();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    println!(
        "machine: {} CPUs ({}), load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        loadavg()
    );
    println!(
        "worker: {} ({}); {} calls of {} s speech (8 kHz mono WAV) per console; gap {:?} \
         (limit {limit:.0}/min per console)",
        knobs.bin,
        if knobs.bin.contains("/release/") {
            "release"
        } else {
            "debug"
        },
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
             whole pass {:.1}/min",
            i + 1,
            c.served,
            c.rate_limited,
            c.steady_per_min,
            c.steady_per_min / limit,
            c.paced_per_min,
            c.paced_per_min / limit,
            c.login_to_first.as_secs_f64(),
            c.overall_per_min
        );
    }
}

/// One `ucm-scraper once` over `tenants` fresh consoles and a fresh database.
async fn pass(knobs: &Knobs, tenants: usize) -> PassFigures {
    let work = tempfile::tempdir().unwrap();
    let wav_path = work.path().join("speech.wav");
    audio::speech_wav(&wav_path, knobs.call_secs, 8000, 1);
    let wav = Arc::new(std::fs::read(&wav_path).unwrap());
    let db = migrated_database().await;
    let storage = StorageStandIn::start().await;
    let key = fernet::key();
    let token = fernet::encrypt(&key, PASSWORD);

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

    let log = std::fs::File::create(work.path().join("worker.log")).unwrap();
    let started = Instant::now();
    let mut child = tokio::process::Command::new(&knobs.bin)
        .arg("once")
        .current_dir(work.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "RUST_LOG",
            std::env::var("BENCH_RUST_LOG").unwrap_or("info".into()),
        )
        .env("DATABASE_URL", &db.url)
        .env("ENCRYPTION_KEY", &key)
        .env("PBX_PASSWORD_FORMAT", "fernet")
        .env("WEBDRIVER_URL", &Chromedriver::shared().url)
        .env("UCM_ACCEPT_INVALID_CERTS", "true")
        .env("UCM_DOWNLOAD_GAP", format!("{}ms", knobs.gap.as_millis()))
        .env("MAX_PARALLEL_TENANTS", tenants.to_string())
        .env("SUPABASE_URL", &storage.url)
        .env("SUPABASE_SERVICE_ROLE_KEY", LEGACY_KEY)
        .env(
            "SELECTORS_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/selectors"),
        )
        .env("DOWNLOAD_DIR", work.path().join("downloads"))
        .env("ARTIFACTS_DIR", work.path().join("artifacts"))
        .stdout(std::process::Stdio::null())
        .stderr(log)
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
    if let Ok(dir) = std::env::var("BENCH_LOG_DIR") {
        let kept = Path::new(&dir).join(format!("pass-{tenants}-tenants.log"));
        std::fs::copy(work.path().join("worker.log"), &kept).expect("copy the worker's log");
    }
    if !status.success() {
        let log = std::fs::read_to_string(work.path().join("worker.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        eprintln!("worker failed ({status}); last lines:");
        for line in tail.into_iter().rev() {
            eprintln!("{line}");
        }
    }

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
            ConsoleFigures {
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

/// A console with the knobs' calls, newest first, spaced 7 minutes apart in the last hours.
async fn console_with_calls(knobs: &Knobs, wav: &Arc<Vec<u8>>) -> (FakeConsole, Vec<Recording>) {
    let now = chrono::Utc::now().timestamp();
    let recordings: Vec<Recording> = (0..knobs.calls)
        .map(|i| {
            Recording::new(
                "1000",
                &format!("2815058{i:03}"),
                now - 3600 - i as i64 * 420,
                wav.clone(),
            )
        })
        .collect();
    let mut config = ConsoleConfig::for_skin(Skin::Ucm63xx);
    config.password = PASSWORD.into();
    config.tls = true;
    config.download_gap = knobs.gap;
    config.recordings = recordings.clone();
    (FakeConsole::start(config).await, recordings)
}

async fn add_tenant(pool: &PgPool, name: &str, console: &FakeConsole, token: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO tenants (company_name, subdomain, pbx_ip, pbx_port, pbx_username, pbx_password) \
         VALUES ($1, lower(replace($1, ' ', '-')), '127.0.0.1', $2, 'admin', $3) RETURNING id::bigint",
    )
    .bind(name)
    .bind(console.addr.port() as i32)
    .bind(token)
    .fetch_one(pool)
    .await
    .unwrap()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
