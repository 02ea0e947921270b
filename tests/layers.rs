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

/// Circles between the files of one module that are still there, each with its module, its
/// files and why. The test fails once one is gone, so the list only shrinks.
const KNOWN_CIRCLES: &[(&str, &[&str], &str)] = &[(
    "src",
    &["commands", "dashboard"],
    "`run` serves the dashboard, and the dashboard's forms write through \
         `commands::tenant::Changes`: the shared validation goes down into `tenants`",
)];

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
        // `foo_crate::` is not `crate::`, and the second `super::` of `super::super::` is not
        // a path of its own.
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
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

/// The code without its unit tests (`#[cfg(test)] mod tests { … }`, last in a file): their
/// `super::` is the file itself, and what a test imports is no part of the layout.
fn without_unit_tests(code: &str) -> &str {
    match code.find("#[cfg(test)]\nmod tests") {
        Some(at) => &code[..at],
        None => code,
    }
}

/// The module path of a file of `src/` (`src/console/learn/mod.rs` → `["console", "learn"]`).
fn module_path(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src()).unwrap().with_extension("");
    let mut path: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_str().unwrap().to_string())
        .collect();
    if path
        .last()
        .is_some_and(|last| last == "mod" || last == "lib")
    {
        path.pop();
    }
    path
}

/// For every module directory of `src/` (the crate root too), which of its children use which:
/// `dir → child → siblings it names`. A file deeper in a child counts as the child, and a sibling
/// is named as `super::…` (as many as the file is deep) or `crate::<dir>::…`.
fn sibling_uses() -> BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.retain(|f| f != &src().join("main.rs"));
    let paths: Vec<Vec<String>> = files.iter().map(|f| module_path(f)).collect();
    let mut graphs: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (file, path) in files.iter().zip(&paths) {
        let text = std::fs::read_to_string(file).unwrap();
        let code = code_only(&text);
        let code = without_unit_tests(&code);
        for depth in 0..path.len() {
            let dir = &path[..depth];
            let child = &path[depth];
            let children: BTreeSet<&String> = paths
                .iter()
                .filter(|p| p.len() > depth && p[..depth] == *dir)
                .map(|p| &p[depth])
                .collect();
            let mut named = BTreeSet::new();
            let up = path.len() - depth;
            if up > 0 {
                named.extend(uses(code, &"super::".repeat(up)));
            }
            let absolute: String = dir.iter().map(|d| format!("{d}::")).collect();
            named.extend(uses(code, &format!("crate::{absolute}")));
            named.retain(|n| n != child && children.contains(n));
            graphs
                .entry(dir.to_vec())
                .or_default()
                .entry(child.clone())
                .or_default()
                .extend(named);
        }
    }
    graphs
}

/// The circles of a graph: each group of two or more nodes that reach each other.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    let reach = |from: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(node) = todo.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|node| (node, reach(node))).collect();
    let mut found: Vec<BTreeSet<String>> = Vec::new();
    for (node, from_node) in &reached {
        let circle: BTreeSet<String> = from_node
            .iter()
            .filter(|other| reached.get(other).is_some_and(|back| back.contains(*node)))
            .cloned()
            .collect();
        if circle.len() > 1 && !found.contains(&circle) {
            found.push(circle);
        }
    }
    found
}

/// Inside every module directory, the files import each other in one direction only, so each
/// can be read knowing only those below it (docs/architecture.md, "Layers").
#[test]
fn no_circle_between_the_files_of_a_module() {
    let mut found = Vec::new();
    let mut known = Vec::new();
    for (dir, graph) in sibling_uses() {
        let dir = if dir.is_empty() {
            "src".to_string()
        } else {
            format!("src/{}", dir.join("/"))
        };
        for circle in circles(&graph) {
            let files: Vec<&str> = circle.iter().map(String::as_str).collect();
            match KNOWN_CIRCLES
                .iter()
                .find(|(module, known, _)| *module == dir && *known == files.as_slice())
            {
                Some(circle) => known.push(*circle),
                None => found.push(format!("{dir}: {circle:?}")),
            }
        }
    }
    let gone: Vec<_> = KNOWN_CIRCLES
        .iter()
        .filter(|circle| !known.contains(circle))
        .collect();
    assert!(
        gone.is_empty(),
        "these circles are gone: remove them from KNOWN_CIRCLES: {gone:?}"
    );
    assert!(
        found.is_empty(),
        "files of one module that import each other in a circle: move what both need down, or \
         turn one use around:\n{}",
        found.join("\n")
    );
}

/// The circle finder, on a small graph.
#[test]
fn circles_are_groups_that_reach_each_other() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", &["b"][..]),
        ("b", &["c"]),
        ("c", &["a", "d"]),
        ("d", &[]),
        ("e", &["f"]),
        ("f", &["e"]),
    ]
    .into_iter()
    .map(|(n, to)| (n.to_string(), to.iter().map(|t| t.to_string()).collect()))
    .collect();
    let found: Vec<Vec<String>> = circles(&graph)
        .into_iter()
        .map(|c| c.into_iter().collect())
        .collect();
    assert_eq!(found, [vec!["a", "b", "c"], vec!["e", "f"]]);
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
