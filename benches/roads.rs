//! The roads benchmark (issue 25, point 6): the same recordings through each road in one run,
//! `ucm-scraper once` with real Postgres, real Chromium + chromedriver and the Supabase Storage
//! stand-in.
//!
//! `cargo bench --profile dev --bench roads` (debug, no release build needed) or
//! `cargo bench --bench roads` (release). Two passes, one after the other, each with a fresh
//! database and its own console stand-in holding the same `BENCH_CALLS` calls (60) and the same
//! recording files:
//! - the browser road: one tenant with `driver = 'browser'`;
//! - the API road: one tenant with `driver = 'api'` and API credentials, whose console also
//!   serves the HTTPS API stand-in (`tests/support/ucm_api.rs`) on a port of its own, with the
//!   same calls as CDRs and the same files for `recapi`.
//!
//! Both passes run with the same `UCM_DOWNLOAD_GAP` (`BENCH_GAP`, 1s), the gap the web console
//! stand-in enforces (faster downloads get its 429 page). The API stand-in enforces no gap
//! (its `min_gap` is off), and recordings without a call are not read (`UNMATCHED_RECORDINGS=off`)
//! on either road: the API road reads no Recordings list yet.
//!
//! Prints, per road: recordings a minute over the worker's whole wall time and steady (from the
//! first recording stored to the last), the worker's peak memory (`ru_maxrss` from `wait4`), the
//! browsers' peak memory (the highest sum, sampled every 100 ms, over every Chromium process
//! under this bench's chromedriver: PSS and RSS), how many browsers were started, and the
//! requests the stand-ins counted per recording stored. Nothing is asserted about times.
//! Other knobs: `BENCH_CALL_SECS` (30), `UCM_BIN`, `BENCH_LOG_DIR`, `BENCH_RUST_LOG`, as for
//! `benches/pass.rs`.

#[path = "../tests/support/mod.rs"]
mod support;

mod shared;

use std::collections::{HashMap, HashSet};
use std::os::unix::process::ExitStatusExt as _;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use support::browser::{wait_no_browsers, Chromedriver};
use support::console::{ConsoleEvents, Recording};
use support::fernet;
use support::pg::migrated_database;
use support::storage::StorageStandIn;
use support::ucm_api::{ApiStandIn, ServedApi};

use shared::WorkerEnv;

const API_USER: &str = "cdrapi";
const API_PASSWORD: &str = "Bench-api-1";
/// How often the browsers' memory is sampled (the store times every 10 ms).
const MEMORY_SAMPLE_EVERY: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Road {
    Browser,
    Api,
}

impl Road {
    fn driver(self) -> &'static str {
        match self {
            Road::Browser => "browser",
            Road::Api => "api",
        }
    }
}

struct Knobs {
    calls: usize,
    gap: Duration,
    call_secs: f64,
    bin: String,
}

/// What one road's pass did and cost.
struct RoadFigures {
    road: Road,
    ok: bool,
    wall: Duration,
    stored: usize,
    expected: usize,
    /// From the first recording stored to the last.
    steady_per_min: f64,
    worker_peak_kib: i64,
    browsers: BrowserMemory,
    web: ConsoleEvents,
    /// Every `POST /api` the API stand-in answered, by action.
    api_requests: HashMap<String, u32>,
    api_busy: u32,
}

impl RoadFigures {
    fn whole_pass_per_min(&self) -> f64 {
        self.stored as f64 / self.wall.as_secs_f64() * 60.0
    }

    /// The steady rate against the web console's download limit, which binds the browser road
    /// only: the API stand-in enforces no gap.
    fn against_limit(&self, limit: f64) -> String {
        match self.road {
            Road::Browser => format!("{:.2} × limit", self.steady_per_min / limit),
            Road::Api => "no limit on the API".into(),
        }
    }

