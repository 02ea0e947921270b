//! The Recordings list learnt from one page: the rows that show known calls, the row, cell and
//! download locators common to them, the time format, and the order of the list.

use chrono::{NaiveDateTime, TimeZone};
use scraper::ElementRef;

use super::{xpath_literal, Found, KnownCall};
use crate::selectors::dom::{
    self, classes, own_hooks, parent, says, select_in, stable_classes, text, Page,
};

/// The formats a console may write call times in, tried against the known start times.
pub const TIME_FORMATS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
];

/// How far a shown time may be from the call's start and still be its row.
const TIME_TOLERANCE_MINUTES: i64 = 10;

/// The recordings list as learnt from one page.
#[derive(Debug, Clone)]
pub struct List {
    pub ready: Found,
    pub row: Found,
    pub file_attribute: Option<String>,
    pub row_for_file: Option<Found>,
    pub caller: Found,
    pub callee: Found,
    pub time: Found,
    pub time_format: String,
    pub download: Found,
    pub newest_first: bool,
    /// The known calls whose rows were found, by index into the calls given.
    pub calls_found: Vec<usize>,
}

/// Why the list could not be learnt from a page: what was missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListMiss {
    #[error(
        "no row of a known call on the page (looked for {0} calls by caller, callee and time)"
    )]
    Rows(usize),
    #[error("the rows have no common selector")]
    RowSelector,
    #[error("no {0} cell selector holds for every row")]
    Cell(&'static str),
    #[error("no time format matches the known start times")]
    TimeFormat,
    #[error("no download control (title, label, text or class naming download) in the rows")]
    Download,
}

/// A known call's row on the page and its cells.
struct RowHit<'a> {
    call: usize,
    row: ElementRef<'a>,
    caller: ElementRef<'a>,
    callee: ElementRef<'a>,
    time: ElementRef<'a>,
}

/// The cells of a row the learner looks for.
#[derive(Debug, Clone, Copy)]
enum Cell {
    Caller,
    Callee,
    Time,
}

impl Cell {
    fn name(self) -> &'static str {
        match self {
            Cell::Caller => "caller",
            Cell::Callee => "callee",
            Cell::Time => "time",
        }
    }
}

impl<'a> RowHit<'a> {
    fn cell(&self, cell: Cell) -> ElementRef<'a> {
        match cell {
            Cell::Caller => self.caller,
            Cell::Callee => self.callee,
            Cell::Time => self.time,
        }
    }
}

/// Learns the list from a page showing some known calls, times shown in `tz`.
pub fn list(page: &Page, calls: &[KnownCall], tz: chrono_tz::Tz) -> Result<List, ListMiss> {
    let mut hits: Vec<RowHit<'_>> = calls
        .iter()
        .enumerate()
        .filter_map(|(i, call)| find_row(page, i, call, tz))
        .collect();
    // In page order, to tell the list's order.
    let position = |row: ElementRef<'_>| page.elements().position(|e| dom::same(e, row));
    hits.sort_by_key(|h| position(h.row));
    let first = hits.first().ok_or(ListMiss::Rows(calls.len()))?;
    let file_attribute = file_attribute(first.row, &calls[first.call]);
    let row = row_selector(page, &hits, file_attribute.as_deref())?;
    let container = parent(first.row).ok_or(ListMiss::RowSelector)?;
    let ready = dom::unique_selector(page, container)
        .map(|css| Found::css(css, 1, &format!("{} rows", hits.len())))
        .ok_or(ListMiss::RowSelector)?;
    let cell = |cell: Cell| cell_selector(&hits, cell).ok_or(ListMiss::Cell(cell.name()));
    let caller = cell(Cell::Caller)?;
    let callee = cell(Cell::Callee)?;
    let time = cell(Cell::Time)?;
    let time_format = time_format(&hits, calls, tz).ok_or(ListMiss::TimeFormat)?;
    let download = download(&hits).ok_or(ListMiss::Download)?;
    let row_for_file = file_attribute.as_deref().map(|attr| {
        Found::css(
            format!("{}[{attr}=\"{{file}}\"]", first.row.value().name()),
            1,
            &calls[first.call].files[0],
        )
    });
    Ok(List {
        ready,
        row,
        file_attribute,
        row_for_file,
        caller,
        callee,
        time,
        time_format,
        download,
        newest_first: newest_first(&hits, calls),
        calls_found: hits.iter().map(|h| h.call).collect(),
    })
}

