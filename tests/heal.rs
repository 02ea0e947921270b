//! A drifted required locator heals itself, with proof (issue 22): the console stand-in draws a
//! later firmware's download control (an Ant Design icon) or other row class names, the worker
//! runs as shipped with no edits, and `SELECTORS_AUTOLEARN` decides what it does about it.
//! Every test runs the `ucm-scraper` binary against real Postgres and Chromium.

mod support;

use std::sync::Arc;

use support::bin::Run;
use support::console::{ConsoleConfig, DownloadControl, FakeConsole, Recording, RowClasses, Skin};
use support::scenario::Scenario;

/// The calls of `tenant` in each recording status, and the attempts charged to them.
async fn statuses(s: &Scenario, tenant: i64) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE recording_status = 'stored'), \
                count(*) FILTER (WHERE recording_status = 'pending'), \
                coalesce(sum(recording_attempts), 0)::bigint \
         FROM cdr_records WHERE tenant_id = $1",
    )
    .bind(tenant as i32)
    .fetch_one(s.pool())
    .await
    .unwrap()
}

async fn learned_rows(s: &Scenario) -> Vec<(i32, String, String)> {
    sqlx::query_as("SELECT tenant_id, status, changed FROM learned_selectors ORDER BY tenant_id")
        .fetch_all(s.pool())
        .await
        .unwrap()
}

/// A tenant on a stand-in of `skin` changed by `vary`, with `n` calls; the console and tenant.
async fn drifted(
    s: &Scenario,
    skin: Skin,
    n: usize,
    vary: impl FnOnce(&mut ConsoleConfig),
) -> (FakeConsole, i64, Vec<String>) {
    tenant_on(s, "Drift Co", skin, n, vary).await
}

/// [`drifted`] for a tenant called `name`.
async fn tenant_on(
    s: &Scenario,
    name: &str,
    skin: Skin,
    n: usize,
    vary: impl FnOnce(&mut ConsoleConfig),
) -> (FakeConsole, i64, Vec<String>) {
    let password = "Heal-Me-22!";
    let mut config = ConsoleConfig::for_skin(skin);
    config.page_size = 4;
    vary(&mut config);
    let (console, recordings) = s.console_with(config, password, n, |_| {}).await;
    let tenant = s.tenant(name, &console, password).await;
    let uniqueids = s.calls(tenant, &recordings).await;
    (console, tenant, uniqueids)
}

fn icon(c: &mut ConsoleConfig) {
    c.quirks.download_control = DownloadControl::Icon;
}

fn log(run: &Run) -> String {
    format!("{}\n{}", run.stdout, run.stderr)
}

/// One pass that must end well and leave each of `tenant`'s `n` calls stored; `what` names the
/// case in failures.
async fn pass_storing_all(s: &Scenario, tenant: i64, n: usize, what: &str) -> Run {
    let run = s.once().await;
    assert!(run.ok, "{what}\n{}", log(&run));
    assert_eq!(
        statuses(s, tenant).await.0,
        n as i64,
        "{what}: every call stored\n{}",
        log(&run)
    );
    run
}

