//! A whole deployment in miniature for tests that run the `ucm-scraper` binary: a migrated
//! Postgres, the Supabase Storage stand-in, console stand-ins with N calls each and the matching
//! `tenants` / `cdr_records` rows, and the environment an operator would give the worker.
//!
//! Every output of every worker run is kept, so a test can search them all for secrets at the end.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;

use super::audio;
use super::bin::{assert_no_secret, LiveStderr, Run, UcmScraper};
use super::browser::Chromedriver;
use super::console::{ConsoleConfig, FakeConsole, Recording, Skin};
use super::fernet;
use super::pg::{migrated_database, TestDb};
use super::storage::{StorageStandIn, LEGACY_KEY};

/// The consoles' zone; tenant rows say the same, so times must be converted both ways.
pub const ZONE: &str = "Europe/Berlin";
/// A short download gap keeps tests fast while still exercising the pacing.
pub const GAP: Duration = Duration::from_millis(300);

pub struct Scenario {
    pub work: tempfile::TempDir,
    pub db: TestDb,
    pub storage: StorageStandIn,
    /// The backend's Fernet key (`ENCRYPTION_KEY`); passwords are stored as its tokens.
    pub fernet_key: String,
    /// A 4 s speech WAV, 8 kHz mono: what the consoles serve unless told otherwise.
    pub wav: Arc<Vec<u8>>,
    /// The chromedriver the worker talks to (the shared one unless a test brings its own).
    pub webdriver_url: String,
    /// Extra environment for every run (overrides the defaults).
    pub env: HashMap<String, String>,
    /// Plain-text secrets that must never appear in any output or artefact.
    secrets: Mutex<Vec<String>>,
    /// stdout + stderr of every worker run.
    logs: Mutex<Vec<String>>,
}

impl Run {
    /// The tenant's row of the summary table `once` prints; empty when it has none.
    pub fn summary_row(&self, tenant: i64) -> &str {
        self.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{tenant} ")))
            .unwrap_or_default()
    }
}

impl Scenario {
    pub async fn new() -> Self {
        let work = tempfile::tempdir().unwrap();
        let path = work.path().join("speech.wav");
        audio::speech_wav(&path, 4.0, 8000, 1);
        let wav = Arc::new(std::fs::read(&path).unwrap());
        let fernet_key = fernet::key();
        let scenario = Scenario {
            work,
            db: migrated_database().await,
            storage: StorageStandIn::start().await,
            secrets: Mutex::new(vec![LEGACY_KEY.to_string(), fernet_key.clone()]),
            fernet_key,
            wav,
            webdriver_url: Chromedriver::shared().url.clone(),
            env: HashMap::new(),
            logs: Mutex::new(Vec::new()),
        };
        std::fs::create_dir_all(scenario.downloads()).unwrap();
        scenario
    }

    pub fn pool(&self) -> &PgPool {
        &self.db.pool
    }

    pub fn downloads(&self) -> PathBuf {
        self.work.path().join("downloads")
    }

    /// What the worker left in DOWNLOAD_DIR besides its lock file: downloads, session
    /// directories, converted files. Empty after a clean run.
    pub fn working_files(&self) -> Vec<PathBuf> {
        let lock = self.downloads().join(".ucm-scraper.lock");
        files_under(&self.downloads())
            .into_iter()
            .filter(|f| *f != lock)
            .collect()
    }

    pub fn artifacts(&self) -> PathBuf {
        self.work.path().join("artifacts")
    }

    /// Remembers a plain-text secret the logs must never show.
    pub fn secret(&self, secret: &str) {
        self.secrets.lock().unwrap().push(secret.to_string());
    }

    /// A console with `n` recordings of calls from the last hours, newest first, served with
    /// this scenario's WAV.
    pub async fn console(&self, password: &str, n: usize) -> (FakeConsole, Vec<Recording>) {
        self.console_with(ConsoleConfig::for_skin(Skin::Ucm63xx), password, n, |_| {})
            .await
    }

    /// As [`Scenario::console`], from `config`, with `edit` applied to each recording.
    pub async fn console_with(
        &self,
        mut config: ConsoleConfig,
        password: &str,
        n: usize,
        edit: impl Fn(&mut Recording),
    ) -> (FakeConsole, Vec<Recording>) {
        self.secret(password);
        let now = chrono::Utc::now().timestamp();
        let recordings: Vec<Recording> = (0..n)
            .map(|i| {
                let mut r = Recording::new(
                    "1000",
                    &format!("2815{i:06}"),
                    now - 3600 - i as i64 * 420,
                    self.wav.clone(),
                );
                edit(&mut r);
                r
            })
            .collect();
        config.password = password.into();
        config.tls = true;
        config.timezone = ZONE.parse().unwrap();
        config.download_gap = GAP;
        config.recordings = recordings.clone();
        (FakeConsole::start(config).await, recordings)
    }

