//! Healing a drifted locator, the pure half: from the live list page, the tenant's known calls
//! and the selectors file in use, which keys to change and the file with them changed. Only the
//! key that found nothing, and other list keys that find nothing on the page either, change;
//! everything else of the file (login, menu, texts, logout…) stays as written. The proof on the
//! console is [`crate::console::heal`]'s.

use crate::selectors::dom::{select_in, Page};
use crate::selectors::infer::{self, Found, KnownCall, List, ListMiss, PagingGuess};
use crate::selectors::{Selector, SelectorSet, Strategy, Vars};

/// The keys a heal may change when they find nothing on a page that otherwise is the list.
pub const HEALABLE: &[&str] = &[
    "recordings.ready",
    "recordings.row",
    "recordings.caller",
    "recordings.callee",
    "recordings.time",
    "recordings.download",
    "paging.next",
    "paging.load_more",
];

/// One changed key, for the operator: `recordings.download: span.sprite-download →
/// span.anticon-download`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub key: String,
    pub old: String,
    pub new: String,
}

impl Change {
    /// A change as [`Display`](std::fmt::Display) writes it, read back (a stored file's
    /// `changed` lines); `None` for a line of another form.
    pub fn parse(line: &str) -> Option<Change> {
        let (key, rest) = line.split_once(": ")?;
        let (old, new) = rest.split_once(" → ")?;
        Some(change(key, old, new))
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} → {}", self.key, self.old, self.new)
    }
}

/// The healed file before its proof: its text, what changed, and the known calls the page
/// showed (by index into the calls given), which the proof must find again.
#[derive(Debug, Clone)]
pub struct Plan {
    pub toml: String,
    pub changes: Vec<Change>,
    pub calls_found: Vec<usize>,
}

/// Why nothing could be healed from the page.
#[derive(Debug, thiserror::Error)]
pub enum HealMiss {
    #[error("the page is not the list of the tenant's known calls: {0}")]
    NoList(ListMiss),
    #[error("{0} is not a key healing may change")]
    NotHealable(String),
    #[error("the page shows no {0} control")]
    NoPaging(&'static str),
    #[error(
        "every list locator of the file still finds its elements on the page: nothing to change"
    )]
    NothingChanged,
    #[error("the selectors file in use cannot be edited as TOML: {0}")]
    Base(String),
    #[error("the page the login landed on shows no navigation the login page did not have")]
    NoMarker,
}

/// The key of the signed-in marker, healed from the page a login lands on ([`plan_signed_in`]).
pub const SIGNED_IN: &str = "login.signed_in";

/// The signed-in marker learnt from the page a login landed on (`after`) against the login page
/// (`before`), as `selectors learn` finds it: the first navigation the login page did not have.
/// The file (`set`, whose text is `base`) with `login.signed_in` changed.
pub fn plan_signed_in(
    before: &str,
    after: &str,
    set: &SelectorSet,
    base: &str,
) -> Result<Plan, HealMiss> {
    let found =
        infer::signed_in(&Page::parse(before), &Page::parse(after)).ok_or(HealMiss::NoMarker)?;
    let now = &set.login.signed_in;
    if now.template == found.selector {
        return Err(HealMiss::NothingChanged);
    }
    let mut file: toml::Table = base.parse().map_err(|e| HealMiss::Base(format!("{e}")))?;
    set_locator(&mut file, "login", "signed_in", &found, &now.desc);
    let toml = toml::to_string(&file).map_err(|e| HealMiss::Base(e.to_string()))?;
    Ok(Plan {
        toml,
        changes: vec![change(SIGNED_IN, &now.template, &found.selector)],
        calls_found: Vec::new(),
    })
}

