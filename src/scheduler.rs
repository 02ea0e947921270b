//! When passes run: one at start, then every `SCRAPE_INTERVAL`, until shutdown.
//!
//! Time and shutdown are injected (a `CancellationToken`), so the loop is tested with tokio's
//! paused clock instead of by waiting 15 minutes.

use std::future::Future;
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Runs `pass` now and then every `interval` until `shutdown` is cancelled. A pass that runs
/// longer than the interval delays the next one instead of starting two at once. The pass gets
/// the token so it can finish its current call and stop early.
pub async fn run_every<F, Fut>(interval: Duration, shutdown: CancellationToken, mut pass: F)
where
    F: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        pass(shutdown.clone()).await;
        if shutdown.is_cancelled() {
            break;
        }
    }
}

/// A token cancelled on SIGTERM or SIGINT (Ctrl-C), the signals a container runtime and an
/// operator send.
pub fn shutdown_on_signals() -> std::io::Result<CancellationToken> {
    use tokio::signal::unix::{signal, SignalKind};
    let token = CancellationToken::new();
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let cancel = token.clone();
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(
            signal = name,
            "Shutdown requested: finishing the current call, then closing browsers"
        );
        cancel.cancel();
    });
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn passes_run_at_start_and_every_interval() {
        let passes = Arc::new(AtomicU32::new(0));
        let shutdown = CancellationToken::new();
        let counted = passes.clone();
        let looping = tokio::spawn(run_every(
            Duration::from_secs(900),
            shutdown.clone(),
            move |_| {
                let counted = counted.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
            },
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(passes.load(Ordering::SeqCst), 1, "first pass runs at once");
        tokio::time::sleep(Duration::from_secs(900 * 3)).await;
        assert_eq!(
            passes.load(Ordering::SeqCst),
            4,
            "then one every 15 minutes"
        );
        shutdown.cancel();
        looping.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_pass_delays_the_next_instead_of_overlapping() {
        let running = Arc::new(AtomicU32::new(0));
        let max_running = Arc::new(AtomicU32::new(0));
        let passes = Arc::new(AtomicU32::new(0));
        let shutdown = CancellationToken::new();
        let (r, m, p) = (running.clone(), max_running.clone(), passes.clone());
        let looping = tokio::spawn(run_every(
            Duration::from_secs(60),
            shutdown.clone(),
            move |_| {
                let (r, m, p) = (r.clone(), m.clone(), p.clone());
                async move {
                    let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(150)).await; // the pass's own work
                    r.fetch_sub(1, Ordering::SeqCst);
                    p.fetch_add(1, Ordering::SeqCst);
                }
            },
        ));
        tokio::time::sleep(Duration::from_secs(600)).await;
        shutdown.cancel();
        looping.await.unwrap();
        assert_eq!(max_running.load(Ordering::SeqCst), 1);
        assert_eq!(
            passes.load(Ordering::SeqCst),
            4,
            "600 s of 150 s passes, back to back"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_during_a_pass_lets_it_finish_then_stops() {
        let shutdown = CancellationToken::new();
        let finished = Arc::new(AtomicU32::new(0));
        let f = finished.clone();
        let trigger = shutdown.clone();
        run_every(Duration::from_secs(60), shutdown.clone(), move |token| {
            let (f, trigger) = (f.clone(), trigger.clone());
            async move {
                trigger.cancel(); // a signal arrives mid-pass
                assert!(token.is_cancelled(), "the pass sees the shutdown");
                f.fetch_add(1, Ordering::SeqCst);
            }
        })
        .await;
        assert_eq!(finished.load(Ordering::SeqCst), 1, "no pass after shutdown");
    }
}
