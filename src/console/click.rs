//! Clicking the console the way a person does: once the element holds still, not before the
//! console's gap, forced through overlays, and watched by the page, which tells a click that
//! reached its element from one that a redraw took away between the press and the release.

use fantoccini::elements::Element;
use fantoccini::error::{CmdError, ErrorStatus};
use serde_json::json;
use tokio::time::Instant;

use super::browser::{Browser, Step};
use super::error::ConsoleErrorKind;
use crate::selectors::{Bound, Selector};

/// Scrolls `arguments[0]` into view and answers whether it holds still there: no finite
/// animation (a CSS transition, a slide) running on it or an ancestor, and its box the same two
/// frames later (or after 200 ms where the page draws no frames). One round trip.
const STILL_SCRIPT: &str = "var el = arguments[0], done = arguments[arguments.length - 1]; \
    el.scrollIntoView({block: 'center', inline: 'nearest'}); \
    var moving = function () { \
      for (var n = el; n && n.getAnimations; n = n.parentElement) { \
        if (n.getAnimations().some(function (a) { \
          return a.playState === 'running' && a.effect \
            && a.effect.getComputedTiming().endTime !== Infinity; })) { return true; } \
      } \
      return false; }; \
    var box = function () { var r = el.getBoundingClientRect(); \
      return [r.x, r.y, r.width, r.height].join(' '); }; \
    var first = box(), answered = false; \
    var answer = function () { if (!answered) { answered = true; done(!moving() && box() === first); } }; \
    requestAnimationFrame(function () { requestAnimationFrame(answer); }); \
    setTimeout(answer, 200);";

/// Whether a click failed because something covered the element or it was not ready yet.
fn is_obstructed(e: &CmdError) -> bool {
    matches!(e, CmdError::Standard(w) if matches!(w.error, ErrorStatus::ElementClickIntercepted | ErrorStatus::ElementNotInteractable))
}

/// Arms the click witness for `arguments[0]`: a listener on the window, ahead of every handler
/// of the page, notes whether a click's path holds the element or one drawn the same way (the
/// same markup) in its place, since a redraw that comes before the press moves the whole click
/// to the new element, and that click does download.
const WATCH_CLICK_SCRIPT: &str = "var el = arguments[0]; \
    window.__ucmScraperClick = {el: el, html: el.outerHTML, hit: false}; \
    if (!window.__ucmScraperClickListener) { \
      window.__ucmScraperClickListener = true; \
      window.addEventListener('click', function (e) { \
        var w = window.__ucmScraperClick; \
        if (!w) { return; } \
        e.composedPath().forEach(function (n) { \
          if (n === w.el || (n.tagName === w.el.tagName && n.outerHTML === w.html)) { w.hit = true; } \
        }); \
      }, true); \
    }";

/// Answers the witness: `false` when no click reached the element and it is gone from the page,
/// that is the page drew its rows anew between the press and the release, so the release hit
/// another element and the click went to neither. `null` on a page that was not watched.
const REACHED_SCRIPT: &str = "var w = window.__ucmScraperClick; window.__ucmScraperClick = null; \
    return w ? (w.hit || w.el.isConnected) : null;";

impl Browser {
    /// Clicks the element `bound` finds, re-finding it when the UI re-rendered it, scrolling it
    /// into view, and forcing the click through overlays and animations as the operators did.
    pub(crate) async fn click(&self, bound: &Bound, busy: &[Selector]) -> Step<()> {
        for _ in 0..3 {
            self.wait_until_idle(busy).await?;
            let element = self.wait_for(bound).await?;
            if self.click_element(&element).await? {
                return Ok(());
            }
        }
        Err(ConsoleErrorKind::missing(bound))
    }

    /// Clicks one element, scrolled into view; `false` when it went stale, or the page redrew it
    /// under the click, so the caller finds it again.
    pub(crate) async fn click_element(&self, element: &Element) -> Step<bool> {
        Ok(self.click_element_at(element, None).await?.is_some())
    }

    /// [`Browser::click_element`], the click itself not before `at`: the element is scrolled
    /// into view and found still beforehand, so the click follows `at` at once (the console
    /// times its gap between downloads from the request the click makes). Returns when the
    /// click command returned, `None` where [`Browser::click_element`] says `false`.
    pub(crate) async fn click_element_at(
        &self,
        element: &Element,
        at: Option<Instant>,
    ) -> Step<Option<Instant>> {
        let arg = serde_json::to_value(element).unwrap_or(json!(null));
        if !self.wait_until_still(&arg).await? || !self.watch_click(&arg).await? {
            return Ok(None);
        }
        if let Some(at) = at {
            tokio::time::sleep_until(at).await;
        }
        let clicked = match self.run("clicking", element.click()).await {
            Ok(()) => true,
            Err(ConsoleErrorKind::Stale { .. }) => false,
            Err(ConsoleErrorKind::WebDriver { source, .. }) if is_obstructed(&source) => {
                let forced = self.client().execute("arguments[0].click();", vec![arg]);
                match self.run("forcing a click", forced).await {
                    Ok(_) => true,
                    Err(ConsoleErrorKind::Stale { .. }) => false,
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        let done = Instant::now();
        Ok((clicked && self.click_reached().await).then_some(done))
    }

    /// Scrolls the element into view and waits, bounded by the element timeout, until it holds
    /// still there: no animation running on it or around it, and the same box over two frames.
    /// The console's menus slide open with a height animation that clips their items; scrolled
    /// into view meanwhile, an item moves again as the list grows, and a click aimed at it lands
    /// on the item above.
    /// `false` when the element went stale. Still moving at the deadline: clicked anyway.
    async fn wait_until_still(&self, element: &serde_json::Value) -> Step<bool> {
        let deadline = Instant::now() + self.timeouts.element;
        loop {
            let asked = self
                .client()
                .execute_async(STILL_SCRIPT, vec![element.clone()]);
            match self
                .run("waiting for an element to hold still", asked)
                .await
            {
                Ok(still) if still.as_bool() == Some(true) => return Ok(true),
                Ok(_) if Instant::now() >= deadline => return Ok(true),
                Ok(_) => {}
                Err(ConsoleErrorKind::Stale { .. }) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts watching whether the next click reaches `element`; `false` when it went stale.
    async fn watch_click(&self, element: &serde_json::Value) -> Step<bool> {
        let watch = self
            .client()
            .execute(WATCH_CLICK_SCRIPT, vec![element.clone()]);
        match self.run("watching a click", watch).await {
            Ok(_) => Ok(true),
            Err(ConsoleErrorKind::Stale { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether the click just made may have reached the element: `false` only on the page's
    /// word that it did not (see [`REACHED_SCRIPT`]). A page that cannot tell (it navigated
    /// away, the script failed) counts as reached, as every click did before the witness.
    async fn click_reached(&self) -> bool {
        let asked = self.client().execute(REACHED_SCRIPT, vec![]);
        match self.run("asking whether a click arrived", asked).await {
            Ok(answer) if answer.as_bool() == Some(false) => {
                tracing::info!(
                    "the page redrew the element under the click, which reached nothing; \
                     finding it again to click once more"
                );
                false
            }
            Ok(_) => true,
            Err(e) => {
                tracing::debug!(error = %e, "cannot tell whether the click arrived; taking it as arrived");
                true
            }
        }
    }
}
