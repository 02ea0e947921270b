//! A Supabase Storage stand-in on 127.0.0.1, port 0: what a client of hosted Supabase meets, the
//! API gateway and the storage server (`supabase/storage`) behind it, judged request by request
//! as they judge them. Where each behaviour comes from in the server's sources:
//!
//! - Errors (`internal/errors`, `http/error-handler.ts`): the body is
//!   `{"statusCode":"<real>","code":…,"error":…,"message":…}` and the HTTP status is 400 whatever
//!   the real one, except 500, which keeps it. Duplicate `"409"` (`ResourceAlreadyExists`), too
//!   large `"413"`, no bucket `"404"` (`NoSuchBucket`, "Bucket not found"), a refused JWT `"403"`
//!   (`AccessDenied`, with the JWT library's reason as the message: "signature verification
//!   failed", "Invalid Compact JWS", "jwt must be provided"), a MIME type the bucket does not
//!   allow `"415"`, database busy `"503"`.
//! - The gateway in front of hosted Supabase checks `apikey` before the server sees anything and
//!   answers `401 {"message":"Invalid API key",…}` itself; it swaps a new `sb_secret_…` key for a
//!   service-role JWT, so such a key goes in `apikey` only. [`StorageOptions::gateway`] `false`
//!   serves the bare server instead (a self-hosted one behind a plain proxy).
//! - Objects (`http/routes/object`, `storage/uploader.ts`): `POST /storage/v1/object/{bucket}/{*key}`
//!   creates, and replaces only with `x-upsert: true`; `PUT` always replaces. Success:
//!   `200 {"Id":…,"Key":"<bucket>/<key>"}`. `GET` returns the object.
//! - Copies (`http/routes/object/copyObject.ts`, `storage/object.ts` `copyObject`):
//!   `POST /storage/v1/object/copy` with JSON `{bucketId, sourceKey, destinationKey}` (and an
//!   optional `destinationBucket`). A source that does not exist: `"404"` `NoSuchKey` "Object not
//!   found". A destination that exists is replaced only with `x-upsert: true`, else `"409"`
//!   "The resource already exists". Success: `200 {"Id":…,"Key":"<bucket>/<destinationKey>"}`.
//! - Buckets (`http/routes/bucket/getBucket.ts`): `GET /storage/v1/bucket/{id}` returns the row
//!   (`id`, `name`, `public`, `file_size_limit` in bytes or `null`, `allowed_mime_types` or
//!   `null`, times), and writes nothing. An upload is refused above the bucket's limit or the
//!   project's global one, whichever is lower, and when its type is not among the allowed ones
//!   (`type/subtype` or `type/*`).
//! - Resumable uploads, TUS 1.0.0 (`http/routes/tus`): `POST /storage/v1/upload/resumable` with
//!   `Upload-Length` and `Upload-Metadata` (`bucketName`, `objectName`, `contentType`, base64)
//!   answers `201`. Its `Location` is built from the request: scheme and host, then the prefix the
//!   proxy that mounts the server under `/storage/v1` passes in `x-forwarded-prefix`, then
//!   `/upload/resumable/` and the upload's id, base64url of `<bucket>/<object>/<version>`.
//!   `PATCH` it with `Upload-Offset` and 6 MiB chunks (the last one smaller); `HEAD` it for the
//!   offset. Every `POST` and `PATCH` reads `x-upsert` afresh and asks "may this request create
//!   the object, or replace it?": without the header, a request over an object that already
//!   exists is refused with 409 "The resource already exists", chunk by chunk. `HEAD` is not
//!   asked. The request that completes the upload writes the object over any earlier one. TUS
//!   errors keep their real status and carry the message as plain text.
//!
//! Faults are injected per request, before anything else: a plan for the next requests
//! ([`StorageStandIn::fail_next`], [`StorageStandIn::schedule`]) and/or a seeded random share
//! ([`StorageStandIn::fail_share`]), so tests are reproducible. They and [`StorageStandIn::requests`]
//! cover the object and upload requests; bucket reads (the worker's preflight) are counted apart
//! ([`StorageStandIn::bucket_reads`]) and meet only their own plan
//! ([`StorageStandIn::fail_bucket_reads`]), so a test's plan of upload faults is not spent on them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ucm_scraper::retry::RetryPolicy;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use base64::Engine as _;
use rand::rngs::StdRng;
use rand::{RngExt as _, SeedableRng as _};
use serde_json::json;
use ucm_scraper::config::SupabaseSettings;
use ucm_scraper::secrets::Secret;

