//! Issue 16: recordings the console lists but no `cdr_records` row references (a broken CDR
//! feed), against real parts: Postgres, Chromium, the console, storage and webhook stand-ins,
//! and the `ucm-scraper` binary. Noticed and reported; kept with `UNMATCHED_RECORDINGS=store`;
//! linked without a second download when their call arrives.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::bin::Run;
use support::console::{ConsoleConfig, FakeConsole, Recording, Skin};
use support::scenario::{eventually, insert_calls, Scenario};
use support::storage::BUCKET;
use support::webhook::WebhookStandIn;

const PASSWORD: &str = "Feed-down1";
const SECRET: &str = "webhook-secret-16";

/// A console of `n` recordings, four to a page, and its tenant; the list is read to its end
/// (`UNMATCHED_MAX_PAGES` 5) and, with no call to fetch, on every pass.
async fn feed_down(s: &mut Scenario, n: usize) -> (FakeConsole, Vec<Recording>, i64) {
    s.env.insert("UNMATCHED_MAX_PAGES".into(), "5".into());
    s.env.insert("UNMATCHED_IDLE_EVERY".into(), "0s".into());
    let config = ConsoleConfig {
        page_size: 4,
        ..ConsoleConfig::for_skin(Skin::Ucm63xx)
    };
    let (console, recordings) = s.console_with(config, PASSWORD, n, |_| {}).await;
    let tenant = s.tenant("Feed Down", &console, PASSWORD).await;
    (console, recordings, tenant)
}

/// The pass's word on the tenant, as `once` logged it.
fn told(run: &Run) -> Vec<&str> {
    run.stderr
        .lines()
        .filter(|l| l.contains("UnmatchedRecordings") || l.contains("CDR Real-Time Output"))
        .collect()
}

/// `ucm-scraper tenant <args>`'s output.
async fn tenant_command(s: &Scenario, args: &[&str]) -> String {
    let mut all = vec!["tenant"];
    all.extend_from_slice(args);
    let run = s.finish(s.command(&all).spawn()).await;
    assert!(run.ok, "{}", run.stderr);
    run.stdout
}

