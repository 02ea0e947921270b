//! `selectors learn`'s walk through a live console: the login page, one login, the start page,
//! the way to the Recordings list and its pages. Each page is read as HTML and handed to the
//! learner ([`crate::learn`]); a redacted copy and a screenshot are saved per page. Only
//! navigation and paging are clicked; nothing is downloaded.

use std::path::{Path, PathBuf};

use tokio::time::Instant;

use super::browser::{Browser, Step};
use super::error::ConsoleErrorKind;
use super::selectors::{Bound, SelectorSet, Strategy};
use super::session::ConsoleSession;
use super::{artifacts, CallQuery, ConsoleError};
use crate::learn::{self, Found, KnownCall, Learnt, List, Page, PagingGuess};

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
fn shipped_login(set: &SelectorSet, page: &Page) -> Option<learn::LoginForm> {
    let one = |selector: &super::selectors::Selector| {
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
    Some(learn::LoginForm {
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
                learn::login_form,
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
                |p| learn::signed_in(&login_page, p),
            )
            .await?;
        // The firmware version may come a moment after the page (a quarter of the timeout).
        let deadline = Instant::now() + w.browser.timeouts.element / 4;
        while Instant::now() < deadline
            && learn::firmware_marker(&Page::parse(&w.browser.source().await?)).is_none()
        {
            tokio::time::sleep(w.browser.timeouts.poll).await; // the version loads later
        }
        let start_html = w.snapshot("start").await?;
        let start = Page::parse(&start_html);
        let firmware = learn::firmware_marker(&start);
        let menu = learn::recordings_menu(&start).ok_or_else(|| {
            not_learnt(&format!(
                "a menu entry naming recordings ({})",
                learn::RECORDINGS_NAMES.join(", ")
            ))
        })?;
        w.walk_menu(&menu).await?;
        let tz = target.timezone;
        let list_of = |p: &Page| learn::list(p, calls, tz).ok();
        let list: List = w
            .until(
                "the rows of the tenant's known calls on the Recordings list",
                list_of,
            )
            .await?;
        let reached = w.browser.current_url().await?;
        let first_html = w.snapshot("list-page-1").await?;
        let first = Page::parse(&first_html);
        let paging = learn::paging(&first);
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
                w.until("the start page", learn::recordings_menu).await?;
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
                        learn::list(p, calls, tz)
                            .ok()
                            .filter(|l| l.calls_found.iter().any(|c| !before.contains(c)))
                    })
                    .await;
                let Ok(next) = next else { break };
                let html = w.snapshot(&format!("list-page-{page}")).await?;
                for found in learn::busy(&during, &Page::parse(&html)) {
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
                busy,
            },
            calls_seen: seen,
            login_from,
            pages_saved: w.saved,
        })
    }

    /// `selectors learn`'s dry run: signs in and finds the row of `call` on the Recordings list
    /// as a pass would, without downloading; returns the page it was on.
    pub async fn find_only(&mut self, call: &CallQuery) -> Result<usize, ConsoleError> {
        let result = self.find_row(call).await;
        self.finish(result, Some(&call.uniqueid)).await
    }
}
