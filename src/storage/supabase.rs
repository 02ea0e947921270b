//! One file over 500 lines: one REST client; its requests share the retries and the error
//! mapping around them.
//!
//! Supabase Storage over its REST API (docs/storage.md).
//!
//! `POST {SUPABASE_URL}/storage/v1/object/{bucket}/{key}` with `x-upsert: true`, so a retried
//! upload overwrites its own object. Authentication: a legacy service-role JWT goes in both
//! `Authorization: Bearer` and `apikey`; a new `sb_secret_…` key is not a JWT and goes in `apikey`
//! only (the gateway swaps it for a service-role JWT; `Bearer sb_secret_…` is rejected).
//!
//! Supabase answers most errors with HTTP 400 and the real status as a string in the body, e.g.
//! `{"statusCode":"409","code":"ResourceAlreadyExists","error":"Duplicate","message":"The resource
//! already exists"}` (supabase/storage `src/internal/errors/codes.ts` and
//! `src/http/error-handler.ts`: only 500 keeps its HTTP status), so the client branches on the
//! body first and the HTTP status second (`SupabaseStore::classify`).
//!
//! Up to 6 MiB (a 25-minute MP3 at 32 kbps) an object goes in one request, retried whole.
//! Larger ones (long calls, the WAV fallback) use the resumable TUS endpoint Supabase recommends
//! above 6 MB: `POST /storage/v1/upload/resumable` creates the upload, `PATCH` sends 6 MiB
//! chunks, `HEAD` tells where to resume after a failure. The file is read into memory once
//! (recordings are megabytes, not gigabytes).
//!
//! Supabase reads `x-upsert` afresh on every TUS request, not once per upload: each `PATCH`
//! is checked as "may this request create the object, or replace it?". A `PATCH` without the
//! header over an object that already exists is refused with 409 "The resource already exists",
//! so the header goes on the creation and on every chunk.
//!
//! Before a pass, [`ObjectStore::preflight`] reads the bucket (`GET /storage/v1/bucket/{id}`,
//! which writes nothing): a missing bucket, a refused key, a file size limit below a long call's
//! recording or MIME types that leave out audio stop the pass before any call is claimed.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::StatusCode;
use tracing::instrument;
use url::Url;

use super::{
    ObjectStore, PreflightError, StorageError, StorageKey, CONTENT_TYPES, TYPICAL_RECORDING_BYTES,
};
use crate::config::SupabaseSettings;
use crate::retry::{NoAnswer, RetryPolicy};
use crate::secrets::Secret;

/// Objects larger than this go up resumably, in chunks of exactly this size (the last one
/// smaller): Supabase's TUS endpoint requires 6 MiB chunks.
pub const TUS_CHUNK_BYTES: u64 = 6 * 1024 * 1024;
const TUS_VERSION: &str = "1.0.0";
/// The bucket read before a pass answers in milliseconds; one that hangs longer is an outage.
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct SupabaseStore {
    client: reqwest::Client,
    /// `SUPABASE_URL`, a base URL (checked in [`SupabaseStore::new`]).
    base: Url,
    bucket: String,
    /// Only to scrub it from any text a server might echo back.
    service_role_key: Secret<String>,
    policy: RetryPolicy,
}

