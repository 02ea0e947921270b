//! The HTTPS API road through whole passes of the `ucm-scraper` binary (issue 25): real
//! Postgres, the console stand-in (web pages, for the browser) and the API stand-in serving the
//! same calls and recordings on the tenant's API port.
//!
//! (a) API credentials on an API-serving console: every call stored, no browser session;
//! (b) the API switched off and (c) the API user refused: every call stored through the browser
//! in the same pass, with one line saying why; (d) a lockout costs one bad login, and the next
//! pass within the block period tries no login at all; (f, g, h) recordings without a CDR row are
//! noticed and kept over the API (`cdrapi`, `recapi`), with no browser session; `.venc` ones only
//! reported.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use support::console::{ConsoleConfig, FakeConsole, Recording, Skin};
use support::fernet;
use support::scenario::{Scenario, ZONE};
use support::ucm_api::{ApiCdr, ApiStandIn, CdrEntry, ServedApi};

const WEB_PASSWORD: &str = "Web-pass-1";
const API_USER: &str = "cdrapi";
const API_PASSWORD: &str = "Api-pass-1";
/// The line that says why a pass goes through the browser.
const FALLBACK_LINE: &str = "the browser takes this pass, not the HTTPS API";

/// The API stand-in with the console's calls (the uniqueids the backend stored) and files.
async fn api_of(recordings: &[Recording], uniqueids: &[String]) -> (ApiStandIn, ServedApi) {
    let api = ApiStandIn::new(API_USER, API_PASSWORD);
    api.mirror(recordings, uniqueids, ZONE.parse().unwrap());
    let served = api.serve(true).await;
    (api, served)
}

/// Gives `tenant` API credentials (`password` sealed the backend's way) on `served`'s port.
async fn give_api_credentials(s: &Scenario, tenant: i64, served: &ServedApi, password: &str) {
    let port: i32 = url::Url::parse(&served.url).unwrap().port().unwrap().into();
    sqlx::query(
        "UPDATE tenants SET api_username = $2, api_password = $3, api_port = $4 WHERE id = $1",
    )
    .bind(tenant)
    .bind(API_USER)
    .bind(fernet::encrypt(&s.fernet_key, password))
    .bind(port)
    .execute(s.pool())
    .await
    .unwrap();
}

/// A console with `n` calls and its tenant with API credentials (`api_password`) on an API
/// stand-in serving the same calls; the API can be switched before the pass.
async fn tenant_with_api(
    s: &Scenario,
    n: usize,
    api_password: &str,
) -> (FakeConsole, i64, ApiStandIn, ServedApi) {
    let (console, recordings) = s.console(WEB_PASSWORD, n).await;
    s.secret(API_PASSWORD);
    s.secret(api_password);
    let tenant = s.tenant("Api Corp", &console, WEB_PASSWORD).await;
    let uniqueids = s.calls(tenant, &recordings).await;
    let (api, served) = api_of(&recordings, &uniqueids).await;
    give_api_credentials(s, tenant, &served, api_password).await;
    (console, tenant, api, served)
}

async fn stored(s: &Scenario, tenant: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM cdr_records WHERE tenant_id = $1 AND recording_status = 'stored' \
         AND recording_local_path IS NOT NULL",
    )
    .bind(tenant as i32)
    .fetch_one(s.pool())
    .await
    .unwrap()
}

/// A WebDriver address that counts the connections made to it and answers none: the worker
/// starting a browser session would show here (and fail).
async fn counting_webdriver() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (url, count)
}

