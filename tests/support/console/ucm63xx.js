// Skin "ucm63xx": the UCM63xx / CloudUCM web console as a hand-written single-page app with
// Ant Design 3 markup. The server prepends `var UCM_CONFIG = {...}` to this file.
// Markup contract: README.md next to this file.
(function () {
  'use strict';
  var C = UCM_CONFIG;
  var ROUTES = {
    login: '/',
    dashboard: '/system-status/dashboard',
    recordings: '/cdr/recordingFile',
    cdr: '/cdr/cdr',
    welcome: '/welcome'
  };
  var MENU = [
    { key: 'status', label: 'System Status', items: [
      { label: 'Dashboard', path: ROUTES.dashboard },
      { label: 'System Information', path: '/system-status/systemInfo' }] },
    { key: 'extension', label: 'Extension / Trunk', items: [
      { label: 'Extensions', path: '/extension-trunk/extension' },
      { label: 'VoIP Trunks', path: '/extension-trunk/voipTrunk' }] },
    { key: 'cdr', label: 'CDR', items: [
      { label: 'CDR', path: ROUTES.cdr },
      { label: 'Statistics', path: '/cdr/statistics' },
      { label: 'Recordings', path: ROUTES.recordings }] },
    { key: 'maintenance', label: 'Maintenance', items: [
      { label: 'Upgrade', path: '/maintenance/upgrade' }] }
  ];
  var root = document.getElementById('root');
  var app = { layout: false, page: 1, loading: false, view: 0, menuOpen: !C.menuCollapsed };

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

  function hasSessionCookie() {
    return document.cookie.split(';').some(function (kv) {
      var p = kv.trim().split('=');
      return p[0] === 'session-identify' && p[1];
    });
  }

  // AntD `message`: a toast at the top that goes away after 3 s.
  function message(kind, text) {
    var box = document.querySelector('.ant-message');
    if (!box) {
      box = document.createElement('div');
      box.className = 'ant-message';
      document.body.appendChild(box);
    }
    var n = document.createElement('div');
    n.className = 'ant-message-notice';
    n.innerHTML = '<div class="ant-message-notice-content"><div class="ant-message-custom-content ant-message-' +
      kind + '"><i class="anticon anticon-' + (kind === 'error' ? 'close-circle' : 'exclamation-circle') +
      '"></i><span>' + esc(text) + '</span></div></div>';
    box.appendChild(n);
    setTimeout(function () { n.remove(); }, 3000);
  }

  // The optional full-page mask during loads (UCM_CONFIG.overlay).
  function mask(on) {
    if (!C.overlay) { return; }
    var m = document.querySelector('.page-loading-mask');
    if (on && !m) {
      m = document.createElement('div');
      m.className = 'page-loading-mask';
      m.innerHTML = '<div class="ant-spin ant-spin-lg ant-spin-spinning"><span class="ant-spin-dot"></span>' +
        '<div class="ant-spin-text">Loading...</div></div>';
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

  function navigate(path) {
    setPath(path);
    renderRoute();
  }

  function sessionExpired() {
    app.layout = false;
    setPath(ROUTES.login, true);
    renderLogin();
    message('warning', 'Your session has expired. Please log in again.');
  }

  // ---- login ------------------------------------------------------------------------------

  function loginError(status, response) {
    response = response || {};
    switch (status) {
      case -37:
        return 'Incorrect username or password. You have ' + response.remain_num + ' attempt(s) left.';
      case -68:
        return 'Too many failed login attempts. Your IP address has been locked. Please try again in ' +
          response.remain_time + ' seconds.';
      case -70:
        return 'Your IP address has been blocked. Please contact the administrator.';
      case -50:
        return 'Please complete the reCAPTCHA verification.';
      default:
        return 'Login failed (error code ' + status + ').';
    }
  }

  function renderLogin() {
    app.layout = false;
    app.view++;
    var captcha = '';
    if (C.captcha) {
      captcha = '<div class="ant-form-item captcha-item"><div class="g-recaptcha" data-sitekey="' + esc(C.sitekey) +
        '"><div style="width:304px;height:78px"><iframe title="reCAPTCHA" width="304" height="78" frameborder="0" ' +
        'src="/recaptcha/api2/anchor?ar=1&k=' + esc(C.sitekey) + '&hl=en&size=normal"></iframe></div>' +
        '<textarea id="g-recaptcha-response" name="g-recaptcha-response" class="g-recaptcha-response" ' +
        'style="display:none"></textarea></div></div>';
    }
    root.innerHTML =
      '<div class="login-page"><div class="login-box">' +
      '<div class="login-logo"><span class="logo-text">UCM6300</span></div>' +
      '<form class="ant-form ant-form-horizontal login-form" autocomplete="off">' +
      '<div class="ant-form-item"><div class="ant-form-item-control">' +
      '<input id="username" type="text" class="ant-input login-input" placeholder="Username" maxlength="64">' +
      '<div class="ant-form-explain"></div></div></div>' +
      '<div class="ant-form-item"><div class="ant-form-item-control">' +
      '<input id="password" type="password" class="ant-input login-input" placeholder="Password" maxlength="64">' +
      '<div class="ant-form-explain"></div></div></div>' +
      captcha +
      '<div class="ant-form-item"><button type="submit" class="ant-btn ant-btn-primary login-btn">' +
      '<span>Login</span></button></div>' +
      '</form>' +
      '<div class="login-footer">Copyright &copy; Grandstream Networks, Inc. All Rights Reserved.</div>' +
      '</div></div>';
    var form = root.querySelector('form.login-form');
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      submitLogin(form);
    });
  }

  function submitLogin(form) {
    var user = form.querySelector('#username');
    var pass = form.querySelector('#password');
    var button = form.querySelector('.login-btn');
    var explains = form.querySelectorAll('.ant-form-explain');
    explains[0].textContent = user.value ? '' : 'Please enter username';
    explains[1].textContent = pass.value ? '' : 'Please enter password';
    if (!user.value || !pass.value) { return; }
    button.classList.add('ant-btn-loading');
    var solved = form.querySelector('#g-recaptcha-response');
    var fail = function (res) {
      button.classList.remove('ant-btn-loading');
      pass.value = '';
      message('error', loginError(res.status, res.response));
    };
    cgi({ action: 'challenge', user: user.value, version: '1.0' }).then(function (res) {
      if (res.status !== 0) { fail(res); return; }
      var params = { action: 'login', user: user.value, token: md5(res.response.challenge + pass.value) };
      if (solved) { params['g-recaptcha-response'] = solved.value; }
      return cgi(params).then(function (res2) {
        if (res2.status !== 0) { fail(res2); return; }
        sessionStorage.setItem('ucm-user', user.value);
        // `landing`: some firmwares land on a page that is neither the dashboard nor the list.
        navigate(C.landing === 'welcome' ? ROUTES.welcome : ROUTES.dashboard);
      });
    }).catch(function () {
      button.classList.remove('ant-btn-loading');
      message('error', 'Network error. Please try again.');
    });
  }

  // ---- layout -----------------------------------------------------------------------------

  // The side menu; with `menuCollapsed` it starts hidden, its items not drawn, until the
  // trigger in the header opens it.
  function menuHtml(path) {
    return MENU.map(function (group) {
      var open = app.menuOpen && group.items.some(function (i) { return i.path === path; });
      var items = !app.menuOpen ? '' : group.items.map(function (i) {
        return '<li class="ant-menu-item' + (i.path === path ? ' ant-menu-item-selected' : '') +
          '" role="menuitem" data-path="' + esc(i.path) + '"><span>' + esc(i.label) + '</span></li>';
      }).join('');
      return '<li class="ant-menu-submenu ant-menu-submenu-inline' + (open ? ' ant-menu-submenu-open' : '') +
        '" role="menuitem" data-menu-key="' + group.key + '">' +
        '<div class="ant-menu-submenu-title" aria-expanded="' + open + '" aria-haspopup="true">' +
        '<span>' + esc(group.label) + '</span><i class="ant-menu-submenu-arrow"></i></div>' +
        '<ul class="ant-menu ant-menu-sub ant-menu-inline' + (open ? '' : ' ant-menu-hidden') + '" role="menu">' +
        items + '</ul></li>';
    }).join('');
  }

  function drawMenu(path) {
    var aside = root.querySelector('aside.ant-layout-sider');
    aside.classList.toggle('ant-layout-sider-collapsed', !app.menuOpen);
    // `otherLayout`: a later firmware's menu root is a div, not a list.
    var tag = C.otherLayout ? 'div' : 'ul';
    aside.innerHTML = '<' + tag + ' class="ant-menu ant-menu-dark ant-menu-root ant-menu-inline" role="menu"' +
      (app.menuOpen ? '' : ' style="display:none"') + '>' + menuHtml(path) + '</' + tag + '>';
    aside.querySelectorAll('.ant-menu-submenu-title').forEach(function (title) {
      title.addEventListener('click', function () { toggleSubmenu(title.parentNode); });
    });
    aside.querySelectorAll('.ant-menu-sub .ant-menu-item').forEach(function (item) {
      item.addEventListener('click', function (e) {
        e.stopPropagation();
        navigate(item.getAttribute('data-path'));
      });
    });
  }

  function renderLayout(path) {
    root.innerHTML =
      '<section class="ant-layout app-layout">' +
      '<header class="ant-layout-header app-header">' +
      (C.menuCollapsed ? '<span class="ant-layout-sider-trigger" title="Menu"><i class="anticon anticon-menu-unfold">&#9776;</i></span>' : '') +
      '<div class="logo">UCM6300</div>' +
      '<div class="header-right">' +
      (C.firmwareShown === 'header' ? '<span class="header-firmware" title="Firmware">Firmware ' + esc(C.firmware) + '</span>' : '') +
      '<span class="header-user">' + esc(sessionStorage.getItem('ucm-user') || '') + '</span>' +
      '<a class="logout-link" title="Logout"><span class="sprite sprite-logout"></span><span>Logout</span></a></div></header>' +
      '<section class="ant-layout app-body">' +
      '<aside class="ant-layout-sider"></aside>' +
      '<main class="ant-layout-content"><div id="content" class="content"></div></main>' +
      '</section></section>';
    app.layout = true;
    drawMenu(path);
    var trigger = root.querySelector('.ant-layout-sider-trigger');
    if (trigger) {
      trigger.addEventListener('click', function () {
        app.menuOpen = !app.menuOpen;
        drawMenu(currentPath());
      });
    }
    root.querySelector('.logout-link').addEventListener('click', function () {
      cgi({ action: 'logout' }).then(function () {
        setPath(ROUTES.login, true);
        renderLogin();
      });
    });
  }

  // AntD's collapse motion: the submenu's height animates over 0.3 s.
  function toggleSubmenu(li) {
    var ul = li.querySelector('ul.ant-menu-sub');
    var title = li.querySelector('.ant-menu-submenu-title');
    var opening = !li.classList.contains('ant-menu-submenu-open');
    li.classList.toggle('ant-menu-submenu-open', opening);
    title.setAttribute('aria-expanded', String(opening));
    ul.classList.remove('ant-menu-hidden');
    ul.classList.add('ant-motion-collapse');
    var full = ul.scrollHeight;
    ul.style.transition = 'none';
    ul.style.height = (opening ? 0 : full) + 'px';
    void ul.offsetHeight;
    ul.style.transition = 'height .3s cubic-bezier(.645,.045,.355,1)';
    ul.style.height = (opening ? full : 0) + 'px';
    setTimeout(function () {
      ul.classList.remove('ant-motion-collapse');
      ul.style.transition = '';
      ul.style.height = '';
      if (!opening) { ul.classList.add('ant-menu-hidden'); }
    }, 320);
  }

  function selectMenu(path) {
    root.querySelectorAll('.ant-menu-sub .ant-menu-item').forEach(function (item) {
      item.classList.toggle('ant-menu-item-selected', item.getAttribute('data-path') === path);
    });
  }

  // ---- views ------------------------------------------------------------------------------

  function renderRoute() {
    var path = currentPath();
    if (path === ROUTES.login || path === '/login') {
      // `startShowsLogin`: the start page draws the login form even to a signed-in user.
      if (hasSessionCookie() && !C.startShowsLogin) {
        setPath(ROUTES.dashboard, true);
        renderRoute();
      } else {
        renderLogin();
      }
      return;
    }
    if (!hasSessionCookie()) {
      setPath(ROUTES.login, true);
      renderLogin();
      return;
    }
    if (!app.layout) { renderLayout(path); } else { selectMenu(path); }
    app.view++;
    if (path === ROUTES.dashboard) {
      renderDashboard();
    } else if (path === ROUTES.recordings) {
      renderRecordings();
    } else {
      var label = path.split('/').pop();
      content().innerHTML = '<div class="page-title">' + esc(label) + '</div>' +
        '<div class="ant-card"><div class="ant-card-body">' + esc(label) + '</div></div>';
    }
  }

  function content() { return document.getElementById('content'); }

  function renderDashboard() {
    var view = app.view;
    mask(true);
    content().innerHTML = '<div class="dashboard"><div class="page-title">Dashboard</div>' +
      '<div class="ant-spin-nested-loading"><div><div class="ant-spin ant-spin-spinning"><span class="ant-spin-dot"></span></div></div>' +
      '<div class="ant-spin-container ant-spin-blur"><div class="ant-card system-info"></div></div></div></div>';
    cgi({ action: 'getSystemStatus' }).then(function (res) {
      mask(false);
      if (view !== app.view) { return; }
      if (res.status === -6) { sessionExpired(); return; }
      var r = res.response;
      content().innerHTML = '<div class="dashboard"><div class="page-title">Dashboard</div>' +
        '<div class="ant-card system-info"><div class="ant-card-head"><div class="ant-card-head-title">System Information</div></div>' +
        '<div class="ant-card-body"><ul class="info-list">' +
        '<li><span class="info-label">Model:</span><span class="info-value model">' + esc(r.model) + '</span></li>' +
        (C.firmwareShown === 'dashboard'
          ? '<li><span class="info-label">Firmware Version:</span><span class="info-value prog-version">' + esc(r['prog-version']) + '</span></li>'
          : '') +
        '<li><span class="info-label">Up Time:</span><span class="info-value up-time">' + esc(r['up-time']) + '</span></li>' +
        '</ul></div></div></div>';
    });
  }

  function renderRecordings() {
    app.page = 1;
    app.data = null;
    app.filter = { caller: '', callee: '' };
    content().innerHTML = '<div class="recording-file"><div class="page-title"><span>Recordings</span></div>' +
      '<div class="top-buttons"><button type="button" class="ant-btn btn-delete-all"><span>Delete All</span></button> ' +
      '<button type="button" class="ant-btn btn-download-all"><span>Download All</span></button></div>' +
      '<form class="ant-form ant-form-inline recording-search" autocomplete="off">' +
      '<div class="ant-form-item"><label for="search-caller">Caller</label> ' +
      '<input id="search-caller" type="text" class="ant-input search-input" placeholder="Caller"></div>' +
      '<div class="ant-form-item"><label for="search-callee">Callee</label> ' +
      '<input id="search-callee" type="text" class="ant-input search-input" placeholder="Callee"></div>' +
      '<div class="ant-form-item"><button type="submit" class="ant-btn ant-btn-primary search-btn"><span>Search</span></button> ' +
      '<button type="button" class="ant-btn reset-btn"><span>Reset</span></button></div></form>' +
      '<div class="ant-table-wrapper" id="recordings-table"></div></div>';
    var form = content().querySelector('form.recording-search');
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      if (app.loading) { return; }
      app.filter = {
        caller: form.querySelector('#search-caller').value,
        callee: form.querySelector('#search-callee').value
      };
      loadPage(1);
    });
    form.querySelector('.reset-btn').addEventListener('click', function () {
      if (app.loading) { return; }
      form.querySelector('#search-caller').value = '';
      form.querySelector('#search-callee').value = '';
      app.filter = { caller: '', callee: '' };
      loadPage(1);
    });
    loadPage(1);
  }

  function loadPage(page) {
    var view = app.view;
    app.loading = true;
    mask(true);
    drawTable();
    cgi({
      action: 'listFile', type: 'voice_recording', page: page, sidx: 'd', sord: 'desc',
      caller: app.filter.caller, callee: app.filter.callee
    }).then(function (res) {
      mask(false);
      if (view !== app.view) { return; }
      app.loading = false;
      if (res.status === -6) { sessionExpired(); return; }
      app.data = res.response;
      app.page = res.response.page;
      drawRows(view);
    }, function () {
      mask(false);
      app.loading = false;
      drawTable();
      message('error', 'Network error. Please try again.');
    });
  }

  // The rows once their data has come: at once, in two steps, drawn and then drawn again, or
  // drawn again under the first press on a download control (see the listener below).
  function drawRows(view) {
    if (C.rows === 'once') { drawTable(); return; }
    if (C.rows === 'under-click') { app.redrawOnPress = true; drawTable(); return; }
    drawTable(C.rows === 'two-steps');
    setTimeout(function () { if (view === app.view && !app.loading) { drawTable(); } }, C.renderStepMs);
  }

  // Redraws the whole table: every row and pager element is a new node afterwards. `partial`
  // leaves out the call time and the download control (the first of two steps).
  function drawTable(partial) {
    var wrap = document.getElementById('recordings-table');
    if (!wrap) { return; }
    var data = app.data || { voice_recording: [], total_item: 0, total_page: 1, page: 1 };
    var cleared = app.loading && C.loading === 'placeholder';
    // The row key: the file name, or (`rowKeyIsId`) the console's own id; the click looks the
    // file up by it, as the real app looks up its row record.
    var files = {};
    var rows = (cleared ? [] : data.voice_recording).map(function (r) {
      var key = C.rowKeyIsId ? r.id : r.f;
      files[key] = r.f;
      return '<tr class="' + (C.otherRowClasses ? 'rc-table-row' : 'ant-table-row ant-table-row-level-0') + '" data-row-key="' + esc(key) + '">' +
        '<td class="ant-table-selection-column"><span class="ant-checkbox-wrapper"><span class="ant-checkbox">' +
        '<input type="checkbox" class="ant-checkbox-input" value="on"><span class="ant-checkbox-inner"></span></span></span></td>' +
        '<td>' + esc(r.caller) + '</td>' +
        '<td>' + esc(r.callee) + '</td>' +
        '<td>' + (partial ? '' : esc(r.d)) + '</td>' +
        '<td>' + esc(r.s) + '</td>' +
        '<td><span class="sprite sprite-play" title="Play"></span></td>' +
        '<td>' + (partial ? '' : downloadControl()) +
        '<span class="sprite sprite-del" title="Delete"></span></td></tr>';
    }).join('');
    var spin = '';
    if (app.loading && C.loading === 'marker') {
      spin = '<div><div class="ant-spin ant-spin-spinning"><span class="ant-spin-dot"></span></div></div>';
    } else if (app.loading && C.loading === 'mask') {
      spin = '<div><div class="ant-table-loading-mask"><span class="ant-spin-dot"></span></div></div>';
    }
    var empty = (!rows && (cleared || !app.loading)) ? '<div class="ant-table-placeholder"><span>No Data</span></div>' : '';
    wrap.innerHTML =
      '<div class="ant-spin-nested-loading">' + spin +
      '<div class="ant-spin-container' + (app.loading && C.loading === 'marker' ? ' ant-spin-blur' : '') + '">' +
      '<div class="ant-table ant-table-default ant-table-scroll-position-left"><div class="ant-table-content"><div class="ant-table-body">' +
      '<table><thead class="ant-table-thead"><tr>' +
      '<th class="ant-table-selection-column"><span class="ant-checkbox"><input type="checkbox" class="ant-checkbox-input"></span></th>' +
      '<th><span>Caller</span></th><th><span>Callee</span></th><th><span>Call Time</span></th>' +
      '<th><span>Size</span></th><th><span>Play</span></th><th><span>Options</span></th>' +
      '</tr></thead><tbody class="' + (C.otherRowClasses ? 'rc-table-tbody' : 'ant-table-tbody') + '">' + rows + '</tbody></table>' + empty +
      '</div></div></div>' + pagination(data) + '</div></div>';
    wrap.querySelectorAll('tr[data-row-key] .sprite-download, tr[data-row-key] .anticon-download').forEach(function (icon) {
      icon.addEventListener('click', function () {
        download(files[icon.closest('tr').getAttribute('data-row-key')]);
      });
    });
    wrap.querySelectorAll('.ant-pagination li[data-page]').forEach(function (li) {
      li.addEventListener('click', function () {
        if (app.loading || li.classList.contains('ant-pagination-disabled') ||
            li.getAttribute('aria-disabled') === 'true') { return; }
        var target = Number(li.getAttribute('data-page'));
        if (target !== app.page) { loadPage(target); }
      });
    });
  }

  // The row's download control: the sprite, or (`downloadIcon`) a later firmware's Ant Design icon.
  function downloadControl() {
    if (!C.downloadIcon) { return '<span class="sprite sprite-download" title="Download"></span>'; }
    return '<span role="img" aria-label="download" tabindex="-1" class="anticon anticon-download">' +
      '<svg viewBox="64 64 896 896" focusable="false" data-icon="download" width="1em" height="1em" fill="currentColor" aria-hidden="true"><path d="M505.7 661a8 8 0 0 0 12.6 0l112-141.7c4.1-5.2.4-12.9-6.3-12.9h-74.1V168c0-4.4-3.6-8-8-8h-60c-4.4 0-8 3.6-8 8v338.3H400c-6.7 0-10.4 7.7-6.3 12.9l112 141.8z"></path></svg></span>';
  }

  function pagination(data) {
    var pages = Math.max(1, data.total_page);
    var page = data.page;
    var out = '<ul class="ant-pagination ant-table-pagination" unselectable="unselectable">' +
      '<li class="ant-pagination-total-text">Total: ' + data.total_item + '</li>';
    var prevOff = page <= 1;
    out += '<li title="Previous Page" class="ant-pagination-prev' + (prevOff ? ' ant-pagination-disabled' : '') +
      '" aria-disabled="' + prevOff + '" tabindex="0" data-page="' + Math.max(1, page - 1) +
      '"><a class="ant-pagination-item-link"><i class="anticon anticon-left">&lsaquo;</i></a></li>';
    var shown = [];
    for (var p = 1; p <= pages; p++) {
      if (pages <= 9 || p === 1 || p === pages || Math.abs(p - page) <= 2) { shown.push(p); }
    }
    var last = 0;
    shown.forEach(function (p) {
      if (p - last > 1) {
        var jump = p < page ? 'prev' : 'next';
        var to = jump === 'prev' ? Math.max(1, page - 5) : Math.min(pages, page + 5);
        out += '<li title="' + (jump === 'prev' ? 'Previous 5 Pages' : 'Next 5 Pages') +
          '" class="ant-pagination-jump-' + jump + '" tabindex="0" data-page="' + to + '"><a class="ant-pagination-item-link">&bull;&bull;&bull;</a></li>';
      }
      out += '<li title="' + p + '" class="ant-pagination-item ant-pagination-item-' + p +
        (p === page ? ' ant-pagination-item-active' : '') + '" tabindex="0" data-page="' + p + '"><a>' + p + '</a></li>';
      last = p;
    });
    var nextOff = page >= pages;
    // `endByAttribute`: the end is said by attributes only, without the class.
    var nextClass = nextOff && !C.endByAttribute ? ' ant-pagination-disabled' : '';
    out += '<li title="Next Page" class="ant-pagination-next' + nextClass +
      '" aria-disabled="' + nextOff + '"' + (nextOff && C.endByAttribute ? ' disabled' : '') +
      ' tabindex="0" data-page="' + Math.min(pages, page + 1) +
      '"><a class="ant-pagination-item-link"><i class="anticon anticon-right">&rsaquo;</i></a></li></ul>';
    return out;
  }

  // The download icon: check the file, then navigate to the attachment.
  function download(file) {
    mask(true);
    cgi({ action: 'checkFile', type: 'voice_recording', data: file }).then(function (res) {
      mask(false);
      if (res.status === 0) {
        window.location.href = '/cgi?action=downloadFile&type=voice_recording&data=' + encodeURIComponent(file);
      } else if (res.status === -6) {
        sessionExpired();
      } else {
        message('error', 'The file does not exist.');
      }
    }, function () {
      mask(false);
      message('error', 'Network error. Please try again.');
    });
  }

  // `rows: under-click`: the rows drawn again between the press and the release of the first
  // click on a download control after each drawing; that click then reaches no control.
  document.addEventListener('mousedown', function (e) {
    if (app.redrawOnPress && e.target.closest && e.target.closest('.sprite-download, .anticon-download')) {
      app.redrawOnPress = false;
      drawTable();
    }
  }, true);

  window.addEventListener('popstate', renderRoute);
  // Like the real bundle: nothing is drawn until the script has "loaded".
  setTimeout(renderRoute, C.bootDelayMs);
})();
