//! Issue 13, "Safe at first contact": the worker against consoles that differ from the usual
//! stand-in in small, plausible details, with the shipped selectors files unchanged.
//!
//! A table test: every variation × every shipped selectors file. Each case either stores every
//! recording, or ends with a clear, retryable error; no call is ever ended without evidence.
//! A call the console never had is looked for too: "not on the console" is the only final
//! answer allowed, and only for it.
//!
//! Issue 22 crosses the variations (`crossed`): every pair of switches, and each drifted
//! locator (download icon, row classes, signed-in marker) with each switch of the way to the
//! list, on both skins, with the shipped file and with a menu-only copy of it (its `route` line
//! removed), sampled with a fixed seed (tests/README.md). A pass heals a drift as the worker
//! does with `SELECTORS_AUTOLEARN=use`. Each pair stores every call with at most 3 logins and a
//! second pass, following the way (and the learned file) the first one found, logs in once and
//! meets no drift; or it stops with a line naming what to fix, no call charged, no call final.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::console::{
    ConsoleConfig, DeepLinks, DownloadControl, EndOfList, FirmwareShown, Landing, Loading,
    Recording, RowClasses, RowKey, Rows, Skin,
};
use support::session::{call_for, World, FIRST_CALL};
use ucm_scraper::console::{
    drifted_key, learned_name, CallQuery, ConsoleError, ConsoleErrorKind, ConsoleSession,
    Downloaded, Way, SIGNED_IN,
};
use ucm_scraper::failure::{Failure as _, NextStep};
use ucm_scraper::ids::TenantId;
use ucm_scraper::selectors::SelectorSet;

/// Recordings per console: three pages of three (skin 1) or three loads (skin 2).
const CALLS: usize = 8;
const PAGE_SIZE: usize = 3;

/// One variation of the console.
fn vary(config: &mut ConsoleConfig, variation: &str) {
    let q = &mut config.quirks;
    q.render_step = Duration::from_millis(400);
    match variation {
        "usual" => {}
        "deep_links_404" => q.deep_links = DeepLinks::NotFound,
        "deep_links_json" => q.deep_links = DeepLinks::JsonError,
        "hash_routing" => q.deep_links = DeepLinks::HashRouting,
        "firmware_in_header" => q.firmware = FirmwareShown::Header,
        "firmware_nowhere" => q.firmware = FirmwareShown::Nowhere,
        "list_cleared_while_loading" => q.loading = Loading::Placeholder,
        "old_rows_under_unknown_mask" => q.loading = Loading::UnknownMask,
        "rows_in_two_steps" => q.rows = Rows::TwoSteps,
        "rows_replaced_after_drawing" => q.rows = Rows::Replaced,
        "rows_redrawn_under_the_click" => q.rows = Rows::RedrawnUnderClick,
        "end_by_disabled_attribute" => q.end_of_list = EndOfList::DisabledAttribute,
        "new_call_mid_pass" => q.new_call_after_downloads = Some(2),
        "start_shows_login" => q.start_shows_login = true,
        "lands_elsewhere" => q.landing = Landing::Welcome,
        "menu_collapsed" => q.menu_collapsed = true,
        "row_keys_are_console_ids" => q.row_key = RowKey::ConsoleId,
        "download_icon" => q.download_control = DownloadControl::Icon,
        "other_row_classes" => q.row_classes = RowClasses::Other,
        "other_layout" => q.other_layout = true,
        "slow_first_paint" => {
            config.boot_delay = Duration::from_millis(2500);
            config.list_delay = Duration::from_millis(900);
        }
        other => panic!("unknown variation {other}"),
    }
}

/// What became of one call.
#[derive(Debug)]
enum Outcome {
    Stored,
    NotOnConsole,
    /// Failed for now; comes back on a later pass.
    Retryable(NextStep, String),
}

/// What one pass over a console gave.
struct Pass {
    outcomes: Vec<(usize, Outcome)>,
    logins: u64,
    /// The way to the list the session leaves with.
    way: Option<Way>,
    /// The selectors file healing learnt, in use at the end of the pass.
    learned: Option<SelectorSet>,
    /// A required locator found nothing (healed or not).
    drifted: bool,
}

impl Pass {
    fn stored(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|(_, o)| matches!(o, Outcome::Stored))
            .count()
    }
}

/// Healing as a pass does it with `SELECTORS_AUTOLEARN=use` (src/learned.rs, without the
/// database): once a pass, a drifted locator is learnt from the live page and, proven, used.
#[derive(Default)]
struct Healing {
    tried: bool,
    learned: Option<SelectorSet>,
}