#[tokio::test]
async fn a_api_serving_console_gives_every_call_without_a_browser() {
    let mut s = Scenario::new().await;
    let (webdriver, connections) = counting_webdriver().await;
    s.env.insert("WEBDRIVER_URL".into(), webdriver);
    // Only the calls here; recordings without a call over the API: tests f and g.
    s.env.insert("UNMATCHED_RECORDINGS".into(), "off".into());
    let (console, tenant, api, _served) = tenant_with_api(&s, 4, API_PASSWORD).await;

    let run = s.once().await;
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(stored(&s, tenant).await, 4, "{}", run.stderr);
    let events = api.events();
    assert_eq!((events.logins, events.bad_logins), (1, 0));
    assert_eq!(events.served_files.len(), 4);
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "no browser session: {}",
        run.stderr
    );
    assert_eq!(console.events().logins_tried, 0, "no web login");
    assert!(!run.stderr.contains(FALLBACK_LINE), "{}", run.stderr);
    assert!(run.summary_row(tenant).contains(" api "), "{}", run.stdout);
    s.assert_no_secrets();
}

/// The pass stored every call through the browser, and said why once.
async fn assert_browser_took_the_pass(
    s: &Scenario,
    console: &FakeConsole,
    tenant: i64,
    calls: i64,
    why: &str,
) {
    let run = s.once().await;
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(stored(s, tenant).await, calls, "{}", run.stderr);
    assert!(console.events().logins_ok >= 1, "the browser logged in");
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains(FALLBACK_LINE))
        .collect();
    assert_eq!(lines.len(), 1, "one line says why: {}", run.stderr);
    assert!(lines[0].contains(why), "{}", lines[0]);
    assert!(
        run.summary_row(tenant).contains(" api>browser "),
        "{}",
        run.stdout
    );
    s.assert_no_secrets();
}

#[tokio::test]
async fn b_api_switched_off_the_browser_stores_every_call_in_the_same_pass() {
    let s = Scenario::new().await;
    let (console, tenant, api, _served) = tenant_with_api(&s, 3, API_PASSWORD).await;
    api.switch(|switches| switches.served = false);
    assert_browser_took_the_pass(&s, &console, tenant, 3, "does not serve the HTTPS API").await;
}

#[tokio::test]
async fn c_api_user_refused_the_browser_stores_every_call_and_the_api_is_held() {
    let s = Scenario::new().await;
    let (console, tenant, api, _served) = tenant_with_api(&s, 3, "not-the-api-pass").await;
    assert_browser_took_the_pass(&s, &console, tenant, 3, "status -37").await;
    assert_eq!(api.events().bad_logins, 1);
    let held: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT api_held_until FROM tenants WHERE id = $1")
            .bind(tenant)
            .fetch_one(s.pool())
            .await
            .unwrap();
    assert!(
        held.is_some_and(|until| until > chrono::Utc::now()),
        "{held:?}"
    );
}

#[tokio::test]
async fn d_a_lockout_costs_one_bad_login_per_block_period() {
    let s = Scenario::new().await;
    let (console, tenant, api, _served) = tenant_with_api(&s, 2, "not-the-api-pass").await;
    let ban = std::time::Duration::from_secs(2 * 3600);
    api.switch(|switches| {
        switches.bad_logins_allowed = 1;
        switches.ban_period = ban;
    });

    let first = s.once().await;
    assert!(
        !first.ok,
        "a blocked tenant fails the pass\n{}",
        first.stderr
    );
    let events = api.events();
    assert_eq!((events.bad_logins, events.count("login")), (1, 1));
    let until: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT ucm_blocked_until FROM tenants WHERE id = $1")
            .bind(tenant)
            .fetch_one(s.pool())
            .await
            .unwrap();
    let at_least = chrono::Utc::now() + chrono::Duration::from_std(ban).unwrap()
        - chrono::Duration::minutes(5);
    assert!(
        until > at_least,
        "blocked for the console's period: {until}"
    );

    let second = s.once().await;
    assert!(
        second.stderr.contains("is blocked after failed logins"),
        "{}",
        second.stderr
    );
    let after = api.events();
    assert_eq!(
        (after.count("challenge"), after.count("login")),
        (events.count("challenge"), 1),
        "no login tried within the block period"
    );
    assert_eq!(console.events().logins_tried, 0, "nor a web login");
    s.assert_no_secrets();
}

