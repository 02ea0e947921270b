//! One file over 500 lines: the download directory's hold, its sweep and the wait for a file
//! share the same names and directory rules; a quarter of it is their tests.
//!
//! Waiting for a recording the browser downloads into a directory the worker watches.
//!
//! Each browser session downloads into its own fresh sub-directory of `DOWNLOAD_DIR`, so two
//! tenants' files never mix; within it a file is matched to its call by name. The watch wakes on
//! inotify events and also looks every poll interval, which is the fallback on mounts where inotify
//! is silent (Docker Desktop, network shares). A file counts as finished when its final name is
//! there, no `.crdownload` is left and its size held still between two looks; it is then moved to
//! the tenant's work directory at once so the shared directory never fills up.

use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::ids::TenantId;

/// How a recording's file will be named: `auto-<epoch>-<caller>-<callee>.wav` on the UCM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExpectedFile {
    /// The console showed the file name (the row key).
    Named(String),
    /// Only the call is known: its caller, callee and start (epoch seconds) within a tolerance.
    Call {
        caller: String,
        callee: String,
        epoch: i64,
        tolerance: i64,
    },
}

impl ExpectedFile {
    /// Whether `file_name` is this recording. Chrome names a repeated download `name (1).wav`.
    pub(crate) fn matches(&self, file_name: &str) -> bool {
        let name = without_copy_suffix(file_name);
        match self {
            ExpectedFile::Named(expected) => name == base_name(expected),
            ExpectedFile::Call {
                caller,
                callee,
                epoch,
                tolerance,
            } => parse_auto_name(&name).is_some_and(|(e, parties)| {
                parties == format!("{caller}-{callee}") && (e - epoch).abs() <= *tolerance
            }),
        }
    }

    /// For messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            ExpectedFile::Named(name) => base_name(name).to_string(),
            ExpectedFile::Call { caller, callee, .. } => format!("auto-*-{caller}-{callee}.wav"),
        }
    }

    /// The file name's length in bytes when it is longer than a browser can save a download
    /// under: such a download would be cancelled by the browser, never arrive, and cost a
    /// whole download timeout on every pass.
    pub(crate) fn too_long_to_save(&self) -> Option<usize> {
        let bytes = match self {
            ExpectedFile::Named(name) => base_name(name).len(),
            ExpectedFile::Call {
                caller,
                callee,
                epoch,
                ..
            } => format!("auto-{epoch}-{caller}-{callee}.wav").len(),
        };
        (bytes > LONGEST_SAVED_NAME).then_some(bytes)
    }
}

/// The longest file name Chromium saves a download under on Linux: the 255-byte name limit less
/// its `.crdownload` suffix. Longer names are cancelled, not shortened (Chromium 156: 244 bytes
/// saved, 245 cancelled).
pub(crate) const LONGEST_SAVED_NAME: usize = 255 - ".crdownload".len();

/// `2026-02/auto-1-2-3.wav` → `auto-1-2-3.wav`.
pub(crate) fn base_name(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// Whether a row key names a recording file (`2026-02/auto-….wav`) rather than being the
/// console's own id of the row (`4711`, a UUID): a file name ends in an extension with a letter.
/// A key that is not a file name says nothing about which recording the row is.
pub(crate) fn names_a_file(key: &str) -> bool {
    base_name(key).rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty()
            && (1..=5).contains(&ext.len())
            && ext.bytes().all(|b| b.is_ascii_alphanumeric())
            && ext.bytes().any(|b| b.is_ascii_alphabetic())
    })
}

/// `auto-1770395696-1000-2815058290.wav` → (1770395696, "1000-2815058290").
fn parse_auto_name(name: &str) -> Option<(i64, &str)> {
    let rest = name.strip_prefix("auto-")?.strip_suffix(".wav")?;
    let (epoch, parties) = rest.split_once('-')?;
    Some((epoch.parse().ok()?, parties))
}

