//! The storage back-ends over real HTTP and a real directory (issues 4, 6 and 14):
//! Supabase against the stand-in, which answers like Supabase, faults included.
//! No test waits on the clock: faults are scheduled, results are counted.

mod support;

use support::storage::quick_retries;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use support::storage::{Fault, StorageOptions, StorageStandIn, StoredObject, BUCKET, LEGACY_KEY};
use ucm_scraper::config::Settings;
use ucm_scraper::failure::{Failure as _, NextStep};
use ucm_scraper::ids::{TenantId, UniqueId};
use ucm_scraper::retry::RetryPolicy;
use ucm_scraper::storage::local::LocalStore;
use ucm_scraper::storage::supabase::SupabaseStore;
use ucm_scraper::storage::{self, ObjectStore, PreflightError, StorageError, StorageKey};

fn key(tenant: i64, uniqueid: &str) -> StorageKey {
    StorageKey::recording(TenantId(tenant), &UniqueId::parse(uniqueid).unwrap(), "mp3")
}

fn store_for(standin: &StorageStandIn, policy: RetryPolicy) -> SupabaseStore {
    SupabaseStore::new(&standin.settings(), BUCKET, policy).unwrap()
}

/// A recording-like file of `len` bytes in a fresh temp dir.
fn recording(len: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("call.mp3");
    let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

/// Every way an error is printed, for "no secret in it" checks.
fn printed(err: &StorageError) -> String {
    format!("{err} | {err:?}")
}

#[tokio::test]
async fn upload_stores_the_object_under_its_key() {
    let standin = StorageStandIn::start().await;
    let store = store_for(&standin, quick_retries());
    let (_dir, file) = recording(4096);
    let key = key(1, "1770395696.123");

    store.put_file(&key, &file, "audio/mpeg").await.unwrap();

    let object = standin
        .object(BUCKET, "tenant_1/1770395696.123_recording.mp3")
        .unwrap();
    assert_eq!(object.bytes, std::fs::read(&file).unwrap());
    assert_eq!(object.content_type, "audio/mpeg");
    assert_eq!(standin.requests(), 1);
    assert_eq!(
        store.location(&key),
        "supabase://call-recordings/tenant_1/1770395696.123_recording.mp3"
    );

    // And Supabase's GET gives it back, authenticated like the upload.
    let fetched = reqwest::Client::new()
        .get(format!(
            "{}/storage/v1/object/{BUCKET}/{}",
            standin.url, key
        ))
        .bearer_auth(LEGACY_KEY)
        .header("apikey", LEGACY_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().await.unwrap(), object.bytes);
}

#[tokio::test]
async fn new_sb_secret_keys_go_in_apikey_only() {
    let standin = StorageStandIn::start_with(StorageOptions {
        service_role_key: "sb_secret_standin0123456789".into(),
        ..StorageOptions::default()
    })
    .await;
    let store = store_for(&standin, quick_retries());
    let (_dir, file) = recording(100);

    store
        .put_file(&key(2, "1.1"), &file, "audio/mpeg")
        .await
        .unwrap();
    assert_eq!(standin.object_count(), 1);

    // What the stand-in answers a client that sends the new key as a bearer token, like Supabase.
    let refused = reqwest::Client::new()
        .post(format!("{}/storage/v1/object/{BUCKET}/x.mp3", standin.url))
        .bearer_auth("sb_secret_standin0123456789")
        .header("apikey", "sb_secret_standin0123456789")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["statusCode"], "403");
    assert_eq!(body["message"], "Invalid Compact JWS");
}

#[tokio::test]
async fn a_second_upload_without_upsert_fails_like_supabase() {
    let standin = StorageStandIn::start().await;
    let post = || {
        reqwest::Client::new()
            .post(format!(
                "{}/storage/v1/object/{BUCKET}/tenant_1/dup.mp3",
                standin.url
            ))
            .bearer_auth(LEGACY_KEY)
            .header("apikey", LEGACY_KEY)
            .header("content-type", "audio/mpeg")
            .body("first")
            .send()
    };
    assert_eq!(post().await.unwrap().status(), 200);
    let second = post().await.unwrap();
    assert_eq!(second.status(), 400);
    let body: serde_json::Value = second.json().await.unwrap();
    assert_eq!(body["statusCode"], "409");
    assert_eq!(body["error"], "Duplicate");
    assert_eq!(body["message"], "The resource already exists");
    assert_eq!(standin.stores_of("tenant_1/dup.mp3"), 1);
}

