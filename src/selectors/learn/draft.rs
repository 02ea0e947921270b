//! The draft selectors file: what was learnt, in the format of `selectors/*.toml`, each key with
//! a comment saying what it matched. The text must parse with the selectors parser.

use std::fmt::Write as _;

use super::infer::{Found, List, LoginForm, PagingGuess};
use crate::selectors::Strategy;

/// Everything learnt from one console, ready to be written as a selectors file.
#[derive(Debug, Clone)]
pub struct Learnt {
    /// Where it was learnt, for the header comment (`Acme Corp (ID: 7), https://…`).
    pub source: String,
    pub login: LoginForm,
    pub signed_in: Found,
    /// The firmware marker and the version it showed.
    pub firmware: Option<(Found, String)>,
    /// The Recordings page's path when loading it directly showed the list.
    pub route: Option<String>,
    pub menu: Vec<Found>,
    pub list: List,
    pub paging: PagingGuess,
    /// The page-number control of numbered paging, with `{page}`.
    pub page_number: Option<Found>,
    pub busy: Vec<Found>,
    /// The logout control seen after login.
    pub logout: Option<Found>,
}

/// A TOML basic string.
fn string(value: &str) -> String {
    toml::Value::String(value.to_string()).to_string()
}

/// `{ css = "…", desc = "…" }`
fn locator(found: &Found, desc: &str) -> String {
    let key = match found.strategy {
        Strategy::Css => "css",
        Strategy::XPath => "xpath",
    };
    format!(
        "{{ {key} = {}, desc = {} }}",
        string(&found.selector),
        string(desc)
    )
}

/// The comment above a key: how many elements, and what the first shows.
fn evidence(found: &Found) -> String {
    let example = found.example.replace('\n', " ");
    match example.is_empty() {
        true => format!("# matched {}\n", found.matched),
        false => format!("# matched {}, e.g. {example:?}\n", found.matched),
    }
}

fn key(out: &mut String, name: &str, found: &Found, desc: &str) {
    out.push_str(&evidence(found));
    let _ = writeln!(out, "{name} = {}", locator(found, desc));
}

impl Learnt {
    /// The selectors file text. `name` names the UI generation.
    pub fn to_toml(&self, name: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Drafted by `ucm-scraper selectors learn` from {}.\n# Review it, then move it into \
             SELECTORS_DIR. The format: README.md, \"When the UCM firmware changes\".\n",
            self.source
        );
        let _ = writeln!(out, "name = {}", string(name));
        match &self.firmware {
            Some((_, version)) => {
                let series = version
                    .rsplit_once('.')
                    .map_or(version.as_str(), |(s, _)| s);
                let _ = writeln!(out, "# the console showed firmware {version}");
                let _ = writeln!(out, "firmware = [{}]", string(&format!("{series}.*")));
            }
            None => out.push_str("# no firmware version found after login\nfirmware = []\n"),
        }
        out.push_str("default = false\n");
        if !self.busy.is_empty() {
            out.push_str("# shown while a page loaded, gone once it settled\nbusy = [\n");
            for found in &self.busy {
                let _ = writeln!(out, "    {},", locator(found, "loading marker"));
            }
            out.push_str("]\n");
        }
        if let Some(found) = &self.logout {
            out.push_str("# clicked at the end of a pass\n");
            out.push_str(&evidence(found));
            let _ = writeln!(out, "logout = [{}]", locator(found, "logout control"));
        }
        self.login_table(&mut out);
        if let Some((found, _)) = &self.firmware {
            out.push_str("\n[firmware_marker]\n");
            out.push_str(&evidence(found));
            let key = match found.strategy {
                Strategy::Css => "css",
                Strategy::XPath => "xpath",
            };
            let _ = writeln!(out, "{key} = {}", string(&found.selector));
            out.push_str("desc = \"firmware version\"\n");
        }
        self.recordings_table(&mut out);
        self.paging_table(&mut out);
        out
    }

    fn login_table(&self, out: &mut String) {
        out.push_str("\n[login]\n");
        key(
            out,
            "username",
            &self.login.username,
            "login username field",
        );
        key(
            out,
            "password",
            &self.login.password,
            "login password field",
        );
        key(out, "submit", &self.login.submit, "login submit control");
        out.push_str("# present after login, absent on the login page\n");
        key(
            out,
            "signed_in",
            &self.signed_in,
            "main menu (post-login marker)",
        );
    }

    fn recordings_table(&self, out: &mut String) {
        let l = &self.list;
        out.push_str("\n[recordings]\n");
        if let Some(route) = &self.route {
            out.push_str("# loaded directly after login, it showed the list\n");
            let _ = writeln!(out, "route = {}", string(route));
        }
        if !self.menu.is_empty() {
            out.push_str("# clicked in order from the start page\nmenu = [\n");
            for (i, found) in self.menu.iter().enumerate() {
                let desc = match i + 1 == self.menu.len() {
                    true => format!("Recordings menu item ({})", found.example),
                    false => format!("menu group ({})", found.example),
                };
                let _ = writeln!(out, "    {},", locator(found, &desc));
            }
            out.push_str("]\n");
        }
        key(out, "ready", &l.ready, "recordings list");
        key(out, "row", &l.row, "recording row");
        if let Some(attr) = &l.file_attribute {
            out.push_str("# the row attribute equal to a known call's recording file\n");
            let _ = writeln!(out, "file_attribute = {}", string(attr));
        }
        if let Some(found) = &l.row_for_file {
            key(out, "row_for_file", found, "row of recording {file}");
        }
        key(out, "caller", &l.caller, "caller cell");
        key(out, "callee", &l.callee, "callee cell");
        key(out, "time", &l.time, "call time cell");
        out.push_str("# every found row's time read as its call's start in the tenant's zone\n");
        let _ = writeln!(out, "time_format = {}", string(&l.time_format));
        out.push_str("time_tolerance = \"10m\"\n");
        key(out, "download", &l.download, "download control");
        let order = match l.newest_first {
            true => "# the known calls were listed newest first\norder = \"newest_first\"",
            false => "# the order could not be told from the known calls\norder = \"unknown\"",
        };
        let _ = writeln!(out, "{order}");
    }

    fn paging_table(&self, out: &mut String) {
        out.push_str("\n[paging]\n");
        match &self.paging {
            PagingGuess::Next(found) => {
                out.push_str("kind = \"next_button\"\n");
                key(out, "next", found, "next page control");
                if let Some(number) = &self.page_number {
                    key(out, "page", number, "page {page} control");
                }
            }
            PagingGuess::LoadMore(found) => {
                out.push_str("kind = \"load_more\"\n");
                key(out, "load_more", found, "load more control");
            }
            PagingGuess::None => {
                out.push_str("# no next / more control was seen\nkind = \"none\"\n");
            }
        }
    }
}
