//! Reaching page N of the Recordings list: the navigation loop's second goal (docs/console.md
//! draws it), observed and decided the same way as reaching the list ([`super::navigate`]).
//!
//! After every click on a paging control the rows are compared with those shown before, and
//! the page is classified ([`Shown`]). The next turn is picked from what that showed: the
//! page-number control or the next control, whichever is not already taken from this page in
//! this goal and not found not to work; the list opened afresh when the list was left (or to
//! go back on a paged list). The goal has a page budget. A turn that gives the same result from
//! the same page twice does not work on this console: it is not taken again this session.
//!
//! A login form after a turn is the list answering the login page mid-pass: the list goal logs
//! in where the form shows (one login for it) and the turns go on from page 1. The same turn
//! showing the login form again is that turn's doing, not an expiry: it is not taken again, and
//! no further login is spent on it. A goal that cannot reach its page says so ([`Paged`]); the
//! read that asked for it makes that a doubt, never evidence.

use std::collections::{BTreeMap, BTreeSet};

use tokio::time::Instant;

use super::settled;
use super::RecordingsPage;
use crate::console::browser::Step;
use crate::console::error::ConsoleErrorKind;
use crate::console::page::{Expect, Shown};
use crate::selectors::{Paging, Vars};

/// Turns (and reopenings) at most to reach page N, beyond the N - 1 turns from page 1.
const SPARE_TURNS: usize = 3;

/// What a paging goal ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::console) enum Paged {
    /// The page asked for is shown (for "load more", the rows up to it).
    Reached,
    /// The list ended before it: the next control is gone or disabled, or the list has one page.
    End,
    /// No turn reached it within the budget, or none is left that works.
    NoChange,
}

/// One move of the paging goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Turn {
    /// The page-number control of the page wanted (`[paging] page`).
    Link,
    /// The next-page (or load-more) control.
    Next,
}

impl Turn {
    fn name(self) -> &'static str {
        match self {
            Turn::Link => "paging.page",
            Turn::Next => "paging.next",
        }
    }
}

/// What a turn showed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Turned {
    /// The list, with other rows: it moved.
    Moved,
    /// The list, with the same rows for the element timeout.
    Unchanged,
    /// The control is not shown, or disabled.
    NoControl,
    /// Something other than the list: the login form, the signed-in page, not the app.
    Left(Shown),
}

impl Turned {
    fn describe(&self) -> String {
        match self {
            Turned::Moved => "other rows".into(),
            Turned::Unchanged => "the same rows".into(),
            Turned::NoControl => "no such control".into(),
            Turned::Left(shown) => shown.describe(),
        }
    }
}

/// What one session learnt of the paging controls on its console.
#[derive(Debug, Default)]
pub(crate) struct Turns {
    /// What each turn gave from each page, towards which page: to tell "the same result twice".
    outcomes: BTreeMap<(usize, usize, Turn), Turned>,
    /// Turns that do not work on this console: never taken again this session.
    dead: BTreeSet<Turn>,
}

impl Turns {
    /// Notes what `turn` from `from` towards `to` gave; a result that is no progress, given
    /// twice, makes the turn dead (said once). True when it did.
    fn judge(&mut self, from: usize, to: usize, turn: Turn, turned: &Turned) -> bool {
        if matches!(turned, Turned::Moved | Turned::NoControl) {
            // Progress, or the end of the list (a page's own control not drawn: not a failure).
            return false;
        }
        let before = self.outcomes.insert((from, to, turn), turned.clone());
        if before.as_ref() != Some(turned) || !self.dead.insert(turn) {
            return false;
        }
        tracing::info!(
            control = turn.name(),
            "{} does not turn the Recordings list on this console (from page {from} it showed \
             {} twice); not tried again this pass",
            turn.name(),
            turned.describe()
        );
        true
    }
}

