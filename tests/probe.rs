//! `tenant test` and `selectors check --tenant` against a live console (the stand-in, real
//! Chromium): what an operator runs after adding a tenant or when the UCM firmware changed.

mod support;

use support::bin::UcmScraper;
use support::browser::wait_no_browsers;
use support::console::{ConsoleConfig, FakeConsole, Recording, Skin};
use support::pg::{migrated_database, TestDb};
use support::ucm_api::{ApiCdr, ApiStandIn, ApiSwitches, CdrEntry, ServedApi};
use support::worker::with_browser;

const API_USER: &str = "cdr-api";
const API_PASSWORD: &str = "Api-S3cret-0042";
/// The recording the API stand-in holds, as `recapi` names it (no month folder).
const API_FILE: &str = "auto-1770000001-1000-1001.wav";
const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // base64 of 32 bytes

/// Runs the binary with the stand-ins' addresses; returns (success, stdout, stderr).
async fn ucm_scraper(db: &TestDb, args: &[&str], stdin: &str) -> (bool, String, String) {
    let work = tempfile::tempdir().unwrap();
    let out = with_browser(UcmScraper::new(args), work.path())
        .env("DATABASE_URL", &db.url)
        .env("PBX_ENCRYPTION_KEY", KEY)
        .stdin(stdin)
        .run_async()
        .await;
    (out.ok, out.stdout, out.stderr)
}

async fn console(skin: Skin) -> FakeConsole {
    console_with_api(skin, false).await
}

async fn console_with_api(skin: Skin, https_api: bool) -> FakeConsole {
    let mut config = ConsoleConfig::for_skin(skin);
    config.tls = true;
    config.https_api = https_api;
    let wav = std::sync::Arc::new(support::console::tone_wav(1.0));
    config.recordings = (0..3)
        .map(|i| {
            Recording::new(
                "1000",
                &format!("20{i}"),
                1_770_000_000 + i * 60,
                wav.clone(),
            )
        })
        .collect();
    FakeConsole::start(config).await
}

async fn add_tenant(db: &TestDb, console: &FakeConsole, password: &str) -> String {
    let port = console.addr.port().to_string();
    let args = [
        "tenant",
        "add",
        "--company-name",
        "Probe Co",
        "--subdomain",
        "probe",
        "--pbx-ip",
        "127.0.0.1",
        "--pbx-port",
        &port,
        "--pbx-username",
        "admin",
        "--pbx-password-stdin",
    ];
    let (ok, stdout, stderr) = ucm_scraper(db, &args, &format!("{password}\n")).await;
    assert!(ok, "{stderr}");
    stdout.trim().to_string()
}

#[tokio::test]
async fn tenant_test_reports_firmware_and_recordings_access() {
    let db = migrated_database().await;
    let console = console(Skin::Ucm62xx).await;
    let password = ConsoleConfig::for_skin(Skin::Ucm62xx).password;
    let id = add_tenant(&db, &console, &password).await;

    let (ok, stdout, stderr) = ucm_scraper(&db, &["tenant", "test", &id], "").await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("login ok"), "{stdout}");
    assert!(
        stdout.contains(&format!("firmware: {}", Skin::Ucm62xx.default_firmware())),
        "{stdout}"
    );
    assert!(stdout.contains("ucm62xx.toml"), "{stdout}");
    // The API is off on this console: asked once, read-only, and reported as not served.
    assert!(
        stdout.contains("HTTPS API: not served (HTTP 405"),
        "{stdout}"
    );
    assert_eq!(console.events().api_challenges, 1);
    assert!(
        stdout.contains("3 recordings on the first page"),
        "{stdout}"
    );
    assert_eq!(console.events().logins_ok, 1);
    let firmware: Option<String> = sqlx::query_scalar("SELECT ucm_firmware FROM tenants")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(firmware.as_deref(), Some(Skin::Ucm62xx.default_firmware()));
    assert!(!stdout.contains(&password) && !stderr.contains(&password));
    assert_eq!(
        wait_no_browsers(std::time::Duration::from_secs(10)).await,
        0
    );
}

#[tokio::test]
async fn tenant_test_says_when_the_console_answers_the_https_api() {
    let db = migrated_database().await;
    let console = console_with_api(Skin::Ucm63xx, true).await;
    let password = ConsoleConfig::for_skin(Skin::Ucm63xx).password;
    let id = add_tenant(&db, &console, &password).await;

    let (ok, stdout, stderr) = ucm_scraper(&db, &["tenant", "test", &id], "").await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("HTTPS API: answers"), "{stdout}");
    let events = console.events();
    // One challenge over the API, and only the browser's own login: the API check tries none.
    assert_eq!(events.api_challenges, 1, "{events:?}");
    assert_eq!(
        (events.logins_tried, events.logins_ok),
        (1, 1),
        "{events:?}"
    );
}

