//! Tenants against a real Postgres (issue 6): both password formats, per-tenant errors,
//! plaintext sealing, missing credentials, login backoff, and the `tenant` commands end to end.

mod support;

use std::sync::{Arc, Mutex};

use sqlx::PgPool;
use support::bin::{Run, UcmScraper};
use support::fernet;
use support::pg::{fresh_database, migrated_database};
use ucm_scraper::config::Settings;
use ucm_scraper::ids::TenantId;
use ucm_scraper::secrets::{PasswordCipher, Secret};
use ucm_scraper::tenants::{
    self, login_backoff, ApiAccess, ApiSetting, DriverChoice, Tenant, TenantEntry,
};

const AES_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn cipher(vars: &[(&str, &str)]) -> PasswordCipher {
    let settings = Settings::from_lookup(|name| match name {
        "DATABASE_URL" => Some("postgres://unused/db".into()),
        _ => vars
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string()),
    })
    .expect("test settings");
    settings.password_cipher()
}

/// A tenant row as the backend (or an operator with SQL) writes it.
async fn insert_tenant(
    pool: &PgPool,
    subdomain: &str,
    pbx_ip: Option<&str>,
    username: Option<&str>,
    password: Option<&str>,
) -> TenantId {
    let (id,): (i32,) = sqlx::query_as(
        "INSERT INTO tenants (company_name, subdomain, pbx_ip, pbx_username, pbx_password) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(format!("{subdomain} Corp"))
    .bind(subdomain)
    .bind(pbx_ip)
    .bind(username)
    .bind(password)
    .fetch_one(pool)
    .await
    .unwrap();
    TenantId(id.into())
}

async fn stored_password(pool: &PgPool, id: TenantId) -> String {
    let (value,): (String,) = sqlx::query_as("SELECT pbx_password FROM tenants WHERE id = $1")
        .bind(id.0)
        .fetch_one(pool)
        .await
        .unwrap();
    value
}

async fn load(pool: &PgPool, cipher: &PasswordCipher) -> Vec<TenantEntry> {
    tenants::load_active(pool, cipher, None).await.unwrap()
}

fn entry(entries: &[TenantEntry], id: TenantId) -> &TenantEntry {
    entries
        .iter()
        .find(|e| e.id() == id)
        .unwrap_or_else(|| panic!("tenant {id} not loaded: {entries:?}"))
}

fn ready(entries: &[TenantEntry], id: TenantId) -> &Tenant {
    match entry(entries, id) {
        TenantEntry::Ready(tenant) => tenant,
        other => panic!("tenant {id} should be ready: {other:?}"),
    }
}

fn broken_message(entries: &[TenantEntry], id: TenantId) -> String {
    match entry(entries, id) {
        TenantEntry::Broken { error, .. } => error.to_string(),
        other => panic!("tenant {id} should be broken: {other:?}"),
    }
}

/// Everything logged on this thread while the guard lives (tests run on a current-thread runtime).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || logs.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn fernet_token_made_by_the_backend_opens_and_stays_byte_identical() {
    let db = migrated_database().await;
    let key = fernet::key();
    let token = fernet::encrypt(&key, "Ucm pass ünï 1");
    let id = insert_tenant(
        &db.pool,
        "acme",
        Some("acme01.c.myucm.cloud"),
        Some("admin"),
        Some(&token),
    )
    .await;

    // Read with the backend's key alone, and with our key configured as the written format:
    // either way the backend's token is used as it is and never rewritten.
    for cipher in [
        cipher(&[("ENCRYPTION_KEY", &key)]),
        cipher(&[
            ("ENCRYPTION_KEY", &key),
            ("PBX_ENCRYPTION_KEY", AES_KEY),
            ("PBX_PASSWORD_FORMAT", "aes-gcm"),
        ]),
    ] {
        let entries = load(&db.pool, &cipher).await;
        let tenant = ready(&entries, id);
        assert_eq!(tenant.console.password.expose(), "Ucm pass ünï 1");
        assert_eq!(tenant.console.username, "admin");
        assert_eq!(
            tenant.console.base_url.as_str(),
            "https://acme01.c.myucm.cloud:8443/"
        );
        assert_eq!(tenant.name, "acme Corp");
        assert_eq!(tenant.timezone, chrono_tz::UTC);
        assert_eq!(stored_password(&db.pool, id).await, token);
    }

    // What the worker writes in fernet format, the backend reads.
    let sealed = cipher(&[("ENCRYPTION_KEY", &key)])
        .seal(&Secret::new("written by the worker".into()))
        .unwrap();
    assert_eq!(fernet::decrypt(&key, &sealed), "written by the worker");
}

