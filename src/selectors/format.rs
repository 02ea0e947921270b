//! The selectors file format: its locators, their placeholders, and one validated file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// A selectors file that cannot be used; names the file and what to change.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", file.display())]
pub struct SelectorsError {
    pub file: PathBuf,
    pub problem: String,
}

impl SelectorsError {
    pub(super) fn new(file: &Path, problem: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            problem: problem.into(),
        }
    }
}

/// The placeholders a per-call locator or search value may use.
pub const CALL_PLACEHOLDERS: &[&str] = &["file", "uniqueid", "caller", "callee", "start"];
pub(super) const PAGE_PLACEHOLDERS: &[&str] = &["page"];

/// How a locator finds its element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    Css,
    XPath,
}

/// One locator from a selectors file: what it finds (`desc`), how, and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    pub desc: String,
    pub strategy: Strategy,
    /// The selector text, possibly with `{placeholder}`s still in it.
    pub template: String,
    /// Where it was written, for messages: `selectors/ucm63xx.toml: login.submit`.
    pub origin: String,
}

impl Selector {
    /// The selector text with its placeholders filled from `vars`; values are escaped so a file
    /// name with a quote cannot break out of a CSS attribute string.
    pub fn bind(&self, vars: &Vars) -> Bound {
        let escape = |v: &str| match self.strategy {
            Strategy::Css => v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\'', "\\'"),
            Strategy::XPath => v.to_string(),
        };
        Bound {
            strategy: self.strategy,
            text: fill(&self.template, |name| vars.get(name).map(escape)),
            desc: fill(&self.desc, |name| vars.get(name).map(str::to_string)),
            origin: self.origin.clone(),
        }
    }

    /// A selector without placeholders, ready to use.
    pub fn plain(&self) -> Bound {
        self.bind(&Vars::default())
    }
}

/// A selector with its placeholders filled: what the browser is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub strategy: Strategy,
    pub text: String,
    pub desc: String,
    pub origin: String,
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.desc, self.origin)
    }
}

/// Placeholder values for one call (or one page number).
#[derive(Debug, Clone, Default)]
pub struct Vars(BTreeMap<&'static str, String>);

impl Vars {
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.0.insert(name, value.into());
        self
    }

    /// A search value with its placeholders filled, unescaped (it is typed, not parsed).
    pub fn fill(&self, template: &str) -> String {
        fill(template, |name| self.get(name).map(str::to_string))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// Replaces `{name}` by `value(name)`; unknown names stay as written (validation rejects them).
fn fill(template: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}').and_then(|close| {
            let name = &after[..close];
            value(name).map(|v| (v, close))
        }) {
            Some((v, close)) => {
                out.push_str(&v);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The `{names}` a template uses.
pub(super) fn placeholders(template: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                names.push(&after[..close]);
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    names
}

/// How more rows of the recordings list appear.
#[derive(Debug, Clone)]
pub enum Paging {
    /// Numbered pages with a "next" button; `page` (with `{page}`) jumps straight to a page.
    NextButton {
        next: Selector,
        page: Option<Selector>,
    },
    /// One growing list with a "load more" button.
    LoadMore { button: Selector },
    /// Every row is on the one page.
    None,
}

/// The order the console lists recordings in; newest-first lets a search stop early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListOrder {
    NewestFirst,
    Unknown,
}

/// A search form to narrow the list per call; values use the call placeholders.
#[derive(Debug, Clone)]
pub struct SearchForm {
    pub fields: Vec<(Selector, String)>,
    pub submit: Selector,
}

#[derive(Debug, Clone)]
pub struct LoginSelectors {
    pub username: Selector,
    pub password: Selector,
    pub submit: Selector,
    pub signed_in: Selector,
    pub captcha: Option<Selector>,
}

#[derive(Debug, Clone)]
pub struct RecordingsSelectors {
    /// Path loaded directly once signed in (the UCM's SPA has real paths).
    pub route: Option<String>,
    /// Clicked in order to reach the page when there is no route or it does not show the list.
    pub menu: Vec<Selector>,
    /// Clicked before the menu when its first item is not shown (a side menu collapsed behind
    /// a toggle); optional.
    pub menu_toggle: Option<Selector>,
    pub ready: Selector,
    /// Shown instead of rows when the list is empty ("No data"); optional. Without it, an
    /// empty list counts as empty only once it has stayed empty for the element timeout.
    pub empty: Option<Selector>,
    pub row: Selector,
    /// A row found straight by its recording file (`{file}`).
    pub row_for_file: Option<Selector>,
    /// The row attribute that holds the recording file name, when the UI has one.
    pub file_attribute: Option<String>,
    pub caller: Selector,
    pub callee: Selector,
    pub time: Selector,
    pub time_format: String,
    pub time_tolerance: Duration,
    pub download: Selector,
    pub order: ListOrder,
    pub search: Option<SearchForm>,
    pub paging: Paging,
}

impl RecordingsSelectors {
    /// `time_tolerance` for comparing call times.
    pub fn tolerance(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.time_tolerance).unwrap_or(chrono::Duration::MAX)
    }
}

/// The console's own words for failures, matched case-insensitively in the page text.
#[derive(Debug, Clone, Default)]
pub struct Texts {
    pub bad_login: Vec<String>,
    pub locked_out: Vec<String>,
    pub rate_limited: Vec<String>,
}

/// One validated selectors file.
#[derive(Debug, Clone)]
pub struct SelectorSet {
    pub file: PathBuf,
    pub name: String,
    pub firmware: Vec<String>,
    pub default: bool,
    pub login: LoginSelectors,
    /// Where the firmware version is shown after login (its text holds e.g. `1.0.27.10`).
    pub firmware_marker: Option<Selector>,
    pub recordings: RecordingsSelectors,
    /// Clicked in order to log out; best effort.
    pub logout: Vec<Selector>,
    /// Spinners and overlays to wait out before reading or clicking.
    pub busy: Vec<Selector>,
    pub texts: Texts,
}

impl SelectorSet {
    /// Every locator of the file, for `selectors check --tenant`.
    pub fn all_selectors(&self) -> Vec<&Selector> {
        let l = &self.login;
        let r = &self.recordings;
        let mut all = vec![&l.username, &l.password, &l.submit, &l.signed_in];
        all.extend(&l.captcha);
        all.extend(&self.firmware_marker);
        all.extend(&r.menu);
        all.extend([&r.ready, &r.row]);
        all.extend(&r.empty);
        all.extend(&r.row_for_file);
        all.extend([&r.caller, &r.callee, &r.time, &r.download]);
        if let Some(search) = &r.search {
            all.extend(search.fields.iter().map(|(s, _)| s));
            all.push(&search.submit);
        }
        match &r.paging {
            Paging::NextButton { next, page } => {
                all.push(next);
                all.extend(page);
            }
            Paging::LoadMore { button } => all.push(button),
            Paging::None => {}
        }
        all.extend(&self.logout);
        all.extend(&self.busy);
        all
    }
}
