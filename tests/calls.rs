//! `cdr_records` as a work queue against a real Postgres (issue 6): what needs a recording,
//! leases between concurrent workers, attempts, final states and AI triggers.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use sqlx::PgPool;
use support::pg::{fresh_database, migrated_database};
use ucm_scraper::calls::{self, Charge, ClaimPolicy, FailureOutcome, NotListed, Unlisted};
use ucm_scraper::ids::TenantId;

fn policy(limit: i64) -> ClaimPolicy {
    ClaimPolicy {
        lookback_days: 7,
        lease: Duration::from_secs(600),
        limit,
        max_attempts: 3,
    }
}

async fn tenant(pool: &PgPool, subdomain: &str) -> TenantId {
    let (id,): (i32,) = sqlx::query_as("INSERT INTO tenants (subdomain) VALUES ($1) RETURNING id")
        .bind(subdomain)
        .fetch_one(pool)
        .await
        .unwrap();
    TenantId(id.into())
}

/// A row as the backend writes it, `hours_old` before now (UTC, no zone).
async fn call(
    pool: &PgPool,
    tenant: TenantId,
    uniqueid: &str,
    recordfiles: Option<&str>,
    hours_old: i32,
) -> i64 {
    let (id,): (i32,) = sqlx::query_as(
        "INSERT INTO cdr_records (tenant_id, uniqueid, src, dst, duration, recordfiles, call_date) \
         VALUES ($1, $2, '1000', '2815058290', 42, $3, \
                 (now() AT TIME ZONE 'UTC') - make_interval(hours => $4)) RETURNING id",
    )
    .bind(tenant.0)
    .bind(uniqueid)
    .bind(recordfiles)
    .bind(hours_old)
    .fetch_one(pool)
    .await
    .unwrap();
    id.into()
}

async fn set(pool: &PgPool, id: i64, assignments: &str) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE cdr_records SET {assignments} WHERE id = $1"
    )))
    .bind(id)
    .execute(pool)
    .await
    .unwrap();
}

#[derive(Debug, PartialEq, sqlx::FromRow)]
struct State {
    recording_status: String,
    recording_attempts: i32,
    recording_error: Option<String>,
    leased: bool,
}

