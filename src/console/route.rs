//! The navigation loop's actions ([`super::navigate`]): load an address of the console, walk
//! the menu from the page shown, fill in the login form shown. Each tells what the page shows
//! afterwards ([`super::page::classify`]); none decides what comes next.

use super::browser::Step;
use super::error::ConsoleErrorKind;
use super::login::LoginPage;
use super::optional;
use super::page::{classify, Expect, Shown};
use super::recordings::RecordingsPage;
use super::way::Action;

impl RecordingsPage<'_> {
    /// Takes `action` and tells what the page shows then.
    pub(super) async fn take(&mut self, action: Action) -> Step<Shown> {
        match action {
            Action::Remembered => {
                let address = self.state.ways.way().map(|w| w.address.clone());
                self.load(&address.unwrap_or_default(), "the remembered address")
                    .await?;
                self.page_shown(Expect::List).await
            }
            Action::Route => {
                let route = self.selectors.recordings.route.clone();
                self.load(&route.unwrap_or_default(), "recordings.route")
                    .await?;
                self.page_shown(Expect::List).await
            }
            Action::StartPage => {
                self.load("/", "the start page").await?;
                self.page_shown(Expect::Any).await
            }
            Action::Menu => {
                self.walk_menu().await?;
                self.page_shown(Expect::List).await
            }
            Action::LogIn => {
                LoginPage::on(self.browser, self.selectors)
                    .sign_in(&self.target.username, &self.target.password)
                    .await?;
                self.state.ways.logged_in();
                tracing::info!("Logged in again where the console showed its login form");
                self.page_shown(Expect::Any).await
            }
        }
    }

    pub(super) async fn page_shown(&self, expect: Expect) -> Step<Shown> {
        classify(self.browser, self.selectors, expect).await
    }

    /// See [`super::ConsoleSession::back_to_list_address`]; the page is then not taken for an
    /// open list (the next search opens it anew).
    pub(super) async fn back_to_list_address(&mut self) -> Step<()> {
        let Some(address) = self.state.ways.list_address().map(str::to_string) else {
            return Ok(());
        };
        self.state.closed();
        self.load(&address, "the address the list was seen at")
            .await
    }

    /// Loads `address`, relative to the console's address; `what` names it in an error.
    pub(super) async fn load(&self, address: &str, what: &str) -> Step<()> {
        let url =
            self.target
                .base_url
                .join(address)
                .map_err(|e| ConsoleErrorKind::LocatorNotFound {
                    what: format!("the address of {what} ({e})"),
                    origin: format!("{}: recordings.route", self.selectors.file.display()),
                    selector: address.to_string(),
                })?;
        // The same address with a fragment would not load anew (only scroll): leave it first.
        if self.browser.current_url().await? == url {
            self.browser.goto("about:blank").await?;
        }
        self.browser.goto(url.as_str()).await
    }

    /// Clicks the menu from the page shown: the toggle first when the menu is collapsed behind
    /// one, and no click on an item whose next item already shows (its group is open; a click
    /// would close it).
    async fn walk_menu(&self) -> Step<()> {
        let rec = &self.selectors.recordings;
        let busy = &self.selectors.busy;
        if let (Some(toggle), Some(first)) = (&rec.menu_toggle, rec.menu.first()) {
            if !self.browser.is_displayed(&first.plain()).await?
                && optional::shown(self.browser, Some(toggle)).await?
            {
                self.browser.click(&toggle.plain(), busy).await?;
            }
        }
        for (i, item) in rec.menu.iter().enumerate() {
            if let Some(next) = rec.menu.get(i + 1) {
                if self.browser.is_displayed(&next.plain()).await? {
                    continue;
                }
            }
            self.browser.click(&item.plain(), busy).await?;
        }
        Ok(())
    }

    /// The address the browser shows, relative to the console's (path, query, fragment).
    pub(super) async fn address_shown(&self) -> Step<String> {
        let url = self.browser.current_url().await?;
        let mut address = url.path().to_string();
        if let Some(query) = url.query() {
            address.push('?');
            address.push_str(query);
        }
        if let Some(fragment) = url.fragment() {
            address.push('#');
            address.push_str(fragment);
        }
        Ok(address)
    }
}
