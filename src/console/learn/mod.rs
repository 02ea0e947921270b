//! One file over 500 lines: the walk is one sequence of pages, each step feeding the next;
//! a third of it is its tests.
//!
//! `selectors learn`'s walk through a live console: the login page, one login, the start page,
//! the way to the Recordings list and its pages. Each page is read as HTML ([`dom`]) and handed
//! to the inference ([`infer`]), pure and unit-tested on saved pages, which makes the draft
//! ([`draft`]); a redacted copy and a screenshot are saved per page. Only navigation and paging
//! are clicked; nothing is downloaded. The command around it is [`crate::learn`].

pub(super) mod heal;

pub use heal::{Change, HealMiss, SIGNED_IN};

use std::path::{Path, PathBuf};

use tokio::time::Instant;

use super::browser::{Browser, Step};
use super::check::{Checker, LocatorCheck};
use super::error::ConsoleErrorKind;
use super::session::ConsoleSession;
use super::{artifacts, CallQuery, ConsoleError};
use crate::selectors::{
    dom, infer, Bound, Found, KnownCall, Learnt, PagingGuess, Selector, SelectorSet, Strategy,
};
use dom::Page;
use infer::List;

impl From<&CallQuery> for KnownCall {
    fn from(call: &CallQuery) -> Self {
        KnownCall {
            files: call.recordfiles.clone(),
            caller: call.caller.clone(),
            callee: call.callee.clone(),
            start_utc: call.call_date_utc,
        }
    }
}

/// What the walk learnt, and where its pages were saved.
pub struct Walk {
    pub learnt: Learnt,
    /// The known calls seen on the list's pages, by index into the calls given.
    pub calls_seen: Vec<usize>,
    /// The selectors file whose login locators matched the login page, when one did.
    pub login_from: Option<PathBuf>,
    pub pages_saved: usize,
}

/// Where the walk is and what it saves.
struct Walker<'a> {
    browser: &'a Browser,
    snapshots: &'a Path,
    password: &'a str,
    saved: usize,
}

impl Walker<'_> {
    /// Saves the page as `NN-name.html` (password removed) and `NN-name.png`; returns its HTML.
    async fn snapshot(&mut self, name: &str) -> Step<String> {
        self.saved += 1;
        let stem = self.snapshots.join(format!("{:02}-{name}", self.saved));
        let html = self.browser.source().await?;
        artifacts::write(
            &stem.with_extension("html"),
            artifacts::redact(&html, self.password).as_bytes(),
        );
        if let Ok(png) = self.browser.screenshot().await {
            artifacts::write(&stem.with_extension("png"), &png);
        }
        Ok(html)
    }

    /// Reads the page until `want` finds what it looks for, within the element timeout.
    async fn until<T>(&self, what: &str, want: impl Fn(&Page) -> Option<T>) -> Step<T> {
        let deadline = Instant::now() + self.browser.timeouts.element;
        loop {
            let page = Page::parse(&self.browser.source().await?);
            if let Some(found) = want(&page) {
                return Ok(found);
            }
            if Instant::now() >= deadline {
                return Err(not_learnt(what));
            }
            tokio::time::sleep(self.browser.timeouts.poll).await; // the SPA renders later
        }
    }

    async fn walk_menu(&self, menu: &[Found]) -> Step<()> {
        for (i, item) in menu.iter().enumerate() {
            self.click(item, &format!("menu click {} of {}", i + 1, menu.len()))
                .await?;
        }
        Ok(())
    }

    async fn click(&self, found: &Found, desc: &str) -> Step<()> {
        self.browser.click(&bound(found, desc), &[]).await
    }
}

/// A locator the learner built, as the browser takes it.
fn bound(found: &Found, desc: &str) -> Bound {
    Bound {
        strategy: found.strategy,
        text: found.selector.clone(),
        desc: desc.to_string(),
        origin: "selectors learn".into(),
    }
}

/// What could not be learnt, as the missing locator it is.
fn not_learnt(what: &str) -> ConsoleErrorKind {
    ConsoleErrorKind::LocatorNotFound {
        what: what.to_string(),
        origin: "selectors learn: nothing on the page looked like it within the element timeout"
            .into(),
        selector: String::new(),
    }
}

