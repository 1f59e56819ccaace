// Warden's admin page: asks the admin API for the plugins every two
// seconds, keeps five minutes of samples in memory for the charts, and
// calls the API's POST endpoints for the buttons. Every request carries
// the bearer token, kept in this tab's sessionStorage. Text from the
// gateway (names, errors, keys, values) only ever goes into textContent.
'use strict';

(() => {
  const TOKEN_KEY = 'warden-admin-token';
  const POLL_MS = 2000;
  const WINDOW_MS = 5 * 60 * 1000;
  const MAX_SAMPLES = WINDOW_MS / POLL_MS + 2;
  const SHOWN_ERRORS = 20;
  const COLORS = ['#0969da', '#cf222e', '#1a7f37', '#9a6700', '#8250df', '#bf3989', '#0a7ea4', '#953800'];
  const SVG = 'http://www.w3.org/2000/svg';

  const $ = (id) => document.getElementById(id);
  const samples = new Map(); // plugin name -> [{t, calls, sumUs}]
  const rows = new Map(); // plugin name -> {tr, cells, buttons}
  let names = [];
  let timer = null;
  let errorsShown = '';

  class Unauthorized extends Error {}

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  }

  // `#token=...` in the address: keep it for this tab, then drop it from
  // the address bar (and so from the browser history).
  function takeTokenFromFragment() {
    if (!location.hash) return;
    const value = new URLSearchParams(location.hash.slice(1)).get('token');
    if (value) sessionStorage.setItem(TOKEN_KEY, value.trim());
    history.replaceState(null, '', location.pathname + location.search);
  }

  async function api(method, path) {
    const response = await fetch(path, {
      method,
      headers: { Authorization: 'Bearer ' + token() },
      cache: 'no-store',
      credentials: 'omit',
    });
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      // Not JSON: the status says enough.
    }
    if (response.status === 401) throw new Unauthorized('the gateway refused the token');
    if (!response.ok) throw new Error(body && body.error ? body.error : `HTTP ${response.status}`);
    return body;
  }

  function setStatus(text, isError) {
    const status = $('status');
    status.textContent = text;
    status.classList.toggle('error', Boolean(isError));
  }

  function showLogin(message) {
    stop();
    $('app').hidden = true;
    $('forget').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    setStatus('Not signed in');
    $('token').focus();
  }

  function showApp() {
    $('login').hidden = true;
    $('app').hidden = false;
    $('forget').hidden = false;
  }

  function stop() {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  }

  async function refresh() {
    try {
      const data = await api('GET', '/plugins');
      render(data.plugins || []);
      setStatus('Updated ' + new Date().toLocaleTimeString());
      return true;
    } catch (e) {
      if (e instanceof Unauthorized) {
        sessionStorage.removeItem(TOKEN_KEY);
        showLogin('The gateway refused that token.');
        return false;
      }
      setStatus('Cannot reach the admin API: ' + e.message, true);
      return true;
    }
  }

  async function loop() {
    timer = null;
    if (await refresh()) timer = setTimeout(loop, POLL_MS);
  }

  function start() {
    stop();
    showApp();
    loop();
  }

  // ---- formatting ----

  function bytes(n) {
    if (n == null) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i += 1;
    }
    return (i === 0 ? String(n) : n.toFixed(n < 10 ? 1 : 0)) + ' ' + units[i];
  }

  function micros(us) {
    if (us == null) return '–';
    if (us < 1000) return us + ' µs';
    if (us < 1e6) return (us / 1000).toFixed(us < 1e4 ? 2 : 1) + ' ms';
    return (us / 1e6).toFixed(2) + ' s';
  }

  function count(n) {
    if (n == null) return '–';
    if (n < 1e4) return String(n);
    if (n < 1e6) return (n / 1e3).toFixed(1) + 'k';
    if (n < 1e9) return (n / 1e6).toFixed(1) + 'M';
    return (n / 1e9).toFixed(1) + 'G';
  }

  function number(v) {
    if (v >= 100) return v.toFixed(0);
    if (v >= 10) return v.toFixed(1);
    return v.toFixed(2);
  }

  function color(name) {
    const i = names.indexOf(name);
    return COLORS[(i < 0 ? 0 : i) % COLORS.length];
  }

  function el(tag, text, className) {
    const e = document.createElement(tag);
    if (text != null) e.textContent = text;
    if (className) e.className = className;
    return e;
  }

  // ---- the plugin table ----

  const COLUMNS = ['name', 'state', 'health', 'version', 'instances', 'memory', 'calls', 'errors', 'latency', 'fuel'];
  const NUMERIC = new Set(['instances', 'memory', 'calls', 'errors', 'latency', 'fuel']);

  function row(name) {
    let r = rows.get(name);
    if (r) return r;
    const tr = document.createElement('tr');
    tr.dataset.plugin = name;
    const cells = {};
    for (const c of COLUMNS) {
      const td = el('td', null, NUMERIC.has(c) ? 'num' : '');
      td.dataset.col = c;
      cells[c] = td;
      tr.appendChild(td);
    }
    const actions = el('td', null, 'actions');
    const buttons = {};
    for (const action of ['reload', 'enable', 'disable']) {
      const b = el('button', action[0].toUpperCase() + action.slice(1));
      b.type = 'button';
      b.dataset.plugin = name;
      b.dataset.action = action;
      b.addEventListener('click', () => act(name, action));
      buttons[action] = b;
      actions.appendChild(b);
    }
    tr.appendChild(actions);
    r = { tr, cells, buttons };
    rows.set(name, r);
    return r;
  }

  function fill(r, p) {
    const s = p.stats;
    const c = r.cells;
    c.name.textContent = p.name;
    c.name.title = p.dir || '';
    c.state.textContent = p.state;
    c.state.className = 'state state-' + p.state;
    if (p['backoff-remaining-ms'] != null) c.state.textContent += ` (${Math.ceil(p['backoff-remaining-ms'] / 1000)} s)`;
    c.health.textContent = p.health;
    c.health.className = 'health-' + p.health;
    c.health.title = p['health-reason'] || '';
    c.version.textContent = p.version || '–';
    c.instances.textContent = `${s['instances-busy']} / ${s['instances-idle']}`;
    c.memory.textContent = `${bytes(s['memory-in-use'])} (${bytes(s['peak-memory'])})`;
    c.calls.textContent = count(s.calls);
    c.errors.textContent = count(s.errors);
    const lat = s['latency-us'];
    c.latency.textContent = s.calls ? `${micros(lat.p50)} / ${micros(lat.p99)}` : '–';
    const fuel = s['fuel-per-call'];
    c.fuel.textContent = fuel ? `${count(fuel.p50)} / ${count(fuel.p99)}` : '–';
    const busy = Boolean(r.busy);
    r.buttons.reload.disabled = busy;
    r.buttons.enable.disabled = busy || !(p.state === 'disabled' || p.state === 'backing-off');
    r.buttons.disable.disabled = busy || p.state === 'disabled';
  }

  async function act(name, action) {
    const r = rows.get(name);
    if (r) {
      r.busy = true;
      Object.values(r.buttons).forEach((b) => { b.disabled = true; });
    }
    try {
      await api('POST', `/plugins/${encodeURIComponent(name)}/${action}`);
      setStatus(`${name}: ${action} done`);
    } catch (e) {
      if (e instanceof Unauthorized) return showLogin('The gateway refused that token.');
      setStatus(`${name}: ${action} failed: ${e.message}`, true);
    } finally {
      if (r) r.busy = false;
    }
    const message = $('status').textContent;
    const failed = $('status').classList.contains('error');
    await refresh();
    setStatus(message, failed);
  }

  function render(plugins) {
    const now = Date.now();
    names = plugins.map((p) => p.name);
    const tbody = $('plugins').tBodies[0];
    for (const p of plugins) {
      const r = row(p.name);
      fill(r, p);
      tbody.appendChild(r.tr); // keeps the API's order (by name)
      const list = samples.get(p.name) || [];
      // A refresh right after a button press would divide by a tiny interval: skip it.
      const last = list[list.length - 1];
      if (!last || now - last.t >= POLL_MS / 2) {
        list.push({ t: now, calls: p.stats.calls, sumUs: p.stats['latency-us'].sum });
      }
      while (list.length > MAX_SAMPLES || (list.length && list[0].t < now - WINDOW_MS - POLL_MS)) list.shift();
      samples.set(p.name, list);
    }
    for (const [name, r] of rows) {
      if (!names.includes(name)) {
        r.tr.remove();
        rows.delete(name);
        samples.delete(name);
      }
    }
    if (!plugins.length && !tbody.querySelector('.empty')) {
      const tr = el('tr', null, 'empty');
      const td = el('td', 'No plugins are loaded.');
      td.colSpan = COLUMNS.length + 1;
      tr.appendChild(td);
      tbody.appendChild(tr);
    } else if (plugins.length) {
      tbody.querySelectorAll('.empty').forEach((e) => e.remove());
    }
    drawCharts(now);
    renderErrors(plugins);
    updateKvPlugins();
  }

  // ---- charts ----

  // Per interval between two samples: calls per second, or the mean
  // latency of the calls made in it (no point when there were none).
  function series(list, kind) {
    const out = [];
    for (let i = 1; i < list.length; i++) {
      const a = list[i - 1];
      const b = list[i];
      const seconds = (b.t - a.t) / 1000;
      const calls = b.calls - a.calls;
      if (seconds <= 0 || calls < 0) continue;
      if (kind === 'rate') out.push([b.t, calls / seconds]);
      else if (calls > 0) out.push([b.t, (b.sumUs - a.sumUs) / calls / 1000]);
    }
    return out;
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text != null) e.textContent = text;
    return e;
  }

  function drawChart(id, kind, now, unit) {
    const chart = $(id);
    const [left, right, top, bottom] = [44, 592, 12, 160];
    const all = names.map((name) => [name, series(samples.get(name) || [], kind)]);
    let max = 0;
    for (const [, points] of all) for (const [, v] of points) max = Math.max(max, v);
    max = max > 0 ? max * 1.1 : 1;
    chart.replaceChildren(
      svg('line', { class: 'axis', x1: left, y1: bottom, x2: right, y2: bottom }),
      svg('line', { class: 'axis', x1: left, y1: top, x2: left, y2: bottom }),
      svg('text', { x: left - 4, y: top + 8, 'text-anchor': 'end' }, number(max)),
      svg('text', { x: left - 4, y: bottom, 'text-anchor': 'end' }, '0'),
      svg('text', { x: left, y: bottom + 15 }, '−5 min'),
      svg('text', { x: right, y: bottom + 15, 'text-anchor': 'end' }, 'now'),
      svg('text', { x: (left + right) / 2, y: bottom + 15, 'text-anchor': 'middle' }, unit),
    );
    const x = (t) => left + ((t - (now - WINDOW_MS)) / WINDOW_MS) * (right - left);
    const y = (v) => bottom - (v / max) * (bottom - top);
    for (const [name, points] of all) {
      const line = svg('polyline', {
        points: points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' '),
        stroke: color(name),
      });
      line.dataset.plugin = name;
      line.dataset.points = String(points.length);
      line.dataset.last = points.length ? String(points[points.length - 1][1]) : '';
      line.dataset.peak = String(points.reduce((m, [, v]) => Math.max(m, v), 0));
      line.appendChild(svg('title', {}, name));
      chart.appendChild(line);
      if (points.length) {
        // The latest value, visible even while the line has one point.
        const [t, v] = points[points.length - 1];
        chart.appendChild(svg('circle', { cx: x(t).toFixed(1), cy: y(v).toFixed(1), r: 2.5, fill: color(name) }));
      }
    }
  }

  function drawCharts(now) {
    drawChart('chart-rate', 'rate', now, 'calls/s');
    drawChart('chart-latency', 'latency', now, 'ms');
    const legend = $('legend');
    legend.replaceChildren(...names.map((name) => {
      const li = el('li');
      const swatch = el('span', null, 'swatch');
      swatch.style.background = color(name);
      li.append(swatch, name);
      return li;
    }));
  }

  // ---- recent errors ----

  function renderErrors(plugins) {
    const errors = [];
    for (const p of plugins) for (const e of p['recent-errors'] || []) errors.push({ plugin: p.name, ...e });
    errors.sort((a, b) => b['at-ms'] - a['at-ms']);
    const shown = errors.slice(0, SHOWN_ERRORS);
    const signature = shown.map((e) => `${e.plugin}|${e['at-ms']}|${e.kind}|${e.message}`).join('\n');
    if (signature === errorsShown && errorsShown !== '') return;
    errorsShown = signature;
    const list = $('errors');
    if (!shown.length) {
      list.replaceChildren(el('li', 'No errors recorded.', 'note'));
      return;
    }
    list.replaceChildren(...shown.map((e) => {
      const li = el('li');
      li.dataset.plugin = e.plugin;
      const details = el('details');
      const summary = el('summary');
      const when = el('time', new Date(e['at-ms']).toLocaleTimeString());
      when.dateTime = new Date(e['at-ms']).toISOString();
      summary.append(when, ' ', el('strong', e.plugin), ' ', el('span', e.kind, 'kind'), ' ', e.message.split('\n')[0]);
      details.append(summary, el('pre', e.message));
      if (e.stderr) details.append(el('div', 'Plugin stderr:', 'note'), el('pre', e.stderr, 'stderr'));
      li.appendChild(details);
      return li;
    }));
  }

  // ---- key-value (read only) ----

  function updateKvPlugins() {
    const select = $('kv-plugin');
    const current = Array.from(select.options).map((o) => o.value);
    if (current.join('\n') === names.join('\n')) return;
    const chosen = select.value;
    select.replaceChildren(...names.map((name) => {
      const o = el('option', name);
      o.value = name;
      return o;
    }));
    if (names.includes(chosen)) select.value = chosen;
  }

  async function listKeys() {
    const plugin = $('kv-plugin').value;
    if (!plugin) return;
    const query = new URLSearchParams({ prefix: $('kv-prefix').value, limit: '100' });
    $('kv-value').hidden = true;
    $('kv-meta').textContent = '';
    try {
      const data = await api('GET', `/plugins/${encodeURIComponent(plugin)}/kv?${query}`);
      const usage = data['usage-bytes'] == null ? '' : `; the plugin's data uses ${bytes(data['usage-bytes'])}`;
      const more = data.truncated ? ' (more keys follow: narrow the prefix)' : '';
      $('kv-summary').textContent = `${data.keys.length} key(s)${more}${usage}`;
      $('kv-keys').replaceChildren(...data.keys.map((key) => {
        const li = el('li');
        const b = el('button', key);
        b.type = 'button';
        b.addEventListener('click', () => showValue(plugin, key));
        li.appendChild(b);
        return li;
      }));
    } catch (e) {
      if (e instanceof Unauthorized) return showLogin('The gateway refused that token.');
      $('kv-summary').textContent = e.message;
      $('kv-keys').replaceChildren();
    }
  }

  async function showValue(plugin, key) {
    try {
      const data = await api('GET', `/plugins/${encodeURIComponent(plugin)}/kv/${encodeURIComponent(key)}`);
      const cut = data.truncated ? ', cut for display' : '';
      $('kv-meta').textContent = `${key}: ${bytes(data.size)}, shown as ${data.encoding}${cut}`;
      $('kv-value').textContent = data.value;
      $('kv-value').hidden = false;
    } catch (e) {
      if (e instanceof Unauthorized) return showLogin('The gateway refused that token.');
      $('kv-meta').textContent = e.message;
      $('kv-value').hidden = true;
    }
  }

  // ---- start ----

  document.addEventListener('DOMContentLoaded', () => {
    $('login-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const value = $('token').value.trim();
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      $('token').value = '';
      start();
    });
    $('forget').addEventListener('click', () => {
      sessionStorage.removeItem(TOKEN_KEY);
      showLogin('');
    });
    $('kv-form').addEventListener('submit', (event) => {
      event.preventDefault();
      listKeys();
    });
    takeTokenFromFragment();
    if (token()) start();
    else showLogin('');
  });
})();
