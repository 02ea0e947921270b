//! Selectors files (`selectors/*.toml`): every locator the worker uses, as data.
//!
//! A file describes one generation of the UCM web UI. It is parsed once into a [`SelectorSet`]
//! whose locators carry a human `desc` and the place they came from (`file: key`), so a timeout
//! says "login submit button not found (selectors/ucm63xx.toml: login.submit)". The README section
//! "When the UCM firmware changes" documents the format for operators.

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
    fn new(file: &Path, problem: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            problem: problem.into(),
        }
    }
}

/// The placeholders a per-call locator or search value may use.
pub const CALL_PLACEHOLDERS: &[&str] = &["file", "uniqueid", "caller", "callee", "start"];
const PAGE_PLACEHOLDERS: &[&str] = &["page"];

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
fn placeholders(template: &str) -> Vec<&str> {
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
    /// Parses and validates one file's text; `file` is used in messages and locator origins.
    pub fn parse(file: &Path, text: &str) -> Result<Self, SelectorsError> {
        let raw: RawFile =
            toml::from_str(text).map_err(|e| SelectorsError::new(file, e.to_string()))?;
        Builder { file }.build(raw)
    }

    /// Reads and validates one file.
    pub fn load(file: &Path) -> Result<Self, SelectorsError> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| SelectorsError::new(file, format!("cannot be read: {e}")))?;
        Self::parse(file, &text)
    }

    /// Whether one of this file's firmware patterns matches `version`.
    pub fn matches_firmware(&self, version: &str) -> bool {
        self.firmware.iter().any(|p| glob_match(p, version))
    }

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

/// All selectors files of a directory, and the choice between them.
#[derive(Debug, Clone)]
pub struct SelectorCatalog {
    sets: Vec<SelectorSet>,
}

impl SelectorCatalog {
    /// Loads every `*.toml` in `dir` (in name order). Fails on the first broken file, or when the
    /// directory holds several files and not exactly one `default = true`.
    pub fn load_dir(dir: &Path) -> Result<Self, SelectorsError> {
        let files = Self::files(dir)?;
        let sets = files
            .iter()
            .map(|f| SelectorSet::load(f))
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_sets(dir, sets)
    }

    /// The `*.toml` files of `dir`, sorted.
    pub fn files(dir: &Path) -> Result<Vec<PathBuf>, SelectorsError> {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            SelectorsError::new(
                dir,
                format!("cannot be read ({e}): set SELECTORS_DIR to the selectors directory"),
            )
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        Ok(files)
    }

    pub fn from_sets(dir: &Path, sets: Vec<SelectorSet>) -> Result<Self, SelectorsError> {
        let defaults = sets.iter().filter(|s| s.default).count();
        match (sets.len(), defaults) {
            (0, _) => Err(SelectorsError::new(dir, "holds no *.toml selectors file")),
            (1, _) | (_, 1) => Ok(Self { sets }),
            (_, 0) => Err(SelectorsError::new(
                dir,
                "holds several selectors files but none says `default = true`: mark the one to use for unknown firmware",
            )),
            (_, n) => Err(SelectorsError::new(
                dir,
                format!("holds {n} files with `default = true`: keep exactly one"),
            )),
        }
    }

    /// The file to use for the console's login page, before the firmware is known: the default
    /// first, then the others in name order.
    pub fn login_candidates(&self) -> impl Iterator<Item = &SelectorSet> {
        self.sets
            .iter()
            .filter(|s| s.default || self.sets.len() == 1)
            .chain(
                self.sets
                    .iter()
                    .filter(|s| !(s.default || self.sets.len() == 1)),
            )
    }

    /// The file whose firmware patterns match `firmware`; a specific file beats the default
    /// (whose patterns are usually broad), then name order decides.
    pub fn for_firmware(&self, firmware: &str) -> Option<&SelectorSet> {
        let matching = || self.sets.iter().filter(|s| s.matches_firmware(firmware));
        matching()
            .find(|s| !s.default)
            .or_else(|| matching().next())
    }

