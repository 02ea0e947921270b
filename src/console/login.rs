//! The console's login page: which UI generation it is, signing in, and reading the firmware.

use std::time::Duration;

use tokio::time::Instant;

use super::browser::{Browser, Step};
use super::error::ConsoleErrorKind;
use super::optional;
use crate::secrets::Secret;
use crate::selectors::{SelectorCatalog, SelectorSet, Texts};

/// The login form, as one selectors file describes it.
pub(crate) struct LoginPage<'a> {
    browser: &'a Browser,
    selectors: &'a SelectorSet,
}

impl<'a> LoginPage<'a> {
    /// Waits for a login form that one of the catalog's files recognises (the default first), or
    /// a CAPTCHA in its place. The page must already be loaded.
    pub(crate) async fn recognise(
        browser: &'a Browser,
        catalog: &'a SelectorCatalog,
    ) -> Step<Self> {
        let deadline = Instant::now() + browser.timeouts.element;
        loop {
            for selectors in catalog.login_candidates() {
                let page = Self { browser, selectors };
                page.refuse_captcha().await?;
                if browser
                    .find(&selectors.login.username.plain())
                    .await?
                    .is_some()
                {
                    return Ok(page);
                }
            }
            if Instant::now() >= deadline {
                // Name the default file's field: the one an operator would look at first.
                let default = catalog
                    .login_candidates()
                    .next()
                    .expect("a catalog has a file");
                return Err(ConsoleErrorKind::missing(&default.login.username.plain()));
            }
            tokio::time::sleep(browser.timeouts.poll).await;
        }
    }

    /// The login form shown now, as `selectors` describes it (the navigation loop met it).
    pub(crate) fn on(browser: &'a Browser, selectors: &'a SelectorSet) -> Self {
        Self { browser, selectors }
    }

    pub(crate) fn selectors(&self) -> &'a SelectorSet {
        self.selectors
    }

    /// Fills and submits the form once, then waits for the post-login marker or the console's
    /// refusal. Never retries: a second wrong attempt would bring the UCM's ban closer.
    pub(crate) async fn sign_in(&self, username: &str, password: &Secret<String>) -> Step<()> {
        let login = &self.selectors.login;
        self.refuse_captcha().await?;
        self.browser.fill(&login.username.plain(), username).await?;
        self.browser
            .fill(&login.password.plain(), password.expose())
            .await?;
        self.browser
            .click(&login.submit.plain(), &self.selectors.busy)
            .await?;
        self.await_outcome().await
    }

    async fn await_outcome(&self) -> Step<()> {
        let signed_in = self.selectors.login.signed_in.plain();
        let deadline = Instant::now() + self.browser.timeouts.element;
        loop {
            if self.browser.find(&signed_in).await?.is_some() {
                return Ok(());
            }
            self.refuse_captcha().await?;
            if let Some(refusal) = refusal(&self.browser.page_text().await?, &self.selectors.texts)
            {
                return Err(refusal);
            }
            if Instant::now() >= deadline {
                return Err(ConsoleErrorKind::missing(&signed_in));
            }
            tokio::time::sleep(self.browser.timeouts.poll).await;
        }
    }

    /// A CAPTCHA stops the login; its locator is optional, so one the browser refuses only
    /// costs a warning.
    async fn refuse_captcha(&self) -> Step<()> {
        match optional::shown(self.browser, self.selectors.login.captcha.as_ref()).await? {
            true => Err(ConsoleErrorKind::Captcha),
            false => Ok(()),
        }
    }
}

/// The console's refusal in the page text, lockout first: a ban message may also mention the
/// wrong password that caused it.
fn refusal(page_text: &str, texts: &Texts) -> Option<ConsoleErrorKind> {
    if let Some(line) = matching_line(page_text, &texts.locked_out) {
        return Some(ConsoleErrorKind::LockedOut {
            retry_after: stated_wait(line, page_text),
        });
    }
    matching_line(page_text, &texts.bad_login).map(|line| ConsoleErrorKind::LoginRejected {
        message: line.chars().take(200).collect(),
    })
}

/// The first line of `text` that contains one of `needles` (already lower-case).
pub(crate) fn matching_line<'t>(text: &'t str, needles: &[String]) -> Option<&'t str> {
    text.lines().map(str::trim).find(|line| {
        let line = line.to_lowercase();
        needles.iter().any(|n| line.contains(n.as_str()))
    })
}

/// The wait a refusal states: in the line that matched (`line`) or, since consoles often put
/// it on a line of its own ("429 Too Many Requests" / "… retry after 1 seconds"), in any line
/// of the page that speaks of retrying or waiting.
pub(crate) fn stated_wait(line: &str, page_text: &str) -> Option<Duration> {
    wait_in(line).or_else(|| {
        page_text
            .lines()
            .filter(|l| {
                let l = l.to_lowercase();
                ["retry", "again", "after", "wait", "remain"]
                    .iter()
                    .any(|w| l.contains(w))
            })
            .find_map(wait_in)
    })
}

/// A wait the console states in words: "retry after 15 seconds", "banned for 5 minutes", "300s".
pub(crate) fn wait_in(line: &str) -> Option<Duration> {
    let lower = line.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    words.iter().enumerate().find_map(|(i, word)| {
        let digits_end = word
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(word.len());
        let number: u64 = word[..digits_end].parse().ok()?;
        // The unit is glued to the number ("300s") or the next word ("5 minutes").
        let unit = match &word[digits_end..] {
            "" => words.get(i + 1).copied().unwrap_or(""),
            glued => glued,
        };
        let seconds = match unit {
            u if u.starts_with("sec") || u == "s" => number,
            u if u.starts_with("min") || u == "m" => number * 60,
            u if u.starts_with("hour") || u == "h" => number * 3600,
            _ => return None,
        };
        Some(Duration::from_secs(seconds))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts() -> Texts {
        Texts {
            bad_login: vec!["wrong user name or password".into()],
            locked_out: vec!["banned".into()],
            rate_limited: vec![],
        }
    }

    #[test]
    fn lockout_wins_over_bad_login_and_carries_its_wait() {
        let page = "Login\nWrong user name or password. Your IP is banned for 5 minutes.\n";
        match refusal(page, &texts()) {
            Some(ConsoleErrorKind::LockedOut { retry_after }) => {
                assert_eq!(retry_after, Some(Duration::from_secs(300)))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_login_quotes_the_console() {
        match refusal(
            "Sign in\n  Wrong user name or password, 4 attempts left \n",
            &texts(),
        ) {
            Some(ConsoleErrorKind::LoginRejected { message }) => {
                assert_eq!(message, "Wrong user name or password, 4 attempts left")
            }
            other => panic!("{other:?}"),
        }
        assert!(refusal("Welcome", &texts()).is_none());
    }

    #[test]
    fn waits_in_words() {
        assert_eq!(
            wait_in("retry after 15 seconds"),
            Some(Duration::from_secs(15))
        );
        assert_eq!(wait_in("remain_time: 300s"), Some(Duration::from_secs(300)));
        assert_eq!(
            wait_in("try again in 2 min."),
            Some(Duration::from_secs(120))
        );
        assert_eq!(wait_in("error -68"), None);
        // The status line matches; the wait is on the next one.
        let page = "429 Too Many Requests\nOperating too frequently, retry after 1 seconds";
        let line = matching_line(page, &["too many requests".to_string()]).unwrap();
        assert_eq!(stated_wait(line, page), Some(Duration::from_secs(1)));
    }
}
