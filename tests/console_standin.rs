//! The console stand-in driven the way the worker drives a real console: real Chromium through
//! chromedriver. These tests pin the stand-in's documented behaviour (support/console/README.md).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::Locator;
use support::browser::{self, Browser, BrowserOptions, Chromedriver};
use support::console::{tone_wav, ConsoleConfig, FakeConsole, Recording, Skin};

const WAIT: Duration = Duration::from_secs(15);

/// `n` recordings a minute apart; the first is the newest.
fn recordings(n: usize) -> Vec<Recording> {
    let wav = Arc::new(tone_wav(1.0));
    (0..n)
        .map(|i| {
            Recording::new(
                &format!("{}", 1000 + i),
                &format!("28150582{:02}", i),
                1_770_395_696 - 60 * i as i64,
                wav.clone(),
            )
        })
        .collect()
}

async fn start(config: ConsoleConfig) -> FakeConsole {
    FakeConsole::start(config).await
}

/// What most tests here begin with: a console of `skin` holding `n` [`recordings`], its
/// settings then changed by `change`, and a browser of the test's own.
struct StandIn {
    all: Vec<Recording>,
    console: FakeConsole,
    b: Browser,
}

async fn standin(skin: Skin, n: usize, change: impl FnOnce(&mut ConsoleConfig)) -> StandIn {
    let all = recordings(n);
    let mut config = ConsoleConfig::for_skin(skin);
    config.recordings = all.clone();
    change(&mut config);
    let console = start(config).await;
    let b = browser::browser().await;
    StandIn { all, console, b }
}

async fn wait_css(b: &Browser, css: &str) -> Element {
    b.client
        .wait()
        .at_most(WAIT)
        .every(Duration::from_millis(50))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("waiting for {css}: {e}"))
}

