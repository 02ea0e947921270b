//! A real PostgreSQL per test run, and a fresh database per test (the `sqlx::test` idea).
//!
//! With `DATABASE_URL` set, its server is used. Otherwise a throwaway cluster is created with the
//! installed server binaries (`/usr/lib/postgresql/*/bin`) in a temp directory on a free port,
//! shared by the tests of one test binary and removed when that process ends.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use sqlx::{Connection, PgConnection, PgPool};

/// One test's own database.
pub struct TestDb {
    pub pool: PgPool,
    pub url: String,
    pub name: String,
}

/// A new, empty database.
pub async fn fresh_database() -> TestDb {
    let server = server_url();
    let name = format!(
        "ucm_test_{}_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed),
        rand::random::<u32>()
    );
    let mut admin = PgConnection::connect(server)
        .await
        .expect("connect to the test server");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create the test database");
    admin.close().await.ok();
    let url = database_url(server, &name);
    let pool = PgPool::connect(&url)
        .await
        .expect("connect to the test database");
    TestDb { pool, url, name }
}

/// A new database with the worker's migrations applied.
pub async fn migrated_database() -> TestDb {
    let db = fresh_database().await;
    ucm_scraper::db::migrate(&db.pool)
        .await
        .expect("apply migrations");
    db
}

static NEXT_DB: AtomicU32 = AtomicU32::new(0);
static SERVER: OnceLock<String> = OnceLock::new();

fn server_url() -> &'static str {
    SERVER.get_or_init(|| match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => start_throwaway_cluster(),
    })
}

fn database_url(server: &str, name: &str) -> String {
    let mut url = url::Url::parse(server).expect("server URL");
    url.set_path(name);
    url.to_string()
}

fn start_throwaway_cluster() -> String {
    let bin = postgres_bin_dir();
    let dir = tempfile::Builder::new()
        .prefix("ucm-pg-")
        .tempdir()
        .expect("temp dir for the cluster")
        .keep();
    let port = free_port();
    let as_root = running_as_root();
    if as_root {
        // initdb refuses to run as root: the cluster belongs to the postgres user.
        run(Command::new("chown").arg("-R").arg("postgres").arg(&dir));
    }
    let data = dir.join("data");
    run(server_cmd(as_root, &bin.join("initdb"))
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
            "-D",
        ])
        .arg(&data));
    let options = format!(
        "-p {port} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c synchronous_commit=off \
         -c full_page_writes=off -c max_connections=300",
        dir.display()
    );
    run(server_cmd(as_root, &bin.join("pg_ctl"))
        .args(["-w", "-t", "60", "-o", &options, "-l"])
        .arg(dir.join("server.log"))
        .arg("-D")
        .arg(&data)
        .arg("start"));
    spawn_reaper(as_root, &bin, &dir);
    format!("postgres://postgres@127.0.0.1:{port}/postgres")
}

/// Stops the cluster and removes its directory once this test process has exited.
fn spawn_reaper(as_root: bool, bin: &Path, dir: &Path) {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
         {sudo}{pg_ctl} -D {data} stop -m immediate >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        sudo = if as_root {
            "runuser -u postgres -- "
        } else {
            ""
        },
        pg_ctl = bin.join("pg_ctl").display(),
        data = dir.join("data").display(),
        dir = dir.display(),
    );
    super::spawn_reaper(&script, "cluster");
}

fn server_cmd(as_root: bool, program: &Path) -> Command {
    if as_root {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn run(cmd: &mut Command) {
    // Null stdio: a server that inherits the test's pipes would keep cargo waiting for EOF.
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn postgres_bin_dir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql), or set DATABASE_URL")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop().expect("an installed PostgreSQL server version")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
