//! The local object store: `STORAGE_DIR/<key>`, the embedded default when Supabase is not set.
//!
//! An object appears under its final name whole or not at all: the file is written to a temp file
//! beside the target, flushed to disk, then renamed over it (rename is atomic within a
//! directory). Whatever reads the directory — the demo, a sync job — never sees half a recording.

use std::io;
use std::path::{Path, PathBuf};

use tracing::instrument;

use super::{ObjectStore, PreflightError, StorageError, StorageKey};

#[derive(Debug, Clone)]
pub struct LocalStore {
    /// Canonical (absolute, symlinks resolved), so confinement checks compare like with like.
    root: PathBuf,
}

impl LocalStore {
    /// Creates `root` when missing.
    pub fn new(root: &Path) -> Result<Self, StorageError> {
        let problem = |action: &str, e: io::Error| {
            StorageError::Config(format!(
                "cannot {action} STORAGE_DIR {}: {e}",
                root.display()
            ))
        };
        std::fs::create_dir_all(root).map_err(|e| problem("create", e))?;
        let root = root.canonicalize().map_err(|e| problem("resolve", e))?;
        sweep_leftovers(&root);
        Ok(Self { root })
    }

    fn target(&self, key: &StorageKey) -> PathBuf {
        self.root.join(key.as_str())
    }
}

#[async_trait::async_trait]
impl ObjectStore for LocalStore {
    #[instrument(skip_all, fields(key = %key, backend = "local"))]
    async fn put_file(
        &self,
        key: &StorageKey,
        path: &Path,
        _content_type: &str,
    ) -> Result<(), StorageError> {
        let (root, target, source, key) = (
            self.root.clone(),
            self.target(key),
            path.to_path_buf(),
            key.to_string(),
        );
        // std::fs in one blocking task: the copy, fsync and rename would block the runtime.
        tokio::task::spawn_blocking(move || write_atomically(&root, &target, &source, &key))
            .await
            .map_err(|e| StorageError::Config(format!("local store task failed: {e}")))?
    }

    /// The same atomic write as an upload, from the source object's file.
    #[instrument(skip_all, fields(from = %from, to = %to, backend = "local"))]
    async fn copy(&self, from: &StorageKey, to: &StorageKey) -> Result<(), StorageError> {
        let source = self.target(from);
        if !tokio::fs::try_exists(&source).await.unwrap_or(false) {
            return Err(StorageError::NotFound {
                key: from.to_string(),
            });
        }
        self.put_file(to, &source, "").await
    }

    fn location(&self, key: &StorageKey) -> String {
        self.target(key).display().to_string()
    }

    /// Creates and removes a temp file in STORAGE_DIR: the directory exists and this user may
    /// write there (a read-only mount, wrong owner or full disk shows here, not on every call).
    async fn preflight(&self) -> Result<String, PreflightError> {
        let root = self.root.clone();
        let written = tokio::task::spawn_blocking(move || {
            let probe = tempfile::Builder::new()
                .prefix(".preflight-")
                .tempfile_in(&root)?;
            probe.as_file().sync_all()?;
            probe.close()
        })
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e)));
        written.map_err(|source| PreflightError::DirNotWritable {
            dir: self.root.clone(),
            source,
        })?;
        Ok(format!("STORAGE_DIR {} is writable", self.root.display()))
    }
}

/// Removes what a killed worker left in STORAGE_DIR: the temp files of uploads half written
/// (`<tenant>/.upload-*.part` and `<tenant>/unmatched/.upload-*.part`) and the preflight's probe
/// (`.preflight-*`). A temp file deletes itself on every error, but not on SIGKILL. The calls of
/// half-written uploads were never recorded as stored, so they are uploaded again.
/// `STORAGE_DIR` is therefore one worker's own.
fn sweep_leftovers(root: &Path) {
    remove_leftovers(root, |name| name.starts_with(".preflight-"));
    let Ok(tenants) = std::fs::read_dir(root) else {
        return;
    };
    let dirs = tenants
        .flatten()
        .filter(|e| e.path().is_dir())
        .flat_map(|tenant| [tenant.path(), tenant.path().join("unmatched")]);
    for dir in dirs {
        remove_leftovers(&dir, |name| {
            name.starts_with(".upload-") && name.ends_with(".part")
        });
    }
}