/// Shaped like a legacy service-role JWT (header.payload.signature).
pub const LEGACY_KEY: &str = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.stand-in";
pub const BUCKET: &str = "call-recordings";
/// Where the proxy in front mounts the storage server, as hosted Supabase does.
const MOUNT: &str = "/storage/v1";
/// Supabase's TUS endpoint takes chunks of exactly this size, the last one excepted.
pub const TUS_CHUNK: usize = 6 * 1024 * 1024;

/// What a faulty request meets instead of being served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// That HTTP status, with Supabase's error body for it (500, 502, 503, 504…).
    Status(u16),
    /// The database is out of connections: HTTP 400 with `"statusCode":"503"` in the body.
    DatabaseBusy,
    /// `429` with `Retry-After`, as Supabase answers when its pooler is saturated.
    SlowDown { retry_after_secs: u64 },
    /// Reads the request, then never answers: the client's timeout must fire.
    Hang,
    /// Does the work (stores the object, appends the chunk), then never answers: the client
    /// cannot know it succeeded.
    LoseAnswer,
    /// A TUS `PATCH` whose connection breaks mid-chunk: the first half of the chunk is kept,
    /// then no answer. Only from a plan; elsewhere, or drawn at random, like [`Fault::Hang`].
    Interrupted,
}

#[derive(Debug, Clone)]
pub struct StorageOptions {
    pub service_role_key: String,
    pub buckets: Vec<String>,
    /// The buckets' own file size limit in bytes (`file_size_limit`); `None`: only the global one.
    pub file_size_limit: Option<usize>,
    /// The project's upload limit, which a bucket's own cannot raise (not shown by the API).
    pub global_limit: usize,
    /// The buckets' `allowed_mime_types`; `None`: any.
    pub allowed_mime_types: Option<Vec<String>>,
    /// Whether the API gateway of hosted Supabase stands in front (see the module comment).
    pub gateway: bool,
}

impl Default for StorageOptions {
    fn default() -> Self {
        Self {
            service_role_key: LEGACY_KEY.into(),
            buckets: vec![BUCKET.into()],
            file_size_limit: None,
            // Supabase's free-plan global limit.
            global_limit: 50 * 1024 * 1024,
            allowed_mime_types: None,
            gateway: true,
        }
    }
}

impl StorageOptions {
    /// The largest object a bucket takes: its own limit or the global one, the lower.
    fn max_object_bytes(&self) -> usize {
        self.file_size_limit
            .map_or(self.global_limit, |own| own.min(self.global_limit))
    }

