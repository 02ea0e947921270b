//! `ucm-scraper selectors learn` (issue 15) against the console stand-in's skins: for each,
//! its selectors file is taken out of SELECTORS_DIR (or SELECTORS_DIR holds no file at all), `learn`
//! drafts one from the console, and a
//! whole `once` pass with the draft alone stores every call with one login. The `cards` skin
//! was made for this test, unlike both shipped generations.
//!
//! `save_fixture_pages` (ignored) rewrites `tests/fixtures/learn/<skin>/*.html`, the rendered
//! pages the learner's unit tests read: `cargo test --test learn -- --ignored save_fixture_pages`.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::browser::browser;
use support::console::{tone_wav, ConsoleConfig, DeepLinks, FakeConsole, Recording, Skin};
use support::scenario::Scenario;
use support::session::FIRST_CALL;

/// The recordings the fixture pages list: five calls ten minutes apart, three to a page.
pub fn fixture_recordings() -> Vec<Recording> {
    let wav = Arc::new(tone_wav(0.2));
    (0..5)
        .map(|i| {
            Recording::new(
                &format!("10{i:02}"),
                "2815058290",
                FIRST_CALL + 600 * i,
                wav.clone(),
            )
        })
        .collect()
}

/// The page's HTML once it shows `marker`.
async fn source_showing(client: &fantoccini::Client, marker: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let source = client.source().await.unwrap();
        if source.contains(marker) {
            return source;
        }
        assert!(Instant::now() < deadline, "the page never showed {marker}");
        tokio::time::sleep(Duration::from_millis(100)).await; // poll interval
    }
}

#[tokio::test]
#[ignore = "rewrites the fixture pages; run by hand after changing a skin"]
async fn save_fixture_pages() {
    for skin in [Skin::Ucm63xx, Skin::Ucm62xx, Skin::Cards] {
        let mut config = ConsoleConfig::for_skin(skin);
        config.recordings = fixture_recordings();
        config.page_size = 3;
        config.timezone = chrono_tz::Europe::Berlin;
        let console = FakeConsole::start(config.clone()).await;
        let browser = browser().await;
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/learn")
            .join(skin.name());
        std::fs::create_dir_all(&dir).unwrap();
        let save = |name: &str, html: &str| std::fs::write(dir.join(name), html).unwrap();

        browser.client.goto(&console.url).await.unwrap();
        save(
            "login.html",
            &source_showing(&browser.client, "password").await,
        );
        let http = reqwest::Client::new();
        let (_, _, cookie) = console
            .cgi_login(&http, &config.username, &config.password)
            .await;
        let cookie = cookie.expect("a session cookie");
        browser
            .client
            .execute(&format!("document.cookie = '{cookie}; path=/'"), vec![])
            .await
            .unwrap();
        browser.client.goto(&console.url).await.unwrap();
        save(
            "dashboard.html",
            &source_showing(&browser.client, &config.firmware).await,
        );
        browser
            .client
            .goto(&console.route(skin.recordings_route()))
            .await
            .unwrap();
        let newest = &config.recordings[4].file;
        save("list.html", &source_showing(&browser.client, newest).await);
        browser.close().await;
    }
}

