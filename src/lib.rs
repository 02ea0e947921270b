//! ucm-scraper: collects call recordings from Grandstream UCM / CloudUCM web consoles.
//!
//! # Layout
//!
//! The modules follow the operators' guide, one step each:
//! get active tenants → log in → download → convert → upload → trigger AI.
//! They stand in layers (docs/architecture.md, "Layers"); a module may use the modules of its
//! own layer and of the layers below, never one above (`tests/layers.rs` checks it):
//!
//! 1. **commands**: [`commands`] (what each command does; the binary only parses and hands
//!    over), [`cli`] (the command line), [`doctor`], [`probe`] and [`learn`] (the bodies of
//!    `doctor`, `tenant test` / `selectors check --tenant` and `selectors learn`), and
//!    [`dashboard`] (the operators' web pages: the same acts as the commands, from a browser).
//! 2. **pipeline**: [`pipeline`], one pass: claim → driver → transcode → store → record →
//!    trigger, per tenant, in rooms by job: `pass`, `tenant`, `call`, `recorder`, `summary`.
//! 3. **drivers and keepers**: [`driver`] (the seam between a pass and what reaches a tenant's
//!    recordings: sign in, fetch a call's recording, read the list; the browser is the one
//!    driver today), and what a pass keeps between passes: [`learned`] (a tenant's own selectors file,
//!    learnt when a required locator drifted), [`unmatched`] (recordings the console lists
//!    without a call), [`ways`] (the way to each tenant's Recordings list).
//! 4. **services**, the outside world a pass drives: [`console`] (the UCM web console through
//!    headless Chromium, the only module that knows fantoccini; it only drives the browser, with
//!    locators from [`selectors`]), [`storage`] (Supabase or a local directory), [`transcode`] (WAV to
//!    speech-sized MP3), [`ai`] (the signed webhook), [`ucm_api`] (Grandstream's HTTPS API, not
//!    yet driven by a pass).
//! 5. **records**, the backend's rows: [`tenants`] (active tenants with opened credentials,
//!    login blocks, console locks; never the console) and [`calls`] (`cdr_records` as a work
//!    queue).
//! 6. **base**: [`config`] (typed settings, validated once), [`selectors`] (the
//!    `selectors/*.toml` format, its parser, the choice by firmware, and `selectors learn`'s pure
//!    inference from a page's HTML: data, never a browser), [`ids`], [`failure`] (what happens
//!    after a failure, [`failure::NextStep`]), [`db`] (the pool and the migrations),
//!    [`secrets`] (a redacting wrapper, the `pbx_password` ciphers), [`retry`], [`metrics`]
//!    (`/healthz`, `/readyz`, `/metrics`), [`telemetry`], [`scheduler`].

pub mod ai;
pub mod calls;
pub mod cli;
pub mod commands;
pub mod config;
pub mod console;
pub mod dashboard;
pub mod db;
pub mod doctor;
pub mod driver;
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
pub mod selectors;
pub mod storage;
pub mod telemetry;
pub mod tenants;
pub mod transcode;
pub mod ucm_api;
pub mod unmatched;
pub mod ways;
