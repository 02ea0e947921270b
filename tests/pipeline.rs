//! The guide's whole flow against real parts: Postgres, Chromium + chromedriver, the console
//! and Supabase Storage stand-ins, and the `ucm-scraper once` binary (issue 6's acceptance).

mod support;

use std::time::Duration;

use sqlx::PgPool;
use support::browser::wait_no_browsers;
use support::console::Recording;
use support::scenario::{poll_until, Scenario};
use support::storage::{Fault, BUCKET};
use support::{audio, fernet};

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

#[tokio::test]
async fn a_pass_over_a_healthy_a_misconfigured_and_an_incomplete_tenant() {
    let s = Scenario::new().await;
    let (healthy, recordings) = s.console("Right-pass1", 12).await;
    let (locked, _) = s.console("Right-pass2", 0).await;
    s.secret("not-it");

    // Passwords as the Python backend stores them: Fernet tokens made by `cryptography`.
    let token = fernet::encrypt(&s.fernet_key, "Right-pass1");
    let acme = s.tenant_raw("Acme Corp", Some((&healthy, &token))).await;
    let wrong = s.tenant("Wrong Pass Ltd", &locked, "not-it").await;
    let bare = s.tenant_raw("No Creds Inc", None).await;
    let uniqueids = s.calls(acme, &recordings).await;
    s.calls(wrong, &recordings[..2]).await;

    let first = s.once().await;
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
            s.storage.stores_of(&key),
            1,
            "{key} stored once\n{}",
            first.stderr
        );
        let object = s.storage.object(BUCKET, &key).expect("object present");
        let mp3 = s.work.path().join("check.mp3");
        std::fs::write(&mp3, &object.bytes).unwrap();
        let facts = audio::decode_mp3(&mp3);
        assert!(
            (facts.duration_secs() - 4.0).abs() < 0.2,
            "{key}: {} s",
            facts.duration_secs()
        );
    }
    assert_eq!(s.storage.object_count(), 12);
    let stored: Vec<(String, Option<String>, bool)> = sqlx::query_as(
        "SELECT uniqueid, recording_local_path, recording_downloaded FROM cdr_records \
         WHERE tenant_id = $1 AND recording_status = 'stored' ORDER BY uniqueid",
    )
    .bind(acme as i32)
    .fetch_all(s.pool())
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

    let second = s.once().await;
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
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(after, token);

    assert_eq!(
        verification(s.pool()).await,
        vec![
            ("Acme Corp".to_string(), 12, 12, 12),
            ("Wrong Pass Ltd".to_string(), 2, 0, 0),
            ("No Creds Inc".to_string(), 0, 0, 0),
        ]
    );
    let _ = bare;
    s.assert_no_secrets();
    assert!(s.working_files().is_empty(), "no working file left behind");
    assert_eq!(
        wait_no_browsers(Duration::from_secs(10)).await,
        0,
        "every browser closed"
    );
}

