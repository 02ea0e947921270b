//! The browser flow against the console stand-in, with real Chromium and chromedriver
//! (issue 5's acceptance list). Every test ends by checking its browser is gone.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use support::browser::Chromedriver;
use support::console::{Recording, Skin};
use support::session::{call_for, download_all, World, FIRST_CALL};
use ucm_scraper::console::{CheckedOn, ConsoleErrorKind, ConsoleSession};
use ucm_scraper::failure::{Failure as _, NextStep};

#[tokio::test]
async fn ucm63xx_25_calls_over_3_pages_with_one_login_and_no_refusal() {
    let world = World::start(Skin::Ucm63xx, 25, &["ucm63xx.toml"], |_| {}).await;
    let mut session = world.open().await;
    let signed_in = session.sign_in().await.expect("sign in");
    assert_eq!(signed_in.firmware.as_deref(), Some("1.0.27.10"));
    assert!(signed_in.selectors_file.ends_with("ucm63xx.toml"));

    download_all(&world, &mut session, (0..25).rev()).await;
    world.close(session).await;

    let events = world.console.events();
    assert_eq!(events.logins_ok, 1, "{events:?}");
    assert_eq!(events.downloads_served, 25, "{events:?}");
    assert_eq!(events.downloads_rate_limited, 0, "{events:?}");
    // One pass: pages 1, 2 and 3 each listed once.
    assert_eq!(events.pages_listed, 3, "{events:?}");
    assert_eq!(events.logouts, 1, "{events:?}");
    assert_eq!(events.sessions_active, 0, "{events:?}");
    world.assert_no_browser_left().await;
}

#[tokio::test]
async fn a_call_seen_on_an_earlier_page_is_found_by_going_back_to_it() {
    // A full-page mask over every load, and bodies that trickle in (`.crdownload` meanwhile).
    let world = World::start(Skin::Ucm63xx, 25, &["ucm63xx.toml"], |c| {
        c.overlay = true;
        c.download_delay = Duration::from_millis(800);
    })
    .await;
    let mut session = world.open().await;
    session.sign_in().await.expect("sign in");
    // The oldest first takes the list to page 3; the others are then found on pages seen.
    download_all(&world, &mut session, [0, 24, 12, 13].into_iter()).await;
    world.close(session).await;
    let events = world.console.events();
    assert_eq!(events.logins_ok, 1, "{events:?}");
    assert_eq!(events.downloads_rate_limited, 0, "{events:?}");
    world.assert_no_browser_left().await;
}

#[tokio::test]
async fn wrong_password_is_one_attempt_and_a_typed_error() {
    let world = World::start(Skin::Ucm63xx, 1, &["ucm63xx.toml"], |_| {}).await;
    let mut session = ConsoleSession::open(&world.config, world.target("wrong"))
        .await
        .unwrap();
    let err = session.sign_in().await.unwrap_err();
    world.close(session).await;

    assert!(
        matches!(err.kind, ConsoleErrorKind::LoginRejected { .. }),
        "{err}"
    );
    assert_eq!(err.next_step(), NextStep::BlockTenant);
    let text = err.to_string();
    assert!(
        text.contains("Acme Corp") && text.contains("tenant update"),
        "{text}"
    );
    assert!(text.contains("Incorrect username or password"), "{text}");
    assert_eq!(world.console.events().logins_tried, 1);
    world.assert_no_browser_left().await;
}

#[tokio::test]
async fn lockout_text_is_recognised_with_its_wait() {
    let world = World::start(Skin::Ucm63xx, 1, &["ucm63xx.toml"], |c| {
        c.lockout_threshold = 1
    })
    .await;
    let mut session = ConsoleSession::open(&world.config, world.target("wrong"))
        .await
        .unwrap();
    let err = session.sign_in().await.unwrap_err();
    world.close(session).await;

    match err.kind {
        ConsoleErrorKind::LockedOut { retry_after } => {
            assert_eq!(retry_after, Some(Duration::from_secs(300)))
        }
        ref other => panic!("expected a lockout, got {other:?}: {err}"),
    }
    assert_eq!(err.next_step(), NextStep::BlockTenant);
    assert_eq!(world.console.events().logins_tried, 1);
    world.assert_no_browser_left().await;
}

