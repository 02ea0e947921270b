//! Selenium Grid managed downloads (`DOWNLOAD_MODE=grid`): the browser runs on a Grid node
//! with no disk shared with the worker, so finished downloads are listed and fetched over the
//! WebDriver connection (`/session/{id}/se/files`, Selenium 4.8+ with
//! `--enable-managed-downloads true`), before the session closes.

use std::io::Read as _;
use std::path::Path;

use base64::Engine as _;
use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::{json, Value};

use super::browser::{Browser, Step};
use super::downloads::ExpectedFile;
use super::error::ConsoleErrorKind;

/// The Grid's file endpoints for the current session.
#[derive(Debug)]
enum FilesCmd {
    List,
    Fetch(String),
    Clear,
}

impl WebDriverCompatibleCommand for FilesCmd {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/files", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        match self {
            FilesCmd::List => (http::Method::GET, None),
            FilesCmd::Fetch(name) => (
                http::Method::POST,
                Some(json!({ "name": name }).to_string()),
            ),
            FilesCmd::Clear => (http::Method::DELETE, None),
        }
    }
}

/// Fetches the expected recording from the node into `dir` once the node has it complete,
/// under a temporary name first so the directory watcher never sees half a file. Returns
/// whether it was fetched; not yet is normal while the browser still downloads.
pub(crate) async fn pull(browser: &Browser, expected: &ExpectedFile, dir: &Path) -> Step<bool> {
    let names = browser
        .run(
            "listing the Grid node's downloads",
            browser.client().issue_cmd(FilesCmd::List),
        )
        .await?;
    let names = value_of(&names)["names"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let Some(name) = names
        .iter()
        .filter_map(Value::as_str)
        .find(|n| !n.ends_with(".crdownload") && expected.matches(file_name(n)))
    else {
        return Ok(false);
    };
    let answer = browser
        .run(
            "fetching a download from the Grid node",
            browser
                .client()
                .issue_cmd(FilesCmd::Fetch(name.to_string())),
        )
        .await?;
    let bytes = value_of(&answer)["contents"]
        .as_str()
        .ok_or_else(|| "the answer has no contents".to_string())
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| e.to_string())
        })
        .and_then(|zipped| unzip_single(&zipped))
        .map_err(|problem| ConsoleErrorKind::GridFile {
            name: name.to_string(),
            problem,
        })?;
    let target = dir.join(file_name(name));
    let partial = dir.join(format!("{}.crdownload", file_name(name)));
    std::fs::write(&partial, bytes)
        .and_then(|()| std::fs::rename(&partial, &target))
        .map_err(|source| ConsoleErrorKind::Io {
            what: "cannot write a Grid download into",
            path: dir.to_path_buf(),
            source,
        })?;
    Ok(true)
}

/// Deletes the node's downloads of this session before the next click, so an earlier file is
/// never taken for the next call's.
pub(crate) async fn clear(browser: &Browser) -> Step<()> {
    browser
        .run(
            "clearing the Grid node's downloads",
            browser.client().issue_cmd(FilesCmd::Clear),
        )
        .await
        .map(|_| ())
}

/// The node chose the name; only its last component is trusted here.
fn file_name(name: &str) -> &str {
    Path::new(name)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("download")
}

/// fantoccini hands back either the whole answer or its `value`, depending on the command.
fn value_of(answer: &Value) -> &Value {
    answer.get("value").unwrap_or(answer)
}

/// The Grid sends a file as a zip archive holding that one file.
fn unzip_single(zipped: &[u8]) -> Result<Vec<u8>, String> {
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(zipped)).map_err(|e| e.to_string())?;
    let mut entry = archive.by_index(0).map_err(|e| e.to_string())?;
    let mut bytes = Vec::with_capacity(entry.size() as usize);
    entry.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    Ok(bytes)
}
