// Skin "cards": a console generation made up for `selectors learn`'s test, unlike both others:
// no ids and no form, hooks in data- attributes, a side rail with buttons, recordings as cards
// in a list, times as DD.MM.YYYY, an icon button labelled for download, "Load more".
// The server prepends `var UCM_CONFIG = {...}` to this file. Markup contract: README.md.
(function () {
  'use strict';
  var C = UCM_CONFIG;
  var ROUTES = { start: '/app/home', recordings: '/app/recordings' };
  var RAIL = [
    { section: 'home', head: 'Overview', items: [{ text: 'Home', route: ROUTES.start }] },
    { section: 'calls', head: 'Calls', items: [
      { text: 'Call Log', route: '/app/calls' },
      { text: 'Call Recordings', route: ROUTES.recordings }] },
    { section: 'system', head: 'System', items: [{ text: 'Upgrade', route: '/app/upgrade' }] }
  ];
  var shell = document.getElementById('shell');
  var ui = { framed: false, view: 0, cards: [], page: 0, pages: 1, loading: false };

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  function cgi(params) {
    return fetch('/cgi', { method: 'POST', body: new URLSearchParams(params), credentials: 'same-origin' })
      .then(function (r) { return r.json(); });
  }

  function loggedIn() {
    return document.cookie.split(';').some(function (kv) {
      var p = kv.trim().split('=');
      return p[0] === 'session-identify' && p[1];
    });
  }

  function go(path) { history.pushState({}, '', path); route(); }

  function signIn(message) {
    ui.framed = false;
    ui.view++;
    history.replaceState({}, '', '/');
    shell.innerHTML =
      '<section class="auth-card"><h1>Sign in to your PBX</h1><div class="auth-fields">' +
      '<label>Account <input type="text" data-field="account" autocomplete="username"></label>' +
      '<label>Secret <input type="password" data-field="secret" autocomplete="current-password"></label>' +
      '</div><button type="button" class="auth-go" data-action="sign-in">Sign in</button>' +
      '<p class="auth-msg"' + (message ? '' : ' hidden') + '>' + esc(message || '') + '</p></section>';
    shell.querySelector('.auth-go').addEventListener('click', function () {
      var user = shell.querySelector('[data-field=account]').value;
      var pass = shell.querySelector('[data-field=secret]').value;
      cgi({ action: 'challenge', user: user, version: '1.0' }).then(function (res) {
        if (res.status !== 0) { signIn('Sign-in failed: ' + res.status); return; }
        var token = md5(res.response.challenge + pass);
        return cgi({ action: 'login', user: user, token: token }).then(function (r2) {
          if (r2.status !== 0) { signIn('Sign-in failed: ' + r2.status); return; }
          go(ROUTES.start);
        });
      });
    });
  }

  function frame() {
    var rail = RAIL.map(function (s) {
      return '<div class="rail-section" data-section="' + s.section + '">' +
        '<button type="button" class="rail-head">' + esc(s.head) + '</button>' +
        '<div class="rail-items" hidden>' + s.items.map(function (i) {
          return '<a class="rail-item" data-route="' + i.route + '">' + esc(i.text) + '</a>';
        }).join('') + '</div></div>';
    }).join('');
    shell.innerHTML = '<div class="frame"><nav class="rail">' + rail + '</nav><div class="stage"></div></div>';
    ui.framed = true;
    shell.querySelectorAll('.rail-head').forEach(function (b) {
      b.addEventListener('click', function () {
        var items = b.nextElementSibling;
        items.hidden = !items.hidden;
      });
    });
    shell.querySelectorAll('.rail-item').forEach(function (a) {
      a.addEventListener('click', function () { go(a.getAttribute('data-route')); });
    });
  }

  function route() {
    if (!loggedIn()) { signIn(); return; }
    var path = location.pathname;
    if (path === '/') { history.replaceState({}, '', ROUTES.start); path = ROUTES.start; }
    if (!ui.framed) { frame(); }
    ui.view++;
    var stage = shell.querySelector('.stage');
    if (path === ROUTES.start) { home(stage); }
    else if (path === ROUTES.recordings) { recordings(stage); }
    else { stage.innerHTML = '<p>Nothing here.</p>'; }
  }

  function home(stage) {
    var view = ui.view;
    stage.innerHTML = '<h2>Overview</h2>';
    cgi({ action: 'getSystemStatus' }).then(function (res) {
      if (view !== ui.view) { return; }
      if (res.status === -6) { signIn('Your session ended.'); return; }
      stage.innerHTML = '<h2>Overview</h2><div class="about"><span class="about-label">Firmware</span> ' +
        '<b class="about-value">' + esc(res.response['prog-version']) + '</b></div>';
    });
  }

  function recordings(stage) {
    ui.cards = [];
    ui.page = 0;
    ui.pages = 1;
    stage.innerHTML = '<div class="rec-view"><h2>Call Recordings</h2><ol class="rec-list"></ol>' +
      '<div class="rec-foot"></div></div>';
    more();
  }

  function more() {
    var view = ui.view;
    ui.loading = true;
    var busy = document.createElement('div');
    busy.className = 'rec-busy';
    busy.textContent = 'Loading…';
    document.body.appendChild(busy);
    cgi({ action: 'listFile', type: 'voice_recording', page: ui.page + 1 }).then(function (res) {
      busy.remove();
      ui.loading = false;
      if (view !== ui.view) { return; }
      if (res.status === -6) { signIn('Your session ended.'); return; }
      var r = res.response;
      if (r.page > ui.page) { ui.cards = ui.cards.concat(r.voice_recording); ui.page = r.page; }
      ui.pages = r.total_page;
      draw();
    });
  }

  function draw() {
    var list = shell.querySelector('.rec-list');
    if (!list) { return; }
    list.innerHTML = ui.cards.map(function (c) {
      return '<li class="rec-card" data-recording="' + esc(c.f) + '">' +
        '<div class="rec-line"><span data-role="from">' + esc(c.caller) + '</span> → ' +
        '<span data-role="to">' + esc(c.callee) + '</span></div>' +
        '<time class="rec-when">' + esc(c.d) + '</time> <small class="rec-size">' + esc(c.s) + '</small>' +
        '<button type="button" class="rec-save" aria-label="Download recording">' +
        '<i class="icon icon-arrow-down"></i></button></li>';
    }).join('');
    list.querySelectorAll('.rec-save').forEach(function (b) {
      b.addEventListener('click', function () {
        var file = b.closest('.rec-card').getAttribute('data-recording');
        location.href = '/cgi?action=downloadFile&type=voice_recording&data=' + encodeURIComponent(file);
      });
    });
    var foot = shell.querySelector('.rec-foot');
    foot.innerHTML = ui.page < ui.pages ? '<button type="button" class="rec-more">Load more</button>' : '';
    var button = foot.querySelector('.rec-more');
    if (button) { button.addEventListener('click', function () { if (!ui.loading) { more(); } }); }
  }

  window.addEventListener('popstate', route);
  setTimeout(route, C.bootDelayMs);
})();
