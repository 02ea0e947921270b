//! Issue 14: `ucm-scraper doctor`, the binary against real Postgres, a real chromedriver and
//! Chromium, and the Storage and webhook stand-ins: each check passing, then each failing with
//! what to fix, exit 1, and no secret printed.

mod support;

use support::bin::Run;
use support::browser::browser_slot;
use support::fernet;
use support::scenario::Scenario;
use support::webhook::WebhookStandIn;

/// The one line `doctor` printed for `check`, e.g. `ok    storage     bucket …`.
fn line<'r>(run: &'r Run, check: &str) -> &'r str {
    run.stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(check))
        .unwrap_or_else(|| panic!("no {check} line\n{}\n{}", run.stdout, run.stderr))
}

async fn doctor(s: &Scenario) -> Run {
    let child = s.command(&["doctor"]).spawn();
    s.finish(child).await
}

/// A tenant row with only what the passwords check reads.
async fn tenant_with_password(s: &Scenario, name: &str, stored: &str) {
    sqlx::query("INSERT INTO tenants (company_name, subdomain, pbx_password) VALUES ($1, $1, $2)")
        .bind(name)
        .bind(stored)
        .execute(s.pool())
        .await
        .unwrap();
}

const CHECKS: [&str; 6] = [
    "database",
    "passwords",
    "webdriver",
    "storage",
    "ai-webhook",
    "selectors",
];

#[tokio::test]
async fn every_check_passes_against_working_services() {
    let _slot = browser_slot().await;
    let mut s = Scenario::new().await;
    s.secret("Acme-pass1");
    tenant_with_password(&s, "acme", &fernet::encrypt(&s.fernet_key, "Acme-pass1")).await;
    let webhook = WebhookStandIn::start("hook-secret").await;
    s.secret("hook-secret");
    s.env.insert("AI_WEBHOOK_URL".into(), webhook.url.clone());
    s.env
        .insert("AI_WEBHOOK_SECRET".into(), "hook-secret".into());

    let run = doctor(&s).await;

    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    for check in CHECKS {
        assert!(
            line(&run, check).starts_with("ok "),
            "{}",
            line(&run, check)
        );
    }
    assert_eq!(run.stdout.lines().count(), CHECKS.len(), "{}", run.stdout);
    assert!(line(&run, "passwords").contains("1 stored password(s) open: 1 Fernet"));
    assert!(line(&run, "storage").contains("\"call-recordings\""));
    assert_eq!(webhook.requests(), 0, "no delivery sent");
    assert_eq!(s.storage.requests(), 0, "no object written");
    assert_eq!(s.storage.bucket_reads(), 1);
    s.assert_no_secrets();
}

#[tokio::test]
async fn each_failing_dependency_is_named_with_what_to_fix() {
    let mut s = Scenario::new().await;
    // A password sealed with another key than the configured ENCRYPTION_KEY.
    let other_key = fernet::key();
    s.secret(&other_key);
    s.secret("Other-pass1");
    tenant_with_password(&s, "good", &fernet::encrypt(&s.fernet_key, "Good-pass1")).await;
    tenant_with_password(&s, "moved", &fernet::encrypt(&other_key, "Other-pass1")).await;
    s.secret("Good-pass1");
    // Nothing listens on a port just released.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let selectors = s.work.path().join("selectors");
    std::fs::create_dir_all(&selectors).unwrap();
    std::fs::write(selectors.join("broken.toml"), "name = \"broken\"\n[login\n").unwrap();
    for (var, value) in [
        ("WEBDRIVER_URL", format!("http://127.0.0.1:{closed}")),
        ("SUPABASE_BUCKET", "recordingz".to_string()),
        ("AI_WEBHOOK_URL", format!("http://127.0.0.1:{closed}/hook")),
        ("SELECTORS_DIR", selectors.display().to_string()),
    ] {
        s.env.insert(var.into(), value);
    }

    let run = doctor(&s).await;

    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert!(line(&run, "database").starts_with("ok "));
    for (check, says) in [
        ("passwords", "tenant 2 (moved)"),
        ("webdriver", "WEBDRIVER_URL"),
        ("storage", "SUPABASE_BUCKET"),
        ("ai-webhook", "does not accept a connection"),
        ("selectors", "broken.toml"),
    ] {
        let l = line(&run, check);
        assert!(l.starts_with("FAIL ") && l.contains(says), "{l}");
    }
    assert!(line(&run, "passwords").contains("ENCRYPTION_KEY"));
    assert!(line(&run, "passwords").contains("1 of 2"));
    assert_eq!(
        run.stdout.lines().count(),
        CHECKS.len(),
        "one line each, a multi-line parse error included\n{}",
        run.stdout
    );
    s.assert_no_secrets();
}

#[tokio::test]
async fn a_database_without_migrations_or_out_of_reach_fails_the_database_check() {
    let mut s = Scenario::new().await;
    let bare = support::pg::fresh_database().await;
    s.env.insert("DATABASE_URL".into(), bare.url.clone());
    let run = doctor(&s).await;
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let l = line(&run, "database");
    assert!(
        l.starts_with("FAIL ") && l.contains("ucm-scraper migrate"),
        "{l}"
    );
    assert!(line(&run, "passwords").starts_with("skip "));

    s.env.insert(
        "DATABASE_URL".into(),
        "postgres://ucm:db-secret@127.0.0.1:1/ucm".into(),
    );
    s.secret("db-secret");
    let run = doctor(&s).await;
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert!(line(&run, "database").starts_with("FAIL "));
    assert!(line(&run, "database").contains("DATABASE_URL"));
    assert!(line(&run, "passwords").starts_with("skip "));
    assert_eq!(
        run.stdout.lines().count(),
        CHECKS.len(),
        "one line each\n{}",
        run.stdout
    );
    s.assert_no_secrets();
}