/// Which keys to change and the file with them changed. `failed` is the key that found nothing
/// (`recordings.download`), `base` the text of `set`.
pub fn plan(
    html: &str,
    set: &SelectorSet,
    base: &str,
    failed: &str,
    calls: &[KnownCall],
    tz: chrono_tz::Tz,
) -> Result<Plan, HealMiss> {
    if !HEALABLE.contains(&failed) {
        return Err(HealMiss::NotHealable(failed.to_string()));
    }
    let page = Page::parse(html);
    let list = infer::list(&page, calls, tz).map_err(HealMiss::NoList)?;
    let mut file: toml::Table = base.parse().map_err(|e| HealMiss::Base(format!("{e}")))?;
    let mut changes = Vec::new();
    let r = &set.recordings;
    let row_now = page
        .select(&list.row.selector)
        .and_then(|rows| rows.first().copied());
    let finds = |selector: &Selector, in_row: bool| -> Option<bool> {
        if selector.strategy != Strategy::Css {
            return None; // XPath cannot be tried on the saved page: changed only when it failed
        }
        let css = selector.plain().text;
        Some(
            match in_row {
                true => row_now.and_then(|row| select_in(row, &css)),
                false => page.select(&css),
            }
            .is_some_and(|found| !found.is_empty()),
        )
    };
    let keys: [(&str, &Selector, &Found, bool); 6] = [
        ("ready", &r.ready, &list.ready, false),
        ("row", &r.row, &list.row, false),
        ("caller", &r.caller, &list.caller, true),
        ("callee", &r.callee, &list.callee, true),
        ("time", &r.time, &list.time, true),
        ("download", &r.download, &list.download, true),
    ];
    for (name, now, learnt, in_row) in keys {
        let key = format!("recordings.{name}");
        let broken = key == failed || finds(now, in_row) == Some(false);
        if broken && now.template != learnt.selector {
            set_locator(&mut file, "recordings", name, learnt, &now.desc);
            changes.push(change(&key, &now.template, &learnt.selector));
        }
    }
    let changed = |changes: &[Change], name: &str| {
        changes
            .iter()
            .any(|c| c.key == format!("recordings.{name}"))
    };
    if changed(&changes, "row") {
        row_keys(&mut file, set, &list, &page, calls, &mut changes);
    }
    if changed(&changes, "time") && r.time_format != list.time_format {
        recordings(&mut file).insert("time_format".into(), list.time_format.clone().into());
        changes.push(change(
            "recordings.time_format",
            &r.time_format,
            &list.time_format,
        ));
    }
    if failed.starts_with("paging.") {
        paging(&mut file, set, failed, &infer::paging(&page), &mut changes)?;
    }
    if changes.is_empty() {
        return Err(HealMiss::NothingChanged);
    }
    let toml = toml::to_string(&file).map_err(|e| HealMiss::Base(e.to_string()))?;
    Ok(Plan {
        toml,
        changes,
        calls_found: list.calls_found,
    })
}

/// The known calls (indexes into `calls`) the page shows as a list, whatever its locators.
pub fn calls_shown(
    html: &str,
    calls: &[KnownCall],
    tz: chrono_tz::Tz,
) -> Result<Vec<usize>, HealMiss> {
    let list = infer::list(&Page::parse(html), calls, tz).map_err(HealMiss::NoList)?;
    Ok(list.calls_found)
}

fn change(key: &str, old: &str, new: &str) -> Change {
    Change {
        key: key.to_string(),
        old: old.to_string(),
        new: new.to_string(),
    }
}

fn recordings(file: &mut toml::Table) -> &mut toml::Table {
    table(file, "recordings")
}

fn table<'a>(file: &'a mut toml::Table, name: &str) -> &'a mut toml::Table {
    file.entry(name)
        .or_insert_with(|| toml::Table::new().into())
        .as_table_mut()
        .expect("the selectors parser accepted the base file, so its tables are tables")
}

/// `{ css = "…", desc = "…" }` in the file's `[table]`.
fn set_locator(file: &mut toml::Table, in_table: &str, key: &str, found: &Found, desc: &str) {
    let mut locator = toml::Table::new();
    let how = match found.strategy {
        Strategy::Css => "css",
        Strategy::XPath => "xpath",
    };
    locator.insert(how.into(), found.selector.clone().into());
    locator.insert("desc".into(), desc.to_string().into());
    table(file, in_table).insert(key.into(), locator.into());
}

/// A changed row brings its file attribute and `row_for_file` along where they no longer hold.
fn row_keys(
    file: &mut toml::Table,
    set: &SelectorSet,
    list: &List,
    page: &Page,
    calls: &[KnownCall],
    changes: &mut Vec<Change>,
) {
    let r = &set.recordings;
    if r.file_attribute != list.file_attribute {
        let shown = |a: &Option<String>| a.clone().unwrap_or_else(|| "(none)".into());
        match &list.file_attribute {
            Some(attr) => recordings(file).insert("file_attribute".into(), attr.clone().into()),
            None => recordings(file).remove("file_attribute"),
        };
        changes.push(change(
            "recordings.file_attribute",
            &shown(&r.file_attribute),
            &shown(&list.file_attribute),
        ));
    }
    let Some(by_file) = &r.row_for_file else {
        return;
    };
    let known_file = list
        .calls_found
        .first()
        .and_then(|i| calls[*i].files.first());
    let holds = by_file.strategy == Strategy::Css
        && known_file.is_some_and(|f| {
            let css = by_file.bind(&Vars::default().with("file", f.clone())).text;
            page.select(&css).is_some_and(|found| !found.is_empty())
        });
    if holds {
        return;
    }
    match &list.row_for_file {
        Some(found) => set_locator(file, "recordings", "row_for_file", found, &by_file.desc),
        None => {
            recordings(file).remove("row_for_file");
        }
    }
    let new = list
        .row_for_file
        .as_ref()
        .map_or("(none)".to_string(), |f| f.selector.clone());
    changes.push(change("recordings.row_for_file", &by_file.template, &new));
}