#[tokio::test]
async fn ucm62xx_refusals_are_recognised_from_its_own_texts() {
    let world = World::start(Skin::Ucm62xx, 1, &["ucm62xx.toml"], |c| {
        c.lockout_threshold = 2
    })
    .await;
    let mut kinds = Vec::new();
    for _ in 0..2 {
        let mut session = ConsoleSession::open(&world.config, world.target("wrong"))
            .await
            .unwrap();
        kinds.push(session.sign_in().await.unwrap_err().kind);
        world.close(session).await;
    }
    assert!(
        matches!(kinds[0], ConsoleErrorKind::LoginRejected { .. }),
        "{:?}",
        kinds[0]
    );
    assert!(
        matches!(kinds[1], ConsoleErrorKind::LockedOut { retry_after: Some(d) } if d == Duration::from_secs(300)),
        "{:?}",
        kinds[1]
    );
    assert_eq!(world.console.events().logins_tried, 2);
    world.assert_no_browser_left().await;
}

#[tokio::test]
async fn captcha_stops_before_any_login_attempt() {
    let world = World::start(Skin::Ucm63xx, 1, &["ucm63xx.toml"], |c| c.captcha = true).await;
    let mut session = world.open().await;
    let err = session.sign_in().await.unwrap_err();
    world.close(session).await;
    assert!(matches!(err.kind, ConsoleErrorKind::Captcha), "{err}");
    assert_eq!(world.console.events().logins_tried, 0);
    world.assert_no_browser_left().await;
}

#[tokio::test]
async fn expired_session_logs_in_again_once_and_succeeds() {
    let world = World::start(Skin::Ucm63xx, 3, &["ucm63xx.toml"], |_| {}).await;
    let mut session = world.open().await;
    session.sign_in().await.expect("sign in");
    download_all(&world, &mut session, [2].into_iter()).await;
    world.console.expire_sessions();
    download_all(&world, &mut session, [1, 0].into_iter()).await;
    world.close(session).await;

    let events = world.console.events();
    assert_eq!(events.logins_ok, 2, "{events:?}");
    assert_eq!(events.downloads_served, 3, "{events:?}");
    world.assert_no_browser_left().await;
}

#[tokio::test]
async fn a_refused_download_backs_off_and_succeeds() {
    // The console refuses the second download ("too frequently") however long the worker
    // waited: counted, not timed, so a slow machine cannot make it come late and be served.
    let world = World::start(Skin::Ucm63xx, 2, &["ucm63xx.toml"], |_| {}).await;
    let mut session = world.open().await;
    session.sign_in().await.expect("sign in");
    download_all(&world, &mut session, [1].into_iter()).await;
    world.console.refuse_next_downloads(1);
    download_all(&world, &mut session, [0].into_iter()).await;
    world.close(session).await;

    let events = world.console.events();
    assert_eq!(events.downloads_rate_limited, 1, "{events:?}");
    assert_eq!(events.downloads_served, 2, "{events:?}");
    // The refused call was asked for again, no sooner than the wait the console stated.
    let answers: Vec<_> = events
        .download_answers
        .iter()
        .filter(|a| a.file == world.recordings[0].file)
        .collect();
    let [refused, served] = answers[..] else {
        panic!("one refusal, then the file: {answers:?}");
    };
    let stated = refused
        .refused_for
        .expect("the first answer is the refusal");
    assert_eq!(served.refused_for, None, "{answers:?}");
    assert!(
        served.at - refused.at >= stated,
        "asked again {:?} after a refusal that said {stated:?}",
        served.at - refused.at
    );
    world.assert_no_browser_left().await;
}

#[tokio::test]
async fn a_call_missing_from_the_console_is_not_on_console() {
    let world = World::start(Skin::Ucm63xx, 25, &["ucm63xx.toml"], |_| {}).await;
    let mut session = world.open().await;
    session.sign_in().await.expect("sign in");
    // Between two listed recordings, but never recorded: the search stops where its time passes.
    let ghost = Recording::new(
        "1099",
        "2815058290",
        FIRST_CALL + 600 * 20 + 300,
        Arc::new(Vec::new()),
    );
    let err = session.download(&call_for(&ghost, 99)).await.unwrap_err();
    assert!(
        matches!(err.kind, ConsoleErrorKind::NotOnConsole { .. }),
        "{err}"
    );
    assert_eq!(err.next_step(), NextStep::NotListed);
    assert!(err.artifacts.is_none());
    // The session is still good for the next call.
    download_all(&world, &mut session, [3].into_iter()).await;
    world.close(session).await;
    assert_eq!(world.console.events().logins_ok, 1);
    world.assert_no_browser_left().await;
}

