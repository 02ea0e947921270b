//! The HTTPS API client (src/ucm_api) against the API stand-in (tests/support/ucm_api.rs), across
//! its switches: login, paging, groups, `recordfiles`, `recapi` bytes against errors, a cookie's
//! expiry, pacing, lockout, the API off or refusing.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::console::tone_wav;
use support::ucm_api::{ApiCdr, ApiStandIn, CdrEntry, ServedApi, COOKIE_LIFE};
use ucm_scraper::failure::{Failure, NextStep};
use ucm_scraper::ids::TenantId;
use ucm_scraper::secrets::Secret;
use ucm_scraper::ucm_api::{
    ApiClient, ApiError, ApiErrorKind, ApiTarget, CdrPart, CdrQuery, FileDir, Pacing, Road,
};

const USER: &str = "cdrapi";
const PASSWORD: &str = "s3cret-api";

fn client(api: &ServedApi, password: &str, pacing: Pacing) -> ApiClient {
    client_trusting(api, password, pacing, false)
}

fn client_trusting(
    api: &ServedApi,
    password: &str,
    pacing: Pacing,
    accept_invalid_certs: bool,
) -> ApiClient {
    let target = ApiTarget {
        tenant_id: TenantId(42),
        tenant_name: "Acme".into(),
        base_url: api.url.parse().unwrap(),
        user: USER.into(),
        password: Secret::new(password.into()),
        accept_invalid_certs,
    };
    ApiClient::new(target, pacing).unwrap()
}

/// Short pauses, so a test of pacing does not wait the guide's 15 s.
fn quick_pacing() -> Pacing {
    Pacing {
        too_frequent: Duration::from_millis(300),
        retry_later: Duration::from_millis(300),
        max_pauses: 2,
        request_timeout: Duration::from_secs(60),
    }
}

fn query(page_size: u32) -> CdrQuery {
    CdrQuery {
        page_size,
        ..CdrQuery::default()
    }
}

/// Five `cdr_root` entries, one of them a queue group with two legs, one with two files.
fn calls(api: &ApiStandIn) {
    for n in 1..=3 {
        let file = format!("2026-02/auto-177000000{n}-1000-100{n}.wav");
        api.add_call(CdrEntry::Single(
            ApiCdr::new(
                n,
                "1000",
                &format!("100{n}"),
                &format!("2026-02-03 10:0{n}:00"),
            )
            .with_files(&[&file]),
        ));
    }
    api.add_call(CdrEntry::Group {
        main: ApiCdr::new(4, "5551234", "6500", "2026-02-03 11:00:00"),
        subs: vec![
            ApiCdr::new(5, "5551234", "1001", "2026-02-03 11:00:05")
                .with_files(&["2026-02/q-1770000005-1001.wav"]),
            ApiCdr::new(6, "5551234", "1002", "2026-02-03 11:01:00").with_files(&[
                "2026-02/q-1770000006-1002.wav",
                "2026-02/q-1770000007-1002.wav",
            ]),
        ],
    });
    api.add_call(CdrEntry::Single(ApiCdr::new(
        7,
        "1003",
        "1000",
        "2026-02-03 12:00:00",
    )));
}

fn expect_error<T: std::fmt::Debug>(result: Result<T, ApiError>) -> ApiError {
    result.expect_err("the API step should have failed")
}

