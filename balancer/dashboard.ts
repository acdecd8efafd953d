// The live dashboard at `/` on the admin listener: one self-contained page (inline CSS and JS, no
// external assets, no build step) that polls /api/table, /readyz and /api/stats every second and
// shows services, routes, backends with their state, requests/s and error rate per service (from
// the deltas of the cumulative counts in /api/stats), the registry revision and the etcd connection.
// The page builds its markup from strings; every value from the registry goes through `esc`.
// The client code is written without template literals so it can sit in String.raw below.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

const STYLE = String.raw`
:root {
  --bg: #f4f6f9; --panel: #fff; --text: #1b2330; --muted: #5f6b7b; --line: #e2e7ee; --accent: #2f6fde;
  --up: #177245; --up-bg: #e2f4ea; --warn: #8a5a00; --warn-bg: #fff3d1; --bad: #c02626; --bad-bg: #fde7e7;
  --off: #5f6b7b; --off-bg: #eceff3;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0e131a; --panel: #161c24; --text: #e4ebf3; --muted: #8c99a9; --line: #27303b; --accent: #5a9cff;
    --up: #43c06a; --up-bg: #13301f; --warn: #e0a82e; --warn-bg: #33290f; --bad: #ff6b63; --bad-bg: #3a1718;
    --off: #9aa6b5; --off-bg: #222a34;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header { position: sticky; top: 0; z-index: 1; display: flex; flex-wrap: wrap; align-items: center; gap: 8px 16px; padding: 12px 24px; background: var(--panel); border-bottom: 1px solid var(--line); }
h1 { margin: 0; font-size: 17px; font-weight: 650; display: flex; align-items: center; gap: 10px; }
h1 .logo { width: 22px; height: 22px; }
h1 small { font-size: 12px; font-weight: 400; color: var(--muted); }
.pills { display: flex; flex-wrap: wrap; gap: 6px; margin-left: auto; }
.pill, .state, .chip { display: inline-flex; align-items: center; gap: 6px; border-radius: 999px; white-space: nowrap; }
.pill { padding: 3px 10px; font-size: 12px; font-weight: 500; background: var(--off-bg); color: var(--off); }
.dot { width: 8px; height: 8px; border-radius: 50%; background: currentColor; flex: none; }
.ok { background: var(--up-bg); color: var(--up); }
.warn { background: var(--warn-bg); color: var(--warn); }
.bad { background: var(--bad-bg); color: var(--bad); }
main { max-width: 1240px; margin: 0 auto; padding: 16px 24px 8px; }
.banner { display: flex; gap: 10px; align-items: flex-start; margin-bottom: 12px; padding: 10px 14px; border-radius: 8px; border: 1px solid currentColor; font-weight: 500; }
.banner b { font-weight: 700; }
.banner p { margin: 0; }
.banner .detail { font-weight: 400; opacity: .9; word-break: break-word; }
.info { background: var(--off-bg); color: var(--off); }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; }
.tile { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 10px 14px; min-width: 0; }
.label { font-size: 11px; color: var(--muted); text-transform: uppercase; letter-spacing: .05em; }
.value { font-size: 24px; font-weight: 600; font-variant-numeric: tabular-nums; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.value small { font-size: 14px; font-weight: 500; color: var(--muted); }
h2 { margin: 24px 0 10px; font-size: 12px; font-weight: 600; color: var(--muted); text-transform: uppercase; letter-spacing: .06em; }
.services { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 720px), 1fr)); gap: 12px; align-items: start; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; overflow: hidden; }
.card-head { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 16px; padding: 10px 14px; border-bottom: 1px solid var(--line); }
.card-head h3 { margin: 0; font-size: 15px; font-weight: 650; word-break: break-all; }
.name { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; min-width: 0; flex: 1 1 160px; }
.chip { padding: 1px 8px; font-size: 11px; background: var(--off-bg); color: var(--off); }
.rates { display: flex; align-items: center; gap: 16px; margin-left: auto; }
.stat { display: flex; flex-direction: column; align-items: flex-end; line-height: 1.2; }
.stat b { font-size: 16px; font-weight: 600; font-variant-numeric: tabular-nums; }
.stat span { font-size: 11px; color: var(--muted); }
.bad-text { color: var(--bad); }
.warn-text { color: var(--warn); }
.spark { width: 120px; height: 30px; display: block; }
.spark polyline { fill: none; stroke: var(--accent); stroke-width: 1.6; vector-effect: non-scaling-stroke; stroke-linejoin: round; }
.spark polygon { fill: var(--accent); opacity: .13; }
.spark line { stroke: var(--line); stroke-width: 1; vector-effect: non-scaling-stroke; }
.nowrap { white-space: nowrap; }
.scroll { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
th { padding: 6px 14px; text-align: left; font-size: 11px; font-weight: 500; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; border-bottom: 1px solid var(--line); white-space: nowrap; }
td { padding: 7px 14px; border-bottom: 1px solid var(--line); vertical-align: middle; }
tr:last-child td { border-bottom: 0; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; word-break: break-all; }
.muted { color: var(--muted); }
.state { padding: 1px 9px; font-size: 12px; font-weight: 500; }
.state.draining { background: var(--off-bg); color: var(--off); }
.tags, .narrow { display: block; margin-top: 2px; font-size: 11px; color: var(--muted); }
.narrow { display: none; }
.empty { padding: 14px; color: var(--muted); }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; overflow: hidden; }
footer { max-width: 1240px; margin: 0 auto; padding: 12px 24px 24px; color: var(--muted); font-size: 12px; }
footer a { color: inherit; }
.stale main { opacity: .55; }
@media (max-width: 640px) {
  header { padding: 10px 14px; }
  .pills { margin-left: 0; }
  main { padding: 12px 12px 4px; }
  footer { padding: 10px 14px 20px; }
  .opt { display: none; }
  th, td { padding: 6px 10px; }
  .tiles { grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 8px; }
  .value { font-size: 20px; }
  .rates { margin-left: 0; width: 100%; gap: 20px; }
  .spark { width: 110px; margin-left: auto; }
  .narrow { display: block; }
}
`;

