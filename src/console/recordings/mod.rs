//! One file over 500 lines: finding a call's row is one search over the list's pages, and its
//! rules (where to look first, when a miss is evidence) read together; reading and paging are
//! its rooms beside it.
//!
//! The console's Recordings page: find a call's row, click its download control. Opening the
//! page is in [`super::route`], reading a settled list in [`settled`], reaching page N in
//! [`paging`], and the judgement that a call is not listed in [`super::evidence`].
//!
//! One pass over the list serves all of a tenant's calls: the rows of every page seen are kept,
//! so a call seen earlier is found by going straight back to its page, and the search for a new
//! one continues from the furthest page. A call not found there is looked for again from page 1
//! before anything is concluded.

mod paging;
mod settled;

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use fantoccini::elements::Element;
use tokio::time::Instant;

use super::browser::{Browser, Step};
use super::downloads::{base_name, ExpectedFile};
use super::error::ConsoleErrorKind;
use super::evidence::{self, PageRead, PageSeen, Sought, Then};
use super::way::Ways;
use super::ConsoleTarget;
use crate::selectors::{Bound, ListOrder, SelectorSet, Vars};
pub(super) use paging::{Paged, Turns};
use settled::Cells;
pub(super) use settled::Listed;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Match {
    /// The row key is one of the call's recording files: certain.
    ByFile,
    /// Same caller and callee, start `n` seconds apart: the nearer the better.
    ByCall(u64),
}

impl Wanted {
    pub(crate) fn matches(&self, row: &RowInfo, tolerance: chrono::Duration) -> Option<Match> {
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
    pub(super) page: Option<usize>,
    /// Rows seen on each page during this pass: where to look for a call first. Never
    /// evidence that a call is absent: the list may have moved since.
    seen: BTreeMap<usize, Vec<RowInfo>>,
    /// The way to the list, and what does not work on this console.
    pub(super) ways: Ways,
    /// What the paging controls did, and which do not work on this console.
    pub(super) turns: Turns,
    /// Why a read of the list did not settle this pass: a list that never settles costs its
    /// wait once a pass, not once per call.
    pub(super) unsettled: Option<String>,
}

impl ListState {
    /// After a new login the page is gone, but what was seen still says where rows are.
    pub(crate) fn closed(&mut self) {
        self.page = None;
    }

    /// Another selectors file is in use: what was judged with the old one's locators is
    /// judged anew.
    pub(crate) fn judge_anew(&mut self) {
        self.ways.judge_anew();
        self.turns = Turns::default();
    }
}

/// How a search through the list ended.
enum Search {
    Found(Row),
    /// Not found on the pages read, as they were read.
    NotFound(Vec<PageSeen>),
}

/// The Recordings page, as one selectors file describes it.
pub(crate) struct RecordingsPage<'a> {
    pub browser: &'a Browser,
    pub selectors: &'a SelectorSet,
    pub target: &'a ConsoleTarget,
    pub state: &'a mut ListState,
}

