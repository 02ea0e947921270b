//! The guide's whole flow against real parts: Postgres, Chromium + chromedriver, the console
//! and Supabase Storage stand-ins, and the `ucm-scraper once` binary (issue 6's acceptance).

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use support::browser::{wait_no_browsers, Chromedriver};
use support::console::{ConsoleConfig, FakeConsole, Recording, Skin};
use support::pg::{migrated_database, TestDb};
use support::storage::{Fault, StorageStandIn, BUCKET, LEGACY_KEY};
use support::{audio, fernet};

/// The console's zone; the tenant row says the same, so times must be converted both ways.
const ZONE: &str = "Europe/Berlin";
const GAP: Duration = Duration::from_millis(300);

/// A console with `n` speech recordings of calls from the last hours, newest first.
async fn console_with_calls(
    skin: Skin,
    password: &str,
    n: usize,
    wav: &Arc<Vec<u8>>,
) -> (FakeConsole, Vec<Recording>) {
    let now = chrono::Utc::now().timestamp();
    let recordings: Vec<Recording> = (0..n)
        .map(|i| {
            Recording::new(
                "1000",
                &format!("28150582{i:02}"),
                now - 3600 - i as i64 * 420,
                wav.clone(),
            )
        })
        .collect();
    let mut config = ConsoleConfig::for_skin(skin);
    config.password = password.into();
    config.tls = true;
    config.timezone = ZONE.parse().unwrap();
    config.download_gap = GAP;
    config.recordings = recordings.clone();
    (FakeConsole::start(config).await, recordings)
}

fn speech(dir: &Path) -> Arc<Vec<u8>> {
    let path = dir.join("speech.wav");
    audio::speech_wav(&path, 4.0, 8000, 1);
    Arc::new(std::fs::read(path).unwrap())
}