impl Healing {
    /// Whether `error` is a drift to heal now (once a pass).
    fn heals(&mut self, error: &ConsoleError) -> Option<String> {
        let key = drifted_key(error)?.to_string();
        (!std::mem::replace(&mut self.tried, true)).then_some(key)
    }

    fn learnt(&mut self, session: &mut ConsoleSession, set: SelectorSet) {
        self.learned = Some(set.clone());
        session.use_learned(set);
    }

    async fn sign_in(
        &mut self,
        session: &mut ConsoleSession,
        first: &CallQuery,
    ) -> Result<(), ConsoleError> {
        let error = match session.sign_in().await {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        if self.heals(&error).as_deref() != Some(SIGNED_IN) {
            return Err(error);
        }
        let first = std::slice::from_ref(first);
        match session
            .heal_signed_in(None, &learned_name(TenantId(1)), first)
            .await
        {
            Ok(healed) => {
                self.learnt(session, healed.set);
                session.signed_in_healed().await.map(|_| ())
            }
            Err(why) => {
                eprintln!("{SIGNED_IN} not healed: {why}");
                Err(error)
            }
        }
    }

    async fn download(
        &mut self,
        session: &mut ConsoleSession,
        call: &CallQuery,
        known: &[CallQuery],
    ) -> Result<Downloaded, ConsoleError> {
        let error = match session.download(call).await {
            Ok(got) => return Ok(got),
            Err(error) => error,
        };
        let Some(key) = self.heals(&error) else {
            return Err(error);
        };
        match session
            .heal(&key, None, &learned_name(TenantId(1)), known)
            .await
        {
            Ok(healed) => {
                self.learnt(session, healed.set);
                session.download(call).await
            }
            Err(why) => {
                eprintln!("{key} not healed: {why}");
                Err(error)
            }
        }
    }
}

/// One tenant pass in one browser session: `calls` in order (`usize::MAX` marks the call the
/// console never had), stopping where the pipeline would; `way` and `learned` as the pipeline
/// hands them in.
async fn pass(
    world: &World,
    calls: &[(usize, CallQuery)],
    way: Option<Way>,
    learned: Option<SelectorSet>,
) -> Pass {
    let logins_before = world.console.events().logins_ok;
    let mut session = world.open().await;
    if let Some(way) = way {
        session.follow_way(way);
    }
    let mut healing = Healing::default();
    if let Some(set) = learned {
        healing.learned = Some(set.clone());
        session.use_learned(set);
    }
    let known: Vec<CallQuery> = calls.iter().map(|(_, c)| c.clone()).collect();
    let mut outcomes = Vec::new();
    match healing.sign_in(&mut session, &calls[0].1).await {
        Ok(()) => {
            for (index, call) in calls {
                let outcome = match healing.download(&mut session, call, &known).await {
                    Ok(got) => {
                        let recording = &world.recordings[*index];
                        assert_eq!(got.file_name, recording.download_name());
                        assert_eq!(std::fs::read(&got.path).unwrap(), *recording.wav);
                        Outcome::Stored
                    }
                    Err(error) => judge(&error, *index == usize::MAX),
                };
                let stop = matches!(&outcome, Outcome::Retryable(step, _) if stops(*step));
                outcomes.push((*index, outcome));
                if stop {
                    break;
                }
            }
        }
        Err(error) => outcomes.push((0, judge(&error, false))),
    }
    let way = session.way().cloned();
    world.close(session).await;
    Pass {
        outcomes,
        logins: world.console.events().logins_ok - logins_before,
        way,
        learned: healing.learned,
        drifted: healing.tried,
    }
}

fn stops(step: NextStep) -> bool {
    matches!(
        step,
        NextStep::StopTenant | NextStep::StopTenantUncharged | NextStep::BlockTenant
    )
}

/// Runs one case: every call of the console newest first (the list's order), then a call the
/// console never had, as one tenant pass does, stopping where the pipeline would.
async fn case(skin: Skin, file: &str, variation: &str) {
    let world = World::start(skin, CALLS, &[file], |c| {
        c.page_size = PAGE_SIZE;
        vary(c, variation);
    })
    .await;
    // Between two listed recordings, but never recorded.
    let ghost = Recording::new(
        "1099",
        "2815058290",
        FIRST_CALL + 600 * 3 + 300,
        Arc::new(Vec::new()),
    );
    let mut calls: Vec<_> = (0..CALLS).rev().map(|i| (i, world.call(i))).collect();
    calls.push((usize::MAX, call_for(&ghost, 99)));
    let run = pass(&world, &calls, None, None).await;
    let events = world.console.events();
    eprintln!("{variation} × {file}: {:?}; {events:?}", run.outcomes);

    // This worker meets every variation without losing a recording in this pass.
    assert_eq!(
        run.stored(),
        CALLS,
        "{variation} × {file}: not every recording stored: {:?}",
        run.outcomes
    );
    assert_eq!(run.logins, 1, "{variation} × {file}: one login: {events:?}");
    world.assert_no_browser_left().await;
}

/// The outcome of a failed call, checking the rule: only the call the console never had may be
/// ended ("not on the console"); anything else must be a retryable failure.
fn judge(error: &ConsoleError, ghost: bool) -> Outcome {
    match &error.kind {
        ConsoleErrorKind::NotOnConsole { .. } => {
            assert!(ghost, "a listed call was ended without evidence: {error}");
            Outcome::NotOnConsole
        }
        _ => {
            assert!(
                error.next_step() != NextStep::EndCall,
                "a call was failed for good: {error}"
            );
            let text = error.to_string();
            assert!(
                text.contains("Acme Corp") && text.len() > 60,
                "not a clear message: {text}"
            );
            Outcome::Retryable(error.next_step(), text)
        }
    }
}

/// One test per variation and shipped selectors file, run in parallel by the harness (two
/// browsers at a time).
macro_rules! table {
    ($($variation:ident),* $(,)?) => {
        mod ucm63xx {
            $(
                #[tokio::test]
                async fn $variation() {
                    super::case(super::Skin::Ucm63xx, "ucm63xx.toml", stringify!($variation)).await;
                }
            )*
        }
        mod ucm62xx {
            $(
                #[tokio::test]
                async fn $variation() {
                    super::case(super::Skin::Ucm62xx, "ucm62xx.toml", stringify!($variation)).await;
                }
            )*
        }
    };
}

table!(
    usual,
    deep_links_404,
    deep_links_json,
    hash_routing,
    firmware_in_header,
    firmware_nowhere,
    list_cleared_while_loading,
    old_rows_under_unknown_mask,
    rows_in_two_steps,
    rows_replaced_after_drawing,
    rows_redrawn_under_the_click,
    end_by_disabled_attribute,
    new_call_mid_pass,
    row_keys_are_console_ids,
    slow_first_paint,
    start_shows_login,
    lands_elsewhere,
    menu_collapsed,
);

/// Issue 22: the switches crossed in pairs. Add a switch to [`crossed::SWITCHES`] (and to
/// [`vary`]); switches of one group (the ways a deep link is answered) never pair.
mod crossed {
    use super::*;