impl RecordingsPage<'_> {
    pub(super) fn tolerance(&self) -> chrono::Duration {
        self.selectors.recordings.tolerance()
    }

    /// Finds the call's row; says it is not on the console only on the evidence of a search
    /// from page 1 ([`evidence::not_on_console`]), and makes any doubt a retryable error.
    pub(crate) async fn find(&mut self, wanted: &Wanted) -> Step<Row> {
        if let Some(doubt) = &self.state.unsettled {
            return Err(ConsoleErrorKind::ListUncertain {
                doubt: format!("earlier in this pass {doubt}; not waited for again"),
                pages: 0,
            });
        }
        if self.state.page.is_none() {
            self.open().await?;
        }
        if self.selectors.recordings.search.is_some() {
            self.search(wanted).await?;
        } else if let Some(page) = self.page_seen_with(wanted) {
            self.reach_page(page).await?;
        } else if let Some(&furthest) = self.state.seen.keys().next_back() {
            self.reach_page(furthest).await?;
        }
        let mut pages = match self.scan_forward(wanted).await? {
            Search::Found(row) => return Ok(row),
            Search::NotFound(pages) => pages,
        };
        if pages.first().is_none_or(|p| p.page != 1) {
            // Evidence needs a search in order from page 1: start again there, once.
            self.open().await?;
            if self.selectors.recordings.search.is_some() {
                self.search(wanted).await?;
            }
            pages = match self.scan_forward(wanted).await? {
                Search::Found(row) => return Ok(row),
                Search::NotFound(pages) => pages,
            };
        }
        let sought = Sought {
            start: wanted.local_start,
            tolerance: self.tolerance(),
            newest_first: self.selectors.recordings.order == ListOrder::NewestFirst,
        };
        match evidence::not_on_console(&pages, &sought) {
            Ok(()) => Err(ConsoleErrorKind::NotOnConsole { pages: pages.len() }),
            Err(doubt) => {
                tracing::warn!(%doubt, "The Recordings list gave no certain answer for this call");
                // The next call starts from a fresh list.
                self.state.closed();
                // Reads that cost a wait; a doubt that cost none does not hold back later calls.
                let waited = |p: &PageSeen| {
                    matches!(
                        p.read,
                        PageRead::Unsettled | PageRead::TimedOut | PageRead::NoRows
                    )
                };
                if pages.iter().any(waited) {
                    self.state.unsettled = Some(doubt.to_string());
                }
                Err(ConsoleErrorKind::ListUncertain {
                    doubt: doubt.to_string(),
                    pages: pages.len(),
                })
            }
        }
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

    /// Reads pages from the current one on until the call's row, its time passed, the end of
    /// the list, or a read that cannot be trusted; says what each page showed.
    async fn scan_forward(&mut self, wanted: &Wanted) -> Step<Search> {
        let tolerance = self.tolerance();
        let newest_first = self.selectors.recordings.order == ListOrder::NewestFirst;
        let mut pages = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = self.state.page.unwrap_or(1);
            if let Some(row) = self.row_still_shown(page, wanted).await? {
                return Ok(Search::Found(row));
            }
            let rows = match self.read_settled().await? {
                Listed::Rows(rows) => rows,
                // No rows at all from the start: an empty list and a `row` locator that no
                // longer matches look alike. That costs its timeout once: the tenant stops,
                // its calls untouched, rather than once per call.
                Listed::Not(PageRead::NoRows) if page == 1 => {
                    return Err(ConsoleErrorKind::missing_because(
                        &self.selectors.recordings.row.plain(),
                        " (the list showed no rows and no `empty` marker for the element timeout; \
                         if the console really lists no recordings, give the file a \
                         `[recordings] empty` locator)",
                    ));
                }
                Listed::Not(read) => {
                    // A confirmed empty list is its own end; any other read stops the search.
                    let then = match read {
                        PageRead::Empty => Then::End,
                        _ => Then::Stopped,
                    };
                    pages.push(PageSeen { page, read, then });
                    return Ok(Search::NotFound(pages));
                }
            };
            let best = best_match(&rows, wanted, tolerance);
            let passed = newest_first && rows.iter().any(|r| wanted.is_newer_than(r, tolerance));
            let times = rows.iter().map(|r| r.time).collect();
            self.state.seen.insert(page, rows);
            if let Some(info) = best {
                tracing::debug!(page, file = ?info.file, "found the recording's row");
                return Ok(Search::Found(Row { page, info }));
            }
            let mut seen = PageSeen {
                page,
                read: PageRead::Settled(times),
                then: Then::Stopped,
            };
            if passed {
                pages.push(seen);
                return Ok(Search::NotFound(pages));
            }
            match self.reach_page(page + 1).await? {
                Paged::Reached => {
                    seen.then = Then::Next;
                    pages.push(seen);
                }
                Paged::End => {
                    seen.then = Then::End;
                    pages.push(seen);
                    return Ok(Search::NotFound(pages));
                }
                Paged::NoChange => {
                    seen.then = Then::Next;
                    pages.push(seen);
                    pages.push(PageSeen {
                        page: page + 1,
                        read: PageRead::Unsettled,
                        then: Then::Stopped,
                    });
                    return Ok(Search::NotFound(pages));
                }
            }
        }
        Ok(Search::NotFound(pages))
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

    /// Clicks the row's download control, finding the row anew (the table re-renders), and not
    /// before `not_before`: the row is found first, so the click follows the console's gap at
    /// once. Returns once the click is done: the console's check and download requests follow
    /// it, so the gap is timed from there (timing it from the click's start drew refusals on a
    /// busy host). A row or control that re-renders, or is drawn in steps, is looked up again
    /// within the element timeout.
    pub(crate) async fn click_download(
        &mut self,
        row: &Row,
        not_before: Option<Instant>,
    ) -> Step<Instant> {
        if self.state.page.is_none() {
            self.open().await?;
        }
        self.reach_page(row.page).await?;
        let download = self.selectors.recordings.download.plain();
        let deadline = Instant::now() + self.browser.timeouts.element;
        let mut row_seen = false;
        loop {
            self.browser.wait_until_idle(&self.selectors.busy).await?;
            match self.try_click_download(row, &download, not_before).await {
                Ok(Click::Done(at)) => return Ok(at),
                Ok(Click::NoControl) => row_seen = true,
                Ok(Click::NoRow) | Err(ConsoleErrorKind::Stale { .. }) => {}
                Err(e) => return Err(e),
            }
            if Instant::now() >= deadline {
                return Err(match row_seen {
                    true => ConsoleErrorKind::missing(&download),
                    false => ConsoleErrorKind::ListUncertain {
                        doubt: format!(
                            "the row for {} → {} at {:?} was no longer on page {} when its download was to be clicked",
                            row.info.caller, row.info.callee, row.info.time, row.page
                        ),
                        pages: row.page,
                    },
                });
            }
            tokio::time::sleep(self.browser.timeouts.poll).await;
        }
    }

    /// One try at the click.
    async fn try_click_download(
        &self,
        row: &Row,
        download: &Bound,
        not_before: Option<Instant>,
    ) -> Step<Click> {
        let Some(element) = self.locate(row).await? else {
            return Ok(Click::NoRow);
        };
        let Some(icon) = self.browser.find_in(&element, download).await? else {
            return Ok(Click::NoControl);
        };
        // Not before the console's gap between downloads: the pacing itself.
        let clicked = self.browser.click_element_at(&icon, not_before).await?;
        Ok(clicked.map_or(Click::NoRow, Click::Done))
    }

    /// The row's element on the page shown now, if it is there.
    async fn locate(&self, row: &Row) -> Step<Option<Element>> {
        let rec = &self.selectors.recordings;
        if let (Some(file), Some(by_file)) = (&row.info.file, &rec.row_for_file) {
            let bound = by_file.bind(&Vars::default().with("file", file.clone()));
            return self.browser.find(&bound).await;
        }
        for element in self.browser.find_all(&rec.row.plain()).await? {
            match self.read_row(&element).await? {
                Cells::Read(info) if info == row.info => return Ok(Some(element)),
                Cells::Redrawn => return Ok(None),
                _ => {}
            }
        }
        Ok(None)
    }
}

/// One try at clicking a row's download control.
enum Click {
    Done(Instant),
    /// The row is not (or no longer) shown, or went stale under the click.
    NoRow,
    /// The row is shown without the control (yet).
    NoControl,
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