async fn add_tenant(pool: &PgPool, name: &str, console: Option<(&FakeConsole, &str)>) -> i64 {
    let (ip, port, password) = match console {
        Some((c, password)) => (
            Some("127.0.0.1"),
            Some(c.addr.port() as i32),
            Some(password.to_string()),
        ),
        None => (None, None, None),
    };
    sqlx::query_scalar(
        "INSERT INTO tenants (company_name, subdomain, pbx_ip, pbx_port, pbx_username, pbx_password, ucm_timezone) \
         VALUES ($1, lower(replace($1, ' ', '-')), $2, $3, $4, $5, $6) RETURNING id::bigint",
    )
    .bind(name)
    .bind(ip)
    .bind(port)
    .bind(console.map(|_| "admin"))
    .bind(password)
    .bind(ZONE)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// CDR rows as the backend writes them for the console's recordings.
async fn add_calls(pool: &PgPool, tenant: i64, recordings: &[Recording]) -> Vec<String> {
    let mut uniqueids = Vec::new();
    for (i, r) in recordings.iter().enumerate() {
        let uniqueid = format!("{}.{}", r.start_epoch, 100 + i);
        let start = chrono::DateTime::from_timestamp(r.start_epoch, 0)
            .unwrap()
            .naive_utc();
        sqlx::query(
            "INSERT INTO cdr_records (tenant_id, uniqueid, src, dst, start_time, duration, billsec, \
             disposition, recordfiles, call_date) VALUES ($1, $2, $3, $4, $5, 4, 4, 'ANSWERED', $6, $7)",
        )
        .bind(tenant as i32)
        .bind(&uniqueid)
        .bind(&r.caller)
        .bind(&r.callee)
        .bind(start.format("%Y-%m-%d %H:%M:%S").to_string())
        .bind(format!("{}@", r.file))
        .bind(start)
        .execute(pool)
        .await
        .unwrap();
        uniqueids.push(uniqueid);
    }
    uniqueids
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// `ucm-scraper once` as an operator runs it, with the stand-ins' addresses in its environment.
async fn once(db: &TestDb, storage: &StorageStandIn, fernet_key: &str, work: &Path) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ucm-scraper"))
        .arg("once")
        .current_dir(work)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .env("DATABASE_URL", &db.url)
        .env("ENCRYPTION_KEY", fernet_key)
        .env("PBX_PASSWORD_FORMAT", "fernet")
        .env("WEBDRIVER_URL", &Chromedriver::shared().url)
        .env("UCM_ACCEPT_INVALID_CERTS", "true")
        .env("UCM_DOWNLOAD_GAP", format!("{}ms", GAP.as_millis()))
        .env("SUPABASE_URL", &storage.url)
        .env("SUPABASE_SERVICE_ROLE_KEY", LEGACY_KEY)
        .env(
            "SELECTORS_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/selectors"),
        )
        .env("DOWNLOAD_DIR", work.join("downloads"))
        .env("ARTIFACTS_DIR", work.join("artifacts"))
        .kill_on_drop(true)
        .output()
        .await
        .expect("run ucm-scraper once");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The operators' guide's verification query.
async fn verification(pool: &PgPool) -> Vec<(String, i64, i64, i64)> {
    sqlx::query_as(
        "SELECT t.company_name, count(c.id), \
                count(c.id) FILTER (WHERE c.recording_downloaded), \
                count(c.id) FILTER (WHERE c.recording_local_path LIKE '%.mp3') \
         FROM tenants t LEFT JOIN cdr_records c ON c.tenant_id = t.id \
         GROUP BY t.id, t.company_name ORDER BY t.id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[tokio::test]
async fn a_pass_over_a_healthy_a_misconfigured_and_an_incomplete_tenant() {
    let work = tempfile::tempdir().unwrap();
    let wav = speech(work.path());
    let db = migrated_database().await;
    let storage = StorageStandIn::start().await;
    let (healthy, recordings) = console_with_calls(Skin::Ucm63xx, "Right-pass1", 12, &wav).await;
    let (locked, _) = console_with_calls(Skin::Ucm63xx, "Right-pass2", 0, &wav).await;

    // Passwords as the Python backend stores them: Fernet tokens made by `cryptography`.
    let key = fernet::key();
    let token = fernet::encrypt(&key, "Right-pass1");
    let acme = add_tenant(&db.pool, "Acme Corp", Some((&healthy, &token))).await;
    let wrong = add_tenant(
        &db.pool,
        "Wrong Pass Ltd",
        Some((&locked, &fernet::encrypt(&key, "not-it"))),
    )
    .await;
    let bare = add_tenant(&db.pool, "No Creds Inc", None).await;
    let uniqueids = add_calls(&db.pool, acme, &recordings).await;
    add_calls(&db.pool, wrong, &recordings[..2]).await;

    let first = once(&db, &storage, &key, work.path()).await;
    assert!(
        !first.ok,
        "a failed tenant makes `once` exit 1\n{}",
        first.stderr
    );
    assert!(
        first
            .stderr
            .contains("Found 3 active tenants with UCM configured"),
        "{}",
        first.stderr
    );
    assert!(
        first
            .stderr
            .contains("Missing UCM credentials for tenant No Creds Inc. Skipping."),
        "{}",
        first.stderr
    );
    assert!(
        first
            .stderr
            .contains(&format!("Processing tenant: Acme Corp (ID: {acme})")),
        "{}",
        first.stderr
    );
    assert!(
        first.stderr.contains("Found 12 calls needing recordings"),
        "{}",
        first.stderr
    );

    // Every recording of the healthy tenant, once, under the contract's key, as an MP3.
    for uniqueid in &uniqueids {
        let key = format!("tenant_{acme}/{uniqueid}_recording.mp3");
        assert_eq!(
            storage.stores_of(&key),
            1,
            "{key} stored once\n{}",
            first.stderr
        );
        let object = storage.object(BUCKET, &key).expect("object present");
        let mp3 = work.path().join("check.mp3");
        std::fs::write(&mp3, &object.bytes).unwrap();
        let facts = audio::decode_mp3(&mp3);
        assert!(
            (facts.duration_secs() - 4.0).abs() < 0.2,
            "{key}: {} s",
            facts.duration_secs()
        );
    }
    assert_eq!(storage.object_count(), 12);
    let stored: Vec<(String, Option<String>, bool)> = sqlx::query_as(
        "SELECT uniqueid, recording_local_path, recording_downloaded FROM cdr_records \
         WHERE tenant_id = $1 AND recording_status = 'stored' ORDER BY uniqueid",
    )
    .bind(acme as i32)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(stored.len(), 12);
    for (uniqueid, path, downloaded) in &stored {
        assert_eq!(
            path.as_deref(),
            Some(format!("tenant_{acme}/{uniqueid}_recording.mp3").as_str())
        );
        assert!(downloaded);
    }

    // One login on the healthy console, no download refused for pacing.
    let events = healthy.events();
    assert_eq!((events.logins_ok, events.logins_failed), (1, 0));
    assert_eq!(events.downloads_rate_limited, 0);
    assert_eq!(events.downloads_served, 12);
    // One attempt with the wrong password, none on the next pass (the tenant is blocked).
    assert_eq!(locked.events().logins_tried, 1);

    let second = once(&db, &storage, &key, work.path()).await;
    assert_eq!(
        locked.events().logins_tried,
        1,
        "blocked tenant not tried again\n{}",
        second.stderr
    );
    assert_eq!(
        healthy.events().logins_tried,
        1,
        "no calls left: no browser session\n{}",
        second.stderr
    );
    assert!(
        second.stderr.contains("is blocked after failed logins"),
        "{}",
        second.stderr
    );

    // The backend's token was used as it is and left byte-identical.
    let after: String = sqlx::query_scalar("SELECT pbx_password FROM tenants WHERE id = $1")
        .bind(acme as i32)
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(after, token);

    assert_eq!(
        verification(&db.pool).await,
        vec![
            ("Acme Corp".to_string(), 12, 12, 12),
            ("Wrong Pass Ltd".to_string(), 2, 0, 0),
            ("No Creds Inc".to_string(), 0, 0, 0),
        ]
    );
    let _ = bare;
    for run in [&first, &second] {
        for secret in [
            "Right-pass1",
            "Right-pass2",
            "not-it",
            LEGACY_KEY,
            key.as_str(),
        ] {
            assert!(
                !run.stderr.contains(secret) && !run.stdout.contains(secret),
                "a secret leaked into the output"
            );
        }
    }
    assert!(
        files_under(&work.path().join("downloads")).is_empty(),
        "no working file left behind"
    );
    assert_eq!(
        wait_no_browsers(Duration::from_secs(10)).await,
        0,
        "every browser closed"
    );
}

// ---- Issue 6's remaining acceptance points. Each test below builds its own scenario from the
// ---- helpers above and `worker_command`, so it moves as one piece if the setup is refactored.

/// `ucm-scraper <args>` with the stand-ins' addresses, like [`once`], for the caller to spawn.
fn worker_command(
    db: &TestDb,
    storage: &StorageStandIn,
    fernet_key: &str,
    work: &Path,
    args: &[&str],
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ucm-scraper"));
    command
        .args(args)
        .current_dir(work)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "info")
        .env("DATABASE_URL", &db.url)
        .env("ENCRYPTION_KEY", fernet_key)
        .env("PBX_PASSWORD_FORMAT", "fernet")
        .env("WEBDRIVER_URL", &Chromedriver::shared().url)
        .env("UCM_ACCEPT_INVALID_CERTS", "true")
        .env("UCM_DOWNLOAD_GAP", format!("{}ms", GAP.as_millis()))
        .env("SUPABASE_URL", &storage.url)
        .env("SUPABASE_SERVICE_ROLE_KEY", LEGACY_KEY)
        .env(
            "SELECTORS_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/selectors"),
        )
        .env("DOWNLOAD_DIR", work.join("downloads"))
        .env("ARTIFACTS_DIR", work.join("artifacts"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    command
}

/// The `stored` column of a `once` summary table, summed over its tenant rows.
fn summary_stored(table: &str) -> usize {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            // id, one-word tenant name, claimed, stored, …
            cells.get(3)?.parse::<usize>().ok()
        })
        .sum()
}

#[tokio::test]
async fn two_once_processes_started_together_store_each_recording_once() {
    let work = tempfile::tempdir().unwrap();
    let wav = speech(work.path());
    let db = migrated_database().await;
    let storage = StorageStandIn::start().await;
    // Two workers on one console would trip its pacing and back off; that is the console
    // module's business (tests/console_standin.rs). Here the console does not pace, so the
    // test is only about the claims.
    let now = chrono::Utc::now().timestamp();
    let recordings: Vec<Recording> = (0..6)
        .map(|i| {
            Recording::new(
                "1000",
                &format!("281505829{i}"),
                now - 3600 - i * 420,
                wav.clone(),
            )
        })
        .collect();
    let mut config = ConsoleConfig::for_skin(Skin::Ucm63xx);
    config.password = "Right-pass1".into();
    config.tls = true;
    config.timezone = ZONE.parse().unwrap();
    config.download_gap = Duration::ZERO;
    config.recordings = recordings.clone();
    let console = FakeConsole::start(config).await;
    let key = fernet::key();
    let tenant = add_tenant(
        &db.pool,
        "Twins",
        Some((&console, &fernet::encrypt(&key, "Right-pass1"))),
    )
    .await;
    let uniqueids = add_calls(&db.pool, tenant, &recordings).await;

    // A claim takes at most SCRAPE_INTERVAL / UCM_DOWNLOAD_GAP calls: 1 s / 300 ms = 3, so each
    // process has work and both are in the console at once, racing for the same six rows.
    let mut runs = Vec::new();
    for dir in ["a", "b"] {
        let own = work.path().join(dir);
        std::fs::create_dir_all(&own).unwrap();
        let mut command = worker_command(&db, &storage, &key, &own, &["once"]);
        command.env("SCRAPE_INTERVAL", "1s");
        runs.push(command.spawn().expect("start ucm-scraper once"));
    }
    let mut tables = Vec::new();
    for child in runs {
        let out = child.wait_with_output().await.unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "once failed\n{stderr}");
        tables.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }

    for uniqueid in &uniqueids {
        let key = format!("tenant_{tenant}/{uniqueid}_recording.mp3");
        assert_eq!(
            storage.stores_of(&key),
            1,
            "{key} uploaded once\n{tables:?}"
        );
    }
    assert_eq!(storage.object_count(), 6);
    let stored: Vec<usize> = tables.iter().map(|t| summary_stored(t)).collect();
    assert_eq!(
        stored.iter().sum::<usize>(),
        6,
        "the two summaries add up: {tables:?}"
    );
    assert!(
        stored.iter().all(|&n| n == 3),
        "each process did its own share: {tables:?}"
    );
    // Each row was claimed by exactly one process: one attempt, stored, downloaded once.
    let rows: Vec<(String, i32)> = sqlx::query_as(
        "SELECT recording_status, recording_attempts FROM cdr_records WHERE tenant_id = $1",
    )
    .bind(tenant as i32)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 6);
    assert!(
        rows.iter()
            .all(|(status, attempts)| status == "stored" && *attempts == 1),
        "{rows:?}"
    );
    let mut served = console.events().served_files;
    served.sort();
    served.dedup();
    assert_eq!(served.len(), 6, "no recording downloaded twice");
    assert_eq!(console.events().downloads_served, 6);
    assert_eq!(
        console.events().logins_ok,
        2,
        "both processes were in the console"
    );
    assert_eq!(wait_no_browsers(Duration::from_secs(10)).await, 0);
}

