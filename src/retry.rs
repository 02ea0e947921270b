//! How the worker retries an HTTP call to a service it does not own (Supabase Storage, the AI
//! webhook): a timeout per request, jittered exponential backoff between attempts, and two bounds
//! (attempts and total time) so that one sick service cannot hold a tenant's pass for long.
//! Retried are the failures that say [`NextStep::WaitForService`]; any other ends the request.

use std::future::Future;
use std::time::Duration;

use rand::RngExt as _;
use tokio::time::Instant;

use crate::failure::{Failure, NextStep};

/// Bounds for one logical call (one upload, one webhook delivery).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Each HTTP request, body included, must finish within this.
    pub request_timeout: Duration,
    /// Requests made at most, the first included.
    pub max_attempts: u32,
    /// The pause after the first failure; doubled after each further one.
    pub base_delay: Duration,
    /// No single pause is longer than this.
    pub max_delay: Duration,
    /// No new attempt starts once this much time has passed since the first one.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    /// Generous enough for a recording of some megabytes on a slow uplink, short enough that a
    /// Storage outage costs a pass a few minutes, not hours: the call stays claimable next pass.
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(120),
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// Runs `attempt(n)` (n = 1, 2, …) until it succeeds, fails with anything but
    /// [`NextStep::WaitForService`], or a bound is reached; the last error is returned as it is.
    /// A pause the service asked for ([`Failure::retry_after`]) is honoured up to `max_delay`.
    pub async fn run<T, E, F, Fut>(&self, mut attempt: F) -> Result<T, E>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: Failure,
    {
        let started = Instant::now();
        let mut n = 1;
        loop {
            let err = match attempt(n).await {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            let pause = self.pause_after(n, err.retry_after());
            let out_of_time = started.elapsed() + pause >= self.max_elapsed;
            if err.next_step() != NextStep::WaitForService || n >= self.max_attempts || out_of_time
            {
                return Err(err);
            }
            tracing::warn!(
                attempt = n,
                max_attempts = self.max_attempts,
                retry_in_ms = pause.as_millis() as u64,
                error = %err,
                "attempt failed, retrying"
            );
            tokio::time::sleep(pause).await;
            n += 1;
        }
    }

    /// "Equal jitter": half the exponential step for sure, the other half at random, so that
    /// workers failing together do not retry together, yet none retries almost at once.
    fn pause_after(&self, failed_attempt: u32, asked: Option<Duration>) -> Duration {
        let step = self
            .base_delay
            .saturating_mul(1u32 << failed_attempt.saturating_sub(1).min(16))
            .min(self.max_delay);
        let half = step / 2;
        let jitter = rand::rng().random_range(Duration::ZERO..=half);
        (half + jitter).max(asked.unwrap_or_default().min(self.max_delay))
    }
}

/// A request that got no HTTP answer (timeout, refused connection, reset…). Printed with its
/// causes, since reqwest's own message is only "error sending request", and without the URL,
/// which may carry a token (`AI_WEBHOOK_URL?token=…`).
#[derive(Debug)]
pub struct NoAnswer(reqwest::Error);

impl From<reqwest::Error> for NoAnswer {
    fn from(err: reqwest::Error) -> Self {
        Self(err.without_url())
    }
}

impl std::fmt::Display for NoAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = std::error::Error::source(&self.0);
        while let Some(err) = cause {
            write!(f, ": {err}")?;
            cause = err.source();
        }
        Ok(())
    }
}

// No `source()`: the causes are already in the message, and error reports would repeat them.
impl std::error::Error for NoAnswer {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug)]
    struct Outcome {
        retryable: bool,
    }

    impl std::fmt::Display for Outcome {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "failure (retryable: {})", self.retryable)
        }
    }

    impl Failure for Outcome {
        fn next_step(&self) -> NextStep {
            match self.retryable {
                true => NextStep::WaitForService,
                false => NextStep::RetryCall,
            }
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            request_timeout: Duration::from_secs(1),
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(400),
            max_elapsed: Duration::from_secs(3600),
        }
    }

    #[test]
    fn pauses_grow_exponentially_within_jitter_and_cap() {
        let p = policy();
        for _ in 0..50 {
            let first = p.pause_after(1, None);
            assert!(
                (50..=100).contains(&(first.as_millis() as u64)),
                "{first:?}"
            );
            let third = p.pause_after(3, None);
            assert!(
                (200..=400).contains(&(third.as_millis() as u64)),
                "{third:?}"
            );
            assert!(p.pause_after(30, None) <= p.max_delay);
        }
        // Retry-After is honoured, but never beyond the cap.
        assert_eq!(p.pause_after(1, Some(Duration::from_secs(60))), p.max_delay);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_retryable_errors_up_to_the_attempt_bound() {
        let calls = AtomicU32::new(0);
        let result: Result<(), Outcome> = policy()
            .run(|_| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Outcome { retryable: true })
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn stops_at_once_on_a_final_error_and_returns_success() {
        let calls = AtomicU32::new(0);
        let result: Result<(), Outcome> = policy()
            .run(|_| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Outcome { retryable: false })
            })
            .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let ok: Result<u32, Outcome> = policy()
            .run(|n| async move {
                if n < 3 {
                    Err(Outcome { retryable: true })
                } else {
                    Ok(n)
                }
            })
            .await;
        assert_eq!(ok.unwrap(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn no_attempt_starts_after_the_time_budget() {
        let p = RetryPolicy {
            max_attempts: 100,
            max_elapsed: Duration::from_secs(1),
            ..policy()
        };
        let calls = AtomicU32::new(0);
        let _: Result<(), Outcome> = p
            .run(|_| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Outcome { retryable: true })
            })
            .await;
        // Pauses are at least 50, 100, 200, 200… ms: a 1 s budget allows only a handful.
        let made = calls.load(Ordering::SeqCst);
        assert!((2..=8).contains(&made), "{made} attempts");
    }
}