    /// A tenant of `console` whose stored password is `stored` as it is (a Fernet token, or
    /// anything a test wants to see handled).
    pub async fn tenant_raw(&self, name: &str, console: Option<(&FakeConsole, &str)>) -> i64 {
        let (ip, port, password) = match console {
            Some((c, stored)) => (
                Some("127.0.0.1"),
                Some(c.addr.port() as i32),
                Some(stored.to_string()),
            ),
            None => (None, None, None),
        };
        sqlx::query_scalar(
            "INSERT INTO tenants (company_name, subdomain, pbx_ip, pbx_port, pbx_username, pbx_password, ucm_timezone) \
             VALUES ($1, lower(replace($1, ' ', '-')), $2, $3, $4, $5, $6) RETURNING id::bigint",
        )
        .bind(name)
        .bind(ip)
        .bind(port)
        .bind(console.map(|_| "admin"))
        .bind(password)
        .bind(ZONE)
        .fetch_one(self.pool())
        .await
        .unwrap()
    }

    /// A tenant of `console` whose password is stored the backend's way (a Fernet token).
    pub async fn tenant(&self, name: &str, console: &FakeConsole, password: &str) -> i64 {
        let token = fernet::encrypt(&self.fernet_key, password);
        self.tenant_raw(name, Some((console, &token))).await
    }

    /// CDR rows as the backend writes them for the console's recordings; their uniqueids.
    pub async fn calls(&self, tenant: i64, recordings: &[Recording]) -> Vec<String> {
        insert_calls(self.pool(), tenant, recordings, 4).await
    }

    /// `ucm-scraper <args>` in the work directory with the stand-ins' addresses in its
    /// environment, as an operator would start it.
    pub fn command(&self, args: &[&str]) -> UcmScraper {
        UcmScraper::new(args)
            .current_dir(self.work.path())
            .with_path()
            .env("RUST_LOG", "info")
            .env("DATABASE_URL", &self.db.url)
            .env("ENCRYPTION_KEY", &self.fernet_key)
            .env("PBX_PASSWORD_FORMAT", "fernet")
            .env("WEBDRIVER_URL", &self.webdriver_url)
            .env("UCM_ACCEPT_INVALID_CERTS", "true")
            .env("UCM_DOWNLOAD_GAP", format!("{}ms", GAP.as_millis()))
            .env("SUPABASE_URL", &self.storage.url)
            .env("SUPABASE_SERVICE_ROLE_KEY", LEGACY_KEY)
            .env(
                "SELECTORS_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/selectors"),
            )
            .env("DOWNLOAD_DIR", self.downloads())
            .env("ARTIFACTS_DIR", self.artifacts())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// `run` left running, serving `/healthz` and `/metrics` on a free port: the worker, its log
    /// as it comes, and the address it serves on.
    pub async fn run_serving_metrics(&self) -> (tokio::process::Child, LiveStderr, String) {
        let mut child = self
            .command(&["run"])
            .env("METRICS_ADDR", "127.0.0.1:0")
            .spawn();
        let log = LiveStderr::follow(&mut child);
        let addr = log.metrics_addr().await;
        (child, log, addr)
    }

    /// Waits for a started worker and keeps its output.
    pub async fn finish(&self, child: tokio::process::Child) -> Run {
        let out = child
            .wait_with_output()
            .await
            .expect("wait for ucm-scraper");
        self.keep(Run::from(out))
    }

    /// Starts `command` left running, its log (stderr) read as it comes. A pipe nobody reads
    /// holds 64 KiB (Linux); once the log outgrows that, the worker's next log line blocks it
    /// mid-step until the test reads. A worker that runs long (`run`) needs this, not
    /// [`UcmScraper::spawn`] read only at [`Scenario::finish`].
    pub fn start(&self, command: UcmScraper) -> Running {
        let mut child = command.spawn();
        let log = LiveStderr::follow(&mut child);
        Running { child, log }
    }

