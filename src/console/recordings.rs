//! The console's Recordings page: open it, find a call's row, click its download control.
//!
//! One pass over the list serves all of a tenant's calls: the rows of every page seen are kept,
//! so a call seen earlier is found by going straight back to its page, and the search for a new
//! one continues from the furthest page instead of starting again at page 1.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use fantoccini::elements::Element;
use tokio::time::Instant;
use url::Url;

use super::browser::{Browser, Step};
use super::downloads::{base_name, ExpectedFile};
use super::error::ConsoleErrorKind;
use super::selectors::{Bound, ListOrder, Paging, SelectorSet, Vars};

/// Pages searched at most for one call: a guard against a list that never ends.
const MAX_PAGES: usize = 1000;

/// A call as the console shows it.
#[derive(Debug, Clone)]
pub(crate) struct Wanted {
    /// Recording file names from `cdr_records.recordfiles` (`2026-02/auto-….wav`).
    pub files: Vec<String>,
    pub caller: String,
    pub callee: String,
    /// The call's start in the console's time zone.
    pub local_start: NaiveDateTime,
    /// The call's start as epoch seconds, to recognise the file name.
    pub epoch: i64,
    pub vars: Vars,
}

/// What one row says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowInfo {
    pub file: Option<String>,
    pub caller: String,
    pub callee: String,
    pub time: Option<NaiveDateTime>,
}

/// How many rows are shown, and the first and the last: another page changes the first row,
/// "load more" the count.
#[derive(Debug, PartialEq, Eq)]
struct Shown {
    count: usize,
    first: Option<RowInfo>,
    last: Option<RowInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Match {
    /// The row key is one of the call's recording files: certain.
    ByFile,
    /// Same caller and callee, start `n` seconds apart: the nearer the better.
    ByCall(u64),
}

impl Wanted {
    fn matches(&self, row: &RowInfo, tolerance: chrono::Duration) -> Option<Match> {
        if let Some(file) = &row.file {
            if self.files.iter().any(|f| base_name(f) == base_name(file)) {
                return Some(Match::ByFile);
            }
            // A row naming another file is another recording, whatever its parties and time.
            if !self.files.is_empty() {
                return None;
            }
        }
        let apart = (row.time? - self.local_start).abs();
        (row.caller == self.caller && row.callee == self.callee && apart <= tolerance)
            .then(|| Match::ByCall(apart.num_seconds().unsigned_abs()))
    }

    fn is_newer_than(&self, row: &RowInfo, tolerance: chrono::Duration) -> bool {
        row.time.is_some_and(|t| t < self.local_start - tolerance)
    }
}

/// A row found for a call.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub page: usize,
    pub info: RowInfo,
}

impl Row {
    /// The file this row's download will produce.
    pub(crate) fn expected_file(
        &self,
        wanted: &Wanted,
        tolerance: chrono::Duration,
    ) -> ExpectedFile {
        match &self.info.file {
            Some(file) => ExpectedFile::Named(file.clone()),
            None => ExpectedFile::Call {
                caller: wanted.caller.clone(),
                callee: wanted.callee.clone(),
                epoch: wanted.epoch,
                tolerance: tolerance.num_seconds(),
            },
        }
    }
}

/// Where the session is in the list, and what it has seen of it.
#[derive(Debug, Default)]
pub(crate) struct ListState {
    /// The page shown now; `None` when the Recordings page is not open.
    page: Option<usize>,
    /// Rows seen on each page during this pass.
    seen: BTreeMap<usize, Vec<RowInfo>>,
    /// Set once the last page was seen.
    end: Option<usize>,
}

impl ListState {
    /// After a new login the page is gone, but what was seen still says where rows are.
    pub(crate) fn closed(&mut self) {
        self.page = None;
    }

    pub(crate) fn pages_seen(&self) -> usize {
        self.seen.len()
    }
}

/// The Recordings page, as one selectors file describes it.
pub(crate) struct RecordingsPage<'a> {
    pub browser: &'a Browser,
    pub selectors: &'a SelectorSet,
    pub base_url: &'a Url,
    pub state: &'a mut ListState,
}

