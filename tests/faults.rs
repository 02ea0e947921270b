//! Issue 8: the worker under faults and bad input — nothing lost, nothing doubled, nothing
//! leaked. Real Postgres, real Chromium, the console and Storage stand-ins, and the
//! `ucm-scraper` binary as a child process that is killed, stopped and restarted.
//!
//! Random points come from a seeded generator (`FAULTS_SEED`, printed on start) and are reached
//! by watching the stand-ins, the database and the directories, never by sleeping. A test that
//! draws points runs every seed that ever failed it (its `*_SEEDS` list), then a fresh one.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom as _;
use rand::{RngExt as _, SeedableRng as _};
use support::bin::Run;
use support::browser::{browser_slot, Chromedriver};
use support::console::{ConsoleConfig, Recording, Skin};
use support::scenario::{eventually, files_under, Running, Scenario};
use support::storage::{Fault, StorageOptions, StorageStandIn, BUCKET};

/// The seeds a test runs: `FAULTS_SEED` alone when set (to replay one), else the seeds that
/// ever failed it, then a fresh one.
fn seeds(failed_once: &[u64]) -> Vec<u64> {
    match std::env::var("FAULTS_SEED") {
        Ok(seed) => vec![seed.parse().expect("FAULTS_SEED is a number (u64)")],
        Err(_) => failed_once
            .iter()
            .copied()
            .chain([rand::random::<u64>()])
            .collect(),
    }
}

fn rng(test: &str, seed: u64) -> StdRng {
    eprintln!("{test}: FAULTS_SEED={seed}");
    StdRng::seed_from_u64(seed)
}

fn signal(child: &tokio::process::Child, sig: i32) {
    let pid = child.id().expect("the worker still runs") as i32;
    assert!(pid > 1);
    // Only ever the pid of a worker this test started.
    unsafe { libc::kill(pid, sig) };
}

async fn count(s: &Scenario, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(s.pool())
        .await
        .unwrap()
}

/// Waits for `check` while the child runs; false when the child ended first or time ran out.
async fn while_running(
    child: &mut tokio::process::Child,
    within: Duration,
    mut check: impl AsyncFnMut() -> bool,
) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Files in the local store, temp files included.
fn stored_files(dir: &Path) -> Vec<String> {
    files_under(dir)
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .collect()
}

#[derive(Debug, Clone, Copy)]
enum KillPoint {
    /// The console just served the k-th file of this run: the browser is writing it.
    Download,
    /// A downloaded file waits in the work directory: conversion is about to run or running.
    Transcode,
    /// The k-th object of this run just landed in the store: its row is not updated yet.
    Upload,
    /// The k-th row of this run was just marked stored: the next call is mid-flight.
    Record,
}

/// Seeds that failed the crash test once, run every time. 9170925132304585660: under load a
/// kill landed inside the local store's preflight and left its probe file (`.preflight-*`) in
/// STORAGE_DIR; the next run now removes it at start.
const CRASH_SEEDS: &[u64] = &[9170925132304585660];

#[tokio::test]
async fn sigkill_at_random_points_then_restart_until_every_call_is_stored_once() {
    for seed in seeds(CRASH_SEEDS) {
        crash_and_restart(seed).await;
    }
}

async fn crash_and_restart(seed: u64) {
    let _slot = browser_slot().await;
    let mut rng = rng("crash", seed);
    // Its own chromedriver, to count the browsers: a killed worker cannot close its own; the
    // next run must end it.
    let driver = Chromedriver::start();
    let mut s = Scenario::new().await;
    s.webdriver_url = driver.url.clone();
    let store = s.work.path().join("storage");
    s.env.insert("SUPABASE_URL".into(), String::new());
    s.env
        .insert("SUPABASE_SERVICE_ROLE_KEY".into(), String::new());
    s.env
        .insert("STORAGE_DIR".into(), store.display().to_string());
    let n = 50;
    let (console, recordings) = s.console("Crash-pass1", n).await;
    let tenant = s.tenant("Crash Co", &console, "Crash-pass1").await;
    let uniqueids = s.calls(tenant, &recordings).await;

    // Four kills, one per kind of point, in a random order.
    let mut points = [
        KillPoint::Download,
        KillPoint::Transcode,
        KillPoint::Upload,
        KillPoint::Record,
    ];
    points.shuffle(&mut rng);
    let stored_sql = "SELECT count(*) FROM cdr_records WHERE recording_status = 'stored'";
    let mut kills = 0;
    for point in points {
        // Each step below is one a call still without its object has to go through.
        let objects = stored_files(&store).len();
        let Some(k) = draw_k(&mut rng, 10, n.saturating_sub(objects)) else {
            continue;
        };
        let served = console.events().downloads_served;
        let rows = count(&s, stored_sql).await;
        let work_dir = s.downloads().join("work");
        let killed = kill_once_when(&s, &format!("{point:?} #{k}"), async || match point {
            KillPoint::Download => console.events().downloads_served >= served + k as u64,
            KillPoint::Transcode => {
                console.events().downloads_served >= served + k as u64
                    && files_under(&work_dir)
                        .iter()
                        .any(|f| f.extension().is_some_and(|e| e == "wav"))
            }
            KillPoint::Upload => stored_files(&store).len() >= objects + k,
            KillPoint::Record => count(&s, stored_sql).await >= rows + k as i64,
        })
        .await;
        kills += usize::from(killed);
        eprintln!("{} stored so far", count(&s, stored_sql).await);
    }
    // 50 calls paced by the download gap outlast four points of at most 10 steps each.
    assert_eq!(kills, 4, "every kill landed");
    assert!(
        count(&s, stored_sql).await < n as i64,
        "the kills came before the end"
    );

    let last = s.once().await;
    assert!(last.ok, "the restarted worker finishes\n{}", last.stderr);
    assert!(
        last.stderr.contains("an earlier run left in DOWNLOAD_DIR")
            && last
                .stderr
                .contains("Ended 1 browser session(s) an earlier run left open"),
        "leftovers of the killed run swept, its browser ended\n{}",
        last.stderr
    );
    // Each restart ended the browser of the run killed before it.
    assert!(
        eventually(Duration::from_secs(10), || driver.live_browsers() == 0).await,
        "{} browsers of killed runs still open",
        driver.live_browsers()
    );

    // Every call: stored, exactly one object, the row pointing at it, no lease held.
    let rows: Vec<(
        String,
        String,
        Option<String>,
        Option<chrono::NaiveDateTime>,
    )> = sqlx::query_as(
        "SELECT uniqueid, recording_status, recording_local_path, recording_lease_until \
             FROM cdr_records ORDER BY uniqueid",
    )
    .fetch_all(s.pool())
    .await
    .unwrap();
    assert_eq!(rows.len(), n);
    let files = stored_files(&store);
    for (uniqueid, status, path, lease) in &rows {
        let key = format!("tenant_{tenant}/{uniqueid}_recording.mp3");
        assert_eq!(status, "stored", "{uniqueid}\n{}", last.stderr);
        assert_eq!(path.as_deref(), Some(key.as_str()));
        assert_eq!(lease, &None, "{uniqueid} still leased");
        assert!(files.contains(&key), "{key} in the store");
    }
    for uniqueid in &uniqueids {
        assert!(rows.iter().any(|r| &r.0 == uniqueid));
    }
    // A kill costs an attempt only to the calls in flight (one downloading, at most two
    // finishing behind it), not to every call the dead run had claimed.
    let (charged, most): (i64, i32) =
        sqlx::query_as("SELECT sum(recording_attempts), max(recording_attempts) FROM cdr_records")
            .fetch_one(s.pool())
            .await
            .unwrap();
    assert!(
        charged <= (n + 3 * kills) as i64 && most <= 1 + kills as i32,
        "{charged} attempts in all, at most {most} for one call, for {n} calls and {kills} kills"
    );
    // Nothing else in the store (no temp or partial object, no second copy) and nothing left
    // in the download directory.
    assert_eq!(files.len(), n, "{files:?}");
    assert_eq!(s.working_files(), Vec::<std::path::PathBuf>::new());
    s.assert_no_secrets();
}

