//! A Supabase Storage stand-in: the object REST API on 127.0.0.1, port 0 (DESIGN.md §5, §8b).
//!
//! The real server (supabase/storage) needs Node ≥ 24 and is not on npm, so this one copies what
//! a client sees, from its sources (`src/internal/errors/codes.ts`, `storage-error.ts`,
//! `src/http/error-handler.ts`, `src/http/plugins/jwt.ts`, `routes/object/createObject.ts`):
//!
//! - `POST /storage/v1/object/{bucket}/{*key}` creates; with `x-upsert: true` it overwrites.
//!   `PUT` is "update", always an upsert. Success: `200 {"Id":…,"Key":"<bucket>/<key>"}`.
//! - `GET /storage/v1/object/{bucket}/{*key}` returns the object with its content type.
//! - Errors are rendered `{"statusCode":"<real>","code":…,"error":…,"message":…}` with HTTP 400
//!   whatever the real status is, except 500 (the error handler sends `userStatusCode`, which is
//!   400 for every status but 500): duplicate `"409"`, too large `"413"`, no bucket `"404"`,
//!   bad JWT `"403"` (`AccessDenied`, `error: "Unauthorized"`), database busy `"503"`.
//! - The API gateway in front checks `apikey` first and answers `401 {"message":"Invalid API
//!   key",…}` itself. A legacy service-role JWT must also be the bearer token; a new
//!   `sb_secret_…` key goes in `apikey` only (sent as a bearer it is not a JWT: "Invalid Compact
//!   JWS").
//!
//! Faults are injected per request, before anything else: a schedule for the next requests
//! ([`StorageStandIn::fail_next`]) and/or a seeded random share ([`StorageStandIn::fail_share`]),
//! so tests are reproducible. Counters: requests, stores per key, objects.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::json;
use ucm_scraper::config::SupabaseSettings;
use ucm_scraper::secrets::Secret;

/// Shaped like a legacy service-role JWT (header.payload.signature).
pub const LEGACY_KEY: &str = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.stand-in";
pub const BUCKET: &str = "call-recordings";

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
}

#[derive(Debug, Clone)]
pub struct StorageOptions {
    pub service_role_key: String,
    pub buckets: Vec<String>,
    /// The bucket's file size limit.
    pub max_object_bytes: usize,
}

impl Default for StorageOptions {
    fn default() -> Self {
        Self {
            service_role_key: LEGACY_KEY.into(),
            buckets: vec![BUCKET.into()],
            // Supabase's free-plan global limit.
            max_object_bytes: 50 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub bytes: Vec<u8>,
    pub content_type: String,
}

#[derive(Debug)]
struct Inner {
    options: StorageOptions,
    objects: HashMap<(String, String), StoredObject>,
    requests: usize,
    stores: HashMap<String, usize>,
    scheduled: VecDeque<Fault>,
    random: Option<(StdRng, f64, Fault)>,
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
            scheduled: VecDeque::new(),
            random: None,
        }));
        let router = Router::new()
            .route(
                "/storage/v1/object/{bucket}/{*key}",
                post(put_object).put(put_object).get(get_object),
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
        self.settings_with_key(&self.lock().options.service_role_key.clone())
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
        self.lock().scheduled.extend(faults);
    }

    /// After the schedule is used up, each request meets `fault` with probability `share`,
    /// drawn from a generator seeded with `seed`.
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

    pub fn object(&self, bucket: &str, key: &str) -> Option<StoredObject> {
        self.lock()
            .objects
            .get(&(bucket.to_string(), key.to_string()))
            .cloned()
    }

    pub fn object_count(&self) -> usize {
        self.lock().objects.len()
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

/// Supabase's rendering of a storage error (see the module comment).
fn storage_error(status: u16, code: &str, error: &str, message: &str) -> Response {
    let http = if status == 500 { 500 } else { 400 };
    let body =
        json!({"statusCode": status.to_string(), "code": code, "error": error, "message": message});
    (StatusCode::from_u16(http).unwrap(), Json(body)).into_response()
}

/// Counts the request and returns the fault it meets, if any.
fn admit(inner: &mut Inner) -> Option<Fault> {
    inner.requests += 1;
    if let Some(fault) = inner.scheduled.pop_front() {
        return Some(fault);
    }
    let (rng, share, fault) = inner.random.as_mut()?;
    rng.gen_bool(*share).then_some(*fault)
}

async fn answer_fault(fault: Fault) -> Response {
    match fault {
        Fault::Status(500) => storage_error(
            500,
            "InternalError",
            "InternalError",
            "Internal server error",
        ),
        Fault::Status(status) => {
            // Errors from the gateway or the load balancer in front keep their HTTP status.
            let body = json!({"statusCode": status.to_string(), "error": "Service Unavailable", "message": "upstream unavailable"});
            (StatusCode::from_u16(status).unwrap(), Json(body)).into_response()
        }
        Fault::DatabaseBusy => storage_error(
            503,
            "DatabaseConnectionLimit",
            "DatabaseConnectionLimit",
            "The database has reached its maximum number of connections. Please try again later.",
        ),
        Fault::SlowDown { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after_secs.to_string())],
            Json(json!({"statusCode": "429", "error": "too_many_connections", "code": "SlowDown", "message": "Too many connections issued to the database"})),
        )
            .into_response(),
        Fault::Hang => std::future::pending().await,
    }
}