#[tokio::test]
async fn a_failing_locator_leaves_artefacts_and_names_them() {
    let world = World::start(Skin::Ucm63xx, 1, &["ucm63xx.toml"], |_| {}).await;
    let file = world.config.selectors_dir.join("ucm63xx.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("span.sprite-download", "span.sprite-fetch"),
    )
    .unwrap();

    let mut session = world.open().await;
    session.sign_in().await.expect("sign in");
    let err = session.download(&world.call(0)).await.unwrap_err();
    world.close(session).await;

    assert!(
        matches!(err.kind, ConsoleErrorKind::LocatorNotFound { .. }),
        "{err}"
    );
    // A required locator missing stops the tenant, and its calls go back uncharged.
    assert_eq!(err.next_step(), NextStep::StopTenantUncharged);
    let dir: PathBuf = err.artifacts.clone().expect("artefacts saved");
    assert!(dir.starts_with(
        world
            .config
            .artifacts_dir
            .join("1")
            .join(world.call(0).uniqueid.as_str())
    ));
    let text = err.to_string();
    assert!(text.contains(&dir.display().to_string()), "{text}");
    assert!(
        text.contains("download icon") && text.contains("recordings.download"),
        "{text}"
    );
    let failure = std::fs::read_to_string(dir.join("failure.txt")).unwrap();
    assert!(
        failure.contains("span.sprite-fetch") || failure.contains("recordings.download"),
        "{failure}"
    );
    let png = std::fs::read(dir.join("screenshot.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let html = std::fs::read_to_string(dir.join("page.html")).unwrap();
    assert!(html.contains("sprite-download") && !html.contains("S3cret!pass"));
    world.assert_no_browser_left().await;
    drop(world);
}

#[tokio::test]
async fn a_search_form_declared_in_the_file_narrows_the_list_per_call() {
    let world = World::start(Skin::Ucm63xx, 25, &["ucm63xx.toml"], |_| {}).await;
    let file = world.config.selectors_dir.join("ucm63xx.toml");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(
        r#"
[recordings.search]
fields = [
    { css = "input#search-caller", desc = "caller search field", value = "{caller}" },
    { css = "input#search-callee", desc = "callee search field", value = "{callee}" },
]
submit = { css = "button.search-btn", desc = "search button" }
"#,
    );
    std::fs::write(&file, text).unwrap();

    let mut session = world.open().await;
    session.sign_in().await.expect("sign in");
    download_all(&world, &mut session, [0, 24, 12].into_iter()).await;
    world.close(session).await;
    let events = world.console.events();
    // The unfiltered first page, then one filtered page per call: no paging through the list.
    assert_eq!(events.pages_listed, 4, "{events:?}");
    assert_eq!(events.logins_ok, 1, "{events:?}");
    world.assert_no_browser_left().await;
}

#[tokio::test]
async fn selectors_check_tries_every_locator_on_the_live_console() {
    let files = ["ucm63xx.toml", "ucm62xx.toml"];
    let world = World::start(Skin::Ucm63xx, 12, &files, |_| {}).await;
    let mut session = world.open().await;
    let (signed_in, checks) = session.check_selectors().await.expect("check");
    world.close(session).await;

    assert!(signed_in.selectors_file.ends_with("ucm63xx.toml"));
    let (own, other): (Vec<_>, Vec<_>) = checks
        .iter()
        .partition(|c| c.file.ends_with("ucm63xx.toml"));
    // Every locator of the console's own file matches, but those for what is not shown now.
    let absent = ["reCAPTCHA on the login page", "loading spinner"];
    for check in own.iter().filter(|c| !absent.contains(&c.desc.as_str())) {
        assert!(check.matches >= 1, "{check:?}");
    }
    assert!(own
        .iter()
        .any(|c| c.on == CheckedOn::FirstRow && c.desc == "download icon"));
    let legacy_login = other
        .iter()
        .find(|c| c.origin.ends_with("login.username"))
        .unwrap();
    assert_eq!(legacy_login.matches, 0);
    assert_eq!(world.console.events().logins_ok, 1);
    world.assert_no_browser_left().await;
}

#[tokio::test]
async fn a_self_signed_console_is_reached_when_invalid_certs_are_accepted() {
    let mut world = World::start(Skin::Ucm63xx, 2, &["ucm63xx.toml"], |c| c.tls = true).await;
    assert!(world.console.url.starts_with("https://"));
    world.config.accept_invalid_certs = true;
    let mut session = world.open().await;
    session.sign_in().await.expect("sign in over https");
    download_all(&world, &mut session, [1].into_iter()).await;
    world.close(session).await;
    world.assert_no_browser_left().await;
}

#[tokio::test]
async fn a_dropped_session_is_closed_in_the_background() {
    let world = World::start(Skin::Ucm63xx, 1, &["ucm63xx.toml"], |_| {}).await;
    let mut session = world.open().await;
    session.sign_in().await.expect("sign in");
    let id = session.webdriver_session_id().unwrap().to_string();
    // A pass cancelled mid-way drops its session without `close`.
    drop(session);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while Chromedriver::shared().session_ids().contains(&id) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "session {id} left open"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    world.assert_no_browser_left().await;
}

#[test]
fn every_shipped_selectors_file_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("selectors");
    let catalog =
        ucm_scraper::selectors::SelectorCatalog::load_dir(&dir).expect("selectors/ parses");
    assert!(catalog.sets().iter().any(|s| s.default));
}

#[tokio::test]
async fn ucm62xx_25_calls_by_switching_only_the_selectors_file() {
    let world = World::start(Skin::Ucm62xx, 25, &["ucm62xx.toml"], |_| {}).await;
    let mut session = world.open().await;
    let signed_in = session.sign_in().await.expect("sign in");
    assert_eq!(signed_in.firmware.as_deref(), Some("1.0.20.52"));

    download_all(&world, &mut session, (0..25).rev()).await;
    world.close(session).await;

    let events = world.console.events();
    assert_eq!(events.logins_ok, 1, "{events:?}");
    assert_eq!(events.downloads_served, 25, "{events:?}");
    assert_eq!(events.downloads_rate_limited, 0, "{events:?}");
    // The first rows, then "More" twice.
    assert_eq!(events.pages_listed, 3, "{events:?}");
    assert_eq!(events.logouts, 1, "{events:?}");
    world.assert_no_browser_left().await;
}

#[tokio::test]
async fn the_firmware_shown_after_login_picks_the_selectors_file() {
    let files = ["ucm63xx.toml", "ucm62xx.toml"];
    let world = World::start(Skin::Ucm62xx, 12, &files, |_| {}).await;
    let mut session = world.open().await;
    let signed_in = session.sign_in().await.expect("sign in");
    assert!(
        signed_in.selectors_file.ends_with("ucm62xx.toml"),
        "{signed_in:?}"
    );
    // The oldest first: "More" until it shows, then the newest among the rows already loaded.
    download_all(&world, &mut session, [0, 11].into_iter()).await;
    world.close(session).await;
    assert_eq!(world.console.events().logins_ok, 1);
    world.assert_no_browser_left().await;
}

#[tokio::test]
async fn the_menu_reaches_the_recordings_when_the_file_has_no_route() {
    let world = World::start(Skin::Ucm63xx, 3, &["ucm63xx.toml"], |_| {}).await;
    let file = world.config.selectors_dir.join("ucm63xx.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("route = \"/cdr/recordingFile\"", "")).unwrap();

    let mut session = world.open().await;
    session.sign_in().await.expect("sign in");
    download_all(&world, &mut session, [2, 0].into_iter()).await;
    world.close(session).await;
    assert_eq!(world.console.events().logins_ok, 1);
    world.assert_no_browser_left().await;
}

