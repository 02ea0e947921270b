//! Real headless Chromium through a real chromedriver, for the browser tests.
//!
//! One chromedriver per test process ([`Chromedriver::shared`]), started on first use and reaped
//! when the process ends (a detached watcher, like `pg.rs` does for Postgres), or one of a test's
//! own ([`Chromedriver::start`], killed on drop). Every browser gets a fresh profile under this
//! process's scratch directory, so [`live_browsers`] can count what is still running and a test
//! can assert that no session leaked. At most [`MAX_BROWSERS`] browsers run at once.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use fantoccini::wd::{Capabilities, TimeoutConfiguration};
use fantoccini::{Client, ClientBuilder};
use serde_json::json;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Browsers alive at once in one test process (the machine has few cores).
pub const MAX_BROWSERS: usize = 2;
static SLOTS: Semaphore = Semaphore::const_new(MAX_BROWSERS);

/// A running chromedriver.
pub struct Chromedriver {
    /// `http://127.0.0.1:<port>`
    pub url: String,
    pub port: u16,
    child: Mutex<Option<Child>>,
}

impl Chromedriver {
    /// This process's chromedriver, started on first use.
    pub fn shared() -> &'static Chromedriver {
        static SHARED: OnceLock<Chromedriver> = OnceLock::new();
        SHARED.get_or_init(|| {
            sweep_orphans();
            let driver = Chromedriver::start();
            spawn_reaper(driver.pid());
            driver
        })
    }

    /// A chromedriver of its own on a free port, ready when this returns; killed on drop.
    pub fn start() -> Chromedriver {
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port();
            let driver = Chromedriver {
                url: format!("http://127.0.0.1:{port}"),
                port,
                child: Mutex::new(Some(spawn_chromedriver(port))),
            };
            match driver.wait_ready(Duration::from_secs(20)) {
                Ok(()) => return driver,
                Err(e) => last_error = e,
            }
        }
        panic!("chromedriver did not become ready: {last_error}");
    }

    /// A crashed sidecar: chromedriver and every browser it started are killed at once (SIGKILL
    /// to its process group), and reaped.
    pub fn crash(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let pgid = child.id();
            if pgid > 1 {
                sigkill(&format!("-{pgid}"));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// After [`Chromedriver::crash`], the dead sidecar's port as a container proxy keeps it:
    /// connections are accepted and dropped unanswered. Returns once a client has asked it for a
    /// new session (`POST /session`), with the port free again.
    pub async fn down_until_a_session_is_asked_for(&self) {
        use tokio::io::AsyncReadExt as _;
        let port = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("the dead chromedriver's port");
        loop {
            let (mut conn, _) = port.accept().await.unwrap();
            let mut head = [0u8; 64];
            let mut read = 0;
            while read < head.len() {
                match conn.read(&mut head[read..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => read += n,
                }
                if head[..read].contains(&b'\n') {
                    break;
                }
            }
            if head[..read].starts_with(b"POST /session ") {
                return;
            }
        }
    }

    /// After [`Chromedriver::crash`]: a new chromedriver on the same port, as the container
    /// runtime restarts a sidecar. Returns once it is ready.
    pub fn restart(&self) {
        let started = Instant::now();
        loop {
            // The port can stay busy for a moment after the kill.
            *self.child.lock().unwrap() = Some(spawn_chromedriver(self.port));
            match self.wait_ready(Duration::from_secs(20)) {
                Ok(()) => return,
                Err(e) if started.elapsed() > Duration::from_secs(60) => {
                    panic!("chromedriver did not come back on port {}: {e}", self.port)
                }
                Err(_) => self.crash(),
            }
        }
    }

    /// The WebDriver sessions this chromedriver holds now (its `GET /sessions`), by id: a
    /// test compares them with `client.session_id()` to see that its sessions were closed.
    pub fn session_ids(&self) -> Vec<String> {
        let Some(body) = http_get(self.port, "/sessions") else {
            return Vec::new();
        };
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        json["value"]
            .as_array()
            .map(|all| {
                all.iter()
                    .filter_map(|s| s["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Chromium browser processes (main processes only) this chromedriver started that are
    /// still alive, whoever opened their sessions (the worker under test included).
    pub fn live_browsers(&self) -> usize {
        self.browser_pids().len()
    }

    /// The pids of those browsers' main processes.
    pub fn browser_pids(&self) -> Vec<u32> {
        let pgid = self.pid();
        scan_processes("chromium")
            .into_iter()
            .filter(|(pid, cmdline)| {
                *pid != pgid && !cmdline.contains("--type=") && process_group(*pid) == Some(pgid)
            })
            .map(|(pid, _)| pid)
            .collect()
    }

    fn pid(&self) -> u32 {
        self.child
            .lock()
            .unwrap()
            .as_ref()
            .map(|c| c.id())
            .unwrap_or(0)
    }

    fn wait_ready(&self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self
                .child
                .lock()
                .unwrap()
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!("chromedriver exited: {status}"));
            }
            if let Some(body) = http_get(self.port, "/status") {
                if body.replace([' ', '\n'], "").contains("\"ready\":true") {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no ready /status on port {} within {within:?}",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        self.crash();
    }
}

/// SIGKILL to a pid, or to a process group as `-<pgid>`, quietly: it may be gone already.
fn sigkill(target: &str) {
    // `--` so that a negative group id is never read as an option.
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", target])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Starts chromedriver on `port` in a process group of its own, so that one kill ends it and
/// every browser it started.
fn spawn_chromedriver(port: u16) -> Child {
    let binary = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let log = scratch_dir().join(format!("chromedriver-{port}.log"));
    let mut cmd = Command::new(&binary);
    cmd.arg(format!("--port={port}"))
        .arg(format!("--log-path={}", log.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.spawn()
        .unwrap_or_else(|e| panic!("start {binary} (apt-get install chromium-driver): {e}"))
}

/// What a browser is opened with.
#[derive(Clone, Debug, Default)]
pub struct BrowserOptions {
    /// Accept the console's self-signed certificate.
    pub accept_insecure_certs: bool,
    /// Where downloads go; a fresh temp dir when `None`.
    pub download_dir: Option<PathBuf>,
}

/// A WebDriver session on a fresh headless Chromium. Call [`Browser::close`] at the end.
pub struct Browser {
    pub client: Client,
    /// Absolute; the browser saves downloads here.
    pub downloads: PathBuf,
    _own_downloads: Option<tempfile::TempDir>,
    _profile: tempfile::TempDir,
    _slot: SemaphorePermit<'static>,
    closed: bool,
}

/// One of the [`MAX_BROWSERS`] slots, for a test whose browser is opened by the code under test
/// (the worker's own WebDriver session): hold it while that browser lives.
pub async fn browser_slot() -> SemaphorePermit<'static> {
    SLOTS.acquire().await.expect("browser slots")
}

/// A browser on the shared chromedriver with default options.
pub async fn browser() -> Browser {
    Browser::open(Chromedriver::shared(), BrowserOptions::default()).await
}

impl Browser {
    pub async fn open(driver: &Chromedriver, options: BrowserOptions) -> Browser {
        let slot = browser_slot().await;
        let profile = tempfile::Builder::new()
            .prefix("profile-")
            .tempdir_in(scratch_dir())
            .expect("profile dir");
        let (downloads, own) = match options.download_dir {
            Some(dir) => (dir, None),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("downloads-")
                    .tempdir_in(scratch_dir())
                    .expect("download dir");
                (dir.path().to_path_buf(), Some(dir))
            }
        };
        let downloads = std::fs::canonicalize(&downloads).expect("absolute download dir");
        let caps = capabilities(&downloads, profile.path(), options.accept_insecure_certs);
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .expect("new WebDriver session");
        client
            .update_timeouts(TimeoutConfiguration::new(
                Some(Duration::from_secs(20)),
                Some(Duration::from_secs(20)),
                Some(Duration::ZERO),
            ))
            .await
            .expect("set WebDriver timeouts");
        Browser {
            client,
            downloads,
            _own_downloads: own,
            _profile: profile,
            _slot: slot,
            closed: false,
        }
    }

    /// The browser's own profile directory (`--user-data-dir`).
    pub fn profile(&self) -> &Path {
        self._profile.path()
    }

    /// Ends the session (and its Chromium).
    pub async fn close(mut self) {
        self.closed = true;
        let _ = self.client.clone().close().await;
    }

    /// Waits for `name` to be complete in the download directory: present, no `.crdownload`
    /// left, and the same size on two looks.
    pub async fn wait_for_download(&self, name: &str, within: Duration) -> Result<PathBuf, String> {
        let path = self.downloads.join(name);
        let deadline = Instant::now() + within;
        let mut last_size = None;
        loop {
            let partial = std::fs::read_dir(&self.downloads)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"))
                })
                .unwrap_or(false);
            let size = std::fs::metadata(&path).ok().map(|m| m.len());
            if size.is_some() && !partial && size == last_size {
                return Ok(path);
            }
            last_size = size;
            if Instant::now() > deadline {
                return Err(format!(
                    "{name} not downloaded within {within:?}; directory holds {:?}",
                    self.download_names()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The names in the download directory, sorted.
    pub fn download_names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.downloads)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

impl Drop for Browser {
    /// A test that panicked before `close()` must not leave its Chromium behind for the next
    /// tests: its processes (found by this browser's own profile directory) are killed by pid.
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let marker = format!("--user-data-dir={}", self._profile.path().display());
        for pid in pids_with(&marker) {
            sigkill(&pid.to_string());
        }
    }
}

/// The capabilities the harness opens Chromium with: the closed-network flags, a fresh
/// profile, downloads into `downloads` without a prompt.
pub fn capabilities(downloads: &Path, profile: &Path, accept_insecure_certs: bool) -> Capabilities {
    // The worker's own flags, headless.
    let mut args: Vec<String> = std::iter::once("--headless=new")
        .chain(ucm_scraper::console::CHROMIUM_ARGS.iter().copied())
        .map(str::to_string)
        .collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let mut caps = Capabilities::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
            "args": args,
            "prefs": {
                "download.default_directory": downloads.display().to_string(),
                "download.prompt_for_download": false,
                "download.directory_upgrade": true,
                "safebrowsing.enabled": false,
            },
        }),
    );
    caps.insert("acceptInsecureCerts".into(), json!(accept_insecure_certs));
    caps
}

/// Chromium browser processes opened by this harness in this test process still alive (main
/// processes only). For browsers the worker opens itself, see [`Chromedriver::live_browsers`].
pub fn live_browsers() -> usize {
    processes_with(&scratch_dir().display().to_string())
        .into_iter()
        .filter(|cmdline| cmdline.contains("--user-data-dir=") && !cmdline.contains("--type="))
        .count()
}

/// Whether a Chromium process still runs with this profile directory.
pub fn browser_alive(profile: &Path) -> bool {
    !processes_with(&format!("--user-data-dir={}", profile.display())).is_empty()
}

/// Waits until no browser of this process is alive (a closed session's Chromium takes a moment
/// to exit). Returns how many are left at the deadline.
pub async fn wait_no_browsers(within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let n = live_browsers();
        if n == 0 || Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn processes_with(marker: &str) -> Vec<String> {
    scan_processes(marker).into_iter().map(|(_, c)| c).collect()
}

fn pids_with(marker: &str) -> Vec<u32> {
    let me = std::process::id();
    scan_processes(marker)
        .into_iter()
        .map(|(pid, _)| pid)
        .filter(|pid| *pid > 1 && *pid != me)
        .collect()
}

/// The process group of `pid` (field 5 of `/proc/<pid>/stat`, after the `(comm)`).
fn process_group(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(2)?.parse().ok()
}

/// (pid, command line) of every process whose command line contains `marker`.
fn scan_processes(marker: &str) -> Vec<(u32, String)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let raw = std::fs::read(e.path().join("cmdline")).ok()?;
            Some((pid, String::from_utf8_lossy(&raw).replace('\0', " ")))
        })
        .filter(|(_, cmdline)| cmdline.contains(marker))
        .collect()
}

/// This process's scratch directory for profiles, downloads and logs; removed by the reaper.
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        tempfile::Builder::new()
            .prefix(&format!("ucm-browser-{}-", std::process::id()))
            .tempdir()
            .expect("scratch dir")
            .keep()
    })
}

/// Kills what an earlier test process of this harness left behind (its reaper killed too,
/// e.g. with a whole terminal session): processes whose command line holds another process's
/// scratch directory (`ucm-browser-<pid>-…`) while that pid is gone. Killed by pid.
fn sweep_orphans() {
    let prefix = std::env::temp_dir()
        .join("ucm-browser-")
        .display()
        .to_string();
    for (pid, cmdline) in scan_processes(&prefix) {
        let owner = cmdline
            .split(&prefix)
            .nth(1)
            .and_then(|rest| rest.split('-').next())
            .and_then(|n| n.parse::<u32>().ok());
        let Some(owner) = owner else { continue };
        let owner_alive = Path::new(&format!("/proc/{owner}")).exists();
        if !owner_alive && pid > 1 && pid != std::process::id() {
            sigkill(&pid.to_string());
        }
    }
}

/// Once this test process has exited: kill the chromedriver's process group, any browser
/// still running from our scratch directory (by pid), and remove the directory.
fn spawn_reaper(driver_pid: u32) {
    assert!(driver_pid > 1, "a real chromedriver pid");
    let dir = scratch_dir().display().to_string();
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
         kill -s KILL -- -{driver_pid} 2>/dev/null; \
         for p in /proc/[0-9]*; do \
           if [ \"${{p#/proc/}}\" != \"$$\" ] && grep -qsF -- '{dir}' $p/cmdline; then kill -s KILL ${{p#/proc/}} 2>/dev/null; fi; \
         done; \
         rm -rf '{dir}'",
        pid = std::process::id(),
    );
    super::spawn_reaper(&script, "chromedriver");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A plain HTTP/1.1 GET to 127.0.0.1 (no client crate needed before a runtime exists).
/// chromedriver keeps the connection open, so the body is read up to its Content-Length.
/// The timeout is generous: a loaded CI machine can take seconds to answer, and an empty
/// answer would read as "no sessions".
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).ok()?;
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok());
            if n == 0 || length.is_some_and(|len| body.len() >= len) {
                return Some(body.to_string());
            }
        }
        if n == 0 {
            return None;
        }
    }
}
