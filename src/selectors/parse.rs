//! A selectors file as written (serde) and its validation into a [`SelectorSet`], naming the key
//! of anything wrong.

use std::path::Path;

use std::fmt;

use serde::Deserialize;

use super::format::{
    placeholders, ListOrder, LoginSelectors, Paging, RecordingsSelectors, SearchForm, Selector,
    SelectorSet, SelectorsError, Strategy, Texts, CALL_PLACEHOLDERS, PAGE_PLACEHOLDERS,
};

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
