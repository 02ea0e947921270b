//! The layers of the library (docs/architecture.md, "Layers"), checked against the imports:
//! every top-level module of `src/` sits in one layer, and may use modules of its own layer and
//! of the layers below it, never one above. Read from the source text, so it needs no build of
//! its own and runs in a moment.
//!
//! The table is by top-level module (`pipeline`, not `pipeline::tenant`), so a module split into
//! a directory keeps its place.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top to bottom. A new top-level module must be given a place here (the test says so).
const LAYERS: &[(&str, &[&str])] = &[
    // What each command of the command line does, and the command line itself. `doctor`,
    // `probe` and `learn` are the bodies of `doctor`, `tenant test` / `selectors check
    // --tenant` and `selectors learn`.
    (
        "commands",
        &["commands", "cli", "dashboard", "doctor", "probe", "learn"],
    ),
    // One pass over the tenants: claim, fetch, convert, store, record, trigger.
    ("pipeline", &["pipeline"]),
    // The drivers a pass reaches recordings through (the seam, the browser behind it), and what
    // a pass keeps between passes besides the calls: learned selectors, recordings without a
    // call, the way to the Recordings list.
    ("keepers", &["driver", "learned", "unmatched", "ways"]),
    // The outside world the pipeline drives: the console's browser, storage, the converter, the
    // AI webhook and the console's HTTPS API.
    (
        "services",
        &["console", "storage", "transcode", "ai", "ucm_api"],
    ),
    // The database's rows: tenants and their calls. Below the console, so that `tenants`
    // never reaches it.
    ("records", &["tenants", "calls"]),
    // What everything stands on. `selectors` is the selectors files' format and the pure
    // inference from saved pages: data, no browser, so the console and the keepers both read it.
    (
        "base",
        &[
            "config",
            "selectors",
            "ids",
            "failure",
            "db",
            "secrets",
            "retry",
            "metrics",
            "telemetry",
            "scheduler",
        ],
    ),
];

/// Imports that break the layers today, each with why and where it goes. The test fails once
/// one is gone, so the list only shrinks.
const KNOWN_EXCEPTIONS: &[(&str, &str, &str)] = &[];

/// What `src/main.rs` may use: it parses, sets up logging and hands over to a command.
const BINARY_USES: &[&str] = &["cli", "commands", "telemetry"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`src/pipeline/tenant.rs` → `pipeline`).
fn module_of(file: &Path) -> String {
    let relative = file.strip_prefix(src()).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    first.to_str().unwrap().trim_end_matches(".rs").to_string()
}

/// The text without comments (so a doc comment naming `crate::x` is no import) and without
/// string literals' contents.
fn code_only(text: &str) -> String {
    let mut code = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        code.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            '"' => {
                code.push('"');
                let mut escaped = false;
                for c in chars.by_ref() {
                    if !escaped && c == '"' {
                        break;
                    }
                    escaped = !escaped && c == '\\';
                }
                code.push('"');
            }
            _ => code.push(c),
        }
    }
    code
}

/// The top-level modules a file's code names after `root::` (`crate::` in the library,
/// `ucm_scraper::` in the binary), including each one in a `root::{a, b::c}` group.
fn uses(code: &str, root: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices(root) {
        // `foo_crate::` is not `crate::`.
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + root.len()..];
        match rest.strip_prefix('{') {
            Some(group) => {
                let mut depth = 0;
                let mut item = String::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            found.insert(ident(&item));
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    if depth == 0 {
                        item.push(c);
                    }
                }
                found.insert(ident(&item));
            }
            None => {
                found.insert(ident(rest));
            }
        }
    }
    found.retain(|m| !m.is_empty() && m != "self");
    found
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

/// Every library module's uses of other top-level modules.
fn library_uses() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let module = module_of(&file);
        if module == "main" || module == "lib" {
            continue;
        }
        let code = code_only(&std::fs::read_to_string(&file).unwrap());
        let used = graph.entry(module.clone()).or_default();
        used.extend(uses(&code, "crate::").into_iter().filter(|m| *m != module));
    }
    graph
}

#[test]
fn every_module_has_a_layer() {
    let lost: Vec<String> = library_uses()
        .into_keys()
        .filter(|m| layer_of(m).is_none())
        .collect();
    assert!(
        lost.is_empty(),
        "give {lost:?} a place in LAYERS (tests/layers.rs) and in docs/architecture.md"
    );
    let listed: Vec<&str> = LAYERS.iter().flat_map(|(_, m)| m.iter().copied()).collect();
    let graph = library_uses();
    let gone: Vec<&&str> = listed.iter().filter(|m| !graph.contains_key(**m)).collect();
    assert!(
        gone.is_empty(),
        "LAYERS names modules src/ no longer has: {gone:?}"
    );
}

#[test]
fn no_module_uses_one_above_it() {
    let mut upward = Vec::new();
    let mut excepted = BTreeSet::new();
    for (module, used) in library_uses() {
        let Some(own) = layer_of(&module) else {
            continue; // every_module_has_a_layer names it
        };
        for target in used {
            let Some(theirs) = layer_of(&target) else {
                continue;
            };
            if theirs >= own {
                continue;
            }
            match KNOWN_EXCEPTIONS
                .iter()
                .find(|(from, to, _)| *from == module && *to == target)
            {
                Some(exception) => {
                    excepted.insert(*exception);
                }
                None => upward.push(format!(
                    "{module} ({}) uses {target} ({})",
                    LAYERS[own].0, LAYERS[theirs].0
                )),
            }
        }
    }
    assert!(
        upward.is_empty(),
        "modules that use one above them (docs/architecture.md, \"Layers\"):\n{}",
        upward.join("\n")
    );
    let stale: Vec<_> = KNOWN_EXCEPTIONS
        .iter()
        .filter(|e| !excepted.contains(*e))
        .collect();
    assert!(
        stale.is_empty(),
        "these exceptions are no longer needed: remove them from KNOWN_EXCEPTIONS: {stale:?}"
    );
}

#[test]
fn the_binary_only_parses_and_hands_over() {
    let code = code_only(&std::fs::read_to_string(src().join("main.rs")).unwrap());
    let used = uses(&code, "ucm_scraper::");
    let other: Vec<&String> = used
        .iter()
        .filter(|m| !BINARY_USES.contains(&m.as_str()))
        .collect();
    assert!(
        other.is_empty(),
        "src/main.rs uses {other:?}: that belongs in src/commands/"
    );
}

/// The parser itself, on the shapes of import the source uses.
#[test]
fn uses_are_read_from_paths_groups_and_code_only() {
    let code = code_only(
        "use crate::ids::TenantId;\n\
         use crate::{self as me, learned, unmatched::{self, Keeper}};\n\
         // use crate::console;\n\
         /* crate::storage */\n\
         let x = \"crate::ai\";\n\
         let y = crate::calls::backlog(pool);\n\
         use super::other_crate::thing;",
    );
    let found: Vec<String> = uses(&code, "crate::").into_iter().collect();
    assert_eq!(found, ["calls", "ids", "learned", "unmatched"]);
}