/// Where a run of store-then-link (issue 16) is killed.
#[derive(Debug, Clone, Copy)]
enum KeepPoint {
    /// The console just served the k-th recording without a call of this run.
    Download,
    /// The k-th kept object of this run just landed: its `console_recordings` row not updated.
    Kept,
    /// The k-th copy to a call's key just landed: the call not recorded yet.
    Copied,
    /// The k-th linked call was just recorded stored: AI and the entry's `matched` follow.
    Recorded,
}

/// The `k` of a kill point "the k-th step of this run": from `1..=most`, but never more than
/// the `left` steps the run still has to do (a run cannot pass more); `None` when none is left.
fn draw_k(rng: &mut StdRng, most: usize, left: usize) -> Option<usize> {
    (left > 0).then(|| rng.random_range(1..=most.min(left)))
}

/// Runs `once` until `reached` holds, then SIGKILLs it and lets go of what it held. True when
/// the kill landed; false when the run did all its work before the point was seen (it must
/// then have ended well). A run that ends without reaching the point had work left: a failure.
async fn kill_once_when(s: &Scenario, point: &str, reached: impl AsyncFn() -> bool) -> bool {
    let mut worker = s.start(s.command(&["once"]));
    let hit = while_running(&mut worker.child, Duration::from_secs(120), async || {
        reached().await
    })
    .await;
    if worker.child.try_wait().unwrap().is_none() {
        signal(&worker.child, libc::SIGKILL);
    }
    let run = s.finish_running(worker).await;
    if run.code.is_none() {
        assert!(hit, "{point} not reached within 120 s\n{}", run.stderr);
        eprintln!("killed at {point}");
        let_go_of_killed_run(s).await;
        return true;
    }
    assert!(
        reached().await,
        "{point} never reached: the worker ended with that work left\n{}",
        run.stderr
    );
    assert!(run.ok, "{}", run.stderr);
    eprintln!("{point}: the run had done all its work before the point was seen; not killed");
    false
}

