//! The one way the tests run the `ucm-scraper` binary, as an operator would start it.
//!
//! The environment is cleared, so a test sees only what it sets and nothing of the developer's
//! shell leaks in. The working directory is a fresh one unless the test names its own. Stdin is
//! closed or holds the text the test gives. Stdout and stderr are captured and searched for
//! every secret the test named.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncBufReadExt as _;

use super::scenario::poll_until;

/// `ucm-scraper` with its arguments, environment, working directory, stdin and secrets.
pub struct UcmScraper {
    args: Vec<OsString>,
    /// In order: a later value for the same name wins.
    env: Vec<(String, OsString)>,
    dir: PathBuf,
    stdin: Option<String>,
    secrets: Vec<String>,
    /// The fresh working directory, when the test named none; removed after the run.
    own_dir: Option<tempfile::TempDir>,
}

/// How one run of the binary ended, with its output.
pub struct Run {
    pub ok: bool,
    /// `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl UcmScraper {
    pub fn new(args: &[&str]) -> Self {
        let own_dir = tempfile::tempdir().expect("a working directory");
        UcmScraper {
            args: args.iter().map(OsString::from).collect(),
            env: Vec::new(),
            dir: own_dir.path().to_path_buf(),
            stdin: None,
            secrets: Vec::new(),
            own_dir: Some(own_dir),
        }
    }

    /// More arguments, e.g. paths.
    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Runs in `dir` instead of a fresh directory.
    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.dir = dir.to_path_buf();
        self.own_dir = None;
        self
    }

    /// One variable; a later value for the same name wins.
    pub fn env(mut self, name: &str, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((name.to_string(), value.as_ref().to_os_string()));
        self
    }

    pub fn envs<'a>(self, vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        vars.into_iter()
            .fold(self, |cmd, (name, value)| cmd.env(name, value))
    }

    /// The test process's `PATH`, for commands that start other programs (the browser's
    /// tools, `sh`).
    pub fn with_path(self) -> Self {
        let path = std::env::var("PATH").unwrap_or_default();
        self.env("PATH", path)
    }

    /// Text written to stdin, which is then closed.
    pub fn stdin(mut self, text: &str) -> Self {
        self.stdin = Some(text.to_string());
        self
    }

    /// A secret the output must never show.
    pub fn secret(mut self, secret: &str) -> Self {
        self.secrets.push(secret.to_string());
        self
    }

    /// Runs to the end, blocking this thread; the output is searched for the secrets.
    pub fn run(self) -> Run {
        use std::io::Write as _;
        let mut child = self.command().spawn().expect("run ucm-scraper");
        let mut input = child.stdin.take().expect("stdin piped");
        if let Some(text) = &self.stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
        drop(input);
        let out = child.wait_with_output().expect("wait for ucm-scraper");
        self.checked(out)
    }

    /// Runs to the end on the test's runtime; the output is searched for the secrets.
    pub async fn run_async(self) -> Run {
        use tokio::io::AsyncWriteExt as _;
        let mut child = tokio::process::Command::from(self.command())
            .kill_on_drop(true)
            .spawn()
            .expect("run ucm-scraper");
        let mut input = child.stdin.take().expect("stdin piped");
        if let Some(text) = &self.stdin {
            input.write_all(text.as_bytes()).await.expect("write stdin");
        }
        drop(input);
        let out = child
            .wait_with_output()
            .await
            .expect("wait for ucm-scraper");
        self.checked(out)
    }

    /// Starts it and leaves it running (to signal it, or read its log as it goes), stdout and
    /// stderr piped. Its output is the caller's to search for secrets.
    pub fn spawn(self) -> tokio::process::Child {
        assert!(
            self.own_dir.is_none() && self.stdin.is_none(),
            "a run left running needs a working directory that outlives it, and no stdin"
        );
        tokio::process::Command::from(self.command())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start ucm-scraper")
    }

    fn command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ucm-scraper"));
        command
            .args(&self.args)
            .current_dir(&self.dir)
            .env_clear()
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    fn checked(self, out: std::process::Output) -> Run {
        let run = Run::from(out);
        let streams = [("stdout", &run.stdout), ("stderr", &run.stderr)];
        for (stream, text) in streams {
            let whence = format!("the {stream} of ucm-scraper {:?}", self.args);
            assert_no_secret(&whence, text, &self.secrets);
        }
        run
    }
}

impl From<std::process::Output> for Run {
    fn from(out: std::process::Output) -> Self {
        Run {
            ok: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Panics when `text` holds any of `secrets`; the message names where, never the secret.
pub fn assert_no_secret(whence: &str, text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret ({} chars) leaked into {whence}",
            secret.len()
        );
    }
}

/// The stderr of a worker left running, collected line by line as it comes.
pub struct LiveStderr {
    text: Arc<Mutex<String>>,
    reader: tokio::task::JoinHandle<()>,
}

impl LiveStderr {
    /// Takes over the child's stderr.
    pub fn follow(child: &mut tokio::process::Child) -> Self {
        let stderr = child.stderr.take().expect("stderr piped");
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let text = Arc::new(Mutex::new(String::new()));
        let sink = text.clone();
        let reader = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        LiveStderr { text, reader }
    }

    /// What it has written so far.
    pub fn text(&self) -> String {
        self.text.lock().unwrap().clone()
    }

    /// The address `run` serves /healthz and /metrics on. Asked for port 0, only its log line
    /// tells which port it bound.
    pub async fn metrics_addr(&self) -> String {
        self.address_after("Serving /healthz and /metrics on http://")
            .await
    }

    /// The address a log line gives after `marker` (up to the next blank), once it is logged:
    /// a server asked for port 0 tells its port only there.
    pub async fn address_after(&self, marker: &str) -> String {
        poll_until(Duration::from_secs(60), || {
            let text = self.text();
            let rest = &text[text.find(marker)? + marker.len()..];
            let end = rest.find(|c: char| c.is_whitespace() || c == '\u{1b}')?;
            Some(rest[..end].to_string())
        })
        .await
        .unwrap_or_else(|| panic!("no address logged after {marker:?}\n{}", self.text()))
    }

    /// Waits until the process closed its stderr (it has ended), so the text is complete.
    pub async fn finish(&mut self) {
        let _ = (&mut self.reader).await;
    }
}