#[tokio::test]
async fn selectors_check_on_a_live_console_lists_what_matched() {
    let db = migrated_database().await;
    let console = console(Skin::Ucm63xx).await;
    let password = ConsoleConfig::for_skin(Skin::Ucm63xx).password;
    let id = add_tenant(&db, &console, &password).await;

    let (ok, stdout, stderr) = ucm_scraper(&db, &["selectors", "check", "--tenant", &id], "").await;
    assert!(ok, "{stderr}");
    // The matching generation's row locator finds the three rows; the other file's does not.
    let row_matches = |file: &str| {
        stdout
            .lines()
            .find(|l| l.contains(&format!("{file}: recordings.row ")))
            .and_then(|l| l.split_whitespace().next())
            .map(str::to_string)
    };
    assert_eq!(
        row_matches("ucm63xx.toml").as_deref(),
        Some("3"),
        "{stdout}"
    );
    assert_eq!(
        row_matches("ucm62xx.toml").as_deref(),
        Some("0"),
        "{stdout}"
    );
}

#[tokio::test]
async fn tenant_test_with_a_wrong_password_fails_with_one_clear_line() {
    let db = migrated_database().await;
    let console = console(Skin::Ucm63xx).await;
    let id = add_tenant(&db, &console, "not-the-password").await;

    let (ok, stdout, stderr) = ucm_scraper(&db, &["tenant", "test", &id], "").await;
    assert!(!ok);
    assert!(stdout.is_empty(), "{stdout}");
    let error = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default();
    assert!(
        error.contains("Probe Co") && error.contains("tenant update"),
        "{stderr}"
    );
    assert!(!stderr.contains("not-the-password"));
    assert_eq!(console.events().logins_tried, 1);
}

/// The API stand-in on its own address, over HTTPS like a console's web port, with one call of
/// the last hour and its recording; `switch` sets its variation before it serves.
async fn api_stand_in(switch: impl FnOnce(&mut ApiSwitches)) -> (ApiStandIn, ServedApi) {
    let api = ApiStandIn::new(API_USER, API_PASSWORD);
    let start = (chrono::Utc::now() - chrono::Duration::hours(1))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let folder = format!("2026-02/{API_FILE}");
    api.add_call(CdrEntry::Single(
        ApiCdr::new(1, "1000", "1001", &start).with_files(&[&folder]),
    ));
    api.add_file("monitor", API_FILE, support::console::tone_wav(1.0));
    api.switch(switch);
    let served = api.serve(true).await;
    (api, served)
}

/// A tenant on the console stand-in whose API credentials name the API stand-in's port.
async fn tenant_with_api(
    db: &TestDb,
    console: &FakeConsole,
    api: &ServedApi,
    password: &str,
) -> String {
    let id = add_tenant(
        db,
        console,
        &ConsoleConfig::for_skin(Skin::Ucm63xx).password,
    )
    .await;
    let port = url::Url::parse(&api.url)
        .unwrap()
        .port()
        .unwrap()
        .to_string();
    let args = [
        "tenant",
        "update",
        &id,
        "--api-username",
        API_USER,
        "--api-password-stdin",
        "--api-port",
        &port,
    ];
    let (ok, _, stderr) = ucm_scraper(db, &args, &format!("{password}\n")).await;
    assert!(ok, "{stderr}");
    id
}

/// `tenant test`'s output for a tenant with API credentials; the browser's part succeeds.
async fn test_over_the_api(
    switch: impl FnOnce(&mut ApiSwitches),
    password: &str,
) -> (String, ApiStandIn, FakeConsole) {
    let db = migrated_database().await;
    let console = console(Skin::Ucm63xx).await;
    let (api, served) = api_stand_in(switch).await;
    let id = tenant_with_api(&db, &console, &served, password).await;
    let (ok, stdout, stderr) = ucm_scraper(&db, &["tenant", "test", &id], "").await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("login ok"), "{stdout}");
    assert!(!stdout.contains(password) && !stderr.contains(password));
    (stdout, api, console)
}

