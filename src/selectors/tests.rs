use std::path::Path;
use std::time::Duration;

use super::catalog::glob_match;
use super::*;

const MINIMAL: &str = r#"
    name = "test UI"
    firmware = ["1.0.*"]
    [login]
    username = { css = "input#u", desc = "user field" }
    password = { css = "input#p", desc = "password field" }
    submit = { css = "button", desc = "submit button" }
    signed_in = { css = ".menu", desc = "main menu" }
    [recordings]
    route = "/cdr/recordingFile"
    ready = { css = "table", desc = "recordings table" }
    row = { css = "tr", desc = "recording row" }
    row_for_file = { css = 'tr[data-row-key="{file}"]', desc = "row of {file}" }
    caller = { css = "td.caller", desc = "caller cell" }
    callee = { css = "td.callee", desc = "callee cell" }
    time = { xpath = "./td[4]", desc = "call time cell" }
    time_format = "%Y-%m-%d %H:%M:%S"
    download = { css = "span.dl", desc = "download icon" }
    [paging]
    kind = "none"
"#;

fn parse(text: &str) -> Result<SelectorSet, SelectorsError> {
    SelectorSet::parse(Path::new("selectors/test.toml"), text)
}

#[test]
fn a_minimal_file_parses_with_defaults() {
    let set = parse(MINIMAL).unwrap();
    assert_eq!(set.recordings.time_tolerance, Duration::from_secs(600));
    assert_eq!(set.recordings.order, ListOrder::Unknown);
    assert_eq!(set.recordings.time.strategy, Strategy::XPath);
    assert_eq!(set.login.submit.origin, "selectors/test.toml: login.submit");
    assert!(matches!(set.recordings.paging, Paging::None));
}

#[test]
fn placeholders_are_filled_and_escaped() {
    let set = parse(MINIMAL).unwrap();
    let row = set.recordings.row_for_file.unwrap();
    let bound = row.bind(&Vars::default().with("file", "2026-02/auto-1-a\"b.wav"));
    assert_eq!(bound.text, r#"tr[data-row-key="2026-02/auto-1-a\"b.wav"]"#);
    assert_eq!(bound.desc, "row of 2026-02/auto-1-a\"b.wav");
    assert_eq!(
        bound.to_string(),
        "row of 2026-02/auto-1-a\"b.wav (selectors/test.toml: recordings.row_for_file)"
    );
}

#[test]
fn unknown_placeholders_are_refused_with_the_key() {
    let text = MINIMAL.replace("{file}\"]'", "{filename}\"]'");
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("recordings.row_for_file: unknown placeholder {filename}"),
        "{err}"
    );
    let text = MINIMAL.replace("input#u", "input#{caller}");
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("login.username: placeholder {caller} is not allowed here"),
        "{err}"
    );
}

#[test]
fn a_locator_needs_exactly_one_strategy_and_a_desc() {
    let text = MINIMAL.replace(
        r#"{ css = "button", desc = "submit button" }"#,
        r#"{ desc = "submit button" }"#,
    );
    let err = parse(&text).unwrap_err().to_string();
    assert!(
        err.contains("login.submit: give exactly one of `css` or `xpath`"),
        "{err}"
    );
    let text = MINIMAL.replace(r#"desc = "submit button""#, r#"desc = " ""#);
    assert!(parse(&text)
        .unwrap_err()
        .to_string()
        .contains("`desc` is empty"));
}

#[test]
fn mistakes_in_the_file_are_named() {
    let err = parse(&MINIMAL.replace("kind = \"none\"", "kind = \"next_button\"")).unwrap_err();
    assert!(
        err.to_string().contains("paging.next: is required"),
        "{err}"
    );
    let err = parse(&MINIMAL.replace("%Y-%m-%d %H:%M:%S", "%Q")).unwrap_err();
    assert!(err.to_string().contains("recordings.time_format"), "{err}");
    let err = parse(&MINIMAL.replace("route = \"/cdr/recordingFile\"", "")).unwrap_err();
    assert!(err.to_string().contains("give a `route`"), "{err}");
    let err = parse(&format!("{MINIMAL}\n[extra]\n")).unwrap_err();
    assert!(err.to_string().contains("unknown field `extra`"), "{err}");
}

#[test]
fn firmware_patterns_pick_the_file_and_the_default_is_tried_first_at_login() {
    let old = parse(MINIMAL).unwrap();
    let mut new = parse(&MINIMAL.replace("1.0.*", "1.1.*")).unwrap();
    new.default = true;
    let catalog = SelectorCatalog::from_sets(Path::new("selectors"), vec![old, new]).unwrap();
    assert_eq!(
        catalog.for_firmware("1.0.27.10").unwrap().firmware,
        ["1.0.*"]
    );
    assert_eq!(catalog.for_firmware("1.1.2.3").unwrap().firmware, ["1.1.*"]);
    assert!(catalog.for_firmware("2.0").is_none());
    assert_eq!(
        catalog.login_candidates().next().unwrap().firmware,
        ["1.1.*"]
    );
}

#[test]
fn several_files_need_exactly_one_default() {
    let sets = vec![parse(MINIMAL).unwrap(), parse(MINIMAL).unwrap()];
    let err = SelectorCatalog::from_sets(Path::new("selectors"), sets).unwrap_err();
    assert!(
        err.to_string().contains("none says `default = true`"),
        "{err}"
    );
}

/// The worker refuses a directory holding no file; `selectors learn` starts from one. A missing
/// directory is refused by both, naming it.
#[test]
fn only_learning_starts_from_an_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let err = SelectorCatalog::load_dir(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("holds no *.toml selectors file"),
        "{err}"
    );
    let learning = SelectorCatalog::load_dir_to_learn(dir.path()).unwrap();
    assert!(learning.sets().is_empty());
    assert!(learning.login_candidates().next().is_none());

    std::fs::write(dir.path().join("test.toml"), MINIMAL).unwrap();
    let learning = SelectorCatalog::load_dir_to_learn(dir.path()).unwrap();
    assert_eq!(
        learning.sets().len(),
        1,
        "a file there is used as by the worker"
    );

    let missing = dir.path().join("typo");
    for err in [
        SelectorCatalog::load_dir(&missing).unwrap_err(),
        SelectorCatalog::load_dir_to_learn(&missing).unwrap_err(),
    ] {
        let text = err.to_string();
        assert!(
            text.contains("typo") && text.contains("cannot be read"),
            "{text}"
        );
    }
}

#[test]
fn glob_patterns() {
    assert!(glob_match("1.0.2*", "1.0.27.10"));
    assert!(glob_match("*", ""));
    assert!(glob_match("1.?.3", "1.5.3"));
    assert!(!glob_match("1.0.2*", "1.0.3.1"));
    assert!(glob_match("*.10", "1.0.27.10"));
}
