//! `selectors learn`: a draft selectors file for a console generation nobody wrote one for.
//!
//! The pure part lives here: pages (HTML saved from the console) and the tenant's known calls
//! in, [`Learnt`] out, rendered as a selectors file whose every key says what it matched
//! ([`Learnt::to_toml`]). The browser walk that collects the pages is `ConsoleSession::learn`
//! in the console module (the only one that drives a browser); [`learn_tenant`] is the command.

mod command;
mod dom;
mod draft;
mod infer;

pub use command::{learn_tenant, LearnError, LearnReport};
pub use dom::Page;
pub use draft::Learnt;
pub use infer::{
    busy, dotted_version, firmware_marker, list, login_form, paging, recordings_menu, signed_in,
    Found, KnownCall, List, ListMiss, LoginForm, PagingGuess, RECORDINGS_NAMES, TIME_FORMATS,
};

#[cfg(test)]
mod tests {
    use std::path::Path;

    use chrono::DateTime;

    use super::*;
    use crate::console::selectors::{Paging, SelectorSet, Strategy};

    /// The stand-in's pages saved by `tests/learn.rs` (`save_fixture_pages`).
    fn fixture(skin: &str, page: &str) -> Page {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/learn")
            .join(skin)
            .join(format!("{page}.html"));
        Page::parse(&std::fs::read_to_string(&path).expect("a saved fixture page"))
    }

    /// The calls behind the fixture pages: five, ten minutes apart, shown in Berlin time.
    fn calls() -> Vec<KnownCall> {
        (0..5)
            .map(|i| {
                let epoch = 1_770_395_696 + 600 * i;
                let caller = format!("10{i:02}");
                KnownCall {
                    files: vec![format!("2026-02/auto-{epoch}-{caller}-2815058290.wav")],
                    caller,
                    callee: "2815058290".into(),
                    start_utc: DateTime::from_timestamp(epoch, 0).unwrap().naive_utc(),
                }
            })
            .collect()
    }

    fn learn(skin: &str) -> Learnt {
        let login = fixture(skin, "login");
        let dashboard = fixture(skin, "dashboard");
        let list_page = fixture(skin, "list");
        Learnt {
            source: format!("the {skin} fixture pages"),
            login: login_form(&login).expect("a login form"),
            signed_in: signed_in(&login, &dashboard).expect("a signed-in marker"),
            firmware: firmware_marker(&dashboard),
            route: None,
            menu: recordings_menu(&dashboard).expect("a Recordings menu"),
            list: list(&list_page, &calls(), chrono_tz::Europe::Berlin).expect("the list"),
            paging: paging(&list_page),
            busy: Vec::new(),
        }
    }

