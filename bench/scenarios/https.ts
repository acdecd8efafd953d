// Issue 13's HTTPS rows: the balancer (--workers 1, --tls-listen) and nginx (one worker, `listen … ssl
// http2`) in front of the same fast static backend, with the same certificate (EC P-256 leaf + its
// intermediate, made with openssl by the TLS test helper), each over HTTP/1.1 (wrk, 32 keep-alive
// connections) and HTTP/2 (h2load, 8 connections × 4 streams: also 32 requests in flight), all four
// interleaved. Handshakes happen once per connection, so the rows measure TLS record and HTTP/2
// framing cost per request, not handshakes.
import { makeTlsPki } from '../../test/helpers/tls-certs.js';
import { startBenchBalancer, wrk, type BalancerProc } from '../lib/components.js';
import type { Context } from '../lib/context.js';
import { h2load } from '../lib/h2load.js';
import { interleave, ratioRow, variantRow, type Interleaved, type Variant } from '../lib/interleave.js';
import { assertLoopbackOnly } from '../lib/listeners.js';
import { httpsStatus, startNginxProxy, startNginxStatic, type Peer } from '../lib/peers.js';
import { freePort, waitFor } from '../lib/util.js';

const S = '1 https';
const TAG = 'tls';
/** h2load: connections × streams per connection = wrk's 32 connections' requests in flight. */
const H2 = { clients: 8, streams: 4 };

export interface HttpsRaw extends Interleaved {
  readonly certificate: string;
  readonly h2: typeof H2;
  readonly listening: Record<string, readonly string[]>;
}

export async function https(ctx: Context): Promise<HttpsRaw> {
  const pki = await makeTlsPki();
  const stops: Array<() => Promise<unknown>> = [];
  try {
    const cert = await pki.issue({ dns: ['localhost', 'bench.test'], ips: ['127.0.0.1'] });
    const backend = await startNginxStatic(ctx.work, 'nginx-static-tls');
    stops.push(() => backend.proc.stop());
    const tlsPort = await freePort();
    const nginx = await startNginxProxy(ctx.work, backend.port, 'nginx-tls', {
      cert: cert.certFile,
      key: cert.keyFile,
    });
    stops.push(() => nginx.proc.stop());
    const balancer = await startBenchBalancer(ctx.etcd, TAG, backend.port, {
      extra: ['--tls-listen', `127.0.0.1:${tlsPort}`, '--tls-cert', cert.certFile, '--tls-key', cert.keyFile],
    });
    stops.push(() => balancer.proc.stop());
    const balancerTls = `https://127.0.0.1:${tlsPort}`;
    await waitFor('balancer TLS listener', async () => (await httpsStatus(`${balancerTls}/`)) === 200, 10_000, 50);
    const variants = [
      ...pair('nginx', nginx, nginx.url, ctx.work),
      ...pair('balancer-w1', balancer, balancerTls, ctx.work),
    ];
    const raw = await interleave('https', variants, ctx.params.rounds, ctx.params.seconds);
    report(ctx, raw);
    return {
      ...raw,
      certificate: 'EC P-256 leaf + intermediate (test/helpers/tls-certs.ts)',
      h2: H2,
      listening: { nginx: nginx.listening, 'balancer-w1': assertLoopbackOnly('balancer-w1', balancer.proc.pid) },
    };
  } finally {
    for (const stop of stops.reverse()) await stop();
    pki.cleanup();
  }
}

function pair(name: string, p: Peer | BalancerProc, url: string, work: string): Variant[] {
  return [
    { name: `${name} https/1.1`, pid: p.proc.pid, run: (s) => wrk(`${url}/`, s, 32) },
    { name: `${name} h2`, pid: p.proc.pid, run: (s) => h2load(`${url}/`, s, { ...H2, workDir: work }) },
  ];
}

function report(ctx: Context, raw: Interleaved): void {
  const m = raw.medians;
  for (const proto of ['https/1.1', 'h2']) {
    const n = m[`nginx ${proto}`];
    const b = m[`balancer-w1 ${proto}`];
    const how = proto === 'h2' ? `h2load ${H2.clients}×${H2.streams} streams` : 'wrk 32 connections';
    if (n) ctx.rows.push(variantRow(S, `nginx TLS ${proto}`, n, `; ${how}`));
    if (b) ctx.rows.push(variantRow(S, `balancer-w1 TLS ${proto}`, b, `; ${how}`));
    const ratio = ratioRow(S, `balancer-w1/nginx TLS ${proto} req/s`, raw, `balancer-w1 ${proto}`, `nginx ${proto}`);
    if (ratio) ctx.rows.push(ratio);
  }
}
