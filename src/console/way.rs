//! The way to the Recordings list on one console, and what one session has learnt about the
//! ways that do not work there.
//!
//! A [`Way`] is handed into the session before it starts (the pipeline keeps it per tenant) and
//! read back after it ends, so the next pass, on any replica, starts with the way that worked.
//! The console module itself never touches the database.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;

use super::page::Shown;

/// A login form met this soon after the session's own login is the address's doing, not an
/// expiry: the console's idle timeout is minutes (about 10 on a UCM).
const FRESH_LOGIN: Duration = Duration::from_secs(60);

/// How the list was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameBy {
    /// An address loaded directly: the file's route, or the address the list showed before.
    Route,
    /// The menu, walked from the page the browser was on (where the login landed).
    Menu,
    /// The console's start page, then the menu.
    StartPageMenu,
}

impl CameBy {
    pub fn as_str(self) -> &'static str {
        match self {
            CameBy::Route => "route",
            CameBy::Menu => "menu",
            CameBy::StartPageMenu => "start_page_menu",
        }
    }

    pub fn parse(text: &str) -> Option<CameBy> {
        [CameBy::Route, CameBy::Menu, CameBy::StartPageMenu]
            .into_iter()
            .find(|c| c.as_str() == text)
    }
}

/// The way to the list that worked on a console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Way {
    /// The address the browser showed on the list, relative to the console's address (path,
    /// query and fragment: `/cdr/recordingFile`, `/#/cdr/recordingFile`), so a changed port
    /// does not leave it pointing elsewhere.
    pub address: String,
    pub came_by: CameBy,
    /// The start page showed the login form to a signed-in session (a login had to be done
    /// there): it is not loaded again once signed in.
    pub login_at_start: bool,
}

impl Way {
    /// The way prefers the menu: the address was not loaded directly.
    pub(crate) fn by_menu(&self) -> bool {
        self.came_by != CameBy::Route
    }
}

/// One move of the navigation loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Action {
    /// Load the remembered way's address.
    Remembered,
    /// Load the selectors file's route.
    Route,
    /// Walk the file's menu from the page shown.
    Menu,
    /// Load the console's start page.
    StartPage,
    /// Fill in the login form shown.
    LogIn,
}

impl Action {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Action::Remembered => "the remembered address",
            Action::Route => "recordings.route",
            Action::Menu => "recordings.menu",
            Action::StartPage => "the start page",
            Action::LogIn => "the login",
        }
    }
}

/// What one session knows of the ways on its console.
#[derive(Debug, Default)]
pub(crate) struct Ways {
    way: Option<Way>,
    /// Actions that do not work on this console: never taken again this session.
    dead: BTreeSet<Action>,
    /// What each action gave from each page, to tell "the same result twice".
    outcomes: BTreeMap<(Shown, Action), Shown>,
    /// The start page showed the login form to a signed-in session.
    start_shows_login: bool,
    last_login: Option<Instant>,
    /// Where the list was last shown (or the remembered way says it is), kept when the way is
    /// dropped: where a drifted list locator is learnt again.
    list_address: Option<String>,
}

impl Ways {
    pub(crate) fn follow(&mut self, way: Way) {
        self.start_shows_login = way.login_at_start;
        self.list_address = Some(way.address.clone());
        self.way = Some(way);
    }

    pub(crate) fn list_address(&self) -> Option<&str> {
        self.list_address.as_deref()
    }

    /// Another selectors file is in use: what was judged with the old one's locators (an
    /// address "without the list" may show it by the new `ready`) is judged anew.
    pub(crate) fn judge_anew(&mut self) {
        self.dead.clear();
        self.outcomes.clear();
    }

    pub(crate) fn way(&self) -> Option<&Way> {
        self.way.as_ref()
    }

    pub(crate) fn logged_in(&mut self) {
        self.last_login = Some(Instant::now());
    }

    /// The session logged in moments ago.
    pub(crate) fn fresh_login(&self) -> bool {
        self.last_login.is_some_and(|at| at.elapsed() < FRESH_LOGIN)
    }

    /// Whether `action` may be taken: not found dead this session, and not one the remembered
    /// way says does not work (a route, when the way came by the menu; the start page, when it
    /// shows the login form).
    pub(crate) fn usable(&self, action: Action) -> bool {
        let presumed_dead = match action {
            Action::Remembered => self.way.is_none(),
            Action::Route => self.way.as_ref().is_some_and(Way::by_menu),
            Action::StartPage => self.start_shows_login,
            Action::Menu | Action::LogIn => false,
        };
        !presumed_dead && !self.dead.contains(&action)
    }