#[tokio::test]
async fn a_wrong_key_or_damaged_value_breaks_only_that_tenant() {
    let db = migrated_database().await;
    let key = fernet::key();
    let other_key = fernet::key();
    let cipher = cipher(&[("ENCRYPTION_KEY", &key), ("PBX_ENCRYPTION_KEY", AES_KEY)]);
    let v1 = cipher.seal(&Secret::new("good".into())).unwrap();
    let damaged_v1 = format!("v1:{}", "A".repeat(40));
    let foreign_token = fernet::encrypt(&other_key, "other");
    let damaged_token = {
        let token = fernet::encrypt(&key, "cut");
        token[..token.len() - 8].to_string()
    };
    let host = Some("pbx.example.com");
    let good = insert_tenant(&db.pool, "good", host, Some("admin"), Some(&v1)).await;
    let bad = [
        (
            insert_tenant(
                &db.pool,
                "foreign",
                host,
                Some("admin"),
                Some(&foreign_token),
            )
            .await,
            &foreign_token,
            "ENCRYPTION_KEY",
        ),
        (
            insert_tenant(&db.pool, "cut", host, Some("admin"), Some(&damaged_token)).await,
            &damaged_token,
            "ENCRYPTION_KEY",
        ),
        (
            insert_tenant(&db.pool, "broken", host, Some("admin"), Some(&damaged_v1)).await,
            &damaged_v1,
            "PBX_ENCRYPTION_KEY",
        ),
    ];
    let good_after = insert_tenant(&db.pool, "after", host, Some("admin"), Some(&v1)).await;

    let entries = load(&db.pool, &cipher).await;
    assert_eq!(entries.len(), 5);
    assert_eq!(ready(&entries, good).console.password.expose(), "good");
    assert_eq!(
        ready(&entries, good_after).console.password.expose(),
        "good"
    );
    for (id, stored, key_var) in bad {
        let message = broken_message(&entries, id);
        let name = entry(&entries, id).name().to_string();
        assert!(
            message.starts_with(&format!("tenant {id} ({name}): ")),
            "{message}"
        );
        assert!(
            message.contains("wrong key") && message.contains(key_var),
            "{message}"
        );
        assert!(
            message.contains("tenant update"),
            "says what to do: {message}"
        );
        assert_eq!(
            &stored_password(&db.pool, id).await,
            stored,
            "never taken for plaintext"
        );
    }

    // Without the key a token names the missing variable instead.
    let entries = load(&db.pool, &self::cipher(&[("PBX_ENCRYPTION_KEY", AES_KEY)])).await;
    assert!(broken_message(&entries, bad[0].0).contains("ENCRYPTION_KEY is not set"));
}

#[tokio::test]
async fn a_plaintext_password_is_used_and_sealed_in_place_without_being_logged() {
    let db = migrated_database().await;
    let key = fernet::key();
    let password = "Plain-Text-Pw-42";
    for (format, looks_right) in [
        (
            "aes-gcm",
            (|v: &str, _: &str| v.starts_with("v1:")) as fn(&str, &str) -> bool,
        ),
        ("fernet", |v: &str, key: &str| {
            fernet::decrypt(key, v) == "Plain-Text-Pw-42"
        }),
    ] {
        let cipher = cipher(&[
            ("ENCRYPTION_KEY", &key),
            ("PBX_ENCRYPTION_KEY", AES_KEY),
            ("PBX_PASSWORD_FORMAT", format),
        ]);
        let id = insert_tenant(
            &db.pool,
            &format!("plain-{format}"),
            Some("pbx"),
            Some("admin"),
            Some(password),
        )
        .await;
        let logs = Logs::default();
        let guard = logs.capture();
        let entries = tenants::load_active(&db.pool, &cipher, Some(id))
            .await
            .unwrap();
        drop(guard);
        assert_eq!(ready(&entries, id).console.password.expose(), password);
        let stored = stored_password(&db.pool, id).await;
        assert!(looks_right(&stored, &key), "{format}: stored as {stored}");
        let text = logs.text();
        assert!(
            text.contains("plaintext") && text.contains(&format!("(ID: {id})")),
            "{text}"
        );
        assert!(
            !text.contains(password),
            "the warning shows the password: {text}"
        );

        // Sealed once: the next load opens it and warns no more.
        let logs = Logs::default();
        let guard = logs.capture();
        let entries = tenants::load_active(&db.pool, &cipher, Some(id))
            .await
            .unwrap();
        drop(guard);
        assert_eq!(ready(&entries, id).console.password.expose(), password);
        assert_eq!(stored_password(&db.pool, id).await, stored);
        assert!(!logs.text().contains("plaintext"), "{}", logs.text());
    }

    // No key to seal with: used as it is, left as it is, and the operator is told why.
    let id = insert_tenant(
        &db.pool,
        "plain-nokey",
        Some("pbx"),
        Some("admin"),
        Some(password),
    )
    .await;
    let logs = Logs::default();
    let guard = logs.capture();
    let entries = tenants::load_active(&db.pool, &cipher(&[]), Some(id))
        .await
        .unwrap();
    drop(guard);
    assert_eq!(ready(&entries, id).console.password.expose(), password);
    assert_eq!(stored_password(&db.pool, id).await, password);
    let text = logs.text();
    assert!(
        text.contains("PBX_ENCRYPTION_KEY") && !text.contains(password),
        "{text}"
    );
}