impl SupabaseStore {
    pub fn new(
        settings: &SupabaseSettings,
        bucket: &str,
        policy: RetryPolicy,
    ) -> Result<Self, StorageError> {
        if settings.url.cannot_be_a_base() {
            return Err(StorageError::Config(format!(
                "SUPABASE_URL {} is not an http(s) base URL: use https://<project>.supabase.co",
                settings.url
            )));
        }
        let key = settings.service_role_key.expose().trim();
        let header = |value: String| {
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                StorageError::Config(
                    "SUPABASE_SERVICE_ROLE_KEY holds characters an HTTP header cannot carry \
                     (a stray newline or quote?)"
                        .into(),
                )
            })?;
            // Keeps the value out of reqwest's and hyper's own debug output.
            value.set_sensitive(true);
            Ok::<_, StorageError>(value)
        };
        let mut headers = HeaderMap::new();
        headers.insert("apikey", header(key.to_string())?);
        if !key.starts_with("sb_secret_") {
            headers.insert(AUTHORIZATION, header(format!("Bearer {key}"))?);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(policy.request_timeout)
            .connect_timeout(policy.request_timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| StorageError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            client,
            base: settings.url.clone(),
            bucket: bucket.to_string(),
            service_role_key: Secret::new(key.to_string()),
            policy,
        })
    }

    fn object_url(&self, key: &StorageKey) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("checked in new(): a base URL")
            .pop_if_empty()
            .extend(["storage", "v1", "object", &self.bucket])
            .extend(key.as_str().split('/'));
        url
    }

    /// Sends one request; any answer but 2xx becomes the error that says what to do.
    async fn send(
        &self,
        key: &StorageKey,
        size: u64,
        request: reqwest::RequestBuilder,
        attempt: u32,
    ) -> Result<reqwest::Response, StorageError> {
        let transport = |e: reqwest::Error| StorageError::Transport {
            key: key.to_string(),
            attempts: attempt,
            source: e.into(),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after_secs = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.trim().parse().ok());
        let text = response.text().await.map_err(transport)?;
        let mut err = self.classify(key, size, status, &text, attempt);
        if let StorageError::Unavailable {
            retry_after_secs: asked,
            ..
        } = &mut err
        {
            *asked = retry_after_secs;
        }
        Err(err)
    }

    /// The standard upload: the whole object in one request.
    async fn upload_once(
        &self,
        key: &StorageKey,
        body: Bytes,
        content_type: &str,
        attempt: u32,
    ) -> Result<(), StorageError> {
        let size = body.len() as u64;
        let request = self
            .client
            .post(self.object_url(key))
            .header("x-upsert", "true")
            .header(CONTENT_TYPE, content_type)
            .body(body);
        self.send(key, size, request, attempt).await.map(drop)
    }

    /// A resumable (TUS 1.0.0) upload: create the upload, then send 6 MiB chunks, each retried on
    /// its own; after a failed chunk the server's offset is asked (HEAD) and sending resumes from
    /// there, so a lost connection costs at most one chunk, not the whole file.
    async fn upload_resumable(
        &self,
        key: &StorageKey,
        body: &Bytes,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let size = body.len() as u64;
        // A second session only when the first one's completion could not be confirmed.
        for session in 1..=2 {
            let upload = self
                .policy
                .run(|attempt| self.create_upload(key, size, content_type, attempt))
                .await?;
            let mut offset = 0;
            while offset < size {
                match self
                    .policy
                    .run(|attempt| self.send_chunk(key, &upload, body, offset, attempt))
                    .await?
                {
                    Some(next) => offset = next,
                    None => break,
                }
                tracing::debug!(offset, size, "chunk stored");
            }
            if offset >= size {
                return Ok(());
            }
            tracing::warn!(
                session,
                "the answer to the last chunk was lost: uploading again to be sure it completed"
            );
        }
        Err(StorageError::Unconfirmed {
            key: key.to_string(),
        })
    }

    async fn create_upload(
        &self,
        key: &StorageKey,
        size: u64,
        content_type: &str,
        attempt: u32,
    ) -> Result<Url, StorageError> {
        let b64 = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
        let metadata = format!(
            "bucketName {},objectName {},contentType {},cacheControl {}",
            b64(&self.bucket),
            b64(key.as_str()),
            b64(content_type),
            b64("3600")
        );
        let mut endpoint = self.base.clone();
        endpoint
            .path_segments_mut()
            .expect("checked in new(): a base URL")
            .pop_if_empty()
            .extend(["storage", "v1", "upload", "resumable"]);
        let request = self
            .client
            .post(endpoint.clone())
            .header("Tus-Resumable", TUS_VERSION)
            .header("Upload-Length", size)
            .header("Upload-Metadata", metadata)
            .header("x-upsert", "true");
        let response = self.send(key, size, request, attempt).await?;
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| endpoint.join(v).ok());
        location.ok_or_else(|| StorageError::Rejected {
            key: key.to_string(),
            status: response.status().as_u16(),
            code: "TusError".into(),
            message: "the resumable upload was created without a usable Location".into(),
        })
    }

    /// Sends the chunk at the server's offset (asked first when retrying); returns the new
    /// offset, or `None` when the server holds every byte but the request that completed the
    /// upload failed, so whether the object was made is unknown.
    async fn send_chunk(
        &self,
        key: &StorageKey,
        upload: &Url,
        body: &Bytes,
        mut offset: u64,
        attempt: u32,
    ) -> Result<Option<u64>, StorageError> {
        let size = body.len() as u64;
        if attempt > 1 {
            let request = self
                .client
                .head(upload.clone())
                .header("Tus-Resumable", TUS_VERSION);
            let response = self.send(key, size, request, attempt).await?;
            offset = upload_offset(&response).unwrap_or(offset);
            if offset >= size {
                return Ok(None);
            }
        }
        let end = (offset + TUS_CHUNK_BYTES).min(size);
        // Supabase judges each chunk on its own: without x-upsert here, a chunk of an upload
        // that replaces an existing object is refused as a duplicate.
        let request = self
            .client
            .patch(upload.clone())
            .header("Tus-Resumable", TUS_VERSION)
            .header("Upload-Offset", offset)
            .header("x-upsert", "true")
            .header(CONTENT_TYPE, "application/offset+octet-stream")
            .body(body.slice(offset as usize..end as usize));
        match self.send(key, size, request, attempt).await {
            Ok(response) => Ok(Some(upload_offset(&response).unwrap_or(end))),
            // Any other 409 of a chunk is TUS's offset conflict (the server has more or less than
            // we thought): the retry asks for the offset and goes on from there.
            Err(StorageError::Rejected {
                key,
                status: 409,
                message,
                ..
            }) => Err(StorageError::Unavailable {
                key,
                status: 409,
                message,
                attempts: attempt,
                retry_after_secs: None,
            }),
            Err(other) => Err(other),
        }
    }

    /// Turns a failed answer into the error that says what to do.
    fn classify(
        &self,
        key: &StorageKey,
        size: u64,
        http: StatusCode,
        text: &str,
        attempt: u32,
    ) -> StorageError {
        let Refusal {
            status: reported,
            code,
            message,
        } = self.refusal(http, text);
        let key = key.to_string();
        let unavailable = |status| StorageError::Unavailable {
            key: key.clone(),
            status,
            message: message.clone(),
            attempts: attempt,
            retry_after_secs: None,
        };
        match reported {
            // 423: another upload of the same key holds its lock; 544: Supabase's database timeout.
            429 | 423 | 500..=599 => unavailable(reported),
            _ if http.is_server_error() || http == StatusCode::TOO_MANY_REQUESTS => {
                unavailable(http.as_u16())
            }
            401 | 403 => StorageError::Unauthorized {
                key,
                status: reported,
                message,
            },
            404 if code == "NoSuchBucket" || message.contains("Bucket not found") => {
                StorageError::BucketNotFound {
                    bucket: self.bucket.clone(),
                    key,
                }
            }
            404 if code == "NoSuchKey" || message.contains("Object not found") => {
                StorageError::NotFound { key }
            }
            // The object exists and the request did not ask to replace it. (TUS's own 409, an
            // offset conflict, says something else and is told apart by the chunk's sender.)
            409 if code == "ResourceAlreadyExists" || message.contains("already exists") => {
                StorageError::Duplicate { key }
            }
            413 => StorageError::TooLarge { key, bytes: size },
            _ => StorageError::Rejected {
                key,
                status: reported,
                code,
                message,
            },
        }
    }

    /// Reads a refusal's real status, code and message, scrubbed of the key.
    fn refusal(&self, http: StatusCode, text: &str) -> Refusal {
        // A server may quote the credential it refused; it must not reach a log through us.
        let secret = self.service_role_key.expose();
        let scrub = |text: String| text.replace(secret.as_str(), "***");
        let body: ErrorBody = serde_json::from_str(text).unwrap_or_default();
        let status = match &body.status_code {
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            Some(serde_json::Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            _ => None,
        }
        .unwrap_or(http.as_u16());
        let code = scrub(
            body.code
                .clone()
                .or_else(|| body.error.clone())
                .unwrap_or_default(),
        );
        let message = scrub(
            body.message
                .or(body.error)
                .unwrap_or_else(|| text.trim().chars().take(200).collect()),
        );
        Refusal {
            status,
            code,
            message,
        }
    }

    /// `GET /storage/v1/bucket/{id}`: the bucket's settings, read with the service-role key.
    async fn read_bucket(&self) -> Result<BucketInfo, PreflightError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("checked in new(): a base URL")
            .pop_if_empty()
            .extend(["storage", "v1", "bucket", &self.bucket]);
        let unreachable = |e: reqwest::Error| PreflightError::Unreachable {
            bucket: self.bucket.clone(),
            detail: NoAnswer::from(e).to_string(),
        };
        let response = self
            .client
            .get(url)
            .timeout(self.policy.request_timeout.min(PREFLIGHT_TIMEOUT))
            .send()
            .await
            .map_err(unreachable)?;
        let http = response.status();
        let text = response.text().await.map_err(unreachable)?;
        if http.is_success() {
            return serde_json::from_str(&text).map_err(|e| PreflightError::Unexpected {
                bucket: self.bucket.clone(),
                status: http.as_u16(),
                message: format!("not a bucket's description: {e}"),
            });
        }
        let Refusal {
            status,
            code,
            message,
        } = self.refusal(http, &text);
        let bucket = self.bucket.clone();
        Err(match status {
            429 | 423 | 500..=599 => PreflightError::Unreachable {
                bucket,
                detail: format!("HTTP {status}: {message}"),
            },
            _ if http.is_server_error() || http == StatusCode::TOO_MANY_REQUESTS => {
                PreflightError::Unreachable {
                    bucket,
                    detail: format!("HTTP {http}: {message}"),
                }
            }
            401 | 403 => PreflightError::KeyRefused {
                bucket,
                status,
                message,
            },
            404 if code == "NoSuchBucket" || message.contains("Bucket not found") => {
                PreflightError::NoBucket { bucket }
            }
            _ => PreflightError::Unexpected {
                bucket,
                status,
                message,
            },
        })
    }

    /// A bucket that exists still refuses our recordings when its limits leave them out.
    fn judge_bucket(&self, info: &BucketInfo) -> Result<String, PreflightError> {
        if let Some(limit) = info.file_size_limit.filter(|&l| l > 0) {
            if limit < TYPICAL_RECORDING_BYTES {
                return Err(PreflightError::LimitTooSmall {
                    bucket: self.bucket.clone(),
                    limit,
                    needed: TYPICAL_RECORDING_BYTES,
                });
            }
        }
        if let Some(allowed) = info.allowed_mime_types.as_ref().filter(|a| !a.is_empty()) {
            let refused: Vec<&str> = CONTENT_TYPES
                .into_iter()
                .filter(|wanted| !allowed.iter().any(|a| mime_allows(a, wanted)))
                .collect();
            if !refused.is_empty() {
                return Err(PreflightError::TypeRefused {
                    bucket: self.bucket.clone(),
                    refused: refused.join(", "),
                    allowed: allowed.join(", "),
                });
            }
        }
        let limit = match info.file_size_limit.filter(|&l| l > 0) {
            Some(limit) => format!("files up to {limit} bytes"),
            None => "no file size limit of its own".to_string(),
        };
        Ok(format!(
            "bucket {:?} at {} exists, the key is accepted, {limit}",
            self.bucket,
            self.base.origin().ascii_serialization()
        ))
    }
}

