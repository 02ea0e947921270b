//! Reading the Recordings list only once it holds still, with or without a `busy` marker.
//!
//! Consoles redraw their lists in ways the worker cannot see coming: cleared to a placeholder
//! while the next page loads, old rows kept under a mask, rows drawn in two steps or replaced
//! just after they appear. So a list is read only once it has gone quiet: watched from inside
//! the page (`quiet.js`), nothing in or around the list changed for the quiet period and none
//! of the page's own requests is in flight; the rows are then read in the same turn of the
//! page, so the read is one state of the list. Rows with a blank cell (drawn in steps) must stay
//! quiet longer. An empty list counts as empty when the file's optional `[recordings] empty`
//! marker shows on a quiet page; a list with no rows and no marker for the whole element timeout
//! is told apart (it may be a `row` locator that no longer matches). A list that never goes
//! quiet within the element timeout is an uncertain read, never evidence.

use std::time::Duration;

use chrono::NaiveDateTime;
use fantoccini::elements::Element;
use tokio::time::Instant;

use super::{RecordingsPage, RowInfo};
use crate::console::browser::{
    quiet_period, PageRow, PageSelector, Quiet, QuietSpec, RowsSpec, Step, Timeouts,
};
use crate::console::downloads::names_a_file;
use crate::console::error::ConsoleErrorKind;
use crate::console::evidence::PageRead;
use crate::selectors::Bound;

/// What a settled read of the list gave.
pub(crate) enum Listed {
    /// Rows present, read once the list had gone quiet.
    Rows(Vec<RowInfo>),
    /// No rows to trust: confirmed empty, or never settled, or nothing readable.
    Not(PageRead),
}

/// How many rows are shown, and the first and the last: another page changes the first row,
/// "load more" the count.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Shown {
    count: usize,
    first: Option<RowInfo>,
    last: Option<RowInfo>,
}

/// One read of the rows shown now.
#[derive(Debug, PartialEq, Eq)]
enum Look {
    Rows(Vec<RowInfo>),
    Empty {
        marker: bool,
    },
    /// A row without one of its cells: drawn in steps, or the file no longer fits the console.
    Incomplete(Bound),
}

/// What reading one row's cells gave.
pub(crate) enum Cells {
    Read(RowInfo),
    /// A cell's locator found nothing in the row.
    Missing,
    /// The row was redrawn while being read.
    Redrawn,
}

/// How long a list showing a blank cell must stay quiet: rows drawn in two steps look finished
/// between them. Long enough for a second step that waits on a timer, short of the element
/// timeout.
fn steps_quiet_period(timeouts: &Timeouts) -> Duration {
    (quiet_period(timeouts) * 4)
        .max(Duration::from_secs(1))
        .min(timeouts.element / 4)
}

/// One wait in the page for the list to go quiet: short enough that the row and busy checks
/// between two of them keep up with the page.
const LOOK_BUDGET: Duration = Duration::from_secs(1);

/// The least wait a look is given, even when the element timeout is (almost) spent: enough for
/// the page to judge a list that changed just before quiet (`quiet.js` needs the quiet period
/// and two looks in a row). Without it, once the busy marker or slow round trips had taken the
/// rest of the timeout, the last look could only answer "not quiet", and a list that was quiet
/// all along came back as doubt.
fn least_look(timeouts: &Timeouts) -> Duration {
    (quiet_period(timeouts) * 2).min(LOOK_BUDGET)
}

/// A look at the list: the rows, and whether it was quiet and for how long.
struct Seen {
    look: Look,
    quiet: bool,
    since: Duration,
}

/// Whether every row shows every cell's text: rows drawn in steps show blank ones between the
/// steps.
fn finished(rows: &[RowInfo]) -> bool {
    rows.iter()
        .all(|r| r.time.is_some() && !r.caller.is_empty() && !r.callee.is_empty())
}