#[tokio::test]
async fn incomplete_or_invalid_rows_are_reported_per_tenant_and_other_systems_ignored() {
    let db = migrated_database().await;
    let cipher = cipher(&[("PBX_ENCRYPTION_KEY", AES_KEY)]);
    let pw = cipher.seal(&Secret::new("pw".into())).unwrap();
    let pw = Some(pw.as_str());
    let no_ip = insert_tenant(&db.pool, "no-ip", None, Some("admin"), pw).await;
    let blank_user = insert_tenant(&db.pool, "blank-user", Some("pbx"), Some("  "), pw).await;
    let no_password =
        insert_tenant(&db.pool, "no-password", Some("pbx"), Some("admin"), None).await;
    let scheme = insert_tenant(
        &db.pool,
        "scheme",
        Some("https://pbx.example.com"),
        Some("admin"),
        pw,
    )
    .await;
    let with_port = insert_tenant(
        &db.pool,
        "with-port",
        Some("pbx.example.com:8089"),
        Some("admin"),
        pw,
    )
    .await;
    let bad_zone = insert_tenant(&db.pool, "bad-zone", Some("pbx"), Some("admin"), pw).await;
    let on_prem = insert_tenant(&db.pool, "on-prem", Some("192.0.2.7"), Some("admin"), pw).await;
    let null_port = insert_tenant(
        &db.pool,
        "null-port",
        Some("pbx.example.com"),
        Some("admin"),
        pw,
    )
    .await;
    let other_system = insert_tenant(&db.pool, "other", Some("pbx"), Some("admin"), pw).await;
    let inactive = insert_tenant(&db.pool, "inactive", Some("pbx"), Some("admin"), pw).await;
    let run = |sql: &'static str, id: TenantId| {
        let pool = db.pool.clone();
        async move { sqlx::query(sql).bind(id.0).execute(&pool).await.unwrap() }
    };
    run(
        "UPDATE tenants SET ucm_timezone = 'Mars/Olympus' WHERE id = $1",
        bad_zone,
    )
    .await;
    run(
        "UPDATE tenants SET pbx_port = 8089, ucm_timezone = 'Europe/Berlin' WHERE id = $1",
        on_prem,
    )
    .await;
    run(
        "UPDATE tenants SET pbx_port = NULL WHERE id = $1",
        null_port,
    )
    .await;
    run(
        "UPDATE tenants SET phone_system_type = 'freepbx' WHERE id = $1",
        other_system,
    )
    .await;
    run(
        "UPDATE tenants SET is_active = false WHERE id = $1",
        inactive,
    )
    .await;

    let entries = load(&db.pool, &cipher).await;
    let ids: Vec<TenantId> = entries.iter().map(TenantEntry::id).collect();
    assert!(
        !ids.contains(&other_system) && !ids.contains(&inactive),
        "{ids:?}"
    );
    assert_eq!(entries.len(), 8);
    for id in [no_ip, blank_user, no_password] {
        assert!(
            matches!(entry(&entries, id), TenantEntry::MissingCredentials { .. }),
            "{:?}",
            entry(&entries, id)
        );
    }
    for id in [scheme, with_port] {
        let message = broken_message(&entries, id);
        assert!(
            message.contains("pbx_ip") && message.contains(&format!("tenant {id} (")),
            "{message}"
        );
    }
    assert!(broken_message(&entries, bad_zone).contains("Mars/Olympus"));
    let on_prem = ready(&entries, on_prem);
    assert_eq!(on_prem.console.base_url.as_str(), "https://192.0.2.7:8089/");
    assert_eq!(on_prem.timezone, chrono_tz::Europe::Berlin);
    assert_eq!(
        ready(&entries, null_port).console.base_url.port(),
        Some(8443)
    );

    // `only` narrows the load; an inactive tenant is still there for diagnostics by id.
    let only = tenants::load_active(&db.pool, &cipher, Some(null_port))
        .await
        .unwrap();
    assert_eq!(only.len(), 1);
    assert!(tenants::load_active(&db.pool, &cipher, Some(inactive))
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        tenants::load_one(&db.pool, &cipher, inactive)
            .await
            .unwrap(),
        TenantEntry::Ready(_)
    ));
    assert!(tenants::load_one(&db.pool, &cipher, TenantId(9999))
        .await
        .is_err());
}

