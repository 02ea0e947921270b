//! The signed webhook that starts AI processing of a stored recording (README: The AI trigger).
//!
//! `POST AI_WEBHOOK_URL` with a JSON body:
//!
//! ```json
//! {"tenant_id":1,"call_id":42,"uniqueid":"1770395696.123","bucket":"call-recordings",
//!  "key":"tenant_1/1770395696.123_recording.mp3","duration":95,"timestamp":1770395800}
//! ```
//!
//! and these headers:
//!
//! - `X-UCM-Signature: sha256=<hex>`: HMAC-SHA256 of the exact body bytes, keyed by
//!   `AI_WEBHOOK_SECRET` (the GitHub webhook convention). The receiver recomputes it over the raw
//!   body before parsing it and compares in constant time.
//! - `X-UCM-Timestamp: <unix seconds>`: the same value as the body's `timestamp`, which the
//!   signature covers; a receiver refuses deliveries older than a few minutes (replays).
//! - `Idempotency-Key: <key>`: the same for every retry of one recording, so the receiver can
//!   drop a delivery it already has (a retry after a lost answer).
//!
//! Without `AI_WEBHOOK_SECRET` the deliveries go unsigned (a warning says so at start).
//! Retried with backoff on 5xx, 429, timeouts and connection errors; any other answer is final.
//! Setting `ai_triggered_at` on success is the pipeline's part.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use sha2::Sha256;
use tracing::instrument;
use url::Url;

use crate::config::Settings;
use crate::failure::{Failure, NextStep};
use crate::ids::{TenantId, UniqueId};
use crate::retry::{NoAnswer, RetryPolicy};
use crate::secrets::Secret;

pub const SIGNATURE_HEADER: &str = "X-UCM-Signature";
pub const TIMESTAMP_HEADER: &str = "X-UCM-Timestamp";

/// One stored recording to hand to the AI side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AiJob {
    pub tenant_id: TenantId,
    /// `cdr_records.id`.
    pub call_id: i64,
    pub uniqueid: UniqueId,
    pub bucket: String,
    /// The storage key, `tenant_<id>/<uniqueid>_recording.mp3`.
    pub key: String,
    pub duration_secs: Option<i64>,
}

/// The body as sent; field names are the receiver's contract.
#[derive(serde::Serialize)]
struct Payload<'a> {
    tenant_id: TenantId,
    call_id: i64,
    uniqueid: &'a UniqueId,
    bucket: &'a str,
    key: &'a str,
    duration: Option<i64>,
    timestamp: u64,
}

/// Why a delivery did not succeed. Messages name the tenant and call, never the secret.
#[derive(Debug, thiserror::Error)]
pub enum AiError {
    #[error(
        "AI webhook refused call {uniqueid} of tenant {tenant}: HTTP {status}: {body}{hint}",
        hint = if matches!(status, 401 | 403) { " (check AI_WEBHOOK_SECRET matches the receiver's)" } else { "" }
    )]
    Rejected {
        tenant: TenantId,
        uniqueid: UniqueId,
        status: u16,
        /// The start of the receiver's answer.
        body: String,
    },

    #[error(
        "AI webhook failed for call {uniqueid} of tenant {tenant}: HTTP {status} after {attempts} attempt(s)"
    )]
    Unavailable {
        tenant: TenantId,
        uniqueid: UniqueId,
        status: u16,
        attempts: u32,
        retry_after_secs: Option<u64>,
    },

    #[error(
        "could not reach the AI webhook for call {uniqueid} of tenant {tenant} after {attempts} attempt(s): {source}"
    )]
    Transport {
        tenant: TenantId,
        uniqueid: UniqueId,
        attempts: u32,
        #[source]
        source: NoAnswer,
    },
}

impl Failure for AiError {
    /// A webhook that is down (5xx, 429, no answer) is waited for within the delivery; a refusal
    /// ends it. Either way the recording stays stored and the trigger is sent again on the next
    /// pass: the call itself is never charged for the AI side.
    fn next_step(&self) -> NextStep {
        match self {
            Self::Rejected { .. } => NextStep::RetryCall,
            Self::Unavailable { .. } | Self::Transport { .. } => NextStep::WaitForService,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Unavailable {
                retry_after_secs: Some(secs),
                ..
            } => Some(Duration::from_secs(*secs)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AiTrigger {
    client: reqwest::Client,
    url: Url,
    secret: Option<Secret<String>>,
    policy: RetryPolicy,
}

impl AiTrigger {
    /// `None` when `AI_WEBHOOK_URL` is not set: no trigger.
    pub fn from_settings(settings: &Settings) -> Option<Self> {
        let webhook = settings.ai_webhook.as_ref()?;
        // The receiver should answer at once and work later; a short timeout keeps a slow one
        // from holding the pass.
        let policy = RetryPolicy {
            request_timeout: Duration::from_secs(15),
            max_elapsed: Duration::from_secs(60),
            ..RetryPolicy::default()
        };
        Some(Self::new(
            webhook.url.clone(),
            webhook.secret.clone(),
            policy,
        ))
    }

    pub fn new(url: Url, secret: Option<Secret<String>>, policy: RetryPolicy) -> Self {
        if secret.is_none() {
            tracing::warn!("AI_WEBHOOK_SECRET is not set: AI webhook deliveries go unsigned");
        }
        Self {
            client: reqwest::Client::new(),
            url,
            secret,
            policy,
        }
    }

    /// Delivers one job; `Ok` only on a 2xx answer.
    #[instrument(skip_all, fields(tenant.id = %job.tenant_id, call.uniqueid = %job.uniqueid))]
    pub async fn trigger(&self, job: &AiJob) -> Result<(), AiError> {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let body = serde_json::to_vec(&Payload {
            tenant_id: job.tenant_id,
            call_id: job.call_id,
            uniqueid: &job.uniqueid,
            bucket: &job.bucket,
            key: &job.key,
            duration: job.duration_secs,
            timestamp,
        })
        .expect("the payload is plain data");
        let signature = self.secret.as_ref().map(|s| sign(s.expose(), &body));
        self.policy
            .run(|attempt| self.deliver_once(job, &body, timestamp, signature.as_deref(), attempt))
            .await?;
        tracing::info!("AI processing triggered");
        Ok(())
    }

    async fn deliver_once(
        &self,
        job: &AiJob,
        body: &[u8],
        timestamp: u64,
        signature: Option<&str>,
        attempt: u32,
    ) -> Result<(), AiError> {
        let mut request = self
            .client
            .post(self.url.clone())
            .timeout(self.policy.request_timeout)
            .header(CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header("Idempotency-Key", &job.key)
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header(SIGNATURE_HEADER, signature);
        }
        let response = request.send().await.map_err(|e| AiError::Transport {
            tenant: job.tenant_id,
            uniqueid: job.uniqueid.clone(),
            attempts: attempt,
            source: e.into(),
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(AiError::Unavailable {
                tenant: job.tenant_id,
                uniqueid: job.uniqueid.clone(),
                status: status.as_u16(),
                attempts: attempt,
                retry_after_secs: response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok()?.trim().parse().ok()),
            });
        }
        let text = response.text().await.unwrap_or_default();
        Err(AiError::Rejected {
            tenant: job.tenant_id,
            uniqueid: job.uniqueid.clone(),
            status: status.as_u16(),
            body: text.chars().take(200).collect(),
        })
    }
}

/// `sha256=<hex of HMAC-SHA256(secret, body)>`.
fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