/// `name (1).wav` → `name.wav`; other names unchanged.
fn without_copy_suffix(file_name: &str) -> String {
    let (stem, ext) = file_name.rsplit_once('.').unwrap_or((file_name, ""));
    let stem = match stem.rsplit_once(" (") {
        Some((base, n))
            if n.strip_suffix(')')
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit())) =>
        {
            base
        }
        _ => stem,
    };
    match ext {
        "" => stem.to_string(),
        ext => format!("{stem}.{ext}"),
    }
}

/// Where browser sessions download, under `DOWNLOAD_DIR`.
const INCOMING: &str = "incoming";

/// This process's hold on `DOWNLOAD_DIR`, kept for the process's life.
///
/// Every worker process holds a shared lock on `DOWNLOAD_DIR/.ucm-scraper.lock`, and a lock dies
/// with its process, SIGKILL included. A process that starts and finds no other holder removes
/// what dead ones left: session download directories, half-written `.crdownload` files, and
/// downloaded or converted files not yet uploaded (their calls come back with their lease, and
/// the console still has the originals). A process that starts beside a live one leaves the
/// directory alone, so `once` run by hand next to `run` cannot sweep away its downloads.
pub struct DownloadRoot {
    _lock: std::fs::File,
    /// The WebDriver sessions the swept runs left open, to be ended.
    orphaned_sessions: Vec<String>,
}

/// `DOWNLOAD_DIR` cannot be used at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot use DOWNLOAD_DIR {}: {source}; it must be a directory this worker can write", .path.display())]
pub struct DownloadDirError {
    path: PathBuf,
    #[source]
    source: io::Error,
}

impl DownloadRoot {
    /// Takes this process's hold; when it is alone, sweeps what dead runs left and ends the
    /// browser sessions they left open.
    pub async fn hold(config: &super::BrowserConfig) -> Result<Self, DownloadDirError> {
        let root = Self::lock(&config.download_dir, &config.work_dir).map_err(|source| {
            DownloadDirError {
                path: config.download_dir.clone(),
                source,
            }
        })?;
        super::orphans::end_orphaned_sessions(config, &root.orphaned_sessions).await;
        Ok(root)
    }

    fn lock(download_dir: &Path, work_dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(download_dir)?;
        let lock = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(download_dir.join(".ucm-scraper.lock"))?;
        let mut orphaned_sessions = Vec::new();
        match lock.try_lock() {
            Ok(()) => {
                orphaned_sessions = recorded_sessions(&download_dir.join(INCOMING));
                sweep_leftovers(&[download_dir.join(INCOMING), work_dir.to_path_buf()]);
                lock.unlock()?;
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                tracing::info!("Another worker process uses DOWNLOAD_DIR; leaving its files alone")
            }
            Err(std::fs::TryLockError::Error(error)) => return Err(error),
        }
        // Waits while another starting process sweeps.
        lock.lock_shared()?;
        Ok(Self {
            _lock: lock,
            orphaned_sessions,
        })
    }
}

/// Beside each session's download directory, the id of its WebDriver session while it lives.
const SESSION_MARKER: &str = "session";

/// The WebDriver session ids recorded in `incoming`.
fn recorded_sessions(incoming: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(incoming) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == SESSION_MARKER))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .collect()
}

/// Removes every entry of `dirs` (their owners are dead), logging what could not go.
fn sweep_leftovers(dirs: &[PathBuf]) {
    let mut removed = 0;
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let gone = match entry.file_type() {
                Ok(kind) if kind.is_dir() => std::fs::remove_dir_all(&path),
                _ => std::fs::remove_file(&path),
            };
            match gone {
                Ok(()) => removed += 1,
                Err(error) => {
                    tracing::warn!(%error, path = %path.display(), "Could not remove a leftover working file")
                }
            }
        }
    }
    if removed > 0 {
        tracing::info!(
            "Removed {removed} working files or directories an earlier run left in DOWNLOAD_DIR"
        );
    }
}

/// One browser session's download directory, removed when dropped.
pub(crate) struct DownloadDir {
    dir: tempfile::TempDir,
    /// The same directory as the browser sees it (a sidecar mounts `DOWNLOAD_DIR` elsewhere).
    browser_path: PathBuf,
    /// Where finished files of this tenant go.
    work_dir: PathBuf,
    /// `incoming/<dir>.session`, once the browser session is known.
    session_marker: PathBuf,
}

