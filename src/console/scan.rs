//! Reading the newest part of the Recordings list: what the console shows since the last read.
//!
//! The list is read newest first from page 1, down to a stop line (the newest row the last read
//! saw, or the start of a window the first time), and never beyond a page budget. Only settled
//! pages count: one page that does not settle makes the whole read uncertain, so nothing it saw
//! is taken as fact.

use chrono::NaiveDateTime;

use super::browser::Step;
use super::error::ConsoleErrorKind;
use super::evidence::PageRead;
use super::recordings::{Listed, Paged, RecordingsPage, RowInfo};
use crate::selectors::ListOrder;

/// Where a read of the newest rows stops, in the console's time zone.
#[derive(Debug, Clone)]
pub(crate) struct StopLine {
    /// The newest row the last read saw: rows older than it, and it, were read before.
    pub newest: Option<(NaiveDateTime, String)>,
    /// Rows older than this are not wanted (the first read's window).
    pub not_before: NaiveDateTime,
    /// Pages read at most.
    pub max_pages: usize,
}

/// How a read of the newest rows ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanEnd {
    /// It came to the stop line: everything newer was read.
    StopLine,
    /// The list ended before the stop line.
    EndOfList,
    /// The page budget ran out first: older rows above the stop line were not read.
    Budget,
}

/// The rows above the stop line, newest first, and how the read ended.
#[derive(Debug, Clone)]
pub(crate) struct Newest {
    pub rows: Vec<RowInfo>,
    pub pages: usize,
    pub end: ScanEnd,
}

impl StopLine {
    /// Whether `row` is at or below the line (read before, or too old).
    fn reached_by(&self, row: &RowInfo) -> bool {
        let Some(time) = row.time else { return false };
        if time < self.not_before {
            return true;
        }
        match &self.newest {
            Some((at, file)) => time < *at || row.file.as_deref() == Some(file.as_str()),
            None => false,
        }
    }
}

impl RecordingsPage<'_> {
    /// Reads the list from page 1 down to `line`; an unsettled page is an error, so a caller
    /// never acts on half a read.
    pub(crate) async fn read_newest(&mut self, line: &StopLine) -> Step<Newest> {
        if self.selectors.recordings.order != ListOrder::NewestFirst {
            return Err(ConsoleErrorKind::ListUncertain {
                doubt: "the selectors file does not say the list is newest first \
                        (`[recordings] order`), so its newest rows cannot be told"
                    .into(),
                pages: 0,
            });
        }
        self.open().await?;
        let mut rows = Vec::new();
        for pages in 1..=line.max_pages.max(1) {
            let page_rows = match self.read_settled().await? {
                Listed::Rows(rows) => rows,
                Listed::Not(PageRead::Empty) => return Ok(newest(rows, pages, ScanEnd::EndOfList)),
                Listed::Not(read) => {
                    return Err(ConsoleErrorKind::ListUncertain {
                        doubt: format!("page {pages} of the list read as {read:?}"),
                        pages,
                    })
                }
            };
            let reached = page_rows.iter().any(|r| line.reached_by(r));
            rows.extend(page_rows.into_iter().filter(|r| !line.reached_by(r)));
            if reached {
                return Ok(newest(rows, pages, ScanEnd::StopLine));
            }
            if pages == line.max_pages.max(1) {
                return Ok(newest(rows, pages, ScanEnd::Budget));
            }
            match self.reach_page(pages + 1).await? {
                Paged::Reached => {}
                Paged::End => return Ok(newest(rows, pages, ScanEnd::EndOfList)),
                Paged::NoChange => {
                    return Err(ConsoleErrorKind::ListUncertain {
                        doubt: format!("page {} of the list did not come", pages + 1),
                        pages,
                    })
                }
            }
        }
        unreachable!("the loop returns on its last page")
    }
}

fn newest(rows: Vec<RowInfo>, pages: usize, end: ScanEnd) -> Newest {
    Newest { rows, pages, end }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn row(file: &str, time: &str) -> RowInfo {
        RowInfo {
            file: Some(file.into()),
            caller: "1000".into(),
            callee: "2000".into(),
            time: Some(at(time)),
        }
    }

    #[test]
    fn the_line_is_the_last_newest_row_or_the_window() {
        let line = StopLine {
            newest: Some((at("2026-12-02 10:00:00"), "b.wav".into())),
            not_before: at("2026-12-01 10:00:00"),
            max_pages: 3,
        };
        assert!(!line.reached_by(&row("c.wav", "2026-12-02 10:05:00")));
        // Same second, another file: a new row.
        assert!(!line.reached_by(&row("a.wav", "2026-12-02 10:00:00")));
        assert!(line.reached_by(&row("b.wav", "2026-12-02 10:00:00")));
        assert!(line.reached_by(&row("z.wav", "2026-12-02 09:59:59")));
        let first = StopLine {
            newest: None,
            ..line
        };
        assert!(!first.reached_by(&row("z.wav", "2026-12-02 09:59:59")));
        assert!(first.reached_by(&row("z.wav", "2026-12-01 09:59:59")));
    }
}