    /// The refusal of an object of this content type, if the buckets' allowed types leave it out.
    fn refuses_type(&self, content_type: &str) -> bool {
        let Some(allowed) = &self.allowed_mime_types else {
            return false;
        };
        let Some((kind, sub)) = content_type.split_once('/') else {
            return true;
        };
        !allowed.iter().any(|a| match a.split_once('/') {
            Some((a_kind, a_sub)) => a_kind == kind && (a_sub == "*" || a_sub == sub),
            None => false,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub bytes: Vec<u8>,
    pub content_type: String,
}

/// A resumable upload in progress. Whether it may replace an object is not kept here: each
/// request says so for itself.
#[derive(Debug)]
struct TusUpload {
    bucket: String,
    key: String,
    content_type: String,
    length: usize,
    received: Vec<u8>,
}

#[derive(Debug)]
struct Inner {
    options: StorageOptions,
    objects: HashMap<(String, String), StoredObject>,
    requests: usize,
    stores: HashMap<String, usize>,
    /// Objects written by a copy, by destination key (also counted in `stores`).
    copies: HashMap<String, usize>,
    plan: VecDeque<Option<Fault>>,
    random: Option<(StdRng, f64, Fault)>,
    uploads: HashMap<String, TusUpload>,
    uploads_created: usize,
    bucket_reads: usize,
    bucket_plan: VecDeque<Fault>,
    /// The buckets vanish once the next bucket read is answered.
    delete_after_read: bool,
}

impl Inner {
    /// Counts the request and returns the fault it meets, if any.
    fn admit(&mut self) -> Option<Fault> {
        self.requests += 1;
        if let Some(planned) = self.plan.pop_front() {
            return planned;
        }
        let (rng, share, fault) = self.random.as_mut()?;
        rng.random_bool(*share).then_some(*fault)
    }

    /// Whether a request may write `key`: creating it always, replacing it only with x-upsert.
    fn may_write(&self, bucket: &str, key: &str, upsert: bool) -> bool {
        upsert
            || !self
                .objects
                .contains_key(&(bucket.to_string(), key.to_string()))
    }

    /// Makes (or replaces) the object, as Supabase does at the end of either kind of upload.
    fn finish(&mut self, bucket: &str, key: &str, object: StoredObject) {
        *self.stores.entry(key.to_string()).or_default() += 1;
        self.objects
            .insert((bucket.to_string(), key.to_string()), object);
    }
}

#[derive(Debug, Clone)]
pub struct StorageStandIn {
    /// What `SUPABASE_URL` would be, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl StorageStandIn {
    /// Bucket `call-recordings`, a legacy service-role key ([`LEGACY_KEY`]), 50 MB limit.
    pub async fn start() -> Self {
        Self::start_with(StorageOptions::default()).await
    }

    pub async fn start_with(options: StorageOptions) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            options,
            objects: HashMap::new(),
            requests: 0,
            stores: HashMap::new(),
            copies: HashMap::new(),
            plan: VecDeque::new(),
            random: None,
            uploads: HashMap::new(),
            uploads_created: 0,
            bucket_reads: 0,
            bucket_plan: VecDeque::new(),
            delete_after_read: false,
        }));
        let router = Router::new()
            .route(
                "/storage/v1/object/{bucket}/{*key}",
                post(put_object).put(put_object).get(get_object),
            )
            .route("/storage/v1/object/copy", post(copy_object))
            .route("/storage/v1/bucket/{bucket}", get(get_bucket))
            .route("/storage/v1/upload/resumable", post(create_upload))
            .route(
                "/storage/v1/upload/resumable/{id}",
                patch(patch_upload).head(head_upload),
            )
            // The size limit is the bucket's, answered in Supabase's words, not axum's 2 MB.
            .layer(DefaultBodyLimit::disable())
            .with_state(inner.clone());
        Self {
            url: serve(router).await,
            inner,
        }
    }

    /// The settings the worker would build from `SUPABASE_URL` and `SUPABASE_SERVICE_ROLE_KEY`.
    pub fn settings(&self) -> SupabaseSettings {
        let key = self.lock().options.service_role_key.clone();
        self.settings_with_key(&key)
    }

    /// The same with another key (a wrong one, the anon key…).
    pub fn settings_with_key(&self, key: &str) -> SupabaseSettings {
        SupabaseSettings {
            url: self.url.parse().unwrap(),
            service_role_key: Secret::new(key.to_string()),
        }
    }

    /// The next requests meet these faults, in order, then service resumes.
    pub fn fail_next(&self, faults: impl IntoIterator<Item = Fault>) {
        self.schedule(faults.into_iter().map(Some));
    }

    /// The next requests are served (`None`) or meet a fault, in this order.
    pub fn schedule(&self, plan: impl IntoIterator<Item = Option<Fault>>) {
        self.lock().plan.extend(plan);
    }

    /// After the plan is used up, each request meets `fault` with probability `share`, drawn
    /// from a generator seeded with `seed`.
    pub fn fail_share(&self, share: f64, seed: u64, fault: Fault) {
        self.lock().random = Some((StdRng::seed_from_u64(seed), share, fault));
    }

    /// Every request received, faulty ones included.
    pub fn requests(&self) -> usize {
        self.lock().requests
    }

    /// How many times `key` was written (created or overwritten) in any bucket.
    pub fn stores_of(&self, key: &str) -> usize {
        self.lock().stores.get(key).copied().unwrap_or(0)
    }

    /// How many times `key` was written by a server-side copy.
    pub fn copies_to(&self, key: &str) -> usize {
        self.lock().copies.get(key).copied().unwrap_or(0)
    }

    /// Every key in `bucket`, sorted.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .lock()
            .objects
            .keys()
            .filter(|(b, _)| b == bucket)
            .map(|(_, k)| k.clone())
            .collect();
        keys.sort();
        keys
    }

    pub fn object(&self, bucket: &str, key: &str) -> Option<StoredObject> {
        self.lock()
            .objects
            .get(&(bucket.to_string(), key.to_string()))
            .cloned()
    }

    pub fn object_count(&self) -> usize {
        self.lock().objects.len()
    }

    /// Resumable (TUS) uploads created so far.
    pub fn resumable_uploads(&self) -> usize {
        self.lock().uploads_created
    }

    /// `GET /storage/v1/bucket/{id}` requests received, faulty ones included.
    pub fn bucket_reads(&self) -> usize {
        self.lock().bucket_reads
    }

    /// The next bucket reads meet these faults, in order ([`Fault::Status`], [`Fault::Hang`]…).
    pub fn fail_bucket_reads(&self, faults: impl IntoIterator<Item = Fault>) {
        self.lock().bucket_plan.extend(faults);
    }

    /// Creates a bucket, as an operator does in the dashboard.
    pub fn create_bucket(&self, name: &str) {
        self.lock().options.buckets.push(name.to_string());
    }

    /// Every bucket is deleted right after the next bucket read is answered: a configuration
    /// that passes the worker's preflight and is refused by the uploads after it.
    pub fn delete_buckets_after_next_read(&self) {
        self.lock().delete_after_read = true;
    }

    /// An object as if written by someone else earlier (a previous run): not counted as a store.
    pub fn put(&self, bucket: &str, key: &str, object: StoredObject) {
        self.lock()
            .objects
            .insert((bucket.to_string(), key.to_string()), object);
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }
}

