//! Issue 22 through the whole worker: on a hash-routed console whose start page shows the login
//! form to a signed-in user, with the shipped selectors files unedited, the first pass finds the
//! way to the Recordings list and stores every call; the way is kept in `console_ways`, and the
//! next pass (another process, as another replica would be) starts with it and logs in once.
//! A way that stops working is dropped and found again.

mod support;

use support::console::{ConsoleConfig, DeepLinks, Skin};
use support::scenario::Scenario;

async fn kept_way(s: &Scenario, tenant: i64) -> Option<(String, String, bool)> {
    sqlx::query_as(
        "SELECT address, came_by, login_at_start FROM console_ways WHERE tenant_id = $1::int",
    )
    .bind(tenant)
    .fetch_optional(s.pool())
    .await
    .unwrap()
}

async fn stored(s: &Scenario, tenant: i64) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM cdr_records WHERE tenant_id = $1::int AND recording_downloaded",
    )
    .bind(tenant)
    .fetch_one(s.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn the_way_found_on_a_hash_routed_console_is_kept_and_followed_by_the_next_pass() {
    let s = Scenario::new().await;
    let mut config = ConsoleConfig::for_skin(Skin::Ucm63xx);
    config.quirks.deep_links = DeepLinks::HashRouting;
    config.quirks.start_shows_login = true;
    config.page_size = 3;
    let (console, recordings) = s.console_with(config, "Right-pass1", 6, |_| {}).await;
    let tenant = s.tenant("Hash Routed", &console, "Right-pass1").await;
    s.calls(tenant, &recordings[..4]).await;

    let first = s.once().await;
    assert!(first.ok, "{}", first.stderr);
    assert_eq!(stored(&s, tenant).await, 4, "{}", first.stderr);
    let logins = console.events().logins_ok;
    assert!(logins <= 3, "{logins} logins\n{}", first.stderr);
    let way = kept_way(&s, tenant).await;
    assert_eq!(
        way,
        Some((
            "/#/cdr/recordingFile".to_string(),
            "start_page_menu".to_string(),
            true
        )),
        "{}",
        first.stderr
    );

    // The next pass follows the way: one login, no search.
    s.calls(tenant, &recordings[4..]).await;
    let second = s.once().await;
    assert!(second.ok, "{}", second.stderr);
    assert_eq!(stored(&s, tenant).await, 6, "{}", second.stderr);
    assert_eq!(console.events().logins_ok - logins, 1, "{}", second.stderr);
    assert!(
        !second.stderr.contains("Found the way"),
        "the kept way is followed, not searched for again\n{}",
        second.stderr
    );
    s.assert_no_secrets();
}

#[tokio::test]
async fn a_kept_way_that_stops_working_is_dropped_and_found_again() {
    let s = Scenario::new().await;
    let (console, recordings) = s.console("Right-pass1", 3).await;
    let tenant = s.tenant("Moved List", &console, "Right-pass1").await;
    s.calls(tenant, &recordings).await;
    // A way kept from before a firmware update: an address that no longer shows the list.
    sqlx::query(
        "INSERT INTO console_ways (tenant_id, address, came_by) VALUES ($1::int, '/gone', 'route')",
    )
    .bind(tenant)
    .execute(s.pool())
    .await
    .unwrap();

    let run = s.once().await;
    assert!(run.ok, "{}", run.stderr);
    assert_eq!(stored(&s, tenant).await, 3, "{}", run.stderr);
    assert_eq!(
        run.stderr
            .matches("The remembered way to the Recordings list no longer works")
            .count(),
        1,
        "{}",
        run.stderr
    );
    assert_eq!(
        kept_way(&s, tenant).await,
        Some(("/cdr/recordingFile".to_string(), "route".to_string(), false))
    );
    assert_eq!(console.events().logins_ok, 1, "{}", run.stderr);
}

#[tokio::test]
async fn a_session_that_expires_mid_paging_logs_in_again_and_stores_every_call() {
    for skin in [Skin::Ucm63xx, Skin::Ucm62xx] {
        let s = Scenario::new().await;
        let mut config = ConsoleConfig::for_skin(skin);
        config.page_size = 3;
        config.quirks.expire_at_page = Some(2);
        let (console, recordings) = s.console_with(config, "Right-pass1", 7, |_| {}).await;
        let tenant = s
            .tenant("Expires Mid-Paging", &console, "Right-pass1")
            .await;
        s.calls(tenant, &recordings).await;

        let run = s.once().await;
        assert!(run.ok, "{skin:?}\n{}", run.stderr);
        assert_eq!(stored(&s, tenant).await, 7, "{skin:?}\n{}", run.stderr);
        // The login form the page turn showed costs one login, not the pass.
        assert_eq!(console.events().logins_ok, 2, "{skin:?}\n{}", run.stderr);
        assert!(
            run.stderr
                .contains("answered the login form on a page turn"),
            "{skin:?}\n{}",
            run.stderr
        );
    }
}