impl DownloadDir {
    /// Makes `<download_dir>/incoming/tenant_<id>-<random>` and `<work_dir>/tenant_<id>`.
    pub(crate) fn create(
        download_dir: &Path,
        browser_download_dir: &Path,
        work_dir: &Path,
        tenant: TenantId,
    ) -> io::Result<Self> {
        let incoming = download_dir.join(INCOMING);
        std::fs::create_dir_all(&incoming)?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("tenant_{tenant}-"))
            .tempdir_in(&incoming)?;
        // The browser may run as another user in a sidecar container sharing the volume.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))?;
        }
        let name = dir.path().file_name().expect("a temp dir has a name");
        let browser_path = absolute(&browser_download_dir.join(INCOMING).join(name))?;
        let work_dir = work_dir.join(format!("tenant_{tenant}"));
        std::fs::create_dir_all(&work_dir)?;
        let session_marker = incoming.join(format!("{}.{SESSION_MARKER}", name.to_string_lossy()));
        Ok(Self {
            dir,
            browser_path,
            work_dir,
            session_marker,
        })
    }

    /// Notes the browser session downloading here, so that a run that starts after this process
    /// died (SIGKILL, OOM) can end the browser it left open. Removed with the directory.
    pub(crate) fn record_session(&self, id: &str) -> io::Result<()> {
        std::fs::write(&self.session_marker, id)
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The absolute path Chrome's `download.default_directory` must hold.
    pub(crate) fn browser_path(&self) -> &Path {
        &self.browser_path
    }

    pub(crate) fn watch(&self, poll: Duration) -> Watch {
        Watch::start(self.dir.path(), poll)
    }

    /// Moves a finished file out of the shared directory into the tenant's work directory.
    pub(crate) fn take(&self, file: &Path) -> io::Result<PathBuf> {
        let target = self.work_dir.join(file.file_name().unwrap_or_default());
        if std::fs::rename(file, &target).is_err() {
            // Another filesystem (a mounted volume): copy, then remove.
            std::fs::copy(file, &target)?;
            std::fs::remove_file(file)?;
        }
        Ok(target)
    }

    /// Removes any file left over from a failed download so the next one starts clean, and makes
    /// sure the directory is there to be watched.
    pub(crate) fn clear(&self) -> io::Result<()> {
        if !self.dir.path().exists() {
            // Another process's start-up sweep did this before `DownloadRoot`; Chrome would
            // recreate it anyway.
            tracing::warn!(dir = %self.dir.path().display(), "the download directory vanished; making it again");
            std::fs::create_dir_all(self.dir.path())?;
        }
        for entry in std::fs::read_dir(self.dir.path())? {
            let path = entry?.path();
            match std::fs::remove_file(&path) {
                // Chrome may rename or remove an in-flight file while we look.
                Err(e) if e.kind() != io::ErrorKind::NotFound && path.is_file() => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

fn absolute(path: &Path) -> io::Result<PathBuf> {
    match path.is_absolute() {
        true => Ok(path.to_path_buf()),
        false => Ok(std::env::current_dir()?.join(path)),
    }
}

impl Drop for DownloadDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.session_marker);
    }
}

/// A look at the directory.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Look {
    /// The file is complete.
    Finished { path: PathBuf, bytes: u64 },
    /// Nothing yet, or still being written.
    Waiting,
}

/// How long a file under its final name must keep its size before it is taken. Chromium renames
/// a download to its final name only once it is complete, so this guards against other writers
/// (a Grid node's copy, a network mount catching up); waiting a whole poll interval would cost
/// every download a quarter second.
const SETTLE: Duration = Duration::from_millis(50);

/// Watches one directory for the expected file.
pub(crate) struct Watch {
    dir: PathBuf,
    poll: Duration,
    /// When each change happened; `true` for a file created.
    events: mpsc::UnboundedReceiver<(Instant, bool)>,
    // Kept alive for its events; `None` when inotify is unavailable and polling must do.
    _watcher: Option<RecommendedWatcher>,
    /// The candidate seen last: path, size and since when that size held.
    last: Option<(PathBuf, u64, Instant)>,
    /// The earliest moment a file was seen in the directory since the watch began.
    began: Option<Instant>,
}