/// A shipped file's login locators as learnt ones, when all three are CSS and each matches
/// exactly one element of the login page.
fn shipped_login(set: &SelectorSet, page: &Page) -> Option<infer::LoginForm> {
    let one = |selector: &Selector| {
        let found = match selector.strategy {
            Strategy::Css => page.select(&selector.template)?,
            Strategy::XPath => return None,
        };
        (found.len() == 1).then(|| Found {
            strategy: Strategy::Css,
            selector: selector.template.clone(),
            matched: 1,
            example: format!("from {}", set.file.display()),
        })
    };
    Some(infer::LoginForm {
        username: one(&set.login.username)?,
        password: one(&set.login.password)?,
        submit: one(&set.login.submit)?,
    })
}

impl ConsoleSession {
    /// `selectors learn`: logs in once and walks to the Recordings list and up to `max_pages`
    /// of its pages, learning each locator from what the pages show and where `calls` appear.
    /// Pages are saved under `snapshots`. Never downloads; clicks only the login, the menu and
    /// paging.
    pub async fn learn(
        &mut self,
        calls: &[KnownCall],
        max_pages: usize,
        snapshots: &Path,
    ) -> Result<Walk, ConsoleError> {
        let result = self.walk(calls, max_pages, snapshots).await;
        self.finish(result, None).await
    }

    async fn walk(
        &mut self,
        calls: &[KnownCall],
        max_pages: usize,
        snapshots: &Path,
    ) -> Step<Walk> {
        std::fs::create_dir_all(snapshots)
            .map_err(super::error::io_error("cannot make", snapshots))?;
        let target = self.target().clone();
        let sets: Vec<SelectorSet> = self.catalog_sets().to_vec();
        let mut w = Walker {
            browser: self.open_browser(),
            snapshots,
            password: target.password.expose(),
            saved: 0,
        };
        w.browser.goto(target.base_url.as_str()).await?;
        let inferred = w
            .until(
                "a login form (a password input, a text input and a button)",
                infer::login_form,
            )
            .await?;
        let login_html = w.snapshot("login").await?;
        let login_page = Page::parse(&login_html);
        let shipped = sets
            .iter()
            .find_map(|s| shipped_login(s, &login_page).map(|f| (s.file.clone(), f)));
        let (login_from, login) = match shipped {
            Some((file, form)) => (Some(file), form),
            None => (None, inferred),
        };
        w.browser
            .fill(
                &bound(&login.username, "login username field"),
                &target.username,
            )
            .await?;
        w.browser
            .fill(&bound(&login.password, "login password field"), w.password)
            .await?;
        w.click(&login.submit, "login submit control").await?;
        let signed_in = w
            .until(
                "a signed-in marker (navigation that the login page lacks)",
                |p| infer::signed_in(&login_page, p),
            )
            .await?;
        // The firmware version may come a moment after the page (a quarter of the timeout).
        let deadline = Instant::now() + w.browser.timeouts.element / 4;
        while Instant::now() < deadline
            && infer::firmware_marker(&Page::parse(&w.browser.source().await?)).is_none()
        {
            tokio::time::sleep(w.browser.timeouts.poll).await; // the version loads later
        }
        let start_html = w.snapshot("start").await?;
        let start = Page::parse(&start_html);
        let firmware = infer::firmware_marker(&start);
        let logout = infer::logout(&start);
        let menu = infer::recordings_menu(&start).ok_or_else(|| {
            not_learnt(&format!(
                "a menu entry naming recordings ({})",
                infer::RECORDINGS_NAMES.join(", ")
            ))
        })?;
        w.walk_menu(&menu).await?;
        let tz = target.timezone;
        let list_of = |p: &Page| infer::list(p, calls, tz).ok();
        let mut list: List = w
            .until(
                "the rows of the tenant's known calls on the Recordings list",
                list_of,
            )
            .await?;
        let reached = w.browser.current_url().await?;
        let first_html = w.snapshot("list-page-1").await?;
        let first = Page::parse(&first_html);
        let paging = infer::paging(&first);
        let page_number = infer::page_number(&first);
        // The address reached, if loading it directly shows the list too.
        let route = match reached.path() {
            "/" | "" => None,
            path => {
                w.browser.goto(reached.as_str()).await?;
                let shown = w.until("the list at its own address", list_of).await;
                shown.is_ok().then(|| path.to_string())
            }
        };
        // Where the route was tried and failed, the browser is not on the list any more.
        let off_the_list = route.is_none() && !matches!(reached.path(), "/" | "");
        let mut seen = list.calls_found.clone();
        let mut busy: Vec<Found> = Vec::new();
        let control = match &paging {
            PagingGuess::Next(found) | PagingGuess::LoadMore(found) => Some(found.clone()),
            PagingGuess::None => None,
        };
        if let Some(control) = control.filter(|_| seen.len() < calls.len()) {
            if off_the_list {
                // The address tried did not show the list: back to it the way a person would.
                w.browser.goto(target.base_url.as_str()).await?;
                w.until("the start page", infer::recordings_menu).await?;
                w.walk_menu(&menu).await?;
            }
            w.until("the list", list_of).await?;
            for page in 2..=max_pages {
                let before = seen.clone();
                if w.click(&control, "paging control").await.is_err() {
                    break;
                }
                let during = Page::parse(&w.browser.source().await?);
                let next = w
                    .until("a page with other known calls", |p| {
                        infer::list(p, calls, tz)
                            .ok()
                            .filter(|l| l.calls_found.iter().any(|c| !before.contains(c)))
                    })
                    .await;
                let Ok(next) = next else { break };
                let html = w.snapshot(&format!("list-page-{page}")).await?;
                for found in infer::busy(&during, &Page::parse(&html)) {
                    if !busy.iter().any(|b| b.selector == found.selector) {
                        busy.push(found);
                    }
                }
                for call in next.calls_found {
                    if !seen.contains(&call) {
                        seen.push(call);
                    }
                }
                if seen.len() == calls.len() {
                    break;
                }
            }
        }
        // The order as shown over every page walked, not page 1 alone.
        list.newest_first = infer::listed_newest_first(&seen, calls);
        seen.sort_unstable();
        Ok(Walk {
            learnt: Learnt {
                source: format!(
                    "tenant {} (ID: {}) at {}",
                    target.tenant_name, target.tenant_id, target.base_url
                ),
                login,
                signed_in,
                firmware,
                route,
                menu,
                list,
                paging,
                page_number,
                busy,
                logout,
            },
            calls_seen: seen,
            login_from,
            pages_saved: w.saved,
        })
    }

