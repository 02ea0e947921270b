//! The tenant's newest failure screenshot in `ARTIFACTS_DIR`
//! (`<ARTIFACTS_DIR>/<tenant id>/<call or "session">/<UTC time>/screenshot.png`, as
//! `console::artifacts` saves it).
//!
//! The path is made from the settings and the tenant's numeric id only; the directories below
//! it are read from the disk, never taken from a request, and symbolic links are not followed.

use std::path::{Path, PathBuf};

use crate::ids::TenantId;

/// The newest saved failure of a tenant that has a screenshot.
#[derive(Debug, Clone)]
pub struct Shot {
    pub png: PathBuf,
    /// The call's id, or `session` for a failure outside a call.
    pub call: String,
    /// The folder's UTC time, as saved (`20261206T101502.123Z`).
    pub saved: String,
    /// `failure.txt` beside it: what failed, the locator, the page's address.
    pub failure: String,
}

/// The tenant's newest screenshot, if any.
pub fn newest(artifacts_dir: &Path, tenant: TenantId) -> Option<Shot> {
    let tenant_dir = artifacts_dir.join(tenant.0.to_string());
    let mut newest: Option<(String, String, PathBuf)> = None;
    for call in real_dirs(&tenant_dir) {
        for saved in real_dirs(&tenant_dir.join(&call)) {
            let dir = tenant_dir.join(&call).join(&saved);
            let is_file = std::fs::symlink_metadata(dir.join("screenshot.png"))
                .is_ok_and(|m| m.file_type().is_file());
            let newer = newest.as_ref().is_none_or(|(time, _, _)| saved > *time);
            if is_file && newer {
                newest = Some((saved, call.clone(), dir));
            }
        }
    }
    let (saved, call, dir) = newest?;
    Some(Shot {
        png: dir.join("screenshot.png"),
        failure: std::fs::read_to_string(dir.join("failure.txt")).unwrap_or_default(),
        call,
        saved,
    })
}

/// The names of the real directories (not links) in `dir`.
fn real_dirs(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn save(root: &Path, tenant: i64, call: &str, saved: &str, png: &[u8]) {
        let dir = root.join(tenant.to_string()).join(call).join(saved);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("screenshot.png"), png).unwrap();
        std::fs::write(dir.join("failure.txt"), format!("{call} {saved}")).unwrap();
    }

    #[test]
    fn the_newest_of_the_tenants_own_is_found() {
        let root = tempfile::tempdir().unwrap();
        save(root.path(), 1, "session", "20261201T100000.000Z", b"old");
        save(root.path(), 1, "1770.1", "20261202T100000.000Z", b"new");
        save(root.path(), 2, "session", "20261203T100000.000Z", b"other");
        let shot = newest(root.path(), TenantId(1)).unwrap();
        assert_eq!(std::fs::read(&shot.png).unwrap(), b"new");
        assert_eq!(shot.call, "1770.1");
        assert_eq!(shot.failure, "1770.1 20261202T100000.000Z");
        assert!(newest(root.path(), TenantId(3)).is_none());
    }

    #[test]
    fn links_are_not_followed() {
        let root = tempfile::tempdir().unwrap();
        save(root.path(), 2, "session", "20261203T100000.000Z", b"other");
        std::fs::create_dir_all(root.path().join("1")).unwrap();
        std::os::unix::fs::symlink(root.path().join("2/session"), root.path().join("1/session"))
            .unwrap();
        assert!(newest(root.path(), TenantId(1)).is_none());
    }
}
