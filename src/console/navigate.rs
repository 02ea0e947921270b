//! Reaching the Recordings list as a loop over what the page shows (docs/console.md draws it).
//!
//! After every action the page is classified ([`Shown`]) and the next action is picked from
//! that state: the remembered way first, then the file's route, the menu from where the
//! browser is, the console's start page; a login where the login form shows. The goal has a
//! step budget. An action that gives the same result from the same page twice, an address
//! that is not the app, and a route that shows the app without the list do not work on this
//! console: they are not taken again this session. A login form right after the worker's own
//! navigation, on a session that logged in moments ago, is that address's doing, not an
//! expiry: the worker logs in, goes on from where the login lands, and does not load that
//! address again. When no way is left, the stop names what was tried and what to fix; no call
//! is at fault ([`ConsoleErrorKind::LocatorNotFound`], calls given back uncharged).

use super::browser::Step;
use super::error::ConsoleErrorKind;
use fantoccini::elements::Element;
use tokio::time::Instant;

use super::page::{Expect, Shown};
use super::recordings::RecordingsPage;
use super::way::{Action, CameBy};

/// Actions at most to reach the list once.
const STEPS: usize = 8;
/// Logins at most while reaching the list once.
const LOGINS: usize = 2;

/// One goal's record: what was taken from where, and what each gave (for the stop line).
#[derive(Default)]
struct Trail {
    taken: Vec<(Shown, Action)>,
    notes: Vec<String>,
    logins: usize,
}

impl Trail {
    fn took(&self, here: &Shown, action: Action) -> bool {
        self.taken.iter().any(|(s, a)| s == here && *a == action)
    }

    fn came_by(&self, last: Action) -> CameBy {
        match last {
            Action::Menu if self.taken.iter().any(|(_, a)| *a == Action::StartPage) => {
                CameBy::StartPageMenu
            }
            Action::Menu => CameBy::Menu,
            _ => CameBy::Route,
        }
    }
}