#[tokio::test]
async fn e_recapi_refusing_every_file_on_the_consoles_own_port_hands_the_pass_to_the_browser() {
    let s = Scenario::new().await;
    let api = ApiStandIn::new(API_USER, API_PASSWORD);
    api.switch(|switches| switches.recapi_refuses = Some(-16));
    let config = ConsoleConfig {
        api: Some(api.clone()),
        ..ConsoleConfig::for_skin(Skin::Ucm63xx)
    };
    let (console, recordings) = s.console_with(config, WEB_PASSWORD, 4, |_| {}).await;
    s.secret(API_PASSWORD);
    let tenant = s.tenant("Api Corp", &console, WEB_PASSWORD).await;
    let uniqueids = s.calls(tenant, &recordings).await;
    api.mirror(&recordings, &uniqueids, ZONE.parse().unwrap());
    // No api_port: the API answers on the web port, as on a real console.
    sqlx::query("UPDATE tenants SET api_username = $2, api_password = $3 WHERE id = $1")
        .bind(tenant)
        .bind(API_USER)
        .bind(fernet::encrypt(&s.fernet_key, API_PASSWORD))
        .execute(s.pool())
        .await
        .unwrap();

    assert_browser_took_the_pass(&s, &console, tenant, 4, "recapi refused all 3 file(s)").await;
    let events = api.events();
    assert_eq!(events.logins, 1);
    assert_eq!(
        events.count("recapi"),
        6,
        "three files, each asked in monitor and queue"
    );
    assert!(events.served_files.is_empty());
}

/// Two recordings the API stand-in serves (CDR and file in `monitor`) that no `cdr_records` row
/// references: the feed lost their calls. Their bare file names.
fn feed_lost_two(s: &Scenario, api: &ApiStandIn) -> Vec<String> {
    let zone: chrono_tz::Tz = ZONE.parse().unwrap();
    let names: Vec<String> = (0..2)
        .map(|n| {
            let at = chrono::Utc::now() - chrono::Duration::minutes(30 + 10 * n);
            let start = at.with_timezone(&zone).format("%Y-%m-%d %H:%M:%S");
            let name = format!("auto-{}-2001-300{n}.wav", at.timestamp());
            let cdr = ApiCdr::new(
                5000 + n as u32,
                "2001",
                &format!("300{n}"),
                &start.to_string(),
            )
            .with_files(&[&format!("{}/{name}", at.format("%Y-%m"))]);
            api.add_call(CdrEntry::Single(cdr));
            api.add_file("monitor", &name, s.wav.to_vec());
            name
        })
        .collect();
    names
}

/// The tenant's noted recordings without a call: file and status, by file.
async fn noted(s: &Scenario, tenant: i64) -> Vec<(String, String)> {
    sqlx::query_as("SELECT file, status FROM console_recordings WHERE tenant_id = $1 ORDER BY file")
        .bind(tenant as i32)
        .fetch_all(s.pool())
        .await
        .unwrap()
}

/// An API tenant with two calls in the backend and two recordings whose calls the feed lost,
/// on a pass whose browser would show on a counting WebDriver. The lost files, sorted; the
/// API is served while its `ServedApi` lives.
async fn feed_lost_on_the_api(
    s: &mut Scenario,
    mode: &str,
) -> (i64, ApiStandIn, ServedApi, Arc<AtomicUsize>, Vec<String>) {
    let (webdriver, connections) = counting_webdriver().await;
    s.env.insert("WEBDRIVER_URL".into(), webdriver);
    s.env.insert("UNMATCHED_RECORDINGS".into(), mode.into());
    let (_console, tenant, api, served) = tenant_with_api(s, 2, API_PASSWORD).await;
    let mut lost = feed_lost_two(s, &api);
    lost.sort();
    (tenant, api, served, connections, lost)
}

