//! The AI trigger against a receiver that checks signatures the way the README tells one to.

mod support;

use support::storage::quick_retries;

use std::time::Duration;

use support::webhook::{Answer, WebhookStandIn};
use ucm_scraper::ai::{AiError, AiJob, AiTrigger};
use ucm_scraper::config::Settings;
use ucm_scraper::failure::{Failure as _, NextStep};
use ucm_scraper::ids::{TenantId, UniqueId};
use ucm_scraper::retry::RetryPolicy;
use ucm_scraper::secrets::Secret;

const SECRET: &str = "whsec-standin-0123456789";

fn trigger(receiver: &WebhookStandIn, secret: &str, policy: RetryPolicy) -> AiTrigger {
    AiTrigger::new(
        receiver.url.parse().unwrap(),
        Some(Secret::new(secret.to_string())),
        policy,
    )
}

fn job() -> AiJob {
    AiJob {
        tenant_id: TenantId(1),
        call_id: 42,
        uniqueid: UniqueId::parse("1770395696.123").unwrap(),
        bucket: "call-recordings".into(),
        key: "tenant_1/1770395696.123_recording.mp3".into(),
        duration_secs: Some(95),
    }
}

#[tokio::test]
async fn a_delivery_is_signed_and_the_receiver_verifies_it() {
    let receiver = WebhookStandIn::start(SECRET).await;

    trigger(&receiver, SECRET, quick_retries())
        .trigger(&job())
        .await
        .unwrap();

    assert_eq!(receiver.requests(), 1);
    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 1);
    let (headers, body) = &accepted[0];
    assert_eq!(body["tenant_id"], 1);
    assert_eq!(body["call_id"], 42);
    assert_eq!(body["uniqueid"], "1770395696.123");
    assert_eq!(body["bucket"], "call-recordings");
    assert_eq!(body["key"], "tenant_1/1770395696.123_recording.mp3");
    assert_eq!(body["duration"], 95);
    assert!(body["timestamp"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(
        headers["idempotency-key"],
        "tenant_1/1770395696.123_recording.mp3"
    );
    assert_eq!(headers["content-type"], "application/json");
}

#[tokio::test]
async fn server_errors_and_timeouts_are_retried_until_delivered_once() {
    let receiver = WebhookStandIn::start(SECRET).await;
    receiver.fail_next([Answer::Status(503), Answer::Hang, Answer::Status(500)]);
    let policy = RetryPolicy {
        request_timeout: Duration::from_secs(1),
        ..quick_retries()
    };

    trigger(&receiver, SECRET, policy)
        .trigger(&job())
        .await
        .unwrap();

    assert_eq!(receiver.requests(), 4);
    assert_eq!(receiver.accepted().len(), 1);
}

#[tokio::test]
async fn attempts_are_bounded_and_the_failure_is_retryable_next_pass() {
    let receiver = WebhookStandIn::start(SECRET).await;
    receiver.fail_next([Answer::Status(502); 5]);
    let policy = RetryPolicy {
        max_attempts: 3,
        ..quick_retries()
    };

    let err = trigger(&receiver, SECRET, policy)
        .trigger(&job())
        .await
        .unwrap_err();

    assert!(
        matches!(
            err,
            AiError::Unavailable {
                status: 502,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.next_step(), NextStep::WaitForService);
    assert_eq!(receiver.requests(), 3);
}

#[tokio::test]
async fn a_wrong_secret_is_refused_once_and_never_printed() {
    let receiver = WebhookStandIn::start(SECRET).await;
    let wrong = "whsec-wrong-9876543210";
    let trigger = trigger(&receiver, wrong, quick_retries());

    let err = trigger.trigger(&job()).await.unwrap_err();

    assert!(
        matches!(err, AiError::Rejected { status: 401, .. }),
        "{err:?}"
    );
    assert_eq!(err.next_step(), NextStep::RetryCall);
    assert_eq!(receiver.requests(), 1, "a refusal is not retried");
    let text = format!("{err} | {err:?} | {trigger:?}");
    assert!(text.contains("AI_WEBHOOK_SECRET"), "{text}");
    assert!(text.contains("1770395696.123"), "{text}");
    assert!(!text.contains(wrong) && !text.contains(SECRET), "{text}");
}

#[tokio::test]
async fn an_unreachable_receiver_is_a_retryable_transport_error() {
    // A port nothing listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let trigger = AiTrigger::new(
        format!("http://127.0.0.1:{port}/hook?token=url-token")
            .parse()
            .unwrap(),
        Some(Secret::new(SECRET.into())),
        RetryPolicy {
            max_attempts: 2,
            ..quick_retries()
        },
    );

    let err = trigger.trigger(&job()).await.unwrap_err();

    assert!(
        matches!(err, AiError::Transport { attempts: 2, .. }),
        "{err:?}"
    );
    assert_eq!(err.next_step(), NextStep::WaitForService);
    let text = format!("{err} | {err:?}");
    assert!(!text.contains("url-token"), "{text}");
    assert!(
        text.to_lowercase().contains("connect"),
        "the cause is named: {text}"
    );
}

#[test]
fn no_webhook_url_means_no_trigger() {
    let settings = |vars: &'static [(&'static str, &'static str)]| {
        Settings::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
        .unwrap()
    };
    assert!(AiTrigger::from_settings(&settings(&[("DATABASE_URL", "postgres://x/y")])).is_none());
    assert!(AiTrigger::from_settings(&settings(&[
        ("DATABASE_URL", "postgres://x/y"),
        ("AI_WEBHOOK_URL", "https://ai.example/hooks/recording"),
        ("AI_WEBHOOK_SECRET", SECRET),
    ]))
    .is_some());
}