impl RecordingsPage<'_> {
    fn tolerance(&self) -> chrono::Duration {
        self.selectors.recordings.tolerance()
    }

    /// Finds the call's row, or says it is not on the console.
    pub(crate) async fn find(&mut self, wanted: &Wanted) -> Step<Row> {
        if self.state.page.is_none() {
            self.open().await?;
        }
        if self.selectors.recordings.search.is_some() {
            self.search(wanted).await?;
        } else if let Some(page) = self.page_seen_with(wanted) {
            self.go_to_page(page).await?;
        } else if self.seen_proves_absent(wanted) {
            return Err(self.not_on_console());
        } else if let Some(&furthest) = self.state.seen.keys().next_back() {
            self.go_to_page(furthest).await?;
        }
        self.scan_forward(wanted).await
    }

    fn not_on_console(&self) -> ConsoleErrorKind {
        ConsoleErrorKind::NotOnConsole {
            pages: self.state.pages_seen(),
        }
    }

    /// Opens the list through its route, else (or when the route fails) through the menu.
    pub(crate) async fn open(&mut self) -> Step<()> {
        let rec = &self.selectors.recordings;
        let ready = rec.ready.plain();
        let mut shown = false;
        if let Some(route) = &rec.route {
            let url = self
                .base_url
                .join(route)
                .map_err(|e| ConsoleErrorKind::LocatorNotFound {
                    what: format!("the Recordings page address ({e})"),
                    origin: format!("{}: recordings.route", self.selectors.file.display()),
                    selector: route.clone(),
                })?;
            self.browser.goto(url.as_str()).await?;
            match self.browser.wait_for(&ready).await {
                Ok(_) => shown = true,
                Err(e) if rec.menu.is_empty() => return Err(e),
                Err(_) => tracing::debug!("the route did not show the recordings; using the menu"),
            }
        }
        if !shown {
            for item in &rec.menu {
                self.browser
                    .click(&item.plain(), &self.selectors.busy)
                    .await?;
            }
            self.browser.wait_for(&ready).await?;
        }
        self.browser.wait_until_idle(&self.selectors.busy).await?;
        self.state.page = Some(1);
        Ok(())
    }

    async fn search(&mut self, wanted: &Wanted) -> Step<()> {
        let Some(search) = &self.selectors.recordings.search else {
            return Ok(());
        };
        for (field, value) in &search.fields {
            let value = wanted.vars.fill(value);
            self.browser.fill(&field.plain(), &value).await?;
        }
        self.browser
            .click(&search.submit.plain(), &self.selectors.busy)
            .await?;
        self.browser.wait_until_idle(&self.selectors.busy).await?;
        // Results differ per search: what was seen says nothing about them.
        self.state.seen.clear();
        self.state.end = None;
        self.state.page = Some(1);
        Ok(())
    }

    /// The page where a row for this call was seen, the surest match first.
    fn page_seen_with(&self, wanted: &Wanted) -> Option<usize> {
        let tolerance = self.tolerance();
        self.state
            .seen
            .iter()
            .flat_map(|(page, rows)| {
                rows.iter()
                    .filter_map(move |r| Some((wanted.matches(r, tolerance)?, *page)))
            })
            .min()
            .map(|(_, page)| page)
    }

    /// Whether the pages seen, from the first on, already pass the call's time (newest first).
    fn seen_proves_absent(&self, wanted: &Wanted) -> bool {
        let tolerance = self.tolerance();
        let contiguous = self
            .state
            .seen
            .keys()
            .copied()
            .eq(1..=self.state.seen.len());
        let newest_first = self.selectors.recordings.order == ListOrder::NewestFirst;
        let passed = self
            .state
            .seen
            .values()
            .flatten()
            .any(|r| wanted.is_newer_than(r, tolerance));
        let ended = self
            .state
            .end
            .is_some_and(|end| end == self.state.seen.len());
        contiguous && ((newest_first && passed) || ended)
    }

    /// Reads pages from the current one on until the call's row, its time passed, or the end.
    async fn scan_forward(&mut self, wanted: &Wanted) -> Step<Row> {
        let tolerance = self.tolerance();
        for _ in 0..MAX_PAGES {
            let page = self.state.page.unwrap_or(1);
            if let Some(row) = self.row_still_shown(page, wanted).await? {
                return Ok(row);
            }
            let rows = self.read_rows().await?;
            let best = best_match(&rows, wanted, tolerance);
            let passed = self.selectors.recordings.order == ListOrder::NewestFirst
                && rows.iter().any(|r| wanted.is_newer_than(r, tolerance));
            self.state.seen.insert(page, rows);
            if let Some(info) = best {
                tracing::debug!(page, file = ?info.file, "found the recording's row");
                return Ok(Row { page, info });
            }
            if passed || !self.next_page().await? {
                return Err(self.not_on_console());
            }
        }
        Err(self.not_on_console())
    }

    /// The call's row from what this page showed before, when one lookup by its file name
    /// confirms it is still there: reading every row again costs a WebDriver round trip per
    /// cell. New calls push rows down a newest-first list, so the lookup is not skipped.
    async fn row_still_shown(&self, page: usize, wanted: &Wanted) -> Step<Option<Row>> {
        let rec = &self.selectors.recordings;
        let (Some(rows), Some(by_file)) = (self.state.seen.get(&page), &rec.row_for_file) else {
            return Ok(None);
        };
        let Some(info) = best_match(rows, wanted, self.tolerance()) else {
            return Ok(None);
        };
        let Some(file) = info.file.clone() else {
            return Ok(None);
        };
        self.browser.wait_until_idle(&self.selectors.busy).await?;
        let bound = by_file.bind(&Vars::default().with("file", file));
        Ok(self.browser.find(&bound).await?.map(|_| Row { page, info }))
    }

    /// What every row shown says.
    async fn read_rows(&self) -> Step<Vec<RowInfo>> {
        self.browser.wait_until_idle(&self.selectors.busy).await?;
        let elements = self
            .browser
            .find_all(&self.selectors.recordings.row.plain())
            .await?;
        let mut rows = Vec::with_capacity(elements.len());
        for element in &elements {
            rows.push(self.read_row(element).await?);
        }
        Ok(rows)
    }

    /// Enough of the rows shown to tell that a click changed them, for a fraction of the
    /// round trips of reading them all.
    async fn shown(&self) -> Step<Shown> {
        self.browser.wait_until_idle(&self.selectors.busy).await?;
        let elements = self
            .browser
            .find_all(&self.selectors.recordings.row.plain())
            .await?;
        let (first, last) = match (elements.first(), elements.last()) {
            (Some(first), Some(last)) => (
                Some(self.read_row(first).await?),
                Some(self.read_row(last).await?),
            ),
            _ => (None, None),
        };
        Ok(Shown {
            count: elements.len(),
            first,
            last,
        })
    }

    async fn read_row(&self, row: &Element) -> Step<RowInfo> {
        let rec = &self.selectors.recordings;
        let file = match &rec.file_attribute {
            Some(name) => self.browser.attr_of(row, name).await?,
            None => None,
        };
        let cell = |selector: &super::selectors::Selector| {
            let bound = selector.plain();
            async move {
                let element = self
                    .browser
                    .find_in(row, &bound)
                    .await?
                    .ok_or_else(|| ConsoleErrorKind::missing(&bound))?;
                Ok::<_, ConsoleErrorKind>(self.browser.text_of(&element).await?.unwrap_or_default())
            }
        };
        let time_text = cell(&rec.time).await?;
        Ok(RowInfo {
            file,
            caller: cell(&rec.caller).await?,
            callee: cell(&rec.callee).await?,
            time: NaiveDateTime::parse_from_str(&time_text, &rec.time_format).ok(),
        })
    }

    /// Shows the next rows; `false` at the end of the list.
    async fn next_page(&mut self) -> Step<bool> {
        let page = self.state.page.unwrap_or(1);
        let more = match &self.selectors.recordings.paging {
            Paging::None => None,
            Paging::NextButton { next, .. } => Some(next.plain()),
            Paging::LoadMore { button } => Some(button.plain()),
        };
        let Some(more) = more else {
            self.state.end = Some(page);
            return Ok(false);
        };
        let Some(button) = self.browser.find(&more).await? else {
            self.state.end = Some(page);
            return Ok(false);
        };
        let before = self.shown().await?;
        if !self.browser.click_element(&button).await? {
            self.browser.click(&more, &self.selectors.busy).await?;
        }
        self.await_new_rows(&before, &more).await?;
        self.state.page = Some(page + 1);
        Ok(true)
    }

    /// Waits until the rows differ from `before` (a new page rendered, or more rows loaded).
    async fn await_new_rows(&self, before: &Shown, clicked: &Bound) -> Step<()> {
        let deadline = Instant::now() + self.browser.timeouts.element;
        loop {
            if self.shown().await? != *before {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ConsoleErrorKind::missing_because(
                    clicked,
                    " did not show new rows when clicked",
                ));
            }
            // The next page renders within a list request; a quick look again finds it early.
            tokio::time::sleep(self.browser.timeouts.poll / 5).await;
        }
    }

    /// Shows page `target` (for "load more", the rows up to it): a direct page link when the
    /// file has one and it is shown, else the next button from here, or from page 1 going back.
    async fn go_to_page(&mut self, target: usize) -> Step<()> {
        let current = self.state.page.unwrap_or(1);
        let paging = &self.selectors.recordings.paging;
        if current == target || matches!(paging, Paging::None) {
            return Ok(());
        }
        if let Paging::NextButton {
            page: Some(link), ..
        } = paging
        {
            let link = link.bind(&Vars::default().with("page", target.to_string()));
            if let Some(element) = self.browser.find(&link).await? {
                let before = self.shown().await?;
                if self.browser.click_element(&element).await? {
                    self.await_new_rows(&before, &link).await?;
                    self.state.page = Some(target);
                    return Ok(());
                }
            }
        }
        // Loaded rows stay loaded: only a paged list must start again to go back.
        if target < current && matches!(paging, Paging::NextButton { .. }) {
            self.open().await?;
        }
        while self.state.page.unwrap_or(1) < target {
            if !self.next_page().await? {
                break;
            }
        }
        Ok(())
    }

    /// Clicks the row's download control, finding the row anew (the table re-renders), and not
    /// before `not_before`: the row is found first, so the click follows the console's gap at
    /// once. Returns once the click is done: the console's check and download requests follow
    /// it, so the gap is timed from there (timing it from the click's start drew refusals on a
    /// busy host).
    pub(crate) async fn click_download(
        &mut self,
        row: &Row,
        not_before: Option<Instant>,
    ) -> Step<Instant> {
        if self.state.page.is_none() {
            self.open().await?;
        }
        self.go_to_page(row.page).await?;
        let download = self.selectors.recordings.download.plain();
        for _ in 0..3 {
            self.browser.wait_until_idle(&self.selectors.busy).await?;
            let element = self.locate(row).await?;
            let icon = self
                .browser
                .find_in(&element, &download)
                .await?
                .ok_or_else(|| ConsoleErrorKind::missing(&download))?;
            if let Some(at) = not_before {
                // The console's gap between downloads: the pacing itself.
                tokio::time::sleep_until(at).await;
            }
            if self.browser.click_element(&icon).await? {
                return Ok(Instant::now());
            }
        }
        Err(ConsoleErrorKind::missing_because(
            &download,
            " (the row kept re-rendering)",
        ))
    }

    /// The row's element on the page shown now.
    async fn locate(&self, row: &Row) -> Step<Element> {
        let rec = &self.selectors.recordings;
        if let (Some(file), Some(by_file)) = (&row.info.file, &rec.row_for_file) {
            let bound = by_file.bind(&Vars::default().with("file", file.clone()));
            return self.browser.wait_for(&bound).await;
        }
        let elements = self.browser.find_all(&rec.row.plain()).await?;
        for element in elements {
            if self.read_row(&element).await? == row.info {
                return Ok(element);
            }
        }
        let note = format!(
            " for {} → {} at {:?} (it moved)",
            row.info.caller, row.info.callee, row.info.time
        );
        Err(ConsoleErrorKind::missing_because(&rec.row.plain(), &note))
    }
}