#[tokio::test]
async fn a_drifted_download_icon_is_learnt_proven_stored_and_used_on_the_next_pass() {
    let s = Scenario::new().await;
    let (console, tenant, uniqueids) = drifted(&s, Skin::Ucm63xx, 6, icon).await;

    let run = s.once().await;
    assert!(run.ok, "{}", log(&run));
    assert_eq!(
        statuses(&s, tenant).await.0,
        uniqueids.len() as i64,
        "{}",
        log(&run)
    );
    let told: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("SelectorsLearned"))
        .collect();
    assert_eq!(
        told.len(),
        1,
        "one line tells the operator:\n{}",
        run.stderr
    );
    assert!(
        told[0].contains("recordings.download: span.sprite-download → span.anticon-download"),
        "{}",
        told[0]
    );
    let rows = learned_rows(&s).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].0 as i64, rows[0].1.as_str()), (tenant, "use"));

    // The learned file is printed as TOML and parses with `selectors check`.
    let id = tenant.to_string();
    let printed = s
        .finish(
            s.command(&["selectors", "learned", "--tenant", &id])
                .spawn(),
        )
        .await;
    assert!(printed.ok, "{}", log(&printed));
    assert!(
        printed.stdout.contains("span.anticon-download"),
        "{}",
        printed.stdout
    );
    let dir = s.work.path().join("learned-only");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("learned.toml"), &printed.stdout).unwrap();
    let check = s
        .finish(
            s.command(&["selectors", "check"])
                .env("SELECTORS_DIR", &dir)
                .spawn(),
        )
        .await;
    assert!(check.ok, "{}", log(&check));
    // Nothing was written into SELECTORS_DIR.
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/selectors");
    assert_eq!(std::fs::read_dir(shipped).unwrap().count(), 2);
    let list = s.finish(s.command(&["tenant", "list"]).spawn()).await;
    assert!(
        list.stdout.contains("recordings.download (use)"),
        "{}",
        list.stdout
    );

    // A second pass uses it with one login and learns nothing new.
    let newer = Recording::new(
        "1000",
        "2815999999",
        chrono::Utc::now().timestamp() - 600,
        Arc::clone(&s.wav),
    );
    console.add_recording(newer.clone());
    s.calls(tenant, std::slice::from_ref(&newer)).await;
    let logins = console.events().logins_ok;
    let second = s.once().await;
    assert!(second.ok, "{}", log(&second));
    assert_eq!(console.events().logins_ok - logins, 1, "one login");
    assert_eq!(statuses(&s, tenant).await.0, uniqueids.len() as i64 + 1);
    assert!(
        !second.stderr.contains("SelectorsLearned"),
        "{}",
        second.stderr
    );
    assert!(
        second
            .stderr
            .contains("Using the tenant's learned selectors file"),
        "{}",
        second.stderr
    );
    s.assert_no_secrets();
}

#[tokio::test]
async fn with_autolearn_off_nothing_is_stored_or_charged_and_the_stop_names_the_locator() {
    let mut s = Scenario::new().await;
    s.env.insert("SELECTORS_AUTOLEARN".into(), "off".into());
    let (_console, tenant, uniqueids) = drifted(&s, Skin::Ucm63xx, 3, icon).await;
    let run = s.once().await;
    assert!(!run.ok, "{}", log(&run));
    assert!(
        run.summary_row(tenant)
            .contains("selectors/ucm63xx.toml: recordings.download"),
        "{}",
        run.stdout
    );
    assert_eq!(
        statuses(&s, tenant).await,
        (0, uniqueids.len() as i64, 0),
        "nothing stored, nothing charged"
    );
    assert!(learned_rows(&s).await.is_empty());
    let printed = s
        .finish(
            s.command(&["selectors", "learned", "--tenant", &tenant.to_string()])
                .spawn(),
        )
        .await;
    assert_eq!(printed.code, Some(1), "{}", log(&printed));
    assert!(
        printed.stderr.contains("no learned selectors file"),
        "{}",
        printed.stderr
    );
}

#[tokio::test]
async fn proposed_drafts_wait_for_the_operator_and_are_used_once_accepted() {
    let mut s = Scenario::new().await;
    s.env.insert("SELECTORS_AUTOLEARN".into(), "propose".into());
    let (_console, tenant, uniqueids) = drifted(&s, Skin::Ucm63xx, 3, icon).await;
    let id = tenant.to_string();
    let run = s.once().await;
    assert!(!run.ok, "{}", log(&run));
    assert!(
        run.stderr
            .contains(&format!("ucm-scraper selectors accept --tenant {id}")),
        "{}",
        run.stderr
    );
    assert_eq!(statuses(&s, tenant).await, (0, uniqueids.len() as i64, 0));
    assert_eq!(learned_rows(&s).await[0].1, "proposed");

    let accept = s
        .finish(s.command(&["selectors", "accept", "--tenant", &id]).spawn())
        .await;
    assert!(accept.ok, "{}", log(&accept));
    let run = s.once().await;
    assert!(run.ok, "{}", log(&run));
    assert_eq!(statuses(&s, tenant).await.0, uniqueids.len() as i64);

    // Forgotten, the shipped file is back: the next drift is proposed again.
    let forget = s
        .finish(s.command(&["selectors", "forget", "--tenant", &id]).spawn())
        .await;
    assert!(forget.ok, "{}", log(&forget));
    assert!(learned_rows(&s).await.is_empty());
}