    /// `selectors learn`'s proof, in the session that learnt (one login): with `draft` in use,
    /// each known call's row is looked for on the Recordings list as a pass would, without
    /// downloading (the page it was on, or why not), then the draft's locators are counted on
    /// the list (the signed-in marker and menu show there too). The login locators were matched
    /// on the login page during the walk.
    pub async fn prove_learnt(
        &mut self,
        draft: SelectorSet,
        calls: &[CallQuery],
    ) -> (
        Result<Vec<LocatorCheck>, ConsoleError>,
        Vec<Result<usize, String>>,
    ) {
        let draft = std::sync::Arc::new(draft);
        self.put_in_use(std::sync::Arc::clone(&draft));
        let mut found = Vec::with_capacity(calls.len());
        for call in calls {
            let result = self.find_row(call).await;
            found.push(
                self.finish(result, Some(&call.uniqueid))
                    .await
                    .map_err(|e| e.kind.to_string()),
            );
        }
        let checker = Checker {
            browser: self.open_browser(),
            set: &draft,
        };
        let checks = async {
            let mut checks = checker.after_login().await?;
            checks.extend(checker.recordings_page().await?);
            Ok(checks)
        }
        .await;
        (self.finish(checks, None).await, found)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use chrono::DateTime;

    use crate::selectors::dom::Page;
    use crate::selectors::infer::*;
    use crate::selectors::Learnt;
    use crate::selectors::{Paging, SelectorSet, Strategy};

    /// The stand-in's pages saved by `tests/learn.rs` (`save_fixture_pages`).
    fn fixture(skin: &str, page: &str) -> Page {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/learn")
            .join(skin)
            .join(format!("{page}.html"));
        Page::parse(&std::fs::read_to_string(&path).expect("a saved fixture page"))
    }

    /// The calls behind the fixture pages: five, ten minutes apart, shown in Berlin time.
    fn calls() -> Vec<KnownCall> {
        (0..5)
            .map(|i| {
                let epoch = 1_770_395_696 + 600 * i;
                let caller = format!("10{i:02}");
                KnownCall {
                    files: vec![format!("2026-02/auto-{epoch}-{caller}-2815058290.wav")],
                    caller,
                    callee: "2815058290".into(),
                    start_utc: DateTime::from_timestamp(epoch, 0).unwrap().naive_utc(),
                }
            })
            .collect()
    }

    fn learn(skin: &str) -> Learnt {
        let login = fixture(skin, "login");
        let dashboard = fixture(skin, "dashboard");
        let list_page = fixture(skin, "list");
        Learnt {
            source: format!("the {skin} fixture pages"),
            login: login_form(&login).expect("a login form"),
            signed_in: signed_in(&login, &dashboard).expect("a signed-in marker"),
            firmware: firmware_marker(&dashboard),
            route: None,
            menu: recordings_menu(&dashboard).expect("a Recordings menu"),
            list: list(&list_page, &calls(), chrono_tz::Europe::Berlin).expect("the list"),
            paging: paging(&list_page),
            page_number: page_number(&list_page),
            busy: Vec::new(),
            logout: logout(&dashboard),
        }
    }

    /// The draft parses with the worker's own parser.
    fn parsed(learnt: &Learnt) -> SelectorSet {
        let text = learnt.to_toml("learnt");
        SelectorSet::parse(Path::new("selectors/learnt.toml"), &text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn the_ant_design_generation_is_learnt_from_its_pages() {
        let learnt = learn("ucm63xx");
        let set = parsed(&learnt);
        assert_eq!(set.login.username.template, "input#username");
        assert_eq!(set.login.password.template, "input#password");
        assert_eq!(set.login.submit.template, "button.ant-btn");
        assert_eq!(set.login.signed_in.template, "aside.ant-layout-sider");
        assert_eq!(set.firmware, ["1.0.27.*"]);
        let menu: Vec<_> = set.recordings.menu.iter().map(|m| &m.template).collect();
        assert_eq!(
            menu,
            [
                "li[data-menu-key=\"cdr\"] > div.ant-menu-submenu-title",
                "li[data-path=\"/cdr/recordingFile\"]"
            ]
        );
        let r = &set.recordings;
        assert_eq!(r.row.template, "tbody.ant-table-tbody > tr[data-row-key]");
        assert_eq!(r.file_attribute.as_deref(), Some("data-row-key"));
        assert_eq!(r.caller.template, "td:nth-child(2)");
        assert_eq!(r.callee.template, "td:nth-child(3)");
        assert_eq!(r.time.template, "td:nth-child(4)");
        assert_eq!(r.time_format, "%Y-%m-%d %H:%M:%S");
        assert_eq!(set.logout[0].template, "a[title=\"Logout\"]");
        assert!(
            matches!(&r.paging, Paging::NextButton { page: Some(page), .. } if page.template == "li[title=\"{page}\"]"),
            "{:?}",
            r.paging
        );
        assert_eq!(r.download.template, "span.sprite-download");
        assert_eq!(learnt.list.calls_found, [4, 3, 2], "the first page's calls");
        assert!(learnt.list.newest_first);
        assert!(
            matches!(&r.paging, Paging::NextButton { next, .. } if next.template.contains("Next Page"))
        );
    }

    #[test]
    fn the_older_generation_is_learnt_from_its_pages() {
        let learnt = learn("ucm62xx");
        let set = parsed(&learnt);
        assert_eq!(set.login.username.template, "input#user-name");
        assert_eq!(set.login.password.template, "input#user-password");
        assert_eq!(set.login.submit.template, "input#btn-login");
        assert_eq!(set.login.signed_in.template, "div#nav");
        assert_eq!(
            set.firmware_marker.as_ref().unwrap().template,
            "td#firmware-version"
        );
        let menu: Vec<_> = set.recordings.menu.iter().map(|m| &m.template).collect();
        assert_eq!(
            menu,
            [
                "li[data-group=\"cdr\"] > a.nav-title",
                "a[href=\"/cdr/recordFiles\"]"
            ]
        );
        let r = &set.recordings;
        assert_eq!(r.row.template, "div.grid-body > div[data-file]");
        assert_eq!(r.file_attribute.as_deref(), Some("data-file"));
        assert_eq!(r.caller.template, "div.col-caller");
        assert_eq!(r.callee.template, "div.col-callee");
        assert_eq!(r.time.template, "div.col-time");
        assert_eq!(r.time_format, "%Y/%m/%d %H:%M:%S");
        assert_eq!(set.logout[0].template, "a#logout-btn");
        assert_eq!(r.download.template, "a.download-link");
        assert!(
            matches!(&r.paging, Paging::LoadMore { button } if button.template == "button#btn-more")
        );
    }

    #[test]
    fn a_card_layout_with_data_attributes_is_learnt_by_its_stable_hooks() {
        let learnt = learn("cards");
        let set = parsed(&learnt);
        assert_eq!(set.login.username.template, "input[data-field=\"account\"]");
        assert_eq!(set.login.password.template, "input[data-field=\"secret\"]");
        assert_eq!(set.login.submit.template, "button[data-action=\"sign-in\"]");
        assert_eq!(set.login.signed_in.template, "nav.rail");
        assert_eq!(set.firmware, ["2.1.4.*"]);
        let r = &set.recordings;
        assert_eq!(r.row.template, "ol.rec-list > li[data-recording]");
        assert_eq!(r.caller.template, "span[data-role=\"from\"]");
        assert_eq!(r.callee.template, "span[data-role=\"to\"]");
        assert_eq!(r.time.template, "time.rec-when");
        assert_eq!(r.time_format, "%d.%m.%Y %H:%M:%S");
        assert_eq!(
            r.download.template,
            "button[aria-label=\"Download recording\"]"
        );
        assert!(
            matches!(&r.paging, Paging::LoadMore { button } if button.template == "button.rec-more")
        );
    }

    #[test]
    fn every_key_says_what_it_matched() {
        let text = learn("ucm62xx").to_toml("learnt");
        assert!(text.contains("# matched 3, e.g. \"1004\""), "{text}");
        assert!(
            text.contains("# the console showed firmware 1.0.20.52"),
            "{text}"
        );
    }

    #[test]
    fn a_page_without_known_calls_is_no_list() {
        let page = fixture("ucm63xx", "dashboard");
        let miss = list(&page, &calls(), chrono_tz::Europe::Berlin).unwrap_err();
        assert_eq!(miss, ListMiss::Rows(5));
        assert!(login_form(&page).is_none());
    }

    #[test]
    fn a_time_shown_in_another_zone_is_not_the_calls() {
        let page = fixture("ucm62xx", "list");
        let miss = list(&page, &calls(), chrono_tz::America::New_York).unwrap_err();
        assert_eq!(miss, ListMiss::Rows(5));
    }

    #[test]
    fn busy_markers_are_what_loading_added() {
        let settled = Page::parse(r#"<div id="list"><div class="row">a</div></div>"#);
        let during = Page::parse(
            r#"<div id="list"><div class="row">a</div><div class="spin-mask is-loading"></div></div>"#,
        );
        let found = busy(&during, &settled);
        let mut css: Vec<_> = found.iter().map(|f| f.selector.as_str()).collect();
        css.sort_unstable();
        assert_eq!(css, ["div.is-loading", "div.spin-mask"]);
        assert!(found.iter().all(|f| f.strategy == Strategy::Css));
    }

    #[test]
    fn versions_are_dotted_numbers() {
        assert_eq!(
            dotted_version("Firmware 1.0.27.10 (beta)").as_deref(),
            Some("1.0.27.10")
        );
        assert_eq!(dotted_version("2026-02-06 17:34:56"), None);
        assert_eq!(dotted_version("v2.1"), None);
    }
}