/// `blocked_until - <now() just before the failure>`, in seconds.
async fn fail_login(pool: &PgPool, id: TenantId) -> f64 {
    let (before,): (chrono::DateTime<chrono::Utc>,) = sqlx::query_as("SELECT now()")
        .fetch_one(pool)
        .await
        .unwrap();
    let until = tenants::record_login_failure(pool, id, "Login rejected (-37)")
        .await
        .unwrap();
    (until - before).num_milliseconds() as f64 / 1000.0
}

fn assert_block(seconds: f64, failures: i32) {
    let expected = login_backoff(failures).as_secs_f64();
    assert!(
        seconds >= expected && seconds < expected + 60.0,
        "failure {failures}: blocked {seconds}s, expected {expected}s"
    );
}

#[tokio::test]
async fn failed_logins_back_off_doubling_to_a_day_until_the_credentials_change() {
    let db = migrated_database().await;
    let cipher = cipher(&[("PBX_ENCRYPTION_KEY", AES_KEY)]);
    let sealed = cipher.seal(&Secret::new("wrong".into())).unwrap();
    let id = insert_tenant(
        &db.pool,
        "locked",
        Some("pbx"),
        Some("admin"),
        Some(&sealed),
    )
    .await;
    let other = insert_tenant(&db.pool, "fine", Some("pbx"), Some("admin"), Some(&sealed)).await;

    let mut blocks = Vec::new();
    for failures in 1..=9 {
        let seconds = fail_login(&db.pool, id).await;
        assert_block(seconds, failures);
        blocks.push(seconds);
    }
    // 15 min, 30 min, … and from the 8th failure on a day, no longer.
    assert!(
        blocks.windows(2).take(6).all(|w| w[1] > w[0] * 1.9),
        "{blocks:?}"
    );
    assert_eq!(login_backoff(8).as_secs(), 24 * 3600);
    assert_eq!(login_backoff(9).as_secs(), 24 * 3600);

    let entries = load(&db.pool, &cipher).await;
    match entry(&entries, id) {
        TenantEntry::Blocked { last_error, .. } => {
            assert_eq!(last_error.as_deref(), Some("Login rejected (-37)"))
        }
        other => panic!("should be blocked: {other:?}"),
    }
    ready(&entries, other);

    // A new password written by SQL, as the backend does, lifts the block; counting restarts.
    let new = cipher.seal(&Secret::new("right".into())).unwrap();
    sqlx::query("UPDATE tenants SET pbx_password = $2 WHERE id = $1")
        .bind(id.0)
        .bind(&new)
        .execute(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        ready(&load(&db.pool, &cipher).await, id)
            .console
            .password
            .expose(),
        "right"
    );
    assert_block(fail_login(&db.pool, id).await, 1);
    assert_block(fail_login(&db.pool, id).await, 2);

    // A successful login clears block, count and error, and remembers the firmware.
    tenants::record_login_success(&db.pool, id, Some("1.0.27.10"))
        .await
        .unwrap();
    let tenant = ready(&load(&db.pool, &cipher).await, id).clone();
    assert_eq!(tenant.firmware.as_deref(), Some("1.0.27.10"));
    assert_block(fail_login(&db.pool, id).await, 1);

    // Other errors are shown but block nothing.
    tenants::record_login_success(&db.pool, id, None)
        .await
        .unwrap();
    tenants::record_error(&db.pool, id, "Recordings page did not load")
        .await
        .unwrap();
    assert_eq!(
        ready(&load(&db.pool, &cipher).await, id)
            .firmware
            .as_deref(),
        Some("1.0.27.10")
    );
}

// ---- the `tenant` commands, through the binary --------------------------------------------------

const PASSWORD: &str = "S3cret-Pass!word";

