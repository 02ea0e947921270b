//! A stand-in for the AI side's webhook receiver, written the way the README tells a receiver to
//! check a delivery: HMAC-SHA256 of the raw body with the shared secret, compared in constant
//! time, and a timestamp header equal to the signed body's `timestamp`. It can fail on demand.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// What the next request gets instead of normal service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Status(u16),
    /// Never answers: the sender's timeout must fire.
    Hang,
}

#[derive(Debug)]
struct Inner {
    secret: String,
    requests: usize,
    scheduled: VecDeque<Answer>,
    accepted: Vec<(HeaderMap, serde_json::Value)>,
}

#[derive(Debug, Clone)]
pub struct WebhookStandIn {
    /// What `AI_WEBHOOK_URL` would be.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl WebhookStandIn {
    pub async fn start(secret: &str) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            secret: secret.to_string(),
            requests: 0,
            scheduled: VecDeque::new(),
            accepted: Vec::new(),
        }));
        let router = Router::new()
            .route("/hooks/recording", post(receive))
            .with_state(inner.clone());
        let base = super::storage::serve(router).await;
        Self {
            url: format!("{base}/hooks/recording"),
            inner,
        }
    }

    pub fn fail_next(&self, answers: impl IntoIterator<Item = Answer>) {
        self.lock().scheduled.extend(answers);
    }

    pub fn requests(&self) -> usize {
        self.lock().requests
    }

    /// Bodies (and headers) of the deliveries that passed the checks, in order.
    pub fn accepted(&self) -> Vec<(HeaderMap, serde_json::Value)> {
        self.lock().accepted.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let scheduled = {
        let mut inner = inner.lock().unwrap();
        inner.requests += 1;
        inner.scheduled.pop_front()
    };
    match scheduled {
        Some(Answer::Status(status)) => {
            return StatusCode::from_u16(status).unwrap().into_response()
        }
        Some(Answer::Hang) => return std::future::pending().await,
        None => {}
    }
    let mut inner = inner.lock().unwrap();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signed = header("x-ucm-signature")
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|v| hex::decode(v).ok())
        .is_some_and(|signature| {
            let mut mac = Hmac::<Sha256>::new_from_slice(inner.secret.as_bytes()).unwrap();
            mac.update(&body);
            mac.verify_slice(&signature).is_ok()
        });
    if !signed {
        return (StatusCode::UNAUTHORIZED, "signature does not match").into_response();
    }
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "body is not JSON").into_response();
    };
    if header("x-ucm-timestamp") != Some(json["timestamp"].to_string().as_str()) {
        return (
            StatusCode::BAD_REQUEST,
            "timestamp header differs from the signed body",
        )
            .into_response();
    }
    inner.accepted.push((headers.clone(), json));
    (StatusCode::ACCEPTED, "queued").into_response()
}
