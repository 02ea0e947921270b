//! Support code shared by the integration tests: real services started on demand.
#![allow(dead_code)] // each test binary uses a different part of the support code

pub mod audio;
pub mod pg;
