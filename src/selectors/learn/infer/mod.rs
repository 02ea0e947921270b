//! What a page shows, inferred from its HTML and the tenant's known calls: the login form, the
//! signed-in marker, the way to the Recordings list, its rows and cells, the download control,
//! paging, busy markers and the firmware version. Pure: pages in, [`Found`] locators out, each
//! with what it matched, so the draft can say why.

use chrono::{NaiveDateTime, TimeZone};
use scraper::ElementRef;

use super::dom::{self, classes, own_hooks, parent, says, select_in, stable_classes, text, Page};
use crate::selectors::Strategy;

/// A call the tenant's `cdr_records` knows, to be found on the list.
#[derive(Debug, Clone)]
pub struct KnownCall {
    /// Its recording files as `recordfiles` holds them (`2026-02/auto-….wav`).
    pub files: Vec<String>,
    pub caller: String,
    pub callee: String,
    pub start_utc: NaiveDateTime,
}

/// One inferred locator and its evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub strategy: Strategy,
    pub selector: String,
    /// How many elements it matched on the page it was learnt from.
    pub matched: usize,
    /// What the first of them shows (text or label), for the draft's comment.
    pub example: String,
}

impl Found {
    fn css(selector: String, matched: usize, example: &str) -> Self {
        Found {
            strategy: Strategy::Css,
            selector,
            matched,
            example: shorten(example),
        }
    }

    fn xpath(selector: String, matched: usize, example: &str) -> Self {
        Found {
            strategy: Strategy::XPath,
            selector,
            matched,
            example: shorten(example),
        }
    }
}

