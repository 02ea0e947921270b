//! Download pacing and file waiting: the console's gap between downloads, and the wait for a
//! clicked recording to arrive (or for the page to say why it will not).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use super::browser::{Browser, Step};
use super::downloads::{self, Content, DownloadDir, ExpectedFile, Look};
use super::error::{io_error, ConsoleErrorKind};
use super::{grid, login, Downloaded};
use crate::selectors::SelectorSet;

/// The console's gap between downloads (`UCM_DOWNLOAD_GAP`), kept from our side.
///
/// The console times its gap from when a download request reaches it, which the worker cannot
/// see. It times the gap instead from:
/// - the file's first appearance in the download directory: the browser creates it only once the
///   console has answered the request, so that moment follows the console's and the gap alone
///   is enough;
/// - failing that, the click, which the request follows by a check request of varying latency:
///   a margin covers that latency.
#[derive(Debug)]
pub(super) struct Pacer {
    gap: Duration,
    /// Added after a click: the check request's latency (a twentieth of the gap, 50 ms to 1 s).
    click_margin: Duration,
    /// Added to every pause once the console refused a download all the same (a slow console,
    /// a clock of its own): starts at zero and grows at each refusal, so a console that times
    /// differently costs one back-off, not one per download.
    refusal_margin: Duration,
    last: Option<Since>,
}

/// What the last pause is timed from.
#[derive(Debug, Clone, Copy)]
enum Since {
    Click(Instant),
    Arrival(Instant),
}

impl Pacer {
    pub(super) fn new(gap: Duration) -> Self {
        Self {
            gap,
            click_margin: (gap / 20).clamp(Duration::from_millis(50), Duration::from_secs(1)),
            refusal_margin: Duration::ZERO,
            last: None,
        }
    }

    /// When the next download may be clicked; `None` for the first.
    pub(super) fn next_click(&self) -> Option<Instant> {
        let after = match self.last? {
            Since::Click(at) => at + self.click_margin,
            Since::Arrival(at) => at,
        };
        Some(after + self.gap + self.refusal_margin)
    }

    /// A download was clicked at `at` (when the click command returned).
    pub(super) fn clicked(&mut self, at: Instant) {
        self.last = Some(Since::Click(at));
    }

    /// The download clicked last began to arrive at `at`. Never before the click returned: a
    /// file from earlier (a download of another call still in flight) tells nothing of this one.
    pub(super) fn arrived(&mut self, at: Instant) {
        if let Some(Since::Click(click)) = self.last {
            self.last = Some(Since::Arrival(at.max(click)));
        }
    }

    /// The console said "too frequently": keep further from its limit from now on.
    pub(super) fn refused(&mut self) {
        let grown = (self.refusal_margin * 2).max(self.click_margin);
        self.refusal_margin = grown.min((self.gap / 2).max(self.click_margin));
        tracing::info!(
            pause_s = (self.gap + self.refusal_margin).as_secs_f32(),
            "Pausing longer between downloads from this console"
        );
    }
}

pub(super) enum Arrival {
    /// A finished WAV file.
    Recording(PathBuf),
    RateLimited(Option<Duration>),
}

/// Waits for the file, watching the page too: the console may refuse ("too frequently") or show
/// its login form instead (the session expired).
pub(super) async fn await_file(
    browser: &Browser,
    selectors: &SelectorSet,
    watch: &mut downloads::Watch,
    expected: &ExpectedFile,
    grid: bool,
) -> Step<Arrival> {
    let deadline = Instant::now() + browser.timeouts.download;
    let login_form = selectors.login.username.plain();
    loop {
        if grid {
            // The browser's disk is the node's: bring a finished file over into the watched
            // directory, where it arrives like a local download.
            grid::pull(browser, expected, watch.dir()).await?;
        }
        let look = watch
            .look(expected)
            .map_err(io_error("cannot read", watch.dir()))?;
        if let Look::Finished { path, .. } = look {
            return inspect(selectors, path);
        }
        let text = browser.page_text().await?;
        if let Some(line) = login::matching_line(&text, &selectors.texts.rate_limited) {
            return Ok(Arrival::RateLimited(login::stated_wait(line, &text)));
        }
        if browser.find(&login_form).await?.is_some() {
            return Err(ConsoleErrorKind::SessionExpired);
        }
        if Instant::now() >= deadline {
            return Err(ConsoleErrorKind::DownloadTimeout {
                file: expected.describe(),
                waited: browser.timeouts.download,
            });
        }
        watch.changed().await;
    }
}

/// Tells a recording from a page the console served in its place: "too frequently" is a
/// refusal to back off from, any other page means the session expired.
fn inspect(selectors: &SelectorSet, path: PathBuf) -> Step<Arrival> {
    match downloads::sniff(&path).map_err(io_error("cannot read", &path))? {
        Content::Wav => Ok(Arrival::Recording(path)),
        Content::Html(text) => match login::matching_line(&text, &selectors.texts.rate_limited) {
            Some(line) => Ok(Arrival::RateLimited(login::stated_wait(line, &text))),
            None => Err(ConsoleErrorKind::SessionExpired),
        },
        Content::Other(head) => Err(ConsoleErrorKind::NotARecording {
            file: path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            head,
        }),
    }
}

/// Moves the recording to the work directory.
pub(super) fn take(downloads: &DownloadDir, path: &Path) -> Step<Downloaded> {
    let file_name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let moved = downloads
        .take(path)
        .map_err(io_error("cannot move", path))?;
    let bytes = std::fs::metadata(&moved)
        .map_err(io_error("cannot read", &moved))?
        .len();
    tracing::info!(file = %file_name, bytes, "Downloaded recording");
    Ok(Downloaded {
        path: moved,
        file_name,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_is_timed_from_the_arrival_when_seen_and_widens_at_each_refusal_up_to_half_the_gap()
    {
        let mut pacer = Pacer::new(Duration::from_secs(1));
        assert_eq!(
            pacer.next_click(),
            None,
            "the first download waits for nothing"
        );
        let click = Instant::now();
        pacer.clicked(click);
        assert_eq!(
            pacer.next_click(),
            Some(click + Duration::from_millis(1050)),
            "a click alone leaves room for the check request"
        );
        let arrival = click + Duration::from_millis(20);
        pacer.arrived(arrival);
        assert_eq!(
            pacer.next_click(),
            Some(arrival + Duration::from_secs(1)),
            "the file's arrival follows the console's answer: the gap alone"
        );
        pacer.arrived(arrival - Duration::from_millis(10));
        assert_eq!(
            pacer.next_click(),
            Some(arrival + Duration::from_secs(1)),
            "one arrival per click"
        );
        let next = click + Duration::from_secs(2);
        pacer.clicked(next);
        pacer.arrived(next - Duration::from_millis(5));
        assert_eq!(
            pacer.next_click(),
            Some(next + Duration::from_secs(1)),
            "a file seen before the click returned is timed from the click"
        );
        pacer.refused();
        assert_eq!(pacer.next_click(), Some(next + Duration::from_millis(1050)));
        pacer.refused();
        assert_eq!(pacer.next_click(), Some(next + Duration::from_millis(1100)));
        for _ in 0..10 {
            pacer.refused();
        }
        assert_eq!(pacer.next_click(), Some(next + Duration::from_millis(1500)));
        let production = Pacer::new(Duration::from_secs(15));
        assert_eq!(production.click_margin, Duration::from_millis(750));
    }
}