#[tokio::test]
async fn a_repeated_upload_overwrites_its_own_object() {
    let standin = StorageStandIn::start().await;
    let store = store_for(&standin, quick_retries());
    let key = key(1, "1770395696.5");
    let (_a, first) = recording(1000);
    let (_b, second) = recording(2000);

    store.put_file(&key, &first, "audio/mpeg").await.unwrap();
    store.put_file(&key, &second, "audio/mpeg").await.unwrap();

    assert_eq!(standin.object_count(), 1);
    assert_eq!(standin.stores_of(key.as_str()), 2);
    assert_eq!(
        standin.object(BUCKET, key.as_str()).unwrap().bytes.len(),
        2000
    );
}

#[tokio::test]
async fn a_wrong_service_role_key_fails_at_once_and_says_which_variable() {
    let standin = StorageStandIn::start().await;
    let wrong = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYW5vbiJ9.wrong-signature";
    let store =
        SupabaseStore::new(&standin.settings_with_key(wrong), BUCKET, quick_retries()).unwrap();
    let (_dir, file) = recording(100);

    let err = store
        .put_file(&key(3, "1770395696.9"), &file, "audio/mpeg")
        .await
        .unwrap_err();

    assert!(
        matches!(err, StorageError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert_eq!(err.next_step(), NextStep::StopPass);
    assert_eq!(standin.requests(), 1, "a bad key is never retried");
    let text = printed(&err);
    assert!(text.contains("SUPABASE_SERVICE_ROLE_KEY"), "{text}");
    assert!(
        text.contains("tenant_3/1770395696.9_recording.mp3"),
        "{text}"
    );
    assert!(
        !text.contains(wrong) && !text.contains(LEGACY_KEY),
        "{text}"
    );
    assert!(
        !format!("{store:?}").contains(wrong),
        "the store's Debug hides the key"
    );
}

#[tokio::test]
async fn server_errors_are_retried_and_the_object_stored_once() {
    let standin = StorageStandIn::start().await;
    standin.fail_next([
        Fault::Status(500),
        Fault::Status(503),
        Fault::DatabaseBusy,
        Fault::SlowDown {
            retry_after_secs: 0,
        },
    ]);
    let store = store_for(&standin, quick_retries());
    let (_dir, file) = recording(500);
    let key = key(1, "1770395696.7");

    store.put_file(&key, &file, "audio/mpeg").await.unwrap();

    assert_eq!(standin.requests(), 5);
    assert_eq!(standin.stores_of(key.as_str()), 1);
    assert_eq!(standin.object_count(), 1);
}

#[tokio::test]
async fn attempts_are_bounded_and_the_failure_stays_retryable() {
    let standin = StorageStandIn::start().await;
    standin.fail_share(1.0, 1, Fault::Status(503));
    let store = store_for(
        &standin,
        RetryPolicy {
            max_attempts: 3,
            ..quick_retries()
        },
    );
    let (_dir, file) = recording(10);

    let err = store
        .put_file(&key(1, "9.9"), &file, "audio/mpeg")
        .await
        .unwrap_err();

    assert!(
        matches!(
            err,
            StorageError::Unavailable {
                status: 503,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.next_step(),
        NextStep::WaitForService,
        "the next pass may try again"
    );
    assert_eq!(standin.requests(), 3);
    assert_eq!(standin.object_count(), 0);
}

#[tokio::test]
async fn a_request_that_hangs_times_out_and_the_retry_stores_it() {
    let standin = StorageStandIn::start().await;
    standin.fail_next([Fault::Hang]);
    let store = store_for(
        &standin,
        RetryPolicy {
            request_timeout: Duration::from_secs(1),
            ..quick_retries()
        },
    );
    let (_dir, file) = recording(300);
    let key = key(4, "1770395696.1");

    store.put_file(&key, &file, "audio/mpeg").await.unwrap();

    assert_eq!(standin.requests(), 2);
    assert_eq!(standin.stores_of(key.as_str()), 1);
}

#[tokio::test]
async fn a_server_that_never_answers_gives_a_retryable_timeout_after_bounded_attempts() {
    let standin = StorageStandIn::start().await;
    standin.fail_share(1.0, 1, Fault::Hang);
    let store = store_for(
        &standin,
        RetryPolicy {
            request_timeout: Duration::from_millis(500),
            max_attempts: 2,
            ..quick_retries()
        },
    );
    let (_dir, file) = recording(10);

    let err = store
        .put_file(&key(4, "1770395696.2"), &file, "audio/mpeg")
        .await
        .unwrap_err();

    assert!(
        matches!(err, StorageError::Transport { attempts: 2, .. }),
        "{err:?}"
    );
    assert_eq!(err.next_step(), NextStep::WaitForService);
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(!err.to_string().contains(&standin.url), "{err}");
    assert_eq!(standin.requests(), 2);
}

#[tokio::test]
async fn a_flaky_server_still_gets_every_recording_exactly_once() {
    let standin = StorageStandIn::start().await;
    // Seeded: the same requests fail on every run.
    standin.fail_share(0.4, 20_261_126, Fault::Status(500));
    let store = store_for(
        &standin,
        RetryPolicy {
            max_attempts: 20,
            ..quick_retries()
        },
    );
    let (_dir, file) = recording(64);
    for call in 0..10 {
        store
            .put_file(&key(5, &format!("1770395696.{call}")), &file, "audio/mpeg")
            .await
            .unwrap();
    }
    assert_eq!(standin.object_count(), 10);
    assert!(
        standin.requests() > 10,
        "some requests failed and were retried"
    );
    for call in 0..10 {
        assert_eq!(
            standin.stores_of(&format!("tenant_5/1770395696.{call}_recording.mp3")),
            1
        );
    }
}

#[tokio::test]
async fn too_large_for_the_bucket_is_final_for_both_kinds_of_upload() {
    // (bucket limit, object size): a standard upload, then a resumable one.
    for (limit, size) in [(1024, 4096), (8 << 20, 13 << 20)] {
        let standin = StorageStandIn::start_with(StorageOptions {
            file_size_limit: Some(limit),
            ..StorageOptions::default()
        })
        .await;
        let store = store_for(&standin, quick_retries());
        let (_dir, file) = recording(size);

        let err = store
            .put_file(&key(1, "1.3"), &file, "audio/mpeg")
            .await
            .unwrap_err();

        assert!(
            matches!(err, StorageError::TooLarge { bytes, .. } if bytes == size as u64),
            "{err:?}"
        );
        assert!(err.to_string().contains("file size limit"), "{err}");
        assert_eq!(standin.requests(), 1);
    }
}

#[tokio::test]
async fn an_unknown_bucket_says_how_to_fix_it() {
    let standin = StorageStandIn::start().await;
    let store = SupabaseStore::new(&standin.settings(), "recordings", quick_retries()).unwrap();
    let (_dir, file) = recording(10);

    let err = store
        .put_file(&key(1, "1.4"), &file, "audio/mpeg")
        .await
        .unwrap_err();

    assert!(
        matches!(err, StorageError::BucketNotFound { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("SUPABASE_BUCKET"), "{err}");
    assert_eq!(standin.requests(), 1);
}

#[tokio::test]
async fn a_missing_source_file_is_an_io_error_naming_the_key() {
    let standin = StorageStandIn::start().await;
    let store = store_for(&standin, quick_retries());
    let err = store
        .put_file(
            &key(1, "1.5"),
            Path::new("/nonexistent/call.mp3"),
            "audio/mpeg",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("tenant_1/1.5_recording.mp3"));
    assert_eq!(standin.requests(), 0);
}

/// 13 MiB and a bit: two full 6 MiB chunks and a short last one.
const LONG_CALL: usize = (13 << 20) + 123;

fn resumable_store(standin: &StorageStandIn) -> SupabaseStore {
    // Long enough for 6 MiB over loopback on a busy machine; only planned hangs meet it.
    store_for(
        standin,
        RetryPolicy {
            request_timeout: Duration::from_secs(5),
            ..quick_retries()
        },
    )
}

#[tokio::test]
async fn objects_over_6_mib_go_up_resumably_in_6_mib_chunks() {
    let standin = StorageStandIn::start().await;
    let store = resumable_store(&standin);
    let (_dir, file) = recording(LONG_CALL);
    let key = key(1, "1770395696.200");

    store.put_file(&key, &file, "audio/wav").await.unwrap();

    let object = standin.object(BUCKET, key.as_str()).unwrap();
    assert!(object.bytes == std::fs::read(&file).unwrap());
    assert_eq!(object.content_type, "audio/wav");
    assert_eq!(standin.resumable_uploads(), 1);
    assert_eq!(standin.requests(), 4, "create + 3 chunks");
    assert_eq!(standin.stores_of(key.as_str()), 1);

    // Exactly 6 MiB still goes in one standard request.
    let (_dir, file) = recording(6 << 20);
    store
        .put_file(&self::key(1, "1770395696.201"), &file, "audio/mpeg")
        .await
        .unwrap();
    assert_eq!(standin.resumable_uploads(), 1);
    assert_eq!(standin.requests(), 5);
}

#[tokio::test]
async fn a_broken_chunk_resumes_from_the_servers_offset() {
    let standin = StorageStandIn::start().await;
    standin.schedule([
        Some(Fault::Status(503)), // create
        None,                     // create again
        Some(Fault::Status(500)), // chunk 1
        None,                     // HEAD: offset 0
        None,                     // chunk 1 again
        Some(Fault::Interrupted), // chunk 2: the server keeps 3 MiB of it
        None,                     // HEAD: offset 9 MiB
        None,                     // the rest, from 9 MiB
    ]);
    let store = resumable_store(&standin);
    let (_dir, file) = recording(LONG_CALL);
    let key = key(2, "1770395696.300");

    store.put_file(&key, &file, "audio/wav").await.unwrap();

    assert!(standin.object(BUCKET, key.as_str()).unwrap().bytes == std::fs::read(&file).unwrap());
    assert_eq!(standin.requests(), 8);
    assert_eq!(standin.resumable_uploads(), 1, "resumed, not restarted");
    assert_eq!(standin.stores_of(key.as_str()), 1);
}

#[tokio::test]
async fn a_lost_answer_to_the_last_chunk_uploads_again_to_be_sure() {
    let standin = StorageStandIn::start().await;
    // The last chunk completes the object but its answer never comes: the client cannot tell
    // whether Supabase made the object, so it uploads again (an upsert: still one object).
    standin.schedule([None, None, None, Some(Fault::LoseAnswer)]);
    let store = resumable_store(&standin);
    let (_dir, file) = recording(LONG_CALL);
    let key = key(3, "1770395696.400");

    store.put_file(&key, &file, "audio/wav").await.unwrap();

    assert_eq!(standin.requests(), 4 + 1 + 4, "session, HEAD, session");
    assert_eq!(standin.resumable_uploads(), 2);
    assert_eq!(standin.object_count(), 1);
    assert!(standin.object(BUCKET, key.as_str()).unwrap().bytes == std::fs::read(&file).unwrap());
}

/// A crash after the upload and before the row was marked leaves the object in the bucket: the
/// next pass uploads the call again, over it. Supabase asks every chunk whether it may replace
/// the object; a chunk without `x-upsert` is refused (see the next test), so this is the test the
/// worker failed on real Supabase with long calls.
#[tokio::test]
async fn a_large_object_is_uploaded_again_over_the_existing_one() {
    let standin = StorageStandIn::start().await;
    let store = resumable_store(&standin);
    let key = key(5, "1770395696.500");
    standin.put(
        BUCKET,
        key.as_str(),
        StoredObject {
            bytes: vec![7; LONG_CALL - 1000],
            content_type: "audio/wav".into(),
        },
    );
    let (_dir, file) = recording(LONG_CALL);

    store.put_file(&key, &file, "audio/wav").await.unwrap();

    assert!(
        standin.object(BUCKET, key.as_str()).unwrap().bytes == std::fs::read(&file).unwrap(),
        "replaced byte for byte"
    );
    assert_eq!(standin.requests(), 4, "create + 3 chunks, none refused");
    assert_eq!(standin.stores_of(key.as_str()), 1);
    assert_eq!(standin.object_count(), 1);

    // And once more over its own upload, as a second crash would make it.
    let (_dir, again) = recording(LONG_CALL + 5);
    store.put_file(&key, &again, "audio/wav").await.unwrap();
    assert!(standin.object(BUCKET, key.as_str()).unwrap().bytes == std::fs::read(&again).unwrap());
    assert_eq!(standin.stores_of(key.as_str()), 2);
}

/// What the worker used to send: `x-upsert` on the creation only. Supabase then refuses each
/// chunk over an existing object with 409, which the old client took for an offset conflict.
#[tokio::test]
async fn the_stand_in_refuses_chunks_that_do_not_ask_to_replace_an_existing_object() {
    let standin = StorageStandIn::start().await;
    let object = "tenant_5/1770395696.501_recording.wav";
    let existing = StoredObject {
        bytes: vec![1; 10],
        content_type: "audio/wav".into(),
    };
    standin.put(BUCKET, object, existing.clone());
    let client = reqwest::Client::new();
    let b64 = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
    let created = client
        .post(format!("{}/storage/v1/upload/resumable", standin.url))
        .bearer_auth(LEGACY_KEY)
        .header("apikey", LEGACY_KEY)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "10")
        .header(
            "Upload-Metadata",
            format!("bucketName {},objectName {}", b64(BUCKET), b64(object)),
        )
        .header("x-upsert", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&format!("{}/storage/v1/upload/resumable/", standin.url)),
        "{location}"
    );
    let chunk = |upsert: bool| {
        let mut request = client
            .patch(&location)
            .bearer_auth(LEGACY_KEY)
            .header("apikey", LEGACY_KEY)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", "0")
            .header("content-type", "application/offset+octet-stream")
            .body(vec![2u8; 10]);
        if upsert {
            request = request.header("x-upsert", "true");
        }
        request.send()
    };

    let refused = chunk(false).await.unwrap();
    assert_eq!(refused.status(), 409);
    assert_eq!(refused.text().await.unwrap(), "The resource already exists");
    assert_eq!(standin.object(BUCKET, object).unwrap(), existing);

    let accepted = chunk(true).await.unwrap();
    assert_eq!(accepted.status(), 204);
    assert_eq!(standin.object(BUCKET, object).unwrap().bytes, vec![2u8; 10]);
}

#[tokio::test]
async fn an_interrupted_upload_over_an_existing_object_resumes_and_replaces_it() {
    let standin = StorageStandIn::start().await;
    let key = key(6, "1770395696.600");
    standin.put(
        BUCKET,
        key.as_str(),
        StoredObject {
            bytes: vec![9; 100],
            content_type: "audio/wav".into(),
        },
    );
    standin.schedule([
        None,                     // create
        None,                     // chunk 1
        Some(Fault::Interrupted), // chunk 2: the server keeps 3 MiB of it
        None,                     // HEAD: offset 9 MiB
        None,                     // the rest of chunk 2, from 9 MiB
        None,                     // the last chunk
    ]);
    let store = resumable_store(&standin);
    let (_dir, file) = recording(LONG_CALL + (3 << 20));

    store.put_file(&key, &file, "audio/wav").await.unwrap();

    assert!(standin.object(BUCKET, key.as_str()).unwrap().bytes == std::fs::read(&file).unwrap());
    assert_eq!(standin.requests(), 6);
    assert_eq!(standin.resumable_uploads(), 1, "resumed, not restarted");
    assert_eq!(standin.stores_of(key.as_str()), 1);
}

/// The bucket read before a pass: what it says for a good configuration and for each bad one,
/// and that it writes nothing.
#[tokio::test]
async fn preflight_accepts_a_usable_bucket_and_writes_nothing() {
    let standin = StorageStandIn::start_with(StorageOptions {
        file_size_limit: Some(50 << 20),
        allowed_mime_types: Some(vec!["audio/*".into()]),
        ..StorageOptions::default()
    })
    .await;
    let found = store_for(&standin, quick_retries())
        .preflight()
        .await
        .unwrap();
    assert!(found.contains("\"call-recordings\""), "{found}");
    assert!(found.contains(&(50u64 << 20).to_string()), "{found}");
    assert_eq!(standin.bucket_reads(), 1);
    assert_eq!((standin.requests(), standin.object_count()), (0, 0));
}

#[tokio::test]
async fn preflight_names_a_missing_bucket_and_how_to_fix_it() {
    let standin = StorageStandIn::start().await;
    let store = SupabaseStore::new(&standin.settings(), "recordings", quick_retries()).unwrap();
    let err = store.preflight().await.unwrap_err();
    assert!(matches!(err, PreflightError::NoBucket { .. }), "{err:?}");
    assert!(err.to_string().contains("SUPABASE_BUCKET"), "{err}");
    assert!(err.to_string().contains("\"recordings\""), "{err}");
    assert_eq!(
        standin.bucket_reads(),
        1,
        "a configuration error is not retried"
    );
}

#[tokio::test]
async fn preflight_names_a_refused_key_without_printing_it() {
    let wrong = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.wrong-signature";
    // Behind hosted Supabase's gateway, and on a bare server, which judges the JWT itself.
    for (gateway, status, says) in [
        (true, 401, "Invalid API key"),
        (false, 403, "signature verification failed"),
    ] {
        let standin = StorageStandIn::start_with(StorageOptions {
            gateway,
            ..StorageOptions::default()
        })
        .await;
        let store =
            SupabaseStore::new(&standin.settings_with_key(wrong), BUCKET, quick_retries()).unwrap();
        let err = store.preflight().await.unwrap_err();
        assert!(
            matches!(&err, PreflightError::KeyRefused { status: s, .. } if *s == status),
            "{err:?}"
        );
        let text = format!("{err} | {err:?}");
        assert!(
            text.contains("SUPABASE_SERVICE_ROLE_KEY") && text.contains(says),
            "{text}"
        );
        assert!(!text.contains(wrong), "{text}");
    }
}

#[tokio::test]
async fn preflight_refuses_a_bucket_too_small_or_closed_to_audio() {
    let small = StorageStandIn::start_with(StorageOptions {
        file_size_limit: Some(5 << 20),
        ..StorageOptions::default()
    })
    .await;
    let err = store_for(&small, quick_retries())
        .preflight()
        .await
        .unwrap_err();
    assert!(
        matches!(err, PreflightError::LimitTooSmall { limit, needed, .. }
            if limit == 5 << 20 && needed == storage::TYPICAL_RECORDING_BYTES),
        "{err:?}"
    );
    assert!(err.to_string().contains("file size limit"), "{err}");

    let images = StorageStandIn::start_with(StorageOptions {
        allowed_mime_types: Some(vec!["image/png".into(), "audio/mpeg".into()]),
        ..StorageOptions::default()
    })
    .await;
    let err = store_for(&images, quick_retries())
        .preflight()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, PreflightError::TypeRefused { refused, .. } if refused == "audio/wav"),
        "{err:?}"
    );
}

#[tokio::test]
async fn preflight_rides_out_a_busy_moment_and_reports_an_outage_as_such() {
    let standin = StorageStandIn::start().await;
    standin.fail_bucket_reads([Fault::Status(503), Fault::DatabaseBusy]);
    store_for(&standin, quick_retries())
        .preflight()
        .await
        .unwrap();
    assert_eq!(standin.bucket_reads(), 3);

    let down = StorageStandIn::start().await;
    down.fail_bucket_reads([Fault::Status(502); 3]);
    let err = store_for(&down, quick_retries())
        .preflight()
        .await
        .unwrap_err();
    assert!(matches!(err, PreflightError::Unreachable { .. }), "{err:?}");
    assert_eq!(down.bucket_reads(), 3, "a few tries, then the pass decides");
}

#[tokio::test]
async fn local_preflight_finds_a_storage_dir_that_cannot_be_written() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("storage");
    let store = LocalStore::new(&dir).unwrap();
    let found = store.preflight().await.unwrap();
    assert!(found.contains("writable"), "{found}");
    assert!(files_under(&dir).is_empty(), "the probe file is gone");

    // Gone since start (an unmounted volume): tests run as root, which file modes do not stop.
    std::fs::remove_dir(&dir).unwrap();
    let err = store.preflight().await.unwrap_err();
    assert!(
        matches!(err, PreflightError::DirNotWritable { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("STORAGE_DIR"), "{err}");
}

/// Files in `dir` and below, relative, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

#[tokio::test]
async fn local_store_replaces_objects_whole_and_leaves_no_temp_files() {
    let root = tempfile::tempdir().unwrap();
    let store = LocalStore::new(&root.path().join("storage")).unwrap();
    let key = key(1, "1770395696.123");
    let (_a, first) = recording(1000);
    let (_b, second) = recording(3000);

    store.put_file(&key, &first, "audio/mpeg").await.unwrap();
    store.put_file(&key, &second, "audio/mpeg").await.unwrap();

    let stored = root
        .path()
        .join("storage/tenant_1/1770395696.123_recording.mp3");
    assert_eq!(
        std::fs::read(&stored).unwrap(),
        std::fs::read(&second).unwrap()
    );
    assert_eq!(
        store.location(&key),
        stored.canonicalize().unwrap().display().to_string()
    );

    // A copy that fails leaves neither a partial object nor a temp file behind.
    let other = self::key(1, "1770395696.124");
    let err = store
        .put_file(&other, &root.path().join("missing.wav"), "audio/wav")
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Io { .. }), "{err:?}");
    assert_eq!(
        files_under(&root.path().join("storage")),
        ["tenant_1/1770395696.123_recording.mp3"]
    );
}

#[cfg(unix)]
#[tokio::test]
async fn local_store_does_not_follow_a_tenant_symlink_out_of_storage_dir() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("storage")).unwrap();
    std::os::unix::fs::symlink(outside.path(), root.path().join("storage/tenant_9")).unwrap();
    let store = LocalStore::new(&root.path().join("storage")).unwrap();
    let (_dir, file) = recording(10);

    let err = store
        .put_file(&key(9, "1.6"), &file, "audio/mpeg")
        .await
        .unwrap_err();

    assert!(matches!(err, StorageError::OutsideRoot { .. }), "{err:?}");
    assert!(files_under(outside.path()).is_empty());
}