fn shorten(text: &str) -> String {
    const MAX: usize = 60;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// A found element as a locator: its unique CSS, else its text as XPath.
fn locate(page: &Page, el: ElementRef<'_>) -> Found {
    let shown = text(el);
    match dom::unique_selector(page, el) {
        Some(css) => Found::css(css, 1, &shown),
        None => Found::xpath(
            format!(
                "//{}[normalize-space()={}]",
                el.value().name(),
                xpath_literal(&shown)
            ),
            1,
            &shown,
        ),
    }
}

/// An XPath string literal (XPath 1.0 has no escapes: pick the quote the text does not hold).
fn xpath_literal(text: &str) -> String {
    match text.contains('\'') {
        false => format!("'{text}'"),
        true => format!("\"{}\"", text.replace('"', "")),
    }
}

// ---- login --------------------------------------------------------------------------------

/// The login form's three controls.
#[derive(Debug, Clone)]
pub struct LoginForm {
    pub username: Found,
    pub password: Found,
    pub submit: Found,
}

/// Words on a control that sends a login form.
const SUBMIT_WORDS: &[&str] = &["log in", "login", "sign in", "signin", "submit", "enter"];

fn input_type(el: ElementRef<'_>) -> Option<String> {
    (el.value().name() == "input").then(|| {
        el.value()
            .attr("type")
            .unwrap_or("text")
            .to_ascii_lowercase()
    })
}

fn is_text_input(el: ElementRef<'_>) -> bool {
    input_type(el).is_some_and(|t| matches!(t.as_str(), "text" | "email" | "tel"))
}

fn is_submit_control(el: ElementRef<'_>) -> bool {
    match (el.value().name(), input_type(el).as_deref()) {
        ("button", _) => true,
        ("input", Some("submit" | "button" | "image")) => true,
        _ => el.value().attr("role") == Some("button"),
    }
}

/// The password input, the text input of the same form or container, and the control that
/// submits it (its words, else the only button there). `None` when the page has no such form.
pub fn login_form(page: &Page) -> Option<LoginForm> {
    let password = page
        .elements()
        .find(|e| input_type(*e).as_deref() == Some("password"))?;
    // The nearest container holding a text input and a submit control too.
    let container = password
        .ancestors()
        .filter_map(ElementRef::wrap)
        .find(|c| {
            c.descendent_elements().any(is_text_input)
                && c.descendent_elements().any(is_submit_control)
        })?;
    let username = container
        .descendent_elements()
        .find(|e| is_text_input(*e))?;
    let controls: Vec<_> = container
        .descendent_elements()
        .filter(|e| is_submit_control(*e))
        .collect();
    let submit = controls
        .iter()
        .find(|c| {
            let said = says(**c);
            c.value().attr("type") == Some("submit")
                || SUBMIT_WORDS.iter().any(|w| said.contains(w))
        })
        .or(controls.first())?;
    Some(LoginForm {
        username: locate(page, username),
        password: locate(page, password),
        submit: locate(page, *submit),
    })
}

// ---- after login --------------------------------------------------------------------------

/// Whether an element looks like the app's navigation (a signed-in marker).
fn is_navigation(el: ElementRef<'_>) -> bool {
    let v = el.value();
    let named = |s: &str| {
        let s = s.to_ascii_lowercase();
        ["nav", "menu", "sider", "sidebar"]
            .iter()
            .any(|w| s.contains(w))
    };
    v.name() == "nav"
        || v.attr("role")
            .is_some_and(|r| matches!(r, "navigation" | "menu" | "menubar"))
        || v.id().is_some_and(named)
        || classes(el).any(named)
}

/// The signed-in marker: the first navigation-like element after login that the login page
/// did not have, by a selector that matches on `after` and not on `before`.
pub fn signed_in(before: &Page, after: &Page) -> Option<Found> {
    after
        .elements()
        .filter(|e| is_navigation(*e))
        .find_map(|el| {
            let css = dom::unique_selector(after, el)?;
            let absent_before = before.select(&css).is_some_and(|f| f.is_empty());
            absent_before.then(|| Found::css(css, 1, &shorten(&text(el))))
        })
}

/// Names of the Recordings page in menus, lower-case.
pub const RECORDINGS_NAMES: &[&str] = &[
    "recordings",
    "recording files",
    "call recordings",
    "recording file",
    "recorded files",
    "recording",
];

/// The menu clicks to the Recordings page: its group's title (when the item sits in a group),
/// then the item itself.
pub fn recordings_menu(page: &Page) -> Option<Vec<Found>> {
    let named: Vec<_> = page
        .elements()
        .filter(|e| {
            let shown = text(*e).to_lowercase();
            RECORDINGS_NAMES.contains(&shown.as_str()) && is_clickable(*e)
        })
        .collect();
    // Outermost first; the first that has a stable selector of its own, else the outermost.
    let item = named
        .iter()
        .copied()
        .find(|e| dom::unique_selector(page, *e).is_some())
        .or(named.first().copied())?;
    let mut clicks = Vec::new();
    if let Some(title) = group_title(item) {
        clicks.push(locate(page, title));
    }
    clicks.push(locate(page, item));
    Some(clicks)
}

fn is_clickable(el: ElementRef<'_>) -> bool {
    let v = el.value();
    matches!(v.name(), "a" | "button" | "li")
        || v.attr("role")
            .is_some_and(|r| matches!(r, "menuitem" | "link" | "button" | "tab"))
        || v.attrs()
            .any(|(name, _)| name == "href" || name == "data-path")
}

/// The title of the menu group holding `item`: walking up, the first sibling before an
/// ancestor that is not one of its own kind (not another item) and has text.
fn group_title(item: ElementRef<'_>) -> Option<ElementRef<'_>> {
    let mut level = item;
    for _ in 0..4 {
        let title = level
            .prev_siblings()
            .filter_map(ElementRef::wrap)
            .find(|s| s.value().name() != level.value().name() && !text(*s).is_empty());
        if title.is_some() {
            return title;
        }
        level = parent(level)?;
    }
    None
}

/// The firmware marker: the innermost element whose text is a dotted version (`1.0.27.10`),
/// named or labelled near "version" / "firmware".
pub fn firmware_marker(page: &Page) -> Option<(Found, String)> {
    page.elements()
        .filter(|e| e.child_elements().next().is_none())
        .find_map(|el| {
            let version = dotted_version(&text(el))?;
            near_version_words(el).then(|| (locate(page, el), version))
        })
}

fn near_version_words(el: ElementRef<'_>) -> bool {
    let mentions = |s: &str| {
        let s = s.to_lowercase();
        ["version", "firmware", "prog"]
            .iter()
            .any(|w| s.contains(w))
    };
    let own = el.value().id().is_some_and(mentions) || classes(el).any(mentions);
    let label = el
        .prev_siblings()
        .filter_map(ElementRef::wrap)
        .next()
        .is_some_and(|s| mentions(&text(s)));
    let around = parent(el).is_some_and(|p| mentions(&text(p)));
    own || label || around
}

/// The first `n.n.n[.n…]` in `text`.
pub fn dotted_version(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|w| w.trim_matches('.'))
        .find(|w| {
            let parts: Vec<_> = w.split('.').collect();
            parts.len() >= 3 && parts.iter().all(|p| !p.is_empty())
        })
        .map(str::to_string)
}

// ---- the list -----------------------------------------------------------------------------

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

/// Words on a control that ends the session.
const LOGOUT_WORDS: &[&str] = &["logout", "log out", "sign out", "signout", "log off"];

/// The logout control after login: the innermost clickable element whose text, title or label
/// says log out.
pub fn logout(page: &Page) -> Option<Found> {
    let says_logout = |e: ElementRef<'_>| {
        let said = says(e);
        LOGOUT_WORDS.iter().any(|w| said.contains(w))
    };
    page.elements()
        .filter(|e| is_clickable(*e) && says_logout(*e))
        .find(|e| {
            !e.descendent_elements()
                .skip(1)
                .any(|c| is_clickable(c) && says_logout(c))
        })
        .map(|el| locate(page, el))
}

