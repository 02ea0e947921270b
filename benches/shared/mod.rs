//! What the pass benchmarks share (`benches/pass.rs`, `benches/roads.rs`): the machine line,
//! the knobs read from the environment, the calls and their console stand-ins, the tenant row,
//! and the `ucm-scraper once` command with its environment. Each bench includes it next to the
//! tests' support code (`mod support`), which it uses.

pub mod machine;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;

use crate::support::audio;
use crate::support::browser::Chromedriver;
use crate::support::console::{ConsoleConfig, FakeConsole, Recording, Skin};
use crate::support::storage::LEGACY_KEY;

/// The web console's admin password on every bench console.
pub const PASSWORD: &str = "Bench-pass1";

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `BENCH_GAP`: the console's download gap and the worker's `UCM_DOWNLOAD_GAP`.
pub fn gap_knob() -> Duration {
    humantime::parse_duration(&std::env::var("BENCH_GAP").unwrap_or("1s".into()))
        .expect("BENCH_GAP like 1s or 500ms")
}

/// `UCM_BIN`, else the worker binary cargo built with this bench.
pub fn worker_bin() -> String {
    std::env::var("UCM_BIN").unwrap_or(env!("CARGO_BIN_EXE_ucm-scraper").into())
}

/// Which profile a worker binary was built in, told by its path.
pub fn build_kind(bin: &str) -> &'static str {
    if bin.contains("/release/") {
        "release"
    } else {
        "debug"
    }
}

/// One speech WAV of `call_secs` seconds (8 kHz mono), written into `work` and read back.
pub fn speech_wav(work: &Path, call_secs: f64) -> Arc<Vec<u8>> {
    let path = work.join("speech.wav");
    audio::speech_wav(&path, call_secs, 8000, 1);
    Arc::new(std::fs::read(&path).unwrap())
}

/// `calls` recordings of `wav`, newest first, spaced 7 minutes apart in the last hours.
pub fn recordings(calls: usize, wav: &Arc<Vec<u8>>) -> Vec<Recording> {
    let now = chrono::Utc::now().timestamp();
    (0..calls)
        .map(|i| {
            Recording::new(
                "1000",
                &format!("2815058{i:03}"),
                now - 3600 - i as i64 * 420,
                wav.clone(),
            )
        })
        .collect()
}

/// A `ucm63xx` console over HTTPS with these recordings, refusing downloads closer than `gap`.
pub async fn console_with(recordings: &[Recording], gap: Duration) -> FakeConsole {
    let mut config = ConsoleConfig::for_skin(Skin::Ucm63xx);
    config.password = PASSWORD.into();
    config.tls = true;
    config.download_gap = gap;
    config.recordings = recordings.to_vec();
    FakeConsole::start(config).await
}

/// A tenant on `console` (admin, `token` the sealed [`PASSWORD`]); its id.
pub async fn add_tenant(pool: &PgPool, name: &str, console: &FakeConsole, token: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO tenants (company_name, subdomain, pbx_ip, pbx_port, pbx_username, pbx_password) \
         VALUES ($1, lower(replace($1, ' ', '-')), '127.0.0.1', $2, 'admin', $3) RETURNING id::bigint",
    )
    .bind(name)
    .bind(console.addr.port() as i32)
    .bind(token)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// What a worker pass is pointed at.
pub struct WorkerEnv<'a> {
    pub database_url: &'a str,
    pub fernet_key: &'a str,
    pub storage_url: &'a str,
    pub gap: Duration,
    pub parallel_tenants: usize,
}

/// `bin once` in `work`, with a clean environment, its log (stderr) in `work/worker.log`.
pub fn worker_command(bin: &str, work: &Path, env: &WorkerEnv) -> Command {
    let log = std::fs::File::create(work.join("worker.log")).unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("once")
        .current_dir(work)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "RUST_LOG",
            std::env::var("BENCH_RUST_LOG").unwrap_or("info".into()),
        )
        .env("DATABASE_URL", env.database_url)
        .env("ENCRYPTION_KEY", env.fernet_key)
        .env("PBX_PASSWORD_FORMAT", "fernet")
        .env("WEBDRIVER_URL", &Chromedriver::shared().url)
        .env("UCM_ACCEPT_INVALID_CERTS", "true")
        .env("UCM_DOWNLOAD_GAP", format!("{}ms", env.gap.as_millis()))
        .env("MAX_PARALLEL_TENANTS", env.parallel_tenants.to_string())
        .env("SUPABASE_URL", env.storage_url)
        .env("SUPABASE_SERVICE_ROLE_KEY", LEGACY_KEY)
        .env(
            "SELECTORS_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/selectors"),
        )
        .env("DOWNLOAD_DIR", work.join("downloads"))
        .env("ARTIFACTS_DIR", work.join("artifacts"))
        .stdout(Stdio::null())
        .stderr(log);
    cmd
}

/// Keeps the pass's worker log as `BENCH_LOG_DIR/<name>` when asked to; prints its last lines
/// when the worker failed.
pub fn after_worker(work: &Path, name: &str, status: std::process::ExitStatus) {
    if let Ok(dir) = std::env::var("BENCH_LOG_DIR") {
        std::fs::create_dir_all(&dir).expect("create BENCH_LOG_DIR");
        let kept = Path::new(&dir).join(name);
        std::fs::copy(work.join("worker.log"), &kept).expect("copy the worker's log");
    }
    if !status.success() {
        let log = std::fs::read_to_string(work.join("worker.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        eprintln!("worker failed ({status}); last lines:");
        for line in tail.into_iter().rev() {
            eprintln!("{line}");
        }
    }
}
