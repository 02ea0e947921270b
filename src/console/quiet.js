// Watching the console page go quiet, from inside the page (run by `Browser::until_quiet` with
// WebDriver's execute-async; the answer comes back in one round trip).
//
// The first run in a document installs a watcher on `window`: a MutationObserver that notes when
// the part of the page being read last changed, and the page's own requests in flight (fetch
// and XMLHttpRequest). The page is quiet once nothing relevant changed for `quietMs`, no
// request has been in flight for less than `longMs`, and none of the `busy` markers is shown.
// The wait ends then, or as soon as `until` matches, or after `budgetMs`; the answer says which.
// When `read` is given, the list's rows are read in the same synchronous turn, so they are one
// state of the page: nothing can change between two cells.
//
// spec = { quietMs, budgetMs, longMs, scope: [sel], rowsScope: sel|null, busy: [sel],
//          until: sel|null,
//          read: { row: sel, cells: [sel], file: name|null, empty: sel|null } | null }
// sel  = { css: "…" } or { xpath: "…" }
// answer = { quiet, found, since, pending, invalid: "what"|null, installed,
//            rows: [{ file, cells: ["…"], missing: index|null }], empty }
(function (spec, done) {
  'use strict';
  var now = function () { return performance.now(); };

  // Every element `sel` matches within `context`, as WebDriver's own lookups would find them
  // (an XPath from an element is evaluated with that element as its context node).
  function all(sel, context) {
    context = context || document;
    if (sel.css !== undefined) {
      return Array.prototype.slice.call(context.querySelectorAll(sel.css));
    }
    var found = document.evaluate(sel.xpath, context, null,
      XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
    var out = [];
    for (var i = 0; i < found.snapshotLength; i++) {
      var node = found.snapshotItem(i);
      if (node.nodeType === 1) { out.push(node); }
    }
    return out;
  }

  // `all`, or null when the browser refuses the selector.
  function tryAll(sel, context) {
    try { return all(sel, context); } catch (e) { return null; }
  }

  function shown(el) {
    if (!el.getClientRects().length) { return false; }
    var style = window.getComputedStyle(el);
    return style.visibility !== 'hidden' && style.display !== 'none';
  }

  // The text a user sees, as WebDriver's "get element text" gives it.
  function text(el) {
    if (!shown(el)) { return ''; }
    return (el.innerText || '').replace(/\u00a0/g, ' ').replace(/[ \t]+/g, ' ').trim();
  }

  // The elements that bound what counts as a change: the list and the rows' container.
  function scopeElements(watch) {
    var els = [];
    (watch.scope || []).forEach(function (sel) {
      var found = tryAll(sel);
      if (found && found.length) { els.push(found[0]); }
    });
    if (watch.rowsScope) {
      var rows = tryAll(watch.rowsScope);
      if (rows && rows.length && rows[0].parentElement) { els.push(rows[0].parentElement); }
    }
    return els;
  }

  function relevant(watch, records) {
    var els = scopeElements(watch);
    if (!els.length) { return true; }
    return records.some(function (r) {
      var t = r.target;
      return els.some(function (e) { return e === t || e.contains(t) || t.contains(e); });
    });
  }

  function install() {
    var watch = { last: now(), inflight: {}, next: 0, scope: [], rowsScope: null };
    var touch = function () { watch.last = now(); };
    // Notes a request in flight; the function returned ends it (once: an XMLHttpRequest sent
    // again keeps its earlier listeners).
    var begin = function () {
      var id = ++watch.next;
      watch.inflight[id] = now();
      touch();
      return function () {
        if (id in watch.inflight) { delete watch.inflight[id]; touch(); }
      };
    };
    if (window.fetch) {
      var fetch = window.fetch;
      window.fetch = function () {
        var end = begin();
        try {
          var answer = fetch.apply(this, arguments);
          answer.then(end, end);
          return answer;
        } catch (e) {
          end();
          throw e;
        }
      };
    }
    var send = XMLHttpRequest.prototype.send;
    XMLHttpRequest.prototype.send = function () {
      var end = begin();
      this.addEventListener('loadend', end);
      try {
        return send.apply(this, arguments);
      } catch (e) {
        end();
        throw e;
      }
    };
    new MutationObserver(function (records) {
      if (relevant(watch, records)) { touch(); }
    }).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
    window.__ucmScraperWatch = watch;
    return watch;
  }

  // The requests in flight for less than `longMs`: one open longer (a long poll, a stream) is
  // the page's background, not a load the list waits for.
  function pending(watch) {
    var n = 0, t = now();
    for (var id in watch.inflight) {
      if (t - watch.inflight[id] < spec.longMs) { n++; }
    }
    return n;
  }

  function busyShown() {
    return (spec.busy || []).some(function (sel) {
      var found = tryAll(sel);
      return found !== null && found.some(shown);
    });
  }

  function read(answer) {
    var r = spec.read;
    var rows = tryAll(r.row);
    if (rows === null) { answer.invalid = 'row'; return; }
    answer.rows = rows.map(function (row) {
      var out = { file: r.file ? row.getAttribute(r.file) : null, cells: [], missing: null };
      for (var i = 0; i < r.cells.length; i++) {
        var found = tryAll(r.cells[i], row);
        if (found === null) { answer.invalid = 'cell ' + i; return null; }
        if (!found.length) { out.missing = i; break; }
        out.cells.push(text(found[0]));
      }
      return out;
    }).filter(function (row) { return row !== null; });
    if (!rows.length && r.empty) {
      var marker = tryAll(r.empty);
      answer.empty = marker !== null && marker.length > 0;
    }
  }

  var watch = window.__ucmScraperWatch;
  var installed = !watch;
  if (!watch) { watch = install(); }
  watch.scope = spec.scope || [];
  watch.rowsScope = spec.rowsScope || null;
  var start = now();

  function answer(quiet, found) {
    var out = { quiet: quiet, found: found, since: Math.round(now() - watch.last),
                pending: pending(watch), invalid: null, installed: installed, rows: [],
                empty: false };
    if (spec.read) { read(out); }
    done(out);
  }

  // Quiet is decided on two looks in a row: the first look, or one after the page's thread was
  // held up, may come before timers of the page that were due earlier; the next look comes
  // after them.
  var wasQuiet = false;
  function look() {
    var t = now();
    if (spec.until) {
      var hit = tryAll(spec.until);
      if (hit && hit.length) { answer(false, true); return; }
    }
    var quiet = t - watch.last >= spec.quietMs && pending(watch) === 0 && !busyShown();
    if (quiet && wasQuiet) { answer(true, false); return; }
    wasQuiet = quiet;
    if (now() - start >= spec.budgetMs) { answer(false, false); return; }
    setTimeout(look, 20);
  }
  look();
})(arguments[0], arguments[arguments.length - 1]);
