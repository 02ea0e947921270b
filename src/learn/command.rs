//! `ucm-scraper selectors learn --tenant ID [--out FILE]`: one login and a walk to the
//! Recordings list, a draft selectors file with its evidence, then the proof: the draft parsed,
//! its locators checked on the console like `selectors check --tenant`, and a dry run finding
//! the known calls' rows without downloading.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sqlx::PgPool;

use crate::calls::{self, Call, CallsError};
use crate::config::Settings;
use crate::console::{
    BrowserConfig, CallQuery, ConsoleError, ConsoleSession, ConsoleTarget, DownloadDirError,
    DownloadRoot, LocatorCheck, Walk, Window,
};
use crate::ids::TenantId;
use crate::probe::{ready_tenant, ProbeError};
use crate::selectors::{Found, KnownCall, Learnt, PagingGuess, SelectorSet, SelectorsError};

/// Why `selectors learn` could not draft a file.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    #[error(transparent)]
    Tenant(#[from] ProbeError),
    #[error(transparent)]
    Calls(#[from] CallsError),
    #[error(transparent)]
    Console(#[from] ConsoleError),
    #[error(transparent)]
    DownloadDir(#[from] DownloadDirError),
    #[error("{} already exists: `selectors learn` never overwrites a file; give another --out or move it away", .0.display())]
    Exists(PathBuf),
    #[error("tenant {name} (ID: {id}) has no call with a recording file in cdr_records within LOOKBACK_DAYS: the learner finds the list's rows by known calls; run it once calls have come in")]
    NoKnownCalls { name: String, id: TenantId },
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What the learner did, for the report.
pub struct LearnReport {
    pub out: PathBuf,
    pub pages_dir: PathBuf,
    pub walk: Walk,
    pub calls: Vec<Call>,
    /// The draft as the worker parses it, or why it does not parse.
    pub parsed: Result<(), SelectorsError>,
    /// The draft's locators on the console (a second login, with the draft alone).
    pub checks: Result<Vec<LocatorCheck>, ConsoleError>,
    /// Per known call (as in `calls`): the page its row was found on, or why not.
    pub dry_run: Vec<Result<usize, String>>,
}

/// Learns the tenant's console, writes the draft to `out` (default `learnt-<id>.toml`) and
/// proves it on up to `limit` known calls over at most `max_pages` list pages.
pub async fn learn_tenant(
    pool: &PgPool,
    settings: &Settings,
    window: Window,
    id: TenantId,
    out: Option<PathBuf>,
    limit: usize,
    max_pages: usize,
) -> Result<LearnReport, LearnError> {
    let out = out.unwrap_or_else(|| PathBuf::from(format!("learnt-{id}.toml")));
    if out.exists() {
        return Err(LearnError::Exists(out));
    }
    let pages_dir = out.with_extension("pages");
    let tenant = ready_tenant(pool, settings, id).await?;
    let calls = calls::known(pool, id, settings.lookback_days, limit).await?;
    if calls.is_empty() {
        return Err(LearnError::NoKnownCalls {
            name: tenant.name.clone(),
            id,
        });
    }
    let known: Vec<KnownCall> = calls
        .iter()
        .map(|c| KnownCall::from(&CallQuery::from(c)))
        .collect();
    let config = BrowserConfig::from_settings(settings, window);
    // Held like a worker's, so that a worker starting meanwhile does not sweep these sessions.
    let _download_root = DownloadRoot::hold(&config).await?;
    // SELECTORS_DIR may hold no file yet: learning is how its first one is made.
    let mut session = ConsoleSession::open_to_learn(&config, ConsoleTarget::from(&tenant)).await?;
    let walked = session.learn(&known, max_pages, &pages_dir).await;
    let written = match walked {
        Ok(walk) => match write_new(&out, &walk.learnt.to_toml(&generation_name(&walk.learnt))) {
            Ok(()) => Ok(walk),
            Err(source) => Err(not_written(&out, source)),
        },
        Err(error) => Err(LearnError::from(error)),
    };
    let walk = match written {
        Ok(walk) => walk,
        Err(error) => {
            session.close().await;
            return Err(error);
        }
    };
    // The proof in the same session: one login in all.
    let (parsed, checks, dry_run) = match SelectorSet::load(&out) {
        Ok(draft) => {
            let queries: Vec<_> = calls.iter().map(CallQuery::from).collect();
            let (checks, found) = session.prove_learnt(draft, &queries).await;
            (Ok(()), checks, found)
        }
        Err(e) => {
            let not_tried = vec![Err(format!("not tried: {e}")); calls.len()];
            (Err(e), Ok(Vec::new()), not_tried)
        }
    };
    session.close().await;
    Ok(LearnReport {
        out,
        pages_dir,
        walk,
        calls,
        parsed,
        checks,
        dry_run,
    })
}

/// The UI generation's name in the draft: its firmware when shown.
fn generation_name(learnt: &Learnt) -> String {
    match &learnt.firmware {
        Some((_, version)) => format!("learnt from firmware {version}"),
        None => "learnt (firmware not shown)".into(),
    }
}

/// Writes a file that must not exist yet.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?
        .write_all(text.as_bytes())
}

impl LearnReport {
    /// Offered only when the draft parses, its check on the console got through (login, the
    /// Recordings page), and the dry run found every known call.
    pub fn passed(&self) -> bool {
        self.parsed.is_ok() && self.checks.is_ok() && self.dry_run.iter().all(Result::is_ok)
    }

    /// The confidence report printed after learning.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let w = &self.walk;
        let l = &w.learnt;
        let _ = writeln!(
            out,
            "Draft: {} ({} page(s) saved in {})",
            self.out.display(),
            w.pages_saved,
            self.pages_dir.display()
        );
        let _ = writeln!(
            out,
            "login form: {}",
            match &w.login_from {
                Some(file) => format!("the locators of {} matched", file.display()),
                None => "inferred (no selectors file's login locators matched)".into(),
            }
        );
        let mut key = |name: &str, found: &Found| {
            let _ = writeln!(
                out,
                "  {name:<24} {:<6} matched {:<3} {}",
                format!("{:?}", found.strategy).to_lowercase(),
                found.matched,
                found.selector
            );
        };
        key("login.username", &l.login.username);
        key("login.password", &l.login.password);
        key("login.submit", &l.login.submit);
        key("login.signed_in", &l.signed_in);
        if let Some((found, _)) = &l.firmware {
            key("firmware_marker", found);
        }
        for found in &l.menu {
            key("recordings.menu", found);
        }
        key("recordings.ready", &l.list.ready);
        key("recordings.row", &l.list.row);
        key("recordings.caller", &l.list.caller);
        key("recordings.callee", &l.list.callee);
        key("recordings.time", &l.list.time);
        key("recordings.download", &l.list.download);
        if let Some(found) = &l.logout {
            key("logout", found);
        }
        if let Some(found) = &l.page_number {
            key("paging.page", found);
        }
        match &l.paging {
            PagingGuess::Next(found) => key("paging.next", found),
            PagingGuess::LoadMore(found) => key("paging.load_more", found),
            PagingGuess::None => {}
        }
        for found in &l.busy {
            key("busy", found);
        }
        let _ = writeln!(
            out,
            "route: {}\ntime_format: {}\nknown calls seen while walking: {} of {}",
            l.route.as_deref().unwrap_or("none (the menu is used)"),
            l.list.time_format,
            w.calls_seen.len(),
            self.calls.len()
        );
        self.proof(&mut out);
        out
    }

    fn proof(&self, out: &mut String) {
        match &self.parsed {
            Ok(()) => out.push_str("draft parses: yes\n"),
            Err(e) => {
                let _ = writeln!(out, "draft parses: NO ({e})");
            }
        }
        match &self.checks {
            Ok(checks) => {
                let empty: Vec<_> = checks
                    .iter()
                    .filter(|c| c.matches == 0)
                    .map(|c| c.origin.as_str())
                    .collect();
                let _ = writeln!(
                    out,
                    "check on the console: {} locators, {}",
                    checks.len(),
                    match empty.is_empty() {
                        true => "each matched".to_string(),
                        // Busy markers, placeholders and a last page's paging may match nothing.
                        false => format!("matched nothing now: {}", empty.join(", ")),
                    }
                );
            }
            Err(e) => {
                let _ = writeln!(out, "check on the console: FAILED ({e})");
            }
        }
        out.push_str("dry run (rows found, nothing downloaded):\n");
        for (call, found) in self.calls.iter().zip(&self.dry_run) {
            let _ = match found {
                Ok(page) => writeln!(out, "  found      {} on page {page}", call.uniqueid),
                Err(why) => writeln!(out, "  NOT FOUND  {}: {why}", call.uniqueid),
            };
        }
        let _ = writeln!(
            out,
            "{}",
            match self.passed() {
                true => "Offered: review the draft, then copy it into SELECTORS_DIR.",
                false => "Not offered: see above; the saved pages show what the console showed.",
            }
        );
    }
}

/// Why the draft could not be written to `out` (it is never written over an existing file).
fn not_written(out: &Path, source: std::io::Error) -> LearnError {
    match source.kind() {
        std::io::ErrorKind::AlreadyExists => LearnError::Exists(out.to_path_buf()),
        _ => LearnError::Io {
            path: out.to_path_buf(),
            source,
        },
    }
}
