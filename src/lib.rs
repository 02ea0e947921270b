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
//! - [`transcode`]: WAV (PCM, float, G.711, any header a recorder writes) to speech-sized MP3.

pub mod cli;
pub mod config;
pub mod db;
pub mod ids;
pub mod secrets;
pub mod telemetry;
pub mod transcode;