fn millis(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

impl RecordingsPage<'_> {
    /// Waits (bounded by the element timeout, and one last look of at least [`least_look`]) for
    /// the list to go quiet and reads it.
    pub(in crate::console) async fn read_settled(&self) -> Step<Listed> {
        let timeouts = self.browser.timeouts;
        let deadline = Instant::now() + timeouts.element;
        let steps_quiet = steps_quiet_period(&timeouts);
        let mut empty_since: Option<Instant> = None;
        // Whether anything but an empty list was seen: a list empty all along gets its full
        // element timeout of emptiness before it counts as rowless.
        let mut anything_shown = false;
        let mut first_look = true;
        loop {
            self.browser.wait_until_idle(&self.selectors.busy).await?;
            let budget = deadline
                .saturating_duration_since(Instant::now())
                .clamp(least_look(&timeouts), LOOK_BUDGET);
            let seen = self.look(quiet_period(&timeouts), budget).await?;
            let now = Instant::now();
            match &seen.look {
                Look::Rows(rows) if seen.quiet && (seen.since >= steps_quiet || finished(rows)) => {
                    return Ok(Listed::Rows(rows.clone()));
                }
                Look::Empty { marker: true } if seen.quiet => {
                    return Ok(Listed::Not(PageRead::Empty));
                }
                Look::Empty { .. } => {
                    let since = *empty_since.get_or_insert(now);
                    if now - since >= timeouts.element {
                        return Ok(Listed::Not(PageRead::NoRows));
                    }
                }
                Look::Rows(_) | Look::Incomplete(_) => {
                    empty_since = None;
                    anything_shown = true;
                }
            }
            if now >= deadline && anything_shown {
                tracing::debug!(last = ?seen.look, quiet = seen.quiet, "the list did not settle within the element timeout");
                return match seen.look {
                    // Rows that never get a cell the file requires: the file no longer fits.
                    Look::Incomplete(missing) => Err(ConsoleErrorKind::missing(&missing)),
                    // The busy markers alone took the whole wait.
                    _ if first_look => Ok(Listed::Not(PageRead::TimedOut)),
                    _ => Ok(Listed::Not(PageRead::Unsettled)),
                };
            }
            first_look = false;
            if seen.quiet {
                // Quiet but not yet readable (no rows, blank cells): look again a moment later.
                tokio::time::sleep(timeouts.poll).await;
            }
        }
    }

    /// Waits in the page, up to `budget`, for the list to be quiet for `quiet`, and reads every
    /// row shown then, or the empty state.
    async fn look(&self, quiet: Duration, budget: Duration) -> Step<Seen> {
        let rec = &self.selectors.recordings;
        let row = rec.row.plain();
        let cells = [rec.time.plain(), rec.caller.plain(), rec.callee.plain()];
        let empty = rec.empty.as_ref().map(|e| e.plain());
        let spec = QuietSpec {
            quiet_ms: millis(quiet),
            budget_ms: millis(budget),
            scope: vec![PageSelector::from(&rec.ready.plain())],
            rows_scope: Some(PageSelector::from(&row)),
            read: Some(RowsSpec {
                row: PageSelector::from(&row),
                cells: cells.iter().map(PageSelector::from).collect(),
                file: rec.file_attribute.clone(),
                empty: empty.as_ref().map(PageSelector::from),
            }),
            ..QuietSpec::default()
        };
        let answer = self.browser.until_quiet(&spec).await?;
        let look = self.look_from(&answer, &row, &cells, empty.as_ref())?;
        Ok(Seen {
            look,
            quiet: answer.quiet,
            since: Duration::from_millis(answer.since),
        })
    }

    /// The page's answer as a [`Look`]; a selector the browser refuses is the file's fault
    /// (an `empty` marker, being optional, is warned about and taken as not shown).
    fn look_from(
        &self,
        answer: &Quiet,
        row: &Bound,
        cells: &[Bound; 3],
        empty: Option<&Bound>,
    ) -> Step<Look> {
        let refused = |bound: &Bound| {
            ConsoleErrorKind::missing_because(
                bound,
                " (the browser refuses the selector as invalid)",
            )
        };
        match answer.invalid.as_deref() {
            None => {}
            Some("row") => return Err(refused(row)),
            Some("empty") => {
                if let Some(empty) = empty {
                    self.browser
                        .warnings
                        .once(empty, "the browser refuses the selector as invalid");
                }
            }
            Some(cell) => {
                let index = cell.trim_start_matches("cell ").parse().unwrap_or(0);
                return Err(refused(&cells[index.min(2)]));
            }
        }
        if answer.rows.is_empty() {
            return Ok(Look::Empty {
                marker: answer.empty,
            });
        }
        let mut rows = Vec::with_capacity(answer.rows.len());
        for shown in &answer.rows {
            match self.row_info(shown) {
                Some(info) => rows.push(info),
                None => {
                    let missing = shown.missing.unwrap_or(0).min(2);
                    return Ok(Look::Incomplete(cells[missing].clone()));
                }
            }
        }
        Ok(Look::Rows(rows))
    }

    /// A row the page read in full; `None` when one of its cells was missing.
    fn row_info(&self, shown: &PageRow) -> Option<RowInfo> {
        if shown.missing.is_some() {
            return None;
        }
        let [time, caller, callee] = <[String; 3]>::try_from(shown.cells.clone()).ok()?;
        Some(RowInfo {
            // A row key that is no file name (the console's own id) is not taken for one.
            file: shown.file.clone().filter(|key| names_a_file(key)),
            caller,
            callee,
            time: NaiveDateTime::parse_from_str(&time, &self.selectors.recordings.time_format).ok(),
        })
    }

    /// Enough of the rows shown to tell that a click changed them: their count and the first
    /// and last rows, read in one round trip without waiting for quiet.
    pub(in crate::console) async fn shown(&self) -> Step<Shown> {
        self.browser.wait_until_idle(&self.selectors.busy).await?;
        let rec = &self.selectors.recordings;
        let row = rec.row.plain();
        let cells = [rec.time.plain(), rec.caller.plain(), rec.callee.plain()];
        let spec = QuietSpec {
            read: Some(RowsSpec {
                row: PageSelector::from(&row),
                cells: cells.iter().map(PageSelector::from).collect(),
                file: rec.file_attribute.clone(),
                empty: None,
            }),
            ..QuietSpec::default()
        };
        let answer = self.browser.until_quiet(&spec).await?;
        self.look_from(&answer, &row, &cells, None)?;
        // A part-drawn row is `None`: the settled read that follows decides.
        Ok(Shown {
            count: answer.rows.len(),
            first: answer.rows.first().and_then(|r| self.row_info(r)),
            last: answer.rows.last().and_then(|r| self.row_info(r)),
        })
    }

    /// What one row says, read by WebDriver: for finding one row element again. A cell that is
    /// there but empty reads as empty.
    pub(in crate::console) async fn read_row(&self, row: &Element) -> Step<Cells> {
        match self.read_cells(row).await {
            Err(ConsoleErrorKind::Stale { .. }) => Ok(Cells::Redrawn),
            other => other,
        }
    }

    async fn read_cells(&self, row: &Element) -> Step<Cells> {
        let rec = &self.selectors.recordings;
        let file = match &rec.file_attribute {
            Some(name) => self.browser.attr_of(row, name).await?,
            None => None,
        }
        .filter(|key| names_a_file(key));
        let mut texts = Vec::with_capacity(3);
        for selector in [&rec.time, &rec.caller, &rec.callee] {
            let bound = selector.plain();
            match self.browser.find_in(row, &bound).await? {
                Some(cell) => texts.push(self.browser.text_of(&cell).await?),
                None => return Ok(Cells::Missing),
            }
        }
        let [time, caller, callee] = <[String; 3]>::try_from(texts).expect("three cells");
        Ok(Cells::Read(RowInfo {
            file,
            caller,
            callee,
            time: NaiveDateTime::parse_from_str(&time, &rec.time_format).ok(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(caller: &str, time: bool) -> RowInfo {
        RowInfo {
            file: None,
            caller: caller.into(),
            callee: "2815058290".into(),
            time: time.then(|| {
                chrono::NaiveDate::from_ymd_opt(2026, 2, 6)
                    .unwrap()
                    .and_hms_opt(12, 0, 0)
                    .unwrap()
            }),
        }
    }

    #[test]
    fn a_list_drawn_in_steps_waits_longer_than_a_finished_one_within_the_element_timeout() {
        let production = Timeouts::default();
        assert_eq!(quiet_period(&production), Duration::from_millis(250));
        assert_eq!(steps_quiet_period(&production), Duration::from_secs(1));
        assert_eq!(least_look(&production), Duration::from_millis(500));
        let hurried = Timeouts {
            poll: Duration::from_millis(10),
            element: Duration::from_secs(2),
            ..Timeouts::default()
        };
        assert_eq!(quiet_period(&hurried), Duration::from_millis(100));
        assert_eq!(steps_quiet_period(&hurried), Duration::from_millis(500));
        assert_eq!(least_look(&hurried), Duration::from_millis(200));
        assert!(finished(&[row("1000", true), row("1001", true)]));
        assert!(!finished(&[row("1000", true), row("1001", false)]));
        assert!(!finished(&[row("", true)]));
    }
}