impl RecordingsPage<'_> {
    /// Opens the list at its first page, from whatever the browser shows now.
    pub(crate) async fn open(&mut self) -> Step<()> {
        self.state.closed();
        let mut here = self.page_shown(Expect::Any).await?;
        // On the list already (a later page): it is shown afresh all the same, and only a list
        // drawn anew counts (the old one goes stale).
        let old = match here {
            Shown::List => {
                here = Shown::SignedIn;
                self.browser
                    .find(&self.selectors.recordings.ready.plain())
                    .await?
            }
            _ => None,
        };
        let mut trail = Trail::default();
        for _ in 0..STEPS {
            let Some(action) = self.next_action(&here, &trail) else {
                break;
            };
            trail.taken.push((here.clone(), action));
            if action == Action::LogIn {
                trail.logins += 1;
            }
            let mut to = match self.take(action).await {
                Ok(to) => to,
                // A menu item not found: that way does not work here; the page may have moved.
                Err(ConsoleErrorKind::LocatorNotFound { what, .. }) if action == Action::Menu => {
                    trail
                        .notes
                        .push(format!("{}: {what} not found", action.name()));
                    self.judge(&here, action, &Shown::Unknown);
                    self.state.ways.kill(action, &format!("{what} not found"));
                    here = self.page_shown(Expect::Any).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if to == Shown::List {
                if self.drawn_anew(old.as_ref()).await? {
                    return self.arrived(trail.came_by(action)).await;
                }
                to = Shown::SignedIn; // the same list as before, not shown afresh
            }
            trail
                .notes
                .push(format!("{}: {}", action.name(), to.describe()));
            self.judge(&here, action, &to);
            here = to;
        }
        Err(self.no_way(&trail))
    }

    /// The next action from `here`: the remembered way's first, then the others in order;
    /// none already taken from this page in this goal, none found not to work.
    fn next_action(&self, here: &Shown, trail: &Trail) -> Option<Action> {
        let ways = &self.state.ways;
        if *here == Shown::LoginForm {
            let allowed = trail.logins < LOGINS && !trail.took(here, Action::LogIn);
            return allowed.then_some(Action::LogIn);
        }
        let by_menu = ways.way().is_some_and(|w| w.by_menu());
        let order: &[Action] = match (here, by_menu) {
            (Shown::SignedIn, false) => &[
                Action::Remembered,
                Action::Route,
                Action::Menu,
                Action::StartPage,
            ],
            (Shown::SignedIn, true) => &[
                Action::Menu,
                Action::Remembered,
                Action::StartPage,
                Action::Route,
            ],
            (_, false) => &[Action::Remembered, Action::Route, Action::StartPage],
            (_, true) => &[Action::StartPage, Action::Remembered, Action::Route],
        };
        let rec = &self.selectors.recordings;
        let in_file = |action| match action {
            Action::Route => rec.route.is_some(),
            // The start page is only a way back to the menu.
            Action::Menu | Action::StartPage => !rec.menu.is_empty(),
            Action::Remembered | Action::LogIn => true,
        };
        let last_resort = match here {
            Shown::SignedIn => None,
            _ => ways.last_resort(),
        };
        order
            .iter()
            .copied()
            .find(|&action| ways.usable(action) && in_file(action) && !trail.took(here, action))
            .or(last_resort.filter(|&a| in_file(a) && !trail.took(here, a)))
    }

    /// What `action` giving `to` from `from` says about the action.
    fn judge(&mut self, from: &Shown, action: Action, to: &Shown) {
        let fresh = self.state.ways.fresh_login();
        let ways = &mut self.state.ways;
        let the_ways_own = ways.way().is_some_and(|w| match w.by_menu() {
            true => action == Action::Menu,
            false => action == Action::Remembered,
        });
        if the_ways_own {
            ways.drop_way(&format!("{} showed {}", action.name(), to.describe()));
        }
        let address = matches!(
            action,
            Action::Remembered | Action::Route | Action::StartPage
        );
        match to {
            Shown::NotApp(_) if address => ways.kill(action, &to.describe()),
            Shown::LoginForm if action == Action::StartPage && fresh => ways.start_shows_login(),
            Shown::LoginForm if address && fresh => {
                ways.kill(action, "it shows the login form to a signed-in session")
            }
            Shown::SignedIn if matches!(action, Action::Route | Action::Remembered) => {
                ways.kill(action, &to.describe())
            }
            _ if ways.same_again(from, action, to) => {
                ways.kill(action, &format!("{} twice", to.describe()))
            }
            _ => {}
        }
    }

    /// Whether the list shown is drawn anew since `old` (the list element seen before the
    /// action, if there was one): `old` goes stale within the element timeout.
    async fn drawn_anew(&self, old: Option<&Element>) -> Step<bool> {
        let Some(old) = old else {
            return Ok(true);
        };
        let deadline = Instant::now() + self.browser.timeouts.element;
        loop {
            match self.browser.attr_of(old, "class").await {
                Err(ConsoleErrorKind::Stale { .. }) => return Ok(true),
                Ok(_) if Instant::now() >= deadline => return Ok(false),
                Ok(_) => tokio::time::sleep(self.browser.timeouts.poll).await,
                Err(e) => return Err(e),
            }
        }
    }

    /// The list is shown: remember how, and start at page 1.
    async fn arrived(&mut self, came_by: CameBy) -> Step<()> {
        let address = self.address_shown().await?;
        self.state.ways.reached(address, came_by);
        self.browser.wait_until_idle(&self.selectors.busy).await?;
        self.state.page = Some(1);
        Ok(())
    }

    /// The stop when no way is left: what each action gave, and what to fix.
    fn no_way(&self, trail: &Trail) -> ConsoleErrorKind {
        let rec = &self.selectors.recordings;
        let tried = match trail.notes.is_empty() {
            true => "no way left to try".to_string(),
            false => trail.notes.join("; "),
        };
        let toggle = match rec.menu_toggle {
            Some(_) => "",
            None => ", or `menu_toggle` if the menu is collapsed",
        };
        ConsoleErrorKind::missing_because(
            &rec.ready.plain(),
            &format!(
                " (not reached by any way: {tried}; give `[recordings] route` an address that \
                 shows the list, or `menu` clicks that reach it from the page the login lands \
                 on{toggle})"
            ),
        )
    }
}