/// The paging control that found nothing, learnt again when the page shows one of its kind.
fn paging(
    file: &mut toml::Table,
    set: &SelectorSet,
    failed: &str,
    guess: &PagingGuess,
    changes: &mut Vec<Change>,
) -> Result<(), HealMiss> {
    use crate::selectors::Paging;
    let (key, now, found) = match (&set.recordings.paging, guess) {
        (Paging::NextButton { next, .. }, PagingGuess::Next(found)) => ("next", next, found),
        (Paging::LoadMore { button }, PagingGuess::LoadMore(found)) => ("load_more", button, found),
        _ => {
            return Err(HealMiss::NoPaging(if failed == "paging.next" {
                "next page"
            } else {
                "load more"
            }))
        }
    };
    if now.template != found.selector {
        set_locator(file, "paging", key, found, &now.desc);
        changes.push(change(
            &format!("paging.{key}"),
            &now.template,
            &found.selector,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use chrono::DateTime;

    use super::*;

    fn calls() -> Vec<KnownCall> {
        (0..2)
            .map(|i| {
                let epoch = 1_770_395_696 + 600 * i;
                KnownCall {
                    files: vec![format!("2026-02/auto-{epoch}-1000-2815058290.wav")],
                    caller: "1000".into(),
                    callee: "2815058290".into(),
                    start_utc: DateTime::from_timestamp(epoch, 0).unwrap().naive_utc(),
                }
            })
            .collect()
    }

    /// The ucm63xx list with the download control drawn as an Ant Design icon.
    fn drifted_list() -> String {
        let row = |epoch: i64, time: &str| {
            format!(
                r#"<tr class="ant-table-row" data-row-key="2026-02/auto-{epoch}-1000-2815058290.wav">
                <td><input type="checkbox"></td><td>1000</td><td>2815058290</td><td>{time}</td>
                <td>15 KB</td><td><span class="anticon anticon-play" aria-label="play"></span></td>
                <td><span role="img" aria-label="download" class="anticon anticon-download"><svg viewBox="0 0 8 8"><path d="M0"></path></svg></span></td></tr>"#
            )
        };
        format!(
            r#"<html><body><div class="ant-table-wrapper"><table><tbody class="ant-table-tbody">{}{}</tbody></table></div></body></html>"#,
            row(1_770_396_296, "2026-02-06 17:44:56"),
            row(1_770_395_696, "2026-02-06 17:34:56")
        )
    }

    fn shipped() -> (SelectorSet, String) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("selectors/ucm63xx.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        (SelectorSet::parse(&path, &text).unwrap(), text)
    }

    #[test]
    fn a_drifted_download_icon_changes_that_key_alone_and_the_file_still_parses() {
        let (set, text) = shipped();
        let tz = chrono_tz::Europe::Berlin;
        let plan = plan(
            &drifted_list(),
            &set,
            &text,
            "recordings.download",
            &calls(),
            tz,
        )
        .unwrap();
        assert_eq!(
            plan.changes,
            [change(
                "recordings.download",
                "span.sprite-download",
                "span.anticon-download"
            )]
        );
        assert_eq!(plan.calls_found.len(), 2);
        let healed = SelectorSet::parse(Path::new("learned.toml"), &plan.toml)
            .unwrap_or_else(|e| panic!("{e}\n{}", plan.toml));
        assert_eq!(healed.recordings.download.template, "span.anticon-download");
        assert_eq!(
            healed.recordings.download.desc,
            set.recordings.download.desc
        );
        assert_eq!(healed.login.username.template, set.login.username.template);
        assert_eq!(healed.recordings.menu.len(), set.recordings.menu.len());
        assert_eq!(healed.texts.bad_login, set.texts.bad_login);
        assert_eq!(healed.logout.len(), 1);
    }

    #[test]
    fn a_page_without_the_known_calls_heals_nothing() {
        let (set, text) = shipped();
        let page = "<html><body><p>Dashboard</p></body></html>";
        let miss = plan(
            page,
            &set,
            &text,
            "recordings.download",
            &calls(),
            chrono_tz::Europe::Berlin,
        )
        .unwrap_err();
        assert!(matches!(miss, HealMiss::NoList(_)), "{miss}");
    }

    #[test]
    fn a_stored_change_line_reads_back_as_the_change() {
        let written = change(
            "recordings.download",
            "span.sprite-download",
            "span.anticon-download",
        );
        assert_eq!(Change::parse(&written.to_string()), Some(written));
        assert_eq!(Change::parse("no change here"), None);
    }

    #[test]
    fn the_login_form_is_not_healed_here() {
        let (set, text) = shipped();
        let miss = plan(
            &drifted_list(),
            &set,
            &text,
            "login.submit",
            &calls(),
            chrono_tz::Europe::Berlin,
        )
        .unwrap_err();
        assert!(matches!(miss, HealMiss::NotHealable(_)), "{miss}");
    }
}
