//! Issue 16: recordings the console lists but no `cdr_records` row references (a broken CDR
//! feed), against real parts: Postgres, Chromium, the console, storage and webhook stand-ins,
//! and the `ucm-scraper` binary. Noticed and reported; kept with `UNMATCHED_RECORDINGS=store`;
//! linked without a second download when their call arrives.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::bin::Run;
use support::console::{ConsoleConfig, FakeConsole, Quirks, Recording, RowKey, Skin};
use support::scenario::{eventually, insert_calls, Scenario};
use support::storage::BUCKET;
use support::webhook::WebhookStandIn;

const PASSWORD: &str = "Feed-down1";
const SECRET: &str = "webhook-secret-16";

/// A console of `n` recordings, four to a page, and its tenant; the list is read to its end
/// (`UNMATCHED_MAX_PAGES` 5) and, with no call to fetch, on every pass.
async fn feed_down(s: &mut Scenario, n: usize) -> (FakeConsole, Vec<Recording>, i64) {
    feed_down_on(s, n, Quirks::default(), |_| {}).await
}

/// As [`feed_down`], on a console that differs as `quirks` say, with `edit` applied to each
/// recording.
async fn feed_down_on(
    s: &mut Scenario,
    n: usize,
    quirks: Quirks,
    edit: impl Fn(&mut Recording),
) -> (FakeConsole, Vec<Recording>, i64) {
    s.env.insert("UNMATCHED_MAX_PAGES".into(), "5".into());
    s.env.insert("UNMATCHED_IDLE_EVERY".into(), "0s".into());
    let config = ConsoleConfig {
        page_size: 4,
        quirks,
        ..ConsoleConfig::for_skin(Skin::Ucm63xx)
    };
    let (console, recordings) = s.console_with(config, PASSWORD, n, edit).await;
    let tenant = s.tenant("Feed Down", &console, PASSWORD).await;
    (console, recordings, tenant)
}

/// Rows keyed by the console's own id: no file name anywhere on the list.
fn ids_as_row_keys() -> Quirks {
    Quirks {
        row_key: RowKey::ConsoleId,
        ..Quirks::default()
    }
}

/// The lines of `once`'s log that contain `needle`.
fn lines_with<'a>(run: &'a Run, needle: &str) -> Vec<&'a str> {
    run.stderr.lines().filter(|l| l.contains(needle)).collect()
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