    /// Recordings per crossed case: two pages of two.
    const CALLS: usize = 4;
    /// Pairs run by default, one test each; `CROSS_ALL=1` runs every pair, spread over them.
    const SHARDS: usize = 12;
    /// The sample's seed: the same pairs on every run.
    const SEED: u64 = 22;

    /// Every switch, with its group.
    const SWITCHES: &[(&str, &str)] = &[
        ("deep_links_404", "deep_links"),
        ("deep_links_json", "deep_links"),
        ("hash_routing", "deep_links"),
        ("start_shows_login", "start_shows_login"),
        ("lands_elsewhere", "lands_elsewhere"),
        ("menu_collapsed", "menu_collapsed"),
        ("row_keys_are_console_ids", "row_key"),
    ];

    /// Switches that drift a required locator (healed from the live page): each is crossed with
    /// every switch of the way to the list, not with the others.
    const DRIFTS: &[&str] = &["download_icon", "other_row_classes", "other_layout"];

    /// The switches of the way to the list.
    fn navigation() -> impl Iterator<Item = &'static str> {
        SWITCHES
            .iter()
            .filter(|(_, group)| *group != "row_key")
            .map(|(name, _)| *name)
    }

    /// Every pair: the switches in pairs, and each drift with each switch of the way.
    fn pairs() -> Vec<(&'static str, &'static str)> {
        let mut pairs = Vec::new();
        for (i, a) in SWITCHES.iter().enumerate() {
            for b in &SWITCHES[i + 1..] {
                if a.1 != b.1 {
                    pairs.push((a.0, b.0));
                }
            }
        }
        for drift in DRIFTS {
            pairs.extend(navigation().map(|way| (way, *drift)));
        }
        pairs
    }

    /// One crossed case: two switches, a skin, and the shipped file or its menu-only copy.
    #[derive(Debug, Clone, Copy)]
    struct Combo {
        pair: (&'static str, &'static str),
        skin: Skin,
        menu_only: bool,
    }