const SCRIPT = String.raw`
'use strict';
const POLL_MS = 1000;
const TIMEOUT_MS = 3000;
const HISTORY = 60;

let prevStats = null;          // the previous /api/stats answer
let rates = new Map();         // service -> { rps, errPct } over the last poll interval
let ratesReady = false;        // true from the second poll on
const history = new Map();     // service -> recent requests/s, oldest first
let failures = 0;
let lastGood = null;           // Date of the last complete poll
const shown = {};              // region id -> markup last written

// Markup helpers: h() escapes every text child and attribute value; Raw marks built markup.
function Raw(s) { this.s = s; }
function esc(v) {
  return String(v).replace(/[&<>"']/g, function (c) { return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]; });
}
function h(tag, attrs) {
  let s = '<' + tag;
  for (const k in attrs || {}) {
    const v = attrs[k];
    if (v === undefined || v === null || v === false) continue;
    s += ' ' + k + (v === true ? '' : '="' + esc(v) + '"');
  }
  s += '>';
  const kids = Array.prototype.slice.call(arguments, 2).flat(Infinity);
  for (const k of kids) {
    if (k === undefined || k === null || k === false) continue;
    s += k instanceof Raw ? k.s : esc(k);
  }
  return new Raw(s + '</' + tag + '>');
}
function show(id, markup) {
  const s = [markup].flat(Infinity).map(function (m) { return m instanceof Raw ? m.s : esc(m); }).join('');
  if (shown[id] === s) return;
  shown[id] = s;
  document.getElementById(id).innerHTML = s;
}

function fmtRate(n) {
  if (n === undefined || n === null) return '–';
  if (n === 0) return '0';
  if (n < 10) return n.toFixed(1);
  return Math.round(n).toLocaleString('en-US');
}
function fmtPct(p) {
  if (p === undefined || p === null) return '–';
  if (p === 0) return '0 %';
  if (p < 1) return p.toFixed(2) + ' %';
  return (p < 10 ? p.toFixed(1) : Math.round(p)) + ' %';
}
function errClass(p) { return p === null || p === undefined || p === 0 ? '' : p >= 5 ? 'bad' : 'warn'; }
function fmtAge(ms) {
  if (!(ms >= 0)) return '–';
  const s = Math.round(ms / 1000);
  if (s < 60) return s + ' s ago';
  if (s < 3600) return Math.floor(s / 60) + ' min ago';
  return Math.floor(s / 3600) + ' h ago';
}

// gRPC errors chain several sentences ("14 UNAVAILABLE: No connection established. Last error: …").
function firstSentence(text) {
  const s = String(text).split(/\.\s/)[0];
  return s.length > 160 ? s.slice(0, 159) + '…' : s;
}

async function getJson(path) {
  const ctl = new AbortController();
  const timer = setTimeout(function () { ctl.abort(); }, TIMEOUT_MS);
  try {
    const res = await fetch(path, { cache: 'no-store', signal: ctl.signal });
    // /readyz answers 503 with the same JSON while not ready.
    return await res.json();
  } finally {
    clearTimeout(timer);
  }
}

function updateRates(stats, names) {
  const next = new Map();
  if (prevStats && stats.time > prevStats.time) {
    const dt = (stats.time - prevStats.time) / 1000;
    for (const name of names) {
      const now = stats.services[name] || { requests: 0, errors: 0 };
      const before = prevStats.services[name] || { requests: 0, errors: 0 };
      let dr = now.requests - before.requests;
      let de = now.errors - before.errors;
      if (dr < 0 || de < 0) { dr = now.requests; de = now.errors; } // counts restarted (the service left and came back)
      next.set(name, { rps: dr / dt, errPct: dr > 0 ? (100 * de) / dr : null });
      const hist = history.get(name) || [];
      hist.push(dr / dt);
      if (hist.length > HISTORY) hist.shift();
      history.set(name, hist);
    }
    ratesReady = true;
  }
  for (const name of Array.from(history.keys())) if (!names.has(name)) history.delete(name);
  prevStats = stats;
  rates = next;
}

// Requests/s over the last HISTORY polls, newest on the right, on a baseline spanning the whole width.
function sparkline(values) {
  const last = HISTORY - 1;
  const max = Math.max(1, Math.max.apply(null, values)) * 1.15;
  const y = function (v) { return (19.5 - (v / max) * 18).toFixed(2); };
  const pts = values.map(function (v, i) { return (last - (values.length - 1) + i) + ',' + y(v); });
  const kids = [h('title', null, 'requests/s, last ' + HISTORY + ' s'), h('line', { x1: '0', y1: '19.5', x2: String(last), y2: '19.5' })];
  if (pts.length > 1) {
    const first = last - (values.length - 1);
    kids.push(h('polygon', { points: first + ',20 ' + pts.join(' ') + ' ' + last + ',20' }), h('polyline', { points: pts.join(' ') }));
  }
  return h('svg', { class: 'spark', viewBox: '0 0 ' + last + ' 20', preserveAspectRatio: 'none', role: 'img' }, kids);
}

function pill(cls, text, attrs) {
  return h('span', Object.assign({ class: 'pill ' + cls }, attrs || {}), h('span', { class: 'dot' }), text);
}

function banners(ready, stats) {
  const out = [];
  if (failures > 0) {
    out.push(h('div', { class: 'banner bad', role: 'alert', 'data-banner': 'unreachable' },
      h('p', null, h('b', null, 'Admin API unreachable. '),
        h('span', { class: 'detail' }, lastGood ? 'Showing data from ' + lastGood.toLocaleTimeString() + '; ' : '', 'retrying every second.'))));
  }
  if (!ready) return out;
  const etcd = ready.etcd || {};
  if (!etcd.connected) {
    const age = etcd.lastSync && stats ? fmtAge(stats.time - Date.parse(etcd.lastSync)) : 'never';
    out.push(h('div', { class: 'banner bad', role: 'alert', 'data-banner': 'etcd' },
      h('p', null, h('b', null, 'etcd disconnected. '),
        h('span', { class: 'detail' }, 'Routing continues with the last table applied (revision ' + ready.revision + ', last sync ' + age + ').',
          etcd.lastError ? [' Last error: ', h('span', { title: etcd.lastError }, firstSentence(etcd.lastError))] : null))));
  }
  if (!ready.ready) {
    let why = 'not serving yet';
    if (ready.shuttingDown) why = 'shutting down';
    else if (!ready.snapshotApplied) why = 'waiting for the first registry snapshot';
    else if (typeof ready.workers === 'number' && ready.workersReady < ready.workers) why = ready.workersReady + ' of ' + ready.workers + ' workers ready';
    out.push(h('div', { class: 'banner warn', role: 'alert', 'data-banner': 'not-ready' },
      h('p', null, h('b', null, 'Not ready: '), h('span', { class: 'detail' }, why + '. Load balancers should not send traffic here.'))));
  }
  if (stats && typeof stats.workers === 'number') {
    out.push(h('div', { class: 'banner info', 'data-banner': 'workers' },
      h('p', null, h('b', null, stats.workers + ' worker processes. '),
        h('span', { class: 'detail' }, 'The primary serves this page and proxies nothing, so per-service rates are not shown here; the totals are in /metrics (balancer_requests_total).'))));
  }
  return out;
}

function render(table, ready, stats) {
  const services = table.services.slice().sort(function (a, b) { return a.name < b.name ? -1 : a.name > b.name ? 1 : 0; });
  const inTable = new Set(services.map(function (s) { return s.name; }));
  const extra = Object.keys(stats.services).filter(function (n) { return !inTable.has(n); }).sort();
  const workersMode = typeof stats.workers === 'number';

  let totalRps = null, totalPct = null;
  if (ratesReady) {
    let rps = 0, errs = 0;
    rates.forEach(function (r) {
      rps += r.rps;
      if (r.errPct !== null) errs += (r.rps * r.errPct) / 100;
    });
    totalRps = rps;
    totalPct = rps > 0 ? (100 * errs) / rps : null;
  }
  let up = 0, all = 0;
  for (const s of services) for (const b of s.backends) { all++; if (b.state === 'up') up++; }

  // Header.
  const etcd = ready.etcd || {};
  const pills = [
    ready.ready ? pill('ok', 'ready', { 'data-pill': 'ready' }) : pill('warn', 'not ready', { 'data-pill': 'ready' }),
    etcd.connected ? pill('ok', 'etcd connected', { 'data-pill': 'etcd' }) : pill('bad', 'etcd disconnected', { 'data-pill': 'etcd' }),
  ];
  if (etcd.lastSync) pills.push(pill('', 'synced ' + fmtAge(stats.time - Date.parse(etcd.lastSync))));
  show('pills', pills);
  show('banners', banners(ready, stats));

  // Summary.
  const pctClass = workersMode ? '' : errClass(totalPct);
  show('tiles', [
    h('div', { class: 'tile' }, h('div', { class: 'label' }, 'Requests/s'), h('div', { class: 'value', 'data-total-rps': '' }, workersMode ? '–' : fmtRate(totalRps))),
    h('div', { class: 'tile' }, h('div', { class: 'label' }, 'Errors (5xx)'), h('div', { class: 'value' + (pctClass ? ' ' + pctClass + '-text' : '') }, workersMode ? '–' : fmtPct(totalPct))),
    h('div', { class: 'tile' }, h('div', { class: 'label' }, 'Backends up'), h('div', { class: 'value' }, String(up), h('small', null, ' / ' + all))),
    h('div', { class: 'tile' }, h('div', { class: 'label' }, 'Services'), h('div', { class: 'value' }, String(services.length))),
    h('div', { class: 'tile' }, h('div', { class: 'label' }, 'In flight'), h('div', { class: 'value' }, workersMode || ready.inflight === undefined ? '–' : String(ready.inflight))),
    h('div', { class: 'tile' }, h('div', { class: 'label' }, 'Revision'), h('div', { class: 'value' }, String(table.revision))),
  ]);

  // Services.
  const cards = services.map(function (s) { return serviceCard(s.name, s.backends, table, workersMode); })
    .concat(extra.map(function (name) { return serviceCard(name, null, table, workersMode); }));
  show('services', cards.length ? cards : h('div', { class: 'panel empty' }, 'No services registered under the prefix yet.'));

  // Routes.
  const rows = table.routes.map(function (r) {
    const known = inTable.has(r.service);
    return h('tr', { 'data-route': r.source },
      h('td', { class: 'mono' }, r.host === null ? h('span', { class: 'muted' }, 'any host') : r.host),
      h('td', { class: 'mono' }, r.pathPrefix),
      h('td', null, r.service, known ? null : [' ', h('span', { class: 'chip warn' }, 'no backends')]),
      h('td', { class: 'opt' }, r.lb || h('span', { class: 'muted' }, 'default')),
      h('td', { class: 'opt' }, r.sticky ? 'yes' : h('span', { class: 'muted' }, 'no')),
      h('td', { class: 'mono opt' }, r.source));
  });
  if (table.defaultService !== null) {
    rows.push(h('tr', { 'data-route': 'default' },
      h('td', { colspan: '2' }, h('span', { class: 'muted' }, 'anything else')),
      h('td', null, table.defaultService, inTable.has(table.defaultService) ? null : [' ', h('span', { class: 'chip warn' }, 'no backends')]),
      h('td', { class: 'opt' }, h('span', { class: 'muted' }, 'default')), h('td', { class: 'opt' }), h('td', { class: 'mono opt' }, '--default-service')));
  }
  show('routes', rows.length
    ? h('div', { class: 'panel scroll' }, h('table', null,
        h('thead', null, h('tr', null, h('th', null, 'Host'), h('th', null, 'Path'), h('th', null, 'Service'), h('th', { class: 'opt' }, 'LB'), h('th', { class: 'opt' }, 'Sticky'), h('th', { class: 'opt' }, 'Source'))),
        h('tbody', null, rows)))
    : h('div', { class: 'panel empty' }, 'No routes and no default service: every request gets 404.'));

  document.title = (failures > 0 || !etcd.connected || !ready.ready ? '⚠ ' : '') + 'balancer · ' + (workersMode ? services.length + ' services' : fmtRate(totalRps) + ' req/s');
}

function serviceCard(name, backends, table, workersMode) {
  const r = rates.get(name);
  const pct = r ? r.errPct : null;
  const chips = [];
  if (name === table.defaultService) chips.push(h('span', { class: 'chip' }, 'default'));
  if (backends === null) chips.push(h('span', { class: 'chip warn' }, name === 'none' ? 'no route matched' : 'not in the table'));
  const head = h('div', { class: 'card-head' },
    h('div', { class: 'name' }, h('h3', null, name === 'none' && backends === null ? 'unrouted' : name), chips),
    workersMode ? null : h('div', { class: 'rates' },
      h('div', { class: 'stat' }, h('b', { 'data-rps': '' }, fmtRate(r ? r.rps : null)), h('span', null, 'req/s')),
      h('div', { class: 'stat' }, h('b', { 'data-errors': '', class: errClass(pct) ? errClass(pct) + '-text' : null }, fmtPct(pct)), h('span', null, '5xx')),
      sparkline(history.get(name) || [])));
  let body;
  if (backends === null && name === 'none') {
    body = h('div', { class: 'empty' }, 'Requests that matched no route and no default service (answered 404).');
  } else if (backends === null || backends.length === 0) {
    body = h('div', { class: 'empty' }, 'No backends.');
  } else {
    body = h('div', { class: 'scroll' }, h('table', null,
      h('thead', null, h('tr', null, h('th', null, 'State'), h('th', null, 'Instance'), h('th', { class: 'opt' }, 'Target'), h('th', { class: 'opt' }, 'Node'), h('th', { class: 'num opt' }, 'Weight'), h('th', { class: 'num' }, 'In flight'))),
      h('tbody', null, backends.map(function (b) {
        return h('tr', { 'data-backend': b.id, 'data-state': b.state },
          h('td', { class: 'nowrap' }, h('span', { class: 'state ' + (b.state === 'up' ? 'ok' : b.state === 'ejected' ? 'bad' : 'draining') }, h('span', { class: 'dot' }), b.state)),
          h('td', { class: 'mono' }, b.instance,
            h('span', { class: 'narrow' }, '→ ' + b.target.replace(/^https?:\/\//, '')),
            b.tags && b.tags.length ? h('span', { class: 'tags' }, b.tags.join(' · ')) : null),
          h('td', { class: 'mono opt' }, b.target),
          h('td', { class: 'opt nowrap' }, b.node === null ? h('span', { class: 'muted' }, '–') : b.node),
          h('td', { class: 'num opt' }, String(b.weight)),
          h('td', { class: 'num' }, String(b.inflight)));
      }))));
  }
  return h('section', { class: 'card', 'data-service': name }, head, body);
}

async function tick() {
  try {
    const answers = await Promise.all([getJson('api/table'), getJson('readyz'), getJson('api/stats')]);
    const table = answers[0], ready = answers[1], stats = answers[2];
    failures = 0;
    lastGood = new Date();
    const names = new Set(table.services.map(function (s) { return s.name; }).concat(Object.keys(stats.services)));
    updateRates(stats, names);
    render(table, ready, stats);
    document.body.classList.remove('stale');
    show('updated', 'Updated ' + lastGood.toLocaleTimeString());
  } catch (err) {
    failures++;
    document.body.classList.add('stale');
    show('banners', banners(null, null));
    document.title = '⚠ balancer · unreachable';
  } finally {
    setTimeout(tick, POLL_MS);
  }
}
tick();
`;

