// Skin "ucm62xx": an older UCM web console generation, hand-written like its jQuery-era pages.
// Differs from ucm63xx the way UI updates do: ids and classes, a grid of divs, a download link,
// menu labels and routes, column order, time format, "More" instead of pages.
// The server prepends `var UCM_CONFIG = {...}` to this file. Markup contract: README.md.
(function () {
  'use strict';
  var C = UCM_CONFIG;
  var ROUTES = {
    login: '/login',
    dashboard: '/status/system',
    recordings: '/cdr/recordFiles',
    cdr: '/cdr/records',
    welcome: '/home'
  };
  var NAV = [
    { group: 'status', title: 'Status', links: [
      { text: 'System Status', href: ROUTES.dashboard },
      { text: 'Active Calls', href: '/status/activeCalls' }] },
    { group: 'pbx', title: 'PBX', links: [
      { text: 'Extensions', href: '/pbx/extensions' },
      { text: 'Trunks', href: '/pbx/trunks' }] },
    { group: 'cdr', title: 'CDR', links: [
      { text: 'CDR', href: ROUTES.cdr },
      { text: 'Recording Files', href: ROUTES.recordings }] },
    { group: 'settings', title: 'Settings', links: [
      { text: 'Upgrading', href: '/settings/upgrading' }] }
  ];
  var app = document.getElementById('app');
  var ui = { layout: false, view: 0, rows: [], page: 0, pages: 1, total: 0, loading: false, navOpen: !C.menuCollapsed };

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  function cgi(params) {
    return fetch('/cgi', {
      method: 'POST',
      body: new URLSearchParams(params),
      credentials: 'same-origin'
    }).then(function (r) { return r.json(); });
  }

  function loggedIn() {
    return document.cookie.split(';').some(function (kv) {
      var p = kv.trim().split('=');
      return p[0] === 'session-identify' && p[1];
    });
  }

  // The old console greys the whole page while it loads anything.
  function loading(on) {
    var m = document.getElementById('loading-mask');
    if (on && !m) {
      m = document.createElement('div');
      m.id = 'loading-mask';
      m.className = 'loading-mask';
      m.textContent = 'Loading...';
      document.body.appendChild(m);
    }
    if (!on && m) { m.remove(); }
  }

  // The route: the path, or with `hashRouting` what follows `#` under `/`.
  function currentPath() {
    if (C.hashRouting) { return location.hash.slice(1) || '/'; }
    return location.pathname;
  }

  function setPath(path, replace) {
    var url = C.hashRouting ? '/#' + path : path;
    if (replace) { history.replaceState({}, '', url); } else { history.pushState({}, '', url); }
  }

  function go(path) {
    setPath(path);
    route();
  }

  function timedOut() {
    ui.layout = false;
    setPath(ROUTES.login, true);
    drawLogin('Session timeout. Please login again.');
  }

  // ---- login ------------------------------------------------------------------------------

  function errorText(status, r) {
    r = r || {};
    if (status === -37) { return 'Wrong username or password! Remaining attempts: ' + r.remain_num; }
    if (status === -68) { return 'Login failed too many times. This IP is locked for ' + r.remain_time + ' second(s).'; }
    if (status === -70) { return 'This IP address is forbidden to log in.'; }
    if (status === -50) { return 'Please verify that you are not a robot.'; }
    return 'Login error: ' + status;
  }

  function drawLogin(error) {
    ui.layout = false;
    ui.view++;
    var captcha = C.captcha
      ? '<div class="field captcha"><div class="g-recaptcha" data-sitekey="' + esc(C.sitekey) + '">' +
        '<iframe title="reCAPTCHA" width="304" height="78" frameborder="0" src="/recaptcha/api2/anchor?k=' +
        esc(C.sitekey) + '"></iframe><textarea id="g-recaptcha-response" name="g-recaptcha-response" ' +
        'style="display:none"></textarea></div></div>'
      : '';
    app.innerHTML =
      '<div id="login-panel" class="login-wrap">' +
      '<div class="login-title">UCM6200 Series IP PBX</div>' +
      '<form id="loginForm" name="loginForm" autocomplete="off">' +
      '<div class="field"><label for="user-name">Username</label>' +
      '<input type="text" id="user-name" name="username" class="txt-input"></div>' +
      '<div class="field"><label for="user-password">Password</label>' +
      '<input type="password" id="user-password" name="password" class="txt-input"></div>' +
      captcha +
      '<div id="login-error" class="error-msg"' + (error ? '' : ' style="display:none"') + '>' + esc(error || '') + '</div>' +
      '<input type="button" id="btn-login" class="btn btn-primary" value="Login">' +
      '</form></div>';
    var submit = function () { doLogin(); };
    document.getElementById('btn-login').addEventListener('click', submit);
    document.getElementById('user-password').addEventListener('keydown', function (e) {
      if (e.key === 'Enter') { e.preventDefault(); submit(); }
    });
    document.getElementById('loginForm').addEventListener('submit', function (e) { e.preventDefault(); });
  }

  function doLogin() {
    var user = document.getElementById('user-name').value;
    var pass = document.getElementById('user-password').value;
    var box = document.getElementById('login-error');
    var show = function (text) { box.textContent = text; box.style.display = ''; };
    if (!user || !pass) { show('Username and password are required.'); return; }
    box.style.display = 'none';
    var solved = document.getElementById('g-recaptcha-response');
    loading(true);
    cgi({ action: 'challenge', user: user, version: '1.0' }).then(function (res) {
      if (res.status !== 0) { loading(false); show(errorText(res.status, res.response)); return; }
      var params = { action: 'login', user: user, token: md5(res.response.challenge + pass) };
      if (solved) { params['g-recaptcha-response'] = solved.value; }
      return cgi(params).then(function (r2) {
        loading(false);
        if (r2.status !== 0) { show(errorText(r2.status, r2.response)); return; }
        sessionStorage.setItem('ucm-user', user);
        // `landing`: some firmwares land on a page that is neither the status page nor the list.
        go(C.landing === 'welcome' ? ROUTES.welcome : ROUTES.dashboard);
      });
    }).catch(function () { loading(false); show('Cannot connect to the server.'); });
  }

  // ---- frame ------------------------------------------------------------------------------

  // The navigation; with `menuCollapsed` it starts hidden, its links not drawn, until the
  // toggle in the top bar opens it.
  function drawNav(path) {
    var nav = NAV.map(function (g) {
      var open = ui.navOpen && g.links.some(function (l) { return l.href === path; });
      return '<li class="nav-group' + (open ? ' open' : '') + '" data-group="' + g.group + '">' +
        '<a class="nav-title">' + esc(g.title) + '</a>' +
        '<ul class="nav-sub" style="' + (open ? '' : 'display:none') + '">' +
        (!ui.navOpen ? '' : g.links.map(function (l) {
          return '<li><a class="nav-link' + (l.href === path ? ' current' : '') + '" href="' + l.href + '">' +
            esc(l.text) + '</a></li>';
        }).join('')) + '</ul></li>';
    }).join('');
    var box = document.getElementById('nav');
    box.classList.toggle('collapsed', !ui.navOpen);
    box.innerHTML = '<ul class="nav-list"' + (ui.navOpen ? '' : ' style="display:none"') + '>' + nav + '</ul>';
    box.querySelectorAll('.nav-title').forEach(function (t) {
      t.addEventListener('click', function () { slide(t.parentNode); });
    });
    box.querySelectorAll('.nav-link').forEach(function (a) {
      a.addEventListener('click', function (e) {
        e.preventDefault();
        go(a.getAttribute('href'));
      });
    });
  }

  function drawFrame(path) {
    app.innerHTML =
      // `otherLayout`: a later firmware names the frame otherwise.
      '<div id="' + (C.otherLayout ? 'app-main' : 'main') + '">' +
      '<div id="top-bar">' +
      (C.menuCollapsed ? '<a id="nav-toggle" title="Menu">&#9776;</a>' : '') +
      '<span class="product">UCM6204</span>' +
      (C.firmwareShown === 'header' ? '<span id="fw-ver">FW ' + esc(C.firmware) + '</span>' : '') +
      '<span id="cur-user">' + esc(sessionStorage.getItem('ucm-user') || '') + '</span>' +
      '<a id="logout-btn">Logout</a></div>' +
      '<div id="layout"><div id="nav"></div>' +
      '<div id="main-content"></div></div></div>';
    ui.layout = true;
    drawNav(path);
    var toggle = document.getElementById('nav-toggle');
    if (toggle) {
      toggle.addEventListener('click', function () {
        ui.navOpen = !ui.navOpen;
        drawNav(currentPath());
      });
    }
    document.getElementById('logout-btn').addEventListener('click', function () {
      cgi({ action: 'logout' }).then(function () {
        setPath(ROUTES.login, true);
        drawLogin();
      });
    });
  }

  // jQuery's slideDown/slideUp: 400 ms.
  function slide(group) {
    var sub = group.querySelector('.nav-sub');
    var opening = !group.classList.contains('open');
    group.classList.toggle('open', opening);
    sub.style.display = '';
    var full = sub.scrollHeight;
    sub.style.transition = 'none';
    sub.style.height = (opening ? 0 : full) + 'px';
    void sub.offsetHeight;
    sub.style.transition = 'height .4s ease';
    sub.style.height = (opening ? full : 0) + 'px';
    setTimeout(function () {
      sub.style.transition = '';
      sub.style.height = '';
      if (!opening) { sub.style.display = 'none'; }
    }, 420);
  }

  function route() {
    var path = currentPath();
    if (path === '/' || path === ROUTES.login) {
      // `startShowsLogin`: the start page draws the login form even to a signed-in user.
      if (loggedIn() && !C.startShowsLogin) { setPath(ROUTES.dashboard, true); route(); }
      else { setPath(ROUTES.login, true); drawLogin(); }
      return;
    }
    if (!loggedIn()) { setPath(ROUTES.login, true); drawLogin(); return; }
    if (!ui.layout) { drawFrame(path); }
    app.querySelectorAll('.nav-link').forEach(function (a) {
      a.classList.toggle('current', a.getAttribute('href') === path);
    });
    ui.view++;
    var main = document.getElementById('main-content');
    if (path === ROUTES.dashboard) { drawStatus(main); }
    else if (path === ROUTES.recordings) { drawRecordings(main); }
    else { main.innerHTML = '<h2 class="page-header">' + esc(path) + '</h2><p>Nothing here.</p>'; }
  }

  function drawStatus(main) {
    var view = ui.view;
    main.innerHTML = '<div id="system-status"><h2 class="page-header">System Status</h2></div>';
    loading(true);
    cgi({ action: 'getSystemStatus' }).then(function (res) {
      loading(false);
      if (view !== ui.view) { return; }
      if (res.status === -6) { timedOut(); return; }
      var r = res.response;
      main.innerHTML = '<div id="system-status"><h2 class="page-header">System Status</h2>' +
        '<table class="status-table"><tbody>' +
        '<tr><th>Product Model</th><td id="product-model">UCM6204</td></tr>' +
        (C.firmwareShown === 'dashboard'
          ? '<tr><th>Firmware Version</th><td id="firmware-version">' + esc(r['prog-version']) + '</td></tr>'
          : '') +
        '<tr><th>System Up Time</th><td id="up-time">' + esc(r['up-time']) + '</td></tr>' +
        '</tbody></table></div>';
    });
  }

  // ---- recording files --------------------------------------------------------------------

  function drawRecordings(main) {
    ui.rows = [];
    ui.page = 0;
    ui.pages = 1;
    ui.total = 0;
    main.innerHTML = '<div id="recording-files"><h2 class="page-header">Recording Files</h2>' +
      '<div id="rec-grid" class="grid"></div></div>';
    more();
  }

  // While "More" loads: the page mask (the file's busy marker), the grid cleared to its
  // placeholder with no mask, or a mask of another name over the old rows.
  function busy(on) {
    if (C.loading === 'marker') { loading(on); return; }
    if (C.loading === 'placeholder') { if (on) { drawGrid(true); } return; }
    var m = document.querySelector('.loading-overlay');
    if (on && !m) {
      m = document.createElement('div');
      m.className = 'loading-overlay';
      m.textContent = 'Please wait...';
      document.body.appendChild(m);
    }
    if (!on && m) { m.remove(); }
  }

  function more() {
    var view = ui.view;
    ui.loading = true;
    busy(true);
    cgi({ action: 'listFile', type: 'voice_recording', page: ui.page + 1, sidx: 'd', sord: 'desc' }).then(function (res) {
      busy(false);
      ui.loading = false;
      if (view !== ui.view) { return; }
      if (res.status === -6) { timedOut(); return; }
      var r = res.response;
      if (r.page > ui.page) {
        ui.rows = ui.rows.concat(r.voice_recording);
        ui.page = r.page;
      }
      ui.pages = r.total_page;
      ui.total = r.total_item;
      drawRows(view);
    }, function () { busy(false); ui.loading = false; });
  }

  // The rows once their data has come: at once, in two steps, drawn and then drawn again, or
  // drawn again under the first press on a download control (see the listener below).
  function drawRows(view) {
    if (C.rows === 'once') { drawGrid(); return; }
    if (C.rows === 'under-click') { ui.redrawOnPress = true; drawGrid(); return; }
    drawGrid(false, C.rows === 'two-steps');
    setTimeout(function () { if (view === ui.view && !ui.loading) { drawGrid(); } }, C.renderStepMs);
  }

  // Redraws the whole grid: every row is a new node afterwards. `cleared` shows the placeholder
  // instead of the rows (while loading); `partial` leaves out the time and the download link.
  function drawGrid(cleared, partial) {
    var grid = document.getElementById('rec-grid');
    if (!grid) { return; }
    var head = '<div class="grid-head">' +
      '<div class="grid-cell col-check"><input type="checkbox" class="check-all"></div>' +
      '<div class="grid-cell col-time">Time</div><div class="grid-cell col-callee">Callee</div>' +
      '<div class="grid-cell col-caller">Caller</div><div class="grid-cell col-name">File Name</div>' +
      '<div class="grid-cell col-size">Size</div><div class="grid-cell col-action">Action</div></div>';
    var body = (cleared ? [] : ui.rows).map(function (r) {
      // `rowKeyIsId`: the console's own id instead of the file name, and no "File Name" text.
      return '<div class="' + (C.otherRowClasses ? 'grid-line' : 'grid-row') + '" data-file="' + esc(C.rowKeyIsId ? r.id : r.f) + '">' +
        '<div class="grid-cell col-check"><input type="checkbox" class="row-check"></div>' +
        '<div class="grid-cell col-time">' + (partial ? '' : esc(r.d)) + '</div>' +
        '<div class="grid-cell col-callee">' + esc(r.callee) + '</div>' +
        '<div class="grid-cell col-caller">' + esc(r.caller) + '</div>' +
        '<div class="grid-cell col-name">' + (C.rowKeyIsId ? '' : esc(r.n)) + '</div>' +
        '<div class="grid-cell col-size">' + esc(r.s) + '</div>' +
        '<div class="grid-cell col-action">' + (partial ? '' : downloadLink(r.f)) + '<a class="delete-link">Delete</a></div></div>';
    }).join('');
    if (!body) { body = '<div class="grid-empty">No recording files.</div>'; }
    // `endByAttribute`: at the end "More" stays, disabled, instead of going.
    var moreButton = ui.page < ui.pages
      ? '<button type="button" id="btn-more" class="btn btn-more">More</button>'
      : (C.endByAttribute ? '<button type="button" id="btn-more" class="btn btn-more" disabled>More</button>' : '');
    var foot = '<div class="grid-foot"><span class="grid-count">Showing ' + ui.rows.length + ' of ' + ui.total + '</span>' +
      moreButton + '</div>';
    grid.innerHTML = head + '<div class="grid-body">' + body + '</div>' + foot;
    var button = document.getElementById('btn-more');
    if (button) {
      button.addEventListener('click', function () { if (!ui.loading && !button.disabled) { more(); } });
    }
  }

  // The row's download link: text, or (`downloadIcon`) an icon titled "Download".
  function downloadLink(file) {
    var href = '/cgi?action=downloadFile&amp;type=voice_recording&amp;data=' + encodeURIComponent(file);
    if (!C.downloadIcon) { return '<a class="download-link" href="' + href + '">Download</a>'; }
    return '<a class="btn-icon" title="Download" href="' + href + '"><svg viewBox="64 64 896 896" focusable="false" data-icon="download" width="1em" height="1em" fill="currentColor" aria-hidden="true"><path d="M505.7 661a8 8 0 0 0 12.6 0l112-141.7c4.1-5.2.4-12.9-6.3-12.9h-74.1V168c0-4.4-3.6-8-8-8h-60c-4.4 0-8 3.6-8 8v338.3H400c-6.7 0-10.4 7.7-6.3 12.9l112 141.8z"></path></svg></a>';
  }

  // `rows: under-click`: the rows drawn again between the press and the release of the first
  // click on a download control after each drawing; that click then reaches no control.
  document.addEventListener('mousedown', function (e) {
    if (ui.redrawOnPress && e.target.closest && e.target.closest('.download-link, a.btn-icon')) {
      ui.redrawOnPress = false;
      drawGrid();
    }
  }, true);

  window.addEventListener('popstate', route);
  setTimeout(route, C.bootDelayMs);
})();
