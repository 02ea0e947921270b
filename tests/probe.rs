//! `tenant test` and `selectors check --tenant` against a live console (the stand-in, real
//! Chromium): what an operator runs after adding a tenant or when the UCM firmware changed.

mod support;

use support::bin::UcmScraper;
use support::browser::wait_no_browsers;
use support::console::{ConsoleConfig, FakeConsole, Recording, Skin};
use support::pg::{migrated_database, TestDb};
use support::worker::with_browser;

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