#[tokio::test]
async fn an_upload_that_fails_three_times_then_succeeds_is_stored_once() {
    let work = tempfile::tempdir().unwrap();
    let wav = speech(work.path());
    let db = migrated_database().await;
    let storage = StorageStandIn::start().await;
    let (console, recordings) = console_with_calls(Skin::Ucm63xx, "Right-pass1", 1, &wav).await;
    let key = fernet::key();
    let tenant = add_tenant(
        &db.pool,
        "Flaky Storage",
        Some((&console, &fernet::encrypt(&key, "Right-pass1"))),
    )
    .await;
    let uniqueid = add_calls(&db.pool, tenant, &recordings).await.remove(0);
    storage.fail_next([Fault::Status(503); 3]);

    let out = worker_command(&db, &storage, &key, work.path(), &["once"])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");

    let object = format!("tenant_{tenant}/{uniqueid}_recording.mp3");
    assert_eq!(storage.stores_of(&object), 1, "{stderr}");
    assert_eq!(storage.object_count(), 1);
    assert_eq!(
        storage.requests(),
        4,
        "three refused attempts and the one that worked, no more\n{stderr}"
    );
    let row: (String, Option<String>, bool, i32) = sqlx::query_as(
        "SELECT recording_status, recording_local_path, recording_downloaded, recording_attempts \
         FROM cdr_records WHERE tenant_id = $1",
    )
    .bind(tenant as i32)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(row, ("stored".into(), Some(object), true, 1));
    assert_eq!(console.events().downloads_served, 1, "downloaded once");
}

