//! Issue 13, "Safe at first contact": the worker against consoles that differ from the usual
//! stand-in in small, plausible details, with the shipped selectors files unchanged.
//!
//! A table test: every variation × every shipped selectors file. Each case either stores every
//! recording, or ends with a clear, retryable error; no call is ever ended without evidence.
//! A call the console never had is looked for too: "not on the console" is the only final
//! answer allowed, and only for it.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::console::{
    ConsoleConfig, DeepLinks, EndOfList, FirmwareShown, Loading, Recording, RowKey, Rows, Skin,
};
use support::session::{call_for, World, FIRST_CALL};
use ucm_scraper::console::{ConsoleError, ConsoleErrorKind};
use ucm_scraper::failure::{Failure as _, NextStep};

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
        "end_by_disabled_attribute" => q.end_of_list = EndOfList::DisabledAttribute,
        "new_call_mid_pass" => q.new_call_after_downloads = Some(2),
        "row_keys_are_console_ids" => q.row_key = RowKey::ConsoleId,
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
    Retryable(String),
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

    let mut session = world.open().await;
    let mut outcomes = Vec::new();
    match session.sign_in().await {
        Ok(_) => {
            for (index, call) in &calls {
                let outcome = match session.download(call).await {
                    Ok(got) => {
                        let recording = &world.recordings[*index];
                        assert_eq!(got.file_name, recording.download_name());
                        assert_eq!(std::fs::read(&got.path).unwrap(), *recording.wav);
                        Outcome::Stored
                    }
                    Err(error) => judge(&error, *index == usize::MAX),
                };
                let stop = matches!(&outcome, Outcome::Retryable(why) if why.starts_with("stop"));
                outcomes.push((*index, outcome));
                if stop {
                    break;
                }
            }
        }
        Err(error) => outcomes.push((0, judge(&error, false))),
    }
    world.close(session).await;
    let events = world.console.events();
    eprintln!("{variation} × {file}: {outcomes:?}; {events:?}");

    // This worker meets every variation without losing a recording in this pass.
    let stored = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Stored))
        .count();
    assert_eq!(
        stored, CALLS,
        "{variation} × {file}: not every recording stored: {outcomes:?}"
    );
    assert_eq!(
        events.logins_ok, 1,
        "{variation} × {file}: one login: {events:?}"
    );
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
            let stop = match matches!(
                error.next_step(),
                NextStep::StopTenant | NextStep::StopTenantUncharged | NextStep::BlockTenant
            ) {
                true => "stop: ",
                false => "",
            };
            Outcome::Retryable(format!("{stop}{text}"))
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
    end_by_disabled_attribute,
    new_call_mid_pass,
    row_keys_are_console_ids,
    slow_first_paint,
);