/// Whether a bucket's allowed MIME type (`audio/mpeg`, `audio/*`) takes `wanted`, as Supabase
/// compares them: type and subtype, or the type with a `*` subtype.
fn mime_allows(allowed: &str, wanted: &str) -> bool {
    match (allowed.split_once('/'), wanted.split_once('/')) {
        (Some((a_type, a_sub)), Some((w_type, w_sub))) => {
            a_type.eq_ignore_ascii_case(w_type)
                && (a_sub == "*" || a_sub.eq_ignore_ascii_case(w_sub))
        }
        _ => false,
    }
}

#[async_trait::async_trait]
impl ObjectStore for SupabaseStore {
    #[instrument(skip_all, fields(key = %key, backend = "supabase", bytes))]
    async fn put_file(
        &self,
        key: &StorageKey,
        path: &Path,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let body = Bytes::from(
            tokio::fs::read(path)
                .await
                .map_err(|source| StorageError::Io {
                    key: key.to_string(),
                    action: "read",
                    path: path.to_path_buf(),
                    source,
                })?,
        );
        tracing::Span::current().record("bytes", body.len());
        // The one info line per recording is the pipeline's `RecordingStored`.
        tracing::debug!("Uploading to Supabase: {key}");
        if body.len() as u64 > TUS_CHUNK_BYTES {
            self.upload_resumable(key, &body, content_type).await?;
        } else {
            self.policy
                .run(|attempt| self.upload_once(key, body.clone(), content_type, attempt))
                .await?;
        }
        tracing::debug!(location = %self.location(key), "stored in Supabase");
        Ok(())
    }