/// Waits until an element matching `css` shows text containing `needle`; returns that text.
async fn wait_text(b: &Browser, css: &str, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(found) = b.client.find_all(Locator::Css(css)).await {
            for el in found {
                if let Ok(text) = el.text().await {
                    if text.contains(needle) {
                        return text;
                    }
                }
            }
        }
        if Instant::now() > deadline {
            let source = b.client.source().await.unwrap_or_default();
            panic!(
                "no {css} with text {needle:?}; page: {}",
                &source[..source.len().min(3000)]
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clicks, retrying while an animation or overlay intercepts the click.
async fn click_when_ready(b: &Browser, css: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let result = match b.client.find(Locator::Css(css)).await {
            Ok(el) => el.click().await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => return,
            Err(e) if Instant::now() > deadline => panic!("clicking {css}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Clicks the download control `css` and checks that `target`'s file lands, byte for byte.
async fn download_and_check(b: &Browser, css: &str, target: &Recording) {
    click_when_ready(b, css).await;
    let path = b
        .wait_for_download(target.download_name(), WAIT)
        .await
        .unwrap();
    assert_eq!(std::fs::read(path).unwrap(), *target.wav);
}

async fn row_keys(b: &Browser, css: &str, attr: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for row in b.client.find_all(Locator::Css(css)).await.unwrap() {
        keys.push(row.attr(attr).await.unwrap().unwrap_or_default());
    }
    keys
}

/// Skin 1's login form, filled and submitted.
async fn submit_login_63(b: &Browser, console: &FakeConsole, user: &str, pass: &str) {
    b.client.goto(&console.url).await.unwrap();
    wait_css(b, "input#username")
        .await
        .send_keys(user)
        .await
        .unwrap();
    b.client
        .find(Locator::Css("input#password.login-input"))
        .await
        .unwrap()
        .send_keys(pass)
        .await
        .unwrap();
    b.client
        .find(Locator::Css("button[type=submit].login-btn"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn login_63(b: &Browser, console: &FakeConsole) {
    let config = ConsoleConfig::default();
    submit_login_63(b, console, &config.username, &config.password).await;
    wait_css(b, "span.prog-version").await;
}

/// Waits for skin 1's table to show rows that are not being reloaded.
async fn wait_rows_63(b: &Browser) -> Vec<String> {
    wait_css(
        b,
        ".ant-table-wrapper .ant-spin-container:not(.ant-spin-blur)",
    )
    .await;
    row_keys(b, "tr[data-row-key]", "data-row-key").await
}

#[tokio::test]
async fn starts_in_well_under_a_second_with_nothing_in_the_first_html() {
    for tls in [false, true] {
        let began = Instant::now();
        let console = start(ConsoleConfig {
            tls,
            ..Default::default()
        })
        .await;
        let took = began.elapsed();
        assert!(
            took < Duration::from_millis(500),
            "tls={tls}: took {took:?}"
        );
        eprintln!("console (tls={tls}) started in {took:?} at {}", console.url);
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        let shell = client
            .get(console.route("/cdr/recordingFile"))
            .send()
            .await
            .unwrap();
        assert_eq!(shell.status(), 200);
        let body = shell.text().await.unwrap();
        assert!(body.contains("<div id=\"root\"></div>"), "{body}");
        assert!(!body.contains("username") && !body.contains("data-row-key"));
    }
}

#[tokio::test]
async fn login_shows_the_dashboard_with_the_firmware() {
    let StandIn { console, b, .. } = standin(Skin::Ucm63xx, 0, |_| {}).await;
    login_63(&b, &console).await;
    let firmware = wait_css(&b, "span.prog-version")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(firmware, "1.0.27.10");
    assert_eq!(
        b.client.current_url().await.unwrap().path(),
        "/system-status/dashboard"
    );
    let events = console.events();
    assert_eq!(
        (events.challenges, events.logins_tried, events.logins_ok),
        (1, 1, 1)
    );
    assert_eq!(events.sessions_active, 1);

    // Logout ends the session and shows the login form again.
    click_when_ready(&b, "a.logout-link").await;
    wait_css(&b, "input#username").await;
    assert_eq!(console.events().logouts, 1);
    assert_eq!(console.events().sessions_active, 0);
    b.close().await;
}

#[tokio::test]
async fn wrong_password_is_refused_with_attempts_left() {
    let StandIn { console, b, .. } = standin(Skin::Ucm63xx, 0, |_| {}).await;
    submit_login_63(&b, &console, "admin", "not-the-password").await;
    let text = wait_text(
        &b,
        ".ant-message-error span",
        "Incorrect username or password",
    )
    .await;
    assert!(text.contains("4 attempt(s) left"), "{text}");
    assert!(b
        .client
        .find(Locator::Css("span.prog-version"))
        .await
        .is_err());
    let events = console.events();
    assert_eq!((events.logins_failed, events.logins_ok), (1, 0));
    b.close().await;
}

#[tokio::test]
async fn lockout_after_repeated_failures_refuses_even_the_right_password() {
    let StandIn { console, b, .. } = standin(Skin::Ucm63xx, 0, |c| {
        c.lockout_threshold = 3;
        c.lockout_duration = Duration::from_secs(120);
    })
    .await;
    for left in [2, 1] {
        submit_login_63(&b, &console, "admin", "wrong").await;
        wait_text(
            &b,
            ".ant-message-error span",
            &format!("{left} attempt(s) left"),
        )
        .await;
    }
    submit_login_63(&b, &console, "admin", "wrong").await;
    wait_text(&b, ".ant-message-error span", "has been locked").await;
    let good = ConsoleConfig::default().password;
    submit_login_63(&b, &console, "admin", &good).await;
    let text = wait_text(&b, ".ant-message-error span", "Please try again in").await;
    assert!(text.contains("Too many failed login attempts"), "{text}");
    let events = console.events();
    assert_eq!(events.logins_failed, 3);
    assert_eq!(events.logins_ok, 0);
    assert!(events.logins_refused >= 1);

    console.clear_lockouts();
    submit_login_63(&b, &console, "admin", &good).await;
    wait_css(&b, "span.prog-version").await;
    b.close().await;
}

#[tokio::test]
async fn menu_leads_to_recordings_newest_first_and_pages_through_them() {
    let StandIn { all, console, b } = standin(Skin::Ucm63xx, 23, |c| {
        c.timezone = chrono_tz::America::New_York;
    })
    .await;
    login_63(&b, &console).await;

    // CDR expands (animated) to Recordings.
    click_when_ready(
        &b,
        "li.ant-menu-submenu[data-menu-key=cdr] > .ant-menu-submenu-title",
    )
    .await;
    click_when_ready(
        &b,
        "li.ant-menu-item[role=menuitem][data-path='/cdr/recordingFile']",
    )
    .await;
    let page1 = wait_rows_63(&b).await;
    assert_eq!(
        b.client.current_url().await.unwrap().path(),
        "/cdr/recordingFile"
    );
    let expected: Vec<String> = all.iter().map(|r| r.file.clone()).collect();
    assert_eq!(page1, expected[..10]);

    // Cells: checkbox | Caller | Callee | Call Time | Size | Play | Options; time in the zone.
    let first = b
        .client
        .find(Locator::Css(&format!("tr[data-row-key='{}']", all[0].file)))
        .await
        .unwrap();
    let cells = first.find_all(Locator::Css("td")).await.unwrap();
    assert_eq!(cells.len(), 7);
    assert_eq!(cells[1].text().await.unwrap(), all[0].caller);
    assert_eq!(cells[2].text().await.unwrap(), all[0].callee);
    // 1770395696 = 2026-02-06 16:34:56 UTC = 11:34:56 in New York (EST).
    assert_eq!(cells[3].text().await.unwrap(), "2026-02-06 11:34:56");
    assert!(cells[6]
        .find(Locator::Css("span.sprite-download"))
        .await
        .is_ok());

    // Next page: new rows, and the old elements are gone (stale).
    click_when_ready(&b, "li.ant-pagination-next:not(.ant-pagination-disabled)").await;
    let page2 = rows_until(&b, Skin::Ucm63xx, "page 2", |keys| {
        keys.first() == Some(&expected[10])
    })
    .await;
    assert_eq!(page2, expected[10..20]);
    assert!(
        first.text().await.is_err(),
        "a row from page 1 must be stale"
    );

    click_when_ready(&b, "li.ant-pagination-item-3").await;
    rows_until(&b, Skin::Ucm63xx, "page 3", |keys| keys == &expected[20..]).await;
    wait_css(&b, "li.ant-pagination-next.ant-pagination-disabled").await;
    assert_eq!(console.events().pages_listed, 3);

    // Loading the route directly works while the session lives.
    b.client
        .goto(&console.route("/cdr/recordingFile"))
        .await
        .unwrap();
    let again = rows_until(&b, Skin::Ucm63xx, "rows", |keys| !keys.is_empty()).await;
    assert_eq!(again, expected[..10]);
    b.close().await;
}

/// Logs in and opens the Recordings page by its route; returns when rows are shown.
async fn open_recordings_63(b: &Browser, console: &FakeConsole) {
    login_63(b, console).await;
    b.client
        .goto(&console.route("/cdr/recordingFile"))
        .await
        .unwrap();
    rows_until(b, Skin::Ucm63xx, "rows", |keys| !keys.is_empty()).await;
}

#[tokio::test]
async fn download_lands_in_the_directory_with_the_ucm_name_and_bytes() {
    let StandIn { all, console, b } = standin(Skin::Ucm63xx, 3, |c| {
        c.download_delay = Duration::from_millis(600);
    })
    .await;
    open_recordings_63(&b, &console).await;
    let target = &all[1];
    let icon = format!("tr[data-row-key='{}'] span.sprite-download", target.file);
    download_and_check(&b, &icon, target).await;
    assert_eq!(b.download_names(), vec![target.download_name().to_string()]);
    let events = console.events();
    assert_eq!(events.files_checked, 1);
    assert_eq!(events.downloads_served, 1);
    assert_eq!(events.served_files, vec![target.file.clone()]);
    // The page stays on the list after an attachment.
    wait_css(&b, "tr[data-row-key]").await;
    b.close().await;
}

#[tokio::test]
async fn a_download_too_soon_after_the_previous_gets_the_429_page_and_no_file() {
    let StandIn { all, console, b } = standin(Skin::Ucm63xx, 3, |c| {
        c.download_gap = Duration::from_secs(60);
    })
    .await;
    open_recordings_63(&b, &console).await;
    let first = format!("tr[data-row-key='{}'] span.sprite-download", all[0].file);
    click_when_ready(&b, &first).await;
    b.wait_for_download(all[0].download_name(), WAIT)
        .await
        .unwrap();
    let second = format!("tr[data-row-key='{}'] span.sprite-download", all[1].file);
    click_when_ready(&b, &second).await;
    let text = wait_text(&b, "p.error-message", "Operating too frequently").await;
    assert!(text.contains("retry after"), "{text}");
    assert_eq!(b.download_names(), vec![all[0].download_name().to_string()]);
    let events = console.events();
    assert_eq!(
        (events.downloads_served, events.downloads_rate_limited),
        (1, 1)
    );
    b.close().await;
}

#[tokio::test]
async fn an_expired_session_gets_the_login_page_instead_of_the_wav() {
    let StandIn { all, console, b } = standin(Skin::Ucm63xx, 2, |_| {}).await;
    open_recordings_63(&b, &console).await;
    let cookie = b.client.get_named_cookie("session-identify").await.unwrap();
    console.expire_sessions();

    // The download URL itself: the login page, 200, text/html, no file.
    let url = format!(
        "{}/cgi?action=downloadFile&type=voice_recording&data={}",
        console.url,
        all[0].file.replace('/', "%2F")
    );
    b.client.goto(&url).await.unwrap();
    wait_css(&b, "input#username").await;
    assert!(b.download_names().is_empty());
    let answer = reqwest::Client::new()
        .get(&url)
        .header("cookie", format!("session-identify={}", cookie.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(answer.headers().get("content-disposition").is_none());
    assert!(answer
        .text()
        .await
        .unwrap()
        .contains("<div id=\"root\"></div>"));

    // The route itself falls back to the login form too.
    b.client
        .goto(&console.route("/cdr/recordingFile"))
        .await
        .unwrap();
    wait_css(&b, "input#username").await;
    assert_eq!(b.client.current_url().await.unwrap().path(), "/");
    let events = console.events();
    assert_eq!(events.downloads_served, 0);
    assert_eq!(events.downloads_without_session, 2);
    b.close().await;
}

#[tokio::test]
async fn https_with_a_self_signed_certificate() {
    let console = start(ConsoleConfig {
        tls: true,
        ..Default::default()
    })
    .await;
    assert!(console.url.starts_with("https://"));
    let b = Browser::open(
        Chromedriver::shared(),
        BrowserOptions {
            accept_insecure_certs: true,
            ..Default::default()
        },
    )
    .await;
    login_63(&b, &console).await;
    b.close().await;

    // Without acceptInsecureCerts the certificate is refused: no login form.
    let strict = browser::browser().await;
    let refused = match strict.client.goto(&console.url).await {
        Err(e) => e.to_string().contains("CERT"),
        Ok(()) => {
            let source = strict.client.source().await.unwrap();
            !source.contains("id=\"root\"") || source.contains("ERR_CERT")
        }
    };
    assert!(
        refused,
        "the self-signed certificate must not be trusted by default"
    );
    strict.close().await;
}

#[tokio::test]
async fn captcha_on_the_login_page_refuses_the_login() {
    let StandIn { console, b, .. } = standin(Skin::Ucm63xx, 0, |c| c.captcha = true).await;
    let good = ConsoleConfig::default().password;
    submit_login_63(&b, &console, "admin", &good).await;
    wait_css(&b, ".g-recaptcha[data-sitekey]").await;
    wait_css(&b, "iframe[src*=recaptcha]").await;
    wait_text(&b, ".ant-message-error span", "reCAPTCHA").await;
    let events = console.events();
    assert_eq!((events.logins_ok, events.logins_refused), (0, 1));
    b.close().await;
}

#[tokio::test]
async fn a_closed_session_leaves_no_browser_behind() {
    let driver = Chromedriver::shared();
    let b = browser::browser().await;
    let profile = b.profile().to_path_buf();
    let id = b.client.session_id().await.unwrap().unwrap();
    assert!(driver.session_ids().contains(&id));
    assert!(browser::browser_alive(&profile));
    assert!(driver.live_browsers() >= 1);
    b.close().await;
    assert!(!driver.session_ids().contains(&id));
    eventually(WAIT, "Chromium ends with its session", || {
        let alive = browser::browser_alive(&profile);
        async move { !alive }
    })
    .await;

    // A test that panics before `close()` drops its browser: the harness kills that Chromium.
    let b = browser::browser().await;
    let profile = b.profile().to_path_buf();
    drop(b);
    eventually(WAIT, "a dropped browser's Chromium is killed", || {
        let alive = browser::browser_alive(&profile);
        async move { !alive }
    })
    .await;
}

/// Waits, up to [`WAIT`], until the list of `skin` shows rows for which `wanted` holds;
/// their keys.
async fn rows_until(
    b: &Browser,
    skin: Skin,
    what: &str,
    wanted: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let keys = match skin {
            Skin::Ucm63xx => wait_rows_63(b).await,
            Skin::Ucm62xx => wait_rows_62(b).await,
            Skin::Cards => panic!("the cards skin is driven by tests/learn.rs, not here"),
        };
        if wanted(&keys) {
            return keys;
        }
        assert!(Instant::now() < deadline, "{what} never came: {keys:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Skin 2's grid rows, once no load is running.
async fn wait_rows_62(b: &Browser) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let mask = b.client.find(Locator::Css("#loading-mask")).await.is_ok();
        if !mask
            && b.client
                .find(Locator::Css("#rec-grid .grid-foot"))
                .await
                .is_ok()
        {
            return row_keys(b, "div.grid-row[data-file]", "data-file").await;
        }
        assert!(Instant::now() < deadline, "the grid never settled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn skin_ucm62xx_has_its_own_markup_routes_columns_and_load_more() {
    let StandIn { all, console, b } = standin(Skin::Ucm62xx, 13, |c| {
        c.timezone = chrono_tz::Europe::Berlin;
    })
    .await;
    let ConsoleConfig {
        username: user,
        password: pass,
        ..
    } = ConsoleConfig::for_skin(Skin::Ucm62xx);

    // Login lives at /login with other ids; errors stay in #login-error.
    b.client.goto(&console.url).await.unwrap();
    let name = wait_css(&b, "input#user-name").await;
    assert_eq!(b.client.current_url().await.unwrap().path(), "/login");
    assert!(b.client.find(Locator::Css("input#username")).await.is_err());
    name.send_keys(&user).await.unwrap();
    let field = b
        .client
        .find(Locator::Css("input#user-password"))
        .await
        .unwrap();
    field.send_keys("wrong").await.unwrap();
    click_when_ready(&b, "input#btn-login").await;
    let text = wait_text(&b, "#login-error", "Wrong username or password").await;
    assert!(text.contains("Remaining attempts: 4"), "{text}");
    let field = b
        .client
        .find(Locator::Css("input#user-password"))
        .await
        .unwrap();
    field.clear().await.unwrap();
    field.send_keys(&pass).await.unwrap();
    click_when_ready(&b, "input#btn-login").await;
    let firmware = wait_css(&b, "td#firmware-version").await;
    assert_eq!(firmware.text().await.unwrap(), "1.0.20.52");
    assert_eq!(
        b.client.current_url().await.unwrap().path(),
        "/status/system"
    );

    // CDR slides open to "Recording Files" at /cdr/recordFiles.
    click_when_ready(&b, "li.nav-group[data-group=cdr] > a.nav-title").await;
    click_when_ready(&b, "a.nav-link[href='/cdr/recordFiles']").await;
    let first = rows_until(&b, Skin::Ucm62xx, "rows", |keys| !keys.is_empty()).await;
    assert_eq!(
        b.client.current_url().await.unwrap().path(),
        "/cdr/recordFiles"
    );
    let expected: Vec<String> = all.iter().map(|r| r.file.clone()).collect();
    assert_eq!(first, expected[..10]);
    assert!(b.client.find(Locator::Css("table")).await.is_err());

    // Columns by class, in another order; time as YYYY/MM/DD in Berlin (CET, UTC+1).
    let row = b
        .client
        .find(Locator::Css(&format!(
            "div.grid-row[data-file='{}']",
            all[0].file
        )))
        .await
        .unwrap();
    let cells = row.find_all(Locator::Css(".grid-cell")).await.unwrap();
    let mut classes = Vec::new();
    for c in &cells {
        classes.push(c.attr("class").await.unwrap().unwrap_or_default());
    }
    assert_eq!(
        classes,
        [
            "grid-cell col-check",
            "grid-cell col-time",
            "grid-cell col-callee",
            "grid-cell col-caller",
            "grid-cell col-name",
            "grid-cell col-size",
            "grid-cell col-action"
        ]
    );
    let cell = |css: &'static str| {
        let row = row.clone();
        async move {
            row.find(Locator::Css(css))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert_eq!(cell(".col-time").await, "2026/02/06 17:34:56");
    assert_eq!(cell(".col-caller").await, all[0].caller);
    assert_eq!(cell(".col-callee").await, all[0].callee);

    // "More" appends the rest and then goes away; the old rows are stale.
    click_when_ready(&b, "button#btn-more").await;
    rows_until(&b, Skin::Ucm62xx, "more rows", |keys| keys == expected).await;
    assert!(b
        .client
        .find(Locator::Css("button#btn-more"))
        .await
        .is_err());
    assert!(row.text().await.is_err(), "a redrawn row must be stale");
    assert_eq!(console.events().pages_listed, 2);

    // The download is a link.
    let target = &all[12];
    let link = format!("div.grid-row[data-file='{}'] a.download-link", target.file);
    download_and_check(&b, &link, target).await;
    assert_eq!(console.events().files_checked, 0);
    assert_eq!(console.events().downloads_served, 1);
    b.close().await;
}

#[tokio::test]
async fn cgi_protocol_statuses_sessions_and_throttling() {
    let all = recordings(2);
    let console = start(ConsoleConfig {
        recordings: all.clone(),
        download_gap: Duration::from_secs(30),
        ..Default::default()
    })
    .await;
    let good = ConsoleConfig::default().password;
    let http = reqwest::Client::new();

    let (status, response, _) = console.cgi_login(&http, "admin", "nope").await;
    assert_eq!((status, response["remain_num"].as_i64()), (-37, Some(4)));
    let (status, _, cookie) = console.cgi_login(&http, "admin", &good).await;
    assert_eq!(status, 0);
    let cookie = cookie.expect("session-identify cookie");
    assert!(cookie.starts_with("session-identify=sid"), "{cookie}");
    let (status, _, other) = console.cgi_login(&http, "admin", &good).await;
    assert_eq!(status, 0);
    let events = console.events();
    assert_eq!(
        (events.sessions_active, events.sessions_max_concurrent),
        (2, 2)
    );

    let list: serde_json::Value = http
        .post(console.route("/cgi"))
        .header("cookie", &cookie)
        .form(&[
            ("action", "listFile"),
            ("type", "voice_recording"),
            ("page", "1"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["response"]["total_item"], 2);
    assert_eq!(
        list["response"]["voice_recording"][0]["f"],
        all[0].file.as_str()
    );

    let url = |r: &Recording| {
        format!(
            "{}/cgi?action=downloadFile&type=voice_recording&data={}",
            console.url, r.file
        )
    };
    let wav = http
        .get(url(&all[0]))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(wav.status(), 200);
    assert_eq!(
        wav.headers()["content-disposition"],
        format!("attachment; filename=\"{}\"", all[0].download_name()).as_str()
    );
    assert_eq!(wav.bytes().await.unwrap().as_ref(), all[0].wav.as_slice());
    let refused = http
        .get(url(&all[1]))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    let text = refused.text().await.unwrap();
    assert!(
        text.contains(&format!(
            "Operating too frequently, please retry after {wait} seconds."
        )),
        "{text}"
    );

    let out: serde_json::Value = http
        .post(console.route("/cgi"))
        .header("cookie", other.unwrap())
        .form(&[("action", "logout")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(out["status"], 0);
    assert_eq!(console.events().sessions_active, 1);

    console.reconfigure(|c| c.blocked = true);
    let (status, _, _) = console.cgi_login(&http, "admin", &good).await;
    assert_eq!(status, -70);
    let events = console.events();
    assert_eq!(
        (
            events.logins_tried,
            events.logins_ok,
            events.logins_failed,
            events.logins_refused
        ),
        (4, 2, 1, 1)
    );
    assert_eq!(
        (events.downloads_served, events.downloads_rate_limited),
        (1, 1)
    );
}

#[tokio::test]
async fn the_overlay_intercepts_clicks_while_a_list_loads() {
    let StandIn { console, b, .. } = standin(Skin::Ucm63xx, 12, |c| c.overlay = true).await;
    login_63(&b, &console).await;
    // The list's answer is held until the click has been tried: the mask is certainly up then,
    // however slow the machine.
    console.hold_lists();
    b.client
        .goto(&console.route("/cdr/recordingFile"))
        .await
        .unwrap();
    wait_css(&b, "div.page-loading-mask").await;
    let next = wait_css(&b, "li.ant-pagination-next").await;
    assert!(next.click().await.is_err(), "the mask must take the click");
    assert!(
        b.client
            .find(Locator::Css("div.page-loading-mask"))
            .await
            .is_ok(),
        "the mask stays while the list is held"
    );
    console.release_lists();
    let keys = rows_until(&b, Skin::Ucm63xx, "rows", |keys| !keys.is_empty()).await;
    assert_eq!(keys.len(), 10);
    assert!(b
        .client
        .find(Locator::Css("div.page-loading-mask"))
        .await
        .is_err());
    // With the mask gone the same click goes through: page 2 holds the last 2 of 12.
    b.client
        .find(Locator::Css("li.ant-pagination-next"))
        .await
        .unwrap()
        .click()
        .await
        .expect("no mask, nothing takes the click");
    let page2 = rows_until(&b, Skin::Ucm63xx, "page 2", |keys| keys.len() == 2).await;
    assert!(page2.iter().all(|key| !keys.contains(key)), "{page2:?}");
    assert_eq!(console.events().pages_listed, 2);
    b.close().await;
}

/// Polls `check` every 50 ms until it holds, or panics after `within`.
async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn idle_sessions_expire_and_bans_lift_after_their_time() {
    let console = start(ConsoleConfig {
        session_ttl: Duration::from_millis(400),
        lockout_threshold: 2,
        lockout_duration: Duration::from_millis(600),
        ..Default::default()
    })
    .await;
    let good = ConsoleConfig::default().password;
    let http = reqwest::Client::new();
    let (_, _, cookie) = console.cgi_login(&http, "admin", &good).await;
    let cookie = cookie.unwrap();
    let status = |cookie: String| {
        let http = http.clone();
        let cgi = console.route("/cgi");
        async move {
            let v: serde_json::Value = http
                .post(cgi)
                .header("cookie", cookie)
                .form(&[("action", "getSystemStatus")])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["status"].as_i64().unwrap()
        }
    };
    assert_eq!(status(cookie.clone()).await, 0);
    // Asking the console would keep the session alive (an idle timeout): watch from outside.
    eventually(WAIT, "the idle session expires", || {
        let active = console.events().sessions_active;
        async move { active == 0 }
    })
    .await;
    assert_eq!(status(cookie.clone()).await, -6);

    assert_eq!(console.cgi_login(&http, "admin", "x").await.0, -37);
    assert_eq!(console.cgi_login(&http, "admin", "x").await.0, -68);
    assert_eq!(console.cgi_login(&http, "admin", &good).await.0, -68);
    eventually(WAIT, "the ban lifts", || {
        let http = http.clone();
        let good = good.clone();
        let console = &console;
        async move { console.cgi_login(&http, "admin", &good).await.0 == 0 }
    })
    .await;
}

#[tokio::test]
async fn skin_ucm62xx_failures_speak_its_own_words() {
    let StandIn { all, console, b } = standin(Skin::Ucm62xx, 3, |c| c.lockout_threshold = 2).await;
    let ConsoleConfig {
        username: user,
        password: pass,
        ..
    } = ConsoleConfig::for_skin(Skin::Ucm62xx);
    let submit = |password: String| {
        let b = &b;
        let user = user.clone();
        let url = console.url.clone();
        async move {
            b.client.goto(&url).await.unwrap();
            wait_css(b, "input#user-name")
                .await
                .send_keys(&user)
                .await
                .unwrap();
            let field = b
                .client
                .find(Locator::Css("input#user-password"))
                .await
                .unwrap();
            field.send_keys(&password).await.unwrap();
            field.send_keys("\u{E007}").await.unwrap(); // Enter
        }
    };
    submit("wrong".into()).await;
    wait_text(&b, "#login-error", "Remaining attempts: 1").await;
    submit("wrong".into()).await;
    wait_text(&b, "#login-error", "This IP is locked for").await;
    submit(pass.clone()).await;
    wait_text(&b, "#login-error", "This IP is locked for").await;
    console.clear_lockouts();

    // Logged in, on the grid, the session expires: the link brings the login form, no file.
    submit(pass.clone()).await;
    wait_css(&b, "td#firmware-version").await;
    b.client
        .goto(&console.route("/cdr/recordFiles"))
        .await
        .unwrap();
    let keys = rows_until(&b, Skin::Ucm62xx, "rows", |keys| !keys.is_empty()).await;
    assert_eq!(keys.len(), 3);
    console.expire_sessions();
    click_when_ready(
        &b,
        &format!("div.grid-row[data-file='{}'] a.download-link", all[0].file),
    )
    .await;
    wait_css(&b, "input#user-name").await;
    assert_eq!(b.client.current_url().await.unwrap().path(), "/login");
    assert!(b.download_names().is_empty());
    let events = console.events();
    assert_eq!(events.downloads_without_session, 1);
    assert_eq!(
        (
            events.logins_failed,
            events.logins_refused,
            events.logins_ok
        ),
        (2, 1, 1)
    );
    b.close().await;
}

#[tokio::test]
async fn the_search_form_narrows_the_list_by_caller_and_callee() {
    let StandIn { all, console, b } = standin(Skin::Ucm63xx, 23, |_| {}).await;
    open_recordings_63(&b, &console).await;
    let target = &all[17];
    wait_css(&b, "form.recording-search input#search-caller")
        .await
        .send_keys(&target.caller)
        .await
        .unwrap();
    b.client
        .find(Locator::Css("form.recording-search input#search-callee"))
        .await
        .unwrap()
        .send_keys(&target.callee)
        .await
        .unwrap();
    click_when_ready(&b, "form.recording-search button.search-btn").await;
    eventually(WAIT, "the search shows only the target", || {
        let b = &b;
        async move { wait_rows_63(b).await == [target.file.clone()] }
    })
    .await;
    wait_text(&b, "li.ant-pagination-total-text", "Total: 1").await;
    click_when_ready(&b, "form.recording-search button.reset-btn").await;
    eventually(WAIT, "reset shows the first page again", || {
        let b = &b;
        async move { wait_rows_63(b).await.len() == 10 }
    })
    .await;
    assert_eq!(console.events().pages_listed, 3);
    b.close().await;
}
