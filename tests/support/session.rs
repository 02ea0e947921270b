//! One console-session test's world, for the browser tests that drive
//! [`ConsoleSession`] directly: a console stand-in holding recordings, directories, and the
//! worker's browser settings with the repository's selectors files.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::SemaphorePermit;
use ucm_scraper::config::DownloadMode;
use ucm_scraper::console::{BrowserConfig, CallQuery, ConsoleSession, ConsoleTarget, Timeouts};
use ucm_scraper::ids::{TenantId, UniqueId};

use super::browser::{browser_alive, browser_slot, scratch_dir, Chromedriver};
use super::console::{tone_wav, ConsoleConfig, FakeConsole, Recording, Skin};
use super::scenario::keep_if_failed;

/// 2026-02-06 16:34:56 UTC, the first call of the day in these tests.
pub const FIRST_CALL: i64 = 1_770_395_696;

/// One test's world: a console stand-in, directories, and the worker's browser settings.
pub struct World {
    pub console: FakeConsole,
    pub config: BrowserConfig,
    pub recordings: Vec<Recording>,
    pub dirs: tempfile::TempDir,
    _slot: SemaphorePermit<'static>,
}

impl World {
    /// A console of `skin` holding `n` recordings ten minutes apart, and a worker configured
    /// with the repository's selectors file(s) `files`.
    pub async fn start(
        skin: Skin,
        n: usize,
        files: &[&str],
        change: impl FnOnce(&mut ConsoleConfig),
    ) -> World {
        // The harness's limit on browsers at once: the machine has two cores.
        let slot = browser_slot().await;
        let wav = Arc::new(tone_wav(0.5));
        let recordings: Vec<Recording> = (0..n)
            .map(|i| {
                let epoch = FIRST_CALL + 600 * i as i64;
                Recording::new(
                    &format!("10{:02}", i % 100),
                    "2815058290",
                    epoch,
                    wav.clone(),
                )
            })
            .collect();
        let mut console_config = ConsoleConfig::for_skin(skin);
        console_config.recordings = recordings.clone();
        // Faster than the worker's gap, so pacing alone keeps the console content.
        console_config.download_gap = Duration::from_millis(150);
        change(&mut console_config);
        let console = FakeConsole::start(console_config).await;

        let dirs = tempfile::Builder::new()
            .prefix("console-test-")
            .tempdir_in(scratch_dir())
            .expect("test dir");
        let selectors_dir = dirs.path().join("selectors");
        std::fs::create_dir_all(&selectors_dir).unwrap();
        for file in files {
            let from = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("selectors")
                .join(file);
            std::fs::copy(&from, selectors_dir.join(file)).expect("copy a selectors file");
        }
        let profiles_dir = dirs.path().join("profiles");
        std::fs::create_dir_all(&profiles_dir).unwrap();
        let config = BrowserConfig {
            webdriver_url: Chromedriver::shared().url.parse().unwrap(),
            headed: false,
            accept_invalid_certs: false,
            download_mode: DownloadMode::Watch,
            download_dir: dirs.path().join("downloads"),
            browser_download_dir: dirs.path().join("downloads"),
            work_dir: dirs.path().join("work"),
            artifacts_dir: dirs.path().join("artifacts"),
            selectors_dir,
            profiles_dir,
            download_gap: Duration::from_millis(200),
            timeouts: Timeouts {
                command: Duration::from_secs(30),
                page_load: Duration::from_secs(20),
                element: Duration::from_secs(8),
                download: Duration::from_secs(20),
                poll: Duration::from_millis(100),
                rate_limit_backoff: Duration::from_secs(1),
            },
        };
        World {
            console,
            config,
            recordings,
            dirs,
            _slot: slot,
        }
    }

    pub fn target(&self, password: &str) -> ConsoleTarget {
        ConsoleTarget {
            tenant_id: TenantId(1),
            tenant_name: "Acme Corp".into(),
            base_url: self.console.url.parse().unwrap(),
            username: "admin".into(),
            password: password.to_string().into(),
            timezone: chrono_tz::UTC,
        }
    }

    pub async fn open(&self) -> ConsoleSession {
        ConsoleSession::open(&self.config, self.target("S3cret!pass"))
            .await
            .expect("open a browser session")
    }

    /// The call a recording belongs to, as `cdr_records` has it: the uniqueid's seconds are a
    /// second after the recording's start.
    pub fn call(&self, index: usize) -> CallQuery {
        let r = &self.recordings[index];
        call_for(r, index)
    }

    /// Closes the session and checks chromedriver no longer holds it.
    pub async fn close(&self, session: ConsoleSession) {
        let id = session
            .webdriver_session_id()
            .expect("a session id")
            .to_string();
        session.close().await;
        assert!(
            !Chromedriver::shared().session_ids().contains(&id),
            "chromedriver still holds session {id}"
        );
    }

    /// Asserts the session's browser has exited (a closed session's Chromium takes a moment).
    pub async fn assert_no_browser_left(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while browser_alive(&self.config.profiles_dir) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "a browser of this test is still running"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A failed test keeps the worker's artefacts (screenshot, page source, failure text) outside
/// the harness's scratch directory, which is removed when the test process ends: a failure
/// seen once under load can still be read afterwards.
impl Drop for World {
    fn drop(&mut self) {
        keep_if_failed("console-test-failed-", |kept| {
            // No artefacts directory when the worker wrote none.
            let _ = std::fs::rename(&self.config.artifacts_dir, kept.join("artifacts"));
            Ok(())
        });
    }
}

pub fn call_for(r: &Recording, index: usize) -> CallQuery {
    let start = r.start_epoch + 1;
    CallQuery {
        call_id: index as i64 + 1,
        uniqueid: UniqueId::parse(&format!("{start}.{index}")).unwrap(),
        caller: r.caller.clone(),
        callee: r.callee.clone(),
        call_date_utc: chrono::DateTime::from_timestamp(start, 0)
            .unwrap()
            .naive_utc(),
        recordfiles: vec![r.file.clone()],
    }
}

/// Downloads every call, newest first as the list shows them, and checks each file's bytes.
pub async fn download_all(
    world: &World,
    session: &mut ConsoleSession,
    order: impl Iterator<Item = usize>,
) {
    for i in order {
        let call = world.call(i);
        let got = session
            .download(&call)
            .await
            .unwrap_or_else(|e| panic!("call {i}: {e}"));
        let recording = &world.recordings[i];
        assert_eq!(got.file_name, recording.download_name());
        assert_eq!(
            std::fs::read(&got.path).unwrap(),
            *recording.wav,
            "call {i}"
        );
        assert!(got.path.starts_with(world.config.work_dir.join("tenant_1")));
    }
}
