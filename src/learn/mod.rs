//! `selectors learn`: a draft selectors file for a console generation nobody wrote one for.
//!
//! The inference (pages and the tenant's known calls in, a draft out) and the browser walk that
//! collects the pages live in the console module, the only one that reads and drives the
//! console; this is the command around them: the tenant's known calls, the draft written beside
//! its evidence, and the proof before it is offered.

mod command;

pub use command::{learn_tenant, LearnError, LearnReport};