/// What a SIGKILLed run held ends. Its console lock goes once Postgres has ended the dead
/// run's session: the server notices the closed connection in its own time (on a loaded
/// machine tens of ms after the process is gone), and a run started before then rightly skips
/// the tenant as held by another worker. Its leases end at once, as after their hour.
async fn let_go_of_killed_run(s: &Scenario) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(
        s,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .await
        > 0
    {
        assert!(
            Instant::now() < deadline,
            "the killed run's console lock still held after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await; // poll interval
    }
    sqlx::query(
        "UPDATE cdr_records SET recording_lease_until = now() WHERE recording_lease_until > now()",
    )
    .execute(s.pool())
    .await
    .unwrap();
}

/// Kills a run at its k-th step as `steps` counts them, k drawn against the `left` steps the
/// run has to do; no run when none is left.
async fn kill_at_step(
    s: &Scenario,
    rng: &mut StdRng,
    point: KeepPoint,
    left: usize,
    steps: &impl AsyncFn() -> usize,
) {
    let Some(k) = draw_k(rng, 3, left) else {
        return;
    };
    let before = steps().await;
    kill_once_when(s, &format!("{point:?} #{k}"), async || {
        steps().await >= before + k
    })
    .await;
}

/// Seeds that failed the store-then-link test once, run every time.
const KEEP_SEEDS: &[u64] = &[
    // Issue 21: a run began while Postgres still held the console lock of the run killed just
    // before it, skipped the tenant, and the copy it was to be killed at never came.
    13_340_196_135_982_632_118,
];

#[tokio::test]
async fn sigkill_between_the_steps_of_store_then_link_loses_nothing_and_downloads_nothing_twice() {
    for seed in seeds(KEEP_SEEDS) {
        store_then_link_under_kills(seed).await;
    }
}

async fn store_then_link_under_kills(seed: u64) {
    let _slot = browser_slot().await;
    let mut rng = rng("keep", seed);
    let mut s = Scenario::new().await;
    let receiver = support::webhook::WebhookStandIn::start("keep-secret").await;
    for (var, value) in [
        ("UNMATCHED_RECORDINGS", "store"),
        ("UNMATCHED_IDLE_EVERY", "0s"),
        ("UNMATCHED_MAX_PAGES", "5"),
        ("AI_WEBHOOK_URL", receiver.url.as_str()),
        ("AI_WEBHOOK_SECRET", "keep-secret"),
    ] {
        s.env.insert(var.into(), value.into());
    }
    s.secret("keep-secret");
    let n = 8;
    let (console, recordings) = s.console("Keep-pass1", n).await;
    let tenant = s.tenant("Keep Co", &console, "Keep-pass1").await;
    let kept_objects = async || {
        let keys = s.storage.keys(BUCKET);
        keys.iter().filter(|k| k.contains("/unmatched/")).count()
    };
    let served = async || console.events().downloads_served as usize;
    let copies = async || {
        let keys = s.storage.keys(BUCKET);
        keys.iter().map(|k| s.storage.copies_to(k)).sum::<usize>()
    };
    let recorded = async || {
        count(
            &s,
            "SELECT count(*) FROM cdr_records WHERE recording_status = 'stored'",
        )
        .await as usize
    };

    // The feed is down: the recordings are kept, with a kill on a download and after an upload.
    // Each recording not kept yet has both steps left.
    let mut points = [KeepPoint::Download, KeepPoint::Kept];
    points.shuffle(&mut rng);
    for point in points {
        let left = n - kept_objects().await;
        match point {
            KeepPoint::Download => kill_at_step(&s, &mut rng, point, left, &served).await,
            _ => kill_at_step(&s, &mut rng, point, left, &kept_objects).await,
        }
    }
    let kept = s.once().await;
    assert!(kept.ok, "{}", kept.stderr);
    assert_eq!(kept_objects().await, n, "{}", kept.stderr);
    let downloads = console.events().downloads_served;
    assert!(
        downloads <= n as u64 + 2,
        "at most the killed runs' recordings in flight downloaded again: {downloads}"
    );

    // The calls arrive: linked by copies, with a kill after a copy and after a record. Each
    // call not recorded yet has both steps left.
    let uniqueids = s.calls(tenant, &recordings).await;
    let mut points = [KeepPoint::Copied, KeepPoint::Recorded];
    points.shuffle(&mut rng);
    for point in points {
        let left = n - recorded().await;
        match point {
            KeepPoint::Copied => kill_at_step(&s, &mut rng, point, left, &copies).await,
            _ => kill_at_step(&s, &mut rng, point, left, &recorded).await,
        }
    }
    let linked = s.once().await;
    assert!(linked.ok, "{}", linked.stderr);
    assert_eq!(
        console.events().downloads_served,
        downloads,
        "no call downloaded: every one linked\n{}",
        linked.stderr
    );

    // Exactly one object per key, and the right rows.
    let mut expected: Vec<String> = uniqueids
        .iter()
        .map(|u| format!("tenant_{tenant}/{u}_recording.mp3"))
        .chain(recordings.iter().map(|r| {
            let stem = r.download_name().trim_end_matches(".wav");
            format!("tenant_{tenant}/unmatched/{stem}.mp3")
        }))
        .collect();
    expected.sort();
    assert_eq!(s.storage.keys(BUCKET), expected);
    let calls: Vec<(String, Option<String>, bool, bool)> = sqlx::query_as(
        "SELECT uniqueid, recording_local_path, recording_lease_until IS NULL, \
         ai_triggered_at IS NOT NULL FROM cdr_records ORDER BY uniqueid",
    )
    .fetch_all(s.pool())
    .await
    .unwrap();
    for (uniqueid, path, free, triggered) in &calls {
        let key = format!("tenant_{tenant}/{uniqueid}_recording.mp3");
        assert_eq!(path.as_deref(), Some(key.as_str()), "{uniqueid}");
        assert!(*free && *triggered, "{uniqueid}: lease ended, AI triggered");
    }
    let entries: Vec<(String, Option<i32>)> = sqlx::query_as(
        "SELECT status, matched_call_id FROM console_recordings WHERE tenant_id = $1",
    )
    .bind(tenant as i32)
    .fetch_all(s.pool())
    .await
    .unwrap();
    assert_eq!(entries.len(), n);
    assert!(
        entries
            .iter()
            .all(|(st, call)| st == "matched" && call.is_some()),
        "{entries:?}"
    );
    let triggered: std::collections::BTreeSet<String> = receiver
        .accepted()
        .iter()
        .map(|(_, body)| body["uniqueid"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(triggered.len(), n, "every call announced");
    assert_eq!(s.working_files(), Vec::<std::path::PathBuf>::new());
    s.assert_no_secrets();
}

/// Two `run` loops over the same tenants: no call fetched twice, no console signed into twice
/// at once, and both stop cleanly on SIGTERM.
#[tokio::test]
async fn two_replicas_never_take_the_same_call_or_the_same_console_at_once() {
    let _slot = browser_slot().await;
    let mut scenario = Scenario::new().await;
    scenario.env.insert("SCRAPE_INTERVAL".into(), "1s".into());
    scenario
        .env
        .insert("MAX_PARALLEL_TENANTS".into(), "1".into());
    // Only the calls' work is counted here: the read of the list that follows a pass's calls
    // (recordings without a CDR row) would land after the last one is stored.
    scenario
        .env
        .insert("UNMATCHED_RECORDINGS".into(), "off".into());
    let s = &scenario;
    let (one, first) = s.console("Replica-pass1", 8).await;
    let (two, second) = s.console("Replica-pass2", 8).await;
    let a = s.tenant("Replica A", &one, "Replica-pass1").await;
    let b = s.tenant("Replica B", &two, "Replica-pass2").await;
    let mut keys = Vec::new();
    for (tenant, recordings) in [(a, &first[..5]), (b, &second[..5])] {
        for u in s.calls(tenant, recordings).await {
            keys.push(format!("tenant_{tenant}/{u}_recording.mp3"));
        }
    }
    // Each replica has its own DOWNLOAD_DIR (its container's disk).
    let mut replicas = Vec::new();
    for i in 0..2 {
        let cmd = s.command(&["run"]);
        replicas
            .push(s.start(cmd.env("DOWNLOAD_DIR", s.work.path().join(format!("downloads-{i}")))));
    }
    let started = Instant::now();
    // New calls arrive while a replica is still on the first ones: the other replica's next
    // pass finds them unclaimed, but must not sign into the same console meanwhile.
    assert!(
        eventually(Duration::from_secs(60), || one.events().downloads_served
            >= 1)
        .await,
        "the first calls are being fetched"
    );
    for (tenant, recordings) in [(a, &first[5..]), (b, &second[5..])] {
        for u in s.calls(tenant, recordings).await {
            keys.push(format!("tenant_{tenant}/{u}_recording.mp3"));
        }
    }
    let progress = stored_while_progressing(s, &mut replicas, 16).await;
    eprintln!(
        "{} of 16 stored {:?} after the replicas started, at most {:?} between two",
        progress.stored,
        started.elapsed(),
        progress.longest_gap
    );
    if let Some(stopped) = progress.stopped {
        let left = calls_left(s).await;
        stop_replicas(s, replicas).await;
        panic!(
            "{} of 16 stored: {stopped}; the others:\n{left}(the replicas' logs are kept)",
            progress.stored
        );
    }
    // A few more idle passes of both loops over the finished tenants.
    let objects = s.storage.requests();
    let listed = one.events().pages_listed + two.events().pages_listed;
    tokio::time::sleep(Duration::from_secs(3)).await; // idle time to observe, not a sync point
    assert_eq!(
        s.storage.requests(),
        objects,
        "no upload once all is stored"
    );
    assert_eq!(
        one.events().pages_listed + two.events().pages_listed,
        listed,
        "no browser session once no call is left"
    );
    for run in stop_replicas(s, replicas).await {
        assert!(run.ok, "exit 0 on SIGTERM\n{}", run.stderr);
    }

    for key in &keys {
        assert_eq!(s.storage.stores_of(key), 1, "{key} uploaded once");
    }
    assert_eq!(s.storage.object_count(), 16);
    for console in [&one, &two] {
        let events = console.events();
        assert_eq!(events.downloads_served, 8, "each recording fetched once");
        assert_eq!(
            events.sessions_max_concurrent, 1,
            "never two sessions on one console at once"
        );
    }
    s.assert_no_secrets();
}

/// How long the replicas may go without storing a call before the test gives up.
///
/// What is slow here is known: a pass claims SCRAPE_INTERVAL / UCM_DOWNLOAD_GAP = 3 calls, so
/// each tenant's 8 calls take 3 browser sessions one after another, and each session starts a
/// browser and logs in before its first download. The longest wait between two stored calls is
/// one pass ending and the next starting. Measured on this 2-core machine under
/// scripts/test-under-load.sh (load 7–22, 2026-12-06, worker logs): a pass took 11–21 s, of
/// which browser start 2.6–7.4 s and login 3–7.3 s; all 16 were stored 35–48 s after the
/// start, at most 12.5 s apart. The run that failed at the old 90 s total (load 18–37 plus the
/// hogs) went about twice as slow: 15 stored, the 16th converted, its pass still running. The
/// stall bound is 10 times the longest gap measured; a total bound would have to guess the
/// machine's pace, this one only assumes that a pass ends.
const STALL: Duration = Duration::from_secs(120);

/// Where waiting for the replicas to store the calls ended.
struct Progress {
    stored: i64,
    longest_gap: Duration,
    /// Why it ended before all were stored.
    stopped: Option<String>,
}

/// Waits until `want` calls are stored, for as long as the replicas make progress: it gives up
/// when a replica ends, or when no call was stored for [`STALL`]. A total deadline would have
/// to guess how slow the machine is.
async fn stored_while_progressing(s: &Scenario, replicas: &mut [Running], want: i64) -> Progress {
    let mut stored = 0;
    let mut last_rise = Instant::now();
    let mut longest_gap = Duration::ZERO;
    loop {
        let now = count(
            s,
            "SELECT count(*) FROM cdr_records WHERE recording_status = 'stored'",
        )
        .await;
        if now > stored {
            stored = now;
            longest_gap = longest_gap.max(last_rise.elapsed());
            last_rise = Instant::now();
        }
        let stopped = if stored >= want {
            return Progress {
                stored,
                longest_gap,
                stopped: None,
            };
        } else if let Some(i) = replicas
            .iter_mut()
            .position(|r| r.child.try_wait().unwrap().is_some())
        {
            Some(format!("replica {i} ended"))
        } else if last_rise.elapsed() > STALL {
            Some(format!("none stored for {STALL:?}"))
        } else {
            None
        };
        if stopped.is_some() {
            return Progress {
                stored,
                longest_gap,
                stopped,
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await; // poll interval
    }
}

/// SIGTERM to each replica, then their runs, each within 30 s.
async fn stop_replicas(s: &Scenario, replicas: Vec<Running>) -> Vec<Run> {
    // One that ended already has no pid left to signal.
    for replica in replicas.iter().filter(|r| r.child.id().is_some()) {
        signal(&replica.child, libc::SIGTERM);
    }
    let mut runs = Vec::new();
    for replica in replicas {
        let run = tokio::time::timeout(Duration::from_secs(30), s.finish_running(replica))
            .await
            .expect("a replica stops within 30 s of SIGTERM");
        runs.push(run);
    }
    runs
}

/// The calls not stored yet, one line each: uniqueid, status, attempts, last error.
async fn calls_left(s: &Scenario) -> String {
    let rows: Vec<(String, String, i32, Option<String>)> = sqlx::query_as(
        "SELECT uniqueid, recording_status, recording_attempts, recording_error FROM cdr_records \
         WHERE recording_status <> 'stored' ORDER BY uniqueid",
    )
    .fetch_all(s.pool())
    .await
    .unwrap();
    rows.iter()
        .map(|(id, status, attempts, error)| {
            format!("  {id} {status} after {attempts} attempts: {error:?}\n")
        })
        .collect()
}

/// Seeds that failed the storm test once, run every time.
const STORM_SEEDS: &[u64] = &[];

/// 30% of uploads answer 503 and 10% hang past the request timeout.
#[tokio::test]
async fn a_storage_storm_still_stores_every_call_once_in_bounded_time() {
    for seed in seeds(STORM_SEEDS) {
        storage_storm(seed).await;
    }
}

async fn storage_storm(seed: u64) {
    let _slot = browser_slot().await;
    let mut rng = rng("storm", seed);
    let mut s = Scenario::new().await;
    s.env.insert("STORAGE_TIMEOUT".into(), "1s".into());
    let n = 16;
    let (console, recordings) = s.console("Storm-pass1", n).await;
    let tenant = s.tenant("Storm Co", &console, "Storm-pass1").await;
    let uniqueids = s.calls(tenant, &recordings).await;
    let plan: Vec<Option<Fault>> = (0..3 * n)
        .map(|_| match rng.random_range(0..100) {
            0..30 => Some(Fault::Status(503)),
            30..40 => Some(Fault::Hang),
            _ => None,
        })
        .collect();
    let faults = plan.iter().filter(|f| f.is_some()).count();
    s.storage.schedule(plan);

    let started = Instant::now();
    let run = s.once().await;
    let elapsed = started.elapsed();
    // An upload that met a fault on each of its 5 attempts leaves its call pending, with the
    // reason, for the next pass; that pass stores it. Such a pass did not end well (issue 14):
    // `once` exits 1 and says how many calls wait and why.
    let first = count(
        &s,
        "SELECT count(*) FROM cdr_records WHERE recording_status = 'stored'",
    )
    .await;
    assert_eq!(run.ok, first == n as i64, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout.contains("could not be stored this pass"),
        first < n as i64,
        "{}",
        run.stdout
    );
    let unexplained = count(
        &s,
        "SELECT count(*) FROM cdr_records WHERE recording_status <> 'stored' \
         AND (recording_status <> 'pending' OR coalesce(recording_error, '') = '')",
    )
    .await;
    assert_eq!(unexplained, 0, "{}", run.stderr);
    if first < n as i64 {
        let again = s.once().await;
        assert!(again.ok, "{}", again.stderr);
    }
    for u in &uniqueids {
        let key = format!("tenant_{tenant}/{u}_recording.mp3");
        assert!(s.storage.object(BUCKET, &key).is_some(), "{key} stored");
    }
    assert_eq!(s.storage.object_count(), n, "one object per call");
    let stored = count(
        &s,
        "SELECT count(*) FROM cdr_records WHERE recording_status = 'stored' AND recording_attempts <= 2",
    )
    .await;
    assert_eq!(stored, n as i64, "every call stored within two passes");
    // Attempts bounded: each request is a success or one of the planned faults.
    assert!(
        s.storage.requests() <= n + faults,
        "{} requests for {n} uploads and {faults} faults",
        s.storage.requests()
    );
    // Time bounded: the downloads' pacing, plus per fault one timeout and one backoff pause.
    let bound = Duration::from_secs(40) + faults as u32 * Duration::from_secs(3);
    eprintln!(
        "storm: {n} calls, {faults} faults, first pass {elapsed:?} (bound {bound:?}), {first} stored by it"
    );
    assert!(elapsed < bound, "{elapsed:?}");
    s.assert_no_secrets();
}

/// SIGTERM while a recording trickles in: the call is finished or given back, the browser
/// closes, the worker exits 0 promptly.
#[tokio::test]
async fn sigterm_during_a_download_finishes_or_releases_and_exits_zero() {
    let _slot = browser_slot().await;
    let driver = Chromedriver::start();
    let mut s = Scenario::new().await;
    s.webdriver_url = driver.url.clone();
    let mut config = ConsoleConfig::for_skin(Skin::Ucm63xx);
    config.download_delay = Duration::from_secs(3);
    let (console, recordings) = s.console_with(config, "Term-pass1", 4, |_| {}).await;
    let tenant = s.tenant("Term Co", &console, "Term-pass1").await;
    s.calls(tenant, &recordings).await;

    let mut worker = s.start(s.command(&["run"]));
    let incoming = s.downloads().join("incoming");
    let downloading = while_running(&mut worker.child, Duration::from_secs(60), async || {
        files_under(&incoming)
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "crdownload"))
    })
    .await;
    assert!(downloading, "a download in flight");
    signal(&worker.child, libc::SIGTERM);
    let termed = Instant::now();
    let run = tokio::time::timeout(Duration::from_secs(30), s.finish_running(worker))
        .await
        .expect("exits within 30 s of SIGTERM");
    eprintln!("SIGTERM to exit: {:?}", termed.elapsed());
    assert!(run.ok, "exit 0\n{}", run.stderr);

    let rows: Vec<(String, Option<chrono::NaiveDateTime>, i32)> = sqlx::query_as(
        "SELECT recording_status, recording_lease_until, recording_attempts FROM cdr_records",
    )
    .fetch_all(s.pool())
    .await
    .unwrap();
    let stored = rows.iter().filter(|r| r.0 == "stored").count();
    assert!(stored >= 1, "the call in flight was finished: {rows:?}");
    assert!(stored < 4, "the rest were not started: {rows:?}");
    for (status, lease, attempts) in &rows {
        assert!(lease.is_none(), "no lease left: {rows:?}");
        if status != "stored" {
            assert_eq!(
                (status.as_str(), *attempts),
                ("pending", 0),
                "given back untried"
            );
        }
    }
    assert_eq!(console.events().logouts, 1, "logged out\n{}", run.stderr);
    assert!(
        eventually(Duration::from_secs(10), || driver.live_browsers() == 0).await,
        "the browser is closed"
    );
    assert_eq!(s.working_files(), Vec::<std::path::PathBuf>::new());
    s.assert_no_secrets();
}

/// Broken tenant rows fail alone with a clear reason; the healthy tenant finishes.
#[tokio::test]
async fn bad_configuration_and_data_fail_alone_with_clear_reasons() {
    let _slot = browser_slot().await;
    let s = Scenario::new().await;
    let (console, recordings) = s.console("Good-pass1", 2).await;
    let good = s.tenant("Good Co", &console, "Good-pass1").await;
    let uniqueids = s.calls(good, &recordings).await;

    let other_key = support::fernet::key();
    s.secret(&other_key);
    s.secret("Other-pass1");
    let wrong_key = support::fernet::encrypt(&other_key, "Other-pass1");
    let wrong = s
        .tenant_raw("Wrong Key Co", Some((&console, &wrong_key)))
        .await;
    let mut damaged = support::fernet::encrypt(&s.fernet_key, "Other-pass1");
    damaged.replace_range(20..24, "AAAA");
    let broken = s.tenant_raw("Damaged Co", Some((&console, &damaged))).await;
    let scheme = s.tenant("Scheme Co", &console, "Good-pass1").await;
    sqlx::query("UPDATE tenants SET pbx_ip = 'https://127.0.0.1:1/admin/' WHERE id = $1")
        .bind(scheme as i32)
        .execute(s.pool())
        .await
        .unwrap();
    let no_port = s.tenant("No Port Co", &console, "Good-pass1").await;
    sqlx::query("UPDATE tenants SET pbx_port = NULL, pbx_ip = '127.0.0.1' WHERE id = $1")
        .bind(no_port as i32)
        .execute(s.pool())
        .await
        .unwrap();
    let other = s.tenant("Other PBX Co", &console, "Good-pass1").await;
    sqlx::query("UPDATE tenants SET phone_system_type = '3cx' WHERE id = $1")
        .bind(other as i32)
        .execute(s.pool())
        .await
        .unwrap();
    // Each bad tenant has a call, so a pass would have to open a browser for it.
    for t in [wrong, broken, scheme, no_port, other] {
        s.calls(t, &recordings[..1]).await;
    }

    let run = s.once().await;
    assert!(!run.ok, "broken tenants make `once` exit 1\n{}", run.stderr);
    assert!(
        run.stderr
            .contains("Found 5 active tenants with UCM configured"),
        "the other PBX type is not loaded\n{}",
        run.stderr
    );
    for u in &uniqueids {
        let key = format!("tenant_{good}/{u}_recording.mp3");
        assert_eq!(s.storage.stores_of(&key), 1, "{key}\n{}", run.stderr);
    }
    // The summary names each broken tenant with a reason an operator can act on.
    for (id, expect) in [
        (wrong, "ENCRYPTION_KEY"),
        (broken, "ENCRYPTION_KEY"),
        (scheme, "pbx_ip"),
        (
            no_port,
            "https://127.0.0.1:8443/ cannot be reached (net::ERR_CONNECTION_REFUSED)",
        ),
    ] {
        let l = run.summary_row(id);
        assert!(l.contains("FAILED") && l.contains(expect), "{id}: {l}");
    }
    assert!(
        run.summary_row(good).contains(" ok"),
        "{}",
        run.summary_row(good)
    );
    assert_eq!(
        run.summary_row(other),
        "",
        "other PBX types are not this worker's"
    );
    // Nothing of the broken tenants' calls was touched.
    let touched = count(
        &s,
        &format!(
            "SELECT count(*) FROM cdr_records WHERE tenant_id IN ({wrong}, {broken}, {other}) \
             AND (recording_status <> 'pending' OR recording_attempts <> 0 OR recording_lease_until IS NOT NULL)"
        ),
    )
    .await;
    assert_eq!(touched, 0);
    s.assert_no_secrets();
}

/// Downloads that are not what they should be, and file names built to escape directories.
#[tokio::test]
async fn bad_downloads_end_converted_kept_or_failed_and_nothing_escapes() {
    bad_downloads(&[
        "empty",
        "truncated",
        "gsm",
        "dotdot",
        "spaces",
        "unicode",
        "long",
    ])
    .await;
}

/// A page (not a WAV) saved as the recording while the session is still valid.
#[tokio::test]
async fn an_html_page_saved_as_the_recording_does_not_block_the_tenant() {
    bad_downloads(&["html", "truncated"]).await;
}

async fn bad_downloads(only: &[&str]) {
    let _slot = browser_slot().await;
    let s = Scenario::new().await;
    let dir = s.work.path();
    let good = std::fs::read(dir.join("speech.wav")).unwrap();
    let gsm_path = dir.join("gsm.wav");
    support::audio::speech_wav_as(&gsm_path, 2.0, 8000, 1, support::audio::Encoding::Gsm);
    let html = b"<!DOCTYPE html><html><head><title>Grandstream | UCM6300 Series</title></head><body><div id=\"root\"></div></body></html>".to_vec();
    let cases: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        // (what, bytes, file name) — None keeps the UCM name.
        ("empty", Vec::new(), None),
        ("html", html, None),
        ("truncated", good[..good.len() / 3].to_vec(), None),
        ("gsm", std::fs::read(&gsm_path).unwrap(), None),
        ("dotdot", good.clone(), Some("../../escape-{e}.wav")),
        ("spaces", good.clone(), Some("auto {e} with spaces.wav")),
        ("unicode", good.clone(), Some("auto-{e}-Zürich-电话.wav")),
        ("long", good.clone(), Some("LONG")),
    ];
    let cases: Vec<_> = cases.into_iter().filter(|c| only.contains(&c.0)).collect();
    let names: Vec<Option<String>> = cases.iter().map(|c| c.2.map(str::to_string)).collect();
    let bytes: Vec<Vec<u8>> = cases.iter().map(|c| c.1.clone()).collect();
    let (console, recordings) = {
        let n = cases.len();
        let index = std::sync::atomic::AtomicUsize::new(0);
        s.console_with(
            ConsoleConfig::for_skin(Skin::Ucm63xx),
            "Bad-pass1",
            n,
            |r: &mut Recording| {
                let i = index.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                r.wav = std::sync::Arc::new(bytes[i].clone());
                if let Some(name) = &names[i] {
                    let e = r.start_epoch;
                    let name = if name == "LONG" {
                        format!("auto-{e}-{}.wav", "x".repeat(280))
                    } else {
                        name.replace("{e}", &e.to_string())
                    };
                    let month = r.file.split('/').next().unwrap().to_string();
                    r.file = format!("{month}/{name}");
                }
            },
        )
        .await
    };
    let tenant = s.tenant("Bad Files Co", &console, "Bad-pass1").await;
    let uniqueids = s.calls(tenant, &recordings).await;

    let run = s.once().await;
    let outcome = async |u: &str| -> (String, Option<String>, Option<String>) {
        sqlx::query_as(
            "SELECT recording_status, recording_local_path, recording_error FROM cdr_records WHERE uniqueid = $1",
        )
        .bind(u)
        .fetch_one(s.pool())
        .await
        .unwrap()
    };
    let mut report = String::new();
    for ((what, _, _), u) in cases.iter().zip(&uniqueids) {
        let (status, path, error) = outcome(u).await;
        report.push_str(&format!("{what}: {status} {path:?} {error:?}\n"));
    }
    eprintln!("{report}");
    for ((what, _, _), u) in cases.iter().zip(&uniqueids) {
        let (status, path, error) = outcome(u).await;
        match status.as_str() {
            "stored" => {
                let key = path.clone().unwrap();
                assert!(
                    s.storage.object(BUCKET, &key).is_some(),
                    "{what}: {key} exists"
                );
            }
            "pending" | "failed" | "not_on_console" => {
                assert!(
                    error.as_deref().is_some_and(|e| e.len() > 10),
                    "{what}: a clear reason\n{report}\n{}",
                    run.stderr
                );
            }
            other => panic!("{what}: left {other}"),
        }
    }
    eprintln!("{report}");
    let of = |what: &str| {
        report
            .lines()
            .find(|l| l.starts_with(&format!("{what}:")))
            .map(|l| l.split_whitespace().nth(1).unwrap_or_default().to_string())
    };
    let expect = |what: &str, allowed: &[&str]| {
        if let Some(status) = of(what) {
            assert!(
                allowed.contains(&status.as_str()),
                "{what}: {status}, expected one of {allowed:?}\n{report}\n{}",
                run.stderr
            );
        }
    };
    // Never a page or an empty file uploaded as a recording.
    expect("html", &["pending", "failed"]);
    expect("empty", &["pending", "failed"]);
    // A recording cut short or in GSM is still a recording: converted, or kept as it came.
    expect("truncated", &["stored"]);
    expect("gsm", &["stored"]);
    // Odd names: fetched under the call's own key, or reported as not found on the console.
    for what in ["spaces", "unicode", "dotdot"] {
        expect(what, &["stored", "not_on_console"]);
    }
    // A name longer than Chromium saves a download under (it cancels such downloads): failed
    // for good at once with the next step, never a download timeout on every pass.
    expect("long", &["failed"]);
    if of("long").is_some() {
        assert!(
            report.contains("download it from the console by hand")
                && !report.contains("did not finish"),
            "{report}"
        );
    }
    // Nothing escaped: no file outside the download directory, none left inside it.
    let mut outside: Vec<_> = files_under(dir)
        .into_iter()
        .filter(|p| !p.starts_with(s.downloads()) && !p.starts_with(s.artifacts()))
        .collect();
    outside.retain(|p| p != &dir.join("speech.wav") && p != &gsm_path);
    assert_eq!(outside, Vec::<std::path::PathBuf>::new());
    assert_eq!(s.working_files(), Vec::<std::path::PathBuf>::new());
    s.assert_no_secrets();
}

/// What is lost in the middle of a tenant's pass.
#[derive(Debug, Clone, Copy)]
enum Loss {
    /// The tenant's browser (Chromium crashed or was OOM-killed); chromedriver lives on.
    Browser,
    /// The chromedriver sidecar with its browsers, restarted by the container runtime.
    Chromedriver,
}

/// The browser of one tenant dies mid-pass: that tenant's pass fails cleanly and gives its calls
/// back, the next tenant finishes, the next pass recovers.
#[tokio::test]
async fn browser_loss_fails_one_tenant_cleanly_and_the_next_pass_recovers() {
    lose_mid_pass(Loss::Browser).await;
}

/// The same when chromedriver itself is killed and comes back.
#[tokio::test]
async fn chromedriver_loss_fails_one_tenant_cleanly_and_the_next_pass_recovers() {
    lose_mid_pass(Loss::Chromedriver).await;
}

async fn lose_mid_pass(loss: Loss) {
    let _slot = browser_slot().await;
    let driver = std::sync::Arc::new(Chromedriver::start());
    let mut s = Scenario::new().await;
    s.webdriver_url = driver.url.clone();
    s.env.insert("MAX_PARALLEL_TENANTS".into(), "1".into());
    let (one, first) = s.console("Lost-pass1", 5).await;
    let (two, second) = s.console("Lost-pass2", 3).await;
    let a = s.tenant("Lost Browser Co", &one, "Lost-pass1").await;
    let b = s.tenant("Next Co", &two, "Lost-pass2").await;
    s.calls(a, &first).await;
    s.calls(b, &second).await;

    let mut worker = s.start(s.command(&["once"]));
    // Tenants run one at a time, in id order: the only browser alive is the first tenant's.
    let midway = while_running(&mut worker.child, Duration::from_secs(60), async || {
        one.events().downloads_served >= 2
    })
    .await;
    assert!(midway, "the first tenant's pass got going");
    let browsers = driver.browser_pids();
    assert_eq!(browsers.len(), 1, "{browsers:?}");
    match loss {
        // The pid of a browser this test's own chromedriver started for the worker.
        Loss::Browser => {
            unsafe { libc::kill(browsers[0] as i32, libc::SIGKILL) };
        }
        // Back only once the first tenant's pass has given up its calls, so that the worker
        // meets a dead chromedriver when it opens the next tenant's browser and must wait.
        Loss::Chromedriver => {
            driver.crash();
            let released = while_running(&mut worker.child, Duration::from_secs(60), async || {
                count(
                    &s,
                    &format!("SELECT count(*) FROM cdr_records WHERE tenant_id = {a} AND recording_lease_until IS NOT NULL"),
                )
                .await
                    == 0
            })
            .await;
            assert!(released, "the first tenant's calls given back");
            tokio::time::timeout(
                Duration::from_secs(60),
                driver.down_until_a_session_is_asked_for(),
            )
            .await
            .expect("the worker asks for the next tenant's browser");
            // Blocking (it waits for the new chromedriver); the stand-ins run on this thread.
            let driver = std::sync::Arc::clone(&driver);
            tokio::task::spawn_blocking(move || driver.restart())
                .await
                .unwrap();
        }
    }
    let run = tokio::time::timeout(Duration::from_secs(120), s.finish_running(worker))
        .await
        .expect("the pass ends in bounded time");
    assert!(
        !run.ok,
        "the failed tenant makes `once` exit 1\n{}",
        run.stderr
    );
    assert!(run.summary_row(a).contains("FAILED"), "{}", run.stdout);
    if let Loss::Chromedriver = loss {
        assert!(
            run.stderr
                .contains("WebDriver server not reachable; waiting for it to come back"),
            "the next tenant waited for chromedriver\n{}",
            run.stderr
        );
    }
    assert!(
        run.summary_row(b).contains(" ok"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(two.events().downloads_served, 3, "the next tenant finished");
    // Every call given back at once; only the one in flight when the browser died (if it was
    // not stored after all) keeps its attempt.
    let (held, not_pending, charged): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE recording_lease_until IS NOT NULL), \
                count(*) FILTER (WHERE recording_status NOT IN ('stored', 'pending')), \
                count(*) FILTER (WHERE recording_status = 'pending' AND recording_attempts > 0) \
         FROM cdr_records",
    )
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert_eq!(
        (held, not_pending),
        (0, 0),
        "calls given back\n{}",
        run.stderr
    );
    assert!(charged <= 1, "{charged} calls charged\n{}", run.stderr);

    let next = s.once().await;
    assert!(next.ok, "the next pass recovers\n{}", next.stderr);
    let stored = count(
        &s,
        "SELECT count(*) FROM cdr_records WHERE recording_status = 'stored'",
    )
    .await;
    assert_eq!(stored, 8);
    assert_eq!(s.storage.object_count(), 8);
    assert!(
        eventually(Duration::from_secs(10), || driver.live_browsers() == 0).await,
        "every browser closed"
    );
    s.assert_no_secrets();
}

/// Issue 14: every call still waits as it was: pending, no attempt charged, no lease.
async fn assert_calls_untouched(s: &Scenario, n: i64, output: &str) {
    let untouched = count(
        s,
        "SELECT count(*) FROM cdr_records WHERE recording_status = 'pending' \
         AND recording_attempts = 0 AND recording_lease_until IS NULL",
    )
    .await;
    assert_eq!(untouched, n, "no call claimed or charged\n{output}");
}

/// Issue 14: a storage that refuses the worker's configuration costs no call anything. The
/// preflight stops the pass before a call is claimed or a browser opens; `once` exits non-zero,
/// with one line saying what to fix and a line saying how many calls wait. Once fixed, the next
/// pass stores every call.
#[tokio::test]
async fn a_storage_configuration_error_stops_the_pass_before_any_call_is_claimed() {
    let _slot = browser_slot().await;
    let mut s = Scenario::new().await;
    let (console, recordings) = s.console("Conf-pass1", 3).await;
    let tenant = s.tenant("Conf Co", &console, "Conf-pass1").await;
    s.calls(tenant, &recordings).await;
    let wrong_key = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.wrong-signature";
    s.secret(wrong_key);
    let small = StorageStandIn::start_with(StorageOptions {
        file_size_limit: Some(1 << 20),
        ..StorageOptions::default()
    })
    .await;
    let usable = s.storage.clone();

    for (var, value, storage, says) in [
        (
            "SUPABASE_BUCKET",
            "call-recordingz",
            &usable,
            "SUPABASE_BUCKET",
        ),
        (
            "SUPABASE_SERVICE_ROLE_KEY",
            wrong_key,
            &usable,
            "SUPABASE_SERVICE_ROLE_KEY",
        ),
        ("SUPABASE_BUCKET", BUCKET, &small, "file size limit"),
    ] {
        s.env.insert(var.into(), value.into());
        s.storage = storage.clone();
        let run = s.once().await;
        s.env.remove(var);
        let output = format!("{}\n{}", run.stdout, run.stderr);
        assert_eq!(run.code, Some(1), "{var}: exit 1\n{output}");
        let stops: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.contains("Storage cannot take recordings"))
            .collect();
        assert_eq!(stops.len(), 1, "one line\n{output}");
        assert!(stops[0].contains(says), "{}", stops[0]);
        assert!(
            run.stdout
                .lines()
                .any(|l| l.starts_with("3 call(s) wait for a recording") && l.contains(says)),
            "how many wait, and why\n{output}"
        );
        assert_calls_untouched(&s, 3, &output).await;
        assert_eq!(console.events().logins_tried, 0, "no browser opened");
    }
    assert_eq!(usable.requests() + small.requests(), 0, "nothing uploaded");

    s.storage = usable;
    let run = s.once().await;
    assert!(run.ok, "{}", run.stderr);
    let stored = count(
        &s,
        "SELECT count(*) FROM cdr_records WHERE recording_status = 'stored' AND recording_attempts = 1",
    )
    .await;
    assert_eq!(
        stored, 3,
        "each stored on its first attempt\n{}",
        run.stderr
    );
    s.assert_no_secrets();
}

/// Issue 14: the bucket disappears after the preflight. The first upload's refusal stops the
/// pass like a shutdown: no further call is started, and the calls are given back uncharged.
#[tokio::test]
async fn a_configuration_refusal_mid_pass_stops_it_and_gives_the_calls_back_uncharged() {
    let _slot = browser_slot().await;
    let s = Scenario::new().await;
    let (console, recordings) = s.console("Gone-pass1", 4).await;
    let tenant = s.tenant("Gone Co", &console, "Gone-pass1").await;
    s.calls(tenant, &recordings).await;
    s.storage.delete_buckets_after_next_read();

    let run = s.once().await;
    let output = format!("{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.code, Some(1), "{output}");
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("4 call(s) wait for a recording")
                && l.contains("SUPABASE_BUCKET")),
        "{output}"
    );
    assert_calls_untouched(&s, 4, &output).await;
    let served = console.events().downloads_served;
    // One upload refused; at most the next download was under way when it was.
    assert!((1..=2).contains(&served), "{served} downloads\n{output}");
    assert_eq!(s.storage.object_count(), 0);
    assert_eq!(s.working_files(), Vec::<std::path::PathBuf>::new());
    s.assert_no_secrets();
}