/// One pass of the API tenant whose feed lost two recordings, and what both modes share: the
/// calls stored, the lost recordings noted with `status`, no browser session and no fallback.
async fn pass_noting_the_lost(
    s: &Scenario,
    tenant: i64,
    connections: &AtomicUsize,
    lost: &[String],
    status: &str,
) -> support::bin::Run {
    let run = s.once().await;
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(stored(s, tenant).await, 2, "{}", run.stderr);
    let expected: Vec<(String, String)> = lost
        .iter()
        .map(|f| (f.clone(), status.to_string()))
        .collect();
    assert_eq!(noted(s, tenant).await, expected, "{}", run.stderr);
    let sessions = connections.load(Ordering::SeqCst);
    assert_eq!(sessions, 0, "no browser: {}", run.stderr);
    assert!(!run.stderr.contains(FALLBACK_LINE), "{}", run.stderr);
    s.assert_no_secrets();
    run
}

#[tokio::test]
async fn f_recordings_without_a_cdr_row_are_reported_over_the_api_without_a_browser() {
    let mut s = Scenario::new().await;
    let (tenant, api, _served, connections, lost) = feed_lost_on_the_api(&mut s, "report").await;

    let run = pass_noting_the_lost(&s, tenant, &connections, &lost, "unmatched").await;
    assert!(
        run.stderr.contains("has 2 recording(s) on its console"),
        "{}",
        run.stderr
    );
    let listing = s
        .finish(
            s.command(&["tenant", "unmatched", &tenant.to_string()])
                .spawn(),
        )
        .await;
    assert!(listing.ok, "{}", listing.stderr);
    for file in &lost {
        assert!(listing.stdout.contains(file.as_str()), "{}", listing.stdout);
    }
    let served = api.events().served_files;
    assert_eq!(served.len(), 2, "only the calls' files fetched: {served:?}");
}

#[tokio::test]
async fn g_recordings_without_a_cdr_row_are_kept_over_the_api_without_a_browser() {
    let mut s = Scenario::new().await;
    let (tenant, api, _served, connections, lost) = feed_lost_on_the_api(&mut s, "store").await;

    let run = pass_noting_the_lost(&s, tenant, &connections, &lost, "stored").await;
    for file in &lost {
        let stem = file.trim_end_matches(".wav");
        let key = format!("tenant_{tenant}/unmatched/{stem}.mp3");
        assert_eq!(s.storage.stores_of(&key), 1, "{key}\n{}", run.stderr);
    }
    let served = api.events().served_files;
    assert_eq!(served.len(), 4, "two calls and two kept: {served:?}");
}

#[tokio::test]
async fn h_a_venc_recording_without_a_cdr_row_is_reported_never_fetched() {
    let mut s = Scenario::new().await;
    let (tenant, api, _served, _connections, _lost) = feed_lost_on_the_api(&mut s, "store").await;
    let start = chrono::Utc::now().with_timezone(&ZONE.parse::<chrono_tz::Tz>().unwrap());
    let venc = "auto-1770009999-2001-3009.venc";
    let cdr = ApiCdr::new(
        5009,
        "2001",
        "3009",
        &start.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
    .with_files(&[&format!("{}/{venc}", start.format("%Y-%m"))]);
    api.add_call(CdrEntry::Single(cdr));

    let run = s.once().await;
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    let status = noted(&s, tenant)
        .await
        .into_iter()
        .find_map(|(file, status)| (file == venc).then_some(status));
    assert_eq!(status.as_deref(), Some("unmatched"), "{}", run.stderr);
    let why = run
        .stderr
        .lines()
        .filter(|l| l.contains("UnmatchedVencReported"))
        .count();
    assert_eq!(why, 1, "said once: {}", run.stderr);
    assert_eq!(
        api.events().count("recapi"),
        4,
        "no recapi for the .venc file"
    );
}