/// Serves `router` on 127.0.0.1, port 0, for the rest of the test's runtime; returns its URL.
/// (Shared with the webhook stand-in.)
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

type Shared = State<Arc<Mutex<Inner>>>;

/// Runs `work` as the request's fault allows: not at all (the fault is the answer), or with its
/// answer dropped ([`Fault::LoseAnswer`]).
async fn served(inner: &Mutex<Inner>, work: impl FnOnce(&mut Inner) -> Response) -> Response {
    let fault = inner.lock().unwrap().admit();
    respond(inner, fault, work).await
}

async fn respond(
    inner: &Mutex<Inner>,
    fault: Option<Fault>,
    work: impl FnOnce(&mut Inner) -> Response,
) -> Response {
    match fault {
        None => work(&mut inner.lock().unwrap()),
        Some(Fault::LoseAnswer) => {
            work(&mut inner.lock().unwrap());
            std::future::pending().await
        }
        Some(Fault::Status(500)) => {
            storage_error(500, "InternalError", "InternalError", "Internal server error")
        }
        Some(Fault::Status(status)) => {
            // Errors from the gateway or the load balancer in front keep their HTTP status.
            let body = json!({"statusCode": status.to_string(), "error": "Service Unavailable", "message": "upstream unavailable"});
            (StatusCode::from_u16(status).unwrap(), Json(body)).into_response()
        }
        Some(Fault::DatabaseBusy) => storage_error(
            503,
            "DatabaseConnectionLimit",
            "DatabaseConnectionLimit",
            "The database has reached its maximum number of connections. Please try again later.",
        ),
        Some(Fault::SlowDown { retry_after_secs }) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after_secs.to_string())],
            Json(json!({"statusCode": "429", "error": "too_many_connections", "code": "SlowDown", "message": "Too many connections issued to the database"})),
        )
            .into_response(),
        Some(Fault::Hang | Fault::Interrupted) => std::future::pending().await,
    }
}

/// Supabase's rendering of a storage error (see the module comment).
fn storage_error(status: u16, code: &str, error: &str, message: &str) -> Response {
    let http = if status == 500 { 500 } else { 400 };
    let body =
        json!({"statusCode": status.to_string(), "code": code, "error": error, "message": message});
    (StatusCode::from_u16(http).unwrap(), Json(body)).into_response()
}

