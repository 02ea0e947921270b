//! The Python backend's side of `pbx_password`: Fernet tokens made and read by `/usr/bin/python3`
//! with `cryptography` (python3-cryptography, installed by scripts/install-deps.sh).

use std::io::Write as _;
use std::process::{Command, Stdio};

fn python(args: &[&str], stdin: &str) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/fernet.py");
    let mut child = Command::new("/usr/bin/python3")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run /usr/bin/python3 (apt-get install python3-cryptography)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "fernet.py {}: {}",
        args[0],
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A new Fernet key, as the backend's `ENCRYPTION_KEY`.
pub fn key() -> String {
    python(&["key"], "").trim().to_string()
}

/// What the backend writes into `tenants.pbx_password`.
pub fn encrypt(key: &str, password: &str) -> String {
    python(&["encrypt", key], password).trim().to_string()
}

/// What the backend reads back from `tenants.pbx_password`.
pub fn decrypt(key: &str, token: &str) -> String {
    python(&["decrypt", key], token)
}
