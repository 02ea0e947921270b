//! Reading the Recordings list only once it holds still, with or without a `busy` marker.
//!
//! Consoles redraw their lists in ways the worker cannot see coming: cleared to a placeholder
//! while the next page loads, old rows kept under a mask, rows drawn in two steps or replaced
//! just after they appear. So a list is read only when rows are present and the same on two
//! reads a moment apart. An empty list counts as empty when the file's optional
//! `[recordings] empty` marker shows on two reads; a list with no rows and no marker for the
//! whole element timeout is told apart (it may be a `row` locator that no longer matches). An
//! element that goes stale while being read is looked up again within the same bounded wait.

use chrono::NaiveDateTime;
use fantoccini::elements::Element;
use tokio::time::Instant;

use super::browser::Step;
use super::downloads::names_a_file;
use super::error::ConsoleErrorKind;
use super::evidence::PageRead;
use super::optional;
use super::recordings::{RecordingsPage, RowInfo};
use super::selectors::Bound;

/// What a settled read of the list gave.
pub(crate) enum Listed {
    /// Rows present and the same on two reads.
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
    /// An element went stale while being read: the list is being redrawn.
    Redrawn,
    /// A row without one of its cells: drawn in steps, or the file no longer fits the console.
    Incomplete(Bound),
}

/// What reading one row's cells gave.
pub(crate) enum Cells {
    Read(RowInfo),
    /// This cell's locator found nothing in the row.
    Missing(Bound),
    /// The row was redrawn while being read.
    Redrawn,
}

impl RecordingsPage<'_> {
    /// Waits (bounded by the element timeout) for the list to hold still and reads it.
    pub(super) async fn read_settled(&self) -> Step<Listed> {
        let timeouts = self.browser.timeouts;
        let deadline = Instant::now() + timeouts.element;
        let mut previous: Option<Look> = None;
        let mut empty_since: Option<Instant> = None;
        // Whether anything but an empty list was seen: a list empty all along gets its full
        // element timeout of emptiness before it counts as rowless.
        let mut anything_shown = false;
        loop {
            self.browser.wait_until_idle(&self.selectors.busy).await?;
            let look = self.look().await?;
            let now = Instant::now();
            match &look {
                Look::Rows(rows) if previous.as_ref() == Some(&look) => {
                    return Ok(Listed::Rows(rows.clone()));
                }
                Look::Empty { marker: true } if previous.as_ref() == Some(&look) => {
                    return Ok(Listed::Not(PageRead::Empty));
                }
                Look::Empty { .. } => {
                    let since = *empty_since.get_or_insert(now);
                    if now - since >= timeouts.element {
                        return Ok(Listed::Not(PageRead::NoRows));
                    }
                }
                Look::Rows(_) | Look::Redrawn | Look::Incomplete(_) => {
                    empty_since = None;
                    anything_shown = true;
                }
            }
            if now >= deadline && anything_shown {
                tracing::debug!(last = ?look, "the list did not settle within the element timeout");
                return match look {
                    // Rows that never get a cell the file requires: the file no longer fits.
                    Look::Incomplete(missing) => Err(ConsoleErrorKind::missing(&missing)),
                    _ if previous.is_none() => Ok(Listed::Not(PageRead::TimedOut)),
                    _ => Ok(Listed::Not(PageRead::Unsettled)),
                };
            }
            previous = Some(look);
            // The "moment apart" of the two reads.
            tokio::time::sleep(timeouts.poll).await;
        }
    }

    /// One read of every row shown, or of the empty state.
    async fn look(&self) -> Step<Look> {
        let elements = self
            .browser
            .find_all(&self.selectors.recordings.row.plain())
            .await?;
        if elements.is_empty() {
            let marker = match &self.selectors.recordings.empty {
                Some(empty) => optional::find(self.browser, &empty.plain())
                    .await?
                    .is_some(),
                None => false,
            };
            return Ok(Look::Empty { marker });
        }
        let mut rows = Vec::with_capacity(elements.len());
        for element in &elements {
            match self.read_row(element).await? {
                Cells::Read(row) => rows.push(row),
                Cells::Missing(bound) => return Ok(Look::Incomplete(bound)),
                Cells::Redrawn => return Ok(Look::Redrawn),
            }
        }
        Ok(Look::Rows(rows))
    }

    /// Enough of the rows shown to tell that a click changed them, for a fraction of the
    /// round trips of reading them all; a row redrawn while read is looked up again.
    pub(super) async fn shown(&self) -> Step<Shown> {
        let deadline = Instant::now() + self.browser.timeouts.element;
        loop {
            match self.shown_once().await {
                Err(ConsoleErrorKind::Stale { step }) if Instant::now() >= deadline => {
                    return Err(ConsoleErrorKind::Stale { step })
                }
                Err(ConsoleErrorKind::Stale { .. }) => {
                    tokio::time::sleep(self.browser.timeouts.poll / 5).await;
                }
                other => return other,
            }
        }
    }

    async fn shown_once(&self) -> Step<Shown> {
        self.browser.wait_until_idle(&self.selectors.busy).await?;
        let elements = self
            .browser
            .find_all(&self.selectors.recordings.row.plain())
            .await?;
        Ok(Shown {
            count: elements.len(),
            first: self.partial_row(elements.first()).await?,
            last: self.partial_row(elements.last()).await?,
        })
    }

    /// One row for [`Shown`]: `None` when there is none, or it is part-drawn (the settled read
    /// that follows decides).
    async fn partial_row(&self, element: Option<&Element>) -> Step<Option<RowInfo>> {
        let Some(element) = element else {
            return Ok(None);
        };
        match self.read_row(element).await? {
            Cells::Read(row) => Ok(Some(row)),
            Cells::Missing(_) => Ok(None),
            Cells::Redrawn => Err(ConsoleErrorKind::Stale {
                step: "reading the rows shown",
            }),
        }
    }

    /// What one row says. A cell that is there but empty reads as empty: the second read of a
    /// settled list tells a row drawn in steps from a finished one.
    pub(super) async fn read_row(&self, row: &Element) -> Step<Cells> {
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
                None => return Ok(Cells::Missing(bound)),
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