/// The call's row: the smallest element holding a cell showing its caller, one its callee and
/// one a time near its start (the nearest such time: calls may be minutes apart). Several calls
/// may share a caller, so every caller cell is tried and the deepest row wins.
fn find_row<'a>(
    page: &'a Page,
    index: usize,
    call: &KnownCall,
    tz: chrono_tz::Tz,
) -> Option<RowHit<'a>> {
    let leaves = |want: &dyn Fn(&str) -> bool| -> Vec<ElementRef<'a>> {
        page.elements()
            .filter(|e| want(&text(*e)))
            .filter(|e| !e.child_elements().any(|c| want(&text(c))))
            .collect()
    };
    let callers = leaves(&|t| t == call.caller);
    let callees = leaves(&|t| t == call.callee);
    let times = leaves(&|t| time_gap(t, call, tz).is_some());
    let gap = |cell: &ElementRef<'a>| time_gap(&text(*cell), call, tz).unwrap_or(i64::MAX);
    callers
        .iter()
        .filter_map(|&caller| {
            caller
                .ancestors()
                .filter_map(ElementRef::wrap)
                .find_map(|row| {
                    let inside =
                        |c: &&ElementRef<'a>| dom::contains(row, **c) && !dom::same(**c, caller);
                    Some(RowHit {
                        call: index,
                        row,
                        caller,
                        callee: *callees.iter().find(inside)?,
                        time: *times.iter().filter(inside).min_by_key(|c| gap(c))?,
                    })
                })
        })
        .max_by_key(|hit| (hit.row.ancestors().count(), -gap(&hit.time)))
}

/// How many seconds `shown` is from the call's start in `tz`, read with the first format that
/// puts it within the tolerance.
fn time_gap(shown: &str, call: &KnownCall, tz: chrono_tz::Tz) -> Option<i64> {
    let local = tz.from_utc_datetime(&call.start_utc).naive_local();
    TIME_FORMATS.iter().find_map(|format| {
        let gap = (NaiveDateTime::parse_from_str(shown, format).ok()? - local)
            .num_seconds()
            .abs();
        (gap <= TIME_TOLERANCE_MINUTES * 60).then_some(gap)
    })
}

/// The row attribute whose value is one of the call's files.
fn file_attribute(row: ElementRef<'_>, call: &KnownCall) -> Option<String> {
    row.value()
        .attrs()
        .find(|(_, value)| call.files.iter().any(|f| f == value))
        .map(|(name, _)| name.to_string())
}

