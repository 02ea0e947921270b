//! Support code shared by the integration tests: real services started on demand.
#![allow(dead_code)] // each test binary uses a different part of the support code

pub mod audio;
pub mod browser;
pub mod console;
pub mod fernet;
pub mod grid;
pub mod pg;
pub mod scenario;
pub mod storage;
pub mod webhook;