    /// `POST /storage/v1/object/copy` with `x-upsert: true`: without it, a copy onto an
    /// existing object is refused as a duplicate, and a retried copy must not fail on its own
    /// earlier success.
    #[instrument(skip_all, fields(from = %from, to = %to, backend = "supabase"))]
    async fn copy(&self, from: &StorageKey, to: &StorageKey) -> Result<(), StorageError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("checked in new(): a base URL")
            .pop_if_empty()
            .extend(["storage", "v1", "object", "copy"]);
        let body = serde_json::json!({
            "bucketId": self.bucket,
            "sourceKey": from.as_str(),
            "destinationKey": to.as_str(),
        });
        self.policy
            .run(|attempt| {
                let request = self
                    .client
                    .post(url.clone())
                    .header("x-upsert", "true")
                    .json(&body);
                // Errors about the source name it; any other names the destination.
                async move {
                    match self.send(to, 0, request, attempt).await {
                        Err(StorageError::NotFound { .. }) => Err(StorageError::NotFound {
                            key: from.to_string(),
                        }),
                        other => other.map(drop),
                    }
                }
            })
            .await?;
        tracing::info!(location = %self.location(to), "copied in Supabase from {from}");
        Ok(())
    }

    fn location(&self, key: &StorageKey) -> String {
        format!("supabase://{}/{key}", self.bucket)
    }

    #[instrument(skip_all, fields(bucket = %self.bucket, backend = "supabase"))]
    async fn preflight(&self) -> Result<String, PreflightError> {
        // A few quick tries: a pass waits on this, and a storage outage is told apart from a
        // configuration error by its answer, not by waiting it out.
        let policy = RetryPolicy {
            max_attempts: 3,
            ..self.policy.clone()
        };
        let info = policy.run(|_| self.read_bucket()).await?;
        self.judge_bucket(&info)
    }
}