    /// Waits for a worker from [`Scenario::start`] and keeps its output.
    pub async fn finish_running(&self, running: Running) -> Run {
        let Running { child, mut log } = running;
        let out = child
            .wait_with_output()
            .await
            .expect("wait for ucm-scraper");
        log.finish().await;
        let mut run = Run::from(out);
        run.stderr = log.text();
        self.keep(run)
    }

    fn keep(&self, run: Run) -> Run {
        self.logs
            .lock()
            .unwrap()
            .push(format!("{}\n{}", run.stdout, run.stderr));
        run
    }

    /// `ucm-scraper once`, to the end.
    pub async fn once(&self) -> Run {
        let child = self.command(&["once"]).spawn();
        self.finish(child).await
    }

    /// Every kept output, then every artefact file the worker wrote, searched for every secret.
    pub fn assert_no_secrets(&self) {
        let secrets = self.secrets.lock().unwrap().clone();
        let mut texts: Vec<(String, String)> = self
            .logs
            .lock()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, log)| (format!("output of run {i}"), log.clone()))
            .collect();
        for file in files_under(&self.artifacts()) {
            let bytes = std::fs::read(&file).unwrap_or_default();
            texts.push((
                file.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
        assert!(!texts.is_empty(), "no output collected to search");
        for (whence, text) in &texts {
            assert_no_secret(whence, text, &secrets);
        }
    }

    /// How many worker runs' outputs are kept.
    pub fn runs(&self) -> usize {
        self.logs.lock().unwrap().len()
    }
}

/// A worker started by [`Scenario::start`]: the process, and its log so far.
pub struct Running {
    pub child: tokio::process::Child,
    pub log: LiveStderr,
}

/// A failed test keeps its work directory (the worker's artefacts, download and storage
/// directories) and the output of every worker run.
impl Drop for Scenario {
    fn drop(&mut self) {
        keep_if_failed("scenario-test-failed-", |kept| {
            let runs = self.logs.lock().map(|l| l.join("\n\n")).unwrap_or_default();
            std::fs::write(kept.join("worker-runs.log"), runs)?;
            std::fs::rename(self.work.path(), kept.join("work"))
        });
    }
}

/// For a test's `Drop`: when the test failed (the thread is panicking), `save` puts what it
/// kept into a new `<prefix>*` directory under the system temp directory, outside the test's
/// own, which goes when the test ends, so a failure seen once under load can still be read;
/// prints where.
pub fn keep_if_failed(prefix: &str, save: impl FnOnce(&Path) -> std::io::Result<()>) {
    if !std::thread::panicking() {
        return;
    }
    let kept = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map(tempfile::TempDir::keep)
        .and_then(|kept| save(&kept).map(|()| kept));
    match kept {
        Ok(kept) => eprintln!(
            "test failed: the worker's artefacts are kept in {}",
            kept.display()
        ),
        Err(e) => eprintln!("test failed; its artefacts could not be kept: {e}"),
    }
}

/// Every file below `dir` (none when it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// Polls `check` until it holds or `within` passes; true when it held.
pub async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    poll_until(within, || check().then_some(())).await.is_some()
}

/// Polls `check` every 10 ms until it returns a value or `within` runs out.
pub async fn poll_until<T>(within: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await; // poll interval
    }
}

/// CDR rows as the backend writes them for a console's recordings (each `duration` seconds
/// long); returns their uniqueids.
pub async fn insert_calls(
    pool: &PgPool,
    tenant: i64,
    recordings: &[Recording],
    duration: i32,
) -> Vec<String> {
    let mut uniqueids = Vec::new();
    for (i, r) in recordings.iter().enumerate() {
        let uniqueid = format!("{}.{}", r.start_epoch, 100 + i);
        let start = chrono::DateTime::from_timestamp(r.start_epoch, 0)
            .unwrap()
            .naive_utc();
        sqlx::query(
            "INSERT INTO cdr_records (tenant_id, uniqueid, src, dst, start_time, duration, billsec, \
             disposition, recordfiles, call_date) VALUES ($1, $2, $3, $4, $5, $6, $6, 'ANSWERED', $7, $8)",
        )
        .bind(tenant as i32)
        .bind(&uniqueid)
        .bind(&r.caller)
        .bind(&r.callee)
        .bind(start.format("%Y-%m-%d %H:%M:%S").to_string())
        .bind(duration)
        .bind(format!("{}@", r.file))
        .bind(start)
        .execute(pool)
        .await
        .unwrap();
        uniqueids.push(uniqueid);
    }
    uniqueids
}
