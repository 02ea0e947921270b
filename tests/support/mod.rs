//! Support code shared by the integration tests: real services started on demand.
#![allow(dead_code)] // each test binary uses a different part of the support code

pub mod audio;
pub mod bin;
pub mod browser;
pub mod console;
pub mod fernet;
pub mod grid;
pub mod pg;
pub mod scenario;
pub mod session;
pub mod storage;
pub mod ucm_api;
pub mod webhook;
pub mod worker;

/// Starts `script` in a shell of its own session that outlives this test process, to clean up
/// after it (stop a server, kill browsers, remove a temp dir). Never waited for, on purpose.
pub fn spawn_reaper(script: &str, what: &str) {
    #[allow(clippy::zombie_processes)]
    std::process::Command::new("setsid")
        .args(["sh", "-c", script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start the {what} reaper: {e}"));
}