/// Sends SIGTERM to a child this test started.
fn terminate(child: &tokio::process::Child) {
    let pid = child.id().expect("the child is running") as libc::pid_t;
    // SAFETY: kill(2) on our own child's pid; no memory is shared.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
}

/// Polls `check` every 50 ms until it returns a value or `within` runs out.
async fn poll_until<T>(within: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn run_serves_health_and_metrics_and_stops_cleanly_on_sigterm() {
    use tokio::io::AsyncBufReadExt as _;

    let work = tempfile::tempdir().unwrap();
    let wav = speech(work.path());
    let db = migrated_database().await;
    let storage = StorageStandIn::start().await;
    let (console, recordings) = console_with_calls(Skin::Ucm63xx, "Right-pass1", 10, &wav).await;
    let key = fernet::key();
    let tenant = add_tenant(
        &db.pool,
        "Long Running",
        Some((&console, &fernet::encrypt(&key, "Right-pass1"))),
    )
    .await;
    add_calls(&db.pool, tenant, &recordings).await;

    let mut command = worker_command(&db, &storage, &key, work.path(), &["run"]);
    command.env("METRICS_ADDR", "127.0.0.1:0");
    let mut child = command.spawn().expect("start ucm-scraper run");
    let log = Arc::new(std::sync::Mutex::new(String::new()));
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let sink = log.clone();
    let reader = tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let stderr = || log.lock().unwrap().clone();

    // Port 0: the bound address is only known from the log line `run` writes.
    let marker = "Serving /healthz and /metrics on http://";
    let addr = poll_until(Duration::from_secs(60), || {
        let text = stderr();
        let rest = &text[text.find(marker)? + marker.len()..];
        let end = rest.find(|c: char| c.is_whitespace() || c == '\u{1b}')?;
        Some(rest[..end].to_string())
    })
    .await
    .unwrap_or_else(|| panic!("no metrics address logged\n{}", stderr()));

    let http = reqwest::Client::new();
    let health = http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let health: serde_json::Value = health.json().await.unwrap();
    assert!(health.get("state").is_some(), "{health}");
    let metrics = http
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("# TYPE ucm_recordings_stored_total counter"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ucm_failures_total{stage=\"upload\"} 0"),
        "{metrics}"
    );

    // SIGTERM while the first pass is in the console with calls still to fetch.
    let downloading = poll_until(Duration::from_secs(90), || {
        (console.events().downloads_served >= 1).then_some(())
    })
    .await;
    assert!(downloading.is_some(), "no download started\n{}", stderr());
    terminate(&child);
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .unwrap_or_else(|_| panic!("run did not stop after SIGTERM\n{}", stderr()))
        .unwrap();
    let _ = reader.await;
    assert!(status.success(), "exit 0 after SIGTERM\n{}", stderr());
    assert!(stderr().contains("Shutdown requested"), "{}", stderr());
    assert_eq!(
        wait_no_browsers(Duration::from_secs(10)).await,
        0,
        "every browser closed"
    );

    // The calls it reached are stored; the others are free for the next worker, none leased.
    let rows: Vec<(String, Option<chrono::DateTime<chrono::Utc>>)> = sqlx::query_as(
        "SELECT recording_status, recording_lease_until FROM cdr_records WHERE tenant_id = $1",
    )
    .bind(tenant as i32)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let stored = rows.iter().filter(|(s, _)| s == "stored").count();
    let released = rows
        .iter()
        .filter(|(s, lease)| s == "pending" && lease.is_none())
        .count();
    assert!(stored >= 1, "{rows:?}\n{}", stderr());
    assert!(released >= 1, "shutdown left calls for later: {rows:?}");
    assert_eq!(stored + released, 10, "{rows:?}");
    assert_eq!(storage.object_count(), stored);
}