/// A TUS error: the real status, the message as plain text.
fn tus_error(status: u16, message: &str) -> Response {
    (StatusCode::from_u16(status).unwrap(), message.to_string()).into_response()
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The gateway's `apikey` check, then the storage server's JWT check: the answer that refuses
/// the request, if any.
fn refusal(inner: &Inner, headers: &HeaderMap) -> Option<Response> {
    let key = inner.options.service_role_key.as_str();
    let gateway = |message: &str, hint: &str| {
        Some(
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({"message": message, "hint": hint})),
            )
                .into_response(),
        )
    };
    if inner.options.gateway {
        match header_str(headers, "apikey") {
            None => {
                return gateway(
                    "No API key found in request",
                    "No `apikey` request header or url param was found.",
                )
            }
            Some(apikey) if apikey != key => {
                return gateway(
                    "Invalid API key",
                    "Double check your Supabase `anon` or `service_role` API key.",
                )
            }
            Some(_) => {}
        }
    }
    let bearer =
        header_str(headers, "authorization").map(|v| v.trim_start_matches("Bearer ").trim());
    let denied = |message| Some(storage_error(403, "AccessDenied", "Unauthorized", message));
    match bearer {
        // The gateway swaps a valid sb_secret_ apikey for a service-role JWT.
        None if inner.options.gateway && key.starts_with("sb_secret_") => None,
        None => denied("jwt must be provided"),
        Some(token) if token.split('.').count() != 3 => denied("Invalid Compact JWS"),
        Some(token) if token != key => denied("signature verification failed"),
        Some(_) => None,
    }
}

fn no_such_bucket() -> Response {
    storage_error(404, "NoSuchBucket", "Bucket not found", "Bucket not found")
}

fn too_large() -> Response {
    storage_error(
        413,
        "EntityTooLarge",
        "Payload too large",
        "The object exceeded the maximum allowed size",
    )
}

fn unsupported_type(content_type: &str) -> Response {
    storage_error(
        415,
        "InvalidMimeType",
        "invalid_mime_type",
        &format!("mime type {content_type} is not supported"),
    )
}

/// "The resource already exists", as the object API renders it.
fn duplicate() -> Response {
    storage_error(
        409,
        "ResourceAlreadyExists",
        "Duplicate",
        "The resource already exists",
    )
}

const TUS_DUPLICATE: &str = "The resource already exists";

/// The bucket's row, as `GET /storage/v1/bucket/{id}` shows it.
async fn get_bucket(
    State(inner): Shared,
    Path(bucket): Path<String>,
    headers: HeaderMap,
) -> Response {
    let fault = {
        let mut inner = inner.lock().unwrap();
        inner.bucket_reads += 1;
        inner.bucket_plan.pop_front()
    };
    respond(&inner, fault, |inner| {
        if let Some(refused) = refusal(inner, &headers) {
            return refused;
        }
        if !inner.options.buckets.contains(&bucket) {
            return no_such_bucket();
        }
        if std::mem::take(&mut inner.delete_after_read) {
            inner.options.buckets.clear();
        }
        let options = &inner.options;
        Json(json!({
            "id": bucket,
            "name": bucket,
            "owner": "",
            "public": false,
            "file_size_limit": options.file_size_limit,
            "allowed_mime_types": options.allowed_mime_types,
            "created_at": "2026-01-05T09:12:44.000Z",
            "updated_at": "2026-01-05T09:12:44.000Z",
        }))
        .into_response()
    })
    .await
}

