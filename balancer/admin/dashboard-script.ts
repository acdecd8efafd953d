// The dashboard page's client code (inlined into the page; its hash goes into the page's CSP). It is
// written without template literals so it can sit in String.raw, and builds markup from strings: every
// value from the registry goes through `esc`. It polls /api/table, /readyz, /api/stats and
// /api/certificates every second.
export const SCRIPT = String.raw`
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
  return String(v).replace(/[&<>"']/g, function (c) {
    return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
  });
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
  const kids = [
    h('title', null, 'requests/s, last ' + HISTORY + ' s'),
    h('line', { x1: '0', y1: '19.5', x2: String(last), y2: '19.5' }),
  ];
  if (pts.length > 1) {
    const first = last - (values.length - 1);
    kids.push(
      h('polygon', { points: first + ',20 ' + pts.join(' ') + ' ' + last + ',20' }),
      h('polyline', { points: pts.join(' ') }));
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
        h('span', { class: 'detail' },
          lastGood ? 'Showing data from ' + lastGood.toLocaleTimeString() + '; ' : '',
          'retrying every second.'))));
  }
  if (!ready) return out;
  const etcd = ready.etcd || {};
  if (!etcd.connected) {
    const age = etcd.lastSync && stats ? fmtAge(stats.time - Date.parse(etcd.lastSync)) : 'never';
    out.push(h('div', { class: 'banner bad', role: 'alert', 'data-banner': 'etcd' },
      h('p', null, h('b', null, 'etcd disconnected. '),
        h('span', { class: 'detail' },
          'Routing continues with the last table applied (revision ' + ready.revision + ', last sync ' + age + ').',
          etcd.lastError
            ? [' Last error: ', h('span', { title: etcd.lastError }, firstSentence(etcd.lastError))]
            : null))));
  }
  if (!ready.ready) {
    let why = 'not serving yet';
    if (ready.shuttingDown) why = 'shutting down';
    else if (!ready.snapshotApplied) why = 'waiting for the first registry snapshot';
    else if (typeof ready.workers === 'number' && ready.workersReady < ready.workers)
      why = ready.workersReady + ' of ' + ready.workers + ' workers ready';
    out.push(h('div', { class: 'banner warn', role: 'alert', 'data-banner': 'not-ready' },
      h('p', null, h('b', null, 'Not ready: '),
        h('span', { class: 'detail' }, why + '. Load balancers should not send traffic here.'))));
  }
  if (stats && typeof stats.workers === 'number') {
    out.push(h('div', { class: 'banner info', 'data-banner': 'workers' },
      h('p', null, h('b', null, stats.workers + ' worker processes. '),
        h('span', { class: 'detail' },
          'The primary serves this page and proxies nothing, so per-service rates are not shown here; ' +
            'the totals are in /metrics (balancer_requests_total).'))));
  }
  return out;
}

function render(table, ready, stats, certs) {
  const services = table.services.slice().sort(function (a, b) {
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
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
    etcd.connected
      ? pill('ok', 'etcd connected', { 'data-pill': 'etcd' })
      : pill('bad', 'etcd disconnected', { 'data-pill': 'etcd' }),
  ];
  if (etcd.lastSync) pills.push(pill('', 'synced ' + fmtAge(stats.time - Date.parse(etcd.lastSync))));
  show('pills', pills);
  show('banners', banners(ready, stats));

  // Summary.
  const pctClass = workersMode ? '' : errClass(totalPct);
  show('tiles', [
    h('div', { class: 'tile' }, h('div', { class: 'label' }, 'Requests/s'),
      h('div', { class: 'value', 'data-total-rps': '' }, workersMode ? '–' : fmtRate(totalRps))),
    h('div', { class: 'tile' }, h('div', { class: 'label' }, 'Errors (5xx)'),
      h('div', { class: 'value' + (pctClass ? ' ' + pctClass + '-text' : '') },
        workersMode ? '–' : fmtPct(totalPct))),
    h('div', { class: 'tile' }, h('div', { class: 'label' }, 'Backends up'),
      h('div', { class: 'value' }, String(up), h('small', null, ' / ' + all))),
    h('div', { class: 'tile' }, h('div', { class: 'label' }, 'Services'),
      h('div', { class: 'value' }, String(services.length))),
    h('div', { class: 'tile' }, h('div', { class: 'label' }, 'In flight'),
      h('div', { class: 'value' }, workersMode || ready.inflight === undefined ? '–' : String(ready.inflight))),
    h('div', { class: 'tile' }, h('div', { class: 'label' }, 'Revision'),
      h('div', { class: 'value' }, String(table.revision))),
  ]);

  // Services.
  const cards = services.map(function (s) { return serviceCard(s.name, s.backends, table, workersMode); })
    .concat(extra.map(function (name) { return serviceCard(name, null, table, workersMode); }));
  show('services', cards.length
    ? cards
    : h('div', { class: 'panel empty' }, 'No services registered under the prefix yet.'));

  // Routes.
  const rows = table.routes.map(function (r) {
    const known = inTable.has(r.service);
    return h('tr', { 'data-route': r.source },
      h('td', { class: 'mono' }, r.host === null ? h('span', { class: 'muted' }, 'any host') : r.host),
      h('td', { class: 'mono' }, r.pathPrefix),
      h('td', null, routeTarget(r),
        known || r.service === '' ? null : [' ', h('span', { class: 'chip warn' }, 'no backends')]),
      h('td', { class: 'opt' }, r.lb || h('span', { class: 'muted' }, 'default')),
      h('td', { class: 'opt' }, r.sticky ? 'yes' : h('span', { class: 'muted' }, 'no')),
      h('td', { class: 'opt' }, policyChips(r.policies)),
      h('td', { class: 'mono opt' }, routeSource(r)));
  });
  if (table.defaultService !== null) {
    rows.push(h('tr', { 'data-route': 'default' },
      h('td', { colspan: '2' }, h('span', { class: 'muted' }, 'anything else')),
      h('td', null, table.defaultService,
        inTable.has(table.defaultService) ? null : [' ', h('span', { class: 'chip warn' }, 'no backends')]),
      h('td', { class: 'opt' }, h('span', { class: 'muted' }, 'default')),
      h('td', { class: 'opt' }),
      h('td', { class: 'opt' }),
      h('td', { class: 'mono opt' }, '--default-service')));
  }
  show('routes', rows.length
    ? h('div', { class: 'panel scroll' }, h('table', null,
        h('thead', null, h('tr', null,
          h('th', null, 'Host'), h('th', null, 'Path'), h('th', null, 'Service'),
          h('th', { class: 'opt' }, 'LB'), h('th', { class: 'opt' }, 'Sticky'), h('th', { class: 'opt' }, 'Policies'),
          h('th', { class: 'opt' }, 'Source'))),
        h('tbody', null, rows)))
    : h('div', { class: 'panel empty' }, 'No routes and no default service: every request gets 404.'));

  renderConflicts(table.conflicts || []);
  renderCertificates(certs.certificates || []);

  document.title = (failures > 0 || !etcd.connected || !ready.ready ? '⚠ ' : '') + 'balancer · ' +
    (workersMode ? services.length + ' services' : fmtRate(totalRps) + ' req/s');
}

// A split route names its services with their weights; a redirect-only route has no service.
function routeTarget(r) {
  if (r.services) return r.services.map(function (s) { return s.name + ' ' + s.weight; }).join(', ');
  return r.service === '' ? h('span', { class: 'muted' }, 'redirect') : r.service;
}

// Flag, etcd key, or the containers that declare the route (their instances in the title).
function routeSource(r) {
  if (!r.declaredBy) return r.source;
  const names = r.declaredBy.map(function (d) { return d.container || d.instance; });
  return h('span', { title: r.declaredBy.map(function (d) { return d.instance; }).join('\n'), 'data-declared': '' },
    'containers: ' + names.join(', '));
}

// Rules declared by more than one party, and who got them (shown only when there are some).
function renderConflicts(list) {
  document.getElementById('conflicts-section').hidden = list.length === 0;
  const why = { route: 'a flag or route key wins', service: 'first service wins', instances: 'instances differ' };
  show('conflicts', list.length === 0 ? [] : h('div', { class: 'panel scroll' }, h('table', null,
    h('thead', null, h('tr', null,
      h('th', null, 'Host'), h('th', null, 'Path'), h('th', null, 'Served by'), h('th', null, 'Not served'),
      h('th', { class: 'opt' }, 'Why'))),
    h('tbody', null, list.map(function (c) {
      return h('tr', { 'data-conflict': (c.host || '') + c.pathPrefix },
        h('td', { class: 'mono' }, c.host === null ? h('span', { class: 'muted' }, 'any host') : c.host),
        h('td', { class: 'mono' }, c.pathPrefix),
        h('td', { class: 'mono' }, c.winner),
        h('td', null, h('span', { class: 'chip warn' }, c.losers.join(', '))),
        h('td', { class: 'opt' }, why[c.reason] || c.reason));
    })))));
}

// One chip per policy field; the chip's title holds the field's value.
function policyChips(p) {
  const names = Object.keys(p || {});
  if (!names.length) return h('span', { class: 'muted' }, 'none');
  return names.map(function (k) {
    return h('span', { class: 'chip', title: k + ': ' + JSON.stringify(p[k]), 'data-policy': k }, k);
  });
}

function serviceCard(name, backends, table, workersMode) {
  const r = rates.get(name);
  const pct = r ? r.errPct : null;
  const chips = [];
  if (name === table.defaultService) chips.push(h('span', { class: 'chip' }, 'default'));
  if (backends === null)
    chips.push(h('span', { class: 'chip warn' }, name === 'none' ? 'no route matched' : 'not in the table'));
  const head = h('div', { class: 'card-head' },
    h('div', { class: 'name' }, h('h3', null, name === 'none' && backends === null ? 'unrouted' : name), chips),
    workersMode ? null : h('div', { class: 'rates' },
      h('div', { class: 'stat' }, h('b', { 'data-rps': '' }, fmtRate(r ? r.rps : null)), h('span', null, 'req/s')),
      h('div', { class: 'stat' },
        h('b', { 'data-errors': '', class: errClass(pct) ? errClass(pct) + '-text' : null }, fmtPct(pct)),
        h('span', null, '5xx')),
      sparkline(history.get(name) || [])));
  let body;
  if (backends === null && name === 'none') {
    body = h('div', { class: 'empty' }, 'Requests that matched no route and no default service (answered 404).');
  } else if (backends === null || backends.length === 0) {
    body = h('div', { class: 'empty' }, 'No backends.');
  } else {
    body = h('div', { class: 'scroll' }, h('table', null,
      h('thead', null, h('tr', null,
        h('th', null, 'State'), h('th', null, 'Instance'), h('th', { class: 'opt' }, 'Target'),
        h('th', { class: 'opt' }, 'Node'), h('th', { class: 'num opt' }, 'Weight'),
        h('th', { class: 'num' }, 'In flight'))),
      h('tbody', null, backends.map(function (b) {
        return h('tr', { 'data-backend': b.id, 'data-state': b.state },
          h('td', { class: 'nowrap' },
            h('span', { class: 'state ' + (b.state === 'up' ? 'ok' : b.state === 'draining' ? 'draining' : 'bad') },
              h('span', { class: 'dot' }), b.state)),
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

// Certificates served by the TLS listener: shown only with --tls-listen; under 14 days is a warning.
function renderCertificates(list) {
  document.getElementById('certificates-section').hidden = list.length === 0;
  show('certificates', list.length === 0 ? [] : h('div', { class: 'panel scroll' }, h('table', null,
    h('thead', null, h('tr', null,
      h('th', null, 'Name'), h('th', null, 'Names'), h('th', { class: 'opt' }, 'Source'),
      h('th', { class: 'opt' }, 'Expires'), h('th', { class: 'num' }, 'Days left'))),
    h('tbody', null, list.map(function (c) {
      const cls = c.daysLeft < 0 ? 'bad' : c.daysLeft < 14 ? 'warn' : 'ok';
      return h('tr', { 'data-certificate': c.name },
        h('td', { class: 'mono' }, c.name),
        h('td', { class: 'mono' }, c.dnsNames.length ? c.dnsNames.join(', ') : h('span', { class: 'muted' }, '–')),
        h('td', { class: 'opt' }, c.source),
        h('td', { class: 'opt nowrap' }, c.notAfter.slice(0, 10)),
        h('td', { class: 'num' }, h('span', { class: 'chip ' + cls }, String(c.daysLeft))));
    })))));
}

async function tick() {
  try {
    const answers = await Promise.all([
      getJson('api/table'), getJson('readyz'), getJson('api/stats'), getJson('api/certificates'),
    ]);
    const table = answers[0], ready = answers[1], stats = answers[2], certs = answers[3];
    failures = 0;
    lastGood = new Date();
    const names = new Set(table.services.map(function (s) { return s.name; }).concat(Object.keys(stats.services)));
    updateRates(stats, names);
    render(table, ready, stats, certs);
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