#[tokio::test]
async fn from_settings_picks_supabase_when_configured_else_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let storage_dir = dir.path().join("objects");
    let key = key(1, "1.7");
    let settings = |vars: &[(&str, &str)]| {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .unwrap()
    };

    let local = storage::from_settings(&settings(&[
        ("DATABASE_URL", "postgres://x/y"),
        ("STORAGE_DIR", storage_dir.to_str().unwrap()),
    ]))
    .unwrap();
    assert!(local
        .location(&key)
        .ends_with("objects/tenant_1/1.7_recording.mp3"));
    assert!(storage_dir.is_dir(), "the directory is created at start");

    let supabase = storage::from_settings(&settings(&[
        ("DATABASE_URL", "postgres://x/y"),
        ("SUPABASE_URL", "https://abc.supabase.co"),
        ("SUPABASE_SERVICE_ROLE_KEY", "sb_secret_value"),
        ("SUPABASE_BUCKET", "recordings"),
    ]))
    .unwrap();
    assert_eq!(
        supabase.location(&key),
        "supabase://recordings/tenant_1/1.7_recording.mp3"
    );
    assert!(!format!("{supabase:?}").contains("sb_secret_value"));
}

/// Issue 16: the server-side copy as Supabase answers it, request by request.
#[tokio::test]
async fn the_stand_in_copies_like_supabase() {
    let standin = StorageStandIn::start().await;
    let object = StoredObject {
        bytes: b"kept".to_vec(),
        content_type: "audio/mpeg".into(),
    };
    standin.put(BUCKET, "tenant_1/unmatched/a.mp3", object.clone());
    let copy = |source: &str, upsert: bool| {
        let mut request = reqwest::Client::new()
            .post(format!("{}/storage/v1/object/copy", standin.url))
            .bearer_auth(LEGACY_KEY)
            .header("apikey", LEGACY_KEY)
            .json(&serde_json::json!({
                "bucketId": BUCKET,
                "sourceKey": source,
                "destinationKey": "tenant_1/1.2_recording.mp3",
            }));
        if upsert {
            request = request.header("x-upsert", "true");
        }
        request.send()
    };
    let first = copy("tenant_1/unmatched/a.mp3", false).await.unwrap();
    assert_eq!(first.status(), 200);
    let body: serde_json::Value = first.json().await.unwrap();
    assert_eq!(body["Key"], format!("{BUCKET}/tenant_1/1.2_recording.mp3"));

    let again = copy("tenant_1/unmatched/a.mp3", false).await.unwrap();
    assert_eq!(again.status(), 400);
    let body: serde_json::Value = again.json().await.unwrap();
    assert_eq!(
        (&body["statusCode"], &body["message"]),
        (&"409".into(), &"The resource already exists".into())
    );
    assert_eq!(
        copy("tenant_1/unmatched/a.mp3", true)
            .await
            .unwrap()
            .status(),
        200,
        "x-upsert replaces"
    );

    let missing = copy("tenant_1/unmatched/gone.mp3", true).await.unwrap();
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(
        (&body["statusCode"], &body["code"], &body["message"]),
        (
            &"404".into(),
            &"NoSuchKey".into(),
            &"Object not found".into()
        )
    );
    assert_eq!(standin.copies_to("tenant_1/1.2_recording.mp3"), 2);
    assert_eq!(
        standin.object(BUCKET, "tenant_1/1.2_recording.mp3"),
        Some(object)
    );
}