#[test]
fn the_documented_example_selectors_file_is_valid() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/selectors.md"))
            .unwrap();
    let section = doc
        .split("A minimal file for a made-up generation")
        .nth(1)
        .expect("the example in docs/selectors.md");
    let example = section
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a toml example");
    ucm_scraper::selectors::SelectorSet::parse(Path::new("docs/selectors.md"), example)
        .expect("the example parses");
}

/// The log lines a test's own code emits (this thread), as text.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn issue_13_optional_markers_missing_are_one_warning_each_and_the_pass_goes_on() {
    let world = World::start(Skin::Ucm63xx, 4, &["ucm63xx.toml"], |c| {
        c.quirks.firmware = support::console::FirmwareShown::Header;
    })
    .await;
    let file = world.config.selectors_dir.join("ucm63xx.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    // A logout link of an older firmware, and a busy marker the browser refuses.
    let text = text
        .replace("a.logout-link", "a.sign-out")
        .replace("\".ant-spin-spinning\"", "\"div[[broken\"");
    std::fs::write(&file, text).unwrap();
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut session = world.open().await;
    let signed_in = session
        .sign_in()
        .await
        .expect("a missing firmware marker is no failed login");
    assert_eq!(signed_in.firmware, None);
    assert!(signed_in.selectors_file.ends_with("ucm63xx.toml"));
    download_all(&world, &mut session, [3, 2, 0].into_iter()).await;
    world.close(session).await;

    let logs = logs.text();
    for key in ["firmware_marker", "logout[0]", "busy[0]"] {
        let lines: Vec<_> = logs
            .lines()
            .filter(|l| l.contains("WARN") && l.contains(&format!("ucm63xx.toml: {key}")))
            .collect();
        assert_eq!(lines.len(), 1, "one warning for {key}:\n{logs}");
    }
    assert_eq!(world.console.events().downloads_served, 3);
    world.assert_no_browser_left().await;
}

