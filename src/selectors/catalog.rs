//! The choice between the selectors files of a directory: by firmware, default first for login.

use std::path::{Path, PathBuf};

use super::format::{SelectorSet, SelectorsError};

impl SelectorSet {
    /// Whether one of this file's firmware patterns matches `version`.
    pub fn matches_firmware(&self, version: &str) -> bool {
        self.firmware.iter().any(|p| glob_match(p, version))
    }
}

/// All selectors files of a directory, and the choice between them. None only when loaded for
/// `selectors learn` ([`SelectorCatalog::load_dir_to_learn`]).
#[derive(Debug, Clone)]
pub struct SelectorCatalog {
    sets: Vec<SelectorSet>,
}

impl SelectorCatalog {
    /// Loads every `*.toml` in `dir` (in name order). Fails on the first broken file, or when the
    /// directory holds several files and not exactly one `default = true`.
    pub fn load_dir(dir: &Path) -> Result<Self, SelectorsError> {
        let files = Self::files(dir)?;
        let sets = files
            .iter()
            .map(|f| SelectorSet::load(f))
            .collect::<Result<Vec<_>, _>>()?;
        Self::from_sets(dir, sets)
    }

    /// For `selectors learn`, which drafts a file for a console no file describes:
    /// [`Self::load_dir`], except that a directory holding no file gives a catalog of none (a
    /// new install, or an operator starting afresh). A directory that cannot be read is still an
    /// error: a missing one is most likely a mistyped SELECTORS_DIR.
    pub fn load_dir_to_learn(dir: &Path) -> Result<Self, SelectorsError> {
        match Self::files(dir)?.is_empty() {
            true => Ok(Self { sets: Vec::new() }),
            false => Self::load_dir(dir),
        }
    }

    /// The `*.toml` files of `dir`, sorted.
    pub fn files(dir: &Path) -> Result<Vec<PathBuf>, SelectorsError> {
        let entries = std::fs::read_dir(dir).map_err(|e| {
            SelectorsError::new(
                dir,
                format!("cannot be read ({e}): set SELECTORS_DIR to the selectors directory"),
            )
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        Ok(files)
    }

    pub fn from_sets(dir: &Path, sets: Vec<SelectorSet>) -> Result<Self, SelectorsError> {
        let defaults = sets.iter().filter(|s| s.default).count();
        match (sets.len(), defaults) {
            (0, _) => Err(SelectorsError::new(dir, "holds no *.toml selectors file")),
            (1, _) | (_, 1) => Ok(Self { sets }),
            (_, 0) => Err(SelectorsError::new(
                dir,
                "holds several selectors files but none says `default = true`: mark the one to use for unknown firmware",
            )),
            (_, n) => Err(SelectorsError::new(
                dir,
                format!("holds {n} files with `default = true`: keep exactly one"),
            )),
        }
    }

    /// The file to use for the console's login page, before the firmware is known: the default
    /// first, then the others in name order.
    pub fn login_candidates(&self) -> impl Iterator<Item = &SelectorSet> {
        self.sets
            .iter()
            .filter(|s| s.default || self.sets.len() == 1)
            .chain(
                self.sets
                    .iter()
                    .filter(|s| !(s.default || self.sets.len() == 1)),
            )
    }

    /// The file whose firmware patterns match `firmware`; a specific file beats the default
    /// (whose patterns are usually broad), then name order decides.
    pub fn for_firmware(&self, firmware: &str) -> Option<&SelectorSet> {
        let matching = || self.sets.iter().filter(|s| s.matches_firmware(firmware));
        matching()
            .find(|s| !s.default)
            .or_else(|| matching().next())
    }

    pub fn sets(&self) -> &[SelectorSet] {
        &self.sets
    }
}

/// `*` matches any run of characters, `?` one character; everything else literally.
pub(super) fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Classic two-pointer wildcard match with backtracking to the last `*`.
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}
