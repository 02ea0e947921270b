//! Reading a saved page: its elements, their visible text, and a stable CSS selector for one of
//! them. The learner walks the tree in Rust (no fixed CSS of its own); the selectors it builds are
//! its output, checked against the same page before they are offered.

use scraper::{ElementRef, Html, Selector};

/// A parsed page.
pub struct Page {
    html: Html,
}

impl Page {
    pub fn parse(source: &str) -> Self {
        Page {
            html: Html::parse_document(source),
        }
    }

    pub fn root(&self) -> ElementRef<'_> {
        self.html.root_element()
    }

    /// Every element, in document order.
    pub fn elements(&self) -> impl Iterator<Item = ElementRef<'_>> {
        self.root().descendent_elements()
    }

    /// The elements a generated CSS selector matches, or `None` when it does not parse.
    pub fn select(&self, css: &str) -> Option<Vec<ElementRef<'_>>> {
        let selector = Selector::parse(css).ok()?;
        Some(self.html.select(&selector).collect())
    }
}

/// The elements `css` matches below `scope` (a row), or `None` when it does not parse.
pub fn select_in<'a>(scope: ElementRef<'a>, css: &str) -> Option<Vec<ElementRef<'a>>> {
    let selector = Selector::parse(css).ok()?;
    Some(scope.select(&selector).collect())
}

/// An element's text as shown: whitespace runs collapsed, trimmed.
pub fn text(el: ElementRef<'_>) -> String {
    el.text()
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether two references are the same element.
pub fn same(a: ElementRef<'_>, b: ElementRef<'_>) -> bool {
    a.id() == b.id()
}

/// Whether `inner` is `outer` or inside it.
pub fn contains(outer: ElementRef<'_>, inner: ElementRef<'_>) -> bool {
    same(outer, inner) || inner.ancestors().any(|a| a.id() == outer.id())
}

pub fn parent(el: ElementRef<'_>) -> Option<ElementRef<'_>> {
    el.parent().and_then(ElementRef::wrap)
}

/// What an element says about itself to a person: its text, `title`, `aria-label`, `value`
/// (buttons) and `alt`, lower-cased.
pub fn says(el: ElementRef<'_>) -> String {
    let v = el.value();
    [
        Some(text(el)),
        v.attr("title").map(str::to_string),
        v.attr("aria-label").map(str::to_string),
        v.attr("value")
            .filter(|_| v.name() == "input")
            .map(str::to_string),
        v.attr("alt").map(str::to_string),
    ]
    .into_iter()
    .flatten()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join(" ")
    .to_lowercase()
}

/// Class names that describe a passing state, not the element: never part of a selector.
fn is_state_class(class: &str) -> bool {
    const STATES: &[&str] = &[
        "active",
        "open",
        "opened",
        "selected",
        "current",
        "hover",
        "focus",
        "focused",
        "disabled",
        "hidden",
        "show",
        "visible",
        "loading",
        "collapsed",
        "expanded",
        "checked",
    ];
    let last = class.rsplit(['-', '_']).next().unwrap_or(class);
    STATES.contains(&last) || STATES.contains(&class)
}

/// A value made up by a framework at run time (`rc-menu-uuid-48213`, `ember123`): unstable.
fn looks_generated(value: &str) -> bool {
    let digits = value.chars().filter(char::is_ascii_digit).count();
    value.is_empty() || digits >= 3 || value.contains("uuid")
}

/// A CSS string literal.
pub fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// An identifier usable bare in CSS (`#id`, `.class`).
fn is_ident(value: &str) -> bool {
    let mut chars = value.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '-')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// An element's classes in the order written (the parsed set has no stable order).
pub fn classes<'a>(el: ElementRef<'a>) -> impl Iterator<Item = &'a str> {
    el.value()
        .attr("class")
        .unwrap_or_default()
        .split_whitespace()
}

/// The stable classes of an element, in the order written.
pub fn stable_classes(el: ElementRef<'_>) -> Vec<&str> {
    classes(el)
        .filter(|c| is_ident(c) && !is_state_class(c) && !looks_generated(c))
        .collect()
}

/// The selectors that name `el` by its own hooks, most stable first: id, data- attributes,
/// name, role with label, title, href, then each stable class. Position is never used here.
pub fn own_hooks(el: ElementRef<'_>) -> Vec<String> {
    let v = el.value();
    let tag = v.name();
    let mut hooks = Vec::new();
    if let Some(id) = v.id().filter(|id| is_ident(id) && !looks_generated(id)) {
        hooks.push(format!("{tag}#{id}"));
    }
    for (name, value) in v.attrs() {
        let stable_attr = name.starts_with("data-") || matches!(name, "name" | "href" | "title");
        if stable_attr && !value.is_empty() && !looks_generated(value) {
            hooks.push(format!("{tag}[{name}={}]", quote(value)));
        }
    }
    if let (Some(role), Some(label)) = (v.attr("role"), v.attr("aria-label")) {
        hooks.push(format!(
            "{tag}[role={}][aria-label={}]",
            quote(role),
            quote(label)
        ));
    }
    hooks.extend(stable_classes(el).iter().map(|c| format!("{tag}.{c}")));
    hooks
}

/// The first selector that finds exactly `el` and nothing else on the page: its own hooks, else
/// a parent's hook with ` > ` and its own (up to three levels up). `None`: no stable way found.
pub fn unique_selector(page: &Page, el: ElementRef<'_>) -> Option<String> {
    let unique = |css: &str| {
        page.select(css)
            .is_some_and(|found| found.len() == 1 && same(found[0], el))
    };
    let own = own_hooks(el);
    if let Some(hit) = own.iter().find(|css| unique(css)) {
        return Some(hit.clone());
    }
    let mut tails: Vec<String> = own;
    tails.push(el.value().name().to_string());
    let mut child = el;
    for _ in 0..3 {
        let up = parent(child)?;
        for hook in own_hooks(up) {
            for tail in &tails {
                let css = format!("{hook} > {tail}");
                if unique(&css) {
                    return Some(css);
                }
            }
        }
        tails = tails
            .iter()
            .map(|t| format!("{} > {t}", up.value().name()))
            .collect();
        child = up;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_hooks_come_before_classes_and_state_is_left_out() {
        let page = Page::parse(
            r#"<ul><li class="menu-item active" data-path="/cdr/rec" id="rc-menu-uuid-12345">
               Recordings</li><li class="menu-item">CDR</li></ul>"#,
        );
        let li = page.elements().find(|e| text(*e) == "Recordings").unwrap();
        assert_eq!(
            own_hooks(li),
            ["li[data-path=\"/cdr/rec\"]", "li.menu-item"]
        );
        assert_eq!(
            unique_selector(&page, li).as_deref(),
            Some("li[data-path=\"/cdr/rec\"]")
        );
    }

    #[test]
    fn a_parent_hook_names_an_element_without_its_own() {
        let page = Page::parse(
            r#"<div data-group="cdr"><a class="title">CDR</a></div>
               <div data-group="pbx"><a class="title">PBX</a></div>"#,
        );
        let a = page
            .elements()
            .find(|e| e.value().name() == "a" && text(*e) == "CDR")
            .unwrap();
        assert_eq!(
            unique_selector(&page, a).as_deref(),
            Some("div[data-group=\"cdr\"] > a.title")
        );
    }
}