#[tokio::test]
async fn issue_13_a_route_answered_by_an_error_page_is_left_at_once_for_the_start_page_and_menu() {
    let mut world = World::start(Skin::Ucm63xx, 3, &["ucm63xx.toml"], |c| {
        c.quirks.deep_links = support::console::DeepLinks::NotFound;
    })
    .await;
    // Long enough that waiting it out once would show, with room for a loaded machine: the
    // whole download takes up to ~15 s on a busy 2-core host, the 404 waited out 90 s more.
    world.config.timeouts.element = Duration::from_secs(90);
    let mut session = world.open().await;
    session.sign_in().await.expect("sign in");
    let started = std::time::Instant::now();
    download_all(&world, &mut session, [2].into_iter()).await;
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the 404 was waited out: {:?}",
        started.elapsed()
    );
    // The route is not tried again this pass.
    download_all(&world, &mut session, [0].into_iter()).await;
    world.close(session).await;
    assert_eq!(world.console.events().logins_ok, 1);
    world.assert_no_browser_left().await;
}

#[tokio::test]
async fn issue_13_a_row_locator_that_matches_nothing_ends_no_call_and_stops_the_tenant_once() {
    let world = World::start(Skin::Ucm63xx, 3, &["ucm63xx.toml"], |_| {}).await;
    let file = world.config.selectors_dir.join("ucm63xx.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    // A firmware that renamed the rows' key: the list looks empty to this file.
    std::fs::write(
        &file,
        text.replace(
            ".ant-table-tbody > tr[data-row-key]",
            ".ant-table-tbody > tr[data-key]",
        ),
    )
    .unwrap();
    let mut session = world.open().await;
    session.sign_in().await.expect("sign in");
    let err = session.download(&world.call(2)).await.unwrap_err();
    world.close(session).await;

    // Not "not on the console": an empty-looking list proves nothing.
    assert!(
        matches!(err.kind, ConsoleErrorKind::LocatorNotFound { .. }),
        "{err}"
    );
    assert_eq!(err.next_step(), NextStep::StopTenantUncharged);
    let text = err.to_string();
    assert!(
        text.contains("recordings.row") && text.contains("empty"),
        "{text}"
    );
    assert!(err.artifacts.is_some());
    world.assert_no_browser_left().await;
}

/// Issue 22: a console that shows no firmware marker is not waited on for a quarter of the
/// element timeout: once the dashboard is drawn and the page is quiet, the login goes on.
#[tokio::test]
async fn issue_22_a_firmware_marker_not_shown_is_given_up_once_the_page_is_quiet() {
    let mut world = World::start(Skin::Ucm63xx, 2, &["ucm63xx.toml"], |c| {
        c.quirks.firmware = support::console::FirmwareShown::Nowhere;
    })
    .await;
    // A quarter of it (50 s) is far beyond a login, even on a loaded machine.
    world.config.timeouts.element = Duration::from_secs(200);
    let mut session = world.open().await;
    let started = std::time::Instant::now();
    let signed_in = session.sign_in().await.expect("sign in");
    let took = started.elapsed();
    assert_eq!(signed_in.firmware, None);
    assert!(
        took < Duration::from_secs(40),
        "the missing marker was waited out: {took:?}"
    );
    download_all(&world, &mut session, [1, 0].into_iter()).await;
    world.close(session).await;
    world.assert_no_browser_left().await;
}

/// Issue 22: the page-side watcher behind settled reads (`src/console/quiet.js`), on a page of
/// its own: a list that keeps changing never counts as quiet, changes elsewhere on the page do
/// not count, the rows are read as they are (a missing cell named), and a request in flight
/// keeps the page busy until it has been open for `longMs`.
#[tokio::test]
async fn issue_22_the_page_watcher_waits_for_the_list_only_and_reads_it_in_one_turn() {
    const SCRIPT: &str = include_str!("../src/console/quiet.js");
    let browser = support::browser::browser().await;
    let client = &browser.client;
    client.goto("about:blank").await.unwrap();
    client
        .execute(
            "document.body.innerHTML = '<p id=clock>0</p><table><tbody id=list>\
             <tr data-k=a><td>1</td><td> x </td></tr><tr data-k=b><td>2</td></tr></tbody></table>'; \
             window.tick = setInterval(function () { \
               document.getElementById('clock').textContent = Date.now(); }, 30); \
             window.fetch = function () { return new Promise(function () {}); };",
            vec![],
        )
        .await
        .unwrap();
    let read = serde_json::json!({
        "row": { "css": "#list > tr" },
        "cells": [{ "css": "td:nth-child(1)" }, { "xpath": "./td[2]" }],
        "file": "data-k",
        "empty": null
    });
    let spec = |budget: u64| {
        serde_json::json!({
            "quietMs": 200, "budgetMs": budget, "longMs": 10_000, "scope": [{ "css": "#list" }],
            "rowsScope": { "css": "#list > tr" }, "busy": [], "until": null, "read": read
        })
    };
    // The clock ticks all along, outside the list: quiet all the same.
    let answer = client
        .execute_async(SCRIPT, vec![spec(10_000)])
        .await
        .unwrap();
    assert_eq!(answer["quiet"], true, "{answer}");
    assert!(answer["since"].as_u64().unwrap() >= 200, "{answer}");
    assert_eq!(
        answer["rows"],
        serde_json::json!([
            { "file": "a", "cells": ["1", "x"], "missing": null },
            { "file": "b", "cells": ["2"], "missing": 1 }
        ])
    );
    // A list cell that keeps changing: never quiet, and the answer comes at the budget.
    client
        .execute(
            "window.restless = setInterval(function () { \
               document.querySelector('#list td').textContent = Date.now(); }, 50);",
            vec![],
        )
        .await
        .unwrap();
    // Once it has changed at least once.
    client
        .execute_async(
            "var done = arguments[0], td = document.querySelector('#list td'); \
             (function wait() { if (td.textContent !== '1') { done(); } \
               else { setTimeout(wait, 10); } })();",
            vec![],
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let answer = client
        .execute_async(SCRIPT, vec![spec(1_500)])
        .await
        .unwrap();
    assert_eq!(answer["quiet"], false, "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(1_500));
    // The list still again, and a request that never ends: busy, until it counts as long.
    client
        .execute("clearInterval(window.restless); fetch('/never');", vec![])
        .await
        .unwrap();
    let answer = client
        .execute_async(SCRIPT, vec![spec(1_000)])
        .await
        .unwrap();
    assert_eq!(answer["quiet"], false, "{answer}");
    assert_eq!(answer["pending"], 1, "{answer}");
    let mut short = spec(10_000);
    short["longMs"] = serde_json::json!(800);
    let answer = client.execute_async(SCRIPT, vec![short]).await.unwrap();
    assert_eq!(answer["quiet"], true, "{answer}");
    browser.close().await;
}