    /// Every combination, in the seed's order.
    fn combos() -> Vec<Combo> {
        let mut all = Vec::new();
        for pair in pairs() {
            for skin in [Skin::Ucm63xx, Skin::Ucm62xx] {
                for menu_only in [false, true] {
                    all.push(Combo {
                        pair,
                        skin,
                        menu_only,
                    });
                }
            }
        }
        all.sort_by_key(|c| mix(&format!("{c:?}")));
        all
    }

    /// FNV-1a of `text` and the seed: a fixed shuffle without a random source.
    fn mix(text: &str) -> u64 {
        text.bytes()
            .chain(SEED.to_le_bytes())
            .fold(0xcbf2_9ce4_8422_2325, |h, b| {
                (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
            })
    }

    /// The combinations shard `n` runs.
    async fn shard(n: usize) {
        let all = std::env::var("CROSS_ALL").is_ok_and(|v| v == "1");
        for combo in combos().into_iter().skip(n).step_by(SHARDS) {
            run(combo).await;
            if !all {
                break;
            }
        }
    }

    async fn run(combo: Combo) {
        let file = format!("{}.toml", combo.skin.name());
        let world = World::start(combo.skin, CALLS, &[&file], |c| {
            c.page_size = 2;
            vary(c, combo.pair.0);
            vary(c, combo.pair.1);
        })
        .await;
        if combo.menu_only {
            without_route(&world.config.selectors_dir.join(&file));
        }
        let calls: Vec<_> = (0..CALLS).rev().map(|i| (i, world.call(i))).collect();
        let first = pass(&world, &calls, None, None).await;
        eprintln!("{combo:?}: {:?}; way {:?}", first.outcomes, first.way);
        if first.stored() < CALLS {
            assert_clean_stop(&combo, &first);
            return;
        }
        assert!(first.logins <= 3, "{combo:?}: {} logins", first.logins);
        // The next pass starts with the way this one found, and logs in once.
        let second = pass(
            &world,
            &calls[..2],
            first.way.clone(),
            first.learned.clone(),
        )
        .await;
        assert_eq!(second.stored(), 2, "{combo:?}: {:?}", second.outcomes);
        assert!(!second.drifted, "{combo:?}: the learned file did not hold");
        assert_eq!(
            second.logins, 1,
            "{combo:?}: second pass, way {:?}",
            first.way
        );
        world.assert_no_browser_left().await;
    }

    /// Where no way exists: a stop naming what to fix, no call charged, none final.
    fn assert_clean_stop(combo: &Combo, pass: &Pass) {
        for (_, outcome) in &pass.outcomes {
            match outcome {
                Outcome::Stored => {}
                Outcome::Retryable(step, text) => {
                    assert!(
                        matches!(
                            step,
                            NextStep::StopTenantUncharged | NextStep::RetryCallUncharged
                        ),
                        "{combo:?}: a call was charged: {text}"
                    );
                    assert!(
                        text.contains(".toml"),
                        "{combo:?}: names no file to fix: {text}"
                    );
                }
                Outcome::NotOnConsole => panic!("{combo:?}: a listed call ended"),
            }
        }
    }

    /// The shipped file without its `route` line: the way by the menu only.
    fn without_route(path: &std::path::Path) {
        let text = std::fs::read_to_string(path).unwrap();
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| !l.trim_start().starts_with("route ="))
            .collect();
        assert!(
            kept.len() < text.lines().count(),
            "no route line in {path:?}"
        );
        std::fs::write(path, kept.join("\n")).unwrap();
    }

    #[test]
    fn every_pair_of_switches_is_a_combination() {
        let all = combos();
        let pairs: usize = SWITCHES
            .iter()
            .enumerate()
            .map(|(i, a)| SWITCHES[i + 1..].iter().filter(|b| a.1 != b.1).count())
            .sum();
        let drifts = DRIFTS.len() * navigation().count();
        assert_eq!(
            all.len(),
            (pairs + drifts) * 2 * 2,
            "each pair on two skins, two files"
        );
        assert!(all.iter().all(|c| c.pair.0 != c.pair.1));
        assert!(all.len() >= SHARDS);
    }

    macro_rules! shards {
        ($($name:ident = $n:expr),* $(,)?) => {
            $(
                #[tokio::test]
                async fn $name() {
                    shard($n).await;
                }
            )*
        };
    }

    shards!(
        shard_00 = 0,
        shard_01 = 1,
        shard_02 = 2,
        shard_03 = 3,
        shard_04 = 4,
        shard_05 = 5,
        shard_06 = 6,
        shard_07 = 7,
        shard_08 = 8,
        shard_09 = 9,
        shard_10 = 10,
        shard_11 = 11,
    );
}
