//! The guide's whole flow against real parts: Postgres, Chromium + chromedriver, the console
//! and Supabase Storage stand-ins, and the `ucm-scraper once` binary (issue 6's acceptance).

mod support;

use std::time::Duration;

use sqlx::PgPool;
use support::browser::wait_no_browsers;
use support::scenario::{files_under, Scenario};
use support::storage::BUCKET;
use support::{audio, fernet};

/// The operators' guide's verification query.
async fn verification(pool: &PgPool) -> Vec<(String, i64, i64, i64)> {
    sqlx::query_as(
        "SELECT t.company_name, count(c.id), \
                count(c.id) FILTER (WHERE c.recording_downloaded), \
                count(c.id) FILTER (WHERE c.recording_local_path LIKE '%.mp3') \
         FROM tenants t LEFT JOIN cdr_records c ON c.tenant_id = t.id \
         GROUP BY t.id, t.company_name ORDER BY t.id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_pass_over_a_healthy_a_misconfigured_and_an_incomplete_tenant() {
    let s = Scenario::new().await;
    let (healthy, recordings) = s.console("Right-pass1", 12).await;
    let (locked, _) = s.console("Right-pass2", 0).await;
    s.secret("not-it");

    // Passwords as the Python backend stores them: Fernet tokens made by `cryptography`.
    let token = fernet::encrypt(&s.fernet_key, "Right-pass1");
    let acme = s.tenant_raw("Acme Corp", Some((&healthy, &token))).await;
    let wrong = s.tenant("Wrong Pass Ltd", &locked, "not-it").await;
    let bare = s.tenant_raw("No Creds Inc", None).await;
    let uniqueids = s.calls(acme, &recordings).await;
    s.calls(wrong, &recordings[..2]).await;

    let first = s.once().await;
    assert!(
        !first.ok,
        "a failed tenant makes `once` exit 1\n{}",
        first.stderr
    );
    assert!(
        first
            .stderr
            .contains("Found 3 active tenants with UCM configured"),
        "{}",
        first.stderr
    );
    assert!(
        first
            .stderr
            .contains("Missing UCM credentials for tenant No Creds Inc. Skipping."),
        "{}",
        first.stderr
    );
    assert!(
        first
            .stderr
            .contains(&format!("Processing tenant: Acme Corp (ID: {acme})")),
        "{}",
        first.stderr
    );
    assert!(
        first.stderr.contains("Found 12 calls needing recordings"),
        "{}",
        first.stderr
    );

    // Every recording of the healthy tenant, once, under the contract's key, as an MP3.
    for uniqueid in &uniqueids {
        let key = format!("tenant_{acme}/{uniqueid}_recording.mp3");
        assert_eq!(
            s.storage.stores_of(&key),
            1,
            "{key} stored once\n{}",
            first.stderr
        );
        let object = s.storage.object(BUCKET, &key).expect("object present");
        let mp3 = s.work.path().join("check.mp3");
        std::fs::write(&mp3, &object.bytes).unwrap();
        let facts = audio::decode_mp3(&mp3);
        assert!(
            (facts.duration_secs() - 4.0).abs() < 0.2,
            "{key}: {} s",
            facts.duration_secs()
        );
    }
    assert_eq!(s.storage.object_count(), 12);
    let stored: Vec<(String, Option<String>, bool)> = sqlx::query_as(
        "SELECT uniqueid, recording_local_path, recording_downloaded FROM cdr_records \
         WHERE tenant_id = $1 AND recording_status = 'stored' ORDER BY uniqueid",
    )
    .bind(acme as i32)
    .fetch_all(s.pool())
    .await
    .unwrap();
    assert_eq!(stored.len(), 12);
    for (uniqueid, path, downloaded) in &stored {
        assert_eq!(
            path.as_deref(),
            Some(format!("tenant_{acme}/{uniqueid}_recording.mp3").as_str())
        );
        assert!(downloaded);
    }

    // One login on the healthy console, no download refused for pacing.
    let events = healthy.events();
    assert_eq!((events.logins_ok, events.logins_failed), (1, 0));
    assert_eq!(events.downloads_rate_limited, 0);
    assert_eq!(events.downloads_served, 12);
    // One attempt with the wrong password, none on the next pass (the tenant is blocked).
    assert_eq!(locked.events().logins_tried, 1);

    let second = s.once().await;
    assert_eq!(
        locked.events().logins_tried,
        1,
        "blocked tenant not tried again\n{}",
        second.stderr
    );
    assert_eq!(
        healthy.events().logins_tried,
        1,
        "no calls left: no browser session\n{}",
        second.stderr
    );
    assert!(
        second.stderr.contains("is blocked after failed logins"),
        "{}",
        second.stderr
    );

    // The backend's token was used as it is and left byte-identical.
    let after: String = sqlx::query_scalar("SELECT pbx_password FROM tenants WHERE id = $1")
        .bind(acme as i32)
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(after, token);

    assert_eq!(
        verification(s.pool()).await,
        vec![
            ("Acme Corp".to_string(), 12, 12, 12),
            ("Wrong Pass Ltd".to_string(), 2, 0, 0),
            ("No Creds Inc".to_string(), 0, 0, 0),
        ]
    );
    let _ = bare;
    s.assert_no_secrets();
    assert!(
        files_under(&s.downloads()).is_empty(),
        "no working file left behind"
    );
    assert_eq!(
        wait_no_browsers(Duration::from_secs(10)).await,
        0,
        "every browser closed"
    );
}
