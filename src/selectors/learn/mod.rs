//! `selectors learn`'s inference, pure and unit-tested on saved pages: a page's HTML read as a
//! tree ([`dom`]), the guesses made from it ([`infer`]), and the draft selectors file they make
//! ([`draft`]). The walk through a live console that feeds it is in `console::learn`.

pub mod dom;
mod draft;
pub mod infer;

pub use draft::Learnt;
pub use infer::{Found, KnownCall, PagingGuess};