/// The value under `column` in the row of tenant `id` of `tenant list`.
fn list_cell(table: &str, id: i64, column: &str) -> String {
    let mut lines = table.lines();
    let header = lines.next().expect("a header");
    let at = header.find(column).expect("the column");
    let row = lines
        .find(|l| l.starts_with(&format!("{id} ")))
        .expect("the tenant's row");
    row[at..]
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

async fn statuses(s: &Scenario, tenant: i64) -> Vec<(String, String, Option<String>)> {
    sqlx::query_as(
        "SELECT file, status, storage_key FROM console_recordings WHERE tenant_id = $1 ORDER BY file",
    )
    .bind(tenant as i32)
    .fetch_all(s.pool())
    .await
    .unwrap()
}

fn stem(r: &Recording) -> String {
    r.download_name().trim_end_matches(".wav").to_string()
}

#[tokio::test]
async fn recordings_without_a_call_are_reported_and_the_next_read_stops_where_the_last_one_did() {
    let mut s = Scenario::new().await;
    let (console, recordings, tenant) = feed_down(&mut s, 10).await;
    // The feed delivered only the four newest calls.
    s.calls(tenant, &recordings[..4]).await;

    let first = s.once().await;
    assert!(first.ok, "{}", first.stderr);
    let lines = told(&first);
    assert_eq!(lines.len(), 1, "one line per pass\n{}", first.stderr);
    assert!(
        lines[0].contains("Feed Down")
            && lines[0].contains(&format!("ID: {tenant}"))
            && lines[0].contains("has 6 recording(s)")
            && lines[0].contains("CDR Real-Time Output"),
        "{}",
        lines[0]
    );
    assert_eq!(console.events().downloads_served, 4, "only the calls");
    let noticed: BTreeSet<String> = statuses(&s, tenant)
        .await
        .into_iter()
        .map(|r| r.0)
        .collect();
    let expected: BTreeSet<String> = recordings[4..].iter().map(|r| r.file.clone()).collect();
    assert_eq!(noticed, expected);

    let list = tenant_command(&s, &["list"]).await;
    assert_eq!(list_cell(&list, tenant, "UNMATCHED"), "6", "{list}");
    let unmatched = tenant_command(&s, &["unmatched", &tenant.to_string()]).await;
    for r in &recordings[4..] {
        assert!(unmatched.contains(&r.file), "{unmatched}");
    }
    assert!(!unmatched.contains(&recordings[0].file), "{unmatched}");

    // One more recording without a call; nothing to fetch, so the pass logs in only to read
    // the list, and reads only page 1: the last read's newest row is on it.
    let newest = Recording::new(
        "1000",
        "2815999999",
        recordings[0].start_epoch + 60,
        s.wav.clone(),
    );
    console.add_recording(newest.clone());
    let before = console.events();
    let second = s.once().await;
    assert!(second.ok, "{}", second.stderr);
    let after = console.events();
    assert_eq!(after.logins_ok, before.logins_ok + 1, "{}", second.stderr);
    assert_eq!(
        after.pages_listed - before.pages_listed,
        1,
        "old pages not read again\n{}",
        second.stderr
    );
    assert_eq!(after.downloads_served, before.downloads_served);
    assert!(
        told(&second)
            .iter()
            .any(|l| l.contains("has 7 recording(s)")),
        "{}",
        second.stderr
    );
    assert!(statuses(&s, tenant)
        .await
        .iter()
        .any(|(file, status, _)| *file == newest.file && status == "unmatched"));

    // The calls of two of them arrive: no longer counted.
    insert_calls(s.pool(), tenant, &recordings[4..6], 4).await;
    s.env.insert("UNMATCHED_IDLE_EVERY".into(), "1h".into());
    let third = s.once().await;
    assert!(third.ok, "{}", third.stderr);
    let list = tenant_command(&s, &["list"]).await;
    assert_eq!(list_cell(&list, tenant, "UNMATCHED"), "5", "{list}");
    s.assert_no_secrets();
}

#[tokio::test]
async fn metrics_show_each_tenants_recordings_without_a_call() {
    let mut s = Scenario::new().await;
    s.env.insert("SCRAPE_INTERVAL".into(), "1h".into());
    let (console, recordings, tenant) = feed_down(&mut s, 3).await;
    s.calls(tenant, &recordings[..1]).await;

    let (mut child, mut log, addr) = s.run_serving_metrics().await;
    let gauge = format!("ucm_unmatched_recordings{{tenant=\"{tenant}\"}} 2\n");
    let passed = eventually(Duration::from_secs(120), || {
        log.text().contains("Pass finished")
    })
    .await;
    assert!(passed, "the first pass ends\n{}", log.text());
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains(&gauge), "{metrics}");
    assert!(
        metrics.contains("# TYPE ucm_unmatched_recordings gauge"),
        "{metrics}"
    );
    assert_eq!(console.events().downloads_served, 1, "only the call");
    let pid = child.id().expect("run is running") as libc::pid_t;
    // SAFETY: kill(2) on our own child's pid; no memory is shared.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
        .await
        .expect("run stops after SIGTERM")
        .unwrap();
    log.finish().await;
    assert!(status.success(), "{}", log.text());
}

