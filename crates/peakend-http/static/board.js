// Keeps the live board current from the hall's server-sent events, without reloading.
(function () {
  var cfg = JSON.parse(document.getElementById('board-data').textContent);
  var hall = cfg.hall;
  var minutes = function (s) { return s == null ? '–' : String(Math.round(s / 60)); };
  var text = function (tag, s) { var e = document.createElement(tag); e.textContent = s; return e; };

  // Waits are counted here from each ticket's issue time: the stream only sends changes.
  var last = null;
  var loaded = Date.now();
  var hallNow = function () { return cfg.now + (Date.now() - loaded) * cfg.speed; };
  setInterval(function () { if (last) renderQueue(last); }, 15000 / Math.max(1, cfg.speed));

  function renderQueue(q) {
    last = q;
    document.getElementById('counters').textContent = q.open_counters.length ? q.open_counters.join(' · ') : cfg.none_open;
    var body = document.querySelector('#waiting tbody');
    body.replaceChildren();
    q.waiting.forEach(function (w) {
      var tr = document.createElement('tr');
      tr.dataset.ticket = w.ticket;
      [w.ticket, cfg.services[w.service] || w.service, minutes(Math.max(0, (hallNow() - w.since) / 1000)), String(w.ahead), minutes(w.predicted_wait_s)].forEach(function (v) { tr.appendChild(text('td', v)); });
      body.appendChild(tr);
    });
  }

  function clock(ms) {
    return new Date(ms).toLocaleTimeString('zh-CN', { hour: '2-digit', minute: '2-digit', hour12: false, timeZone: 'Asia/Shanghai' });
  }

  function renderAlerts(list) {
    var ul = document.getElementById('alerts');
    ul.replaceChildren();
    list.forEach(function (a) {
      var li = document.createElement('li');
      li.dataset.alert = a.id;
      var line = clock(a.raised_at) + ' · ' + (cfg.kinds[a.kind] || a.kind) + ' · ' + (a.ticket || a.kiosk || '');
      li.appendChild(document.createTextNode(line + (a.vip ? ' · ' : '')));
      if (a.vip) li.appendChild(text('b', cfg.vip));
      var b = text('button', cfg.ack);
      b.className = 'btn ack'; b.dataset.id = a.id;
      li.appendChild(document.createTextNode(' '));
      li.appendChild(b);
      ul.appendChild(li);
    });
  }

  // The stream says which alerts are open; the alerts endpoint adds ids and acknowledgements.
  function refreshAlerts() {
    fetch('/api/v1/halls/' + encodeURIComponent(hall) + '/alerts?state=open', { credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(renderAlerts);
  }

  document.getElementById('alerts').addEventListener('click', function (ev) {
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
  var state = document.getElementById('live-state');
  src.addEventListener('open', function () { state.textContent = '●'; state.style.color = '#0b6e4f'; });
  src.addEventListener('error', function () { state.textContent = '○'; });
  src.addEventListener('queue', function (ev) { renderQueue(JSON.parse(ev.data)); });
  src.addEventListener('alerts', function () { refreshAlerts(); });
  document.body.dataset.live = 'true';
})();