/// The gateway's `apikey` check, then the storage server's JWT check: the answer that refuses
/// the request, if any.
fn refusal(key: &str, headers: &HeaderMap) -> Option<Response> {
    let gateway = |message: &str, hint: &str| {
        Some(
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({"message": message, "hint": hint})),
            )
                .into_response(),
        )
    };
    match headers.get("apikey").and_then(|v| v.to_str().ok()) {
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
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_start_matches("Bearer ").trim());
    let denied = |message| Some(storage_error(403, "AccessDenied", "Unauthorized", message));
    match bearer {
        // The gateway swaps a valid sb_secret_ apikey for a service-role JWT.
        None if key.starts_with("sb_secret_") => None,
        None => denied("jwt must be provided"),
        Some(token) if token.split('.').count() != 3 => denied("Invalid Compact JWS"),
        Some(token) if token != key => denied("invalid signature"),
        Some(_) => None,
    }
}

async fn put_object(
    State(inner): Shared,
    method: Method,
    Path((bucket, key)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = admit(&mut inner.lock().unwrap());
    if let Some(fault) = fault {
        return answer_fault(fault).await;
    }
    let mut inner = inner.lock().unwrap();
    if let Some(refused) = refusal(&inner.options.service_role_key, &headers) {
        return refused;
    }
    if !inner.options.buckets.contains(&bucket) {
        return storage_error(404, "NoSuchBucket", "Bucket not found", "Bucket not found");
    }
    if body.len() > inner.options.max_object_bytes {
        return storage_error(
            413,
            "EntityTooLarge",
            "Payload too large",
            "The object exceeded the maximum allowed size",
        );
    }
    let upsert = method == Method::PUT
        || headers.get("x-upsert").and_then(|v| v.to_str().ok()) == Some("true");
    let id = (bucket.clone(), key.clone());
    if !upsert && inner.objects.contains_key(&id) {
        return storage_error(
            409,
            "ResourceAlreadyExists",
            "Duplicate",
            "The resource already exists",
        );
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    inner.objects.insert(
        id,
        StoredObject {
            bytes: body.to_vec(),
            content_type,
        },
    );
    *inner.stores.entry(key.clone()).or_default() += 1;
    let n = inner.objects.len();
    Json(
        json!({"Id": format!("00000000-0000-4000-8000-{n:012}"), "Key": format!("{bucket}/{key}")}),
    )
    .into_response()
}

async fn get_object(
    State(inner): Shared,
    Path((bucket, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let fault = admit(&mut inner.lock().unwrap());
    if let Some(fault) = fault {
        return answer_fault(fault).await;
    }
    let inner = inner.lock().unwrap();
    if let Some(refused) = refusal(&inner.options.service_role_key, &headers) {
        return refused;
    }
    if !inner.options.buckets.contains(&bucket) {
        return storage_error(404, "NoSuchBucket", "Bucket not found", "Bucket not found");
    }
    match inner.objects.get(&(bucket, key)) {
        Some(object) => (
            [(header::CONTENT_TYPE, object.content_type.clone())],
            object.bytes.clone(),
        )
            .into_response(),
        None => storage_error(404, "NoSuchKey", "not_found", "Object not found"),
    }
}