#[tokio::test]
async fn kept_recordings_are_linked_without_a_second_download_when_their_calls_arrive() {
    let mut s = Scenario::new().await;
    let receiver = WebhookStandIn::start(SECRET).await;
    s.env.insert("UNMATCHED_RECORDINGS".into(), "store".into());
    s.env.insert("AI_WEBHOOK_URL".into(), receiver.url.clone());
    s.env.insert("AI_WEBHOOK_SECRET".into(), SECRET.into());
    s.secret(SECRET);
    let (console, recordings, tenant) = feed_down(&mut s, 3).await;

    // No CDR row at all: the feed is down. Each recording is kept once, under its own folder.
    let first = s.once().await;
    assert!(first.ok, "{}", first.stderr);
    assert_eq!(console.events().downloads_served, 3, "{}", first.stderr);
    for r in &recordings {
        let key = format!("tenant_{tenant}/unmatched/{}.mp3", stem(r));
        assert_eq!(s.storage.stores_of(&key), 1, "{key}\n{}", first.stderr);
        let object = s.storage.object(BUCKET, &key).unwrap();
        assert_eq!(object.content_type, "audio/mpeg");
    }
    assert_eq!(receiver.requests(), 0, "no AI trigger without a call");
    assert!(statuses(&s, tenant)
        .await
        .iter()
        .all(|(_, status, _)| status == "stored"));

    // The calls of two of them arrive.
    let uniqueids = insert_calls(s.pool(), tenant, &recordings[..2], 4).await;
    let second = s.once().await;
    assert!(second.ok, "{}", second.stderr);
    assert_eq!(
        console.events().downloads_served,
        3,
        "linked, not downloaded again\n{}",
        second.stderr
    );
    for uniqueid in &uniqueids {
        let key = format!("tenant_{tenant}/{uniqueid}_recording.mp3");
        assert_eq!(s.storage.copies_to(&key), 1, "{key}\n{}", second.stderr);
        assert_eq!(s.storage.stores_of(&key), 1, "{key}");
        let path: Option<String> = sqlx::query_scalar(
            "SELECT recording_local_path FROM cdr_records WHERE uniqueid = $1 \
             AND recording_status = 'stored' AND ai_triggered_at IS NOT NULL",
        )
        .bind(uniqueid)
        .fetch_one(s.pool())
        .await
        .unwrap();
        assert_eq!(path.as_deref(), Some(key.as_str()));
    }
    let triggered: Vec<String> = receiver
        .accepted()
        .iter()
        .map(|(_, body)| body["uniqueid"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        triggered.iter().collect::<BTreeSet<_>>(),
        uniqueids.iter().collect::<BTreeSet<_>>()
    );
    assert_eq!(triggered.len(), 2, "each call's trigger fires once");
    let rows = statuses(&s, tenant).await;
    let matched = rows.iter().filter(|r| r.1 == "matched").count();
    assert_eq!(matched, 2, "{rows:?}");

    // Nothing happens twice on the next pass.
    let third = s.once().await;
    assert!(third.ok, "{}", third.stderr);
    assert_eq!(console.events().downloads_served, 3);
    assert_eq!(receiver.requests(), 2);
    assert_eq!(s.storage.object_count(), 5);
    s.assert_no_secrets();
}

#[tokio::test]
async fn a_recording_the_console_deleted_before_it_was_kept_is_reported_lost_by_name() {
    let mut s = Scenario::new().await;
    let (console, recordings, tenant) = feed_down(&mut s, 2).await;
    let first = s.once().await;
    assert!(first.ok, "{}", first.stderr);
    assert_eq!(statuses(&s, tenant).await.len(), 2);

    // Kept only from now on; by then the console has deleted the older one.
    console.remove_recording(&recordings[1].file);
    s.env.insert("UNMATCHED_RECORDINGS".into(), "store".into());
    let second = s.once().await;
    assert!(second.ok, "{}", second.stderr);
    let lost: Vec<&str> = second
        .stderr
        .lines()
        .filter(|l| l.contains("is lost"))
        .collect();
    assert_eq!(lost.len(), 1, "{}", second.stderr);
    assert!(lost[0].contains(&recordings[1].file), "{}", lost[0]);
    let rows = statuses(&s, tenant).await;
    let status_of = |r: &Recording| rows.iter().find(|row| row.0 == r.file).unwrap().1.clone();
    assert_eq!(status_of(&recordings[0]), "stored");
    assert_eq!(status_of(&recordings[1]), "lost");
    let listed = tenant_command(&s, &["unmatched", &tenant.to_string()]).await;
    assert!(
        listed
            .lines()
            .any(|l| l.contains(&recordings[1].file) && l.contains("lost")),
        "{listed}"
    );
}
