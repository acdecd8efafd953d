// The live dashboard at `/` on the admin listener: one self-contained page (inline CSS and JS, no
// external assets, no build step) that polls /api/table, /readyz and /api/stats every second and
// shows services, routes, backends with their state, requests/s and error rate per service (from
// the deltas of the cumulative counts in /api/stats), the registry revision and the etcd connection.
// The page builds its markup from strings; every value from the registry goes through `esc`.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SCRIPT } from './dashboard-script.js';
import { STYLE } from './dashboard-style.js';

const LOGO =
  '<svg class="logo" viewBox="0 0 24 24" aria-hidden="true">' +
  '<circle cx="4" cy="12" r="3" fill="#2f6fde"/>' +
  '<circle cx="20" cy="5" r="2.5" fill="#43a06a"/>' +
  '<circle cx="20" cy="12" r="2.5" fill="#43a06a"/>' +
  '<circle cx="20" cy="19" r="2.5" fill="#43a06a"/>' +
  '<path d="M7 12h4m0 0 6.5-7M11 12h6.5M11 12l6.5 7"' +
  ' stroke="#8c99a9" stroke-width="1.6" fill="none" stroke-linecap="round"/>' +
  '</svg>';

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
  <section id="conflicts-section" hidden>
    <h2>Route conflicts</h2>
    <div id="conflicts"></div>
  </section>
  <section id="certificates-section" hidden>
    <h2>Certificates</h2>
    <div id="certificates"></div>
  </section>
</main>
<footer><span id="updated">Loading…</span> · polls every second ·
  <a href="api/table">/api/table</a> · <a href="readyz">/readyz</a> ·
  <a href="api/stats">/api/stats</a> · <a href="api/certificates">/api/certificates</a> ·
  <a href="metrics">/metrics</a></footer>
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