/// The page-number control of numbered paging, as a `{page}` template: an own hook of the
/// control showing "2" that names the number, and finds the control showing "1" with 1 in it.
pub fn page_number(page: &Page) -> Option<Found> {
    let shows = |css: &str, number: &str| {
        page.select(css)
            .is_some_and(|found| found.len() == 1 && text(found[0]) == number)
    };
    page.elements()
        .filter(|e| (is_clickable(*e) || e.value().name() == "li") && text(*e) == "2")
        .flat_map(own_hooks)
        .filter(|hook| hook.matches('2').count() == 1)
        .map(|hook| hook.replace('2', "{page}"))
        .find(|template| {
            shows(&template.replace("{page}", "2"), "2")
                && shows(&template.replace("{page}", "1"), "1")
        })
        .map(|template| Found::css(template, 1, "2"))
}

// ---- paging and busy markers --------------------------------------------------------------

/// How the list shows more rows, with its control.
#[derive(Debug, Clone)]
pub enum PagingGuess {
    Next(Found),
    LoadMore(Found),
    None,
}

/// The paging control: a "load more" / "more" control, or a "next" one (by its words, title or
/// class). Neither: one page.
pub fn paging(page: &Page) -> PagingGuess {
    let controls = || {
        page.elements()
            .filter(|e| is_clickable(*e) || e.value().name() == "li")
    };
    let more = controls().find(|e| {
        let said = says(*e);
        matches!(
            said.as_str(),
            "more" | "load more" | "show more" | "view more"
        )
    });
    if let Some(el) = more {
        return PagingGuess::LoadMore(locate(page, el));
    }
    let next = controls().find(|e| {
        let said = says(*e);
        said.split_whitespace().any(|w| w == "next")
            || matches!(said.trim(), ">" | "›" | "»")
            || stable_classes(*e)
                .iter()
                .any(|c| c.ends_with("-next") || *c == "next")
    });
    match next {
        Some(el) => PagingGuess::Next(locate(page, el)),
        None => PagingGuess::None,
    }
}

/// Busy markers: elements shown while a page loads (`during`) and gone once it settled, whose
/// class or id names loading (spin, load, mask, busy).
pub fn busy(during: &Page, settled: &Page) -> Vec<Found> {
    let names_loading = |s: &str| {
        let s = s.to_lowercase();
        ["spin", "load", "mask", "busy", "progress"]
            .iter()
            .any(|w| s.contains(w))
    };
    let mut found: Vec<Found> = Vec::new();
    for el in during.elements() {
        let v = el.value();
        let hooks = v
            .id()
            .filter(|id| names_loading(id))
            .map(|id| format!("{}#{id}", v.name()))
            .into_iter()
            .chain(
                classes(el)
                    .filter(|c| names_loading(c))
                    .map(|c| format!("{}.{c}", v.name())),
            );
        for css in hooks {
            let here = during.select(&css).map_or(0, |f| f.len());
            let gone = settled.select(&css).is_some_and(|f| f.is_empty());
            if here > 0 && gone && !found.iter().any(|f| f.selector == css) {
                found.push(Found::css(css, here, &text(el)));
            }
        }
    }
    found
}