#[tokio::test]
async fn an_upload_that_fails_three_times_then_succeeds_is_stored_once() {
    let s = Scenario::new().await;
    let (console, recordings) = s.console("Right-pass1", 1).await;
    let tenant = s.tenant("Flaky Storage", &console, "Right-pass1").await;
    let uniqueid = s.calls(tenant, &recordings).await.remove(0);
    let storage = &s.storage;
    storage.fail_next([Fault::Status(503); 3]);

    let run = s.once().await;
    let stderr = &run.stderr;
    assert!(run.ok, "{stderr}");

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
    .fetch_one(s.pool())
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

#[tokio::test]
async fn run_serves_health_and_metrics_and_stops_cleanly_on_sigterm() {
    let s = Scenario::new().await;
    let (console, recordings) = s.console("Right-pass1", 10).await;
    let tenant = s.tenant("Long Running", &console, "Right-pass1").await;
    s.calls(tenant, &recordings).await;

    let (mut child, mut log, addr) = s.run_serving_metrics().await;

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
    assert!(downloading.is_some(), "no download started\n{}", log.text());
    terminate(&child);
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .unwrap_or_else(|_| panic!("run did not stop after SIGTERM\n{}", log.text()))
        .unwrap();
    log.finish().await;
    assert!(status.success(), "exit 0 after SIGTERM\n{}", log.text());
    assert!(log.text().contains("Shutdown requested"), "{}", log.text());
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
    .fetch_all(s.pool())
    .await
    .unwrap();
    let stored = rows.iter().filter(|(st, _)| st == "stored").count();
    let released = rows
        .iter()
        .filter(|(st, lease)| st == "pending" && lease.is_none())
        .count();
    assert!(stored >= 1, "{rows:?}\n{}", log.text());
    assert!(released >= 1, "shutdown left calls for later: {rows:?}");
    assert_eq!(stored + released, 10, "{rows:?}");
    assert_eq!(s.storage.object_count(), stored);
}

#[tokio::test]
async fn two_once_processes_started_together_store_each_recording_once() {
    let s = Scenario::new().await;
    let (console, recordings) = s.console("Right-pass1", 6).await;
    let tenant = s.tenant("Twins", &console, "Right-pass1").await;
    let uniqueids = s.calls(tenant, &recordings).await;

    let first = s.command(&["once"]).spawn();
    let second = s.command(&["once"]).spawn();
    let (first, second) = tokio::join!(s.finish(first), s.finish(second));
    assert!(first.ok && second.ok, "{}\n{}", first.stderr, second.stderr);
    // They share DOWNLOAD_DIR: the one that started second saw the other alive and did not
    // sweep its downloads away.
    let spared = [&first, &second]
        .iter()
        .filter(|run| {
            run.stderr
                .contains("Another worker process uses DOWNLOAD_DIR; leaving its files alone")
        })
        .count();
    assert_eq!(spared, 1, "{}\n{}", first.stderr, second.stderr);

    for uniqueid in &uniqueids {
        let key = format!("tenant_{tenant}/{uniqueid}_recording.mp3");
        assert_eq!(s.storage.stores_of(&key), 1, "{key} uploaded once");
    }
    assert_eq!(s.storage.object_count(), 6);
    // One console session at a time: whichever process came second either found the console
    // taken or nothing left to claim, and never downloaded a recording a second time.
    let events = console.events();
    assert_eq!(events.sessions_max_concurrent, 1);
    assert_eq!(events.downloads_served, 6);
    let attempts: Vec<i32> = sqlx::query_scalar(
        "SELECT recording_attempts FROM cdr_records WHERE tenant_id = $1 AND recording_status = 'stored'",
    )
    .bind(tenant as i32)
    .fetch_all(s.pool())
    .await
    .unwrap();
    assert_eq!(
        attempts,
        vec![1; 6],
        "each call claimed by one process only"
    );
    s.assert_no_secrets();
}

/// Issue 13: a recording can appear on the console after its CDR row. A call the console does
/// not list is checked again on the next passes, uncharged, while it is younger than
/// NOT_LISTED_GRACE: stored once the console lists it, `not_on_console` only once the grace
/// period after the call has passed.
#[tokio::test]
async fn a_recording_listed_late_is_stored_on_a_later_pass() {
    let mut s = Scenario::new().await;
    let (console, mut recordings) = s.console("Right-pass1", 4).await;
    let tenant = s.tenant("Late Lister", &console, "Right-pass1").await;
    // Two calls between listed ones (so the search passes their time), not listed yet.
    let late = |callee: &str, after: &Recording| {
        Recording::new("1000", callee, after.start_epoch + 200, s.wav.clone())
    };
    let (listed_late, never_listed) = (
        late("2815999001", &recordings[1]),
        late("2815999002", &recordings[2]),
    );
    recordings.extend([listed_late.clone(), never_listed.clone()]);
    let uniqueids = s.calls(tenant, &recordings).await;
    let (late_id, never_id) = (&uniqueids[4], &uniqueids[5]);
    let pool = s.pool().clone();
    let row = async |uniqueid: &str| -> (String, i32, bool) {
        sqlx::query_as(
            "SELECT recording_status, recording_attempts, recording_not_listed_since IS NOT NULL \
             FROM cdr_records WHERE uniqueid = $1",
        )
        .bind(uniqueid)
        .fetch_one(&pool)
        .await
        .unwrap()
    };

    let first = s.once().await;
    assert!(first.ok, "{}", first.stderr);
    let summary = first.summary_row(tenant);
    let columns: Vec<&str> = summary.split_whitespace().collect();
    assert_eq!(
        columns[columns.len() - 6..columns.len() - 1],
        ["6", "4", "0", "2", "0"],
        "claimed, stored, failed, not listed yet, not on console\n{}",
        first.stdout
    );
    for uniqueid in [late_id, never_id] {
        assert_eq!(
            row(uniqueid).await,
            ("pending".to_string(), 0, true),
            "{uniqueid}: waiting, uncharged\n{}",
            first.stderr
        );
    }
    let list = s.command(&["tenant", "list"]).run_async().await.stdout;
    let counts: Vec<&str> = list
        .lines()
        .find(|l| l.contains("Late Lister"))
        .unwrap_or_else(|| panic!("{list}"))
        .split_whitespace()
        .rev()
        .take(4)
        .collect();
    assert_eq!(
        counts,
        ["0", "0", "2", "2"],
        "backlog 2, both not listed yet, none unmatched\n{list}"
    );

    // The console lists one of them now; the other stays missing past a short grace period.
    console.add_recording(listed_late);
    s.env.insert("NOT_LISTED_GRACE".into(), "30m".into());
    let second = s.once().await;
    assert!(second.ok, "{}", second.stderr);
    let key = format!("tenant_{tenant}/{late_id}_recording.mp3");
    assert_eq!(s.storage.stores_of(&key), 1, "{}", second.stderr);
    assert_eq!(row(late_id).await, ("stored".to_string(), 1, false));
    assert_eq!(
        row(never_id).await,
        ("not_on_console".to_string(), 0, true),
        "final only after the grace period, and never charged\n{}",
        second.stderr
    );
    assert_eq!(s.storage.object_count(), 5);
    assert_eq!(
        console.events().downloads_served,
        5,
        "each recording fetched once"
    );
    s.assert_no_secrets();
}

/// Issue 22: only `selectors learn` starts from a SELECTORS_DIR holding no file; the worker
/// cannot scrape without one, so it says so, and the calls stay pending, uncharged.
#[tokio::test]
async fn an_empty_selectors_dir_stops_the_worker_with_a_clear_error() {
    let mut s = Scenario::new().await;
    let (console, recordings) = s.console("Right-pass1", 2).await;
    let tenant = s.tenant("No Files", &console, "Right-pass1").await;
    s.calls(tenant, &recordings).await;
    let empty = s.work.path().join("selectors-none");
    std::fs::create_dir(&empty).unwrap();
    s.env
        .insert("SELECTORS_DIR".into(), empty.display().to_string());

    let run = s.once().await;
    assert!(!run.ok, "{}\n{}", run.stdout, run.stderr);
    let said = format!("{}\n{}", run.stdout, run.stderr);
    assert!(
        said.contains("selectors-none") && said.contains("holds no *.toml selectors file"),
        "{said}"
    );
    let calls: Vec<(String, i32)> = sqlx::query_as(
        "SELECT recording_status, recording_attempts FROM cdr_records WHERE tenant_id = $1",
    )
    .bind(tenant as i32)
    .fetch_all(s.pool())
    .await
    .unwrap();
    assert_eq!(calls, vec![("pending".to_string(), 0); 2], "{said}");
}

/// Issue 13: a required locator the console lacks (its UI changed) is not the calls' fault. The
/// tenant stops naming the locator, and its calls go back uncharged, the one in progress
/// included; with the selectors file fixed, the next pass stores them all on their first attempt.
#[tokio::test]
async fn a_missing_required_locator_gives_the_calls_back_uncharged() {
    let mut s = Scenario::new().await;
    let (console, recordings) = s.console("Right-pass1", 3).await;
    let tenant = s.tenant("Changed UI", &console, "Right-pass1").await;
    s.calls(tenant, &recordings).await;
    let selectors = s.work.path().join("selectors");
    std::fs::create_dir(&selectors).unwrap();
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/selectors");
    for entry in std::fs::read_dir(shipped).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let changed = text.replace("span.sprite-download", "span.sprite-download-renamed");
        std::fs::write(selectors.join(path.file_name().unwrap()), changed).unwrap();
    }
    s.env
        .insert("SELECTORS_DIR".into(), selectors.display().to_string());
    // Healing would learn the renamed icon and store the calls (tests/heal.rs): this test is
    // about the stop itself, as an operator who switched learning off meets it.
    s.env.insert("SELECTORS_AUTOLEARN".into(), "off".into());
    let pool = s.pool().clone();
    let calls = async || -> Vec<(String, i32, bool)> {
        sqlx::query_as(
            "SELECT recording_status, recording_attempts, recording_lease_until IS NOT NULL \
             FROM cdr_records WHERE tenant_id = $1 ORDER BY id",
        )
        .bind(tenant as i32)
        .fetch_all(&pool)
        .await
        .unwrap()
    };

    let broken = s.once().await;
    assert!(!broken.ok, "a failed tenant makes `once` exit 1");
    let summary = broken.summary_row(tenant);
    assert!(
        summary.contains("FAILED") && summary.contains("download icon not found"),
        "{}\n{}",
        broken.stdout,
        broken.stderr
    );
    assert_eq!(
        calls().await,
        vec![("pending".to_string(), 0, false); 3],
        "every call back, uncharged\n{}",
        broken.stderr
    );
    let last_error: String = sqlx::query_scalar("SELECT ucm_last_error FROM tenants WHERE id = $1")
        .bind(tenant as i32)
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert!(
        last_error.contains("download icon not found"),
        "tenant list shows it: {last_error}"
    );

    s.env.remove("SELECTORS_DIR");
    let fixed = s.once().await;
    assert!(fixed.ok, "{}", fixed.stderr);
    assert_eq!(calls().await, vec![("stored".to_string(), 1, false); 3]);
    assert_eq!(console.events().downloads_served, 3);
    s.assert_no_secrets();
}