#[tokio::test]
async fn rows_with_other_class_names_are_learnt_on_the_older_generation() {
    let s = Scenario::new().await;
    let (_console, tenant, uniqueids) = drifted(&s, Skin::Ucm62xx, 6, |c| {
        c.quirks.row_classes = RowClasses::Other;
    })
    .await;
    let run = s.once().await;
    assert!(run.ok, "{}", log(&run));
    assert_eq!(statuses(&s, tenant).await.0, uniqueids.len() as i64);
    let rows = learned_rows(&s).await;
    assert!(rows[0].2.starts_with("recordings.row:"), "{rows:?}");
}

#[tokio::test]
async fn a_learned_file_that_fails_later_is_dropped_and_learnt_again() {
    let s = Scenario::new().await;
    let (console, tenant, uniqueids) = drifted(&s, Skin::Ucm63xx, 3, icon).await;
    let run = s.once().await;
    assert!(run.ok, "{}", log(&run));
    assert_eq!(learned_rows(&s).await[0].2.lines().count(), 1);

    // A later firmware changes the rows too: the learned file's row finds nothing.
    console.reconfigure(|c| c.quirks.row_classes = RowClasses::Other);
    let newer = Recording::new(
        "1000",
        "2815999998",
        chrono::Utc::now().timestamp() - 600,
        Arc::clone(&s.wav),
    );
    console.add_recording(newer.clone());
    s.calls(tenant, std::slice::from_ref(&newer)).await;
    let second = s.once().await;
    assert!(second.ok, "{}", log(&second));
    assert_eq!(statuses(&s, tenant).await.0, uniqueids.len() as i64 + 1);
    assert_eq!(
        second.stderr.matches("LearnedSelectorsDropped").count(),
        1,
        "{}",
        second.stderr
    );
    assert_eq!(
        second.stderr.matches("SelectorsLearned").count(),
        1,
        "{}",
        second.stderr
    );
    let rows = learned_rows(&s).await;
    assert!(rows[0].2.contains("recordings.ready:"), "{rows:?}");
}

fn other_layout(c: &mut ConsoleConfig) {
    c.quirks.other_layout = true;
}

#[tokio::test]
async fn a_drifted_signed_in_marker_is_learnt_after_the_login_and_used_on_the_next_pass() {
    for skin in [Skin::Ucm63xx, Skin::Ucm62xx] {
        let s = Scenario::new().await;
        let (console, tenant, uniqueids) = drifted(&s, skin, 5, other_layout).await;
        let run = s.once().await;
        assert!(run.ok, "{skin:?}\n{}", log(&run));
        assert_eq!(
            statuses(&s, tenant).await.0,
            uniqueids.len() as i64,
            "{skin:?}\n{}",
            log(&run)
        );
        // The login worked; only its marker had drifted: no second login for it.
        assert_eq!(console.events().logins_ok, 1, "{skin:?}\n{}", log(&run));
        let rows = learned_rows(&s).await;
        assert!(rows[0].2.starts_with("login.signed_in:"), "{rows:?}");
        let printed = s
            .finish(
                s.command(&["selectors", "learned", "--tenant", &tenant.to_string()])
                    .spawn(),
            )
            .await;
        assert!(printed.stdout.contains("on page"), "{}", printed.stdout);

        let newer = Recording::new(
            "1000",
            "2815999997",
            chrono::Utc::now().timestamp() - 600,
            Arc::clone(&s.wav),
        );
        console.add_recording(newer.clone());
        s.calls(tenant, std::slice::from_ref(&newer)).await;
        let second = s.once().await;
        assert!(second.ok, "{skin:?}\n{}", log(&second));
        assert_eq!(console.events().logins_ok, 2, "{skin:?}: one login");
        assert_eq!(statuses(&s, tenant).await.0, uniqueids.len() as i64 + 1);
        assert!(
            !second.stderr.contains("SelectorsLearned") && !second.stderr.contains("Login failed"),
            "{skin:?}\n{}",
            second.stderr
        );
    }
}