/// Issue 23: storage that refuses the worker's configuration while recordings without a call
/// are kept (the bucket deleted after the preflight passed) ends the keeping at the first
/// refusal and stops the pass, as a call's refusal does: the loop does not download the rest of
/// its budget into a storage that takes nothing.
#[tokio::test]
async fn keeping_stops_when_storage_refuses_the_configuration() {
    let mut s = Scenario::new().await;
    s.env.insert("UNMATCHED_RECORDINGS".into(), "store".into());
    let (console, _recordings, tenant) = feed_down(&mut s, 6).await;
    s.storage.delete_buckets_after_next_read();

    let run = s.once().await;
    assert!(!run.ok, "a stopped pass exits non-zero\n{}", run.stderr);
    assert_eq!(
        console.events().downloads_served,
        1,
        "no download after the refusal\n{}",
        run.stderr
    );
    assert_eq!(s.storage.object_count(), 0, "{}", run.stderr);
    let noted = statuses(&s, tenant).await;
    assert_eq!(noted.len(), 6, "every row still noted\n{}", run.stderr);
    assert!(
        noted
            .iter()
            .all(|(_, status, key)| status == "unmatched" && key.is_none()),
        "{noted:?}"
    );
    assert!(
        run.stdout.contains("the pass stopped: bucket") && run.stdout.contains("not found"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
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
    let lost = lines_with(&second, "is lost");
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

/// (file, named, status, caller, callee, shown_at as epoch seconds) of every noted recording.
type Noted = (String, bool, String, String, String, Option<i64>);

async fn noted(s: &Scenario, tenant: i64) -> Vec<Noted> {
    sqlx::query_as(
        "SELECT file, named, status, caller, callee, extract(epoch FROM shown_at)::bigint \
         FROM console_recordings WHERE tenant_id = $1 ORDER BY shown_at",
    )
    .bind(tenant as i32)
    .fetch_all(s.pool())
    .await
    .unwrap()
}

/// Issue 22: the held-out console's rows carry caller, callee and time but no file name (the row
/// key is the console's own id), and the unmatched read noticed none of the recordings the
/// database did not know. Now the rows are matched to the known calls as the download matches
/// them; the others are noted, told, kept under the name their download gives, and linked.
#[tokio::test]
async fn rows_without_a_file_name_are_matched_to_the_known_calls_by_caller_callee_and_time() {
    let mut s = Scenario::new().await;
    let receiver = WebhookStandIn::start(SECRET).await;
    s.env.insert("AI_WEBHOOK_URL".into(), receiver.url.clone());
    s.env.insert("AI_WEBHOOK_SECRET".into(), SECRET.into());
    s.secret(SECRET);
    // Recordings 0 and 1 have the same parties, 7 minutes apart: within the 10-minute
    // tolerance, so only the nearer row is call 0's.
    let same_parties = |r: &mut Recording| {
        if r.callee == "2815000001" {
            *r = Recording::new(&r.caller, "2815000000", r.start_epoch, r.wav.clone());
        }
    };
    let (console, recordings, tenant) =
        feed_down_on(&mut s, 6, ids_as_row_keys(), same_parties).await;
    let known = [&recordings[0], &recordings[2], &recordings[4]];
    let unknown = [&recordings[1], &recordings[3], &recordings[5]];
    for r in known {
        s.calls(tenant, std::slice::from_ref(r)).await;
    }

    let first = s.once().await;
    assert!(first.ok, "{}", first.stderr);
    assert_eq!(
        console.events().downloads_served,
        3,
        "the calls\n{}",
        first.stderr
    );
    let lines = told(&first);
    assert_eq!(lines.len(), 1, "one line per pass\n{}", first.stderr);
    assert!(lines[0].contains("has 3 recording(s)"), "{}", lines[0]);
    assert!(
        !first.stderr.contains("UnmatchedCannotTell"),
        "{}",
        first.stderr
    );
    let rows = noted(&s, tenant).await;
    let shown: Vec<(String, String, Option<i64>)> = rows
        .iter()
        .map(|r| (r.3.clone(), r.4.clone(), r.5))
        .collect();
    let expected: Vec<(String, String, Option<i64>)> = unknown
        .iter()
        .rev()
        .map(|r| (r.caller.clone(), r.callee.clone(), Some(r.start_epoch)))
        .collect();
    assert_eq!(shown, expected, "{rows:?}");
    assert!(rows.iter().all(|r| !r.1 && r.2 == "unmatched"), "{rows:?}");
    let list = tenant_command(&s, &["list"]).await;
    assert_eq!(list_cell(&list, tenant, "UNMATCHED"), "3", "{list}");

    // The call of recording 3 arrives: fetched as a call, and its noted row matched to it.
    // Recording 1 stays unmatched: call 0, known when it was noticed, is nearer its own row.
    // The others are kept, each downloaded once, noted under the name its download came with.
    insert_calls(s.pool(), tenant, &recordings[3..4], 4).await;
    s.env.insert("UNMATCHED_RECORDINGS".into(), "store".into());
    let second = s.once().await;
    assert!(second.ok, "{}", second.stderr);
    assert_eq!(console.events().downloads_served, 6, "{}", second.stderr);
    let kept = [&recordings[1], &recordings[5]];
    for r in kept {
        let key = format!("tenant_{tenant}/unmatched/{}.mp3", stem(r));
        assert_eq!(s.storage.stores_of(&key), 1, "{key}\n{}", second.stderr);
    }
    let key = format!("tenant_{tenant}/unmatched/{}.mp3", stem(&recordings[3]));
    assert_eq!(s.storage.stores_of(&key), 0, "{}", second.stderr);
    let rows = noted(&s, tenant).await;
    let status = |r: &Recording| {
        let row = rows.iter().find(|n| n.5 == Some(r.start_epoch)).unwrap();
        (row.0.clone(), row.1, row.2.clone())
    };
    for r in kept {
        assert_eq!(
            status(r),
            (r.download_name().into(), true, "stored".into()),
            "{rows:?}"
        );
    }
    assert_eq!(status(&recordings[3]).2, "matched", "{rows:?}");
    assert!(
        told(&second)
            .iter()
            .any(|l| l.contains("has 2 recording(s)")),
        "{}",
        second.stderr
    );
    let listed = tenant_command(&s, &["unmatched", &tenant.to_string()]).await;
    for r in kept {
        assert!(listed.contains(r.download_name()), "{listed}");
    }

    // The call of recording 1 arrives: linked by a copy, not downloaded again; nothing noted
    // twice on the next read.
    let uniqueids = insert_calls(s.pool(), tenant, &recordings[1..2], 4).await;
    let third = s.once().await;
    assert!(third.ok, "{}", third.stderr);
    assert_eq!(console.events().downloads_served, 6, "{}", third.stderr);
    let key = format!("tenant_{tenant}/{}_recording.mp3", uniqueids[0]);
    assert_eq!(s.storage.copies_to(&key), 1, "{key}\n{}", third.stderr);
    let rows = noted(&s, tenant).await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(
        rows.iter().filter(|r| r.2 == "matched").count(),
        2,
        "{rows:?}"
    );
    assert!(
        told(&third)
            .iter()
            .any(|l| l.contains("has 1 recording(s)")),
        "{}",
        third.stderr
    );
    s.assert_no_secrets();
}

/// Without a file name the call time is what tells a row; a selectors file whose `time_format`
/// reads no time leaves nothing to tell by. That is said once per pass, not reported as zero.
#[tokio::test]
async fn rows_that_show_neither_a_file_name_nor_a_readable_time_are_said_once_per_pass() {
    let mut s = Scenario::new().await;
    let selectors = s.work.path().join("selectors-day-first");
    std::fs::create_dir_all(&selectors).unwrap();
    let shipped = include_str!("../selectors/ucm63xx.toml");
    let day_first = shipped.replace(
        "time_format = \"%Y-%m-%d %H:%M:%S\"",
        "time_format = \"%d.%m.%Y %H:%M:%S\"",
    );
    assert_ne!(day_first, shipped, "the shipped file names its time format");
    std::fs::write(selectors.join("ucm63xx.toml"), day_first).unwrap();
    s.env
        .insert("SELECTORS_DIR".into(), selectors.display().to_string());
    let (console, _recordings, tenant) = feed_down_on(&mut s, 3, ids_as_row_keys(), |_| {}).await;

    for pass in 0..2 {
        let run = s.once().await;
        assert!(run.ok, "{}", run.stderr);
        let lines = lines_with(&run, "UnmatchedCannotTell");
        assert_eq!(lines.len(), 1, "pass {pass}: one line\n{}", run.stderr);
        assert!(
            lines[0].contains("Feed Down")
                && lines[0].contains(&format!("ID: {tenant}"))
                && lines[0].contains("3 of 3 row(s)")
                && lines[0].contains(&format!("selectors check --tenant {tenant}")),
            "{}",
            lines[0]
        );
        assert!(told(&run).is_empty(), "no count of zero\n{}", run.stderr);
    }
    assert!(noted(&s, tenant).await.is_empty());
    assert_eq!(console.events().downloads_served, 0);
}
