// Keeps the live board current from the hall's server-sent events, without reloading:
// the queue and alerts from the stream, the KPI cards from the hall's roll-up after
// events (at most every few seconds), the hall clock and waits ticking on in the page.
(function () {
  var cfg = JSON.parse(document.getElementById('board-data').textContent);
  var hall = cfg.hall;
  var minutes = function (s) { return s == null ? '–' : String(Math.round(s / 60)); };
  var text = function (tag, s, cls) { var e = document.createElement(tag); e.textContent = s; if (cls) e.className = cls; return e; };
  var byId = function (id) { return document.getElementById(id); };

  // The hall's clock: the server's (the demo's runs faster), in the hall's zone.
  var loaded = Date.now();
  var hallNow = function () { return cfg.now + (Date.now() - loaded) * cfg.speed; };
  function clock(ms) { return new Date(ms + cfg.offset_min * 60000).toISOString().slice(11, 16); }
  function tick() { byId('hall-clock').textContent = clock(hallNow()); if (last) renderQueue(last); }
  setInterval(tick, Math.max(1000, 15000 / Math.max(1, cfg.speed)));

  // c1, c2, …, c10, as the server sorts them.
  function natural(a, b) { return a.localeCompare(b, undefined, { numeric: true }); }

  var last = null;
  function renderQueue(q) {
    last = q;
    var open = q.open_counters.slice().sort(natural);
    byId('counters').textContent = open.length ? open.join(' · ') : cfg.none_open;
    var body = document.querySelector('#waiting tbody');
    body.replaceChildren();
    q.waiting.forEach(function (w) {
      var tr = document.createElement('tr');
      tr.dataset.ticket = w.ticket;
      var waited = Math.max(0, hallNow() - w.since);
      var late = waited > cfg.care_after_ms;
      if (late) tr.className = 'late';
      tr.appendChild(text('td', w.ticket));
      tr.appendChild(text('td', cfg.services[w.service] || w.service));
      var td = text('td', minutes(waited / 1000));
      if (late) { td.appendChild(document.createTextNode(' ')); td.appendChild(text('span', cfg.late, 'late-tag')); }
      tr.appendChild(td);
      tr.appendChild(text('td', String(w.ahead)));
      tr.appendChild(text('td', minutes(w.predicted_wait_s)));
      body.appendChild(tr);
    });
    if (!q.waiting.length) {
      var tr = document.createElement('tr');
      tr.className = 'empty-row';
      var td = text('td', open.length ? cfg.none_waiting : cfg.closed, 'empty');
      td.colSpan = 5;
      tr.appendChild(td);
      body.appendChild(tr);
    }
    var crowded = byId('crowded');
    var per = open.length ? q.waiting.length / open.length : 0;
    if (open.length && per > cfg.max_per_counter) {
      crowded.textContent = '⚠ ' + cfg.crowded.replace('{w}', q.waiting.length).replace('{c}', open.length).replace('{r}', per.toFixed(1));
      crowded.hidden = false;
    } else {
      crowded.hidden = true;
    }
  }

  function alertLine(a) { return clock(a.raised_at) + ' · ' + (cfg.kinds[a.kind] || a.kind) + ' · ' + (a.ticket || a.kiosk || ''); }

  function renderAlerts(list) {
    var ul = byId('alerts');
    ul.replaceChildren();
    var open = list.filter(function (a) { return a.acked_at == null && a.cleared_at == null; });
    open.forEach(function (a) {
      var li = document.createElement('li');
      li.dataset.alert = a.id;
      li.appendChild(document.createTextNode(alertLine(a) + (a.vip ? ' · ' : '')));
      if (a.vip) li.appendChild(text('b', cfg.vip));
      var b = text('button', cfg.ack, 'btn ack');
      b.dataset.id = a.id;
      li.appendChild(document.createTextNode(' '));
      li.appendChild(b);
      ul.appendChild(li);
    });
    if (!open.length) ul.appendChild(text('li', cfg.no_alerts, 'empty'));
    // Today's alerts, newest first, open or over: they stay readable after they clear.
    var day = byId('day-alerts');
    day.replaceChildren();
    list.slice().reverse().forEach(function (a) {
      var state = a.acked_at != null ? cfg.acked_at + ' ' + clock(a.acked_at) + (a.acked_by ? ' · ' + a.acked_by : '')
        : a.cleared_at != null ? cfg.cleared_at + ' ' + clock(a.cleared_at) : cfg.open;
      var li = text('li', alertLine(a) + ' — ' + state, (a.acked_at != null || a.cleared_at != null) ? 'over' : '');
      day.appendChild(li);
    });
    if (!list.length) day.appendChild(text('li', cfg.no_day_alerts, 'empty'));
    byId('day-alert-count').textContent = String(list.length);
  }

  // The stream says that alerts changed; the alerts endpoint adds ids and acknowledgements.
  function refreshAlerts() {
    fetch('/api/v1/halls/' + encodeURIComponent(hall) + '/alerts?state=all', { credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (list) { if (list) renderAlerts(list); });
  }

  function renderKpis(cards) {
    cards.forEach(function (c) {
      var card = document.querySelector('[data-kpi="' + c.key + '"]');
      if (!card) return;
      card.querySelector('.n').textContent = c.value;
      card.classList.toggle('miss', !!c.miss);
      var m = card.querySelector('.miss-text');
      if (c.miss && !m) { m = text('div', '', 'miss-text'); card.appendChild(m); }
      if (m) { if (c.miss) m.textContent = '⚠ ' + c.miss; else m.remove(); }
    });
  }

  // At most one KPI read every 3 s however busy the hall, and one a minute when quiet.
  var kpiTimer = null;
  function refreshKpis() {
    if (kpiTimer) return;
    kpiTimer = setTimeout(function () {
      kpiTimer = null;
      fetch('/halls/' + encodeURIComponent(hall) + '/board/kpis', { credentials: 'same-origin' })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (k) { if (k) renderKpis(k.cards); });
    }, 3000);
  }
  setInterval(refreshKpis, 60000);

  byId('alerts').addEventListener('click', function (ev) {
    var b = ev.target.closest('button.ack');
    if (!b) return;
    b.disabled = true;
    fetch('/api/v1/alerts/' + encodeURIComponent(b.dataset.id) + '/ack', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': cfg.csrf },
      body: JSON.stringify({ by: cfg.user })
    }).then(function (r) {
      if (r.ok) { b.textContent = cfg.acked; b.closest('li').classList.add('acked'); setTimeout(refreshAlerts, 300); }
      else { b.disabled = false; }
    });
  });

  var src = new EventSource('/api/v1/halls/' + encodeURIComponent(hall) + '/live');
  var state = byId('live-state');
  src.addEventListener('open', function () { state.textContent = '● ' + cfg.live; state.className = 'on'; });
  src.addEventListener('error', function () { state.textContent = '○ ' + cfg.reconnecting; state.className = 'off'; });
  src.addEventListener('queue', function (ev) { renderQueue(JSON.parse(ev.data)); refreshKpis(); });
  src.addEventListener('alerts', function () { refreshAlerts(); refreshKpis(); });
  document.body.dataset.live = 'true';
})();