    /// The draft parses with the worker's own parser.
    fn parsed(learnt: &Learnt) -> SelectorSet {
        let text = learnt.to_toml("learnt");
        SelectorSet::parse(Path::new("selectors/learnt.toml"), &text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn the_ant_design_generation_is_learnt_from_its_pages() {
        let learnt = learn("ucm63xx");
        let set = parsed(&learnt);
        assert_eq!(set.login.username.template, "input#username");
        assert_eq!(set.login.password.template, "input#password");
        assert_eq!(set.login.submit.template, "button.ant-btn");
        assert_eq!(set.login.signed_in.template, "aside.ant-layout-sider");
        assert_eq!(set.firmware, ["1.0.27.*"]);
        let menu: Vec<_> = set.recordings.menu.iter().map(|m| &m.template).collect();
        assert_eq!(
            menu,
            [
                "li[data-menu-key=\"cdr\"] > div.ant-menu-submenu-title",
                "li[data-path=\"/cdr/recordingFile\"]"
            ]
        );
        let r = &set.recordings;
        assert_eq!(r.row.template, "tbody.ant-table-tbody > tr[data-row-key]");
        assert_eq!(r.file_attribute.as_deref(), Some("data-row-key"));
        assert_eq!(r.caller.template, "td:nth-child(2)");
        assert_eq!(r.callee.template, "td:nth-child(3)");
        assert_eq!(r.time.template, "td:nth-child(4)");
        assert_eq!(r.time_format, "%Y-%m-%d %H:%M:%S");
        assert_eq!(r.download.template, "span.sprite-download");
        assert_eq!(learnt.list.calls_found, [4, 3, 2], "the first page's calls");
        assert!(learnt.list.newest_first);
        assert!(
            matches!(&r.paging, Paging::NextButton { next, .. } if next.template.contains("Next Page"))
        );
    }

    #[test]
    fn the_older_generation_is_learnt_from_its_pages() {
        let learnt = learn("ucm62xx");
        let set = parsed(&learnt);
        assert_eq!(set.login.username.template, "input#user-name");
        assert_eq!(set.login.password.template, "input#user-password");
        assert_eq!(set.login.submit.template, "input#btn-login");
        assert_eq!(set.login.signed_in.template, "div#nav");
        assert_eq!(
            set.firmware_marker.as_ref().unwrap().template,
            "td#firmware-version"
        );
        let menu: Vec<_> = set.recordings.menu.iter().map(|m| &m.template).collect();
        assert_eq!(
            menu,
            [
                "li[data-group=\"cdr\"] > a.nav-title",
                "a[href=\"/cdr/recordFiles\"]"
            ]
        );
        let r = &set.recordings;
        assert_eq!(r.row.template, "div.grid-body > div[data-file]");
        assert_eq!(r.file_attribute.as_deref(), Some("data-file"));
        assert_eq!(r.caller.template, "div.col-caller");
        assert_eq!(r.callee.template, "div.col-callee");
        assert_eq!(r.time.template, "div.col-time");
        assert_eq!(r.time_format, "%Y/%m/%d %H:%M:%S");
        assert_eq!(r.download.template, "a.download-link");
        assert!(
            matches!(&r.paging, Paging::LoadMore { button } if button.template == "button#btn-more")
        );
    }

    #[test]
    fn a_card_layout_with_data_attributes_is_learnt_by_its_stable_hooks() {
        let learnt = learn("cards");
        let set = parsed(&learnt);
        assert_eq!(set.login.username.template, "input[data-field=\"account\"]");
        assert_eq!(set.login.password.template, "input[data-field=\"secret\"]");
        assert_eq!(set.login.submit.template, "button[data-action=\"sign-in\"]");
        assert_eq!(set.login.signed_in.template, "nav.rail");
        assert_eq!(set.firmware, ["2.1.4.*"]);
        let r = &set.recordings;
        assert_eq!(r.row.template, "ol.rec-list > li[data-recording]");
        assert_eq!(r.caller.template, "span[data-role=\"from\"]");
        assert_eq!(r.callee.template, "span[data-role=\"to\"]");
        assert_eq!(r.time.template, "time.rec-when");
        assert_eq!(r.time_format, "%d.%m.%Y %H:%M:%S");
        assert_eq!(
            r.download.template,
            "button[aria-label=\"Download recording\"]"
        );
        assert!(
            matches!(&r.paging, Paging::LoadMore { button } if button.template == "button.rec-more")
        );
    }

    #[test]
    fn every_key_says_what_it_matched() {
        let text = learn("ucm62xx").to_toml("learnt");
        assert!(text.contains("# matched 3, e.g. \"1004\""), "{text}");
        assert!(
            text.contains("# the console showed firmware 1.0.20.52"),
            "{text}"
        );
    }

    #[test]
    fn a_page_without_known_calls_is_no_list() {
        let page = fixture("ucm63xx", "dashboard");
        let miss = list(&page, &calls(), chrono_tz::Europe::Berlin).unwrap_err();
        assert_eq!(miss, ListMiss::NoRows(5));
        assert!(login_form(&page).is_none());
    }

    #[test]
    fn a_time_shown_in_another_zone_is_not_the_calls() {
        let page = fixture("ucm62xx", "list");
        let miss = list(&page, &calls(), chrono_tz::America::New_York).unwrap_err();
        assert_eq!(miss, ListMiss::NoRows(5));
    }

    #[test]
    fn busy_markers_are_what_loading_added() {
        let settled = Page::parse(r#"<div id="list"><div class="row">a</div></div>"#);
        let during = Page::parse(
            r#"<div id="list"><div class="row">a</div><div class="spin-mask is-loading"></div></div>"#,
        );
        let found = busy(&during, &settled);
        let mut css: Vec<_> = found.iter().map(|f| f.selector.as_str()).collect();
        css.sort_unstable();
        assert_eq!(css, ["div.is-loading", "div.spin-mask"]);
        assert!(found.iter().all(|f| f.strategy == Strategy::Css));
    }

    #[test]
    fn versions_are_dotted_numbers() {
        assert_eq!(
            dotted_version("Firmware 1.0.27.10 (beta)").as_deref(),
            Some("1.0.27.10")
        );
        assert_eq!(dotted_version("2026-02-06 17:34:56"), None);
        assert_eq!(dotted_version("v2.1"), None);
    }
}
