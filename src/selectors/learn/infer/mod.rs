//! What a page shows, inferred from its HTML and the tenant's known calls: the login form, the
//! signed-in marker, the way to the Recordings list, its rows and cells, the download control,
//! paging, busy markers and the firmware version. Pure: pages in, [`Found`] locators out, each
//! with what it matched, so the draft can say why. The list is read in `list`.

mod list;

use chrono::NaiveDateTime;
use scraper::ElementRef;

use super::dom::{self, classes, own_hooks, parent, says, stable_classes, text, Page};
use crate::selectors::Strategy;

pub use list::{list, listed_newest_first, List, ListMiss, TIME_FORMATS};

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