fn ucm_scraper(db_url: &str, keys: &[(&str, &str)], args: &[&str], stdin: Option<&str>) -> Run {
    UcmScraper::new(args)
        .env("DATABASE_URL", db_url)
        .envs(keys.iter().copied())
        .stdin(stdin.unwrap_or_default())
        .secret(PASSWORD)
        .secret("N3w-Pass")
        .run()
}

fn ok(out: &Run) -> String {
    assert!(out.ok, "{}", out.stderr);
    out.stdout.clone()
}

fn failed(out: &Run) -> String {
    assert_eq!(out.code, Some(1), "{}", out.stdout);
    out.stderr.clone()
}

#[tokio::test]
async fn tenant_commands_end_to_end() {
    // Not migrated: `tenant add` migrates first (it writes).
    let db = fresh_database().await;
    let keys = [("PBX_ENCRYPTION_KEY", AES_KEY)];
    let run = |args: &[&str], stdin: Option<&str>| ucm_scraper(&db.url, &keys, args, stdin);
    let add = [
        "tenant",
        "add",
        "--company-name",
        "Acme Corp",
        "--subdomain",
        "acme",
        "--pbx-ip",
        "acme01.c.myucm.cloud",
        "--pbx-port",
        "8443",
        "--pbx-username",
        "admin",
        "--pbx-password-stdin",
        "--ucm-timezone",
        "America/Chicago",
    ];
    let id: i64 = ok(&run(&add, Some(&format!("{PASSWORD}\n"))))
        .trim()
        .parse()
        .unwrap();
    let id = TenantId(id);
    let cipher = cipher(&keys);
    let stored = stored_password(&db.pool, id).await;
    assert!(stored.starts_with("v1:"), "{stored}");
    let tenant = ready(&load(&db.pool, &cipher).await, id).clone();
    assert_eq!(tenant.console.password.expose(), PASSWORD);
    assert_eq!(tenant.timezone, chrono_tz::America::Chicago);

    assert!(failed(&run(&add, Some("again\n")))
        .contains("subdomain \"acme\" belongs to another tenant"));
    assert!(failed(&run(
        &[
            "tenant",
            "add",
            "--subdomain",
            "x",
            "--pbx-ip",
            "https://x.example"
        ],
        None
    ))
    .contains("pbx_ip"));
    assert!(failed(&run(
        &["tenant", "add", "--subdomain", "y", "--pbx-password-stdin"],
        Some("\n")
    ))
    .contains("empty"));

    // Three calls wait, one of them not listed on the console yet; one is done; one is not on
    // the console for good: the backlog counts the three, the unlisted ones are shown apart.
    sqlx::query(
        "INSERT INTO cdr_records (tenant_id, uniqueid, recordfiles, recording_local_path, call_date, \
                                  recording_status, recording_not_listed_since) VALUES \
         ($1, '1.1', 'a.wav@', NULL, now() AT TIME ZONE 'UTC', 'pending', NULL), \
         ($1, '1.2', 'b.wav@', '', now() AT TIME ZONE 'UTC', 'pending', NULL), \
         ($1, '1.3', 'c.wav@', 'tenant_1/1.3_recording.mp3', now() AT TIME ZONE 'UTC', 'stored', NULL), \
         ($1, '1.4', 'd.wav@', NULL, now() AT TIME ZONE 'UTC', 'pending', now()), \
         ($1, '1.5', 'e.wav@', NULL, now() AT TIME ZONE 'UTC', 'not_on_console', now())",
    )
    .bind(id.0)
    .execute(&db.pool)
    .await
    .unwrap();
    tenants::record_login_failure(&db.pool, id, "Login rejected (-37)")
        .await
        .unwrap();
    let list = ok(&run(&["tenant", "list"], None));
    let row = list
        .lines()
        .find(|l| l.contains("Acme Corp"))
        .unwrap_or_else(|| panic!("{list}"));
    let header = list.lines().next().unwrap();
    assert!(
        header.contains("BLOCKED UNTIL")
            && header
                .trim_end()
                .ends_with("BACKLOG  NOT LISTED YET  NOT ON CONSOLE  UNMATCHED  LEARNED SELECTORS"),
        "{list}"
    );
    assert!(
        row.contains("admin@acme01.c.myucm.cloud:8443") && row.contains("Login rejected"),
        "{row}"
    );
    let counts: Vec<&str> = row.split_whitespace().rev().take(4).collect();
    assert!(
        row.contains("UTC") && counts == ["0", "1", "1", "3"],
        "blocked; backlog 3, 1 not listed yet, 1 not on console, none unmatched: {row}"
    );

    // A new password lifts the block and is stored sealed; other fields stay.
    ok(&run(
        &["tenant", "update", &id.to_string(), "--pbx-password-stdin"],
        Some("N3w-Pass\r\n"),
    ));
    let list = ok(&run(&["tenant", "list"], None));
    let row = list.lines().find(|l| l.contains("Acme Corp")).unwrap();
    assert!(!row.contains("UTC"), "block lifted: {row}");
    let tenant = ready(&load(&db.pool, &cipher).await, id).clone();
    assert_eq!(tenant.console.password.expose(), "N3w-Pass");
    assert_eq!(tenant.console.username, "admin");

    ok(&run(
        &[
            "tenant",
            "update",
            &id.to_string(),
            "--company-name",
            "Acme Inc",
            "--pbx-port",
            "8089",
        ],
        None,
    ));
    let tenant = ready(&load(&db.pool, &cipher).await, id).clone();
    assert_eq!(
        (tenant.name.as_str(), tenant.console.base_url.port()),
        ("Acme Inc", Some(8089))
    );
    assert!(
        failed(&run(&["tenant", "update", &id.to_string()], None)).contains("nothing to update")
    );
    assert!(failed(&run(
        &["tenant", "update", "9999", "--company-name", "x"],
        None
    ))
    .contains("tenant 9999 not found"));

    ok(&run(&["tenant", "disable", &id.to_string()], None));
    assert!(load(&db.pool, &cipher).await.is_empty());
    assert!(ok(&run(&["tenant", "list"], None))
        .lines()
        .any(|l| l.contains("Acme Inc") && l.contains(" no ")));
    ok(&run(&["tenant", "enable", &id.to_string()], None));
    assert_eq!(load(&db.pool, &cipher).await.len(), 1);
    assert!(failed(&run(&["tenant", "enable", "9999"], None)).contains("not found"));

    // Without a key a password cannot be stored, and the error says which key to set.
    let out = ucm_scraper(
        &db.url,
        &[],
        &[
            "tenant",
            "add",
            "--subdomain",
            "gamma",
            "--pbx-password-stdin",
        ],
        Some(PASSWORD),
    );
    assert!(failed(&out).contains("PBX_ENCRYPTION_KEY"));

    // With only the backend's key, the worker writes tokens the backend reads.
    let key = fernet::key();
    let out = ucm_scraper(
        &db.url,
        &[("ENCRYPTION_KEY", &key)],
        &[
            "tenant",
            "add",
            "--subdomain",
            "beta",
            "--pbx-ip",
            "beta.c.myucm.cloud",
            "--pbx-username",
            "admin",
            "--pbx-password-stdin",
        ],
        Some(PASSWORD),
    );
    let beta = TenantId(ok(&out).trim().parse().unwrap());
    assert_eq!(
        fernet::decrypt(&key, &stored_password(&db.pool, beta).await),
        PASSWORD
    );
    // Replacing it with a v1 value is allowed, but the operator is warned the backend loses it.
    let out = ucm_scraper(
        &db.url,
        &[("ENCRYPTION_KEY", &key), ("PBX_ENCRYPTION_KEY", AES_KEY)],
        &[
            "tenant",
            "update",
            &beta.to_string(),
            "--pbx-password-stdin",
        ],
        Some("N3w-Pass"),
    );
    ok(&out);
    assert!(out.stderr.contains("PBX_PASSWORD_FORMAT=fernet"));
    assert!(stored_password(&db.pool, beta).await.starts_with("v1:"));
}

