//! The environment of a worker that drives a browser: the shared chromedriver, the shipped
//! selectors, the stand-in's self-signed certificate trusted, and the download and artefact
//! directories inside one work directory. Used by the tests that run the binary against the
//! console stand-in (`tenant test`, `dashboard`).

use std::path::Path;

use super::bin::UcmScraper;
use super::browser::Chromedriver;

/// `command`, run in `work` with a browser: the environment every such test gives it.
pub fn with_browser(command: UcmScraper, work: &Path) -> UcmScraper {
    command
        .current_dir(work)
        .with_path()
        .env("WEBDRIVER_URL", &Chromedriver::shared().url)
        .env("UCM_ACCEPT_INVALID_CERTS", "true")
        .env(
            "SELECTORS_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/selectors"),
        )
        .env("DOWNLOAD_DIR", work.join("downloads"))
        .env("ARTIFACTS_DIR", work.join("artifacts"))
}