impl Watch {
    fn start(dir: &Path, poll: Duration) -> Self {
        let (tx, events) = mpsc::unbounded_channel();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event {
                // Timed here, on the watcher's thread: the worker may be busy with the page.
                let _ = tx.send((Instant::now(), event.kind.is_create()));
            }
        })
        .and_then(|mut w| w.watch(dir, RecursiveMode::NonRecursive).map(|()| w));
        let watcher = match watcher {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %e, dir = %dir.display(), "cannot watch the download directory; polling it instead");
                None
            }
        };
        Self {
            dir: dir.to_path_buf(),
            poll,
            events,
            _watcher: watcher,
            last: None,
            began: None,
        }
    }

    /// Looks at the directory now. Call it once right after starting the watch too: a small file
    /// may have landed before the watch began.
    pub(crate) fn look(&mut self, expected: &ExpectedFile) -> io::Result<Look> {
        let mut in_flight = false;
        let mut candidate = None;
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".crdownload") {
                in_flight = true;
            } else if expected.matches(&name) {
                candidate = Some((entry.path(), entry.metadata()?.len()));
            }
        }
        let now = Instant::now();
        if in_flight || candidate.is_some() {
            self.saw_a_file(now);
        }
        let (path, bytes) = match (candidate, in_flight) {
            (Some(found), false) => found,
            _ => {
                self.last = None;
                return Ok(Look::Waiting);
            }
        };
        match &self.last {
            Some((p, b, since))
                if *p == path && *b == bytes && now.duration_since(*since) >= SETTLE =>
            {
                Ok(Look::Finished { path, bytes })
            }
            Some((p, b, _)) if *p == path && *b == bytes => Ok(Look::Waiting),
            _ => {
                self.last = Some((path, bytes, now));
                Ok(Look::Waiting)
            }
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Returns at the next change in the directory, or after the poll interval at the latest
    /// (after [`SETTLE`] while a finished-looking file is being watched for one more look).
    pub(crate) async fn changed(&mut self) {
        let wait = match self.last {
            Some(_) => SETTLE,
            None => self.poll,
        };
        let Ok(Some(first)) = tokio::time::timeout(wait, self.events.recv()).await else {
            return;
        };
        // Coalesce a burst of events into one look.
        self.note(first);
        while let Ok(change) = self.events.try_recv() {
            self.note(change);
        }
    }

    fn note(&mut self, (at, created): (Instant, bool)) {
        if created {
            self.saw_a_file(at);
        }
    }

    /// When the first file of this watch appeared: the directory was emptied before it began,
    /// so the browser created the file for the download clicked meanwhile, and it did so only
    /// once the console had answered the request. `None` while nothing has appeared.
    pub(crate) fn began(&self) -> Option<Instant> {
        self.began
    }

    fn saw_a_file(&mut self, at: Instant) {
        self.began = Some(self.began.map_or(at, |began| began.min(at)));
    }
}

/// What the first bytes of a downloaded file say it is.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Content {
    Wav,
    /// A web page where a recording was expected: an expired session or a refusal. Holds the
    /// page's text (bounded).
    Html(String),
    Other(String),
}