/// A selector matching every found row, and only elements like them (same tag, same parent).
fn row_selector(
    page: &Page,
    hits: &[RowHit<'_>],
    file_attribute: Option<&str>,
) -> Result<Found, ListMiss> {
    let first = hits[0].row;
    let tag = first.value().name();
    let mut tails: Vec<String> = file_attribute
        .map(|a| format!("{tag}[{a}]"))
        .into_iter()
        .collect();
    tails.extend(
        first
            .value()
            .attrs()
            .filter(|(n, _)| n.starts_with("data-") || *n == "role")
            .map(|(n, v)| match n {
                "role" => format!("{tag}[role={}]", dom::quote(v)),
                _ => format!("{tag}[{n}]"),
            }),
    );
    tails.extend(stable_classes(first).iter().map(|c| format!("{tag}.{c}")));
    tails.push(tag.to_string());
    let container = parent(first).ok_or(ListMiss::RowSelector)?;
    let mut heads: Vec<String> = own_hooks(container);
    heads.extend(dom::unique_selector(page, container));
    let candidates = heads
        .iter()
        .flat_map(|h| tails.iter().map(move |t| format!("{h} > {t}")))
        .chain(tails.iter().cloned());
    for css in candidates {
        let Some(matched) = page.select(&css) else {
            continue;
        };
        let all_rows = hits
            .iter()
            .all(|h| matched.iter().any(|m| dom::same(*m, h.row)));
        let only_rows = matched.iter().all(|m| {
            m.value().name() == tag && parent(*m).is_some_and(|p| dom::same(p, container))
        });
        if all_rows && only_rows {
            let example = text(first);
            return Ok(Found::css(css, matched.len(), &example));
        }
    }
    Err(ListMiss::RowSelector)
}

/// A selector, relative to the row, that finds the picked cell in every found row: its stable
/// hooks that do not spell its value, else its position among its siblings.
fn cell_selector(hits: &[RowHit<'_>], cell: Cell) -> Option<Found> {
    let first = hits[0].cell(cell);
    let shown = text(first);
    let mut candidates: Vec<String> = own_hooks(first)
        .into_iter()
        .filter(|h| shown.is_empty() || !h.contains(shown.as_str()))
        .collect();
    let position = first.prev_siblings().filter_map(ElementRef::wrap).count() + 1;
    candidates.push(format!("{}:nth-child({position})", first.value().name()));
    candidates.into_iter().find_map(|css| {
        let holds = hits.iter().all(|h| {
            select_in(h.row, &css)
                .and_then(|found| found.first().copied())
                .is_some_and(|found| dom::same(found, h.cell(cell)))
        });
        holds.then(|| Found::css(css, hits.len(), &shown))
    })
}

/// The format every found row's time reads as its call's start.
fn time_format(hits: &[RowHit<'_>], calls: &[KnownCall], tz: chrono_tz::Tz) -> Option<String> {
    TIME_FORMATS
        .iter()
        .find(|format| {
            hits.iter().all(|h| {
                let local = tz.from_utc_datetime(&calls[h.call].start_utc).naive_local();
                NaiveDateTime::parse_from_str(&text(h.time), format)
                    .is_ok_and(|t| (t - local).num_minutes().abs() <= TIME_TOLERANCE_MINUTES)
            })
        })
        .map(|f| f.to_string())
}

/// The download control in the rows: an element whose class, title, label or text names
/// download; by class first, then title / label, else its text.
fn download(hits: &[RowHit<'_>]) -> Option<Found> {
    let row = hits[0].row;
    let names_download = |e: ElementRef<'_>| {
        says(e).split_whitespace().any(|w| w == "download")
            || classes(e).any(|c| c.to_lowercase().contains("download"))
    };
    // The innermost: a cell holding the control says "download" too.
    let control = row
        .descendent_elements()
        .filter(|e| names_download(*e))
        .find(|e| !e.descendent_elements().skip(1).any(names_download))?;
    let tag = control.value().name();
    let v = control.value();
    let by_class = stable_classes(control)
        .into_iter()
        .filter(|c| c.to_lowercase().contains("download"))
        .map(|c| format!("{tag}.{c}"));
    let by_label = ["title", "aria-label"].into_iter().filter_map(|a| {
        v.attr(a)
            .map(|value| format!("{tag}[{a}={}]", dom::quote(value)))
    });
    let shown = says(control);
    for css in by_class.chain(by_label) {
        let in_every_row = hits
            .iter()
            .all(|h| select_in(h.row, &css).is_some_and(|f| !f.is_empty()));
        if in_every_row {
            return Some(Found::css(css, hits.len(), &shown));
        }
    }
    let words = text(control);
    (!words.is_empty()).then(|| {
        Found::xpath(
            format!(".//{tag}[normalize-space()={}]", xpath_literal(&words)),
            hits.len(),
            &words,
        )
    })
}

/// Whether the rows, in page order, go from the newest call to older ones.
fn newest_first(hits: &[RowHit<'_>], calls: &[KnownCall]) -> bool {
    let order: Vec<usize> = hits.iter().map(|h| h.call).collect();
    listed_newest_first(&order, calls)
}

/// Whether known calls, in the order the list showed them (over every page walked), go from the
/// newest to older ones. Two at least: one call shows no order.
pub fn listed_newest_first(order: &[usize], calls: &[KnownCall]) -> bool {
    order.len() >= 2
        && order
            .windows(2)
            .all(|w| calls[w[0]].start_utc >= calls[w[1]].start_utc)
}