    pub fn sets(&self) -> &[SelectorSet] {
        &self.sets
    }
}

/// `*` matches any run of characters, `?` one character; everything else literally.
fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Classic two-pointer wildcard match with backtracking to the last `*`.
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

// ---- the file as written ------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: String,
    #[serde(default)]
    firmware: Vec<String>,
    #[serde(default)]
    default: bool,
    login: RawLogin,
    #[serde(default)]
    firmware_marker: Option<RawSelector>,
    recordings: RawRecordings,
    paging: RawPaging,
    #[serde(default)]
    logout: Vec<RawSelector>,
    #[serde(default)]
    busy: Vec<RawSelector>,
    #[serde(default)]
    texts: RawTexts,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSelector {
    desc: String,
    css: Option<String>,
    xpath: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogin {
    username: RawSelector,
    password: RawSelector,
    submit: RawSelector,
    signed_in: RawSelector,
    captcha: Option<RawSelector>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecordings {
    route: Option<String>,
    #[serde(default)]
    menu: Vec<RawSelector>,
    menu_toggle: Option<RawSelector>,
    ready: RawSelector,
    empty: Option<RawSelector>,
    row: RawSelector,
    row_for_file: Option<RawSelector>,
    file_attribute: Option<String>,
    caller: RawSelector,
    callee: RawSelector,
    time: RawSelector,
    time_format: String,
    #[serde(default = "default_tolerance")]
    time_tolerance: String,
    download: RawSelector,
    #[serde(default = "default_order")]
    order: ListOrder,
    search: Option<RawSearch>,
}

fn default_tolerance() -> String {
    "10m".into()
}

fn default_order() -> ListOrder {
    ListOrder::Unknown
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSearch {
    fields: Vec<RawSearchField>,
    submit: RawSelector,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSearchField {
    desc: String,
    css: Option<String>,
    xpath: Option<String>,
    value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPaging {
    kind: String,
    next: Option<RawSelector>,
    page: Option<RawSelector>,
    load_more: Option<RawSelector>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTexts {
    #[serde(default)]
    bad_login: Vec<String>,
    #[serde(default)]
    locked_out: Vec<String>,
    #[serde(default)]
    rate_limited: Vec<String>,
}

/// Turns the raw file into validated values, naming the key of anything wrong.
struct Builder<'a> {
    file: &'a Path,
}

impl Builder<'_> {
    fn error(&self, key: &str, problem: impl fmt::Display) -> SelectorsError {
        SelectorsError::new(self.file, format!("{key}: {problem}"))
    }

    fn selector(
        &self,
        key: &str,
        desc: String,
        css: Option<String>,
        xpath: Option<String>,
        allowed: &[&str],
    ) -> Result<Selector, SelectorsError> {
        let (strategy, template) = match (css, xpath) {
            (Some(css), None) => (Strategy::Css, css),
            (None, Some(xpath)) => (Strategy::XPath, xpath),
            _ => return Err(self.error(key, "give exactly one of `css` or `xpath`")),
        };
        if template.trim().is_empty() {
            return Err(self.error(key, "the selector is empty"));
        }
        if desc.trim().is_empty() {
            return Err(self.error(key, "`desc` is empty: say in words what it finds"));
        }
        self.check_placeholders(key, &template, allowed)?;
        self.check_placeholders(key, &desc, allowed)?;
        Ok(Selector {
            desc,
            strategy,
            template,
            origin: format!("{}: {key}", self.file.display()),
        })
    }

    fn check_placeholders(
        &self,
        key: &str,
        text: &str,
        allowed: &[&str],
    ) -> Result<(), SelectorsError> {
        match placeholders(text)
            .into_iter()
            .find(|n| !allowed.contains(n))
        {
            None => Ok(()),
            Some(name) if allowed.is_empty() => {
                Err(self.error(key, format!("placeholder {{{name}}} is not allowed here")))
            }
            Some(name) => Err(self.error(
                key,
                format!(
                    "unknown placeholder {{{name}}}: use one of {{{}}}",
                    allowed.join("}, {")
                ),
            )),
        }
    }

    fn one(
        &self,
        key: &str,
        raw: RawSelector,
        allowed: &[&str],
    ) -> Result<Selector, SelectorsError> {
        self.selector(key, raw.desc, raw.css, raw.xpath, allowed)
    }

    fn opt(
        &self,
        key: &str,
        raw: Option<RawSelector>,
        allowed: &[&str],
    ) -> Result<Option<Selector>, SelectorsError> {
        raw.map(|r| self.one(key, r, allowed)).transpose()
    }

    fn list(&self, key: &str, raw: Vec<RawSelector>) -> Result<Vec<Selector>, SelectorsError> {
        raw.into_iter()
            .enumerate()
            .map(|(i, r)| self.one(&format!("{key}[{i}]"), r, &[]))
            .collect()
    }

    fn build(&self, raw: RawFile) -> Result<SelectorSet, SelectorsError> {
        if raw.name.trim().is_empty() {
            return Err(self.error("name", "is empty: name the UI generation"));
        }
        let login = LoginSelectors {
            username: self.one("login.username", raw.login.username, &[])?,
            password: self.one("login.password", raw.login.password, &[])?,
            submit: self.one("login.submit", raw.login.submit, &[])?,
            signed_in: self.one("login.signed_in", raw.login.signed_in, &[])?,
            captcha: self.opt("login.captcha", raw.login.captcha, &[])?,
        };
        Ok(SelectorSet {
            file: self.file.to_path_buf(),
            name: raw.name,
            firmware: raw.firmware,
            default: raw.default,
            login,
            firmware_marker: self.opt("firmware_marker", raw.firmware_marker, &[])?,
            recordings: self.recordings(raw.recordings, raw.paging)?,
            logout: self.list("logout", raw.logout)?,
            busy: self.list("busy", raw.busy)?,
            texts: Texts {
                bad_login: lowercase(raw.texts.bad_login),
                locked_out: lowercase(raw.texts.locked_out),
                rate_limited: lowercase(raw.texts.rate_limited),
            },
        })
    }

    fn recordings(
        &self,
        r: RawRecordings,
        paging: RawPaging,
    ) -> Result<RecordingsSelectors, SelectorsError> {
        if r.route.is_none() && r.menu.is_empty() {
            return Err(self.error(
                "recordings",
                "give a `route` (e.g. \"/cdr/recordingFile\") or `menu` clicks to reach the page",
            ));
        }
        if let Some(route) = r.route.as_deref().filter(|route| !route.starts_with('/')) {
            return Err(self.error("recordings.route", format!("{route:?} must start with /")));
        }
        if chrono::format::StrftimeItems::new(&r.time_format)
            .any(|i| matches!(i, chrono::format::Item::Error))
        {
            return Err(self.error(
                "recordings.time_format",
                "is not a strftime format such as %Y-%m-%d %H:%M:%S",
            ));
        }
        let time_tolerance = humantime::parse_duration(&r.time_tolerance).map_err(|_| {
            self.error(
                "recordings.time_tolerance",
                "use a duration such as 90s or 10m",
            )
        })?;
        let search = r
            .search
            .map(|s| {
                let fields = s
                    .fields
                    .into_iter()
                    .enumerate()
                    .map(|(i, f)| {
                        let key = format!("recordings.search.fields[{i}]");
                        self.check_placeholders(&key, &f.value, CALL_PLACEHOLDERS)?;
                        Ok((self.selector(&key, f.desc, f.css, f.xpath, &[])?, f.value))
                    })
                    .collect::<Result<Vec<_>, SelectorsError>>()?;
                Ok::<_, SelectorsError>(SearchForm {
                    fields,
                    submit: self.one("recordings.search.submit", s.submit, &[])?,
                })
            })
            .transpose()?;
        Ok(RecordingsSelectors {
            route: r.route,
            menu: self.list("recordings.menu", r.menu)?,
            menu_toggle: self.opt("recordings.menu_toggle", r.menu_toggle, &[])?,
            ready: self.one("recordings.ready", r.ready, &[])?,
            empty: self.opt("recordings.empty", r.empty, &[])?,
            row: self.one("recordings.row", r.row, &[])?,
            row_for_file: self.opt("recordings.row_for_file", r.row_for_file, CALL_PLACEHOLDERS)?,
            file_attribute: r.file_attribute,
            caller: self.one("recordings.caller", r.caller, &[])?,
            callee: self.one("recordings.callee", r.callee, &[])?,
            time: self.one("recordings.time", r.time, &[])?,
            time_format: r.time_format,
            time_tolerance,
            download: self.one("recordings.download", r.download, &[])?,
            order: r.order,
            search,
            paging: self.paging(paging)?,
        })
    }

    fn paging(&self, p: RawPaging) -> Result<Paging, SelectorsError> {
        let need = |key: &str, raw: Option<RawSelector>| {
            raw.ok_or_else(|| {
                self.error(key, format!("is required when paging.kind = {:?}", p.kind))
            })
        };
        match p.kind.as_str() {
            "next_button" => Ok(Paging::NextButton {
                next: self.one("paging.next", need("paging.next", p.next)?, &[])?,
                page: self.opt("paging.page", p.page, PAGE_PLACEHOLDERS)?,
            }),
            "load_more" => Ok(Paging::LoadMore {
                button: self.one(
                    "paging.load_more",
                    need("paging.load_more", p.load_more)?,
                    &[],
                )?,
            }),
            "none" => Ok(Paging::None),
            other => Err(self.error(
                "paging.kind",
                format!("{other:?} is not one of next_button, load_more, none"),
            )),
        }
    }
}

fn lowercase(texts: Vec<String>) -> Vec<String> {
    texts.into_iter().map(|t| t.to_lowercase()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        name = "test UI"
        firmware = ["1.0.*"]
        [login]
        username = { css = "input#u", desc = "user field" }
        password = { css = "input#p", desc = "password field" }
        submit = { css = "button", desc = "submit button" }
        signed_in = { css = ".menu", desc = "main menu" }
        [recordings]
        route = "/cdr/recordingFile"
        ready = { css = "table", desc = "recordings table" }
        row = { css = "tr", desc = "recording row" }
        row_for_file = { css = 'tr[data-row-key="{file}"]', desc = "row of {file}" }
        caller = { css = "td.caller", desc = "caller cell" }
        callee = { css = "td.callee", desc = "callee cell" }
        time = { xpath = "./td[4]", desc = "call time cell" }
        time_format = "%Y-%m-%d %H:%M:%S"
        download = { css = "span.dl", desc = "download icon" }
        [paging]
        kind = "none"
    "#;

    fn parse(text: &str) -> Result<SelectorSet, SelectorsError> {
        SelectorSet::parse(Path::new("selectors/test.toml"), text)
    }

    #[test]
    fn a_minimal_file_parses_with_defaults() {
        let set = parse(MINIMAL).unwrap();
        assert_eq!(set.recordings.time_tolerance, Duration::from_secs(600));
        assert_eq!(set.recordings.order, ListOrder::Unknown);
        assert_eq!(set.recordings.time.strategy, Strategy::XPath);
        assert_eq!(set.login.submit.origin, "selectors/test.toml: login.submit");
        assert!(matches!(set.recordings.paging, Paging::None));
    }

    #[test]
    fn placeholders_are_filled_and_escaped() {
        let set = parse(MINIMAL).unwrap();
        let row = set.recordings.row_for_file.unwrap();
        let bound = row.bind(&Vars::default().with("file", "2026-02/auto-1-a\"b.wav"));
        assert_eq!(bound.text, r#"tr[data-row-key="2026-02/auto-1-a\"b.wav"]"#);
        assert_eq!(bound.desc, "row of 2026-02/auto-1-a\"b.wav");
        assert_eq!(
            bound.to_string(),
            "row of 2026-02/auto-1-a\"b.wav (selectors/test.toml: recordings.row_for_file)"
        );
    }

    #[test]
    fn unknown_placeholders_are_refused_with_the_key() {
        let text = MINIMAL.replace("{file}\"]'", "{filename}\"]'");
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("recordings.row_for_file: unknown placeholder {filename}"),
            "{err}"
        );
        let text = MINIMAL.replace("input#u", "input#{caller}");
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("login.username: placeholder {caller} is not allowed here"),
            "{err}"
        );
    }

    #[test]
    fn a_locator_needs_exactly_one_strategy_and_a_desc() {
        let text = MINIMAL.replace(
            r#"{ css = "button", desc = "submit button" }"#,
            r#"{ desc = "submit button" }"#,
        );
        let err = parse(&text).unwrap_err().to_string();
        assert!(
            err.contains("login.submit: give exactly one of `css` or `xpath`"),
            "{err}"
        );
        let text = MINIMAL.replace(r#"desc = "submit button""#, r#"desc = " ""#);
        assert!(parse(&text)
            .unwrap_err()
            .to_string()
            .contains("`desc` is empty"));
    }

    #[test]
    fn mistakes_in_the_file_are_named() {
        let err = parse(&MINIMAL.replace("kind = \"none\"", "kind = \"next_button\"")).unwrap_err();
        assert!(
            err.to_string().contains("paging.next: is required"),
            "{err}"
        );
        let err = parse(&MINIMAL.replace("%Y-%m-%d %H:%M:%S", "%Q")).unwrap_err();
        assert!(err.to_string().contains("recordings.time_format"), "{err}");
        let err = parse(&MINIMAL.replace("route = \"/cdr/recordingFile\"", "")).unwrap_err();
        assert!(err.to_string().contains("give a `route`"), "{err}");
        let err = parse(&format!("{MINIMAL}\n[extra]\n")).unwrap_err();
        assert!(err.to_string().contains("unknown field `extra`"), "{err}");
    }

    #[test]
    fn firmware_patterns_pick_the_file_and_the_default_is_tried_first_at_login() {
        let old = parse(MINIMAL).unwrap();
        let mut new = parse(&MINIMAL.replace("1.0.*", "1.1.*")).unwrap();
        new.default = true;
        let catalog = SelectorCatalog::from_sets(Path::new("selectors"), vec![old, new]).unwrap();
        assert_eq!(
            catalog.for_firmware("1.0.27.10").unwrap().firmware,
            ["1.0.*"]
        );
        assert_eq!(catalog.for_firmware("1.1.2.3").unwrap().firmware, ["1.1.*"]);
        assert!(catalog.for_firmware("2.0").is_none());
        assert_eq!(
            catalog.login_candidates().next().unwrap().firmware,
            ["1.1.*"]
        );
    }

    #[test]
    fn several_files_need_exactly_one_default() {
        let sets = vec![parse(MINIMAL).unwrap(), parse(MINIMAL).unwrap()];
        let err = SelectorCatalog::from_sets(Path::new("selectors"), sets).unwrap_err();
        assert!(
            err.to_string().contains("none says `default = true`"),
            "{err}"
        );
    }

    #[test]
    fn glob_patterns() {
        assert!(glob_match("1.0.2*", "1.0.27.10"));
        assert!(glob_match("*", ""));
        assert!(glob_match("1.?.3", "1.5.3"));
        assert!(!glob_match("1.0.2*", "1.0.3.1"));
        assert!(glob_match("*.10", "1.0.27.10"));
    }
}