/// The shipped selectors files but `skin`'s, in a directory of the scenario's.
fn selectors_without(s: &Scenario, skin: Skin) -> std::path::PathBuf {
    let dir = s.work.path().join("selectors-without-it");
    std::fs::create_dir_all(&dir).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("selectors");
    for entry in std::fs::read_dir(&shipped).unwrap() {
        let path = entry.unwrap().path();
        if path.file_stem().and_then(|n| n.to_str()) != Some(skin.name()) {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

/// A SELECTORS_DIR that exists and holds no file: a new install, or an operator starting afresh.
fn selectors_none(s: &Scenario, _skin: Skin) -> std::path::PathBuf {
    let dir = s.work.path().join("selectors-none");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Learns `skin` (changed by `vary`) with SELECTORS_DIR made by `selectors` (without the
/// skin's file), checks what `learn` promises, then stores every call in one pass with the draft
/// alone; returns the draft.
async fn learn_then_store_every_call(
    skin: Skin,
    selectors: impl FnOnce(&Scenario, Skin) -> std::path::PathBuf,
    vary: impl FnOnce(&mut ConsoleConfig),
) -> String {
    let mut s = Scenario::new().await;
    let password = "Learn-Me-7!";
    let mut config = ConsoleConfig::for_skin(skin);
    config.page_size = 3;
    vary(&mut config);
    let (console, recordings) = s.console_with(config, password, 7, |_| {}).await;
    let tenant = s.tenant("Learn Co", &console, password).await;
    let uniqueids = s.calls(tenant, &recordings).await;
    let without = selectors(&s, skin);
    s.env
        .insert("SELECTORS_DIR".into(), without.display().to_string());

    let draft = s.work.path().join("learnt.toml");
    let args = [
        "selectors",
        "learn",
        "--tenant",
        &tenant.to_string(),
        "--out",
        draft.to_str().unwrap(),
    ];
    let run = s.finish(s.command(&args).spawn()).await;
    eprintln!("{skin:?}: selectors learn printed:\n{}", run.stdout);
    assert!(run.ok, "learn failed:\n{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout.matches("  found  ").count(),
        uniqueids.len(),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("NOT FOUND"), "{}", run.stdout);
    let pages = s.work.path().join("learnt.pages");
    let saved: Vec<_> = std::fs::read_dir(&pages).unwrap().collect();
    assert!(saved.len() >= 6, "a page and a screenshot per page visited");
    for page in std::fs::read_dir(&pages).unwrap() {
        let text = std::fs::read(page.unwrap().path()).unwrap();
        assert!(!String::from_utf8_lossy(&text).contains(password));
    }
    let events = console.events();
    assert_eq!(
        events.downloads_served, 0,
        "learn downloads nothing: {events:?}"
    );
    assert_eq!(events.logins_ok, 1, "learn logs in once: {events:?}");
    // A second `learn` never overwrites the draft.
    let again = s.finish(s.command(&args).spawn()).await;
    assert!(
        !again.ok && again.stderr.contains("already exists"),
        "{}",
        again.stderr
    );

    // A pass with the draft alone stores every call, with one login.
    let learnt_only = s.work.path().join("selectors-learnt");
    std::fs::create_dir_all(&learnt_only).unwrap();
    std::fs::copy(&draft, learnt_only.join("learnt.toml")).unwrap();
    s.env
        .insert("SELECTORS_DIR".into(), learnt_only.display().to_string());
    let logins_before = console.events().logins_ok;
    let run = s.once().await;
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM cdr_records WHERE tenant_id = $1 AND recording_status = 'stored'",
    )
    .bind(tenant as i32)
    .fetch_one(s.pool())
    .await
    .unwrap();
    assert_eq!(
        stored as usize,
        uniqueids.len(),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(console.events().logins_ok - logins_before, 1, "one login");
    s.assert_no_secrets();
    std::fs::read_to_string(&draft).unwrap()
}

#[tokio::test]
async fn the_ant_design_generation_is_learnt_and_stores_every_call() {
    learn_then_store_every_call(Skin::Ucm63xx, selectors_without, |_| {}).await;
}

#[tokio::test]
async fn the_older_generation_is_learnt_and_stores_every_call() {
    learn_then_store_every_call(Skin::Ucm62xx, selectors_without, |_| {}).await;
}

#[tokio::test]
async fn a_generation_nobody_wrote_a_file_for_is_learnt_and_stores_every_call() {
    learn_then_store_every_call(Skin::Cards, selectors_without, |_| {}).await;
}

/// Issue 22: `learn` works where no selectors file is shipped at all; the walk infers the
/// login form from the page.
#[tokio::test]
async fn an_empty_selectors_dir_is_learnt_from_scratch_and_stores_every_call() {
    learn_then_store_every_call(Skin::Ucm63xx, selectors_none, |_| {}).await;
}

#[tokio::test]
async fn a_route_that_does_not_load_directly_is_left_out_and_the_menu_kept() {
    let draft = learn_then_store_every_call(Skin::Ucm63xx, selectors_without, |c| {
        c.quirks.deep_links = DeepLinks::NotFound;
    })
    .await;
    assert!(!draft.contains("route ="), "{draft}");
    assert!(draft.contains("menu = ["), "{draft}");
}