/// Reads the start of `path` to tell a recording from a page served in its place.
pub(crate) fn sniff(path: &Path) -> io::Result<Content> {
    let mut head = Vec::with_capacity(64 * 1024);
    std::fs::File::open(path)?
        .take(64 * 1024)
        .read_to_end(&mut head)?;
    let riff =
        head.len() >= 12 && matches!(&head[..4], b"RIFF" | b"RF64") && &head[8..12] == b"WAVE";
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    Ok(match (riff, first) {
        (true, _) => Content::Wav,
        (false, Some(b'<')) => Content::Html(String::from_utf8_lossy(&head).into_owned()),
        _ => Content::Other(
            head.iter()
                .take(8)
                .map(|&b| b.escape_ascii().to_string())
                .collect(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> ExpectedFile {
        ExpectedFile::Named(name.into())
    }

    #[test]
    fn a_row_key_names_a_file_only_with_an_extension() {
        assert!(names_a_file("2026-02/auto-1770395696-1000-2815058290.wav"));
        assert!(names_a_file("call.gsm"));
        assert!(!names_a_file("4711"));
        assert!(!names_a_file("1770395696.123"));
        assert!(!names_a_file("3f2a1c9e-0b7d-4c1e-9a55-6f0e2d1b8c47"));
        assert!(!names_a_file(".wav"));
    }

    #[test]
    fn files_are_matched_to_their_call_by_name() {
        let expected = named("2026-02/auto-1770395696-1000-2815058290.wav");
        assert!(expected.matches("auto-1770395696-1000-2815058290.wav"));
        assert!(expected.matches("auto-1770395696-1000-2815058290 (1).wav"));
        assert!(!expected.matches("auto-1770395697-1000-2815058290.wav"));

        let by_call = ExpectedFile::Call {
            caller: "1000".into(),
            callee: "2815058290".into(),
            epoch: 1770395696,
            tolerance: 60,
        };
        assert!(by_call.matches("auto-1770395697-1000-2815058290.wav"));
        assert!(!by_call.matches("auto-1770395997-1000-2815058290.wav"));
        assert!(!by_call.matches("auto-1770395696-1001-2815058290.wav"));
        assert!(!by_call.matches("auto-1770395696-1000-2815058290.wav.crdownload"));
    }

    #[test]
    fn names_longer_than_a_download_can_have_are_told_apart() {
        let name = |n: usize| named(&format!("2026-02/{}.wav", "x".repeat(n - 4)));
        assert_eq!(name(244).too_long_to_save(), None);
        assert_eq!(name(245).too_long_to_save(), Some(245));
        let by_call = |callee: &str| ExpectedFile::Call {
            caller: "1000".into(),
            callee: callee.into(),
            epoch: 1770395696,
            tolerance: 60,
        };
        assert_eq!(by_call("2815058290").too_long_to_save(), None);
        assert_eq!(by_call(&"9".repeat(300)).too_long_to_save(), Some(325));
    }

    #[test]
    fn leftovers_are_swept_only_by_a_process_that_finds_no_live_one() {
        let root = tempfile::tempdir().unwrap();
        let (downloads, work) = (root.path().join("downloads"), root.path().join("work"));
        let hold = || DownloadRoot::lock(&downloads, &work).unwrap();
        let leave = |name: &str| {
            let dir = downloads.join(INCOMING).join(name);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                downloads.join(INCOMING).join(format!("{name}.session")),
                format!("{name}-0a1b"),
            )
            .unwrap();
            std::fs::write(dir.join("auto-1-2-3.wav.crdownload"), b"RIFF").unwrap();
            std::fs::create_dir_all(&work).unwrap();
            std::fs::write(work.join(format!("{name}.mp3")), b"ID3").unwrap();
        };
        let left = || files_in(&downloads.join(INCOMING)) + files_in(&work);

        leave("dead");
        let live = hold();
        assert_eq!(left(), 0, "a dead run's files are swept");
        assert_eq!(live.orphaned_sessions, ["dead-0a1b"], "its browser to end");
        leave("live");
        let beside = hold();
        assert_eq!(left(), 3, "a live process's files are left alone");
        assert!(beside.orphaned_sessions.is_empty(), "its browser too");
        drop((live, beside));
        let next = hold();
        assert_eq!(left(), 0, "swept once nobody holds the directory");
        assert_eq!(next.orphaned_sessions, ["live-0a1b"]);
    }

    fn files_in(dir: &Path) -> usize {
        std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
    }

    fn dir() -> (tempfile::TempDir, DownloadDir) {
        let root = tempfile::tempdir().unwrap();
        let dir = DownloadDir::create(
            root.path(),
            root.path(),
            &root.path().join("work"),
            TenantId(7),
        )
        .unwrap();
        (root, dir)
    }

    #[tokio::test]
    async fn a_file_is_finished_once_no_crdownload_is_left_and_its_size_held() {
        let (_root, dir) = dir();
        let expected = named("auto-1-1000-2000.wav");
        let mut watch = dir.watch(Duration::from_millis(50));
        assert_eq!(watch.look(&expected).unwrap(), Look::Waiting);

        // Chrome's placeholder with the final name, next to the in-flight file.
        std::fs::write(dir.path().join("auto-1-1000-2000.wav"), b"").unwrap();
        std::fs::write(dir.path().join("Unconfirmed 42.crdownload"), b"RIFF").unwrap();
        watch.changed().await;
        assert_eq!(watch.look(&expected).unwrap(), Look::Waiting);

        std::fs::remove_file(dir.path().join("Unconfirmed 42.crdownload")).unwrap();
        std::fs::write(dir.path().join("auto-1-1000-2000.wav"), b"RIFF....WAVE").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let finished = loop {
            watch.changed().await;
            if let Look::Finished { path, bytes } = watch.look(&expected).unwrap() {
                break (path, bytes);
            }
            assert!(Instant::now() < deadline, "never finished");
        };
        assert_eq!(finished.1, 12);

        let moved = dir.take(&finished.0).unwrap();
        assert!(
            moved.ends_with("work/tenant_7/auto-1-1000-2000.wav"),
            "{}",
            moved.display()
        );
        assert!(!finished.0.exists());
    }

    #[tokio::test]
    async fn the_watch_notes_when_the_first_file_appeared_and_a_later_one_moves_nothing() {
        let (_root, dir) = dir();
        let expected = named("auto-1-1000-2000.wav");
        let mut watch = dir.watch(Duration::from_millis(50));
        assert_eq!(watch.look(&expected).unwrap(), Look::Waiting);
        assert_eq!(watch.began(), None, "nothing has appeared yet");

        let before = Instant::now();
        std::fs::write(dir.path().join("Unconfirmed 42.crdownload"), b"RIFF").unwrap();
        let deadline = before + Duration::from_secs(10);
        let began = loop {
            watch.changed().await;
            watch.look(&expected).unwrap();
            if let Some(began) = watch.began() {
                break began;
            }
            assert!(Instant::now() < deadline, "the file was never noticed");
        };
        assert!(
            before <= began && began <= Instant::now(),
            "noticed between the write and now"
        );

        // The first file's own event may still be on its way and move the moment earlier; a
        // later file never moves it later.
        let second = Instant::now();
        std::fs::write(dir.path().join("auto-1-1000-2000.wav"), b"RIFF....WAVE").unwrap();
        watch.changed().await;
        watch.look(&expected).unwrap();
        let kept = watch.began().expect("still noted");
        assert!(
            before <= kept && kept <= began && kept < second,
            "still the first file's moment"
        );
    }

    #[tokio::test]
    async fn another_calls_file_is_not_taken() {
        let (_root, dir) = dir();
        std::fs::write(dir.path().join("auto-1-1000-3000.wav"), b"RIFF").unwrap();
        let mut watch = dir.watch(Duration::from_millis(10));
        for _ in 0..3 {
            assert_eq!(
                watch.look(&named("auto-1-1000-2000.wav")).unwrap(),
                Look::Waiting
            );
            watch.changed().await;
        }
    }

    #[test]
    fn the_session_directory_goes_away_with_the_session() {
        let (_root, dir) = dir();
        let path = dir.path().to_path_buf();
        assert!(dir.browser_path().is_absolute());
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    fn sniffing_tells_recordings_from_pages() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("f");
        std::fs::write(&file, b"RIFF\x24\0\0\0WAVEfmt ").unwrap();
        assert_eq!(sniff(&file).unwrap(), Content::Wav);
        std::fs::write(&file, b"\n <!DOCTYPE html><p>Login</p>").unwrap();
        assert!(matches!(sniff(&file).unwrap(), Content::Html(t) if t.contains("Login")));
        std::fs::write(&file, b"GSFF\0\0\0\x01").unwrap();
        assert_eq!(
            sniff(&file).unwrap(),
            Content::Other("GSFF\\x00\\x00\\x00\\x01".into())
        );
    }
}
