//! What the page shows, as the navigation sees it: the state the navigation loop
//! ([`super::navigate`]) decides its next action from.

use tokio::time::Instant;

use super::browser::{Answer, Browser, Step};
use super::optional;
use crate::selectors::SelectorSet;

/// What the page shows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Shown {
    /// The login form, or a CAPTCHA in its place.
    LoginForm,
    /// Signed in (the signed-in marker), without the Recordings list.
    SignedIn,
    /// The Recordings list.
    List,
    /// Not the console's app: an error document, a JSON answer, a bare page; what it was.
    NotApp(String),
    /// None of the above within the element timeout.
    Unknown,
}

impl Shown {
    /// For the log and the stop line.
    pub(crate) fn describe(&self) -> String {
        match self {
            Shown::LoginForm => "the login form".into(),
            Shown::SignedIn => "the signed-in page without the list".into(),
            Shown::List => "the list".into(),
            Shown::NotApp(what) => format!("not the app ({what})"),
            Shown::Unknown => "nothing the selectors file recognises".into(),
        }
    }
}

/// How long to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// The step should show the list: wait for it the element timeout, unless a login form or
    /// a non-app answer tells sooner.
    List,
    /// Any recognised page ends the look.
    Any,
}

/// Tells what the page shows, bounded by the element timeout.
pub(crate) async fn classify(
    browser: &Browser,
    selectors: &SelectorSet,
    expect: Expect,
) -> Step<Shown> {
    if let Answer::NotApp(what) = browser.answer().await? {
        return Ok(Shown::NotApp(what));
    }
    let ready = selectors.recordings.ready.plain();
    let signed_in = selectors.login.signed_in.plain();
    let deadline = Instant::now() + browser.timeouts.element;
    loop {
        if browser.find(&ready).await?.is_some() {
            return Ok(Shown::List);
        }
        if shows_login(browser, selectors).await? {
            return Ok(Shown::LoginForm);
        }
        let inside = browser.find(&signed_in).await?.is_some();
        if inside && expect == Expect::Any {
            return Ok(Shown::SignedIn);
        }
        if Instant::now() >= deadline {
            return Ok(match inside {
                true => Shown::SignedIn,
                false => Shown::Unknown,
            });
        }
        tokio::time::sleep(browser.timeouts.poll).await; // the app draws after a delay
    }
}

/// Whether the session is still signed in, told on the Recordings list (or the page a session
/// without a known way lands on) by what only a signed-in session is given: the list's rows or
/// its `empty` marker, data the app fetched, against the login form. The app draws its frame,
/// the signed-in marker and the list's header with it, before its first request answers, and
/// an expired session shows only in that answer; so the frame alone counts only once the
/// element timeout has passed without a login form.
pub(crate) async fn still_signed_in(browser: &Browser, selectors: &SelectorSet) -> Step<bool> {
    if let Answer::NotApp(_) = browser.answer().await? {
        return Ok(false);
    }
    let row = selectors.recordings.row.plain();
    let empty = selectors.recordings.empty.as_ref();
    let deadline = Instant::now() + browser.timeouts.element;
    loop {
        if shows_login(browser, selectors).await? {
            return Ok(false);
        }
        if browser.find(&row).await?.is_some() {
            return Ok(true);
        }
        if optional::shown(browser, empty).await? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            let frame = selectors.login.signed_in.plain();
            return Ok(browser.find(&frame).await?.is_some());
        }
        tokio::time::sleep(browser.timeouts.poll).await; // the app's request is answered later
    }
}

/// Whether the page shows the login form, or a CAPTCHA in its place, now.
async fn shows_login(browser: &Browser, selectors: &SelectorSet) -> Step<bool> {
    if browser
        .find(&selectors.login.username.plain())
        .await?
        .is_some()
    {
        return Ok(true);
    }
    optional::shown(browser, selectors.login.captcha.as_ref()).await
}