impl RecordingsPage<'_> {
    /// Shows page `target` of the list, from whatever the list shows now.
    pub(in crate::console) async fn reach_page(&mut self, target: usize) -> Step<Paged> {
        let paging = &self.selectors.recordings.paging;
        let paged = matches!(paging, Paging::NextButton { .. });
        if matches!(paging, Paging::None) {
            return Ok(match target > self.state.page.unwrap_or(1) {
                true => Paged::End,
                false => Paged::Reached,
            });
        }
        let mut taken: Vec<(usize, Turn)> = Vec::new();
        for _ in 0..target + SPARE_TURNS {
            let page = match self.state.page {
                Some(page) => page,
                None => {
                    self.open().await?;
                    continue;
                }
            };
            if page == target || (target < page && !paged) {
                // Loaded rows stay loaded: "load more" shows every page up to the last.
                return Ok(Paged::Reached);
            }
            if target < page {
                self.open().await?; // a paged list goes back from page 1
                continue;
            }
            let Some(turn) = self.next_turn(page, target, &taken) else {
                return Ok(Paged::NoChange);
            };
            taken.push((page, turn));
            let turned = self.turn(turn, target).await?;
            let dead = self.state.turns.judge(page, target, turn, &turned);
            match turned {
                Turned::Moved => {
                    self.state.page = Some(match turn {
                        Turn::Link => target,
                        Turn::Next => page + 1,
                    })
                }
                Turned::NoControl if turn == Turn::Next => return Ok(Paged::End),
                Turned::NoControl | Turned::Unchanged => {}
                Turned::Left(shown) => {
                    // The list opened afresh (after a login, maybe) is another list: every turn
                    // may be taken from its pages again, within the budget and the dead turns.
                    self.state.closed();
                    taken.clear();
                    if shown == Shown::LoginForm && !dead {
                        tracing::info!(
                            page,
                            "The Recordings list answered the login form on a page turn; \
                             logging in where it shows"
                        );
                    }
                    if dead {
                        // No further login or reopening is spent on a turn that shows it again.
                        return Ok(Paged::NoChange);
                    }
                }
            }
        }
        tracing::debug!(target, "page not reached within the paging budget");
        Ok(Paged::NoChange)
    }

    /// The next turn from `page`: towards the next page the next control first, else the page's
    /// own control first; none already taken from this page in this goal, none found dead.
    fn next_turn(&self, page: usize, target: usize, taken: &[(usize, Turn)]) -> Option<Turn> {
        let has_link = matches!(
            self.selectors.recordings.paging,
            Paging::NextButton { page: Some(_), .. }
        );
        let order = match target == page + 1 {
            true => [Turn::Next, Turn::Link],
            false => [Turn::Link, Turn::Next],
        };
        order.into_iter().find(|&turn| {
            (turn == Turn::Next || has_link)
                && !self.state.turns.dead.contains(&turn)
                && !taken.contains(&(page, turn))
        })
    }

    /// Clicks `turn`'s control and tells what the page shows then: the rows compared with those
    /// before, and the page classified. A control re-rendered under the click is found again
    /// within the element timeout.
    async fn turn(&self, turn: Turn, target: usize) -> Step<Turned> {
        let control = match (&self.selectors.recordings.paging, turn) {
            (Paging::NextButton { next, .. }, Turn::Next) => next.plain(),
            (
                Paging::NextButton {
                    page: Some(link), ..
                },
                Turn::Link,
            ) => link.bind(&Vars::default().with("page", target.to_string())),
            (Paging::LoadMore { button }, _) => button.plain(),
            _ => return Ok(Turned::NoControl),
        };
        let deadline = Instant::now() + self.browser.timeouts.element;
        let before = loop {
            let Some(button) = self.browser.find(&control).await? else {
                return Ok(Turned::NoControl);
            };
            let before = self.shown().await?;
            let clicked = match self.browser.is_disabled(&button).await {
                Ok(true) => return Ok(Turned::NoControl),
                Ok(false) => self.browser.click_element(&button).await?,
                Err(ConsoleErrorKind::Stale { .. }) => false,
                Err(e) => return Err(e),
            };
            if clicked {
                break before;
            }
            if Instant::now() >= deadline {
                return Ok(Turned::Unchanged);
            }
            tokio::time::sleep(self.browser.timeouts.poll).await;
        };
        let moved = self.await_new_rows(&before).await?;
        Ok(match (self.page_shown(Expect::Any).await?, moved) {
            (Shown::List, true) => Turned::Moved,
            (Shown::List, false) => Turned::Unchanged,
            (other, _) => Turned::Left(other),
        })
    }

    /// Waits until the rows differ from `before` (a new page rendered, more rows loaded, the
    /// list cleared while it loads, or the list gone); false when they did not within the
    /// element timeout.
    async fn await_new_rows(&self, before: &settled::Shown) -> Step<bool> {
        let deadline = Instant::now() + self.browser.timeouts.element;
        loop {
            if self.shown().await? != *before {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            // The next page renders within a list request; a quick look again finds it early.
            tokio::time::sleep(self.browser.timeouts.poll / 5).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_turn_that_shows_no_progress_twice_from_the_same_page_is_dead() {
        let mut turns = Turns::default();
        assert!(!turns.judge(1, 2, Turn::Next, &Turned::Unchanged));
        // Progress and the end of the list never kill a turn.
        assert!(!turns.judge(1, 2, Turn::Next, &Turned::Moved));
        assert!(!turns.judge(2, 3, Turn::Next, &Turned::NoControl));
        assert!(!turns.judge(2, 3, Turn::Next, &Turned::NoControl));
        // Another result from the same page is not "the same twice".
        assert!(!turns.judge(1, 2, Turn::Next, &Turned::Left(Shown::LoginForm)));
        assert!(turns.judge(1, 2, Turn::Next, &Turned::Left(Shown::LoginForm)));
        assert!(turns.dead.contains(&Turn::Next));
        // Said once.
        assert!(!turns.judge(1, 2, Turn::Next, &Turned::Left(Shown::LoginForm)));
        assert!(!turns.dead.contains(&Turn::Link));
    }
}