async fn put_object(
    State(inner): Shared,
    method: Method,
    Path((bucket, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    served(&inner, |inner| {
        if let Some(refused) = refusal(inner, &headers) {
            return refused;
        }
        if !inner.options.buckets.contains(&bucket) {
            return no_such_bucket();
        }
        let content_type = header_str(&headers, "content-type")
            .unwrap_or("application/octet-stream")
            .to_string();
        if inner.options.refuses_type(&content_type) {
            return unsupported_type(&content_type);
        }
        let upsert = method == Method::PUT || header_str(&headers, "x-upsert") == Some("true");
        if !inner.may_write(&bucket, &key, upsert) {
            return duplicate();
        }
        if body.len() > inner.options.max_object_bytes() {
            return too_large();
        }
        let object = StoredObject {
            bytes: body.to_vec(),
            content_type,
        };
        inner.finish(&bucket, &key, object);
        let id = format!("00000000-0000-4000-8000-{:012}", inner.objects.len());
        Json(json!({"Id": id, "Key": format!("{bucket}/{key}")})).into_response()
    })
    .await
}

/// The body of `POST /storage/v1/object/copy`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct CopyRequest {
    bucket_id: String,
    source_key: String,
    destination_key: String,
    destination_bucket: Option<String>,
}

async fn copy_object(
    State(inner): Shared,
    headers: HeaderMap,
    Json(copy): Json<CopyRequest>,
) -> Response {
    served(&inner, |inner| {
        if let Some(refused) = refusal(inner, &headers) {
            return refused;
        }
        let to_bucket = copy.destination_bucket.unwrap_or(copy.bucket_id.clone());
        if !inner.options.buckets.contains(&to_bucket) {
            return no_such_bucket();
        }
        let Some(source) = inner
            .objects
            .get(&(copy.bucket_id.clone(), copy.source_key.clone()))
            .cloned()
        else {
            return storage_error(404, "NoSuchKey", "not_found", "Object not found");
        };
        let upsert = header_str(&headers, "x-upsert") == Some("true");
        if !inner.may_write(&to_bucket, &copy.destination_key, upsert) {
            return duplicate();
        }
        *inner
            .copies
            .entry(copy.destination_key.clone())
            .or_default() += 1;
        inner.finish(&to_bucket, &copy.destination_key, source);
        let id = format!("00000000-0000-4000-8000-{:012}", inner.objects.len());
        Json(json!({"Id": id, "Key": format!("{to_bucket}/{}", copy.destination_key)}))
            .into_response()
    })
    .await
}

async fn get_object(
    State(inner): Shared,
    Path((bucket, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    served(&inner, |inner| {
        if let Some(refused) = refusal(inner, &headers) {
            return refused;
        }
        if !inner.options.buckets.contains(&bucket) {
            return no_such_bucket();
        }
        match inner.objects.get(&(bucket, key)) {
            Some(object) => (
                [(header::CONTENT_TYPE, object.content_type.clone())],
                object.bytes.clone(),
            )
                .into_response(),
            None => storage_error(404, "NoSuchKey", "not_found", "Object not found"),
        }
    })
    .await
}

async fn create_upload(State(inner): Shared, headers: HeaderMap) -> Response {
    served(&inner, |inner| {
        if let Some(refused) = refusal(inner, &headers) {
            return refused;
        }
        if header_str(&headers, "tus-resumable") != Some("1.0.0") {
            return tus_error(412, "Unsupported version");
        }
        let Some(length) = header_str(&headers, "upload-length").and_then(|v| v.parse().ok())
        else {
            return tus_error(400, "Invalid Upload-Length");
        };
        let metadata: HashMap<&str, String> = header_str(&headers, "upload-metadata")
            .unwrap_or_default()
            .split(',')
            .filter_map(|pair| {
                let (name, value) = pair.trim().split_once(' ')?;
                let value = base64::engine::general_purpose::STANDARD
                    .decode(value)
                    .ok()?;
                Some((name, String::from_utf8(value).ok()?))
            })
            .collect();
        let (Some(bucket), Some(key)) = (metadata.get("bucketName"), metadata.get("objectName"))
        else {
            return tus_error(400, "Metadata header is required");
        };
        let upsert = header_str(&headers, "x-upsert") == Some("true");
        if !inner.may_write(bucket, key, upsert) {
            return tus_error(409, TUS_DUPLICATE);
        }
        if !inner.options.buckets.contains(bucket) {
            return tus_error(404, "Bucket not found");
        }
        if length > inner.options.max_object_bytes() {
            return tus_error(413, "Maximum size exceeded");
        }
        let content_type = metadata
            .get("contentType")
            .cloned()
            .unwrap_or_else(|| "application/octet-stream".into());
        if inner.options.refuses_type(&content_type) {
            return tus_error(415, &format!("mime type {content_type} is not supported"));
        }
        inner.uploads_created += 1;
        let version = format!("00000000-0000-4000-8000-{:012}", inner.uploads_created);
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{bucket}/{key}/{version}"));
        let upload = TusUpload {
            bucket: bucket.clone(),
            key: key.clone(),
            content_type,
            length,
            received: Vec::new(),
        };
        inner.uploads.insert(id.clone(), upload);
        // The server knows nothing of /storage/v1: the proxy strips it and passes it on as
        // x-forwarded-prefix, which the server puts back in front of its own path.
        let host = header_str(&headers, "host").unwrap_or("127.0.0.1");
        (
            StatusCode::CREATED,
            [
                (
                    "Location",
                    format!("http://{host}{MOUNT}/upload/resumable/{id}"),
                ),
                ("Tus-Resumable", "1.0.0".to_string()),
            ],
        )
            .into_response()
    })
    .await
}

async fn patch_upload(
    State(inner): Shared,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // A broken connection is decided before `served`, since it keeps part of the body.
    let interrupted = {
        let mut inner = inner.lock().unwrap();
        let next = inner.plan.front().copied().flatten();
        if next == Some(Fault::Interrupted) {
            inner.admit();
            if let Some(upload) = inner.uploads.get_mut(&id) {
                upload.received.extend_from_slice(&body[..body.len() / 2]);
            }
        }
        next == Some(Fault::Interrupted)
    };
    if interrupted {
        return std::future::pending().await;
    }
    served(&inner, |inner| {
        if let Some(refused) = refusal(inner, &headers) {
            return refused;
        }
        let Some(upload) = inner.uploads.get(&id) else {
            return tus_error(404, "The file for this url was not found");
        };
        // Asked of every chunk, before its bytes are looked at.
        let upsert = header_str(&headers, "x-upsert") == Some("true");
        if !inner.may_write(&upload.bucket, &upload.key, upsert) {
            return tus_error(409, TUS_DUPLICATE);
        }
        let upload = inner.uploads.get_mut(&id).expect("looked up above");
        if header_str(&headers, "content-type") != Some("application/offset+octet-stream") {
            return tus_error(415, "Unsupported Media Type");
        }
        if header_str(&headers, "upload-offset").and_then(|v| v.parse().ok())
            != Some(upload.received.len())
        {
            return tus_error(409, "Upload-Offset conflict");
        }
        let end = upload.received.len() + body.len();
        if end > upload.length || (end < upload.length && body.len() != TUS_CHUNK) {
            return tus_error(400, "chunks must be 6 MiB, the last one excepted");
        }
        upload.received.extend_from_slice(&body);
        let mut answer = (
            StatusCode::NO_CONTENT,
            [
                ("Upload-Offset", end.to_string()),
                ("Tus-Resumable", "1.0.0".to_string()),
            ],
        )
            .into_response();
        if end == upload.length {
            let (bucket, key) = (upload.bucket.clone(), upload.key.clone());
            let object = StoredObject {
                bytes: upload.received.clone(),
                content_type: upload.content_type.clone(),
            };
            inner.finish(&bucket, &key, object);
            answer
                .headers_mut()
                .insert("Tus-Complete", "1".parse().unwrap());
        }
        answer
    })
    .await
}

async fn head_upload(State(inner): Shared, Path(id): Path<String>, headers: HeaderMap) -> Response {
    served(&inner, |inner| {
        if let Some(refused) = refusal(inner, &headers) {
            return refused;
        }
        match inner.uploads.get(&id) {
            Some(upload) => (
                StatusCode::OK,
                [
                    ("Upload-Offset", upload.received.len().to_string()),
                    ("Upload-Length", upload.length.to_string()),
                    ("Tus-Resumable", "1.0.0".to_string()),
                    ("Cache-Control", "no-store".to_string()),
                ],
            )
                .into_response(),
            None => tus_error(404, "The file for this url was not found"),
        }
    })
    .await
}

/// Retries at once and often; a generous timeout, so only a hang test ever meets it.
pub fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        request_timeout: Duration::from_secs(20),
        max_attempts: 5,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_elapsed: Duration::from_secs(120),
    }
}
