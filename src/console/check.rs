//! `selectors check --tenant`: every locator of every selectors file tried on a live console.

use std::path::PathBuf;

use fantoccini::elements::Element;

use super::browser::{Browser, Step};
use super::error::ConsoleErrorKind;
use crate::selectors::{Bound, Paging, Selector, SelectorSet, Vars};

/// Where on the console a locator was tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckedOn {
    LoginPage,
    AfterLogin,
    RecordingsPage,
    /// Inside the first row of the Recordings page.
    FirstRow,
}

/// One locator tried on a live console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatorCheck {
    pub file: PathBuf,
    /// `selectors/ucm63xx.toml: login.submit`
    pub origin: String,
    pub desc: String,
    pub on: CheckedOn,
    /// Elements it matched (0: the UI has changed, or the element only shows at another time).
    pub matches: usize,
    /// Why it could not be tried properly (an invalid selector, no row to look in).
    pub note: Option<String>,
}

/// Tries locators of one file on the page shown now.
pub(crate) struct Checker<'a> {
    pub browser: &'a Browser,
    pub set: &'a SelectorSet,
}

impl Checker<'_> {
    async fn count(
        &self,
        bound: &Bound,
        within: Option<&Element>,
        on: CheckedOn,
    ) -> Step<LocatorCheck> {
        let found = match within {
            Some(row) => self
                .browser
                .find_in(row, bound)
                .await
                .map(|e| usize::from(e.is_some())),
            None => self.browser.find_all(bound).await.map(|all| all.len()),
        };
        let (matches, note) = match found {
            Ok(n) => (n, None),
            Err(ConsoleErrorKind::LocatorNotFound { what, .. }) => (0, Some(what)),
            Err(e) => return Err(e),
        };
        Ok(LocatorCheck {
            file: self.set.file.clone(),
            origin: bound.origin.clone(),
            desc: bound.desc.clone(),
            on,
            matches,
            note,
        })
    }

    async fn all(&self, selectors: &[&Selector], on: CheckedOn) -> Step<Vec<LocatorCheck>> {
        let mut checks = Vec::with_capacity(selectors.len());
        for selector in selectors {
            checks.push(self.count(&selector.plain(), None, on).await?);
        }
        Ok(checks)
    }

    pub(crate) async fn login_page(&self) -> Step<Vec<LocatorCheck>> {
        let l = &self.set.login;
        let mut selectors = vec![&l.username, &l.password, &l.submit];
        selectors.extend(&l.captcha);
        self.all(&selectors, CheckedOn::LoginPage).await
    }

    pub(crate) async fn after_login(&self) -> Step<Vec<LocatorCheck>> {
        let mut selectors = vec![&self.set.login.signed_in];
        selectors.extend(&self.set.firmware_marker);
        selectors.extend(&self.set.recordings.menu);
        selectors.extend(&self.set.logout);
        self.all(&selectors, CheckedOn::AfterLogin).await
    }

    pub(crate) async fn recordings_page(&self) -> Step<Vec<LocatorCheck>> {
        let r = &self.set.recordings;
        let mut selectors = vec![&r.ready, &r.row];
        selectors.extend(&r.empty);
        if let Some(search) = &r.search {
            selectors.extend(search.fields.iter().map(|(s, _)| s));
            selectors.push(&search.submit);
        }
        match &r.paging {
            Paging::NextButton { next, .. } => selectors.push(next),
            Paging::LoadMore { button } => selectors.push(button),
            Paging::None => {}
        }
        selectors.extend(&self.set.busy);
        let mut checks = self.all(&selectors, CheckedOn::RecordingsPage).await?;
        if let Paging::NextButton {
            page: Some(page), ..
        } = &r.paging
        {
            let first_page = page.bind(&Vars::default().with("page", "1"));
            checks.push(
                self.count(&first_page, None, CheckedOn::RecordingsPage)
                    .await?,
            );
        }
        checks.extend(self.first_row().await?);
        Ok(checks)
    }

    /// The per-row locators, tried in the first row the file's `row` finds.
    async fn first_row(&self) -> Step<Vec<LocatorCheck>> {
        let r = &self.set.recordings;
        let in_row = [&r.caller, &r.callee, &r.time, &r.download];
        let row = match self.browser.find(&r.row.plain()).await {
            Ok(row) => row,
            Err(ConsoleErrorKind::LocatorNotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let Some(row) = row else {
            return Ok(in_row
                .iter()
                .map(|s| LocatorCheck {
                    file: self.set.file.clone(),
                    origin: s.origin.clone(),
                    desc: s.desc.clone(),
                    on: CheckedOn::FirstRow,
                    matches: 0,
                    note: Some("no row to look in".into()),
                })
                .collect());
        };
        let mut checks = Vec::with_capacity(in_row.len() + 1);
        for selector in in_row {
            checks.push(
                self.count(&selector.plain(), Some(&row), CheckedOn::FirstRow)
                    .await?,
            );
        }
        let file = match &r.file_attribute {
            Some(name) => self.browser.attr_of(&row, name).await?,
            None => None,
        };
        if let (Some(file), Some(by_file)) = (file, &r.row_for_file) {
            let bound = by_file.bind(&Vars::default().with("file", file));
            checks.push(self.count(&bound, None, CheckedOn::FirstRow).await?);
        }
        Ok(checks)
    }
}