#[tokio::test]
async fn a_copy_is_idempotent_and_a_missing_source_is_named() {
    let standin = StorageStandIn::start().await;
    let store = store_for(&standin, quick_retries());
    let from = StorageKey::unmatched(TenantId(1), "2026-02/auto-1-1000-2000.wav", "mp3").unwrap();
    let (_dir, file) = recording(1000);
    store.put_file(&from, &file, "audio/mpeg").await.unwrap();
    let to = key(1, "1770395696.7");

    store.copy(&from, &to).await.unwrap();
    store.copy(&from, &to).await.unwrap();

    assert_eq!(standin.copies_to(to.as_str()), 2);
    assert_eq!(standin.keys(BUCKET), [to.to_string(), from.to_string()]);
    let gone = StorageKey::unmatched(TenantId(1), "auto-9-1-2.wav", "mp3").unwrap();
    let err = store.copy(&gone, &to).await.unwrap_err();
    assert!(matches!(err, StorageError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains(gone.as_str()), "{err}");
}

#[tokio::test]
async fn the_local_store_copies_whole_and_says_when_the_source_is_gone() {
    let root = tempfile::tempdir().unwrap();
    let store = LocalStore::new(root.path()).unwrap();
    let from = StorageKey::unmatched(TenantId(2), "auto-1-1000-2000.wav", "mp3").unwrap();
    let (_dir, file) = recording(1000);
    store.put_file(&from, &file, "audio/mpeg").await.unwrap();
    let to = key(2, "1770395696.8");

    store.copy(&from, &to).await.unwrap();
    store.copy(&from, &to).await.unwrap();

    assert_eq!(
        std::fs::read(root.path().join(to.as_str())).unwrap(),
        std::fs::read(&file).unwrap()
    );
    assert_eq!(
        files_under(root.path()).len(),
        2,
        "{:?}",
        files_under(root.path())
    );
    let gone = StorageKey::unmatched(TenantId(2), "auto-9-1-2.wav", "mp3").unwrap();
    let err = store.copy(&gone, &to).await.unwrap_err();
    assert!(matches!(err, StorageError::NotFound { .. }), "{err:?}");
}