    /// The web console's requests its counters see: login, logout, list pages, file checks,
    /// downloads (served or refused) and API challenges. The page shell, its static files and
    /// `getSystemStatus` are not counted by the stand-in.
    fn web_requests(&self) -> u64 {
        let w = &self.web;
        w.challenges
            + w.api_challenges
            + w.logins_tried
            + w.logouts
            + w.pages_listed
            + w.files_checked
            + w.downloads_served
            + w.downloads_rate_limited
            + w.downloads_without_session
            + w.downloads_not_found
    }

    fn api_requests(&self) -> u64 {
        self.api_requests.values().map(|n| u64::from(*n)).sum()
    }

    fn per_recording(&self, requests: u64) -> f64 {
        requests as f64 / self.stored.max(1) as f64
    }
}

/// The highest memory the browsers held at once during a pass, and how many were started.
#[derive(Default)]
struct BrowserMemory {
    peak_pss_kib: u64,
    peak_rss_kib: u64,
    /// Chromium main processes seen (one per browser session).
    started: HashSet<u32>,
}

fn main() {
    let knobs = Knobs {
        calls: shared::env_or("BENCH_CALLS", 60),
        gap: shared::gap_knob(),
        call_secs: shared::env_or("BENCH_CALL_SECS", 30.0),
        bin: shared::worker_bin(),
    };
    let limit = 60.0 / knobs.gap.as_secs_f64();
    println!("{}", shared::machine::machine_line());
    println!(
        "worker: {} ({}); the same {} calls of {} s speech (8 kHz mono WAV) on each road; \
         UCM_DOWNLOAD_GAP {:?} on both (the web console's limit {limit:.0}/min); \
         the API stand-in enforces no gap; UNMATCHED_RECORDINGS=off",
        knobs.bin,
        shared::build_kind(&knobs.bin),
        knobs.calls,
        knobs.call_secs,
        knobs.gap
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let work = tempfile::tempdir().unwrap();
    let wav = shared::speech_wav(work.path(), knobs.call_secs);
    let recordings = shared::recordings(knobs.calls, &wav);
    let figures: Vec<RoadFigures> = [Road::Browser, Road::Api]
        .into_iter()
        .map(|road| {
            let figures = runtime.block_on(pass(&knobs, &recordings, road));
            report(&figures);
            figures
        })
        .collect();
    table(&figures, limit);
}

/// What the table leaves out: the worker's exit, and what each stand-in was asked.
fn report(f: &RoadFigures) {
    let mut api: Vec<String> = f
        .api_requests
        .iter()
        .map(|(action, n)| format!("{action} {n}"))
        .collect();
    api.sort();
    println!(
        "{} road: worker {}; web console: {} login(s), {} list page(s), {} file check(s), \
         {} download(s) served, {} refused for pacing, {} request(s) counted; \
         API: {} request(s) ({}), {} busy answer(s)",
        f.road.driver(),
        if f.ok { "ok" } else { "FAILED" },
        f.web.logins_tried,
        f.web.pages_listed,
        f.web.files_checked,
        f.web.downloads_served,
        f.web.downloads_rate_limited,
        f.web_requests(),
        f.api_requests(),
        api.join(", "),
        f.api_busy
    );
}

fn table(figures: &[RoadFigures], limit: f64) {
    println!();
    println!(
        "| road | stored | wall | whole pass | steady (× web limit {limit:.0}/min) | worker peak | \
         browsers started | browser peak PSS (RSS sum) | web requests / rec. | API requests / rec. |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for f in figures {
        println!(
            "| {} | {}/{} | {:.1} s | {:.1}/min | {:.1}/min ({}) | {:.1} MiB | {} | \
             {:.1} MiB ({:.1} MiB) | {:.2} | {:.2} |",
            f.road.driver(),
            f.stored,
            f.expected,
            f.wall.as_secs_f64(),
            f.whole_pass_per_min(),
            f.steady_per_min,
            f.against_limit(limit),
            mib(f.worker_peak_kib as u64),
            f.browsers.started.len(),
            mib(f.browsers.peak_pss_kib),
            mib(f.browsers.peak_rss_kib),
            f.per_recording(f.web_requests()),
            f.per_recording(f.api_requests()),
        );
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// One `ucm-scraper once` for one tenant on `road`, with a fresh database and console.
async fn pass(knobs: &Knobs, recordings: &[Recording], road: Road) -> RoadFigures {
    let work = tempfile::tempdir().unwrap();
    let db = migrated_database().await;
    let storage = StorageStandIn::start().await;
    let key = fernet::key();
    let token = fernet::encrypt(&key, shared::PASSWORD);
    let console = shared::console_with(recordings, knobs.gap).await;
    let name = format!("Bench {}", road.driver());
    let tenant = shared::add_tenant(&db.pool, &name, &console, &token).await;
    let uniqueids = support::scenario::insert_calls(&db.pool, tenant, recordings, 30).await;
    let expected_keys: Vec<String> = uniqueids
        .iter()
        .map(|u| format!("tenant_{tenant}/{u}_recording.mp3"))
        .collect();
    set_driver(&db.pool, tenant, road).await;
    let api = match road {
        Road::Api => Some(api_with_calls(&db.pool, tenant, &key, recordings, &uniqueids).await),
        Road::Browser => None,
    };

    let env = WorkerEnv {
        database_url: &db.url,
        fernet_key: &key,
        storage_url: &storage.url,
        gap: knobs.gap,
        parallel_tenants: 1,
    };
    let mut cmd = shared::worker_command(&knobs.bin, work.path(), &env);
    cmd.env("UNMATCHED_RECORDINGS", "off");
    let chromedriver = chromedriver_pid();
    let started = Instant::now();
    let mut worker = Worker(Some(cmd.spawn().expect("start ucm-scraper once")));

    let mut browsers = BrowserMemory::default();
    let mut last_sample: Option<Instant> = None;
    let (mut first_stored, mut last_stored, mut seen) = (None, None, 0);
    let (status, usage) = loop {
        let count = storage.object_count();
        if count > seen {
            let now = Instant::now();
            first_stored.get_or_insert(now);
            last_stored = Some(now);
            seen = count;
        }
        if last_sample.is_none_or(|at| at.elapsed() >= MEMORY_SAMPLE_EVERY) {
            sample_browsers(chromedriver, &mut browsers);
            last_sample = Some(Instant::now());
        }
        if let Some(done) = worker.reap() {
            break done;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let wall = started.elapsed();
    shared::after_worker(work.path(), &format!("roads-{}.log", road.driver()), status);

    let steady_per_min = match (first_stored, last_stored) {
        (Some(a), Some(b)) if seen > 1 && b > a => (seen - 1) as f64 / (b - a).as_secs_f64() * 60.0,
        _ => 0.0,
    };
    let (api_requests, api_busy) = api
        .as_ref()
        .map(|(api, _)| {
            let events = api.events();
            (events.requests, events.busy_answers)
        })
        .unwrap_or_default();
    let stored = expected_keys
        .iter()
        .filter(|k| storage.stores_of(k) == 1)
        .count();
    let left = wait_no_browsers(Duration::from_secs(20)).await;
    if left > 0 {
        println!(
            "{left} browser(s) still open 20 s after the {road} pass",
            road = road.driver()
        );
    }
    RoadFigures {
        road,
        ok: status.success(),
        wall,
        stored,
        expected: expected_keys.len(),
        steady_per_min,
        worker_peak_kib: usage.ru_maxrss,
        browsers,
        web: console.events(),
        api_requests,
        api_busy,
    }
}

async fn set_driver(pool: &PgPool, tenant: i64, road: Road) {
    sqlx::query("UPDATE tenants SET driver = $2 WHERE id = $1")
        .bind(tenant)
        .bind(road.driver())
        .execute(pool)
        .await
        .unwrap();
}

/// The API stand-in with the console's calls (the uniqueids the backend stored, start times in
/// the console's zone, UTC) and files, served over HTTPS on a port of its own; the tenant gets
/// API credentials for it (the password sealed the backend's way).
async fn api_with_calls(
    pool: &PgPool,
    tenant: i64,
    fernet_key: &str,
    recordings: &[Recording],
    uniqueids: &[String],
) -> (ApiStandIn, ServedApi) {
    let api = ApiStandIn::new(API_USER, API_PASSWORD);
    api.mirror(recordings, uniqueids, chrono_tz::UTC);
    let served = api.serve(true).await;
    let port: i32 = url::Url::parse(&served.url).unwrap().port().unwrap().into();
    sqlx::query(
        "UPDATE tenants SET api_username = $2, api_password = $3, api_port = $4 WHERE id = $1",
    )
    .bind(tenant)
    .bind(API_USER)
    .bind(fernet::encrypt(fernet_key, API_PASSWORD))
    .bind(port)
    .execute(pool)
    .await
    .unwrap();
    (api, served)
}

/// The worker's process; killed and reaped if the bench ends before it does.
struct Worker(Option<Child>);

impl Worker {
    /// The exit status and resource use once the worker has ended (reaped by `wait4`, which
    /// gives its own peak memory); `None` while it runs.
    fn reap(&mut self) -> Option<(ExitStatus, libc::rusage)> {
        let pid = self.0.as_ref()?.id() as libc::pid_t;
        let mut status = 0;
        // SAFETY: rusage is plain data that wait4 fills in; the pid is our own child, and once
        // reaped here its `Child` is forgotten, never waited on or killed again.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        match reaped {
            0 => None,
            r if r == pid => {
                self.0 = None;
                Some((ExitStatus::from_raw(status), usage))
            }
            _ => panic!("wait4 on the worker: {}", std::io::Error::last_os_error()),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// This bench's chromedriver: the process whose command line names its port.
fn chromedriver_pid() -> u32 {
    let port = format!("--port={}", Chromedriver::shared().port);
    processes()
        .into_iter()
        .find(|p| p.cmdline.contains("chromedriver") && p.cmdline.contains(&port))
        .map(|p| p.pid)
        .expect("the bench's chromedriver is running")
}

/// Adds the memory of every Chromium process under `chromedriver` now, and keeps the peak.
fn sample_browsers(chromedriver: u32, memory: &mut BrowserMemory) {
    let all = processes();
    let mut under = HashSet::from([chromedriver]);
    // Parents come before children in no guaranteed order: widen until nothing is added.
    loop {
        let before = under.len();
        for p in &all {
            if under.contains(&p.ppid) {
                under.insert(p.pid);
            }
        }
        if under.len() == before {
            break;
        }
    }
    let (mut pss, mut rss) = (0, 0);
    for p in all
        .iter()
        .filter(|p| p.pid != chromedriver && under.contains(&p.pid))
        .filter(|p| p.cmdline.contains("chrom"))
    {
        if !p.cmdline.contains("--type=") {
            memory.started.insert(p.pid);
        }
        pss += kib_field(&format!("/proc/{}/smaps_rollup", p.pid), "Pss:");
        rss += kib_field(&format!("/proc/{}/status", p.pid), "VmRSS:");
    }
    memory.peak_pss_kib = memory.peak_pss_kib.max(pss);
    memory.peak_rss_kib = memory.peak_rss_kib.max(rss);
}

struct Process {
    pid: u32,
    ppid: u32,
    cmdline: String,
}

/// Every process now: pid, parent and command line.
fn processes() -> Vec<Process> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // `pid (comm) state ppid …`: comm may hold spaces, so read after its `)`.
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            let raw = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
            Some(Process { pid, ppid, cmdline })
        })
        .collect()
}

/// A `Name:   1234 kB` line of a /proc file, in KiB; 0 when the process is gone.
fn kib_field(path: &str, name: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