/// What a step's line must show.
enum Shows<'a> {
    Starts(&'a str),
    Contains(&'a str),
}
use Shows::{Contains, Starts};

fn assert_step(stdout: &str, name: &str, shows: Shows) {
    let line = step(stdout, name);
    let ok = match shows {
        Starts(text) => line.starts_with(text),
        Contains(text) => line.contains(text),
    };
    assert!(ok, "{stdout}");
}

/// The one line of the report that starts with `step`.
fn step<'a>(stdout: &'a str, step: &str) -> &'a str {
    stdout
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(step))
        .unwrap_or_else(|| panic!("no {step:?} line in {stdout}"))
}

#[tokio::test]
async fn tenant_test_over_the_api_logs_in_reads_one_page_fetches_one_recording_and_logs_out() {
    let (stdout, api, console) = test_over_the_api(|_| {}, API_PASSWORD).await;
    assert!(stdout.contains("the API road works"), "{stdout}");
    assert_step(&stdout, "login:", Starts("login: works"));
    assert_step(
        &stdout,
        "cdrapi",
        Contains("works (1 record(s) in the last"),
    );
    assert_step(
        &stdout,
        "recapi",
        Starts(&format!("recapi ({API_FILE}): works")),
    );
    assert_step(&stdout, "logout:", Starts("logout: works"));
    let events = api.events();
    // One of each, in a session of its own, and nothing else read.
    for (action, count) in [
        ("challenge", 1),
        ("login", 1),
        ("cdrapi", 1),
        ("recapi", 1),
        ("logout", 1),
    ] {
        assert_eq!(events.count(action), count, "{action}: {events:?}");
    }
    assert_eq!(events.requests.len(), 5, "{events:?}");
    assert_eq!(events.served_files, vec![API_FILE.to_string()]);
    // The console's own /api is not asked when the tenant has API credentials.
    assert_eq!(console.events().api_challenges, 0);
}

#[tokio::test]
async fn tenant_test_over_the_api_names_a_refused_login_its_code_and_the_fix() {
    let (stdout, api, _console) = test_over_the_api(|_| {}, "not-the-api-password").await;
    let login = step(&stdout, "login:");
    for part in [
        "refused, status -37 (wrong account or password)",
        "API Configuration → HTTPS API Settings",
        "attempt(s) left",
    ] {
        assert!(login.contains(part), "{stdout}");
    }
    assert!(stdout.contains("does not work yet"), "{stdout}");
    assert_step(&stdout, "cdrapi", Contains("not tried"));
    let events = api.events();
    // One bad login, and nothing sent after it.
    assert_eq!(
        (events.bad_logins, events.count("login")),
        (1, 1),
        "{events:?}"
    );
    assert_eq!(events.count("cdrapi") + events.count("recapi"), 0);
}

#[tokio::test]
async fn tenant_test_over_the_api_says_when_the_api_is_not_served() {
    let (stdout, api, _console) = test_over_the_api(|s| s.served = false, API_PASSWORD).await;
    assert_step(&stdout, "login:", Starts("login: not served (HTTP 405"));
    assert_step(&stdout, "recapi", Contains("not tried"));
    assert_eq!(api.events().logins, 0);
}

#[tokio::test]
async fn tenant_test_over_the_api_reports_recapi_refusing_while_the_rest_works() {
    let (stdout, api, _console) =
        test_over_the_api(|s| s.recapi_refuses = Some(-47), API_PASSWORD).await;
    assert_step(&stdout, "login:", Starts("login: works"));
    assert_step(&stdout, "cdrapi", Contains("works"));
    assert_step(
        &stdout,
        "recapi",
        Contains("refused, status -47 (no permission)"),
    );
    assert_step(&stdout, "logout:", Starts("logout: works"));
    let events = api.events();
    assert_eq!((events.count("recapi"), events.count("logout")), (1, 1));
    assert!(events.served_files.is_empty());
}

/// A check of the web console's locators only asks whether the API answers: with API
/// credentials set it logs in nowhere over the API and fetches nothing.
#[tokio::test]
async fn selectors_check_on_a_tenant_with_api_credentials_only_asks_the_api() {
    let db = migrated_database().await;
    let console = console(Skin::Ucm63xx).await;
    let (api, served) = api_stand_in(|_| {}).await;
    let id = tenant_with_api(&db, &console, &served, API_PASSWORD).await;

    let (ok, stdout, stderr) = ucm_scraper(&db, &["selectors", "check", "--tenant", &id], "").await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("HTTPS API: answers"), "{stdout}");
    let events = api.events();
    assert_eq!(
        (events.count("challenge"), events.requests.len()),
        (1, 1),
        "{events:?}"
    );
    assert!(events.served_files.is_empty(), "{events:?}");
}