async fn state(pool: &PgPool, id: i64) -> State {
    sqlx::query_as(
        "SELECT recording_status, recording_attempts, recording_error, \
                coalesce(recording_lease_until > now(), false) AS leased FROM cdr_records WHERE id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .unwrap()
}

fn ids(calls: &[calls::Call]) -> Vec<i64> {
    calls.iter().map(|c| c.id).collect()
}

#[tokio::test]
async fn claim_takes_only_calls_that_need_a_recording_newest_first() {
    let db = migrated_database().await;
    let pool = &db.pool;
    let t = tenant(pool, "acme").await;
    let other = tenant(pool, "other").await;

    let newest = call(
        pool,
        t,
        "1770395696.123",
        Some("2026-02/auto-1770395696-1000-2815058290.wav@"),
        1,
    )
    .await;
    let two_files = call(pool, t, "1770395001.77", Some("a.wav@b.wav@"), 2).await;
    let empty_path = call(pool, t, "1770394000.5", Some("c.wav@"), 3).await;
    let six_days = call(pool, t, "1770300000.1", Some("d.wav@"), 6 * 24).await;
    set(pool, empty_path, "recording_local_path = ''").await;

    let eight_days = call(pool, t, "1770200000.1", Some("e.wav@"), 8 * 24).await;
    let uploaded = call(pool, t, "1.1", Some("f.wav@"), 1).await;
    set(
        pool,
        uploaded,
        "recording_local_path = 'tenant_1/1.1_recording.mp3', recording_downloaded = true",
    )
    .await;
    call(pool, t, "1.2", None, 1).await;
    call(pool, t, "1.3", Some(""), 1).await;
    call(pool, t, "1.4", Some("@"), 1).await;
    for status in ["failed", "not_on_console", "stored"] {
        let id = call(pool, t, "1.5", Some("g.wav@"), 1).await;
        set(pool, id, &format!("recording_status = '{status}'")).await;
    }
    let held = call(pool, t, "1.6", Some("h.wav@"), 1).await;
    set(
        pool,
        held,
        "recording_status = 'downloading', recording_lease_until = now() + interval '5 minutes'",
    )
    .await;
    let no_date = call(pool, t, "1.7", Some("i.wav@"), 1).await;
    set(pool, no_date, "call_date = NULL").await;
    call(pool, other, "2.1", Some("j.wav@"), 1).await;

    assert_eq!(
        calls::backlog(pool, t, 7).await.unwrap(),
        5,
        "the held call waits too"
    );
    let claimed = calls::claim(pool, t, &policy(100)).await.unwrap();
    assert_eq!(ids(&claimed), [newest, two_files, empty_path, six_days]);
    let first = &claimed[0];
    assert_eq!(first.uniqueid.as_str(), "1770395696.123");
    assert_eq!(first.tenant_id, t);
    assert_eq!(
        (first.src.as_str(), first.dst.as_str()),
        ("1000", "2815058290")
    );
    assert_eq!(
        first.recordfiles,
        ["2026-02/auto-1770395696-1000-2815058290.wav"]
    );
    assert_eq!(claimed[1].recordfiles, ["a.wav", "b.wav"]);
    assert_eq!((first.duration, first.attempts), (Some(42), 0));
    assert!(claimed[0].call_date > claimed[1].call_date);
    for id in ids(&claimed) {
        let s = state(pool, id).await;
        assert_eq!(
            (s.recording_status.as_str(), s.recording_attempts, s.leased),
            ("downloading", 0, true),
            "claimed, held, not yet charged"
        );
    }
    assert!(
        calls::claim(pool, t, &policy(100))
            .await
            .unwrap()
            .is_empty(),
        "all held now"
    );

    // A longer lookback reaches the older call; the limit caps a claim.
    let wider = ClaimPolicy {
        lookback_days: 30,
        ..policy(100)
    };
    assert_eq!(
        ids(&calls::claim(pool, t, &wider).await.unwrap()),
        [eight_days]
    );
    assert_eq!(
        calls::claim(pool, other, &policy(0)).await.unwrap().len(),
        0
    );
    assert_eq!(
        calls::claim(pool, other, &policy(1)).await.unwrap().len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_claimers_never_take_the_same_call() {
    let db = migrated_database().await;
    let t = tenant(&db.pool, "acme").await;
    let mut all = HashSet::new();
    for n in 0..80 {
        all.insert(
            call(
                &db.pool,
                t,
                &format!("1770000000.{n}"),
                Some("x.wav@"),
                n % 24,
            )
            .await,
        );
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (pool, barrier) = (db.pool.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let mut mine = Vec::new();
                loop {
                    let batch = calls::claim(&pool, t, &policy(3)).await.unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(ids(&batch));
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    let mut total = 0;
    for worker in workers {
        let mine = worker.await.unwrap();
        total += mine.len();
        seen.extend(mine);
    }
    assert_eq!(total, seen.len(), "a call was claimed twice");
    assert_eq!(seen, all, "every call claimed once");
}

#[tokio::test]
async fn an_expired_lease_comes_back_until_its_attempts_run_out() {
    let db = migrated_database().await;
    let pool = &db.pool;
    let t = tenant(pool, "acme").await;
    let id = call(pool, t, "1770395696.123", Some("x.wav@"), 1).await;
    let expire = || {
        set(
            pool,
            id,
            "recording_lease_until = now() - interval '1 second'",
        )
    };

    let claim_and_start = async || {
        let claimed = calls::claim(pool, t, &policy(10)).await.unwrap();
        assert_eq!(ids(&claimed), [id]);
        calls::start(pool, id, Duration::from_secs(600))
            .await
            .unwrap()
    };

    assert_eq!(claim_and_start().await, 1);
    assert!(calls::claim(pool, t, &policy(10)).await.unwrap().is_empty());
    // The worker holding it died: once the lease is over, the call comes back.
    expire().await;
    assert_eq!(claim_and_start().await, 2);
    expire().await;
    assert_eq!(claim_and_start().await, 3);
    // A call that kills its worker every time stops after max_attempts.
    expire().await;
    assert!(calls::claim(pool, t, &policy(10)).await.unwrap().is_empty());
    let s = state(pool, id).await;
    assert_eq!(
        (s.recording_status.as_str(), s.recording_attempts),
        ("failed", 3)
    );
    assert!(s.recording_error.unwrap().contains("lease"));
}

/// A worker that dies with a batch claimed charges only the call it had started: the others
/// come back as often as it takes, never run out of attempts, and a charged give-back keeps the attempt.
#[tokio::test]
async fn only_started_calls_are_charged_an_attempt() {
    let db = migrated_database().await;
    let pool = &db.pool;
    let t = tenant(pool, "acme").await;
    let started = call(pool, t, "1770395696.123", Some("x.wav@"), 1).await;
    let waiting = call(pool, t, "1770395001.77", Some("y.wav@"), 2).await;
    assert!(matches!(
        calls::start(pool, started, Duration::from_secs(600)).await,
        Err(calls::CallsError::NotClaimed(id)) if id == started
    ));

    for crash in 1..=5 {
        let claimed = calls::claim(pool, t, &policy(10)).await.unwrap();
        assert_eq!(ids(&claimed), [started, waiting], "crash {crash}");
        assert_eq!(claimed[1].attempts, 0);
        if crash == 1 {
            calls::start(pool, started, Duration::from_secs(600))
                .await
                .unwrap();
        }
        set(pool, started, "recording_lease_until = now()").await;
        set(pool, waiting, "recording_lease_until = now()").await;
    }
    assert_eq!(state(pool, started).await.recording_attempts, 1);
    assert_eq!(
        state(pool, waiting).await,
        State {
            recording_status: "downloading".into(),
            recording_attempts: 0,
            recording_error: None,
            leased: false
        },
        "five dead workers later, still claimable and uncharged"
    );

    let claimed = calls::claim(pool, t, &policy(10)).await.unwrap();
    calls::give_back(pool, &claimed, Charge::Kept, None)
        .await
        .unwrap();
    let (a, b) = (state(pool, started).await, state(pool, waiting).await);
    assert_eq!(
        [
            (a.recording_status, a.recording_attempts),
            (b.recording_status, b.recording_attempts)
        ],
        [("pending".to_string(), 1), ("pending".to_string(), 0)]
    );
}

/// Issue 13/14: a failure that is not the call's (a locator the console lacks, storage refusing
/// the configuration) gives the calls back uncharged: the started one gets its attempt back,
/// the others keep theirs, finished calls are left alone, and giving back twice refunds once.
#[tokio::test]
async fn give_back_refunds_the_attempt_of_started_calls_only() {
    let db = migrated_database().await;
    let pool = &db.pool;
    let t = tenant(pool, "acme").await;
    let started = call(pool, t, "1770395696.123", Some("x.wav@"), 1).await;
    let retried = call(pool, t, "1770395001.77", Some("y.wav@"), 2).await;
    let stored = call(pool, t, "1770394000.5", Some("z.wav@"), 3).await;
    set(pool, retried, "recording_attempts = 2").await;

    let claimed = calls::claim(pool, t, &policy(10)).await.unwrap();
    assert_eq!(ids(&claimed), [started, retried, stored]);
    let lease = Duration::from_secs(600);
    assert_eq!(calls::start(pool, started, lease).await.unwrap(), 1);
    assert_eq!(calls::start(pool, stored, lease).await.unwrap(), 1);
    calls::mark_stored(pool, stored, "tenant_1/1770394000.5_recording.mp3", 1, 1)
        .await
        .unwrap();

    for _ in 0..2 {
        calls::give_back(pool, &claimed, Charge::Refunded, None)
            .await
            .unwrap();
        let [a, b, c] = [
            state(pool, started).await,
            state(pool, retried).await,
            state(pool, stored).await,
        ];
        assert_eq!(
            [
                (a.recording_status, a.recording_attempts, a.leased),
                (b.recording_status, b.recording_attempts, b.leased),
                (c.recording_status, c.recording_attempts, c.leased),
            ],
            [
                ("pending".to_string(), 0, false),
                ("pending".to_string(), 2, false),
                ("stored".to_string(), 1, false),
            ]
        );
    }
    assert_eq!(
        ids(&calls::claim(pool, t, &policy(10)).await.unwrap()),
        [started, retried],
        "free at once"
    );
    calls::give_back(pool, &[], Charge::Refunded, None)
        .await
        .unwrap();
}

/// Issue 13: a call whose list read proved nothing (a list that never settled) is tried again on
/// every pass, uncharged, however many passes it takes: uncertainty alone never makes it final.
#[tokio::test]
async fn an_uncertain_call_is_retried_uncharged_on_every_pass() {
    let db = migrated_database().await;
    let pool = &db.pool;
    let t = tenant(pool, "acme").await;
    let id = call(pool, t, "1770395696.123", Some("x.wav@"), 1).await;
    let lease = Duration::from_secs(600);

    // More passes than the pipeline's 5 attempts: a charged failure would be final by now.
    for _ in 0..7 {
        let claimed = calls::claim(pool, t, &policy(10)).await.unwrap();
        assert_eq!(ids(&claimed), [id], "still claimable");
        assert_eq!(calls::start(pool, id, lease).await.unwrap(), 1);
        let reason = Some("the list did not settle");
        calls::give_back(pool, &claimed[..1], Charge::Refunded, reason)
            .await
            .unwrap();
        let now = state(pool, id).await;
        assert_eq!(
            (
                now.recording_status.as_str(),
                now.recording_attempts,
                now.leased
            ),
            ("pending", 0, false)
        );
    }
    let last = state(pool, id).await;
    assert_eq!(
        last.recording_error.as_deref(),
        Some("the list did not settle")
    );
}

#[tokio::test]
async fn failures_are_retried_until_the_last_attempt_then_stay_failed() {
    let db = migrated_database().await;
    let pool = &db.pool;
    let t = tenant(pool, "acme").await;
    let id = call(pool, t, "1770395696.123", Some("x.wav@"), 1).await;
    for attempt in 1..=3 {
        let claimed = calls::claim(pool, t, &policy(10)).await.unwrap();
        assert_eq!(
            (ids(&claimed), claimed[0].attempts),
            (vec![id], attempt - 1)
        );
        assert_eq!(
            calls::start(pool, id, Duration::from_secs(600))
                .await
                .unwrap(),
            attempt
        );
        let outcome = calls::mark_failed(pool, id, &format!("download timed out ({attempt})"), 3)
            .await
            .unwrap();
        let s = state(pool, id).await;
        assert_eq!(
            s.recording_error.as_deref(),
            Some(format!("download timed out ({attempt})").as_str())
        );
        assert!(!s.leased);
        if attempt < 3 {
            assert_eq!(outcome, FailureOutcome::WillRetry { attempts: attempt });
            assert_eq!(s.recording_status, "pending");
        } else {
            assert_eq!(outcome, FailureOutcome::GaveUp { attempts: 3 });
            assert_eq!(s.recording_status, "failed");
        }
    }
    assert!(calls::claim(pool, t, &policy(10)).await.unwrap().is_empty());
    assert_eq!(calls::backlog(pool, t, 7).await.unwrap(), 0);
    assert!(calls::mark_failed(pool, 99_999, "x", 3).await.is_err());
}

#[tokio::test]
async fn stored_not_on_console_and_given_back_calls() {
    let db = migrated_database().await;
    let pool = &db.pool;
    let t = tenant(pool, "acme").await;
    let stored = call(pool, t, "1770395696.123", Some("x.wav@"), 1).await;
    let missing = call(pool, t, "1770395001.77", Some("y.wav@"), 2).await;
    let untried = call(pool, t, "1770394000.5", Some("z.wav@"), 3).await;
    let claimed = calls::claim(pool, t, &policy(10)).await.unwrap();
    assert_eq!(ids(&claimed), [stored, missing, untried]);

    let key = "tenant_1/1770395696.123_recording.mp3";
    calls::mark_stored(pool, stored, key, 90_000, 450_000)
        .await
        .unwrap();
    let row: (String, Option<String>, bool, Option<i64>, Option<i64>, bool) = sqlx::query_as(
        "SELECT recording_status, recording_local_path, recording_downloaded, recording_bytes, \
                recording_original_bytes, recording_lease_until IS NULL FROM cdr_records WHERE id = $1",
    )
    .bind(stored)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        row,
        (
            "stored".into(),
            Some(key.into()),
            true,
            Some(90_000),
            Some(450_000),
            true
        )
    );

    // Older than the grace period and still not listed: final.
    let grace = Duration::from_secs(3600);
    assert_eq!(
        calls::mark_not_listed(pool, &claimed[1], grace)
            .await
            .unwrap(),
        NotListed::Final
    );
    assert_eq!(
        state(pool, missing).await.recording_status,
        "not_on_console"
    );

    // Given back (shutdown, login failed): no attempt is charged, and it is free at once; the
    // stored and the final call are left alone.
    calls::give_back(pool, &claimed, Charge::Kept, None)
        .await
        .unwrap();
    let s = state(pool, untried).await;
    assert_eq!(
        (s.recording_status.as_str(), s.recording_attempts, s.leased),
        ("pending", 0, false)
    );
    assert_eq!(
        state(pool, stored).await.recording_status,
        "stored",
        "a give-back leaves finished calls alone"
    );
    assert_eq!(
        ids(&calls::claim(pool, t, &policy(10)).await.unwrap()),
        [untried]
    );
    assert_eq!(calls::backlog(pool, t, 7).await.unwrap(), 1);

    assert!(matches!(
        calls::mark_stored(pool, 99_999, key, 1, 1).await,
        Err(calls::CallsError::NotFound(99_999))
    ));
}

async fn not_listed_since(pool: &PgPool, id: i64) -> Option<chrono::DateTime<chrono::Utc>> {
    sqlx::query_scalar("SELECT recording_not_listed_since FROM cdr_records WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Issue 13: a recording can appear on the console after its CDR row. A call the console does
/// not list is checked again on every later pass, never charged an attempt for it (so it never
/// runs out of them and ends `failed`), until it is older than the grace period; only then is it
/// `not_on_console`. Re-checks come after calls never checked.
#[tokio::test]
async fn a_call_not_listed_yet_is_checked_again_uncharged_until_the_grace_period() {
    let db = migrated_database().await;
    let pool = &db.pool;
    let t = tenant(pool, "acme").await;
    let grace = Duration::from_secs(6 * 3600);
    let young = call(pool, t, "1770395696.123", Some("x.wav@"), 1).await;
    let old = call(pool, t, "1770300000.1", Some("y.wav@"), 7).await;

    let mut first_missed = None;
    for pass in 1..=5 {
        let claimed = calls::claim(pool, t, &policy(10)).await.unwrap();
        let expected = if pass == 1 {
            vec![young, old]
        } else {
            vec![young]
        };
        assert_eq!(
            ids(&claimed),
            expected,
            "pass {pass}: the young call comes back"
        );
        assert_eq!(claimed[0].attempts, 0, "pass {pass}");
        assert_eq!(claimed[0].not_listed_since, first_missed, "pass {pass}");
        calls::start(pool, young, Duration::from_secs(600))
            .await
            .unwrap();
        let NotListed::Yet { since } = calls::mark_not_listed(pool, &claimed[0], grace)
            .await
            .unwrap()
        else {
            panic!("pass {pass}: final within the grace period");
        };
        assert_eq!(*first_missed.get_or_insert(since), since, "first miss kept");
        let s = state(pool, young).await;
        assert_eq!(
            (s.recording_status.as_str(), s.recording_attempts, s.leased),
            ("pending", 0, false),
            "pass {pass}: uncharged and free"
        );
        assert!(
            s.recording_error.unwrap().contains("not listed"),
            "the reason is kept"
        );
        if pass == 1 {
            // The old call: older than the grace period, final at its first miss.
            calls::start(pool, old, Duration::from_secs(600))
                .await
                .unwrap();
            assert_eq!(
                calls::mark_not_listed(pool, &claimed[1], grace)
                    .await
                    .unwrap(),
                NotListed::Final
            );
            let s = state(pool, old).await;
            assert_eq!(
                (s.recording_status.as_str(), s.recording_attempts),
                ("not_on_console", 0)
            );
            assert!(s.recording_error.unwrap().contains("NOT_LISTED_GRACE (6h)"));
        }
    }
    assert_eq!(
        calls::unlisted(pool, t, 7).await.unwrap(),
        Unlisted {
            not_listed_yet: 1,
            not_on_console: 1
        }
    );
    assert_eq!(
        calls::backlog(pool, t, 7).await.unwrap(),
        1,
        "still waiting"
    );

    // A call never checked goes first, even an older one; the re-check follows.
    let fresh = call(pool, t, "1770390000.9", Some("z.wav@"), 2).await;
    let claimed = calls::claim(pool, t, &policy(10)).await.unwrap();
    assert_eq!(ids(&claimed), [fresh, young]);
    assert_eq!(
        ids(&calls::claim(pool, t, &policy(10)).await.unwrap()),
        Vec::<i64>::new()
    );
    calls::give_back(pool, &claimed[..1], Charge::Kept, None)
        .await
        .unwrap();
    let one = calls::claim(pool, t, &policy(1)).await.unwrap();
    assert_eq!(
        ids(&one),
        [fresh],
        "the limit takes never-checked calls first"
    );
    calls::give_back(pool, &claimed, Charge::Kept, None)
        .await
        .unwrap();
    assert_eq!(
        not_listed_since(pool, young).await,
        first_missed,
        "a give-back keeps what the console showed"
    );

    // Once the call is older than the grace period, the next miss is final.
    let claimed = calls::claim(pool, t, &policy(10)).await.unwrap();
    let young_call = claimed.iter().find(|c| c.id == young).unwrap();
    assert_eq!(
        calls::mark_not_listed(pool, young_call, Duration::from_secs(1800))
            .await
            .unwrap(),
        NotListed::Final
    );
    assert_eq!(state(pool, young).await.recording_status, "not_on_console");

    // Listed on a later pass, then another failure: no longer counted as not listed.
    let c = claimed.iter().find(|c| c.id == fresh).unwrap();
    calls::mark_not_listed(pool, c, grace).await.unwrap();
    assert!(not_listed_since(pool, fresh).await.is_some());
    calls::mark_failed(pool, fresh, "download timed out", 3)
        .await
        .unwrap();
    assert_eq!(not_listed_since(pool, fresh).await, None);
    assert_eq!(
        calls::unlisted(pool, t, 7).await.unwrap(),
        Unlisted {
            not_listed_yet: 0,
            not_on_console: 2
        }
    );
    assert!(matches!(
        calls::mark_not_listed(
            pool,
            &calls::Call {
                id: 99_999,
                ..c.clone()
            },
            grace
        )
        .await,
        Err(calls::CallsError::NotFound(99_999))
    ));
}

#[tokio::test]
async fn ai_triggers_stay_pending_until_marked() {
    let db = migrated_database().await;
    let pool = &db.pool;
    let t = tenant(pool, "acme").await;
    let first = call(pool, t, "1770395001.77", Some("x.wav@"), 2).await;
    let second = call(pool, t, "1770395696.123", Some("y.wav@"), 1).await;
    // Fetched by the old scraper: its AI processing is not ours to trigger.
    let legacy = call(pool, t, "1770390000.1", Some("z.wav@"), 3).await;
    set(
        pool,
        legacy,
        "recording_local_path = 'tenant_1/1770390000.1_recording.mp3', recording_downloaded = true",
    )
    .await;
    calls::claim(pool, t, &policy(10)).await.unwrap();
    assert!(calls::pending_ai_triggers(pool, t)
        .await
        .unwrap()
        .is_empty());

    calls::mark_stored(pool, second, "tenant_1/1770395696.123_recording.mp3", 1, 2)
        .await
        .unwrap();
    calls::mark_stored(pool, first, "tenant_1/1770395001.77_recording.wav", 3, 3)
        .await
        .unwrap();
    let pending = calls::pending_ai_triggers(pool, t).await.unwrap();
    let keys: Vec<&str> = pending.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "tenant_1/1770395001.77_recording.wav",
            "tenant_1/1770395696.123_recording.mp3"
        ]
    );
    assert_eq!(
        (
            pending[0].call_id,
            pending[0].uniqueid.as_str(),
            pending[0].duration
        ),
        (first, "1770395001.77", Some(42))
    );

    calls::mark_ai_triggered(pool, first).await.unwrap();
    let pending = calls::pending_ai_triggers(pool, t).await.unwrap();
    assert_eq!(
        pending.iter().map(|p| p.call_id).collect::<Vec<_>>(),
        [second]
    );
}

#[tokio::test]
async fn a_call_whose_uniqueid_cannot_name_a_file_is_failed_not_returned() {
    let db = migrated_database().await;
    let pool = &db.pool;
    let t = tenant(pool, "acme").await;
    let good = call(pool, t, "1770395696.123", Some("x.wav@"), 1).await;
    let bad = call(pool, t, "../../etc/passwd", Some("y.wav@"), 2).await;
    assert_eq!(
        ids(&calls::claim(pool, t, &policy(10)).await.unwrap()),
        [good]
    );
    let s = state(pool, bad).await;
    assert_eq!(s.recording_status, "failed");
    assert!(s.recording_error.unwrap().contains("not a UCM call id"));
}

#[tokio::test]
async fn the_backends_own_rows_are_claimed_on_its_schema() {
    let db = fresh_database().await;
    let fixture = include_str!("fixtures/legacy_backend_schema.sql");
    sqlx::raw_sql(fixture).execute(&db.pool).await.unwrap();
    ucm_scraper::db::migrate(&db.pool).await.unwrap();
    let acme = TenantId(1);
    // The fixture's calls are from February 2026.
    let policy = ClaimPolicy {
        lookback_days: 3650,
        ..policy(10)
    };
    assert_eq!(calls::backlog(&db.pool, acme, 3650).await.unwrap(), 1);
    let claimed = calls::claim(&db.pool, acme, &policy).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].uniqueid.as_str(), "1770395696.123");
    assert_eq!(
        claimed[0].recordfiles,
        ["2026-02/auto-1770395696-1000-2815058290.wav"]
    );
    assert_eq!(claimed[0].call_date.to_string(), "2026-02-06 16:34:56");
}
