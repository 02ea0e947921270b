//! `ucm-scraper selectors learn` (issue 15) against the console stand-in's skins.
//!
//! `save_fixture_pages` (ignored) rewrites `tests/fixtures/learn/<skin>/*.html`, the rendered
//! pages the learner's unit tests read: `cargo test --test learn -- --ignored save_fixture_pages`.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use md5::Digest;
use support::browser::browser;
use support::console::{tone_wav, ConsoleConfig, FakeConsole, Recording, Skin};
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

/// Logs in over the console's own exchange and returns the session cookie's value.
async fn session_id(console: &FakeConsole, config: &ConsoleConfig) -> String {
    let http = reqwest::Client::new();
    let cgi = format!("{}/cgi", console.url);
    let answer: serde_json::Value = http
        .post(&cgi)
        .form(&[("action", "challenge"), ("user", &config.username)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let challenge = answer["response"]["challenge"]
        .as_str()
        .unwrap()
        .to_string();
    let token = hex::encode(md5::Md5::digest(
        format!("{challenge}{}", config.password).as_bytes(),
    ));
    let answer: serde_json::Value = http
        .post(&cgi)
        .form(&[
            ("action", "login"),
            ("user", config.username.as_str()),
            ("token", token.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["response"]["cookie"].as_str().unwrap().to_string()
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
    for skin in [Skin::Ucm63xx, Skin::Ucm62xx] {
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
        let sid = session_id(&console, &config).await;
        browser
            .client
            .execute(
                &format!("document.cookie = 'session-identify={sid}; path=/'"),
                vec![],
            )
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
