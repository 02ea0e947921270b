//! What happens after a failure, in one vocabulary (docs/architecture.md: Failures).
//!
//! Every error the worker branches on says what happens next through [`Failure::next_step`]:
//! the console's, the transcoder's, storage's, the AI webhook's and the database's. The
//! pipeline reads that one answer and nothing else; the retry loop of a request to an outside
//! service ([`crate::retry`]) retries exactly the failures that say [`NextStep::WaitForService`].

use std::fmt;
use std::time::Duration;

/// What the worker does after a failure. Each variant names who pays for it: the call (an
/// attempt charged), nobody (given back uncharged), the tenant or the whole pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NextStep {
    /// Tried again on the next pass, not now. A call's failed download, conversion or upload is
    /// charged an attempt, until they run out (then `failed` for good); a refused AI trigger is
    /// simply sent again.
    RetryCall,
    /// The answer proved nothing either way (a list that would not settle, a page re-rendered
    /// under the worker): tried again on the next pass, uncharged, never ended on it.
    RetryCallUncharged,
    /// Trying again cannot help: the call is `failed` for good now, whatever attempts are left.
    EndCall,
    /// The console, read to the end, does not list the recording: checked again on later passes,
    /// uncharged, and `not_on_console` once `NOT_LISTED_GRACE` after the call has passed.
    NotListed,
    /// The recording is audio the transcoder cannot convert: the original is stored as it is.
    KeepOriginal,
    /// A service outside the call failed (storage, the database, the AI webhook): retried within
    /// the request; a call it still holds back is charged like a failed attempt and tried again
    /// on the next pass, which is reported as holding calls back (`once` exits 1).
    WaitForService,
    /// The console or the browser is unusable: this tenant's remaining calls wait for the next
    /// pass; the call in progress keeps its attempt.
    StopTenant,
    /// The console lacks what the selectors file requires: the tenant stops and its calls go
    /// back uncharged, since no call is at fault; the operator fixes the file.
    StopTenantUncharged,
    /// The console refused the login (wrong credentials, a lockout, a CAPTCHA): the tenant is
    /// blocked with a growing back-off, since trying again soon would lengthen the console's ban.
    BlockTenant,
    /// Storage refuses the worker's configuration: no call can be stored until an operator acts,
    /// so the pass stops for every tenant and gives its calls back uncharged.
    StopPass,
}

/// An error that knows what happens after it.
pub trait Failure: fmt::Display {
    fn next_step(&self) -> NextStep;

    /// The pause the service asked for (`Retry-After`) before the same request is sent again.
    fn retry_after(&self) -> Option<Duration> {
        None
    }

    /// The failure as a pass summary keeps it: the decision and the message that explains it.
    fn decision(&self) -> Decision {
        Decision {
            next_step: self.next_step(),
            message: self.to_string(),
        }
    }
}

/// A failure reduced to what a report needs: what happens next, and the message (which names
/// the tenant or call and what to do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub next_step: NextStep,
    pub message: String,
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A decision still answers the vocabulary's one question, so a failure passed on as its
/// decision (across a trait, into a report) is read like the error it came from.
impl Failure for Decision {
    fn next_step(&self) -> NextStep {
        self.next_step
    }
}
