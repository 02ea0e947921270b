//! ucm-scraper: collects call recordings from Grandstream UCM / CloudUCM web consoles.
//!
//! # Layout
//!
//! The modules follow the operators' guide, one step each:
//! get active tenants → log in → download → convert → upload → trigger AI.
//!
//! - [`config`]: typed settings from the environment, validated once.
//! - [`telemetry`]: the tracing subscriber (text or JSON).
//! - [`secrets`]: a redacting wrapper for secrets, and the `pbx_password` ciphers.
//! - [`db`]: the Postgres pool and the migrations.
//! - [`ids`]: `TenantId` and `UniqueId`, validated once.
//! - [`cli`]: the command line, as `ucm-scraper --help` shows it.
//! - [`scheduler`]: one pass at start, then every `SCRAPE_INTERVAL`, until a signal.
//! - [`metrics`]: `/healthz` and `/metrics` for `run`.
//! - [`pipeline`]: one pass: claim → console → transcode → store → record → trigger, per tenant.
//! - [`probe`]: `tenant test` and `selectors check --tenant` on one live console.
//! - [`dashboard`]: the operators' web UI (`DASHBOARD_ADDR`, `ucm-scraper dashboard`).
//! - [`doctor`]: `ucm-scraper doctor`, every dependency checked, one line each.
//! - [`failure`]: what happens after a failure ([`failure::NextStep`]), one answer per error.
//! - [`retry`]: backoff for requests to outside services (storage, the AI webhook).
//! - [`storage`]: upload a recording under `tenant_<id>/<uniqueid>_recording.mp3` (Supabase or a local directory).
//! - [`ai`]: trigger AI processing with a signed webhook.
//! - [`tenants`]: active tenants with opened credentials, login blocks, the `tenant` commands.
//! - [`calls`]: `cdr_records` as a work queue: claim with leases, mark stored/failed, AI triggers.
//! - [`console`]: the UCM web console through headless Chromium (the only module that knows
//!   fantoccini); locators come from `selectors/*.toml`.
//! - [`learn`]: `selectors learn`: a draft selectors file inferred from a console's pages and
//!   the tenant's known calls.
//! - [`learned`]: a tenant's own selectors file, learnt when a required locator drifted, kept
//!   in Postgres; healing during a pass.
//! - [`transcode`]: WAV (PCM, float, G.711, any header a recorder writes) to speech-sized MP3.
//! - [`unmatched`]: recordings the console lists without a call: noticed, reported, kept, linked.
//! - [`ways`]: the way to each tenant's Recordings list that worked, kept between passes.

pub mod ai;
pub mod calls;
pub mod cli;
pub mod config;
pub mod console;
pub mod dashboard;
pub mod db;
pub mod doctor;
pub mod failure;
pub mod ids;
pub mod learn;
pub mod learned;
pub mod metrics;
pub mod pipeline;
pub mod probe;
pub mod retry;
pub mod scheduler;
pub mod secrets;
pub mod storage;
pub mod telemetry;
pub mod tenants;
pub mod transcode;
pub mod unmatched;
pub mod ways;