#[tokio::test]
async fn the_backends_own_rows_load_on_its_schema() {
    let db = fresh_database().await;
    let fixture = include_str!("fixtures/legacy_backend_schema.sql");
    sqlx::raw_sql(fixture).execute(&db.pool).await.unwrap();
    ucm_scraper::db::migrate(&db.pool).await.unwrap();
    let (acme, beta) = (TenantId(1), TenantId(2));
    let token = stored_password(&db.pool, acme).await;

    // The fixture's token was made with a key we do not have: a per-tenant error, left as it is.
    let entries = load(&db.pool, &cipher(&[("ENCRYPTION_KEY", &fernet::key())])).await;
    assert!(broken_message(&entries, acme)
        .starts_with("tenant 1 (Acme Corp): pbx_password is a Fernet token"));
    assert!(
        matches!(entry(&entries, beta), TenantEntry::MissingCredentials { name, .. } if name == "Beta LLC")
    );
    assert_eq!(stored_password(&db.pool, acme).await, token);

    let mut listed = Vec::new();
    ucm_scraper::commands::tenant::list(&db.pool, 3650, &mut listed)
        .await
        .unwrap();
    let listed = String::from_utf8(listed).unwrap();
    assert!(
        listed.lines().any(|l| l.contains("Acme Corp")
            && l.split_whitespace().rev().take(4).eq(["0", "0", "0", "1"])),
        "{listed}"
    );
    assert!(
        listed
            .lines()
            .any(|l| l.contains("Beta LLC") && l.contains("missing credentials")),
        "{listed}"
    );
}

