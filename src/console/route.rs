//! Opening the Recordings page: by its route, and when the route does not show the list, by
//! the console's start page and its menu.
//!
//! A direct address may not be served by the app at all (a 404 or another error document, a
//! JSON answer, a hash-routed app) or may show the login form. Such an answer is recognised at
//! once from the page itself, not after the element timeout; the worker then goes back to the
//! console's start page (the address it logged in at, which shows the signed-in marker),
//! and from there walks the menu. Signed out there, it says so ([`ConsoleErrorKind::SessionExpired`])
//! and the session logs in once more. A route that failed is not tried again this pass.

use tokio::time::Instant;

use super::browser::{Answer, Step};
use super::error::ConsoleErrorKind;
use super::recordings::RecordingsPage;

/// Where the route led.
enum Reached {
    List,
    /// The login form: the session is gone, not the route.
    SignedOut,
    /// Not the list: what it was instead, for the log.
    Elsewhere(String),
}

impl RecordingsPage<'_> {
    /// Opens the list through its route, else (or when the route fails) through the menu.
    pub(crate) async fn open(&mut self) -> Step<()> {
        let rec = &self.selectors.recordings;
        let reached = match (&rec.route, self.state.route_failed) {
            (Some(route), false) => self.by_route(route).await?,
            (Some(_), true) => Reached::Elsewhere("the route failed earlier this pass".into()),
            (None, _) => Reached::Elsewhere("the selectors file gives no route".into()),
        };
        let why = match reached {
            Reached::List => None,
            // Back at the start page the login form says so, and the session logs in again.
            Reached::SignedOut => Some("the login form".to_string()),
            Reached::Elsewhere(why) => {
                if rec.route.is_some() && !self.state.route_failed {
                    tracing::warn!(
                        route = rec.route.as_deref().unwrap_or_default(),
                        answer = %why,
                        "The Recordings route did not show the list; going back to the start page and using the menu"
                    );
                    self.state.route_failed = true;
                }
                Some(why)
            }
        };
        if let Some(why) = why {
            if rec.menu.is_empty() {
                return Err(ConsoleErrorKind::missing_because(
                    &rec.ready.plain(),
                    &format!(" at recordings.route ({why}), and the file has no menu to try"),
                ));
            }
            self.back_to_start().await?;
            for item in &rec.menu {
                self.browser
                    .click(&item.plain(), &self.selectors.busy)
                    .await?;
            }
            self.browser.wait_for(&rec.ready.plain()).await?;
        }
        self.browser.wait_until_idle(&self.selectors.busy).await?;
        self.state.page = Some(1);
        Ok(())
    }

    /// Loads the route and tells, as soon as it can, whether it shows the list.
    async fn by_route(&self, route: &str) -> Step<Reached> {
        let url = self
            .base_url
            .join(route)
            .map_err(|e| ConsoleErrorKind::LocatorNotFound {
                what: format!("the Recordings page address ({e})"),
                origin: format!("{}: recordings.route", self.selectors.file.display()),
                selector: route.to_string(),
            })?;
        self.browser.goto(url.as_str()).await?;
        if let Answer::NotApp(what) = self.browser.answer().await? {
            return Ok(Reached::Elsewhere(what));
        }
        let ready = self.selectors.recordings.ready.plain();
        let login_form = self.selectors.login.username.plain();
        let deadline = Instant::now() + self.browser.timeouts.element;
        loop {
            if self.browser.find(&ready).await?.is_some() {
                return Ok(Reached::List);
            }
            if self.browser.find(&login_form).await?.is_some() {
                return Ok(Reached::SignedOut);
            }
            if Instant::now() >= deadline {
                return Ok(Reached::Elsewhere(format!(
                    "no {} within {}s",
                    ready.desc,
                    self.browser.timeouts.element.as_secs()
                )));
            }
            tokio::time::sleep(self.browser.timeouts.poll).await;
        }
    }

    /// Goes to the console's start page and waits for the signed-in marker; the login form
    /// there means the session is gone.
    async fn back_to_start(&mut self) -> Step<()> {
        self.state.closed();
        self.browser.goto(self.base_url.as_str()).await?;
        let signed_in = self.selectors.login.signed_in.plain();
        let login_form = self.selectors.login.username.plain();
        let deadline = Instant::now() + self.browser.timeouts.element;
        loop {
            if self.browser.find(&signed_in).await?.is_some() {
                return Ok(());
            }
            if self.browser.find(&login_form).await?.is_some() {
                return Err(ConsoleErrorKind::SessionExpired);
            }
            if Instant::now() >= deadline {
                return Err(ConsoleErrorKind::missing_because(
                    &signed_in,
                    " on the console's start page",
                ));
            }
            tokio::time::sleep(self.browser.timeouts.poll).await;
        }
    }
}
