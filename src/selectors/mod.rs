//! Selectors files (`selectors/*.toml`): every locator the worker uses, as data, and the pure
//! inference that drafts one from saved console pages. Nothing here touches a browser: the
//! console ([`crate::console`]) reads the pages and clicks; this module only reads text.
//!
//! A file describes one generation of the UCM web UI. It is parsed once into a [`SelectorSet`]
//! whose locators carry a human `desc` and the place they came from (`file: key`), so a timeout
//! says "login submit button not found (selectors/ucm63xx.toml: login.submit)". docs/selectors.md
//! documents the format for operators.
//!
//! - `format`: the locators, their placeholders and one validated file;
//! - `parse`: the file as written and its validation;
//! - `catalog`: the files of a directory and the choice by firmware;
//! - `learn`: `selectors learn`'s inference from a page's HTML (`dom`, `infer`) and the draft
//!   file it writes (`draft`).

mod catalog;
mod format;
mod learn;
mod parse;

pub use catalog::SelectorCatalog;
pub use format::{
    Bound, ListOrder, LoginSelectors, Paging, RecordingsSelectors, SearchForm, Selector,
    SelectorSet, SelectorsError, Strategy, Texts, Vars, CALL_PLACEHOLDERS,
};
pub use learn::{dom, infer, Found, KnownCall, Learnt, PagingGuess};

#[cfg(test)]
mod tests;