/// The row that matches the call best (by file name before caller, callee and time).
fn best_match(rows: &[RowInfo], wanted: &Wanted, tolerance: chrono::Duration) -> Option<RowInfo> {
    rows.iter()
        .filter_map(|r| Some((wanted.matches(r, tolerance)?, r)))
        .min_by_key(|(m, _)| *m)
        .map(|(_, r)| r.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn wanted() -> Wanted {
        Wanted {
            files: vec!["2026-02/auto-1770395696-1000-2815058290.wav".into()],
            caller: "1000".into(),
            callee: "2815058290".into(),
            local_start: time("2026-02-06 17:34:56"),
            epoch: 1770395696,
            vars: Vars::default(),
        }
    }

    fn row(file: Option<&str>, caller: &str, at: &str) -> RowInfo {
        RowInfo {
            file: file.map(str::to_string),
            caller: caller.into(),
            callee: "2815058290".into(),
            time: Some(time(at)),
        }
    }

    #[test]
    fn the_row_key_decides_when_there_is_one() {
        let tol = chrono::Duration::minutes(10);
        let w = wanted();
        assert_eq!(
            w.matches(
                &row(
                    Some("2026-02/auto-1770395696-1000-2815058290.wav"),
                    "x",
                    "2020-01-01 00:00:00"
                ),
                tol
            ),
            Some(Match::ByFile)
        );
        // Same parties and time, but another recording file: not this call's.
        assert_eq!(
            w.matches(
                &row(
                    Some("2026-02/auto-1770395699-1000-2815058290.wav"),
                    "1000",
                    "2026-02-06 17:34:59"
                ),
                tol
            ),
            None
        );
    }

    #[test]
    fn without_a_row_key_caller_callee_and_time_within_tolerance_decide() {
        let tol = chrono::Duration::minutes(10);
        let w = wanted();
        assert_eq!(
            w.matches(&row(None, "1000", "2026-02-06 17:34:57"), tol),
            Some(Match::ByCall(1))
        );
        assert_eq!(
            w.matches(&row(None, "1000", "2026-02-06 17:50:00"), tol),
            None
        );
        assert_eq!(
            w.matches(&row(None, "1001", "2026-02-06 17:34:56"), tol),
            None
        );
        assert!(Match::ByFile < Match::ByCall(0));
        assert!(w.is_newer_than(&row(None, "1", "2026-02-06 17:20:00"), tol));
        assert!(!w.is_newer_than(&row(None, "1", "2026-02-06 17:30:00"), tol));
    }
}