/// Issue 14: `run` with a missing bucket keeps serving `/healthz`, says it is not ready, tries
/// again every interval without touching a call, and gets to work once the bucket exists.
#[tokio::test]
async fn run_with_a_missing_bucket_is_alive_not_ready_and_retries_each_interval() {
    let _slot = browser_slot().await;
    let mut s = Scenario::new().await;
    s.env.insert("SUPABASE_BUCKET".into(), "later".into());
    s.env.insert("SCRAPE_INTERVAL".into(), "1s".into());
    let (console, recordings) = s.console("Later-pass1", 2).await;
    let tenant = s.tenant("Later Co", &console, "Later-pass1").await;
    s.calls(tenant, &recordings).await;

    let (mut child, mut log, addr) = s.run_serving_metrics().await;

    let retried = while_running(&mut child, Duration::from_secs(60), async || {
        s.storage.bucket_reads() >= 3
    })
    .await;
    assert!(retried, "a preflight every interval\n{}", log.text());
    let http = reqwest::Client::new();
    let get = async |path: &str| {
        let answer = http
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.json::<serde_json::Value>().await.unwrap())
    };
    let (status, health) = get("/healthz").await;
    assert_eq!(status, 200, "alive: {health}");
    assert_eq!(health["ready"], false, "{health}");
    assert_eq!(health["state"], "stopped", "{health}");
    assert!(
        health["reason"]
            .as_str()
            .unwrap()
            .contains("SUPABASE_BUCKET"),
        "{health}"
    );
    let (status, _) = get("/readyz").await;
    assert_eq!(status, 503);
    assert_calls_untouched(&s, 2, &log.text()).await;

    s.storage.create_bucket("later");
    let stored = while_running(&mut child, Duration::from_secs(90), async || {
        count(
            &s,
            "SELECT count(*) FROM cdr_records WHERE recording_status = 'stored'",
        )
        .await
            == 2
    })
    .await;
    assert!(stored, "stored once the bucket exists\n{}", log.text());
    let ready = while_running(&mut child, Duration::from_secs(30), async || {
        get("/readyz").await.0 == 200
    })
    .await;
    assert!(ready, "ready again\n{}", log.text());
    signal(&child, libc::SIGTERM);
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("stops after SIGTERM")
        .unwrap();
    log.finish().await;
    assert!(status.success(), "{}", log.text());
}