#[tokio::test]
async fn logs_in_once_and_pages_until_a_short_page_with_groups_flattened() {
    let api = ApiStandIn::new(USER, PASSWORD);
    calls(&api);
    let served = api.serve(false).await;
    let mut client = client(&served, PASSWORD, Pacing::default());

    let records = client.cdrs(&query(2)).await.unwrap();

    // 5 root entries in pages of 2: 2 + 2 + 1 (short: the end).
    assert_eq!(api.events().count("cdrapi"), 3);
    assert_eq!(api.events().logins, 1);
    let ids: Vec<_> = records.iter().map(|r| r.acct_id.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5", "6", "7"]);
    assert_eq!(records[3].part, CdrPart::Main);
    assert_eq!(records[5].part, CdrPart::Sub(2));
    assert_eq!(records[5].group, "4");
    assert_eq!(records[0].recordfiles, ["auto-1770000001-1000-1001.wav"]);
    assert_eq!(
        records[5].recordfiles,
        ["q-1770000006-1002.wav", "q-1770000007-1002.wav"]
    );
    assert!(records[6].recordfiles.is_empty());

    // A window: only the group's time.
    let window = CdrQuery {
        start: chrono::NaiveDateTime::parse_from_str("2026-02-03 10:30:00", "%Y-%m-%d %H:%M:%S")
            .ok(),
        end: chrono::NaiveDateTime::parse_from_str("2026-02-03 11:30:00", "%Y-%m-%d %H:%M:%S").ok(),
        ..CdrQuery::default()
    };
    let grouped = client.cdrs(&window).await.unwrap();
    assert_eq!(grouped.len(), 3, "{grouped:?}");

    client.logout().await.unwrap();
    assert_eq!(api.events().count("logout"), 1);
    assert_eq!(api.events().logins, 1);
}

#[tokio::test]
async fn recordings_come_as_bytes_and_errors_are_told_apart_by_their_bytes() {
    let api = ApiStandIn::new(USER, PASSWORD);
    calls(&api);
    let wav = tone_wav(0.5);
    api.add_file("queue", "q-1770000006-1002.wav", wav.clone());
    api.add_file("queue", "q-1770000007-1002.wav", wav.clone());
    let served = api.serve(false).await;
    let mut client = client(&served, PASSWORD, Pacing::default());

    // Several files per call, by AcctId.
    let files = client.record_files("6").await.unwrap();
    assert_eq!(files, ["q-1770000006-1002.wav", "q-1770000007-1002.wav"]);
    for file in &files {
        let bytes = client.recording(FileDir::Queue, file).await.unwrap();
        assert_eq!(&bytes[..], &wav[..]);
    }

    // A missing file: -16, evidence that waits out the grace; never charged.
    let missing = expect_error(client.recording(FileDir::Monitor, "auto-0-1-2.wav").await);
    assert!(
        matches!(missing.kind, ApiErrorKind::NoSuchItem),
        "{missing}"
    );
    assert_eq!(missing.next_step(), NextStep::NotListed);
    assert!(missing
        .to_string()
        .contains("recapi monitor/auto-0-1-2.wav"));

    // The older REC API's plain answer.
    api.switch(|s| s.missing_as_plain_404 = true);
    let plain = expect_error(client.recording(FileDir::Monitor, "auto-0-1-2.wav").await);
    assert!(matches!(plain.kind, ApiErrorKind::FileNotFound), "{plain}");

    // A GDMS/NAS file is never asked for.
    let before = api.events().count("recapi");
    let venc = expect_error(
        client
            .recording(FileDir::Monitor, "auto-1-2015-2002.venc")
            .await,
    );
    assert!(matches!(venc.kind, ApiErrorKind::VencOutOfScope), "{venc}");
    assert_eq!(venc.road(), Road::BrowserForCall);
    assert_eq!(api.events().count("recapi"), before);

    // recapi refusing everything closes the road for the tenant.
    api.switch(|s| s.recapi_refuses = Some(-47));
    let refused = expect_error(client.recording(FileDir::Queue, &files[0]).await);
    assert!(matches!(
        refused.kind,
        ApiErrorKind::NoPermission { status: -47 }
    ));
    assert_eq!(refused.road(), Road::BrowserForTenant);
    assert_eq!(refused.next_step(), NextStep::StopTenantUncharged);
    assert_eq!(api.events().served_files.len(), 2);
}

#[tokio::test]
async fn an_expired_cookie_costs_one_login_again() {
    // The guide does not say whether the 10 minutes run from the login or from the last use.
    for from_login in [false, true] {
        let api = ApiStandIn::new(USER, PASSWORD);
        calls(&api);
        api.switch(|s| s.cookie_from_login = from_login);
        let served = api.serve(false).await;
        let mut client = client(&served, PASSWORD, Pacing::default());
        client.cdr_page(&query(10), 0).await.unwrap();
        for _ in 0..2 {
            api.advance(COOKIE_LIFE / 2 + Duration::from_secs(60));
            let page = client.cdr_page(&query(10), 0).await.unwrap();
            assert_eq!(page.root_entries, 5);
        }
        let busy_session_logins = if from_login { 2 } else { 1 };
        assert_eq!(
            api.events().logins,
            busy_session_logins,
            "from login: {from_login}"
        );

        api.advance(COOKIE_LIFE + Duration::from_secs(60));
        client.cdr_page(&query(10), 0).await.unwrap();

        let events = api.events();
        assert_eq!(events.logins, busy_session_logins + 1);
        assert_eq!(events.expired_cookies, busy_session_logins);
        // Each refused request was sent again once.
        assert_eq!(events.count("cdrapi"), 4 + events.expired_cookies);
    }
}

#[tokio::test]
async fn too_frequent_is_paced_and_the_pauses_are_bounded() {
    let api = ApiStandIn::new(USER, PASSWORD);
    calls(&api);
    // The client's pause (300 ms) is longer than the gap the stand-in wants: one -45, then served.
    api.switch(|s| s.min_gap = Some(Duration::from_millis(200)));
    let served = api.serve(false).await;
    let mut client = client(&served, PASSWORD, quick_pacing());
    client.cdr_page(&query(10), 0).await.unwrap();
    client.cdr_page(&query(10), 0).await.unwrap();
    assert_eq!(api.events().busy_answers, 1);
    assert_eq!(api.events().count("cdrapi"), 3);

    // "Retry after 60 seconds" (-57) is paced the same way, with its own pause.
    api.switch(|s| {
        s.min_gap = None;
        s.busy_next = 1;
        s.busy_status = -57;
    });
    client.cdr_page(&query(10), 0).await.unwrap();
    assert_eq!(api.events().busy_answers, 2);

    // Busy beyond the bound: given up for this pass, with the guide's pause to come back after.
    api.switch(|s| {
        s.busy_next = 10;
        s.busy_status = -45;
    });
    let busy = expect_error(client.cdr_page(&query(10), 0).await);
    assert!(
        matches!(
            busy.kind,
            ApiErrorKind::Busy {
                status: -45,
                waits: 2,
                ..
            }
        ),
        "{busy}"
    );
    assert_eq!(busy.next_step(), NextStep::StopTenant);
    assert_eq!(busy.retry_after(), Some(Duration::from_secs(15)));
    assert_eq!(api.events().busy_answers, 2 + 3);
}

#[tokio::test]
async fn a_wrong_password_costs_one_bad_login() {
    let api = ApiStandIn::new(USER, PASSWORD);
    let served = api.serve(false).await;
    let mut client = client(&served, "Wr0ng-Pa55", Pacing::default());

    let refused = expect_error(client.cdrs(&query(10)).await);
    assert!(
        matches!(
            refused.kind,
            ApiErrorKind::LoginRefused {
                status: -37,
                remain_num: Some(4)
            }
        ),
        "{refused}"
    );
    assert_eq!(refused.road(), Road::BrowserForTenant);
    let text = refused.to_string();
    assert!(
        !text.contains("Wr0ng-Pa55"),
        "the password is never printed: {text}"
    );
    for part in ["Acme", "ID: 42", "127.0.0.1", "login"] {
        assert!(text.contains(part), "{text}");
    }

    let again = expect_error(client.cdrs(&query(10)).await);
    assert!(
        matches!(again.kind, ApiErrorKind::NotLoggedIn { .. }),
        "{again}"
    );
    assert_eq!(api.events().bad_logins, 1);
    assert_eq!(api.events().count("login"), 1);
}

#[tokio::test]
async fn a_lockout_costs_at_most_one_bad_login_per_block_period() {
    let api = ApiStandIn::new(USER, PASSWORD);
    let served = api.serve(false).await;
    // Four bad logins from earlier passes (one each, as the client allows).
    for _ in 0..4 {
        let mut earlier = client(&served, "wrong", Pacing::default());
        expect_error(earlier.login().await);
    }
    let mut client = client(&served, "wrong", Pacing::default());

    let blocked = expect_error(client.login().await);
    assert!(
        matches!(blocked.kind, ApiErrorKind::LoginBlocked { status: -68, .. }),
        "{blocked}"
    );
    assert_eq!(blocked.next_step(), NextStep::BlockTenant);
    assert_eq!(blocked.retry_after(), Some(Duration::from_secs(300)));

    // Within the period nothing is sent: the block is the client's, not a new bad login.
    let held = expect_error(client.cdrs(&query(10)).await);
    assert!(
        matches!(held.kind, ApiErrorKind::LoginBlocked { .. }),
        "{held}"
    );
    let events = api.events();
    assert_eq!((events.bad_logins, events.count("login")), (5, 5));

    // The blacklist is the console's: even the right password is refused until it ends.
    let mut right = client_with(&served, PASSWORD);
    let still = expect_error(right.login().await);
    assert!(
        matches!(still.kind, ApiErrorKind::LoginBlocked { .. }),
        "{still}"
    );
    assert_eq!(api.events().blocked_logins, 1);
    api.advance(Duration::from_secs(301));
    let mut after = client_with(&served, PASSWORD);
    after.login().await.unwrap();
}

fn client_with(api: &ServedApi, password: &str) -> ApiClient {
    client(api, password, Pacing::default())
}

#[tokio::test]
async fn the_api_off_or_refused_closes_the_road_with_a_clear_answer() {
    let api = ApiStandIn::new(USER, PASSWORD);
    let served = api.serve(false).await;

    api.switch(|s| s.served = false);
    let off = expect_error(client_with(&served, PASSWORD).login().await);
    assert!(
        matches!(off.kind, ApiErrorKind::NotServed { http_status: 405 }),
        "{off}"
    );
    assert!(
        off.to_string().contains("does not serve the HTTPS API"),
        "{off}"
    );
    assert_eq!(
        (off.road(), off.next_step()),
        (Road::BrowserForTenant, NextStep::StopTenantUncharged)
    );

    api.switch(|s| {
        s.served = true;
        s.permission_denied = true;
    });
    let denied = expect_error(client_with(&served, PASSWORD).login().await);
    assert!(
        matches!(denied.kind, ApiErrorKind::NoPermission { status: -47 }),
        "{denied}"
    );
    assert_eq!(denied.road(), Road::BrowserForTenant);
}

#[tokio::test]
async fn a_self_signed_certificate_is_trusted_only_when_configured() {
    let api = ApiStandIn::new(USER, PASSWORD);
    let served = api.serve(true).await;

    let strict = expect_error(
        client_trusting(&served, PASSWORD, Pacing::default(), false)
            .login()
            .await,
    );
    assert!(
        matches!(strict.kind, ApiErrorKind::Unreachable { .. }),
        "{strict}"
    );
    assert_eq!(strict.next_step(), NextStep::StopTenant);
    assert_eq!(api.events().count("challenge"), 0);

    let mut trusting = client_trusting(&served, PASSWORD, Pacing::default(), true);
    trusting.login().await.unwrap();
    assert_eq!(api.events().logins, 1);
}

#[tokio::test]
async fn the_wrapper_is_required_and_the_console_clock_keeps_its_offset() {
    let api = ApiStandIn::new(USER, PASSWORD);
    api.switch(|s| s.utc_offset_minutes = -180);
    let served = api.serve(false).await;
    let bare = post_raw(
        &served,
        json!({ "action": "challenge", "user": USER, "version": "1.0" }),
    )
    .await;
    assert_eq!(bare["status"], -1);
    let no_cookie = post_raw(
        &served,
        json!({ "request": { "action": "cdrapi", "format": "json" } }),
    )
    .await;
    assert_eq!(no_cookie["status"], -6);

    let mut client = client_with(&served, PASSWORD);
    let clock = client.console_clock().await.unwrap();
    assert_eq!(clock.offset().local_minus_utc(), -3 * 3600);
}

/// One `POST /api` with this body as it stands, its answer read as JSON.
async fn post_raw(api: &ServedApi, body: Value) -> Value {
    let answer = reqwest::Client::new()
        .post(format!("{}api", api.url))
        .json(&body)
        .send()
        .await
        .expect("POST /api");
    answer.json().await.expect("a JSON answer")
}
