//! Healing a drifted required locator on the live page (issue 22). When a list locator (rows,
//! cells, download, paging) finds nothing on a page that otherwise is the Recordings list, the
//! `selectors learn` inference reads the page against the tenant's known calls and changes only
//! the keys that find nothing ([`super::learn::heal`]). The result is used only after a dry run
//! with it finds those calls on the list by the same row match the worker downloads by: the
//! positive evidence. Storing and using it is the pass's ([`crate::learned`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::time::Instant;

use super::error::ConsoleErrorKind;
use super::learn::heal::{calls_shown, plan, plan_signed_in, Plan, HEALABLE, SIGNED_IN};
use super::learn::{Change, HealMiss};
use super::session::ConsoleSession;
use super::{CallQuery, ConsoleError};
use crate::selectors::KnownCall;
use crate::selectors::{SelectorSet, SelectorsError};

/// A healed selectors file, proven on the live list.
#[derive(Debug, Clone)]
pub struct Healed {
    pub set: SelectorSet,
    /// The whole file as TOML, with a header saying what changed and why.
    pub toml: String,
    pub changes: Vec<Change>,
    /// Per known call found by the dry run: `<uniqueid> on page N`.
    pub evidence: Vec<String>,
}

impl Healed {
    /// The healed file `set` from `plan`, proven by `evidence`, learnt from the file `from`.
    fn new(from: &SelectorSet, set: SelectorSet, plan: Plan, evidence: Vec<String>) -> Self {
        let toml = format!(
            "{}{}",
            header(&from.file, &plan.changes, &evidence),
            plan.toml
        );
        Healed {
            set,
            toml,
            changes: plan.changes,
            evidence,
        }
    }
}

/// Why a drifted locator was not healed.
#[derive(Debug, thiserror::Error)]
pub enum NotHealed {
    #[error(transparent)]
    Miss(#[from] HealMiss),
    #[error("the healed file does not parse: {0}")]
    Draft(#[from] SelectorsError),
    #[error("the healed file did not find call {uniqueid} on the list the way a download finds it: {why}")]
    Unproven { uniqueid: String, why: String },
    #[error("the page could not be read: {0}")]
    Console(#[from] ConsoleErrorKind),
    #[error(
        "the login did not leave the login form (no login page seen, or the form still shows)"
    )]
    NotSignedIn,
}

/// Known calls looked for at most to prove a healed signed-in marker: one found is the proof,
/// and a call not on the list costs a search.
const PROOF_TRIES: usize = 3;

/// The key of a required list locator that found nothing (`recordings.download`), read from
/// where the error says the locator was written (`selectors/ucm63xx.toml: recordings.download`).
pub fn drifted_key(error: &ConsoleError) -> Option<&str> {
    match &error.kind {
        ConsoleErrorKind::LocatorNotFound { origin, .. } => origin
            .rsplit_once(": ")
            .map(|(_, key)| key)
            .filter(|key| HEALABLE.contains(key) || *key == SIGNED_IN),
        _ => None,
    }
}

impl ConsoleSession {
    /// Heals `key` from the page shown now. `base` is the text of the file in use (`None`: read
    /// it from its path in SELECTORS_DIR; nothing is written there), `named` the name the healed
    /// file goes by in messages, `known` the tenant's known calls. The file in use stays in use;
    /// the caller decides whether to use the healed one.
    pub async fn heal(
        &mut self,
        key: &str,
        base: Option<&str>,
        named: &Path,
        known: &[CallQuery],
    ) -> Result<Healed, NotHealed> {
        let current = self.selectors_in_use();
        let base = base_text(&current, base)?;
        let calls: Vec<KnownCall> = known.iter().map(KnownCall::from).collect();
        if key == "recordings.ready" {
            // The navigation that missed the list has left it: learn where it was seen.
            self.back_to_list_address().await?;
        }
        let tz = self.target().timezone;
        let plan = self
            .read_list(|html| plan(html, &current, &base, key, &calls, tz))
            .await?;
        let set = SelectorSet::parse(named, &plan.toml)?;
        let evidence = self.prove(&set, &plan.calls_found, known).await?;
        Ok(Healed::new(&current, set, plan, evidence))
    }

    /// Tries a learned file that proved itself on another tenant's console (`toml`, which
    /// changed `changed`, one `key: old → new` a line; `from` says whose, for the evidence):
    /// used only after the same dry run as [`Self::heal`]'s finds this tenant's `known` calls
    /// that the page shows. `named`: as for [`Self::heal`].
    pub async fn adopt(
        &mut self,
        toml: &str,
        changed: &str,
        from: &str,
        named: &Path,
        known: &[CallQuery],
    ) -> Result<Healed, NotHealed> {
        let set = SelectorSet::parse(named, toml)?;
        let calls: Vec<KnownCall> = known.iter().map(KnownCall::from).collect();
        let tz = self.target().timezone;
        let shown = self.read_list(|html| calls_shown(html, &calls, tz)).await?;
        let mut evidence = vec![format!("taken from {from}")];
        evidence.extend(self.prove(&set, &shown, known).await?);
        Ok(Healed {
            set,
            toml: format!("# Taken by ucm-scraper from {from}.\n{toml}"),
            changes: changed.lines().filter_map(Change::parse).collect(),
            evidence,
        })
    }