/// A refused request's real status (from the body when Supabase put it there), code and message.
struct Refusal {
    status: u16,
    code: String,
    message: String,
}

/// What `GET /storage/v1/bucket/{id}` tells about a bucket (other fields are ignored).
#[derive(Debug, serde::Deserialize)]
struct BucketInfo {
    /// Bytes; `null` when the bucket has no limit of its own (the project's global one applies).
    file_size_limit: Option<u64>,
    /// `null` or empty: any type.
    allowed_mime_types: Option<Vec<String>>,
}

fn upload_offset(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get("Upload-Offset")?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Supabase's error body. `statusCode` is a string in the storage API (`"409"`) and a number in
/// some proxies' answers; the API gateway's own errors carry only `message` (and `hint`).
#[derive(Debug, Default, serde::Deserialize)]
struct ErrorBody {
    #[serde(rename = "statusCode")]
    status_code: Option<serde_json::Value>,
    code: Option<String>,
    error: Option<String>,
    message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::{Failure as _, NextStep};
    use crate::ids::{TenantId, UniqueId};

    fn key() -> StorageKey {
        StorageKey::recording(TenantId(7), &UniqueId::parse("1.2").unwrap(), "mp3")
    }

    fn store(url: &str, secret: &str, bucket: &str) -> SupabaseStore {
        let settings = SupabaseSettings {
            url: Url::parse(url).unwrap(),
            service_role_key: Secret::new(secret.into()),
        };
        SupabaseStore::new(&settings, bucket, RetryPolicy::default()).unwrap()
    }

    fn classified(http: u16, body: &str) -> StorageError {
        store("http://127.0.0.1:1", "sekrit-value", "call-recordings").classify(
            &key(),
            10,
            StatusCode::from_u16(http).unwrap(),
            body,
            1,
        )
    }

    #[test]
    fn the_real_status_is_read_from_the_body() {
        let dup = r#"{"statusCode":"409","code":"ResourceAlreadyExists","error":"Duplicate","message":"The resource already exists"}"#;
        assert!(matches!(
            classified(400, dup),
            StorageError::Duplicate { .. }
        ));
        let big = r#"{"statusCode":"413","code":"EntityTooLarge","error":"Payload too large","message":"The object exceeded the maximum allowed size"}"#;
        assert!(matches!(
            classified(400, big),
            StorageError::TooLarge { bytes: 10, .. }
        ));
        let bucket = r#"{"statusCode":"404","code":"NoSuchBucket","error":"Bucket not found","message":"Bucket not found"}"#;
        assert!(matches!(
            classified(400, bucket),
            StorageError::BucketNotFound { .. }
        ));
        let jwt = r#"{"statusCode":"403","code":"AccessDenied","error":"Unauthorized","message":"invalid signature"}"#;
        assert!(matches!(
            classified(400, jwt),
            StorageError::Unauthorized { status: 403, .. }
        ));
        let gateway = r#"{"message":"Invalid API key","hint":"Double check your Supabase `anon` or `service_role` API key."}"#;
        assert!(matches!(
            classified(401, gateway),
            StorageError::Unauthorized { status: 401, .. }
        ));
    }

    #[test]
    fn server_trouble_is_retryable_and_other_client_errors_are_not() {
        for (http, body) in [
            (
                500,
                r#"{"statusCode":"500","code":"InternalError","error":"InternalError","message":"Internal server error"}"#,
            ),
            (
                544,
                r#"{"statusCode":"544","code":"DatabaseTimeout","message":"The connection to the database timed out"}"#,
            ),
            (
                429,
                r#"{"statusCode":"429","error":"too_many_connections","code":"SlowDown","message":"Too many connections issued to the database"}"#,
            ),
            (502, "<html>Bad Gateway</html>"),
            (
                400,
                r#"{"statusCode":"423","code":"ResourceLocked","message":"The resource is locked"}"#,
            ),
        ] {
            assert_eq!(
                classified(http, body).next_step(),
                NextStep::WaitForService,
                "{http} {body}"
            );
        }
        let invalid = r#"{"statusCode":"400","code":"InvalidKey","error":"InvalidKey","message":"Invalid key: x"}"#;
        let err = classified(400, invalid);
        assert!(
            matches!(err, StorageError::Rejected { .. }) && err.next_step() == NextStep::RetryCall,
            "{err:?}"
        );
    }

    #[test]
    fn only_an_existing_object_is_a_duplicate_not_a_tus_offset_conflict() {
        let tus_duplicate = classified(409, "The resource already exists");
        assert!(
            matches!(tus_duplicate, StorageError::Duplicate { .. }),
            "{tus_duplicate:?}"
        );
        let offset = classified(409, "Upload-Offset conflict");
        assert!(
            matches!(offset, StorageError::Rejected { status: 409, .. }),
            "{offset:?}"
        );
    }

    #[test]
    fn allowed_mime_types_match_like_supabase() {
        assert!(mime_allows("audio/*", "audio/mpeg"));
        assert!(mime_allows("audio/mpeg", "audio/mpeg"));
        assert!(!mime_allows("audio/mpeg", "audio/wav"));
        assert!(!mime_allows("image/*", "audio/wav"));
        assert!(!mime_allows("audio", "audio/wav"));
    }

    #[test]
    fn echoed_credentials_are_scrubbed() {
        let body =
            r#"{"statusCode":"403","error":"Unauthorized","message":"bad token sekrit-value"}"#;
        let err = classified(400, body);
        assert!(!format!("{err} {err:?}").contains("sekrit-value"));
    }

    #[test]
    fn keys_become_url_path_segments_under_the_project_url() {
        let store = store("https://abc.supabase.co", "sb_secret_x", "call recordings");
        assert_eq!(
            store.object_url(&key()).as_str(),
            "https://abc.supabase.co/storage/v1/object/call%20recordings/tenant_7/1.2_recording.mp3"
        );
        assert_eq!(
            store.location(&key()),
            "supabase://call recordings/tenant_7/1.2_recording.mp3"
        );
    }
}