#[tokio::test]
async fn reading_commands_leave_an_unmigrated_database_alone() {
    let db = fresh_database().await;
    let keys = [("PBX_ENCRYPTION_KEY", AES_KEY)];
    for args in [&["tenant", "list"][..], &["tenant", "unmatched", "1"]] {
        let stderr = failed(&ucm_scraper(&db.url, &keys, args, None));
        assert!(
            stderr.contains("migrations are not applied") && stderr.contains("ucm-scraper migrate"),
            "{args:?}: {stderr}"
        );
    }
    let migrated: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(migrated, None, "a reading command applied migrations");
}

// ---- the HTTPS API's credentials and the road (issue 25) ---------------------------------------

const API_PASSWORD: &str = "Api-Pa55 wörd";

async fn stored_api_password(pool: &PgPool, id: TenantId) -> Option<String> {
    sqlx::query_scalar("SELECT api_password FROM tenants WHERE id = $1")
        .bind(id.0)
        .fetch_one(pool)
        .await
        .unwrap()
}

fn api_access(tenant: &Tenant) -> &ApiAccess {
    match &tenant.api {
        ApiSetting::Ready(access) => access,
        other => panic!("tenant {} should have API access: {other:?}", tenant.id),
    }
}

#[tokio::test]
async fn api_credentials_are_set_by_flags_sealed_and_opened() {
    let db = migrated_database().await;
    let keys = [("PBX_ENCRYPTION_KEY", AES_KEY)];
    let cipher = cipher(&keys);
    let sealed = cipher.seal(&Secret::new(PASSWORD.into())).unwrap();
    let id = insert_tenant(
        &db.pool,
        "acme",
        Some("pbx.example"),
        Some("admin"),
        Some(&sealed),
    )
    .await;
    let run = |args: &[&str], stdin: Option<&str>| {
        UcmScraper::new(args)
            .env("DATABASE_URL", &db.url)
            .envs(keys.iter().copied())
            .stdin(stdin.unwrap_or_default())
            .secret(API_PASSWORD)
            .run()
    };
    let tenant = ready(&load(&db.pool, &cipher).await, id).clone();
    assert_eq!(tenant.driver, DriverChoice::Auto, "the column's default");
    assert!(matches!(tenant.api, ApiSetting::NotSet), "{:?}", tenant.api);

    let id_arg = id.to_string();
    let update = [
        "tenant",
        "update",
        &id_arg,
        "--api-username",
        " apiuser ",
        "--api-password-stdin",
        "--api-port",
        "8089",
        "--driver",
        "api",
    ];
    ok(&run(&update, Some(&format!("{API_PASSWORD}\n"))));
    let stored = stored_api_password(&db.pool, id).await.unwrap();
    assert!(
        stored.starts_with("v1:") && !stored.contains(API_PASSWORD),
        "{stored}"
    );
    let tenant = ready(&load(&db.pool, &cipher).await, id).clone();
    assert_eq!(tenant.driver, DriverChoice::Api);
    let api = api_access(&tenant);
    assert_eq!(
        (api.username.as_str(), api.password.expose().as_str()),
        ("apiuser", API_PASSWORD)
    );
    assert_eq!(api.base_url.as_str(), "https://pbx.example:8089/");
    assert_eq!(
        tenant.console.base_url.port(),
        Some(8443),
        "the web port stays"
    );
    let printed = format!("{tenant:?}");
    assert!(
        !printed.contains(API_PASSWORD) && printed.contains("***"),
        "{printed}"
    );
    let list = ok(&run(&["tenant", "list"], None));
    assert!(
        list.lines().next().unwrap().contains("ROAD") && list.contains("api (API credentials set)"),
        "{list}"
    );

    // Flags are checked before anything is written.
    for (args, stdin, says) in [
        (vec!["--api-port", "0"], None, "api_port 0"),
        (
            vec!["--api-password-stdin"],
            Some("\n"),
            "API password is empty",
        ),
        (vec!["--api-username", "  "], None, "API username is empty"),
    ] {
        let mut full = vec!["tenant", "update", &id_arg];
        full.extend(args);
        assert!(failed(&run(&full, stdin)).contains(says), "{full:?}");
    }
    for refused_by_clap in [
        vec!["--driver", "carrier-pigeon"],
        vec!["--api-password-stdin", "--pbx-password-stdin"],
    ] {
        let mut full = vec!["tenant", "update", &id_arg];
        full.extend(refused_by_clap);
        let out = run(&full, Some("x\n"));
        assert_eq!(out.code, Some(2), "{full:?}: {}", out.stderr);
    }
    assert_eq!(
        stored_api_password(&db.pool, id).await.unwrap(),
        stored,
        "nothing written"
    );

    // Without --api-port the API answers on pbx_port.
    sqlx::query("UPDATE tenants SET api_port = NULL, pbx_port = 8090 WHERE id = $1")
        .bind(id.0)
        .execute(&db.pool)
        .await
        .unwrap();
    let tenant = ready(&load(&db.pool, &cipher).await, id).clone();
    assert_eq!(api_access(&tenant).base_url.port(), Some(8090));
}