    /// Heals a signed-in marker that found nothing after a login that left the login form:
    /// learnt from the page the login landed on against the login page it left, as `selectors
    /// learn` finds it. Proven when, with it, the list is reached and one of the first
    /// [`PROOF_TRIES`] `known` calls found on it the way a download finds it. `base`, `named`:
    /// as for [`Self::heal`].
    pub async fn heal_signed_in(
        &mut self,
        base: Option<&str>,
        named: &Path,
        known: &[CallQuery],
    ) -> Result<Healed, NotHealed> {
        let current = self.selectors_in_use();
        let base = base_text(&current, base)?;
        let browser = self.open_browser();
        let form = current.login.username.plain();
        let before = match self.login_page() {
            Some(page) if browser.find(&form).await?.is_none() => page.to_string(),
            _ => return Err(NotHealed::NotSignedIn),
        };
        let after = browser.source().await?;
        let plan = plan_signed_in(&before, &after, &current, &base)?;
        let set = SelectorSet::parse(named, &plan.toml)?;
        let previous = self.swap_selectors(Arc::new(set.clone()));
        let found = self.find_one(known).await;
        self.swap_selectors(previous);
        // The marker shows after the login and not on the login page, by how it was learnt.
        Ok(Healed::new(&current, set, plan, vec![found?]))
    }

    /// The first of the first [`PROOF_TRIES`] `known` calls found on the list with the file in
    /// use: `<uniqueid> on page N`.
    async fn find_one(&mut self, known: &[CallQuery]) -> Result<String, NotHealed> {
        let mut unproven = NotHealed::Unproven {
            uniqueid: "(none)".into(),
            why: "no known call to look for".into(),
        };
        for call in known.iter().take(PROOF_TRIES) {
            match self.find_row(call).await {
                Ok(page) => return Ok(format!("{} on page {page}", call.uniqueid)),
                Err(kind) => {
                    unproven = NotHealed::Unproven {
                        uniqueid: call.uniqueid.to_string(),
                        why: kind.to_string(),
                    }
                }
            }
        }
        Err(unproven)
    }

    /// `read` of the page, read again until it shows the known calls (a list may still be
    /// drawing), within the element timeout.
    async fn read_list<T>(
        &self,
        read: impl Fn(&str) -> Result<T, HealMiss>,
    ) -> Result<T, NotHealed> {
        let browser = self.open_browser();
        let deadline = Instant::now() + browser.timeouts.element;
        loop {
            let html = browser.source().await?;
            match read(&html) {
                Err(HealMiss::NoList(_)) if Instant::now() < deadline => {}
                other => return Ok(other?),
            }
            tokio::time::sleep(browser.timeouts.poll).await; // the list may still be drawing
        }
    }

    /// The dry run: every known call the page showed (`shown`, indexes into `known`) is found
    /// with `set` as a download would find it (the same row match), nothing clicked. The file
    /// in use is back in use after.
    async fn prove(
        &mut self,
        set: &SelectorSet,
        shown: &[usize],
        known: &[CallQuery],
    ) -> Result<Vec<String>, NotHealed> {
        let previous = self.swap_selectors(Arc::new(set.clone()));
        let mut evidence = Vec::with_capacity(shown.len());
        let mut unproven = None;
        for call in shown.iter().map(|i| &known[*i]) {
            match self.find_row(call).await {
                Ok(page) => evidence.push(format!("{} on page {page}", call.uniqueid)),
                Err(kind) => {
                    unproven = Some(NotHealed::Unproven {
                        uniqueid: call.uniqueid.to_string(),
                        why: kind.to_string(),
                    });
                    break;
                }
            }
        }
        self.swap_selectors(previous);
        match unproven {
            Some(why) => Err(why),
            None => Ok(evidence),
        }
    }
}

/// The text of the file in use: `base` when given (a learned file), else the file as read from
/// its path in SELECTORS_DIR (nothing is written there).
fn base_text(current: &SelectorSet, base: Option<&str>) -> Result<String, NotHealed> {
    match base {
        Some(text) => Ok(text.to_string()),
        None => Ok(std::fs::read_to_string(&current.file)
            .map_err(super::error::io_error("cannot read", &current.file))?),
    }
}

/// The comment on top of a healed file: where it comes from, what changed, the proof.
fn header(from: &Path, changes: &[Change], evidence: &[String]) -> String {
    let mut out = format!(
        "# Learnt by ucm-scraper on {} from {}: a required locator found nothing on the\n\
         # console. Changed:\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        from.display()
    );
    for change in changes {
        out.push_str(&format!("#   {change}\n"));
    }
    out.push_str("# Proof, on the live console:\n");
    for line in evidence {
        out.push_str(&format!("#   {line}\n"));
    }
    out.push('\n');
    out
}

/// The name a tenant's learned file goes by in messages and locator origins.
pub fn learned_name(tenant: crate::ids::TenantId) -> PathBuf {
    PathBuf::from(format!("learned selectors of tenant {tenant}"))
}