/// Removes the files of `dir` (not its directories) whose name `is_leftover` says a killed run
/// left.
fn remove_leftovers(dir: &Path, is_leftover: impl Fn(&str) -> bool) {
    let Ok(files) = std::fs::read_dir(dir) else {
        return;
    };
    for file in files.flatten() {
        let name = file.file_name().to_string_lossy().into_owned();
        if !is_leftover(&name) || !file.path().is_file() {
            continue;
        }
        match std::fs::remove_file(file.path()) {
            Ok(()) => {
                tracing::info!(path = %file.path().display(), "Removed a temp file an earlier run left in STORAGE_DIR")
            }
            Err(error) => {
                tracing::warn!(%error, path = %file.path().display(), "Could not remove a temp file an earlier run left in STORAGE_DIR")
            }
        }
    }
}

fn write_atomically(
    root: &Path,
    target: &Path,
    source: &Path,
    key: &str,
) -> Result<(), StorageError> {
    let io_err = |action: &'static str, path: &Path| {
        let (key, path) = (key.to_string(), path.to_path_buf());
        move |source| StorageError::Io {
            key,
            action,
            path,
            source,
        }
    };
    let parent = target.parent().expect("a key has a tenant directory");
    std::fs::create_dir_all(parent).map_err(io_err("create directory", parent))?;
    // Keys are made of safe parts, but the directories under STORAGE_DIR are the operator's:
    // a `tenant_1` symlink pointing elsewhere must not carry recordings out of the store.
    let real_parent = parent
        .canonicalize()
        .map_err(io_err("resolve directory", parent))?;
    if !real_parent.starts_with(root) {
        return Err(StorageError::OutsideRoot {
            key: key.to_string(),
            path: real_parent,
            root: root.to_path_buf(),
        });
    }

    let mut input = std::fs::File::open(source).map_err(io_err("open", source))?;
    let mut temp = tempfile::Builder::new()
        .prefix(".upload-")
        .suffix(".part")
        .tempfile_in(&real_parent)
        .map_err(io_err("create a temp file in", &real_parent))?;
    // On any error below, `temp` is dropped and deletes itself: no litter, no partial object.
    io::copy(&mut input, temp.as_file_mut()).map_err(io_err("copy", source))?;
    temp.as_file()
        .sync_all()
        .map_err(io_err("flush", temp.path()))?;
    let final_path = real_parent.join(target.file_name().expect("a key names a file"));
    temp.persist(&final_path)
        .map_err(|e| io_err("rename into", &final_path)(e.error))?;
    // The rename itself is durable only once the directory entry is on disk.
    if let Ok(dir) = std::fs::File::open(&real_parent) {
        let _ = dir.sync_all();
    }
    // The one info line per recording is the pipeline's `RecordingStored`.
    tracing::debug!(location = %final_path.display(), "stored locally");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// What tests/faults.rs saw after a SIGKILL landed inside `write_atomically`, and (under
    /// load, FAULTS_SEED=9170925132304585660) inside the preflight.
    #[test]
    fn a_killed_runs_temp_files_are_removed_at_start_and_objects_are_kept() {
        let root = tempfile::tempdir().unwrap();
        let tenant = root.path().join("tenant_1");
        std::fs::create_dir_all(&tenant).unwrap();
        std::fs::write(tenant.join(".upload-xohwk9.part"), b"half").unwrap();
        std::fs::write(tenant.join("1.1_recording.mp3"), b"whole").unwrap();
        std::fs::write(root.path().join(".preflight-psqJAT"), b"").unwrap();
        LocalStore::new(root.path()).unwrap();
        assert_eq!(names_in(&tenant), ["1.1_recording.mp3"]);
        assert_eq!(names_in(root.path()), ["tenant_1"]);
    }
}