#[tokio::test]
async fn api_passwords_open_in_both_formats_and_plaintext_is_sealed_in_place() {
    let db = migrated_database().await;
    let key = fernet::key();
    let cipher = cipher(&[("ENCRYPTION_KEY", &key)]);
    let pbx = fernet::encrypt(&key, PASSWORD);
    let fernet_id = insert_tenant(&db.pool, "f", Some("pbx"), Some("admin"), Some(&pbx)).await;
    let plain_id = insert_tenant(&db.pool, "p", Some("pbx"), Some("admin"), Some(&pbx)).await;
    let token = fernet::encrypt(&key, API_PASSWORD);
    for (id, stored) in [(fernet_id, token.as_str()), (plain_id, API_PASSWORD)] {
        sqlx::query("UPDATE tenants SET api_username = 'api', api_password = $2 WHERE id = $1")
            .bind(id.0)
            .bind(stored)
            .execute(&db.pool)
            .await
            .unwrap();
    }
    let logs = Logs::default();
    let entries = {
        let _guard = logs.capture();
        load(&db.pool, &cipher).await
    };
    for id in [fernet_id, plain_id] {
        let tenant = ready(&entries, id);
        assert_eq!(api_access(tenant).password.expose(), API_PASSWORD);
    }
    assert_eq!(
        stored_api_password(&db.pool, fernet_id).await.unwrap(),
        token
    );
    let sealed = stored_api_password(&db.pool, plain_id).await.unwrap();
    assert_eq!(fernet::decrypt(&key, &sealed), API_PASSWORD);
    let text = logs.text();
    assert!(
        text.contains("api_password of tenant p Corp") && !text.contains(API_PASSWORD),
        "{text}"
    );
}

#[tokio::test]
async fn unusable_api_settings_break_only_a_tenant_that_insists_on_the_api() {
    let db = migrated_database().await;
    let cipher = cipher(&[("PBX_ENCRYPTION_KEY", AES_KEY)]);
    let pw = cipher.seal(&Secret::new(PASSWORD.into())).unwrap();
    let insert = |subdomain: &'static str, set: &'static str| {
        let (pool, pw) = (db.pool.clone(), pw.clone());
        async move {
            let id = insert_tenant(&pool, subdomain, Some("pbx"), Some("admin"), Some(&pw)).await;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE tenants SET {set} WHERE id = $1"
            )))
            .bind(id.0)
            .execute(&pool)
            .await
            .unwrap();
            id
        }
    };
    let half = insert("half", "api_username = 'api'").await;
    let bad_port = insert(
        "port",
        "api_username = 'a', api_password = 'x', api_port = 0",
    )
    .await;
    let forced_half = insert("forced", "api_username = 'api', driver = 'api'").await;
    let forced_none = insert("none", "driver = 'api'").await;
    let browser = insert("browser", "driver = 'browser', api_username = 'api'").await;
    let entries = load(&db.pool, &cipher).await;
    for (id, says) in [(half, "go together"), (bad_port, "api_port 0")] {
        let tenant = ready(&entries, id);
        assert!(
            matches!(&tenant.api, ApiSetting::Unusable(why) if why.contains(says)),
            "{:?}",
            tenant.api
        );
    }
    assert!(broken_message(&entries, forced_half).contains("go together"));
    assert!(broken_message(&entries, forced_none).contains("driver is `api`"));
    assert_eq!(ready(&entries, browser).driver, DriverChoice::Browser);
    let refused = sqlx::query("UPDATE tenants SET driver = 'bus' WHERE id = $1")
        .bind(half.0)
        .execute(&db.pool)
        .await;
    assert!(refused.is_err(), "the CHECK refuses other roads");
}