const LOGO =
  '<svg class="logo" viewBox="0 0 24 24" aria-hidden="true"><circle cx="4" cy="12" r="3" fill="#2f6fde"/><circle cx="20" cy="5" r="2.5" fill="#43a06a"/><circle cx="20" cy="12" r="2.5" fill="#43a06a"/><circle cx="20" cy="19" r="2.5" fill="#43a06a"/><path d="M7 12h4m0 0 6.5-7M11 12h6.5M11 12l6.5 7" stroke="#8c99a9" stroke-width="1.6" fill="none" stroke-linecap="round"/></svg>';

/** The page. Everything inline: the admin listener may be reached where nothing else is. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>balancer</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1>${LOGO}balancer <small>live dashboard</small></h1>
  <div class="pills" id="pills"><span class="pill">loading…</span></div>
</header>
<main>
  <div id="banners"></div>
  <div class="tiles" id="tiles"></div>
  <h2>Services</h2>
  <div class="services" id="services"></div>
  <h2>Routes</h2>
  <div id="routes"></div>
</main>
<footer><span id="updated">Loading…</span> · polls every second ·
  <a href="api/table">/api/table</a> · <a href="readyz">/readyz</a> · <a href="api/stats">/api/stats</a> · <a href="metrics">/metrics</a></footer>
<script>${SCRIPT}</script>
</body>
</html>
`;

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** Only the inline style and script above may run, and the page may only fetch from its own origin. */
const CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const BODY = Buffer.from(DASHBOARD_HTML);

export function dashboardHandler(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': BODY.length,
    'cache-control': 'no-store',
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  });
  res.end(req.method === 'HEAD' ? undefined : BODY);
}