    /// The start page showed the login form to a signed-in session: not loaded again while
    /// another way is left ([`Ways::last_resort`]); said once.
    pub(crate) fn start_shows_login(&mut self) {
        if !std::mem::replace(&mut self.start_shows_login, true) {
            tracing::info!(
                "The console's start page shows the login form to a signed-in session (not an \
                 expiry): logging in there, and not loading it again while another way is left"
            );
        }
    }

    /// The start page that shows the login form, when nothing else is left from a page that is
    /// not the app: a login there leads back to the menu.
    pub(crate) fn last_resort(&self) -> Option<Action> {
        (self.start_shows_login && !self.dead.contains(&Action::StartPage))
            .then_some(Action::StartPage)
    }

    /// `action` does not work on this console; said once.
    pub(crate) fn kill(&mut self, action: Action, why: &str) {
        if self.dead.insert(action) {
            tracing::info!(
                way = action.name(),
                "{} does not lead to the Recordings list on this console ({why}); not tried again this pass",
                action.name()
            );
        }
    }

    /// Notes what `action` gave from `from`; true when it gave the same before.
    pub(crate) fn same_again(&mut self, from: &Shown, action: Action, to: &Shown) -> bool {
        self.outcomes.insert((from.clone(), action), to.clone()) == Some(to.clone())
    }

    /// The remembered way stopped working: dropped with one log line; the search starts again
    /// with every action the file gives (what this session found stays known).
    pub(crate) fn drop_way(&mut self, why: &str) {
        if let Some(way) = self.way.take() {
            tracing::warn!(
                address = %way.address,
                came_by = way.came_by.as_str(),
                "The remembered way to the Recordings list no longer works ({why}); looking for another"
            );
        }
    }

    /// The list was reached by `came_by` at `address`. Reached again by the menu, a way by the
    /// start page and the menu stays as it was found: the first time needed the start page.
    pub(crate) fn reached(&mut self, address: String, came_by: CameBy) {
        let came_by = match &self.way {
            Some(way) if way.by_menu() && came_by == CameBy::Menu => way.came_by,
            _ => came_by,
        };
        self.list_address = Some(address.clone());
        let way = Way {
            address,
            came_by,
            login_at_start: self.start_shows_login,
        };
        if self.way.as_ref() != Some(&way) {
            tracing::info!(
                address = %way.address,
                came_by = came_by.as_str(),
                login_at_start = way.login_at_start,
                "Found the way to the Recordings list; later calls go this way"
            );
        }
        self.way = Some(way);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn way(came_by: CameBy, login_at_start: bool) -> Way {
        Way {
            address: "/#/cdr/recordingFile".into(),
            came_by,
            login_at_start,
        }
    }

    #[test]
    fn a_way_by_the_menu_skips_the_route_and_a_login_showing_start_page() {
        let mut ways = Ways::default();
        assert!(!ways.usable(Action::Remembered));
        assert!(ways.usable(Action::Route));
        ways.follow(way(CameBy::StartPageMenu, true));
        assert!(ways.usable(Action::Remembered));
        assert!(!ways.usable(Action::Route));
        assert!(!ways.usable(Action::StartPage));
        assert!(ways.usable(Action::Menu));
        // Dropped: the route is worth a try again; the start page still shows the form, and
        // is loaded only when nothing else is left.
        ways.drop_way("the menu was not found");
        assert!(ways.usable(Action::Route));
        assert!(!ways.usable(Action::StartPage));
        assert_eq!(ways.last_resort(), Some(Action::StartPage));
        assert!(!ways.usable(Action::Remembered));
    }

    #[test]
    fn the_same_result_twice_is_told() {
        let mut ways = Ways::default();
        let (from, to) = (Shown::SignedIn, Shown::SignedIn);
        assert!(!ways.same_again(&from, Action::Menu, &to));
        assert!(ways.same_again(&from, Action::Menu, &to));
        assert!(!ways.same_again(&from, Action::Menu, &Shown::LoginForm));
    }

    #[test]
    fn a_start_page_showing_the_login_form_is_remembered_with_the_way() {
        let mut ways = Ways::default();
        assert_eq!(ways.last_resort(), None);
        ways.start_shows_login();
        assert!(!ways.usable(Action::StartPage));
        ways.reached("/#/cdr/recordingFile".into(), CameBy::StartPageMenu);
        assert_eq!(ways.way(), Some(&way(CameBy::StartPageMenu, true)));
        // Later calls reach it by the menu from the list: still the way it was found.
        ways.reached("/#/cdr/recordingFile".into(), CameBy::Menu);
        assert_eq!(ways.way(), Some(&way(CameBy::StartPageMenu, true)));
        assert_eq!(
            CameBy::parse("start_page_menu"),
            Some(CameBy::StartPageMenu)
        );
        assert_eq!(CameBy::parse("teleport"), None);
    }
}