#[tokio::test]
async fn a_drifted_signed_in_marker_with_autolearn_off_stops_uncharged_naming_it() {
    let mut s = Scenario::new().await;
    s.env.insert("SELECTORS_AUTOLEARN".into(), "off".into());
    let (_console, tenant, uniqueids) = drifted(&s, Skin::Ucm63xx, 3, other_layout).await;
    let run = s.once().await;
    assert!(!run.ok, "{}", log(&run));
    assert!(
        run.summary_row(tenant)
            .contains("selectors/ucm63xx.toml: login.signed_in"),
        "{}",
        run.stdout
    );
    assert_eq!(statuses(&s, tenant).await, (0, uniqueids.len() as i64, 0));
    assert!(learned_rows(&s).await.is_empty());
}

#[tokio::test]
async fn one_pass_heals_the_marker_at_login_and_then_the_download_icon() {
    for skin in [Skin::Ucm63xx, Skin::Ucm62xx] {
        let s = Scenario::new().await;
        let (console, tenant, uniqueids) = drifted(&s, skin, 5, |c| {
            other_layout(c);
            icon(c);
        })
        .await;
        let what = format!("{skin:?}, first pass");
        let run = pass_storing_all(&s, tenant, uniqueids.len(), &what).await;
        let logins = console.events().logins_ok;
        assert!((1..=3).contains(&logins), "{skin:?}: {logins} logins");
        assert_eq!(
            run.stderr.matches("SelectorsLearned").count(),
            2,
            "{skin:?}: one line per learning\n{}",
            run.stderr
        );
        // The one stored file holds both changes, each with its proof.
        let rows = learned_rows(&s).await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        let changed: Vec<&str> = rows[0].2.lines().collect();
        assert!(changed[0].starts_with("login.signed_in:"), "{rows:?}");
        assert!(
            changed
                .iter()
                .any(|l| l.starts_with("recordings.download:")),
            "{rows:?}"
        );
    }
}

/// The stored evidence and firmware of `tenant`'s learned file.
async fn evidence(s: &Scenario, tenant: i64) -> (String, Option<String>) {
    sqlx::query_as("SELECT evidence, firmware FROM learned_selectors WHERE tenant_id = $1")
        .bind(tenant as i32)
        .fetch_one(s.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_learned_file_is_tried_for_another_tenant_only_when_its_console_shows_the_same_firmware()
{
    let other_firmware = "1.0.27.99";
    for (b_firmware, shared) in [
        (Skin::Ucm63xx.default_firmware(), true),
        (other_firmware, false),
    ] {
        let s = Scenario::new().await;
        let (_a_console, a, _) = tenant_on(&s, "First Co", Skin::Ucm63xx, 3, icon).await;
        let run = s.once().await;
        assert!(run.ok, "{}", log(&run));
        let (_, a_firmware) = evidence(&s, a).await;
        assert_eq!(
            a_firmware.as_deref(),
            Some(Skin::Ucm63xx.default_firmware())
        );

        let (_b_console, b, b_calls) = tenant_on(&s, "Second Co", Skin::Ucm63xx, 3, |c| {
            icon(c);
            c.firmware = b_firmware.into();
        })
        .await;
        let run = pass_storing_all(&s, b, b_calls.len(), b_firmware).await;
        let (b_evidence, b_stored_firmware) = evidence(&s, b).await;
        assert_eq!(b_stored_firmware.as_deref(), Some(b_firmware));
        let taken = format!("taken from the learned file of tenant {a} (firmware {b_firmware})");
        assert_eq!(
            b_evidence.lines().next() == Some(taken.as_str()),
            shared,
            "{b_firmware}: {b_evidence}"
        );
        // Taken or learnt anew, the proof on B's own known calls is stored with it.
        assert!(b_evidence.contains(" on page "), "{b_evidence}");
        assert_eq!(
            run.stderr.matches("SelectorsShared").count(),
            usize::from(shared),
            "{b_firmware}\n{}",
            run.stderr
        );
    }
}
