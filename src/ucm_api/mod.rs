//! Grandstream's HTTPS API ("IPPBX HTTPS API"): a second road to a tenant's recordings, without a
//! browser, where the console serves it (docs/https-api.md). This module is the only one that
//! knows the API's requests; the rest of the worker sees [`ApiClient`] and its typed answers.
//!
//! - [`client`]: the session (challenge → login → cookie in the body), pacing, re-login once.
//! - [`cdr`]: `cdrapi` pages, groups flattened, `recordfiles` read as bare file names.
//! - [`recording`]: `recapi` answers told apart by their bytes; `.venc` left to the browser.
//! - [`error`]: the guide's status codes, each with its [`crate::failure::NextStep`].

pub mod cdr;
pub mod client;
pub mod error;
pub mod recording;

pub use cdr::{Cdr, CdrPage, CdrPart};
pub use client::{transport_failure, ApiClient, ApiTarget, CdrQuery, Pacing};
pub use error::{ApiError, ApiErrorKind, Road};
pub use recording::FileDir;
